/*
 * Unit tests for the queue module, the queue conformance suite: the same
 * checks against the in-process backend (the SQLite deployment's), the
 * Redis Streams backend against a real redis-server when
 * SYNCTOOL_TEST_REDIS_URL is set (scripts/with-servers does), each Redis
 * test on its own database number so it never sees another test's stream,
 * and the PostgreSQL backend against the harness's server
 * (SYNCTOOL_TEST_PG_*), each test in a fresh schema. Shared backends also
 * run consumers concurrently (each job acknowledged exactly once) and a
 * blocked pop woken by a push from another handle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../src/queue/queue_backend.h"
#include "support/pg_url.h"
#include "support/url_open.h"

static queue_job mk_job(const char *p, const char *s, int64_t run_id) {
    queue_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.pipeline, sizeof j.pipeline, "%s", p);
    snprintf(j.strategy, sizeof j.strategy, "%s", s);
    j.run_id = run_id;
    j.at = 1760493600000000LL;
    snprintf(j.enqueue_key, sizeof j.enqueue_key, "synctool:enqueue:pipeline:%s", p);
    snprintf(j.enqueue_owner, sizeof j.enqueue_owner, "owner-%lld", (long long)run_id);
    j.enqueue_fence = 40 + run_id;
    return j;
}

/* --- The behaviour every backend shares --- */

static void check_fifo_and_fields(queue *q) {
    st_error err;
    queue_job a = mk_job("orders", "delta", 1), b = mk_job("users", "full", 2), got;
    assert_int_equal(queue_push(q, &a, &err), 0);
    assert_int_equal(queue_push(q, &b, &err), 0);
    assert_true(a.id[0] != '\0');
    assert_string_not_equal(a.id, b.id);
    assert_int_equal(queue_pop(q, "w1", 0, &got, &err), 0);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.pipeline, "orders");
    assert_string_equal(got.strategy, "delta");
    assert_int_equal(got.run_id, 1);
    assert_int_equal(got.at, 1760493600000000LL);
    assert_string_equal(got.enqueue_key, "synctool:enqueue:pipeline:orders");
    assert_string_equal(got.enqueue_owner, "owner-1");
    assert_int_equal(got.enqueue_fence, 41);
    assert_int_equal(got.deliveries, 1);
    size_t waiting = 99, pending = 99;
    assert_int_equal(queue_count(q, &waiting, &pending, &err), 0);
    assert_int_equal(waiting, 1);
    assert_int_equal(pending, 1);
    assert_int_equal(queue_ack(q, got.id, &err), 0);
    assert_int_equal(queue_pop(q, "w1", 0, &got, &err), 0);
    assert_string_equal(got.pipeline, "users");
    assert_int_equal(queue_ack(q, got.id, &err), 0);
    assert_int_equal(queue_pop(q, "w1", 0, &got, &err), ST_ENOTFOUND);
    assert_int_equal(queue_count(q, &waiting, &pending, &err), 0);
    assert_int_equal(waiting, 0);
    assert_int_equal(pending, 0);
}

/* A consumer takes a job and dies without acknowledging: the job stays
 * pending, nobody else pops it, and claim hands it to a live consumer. */
static void check_claim_from_dead_consumer(queue *q) {
    st_error err;
    queue_job a = mk_job("orders", "hash", 7), got, claimed;
    assert_int_equal(queue_push(q, &a, &err), 0);
    assert_int_equal(queue_pop(q, "dead", 0, &got, &err), 0);
    assert_int_equal(queue_pop(q, "alive", 0, &got, &err), ST_ENOTFOUND);
    /* Not idle long enough yet. */
    assert_int_equal(queue_claim(q, "alive", 600000, &claimed, &err), ST_ENOTFOUND);
    assert_int_equal(queue_claim(q, "alive", 0, &claimed, &err), 0);
    assert_string_equal(claimed.id, a.id);
    assert_int_equal(claimed.run_id, 7);
    assert_int_equal(claimed.deliveries, 2);
    assert_int_equal(queue_ack(q, claimed.id, &err), 0);
    assert_int_equal(queue_claim(q, "alive", 0, &claimed, &err), ST_ENOTFOUND);
    /* A late ack from the dead consumer is harmless. */
    assert_int_equal(queue_ack(q, got.id, &err), 0);
}

/* A consumer busy with a long job heartbeats it: the job is then not idle
 * and not claimable; a touch by someone who does not own it is refused.
 * The pause (1.5 s) is longer than the idle threshold (1 s), so without the
 * touch the first claim would succeed whatever the machine's speed; with it
 * the claim fails unless two back-to-back calls took over a second. */
