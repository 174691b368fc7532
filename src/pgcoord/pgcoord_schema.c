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
 * src/lock/lock_pg.c. lock_keys holds one row per key ever locked: its
 * fencing counter, and the row every acquisition of the key locks first
 * (FOR UPDATE), which serialises check-and-take per key. Tokens come from
 * lock_fence_seq (never reused, never back: raise_fence moves it up too);
 * a key's counter is the greatest of the sequence and its own + 1, so it
 * only grows even if the sequence was reset. Leases are instants of the
 * server's clock (clock_timestamp()), never the host's. */
static const char *const lock_v1[] = {
    "CREATE SEQUENCE lock_fence_seq",
    "CREATE TABLE lock_keys (key text PRIMARY KEY, fence bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE lock_holders (key text NOT NULL, owner text NOT NULL, mode smallint NOT NULL,"
    " fence bigint NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (key, owner))",
    "CREATE TABLE lock_intents (key text NOT NULL, owner text NOT NULL,"
    " expires_at timestamptz NOT NULL, PRIMARY KEY (key, owner))",
    /* the key's row, created if new, locked until the transaction ends */
    "CREATE FUNCTION lock_key_row(k text) RETURNS bigint LANGUAGE plpgsql AS $$\n"
    "DECLARE f bigint;\n"
    "BEGIN\n"
    "  SELECT fence INTO f FROM lock_keys WHERE key = k FOR UPDATE;\n"
    "  IF NOT FOUND THEN\n"
    "    INSERT INTO lock_keys(key, fence) VALUES (k, 0) ON CONFLICT (key) DO NOTHING;\n"
    "    SELECT fence INTO f FROM lock_keys WHERE key = k FOR UPDATE;\n"
    "  END IF;\n"
    "  RETURN f;\n"
    "END $$",
    /* mode 0 exclusive, 1 shared. The new fence, -1 busy, -2 an exclusive
     * waiter refuses shared holders. */
    "CREATE FUNCTION lock_acquire(k text, m int, o text, ttl_ms bigint) RETURNS bigint\n"
    "LANGUAGE plpgsql AS $$\n"
    "DECLARE f bigint; t timestamptz := clock_timestamp();\n"
    "BEGIN\n"
    "  f := lock_key_row(k);\n"
    "  DELETE FROM lock_holders WHERE key = k AND expires_at <= t;\n"
    "  DELETE FROM lock_intents WHERE key = k AND expires_at <= t;\n"
    "  IF EXISTS (SELECT 1 FROM lock_holders WHERE key = k AND (m = 0 OR mode = 0)) THEN\n"
    "    RETURN -1;\n"
    "  END IF;\n"
    "  IF m = 1 AND EXISTS (SELECT 1 FROM lock_intents WHERE key = k) THEN RETURN -2; END IF;\n"
    "  f := greatest(nextval('lock_fence_seq'), f + 1);\n"
    "  UPDATE lock_keys SET fence = f WHERE key = k;\n"
    "  INSERT INTO lock_holders(key, owner, mode, fence, expires_at)\n"
    "    VALUES (k, o, m, f, t + ttl_ms * interval '1 millisecond');\n"
    "  DELETE FROM lock_intents WHERE key = k AND owner = o;\n"
    "  RETURN f;\n"
    "END $$",
    /* The new fence of o's live exclusive hold, raised past `floor`; -1
     * when o no longer holds k. */
    "CREATE FUNCTION lock_raise(k text, o text, fl bigint) RETURNS bigint\n"
    "LANGUAGE plpgsql AS $$\n"
    "DECLARE f bigint;\n"
    "BEGIN\n"
    "  f := lock_key_row(k);\n"
    "  IF NOT EXISTS (SELECT 1 FROM lock_holders WHERE key = k AND owner = o AND mode = 0\n"
    "                 AND expires_at > clock_timestamp()) THEN RETURN -1; END IF;\n"
    "  f := greatest(nextval('lock_fence_seq'), f + 1, fl + 1);\n"
    "  UPDATE lock_keys SET fence = f WHERE key = k;\n"
    "  UPDATE lock_holders SET fence = f WHERE key = k AND owner = o;\n"
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
