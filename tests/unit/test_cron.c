/*
 * test_cron — the cron module: parsing, prev/next in UTC and IANA zones.
 *
 * Most cases are table rows, each registered as its own cmocka test named
 * after the row, so a failure says which expression broke:
 *   - next_cases: expression, zone, start instant, the next fire times;
 *     every row also checks next > from, prev(next) == next and
 *     prev(from) <= from;
 *   - prev_cases: the latest fire time at or before an instant;
 *   - error_cases: rejected expressions and the field + token the message
 *     must name.
 * DST cases use Europe/Berlin and America/New_York (expected instants checked
 * against Python's zoneinfo). The property test draws random expressions and
 * instants and compares against a brute-force oracle built on libc's
 * localtime_r (an independent zone implementation), scanning minute by
 * minute around each instant.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "../../src/cron/cron.h"
#include "../../src/cron/cron_tz.h"
#include "../../src/time/st_time.h"

static int64_t T(const char *s) {
    int64_t t;
    st_error err;
    if (st_time_parse(s, &t, &err) != ST_OK) fail_msg("bad fixture time %s: %s", s, err.msg);
    return t;
}

static cron_expr *P(const char *expr, const char *tz) {
    cron_expr *c = NULL;
    st_error err;
    if (cron_parse(&c, expr, tz, &err) != ST_OK)
        fail_msg("cron_parse('%s', %s): %s", expr, tz ? tz : "UTC", err.msg);
    return c;
}

static void assert_time(int64_t got, const char *want) {
    char b[48];
    st_time_format(got, b, sizeof b);
    if (strcmp(b, want) != 0) fail_msg("got %s, want %s", b, want);
}

/* --- next: table --- */

typedef struct next_case {
    const char *expr, *tz, *from;
    const char *want[5];
} next_case;

