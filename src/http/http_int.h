/*
 * http_int — what the files of the http module share: the server context,
 * one request, one response and the handler signature. Not a public header.
 */
#ifndef ST_HTTP_INT_H
#define ST_HTTP_INT_H

#include "http.h"

#include "../config/config.h"
#include "../json/json.h"
#include "../lock/lock.h"
#include "../state/state.h"

#include <pthread.h>

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_MAX_URI 8192            /* longer: 414, answered by us in JSON */
#define HTTP_MAX_HEADERS (32 * 1024) /* all header lines: more is 431 (JSON) */
#define HTTP_POOL_HANDLES 8          /* idle state+lock handle pairs kept */

/* One tracked connection: when its current request started, whether it is
 * complete, its socket (the deadline sweep shuts it down). Owned by the
 * server's list; freed when libmicrohttpd reports the connection closed. */
typedef struct http_track {
    struct http_track *prev, *next;
    int fd;
    int64_t started_ms;        /* monotonic: first byte of the current request */
    bool complete;             /* headers and body received: the deadline is off */
    bool expired;              /* shut down by the sweep */
    size_t uri_len;            /* the current request's URI (query included) */
} http_track;

/* The config as loaded once, shared by the requests that use it. */
typedef struct http_cfg {
    config *cfg;
    int refs;                  /* under http_server.mu */
} http_cfg;

/* An idle state + locks pair for one state URL. */
typedef struct http_handles {
    state *st;
    lock_manager *lm;
    backend_url url;
} http_handles;

struct http_server {
    struct MHD_Daemon *daemon;
    char config_dir[4096];
    char *token;               /* malloc'ed, any length; "" = none */
    bool loopback;
    uint16_t port;
    char log_level[16];
    char self_exe[4096];
    http_process_stats *proc;
    char listen_addr[128];     /* the listening address, for Host checks */
    char **hosts;              /* extra accepted Host names (NULL-terminated) */
    int64_t deadline_ms;       /* a request must be received within this */
    /* mu guards everything below; it is never held across a store call. */
    pthread_mutex_t mu;
    http_cfg *cur;             /* last valid config; NULL before the first */
    size_t config_invalid_files; /* files with problems in the last load */
    char config_problem[512];  /* first problem of the last failed load, "" if valid */
    bool loaded_once;
    int64_t config_sig[4];     /* the config files' signature at the last load */
    int ino_fd;                /* inotify on the config dir and pipelines/; -1: none */
    http_handles pool[HTTP_POOL_HANDLES];
    size_t npool;
    http_track *tracks;        /* open connections */
    size_t nconns;
    /* the deadline sweep */
    pthread_t sweeper;
    bool sweeper_started;
    bool stopping;
    pthread_cond_t cv;
    int64_t started_at;
};

/* What one request sees: its own config reference and store handles, and
 * copies of the server's settings. Handlers take this, never the server, so
 * requests run side by side without sharing a handle. */
typedef struct http_ctx {
    http_server *srv;
    http_cfg *ref;             /* NULL until http_prepare */
    config *cfg;               /* ref->cfg */
    state *st;
    lock_manager *lm;
    backend_url url;           /* the URL st and lm were opened for */
    char config_problem[512];
    size_t config_invalid_files;
    http_process_stats *proc;
    char *self_exe, *config_dir, *log_level;
} http_ctx;

typedef struct http_req {
    struct MHD_Connection *conn;
    const char *method, *path;
    char args[2][256];         /* the path's '*' segments */
    const char *body;
    size_t body_len;
    int64_t now;
} http_req;

typedef struct http_resp {
    unsigned status;
    const char *content_type;
    char *body;                /* malloc'ed, owned by the response */
    size_t len;
    bool static_body;          /* body points to static data: not freed */
} http_resp;

typedef void (*http_handler)(http_ctx *s, const http_req *r, http_resp *out);

/* --- responses (http.c) --- */
/* Takes w's buffer (or answers 500 if it ran out of memory). */
void http_reply_json(http_resp *out, unsigned status, json_writer *w);
void http_reply_error(http_resp *out, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers from an st_error: ST_ENOTFOUND 404, ST_EINVAL 400, ST_EUNAVAIL 503, else 500. */
void http_reply_st_error(http_resp *out, int rc, const st_error *err);
void http_reply_text(http_resp *out, unsigned status, const char *ctype, char *body, size_t len);

/* The query argument `key`, or NULL. */
const char *http_query(const http_req *r, const char *key);

/* --- shared handles (http.c) --- */
/* Reloads the config if it changed, takes a reference to it and a state +
 * locks pair for its state URL (an idle one, else a new one). 0, or answers
 * the error into `out` (503) and returns it. */
int http_prepare(http_ctx *s, http_resp *out);
/* Only the config part of http_prepare: s->cfg (NULL if none yet) and the
 * load's problem, no store handles. */
void http_ctx_config(http_ctx *s);
/* Closes the request's state and lock handles after an ST_EUNAVAIL so the
 * next request reconnects (they are not returned to the idle pool). */
void http_forget_handles(http_ctx *s);

/* --- the deployment's scheduler (http_api.c) --- */
/* Whether a scheduler holds the leader lease (jobs are being scheduled: the
 * fact behind /metrics' synctool_scheduler_up and the dashboard's banner),
 * the leader's name ("" if none) and the schedulers with a heartbeat in the
 * last 60 s at `now`. Needs the request's store handles (http_prepare). */
typedef struct http_sched_status {
    bool up;
    char leader[160];
    int64_t live;
} http_sched_status;
void http_scheduler_status(http_ctx *s, int64_t now, http_sched_status *out);

/* --- handlers (http_api.c, http_metrics.c) --- */
void http_api_healthz(http_ctx *s, const http_req *r, http_resp *out);
void http_api_readyz(http_ctx *s, const http_req *r, http_resp *out);
void http_api_pipelines(http_ctx *s, const http_req *r, http_resp *out);
void http_api_pipeline(http_ctx *s, const http_req *r, http_resp *out);
void http_api_runs(http_ctx *s, const http_req *r, http_resp *out);
void http_api_run(http_ctx *s, const http_req *r, http_resp *out);
void http_api_locks(http_ctx *s, const http_req *r, http_resp *out);
void http_api_workers(http_ctx *s, const http_req *r, http_resp *out);
void http_api_alerts(http_ctx *s, const http_req *r, http_resp *out);
void http_api_trigger(http_ctx *s, const http_req *r, http_resp *out);
void http_api_reset(http_ctx *s, const http_req *r, http_resp *out);
void http_api_pause(http_ctx *s, const http_req *r, http_resp *out);
void http_api_resume(http_ctx *s, const http_req *r, http_resp *out);
void http_metrics(http_ctx *s, const http_req *r, http_resp *out);
void http_dashboard(http_ctx *s, const http_req *r, http_resp *out);

#endif
