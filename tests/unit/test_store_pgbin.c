/*
 * test_store_pgbin — the tuple-boundary parser of PostgreSQL's binary COPY
 * stream (store_pg_int.h), which cuts the native full copy into batches:
 * boundaries found exactly wherever the stream is split (every piece size
 * from one byte up), `max` honoured, the header (with an extension) and
 * the trailer left out, NULL keys and malformed streams refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../src/store/store_pg_int.h"

typedef struct stream {
    unsigned char b[8192];
    size_t n;
    size_t ends[64];   /* offset just past each tuple */
    size_t nends;
    size_t header;     /* offset just past the header */
} stream;

static void put(stream *s, const void *p, size_t n) {
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static void put16(stream *s, int v) {
    unsigned char b[2] = {(unsigned char)((unsigned)v >> 8), (unsigned char)v};
    put(s, b, 2);
}

static void put32(stream *s, int32_t v) {
    uint32_t u = (uint32_t)v;
    unsigned char b[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 8), (unsigned char)u};
    put(s, b, 4);
}

static void header(stream *s, size_t ext) {
    put(s, store_pgbin_header, 15);
    put32(s, (int32_t)ext);
    for (size_t i = 0; i < ext; i++) put(s, "x", 1);
    s->header = s->n;
}

/* A tuple of three fields; len -1 is NULL. */
static void tuple(stream *s, int a, int b, int c) {
    int lens[3] = {a, b, c};
    put16(s, 3);
    for (int f = 0; f < 3; f++) {
        put32(s, lens[f]);
        for (int i = 0; i < lens[f]; i++) {
            unsigned char v = (unsigned char)(i * 37 + f); /* NULs, 0xff, anything */
            put(s, &v, 1);
        }
    }
    s->ends[s->nends++] = s->n;
}

static void sample(stream *s, size_t ext) {
    memset(s, 0, sizeof *s);
    header(s, ext);
    tuple(s, 8, 0, 300);
    tuple(s, 8, -1, -1);   /* NULLs in every non-key field */
    tuple(s, 1, 2, 3);
    tuple(s, 0, 255, 256); /* an empty (not NULL) key */
    tuple(s, 8, 4, -1);
    put16(s, -1);          /* trailer */
}

static const bool keys[3] = {true, false, false};

/* Feeds s in pieces of `piece` bytes, max 1 tuple a call; every stop with
 * a tuple must be at the next expected boundary. */
static void check_split(const stream *s, size_t piece) {
    store_pgbin p;
    store_pgbin_init(&p, 3, keys);
    size_t off = 0, seen = 0;
    bool header_seen = false;
    while (off < s->n) {
        size_t len = s->n - off < piece ? s->n - off : piece, used = 0;
        int64_t t = 0;
        assert_int_equal(store_pgbin_scan(&p, s->b + off, len, 1, &used, &t), STORE_PGBIN_OK);
        off += used;
        if (!header_seen && store_pgbin_boundary(&p)) {
            assert_int_equal(off, s->header);
            header_seen = true;
        }
        if (t > 0) {
            assert_int_equal(t, 1);
            assert_true(seen < s->nends);
            assert_int_equal(off, s->ends[seen++]);
            assert_true(store_pgbin_boundary(&p));
        }
        assert_true(used > 0 || store_pgbin_done(&p));
        if (store_pgbin_done(&p)) break;
    }
    assert_true(header_seen);
    assert_true(store_pgbin_done(&p));
    assert_false(store_pgbin_boundary(&p));
    assert_int_equal(off, s->n);
    assert_int_equal(seen, s->nends);
    assert_int_equal(p.rows, (int64_t)s->nends);
}

static void test_boundaries_at_every_split(void **st) {
    (void)st;
    static stream s;
    for (size_t ext = 0; ext < 3; ext += 2) {
        sample(&s, ext);
        for (size_t piece = 1; piece <= s.n; piece++) check_split(&s, piece);
    }
}

