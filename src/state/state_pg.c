/*
 * state_pg — the PostgreSQL state backend (a backend_url of kind
 * BURL_POSTGRES): one schema of synctool's own database (src/pgcoord, the
 * URL's ?schema=, default "synctool") holds what Redis holds today, so many
 * hosts share state with nothing but PostgreSQL.
 *
 * Tables (DDL in src/pgcoord/pgcoord_schema.c, list state_v1; names are
 * unqualified, search_path points at the schema):
 *   state_records(pipeline, strategy, status, last_run, last_scheduled_at,
 *                 last_attempted_at, retry_count, run_id, worker, message,
 *                 error, updated_at, paused)      one row per pair
 *   state_run_id                                  sequence of run ids
 *   state_history(id bigserial, pipeline, strategy, run_id, ..., seconds,
 *                 recorded_at)   newest = highest id; kept until prune()
 *   state_run_logs(history_id, log)   a run's log lines (ON DELETE CASCADE
 *                 from its history row, so pruning history prunes logs)
 *   state_kv(pipeline, strategy, key, value)      watermarks, why-journal,
 *                                                 progress (meta_get/put)
 *   state_run_counters(pipeline, strategy, name, value)  /metrics counters
 *   state_processes(name, kind, last_heartbeat_at, seen_at)  heartbeats
 *   state_outbox(id bigserial, key UNIQUE, hook, status, ...)  alert outbox
 * Times are integer microseconds (bigint), NULL when unknown, as the callers
 * pass them: decisions take `now` from the caller. Where the server's own
 * clock is worth having (when a history row or heartbeat was written) it is
 * clock_timestamp(), never the host's. Text columns are COLLATE "C" so the
 * listing order is strcmp's (the front then skips its sort).
 *
 * Atomicity: apply() is one transaction: create the row if absent, lock it
 * (SELECT ... FOR UPDATE), compare run_id, update, append history and log;
 * every check comes before the first change and a refusal rolls back, so a
 * refused or corrupt update changes nothing. Two processes updating one pair
 * serialize on the row lock (no lost increment). put_many() is one
 * transaction and moves the run id sequence ahead of imported ids.
 * Durability: every commit waits for its WAL flush except a pending mark's
 * (the scheduler's hand-off, status pending and no history): the job's
 * queue push follows it on the same server with a durable commit, whose
 * flush covers the earlier mark, so 100 enqueues wait for 100 flushes,
 * not 200 (with PostgreSQL state the queue is always queue_pg on the
 * same URL). A server crash between the two may now also forget the mark
 * of a job that was never queued: the strategy is then due again at the
 * next tick (a remembered mark waits out the pending timeout).
 *
 * Listing: list_each() pages by key (WHERE (pipeline, strategy) > last ...
 * LIMIT 1000), so 100,000 records cost 100 round trips and memory for one
 * page; fn is called between pages' queries, never while one is in flight.
 *
 * Corruption: the columns are typed, so corrupt values can only come from a
 * person altering the tables; rows are still decoded from their text and
 * checked as SQLite's and Redis's are (unknown status, a non-integer time),
 * reported with ST_EINVAL naming the pair; list() leaves such rows out.
 *
 * Errors name the URL redacted (never the password). When the connection is
 * lost (server restarted, network) the call fails ST_EUNAVAIL, the
 * connection is dropped and the next call connects again, as state_redis.
 */
#include "state_backend.h"
#include "../pgcoord/pgc_call.h"
#include "../pgcoord/pgcoord.h"

#include "../time/st_time.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 1000
#define MAXP 48

typedef struct pg_be {
    pgc_link l;          /* the connection, its URL and credentials (pgc_call.h) */
} pg_be;

#define RECORD_COLUMNS                                                                  \
    "pipeline, strategy, status, last_run, last_scheduled_at, last_attempted_at, "     \
    "retry_count, run_id, worker, message, error, updated_at, paused"

#define HISTORY_COLUMNS                                                                \
    "run_id, status, started_at, finished_at, retry_count, worker, message, error,"      \
    " rows_read, rows_inserted, rows_updated, rows_deleted, rows_null_cursor,"           \
    " segments_compared, segments_skipped, seconds"

/* --- parameters: values travel as text, numbered as they are added --- */

typedef struct pg_params {
    const char *v[MAXP];
    char num[MAXP][32];
    int n;
} pg_params;

/* Each adder returns the placeholder number ($N) of the value. */
static int p_text(pg_params *p, const char *s) {
    p->v[p->n] = s ? s : "";
    return ++p->n;
}

static int p_i64(pg_params *p, int64_t x) {
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)x);
    p->v[p->n] = p->num[p->n];
    return ++p->n;
}

static int p_time(pg_params *p, int64_t t) {
    if (t != ST_TIME_NONE) return p_i64(p, t);
    p->v[p->n] = NULL;
    return ++p->n;
}

static int p_f64(pg_params *p, double x) {
    snprintf(p->num[p->n], sizeof p->num[0], "%.17g", x);
    p->v[p->n] = p->num[p->n];
    return ++p->n;
}

/* --- connection and queries --- */

