/*
 * test_lock_backends — the lock conformance suite: the same behaviour
 * cases against every real backend: SQLite (a temp file), the
 * redis-server named by SYNCTOOL_TEST_REDIS_URL and the PostgreSQL of
 * SYNCTOOL_TEST_PG_* (a fresh schema, dropped afterwards); scripts/
 * with-servers starts both servers and a group fails loudly if its server
 * is missing. Each run uses fresh random key names, so reruns against the
 * same server never collide. Besides locks: the scheduler's leader lease
 * (one leads while it renews, a standby takes over within one lease of it
 * stopping, the old leader's renewal is refused).
 *
 * Timing: leases in these tests are short (hundreds of ms), but every check
 * that waits for an expiry polls with a generous deadline instead of
 * sleeping a fixed time, so a loaded machine only makes them slower.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "../../src/job/job.h"
#include "../../src/lock/lock.h"
#include "support/pg_url.h"
#include "support/url_open.h"

typedef struct fixture {
    lock_manager *lm;
    char prefix[64];
    char dbpath[256];
    char url[600];
    char pg_schema[64];   /* PostgreSQL: the schema to drop */
} fixture;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static char *key(fixture *f, char *buf, const char *name) {
    snprintf(buf, 320, "synctool:table:%s:%s", f->prefix, name);
    return buf;
}

static int open_fixture(void **state, const char *url, const char *dbpath) {
    fixture *f = calloc(1, sizeof *f);
    st_error err;
    if (dbpath) snprintf(f->dbpath, sizeof f->dbpath, "%s", dbpath);
    snprintf(f->url, sizeof f->url, "%s", url);
    if (lock_open_url(&f->lm, url, &err) != 0) {
        fprintf(stderr, "cannot open %s: %s\n", url, err.msg);
        free(f);
        return -1;
    }
    lock_set_poll_interval(f->lm, 50);
    snprintf(f->prefix, sizeof f->prefix, "t%ld_%d", (long)time(NULL), (int)getpid());
    *state = f;
    return 0;
}

static int setup_sqlite(void **state) {
    char path[] = "/tmp/synctool-lock-test-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    char url[300];
    snprintf(url, sizeof url, "sqlite:%s", path);
    return open_fixture(state, url, path);
}

static int setup_redis(void **state) {
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "SYNCTOOL_TEST_REDIS_URL is not set: run under scripts/with-servers\n");
        return -1;
    }
    return open_fixture(state, url, NULL);
}

static int setup_pg(void **state) {
    char schema[64], url[600];
    pg_test_schema(schema, sizeof schema, "lockt");
    if (pg_test_url(url, sizeof url, schema) < 0) return -1;
    if (open_fixture(state, url, NULL) < 0) return -1;
    snprintf(((fixture *)*state)->pg_schema, sizeof ((fixture *)*state)->pg_schema, "%s", schema);
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    lock_close(f->lm);
    if (f->pg_schema[0]) pg_drop_schema(f->pg_schema);
    if (f->dbpath[0]) {
        char p[300];
        unlink(f->dbpath);
        snprintf(p, sizeof p, "%s-wal", f->dbpath);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", f->dbpath);
        unlink(p);
    }
    free(f);
    return 0;
}

static void test_acquire_busy_release(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a, b;
    st_error err;
    key(f, k, "abr");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &a, &err), 0);
    assert_string_equal(a.key, k);
    assert_int_equal(strlen(a.owner), 32);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &b, &err), ST_EBUSY);
    assert_non_null(strstr(err.msg, k));
    assert_int_equal(lock_release(f->lm, &a, &err), 0);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &b, &err), 0);
    assert_string_not_equal(a.owner, b.owner);
    assert_int_equal(lock_release(f->lm, &b, &err), 0);
}

/* lock_acquire_many: free keys are taken (own owners, growing fences, the
 * store's fence key), a held one answers busy without stopping the others;
 * the SQLite store does it in one transaction, Redis key by key,
 * PostgreSQL in one statement (the keys as one text[] parameter). */
