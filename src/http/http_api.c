/*
 * http_api — the handlers of /healthz, /readyz and /api/v1/ (docs/api.md,
 * docs/openapi.yaml).
 *
 * Handlers read through the same functions the CLI commands use: the config
 * (config_load via http_prepare), state_list / state_get / state_history,
 * a pipeline's view (view.h: sched_select for the §3 decision, so the API's
 * "reason" is the scheduler's reason verbatim) and the one JSON writer of
 * each concept, the very writers of the CLI's --json: view_pipeline_fields
 * and view_strategy_json (status, list), view_explain_json (explain),
 * state_run_write_json (logs, history, run), lock_info_write_json (lock
 * list), state_process_write_json (workers), view_error_json (errors).
 * Field names follow the shared vocabulary (docs/cli.md, *JSON*); unknown
 * values are null, never "".
 *
 * Deployment facts (GET /api/v1/workers, the dashboard's banner): whether a
 * scheduler holds the leader lease (http_scheduler_status, the fact behind
 * /metrics' synctool_scheduler_up) and whether the config on disk loads
 * (the server's last reload). A running strategy and a running run carry
 * the figures the run published (state_progress_get, written as JSON by
 * state_progress_write_json only).
 *
 * Mutations:
 *   run     takes the pipeline's enqueue lock (the scheduler's hand-off
 *           lock, so the two never enqueue the same pipeline at once),
 *           checks sched_can_enqueue (409 if the strategy is already
 *           pending or running), allocates a run id and marks it pending,
 *           then hands the job over exactly as the scheduler does (the run
 *           lifecycle, src/run/: run_default_strategy, run_enqueue): on
 *           Redis state it is pushed to the job stream for `synctool
 *           worker`; on embedded SQLite state there is no shared queue, so
 *           the server starts `synctool scheduler --exec-job` as a detached
 *           process (run_spawn_job, the scheduler's own spawn helper:
 *           nothing to reap, the job on its stdin). Either way the job manager applies the pipeline's lock
 *           settings (wait or skip) and records the result.
 *   reset   state_reset_at per strategy (pairs without state are left alone).
 *   pause / resume  state_set_paused per strategy.
 *
 * URL-kind branch left here (issue 22): the run trigger asks the
 * deployment's mode (`state_url.kind`: embedded spawns the job here,
 * distributed queues it for a worker), not an engine difference.
 */
#include "http_int.h"
#include "../run/run.h"

#include "../cron/cron.h"
#include "../log/log.h"
#include "../notify/notify.h"
#include "../queue/queue.h"
#include "../sched/sched.h"
#include "../time/st_time.h"
#include "../view/view.h"
#include "../why/why.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HTTP_LEADER_KEY "synctool:scheduler:leader"
#define HTTP_LEADER_META "synctool:scheduler"
#define HTTP_RUNS_MAX 1000
#define HTTP_ALIVE_US STATE_PROCESS_ALIVE_US
#define HTTP_READY_TIMEOUT_MS 2000

/* --- one pipeline's view and the pipeline detail --- */

/* Builds the view of p (view_build_listed) from a sorted state listing.
 * With `past` (an explicit ?at=), a record newer than `at` is replaced by
 * the state as of `at` (why_state_as_of: the rule `explain --at` uses).
 * ST_ENOMEM or 0. */
static int view_build_at(view_pipeline *v, const config *cfg, const config_pipeline *p,
                         const state_record *all, size_t nall, int64_t at, state *past) {
    if (past == NULL) return view_build_listed(v, cfg, p, all, nall, at);
    size_t n = p->nstrategies ? p->nstrategies : 1;
    state_record *old = calloc(n, sizeof *old);
    const state_record **states = calloc(n, sizeof *states);
    int rc = old && states ? ST_OK : ST_ENOMEM;
    for (size_t i = 0; rc == ST_OK && i < p->nstrategies; i++) {
        const state_record *r = state_list_find(all, nall, p->name, p->strategies[i].name);
        int rb = r ? why_state_as_of(past, r, at, &old[i]) : -1;
        states[i] = rb == 1 ? &old[i] : rb == 0 ? NULL : r;
    }
    if (rc == ST_OK) rc = view_build(v, cfg, p, states, true, at);
    free(old);
    free(states);
    return rc;
}

