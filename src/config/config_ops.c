/*
 * config_ops — the operating keys: how long history is kept, where alerts go
 * and when a pipeline's data counts as stale (DESIGN §6).
 *
 *   datastores.yaml:
 *     history: {keep_days: 30, keep_runs: 50000}
 *     notify:
 *       webhooks:
 *         - {url: "${SLACK_WEBHOOK_URL}", events: [failed, paused, recovered, freshness]}
 *       timeout_seconds: 10
 *       max_attempts: 0     # 0 = until retry_for has passed
 *       retry_for: 6h
 *   pipelines/NAME.yaml:
 *     freshness: {warn_after: 2h, error_after: 6h}
 *
 * Durations are an integer of seconds or a number with a unit s, m, h or d.
 * Webhook URLs usually carry a token, so no message here ever prints one:
 * problems name the key path (notify.webhooks[0].url) instead.
 */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- history --- */

static void parse_history(config_loader *ld, const config_node *m, config_history *h) {
    static const char *const keys[] = {"keep_days", "keep_runs", NULL};
    if (!config_check_map(ld, m, "history", NULL, keys)) return;
    config_get_int(ld, m, "history", "keep_days", 0, 36500, &h->keep_days);
    config_get_int(ld, m, "history", "keep_runs", 0, 100000000, &h->keep_runs);
}

/* --- notify --- */

static const struct { const char *name; unsigned bit; } event_names[] = {
    {"failed", CONFIG_NOTIFY_FAILED}, {"paused", CONFIG_NOTIFY_PAUSED},
    {"recovered", CONFIG_NOTIFY_RECOVERED}, {"freshness", CONFIG_NOTIFY_FRESHNESS},
};

static bool parse_events(config_loader *ld, const config_node *seq, const char *path,
                         unsigned *out) {
    if (seq->kind != CONFIG_NODE_SEQ) {
        config_problem_add(ld, seq->line, seq->col, "%s: expected a list of events "
                           "(failed, paused, recovered, freshness), got %s", path,
                           config_kind_name(seq));
        return false;
    }
    unsigned mask = 0;
    bool ok = true;
    for (size_t i = 0; i < seq->n; i++) {
        const config_node *v = seq->vals[i];
        unsigned bit = 0;
        for (size_t k = 0; v->kind == CONFIG_NODE_SCALAR && k < 4; k++)
            if (strcmp(v->value, event_names[k].name) == 0) bit = event_names[k].bit;
        if (bit == 0) {
            config_problem_add(ld, v->line, v->col, "%s[%zu]: unknown event \"%s\" (expected "
                               "failed, paused, recovered or freshness)", path, i,
                               v->kind == CONFIG_NODE_SCALAR ? v->value : config_kind_name(v));
            ok = false;
        }
        mask |= bit;
    }
    if (ok) *out = mask;
    return ok;
}

static void parse_webhook(config_loader *ld, const config_node *m, const char *path,
                          config_webhook *w) {
    static const char *const keys[] = {"url", "events", NULL};
    w->events = CONFIG_NOTIFY_ALL;
    if (!config_check_map(ld, m, path, NULL, keys)) return;
    if (config_get_string(ld, m, path, "url", true, &w->url) && w->url != NULL &&
        strncmp(w->url, "http://", 7) != 0 && strncmp(w->url, "https://", 8) != 0) {
        const config_node *v = config_map_get(m, "url");
        config_problem_add(ld, v->line, v->col, "%s.url: expected an http:// or https:// URL "
                           "(the value is not shown: it may hold a token)", path);
    }
    const config_node *ev = config_map_get(m, "events");
    char ep[512];
    config_key_path(ep, sizeof ep, path, "events");
    if (ev != NULL) parse_events(ld, ev, ep, &w->events);
}

static bool parse_duration(const char *s, int64_t *out);

static void parse_notify(config_loader *ld, const config_node *m, config_notify *n) {
    static const char *const keys[] = {"webhooks", "timeout_seconds", "max_attempts",
                                       "retry_for", NULL};
    if (!config_check_map(ld, m, "notify", NULL, keys)) return;
    config_get_int(ld, m, "notify", "timeout_seconds", 1, 300, &n->timeout_seconds);
    config_get_int(ld, m, "notify", "max_attempts", 0, 1000, &n->max_attempts);
    const config_node *rf = config_map_get(m, "retry_for");
    if (rf != NULL && (rf->kind != CONFIG_NODE_SCALAR || !parse_duration(rf->value,
                                                                          &n->retry_for_s)))
        config_problem_add(ld, rf->line, rf->col, "notify.retry_for: expected a duration such "
                           "as 90s, 30m, 6h or 2d, got \"%s\"",
                           rf->kind == CONFIG_NODE_SCALAR ? rf->value : config_kind_name(rf));
    const config_node *hooks = config_map_get(m, "webhooks");
    if (hooks == NULL) {
        config_missing(ld, m, "notify", "webhooks");
        return;
    }
    if (hooks->kind != CONFIG_NODE_SEQ) {
        config_problem_add(ld, hooks->line, hooks->col, "notify.webhooks: expected a list of "
                           "{url, events}, got %s", config_kind_name(hooks));
        return;
    }
    n->webhooks = calloc(hooks->n ? hooks->n : 1, sizeof *n->webhooks);
    if (n->webhooks == NULL) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < hooks->n; i++) {
        char path[64];
        snprintf(path, sizeof path, "notify.webhooks[%zu]", i);
        parse_webhook(ld, hooks->vals[i], path, &n->webhooks[n->nwebhooks++]);
    }
}

