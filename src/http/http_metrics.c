/*
 * http_metrics — GET /metrics in the Prometheus text exposition format
 * (version 0.0.4).
 *
 * Per pipeline and strategy (labels pipeline, strategy), for every
 * configured strategy:
 *   synctool_runs_total{outcome}            counter: success, failed, skipped,
 *                                           interrupted (and any other outcome seen)
 *   synctool_run_duration_seconds           histogram of success and failed runs
 *   synctool_rows_{read,inserted,updated,deleted}_total   counters
 *   synctool_last_success_timestamp_seconds gauge (absent until a success)
 *   synctool_freshness_seconds              gauge: now - start of the last success
 *   synctool_consecutive_failures           gauge (retry_count)
 *   synctool_paused                         gauge 0/1 (operator pause or max retries)
 * Counters come from the shared state (state_counters_list): every finished
 * attempt adds to them wherever it ran, so any `serve` reports the whole
 * deployment and the counts survive restarts. Gauges come from the state
 * records at the request's `now`.
 *
 * Per deployment and process, each always one unlabelled sample (0 when
 * nothing runs, so an alert on `== 0` fires; no process name such as
 * host:pid is ever a label value, so a restart keeps its series):
 *   synctool_config_invalid_files           files with problems in the config dir
 *   synctool_queue_depth                    jobs waiting or delivered (Redis stream),
 *                                           or pending records (embedded SQLite)
 *   synctool_scheduler_up                   1 while a scheduler holds the leader lease
 *   synctool_scheduler_leader               the same value (older name, kept)
 *   synctool_schedulers_live                schedulers with a heartbeat in 60 s
 *   synctool_workers_live                   processes that run jobs with a heartbeat
 *                                           in 60 s: `worker`s (Redis mode), or the
 *                                           schedulers (embedded mode: jobs are their
 *                                           child processes)
 *   synctool_alerts{status}                 the notify outbox
 *   synctool_scheduler_tick_duration_seconds, synctool_scheduler_ticks_total and
 *   synctool_process_leader                 only inside `scheduler --http`: this
 *                                           process's last tick and leader flag
 * `paused` is view_record_paused_by(), the JSON's "paused": an operator pause
 * or sched_paused_by_failures() (rule 2 with the pause window). Values print in the shortest
 * form that reads back exactly (put_value).
 *
 * URL-kind branches left here (issue 22): the queue gauges and the
 * embedded flag ask the deployment's mode (burl_distributed: shared state in Redis or
 * PostgreSQL, or one host's SQLite), not an
 * engine difference.
 */
#include "http_int.h"
#include "../view/view.h"

#include "../queue/queue.h"
#include "../sched/sched.h"
#include "../strbuf/strbuf.h"
#include "../time/st_time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#define METRICS_ALIVE_US (60 * ST_USEC)

/* The exposition text being built; `failed` once an append ran out of memory. */
typedef struct mbuf {
    strbuf sb;
    bool failed;
} mbuf;

static void mb_append(mbuf *b, const char *s) {
    if (strbuf_put(&b->sb, s, strlen(s)) != ST_OK) b->failed = true;
}

static void mb_appendf(mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb_appendf(mbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
    } else if ((size_t)n < sizeof tmp) {
        mb_append(b, tmp);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big == NULL) {
            b->failed = true;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        mb_append(b, big);
        free(big);
    }
}

typedef struct metrics_ctx {
    mbuf *b;
    const state_counter *c;
    size_t nc;
    const state_record *recs;
    size_t nrecs;
    int64_t now;
} metrics_ctx;

/* Label values escape backslash, double quote and newline; runs of other
 * bytes are copied whole. */
static void put_label(mbuf *b, const char *v) {
    while (*v) {
        size_t n = strcspn(v, "\\\"\n");
        if (n > 0 && strbuf_put(&b->sb, v, n) != ST_OK) b->failed = true;
        v += n;
        if (*v == '\\') mb_append(b, "\\\\");
        else if (*v == '"') mb_append(b, "\\\"");
        else if (*v == '\n') mb_append(b, "\\n");
        if (*v) v++;
    }
}

static void put_pair(mbuf *b, const char *p, const char *s) {
    mb_append(b, "pipeline=\"");
    put_label(b, p);
    mb_append(b, "\",strategy=\"");
    put_label(b, s);
    mb_append(b, "\"");
}