#define TOUCH_IDLE_MS 1000

static void check_touch_keeps_job(queue *q, void (*pause)(void)) {
    st_error err;
    queue_job a = mk_job("orders", "full", 9), got, claimed;
    assert_int_equal(queue_push(q, &a, &err), 0);
    assert_int_equal(queue_pop(q, "busy", 0, &got, &err), 0);
    pause();
    assert_int_equal(queue_touch(q, "busy", got.id, &err), 0);
    assert_int_equal(queue_claim(q, "thief", TOUCH_IDLE_MS, &claimed, &err), ST_ENOTFOUND);
    assert_int_equal(queue_touch(q, "thief", got.id, &err), ST_ESTALE);
    pause();
    assert_int_equal(queue_claim(q, "rescuer", TOUCH_IDLE_MS, &claimed, &err), 0);
    assert_string_equal(claimed.id, got.id);
    /* Now it is the rescuer's: the old owner's heartbeat does not steal it back. */
    assert_int_equal(queue_touch(q, "busy", got.id, &err), ST_ESTALE);
    assert_int_equal(queue_touch(q, "rescuer", got.id, &err), 0);
    assert_int_equal(queue_ack(q, got.id, &err), 0);
    assert_int_equal(queue_touch(q, "rescuer", got.id, &err), ST_ESTALE);
}

static void pause_1500ms(void) { usleep(1500 * 1000); }

/* Many jobs, consumers taking some and dying: every job is eventually
 * acknowledged exactly once by someone. */
static void check_never_lost(queue *q) {
    st_error err;
    enum { N = 25 };
    int seen[N + 1] = {0};
    for (int i = 1; i <= N; i++) {
        queue_job j = mk_job("p", "s", i);
        assert_int_equal(queue_push(q, &j, &err), 0);
    }
    queue_job got;
    for (int i = 0; i < 5; i++) assert_int_equal(queue_pop(q, "crashy", 0, &got, &err), 0);
    int done = 0;
    while (done < N) {
        int rc = queue_pop(q, "steady", 0, &got, &err);
        if (rc == ST_ENOTFOUND) rc = queue_claim(q, "steady", 0, &got, &err);
        assert_int_equal(rc, 0);
        assert_true(got.run_id >= 1 && got.run_id <= N);
        seen[got.run_id]++;
        assert_int_equal(queue_ack(q, got.id, &err), 0);
        done++;
    }
    for (int i = 1; i <= N; i++) assert_int_equal(seen[i], 1);
    size_t waiting, pending;
    assert_int_equal(queue_count(q, &waiting, &pending, &err), 0);
    assert_int_equal(waiting + pending, 0);
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Consumers racing on one queue, each on its own handle (as worker
 * processes are): every job is delivered to exactly one of them and
 * acknowledged once. */
enum { RACE_JOBS = 60, RACE_CONSUMERS = 4 };

typedef struct racer {
    const char *url;
    char name[16];
    int got[RACE_JOBS + 1];
    int failed;
} racer;

static void *race_consume(void *arg) {
    racer *r = arg;
    queue *q = NULL;
    if (queue_open_url(&q, r->url, NULL) != 0) {
        r->failed = 1;
        return NULL;
    }
    queue_job j;
    int rc;
    while ((rc = queue_pop(q, r->name, 0, &j, NULL)) == 0) {
        if (j.run_id < 1 || j.run_id > RACE_JOBS || queue_ack(q, j.id, NULL) != 0) r->failed = 1;
        else r->got[j.run_id]++;
    }
    if (rc != ST_ENOTFOUND) r->failed = 1;
    queue_close(q);
    return NULL;
}

static void check_concurrent_exactly_once(const char *url) {
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    for (int i = 1; i <= RACE_JOBS; i++) {
        queue_job j = mk_job("race", "full", i);
        assert_int_equal(queue_push(q, &j, &err), 0);
    }
    static racer rs[RACE_CONSUMERS];
    pthread_t t[RACE_CONSUMERS];
    for (int i = 0; i < RACE_CONSUMERS; i++) {
        memset(&rs[i], 0, sizeof rs[i]);
        rs[i].url = url;
        snprintf(rs[i].name, sizeof rs[i].name, "c%d", i);
        pthread_create(&t[i], NULL, race_consume, &rs[i]);
    }
    for (int i = 0; i < RACE_CONSUMERS; i++) pthread_join(t[i], NULL);
    for (int j = 1; j <= RACE_JOBS; j++) {
        int n = 0;
        for (int i = 0; i < RACE_CONSUMERS; i++) n += rs[i].got[j];
        assert_int_equal(n, 1);
    }
    for (int i = 0; i < RACE_CONSUMERS; i++) assert_int_equal(rs[i].failed, 0);
    size_t waiting, pending;
    assert_int_equal(queue_count(q, &waiting, &pending, &err), 0);
    assert_int_equal(waiting + pending, 0);
    queue_close(q);
}

/* An idle consumer blocked in pop wakes when another handle pushes, long
 * before its block ends; an empty pop still returns after block_ms (a lost
 * wake-up is never a hang). PostgreSQL's NOTIFY (Redis's XREADGROUP BLOCK
 * is bounded by its 5 s command timeout, so a 60 s block is not for it). */
typedef struct blocked {
    queue *q;
    int rc;
    queue_job got;
    int64_t took_ms;
} blocked;

static void *block_pop(void *arg) {
    blocked *b = arg;
    int64_t t0 = mono_ms();
    b->rc = queue_pop(b->q, "idle", 60000, &b->got, NULL);
    b->took_ms = mono_ms() - t0;
    return NULL;
}

static void check_push_wakes_blocked_pop(const char *url) {
    queue *pusher, *w;
    st_error err;
    assert_int_equal(queue_open_url(&pusher, url, &err), 0);
    assert_int_equal(queue_open_url(&w, url, &err), 0);
    int64_t t0 = mono_ms();
    queue_job none;
    assert_int_equal(queue_pop(w, "idle", 300, &none, &err), ST_ENOTFOUND);
    assert_true(mono_ms() - t0 >= 300);
    blocked b = {.q = w};
    pthread_t t;
    pthread_create(&t, NULL, block_pop, &b);
    usleep(200 * 1000);   /* ordering only: a push before the pop is found at once too */
    queue_job j = mk_job("wake", "full", 5);
    assert_int_equal(queue_push(pusher, &j, &err), 0);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.got.run_id, 5);
    assert_true(b.took_ms < 30000);   /* woken, not the 60 s block run out */
    assert_int_equal(queue_ack(w, b.got.id, &err), 0);
    queue_close(pusher);
    queue_close(w);
}

