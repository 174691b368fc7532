/*
 * Unit tests for the scheduler loop's building blocks (src/sched/scheduler.c):
 * sched_plan_build, sched_tick and run_job (src/run/) for queued jobs, against the real SQLite
 * state and lock backends in a temporary directory and the in-process queue,
 * at fixed instants. The configs are real YAML loaded by config_load, the
 * datastores real SQLite files, so run_job exercises the job manager
 * and sync exactly as the scheduler's children do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <time.h>

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/lock/lock.h"
#include "../../src/log/log.h"
#include "../../src/queue/queue.h"
#include "../../src/run/run.h"
#include "../../src/sched/sched.h"
#include "../../src/state/state.h"
#include "../../src/time/st_time.h"
#include "support/url_open.h"

typedef struct fixture {
    char dir[64];
    char url[128];
    config *cfg;
    sched_plan *plan;
    state *st;
    lock_manager *lm;
    queue *q;
} fixture;

static void write_file(const char *dir, const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void sql(const char *dir, const char *db, const char *stmt) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, db);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static const char *PIPE =
    "name: orders\n"
    "source: {datastore: src, table: items}\n"
    "destination: {datastore: dst, table: items}\n"
    "columns:\n"
    "  - {name: id, type: bigint, key: true}\n"
    "  - {name: name, type: text}\n"
    "strategies:\n"
    "  - {name: delta_15m, type: full, cron: \"*/15 * * * *\"}\n"
    "  - {name: full_daily, type: full, cron: \"0 2 * * *\"}\n"
    "locks: {lease_ttl_seconds: 3}\n";

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_scheduler_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char sub[128];
    snprintf(sub, sizeof sub, "%s/pipelines", f->dir);
    mkdir(sub, 0755);
    write_file(f->dir, "datastores.yaml",
               "datastores:\n  src: {type: sqlite, path: src.db}\n"
               "  dst: {type: sqlite, path: dst.db}\n");
    write_file(f->dir, "pipelines/orders.yaml", PIPE);
    sql(f->dir, "src.db", "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);"
                          "INSERT INTO items VALUES (1,'a'),(2,'b');");
    sql(f->dir, "dst.db", "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);");
    st_error err;
    assert_int_equal(config_load(&f->cfg, f->dir, NULL, &err), 0);
    assert_int_equal(sched_plan_build(&f->plan, f->cfg, &err), 0);
    assert_int_equal(state_open(&f->st, &f->cfg->state_url, &err), 0);
    assert_int_equal(lock_open(&f->lm, &f->cfg->state_url, &err), 0);
    assert_int_equal(queue_open_local(&f->q, &err), 0);
    log_set_level(LOG_ERROR);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    queue_close(f->q);
    lock_close(f->lm);
    state_close(f->st);
    sched_plan_free(f->plan);
    config_free(f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    log_set_time_override(0);
    return 0;
}

static int64_t at(const char *s) {
    int64_t t;
    assert_int_equal(st_time_parse(s, &t, NULL), 0);
    return t;
}

static sched_tick_stats do_tick(fixture *f, const char *when) {
    sched_tick_opts o = {.now = at(when), .fixed_time = true};
    sched_tick_stats s;
    st_error err;
    assert_int_equal(sched_tick(f->plan, f->st, f->lm, f->q, &o, &s, &err), 0);
    return s;
}

static void test_plan_compiles_every_cron_once(void **state) {
    fixture *f = *state;
    assert_non_null(f->plan->crons[0][0]);
    assert_non_null(f->plan->crons[0][1]);
    assert_string_equal(cron_text(f->plan->crons[0][1]), "0 2 * * *");
    sched_plan_free(NULL);
}

