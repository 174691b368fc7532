/*
 * Unit tests for the compact tick (src/sched/scheduler.c) and the streamed
 * state listing it reads (state_list_each, src/state/).
 *
 * The tick no longer loads 2 KB state_records with state_list(): it streams
 * the records through one buffer into 48-byte slots found through the plan's
 * name index, and rebuilds only what the decision reads. These tests pin
 * that this changed nothing: on a 10,000-strategy fixture with every kind of
 * state (no record, idle, pending fresh and stale, running, success in and
 * out of the slot, failed below and at the retry limit, skipped, records of
 * pipelines and strategies that are not configured), an invalid cron, a
 * disabled strategy and one without cron, every decision the tick makes
 * (sched_tick_opts.on_decisions) equals the old path's: state_list(), the
 * records found by name, sched_select(). And state_list_each() yields
 * exactly state_list()'s records on SQLite and Redis, across the Redis
 * backend's 1,000-member pages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/log/log.h"
#include "../../src/queue/queue.h"
#include "../../src/sched/sched.h"
#include "../../src/state/state.h"
#include "../../src/time/st_time.h"
#include "support/url_open.h"

#define NPIPE 3334 /* x 3 strategies = 10,002 */
#define NSTRAT 3

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33) % n;
}

static const char *const names[NSTRAT] = {"delta", "hash", "full"};
static const char *const crons[] = {"*/15 * * * *", "0 2 * * *", "0 0 * * 0", "*/5 * * * *",
                                    "0 * * * *", "bad cron", ""};

static config *make_config(void) {
    config *cfg = calloc(1, sizeof *cfg);
    cfg->npipelines = NPIPE;
    cfg->pipelines = calloc(NPIPE, sizeof *cfg->pipelines);
    for (size_t i = 0; i < NPIPE; i++) {
        config_pipeline *p = &cfg->pipelines[i];
        char name[32];
        snprintf(name, sizeof name, "p%05zu", (i * 7919) % NPIPE); /* not in name order */
        p->name = strdup(name);
        p->nstrategies = NSTRAT;
        p->strategies = calloc(NSTRAT, sizeof *p->strategies);
        for (size_t j = 0; j < NSTRAT; j++) {
            config_strategy *s = &p->strategies[j];
            s->name = (char *)names[j];
            uint32_t c = rnd(40);
            s->cron = (char *)(c < 5 ? crons[c] : c == 38 ? crons[5] : c == 39 ? crons[6]
                                                                      : crons[j]);
            s->type = CONFIG_STRATEGY_FULL;
            s->enabled = rnd(50) != 0;
        }
        p->retry = (config_retry){3, 30, 60};
    }
    return cfg;
}

static void free_config(config *cfg) {
    for (size_t i = 0; i < cfg->npipelines; i++) {
        free(cfg->pipelines[i].name);
        free(cfg->pipelines[i].strategies);
    }
    free(cfg->pipelines);
    free(cfg);
}

/* A random record of every kind around `now`. */
static void make_record(state_record *r, const char *p, const char *s, int64_t now,
                        int64_t id) {
    memset(r, 0, sizeof *r);
    snprintf(r->pipeline, sizeof r->pipeline, "%s", p);
    snprintf(r->strategy, sizeof r->strategy, "%s", s);
    static const state_status st[] = {STATE_IDLE, STATE_PENDING, STATE_RUNNING,
                                      STATE_SUCCESS, STATE_SUCCESS, STATE_SUCCESS,
                                      STATE_FAILED, STATE_FAILED, STATE_SKIPPED};
    r->status = st[rnd(sizeof st / sizeof st[0])];
    int64_t ago[] = {ST_TIME_NONE, 30, 299, 301, 600, 3600, 86400, 8 * 86400};
    int64_t a;
    a = ago[rnd(8)];
    r->last_run = a == ST_TIME_NONE ? ST_TIME_NONE : now - a * ST_USEC;
    a = ago[rnd(8)];
    r->last_scheduled_at = a == ST_TIME_NONE ? ST_TIME_NONE : now - a * ST_USEC;
    a = ago[rnd(8)];
    r->last_attempted_at = a == ST_TIME_NONE ? ST_TIME_NONE : now - a * ST_USEC;
    r->retry_count = rnd(5);
    r->run_id = id;
    r->updated_at = now;
    if (rnd(4) == 0) snprintf(r->error, sizeof r->error, "boom %lld", (long long)id);
    if (rnd(4) == 0) snprintf(r->worker, sizeof r->worker, "host:%lld", (long long)id);
}

