/*
 * run_lifecycle — one run from choice to outcome (run.h has the steps):
 * the default strategy, the run id and pending record of a hand-off, and
 * run_job(), the one job body behind `synctool run`, the embedded
 * scheduler's job processes and `synctool worker` alike.
 *
 * run_job() drives the job manager (job_run) with three callbacks:
 *   - on_locks_acquired: a delivered job looks at its record again (a twin
 *     delivery may have run it while we waited) and is abandoned if it is
 *     stale; then runs of the pipeline still marked running are recorded
 *     lost (we hold the pipeline lock, so they are dead; a redelivery's own
 *     run excepted, it resumes), a manual run allocates its run id, the
 *     record is marked running, and the enqueue lock is released;
 *   - execute: sync_run under the locks, fenced by the pipeline lock;
 *   - on_finished: the outcome is logged and recorded while the locks are
 *     still held (run_record).
 * A run that did not execute (a skip, a lock wait interrupted, the lock
 * store away) is recorded after job_run returns — unless it is a duplicate
 * (run_skip_is_duplicate), which records nothing.
 *
 * Recording persists — retried within the pipeline's lease while the state
 * store is unreachable, then spooled — when the run executed (its data may
 * be committed) or was delivered (its pending record must be closed); a
 * manual run that did not execute is recorded once.
 *
 * The two callers differ only where the spec says: a manual run has no
 * run id until it holds the locks, counts no failure toward the pause, and
 * writes its result line only into its log (the command prints a summary);
 * a delivered job has a run id, a fixed time perhaps, an enqueue lock to
 * release, and tags its lock holds with its run id.
 */
#include "run.h"
#include "run_int.h"

#include "../cron/cron.h"
#include "../log/log.h"
#include "../sync/sync.h"
#include "../time/st_time.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_DEFAULT_LEASE_S 30

/* --- 1. choose --- */

/* Slot length of s at now in microseconds; -1 without a usable cron. */
static int64_t run_slot_length(const config_strategy *s, int64_t now) {
    cron_expr *c = NULL;
    if (s->cron == NULL || cron_parse(&c, s->cron, s->timezone, NULL) != ST_OK) return -1;
    int64_t prev, next, len = -1;
    if (cron_prev(c, now, &prev) == ST_OK && cron_next(c, now, &next) == ST_OK) len = next - prev;
    cron_free(c);
    return len;
}

const config_strategy *run_default_strategy(const config_pipeline *p, int64_t now) {
    const config_strategy *best = NULL;
    int64_t best_len = -2;
    for (size_t i = 0; i < p->nstrategies; i++) {
        if (!p->strategies[i].enabled) continue;
        int64_t len = run_slot_length(&p->strategies[i], now);
        if (len > best_len) {
            best = &p->strategies[i];
            best_len = len;
        }
    }
    return best;
}

/* --- 2. hand off --- */

int run_enqueue(state *st, const char *pipeline, const char *strategy, int64_t now,
                int64_t at, const lock_handle *enqueue, queue_job *job, st_error *err) {
    memset(job, 0, sizeof *job);
    snprintf(job->pipeline, sizeof job->pipeline, "%s", pipeline);
    snprintf(job->strategy, sizeof job->strategy, "%s", strategy);
    job->at = at;
    if (enqueue != NULL) {
        snprintf(job->enqueue_key, sizeof job->enqueue_key, "%s", enqueue->key);
        snprintf(job->enqueue_owner, sizeof job->enqueue_owner, "%s", enqueue->owner);
        job->enqueue_fence = enqueue->fence;
    }
    int rc = state_new_run_id(st, &job->run_id, err);
    if (rc == ST_OK) rc = state_mark_pending(st, pipeline, strategy, job->run_id, now, err);
    return rc;
}

/* --- 3-4. run and record --- */

typedef struct run_ctx {
    const run_spec *s;
    const config_pipeline *p;
    int64_t run_id;          /* the job's, or allocated once the locks are held */
    int64_t started;         /* the run's start as recorded */
    int64_t mono_start;      /* for a duration sync did not measure */
    bool enqueue_released;
    bool abandoned;          /* another delivery of this run got there first */
    bool recorded;           /* on_finished recorded the outcome (or tried) */
    bool executed;
    int record_rc;
    st_error record_err;
} run_ctx;