static void detail_fields(json_writer *w, const view_pipeline *v) {
    const config_pipeline *p = v->p;
    json_kv_time(w, "at", v->at);
    json_key(w, "columns");
    json_begin_array(w);
    for (size_t i = 0; i < p->ncolumns; i++) {
        const config_column *c = &p->columns[i];
        json_begin_object(w);
        json_kv_string(w, "name", c->name);
        json_kv_string(w, "dest", c->dest_name ? c->dest_name : c->name);
        json_kv_string(w, "type", c->type);
        json_kv_bool(w, "key", c->key);
        json_kv_bool(w, "compare", !c->ignored);
        json_kv_string(w, "expr", c->expr);
        json_kv_string(w, "lookup", c->lookup ? p->lookups[c->lookup - 1].name : NULL);
        json_end_object(w);
    }
    json_end_array(w);
    json_key(w, "locks");
    json_begin_object(w);
    json_kv_bool(w, "wait_for_pipeline_lock", p->locks.wait_for_pipeline_lock);
    json_kv_int(w, "pipeline_lock_wait_timeout", p->locks.pipeline_lock_wait_timeout);
    json_kv_bool(w, "wait_for_table_lock", p->locks.wait_for_table_lock);
    json_kv_int(w, "table_lock_wait_timeout", p->locks.table_lock_wait_timeout);
    json_kv_int(w, "lease_ttl_seconds", p->locks.lease_ttl_seconds);
    json_end_object(w);
    json_key(w, "retry");
    json_begin_object(w);
    json_kv_int(w, "max_retry_count", p->retry.max_retry_count);
    json_kv_int(w, "safe_fallback_window_minutes", p->retry.safe_fallback_window_minutes);
    json_kv_int(w, "schedule_buffer_seconds", p->retry.schedule_buffer_seconds);
    json_end_object(w);
    json_key(w, "explain");
    view_explain_json(w, v, NULL);
}

/* Reads every state record; on failure answers and returns non-zero. */
static int load_states(http_ctx *s, state_record **recs, size_t *n, http_resp *out) {
    st_error err;
    st_error_clear(&err);
    int rc = state_list(s->st, recs, n, &err);
    if (rc != ST_OK) {
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc == ST_EUNAVAIL ? rc : ST_ERR, &err);
    }
    return rc;
}

static int strategy_cmp(const void *a, const void *b) {
    return strcmp(((const state_record *)a)->strategy, ((const state_record *)b)->strategy);
}

/* One pipeline's records, sorted as a listing (state_list_find): one get
 * per strategy instead of reading every record (a pipeline's page with
 * 10,000 pipelines: ~100 ms of listing for one row, issue 25). A record
 * that cannot be read is left out, as the listing leaves it; an unreachable
 * store answers and returns non-zero. */
static int load_pipeline_states(http_ctx *s, const config_pipeline *p, state_record **recs,
                                 size_t *n, http_resp *out) {
    *n = 0;
    *recs = calloc(p->nstrategies ? p->nstrategies : 1, sizeof **recs);
    if (*recs == NULL) {
        http_reply_error(out, 500, "internal", "out of memory");
        return ST_ENOMEM;
    }
    for (size_t i = 0; i < p->nstrategies; i++) {
        st_error err;
        st_error_clear(&err);
        int rc = state_get(s->st, p->name, p->strategies[i].name, &(*recs)[*n], &err);
        if (rc == ST_OK) (*n)++;
        if (rc != ST_EUNAVAIL) continue;
        http_forget_handles(s);
        http_reply_st_error(out, rc, &err);
        free(*recs);
        *recs = NULL;
        return rc;
    }
    qsort(*recs, *n, sizeof **recs, strategy_cmp);
    return ST_OK;
}

static const config_pipeline *find_pipeline(http_ctx *s, const char *name, http_resp *out) {
    const config_pipeline *p = config_pipeline_find(s->cfg, name);
    if (p == NULL)
        http_reply_error(out, 404, "not_found", "no pipeline named '%s'", name);
    return p;
}

/* --- health --- */

void http_api_healthz(http_ctx *s, const http_req *r, http_resp *out) {
    (void)s;
    (void)r;
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_string(&w, "status", "ok");
    json_end_object(&w);
    http_reply_json(out, 200, &w);
}

/* One readiness probe of a state store, run on its own detached thread so
 * that /readyz answers within HTTP_READY_TIMEOUT_MS even if the store never
 * does. The request and the thread share it; the last one out frees it. */
typedef struct ready_probe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    int rc;
    backend_url url;
    char backend[16];
    st_error err;
} ready_probe;

static void probe_unref(ready_probe *p) {
    pthread_mutex_lock(&p->mu);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (!last) return;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static void *probe_main(void *arg) {
    ready_probe *p = arg;
    st_error err;
    st_error_clear(&err);
    state *st = NULL;
    char buf[8], backend[16] = "";
    int rc = state_open(&st, &p->url, &err);
    if (rc == ST_OK) {
        snprintf(backend, sizeof backend, "%s", state_backend_name(st));
        rc = state_meta_get(st, HTTP_LEADER_META, "-", "readyz-probe", buf, sizeof buf, &err);
        if (rc == ST_ENOTFOUND) rc = ST_OK;
    }
    state_close(st);
    pthread_mutex_lock(&p->mu);
    p->rc = rc;
    p->err = err;
    snprintf(p->backend, sizeof p->backend, "%s", backend);
    p->done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    probe_unref(p);
    return NULL;
}

/* Waits for the probe up to HTTP_READY_TIMEOUT_MS; false on timeout. */
static bool probe_wait(ready_probe *p) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += HTTP_READY_TIMEOUT_MS / 1000;
    ts.tv_nsec += (HTTP_READY_TIMEOUT_MS % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->done && pthread_cond_timedwait(&p->cv, &p->mu, &ts) != ETIMEDOUT) {}
    bool done = p->done;
    pthread_mutex_unlock(&p->mu);
    return done;
}

