/*
 * test_redis_conn — the shared redis:// URL parser and connection set-up
 * used by the state, lock and queue backends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/redis/redis_conn.h"

static void test_parse_defaults_and_parts(void **s) {
    (void)s;
    redis_url u;
    assert_int_equal(redis_url_parse(&u, "redis://localhost", NULL), ST_OK);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.shown, "redis://localhost:6379/0");
    assert_int_equal(redis_url_parse(&u, "redis://bob:s3cret@10.0.0.1:7000/5", NULL), ST_OK);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 5);
    assert_string_equal(u.shown, "redis://***@10.0.0.1:7000/5");
    assert_int_equal(redis_url_parse(&u, "redis://:p@ss@h:1/", NULL), ST_OK);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "p@ss");
    assert_int_equal(redis_url_parse(&u, "redis://justpw@h", NULL), ST_OK);
    assert_string_equal(u.password, "justpw");
}

static void test_parse_rejects_bad_urls(void **s) {
    (void)s;
    static const struct { const char *url, *msg; } cases[] = {
        {"http://h:1/0", "bad Redis URL: not a redis:// URL"},
        {"redis:///0", "bad Redis URL: no host"},
        {"redis://:pw@:1/0", "bad Redis URL: no host"},
        {"redis://h:0/0", "bad Redis URL: bad port"},
        {"redis://h:65536/0", "bad Redis URL: bad port"},
        {"redis://h:12x/0", "bad Redis URL: bad port"},
        {"redis://h:/0", "bad Redis URL: bad port"},
        {"redis://h:1/x", "bad Redis URL: bad database number"},
        {"redis://h:1/-1", "bad Redis URL: bad database number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redis_url u;
        st_error err;
        assert_int_equal(redis_url_parse(&u, cases[i].url, &err), ST_EINVAL);
        assert_string_equal(err.msg, cases[i].msg);
        assert_null(strstr(err.msg, "pw"));
    }
}

static void test_connect_real_server_and_select(void **s) {
    (void)s;
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (url == NULL) fail_msg("SYNCTOOL_TEST_REDIS_URL is not set: run under scripts/with-servers");
    redis_url u;
    assert_int_equal(redis_url_parse(&u, url, NULL), ST_OK);
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
    redis_url u;
    redisContext *c = (redisContext *)1;
    st_error err;
    assert_int_equal(redis_url_parse(&u, "redis://x:secretpw@127.0.0.1:1/0", NULL), ST_OK);
    assert_int_equal(redis_conn_open(&c, &u, NULL, &err), ST_EUNAVAIL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "cannot connect: "));
    assert_null(strstr(err.msg, "secretpw"));
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (url == NULL) fail_msg("SYNCTOOL_TEST_REDIS_URL is not set: run under scripts/with-servers");
    assert_int_equal(redis_url_parse(&u, url, NULL), ST_OK);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_defaults_and_parts),
        cmocka_unit_test(test_parse_rejects_bad_urls),
        cmocka_unit_test(test_connect_real_server_and_select),
        cmocka_unit_test(test_connect_failures_name_the_step),
    };
    return cmocka_run_group_tests_name("redis_conn", tests, NULL, NULL);
}
