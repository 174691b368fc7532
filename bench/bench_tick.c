/*
 * bench_tick — how long one scheduler tick takes over 10,000 pipelines with
 * three strategies each (delta every 15 min, hash daily, full weekly).
 *
 * The tick is sched_tick(): one state_list(), the decision for 30,000
 * strategies, sched_can_enqueue and the enqueue bookkeeping (enqueue lock,
 * run id, mark pending, queue push) for the few that are due. The state is
 * seeded so that every strategy last ran in its current slot ("Already ran
 * at ...") except 1% of pipelines whose delta is overdue, so each first tick
 * enqueues 100 jobs and a second tick finds them pending.
 *
 * Measured with SQLite state (temporary file, lock manager on the same file,
 * in-process queue) and, when SYNCTOOL_TEST_REDIS_URL is set, with Redis
 * state (database 10 flushed first; locks and the Redis Stream queue on the
 * same server). Baseline in the same run: the bare state_list() of the same
 * records, i.e. what any tick must pay to see the state at all. Each figure
 * is the median of REPS repetitions (the due records are reset and the
 * queue drained between them): the machine is shared, single runs are noisy.
 * Goals (issue 6): <= 200 ms with SQLite, <= 500 ms with Redis.
 *
 * The config is built in memory (no 10,000 YAML files to parse); crons are
 * compiled once by sched_plan_build() as the scheduler does per config load.
 * Benchmarks report; they never fail on a slow machine.
 */
#include "../src/config/config.h"
#include "../src/lock/lock.h"
#include "../src/log/log.h"
#include "../src/queue/queue.h"
#include "../src/sched/sched.h"
#include "../src/state/state.h"
#include "../src/time/st_time.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NPIPE 10000
#define NSTRAT 3
#define REPS 5

static const struct {
    const char *name, *cron;
    config_strategy_type type;
} bench_strats[NSTRAT] = {
    {"delta_15m", "*/15 * * * *", CONFIG_STRATEGY_DELTA},
    {"hash_daily", "0 2 * * *", CONFIG_STRATEGY_HASH},
    {"full_weekly", "0 0 * * 0", CONFIG_STRATEGY_FULL},
};

static double bench_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static config *bench_config(const char *state_url) {
    config *cfg = calloc(1, sizeof *cfg);
    cfg->state_url = strdup(state_url);
    cfg->npipelines = NPIPE;
    cfg->pipelines = calloc(NPIPE, sizeof *cfg->pipelines);
    for (size_t i = 0; i < NPIPE; i++) {
        config_pipeline *p = &cfg->pipelines[i];
        char name[64];
        snprintf(name, sizeof name, "pipeline_%05zu", i);
        p->name = strdup(name);
        p->nstrategies = NSTRAT;
        p->strategies = calloc(NSTRAT, sizeof *p->strategies);
        for (size_t j = 0; j < NSTRAT; j++) {
            p->strategies[j].name = (char *)bench_strats[j].name;
            p->strategies[j].cron = (char *)bench_strats[j].cron;
            p->strategies[j].type = bench_strats[j].type;
            p->strategies[j].enabled = true;
        }
        p->retry = (config_retry){3, 30, 60};
        p->locks.lease_ttl_seconds = 30;
    }
    return cfg;
}

static void bench_config_free(config *cfg) {
    for (size_t i = 0; i < cfg->npipelines; i++) {
        free(cfg->pipelines[i].name);
        free(cfg->pipelines[i].strategies);
    }
    free(cfg->pipelines);
    free(cfg->state_url);
    free(cfg);
}

/* now = Wed 2025-10-15 10:07 UTC. Every strategy ran at its latest fire
 * time, except pipelines i % 100 == 0 whose delta last ran a day ago.
 * `only_due` re-writes just those (to reset between repetitions). */
static int bench_seed(state *st, int64_t now, bool only_due) {
    static const int64_t prevs[NSTRAT] = {
        7 * 60 * ST_USEC,                      /* 10:00 */
        (8 * 3600 + 7 * 60) * ST_USEC,         /* 02:00 */
        (3 * 86400 + 10 * 3600 + 7 * 60) * ST_USEC,  /* Sun 00:00 */
    };
    st_error err;
    for (size_t i = 0; i < NPIPE; i++) {
        for (size_t j = 0; j < NSTRAT; j++) {
            bool due = j == 0 && i % 100 == 0;
            if (only_due && !due) continue;
            state_record r;
            memset(&r, 0, sizeof r);
            snprintf(r.pipeline, sizeof r.pipeline, "pipeline_%05zu", i);
            snprintf(r.strategy, sizeof r.strategy, "%s", bench_strats[j].name);
            r.status = STATE_SUCCESS;
            r.last_run = due ? now - 86400 * ST_USEC : now - prevs[j];
            r.last_scheduled_at = r.last_run;
            r.last_attempted_at = r.last_run;
            r.run_id = (int64_t)(i * NSTRAT + j + 1);
            r.updated_at = r.last_run;
            if (state_put(st, &r, &err) != ST_OK) {
                fprintf(stderr, "bench_tick: seeding state: %s\n", err.msg);
                return -1;
            }
        }
    }
    int64_t id;
    if (!only_due)
        for (int k = 0; k < 3; k++) state_new_run_id(st, &id, &err);
    return 0;
}

