/*
 * test_store_engine — the store_ops version 11 entries (issue 22: engines
 * differ only inside their drivers) read straight from each driver's
 * table, and the front end's answers on an open SQLite store: the default
 * batch, how an existing column fits a config type (SQLite affinities,
 * earlier versions' TEXT columns), DDL table options and key types,
 * `check`'s type compatibility, key-uniqueness SQL and index statement,
 * the decimal caveat, and the copy inside SQLite (offered for two SQLite
 * tables, refused with ST_ENOTIMPL for a source query). No server is
 * needed; PostgreSQL and MySQL run these end to end in tests/e2e.
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

#include "../../src/store/store.h"
#include "../../src/store/store_driver.h"

static void test_sqlite_entries(void **s) {
    (void)s;
    const struct store_ops *o = store_sqlite_driver();
    assert_int_equal(o->version, STORE_OPS_VERSION);
    assert_int_equal(o->default_batch, 100000);
    assert_false(o->text_key_order_unindexed);
    assert_false(o->ddl_key_types);
    assert_null(o->ddl_table_options);
    assert_int_equal(o->column_fit("TEXT", STORE_K_INT, NULL), STORE_FIT_LEGACY);
    assert_int_equal(o->column_fit("TEXT", STORE_K_TIMESTAMPTZ, NULL), STORE_FIT_LEGACY);
    assert_int_equal(o->column_fit("NUMERIC(12,2)", STORE_K_NUMERIC, NULL), STORE_FIT_SAME);
    assert_int_equal(o->column_fit("REAL", STORE_K_NUMERIC, NULL), STORE_FIT_SAME);
    assert_int_equal(o->column_fit("REAL", STORE_K_INT, NULL), STORE_FIT_MIGRATE);
    assert_int_equal(o->column_fit("TEXT", STORE_K_DATE, NULL), STORE_FIT_SAME);
    assert_non_null(o->migrate_table);
    char msg[512];
    assert_true(o->ddl_caveat("amount", "numeric(20,2)", "lite", msg, sizeof msg));
    assert_non_null(strstr(msg, "15 significant digits"));
    assert_true(o->ddl_caveat("amount", "numeric", "lite", msg, sizeof msg));
    assert_false(o->ddl_caveat("amount", "numeric(15,2)", "lite", msg, sizeof msg));
    assert_false(o->ddl_caveat("id", "bigint", "lite", msg, sizeof msg));
    assert_non_null(o->key_unique_sql);
    assert_null(o->type_compatible);   /* any value fits any column */
    assert_null(o->session_limits);
    assert_null(o->hint_aggregate);
    assert_non_null(o->read_while_write);
    assert_non_null(o->local);
}

static void test_pg_entries(void **s) {
    (void)s;
    const struct store_ops *o = store_pg_driver();
    assert_int_equal(o->version, STORE_OPS_VERSION);
    assert_int_equal(o->default_batch, 0);
    assert_true(o->text_key_order_unindexed);
    assert_string_equal(o->ddl_table_options, " WITH (fillfactor = 90)");
    assert_null(o->column_fit);   /* its own spelling: compared as written */
    assert_null(o->migrate_table);
    assert_true(o->type_compatible("integer", "bigint"));
    assert_false(o->type_compatible("text", "bigint"));
    assert_non_null(o->key_unique_sql);
    assert_non_null(o->session_limits);
    assert_non_null(o->hint_aggregate);
    assert_null(o->local);
}

static void test_mysql_entries(void **s) {
    (void)s;
    const struct store_ops *o = store_mysql_driver();
    assert_int_equal(o->version, STORE_OPS_VERSION);
    assert_true(o->ddl_key_types);
    assert_non_null(strstr(o->ddl_table_options, "ENGINE=InnoDB"));
    assert_true(o->type_compatible("tinyint(1)", "boolean"));
    assert_false(o->type_compatible("tinyint(4)", "boolean"));
    assert_true(o->type_compatible("bigint unsigned", "numeric(20)"));
    assert_true(o->type_compatible("datetime", "timestamptz"));
    assert_non_null(o->session_limits);
    assert_null(o->hint_aggregate);
    assert_null(o->local);
}

/* Two SQLite files in a temporary directory, their datastores and a
 * one-table spec. */
typedef struct lite {
    char dir[64], pa[128], pb[128];
    config_datastore a, b;
    store *sa, *sb;
} lite;

