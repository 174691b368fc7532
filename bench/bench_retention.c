/*
 * bench_retention — does the history retention keep the state bounded?
 * A `* * * * *` strategy over a simulated year (issue 25 item 5).
 *
 * Every simulated minute does what a run of that strategy writes to the
 * state store, through the same calls, at that minute as `now` (the
 * scheduler's and a job's `--at`): a run id, pending, the why-journal's
 * "Enqueued run N" event, running, success with its log lines. Every
 * simulated hour applies the retention as the scheduler's housekeeping does
 * (state_prune with the defaults: keep_days 30, keep_runs 50000). The size
 * of the store is taken at day 30, 60, 90, 180 and the last day: the SQLite
 * file (database + WAL after a checkpoint) and, on Redis, the keys'
 * MEMORY USAGE summed, with the history entries kept.
 *
 * Baseline, the same run: the history entries a store without retention
 * would hold (one per minute). Goal: the size at the last day is at most
 * 1.25x the size at day 60 (bounded: flat once the 30-day window is full).
 *
 * Runs in-process because a year of minutes is 525,600 runs: through
 * `synctool run --at` that is days of process starts; the state calls are
 * the ones `run` makes. A simulated minute costs ~0.4 ms on Redis and ~6 ms
 * on SQLite (CPU in SQLite's VM: three transitions, a history entry with
 * its log, the why-journal's event, whose value of up to 60 KB is rewritten
 * whole, and the hourly prune) on the loaded 2-core machine. So `make
 * bench` simulates the year on Redis (~4 min) and 90 days on SQLite (three
 * retention windows, day 90 against day 60 shows the plateau; ~13 min, in
 * parallel with Redis): a SQLite year is most of an hour, measured once and
 * stated in bench/README.md. SYNCTOOL_BENCH_RETENTION_SQLITE_DAYS and
 * _REDIS_DAYS set each span, SYNCTOOL_BENCH_RETENTION_DAYS both. SQLite and
 * Redis run at once, in two processes.
 * SYNCTOOL_TEST_REDIS_URL names the Redis (database 12 is
 * flushed). Reports; never fails on a missed goal.
 */
#include "../src/state/state.h"
#include "../src/time/st_time.h"
#include "../src/url/backend_url.h"
#include "../src/why/why.h"
#include "bench_summary.h"

#include <hiredis.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_DB 12
#define MIN_US (60LL * ST_USEC)
#define DAY_MIN 1440

typedef struct probe {
    int day;
    double bytes;
    long long entries;
} probe;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* The SQLite store's bytes (after a checkpoint: the WAL folded in) and its
 * history entries. */
static void sqlite_size(const char *path, probe *p) {
    sqlite3 *db;
    p->bytes = 0;
    p->entries = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK) return;
    sqlite3_busy_timeout(db, 10000);
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM state_history", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW) p->entries = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    p->bytes = (double)(file_size(path) + file_size(wal));
}

/* Sum of MEMORY USAGE over every synctool key, and the history length. */
static void redis_size(redisContext *c, probe *p) {
    p->bytes = 0;
    p->entries = -1;
    redisReply *keys = redisCommand(c, "KEYS synctool:*");
    if (keys == NULL || keys->type != REDIS_REPLY_ARRAY) {
        if (keys) freeReplyObject(keys);
        return;
    }
    for (size_t i = 0; i < keys->elements; i++)
        redisAppendCommand(c, "MEMORY USAGE %s", keys->element[i]->str);
    for (size_t i = 0; i < keys->elements; i++) {
        void *rv;
        if (redisGetReply(c, &rv) != REDIS_OK) break;
        redisReply *r = rv;
        if (r->type == REDIS_REPLY_INTEGER) p->bytes += (double)r->integer;
        freeReplyObject(r);
    }
    freeReplyObject(keys);
    redisReply *n = redisCommand(c, "LLEN synctool:history:every_minute:m1");
    if (n && n->type == REDIS_REPLY_INTEGER) p->entries = n->integer;
    if (n) freeReplyObject(n);
}

