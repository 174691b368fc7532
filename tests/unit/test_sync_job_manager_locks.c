/*
 * test_sync_job_manager_locks — the spec's test_sync_job_manager_locks
 * (spec/TEST_LOCK_AND_RETRY.md §2) for job_run(), with the same class and
 * test names as cmocka groups: TestPipelineLockAcquisition,
 * TestTableDDLLockCheck, TestCallbacks, plus TestHelpers (strategy config and
 * destination table extraction) and TestJobOutcomes (the remaining reason
 * codes: backend unavailable, strategy not found, execution error, lost
 * lease).
 *
 * The lock backend is the in-memory mock (support/lockmock_backend.c)
 * plugged in through lock_open_with_ops(), so job_run() talks to the real
 * lock front end (owner tokens, waiting, renewal) over the documented
 * vtable. The mock's poll interval is shortened so the waiting tests take
 * well under two seconds; the waits still go through lock_acquire_wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/job/job.h"
#include "support/lockmock_backend.h"

#define PKEY "synctool:exec:pipeline:orders_sync"
#define TKEY "synctool:table:warehouse:main:orders"

typedef struct fx {
    config_strategy strategies[3];
    config_pipeline p;
    lockmock *mock;
    lock_manager *lm;
    job_opts opts;
    /* what the callbacks and execute saw */
    int locks_acquired_calls, skip_calls, exec_calls;
    char skip_code[64], skip_msg[512];
    bool held_pipeline_during_exec, held_table_during_exec;
    int64_t fence_seen;
    int exec_rc;
    bool steal_during_exec;
    const char *steal_key;
} fx;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    f->strategies[0] = (config_strategy){.name = "delta_15m", .type = CONFIG_STRATEGY_DELTA,
                                         .cron = "*/15 * * * *", .enabled = true};
    f->strategies[1] = (config_strategy){.name = "hash_daily", .type = CONFIG_STRATEGY_HASH,
                                         .cron = "0 2 * * *", .enabled = true};
    f->strategies[2] = (config_strategy){.name = "full_weekly", .type = CONFIG_STRATEGY_FULL,
                                         .cron = "0 0 * * 0", .enabled = true};
    f->p.name = "orders_sync";
    f->p.source = (config_endpoint){.datastore = "shop", .schema = "public", .table = "orders"};
    f->p.destination = (config_endpoint){.datastore = "warehouse", .schema = "main",
                                         .table = "orders"};
    f->p.strategies = f->strategies;
    f->p.nstrategies = 3;
    f->p.locks = (config_locks){.wait_for_pipeline_lock = false, .pipeline_lock_wait_timeout = 60,
                                .wait_for_table_lock = false, .table_lock_wait_timeout = 30,
                                .lease_ttl_seconds = 30};
    f->mock = lockmock_new();
    f->lm = lockmock_manager(f->mock);
    lock_set_poll_interval(f->lm, 50);
    job_opts_from_config(&f->opts, &f->p, "hash_daily");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    lock_close(f->lm);
    lockmock_free(f->mock);
    free(f);
    return 0;
}

/* --- callbacks and execute ------------------------------------------------ */

static void on_locks_acquired(void *ud, const job_exec_ctx *ctx) {
    fx *f = ud;
    (void)ctx;
    f->locks_acquired_calls++;
    lockmock_note(f->mock, "on_locks_acquired");
}

static void on_skip(void *ud, const char *code, const char *msg) {
    fx *f = ud;
    f->skip_calls++;
    snprintf(f->skip_code, sizeof f->skip_code, "%s", code);
    snprintf(f->skip_msg, sizeof f->skip_msg, "%s", msg);
    lockmock_note(f->mock, "on_skip");
}

