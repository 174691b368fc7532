/*
 * http — the server around the API: libmicrohttpd set-up, the route table,
 * authentication and the one response helper (see http.h for the contract).
 *
 * libmicrohttpd parses HTTP; nothing here reads a request line or a header
 * by hand. It runs one internal polling thread, so requests are answered one
 * at a time; handlers still take `mu`, because the config, state and lock
 * handles they share are also reloaded here. A request passes through:
 *   1. accumulate the body (POST) up to HTTP_MAX_BODY; more is 413;
 *   2. route: the static table below maps (method, path pattern) to a
 *      handler; a '*' segment matches one non-empty path segment and is
 *      captured; a known path with another method is 405; else 404;
 *   3. authenticate: write routes need the bearer token (none configured:
 *      403; missing or wrong: 401); read routes need it only when the
 *      listener is not loopback; /healthz and /readyz are always open;
 *   4. the handler fills an http_resp; one function turns it into the
 *      libmicrohttpd response with Content-Type and no-store headers.
 * Errors are JSON {"error": {"code", "message"}} everywhere. GET / and
 * /static/<file> answer the dashboard's compiled-in files (dashboard_asset).
 *
 * Limits: a connection limit, an idle timeout (a slow or stuck client is
 * dropped, never blocks the others), a per-connection memory limit
 * (oversized headers are refused by libmicrohttpd) and the body limit.
 *
 * Handles: each request reloads the config if its files changed (mtime, size,
 * count; a broken config keeps the last valid one and is reported by /readyz
 * and /metrics) and opens state and locks for its state URL once; an
 * unreachable store drops them so the next request reconnects.
 */
#include "http_int.h"

#include "../dashboard/dashboard.h"
#include "../log/log.h"
#include "../time/st_time.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>
#include <signal.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { AUTH_OPEN = 0, AUTH_READ, AUTH_WRITE };

typedef struct http_route {
    const char *method;
    const char *pattern;
    http_handler fn;
    int auth;
} http_route;

static const http_route routes[] = {
    {"GET", "/healthz", http_api_healthz, AUTH_OPEN},
    {"GET", "/readyz", http_api_readyz, AUTH_OPEN},
    {"GET", "/metrics", http_metrics, AUTH_READ},
    {"GET", "/api/v1/pipelines", http_api_pipelines, AUTH_READ},
    {"GET", "/api/v1/pipelines/*", http_api_pipeline, AUTH_READ},
    {"GET", "/api/v1/pipelines/*/runs", http_api_runs, AUTH_READ},
    {"GET", "/api/v1/runs/*", http_api_run, AUTH_READ},
    {"GET", "/api/v1/locks", http_api_locks, AUTH_READ},
    {"GET", "/api/v1/workers", http_api_workers, AUTH_READ},
    {"POST", "/api/v1/pipelines/*/run", http_api_trigger, AUTH_WRITE},
    {"POST", "/api/v1/pipelines/*/reset", http_api_reset, AUTH_WRITE},
    {"POST", "/api/v1/pipelines/*/pause", http_api_pause, AUTH_WRITE},
    {"POST", "/api/v1/pipelines/*/resume", http_api_resume, AUTH_WRITE},
    /* The dashboard's page and files are open: the page asks for the token
     * itself when the API needs one. */
    {"GET", "/", http_dashboard, AUTH_OPEN},
    {"GET", "/index.html", http_dashboard, AUTH_OPEN},
    {"GET", "/static/*", http_dashboard, AUTH_OPEN},
};

/* Per-request state kept by libmicrohttpd between callbacks. */
typedef struct http_conn {
    char *body;
    size_t len;
    bool too_large;
} http_conn;

/* --- responses --- */

void http_reply_text(http_resp *out, unsigned status, const char *ctype, char *body, size_t len) {
    free(out->static_body ? NULL : out->body);
    out->status = status;
    out->content_type = ctype;
    out->body = body;
    out->len = len;
    out->static_body = false;
}

void http_reply_json(http_resp *out, unsigned status, json_writer *w) {
    if (w->failed || w->buf == NULL) {
        json_release(w);
        http_reply_error(out, 500, "internal", "out of memory");
        return;
    }
    http_reply_text(out, status, "application/json", w->buf, w->len);
    w->buf = NULL;
    w->len = w->cap = 0;
}

void http_reply_error(http_resp *out, unsigned status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_key(&w, "error");
    json_begin_object(&w);
    json_kv_string(&w, "code", code);
    json_kv_string(&w, "message", msg);
    json_end_object(&w);
    json_end_object(&w);
    if (w.failed) {
        json_release(&w);
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        free(out->static_body ? NULL : out->body);
        out->status = 500;
        out->content_type = "application/json";
        out->body = (char *)oom;
        out->len = sizeof oom - 1;
        out->static_body = true;
        return;
    }
    http_reply_text(out, status, "application/json", w.buf, w.len);
}

