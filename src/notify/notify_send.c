/*
 * notify_send — delivery of alerts from the outbox (see notify.h).
 *
 * One thread per webhook, each with its own state handle, so a slow or
 * hanging receiver delays only its own alerts. A thread lists its hook's
 * pending outbox entries, POSTs each that is due (libcurl easy interface:
 * Content-Type application/json, notify.timeout_seconds per attempt, no
 * redirects) and writes the outcome back to the store:
 *   2xx          delivered (the only way an entry is marked delivered);
 *   otherwise    retried after 1 s, 2 s, 4 s, ... at most 5 min
 *                (notify_backoff), until notify.retry_for has passed since
 *                the alert (or max_attempts, if set): then failed, given up.
 * Then it sleeps until its next due entry, new entries, or a stop.
 *
 * Stopping (notifier_close) is bounded by NOTIFY_STOP_MS: each thread makes
 * one attempt of what is due; at the deadline transfers in flight are cut
 * short. What is not delivered stays pending in the outbox for the next
 * process, and each hook logs how many it left.
 *
 * Times are the notifier's clock (notify_clock): the scheduler's `now`
 * (injected with --at) advanced by the monotonic clock. URLs are logged
 * only as config_url_redact() shows them (scheme and host).
 */
#include "notify_int.h"

#include "../log/log.h"
#include "../time/st_time.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTIFY_IDLE_MS 60000       /* a thread looks at the outbox at least this often */

int64_t notify_backoff_us(int64_t attempts) {
    int64_t s = 1;
    for (int64_t i = 1; i < attempts && s < NOTIFY_BACKOFF_MAX_S; i++) s *= 2;
    return (s > NOTIFY_BACKOFF_MAX_S ? NOTIFY_BACKOFF_MAX_S : s) * ST_USEC;
}

bool notify_outcome(state_alert *a, bool ok, const char *why, int64_t now, int64_t retry_for_us,
                    int64_t max_attempts) {
    a->attempts++;
    a->updated_at = now;
    if (ok) {
        a->status = STATE_ALERT_DELIVERED;
        a->last_error[0] = '\0';
        return true;
    }
    snprintf(a->last_error, sizeof a->last_error, "%s", why);
    a->next_at = now + notify_backoff_us(a->attempts);
    bool expired = a->next_at - a->created_at > retry_for_us;
    if (expired || (max_attempts > 0 && a->attempts >= max_attempts))
        a->status = STATE_ALERT_FAILED;
    return false;
}

void notify_hook_id(const char *url, char id[24]) {
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    snprintf(id, 24, "%016" PRIx64, h);
}

int64_t notify_clock(const notifier *n) {
    return n->now_base + (st_time_mono_ms() - n->mono_base) * 1000;
}

/* --- one POST --- */

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* Aborts a transfer once the stop deadline has passed. */
static int xfer_check(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((notifier *)ud)->abort) ? 1 : 0;
}

/* 0 on a 2xx answer; otherwise fills why. */
static int post_once(notifier *n, const char *url, const char *body, int64_t timeout_ms,
                     char *why, size_t len) {
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(why, len, "cannot start libcurl");
        return -1;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xfer_check);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, n);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "synctool-notify/1");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    int out = -1;
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(why, len, "cut short: stopping");
    } else if (rc != CURLE_OK) {
        snprintf(why, len, "%s", curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) out = 0;
        else snprintf(why, len, "HTTP %ld", status);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return out;
}

/* --- one hook's thread --- */

static void log_outcome(const notify_hook *h, const state_alert *a, bool ok) {
    const char *s = a->strategy[0] && strcmp(a->strategy, "*") != 0 ? a->strategy : NULL;
    if (ok)
        log_info(a->pipeline, s, "alert %" PRId64 " (%s) delivered to %s on attempt %" PRId64,
                 a->id, a->event, h->shown, a->attempts);
    else if (a->status == STATE_ALERT_FAILED)
        log_error(a->pipeline, s, "alert %" PRId64 " (%s) to %s given up after %" PRId64
                  " attempt(s) (%s): NOT delivered", a->id, a->event, h->shown, a->attempts,
                  a->last_error);
    else
        log_warn(a->pipeline, s, "alert %" PRId64 " (%s) to %s failed (%s), attempt %" PRId64
                 "; retrying in %" PRId64 "s", a->id, a->event, h->shown, a->last_error,
                 a->attempts, (int64_t)((a->next_at - a->updated_at) / ST_USEC));
}

/* The time a thread may still spend on one POST: the per-attempt timeout,
 * or what is left of the stop deadline. Called with n->mu. */
