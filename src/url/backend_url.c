/*
 * url — parsing, redacting and re-formatting the backend URL (see
 * backend_url.h).
 *
 * Parsing is strict and never quotes the text: a port or database that is
 * not a plain number in range is an error rather than a silent default (a
 * typo must not quietly point two fleets of workers at different
 * databases), a field too long for its buffer is an error rather than a
 * shortened credential, and since the text may hold a password no message
 * repeats it. The redactor and the secret formatter both work from the
 * parsed parts only, so what is shown and what is handed on always agree
 * with what was parsed.
 *
 * URL-scheme branches (issue 22): this is the one parser of the URL text
 * and the one redactor; every other file asks the parsed kind.
 */
#include "backend_url.h"
#include "burl_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define BURL_DEFAULT_PORT 6379
#define BURL_DB_MAX 100000

static int bad(st_error *err, const char *kind, const char *why) {
    return st_error_set(err, ST_EINVAL, "bad %s URL: %s", kind, why);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies [p, end) into dst (n bytes) decoding %XX. -1 on a bad escape or
 * when it does not fit: a credential is never silently shortened. */
int burl_pct_decode(char *dst, size_t n, const char *p, const char *end) {
    size_t o = 0;
    for (const char *q = p; q < end; q++) {
        int c = (unsigned char)*q;
        if (c == '%') {
            int hi = end - q >= 3 ? hexval((unsigned char)q[1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)q[2]) : -1;
            if (lo < 0) return -1;
            c = hi * 16 + lo;
            q += 2;
        }
        if (o + 1 >= n) return -1;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

/* A decimal in [lo, hi] spanning exactly [p, end). */
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

static int parse_sqlite(backend_url *u, const char *p, st_error *err) {
    if (strncmp(p, "///", 3) == 0) p += 2;   /* sqlite:///abs is sqlite:/abs */
    if (p[0] == '\0') return bad(err, "SQLite", "no path");
    size_t len = strlen(p);
    if (len >= sizeof u->path) return bad(err, "SQLite", "path too long");
    memcpy(u->path, p, len + 1);
    u->kind = BURL_SQLITE;
    return ST_OK;
}

/* Splits "[user]:password@" or "password@" off the authority. The userinfo
 * ends at the LAST '@': a password may hold '@', '/' or ':' as typed (or
 * %XX-encoded), and none of it may leak into the host or path. */
static int parse_credentials(backend_url *u, const char *p, const char **rest,
                             st_error *err) {
    const char *at = strrchr(p, '@');
    *rest = p;
    if (at == NULL) return ST_OK;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    int e = colon == NULL
                ? burl_pct_decode(u->password, sizeof u->password, p, at)
                : burl_pct_decode(u->user, sizeof u->user, p, colon) ||
                      burl_pct_decode(u->password, sizeof u->password, colon + 1, at);
    if (e) return bad(err, "Redis", "user or password is badly %-encoded or too long");
    *rest = at + 1;
    return ST_OK;
}

/* host, "[v6]" host, then optional ":port"; *rest after them. */
static int parse_host(backend_url *u, const char *p, const char **rest, st_error *err) {
    const char *h = p, *hend;
    if (*p == '[') {
        h = p + 1;
        hend = strchr(h, ']');
        if (hend == NULL) return bad(err, "Redis", "unclosed [ in the host");
        p = hend + 1;
        if (*p != '\0' && *p != ':' && *p != '/') return bad(err, "Redis", "bad host");
    } else {
        hend = h + strcspn(h, ":/");
        p = hend;
    }
    if (hend == h) return bad(err, "Redis", "no host");
    if ((size_t)(hend - h) >= sizeof u->host) return bad(err, "Redis", "host too long");
    for (const char *q = h; q < hend; q++)
        if (isspace((unsigned char)*q) || iscntrl((unsigned char)*q) || *q == '@')
            return bad(err, "Redis", "bad host");
    memcpy(u->host, h, (size_t)(hend - h));
    u->host[hend - h] = '\0';
    if (*p == ':') {
        const char *pend = p + 1 + strcspn(p + 1, "/");
        if (parse_number(p + 1, pend, 1, 65535, &u->port) < 0) return bad(err, "Redis", "bad port");
        p = pend;
    }
    *rest = p;
    return ST_OK;
}

static int parse_redis(backend_url *u, const char *p, bool tls, st_error *err) {
    u->port = BURL_DEFAULT_PORT;
    u->tls = tls;
    if (parse_credentials(u, p, &p, err) != ST_OK) return ST_EINVAL;
    if (parse_host(u, p, &p, err) != ST_OK) return ST_EINVAL;
    if (*p == '/' && p[1] != '\0' &&
        parse_number(p + 1, p + strlen(p), 0, BURL_DB_MAX, &u->db) < 0)
        return bad(err, "Redis", "bad database number");
    u->kind = BURL_REDIS;
    return ST_OK;
}

int burl_parse(backend_url *u, const char *text, st_error *err) {
    memset(u, 0, sizeof *u);
    int rc;
    if (text != NULL && strncmp(text, "sqlite:", 7) == 0)
        rc = parse_sqlite(u, text + 7, err);
    else if (text != NULL && strncmp(text, "redis://", 8) == 0)
        rc = parse_redis(u, text + 8, false, err);
    else if (text != NULL && strncmp(text, "rediss://", 9) == 0)
        rc = parse_redis(u, text + 9, true, err);
    else if (text != NULL && (strncmp(text, "postgresql://", 13) == 0 ||
                              strncmp(text, "postgres://", 11) == 0))
        rc = burl_parse_pg(u, text, err);
    else
        rc = st_error_set(err, ST_EINVAL, "unsupported state URL (expected sqlite:PATH, "
                          "redis://HOST:PORT/DB or postgresql://USER@HOST:PORT/DB)");
    if (rc != ST_OK) memset(u, 0, sizeof *u);   /* no half-parsed secret left behind */
    return rc;
}

/* "h" or "[v6]" for the authority. */
static const char *host_open(const backend_url *u) { return strchr(u->host, ':') ? "[" : ""; }
static const char *host_close(const backend_url *u) { return strchr(u->host, ':') ? "]" : ""; }

char *burl_redact(const backend_url *u, char *buf, size_t n) {
    if (n == 0) return buf;
    if (u->kind == BURL_SQLITE) {
        snprintf(buf, n, "sqlite:%s", u->path);
    } else if (u->kind == BURL_POSTGRES) {
        burl_redact_pg(u, buf, n);
    } else if (u->kind == BURL_REDIS) {
        /* user and password both masked: a user name is half a credential */
        const char *cred = u->user[0] || u->password[0] ? "***@" : "";
        snprintf(buf, n, "%s://%s%s%s%s:%d/%d", u->tls ? "rediss" : "redis", cred, host_open(u),
                 u->host, host_close(u), u->port, u->db);
    } else {
        snprintf(buf, n, "(no state URL)");
    }
    return buf;
}

/* Appends s %-encoding all but unreserved characters; false if full. */
bool burl_put_encoded(char *buf, size_t n, size_t *o, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        int k = plain ? snprintf(buf + *o, n - *o, "%c", *p)
                      : snprintf(buf + *o, n - *o, "%%%02X", *p);
        if (k < 0 || (size_t)k >= n - *o) return false;
        *o += (size_t)k;
    }
    return true;
}

bool burl_put_text(char *buf, size_t n, size_t *o, const char *s) {
    int k = snprintf(buf + *o, n - *o, "%s", s);
    if (k < 0 || (size_t)k >= n - *o) return false;
    *o += (size_t)k;
    return true;
}

int burl_format_secret(const backend_url *u, char *buf, size_t n) {
    size_t o = 0;
    if (n == 0) return -1;
    buf[0] = '\0';
    if (u->kind == BURL_SQLITE) return burl_put_text(buf, n, &o, "sqlite:") &&
                                       burl_put_text(buf, n, &o, u->path) ? 0 : -1;
    if (u->kind == BURL_POSTGRES) return burl_format_pg(u, buf, n);
    if (u->kind != BURL_REDIS) return 0;
    char tail[400];
    snprintf(tail, sizeof tail, "%s%s%s:%d/%d", host_open(u), u->host, host_close(u), u->port,
             u->db);
    bool ok = burl_put_text(buf, n, &o, u->tls ? "rediss://" : "redis://");
    if (ok && (u->user[0] || u->password[0]))
        ok = burl_put_encoded(buf, n, &o, u->user) && burl_put_text(buf, n, &o, ":") &&
             burl_put_encoded(buf, n, &o, u->password) && burl_put_text(buf, n, &o, "@");
    ok = ok && burl_put_text(buf, n, &o, tail);
    if (!ok) buf[0] = '\0';
    return ok ? 0 : -1;
}

bool burl_equal(const backend_url *a, const backend_url *b) {
    if (a->nparams != b->nparams) return false;
    for (int i = 0; i < a->nparams; i++)
        if (strcmp(a->param_key[i], b->param_key[i]) || strcmp(a->param_val[i], b->param_val[i]))
            return false;
    return a->kind == b->kind && a->tls == b->tls && a->port == b->port && a->db == b->db &&
           strcmp(a->host, b->host) == 0 && strcmp(a->user, b->user) == 0 &&
           strcmp(a->password, b->password) == 0 && strcmp(a->path, b->path) == 0 &&
           strcmp(a->dbname, b->dbname) == 0 && strcmp(a->schema, b->schema) == 0;
}

bool burl_distributed(const backend_url *u) {
    return u != NULL && (u->kind == BURL_REDIS || u->kind == BURL_POSTGRES);
}
