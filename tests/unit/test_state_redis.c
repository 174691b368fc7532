/*
 * test_state_redis — the shared state behaviour cases (state_cases.h)
 * against a real redis-server ($SYNCTOOL_TEST_REDIS_URL, set by
 * scripts/with-servers and make test), in database 14 which this test
 * flushes before every case and at the end. Plus what only Redis has: an
 * unreachable server, password masking, and the index/list pipelining.
 */
#include "state_cases.h"
#include "support/url_open.h"

#include <hiredis.h>

#define TEST_DB 14

static char g_url[512];
static char g_host[256];
static int g_port;

static redisContext *raw_connect(void) {
    redisContext *c = redisConnect(g_host, g_port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "SELECT %d", TEST_DB);
    assert_non_null(r);
    freeReplyObject(r);
    return c;
}

static void redis_wipe(void) {
    redisContext *c = raw_connect();
    freeReplyObject(redisCommand(c, "FLUSHDB"));
    redisFree(c);
}

static int redis_open_test(state **out, st_error *err) { return state_open_url(out, g_url, err); }

static void redis_corrupt(const char *p, const char *s, const char *field, const char *raw) {
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "HSET synctool:state:%s:%s %s %s", p, s, field, raw);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
}

static const state_test_backend redis_backend = {
    "redis", redis_wipe, redis_open_test, redis_corrupt};

static void test_unreachable_is_unavail(void **ctx) {
    (void)ctx;
    state *st;
    st_error err;
    assert_int_equal(state_open_url(&st, "redis://127.0.0.1:1/3", &err), ST_EUNAVAIL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "state redis redis://127.0.0.1:1/3: cannot connect"));
}

static void test_password_never_shown(void **ctx) {
    (void)ctx;
    state *st;
    st_error err;
    assert_int_equal(state_open_url(&st, "redis://admin:s3cret@127.0.0.1:1/0", &err), ST_EUNAVAIL);
    assert_null(strstr(err.msg, "s3cret"));
    assert_null(strstr(err.msg, "admin"));
    assert_non_null(strstr(err.msg, "redis://***@127.0.0.1:1/0"));
    /* a wrong password against the real server: refused, still masked */
    char url[600];
    snprintf(url, sizeof url, "redis://:hunter2@%s:%d/0", g_host, g_port);
    assert_int_not_equal(state_open_url(&st, url, &err), ST_OK);
    assert_null(strstr(err.msg, "hunter2"));
}

/* Bad URL text is refused by burl_parse (test_backend_url); the constructor
 * refuses a value it cannot use: none at all, or rediss:// (no TLS here). */
static void test_bad_urls(void **ctx) {
    (void)ctx;
    state *st;
    st_error err;
    backend_url none = {0};
    assert_int_equal(state_open(&st, &none, &err), ST_EINVAL);
    assert_string_equal(err.msg, "state: no URL given");
    assert_int_equal(state_open(&st, NULL, &err), ST_EINVAL);
    assert_int_equal(state_open_url(&st, "rediss://:s3cret@127.0.0.1:1/0", &err), ST_ENOTIMPL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "rediss://***@127.0.0.1:1/0"));
    assert_non_null(strstr(err.msg, "not supported"));
    assert_null(strstr(err.msg, "s3cret"));
}

static void test_layout_and_big_list(void **ctx) {
    (void)ctx;
    redis_wipe();
    state *st;
    assert_int_equal(state_open_url(&st, g_url, NULL), ST_OK);
    assert_string_equal(state_backend_name(st), "redis");
    enum { N = 2500 }; /* more than two pipelining chunks */
    state_record *recs = calloc(N, sizeof *recs);
    for (int i = 0; i < N; i++) {
        recs[i] = seeded("", "");
        snprintf(recs[i].pipeline, sizeof recs[i].pipeline, "p%05d", i);
        snprintf(recs[i].strategy, sizeof recs[i].strategy, "full");
        recs[i].run_id = i + 1;
    }
    assert_int_equal(state_put_many(st, recs, N, NULL), ST_OK);
    state_record *all;
    size_t n;
    st_error err;
    assert_int_equal(state_list(st, &all, &n, &err), ST_OK);
    assert_int_equal(n, N);
    assert_record(&all[N - 1], &recs[N - 1]);
    free(all);
    /* the run id counter stays ahead of imported ids */
    int64_t id;
    assert_int_equal(state_new_run_id(st, &id, NULL), ST_OK);
    assert_true(id > N);
    free(recs);
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "TYPE synctool:state:p00001:full");
    assert_string_equal(r->str, "hash");
    freeReplyObject(r);
    r = redisCommand(c, "ZCARD synctool:state:index");
    assert_int_equal(r->integer, N);
    freeReplyObject(r);
    redisFree(c);
    state_close(st);
}

