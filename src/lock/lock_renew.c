/*
 * lock_renew — the lease renewal thread (see lock.h, lock_renewer_*).
 *
 * While a job executes, its pipeline and table locks must outlive their TTL.
 * A renewer is one pthread that wakes every `interval` (ttl/3 by default in
 * the job manager) and renews every handle it was given. It runs on its own
 * backend connection (lock_clone) because hiredis and sqlite connections are
 * not shared across threads; a backend that cannot clone (the test mock) is
 * shared through the manager's mutex instead. The connection is made by the
 * thread when its first renewal is due, not at start: most jobs end long
 * before ttl/3, and a Redis connection (connect, SELECT, CLIENT SETNAME, six
 * SCRIPT LOADs) per job was a tenth of a small job's time in a worker
 * (issue 25).
 *
 * Losing a lease is the one outcome that matters: if a renewal answers
 * ST_ESTALE (someone else holds the lock now), or the backend stays
 * unreachable until the lease has surely expired, the thread sets *cancel = 1
 * — the executing sync stops before its next commit — and stops renewing.
 * Transient errors within the lease are retried at the next tick.
 *
 * Stopping is prompt: the thread sleeps on a condition variable against the
 * monotonic clock, and lock_renewer_stop() signals it and joins.
 */
#include "lock.h"
#include "../time/st_time.h"

#include "../log/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct lock_renewer {
    lock_manager *lm;      /* the connection used by the thread */
    lock_manager *owned;   /* == lm when cloned, NULL when shared */
    bool cloned;           /* the clone was tried (at the first renewal) */
    const lock_handle *const *handles;
    size_t n;
    int64_t interval_ms;
    atomic_int *cancel;
    int lost;              /* 1 + index of the lost handle, 0 = none */
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
};

static struct timespec deadline_after(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Renews every handle once. Returns 1 + the index of a lost lease, or 0.
 * `ok_at[i]` is the last instant handle i was known alive. */
static int renew_all(lock_renewer *r, int64_t *ok_at) {
    for (size_t i = 0; i < r->n; i++) {
        const lock_handle *h = r->handles[i];
        st_error err;
        int rc = lock_renew(r->lm, h, &err);
        if (rc == ST_OK) {
            ok_at[i] = st_time_mono_ms();
            continue;
        }
        if (rc == ST_ESTALE || st_time_mono_ms() - ok_at[i] >= h->ttl_ms) {
            log_error(NULL, NULL, "lease lost: %s", err.msg);
            return (int)i + 1;
        }
        log_warn(NULL, NULL, "lease renewal failed, retrying: %s", err.msg);
    }
    return 0;
}

static void *renew_main(void *arg) {
    lock_renewer *r = arg;
    int64_t ok_at[16];
    for (size_t i = 0; i < r->n; i++) ok_at[i] = st_time_mono_ms();
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec dl = deadline_after(r->interval_ms);
        int w = 0;
        while (!r->stop && w != ETIMEDOUT) w = pthread_cond_timedwait(&r->cv, &r->mu, &dl);
        if (r->stop) break;
        pthread_mutex_unlock(&r->mu);
        if (!r->cloned) {
            r->cloned = true;
            if (lock_clone(r->lm, &r->owned, NULL) == ST_OK) r->lm = r->owned;
        }
        int lost = renew_all(r, ok_at);
        pthread_mutex_lock(&r->mu);
        if (lost) {
            r->lost = lost;
            if (r->cancel) *r->cancel = 1;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int lock_renewer_start(lock_renewer **out, lock_manager *lm, const lock_handle *const *handles,
                       size_t n, int64_t interval_ms, atomic_int *cancel, st_error *err) {
    *out = NULL;
    if (n > 16) return st_error_set(err, ST_EINVAL, "lock: at most 16 handles per renewer");
    lock_renewer *r = calloc(1, sizeof *r);
    if (r == NULL) return st_error_set(err, ST_ENOMEM, "lock: out of memory");
    r->lm = lm;   /* until the thread clones it (first renewal) */
    r->handles = handles;
    r->n = n;
    r->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    r->cancel = cancel;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->thread, NULL, renew_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        lock_close(r->owned);
        free(r);
        return st_error_set(err, ST_ERR, "lock: cannot start the renewal thread");
    }
    *out = r;
    return ST_OK;
}

int lock_renewer_stop(lock_renewer *r) {
    if (r == NULL) return 0;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    int lost = r->lost;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    lock_close(r->owned);
    free(r);
    return lost;
}
