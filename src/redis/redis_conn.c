/*
 * redis — URL parsing and connection set-up shared by every Redis backend
 * (see redis_conn.h).
 *
 * Parsing is strict: a port or database that is not a plain number in range
 * is an error rather than a silent default, because a typo in a state URL
 * must not quietly point two fleets of workers at different databases.
 * Connection set-up sends AUTH and SELECT as argv commands (never through a
 * format string, so a password with % or spaces is passed verbatim) and
 * never puts the password into an error message.
 */
#include "redis_conn.h"
#include "../time/st_time.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static int bad_url(st_error *err, const char *why) {
    return st_error_set(err, ST_EINVAL, "bad Redis URL: %s", why);
}

/* Copies [p, end) into dst (n bytes) decoding %XX. -1 on a bad escape or
 * when it does not fit: a credential is never silently shortened. */
static int pct_decode(char *dst, size_t n, const char *p, const char *end) {
    size_t o = 0;
    for (const char *q = p; q < end; q++) {
        int c = (unsigned char)*q;
        if (c == '%') {
            unsigned v;
            if (end - q < 3 || sscanf(q + 1, "%2x", &v) != 1 ||
                !isxdigit((unsigned char)q[1]) || !isxdigit((unsigned char)q[2]))
                return -1;
            c = (int)v;
            q += 2;
        }
        if (o + 1 >= n) return -1;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

/* Splits "[user]:password@" or "password@" off the authority. The userinfo
 * ends at the LAST '@' of the URL: a password may hold '@', '/' or ':' as
 * typed (or %XX-encoded), and none of it may leak into the host or path. */
static int parse_credentials(redis_url *u, const char *p, const char **rest,
                             st_error *err) {
    const char *at = strrchr(p, '@');
    *rest = p;
    if (at == NULL) return ST_OK;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    int bad = colon == NULL
                  ? pct_decode(u->password, sizeof u->password, p, at)
                  : pct_decode(u->user, sizeof u->user, p, colon) ||
                        pct_decode(u->password, sizeof u->password, colon + 1, at);
    if (bad) return bad_url(err, "user or password is badly %-encoded or too long");
    *rest = at + 1;
    return ST_OK;
}

/* Parses a decimal in [lo, hi] spanning exactly [p, end). */
static int parse_number(const char *p, const char *end, long lo, long hi, int *out) {
    if (p == end) return -1;
    long v = 0;
    for (const char *q = p; q < end; q++) {
        if (*q < '0' || *q > '9') return -1;
        v = v * 10 + (*q - '0');
        if (v > hi) return -1;
    }
    if (v < lo) return -1;
    *out = (int)v;
    return 0;
}

int redis_url_parse(redis_url *u, const char *url, st_error *err) {
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (url == NULL || strncmp(url, "redis://", 8) != 0) return bad_url(err, "not a redis:// URL");
    const char *p;
    if (parse_credentials(u, url + 8, &p, err) != ST_OK) return ST_EINVAL;
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon ? colon : end;
    if (hend == p) return bad_url(err, "no host");
    snprintf(u->host, sizeof u->host, "%.*s", (int)(hend - p), p);
    if (colon && parse_number(colon + 1, end, 1, 65535, &u->port) < 0)
        return bad_url(err, "bad port");
    if (slash && slash[1] && parse_number(slash + 1, slash + strlen(slash), 0, 100000, &u->db) < 0)
        return bad_url(err, "bad database number");
    snprintf(u->shown, sizeof u->shown, "redis://%s%s:%d/%d", u->password[0] ? "***@" : "",
             u->host, u->port, u->db);
    return ST_OK;
}

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
static int authenticate(redisContext *c, const redis_url *u, st_error *err) {
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

int redis_conn_open(redisContext **out, const redis_url *u, const char *client_name,
                    st_error *err) {
    *out = NULL;
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
