/*
 * redis — connection set-up shared by every Redis backend (see
 * redis_conn.h); the URL itself is parsed by src/url (burl_parse).
 *
 * Connection set-up sends AUTH and SELECT as argv commands (never through a
 * format string, so a password with % or spaces is passed verbatim) and
 * never puts the password into an error message.
 *
 * URL-kind branch left here (issue 22): redis_conn_open refuses a
 * backend_url that is not of kind BURL_REDIS (a caller's mistake, named in
 * the error), and one with tls set (no TLS in this hiredis).
 */
#include "redis_conn.h"
#include "../time/st_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* Runs one argv command that must answer without an error reply. */
static int simple(redisContext *c, const char *what, int argc, const char **argv,
                  st_error *err) {
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL)
        return st_error_set(err, ST_EUNAVAIL, "%s: %s", what,
                            c->errstr[0] ? c->errstr : "connection lost");
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad) st_error_set(err, ST_EUNAVAIL, "%s: %s", what, r->str);
    freeReplyObject(r);
    return bad ? ST_EUNAVAIL : ST_OK;
}

/* A refused password is a config problem (ST_EINVAL), not an outage: a
 * process waiting for Redis to come back must not wait for it forever. */
static int authenticate(redisContext *c, const backend_url *u, st_error *err) {
    if (u->password[0] == '\0') return ST_OK;
    const char *with_user[] = {"AUTH", u->user, u->password};
    const char *password_only[] = {"AUTH", u->password};
    redisReply *r = redisCommandArgv(c, u->user[0] ? 3 : 2,
                                     u->user[0] ? with_user : password_only, NULL);
    if (r == NULL)
        return st_error_set(err, ST_EUNAVAIL, "auth: %s",
                            c->errstr[0] ? c->errstr : "connection lost");
    int refused = r->type == REDIS_REPLY_ERROR;
    if (refused)
        st_error_set(err, ST_EINVAL, "auth refused: %s (check the user and password in the "
                     "state URL)", r->str);
    freeReplyObject(r);
    return refused ? ST_EINVAL : ST_OK;
}

int redis_conn_open(redisContext **out, const backend_url *u, const char *client_name,
                    st_error *err) {
    *out = NULL;
    if (u->kind != BURL_REDIS)
        return st_error_set(err, ST_EINVAL, "not a Redis URL");
    if (u->tls)
        return st_error_set(err, ST_ENOTIMPL, "rediss:// (Redis over TLS) is not supported by "
                            "this build (hiredis 0.14 has no TLS)");
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
    if (c == NULL || c->err) {
        st_error_set(err, ST_EUNAVAIL, "cannot connect: %s", c ? c->errstr : "out of memory");
        redisFree(c);
        return ST_EUNAVAIL;
    }
    redisSetTimeout(c, tv);
    char db[16];
    snprintf(db, sizeof db, "%d", u->db);
    const char *select[] = {"SELECT", db};
    const char *setname[] = {"CLIENT", "SETNAME", client_name};
    int rc = authenticate(c, u, err);
    if (rc == ST_OK && u->db != 0) rc = simple(c, "select", 2, select, err);
    if (rc == ST_OK && client_name != NULL) rc = simple(c, "client setname", 3, setname, err);
    if (rc != ST_OK) {
        redisFree(c);
        return rc;
    }
    *out = c;
    return ST_OK;
}

void redis_conn_check_idle(redisContext **c, int64_t *last_used_ms) {
    int64_t now = st_time_mono_ms(), last = *last_used_ms;
    *last_used_ms = now;
    if (*c == NULL || now - last <= REDIS_IDLE_CHECK_MS) return;
    redisReply *r = redisCommand(*c, "PING");
    if (r != NULL) {
        freeReplyObject(r);
        return;
    }
    redisFree(*c);
    *c = NULL;
}
