/*
 * test_sync_local — delta and hash between two SQLite files run inside
 * SQLite (sync_local.c, store_sqlite_local.c) with the generic path's rules: a stale fencing
 * token, a lost lock and an interrupt leave the destination as it was; the
 * watermark is the generic one, so either path resumes after the other
 * (and lookback re-reads late rows); the counts are exact and an unchanged
 * table moves nothing; hash reports one segment; the source is attached
 * read-only, so its own writers are never blocked. The generic path is
 * forced with the datastore's `in_engine: false` (what the e2e value battery in
 * tests/e2e/test_sqlite_local.py compares against row for row).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/synct_env.h"

static void fill(synct_env *e, int64_t from, int64_t to) {
    for (int64_t id = from; id <= to; id++) synct_insert(e, id);
}

/* The destination datastore's `in_engine: false` (config.h: generic_copy). */
static void generic(synct_env *e, bool on) { e->ds[1].generic_copy = on; }

static state_stats run_ok(synct_env *e) {
    state_stats st;
    st_error err;
    if (synct_run(e, &st, &err, NULL, 0, NULL) != 0) fail_msg("run: %s", err.msg);
    return st;
}

static void watermark(synct_env *e, char *buf, size_t n) {
    st_error err;
    if (state_meta_get(e->st, "synct_pipe", "strat", "watermark", buf, n, &err) != 0)
        fail_msg("watermark: %s", err.msg);
}

static void delta_env(synct_env *e) {
    synct_setup(e, false, false, CONFIG_STRATEGY_DELTA);
    e->no_null_cursor = true;
    e->strat.batch_size = 7;
}

static void test_local_delta_refuses_stale_token_lost_lock_interrupt(void **s) {
    (void)s;
    synct_env e;
    delta_env(&e);
    fill(&e, 1, 30);
    char key[96];
    snprintf(key, sizeof key, "test%d/synctool:exec:pipeline:local", (int)getpid());
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, key, 5, NULL), 0);
    assert_int_equal(st.rows_inserted, 30);
    fill(&e, 31, 40);
    assert_int_equal(synct_run(&e, &st, &err, key, 3, NULL), ST_ESTALE);
    assert_int_equal(synct_count(&e, 1), 30);
    atomic_int cancel = 1;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, &cancel), ST_ELOST);
    assert_string_equal(err.msg, "lost pipeline lock");
    assert_int_equal(synct_count(&e, 1), 30);
    atomic_int stop = 1;
    sync_opts o = {.cfg = &e.cfg, .pipeline = &e.p, .strategy = &e.strat, .st = e.st,
                   .interrupt = &stop, .now = 1760522760LL * 1000000};
    assert_int_equal(sync_run(&o, &st, &err), ST_EINTR);
    assert_int_equal(synct_count(&e, 1), 30);
    st = run_ok(&e);   /* resumes after the committed pages */
    assert_int_equal(st.rows_inserted, 10);
    assert_int_equal(st.rows_read, 10);
    synct_assert_equal(&e, true);
    synct_teardown(&e);
}

/* Generic then local then generic on one pipeline: the same watermark
 * text, each run picking up exactly the rows changed since the other. */
static void test_local_delta_shares_the_generic_watermark(void **s) {
    (void)s;
    synct_env e;
    delta_env(&e);
    fill(&e, 1, 40);
    generic(&e, true);
    state_stats st = run_ok(&e);
    generic(&e, false);
    assert_int_equal(st.rows_inserted, 40);
    char wm_generic[512], wm_local[512];
    watermark(&e, wm_generic, sizeof wm_generic);
    for (int64_t id = 5; id <= 40; id += 5) synct_update(&e, id);
    fill(&e, 41, 45);
    st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 5);
    assert_int_equal(st.rows_updated, 8);
    assert_int_equal(st.rows_read, 13);
    synct_assert_equal(&e, true);
    st = run_ok(&e);   /* nothing new */
    assert_int_equal(st.rows_read + st.rows_inserted + st.rows_updated, 0);
    /* the local watermark, read back by the generic path */
    watermark(&e, wm_local, sizeof wm_local);
    assert_string_not_equal(wm_local, wm_generic);
    assert_non_null(strstr(wm_local, "|45"));
    fill(&e, 46, 47);
    generic(&e, true);
    st = run_ok(&e);
    generic(&e, false);
    assert_int_equal(st.rows_inserted, 2);
    assert_int_equal(st.rows_read, 2);
    synct_assert_equal(&e, true);
    synct_teardown(&e);
}

