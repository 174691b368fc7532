/*
 * lock — the front end of the lock module (see lock.h for the contract).
 *
 * A lock_manager is a backend vtable (struct lock_ops, lock_backend.h) plus
 * the policy every backend shares, kept here so SQLite, Redis and the test
 * mock behave identically:
 *   - owner tokens: 128 random bits from /dev/urandom, hex encoded, one per
 *     acquisition, so two acquisitions by the same process are different
 *     owners and a stale handle can never act on a newer hold;
 *   - waiting: lock_acquire_wait() tries, then sleeps min(poll interval,
 *     time left) and tries again, with one last try at the deadline, so the
 *     timeout is honoured exactly (ST_ETIMEOUT). Deadlines use the monotonic
 *     clock; lease instants (now_us) use the wall clock because they are
 *     compared across processes;
 *   - exclusive intents: an exclusive waiter refreshes an intent with a short
 *     TTL (three poll intervals) before each sleep, which makes new shared
 *     acquisitions fail with ST_EBUSY; the intent is cleared when the waiter
 *     gets the lock or gives up, and expires by itself if it dies.
 *
 * Every backend call goes through the manager's mutex, so a manager may be
 * shared by threads even when its backend connection may not (hiredis and
 * sqlite connections are not shared across threads without it). The lease
 * renewer prefers its own connection (lock_clone) anyway.
 *
 * Deliberately not here: any notion of pipelines or jobs beyond key names,
 * and retries of a failed backend call (callers decide).
 *
 * URL-kind branch (issue 22): lock_open picks the backend from the parsed
 * URL's kind; it is the lock family's backend constructor, the one place
 * that may.
 */
#include "lock.h"

#include <signal.h>
#include "lock_backend.h"

#include "../time/st_time.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOCK_DEFAULT_POLL_MS 1000

struct lock_manager {
    const struct lock_ops *ops;
    void *be;
    char url[512];        /* redacted, for messages */
    int64_t poll_ms;
    atomic_int *cancel;  /* lock_set_cancel: ends a lock_acquire_wait */
    int urandom;          /* /dev/urandom, kept open */
    unsigned char pool[512];   /* random bytes read ahead; under mu */
    size_t pool_used;
    pthread_mutex_t mu;
    char owner_tag[LOCK_OWNER_TAG_MAX + 1]; /* lock_set_owner_tag; under mu */
};

/* --- manager ------------------------------------------------------------- */

int lock_open_with_ops(lock_manager **out, const struct lock_ops *ops, void *be,
                       const char *url, st_error *err) {
    *out = NULL;
    if (ops == NULL || ops->version != LOCK_OPS_VERSION) {
        if (ops && ops->close) ops->close(be);
        return st_error_set(err, ST_EINVAL, "lock: backend '%s' has ops version %d, want %d",
                            ops && ops->name ? ops->name : "?", ops ? ops->version : -1,
                            LOCK_OPS_VERSION);
    }
    lock_manager *lm = calloc(1, sizeof *lm);
    if (lm == NULL) {
        ops->close(be);
        return st_error_set(err, ST_ENOMEM, "lock: out of memory");
    }
    lm->ops = ops;
    lm->be = be;
    lm->poll_ms = LOCK_DEFAULT_POLL_MS;
    lm->urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    lm->pool_used = sizeof lm->pool;
    snprintf(lm->url, sizeof lm->url, "%s", url ? url : ops->name);
    pthread_mutex_init(&lm->mu, NULL);
    *out = lm;
    return ST_OK;
}

int lock_open(lock_manager **out, const backend_url *u, st_error *err) {
    *out = NULL;
    char shown[512];
    void *be = NULL;
    const struct lock_ops *ops = NULL;
    int rc;
    if (u != NULL && u->kind == BURL_SQLITE)
        rc = lock_sqlite_open(&be, &ops, u->path, burl_redact(u, shown, sizeof shown), err);
    else if (u != NULL && u->kind == BURL_REDIS)
        rc = lock_redis_open(&be, &ops, u, burl_redact(u, shown, sizeof shown), err);
    else if (u != NULL && u->kind == BURL_POSTGRES) {
        burl_redact(u, shown, sizeof shown);
        rc = lock_pg_open(&be, &ops, u, err);
    }
    else
        return st_error_set(err, ST_EINVAL, "lock: no backend URL given");
    if (rc != ST_OK) return rc;
    return lock_open_with_ops(out, ops, be, shown, err);
}

void lock_close(lock_manager *lm) {
    if (lm == NULL) return;
    lm->ops->close(lm->be);
    if (lm->urandom >= 0) close(lm->urandom);
    pthread_mutex_destroy(&lm->mu);
    free(lm);
}

