/*
 * bench_tick — how long one scheduler tick takes over N strategies (three
 * per pipeline: delta every 15 min, hash daily, full weekly), and the
 * scheduler's peak RSS doing it.
 *
 *   bench_tick [N ...]      default: 1000 10000 100000
 *
 * The tick is sched_tick(): one streamed state listing, the decision for
 * every strategy, sched_can_enqueue and the enqueue bookkeeping (enqueue
 * lock, run id, mark pending, queue push) for the due ones. The state is
 * seeded so that every strategy last ran in its current slot ("Already ran
 * at ...") except the deltas of 100 pipelines spread over the config, which
 * are overdue: each first tick enqueues 100 jobs and a second (idle) tick
 * finds them pending.
 *
 * Each N runs in its own child process, so its peak RSS (getrusage
 * RUSAGE_SELF at its end) is its own:
 * the config of N/3 pipelines, the compiled plan, the seeding and the ticks.
 * Measured with SQLite state (temporary file, lock manager on the same file,
 * in-process queue), when SYNCTOOL_TEST_REDIS_URL is set with Redis
 * state (database 10 flushed first; locks and the Redis Stream queue on the
 * same server) and, when SYNCTOOL_TEST_PG_* is set (scripts/with-servers),
 * with PostgreSQL state (a fresh schema per run, dropped afterwards; locks
 * and the SKIP LOCKED queue in the same schema). Baseline in the same run, interleaved with the ticks: the
 * bare state_list() of the same records, i.e. what the old tick paid to see
 * the state at all (2 KB per record), run in a child process of its own so
 * its memory is not counted in the tick's peak RSS. Each figure is the median of REPS
 * repetitions with the range (the due records are reset and the queue
 * drained between them): the machine is shared, single runs are noisy.
 * Goals (issue 15): 100k strategies <= 1 s with SQLite, <= 2 s with Redis,
 * peak RSS <= 64 MiB, idle tick growth from 10k to 100k <= 12x; (issue 24)
 * <= 1 s with PostgreSQL.
 * With SYNCTOOL_BENCH_SUMMARY set, the rows with a goal are appended to
 * that file for bench/run's summary.
 *
 * The config is built in memory (no YAML files to parse); crons are
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
#include "../tests/unit/support/pg_url.h"
#include "bench_summary.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSTRAT 3
#define REPS 5
#define NDUE 100

static size_t npipe;   /* pipelines of this run: ceil(N / NSTRAT) */
static size_t due_every;

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

