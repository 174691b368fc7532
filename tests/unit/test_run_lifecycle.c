/*
 * Unit tests of the one run lifecycle (src/run/): the default strategy,
 * the hand-off's run id and pending record, a manual run and a delivered
 * job through run_job (real SQLite state, locks and datastores in a
 * temporary directory), duplicate detection from the lock holder's owner
 * token — without sleeping and without waiting for the state to change —,
 * lost-run recovery once the pipeline lock is held, the one outcome value,
 * and the one spawn helper (the owner token never in argv).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/lock/lock.h"
#include "../../src/log/log.h"
#include "../../src/run/run.h"
#include "../../src/state/state.h"
#include "../../src/time/st_time.h"

typedef struct fixture {
    char dir[64];
    config *cfg;
    state *st;
    lock_manager *lm;
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

/* Strategies: 15-minute, two dailies (a tie: the first wins), a disabled
 * weekly (longest, but never the default). */
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
    "  - {name: hash_daily, type: hash, cron: \"0 3 * * *\"}\n"
    "  - {name: full_weekly, type: full, cron: \"0 0 * * 0\", enabled: false}\n"
    "locks: {lease_ttl_seconds: 3}\n";

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_run_lifecycle_XXXXXX");
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
    assert_int_equal(state_open(&f->st, &f->cfg->state_url, &err), 0);
    assert_int_equal(lock_open(&f->lm, &f->cfg->state_url, &err), 0);
    log_set_level(LOG_ERROR);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    lock_close(f->lm);
    state_close(f->st);
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

static const config_pipeline *orders(fixture *f) {
    return config_pipeline_find(f->cfg, "orders");
}

static void put_record(fixture *f, const char *strategy, state_status status, int64_t run_id) {
    state_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.pipeline, sizeof r.pipeline, "orders");
    snprintf(r.strategy, sizeof r.strategy, "%s", strategy);
    r.status = status;
    r.last_run = ST_TIME_NONE;
    r.last_scheduled_at = r.last_attempted_at = at("2025-10-15T02:00:00Z");
    r.run_id = run_id;
    r.updated_at = r.last_attempted_at;
    snprintf(r.worker, sizeof r.worker, "gone:1");
    assert_int_equal(state_put(f->st, &r, NULL), 0);
}

static size_t history_len(fixture *f, const char *strategy) {
    state_history_entry *hist = NULL;
    size_t n = 0;
    assert_int_equal(state_history(f->st, "orders", strategy, 10, &hist, &n, NULL), 0);
    free(hist);
    return n;
}

/* Holds the pipeline lock as a delivery of run_id would (owner tagged). */
static void hold_pipeline_as(fixture *f, int64_t run_id, lock_handle *h) {
    char tag[32];
    run_owner_tag(tag, sizeof tag, run_id);
    assert_int_equal(lock_set_owner_tag(f->lm, tag, NULL), 0);
    assert_int_equal(lock_acquire(f->lm, "synctool:exec:pipeline:orders", LOCK_EXCLUSIVE,
                                  60000, h, NULL), 0);
    assert_int_equal(lock_set_owner_tag(f->lm, NULL, NULL), 0);
}

/* --- 1. choose --- */

static void test_default_strategy_longest_slot_ties_in_config_order(void **state) {
    fixture *f = *state;
    const config_strategy *s = run_default_strategy(orders(f), at("2025-10-15T10:00:00Z"));
    assert_non_null(s);
    assert_string_equal(s->name, "full_daily");   /* not the disabled weekly, not hash_daily */
}

static void test_default_strategy_none_enabled(void **state) {
    (void)state;
    config_strategy off = {.name = "x", .cron = "0 2 * * *", .enabled = false};
    config_pipeline p = {.name = "p", .strategies = &off, .nstrategies = 1};
    assert_null(run_default_strategy(&p, 0));
}

/* --- 2. hand off --- */