static int64_t run_now(const run_ctx *c) {
    return c->s->job != NULL && c->s->job->at != 0 ? c->s->job->at : st_time_now();
}

static bool run_manual(const run_ctx *c) { return c->s->job == NULL; }

/* An operator's run (`run`, or a job triggered through the API): its
 * failure does not count toward the pause (retry.pause_window). */
static bool run_by_operator(const run_ctx *c) { return c->s->job == NULL || c->s->job->manual; }

static int64_t run_lease_s(const run_ctx *c) {
    return c->p != NULL && c->p->locks.lease_ttl_seconds > 0 ? c->p->locks.lease_ttl_seconds
                                                             : RUN_DEFAULT_LEASE_S;
}

/* A manual run's run id: allocated only when there is something to record
 * (its locks are held, or its skip is recorded), never up front. */
static int run_allocate(run_ctx *c, st_error *err) {
    return c->run_id != 0 ? ST_OK : state_new_run_id(c->s->st, &c->run_id, err);
}

static void run_release_enqueue(run_ctx *c) {
    if (c->enqueue_released || c->s->job == NULL) return;
    run_release_enqueue_of(c->s->lm, c->s->job);
    c->enqueue_released = true;
}

/* Whether a delivered job must not run: a newer run superseded it, or this
 * very run already finished (a redelivery after the ack was lost). */
static bool run_job_stale(const state_record *rec, const queue_job *job, char *why, size_t n) {
    if (rec->run_id > job->run_id) {
        snprintf(why, n, "superseded by run %" PRId64, rec->run_id);
        return true;
    }
    if (rec->run_id != job->run_id) return false;
    /* lost (or failed "Worker lost" from before `lost` existed): a
     * redelivery of the run may still run it */
    bool lost = rec->status == STATE_LOST ||
                (rec->status == STATE_FAILED &&
                 (strcmp(rec->error, RUN_WORKER_LOST) == 0 ||
                  strcmp(rec->message, RUN_WORKER_LOST) == 0));
    if (rec->status == STATE_SUCCESS || rec->status == STATE_SKIPPED ||
        rec->status == STATE_INTERRUPTED || (rec->status == STATE_FAILED && !lost)) {
        snprintf(why, n, "already finished (%s)", state_status_name(rec->status));
        return true;
    }
    return false;
}

/* A delivered job's record says it must not run: logged, dropped. */
static bool run_drop_if_stale(run_ctx *c, const state_record *rec) {
    char why[160];
    const queue_job *job = c->s->job;
    if (!run_job_stale(rec, job, why, sizeof why)) return false;
    log_info(job->pipeline, job->strategy, "Run %" PRId64 " not run: %s", job->run_id, why);
    run_release_enqueue(c);
    return true;
}

/* We hold the pipeline lock: the pipeline's runs still marked running are
 * dead (a redelivery's own run excepted: it resumes). Only this pipeline's
 * configured strategies are read, one record each (the tick covers the
 * rest), so a job costs no listing of the whole state. */
static void run_recover_pipeline(run_ctx *c) {
    const run_spec *s = c->s;
    state_record *recs = calloc(c->p->nstrategies ? c->p->nstrategies : 1, sizeof *recs);
    size_t n = 0, failed = 0;
    st_error e;
    for (size_t i = 0; recs != NULL && i < c->p->nstrategies; i++)
        if (state_get(s->st, s->pipeline, c->p->strategies[i].name, &recs[n], NULL) == ST_OK &&
            recs[n].status == STATE_RUNNING)
            n++;
    if (n > 0 && run_recover_records(s->st, NULL, recs, n, s->pipeline, c->run_id, run_now(c),
                                     NULL, &failed, &e) == ST_OK && failed > 0)
        log_warn(s->pipeline, s->strategy, "cannot record %zu lost runs", failed);
    free(recs);
}

/* We hold the locks: look again (delivered), recover the pipeline's dead
 * runs, allocate (manual) and mark running. */
