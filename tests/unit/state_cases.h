/*
 * state_cases — the behaviour cases every state backend must pass.
 *
 * Included (not linked) by test_state_sqlite.c, test_state_redis.c and
 * test_state_pg.c, which each define one `state_test_backend`: how to wipe
 * and open a fresh store, and how to corrupt a stored field behind the
 * module's back. The cases use
 * fixed instants only and exercise the public state.h API, so every backend
 * is held to exactly the same contract.
 */
#ifndef TEST_STATE_CASES_H
#define TEST_STATE_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/state/state.h"
#include "../../src/time/st_time.h"

typedef struct state_test_backend {
    const char *name;
    /* Removes everything the previous case stored. */
    void (*wipe)(void);
    /* Opens a new handle (a new connection) to the test store. */
    int (*open)(state **out, st_error *err);
    /* Overwrites one stored field of a pair with raw text, bypassing state.h. */
    void (*corrupt)(const char *pipeline, const char *strategy, const char *field,
                    const char *raw);
} state_test_backend;

static const state_test_backend *TB;

#define T0 (1760522760LL * ST_USEC) /* 2025-10-15T10:06:00Z */
#define MIN (60LL * ST_USEC)
#define DAY (86400LL * ST_USEC)

static int case_setup(void **ctx) {
    TB->wipe();
    state *st = NULL;
    st_error err;
    if (TB->open(&st, &err) != ST_OK) {
        fprintf(stderr, "%s: cannot open test state: %s\n", TB->name, err.msg);
        return -1;
    }
    *ctx = st;
    return 0;
}

static int case_teardown(void **ctx) {
    state_close(*ctx);
    return 0;
}

/* A full record with every field set, so a transition that touches a field
 * it should not is caught. */
static state_record seeded(const char *p, const char *s) {
    state_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.pipeline, sizeof r.pipeline, "%s", p);
    snprintf(r.strategy, sizeof r.strategy, "%s", s);
    r.status = STATE_SUCCESS;
    r.last_run = T0 - 60 * MIN;
    r.last_scheduled_at = T0 - 61 * MIN;
    r.last_attempted_at = T0 - 59 * MIN;
    r.retry_count = 2;
    r.run_id = 10;
    snprintf(r.worker, sizeof r.worker, "old-worker");
    snprintf(r.message, sizeof r.message, "old message");
    snprintf(r.error, sizeof r.error, "old error");
    r.updated_at = T0 - 58 * MIN;
    return r;
}

static void put_seed(state *st, const state_record *r) {
    st_error err;
    int rc = state_put(st, r, &err);
    if (rc != ST_OK) fail_msg("state_put: %s", err.msg);
}

static state_record get_ok(state *st, const char *p, const char *s) {
    state_record r;
    st_error err;
    int rc = state_get(st, p, s, &r, &err);
    if (rc != ST_OK) fail_msg("state_get %s:%s: %s", p, s, err.msg);
    return r;
}

/* Asserts every field of got equals want. */
static void assert_record(const state_record *got, const state_record *want) {
    assert_string_equal(got->pipeline, want->pipeline);
    assert_string_equal(got->strategy, want->strategy);
    assert_string_equal(state_status_name(got->status), state_status_name(want->status));
    assert_true(got->last_run == want->last_run);
    assert_true(got->last_scheduled_at == want->last_scheduled_at);
    assert_true(got->last_attempted_at == want->last_attempted_at);
    assert_int_equal(got->retry_count, want->retry_count);
    assert_int_equal(got->run_id, want->run_id);
    assert_string_equal(got->worker, want->worker);
    assert_string_equal(got->message, want->message);
    assert_string_equal(got->error, want->error);
    assert_true(got->updated_at == want->updated_at);
    assert_int_equal(got->paused, want->paused);
}

static void test_put_get_roundtrip(void **ctx) {
    state *st = *ctx;
    state_record r = seeded("orders_sync", "hash_daily");
    put_seed(st, &r);
    state_record got = get_ok(st, "orders_sync", "hash_daily");
    assert_record(&got, &r);
    /* unknown instants survive as ST_TIME_NONE */
    r.last_run = r.last_attempted_at = ST_TIME_NONE;
    put_seed(st, &r);
    got = get_ok(st, "orders_sync", "hash_daily");
    assert_record(&got, &r);
}

