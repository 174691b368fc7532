/*
 * test_time — ISO-8601 parsing and formatting (st_time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../src/time/st_time.h"

static void test_parse_utc(void **s) {
    (void)s;
    int64_t t;
    assert_int_equal(st_time_parse("2025-10-15T10:06:00Z", &t, NULL), 0);
    assert_true(t == 1760522760LL * ST_USEC);
}

static void test_parse_offset_and_fraction(void **s) {
    (void)s;
    int64_t a, b;
    assert_int_equal(st_time_parse("2025-10-15T12:06:00.25+02:00", &a, NULL), 0);
    assert_int_equal(st_time_parse("2025-10-15T10:06:00.250000Z", &b, NULL), 0);
    assert_true(a == b);
    assert_int_equal(st_time_parse("2025-10-15 05:06:00-0500", &a, NULL), 0);
    assert_true(a == 1760522760LL * ST_USEC);
}

static void test_parse_rejects_garbage(void **s) {
    (void)s;
    const char *bad[] = {"", "garbage", "2025-10-15", "2025-10-15T10:06:00",
                         "2025-02-30T00:00:00Z", "2025-10-15T24:00:00Z",
                         "2025-10-15T10:06:00Zjunk", "2025-13-01T00:00:00Z",
                         "2025-10-15T10:06:00+25:00", "2025-10-15T10:06:00."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_error err;
        int64_t t = 42;
        assert_int_equal(st_time_parse(bad[i], &t, &err), ST_EINVAL);
        assert_non_null(strstr(err.msg, "timestamp"));
        assert_true(t == 42);
    }
}

static void test_format_roundtrip(void **s) {
    (void)s;
    char buf[40];
    st_time_format(1760522760LL * ST_USEC, buf, sizeof buf);
    assert_string_equal(buf, "2025-10-15T10:06:00Z");
    st_time_format(1760522760LL * ST_USEC + 123456, buf, sizeof buf);
    assert_string_equal(buf, "2025-10-15T10:06:00.123456Z");
    st_time_format(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    st_time_format(ST_TIME_NONE, buf, sizeof buf);
    assert_string_equal(buf, "-");
    int64_t t;
    assert_int_equal(st_time_parse("2024-02-29T23:59:59.999999Z", &t, NULL), 0);
    st_time_format(t, buf, sizeof buf);
    assert_string_equal(buf, "2024-02-29T23:59:59.999999Z");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_utc),
        cmocka_unit_test(test_parse_offset_and_fraction),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_format_roundtrip),
    };
    return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}
