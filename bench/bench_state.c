/*
 * bench_state — state_list over 30,000 records (10,000 pipelines x 3
 * strategies, the issue 6 tick workload) on SQLite and on Redis, plus the
 * rate of single transitions (state_mark_pending).
 *
 * Baselines, measured in the same run on the same data:
 *   SQLite: a bare "SELECT *" stepped through without decoding — what the
 *           backend's checking and copying adds.
 *   Redis:  the same 30,000 HGETALLs issued one round trip at a time — what
 *           pipelining saves.
 * Goal (issue 6): a scheduler tick <= 200 ms with SQLite state and <= 500 ms
 * with Redis state; listing the state is one part of that tick.
 * Redis figures need $SYNCTOOL_TEST_REDIS_URL (bench/run sets it); database
 * 13 is flushed. Benchmarks report; they never fail on a slow machine.
 */
#include "../src/state/state.h"
#include "../src/time/st_time.h"
#include "../src/url/backend_url.h"

#include <hiredis.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NPIPE 10000
#define NSTRAT 3
#define NREC (NPIPE * NSTRAT)
#define REPS 5
#define REDIS_DB 13

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static state_record *make_records(void) {
    static const char *const strat[NSTRAT] = {"delta_15m", "hash_daily", "full_weekly"};
    state_record *r = calloc(NREC, sizeof *r);
    int64_t t0 = 1760522760LL * ST_USEC;
    for (int i = 0; r && i < NREC; i++) {
        snprintf(r[i].pipeline, sizeof r[i].pipeline, "pipeline_%05d", i / NSTRAT);
        snprintf(r[i].strategy, sizeof r[i].strategy, "%s", strat[i % NSTRAT]);
        r[i].status = (state_status)(i % 6);
        r[i].last_run = t0 - (i % 97) * 60 * ST_USEC;
        r[i].last_scheduled_at = t0 - (i % 13) * 60 * ST_USEC;
        r[i].last_attempted_at = i % 5 ? t0 - (i % 7) * ST_USEC : ST_TIME_NONE;
        r[i].retry_count = i % 4;
        r[i].run_id = i + 1;
        snprintf(r[i].worker, sizeof r[i].worker, "host-%d:%d", i % 3, 1000 + i % 50);
        snprintf(r[i].message, sizeof r[i].message, "synced %d rows", i % 1000);
        r[i].updated_at = t0;
    }
    return r;
}

/* Median and best of REPS state_list calls, in ms. */
static void time_list(state *st, double *median, double *best, size_t *count) {
    double t[REPS];
    for (int i = 0; i < REPS; i++) {
        state_record *all;
        size_t n;
        double a = now_s();
        if (state_list(st, &all, &n, NULL) != ST_OK) n = 0;
        t[i] = (now_s() - a) * 1e3;
        free(all);
        *count = n;
    }
    qsort(t, REPS, sizeof t[0], cmp_d);
    *median = t[REPS / 2];
    *best = t[0];
}

/* Transitions per second for about 0.5 s. */
static double time_pending(state *st) {
    double a = now_s(), el;
    int64_t n = 0;
    do {
        char p[32];
        snprintf(p, sizeof p, "pipeline_%05d", (int)(n % NPIPE));
        state_mark_pending(st, p, "delta_15m", NREC + 1 + n, 1760522760LL * ST_USEC, NULL);
        n++;
    } while ((el = now_s() - a) < 0.5);
    return (double)n / el;
}

static double sqlite_baseline(const char *path) {
    sqlite3 *db;
    double best = 1e9;
    if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
    for (int r = 0; r < REPS; r++) {
        sqlite3_stmt *s;
        double a = now_s();
        sqlite3_prepare_v2(db, "SELECT * FROM state_records", -1, &s, NULL);
        while (sqlite3_step(s) == SQLITE_ROW) {
        }
        sqlite3_finalize(s);
        double t = (now_s() - a) * 1e3;
        if (t < best) best = t;
    }
    sqlite3_close(db);
    return best;
}

static double redis_baseline(const char *host, int port) {
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err) return -1;
    freeReplyObject(redisCommand(c, "SELECT %d", REDIS_DB));
    double a = now_s();
    for (int i = 0; i < NREC; i++) {
        static const char *const strat[NSTRAT] = {"delta_15m", "hash_daily", "full_weekly"};
        redisReply *r = redisCommand(c, "HGETALL synctool:state:pipeline_%05d:%s", i / NSTRAT,
                                     strat[i % NSTRAT]);
        freeReplyObject(r);
    }
    double t = (now_s() - a) * 1e3;
    redisFree(c);
    return t;
}

static void report(const char *name, state *st, const state_record *recs, double base,
                   const char *base_label, double goal_ms) {
    double a = now_s();
    state_put_many(st, recs, NREC, NULL);
    double put_ms = (now_s() - a) * 1e3;
    double med, best;
    size_t n;
    time_list(st, &med, &best, &n);
    double tps = time_pending(st);
    printf("%-7s state_list %zu records: median %.1f ms, best %.1f ms (%.0f records/s)\n", name,
           n, med, best, (double)n / (best / 1e3));
    printf("%-7s baseline %s: %.1f ms; ratio list/baseline %.2f\n", name, base_label, base,
           base > 0 ? best / base : 0);
    printf("%-7s goal: list well inside the %.0f ms tick budget: %s\n", name, goal_ms,
           med <= goal_ms ? "met" : "NOT met");
    printf("%-7s import of %d records (state_put_many): %.1f ms\n", name, NREC, put_ms);
    printf("%-7s state_mark_pending: %.0f transitions/s\n\n", name, tps);
}

/* state_open() on URL text (the bench's URLs hold no secret). */
static int open_url(state **st, const char *text, st_error *err) {
    backend_url u;
    *st = NULL;
    return burl_parse(&u, text, err) == ST_OK ? state_open(st, &u, err) : err->code;
}

int main(void) {
    state_record *recs = make_records();
    if (recs == NULL) return 1;
    char dir[] = "/tmp/bench_state.XXXXXX", url[256], path[200];
    if (mkdtemp(dir) == NULL) return 1;
    snprintf(path, sizeof path, "%s/state.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    state *st;
    st_error err;
    if (open_url(&st, url, &err) == ST_OK) {
        state_put_many(st, recs, NREC, NULL);
        report("sqlite", st, recs, sqlite_baseline(path), "bare SELECT *", 200);
        state_close(st);
    } else {
        printf("sqlite: %s\n", err.msg);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    const char *ru = getenv("SYNCTOOL_TEST_REDIS_URL");
    char host[128];
    int port;
    if (ru == NULL || sscanf(ru, "redis://%127[^:]:%d", host, &port) != 2) {
        printf("redis: skipped (SYNCTOOL_TEST_REDIS_URL not set)\n");
    } else {
        redisContext *c = redisConnect(host, port);
        if (c && !c->err) freeReplyObject(redisCommand(c, "SELECT %d", REDIS_DB));
        if (c && !c->err) freeReplyObject(redisCommand(c, "FLUSHDB"));
        if (c) redisFree(c);
        snprintf(url, sizeof url, "redis://%s:%d/%d", host, port, REDIS_DB);
        if (open_url(&st, url, &err) == ST_OK) {
            state_put_many(st, recs, NREC, NULL);
            report("redis", st, recs, redis_baseline(host, port), "30,000 sequential HGETALL",
                   500);
            state_close(st);
        } else {
            printf("redis: %s\n", err.msg);
        }
    }
    free(recs);
    return 0;
}
