/*
 * run_record — what the lifecycle writes about a run that is over (run.h
 * steps 4 and 5): its outcome, a dead run found `lost`, a job that never
 * started, and the rule that keeps a duplicate from writing anything.
 *
 * An outcome is built once, as a state_outcome (run_outcome_of), and that
 * one value goes to the state store (run_store_outcome) or, when the store
 * stayed unreachable for the run's lease, to the local spool — so what the
 * spool later replays is exactly what would have been recorded.
 *
 * Lost runs: a record `running` whose pipeline lock nobody holds has lost
 * its worker. We confirm that by taking the pipeline lock ourselves (no
 * worker can be mid-run then), re-read the record and, if it is still the
 * same run, record it lost (RUN_WORKER_LOST) in state and history. Lost
 * counts as failed for the §3 rules.
 *
 * Duplicates are recognised from what is there now — the pipeline lock's
 * owner token (tagged with the holder's run id) and the record — never by
 * waiting for the state to change.
 */
#include "run.h"
#include "run_int.h"

#include "../log/log.h"
#include "../time/st_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- Outcomes --- */

static state_status run_state_of(job_status s) {
    switch (s) {
    case JOB_SUCCESS: return STATE_SUCCESS;
    case JOB_SKIPPED: return STATE_SKIPPED;
    case JOB_INTERRUPTED: return STATE_INTERRUPTED;
    default: return STATE_FAILED;
    }
}

void run_outcome_of(state_outcome *o, const char *pipeline, const char *strategy,
                    int64_t run_id, job_status status, int64_t started, int64_t finished,
                    const char *worker, const job_result *res, const char *log, bool manual) {
    *o = (state_outcome){.pipeline = pipeline, .strategy = strategy, .run_id = run_id,
                         .status = run_state_of(status), .started_at = started,
                         .finished_at = finished, .worker = worker, .message = res->message,
                         .error = status == JOB_FAILED ? res->message : "", .log = log,
                         .stats = res->stats, .manual = manual};
}

int run_store_outcome(state *st, const state_outcome *o, st_error *err) {
    /* manual: a failure does not count toward the pause (retry.pause_window) */
    if (o->manual)
        return state_mark_finished_manual(st, o->pipeline, o->strategy, o->run_id, o->status,
                                          o->started_at, o->finished_at, o->worker, o->message,
                                          o->error, &o->stats, o->log, err);
    return state_mark_finished_log(st, o->pipeline, o->strategy, o->run_id, o->status,
                                   o->started_at, o->finished_at, o->worker, o->message,
                                   o->error, &o->stats, o->log, err);
}