static void test_acquire_many(void **state) {
    fixture *f = *state;
    char k[3][320];
    key(f, k[0], "many0");
    key(f, k[1], "many1");
    key(f, k[2], "many2 \"q\",{x}\\"); /* quotes, commas, braces: PostgreSQL's text[] */
    lock_handle held, hs[3], one;
    st_error err;
    assert_int_equal(lock_acquire(f->lm, k[1], LOCK_EXCLUSIVE, 10000, &held, &err), 0);
    const char *keys[3] = {k[0], k[1], k[2]};
    int rcs[3] = {-99, -99, -99};
    assert_int_equal(lock_acquire_many(f->lm, keys, 3, LOCK_EXCLUSIVE, 10000, hs, rcs, &err), 0);
    assert_int_equal(rcs[0], 0);
    assert_int_equal(rcs[1], ST_EBUSY);
    assert_int_equal(rcs[2], 0);
    assert_string_equal(hs[0].key, k[0]);
    assert_string_equal(hs[2].key, k[2]);
    assert_string_not_equal(hs[0].owner, hs[2].owner);
    assert_true(hs[0].fence >= 1 && hs[2].fence >= 1);
    assert_non_null(strstr(hs[0].fence_key, k[0]));
    assert_int_equal(lock_acquire(f->lm, k[0], LOCK_EXCLUSIVE, 10000, &one, &err), ST_EBUSY);
    assert_int_equal(lock_check_fence(f->lm, &hs[2], &err), 0);
    assert_int_equal(lock_release(f->lm, &hs[0], &err), 0);
    assert_int_equal(lock_release(f->lm, &hs[2], &err), 0);
    assert_int_equal(lock_release(f->lm, &held, &err), 0);
    assert_int_equal(lock_acquire_many(f->lm, keys, 3, LOCK_EXCLUSIVE, 10000, hs, rcs, &err), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rcs[i], 0);
        assert_int_equal(lock_release(f->lm, &hs[i], &err), 0);
    }
    assert_int_equal(lock_acquire_many(f->lm, keys, 3, LOCK_EXCLUSIVE, 0, hs, rcs, &err),
                     ST_EINVAL);
}

static void test_stale_owner_cannot_release_or_renew(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a, forged, b;
    st_error err;
    key(f, k, "stale");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &a, &err), 0);
    forged = a;
    snprintf(forged.owner, sizeof forged.owner, "not-the-owner");
    assert_int_equal(lock_release(f->lm, &forged, &err), ST_ESTALE);
    assert_non_null(strstr(err.msg, "no longer held"));
    assert_int_equal(lock_renew(f->lm, &forged, &err), ST_ESTALE);
    assert_int_equal(lock_check_fence(f->lm, &forged, &err), ST_ESTALE);
    /* still held by a */
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &b, &err), ST_EBUSY);
    assert_int_equal(lock_check_fence(f->lm, &a, &err), 0);
    assert_int_equal(lock_release(f->lm, &a, &err), 0);
    /* a second release is stale: nothing is released twice */
    assert_int_equal(lock_release(f->lm, &a, &err), ST_ESTALE);
}

static void test_renew_keeps_lock_past_ttl(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a, b;
    st_error err;
    key(f, k, "renew");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 1500, &a, &err), 0);
    for (int i = 0; i < 4; i++) {
        nap_ms(500);
        assert_int_equal(lock_renew(f->lm, &a, &err), 0);
    }
    /* 2 s > ttl have passed: only the renewals kept it */
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 1500, &b, &err), ST_EBUSY);
    assert_int_equal(lock_release(f->lm, &a, &err), 0);
}

