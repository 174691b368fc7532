/*
 * state — the generic front of the run-state store (see state.h).
 *
 * This file owns the transition rules of DESIGN §3 and nothing else: each
 * public state_mark_*() call is turned into one `state_change` (which fields
 * to set, what to do with retry_count, which run_id to compare, which
 * history entry to append) and handed to the backend, which applies it
 * atomically. Keeping the rules here means SQLite and Redis cannot drift
 * apart: a backend is only a faithful "compare run_id, then set" engine.
 * state_open picks the backend from the parsed URL's kind: the state
 * family's backend constructor, the one place that may (issue 22).
 *
 * What each transition sets (and nothing else, besides updated_at):
 *   pending  : status, last_scheduled_at = now, run_id
 *   running  : status, last_attempted_at = now, worker, run_id
 *   finished : status, worker, message, error, run_id, and
 *              success -> last_run = started_at, retry_count = 0
 *              failed  -> retry_count + 1 (unchanged for a manual run:
 *                         state_mark_finished_manual)
 *              skipped -> last_attempted_at = now (retry_count unchanged)
 *              plus one history entry (started_at .. now, stats).
 *   reset    : status idle, retry_count 0, error "" — unconditional.
 *
 * The parsed URL's kind picks the backend (state_open is one of the backend
 * constructors allowed to branch on it).
 * state_list() sorts by pipeline then strategy so every backend lists in
 * the same order. The only clock read is state_reset()'s updated_at.
 * It also holds the helpers the backends share (state_backend.h), among
 * them the decoding of a record from its stored text (PostgreSQL, Redis).
 */
#include "state_backend.h"

#include "../log/log.h"
#include "../time/st_time.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct state {
    const struct state_ops *ops;
    void *be;
};

/* --- helpers shared by the backends --- */

int state_parse_i64(const char *s, int64_t *out) {
    if (s == NULL || *s == '\0') return ST_EINVAL;
    const char *p = s;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (*p == '\0') return ST_EINVAL;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return ST_EINVAL;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return ST_EINVAL;
        v = v * 10 + d;
    }
    if (!neg && v > (uint64_t)INT64_MAX) return ST_EINVAL;
    if (neg && v > (uint64_t)INT64_MAX + 1) return ST_EINVAL;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return ST_OK;
}

int state_corrupt(st_error *err, const char *pipeline, const char *strategy,
                  const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return st_error_set(err, ST_EINVAL, "corrupt state for %s:%s: %s", pipeline, strategy,
                        what);
}

/* --- a record from its stored text (state_pg, state_redis) --- */

static const char *const record_field_names[STATE_RECORD_TEXT_FIELDS] = {
    "pipeline", "strategy", "status", "last_run", "last_scheduled_at", "last_attempted_at",
    "retry_count", "run_id", "worker", "message", "error", "updated_at"};

static int field_time(const char *v, const char *name, int64_t *out, const state_record *r,
                      st_error *err) {
    if (v == NULL || v[0] == '\0') {
        *out = ST_TIME_NONE;
        return ST_OK;
    }
    if (state_parse_i64(v, out) != ST_OK)
        return state_corrupt(err, r->pipeline, r->strategy,
                             "%s is not an integer timestamp: '%s'", name, v);
    return ST_OK;
}

static int field_count(const char *v, const char *name, int64_t *out, const state_record *r,
                       st_error *err) {
    if (v == NULL || v[0] == '\0') {
        *out = 0;
        return ST_OK;
    }
    if (state_parse_i64(v, out) != ST_OK || *out < 0)
        return state_corrupt(err, r->pipeline, r->strategy,
                             "%s is not a non-negative integer: '%s'", name, v);
    return ST_OK;
}

