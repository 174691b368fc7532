/*
 * test_sync_hash — which digest path the hash strategy takes, and that each
 * one is exact (sync_hash.c).
 *
 * The round trips (test_sync_roundtrip) run hash between every engine pair
 * on tables keyed by an indexed integer: the ordered digests. These cases
 * cover the rest:
 *   - a source whose key has no index falls back to summed per-row
 *     checksums (one whole-table segment), still exact;
 *   - sparse keys (the key range much wider than the row count, more rows
 *     than one digest may join) are counted first and split before any
 *     digest, SQLite -> PostgreSQL, so cross-engine digests agree there too.
 *   - text and composite keys recurse over ranges cut at real keys
 *     (sync_hash_keyset.c) when both sides read a range through an index
 *     — a text key between SQLite files, a (bigint, timestamptz) key
 *     PostgreSQL -> SQLite — and read only the rows of differing segments;
 *     a text key on PostgreSQL (its index orders by the database collation)
 *     runs the full merge instead.
 *   - keys from far below zero to far above (a range wider than 2^63),
 *     on the summed path and through the ordered path's count pass.
 * The segment counts tell the paths apart: a summed run over identical
 * tables compares 1 segment; an ordered one 16 buckets; the sparse one
 * 16 x 16 (the count pass compares nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/synct_env.h"

static void run_ok(synct_env *e, config_strategy_type type, state_stats *st) {
    st_error err = {0};
    e->strat.type = type;
    if (synct_run(e, st, &err, NULL, 0, NULL) != 0) fail_msg("sync_run: %s", err.msg);
}

static void assert_identical_run(synct_env *e, int64_t segments) {
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_read, 0);
    assert_int_equal(st.rows_inserted + st.rows_updated + st.rows_deleted, 0);
    assert_int_equal(st.segments_compared, segments);
    assert_int_equal(st.segments_skipped, segments);
}

/* Random changes on the source, a hash run with exact counts, equality.
 * Keys first, first + stride, ... (n of them; stepped, never multiplied,
 * so keys near the ends of int64 do not overflow here). */
static void change_and_hash(synct_env *e, int64_t first, int64_t stride, int64_t n) {
    int64_t upd = 0, del = 0, k = first;
    for (int64_t i = 0; i < n; i++, k += i < n ? stride : 0) {
        if (i % 11 == 3) { synct_delete(e, k); del++; }
        else if (i % 7 == 0) { synct_update(e, k); upd++; }
    }
    synct_insert(e, first - stride);
    synct_insert(e, k + stride + 12345);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_inserted, 2);
    assert_int_equal(st.rows_updated, upd);
    assert_int_equal(st.rows_deleted, del);
    synct_assert_equal(e, true);
}

/* PostgreSQL -> PostgreSQL with no index on the source key: the summed path. */
static void setup_unindexed_source(synct_env *e) {
    synct_setup(e, true, true, CONFIG_STRATEGY_HASH);
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE \"%s\".src_t DROP CONSTRAINT src_t_pkey",
             e->schemas[0]);
    synct_exec(e, 0, sql);
}

static void test_hash_unindexed_key_uses_summed_checksums(void **x) {
    (void)x;
    synct_env e;
    setup_unindexed_source(&e);
    for (int64_t id = 1; id <= 300; id++) synct_insert(&e, id);
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_inserted, 300);
    synct_assert_equal(&e, true);
    assert_identical_run(&e, 1);
    change_and_hash(&e, 1, 1, 300);
    assert_identical_run(&e, 1);
    synct_teardown(&e);
}

static void test_hash_indexed_key_uses_ordered_digests(void **x) {
    (void)x;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_HASH);
    for (int64_t id = 1; id <= 300; id++) synct_insert(&e, id);
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_FULL, &st);
    assert_identical_run(&e, 16);
    change_and_hash(&e, 1, 1, 300);
    synct_teardown(&e);
}

#define SPARSE_ROWS 40000
#define SPARSE_STRIDE 100000

static void test_hash_sparse_keys_counted_before_digests(void **x) {
    (void)x;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_HASH);
    char sql[768];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) "
             "INSERT INTO src_t SELECT i * %d, 'n' || i, printf('%%d.25', i), "
             "'2025-10-15T08:00:00.00000' || (i %% 10) || 'Z', i %% 2, "
             "CASE WHEN i %% 5 = 0 THEN NULL ELSE 'a|b\\c' END, i / 7.0 FROM g",
             SPARSE_ROWS, SPARSE_STRIDE);
    synct_exec(&e, 0, sql);
    e.strat.segment_rows = 1000;
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_FULL, &st);
    assert_int_equal(st.rows_inserted, SPARSE_ROWS);
    /* SQLite and PostgreSQL both offer colhash-v2 (summable): the fast
     * path's first level, HASH_FAST_FANOUT buckets over the span's width;
     * the ordered digests' count pass is left to pairs without a summable
     * family (MySQL). */
    assert_identical_run(&e, 16384);
    change_and_hash(&e, SPARSE_STRIDE, SPARSE_STRIDE, 2000);
    assert_identical_run(&e, 16384);
    synct_teardown(&e);
}