/* Takes every enqueued job off the queue and frees its enqueue lock, as a
 * worker would, so the next repetition can enqueue again. */
static void bench_drain(queue *q, lock_manager *lm) {
    queue_job j;
    while (queue_pop(q, "bench", 0, &j, NULL) == ST_OK) {
        lock_handle h = {.fence = j.enqueue_fence, .mode = LOCK_EXCLUSIVE};
        snprintf(h.key, sizeof h.key, "%s", j.enqueue_key);
        snprintf(h.owner, sizeof h.owner, "%s", j.enqueue_owner);
        lock_release(lm, &h, NULL);
        queue_ack(q, j.id, NULL);
    }
}

static int bench_dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_dcmp);
    return v[n / 2];
}

static void bench_row(const char *what, double ms, double base, double goal) {
    if (goal > 0)
        printf("  %-34s %9.1f ms   %5.2fx state_list   goal <= %.0f ms %s\n", what, ms,
               base > 0 ? ms / base : 0, goal, ms <= goal ? "(met)" : "(MISSED)");
    else
        printf("  %-34s %9.1f ms\n", what, ms);
}

static int bench_backend(const char *label, const char *state_url, const char *queue_url,
                         double goal) {
    st_error err;
    state *st = NULL;
    lock_manager *lm = NULL;
    queue *q = NULL;
    if (state_open(&st, state_url, &err) != ST_OK || lock_open(&lm, state_url, &err) != ST_OK ||
        queue_open(&q, queue_url, &err) != ST_OK) {
        printf("%s: skipped (%s)\n", label, err.msg);
        lock_close(lm);
        state_close(st);
        return 0;
    }
    int64_t now;
    st_time_parse("2025-10-15T10:07:00Z", &now, NULL);
    config *cfg = bench_config(state_url);
    sched_plan *plan = NULL;
    double t0 = bench_ms();
    int rc = bench_seed(st, now, false);
    double seed_ms = bench_ms() - t0;
    if (rc == 0) rc = sched_plan_build(&plan, cfg, &err);
    if (rc == 0) {
        double base[REPS], t1[REPS], t2[REPS];
        sched_tick_stats s1 = {0}, s2 = {0};
        size_t n = 0;
        sched_tick_opts o = {.now = now, .fixed_time = true};
        for (int k = 0; k < REPS && rc == 0; k++) {
            state_record *recs = NULL;
            t0 = bench_ms();
            state_list(st, &recs, &n, &err);
            base[k] = bench_ms() - t0;
            free(recs);
            t0 = bench_ms();
            sched_tick(plan, st, lm, q, &o, &s1, &err);
            t1[k] = bench_ms() - t0;
            t0 = bench_ms();
            sched_tick(plan, st, lm, q, &o, &s2, &err);
            t2[k] = bench_ms() - t0;
            bench_drain(q, lm);
            rc = bench_seed(st, now, true);
        }
        double b = bench_median(base, REPS);
        printf("%s: %d pipelines x %d strategies (%zu records; seeding took %.0f ms; "
               "median of %d)\n", label, NPIPE, NSTRAT, n, seed_ms, REPS);
        bench_row("baseline: state_list", b, 0, 0);
        char what[80];
        snprintf(what, sizeof what, "tick (%zu due, %zu enqueued)", s1.due, s1.enqueued);
        bench_row(what, bench_median(t1, REPS), b, goal);
        snprintf(what, sizeof what, "next tick (%zu due, %zu enqueued)", s2.due, s2.enqueued);
        bench_row(what, bench_median(t2, REPS), b, goal);
    }
    sched_plan_free(plan);
    bench_config_free(cfg);
    queue_close(q);
    lock_close(lm);
    state_close(st);
    return rc;
}

static int bench_redis_url(char *buf, size_t n) {
    const char *base = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (base == NULL || base[0] == '\0') return -1;
    const char *hp = base + strlen("redis://");
    const char *slash = strchr(hp, '/');
    snprintf(buf, n, "%.*s/10", slash ? (int)(slash - base) : (int)strlen(base), base);
    char host[128];
    int port = 6379;
    sscanf(hp, "%127[^:]:%d", host, &port);
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err) return -1;
    freeReplyObject(redisCommand(c, "SELECT 10"));
    freeReplyObject(redisCommand(c, "FLUSHDB"));
    redisFree(c);
    return 0;
}

int main(void) {
    log_set_level(LOG_ERROR);
    char dir[] = "/tmp/bench_tick_XXXXXX", url[512];
    if (mkdtemp(dir) == NULL) return 1;
    snprintf(url, sizeof url, "sqlite:%s/state.db", dir);
    int rc = bench_backend("SQLite state", url, "local:", 200);
    char path[600];
    snprintf(path, sizeof path, "%s/state.db", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/state.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/state.db-shm", dir);
    unlink(path);
    rmdir(dir);
    char rurl[512];
    if (bench_redis_url(rurl, sizeof rurl) == 0)
        rc |= bench_backend("Redis state", rurl, rurl, 500);
    else
        printf("Redis state: skipped (SYNCTOOL_TEST_REDIS_URL not set)\n");
    return rc ? 1 : 0;
}
