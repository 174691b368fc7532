/*
 * test_store_mysql — the MySQL / MariaDB driver (store_mysql.c) against the
 * harness's mariadbd (SYNCTOOL_TEST_MYSQL_*, scripts/with-servers).
 *
 * What only the driver decides: client-side parameter binding (quotes,
 * backslashes, a "?1" inside a value, NULL, bare numbers for ?#N), the
 * canonical text the server computes per kind (numerics without trailing
 * zeros, PostgreSQL's float spelling finished in C, booleans, UTC
 * timestamps, bytea hex, time), zero dates refused naming the column and
 * the row unless zero_dates: null, exact insert/update counts of the
 * ON DUPLICATE KEY UPDATE writer (identical rows count nothing), a refused
 * value named with its key, the streaming reader closed half way leaving
 * the connection usable, the connection also over the unix socket, a
 * wrong password reported without the password, and the fencing check.
 * Issue 20: a statement sent while a result streams is refused with a
 * message (it used to end the read with "Commands out of sync") and the
 * read goes on; with the interrupt flag up a streamed read of a slow query
 * ends with ST_EINTR at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/store/store_backend.h"
#include "support/synct_env.h"

static store *open_my(bool zero_null) {
    config_datastore ds;
    synct_mysql_datastore(&ds, "mytest");
    ds.zero_dates_null = zero_null;
    store *s = NULL;
    st_error err;
    if (store_open(&s, &ds, &err) != 0) fail_msg("%s", err.msg);
    return s;
}

static void exec_ok(store *s, const char *sql) {
    st_error err;
    if (store_exec(s, sql, 0, NULL, NULL, &err) != 0) fail_msg("%s: %s", sql, err.msg);
}

/* The single value of a one-row, one-column query (static buffer). */
static const char *one(store *s, const char *sql, int np, const char *const *p) {
    static char buf[512];
    store_reader *r = NULL;
    st_error err;
    if (store_query_small(s, &r, sql, np, p, &err) != 0) fail_msg("%s: %s", sql, err.msg);
    const char *const *row;
    int nc;
    if (store_next(s, r, &row, &nc, &err) != 1) fail_msg("%s: no row: %s", sql, err.msg);
    snprintf(buf, sizeof buf, "%s", row[0] ? row[0] : "<NULL>");
    store_reader_close(s, r);
    return buf;
}

static void test_params_are_bound_safely(void **x) {
    (void)x;
    store *s = open_my(false);
    const char *p1[] = {"it's a \\ \"test\" ?1 -- x"};
    assert_string_equal(one(s, "SELECT ?1", 1, p1), p1[0]);
    const char *p2[] = {NULL, "42"};
    assert_string_equal(one(s, "SELECT COALESCE(?1, ?#2 + 1)", 2, p2), "43");
    const char *p3[] = {"1; DROP TABLE x"};  /* not a number: stays a string */
    assert_string_equal(one(s, "SELECT ?#1", 1, p3), "1; DROP TABLE x");
    /* a placeholder inside a literal or a quoted identifier is text */
    const char *p4[] = {"v"};
    assert_string_equal(one(s, "SELECT CONCAT('?1', ?1) AS \"?1\"", 1, p4), "?1v");
    st_error err;
    store_reader *r = NULL;
    assert_int_not_equal(store_query_small(s, &r, "SELECT ?2", 1, p4, &err), 0);
    assert_non_null(strstr(err.msg, "parameter ?2 of 1"));
    store_close(s);
}