static void test_get_missing_is_notfound(void **ctx) {
    state_record r;
    st_error err;
    assert_int_equal(state_get(*ctx, "nope", "full", &r, &err), ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope:full"));
}

static void test_pending_sets_exactly(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s");
    put_seed(st, &want);
    assert_int_equal(state_mark_pending(st, "p", "s", 11, T0, NULL), ST_OK);
    want.status = STATE_PENDING;
    want.last_scheduled_at = T0;
    want.run_id = 11;
    want.updated_at = T0;
    state_record got = get_ok(st, "p", "s");
    assert_record(&got, &want);
}

static void test_pending_without_state_creates_it(void **ctx) {
    state *st = *ctx;
    assert_int_equal(state_mark_pending(st, "fresh", "delta", 1, T0, NULL), ST_OK);
    state_record got = get_ok(st, "fresh", "delta");
    assert_int_equal(got.status, STATE_PENDING);
    assert_true(got.last_scheduled_at == T0);
    assert_true(got.last_run == ST_TIME_NONE);
    assert_true(got.last_attempted_at == ST_TIME_NONE);
    assert_int_equal(got.retry_count, 0);
    assert_int_equal(got.run_id, 1);
}

static void test_running_sets_exactly(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s");
    put_seed(st, &want);
    assert_int_equal(state_mark_running(st, "p", "s", 10, T0, "host:42", NULL), ST_OK);
    want.status = STATE_RUNNING;
    want.last_attempted_at = T0;
    snprintf(want.worker, sizeof want.worker, "host:42");
    want.updated_at = T0;
    state_record got = get_ok(st, "p", "s");
    assert_record(&got, &want);
}

static void finish(state *st, const char *p, const char *s, int64_t run_id, state_status status,
                   int64_t started, int64_t now, const char *msg, const char *error) {
    st_error err;
    state_stats stats = {.rows_read = run_id, .rows_inserted = 3, .rows_updated = 2,
                         .rows_deleted = 1, .seconds = 1.5};
    int rc = state_mark_finished(st, p, s, run_id, status, started, now, "w1", msg, error,
                                 &stats, &err);
    if (rc != ST_OK) fail_msg("mark_finished: %s", err.msg);
}

static void test_success_sets_exactly(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s");
    put_seed(st, &want);
    finish(st, "p", "s", 12, STATE_SUCCESS, T0 - MIN, T0, "copied 6 rows", NULL);
    want.status = STATE_SUCCESS;
    want.last_run = T0 - MIN;
    want.retry_count = 0;
    want.run_id = 12;
    snprintf(want.worker, sizeof want.worker, "w1");
    snprintf(want.message, sizeof want.message, "copied 6 rows");
    want.error[0] = '\0';
    want.updated_at = T0;
    state_record got = get_ok(st, "p", "s");
    assert_record(&got, &want);
}

static void test_failed_increments_retry(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s");
    put_seed(st, &want);
    finish(st, "p", "s", 10, STATE_FAILED, T0 - MIN, T0, "", "connection refused");
    finish(st, "p", "s", 11, STATE_FAILED, T0, T0 + MIN, "", "connection refused again");
    want.status = STATE_FAILED;
    want.retry_count = 4;
    want.run_id = 11;
    snprintf(want.worker, sizeof want.worker, "w1");
    want.message[0] = '\0';
    snprintf(want.error, sizeof want.error, "connection refused again");
    want.updated_at = T0 + MIN;
    state_record got = get_ok(st, "p", "s");
    assert_record(&got, &want);
}

/* A manual run (`synctool run`) records its failure but does not count
 * toward the pause (issue 21): retry_count stays; its history entry says
 * the same count; a manual success still resets it. */
static void test_manual_failure_keeps_retry(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s");
    put_seed(st, &want);
    st_error err;
    state_stats stats = {0};
    assert_int_equal(state_mark_finished_manual(st, "p", "s", 10, STATE_FAILED, T0 - MIN, T0,
                                                "w1", "", "connection refused", &stats, NULL,
                                                &err), ST_OK);
    state_record got = get_ok(st, "p", "s");
    assert_int_equal(got.status, STATE_FAILED);
    assert_int_equal(got.retry_count, want.retry_count);
    assert_string_equal(got.error, "connection refused");
    state_history_entry *h = NULL;
    size_t n = 0;
    assert_int_equal(state_history(st, "p", "s", 10, &h, &n, &err), ST_OK);
    assert_true(n >= 1);
    assert_int_equal(h[0].run_id, 10);
    assert_int_equal(h[0].retry_count, want.retry_count);
    free(h);
    assert_int_equal(state_mark_finished_manual(st, "p", "s", 11, STATE_SUCCESS, T0, T0 + MIN,
                                                "w1", "ok", "", &stats, NULL, &err), ST_OK);
    got = get_ok(st, "p", "s");
    assert_int_equal(got.retry_count, 0);
    assert_int_equal(got.last_run, T0);
}

static void test_skipped_sets_attempted_only(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s");
    put_seed(st, &want);
    finish(st, "p", "s", 10, STATE_SKIPPED, T0, T0 + 1, "Pipeline lock not available, skipping execution",
           NULL);
    want.status = STATE_SKIPPED;
    want.last_attempted_at = T0 + 1;
    snprintf(want.worker, sizeof want.worker, "w1");
    snprintf(want.message, sizeof want.message, "Pipeline lock not available, skipping execution");
    want.error[0] = '\0';
    want.updated_at = T0 + 1;
    state_record got = get_ok(st, "p", "s");
    assert_record(&got, &want); /* retry_count still 2, last_run unchanged */
}

/* interrupted is recorded like skipped (retry_count unchanged), lost like
 * failed (retry_count + 1); both reach history with their status. */
static void test_interrupted_and_lost_recorded(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s"); /* retry_count 2 */
    put_seed(st, &want);
    finish(st, "p", "s", 10, STATE_INTERRUPTED, T0, T0 + 1, "interrupted", NULL);
    state_record got = get_ok(st, "p", "s");
    assert_int_equal(got.status, STATE_INTERRUPTED);
    assert_int_equal(got.retry_count, 2);
    assert_true(got.last_attempted_at == T0 + 1);
    finish(st, "p", "s", 11, STATE_LOST, T0, T0 + 2, "", "Worker lost: lease expired");
    got = get_ok(st, "p", "s");
    assert_int_equal(got.status, STATE_LOST);
    assert_int_equal(got.retry_count, 3);
    state_history_entry *h;
    size_t n;
    assert_int_equal(state_history(st, "p", "s", 10, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].status, STATE_LOST);
    assert_int_equal(h[1].status, STATE_INTERRUPTED);
    assert_true(h[1].stats.rows_inserted == 3);
    free(h);
}

static void test_finished_rejects_non_final_status(void **ctx) {
    st_error err;
    assert_int_equal(state_mark_finished(*ctx, "p", "s", 1, STATE_RUNNING, T0, T0, "w", "", "",
                                         NULL, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "p:s"));
}

static void test_stale_run_id_refused(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s"); /* run_id 10 */
    put_seed(st, &want);
    st_error err;
    assert_int_equal(state_mark_pending(st, "p", "s", 9, T0, &err), ST_ESTALE);
    assert_string_equal(err.msg, "stale update from run 9 ignored: run 10 is newer");
    assert_int_equal(state_mark_running(st, "p", "s", 3, T0, "w", &err), ST_ESTALE);
    assert_int_equal(state_mark_finished(st, "p", "s", 9, STATE_FAILED, T0, T0, "w", "", "boom",
                                         NULL, &err), ST_ESTALE);
    state_record got = get_ok(st, "p", "s");
    assert_record(&got, &want);
    state_history_entry *h;
    size_t n;
    assert_int_equal(state_history(st, "p", "s", 10, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 0); /* a refused finish appends no history */
    free(h);
    /* the same run_id is accepted */
    assert_int_equal(state_mark_running(st, "p", "s", 10, T0, "w", &err), ST_OK);
}

static void test_new_run_id_strictly_increasing(void **ctx) {
    state *st = *ctx;
    int64_t prev = 0, id;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(state_new_run_id(st, &id, NULL), ST_OK);
        assert_true(id > prev);
        prev = id;
    }
    /* a second connection continues the same sequence */
    state *other;
    assert_int_equal(TB->open(&other, NULL), ST_OK);
    assert_int_equal(state_new_run_id(other, &id, NULL), ST_OK);
    assert_true(id > prev);
    state_close(other);
}

static void test_history_bounded_newest_first(void **ctx) {
    state *st = *ctx;
    for (int64_t i = 1; i <= 60; i++)
        finish(st, "p", "s", i, i % 2 ? STATE_FAILED : STATE_SUCCESS, T0 + i * MIN,
               T0 + i * MIN + 5 * ST_USEC, i % 2 ? "" : "ok", i % 2 ? "bad" : "");
    state_history_entry *h;
    size_t n;
    /* appending keeps everything; the retention bounds it (keep_runs 50) */
    assert_int_equal(state_history(st, "p", "s", 1000, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 60);
    free(h);
    state_retention keep50 = {0, 50};
    int64_t removed = -1;
    assert_int_equal(state_prune(st, T0 + DAY, &keep50, &removed, NULL), ST_OK);
    assert_int_equal(removed, 10);
    assert_int_equal(state_history(st, "p", "s", 1000, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 50);
    for (size_t i = 0; i < n; i++) assert_int_equal(h[i].run_id, 60 - (int64_t)i);
    assert_int_equal(h[0].status, STATE_SUCCESS);
    assert_true(h[0].started_at == T0 + 60 * MIN);
    assert_true(h[0].finished_at == T0 + 60 * MIN + 5 * ST_USEC);
    assert_string_equal(h[0].message, "ok");
    assert_string_equal(h[0].worker, "w1");
    assert_int_equal(h[0].stats.rows_read, 60);
    assert_int_equal(h[0].stats.rows_inserted, 3);
    assert_int_equal(h[0].stats.rows_updated, 2);
    assert_int_equal(h[0].stats.rows_deleted, 1);
    assert_true(h[0].stats.seconds == 1.5);
    assert_int_equal(h[1].status, STATE_FAILED);
    assert_string_equal(h[1].error, "bad");
    assert_int_equal(h[1].retry_count, 1); /* the count after that failure */
    free(h);
    assert_int_equal(state_history(st, "p", "s", 3, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 3);
    assert_int_equal(h[2].run_id, 58);
    free(h);
    /* other pairs have their own history */
    assert_int_equal(state_history(st, "p", "other", 10, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 0);
    free(h);
}

static void finish_log(state *st, const char *p, const char *s, int64_t run_id,
                       state_status status, int64_t finished, const char *log) {
    st_error err;
    state_stats stats = {.rows_read = 7, .rows_inserted = 5, .seconds = 2};
    int rc = state_mark_finished_log(st, p, s, run_id, status, finished - 2 * ST_USEC, finished,
                                     "w1", "done", status == STATE_FAILED ? "boom" : "",
                                     &stats, log, &err);
    if (rc != ST_OK) fail_msg("mark_finished_log: %s", err.msg);
}

/* Each finished run keeps its log lines; state_run_get finds the run by id
 * with its pipeline and strategy; a run without lines has a NULL log. */
static void test_run_log_kept_with_history(void **ctx) {
    state *st = *ctx;
    finish_log(st, "orders", "full", 5, STATE_FAILED, T0, "line one\nline two\n");
    finish_log(st, "orders", "delta", 6, STATE_SUCCESS, T0 + MIN, NULL);
    state_run r;
    assert_int_equal(state_run_get(st, 5, &r, NULL), ST_OK);
    assert_string_equal(r.pipeline, "orders");
    assert_string_equal(r.strategy, "full");
    assert_int_equal(r.entry.run_id, 5);
    assert_int_equal(r.entry.status, STATE_FAILED);
    assert_string_equal(r.entry.error, "boom");
    assert_int_equal(r.entry.stats.rows_inserted, 5);
    assert_true(r.entry.finished_at == T0);
    assert_int_equal(r.entry.retry_count, 1);
    assert_non_null(r.log);
    assert_string_equal(r.log, "line one\nline two\n");
    state_run_clear(&r);
    assert_int_equal(state_run_get(st, 6, &r, NULL), ST_OK);
    assert_string_equal(r.strategy, "delta");
    assert_null(r.log);
    state_run_clear(&r);
    st_error err;
    assert_int_equal(state_run_get(st, 99, &r, &err), ST_ENOTFOUND);
    assert_string_equal(err.msg, "no run 99 in history");
    state_run_clear(&r);
}

/* keep_days removes entries (and their logs) that finished before now -
 * keep_days, across pairs; younger ones stay; pruning twice removes nothing
 * more. keep_runs counts per pair. */
static void test_prune_by_age_and_count(void **ctx) {
    state *st = *ctx;
    finish_log(st, "a", "s", 1, STATE_SUCCESS, T0 - 40 * DAY, "old\n");
    finish_log(st, "b", "s", 2, STATE_SUCCESS, T0 - 31 * DAY, "old too\n");
    finish_log(st, "a", "s", 3, STATE_SUCCESS, T0 - 29 * DAY, "young\n");
    finish_log(st, "b", "s", 4, STATE_FAILED, T0 - DAY, "young\n");
    finish_log(st, "b", "s", 5, STATE_SUCCESS, T0, "young\n");
    state_retention r30 = {30, 0};
    int64_t removed = -1;
    assert_int_equal(state_prune(st, T0, &r30, &removed, NULL), ST_OK);
    assert_int_equal(removed, 2);
    state_run run;
    assert_int_equal(state_run_get(st, 1, &run, NULL), ST_ENOTFOUND);
    assert_int_equal(state_run_get(st, 2, &run, NULL), ST_ENOTFOUND);
    assert_int_equal(state_run_get(st, 3, &run, NULL), ST_OK);
    assert_string_equal(run.log, "young\n");
    state_run_clear(&run);
    state_history_entry *h;
    size_t n;
    assert_int_equal(state_history(st, "a", "s", 10, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].run_id, 3);
    free(h);
    assert_int_equal(state_prune(st, T0, &r30, &removed, NULL), ST_OK);
    assert_int_equal(removed, 0);
    state_retention keep1 = {0, 1};
    assert_int_equal(state_prune(st, T0, &keep1, &removed, NULL), ST_OK);
    assert_int_equal(removed, 1); /* b keeps run 5, a keeps run 3 */
    assert_int_equal(state_run_get(st, 4, &run, NULL), ST_ENOTFOUND);
    assert_int_equal(state_run_get(st, 5, &run, NULL), ST_OK);
    state_run_clear(&run);
    state_retention bad = {-1, 0};
    assert_int_equal(state_prune(st, T0, &bad, &removed, NULL), ST_EINVAL);
}

static void test_reset_clears_failure(void **ctx) {
    state *st = *ctx;
    state_record want = seeded("p", "s");
    want.status = STATE_FAILED;
    want.retry_count = 3;
    put_seed(st, &want);
    st_error err;
    assert_int_equal(state_reset_at(st, "p", "s", T0, &err), ST_OK);
    want.status = STATE_IDLE;
    want.retry_count = 0;
    want.error[0] = '\0';
    want.updated_at = T0;
    state_record got = get_ok(st, "p", "s");
    assert_record(&got, &want); /* run_id kept: older runs stay stale */
    assert_int_equal(state_reset(st, "nope", "s", &err), ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope:s"));
}

static void test_list_sorted_and_put_many(void **ctx) {
    state *st = *ctx;
    state_record recs[3] = {seeded("b", "full"), seeded("a", "hash"), seeded("a", "delta")};
    st_error err;
    assert_int_equal(state_put_many(st, recs, 3, &err), ST_OK);
    state_record *all;
    size_t n;
    assert_int_equal(state_list(st, &all, &n, &err), ST_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(n, 3);
    assert_string_equal(all[0].pipeline, "a");
    assert_string_equal(all[0].strategy, "delta");
    assert_string_equal(all[1].strategy, "hash");
    assert_string_equal(all[2].pipeline, "b");
    assert_record(&all[2], &recs[0]);
    free(all);
}

/* The compact listing (status, /api/v1/pipelines) holds what state_list
 * holds: the same records, field for field, found by pair; corrupt ones
 * left out and described; the running ones expanded for recovery. Names
 * sort as strings ("a-b" before "a:x" in Redis' index, after "a" here). */
static void test_listing_matches_list(void **ctx) {
    state *st = *ctx;
    state_record recs[4] = {seeded("b", "full"), seeded("a-b", "hash"), seeded("a", "delta"),
                            seeded("a", "zz")};
    recs[1].status = STATE_RUNNING;
    recs[1].error[0] = '\0';
    recs[2].paused = true;
    snprintf(recs[3].message, sizeof recs[3].message, "%s", "quote \" and tab\t");
    st_error err;
    assert_int_equal(state_put_many(st, recs, 4, &err), ST_OK);
    TB->corrupt("a", "zz", "status", "bogus");
    state_listing *l;
    assert_int_equal(state_listing_read(st, &l, &err), ST_OK);
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "a:zz: unknown status 'bogus'"));
    assert_int_equal(state_listing_len(l), 3);
    state_record got;
    for (int i = 0; i < 3; i++) {
        memset(&got, 'x', sizeof got);
        assert_true(state_listing_get(l, recs[i].pipeline, recs[i].strategy, &got));
        assert_record(&got, &recs[i]);
    }
    assert_false(state_listing_get(l, "a", "zz", &got));
    assert_false(state_listing_get(l, "a", "full", &got));
    assert_false(state_listing_get(l, "c", "full", &got));
    state_record *running;
    size_t n;
    assert_int_equal(state_listing_running(l, NULL, &running, &n), ST_OK);
    assert_int_equal(n, 1);
    assert_record(&running[0], &recs[1]);
    free(running);
    assert_int_equal(state_listing_running(l, "b", &running, &n), ST_OK);
    assert_int_equal(n, 0);
    assert_null(running);
    state_listing_free(l);
    state_listing_free(NULL);
}

static void test_put_rejects_bad_record(void **ctx) {
    state_record r = seeded("p", "s");
    r.retry_count = -1;
    st_error err;
    assert_int_equal(state_put(*ctx, &r, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "p:s"));
    r = seeded("", "s");
    assert_int_equal(state_put(*ctx, &r, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "pipeline and strategy are required"));
}

static void test_meta_get_put(void **ctx) {
    state *st = *ctx;
    char buf[64];
    st_error err;
    assert_int_equal(state_meta_get(st, "p", "d", "watermark", buf, sizeof buf, &err),
                     ST_ENOTFOUND);
    assert_non_null(strstr(err.msg, "watermark"));
    assert_int_equal(state_meta_put(st, "p", "d", "watermark", "2025-10-15T10:00:00Z", NULL),
                     ST_OK);
    assert_int_equal(state_meta_put(st, "p", "other", "watermark", "x", NULL), ST_OK);
    assert_int_equal(state_meta_get(st, "p", "d", "watermark", buf, sizeof buf, NULL), ST_OK);
    assert_string_equal(buf, "2025-10-15T10:00:00Z");
    assert_int_equal(state_meta_put(st, "p", "d", "watermark", "v2", NULL), ST_OK);
    assert_int_equal(state_meta_get(st, "p", "d", "watermark", buf, sizeof buf, NULL), ST_OK);
    assert_string_equal(buf, "v2");
}

static void test_corrupt_status_reported_per_record(void **ctx) {
    state *st = *ctx;
    state_record a = seeded("orders_sync", "hash_daily"), b = seeded("users_sync", "full");
    put_seed(st, &a);
    put_seed(st, &b);
    TB->corrupt("orders_sync", "hash_daily", "status", "bogus");
    state_record r;
    st_error err;
    assert_int_equal(state_get(st, "orders_sync", "hash_daily", &r, &err), ST_EINVAL);
    assert_string_equal(err.msg, "corrupt state for orders_sync:hash_daily: unknown status 'bogus'");
    state_record *all;
    size_t n;
    assert_int_equal(state_list(st, &all, &n, &err), ST_OK);
    assert_int_equal(n, 1);
    assert_record(&all[0], &b);
    assert_int_equal(err.code, ST_EINVAL);
    assert_non_null(strstr(err.msg, "orders_sync:hash_daily: unknown status 'bogus'"));
    free(all);
    /* the healthy pair still takes updates */
    assert_int_equal(state_mark_pending(st, "users_sync", "full", 11, T0, NULL), ST_OK);
}

static void test_corrupt_timestamp_reported(void **ctx) {
    state *st = *ctx;
    state_record a = seeded("orders_sync", "delta"), b = seeded("orders_sync", "full");
    put_seed(st, &a);
    put_seed(st, &b);
    TB->corrupt("orders_sync", "delta", "last_run", "yesterday");
    state_record r;
    st_error err;
    assert_int_equal(state_get(st, "orders_sync", "delta", &r, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "corrupt state for orders_sync:delta: last_run"));
    assert_non_null(strstr(err.msg, "yesterday"));
    state_record *all;
    size_t n;
    assert_int_equal(state_list(st, &all, &n, &err), ST_OK);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].strategy, "full");
    free(all);
    /* import (put) repairs it */
    put_seed(st, &a);
    r = get_ok(st, "orders_sync", "delta");
    assert_record(&r, &a);
}

/* Child of the concurrency case: K failed finishes on one pair, and K run
 * ids written to `fd`. Exits 0 on success. */
static void hammer(int fd, int k) {
    state *st;
    if (TB->open(&st, NULL) != ST_OK) _exit(3);
    for (int i = 0; i < k; i++) {
        int64_t id;
        if (state_new_run_id(st, &id, NULL) != ST_OK) _exit(4);
        if (write(fd, &id, sizeof id) != (ssize_t)sizeof id) _exit(5);
        if (state_mark_finished(st, "race", "s", 1, STATE_FAILED, T0, T0, "w", "", "e", NULL,
                                NULL) != ST_OK)
            _exit(6);
    }
    state_close(st);
    _exit(0);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_two_processes_lose_no_update(void **ctx) {
    enum { K = 60 };
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[2];
    for (int c = 0; c < 2; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            close(fds[0]);
            hammer(fds[1], K);
        }
    }
    close(fds[1]);
    int64_t ids[2 * K];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof ids && (r = read(fds[0], (char *)ids + got, sizeof ids - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    for (int c = 0; c < 2; c++) {
        int status;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(got, sizeof ids);
    qsort(ids, 2 * K, sizeof ids[0], cmp_i64);
    for (int i = 1; i < 2 * K; i++) assert_true(ids[i] > ids[i - 1]); /* all distinct */
    state_record rec = get_ok(*ctx, "race", "s");
    assert_int_equal(rec.retry_count, 2 * K); /* no increment lost */
}

/* A batch read (issue 25: status and /pipelines read every watermark at
 * once): each value found or ST_ENOTFOUND with "", in request order, other
 * pairs' and keys' values never mixed in; more values than one pipelined
 * chunk. */
static void test_meta_get_many(void **ctx) {
    state *st = *ctx;
    st_error err;
    enum { N = 1203 };
    char (*bufs)[64] = calloc(N + 2, sizeof *bufs);
    char (*names)[32] = calloc(N + 2, sizeof *names);
    state_meta_req *q = calloc(N + 2, sizeof *q);
    assert_non_null(bufs);
    assert_non_null(names);
    assert_non_null(q);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "p%04d", i);
        char v[32];
        snprintf(v, sizeof v, "wm-%d", i);
        if (i % 3 != 0) assert_int_equal(state_meta_put(st, names[i], "d", "watermark", v, NULL),
                                         ST_OK);
        q[i] = (state_meta_req){names[i], "d", "watermark", bufs[i], sizeof bufs[i], -1};
    }
    assert_int_equal(state_meta_put(st, "p0000", "d", "other_key", "no", NULL), ST_OK);
    assert_int_equal(state_meta_put(st, "p0001", "x", "watermark", "no", NULL), ST_OK);
    q[N] = (state_meta_req){"p0001", "x", "watermark", bufs[N], sizeof bufs[N], -1};
    q[N + 1] = (state_meta_req){"nope", "d", "watermark", bufs[N + 1], sizeof bufs[N + 1], -1};
    assert_int_equal(state_meta_get_many(st, q, N + 2, &err), ST_OK);
    for (int i = 0; i < N; i++) {
        char v[32];
        snprintf(v, sizeof v, "wm-%d", i);
        assert_int_equal(q[i].rc, i % 3 != 0 ? ST_OK : ST_ENOTFOUND);
        assert_string_equal(bufs[i], i % 3 != 0 ? v : "");
    }
    assert_int_equal(q[N].rc, ST_OK);
    assert_string_equal(bufs[N], "no");
    assert_int_equal(q[N + 1].rc, ST_ENOTFOUND);
    assert_int_equal(state_meta_get_many(st, q, 0, &err), ST_OK);
    free(q);
    free(names);
    free(bufs);
}

#define STATE_CASE(f) cmocka_unit_test_setup_teardown(f, case_setup, case_teardown)


/* --- operator pause, metrics counters, heartbeats (issue 13) --- */

static int paused_in_listing(state *st, const char *p, const char *s) {
    state_record *all = NULL;
    size_t n = 0;
    st_error err;
    assert_int_equal(state_list(st, &all, &n, &err), ST_OK);
    int found = -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].pipeline, p) == 0 && strcmp(all[i].strategy, s) == 0)
            found = all[i].paused;
    free(all);
    return found;
}

static void test_pause_is_kept_by_every_transition(void **ctx) {
    state *st = *ctx;
    st_error err;
    /* A pair without state gets an idle record that is paused. */
    assert_int_equal(state_set_paused(st, "p", "full", true, T0, &err), ST_OK);
    state_record r = get_ok(st, "p", "full");
    assert_true(r.paused);
    assert_string_equal(state_status_name(r.status), "idle");
    assert_int_equal(paused_in_listing(st, "p", "full"), 1);
    /* Runs (a manual run still works) and reset leave the pause alone. */
    assert_int_equal(state_mark_pending(st, "p", "full", 5, T0 + MIN, &err), ST_OK);
    assert_int_equal(state_mark_running(st, "p", "full", 5, T0 + MIN, "w", &err), ST_OK);
    assert_int_equal(state_mark_finished(st, "p", "full", 5, STATE_FAILED, T0 + MIN, T0 + 2 * MIN,
                                         "w", "m", "boom", NULL, &err), ST_OK);
    assert_int_equal(state_reset_at(st, "p", "full", T0 + 3 * MIN, &err), ST_OK);
    r = get_ok(st, "p", "full");
    assert_true(r.paused);
    assert_int_equal(r.run_id, 5);
    assert_int_equal(r.retry_count, 0);
    /* Resume clears it and touches nothing else but updated_at. */
    assert_int_equal(state_set_paused(st, "p", "full", false, T0 + 4 * MIN, &err), ST_OK);
    state_record after = get_ok(st, "p", "full");
    r.paused = false;
    r.updated_at = T0 + 4 * MIN;
    assert_record(&after, &r);
    assert_int_equal(paused_in_listing(st, "p", "full"), 0);
    /* Import carries it. */
    state_record seed = seeded("q", "hash");
    seed.paused = true;
    put_seed(st, &seed);
    r = get_ok(st, "q", "hash");
    assert_record(&r, &seed);
}

static double counter_value(const state_counter *c, size_t n, const char *p, const char *s,
                            const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].pipeline, p) == 0 && strcmp(c[i].strategy, s) == 0 &&
            strcmp(c[i].name, name) == 0)
            return c[i].value;
    return -1;
}

