/*
 * http — the server around the API: libmicrohttpd set-up, the route table,
 * authentication and the one response helper (see http.h for the contract).
 *
 * libmicrohttpd parses HTTP; nothing here reads a request line or a header
 * by hand. It runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION,
 * at most HTTP_DEFAULT_CONNECTIONS, HTTP_DEFAULT_PER_IP per client address),
 * so a handler waiting on a store holds only its own request. No lock is
 * held across a store call: `mu` guards only the config reference, the idle
 * handle pool and the connection tracker. A request passes through:
 *   0. our own limits once the headers are in: URI (414) and header lines
 *      (431), answered in JSON (libmicrohttpd's own, plain answers are left
 *      for requests beyond its 128 KiB buffer);
 *   1. accumulate the body (POST) up to HTTP_MAX_BODY; more is 413;
 *   2. the Host check on a loopback listener (421; not for /healthz and
 *      /readyz) and 415 for a body whose Content-Type is not JSON;
 *   3. route: the static table below maps (method, path pattern) to a
 *      handler; a '*' segment matches one non-empty path segment and is
 *      captured; a known path with another method is 405; else 404;
 *   4. authenticate: write routes need the bearer token (none configured:
 *      403; missing or wrong: 401); read routes need it only when the
 *      listener is not loopback; /healthz and /readyz are always open;
 *   5. the handler gets an http_ctx (its own config reference and store
 *      handles, taken by http_prepare) and fills an http_resp; one function
 *      turns it into the libmicrohttpd response with Content-Type, no-store
 *      and, for the dashboard page, the Content-Security-Policy.
 * Errors are JSON {"error": {"code", "message"}} everywhere. GET / and
 * /static/<file> answer the dashboard's compiled-in files (dashboard_asset).
 *
 * The request deadline: libmicrohttpd has only an idle timeout, which a
 * client sending a header line every few seconds never meets. Every
 * connection is tracked from accept (MHD_OPTION_NOTIFY_CONNECTION) with the
 * start of its current request; a sweep thread shuts down, every 200 ms,
 * the sockets whose request is not complete deadline_ms after its start.
 *
 * Handles: each request reloads the config if its files changed (mtime, size,
 * count, looked at only after an inotify event in the config dir; a broken config keeps the last valid one and is reported by /readyz
 * and /metrics), takes a reference to it and an idle state + locks pair for
 * its state URL (or opens one), and gives the pair back afterwards; an
 * unreachable store closes the pair so the next request reconnects.
 */
#include "http_int.h"

#include "../dashboard/dashboard.h"
#include "../log/log.h"
#include "../time/st_time.h"
#include "../view/view.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <signal.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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
    {"GET", "/api/v1/alerts", http_api_alerts, AUTH_READ},
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
    size_t uri_len;            /* the whole request URI, query included */
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
    view_error_json(&w, code, msg, NULL);
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

static void handles_close(state *st, lock_manager *lm) {
    lock_close(lm);
    state_close(st);
}

void http_forget_handles(http_ctx *c) {
    handles_close(c->st, c->lm);
    c->st = NULL;
    c->lm = NULL;
    memset(&c->url, 0, sizeof c->url);
}

/* Drops one reference to a loaded config. Called with mu held. */
static void cfg_unref(http_cfg *h) {
    if (h == NULL || --h->refs > 0) return;
    config_free(h->cfg);
    free(h);
}

/* Installs a newly loaded config. Called with mu held. */
static void cfg_install(http_server *s, config *cfg) {
    http_cfg *h = calloc(1, sizeof *h);
    if (h == NULL) {
        config_free(cfg);
        return;
    }
    h->cfg = cfg;
    h->refs = 1;
    cfg_unref(s->cur);
    s->cur = h;
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

/* inotify gate of the signature: the signature stats every file (10,000
 * pipelines: ~30 ms, under mu, on every request — issue 25), so it is
 * computed only when the config dir or pipelines/ saw an event since the
 * last look (an event is queued by the write itself, before it returns, so
 * a request after an edit always sees it). Without inotify (or with its
 * queue overflowed) every request computes it, as before. */
#define CONFIG_WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | \
                           IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

static void config_watch_add(http_server *s) {
    char path[4200];
    snprintf(path, sizeof path, "%s/pipelines", s->config_dir);
    if (inotify_add_watch(s->ino_fd, s->config_dir, CONFIG_WATCH_MASK) < 0) {
        close(s->ino_fd);
        s->ino_fd = -1;
        return;
    }
    inotify_add_watch(s->ino_fd, path, CONFIG_WATCH_MASK);   /* may not exist yet */
}

static void config_watch_open(http_server *s) {
    s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->ino_fd >= 0) config_watch_add(s);
}

