/*
 * lock — leased locks with owner tokens and fencing tokens (DESIGN §4).
 *
 * A `lock_manager` fronts one backend (struct lock_ops): SQLite (the state
 * file, correct across processes on one host), Redis or PostgreSQL (any
 * number of hosts: lock_redis.c, lock_pg.c).
 * lock_open() picks it from the same parsed backend URL as the state
 * (src/url/backend_url.h).
 *
 * Every acquisition returns a random owner token and a fencing token (a
 * per-key counter that only grows). Renewal and release are compare-and-act
 * on the owner token: nobody releases or renews a lock they do not hold
 * (ST_ESTALE). A holder that stops renewing loses the lock after its TTL.
 *
 * Table locks are shared (syncs writing the table) or exclusive (schema
 * changes). A waiting exclusive request blocks new shared holders, so a
 * schema change is not starved by a stream of syncs.
 *
 * Keys (Redis spelling; SQLite uses the same strings as row keys):
 *   synctool:exec:pipeline:<pipeline>
 *   synctool:enqueue:pipeline:<pipeline>
 *   synctool:table:<datastore>:<schema>:<table>
 */
#ifndef ST_LOCK_H
#define ST_LOCK_H

#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"
#include "../url/backend_url.h"

typedef enum { LOCK_EXCLUSIVE = 0, LOCK_SHARED = 1 } lock_mode;

typedef struct lock_handle {
    char key[320];
    char owner[64];   /* random owner token */
    int64_t fence;    /* fencing token, grows per key (lock_raise_fence) */
    /* Where `fence` is checked in a destination (synctool_fence): the lock
     * key itself. A destination outlives its lock store: after the store
     * lost its data (Redis restarted without persistence, the state file
     * deleted) counters start again at 1, and a run raises its token above
     * the destination's (lock_raise_fence) instead of being refused, so
     * tokens at the destination never go backwards and an older holder
     * stays fenced out. */
    char fence_key[360];
    int64_t ttl_ms;
    lock_mode mode;
} lock_handle;

typedef struct lock_info {
    char key[320];
    char owner[64];
    lock_mode mode;
    int64_t fence;
    int64_t expires_at;   /* caller's wall clock, microseconds (Redis: now + the time
                             left on the server, whatever the skew) */
    int holders;          /* >1 only for shared locks */
} lock_info;

typedef struct lock_manager lock_manager;

/* Opens the backend `u` names. ST_EUNAVAIL with the URL (burl_redact, no
 * password) if unreachable; ST_EINVAL for no URL. */
int lock_open(lock_manager **out, const backend_url *u, st_error *err);
void lock_close(lock_manager *lm);

/* Tries once. 0 = acquired (*h filled), ST_EBUSY = held by someone else,
 * ST_EUNAVAIL = backend unreachable. */
int lock_acquire(lock_manager *lm, const char *key, lock_mode mode, int64_t ttl_ms,
                 lock_handle *h, st_error *err);

/* lock_acquire for n keys at once (each tried once, in one write to the
 * store when the backend can: one fsync on SQLite instead of n). rcs[i] is
 * 0 (hs[i] filled), ST_EBUSY, or another error for keys[i]. Returns 0 when
 * every key got an answer, else the error that stopped the batch (every
 * rcs[i] then holds it; nothing was acquired). */
int lock_acquire_many(lock_manager *lm, const char *const *keys, size_t n, lock_mode mode,
                      int64_t ttl_ms, lock_handle *hs, int *rcs, st_error *err);

/* Tries, then polls at most every second until timeout_ms has passed.
 * 0 = acquired, ST_ETIMEOUT = still busy at the deadline. An exclusive waiter
 * registers itself so new shared holders are refused while it waits. */
int lock_acquire_wait(lock_manager *lm, const char *key, lock_mode mode, int64_t ttl_ms,
                      int64_t timeout_ms, lock_handle *h, st_error *err);

