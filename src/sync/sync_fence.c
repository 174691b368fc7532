/*
 * sync_fence — a fenced run's destination set up before its first write
 * (DESIGN §4), and the lease re-check before each commit (sync_batch.c).
 *
 * Before the first batch, in this order:
 *   1. synctool_fence exists (store_fence_ensure_table: outside any
 *      transaction, safe against concurrent first runs);
 *   2. the run's fencing token is above every token the destination knows
 *      (store_fence_floor: the committed row, on PostgreSQL also the tags of
 *      live sessions). A token that is not — the lock store lost its
 *      counters (Redis restarted without persistence, the state file
 *      deleted) — is raised in the lock store above it (opts->fence_raise,
 *      only while the run still holds the lock), so tokens at a destination
 *      never go backwards and an older holder stays fenced out;
 *   3. this session is tagged with the token and every session of an older
 *      holder of the pipeline lock is ended (store_fence_session): one
 *      frozen mid-batch, even mid-COPY, would hold its row locks forever.
 *      One that cannot be ended (no privilege; SQLite, whose write lock
 *      belongs to another process) is remembered: if the run is then
 *      blocked (ST_EBUSY: lock_timeout, innodb_lock_wait_timeout, SQLite's
 *      busy timeout), the error names it and the job manager records the
 *      run skipped, not failed.
 * Right before every COMMIT the lock store is asked whether the run still
 * holds the pipeline lock with its token (opts->lease_check): a holder
 * frozen mid-batch whose lease was taken over — on SQLite the newer run
 * could not even raise the fence, the frozen one holding the write lock —
 * rolls back instead of committing when it wakes.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <string.h>

/* Ends the destination sessions of older holders; remembers one it could
 * not end. Failing to is a warning: lock waits are bounded anyway
 * (store_session_limits), and fencing still refuses their commits. */
static void fence_sessions(sync_ctx *c) {
    const sync_opts *o = c->o;
    const char *p = o->pipeline->name, *s = o->strategy->name;
    st_error e;
    int evicted = 0;
    int rc = store_fence_session(c->dst, o->fence_key, c->fence_token, &evicted,
                                 c->fence_holder, sizeof c->fence_holder, &e);
    if (rc == ST_ENOTIMPL) return;   /* SQLite: named only if it blocks this run */
    if (rc != ST_OK) log_warn(p, s, "cannot end sessions of older runs: %s", e.msg);
    if (evicted > 0)
        log_warn(p, s, "ended %d destination session(s) of older runs that lost the pipeline "
                 "lock", evicted);
    if (c->fence_holder[0])
        log_warn(p, s, "an older run that lost the pipeline lock may still hold the "
                 "destination: %s", c->fence_holder);
}

/* Step 2: the run's token above the destination's floor. */
static int fence_above_floor(sync_ctx *c) {
    const sync_opts *o = c->o;
    int64_t floor = -1;
    int rc = store_fence_floor(c->dst, o->fence_key, &floor, c->err);
    if (rc != ST_OK || floor < c->fence_token || o->fence_raise == NULL) return rc;
    int64_t was = c->fence_token;
    st_error e;
    rc = o->fence_raise(o->lease_arg, floor, &c->fence_token, &e);
    if (rc == ST_ENOTIMPL) return ST_OK;   /* store_fence_check decides */
    if (rc == ST_ESTALE) return st_error_set(c->err, ST_ELOST, "lost pipeline lock");
    if (rc != ST_OK) {
        *c->err = e;
        return st_error_wrap(c->err, "raising the fencing token above the destination's %lld",
                             (long long)floor);
    }
    log_warn(o->pipeline->name, o->strategy->name,
             "fencing token %lld is not above %lld, the newest the destination knows (the lock "
             "store lost its counters?): raised to %lld", (long long)was, (long long)floor,
             (long long)c->fence_token);
    return ST_OK;
}

int sync_fence_setup(sync_ctx *c) {
    c->fence_token = c->o->fence_token;
    c->fence_holder[0] = '\0';
    if (c->o->fence_key == NULL) return ST_OK;
    int rc = store_fence_ensure_table(c->dst, c->err);
    if (rc == ST_OK) rc = fence_above_floor(c);
    if (rc == ST_OK) fence_sessions(c);
    return rc;
}

int sync_fence_before_commit(sync_ctx *c) {
    const sync_opts *o = c->o;
    if (o->lease_check == NULL) return ST_OK;
    st_error e;
    /* Only a definite "taken over" stops the commit; an unreachable lock
     * store is the renewer's to judge (it gives up after a lease). */
    if (o->lease_check(o->lease_arg, &e) == ST_ESTALE) {
        log_warn(o->pipeline->name, o->strategy->name, "lease re-checked before commit: %s",
                 e.msg);
        return st_error_set(c->err, ST_ELOST, "lost pipeline lock");
    }
    return ST_OK;
}

int sync_fence_blocked(sync_ctx *c, int rc) {
    if (rc == ST_EBUSY && c->fence_holder[0])
        st_error_wrap(c->err, "blocked by %s, whose run lost the pipeline lock", c->fence_holder);
    return rc;
}
