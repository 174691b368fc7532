/*
 * test_sync_aggregate — an aggregate pipeline (sync_aggregate.c) on the
 * in-memory mock store (support/mock_store.h), no server.
 *
 * The pipeline: orders(id key, cust, day, total, status, updated_at) ->
 * monthly(cust, month = substr(day, 1, 7); revenue = sum(total), n =
 * count(*)), filtered on status <> 'void', delta's cursor updated_at,
 * batches of 3 source rows. Every expectation is the source's own GROUP BY
 * read on the mock's connection, never synctool's output.
 *
 * Cases:
 *   - full writes every group and fills the group map; delta after an
 *     order moves to another customer and month recomputes the group it
 *     left (deleted once empty) and the one it joined; an order leaving
 *     the filter leaves its group; hash then writes nothing;
 *   - a delete is not seen by delta and is by full;
 *   - a delta page whose COMMIT fails leaves the groups and the map as they
 *     were (one transaction), and the rerun converges from the watermark.
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

#include "support/mock_pair.h"
#include "../../src/sync/sync.h"

#define NCOLS 4
#define FENCE_KEY "synctool:exec:pipeline:agg_pipe"
#define SOURCE_GROUPS "SELECT cust || '/' || substr(day, 1, 7) || '=' || sum(total) || 'x' || " \
                      "count(*) FROM orders WHERE status <> 'void' GROUP BY cust, substr(day, 1, 7) " \
                      "ORDER BY 1"
#define DEST_GROUPS "SELECT cust || '/' || month || '=' || revenue || 'x' || n FROM monthly " \
                    "ORDER BY 1"
#define MAP_ROWS "SELECT synctool_key || ':' || cust || '/' || month FROM " \
                 "synctool_groups_monthly ORDER BY 1"

typedef struct env {
    mock_pair m;
    config cfg;
    config_pipeline p;
    config_column cols[NCOLS];
    config_strategy strat;
    config_aggregate agg;
    char *group_by[2];
} env;

static void exec_on(env *e, int side, const char *sql) {
    mock_pair_exec(&e->m, side, sql, 0, NULL);
}

/* The rows of a one-column query joined with ' ', into buf. */
static const char *rows(env *e, int side, const char *sql, char *buf, size_t n) {
    store *s = mock_db_admin(e->m.db[side]);
    store_reader *r = NULL;
    st_error err;
    if (store_query(s, &r, sql, 0, NULL, &err) != ST_OK) fail_msg("%s: %s", sql, err.msg);
    const char *const *row;
    int nc;
    buf[0] = '\0';
    while (store_next(s, r, &row, &nc, &err) == 1) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", len ? " " : "", row[0] ? row[0] : "NULL");
    }
    store_reader_close(s, r);
    return buf;
}

static void assert_converged(env *e) {
    char want[4096], got[4096];
    assert_string_equal(rows(e, 1, DEST_GROUPS, got, sizeof got),
                        rows(e, 0, SOURCE_GROUPS, want, sizeof want));
}

static int setup(void **state) {
    env *e = calloc(1, sizeof *e);
    st_error err;
    mock_pair_open(&e->m, "/tmp/mockagg-XXXXXX");
    e->cols[0] = (config_column){.name = "cust", .type = "bigint", .key = true};
    e->cols[1] = (config_column){.name = "month", .type = "text", .key = true,
                                 .expr = "substr(day, 1, 7)"};
    e->cols[2] = (config_column){.name = "revenue", .type = "numeric(14,2)",
                                 .expr = "sum(total)"};
    e->cols[3] = (config_column){.name = "n", .type = "bigint", .expr = "count(*)"};
    for (int i = 0; i < NCOLS; i++) e->cols[i].dest_name = e->cols[i].name;
    e->group_by[0] = "cust";
    e->group_by[1] = "month";
    e->agg = (config_aggregate){.group_by = e->group_by, .ngroup_by = 2};
    e->strat = (config_strategy){.name = "strat", .type = CONFIG_STRATEGY_FULL, .enabled = true,
                                 .batch_size = 3, .segment_rows = 4};
    e->p = (config_pipeline){.name = "agg_pipe", .columns = e->cols, .ncolumns = NCOLS,
                             .strategies = &e->strat, .nstrategies = 1, .aggregate = &e->agg};
    e->p.source = (config_endpoint){.datastore = "src_ds", .schema = "main", .table = "orders",
                                    .where = "status <> 'void'"};
    e->p.destination = (config_endpoint){.datastore = "dst_ds", .schema = "main",
                                         .table = "monthly"};
    e->cfg = (config){.pipelines = &e->p, .npipelines = 1};
    mock_pair_open_state(&e->m, &e->cfg);
    exec_on(e, 0, "CREATE TABLE orders (id INTEGER PRIMARY KEY, cust INTEGER, day TEXT, "
                  "total NUMERIC, status TEXT, updated_at INTEGER)");
    exec_on(e, 0, "INSERT INTO orders VALUES (1, 1, '2025-01-03', 10.5, 'ok', 1), "
                  "(2, 1, '2025-01-09', 2.25, 'ok', 2), (3, 2, '2025-01-04', 4, 'ok', 3), "
                  "(4, 2, '2025-02-01', 1, 'ok', 4), (5, 3, '2025-02-11', 8, 'ok', 5), "
                  "(6, 3, '2025-02-12', 0.5, 'void', 6), (7, 1, '2025-03-01', 3, 'ok', 7)");
    if (sync_ddl_apply(&e->cfg, &e->p, &err) != ST_OK) fail_msg("ddl: %s", err.msg);
    *state = e;
    return 0;
}