static void seed(state *st, const config *cfg, int64_t now) {
    size_t cap = NPIPE * NSTRAT + 200, n = 0;
    state_record *recs = calloc(cap, sizeof *recs);
    int64_t id = 1;
    for (size_t i = 0; i < cfg->npipelines; i++)
        for (size_t j = 0; j < NSTRAT; j++)
            if (rnd(10) != 0) /* 10% without state */
                make_record(&recs[n++], cfg->pipelines[i].name, names[j], now, id++);
    for (int k = 0; k < 100; k++) { /* not configured: other pipelines, other strategies */
        char p[32];
        snprintf(p, sizeof p, "gone%03d", k);
        make_record(&recs[n++], p, "delta", now, id++);
        make_record(&recs[n++], cfg->pipelines[k].name, "retired", now, id++);
    }
    st_error err;
    assert_int_equal(state_put_many(st, recs, n, &err), ST_OK);
    free(recs);
}

/* What the tick decided, per pipeline index. */
typedef struct seen {
    const config *cfg;
    sched_decision (*d)[NSTRAT];
    int *chosen;
    int *calls;
} seen;

static void on_decisions(void *ud, const config_pipeline *p, const state_record *const *states,
                         const sched_decision *decisions, int chosen) {
    (void)states;
    seen *s = ud;
    size_t i = (size_t)(p - s->cfg->pipelines);
    memcpy(s->d[i], decisions, NSTRAT * sizeof *decisions);
    s->chosen[i] = chosen;
    s->calls[i]++;
}

/* The old path: the whole listing, the records found by name, sched_select. */
static void old_decisions(state *st, const config *cfg, const sched_plan *plan, int64_t now,
                          sched_decision (*d)[NSTRAT], int *chosen) {
    state_record *recs = NULL;
    size_t n = 0;
    st_error err;
    assert_int_equal(state_list(st, &recs, &n, &err), ST_OK);
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        const state_record *states[NSTRAT] = {NULL};
        size_t lo = 0, hi = n; /* state_list sorts by pipeline, strategy */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(recs[mid].pipeline, p->name) < 0) lo = mid + 1;
            else hi = mid;
        }
        for (size_t k = lo; k < n && strcmp(recs[k].pipeline, p->name) == 0; k++)
            for (size_t j = 0; j < NSTRAT; j++)
                if (strcmp(recs[k].strategy, p->strategies[j].name) == 0)
                    states[j] = &recs[k];
        chosen[i] = sched_select(p, (const cron_expr *const *)plan->crons[i], states, now, d[i]);
    }
    free(recs);
}

static void test_compact_tick_decides_as_the_old_path(void **unused) {
    (void)unused;
    char dir[] = "/tmp/st_tick_compact_XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/state.db", dir);
    st_error err;
    state *st;
    queue *q;
    assert_int_equal(state_open_url(&st, url, &err), ST_OK);
    assert_int_equal(queue_open_local(&q, &err), ST_OK);
    config *cfg = make_config();
    cfg->state_url = burl_of(url);
    int64_t now;
    st_time_parse("2025-10-15T10:07:00Z", &now, NULL);
    seed(st, cfg, now);
    sched_plan *plan;
    assert_int_equal(sched_plan_build(&plan, cfg, &err), ST_OK);

    sched_decision (*want)[NSTRAT] = calloc(NPIPE, sizeof *want);
    sched_decision (*got)[NSTRAT] = calloc(NPIPE, sizeof *got);
    int *want_k = calloc(NPIPE, sizeof *want_k), *got_k = calloc(NPIPE, sizeof *got_k);
    int *calls = calloc(NPIPE, sizeof *calls);
    old_decisions(st, cfg, plan, now, want, want_k);

    seen s = {cfg, got, got_k, calls};
    sched_tick_opts o = {.now = now, .fixed_time = true, .on_decisions = on_decisions, .ud = &s};
    sched_tick_stats stats;
    /* No lock manager: no recovery, so both paths see the same records. */
    assert_int_equal(sched_tick(plan, st, NULL, q, &o, &stats, &err), ST_OK);
    size_t due = 0, kinds[2] = {0};
    for (size_t i = 0; i < NPIPE; i++) {
        assert_int_equal(calls[i], 1);
        assert_int_equal(got_k[i], want_k[i]);
        if (want_k[i] >= 0) due++;
        for (size_t j = 0; j < NSTRAT; j++) {
            assert_int_equal(got[i][j].run, want[i][j].run);
            assert_string_equal(got[i][j].reason, want[i][j].reason);
            assert_true(got[i][j].prev == want[i][j].prev);
            assert_true(got[i][j].next == want[i][j].next);
            assert_true(got[i][j].backoff_s == want[i][j].backoff_s);
            kinds[want[i][j].run]++;
        }
    }
    assert_int_equal(stats.due, due);
    /* The fixture really has both outcomes in numbers. */
    assert_true(kinds[0] > 1000 && kinds[1] > 1000);

    free(want);
    free(got);
    free(want_k);
    free(got_k);
    free(calls);
    sched_plan_free(plan);
    free_config(cfg);
    queue_close(q);
    state_close(st);
    char path[200];
    const char *files[] = {"state.db", "state.db-wal", "state.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* --- state_list_each vs state_list --- */

typedef struct collected {
    state_record *r;
    size_t n, cap;
    size_t stop_after; /* 0 = never */
} collected;

static int collect(void *ud, const state_record *r) {
    collected *c = ud;
    if (c->stop_after && c->n == c->stop_after) return ST_EBUSY;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->r = realloc(c->r, c->cap * sizeof *c->r);
    }
    c->r[c->n++] = *r;
    return ST_OK;
}

