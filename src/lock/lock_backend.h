/*
 * lock_backend — the vtable a lock backend implements (see lock.h).
 *
 * Modelled on libgit2's refdb backends: the front end (lock.c) owns the
 * policy — owner tokens, waiting and polling, exclusive-waiter intents, key
 * names — and a backend only stores leases atomically. A backend is a
 * `static const struct lock_ops` plus an opaque context pointer; the cmocka
 * tests plug an in-memory mock in through lock_open_with_ops(), so they
 * exercise exactly the interface production uses.
 *
 * Contract for every method: return 0 or a negative ST_E* code, fill `err`
 * with a message naming the key (never a password). `now_us` is the wall
 * clock in microseconds, passed in by the front end; a backend with its own
 * clock (Redis uses the server's TIME so hosts agree) may ignore it.
 * Each call is atomic with respect to every other process using the backend.
 */
#ifndef ST_LOCK_BACKEND_H
#define ST_LOCK_BACKEND_H

#include "lock.h"

#define LOCK_OPS_VERSION 4

struct lock_ops {
    int version;          /* LOCK_OPS_VERSION */
    const char *name;     /* "sqlite", "redis", "mock" */

    /* Required. Takes `key` in `mode` for `owner` with a lease of ttl_ms.
     * Exclusive: refused (ST_EBUSY) while any live holder exists.
     * Shared: refused while a live exclusive holder or a live exclusive
     * intent exists. On success increments the key's fencing counter and
     * stores the new value in *fence. */
    int (*acquire)(void *be, const char *key, lock_mode mode, const char *owner,
                   int64_t ttl_ms, int64_t now_us, int64_t *fence, st_error *err);

    /* Optional (NULL: the front end calls acquire per key). acquire for
     * keys[0..n) with owners[i], all in one atomic write: rcs[i] gets 0
     * (fences[i] set), ST_EBUSY, or nothing is taken and the error that
     * stopped the batch is returned. */
    int (*acquire_many)(void *be, const char *const *keys, size_t n, lock_mode mode,
                        const char *const *owners, int64_t ttl_ms, int64_t now_us,
                        int64_t *fences, int *rcs, st_error *err);
    /* Required. Extends h's lease to ttl_ms from now if h->owner still holds
     * h->key in h->mode; ST_ESTALE otherwise (nothing changes). */
    int (*renew)(void *be, const lock_handle *h, int64_t now_us, st_error *err);

    /* Required. Drops h's hold if h->owner still holds it; ST_ESTALE otherwise. */
    int (*release)(void *be, const lock_handle *h, int64_t now_us, st_error *err);

    /* Required. 0 if h->owner is a live holder and, for exclusive locks,
     * h->fence is the key's current fencing counter; ST_ESTALE otherwise. */
    int (*check_fence)(void *be, const lock_handle *h, int64_t now_us, st_error *err);

    /* Required. Live locks (one entry per key), any order; *out malloc'd. */
    int (*list)(void *be, int64_t now_us, lock_info **out, size_t *n, st_error *err);

    /* Required. Registers (or refreshes) an exclusive waiter's intent on key
     * for ttl_ms: new shared acquisitions are refused while it lives. */
    int (*intent_set)(void *be, const char *key, const char *owner, int64_t ttl_ms,
                      int64_t now_us, st_error *err);
    /* Required. Removes owner's intent on key (no error if absent). */
    int (*intent_clear)(void *be, const char *key, const char *owner, st_error *err);

    /* Optional (NULL): a second, independent connection to the same store
     * for another thread. Without it the front end shares this context and
     * serialises calls with a mutex. */
    int (*clone)(void *be, void **out, st_error *err);

    /* Optional (NULL: lock_raise_fence answers ST_ENOTIMPL). If h->owner
     * still holds h->key exclusively, sets the key's fencing counter to
     * max(counter, floor) + 1, records it as h's fence and stores it in
     * *fence; ST_ESTALE otherwise (nothing changes). Atomic. */
    int (*raise_fence)(void *be, const lock_handle *h, int64_t floor, int64_t now_us,
                       int64_t *fence, st_error *err);

    /* Required. Frees the context (NULL is a no-op). */
    void (*close)(void *be);
};

/* Wraps an opened backend context in a manager. `url` (may be NULL) is only
 * kept for messages and must already be free of passwords. Takes ownership
 * of `be` (closed by lock_close, or at once if this fails), as
 * state_open_with_ops and queue_open_with_ops do. */
int lock_open_with_ops(lock_manager **out, const struct lock_ops *ops, void *be,
                       const char *url, st_error *err);

/* Backend constructors (lock_sqlite.c, lock_redis.c), the shape of every
 * family's: the context in *be, its table in *ops. `shown` is the URL
 * with any password masked (burl_redact), for messages. */
int lock_sqlite_open(void **be, const struct lock_ops **ops, const char *path, const char *shown,
                     st_error *err);
int lock_redis_open(void **be, const struct lock_ops **ops, const backend_url *u,
                    const char *shown, st_error *err);
/* lock_pg.c: synctool's PostgreSQL database (src/pgcoord). */
int lock_pg_open(void **be, const struct lock_ops **ops, const backend_url *u, st_error *err);

#endif
