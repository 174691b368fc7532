/*
 * test_sync_roundtrip — full, delta and hash between every pair of engines
 * (SQLite->SQLite, PostgreSQL->PostgreSQL, SQLite->PostgreSQL,
 * PostgreSQL->SQLite), calling sync_run() directly.
 *
 * Each case: 200 random rows (NULLs, unicode, '', separators, 24-digit
 * numerics, zoned microsecond timestamps, floats), sync, compare; then
 * random updates, deletes (not for delta, which does not see deletes) and
 * inserts, sync, compare row for row with exact counts; then a re-run
 * changes nothing, and a hash run over the synced pair skips every segment
 * — which proves both engines compute the same canonical checksums.
 * Batches of 37 rows and leaf segments of 8 rows exercise paging, keyset
 * continuation and the segment recursion.
 *
 * PostgreSQL comes from SYNCTOOL_TEST_PG_* (scripts/with-servers); a fresh
 * schema per test. Missing variables fail the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "support/synct_env.h"
#include "../../src/log/log.h"

#define N0 200

static void run_ok(synct_env *e, state_stats *st) {
    st_error err = {0};
    int rc = synct_run(e, st, &err, NULL, 0, NULL);
    if (rc != 0) fail_msg("sync_run: %d %s", rc, err.msg);
}

static void assert_hash_all_skipped(synct_env *e) {
    config_strategy saved = e->strat;
    e->strat.type = CONFIG_STRATEGY_HASH;
    e->strat.cursor = NULL;
    state_stats st;
    run_ok(e, &st);
    e->strat = saved;
    assert_true(st.segments_compared > 0);
    assert_int_equal(st.segments_skipped, st.segments_compared);
    assert_int_equal(st.rows_inserted + st.rows_updated + st.rows_deleted, 0);
    assert_int_equal(st.rows_read, 0);
}

static void roundtrip(bool spg, bool dpg, config_strategy_type type) {
    synct_env e;
    synct_setup(&e, spg, dpg, type);
    e.no_null_cursor = type == CONFIG_STRATEGY_DELTA;
    for (int64_t id = 1; id <= N0; id++) synct_insert(&e, id);
    state_stats st;
    run_ok(&e, &st);
    assert_int_equal(st.rows_inserted, N0);
    assert_int_equal(st.rows_updated + st.rows_deleted, 0);
    synct_assert_equal(&e, true);

    bool deleted[N0 + 1] = {0}, updated[N0 + 1] = {0};
    int64_t ndel = 0, nupd = 0;
    for (int i = 0; i < 30; i++) {
        int64_t id = 1 + (int64_t)((i * 7919 + 13) % N0);
        synct_update(&e, id);
        updated[id] = true;
    }
    for (int i = 0; type != CONFIG_STRATEGY_DELTA && i < 20; i++) {
        int64_t id = 1 + (int64_t)((i * 104729 + 5) % N0);
        if (!deleted[id]) { synct_delete(&e, id); deleted[id] = true; ndel++; }
    }
    for (int64_t id = 1; id <= N0; id++) nupd += updated[id] && !deleted[id];
    for (int64_t id = N0 + 1; id <= N0 + 25; id++) synct_insert(&e, id);

    run_ok(&e, &st);
    assert_int_equal(st.rows_inserted, 25);
    assert_int_equal(st.rows_updated, nupd);
    assert_int_equal(st.rows_deleted, ndel);
    synct_assert_equal(&e, true);
    assert_int_equal(synct_count(&e, 0), synct_count(&e, 1));

    run_ok(&e, &st);
    assert_int_equal(st.rows_inserted + st.rows_updated + st.rows_deleted, 0);
    if (type == CONFIG_STRATEGY_DELTA) assert_int_equal(st.rows_read, 0);  /* watermark */
    assert_hash_all_skipped(&e);
    synct_teardown(&e);
}

#define CASE(name, s, d, t) static void name(void **x) { (void)x; roundtrip(s, d, t); }
CASE(test_full_sqlite_sqlite, false, false, CONFIG_STRATEGY_FULL)
CASE(test_full_pg_pg, true, true, CONFIG_STRATEGY_FULL)
CASE(test_full_sqlite_pg, false, true, CONFIG_STRATEGY_FULL)
CASE(test_full_pg_sqlite, true, false, CONFIG_STRATEGY_FULL)
CASE(test_delta_sqlite_sqlite, false, false, CONFIG_STRATEGY_DELTA)
CASE(test_delta_pg_pg, true, true, CONFIG_STRATEGY_DELTA)
CASE(test_delta_sqlite_pg, false, true, CONFIG_STRATEGY_DELTA)
CASE(test_delta_pg_sqlite, true, false, CONFIG_STRATEGY_DELTA)
CASE(test_hash_sqlite_sqlite, false, false, CONFIG_STRATEGY_HASH)
CASE(test_hash_pg_pg, true, true, CONFIG_STRATEGY_HASH)
CASE(test_hash_sqlite_pg, false, true, CONFIG_STRATEGY_HASH)
CASE(test_hash_pg_sqlite, true, false, CONFIG_STRATEGY_HASH)

int main(void) {
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_sqlite_sqlite), cmocka_unit_test(test_full_pg_pg),
        cmocka_unit_test(test_full_sqlite_pg),     cmocka_unit_test(test_full_pg_sqlite),
        cmocka_unit_test(test_delta_sqlite_sqlite), cmocka_unit_test(test_delta_pg_pg),
        cmocka_unit_test(test_delta_sqlite_pg),    cmocka_unit_test(test_delta_pg_sqlite),
        cmocka_unit_test(test_hash_sqlite_sqlite), cmocka_unit_test(test_hash_pg_pg),
        cmocka_unit_test(test_hash_sqlite_pg),     cmocka_unit_test(test_hash_pg_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