static void test_canonical_text_per_kind(void **x) {
    (void)x;
    store *s = open_my(false);
    exec_ok(s, "DROP TABLE IF EXISTS canon_t");
    exec_ok(s, "CREATE TABLE canon_t (n decimal(30,10), f double, b tinyint(1), "
               "tz timestamp(6) NULL, ts datetime(6), d date, tm time(6), bt varbinary(8), "
               "u bigint unsigned, t varchar(20))");
    exec_ok(s, "INSERT INTO canon_t VALUES (-12.5000000000, 1e20, 1, '2025-10-26 01:30:00.5', "
               "'2025-03-30 02:30:00', '2025-01-02', '07:08:09.25', X'00FF', "
               "18446744073709551615, '😀')");
    const struct { store_kind k; const char *col, *want, *hash; } c[] = {
        {STORE_K_NUMERIC, "n", "-12.5", "-12.5"},
        {STORE_K_FLOAT, "f", "1e+20", "1e+20"},
        {STORE_K_BOOL, "b", "t", "t"},
        {STORE_K_TIMESTAMPTZ, "tz", "2025-10-26 01:30:00.5", "2025-10-26 01:30:00.5"},
        {STORE_K_TIMESTAMP, "ts", "2025-03-30 02:30:00", "2025-03-30 02:30:00"},
        {STORE_K_DATE, "d", "2025-01-02", "2025-01-02"},
        {STORE_K_TIME, "tm", "07:08:09.25", "07:08:09.25"},
        {STORE_K_BYTES, "bt", "\\x00ff", "\\x00ff"},
        {STORE_K_NUMERIC, "u", "18446744073709551615", "18446744073709551615"},
        {STORE_K_TEXT, "t", "😀", "😀"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        store_sb q = {0}, col = {0};
        store_sb_quote(&col, c[i].col);
        store_sb_add(&q, "SELECT ");
        store_ops_of(s)->canon_expr(&q, c[i].k, col.s);
        store_sb_add(&q, ", ");
        store_ops_of(s)->hash_expr(&q, c[i].k, col.s);
        store_sb_add(&q, " FROM canon_t");
        store_reader *r = NULL;
        st_error err;
        assert_int_equal(store_query(s, &r, q.s, 0, NULL, &err), 0);
        const char *const *row;
        int nc;
        assert_int_equal(store_next(s, r, &row, &nc, &err), 1);
        if (strcmp(row[0], c[i].want) != 0 || strcmp(row[1], c[i].hash) != 0)
            fail_msg("%s: canon '%s' hash '%s', want '%s' / '%s'", c[i].col, row[0], row[1],
                     c[i].want, c[i].hash);
        store_reader_close(s, r);
        store_sb_free(&q);
        store_sb_free(&col);
    }
    exec_ok(s, "DROP TABLE canon_t");
    store_close(s);
}

/* MariaDB prints the shortest digits in its own spelling; the reader
 * rewrites them into PostgreSQL's (store_canon_double's) for every range. */
static void test_float_spelling(void **x) {
    (void)x;
    store *s = open_my(false);
    static const char *in[] = {"1.5e-7", "0.0001", "0.00001", "123456789012345",
                               "1234567890123456", "1e20", "-2.5", "0", "0.1e0 + 0.2e0",
                               "1.7976931348623157e308", "5e-324", "1.0e0 / 3", "100"};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        char expr[64], want[64];
        snprintf(expr, sizeof expr, "(%s)", in[i]);
        store_sb q = {0};
        store_sb_add(&q, "SELECT ");
        store_ops_of(s)->canon_expr(&q, STORE_K_FLOAT, expr);
        store_sb_addf(&q, ", CAST(CAST(%s AS DOUBLE) AS CHAR)", expr);
        store_reader *r = NULL;
        st_error err;
        assert_int_equal(store_query_small(s, &r, q.s, 0, NULL, &err), 0);
        const char *const *row;
        int nc;
        assert_int_equal(store_next(s, r, &row, &nc, &err), 1);
        store_canon_double(strtod(row[1], NULL), STORE_K_FLOAT, want, sizeof want);
        if (strcmp(row[0], want) != 0) fail_msg("%s: got '%s', want '%s'", in[i], row[0], want);
        store_reader_close(s, r);
        store_sb_free(&q);
    }
    store_close(s);
}

static int read_all(store *s, const char *sql, char *first, size_t n, st_error *err) {
    store_reader *r = NULL;
    int rc = store_query(s, &r, sql, 0, NULL, err);
    if (rc != 0) return rc;
    const char *const *row;
    int nc;
    first[0] = '\0';
    while ((rc = store_next(s, r, &row, &nc, err)) == 1)
        if (!first[0]) snprintf(first, n, "%s", row[1] ? row[1] : "<NULL>");
    store_reader_close(s, r);
    return rc;
}

static void test_zero_dates(void **x) {
    (void)x;
    store *s = open_my(false);
    exec_ok(s, "DROP TABLE IF EXISTS zero_t");
    exec_ok(s, "CREATE TABLE zero_t (id int primary key, d date)");
    exec_ok(s, "SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES'");
    exec_ok(s, "INSERT INTO zero_t VALUES (7, '0000-00-00')");
    store_sb q = {0};
    store_sb_add(&q, "SELECT id, ");
    store_ops_of(s)->canon_expr(&q, STORE_K_DATE, "\"d\"");
    store_sb_add(&q, " FROM zero_t");
    char first[64];
    st_error err;
    assert_int_not_equal(read_all(s, q.s, first, sizeof first, &err), 0);
    assert_non_null(strstr(err.msg, "column \"d\" holds the zero date 0000-00-00 in the row (7, "));
    assert_non_null(strstr(err.msg, "zero_dates: null"));
    store *n = open_my(true);
    assert_int_equal(read_all(n, q.s, first, sizeof first, &err), 0);
    assert_string_equal(first, "<NULL>");
    store_sb_free(&q);
    exec_ok(s, "DROP TABLE zero_t");
    store_close(n);
    store_close(s);
}

typedef struct rows_pull {
    const char *(*v)[3];
    size_t n, i;
} rows_pull;