static void run_on_locks_acquired(void *ud, const job_exec_ctx *ctx) {
    run_ctx *c = ud;
    const run_spec *s = c->s;
    st_error e;
    state_record rec;
    if (s->st == NULL) return;
    if (s->job != NULL && state_get(s->st, s->pipeline, s->strategy, &rec, &e) == ST_OK &&
        run_drop_if_stale(c, &rec)) {
        c->abandoned = true;
        return;
    }
    if (ctx->pipeline_lock != NULL) run_recover_pipeline(c);
    if (run_allocate(c, &e) != ST_OK ||
        state_mark_running(s->st, s->pipeline, s->strategy, c->run_id, run_now(c), s->worker,
                           &e) != ST_OK)
        log_warn(s->pipeline, s->strategy, "cannot mark run %" PRId64 " running: %s",
                 c->run_id, e.msg);
    run_release_enqueue(c);
}

static void run_on_skip(void *ud, const char *reason_code, const char *message) {
    (void)reason_code;
    (void)message;
    run_release_enqueue(ud);
}

static int run_execute(void *ud, const job_exec_ctx *ctx, state_stats *stats, st_error *err) {
    run_ctx *c = ud;
    if (c->abandoned) return ST_OK;
    c->executed = true;
    sync_opts so = {.cfg = c->s->cfg, .pipeline = ctx->pipeline, .strategy = ctx->strategy,
                    .st = c->s->st, .cancel = ctx->cancel, .interrupt = ctx->interrupt,
                    .progress = c->s->progress,
                    .progress_interval_s = c->s->progress_interval_s,
                    .now = c->started, .run_id = c->run_id,
                    /* a delivered job's one info line is run_log_result's */
                    .done_is_detail = !run_manual(c)};
    if (ctx->pipeline_lock != NULL) {
        so.fence_key = ctx->pipeline_lock->fence_key;
        so.fence_token = ctx->pipeline_lock->fence;
        so.lease_check = job_lease_check;
        so.fence_raise = job_fence_raise;
        so.lease_arg = ctx;
    }
    return sync_run(&so, stats, err);
}

static void run_fill_seconds(const run_ctx *c, job_result *res) {
    if (res->stats.seconds <= 0 && res->status != JOB_SKIPPED)
        res->stats.seconds = (double)(st_time_mono_ms() - c->mono_start) / 1000.0;
}

/* The result line: logged for a delivered job (the scheduler's and worker's
 * log); only kept in the run's log for a manual run (`run` prints its own
 * summary). */
static void run_log_result(const run_ctx *c, const job_result *res) {
    const char *p = c->s->pipeline, *st = c->s->strategy;
    const char *msg = res->message[0] ? res->message : "done";
    log_level lv = res->status == JOB_SUCCESS ? LOG_INFO
                   : res->status == JOB_FAILED ? LOG_ERROR : LOG_WARN;
    if (run_manual(c))
        log_capture_add(lv, p, st, "Run %" PRId64 " %s: %s", c->run_id,
                        job_status_name(res->status), msg);
    else if (res->status == JOB_SUCCESS)   /* the run's one info line (details: log_detail) */
        log_info(p, st, "Run %" PRId64 " succeeded: %s; %lld read, %lld inserted, %lld updated, "
                 "%lld deleted in %.3fs", c->run_id, msg, (long long)res->stats.rows_read,
                 (long long)res->stats.rows_inserted, (long long)res->stats.rows_updated,
                 (long long)res->stats.rows_deleted, res->stats.seconds);
    else if (res->status == JOB_SKIPPED)
        log_warn(p, st, "Run %" PRId64 " skipped: %s", c->run_id, msg);
    else if (res->status == JOB_INTERRUPTED)
        log_warn(p, st, "Run %" PRId64 " interrupted at a batch boundary: %" PRId64
                 " inserted, %" PRId64 " updated, %" PRId64 " deleted committed; retried "
                 "inside its slot", c->run_id, res->stats.rows_inserted,
                 res->stats.rows_updated, res->stats.rows_deleted);
    else
        log_error(p, st, "Run %" PRId64 " failed: %s", c->run_id, msg);
}

typedef struct run_store_arg {
    state *st;
    const state_outcome *o;
} run_store_arg;