void config_parse_operations(config_loader *ld, config *cfg, const config_node *root) {
    cfg->history = (config_history){30, 50000};
    cfg->notify = (config_notify){NULL, 0, 10, 0, 6 * 3600};
    if (root == NULL || root->kind != CONFIG_NODE_MAP) return;
    const config_node *h = config_map_get(root, "history");
    if (h != NULL && !(h->kind == CONFIG_NODE_SCALAR && h->is_null))
        parse_history(ld, h, &cfg->history);
    const config_node *n = config_map_get(root, "notify");
    if (n != NULL && !(n->kind == CONFIG_NODE_SCALAR && n->is_null))
        parse_notify(ld, n, &cfg->notify);
}

void config_free_operations(config *cfg) {
    for (size_t i = 0; i < cfg->notify.nwebhooks; i++) free(cfg->notify.webhooks[i].url);
    free(cfg->notify.webhooks);
    cfg->notify.webhooks = NULL;
    cfg->notify.nwebhooks = 0;
}

/* --- freshness --- */

/* "90", "90s", "15m", "2h", "1d" -> seconds; false if malformed. */
static bool parse_duration(const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    if (!isdigit((unsigned char)s[0])) return false;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || v <= 0) return false;
    int64_t unit = 1;
    if (*end == 's') unit = 1, end++;
    else if (*end == 'm') unit = 60, end++;
    else if (*end == 'h') unit = 3600, end++;
    else if (*end == 'd') unit = 86400, end++;
    if (*end != '\0' || v > 3650LL * 86400 / unit) return false;
    *out = v * unit;
    return true;
}

bool config_parse_duration0(const char *s, int64_t *out) {
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return true;
    }
    return parse_duration(s, out);
}

static bool get_duration(config_loader *ld, const config_node *m, const char *key,
                         int64_t *out) {
    const config_node *v = config_map_get(m, key);
    if (v == NULL) return true;
    if (v->kind != CONFIG_NODE_SCALAR || !parse_duration(v->value, out)) {
        config_problem_add(ld, v->line, v->col, "freshness.%s: expected a duration such as "
                           "90s, 30m, 2h or 1d, got \"%s\"", key,
                           v->kind == CONFIG_NODE_SCALAR ? v->value : config_kind_name(v));
        return false;
    }
    return true;
}

void config_parse_freshness(config_loader *ld, const config_node *root, config_pipeline *p) {
    static const char *const keys[] = {"warn_after", "error_after", NULL};
    p->freshness = (config_freshness){0, 0};
    const config_node *m = config_map_get(root, "freshness");
    if (m == NULL || (m->kind == CONFIG_NODE_SCALAR && m->is_null)) return;
    if (!config_check_map(ld, m, "freshness", NULL, keys)) return;
    if (config_map_get(m, "warn_after") == NULL && config_map_get(m, "error_after") == NULL) {
        config_problem_add(ld, m->line, m->col, "freshness: set warn_after, error_after or "
                           "both (e.g. {warn_after: 2h, error_after: 6h})");
        return;
    }
    bool ok = get_duration(ld, m, "warn_after", &p->freshness.warn_after_s);
    ok = get_duration(ld, m, "error_after", &p->freshness.error_after_s) && ok;
    const config_freshness *f = &p->freshness;
    if (ok && f->warn_after_s && f->error_after_s && f->error_after_s <= f->warn_after_s) {
        const config_node *v = config_map_get(m, "error_after");
        config_problem_add(ld, v->line, v->col, "freshness.error_after: must be longer than "
                           "warn_after (%llds), got %llds", (long long)f->warn_after_s,
                           (long long)f->error_after_s);
    }
}

/* --- redaction --- */

void config_url_redact(const char *url, char *buf, size_t n) {
    if (url == NULL) {
        snprintf(buf, n, "-");
        return;
    }
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strpbrk(host, "@/?#");
    if (at && *at == '@') host = at + 1; /* drop user:password@ */
    size_t scheme = (size_t)(host - url);
    const char *end = strpbrk(host, "/?#");
    size_t hl = end ? (size_t)(end - host) : strlen(host);
    const char *sep = strstr(url, "://");
    size_t sl = sep ? (size_t)(sep - url) + 3 : 0;
    (void)scheme;
    snprintf(buf, n, "%.*s%.*s%s", (int)sl, url, (int)hl, host, end ? "/…" : "");
}