int run_retry_store(int (*fn)(void *ud, st_error *err), void *ud, int64_t within_ms,
                    const char *pipeline, const char *strategy, st_error *err) {
    int64_t deadline = st_time_mono_ms() + within_ms, delay = 500;
    for (;;) {
        int r = fn(ud, err);
        int64_t left = deadline - st_time_mono_ms();
        if (r != ST_EUNAVAIL || left <= 0) return r;
        if (delay > left) delay = left;
        log_warn(pipeline, strategy, "cannot record the outcome (%s); retrying in %.1fs "
                 "(for up to %.0fs more)", err ? err->msg : "state store unreachable",
                 (double)delay / 1000.0, (double)left / 1000.0);
        struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}

/* --- Duplicates --- */

void run_owner_tag(char *buf, size_t n, int64_t run_id) {
    snprintf(buf, n, "run-%" PRId64, run_id);
}

/* Whether the pipeline lock is held by a delivery of run_id (its owner
 * token is tagged with it: run_owner_tag). */
static bool run_twin_holds_lock(lock_manager *lm, const char *pipeline, int64_t run_id) {
    if (lm == NULL || run_id <= 0) return false;
    char key[320], tag[LOCK_OWNER_TAG_MAX + 1];
    lock_key_pipeline(key, sizeof key, pipeline);
    run_owner_tag(tag, sizeof tag, run_id);
    lock_info *held = NULL;
    size_t n = 0;
    bool twin = false;
    if (lock_list(lm, &held, &n, NULL) == ST_OK)
        for (size_t i = 0; i < n && !twin; i++)
            twin = strcmp(held[i].key, key) == 0 && lock_owner_tagged(held[i].owner, tag);
    free(held);
    return twin;
}

/* The lock is looked at first, the state second: a twin records its
 * outcome before it releases its locks, so a twin that let go between our
 * failed acquisition and this look has left its outcome in the state. */
bool run_skip_is_duplicate(state *st, lock_manager *lm, const char *pipeline,
                           const char *strategy, int64_t run_id, const job_result *res,
                           char *why, size_t n) {
    if (res->status != JOB_SKIPPED && res->status != JOB_INTERRUPTED) return false;
    if (strcmp(res->reason_code, "pipeline_lock_unavailable") == 0 &&
        run_twin_holds_lock(lm, pipeline, run_id)) {
        snprintf(why, n, "another delivery of it is holding the pipeline lock");
        return true;
    }
    state_record rec;
    if (st == NULL || state_get(st, pipeline, strategy, &rec, NULL) != ST_OK) return false;
    if (run_id > 0 && rec.run_id == run_id && rec.status != STATE_PENDING &&
        rec.status != STATE_SKIPPED && rec.status != STATE_IDLE) {
        snprintf(why, n, "another delivery of it is %s", state_status_name(rec.status));
        return true;
    }
    if (rec.run_id != run_id && (rec.status == STATE_RUNNING || rec.status == STATE_PENDING)) {
        snprintf(why, n, "another run (run %" PRId64 ") is %s", rec.run_id,
                 state_status_name(rec.status));
        return true;
    }
    return false;
}

/* --- Lost runs --- */

static bool run_key_held(const lock_info *held, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(held[i].key, key) == 0) return true;
    return false;
}

/* Records rec `lost` once we hold its pipeline lock (lm NULL: the caller
 * does) and the record still holds that run running. Returns 1 if it
 * recorded (*rec is then the record as it is now), 0 if not, or an error. */
static int run_mark_lost(state *st, lock_manager *lm, state_record *rec, int64_t now,
                         st_error *err) {
    char key[320];
    lock_key_pipeline(key, sizeof key, rec->pipeline);
    lock_handle h;
    st_error e;
    if (lm != NULL && lock_acquire(lm, key, LOCK_EXCLUSIVE, 10000, &h, &e) != ST_OK) return 0;
    int rc = 0;
    state_record fresh;
    if (state_get(st, rec->pipeline, rec->strategy, &fresh, &e) == ST_OK &&
        fresh.status == STATE_RUNNING && fresh.run_id == rec->run_id) {
        state_stats none = {0};
        int64_t started = fresh.last_attempted_at != ST_TIME_NONE ? fresh.last_attempted_at
                                                                    : now;
        if (started > now) started = now;
        rc = state_mark_finished(st, rec->pipeline, rec->strategy, rec->run_id, STATE_LOST,
                                 started, now, fresh.worker, RUN_WORKER_LOST, RUN_WORKER_LOST,
                                 &none, err);
        if (rc == ST_OK) {
            rc = 1;
            log_warn(rec->pipeline, rec->strategy, "Run %" PRId64 " recorded lost: %s "
                     "(worker %s)", rec->run_id, RUN_WORKER_LOST,
                     fresh.worker[0] ? fresh.worker : "unknown");
            if (state_get(st, rec->pipeline, rec->strategy, &fresh, &e) == ST_OK) *rec = fresh;
        }
    }
    if (lm != NULL) lock_release(lm, &h, &e);
    return rc;
}