static void drop_conn(pg_be *b) {
    pgc_link_drop(&b->l);
}

/* Sets err from a failed result (r cleared); a lost connection is dropped
 * (ST_EUNAVAIL) and re-made by the next call. */
static int failed(pg_be *b, PGresult *r, const char *what, st_error *err) {
    char label[700];
    snprintf(label, sizeof label, "state postgresql %s: %s", b->l.shown, what);
    int rc = pgc_fail(b->l.c, r, label, err);
    if (rc == ST_EUNAVAIL) drop_conn(b);
    return rc;
}

static int ensure_connected(pg_be *b, st_error *err) {
    return pgc_link_ready(&b->l, err);
}

/* Runs sql with p's values; *out (may be NULL: cleared) is the result.
 * Within PGC_CALL_TIMEOUT_MS (pgc_call.h): a stalled server is treated as
 * one gone away (connection dropped, ST_EUNAVAIL), never waited on. */
static int query(pg_be *b, PGresult **out, const char *what, const char *sql,
                 const pg_params *p, st_error *err) {
    if (out) *out = NULL;
    if (b->l.c == NULL) return st_error_set(err, ST_EUNAVAIL, "state postgresql %s: %s: "
                                          "not connected", b->l.shown, what);
    PGresult *r = NULL;
    char why[300];
    if (pgc_query_on(b->l.c, sql, p ? p->n : 0, p ? p->v : NULL, PGC_CALL_TIMEOUT_MS, &r, why,
                     sizeof why) < 0) {
        drop_conn(b);
        why[strcspn(why, "\n")] = '\0';
        return st_error_set(err, ST_EUNAVAIL, "state postgresql %s unreachable: %s: %s",
                            b->l.shown, what, why);
    }
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) return failed(b, r, what, err);
    if (out) *out = r; else PQclear(r);
    return ST_OK;
}

/* query() on a connection made first if there is none (or it was lost). */
static int query_connected(pg_be *b, PGresult **out, const char *what, const char *sql,
                           const pg_params *p, st_error *err) {
    int rc = ensure_connected(b, err);
    return rc != ST_OK ? rc : query(b, out, what, sql, p, err);
}

/* query_connected() for a listing: *arr gets a zeroed array of one elem-
 * sized item per row of *out (at least one item, so never NULL on ST_OK),
 * *cnt the number of rows. The caller fills the items and clears *out. */
static int select_rows(pg_be *b, PGresult **out, const char *what, const char *sql,
                       const pg_params *p, size_t elem, void **arr, int *cnt, st_error *err) {
    int rc = query_connected(b, out, what, sql, p, err);
    if (rc != ST_OK) return rc;
    *cnt = PQntuples(*out);
    *arr = calloc(*cnt ? (size_t)*cnt : 1, elem);
    if (*arr != NULL) return ST_OK;
    PQclear(*out);
    *out = NULL;
    return st_error_set(err, ST_ENOMEM, "state %s: out of memory", what);
}

static int begin(pg_be *b, st_error *err) {
    int rc = ensure_connected(b, err);
    return rc != ST_OK ? rc : query(b, NULL, "BEGIN", "BEGIN", NULL, err);
}

/* COMMIT when rc is ST_OK, else ROLLBACK (keeping rc and its message). */
static int finish_tx(pg_be *b, int rc, st_error *err) {
    if (rc == ST_OK) return query(b, NULL, "COMMIT", "COMMIT", NULL, err);
    st_error ignored;
    if (b->l.c != NULL) query(b, NULL, "ROLLBACK", "ROLLBACK", NULL, &ignored);
    return rc;
}

/* Number of rows a command changed. */
static int64_t changed(PGresult *r) {
    const char *t = PQcmdTuples(r);
    return t && t[0] ? strtoll(t, NULL, 10) : 0;
}

static const char *col(PGresult *r, int row, int c) {
    return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

static int64_t col_i64(PGresult *r, int row, int c, int64_t none) {
    const char *v = col(r, row, c);
    int64_t x;
    return v != NULL && state_parse_i64(v, &x) == ST_OK ? x : none;
}

static const char *col_str(PGresult *r, int row, int c) {
    const char *v = col(r, row, c);
    return v ? v : "";
}

/* --- open / close --- */

static void pg_close(void *be) {
    pg_be *b = be;
    if (b == NULL) return;
    pgc_link_drop(&b->l);
    memset(&b->l.u, 0, sizeof b->l.u);
    free(b);
}

static const struct state_ops pg_state_ops;

int state_pg_open(void **be, const struct state_ops **ops, const backend_url *u,
                  st_error *err) {
    *be = NULL;
    pg_be *b = calloc(1, sizeof *b);
    if (b == NULL) return st_error_set(err, ST_ENOMEM, "state postgresql: out of memory");
    pgc_link_init(&b->l, u, "synctool-state", "state postgresql");
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) {
        pg_close(b);
        return rc;
    }
    *be = b;
    *ops = &pg_state_ops;
    return ST_OK;
}

/* --- reading records --- */