static int64_t attempt_budget_ms(const notifier *n) {
    int64_t ms = n->timeout_s * 1000;
    if (n->draining) {
        int64_t left = n->drain_deadline - st_time_mono_ms();
        if (left < ms) ms = left > 1 ? left : 1;
    }
    return ms;
}

/* Attempts one due entry and records the outcome. */
static void attempt(notify_hook *h, state *st, state_alert *a) {
    notifier *n = h->n;
    char why[256] = "";
    pthread_mutex_lock(&n->mu);
    int64_t budget = attempt_budget_ms(n);
    pthread_mutex_unlock(&n->mu);
    bool ok = post_once(n, h->url, a->body, budget, why, sizeof why) == 0;
    pthread_mutex_lock(&n->mu);
    int64_t now = notify_clock(n);
    pthread_mutex_unlock(&n->mu);
    notify_outcome(a, ok, why, now, n->retry_for_us, n->max_attempts);
    st_error e;
    if (state_outbox_update(st, a, &e) != ST_OK)
        log_warn(a->pipeline, NULL, "alert %" PRId64 ": cannot record the delivery outcome "
                 "(%s); it may be sent again", a->id, e.msg);
    log_outcome(h, a, ok);
    pthread_mutex_lock(&n->mu);
    if (ok) h->delivered++;
    else if (a->status == STATE_ALERT_FAILED) h->failed++;
    pthread_mutex_unlock(&n->mu);
}

/* One pass over the hook's pending entries: attempts those due at `now`.
 * Returns the earliest next_at of what is left (INT64_MAX: nothing), and the
 * number left in *left. */
static int64_t pass(notify_hook *h, state *st, int64_t now, int64_t *left) {
    notifier *n = h->n;
    state_alert *arr = NULL;
    size_t cnt = 0;
    st_error e;
    *left = -1;
    if (state_outbox_list(st, h->id, true, &arr, &cnt, &e) != ST_OK) {
        log_warn(NULL, NULL, "alerts for %s: cannot read the outbox: %s", h->shown, e.msg);
        return now + 5 * ST_USEC;
    }
    int64_t next = INT64_MAX;
    int64_t open = 0;
    for (size_t i = 0; i < cnt; i++) {
        state_alert *a = &arr[i];
        if (a->next_at <= now && !atomic_load(&n->abort)) attempt(h, st, a);
        if (a->status != STATE_ALERT_PENDING) continue;
        open++;
        if (a->next_at < next) next = a->next_at;
    }
    free(arr);
    *left = open;
    return next;
}

/* Waits for new entries, the next due time, or a stop. Called with n->mu. */
static void hook_sleep(notify_hook *h, int64_t next, int64_t now) {
    notifier *n = h->n;
    int64_t ms = NOTIFY_IDLE_MS;
    if (next != INT64_MAX && (next - now) / 1000 < ms) ms = (next - now) / 1000;
    if (ms < 1) ms = 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while ((!n->clock_set || !h->wake) && !n->draining &&
           pthread_cond_timedwait(&n->cv, &n->mu, &ts) != ETIMEDOUT) {}
}

static void *hook_main(void *arg) {
    notify_hook *h = arg;
    notifier *n = h->n;
    state *st = NULL;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        while (!n->clock_set && !n->draining) pthread_cond_wait(&n->cv, &n->mu);
        if (!n->clock_set) break; /* stopped before any check: nothing to deliver */
        h->wake = false;
        bool last = n->draining;
        pthread_mutex_unlock(&n->mu);
        st_error e;
        if (st == NULL && state_open(&st, &n->state_url, &e) != ST_OK) {
            log_warn(NULL, NULL, "alerts for %s: cannot open the state: %s", h->shown, e.msg);
            st = NULL;
        }
        pthread_mutex_lock(&n->mu);
        int64_t now = notify_clock(n);
        pthread_mutex_unlock(&n->mu);
        int64_t left = -1;
        int64_t next = st ? pass(h, st, now, &left) : now + 5 * ST_USEC;
        pthread_mutex_lock(&n->mu);
        h->pending = left;
        if (last || n->draining) break;
        hook_sleep(h, next, notify_clock(n));
    }
    if (h->pending > 0)
        log_warn(NULL, NULL, "alerts for %s: %" PRId64 " not delivered yet; they stay in the "
                 "outbox and are retried by the next leading scheduler", h->shown, h->pending);
    pthread_mutex_unlock(&n->mu);
    state_close(st);
    return NULL;
}

/* --- the notifier --- */

void notify_mark_wake(notifier *n, unsigned event) {
    if (event == 0 || n->nhooks == 0) return;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nhooks; i++)
        if (n->hooks[i].events & event) n->hooks[i].wake = true;
    pthread_mutex_unlock(&n->mu);
}