static int counter_cmp(const state_counter *c, const char *p, const char *s, const char *n) {
    int r = strcmp(c->pipeline, p);
    if (r == 0) r = strcmp(c->strategy, s);
    return r ? r : strcmp(c->name, n);
}

static double counter(const metrics_ctx *m, const char *p, const char *s, const char *name) {
    size_t lo = 0, hi = m->nc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = counter_cmp(&m->c[mid], p, s, name);
        if (r == 0) return m->c[mid].value;
        if (r < 0) lo = mid + 1; else hi = mid;
    }
    return 0;
}

/* The record of a pair (state_list sorts by pipeline, strategy), or NULL. */
static const state_record *record(const metrics_ctx *m, const char *p, const char *s) {
    size_t lo = 0, hi = m->nrecs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(m->recs[mid].pipeline, p);
        if (r == 0) r = strcmp(m->recs[mid].strategy, s);
        if (r == 0) return &m->recs[mid];
        if (r < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

/* Index of the first counter of a pair (counters are sorted), or m->nc. */
static size_t first_counter(const metrics_ctx *m, const char *p, const char *s) {
    size_t lo = 0, hi = m->nc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (counter_cmp(&m->c[mid], p, s, "") < 0) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static void header(mbuf *b, const char *name, const char *type, const char *help) {
    mb_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sample value: the shortest of %.15g, %.16g and %.17g that reads back as
 * exactly v (so 0.1 is "0.1", not "0.10000000000000001"; integers print as
 * integers), and NaN / +Inf / -Inf as Prometheus spells them. */
static void put_value(mbuf *b, double v) {
    if (isnan(v)) {
        mb_append(b, "NaN");
        return;
    }
    if (isinf(v)) {
        mb_append(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    mb_append(b, tmp);
}

/* One line "name{pipeline,strategy[,extra]} value". */
static void sample(mbuf *b, const char *name, const char *p, const char *s, const char *extra,
                   double v) {
    mb_appendf(b, "%s{", name);
    put_pair(b, p, s);
    if (extra) mb_appendf(b, ",%s", extra);
    mb_append(b, "} ");
    put_value(b, v);
    mb_append(b, "\n");
}

/* Runs by outcome: the four standard outcomes always, others when seen. */
static void runs_family(metrics_ctx *m, const config *cfg) {
    static const char *const std[] = {"success", "failed", "skipped", "interrupted"};
    header(m->b, "synctool_runs_total", "counter", "Finished attempts by outcome.");
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        for (size_t k = 0; k < p->nstrategies; k++) {
            const char *sn = p->strategies[k].name;
            char extra[96], name[64];
            for (size_t o = 0; o < 4; o++) {
                snprintf(name, sizeof name, "runs_%s", std[o]);
                snprintf(extra, sizeof extra, "outcome=\"%s\"", std[o]);
                sample(m->b, "synctool_runs_total", p->name, sn, extra,
                       counter(m, p->name, sn, name));
            }
            for (size_t c = first_counter(m, p->name, sn);
                 c < m->nc && strcmp(m->c[c].pipeline, p->name) == 0 &&
                 strcmp(m->c[c].strategy, sn) == 0;
                 c++) {
                const state_counter *sc = &m->c[c];
                if (strncmp(sc->name, "runs_", 5) != 0) continue;
                bool standard = false;
                for (size_t o = 0; o < 4; o++) standard = standard || strcmp(sc->name + 5, std[o]) == 0;
                if (standard) continue;
                snprintf(extra, sizeof extra, "outcome=\"%.60s\"", sc->name + 5);
                sample(m->b, "synctool_runs_total", p->name, sn, extra, sc->value);
            }
        }
    }
}

static void duration_family(metrics_ctx *m, const config *cfg) {
    static const double le[STATE_NDURATION_BUCKETS] = STATE_DURATION_BUCKETS;
    const char *h = "synctool_run_duration_seconds";
    header(m->b, h, "histogram", "Duration of success and failed runs.");
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        for (size_t k = 0; k < p->nstrategies; k++) {
            const char *sn = p->strategies[k].name;
            char name[64], extra[64];
            for (int b = 0; b < STATE_NDURATION_BUCKETS; b++) {
                snprintf(name, sizeof name, "duration_seconds_bucket:%g", le[b]);
                snprintf(extra, sizeof extra, "le=\"%g\"", le[b]);
                sample(m->b, "synctool_run_duration_seconds_bucket", p->name, sn, extra,
                       counter(m, p->name, sn, name));
            }
            double count = counter(m, p->name, sn, "duration_seconds_count");
            sample(m->b, "synctool_run_duration_seconds_bucket", p->name, sn, "le=\"+Inf\"", count);
            /* durations are measured in microseconds: a sum of many carries
             * float noise below that (0.08490900000000001), dropped here */
            double sum = counter(m, p->name, sn, "duration_seconds_sum");
            sample(m->b, "synctool_run_duration_seconds_sum", p->name, sn, NULL,
                   nearbyint(sum * 1e6) / 1e6);
            sample(m->b, "synctool_run_duration_seconds_count", p->name, sn, NULL, count);
        }
    }
}

static void rows_families(metrics_ctx *m, const config *cfg) {
    static const char *const kinds[] = {"read", "inserted", "updated", "deleted"};
    for (int k = 0; k < 4; k++) {
        char metric[64], name[32], help[64];
        snprintf(metric, sizeof metric, "synctool_rows_%s_total", kinds[k]);
        snprintf(name, sizeof name, "rows_%s", kinds[k]);
        snprintf(help, sizeof help, "Rows %s by finished runs.", kinds[k]);
        header(m->b, metric, "counter", help);
        for (size_t i = 0; i < cfg->npipelines; i++) {
            const config_pipeline *p = &cfg->pipelines[i];
            for (size_t s = 0; s < p->nstrategies; s++)
                sample(m->b, metric, p->name, p->strategies[s].name, NULL,
                       counter(m, p->name, p->strategies[s].name, name));
        }
    }
}

/* Gauges from the state records. */
static void state_families(metrics_ctx *m, const config *cfg) {
    static const char *const names[] = {
        "synctool_last_success_timestamp_seconds", "synctool_freshness_seconds",
        "synctool_consecutive_failures", "synctool_paused"};
    static const char *const helps[] = {
        "Start of the last successful run (Unix time).",
        "Seconds since the start of the last successful run.",
        "Consecutive failed runs (retry_count).",
        "1 if the strategy is paused (operator pause or max retries), else 0."};
    for (int g = 0; g < 4; g++) {
        header(m->b, names[g], "gauge", helps[g]);
        for (size_t i = 0; i < cfg->npipelines; i++) {
            const config_pipeline *p = &cfg->pipelines[i];
            for (size_t k = 0; k < p->nstrategies; k++) {
                const char *sn = p->strategies[k].name;
                const state_record *r = record(m, p->name, sn);
                bool ok = r && r->last_run != ST_TIME_NONE;
                double v = 0;
                if (g == 0 && !ok) continue;
                if (g == 1 && (!ok || m->now < r->last_run)) continue;
                if (g == 0) v = (double)r->last_run / 1e6;
                if (g == 1) v = (double)(m->now - r->last_run) / 1e6;
                if (g == 2) v = r ? (double)r->retry_count : 0;
                if (g == 3)
                    v = view_record_paused_by(p, &p->strategies[k], r, m->now) != NULL;
                sample(m->b, names[g], p->name, sn, NULL, v);
            }
        }
    }
}

static void gauge(mbuf *b, const char *name, const char *help, double v) {
    header(b, name, "gauge", help);
    mb_appendf(b, "%s ", name);
    put_value(b, v);
    mb_append(b, "\n");
}

static double queue_depth(http_ctx *s, const metrics_ctx *m) {
    if (burl_distributed(&s->cfg->state_url)) {   /* a shared queue: Redis, PostgreSQL */
        queue *q = NULL;
        size_t waiting = 0, pending = 0;
        if (queue_open(&q, &s->cfg->state_url, NULL) == ST_OK)
            queue_count(q, &waiting, &pending, NULL);
        queue_close(q);
        return (double)(waiting + pending);
    }
    size_t n = 0;
    for (size_t i = 0; i < m->nrecs; i++) n += m->recs[i].status == STATE_PENDING;
    return (double)n;
}

/* The notify outbox by status (pending: not delivered yet, being retried). */
static void alert_family(http_ctx *s, mbuf *b) {
    state_alert *a = NULL;
    size_t n = 0;
    if (state_outbox_list(s->st, NULL, false, &a, &n, NULL) != ST_OK) return;
    double counts[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) counts[a[i].status]++;
    free(a);
    header(b, "synctool_alerts", "gauge", "Alert deliveries in the outbox by status (pending: "
           "being retried; failed: given up; delivered: kept for 7 days).");
    for (int i = 0; i < 3; i++) {
        mb_appendf(b, "synctool_alerts{status=\"%s\"} ",
                   state_alert_status_name((state_alert_status)i));
        put_value(b, counts[i]);
        mb_append(b, "\n");
    }
}


/* Live processes of a kind: a heartbeat in the last 60 s. */
static double live_count(const state_process *procs, size_t np, const char *kind, int64_t now) {
    double n = 0;
    for (size_t i = 0; i < np; i++)
        n += strcmp(procs[i].kind, kind) == 0 && procs[i].last_heartbeat_at != ST_TIME_NONE &&
             now - procs[i].last_heartbeat_at <= METRICS_ALIVE_US;
    return n;
}

/* Process gauges: always one unlabelled sample each, 0 when nothing runs, so
 * `synctool_scheduler_up == 0` fires without a scheduler. No process name
 * (host:pid) is a label: a restart must not start a new series. */
static void process_families(http_ctx *s, metrics_ctx *m) {
    mbuf *b = m->b;
    gauge(b, "synctool_config_invalid_files", "Config files with problems.",
          (double)s->config_invalid_files);
    gauge(b, "synctool_queue_depth", "Jobs waiting for a worker.", queue_depth(s, m));
    state_process *procs = NULL;
    size_t np = 0;
    if (state_beats(s->st, &procs, &np, NULL) != ST_OK) np = 0;
    double workers = live_count(procs, np, "worker", m->now);
    free(procs);
    /* the same fact as the API's and the dashboard's "scheduler" (one writer) */
    http_sched_status ss;
    http_scheduler_status(s, m->now, &ss);
    double schedulers = (double)ss.live, up = ss.up;
    bool embedded = !burl_distributed(&s->cfg->state_url);
    gauge(b, "synctool_scheduler_up", "1 while a scheduler holds the leader lease (jobs are "
          "being scheduled), else 0.", up);
    gauge(b, "synctool_scheduler_leader", "Same as synctool_scheduler_up (kept for alerts "
          "written against it).", up);
    gauge(b, "synctool_schedulers_live", "Scheduler processes (leader and standbys) with a "
          "heartbeat in the last 60 s.", schedulers);
    gauge(b, "synctool_workers_live", embedded
          ? "Processes that run jobs, with a heartbeat in the last 60 s: in embedded mode "
            "(SQLite state) each scheduler runs its jobs as child processes, so the live "
            "schedulers."
          : "Processes that run jobs, with a heartbeat in the last 60 s: `synctool worker` "
            "processes (Redis or PostgreSQL state).",
          embedded ? schedulers : workers);
    alert_family(s, b);
    if (s->proc) {
        gauge(b, "synctool_scheduler_tick_duration_seconds", "Duration of this scheduler's "
              "last tick.", s->proc->last_tick_seconds);
        header(b, "synctool_scheduler_ticks_total", "counter", "Ticks of this scheduler.");
        mb_appendf(b, "synctool_scheduler_ticks_total %lld\n", (long long)s->proc->ticks);
        gauge(b, "synctool_process_leader", "1 while this scheduler leads.", s->proc->leader);
    }
}

void http_metrics(http_ctx *s, const http_req *r, http_resp *out) {
    if (http_prepare(s, out) != ST_OK) return;
    state_counter *c = NULL;
    state_record *recs = NULL;
    size_t nc = 0, nrecs = 0;
    st_error err;
    st_error_clear(&err);
    int rc = state_counters_list(s->st, &c, &nc, &err);
    if (rc == ST_OK || rc == ST_ENOTIMPL) rc = state_list(s->st, &recs, &nrecs, &err);
    if (rc != ST_OK) {
        free(c);
        if (rc == ST_EUNAVAIL) http_forget_handles(s);
        http_reply_st_error(out, rc, &err);
        return;
    }
    mbuf b = {0};
    metrics_ctx m = {.b = &b, .c = c, .nc = nc, .recs = recs, .nrecs = nrecs, .now = r->now};
    runs_family(&m, s->cfg);
    duration_family(&m, s->cfg);
    rows_families(&m, s->cfg);
    state_families(&m, s->cfg);
    process_families(s, &m);
    free(c);
    free(recs);
    if (b.failed || b.sb.s == NULL) {
        strbuf_release(&b.sb);
        http_reply_error(out, 500, "internal", "out of memory");
        return;
    }
    http_reply_text(out, 200, "text/plain; version=0.0.4; charset=utf-8", b.sb.s, b.sb.len);
}
