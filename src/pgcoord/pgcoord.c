/*
 * pgcoord — connecting to synctool's PostgreSQL database and keeping its
 * schema at this build's version (see pgcoord.h).
 *
 * The usual open is two round trips: set search_path, read the version.
 * Only a database that is new or older than this build takes the slow way:
 * one transaction holding an advisory lock named after the schema, which
 * creates the schema if absent, the version table, and runs each missing
 * step of pgcoord_schema.c in order. Two processes opening a fresh
 * database at once therefore migrate it once; the second finds it done.
 */
#include "pgcoord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGC_KEYS 24

int pgc_lost(const PGconn *c) { return c == NULL || PQstatus(c) != CONNECTION_OK; }

/* The server is going away or refusing sessions, whatever the socket says
 * yet: class 08 (connection exception) and 57P (admin/crash shutdown,
 * cannot connect now, database dropped). */
static bool server_away(const PGresult *r) {
    const char *st = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return st != NULL && (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0);
}

int pgc_fail(PGconn *c, PGresult *r, const char *what, st_error *err) {
    const char *m = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c);
    char msg[400];
    snprintf(msg, sizeof msg, "%s", m != NULL && m[0] ? m : "no reason given");
    msg[strcspn(msg, "\n")] = '\0';
    int code = pgc_lost(c) || server_away(r) ? ST_EUNAVAIL : ST_ERR;
    PQclear(r);
    return st_error_set(err, code, "%s: %s", what, msg);
}

int pgc_exec(PGconn *c, const char *sql, st_error *err) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgc_fail(c, r, "state database", err);
    PQclear(r);
    return ST_OK;
}

static void put(const char **k, const char **v, int *n, const char *key, const char *val) {
    if (val == NULL || val[0] == '\0' || *n >= PGC_KEYS - 1) return;
    k[*n] = key;
    v[*n] = val;
    (*n)++;
}

static bool has_param(const backend_url *u, const char *key) {
    for (int i = 0; i < u->nparams; i++)
        if (strcmp(u->param_key[i], key) == 0) return true;
    return false;
}

/* Server NOTICEs ("relation already exists, skipping") are not for users. */
static void quiet(void *arg, const char *msg) { (void)arg, (void)msg; }

