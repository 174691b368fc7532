/*
 * notify — detection: which transitions deserve an alert (see notify.h).
 *
 * notify_check() reads every record once (state_list, sorted), then walks the
 * config: per strategy it derives the health (ok / failing / paused) from the
 * record and the last-notified health, per pipeline the freshness level from
 * the newest successful run of any strategy, made worse by a cdc strategy
 * whose slot retained half of its max_slot_lag (warn) or more than it
 * (error) at its last run (notify_pipeline_fresh: the figures the run
 * recorded, cdc_figures_read; never a query to the source). A change is recorded in one
 * atomic step of the store: the new last-notified value and one outbox
 * entry per webhook that takes the event (state_outbox_add). A process that
 * dies before it loses nothing, one that dies after it repeats nothing: one
 * alert per transition, exactly once into the outbox; notify_send.c then
 * delivers from the outbox until a 2xx or the retry horizon.
 *
 * The last-notified values are cached per (pipeline, strategy) slot after
 * the first read, so a tick costs one state_list and no meta reads (but two
 * per cdc strategy with a max_slot_lag: its slot figures); a config
 * reload (notifier_set_config) drops the cache. Only the leading scheduler
 * checks, so two processes never race on the same transition.
 */
#include "notify.h"
#include "notify_int.h"

#include "../cdc/cdc.h"
#include "../json/json.h"
#include "../log/log.h"
#include "../sched/sched.h"
#include "../time/st_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_HEALTH "notify.health"
#define META_FRESH "notify.freshness"
#define PIPELINE_SCOPE "*"

/* --- the pure decisions --- */

notify_health notify_health_next(const state_record *r, int64_t max_retry, notify_health prev) {
    if (r->paused) return NOTIFY_HELD;
    if (prev == NOTIFY_HELD) prev = NOTIFY_OK; /* resumed: what the status says, else ok */
    const char *name = state_status_name(r->status);
    if (strcmp(name, "failed") == 0 || strcmp(name, "lost") == 0)
        return r->retry_count >= max_retry ? NOTIFY_PAUSED : NOTIFY_FAILING;
    if (strcmp(name, "success") == 0) return NOTIFY_OK;
    return prev;
}

notify_fresh notify_fresh_level(const config_freshness *f, int64_t last_success, int64_t now) {
    if (f->warn_after_s <= 0 && f->error_after_s <= 0) return NOTIFY_FRESH_UNKNOWN;
    if (last_success == ST_TIME_NONE) return NOTIFY_FRESH_UNKNOWN;
    int64_t age_s = (now - last_success) / ST_USEC;
    if (f->error_after_s > 0 && age_s >= f->error_after_s) return NOTIFY_FRESH_ERROR;
    if (f->warn_after_s > 0 && age_s >= f->warn_after_s) return NOTIFY_FRESH_WARN;
    return NOTIFY_FRESH_OK;
}

notify_fresh notify_slot_level(int64_t retained, int64_t max_slot_lag) {
    if (max_slot_lag <= 0 || retained < 0) return NOTIFY_FRESH_UNKNOWN;
    if (retained > max_slot_lag) return NOTIFY_FRESH_ERROR;
    if (retained >= max_slot_lag - max_slot_lag / 2) return NOTIFY_FRESH_WARN;  /* half, rounded up */
    return NOTIFY_FRESH_OK;
}

notify_fresh notify_pipeline_fresh(const config_pipeline *p, int64_t last_success,
                                   const int64_t *retained, int64_t now, int *slot) {
    notify_fresh level = notify_fresh_level(&p->freshness, last_success, now);
    int by = -1;
    for (size_t i = 0; retained != NULL && i < p->nstrategies; i++) {
        if (p->strategies[i].type != CONFIG_STRATEGY_CDC) continue;
        notify_fresh l = notify_slot_level(retained[i], p->strategies[i].max_slot_lag);
        if (l > level) {
            level = l;
            by = (int)i;
        }
    }
    if (slot) *slot = by;
    return level;
}