/* Decodes one RECORD_COLUMNS row; ST_EINVAL naming the pair if corrupt. */
static int row_to_record(PGresult *res, int i, state_record *r, st_error *err) {
    const char *v[STATE_RECORD_TEXT_FIELDS];
    for (int k = 0; k < STATE_RECORD_TEXT_FIELDS; k++) v[k] = col(res, i, k);
    int rc = state_record_from_text(r, v, "", "", err);
    r->paused = strcmp(col_str(res, i, 12), "t") == 0;
    return rc;
}

static int pg_get(void *be, const char *p, const char *s, state_record *out, st_error *err) {
    pg_be *b = be;
    pg_params pp = {.n = 0};
    p_text(&pp, p);
    p_text(&pp, s);
    PGresult *r;
    int rc = query_connected(b, &r, "get", "SELECT " RECORD_COLUMNS " FROM state_records"
                             " WHERE pipeline = $1 AND strategy = $2", &pp, err);
    if (rc != ST_OK) return rc;
    if (PQntuples(r) == 0)
        rc = st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", p, s);
    else
        rc = row_to_record(r, 0, out, err);
    PQclear(r);
    return rc;
}

/* One page of records after (p, s) in key order ("" "" = from the start). */
static int read_page(pg_be *b, const char *p, const char *s, PGresult **out, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, p);
    p_text(&pp, s);
    return query(b, out, "list", "SELECT " RECORD_COLUMNS " FROM state_records"
                 " WHERE (pipeline, strategy) > ($1, $2) ORDER BY pipeline, strategy"
                 " LIMIT 1000", &pp, err);
}

/* Walks every record page by page, calling fn with one reused buffer. */
static int pg_list_each(void *be, state_each_fn fn, void *ud, st_error *err) {
    pg_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    state_record *rec = malloc(sizeof *rec);
    char (*last)[128] = calloc(2, sizeof *last);
    if (rec == NULL || last == NULL) rc = st_error_set(err, ST_ENOMEM, "state list: out of memory");
    for (int got = PAGE; rc == ST_OK && got == PAGE;) {
        PGresult *r;
        if ((rc = read_page(b, last[0], last[1], &r, err)) != ST_OK) break;
        got = PQntuples(r);
        if (got > 0) {
            state_copy(last[0], sizeof last[0], col_str(r, got - 1, 0));
            state_copy(last[1], sizeof last[1], col_str(r, got - 1, 1));
        }
        for (int i = 0; i < got && rc == ST_OK; i++) {
            st_error problem;
            if (row_to_record(r, i, rec, &problem) == ST_OK)
                rc = fn(ud, rec);
            else
                state_note_problem(err, &problem);
        }
        PQclear(r);
    }
    free(rec);
    free(last);
    return rc;
}

typedef struct collect {
    state_record *arr;
    size_t len, cap;
} collect;

static int collect_one(void *ud, const state_record *r) {
    collect *c = ud;
    if (c->len == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        state_record *na = realloc(c->arr, nc * sizeof *na);
        if (na == NULL) return ST_ENOMEM;
        c->arr = na;
        c->cap = nc;
    }
    c->arr[c->len++] = *r;
    return ST_OK;
}

static int pg_list(void *be, state_record **out, size_t *n, st_error *err) {
    collect c = {0};
    int rc = pg_list_each(be, collect_one, &c, err);
    if (rc == ST_ENOMEM) st_error_set(err, ST_ENOMEM, "state list: out of memory");
    if (rc != ST_OK) {
        free(c.arr);
        return rc;
    }
    *out = c.arr ? c.arr : calloc(1, sizeof **out);
    *n = c.len;
    return *out ? ST_OK : st_error_set(err, ST_ENOMEM, "state list: out of memory");
}

/* --- writes --- */

static int pg_new_run_id(void *be, int64_t *out, st_error *err) {
    PGresult *r;
    int rc = query_connected(be, &r, "new run id", "SELECT nextval('state_run_id')", NULL, err);
    if (rc != ST_OK) return rc;
    *out = col_i64(r, 0, 0, 0);
    PQclear(r);
    return ST_OK;
}

/* Creates the pair's row if absent (unless must_exist), locks it and reads
 * its run_id: ST_ENOTFOUND, ST_ESTALE or ST_EINVAL refuse the change. */
static int lock_pair(pg_be *b, const state_change *c, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, c->pipeline);
    p_text(&pp, c->strategy);
    int rc = ST_OK;
    if (!c->must_exist)
        rc = query(b, NULL, "apply", "INSERT INTO state_records(pipeline, strategy, status)"
                   " VALUES ($1, $2, 'idle') ON CONFLICT DO NOTHING", &pp, err);
    PGresult *r;
    if (rc != ST_OK || (rc = query(b, &r, "apply", "SELECT run_id FROM state_records WHERE"
                                   " pipeline = $1 AND strategy = $2 FOR UPDATE", &pp, err)))
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", c->pipeline, c->strategy);
    }
    const char *v = col(r, 0, 0);
    int64_t stored = 0;
    if (v != NULL && (state_parse_i64(v, &stored) != ST_OK || stored < 0))
        rc = state_corrupt(err, c->pipeline, c->strategy,
                           "run_id is not a non-negative integer: '%s'", v);
    else if (c->check_run_id && stored > c->run_id)
        rc = state_stale(err, c->run_id, stored);
    PQclear(r);
    return rc;
}

