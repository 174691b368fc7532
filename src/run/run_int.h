/*
 * run_int — what the run module's files share (not public).
 */
#ifndef ST_RUN_INT_H
#define ST_RUN_INT_H

#include "run.h"

/* Releases a job's enqueue lock (its key, owner token and fence as the
 * hand-off carried them); nothing without one or without lm. A lock that
 * expired or was taken over is left alone. */
void run_release_enqueue_of(lock_manager *lm, const queue_job *job);

#endif