/* One simulated run at `now`, as `run` writes it. */
static int one_run(state *st, int64_t now, st_error *e) {
    static const char *P = "every_minute", *S = "m1";
    int64_t id;
    char text[64], log[512];
    int rc = state_new_run_id(st, &id, e);
    if (rc == ST_OK) rc = state_mark_pending(st, P, S, id, now, e);
    snprintf(text, sizeof text, "Enqueued run %lld", (long long)id);
    if (rc == ST_OK) rc = why_event(st, P, S, now, text, STATE_KEEP_DAYS_DEFAULT, e);
    if (rc == ST_OK) rc = state_mark_running(st, P, S, id, now + ST_USEC, "bench:1", e);
    snprintf(log, sizeof log,
             "locks acquired: pipeline (fencing token %lld), table dst.main.t (shared)\n"
             "sync done: 3 read, 0 inserted, 3 updated, 0 deleted in 0.004s\n"
             "Run %lld succeeded: completed", (long long)id, (long long)id);
    state_stats stats = {.rows_read = 3, .rows_updated = 3, .seconds = 0.004};
    if (rc == ST_OK)
        rc = state_mark_finished_log(st, P, S, id, STATE_SUCCESS, now + ST_USEC,
                                     now + 2 * ST_USEC, "bench:1", "completed", NULL, &stats,
                                     log, e);
    return rc;
}

/* Simulates `days` days; fills probes at the given days. Returns the
 * seconds it took, or < 0 on an error (printed). */
static double simulate(state *st, int days, const int *at_days, probe *probes, size_t nprobes,
                       void (*size)(void *, probe *), void *ud) {
    int64_t t0 = 1767225600LL * ST_USEC;   /* 2026-01-01T00:00:00Z */
    state_retention ret = {STATE_KEEP_DAYS_DEFAULT, STATE_KEEP_RUNS_DEFAULT};
    double start = now_s();
    size_t k = 0;
    for (int64_t m = 0; m < (int64_t)days * DAY_MIN; m++) {
        int64_t now = t0 + m * MIN_US;
        st_error e;
        if (one_run(st, now, &e) != ST_OK) {
            printf("  error at minute %lld: %s\n", (long long)m, e.msg);
            return -1;
        }
        int64_t removed;
        if (m % 60 == 59 && state_prune(st, now, &ret, &removed, &e) != ST_OK) {
            printf("  prune failed: %s\n", e.msg);
            return -1;
        }
        if (k < nprobes && m + 1 == (int64_t)at_days[k] * DAY_MIN) {
            size(ud, &probes[k]);
            probes[k].day = at_days[k];
            k++;
        }
    }
    return now_s() - start;
}

static void sqlite_probe(void *ud, probe *p) { sqlite_size(ud, p); }
static void redis_probe(void *ud, probe *p) { redis_size(ud, p); }

static void report(const char *backend, int days, const probe *p, size_t n, double secs) {
    printf("  %-8s day:", backend);
    for (size_t i = 0; i < n; i++) printf(" %d=%.2f MiB/%lld entries", p[i].day,
                                          p[i].bytes / 1048576.0, p[i].entries);
    printf("  (%.0f s)\n", secs);
    const probe *d60 = NULL, *last = &p[n - 1];
    for (size_t i = 0; i < n; i++)
        if (p[i].day == 60) d60 = &p[i];
    if (d60 == NULL) {
        printf("  (fewer than 60 days simulated: no bound to compare with)\n");
        return;
    }
    double ratio = d60->bytes > 0 ? last->bytes / d60->bytes : 0;
    bool met = ratio <= 1.25;
    char fig[160], val[96], base[96], r[32];
    snprintf(fig, sizeof fig, "state size, one `* * * * *` strategy over %d days, %s state",
             days, backend);
    snprintf(val, sizeof val, "%.2f MiB, %lld history entries (day 60: %.2f MiB)",
             last->bytes / 1048576.0, last->entries, d60->bytes / 1048576.0);
    snprintf(base, sizeof base, "without retention: %d entries", days * DAY_MIN);
    snprintf(r, sizeof r, "%.2fx day 60", ratio);
    bench_summary(fig, val, base, r, "<= 1.25x day 60 (bounded)", met);
    printf("  day %d / day 60: %.2fx  goal <= 1.25x %s\n", days, ratio, met ? "(met)" : "(MISSED)");
}

