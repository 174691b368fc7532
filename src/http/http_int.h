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

struct http_server {
    struct MHD_Daemon *daemon;
    char config_dir[4096];
    char token[512];
    bool loopback;
    uint16_t port;
    char log_level[16];
    char self_exe[4096];
    http_process_stats *proc;
    pthread_mutex_t mu;        /* handlers run one at a time (shared handles below) */
    config *cfg;               /* last valid config; NULL before the first */
    size_t config_invalid_files; /* files with problems in the last load */
    char config_problem[512];  /* first problem of the last failed load, "" if valid */
    bool loaded_once;
    int64_t config_sig[4];     /* the config files' signature at the last load */
    state *st;                 /* opened on demand for cfg->state_url */
    lock_manager *lm;
    char opened_url[1024];     /* the URL st and lm were opened for */
    int64_t started_at;
};

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

typedef void (*http_handler)(http_server *s, const http_req *r, http_resp *out);

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
/* Reloads the config and (re)opens state and locks for it. 0, or answers
 * the error into `out` (503) and returns it. */
int http_prepare(http_server *s, http_resp *out);
/* Drops state and lock handles after an ST_EUNAVAIL so the next request
 * reconnects. */
void http_forget_handles(http_server *s);

/* --- handlers (http_api.c, http_metrics.c) --- */
void http_api_healthz(http_server *s, const http_req *r, http_resp *out);
void http_api_readyz(http_server *s, const http_req *r, http_resp *out);
void http_api_pipelines(http_server *s, const http_req *r, http_resp *out);
void http_api_pipeline(http_server *s, const http_req *r, http_resp *out);
void http_api_runs(http_server *s, const http_req *r, http_resp *out);
void http_api_run(http_server *s, const http_req *r, http_resp *out);
void http_api_locks(http_server *s, const http_req *r, http_resp *out);
void http_api_workers(http_server *s, const http_req *r, http_resp *out);
void http_api_trigger(http_server *s, const http_req *r, http_resp *out);
void http_api_reset(http_server *s, const http_req *r, http_resp *out);
void http_api_pause(http_server *s, const http_req *r, http_resp *out);
void http_api_resume(http_server *s, const http_req *r, http_resp *out);
void http_metrics(http_server *s, const http_req *r, http_resp *out);
void http_dashboard(http_server *s, const http_req *r, http_resp *out);

#endif
