/*
 * run — the one run lifecycle (DESIGN §3-§4): every run of a strategy, be
 * it `synctool run`, an embedded scheduler's job process, a `synctool
 * worker` or one started by `POST /api/v1/pipelines/{name}/run`, goes
 * through the functions below, so each step exists once:
 *
 *   1. choose   run_default_strategy: without --strategy / a body's
 *               "strategy", the enabled strategy with the longest cron slot
 *               at `now`, ties in config order (the scheduler's priority).
 *   2. hand off run_enqueue allocates the run id and marks it pending under
 *               the enqueue lock (the tick and the HTTP trigger); the job
 *               then goes to the queue or to a job process started by
 *               run_spawn_job (the one spawn helper: the job, its enqueue
 *               owner token and the validated config travel on the child's
 *               stdin, never in argv).
 *   3. run      run_job: the job manager (job_run) takes the pipeline and
 *               table locks; once they are held, runs of the pipeline still
 *               marked running are recorded lost (their lease lapsed: we
 *               hold the lock), a manual run allocates its run id there, and
 *               the record is marked running; then sync_run executes.
 *   4. record   the outcome (success, failed, skipped, interrupted) is
 *               recorded while the locks are still held, as one
 *               state_outcome (run_store_outcome); a run whose data may be
 *               committed, or whose pending record must be closed, retries
 *               an unreachable state store for its lease and then keeps the
 *               outcome in the local spool (state_spool.c) for the next
 *               synctool command on the host.
 *   5. recover  run_recover_lost: a record `running` whose pipeline lock
 *               nobody holds died without recording (SIGKILL, OOM, a dead
 *               host) and is recorded `lost` after taking that lock; used by
 *               the tick, `status` and step 3. A job that never reached step 3
 *               is closed by run_record_unstarted.
 *
 * Duplicates: a delivered job carries its run id, and every hold it takes
 * is tagged with it (lock owner "run-<id>.<random>"). A second delivery of
 * the same run therefore knows its twin from the pipeline lock holder's
 * owner token at once — no polling of the state, no sleeping. A delivery
 * whose run was superseded or already finished is dropped before and again
 * after taking the locks, and a skip is never recorded over another run in
 * progress (run_skip_is_duplicate): duplicates add no history and
 * overwrite no result.
 *
 * Time: a delivered job may carry a fixed `at` (`scheduler --once --at`);
 * the run's state times are then that instant. Otherwise the wall clock is
 * read here, at the edges of a run, never inside a decision.
 */
#ifndef ST_RUN_H
#define ST_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "../job/job.h"
#include "../lock/lock.h"
#include "../queue/queue.h"
#include "../state/state.h"

/* The cause recorded for a run found dead (step 5). */
#define RUN_WORKER_LOST "Worker lost: lease expired"

/* Printed and logged when a run's outcome could not be recorded: the data
 * is committed, the state does not know (the caller exits 69). */
#define RUN_NOT_RECORDED "data copied, outcome not recorded"

/* --- 1. choose --- */

/* The enabled strategy of p with the longest cron slot around now (a
 * strategy without a usable cron counts as shorter than any), ties in
 * config order; NULL if none is enabled. */
const config_strategy *run_default_strategy(const config_pipeline *p, int64_t now);

/* --- 2. hand off --- */

/* Allocates a run id for (pipeline, strategy), marks it pending at now and
 * fills *job (at: the fixed time the job records, 0 for the wall clock;
 * enqueue: the enqueue lock the consumer releases, NULL for none). */
int run_enqueue(state *st, const char *pipeline, const char *strategy, int64_t now,
                int64_t at, const lock_handle *enqueue, queue_job *job, st_error *err);

/* How run_spawn_job starts `synctool scheduler --exec-job`. */
typedef enum {
    RUN_SPAWN_CHILD,     /* a child in its own process group, reaped by the caller */
    RUN_SPAWN_DETACHED   /* adopted by init (double fork, own session): nothing to reap */
} run_spawn_mode;