int lock_clone(lock_manager *lm, lock_manager **out, st_error *err) {
    *out = NULL;
    if (lm->ops->clone == NULL)
        return st_error_set(err, ST_ENOTIMPL, "lock: backend %s cannot clone", lm->ops->name);
    void *be = NULL;
    pthread_mutex_lock(&lm->mu);
    int rc = lm->ops->clone(lm->be, &be, err);
    pthread_mutex_unlock(&lm->mu);
    if (rc != ST_OK) return rc;
    rc = lock_open_with_ops(out, lm->ops, be, lm->url, err);
    if (rc == ST_OK) (*out)->poll_ms = lm->poll_ms;
    return rc;
}

void lock_set_cancel(lock_manager *lm, atomic_int *flag) {
    if (lm != NULL) lm->cancel = flag;
}

void lock_set_poll_interval(lock_manager *lm, int64_t ms) {
    lm->poll_ms = ms > 0 ? ms : LOCK_DEFAULT_POLL_MS;
}

const char *lock_backend_name(const lock_manager *lm) { return lm->ops->name; }

const char *lock_mode_name(lock_mode m) { return m == LOCK_SHARED ? "shared" : "exclusive"; }

/* --- owner tokens -------------------------------------------------------- */

/* 32 hex chars from /dev/urandom, read ahead 512 bytes at a time so a
 * token costs no system call on the hot path. Returns 0 or ST_ERR. */
static int lock_new_owner(lock_manager *lm, char *buf, size_t n, st_error *err) {
    unsigned char raw[16];
    pthread_mutex_lock(&lm->mu);
    int ok = 1;
    if (lm->pool_used + sizeof raw > sizeof lm->pool) {
        ok = lm->urandom >= 0 &&
             read(lm->urandom, lm->pool, sizeof lm->pool) == (ssize_t)sizeof lm->pool;
        if (ok) lm->pool_used = 0;
    }
    if (ok) {
        memcpy(raw, lm->pool + lm->pool_used, sizeof raw);
        memset(lm->pool + lm->pool_used, 0, sizeof raw); /* never hand out twice */
        lm->pool_used += sizeof raw;
    }
    pthread_mutex_unlock(&lm->mu);
    if (!ok)
        return st_error_set(err, ST_ERR, "lock: cannot read /dev/urandom: %s", strerror(errno));
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;
    for (size_t i = 0; i < sizeof raw && j + 2 < n; i++) {
        buf[j++] = hex[raw[i] >> 4];
        buf[j++] = hex[raw[i] & 15];
    }
    buf[j] = '\0';
    return ST_OK;
}

/* The owner token of a new hold: "<tag>.<32 hex>" when the manager has a
 * tag (lock_set_owner_tag), else the 32 hex alone. */
static int lock_hold_owner(lock_manager *lm, char *buf, size_t n, st_error *err) {
    char hex[40], tag[LOCK_OWNER_TAG_MAX + 1];
    int rc = lock_new_owner(lm, hex, sizeof hex, err);
    if (rc != ST_OK) return rc;
    pthread_mutex_lock(&lm->mu);
    snprintf(tag, sizeof tag, "%s", lm->owner_tag);
    pthread_mutex_unlock(&lm->mu);
    if (tag[0]) snprintf(buf, n, "%s.%s", tag, hex);
    else snprintf(buf, n, "%s", hex);
    return ST_OK;
}

int lock_set_owner_tag(lock_manager *lm, const char *tag, st_error *err) {
    size_t n = tag ? strlen(tag) : 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)tag[i]) || tag[i] == '-' || tag[i] == '_'))
            return st_error_set(err, ST_EINVAL, "lock: owner tag may hold letters, digits, "
                                "'-' and '_' only");
    if (n > LOCK_OWNER_TAG_MAX)
        return st_error_set(err, ST_EINVAL, "lock: owner tag longer than %d characters",
                            LOCK_OWNER_TAG_MAX);
    pthread_mutex_lock(&lm->mu);
    snprintf(lm->owner_tag, sizeof lm->owner_tag, "%s", n ? tag : "");
    pthread_mutex_unlock(&lm->mu);
    return ST_OK;
}

bool lock_owner_tagged(const char *owner, const char *tag) {
    size_t n = strlen(tag);
    return n > 0 && strncmp(owner, tag, n) == 0 && owner[n] == '.';
}

/* --- acquire / renew / release ------------------------------------------- */

