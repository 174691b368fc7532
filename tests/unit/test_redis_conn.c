/*
 * test_redis_conn — the shared Redis connection set-up used by the state,
 * lock and queue backends (the URL parser has test_backend_url).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/redis/redis_conn.h"

static void test_connect_real_server_and_select(void **s) {
    (void)s;
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (url == NULL) fail_msg("SYNCTOOL_TEST_REDIS_URL is not set: run under scripts/with-servers");
    backend_url u;
    assert_int_equal(burl_parse(&u, url, NULL), ST_OK);
    u.db = 9;
    redisContext *c;
    st_error err;
    assert_int_equal(redis_conn_open(&c, &u, "synctool-test-conn", &err), ST_OK);
    redisReply *r = redisCommand(c, "CLIENT GETNAME");
    assert_non_null(r);
    assert_string_equal(r->str, "synctool-test-conn");
    freeReplyObject(r);
    r = redisCommand(c, "CLIENT INFO");
    assert_non_null(strstr(r->str, "db=9"));
    freeReplyObject(r);
    redisFree(c);
}

static void test_connect_failures_name_the_step(void **s) {
    (void)s;
    backend_url u;
    redisContext *c = (redisContext *)1;
    st_error err;
    assert_int_equal(burl_parse(&u, "redis://x:secretpw@127.0.0.1:1/0", NULL), ST_OK);
    assert_int_equal(redis_conn_open(&c, &u, NULL, &err), ST_EUNAVAIL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "cannot connect: "));
    assert_null(strstr(err.msg, "secretpw"));
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (url == NULL) fail_msg("SYNCTOOL_TEST_REDIS_URL is not set: run under scripts/with-servers");
    assert_int_equal(burl_parse(&u, url, NULL), ST_OK);
    snprintf(u.password, sizeof u.password, "secretpw"); /* server has no password */
    /* a refused password is a config error, not an outage to wait out */
    assert_int_equal(redis_conn_open(&c, &u, NULL, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "auth refused: "));
    assert_non_null(strstr(err.msg, "check the user and password"));
    assert_null(strstr(err.msg, "secretpw"));
    u.password[0] = '\0';
    u.db = 100000; /* beyond the server's databases */
    assert_int_equal(redis_conn_open(&c, &u, NULL, &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "select: "));
}

static void test_rediss_not_implemented(void **s) {
    (void)s;
    backend_url u;
    redisContext *c = (redisContext *)1;
    st_error err;
    assert_int_equal(burl_parse(&u, "rediss://:secretpw@127.0.0.1:1/0", NULL), ST_OK);
    assert_int_equal(redis_conn_open(&c, &u, NULL, &err), ST_ENOTIMPL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "rediss://"));
    assert_null(strstr(err.msg, "secretpw"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rediss_not_implemented),
        cmocka_unit_test(test_connect_real_server_and_select),
        cmocka_unit_test(test_connect_failures_name_the_step),
    };
    return cmocka_run_group_tests_name("redis_conn", tests, NULL, NULL);
}