/* Did anything happen in the config dir since the last call? Drains the
 * events and renews the watches (pipelines/ created, replaced). */
static bool config_watch_changed(http_server *s) {
    if (s->ino_fd < 0) return true;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    ssize_t n;
    while ((n = read(s->ino_fd, buf, sizeof buf)) > 0) any = true;
    if (any) config_watch_add(s);
    return any;
}

/* No config yet and the files have problems: serve the pipelines that are
 * valid (config_load_valid, as the CLI's read commands do); /readyz keeps
 * answering 503 with the problem until the files are fixed. Called with mu. */
static void http_load_valid_pipelines(http_server *s) {
    config *cfg = NULL;
    config_problems probs = {0};
    st_error err;
    if (config_load_valid(&cfg, s->config_dir, &probs, &err) == ST_OK) cfg_install(s, cfg);
    config_problems_clear(&probs);
}

/* Loads the config again when its files changed since the last load. Reading
 * YAML touches no store, so it runs under mu (one reload at a time). */
static void http_reload_config(http_server *s) {
    if (s->loaded_once && !config_watch_changed(s)) return;
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
        cfg_install(s, cfg);
        s->config_invalid_files = 0;
        s->config_problem[0] = '\0';
    } else {
        s->config_invalid_files = probs.n ? problem_files(&probs) : 1;
        snprintf(s->config_problem, sizeof s->config_problem, "%s",
                 probs.n ? probs.items[0] : err.msg);
        log_error(NULL, NULL, "config invalid: %s", s->config_problem);
        if (s->cur == NULL) http_load_valid_pipelines(s);
    }
    config_problems_clear(&probs);
}

/* Takes the current config and an idle handle pair for its URL, if any. */
static void ctx_take(http_ctx *c, bool handles) {
    http_server *s = c->srv;
    pthread_mutex_lock(&s->mu);
    http_reload_config(s);
    snprintf(c->config_problem, sizeof c->config_problem, "%s", s->config_problem);
    c->config_invalid_files = s->config_invalid_files;
    if (c->ref == NULL && s->cur != NULL) {
        c->ref = s->cur;
        c->ref->refs++;
        c->cfg = c->ref->cfg;
    }
    for (size_t i = 0; handles && c->cfg && c->st == NULL && i < s->npool; i++) {
        if (!burl_equal(&s->pool[i].url, &c->cfg->state_url)) continue;
        c->st = s->pool[i].st;
        c->lm = s->pool[i].lm;
        c->url = s->pool[i].url;
        s->pool[i] = s->pool[--s->npool];
    }
    pthread_mutex_unlock(&s->mu);
}

void http_ctx_config(http_ctx *c) { ctx_take(c, false); }

int http_prepare(http_ctx *c, http_resp *out) {
    ctx_take(c, true);
    if (c->cfg == NULL) {
        http_reply_error(out, 503, "unavailable", "config invalid: %s", c->config_problem);
        return ST_EINVAL;
    }
    if (c->st != NULL) return ST_OK;
    /* Opening may wait on the store: done outside mu, on this request's own
     * handles, so a stalled store holds only the requests that need it. */
    st_error err;
    st_error_clear(&err);
    int rc = state_open(&c->st, &c->cfg->state_url, &err);
    if (rc == ST_OK) rc = lock_open(&c->lm, &c->cfg->state_url, &err);
    if (rc != ST_OK) {
        http_forget_handles(c);
        http_reply_error(out, 503, "unavailable", "state store unreachable: %s", err.msg);
        return rc;
    }
    c->url = c->cfg->state_url;
    return ST_OK;
}

/* Gives the request's handles back to the idle pool (or closes them) and
 * drops its config reference. */
static void ctx_release(http_ctx *c) {
    http_server *s = c->srv;
    state *st = c->st;
    lock_manager *lm = c->lm;
    pthread_mutex_lock(&s->mu);
    if (st != NULL && s->npool < HTTP_POOL_HANDLES && s->cur != NULL &&
        burl_equal(&s->cur->cfg->state_url, &c->url)) {
        http_handles *h = &s->pool[s->npool++];
        h->st = st;
        h->lm = lm;
        h->url = c->url;
        st = NULL;
        lm = NULL;
    }
    cfg_unref(c->ref);
    pthread_mutex_unlock(&s->mu);
    handles_close(st, lm);
    c->ref = NULL;
    c->cfg = NULL;
    c->st = NULL;
    c->lm = NULL;
}

