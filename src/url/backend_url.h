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
} burl_kind;

typedef struct backend_url {
    burl_kind kind;
    bool tls;            /* rediss:// */
    char host[256];      /* redis: name or address, IPv6 without brackets */
    int port;            /* redis */
    int db;              /* redis */
    char user[128];      /* redis: decoded; "" when none */
    char password[256];  /* redis: decoded; SECRET, never print; "" when none */
    char path[1024];     /* sqlite: the database file */
} backend_url;

/* Parses `text` into *out (zeroed first). ST_EINVAL with a message that
 * never quotes the text (it may hold a password): "unsupported state URL
 * (expected sqlite:PATH or redis://HOST:PORT/DB)", "bad SQLite URL: <why>"
 * or "bad Redis URL: <why>" (no host, bad port, bad database number, user or
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
