/*
 * test_store — MD5 (RFC 1321 vectors), canonical values, row text, the
 * SQLite SQL functions (md5, st_canon, st_sum64), and the checksum
 * reduction modulo 2^64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "../../src/store/store.h"
#include "../../src/store/store_driver.h"

static void test_md5_rfc1321(void **s) {
    (void)s;
    static const char *v[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[33];
        store_md5_hex(v[i][0], strlen(v[i][0]), hex);
        assert_string_equal(hex, v[i][1]);
    }
}

/* The streaming form gives the one-shot digest wherever the input is cut,
 * including cuts at and around the 64-byte block and 56-byte pad edges. */
static void test_md5_streaming_any_split(void **s) {
    (void)s;
    char text[300];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (char)('a' + i % 26);
    for (size_t len = 0; len <= sizeof text; len += 7) {
        char want[33];
        store_md5_hex(text, len, want);
        for (size_t cut = 0; cut <= len; cut++) {
            store_md5_ctx m;
            unsigned char d[16];
            char got[33];
            store_md5_init(&m);
            store_md5_update(&m, text, cut);
            store_md5_update(&m, text + cut, (len - cut) / 2);
            store_md5_update(&m, text + cut + (len - cut) / 2, len - cut - (len - cut) / 2);
            store_md5_final(&m, d);
            store_md5_digest_hex(d, got);
            assert_string_equal(got, want);
        }
    }
    char hex[33];
    store_md5_ctx m;
    unsigned char d[16];
    store_md5_init(&m);
    store_md5_update(&m, "message ", 8);
    store_md5_update(&m, "digest", 6);
    store_md5_final(&m, d);
    store_md5_digest_hex(d, hex);
    assert_string_equal(hex, "f96b697d7cb7938d525a2f31aaf161d0");
}