static void test_max_stops_after_that_many_tuples(void **st) {
    (void)st;
    static stream s;
    sample(&s, 0);
    store_pgbin p;
    store_pgbin_init(&p, 3, keys);
    size_t used;
    int64_t t;
    assert_int_equal(store_pgbin_scan(&p, s.b, s.n, 2, &used, &t), STORE_PGBIN_OK);
    assert_int_equal(used, s.header); /* the header ends a scan of its own */
    assert_int_equal(t, 0);
    size_t off = used;
    assert_int_equal(store_pgbin_scan(&p, s.b + off, s.n - off, 2, &used, &t), STORE_PGBIN_OK);
    off += used;
    assert_int_equal(t, 2);
    assert_int_equal(off, s.ends[1]);
    assert_int_equal(store_pgbin_scan(&p, s.b + off, s.n - off, 100, &used, &t), STORE_PGBIN_OK);
    off += used;
    assert_int_equal(t, 3);
    assert_int_equal(off, s.n); /* and the trailer */
    assert_true(store_pgbin_done(&p));
    assert_int_equal(p.rows, 5);
    /* data after the trailer is refused */
    assert_int_equal(store_pgbin_scan(&p, s.b, 2, 1, &used, &t), STORE_PGBIN_BAD);
}

static void test_null_key_is_refused_at_its_field(void **st) {
    (void)st;
    static stream s;
    memset(&s, 0, sizeof s);
    header(&s, 0);
    tuple(&s, 8, 1, 1);
    tuple(&s, -1, 1, 1);
    store_pgbin p;
    store_pgbin_init(&p, 3, keys);
    size_t used;
    int64_t t;
    assert_int_equal(store_pgbin_scan(&p, s.b, s.n, 10, &used, &t), STORE_PGBIN_OK);
    assert_int_equal(store_pgbin_scan(&p, s.b + used, s.n - used, 10, &used, &t),
                     STORE_PGBIN_NULL_KEY);
    assert_int_equal(p.null_key, 0);
    /* without key flags a NULL is just a NULL */
    store_pgbin_init(&p, 3, NULL);
    assert_int_equal(store_pgbin_scan(&p, s.b, s.n, 10, &used, &t), STORE_PGBIN_OK);
    assert_int_equal(store_pgbin_scan(&p, s.b + used, s.n - used, 10, &used, &t),
                     STORE_PGBIN_OK);
    assert_int_equal(t, 2);
}

static void expect_bad(const stream *s, int nfields) {
    store_pgbin p;
    store_pgbin_init(&p, nfields, keys);
    size_t used, off = 0;
    int64_t t;
    int rc = STORE_PGBIN_OK;
    while (rc == STORE_PGBIN_OK && off < s->n && !store_pgbin_done(&p)) {
        rc = store_pgbin_scan(&p, s->b + off, s->n - off, 10, &used, &t);
        off += used;
    }
    assert_int_equal(rc, STORE_PGBIN_BAD);
    assert_non_null(p.why);
}

static void test_malformed_streams_are_refused(void **st) {
    (void)st;
    static stream s;
    sample(&s, 0);
    s.b[0] = 'X'; /* signature */
    expect_bad(&s, 3);
    sample(&s, 0);
    s.b[14] = 1; /* flags (OIDs) */
    expect_bad(&s, 3);
    sample(&s, 0);
    expect_bad(&s, 4); /* field count */
    memset(&s, 0, sizeof s);
    header(&s, 0);
    put16(&s, 3);
    put32(&s, -2); /* length below -1 */
    expect_bad(&s, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries_at_every_split),
        cmocka_unit_test(test_max_stops_after_that_many_tuples),
        cmocka_unit_test(test_null_key_is_refused_at_its_field),
        cmocka_unit_test(test_malformed_streams_are_refused),
    };
    return cmocka_run_group_tests_name("store_pgbin", tests, NULL, NULL);
}