int state_record_from_text(state_record *r, const char *const v[STATE_RECORD_TEXT_FIELDS],
                           const char *p, const char *s, st_error *err) {
    /* Every field is assigned here or below: no 2 KB memset per record. */
    state_copy(r->pipeline, sizeof r->pipeline, v[0] ? v[0] : p);
    state_copy(r->strategy, sizeof r->strategy, v[1] ? v[1] : s);
    r->status = STATE_IDLE;
    r->retry_count = r->run_id = 0;
    r->last_run = r->last_scheduled_at = r->last_attempted_at = r->updated_at = ST_TIME_NONE;
    r->worker[0] = r->message[0] = r->error[0] = '\0';
    r->paused = false;
    if (state_status_parse(v[2] ? v[2] : "", &r->status) != ST_OK)
        return state_corrupt(err, r->pipeline, r->strategy, "unknown status '%s'",
                             v[2] ? v[2] : "");
    int64_t *times[] = {&r->last_run, &r->last_scheduled_at, &r->last_attempted_at};
    for (int i = 0; i < 3; i++) {
        int rc = field_time(v[3 + i], record_field_names[3 + i], times[i], r, err);
        if (rc != ST_OK) return rc;
    }
    int rc = field_count(v[6], "retry_count", &r->retry_count, r, err);
    if (rc == ST_OK) rc = field_count(v[7], "run_id", &r->run_id, r, err);
    if (rc == ST_OK) rc = field_time(v[11], "updated_at", &r->updated_at, r, err);
    state_copy(r->worker, sizeof r->worker, v[8]);
    state_copy(r->message, sizeof r->message, v[9]);
    state_copy(r->error, sizeof r->error, v[10]);
    return rc;
}

void state_note_problem(st_error *err, const st_error *problem) {
    if (err == NULL) return;
    if (err->code == ST_OK || err->msg[0] == '\0') {
        st_error_set(err, problem->code, "%s", problem->msg);
        return;
    }
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len, "; %s", problem->msg);
}

void state_copy(char *dst, size_t n, const char *src) {
    if (n == 0) return;
    size_t len = src ? strnlen(src, n - 1) : 0;
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

void state_record_init(state_record *r, const char *pipeline, const char *strategy) {
    memset(r, 0, sizeof *r);
    state_copy(r->pipeline, sizeof r->pipeline, pipeline);
    state_copy(r->strategy, sizeof r->strategy, strategy);
    r->status = STATE_IDLE;
    r->last_run = r->last_scheduled_at = r->last_attempted_at = ST_TIME_NONE;
    r->updated_at = ST_TIME_NONE;
}

int state_stale(st_error *err, int64_t run_id, int64_t stored) {
    return st_error_set(err, ST_ESTALE, "stale update from run %lld ignored: run %lld is newer",
                        (long long)run_id, (long long)stored);
}

static const char *const status_names[] = {"idle", "pending", "running",
                                           "success", "failed", "skipped",
                                           "interrupted", "lost"};

const char *state_status_name(state_status s) {
    if ((unsigned)s >= sizeof status_names / sizeof status_names[0]) return "unknown";
    return status_names[s];
}

int state_status_parse(const char *s, state_status *out) {
    for (size_t i = 0; s && i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (state_status)i;
            return ST_OK;
        }
    }
    return ST_EINVAL;
}

/* --- open / close --- */

int state_open_with_ops(state **out, const struct state_ops *ops, void *be, st_error *err) {
    *out = NULL;
    if (ops == NULL || ops->version != STATE_OPS_VERSION) {
        if (ops && ops->close) ops->close(be);
        return st_error_set(err, ST_EINVAL, "state backend: unsupported ops version %d",
                            ops ? ops->version : -1);
    }
    state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        ops->close(be);
        return st_error_set(err, ST_ENOMEM, "state: out of memory");
    }
    st->ops = ops;
    st->be = be;
    *out = st;
    return ST_OK;
}

int state_open(state **out, const backend_url *u, st_error *err) {
    *out = NULL;
    const struct state_ops *ops = NULL;
    void *be = NULL;
    int rc;
    if (u != NULL && u->kind == BURL_SQLITE)
        rc = state_sqlite_open(&be, &ops, u->path, err);
    else if (u != NULL && u->kind == BURL_REDIS)
        rc = state_redis_open(&be, &ops, u, err);
    else if (u != NULL && u->kind == BURL_POSTGRES)
        rc = state_pg_open(&be, &ops, u, err);
    else
        return st_error_set(err, ST_EINVAL, "state: no URL given");
    if (rc != ST_OK) return rc;
    if ((rc = state_open_with_ops(out, ops, be, err)) != ST_OK) return rc;
    st_error e;
    if (state_spool_replay(*out, u, NULL, &e) != ST_OK)
        log_warn(NULL, NULL, "spooled outcomes not recorded yet: %s", e.msg);
    return ST_OK;
}

void state_close(state *st) {
    if (st == NULL) return;
    st->ops->close(st->be);
    free(st);
}

const char *state_backend_name(const state *st) { return st->ops->name; }

/* --- reads --- */

