/*
 * test_store_init — the store_ops version 10 methods behind `synctool init`
 * and `ddl apply`: each driver's config_type (engine spelling -> config
 * type; every result's kind is the kind of the engine type, so values
 * compare alike), SQLite's primary_key in key order, and SQLite's prepare
 * (a missing directory made with its parents; dry runs change nothing; the
 * open error of a file in a missing directory names it and the fix).
 * PostgreSQL and MySQL catalog queries run end to end (tests/e2e/test_init.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/store/store.h"
#include "../../src/store/store_driver.h"

typedef struct { const char *engine_type, *want; } type_case;

static void check_types(const struct store_ops *ops, const type_case *c, size_t n) {
    assert_non_null(ops->config_type);
    for (size_t i = 0; i < n; i++) {
        char buf[128];
        ops->config_type(c[i].engine_type, buf, sizeof buf);
        if (strcmp(buf, c[i].want) != 0)
            fail_msg("%s: %s -> %s, want %s", ops->engine, c[i].engine_type, buf, c[i].want);
    }
}

static void test_pg_config_types(void **s) {
    (void)s;
    static const type_case c[] = {
        {"bigint", "bigint"}, {"integer", "integer"}, {"smallint", "smallint"},
        {"numeric(12,2)", "numeric(12,2)"}, {"numeric", "numeric"},
        {"double precision", "double precision"}, {"real", "real"}, {"boolean", "boolean"},
        {"date", "date"}, {"timestamp without time zone", "timestamp"},
        {"timestamp(3) without time zone", "timestamp"},
        {"timestamp with time zone", "timestamptz"}, {"timestamp(0) with time zone", "timestamptz"},
        {"time without time zone", "time"}, {"time(6) without time zone", "time"},
        {"time with time zone", "time with time zone"},
        {"character varying(20)", "varchar(20)"}, {"character varying", "varchar"},
        {"character(3)", "char(3)"}, {"text", "text"}, {"bytea", "bytea"}, {"json", "json"},
        {"jsonb", "jsonb"}, {"uuid", "uuid"}, {"integer[]", "integer[]"},
    };
    check_types(store_pg_driver(), c, sizeof c / sizeof *c);
}

static void test_mysql_config_types(void **s) {
    (void)s;
    static const type_case c[] = {
        {"tinyint(1)", "boolean"}, {"tinyint", "smallint"}, {"tinyint unsigned", "smallint"},
        {"smallint", "smallint"}, {"smallint unsigned", "integer"}, {"mediumint", "integer"},
        {"int", "integer"}, {"int unsigned", "bigint"}, {"bigint", "bigint"},
        {"bigint unsigned", "numeric(20)"}, {"decimal(65,30)", "numeric(65,30)"},
        {"decimal(10,2) unsigned", "numeric(10,2)"}, {"float", "real"},
        {"double", "double precision"}, {"date", "date"}, {"datetime(6)", "timestamp"},
        {"datetime", "timestamp"}, {"timestamp(6)", "timestamptz"}, {"time(6)", "time"},
        {"varchar(200)", "text"}, {"char(10)", "text"}, {"longtext", "text"},
        {"enum('a','b','c')", "text"}, {"set('x','y')", "text"}, {"varbinary(64)", "bytea"},
        {"blob", "bytea"}, {"binary(16)", "bytea"}, {"json", "json"}, {"year(4)", "year(4)"},
    };
    check_types(store_mysql_driver(), c, sizeof c / sizeof *c);
}

static void test_sqlite_config_types(void **s) {
    (void)s;
    static const type_case c[] = {
        {"INTEGER", "bigint"}, {"INT", "bigint"}, {"BIGINT", "bigint"},
        {"NUMERIC(12,2)", "numeric(12,2)"}, {"DECIMAL(10,4)", "decimal(10,4)"},
        {"NUMERIC", "numeric"}, {"REAL", "double precision"}, {"DOUBLE", "double precision"},
        {"FLOAT", "double precision"}, {"BOOLEAN", "boolean"}, {"BOOL", "boolean"},
        {"DATE", "date"}, {"DATETIME", "timestamp"}, {"TIMESTAMP", "timestamp"},
        {"TIMESTAMPTZ", "timestamptz"}, {"TIME", "time"}, {"TEXT", "text"},
        {"VARCHAR(20)", "varchar(20)"}, {"CLOB", "text"}, {"NVARCHAR(5)", "text"},
        {"BLOB", "bytea"}, {"", "text"}, {"MONEY", "numeric"}, {" integer ", "bigint"},
    };
    check_types(store_sqlite_driver(), c, sizeof c / sizeof *c);
}

static void test_sqlite_primary_key_in_key_order(void **s) {
    (void)s;
    config_datastore ds = {.name = "mem", .type = CONFIG_DS_SQLITE, .path = ":memory:"};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), ST_OK);
    assert_int_equal(store_exec(st, "CREATE TABLE t (a TEXT, b INTEGER, c TEXT, "
                                    "PRIMARY KEY (c, a))", 0, NULL, NULL, &err), ST_OK);
    assert_int_equal(store_exec(st, "CREATE TABLE nokey (x TEXT)", 0, NULL, NULL, &err), ST_OK);
    store_column_info *pk = NULL;
    size_t n = 0;
    assert_int_equal(store_primary_key(st, NULL, "t", &pk, &n, &err), ST_OK);
    assert_int_equal(n, 2);
    assert_string_equal(pk[0].name, "c");
    assert_string_equal(pk[1].name, "a");
    free(pk);
    assert_int_equal(store_primary_key(st, NULL, "nokey", &pk, &n, &err), ST_OK);
    assert_int_equal(n, 0);
    free(pk);
    /* no schemas to create on SQLite */
    bool created = true;
    assert_int_equal(store_ensure_schema(st, NULL, NULL, &created, &err), ST_OK);
    assert_false(created);
    store_close(st);
}