/* "UPDATE ... SET col = $N, ..." from the change mask: column names are
 * constants, every value a parameter. *retry gets the stored retry_count. */
static int update_fields(pg_be *b, const state_change *c, int64_t *retry, st_error *err) {
    const state_record *v = &c->values;
    pg_params pp = {.n = 0};
    char sql[1024];
    int len = snprintf(sql, sizeof sql, "UPDATE state_records SET updated_at = $%d",
                       p_time(&pp, c->now));
#define SET(bit, column, adder)                                                          \
    if (c->set & (bit))                                                                  \
        len += snprintf(sql + len, sizeof sql - (size_t)len, ", " column " = $%d", adder);
    SET(STATE_SET_STATUS, "status", p_text(&pp, state_status_name(v->status)))
    SET(STATE_SET_LAST_RUN, "last_run", p_time(&pp, v->last_run))
    SET(STATE_SET_LAST_SCHEDULED, "last_scheduled_at", p_time(&pp, v->last_scheduled_at))
    SET(STATE_SET_LAST_ATTEMPTED, "last_attempted_at", p_time(&pp, v->last_attempted_at))
    SET(STATE_SET_WORKER, "worker", p_text(&pp, v->worker))
    SET(STATE_SET_MESSAGE, "message", p_text(&pp, v->message))
    SET(STATE_SET_ERROR, "error", p_text(&pp, v->error))
    SET(STATE_SET_RUN_ID, "run_id", p_i64(&pp, v->run_id))
    SET(STATE_SET_PAUSED, "paused", p_text(&pp, v->paused ? "true" : "false"))
#undef SET
    if (c->retry == STATE_RETRY_RESET)
        len += snprintf(sql + len, sizeof sql - (size_t)len, ", retry_count = 0");
    else if (c->retry == STATE_RETRY_INCR)
        len += snprintf(sql + len, sizeof sql - (size_t)len, ", retry_count = retry_count + 1");
    int ip = p_text(&pp, c->pipeline), is = p_text(&pp, c->strategy);
    snprintf(sql + len, sizeof sql - (size_t)len,
             " WHERE pipeline = $%d AND strategy = $%d RETURNING retry_count", ip, is);
    PGresult *r;
    int rc = query(b, &r, "apply", sql, &pp, err);
    if (rc != ST_OK) return rc;
    *retry = col_i64(r, 0, 0, 0);
    PQclear(r);
    return ST_OK;
}

static int append_log(pg_be *b, int64_t history_id, const char *log, st_error *err) {
    if (log == NULL || log[0] == '\0') return ST_OK;
    pg_params pp = {.n = 0};
    p_i64(&pp, history_id);
    p_text(&pp, log);
    return query(b, NULL, "run log", "INSERT INTO state_run_logs(history_id, log)"
                 " VALUES ($1, $2)", &pp, err);
}

static int append_history(pg_be *b, const state_change *c, int64_t retry, st_error *err) {
    const state_history_entry *h = c->history;
    const state_stats *x = &h->stats;
    pg_params pp = {.n = 0};
    p_text(&pp, c->pipeline);
    p_text(&pp, c->strategy);
    p_i64(&pp, h->run_id);
    p_text(&pp, state_status_name(h->status));
    p_time(&pp, h->started_at);
    p_time(&pp, h->finished_at);
    p_i64(&pp, retry);
    p_text(&pp, h->worker);
    p_text(&pp, h->message);
    p_text(&pp, h->error);
    const int64_t v[] = {x->rows_read, x->rows_inserted, x->rows_updated, x->rows_deleted,
                         x->rows_null_cursor, x->segments_compared, x->segments_skipped};
    for (int i = 0; i < 7; i++) p_i64(&pp, v[i]);
    p_f64(&pp, x->seconds);
    PGresult *r;
    int rc = query(b, &r, "history", "INSERT INTO state_history(pipeline, strategy, "
                   HISTORY_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                   " $12, $13, $14, $15, $16, $17, $18) RETURNING id", &pp, err);
    if (rc != ST_OK) return rc;
    int64_t id = col_i64(r, 0, 0, 0);
    PQclear(r);
    return append_log(b, id, c->log, err);
}

/* A pending mark (status pending, no history): the scheduler's hand-off,
 * always followed by the job's queue push on this same server, whose
 * synchronous commit flushes the WAL past this earlier commit. */
static bool is_pending_mark(const state_change *c) {
    return (c->set & STATE_SET_STATUS) && c->values.status == STATE_PENDING &&
           c->history == NULL;
}

static int pg_apply(void *be, const state_change *c, st_error *err) {
    pg_be *b = be;
    int rc = begin(b, err);
    if (rc != ST_OK) return rc;
    int64_t retry = 0;
    if (is_pending_mark(c))
        rc = query(b, NULL, "apply", "SET LOCAL synchronous_commit TO off", NULL, err);
    if (rc == ST_OK) rc = lock_pair(b, c, err);
    if (rc == ST_OK) rc = update_fields(b, c, &retry, err);
    if (rc == ST_OK && c->history) rc = append_history(b, c, retry, err);
    return finish_tx(b, rc, err);
}