unsigned notify_transition(notify_health prev, notify_health cur) {
    if (prev == cur) return 0;
    if (cur == NOTIFY_PAUSED || cur == NOTIFY_HELD) return CONFIG_NOTIFY_PAUSED;
    if (cur == NOTIFY_FAILING) return prev == NOTIFY_OK ? CONFIG_NOTIFY_FAILED : 0;
    return CONFIG_NOTIFY_RECOVERED;
}

const char *notify_health_name(notify_health h) {
    static const char *const names[] = {"ok", "failing", "paused", "held"};
    return names[h];
}

const char *notify_fresh_name(notify_fresh f) {
    static const char *const names[] = {"unknown", "ok", "warn", "error"};
    return names[f];
}

static int parse_health(const char *s) {
    if (strcmp(s, "ok") == 0) return NOTIFY_OK;
    if (strcmp(s, "failing") == 0) return NOTIFY_FAILING;
    if (strcmp(s, "paused") == 0) return NOTIFY_PAUSED;
    if (strcmp(s, "held") == 0) return NOTIFY_HELD;
    return -1;
}

static int parse_fresh(const char *s) {
    for (int i = 0; i <= NOTIFY_FRESH_ERROR; i++)
        if (strcmp(s, notify_fresh_name((notify_fresh)i)) == 0) return i;
    return -1;
}

/* --- the alert body --- */

char *notify_alert_json(const notify_alert *a) {
    static const struct { unsigned bit; const char *name; } names[] = {
        {CONFIG_NOTIFY_FAILED, "failed"}, {CONFIG_NOTIFY_PAUSED, "paused"},
        {CONFIG_NOTIFY_RECOVERED, "recovered"}, {CONFIG_NOTIFY_FRESHNESS, "freshness"}};
    const char *event = "unknown";
    for (size_t i = 0; i < 4; i++)
        if (names[i].bit == a->event) event = names[i].name;
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_string(&w, "text", a->text);
    json_kv_string(&w, "event", event);
    json_kv_string(&w, "pipeline", a->pipeline);
    json_key(&w, "strategy");
    if (a->strategy[0]) json_string(&w, a->strategy); else json_null(&w);
    json_kv_string(&w, "status", a->status);
    json_key(&w, "run_id");
    if (a->run_id > 0) json_int(&w, a->run_id); else json_null(&w);
    json_kv_int(&w, "retry_count", a->retry_count);
    json_key(&w, "freshness_s");
    if (a->freshness_s >= 0) json_double(&w, a->freshness_s); else json_null(&w);
    json_key(&w, "slot_retained_bytes");
    if (a->slot_retained >= 0) json_int(&w, a->slot_retained); else json_null(&w);
    json_key(&w, "error");
    if (a->error[0]) json_string(&w, a->error); else json_null(&w);
    json_kv_time(&w, "at", a->at);
    json_end_object(&w);
    if (w.failed) {
        json_release(&w);
        return NULL;
    }
    return w.buf; /* owned by the caller now */
}

