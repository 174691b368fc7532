/*
 * test_time — ISO-8601 parsing and formatting (st_time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

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

/* A time without an offset is UTC (DESIGN §5), with or without seconds
 * and fraction. */
static void test_parse_naive_is_utc(void **s) {
    (void)s;
    int64_t a = 0, b = 0;
    assert_int_equal(st_time_parse("2025-10-15T10:06:00", &a, NULL), ST_OK);
    assert_int_equal(st_time_parse("2025-10-15T10:06:00Z", &b, NULL), ST_OK);
    assert_true(a == b);
    assert_int_equal(st_time_parse("2025-10-15 10:06", &a, NULL), ST_OK);
    assert_true(a == b);
    assert_int_equal(st_time_parse("2025-10-15T10:06:00.250", &a, NULL), ST_OK);
    assert_true(a == b + 250000);
}

static void test_parse_rejects_garbage(void **s) {
    (void)s;
    const char *bad[] = {"", "garbage", "2025-10-15",
                         "2025-02-30T00:00:00Z", "2025-10-15T24:00:00Z",
                         "2025-10-15T10:06:00Zjunk", "2025-13-01T00:00:00Z",
                         "2025-10-15T10:06:00+25:00", "2025-10-15T10:06:00.",
                         "2025-10-15T10:06:00+05:", "2025-10-15T10:06:00+05:3",
                         "2025-10-15T10:06:00+0560", "2025-10-15T10:06:00.1234567890Z",
                         " 2025-10-15T10:06:00Z", "2025-10-15T10:06:00Z ",
                         "2025-10-15T10:06:60Z", "2025-10-15T10:60:00Z",
                         "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
                         "2025-04-31T00:00:00Z", "2025-10-15X10:06:00Z",
                         "2025-1-15T10:06:00Z", "+2025-10-15T10:06:00Z",
                         "2025-10-15T10:06:00+05:30junk", "2025-10-15T10:06:00+"};
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
    /* digits by hand (issue 25): padding, the year 10000, a short buffer */
    assert_int_equal(st_time_parse("0001-01-01T00:00:00.000001Z", &t, NULL), 0);
    st_time_format(t, buf, sizeof buf);
    assert_string_equal(buf, "0001-01-01T00:00:00.000001Z");
    st_time_format(253402300800LL * ST_USEC, buf, sizeof buf);
    assert_string_equal(buf, "10000-01-01T00:00:00Z");
    char small[12];
    st_time_format(1760522760LL * ST_USEC, small, sizeof small);
    assert_string_equal(small, "2025-10-15T");
}

static void test_parse_forms(void **s) {
    (void)s;
    int64_t a, b;
    const int64_t want = 1760522760LL * ST_USEC;
    const char *same[] = {"2025-10-15t10:06:00z", "2025-10-15T10:06Z",
                          "2025-10-15T15:36:00+05:30", "2025-10-15T15:36:00+0530",
                          "2025-10-15T15:06:00+05", "2025-10-15T10:06:00-00:00",
                          "2025-10-15T10:06:00.000000000Z", "2025-10-15T10:06:00,0Z"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(st_time_parse(same[i], &a, NULL), 0);
        assert_true(a == want);
    }
    /* fractions: up to 9 digits, truncated to microseconds */
    assert_int_equal(st_time_parse("2025-10-15T10:06:00.123456789Z", &a, NULL), 0);
    assert_true(a == want + 123456);
    assert_int_equal(st_time_parse("2025-10-15T10:06:00.5Z", &b, NULL), 0);
    assert_true(b == want + 500000);
    /* leap days */
    assert_int_equal(st_time_parse("2000-02-29T00:00:00Z", &a, NULL), 0);
    assert_int_equal(st_time_parse("2024-02-29T00:00:00Z", &a, NULL), 0);
}