/* Moves the run id sequence past an imported id, so new runs stay newest. */
static int keep_run_id_ahead(pg_be *b, int64_t id, st_error *err) {
    pg_params pp = {.n = 0};
    p_i64(&pp, id);
    return query(b, NULL, "run id", "SELECT setval('state_run_id', $1::bigint) FROM state_run_id"
                 " WHERE $1::bigint > last_value OR ($1::bigint = last_value AND NOT is_called)",
                 &pp, err);
}

static int put_one(pg_be *b, const state_record *r, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, r->pipeline);
    p_text(&pp, r->strategy);
    p_text(&pp, state_status_name(r->status));
    p_time(&pp, r->last_run);
    p_time(&pp, r->last_scheduled_at);
    p_time(&pp, r->last_attempted_at);
    p_i64(&pp, r->retry_count);
    p_i64(&pp, r->run_id);
    p_text(&pp, r->worker);
    p_text(&pp, r->message);
    p_text(&pp, r->error);
    p_time(&pp, r->updated_at);
    p_text(&pp, r->paused ? "true" : "false");
    int rc = query(b, NULL, "put", "INSERT INTO state_records(" RECORD_COLUMNS ") VALUES"
                   " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                   " ON CONFLICT (pipeline, strategy) DO UPDATE SET status = $3,"
                   " last_run = $4, last_scheduled_at = $5, last_attempted_at = $6,"
                   " retry_count = $7, run_id = $8, worker = $9, message = $10, error = $11,"
                   " updated_at = $12, paused = $13", &pp, err);
    if (rc != ST_OK) return rc;
    return keep_run_id_ahead(b, r->run_id, err);
}

static int pg_put_many(void *be, const state_record *recs, size_t n, st_error *err) {
    pg_be *b = be;
    int rc = begin(b, err);
    for (size_t i = 0; rc == ST_OK && i < n; i++) rc = put_one(b, &recs[i], err);
    return finish_tx(b, rc, err);
}

static int pg_put(void *be, const state_record *rec, st_error *err) {
    return pg_put_many(be, rec, 1, err);
}

/* --- history and meta --- */

static void row_to_history(PGresult *r, int i, state_history_entry *h) {
    memset(h, 0, sizeof *h);
    h->run_id = col_i64(r, i, 0, 0);
    if (state_status_parse(col_str(r, i, 1), &h->status) != ST_OK) h->status = STATE_IDLE;
    h->started_at = col_i64(r, i, 2, ST_TIME_NONE);
    h->finished_at = col_i64(r, i, 3, ST_TIME_NONE);
    h->retry_count = col_i64(r, i, 4, 0);
    state_copy(h->worker, sizeof h->worker, col_str(r, i, 5));
    state_copy(h->message, sizeof h->message, col_str(r, i, 6));
    state_copy(h->error, sizeof h->error, col_str(r, i, 7));
    state_stats *x = &h->stats;
    int64_t *v[] = {&x->rows_read, &x->rows_inserted, &x->rows_updated, &x->rows_deleted,
                    &x->rows_null_cursor, &x->segments_compared, &x->segments_skipped};
    for (int k = 0; k < 7; k++) *v[k] = col_i64(r, i, 8 + k, 0);
    x->seconds = strtod(col_str(r, i, 15), NULL);
}

static int pg_history(void *be, const char *p, const char *s, size_t limit,
                      state_history_entry **out, size_t *n, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, p);
    p_text(&pp, s);
    p_i64(&pp, limit > INT32_MAX ? INT32_MAX : (int64_t)limit);
    PGresult *r;
    void *mem;
    int cnt;
    int rc = select_rows(be, &r, "history", "SELECT " HISTORY_COLUMNS " FROM state_history"
                         " WHERE pipeline = $1 AND strategy = $2 ORDER BY id DESC LIMIT $3",
                         &pp, sizeof(state_history_entry), &mem, &cnt, err);
    if (rc != ST_OK) return rc;
    state_history_entry *arr = mem;
    for (int i = 0; i < cnt; i++) row_to_history(r, i, &arr[i]);
    PQclear(r);
    *out = arr;
    *n = (size_t)cnt;
    return ST_OK;
}

static int pg_run_get(void *be, int64_t run_id, state_run *out, st_error *err) {
    pg_params pp = {.n = 0};
    p_i64(&pp, run_id);
    PGresult *r;
    int rc = query_connected(be, &r, "run lookup", "SELECT " HISTORY_COLUMNS ", pipeline,"
                             " strategy, (SELECT log FROM state_run_logs WHERE history_id ="
                             " h.id) FROM state_history h WHERE run_id = $1 ORDER BY id DESC"
                             " LIMIT 1", &pp, err);
    if (rc != ST_OK) return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return st_error_set(err, ST_ENOTFOUND, "no run %lld in history", (long long)run_id);
    }
    row_to_history(r, 0, &out->entry);
    state_copy(out->pipeline, sizeof out->pipeline, col_str(r, 0, 16));
    state_copy(out->strategy, sizeof out->strategy, col_str(r, 0, 17));
    if (col(r, 0, 18) != NULL && (out->log = strdup(col(r, 0, 18))) == NULL)
        rc = st_error_set(err, ST_ENOMEM, "state: out of memory");
    PQclear(r);
    return rc;
}

