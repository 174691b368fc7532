/*
 * test_job_renewer_start — a run whose lease-renewal thread cannot start is
 * skipped with a reason, never executed without renewal (issue 20 item 6).
 *
 * The fault is real: this binary interposes pthread_create (the executable's
 * definition wins over libc's for the static library linked into it) and,
 * while `fail_threads` is set, answers EAGAIN as libc does when the thread
 * limit (RLIMIT_NPROC) is reached; otherwise it calls the next definition
 * (the sanitizer's interceptor or libc's). The lock backend is the
 * in-memory mock, as in test_sync_job_manager_locks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/job/job.h"
#include "support/lockmock_backend.h"

static atomic_int fail_threads;

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
    if (fail_threads) return EAGAIN;
    static create_fn next;
    if (next == NULL) next = (create_fn)(uintptr_t)dlsym(RTLD_NEXT, "pthread_create");
    return next(t, a, fn, arg);
}

typedef struct fx {
    config_strategy strategy;
    config_pipeline p;
    lockmock *mock;
    lock_manager *lm;
    int exec_calls, skip_calls, finished_calls;
    char skip_code[64];
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    f->strategy = (config_strategy){.name = "full", .type = CONFIG_STRATEGY_FULL,
                                    .cron = "0 2 * * *", .enabled = true};
    f->p.name = "orders_sync";
    f->p.source = (config_endpoint){.datastore = "shop", .table = "orders"};
    f->p.destination = (config_endpoint){.datastore = "warehouse", .table = "orders"};
    f->p.strategies = &f->strategy;
    f->p.nstrategies = 1;
    f->p.locks = (config_locks){.lease_ttl_seconds = 30};
    f->mock = lockmock_new();
    f->lm = lockmock_manager(f->mock);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    fail_threads = 0;
    lock_close(f->lm);
    lockmock_free(f->mock);
    free(f);
    return 0;
}

static void on_skip(void *ud, const char *code, const char *msg) {
    fx *f = ud;
    (void)msg;
    f->skip_calls++;
    snprintf(f->skip_code, sizeof f->skip_code, "%s", code);
}

static void on_finished(void *ud, const job_exec_ctx *ctx, const job_result *res) {
    fx *f = ud;
    (void)ctx;
    (void)res;
    f->finished_calls++;
}

static int execute(void *ud, const job_exec_ctx *ctx, state_stats *stats, st_error *err) {
    fx *f = ud;
    (void)ctx;
    (void)stats;
    (void)err;
    f->exec_calls++;
    return ST_OK;
}

static job_result run(fx *f) {
    job_opts o;
    job_opts_from_config(&o, &f->p, "full");
    job_callbacks cb = {.on_skip = on_skip, .on_finished = on_finished, .ud = f};
    job_result r;
    assert_int_equal(job_run(NULL, &f->p, &o, f->lm, &cb, execute, f, &r), 0);
    return r;
}

static void test_no_renewal_thread_skips_the_run(void **state) {
    fx *f = *state;
    fail_threads = 1;
    job_result r = run(f);
    fail_threads = 0;
    assert_int_equal(r.status, JOB_SKIPPED);
    assert_string_equal(r.reason_code, "lease_renewal_unavailable");
    assert_non_null(strstr(r.message, "Lease renewal could not start"));
    assert_non_null(strstr(r.message, "renewal thread"));
    assert_int_equal(f->exec_calls, 0);
    assert_int_equal(f->skip_calls, 1);
    assert_string_equal(f->skip_code, "lease_renewal_unavailable");
    /* the locks were released: the next run gets them and executes */
    assert_false(lockmock_is_held(f->mock, "synctool:exec:pipeline:orders_sync",
                                  LOCK_EXCLUSIVE));
    r = run(f);
    assert_int_equal(r.status, JOB_SUCCESS);
    assert_int_equal(f->exec_calls, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_renewal_thread_skips_the_run, setup, teardown),
    };
    return cmocka_run_group_tests_name("TestJobRenewerStart", tests, NULL, NULL);
}
