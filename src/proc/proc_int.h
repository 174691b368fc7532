/*
 * proc_int — helpers shared by the scheduler and worker loops (not public).
 */
#ifndef ST_PROC_INT_H
#define ST_PROC_INT_H

#include "proc.h"

#include "../state/state.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD in this thread (and so in the
 * threads it creates) and fills *set with them. The loops read them with
 * sigtimedwait() or a signalfd: no handler, no global flag. */
void proc_block_signals(sigset_t *set);

/* Loads the config from dir for a SIGHUP reload. Returns true with *out
 * set, or logs each problem ("reload: ...", then "keeping the previous
 * config") and returns false, with the first problem in why (n bytes; why
 * may be NULL). */
bool proc_reload_config(const char *dir, config **out, char *why, size_t n);

/* Records the heartbeat of process `name` when mono_ms has reached *next_ms
 * (then *next_ms moves PROC_BEAT_S on). A failure is logged at debug only. */
void proc_beat(state *st, const char *kind, const char *name, int64_t mono_ms,
               int64_t *next_ms);

/* Calls the plugged-in service, if any. */
void proc_service_call(const proc_service *s, const proc_view *view);

#endif