void http_reply_st_error(http_resp *out, int rc, const st_error *err) {
    const char *msg = err && err->msg[0] ? err->msg : st_error_name(rc);
    switch (rc) {
    case ST_ENOTFOUND: http_reply_error(out, 404, "not_found", "%s", msg); break;
    case ST_EINVAL: http_reply_error(out, 400, "bad_request", "%s", msg); break;
    case ST_EUNAVAIL: http_reply_error(out, 503, "unavailable", "%s", msg); break;
    case ST_EBUSY: http_reply_error(out, 409, "conflict", "%s", msg); break;
    default: http_reply_error(out, 500, "internal", "%s", msg); break;
    }
}

const char *http_query(const http_req *r, const char *key) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* --- shared handles --- */

void http_forget_handles(http_server *s) {
    lock_close(s->lm);
    state_close(s->st);
    s->lm = NULL;
    s->st = NULL;
    s->opened_url[0] = '\0';
}

/* Counts distinct files among the problems. */
static size_t problem_files(const config_problems *p) {
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = p->details[i].file && p->details[j].file &&
                   strcmp(p->details[i].file, p->details[j].file) == 0;
        if (!seen) n++;
    }
    return n;
}

/* A cheap signature of the config files: the newest mtime (ns), the total
 * size and the number of entries of datastores.yaml and pipelines/, and the
 * directory's own mtime (files added or removed). One stat per file instead
 * of parsing every YAML file on every request (0.3 s with 1,000 pipelines). */
static void config_signature(const char *dir, int64_t sig[4]) {
    char path[4200];
    struct stat sb;
    memset(sig, 0, 4 * sizeof *sig);
    snprintf(path, sizeof path, "%s/datastores.yaml", dir);
    if (stat(path, &sb) == 0) {
        sig[0] = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        sig[1] = (int64_t)sb.st_size;
    }
    snprintf(path, sizeof path, "%s/pipelines", dir);
    if (stat(path, &sb) == 0) sig[3] = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    DIR *d = opendir(path);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char file[4500];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (e->d_name[0] == '.' || stat(file, &sb) != 0) continue;
        int64_t m = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        if (m > sig[0]) sig[0] = m;
        sig[1] += (int64_t)sb.st_size;
        sig[2]++;
    }
    closedir(d);
}

/* Loads the config again when its files changed since the last load. */
static void http_reload_config(http_server *s) {
    int64_t sig[4];
    config_signature(s->config_dir, sig);
    if (s->loaded_once && memcmp(sig, s->config_sig, sizeof sig) == 0) return;
    memcpy(s->config_sig, sig, sizeof sig);
    s->loaded_once = true;
    config *cfg = NULL;
    config_problems probs = {0};
    st_error err;
    st_error_clear(&err);
    if (config_load(&cfg, s->config_dir, &probs, &err) == ST_OK) {
        config_free(s->cfg);
        s->cfg = cfg;
        s->config_invalid_files = 0;
        s->config_problem[0] = '\0';
    } else {
        s->config_invalid_files = probs.n ? problem_files(&probs) : 1;
        snprintf(s->config_problem, sizeof s->config_problem, "%s",
                 probs.n ? probs.items[0] : err.msg);
    }
    config_problems_clear(&probs);
}

int http_prepare(http_server *s, http_resp *out) {
    http_reload_config(s);
    if (s->cfg == NULL) {
        http_reply_error(out, 503, "unavailable", "config invalid: %s", s->config_problem);
        return ST_EINVAL;
    }
    if (s->st != NULL && strcmp(s->opened_url, s->cfg->state_url) != 0) http_forget_handles(s);
    if (s->st != NULL) return ST_OK;
    st_error err;
    st_error_clear(&err);
    int rc = state_open(&s->st, s->cfg->state_url, &err);
    if (rc == ST_OK) rc = lock_open(&s->lm, s->cfg->state_url, &err);
    if (rc != ST_OK) {
        http_forget_handles(s);
        http_reply_error(out, 503, "unavailable", "state store unreachable: %s", err.msg);
        return rc;
    }
    snprintf(s->opened_url, sizeof s->opened_url, "%s", s->cfg->state_url);
    return ST_OK;
}

/* --- the dashboard (src/dashboard) --- */