/* Polls an exclusive acquisition for up to 10 s. */
static int acquire_eventually(fixture *f, const char *k, int64_t ttl, lock_handle *h) {
    int64_t end = mono_ms() + 10000;
    int rc;
    while ((rc = lock_acquire(f->lm, k, LOCK_EXCLUSIVE, ttl, h, NULL)) == ST_EBUSY &&
           mono_ms() < end)
        nap_ms(20);
    return rc;
}

static void test_ttl_expiry_frees_and_fences(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a, b;
    st_error err;
    key(f, k, "ttl");
    int64_t t0 = mono_ms();
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 300, &a, &err), 0);
    assert_int_equal(acquire_eventually(f, k, 10000, &b), 0);
    assert_true(mono_ms() - t0 >= 250); /* not before the lease ran out */
    assert_true(b.fence > a.fence);
    /* the expired holder can neither renew nor release the new lock */
    assert_int_equal(lock_renew(f->lm, &a, &err), ST_ESTALE);
    assert_int_equal(lock_release(f->lm, &a, &err), ST_ESTALE);
    assert_int_equal(lock_check_fence(f->lm, &a, &err), ST_ESTALE);
    assert_non_null(strstr(err.msg, "stale"));
    assert_int_equal(lock_check_fence(f->lm, &b, &err), 0);
    assert_int_equal(lock_release(f->lm, &b, &err), 0);
}

static void test_fencing_only_grows(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle h;
    int64_t last = 0;
    key(f, k, "fence");
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &h, NULL), 0);
        assert_true(h.fence > last);
        last = h.fence;
        assert_int_equal(lock_release(f->lm, &h, NULL), 0);
    }
}

/* A holder that finds a newer token at a destination (the lock store lost
 * its counters) raises its own above it; the counter never goes back, the
 * raised token is the one fence checks accept, and only the holder may
 * raise. The fencing key is the lock key itself, shared by every lock
 * store writing the destination. */
static void test_raise_fence_above_a_floor(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a, b;
    st_error err;
    key(f, k, "raise");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &a, &err), 0);
    assert_string_equal(a.fence_key, k);
    int64_t first = a.fence;
    assert_int_equal(lock_raise_fence(f->lm, &a, first + 100, &err), 0);
    assert_int_equal(a.fence, first + 101);
    assert_int_equal(lock_check_fence(f->lm, &a, &err), 0);
    /* a floor below the counter still moves it on by one */
    assert_int_equal(lock_raise_fence(f->lm, &a, 1, &err), 0);
    assert_int_equal(a.fence, first + 102);
    assert_int_equal(lock_renew(f->lm, &a, &err), 0);
    assert_int_equal(lock_release(f->lm, &a, &err), 0);
    assert_int_equal(lock_raise_fence(f->lm, &a, 5000, &err), ST_ESTALE);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &b, &err), 0);
    assert_int_equal(b.fence, first + 103);
    assert_int_equal(lock_raise_fence(f->lm, &a, 5000, &err), ST_ESTALE);
    assert_int_equal(lock_check_fence(f->lm, &b, &err), 0);
    assert_int_equal(lock_release(f->lm, &b, &err), 0);
}

static void test_shared_vs_exclusive(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle s1, s2, x;
    st_error err;
    key(f, k, "sx");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_SHARED, 10000, &s1, &err), 0);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_SHARED, 10000, &s2, &err), 0);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &x, &err), ST_EBUSY);
    assert_int_equal(lock_renew(f->lm, &s1, &err), 0);
    assert_int_equal(lock_release(f->lm, &s1, &err), 0);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &x, &err), ST_EBUSY);
    assert_int_equal(lock_release(f->lm, &s2, &err), 0);
    assert_int_equal(lock_release(f->lm, &s2, &err), ST_ESTALE);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &x, &err), 0);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_SHARED, 10000, &s1, &err), ST_EBUSY);
    assert_int_equal(lock_release(f->lm, &x, &err), 0);
}