static void lite_open(lite *l) {
    snprintf(l->dir, sizeof l->dir, "/tmp/synct_engine_XXXXXX");
    assert_non_null(mkdtemp(l->dir));
    snprintf(l->pa, sizeof l->pa, "%s/a.db", l->dir);
    snprintf(l->pb, sizeof l->pb, "%s/b.db", l->dir);
    l->a = (config_datastore){.name = "a", .type = CONFIG_DS_SQLITE, .path = l->pa};
    l->b = (config_datastore){.name = "b", .type = CONFIG_DS_SQLITE, .path = l->pb};
    st_error err;
    if (store_open(&l->sa, &l->a, &err) != ST_OK) fail_msg("%s", err.msg);
    if (store_open(&l->sb, &l->b, &err) != ST_OK) fail_msg("%s", err.msg);
    assert_int_equal(store_exec(l->sa, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0, NULL,
                                NULL, &err), ST_OK);
    assert_int_equal(store_exec(l->sa, "INSERT INTO t VALUES (1, 'x'), (2, 'y')", 0, NULL, NULL,
                                &err), ST_OK);
    assert_int_equal(store_exec(l->sb, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", 0, NULL,
                                NULL, &err), ST_OK);
}

static void lite_close(lite *l) {
    store_close(l->sa);
    store_close(l->sb);
    unlink(l->pa);
    unlink(l->pb);
    rmdir(l->dir);
}

static void test_front_end_on_sqlite(void **s) {
    (void)s;
    lite l;
    lite_open(&l);
    assert_int_equal(store_default_batch(l.sb), 100000);
    assert_string_equal(store_ddl_table_options(l.sb), "");
    assert_int_equal(store_column_fit(l.sb, "TEXT", STORE_K_BOOL, NULL), STORE_FIT_LEGACY);
    assert_true(store_type_compatible(l.sb, "TEXT", "bigint"));
    char buf[64];
    st_error err;
    assert_int_equal(store_ddl_col_type(l.sb, "numeric(12,2)", true, buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "NUMERIC(12,2)");
    assert_int_equal(store_key_unique(l.sa, NULL, "t", "id"), 1);
    assert_int_equal(store_key_unique(l.sa, NULL, "t", "v"), 0);
    store_sb q = {0};
    const char *cols[] = {"v", "id"};
    store_create_index_sql(l.sa, &q, "main", "t_v_synctool", "t", cols, 2);
    assert_string_equal(q.s, "CREATE INDEX \"t_v_synctool\" ON \"t\" (\"v\", \"id\")");
    store_sb_free(&q);
    /* two files: reading one while committing the other needs nothing */
    assert_int_equal(store_read_while_write(l.sb, l.sa, &l.a, &l.b, &err), ST_OK);
    lite_close(&l);
}

static void test_local_copy_offered_and_refused(void **s) {
    (void)s;
    lite l;
    lite_open(&l);
    static const char *const cols[] = {"id", "v"};
    static const char *const types[] = {"bigint", "text"};
    static const store_kind kinds[] = {STORE_K_INT, STORE_K_TEXT};
    static const bool key[] = {true, false};
    store_table st = {.datastore = "a", .table = "t", .ncols = 2, .cols = cols, .types = types,
                      .kinds = kinds, .key = key};
    store_table dt = st;
    dt.datastore = "b";
    store_local *loc = NULL;
    st_error err;
    assert_int_equal(store_local_open(&loc, l.sb, &l.b, &dt, l.sa, &l.a, &st, &err), ST_OK);
    assert_string_equal(store_local_source_schema(loc), "synctool_src");
    assert_string_equal(store_local_how(loc), "SQLite (source attached)");
    store_local_counts n;
    assert_int_equal(store_begin(l.sb, &err), ST_OK);
    assert_int_equal(store_local_merge(loc, &n, &err), ST_OK);
    assert_int_equal(store_commit(l.sb, &err), ST_OK);
    assert_int_equal(n.read, 2);
    assert_int_equal(n.inserted, 2);
    assert_int_equal(n.updated + n.deleted, 0);
    store_local_close(loc);
    /* a source query is not copied inside the engine */
    st.table = NULL;
    st.query = "SELECT id, v FROM t";
    assert_int_equal(store_local_open(&loc, l.sb, &l.b, &dt, l.sa, &l.a, &st, &err), ST_ENOTIMPL);
    assert_null(loc);
    lite_close(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_entries),
        cmocka_unit_test(test_pg_entries),
        cmocka_unit_test(test_mysql_entries),
        cmocka_unit_test(test_front_end_on_sqlite),
        cmocka_unit_test(test_local_copy_offered_and_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