static int run_store_once(void *ud, st_error *err) {
    const run_store_arg *a = ud;
    return run_store_outcome(a->st, a->o, err);
}

/* The state store stayed away for the lease: the outcome goes to the local
 * spool, recorded by the next synctool command on this host (state_spool.c). */
static void run_spool(const run_ctx *c, const state_outcome *o) {
    char where[1200];
    st_error err;
    if (state_spool_write(&c->s->cfg->state_url, o, where, sizeof where, &err) == ST_OK)
        log_warn(o->pipeline, o->strategy, "outcome of run %" PRId64 " kept in %s; the next "
                 "synctool command on this host records it", o->run_id, where);
    else
        log_error(o->pipeline, o->strategy, "outcome of run %" PRId64 " not kept: %s",
                  o->run_id, err.msg);
}

/* Logs and records the outcome (ends the log capture: its lines go with
 * the history entry); c->record_rc says how it ended. */
static void run_record(run_ctx *c, const job_result *res) {
    const run_spec *s = c->s;
    st_error *err = &c->record_err;
    c->record_rc = ST_OK;
    if (s->st == NULL) return;
    if ((c->record_rc = run_allocate(c, err)) != ST_OK) return;
    run_log_result(c, res);
    char *log = log_capture_end();
    state_outcome o;
    run_outcome_of(&o, s->pipeline, s->strategy, c->run_id, res->status, c->started, run_now(c),
                   s->worker, res, log, run_by_operator(c));
    run_store_arg a = {s->st, &o};
    bool persist = c->executed || !run_manual(c);
    int rc = persist ? run_retry_store(run_store_once, &a, run_lease_s(c) * 1000, s->pipeline,
                                       s->strategy, err)
                     : run_store_once(&a, err);
    if (rc == ST_EUNAVAIL && persist) run_spool(c, &o);
    free(log);
    if (rc == ST_ESTALE) {
        log_warn(s->pipeline, s->strategy, "result of run %" PRId64 " not recorded: %s",
                 c->run_id, err->msg);
        rc = ST_OK;
    }
    c->record_rc = rc;
}

/* Records an executed run's outcome while its locks are still held. */
static void run_on_finished(void *ud, const job_exec_ctx *ctx, const job_result *res) {
    run_ctx *c = ud;
    (void)ctx;
    if (c->abandoned) return;
    job_result copy = *res;
    run_fill_seconds(c, &copy);
    run_record(c, &copy);
    c->recorded = true;
}

/* The lock settings: the caller's, or the pipeline's; a redelivered job
 * whose run is still marked running waits for the dead worker's pipeline
 * lease to lapse instead of skipping on it. */
static void run_job_opts(job_opts *o, const run_ctx *c, const state_record *rec) {
    if (c->s->opts != NULL) *o = *c->s->opts;
    else job_opts_from_config(o, c->p, c->s->strategy);
    o->strategy = c->s->strategy;
    o->interrupt = c->s->interrupt;
    if (c->s->opts == NULL && rec != NULL && rec->status == STATE_RUNNING &&
        rec->run_id == c->run_id) {
        o->wait_pipeline_lock = true;
        o->pipeline_lock_timeout_s = run_lease_s(c) + 5;
    }
}

/* Through the job manager; a delivery's holds carry its run id. */
static void run_through_job_manager(run_ctx *c, const state_record *rec, job_result *res) {
    const run_spec *s = c->s;
    job_opts o;
    run_job_opts(&o, c, rec);
    job_callbacks cb = {run_on_locks_acquired, run_on_skip, c, run_on_finished};
    char tag[LOCK_OWNER_TAG_MAX + 1];
    run_owner_tag(tag, sizeof tag, c->run_id);
    bool tagged = s->lm != NULL && c->run_id > 0 &&
                  lock_set_owner_tag(s->lm, tag, NULL) == ST_OK;
    job_run(s->cfg, c->p, &o, s->lm, &cb, run_execute, c, res);
    if (tagged) lock_set_owner_tag(s->lm, NULL, NULL);
    run_release_enqueue(c);
}

