/*
 * test_sync_safety — what sync_run refuses and reports: stale fencing
 * tokens, a cancelled (lost) lock, missing tables and columns, unreachable
 * databases and bad credentials (never echoing the password), type changes
 * in `ddl apply`, added columns, NULL cursors in delta, lookback, and the
 * hash fallback for text keys. Each refusal also checks that the
 * destination was left unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/synct_env.h"
#include "../../src/log/log.h"

static void fill(synct_env *e, int64_t from, int64_t to) {
    for (int64_t id = from; id <= to; id++) synct_insert(e, id);
}

static void fencing_refuses_stale_token(bool pg) {
    synct_env e;
    synct_setup(&e, pg, pg, CONFIG_STRATEGY_FULL);
    fill(&e, 1, 50);
    state_stats st;
    st_error err;
    /* synctool_fence outlives the test's schemas: a key of its own per run,
     * as the lock store identity gives real runs. */
    char key[96];
    snprintf(key, sizeof key, "test%d/synctool:exec:pipeline:synct_pipe", (int)getpid());
    assert_int_equal(synct_run(&e, &st, &err, key, 5, NULL), 0);
    synct_assert_equal(&e, true);
    fill(&e, 51, 60);
    int rc = synct_run(&e, &st, &err, key, 3, NULL);
    assert_int_equal(rc, ST_ESTALE);
    assert_string_equal(err.msg, "fencing token 3 is stale (current 5): this run lost its lock");
    assert_int_equal(synct_count(&e, 1), 50);      /* nothing written */
    assert_int_equal(synct_run(&e, &st, &err, key, 6, NULL), 0);
    assert_int_equal(synct_count(&e, 1), 60);
    synct_teardown(&e);
}
static void test_fencing_sqlite(void **s) { (void)s; fencing_refuses_stale_token(false); }
static void test_fencing_pg(void **s) { (void)s; fencing_refuses_stale_token(true); }

static void test_cancel_is_lost_lock(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_FULL);
    fill(&e, 1, 20);
    atomic_int cancel = 1;
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, &cancel), ST_ELOST);
    assert_string_equal(err.msg, "lost pipeline lock");
    assert_int_equal(synct_count(&e, 1), 0);
    synct_teardown(&e);
}

static void expect_fail(synct_env *e, int code, const char *const *needles) {
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(e, &st, &err, NULL, 0, NULL), code);
    for (; *needles; needles++)
        if (strstr(err.msg, *needles) == NULL) fail_msg("'%s' not in: %s", *needles, err.msg);
}

static void test_missing_source_table_and_column(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, true, false, CONFIG_STRATEGY_FULL);
    fill(&e, 1, 5);
    e.p.source.table = "no_such_table";
    expect_fail(&e, ST_ENOTFOUND, (const char *[]){"datastore 'src_ds'", "no_such_table",
                                                   "does not exist", NULL});
    e.p.source.table = "src_t";
    e.cols[5].name = "no_such_col";
    e.cols[5].dest_name = "note";
    expect_fail(&e, ST_ENOTFOUND, (const char *[]){"datastore 'src_ds'", "src_t",
                                                   "no column 'no_such_col'", NULL});
    assert_int_equal(synct_count(&e, 1), 0);
    synct_teardown(&e);
}

static void test_missing_destination_table(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_FULL);
    e.p.destination.table = "not_created";
    expect_fail(&e, ST_ENOTFOUND, (const char *[]){"datastore 'dst_ds'", "not_created",
                                                   "synctool ddl apply", NULL});
    synct_teardown(&e);
}

static void test_bad_password_and_unreachable(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, true, true, CONFIG_STRATEGY_FULL);
    fill(&e, 1, 5);
    char *good = e.ds[1].password;
    e.ds[1].password = "Wr0ng-Secret-pw";
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "datastore 'dst_ds'"));
    assert_non_null(strstr(err.msg, "dst_t"));
    assert_null(strstr(err.msg, "Wr0ng-Secret-pw"));
    e.ds[1].password = good;
    int port = e.ds[0].port;
    e.ds[0].port = 1;  /* nothing listens there */
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "datastore 'src_ds'"));
    assert_non_null(strstr(err.msg, "cannot connect"));
    e.ds[0].port = port;
    assert_int_equal(synct_count(&e, 1), 0);
    synct_teardown(&e);
}

static void ddl_refuses_type_change(bool pg) {
    synct_env e;
    synct_setup(&e, false, pg, CONFIG_STRATEGY_FULL);
    st_error err;
    /* was numeric(30,6): SQLite NUMERIC(30,6) has no text affinity */
    e.cols[2].type = pg ? "bigint" : "text";
    assert_int_equal(sync_ddl_apply(&e.cfg, &e.p, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "column 'amount'"));
    /* PostgreSQL: never changed; SQLite: the fix is ddl apply --migrate */
    assert_non_null(strstr(err.msg, pg ? "does not change column types" : "--migrate"));
    assert_non_null(strstr(err.msg, "datastore 'dst_ds'"));
    synct_teardown(&e);
}
static void test_ddl_type_change_sqlite(void **s) { (void)s; ddl_refuses_type_change(false); }
static void test_ddl_type_change_pg(void **s) { (void)s; ddl_refuses_type_change(true); }