static void run_sqlite(int days, const int *at, size_t n) {
    char dir[] = "/tmp/synctool-bench-retention.XXXXXX";
    if (mkdtemp(dir) == NULL) return;
    char path[200], url[240];
    snprintf(path, sizeof path, "%s/state.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    backend_url u;
    st_error e;
    state *st = NULL;
    if (burl_parse(&u, url, &e) != ST_OK || state_open(&st, &u, &e) != ST_OK) {
        printf("  sqlite: %s\n", e.msg);
        return;
    }
    probe p[8];
    double secs = simulate(st, days, at, p, n, sqlite_probe, path);
    state_close(st);
    if (secs >= 0) report("SQLite", days, p, n, secs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
}

static void run_redis(int days, const int *at, size_t n) {
    const char *base = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (base == NULL || base[0] == '\0') {
        printf("  Redis: skipped (SYNCTOOL_TEST_REDIS_URL not set)\n");
        return;
    }
    char url[512];
    const char *slash = strrchr(base, '/');
    int len = slash && slash > base + 8 ? (int)(slash - base) : (int)strlen(base);
    snprintf(url, sizeof url, "%.*s/%d", len, base, REDIS_DB);
    backend_url u;
    st_error e;
    if (burl_parse(&u, url, &e) != ST_OK) {
        printf("  Redis: %s\n", e.msg);
        return;
    }
    redisContext *c = redisConnect(u.host, u.port);
    if (c == NULL || c->err) {
        printf("  Redis: cannot connect\n");
        if (c) redisFree(c);
        return;
    }
    redisReply *r = redisCommand(c, "SELECT %d", REDIS_DB);
    if (r) freeReplyObject(r);
    r = redisCommand(c, "FLUSHDB");
    if (r) freeReplyObject(r);
    state *st = NULL;
    if (state_open(&st, &u, &e) != ST_OK) {
        printf("  Redis: %s\n", e.msg);
        redisFree(c);
        return;
    }
    probe p[8];
    double secs = simulate(st, days, at, p, n, redis_probe, c);
    state_close(st);
    if (secs >= 0) report("Redis", days, p, n, secs);
    r = redisCommand(c, "FLUSHDB");
    if (r) freeReplyObject(r);
    redisFree(c);
}

/* The probe days below `days`, then `days`. */
static size_t probe_days(int days, int *at) {
    static const int want[] = {30, 60, 90, 180};
    size_t n = 0;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (want[i] < days) at[n++] = want[i];
    at[n++] = days;
    return n;
}

static int env_days(const char *name, int dflt) {
    const char *d = getenv(name);
    return d && atoi(d) > 0 ? atoi(d) : dflt;
}

int main(void) {
    int all = env_days("SYNCTOOL_BENCH_RETENTION_DAYS", 0);
    int sq_days = all ? all : env_days("SYNCTOOL_BENCH_RETENTION_SQLITE_DAYS", 90);
    int rd_days = all ? all : env_days("SYNCTOOL_BENCH_RETENTION_REDIS_DAYS", 365);
    int sq_at[8], rd_at[8];
    size_t sq_n = probe_days(sq_days, sq_at), rd_n = probe_days(rd_days, rd_at);
    printf("one `* * * * *` strategy, a run each simulated minute (SQLite %d days, %d runs; "
           "Redis %d days, %d runs), retention keep_days %d, pruned hourly\n", sq_days,
           sq_days * DAY_MIN, rd_days, rd_days * DAY_MIN, STATE_KEEP_DAYS_DEFAULT);
    fflush(stdout);
    /* the two stores at once */
    pid_t kid = fork();
    if (kid == 0) {
        run_redis(rd_days, rd_at, rd_n);
        fflush(stdout);
        _exit(0);
    }
    run_sqlite(sq_days, sq_at, sq_n);
    fflush(stdout);
    if (kid > 0) waitpid(kid, NULL, 0);
    else run_redis(rd_days, rd_at, rd_n);
    return 0;
}