/* Deletes the history rows `where` selects (their logs cascade). */
static int prune_where(pg_be *b, const char *where, int64_t arg, int64_t *removed,
                       st_error *err) {
    char sql[512];
    snprintf(sql, sizeof sql, "DELETE FROM state_history WHERE %s", where);
    pg_params pp = {.n = 0};
    p_i64(&pp, arg);
    PGresult *r;
    int rc = query(b, &r, "prune", sql, &pp, err);
    if (rc != ST_OK) return rc;
    *removed += changed(r);
    PQclear(r);
    return ST_OK;
}

static int pg_prune(void *be, int64_t cutoff, int64_t keep_runs, int64_t *removed,
                    st_error *err) {
    pg_be *b = be;
    *removed = 0;
    int rc = begin(b, err);
    if (rc == ST_OK && cutoff != ST_TIME_NONE)
        rc = prune_where(b, "finished_at < $1", cutoff, removed, err);
    if (rc == ST_OK && keep_runs > 0)
        rc = prune_where(b, "id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY"
                            " pipeline, strategy ORDER BY id DESC) AS n FROM state_history) x"
                            " WHERE n > $1)", keep_runs, removed, err);
    return finish_tx(b, rc, err);
}

static int pg_meta_get(void *be, const char *p, const char *s, const char *key, char *buf,
                       size_t buflen, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, p);
    p_text(&pp, s);
    p_text(&pp, key);
    PGresult *r;
    int rc = query_connected(be, &r, "meta get", "SELECT value FROM state_kv WHERE"
                             " pipeline = $1 AND strategy = $2 AND key = $3", &pp, err);
    if (rc != ST_OK) return rc;
    if (PQntuples(r) == 1)
        state_copy(buf, buflen, col_str(r, 0, 0));
    else
        rc = st_error_set(err, ST_ENOTFOUND, "no meta '%s' for %s:%s", key, p, s);
    PQclear(r);
    return rc;
}

static int meta_put_q(pg_be *b, const char *p, const char *s, const char *key,
                      const char *value, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, p);
    p_text(&pp, s);
    p_text(&pp, key);
    p_text(&pp, value);
    return query(b, NULL, "meta put", "INSERT INTO state_kv(pipeline, strategy, key, value)"
                 " VALUES ($1, $2, $3, $4) ON CONFLICT (pipeline, strategy, key)"
                 " DO UPDATE SET value = excluded.value", &pp, err);
}

static int pg_meta_put(void *be, const char *p, const char *s, const char *key,
                       const char *value, st_error *err) {
    pg_be *b = be;
    int rc = ensure_connected(b, err);
    return rc != ST_OK ? rc : meta_put_q(b, p, s, key, value, err);
}

static int pg_forget(void *be, const char *p, const char *s, st_error *err) {
    pg_be *b = be;
    pg_params pp = {.n = 0};
    p_text(&pp, p);
    p_text(&pp, s);
    PGresult *r = NULL;
    int rc = begin(b, err);
    if (rc == ST_OK)
        rc = query(b, &r, "forget", "DELETE FROM state_records WHERE pipeline = $1 AND"
                   " strategy = $2", &pp, err);
    if (rc == ST_OK)
        rc = query(b, NULL, "forget", "DELETE FROM state_kv WHERE pipeline = $1 AND"
                   " strategy = $2", &pp, err);
    int64_t records = r ? changed(r) : 0;
    PQclear(r);
    if ((rc = finish_tx(b, rc, err)) != ST_OK) return rc;
    return records ? ST_OK : st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", p, s);
}

/* --- copying a whole store (state migrate) --- */

/* Pages through history by id, oldest first, with each entry's log. */
static int pg_history_each(void *be, state_run_fn fn, void *ud, st_error *err) {
    pg_be *b = be;
    int rc = ensure_connected(b, err);
    int64_t last = 0;
    for (int got = PAGE; rc == ST_OK && got == PAGE;) {
        pg_params pp = {.n = 0};
        p_i64(&pp, last);
        PGresult *r;
        rc = query(b, &r, "history", "SELECT " HISTORY_COLUMNS ", pipeline, strategy,"
                   " (SELECT log FROM state_run_logs WHERE history_id = h.id), id"
                   " FROM state_history h WHERE id > $1 ORDER BY id LIMIT 1000", &pp, err);
        if (rc != ST_OK) break;
        got = PQntuples(r);
        for (int i = 0; i < got && rc == ST_OK; i++) {
            state_run run = {0};
            row_to_history(r, i, &run.entry);
            state_copy(run.pipeline, sizeof run.pipeline, col_str(r, i, 16));
            state_copy(run.strategy, sizeof run.strategy, col_str(r, i, 17));
            run.log = (char *)col(r, i, 18);
            last = col_i64(r, i, 19, last);
            rc = fn(ud, &run);
        }
        PQclear(r);
    }
    return rc;
}

