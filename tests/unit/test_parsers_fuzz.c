/*
 * test_parsers_fuzz — random and mutated input into the cron, time-zone and
 * timestamp parsers, run under ASan/UBSan by `make unit`.
 *
 * Properties, for every input:
 *   - no crash, no sanitizer report, no leak;
 *   - cron_parse / st_time_parse either succeed or return ST_EINVAL with a
 *     non-empty message, and leave *out NULL (cron) / untouched (time);
 *   - a parsed cron expression's next/prev terminate and satisfy
 *     prev(t) <= t < next(t) and prev(next(t)) == next(t);
 *   - a parsed timestamp formats back to text that parses to the same instant;
 *   - corrupted TZif images are rejected or give a zone whose lookups
 *     terminate.
 * Inputs come from a fixed-seed generator (FUZZ_SEED overrides it) so a
 * failure is reproducible; each test also asserts that both outcomes occurred
 * often enough, so the fuzzing cannot silently degenerate into all-rejects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cron/cron.h"
#include "../../src/cron/cron_tz.h"
#include "../../src/time/st_time.h"

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t next_u32(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 11);
}

static uint32_t below(rng *r, uint32_t n) { return next_u32(r) % n; }

static rng seeded(void) {
    const char *e = getenv("FUZZ_SEED");
    rng r = {e ? strtoull(e, NULL, 10) : 0x5EED2025ULL};
    if (r.s == 0) r.s = 1;
    return r;
}

/* Applies 0-2 random edits (0 keeps some valid inputs in the mix) to buf (NUL-terminated, capacity cap). */
static void mutate(rng *r, char *buf, size_t cap, const char *alphabet) {
    size_t alen = strlen(alphabet);
    int edits = (int)below(r, 3);
    for (int e = 0; e < edits; e++) {
        size_t len = strlen(buf);
        size_t pos = len ? below(r, (uint32_t)len + 1) : 0;
        switch (below(r, 5)) {
        case 0: /* replace */
            if (pos < len) buf[pos] = alphabet[below(r, (uint32_t)alen)];
            break;
        case 1: /* insert */
            if (len + 2 < cap) {
                memmove(buf + pos + 1, buf + pos, len - pos + 1);
                buf[pos] = alphabet[below(r, (uint32_t)alen)];
            }
            break;
        case 2: /* delete */
            if (pos < len) memmove(buf + pos, buf + pos + 1, len - pos);
            break;
        case 3: /* duplicate a chunk */
            if (len && len * 2 + 1 < cap) {
                size_t n = 1 + below(r, (uint32_t)(len - pos + 1));
                if (pos + n > len) n = len - pos;
                memmove(buf + pos + n, buf + pos, len - pos + 1);
            }
            break;
        default: /* random byte, including controls and high bytes */
            if (pos < len) buf[pos] = (char)(1 + below(r, 255));
            break;
        }
    }
}

static void random_string(rng *r, char *buf, size_t cap, const char *alphabet) {
    size_t alen = strlen(alphabet), n = below(r, (uint32_t)(cap - 1));
    for (size_t i = 0; i < n; i++) buf[i] = alphabet[below(r, (uint32_t)alen)];
    buf[n] = '\0';
}

/* --- cron --- */

static const char *const cron_seeds[] = {
    "*/15 * * * *", "0 2 * * *", "0,30 9-17 * * MON-FRI", "1-30/5 5/10 */2 JAN-DEC/3 SUN-SAT",
    "0 0 29 2 *", "@weekly", "@daily", "30 4 1,15 * 5", "0 0 * * 7", "59 23 31 12 *",
};
static const char cron_alpha[] = "0123456789*/,-@ \tJANFEBMARSUNMONSATDECjanwedxyz#?L";

static void check_parsed(const cron_expr *c, rng *r) {
    for (int k = 0; k < 2; k++) {
        int64_t t = (1577836800LL + (int64_t)below(r, 400000000)) * ST_USEC + below(r, 1000000);
        int64_t n, p, back;
        int rn = cron_next(c, t, &n), rp = cron_prev(c, t, &p);
        assert_true(rn == ST_OK || rn == ST_ENOTFOUND);
        assert_true(rp == ST_OK || rp == ST_ENOTFOUND);
        if (rn == ST_OK) {
            assert_true(n > t);
            assert_true(n % (60 * ST_USEC) == 0 || strcmp(cron_zone(c), "UTC") != 0);
            assert_int_equal(cron_prev(c, n, &back), ST_OK);
            assert_true(back == n);
        }
        if (rp == ST_OK) assert_true(p <= t);
    }
}

/* Returns 1 if it parsed. */
static int feed_cron(const char *s, const char *tz, rng *r) {
    cron_expr *c = (cron_expr *)0x1;
    st_error err = {0};
    int rc = cron_parse(&c, s, tz, &err);
    if (rc != ST_OK) {
        if (rc != ST_EINVAL) fail_msg("'%s': rc %d", s, rc);
        assert_null(c);
        assert_true(err.msg[0] != '\0');
        return 0;
    }
    assert_non_null(c);
    assert_string_equal(cron_text(c), s);
    check_parsed(c, r);
    cron_free(c);
    return 1;
}

