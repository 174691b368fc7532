/*
 * test_sync_lookup — lookups (issue 26 item 3) without a server.
 *
 * The LRU cache (sync_lookup_cache.c) on its own: hits, misses and cached
 * misses, least-recently-used eviction (a get counts as a use), the TTL
 * judged on the time passed in, replacement, a cache of 0 rows.
 *
 * Batching, through sync_run on the mock store (support/mock_store.h: three
 * in-memory SQLite datastores, every statement counted): orders(id, cust)
 * enriched with customers(id, seg) of another datastore. 1,200 rows read in
 * batches of 500 (SYNC_LOOKUP_BATCH) ask the lookup datastore once per
 * batch at most — once in all when the cache holds every key, once per
 * batch (3) with cache_rows: 0 — never once per row; the destination holds
 * each order's segment, NULL for a key without a row and for a NULL key;
 * required: true fails the run naming the lookup and the key.
 *
 * Parsing (config_lookup.c): lookup columns are appended after the source
 * columns with their lookup's index, the schema and cache defaults applied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/config_fixture.h"
#include "support/mock_store.h"
#include "../../src/sync/sync.h"
#include "../../src/sync/sync_lookup_cache.h"

/* --- the cache --- */

static void put(sync_lookup_cache *lc, const char *key, const char *val, int64_t now) {
    const char *v[1] = {val};
    assert_int_equal(sync_lookup_cache_put(lc, key, val ? v : NULL, now), 0);
}

static const char *get(sync_lookup_cache *lc, const char *key, int64_t now, int *found) {
    const char *const *v = NULL;
    *found = sync_lookup_cache_get(lc, key, now, &v);
    return *found && v ? v[0] : NULL;
}

static void test_cache_hit_miss_and_known_miss(void **state) {
    (void)state;
    sync_lookup_cache *lc = sync_lookup_cache_new(4, 0, 1);
    int found;
    assert_null(get(lc, "1", 0, &found));
    assert_int_equal(found, 0);
    put(lc, "1", "gold", 0);
    put(lc, "2", NULL, 0);   /* no row for key 2 */
    assert_string_equal(get(lc, "1", 5, &found), "gold");
    assert_int_equal(found, 1);
    assert_null(get(lc, "2", 5, &found));
    assert_int_equal(found, 1);   /* a cached miss */
    put(lc, "1", "silver", 6);    /* replaced */
    assert_string_equal(get(lc, "1", 7, &found), "silver");
    assert_int_equal(sync_lookup_cache_size(lc), 2);
    sync_lookup_cache_stats st = sync_lookup_cache_stats_of(lc);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 1);
    sync_lookup_cache_free(lc);
}

static void test_cache_evicts_least_recently_used(void **state) {
    (void)state;
    sync_lookup_cache *lc = sync_lookup_cache_new(3, 0, 1);
    int found;
    put(lc, "a", "A", 0);
    put(lc, "b", "B", 0);
    put(lc, "c", "C", 0);
    get(lc, "a", 1, &found);      /* a is now the most recent; b the oldest */
    put(lc, "d", "D", 2);
    assert_int_equal(sync_lookup_cache_size(lc), 3);
    get(lc, "b", 3, &found);
    assert_int_equal(found, 0);
    assert_string_equal(get(lc, "a", 3, &found), "A");
    assert_string_equal(get(lc, "c", 3, &found), "C");
    assert_string_equal(get(lc, "d", 3, &found), "D");
    assert_int_equal(sync_lookup_cache_stats_of(lc).evictions, 1);
    /* many keys through a small cache: never more than cap entries */
    char k[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        put(lc, k, k, 10 + i);
    }
    assert_int_equal(sync_lookup_cache_size(lc), 3);
    assert_string_equal(get(lc, "k999", 2000, &found), "k999");
    get(lc, "k996", 2000, &found);
    assert_int_equal(found, 0);
    sync_lookup_cache_free(lc);
}

static void test_cache_ttl_on_the_time_given(void **state) {
    (void)state;
    sync_lookup_cache *lc = sync_lookup_cache_new(10, 1000, 1);
    int found;
    put(lc, "1", "x", 5000);
    assert_string_equal(get(lc, "1", 5999, &found), "x");   /* 999 us old */
    get(lc, "1", 6000, &found);                              /* 1000 us: gone */
    assert_int_equal(found, 0);
    assert_int_equal(sync_lookup_cache_size(lc), 0);
    assert_int_equal(sync_lookup_cache_stats_of(lc).expired, 1);
    put(lc, "1", "y", 6000);                                 /* asked again */
    assert_string_equal(get(lc, "1", 6500, &found), "y");
    sync_lookup_cache_free(lc);
}

static void test_cache_of_zero_rows_keeps_nothing(void **state) {
    (void)state;
    sync_lookup_cache *lc = sync_lookup_cache_new(0, 0, 1);
    int found;
    put(lc, "1", "x", 0);
    get(lc, "1", 0, &found);
    assert_int_equal(found, 0);
    assert_int_equal(sync_lookup_cache_size(lc), 0);
    sync_lookup_cache_free(lc);
}