static void test_finished_runs_add_to_counters(void **ctx) {
    state *st = *ctx;
    st_error err;
    state_stats ok = {.rows_read = 5, .rows_inserted = 3, .rows_updated = 1,
                      .rows_deleted = 2, .seconds = 2.5};
    state_stats slow = {.rows_read = 7, .seconds = 100};
    assert_int_equal(state_mark_finished(st, "p", "delta", 1, STATE_SUCCESS, T0, T0 + MIN, "w",
                                         "", "", &ok, &err), ST_OK);
    assert_int_equal(state_mark_finished(st, "p", "delta", 2, STATE_FAILED, T0, T0 + MIN, "w",
                                         "", "boom", &slow, &err), ST_OK);
    assert_int_equal(state_mark_finished(st, "p", "delta", 3, STATE_SKIPPED, T0, T0 + MIN, "w",
                                         "busy", "", NULL, &err), ST_OK);
    assert_int_equal(state_mark_finished(st, "other", "full", 4, STATE_SUCCESS, T0, T0 + MIN,
                                         "w", "", "", &ok, &err), ST_OK);
    state_counter *c = NULL;
    size_t n = 0;
    assert_int_equal(state_counters_list(st, &c, &n, &err), ST_OK);
    assert_true(counter_value(c, n, "p", "delta", "runs_success") == 1);
    assert_true(counter_value(c, n, "p", "delta", "runs_failed") == 1);
    assert_true(counter_value(c, n, "p", "delta", "runs_skipped") == 1);
    assert_true(counter_value(c, n, "p", "delta", "rows_read") == 12);
    assert_true(counter_value(c, n, "p", "delta", "rows_inserted") == 3);
    assert_true(counter_value(c, n, "p", "delta", "rows_deleted") == 2);
    /* Skipped runs have no duration: two observations, 2.5 s and 100 s. */
    assert_true(counter_value(c, n, "p", "delta", "duration_seconds_count") == 2);
    assert_true(counter_value(c, n, "p", "delta", "duration_seconds_sum") == 102.5);
    assert_true(counter_value(c, n, "p", "delta", "duration_seconds_bucket:1") == -1);
    assert_true(counter_value(c, n, "p", "delta", "duration_seconds_bucket:5") == 1);
    assert_true(counter_value(c, n, "p", "delta", "duration_seconds_bucket:300") == 2);
    assert_true(counter_value(c, n, "other", "full", "runs_success") == 1);
    assert_true(counter_value(c, n, "other", "full", "runs_failed") == -1);
    for (size_t i = 1; i < n; i++) {   /* sorted by pipeline, strategy, name */
        int o = strcmp(c[i - 1].pipeline, c[i].pipeline);
        if (o == 0) o = strcmp(c[i - 1].strategy, c[i].strategy);
        if (o == 0) o = strcmp(c[i - 1].name, c[i].name);
        assert_true(o < 0);
    }
    free(c);
    /* A stale update is refused and counts nothing. */
    assert_int_equal(state_mark_finished(st, "p", "delta", 1, STATE_SUCCESS, T0, T0 + MIN, "w",
                                         "", "", &ok, &err), ST_ESTALE);
    assert_int_equal(state_counters_list(st, &c, &n, &err), ST_OK);
    assert_true(counter_value(c, n, "p", "delta", "runs_success") == 1);
    free(c);
}

