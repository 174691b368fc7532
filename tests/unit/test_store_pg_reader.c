/*
 * test_store_pg_reader — the PostgreSQL cursor reader (store_pg.c), which
 * keeps the next FETCH in flight while the caller works on the current
 * chunk; chunks are 1,000 rows first, doubling up to 10,000 (so the
 * boundaries fall after 1,000, 3,000, 7,000, 15,000, 25,000, ... rows).
 *
 * Against the real server from scripts/with-servers (SYNCTOOL_TEST_PG_*):
 * every row arrives once and in order across several chunk boundaries,
 * and exactly as many rows as there are when the result ends on, just
 * before or just after a boundary; a
 * reader closed while a FETCH is in flight leaves the connection usable;
 * an error raised inside the chunk fetched ahead is reported by store_next
 * (not lost), and the store works afterwards.
 *
 * Issue 20: a statement sent while a read streams on the same connection
 * is refused with a message (it used to steal the FETCH in flight and end
 * the read with an empty "reading rows: "), and the read goes on intact;
 * with the interrupt flag up, a cursor read and a binary COPY read of a
 * slow query end with ST_EINTR at once (not after the chunk: 1,000 rows
 * at 10 ms), and the store works afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/store/store.h"

static store *open_pg(void) {
    const char *host = getenv("SYNCTOOL_TEST_PG_HOST"), *port = getenv("SYNCTOOL_TEST_PG_PORT");
    if (host == NULL || port == NULL)
        fail_msg("SYNCTOOL_TEST_PG_* not set: run under scripts/with-servers (make unit does)");
    config_datastore ds = {.name = "pgtest", .type = CONFIG_DS_POSTGRES, .host = (char *)host,
                           .port = atoi(port), .user = getenv("SYNCTOOL_TEST_PG_USER"),
                           .password = getenv("SYNCTOOL_TEST_PG_PASSWORD"),
                           .dbname = getenv("SYNCTOOL_TEST_PG_DBNAME")};
    store *s = NULL;
    st_error err;
    if (store_open(&s, &ds, &err) != 0) fail_msg("%s", err.msg);
    return s;
}

/* Reads up to `limit` rows of `sql`; returns how many; *last the last value. */
static long read_rows(store *s, store_reader *r, long limit, long *last, int *rc_out) {
    const char *const *row;
    int nc, rc = 1;
    long n = 0;
    st_error err;
    while (n < limit && (rc = store_next(s, r, &row, &nc, &err)) == 1) {
        long v = strtol(row[0], NULL, 10);
        if (v != *last + 1) fail_msg("row %ld: got %ld after %ld", n, v, *last);
        *last = v;
        n++;
    }
    *rc_out = rc;
    return n;
}

static void assert_store_usable(store *s) {
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query_small(s, &r, "SELECT 41 + 1", 0, NULL, &err), 0);
    const char *const *row;
    int nc;
    assert_int_equal(store_next(s, r, &row, &nc, &err), 1);
    assert_string_equal(row[0], "42");
    store_reader_close(s, r);
}

static void test_pg_reader_every_row_once_across_chunks(void **x) {
    (void)x;
    store *s = open_pg();
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r, "SELECT g FROM generate_series(1, 35001) g ORDER BY g",
                                 0, NULL, &err), 0);
    long last = 0;
    int rc;
    assert_int_equal(read_rows(s, r, 1000000, &last, &rc), 35001);
    assert_int_equal(rc, 0);
    assert_int_equal(last, 35001);
    store_reader_close(s, r);
    assert_store_usable(s);
    store_close(s);
}

static void test_pg_reader_results_ending_at_chunk_boundaries(void **x) {
    (void)x;
    static const long sizes[] = {0, 1, 999, 1000, 1001, 2999, 3000, 3001, 7000, 15000, 25000};
    store *s = open_pg();
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT g FROM generate_series(1, %ld) g ORDER BY g", sizes[i]);
        store_reader *r = NULL;
        st_error err;
        assert_int_equal(store_query(s, &r, sql, 0, NULL, &err), 0);
        long last = 0;
        int rc;
        assert_int_equal(read_rows(s, r, 1000000, &last, &rc), sizes[i]);
        assert_int_equal(rc, 0);
        assert_int_equal(last, sizes[i]);
        store_reader_close(s, r);
    }
    assert_store_usable(s);
    store_close(s);
}