static int execute(void *ud, const job_exec_ctx *ctx, state_stats *stats, st_error *err) {
    fx *f = ud;
    f->exec_calls++;
    lockmock_note(f->mock, "execute");
    f->held_pipeline_during_exec = lockmock_is_held(f->mock, PKEY, LOCK_EXCLUSIVE);
    f->held_table_during_exec = lockmock_is_held(f->mock, TKEY, LOCK_SHARED);
    f->fence_seen = ctx->pipeline_lock ? ctx->pipeline_lock->fence : -1;
    assert_ptr_equal(ctx->strategy, &f->strategies[1]);
    if (f->steal_during_exec) {
        lockmock_steal(f->mock, f->steal_key); /* the lease ran out, someone took over */
        int64_t end = mono_ms() + 10000;
        while (!*ctx->cancel && mono_ms() < end) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        return st_error_set(err, ST_ELOST, "lost pipeline lock");
    }
    stats->rows_inserted = 4;
    if (f->exec_rc != 0) return st_error_set(err, f->exec_rc, "warehouse.main.orders: disk full");
    return 0;
}

static job_result run(fx *f, bool with_locks) {
    job_callbacks cb = {.on_locks_acquired = on_locks_acquired, .on_skip = on_skip, .ud = f};
    job_result r;
    assert_int_equal(job_run(NULL, &f->p, &f->opts, with_locks ? f->lm : NULL, &cb, execute, f,
                             &r),
                     0);
    return r;
}

/* --- TestPipelineLockAcquisition ----------------------------------------- */

static void test_no_lock_manager_runs_without_locking(void **state) {
    fx *f = *state;
    job_result r = run(f, false);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_int_equal(f->locks_acquired_calls, 1);
    assert_int_equal(f->exec_calls, 1);
    assert_int_equal(f->skip_calls, 0);
    assert_true(f->fence_seen == -1); /* no pipeline lock handle */
    assert_string_equal(lockmock_log(f->mock), "on_locks_acquired;execute;");
    assert_true(r.stats.rows_inserted == 4);
}

static void test_pipeline_lock_acquired_successfully(void **state) {
    fx *f = *state;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_string_equal(r.reason_code, "");
    assert_int_equal(f->exec_calls, 1);
    assert_true(f->held_pipeline_during_exec);
    assert_true(f->fence_seen > 0);
    assert_int_equal(lockmock_holders(f->mock), 0); /* released afterwards */
    assert_int_equal(lockmock_attempts(f->mock, PKEY), 1);
}

static void test_pipeline_lock_unavailable_skips_job(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, PKEY, LOCK_EXCLUSIVE, 0);
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_string_equal(r.reason_code, "pipeline_lock_unavailable");
    assert_string_equal(r.message, "Pipeline lock not available, skipping execution");
    assert_int_equal(f->exec_calls, 0);
    assert_int_equal(f->locks_acquired_calls, 0);
    assert_int_equal(lockmock_attempts(f->mock, PKEY), 1);  /* no waiting */
    assert_int_equal(lockmock_attempts(f->mock, TKEY), 0);  /* table never tried */
}

static void test_pipeline_lock_wait_timeout_skips(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, PKEY, LOCK_EXCLUSIVE, 0);
    f->opts.wait_pipeline_lock = true;
    f->opts.pipeline_lock_timeout_s = 1;
    int64_t t0 = mono_ms();
    job_result r = run(f, true);
    assert_true(mono_ms() - t0 >= 1000);
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_string_equal(r.reason_code, "pipeline_lock_unavailable");
    assert_string_equal(r.message, "Pipeline lock timeout after 1s, skipping execution");
    assert_int_equal(f->exec_calls, 0);
}

static void test_pipeline_lock_wait_then_proceeds(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, PKEY, LOCK_EXCLUSIVE, 2);
    f->opts.wait_pipeline_lock = true;
    f->opts.pipeline_lock_timeout_s = 10;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_int_equal(lockmock_attempts(f->mock, PKEY), 3);
    assert_true(f->held_pipeline_during_exec);
}

/* --- TestTableDDLLockCheck ----------------------------------------------- */

static void test_table_not_locked_proceeds(void **state) {
    fx *f = *state;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_true(f->held_table_during_exec); /* shared, as every sync */
    assert_int_equal(lockmock_attempts(f->mock, TKEY), 1);
    assert_int_equal(lockmock_holders(f->mock), 0);
}