/* --- Local backend --- */

static void test_local_fifo(void **s) {
    (void)s;
    queue *q;
    st_error err;
    assert_int_equal(queue_open_local(&q, &err), 0);
    assert_string_equal(queue_backend_name(q), "local");
    check_fifo_and_fields(q);
    queue_close(q);
}

static void test_local_claim(void **s) {
    (void)s;
    queue *q;
    assert_int_equal(queue_open_local(&q, NULL), 0);
    check_claim_from_dead_consumer(q);
    queue_close(q);
}

static void test_local_never_lost(void **s) {
    (void)s;
    queue *q;
    assert_int_equal(queue_open_local(&q, NULL), 0);
    check_never_lost(q);
    queue_close(q);
}

static void test_local_touch(void **s) {
    (void)s;
    queue *q;
    assert_int_equal(queue_open_local(&q, NULL), 0);
    check_touch_keeps_job(q, pause_1500ms);
    queue_close(q);
}

static void test_open_bad_scheme(void **s) {
    (void)s;
    queue *q = (queue *)1;
    st_error err;
    assert_int_equal(queue_open_url(&q, "amqp://x", &err), ST_EINVAL);
    assert_null(q);
    assert_non_null(strstr(err.msg, "unsupported state URL"));
    q = (queue *)1;
    assert_int_equal(queue_open(&q, NULL, &err), ST_EINVAL);
    assert_null(q);
    assert_string_equal(err.msg, "queue: no state URL given");
    queue_close(NULL);
}

static void mock_close(void *be) { (void)be; }
static const struct queue_ops mock_v0 = {.version = 0, .name = "old", .close = mock_close};

static void test_open_with_wrong_version(void **s) {
    (void)s;
    queue *q;
    st_error err;
    assert_int_equal(queue_open_with_ops(&q, &mock_v0, NULL, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "backend table version 0"));
}

/* --- Redis backend --- */

/* SYNCTOOL_TEST_REDIS_URL with its database number replaced by `db`, the
 * stream there deleted first. */