void notify_wake(notifier *n, int64_t now) {
    if (n->nhooks == 0) return;
    pthread_mutex_lock(&n->mu);
    n->now_base = now;
    n->mono_base = st_time_mono_ms();
    n->clock_set = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static int copy_hooks(notifier *n, const config *cfg) {
    const config_notify *c = &cfg->notify;
    n->hooks = calloc(c->nwebhooks ? c->nwebhooks : 1, sizeof *n->hooks);
    n->state_url = cfg->state_url;
    if (n->hooks == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < c->nwebhooks; i++) {
        notify_hook *h = &n->hooks[i];
        h->n = n;
        h->events = c->webhooks[i].events;
        h->url = strdup(c->webhooks[i].url ? c->webhooks[i].url : "");
        if (h->url == NULL) return ST_ENOMEM;
        notify_hook_id(h->url, h->id);
        config_url_redact(h->url, h->shown, sizeof h->shown);
        n->nhooks++;
    }
    n->timeout_s = c->timeout_seconds > 0 ? c->timeout_seconds : 10;
    n->max_attempts = c->max_attempts > 0 ? c->max_attempts : 0;
    n->retry_for_us = (c->retry_for_s > 0 ? c->retry_for_s : NOTIFY_RETRY_FOR_DEFAULT_S) * ST_USEC;
    return ST_OK;
}

static void free_hooks(notifier *n) {
    for (size_t i = 0; i < n->nhooks; i++) free(n->hooks[i].url);
    free(n->hooks);
    memset(&n->state_url, 0, sizeof n->state_url);
}

static int start_threads(notifier *n, st_error *err) {
    for (size_t i = 0; i < n->nhooks; i++) {
        if (pthread_create(&n->hooks[i].thread, NULL, hook_main, &n->hooks[i]) != 0)
            return st_error_set(err, ST_ERR, "notify: cannot start a delivery thread");
        n->hooks[i].started = true;
    }
    return ST_OK;
}

int notifier_open(notifier **out, const config *cfg, st_error *err) {
    *out = NULL;
    notifier *n = calloc(1, sizeof *n);
    if (n == NULL) return st_error_set(err, ST_ENOMEM, "notify: out of memory");
    n->cfg = cfg;
    n->active = cfg->notify.nwebhooks > 0;
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&n->abort, false);
    if (!n->active) {
        *out = n;
        return ST_OK;
    }
    if (copy_hooks(n, cfg) != ST_OK) {
        notifier_close(n, 0);
        return st_error_set(err, ST_ENOMEM, "notify: out of memory");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = start_threads(n, err);
    if (rc != ST_OK) {
        notifier_close(n, 0);
        return rc;
    }
    *out = n;
    return ST_OK;
}

void notifier_set_config(notifier *n, const config *cfg) {
    if (n == NULL) return;
    n->cfg = cfg;
    free(n->cache);
    free(n->offsets);
    n->cache = NULL;
    n->offsets = NULL;
}

void notifier_counts(notifier *n, size_t *delivered, size_t *failed) {
    *delivered = *failed = 0;
    if (n == NULL) return;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nhooks; i++) {
        *delivered += (size_t)n->hooks[i].delivered;
        *failed += (size_t)n->hooks[i].failed;
    }
    pthread_mutex_unlock(&n->mu);
}

/* Waits for the hook threads until the monotonic deadline, then cuts their
 * transfers short and joins them. */
static void join_hooks(notifier *n, int64_t deadline) {
    pthread_mutex_lock(&n->mu);
    n->draining = true;
    n->drain_deadline = deadline;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0; i < n->nhooks; i++) {
        if (!n->hooks[i].started) continue;
        struct timespec ts;
        int64_t left = deadline - st_time_mono_ms();
        clock_gettime(CLOCK_REALTIME, &ts);
        if (left > 0) {
            ts.tv_sec += left / 1000;
            ts.tv_nsec += (left % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_timedjoin_np(n->hooks[i].thread, NULL, &ts) == 0) {
                n->hooks[i].started = false;
                continue;
            }
        }
        atomic_store(&n->abort, true);
        pthread_join(n->hooks[i].thread, NULL);
        n->hooks[i].started = false;
    }
}

void notifier_close(notifier *n, int64_t drain_ms) {
    if (n == NULL) return;
    if (drain_ms > NOTIFY_STOP_MS) drain_ms = NOTIFY_STOP_MS;
    if (n->nhooks > 0) {
        join_hooks(n, st_time_mono_ms() + drain_ms);
        curl_global_cleanup();
    }
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free_hooks(n);
    free(n->cache);
    free(n->offsets);
    free(n);
}
