/*
 * pgc_call — statements with a deadline on synctool's PostgreSQL database
 * (see pgc_call.h). Send with PQsendQueryParams, then poll(2) the socket
 * for what is left of the deadline, PQconsumeInput, until PQisBusy is
 * false; collect every result (the last one counts). Anything that looks
 * like a lost connection (libpq says so, or the deadline passed) drops
 * the connection so nothing half-read is ever reused; one found dead
 * before a call (its socket says so) is replaced before the call.
 */
#include "pgc_call.h"
#include "pgcoord.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pgc_link_init(pgc_link *l, const backend_url *u, const char *app, const char *what) {
    memset(l, 0, sizeof *l);
    l->u = *u;
    burl_redact(u, l->shown, sizeof l->shown);
    snprintf(l->app, sizeof l->app, "%s", app);
    l->what = what;
}

void pgc_link_drop(pgc_link *l) {
    if (l->c != NULL) PQfinish(l->c);
    l->c = NULL;
}

/* A connection that sat idle while the server restarted has a FATAL
 * message or an end of file waiting on its socket: reading what is there
 * finds out without a round trip, so a restart between two calls costs no
 * failed call (notifications read here stay queued for PQnotifies). */
static bool link_alive(pgc_link *l) {
    if (l->c == NULL || PQstatus(l->c) != CONNECTION_OK) return false;
    struct pollfd p = {.fd = PQsocket(l->c), .events = POLLIN};
    if (poll(&p, 1, 0) > 0 && PQconsumeInput(l->c) == 0) return false;
    return PQstatus(l->c) == CONNECTION_OK;
}

int pgc_link_ready(pgc_link *l, st_error *err) {
    if (link_alive(l)) return ST_OK;
    pgc_link_drop(l);
    int rc = pgc_connect(&l->u, l->app, &l->c, err);
    if (rc != ST_OK) return st_error_wrap(err, "%s", l->what);
    if (l->setup != NULL && pgc_exec(l->c, l->setup, err) != ST_OK) {
        pgc_link_drop(l);
        return st_error_wrap(err, "%s %s", l->what, l->shown);
    }
    return ST_OK;
}

static int lost(pgc_link *l, const char *why, st_error *err) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s", why && why[0] ? why : "connection lost");
    msg[strcspn(msg, "\n")] = '\0';
    pgc_link_drop(l);
    return st_error_set(err, ST_EUNAVAIL, "%s %s unreachable: %s", l->what, l->shown, msg);
}

/* Waits until the answer is complete or the deadline passes; -1 with why
 * set when the connection is lost or the deadline passed. */
static int wait_answer(PGconn *c, int64_t deadline, char *why, size_t n) {
    for (;;) {
        int f = PQflush(c);
        if (f < 0) return snprintf(why, n, "%s", PQerrorMessage(c)), -1;
        if (f == 0 && !PQisBusy(c)) return 0;
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return snprintf(why, n, "no answer within the deadline (server stalled?)"), -1;
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN | (f > 0 ? POLLOUT : 0)};
        int k = poll(&p, 1, (int)left);
        if (k < 0 && errno != EINTR) return snprintf(why, n, "%s", strerror(errno)), -1;
        if (k > 0 && PQconsumeInput(c) == 0) return snprintf(why, n, "%s", PQerrorMessage(c)), -1;
    }
}

int pgc_query_on(PGconn *c, const char *sql, int n, const char *const *params, int timeout_ms,
                 PGresult **out, char *why, size_t whyn) {
    *out = NULL;
    if (!PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0)) {
        snprintf(why, whyn, "%s", PQerrorMessage(c));
        return -1;
    }
    if (wait_answer(c, mono_ms() + timeout_ms, why, whyn) < 0) return -1;
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(c)) != NULL) {
        PQclear(last);
        last = r;
    }
    ExecStatusType s = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK && (pgc_lost(c) || last == NULL)) {
        snprintf(why, whyn, "%s", last ? PQresultErrorMessage(last) : PQerrorMessage(c));
        PQclear(last);
        return -1;
    }
    *out = last;
    return 0;
}

int pgc_call(pgc_link *l, const char *sql, int n, const char *const *params, int timeout_ms,
             PGresult **out, st_error *err) {
    *out = NULL;
    int rc = pgc_link_ready(l, err);
    if (rc != ST_OK) return rc;
    char why[300];
    PGresult *last = NULL;
    if (pgc_query_on(l->c, sql, n, params, timeout_ms, &last, why, sizeof why) < 0)
        return lost(l, why, err);
    ExecStatusType s = PQresultStatus(last);
    if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
        *out = last;
        return ST_OK;
    }
    char what[300];
    snprintf(what, sizeof what, "%s %s", l->what, l->shown);
    rc = pgc_fail(l->c, last, what, err);
    if (rc == ST_EUNAVAIL) pgc_link_drop(l);   /* a shutdown under way: reconnect later */
    return rc;
}

int64_t pgc_int(const PGresult *r, int row, int col) {
    if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}