static void test_table_locked_no_wait_skips(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, TKEY, LOCK_EXCLUSIVE, 0);
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_string_equal(r.reason_code, "table_ddl_lock_active");
    assert_string_equal(r.message, "Table has active DDL lock, skipping execution");
    assert_int_equal(f->exec_calls, 0);
    assert_int_equal(lockmock_attempts(f->mock, TKEY), 1);
    assert_int_equal(lockmock_holders(f->mock), 0); /* pipeline lock given back */
    assert_string_equal(lockmock_log(f->mock),
                        "acquire:" PKEY ":x:ok;acquire:" TKEY ":s:busy;on_skip;release:" PKEY ";");
}

static void test_table_locked_wait_then_proceeds(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, TKEY, LOCK_EXCLUSIVE, 3);
    f->opts.wait_table_lock = true;
    f->opts.table_lock_timeout_s = 10;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_int_equal(lockmock_attempts(f->mock, TKEY), 4); /* 3 refused, then held */
    assert_true(f->held_pipeline_during_exec);
    assert_true(f->held_table_during_exec);
    assert_int_equal(f->skip_calls, 0);
}

static void test_table_locked_wait_timeout_skips(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, TKEY, LOCK_EXCLUSIVE, 0);
    f->opts.wait_table_lock = true;
    f->opts.table_lock_timeout_s = 1;
    int64_t t0 = mono_ms();
    job_result r = run(f, true);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 1000);
    assert_true(took < 10000);
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_string_equal(r.reason_code, "table_ddl_lock_timeout");
    assert_string_equal(r.message, "Table DDL lock timeout after 1s, skipping execution");
    assert_true(lockmock_attempts(f->mock, TKEY) >= 2);
    assert_int_equal(f->exec_calls, 0);
    assert_int_equal(lockmock_holders(f->mock), 0);
}

/* --- TestCallbacks -------------------------------------------------------- */

static void test_on_locks_acquired_called_after_lock_success(void **state) {
    fx *f = *state;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_int_equal(f->locks_acquired_calls, 1);
    assert_string_equal(lockmock_log(f->mock),
                        "acquire:" PKEY ":x:ok;acquire:" TKEY ":s:ok;on_locks_acquired;execute;"
                        "release:" TKEY ";release:" PKEY ";");
}

static void test_on_skip_called_when_lock_unavailable(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, PKEY, LOCK_EXCLUSIVE, 0);
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_int_equal(f->skip_calls, 1);
    assert_int_equal(f->locks_acquired_calls, 0);
    assert_string_equal(f->skip_code, "pipeline_lock_unavailable");
    assert_string_equal(f->skip_msg, "Pipeline lock not available, skipping execution");
}

/* on_finished sees the result while both locks are still held: the result is
 * recorded before anyone else can take the pipeline lock (regression: the
 * result used to be recorded after release, and a scheduler tick in that gap
 * declared the worker lost). */
static bool finished_held_pipeline, finished_held_table;
static job_status finished_status;
static int finished_calls;

static void on_finished(void *ud, const job_exec_ctx *ctx, const job_result *res) {
    fx *f = ud;
    (void)ctx;
    finished_calls++;
    finished_status = res->status;
    finished_held_pipeline = lockmock_is_held(f->mock, PKEY, LOCK_EXCLUSIVE);
    finished_held_table = lockmock_is_held(f->mock, TKEY, LOCK_SHARED);
    lockmock_note(f->mock, "on_finished");
}

static job_result run_with_finished(fx *f) {
    job_callbacks cb = {.on_locks_acquired = on_locks_acquired, .on_skip = on_skip, .ud = f,
                        .on_finished = on_finished};
    job_result r;
    finished_calls = 0;
    assert_int_equal(job_run(NULL, &f->p, &f->opts, f->lm, &cb, execute, f, &r), 0);
    return r;
}