static void check_text(const char *in, store_kind k, const char *want) {
    char buf[256];
    const char *got = store_canon_text(in, k, buf, sizeof buf);
    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void test_canon_numeric_text(void **s) {
    (void)s;
    check_text("+001.2300", STORE_K_NUMERIC, "1.23");
    check_text("-0.00", STORE_K_NUMERIC, "0");
    check_text("1e3", STORE_K_NUMERIC, "1000");
    check_text("12.50", STORE_K_NUMERIC, "12.5");
    check_text("0.000100", STORE_K_NUMERIC, "0.0001");
    check_text("-0.000001", STORE_K_NUMERIC, "-0.000001");
    check_text("123456789012345678901234.123456", STORE_K_NUMERIC,
               "123456789012345678901234.123456");
    check_text("abc", STORE_K_NUMERIC, NULL);
    check_text("42", STORE_K_INT, "42");
}

static void check_double(double v, store_kind k, const char *want) {
    char buf[128];
    assert_string_equal(store_canon_double(v, k, buf, sizeof buf), want);
}

static void test_canon_doubles_match_postgres(void **s) {
    (void)s;
    /* PostgreSQL float8out (extra_float_digits = 1) spellings */
    check_double(0.1, STORE_K_FLOAT, "0.1");
    check_double(1e20, STORE_K_FLOAT, "1e+20");
    check_double(1234567890123456.0, STORE_K_FLOAT, "1.234567890123456e+15");
    check_double(0.0001, STORE_K_FLOAT, "0.0001");
    check_double(0.00001, STORE_K_FLOAT, "1e-05");
    check_double(123456.0, STORE_K_FLOAT, "123456");
    check_double(-3.25, STORE_K_FLOAT, "-3.25");
    /* a REAL in a numeric column: exact decimal, no exponent */
    check_double(19.99, STORE_K_NUMERIC, "19.99");
    check_double(1e20, STORE_K_NUMERIC, "100000000000000000000");
    check_double(5.0, STORE_K_NUMERIC, "5");
    check_double(7.0, STORE_K_INT, "7");
    check_double(ldexp(1, -44), STORE_K_FLOAT, "5.684341886080802e-14");
    check_double(0.1 + 0.2, STORE_K_FLOAT, "0.30000000000000004");
    check_double(1.0 / 3, STORE_K_FLOAT, "0.3333333333333333");
    check_double(5e-324, STORE_K_FLOAT, "5e-324");
    check_double(1.7976931348623157e308, STORE_K_FLOAT, "1.7976931348623157e+308");
}

/* The old search: the first precision whose %.*e reads back as v. */
static void ref_shortest(double v, char *d, int *e) {
    char tmp[64];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
    int k = 0;
    const char *q = tmp;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') d[k++] = *q;
    while (k > 1 && d[k - 1] == '0') k--;
    d[k] = '\0';
    *e = atoi(q + 1);
}

/* Same digits as the search, or fewer that still read back as v: at a
 * power of two the gap above is twice the gap below, and the search, which
 * only tries the correctly rounded string of each length, misses a shorter
 * string on the wide side (2^-44: 5.684341886080802e-14, as PostgreSQL's
 * Ryu prints it, not ...08015). */
static void check_dtoa(double v) {
    char got[STORE_DTOA_DIGITS], want[32], back[64];
    int ge, we;
    store_dtoa_shortest(v, got, &ge);
    ref_shortest(v, want, &we);
    if (strcmp(got, want) == 0 && ge == we) return;
    snprintf(back, sizeof back, "%c.%se%d", got[0], got[1] ? got + 1 : "0", ge);
    if (strlen(got) < strlen(want) && strtod(back, NULL) == v) return;
    fail_msg("%.17g: got %s e%d, want %s e%d", v, got, ge, want, we);
}

/* store_dtoa agrees with the exhaustive printf search: decimals of every
 * scale and size (the integer-scaled path), their neighbours one ulp away
 * (16-17 digits), random bit patterns, powers of ten and 2, edges. */
static void test_dtoa_matches_search(void **s) {
    (void)s;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int scale = (int)(x % 12), digits = 1 + (int)((x >> 8) % 15);
        uint64_t m = (x >> 16) % 1000000000000000ULL;
        uint64_t lim = 1;
        for (int k = 0; k < digits; k++) lim *= 10;
        double v = (double)(m % lim);
        for (int k = 0; k < scale; k++) v /= 10;
        if (v == 0) continue;
        check_dtoa(v);
        check_dtoa(nextafter(v, 1e300));
        double r;
        uint64_t bits = x;
        memcpy(&r, &bits, sizeof r);
        if (isfinite(r) && r != 0) check_dtoa(fabs(r));
    }
    static const double edge[] = {0.1, 0.2, 0.3, 0.1 + 0.2, 1e15, 1e15 - 1, 1e15 + 0.5, 1e-15,
                                  9007199254740991.0, 9007199254740992.0, 9007199254740993.0,
                                  5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                                  123456789012345.6, 0.000123, 1e22, 1e23, 99.99, 1234567890.12};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) check_dtoa(edge[i]);
    for (int k = -300; k <= 300; k++) check_dtoa(pow(10, k));
    for (int k = -1000; k <= 1000; k++) check_dtoa(ldexp(1, k));
    /* the few-decimals path: m / 10^s (the nearest double, one division)
     * for s = 0..6, around the limits a * 10^4 < 2^50 and a < 2^50, and
     * their neighbours */
    static const double lim[] = {0x1p50 / 10000.0, 0x1p50, 1.0, 1e6};
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int sc = (int)(x % 7);
        double p = pow(10, sc), base = lim[(x >> 3) % 4];
        double m = floor(base * p) + (double)((int64_t)((x >> 8) % 2001) - 1000);
        if (i % 2) m = (double)((x >> 11) % 100000000000ULL);
        if (m <= 0) continue;
        double v = m / p;
        check_dtoa(v);
        check_dtoa(nextafter(v, 0));
        check_dtoa(nextafter(v, 1e300));
    }
}

/* A NUMERIC REAL's colhash-v2 term without its text
 * (store_colhash_numeric_double) equals the term of its canonical text,
 * bit for bit, for every value it takes: decimals of 0 to 4 places (and
 * more, which it must refuse or get right), signs, integers, the size
 * limit, neighbours one ulp away; and it takes the common ones. */