static void test_shared_expiry(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle s, x;
    key(f, k, "sexp");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_SHARED, 300, &s, NULL), 0);
    assert_int_equal(acquire_eventually(f, k, 10000, &x), 0);
    assert_int_equal(lock_renew(f->lm, &s, NULL), ST_ESTALE);
    assert_int_equal(lock_release(f->lm, &x, NULL), 0);
}

typedef struct waiter {
    lock_manager *lm;
    const char *key;
    int rc;
    lock_handle h;
} waiter;

static void *wait_exclusive(void *arg) {
    waiter *w = arg;
    w->rc = lock_acquire_wait(w->lm, w->key, LOCK_EXCLUSIVE, 10000, 20000, &w->h, NULL);
    return NULL;
}

static void test_waiting_exclusive_blocks_new_shared(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle s, s2;
    st_error err;
    key(f, k, "intent");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_SHARED, 10000, &s, &err), 0);
    waiter w = {.key = k};
    assert_int_equal(lock_clone(f->lm, &w.lm, &err), 0);
    lock_set_poll_interval(w.lm, 50);
    pthread_t t;
    pthread_create(&t, NULL, wait_exclusive, &w);
    /* once the waiter has registered, new shared holders are refused */
    int64_t end = mono_ms() + 10000;
    int rc;
    while ((rc = lock_acquire(f->lm, k, LOCK_SHARED, 10000, &s2, &err)) == 0 &&
           mono_ms() < end) {
        lock_release(f->lm, &s2, NULL);
        nap_ms(10);
    }
    assert_int_equal(rc, ST_EBUSY);
    assert_non_null(strstr(err.msg, "exclusive waiter"));
    assert_int_equal(lock_release(f->lm, &s, &err), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, 0);
    assert_int_equal(w.h.mode, LOCK_EXCLUSIVE);
    assert_int_equal(lock_release(f->lm, &w.h, &err), 0);
    /* the intent is gone with the waiter */
    assert_int_equal(lock_acquire(f->lm, k, LOCK_SHARED, 10000, &s2, &err), 0);
    assert_int_equal(lock_release(f->lm, &s2, &err), 0);
    lock_close(w.lm);
}

static void test_wait_timeout_is_honoured(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a, b;
    st_error err;
    key(f, k, "timeout");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &a, &err), 0);
    int64_t t0 = mono_ms();
    assert_int_equal(lock_acquire_wait(f->lm, k, LOCK_EXCLUSIVE, 10000, 400, &b, &err),
                     ST_ETIMEOUT);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 400);
    assert_true(took < 5000);
    assert_non_null(strstr(err.msg, "still held"));
    assert_int_equal(lock_release(f->lm, &a, &err), 0);
}

static void test_list_shows_held_locks(void **state) {
    fixture *f = *state;
    char k1[320], k2[320];
    lock_handle a, s1, s2;
    key(f, k1, "list_x");
    key(f, k2, "list_s");
    assert_int_equal(lock_acquire(f->lm, k1, LOCK_EXCLUSIVE, 10000, &a, NULL), 0);
    assert_int_equal(lock_acquire(f->lm, k2, LOCK_SHARED, 10000, &s1, NULL), 0);
    assert_int_equal(lock_acquire(f->lm, k2, LOCK_SHARED, 10000, &s2, NULL), 0);
    lock_info *li = NULL;
    size_t n = 0;
    assert_int_equal(lock_list(f->lm, &li, &n, NULL), 0);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(li[i].key, k1) == 0) {
            assert_int_equal(li[i].mode, LOCK_EXCLUSIVE);
            assert_string_equal(li[i].owner, a.owner);
            assert_true(li[i].fence == a.fence);
            assert_int_equal(li[i].holders, 1);
            seen++;
        } else if (strcmp(li[i].key, k2) == 0) {
            assert_int_equal(li[i].mode, LOCK_SHARED);
            assert_int_equal(li[i].holders, 2);
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    free(li);
    lock_release(f->lm, &a, NULL);
    lock_release(f->lm, &s1, NULL);
    lock_release(f->lm, &s2, NULL);
    assert_int_equal(lock_list(f->lm, &li, &n, NULL), 0);
    for (size_t i = 0; i < n; i++) assert_string_not_equal(li[i].key, k1);
    free(li);
}

