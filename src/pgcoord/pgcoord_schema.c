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
    "CREATE TABLE state_records (pipeline text COLLATE \"C\" NOT NULL,"
    " strategy text COLLATE \"C\" NOT NULL, status text NOT NULL DEFAULT 'idle',"
    " last_run bigint, last_scheduled_at bigint, last_attempted_at bigint,"
    " retry_count bigint NOT NULL DEFAULT 0, run_id bigint NOT NULL DEFAULT 0,"
    " worker text NOT NULL DEFAULT '', message text NOT NULL DEFAULT '',"
    " error text NOT NULL DEFAULT '', updated_at bigint, paused boolean NOT NULL DEFAULT false,"
    " PRIMARY KEY (pipeline, strategy))",
    "CREATE SEQUENCE state_run_id",
    "CREATE TABLE state_history (id bigserial PRIMARY KEY, pipeline text COLLATE \"C\" NOT NULL,"
    " strategy text COLLATE \"C\" NOT NULL, run_id bigint NOT NULL, status text NOT NULL,"
    " started_at bigint, finished_at bigint, retry_count bigint NOT NULL DEFAULT 0,"
    " worker text NOT NULL DEFAULT '', message text NOT NULL DEFAULT '',"
    " error text NOT NULL DEFAULT '', rows_read bigint NOT NULL DEFAULT 0,"
    " rows_inserted bigint NOT NULL DEFAULT 0, rows_updated bigint NOT NULL DEFAULT 0,"
    " rows_deleted bigint NOT NULL DEFAULT 0, rows_null_cursor bigint NOT NULL DEFAULT 0,"
    " segments_compared bigint NOT NULL DEFAULT 0, segments_skipped bigint NOT NULL DEFAULT 0,"
    " seconds double precision NOT NULL DEFAULT 0,"
    " recorded_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    "CREATE INDEX state_history_pair ON state_history (pipeline, strategy, id)",
    "CREATE INDEX state_history_run ON state_history (run_id)",
    "CREATE INDEX state_history_finished ON state_history (finished_at)",
    "CREATE TABLE state_run_logs (history_id bigint PRIMARY KEY"
    " REFERENCES state_history (id) ON DELETE CASCADE, log text NOT NULL)",
    "CREATE TABLE state_kv (pipeline text COLLATE \"C\" NOT NULL,"
    " strategy text COLLATE \"C\" NOT NULL, key text COLLATE \"C\" NOT NULL,"
    " value text NOT NULL, PRIMARY KEY (pipeline, strategy, key))",
    "CREATE TABLE state_run_counters (pipeline text COLLATE \"C\" NOT NULL,"
    " strategy text COLLATE \"C\" NOT NULL, name text COLLATE \"C\" NOT NULL,"
    " value double precision NOT NULL, PRIMARY KEY (pipeline, strategy, name))",
    "CREATE TABLE state_processes (name text COLLATE \"C\" PRIMARY KEY, kind text NOT NULL,"
    " last_heartbeat_at bigint, seen_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    "CREATE TABLE state_outbox (id bigserial PRIMARY KEY, key text NOT NULL UNIQUE,"
    " hook text NOT NULL, status text NOT NULL, pipeline text NOT NULL, strategy text NOT NULL,"
    " event text NOT NULL, created_at bigint NOT NULL, next_at bigint NOT NULL,"
    " updated_at bigint NOT NULL, attempts bigint NOT NULL, last_error text NOT NULL,"
    " body text NOT NULL)",
    "CREATE INDEX state_outbox_open ON state_outbox (status, hook, id)",
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