static void test_heartbeats_listed_by_name(void **ctx) {
    state *st = *ctx;
    st_error err;
    assert_int_equal(state_beat(st, "worker", "w2", T0, &err), ST_OK);
    assert_int_equal(state_beat(st, "scheduler", "s1", T0, &err), ST_OK);
    assert_int_equal(state_beat(st, "worker", "w2", T0 + MIN, &err), ST_OK);
    state_process *p = NULL;
    size_t n = 0;
    assert_int_equal(state_beats(st, &p, &n, &err), ST_OK);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].name, "s1");
    assert_string_equal(p[0].kind, "scheduler");
    assert_true(p[0].last_heartbeat_at == T0);
    assert_string_equal(p[1].name, "w2");
    assert_string_equal(p[1].kind, "worker");
    assert_true(p[1].last_heartbeat_at == T0 + MIN);
    free(p);
}

/* --- the alert outbox (issue 27) --- */

static state_alert outbox_entry(const char *key, const char *hook, int64_t at) {
    state_alert a;
    memset(&a, 0, sizeof a);
    snprintf(a.key, sizeof a.key, "%s", key);
    snprintf(a.hook, sizeof a.hook, "%s", hook);
    snprintf(a.pipeline, sizeof a.pipeline, "orders");
    snprintf(a.strategy, sizeof a.strategy, "full");
    snprintf(a.event, sizeof a.event, "failed");
    a.status = STATE_ALERT_PENDING;
    a.created_at = a.next_at = a.updated_at = at;
    snprintf(a.body, sizeof a.body, "{\"text\":\"%s\"}", key);
    return a;
}

