/*
 * url — the PostgreSQL form of the backend URL (issue 24):
 *
 *   postgresql://[user[:password]@]host[:port]/dbname[?schema=S&k=v...]
 *
 * libpq is the parser (PQconninfoParse understands its own URI syntax,
 * %XX escapes, IPv6 hosts, multi-host lists), so what synctool accepts is
 * exactly what libpq would connect to. The one parameter that is ours,
 * `schema` (where synctool's tables live), is taken out of the query string
 * first; every other parameter must be a libpq keyword and is kept as a
 * (key, value) pair to be passed back to PQconnectdbParams.
 *
 * Messages never quote the text unless it is known not to hold the
 * password, and the redacted form masks user and password together.
 */
#include "burl_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define BURL_PG_DEFAULT_PORT 5432
#define BURL_PG_DEFAULT_SCHEMA "synctool"

static int bad(st_error *err, const char *why) {
    return st_error_set(err, ST_EINVAL, "bad PostgreSQL URL: %s", why);
}

static bool plain_identifier(const char *s) {
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')) return false;
    return true;
}

/* Moves `schema=...` out of the query string of text into u->schema;
 * *rest is a malloc'd copy of the URL without it. */
static int take_schema(backend_url *u, const char *text, char **rest, st_error *err) {
    snprintf(u->schema, sizeof u->schema, "%s", BURL_PG_DEFAULT_SCHEMA);
    *rest = strdup(text);
    if (*rest == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    char *q = strchr(*rest, '?');
    if (q == NULL) return ST_OK;
    char out[2048] = "", *save = NULL;
    size_t o = 0;
    for (char *kv = strtok_r(q + 1, "&", &save); kv != NULL; kv = strtok_r(NULL, "&", &save)) {
        if (strncmp(kv, "schema=", 7) == 0) {
            if (burl_pct_decode(u->schema, sizeof u->schema, kv + 7, kv + strlen(kv)) < 0 ||
                !plain_identifier(u->schema))
                return bad(err, "schema must be a plain lower-case identifier "
                                "(letters, digits, _), at most 63 characters");
            continue;
        }
        if (!burl_put_text(out, sizeof out, &o, o ? "&" : "") ||
            !burl_put_text(out, sizeof out, &o, kv))
            return bad(err, "parameters too long");
    }
    q[o ? 1 : 0] = '\0';
    if (o) strcat(q, out);   /* fits: out is no longer than what it replaces */
    return ST_OK;
}

static int set_field(char *dst, size_t n, const char *v, const char *what, st_error *err) {
    if (strlen(v) >= n) {
        char why[96];
        snprintf(why, sizeof why, "%s too long", what);
        return bad(err, why);
    }
    snprintf(dst, n, "%s", v);
    return ST_OK;
}

static int take_option(backend_url *u, const PQconninfoOption *o, st_error *err) {
    const char *k = o->keyword, *v = o->val;
    if (strcmp(k, "host") == 0) return set_field(u->host, sizeof u->host, v, "host", err);
    if (strcmp(k, "user") == 0) return set_field(u->user, sizeof u->user, v, "user", err);
    if (strcmp(k, "password") == 0)
        return set_field(u->password, sizeof u->password, v, "password", err);
    if (strcmp(k, "dbname") == 0) return set_field(u->dbname, sizeof u->dbname, v, "dbname", err);
    if (strcmp(k, "port") == 0) {
        char *end = NULL;
        long p = strtol(v, &end, 10);
        if (end == v || *end != '\0' || p < 1 || p > 65535) return bad(err, "bad port");
        u->port = (int)p;
        return ST_OK;
    }
    if (u->nparams >= BURL_PG_PARAMS) return bad(err, "too many parameters");
    if (strlen(k) >= sizeof u->param_key[0] || strlen(v) >= sizeof u->param_val[0])
        return bad(err, "a parameter is too long");
    snprintf(u->param_key[u->nparams], sizeof u->param_key[0], "%s", k);
    snprintf(u->param_val[u->nparams], sizeof u->param_val[0], "%s", v);
    u->nparams++;
    return ST_OK;
}

/* libpq's message, unless it might quote a credential. */
static int libpq_refused(const char *text, char *msg, st_error *err) {
    char why[300] = "libpq cannot parse it (check the host, port, %-encoding and parameters)";
    const char *at = strrchr(text, '@');
    if (msg != NULL && at == NULL) {
        snprintf(why, sizeof why, "%s", msg);
        why[strcspn(why, "\n")] = '\0';
    }
    PQfreemem(msg);
    return bad(err, why);
}

int burl_parse_pg(backend_url *u, const char *text, st_error *err) {
    char *rest = NULL, *msg = NULL;
    int rc = take_schema(u, text, &rest, err);
    PQconninfoOption *opts = rc == ST_OK ? PQconninfoParse(rest, &msg) : NULL;
    if (rc == ST_OK && opts == NULL) rc = libpq_refused(text, msg, err);
    u->port = BURL_PG_DEFAULT_PORT;
    for (PQconninfoOption *o = opts; rc == ST_OK && o != NULL && o->keyword != NULL; o++)
        if (o->val != NULL && o->val[0] != '\0') rc = take_option(u, o, err);
    if (opts != NULL) {
        for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
            if (o->val != NULL) memset(o->val, 0, strlen(o->val));
        PQconninfoFree(opts);
    }
    if (rest != NULL) memset(rest, 0, strlen(rest));
    free(rest);
    if (rc == ST_OK) u->kind = BURL_POSTGRES;
    return rc;
}

/* "&k=v" pairs after ?schema=S, values %-encoded. */
static bool put_query(const backend_url *u, char *buf, size_t n, size_t *o) {
    bool ok = burl_put_text(buf, n, o, "?schema=") && burl_put_text(buf, n, o, u->schema);
    for (int i = 0; ok && i < u->nparams; i++)
        ok = burl_put_text(buf, n, o, "&") && burl_put_text(buf, n, o, u->param_key[i]) &&
             burl_put_text(buf, n, o, "=") && burl_put_encoded(buf, n, o, u->param_val[i]);
    return ok;
}

/* host (encoded: a socket directory holds '/'), ":port", "/dbname". */
static bool put_authority_tail(const backend_url *u, char *buf, size_t n, size_t *o) {
    char port[16];
    snprintf(port, sizeof port, ":%d/", u->port);
    bool v6 = strchr(u->host, ':') != NULL;
    return burl_put_text(buf, n, o, v6 ? "[" : "") &&
           (v6 ? burl_put_text(buf, n, o, u->host) : burl_put_encoded(buf, n, o, u->host)) &&
           burl_put_text(buf, n, o, v6 ? "]" : "") && burl_put_text(buf, n, o, port) &&
           burl_put_encoded(buf, n, o, u->dbname) && put_query(u, buf, n, o);
}

void burl_redact_pg(const backend_url *u, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = '\0';
    bool cred = u->user[0] || u->password[0];
    if (!(burl_put_text(buf, n, &o, "postgresql://") &&
          burl_put_text(buf, n, &o, cred ? "***@" : "") && put_authority_tail(u, buf, n, &o)))
        snprintf(buf, n, "postgresql://(too long to show)");
}

int burl_format_pg(const backend_url *u, char *buf, size_t n) {
    size_t o = 0;
    bool ok = burl_put_text(buf, n, &o, "postgresql://");
    if (ok && (u->user[0] || u->password[0]))
        ok = burl_put_encoded(buf, n, &o, u->user) &&
             (u->password[0] == '\0' ||
              (burl_put_text(buf, n, &o, ":") && burl_put_encoded(buf, n, &o, u->password))) &&
             burl_put_text(buf, n, &o, "@");
    ok = ok && put_authority_tail(u, buf, n, &o);
    if (!ok) buf[0] = '\0';
    return ok ? 0 : -1;
}