static int teardown(void **state) {
    env *e = *state;
    mock_pair_close(&e->m);
    free(e);
    return 0;
}

static int run(env *e, config_strategy_type type, state_stats *stats, st_error *err) {
    e->strat.type = type;
    e->strat.cursor = type == CONFIG_STRATEGY_DELTA ? "updated_at" : NULL;
    sync_opts o = {.cfg = &e->cfg, .pipeline = &e->p, .strategy = &e->strat, .st = e->m.st,
                   .fence_key = FENCE_KEY, .fence_token = 5, .progress_interval_s = -1,
                   .now = 1760522760LL * 1000000, .store_ops = mock_store_ops()};
    return sync_run(&o, stats, err);
}

static void run_ok(env *e, config_strategy_type type, state_stats *stats) {
    st_error err = {0};
    int rc = run(e, type, stats, &err);
    if (rc != ST_OK) fail_msg("sync_run: %d %s", rc, err.msg);
}

static void assert_written(const state_stats *s, int64_t ins, int64_t upd, int64_t del) {
    assert_int_equal(s->rows_inserted, ins);
    assert_int_equal(s->rows_updated, upd);
    assert_int_equal(s->rows_deleted, del);
}

static void test_full_delta_moves_and_hash(void **state) {
    env *e = *state;
    state_stats s;
    char buf[4096];
    run_ok(e, CONFIG_STRATEGY_FULL, &s);
    assert_written(&s, 5, 0, 0);
    assert_converged(e);
    assert_string_equal(rows(e, 1, MAP_ROWS, buf, sizeof buf),
                        "1:1/2025-01 2:1/2025-01 3:2/2025-01 4:2/2025-02 5:3/2025-02 "
                        "7:1/2025-03");
    run_ok(e, CONFIG_STRATEGY_DELTA, &s);   /* the first delta reads every row */
    assert_written(&s, 0, 0, 0);
    /* 7 (alone in 1/2025-03) moves to customer 2 in February; 1 leaves the
     * filter; 8 is new in a new group */
    exec_on(e, 0, "UPDATE orders SET cust = 2, day = '2025-02-20', updated_at = 10 WHERE id = 7");
    exec_on(e, 0, "UPDATE orders SET status = 'void', updated_at = 11 WHERE id = 1");
    exec_on(e, 0, "INSERT INTO orders VALUES (8, 4, '2025-04-01', 1.75, 'ok', 12)");
    run_ok(e, CONFIG_STRATEGY_DELTA, &s);
    assert_written(&s, 1, 2, 1);            /* 4/04 new; 2/02 and 1/01 updated; 1/03 gone */
    assert_converged(e);
    assert_string_equal(rows(e, 1, MAP_ROWS, buf, sizeof buf),
                        "2:1/2025-01 3:2/2025-01 4:2/2025-02 5:3/2025-02 7:2/2025-02 "
                        "8:4/2025-04");
    run_ok(e, CONFIG_STRATEGY_HASH, &s);
    assert_written(&s, 0, 0, 0);
    /* a delete: delta does not see it, full does */
    exec_on(e, 0, "DELETE FROM orders WHERE id = 5");
    run_ok(e, CONFIG_STRATEGY_DELTA, &s);
    assert_written(&s, 0, 0, 0);
    run_ok(e, CONFIG_STRATEGY_FULL, &s);
    assert_written(&s, 0, 0, 1);
    assert_converged(e);
    assert_string_equal(rows(e, 1, MAP_ROWS, buf, sizeof buf),
                        "2:1/2025-01 3:2/2025-01 4:2/2025-02 7:2/2025-02 8:4/2025-04");
}

static void test_failed_commit_changes_nothing(void **state) {
    env *e = *state;
    state_stats s;
    char groups[4096], map[4096], buf[4096];
    run_ok(e, CONFIG_STRATEGY_FULL, &s);
    run_ok(e, CONFIG_STRATEGY_DELTA, &s);
    rows(e, 1, DEST_GROUPS, groups, sizeof groups);
    rows(e, 1, MAP_ROWS, map, sizeof map);
    exec_on(e, 0, "UPDATE orders SET cust = 3, updated_at = 20 WHERE id IN (2, 3)");
    mock_fail_commit(e->m.db[1], 1);
    st_error err = {0};
    assert_int_not_equal(run(e, CONFIG_STRATEGY_DELTA, &s, &err), ST_OK);
    mock_db_disarm(e->m.db[1]);
    assert_string_equal(rows(e, 1, DEST_GROUPS, buf, sizeof buf), groups);
    assert_string_equal(rows(e, 1, MAP_ROWS, buf, sizeof buf), map);
    run_ok(e, CONFIG_STRATEGY_DELTA, &s);
    assert_converged(e);
    run_ok(e, CONFIG_STRATEGY_HASH, &s);
    assert_written(&s, 0, 0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_delta_moves_and_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_changes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