typedef struct run_spawn_opts {
    const char *self;        /* absolute path of this binary; NULL: /proc/self/exe */
    const char *config_dir;
    const char *log_level;   /* "debug", "info", ... */
    run_spawn_mode mode;
} run_spawn_opts;

/* Starts the job process for j with the configuration cfg validated (the
 * hand-off below on its stdin). Blocks only until the exec happened. *pid
 * (may be NULL) gets the child's pid in RUN_SPAWN_CHILD mode. On failure
 * err says which step failed and why ("fork: Resource temporarily
 * unavailable", "exec: No such file or directory"), with errno set. */
int run_spawn_job(const run_spawn_opts *o, const queue_job *j, const config *cfg, pid_t *pid,
                  st_error *err);

/* argv[0] (an absolute path) started as run_spawn_job starts the job
 * process, stdin_fd (>= 0) as its standard input. Every failure is
 * reported, as above. */
int run_spawn_argv(char *const argv[], int stdin_fd, run_spawn_mode mode, pid_t *pid,
                   st_error *err);

/* The job hand-off: the queued job (with its enqueue lock key and owner
 * token) and the configuration the parent validated (the bytes of
 * datastores.yaml and of the job's pipeline file, its directory and its
 * state URL), so the job runs with that configuration and never with files
 * an operator is editing (DESIGN §2). Secrets travel as written in the
 * files (${VAR} unresolved); the child inherits the parent's environment.
 * run_handoff_write() puts it all in a new memory file (any size, nothing
 * blocks), rewound, in *rfd (the caller closes it after forking);
 * run_handoff_read() parses it back, refusing anything malformed or too
 * long for its field (never truncated). */
typedef struct run_handoff {
    queue_job job;
    backend_url state_url;  /* the parent's state URL (kind BURL_NONE when none) */
    char *dir;              /* absolute config directory */
    config_source *files;   /* for config_load_snapshot() */
    size_t nfiles;
} run_handoff;

int run_handoff_write(const queue_job *j, const config *cfg, int *rfd, st_error *err);
int run_handoff_read(int fd, run_handoff *h, st_error *err);
void run_handoff_clear(run_handoff *h);

/* --- 3-4. run and record --- */

typedef struct run_spec {
    const config *cfg;
    state *st;                  /* NULL: nothing is recorded (`run` without state) */
    lock_manager *lm;           /* NULL: no locking (tests) */
    const char *pipeline, *strategy;
    /* A delivered job (run id, fixed time, enqueue lock); NULL for a manual
     * run (`synctool run`), whose run id is allocated once it holds the
     * locks, whose failure does not count toward the pause, and whose
     * result line goes only to its log (the command prints a summary). */
    const queue_job *job;
    const char *worker;         /* recorded in state: host:pid, run:pid, ... */
    atomic_int *interrupt;      /* optional: the run stops at a batch boundary */
    /* Optional lock settings (`run`'s --lock-timeout...); NULL: the
     * pipeline's, and a redelivered job whose run is still marked running
     * waits one lease for the dead worker's pipeline lock. */
    const job_opts *opts;
    /* The lock store could not be opened (its error): nothing executes, the
     * run is skipped `lock_backend_unavailable`. NULL normally. */
    const st_error *locks_unavailable;
    bool progress;              /* the live progress line (a terminal) */
    int64_t progress_interval_s;  /* 0: the default */
    /* Optional: why cfg may lack a delivered job's pipeline, appended to
     * "Pipeline 'P' not found in config". */
    const char *config_problem;
} run_spec;

typedef enum {
    RUN_RAN = 0,        /* went through the job manager; res says how */
    RUN_DROPPED         /* superseded, already finished, or a duplicate: nothing recorded */
} run_outcome;

typedef struct run_result {
    run_outcome outcome;
    job_result res;
    int64_t run_id;     /* 0: no run id (a manual run that recorded nothing) */
    bool executed;      /* execution started: data may be committed */
    int record_rc;      /* how recording the outcome ended (ST_OK when nothing to record) */
} run_result;