static ready_probe *probe_start(const backend_url *url) {
    ready_probe *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->refs = 2;
    p->url = *url;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, probe_main, p);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        p->refs = 1;
        probe_unref(p);
        return NULL;
    }
    return p;
}

void http_api_readyz(http_ctx *s, const http_req *r, http_resp *out) {
    (void)r;
    /* Only the config: the store is probed on a connection of its own. */
    http_ctx_config(s);
    if (s->cfg == NULL || s->config_problem[0]) {
        http_reply_error(out, 503, "unavailable", "config invalid: %s", s->config_problem);
        return;
    }
    ready_probe *p = probe_start(&s->cfg->state_url);
    if (p == NULL) {
        http_reply_error(out, 503, "unavailable", "cannot start the state store probe");
        return;
    }
    if (!probe_wait(p)) {
        probe_unref(p);
        http_reply_error(out, 503, "unavailable", "state store did not answer within %d ms",
                         HTTP_READY_TIMEOUT_MS);
        return;
    }
    int rc = p->rc;
    if (rc != ST_OK) {
        http_reply_error(out, 503, "unavailable", "state store unreachable: %s", p->err.msg);
        probe_unref(p);
        return;
    }
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_string(&w, "status", "ready");
    json_kv_string(&w, "state_backend", p->backend);
    json_kv_int(&w, "pipelines", (int64_t)s->cfg->npipelines);
    json_end_object(&w);
    probe_unref(p);
    http_reply_json(out, 200, &w);
}

/* --- pipelines --- */

/* /pipelines reads the state as one compact listing (state_listing_read:
 * ~100 bytes a record, not a 2 KB state_record) and builds its views
 * PIPELINES_CHUNK at a time, their watermarks and progress read in one
 * batch each (view_load_live_many): 10,000 pipelines cost a few dozen
 * state reads, not 10,000 (issue 25). */
#define PIPELINES_CHUNK 256

static void pipelines_chunk(http_ctx *s, json_writer *w, size_t at, const state_listing *all,
                            int64_t now) {
    view_pipeline v[PIPELINES_CHUNK];
    size_t n = 0, want = s->cfg->npipelines - at;
    if (want > PIPELINES_CHUNK) want = PIPELINES_CHUNK;
    for (; n < want; n++) {
        if (view_build_listing(&v[n], s->cfg, &s->cfg->pipelines[at + n], all, now) != ST_OK) {
            w->failed = true;
            break;
        }
    }
    if (!w->failed) view_load_live_many(v, n, s->st, true);
    for (size_t i = 0; i < n; i++) {
        if (!w->failed) {
            json_begin_object(w);
            view_pipeline_fields(w, &v[i]);
            json_end_object(w);
        }
        view_free(&v[i]);
    }
}

void http_api_pipelines(http_ctx *s, const http_req *r, http_resp *out) {
    if (http_prepare(s, out) != ST_OK) return;
    state_listing *all = NULL;
    st_error err;
    st_error_clear(&err);
    int rc = state_listing_read(s->st, &all, &err);
    if (rc != ST_OK) {
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc == ST_EUNAVAIL ? rc : ST_ERR, &err);
        return;
    }
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_time(&w, "at", r->now);
    json_key(&w, "pipelines");
    json_begin_array(&w);
    for (size_t at = 0; !w.failed && at < s->cfg->npipelines; at += PIPELINES_CHUNK)
        pipelines_chunk(s, &w, at, all, r->now);
    json_end_array(&w);
    json_end_object(&w);
    state_listing_free(all);
    http_reply_json(out, 200, &w);
}

void http_api_pipeline(http_ctx *s, const http_req *r, http_resp *out) {
    if (http_prepare(s, out) != ST_OK) return;
    const config_pipeline *p = find_pipeline(s, r->args[0], out);
    if (p == NULL) return;
    int64_t at = r->now;
    const char *q = http_query(r, "at");
    st_error err;
    if (q != NULL && st_time_parse(q, &at, &err) != ST_OK) {
        http_reply_error(out, 400, "bad_request", "at: %s (e.g. 2025-10-15T10:06:00Z)", err.msg);
        return;
    }
    state_record *all = NULL;
    size_t nall = 0;
    if (load_pipeline_states(s, p, &all, &nall, out) != ST_OK) return;
    view_pipeline v;
    json_writer w;
    json_init(&w);
    if (view_build_at(&v, s->cfg, p, all, nall, at, q != NULL ? s->st : NULL) != ST_OK) {
        w.failed = true;
    } else {
        view_load_live(&v, s->st, q == NULL);
        json_begin_object(&w);
        view_pipeline_fields(&w, &v);
        detail_fields(&w, &v);
        json_end_object(&w);
        view_free(&v);
    }
    free(all);
    http_reply_json(out, 200, &w);
}