/* Keys from far below zero to far above: the top range spans more than
 * 2^63 keys, so "key - lo" would overflow a bigint (PostgreSQL failed the
 * run with "bigint out of range"; SQLite turned it into a float). The
 * summed path (no index on the source key) buckets every level that way;
 * the ordered path's count pass does (more rows than one digest joins). */
#define WIDE_STRIDE 45000000000000000LL   /* 401 keys: -9.0e18 .. 9.0e18 */

static void test_hash_keys_spanning_int64_summed(void **x) {
    (void)x;
    synct_env e;
    setup_unindexed_source(&e);
    for (int64_t i = -200; i <= 200; i++) synct_insert(&e, i * WIDE_STRIDE);
    synct_insert(&e, INT64_MIN);
    synct_insert(&e, INT64_MAX);
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_inserted, 403);
    synct_assert_equal(&e, true);
    assert_identical_run(&e, 1);
    change_and_hash(&e, -200 * WIDE_STRIDE, WIDE_STRIDE, 401);
    assert_identical_run(&e, 1);
    synct_teardown(&e);
}

#define WIDE_ROWS 21000   /* keys i * 2.3e14, i = -21000 .. 21000: 42,001 rows */
#define WIDE_SPARSE_STRIDE 230000000000000LL

static void test_hash_keys_spanning_int64_count_pass(void **x) {
    (void)x;
    synct_env e;
    synct_setup(&e, false, true, CONFIG_STRATEGY_HASH);
    char sql[768];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE g(i) AS (SELECT -%d UNION ALL SELECT i + 1 FROM g WHERE i < %d) "
             "INSERT INTO src_t SELECT i * %lld, 'n' || i, printf('%%d.25', i), "
             "'2025-10-15T08:00:00.00000' || abs(i %% 10) || 'Z', i %% 2, "
             "CASE WHEN i %% 5 = 0 THEN NULL ELSE 'a|b\\c' END, i / 7.0 FROM g",
             WIDE_ROWS, WIDE_ROWS, WIDE_SPARSE_STRIDE);
    synct_exec(&e, 0, sql);
    e.strat.segment_rows = 1000;
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_FULL, &st);
    assert_int_equal(st.rows_inserted, 2 * WIDE_ROWS + 1);
    /* the fast path (colhash-v2) over a span wider than 2^63 keys: its
     * buckets compare against bounds, HASH_MAX_FANOUT of them */
    assert_identical_run(&e, 1024);
    change_and_hash(&e, -WIDE_ROWS * WIDE_SPARSE_STRIDE, WIDE_SPARSE_STRIDE, 2000);
    assert_identical_run(&e, 1024);
    synct_teardown(&e);
}

#define KS_ROWS 5000

/* Rows g = 1..n with a unique text `name` ('k00042-é|': sorts by bytes,
 * has a separator) on either engine. */
static void seed_named(synct_env *e, bool pg, int n) {
    char sql[1024];
    if (pg)
        snprintf(sql, sizeof sql,
                 "INSERT INTO \"%s\".src_t SELECT g, 'k' || lpad(g::text, 5, '0') || '-é|', "
                 "g * 1.5, '2025-10-15T08:00:00Z'::timestamptz + g * interval '1 second', "
                 "g %% 2 = 0, CASE WHEN g %% 3 = 0 THEN NULL ELSE 'n' END, g / 7.0 "
                 "FROM generate_series(1, %d) g", e->schemas[0], n);
    else
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) "
                 "INSERT INTO src_t SELECT i, 'k' || printf('%%05d', i) || '-é|', "
                 "printf('%%d.5', i), '2025-10-15T08:00:00.00000' || (i %% 10) || 'Z', i %% 2, "
                 "CASE WHEN i %% 3 = 0 THEN NULL ELSE 'n' END, i / 7.0 FROM g", n);
    synct_exec(e, 0, sql);
}

/* Makes `keys` (column indexes) the pipeline's key and recreates the
 * destination with that primary key. */
static void rekey(synct_env *e, const int *keys, int n) {
    for (int i = 0; i < SYNCT_NCOLS; i++) e->cols[i].key = false;
    for (int i = 0; i < n; i++) e->cols[keys[i]].key = true;
    char sql[256];
    if (e->ds[1].type == CONFIG_DS_POSTGRES)
        snprintf(sql, sizeof sql, "DROP TABLE \"%s\".dst_t", e->schemas[1]);
    else
        snprintf(sql, sizeof sql, "DROP TABLE dst_t");
    synct_exec(e, 1, sql);
    st_error err;
    if (sync_ddl_apply(&e->cfg, &e->p, &err) != 0) fail_msg("ddl: %s", err.msg);
}

