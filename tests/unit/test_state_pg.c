/*
 * test_state_pg — the shared state behaviour cases (state_cases.h) against
 * the harness's PostgreSQL (SYNCTOOL_TEST_PG_*, set by scripts/with-servers),
 * each case in a fresh schema (dropped before the case, created by the
 * first open as in production). Plus what only PostgreSQL has: the schema's
 * tables, a lost connection re-made by the next call, password masking.
 *
 * Corruption: the columns are typed, so the corrupt helper first loosens
 * the column to text (as a person altering the table could) and then
 * writes the raw value; the decoder must report it like the other backends.
 */
#include "state_cases.h"

#include "../../src/pgcoord/pgcoord.h"
#include "support/pg_url.h"

static char g_schema[64];
static backend_url g_url;

/* A plain connection in the test schema (created if absent). */
static PGconn *raw_connect(void) {
    PGconn *c = NULL;
    st_error err;
    if (pgc_connect(&g_url, "test", &c, &err) != ST_OK) fail_msg("raw connect: %s", err.msg);
    return c;
}

static void raw_exec(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static void pg_wipe(void) {
    PGconn *c = raw_connect();
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", g_schema);
    raw_exec(c, sql);
    PQfinish(c);
}

static int pg_open_test(state **out, st_error *err) { return state_open(out, &g_url, err); }

static void pg_corrupt(const char *p, const char *s, const char *field, const char *raw) {
    PGconn *c = raw_connect();
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE state_records ALTER COLUMN %s TYPE text", field);
    raw_exec(c, sql);
    snprintf(sql, sizeof sql, "UPDATE state_records SET %s = $3 WHERE pipeline = $1 AND"
             " strategy = $2", field);
    const char *v[3] = {p, s, raw};
    PGresult *r = PQexecParams(c, sql, 3, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    assert_string_equal(PQcmdTuples(r), "1");
    PQclear(r);
    PQfinish(c);
}

static const state_test_backend pg_backend = {"postgresql", pg_wipe, pg_open_test, pg_corrupt};

/* --- PostgreSQL only --- */

static void test_tables_and_name(void **ctx) {
    state *st = *ctx;
    assert_string_equal(state_backend_name(st), "postgresql");
    finish(st, "p", "s", 1, STATE_FAILED, T0, T0, "", "boom");
    PGconn *c = raw_connect();
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM state_history),"
                            " (SELECT count(*) FROM state_records),"
                            " (SELECT max(version) FROM synctool_schema)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    assert_string_equal(PQgetvalue(r, 0, 1), "1");
    assert_int_equal(atoi(PQgetvalue(r, 0, 2)), PGC_SCHEMA_VERSION);
    PQclear(r);
    PQfinish(c);
}

/* The server ends our session (as a restart would): the call that meets it
 * says ST_EUNAVAIL naming the URL, the next one connects again. */
static void test_lost_connection_reconnects(void **ctx) {
    state *st = *ctx;
    assert_int_equal(state_mark_pending(st, "p", "s", 1, T0, NULL), ST_OK);
    PGconn *c = raw_connect();
    raw_exec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
                " application_name = 'synctool-state' AND pid <> pg_backend_pid()");
    PQfinish(c);
    state_record r;
    st_error err;
    int rc = state_get(st, "p", "s", &r, &err);
    if (rc != ST_OK) {
        assert_int_equal(rc, ST_EUNAVAIL);
        assert_non_null(strstr(err.msg, "state postgresql postgresql://"));
        rc = state_get(st, "p", "s", &r, &err);
    }
    assert_int_equal(rc, ST_OK);
    assert_int_equal(r.status, STATE_PENDING);
}

/* A server that answers nothing (here: the call waits behind a table lock
 * another session holds, as it would behind a stopped server) is given up
 * after PGC_CALL_TIMEOUT_MS: ST_EUNAVAIL naming the URL, never a hang; once
 * the lock is gone the next call connects again and works. */
static void test_stalled_call_gives_up(void **ctx) {
    state *st = *ctx;
    assert_int_equal(state_mark_pending(st, "p", "s", 1, T0, NULL), ST_OK);
    PGconn *c = raw_connect();
    raw_exec(c, "BEGIN");
    raw_exec(c, "LOCK TABLE state_records IN ACCESS EXCLUSIVE MODE");
    state_record r;
    st_error err;
    assert_int_equal(state_get(st, "p", "s", &r, &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "no answer within the deadline"));
    assert_non_null(strstr(err.msg, "state postgresql postgresql://"));
    raw_exec(c, "ROLLBACK");
    PQfinish(c);
    assert_int_equal(state_get(st, "p", "s", &r, &err), ST_OK);
    assert_int_equal(r.status, STATE_PENDING);
}

static void test_unreachable_hides_password(void **ctx) {
    (void)ctx;
    backend_url u;
    if (pg_test_burl(&u, "synctool", 1) < 0) skip();
    snprintf(u.password, sizeof u.password, "hunter2-secret");
    state *st;
    st_error err;
    assert_int_equal(state_open(&st, &u, &err), ST_EUNAVAIL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "postgresql://***@"));
    assert_null(strstr(err.msg, "hunter2"));
}

/* More than two listing pages, streamed and listed in strcmp order. */
static int count_each(void *ud, const state_record *r) {
    (void)r;
    (*(size_t *)ud)++;
    return 0;
}

static void test_big_list_pages(void **ctx) {
    state *st = *ctx;
    enum { N = 2500 };
    state_record *recs = calloc(N, sizeof *recs);
    for (int i = 0; i < N; i++) {
        recs[i] = seeded("", "");
        snprintf(recs[i].pipeline, sizeof recs[i].pipeline, "%c%05d", i % 2 ? 'P' : 'p', i);
        snprintf(recs[i].strategy, sizeof recs[i].strategy, "full");
        recs[i].run_id = i + 1;
    }
    assert_int_equal(state_put_many(st, recs, N, NULL), ST_OK);
    size_t seen = 0;
    assert_int_equal(state_list_each(st, count_each, &seen, NULL), ST_OK);
    assert_int_equal(seen, N);
    state_record *all;
    size_t n;
    assert_int_equal(state_list(st, &all, &n, NULL), ST_OK);
    assert_int_equal(n, N);
    for (size_t i = 1; i < n; i++) assert_true(strcmp(all[i - 1].pipeline, all[i].pipeline) < 0);
    free(all);
    int64_t id;
    assert_int_equal(state_new_run_id(st, &id, NULL), ST_OK);
    assert_true(id > N); /* the sequence stays ahead of imported ids */
    free(recs);
}

int main(void) {
    snprintf(g_schema, sizeof g_schema, "state_t%d", (int)getpid());
    if (pg_test_burl(&g_url, g_schema, 0) < 0) {
        fprintf(stderr, "test_state_pg: SYNCTOOL_TEST_PG_* is not set; run through "
                        "scripts/with-servers (make unit / make test)\n");
        return 1;
    }
    TB = &pg_backend;
    const struct CMUnitTest own[] = {
        STATE_CASE(test_tables_and_name),
        STATE_CASE(test_lost_connection_reconnects),
        STATE_CASE(test_stalled_call_gives_up),
        cmocka_unit_test(test_unreachable_hides_password),
        STATE_CASE(test_big_list_pages),
    };
    int failed = cmocka_run_group_tests_name("state_pg", state_cases, NULL, NULL);
    failed += cmocka_run_group_tests_name("state_pg_own", own, NULL, NULL);
    pg_wipe();
    return failed;
}