/* At 02:00 both strategies are due; the daily one (longer slot) wins. */
static void test_tick_enqueues_selected_strategy_and_marks_pending(void **state) {
    fixture *f = *state;
    sched_tick_stats s = do_tick(f, "2025-10-15T02:00:00Z");
    assert_int_equal(s.pipelines, 1);
    assert_int_equal(s.due, 1);
    assert_int_equal(s.enqueued, 1);
    queue_job j;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    assert_string_equal(j.pipeline, "orders");
    assert_string_equal(j.strategy, "full_daily");
    assert_int_equal(j.at, at("2025-10-15T02:00:00Z"));
    assert_string_equal(j.enqueue_key, "synctool:enqueue:pipeline:orders");
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_PENDING);
    assert_int_equal(r.run_id, j.run_id);
    assert_int_equal(r.last_scheduled_at, at("2025-10-15T02:00:00Z"));
    /* The enqueue lock is held until the job takes its locks. */
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, j.enqueue_key, LOCK_EXCLUSIVE, 1000, &h, NULL),
                     ST_EBUSY);
    /* A second tick does not enqueue it again. */
    s = do_tick(f, "2025-10-15T02:01:00Z");
    assert_int_equal(s.enqueued, 0);
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), ST_ENOTFOUND);
}

static void test_tick_without_fixed_time_leaves_job_time_to_the_worker(void **state) {
    fixture *f = *state;
    sched_tick_opts o = {.now = at("2025-10-15T02:00:00Z"), .fixed_time = false};
    assert_int_equal(sched_tick(f->plan, f->st, f->lm, f->q, &o, NULL, NULL), 0);
    queue_job j;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    assert_int_equal(j.at, 0);
}

/* The tick tries every due pipeline's enqueue lock in one batch: a held
 * one is answered busy and the others are still enqueued. */
static void test_tick_enqueues_beside_a_held_enqueue_lock(void **state) {
    fixture *f = *state;
    char text[1024];
    snprintf(text, sizeof text, "%s", PIPE);
    memcpy(text + strlen("name: "), "refund", 6);   /* "orders" -> "refund" */
    /* its own destination table: two pipelines may not share one */
    memcpy(strstr(text, "dst, table: items") + strlen("dst, table: "), "refnd", 5);
    write_file(f->dir, "pipelines/refund.yaml", text);
    st_error err;
    sched_plan_free(f->plan);
    config_free(f->cfg);
    assert_int_equal(config_load(&f->cfg, f->dir, NULL, &err), 0);
    assert_int_equal(f->cfg->npipelines, 2);
    assert_int_equal(sched_plan_build(&f->plan, f->cfg, &err), 0);
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:enqueue:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    sched_tick_stats s = do_tick(f, "2025-10-15T02:00:00Z");
    assert_int_equal(s.due, 2);
    assert_int_equal(s.busy, 1);
    assert_int_equal(s.enqueued, 1);
    queue_job j;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    assert_string_equal(j.pipeline, "refund");
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), ST_ENOTFOUND);
    lock_handle again;   /* refund's enqueue lock is held until its job runs */
    assert_int_equal(lock_acquire(f->lm, "synctool:enqueue:pipeline:refund", LOCK_EXCLUSIVE,
                                  1000, &again, NULL), ST_EBUSY);
    assert_int_equal(lock_release(f->lm, &h, NULL), 0);
}

static void test_tick_respects_a_held_enqueue_lock(void **state) {
    fixture *f = *state;
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:enqueue:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    sched_tick_stats s = do_tick(f, "2025-10-15T02:00:00Z");
    assert_int_equal(s.due, 1);
    assert_int_equal(s.busy, 1);
    assert_int_equal(s.enqueued, 0);
    size_t waiting;
    queue_count(f->q, &waiting, NULL, NULL);
    assert_int_equal(waiting, 0);
    assert_int_equal(lock_release(f->lm, &h, NULL), 0);
}

