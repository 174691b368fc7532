/*
 * url — the backend URL (`state.url`) as one typed value.
 *
 * The config parses the text once (burl_parse) into a backend_url; from
 * there on nothing looks at URL text again: state_open(), lock_open(),
 * queue_open() and redis_conn_open() take the value, and callers that need
 * the mode ask u->kind. The one redactor (burl_redact) is built from the
 * parsed parts, so a password can never reach a message through a
 * different way of splitting the string.
 *
 * Forms:
 *   sqlite:PATH                     PATH as given (the config makes it
 *                                   absolute against its directory);
 *                                   sqlite:///abs is sqlite:/abs
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://...                    the same, tls set (parsed, so
 *                                   `validate` can name it; this build
 *                                   cannot connect with TLS)
 *   postgresql://[user[:password]@]host[:port]/dbname[?schema=S&k=v...]
 *   postgres://...                  the same. libpq parses it
 *                                   (PQconninfoParse); `schema` is ours
 *                                   (default "synctool", a plain
 *                                   identifier), every other parameter is
 *                                   a libpq keyword passed through
 *                                   (sslmode, sslrootcert, connect_timeout,
 *                                   ...). Port 5432 by default.
 * host may be an IPv6 address in brackets ([::1]); port 6379 and db 0 by
 * default. The userinfo ends at the LAST '@' of the authority and user and
 * password are %XX-decoded, so a password may hold '/', '@', ':' or '%'.
 * A field that does not fit its buffer is an error, never shortened.
 */
#ifndef ST_BACKEND_URL_H
#define ST_BACKEND_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "../error/st_error.h"

typedef enum burl_kind {
    BURL_NONE = 0,   /* no URL (a zeroed value) */
    BURL_SQLITE,     /* embedded: one SQLite file on this host */
    BURL_REDIS,      /* distributed: a Redis server */
    BURL_POSTGRES,   /* distributed: a PostgreSQL database (issue 24) */
} burl_kind;

#define BURL_PG_PARAMS 12

typedef struct backend_url {
    burl_kind kind;
    bool tls;            /* rediss:// */
    char host[256];      /* redis: name or address, IPv6 without brackets */
    int port;            /* redis */
    int db;              /* redis */
    char user[128];      /* redis: decoded; "" when none */
    char password[256];  /* redis: decoded; SECRET, never print; "" when none */
    char path[1024];     /* sqlite: the database file */
    /* postgres: host, port, user and password above (port 5432 default,
     * host "" means libpq's default socket), and: */
    char dbname[256];    /* "" = libpq's default (the user name) */
    char schema[64];     /* where synctool's tables live; "synctool" */
    int nparams;         /* other libpq keywords, passed through */
    char param_key[BURL_PG_PARAMS][32];
    char param_val[BURL_PG_PARAMS][256];
} backend_url;

/* Redis or PostgreSQL: state, locks and the job queue are shared by hosts
 * (workers, a leader-elected scheduler); SQLite is one host's. */
bool burl_distributed(const backend_url *u);

/* Parses `text` into *out (zeroed first). ST_EINVAL with a message that
 * never quotes the text (it may hold a password): "unsupported state URL
 * (expected sqlite:PATH, redis://HOST:PORT/DB or
 * postgresql://USER@HOST:PORT/DB)", "bad SQLite URL: <why>",
 * "bad PostgreSQL URL: <why>" or "bad Redis URL: <why>" (no host, bad
 * port, bad database number, user or
 * password is badly %-encoded or too long, ...). */
int burl_parse(backend_url *out, const char *text, st_error *err);

/* The URL safe to print, built from the parts: sqlite:/p, redis://h:6379/0,
 * redis://X@[::1]:6379/0 where X is three asterisks standing for the whole
 * userinfo (user and password, whatever they hold). Returns buf. */
char *burl_redact(const backend_url *u, char *buf, size_t n);

/* The full URL text, password %-encoded, for handing the value to a child
 * process over a pipe (burl_parse reads it back). SECRET: never print or
 * log it. -1 when it does not fit. */
int burl_format_secret(const backend_url *u, char *buf, size_t n);

/* Same backend and credentials. */
bool burl_equal(const backend_url *a, const backend_url *b);

#endif