static void test_renewer_raises_cancel_on_loss(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a;
    key(f, k, "renewer");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 600, &a, NULL), 0);
    atomic_int cancel = 0;
    const lock_handle *hs[] = {&a};
    lock_renewer *r = NULL;
    assert_int_equal(lock_renewer_start(&r, f->lm, hs, 1, 200, &cancel, NULL), 0);
    nap_ms(1500); /* > ttl: alive only thanks to the renewer */
    assert_int_equal(cancel, 0);
    assert_int_equal(lock_check_fence(f->lm, &a, NULL), 0);
    /* someone removes it (as an expiry + takeover would) */
    assert_int_equal(lock_release(f->lm, &a, NULL), 0);
    int64_t end = mono_ms() + 10000;
    while (!cancel && mono_ms() < end) nap_ms(20);
    assert_int_equal(cancel, 1);
    assert_int_equal(lock_renewer_stop(r), 1); /* handle 0 was lost */
}

/* --- the job manager on a real backend: a lost lease stops the run ------- */

typedef struct steal_ctx {
    fixture *f;
    int saw_cancel;
} steal_ctx;

/* Simulates "our lease ran out and someone else took the lock": releases
 * the run's pipeline lock with its own handle, takes it as another owner,
 * then waits for the renewal thread to raise cancel. */
static int steal_and_wait(void *ud, const job_exec_ctx *ctx, state_stats *stats, st_error *err) {
    (void)stats;
    steal_ctx *s = ud;
    lock_handle other;
    if (lock_release(s->f->lm, ctx->pipeline_lock, NULL) != ST_OK ||
        lock_acquire(s->f->lm, ctx->pipeline_lock->key, LOCK_EXCLUSIVE, 10000, &other, NULL) !=
            ST_OK)
        return st_error_set(err, ST_ERR, "test setup failed");
    int64_t end = mono_ms() + 10000;
    while (!*ctx->cancel && mono_ms() < end) nap_ms(20);
    s->saw_cancel = *ctx->cancel;
    lock_release(s->f->lm, &other, NULL);
    return st_error_set(err, ST_ELOST, "lost pipeline lock");
}

static void test_job_lost_lease_cancels_execution(void **state) {
    fixture *f = *state;
    char name[96];
    snprintf(name, sizeof name, "%s_job", f->prefix);
    config_strategy strat = {.name = "full", .type = CONFIG_STRATEGY_FULL, .enabled = true};
    config_pipeline p = {.name = name, .strategies = &strat, .nstrategies = 1};
    p.destination = (config_endpoint){.datastore = f->prefix, .schema = "main", .table = "t"};
    job_opts o = {.strategy = "full", .lease_ttl_ms = 600}; /* renewal every 200 ms */
    steal_ctx s = {.f = f};
    job_result r;
    assert_int_equal(job_run(NULL, &p, &o, f->lm, NULL, steal_and_wait, &s, &r), 0);
    assert_int_equal(s.saw_cancel, 1);
    assert_int_equal(r.status, JOB_FAILED);
    assert_string_equal(r.reason_code, "lost_pipeline_lock");
    assert_string_equal(r.message, "lost pipeline lock");
    /* the table lock was still ours and is released; nothing is left held */
    lock_info *li = NULL;
    size_t n = 0;
    assert_int_equal(lock_list(f->lm, &li, &n, NULL), 0);
    for (size_t i = 0; i < n; i++) assert_null(strstr(li[i].key, f->prefix));
    free(li);
}

/* A dropped Redis connection: the call that finds it dead reports
 * ST_EUNAVAIL naming the URL, the next one reconnects. */