static void test_on_finished_called_while_locks_held(void **state) {
    fx *f = *state;
    job_result r = run_with_finished(f);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_int_equal(finished_calls, 1);
    assert_int_equal(finished_status, JOB_SUCCESS);
    assert_true(finished_held_pipeline);
    assert_true(finished_held_table);
    assert_string_equal(lockmock_log(f->mock),
                        "acquire:" PKEY ":x:ok;acquire:" TKEY ":s:ok;on_locks_acquired;execute;"
                        "on_finished;release:" TKEY ";release:" PKEY ";");
}

static void test_on_finished_not_called_on_skip(void **state) {
    fx *f = *state;
    lockmock_hold(f->mock, TKEY, LOCK_EXCLUSIVE, 0);
    job_result r = run_with_finished(f);
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_int_equal(finished_calls, 0);
    assert_int_equal(f->skip_calls, 1);
}

/* --- TestHelpers ------------------------------------------------------------ */

static void test_strategy_config_extraction(void **state) {
    fx *f = *state;
    assert_ptr_equal(job_strategy_config(&f->p, "full_weekly"), &f->strategies[2]);
    assert_ptr_equal(job_strategy_config(&f->p, "delta_15m"), &f->strategies[0]);
    assert_null(job_strategy_config(&f->p, "nope"));
    assert_null(job_strategy_config(&f->p, NULL));
    f->p.locks.wait_for_table_lock = true;
    f->p.locks.table_lock_wait_timeout = 7;
    f->p.locks.lease_ttl_seconds = 12;
    job_opts o;
    job_opts_from_config(&o, &f->p, "full_weekly");
    assert_string_equal(o.strategy, "full_weekly");
    assert_false(o.wait_pipeline_lock);
    assert_true(o.pipeline_lock_timeout_s == 60);
    assert_true(o.wait_table_lock);
    assert_true(o.table_lock_timeout_s == 7);
    assert_true(o.lease_ttl_ms == 12000);
}

static void test_destination_table_extraction(void **state) {
    fx *f = *state;
    const char *ds, *schema, *table;
    job_destination_table(&f->p, &ds, &schema, &table);
    assert_string_equal(ds, "warehouse");
    assert_string_equal(schema, "main");
    assert_string_equal(table, "orders");
    char k[320];
    assert_string_equal(lock_key_table(k, sizeof k, ds, schema, table), TKEY);
}

/* --- TestJobOutcomes -------------------------------------------------------- */

static void test_lock_backend_unavailable_skips(void **state) {
    fx *f = *state;
    lockmock_set_unavailable(f->mock, true);
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_string_equal(r.reason_code, "lock_backend_unavailable");
    assert_non_null(strstr(r.message, "mock://locks"));
    assert_int_equal(f->exec_calls, 0);
    assert_int_equal(f->skip_calls, 1);
}

static void test_strategy_not_found_fails(void **state) {
    fx *f = *state;
    f->opts.strategy = "nope";
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_FAILED);
    assert_string_equal(r.reason_code, "strategy_not_found");
    assert_string_equal(r.message, "Strategy 'nope' not found in config");
    assert_int_equal(f->skip_calls, 1);
    assert_int_equal(f->exec_calls, 0);
    assert_int_equal(lockmock_attempts(f->mock, PKEY), 0);
}

static void test_execution_error_fails_and_releases(void **state) {
    fx *f = *state;
    f->exec_rc = ST_ERR;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_FAILED);
    assert_string_equal(r.reason_code, "execution_error");
    assert_string_equal(r.message, "warehouse.main.orders: disk full");
    assert_int_equal(lockmock_holders(f->mock), 0);
}

static void test_lost_lease_cancels_and_fails(void **state) {
    fx *f = *state;
    f->opts.lease_ttl_ms = 300; /* renewal every 100 ms */
    f->steal_during_exec = true;
    f->steal_key = PKEY;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_FAILED);
    assert_string_equal(r.reason_code, "lost_pipeline_lock");
    assert_string_equal(r.message, "lost pipeline lock");
    assert_int_equal(lockmock_holders(f->mock), 0);
}