static void test_local_delta_lookback_and_unchanged_rows(void **s) {
    (void)s;
    synct_env e;
    delta_env(&e);
    fill(&e, 1, 50);
    run_ok(&e);
    /* late commit: an older cursor than the watermark */
    synct_exec(&e, 0, "UPDATE src_t SET note = 'late', updated_at = "
                      "'2025-10-15T00:00:00.000001Z' WHERE id = 50");
    fill(&e, 51, 51);
    state_stats st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 1);
    assert_int_equal(st.rows_updated, 0);   /* missed without lookback */
    e.strat.lookback_seconds = 365LL * 86400;
    st = run_ok(&e);
    assert_int_equal(st.rows_updated, 1);   /* the window re-read it ... */
    assert_int_equal(st.rows_inserted, 0);  /* ... and the rest changed nothing */
    assert_true(st.rows_read >= 51);
    synct_assert_equal(&e, true);
    synct_teardown(&e);
}

/* Pages of exactly batch_size rows: each page looks one row ahead
 * (LIMIT batch_size + 1, the extra row dropped before the upsert), so a
 * full last page ends the run without reading an empty page; the row
 * looked at is the next page's first, never lost nor counted twice. */
static void test_local_delta_full_pages_and_the_lookahead_row(void **s) {
    (void)s;
    synct_env e;
    delta_env(&e);              /* batch_size 7 */
    fill(&e, 1, 14);            /* two full pages */
    state_stats st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 14);
    assert_int_equal(st.rows_read, 14);
    synct_assert_equal(&e, true);
    fill(&e, 15, 29);           /* 7 + 7 + 1 */
    st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 15);
    assert_int_equal(st.rows_read, 15);
    synct_assert_equal(&e, true);
    for (int64_t id = 1; id <= 7; id++) synct_update(&e, id);   /* exactly one page */
    st = run_ok(&e);
    assert_int_equal(st.rows_updated, 7);
    assert_int_equal(st.rows_read, 7);
    synct_assert_equal(&e, true);
    st = run_ok(&e);            /* nothing new */
    assert_int_equal(st.rows_read + st.rows_inserted + st.rows_updated, 0);
    synct_teardown(&e);
}

/* The page's scan in SQLite reads the whole table anyway (a timestamp
 * cursor is compared through st_canon): it counts the NULL cursors itself,
 * once a run however many pages, and a raw bound (the day before the
 * watermark's date) spares st_canon most rows without losing one: every
 * spelling past the watermark is read, whatever its date as written, its
 * offset or its storage class, and none before it. */
static void test_local_delta_one_scan_every_spelling(void **s) {
    (void)s;
    synct_env e;
    delta_env(&e);              /* batch_size 7 */
    /* a cursor column of numeric affinity (as `ddl apply` makes a
     * timestamptz): integers and reals keep their storage class */
    synct_exec(&e, 0, "ALTER TABLE src_t RENAME TO src_old");
    synct_exec(&e, 0, "CREATE TABLE src_t (id INTEGER PRIMARY KEY, name TEXT, amount TEXT, "
                      "updated_at TIMESTAMPTZ, flag INTEGER, note TEXT, ratio REAL)");
    synct_exec(&e, 0, "DROP TABLE src_old");
    fill(&e, 1, 20);
    synct_exec(&e, 0, "UPDATE src_t SET updated_at = '2030-01-10 12:00:00'");
    state_stats st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 20);
    assert_int_equal(st.rows_null_cursor, 0);
    char wm[512];
    watermark(&e, wm, sizeof wm);
    assert_string_equal(wm, "2030-01-10 12:00:00|20");
    synct_exec(&e, 0, "UPDATE src_t SET updated_at = CASE id "
                      "WHEN 5 THEN '2030-01-09T13:00:00-23:30' "   /* 2030-01-10 12:30 UTC */
                      "WHEN 6 THEN 1894320000 "                    /* Unix seconds: 01-11 */
                      "WHEN 7 THEN 2462512.5 "                     /* a Julian day: 01-11 */
                      "WHEN 8 THEN '2030-01-10T12:00:01Z' "
                      "WHEN 9 THEN '2030-01-10 12:00:00.5' "
                      "WHEN 10 THEN '2030-01-1x' "                 /* no time: compared as text */
                      "WHEN 11 THEN '2030-01-10T13:00:00+02:00' "  /* 11:00 UTC: before */
                      "WHEN 12 THEN '2030-01-09 23:59:59' "        /* before */
                      "WHEN 13 THEN 1894233600 "                   /* 01-10 00:00: before */
                      "ELSE updated_at END");
    synct_exec(&e, 0, "UPDATE src_t SET note = 'changed' WHERE id BETWEEN 5 AND 13");
    st = run_ok(&e);
    assert_int_equal(st.rows_read, 6);
    assert_int_equal(st.rows_updated, 6);
    assert_int_equal(st.rows_null_cursor, 0);
    synct_exec(&e, 1, "UPDATE dst_t SET note = 'changed' WHERE id BETWEEN 11 AND 13");
    synct_exec(&e, 0, "UPDATE src_t SET updated_at = CASE id WHEN 11 THEN '2030-01-10 11:00:00' "
                      "WHEN 12 THEN '2030-01-09 23:59:59' WHEN 13 THEN '2030-01-10 00:00:00' "
                      "ELSE updated_at END");
    synct_exec(&e, 1, "UPDATE dst_t SET updated_at = CASE id WHEN 11 THEN '2030-01-10 11:00:00' "
                      "WHEN 12 THEN '2030-01-09 23:59:59' WHEN 13 THEN '2030-01-10 00:00:00' "
                      "ELSE updated_at END");
    synct_assert_equal(&e, true);
    /* NULL cursors: counted in the scan once, over pages (7 + 7 + 1 rows) */
    fill(&e, 21, 35);
    synct_exec(&e, 0, "UPDATE src_t SET updated_at = '2031-01-01 00:00:' || (id - 10) WHERE id > 20");
    synct_exec(&e, 0, "UPDATE src_t SET updated_at = NULL WHERE id IN (2, 3, 4)");
    st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 15);
    assert_int_equal(st.rows_null_cursor, 3);
    st = run_ok(&e);            /* nothing new: the scan still counts them */
    assert_int_equal(st.rows_read + st.rows_inserted + st.rows_updated, 0);
    assert_int_equal(st.rows_null_cursor, 3);
    generic(&e, true);          /* as the generic path counts them */
    st = run_ok(&e);
    assert_int_equal(st.rows_null_cursor, 3);
    synct_teardown(&e);
}