static void test_outbox_add_list_update_prune(void **ctx) {
    state *st = *ctx;
    st_error err;
    state_alert in[2] = {outbox_entry("k1", "h1", T0), outbox_entry("k2", "h2", T0)};
    /* entries and the last-notified value in one step */
    assert_int_equal(state_outbox_add(st, in, 2, "orders", "full", "notify.health", "failing",
                                      &err), ST_OK);
    char buf[16];
    assert_int_equal(state_meta_get(st, "orders", "full", "notify.health", buf, sizeof buf,
                                    &err), ST_OK);
    assert_string_equal(buf, "failing");
    /* a key already there is not added again */
    assert_int_equal(state_outbox_add(st, in, 1, "orders", "full", NULL, NULL, &err), ST_OK);
    state_alert *a = NULL;
    size_t n = 0;
    assert_int_equal(state_outbox_list(st, NULL, true, &a, &n, &err), ST_OK);
    assert_int_equal(n, 2);
    assert_true(a[0].id < a[1].id);
    assert_string_equal(a[0].key, "k1");
    assert_string_equal(a[0].body, "{\"text\":\"k1\"}");
    assert_true(a[0].created_at == T0 && a[0].status == STATE_ALERT_PENDING);
    state_alert one = a[0];
    free(a);
    assert_int_equal(state_outbox_list(st, "h2", false, &a, &n, &err), ST_OK);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].key, "k2");
    free(a);
    one.status = STATE_ALERT_DELIVERED;
    one.attempts = 3;
    one.updated_at = T0 + MIN;
    snprintf(one.last_error, sizeof one.last_error, "HTTP 503");
    assert_int_equal(state_outbox_update(st, &one, &err), ST_OK);
    assert_int_equal(state_outbox_list(st, NULL, true, &a, &n, &err), ST_OK);
    assert_int_equal(n, 1);                                   /* only k2 is pending */
    free(a);
    assert_int_equal(state_outbox_list(st, "h1", false, &a, &n, &err), ST_OK);
    assert_int_equal(n, 1);
    assert_true(a[0].status == STATE_ALERT_DELIVERED && a[0].attempts == 3);
    assert_string_equal(a[0].last_error, "HTTP 503");
    free(a);
    int64_t removed = 0;
    assert_int_equal(state_outbox_prune(st, T0 + 2 * MIN, &removed, &err), ST_OK);
    assert_int_equal(removed, 1);                             /* pending k2 stays */
    assert_int_equal(state_outbox_list(st, NULL, false, &a, &n, &err), ST_OK);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].key, "k2");
    free(a);
}

