/*
 * test_sync_delta_cap — delta's watermark cap (sync_delta.c, DESIGN §7).
 *
 * sync_delta_cap: the cursor value a saved watermark may not pass, from
 * what the source reported (the oldest open transaction, the server's
 * time, a blind role, the wall-time offset), per cursor kind. Then on a
 * PostgreSQL source (SYNCTOOL_TEST_PG_*): a transaction held open on a
 * second connection while a later-stamped row commits and a delta runs;
 * the saved watermark is the cap alone, the transaction's row is copied
 * after it commits, and with nothing open the next run re-reads nothing.
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

#include "support/synct_env.h"
#include "../../src/sync/sync_int.h"

#define US 1000000LL
/* 2025-10-15 08:00:00 UTC */
#define T0 (1760515200LL * US)

static const char *cap(const store_xact_floor *f, store_kind k, char *buf) {
    return sync_delta_cap(f, k, SYNC_DELTA_BLIND_LOOKBACK_S, buf, 96);
}

static void test_cap_is_the_oldest_open_transaction(void **s) {
    (void)s;
    char buf[96];
    store_xact_floor f = {.now = T0, .floor = T0 - 90 * US - 250000, .open = true};
    assert_string_equal(cap(&f, STORE_K_TIMESTAMPTZ, buf), "2025-10-15 07:58:29.75");
    f.floor = f.now;  /* nothing open: the server's time */
    f.open = false;
    assert_string_equal(cap(&f, STORE_K_TIMESTAMPTZ, buf), "2025-10-15 08:00:00");
    f.floor = T0 + 5 * US;  /* never past the server's time */
    assert_string_equal(cap(&f, STORE_K_TIMESTAMPTZ, buf), "2025-10-15 08:00:00");
}

static void test_cap_of_a_blind_role_is_the_default_lookback(void **s) {
    (void)s;
    char buf[96];
    store_xact_floor f = {.now = T0, .floor = T0, .blind = true};
    assert_int_equal(SYNC_DELTA_BLIND_LOOKBACK_S, 300);
    assert_string_equal(cap(&f, STORE_K_TIMESTAMPTZ, buf), "2025-10-15 07:55:00");
    f.floor = T0 - 3600 * US;  /* a visible transaction older than that still counts */
    f.open = true;
    assert_string_equal(cap(&f, STORE_K_TIMESTAMPTZ, buf), "2025-10-15 07:00:00");
}

static void test_cap_of_wall_time_and_date_cursors(void **s) {
    (void)s;
    char buf[96];
    store_xact_floor f = {.now = T0, .floor = T0 - 60 * US, .open = true,
                          .wall_offset = 2 * 3600 * US, .offset_known = true};
    assert_string_equal(cap(&f, STORE_K_TIMESTAMP, buf), "2025-10-15 09:59:00");
    assert_string_equal(cap(&f, STORE_K_DATE, buf), "2025-10-15");
    f.wall_offset = -9 * 3600 * US;
    assert_string_equal(cap(&f, STORE_K_DATE, buf), "2025-10-14");
    f.offset_known = false;  /* the earliest any zone shows: UTC-12 */
    assert_string_equal(cap(&f, STORE_K_TIMESTAMP, buf), "2025-10-14 19:59:00");
}

static void test_no_cap_for_cursors_not_from_a_clock(void **s) {
    (void)s;
    char buf[96];
    store_xact_floor f = {.now = T0, .floor = T0};
    store_kind none[] = {STORE_K_INT, STORE_K_TEXT, STORE_K_NUMERIC, STORE_K_FLOAT,
                         STORE_K_BOOL, STORE_K_TIME, STORE_K_BYTES};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) assert_null(cap(&f, none[i], buf));
}

/* --- on PostgreSQL --- */

static state_stats run_ok(synct_env *e) {
    state_stats st;
    st_error err;
    if (synct_run(e, &st, &err, NULL, 0, NULL) != 0) fail_msg("run: %s", err.msg);
    return st;
}

static void exec_on(store *s, const char *sql) {
    st_error err;
    if (store_exec(s, sql, 0, NULL, NULL, &err) != 0) fail_msg("%s: %s", sql, err.msg);
}

/* Waits (polling the server's own view, at most 60 s) until no other session
 * of this database has a transaction open: a statement an earlier test binary
 * cancelled may still be winding down in its backend, and its transaction
 * would rightly hold the watermark back. */
static void wait_no_other_transactions(synct_env *e) {
    store *s = NULL;
    st_error err;
    if (store_open(&s, &e->ds[0], &err) != 0) fail_msg("open: %s", err.msg);
    for (int i = 0; i < 1200; i++) {
        store_reader *r = NULL;
        const char *const *row;
        int nc;
        if (store_query_small(s, &r, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND pid <> pg_backend_pid() AND xact_start "
                              "IS NOT NULL", 0, NULL, &err) != 0)
            fail_msg("pg_stat_activity: %s", err.msg);
        bool quiet = store_next(s, r, &row, &nc, &err) == 1 && strcmp(row[0], "0") == 0;
        store_reader_close(s, r);
        if (quiet) break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    store_close(s);
}

static void test_pg_watermark_held_below_an_open_transaction(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, true, false, CONFIG_STRATEGY_DELTA);
    wait_no_other_transactions(&e);
    e.no_null_cursor = true;
    for (int64_t id = 1; id <= 10; id++) synct_insert(&e, id);
    assert_int_equal(run_ok(&e).rows_inserted, 10);

    store *txn = NULL;
    st_error err;
    if (store_open(&txn, &e.ds[0], &err) != 0) fail_msg("open: %s", err.msg);
    char sql[256];
    exec_on(txn, "BEGIN");
    snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET note = 'late', updated_at = now() "
             "WHERE id = 3", e.schemas[0]);
    exec_on(txn, sql);
    snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET note = 'later', updated_at = now() "
             "WHERE id = 5", e.schemas[0]);
    synct_exec(&e, 0, sql);  /* committed, stamped after the open transaction began */

    state_stats st = run_ok(&e);
    assert_int_equal(st.rows_updated, 1);
    char wm[512];
    if (state_meta_get(e.st, "synct_pipe", "strat", "watermark", wm, sizeof wm, &err) != 0)
        fail_msg("watermark: %s", err.msg);
    assert_null(strchr(wm, '|'));  /* the cap alone: from it on, inclusive */
    st = run_ok(&e);               /* still open: row 5 is read again, unchanged */
    assert_int_equal(st.rows_read, 1);
    assert_int_equal(st.rows_updated, 0);

    exec_on(txn, "COMMIT");
    store_close(txn);
    st = run_ok(&e);
    assert_int_equal(st.rows_updated, 1);  /* row 3, stamped before row 5 */
    synct_assert_equal(&e, true);
    st = run_ok(&e);                       /* nothing open, nothing new */
    assert_int_equal(st.rows_read, 0);
    synct_teardown(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_is_the_oldest_open_transaction),
        cmocka_unit_test(test_cap_of_a_blind_role_is_the_default_lookback),
        cmocka_unit_test(test_cap_of_wall_time_and_date_cursors),
        cmocka_unit_test(test_no_cap_for_cursors_not_from_a_clock),
        cmocka_unit_test(test_pg_watermark_held_below_an_open_transaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