static void check_numeric_double(double v, int seed, int *taken) {
    uint64_t h;
    if (!store_colhash_numeric_double(v, seed, &h)) return;
    (*taken)++;
    char buf[128];
    const char *t = store_canon_double(v, STORE_K_NUMERIC, buf, sizeof buf);
    assert_non_null(t);
    uint64_t want = store_colhash_text(STORE_K_NUMERIC, t, strlen(t), seed);
    if (h != want) fail_msg("%.17g (%s): %llx, text %llx", v, t, (unsigned long long)h,
                            (unsigned long long)want);
}

static void test_colhash_numeric_double_matches_text(void **s) {
    (void)s;
    uint64_t x = 2463534242ULL;
    int taken = 0;
    static const double edge[] = {0.0001, 0.5, 1, 9999.9999, 10000, 10000.0001, 100000000,
                                  12.37, 0.01, 1234567890.12, 0x1p50 / 10000.0 - 1,
                                  0x1p50 / 10000.0, 1e-5, 0.1 + 0.2, 0.0};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        for (int sign = 1; sign >= -1; sign -= 2) {
            check_numeric_double(sign * edge[i], 3, &taken);
            check_numeric_double(nextafter(sign * edge[i], 0), 3, &taken);
            check_numeric_double(nextafter(sign * edge[i], 1e300), 3, &taken);
        }
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int places = (int)(x % 7), digits = 1 + (int)((x >> 8) % 15);
        uint64_t lim = 1;
        for (int k = 0; k < digits; k++) lim *= 10;
        double v = (double)((x >> 16) % lim) / pow(10, places);
        if (x & (1u << 5)) v = -v;
        check_numeric_double(v, 1 + (int)(x % 9), &taken);
        check_numeric_double(nextafter(v, 1e300), 2, &taken);
    }
    assert_true(taken > 150000);
    uint64_t h;
    assert_false(store_colhash_numeric_double(0.0, 1, &h));     /* "0": the text path */
    assert_false(store_colhash_numeric_double(0.12345, 1, &h)); /* 5 places */
    assert_false(store_colhash_numeric_double(NAN, 1, &h));
    assert_false(store_colhash_numeric_double(1e12, 1, &h));    /* beyond 2^50 / 10^4 */
}

static void test_canon_time_bool_date(void **s) {
    (void)s;
    /* PostgreSQL's ISO output in UTC, and the text SQLite's datetime() makes */
    check_text("2025-10-15T12:06:00.25+02:00", STORE_K_TIMESTAMPTZ, "2025-10-15 10:06:00.25");
    check_text("2025-10-15 08:00:00", STORE_K_TIMESTAMPTZ, "2025-10-15 08:00:00");
    check_text("2025-10-15T08:00:00.000001Z", STORE_K_TIMESTAMP, "2025-10-15 08:00:00.000001");
    check_text("2025-10-15T08:00:00.500000Z", STORE_K_TIMESTAMPTZ, "2025-10-15 08:00:00.5");
    check_text("2025-03-30T03:30:00.123456+02:00", STORE_K_TIMESTAMPTZ, "2025-03-30 01:30:00.123456");
    check_text("2025-10-15 23:30:00-05:00", STORE_K_DATE, "2025-10-16");
    check_text("2025-13-01", STORE_K_DATE, NULL);
    check_text("not a time", STORE_K_TIMESTAMPTZ, NULL);
    check_text("true", STORE_K_BOOL, "t");
    check_text("0", STORE_K_BOOL, "f");
    check_text("maybe", STORE_K_BOOL, NULL);
    check_text("2025-10-15", STORE_K_DATE, "2025-10-15");
    check_text("anything", STORE_K_TEXT, "anything");
}

static void test_kind_of(void **s) {
    (void)s;
    assert_int_equal(store_kind_of("bigint"), STORE_K_INT);
    assert_int_equal(store_kind_of("numeric(12,2)"), STORE_K_NUMERIC);
    assert_int_equal(store_kind_of("TIMESTAMPTZ"), STORE_K_TIMESTAMPTZ);
    assert_int_equal(store_kind_of("timestamp with time zone"), STORE_K_TIMESTAMPTZ);
    assert_int_equal(store_kind_of("timestamp"), STORE_K_TIMESTAMP);
    assert_int_equal(store_kind_of("double precision"), STORE_K_FLOAT);
    assert_int_equal(store_kind_of("varchar(20)"), STORE_K_TEXT);
}