/* --- runs --- */

/* One run as `synctool logs --json` prints it (state_run_write_json), with
 * the log list only when asked. */
static void run_json(json_writer *w, const char *pipeline, const char *strategy,
                     const state_history_entry *h, bool with_log) {
    state_run run;
    memset(&run, 0, sizeof run);
    snprintf(run.pipeline, sizeof run.pipeline, "%s", pipeline);
    snprintf(run.strategy, sizeof run.strategy, "%s", strategy);
    run.entry = *h;
    state_run_write_json(w, &run, with_log);
}

typedef struct run_row {
    const char *strategy;
    state_history_entry h;
} run_row;

static int run_row_cmp(const void *a, const void *b) {
    const run_row *x = a, *y = b;
    return x->h.run_id < y->h.run_id ? 1 : x->h.run_id > y->h.run_id ? -1 : 0;
}

/* Parses a positive integer query value; answers 400 and returns false if bad. */
static bool query_int(const http_req *r, const char *key, int64_t lo, int64_t hi, int64_t *out,
                      http_resp *resp) {
    const char *v = http_query(r, key);
    if (v == NULL) return true;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || n < lo || n > hi) {
        http_reply_error(resp, 400, "bad_request", "%s must be an integer from %lld to %lld",
                         key, (long long)lo, (long long)hi);
        return false;
    }
    *out = n;
    return true;
}

typedef struct runs_query {
    const char *strategy;
    bool has_status;
    state_status status;
    int64_t limit, before;
} runs_query;

static bool runs_parse(const http_req *r, const config_pipeline *p, runs_query *q,
                       http_resp *out) {
    q->strategy = http_query(r, "strategy");
    q->limit = 50;
    q->before = INT64_MAX;
    if (q->strategy && config_strategy_find(p, q->strategy) == NULL) {
        http_reply_error(out, 404, "not_found", "pipeline '%s' has no strategy '%s'", p->name,
                         q->strategy);
        return false;
    }
    const char *st = http_query(r, "status");
    if (st != NULL) {
        if (state_status_parse(st, &q->status) != ST_OK) {
            char names[160] = "";
            for (int i = STATE_IDLE; i <= STATE_LOST; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         i ? ", " : "", state_status_name((state_status)i));
            http_reply_error(out, 400, "bad_request", "status: unknown status '%.64s' (one of "
                             "%s)", st, names);
            return false;
        }
        q->has_status = true;
    }
    return query_int(r, "limit", 1, HTTP_RUNS_MAX, &q->limit, out) &&
           query_int(r, "before", 1, INT64_MAX, &q->before, out);
}

/* Collects the matching history of every (or one) strategy, newest first. */
static int runs_collect(http_ctx *s, const config_pipeline *p, const runs_query *q,
                        run_row **rows, size_t *nrows, st_error *err) {
    *rows = NULL;
    *nrows = 0;
    size_t cap = 0;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const char *sn = p->strategies[i].name;
        if (q->strategy && strcmp(q->strategy, sn) != 0) continue;
        state_history_entry *h = NULL;
        size_t n = 0;
        int rc = state_history(s->st, p->name, sn, HTTP_RUNS_MAX, &h, &n, err);
        if (rc != ST_OK) return rc;
        for (size_t k = 0; k < n; k++) {
            if (q->has_status && h[k].status != q->status) continue;
            if (h[k].run_id >= q->before) continue;
            if (*nrows == cap) {
                cap = cap ? cap * 2 : 64;
                run_row *nr = realloc(*rows, cap * sizeof *nr);
                if (nr == NULL) {
                    free(h);
                    return st_error_set(err, ST_ENOMEM, "out of memory");
                }
                *rows = nr;
            }
            (*rows)[*nrows].strategy = sn;
            (*rows)[(*nrows)++].h = h[k];
        }
        free(h);
    }
    if (*nrows > 1) qsort(*rows, *nrows, sizeof **rows, run_row_cmp);
    return ST_OK;
}