static int pull_rows(void *arg, const char *const **vals, st_error *err) {
    (void)err;
    rows_pull *p = arg;
    if (p->i == p->n) return 0;
    *vals = p->v[p->i++];
    return 1;
}

static void test_apply_counts_and_refused_key(void **x) {
    (void)x;
    store *s = open_my(false);
    exec_ok(s, "DROP TABLE IF EXISTS apply_t");
    exec_ok(s, "CREATE TABLE apply_t (id bigint primary key, v varchar(10), ts timestamp(6) NULL)");
    static const char *cols[] = {"id", "v", "ts"};
    static const char *types[] = {"bigint", "text", "timestamptz"};
    static const store_kind kinds[] = {STORE_K_INT, STORE_K_TEXT, STORE_K_TIMESTAMPTZ};
    static const bool key[] = {true, false, false};
    store_table t = {.datastore = "mytest", .table = "apply_t", .ncols = 3, .cols = cols,
                     .types = types, .kinds = kinds, .key = key};
    const char *rows1[][3] = {{"1", "a", "2025-01-01T00:00:00.000001Z"}, {"2", "b", NULL},
                              {"3", "c", NULL}};
    st_error err;
    store_counts cnt = {0};
    rows_pull p = {rows1, 3, 0};
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_apply_stream(s, &t, STORE_INSERT, pull_rows, &p, &cnt, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(cnt.inserted, 3);
    /* one identical, one changed, one new: exact counts */
    const char *rows2[][3] = {{"1", "a", "2025-01-01T00:00:00.000001Z"}, {"2", "B", NULL},
                              {"4", "d", NULL}};
    memset(&cnt, 0, sizeof cnt);
    p = (rows_pull){rows2, 3, 0};
    assert_int_equal(store_apply_stream(s, &t, STORE_UPSERT, pull_rows, &p, &cnt, &err), 0);
    assert_int_equal(cnt.inserted, 1);
    assert_int_equal(cnt.updated, 1);
    /* a single changed row (no mysql_info) */
    const char *rows3[][3] = {{"3", "C", NULL}};
    memset(&cnt, 0, sizeof cnt);
    p = (rows_pull){rows3, 1, 0};
    assert_int_equal(store_apply_stream(s, &t, STORE_UPDATE, pull_rows, &p, &cnt, &err), 0);
    assert_int_equal(cnt.updated, 1);
    assert_int_equal(cnt.inserted, 0);
    /* deletes by key */
    const char *rows4[][3] = {{"1", NULL, NULL}, {"4", NULL, NULL}};
    memset(&cnt, 0, sizeof cnt);
    p = (rows_pull){rows4, 2, 0};
    assert_int_equal(store_apply_stream(s, &t, STORE_DELETE, pull_rows, &p, &cnt, &err), 0);
    assert_int_equal(cnt.deleted, 2);
    assert_string_equal(one(s, "SELECT GROUP_CONCAT(CONCAT(id, v) ORDER BY id) FROM apply_t",
                            0, NULL), "2B,3C");
    /* strict mode: a value MySQL cannot hold fails naming its key */
    const char *rows5[][3] = {{"10", "ok", NULL}, {"11", "ok", "1960-01-01T00:00:00.000000Z"}};
    p = (rows_pull){rows5, 2, 0};
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_not_equal(store_apply_stream(s, &t, STORE_INSERT, pull_rows, &p, &cnt, &err), 0);
    store_rollback(s);
    assert_non_null(strstr(err.msg, "row with key id=11"));
    if (strstr(err.msg, "ts") == NULL) fail_msg("%s", err.msg);
    assert_non_null(strstr(err.msg, "datastore 'mytest' (mysql)"));
    exec_ok(s, "DROP TABLE apply_t");
    store_close(s);
}

static void test_reader_closed_half_way_and_socket(void **x) {
    (void)x;
    store *s = open_my(false);
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r, "SELECT seq FROM seq_1_to_20000", 0, NULL, &err), 0);
    const char *const *row;
    int nc;
    for (int i = 1; i <= 10; i++) {
        assert_int_equal(store_next(s, r, &row, &nc, &err), 1);
        assert_int_equal(atoi(row[0]), i);
    }
    store_reader_close(s, r);
    assert_string_equal(one(s, "SELECT 41 + 1", 0, NULL), "42");
    store_close(s);
    const char *sock = getenv("SYNCTOOL_TEST_MYSQL_SOCKET");
    assert_non_null(sock);
    config_datastore ds;
    synct_mysql_datastore(&ds, "sock");
    ds.host = NULL;
    ds.port = 0;
    ds.unix_socket = (char *)sock;
    assert_int_equal(store_open(&s, &ds, &err), 0);
    assert_string_equal(one(s, "SELECT @@time_zone", 0, NULL), "+00:00");
    assert_non_null(strstr(one(s, "SELECT @@sql_mode", 0, NULL), "STRICT_ALL_TABLES"));
    store_close(s);
}