static char *rowtext(const char *const *v, size_t n) {
    store_sb b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i) store_sb_add(&b, "|");
        store_sb_rowvalue(&b, v[i]);
    }
    return b.s;
}

static void test_rowtext_separates_values(void **s) {
    (void)s;
    const char *a[] = {"a", "bc"}, *b[] = {"ab", "c"}, *c[] = {NULL}, *d[] = {"\\N"},
               *e[] = {"a|b"}, *f[] = {"a", "b"};
    char *ta = rowtext(a, 2), *tb = rowtext(b, 2), *tc = rowtext(c, 1), *td = rowtext(d, 1),
         *te = rowtext(e, 1), *tf = rowtext(f, 2);
    assert_string_not_equal(ta, tb);
    assert_string_not_equal(tc, td);
    assert_string_not_equal(te, tf);
    assert_string_equal(tc, "\\N");
    assert_string_equal(te, "a\\|b");
    free(ta); free(tb); free(tc); free(td); free(te); free(tf);
}

static void test_mod64(void **s) {
    (void)s;
    assert_true(store_mod64("0") == 0);
    assert_true(store_mod64("18446744073709551616") == 0);          /* 2^64 */
    assert_true(store_mod64("18446744073709551617") == 1);
    assert_true(store_mod64("-1") == UINT64_MAX);
    assert_true(store_mod64("36893488147419103234") == 2);           /* 2*2^64 + 2 */
}

static void test_key_cmp(void **s) {
    (void)s;
    assert_true(store_key_cmp(STORE_K_INT, "9", "10") < 0);
    assert_true(store_key_cmp(STORE_K_TEXT, "9", "10") > 0);
    assert_true(store_key_cmp(STORE_K_INT, "-5", "3") < 0);
    assert_int_equal(store_key_cmp(STORE_K_TEXT, "é", "é"), 0);
    assert_true(store_key_cmp(STORE_K_TEXT, "Z", "a") < 0);  /* bytewise, like COLLATE "C" */
}

/* The SQL functions the SQLite driver registers, through the store API. */
static void test_sqlite_functions(void **s) {
    (void)s;
    config_datastore ds = {.name = "mem", .type = CONFIG_DS_SQLITE, .path = ":memory:"};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), 0);
    store_reader *r = NULL;
    assert_int_equal(store_query(st, &r,
        "SELECT md5('abc'), st_canon(2, '12.500'), st_canon(2, 19.99), st_canon(5, "
        "'2025-10-15T12:06:00+02:00'), st_canon(4, 1), st_canon(1, NULL), "
        "(SELECT st_sum64(h) FROM (SELECT 'ffffffffffffffff' AS h UNION ALL SELECT "
        "'0000000000000002'))", 0, NULL, &err), 0);
    const char *const *row;
    int nc;
    assert_int_equal(store_next(st, r, &row, &nc, &err), 1);
    assert_int_equal(nc, 7);
    assert_string_equal(row[0], "900150983cd24fb0d6963f7d28e17f72");
    assert_string_equal(row[1], "12.5");
    assert_string_equal(row[2], "19.99");
    assert_string_equal(row[3], "2025-10-15 10:06:00");
    assert_string_equal(row[4], "t");
    assert_null(row[5]);
    assert_string_equal(row[6], "1");  /* (2^64 - 1 + 2) mod 2^64 */
    assert_int_equal(store_next(st, r, &row, &nc, &err), 0);
    store_reader_close(st, r);
    store_close(st);
    store_close(NULL);
}

/* st_md5_agg: md5 of the texts joined with '|' in key order, whatever
 * order the rows arrive in; NULL over no rows. */