/* Runs s through steps 3 and 4, inside a log capture whose lines are kept
 * with the history entry. Returns 0 once the run is handled (a delivered
 * job may be acknowledged), or the state's error when its record could
 * not be read or its outcome not recorded (out->record_rc; do not
 * acknowledge: it will be retried, or it is in the spool when out->executed
 * and the store stayed unreachable: ST_EUNAVAIL). */
int run_job(const run_spec *s, run_result *out, st_error *err);

/* Exit code for a result: 0 success, 1 failed, 75 skipped, 128 + signal
 * (130, 143) interrupted (signo: the interrupt flag's value). */
int run_exit_code(const job_result *res, int signo);

/* The outcome of a finished run as recorded, built in one place: its
 * strings point into the arguments. */
void run_outcome_of(state_outcome *o, const char *pipeline, const char *strategy,
                    int64_t run_id, job_status status, int64_t started, int64_t finished,
                    const char *worker, const job_result *res, const char *log, bool manual);

/* Records o: state_mark_finished_manual for a manual run, else
 * state_mark_finished_log. */
int run_store_outcome(state *st, const state_outcome *o, st_error *err);

/* Whether a skip (or an interrupted lock wait) of the run run_id (0: a
 * manual run without one yet) must not be recorded because another run is
 * in progress: a twin delivery of the same run holds the pipeline lock
 * (its owner token carries the run id), or the record shows this run past
 * pending, or another run running or pending. *why gets the phrase for the
 * log ("another delivery of it is holding the pipeline lock"). No waiting. */
bool run_skip_is_duplicate(state *st, lock_manager *lm, const char *pipeline,
                           const char *strategy, int64_t run_id, const job_result *res,
                           char *why, size_t n);

/* The owner tag of a delivery's holds: "run-<id>". */
void run_owner_tag(char *buf, size_t n, int64_t run_id);

/* Calls fn(ud, err) until it returns anything but ST_EUNAVAIL, backing off
 * 0.5 s doubling to 5 s (one warning per try), for up to within_ms — a run
 * whose data is committed passes its lease, so its outcome lands if the
 * store comes back in that time. Returns fn's last result. */
int run_retry_store(int (*fn)(void *ud, st_error *err), void *ud, int64_t within_ms,
                    const char *pipeline, const char *strategy, st_error *err);

/* --- 5. recover --- */

/* Records `lost` every running record of recs[0..n) — of `pipeline`, or
 * of all if NULL; never run except_run_id (a redelivery resuming it) —
 * whose pipeline lock nobody holds: each such lock is taken first (lm NULL:
 * the caller holds the pipeline's lock, so every running record of it is
 * dead). A recorded entry of recs is updated to its new state. Counts go
 * to *recovered and *failed (may be NULL); failures are logged. Returns 0,
 * or the error of listing the locks. */
int run_recover_records(state *st, lock_manager *lm, state_record *recs, size_t n,
                        const char *pipeline, int64_t except_run_id, int64_t now,
                        size_t *recovered, size_t *failed, st_error *err);

/* run_recover_records over the whole state (state_list), e.g. for
 * `status`. (A run holding its pipeline lock recovers that pipeline's
 * configured strategies only: step 3.) */
int run_recover_lost(state *st, lock_manager *lm, const char *pipeline, int64_t except_run_id,
                     int64_t now, size_t *recovered, st_error *err);

/* A job that never got to run_job — its process could not be started, its
 * hand-off not loaded, or it died before recording anything — is recorded
 * here instead of staying pending: status (STATE_FAILED, or STATE_LOST)
 * with `cause` as its error and its one log line ("run N: CAUSE", logged at
 * error level too), so it shows in history, `logs`, `why`, the API and the
 * alerts. Only while the record still holds this run as pending (when
 * only_pending). Releases the job's enqueue lock (lm may be NULL). now: the
 * job's time. Returns 0 (also when there was nothing to record) or the
 * state's error. */
int run_record_unstarted(state *st, lock_manager *lm, const queue_job *job,
                         state_status status, bool only_pending, int64_t now,
                         const char *worker, const char *cause, st_error *err);

#endif
