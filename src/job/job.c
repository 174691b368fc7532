/*
 * job — the job manager (see job.h for the five steps).
 *
 * job_run() is the one place that turns "run strategy S of pipeline P" into
 * locks, execution and a result. Its invariants:
 *   - execute is called only while both the pipeline lock (exclusive, on
 *     lock_key_pipeline) and the destination table lock (shared, on
 *     lock_key_table of the destination) are held, and only after
 *     on_locks_acquired has returned;
 *   - every path that does not execute calls on_skip exactly once, with the
 *     reason code and the DESIGN §4 message;
 *   - locks are released in reverse order on every path, and a release that
 *     finds the lock already gone is logged, not fatal (the lease expired).
 *
 * While execute runs, a lock_renewer extends both leases every ttl/3 on its
 * own connection; a renewer that cannot start (no thread) skips the run
 * with reason `lease_renewal_unavailable` before anything executes. If it reports a lost lease it raises the cancel flag that
 * execute receives (sync checks it before every commit); the result is then
 * failed with reason `lost_pipeline_lock`, message "lost pipeline lock"
 * (`lost_table_lock` if it was the table lease), whatever execute returned.
 *
 * An execution that returns ST_EBUSY (the destination itself is locked by
 * another writer, e.g. a frozen run's open SQLite transaction) is skipped
 * with reason `destination_locked`, not failed: retried inside its slot,
 * retry_count unchanged.
 *
 * Deliberately not here: state writes (callers record via callbacks and the
 * returned result) and clock-based decisions — waiting is delegated to
 * lock_acquire_wait, which owns the poll loop and the exact deadline.
 *
 * Order note: DESIGN lists "no lock manager" before "unknown strategy"; we
 * check the strategy first because executing a strategy that does not exist
 * is never meaningful, with or without locks.
 */
#include "job.h"

#include "../log/log.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define JOB_DEFAULT_TTL_MS 30000