static void test_sqlite_md5_agg_orders_by_key(void **s) {
    (void)s;
    config_datastore ds = {.name = "mem", .type = CONFIG_DS_SQLITE, .path = ":memory:"};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), 0);
    assert_int_equal(store_exec(st, "CREATE TABLE t (k INTEGER, v TEXT)", 0, NULL, NULL, &err), 0);
    assert_int_equal(store_exec(st, "INSERT INTO t VALUES (3, 'c'), (-7, 'a'), (10, 'd|'), "
                                    "(2, 'b')", 0, NULL, NULL, &err), 0);
    store_reader *r = NULL;
    assert_int_equal(store_query(st, &r,
        "SELECT (SELECT st_md5_agg(k, v) FROM (SELECT * FROM t ORDER BY v DESC)), "
        "(SELECT st_md5_agg(k, v) FROM (SELECT * FROM t ORDER BY k)), md5('a|b|c|d|'), "
        "(SELECT st_md5_agg(k, v) FROM t WHERE k > 100)", 0, NULL, &err), 0);
    const char *const *row;
    int nc;
    assert_int_equal(store_next(st, r, &row, &nc, &err), 1);
    assert_string_equal(row[0], row[2]);
    assert_string_equal(row[1], row[2]);
    assert_null(row[3]);
    store_reader_close(st, r);
    store_close(st);
}

/* The rows of `sql` joined as "a,b,c;" lines into buf. */
static void rows_text(store *st, const char *sql, char *buf, size_t n) {
    store_reader *r = NULL;
    st_error err;
    if (store_query(st, &r, sql, 0, NULL, &err) != 0) fail_msg("%s: %s", sql, err.msg);
    const char *const *row;
    int nc, rc;
    size_t len = 0;
    buf[0] = '\0';
    while ((rc = store_next(st, r, &row, &nc, &err)) == 1)
        for (int i = 0; i < nc; i++)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", row[i] ? row[i] : "NULL",
                                    i + 1 < nc ? "," : ";");
    assert_int_equal(rc, 0);
    store_reader_close(st, r);
}

/* st_bucket_sums (the hash strategy's bucket sums without GROUP BY's
 * sorter, store_ops.bucket_sums_sql) gives what GROUP BY bucket with
 * count(*) and st_sumi64 gives: rows in any order, sums wrapping mod 2^64
 * (printed signed, st_sumi64 unsigned: equal mod 2^64), NULL digests
 * counted but not summed; no rows over an empty range; a bucket out of
 * range is an error, never a row in the wrong bucket. */
static void test_sqlite_bucket_sums_match_group_by(void **s) {
    (void)s;
    config_datastore ds = {.name = "mem", .type = CONFIG_DS_SQLITE, .path = ":memory:"};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), 0);
    assert_int_equal(store_exec(st, "CREATE TABLE t (k INTEGER PRIMARY KEY, h INTEGER)", 0, NULL,
                                NULL, &err), 0);
    assert_int_equal(store_exec(st, "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                    "FROM g WHERE i < 3000) INSERT INTO t SELECT (i * 7919) % 3001, "
                                    "CASE WHEN i % 13 = 0 THEN NULL WHEN i % 2 = 0 THEN "
                                    "9223372036854775807 - i ELSE -9223372036854775807 + i * i END "
                                    "FROM g", 0, NULL, NULL, &err), 0);
    static const char *where[] = {"k >= 0 AND k <= 3000", "k >= 100 AND k <= 2000",
                                  "k >= 5000 AND k <= 6000"};
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        char sql[512], got[65536], want[65536];
        snprintf(sql, sizeof sql, "SELECT json_extract(b.value, '$[0]'), "
                 "json_extract(b.value, '$[1]'), json_extract(b.value, '$[2]') "
                 "FROM json_each((SELECT st_bucket_sums(k / 37, h) FROM t WHERE %s)) AS b",
                 where[w]);
        rows_text(st, sql, got, sizeof got);
        snprintf(sql, sizeof sql, "SELECT k / 37, count(*), st_sumi64(h) FROM t WHERE %s "
                 "GROUP BY 1 ORDER BY 1", where[w]);
        rows_text(st, sql, want, sizeof want);
        /* the sums as unsigned, as st_sumi64 prints them */
        char norm[65536];
        size_t len = 0;
        for (char *line = got, *end; *line; line = end + 1) {
            end = strchr(line, ';');
            long long b, c, sum;
            assert_int_equal(sscanf(line, "%lld,%lld,%lld", &b, &c, &sum), 3);
            len += (size_t)snprintf(norm + len, sizeof norm - len, "%lld,%lld,%llu;", b, c,
                                    (unsigned long long)sum);
        }
        norm[len] = '\0';
        assert_string_equal(norm, want);
        if (w < 2) assert_true(strlen(want) > 0);
        else assert_string_equal(want, "");
    }
    store_reader *r = NULL;
    int rc = store_query(st, &r, "SELECT st_bucket_sums(k - 10, h) FROM t", 0, NULL, &err);
    const char *const *row;
    int nc;
    if (rc == 0) rc = store_next(st, r, &row, &nc, &err);
    assert_true(rc < 0);
    assert_non_null(strstr(err.msg, "bucket out of range"));
    store_reader_close(st, r);
    store_close(st);
}

