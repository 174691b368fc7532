/*
 * lockmock — in-memory lock backend for tests (see lockmock_backend.h).
 *
 * Holders live in a small fixed array; nothing expires by time (tests that
 * need a lost lease use lockmock_steal). All state sits behind one mutex.
 */
#include "lockmock_backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_MAX 32

typedef struct mock_holder {
    char key[320];
    char owner[64];
    lock_mode mode;
    bool external;
    int release_after;
    int64_t fence;
} mock_holder;

typedef struct mock_count {
    char key[320];
    int attempts;
    int64_t fence;
} mock_count;

struct lockmock {
    pthread_mutex_t mu;
    mock_holder h[MOCK_MAX];
    int nh;
    mock_count c[MOCK_MAX];
    int nc;
    bool unavailable, log_renew;
    char log[8192];
};

static void mlog(lockmock *m, const char *fmt, const char *a, const char *b, const char *c) {
    size_t len = strlen(m->log);
    snprintf(m->log + len, sizeof m->log - len, fmt, a, b, c);
}

static mock_count *counter(lockmock *m, const char *key) {
    for (int i = 0; i < m->nc; i++)
        if (strcmp(m->c[i].key, key) == 0) return &m->c[i];
    mock_count *c = &m->c[m->nc++];
    memset(c, 0, sizeof *c);
    snprintf(c->key, sizeof c->key, "%s", key);
    return c;
}

static void drop(lockmock *m, int i) {
    m->h[i] = m->h[--m->nh];
}

/* Conflict with a live holder? Counts down external holders' patience. */
static bool conflicts(lockmock *m, const char *key, lock_mode mode) {
    bool busy = false;
    for (int i = 0; i < m->nh; i++) {
        if (strcmp(m->h[i].key, key) != 0) continue;
        if (mode == LOCK_EXCLUSIVE || m->h[i].mode == LOCK_EXCLUSIVE) busy = true;
    }
    if (!busy) return false;
    for (int i = m->nh - 1; i >= 0; i--)
        if (strcmp(m->h[i].key, key) == 0 && m->h[i].external && m->h[i].release_after > 0 &&
            --m->h[i].release_after == 0)
            drop(m, i);
    return true;
}