static config *bench_config(const backend_url *state_url) {
    config *cfg = calloc(1, sizeof *cfg);
    cfg->state_url = *state_url;
    cfg->npipelines = npipe;
    cfg->pipelines = calloc(npipe, sizeof *cfg->pipelines);
    for (size_t i = 0; i < npipe; i++) {
        config_pipeline *p = &cfg->pipelines[i];
        char name[64];
        snprintf(name, sizeof name, "pipeline_%06zu", i);
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
    free(cfg);
}

static bool bench_is_due(size_t i, size_t j) {
    return j == 0 && i % due_every == 0 && i / due_every < NDUE;
}

/* now = Wed 2025-10-15 10:07 UTC. Every strategy ran at its latest fire
 * time, except the NDUE pipelines whose delta last ran a day ago.
 * `only_due` re-writes just those (to reset between repetitions). Written
 * 1,000 records per state_put_many. */
static int bench_seed(state *st, int64_t now, bool only_due) {
    static const int64_t prevs[NSTRAT] = {
        7 * 60 * ST_USEC,                      /* 10:00 */
        (8 * 3600 + 7 * 60) * ST_USEC,         /* 02:00 */
        (3 * 86400 + 10 * 3600 + 7 * 60) * ST_USEC,  /* Sun 00:00 */
    };
    enum { CHUNK = 1000 };
    state_record *batch = calloc(CHUNK, sizeof *batch);
    size_t nb = 0;
    st_error err;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < npipe; i++) {
        for (size_t j = 0; rc == 0 && j < NSTRAT; j++) {
            bool due = bench_is_due(i, j);
            if (only_due && !due) continue;
            state_record *r = &batch[nb++];
            memset(r, 0, sizeof *r);
            snprintf(r->pipeline, sizeof r->pipeline, "pipeline_%06zu", i);
            snprintf(r->strategy, sizeof r->strategy, "%s", bench_strats[j].name);
            r->status = STATE_SUCCESS;
            r->last_run = due ? now - 86400 * ST_USEC : now - prevs[j];
            r->last_scheduled_at = r->last_run;
            r->last_attempted_at = r->last_run;
            r->run_id = (int64_t)(i * NSTRAT + j + 1);
            r->updated_at = r->last_run;
            if (nb == CHUNK) {
                rc = state_put_many(st, batch, nb, &err);
                nb = 0;
            }
        }
    }
    if (rc == 0 && nb > 0) rc = state_put_many(st, batch, nb, &err);
    free(batch);
    if (rc != 0) {
        fprintf(stderr, "bench_tick: seeding state: %s\n", err.msg);
        return -1;
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

/* What a child reports to the parent through a pipe. */
typedef struct bench_result {
    double idle_ms[3], enq_ms[3], base_ms[3];  /* [0] SQLite, [1] Redis, [2] PostgreSQL;
                                                  < 0 = not run */
    long maxrss_kib;                            /* the child's own (RUSAGE_SELF) */
} bench_result;

static void bench_row(const char *what, double *v, double base, double goal_ms,
                      size_t nrec, const char *label) {
    double lo = v[0], hi = v[REPS - 1];
    double ms = v[REPS / 2];
    printf("  %-34s %9.1f ms (%.1f-%.1f)   %5.2fx state_list", what, ms, lo, hi,
           base > 0 ? ms / base : 0);
    if (goal_ms > 0) printf("   goal <= %.0f ms %s", goal_ms, ms <= goal_ms ? "(met)" : "(MISSED)");
    printf("\n");
    if (goal_ms > 0) {
        char fig[160], val[64], b[80], r[32], g[32];
        snprintf(fig, sizeof fig, "scheduler %s, %zu strategies, %s", what, nrec, label);
        snprintf(val, sizeof val, "%.1f ms (%.1f-%.1f)", ms, lo, hi);
        snprintf(b, sizeof b, "old full state_list %.1f ms", base);
        snprintf(r, sizeof r, "%.2fx", base > 0 ? ms / base : 0);
        snprintf(g, sizeof g, "<= %.0f ms", goal_ms);
        bench_summary(fig, val, b, r, g, ms <= goal_ms);
    }
}

/* The baseline, state_list() of every record, in a child process of its
 * own (own handle, the 2 KB records of the listing out of this process's
 * peak RSS); returns its time in ms, or -1. */
static double bench_baseline(const backend_url *state_url, size_t *n) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        double r[2] = {-1, 0};
        state *st = NULL;
        st_error err;
        if (state_open(&st, state_url, &err) == ST_OK) {
            state_record *recs = NULL;
            size_t cnt = 0;
            double t0 = bench_ms();
            if (state_list(st, &recs, &cnt, &err) == ST_OK) r[0] = bench_ms() - t0;
            r[1] = (double)cnt;
            free(recs);
            state_close(st);
        }
        _exit(write(fds[1], r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    double r[2] = {-1, 0};
    if (read(fds[0], r, sizeof r) != (ssize_t)sizeof r) r[0] = -1;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    *n = (size_t)r[1];
    return r[0];
}

/* `url` is the state URL's text; the queue is the one the URL names, or the
 * in-process one when `local_queue`. */
static int bench_backend(const char *label, const char *url, bool local_queue,
                         double goal, size_t nstrats, int which, bench_result *res) {
    st_error err;
    backend_url u;
    state *st = NULL;
    lock_manager *lm = NULL;
    queue *q = NULL;
    if (burl_parse(&u, url, &err) != ST_OK || state_open(&st, &u, &err) != ST_OK ||
        lock_open(&lm, &u, &err) != ST_OK ||
        (local_queue ? queue_open_local(&q, &err) : queue_open(&q, &u, &err)) != ST_OK) {
        printf("%s: skipped (%s)\n", label, err.msg);
        lock_close(lm);
        state_close(st);
        return 0;
    }
    int64_t now;
    st_time_parse("2025-10-15T10:07:00Z", &now, NULL);
    config *cfg = bench_config(&u);
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
            base[k] = bench_baseline(&u, &n);
            t0 = bench_ms();
            sched_tick(plan, st, lm, q, &o, &s1, &err);
            t1[k] = bench_ms() - t0;
            t0 = bench_ms();
            sched_tick(plan, st, lm, q, &o, &s2, &err);
            t2[k] = bench_ms() - t0;
            bench_drain(q, lm);
            rc = bench_seed(st, now, true);
        }
        qsort(t1, REPS, sizeof *t1, bench_dcmp);
        qsort(t2, REPS, sizeof *t2, bench_dcmp);
        double b = bench_median(base, REPS);
        printf("%s: %zu pipelines x %d strategies (%zu records; seeding took %.0f ms; "
               "median of %d, range)\n", label, npipe, NSTRAT, n, seed_ms, REPS);
        printf("  %-34s %9.1f ms\n", "baseline: full state_list", b);
        double g = nstrats >= 100000 ? goal : 0;
        char what[80];
        snprintf(what, sizeof what, "tick (%zu due, %zu enqueued)", s1.due, s1.enqueued);
        bench_row(what, t1, b, g, nstrats, label);
        snprintf(what, sizeof what, "idle tick (%zu due, %zu enqueued)", s2.due, s2.enqueued);
        bench_row(what, t2, b, g, nstrats, label);
        res->enq_ms[which] = t1[REPS / 2];
        res->idle_ms[which] = t2[REPS / 2];
        res->base_ms[which] = b;
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

/* One N, in the child. */
static int bench_one(size_t nstrats, bench_result *res) {
    npipe = (nstrats + NSTRAT - 1) / NSTRAT;
    due_every = npipe / NDUE ? npipe / NDUE : 1;
    char dir[] = "/tmp/bench_tick_XXXXXX", url[512];
    if (mkdtemp(dir) == NULL) return 1;
    snprintf(url, sizeof url, "sqlite:%s/state.db", dir);
    int rc = bench_backend("SQLite state", url, true, 1000, nstrats, 0, res);
    char path[600];
    const char *files[] = {"state.db", "state.db-wal", "state.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    char rurl[512];
    if (bench_redis_url(rurl, sizeof rurl) == 0)
        rc |= bench_backend("Redis state", rurl, false, 2000, nstrats, 1, res);
    else
        printf("Redis state: skipped (SYNCTOOL_TEST_REDIS_URL not set)\n");
    char schema[64], purl[600];
    pg_test_schema(schema, sizeof schema, "benchtick");
    if (getenv("SYNCTOOL_TEST_PG_HOST") != NULL && pg_test_url(purl, sizeof purl, schema) == 0) {
        rc |= bench_backend("PostgreSQL state", purl, false, 1000, nstrats, 2, res);
        pg_drop_schema(schema);
    } else {
        printf("PostgreSQL state: skipped (SYNCTOOL_TEST_PG_* not set)\n");
    }
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    log_set_level(LOG_ERROR);
    size_t counts[16] = {1000, 10000, 100000};
    int ncounts = 3;
    if (argc > 1) {
        ncounts = 0;
        for (int i = 1; i < argc && ncounts < 16; i++) {
            char *end;
            long long v = strtoll(argv[i], &end, 10);
            if (*end != '\0' || v < NSTRAT) {
                fprintf(stderr, "bench_tick: '%s' is not a strategy count (>= %d); "
                        "usage: bench_tick [N ...]\n", argv[i], NSTRAT);
                return 2;
            }
            counts[ncounts++] = (size_t)v;
        }
    }
    int status = 0;
    bench_result all[16];
    for (int c = 0; c < ncounts; c++) {
        int fds[2];
        if (pipe(fds) != 0) return 1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            bench_result r = {{-1, -1, -1}, {-1, -1, -1}, {-1, -1, -1}};
            int rc = bench_one(counts[c], &r);
            struct rusage self;
            getrusage(RUSAGE_SELF, &self);  /* not its baseline children's */
            r.maxrss_kib = self.ru_maxrss;
            fflush(stdout);
            if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) rc = 1;
            _exit(rc);
        }
        close(fds[1]);
        bench_result r = {{-1, -1, -1}, {-1, -1, -1}, {-1, -1, -1}};
        if (read(fds[0], &r, sizeof r) != (ssize_t)sizeof r) status = 1;
        close(fds[0]);
        int ws;
        if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) status = 1;
        all[c] = r;
        double mib = r.maxrss_kib / 1024.0;
        printf("  %-34s %9.1f MiB   goal <= 64 MiB %s\n\n", "peak RSS of the process", mib,
               mib <= 64 ? "(met)" : "(MISSED)");
        char fig[96], val[32];
        snprintf(fig, sizeof fig, "scheduler peak RSS, %zu strategies (SQLite, Redis, PostgreSQL)",
                 counts[c]);
        snprintf(val, sizeof val, "%.1f MiB", mib);
        if (counts[c] >= 100000) bench_summary(fig, val, "-", "-", "<= 64 MiB", mib <= 64);
    }
    /* Growth of the idle tick from 10k to 100k strategies, when both ran. */
    int i10 = -1, i100 = -1;
    for (int c = 0; c < ncounts; c++) {
        if (counts[c] == 10000) i10 = c;
        if (counts[c] == 100000) i100 = c;
    }
    static const char *const names[3] = {"SQLite", "Redis", "PostgreSQL"};
    for (int b = 0; i10 >= 0 && i100 >= 0 && b < 3; b++) {
        double a = all[i10].idle_ms[b], z = all[i100].idle_ms[b];
        if (a <= 0 || z <= 0) continue;
        double g = z / a;
        printf("idle tick growth 10k -> 100k strategies, %s: %.1f -> %.1f ms = %.1fx "
               "(old state_list: %.1fx)   goal <= 12x %s\n", names[b], a, z, g,
               all[i100].base_ms[b] / all[i10].base_ms[b], g <= 12 ? "(met)" : "(MISSED)");
        char fig[96], val[64], base[64], r[32];
        snprintf(fig, sizeof fig, "idle tick growth 10k -> 100k strategies, %s", names[b]);
        snprintf(val, sizeof val, "%.1f -> %.1f ms", a, z);
        snprintf(base, sizeof base, "10x the strategies");
        snprintf(r, sizeof r, "%.1fx", g);
        bench_summary(fig, val, base, r, "<= 12x", g <= 12);
    }
    return status;
}
