/*
 * redis — the one place that turns a parsed Redis backend URL (a
 * backend_url of kind BURL_REDIS, see src/url/backend_url.h) into a
 * connected hiredis context. The state, lock and queue backends all talk to
 * Redis; they share this so AUTH, SELECT and the timeouts are the same
 * everywhere. Messages never hold the password; callers name the server
 * with burl_redact().
 */
#ifndef ST_REDIS_CONN_H
#define ST_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "../error/st_error.h"
#include "../url/backend_url.h"

/* Connects with a 5 s connect and command timeout, authenticates, selects
 * the database and, if client_name is not NULL, names the connection
 * (CLIENT SETNAME). ST_EUNAVAIL "cannot connect: <why>" / "auth: <why>" /
 * "select: <why>"; the caller prefixes its own context. *out is NULL on
 * failure. A rediss:// value: ST_ENOTIMPL (no TLS in hiredis 0.14; the
 * config refuses it first). */
int redis_conn_open(redisContext **out, const backend_url *u, const char *client_name,
                    st_error *err);

/* For a connection kept between calls, before using it: if it has been
 * idle for more than REDIS_IDLE_CHECK_MS (since *last_used_ms), PING it;
 * one that the server closed meanwhile (a restart, a failover, a stall that
 * ended in a timeout) is freed and *c set to NULL, so the caller connects
 * afresh instead of failing its next command. Updates *last_used_ms. */
#define REDIS_IDLE_CHECK_MS 1000
void redis_conn_check_idle(redisContext **c, int64_t *last_used_ms);

#endif