/* Values of every storage class read as their kind (st_canon) and written
 * as a sync writes them (st_store), including the pass-through of values
 * already canonical and the shapes next to it. */
static void test_sqlite_canon_and_store_any_storage_class(void **s) {
    (void)s;
    config_datastore ds = {.name = "mem", .type = CONFIG_DS_SQLITE, .path = ":memory:"};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), 0);
    static const char *cases[][2] = {
        {"st_canon(7, '2025-10-15')", "2025-10-15"},
        {"st_canon(7, '2025-10-15 23:30:00-05:00')", "2025-10-16"},
        {"st_canon(7, 1760515200)", "2025-10-15"},
        {"st_canon(5, '2025-10-15 08:00:00.500')", "2025-10-15 08:00:00.5"},
        {"st_canon(5, '2025-10-15 08:00:00.000001')", "2025-10-15 08:00:00.000001"},
        {"st_canon(5, '2025-10-15T08:00:00Z')", "2025-10-15 08:00:00"},
        {"st_canon(5, 1760515200)", "2025-10-15 08:00:00"},
        {"st_canon(6, julianday('2025-10-15 08:00:00.250'))", "2025-10-15 08:00:00.25"},
        {"st_canon(4, 'yes')", "t"}, {"st_canon(4, 0.0)", "f"}, {"st_canon(4, 2)", "t"},
        {"st_canon(2, 5)", "5"}, {"st_canon(2, '5.00')", "5"}, {"st_canon(2, 5.5)", "5.5"},
        {"st_canon(3, 5)", "5"}, {"st_canon(3, 1e20)", "1e+20"}, {"st_canon(1, '007')", "7"},
        {"typeof(st_store(4, 'true')) || st_store(4, 'true')", "integer1"},
        {"typeof(st_store(4, 0)) || st_store(4, 0)", "integer0"},
        {"st_store(5, '2025-10-15T10:00:00+02:00')", "2025-10-15 08:00:00"},
        {"st_store(5, '2025-10-15 08:00:00')", "2025-10-15 08:00:00"},
        {"st_store(7, '2025-10-15')", "2025-10-15"},
        {"st_store(2, 'n/a')", "n/a"},   /* unreadable: kept as it is */
        {"st_store(5, 'soon')", "soon"},
        {"quote(st_store(5, NULL))", "NULL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT %s", cases[i][0]);
        store_reader *r = NULL;
        const char *const *row;
        int nc;
        assert_int_equal(store_query(st, &r, sql, 0, NULL, &err), 0);
        assert_int_equal(store_next(st, r, &row, &nc, &err), 1);
        if (row[0] == NULL || strcmp(row[0], cases[i][1]) != 0)
            fail_msg("%s: got %s, want %s", cases[i][0], row[0] ? row[0] : "NULL", cases[i][1]);
        store_reader_close(st, r);
    }
    store_close(st);
}

/* st_rowtext (the SQLite driver's row text in one call) gives byte for
 * byte the text the SQL expression it replaces gave (COALESCE, st_canon,
 * CAST, replace, ||), for every kind and values of every storage class:
 * NULL, integers, reals (-0.0, huge, tiny), numbers as text, times in any
 * spelling, unreadable text, '|' and '\', an embedded NUL, blobs. */