int state_get(state *st, const char *pipeline, const char *strategy, state_record *out,
              st_error *err) {
    return st->ops->get(st->be, pipeline, strategy, out, err);
}

static int record_cmp(const void *a, const void *b) {
    const state_record *x = a, *y = b;
    int c = strcmp(x->pipeline, y->pipeline);
    return c ? c : strcmp(x->strategy, y->strategy);
}

int state_list(state *st, state_record **out, size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    st_error_clear(err);
    int rc = st->ops->list(st->be, out, n, err);
    if (rc != ST_OK) return rc;
    /* Backends usually list in order already; records are ~2 KB, so skip
     * the sort (and its copying) when they do. */
    bool sorted = true;
    for (size_t i = 1; sorted && i < *n; i++) sorted = record_cmp(&(*out)[i - 1], &(*out)[i]) <= 0;
    if (!sorted) qsort(*out, *n, sizeof **out, record_cmp);
    return ST_OK;
}

const state_record *state_list_find(const state_record *sorted, size_t n,
                                    const char *pipeline, const char *strategy) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid].pipeline, pipeline);
        if (c == 0) c = strcmp(sorted[mid].strategy, strategy);
        if (c == 0) return &sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int state_list_each(state *st, state_each_fn fn, void *ud, st_error *err) {
    st_error_clear(err);
    if (st->ops->list_each) return st->ops->list_each(st->be, fn, ud, err);
    state_record *recs = NULL;
    size_t n = 0;
    int rc = st->ops->list(st->be, &recs, &n, err);
    for (size_t i = 0; rc == ST_OK && i < n; i++) rc = fn(ud, &recs[i]);
    free(recs);
    return rc;
}

int state_history(state *st, const char *pipeline, const char *strategy, size_t limit,
                  state_history_entry **out, size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    return st->ops->history(st->be, pipeline, strategy, limit, out, n, err);
}

int state_new_run_id(state *st, int64_t *out, st_error *err) {
    return st->ops->new_run_id(st->be, out, err);
}

/* --- transitions --- */

static void change_init(state_change *c, const char *pipeline, const char *strategy,
                        int64_t run_id, int64_t now) {
    memset(c, 0, sizeof *c);
    c->pipeline = pipeline;
    c->strategy = strategy;
    c->check_run_id = true;
    c->run_id = run_id;
    c->now = now;
    state_record_init(&c->values, pipeline, strategy);
    c->values.run_id = run_id;
    c->set = STATE_SET_RUN_ID | STATE_SET_STATUS;
}

int state_mark_pending(state *st, const char *pipeline, const char *strategy, int64_t run_id,
                       int64_t now, st_error *err) {
    state_change c;
    change_init(&c, pipeline, strategy, run_id, now);
    c.values.status = STATE_PENDING;
    c.values.last_scheduled_at = now;
    c.set |= STATE_SET_LAST_SCHEDULED;
    return st->ops->apply(st->be, &c, err);
}

int state_mark_running(state *st, const char *pipeline, const char *strategy, int64_t run_id,
                       int64_t now, const char *worker, st_error *err) {
    state_change c;
    change_init(&c, pipeline, strategy, run_id, now);
    c.values.status = STATE_RUNNING;
    c.values.last_attempted_at = now;
    state_copy(c.values.worker, sizeof c.values.worker, worker);
    c.set |= STATE_SET_LAST_ATTEMPTED | STATE_SET_WORKER;
    return st->ops->apply(st->be, &c, err);
}

static void history_fill(state_history_entry *h, int64_t run_id, state_status status,
                         int64_t started_at, int64_t now, const char *worker,
                         const char *message, const char *error, const state_stats *stats) {
    memset(h, 0, sizeof *h);
    h->run_id = run_id;
    h->status = status;
    h->started_at = started_at;
    h->finished_at = now;
    state_copy(h->worker, sizeof h->worker, worker);
    state_copy(h->message, sizeof h->message, message);
    state_copy(h->error, sizeof h->error, error);
    if (stats) h->stats = *stats;
}

/* Adds a finished attempt to the metrics counters (see state_counter). A
 * failure here is logged: it must never turn a recorded run into an error. */