static bool run_recovery_candidate(const state_record *r, const char *pipeline,
                                   int64_t except_run_id) {
    return r->status == STATE_RUNNING && (except_run_id <= 0 || r->run_id != except_run_id) &&
           (pipeline == NULL || strcmp(r->pipeline, pipeline) == 0);
}

int run_recover_records(state *st, lock_manager *lm, state_record *recs, size_t n,
                        const char *pipeline, int64_t except_run_id, int64_t now,
                        size_t *recovered, size_t *failed, st_error *err) {
    size_t ok = 0, bad = 0, nheld = 0;
    lock_info *held = NULL;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = run_recovery_candidate(&recs[i], pipeline, except_run_id);
    int rc = any && lm != NULL ? lock_list(lm, &held, &nheld, err) : ST_OK;
    for (size_t i = 0; any && rc == ST_OK && i < n; i++) {
        if (!run_recovery_candidate(&recs[i], pipeline, except_run_id)) continue;
        char key[320];
        lock_key_pipeline(key, sizeof key, recs[i].pipeline);
        if (lm != NULL && run_key_held(held, nheld, key)) continue;
        st_error e;
        int r = run_mark_lost(st, lm, &recs[i], now, &e);
        if (r == 1) ok++;
        if (r < 0) {
            log_error(recs[i].pipeline, recs[i].strategy, "cannot record lost run: %s", e.msg);
            bad++;
        }
    }
    free(held);
    if (recovered) *recovered = ok;
    if (failed) *failed = bad;
    return rc;
}

int run_recover_lost(state *st, lock_manager *lm, const char *pipeline, int64_t except_run_id,
                     int64_t now, size_t *recovered, st_error *err) {
    if (recovered) *recovered = 0;
    state_record *recs = NULL;
    size_t n = 0, failed = 0;
    int rc = state_list(st, &recs, &n, err);
    if (rc == ST_OK)
        rc = run_recover_records(st, lm, recs, n, pipeline, except_run_id, now, recovered,
                                 &failed, err);
    if (rc == ST_OK && failed > 0)
        rc = st_error_set(err, ST_ERR, "%zu lost runs could not be recorded", failed);
    free(recs);
    return rc;
}

/* --- Jobs that never started --- */

void run_release_enqueue_of(lock_manager *lm, const queue_job *job) {
    if (lm == NULL || job->enqueue_key[0] == '\0') return;
    lock_handle h;
    memset(&h, 0, sizeof h);
    snprintf(h.key, sizeof h.key, "%s", job->enqueue_key);
    snprintf(h.owner, sizeof h.owner, "%s", job->enqueue_owner);
    h.fence = job->enqueue_fence;
    h.mode = LOCK_EXCLUSIVE;
    lock_release(lm, &h, NULL); /* ST_ESTALE: expired or taken over; nothing to do */
}

int run_record_unstarted(state *st, lock_manager *lm, const queue_job *job,
                         state_status status, bool only_pending, int64_t now,
                         const char *worker, const char *cause, st_error *err) {
    if (only_pending) {
        state_record rec;
        int r = state_get(st, job->pipeline, job->strategy, &rec, err);
        if (r == ST_ENOTFOUND) return ST_OK;
        if (r != ST_OK) return r;
        if (rec.run_id != job->run_id || rec.status != STATE_PENDING) return ST_OK;
    }
    run_release_enqueue_of(lm, job);
    log_capture_begin(job->pipeline, job->strategy);
    log_error(job->pipeline, job->strategy, "run %" PRId64 ": %s", job->run_id, cause);
    char *lines = log_capture_end();
    job_result none = {.status = JOB_FAILED};
    state_outcome o;
    run_outcome_of(&o, job->pipeline, job->strategy, job->run_id, JOB_FAILED, now, now, worker,
                   &none, lines, job->manual); /* an API run: an operator's */
    o.status = status;
    o.message = o.error = cause;
    int r = run_store_outcome(st, &o, err);
    free(lines);
    return r;
}