static int redis_url_for(char *buf, size_t n, int db) {
    const char *base = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (base == NULL || base[0] == '\0') return -1;
    const char *hostport = base + strlen("redis://");
    const char *slash = strchr(hostport, '/');
    int len = slash ? (int)(slash - base) : (int)strlen(base);
    snprintf(buf, n, "%.*s/%d", len, base, db);
    char host[128];
    int port = 6379;
    sscanf(hostport, "%127[^:]:%d", host, &port);
    redisContext *c = redisConnect(host, port);
    assert_true(c != NULL && c->err == 0);
    freeReplyObject(redisCommand(c, "SELECT %d", db));
    freeReplyObject(redisCommand(c, "DEL %s", QUEUE_STREAM_KEY));
    redisFree(c);
    return 0;
}

#define REDIS_OR_SKIP(db)                                                   \
    char url[256];                                                          \
    if (redis_url_for(url, sizeof url, db) != 0) {                          \
        skip();                                                             \
    }

static void test_redis_fifo(void **s) {
    (void)s;
    REDIS_OR_SKIP(1);
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    assert_string_equal(queue_backend_name(q), "redis");
    check_fifo_and_fields(q);
    queue_close(q);
}

static void test_redis_claim(void **s) {
    (void)s;
    REDIS_OR_SKIP(2);
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    check_claim_from_dead_consumer(q);
    queue_close(q);
}

static void test_redis_never_lost(void **s) {
    (void)s;
    REDIS_OR_SKIP(3);
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    check_never_lost(q);
    queue_close(q);
}

/* Two handles = two processes: a job pushed by the scheduler's handle is
 * popped by the worker's, once; a blocking pop on an empty stream times out. */
static void test_redis_two_handles_and_block(void **s) {
    (void)s;
    REDIS_OR_SKIP(4);
    queue *sched, *w1, *w2;
    st_error err;
    assert_int_equal(queue_open_url(&sched, url, &err), 0);
    assert_int_equal(queue_open_url(&w1, url, &err), 0);
    assert_int_equal(queue_open_url(&w2, url, &err), 0);
    queue_job j = mk_job("orders", "full", 3), got;
    assert_int_equal(queue_push(sched, &j, &err), 0);
    assert_int_equal(queue_pop(w1, "w1", 100, &got, &err), 0);
    assert_int_equal(got.run_id, 3);
    assert_int_equal(queue_pop(w2, "w2", 100, &got, &err), ST_ENOTFOUND);
    assert_int_equal(queue_ack(w1, got.id, &err), 0);
    queue_close(sched);
    queue_close(w1);
    queue_close(w2);
}

/* Jobs pushed before any worker created the group are still delivered. */
static void test_redis_push_before_group(void **s) {
    (void)s;
    REDIS_OR_SKIP(5);
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    queue_job j = mk_job("early", "full", 1), got;
    assert_int_equal(queue_push(q, &j, &err), 0);
    queue_close(q);
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    assert_int_equal(queue_pop(q, "w", 0, &got, &err), 0);
    assert_string_equal(got.pipeline, "early");
    assert_int_equal(queue_ack(q, got.id, &err), 0);
    queue_close(q);
}

static void test_redis_touch(void **s) {
    (void)s;
    REDIS_OR_SKIP(6);
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    check_touch_keeps_job(q, pause_1500ms);
    queue_close(q);
}

static void test_redis_unreachable(void **s) {
    (void)s;
    queue *q;
    st_error err;
    /* Port 1 on loopback: nothing listens there. */
    int rc = queue_open_url(&q, "redis://user:s3cret@127.0.0.1:1/0", &err);
    assert_int_equal(rc, ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_null(strstr(err.msg, "s3cret"));
}

static void test_redis_bad_port(void **s) {
    (void)s;
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, "redis://127.0.0.1:notaport/0", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "bad Redis URL: bad port"));
    assert_int_equal(queue_open_url(&q, "redis://127.0.0.1:6379/x", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "bad Redis URL: bad database number"));
}

/* --- PostgreSQL backend --- */

/* A fresh schema's URL, or skip (with a message) without the harness. */
#define PG_OR_SKIP()                                                        \
    char schema[64], url[600];                                              \
    pg_test_schema(schema, sizeof schema, "queuet");                        \
    if (pg_test_url(url, sizeof url, schema) != 0) {                        \
        skip();                                                             \
    }

static void test_pg_fifo(void **s) {
    (void)s;
    PG_OR_SKIP();
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    assert_string_equal(queue_backend_name(q), "postgresql");
    check_fifo_and_fields(q);
    queue_close(q);
    pg_drop_schema(schema);
}