static int pg_history_put(void *be, const state_run *run, st_error *err) {
    pg_be *b = be;
    state_change c = {.pipeline = run->pipeline, .strategy = run->strategy,
                      .history = &run->entry, .log = run->log};
    int rc = begin(b, err);
    if (rc == ST_OK) rc = append_history(b, &c, run->entry.retry_count, err);
    if (rc == ST_OK) rc = keep_run_id_ahead(b, run->entry.run_id, err);
    return finish_tx(b, rc, err);
}

static int pg_meta_list(void *be, state_meta **out, size_t *n, st_error *err) {
    PGresult *r;
    void *mem;
    int cnt;
    int rc = select_rows(be, &r, "meta", "SELECT pipeline, strategy, key, value FROM state_kv"
                         " ORDER BY pipeline, strategy, key", NULL, sizeof(state_meta), &mem,
                         &cnt, err);
    if (rc != ST_OK) return rc;
    state_meta *arr = mem;
    for (int i = 0; arr && i < cnt; i++) {
        state_copy(arr[i].pipeline, sizeof arr[i].pipeline, col_str(r, i, 0));
        state_copy(arr[i].strategy, sizeof arr[i].strategy, col_str(r, i, 1));
        state_copy(arr[i].key, sizeof arr[i].key, col_str(r, i, 2));
        if ((arr[i].value = strdup(col_str(r, i, 3))) == NULL) {
            state_meta_list_free(arr, (size_t)i);
            arr = NULL;
        }
    }
    PQclear(r);
    if (arr == NULL) return st_error_set(err, ST_ENOMEM, "state meta: out of memory");
    *out = arr;
    *n = (size_t)cnt;
    return ST_OK;
}

/* --- metrics counters and process heartbeats --- */

/* One multi-row upsert: the counters of one attempt are added atomically. */
static int pg_counters_add(void *be, const char *p, const char *s, size_t n,
                           const char *const *names, const double *deltas, st_error *err) {
    pg_be *b = be;
    if (n == 0) return ST_OK;
    if (n > (MAXP - 2) / 2)
        return st_error_set(err, ST_EINVAL, "state counters: %zu counters in one step, at most "
                            "%d", n, (MAXP - 2) / 2);
    pg_params pp = {.n = 0};
    p_text(&pp, p);
    p_text(&pp, s);
    char sql[2048];
    int len = snprintf(sql, sizeof sql, "INSERT INTO state_run_counters(pipeline, strategy,"
                       " name, value) VALUES");
    for (size_t i = 0; i < n; i++) {
        int a = p_text(&pp, names[i]), d = p_f64(&pp, deltas[i]);
        len += snprintf(sql + len, sizeof sql - (size_t)len, "%s($1, $2, $%d, $%d::float8)",
                        i ? ", " : " ", a, d);
    }
    snprintf(sql + len, sizeof sql - (size_t)len, " ON CONFLICT (pipeline, strategy, name)"
             " DO UPDATE SET value = state_run_counters.value + excluded.value");
    return query_connected(b, NULL, "counters", sql, &pp, err);
}

static int pg_counters_list(void *be, state_counter **out, size_t *n, st_error *err) {
    PGresult *r;
    void *mem;
    int cnt;
    int rc = select_rows(be, &r, "counters", "SELECT pipeline, strategy, name, value FROM"
                         " state_run_counters ORDER BY pipeline, strategy, name", NULL,
                         sizeof(state_counter), &mem, &cnt, err);
    if (rc != ST_OK) return rc;
    state_counter *arr = mem;
    for (int i = 0; i < cnt; i++) {
        state_copy(arr[i].pipeline, sizeof arr[i].pipeline, col_str(r, i, 0));
        state_copy(arr[i].strategy, sizeof arr[i].strategy, col_str(r, i, 1));
        state_copy(arr[i].name, sizeof arr[i].name, col_str(r, i, 2));
        arr[i].value = strtod(col_str(r, i, 3), NULL);
    }
    PQclear(r);
    *out = arr;
    *n = (size_t)cnt;
    return ST_OK;
}

static int pg_beat(void *be, const char *kind, const char *name, int64_t now, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, name);
    p_text(&pp, kind);
    p_time(&pp, now);
    return query_connected(be, NULL, "heartbeat", "INSERT INTO state_processes(name, kind,"
                           " last_heartbeat_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO"
                           " UPDATE SET kind = $2, last_heartbeat_at = $3,"
                           " seen_at = clock_timestamp()", &pp, err);
}

static int pg_beats(void *be, state_process **out, size_t *n, st_error *err) {
    PGresult *r;
    void *mem;
    int cnt;
    int rc = select_rows(be, &r, "processes", "SELECT name, kind, last_heartbeat_at FROM"
                         " state_processes ORDER BY name", NULL, sizeof(state_process), &mem,
                         &cnt, err);
    if (rc != ST_OK) return rc;
    state_process *arr = mem;
    for (int i = 0; i < cnt; i++) {
        state_copy(arr[i].name, sizeof arr[i].name, col_str(r, i, 0));
        state_copy(arr[i].kind, sizeof arr[i].kind, col_str(r, i, 1));
        arr[i].last_heartbeat_at = col_i64(r, i, 2, ST_TIME_NONE);
    }
    PQclear(r);
    *out = arr;
    *n = (size_t)cnt;
    return ST_OK;
}