static int mock_acquire(void *be, const char *key, lock_mode mode, const char *owner,
                        int64_t ttl_ms, int64_t now, int64_t *fence, st_error *err) {
    (void)ttl_ms;
    (void)now;
    lockmock *m = be;
    const char *md = mode == LOCK_SHARED ? "s" : "x";
    pthread_mutex_lock(&m->mu);
    int rc = ST_OK;
    mock_count *c = counter(m, key);
    c->attempts++;
    if (m->unavailable) {
        mlog(m, "acquire:%s:%s:%s;", key, md, "unavail");
        rc = st_error_set(err, ST_EUNAVAIL, "lock backend mock://locks unreachable");
    } else if (conflicts(m, key, mode)) {
        mlog(m, "acquire:%s:%s:%s;", key, md, "busy");
        rc = st_error_set(err, ST_EBUSY, "lock '%s' is held by another owner", key);
    } else {
        mock_holder *h = &m->h[m->nh++];
        memset(h, 0, sizeof *h);
        snprintf(h->key, sizeof h->key, "%s", key);
        snprintf(h->owner, sizeof h->owner, "%s", owner);
        h->mode = mode;
        h->fence = *fence = ++c->fence;
        mlog(m, "acquire:%s:%s:%s;", key, md, "ok");
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int find(lockmock *m, const lock_handle *h) {
    for (int i = 0; i < m->nh; i++)
        if (!m->h[i].external && strcmp(m->h[i].key, h->key) == 0 &&
            strcmp(m->h[i].owner, h->owner) == 0)
            return i;
    return -1;
}

static int mock_renew(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    lockmock *m = be;
    pthread_mutex_lock(&m->mu);
    int i = find(m, h);
    if (m->log_renew) mlog(m, "renew:%s;%s%s", h->key, "", "");
    pthread_mutex_unlock(&m->mu);
    return i >= 0 ? ST_OK : st_error_set(err, ST_ESTALE, "lock '%s' is no longer held", h->key);
}

static int mock_release(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    lockmock *m = be;
    pthread_mutex_lock(&m->mu);
    int i = find(m, h);
    if (i >= 0) drop(m, i);
    mlog(m, "release:%s;%s%s", h->key, "", "");
    pthread_mutex_unlock(&m->mu);
    return i >= 0 ? ST_OK : st_error_set(err, ST_ESTALE, "lock '%s' is no longer held", h->key);
}

static int mock_check_fence(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    lockmock *m = be;
    pthread_mutex_lock(&m->mu);
    int i = find(m, h);
    bool ok = i >= 0 && m->h[i].fence == h->fence;
    pthread_mutex_unlock(&m->mu);
    return ok ? ST_OK : st_error_set(err, ST_ESTALE, "stale fencing token");
}

static int mock_list(void *be, int64_t now, lock_info **out, size_t *n, st_error *err) {
    (void)be;
    (void)now;
    (void)err;
    *out = NULL;
    *n = 0;
    return ST_OK;
}

static int mock_intent_set(void *be, const char *key, const char *owner, int64_t ttl_ms,
                           int64_t now, st_error *err) {
    (void)be; (void)key; (void)owner; (void)ttl_ms; (void)now; (void)err;
    return ST_OK;
}

static int mock_intent_clear(void *be, const char *key, const char *owner, st_error *err) {
    (void)be; (void)key; (void)owner; (void)err;
    return ST_OK;
}

static void mock_close(void *be) { (void)be; }

static const struct lock_ops lockmock_ops = {
    .version = LOCK_OPS_VERSION,
    .name = "mock",
    .acquire = mock_acquire,
    .renew = mock_renew,
    .release = mock_release,
    .check_fence = mock_check_fence,
    .list = mock_list,
    .intent_set = mock_intent_set,
    .intent_clear = mock_intent_clear,
    .clone = NULL,
    .close = mock_close,
};

lockmock *lockmock_new(void) {
    lockmock *m = calloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void lockmock_free(lockmock *m) {
    if (m == NULL) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

lock_manager *lockmock_manager(lockmock *m) {
    lock_manager *lm = NULL;
    lock_open_with_ops(&lm, &lockmock_ops, m, "mock://locks", NULL);
    return lm;
}

void lockmock_hold(lockmock *m, const char *key, lock_mode mode, int release_after_attempts) {
    pthread_mutex_lock(&m->mu);
    mock_holder *h = &m->h[m->nh++];
    memset(h, 0, sizeof *h);
    snprintf(h->key, sizeof h->key, "%s", key);
    snprintf(h->owner, sizeof h->owner, "someone-else");
    h->mode = mode;
    h->external = true;
    h->release_after = release_after_attempts;
    pthread_mutex_unlock(&m->mu);
}

void lockmock_steal(lockmock *m, const char *key) {
    pthread_mutex_lock(&m->mu);
    for (int i = m->nh - 1; i >= 0; i--)
        if (strcmp(m->h[i].key, key) == 0) drop(m, i);
    pthread_mutex_unlock(&m->mu);
}

void lockmock_set_unavailable(lockmock *m, bool on) {
    pthread_mutex_lock(&m->mu);
    m->unavailable = on;
    pthread_mutex_unlock(&m->mu);
}

bool lockmock_is_held(lockmock *m, const char *key, lock_mode mode) {
    pthread_mutex_lock(&m->mu);
    bool held = false;
    for (int i = 0; i < m->nh; i++)
        if (!m->h[i].external && strcmp(m->h[i].key, key) == 0 && m->h[i].mode == mode)
            held = true;
    pthread_mutex_unlock(&m->mu);
    return held;
}

int lockmock_attempts(lockmock *m, const char *key) {
    pthread_mutex_lock(&m->mu);
    int n = 0;
    for (int i = 0; i < m->nc; i++)
        if (strcmp(m->c[i].key, key) == 0) n = m->c[i].attempts;
    pthread_mutex_unlock(&m->mu);
    return n;
}

int lockmock_holders(lockmock *m) {
    pthread_mutex_lock(&m->mu);
    int n = 0;
    for (int i = 0; i < m->nh; i++) n += !m->h[i].external;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void lockmock_note(lockmock *m, const char *note) {
    pthread_mutex_lock(&m->mu);
    mlog(m, "%s;%s%s", note, "", "");
    pthread_mutex_unlock(&m->mu);
}

const char *lockmock_log(lockmock *m) { return m->log; }

void lockmock_log_renew(lockmock *m, bool on) {
    pthread_mutex_lock(&m->mu);
    m->log_renew = on;
    pthread_mutex_unlock(&m->mu);
}