static void test_redis_reconnects_after_drop(void **state) {
    fixture *f = *state;
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    int port = atoi(strrchr(url, ':') + 1);
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    /* kill this process's lock connections (named synctool-lock-<pid>) */
    char mine[64];
    snprintf(mine, sizeof mine, "name=synctool-lock-%d ", (int)getpid());
    redisReply *list = redisCommand(c, "CLIENT LIST");
    assert_non_null(list);
    int killed = 0;
    for (char *line = strtok(list->str, "\n"); line; line = strtok(NULL, "\n")) {
        char *addr = strstr(line, "addr="), *nm = strstr(line, mine);
        if (addr == NULL || nm == NULL) continue;
        char a[64];
        sscanf(addr + 5, "%63s", a);
        freeReplyObject(redisCommand(c, "CLIENT KILL %s", a));
        killed++;
    }
    freeReplyObject(list);
    redisFree(c);
    assert_true(killed >= 1);
    char k[320];
    lock_handle h;
    st_error err;
    key(f, k, "reconnect");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &h, &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "unreachable"));
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &h, &err), 0);
    assert_int_equal(lock_release(f->lm, &h, &err), 0);
}

/* A PostgreSQL connection ended under us (server restart, an operator's
 * pg_terminate_backend): the call that finds it dead reports ST_EUNAVAIL
 * naming the URL without the password, the next one reconnects. */
static void test_pg_reconnects_after_drop(void **state) {
    fixture *f = *state;
    PGconn *c = pg_test_conn();
    assert_non_null(c);
    char app[64];
    snprintf(app, sizeof app, "synctool-lock-%d", (int)getpid());
    const char *pv[] = {app};
    PGresult *r = PQexecParams(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE application_name = $1", 1, NULL, pv, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 1);
    PQclear(r);
    PQfinish(c);
    char k[320];
    lock_handle h;
    st_error err;
    key(f, k, "reconnect");
    int rc = lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &h, &err);
    assert_int_equal(rc, ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "unreachable"));
    assert_non_null(strstr(err.msg, "postgresql://"));
    const char *pw = getenv("SYNCTOOL_TEST_PG_PASSWORD");
    if (pw && pw[0]) assert_null(strstr(err.msg, pw));
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &h, &err), 0);
    assert_int_equal(lock_release(f->lm, &h, &err), 0);
}

/* Leases are judged by the server's clock: a lease whose expiry the
 * server has passed is free at once, whatever the caller's clock says
 * (PostgreSQL only: the test moves the row's expiry on the server). */
static void test_pg_server_clock_judges(void **state) {
    fixture *f = *state;
    char k[320];
    lock_handle a, b;
    key(f, k, "srvclock");
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 3600000, &a, NULL), 0);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &b, NULL), ST_EBUSY);
    PGconn *c = pg_test_conn();
    assert_non_null(c);
    char sql[400];
    snprintf(sql, sizeof sql, "UPDATE \"%s\".lock_keys SET expires_at = clock_timestamp() - "
             "interval '1 ms' WHERE owner = '%s'", f->pg_schema, a.owner);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    assert_int_equal(lock_renew(f->lm, &a, NULL), ST_ESTALE);
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, 10000, &b, NULL), 0);
    assert_true(b.fence > a.fence);
    assert_int_equal(lock_release(f->lm, &b, NULL), 0);
}

/* --- the scheduler's leader lease ----------------------------------------- */

typedef struct contender {
    lock_manager *lm;
    const char *key;
    int64_t ttl_ms;
    atomic_int stop;
    lock_handle h;
    _Atomic int64_t got_at;   /* mono ms when it became leader; 0 never */
    atomic_int refused;       /* attempts refused while it stood by */
} contender;

/* A standby: tries every 20 ms, as proc_scheduler.c does every second. */
static void *stand_by(void *arg) {
    contender *c = arg;
    while (!atomic_load(&c->stop)) {
        int rc = lock_acquire(c->lm, c->key, LOCK_EXCLUSIVE, c->ttl_ms, &c->h, NULL);
        if (rc == ST_OK) {
            atomic_store(&c->got_at, mono_ms());
            return NULL;
        }
        if (rc == ST_EBUSY) atomic_fetch_add(&c->refused, 1);
        nap_ms(20);
    }
    return NULL;
}