/* --- the alert outbox --- */

static int outbox_insert(pg_be *b, const state_alert *a, st_error *err) {
    char num[4][24];
    const char *v[STATE_ALERT_NFIELDS];
    state_alert_values(a, num, v);
    pg_params pp = {.n = 0};
    for (int i = 0; i < STATE_ALERT_NFIELDS; i++) p_text(&pp, v[i]);
    return query(b, NULL, "outbox", "INSERT INTO state_outbox(key, hook, status, pipeline,"
                 " strategy, event, created_at, next_at, updated_at, attempts, last_error, body)"
                 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                 " ON CONFLICT (key) DO NOTHING", &pp, err);
}

static int pg_outbox_add(void *be, const state_alert *alerts, size_t n, const char *mp,
                         const char *ms, const char *mkey, const char *mvalue, st_error *err) {
    pg_be *b = be;
    int rc = begin(b, err);
    for (size_t i = 0; i < n && rc == ST_OK; i++) rc = outbox_insert(b, &alerts[i], err);
    if (rc == ST_OK && mkey != NULL) rc = meta_put_q(b, mp, ms, mkey, mvalue, err);
    return finish_tx(b, rc, err);
}

static int pg_outbox_list(void *be, const char *hook, bool pending_only, state_alert **out,
                          size_t *n, st_error *err) {
    pg_params pp = {.n = 0};
    p_text(&pp, hook ? hook : "");
    p_text(&pp, pending_only ? "true" : "false");
    PGresult *r;
    void *mem;
    int cnt;
    int rc = select_rows(be, &r, "outbox", "SELECT id, key, hook, status, pipeline, strategy,"
                         " event, created_at, next_at, updated_at, attempts, last_error, body"
                         " FROM state_outbox WHERE ($1 = '' OR hook = $1) AND"
                         " (NOT $2::boolean OR status = 'pending') ORDER BY id", &pp,
                         sizeof(state_alert), &mem, &cnt, err);
    if (rc != ST_OK) return rc;
    state_alert *arr = mem;
    size_t len = 0;
    for (int i = 0; i < cnt; i++) {
        state_alert *a = &arr[len];
        memset(a, 0, sizeof *a);
        a->id = col_i64(r, i, 0, 0);
        bool ok = true;
        for (int f = 0; f < STATE_ALERT_NFIELDS; f++)
            ok = state_alert_field(a, state_alert_fields[f], col_str(r, i, f + 1)) && ok;
        if (ok) len++; /* a corrupt row is left out */
    }
    PQclear(r);
    *out = arr;
    *n = len;
    return ST_OK;
}

static int pg_outbox_update(void *be, const state_alert *a, st_error *err) {
    pg_params pp = {.n = 0};
    p_i64(&pp, a->id);
    p_text(&pp, state_alert_status_name(a->status));
    p_i64(&pp, a->next_at);
    p_i64(&pp, a->updated_at);
    p_i64(&pp, a->attempts);
    p_text(&pp, a->last_error);
    return query_connected(be, NULL, "outbox", "UPDATE state_outbox SET status = $2,"
                           " next_at = $3, updated_at = $4, attempts = $5, last_error = $6"
                           " WHERE id = $1", &pp, err);
}

static int pg_outbox_prune(void *be, int64_t cutoff, int64_t *removed, st_error *err) {
    pg_params pp = {.n = 0};
    p_i64(&pp, cutoff);
    PGresult *r;
    int rc = query_connected(be, &r, "outbox", "DELETE FROM state_outbox WHERE"
                             " status <> 'pending' AND updated_at < $1", &pp, err);
    if (rc != ST_OK) return rc;
    *removed = changed(r);
    PQclear(r);
    return ST_OK;
}

static const struct state_ops pg_state_ops = {
    .version = STATE_OPS_VERSION,
    .name = "postgresql",
    .close = pg_close,
    .get = pg_get,
    .list = pg_list,
    .list_each = pg_list_each,
    .new_run_id = pg_new_run_id,
    .apply = pg_apply,
    .put = pg_put,
    .put_many = pg_put_many,
    .history = pg_history,
    .run_get = pg_run_get,
    .prune = pg_prune,
    .meta_get = pg_meta_get,
    .meta_put = pg_meta_put,
    .forget = pg_forget,
    .counters_add = pg_counters_add,
    .counters_list = pg_counters_list,
    .beat = pg_beat,
    .beats = pg_beats,
    .outbox_add = pg_outbox_add,
    .outbox_list = pg_outbox_list,
    .outbox_update = pg_outbox_update,
    .outbox_prune = pg_outbox_prune,
    .history_each = pg_history_each,
    .history_put = pg_history_put,
    .meta_list = pg_meta_list,
};