static void test_parse_year_bounds(void **s) {
    (void)s;
    int64_t t = 7;
    st_error err;
    assert_int_equal(st_time_parse("0000-01-01T00:00:00Z", &t, NULL), 0);
    assert_int_equal(st_time_parse("9999-12-31T23:59:59.999999Z", &t, NULL), 0);
    /* valid text, but the instant would leave 0000-9999 in UTC */
    t = 7;
    assert_int_equal(st_time_parse("0000-01-01T00:00:00+01:00", &t, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "outside years 0000-9999"));
    assert_non_null(strstr(err.msg, "'0000-01-01T00:00:00+01:00'"));
    assert_int_equal(st_time_parse("9999-12-31T23:59:59-01:00", &t, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "outside years 0000-9999"));
    assert_true(t == 7);
    char buf[40];
    assert_int_equal(st_time_parse("0000-01-01T00:00:00Z", &t, NULL), 0);
    st_time_format(t, buf, sizeof buf);
    assert_string_equal(buf, "0000-01-01T00:00:00Z");
}

static void test_format_offset(void **s) {
    (void)s;
    char buf[48];
    const int64_t t = 1760522760LL * ST_USEC;
    st_time_format_offset(t, 7200, buf, sizeof buf);
    assert_string_equal(buf, "2025-10-15T12:06:00+02:00");
    st_time_format_offset(t, -4 * 3600, buf, sizeof buf);
    assert_string_equal(buf, "2025-10-15T06:06:00-04:00");
    st_time_format_offset(t, 0, buf, sizeof buf);
    assert_string_equal(buf, "2025-10-15T10:06:00+00:00");
    st_time_format_offset(t, 5 * 3600 + 45 * 60, buf, sizeof buf);
    assert_string_equal(buf, "2025-10-15T15:51:00+05:45");
    st_time_format_offset(t + 250000, -(53 * 60 + 28), buf, sizeof buf);
    assert_string_equal(buf, "2025-10-15T09:12:32.250000-00:53:28");
    st_time_format_offset(ST_TIME_NONE, 3600, buf, sizeof buf);
    assert_string_equal(buf, "-");
    /* the text parses back to the same instant */
    int64_t back;
    st_time_format_offset(t, -4 * 3600, buf, sizeof buf);
    assert_int_equal(st_time_parse(buf, &back, NULL), 0);
    assert_true(back == t);
}

static void test_civil_roundtrip(void **s) {
    (void)s;
    /* every day from year -100 to 10100: inverse functions, monotone dates */
    int64_t start = st_days_from_civil(-100, 1, 1), end = st_days_from_civil(10100, 1, 1);
    int64_t py = -101;
    unsigned pm = 12, pd = 31;
    for (int64_t z = start; z < end; z++) {
        int64_t y;
        unsigned m, d;
        st_civil_from_days(z, &y, &m, &d);
        assert_true(st_days_from_civil(y, m, d) == z);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= st_days_in_month(y, m));
        int next_day = (y == py && m == pm && d == pd + 1) ||
                       (y == py && m == pm + 1 && d == 1 && pd == st_days_in_month(py, pm)) ||
                       (y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31);
        assert_true(next_day);
        py = y, pm = m, pd = d;
    }
    assert_true(st_days_from_civil(1970, 1, 1) == 0);
    assert_int_equal(st_days_in_month(1900, 2), 28);
    assert_int_equal(st_days_in_month(2000, 2), 29);
    assert_int_equal(st_days_in_month(2024, 2), 29);
    assert_int_equal(st_days_in_month(2100, 2), 28);
    assert_int_equal(st_days_in_month(2025, 4), 30);
    assert_int_equal(st_days_in_month(2025, 12), 31);
}

static void test_mono_ms_advances(void **s) {
    (void)s;
    int64_t a = st_time_mono_ms();
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    int64_t b = st_time_mono_ms();
    assert_true(b - a >= 20);
    assert_true(b - a < 60000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_utc),
        cmocka_unit_test(test_parse_offset_and_fraction),
        cmocka_unit_test(test_parse_naive_is_utc),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_mono_ms_advances),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_year_bounds),
        cmocka_unit_test(test_format_offset),
        cmocka_unit_test(test_civil_roundtrip),
    };
    return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}
