/*
 * http — `synctool serve` and `scheduler --http`: the JSON API under
 * /api/v1/, /healthz, /readyz and Prometheus /metrics (DESIGN §6), on
 * libmicrohttpd.
 *
 * http_server_start() binds ADDR:PORT and answers from libmicrohttpd's own
 * thread until http_server_stop(). Every request re-reads the config
 * directory (a changed or broken config shows at once; a broken one keeps
 * the last valid config for the API and makes /readyz answer 503) and reads
 * the state (SQLite or Redis) named by it, so one `serve` shows a whole
 * distributed deployment.
 *
 * Security: POST endpoints need `Authorization: Bearer <token>` with the
 * token given in opts (from $SYNCTOOL_API_TOKEN), compared in constant time;
 * without a token they answer 403. Reads are open on a loopback listener and
 * need the token on any other. Starting on a non-loopback address without a
 * token is refused (ST_EINVAL).
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
    unsigned max_connections;  /* 0 = 64 */
    unsigned timeout_s;        /* idle connection timeout; 0 = 10 */
} http_opts;

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

/* Constant-time comparison of a presented token with the configured one:
 * true only if both are non-empty and equal. */
bool http_token_equal(const char *presented, size_t presented_len, const char *token);

#endif
