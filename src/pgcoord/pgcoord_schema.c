/*
 * pgcoord_schema — the tables of synctool's PostgreSQL database, one list
 * per backend, version by version (see pgcoord.h). A step runs in one
 * transaction; statements are plain DDL in the URL's schema (search_path
 * is set before they run, so names are unqualified).
 *
 * Version 1 is the first release of the PostgreSQL backend: until it is
 * released its lists may still change; afterwards a change is a new step.
 */
#include "pgcoord.h"

#include <stddef.h>

/* state, history, run logs, the why-journal, counters: src/state/state_pg.c */
static const char *const state_v1[] = {
    NULL,
};

/* locks (pipeline, enqueue, table), fencing tokens, the leader lease:
 * src/lock/lock_pg.c */
static const char *const lock_v1[] = {
    NULL,
};

/* the job queue and consumer heartbeats: src/queue/queue_pg.c */
static const char *const queue_v1[] = {
    NULL,
};

static const char *const *const v1[] = {state_v1, lock_v1, queue_v1, NULL};

const char *const *const *const pgc_schema_steps[PGC_SCHEMA_VERSION] = {v1};