static void test_enqueue_allocates_run_id_and_marks_pending(void **state) {
    fixture *f = *state;
    lock_handle h = {.fence = 7};
    snprintf(h.key, sizeof h.key, "synctool:enqueue:pipeline:orders");
    snprintf(h.owner, sizeof h.owner, "0123456789abcdef");
    queue_job a, b;
    int64_t now = at("2025-10-15T02:00:00Z");
    assert_int_equal(run_enqueue(f->st, "orders", "full_daily", now, now, &h, &a, NULL), 0);
    assert_int_equal(run_enqueue(f->st, "orders", "delta_15m", now, 0, NULL, &b, NULL), 0);
    assert_true(a.run_id > 0 && b.run_id > a.run_id);
    assert_string_equal(a.enqueue_key, h.key);
    assert_string_equal(a.enqueue_owner, h.owner);
    assert_int_equal(a.enqueue_fence, 7);
    assert_int_equal(a.at, now);
    assert_string_equal(b.enqueue_key, "");
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_PENDING);
    assert_int_equal(r.run_id, a.run_id);
    assert_int_equal(r.last_scheduled_at, now);
}

/* --- 3-4. run and record --- */

static int deliver(fixture *f, const queue_job *j, run_result *out) {
    run_spec spec = {.cfg = f->cfg, .st = f->st, .lm = f->lm, .pipeline = j->pipeline,
                     .strategy = j->strategy, .job = j, .worker = "unit:1"};
    st_error err;
    return run_job(&spec, out, &err);
}

static int run_manual(fixture *f, const char *strategy, const st_error *locks_down,
                      run_result *out) {
    run_spec spec = {.cfg = f->cfg, .st = f->st, .lm = locks_down ? NULL : f->lm,
                     .pipeline = "orders", .strategy = strategy, .worker = "run:1",
                     .locks_unavailable = locks_down};
    st_error err;
    return run_job(&spec, out, &err);
}

static queue_job pending_job(fixture *f, const char *strategy) {
    queue_job j;
    int64_t now = at("2025-10-15T02:00:00Z");
    assert_int_equal(run_enqueue(f->st, "orders", strategy, now, now, NULL, &j, NULL), 0);
    return j;
}

static void test_manual_run_allocates_at_lock_time_and_records(void **state) {
    fixture *f = *state;
    run_result out;
    assert_int_equal(run_manual(f, "full_daily", NULL, &out), 0);
    assert_int_equal(out.outcome, RUN_RAN);
    assert_int_equal(out.res.status, JOB_SUCCESS);
    assert_true(out.executed);
    assert_true(out.run_id > 0);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_SUCCESS);
    assert_int_equal(r.run_id, out.run_id);
    assert_string_equal(r.worker, "run:1");
    assert_int_equal(history_len(f, "full_daily"), 1);
    assert_int_equal(run_exit_code(&out.res, 0), 0);
}

static void test_delivered_job_runs_and_is_dropped_when_redelivered(void **state) {
    fixture *f = *state;
    queue_job j = pending_job(f, "full_daily");
    run_result out;
    assert_int_equal(deliver(f, &j, &out), 0);
    assert_int_equal(out.outcome, RUN_RAN);
    assert_int_equal(out.res.status, JOB_SUCCESS);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_SUCCESS);
    assert_int_equal(r.last_run, j.at);
    assert_int_equal(deliver(f, &j, &out), 0);
    assert_int_equal(out.outcome, RUN_DROPPED);
    assert_int_equal(history_len(f, "full_daily"), 1);
}

/* The duplicate delivery of a job, detected without sleeping: the twin
 * holds the pipeline lock (owner tagged with the run id) and has not yet
 * marked the run running — the state still says pending, so no look at
 * the state could tell. The second delivery knows it from the lock holder
 * at once: dropped, nothing recorded, the state still pending. */
static void test_duplicate_delivery_detected_without_sleeping(void **state) {
    fixture *f = *state;
    queue_job j = pending_job(f, "full_daily");
    lock_handle h;
    hold_pipeline_as(f, j.run_id, &h);
    run_result out;
    assert_int_equal(deliver(f, &j, &out), 0);
    assert_int_equal(out.outcome, RUN_DROPPED);
    assert_int_equal(out.res.status, JOB_SKIPPED);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_PENDING);
    assert_int_equal(r.run_id, j.run_id);
    assert_int_equal(history_len(f, "full_daily"), 0);
    char why[200];
    assert_true(run_skip_is_duplicate(f->st, f->lm, "orders", "full_daily", j.run_id, &out.res,
                                      why, sizeof why));
    assert_string_equal(why, "another delivery of it is holding the pipeline lock");
    lock_release(f->lm, &h, NULL);
}