/* --- the dashboard (src/dashboard) --- */

void http_dashboard(http_ctx *s, const http_req *r, http_resp *out) {
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

/* 401 with error.token "missing" or "wrong", so a client tells a token it
 * must still send from one it sent wrong without reading the message. */
static void reply_unauthorized(http_resp *out, const char *which, const char *msg) {
    json_writer w;
    json_init(&w);
    view_error_json(&w, "unauthorized", msg, which);
    http_reply_json(out, 401, &w);
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
        reply_unauthorized(out, "missing", "token required: send the header "
                           "'Authorization: Bearer <token>' with the server's "
                           "SYNCTOOL_API_TOKEN");
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    if (!http_token_equal(tok, strlen(tok), s->token)) {
        reply_unauthorized(out, "wrong", "wrong token: the bearer token is not the server's "
                           "SYNCTOOL_API_TOKEN");
        return -1;
    }
    return 0;
}

/* The Host header's name without its port: "[::1]:8420" -> "[::1]",
 * "localhost:80" -> "localhost". false if it does not fit. */
static bool host_name(const char *host, char *buf, size_t n) {
    size_t len = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    if (host[0] == '[' && host[len - 1] != ']') return false;
    if (len >= n) return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    return true;
}

/* A loopback listener answers only requests addressed to a loopback name
 * (DNS rebinding: a page whose name now resolves to 127.0.0.1 sends its own
 * name). A request without Host (HTTP/1.0) is not from a browser. */
bool http_host_allowed(const char *host, const char *listen_addr, char *const *extra) {
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    char name[256];
    if (host == NULL) return true;
    if (!host_name(host, name, sizeof name)) return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i]) == 0) return true;
    char own[140];
    snprintf(own, sizeof own, strchr(listen_addr, ':') ? "[%s]" : "%s", listen_addr);
    if (strcasecmp(name, own) == 0) return true;
    for (size_t i = 0; extra && extra[i]; i++)
        if (strcasecmp(name, extra[i]) == 0) return true;
    return false;
}

/* A body is JSON when it comes without a Content-Type or with
 * application/json (any parameters) or a +json type. */
static bool json_content_type(const char *ct) {
    if (ct == NULL) return true;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) return true;
    return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* The checks every request passes before routing: Host on a loopback
 * listener (not for the probes), a JSON body for POST. 0, or answered. */
static int http_precheck(http_server *s, const http_req *r, http_resp *out) {
    bool probe = strcmp(r->path, "/healthz") == 0 || strcmp(r->path, "/readyz") == 0;
    if (s->loopback && !probe) {
        const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_HOST);
        if (!http_host_allowed(host, s->listen_addr, s->hosts)) {
            http_reply_error(out, 421, "misdirected_request",
                             "Host '%.200s' is not a name of this loopback listener: use "
                             "localhost, 127.0.0.1 or [::1], or add the name to "
                             "SYNCTOOL_API_HOSTS", host);
            return -1;
        }
    }
    if (r->body_len > 0) {
        const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!json_content_type(ct)) {
            http_reply_error(out, 415, "unsupported_media_type",
                             "request bodies must be JSON (Content-Type: application/json), "
                             "not '%.200s'", ct);
            return -1;
        }
    }
    return 0;
}

static void http_dispatch(http_server *s, http_req *r, http_resp *out) {
    bool path_known = false;
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    if (http_precheck(s, r, out) != 0) return;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const http_route *rt = &routes[i];
        if (!route_match(rt->pattern, r->path, r)) continue;
        path_known = true;
        if (strcmp(rt->method, method) != 0) continue;
        if (http_authorize(s, r, rt->auth, out) != 0) return;
        http_ctx c = {.srv = s, .proc = s->proc, .self_exe = s->self_exe,
                      .config_dir = s->config_dir, .log_level = s->log_level};
        rt->fn(&c, r, out);
        if (c.ref != NULL || c.st != NULL) ctx_release(&c);
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
    if (out->content_type && strncmp(out->content_type, "text/html", 9) == 0) {
        MHD_add_response_header(resp, "Content-Security-Policy", DASHBOARD_CSP);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    }
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

/* Sums the header lines' sizes (name, value, ": " and CRLF). */
static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value) {
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Our own limits, checked once the headers are in, so the answer is JSON:
 * URI (414) and header (431) sizes. 0, or answered. */
static int http_limits(struct MHD_Connection *conn, const http_conn *hc, http_resp *out) {
    if (hc->uri_len > HTTP_MAX_URI) {
        http_reply_error(out, 414, "uri_too_long", "request URI of %zu bytes is over the "
                         "limit of %d", hc->uri_len, HTTP_MAX_URI);
        return -1;
    }
    size_t hsize = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &hsize);
    if (hsize > HTTP_MAX_HEADERS) {
        http_reply_error(out, 431, "headers_too_large", "request headers of %zu bytes are "
                         "over the limit of %d", hsize, HTTP_MAX_HEADERS);
        return -1;
    }
    return 0;
}