/* Extends the lease to ttl_ms from now. ST_ESTALE if no longer held. */
int lock_renew(lock_manager *lm, const lock_handle *h, st_error *err);

/* Releases. ST_ESTALE if no longer held (nothing is released then). */
int lock_release(lock_manager *lm, const lock_handle *h, st_error *err);

/* Is `fence` still the current fencing token of a live holder of h->key? */
int lock_check_fence(lock_manager *lm, const lock_handle *h, st_error *err);

/* While h (exclusive) is still held: sets the key's fencing counter to
 * max(counter, floor) + 1 and makes it h->fence. For a holder that finds a
 * token >= its own at a destination (the lock store lost its counters).
 * ST_ESTALE if h is no longer held; ST_ENOTIMPL for a backend without it. */
int lock_raise_fence(lock_manager *lm, lock_handle *h, int64_t floor, st_error *err);

/* Held locks, sorted by key. Caller frees *out. */
int lock_list(lock_manager *lm, lock_info **out, size_t *n, st_error *err);

/* While *flag is non-zero (an interrupt: SIGINT/SIGTERM), lock_acquire_wait
 * stops waiting and returns ST_EINTR. NULL: never. */
void lock_set_cancel(lock_manager *lm, atomic_int *flag);

/* Polling interval of lock_acquire_wait (default 1000 ms; tests shorten it).
 * Values <= 0 restore the default. */
void lock_set_poll_interval(lock_manager *lm, int64_t ms);

/* Owner tags: every hold this manager takes from now on has the owner token
 * "<tag>.<32 random hex>" (tag: letters, digits, '-', '_'; at most
 * LOCK_OWNER_TAG_MAX; NULL or "" for none), so whoever lists the lock can
 * tell whose it is — the scheduler tags holds with the run id ("run-42") and
 * a second delivery of run 42 that finds the pipeline lock busy knows at once
 * that the holder is its twin, with no waiting on state. The random part
 * keeps tokens unguessable. ST_EINVAL for a bad tag. */
#define LOCK_OWNER_TAG_MAX 24
int lock_set_owner_tag(lock_manager *lm, const char *tag, st_error *err);
/* Whether owner was taken under tag (owner starts with "<tag>."). */
bool lock_owner_tagged(const char *owner, const char *tag);

/* A second manager on an independent connection to the same store, for
 * another thread (the lease renewer). ST_ENOTIMPL if the backend cannot. */
int lock_clone(lock_manager *lm, lock_manager **out, st_error *err);

/* "sqlite", "redis", "mock". */
const char *lock_backend_name(const lock_manager *lm);
const char *lock_mode_name(lock_mode m);

/* What a lock key locks: "pipeline", "enqueue", "table", "leader", "other". */
const char *lock_kind_of(const char *key);
/* The one JSON form of a held lock (lock_json.c): `lock list --json` and
 * GET /api/v1/locks. */
#include "../json/json.h"
void lock_info_write_json(json_writer *w, const lock_info *li, int64_t now);

/* Lease renewal (lock_renew.c): a pthread that renews every handle every
 * interval_ms on its own connection (lock_clone, or lm shared under its
 * mutex). If a renewal says ST_ESTALE — or the backend stays unreachable past
 * a lease — it sets *cancel = 1 and stops. Handles must outlive the renewer. */
typedef struct lock_renewer lock_renewer;
int lock_renewer_start(lock_renewer **out, lock_manager *lm, const lock_handle *const *handles,
                       size_t n, int64_t interval_ms, atomic_int *cancel, st_error *err);
/* Stops and joins the thread. Returns 0 if every lease held, else 1 + the
 * index of the handle whose lease was lost. NULL is a no-op returning 0. */
int lock_renewer_stop(lock_renewer *r);

/* Key builders; return buf. */
char *lock_key_pipeline(char *buf, size_t n, const char *pipeline);
char *lock_key_enqueue(char *buf, size_t n, const char *pipeline);
char *lock_key_table(char *buf, size_t n, const char *datastore, const char *schema,
                     const char *table);

#endif