static void test_cron_random_and_mutated(void **st) {
    (void)st;
    rng r = seeded();
    int ok = 0, bad = 0;
    char buf[128];
    for (int i = 0; i < 30000; i++) {
        if (i % 3 == 0) {
            random_string(&r, buf, 48, cron_alpha);
        } else {
            snprintf(buf, sizeof buf, "%s", cron_seeds[below(&r, 10)]);
            mutate(&r, buf, sizeof buf, cron_alpha);
        }
        /* every 10th input also with a zone (each parse loads the file) */
        const char *tz = i % 10 == 0 ? (i % 20 == 0 ? "Europe/Berlin" : "America/New_York") : NULL;
        if (feed_cron(buf, tz, &r)) ok++;
        else bad++;
    }
    print_message("cron: %d parsed, %d rejected\n", ok, bad);
    assert_true(ok > 3000);
    assert_true(bad > 3000);
}

static void test_cron_zone_names(void **st) {
    (void)st;
    rng r = seeded();
    static const char *const seeds[] = {"Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5",
                                        "Asia/Kathmandu", "Australia/Lord_Howe"};
    static const char alpha[] = "abcEurope/.._-+0123456789 \\%~";
    int ok = 0, bad = 0;
    char buf[64];
    for (int i = 0; i < 1500; i++) {
        snprintf(buf, sizeof buf, "%s", seeds[below(&r, 6)]);
        if (i % 4) mutate(&r, buf, sizeof buf, alpha);
        cron_expr *c = NULL;
        st_error err = {0};
        int rc = cron_parse(&c, "*/7 1-5 * * *", buf, &err);
        if (rc == ST_OK) {
            check_parsed(c, &r);
            cron_free(c);
            ok++;
        } else {
            assert_int_equal(rc, ST_EINVAL);
            assert_null(c);
            assert_true(strstr(err.msg, "time zone") != NULL);
            bad++;
        }
    }
    print_message("zones: %d loaded, %d rejected\n", ok, bad);
    assert_true(ok > 300 && bad > 300);
}

/* Corrupt TZif images: reject or produce a zone whose lookups terminate. */
static void test_tzif_corruption(void **st) {
    (void)st;
    FILE *f = fopen("/usr/share/zoneinfo/America/New_York", "rb");
    assert_non_null(f);
    unsigned char *orig = malloc(1 << 16), *b = malloc(1 << 16);
    long len = (long)fread(orig, 1, 1 << 16, f);
    fclose(f);
    assert_true(len > 100);
    rng r = seeded();
    int ok = 0, bad = 0;
    for (int i = 0; i < 5000; i++) {
        memcpy(b, orig, (size_t)len);
        long n = len;
        if (i % 4 == 0) n = below(&r, (uint32_t)len); /* truncated */
        int flips = 1 + (int)below(&r, 4);
        for (int k = 0; k < flips && n > 0; k++) {
            /* bias towards the headers, where counts live */
            long pos = below(&r, 3) == 0 ? below(&r, 44) : below(&r, (uint32_t)n);
            if (pos < n) b[pos] = (unsigned char)next_u32(&r);
        }
        cron_tz *z = NULL;
        if (cron_tz_from_tzif(&z, b, n, "Fuzz", NULL) != ST_OK) {
            assert_null(z);
            bad++;
            continue;
        }
        for (int k = 0; k < 20; k++) {
            int64_t t = (int64_t)(next_u32(&r)) * 8 - 8000000000LL;
            (void)cron_tz_offset(z, t);
            int64_t pe;
            (void)cron_tz_offset_prev_end(z, t, &pe);
            (void)cron_tz_wall_to_utc(z, t);
        }
        cron_tz_free(z);
        ok++;
    }
    free(orig);
    free(b);
    print_message("tzif: %d accepted, %d rejected\n", ok, bad);
    assert_true(ok > 100 && bad > 100);
}

/* --- timestamps --- */

static const char *const time_seeds[] = {
    "2025-10-15T10:06:00Z", "2025-10-15T12:06:00.25+02:00", "2024-02-29 23:59:59.999999-05:00",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2025-10-15t10:06z", "2025-10-15T10:06:00+0530",
    "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
};
static const char time_alpha[] = "0123456789-:T Zz+.,tx";

static void test_time_random_and_mutated(void **st) {
    (void)st;
    rng r = seeded();
    int ok = 0, bad = 0;
    char buf[64], fmt[48];
    for (int i = 0; i < 100000; i++) {
        if (i % 4 == 0) {
            random_string(&r, buf, 40, time_alpha);
        } else {
            snprintf(buf, sizeof buf, "%s", time_seeds[below(&r, 9)]);
            mutate(&r, buf, sizeof buf, time_alpha);
        }
        int64_t t = 42;
        st_error err = {0};
        int rc = st_time_parse(buf, &t, &err);
        if (rc != ST_OK) {
            assert_int_equal(rc, ST_EINVAL);
            assert_true(t == 42);
            assert_non_null(strstr(err.msg, "timestamp"));
            bad++;
            continue;
        }
        ok++;
        st_time_format(t, fmt, sizeof fmt);
        int64_t back;
        if (st_time_parse(fmt, &back, &err) != ST_OK || back != t)
            fail_msg("'%s' -> '%s' does not round-trip", buf, fmt);
    }
    print_message("time: %d parsed, %d rejected\n", ok, bad);
    assert_true(ok > 10000 && bad > 10000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_random_and_mutated),
        cmocka_unit_test(test_cron_zone_names),
        cmocka_unit_test(test_tzif_corruption),
        cmocka_unit_test(test_time_random_and_mutated),
    };
    return cmocka_run_group_tests_name("parsers_fuzz", tests, NULL, NULL);
}