/* A stranger (another run id) holding the lock: the skip is this run's own. */
static void test_skip_on_a_stranger_is_recorded(void **state) {
    fixture *f = *state;
    queue_job j = pending_job(f, "full_daily");
    lock_handle h;
    hold_pipeline_as(f, j.run_id + 1000, &h);
    run_result out;
    assert_int_equal(deliver(f, &j, &out), 0);
    assert_int_equal(out.outcome, RUN_RAN);
    assert_int_equal(out.res.status, JOB_SKIPPED);
    assert_int_equal(run_exit_code(&out.res, 0), 75);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_SKIPPED);
    lock_release(f->lm, &h, NULL);
}

/* A manual run that cannot get the lock of a run in progress records no
 * skip over it (that run records its own outcome). */
static void test_manual_skip_not_recorded_over_a_run_in_progress(void **state) {
    fixture *f = *state;
    put_record(f, "full_daily", STATE_RUNNING, 5);
    lock_handle h;
    hold_pipeline_as(f, 5, &h);
    run_result out;
    assert_int_equal(run_manual(f, "full_daily", NULL, &out), 0);
    assert_int_equal(out.outcome, RUN_DROPPED);
    assert_int_equal(out.res.status, JOB_SKIPPED);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_RUNNING);
    assert_int_equal(r.run_id, 5);
    lock_release(f->lm, &h, NULL);
}

/* The lock store unreachable: nothing executes, the skip is recorded. */
static void test_locks_unavailable_skips_and_records(void **state) {
    fixture *f = *state;
    st_error down;
    st_error_set(&down, ST_EUNAVAIL, "redis://***@host:6379: connection refused");
    run_result out;
    assert_int_equal(run_manual(f, "full_daily", &down, &out), 0);
    assert_int_equal(out.res.status, JOB_SKIPPED);
    assert_string_equal(out.res.reason_code, "lock_backend_unavailable");
    assert_false(out.executed);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_SKIPPED);
    assert_int_equal(history_len(f, "full_daily"), 1);
}

/* --- 5. recover --- */

/* Holding the pipeline lock, a run records the pipeline's dead runs lost
 * first — a delivered job as well as `run` (one rule). */
static void test_delivered_job_recovers_a_dead_run_of_its_pipeline(void **state) {
    fixture *f = *state;
    put_record(f, "delta_15m", STATE_RUNNING, 1);   /* died: nobody holds the lock */
    queue_job j = pending_job(f, "full_daily");
    run_result out;
    assert_int_equal(deliver(f, &j, &out), 0);
    assert_int_equal(out.res.status, JOB_SUCCESS);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "delta_15m", &r, NULL), 0);
    assert_int_equal(r.status, STATE_LOST);
    assert_string_equal(r.error, RUN_WORKER_LOST);
}

static void test_recover_leaves_a_held_run_and_the_excepted_one(void **state) {
    fixture *f = *state;
    put_record(f, "delta_15m", STATE_RUNNING, 1);
    lock_handle h;
    hold_pipeline_as(f, 1, &h);
    size_t n = 9;
    assert_int_equal(run_recover_lost(f->st, f->lm, NULL, 0, at("2025-10-15T02:10:00Z"), &n,
                                      NULL), 0);
    assert_int_equal(n, 0);
    lock_release(f->lm, &h, NULL);
    assert_int_equal(run_recover_lost(f->st, f->lm, "orders", 1, at("2025-10-15T02:10:00Z"),
                                      &n, NULL), 0);
    assert_int_equal(n, 0);   /* excepted: a redelivery resumes it */
    assert_int_equal(run_recover_lost(f->st, f->lm, "orders", 0, at("2025-10-15T02:10:00Z"),
                                      &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(history_len(f, "delta_15m"), 1);
}

static void test_record_unstarted_only_while_pending(void **state) {
    fixture *f = *state;
    queue_job j = pending_job(f, "full_daily");
    int64_t now = at("2025-10-15T02:01:00Z");
    assert_int_equal(run_record_unstarted(f->st, NULL, &j, STATE_FAILED, true, now, "sched",
                                          "the job process was killed", NULL), 0);
    state_record r;
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_FAILED);
    assert_string_equal(r.error, "the job process was killed");
    /* no longer pending: left alone */
    assert_int_equal(run_record_unstarted(f->st, NULL, &j, STATE_LOST, true, now, "sched",
                                          "again", NULL), 0);
    assert_int_equal(state_get(f->st, "orders", "full_daily", &r, NULL), 0);
    assert_int_equal(r.status, STATE_FAILED);
}

/* --- the one outcome value --- */

static void test_outcome_of_is_the_one_outcome(void **state) {
    (void)state;
    job_result res = {.status = JOB_FAILED, .stats = {.rows_read = 3}};
    snprintf(res.message, sizeof res.message, "boom");
    state_outcome o;
    run_outcome_of(&o, "p", "s", 4, JOB_FAILED, 10, 20, "w", &res, "log", true);
    assert_int_equal(o.status, STATE_FAILED);
    assert_string_equal(o.error, "boom");
    assert_string_equal(o.message, "boom");
    assert_true(o.manual);
    assert_int_equal(o.stats.rows_read, 3);
    assert_int_equal(o.started_at, 10);
    assert_int_equal(o.finished_at, 20);
    res.status = JOB_INTERRUPTED;
    run_outcome_of(&o, "p", "s", 4, JOB_INTERRUPTED, 10, 20, "w", &res, NULL, false);
    assert_int_equal(o.status, STATE_INTERRUPTED);
    assert_string_equal(o.error, "");
    assert_int_equal(run_exit_code(&res, 2), 130);
    assert_int_equal(run_exit_code(&res, 0), 143);
}

/* --- the one spawn helper --- */

static void test_spawn_child_reports_exec_failure(void **state) {
    (void)state;
    char *argv[] = {"/nonexistent/synctool", NULL};
    st_error err;
    pid_t pid = 0;
    assert_int_equal(run_spawn_argv(argv, -1, RUN_SPAWN_CHILD, &pid, &err), ST_ERR);
    assert_string_equal(err.msg, "exec: No such file or directory");
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);   /* reaped */
}