/* The listing reads each record by HMGET in field order: a member of the
 * index whose hash is gone (or is not a hash) is no record, and a hash
 * that lacks optional fields reads them as unknown. */
static void test_list_by_field_order(void **ctx) {
    state *st = *ctx;
    state_record a = seeded("a", "full"), b = seeded("b", "full");
    put_seed(st, &a);
    put_seed(st, &b);
    redisContext *c = raw_connect();
    freeReplyObject(redisCommand(c, "ZADD synctool:state:index 0 gone:full 0 str:full"));
    freeReplyObject(redisCommand(c, "SET synctool:state:str:full x"));
    freeReplyObject(redisCommand(c, "HDEL synctool:state:b:full worker message paused"));
    redisFree(c);
    b.worker[0] = b.message[0] = '\0';
    state_record *all;
    size_t n;
    st_error err;
    assert_int_equal(state_list(st, &all, &n, &err), ST_OK);
    assert_int_equal(n, 2);
    assert_record(&all[0], &a);
    assert_record(&all[1], &b);
    free(all);
    state_listing *l;
    assert_int_equal(state_listing_read(st, &l, &err), ST_OK);
    assert_int_equal(state_listing_len(l), 2);
    state_record got;
    assert_true(state_listing_get(l, "b", "full", &got));
    assert_record(&got, &b);
    state_listing_free(l);
}

static int stop_at_1500(void *ud, const state_record *r) {
    (void)r;
    return ++*(int *)ud == 1500 ? ST_EINTR : ST_OK;
}

/* list_each keeps a chunk of HMGETs in flight ahead of the one it decodes
 * and pages the index 8000 members at a time: 8,500 records come back
 * once each, in order; a callback that stops the listing mid-chunk gets
 * its code back and the connection stays in step for the next command. */
static void test_list_each_pages_and_stops(void **ctx) {
    state *st = *ctx;
    enum { N = 8500 };
    state_record *recs = calloc(N, sizeof *recs);
    for (int i = 0; i < N; i++) {
        recs[i] = seeded("", "full");
        snprintf(recs[i].pipeline, sizeof recs[i].pipeline, "p%05d", i);
        recs[i].run_id = i + 1;
    }
    assert_int_equal(state_put_many(st, recs, N, NULL), ST_OK);
    state_listing *l;
    st_error err;
    assert_int_equal(state_listing_read(st, &l, &err), ST_OK);
    assert_int_equal(state_listing_len(l), N);
    state_record got;
    int probe[] = {0, 999, 1000, 7999, 8000, N - 1};
    for (size_t k = 0; k < sizeof probe / sizeof *probe; k++) {
        assert_true(state_listing_get(l, recs[probe[k]].pipeline, "full", &got));
        assert_record(&got, &recs[probe[k]]);
    }
    state_listing_free(l);
    int seen = 0;
    assert_int_equal(state_list_each(st, stop_at_1500, &seen, &err), ST_EINTR);
    assert_int_equal(seen, 1500);
    got = get_ok(st, "p08499", "full");
    assert_record(&got, &recs[N - 1]);
    free(recs);
}

static void test_history_is_a_list(void **ctx) {
    state *st = *ctx;
    finish(st, "p", "s", 1, STATE_FAILED, T0, T0, "", "boom");
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "LLEN synctool:history:p:s");
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);
}

static void test_noscript_reloads(void **ctx) {
    state *st = *ctx;
    redisContext *c = raw_connect();
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    redisFree(c);
    assert_int_equal(state_mark_pending(st, "p", "s", 1, T0, NULL), ST_OK);
}

int main(void) {
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "test_state_redis: SYNCTOOL_TEST_REDIS_URL is not set; run through "
                        "scripts/with-servers (make unit / make test)\n");
        return 1;
    }
    if (sscanf(url, "redis://%255[^:]:%d", g_host, &g_port) != 2) {
        fprintf(stderr, "test_state_redis: cannot parse SYNCTOOL_TEST_REDIS_URL '%s'\n", url);
        return 1;
    }
    snprintf(g_url, sizeof g_url, "redis://%s:%d/%d", g_host, g_port, TEST_DB);
    TB = &redis_backend;
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_unreachable_is_unavail),
        cmocka_unit_test(test_password_never_shown),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_layout_and_big_list),
        STATE_CASE(test_list_by_field_order),
        STATE_CASE(test_list_each_pages_and_stops),
        STATE_CASE(test_history_is_a_list),
        STATE_CASE(test_noscript_reloads),
    };
    int failed = cmocka_run_group_tests_name("state_redis", state_cases, NULL, NULL);
    failed += cmocka_run_group_tests_name("state_redis_own", own, NULL, NULL);
    redis_wipe();
    return failed;
}
