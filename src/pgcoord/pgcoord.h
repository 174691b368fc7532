/*
 * pgcoord — synctool's own database in PostgreSQL (issue 24): the
 * connection to a `state.url` of kind BURL_POSTGRES and the schema that
 * the PostgreSQL state, lock and queue backends share.
 *
 * pgc_connect() opens a libpq connection from the parsed URL (keyword
 * arrays, never a conninfo string; the password never leaves the
 * backend_url), creates the URL's schema if it is absent, points
 * search_path at it, and brings the schema to PGC_SCHEMA_VERSION under a
 * transaction-scoped advisory lock (two processes starting at once migrate
 * once). A database whose schema is newer than this build is refused with
 * a message saying so. Every backend then uses unqualified table names.
 *
 * Time on this database is the server's (clock_timestamp()), never the
 * host's: leases and heartbeats are judged there.
 */
#ifndef ST_PGCOORD_H
#define ST_PGCOORD_H

#include <libpq-fe.h>

#include "../error/st_error.h"
#include "../url/backend_url.h"

/* The version this build creates and understands. Bump it and add a step
 * to pgcoord_schema.c for every change of the tables. */
#define PGC_SCHEMA_VERSION 1

/* Connects (application_name `app`, e.g. "synctool-state"), ensures the
 * schema. ST_EUNAVAIL when the server cannot be reached (the redacted URL
 * and libpq's reason in the message), ST_EINVAL when the schema is newer
 * than this build. *out is NULL on failure. */
int pgc_connect(const backend_url *u, const char *app, PGconn **out, st_error *err);

/* Only the schema step, on an open connection (for `synctool state init`):
 * *version is the version found before (0: created now). */
int pgc_ensure_schema(PGconn *c, const backend_url *u, int *version, st_error *err);

/* Runs one statement without parameters that returns no rows. */
int pgc_exec(PGconn *c, const char *sql, st_error *err);

/* Sets err from a failed result (NULL: from the connection): ST_EUNAVAIL
 * when the connection is gone or the server says it is going away or
 * refusing sessions (SQLSTATE class 08 or 57P: a shutdown under way), else
 * ST_ERR; `what` prefixes the message.
 * Clears r. Returns the code. */
int pgc_fail(PGconn *c, PGresult *r, const char *what, st_error *err);

/* The connection is broken (server gone, restarted): the caller reconnects. */
int pgc_lost(const PGconn *c);

/* The DDL of each schema version, in order (pgcoord_schema.c): steps[v-1]
 * brings version v-1 to v; a step is a NULL-terminated list of
 * NULL-terminated statement lists (one list per backend). */
extern const char *const *const *const pgc_schema_steps[PGC_SCHEMA_VERSION];

#endif