static int rec_cmp(const void *a, const void *b) {
    const state_record *x = a, *y = b;
    int c = strcmp(x->pipeline, y->pipeline);
    return c ? c : strcmp(x->strategy, y->strategy);
}

static void check_each_equals_list(const char *url) {
    st_error err;
    state *st;
    assert_int_equal(state_open_url(&st, url, &err), ST_OK);
    config *cfg = make_config();
    int64_t now;
    st_time_parse("2025-10-15T10:07:00Z", &now, NULL);
    seed(st, cfg, now); /* > 9,000 records: ten Redis pages */
    state_record *all = NULL;
    size_t n = 0;
    assert_int_equal(state_list(st, &all, &n, &err), ST_OK);
    collected c = {0};
    assert_int_equal(state_list_each(st, collect, &c, &err), ST_OK);
    assert_int_equal(c.n, n);
    qsort(c.r, c.n, sizeof *c.r, rec_cmp);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(c.r[i].pipeline, all[i].pipeline);
        assert_string_equal(c.r[i].strategy, all[i].strategy);
        assert_int_equal(c.r[i].status, all[i].status);
        assert_true(c.r[i].last_run == all[i].last_run);
        assert_true(c.r[i].last_scheduled_at == all[i].last_scheduled_at);
        assert_true(c.r[i].last_attempted_at == all[i].last_attempted_at);
        assert_true(c.r[i].retry_count == all[i].retry_count);
        assert_true(c.r[i].run_id == all[i].run_id);
        assert_string_equal(c.r[i].worker, all[i].worker);
        assert_string_equal(c.r[i].error, all[i].error);
        assert_string_equal(c.r[i].message, all[i].message);
        assert_true(c.r[i].updated_at == all[i].updated_at);
    }
    /* A callback's non-zero answer stops the listing and is returned; the
     * handle still works afterwards (Redis drained its pipelined replies). */
    collected part = {.stop_after = 1500};
    assert_int_equal(state_list_each(st, collect, &part, &err), ST_EBUSY);
    assert_int_equal(part.n, 1500);
    state_record one;
    assert_int_equal(state_get(st, all[0].pipeline, all[0].strategy, &one, &err), ST_OK);
    free(part.r);
    free(c.r);
    free(all);
    free_config(cfg);
    state_close(st);
}

static void test_list_each_sqlite(void **unused) {
    (void)unused;
    char dir[] = "/tmp/st_list_each_XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/state.db", dir);
    check_each_equals_list(url);
    char path[200];
    const char *files[] = {"state.db", "state.db-wal", "state.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_list_each_redis(void **unused) {
    (void)unused;
    const char *base = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (base == NULL || base[0] == '\0') {
        skip();
        return;
    }
    char host[128];
    int port = 6379;
    sscanf(base + strlen("redis://"), "%127[^:]:%d", host, &port);
    redisContext *rc = redisConnect(host, port);
    assert_true(rc != NULL && rc->err == 0);
    freeReplyObject(redisCommand(rc, "SELECT 13"));
    freeReplyObject(redisCommand(rc, "FLUSHDB"));
    char url[256];
    snprintf(url, sizeof url, "redis://%s:%d/13", host, port);
    check_each_equals_list(url);
    freeReplyObject(redisCommand(rc, "FLUSHDB"));
    redisFree(rc);
}

int main(void) {
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_tick_decides_as_the_old_path),
        cmocka_unit_test(test_list_each_sqlite),
        cmocka_unit_test(test_list_each_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
