/*
 * test_store_apply_stream — store_apply_stream(), the driver write path
 * every batch goes through: changes are pulled one at a time and written
 * as they come (PostgreSQL: COPYed into the staging table while the caller
 * is still producing them).
 *
 * For SQLite (a temp file) and PostgreSQL (the server from
 * scripts/with-servers): 2,500 upserts pulled inside one transaction are
 * all written and counted (inserted, then updated; an identical re-run
 * counts nothing); inserts and deletes stream too; and a pull that fails
 * part-way (after 1,500 rows, i.e. after COPY data was already sent)
 * returns the puller's own code and message — not a driver error "writing
 * table" — and, once the caller rolls back, nothing was written and the
 * store is usable.
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

typedef struct fixture {
    store *s;
    char table[64];
    char path[96];
    store_table t;
} fixture;

static const char *const cols[] = {"id", "v"};
static const char *const types[] = {"bigint", "text"};
static const store_kind kinds[] = {STORE_K_INT, STORE_K_TEXT};
static const bool keys[] = {true, false};

static void open_fixture(fixture *f, bool pg) {
    memset(f, 0, sizeof *f);
    config_datastore ds = {.name = "streamtest"};
    if (pg) {
        const char *host = getenv("SYNCTOOL_TEST_PG_HOST"), *port = getenv("SYNCTOOL_TEST_PG_PORT");
        if (host == NULL || port == NULL)
            fail_msg("SYNCTOOL_TEST_PG_* not set: run under scripts/with-servers (make unit does)");
        ds.type = CONFIG_DS_POSTGRES;
        ds.host = (char *)host;
        ds.port = atoi(port);
        ds.user = getenv("SYNCTOOL_TEST_PG_USER");
        ds.password = getenv("SYNCTOOL_TEST_PG_PASSWORD");
        ds.dbname = getenv("SYNCTOOL_TEST_PG_DBNAME");
    } else {
        snprintf(f->path, sizeof f->path, "/tmp/synctool-stream-%d.db", (int)getpid());
        unlink(f->path);
        ds.type = CONFIG_DS_SQLITE;
        ds.path = f->path;
    }
    st_error err;
    if (store_open(&f->s, &ds, &err) != 0) fail_msg("%s", err.msg);
    snprintf(f->table, sizeof f->table, "stream_t_%d", (int)getpid());
    char sql[160];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", f->table);
    assert_int_equal(store_exec(f->s, sql, 0, NULL, NULL, &err), 0);
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id bigint PRIMARY KEY, v text)", f->table);
    assert_int_equal(store_exec(f->s, sql, 0, NULL, NULL, &err), 0);
    f->t = (store_table){.datastore = "streamtest", .table = f->table, .ncols = 2,
                         .cols = cols, .types = types, .kinds = kinds, .key = keys};
}

static void close_fixture(fixture *f) {
    char sql[96];
    st_error err;
    snprintf(sql, sizeof sql, "DROP TABLE %s", f->table);
    store_exec(f->s, sql, 0, NULL, NULL, &err);
    store_close(f->s);
    if (f->path[0]) unlink(f->path);
}

/* Yields rows (i, "<tag>-i") for i in 1..n; fails with ST_EUNAVAIL and a
 * message of its own when i reaches fail_at (0 = never). */
typedef struct gen {
    long i, n, fail_at;
    const char *tag;
    char id[24], v[48];
    const char *row[2];
} gen;

static int gen_pull(void *arg, const char *const **vals, st_error *err) {
    gen *g = arg;
    if (g->i >= g->n) return 0;
    g->i++;
    if (g->i == g->fail_at)
        return st_error_set(err, ST_EUNAVAIL, "source went away at row %ld", g->i);
    snprintf(g->id, sizeof g->id, "%ld", g->i);
    snprintf(g->v, sizeof g->v, "%s-%ld", g->tag, g->i);
    g->row[0] = g->id;
    g->row[1] = g->v;
    *vals = g->row;
    return 1;
}