const char *job_status_name(job_status s) {
    switch (s) {
    case JOB_SUCCESS: return "success";
    case JOB_FAILED: return "failed";
    case JOB_SKIPPED: return "skipped";
    case JOB_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}

void job_opts_from_config(job_opts *opts, const config_pipeline *p, const char *strategy) {
    memset(opts, 0, sizeof *opts);
    opts->strategy = strategy;
    opts->wait_pipeline_lock = p->locks.wait_for_pipeline_lock;
    opts->pipeline_lock_timeout_s = p->locks.pipeline_lock_wait_timeout;
    opts->wait_table_lock = p->locks.wait_for_table_lock;
    opts->table_lock_timeout_s = p->locks.table_lock_wait_timeout;
    opts->lease_ttl_ms = p->locks.lease_ttl_seconds > 0 ? p->locks.lease_ttl_seconds * 1000
                                                        : JOB_DEFAULT_TTL_MS;
}

const config_strategy *job_strategy_config(const config_pipeline *p, const char *name) {
    if (p == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < p->nstrategies; i++)
        if (strcmp(p->strategies[i].name, name) == 0) return &p->strategies[i];
    return NULL;
}

void job_destination_table(const config_pipeline *p, const char **datastore,
                           const char **schema, const char **table) {
    *datastore = p->destination.datastore;
    *schema = p->destination.schema;
    *table = p->destination.table;
}

/* --- results ------------------------------------------------------------- */

static void result_set(job_result *out, job_status status, const char *code, const char *msg) {
    out->status = status;
    snprintf(out->reason_code, sizeof out->reason_code, "%s", code);
    snprintf(out->message, sizeof out->message, "%s", msg);
}

static void skip(const job_callbacks *cb, job_result *out, job_status status, const char *code,
                 const char *msg) {
    result_set(out, status, code, msg);
    if (cb != NULL && cb->on_skip != NULL) cb->on_skip(cb->ud, code, msg);
}

/* --- locks --------------------------------------------------------------- */

typedef struct lock_step {
    const char *busy_code, *busy_msg;       /* not acquired, no wait */
    const char *timeout_code, *timeout_fmt; /* waited and gave up; %lld = seconds */
} lock_step;

static const lock_step PIPELINE_STEP = {
    "pipeline_lock_unavailable", "Pipeline lock not available, skipping execution",
    "pipeline_lock_unavailable", "Pipeline lock timeout after %llds, skipping execution"};
static const lock_step TABLE_STEP = {
    "table_ddl_lock_active", "Table has active DDL lock, skipping execution",
    "table_ddl_lock_timeout", "Table DDL lock timeout after %llds, skipping execution"};

/* Takes one lock, waiting if asked. On failure fills *out (and calls
 * on_skip) and returns non-zero. */
static int take(lock_manager *lm, const char *key, lock_mode mode, bool wait,
                int64_t timeout_s, int64_t ttl_ms, const lock_step *step,
                const job_callbacks *cb, lock_handle *h, job_result *out,
                const config_pipeline *p, const char *strategy) {
    st_error err;
    int rc = lock_acquire(lm, key, mode, ttl_ms, h, &err);
    if (rc == ST_EBUSY && wait && timeout_s > 0) {
        /* Said once, so an operator (and a test) sees why the run is not
         * starting yet. */
        log_info(p->name, strategy, "lock %s is busy; waiting up to %llds for it", key,
                 (long long)timeout_s);
        rc = lock_acquire_wait(lm, key, mode, ttl_ms, timeout_s * 1000, h, &err);
    }
    if (rc == ST_OK) return 0;
    char msg[1024];
    if (rc == ST_EINTR) {
        skip(cb, out, JOB_INTERRUPTED, "interrupted", "interrupted while waiting for a lock");
    } else if (rc == ST_EBUSY) {
        skip(cb, out, JOB_SKIPPED, step->busy_code, step->busy_msg);
    } else if (rc == ST_ETIMEOUT) {
        snprintf(msg, sizeof msg, step->timeout_fmt, (long long)timeout_s);
        skip(cb, out, JOB_SKIPPED, step->timeout_code, msg);
    } else {
        snprintf(msg, sizeof msg, "Lock backend unavailable, skipping execution: %s", err.msg);
        skip(cb, out, JOB_SKIPPED, "lock_backend_unavailable", msg);
    }
    return rc;
}

static void release(lock_manager *lm, const lock_handle *h, const config_pipeline *p,
                    const char *strategy) {
    st_error err;
    if (lock_release(lm, h, &err) != ST_OK)
        log_warn(p->name, strategy, "releasing %s: %s", h->key, err.msg);
}

/* --- execution ----------------------------------------------------------- */

/* on_finished, if the caller wants it: the locks are still held here. */
static void finished(const job_callbacks *cb, const job_exec_ctx *ctx, const job_result *out) {
    if (cb != NULL && cb->on_finished != NULL) cb->on_finished(cb->ud, ctx, out);
}

/* on_locks_acquired, then execute; maps execute's outcome into *out. */
static void execute(const job_callbacks *cb, const job_exec_ctx *ctx, job_execute_fn exec,
                    void *exec_ud, job_result *out) {
    if (cb != NULL && cb->on_locks_acquired != NULL) cb->on_locks_acquired(cb->ud, ctx);
    st_error err;
    st_error_clear(&err);
    int rc = exec ? exec(exec_ud, ctx, &out->stats, &err)
                  : st_error_set(&err, ST_EINVAL, "no execute function");
    if (rc == ST_OK) result_set(out, JOB_SUCCESS, "", "completed");
    else if (rc == ST_EINTR) result_set(out, JOB_INTERRUPTED, "interrupted", "interrupted");
    else if (rc == ST_EBUSY) {
        char msg[1024];
        snprintf(msg, sizeof msg, "Destination locked by another writer, skipping execution: %s",
                 err.msg);
        result_set(out, JOB_SKIPPED, "destination_locked", msg);
    }
    else result_set(out, JOB_FAILED, "execution_error", err.msg[0] ? err.msg : st_error_name(rc));
}

static void execute_renewed(lock_manager *lm, const job_opts *opts, const job_callbacks *cb,
                            job_exec_ctx *ctx, const lock_handle *const *hs,
                            job_execute_fn exec, void *exec_ud, job_result *out) {
    int64_t ttl = hs[0]->ttl_ms;
    lock_renewer *r = NULL;
    st_error err;
    if (lock_renewer_start(&r, lm, hs, 2, ttl / 3, ctx->cancel, &err) != ST_OK) {
        /* without renewal a run longer than the lease would lose its locks
         * unnoticed: do not start it */
        char msg[1024];
        snprintf(msg, sizeof msg, "Lease renewal could not start, skipping execution: %s",
                 err.msg);
        log_warn(ctx->pipeline->name, opts->strategy, "%s", msg);
        skip(cb, out, JOB_SKIPPED, "lease_renewal_unavailable", msg);
        return;
    }
    execute(cb, ctx, exec, exec_ud, out);
    int lost = lock_renewer_stop(r);
    if (out->status == JOB_INTERRUPTED && !lost) {
        /* what was committed was committed under our fence: keep it */
    } else if (lost == 2) result_set(out, JOB_FAILED, "lost_table_lock", "lost table lock");
    else if (lost || *ctx->cancel)
        result_set(out, JOB_FAILED, "lost_pipeline_lock", "lost pipeline lock");
    finished(cb, ctx, out);
}

/* Steps 3-5 of job_run: both locks, execute under renewal, release. */
static void run_locked(const config_pipeline *p, const job_opts *opts, lock_manager *lm,
                       const job_callbacks *cb, job_exec_ctx *ctx, job_execute_fn exec,
                       void *exec_ud, job_result *out) {
    int64_t ttl = opts->lease_ttl_ms > 0 ? opts->lease_ttl_ms : JOB_DEFAULT_TTL_MS;
    char pkey[320], tkey[320];
    const char *ds, *schema, *table;
    job_destination_table(p, &ds, &schema, &table);
    lock_key_pipeline(pkey, sizeof pkey, p->name);
    lock_key_table(tkey, sizeof tkey, ds, schema ? schema : "", table ? table : "");
    lock_handle ph, th;
    if (take(lm, pkey, LOCK_EXCLUSIVE, opts->wait_pipeline_lock, opts->pipeline_lock_timeout_s,
             ttl, &PIPELINE_STEP, cb, &ph, out, p, opts->strategy) != 0)
        return;
    if (take(lm, tkey, LOCK_SHARED, opts->wait_table_lock, opts->table_lock_timeout_s, ttl,
             &TABLE_STEP, cb, &th, out, p, opts->strategy) != 0) {
        release(lm, &ph, p, opts->strategy);
        return;
    }
    ctx->pipeline_lock = &ph;
    ctx->locks = lm;
    log_detail(p->name, opts->strategy, "locks acquired: pipeline (fencing token %" PRId64
             "), table %s.%s.%s (shared); executing", ph.fence, ds,
             config_schema_shown(&p->destination),
             table ? table : "-");
    const lock_handle *hs[] = {&ph, &th};
    execute_renewed(lm, opts, cb, ctx, hs, exec, exec_ud, out);
    ctx->pipeline_lock = NULL;
    ctx->locks = NULL;
    release(lm, &th, p, opts->strategy);
    release(lm, &ph, p, opts->strategy);
}

int job_lease_check(const void *ctx, st_error *err) {
    const job_exec_ctx *c = ctx;
    if (c->locks == NULL || c->pipeline_lock == NULL)
        return st_error_set(err, ST_ENOTIMPL, "no pipeline lock");
    return lock_check_fence(c->locks, c->pipeline_lock, err);
}

int job_fence_raise(const void *ctx, int64_t floor, int64_t *token, st_error *err) {
    const job_exec_ctx *c = ctx;
    if (c->locks == NULL || c->pipeline_lock == NULL)
        return st_error_set(err, ST_ENOTIMPL, "no pipeline lock");
    int rc = lock_raise_fence(c->locks, c->pipeline_lock, floor, err);
    if (rc == ST_OK) *token = c->pipeline_lock->fence;
    return rc;
}

int job_run(const config *cfg, const config_pipeline *p, const job_opts *opts,
            lock_manager *lm, const job_callbacks *cb, job_execute_fn exec, void *exec_ud,
            job_result *out) {
    (void)cfg;
    memset(out, 0, sizeof *out);
    if (p == NULL || opts == NULL) {
        result_set(out, JOB_FAILED, "execution_error", "job: no pipeline or options");
        return ST_EINVAL;
    }
    atomic_int cancel = 0;
    job_exec_ctx ctx = {.pipeline = p, .strategy = job_strategy_config(p, opts->strategy),
                        .pipeline_lock = NULL, .cancel = &cancel,
                        .interrupt = opts->interrupt};
    if (ctx.strategy == NULL) {
        char msg[512];
        snprintf(msg, sizeof msg, "Strategy '%s' not found in config",
                 opts->strategy ? opts->strategy : "");
        skip(cb, out, JOB_FAILED, "strategy_not_found", msg);
        return ST_OK;
    }
    if (lm == NULL) {
        execute(cb, &ctx, exec, exec_ud, out);
        finished(cb, &ctx, out);
    } else {
        lock_set_cancel(lm, opts->interrupt);
        run_locked(p, opts, lm, cb, &ctx, exec, exec_ud, out);
        lock_set_cancel(lm, NULL);
    }
    /* Callers report the result in their own words (run prints a summary,
     * the scheduler logs the §3 reasons); this line is for debugging. */
    log_debug(p->name, opts->strategy, "job %s (%s): %s", job_status_name(out->status),
              out->reason_code[0] ? out->reason_code : "ok", out->message);
    return ST_OK;
}