/* --- outcomes recorded late, from the spool (issue 20) --- */

static state_outcome late(const char *p, int64_t run_id, state_status status, int64_t at) {
    state_outcome o = {.pipeline = p, .strategy = "s", .run_id = run_id, .status = status,
                       .started_at = T0, .finished_at = at, .worker = "w",
                       .message = "late", .error = "", .log = "line 1"};
    o.stats.rows_inserted = 7;
    return o;
}

/* A run recorded `lost` (one failure counted) whose real outcome arrives:
 * a success clears the failure, a failure is not counted twice, and a
 * second copy of the same outcome changes nothing. */
static void test_late_outcome_corrects_lost(void **ctx) {
    state *st = *ctx;
    st_error err;
    bool applied;
    const char *ps[] = {"ok", "bad"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(state_mark_running(st, ps[i], "s", 5, T0, "w", &err), ST_OK);
        finish(st, ps[i], "s", 5, STATE_LOST, T0, T0 + MIN, "", "Worker lost");
        assert_int_equal(get_ok(st, ps[i], "s").retry_count, 1);
    }
    state_outcome o = late("ok", 5, STATE_SUCCESS, T0 + 1);
    assert_int_equal(state_record_late(st, &o, &applied, &err), ST_OK);
    assert_true(applied);
    state_record got = get_ok(st, "ok", "s");
    assert_int_equal(got.status, STATE_SUCCESS);
    assert_int_equal(got.retry_count, 0);
    assert_true(got.last_run == T0);
    o = late("bad", 5, STATE_FAILED, T0 + 1);
    assert_int_equal(state_record_late(st, &o, &applied, &err), ST_OK);
    got = get_ok(st, "bad", "s");
    assert_int_equal(got.status, STATE_FAILED);
    assert_int_equal(got.retry_count, 1);
    assert_int_equal(state_record_late(st, &o, &applied, &err), ST_OK);
    assert_false(applied);
    assert_int_equal(get_ok(st, "bad", "s").retry_count, 1);
}