static void test_pg_reader_close_with_fetch_in_flight(void **x) {
    (void)x;
    store *s = open_pg();
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r, "SELECT g FROM generate_series(1, 50000) g ORDER BY g",
                                 0, NULL, &err), 0);
    long last = 0;
    int rc;
    assert_int_equal(read_rows(s, r, 15000, &last, &rc), 15000);
    store_reader_close(s, r);
    assert_store_usable(s);
    store_close(s);
}

static void test_pg_reader_error_in_chunk_fetched_ahead(void **x) {
    (void)x;
    store *s = open_pg();
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r,
                                 "SELECT g + 0 * (1 / (g - 15000)) FROM generate_series(1, 30000) g",
                                 0, NULL, &err), 0);
    long last = 0;
    int rc;
    long n = read_rows(s, r, 1000000, &last, &rc);
    assert_true(rc < 0);
    assert_int_equal(n, 7000);   /* chunks of 1,000, 2,000, 4,000; the error is in the
                                    fourth (8,000 rows), the one fetched ahead */
    store_reader_close(s, r);
    assert_store_usable(s);
    store_close(s);
}

static void test_pg_side_query_refused_while_streaming(void **x) {
    (void)x;
    store *s = open_pg();
    store_reader *r = NULL, *side = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r, "SELECT g FROM generate_series(1, 5000) g ORDER BY g",
                                 0, NULL, &err), 0);
    long last = 0;
    int rc;
    assert_int_equal(read_rows(s, r, 1000, &last, &rc), 1000); /* the next FETCH is in flight */
    memset(&err, 0, sizeof err);
    assert_int_not_equal(store_query_small(s, &side, "SELECT 1", 0, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "while a streaming read is open"));
    assert_int_not_equal(store_exec(s, "SELECT 1", 0, NULL, NULL, &err), 0);
    assert_int_equal(read_rows(s, r, 1000000, &last, &rc), 4000);
    assert_int_equal(rc, 0);
    store_reader_close(s, r);
    assert_store_usable(s);
    store_close(s);
}

static void test_pg_cursor_read_interrupted(void **x) {
    (void)x;
    store *s = open_pg();
    static atomic_int flag;
    flag = 0;
    store_set_interrupt(s, &flag);
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r, "SELECT g, pg_sleep(0.01) FROM "
                                 "generate_series(1, 100000) g", 0, NULL, &err), 0);
    flag = 1;
    const char *const *row;
    int nc;
    assert_int_equal(store_next(s, r, &row, &nc, &err), ST_EINTR);
    assert_non_null(strstr(err.msg, "interrupted"));
    store_reader_close(s, r);
    flag = 0;
    assert_store_usable(s);
    store_close(s);
}

static void test_pg_copy_read_interrupted(void **x) {
    (void)x;
    store *s = open_pg();
    static atomic_int flag;
    flag = 0;
    store_set_interrupt(s, &flag);
    static const char *const cols[] = {"g"};
    static const bool key[] = {true};
    store_table t = {.datastore = "pgtest", .ncols = 1, .cols = cols, .key = key};
    store_native *r = NULL;
    st_error err;
    assert_int_equal(store_native_open(s, &r, "SELECT g FROM generate_series(1, 100000) g, "
                                       "LATERAL (SELECT pg_sleep(0.01) WHERE g > 1) z",
                                       &t, &err), 0);
    const char *data;
    size_t len;
    int64_t rows;
    flag = 1;
    int rc;
    while ((rc = store_native_read(s, r, &data, &len, &rows, 100000, &err)) == 1) {}
    assert_int_equal(rc, ST_EINTR);
    assert_non_null(strstr(err.msg, "interrupted"));
    store_native_close(s, r);
    flag = 0;
    assert_store_usable(s);
    store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_reader_every_row_once_across_chunks),
        cmocka_unit_test(test_pg_reader_results_ending_at_chunk_boundaries),
        cmocka_unit_test(test_pg_reader_close_with_fetch_in_flight),
        cmocka_unit_test(test_pg_reader_error_in_chunk_fetched_ahead),
        cmocka_unit_test(test_pg_side_query_refused_while_streaming),
        cmocka_unit_test(test_pg_cursor_read_interrupted),
        cmocka_unit_test(test_pg_copy_read_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
