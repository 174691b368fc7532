/*
 * queue_pg — the distributed job queue in synctool's PostgreSQL database
 * (issue 24), the shape pg-boss, graphile-worker and Oban agree on.
 *
 * One table, queue_jobs (queue_v1 in src/pgcoord/pgcoord_schema.c): a row
 * per job not yet acknowledged. consumer is NULL while the job waits; pop
 * hands the oldest waiting row to one consumer with
 *     UPDATE ... WHERE id = (SELECT id ... FOR UPDATE SKIP LOCKED LIMIT 1)
 * so concurrent workers never block on each other nor take the same row.
 * touched_at (the server's clock) is the delivering consumer's heartbeat:
 * touch moves it, only for the consumer the job is delivered to; claim
 * takes a delivered row whose heartbeat is older than --claim-idle (its
 * consumer is presumed dead) and bumps its delivery count. ack deletes the
 * row, so a job is acknowledged once and never delivered again; a second
 * ack is a no-op. Delivery is at-least-once as with Redis: the pipeline
 * lock and the state's run_id keep a redelivered job from running twice.
 *
 * Waking: push notifies the channel synctool_jobs_<schema> (in the same
 * statement, so the notification is sent when the job commits). Each
 * handle LISTENs on its connection before its first pop reads the table;
 * a pop that finds nothing waits on the socket for a notification, up to
 * its block_ms, then looks again — a lost notification costs at most one
 * block, never a hang, and an idle worker wakes at once on a push.
 *
 * Outages: every statement has a deadline (pgc_call.h); a lost or stalled
 * server is ST_EUNAVAIL naming the URL (password masked), the connection
 * is dropped, and the next call connects afresh and LISTENs again.
 * A handle is one connection and not thread-safe: each worker thread
 * opens its own.
 */
#include "queue_backend.h"
#include "../pgcoord/pgc_call.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct pg_queue {
    pgc_link l;
    PGconn *listening;   /* the connection LISTEN ran on (reconnects redo it) */
    char channel[64];
} pg_queue;

#define QPG_COLS                                                                         \
    "id, pipeline, strategy, run_id, at, enqueue_key, enqueue_owner, enqueue_fence, "    \
    "manual, deliveries"

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- Connection --- */

static int qpg_call(pg_queue *q, const char *sql, int n, const char *const *pv, PGresult **r,
                    st_error *err) {
    return pgc_call(&q->l, sql, n, pv, PGC_CALL_TIMEOUT_MS, r, err);
}

/* Connected and listening (again, after a reconnect). */
static int qpg_ready(pg_queue *q, st_error *err) {
    int rc = pgc_link_ready(&q->l, err);
    if (rc != ST_OK || q->listening == q->l.c) return rc;
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", q->channel);   /* a plain identifier */
    PGresult *r = NULL;
    if ((rc = qpg_call(q, sql, 0, NULL, &r, err)) != ST_OK) return rc;
    PQclear(r);
    q->listening = q->l.c;
    return ST_OK;
}

/* Drops notifications already received; true if there was any. */
static bool qpg_drain(pg_queue *q) {
    bool any = false;
    if (q->l.c == NULL) return false;
    PQconsumeInput(q->l.c);
    PGnotify *n;
    while ((n = PQnotifies(q->l.c)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

/* Waits up to ms for a notification on the channel. */
static void qpg_wait_notify(pg_queue *q, int64_t ms) {
    int64_t deadline = mono_ms() + ms;
    while (q->l.c != NULL && !qpg_drain(q)) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) return;
        struct pollfd p = {.fd = PQsocket(q->l.c), .events = POLLIN};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR) return;
        if (PQstatus(q->l.c) != CONNECTION_OK) return;
    }
}

/* --- Rows --- */