/* A newer run owns the record: the late outcome only adds history. */
static void test_late_outcome_keeps_newer_run(void **ctx) {
    state *st = *ctx;
    st_error err;
    bool applied;
    assert_int_equal(state_mark_running(st, "p", "s", 5, T0, "w", &err), ST_OK);
    assert_int_equal(state_mark_running(st, "p", "s", 6, T0 + MIN, "w", &err), ST_OK);
    state_outcome o = late("p", 5, STATE_SUCCESS, T0 + 2);
    assert_int_equal(state_record_late(st, &o, &applied, &err), ST_OK);
    assert_true(applied);
    state_record got = get_ok(st, "p", "s");
    assert_int_equal(got.status, STATE_RUNNING);
    assert_int_equal(got.run_id, 6);
    state_history_entry *h;
    size_t n;
    assert_int_equal(state_history(st, "p", "s", 10, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].run_id, 5);
    assert_int_equal(h[0].status, STATE_SUCCESS);
    assert_true(h[0].stats.rows_inserted == 7);
    free(h);
}

/* The spool: written by one process, replayed by the next state_open of the
 * same URL; a file of another store is left alone; no password on disk. */
static void test_spool_write_and_replay(void **ctx) {
    state *st = *ctx;
    st_error err;
    char dir[] = "/tmp/synctool-spool-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("SYNCTOOL_SPOOL_DIR", dir, 1);
    assert_int_equal(state_mark_running(st, "p", "s", 9, T0, "w", &err), ST_OK);
    state_outcome o = late("p", 9, STATE_SUCCESS, T0 + 3);
    backend_url spool_url, other_url, bare_url;
    assert_int_equal(burl_parse(&spool_url, "redis://u:pa%2Fss@h:1/0", &err), ST_OK);
    assert_int_equal(burl_parse(&other_url, "redis://other:1/0", &err), ST_OK);
    assert_int_equal(burl_parse(&bare_url, "redis://h:1/0", &err), ST_OK);
    char where[1200];
    assert_int_equal(state_spool_write(&spool_url, &o, where, sizeof where, &err),
                     ST_OK);
    FILE *f = fopen(where, "r");
    assert_non_null(f);
    char text[4096];
    size_t k = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[k] = '\0';
    assert_null(strstr(text, "pa%2Fss"));
    assert_null(strstr(text, "pa/ss"));
    assert_null(strstr(text, "u:"));
    assert_non_null(strstr(text, "\"redis://h:1/0\""));
    int count = -1;
    assert_int_equal(state_spool_replay(st, &other_url, &count, &err), ST_OK);
    assert_int_equal(count, 0);
    assert_int_equal(get_ok(st, "p", "s").status, STATE_RUNNING);
    assert_int_equal(state_spool_replay(st, &spool_url, &count, &err), ST_OK);
    assert_int_equal(count, 1);
    assert_int_equal(get_ok(st, "p", "s").status, STATE_SUCCESS);
    assert_int_equal(access(where, F_OK), -1);
    assert_int_equal(state_spool_replay(st, &bare_url, &count, &err), ST_OK);
    assert_int_equal(count, 0);
    unsetenv("SYNCTOOL_SPOOL_DIR");
    assert_int_equal(rmdir(dir), 0);
}