static void test_pg_claim(void **s) {
    (void)s;
    PG_OR_SKIP();
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    check_claim_from_dead_consumer(q);
    queue_close(q);
    pg_drop_schema(schema);
}

static void test_pg_never_lost(void **s) {
    (void)s;
    PG_OR_SKIP();
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    check_never_lost(q);
    queue_close(q);
    pg_drop_schema(schema);
}

static void test_pg_touch(void **s) {
    (void)s;
    PG_OR_SKIP();
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    check_touch_keeps_job(q, pause_1500ms);
    queue_close(q);
    pg_drop_schema(schema);
}

static void test_pg_concurrent_exactly_once(void **s) {
    (void)s;
    PG_OR_SKIP();
    check_concurrent_exactly_once(url);
    pg_drop_schema(schema);
}

static void test_pg_notify_wakes_idle_worker(void **s) {
    (void)s;
    PG_OR_SKIP();
    check_push_wakes_blocked_pop(url);
    pg_drop_schema(schema);
}

/* The server ends the connection (restart, pg_terminate_backend): the call
 * that finds out is ST_EUNAVAIL naming the URL without its password; the
 * next reconnects, LISTENs again, and nothing queued is lost. */
static void test_pg_reconnects(void **s) {
    (void)s;
    PG_OR_SKIP();
    queue *q;
    st_error err;
    assert_int_equal(queue_open_url(&q, url, &err), 0);
    queue_job j = mk_job("orders", "full", 4), got;
    assert_int_equal(queue_push(q, &j, &err), 0);
    PGconn *c = pg_test_conn();
    assert_non_null(c);
    char app[64];
    snprintf(app, sizeof app, "synctool-queue-%d", (int)getpid());
    const char *pv[] = {app};
    PQclear(PQexecParams(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = $1", 1, NULL, pv, NULL, NULL, 0));
    PQfinish(c);
    /* The server's goodbye may already sit on the socket (the connection is
     * then replaced before the call and the call works) or not yet (the call
     * fails as unreachable and the next one connects): never two failures. */
    int rc = queue_pop(q, "w", 0, &got, &err);
    if (rc != 0) {
        assert_int_equal(rc, ST_EUNAVAIL);
        assert_non_null(strstr(err.msg, "unreachable"));
        const char *pw = getenv("SYNCTOOL_TEST_PG_PASSWORD");
        if (pw && pw[0]) assert_null(strstr(err.msg, pw));
        rc = queue_pop(q, "w", 0, &got, &err);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got.run_id, 4);
    assert_int_equal(queue_ack(q, got.id, &err), 0);
    queue_close(q);
    pg_drop_schema(schema);
}

static void test_pg_unreachable(void **s) {
    (void)s;
    queue *q;
    st_error err;
    int rc = queue_open_url(&q, "postgresql://user:s3cret@127.0.0.1:1/db", &err);
    assert_int_equal(rc, ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_null(strstr(err.msg, "s3cret"));
}

static void test_redis_concurrent_exactly_once(void **s) {
    (void)s;
    REDIS_OR_SKIP(7);
    check_concurrent_exactly_once(url);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_fifo),
        cmocka_unit_test(test_local_claim),
        cmocka_unit_test(test_local_never_lost),
        cmocka_unit_test(test_local_touch),
        cmocka_unit_test(test_open_bad_scheme),
        cmocka_unit_test(test_open_with_wrong_version),
        cmocka_unit_test(test_redis_fifo),
        cmocka_unit_test(test_redis_claim),
        cmocka_unit_test(test_redis_never_lost),
        cmocka_unit_test(test_redis_two_handles_and_block),
        cmocka_unit_test(test_redis_push_before_group),
        cmocka_unit_test(test_redis_touch),
        cmocka_unit_test(test_redis_unreachable),
        cmocka_unit_test(test_redis_bad_port),
        cmocka_unit_test(test_redis_concurrent_exactly_once),
        cmocka_unit_test(test_pg_fifo),
        cmocka_unit_test(test_pg_claim),
        cmocka_unit_test(test_pg_never_lost),
        cmocka_unit_test(test_pg_touch),
        cmocka_unit_test(test_pg_concurrent_exactly_once),
        cmocka_unit_test(test_pg_notify_wakes_idle_worker),
        cmocka_unit_test(test_pg_reconnects),
        cmocka_unit_test(test_pg_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