void http_dashboard(http_server *s, const http_req *r, http_resp *out) {
    (void)s;
    const char *body, *ctype;
    size_t len;
    if (dashboard_asset(r->path, &body, &len, &ctype) != 0) {
        http_reply_error(out, 404, "not_found", "no such file: %s", r->path);
        return;
    }
    free(out->static_body ? NULL : out->body);
    out->status = 200;
    out->content_type = ctype;
    out->body = (char *)body;
    out->len = len;
    out->static_body = true;
}

/* --- routing and authentication --- */

/* Matches `path` against `pattern`, capturing '*' segments into r->args. */
static bool route_match(const char *pattern, const char *path, http_req *r) {
    int arg = 0;
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= sizeof r->args[0] || arg >= 2) return false;
            memcpy(r->args[arg], path, n);
            r->args[arg++][n] = '\0';
            path += n;
            pattern++;
            continue;
        }
        if (*pattern != *path) return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

bool http_token_equal(const char *presented, size_t presented_len, const char *token) {
    size_t tlen = token ? strlen(token) : 0;
    if (tlen == 0 || presented == NULL) return false;
    /* Every byte of the configured token is compared whatever the input:
     * the time depends only on the token's length. */
    unsigned char diff = (unsigned char)(presented_len != tlen);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char p = i < presented_len ? (unsigned char)presented[i] : 0;
        diff |= (unsigned char)(p ^ (unsigned char)token[i]);
    }
    return diff == 0;
}

/* 0 if allowed, else the response is filled. */
static int http_authorize(http_server *s, const http_req *r, int auth, http_resp *out) {
    if (auth == AUTH_OPEN || (auth == AUTH_READ && s->loopback)) return 0;
    if (auth == AUTH_WRITE && s->token[0] == '\0') {
        http_reply_error(out, 403, "forbidden",
                         "mutating endpoints are disabled: start the server with "
                         "SYNCTOOL_API_TOKEN set to enable them");
        return -1;
    }
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        http_reply_error(out, 401, "unauthorized",
                         "missing 'Authorization: Bearer <token>' header");
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    if (!http_token_equal(tok, strlen(tok), s->token)) {
        http_reply_error(out, 401, "unauthorized", "wrong token");
        return -1;
    }
    return 0;
}

static void http_dispatch(http_server *s, http_req *r, http_resp *out) {
    bool path_known = false;
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const http_route *rt = &routes[i];
        if (!route_match(rt->pattern, r->path, r)) continue;
        path_known = true;
        if (strcmp(rt->method, method) != 0) continue;
        if (http_authorize(s, r, rt->auth, out) != 0) return;
        rt->fn(s, r, out);
        return;
    }
    if (path_known)
        http_reply_error(out, 405, "method_not_allowed", "%s is not allowed on %s", r->method,
                         r->path);
    else
        http_reply_error(out, 404, "not_found", "no such endpoint: %s", r->path);
}

/* --- libmicrohttpd callbacks --- */

static enum MHD_Result http_send(struct MHD_Connection *conn, http_resp *out) {
    struct MHD_Response *resp;
    if (out->static_body)
        resp = MHD_create_response_from_buffer(out->len, out->body, MHD_RESPMEM_PERSISTENT);
    else
        resp = MHD_create_response_from_buffer(out->len, out->body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        if (!out->static_body) free(out->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            out->content_type ? out->content_type : "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(conn, out->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Appends a chunk of the request body, remembering overflow. */
static void http_take_body(http_conn *hc, const char *data, size_t n) {
    if (hc->too_large || n == 0) return;
    if (hc->len + n > HTTP_MAX_BODY) {
        hc->too_large = true;
        return;
    }
    char *nb = realloc(hc->body, hc->len + n + 1);
    if (nb == NULL) {
        hc->too_large = true;
        return;
    }
    memcpy(nb + hc->len, data, n);
    hc->len += n;
    nb[hc->len] = '\0';
    hc->body = nb;
}

static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_size,
                                       void **con_cls) {
    (void)version;
    http_server *s = cls;
    if (*con_cls == NULL) {
        http_conn *hc = calloc(1, sizeof *hc);
        if (hc == NULL) return MHD_NO;
        *con_cls = hc;
        return MHD_YES;
    }
    http_conn *hc = *con_cls;
    if (*upload_size != 0) {
        http_take_body(hc, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    http_resp out = {.status = 200};
    http_req r = {.conn = conn, .method = method, .path = url,
                  .body = hc->body ? hc->body : "", .body_len = hc->len};
    if (hc->too_large) {
        http_reply_error(&out, 413, "payload_too_large", "request body over %d bytes",
                         HTTP_MAX_BODY);
        return http_send(conn, &out);
    }
    pthread_mutex_lock(&s->mu);
    r.now = st_time_now();
    http_dispatch(s, &r, &out);
    pthread_mutex_unlock(&s->mu);
    return http_send(conn, &out);
}

static void http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    http_conn *hc = *con_cls;
    if (hc == NULL) return;
    free(hc->body);
    free(hc);
    *con_cls = NULL;
}

/* --- start / stop --- */

int http_listen_parse(const char *listen, char *addr, size_t addrlen, uint16_t *port,
                      bool *loopback, st_error *err) {
    const char *colon;
    const char *host = listen;
    size_t hlen;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':')
            return st_error_set(err, ST_EINVAL, "--listen '%s': expected [IPV6]:PORT", listen);
        host = listen + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL)
            return st_error_set(err, ST_EINVAL, "--listen '%s': expected ADDR:PORT, e.g. %s",
                                listen, HTTP_DEFAULT_LISTEN);
        hlen = (size_t)(colon - listen);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
        return st_error_set(err, ST_EINVAL, "--listen '%s': port must be 0-65535", listen);
    if (hlen == 0 || hlen >= addrlen)
        return st_error_set(err, ST_EINVAL, "--listen '%s': missing address", listen);
    memcpy(addr, host, hlen);
    addr[hlen] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1) {
        *loopback = (ntohl(a4.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, addr, &a6) == 1) {
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6);
    } else {
        return st_error_set(err, ST_EINVAL,
                            "--listen '%s': '%s' is not an IP address (use e.g. 127.0.0.1 or "
                            "0.0.0.0)", listen, addr);
    }
    *port = (uint16_t)p;
    return ST_OK;
}