static http_track *conn_track(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Marks the connection's request complete: the deadline no longer applies
 * (a handler may wait on a store as long as it must). */
static void track_complete(http_server *s, struct MHD_Connection *conn, bool complete) {
    http_track *t = conn_track(conn);
    if (t == NULL) return;
    pthread_mutex_lock(&s->mu);
    t->complete = complete;
    if (!complete) t->started_ms = st_time_mono_ms();
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_size,
                                       void **con_cls) {
    (void)version;
    http_server *s = cls;
    http_resp out = {.status = 200};
    if (*con_cls == NULL) {
        http_conn *hc = calloc(1, sizeof *hc);
        if (hc == NULL) return MHD_NO;
        *con_cls = hc;
        http_track *t = conn_track(conn);
        pthread_mutex_lock(&s->mu);
        hc->uri_len = t ? t->uri_len : 0;
        pthread_mutex_unlock(&s->mu);
        if (http_limits(conn, hc, &out) != 0) return http_send(conn, &out);
        return MHD_YES;
    }
    http_conn *hc = *con_cls;
    if (*upload_size != 0) {
        http_take_body(hc, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    track_complete(s, conn, true);
    http_req r = {.conn = conn, .method = method, .path = url,
                  .body = hc->body ? hc->body : "", .body_len = hc->len};
    if (hc->too_large) {
        http_reply_error(&out, 413, "payload_too_large", "request body over %d bytes",
                         HTTP_MAX_BODY);
        return http_send(conn, &out);
    }
    r.now = st_time_now();
    http_dispatch(s, &r, &out);
    return http_send(conn, &out);
}

/* Called with the whole URI once the request line is read: notes its length
 * on the connection's tracker (nothing is allocated here: libmicrohttpd
 * reports no completion for a request whose headers it refused). */
static void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    http_server *s = cls;
    http_track *t = conn_track(conn);
    if (t != NULL) {
        pthread_mutex_lock(&s->mu);
        t->uri_len = strlen(uri);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
    (void)toe;
    track_complete(cls, conn, false); /* the next request's deadline starts */
    http_conn *hc = *con_cls;
    if (hc == NULL) return;
    free(hc->body);
    free(hc);
    *con_cls = NULL;
}

/* Tracks every connection from accept to close for the deadline sweep. */
static void http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                               enum MHD_ConnectionNotificationCode toe) {
    http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_track *t = calloc(1, sizeof *t);
        if (t == NULL) return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        t->fd = ci ? ci->connect_fd : -1;
        t->started_ms = st_time_mono_ms();
        pthread_mutex_lock(&s->mu);
        t->next = s->tracks;
        if (s->tracks) s->tracks->prev = t;
        s->tracks = t;
        s->nconns++;
        pthread_mutex_unlock(&s->mu);
        *socket_context = t;
        return;
    }
    http_track *t = *socket_context;
    if (t == NULL) return;
    /* libmicrohttpd reports the close before it closes the socket: once the
     * entry is gone, the sweep can no longer shut down a reused number. */
    pthread_mutex_lock(&s->mu);
    if (t->prev) t->prev->next = t->next; else s->tracks = t->next;
    if (t->next) t->next->prev = t->prev;
    s->nconns--;
    pthread_mutex_unlock(&s->mu);
    free(t);
    *socket_context = NULL;
}

/* The deadline: every 200 ms, connections whose current request has not
 * been received in full within deadline_ms of its start are shut down (a
 * slow or silent client; libmicrohttpd's own timeout is only an idle one,
 * which a client sending a byte now and then never meets). */
static void *http_sweep(void *arg) {
    http_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        int64_t now = st_time_mono_ms();
        size_t dropped = 0;
        for (http_track *t = s->tracks; t; t = t->next) {
            if (t->complete || t->expired || t->fd < 0 || now - t->started_ms < s->deadline_ms)
                continue;
            shutdown(t->fd, SHUT_RDWR);
            t->expired = true;
            dropped++;
        }
        if (dropped)
            log_info(NULL, NULL, "http: dropped %zu connection(s) that sent no complete "
                     "request within %llds", dropped, (long long)(s->deadline_ms / 1000));
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
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
    /* One thread per connection, so a handler waiting on a store never holds
     * another request; the connection limit bounds the threads. poll(), not
     * epoll (which the thread-per-connection mode does not take anyway). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL;
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
    unsigned limit = o->max_connections ? o->max_connections : HTTP_DEFAULT_CONNECTIONS;
    unsigned per_ip = o->per_ip ? o->per_ip : HTTP_DEFAULT_PER_IP;
    unsigned timeout = o->timeout_s ? o->timeout_s : 10;
    /* The memory limit is above our own URI and header limits, so that
     * requests up to a few times those limits get our JSON 414/431. */
    return MHD_start_daemon(flags, port, NULL, NULL, http_on_request, s,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                            MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, s,
                            MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, s,
                            MHD_OPTION_END);
}

/* Splits "a,b" into a NULL-terminated list; NULL-safe. */
static char **split_hosts(const char *list) {
    size_t n = 1;
    for (const char *p = list ? list : ""; *p; p++) n += *p == ',';
    char **out = calloc(n + 1, sizeof *out);
    if (out == NULL || list == NULL) return out;
    size_t k = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        while (len > 0 && p[0] == ' ') { p++; len--; }
        while (len > 0 && p[len - 1] == ' ') len--;
        if (len > 0 && (out[k] = strndup(p, len)) != NULL) k++;
        p += len;
        p += strspn(p, ", ");
    }
    return out;
}

