/*
 * pgc_call — one statement on a connection to synctool's PostgreSQL
 * database with a deadline (issue 24), for the lock, queue and state
 * backends.
 *
 * libpq's PQexec waits for the server forever: a coordination server that
 * is stopped (SIGSTOP, a VM paused) keeps the TCP connection open and
 * answers nothing, so a lock renewal or a job claim would hang the
 * scheduler or worker that asked. pgc_call sends the statement
 * asynchronously and polls the socket until its deadline; past it the
 * connection is closed and the caller gets ST_EUNAVAIL, exactly as for a
 * server that went away. The next call connects afresh (pgc_link_ready).
 * A statement the stalled server still completes later is one whose answer
 * nobody read: a lock taken that way lapses with its lease, a job claimed
 * that way is claimed again after --claim-idle, as after a crash.
 */
#ifndef ST_PGC_CALL_H
#define ST_PGC_CALL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "../error/st_error.h"
#include "../url/backend_url.h"

/* How long one statement may take before the server is presumed away. */
#define PGC_CALL_TIMEOUT_MS 5000

typedef struct pgc_link {
    PGconn *c;            /* NULL: not connected (connect on next call) */
    backend_url u;        /* credentials kept for reconnects */
    char shown[512];      /* the URL with the password masked */
    char app[64];         /* application_name */
    const char *what;     /* "lock backend", "queue": prefixes messages */
    const char *setup;    /* NULL or SQL run after every (re)connect */
} pgc_link;

/* Fills l (not connected yet). */
void pgc_link_init(pgc_link *l, const backend_url *u, const char *app, const char *what);

/* Connects if not connected. ST_EUNAVAIL naming the URL if unreachable. */
int pgc_link_ready(pgc_link *l, st_error *err);

/* Closes the connection (the next call reconnects). */
void pgc_link_drop(pgc_link *l);

/* Runs sql with n text parameters within timeout_ms. On success *out is
 * the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK; the caller PQclears
 * it). On failure *out is NULL and err is set: ST_EUNAVAIL (connection
 * lost or deadline passed: the connection is dropped) or ST_ERR (the
 * server refused the statement). */
int pgc_call(pgc_link *l, const char *sql, int n, const char *const *params, int timeout_ms,
             PGresult **out, st_error *err);

/* The deadline without the link: runs sql on c (no reconnect: a caller
 * inside a transaction must never continue it on a new session). 0 with
 * *out the last result, whatever its status (the caller PQclears it); -1
 * with why set when the connection is lost or the deadline passed (the
 * caller drops c). */
int pgc_query_on(PGconn *c, const char *sql, int n, const char *const *params, int timeout_ms,
                 PGresult **out, char *why, size_t whyn);

/* The first column of the first row as an integer (0 if none). */
int64_t pgc_int(const PGresult *r, int row, int col);

#endif