void http_api_runs(http_ctx *s, const http_req *r, http_resp *out) {
    if (http_prepare(s, out) != ST_OK) return;
    const config_pipeline *p = find_pipeline(s, r->args[0], out);
    if (p == NULL) return;
    runs_query q = {0};
    if (!runs_parse(r, p, &q, out)) return;
    run_row *rows = NULL;
    size_t n = 0;
    st_error err;
    st_error_clear(&err);
    int rc = runs_collect(s, p, &q, &rows, &n, &err);
    if (rc != ST_OK) {
        free(rows);
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc, &err);
        return;
    }
    size_t shown = n < (size_t)q.limit ? n : (size_t)q.limit;
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_string(&w, "pipeline", p->name);
    json_key(&w, "runs");
    json_begin_array(&w);
    for (size_t i = 0; i < shown; i++) {
        run_json(&w, p->name, rows[i].strategy, &rows[i].h, false);
    }
    json_end_array(&w);
    json_key(&w, "next_before");
    if (shown < n) json_int(&w, rows[shown - 1].h.run_id); else json_null(&w);
    json_end_object(&w);
    free(rows);
    http_reply_json(out, 200, &w);
}

/* A run that has not finished: its state record is its only trace, with
 * the figures it published while running. */
static void current_run_json(json_writer *w, state *st, const state_record *rec) {
    state_history_entry h;
    memset(&h, 0, sizeof h);
    h.run_id = rec->run_id;
    h.status = rec->status;
    h.started_at = rec->status == STATE_RUNNING ? rec->last_attempted_at : ST_TIME_NONE;
    h.finished_at = ST_TIME_NONE;
    h.retry_count = rec->retry_count;
    snprintf(h.worker, sizeof h.worker, "%s", rec->status == STATE_RUNNING ? rec->worker : "");
    state_progress pr;
    bool live = rec->status == STATE_RUNNING &&
                state_progress_get(st, rec->pipeline, rec->strategy, &pr, NULL) == ST_OK &&
                pr.run_id == rec->run_id;
    state_run run;
    memset(&run, 0, sizeof run);
    snprintf(run.pipeline, sizeof run.pipeline, "%s", rec->pipeline);
    snprintf(run.strategy, sizeof run.strategy, "%s", rec->strategy);
    run.entry = h;
    run.progress = live ? &pr : NULL;
    state_run_write_json(w, &run, true);   /* log: null, none kept yet */
}

/* A pending or running run: its state record is its only trace. 1 found, 0 not. */
static int find_current_run(state *st, const state_record *all, size_t nall, int64_t id,
                            json_writer *w) {
    for (size_t i = 0; i < nall; i++) {
        if (all[i].run_id != id ||
            (all[i].status != STATE_PENDING && all[i].status != STATE_RUNNING))
            continue;
        current_run_json(w, st, &all[i]);
        return 1;
    }
    return 0;
}

/* GET /api/v1/runs/{id}: a finished run comes from its history entry with
 * its log lines, through the very writer of `synctool logs --json`
 * (state_run_write_json); a run still pending or running from its record. */
void http_api_run(http_ctx *s, const http_req *r, http_resp *out) {
    char *end;
    long long id = strtoll(r->args[0], &end, 10);
    if (*end != '\0' || id <= 0) {
        http_reply_error(out, 400, "bad_request", "run id must be a positive integer, not '%s'",
                         r->args[0]);
        return;
    }
    if (http_prepare(s, out) != ST_OK) return;
    state_record *all = NULL;
    size_t nall = 0;
    if (load_states(s, &all, &nall, out) != ST_OK) return;
    json_writer w;
    json_init(&w);
    int found = find_current_run(s->st, all, nall, id, &w);
    free(all);
    if (found) {
        http_reply_json(out, 200, &w);
        return;
    }
    state_run run;
    st_error err;
    st_error_clear(&err);
    int rc = state_run_get(s->st, id, &run, &err);
    if (rc != ST_OK) {
        json_release(&w);
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        if (rc == ST_ENOTFOUND)
            http_reply_error(out, 404, "not_found", "no run %lld in the kept history", id);
        else
            http_reply_st_error(out, rc, &err);
        return;
    }
    state_run_write_json(&w, &run, true);
    state_run_clear(&run);
    http_reply_json(out, 200, &w);
}

/* --- locks and workers --- */

void http_api_locks(http_ctx *s, const http_req *r, http_resp *out) {
    if (http_prepare(s, out) != ST_OK) return;
    lock_info *locks = NULL;
    size_t n = 0;
    st_error err;
    st_error_clear(&err);
    int rc = lock_list(s->lm, &locks, &n, &err);
    if (rc != ST_OK) {
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc, &err);
        return;
    }
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_key(&w, "locks");
    json_begin_array(&w);
    for (size_t i = 0; i < n; i++) lock_info_write_json(&w, &locks[i], r->now);
    json_end_array(&w);
    json_end_object(&w);
    free(locks);
    http_reply_json(out, 200, &w);
}