static void count_finished(state *st, const char *pipeline, const char *strategy,
                           state_status status, const state_stats *stats) {
    if (st->ops->counters_add == NULL) return;
    static const double le[STATE_NDURATION_BUCKETS] = STATE_DURATION_BUCKETS;
    char runs[64], bucket[STATE_NDURATION_BUCKETS][64];
    const char *names[8 + STATE_NDURATION_BUCKETS];
    double deltas[8 + STATE_NDURATION_BUCKETS];
    size_t n = 0;
    snprintf(runs, sizeof runs, "runs_%s", state_status_name(status));
    names[n] = runs; deltas[n++] = 1;
    state_stats zero = {0};
    if (stats == NULL) stats = &zero;
    names[n] = "rows_read"; deltas[n++] = (double)stats->rows_read;
    names[n] = "rows_inserted"; deltas[n++] = (double)stats->rows_inserted;
    names[n] = "rows_updated"; deltas[n++] = (double)stats->rows_updated;
    names[n] = "rows_deleted"; deltas[n++] = (double)stats->rows_deleted;
    if (status == STATE_SUCCESS || status == STATE_FAILED) {
        names[n] = "duration_seconds_sum"; deltas[n++] = stats->seconds;
        names[n] = "duration_seconds_count"; deltas[n++] = 1;
        for (int i = 0; i < STATE_NDURATION_BUCKETS; i++) {
            if (stats->seconds > le[i]) continue;
            snprintf(bucket[i], sizeof bucket[i], "duration_seconds_bucket:%g", le[i]);
            names[n] = bucket[i]; deltas[n++] = 1;
        }
    }
    st_error e;
    st_error_clear(&e);
    if (st->ops->counters_add(st->be, pipeline, strategy, n, names, deltas, &e) != ST_OK)
        log_warn(pipeline, strategy, "metrics counters not updated: %s", e.msg);
}

int state_mark_finished(state *st, const char *pipeline, const char *strategy, int64_t run_id,
                        state_status status, int64_t started_at, int64_t now,
                        const char *worker, const char *message, const char *error,
                        const state_stats *stats, st_error *err) {
    return state_mark_finished_log(st, pipeline, strategy, run_id, status, started_at, now,
                                   worker, message, error, stats, NULL, err);
}

/* The change that records a finished attempt (without its history). */
static void finished_change(state_change *c, const char *pipeline, const char *strategy,
                            int64_t run_id, state_status status, int64_t started_at,
                            int64_t now, const char *worker, const char *message,
                            const char *error, bool counts) {
    change_init(c, pipeline, strategy, run_id, now);
    c->values.status = status;
    state_copy(c->values.worker, sizeof c->values.worker, worker);
    state_copy(c->values.message, sizeof c->values.message, message);
    state_copy(c->values.error, sizeof c->values.error, error);
    c->set |= STATE_SET_WORKER | STATE_SET_MESSAGE | STATE_SET_ERROR;
    if (status == STATE_SUCCESS) {
        c->values.last_run = started_at;
        c->set |= STATE_SET_LAST_RUN;
        c->retry = STATE_RETRY_RESET;
    } else if (status == STATE_FAILED || status == STATE_LOST) {
        c->retry = counts ? STATE_RETRY_INCR : STATE_RETRY_KEEP;
    } else {
        c->values.last_attempted_at = now;
        c->set |= STATE_SET_LAST_ATTEMPTED;
    }
}

static int mark_finished(state *st, const char *pipeline, const char *strategy,
                         int64_t run_id, state_status status, int64_t started_at, int64_t now,
                         const char *worker, const char *message, const char *error,
                         const state_stats *stats, const char *log, bool counts,
                         st_error *err) {

    if (status != STATE_SUCCESS && status != STATE_FAILED && status != STATE_SKIPPED &&
        status != STATE_INTERRUPTED && status != STATE_LOST)
        return st_error_set(err, ST_EINVAL,
                            "state: %s:%s: finished status must be success, failed, "
                            "skipped, interrupted or lost, not %s", pipeline, strategy,
                            state_status_name(status));
    state_change c;
    finished_change(&c, pipeline, strategy, run_id, status, started_at, now, worker, message,
                    error, counts);
    state_history_entry h;
    history_fill(&h, run_id, status, started_at, now, worker, message, error, stats);
    c.history = &h;
    c.log = log;
    int rc = st->ops->apply(st->be, &c, err);
    if (rc == ST_OK) count_finished(st, pipeline, strategy, status, stats);
    return rc;
}

static bool state_finished(state_status s) {
    return s == STATE_SUCCESS || s == STATE_FAILED || s == STATE_SKIPPED ||
           s == STATE_INTERRUPTED;
}