/* "2h 10m", "2h", "45m", "30s": two units at most, a zero second unit left out. */
static void fmt_age(int64_t s, char *buf, size_t n) {
    static const struct { int64_t secs; const char *name; } u[] = {
        {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    for (size_t i = 0; i < 3; i++) {
        if (s < u[i].secs) continue;
        int64_t rest = s % u[i].secs / u[i + 1].secs;
        if (rest) snprintf(buf, n, "%" PRId64 "%s %" PRId64 "%s", s / u[i].secs, u[i].name,
                           rest, u[i + 1].name);
        else snprintf(buf, n, "%" PRId64 "%s", s / u[i].secs, u[i].name);
        return;
    }
    snprintf(buf, n, "%" PRId64 "s", s);
}

static void health_alert(notify_alert *a, unsigned event, const config_pipeline *p,
                         const state_record *r, notify_health prev, notify_health cur,
                         int64_t now, int64_t pause_after) {
    memset(a, 0, sizeof *a);
    a->event = event;
    snprintf(a->pipeline, sizeof a->pipeline, "%s", p->name);
    snprintf(a->strategy, sizeof a->strategy, "%s", r->strategy);
    snprintf(a->status, sizeof a->status, "%s", state_status_name(r->status));
    snprintf(a->error, sizeof a->error, "%s", r->error);
    a->run_id = r->run_id;
    a->retry_count = r->retry_count;
    a->at = now;
    a->freshness_s = -1;
    a->slot_retained = -1;
    const char *err = r->error[0] ? r->error : "no error text";
    if (event == CONFIG_NOTIFY_FAILED && r->retry_count == 0)
        snprintf(a->text, sizeof a->text, ":x: %s:%s failed (run %" PRId64 ", a manual run: "
                 "it does not count toward the pause): %s", p->name, r->strategy, r->run_id,
                 err);
    else if (event == CONFIG_NOTIFY_FAILED)
        snprintf(a->text, sizeof a->text, ":x: %s:%s failed (run %" PRId64 ", failure %" PRId64
                 " of %" PRId64 " before it pauses): %s", p->name, r->strategy, r->run_id,
                 r->retry_count, pause_after, err);
    else if (cur == NOTIFY_HELD)
        snprintf(a->text, sizeof a->text, ":double_vertical_bar: %s:%s was paused by an operator "
                 "and will not be scheduled until resumed (manual runs still work)", p->name,
                 r->strategy);
    else if (prev == NOTIFY_HELD && event == CONFIG_NOTIFY_RECOVERED)
        snprintf(a->text, sizeof a->text, ":arrow_forward: %s:%s was resumed and is scheduled "
                 "again", p->name, r->strategy);
    else if (event == CONFIG_NOTIFY_PAUSED)
        snprintf(a->text, sizeof a->text, ":double_vertical_bar: %s:%s is paused after %" PRId64
                 " consecutive failures and will not be scheduled until reset. Last error: %s."
                 " Fix the cause, then run: synctool reset %s --strategy %s", p->name,
                 r->strategy, r->retry_count, err, p->name, r->strategy);
    else
        snprintf(a->text, sizeof a->text, ":white_check_mark: %s:%s recovered: run %" PRId64
                 " succeeded", p->name, r->strategy, r->run_id);
}

/* A freshness level decided by strategy `k`'s replication slot. */
static void slot_alert(notify_alert *a, const config_pipeline *p, notify_fresh level, size_t k,
                       int64_t retained) {
    const config_strategy *cs = &p->strategies[k];
    snprintf(a->strategy, sizeof a->strategy, "%s", cs->name);
    a->slot_retained = retained;
    long long kept = (long long)retained, max = (long long)cs->max_slot_lag;
    if (level == NOTIFY_FRESH_ERROR)
        snprintf(a->text, sizeof a->text, ":rotating_light: %s:%s: its replication slot retains "
                 "%lld bytes of WAL on the source, more than max_slot_lag (%lld): its runs fail "
                 "and the source's disk fills; see synctool why %s, or drop the slot with "
                 "synctool cdc drop %s (the next run copies the table in full)", p->name,
                 cs->name, kept, max, p->name, p->name);
    else if (level == NOTIFY_FRESH_WARN)
        snprintf(a->text, sizeof a->text, ":warning: %s:%s: its replication slot retains %lld "
                 "bytes of WAL on the source, over half of max_slot_lag (%lld); past it the "
                 "runs fail: run the strategy more often or see synctool why %s", p->name,
                 cs->name, kept, max, p->name);
    else
        snprintf(a->text, sizeof a->text, ":white_check_mark: %s:%s: its replication slot "
                 "retains %lld bytes of WAL, below half of max_slot_lag (%lld)", p->name,
                 cs->name, kept, max);
}

static void fresh_alert(notify_alert *a, const config_pipeline *p, notify_fresh level,
                        int64_t last_success, int64_t now, int slot, int64_t retained) {
    memset(a, 0, sizeof *a);
    a->event = CONFIG_NOTIFY_FRESHNESS;
    snprintf(a->pipeline, sizeof a->pipeline, "%s", p->name);
    snprintf(a->status, sizeof a->status, "%s", notify_fresh_name(level));
    a->at = now;
    a->slot_retained = -1;
    a->freshness_s = last_success != ST_TIME_NONE ? (double)(now - last_success) / 1e6 : -1;
    if (slot >= 0) {   /* (the age decides whenever it is known and as bad) */
        slot_alert(a, p, level, (size_t)slot, retained);
        return;
    }
    int64_t age = (now - last_success) / ST_USEC;
    char agebuf[32], lim[32], since[40];
    fmt_age(age, agebuf, sizeof agebuf);
    st_time_format(last_success, since, sizeof since);
    if (level == NOTIFY_FRESH_OK) {
        snprintf(a->text, sizeof a->text, ":white_check_mark: %s data is fresh again: last "
                 "successful run started %s ago (%s)", p->name, agebuf, since);
        return;
    }
    bool err = level == NOTIFY_FRESH_ERROR;
    fmt_age(err ? p->freshness.error_after_s : p->freshness.warn_after_s, lim, sizeof lim);
    snprintf(a->text, sizeof a->text, "%s %s data is stale: last successful run started %s ago"
             " (%s), over the %s threshold of %s", err ? ":rotating_light:" : ":warning:",
             p->name, agebuf, since, err ? "error" : "warn", lim);
}

/* --- the last-notified cache --- */

/* Slot of (pipeline i, strategy j); strategy index nstrategies is the
 * pipeline's freshness. -1 = not read yet. */
static int8_t *slot(notifier *n, size_t i, size_t j) {
    return &n->cache[n->offsets[i] + j];
}

int notify_cache_build(notifier *n) {
    free(n->cache);
    free(n->offsets);
    n->cache = NULL;
    n->offsets = NULL;
    const config *cfg = n->cfg;
    size_t total = 0;
    n->offsets = calloc(cfg->npipelines + 1, sizeof *n->offsets);
    if (n->offsets == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        n->offsets[i] = total;
        total += cfg->pipelines[i].nstrategies + 1;
    }
    n->cache = malloc(total ? total : 1);
    if (n->cache == NULL) return ST_ENOMEM;
    memset(n->cache, -1, total ? total : 1);
    return ST_OK;
}

/* The stored value for a slot, read once from the state's meta store. */
static int load_slot(notifier *n, state *st, const char *p, const char *s, const char *key,
                     int (*parse)(const char *), int8_t *v) {
    if (*v >= 0) return ST_OK;
    char buf[32];
    st_error e;
    int rc = state_meta_get(st, p, s, key, buf, sizeof buf, &e);
    if (rc == ST_ENOTFOUND) {
        *v = 0; /* ok / unknown */
        return ST_OK;
    }
    if (rc != ST_OK) return rc;
    int parsed = parse(buf);
    *v = (int8_t)(parsed < 0 ? 0 : parsed);
    (void)n;
    return ST_OK;
}

/* Records a transition: the last-notified value of the slot and, when some
 * webhook takes the event, one outbox entry per such webhook, in one atomic
 * step of the store. A crash before it loses nothing (the next pass sees the
 * same transition); a crash after it repeats nothing (the value is stored).
 * Returns the number of webhooks the alert was queued for, or -1. */
/* The alert's JSON, made to fit an outbox entry: a body that would not
 * (error text full of characters JSON escapes six-fold) loses its error
 * field and the end of its text rather than becoming invalid JSON. */
static char *fitting_json(const notify_alert *a) {
    char *body = notify_alert_json(a);
    if (body == NULL || strlen(body) < sizeof ((state_alert *)0)->body) return body;
    free(body);
    notify_alert short_a = *a;
    short_a.error[0] = '\0';
    short_a.text[200] = '\0';
    return notify_alert_json(&short_a);
}

static int record(notifier *n, state *st, const char *p, const char *s, const char *key,
                  const char *value, const notify_alert *a) {
    char *body = a ? fitting_json(a) : NULL;
    state_alert *entries = a ? calloc(n->nhooks ? n->nhooks : 1, sizeof *entries) : NULL;
    size_t k = 0;
    static const char *const ev_names[] = {"failed", "paused", "recovered", "freshness"};
    for (size_t i = 0; a && body && entries && i < n->nhooks; i++) {
        if (!(n->hooks[i].events & a->event)) continue;
        state_alert *e = &entries[k++];
        snprintf(e->key, sizeof e->key, "%s\x1f%s\x1f%s=%s\x1f%" PRId64 "\x1f%" PRId64 "\x1f%s", p,
                 s, key, value, a->run_id, a->at, n->hooks[i].id);
        snprintf(e->hook, sizeof e->hook, "%s", n->hooks[i].id);
        snprintf(e->pipeline, sizeof e->pipeline, "%s", p);
        snprintf(e->strategy, sizeof e->strategy, "%s", s);
        for (unsigned bit = 0; bit < 4; bit++)
            if (a->event == (1u << bit)) snprintf(e->event, sizeof e->event, "%s", ev_names[bit]);
        e->status = STATE_ALERT_PENDING;
        e->created_at = e->next_at = e->updated_at = a->at;
        snprintf(e->body, sizeof e->body, "%s", body);
    }
    st_error e;
    int rc = (a && (body == NULL || entries == NULL))
                 ? st_error_set(&e, ST_ENOMEM, "out of memory")
                 : state_outbox_add(st, entries, k, p, s, key, value, &e);
    free(body);
    free(entries);
    if (rc != ST_OK) {
        log_warn(p, s[0] == '*' ? NULL : s, "cannot record the alert state: %s", e.msg);
        return -1;
    }
    notify_mark_wake(n, a ? a->event : 0);
    return (int)k;
}

/* --- the pass --- */

/* Logs and counts a recorded alert. */
static void queued_alert(const notify_alert *a, int hooks, size_t *queued) {
    if (hooks <= 0) return;
    log_info(a->pipeline, a->strategy[0] ? a->strategy : NULL, "alert: %s (queued for %d "
             "webhook(s))", a->text, hooks);
    (*queued)++;
}

static void check_strategy(notifier *n, state *st, const config_pipeline *p, size_t i,
                           size_t j, const state_record *r, int64_t now, size_t *queued) {
    int8_t *sv = slot(n, i, j);
    if (load_slot(n, st, p->name, r->strategy, META_HEALTH, parse_health, sv) != ST_OK) return;
    notify_health prev = (notify_health)*sv;
    /* rule 2's threshold (sched.c): the strategy's cron is compiled only on a
     * transition or once the count could pause it */
    const config_strategy *cs = &p->strategies[j];
    int64_t after = p->retry.max_retry_count;
    if (r->retry_count >= after) after = sched_pause_after_strategy(p, cs, r, now);
    notify_health cur = notify_health_next(r, after, prev);
    if (cur == prev) return;
    unsigned ev = notify_transition(prev, cur);
    if (ev == CONFIG_NOTIFY_FAILED) after = sched_pause_after_strategy(p, cs, r, now);
    notify_alert a;
    if (ev) health_alert(&a, ev, p, r, prev, cur, now, after);
    int hooks = record(n, st, p->name, r->strategy, META_HEALTH, notify_health_name(cur),
                       ev ? &a : NULL);
    if (hooks < 0) return;
    *sv = (int8_t)cur;
    if (ev) queued_alert(&a, hooks, queued);
}

/* Each cdc strategy's retained WAL (cdc_figures_read) into retained[]
 * (-1 = unknown), read only for those with a max_slot_lag: the others
 * cannot change the level. false: none has one (retained[] untouched). */
static bool read_slots(state *st, const config_pipeline *p, int64_t *retained) {
    bool any = false;
    for (size_t j = 0; j < p->nstrategies; j++) {
        const config_strategy *cs = &p->strategies[j];
        retained[j] = -1;
        if (cs->type != CONFIG_STRATEGY_CDC || cs->max_slot_lag <= 0) continue;
        cdc_figures f;
        cdc_figures_read(st, p->name, cs->name, &f);
        retained[j] = f.retained;
        any = true;
    }
    return any;
}

static void check_freshness(notifier *n, state *st, const config_pipeline *p, size_t i,
                            int64_t last_success, int64_t now, size_t *queued) {
    int64_t *retained = calloc(p->nstrategies ? p->nstrategies : 1, sizeof *retained);
    if (retained == NULL) return;   /* the next pass sees the same */
    bool slots = read_slots(st, p, retained);
    int by = -1;
    notify_fresh level = notify_pipeline_fresh(p, last_success, slots ? retained : NULL, now,
                                               &by);
    int64_t kept = by >= 0 ? retained[by] : -1;
    free(retained);
    if (level == NOTIFY_FRESH_UNKNOWN) return;
    int8_t *sv = slot(n, i, p->nstrategies);
    if (load_slot(n, st, p->name, PIPELINE_SCOPE, META_FRESH, parse_fresh, sv) != ST_OK) return;
    notify_fresh prev = (notify_fresh)*sv;
    if (level == prev) return;
    /* First sight of fresh data is no news; anything else is a crossing. */
    bool news = !(prev == NOTIFY_FRESH_UNKNOWN && level == NOTIFY_FRESH_OK);
    notify_alert a;
    if (news) fresh_alert(&a, p, level, last_success, now, by, kept);
    int hooks = record(n, st, p->name, PIPELINE_SCOPE, META_FRESH, notify_fresh_name(level),
                       news ? &a : NULL);
    if (hooks < 0) return;
    *sv = (int8_t)level;
    if (news) queued_alert(&a, hooks, queued);
}

/* Hourly: closed outbox entries older than NOTIFY_KEEP_CLOSED_S go. */
static void prune_outbox(notifier *n, state *st, int64_t now) {
    if (now < n->next_prune) return;
    n->next_prune = now + 3600 * ST_USEC;
    int64_t removed = 0;
    st_error e;
    if (state_outbox_prune(st, now - NOTIFY_KEEP_CLOSED_S * ST_USEC, &removed, &e) != ST_OK)
        log_warn(NULL, NULL, "alert outbox pruning failed: %s", e.msg);
}

int notify_check(notifier *n, state *st, int64_t now, size_t *queued, st_error *err) {
    size_t dummy = 0;
    if (queued == NULL) queued = &dummy;
    *queued = 0;
    if (n == NULL || !n->active) return ST_OK;
    if (n->cache == NULL && notify_cache_build(n) != ST_OK)
        return st_error_set(err, ST_ENOMEM, "notify: out of memory");
    state_record *recs = NULL;
    size_t nrec = 0;
    int rc = state_list(st, &recs, &nrec, err);
    if (rc != ST_OK) return rc;
    const config *cfg = n->cfg;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        int64_t last_success = ST_TIME_NONE;
        for (size_t j = 0; j < p->nstrategies; j++) {
            const state_record *r = state_list_find(recs, nrec, p->name, p->strategies[j].name);
            if (r == NULL) continue;
            if (r->last_run != ST_TIME_NONE && r->last_run <= now &&
                (last_success == ST_TIME_NONE || r->last_run > last_success))
                last_success = r->last_run;
            check_strategy(n, st, p, i, j, r, now, queued);
        }
        check_freshness(n, st, p, i, last_success, now, queued);
    }
    free(recs);
    prune_outbox(n, st, now);
    notify_wake(n, now);
    return ST_OK;
}