static void qpg_row(const PGresult *r, queue_job *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", PQgetvalue(r, 0, 0));
    snprintf(out->pipeline, sizeof out->pipeline, "%s", PQgetvalue(r, 0, 1));
    snprintf(out->strategy, sizeof out->strategy, "%s", PQgetvalue(r, 0, 2));
    out->run_id = pgc_int(r, 0, 3);
    out->at = pgc_int(r, 0, 4);
    snprintf(out->enqueue_key, sizeof out->enqueue_key, "%s", PQgetvalue(r, 0, 5));
    snprintf(out->enqueue_owner, sizeof out->enqueue_owner, "%s", PQgetvalue(r, 0, 6));
    out->enqueue_fence = pgc_int(r, 0, 7);
    out->manual = strcmp(PQgetvalue(r, 0, 8), "t") == 0;
    out->deliveries = pgc_int(r, 0, 9);
}

/* Runs a statement returning at most one job row. ST_ENOTFOUND if none. */
static int qpg_take(pg_queue *q, const char *sql, int n, const char *const *pv, queue_job *out,
                    const char *none, st_error *err) {
    PGresult *r = NULL;
    int rc = qpg_call(q, sql, n, pv, &r, err);
    if (rc != ST_OK) return rc;
    if (PQntuples(r) == 0) rc = st_error_set(err, ST_ENOTFOUND, "queue: %s", none);
    else qpg_row(r, out);
    PQclear(r);
    return rc;
}

/* --- Operations --- */