static void test_ddl_adds_missing_column(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_FULL);
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER TABLE \"%s\".dst_t DROP COLUMN note", e.schemas[1]);
    synct_exec(&e, 1, sql);
    fill(&e, 1, 10);
    expect_fail(&e, ST_ENOTFOUND, (const char *[]){"no column 'note'", NULL});
    st_error err;
    assert_int_equal(sync_ddl_apply(&e.cfg, &e.p, &err), 0);
    assert_int_equal(sync_ddl_apply(&e.cfg, &e.p, &err), 0);  /* idempotent */
    state_stats st;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    synct_assert_equal(&e, true);
    synct_teardown(&e);
}

static void test_ddl_bad_type_name(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_FULL);
    e.p.destination.table = "other_t";
    e.cols[1].type = "text; DROP TABLE x";
    st_error err;
    assert_int_equal(sync_ddl_apply(&e.cfg, &e.p, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "is not a valid type name"));
    synct_teardown(&e);
}

static void test_delta_counts_null_cursor(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, true, false, CONFIG_STRATEGY_DELTA);
    e.no_null_cursor = true;
    fill(&e, 1, 10);
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET updated_at = NULL WHERE id IN (3, 7)",
             e.schemas[0]);
    synct_exec(&e, 0, sql);
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_null_cursor, 2);
    assert_int_equal(st.rows_inserted, 8);
    synct_teardown(&e);
}

static void test_delta_watermark_and_lookback(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_DELTA);
    e.no_null_cursor = true;
    fill(&e, 1, 100);
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    char wm[512];
    assert_int_equal(state_meta_get(e.st, "synct_pipe", "strat", "watermark", wm, sizeof wm, &err), 0);
    assert_non_null(strstr(wm, "|100"));  /* cursor of the newest row, then its key */
    /* A late-committed row: cursor older than the watermark. */
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE src_t SET note = 'late', updated_at = "
             "'2025-10-15T00:00:00.000001Z' WHERE id = 100");
    synct_exec(&e, 0, sql);
    fill(&e, 101, 101);
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_inserted, 1);
    assert_int_equal(st.rows_updated, 0);   /* missed without lookback */
    e.strat.lookback_seconds = 365LL * 86400;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_updated, 1);   /* re-read window caught it */
    assert_true(st.rows_read >= 101);
    synct_assert_equal(&e, true);
    synct_teardown(&e);
}

/* Pages of 1,200 rows cross the PostgreSQL reader's chunk boundaries
 * (1,000, then 2,000 more) and are written while they stream in: every
 * row once, the watermark after the last page, changed rows found again. */
static void test_delta_pages_larger_than_fetch_chunks(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, true, true, CONFIG_STRATEGY_DELTA);
    e.no_null_cursor = true;
    e.strat.batch_size = 1200;
    fill(&e, 1, 3000);
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_read, 3000);
    assert_int_equal(st.rows_inserted, 3000);
    synct_assert_equal(&e, true);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET note = 'changed', updated_at = "
             "updated_at + interval '400 days' WHERE id %% 2 = 0", e.schemas[0]);
    synct_exec(&e, 0, sql);
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_read, 1500);
    assert_int_equal(st.rows_updated, 1500);
    assert_int_equal(st.rows_inserted, 0);
    synct_assert_equal(&e, true);
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_read, 0);
    synct_teardown(&e);
}

/* Source and destination tables in one SQLite file: a full run reads the
 * source while it commits, which only WAL allows. Outside WAL it is
 * refused at once with the fix named (it used to wait out the 10 s busy
 * timeout and fail with "database is locked"); in WAL it runs. */
static void test_full_in_one_sqlite_file_needs_wal(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, false, CONFIG_STRATEGY_FULL);
    e.ds[1].path = e.ds[0].path;
    st_error err;
    assert_int_equal(sync_ddl_apply(&e.cfg, &e.p, &err), 0);
    fill(&e, 1, 100);
    state_stats st;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), ST_EINVAL);
    assert_non_null(strstr(err.msg, "same SQLite file"));
    assert_non_null(strstr(err.msg, "PRAGMA journal_mode=WAL"));
    assert_int_equal(st.rows_inserted, 0);
    char *secrets[] = {(char *)e.ds[0].path, NULL};   /* a path from ${VAR} is not shown */
    e.ds[0].secrets = secrets;
    e.ds[0].nsecrets = 1;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), ST_EINVAL);
    assert_non_null(strstr(err.msg, "same SQLite file (value hidden)"));
    assert_null(strstr(err.msg, e.ds[0].path));
    e.ds[0].secrets = NULL;
    e.ds[0].nsecrets = 0;
    synct_exec(&e, 0, "PRAGMA journal_mode=WAL");
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_inserted, 100);
    e.strat.type = CONFIG_STRATEGY_DELTA;   /* delta reads a page before it commits */
    e.strat.cursor = "updated_at";
    synct_exec(&e, 0, "PRAGMA journal_mode=DELETE");
    if (synct_run(&e, &st, &err, NULL, 0, NULL) != 0) fail_msg("delta: %s", err.msg);
    e.ds[1].path = e.paths[1];
    synct_teardown(&e);
}