static int stream(fixture *f, store_op op, gen *g, store_counts *cnt, st_error *err) {
    memset(cnt, 0, sizeof *cnt);
    int rc = store_begin(f->s, err);
    if (rc == 0) rc = store_apply_stream(f->s, &f->t, op, gen_pull, g, cnt, err);
    if (rc == 0) {
        rc = store_commit(f->s, err);
    } else {
        store_rollback(f->s);
    }
    return rc;
}

static long count_where(fixture *f, const char *where) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", f->table, where);
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query_small(f->s, &r, sql, 0, NULL, &err), 0);
    const char *const *row;
    int nc;
    assert_int_equal(store_next(f->s, r, &row, &nc, &err), 1);
    long n = strtol(row[0], NULL, 10);
    store_reader_close(f->s, r);
    return n;
}

static void upserts_stream_and_count(bool pg) {
    fixture f;
    open_fixture(&f, pg);
    store_counts cnt;
    st_error err;
    gen g = {.n = 2500, .tag = "a"};
    assert_int_equal(stream(&f, STORE_UPSERT, &g, &cnt, &err), 0);
    assert_int_equal(cnt.inserted, 2500);
    assert_int_equal(cnt.updated, 0);
    g = (gen){.n = 2500, .tag = "a"};
    assert_int_equal(stream(&f, STORE_UPSERT, &g, &cnt, &err), 0);
    assert_int_equal(cnt.inserted + cnt.updated, 0);   /* identical rows change nothing */
    g = (gen){.n = 3000, .tag = "b"};
    assert_int_equal(stream(&f, STORE_UPSERT, &g, &cnt, &err), 0);
    assert_int_equal(cnt.updated, 2500);
    assert_int_equal(cnt.inserted, 500);
    assert_int_equal(count_where(&f, "v LIKE 'b-%'"), 3000);
    g = (gen){.n = 1000, .tag = "x"};
    assert_int_equal(stream(&f, STORE_DELETE, &g, &cnt, &err), 0);
    assert_int_equal(cnt.deleted, 1000);
    assert_int_equal(count_where(&f, "1 = 1"), 2000);
    g = (gen){.n = 1000, .tag = "c"};
    assert_int_equal(stream(&f, STORE_INSERT, &g, &cnt, &err), 0);
    assert_int_equal(cnt.inserted, 1000);
    assert_int_equal(count_where(&f, "v LIKE 'c-%'"), 1000);
    close_fixture(&f);
}

static void pull_failure_writes_nothing(bool pg) {
    static const store_op ops[] = {STORE_UPSERT, STORE_INSERT};
    fixture f;
    open_fixture(&f, pg);
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        store_counts cnt;
        st_error err;
        gen g = {.n = 2500, .fail_at = 1501, .tag = "a"};
        assert_int_equal(stream(&f, ops[k], &g, &cnt, &err), ST_EUNAVAIL);
        assert_string_equal(err.msg, "source went away at row 1501");
        assert_int_equal(count_where(&f, "1 = 1"), 0);
    }
    store_counts cnt;
    st_error err;
    gen g = {.n = 10, .tag = "ok"};
    assert_int_equal(stream(&f, STORE_UPSERT, &g, &cnt, &err), 0);   /* still usable */
    assert_int_equal(count_where(&f, "1 = 1"), 10);
    close_fixture(&f);
}

static void test_stream_sqlite(void **s) { (void)s; upserts_stream_and_count(false); }
static void test_stream_pg(void **s) { (void)s; upserts_stream_and_count(true); }
static void test_pull_failure_sqlite(void **s) { (void)s; pull_failure_writes_nothing(false); }
static void test_pull_failure_pg(void **s) { (void)s; pull_failure_writes_nothing(true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_sqlite),
        cmocka_unit_test(test_stream_pg),
        cmocka_unit_test(test_pull_failure_sqlite),
        cmocka_unit_test(test_pull_failure_pg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