static void test_tick_not_due_enqueues_nothing(void **state) {
    fixture *f = *state;
    /* Both strategies ran at 03:45: at 03:50 neither is due. */
    state_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.pipeline, sizeof r.pipeline, "orders");
    for (int i = 0; i < 2; i++) {
        snprintf(r.strategy, sizeof r.strategy, i ? "full_daily" : "delta_15m");
        r.status = STATE_SUCCESS;
        r.last_run = r.last_scheduled_at = r.last_attempted_at = at("2025-10-15T03:45:00Z");
        r.run_id = 5 + i;
        r.updated_at = r.last_run;
        assert_int_equal(state_put(f->st, &r, NULL), 0);
    }
    sched_tick_stats s = do_tick(f, "2025-10-15T03:50:00Z");
    assert_int_equal(s.due, 0);
    assert_int_equal(s.enqueued, 0);
}

static void put_running(fixture *f, int64_t run_id) {
    state_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.pipeline, sizeof r.pipeline, "orders");
    snprintf(r.strategy, sizeof r.strategy, "full_daily");
    r.status = STATE_RUNNING;
    r.last_run = ST_TIME_NONE;
    r.last_scheduled_at = r.last_attempted_at = at("2025-10-15T02:00:00Z");
    r.run_id = run_id;
    r.updated_at = r.last_attempted_at;
    snprintf(r.worker, sizeof r.worker, "gone:1");
    assert_int_equal(state_put(f->st, &r, NULL), 0);
}

static void test_tick_marks_running_without_lease_as_worker_lost(void **state) {
    fixture *f = *state;
    put_running(f, 9);
    sched_tick_stats s = do_tick(f, "2025-10-15T02:07:00Z");
    assert_int_equal(s.recovered, 1);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_LOST);
    assert_int_equal(r.retry_count, 1);
    assert_string_equal(r.error, RUN_WORKER_LOST);
    state_history_entry *hist;
    size_t nh;
    assert_int_equal(state_history(f->st, "orders", "full_daily", 5, &hist, &nh, NULL), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(hist[0].status, STATE_LOST);
    free(hist);
    /* Lost counts as failed: no retry inside the slot (only the never-run delta is due). */
    queue_job j;
    while (queue_pop(f->q, "t", 0, &j, NULL) == 0) assert_string_equal(j.strategy, "delta_15m");
    /* The probe released the pipeline lock again. */
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  1000, &h, NULL), 0);
    lock_release(f->lm, &h, NULL);
}

static void test_tick_leaves_running_with_live_lease_alone(void **state) {
    fixture *f = *state;
    put_running(f, 9);
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    sched_tick_stats s = do_tick(f, "2025-10-15T02:07:00Z");
    assert_int_equal(s.recovered, 0);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_RUNNING);
    lock_release(f->lm, &h, NULL);
}

/* One strategy at a time: delta is due at 02:07 but full_daily is running. */
static void test_tick_does_not_enqueue_beside_a_running_strategy(void **state) {
    fixture *f = *state;
    put_running(f, 9);
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    sched_tick_stats s = do_tick(f, "2025-10-15T02:07:00Z");
    assert_int_equal(s.due, 1);
    assert_int_equal(s.busy, 1);
    assert_int_equal(s.enqueued, 0);
    lock_release(f->lm, &h, NULL);
}

static run_outcome deliver(fixture *f, queue_job *j, job_result *res) {
    run_spec spec = {.cfg = f->cfg, .st = f->st, .lm = f->lm, .pipeline = j->pipeline,
                     .strategy = j->strategy, .job = j, .worker = "unit:1"};
    run_result out;
    st_error err;
    assert_int_equal(run_job(&spec, &out, &err), 0);
    *res = out.res;
    return out.outcome;
}