void http_scheduler_status(http_ctx *s, int64_t now, http_sched_status *out) {
    memset(out, 0, sizeof *out);
    lock_info *locks = NULL;
    size_t nl = 0;
    if (lock_list(s->lm, &locks, &nl, NULL) == ST_OK)
        for (size_t i = 0; i < nl; i++)
            out->up = out->up || strcmp(locks[i].key, HTTP_LEADER_KEY) == 0;
    free(locks);
    if (out->up && state_meta_get(s->st, HTTP_LEADER_META, "-", "leader", out->leader,
                                  sizeof out->leader, NULL) != ST_OK)
        out->leader[0] = '\0';
    state_process *procs = NULL;
    size_t n = 0;
    if (state_beats(s->st, &procs, &n, NULL) != ST_OK) n = 0;
    for (size_t i = 0; i < n; i++)
        out->live += strcmp(procs[i].kind, "scheduler") == 0 &&
                     procs[i].last_heartbeat_at != ST_TIME_NONE &&
                     now - procs[i].last_heartbeat_at <= HTTP_ALIVE_US;
    free(procs);
}

/* "scheduler" and "config": whether anything is being scheduled and whether
 * the config on disk loads, the facts of the dashboard's banner. */
static void deployment_fields(json_writer *w, http_ctx *s, const http_sched_status *ss) {
    json_key(w, "scheduler");
    json_begin_object(w);
    json_kv_bool(w, "up", ss->up);
    json_kv_text(w, "leader", ss->leader);
    json_kv_int(w, "live", ss->live);
    json_end_object(w);
    json_key(w, "config");
    json_begin_object(w);
    json_kv_bool(w, "valid", s->config_problem[0] == '\0');
    json_kv_int(w, "invalid_files", (int64_t)s->config_invalid_files);
    json_kv_text(w, "problem", s->config_problem);
    json_end_object(w);
}

void http_api_workers(http_ctx *s, const http_req *r, http_resp *out) {
    if (http_prepare(s, out) != ST_OK) return;
    state_process *procs = NULL;
    size_t n = 0;
    st_error err;
    st_error_clear(&err);
    int rc = state_beats(s->st, &procs, &n, &err);
    if (rc != ST_OK && rc != ST_ENOTIMPL) {
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc, &err);
        return;
    }
    http_sched_status ss;
    http_scheduler_status(s, r->now, &ss);
    const char *leader = ss.leader;
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_text(&w, "leader", leader);
    deployment_fields(&w, s, &ss);
    json_key(&w, "workers");
    json_begin_array(&w);
    for (size_t i = 0; i < n; i++) state_process_write_json(&w, &procs[i], r->now, leader);
    json_end_array(&w);
    json_end_object(&w);
    free(procs);
    http_reply_json(out, 200, &w);
}

/* --- mutations --- */

/* Parses the optional body {"strategy": S}. Returns false after answering 400. */
static bool body_strategy(const http_req *r, char *strategy, size_t n, http_resp *out) {
    strategy[0] = '\0';
    const char *b = r->body;
    while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t') b++;
    if (*b == '\0') return true;
    json_value *v = NULL;
    st_error err;
    if (json_parse(&v, r->body, r->body_len, &err) != ST_OK) {
        http_reply_error(out, 400, "bad_request", "body is not JSON: %s", err.msg);
        return false;
    }
    bool ok = v->type == JSON_OBJECT;
    if (!ok) http_reply_error(out, 400, "bad_request", "body must be a JSON object");
    for (size_t i = 0; ok && i < v->n; i++) {
        if (strcmp(v->keys[i], "strategy") != 0) {
            http_reply_error(out, 400, "bad_request", "unknown field '%.64s' (only \"strategy\")",
                             v->keys[i]);
            ok = false;
        } else if (v->items[i]->type == JSON_STRING && strlen(v->items[i]->string) < n) {
            snprintf(strategy, n, "%s", v->items[i]->string);
        } else if (v->items[i]->type != JSON_NULL) {
            http_reply_error(out, 400, "bad_request", "strategy must be a strategy name");
            ok = false;
        }
    }
    json_free(v);
    return ok;
}

/* Pipeline and optional strategy of a POST; NULL after answering. */
static const config_pipeline *mutation_target(http_ctx *s, const http_req *r,
                                              char *strategy, size_t n, http_resp *out) {
    if (http_prepare(s, out) != ST_OK) return NULL;
    const config_pipeline *p = find_pipeline(s, r->args[0], out);
    if (p == NULL || !body_strategy(r, strategy, n, out)) return NULL;
    if (strategy[0] && config_strategy_find(p, strategy) == NULL) {
        http_reply_error(out, 404, "not_found", "pipeline '%s' has no strategy '%s'", p->name,
                         strategy);
        return NULL;
    }
    return p;
}