int state_record_late(state *st, const state_outcome *o, bool *applied, st_error *err) {
    *applied = false;
    if (!state_finished(o->status) && o->status != STATE_LOST)
        return st_error_set(err, ST_EINVAL, "state: %s:%s: a late outcome must be finished, "
                            "not %s", o->pipeline, o->strategy, state_status_name(o->status));
    state_record cur;
    int rc = state_get(st, o->pipeline, o->strategy, &cur, err);
    if (rc != ST_OK && rc != ST_ENOTFOUND) return rc;
    bool have = rc == ST_OK;
    if (have && cur.run_id == o->run_id && state_finished(cur.status)) return ST_OK;
    state_change c;
    finished_change(&c, o->pipeline, o->strategy, o->run_id, o->status, o->started_at,
                    o->finished_at, o->worker, o->message, o->error, !o->manual);
    if (have && cur.run_id > o->run_id) {
        /* a newer run owns the record: only the history entry is added */
        c.check_run_id = false;
        c.set = 0;
        c.retry = STATE_RETRY_KEEP;
    } else if (have && cur.run_id == o->run_id && cur.status == STATE_LOST &&
               o->status != STATE_SUCCESS) {
        c.retry = STATE_RETRY_KEEP;   /* `lost` already counted this failure */
    }
    state_history_entry h;
    history_fill(&h, o->run_id, o->status, o->started_at, o->finished_at, o->worker,
                 o->message, o->error, &o->stats);
    c.history = &h;
    c.log = o->log;
    if ((rc = st->ops->apply(st->be, &c, err)) != ST_OK) return rc;
    count_finished(st, o->pipeline, o->strategy, o->status, &o->stats);
    *applied = true;
    return ST_OK;
}

int state_mark_finished_log(state *st, const char *pipeline, const char *strategy,
                            int64_t run_id, state_status status, int64_t started_at,
                            int64_t now, const char *worker, const char *message,
                            const char *error, const state_stats *stats, const char *log,
                            st_error *err) {
    return mark_finished(st, pipeline, strategy, run_id, status, started_at, now, worker,
                         message, error, stats, log, true, err);
}

int state_mark_finished_manual(state *st, const char *pipeline, const char *strategy,
                               int64_t run_id, state_status status, int64_t started_at,
                               int64_t now, const char *worker, const char *message,
                               const char *error, const state_stats *stats, const char *log,
                               st_error *err) {
    return mark_finished(st, pipeline, strategy, run_id, status, started_at, now, worker,
                         message, error, stats, log, false, err);
}

int state_reset_at(state *st, const char *pipeline, const char *strategy, int64_t now,
                   st_error *err) {
    state_change c;
    change_init(&c, pipeline, strategy, 0, now);
    c.check_run_id = false;
    c.must_exist = true;
    c.set = STATE_SET_STATUS | STATE_SET_ERROR;
    c.values.status = STATE_IDLE;
    c.retry = STATE_RETRY_RESET;
    return st->ops->apply(st->be, &c, err);
}

int state_reset(state *st, const char *pipeline, const char *strategy, st_error *err) {
    return state_reset_at(st, pipeline, strategy, st_time_now(), err);
}

static int check_put(const state_record *rec, st_error *err) {
    if (rec->pipeline[0] == '\0' || rec->strategy[0] == '\0')
        return st_error_set(err, ST_EINVAL, "state put: pipeline and strategy are required");
    if ((unsigned)rec->status > STATE_LOST)
        return st_error_set(err, ST_EINVAL, "state put: %s:%s: unknown status %d",
                            rec->pipeline, rec->strategy, (int)rec->status);
    if (rec->retry_count < 0 || rec->run_id < 0)
        return st_error_set(err, ST_EINVAL,
                            "state put: %s:%s: retry_count and run_id must be >= 0",
                            rec->pipeline, rec->strategy);
    return ST_OK;
}

int state_put(state *st, const state_record *rec, st_error *err) {
    int rc = check_put(rec, err);
    return rc != ST_OK ? rc : st->ops->put(st->be, rec, err);
}

int state_put_many(state *st, const state_record *recs, size_t n, st_error *err) {
    for (size_t i = 0; i < n; i++) {
        int rc = check_put(&recs[i], err);
        if (rc != ST_OK) return rc;
    }
    if (st->ops->put_many) return st->ops->put_many(st->be, recs, n, err);
    for (size_t i = 0; i < n; i++) {
        int rc = st->ops->put(st->be, &recs[i], err);
        if (rc != ST_OK) return rc;
    }
    return ST_OK;
}

