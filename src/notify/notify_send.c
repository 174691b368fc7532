/*
 * notify_send — delivery of alerts to webhooks (see notify.h).
 *
 * One thread per notifier takes alerts off a bounded ring and POSTs each, as
 * JSON (notify_alert_json), to every webhook whose `events` include it, with
 * libcurl's easy interface: Content-Type application/json, a per-attempt
 * timeout (notify.timeout_seconds), no redirects followed. A 2xx answer is
 * delivered; anything else (connection refused, timeout, 4xx, 5xx) is retried
 * after 1 s, 2 s, 4 s, ... (capped at 30 s) up to notify.max_attempts, then
 * given up with a warning. The backoff waits on the condition variable, so a
 * stop request cuts it short.
 *
 * The thread never touches the state or the config: it owns copies of the
 * webhook list, so the scheduler may reload its config meanwhile. URLs are
 * logged only as config_url_redact() shows them (scheme and host).
 */
#include "notify_int.h"

#include "../log/log.h"
#include "../time/st_time.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- one POST --- */

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud) {
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* 0 on a 2xx answer; otherwise fills why. */
static int post_once(const char *url, const char *body, int64_t timeout_s, char *why,
                     size_t n) {
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(why, n, "cannot start libcurl");
        return -1;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "synctool-notify/1");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    int out = -1;
    if (rc != CURLE_OK) {
        snprintf(why, n, "%s", curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) out = 0;
        else snprintf(why, n, "HTTP %ld", status);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return out;
}

/* Waits `ms` or until stop; returns true if stop was requested. Called with
 * n->mu held. */
static bool wait_or_stop(notifier *n, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!n->stop && pthread_cond_timedwait(&n->cv, &n->mu, &ts) != ETIMEDOUT) {}
    return n->stop;
}

/* Delivers one alert to one webhook with retries. Called with n->mu held;
 * releases it around the network calls. */
static bool deliver(notifier *n, const config_webhook *h, const notify_alert *a,
                    const char *body) {
    char shown[256], why[256] = "";
    config_url_redact(h->url, shown, sizeof shown);
    int64_t backoff_ms = 1000;
    for (int64_t attempt = 1; attempt <= n->max_attempts; attempt++) {
        pthread_mutex_unlock(&n->mu);
        int rc = post_once(h->url, body, n->timeout_s, why, sizeof why);
        pthread_mutex_lock(&n->mu);
        if (rc == 0) {
            log_info(a->pipeline, a->strategy[0] ? a->strategy : NULL,
                     "alert sent to %s: %s", shown, a->text);
            return true;
        }
        if (attempt == n->max_attempts) break;
        log_warn(a->pipeline, a->strategy[0] ? a->strategy : NULL, "alert to %s failed (%s), "
                 "attempt %lld of %lld; retrying in %llds", shown, why, (long long)attempt,
                 (long long)n->max_attempts, (long long)(backoff_ms / 1000));
        if (wait_or_stop(n, backoff_ms)) break;
        backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
    }
    log_error(a->pipeline, a->strategy[0] ? a->strategy : NULL,
              "alert to %s given up (%s): %s", shown, why, a->text);
    return false;
}

static void *send_main(void *arg) {
    notifier *n = arg;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        while (n->count == 0 && !n->stop) pthread_cond_wait(&n->cv, &n->mu);
        if (n->count == 0 && n->stop) break;
        notify_alert a = n->queue[n->head];
        n->head = (n->head + 1) % NOTIFY_QUEUE_MAX;
        n->count--;
        n->busy = true;
        char *body = notify_alert_json(&a);
        for (size_t i = 0; body && i < n->nhooks; i++) {
            if (!(n->hooks[i].events & a.event)) continue;
            if (deliver(n, &n->hooks[i], &a, body)) n->delivered++;
            else n->failed++;
        }
        free(body);
        n->busy = false;
        pthread_cond_broadcast(&n->cv);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* --- the notifier --- */

bool notify_queue_push(notifier *n, const notify_alert *a) {
    if (!n->thread_started) return false;
    log_info(a->pipeline, a->strategy[0] ? a->strategy : NULL, "alert: %s", a->text);
    pthread_mutex_lock(&n->mu);
    if (n->count == NOTIFY_QUEUE_MAX) {
        log_warn(NULL, NULL, "alert queue full (%d): dropping the oldest alert",
                 NOTIFY_QUEUE_MAX);
        n->head = (n->head + 1) % NOTIFY_QUEUE_MAX;
        n->count--;
        n->failed++;
    }
    n->queue[(n->head + n->count) % NOTIFY_QUEUE_MAX] = *a;
    n->count++;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return true;
}

static int copy_hooks(notifier *n, const config_notify *c) {
    n->hooks = calloc(c->nwebhooks ? c->nwebhooks : 1, sizeof *n->hooks);
    if (n->hooks == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < c->nwebhooks; i++) {
        n->hooks[i].events = c->webhooks[i].events;
        n->hooks[i].url = strdup(c->webhooks[i].url ? c->webhooks[i].url : "");
        if (n->hooks[i].url == NULL) return ST_ENOMEM;
        n->nhooks++;
    }
    n->timeout_s = c->timeout_seconds > 0 ? c->timeout_seconds : 10;
    n->max_attempts = c->max_attempts > 0 ? c->max_attempts : 5;
    return ST_OK;
}

static void free_hooks(notifier *n) {
    for (size_t i = 0; i < n->nhooks; i++) free(n->hooks[i].url);
    free(n->hooks);
}

int notifier_open(notifier **out, const config *cfg, st_error *err) {
    *out = NULL;
    notifier *n = calloc(1, sizeof *n);
    if (n == NULL) return st_error_set(err, ST_ENOMEM, "notify: out of memory");
    n->cfg = cfg;
    n->active = cfg->notify.nwebhooks > 0;
    if (!n->active) {
        *out = n;
        return ST_OK;
    }
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    n->queue = calloc(NOTIFY_QUEUE_MAX, sizeof *n->queue);
    if (n->queue == NULL || copy_hooks(n, &cfg->notify) != ST_OK) {
        notifier_close(n, 0);
        return st_error_set(err, ST_ENOMEM, "notify: out of memory");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&n->thread, NULL, send_main, n) != 0) {
        notifier_close(n, 0);
        return st_error_set(err, ST_ERR, "notify: cannot start the delivery thread");
    }
    n->thread_started = true;
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
    if (n == NULL || !n->active) {
        *delivered = *failed = 0;
        return;
    }
    pthread_mutex_lock(&n->mu);
    *delivered = n->delivered;
    *failed = n->failed;
    pthread_mutex_unlock(&n->mu);
}

void notifier_close(notifier *n, int64_t drain_ms) {
    if (n == NULL) return;
    if (n->thread_started) {
        pthread_mutex_lock(&n->mu);
        int64_t deadline = st_time_mono_ms() + drain_ms;
        while ((n->count > 0 || n->busy) && st_time_mono_ms() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        }
        if (n->count > 0 || n->busy)
            log_warn(NULL, NULL, "stopping with %zu alert(s) not delivered", n->count + n->busy);
        n->stop = true;
        pthread_cond_broadcast(&n->cv);
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->thread, NULL);
        curl_global_cleanup();
    }
    if (n->active) {
        pthread_mutex_destroy(&n->mu);
        pthread_cond_destroy(&n->cv);
    }
    free_hooks(n);
    free(n->queue);
    free(n->cache);
    free(n->offsets);
    free(n);
}