static PGconn *open_conn(const backend_url *u, const char *app) {
    const char *k[PGC_KEYS], *v[PGC_KEYS];
    char port[16];
    int n = 0;
    snprintf(port, sizeof port, "%d", u->port);
    put(k, v, &n, "host", u->host);
    put(k, v, &n, "port", port);
    put(k, v, &n, "dbname", u->dbname);
    put(k, v, &n, "user", u->user);
    put(k, v, &n, "password", u->password);
    for (int i = 0; i < u->nparams; i++) put(k, v, &n, u->param_key[i], u->param_val[i]);
    if (!has_param(u, "connect_timeout")) put(k, v, &n, "connect_timeout", "10");
    if (!has_param(u, "application_name")) put(k, v, &n, "application_name", app);
    put(k, v, &n, "client_encoding", "UTF8");
    k[n] = v[n] = NULL;
    PGconn *c = PQconnectdbParams(k, v, 0);
    if (c != NULL) PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

/* One row, one int column; -1 on an error (r cleared either way). */
static int int_result(PGresult *r) {
    int v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
                ? atoi(PQgetvalue(r, 0, 0))
                : -1;
    PQclear(r);
    return v;
}

static int set_search_path(PGconn *c, const backend_url *u, st_error *err) {
    const char *p[1] = {u->schema};
    PGresult *r = PQexecParams(c, "SELECT set_config('search_path', quote_ident($1), false)", 1,
                               NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pgc_fail(c, r, "state database", err);
    PQclear(r);
    return ST_OK;
}

static int run_step(PGconn *c, int v, st_error *err) {
    for (const char *const *const *list = pgc_schema_steps[v - 1]; *list; list++)
        for (const char *const *sql = *list; *sql; sql++)
            if (pgc_exec(c, *sql, err) != ST_OK) return st_error_wrap(err, "schema version %d", v);
    char ins[96];
    snprintf(ins, sizeof ins, "INSERT INTO synctool_schema(version) VALUES (%d)", v);
    return pgc_exec(c, ins, err);
}

static int create_schema(PGconn *c, const backend_url *u, st_error *err) {
    const char *p[1] = {u->schema};
    PGresult *r = PQexecParams(c, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", 1, NULL,
                               p, NULL, NULL, 0);
    int have = int_result(r);
    if (have < 0) return pgc_fail(c, NULL, "state database", err);
    if (have > 0) return ST_OK;
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA \"%s\"", u->schema);   /* a plain identifier */
    return pgc_exec(c, sql, err);
}

/* Inside the migration transaction: lock, schema, version table, steps. */
static int migrate_locked(PGconn *c, const backend_url *u, int *version, st_error *err) {
    char key[128];
    snprintf(key, sizeof key, "synctool-schema:%s", u->schema);
    const char *p[1] = {key};
    PGresult *r = PQexecParams(c, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, NULL, p, NULL,
                               NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) return pgc_fail(c, r, "state database", err);
    PQclear(r);
    if (create_schema(c, u, err) != ST_OK) return err->code;
    if (pgc_exec(c, "CREATE TABLE IF NOT EXISTS synctool_schema (version int PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL DEFAULT clock_timestamp())", err) != ST_OK)
        return err->code;
    int found = int_result(PQexec(c, "SELECT coalesce(max(version), 0) FROM synctool_schema"));
    if (found < 0) return pgc_fail(c, NULL, "state database", err);
    *version = found;
    if (found > PGC_SCHEMA_VERSION)
        return st_error_set(err, ST_EINVAL,
                            "the state database's schema \"%s\" is at version %d, newer than "
                            "this synctool understands (%d): upgrade synctool on this host",
                            u->schema, found, PGC_SCHEMA_VERSION);
    for (int v = found + 1; v <= PGC_SCHEMA_VERSION; v++)
        if (run_step(c, v, err) != ST_OK) return err->code;
    return ST_OK;
}

int pgc_ensure_schema(PGconn *c, const backend_url *u, int *version, st_error *err) {
    if (set_search_path(c, u, err) != ST_OK) return err->code;
    int fast = int_result(PQexec(c, "SELECT max(version) FROM synctool_schema"));
    if (fast == PGC_SCHEMA_VERSION) {
        *version = fast;
        return ST_OK;
    }
    if (pgc_exec(c, "BEGIN", err) != ST_OK) return err->code;
    int rc = migrate_locked(c, u, version, err);
    st_error ignored;
    if (pgc_exec(c, rc == ST_OK ? "COMMIT" : "ROLLBACK", rc == ST_OK ? err : &ignored) != ST_OK &&
        rc == ST_OK)
        rc = err->code;
    return rc;
}

int pgc_connect(const backend_url *u, const char *app, PGconn **out, st_error *err) {
    *out = NULL;
    char shown[600];
    PGconn *c = open_conn(u, app);
    if (pgc_lost(c)) {
        const char *m = c != NULL ? PQerrorMessage(c) : "out of memory";
        char why[400];
        snprintf(why, sizeof why, "%s", m[0] ? m : "no reason given");
        why[strcspn(why, "\n")] = '\0';
        st_error_set(err, ST_EUNAVAIL, "cannot reach the state database %s: %s",
                     burl_redact(u, shown, sizeof shown), why);
        PQfinish(c);
        return ST_EUNAVAIL;
    }
    int version = 0;
    if (pgc_ensure_schema(c, u, &version, err) != ST_OK) {
        PQfinish(c);
        return err->code;
    }
    *out = c;
    return ST_OK;
}