static void test_lost_table_lease_cancels_and_fails(void **state) {
    fx *f = *state;
    f->opts.lease_ttl_ms = 300;
    f->steal_during_exec = true;
    f->steal_key = TKEY;
    job_result r = run(f, true);
    assert_int_equal(r.status, JOB_FAILED);
    assert_string_equal(r.reason_code, "lost_table_lock");
    assert_string_equal(r.message, "lost table lock");
    assert_int_equal(lockmock_holders(f->mock), 0);
}

static void test_invalid_arguments(void **state) {
    fx *f = *state;
    job_result r;
    assert_int_equal(job_run(NULL, NULL, &f->opts, f->lm, NULL, execute, f, &r), ST_EINVAL);
    assert_int_equal(r.status, JOB_FAILED);
    assert_string_equal(r.message, "job: no pipeline or options");
    /* no execute function: failed, locks still released */
    assert_int_equal(job_run(NULL, &f->p, &f->opts, f->lm, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, JOB_FAILED);
    assert_string_equal(r.message, "no execute function");
    assert_int_equal(lockmock_holders(f->mock), 0);
}

static void test_backend_vtable_checks(void **state) {
    fx *f = *state;
    struct lock_ops bad = {.version = LOCK_OPS_VERSION + 1, .name = "future"};
    lock_manager *lm = NULL;
    st_error err;
    assert_int_equal(lock_open_with_ops(&lm, &bad, NULL, NULL, &err), ST_EINVAL);
    assert_null(lm);
    assert_non_null(strstr(err.msg, "ops version"));
    /* the mock cannot clone: the renewer shares the manager instead */
    assert_int_equal(lock_clone(f->lm, &lm, &err), ST_ENOTIMPL);
    assert_non_null(strstr(err.msg, "cannot clone"));
    assert_string_equal(lock_backend_name(f->lm), "mock");
}

static void test_status_names(void **state) {
    (void)state;
    assert_string_equal(job_status_name(JOB_SUCCESS), "success");
    assert_string_equal(job_status_name(JOB_FAILED), "failed");
    assert_string_equal(job_status_name(JOB_SKIPPED), "skipped");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest pipeline[] = {
        T(test_no_lock_manager_runs_without_locking),
        T(test_pipeline_lock_acquired_successfully),
        T(test_pipeline_lock_unavailable_skips_job),
        T(test_pipeline_lock_wait_timeout_skips),
        T(test_pipeline_lock_wait_then_proceeds),
    };
    const struct CMUnitTest table[] = {
        T(test_table_not_locked_proceeds),
        T(test_table_locked_no_wait_skips),
        T(test_table_locked_wait_then_proceeds),
        T(test_table_locked_wait_timeout_skips),
    };
    const struct CMUnitTest callbacks[] = {
        T(test_on_locks_acquired_called_after_lock_success),
        T(test_on_skip_called_when_lock_unavailable),
        T(test_on_finished_called_while_locks_held),
        T(test_on_finished_not_called_on_skip),
    };
    const struct CMUnitTest helpers[] = {
        T(test_strategy_config_extraction),
        T(test_destination_table_extraction),
    };
    const struct CMUnitTest outcomes[] = {
        T(test_lock_backend_unavailable_skips),
        T(test_strategy_not_found_fails),
        T(test_execution_error_fails_and_releases),
        T(test_lost_lease_cancels_and_fails),
        T(test_lost_table_lease_cancels_and_fails),
        T(test_invalid_arguments),
        T(test_backend_vtable_checks),
        cmocka_unit_test(test_status_names),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("TestPipelineLockAcquisition", pipeline, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestTableDDLLockCheck", table, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestCallbacks", callbacks, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestHelpers", helpers, NULL, NULL);
    failed += cmocka_run_group_tests_name("TestJobOutcomes", outcomes, NULL, NULL);
    return failed;
}