/* --- operator pause, counters, heartbeats --- */

int state_set_paused(state *st, const char *pipeline, const char *strategy, bool paused,
                     int64_t now, st_error *err) {
    state_change c;
    change_init(&c, pipeline, strategy, 0, now);
    c.check_run_id = false;
    c.set = STATE_SET_PAUSED;
    c.values.paused = paused;
    return st->ops->apply(st->be, &c, err);
}

int state_counters_list(state *st, state_counter **out, size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    if (st->ops->counters_list == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s keeps no counters", st->ops->name);
    return st->ops->counters_list(st->be, out, n, err);
}

int state_counters_add(state *st, const char *pipeline, const char *strategy, size_t n,
                       const char *const *names, const double *deltas, st_error *err) {
    if (st->ops->counters_add == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s keeps no counters", st->ops->name);
    return st->ops->counters_add(st->be, pipeline, strategy, n, names, deltas, err);
}

int state_beat(state *st, const char *kind, const char *name, int64_t now, st_error *err) {
    if (st->ops->beat == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s keeps no heartbeats", st->ops->name);
    return st->ops->beat(st->be, kind, name, now, err);
}

int state_beats(state *st, state_process **out, size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    if (st->ops->beats == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s keeps no heartbeats", st->ops->name);
    return st->ops->beats(st->be, out, n, err);
}

/* --- run logs and retention --- */

int state_run_get(state *st, int64_t run_id, state_run *out, st_error *err) {
    memset(out, 0, sizeof *out);
    if (st->ops->run_get == NULL)
        return st_error_set(err, ST_ERR, "state %s: run lookup not supported", st->ops->name);
    return st->ops->run_get(st->be, run_id, out, err);
}

void state_run_clear(state_run *r) {
    if (r == NULL) return;
    free(r->log);
    r->log = NULL;
}

int state_prune(state *st, int64_t now, const state_retention *ret, int64_t *removed,
                st_error *err) {
    int64_t dummy = 0;
    if (removed == NULL) removed = &dummy;
    *removed = 0;
    if (ret->keep_days < 0 || ret->keep_runs < 0)
        return st_error_set(err, ST_EINVAL, "state prune: keep_days and keep_runs must be >= 0");
    if (st->ops->prune == NULL)
        return st_error_set(err, ST_ERR, "state %s: pruning not supported", st->ops->name);
    int64_t cutoff = ret->keep_days > 0 ? now - ret->keep_days * 86400LL * 1000000LL
                                        : ST_TIME_NONE;
    return st->ops->prune(st->be, cutoff, ret->keep_runs, removed, err);
}

/* --- meta --- */

int state_meta_get(state *st, const char *pipeline, const char *strategy, const char *key,
                   char *buf, size_t buflen, st_error *err) {
    return st->ops->meta_get(st->be, pipeline, strategy, key, buf, buflen, err);
}

int state_meta_get_many(state *st, state_meta_req *reqs, size_t n, st_error *err) {
    st_error_clear(err);
    for (size_t i = 0; i < n; i++) {
        reqs[i].rc = ST_ENOTFOUND;
        if (reqs[i].buflen > 0) reqs[i].buf[0] = '\0';
    }
    if (st->ops->meta_get_many != NULL) return st->ops->meta_get_many(st->be, reqs, n, err);
    for (size_t i = 0; i < n; i++) {
        state_meta_req *q = &reqs[i];
        st_error e;
        q->rc = st->ops->meta_get(st->be, q->pipeline, q->strategy, q->key, q->buf, q->buflen, &e);
        if (q->rc == ST_ENOTFOUND && q->buflen > 0) q->buf[0] = '\0';
        if (q->rc != ST_OK && q->rc != ST_ENOTFOUND) {
            *err = e;
            return q->rc;
        }
    }
    return ST_OK;
}

int state_meta_put(state *st, const char *pipeline, const char *strategy, const char *key,
                   const char *value, st_error *err) {
    return st->ops->meta_put(st->be, pipeline, strategy, key, value, err);
}

/* The progress record is one meta value, "v1 run_id at rows_read
 * rows_inserted rows_updated rows_deleted rows_expected segments_compared
 * segments_expected rate eta":
 * our own format, read back only here. */
#define STATE_PROGRESS_KEY "progress"

int state_progress_put(state *st, const char *pipeline, const char *strategy,
                       const state_progress *p, st_error *err) {
    char v[320];
    snprintf(v, sizeof v, "v1 %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
             " %" PRId64 " %" PRId64 " %" PRId64 " %.3f %.3f", p->run_id, p->at, p->rows_read,
             p->rows_inserted, p->rows_updated, p->rows_deleted, p->rows_expected, p->segments_compared, p->segments_expected, p->rows_per_s,
             p->eta_s);
    return state_meta_put(st, pipeline, strategy, STATE_PROGRESS_KEY, v, err);
}

int state_progress_get(state *st, const char *pipeline, const char *strategy,
                       state_progress *out, st_error *err) {
    char v[320];
    memset(out, 0, sizeof *out);
    int rc = state_meta_get(st, pipeline, strategy, STATE_PROGRESS_KEY, v, sizeof v, err);
    if (rc != ST_OK) return rc;
    if (sscanf(v, "v1 %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64
               " %" SCNd64 " %" SCNd64 " %" SCNd64 " %lf %lf", &out->run_id, &out->at,
               &out->rows_read, &out->rows_inserted, &out->rows_updated, &out->rows_deleted,
               &out->rows_expected, &out->segments_compared, &out->segments_expected,
               &out->rows_per_s, &out->eta_s) != 11)
        return st_error_set(err, ST_ENOTFOUND, "%s:%s: unreadable progress record", pipeline,
                            strategy);
    return ST_OK;
}

/* --- copying a whole store --- */

int state_history_each(state *st, state_run_fn fn, void *ud, st_error *err) {
    if (st->ops->history_each == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s cannot list all history", st->ops->name);
    return st->ops->history_each(st->be, fn, ud, err);
}

int state_history_put(state *st, const state_run *r, st_error *err) {
    if (st->ops->history_put == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s cannot import history", st->ops->name);
    return st->ops->history_put(st->be, r, err);
}

static int meta_cmp(const void *a, const void *b) {
    const state_meta *x = a, *y = b;
    int c = strcmp(x->pipeline, y->pipeline);
    if (c == 0) c = strcmp(x->strategy, y->strategy);
    return c ? c : strcmp(x->key, y->key);
}

int state_meta_list(state *st, state_meta **out, size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    if (st->ops->meta_list == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s cannot list meta", st->ops->name);
    int rc = st->ops->meta_list(st->be, out, n, err);
    if (rc == ST_OK && *n > 1) qsort(*out, *n, sizeof **out, meta_cmp);
    return rc;
}

void state_meta_list_free(state_meta *m, size_t n) {
    for (size_t i = 0; m != NULL && i < n; i++) free(m[i].value);
    free(m);
}

int state_forget(state *st, const char *pipeline, const char *strategy, st_error *err) {
    if (st->ops->forget == NULL)
        return st_error_set(err, ST_ENOTIMPL, "state %s cannot remove records",
                            st->ops->name);
    return st->ops->forget(st->be, pipeline, strategy, err);
}

/* --- the alert outbox (front; field helpers in state_outbox.c) --- */

static int outbox_missing(const state *st, st_error *err) {
    return st_error_set(err, ST_ENOTIMPL, "state %s keeps no alert outbox", st->ops->name);
}

int state_outbox_add(state *st, const state_alert *alerts, size_t n, const char *mp,
                     const char *ms, const char *mkey, const char *mvalue, st_error *err) {
    if (st->ops->outbox_add == NULL) return outbox_missing(st, err);
    return st->ops->outbox_add(st->be, alerts, n, mp, ms, mkey, mvalue, err);
}

int state_outbox_list(state *st, const char *hook, bool pending_only, state_alert **out,
                      size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    if (st->ops->outbox_list == NULL) return outbox_missing(st, err);
    return st->ops->outbox_list(st->be, hook, pending_only, out, n, err);
}

int state_outbox_update(state *st, const state_alert *a, st_error *err) {
    if (st->ops->outbox_update == NULL) return outbox_missing(st, err);
    return st->ops->outbox_update(st->be, a, err);
}

int state_outbox_prune(state *st, int64_t cutoff, int64_t *removed, st_error *err) {
    int64_t dummy = 0;
    if (removed == NULL) removed = &dummy;
    *removed = 0;
    if (st->ops->outbox_prune == NULL) return outbox_missing(st, err);
    return st->ops->outbox_prune(st->be, cutoff, removed, err);
}