/* The job process gets its owner token on stdin, never in argv: a stand-in
 * binary writes both down. */
static void test_spawned_job_has_no_owner_token_in_argv(void **state) {
    fixture *f = *state;
    char script[128], args[128], in[128], text[512];
    snprintf(script, sizeof script, "%s/fake-synctool", f->dir);
    snprintf(args, sizeof args, "%s/args", f->dir);
    snprintf(in, sizeof in, "%s/stdin", f->dir);
    snprintf(text, sizeof text, "#!/bin/sh\necho \"$@\" > %s\ncat > %s\n", args, in);
    write_file(f->dir, "fake-synctool", text);
    assert_int_equal(chmod(script, 0700), 0);
    queue_job j = pending_job(f, "full_daily");
    snprintf(j.enqueue_owner, sizeof j.enqueue_owner, "feedfacefeedfacefeedfacefeedface");
    run_spawn_opts o = {.self = script, .config_dir = f->dir, .log_level = "info",
                        .mode = RUN_SPAWN_CHILD};
    pid_t pid = 0;
    st_error err;
    assert_int_equal(run_spawn_job(&o, &j, f->cfg, &pid, &err), ST_OK);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char buf[8192];
    FILE *fa = fopen(args, "r");
    assert_non_null(fa);
    size_t n = fread(buf, 1, sizeof buf - 1, fa);
    buf[n] = '\0';
    fclose(fa);
    assert_non_null(strstr(buf, "scheduler --exec-job"));
    assert_null(strstr(buf, j.enqueue_owner));
    FILE *fi = fopen(in, "r");
    assert_non_null(fi);
    n = fread(buf, 1, sizeof buf - 1, fi);
    buf[n] = '\0';
    fclose(fi);
    assert_non_null(strstr(buf, j.enqueue_owner));
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_default_strategy_longest_slot_ties_in_config_order),
        T(test_default_strategy_none_enabled),
        T(test_enqueue_allocates_run_id_and_marks_pending),
        T(test_manual_run_allocates_at_lock_time_and_records),
        T(test_delivered_job_runs_and_is_dropped_when_redelivered),
        T(test_duplicate_delivery_detected_without_sleeping),
        T(test_skip_on_a_stranger_is_recorded),
        T(test_manual_skip_not_recorded_over_a_run_in_progress),
        T(test_locks_unavailable_skips_and_records),
        T(test_delivered_job_recovers_a_dead_run_of_its_pipeline),
        T(test_recover_leaves_a_held_run_and_the_excepted_one),
        T(test_record_unstarted_only_while_pending),
        T(test_outcome_of_is_the_one_outcome),
        T(test_spawn_child_reports_exec_failure),
        T(test_spawned_job_has_no_owner_token_in_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