static int check_key(const char *key, st_error *err) {
    if (key == NULL || key[0] == '\0' || strlen(key) >= sizeof(((lock_handle *)0)->key))
        return st_error_set(err, ST_EINVAL, "lock: invalid key '%s'", key ? key : "(null)");
    return ST_OK;
}

/* One attempt with a given owner token. */
static void fill_handle(lock_handle *h, const char *key, lock_mode mode, int64_t ttl_ms,
                        const char *owner, int64_t fence) {
    memset(h, 0, sizeof *h);
    snprintf(h->key, sizeof h->key, "%s", key);
    snprintf(h->fence_key, sizeof h->fence_key, "%s", key);
    snprintf(h->owner, sizeof h->owner, "%s", owner);
    h->fence = fence;
    h->ttl_ms = ttl_ms;
    h->mode = mode;
}

static int acquire_as(lock_manager *lm, const char *key, lock_mode mode, int64_t ttl_ms,
                      const char *owner, lock_handle *h, st_error *err) {
    int64_t fence = 0;
    pthread_mutex_lock(&lm->mu);
    int rc = lm->ops->acquire(lm->be, key, mode, owner, ttl_ms, st_time_now(), &fence, err);
    pthread_mutex_unlock(&lm->mu);
    if (rc != ST_OK) return rc;
    fill_handle(h, key, mode, ttl_ms, owner, fence);
    return ST_OK;
}

/* The batch in one backend call: owners made first, handles filled after. */
static int acquire_batch(lock_manager *lm, const char *const *keys, size_t n, lock_mode mode,
                         int64_t ttl_ms, lock_handle *hs, int *rcs, st_error *err) {
    int rc = ST_OK;
    char (*owners)[64] = calloc(n, sizeof *owners);
    const char **op = calloc(n, sizeof *op);
    int64_t *fences = calloc(n, sizeof *fences);
    if (rc == ST_OK && (owners == NULL || op == NULL || fences == NULL))
        rc = st_error_set(err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        rc = lock_hold_owner(lm, owners[i], sizeof owners[i], err);
        op[i] = owners[i];
    }
    if (rc == ST_OK) {
        pthread_mutex_lock(&lm->mu);
        rc = lm->ops->acquire_many(lm->be, keys, n, mode, op, ttl_ms, st_time_now(), fences, rcs,
                                   err);
        pthread_mutex_unlock(&lm->mu);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc != ST_OK) rcs[i] = rc;
        else if (rcs[i] == ST_OK) fill_handle(&hs[i], keys[i], mode, ttl_ms, owners[i], fences[i]);
    }
    free(owners);
    free(op);
    free(fences);
    return rc;
}

int lock_acquire_many(lock_manager *lm, const char *const *keys, size_t n, lock_mode mode,
                      int64_t ttl_ms, lock_handle *hs, int *rcs, st_error *err) {
    int rc = ST_OK;
    for (size_t i = 0; rc == ST_OK && i < n; i++) rc = check_key(keys[i], err);
    if (rc == ST_OK && ttl_ms <= 0)
        rc = st_error_set(err, ST_EINVAL, "lock: ttl must be positive for '%s'", keys[0]);
    if (rc == ST_OK && n > 0 && lm->ops->acquire_many != NULL)
        return acquire_batch(lm, keys, n, mode, ttl_ms, hs, rcs, err);
    for (size_t i = 0; i < n; i++) {
        st_error e;
        rcs[i] = rc != ST_OK ? rc : lock_acquire(lm, keys[i], mode, ttl_ms, &hs[i], &e);
        if (rcs[i] != ST_OK && rcs[i] != ST_EBUSY && rc == ST_OK) *err = e;
    }
    return rc;
}

