/*
 * test_pgcoord — synctool's PostgreSQL database (src/pgcoord) against the
 * harness's server (SYNCTOOL_TEST_PG_*): a fresh schema is created at this
 * build's version, a second open takes the fast way and finds it, a schema
 * newer than the build is refused with a message saying so, and an
 * unreachable server is ST_EUNAVAIL with the redacted URL (never the
 * password) in the message.
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

#include "../../src/pgcoord/pgcoord.h"
#include "support/pg_url.h"

static void drop_schema(PGconn *c, const char *schema) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", schema);
    PQclear(PQexec(c, sql));
}

static void test_fresh_schema_created_then_found(void **s) {
    (void)s;
    backend_url u;
    char schema[64];
    snprintf(schema, sizeof schema, "pgc_t%d", (int)getpid());
    if (pg_test_burl(&u, schema, 0) < 0) skip();
    PGconn *c = NULL;
    st_error err;
    assert_int_equal(pgc_connect(&u, "test", &c, &err), ST_OK);
    int v = -1;
    assert_int_equal(pgc_ensure_schema(c, &u, &v, &err), ST_OK);
    assert_int_equal(v, PGC_SCHEMA_VERSION);
    PGresult *r = PQexec(c, "SELECT current_schema()");
    assert_string_equal(PQgetvalue(r, 0, 0), schema);
    PQclear(r);
    /* newer than this build: refused, naming the versions */
    assert_int_equal(pgc_exec(c, "INSERT INTO synctool_schema(version) VALUES (99)", &err), ST_OK);
    PGconn *c2 = NULL;
    assert_int_equal(pgc_connect(&u, "test", &c2, &err), ST_EINVAL);
    assert_null(c2);
    assert_non_null(strstr(err.msg, "version 99, newer than this synctool understands"));
    drop_schema(c, schema);
    PQfinish(c);
}

/* An error saying the server is shutting down (SQLSTATE 57P01), on a
 * session whose socket still looks fine, is ST_EUNAVAIL like a lost
 * connection (a scheduler waits and retries, it does not fail); any other
 * error is ST_ERR. */
static void test_shutdown_error_is_unavail(void **s) {
    (void)s;
    backend_url u;
    if (pg_test_burl(&u, "pgc_shutdown", 0) < 0) skip();
    PGconn *c = NULL;
    st_error err;
    assert_int_equal(pgc_connect(&u, "test", &c, &err), ST_OK);
    PGresult *r = PQexec(c, "DO $$BEGIN RAISE EXCEPTION 'going down' USING ERRCODE = "
                            "'admin_shutdown'; END$$");
    assert_int_equal(pgc_fail(c, r, "t", &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "going down"));
    r = PQexec(c, "SELECT 1/0");
    assert_int_equal(pgc_fail(c, r, "t", &err), ST_ERR);
    PQclear(PQexec(c, "DROP SCHEMA pgc_shutdown CASCADE"));
    PQfinish(c);
}

static void test_unreachable_is_unavail_without_password(void **s) {
    (void)s;
    backend_url u;
    if (pg_test_burl(&u, "synctool", 1) < 0) skip();
    snprintf(u.password, sizeof u.password, "hunter2-secret");
    PGconn *c = NULL;
    st_error err;
    assert_int_equal(pgc_connect(&u, "test", &c, &err), ST_EUNAVAIL);
    assert_null(c);
    assert_non_null(strstr(err.msg, "cannot reach the state database postgresql://***@"));
    assert_null(strstr(err.msg, "hunter2"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_schema_created_then_found),
        cmocka_unit_test(test_shutdown_error_is_unavail),
        cmocka_unit_test(test_unreachable_is_unavail_without_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