static void test_hash_text_key_falls_back_to_merge(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, false, CONFIG_STRATEGY_HASH);
    e.cols[0].type = "text";   /* keys compared as text now */
    fill(&e, 1, 30);
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_inserted, 30);
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.segments_skipped, 1);
    assert_int_equal(st.rows_read, 0);
    synct_teardown(&e);
}

static void test_source_query(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, true, false, CONFIG_STRATEGY_FULL);
    fill(&e, 1, 40);
    char q[160];
    snprintf(q, sizeof q, "SELECT * FROM \"%s\".src_t WHERE id %% 2 = 0", e.schemas[0]);
    e.p.source.query = q;
    state_stats st;
    st_error err;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.rows_inserted, 20);
    assert_int_equal(synct_count(&e, 1), 20);
    e.strat.type = CONFIG_STRATEGY_HASH;
    assert_int_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
    assert_int_equal(st.segments_skipped, st.segments_compared);
    synct_teardown(&e);
}

static void test_config_mistakes_are_named(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, false, CONFIG_STRATEGY_DELTA);
    fill(&e, 1, 3);
    e.strat.cursor = "no_such_cursor";
    expect_fail(&e, ST_EINVAL, (const char *[]){"strategy 'strat': cursor column "
                                                "'no_such_cursor' is not in columns", NULL});
    e.strat.cursor = "updated_at";
    e.cols[0].key = false;
    expect_fail(&e, ST_EINVAL, (const char *[]){"pipeline 'synct_pipe' has no key column", NULL});
    e.cols[0].key = true;
    e.p.destination.datastore = "nowhere";
    expect_fail(&e, ST_ENOTFOUND, (const char *[]){"pipeline 'synct_pipe': datastore 'nowhere' "
                                                   "is not defined", NULL});
    e.p.destination.datastore = "dst_ds";
    state_stats st;
    st_error err;
    sync_opts empty = {0};
    assert_int_equal(sync_run(&empty, &st, &err), ST_EINVAL);
    assert_string_equal(err.msg, "sync: missing config, pipeline or strategy");
    assert_int_equal(synct_count(&e, 1), 0);
    synct_teardown(&e);
}

static void test_null_key_is_refused(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, true, false, CONFIG_STRATEGY_FULL);
    fill(&e, 1, 3);
    char q[200];
    snprintf(q, sizeof q, "SELECT CASE WHEN id = 2 THEN NULL ELSE id END AS id, name, amount, "
             "updated_at, flag, note, ratio FROM \"%s\".src_t", e.schemas[0]);
    e.p.source.query = q;
    e.strat.batch_size = 1;  /* rows before the NULL key are committed... */
    expect_fail(&e, ST_EINVAL, (const char *[]){"key column 'id' is NULL in datastore 'src_ds'",
                                                NULL});
    /* ...PostgreSQL orders the NULL key last: ids 1 and 3, nothing after */
    assert_int_equal(synct_count(&e, 1), 2);
    synct_teardown(&e);
}

int main(void) {
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_pages_larger_than_fetch_chunks),
        cmocka_unit_test(test_full_in_one_sqlite_file_needs_wal),
        cmocka_unit_test(test_fencing_sqlite),
        cmocka_unit_test(test_fencing_pg),
        cmocka_unit_test(test_cancel_is_lost_lock),
        cmocka_unit_test(test_missing_source_table_and_column),
        cmocka_unit_test(test_missing_destination_table),
        cmocka_unit_test(test_bad_password_and_unreachable),
        cmocka_unit_test(test_ddl_type_change_sqlite),
        cmocka_unit_test(test_ddl_type_change_pg),
        cmocka_unit_test(test_ddl_adds_missing_column),
        cmocka_unit_test(test_ddl_bad_type_name),
        cmocka_unit_test(test_delta_counts_null_cursor),
        cmocka_unit_test(test_delta_watermark_and_lookback),
        cmocka_unit_test(test_hash_text_key_falls_back_to_merge),
        cmocka_unit_test(test_source_query),
        cmocka_unit_test(test_config_mistakes_are_named),
        cmocka_unit_test(test_null_key_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