int lock_acquire(lock_manager *lm, const char *key, lock_mode mode, int64_t ttl_ms,
                 lock_handle *h, st_error *err) {
    int rc = check_key(key, err);
    if (rc != ST_OK) return rc;
    if (ttl_ms <= 0)
        return st_error_set(err, ST_EINVAL, "lock: ttl must be positive for '%s'", key);
    char owner[64];
    if ((rc = lock_hold_owner(lm, owner, sizeof owner, err)) != ST_OK) return rc;
    return acquire_as(lm, key, mode, ttl_ms, owner, h, err);
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int intent(lock_manager *lm, const char *key, const char *owner, bool set,
                  st_error *err) {
    pthread_mutex_lock(&lm->mu);
    int rc = set ? lm->ops->intent_set(lm->be, key, owner, 3 * lm->poll_ms, st_time_now(), err)
                 : lm->ops->intent_clear(lm->be, key, owner, err);
    pthread_mutex_unlock(&lm->mu);
    return rc;
}

/* Polls until acquired, a non-busy error, or the deadline (one last try at
 * the deadline itself). An exclusive waiter keeps its intent alive. */
int lock_acquire_wait(lock_manager *lm, const char *key, lock_mode mode, int64_t ttl_ms,
                      int64_t timeout_ms, lock_handle *h, st_error *err) {
    int rc = check_key(key, err);
    if (rc != ST_OK) return rc;
    if (ttl_ms <= 0)
        return st_error_set(err, ST_EINVAL, "lock: ttl must be positive for '%s'", key);
    char owner[64];
    if ((rc = lock_hold_owner(lm, owner, sizeof owner, err)) != ST_OK) return rc;
    int64_t deadline = st_time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    bool intent_set = false;
    for (;;) {
        rc = acquire_as(lm, key, mode, ttl_ms, owner, h, err);
        if (rc != ST_EBUSY) break;
        if (lm->cancel != NULL && *lm->cancel != 0) {
            rc = st_error_set(err, ST_EINTR, "interrupted while waiting for lock '%s'", key);
            break;
        }
        int64_t left = deadline - st_time_mono_ms();
        if (left <= 0) {
            rc = st_error_set(err, ST_ETIMEOUT, "lock '%s' still held after waiting %llds",
                              key, (long long)((timeout_ms + 999) / 1000));
            break;
        }
        if (mode == LOCK_EXCLUSIVE) {
            int irc = intent(lm, key, owner, true, err);
            if (irc != ST_OK) { rc = irc; break; }
            intent_set = true;
        }
        /* short naps, so an interrupt is seen within 100 ms */
        for (int64_t nap = left < lm->poll_ms ? left : lm->poll_ms; nap > 0; nap -= 100) {
            if (lm->cancel != NULL && *lm->cancel != 0) break;
            sleep_ms(nap < 100 ? nap : 100);
        }
    }
    if (intent_set) intent(lm, key, owner, false, NULL);
    return rc;
}

int lock_renew(lock_manager *lm, const lock_handle *h, st_error *err) {
    pthread_mutex_lock(&lm->mu);
    int rc = lm->ops->renew(lm->be, h, st_time_now(), err);
    pthread_mutex_unlock(&lm->mu);
    return rc;
}

int lock_release(lock_manager *lm, const lock_handle *h, st_error *err) {
    pthread_mutex_lock(&lm->mu);
    int rc = lm->ops->release(lm->be, h, st_time_now(), err);
    pthread_mutex_unlock(&lm->mu);
    return rc;
}

int lock_check_fence(lock_manager *lm, const lock_handle *h, st_error *err) {
    pthread_mutex_lock(&lm->mu);
    int rc = lm->ops->check_fence(lm->be, h, st_time_now(), err);
    pthread_mutex_unlock(&lm->mu);
    return rc;
}

int lock_raise_fence(lock_manager *lm, lock_handle *h, int64_t floor, st_error *err) {
    if (lm->ops->raise_fence == NULL)
        return st_error_set(err, ST_ENOTIMPL, "lock: backend %s cannot raise a fencing token",
                            lm->ops->name);
    int64_t fence = 0;
    pthread_mutex_lock(&lm->mu);
    int rc = lm->ops->raise_fence(lm->be, h, floor, st_time_now(), &fence, err);
    pthread_mutex_unlock(&lm->mu);
    if (rc == ST_OK) h->fence = fence;
    return rc;
}

static int cmp_info(const void *a, const void *b) {
    return strcmp(((const lock_info *)a)->key, ((const lock_info *)b)->key);
}

int lock_list(lock_manager *lm, lock_info **out, size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&lm->mu);
    int rc = lm->ops->list(lm->be, st_time_now(), out, n, err);
    pthread_mutex_unlock(&lm->mu);
    if (rc == ST_OK && *n > 1) qsort(*out, *n, sizeof **out, cmp_info);
    return rc;
}

/* --- keys ---------------------------------------------------------------- */

char *lock_key_pipeline(char *buf, size_t n, const char *pipeline) {
    snprintf(buf, n, "synctool:exec:pipeline:%s", pipeline);
    return buf;
}

char *lock_key_enqueue(char *buf, size_t n, const char *pipeline) {
    snprintf(buf, n, "synctool:enqueue:pipeline:%s", pipeline);
    return buf;
}

char *lock_key_table(char *buf, size_t n, const char *datastore, const char *schema,
                     const char *table) {
    snprintf(buf, n, "synctool:table:%s:%s:%s", datastore, schema, table);
    return buf;
}