static void test_local_hash_is_one_segment(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, false, CONFIG_STRATEGY_HASH);
    fill(&e, 1, 60);
    state_stats st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 60);
    assert_int_equal(st.segments_compared, 1);
    assert_int_equal(st.segments_skipped, 0);
    st = run_ok(&e);
    assert_int_equal(st.segments_compared, 1);
    assert_int_equal(st.segments_skipped, 1);
    assert_int_equal(st.rows_read, 0);
    synct_update(&e, 3);
    synct_delete(&e, 4);
    synct_insert(&e, 61);
    st = run_ok(&e);
    assert_int_equal(st.rows_inserted, 1);
    assert_int_equal(st.rows_updated, 1);
    assert_int_equal(st.rows_deleted, 1);
    assert_int_equal(st.rows_read, 2);
    assert_int_equal(st.segments_skipped, 0);
    synct_assert_equal(&e, true);
    synct_teardown(&e);
}

/* The source is attached read-only: a writer holding the source's write
 * lock (an application mid-transaction) does not stop a sync, and a sync
 * never takes that lock (it used to wait out the busy timeout). */
static void test_local_paths_leave_the_source_writable(void **s) {
    (void)s;
    synct_env e;
    delta_env(&e);
    fill(&e, 1, 20);
    sqlite3 *app;
    assert_int_equal(sqlite3_open(e.paths[0], &app), SQLITE_OK);
    assert_int_equal(sqlite3_exec(app, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    static const config_strategy_type types[] = {CONFIG_STRATEGY_DELTA, CONFIG_STRATEGY_FULL,
                                                 CONFIG_STRATEGY_HASH};
    for (size_t i = 0; i < 3; i++) {
        e.strat.type = types[i];
        state_stats st;
        st_error err;
        if (synct_run(&e, &st, &err, NULL, 0, NULL) != 0) fail_msg("run %zu: %s", i, err.msg);
        assert_int_equal(st.rows_inserted, i == 0 ? 20 : 0);
    }
    assert_int_equal(sqlite3_exec(app, "INSERT INTO src_t (id) VALUES (999); COMMIT", NULL, NULL,
                                  NULL), SQLITE_OK);
    sqlite3_close(app);
    synct_teardown(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_delta_refuses_stale_token_lost_lock_interrupt),
        cmocka_unit_test(test_local_delta_shares_the_generic_watermark),
        cmocka_unit_test(test_local_delta_lookback_and_unchanged_rows),
        cmocka_unit_test(test_local_delta_full_pages_and_the_lookahead_row),
        cmocka_unit_test(test_local_delta_one_scan_every_spelling),
        cmocka_unit_test(test_local_hash_is_one_segment),
        cmocka_unit_test(test_local_paths_leave_the_source_writable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