/* One leads while it renews (the standby is refused through several
 * leases); once it stops renewing (SIGKILL, SIGSTOP) the standby leads
 * within one lease, with a larger fencing token, and the old leader's
 * renewal is refused — it must step down. */
static void test_leader_takeover_within_one_lease(void **state) {
    fixture *f = *state;
    char k[320];
    snprintf(k, sizeof k, "synctool:scheduler:leader:%s", f->prefix);
    const int64_t ttl = 900;
    lock_handle lead;
    st_error err;
    assert_int_equal(lock_acquire(f->lm, k, LOCK_EXCLUSIVE, ttl, &lead, &err), 0);
    contender c = {.key = k, .ttl_ms = ttl};
    assert_int_equal(lock_clone(f->lm, &c.lm, &err), 0);
    pthread_t t;
    pthread_create(&t, NULL, stand_by, &c);
    /* three leases of renewing every ttl/3: the standby never gets in */
    int64_t end = mono_ms() + 3 * ttl;
    while (mono_ms() < end) {
        assert_int_equal(lock_renew(f->lm, &lead, &err), 0);
        nap_ms(ttl / 3);
    }
    assert_int_equal(atomic_load(&c.got_at), 0);
    assert_true(atomic_load(&c.refused) > 0);
    /* the leader stops renewing; its last renewal happened between
     * `before` and `after` (on the store's clock its lease ends ttl later) */
    int64_t before = mono_ms();
    assert_int_equal(lock_renew(f->lm, &lead, &err), 0);
    int64_t after = mono_ms();
    pthread_join(t, NULL);
    int64_t got = atomic_load(&c.got_at);
    assert_true(got > 0);
    assert_true(got - before >= ttl - 5);   /* not before the lease ran out */
    /* and soon after (the standby tries every 20 ms; the slack is for a
     * loaded machine, not a bound on its speed) */
    assert_true(got - after <= ttl + 5000);
    assert_true(c.h.fence > lead.fence);
    assert_int_equal(lock_renew(f->lm, &lead, &err), ST_ESTALE);
    assert_int_equal(lock_check_fence(f->lm, &lead, &err), ST_ESTALE);
    assert_int_equal(lock_release(c.lm, &c.h, &err), 0);
    lock_close(c.lm);
}

static void test_key_builders(void **state) {
    (void)state;
    char b[320];
    assert_string_equal(lock_key_pipeline(b, sizeof b, "orders"), "synctool:exec:pipeline:orders");
    assert_string_equal(lock_key_enqueue(b, sizeof b, "orders"),
                        "synctool:enqueue:pipeline:orders");
    assert_string_equal(lock_key_table(b, sizeof b, "wh", "main", "orders"),
                        "synctool:table:wh:main:orders");
}

static void test_argument_errors(void **state) {
    (void)state;
    char path[] = "/tmp/synctool-lock-args-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char url[300];
    snprintf(url, sizeof url, "sqlite:%s", path);
    lock_manager *lm = NULL;
    st_error err;
    assert_int_equal(lock_open_url(&lm, url, &err), 0);
    lock_handle h;
    assert_int_equal(lock_acquire(lm, "", LOCK_EXCLUSIVE, 1000, &h, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "invalid key"));
    assert_int_equal(lock_acquire_wait(lm, NULL, LOCK_EXCLUSIVE, 1000, 10, &h, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "invalid key"));
    assert_int_equal(lock_acquire(lm, "synctool:exec:pipeline:x", LOCK_EXCLUSIVE, 0, &h, &err),
                     ST_EINVAL);
    assert_non_null(strstr(err.msg, "ttl must be positive"));
    const lock_handle *many[17] = {0};
    lock_renewer *r = NULL;
    assert_int_equal(lock_renewer_start(&r, lm, many, 17, 100, NULL, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "at most 16 handles"));
    assert_string_equal(lock_backend_name(lm), "sqlite");
    lock_close(lm);
    lock_close(NULL); /* no-op */
    assert_int_equal(lock_renewer_stop(NULL), 0);
    unlink(path);
    assert_int_equal(lock_open_url(&lm, "redis://:pw@:0/x", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "bad Redis URL"));
    assert_null(strstr(err.msg, "pw@"));
}