/* Answers 200 with the pipeline's strategies as they are now. */
static void reply_changed(http_ctx *s, const http_req *r, const config_pipeline *p,
                          http_resp *out) {
    state_record *all = NULL;
    size_t nall = 0;
    if (load_pipeline_states(s, p, &all, &nall, out) != ST_OK) return;
    view_pipeline v;
    json_writer w;
    json_init(&w);
    if (view_build_listed(&v, s->cfg, p, all, nall, r->now) != ST_OK) {
        w.failed = true;
    } else {
        view_load_live(&v, s->st, true);
        json_begin_object(&w);
        json_kv_string(&w, "pipeline", p->name);
        json_key(&w, "strategies");
        json_begin_array(&w);
        for (size_t i = 0; i < p->nstrategies; i++) view_strategy_json(&w, &v, i);
        json_end_array(&w);
        json_end_object(&w);
        view_free(&v);
    }
    free(all);
    http_reply_json(out, 200, &w);
}

typedef int (*pair_op)(http_ctx *s, const config_pipeline *p, const char *strategy,
                       int64_t now, st_error *err);

static int op_reset(http_ctx *s, const config_pipeline *p, const char *strategy, int64_t now,
                    st_error *err) {
    int rc = state_reset_at(s->st, p->name, strategy, now, err);
    return rc == ST_ENOTFOUND ? ST_OK : rc;   /* no state: nothing to reset */
}

static int op_pause(http_ctx *s, const config_pipeline *p, const char *strategy, int64_t now,
                    st_error *err) {
    return state_set_paused(s->st, p->name, strategy, true, now, err);
}

static int op_resume(http_ctx *s, const config_pipeline *p, const char *strategy, int64_t now,
                     st_error *err) {
    return state_set_paused(s->st, p->name, strategy, false, now, err);
}

static void apply_to_strategies(http_ctx *s, const http_req *r, http_resp *out, pair_op op,
                                const char *what) {
    char strategy[128];
    const config_pipeline *p = mutation_target(s, r, strategy, sizeof strategy, out);
    if (p == NULL) return;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const char *sn = p->strategies[i].name;
        if (strategy[0] && strcmp(strategy, sn) != 0) continue;
        st_error err;
        st_error_clear(&err);
        int rc = op(s, p, sn, r->now, &err);
        if (rc != ST_OK) {
            if (rc == ST_EUNAVAIL) http_forget_handles(s);
            http_reply_st_error(out, rc, &err);
            return;
        }
        log_info(p->name, sn, "%s through the HTTP API", what);
    }
    reply_changed(s, r, p, out);
}

void http_api_reset(http_ctx *s, const http_req *r, http_resp *out) {
    apply_to_strategies(s, r, out, op_reset, "Reset");
}

void http_api_pause(http_ctx *s, const http_req *r, http_resp *out) {
    apply_to_strategies(s, r, out, op_pause, "Paused");
}

void http_api_resume(http_ctx *s, const http_req *r, http_resp *out) {
    apply_to_strategies(s, r, out, op_resume, "Resumed");
}

/* Starts `synctool scheduler --exec-job` detached (run_spawn_job: adopted
 * by init, nobody has to reap it), the job on its stdin, never in its argv,
 * with the configuration this request validated (its datastores.yaml and
 * pipeline file): the job does not read the config directory again. A
 * failed fork or exec comes back as an error: the caller records the run
 * failed instead of leaving it pending. */
static int spawn_job(http_ctx *s, const queue_job *j, st_error *err) {
    run_spawn_opts o = {.self = s->self_exe, .config_dir = s->config_dir,
                        .log_level = s->log_level, .mode = RUN_SPAWN_DETACHED};
    return run_spawn_job(&o, j, s->cfg, NULL, err);
}

/* Hands job j over: the shared job queue (Redis, PostgreSQL), or a
 * detached process. */
static int handoff(http_ctx *s, queue_job *j, st_error *err) {
    if (!burl_distributed(&s->cfg->state_url)) return spawn_job(s, j, err);
    queue *q = NULL;
    int rc = queue_open(&q, &s->cfg->state_url, err);
    if (rc == ST_OK) rc = queue_push(q, j, err);
    queue_close(q);
    return rc;
}

/* A run marked pending whose hand-off failed (fork, exec, the queue): it is
 * recorded failed with the cause, so it shows in history, `logs`, `why` and
 * alerts instead of staying pending for 300 s and vanishing. */
static void handoff_failed(http_ctx *s, const queue_job *j, int64_t now, const st_error *why) {
    char msg[1200];
    snprintf(msg, sizeof msg, "cannot start the job process: %s", why->msg);
    st_error e;
    if (run_record_unstarted(s->st, NULL, j, STATE_FAILED, false, now, "serve", msg, &e) !=
        ST_OK)
        log_warn(j->pipeline, j->strategy, "run %" PRId64 " not recorded failed: %s",
                 j->run_id, e.msg);
}