static const next_case next_cases[] = {
    {"*/15 * * * *", NULL, "2025-10-15T10:06:00Z",
     {"2025-10-15T10:15:00Z", "2025-10-15T10:30:00Z", "2025-10-15T10:45:00Z", "2025-10-15T11:00:00Z"}},
    {"* * * * *", NULL, "2025-10-15T10:06:00Z", {"2025-10-15T10:07:00Z", "2025-10-15T10:08:00Z"}},
    {"* * * * *", NULL, "2025-10-15T10:06:59.999999Z", {"2025-10-15T10:07:00Z"}},
    {"0 * * * *", NULL, "2025-10-15T10:00:00Z", {"2025-10-15T11:00:00Z", "2025-10-15T12:00:00Z"}},
    {"1-30/5 * * * *", NULL, "2025-10-15T10:24:00Z",
     {"2025-10-15T10:26:00Z", "2025-10-15T11:01:00Z", "2025-10-15T11:06:00Z"}},
    {"5/10 * * * *", NULL, "2025-10-15T10:50:00Z",
     {"2025-10-15T10:55:00Z", "2025-10-15T11:05:00Z", "2025-10-15T11:15:00Z"}},
    {"0,30 9-17 * * MON-FRI", NULL, "2025-10-17T17:10:00Z",
     {"2025-10-17T17:30:00Z", "2025-10-20T09:00:00Z", "2025-10-20T09:30:00Z"}},
    {"0 12 * JAN,jul *", NULL, "2025-02-01T00:00:00Z",
     {"2025-07-01T12:00:00Z", "2025-07-02T12:00:00Z"}},
    {"0 0 31 * *", NULL, "2025-01-31T00:00:00Z",
     {"2025-03-31T00:00:00Z", "2025-05-31T00:00:00Z", "2025-07-31T00:00:00Z", "2025-08-31T00:00:00Z"}},
    {"0 0 30 * *", NULL, "2025-01-30T00:00:00Z", {"2025-03-30T00:00:00Z", "2025-04-30T00:00:00Z"}},
    {"0 0 29 2 *", NULL, "2025-01-01T00:00:00Z",
     {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"}},
    {"0 0 29 2 *", NULL, "2024-02-29T00:00:00Z", {"2028-02-29T00:00:00Z"}},
    {"0 0 28 2 *", NULL, "2024-02-28T00:00:00Z", {"2025-02-28T00:00:00Z"}},
    {"0 12 1 3 *", NULL, "2024-02-28T00:00:00Z", {"2024-03-01T12:00:00Z", "2025-03-01T12:00:00Z"}},
    {"0 0 * 2 *", NULL, "2024-02-28T12:00:00Z",
     {"2024-02-29T00:00:00Z", "2025-02-01T00:00:00Z"}},
    {"0 0 * 2 *", NULL, "2025-02-27T12:00:00Z", {"2025-02-28T00:00:00Z", "2026-02-01T00:00:00Z"}},
    {"59 23 31 12 *", NULL, "2025-12-31T23:59:00Z", {"2026-12-31T23:59:00Z"}},
    {"@weekly", NULL, "2025-10-15T00:00:00Z", {"2025-10-19T00:00:00Z", "2025-10-26T00:00:00Z"}},
    {"@daily", NULL, "2025-12-31T23:59:00Z", {"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"}},
    {"@midnight", NULL, "2025-10-15T00:00:00Z", {"2025-10-16T00:00:00Z"}},
    {"@hourly", NULL, "2025-10-15T10:06:00Z", {"2025-10-15T11:00:00Z", "2025-10-15T12:00:00Z"}},
    {"@monthly", NULL, "2025-12-15T00:00:00Z", {"2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"}},
    {"@yearly", NULL, "2025-06-01T00:00:00Z", {"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
    {"@annually", NULL, "2025-12-31T23:59:59Z", {"2026-01-01T00:00:00Z"}},
    {"  @Daily  ", NULL, "2025-10-15T00:00:00Z", {"2025-10-16T00:00:00Z"}},
    /* Vixie OR rule: both restricted, either matches */
    {"0 0 1 * MON", NULL, "2025-06-24T00:00:00Z",
     {"2025-06-30T00:00:00Z", "2025-07-01T00:00:00Z", "2025-07-07T00:00:00Z"}},
    {"30 4 1,15 * 5", NULL, "2025-10-15T05:00:00Z",
     {"2025-10-17T04:30:00Z", "2025-10-24T04:30:00Z", "2025-10-31T04:30:00Z", "2025-11-01T04:30:00Z"}},
    {"0 0 29 2 MON", NULL, "2025-01-01T00:00:00Z",
     {"2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z", "2025-02-17T00:00:00Z", "2025-02-24T00:00:00Z",
      "2026-02-02T00:00:00Z"}},
    /* only one restricted: it alone decides */
    {"0 0 1 * *", NULL, "2025-06-01T00:00:00Z", {"2025-07-01T00:00:00Z", "2025-08-01T00:00:00Z"}},
    {"0 0 * * 1", NULL, "2025-06-01T00:00:00Z", {"2025-06-02T00:00:00Z", "2025-06-09T00:00:00Z"}},
    /* `*` + step counts as unrestricted (Vixie): odd days that are Mondays */
    {"0 0 */2 * 1", NULL, "2025-06-01T00:00:00Z",
     {"2025-06-09T00:00:00Z", "2025-06-23T00:00:00Z", "2025-07-07T00:00:00Z"}},
    {"0 0 * * 7", NULL, "2025-10-15T00:00:00Z", {"2025-10-19T00:00:00Z", "2025-10-26T00:00:00Z"}},
    {"0 0 * * 0", NULL, "2025-10-15T00:00:00Z", {"2025-10-19T00:00:00Z"}},
    {"0 0 * * 5-7", NULL, "2025-10-15T00:00:00Z",
     {"2025-10-17T00:00:00Z", "2025-10-18T00:00:00Z", "2025-10-19T00:00:00Z", "2025-10-24T00:00:00Z"}},
    {"0 0 * * sun", NULL, "2025-10-15T00:00:00Z", {"2025-10-19T00:00:00Z"}},
    {"0 0 * * Sat,SUN", NULL, "2025-10-15T00:00:00Z",
     {"2025-10-18T00:00:00Z", "2025-10-19T00:00:00Z", "2025-10-25T00:00:00Z"}},
    {"0 0 * * */2", NULL, "2025-10-15T00:00:00Z",
     {"2025-10-16T00:00:00Z", "2025-10-18T00:00:00Z", "2025-10-19T00:00:00Z"}},
    {"0 0 1 OCT-DEC *", NULL, "2025-12-15T00:00:00Z", {"2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"}},
    {"0 0 1 1-12/3 *", NULL, "2025-02-01T00:00:00Z",
     {"2025-04-01T00:00:00Z", "2025-07-01T00:00:00Z", "2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z"}},
    {"0 0 1 jan-MAR/2 *", NULL, "2025-01-01T00:00:00Z", {"2025-03-01T00:00:00Z", "2026-01-01T00:00:00Z"}},
    {"0 */6 * * *", NULL, "2025-10-15T10:00:00Z",
     {"2025-10-15T12:00:00Z", "2025-10-15T18:00:00Z", "2025-10-16T00:00:00Z"}},
    {"15 8,20 * * *", NULL, "2025-10-15T20:15:00Z", {"2025-10-16T08:15:00Z", "2025-10-16T20:15:00Z"}},
    {"0 0 10-12 * *", NULL, "2025-10-12T00:00:00Z", {"2025-11-10T00:00:00Z", "2025-11-11T00:00:00Z"}},
    {"0-59/20 0-23/12 * * *", NULL, "2025-10-15T11:59:00Z",
     {"2025-10-15T12:00:00Z", "2025-10-15T12:20:00Z", "2025-10-15T12:40:00Z", "2025-10-16T00:00:00Z"}},
    {"7 7 7 7 *", NULL, "2025-07-07T07:07:00Z", {"2026-07-07T07:07:00Z"}},
    {"\t0\t0  *  *\t*  ", NULL, "2025-10-15T00:00:00Z", {"2025-10-16T00:00:00Z"}},
    {"0 0 1 1 *", NULL, "1969-12-31T00:00:00Z", {"1970-01-01T00:00:00Z", "1971-01-01T00:00:00Z"}},
    {"0 2 * * *", "UTC", "2025-10-15T10:00:00Z", {"2025-10-16T02:00:00Z"}},
    {"0 9 * * *", "Asia/Kolkata", "2025-10-15T10:00:00Z", {"2025-10-16T03:30:00Z", "2025-10-17T03:30:00Z"}},
    {"0 0 * * *", "Asia/Kathmandu", "2025-10-15T00:00:00Z", {"2025-10-15T18:15:00Z"}},
    {"0 9 * * *", "Etc/GMT+5", "2025-10-15T00:00:00Z", {"2025-10-15T14:00:00Z"}},
    /* DST: Europe/Berlin, spring-forward 2025-03-30 01:00Z, fall-back 2025-10-26 01:00Z */
    {"30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z",
     {"2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"}},
    {"30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z",
     {"2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"}},
    {"0 2 * * *", "Europe/Berlin", "2025-10-25T23:30:00Z", {"2025-10-26T00:00:00Z", "2025-10-27T01:00:00Z"}},
    {"30 2 * * 0", "Europe/Berlin", "2025-03-23T12:00:00Z",
     {"2025-03-30T01:00:00Z", "2025-04-06T00:30:00Z"}},
    {"0 3 * * SUN", "Europe/Berlin", "2025-03-23T12:00:00Z",
     {"2025-03-30T01:00:00Z", "2025-04-06T01:00:00Z"}},
    {"*/15 * * * *", "Europe/Berlin", "2025-03-30T00:40:00Z",
     {"2025-03-30T00:45:00Z", "2025-03-30T01:00:00Z", "2025-03-30T01:15:00Z"}},
    {"*/30 * * * *", "Europe/Berlin", "2025-10-26T00:00:00Z",
     {"2025-10-26T00:30:00Z", "2025-10-26T02:00:00Z", "2025-10-26T02:30:00Z"}},
    {"30 2 * * *", "Europe/Berlin", "2040-03-24T12:00:00Z", {"2040-03-25T01:00:00Z", "2040-03-26T00:30:00Z"}},
    {"30 2 * * *", "Europe/Berlin", "2100-10-30T12:00:00Z", {"2100-10-31T00:30:00Z", "2100-11-01T01:30:00Z"}},
    {"30 2 * * *", "Europe/Berlin", "2500-03-27T12:00:00Z", {"2500-03-28T01:00:00Z", "2500-03-29T00:30:00Z"}},
    /* DST: America/New_York, spring-forward 2025-03-09 07:00Z, fall-back 2025-11-02 06:00Z */
    {"30 2 * * *", "America/New_York", "2025-03-08T12:00:00Z",
     {"2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"}},
    {"30 1 * * *", "America/New_York", "2025-11-01T12:00:00Z",
     {"2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"}},
    {"0 2 * * 0", "America/New_York", "2025-03-02T12:00:00Z",
     {"2025-03-09T07:00:00Z", "2025-03-16T06:00:00Z"}},
    {"*/30 * * * *", "America/New_York", "2025-11-02T05:00:00Z",
     {"2025-11-02T05:30:00Z", "2025-11-02T07:00:00Z", "2025-11-02T07:30:00Z"}},
    {"30 2 * * *", "America/New_York", "2040-03-10T12:00:00Z", {"2040-03-11T07:00:00Z"}},
    {"0 9 * * MON-FRI", "America/New_York", "2025-03-07T15:00:00Z",
     {"2025-03-10T13:00:00Z", "2025-03-11T13:00:00Z"}},
    /* Lord Howe: 30-minute DST shifts, 2025-10-05 02:00 -> 02:30, 2025-04-06 02:00 -> 01:30 */
    {"15 2 * * *", "Australia/Lord_Howe", "2025-10-04T00:00:00Z",
     {"2025-10-04T15:30:00Z", "2025-10-05T15:15:00Z"}},
    {"45 1 * * *", "Australia/Lord_Howe", "2025-04-05T00:00:00Z",
     {"2025-04-05T14:45:00Z", "2025-04-06T15:15:00Z"}},
    /* southern hemisphere: Sydney DST begins 2040-10-07 02:00 local */
    {"30 2 * * *", "Australia/Sydney", "2040-10-06T00:00:00Z", {"2040-10-06T16:00:00Z"}},
};

static void run_next_case(void **state) {
    const next_case *nc = *state;
    cron_expr *c = P(nc->expr, nc->tz);
    int64_t t = T(nc->from), p;
    assert_int_equal(cron_prev(c, t, &p), ST_OK);
    assert_true(p <= t);
    for (int i = 0; i < 5 && nc->want[i]; i++) {
        int64_t n, back;
        assert_int_equal(cron_next(c, t, &n), ST_OK);
        assert_true(n > t);
        assert_time(n, nc->want[i]);
        assert_int_equal(cron_prev(c, n, &back), ST_OK);
        assert_true(back == n);
        assert_int_equal(cron_prev(c, n - 1, &back), ST_OK);
        assert_true(back == p || i > 0); /* nothing between prev(from) and the first next */
        p = n;
        t = n;
    }
    cron_free(c);
}

/* --- prev: table --- */

typedef struct prev_case {
    const char *expr, *tz, *at, *want;
} prev_case;

static const prev_case prev_cases[] = {
    {"*/15 * * * *", NULL, "2025-10-15T10:15:00Z", "2025-10-15T10:15:00Z"},
    {"*/15 * * * *", NULL, "2025-10-15T10:14:59.999999Z", "2025-10-15T10:00:00Z"},
    {"*/15 * * * *", NULL, "2025-10-15T10:15:00.5Z", "2025-10-15T10:15:00Z"},
    {"0 2 * * *", NULL, "2025-10-15T01:59:00Z", "2025-10-14T02:00:00Z"},
    {"0 0 29 2 *", NULL, "2027-01-01T00:00:00Z", "2024-02-29T00:00:00Z"},
    {"0 0 31 * *", NULL, "2025-05-01T00:00:00Z", "2025-03-31T00:00:00Z"},
    {"@weekly", NULL, "2025-10-18T23:59:00Z", "2025-10-12T00:00:00Z"},
    {"0 0 1 * MON", NULL, "2025-07-06T00:00:00Z", "2025-07-01T00:00:00Z"},
    {"0 0 1 1 *", NULL, "1970-06-01T00:00:00Z", "1970-01-01T00:00:00Z"},
    {"0 0 1 1 *", NULL, "1969-06-01T00:00:00Z", "1969-01-01T00:00:00Z"},
    {"30 2 * * *", "Europe/Berlin", "2025-03-30T01:30:00Z", "2025-03-30T01:00:00Z"},
    {"30 2 * * *", "Europe/Berlin", "2025-03-30T00:59:59Z", "2025-03-29T01:30:00Z"},
    {"30 2 * * *", "Europe/Berlin", "2025-10-26T01:45:00Z", "2025-10-26T00:30:00Z"},
    {"30 1 * * *", "America/New_York", "2025-11-02T06:45:00Z", "2025-11-02T05:30:00Z"},
    {"*/15 * * * *", "America/New_York", "2025-11-02T06:40:00Z", "2025-11-02T05:45:00Z"},
    {"*/15 * * * *", "America/New_York", "2025-11-02T07:00:00Z", "2025-11-02T07:00:00Z"},
    {"0 0 * * *", "America/New_York", "2025-11-02T04:00:00Z", "2025-11-02T04:00:00Z"},
};

static void run_prev_case(void **state) {
    const prev_case *pc = *state;
    cron_expr *c = P(pc->expr, pc->tz);
    int64_t t = T(pc->at), p, n;
    assert_int_equal(cron_prev(c, t, &p), ST_OK);
    assert_time(p, pc->want);
    assert_int_equal(cron_next(c, t, &n), ST_OK);
    assert_true(p <= t && t < n);
    int64_t again;
    assert_int_equal(cron_next(c, p, &again), ST_OK);
    assert_true(again == n); /* no fire time strictly between prev and next */
    cron_free(c);
}

/* --- errors: table --- */

typedef struct error_case {
    const char *expr, *want1, *want2;
} error_case;

static const error_case error_cases[] = {
    {"", "empty cron expression", NULL},
    {"   ", "empty cron expression", NULL},
    {"* * * *", "expected 5 fields", "got 4"},
    {"* * * * * *", "expected 5 fields", "got 6"},
    {"1 2 3 4 5 6 7 8", "expected 5 fields", "got 8"},
    {"60 * * * *", "minute: 60 out of range 0-59", "'60'"},
    {"1-60 * * * *", "minute: 60 out of range 0-59", "'1-60'"},
    {"* 24 * * *", "hour: 24 out of range 0-23", "'24'"},
    {"* * 0 * *", "day-of-month: 0 out of range 1-31", "'0'"},
    {"* * 1,32 * *", "day-of-month: 32 out of range 1-31", "'32'"},
    {"* * * 13 *", "month: 13 out of range 1-12", "'13'"},
    {"* * * 0 *", "month: 0 out of range 1-12", "'0'"},
    {"* * * * 8", "day-of-week: 8 out of range 0-7", "'8'"},
    {"99999999999 * * * *", "minute:", "out of range"},
    {"5-1 * * * *", "minute: reversed range", "'5-1'"},
    {"* * * DEC-JAN *", "month: reversed range", "'DEC-JAN'"},
    {"* * * * FRI-MON", "day-of-week: reversed range", "'FRI-MON'"},
    {"*/0 * * * *", "minute: step 0 out of range 1-60", "'*/0'"},
    {"* 1-10/0 * * *", "hour: step 0 out of range 1-24", "'1-10/0'"},
    {"*/61 * * * *", "minute: step 61 out of range 1-60", "'*/61'"},
    {"*/ * * * *", "minute: bad step", "'*/'"},
    {"* * * * 1/x", "day-of-week: bad step", "'1/x'"},
    {"1,,2 * * * *", "minute: empty list item", "'1,,2'"},
    {"* 1, * * *", "hour: empty list item", "'1,'"},
    {"* * ,1 * *", "day-of-month: empty list item", "',1'"},
    {"5x * * * *", "minute: bad token", "'5x'"},
    {"-5 * * * *", "minute: bad token", "'-5'"},
    {"1-2-3 * * * *", "minute: bad token", "'1-2-3'"},
    {"*/15x * * * *", "minute: bad token", "'*/15x'"},
    {"** * * * *", "minute: bad token", "'**'"},
    {"* * * * MON-", "day-of-week: bad token", "'MON-'"},
    {"* * MON * *", "day-of-month: bad token", "'MON'"},
    {"* * * * FOO", "day-of-week: unknown name", "'FOO'"},
    {"* * * JANUARY *", "month: unknown name", "'JANUARY'"},
    {"* * * * 1-FUN", "day-of-week: unknown name", "'FUN'"},
    {"@reboot", "unknown macro", "'@reboot'"},
    {"@daily 5", "unknown macro", "'@daily 5'"},
    {"@", "unknown macro", "'@'"},
};

static void run_error_case(void **state) {
    const error_case *ec = *state;
    cron_expr *c = (cron_expr *)0x1;
    st_error err;
    assert_int_equal(cron_parse(&c, ec->expr, NULL, &err), ST_EINVAL);
    assert_null(c);
    if (!strstr(err.msg, ec->want1)) fail_msg("'%s' -> '%s', want '%s'", ec->expr, err.msg, ec->want1);
    if (ec->want2 && !strstr(err.msg, ec->want2))
        fail_msg("'%s' -> '%s', want '%s'", ec->expr, err.msg, ec->want2);
    /* the same expression with a zone fails the same way */
    assert_int_equal(cron_parse(&c, ec->expr, "Europe/Berlin", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, ec->want1));
}

/* --- single cases --- */

/* Counts fire times in [from, to). */
static int count_fires(const cron_expr *c, int64_t from, int64_t to) {
    int n = 0;
    int64_t t = from - 1, f;
    while (cron_next(c, t, &f) == ST_OK && f < to) n++, t = f;
    return n;
}

static void test_dst_spring_forward_fires_once(void **s) {
    (void)s;
    /* Berlin local day 2025-03-30 is [2025-03-29T23:00Z, 2025-03-30T22:00Z) */
    cron_expr *c = P("30 2 * * *", "Europe/Berlin");
    assert_int_equal(count_fires(c, T("2025-03-29T23:00:00Z"), T("2025-03-30T22:00:00Z")), 1);
    cron_free(c);
    c = P("30 2 * * *", "America/New_York"); /* local day = [05:00Z, next 04:00Z) */
    assert_int_equal(count_fires(c, T("2025-03-09T05:00:00Z"), T("2025-03-10T04:00:00Z")), 1);
    cron_free(c);
}

static void test_dst_fall_back_fires_once(void **s) {
    (void)s;
    cron_expr *c = P("30 1 * * *", "America/New_York"); /* local day 25 hours */
    assert_int_equal(count_fires(c, T("2025-11-02T04:00:00Z"), T("2025-11-03T05:00:00Z")), 1);
    cron_free(c);
    c = P("30 2 * * *", "Europe/Berlin");
    assert_int_equal(count_fires(c, T("2025-10-25T22:00:00Z"), T("2025-10-26T23:00:00Z")), 1);
    cron_free(c);
    c = P("*/15 * * * *", "Europe/Berlin"); /* 25 local hours, the repeated one fires once */
    assert_int_equal(count_fires(c, T("2025-10-25T22:00:00Z"), T("2025-10-26T23:00:00Z")), 96);
    cron_free(c);
    c = P("*/15 * * * *", "Europe/Berlin"); /* 23 local hours: 02:00-02:45 collapse into 03:00 */
    assert_int_equal(count_fires(c, T("2025-03-29T23:00:00Z"), T("2025-03-30T22:00:00Z")), 92);
    cron_free(c);
}

static void test_weekly_sunday_across_spring_forward(void **s) {
    (void)s;
    /* must fire on 2025-03-30 itself, not a week late on 04-06 */
    cron_expr *c = P("0 2 * * 0", "Europe/Berlin");
    int64_t n;
    assert_int_equal(cron_next(c, T("2025-03-24T00:00:00Z"), &n), ST_OK);
    assert_time(n, "2025-03-30T01:00:00Z");
    assert_int_equal(cron_next(c, n, &n), ST_OK);
    assert_time(n, "2025-04-06T00:00:00Z");
    cron_free(c);
    c = P("@weekly", "America/New_York");
    assert_int_equal(cron_next(c, T("2025-03-08T00:00:00Z"), &n), ST_OK);
    assert_time(n, "2025-03-09T05:00:00Z");
    assert_int_equal(cron_next(c, n, &n), ST_OK);
    assert_time(n, "2025-03-16T04:00:00Z");
    cron_free(c);
}

static void test_never_fires_not_found(void **s) {
    (void)s;
    const char *never[] = {"0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"};
    for (size_t i = 0; i < 3; i++) {
        cron_expr *c = P(never[i], NULL);
        int64_t out = 42;
        assert_int_equal(cron_next(c, T("2025-01-01T00:00:00Z"), &out), ST_ENOTFOUND);
        assert_int_equal(cron_prev(c, T("2025-01-01T00:00:00Z"), &out), ST_ENOTFOUND);
        assert_true(out == 42);
        cron_free(c);
    }
    cron_expr *c = P("0 0 30 2 *", "Europe/Berlin");
    int64_t out;
    assert_int_equal(cron_next(c, T("2025-01-01T00:00:00Z"), &out), ST_ENOTFOUND);
    assert_int_equal(cron_prev(c, T("2025-01-01T00:00:00Z"), &out), ST_ENOTFOUND);
    cron_free(c);
}

static void test_out_of_range_instants(void **s) {
    (void)s;
    cron_expr *c = P("* * * * *", "Europe/Berlin");
    int64_t out;
    assert_int_equal(cron_next(c, INT64_MAX, &out), ST_ENOTFOUND);
    assert_int_equal(cron_prev(c, INT64_MIN, &out), ST_ENOTFOUND);
    assert_int_equal(cron_next(c, T("9999-12-31T23:00:00Z"), &out), ST_OK);
    assert_int_equal(cron_prev(c, T("0001-01-01T00:00:00Z"), &out), ST_OK);
    cron_free(c);
}

static void test_too_long(void **s) {
    (void)s;
    char buf[1200];
    memset(buf, ' ', sizeof buf);
    memcpy(buf + 1100, "* * * * *", 10);
    cron_expr *c = NULL;
    st_error err;
    assert_int_equal(cron_parse(&c, buf, NULL, &err), ST_OK); /* leading blanks are skipped */
    cron_free(c);
    for (size_t i = 0; i + 2 < 1100; i += 2) buf[i] = '1', buf[i + 1] = ',';
    assert_int_equal(cron_parse(&c, buf, NULL, &err), ST_EINVAL);
    assert_string_equal(err.msg, "cron expression too long");
    assert_int_equal(cron_parse(&c, NULL, NULL, &err), ST_EINVAL);
    assert_string_equal(err.msg, "empty cron expression");
}

static void test_text_and_zone(void **s) {
    (void)s;
    cron_expr *c = P("*/5 * * * *", NULL);
    assert_string_equal(cron_text(c), "*/5 * * * *");
    assert_string_equal(cron_zone(c), "UTC");
    assert_int_equal(cron_utc_offset(c, T("2025-07-01T00:00:00Z")), 0);
    cron_free(c);
    c = P("@daily", "Europe/Berlin");
    assert_string_equal(cron_text(c), "@daily");
    assert_string_equal(cron_zone(c), "Europe/Berlin");
    assert_int_equal(cron_utc_offset(c, T("2025-07-01T00:00:00Z")), 7200);
    assert_int_equal(cron_utc_offset(c, T("2025-01-01T00:00:00Z")), 3600);
    assert_int_equal(cron_utc_offset(c, T("2525-07-01T00:00:00Z")), 7200);
    cron_free(c);
    cron_free(NULL);
}

static void test_zone_errors(void **s) {
    (void)s;
    struct {
        const char *tz, *want;
    } bad[] = {
        {"Mars/Olympus", "unknown time zone 'Mars/Olympus'"},
        {"../etc/passwd", "invalid time zone name '../etc/passwd'"},
        {"Europe/../Europe/Berlin", "invalid time zone name 'Europe/../Europe/Berlin'"},
        {"/etc/localtime", "invalid time zone name '/etc/localtime'"},
        {"Europe/", "invalid time zone name 'Europe/'"},
        {"Europe//Berlin", "invalid time zone name"},
        {"./UTC", "invalid time zone name"},
        {"Europe/Ber lin", "invalid time zone name 'Europe/Ber lin'"},
        {"", "invalid time zone name ''"},
        {"Europe", "unknown time zone 'Europe'"}, /* a directory */
        {"zone.tab", "time zone 'zone.tab': not a valid TZif file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cron_expr *c = NULL;
        st_error err;
        assert_int_equal(cron_parse(&c, "* * * * *", bad[i].tz, &err), ST_EINVAL);
        assert_null(c);
        if (!strstr(err.msg, bad[i].want)) fail_msg("%s -> %s", bad[i].tz, err.msg);
    }
}

/* Writes `len` bytes to dir/name. */
static void write_file(const char *dir, const char *name, const void *buf, size_t len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 20);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

/* TZDIR overrides the zone directory; v1-only files and junk are handled.
 * Setup/teardown keep TZDIR and the temporary directory tidy even when an
 * assertion fails half-way. */
typedef struct tzdir_fixture {
    char dir[64];
    char *saved;   /* previous TZDIR or NULL */
} tzdir_fixture;

static const char *const tzdir_files[] = {"Berlin2", "BerlinV1", "Junk", "Short"};

static int tzdir_setup(void **state) {
    tzdir_fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_cron_tzXXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    const char *old = getenv("TZDIR");
    f->saved = old ? strdup(old) : NULL;
    *state = f;
    return 0;
}

static int tzdir_teardown(void **state) {
    tzdir_fixture *f = *state;
    if (f->saved) setenv("TZDIR", f->saved, 1);
    else unsetenv("TZDIR");
    for (int i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", f->dir, tzdir_files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f->saved);
    free(f);
    return 0;
}

static void test_tzdir_v1_and_junk(void **state) {
    tzdir_fixture *f = *state;
    size_t len;
    unsigned char *b = slurp("/usr/share/zoneinfo/Europe/Berlin", &len);
    write_file(f->dir, "Berlin2", b, len);
    b[4] = 0; /* version 1: only the 32-bit section is read */
    write_file(f->dir, "BerlinV1", b, len);
    write_file(f->dir, "Junk", "TZif2 this is not a zone", 24);
    write_file(f->dir, "Short", b, 60);
    free(b);
    setenv("TZDIR", f->dir, 1);
    const char *names[] = {"Berlin2", "BerlinV1"};
    for (int i = 0; i < 2; i++) {
        cron_expr *c = P("30 2 * * *", names[i]);
        int64_t n;
        int r1 = cron_next(c, T("2025-03-29T12:00:00Z"), &n);
        int64_t n2;
        int r2 = cron_next(c, T("2025-10-25T12:00:00Z"), &n2);
        cron_free(c);
        assert_int_equal(r1, ST_OK);
        assert_time(n, "2025-03-30T01:00:00Z");
        assert_int_equal(r2, ST_OK);
        assert_time(n2, "2025-10-26T00:30:00Z");
    }
    cron_expr *c = NULL;
    st_error err;
    assert_int_equal(cron_parse(&c, "* * * * *", "Junk", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "time zone 'Junk': not a valid TZif file"));
    assert_int_equal(cron_parse(&c, "* * * * *", "Short", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "time zone 'Short': not a valid TZif file"));
    assert_int_equal(cron_parse(&c, "* * * * *", "Europe/Berlin", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "unknown time zone 'Europe/Berlin'"));
}

/* A TZif image built by hand: fixed zone with a footer. */
static void test_tzif_footer_only(void **s) {
    (void)s;
    unsigned char buf[200] = {0};
    size_t n = 0;
    /* v1 header + body: 0 transitions, 1 type (+01:00), 4 chars */
    unsigned char hdr[44] = {'T', 'Z', 'i', 'f', '2'};
    hdr[39] = 1; /* typecnt */
    hdr[43] = 4; /* charcnt */
    unsigned char body[] = {0, 0, 0x0e, 0x10, 0, 0, 'C', 'E', 'T', 0};
    memcpy(buf + n, hdr, 44), n += 44;
    memcpy(buf + n, body, sizeof body), n += sizeof body;
    memcpy(buf + n, hdr, 44), n += 44;
    memcpy(buf + n, body, sizeof body), n += sizeof body;
    const char *foot = "\nCET-1CEST,M3.5.0,M10.5.0/3\n";
    memcpy(buf + n, foot, strlen(foot)), n += strlen(foot);
    cron_tz *z = NULL;
    assert_int_equal(cron_tz_from_tzif(&z, buf, (long)n, "Hand", NULL), ST_OK);
    assert_int_equal(cron_tz_offset(z, T("2025-07-01T00:00:00Z") / ST_USEC), 7200);
    assert_int_equal(cron_tz_offset(z, T("2025-12-01T00:00:00Z") / ST_USEC), 3600);
    /* 02:30 on 2025-03-30 does not exist: first instant after the gap */
    int64_t w = (T("2025-03-30T02:30:00Z") / ST_USEC);
    assert_true(cron_tz_wall_to_utc(z, w) * ST_USEC == T("2025-03-30T01:00:00Z"));
    cron_tz_free(z);
    cron_tz_free(NULL);
    /* corrupt footers are rejected */
    const char *bad[] = {"\nCET-1CEST,M3.5.0\n", "\nCET-1CEST,M13.5.0,M10.5.0\n",
                         "\nC-1\n", "\nCET-1CEST,M3.5.0,M10.5.0", "x"};
    for (int i = 0; i < 5; i++) {
        size_t m = n - strlen(foot);
        memcpy(buf + m, bad[i], strlen(bad[i]));
        assert_int_equal(cron_tz_from_tzif(&z, buf, (long)(m + strlen(bad[i])), "Hand", NULL),
                         ST_EINVAL);
    }
}

/* --- property test with a libc oracle --- */

typedef struct gen_expr {
    char text[160];
    char f[5][64];
    unsigned char set[5][61];
} gen_expr;

static const int gmin[5] = {0, 0, 1, 1, 0}, gmax[5] = {59, 23, 31, 12, 7};

static unsigned rnd(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* One random field: *, * /k, a, a-b, a-b/k, a/k or a list of values. */
static void gen_field(int i, unsigned *seed, char *out, unsigned char *set) {
    int lo = gmin[i], hi = gmax[i], span = hi - lo + 1;
    int star_hi = i == 4 ? 6 : hi;
    int a = lo + (int)(rnd(seed) % (unsigned)span), b = lo + (int)(rnd(seed) % (unsigned)span);
    if (a > b) { int x = a; a = b; b = x; }
    int k = 1 + (int)(rnd(seed) % 7), form = (int)(rnd(seed) % 8);
    memset(set, 0, 61);
    int from = lo, to = star_hi, step = 1;
    switch (form) {
    case 0: case 1: sprintf(out, "*"); break;
    case 2: sprintf(out, "*/%d", k), step = k; break;
    case 3: sprintf(out, "%d", a), from = to = a; break;
    case 4: sprintf(out, "%d-%d", a, b), from = a, to = b; break;
    case 5: sprintf(out, "%d-%d/%d", a, b, k), from = a, to = b, step = k; break;
    case 6: sprintf(out, "%d/%d", a, k), from = a, to = a > star_hi ? a : star_hi, step = k; break;
    default: sprintf(out, "%d,%d", a, b), set[a] = set[b] = 1, from = 1, to = 0; break;
    }
    for (int v = from; v <= to; v += step) set[v] = 1;
    if (i == 4 && set[7]) set[0] = 1;
}

static void gen(gen_expr *g, unsigned *seed) {
    for (int i = 0; i < 5; i++) gen_field(i, seed, g->f[i], g->set[i]);
    snprintf(g->text, sizeof g->text, "%s %s %s %s %s", g->f[0], g->f[1], g->f[2], g->f[3],
             g->f[4]);
}

/* Does wall second w (read as UTC) match? gmtime_r: independent of st_time. */
static int oracle_match(const gen_expr *g, int64_t w) {
    time_t tt = (time_t)w;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (!g->set[0][tm.tm_min] || !g->set[1][tm.tm_hour] || !g->set[3][tm.tm_mon + 1]) return 0;
    int dom = g->set[2][tm.tm_mday], dow = g->set[4][tm.tm_wday];
    int dom_star = g->f[2][0] == '*', dow_star = g->f[4][0] == '*';
    return (dom_star || dow_star) ? (dom && dow) : (dom || dow);
}

static int64_t gmtoff(int64_t u) {
    time_t tt = (time_t)u;
    struct tm tm;
    localtime_r(&tt, &tm);
    return tm.tm_gmtoff;
}

/* Is UTC second u a fire time? Local match at its first occurrence, or the
 * end of a gap containing a matching wall minute. */
static int oracle_fire(const gen_expr *g, int64_t u) {
    int64_t w = u + gmtoff(u);
    if (oracle_match(g, w)) {
        int first = 1;
        for (int64_t d = 1800; d <= 7200; d *= 2)
            if (u - d + gmtoff(u - d) == w) first = 0;
        if (first) return 1;
    }
    int64_t before = gmtoff(u - 1), now = gmtoff(u);
    for (int64_t x = u + before; now > before && x < u + now; x += 60)
        if (x % 60 == 0 && oracle_match(g, x)) return 1;
    return 0;
}

/* Returns 1 when fully checked, 0 when skipped (no fire time in range). */
static int check_instant(const gen_expr *g, const cron_expr *c, int64_t t) {
    int64_t n, p, back, again;
    int rn = cron_next(c, t, &n), rp = cron_prev(c, t, &p);
    if (rn == ST_ENOTFOUND || rp == ST_ENOTFOUND) return 0; /* rare: e.g. 31 in Feb only */
    assert_int_equal(rn, ST_OK);
    assert_int_equal(rp, ST_OK);
    char tb[48];
    st_time_format(t, tb, sizeof tb);
    if (!(p <= t && t < n)) fail_msg("%s %s at %s: order", g->text, cron_zone(c), tb);
    if (n - p > 1800LL * 86400 * ST_USEC) return 0; /* beyond the 5-year horizon from p */
    if (cron_prev(c, n, &back) != ST_OK || cron_next(c, p, &again) != ST_OK)
        fail_msg("%s %s at %s: prev(next)/next(prev) not found", g->text, cron_zone(c), tb);
    if (back != n || again != n) fail_msg("%s %s at %s: prev/next", g->text, cron_zone(c), tb);
    if (!oracle_fire(g, n / ST_USEC) || !oracle_fire(g, p / ST_USEC))
        fail_msg("%s %s at %s: oracle rejects prev/next", g->text, cron_zone(c), tb);
    /* no fire strictly between, scanned minute by minute within 6 h of t */
    int64_t lo = p / ST_USEC + 60, hi = n / ST_USEC;
    int64_t ts = t / ST_USEC - (t / ST_USEC) % 60;
    if (lo < ts - 6 * 3600) lo = ts - 6 * 3600;
    if (hi > ts + 6 * 3600) hi = ts + 6 * 3600;
    for (int64_t u = lo; u < hi; u += 60)
        if (oracle_fire(g, u)) {
            char ub[48];
            st_time_format(u * ST_USEC, ub, sizeof ub);
            fail_msg("%s %s at %s: missed fire %s", g->text, cron_zone(c), tb, ub);
        }
    return 1;
}

static void test_property_against_oracle(void **s) {
    (void)s;
    const char *zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                           "Asia/Kathmandu", "America/Sao_Paulo"};
    /* transition instants to aim at, plus uniform instants 2020-2030 */
    const char *near[] = {"2025-03-30T01:00:00Z", "2025-10-26T01:00:00Z", "2025-03-09T07:00:00Z",
                          "2025-11-02T06:00:00Z", "2025-04-05T15:00:00Z", "2025-10-04T15:30:00Z",
                          "2034-10-29T01:00:00Z", "2038-03-28T01:00:00Z"};
    unsigned seed = 20251015;
    int checked = 0, total = 0;
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        setenv("TZ", zones[z], 1);
        tzset();
        for (int i = 0; i < 150; i++) {
            gen_expr g;
            gen(&g, &seed);
            cron_expr *c = P(g.text, zones[z]);
            for (int j = 0; j < 4; j++) {
                int64_t t;
                if (j < 2) {
                    t = T(near[rnd(&seed) % 8]) + ((int64_t)(rnd(&seed) % 720) - 360) * 60 * ST_USEC;
                    t += (int64_t)(rnd(&seed) % 3) * 30 * ST_USEC; /* on or off the minute */
                } else {
                    t = T("2020-01-01T00:00:00Z") +
                        (int64_t)((rnd(&seed) << 15 | rnd(&seed)) % 315360000u) * ST_USEC;
                }
                checked += check_instant(&g, c, t);
                total++;
            }
            cron_free(c);
        }
    }
    if (saved) setenv("TZ", saved, 1);
    else unsetenv("TZ");
    tzset();
    free(saved);
    assert_true(checked > total * 8 / 10); /* the oracle really ran */
}

/* --- runner: one cmocka test per table row --- */

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

static char *row_name(const char *kind, const char *expr, const char *tz, const char *at) {
    char *b = malloc(256);
    snprintf(b, 256, "%s [%s]%s%s%s%s", kind, expr, tz ? " " : "", tz ? tz : "", at ? " @" : "",
             at ? at : "");
    return b;
}

int main(void) {
    static const struct CMUnitTest singles[] = {
        cmocka_unit_test(test_dst_spring_forward_fires_once),
        cmocka_unit_test(test_dst_fall_back_fires_once),
        cmocka_unit_test(test_weekly_sunday_across_spring_forward),
        cmocka_unit_test(test_never_fires_not_found),
        cmocka_unit_test(test_out_of_range_instants),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_text_and_zone),
        cmocka_unit_test(test_zone_errors),
        cmocka_unit_test_setup_teardown(test_tzdir_v1_and_junk, tzdir_setup, tzdir_teardown),
        cmocka_unit_test(test_tzif_footer_only),
        cmocka_unit_test(test_property_against_oracle),
    };
    size_t total = NROWS(next_cases) + NROWS(prev_cases) + NROWS(error_cases) + NROWS(singles);
    struct CMUnitTest *tests = calloc(total, sizeof *tests);
    size_t n = 0;
    for (size_t i = 0; i < NROWS(next_cases); i++, n++) {
        tests[n].name = row_name("next", next_cases[i].expr, next_cases[i].tz, next_cases[i].from);
        tests[n].test_func = run_next_case;
        tests[n].initial_state = (void *)&next_cases[i];
    }
    for (size_t i = 0; i < NROWS(prev_cases); i++, n++) {
        tests[n].name = row_name("prev", prev_cases[i].expr, prev_cases[i].tz, prev_cases[i].at);
        tests[n].test_func = run_prev_case;
        tests[n].initial_state = (void *)&prev_cases[i];
    }
    for (size_t i = 0; i < NROWS(error_cases); i++, n++) {
        tests[n].name = row_name("reject", error_cases[i].expr, NULL, NULL);
        tests[n].test_func = run_error_case;
        tests[n].initial_state = (void *)&error_cases[i];
    }
    for (size_t i = 0; i < NROWS(singles); i++, n++) {
        tests[n] = singles[i];
        tests[n].name = strdup(singles[i].name);
    }
    int rc = _cmocka_run_group_tests("cron", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) free((char *)tests[i].name);
    free(tests);
    return rc;
}