static struct MHD_Daemon *http_bind(http_server *s, const char *addr, uint16_t port,
                                    const http_opts *o) {
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    /* poll(), not epoll: with epoll (MHD_USE_AUTO) libmicrohttpd 0.9.75 did not
     * notice a client that half-closed its side, keeping such connections
     * (and a slot of the connection limit) until the idle timeout. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    memset(&sin, 0, sizeof sin);
    memset(&sin6, 0, sizeof sin6);
    if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        sa = (struct sockaddr *)&sin;
    } else {
        inet_pton(AF_INET6, addr, &sin6.sin6_addr);
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    }
    unsigned limit = o->max_connections ? o->max_connections : 64;
    unsigned timeout = o->timeout_s ? o->timeout_s : 10;
    return MHD_start_daemon(flags, port, NULL, NULL, http_on_request, s,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, s,
                            MHD_OPTION_END);
}

int http_server_start(http_server **out, const http_opts *o, st_error *err) {
    *out = NULL;
    const char *listen = o->listen ? o->listen : HTTP_DEFAULT_LISTEN;
    char addr[128];
    uint16_t port;
    bool loopback;
    int rc = http_listen_parse(listen, addr, sizeof addr, &port, &loopback, err);
    if (rc != ST_OK) return rc;
    bool has_token = o->token && o->token[0];
    if (!loopback && !has_token)
        return st_error_set(err, ST_EINVAL,
                            "refusing to listen on %s without a token: set SYNCTOOL_API_TOKEN "
                            "or listen on 127.0.0.1", listen);
    http_server *s = calloc(1, sizeof *s);
    if (s == NULL) return st_error_set(err, ST_ENOMEM, "http: out of memory");
    snprintf(s->config_dir, sizeof s->config_dir, "%s", o->config_dir);
    snprintf(s->token, sizeof s->token, "%s", has_token ? o->token : "");
    snprintf(s->log_level, sizeof s->log_level, "%s", log_level_name(log_get_level()));
    s->loopback = loopback;
    s->proc = o->proc;
    s->started_at = st_time_now();
    ssize_t n = readlink("/proc/self/exe", s->self_exe, sizeof s->self_exe - 1);
    s->self_exe[n > 0 ? n : 0] = '\0';
    pthread_mutex_init(&s->mu, NULL);
    /* libmicrohttpd's thread inherits this mask: with every signal blocked
     * there, SIGTERM and friends always reach the thread that waits for them
     * (serve's sigtimedwait, the scheduler's signalfd). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    s->daemon = http_bind(s, addr, port, o);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (s->daemon == NULL) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return st_error_set(err, ST_EUNAVAIL, "cannot listen on %s (address in use, or not "
                            "an address of this host?)", listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    log_info(NULL, NULL, "http: listening on %s (port %u)%s", listen, (unsigned)s->port,
             has_token ? "" : "; POST endpoints disabled (no SYNCTOOL_API_TOKEN)");
    *out = s;
    return ST_OK;
}

uint16_t http_server_port(const http_server *s) { return s->port; }

void http_server_stop(http_server *s) {
    if (s == NULL) return;
    MHD_stop_daemon(s->daemon);
    http_forget_handles(s);
    config_free(s->cfg);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