static void free_server(http_server *s) {
    for (size_t i = 0; s->hosts && s->hosts[i]; i++) free(s->hosts[i]);
    free(s->hosts);
    free(s->token);
    if (s->ino_fd >= 0) close(s->ino_fd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static http_server *new_server(const http_opts *o, const char *addr, bool loopback,
                               const char *token) {
    http_server *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    snprintf(s->config_dir, sizeof s->config_dir, "%s", o->config_dir);
    config_watch_open(s);   /* before the first load: nothing is missed */
    snprintf(s->listen_addr, sizeof s->listen_addr, "%s", addr);
    snprintf(s->log_level, sizeof s->log_level, "%s", log_level_name(log_get_level()));
    s->loopback = loopback;
    s->proc = o->proc;
    s->started_at = st_time_now();
    s->deadline_ms = (int64_t)(o->deadline_s ? o->deadline_s : 10) * 1000;
    ssize_t n = readlink("/proc/self/exe", s->self_exe, sizeof s->self_exe - 1);
    s->self_exe[n > 0 ? n : 0] = '\0';
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->token = strdup(token);
    const char *hosts = o->allowed_hosts ? o->allowed_hosts : getenv("SYNCTOOL_API_HOSTS");
    s->hosts = split_hosts(hosts);
    if (s->token == NULL || s->hosts == NULL) {
        free_server(s);
        return NULL;
    }
    return s;
}

/* Starts libmicrohttpd and the sweep with every signal blocked: their
 * threads inherit the mask, so SIGTERM and friends always reach the thread
 * that waits for them (serve's sigtimedwait, the scheduler's signalfd). */
static int start_threads(http_server *s, const char *addr, uint16_t port, const http_opts *o) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    s->daemon = http_bind(s, addr, port, o);
    if (s->daemon != NULL && pthread_create(&s->sweeper, NULL, http_sweep, s) == 0)
        s->sweeper_started = true;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return s->daemon != NULL && s->sweeper_started ? 0 : -1;
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
    if (has_token && strlen(o->token) > HTTP_TOKEN_MAX)
        return st_error_set(err, ST_EINVAL, "SYNCTOOL_API_TOKEN is %zu bytes long; the "
                            "longest accepted is %d: use a shorter token", strlen(o->token),
                            HTTP_TOKEN_MAX);
    if (!loopback && !has_token)
        return st_error_set(err, ST_EINVAL,
                            "refusing to listen on %s without a token: set SYNCTOOL_API_TOKEN "
                            "or listen on 127.0.0.1", listen);
    http_server *s = new_server(o, addr, loopback, has_token ? o->token : "");
    if (s == NULL) return st_error_set(err, ST_ENOMEM, "http: out of memory");
    if (start_threads(s, addr, port, o) != 0) {
        http_server_stop(s);
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
    if (s->sweeper_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->sweeper, NULL);
    }
    if (s->daemon) MHD_stop_daemon(s->daemon);
    for (size_t i = 0; i < s->npool; i++) handles_close(s->pool[i].st, s->pool[i].lm);
    pthread_mutex_lock(&s->mu);
    cfg_unref(s->cur);
    pthread_mutex_unlock(&s->mu);
    free_server(s);
}