static void reply_accepted(http_resp *out, const queue_job *j) {
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_int(&w, "run_id", j->run_id);
    json_kv_string(&w, "pipeline", j->pipeline);
    json_kv_string(&w, "strategy", j->strategy);
    json_kv_string(&w, "status", "pending");
    json_end_object(&w);
    http_reply_json(out, 202, &w);
}

/* Under the enqueue lock h: can-enqueue check, run id, pending, hand-off. */
static void enqueue_locked(http_ctx *s, const http_req *r, const config_pipeline *p,
                           const config_strategy *cs, lock_handle *h, http_resp *out) {
    st_error err;
    st_error_clear(&err);
    state_record rec;
    int rc = state_get(s->st, p->name, cs->name, &rec, &err);
    char why[160];
    if (rc != ST_OK && rc != ST_ENOTFOUND) {
        lock_release(s->lm, h, NULL);
        http_reply_st_error(out, rc, &err);
        return;
    }
    if (!sched_can_enqueue(rc == ST_OK ? &rec : NULL, r->now, why, sizeof why)) {
        lock_release(s->lm, h, NULL);
        http_reply_error(out, 409, "conflict", "%s:%s is not enqueued: %s", p->name, cs->name, why);
        return;
    }
    queue_job j;
    rc = run_enqueue(s->st, p->name, cs->name, r->now, 0, h, &j, &err);
    j.manual = true;   /* an operator's run: a failure does not count toward the pause */
    bool pending = rc == ST_OK;
    if (rc == ST_OK) rc = handoff(s, &j, &err);
    if (rc != ST_OK && pending) handoff_failed(s, &j, r->now, &err);
    if (rc != ST_OK) {
        lock_release(s->lm, h, NULL);
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc, &err);
        return;
    }
    log_info(p->name, cs->name, "Enqueued run %" PRId64 " through the HTTP API", j.run_id);
    reply_accepted(out, &j);
}

void http_api_trigger(http_ctx *s, const http_req *r, http_resp *out) {
    char strategy[128];
    const config_pipeline *p = mutation_target(s, r, strategy, sizeof strategy, out);
    if (p == NULL) return;
    const config_strategy *cs =
        strategy[0] ? config_strategy_find(p, strategy) : run_default_strategy(p, r->now);
    if (cs == NULL) {
        http_reply_error(out, 400, "bad_request", "pipeline '%s' has no enabled strategy",
                         p->name);
        return;
    }
    char key[320];
    lock_key_enqueue(key, sizeof key, p->name);
    lock_handle h;
    st_error err;
    st_error_clear(&err);
    int rc = lock_acquire(s->lm, key, LOCK_EXCLUSIVE, 60000, &h, &err);
    if (rc == ST_EBUSY) {
        http_reply_error(out, 409, "conflict",
                         "pipeline '%s' is being enqueued right now (enqueue lock held); "
                         "try again", p->name);
        return;
    }
    if (rc != ST_OK) {
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc, &err);
        return;
    }
    enqueue_locked(s, r, p, cs, &h, out);
}

/* --- alerts (the notify outbox) --- */

void http_api_alerts(http_ctx *s, const http_req *r, http_resp *out) {
    const char *want = http_query(r, "status");
    if (want && strcmp(want, "pending") != 0 && strcmp(want, "delivered") != 0 &&
        strcmp(want, "failed") != 0) {
        http_reply_error(out, 400, "bad_request", "status: unknown alert status '%.64s' (one "
                         "of pending, delivered, failed)", want);
        return;
    }
    int64_t limit = 100;
    if (!query_int(r, "limit", 1, HTTP_RUNS_MAX, &limit, out)) return;
    if (http_prepare(s, out) != ST_OK) return;
    state_alert *a = NULL;
    size_t n = 0;
    st_error err;
    st_error_clear(&err);
    int rc = state_outbox_list(s->st, NULL, false, &a, &n, &err);
    if (rc != ST_OK) {
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc == ST_ENOTIMPL ? ST_ERR : rc, &err);
        return;
    }
    int64_t counts[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) counts[a[i].status]++;
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_int(&w, "pending", counts[STATE_ALERT_PENDING]);
    json_kv_int(&w, "failed", counts[STATE_ALERT_FAILED]);
    json_kv_int(&w, "delivered", counts[STATE_ALERT_DELIVERED]);
    json_key(&w, "alerts");
    json_begin_array(&w);
    int64_t shown = 0;
    for (size_t i = n; i-- > 0 && shown < limit;) { /* newest first */
        if (want && strcmp(want, state_alert_status_name(a[i].status)) != 0) continue;
        state_alert_write_json(&w, &a[i]);
        shown++;
    }
    json_end_array(&w);
    json_end_object(&w);
    free(a);
    http_reply_json(out, 200, &w);
}
