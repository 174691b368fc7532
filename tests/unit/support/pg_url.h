/*
 * pg_url — the harness's PostgreSQL (SYNCTOOL_TEST_PG_*, exported by
 * scripts/with-servers) as a `postgresql://` state URL with a schema of
 * its own, so each test group starts from an empty synctool database and
 * reruns never collide; pg_drop_schema removes it afterwards.
 * pg_test_burl (it fails the test it runs in) is there only when this is
 * included after <cmocka.h>; the benchmarks include it without.
 */
#ifndef ST_TEST_PG_URL_H
#define ST_TEST_PG_URL_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../../src/url/backend_url.h"

/* A fresh schema name: "<prefix>_<pid>_<n>". */
static inline void pg_test_schema(char *buf, size_t n, const char *prefix) {
    static int seq;
    snprintf(buf, n, "%s_%d_%ld_%d", prefix, (int)getpid(), (long)time(NULL) % 100000, ++seq);
}

/* URL text for `schema`; -1 (with a message) when the harness is absent. */
static inline int pg_test_url(char *buf, size_t n, const char *schema) {
    const char *h = getenv("SYNCTOOL_TEST_PG_HOST"), *p = getenv("SYNCTOOL_TEST_PG_PORT");
    const char *usr = getenv("SYNCTOOL_TEST_PG_USER"), *pw = getenv("SYNCTOOL_TEST_PG_PASSWORD");
    const char *db = getenv("SYNCTOOL_TEST_PG_DBNAME");
    if (h == NULL || p == NULL || usr == NULL || db == NULL) {
        fprintf(stderr, "SYNCTOOL_TEST_PG_* is not set: run under scripts/with-servers\n");
        return -1;
    }
    /* the harness's password is plain (no characters to %-encode) */
    snprintf(buf, n, "postgresql://%s%s%s@%s:%s/%s?schema=%s", usr, pw && pw[0] ? ":" : "",
             pw ? pw : "", h, p, db, schema);
    return 0;
}

/* The parsed URL for `schema` on the harness's server, or on `port` when it
 * is not 0 (a closed port, for the unreachable cases), with the harness's
 * password; -1 when the harness is absent. A URL that does not parse fails
 * the test. */
#ifdef fail_msg
static inline int pg_test_burl(backend_url *u, const char *schema, int port) {
    const char *h = getenv("SYNCTOOL_TEST_PG_HOST"), *p = getenv("SYNCTOOL_TEST_PG_PORT");
    const char *usr = getenv("SYNCTOOL_TEST_PG_USER"), *pw = getenv("SYNCTOOL_TEST_PG_PASSWORD");
    const char *db = getenv("SYNCTOOL_TEST_PG_DBNAME");
    if (h == NULL || p == NULL || usr == NULL || db == NULL) return -1;
    char text[1024];
    snprintf(text, sizeof text, "postgresql://%s@%s:%d/%s?schema=%s", usr, h,
             port ? port : atoi(p), db, schema);
    st_error err;
    if (burl_parse(u, text, &err) != ST_OK) fail_msg("%s: %s", text, err.msg);
    if (pw != NULL) snprintf(u->password, sizeof u->password, "%s", pw);
    return 0;
}
#endif

static inline void pg_test_quiet(void *arg, const char *msg) { (void)arg, (void)msg; }

/* A plain libpq connection to the harness's database (NULL if absent). */
static inline PGconn *pg_test_conn(void) {
    const char *ci = getenv("SYNCTOOL_TEST_PG_CONNINFO");
    if (ci == NULL) return NULL;
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, pg_test_quiet, NULL);
    return c;
}

static inline void pg_drop_schema(const char *schema) {
    PGconn *c = pg_test_conn();
    if (c == NULL) return;
    char sql[160];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

#endif