/* --- batching through sync_run on the mock store --- */

#define NROWS 1200

typedef struct env {
    mock_db *db[3];          /* source, destination, crm */
    config_datastore ds[3];
    config cfg;
    config_pipeline p;
    config_column cols[3];   /* id, cust, then the lookup's seg */
    config_lookup lk;
    config_strategy strat;
} env;

static void exec_on(env *e, int side, const char *sql) {
    st_error err;
    if (store_exec(mock_db_admin(e->db[side]), sql, 0, NULL, NULL, &err) != ST_OK)
        fail_msg("%s: %s", sql, err.msg);
}

static int setup(void **state) {
    env *e = calloc(1, sizeof *e);
    static const char *names[3] = {"shop", "wh", "crm"};
    st_error err;
    for (int i = 0; i < 3; i++) {
        if ((e->db[i] = mock_db_new(names[i], &err)) == NULL) fail_msg("%s", err.msg);
        e->ds[i] = *mock_db_datastore(e->db[i]);
    }
    e->cols[0] = (config_column){.name = "id", .dest_name = "id", .type = "bigint", .key = true};
    e->cols[1] = (config_column){.name = "cust", .dest_name = "cust", .type = "bigint"};
    e->cols[2] = (config_column){.name = "seg", .dest_name = "segment", .type = "text",
                                 .lookup = 1};
    e->lk = (config_lookup){.name = "crm", .datastore = "crm", .schema = "main",
                            .table = "customers", .key = "cust", .lookup_key = "id",
                            .first = 2, .ncolumns = 1, .cache_rows = 10000,
                            .cache_ttl_s = 300};
    e->strat = (config_strategy){.name = "full", .type = CONFIG_STRATEGY_FULL, .enabled = true,
                                 .batch_size = 100, .segment_rows = 8};
    e->p = (config_pipeline){.name = "orders", .columns = e->cols, .ncolumns = 3,
                             .lookups = &e->lk, .nlookups = 1, .strategies = &e->strat,
                             .nstrategies = 1};
    e->p.source = (config_endpoint){.datastore = "shop", .schema = "main", .table = "orders"};
    e->p.destination = (config_endpoint){.datastore = "wh", .schema = "main", .table = "orders"};
    e->cfg = (config){.dir = "/tmp", .datastores = e->ds, .ndatastores = 3, .pipelines = &e->p,
                      .npipelines = 1};
    exec_on(e, 0, "CREATE TABLE orders (id INTEGER PRIMARY KEY, cust INTEGER)");
    /* customers 0..4 exist; 5 and 6 do not; every 100th order has no customer */
    exec_on(e, 0, "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < "
                  "1200) INSERT INTO orders SELECT i, CASE WHEN i % 100 = 0 THEN NULL ELSE "
                  "i % 7 END FROM g");
    exec_on(e, 2, "CREATE TABLE customers (id INTEGER PRIMARY KEY, seg TEXT)");
    exec_on(e, 2, "INSERT INTO customers VALUES (0, 's0'), (1, 's1'), (2, 's2'), (3, 's3'), "
                  "(4, 's4')");
    if (sync_ddl_apply(&e->cfg, &e->p, &err) != ST_OK) fail_msg("ddl: %s", err.msg);
    *state = e;
    return 0;
}

static int teardown(void **state) {
    env *e = *state;
    for (int i = 0; i < 3; i++) mock_db_free(e->db[i]);
    free(e);
    return 0;
}

static int run(env *e, state_stats *stats, st_error *err) {
    sync_opts o = {.cfg = &e->cfg, .pipeline = &e->p, .strategy = &e->strat,
                   .progress_interval_s = -1, .store_ops = mock_store_ops()};
    return sync_run(&o, stats, err);
}

/* Statements the crm datastore saw in one run. */
static int crm_statements(env *e, int *rc, st_error *err) {
    mock_counts before, after;
    state_stats stats;
    mock_db_counts(e->db[2], &before);
    *rc = run(e, &stats, err);
    mock_db_counts(e->db[2], &after);
    return after.statements - before.statements;
}

static int64_t dst_count(env *e, const char *where) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM orders WHERE %s", where);
    store_reader *r = NULL;
    st_error err;
    store *s = mock_db_admin(e->db[1]);
    if (store_query(s, &r, sql, 0, NULL, &err) != ST_OK) fail_msg("%s", err.msg);
    const char *const *row;
    int nc;
    int64_t n = store_next(s, r, &row, &nc, &err) == 1 && row[0] ? strtoll(row[0], NULL, 10) : -1;
    store_reader_close(s, r);
    return n;
}

/* The statements of a run whose source is empty: opening and checking. */
static int baseline(env *e) {
    exec_on(e, 0, "ALTER TABLE orders RENAME TO orders_all");
    exec_on(e, 0, "CREATE TABLE orders (id INTEGER PRIMARY KEY, cust INTEGER)");
    int rc;
    st_error err = {0};
    int n = crm_statements(e, &rc, &err);
    if (rc != ST_OK) fail_msg("%s", err.msg);
    exec_on(e, 0, "DROP TABLE orders");
    exec_on(e, 0, "ALTER TABLE orders_all RENAME TO orders");
    return n;
}

