/*
 * job — the job manager: take locks, execute, renew, release, record
 * (DESIGN §4). job_run() is the only way synctool executes a strategy.
 *
 *  1. no lock manager: on_locks_acquired, execute.
 *  2. unknown strategy: on_skip, failed "Strategy '<s>' not found in config".
 *  3. pipeline lock (wait if asked). Not acquired: on_skip, skipped,
 *     "Pipeline lock not available, skipping execution" or
 *     "Pipeline lock timeout after Ns, skipping execution".
 *  4. destination table lock, shared, same pattern:
 *     "Table has active DDL lock, skipping execution" or
 *     "Table DDL lock timeout after Ns, skipping execution".
 *  5. on_locks_acquired, execute while holding both locks (a renewal thread
 *     extends them every ttl/3 and raises `cancel` if one is lost),
 *     on_finished with the result (locks still held), release, return the
 *     result. An execution error is failed with the error text.
 *
 * job_run() does not write state itself: callers record through callbacks
 * and the returned result, so the same manager serves `run`, the embedded
 * scheduler and the distributed worker.
 */
#ifndef ST_JOB_H
#define ST_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "../lock/lock.h"
#include "../state/state.h"

#include <signal.h>

/* JOB_INTERRUPTED: execute stopped at a batch boundary because the caller's
 * interrupt flag was raised (SIGINT/SIGTERM); what was committed stays. */
typedef enum { JOB_SUCCESS = 0, JOB_FAILED, JOB_SKIPPED, JOB_INTERRUPTED } job_status;

typedef struct job_result {
    job_status status;
    char reason_code[64];  /* "", pipeline_lock_unavailable, table_ddl_lock_active,
                              table_ddl_lock_timeout, lock_backend_unavailable,
                              strategy_not_found, execution_error, lost_pipeline_lock,
                              lost_table_lock, interrupted, destination_locked */
    char message[1024];
    state_stats stats;
} job_result;

/* What execute gets: the pipeline lock handle (for fencing) with its lock
 * manager (job_lease_check, job_fence_raise), and the cancel flag raised
 * when a lease is lost. */
typedef struct job_exec_ctx {
    const config_pipeline *pipeline;
    const config_strategy *strategy;
    lock_handle *pipeline_lock;  /* NULL without a lock manager */
    lock_manager *locks;         /* the manager holding it; NULL without one */
    atomic_int *cancel;
    /* The caller's interrupt flag (job_opts.interrupt), NULL if none: sync
     * stops at the next batch boundary once it is non-zero. */
    atomic_int *interrupt;
} job_exec_ctx;

typedef int (*job_execute_fn)(void *ud, const job_exec_ctx *ctx, state_stats *stats,
                              st_error *err);

typedef struct job_callbacks {
    void (*on_locks_acquired)(void *ud, const job_exec_ctx *ctx);
    void (*on_skip)(void *ud, const char *reason_code, const char *message);
    void *ud;
    /* Optional: called once after an execution, with its result, while the
     * locks are STILL HELD, so the caller records success or failure before
     * anyone can take the lock. (Recording after release left a window in
     * which a scheduler saw "running" with a free lock and declared the
     * worker lost.) Not called for skips. */
    void (*on_finished)(void *ud, const job_exec_ctx *ctx, const job_result *res);
} job_callbacks;

typedef struct job_opts {
    const char *strategy;        /* required */
    bool wait_pipeline_lock;
    int64_t pipeline_lock_timeout_s;
    bool wait_table_lock;
    int64_t table_lock_timeout_s;
    int64_t lease_ttl_ms;        /* 0 = 30000 */
    /* Optional: raised (non-zero, e.g. the signal number) by a signal
     * handler or a supervisor thread to interrupt the run. A lock wait
     * gives up, execution stops at the next batch boundary; the result is
     * JOB_INTERRUPTED, reason_code "interrupted". */
    atomic_int *interrupt;
} job_opts;

/* Fills opts from the pipeline's locks: block and strategy name. */
void job_opts_from_config(job_opts *opts, const config_pipeline *p, const char *strategy);

/* Runs per the steps above. Always fills *out; returns 0 unless an argument
 * is invalid. `lm` may be NULL (no locking). */
int job_run(const config *cfg, const config_pipeline *p, const job_opts *opts,
            lock_manager *lm, const job_callbacks *cb, job_execute_fn exec, void *exec_ud,
            job_result *out);

/* Helpers the spec names: the strategy by name (NULL if absent) and the
 * destination {datastore, schema, table}. */
const config_strategy *job_strategy_config(const config_pipeline *p, const char *name);
void job_destination_table(const config_pipeline *p, const char **datastore,
                           const char **schema, const char **table);

const char *job_status_name(job_status s);

/* The running job's pipeline lease, for execute to hand to sync (sync_opts
 * lease_check / fence_raise, arg: the job_exec_ctx). job_lease_check asks
 * the lock store whether the pipeline lock is still held with its fencing
 * token (ST_ESTALE when not); job_fence_raise raises that token above
 * `floor` (lock_raise_fence) and stores it in *token. Both ST_ENOTIMPL
 * without a lock manager. */
int job_lease_check(const void *ctx, st_error *err);
int job_fence_raise(const void *ctx, int64_t floor, int64_t *token, st_error *err);

#endif