static void test_run_job_runs_records_and_releases_enqueue_lock(void **state) {
    fixture *f = *state;
    do_tick(f, "2025-10-15T02:00:00Z");
    queue_job j;
    job_result res;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    assert_int_equal(deliver(f, &j, &res), RUN_RAN);
    assert_int_equal(res.status, JOB_SUCCESS);
    assert_int_equal(run_exit_code(&res, 0), 0);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_SUCCESS);
    assert_int_equal(r.last_run, at("2025-10-15T02:00:00Z"));
    assert_int_equal(r.last_attempted_at, at("2025-10-15T02:00:00Z"));
    assert_string_equal(r.worker, "unit:1");
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, j.enqueue_key, LOCK_EXCLUSIVE, 1000, &h, NULL), 0);
    lock_release(f->lm, &h, NULL);
    /* Redelivered after it finished: dropped, not run again. */
    assert_int_equal(deliver(f, &j, &res), RUN_DROPPED);
    state_history_entry *hist;
    size_t n;
    assert_int_equal(state_history(f->st, "orders", "full_daily", 10, &hist, &n, NULL), 0);
    assert_int_equal(n, 1);
    free(hist);
}

static void test_run_job_skips_when_pipeline_lock_held(void **state) {
    fixture *f = *state;
    do_tick(f, "2025-10-15T02:00:00Z");
    queue_job j;
    job_result res;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    assert_int_equal(deliver(f, &j, &res), RUN_RAN);
    assert_int_equal(res.status, JOB_SKIPPED);
    assert_int_equal(run_exit_code(&res, 0), 75);
    assert_string_equal(res.message, "Pipeline lock not available, skipping execution");
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_SKIPPED);
    assert_int_equal(r.last_attempted_at, at("2025-10-15T02:00:00Z"));
    assert_int_equal(r.retry_count, 0);
    lock_release(f->lm, &h, NULL);
    /* The enqueue lock was released on skip. */
    assert_int_equal(lock_acquire(f->lm, j.enqueue_key, LOCK_EXCLUSIVE, 1000, &h, NULL), 0);
    lock_release(f->lm, &h, NULL);
}

static void test_run_job_superseded_is_dropped(void **state) {
    fixture *f = *state;
    do_tick(f, "2025-10-15T02:00:00Z");
    queue_job j;
    job_result res;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    assert_int_equal(state_mark_pending(f->st, "orders", "full_daily", j.run_id + 5,
                                        at("2025-10-15T02:06:00Z"), NULL), 0);
    assert_int_equal(deliver(f, &j, &res), RUN_DROPPED);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_PENDING);
    assert_int_equal(r.run_id, j.run_id + 5);
}

/* A second delivery of a run that another worker is running right now: it
 * skips on the pipeline lock and records nothing (the state stays running). */
static void test_run_job_duplicate_delivery_records_nothing(void **state) {
    fixture *f = *state;
    do_tick(f, "2025-10-15T02:00:00Z");
    queue_job j;
    job_result res;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    assert_int_equal(state_mark_running(f->st, "orders", "full_daily", j.run_id, j.at,
                                        "other:1", NULL), 0);
    run_outcome out = deliver(f, &j, &res);
    assert_int_equal(out, RUN_DROPPED);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_RUNNING);
    assert_string_equal(r.worker, "other:1");
    state_history_entry *hist;
    size_t n;
    assert_int_equal(state_history(f->st, "orders", "full_daily", 10, &hist, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(hist);
    lock_release(f->lm, &h, NULL);
}

/* The other delivery holds the pipeline lock but has not yet marked the run
 * running (regression: the duplicate recorded a skip in that moment, adding
 * a spurious "skipped" to history; then it polled the state for 2 s, a
 * guess at how fast the twin is). The twin's hold carries the run id in its
 * owner token, so this delivery knows at once: it drops the run and records
 * nothing, while the state still says pending. */
static void test_run_job_duplicate_while_other_delivery_still_pending(void **state) {
    fixture *f = *state;
    do_tick(f, "2025-10-15T02:00:00Z");
    queue_job j;
    job_result res;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    char tag[32];
    snprintf(tag, sizeof tag, "run-%lld", (long long)j.run_id);
    assert_int_equal(lock_set_owner_tag(f->lm, tag, NULL), 0);
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    assert_int_equal(lock_set_owner_tag(f->lm, NULL, NULL), 0);
    assert_true(lock_owner_tagged(h.owner, tag));
    run_outcome out = deliver(f, &j, &res);
    assert_int_equal(out, RUN_DROPPED);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_PENDING);
    state_history_entry *hist;
    size_t n;
    assert_int_equal(state_history(f->st, "orders", "full_daily", 10, &hist, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(hist);
    lock_release(f->lm, &h, NULL);
}

/* The pipeline lock held by someone else (not a delivery of this run, e.g.
 * `lock hold` or another run): the skip is this run's own, recorded at once. */
static void test_run_job_skip_on_a_stranger_is_recorded(void **state) {
    fixture *f = *state;
    do_tick(f, "2025-10-15T02:00:00Z");
    queue_job j;
    job_result res;
    assert_int_equal(queue_pop(f->q, "t", 0, &j, NULL), 0);
    assert_int_equal(lock_set_owner_tag(f->lm, "run-999999", NULL), 0);
    lock_handle h;
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, &h, NULL), 0);
    assert_int_equal(lock_set_owner_tag(f->lm, NULL, NULL), 0);
    assert_int_equal(deliver(f, &j, &res), RUN_RAN);
    assert_int_equal(res.status, JOB_SKIPPED);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_SKIPPED);
    lock_release(f->lm, &h, NULL);
}