static void test_sqlite_prepare_makes_the_directory(void **s) {
    (void)s;
    char root[] = "/tmp/synctool_init_XXXXXX";
    assert_non_null(mkdtemp(root));
    char path[256], dir[256], did[512];
    snprintf(dir, sizeof dir, "%s/a/b", root);
    snprintf(path, sizeof path, "%s/w.db", dir);
    config_datastore ds = {.name = "wh", .type = CONFIG_DS_SQLITE, .path = path};
    store *st = NULL;
    st_error err;
    assert_int_equal(store_open(&st, &ds, &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_non_null(strstr(err.msg, "ddl apply"));
    assert_non_null(strstr(err.msg, dir));
    assert_int_equal(store_prepare(&ds, true, did, sizeof did, &err), ST_OK);
    assert_non_null(strstr(did, "create directory"));
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0);   /* dry: nothing made */
    assert_int_equal(store_prepare(&ds, false, did, sizeof did, &err), ST_OK);
    assert_non_null(strstr(did, "created directory"));
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(store_prepare(&ds, false, did, sizeof did, &err), ST_OK);
    assert_string_equal(did, "");               /* nothing missing any more */
    assert_int_equal(store_open(&st, &ds, &err), ST_OK);
    store_close(st);
    unlink(path);
    rmdir(dir);
    snprintf(dir, sizeof dir, "%s/a", root);
    rmdir(dir);
    rmdir(root);
    config_datastore pg = {.name = "pg", .type = CONFIG_DS_POSTGRES};
    did[0] = 'x';
    assert_int_equal(store_prepare(&pg, false, did, sizeof did, &err), ST_OK);
    assert_string_equal(did, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_config_types),
        cmocka_unit_test(test_mysql_config_types),
        cmocka_unit_test(test_sqlite_config_types),
        cmocka_unit_test(test_sqlite_primary_key_in_key_order),
        cmocka_unit_test(test_sqlite_prepare_makes_the_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