/* --- copying a whole store (state migrate, issue 24) --- */

typedef struct runs_seen {
    int64_t ids[16];
    char logs[16][32];
    size_t n;
} runs_seen;

static int see_run(void *ud, const state_run *r) {
    runs_seen *s = ud;
    if (s->n < 16) {
        s->ids[s->n] = r->entry.run_id;
        snprintf(s->logs[s->n], sizeof s->logs[0], "%s:%s %s", r->pipeline, r->strategy,
                 r->log ? r->log : "-");
        s->n++;
    }
    return 0;
}

/* history_each lists every pair's entries oldest first with their logs;
 * history_put appends an entry as given (newest in history(), its log
 * found by run id, later run ids stay ahead); meta_list lists every key. */
static void test_copy_ops_history_and_meta(void **ctx) {
    state *st = *ctx;
    finish_log(st, "a", "s", 1, STATE_FAILED, T0, "one\n");
    finish_log(st, "b", "s", 2, STATE_SUCCESS, T0 + MIN, NULL);
    finish_log(st, "a", "s", 3, STATE_SUCCESS, T0 + 2 * MIN, "three\n");
    runs_seen seen = {0};
    assert_int_equal(state_history_each(st, see_run, &seen, NULL), ST_OK);
    assert_int_equal(seen.n, 3);
    assert_true(seen.ids[0] == 1 && seen.ids[1] == 2 && seen.ids[2] == 3);
    assert_string_equal(seen.logs[0], "a:s one\n");
    assert_string_equal(seen.logs[1], "b:s -");
    state_run in = {.pipeline = "c", .strategy = "d", .log = "imported\n"};
    in.entry.run_id = 500;
    in.entry.status = STATE_FAILED;
    in.entry.retry_count = 4;
    in.entry.started_at = T0 + 3 * MIN;
    in.entry.finished_at = T0 + 4 * MIN;
    in.entry.stats.rows_read = 9;
    snprintf(in.entry.error, sizeof in.entry.error, "boom");
    assert_int_equal(state_history_put(st, &in, NULL), ST_OK);
    state_history_entry *h;
    size_t n;
    assert_int_equal(state_history(st, "c", "d", 10, &h, &n, NULL), ST_OK);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].retry_count, 4);
    assert_int_equal(h[0].stats.rows_read, 9);
    assert_string_equal(h[0].error, "boom");
    free(h);
    state_run r;
    assert_int_equal(state_run_get(st, 500, &r, NULL), ST_OK);
    assert_string_equal(r.log, "imported\n");
    state_run_clear(&r);
    st_error err;
    assert_int_equal(state_get(st, "c", "d", &(state_record){0}, &err), ST_ENOTFOUND);
    int64_t id;
    assert_int_equal(state_new_run_id(st, &id, NULL), ST_OK);
    assert_true(id > 500);
    assert_int_equal(state_meta_put(st, "b", "s", "watermark", "w1", NULL), ST_OK);
    assert_int_equal(state_meta_put(st, "a", "s", "why", "{\"x\":1}", NULL), ST_OK);
    assert_int_equal(state_meta_put(st, "synctool:scheduler", "-", "leader", "h1", NULL), ST_OK);
    state_meta *m;
    assert_int_equal(state_meta_list(st, &m, &n, NULL), ST_OK);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].pipeline, "a");
    assert_string_equal(m[0].value, "{\"x\":1}");
    assert_string_equal(m[1].key, "watermark");
    assert_string_equal(m[2].pipeline, "synctool:scheduler");
    assert_string_equal(m[2].strategy, "-");
    state_meta_list_free(m, n);
}

static const struct CMUnitTest state_cases[] = {
    STATE_CASE(test_put_get_roundtrip),
    STATE_CASE(test_get_missing_is_notfound),
    STATE_CASE(test_pending_sets_exactly),
    STATE_CASE(test_pending_without_state_creates_it),
    STATE_CASE(test_running_sets_exactly),
    STATE_CASE(test_success_sets_exactly),
    STATE_CASE(test_failed_increments_retry),
    STATE_CASE(test_manual_failure_keeps_retry),
    STATE_CASE(test_skipped_sets_attempted_only),
    STATE_CASE(test_interrupted_and_lost_recorded),
    STATE_CASE(test_finished_rejects_non_final_status),
    STATE_CASE(test_stale_run_id_refused),
    STATE_CASE(test_new_run_id_strictly_increasing),
    STATE_CASE(test_history_bounded_newest_first),
    STATE_CASE(test_run_log_kept_with_history),
    STATE_CASE(test_prune_by_age_and_count),
    STATE_CASE(test_reset_clears_failure),
    STATE_CASE(test_list_sorted_and_put_many),
    STATE_CASE(test_listing_matches_list),
    STATE_CASE(test_put_rejects_bad_record),
    STATE_CASE(test_meta_get_put),
    STATE_CASE(test_meta_get_many),
    STATE_CASE(test_corrupt_status_reported_per_record),
    STATE_CASE(test_corrupt_timestamp_reported),
    STATE_CASE(test_two_processes_lose_no_update),
    STATE_CASE(test_pause_is_kept_by_every_transition),
    STATE_CASE(test_finished_runs_add_to_counters),
    STATE_CASE(test_heartbeats_listed_by_name),
    STATE_CASE(test_outbox_add_list_update_prune),
    STATE_CASE(test_late_outcome_corrects_lost),
    STATE_CASE(test_late_outcome_keeps_newer_run),
    STATE_CASE(test_spool_write_and_replay),
    STATE_CASE(test_copy_ops_history_and_meta),
};

#endif