static void test_one_query_per_batch_with_cache(void **state) {
    env *e = *state;
    int base = baseline(e), rc;
    st_error err = {0};
    int n = crm_statements(e, &rc, &err);
    if (rc != ST_OK) fail_msg("%s", err.msg);
    assert_int_equal(n - base, 1);   /* 3 batches: the first asks every key, then hits */
    assert_int_equal(dst_count(e, "1 = 1"), NROWS);
    /* each order's segment is its customer's; NULL without a row or a key */
    assert_int_equal(dst_count(e, "segment = 's' || cust"), dst_count(e, "cust < 5"));
    assert_int_equal(dst_count(e, "segment IS NULL"), dst_count(e, "cust >= 5 OR cust IS NULL"));
    assert_true(dst_count(e, "cust IS NULL") == NROWS / 100);
    /* a second full compares enriched rows: nothing to write */
    state_stats stats;
    assert_int_equal(run(e, &stats, &err), ST_OK);
    assert_int_equal(stats.rows_inserted + stats.rows_updated + stats.rows_deleted, 0);
    /* a change in the lookup table is seen by the next full (and hash) */
    exec_on(e, 2, "UPDATE customers SET seg = 'new' WHERE id = 3");
    e->strat.type = CONFIG_STRATEGY_HASH;
    assert_int_equal(run(e, &stats, &err), ST_OK);
    assert_int_equal(stats.rows_updated, dst_count(e, "cust = 3"));
    assert_int_equal(dst_count(e, "cust = 3 AND segment = 'new'"), dst_count(e, "cust = 3"));
    assert_int_equal(run(e, &stats, &err), ST_OK);
    assert_int_equal(stats.rows_updated, 0);
}

static void test_one_query_per_batch_without_cache(void **state) {
    env *e = *state;
    e->lk.cache_rows = 0;
    int base = baseline(e), rc;
    st_error err = {0};
    int n = crm_statements(e, &rc, &err);
    if (rc != ST_OK) fail_msg("%s", err.msg);
    assert_int_equal(n - base, (NROWS + 499) / 500);   /* one per batch, not one per row */
    assert_int_equal(dst_count(e, "segment = 's' || cust"), dst_count(e, "cust < 5"));
}

static void test_required_miss_fails_naming_lookup_and_key(void **state) {
    env *e = *state;
    e->lk.required = true;
    state_stats stats;
    st_error err = {0};
    int rc = run(e, &stats, &err);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "lookup 'crm'"));
    assert_non_null(strstr(err.msg, "no row with id = 5"));
    assert_non_null(strstr(err.msg, "required: true"));
}

/* --- parsing --- */

static void test_config_appends_lookup_columns(void **state) {
    cfgt_dir *t = *state;
    cfgt_write(t, "datastores.yaml", "datastores:\n  a: {type: sqlite, path: a.db}\n"
               "  b: {type: sqlite, path: b.db}\n  c: {type: sqlite, path: c.db}\n");
    cfgt_write(t, "pipelines/p.yaml",
               "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
               "columns:\n  - {name: id, type: bigint, key: true}\n  - {name: cust, type: bigint}\n"
               "lookups:\n"
               "  - {datastore: c, table: customers, key: cust, lookup_key: id, required: true,\n"
               "     cache_ttl: 1m, columns: [{name: seg, type: text},\n"
               "                              {name: tier, type: integer, dest: t2}]}\n"
               "strategies:\n  - {name: f, type: full}\n");
    int rc = config_load(&t->cfg, t->path, &t->probs, &t->err);
    for (size_t i = 0; i < t->probs.n; i++) print_message("problem: %s\n", t->probs.items[i]);
    assert_int_equal(rc, ST_OK);
    const config_pipeline *p = &t->cfg->pipelines[0];
    assert_int_equal(p->ncolumns, 4);
    assert_int_equal(config_source_columns(p), 2);
    assert_int_equal(p->nlookups, 1);
    const config_lookup *lk = &p->lookups[0];
    assert_string_equal(lk->name, "customers");
    assert_string_equal(lk->schema, "main");
    assert_int_equal(lk->first, 2);
    assert_int_equal(lk->ncolumns, 2);
    assert_true(lk->required);
    assert_int_equal(lk->cache_rows, 10000);
    assert_int_equal(lk->cache_ttl_s, 60);
    assert_int_equal(p->columns[2].lookup, 1);
    assert_string_equal(p->columns[3].name, "tier");
    assert_string_equal(p->columns[3].dest_name, "t2");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_hit_miss_and_known_miss),
        cmocka_unit_test(test_cache_evicts_least_recently_used),
        cmocka_unit_test(test_cache_ttl_on_the_time_given),
        cmocka_unit_test(test_cache_of_zero_rows_keeps_nothing),
        cmocka_unit_test_setup_teardown(test_one_query_per_batch_with_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_query_per_batch_without_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_miss_fails_naming_lookup_and_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_appends_lookup_columns, cfgt_setup,
                                        cfgt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
