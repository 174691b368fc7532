/*
 * test_http — the pure parts of the http module and of the operator pause:
 * --listen parsing (loopback detection decides whether reads need the
 * token), the constant-time token comparison, and the decision for a paused
 * strategy. The server itself is tested end to end (tests/e2e/test_http_api.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../src/http/http.h"
#include "../../src/sched/sched.h"
#include "../../src/time/st_time.h"

static void test_listen_parse_accepts_ipv4_and_ipv6(void **s) {
    (void)s;
    char addr[64];
    uint16_t port;
    bool lo;
    st_error err;
    assert_int_equal(http_listen_parse("127.0.0.1:8420", addr, sizeof addr, &port, &lo, &err),
                     ST_OK);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(port, 8420);
    assert_true(lo);
    assert_int_equal(http_listen_parse("127.9.9.9:0", addr, sizeof addr, &port, &lo, &err), ST_OK);
    assert_true(lo);
    assert_int_equal(port, 0);
    assert_int_equal(http_listen_parse("0.0.0.0:80", addr, sizeof addr, &port, &lo, &err), ST_OK);
    assert_false(lo);
    assert_int_equal(http_listen_parse("10.1.2.3:65535", addr, sizeof addr, &port, &lo, &err),
                     ST_OK);
    assert_false(lo);
    assert_int_equal(http_listen_parse("[::1]:9000", addr, sizeof addr, &port, &lo, &err), ST_OK);
    assert_string_equal(addr, "::1");
    assert_true(lo);
    assert_int_equal(http_listen_parse("[::]:9000", addr, sizeof addr, &port, &lo, &err), ST_OK);
    assert_false(lo);
}

static void test_listen_parse_rejects_with_a_message(void **s) {
    (void)s;
    static const struct { const char *in, *msg; } bad[] = {
        {"localhost", "expected ADDR:PORT"},
        {"127.0.0.1", "expected ADDR:PORT"},
        {"127.0.0.1:", "port must be 0-65535"},
        {"127.0.0.1:65536", "port must be 0-65535"},
        {"127.0.0.1:-1", "port must be 0-65535"},
        {"127.0.0.1:80x", "port must be 0-65535"},
        {":80", "missing address"},
        {"example.com:80", "is not an IP address"},
        {"[::1:80", "expected [IPV6]:PORT"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char addr[64];
        uint16_t port;
        bool lo;
        st_error err;
        assert_int_equal(http_listen_parse(bad[i].in, addr, sizeof addr, &port, &lo, &err),
                         ST_EINVAL);
        if (strstr(err.msg, bad[i].msg) == NULL) fail_msg("%s: %s", bad[i].in, err.msg);
        assert_non_null(strstr(err.msg, bad[i].in));
    }
}

static void test_token_equal(void **s) {
    (void)s;
    const char *tok = "s3cret";
    assert_true(http_token_equal("s3cret", 6, tok));
    assert_false(http_token_equal("s3cre", 5, tok));
    assert_false(http_token_equal("s3cretX", 7, tok));
    assert_false(http_token_equal("S3cret", 6, tok));
    assert_false(http_token_equal("", 0, tok));
    assert_false(http_token_equal(NULL, 0, tok));
    /* No configured token never matches anything, not even "". */
    assert_false(http_token_equal("", 0, ""));
    assert_false(http_token_equal("x", 1, NULL));
    /* The length given is what counts, not a NUL inside. */
    assert_false(http_token_equal("s3cret\0junk", 11, tok));
}

static void test_host_allowed(void **s) {
    (void)s;
    char *extra[] = {"synctool.internal", NULL};
    const char *ok[] = {"localhost", "localhost:8420", "LOCALHOST", "127.0.0.1", "127.0.0.1:1",
                        "[::1]", "[::1]:8420", "127.0.0.5:9", "synctool.internal:80"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!http_host_allowed(ok[i], "127.0.0.5", extra)) fail_msg("refused %s", ok[i]);
    const char *bad[] = {"attacker.example", "attacker.example:8420", "localhost.evil.com",
                         "127.0.0.1.nip.io", "[::1", "", "[::2]:80", "synctool.internal.x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_host_allowed(bad[i], "127.0.0.5", extra)) fail_msg("accepted %s", bad[i]);
    assert_true(http_host_allowed(NULL, "127.0.0.1", NULL)); /* HTTP/1.0: no Host */
    assert_true(http_host_allowed("[::1]:80", "::1", NULL));
}

static void test_paused_strategy_is_never_due(void **s) {
    (void)s;
    cron_expr *c = NULL;
    assert_int_equal(cron_parse(&c, "*/15 * * * *", NULL, NULL), ST_OK);
    int64_t now = (1760522760LL) * ST_USEC; /* 2025-10-15T10:06:00Z */
    sched_settings set = {.max_retry_count = 3, .fallback_window_s = 1800, .buffer_s = 60};
    state_record r;
    memset(&r, 0, sizeof r);
    r.status = STATE_SKIPPED;
    r.last_run = r.last_attempted_at = ST_TIME_NONE;
    r.last_scheduled_at = now - 6 * 60 * ST_USEC;
    r.updated_at = ST_TIME_NONE;
    sched_decision d;
    sched_should_run(&r, c, NULL, now, &set, &d);
    assert_true(d.run);   /* rule 6: a skipped run retries inside its slot */
    r.paused = true;
    sched_should_run(&r, c, NULL, now, &set, &d);
    assert_false(d.run);
    assert_string_equal(d.reason, SCHED_PAUSED_REASON);
    assert_true(d.prev != ST_TIME_NONE && d.next != ST_TIME_NONE);   /* the slot is still shown */
    /* An invalid cron still reports rule 1 first. */
    sched_should_run(&r, NULL, "bad cron", now, &set, &d);
    assert_string_equal(d.reason, "Error: bad cron");
    cron_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_parse_accepts_ipv4_and_ipv6),
        cmocka_unit_test(test_listen_parse_rejects_with_a_message),
        cmocka_unit_test(test_token_equal),
        cmocka_unit_test(test_host_allowed),
        cmocka_unit_test(test_paused_strategy_is_never_due),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