static void test_unreachable_backends(void **state) {
    (void)state;
    lock_manager *lm = NULL;
    st_error err;
    assert_int_equal(lock_open_url(&lm, "redis://:hunter2@127.0.0.1:1/0", &err), ST_EUNAVAIL);
    assert_null(lm);
    assert_non_null(strstr(err.msg, "redis://***@127.0.0.1:1/0"));
    assert_non_null(strstr(err.msg, "unreachable"));
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(lock_open_url(&lm, "sqlite:/proc/no/such/dir/state.db", &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "/proc/no/such/dir/state.db"));
    assert_int_equal(lock_open_url(&lm, "memcached://x", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "unsupported state URL"));
    assert_int_equal(lock_open(&lm, NULL, &err), ST_EINVAL);
    assert_string_equal(err.msg, "lock: no backend URL given");
    assert_int_equal(lock_open_url(&lm, "postgresql://u:hunter2@127.0.0.1:1/db", &err),
                     ST_EUNAVAIL);
    assert_null(lm);
    assert_non_null(strstr(err.msg, "postgresql://"));
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(lock_open_url(&lm, "sqlite:relative.db", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "absolute"));
}

#define CASES(prefix)                                                         \
    cmocka_unit_test(test_acquire_busy_release),                              \
    cmocka_unit_test(test_acquire_many),                                      \
    cmocka_unit_test(test_stale_owner_cannot_release_or_renew),               \
    cmocka_unit_test(test_renew_keeps_lock_past_ttl),                         \
    cmocka_unit_test(test_ttl_expiry_frees_and_fences),                       \
    cmocka_unit_test(test_fencing_only_grows),                                \
    cmocka_unit_test(test_raise_fence_above_a_floor),                          \
    cmocka_unit_test(test_shared_vs_exclusive),                               \
    cmocka_unit_test(test_shared_expiry),                                     \
    cmocka_unit_test(test_waiting_exclusive_blocks_new_shared),               \
    cmocka_unit_test(test_wait_timeout_is_honoured),                          \
    cmocka_unit_test(test_list_shows_held_locks),                             \
    cmocka_unit_test(test_renewer_raises_cancel_on_loss),                     \
    cmocka_unit_test(test_job_lost_lease_cancels_execution),                  \
    cmocka_unit_test(test_leader_takeover_within_one_lease)

int main(void) {
    const struct CMUnitTest sqlite_cases[] = {CASES(sqlite)};
    const struct CMUnitTest redis_cases[] = {CASES(redis),
                                             cmocka_unit_test(test_redis_reconnects_after_drop)};
    const struct CMUnitTest pg_cases[] = {CASES(pg),
                                          cmocka_unit_test(test_pg_reconnects_after_drop),
                                          cmocka_unit_test(test_pg_server_clock_judges)};
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_key_builders),
        cmocka_unit_test(test_unreachable_backends),
        cmocka_unit_test(test_argument_errors),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("LockBackendSQLite", sqlite_cases, setup_sqlite,
                                          teardown);
    failed += cmocka_run_group_tests_name("LockBackendRedis", redis_cases, setup_redis, teardown);
    failed += cmocka_run_group_tests_name("LockBackendPostgreSQL", pg_cases, setup_pg, teardown);
    failed += cmocka_run_group_tests_name("LockHelpers", plain, NULL, NULL);
    return failed;
}
