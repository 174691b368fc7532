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
 * src/lock/lock_pg.c. lock_keys holds one row per key ever locked: its
 * fencing counter, its exclusive holder (owner, expires_at; NULL when
 * none), and it is the row every acquisition of the key locks first (FOR
 * UPDATE), which serialises check-and-take per key. An exclusive cycle
 * only updates that row (HOT updates, no dead rows to scan); shared
 * holders (runs writing a table) are rows of lock_holders. Tokens come
 * from lock_fence_seq (lock_raise moves it up too); a key's counter is the
 * greatest of the sequence and its own + 1, so it only grows. Leases are
 * instants of the server's clock (clock_timestamp()), never the host's. */
static const char *const lock_v1[] = {
    "CREATE SEQUENCE lock_fence_seq",
    "CREATE TABLE lock_keys (key text PRIMARY KEY, fence bigint NOT NULL DEFAULT 0,"
    " owner text, expires_at timestamptz) WITH (fillfactor = 50)",
    "CREATE TABLE lock_holders (key text NOT NULL, owner text NOT NULL,"
    " fence bigint NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (key, owner))",
    "CREATE TABLE lock_intents (key text NOT NULL, owner text NOT NULL,"
    " expires_at timestamptz NOT NULL, PRIMARY KEY (key, owner))",
    /* mode 0 exclusive, 1 shared. The new fence, -1 busy, -2 an exclusive
     * waiter refuses shared holders. */
    "CREATE FUNCTION lock_acquire(k text, m int, o text, ttl_ms bigint) RETURNS bigint\n"
    "LANGUAGE plpgsql AS $$\n"
    "DECLARE r lock_keys; t timestamptz := clock_timestamp(); f bigint;\n"
    "BEGIN\n"
    "  SELECT * INTO r FROM lock_keys WHERE key = k FOR UPDATE;\n"
    "  IF NOT FOUND THEN\n"
    "    INSERT INTO lock_keys(key) VALUES (k) ON CONFLICT (key) DO NOTHING;\n"
    "    SELECT * INTO r FROM lock_keys WHERE key = k FOR UPDATE;\n"
    "  END IF;\n"
    "  IF r.expires_at > t THEN RETURN -1; END IF;\n"
    "  IF EXISTS (SELECT 1 FROM lock_holders WHERE key = k) THEN\n"
    "    DELETE FROM lock_holders WHERE key = k AND expires_at <= t;\n"
    "    IF m = 0 AND EXISTS (SELECT 1 FROM lock_holders WHERE key = k) THEN RETURN -1; END IF;\n"
    "  END IF;\n"
    "  IF m = 1 AND EXISTS (SELECT 1 FROM lock_intents WHERE key = k AND expires_at > t) THEN\n"
    "    RETURN -2;\n"
    "  END IF;\n"
    "  f := greatest(nextval('lock_fence_seq'), r.fence + 1);\n"
    "  IF m = 0 THEN\n"
    "    UPDATE lock_keys SET fence = f, owner = o,\n"
    "      expires_at = t + ttl_ms * interval '1 millisecond' WHERE key = k;\n"
    "  ELSE\n"
    "    UPDATE lock_keys SET fence = f WHERE key = k;\n"
    "    INSERT INTO lock_holders(key, owner, fence, expires_at)\n"
    "      VALUES (k, o, f, t + ttl_ms * interval '1 millisecond');\n"
    "  END IF;\n"
    "  IF r.owner IS NOT NULL AND m = 1 THEN\n"
    "    UPDATE lock_keys SET owner = NULL, expires_at = NULL WHERE key = k;\n"
    "  END IF;\n"
    "  RETURN f;\n"
    "END $$",
    /* The new fence of o's live exclusive hold, raised past `fl`; -1 when
     * o no longer holds k. */
    "CREATE FUNCTION lock_raise(k text, o text, fl bigint) RETURNS bigint\n"
    "LANGUAGE plpgsql AS $$\n"
    "DECLARE f bigint;\n"
    "BEGIN\n"
    "  SELECT fence INTO f FROM lock_keys WHERE key = k AND owner = o\n"
    "    AND expires_at > clock_timestamp() FOR UPDATE;\n"
    "  IF NOT FOUND THEN RETURN -1; END IF;\n"
    "  f := greatest(nextval('lock_fence_seq'), f + 1, fl + 1);\n"
    "  UPDATE lock_keys SET fence = f WHERE key = k;\n"
    "  IF f > (SELECT last_value FROM lock_fence_seq) THEN\n"
    "    PERFORM setval('lock_fence_seq', f);\n"
    "  END IF;\n"
    "  RETURN f;\n"
    "END $$",
    NULL,
};

/* the job queue and consumer heartbeats: src/queue/queue_pg.c. A job
 * row lives until acknowledged; consumer is NULL until delivered;
 * touched_at (server clock) is the delivering consumer's last heartbeat. */
static const char *const queue_v1[] = {
    "CREATE TABLE queue_jobs (id bigserial PRIMARY KEY, pipeline text NOT NULL,"
    " strategy text NOT NULL, run_id bigint NOT NULL, at bigint NOT NULL,"
    " enqueue_key text NOT NULL, enqueue_owner text NOT NULL, enqueue_fence bigint NOT NULL,"
    " manual boolean NOT NULL, consumer text, deliveries int NOT NULL DEFAULT 0,"
    " enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(), touched_at timestamptz)",
    "CREATE INDEX queue_jobs_waiting ON queue_jobs (id) WHERE consumer IS NULL",
    NULL,
};

static const char *const *const v1[] = {state_v1, lock_v1, queue_v1, NULL};

const char *const *const *const pgc_schema_steps[PGC_SCHEMA_VERSION] = {v1};