/* Owner tags are validated and only prefix whole tags. */
static void test_lock_owner_tags(void **state) {
    fixture *f = *state;
    st_error err;
    assert_int_equal(lock_set_owner_tag(f->lm, "run 1", &err), ST_EINVAL);
    assert_int_equal(lock_set_owner_tag(f->lm, "run-12345678901234567890123", &err), ST_EINVAL);
    assert_true(lock_owner_tagged("run-4.abcdef", "run-4"));
    assert_false(lock_owner_tagged("run-42.abcdef", "run-4"));
    assert_false(lock_owner_tagged("abcdef", "run-4"));
    assert_false(lock_owner_tagged("run-4.abcdef", ""));
}

static void test_run_job_unknown_pipeline_fails(void **state) {
    fixture *f = *state;
    queue_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.pipeline, sizeof j.pipeline, "vanished");
    snprintf(j.strategy, sizeof j.strategy, "full");
    j.run_id = 3;
    j.at = at("2025-10-15T02:00:00Z");
    assert_int_equal(state_mark_pending(f->st, "vanished", "full", 3, j.at, NULL), 0);
    job_result res;
    assert_int_equal(deliver(f, &j, &res), RUN_RAN);
    assert_int_equal(res.status, JOB_FAILED);
    assert_string_equal(res.message, "Pipeline 'vanished' not found in config");
    state_record r;
    assert_int_equal(state_get(f->st, "vanished", "full", &r, NULL), 0);
    assert_int_equal(r.status, STATE_FAILED);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_plan_compiles_every_cron_once),
        T(test_tick_enqueues_selected_strategy_and_marks_pending),
        T(test_tick_without_fixed_time_leaves_job_time_to_the_worker),
        T(test_tick_respects_a_held_enqueue_lock),
        T(test_tick_enqueues_beside_a_held_enqueue_lock),
        T(test_tick_not_due_enqueues_nothing),
        T(test_tick_marks_running_without_lease_as_worker_lost),
        T(test_tick_leaves_running_with_live_lease_alone),
        T(test_tick_does_not_enqueue_beside_a_running_strategy),
        T(test_run_job_runs_records_and_releases_enqueue_lock),
        T(test_run_job_skips_when_pipeline_lock_held),
        T(test_run_job_superseded_is_dropped),
        T(test_run_job_duplicate_delivery_records_nothing),
        T(test_run_job_duplicate_while_other_delivery_still_pending),
        T(test_run_job_skip_on_a_stranger_is_recorded),
        T(test_lock_owner_tags),
        T(test_run_job_unknown_pipeline_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