static void test_wrong_password_not_echoed(void **x) {
    (void)x;
    config_datastore ds;
    synct_mysql_datastore(&ds, "badpw");
    ds.password = "Wr0ng-Secret-Pw";
    store *s = NULL;
    st_error err;
    assert_int_equal(store_open(&s, &ds, &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "datastore 'badpw' (mysql): cannot connect: Access denied"));
    assert_null(strstr(err.msg, "Wr0ng-Secret-Pw"));
}

static void test_fence(void **x) {
    (void)x;
    store *a = open_my(false);
    st_error err;
    char key[64];
    snprintf(key, sizeof key, "unit-fence-%d", (int)getpid());
    assert_int_equal(store_fence_ensure_table(a, &err), 0);
    bool excl = false;
    assert_int_equal(store_begin(a, &err), 0);
    assert_int_equal(store_fence_check(a, key, 5, &excl, &err), 0);
    assert_true(excl);
    assert_int_equal(store_commit(a, &err), 0);
    assert_int_equal(store_begin(a, &err), 0);
    assert_int_equal(store_fence_check(a, key, 5, &excl, &err), 0);   /* same run: shared */
    assert_false(excl);
    assert_int_equal(store_commit(a, &err), 0);
    assert_int_equal(store_begin(a, &err), 0);
    assert_int_equal(store_fence_check(a, key, 7, &excl, &err), 0);   /* newer run raises */
    assert_int_equal(store_commit(a, &err), 0);
    assert_int_equal(store_begin(a, &err), 0);
    assert_int_equal(store_fence_check(a, key, 5, &excl, &err), ST_ESTALE);
    assert_non_null(strstr(err.msg, "fencing token 5 is stale (current 7)"));
    store_rollback(a);
    const char *p[] = {key};
    store_exec(a, "DELETE FROM synctool_fence WHERE lock_key = ?1", 1, p, NULL, &err);
    store_close(a);
}

/* MariaDB has idle_transaction_timeout: both limits are set (MySQL 8,
 * which lacks it, gets the lock wait only: store.c, mysql_has_variable). */
static void test_session_limits_on_mariadb(void **x) {
    (void)x;
    store *s = open_my(false);
    st_error err;
    assert_int_equal(store_session_limits(s, 12, 34, &err), ST_OK);
    assert_string_equal(one(s, "SELECT @@SESSION.idle_transaction_timeout", 0, NULL), "12");
    assert_string_equal(one(s, "SELECT @@SESSION.innodb_lock_wait_timeout", 0, NULL), "34");
    store_close(s);
}

static void test_side_query_refused_while_streaming(void **x) {
    (void)x;
    store *s = open_my(false);
    store_reader *r = NULL, *side = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r, "SELECT seq FROM seq_1_to_5000", 0, NULL, &err), 0);
    const char *const *row;
    int nc;
    assert_int_equal(store_next(s, r, &row, &nc, &err), 1);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(store_query_small(s, &side, "SELECT 1", 0, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "while a streaming read is open"));
    int n = 1, rc;
    while ((rc = store_next(s, r, &row, &nc, &err)) == 1) n++;
    assert_int_equal(rc, 0);
    assert_int_equal(n, 5000);
    store_reader_close(s, r);
    assert_string_equal(one(s, "SELECT 41 + 1", 0, NULL), "42");
    store_close(s);
}

static void test_streamed_read_interrupted(void **x) {
    (void)x;
    store *s = open_my(false);
    static atomic_int flag;
    flag = 0;
    store_set_interrupt(s, &flag);
    store_reader *r = NULL;
    st_error err;
    assert_int_equal(store_query(s, &r, "SELECT seq, SLEEP(0.01) FROM seq_1_to_100000", 0, NULL,
                                 &err), 0);
    flag = 1;
    const char *const *row;
    int nc, rc;
    while ((rc = store_next(s, r, &row, &nc, &err)) == 1) {}
    assert_int_equal(rc, ST_EINTR);
    assert_non_null(strstr(err.msg, "interrupted"));
    store_reader_close(s, r);
    store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_are_bound_safely),
        cmocka_unit_test(test_canonical_text_per_kind),
        cmocka_unit_test(test_float_spelling),
        cmocka_unit_test(test_zero_dates),
        cmocka_unit_test(test_apply_counts_and_refused_key),
        cmocka_unit_test(test_reader_closed_half_way_and_socket),
        cmocka_unit_test(test_wrong_password_not_echoed),
        cmocka_unit_test(test_fence),
        cmocka_unit_test(test_session_limits_on_mariadb),
        cmocka_unit_test(test_side_query_refused_while_streaming),
        cmocka_unit_test(test_streamed_read_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