static void test_sqlite_rowtext_matches_expression(void **s) {
    (void)s;
    config_datastore ds = {.name = "mem", .type = CONFIG_DS_SQLITE, .path = ":memory:"};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), 0);
    assert_int_equal(store_exec(st, "CREATE TABLE v (x)", 0, NULL, NULL, &err), 0);
    assert_int_equal(store_exec(st, "INSERT INTO v VALUES (NULL), (0), (-5), (9223372036854775807), "
        "(0.0), (-0.0), (1e20), (2.5e-7), (0.1), (12.5), (1760515200), (2460963.75), ('5.00'), "
        "('12.500'), ('-0.0001'), ('1e5'), ('007'), ('abc'), (''), ('a|b\\c'), ('\\N'), ('|'), "
        "('true'), ('f'), ('yes'), ('2025-10-15'), ('2025-10-15 08:00:00'), "
        "('2025-10-15 08:00:00.500'), ('2025-10-15T10:00:00+02:00'), ('2025-10-15 08:00:00.000001'), "
        "('12:30:00'), ('héllo ✓ 日本'), (CAST('a' || char(0) || 'b' AS TEXT)), (x'00ff7c5c'), "
        "(x''), (CAST('5' || char(0) || '7' AS TEXT))", 0, NULL, NULL, &err), 0);
    for (int k = 0; k <= 9; k++) {
        char sql[1200], old[400];
        if (k == 0)
            snprintf(old, sizeof old, "COALESCE(replace(replace(CAST(x AS TEXT), '\\', '\\\\'), "
                     "'|', '\\|'), '\\N')");
        else
            snprintf(old, sizeof old, "COALESCE(st_canon(%d, x), '\\N')", k);
        snprintf(sql, sizeof sql, "SELECT count(*), sum(st_rowtext(%d, x, 0, x, %d, x) IS NOT "
                 "(%s || '|' || COALESCE(replace(replace(CAST(x AS TEXT), '\\', '\\\\'), '|', '\\|'), "
                 "'\\N') || '|' || %s)), sum(md5(st_rowtext(%d, x)) IS NOT md5(%s)) FROM v",
                 k, k, old, old, k, old);
        store_reader *r = NULL;
        const char *const *row;
        int nc;
        assert_int_equal(store_query(st, &r, sql, 0, NULL, &err), 0);
        assert_int_equal(store_next(st, r, &row, &nc, &err), 1);
        assert_string_equal(row[0], "36");
        if (strcmp(row[1], "0") != 0 || strcmp(row[2], "0") != 0)
            fail_msg("kind %d: %s / %s rows differ", k, row[1], row[2]);
        store_reader_close(st, r);
    }
    store_close(st);
}

static void test_sqlite_open_failure_names_datastore(void **s) {
    (void)s;
    config_datastore ds = {.name = "ghost", .type = CONFIG_DS_SQLITE,
                           .path = "/nonexistent-dir/x/y.db"};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "datastore 'ghost'"));
    assert_null(st);
}

/* store_scrub: every secret becomes "(value hidden)", wherever it is;
 * overlapping and adjacent ones become one; the first line only; a short
 * buffer is cut before a replacement, never inside one or inside a secret. */
