/*
 * http — `synctool serve` and `scheduler --http`: the JSON API under
 * /api/v1/, /healthz, /readyz and Prometheus /metrics (DESIGN §6), on
 * libmicrohttpd.
 *
 * http_server_start() binds ADDR:PORT and answers, one libmicrohttpd thread
 * per connection (bounded), until http_server_stop(). Every request re-reads the config
 * directory (a changed or broken config shows at once; a broken one keeps
 * the last valid config for the API and makes /readyz answer 503) and reads
 * the state (SQLite or Redis) named by it, so one `serve` shows a whole
 * distributed deployment.
 *
 * Security: POST endpoints need `Authorization: Bearer <token>` with the
 * token given in opts (from $SYNCTOOL_API_TOKEN), compared in constant time;
 * without a token they answer 403. Reads are open on a loopback listener
 * (to requests whose Host names it: http_host_allowed) and need the token on
 * any other. Starting on a non-loopback address without a token, or with a
 * token over HTTP_TOKEN_MAX bytes, is refused (ST_EINVAL).
 */
#ifndef ST_HTTP_H
#define ST_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"

#define HTTP_DEFAULT_LISTEN "127.0.0.1:8420"

/* What an embedding process (the scheduler) reports about itself for
 * /metrics. Written by its loop, read by the server thread: C11 atomics,
 * each read and written whole. NULL when serving alone. */
typedef struct http_process_stats {
    _Atomic double last_tick_seconds;   /* duration of the last scheduler tick */
    _Atomic int64_t ticks;              /* ticks done */
    atomic_int leader;                  /* 1 while this scheduler leads */
} http_process_stats;

typedef struct http_opts {
    const char *listen;        /* "ADDR:PORT"; NULL = HTTP_DEFAULT_LISTEN */
    const char *config_dir;    /* the --config-dir */
    const char *token;         /* NULL or "" = no token: POST endpoints answer 403 */
    http_process_stats *proc;  /* NULL when serving alone */
    unsigned max_connections;  /* 0 = HTTP_DEFAULT_CONNECTIONS (one thread each) */
    unsigned per_ip;           /* connections per client address; 0 = HTTP_DEFAULT_PER_IP */
    unsigned timeout_s;        /* idle connection timeout; 0 = 10 */
    unsigned deadline_s;       /* a request's headers and body must arrive within
                                * this from its first byte; 0 = 10 */
    const char *allowed_hosts; /* extra Host names accepted on a loopback
                                * listener, comma-separated; NULL = $SYNCTOOL_API_HOSTS */
} http_opts;

#define HTTP_DEFAULT_CONNECTIONS 256
#define HTTP_DEFAULT_PER_IP 32
/* Tokens are kept whole at any length up to this; a longer one is refused
 * at start (ST_EINVAL: the CLI exits 2). */
#define HTTP_TOKEN_MAX 16384

typedef struct http_server http_server;

/* Parses "ADDR:PORT" (IPv4, or "[v6]:PORT"). Fills *loopback. 0 or ST_EINVAL
 * with a message naming the value. */
int http_listen_parse(const char *listen, char *addr, size_t addrlen, uint16_t *port,
                      bool *loopback, st_error *err);

/* Binds and starts answering. ST_EINVAL for a bad address or a non-loopback
 * address without a token; ST_EUNAVAIL if the port cannot be bound. */
int http_server_start(http_server **out, const http_opts *opts, st_error *err);

/* The port actually bound (useful with port 0). */
uint16_t http_server_port(const http_server *s);

/* Stops answering and frees everything. NULL is a no-op. */
void http_server_stop(http_server *s);

/* Whether a Host header names a loopback listener on listen_addr: localhost,
 * 127.0.0.1, [::1], the address itself or one of `extra` (NULL-terminated),
 * case-insensitive, any port. NULL (no Host header) is allowed. */
bool http_host_allowed(const char *host, const char *listen_addr, char *const *extra);

/* Constant-time comparison of a presented token with the configured one:
 * true only if both are non-empty and equal. */
bool http_token_equal(const char *presented, size_t presented_len, const char *token);

#endif