/* Changes the source (updates, deletes, inserts) and runs hash; exact
 * counts and equality. Returns the run's stats. */
static state_stats change_named(synct_env *e, bool src_pg) {
    char t[160], sql[512];
    if (src_pg) snprintf(t, sizeof t, "\"%s\".src_t", e->schemas[0]);
    else snprintf(t, sizeof t, "src_t");
    int64_t upd = 0, del = 0;
    for (int g = 1; g <= KS_ROWS; g++) {
        if (g % 89 == 1) del++;
        else if (g % 97 == 0) upd++;
    }
    snprintf(sql, sizeof sql, "UPDATE %s SET note = 'changed' WHERE id %% 97 = 0", t);
    synct_exec(e, 0, sql);
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id %% 89 = 1", t);
    synct_exec(e, 0, sql);
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, name, updated_at) VALUES "
                              "(900001, 'a-first', '2025-10-15T08:00:00.000000Z'), "
                              "(900002, 'zzz-last', '2025-10-15T08:00:00.000000Z'), "
                              "(900003, 'k02500-é|x', '2025-10-15T08:00:00.000000Z')", t);
    synct_exec(e, 0, sql);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_inserted, 3);
    assert_int_equal(st.rows_updated, upd);
    assert_int_equal(st.rows_deleted, del);
    synct_assert_equal(e, true);
    return st;
}

/* The destination's `in_engine: false` (config.h: generic_copy). */
static bool force_generic;

static void keyset_setup(synct_env *e, bool src_pg, bool dst_pg, const int *keys, int nkeys,
                         const char *src_index) {
    synct_setup(e, src_pg, dst_pg, CONFIG_STRATEGY_HASH);
    e->ds[1].generic_copy = force_generic;
    rekey(e, keys, nkeys);
    seed_named(e, src_pg, KS_ROWS);
    char sql[256];
    if (src_pg) snprintf(sql, sizeof sql, "CREATE UNIQUE INDEX ON \"%s\".src_t (%s)",
                         e->schemas[0], src_index);
    else snprintf(sql, sizeof sql, "CREATE UNIQUE INDEX src_key ON src_t (%s)", src_index);
    synct_exec(e, 0, sql);
    e->strat.segment_rows = 50;
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_FULL, &st);
    assert_int_equal(st.rows_inserted, KS_ROWS);
    assert_identical_run(e, 1);
}

/* Between two SQLite files hash runs inside SQLite (sync_local.c); the
 * generic keyset recursion is forced here, as it runs for SQLite against
 * another engine. */
static void test_hash_text_key_recurses_between_sqlite_files(void **x) {
    (void)x;
    static const int name_key[] = {1};
    synct_env e;
    force_generic = true;
    keyset_setup(&e, false, false, name_key, 1, "name");
    force_generic = false;
    state_stats st = change_named(&e, false);
    assert_true(st.segments_compared > 17);
    assert_true(st.rows_read < KS_ROWS / 2);   /* segments, not the whole table */
    assert_identical_run(&e, 1);
    synct_teardown(&e);
}

static void test_hash_composite_key_recurses_pg_to_sqlite(void **x) {
    (void)x;
    static const int id_time[] = {0, 3};
    synct_env e;
    keyset_setup(&e, true, false, id_time, 2, "id, updated_at");
    state_stats st = change_named(&e, true);
    assert_true(st.segments_compared > 17);
    assert_true(st.rows_read < KS_ROWS / 2);
    assert_identical_run(&e, 1);
    synct_teardown(&e);
}

static void test_hash_text_key_on_postgres_runs_the_full_merge(void **x) {
    (void)x;
    static const int name_key[] = {1};
    synct_env e;
    keyset_setup(&e, false, true, name_key, 1, "name");
    state_stats st = change_named(&e, false);
    assert_int_equal(st.segments_compared, 1);
    assert_int_equal(st.rows_read, KS_ROWS - (KS_ROWS + 88) / 89 + 3);
    synct_teardown(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_unindexed_key_uses_summed_checksums),
        cmocka_unit_test(test_hash_indexed_key_uses_ordered_digests),
        cmocka_unit_test(test_hash_sparse_keys_counted_before_digests),
        cmocka_unit_test(test_hash_keys_spanning_int64_summed),
        cmocka_unit_test(test_hash_keys_spanning_int64_count_pass),
        cmocka_unit_test(test_hash_text_key_recurses_between_sqlite_files),
        cmocka_unit_test(test_hash_composite_key_recurses_pg_to_sqlite),
        cmocka_unit_test(test_hash_text_key_on_postgres_runs_the_full_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