static void test_scrub_secrets(void **s) {
    (void)s;
    const char *const secrets[] = {"db.hidden", "app_user", "hidden.example", "5999", NULL};
    static const struct { const char *in, *want; } cases[] = {
        {"connection to server at \"db.hidden\", port 5999 failed",
         "connection to server at \"(value hidden)\", port (value hidden) failed"},
        {"app_user at start", "(value hidden) at start"},
        {"at end app_user", "at end (value hidden)"},
        {"app_user", "(value hidden)"},
        /* "db.hidden" and "hidden.example" overlap: one stretch, nothing shown */
        {"host db.hidden.example down", "host (value hidden) down"},
        {"app_user5999", "(value hidden)"},                   /* adjacent */
        {"no secret here: 599", "no secret here: 599"},
        {"first app_user\nsecond 5999", "first (value hidden)"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        store_scrub(out, sizeof out, cases[i].in, secrets);
        assert_string_equal(out, cases[i].want);
    }
    char out[256];
    store_scrub(out, sizeof out, "x app_user y", NULL);   /* no secrets: first line as is */
    assert_string_equal(out, "x app_user y");
    /* truncation: the replacement fits whole or not at all */
    char small[12];
    store_scrub(small, sizeof small, "user app_user", secrets);
    assert_string_equal(small, "user ");
    char tiny[1];
    store_scrub(tiny, sizeof tiny, "app_user", secrets);
    assert_string_equal(tiny, "");
    for (size_t n = 1; n <= 40; n++) {   /* every cut: never a piece of a secret */
        char buf[40];
        store_scrub(buf, n, "at db.hidden.example port 5999 app_user!", secrets);
        assert_true(strlen(buf) < n);
        assert_null(strstr(buf, "db.h"));
        assert_null(strstr(buf, "app_"));
        assert_null(strstr(buf, "599"));
    }
}

/* Every error a store returns is scrubbed of the datastore's secrets: here
 * the path of an SQLite file that came from ${VAR}. */
static void test_store_errors_hide_secrets(void **s) {
    (void)s;
    char *secrets[] = {"/nonexistent-hidden-dir", NULL};
    config_datastore ds = {.name = "ghost", .type = CONFIG_DS_SQLITE,
                           .path = "/nonexistent-hidden-dir/x/y.db", .secrets = secrets,
                           .nsecrets = 1};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "datastore 'ghost'"));
    assert_non_null(strstr(err.msg, "(value hidden)/x/y.db"));
    assert_null(strstr(err.msg, "nonexistent-hidden"));
    /* an error of an open store: a query naming the secret */
    char *lite_secrets[] = {"zz_hidden_table", NULL};
    config_datastore mem = {.name = "mem", .type = CONFIG_DS_SQLITE, .path = ":memory:",
                            .secrets = lite_secrets, .nsecrets = 1};
    assert_int_equal(store_open(&st, &mem, &err), ST_OK);
    assert_true(store_exec(st, "SELECT * FROM zz_hidden_table", 0, NULL, NULL, &err) < 0);
    assert_non_null(strstr(err.msg, "no such table: (value hidden)"));
    /* a message cut at the end of its buffer inside a secret drops the piece */
    assert_true(store_exec(st, "SELECT * FROM t0", 0, NULL, NULL, &err) < 0);
    size_t lead = strlen(err.msg) - 2;   /* the text before the table name */
    char sql[2048], name[1100];
    size_t pad = sizeof err.msg - 1 - lead - 6;   /* the cut falls 6 bytes into the secret */
    memset(name, 'a', pad);
    snprintf(name + pad, sizeof name - pad, "zz_hidden_table");
    snprintf(sql, sizeof sql, "SELECT * FROM %s", name);
    assert_true(store_exec(st, sql, 0, NULL, NULL, &err) < 0);
    assert_null(strstr(err.msg, "zz_hid"));
    assert_non_null(strstr(err.msg, "aaaa"));
    store_close(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_rfc1321),
        cmocka_unit_test(test_md5_streaming_any_split),
        cmocka_unit_test(test_canon_numeric_text),
        cmocka_unit_test(test_canon_doubles_match_postgres),
        cmocka_unit_test(test_dtoa_matches_search),
        cmocka_unit_test(test_canon_time_bool_date),
        cmocka_unit_test(test_kind_of),
        cmocka_unit_test(test_rowtext_separates_values),
        cmocka_unit_test(test_mod64),
        cmocka_unit_test(test_key_cmp),
        cmocka_unit_test(test_sqlite_functions),
        cmocka_unit_test(test_sqlite_md5_agg_orders_by_key),
        cmocka_unit_test(test_sqlite_bucket_sums_match_group_by),
        cmocka_unit_test(test_colhash_numeric_double_matches_text),
        cmocka_unit_test(test_sqlite_canon_and_store_any_storage_class),
        cmocka_unit_test(test_sqlite_rowtext_matches_expression),
        cmocka_unit_test(test_sqlite_open_failure_names_datastore),
        cmocka_unit_test(test_scrub_secrets),
        cmocka_unit_test(test_store_errors_hide_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
