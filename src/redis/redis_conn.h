/*
 * redis — the one place that turns a `redis://` URL into a connected
 * hiredis context. The state, lock and queue backends all talk to Redis;
 * they share this so a URL means the same thing everywhere and a password
 * is masked the same way in every message.
 *
 * URL: redis://[[user]:password@]host[:port][/db]  (port 6379, db 0 by default;
 * `redis://password@host` is accepted as a password without user).
 * `shown` is the URL with any credentials replaced by `***`: the only form
 * that may appear in logs, errors or output.
 */
#ifndef ST_REDIS_CONN_H
#define ST_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "../error/st_error.h"

typedef struct redis_url {
    char host[256];
    int port;
    int db;
    char user[128];
    char password[256];
    char shown[400];   /* the URL with credentials masked, safe to print */
} redis_url;

/* Parses `url`. ST_EINVAL "bad Redis URL: <why>" (why: not a redis:// URL,
 * no host, bad port, bad database number). */
int redis_url_parse(redis_url *out, const char *url, st_error *err);

/* Connects with a 5 s connect and command timeout, authenticates, selects
 * the database and, if client_name is not NULL, names the connection
 * (CLIENT SETNAME). ST_EUNAVAIL "cannot connect: <why>" / "auth: <why>" /
 * "select: <why>"; the caller prefixes its own context. *out is NULL on
 * failure. */
int redis_conn_open(redisContext **out, const redis_url *u, const char *client_name,
                    st_error *err);

/* For a connection kept between calls, before using it: if it has been
 * idle for more than REDIS_IDLE_CHECK_MS (since *last_used_ms), PING it;
 * one that the server closed meanwhile (a restart, a failover, a stall that
 * ended in a timeout) is freed and *c set to NULL, so the caller connects
 * afresh instead of failing its next command. Updates *last_used_ms. */
#define REDIS_IDLE_CHECK_MS 1000
void redis_conn_check_idle(redisContext **c, int64_t *last_used_ms);

#endif