static int qpg_push(void *be, queue_job *job, st_error *err) {
    pg_queue *q = be;
    int rc = qpg_ready(q, err);
    if (rc != ST_OK) return rc;
    char rid[32], at[32], ef[32];
    snprintf(rid, sizeof rid, "%" PRId64, job->run_id);
    snprintf(at, sizeof at, "%" PRId64, job->at);
    snprintf(ef, sizeof ef, "%" PRId64, job->enqueue_fence);
    const char *pv[] = {job->pipeline, job->strategy, rid, at, job->enqueue_key,
                        job->enqueue_owner, ef, job->manual ? "t" : "f", q->channel};
    PGresult *r = NULL;
    rc = qpg_call(q,
                  "WITH j AS (INSERT INTO queue_jobs(pipeline, strategy, run_id, at, "
                  "enqueue_key, enqueue_owner, enqueue_fence, manual) VALUES ($1, $2, "
                  "$3::bigint, $4::bigint, $5, $6, $7::bigint, $8::boolean) RETURNING id) "
                  "SELECT id, pg_notify($9, '') FROM j",
                  9, pv, &r, err);
    if (rc != ST_OK) return rc;
    snprintf(job->id, sizeof job->id, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return ST_OK;
}

static const char QPG_POP[] =
    "UPDATE queue_jobs SET consumer = $1, deliveries = 1, touched_at = clock_timestamp() "
    "WHERE id = (SELECT id FROM queue_jobs WHERE consumer IS NULL ORDER BY id "
    "FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING " QPG_COLS;

/* Looks; when nothing waits, sleeps on the channel and looks again until
 * block_ms has passed. LISTEN is in place before the first look, so a job
 * pushed in between is either seen or notified. */
static int qpg_pop(void *be, const char *consumer, int64_t block_ms, queue_job *out,
                   st_error *err) {
    pg_queue *q = be;
    int64_t deadline = mono_ms() + (block_ms > 0 ? block_ms : 0);
    for (;;) {
        int rc = qpg_ready(q, err);
        if (rc != ST_OK) return rc;
        qpg_drain(q);
        const char *pv[] = {consumer};
        rc = qpg_take(q, QPG_POP, 1, pv, out, "empty", err);
        int64_t left = deadline - mono_ms();
        if (rc != ST_ENOTFOUND || left <= 0) return rc;
        qpg_wait_notify(q, left);
    }
}

static int qpg_ack(void *be, const char *id, st_error *err) {
    pg_queue *q = be;
    char *end = NULL;
    strtoll(id, &end, 10);
    if (id[0] == '\0' || *end != '\0') return ST_OK;   /* not one of ours: unknown */
    const char *pv[] = {id};
    PGresult *r = NULL;
    int rc = qpg_call(q, "DELETE FROM queue_jobs WHERE id = $1::bigint", 1, pv, &r, err);
    PQclear(r);
    return rc;
}

static int qpg_claim(void *be, const char *consumer, int64_t min_idle_ms, queue_job *out,
                     st_error *err) {
    pg_queue *q = be;
    char idle[32];
    snprintf(idle, sizeof idle, "%" PRId64, min_idle_ms);
    const char *pv[] = {consumer, idle};
    return qpg_take(q,
                    "UPDATE queue_jobs SET consumer = $1, deliveries = deliveries + 1, "
                    "touched_at = clock_timestamp() WHERE id = (SELECT id FROM queue_jobs "
                    "WHERE consumer IS NOT NULL AND touched_at <= clock_timestamp() - "
                    "$2::bigint * interval '1 millisecond' ORDER BY id "
                    "FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING " QPG_COLS,
                    2, pv, out, "nothing to claim", err);
}

static int qpg_touch(void *be, const char *consumer, const char *id, st_error *err) {
    pg_queue *q = be;
    char *end = NULL;
    strtoll(id, &end, 10);
    if (id[0] == '\0' || *end != '\0')
        return st_error_set(err, ST_ESTALE, "queue: job %s is not delivered to %s", id,
                            consumer);
    const char *pv[] = {id, consumer};
    PGresult *r = NULL;
    int rc = qpg_call(q,
                      "UPDATE queue_jobs SET touched_at = clock_timestamp() "
                      "WHERE id = $1::bigint AND consumer = $2",
                      2, pv, &r, err);
    if (rc != ST_OK) return rc;
    bool ok = atoll(PQcmdTuples(r)) == 1;
    PQclear(r);
    return ok ? ST_OK
              : st_error_set(err, ST_ESTALE, "queue: job %s is not delivered to %s", id,
                             consumer);
}

static int qpg_count(void *be, size_t *waiting, size_t *pending, st_error *err) {
    pg_queue *q = be;
    PGresult *r = NULL;
    int rc = qpg_call(q,
                      "SELECT count(*) FILTER (WHERE consumer IS NULL), "
                      "count(*) FILTER (WHERE consumer IS NOT NULL) FROM queue_jobs",
                      0, NULL, &r, err);
    if (rc != ST_OK) return rc;
    if (waiting) *waiting = (size_t)pgc_int(r, 0, 0);
    if (pending) *pending = (size_t)pgc_int(r, 0, 1);
    PQclear(r);
    return ST_OK;
}

static void qpg_close(void *be) {
    pg_queue *q = be;
    if (q == NULL) return;
    pgc_link_drop(&q->l);
    memset(&q->l.u, 0, sizeof q->l.u);
    free(q);
}

static const struct queue_ops pg_queue_ops = {
    .version = QUEUE_OPS_VERSION,
    .name = "postgresql",
    .push = qpg_push,
    .pop = qpg_pop,
    .ack = qpg_ack,
    .claim = qpg_claim,
    .touch = qpg_touch,
    .count = qpg_count,
    .close = qpg_close,
};

int queue_pg_open(void **be, const struct queue_ops **ops, const backend_url *u,
                  st_error *err) {
    *be = NULL;
    pg_queue *q = calloc(1, sizeof *q);
    if (q == NULL) return st_error_set(err, ST_ENOMEM, "queue: out of memory");
    char app[64];
    snprintf(app, sizeof app, "synctool-queue-%d", (int)getpid());
    pgc_link_init(&q->l, u, app, "queue");
    /* NAMEDATALEN is 64: a long schema shares the plain channel (a
     * spurious wake-up at worst) */
    if (strlen(u->schema) <= 40) snprintf(q->channel, sizeof q->channel, "synctool_jobs_%s", u->schema);
    else snprintf(q->channel, sizeof q->channel, "synctool_jobs");
    int rc = qpg_ready(q, err);
    if (rc != ST_OK) {
        qpg_close(q);
        return rc;
    }
    *be = q;
    *ops = &pg_queue_ops;
    return ST_OK;
}