/* A delivered job whose pipeline is not in the config: failed, naming why. */
static void run_no_pipeline(run_ctx *c, job_result *res) {
    const char *why = c->s->config_problem;
    run_release_enqueue(c);
    res->status = JOB_FAILED;
    snprintf(res->reason_code, sizeof res->reason_code, "pipeline_not_found");
    if (why != NULL && why[0] != '\0')
        snprintf(res->message, sizeof res->message, "Pipeline '%s' not found in config (%s "
                 "reloaded its config without it: %s)", c->s->pipeline, c->s->worker, why);
    else
        snprintf(res->message, sizeof res->message, "Pipeline '%s' not found in config",
                 c->s->pipeline);
}

/* The run once the record was read (rec NULL: none): dropped, or run. */
static void run_deliver_or_run(run_ctx *c, const state_record *rec, run_result *out) {
    const run_spec *s = c->s;
    if (s->locks_unavailable != NULL) {
        out->res.status = JOB_SKIPPED;
        snprintf(out->res.reason_code, sizeof out->res.reason_code, "lock_backend_unavailable");
        snprintf(out->res.message, sizeof out->res.message,
                 "Lock backend unavailable, skipping execution: %s", s->locks_unavailable->msg);
        return;
    }
    if (s->job != NULL && rec != NULL && run_drop_if_stale(c, rec)) {
        out->outcome = RUN_DROPPED;
        return;
    }
    if (c->p == NULL) run_no_pipeline(c, &out->res);
    else run_through_job_manager(c, rec, &out->res);
    if (c->abandoned) out->outcome = RUN_DROPPED;
}

/* What job_run left unrecorded (no execution): a duplicate's skip is
 * dropped, anything else recorded. */
static void run_record_unexecuted(run_ctx *c, run_result *out) {
    char why[200];
    const run_spec *s = c->s;
    if (run_skip_is_duplicate(s->st, s->lm, s->pipeline, s->strategy, c->run_id, &out->res,
                              why, sizeof why)) {
        if (c->run_id > 0)
            log_info(s->pipeline, s->strategy, "Run %" PRId64 " not recorded: %s", c->run_id,
                     why);
        else
            log_info(s->pipeline, s->strategy, "skip not recorded: %s", why);
        out->outcome = RUN_DROPPED;
        return;
    }
    run_fill_seconds(c, &out->res);
    run_record(c, &out->res);
}

static int run_job_captured(run_ctx *c, run_result *out, st_error *err) {
    const run_spec *s = c->s;
    state_record rec;
    int r = ST_ENOTFOUND;
    if (s->job != NULL && s->st != NULL &&
        (r = state_get(s->st, s->pipeline, s->strategy, &rec, err)) != ST_OK &&
        r != ST_ENOTFOUND) {
        out->outcome = RUN_DROPPED;   /* not run; not to be acknowledged either */
        return r;
    }
    if (s->job == NULL && c->p == NULL)
        return st_error_set(err, ST_EINVAL, "pipeline '%s' not found in config", s->pipeline);
    run_deliver_or_run(c, r == ST_OK ? &rec : NULL, out);
    if (out->outcome == RUN_DROPPED) return ST_OK;
    if (!c->recorded) run_record_unexecuted(c, out);
    out->run_id = c->run_id;
    out->executed = c->executed;
    out->record_rc = c->record_rc;
    if (c->record_rc != ST_OK && err != NULL) *err = c->record_err;
    return c->record_rc;
}

int run_job(const run_spec *s, run_result *out, st_error *err) {
    memset(out, 0, sizeof *out);
    run_ctx c = {.s = s, .run_id = s->job ? s->job->run_id : 0,
                 .mono_start = st_time_mono_ms()};
    c.started = run_now(&c);
    c.p = config_pipeline_find(s->cfg, s->pipeline);
    log_capture_begin(s->pipeline, s->strategy);
    int rc = run_job_captured(&c, out, err);
    if (out->run_id == 0) out->run_id = c.run_id;
    free(log_capture_end()); /* what a dropped run logged, or nothing */
    return rc;
}

int run_exit_code(const job_result *res, int signo) {
    if (res->status == JOB_INTERRUPTED) return 128 + (signo > 0 ? signo : SIGTERM);
    return res->status == JOB_SUCCESS ? 0 : res->status == JOB_SKIPPED ? 75 : 1;
}
