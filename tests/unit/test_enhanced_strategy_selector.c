/*
 * test_enhanced_strategy_selector — the whole §3 decision (rules 1-12),
 * strategy selection and can_enqueue (spec TEST_LOCK_AND_RETRY.md,
 * test_enhanced_strategy_selector).
 *
 * Fixed instants, hand-built state records, real crons; every reason string
 * of DESIGN §3 appears here verbatim. Settings: max_retry_count 3, fallback
 * window 30 min, buffer 60 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "support/sched_fixture.h"
#include "../../src/time/st_time.h"

static void expect(const sched_decision *d, bool run, const char *reason) {
    assert_string_equal(d->reason, reason);
    assert_int_equal(d->run, run);
}

/* --- rule 8: no state / never succeeded --- */

static void test_missing_state_within_fallback_window(void **s) {
    (void)s;
    sched_decision d;
    schedt_decide(&d, NULL, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, true, "First run or missing state \xe2\x80\x94 within 300s of schedule slot");
    schedt_decide(&d, NULL, "0 * * * *", "2025-10-15T10:30:00Z");
    expect(&d, true, "First run or missing state \xe2\x80\x94 within 1800s of schedule slot");
}

static void test_missing_state_outside_fallback_window(void **s) {
    (void)s;
    sched_decision d;
    schedt_decide(&d, NULL, "0 * * * *", "2025-10-15T10:45:00Z");
    expect(&d, false, "State missing and outside fallback window (gap: 2700s)");
    schedt_decide(&d, NULL, "0 * * * *", "2025-10-15T10:30:01Z");
    expect(&d, false, "State missing and outside fallback window (gap: 1801s)");
}

/* An idle record with no timestamps is exactly "no state". */
static void test_state_exists_no_last_run_within_window(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_IDLE, NULL, NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, true, "First run or missing state \xe2\x80\x94 within 300s of schedule slot");
    /* Never succeeded but already enqueued in this slot. */
    st.last_scheduled_at = schedt_at("2025-10-15T10:00:30Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, false, "Already scheduled at 2025-10-15T10:00:30Z");
    /* A skip in an earlier slot of a never-successful job: rule 7 then 8. */
    st = schedt_state(STATE_SKIPPED, NULL, "2025-10-15T09:00:10Z", "2025-10-15T09:00:20Z", 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, true, "Moved to new schedule slot, abandoning old retry; "
                     "First run or missing state \xe2\x80\x94 within 300s of schedule slot");
}

/* --- rules 2-5 --- */

static void test_max_retry_count_exceeded(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_FAILED, "2025-10-15T09:00:00Z", NULL, NULL, 3);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, false, "Max retry count (3) exceeded for failed job");
    st.retry_count = 7;
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, false, "Max retry count (3) exceeded for failed job");
}

static void test_strategy_already_running(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_RUNNING, "2025-10-15T09:00:00Z",
                                   "2025-10-15T08:00:00Z", "2025-10-15T08:00:01Z", 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, false, "Strategy is already running");
}

static void test_retry_count_below_max_failed_status(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_FAILED, "2025-10-15T09:00:00Z", NULL, NULL, 2);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:30Z");
    expect(&d, false, "Job failed on last attempt, waiting for next regular schedule");
    /* Attempted in the 10:00 slot: the 11:00 slot runs it. */
    st.last_attempted_at = schedt_at("2025-10-15T10:00:05Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T11:00:30Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T11:00:00Z, gap: 30s)");
}

/* --- rule 4 and the lost hand-off --- */

static void test_pending_under_300s_not_rescheduled(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_PENDING, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:00Z", NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:04:59Z");
    expect(&d, false, "Already scheduled at 2025-10-15T10:00:00Z (pending for 299s)");
    /* Fresh pending wins even when a new slot has begun meanwhile. */
    st = schedt_state(STATE_PENDING, "2025-10-15T09:00:00Z", "2025-10-15T09:59:50Z", NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:10Z");
    expect(&d, false, "Already scheduled at 2025-10-15T09:59:50Z (pending for 20s)");
}

static void test_pending_over_300s_lost_handoff_retried(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_PENDING, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:00Z", NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, true, "Retrying skipped job within current slot");
    /* With an older attempt on record, the backoff arithmetic applies. */
    st.last_attempted_at = schedt_at("2025-10-15T09:00:01Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 3899s ago, "
                     "3300s until next slot)");
    /* Lost in an earlier slot: the new slot starts fresh. */
    st = schedt_state(STATE_PENDING, "2025-10-15T08:00:00Z", "2025-10-15T09:00:00Z", NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:30Z");
    expect(&d, true, "Moved to new schedule slot, abandoning old retry; "
                     "Due to run (last scheduled: 2025-10-15T10:00:00Z, gap: 30s)");
}

/* --- rules 9-12 --- */

static void test_already_ran_for_schedule_slot(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T10:01:00Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, false,
           "Already ran at 2025-10-15T10:01:00Z, last scheduled was 2025-10-15T10:00:00Z");
    /* prev is inclusive: a run starting exactly at the fire time counts. */
    st.last_run = schedt_at("2025-10-15T10:00:00Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:00Z");
    expect(&d, false,
           "Already ran at 2025-10-15T10:00:00Z, last scheduled was 2025-10-15T10:00:00Z");
}

static void test_already_scheduled_for_slot(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_PENDING, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:02:00Z", NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, false, "Already scheduled at 2025-10-15T10:02:00Z (pending for 180s)");
    /* Not pending any more (e.g. reset to idle), but enqueued this slot. */
    st.status = STATE_SUCCESS;
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:00Z");
    expect(&d, false, "Already scheduled at 2025-10-15T10:02:00Z");
}

static void test_due_to_run_within_buffer(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T09:00:00Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:30Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T10:00:00Z, gap: 30s)");
}

static void test_not_due_yet(void **s) {
    (void)s;
    sched_decision d;
    /* A manual run at 08:59 covers most of the 09:00 slot. */
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T08:59:00Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T09:30:00Z");
    expect(&d, false, "Not due yet (gap: 1800s, buffer: 60s)");
    /* The spec's variant: ran at 09:00:30 -> already ran in this slot. */
    st.last_run = schedt_at("2025-10-15T09:00:30Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T09:58:00Z");
    expect(&d, false,
           "Already ran at 2025-10-15T09:00:30Z, last scheduled was 2025-10-15T09:00:00Z");
}

/* One catch-up run however many slots were missed. */
static void test_overdue_catch_up(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T08:00:00Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:30:00Z");
    expect(&d, true, "Overdue (gap: 1800s, last success: 9000s ago)");
    st.last_run = schedt_at("2025-10-10T08:00:00Z"); /* days of missed slots */
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:30:00Z");
    expect(&d, true, "Overdue (gap: 1800s, last success: 441000s ago)");
    /* After that one run (enqueued 10:30, ran 10:30), nothing more this slot. */
    st.last_scheduled_at = schedt_at("2025-10-15T10:30:00Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:45:00Z");
    expect(&d, false, "Already scheduled at 2025-10-15T10:30:00Z");
    st.last_run = schedt_at("2025-10-15T10:30:00Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:45:00Z");
    expect(&d, false,
           "Already ran at 2025-10-15T10:30:00Z, last scheduled was 2025-10-15T10:00:00Z");
}

static void test_overdue_but_recently_ran(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T10:15:00Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:30:00Z");
    expect(&d, false,
           "Already ran at 2025-10-15T10:15:00Z, last scheduled was 2025-10-15T10:00:00Z");
    /* Ran at 09:45 (in the 09:00 slot): 45 min ago, less than the hour slot. */
    st.last_run = schedt_at("2025-10-15T09:45:00Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:30:00Z");
    expect(&d, false, "Not due yet (gap: 1800s, buffer: 60s)");
}

static void test_daily_cron_within_buffer(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-14T00:00:30Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 0 * * *", "2025-10-15T00:00:30Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T00:00:00Z, gap: 30s)");
}

static void test_frequent_cron_every_15_minutes(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T10:00:05Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "*/15 * * * *", "2025-10-15T10:15:10Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T10:15:00Z, gap: 10s)");
}

static void test_weekly_cron_schedule(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-12T00:00:30Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 0 * * 0", "2025-10-19T00:00:30Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-19T00:00:00Z, gap: 30s)");
}

/* Rule 1: the parse error is the reason; a cron that never fires too. */
static void test_invalid_cron_expression(void **s) {
    (void)s;
    sched_decision d;
    sched_settings set = schedt_settings();
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T09:00:00Z", NULL, NULL, 0);
    cron_expr *c = NULL;
    st_error err;
    assert_int_equal(cron_parse(&c, "invalid cron", NULL, &err), ST_EINVAL);
    assert_null(c);
    assert_true(err.msg[0] != '\0');
    char want[1100];
    snprintf(want, sizeof want, "Error: %s", err.msg);
    sched_should_run(&st, NULL, err.msg, schedt_at("2025-10-15T10:05:00Z"), &set, &d);
    expect(&d, false, want);
    assert_true(d.prev == ST_TIME_NONE && d.next == ST_TIME_NONE);
    assert_int_equal(d.backoff_s, 0);
    sched_should_run(&st, NULL, NULL, schedt_at("2025-10-15T10:05:00Z"), &set, &d);
    expect(&d, false, "Error: invalid cron expression");
    /* Feb 30 parses but never fires: no slot can be defined. */
    schedt_decide(&d, &st, "0 0 30 2 *", "2025-10-15T10:05:00Z");
    expect(&d, false, "Error: cron '0 0 30 2 *' has no fire time near 2025-10-15T10:05:00Z");
}

static void test_last_scheduled_at_outside_buffer(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T08:00:00Z",
                                   "2025-10-15T09:00:30Z", NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:30Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T10:00:00Z, gap: 30s)");
}

static void test_first_run_cron_just_passed(void **s) {
    (void)s;
    sched_decision d;
    schedt_decide(&d, NULL, "0 * * * *", "2025-10-15T10:00:05Z");
    expect(&d, true, "First run or missing state \xe2\x80\x94 within 5s of schedule slot");
    /* At the fire time itself the slot has begun (prev inclusive). */
    schedt_decide(&d, NULL, "0 * * * *", "2025-10-15T10:00:00Z");
    expect(&d, true, "First run or missing state \xe2\x80\x94 within 0s of schedule slot");
    assert_true(d.prev == schedt_at("2025-10-15T10:00:00Z"));
    assert_true(d.next == schedt_at("2025-10-15T11:00:00Z"));
}

static void test_exactly_at_schedule_buffer_limit(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T09:30:00Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:01:00Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T10:00:00Z, gap: 60s)");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:01:01Z");
    expect(&d, false, "Not due yet (gap: 61s, buffer: 60s)");
}

/* --- can_enqueue --- */

static bool enqueue(const state_record *st, const char *now, char *reason) {
    return sched_can_enqueue(st, schedt_at(now), reason, 128);
}

static void test_can_enqueue_no_state(void **s) {
    (void)s;
    char r[128];
    assert_true(enqueue(NULL, "2025-10-15T10:05:00Z", r));
    assert_string_equal(r, "No state, first run");
    state_record st = schedt_state(STATE_IDLE, NULL, NULL, NULL, 0);
    assert_true(enqueue(&st, "2025-10-15T10:05:00Z", r));
    assert_string_equal(r, "No state, first run");
}

static void test_cannot_enqueue_already_running(void **s) {
    (void)s;
    char r[128];
    state_record st = schedt_state(STATE_RUNNING, "2025-10-15T09:00:00Z", NULL, NULL, 0);
    assert_false(enqueue(&st, "2025-10-15T10:05:00Z", r));
    assert_string_equal(r, "Already running");
}

static void test_cannot_enqueue_recently_pending(void **s) {
    (void)s;
    char r[128];
    state_record st = schedt_state(STATE_PENDING, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:03:00Z", NULL, 0);
    assert_false(enqueue(&st, "2025-10-15T10:05:00Z", r));
    assert_string_equal(r, "Already pending for 120s");
    assert_false(enqueue(&st, "2025-10-15T10:07:59Z", r));
    assert_string_equal(r, "Already pending for 299s");
}

static void test_can_enqueue_stuck_pending(void **s) {
    (void)s;
    char r[128];
    state_record st = schedt_state(STATE_PENDING, "2025-10-15T09:00:00Z",
                                   "2025-10-15T09:59:00Z", NULL, 0);
    assert_true(enqueue(&st, "2025-10-15T10:05:00Z", r));
    assert_string_equal(r, "Can enqueue");
    assert_true(enqueue(&st, "2025-10-15T10:04:00Z", r)); /* exactly 300 s */
    assert_string_equal(r, "Can enqueue");
}

static void test_can_enqueue_with_success_status(void **s) {
    (void)s;
    char r[128];
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T09:00:00Z", NULL, NULL, 0);
    assert_true(enqueue(&st, "2025-10-15T10:05:00Z", r));
    assert_string_equal(r, "Can enqueue");
    st.status = STATE_FAILED;
    assert_true(enqueue(&st, "2025-10-15T10:05:00Z", r));
    assert_string_equal(r, "Can enqueue");
}

/* --- selection --- */

/* delta every 15 min, hash daily, full weekly (config order), all firing at
 * Sunday 2025-10-19 00:00; each last succeeded one slot earlier. */
typedef struct {
    config_strategy strategies[3];
    config_pipeline p;
    cron_expr *crons[3];
    state_record states[3];
    sched_decision d[3];
} select_fixture;

static void select_setup(select_fixture *f) {
    schedt_strategy(&f->strategies[0], "delta_15m", "*/15 * * * *", true);
    schedt_strategy(&f->strategies[1], "hash_daily", "0 0 * * *", true);
    schedt_strategy(&f->strategies[2], "full_weekly", "0 0 * * 0", true);
    schedt_pipeline(&f->p, f->strategies, 3);
    for (int i = 0; i < 3; i++) f->crons[i] = schedt_cron(f->strategies[i].cron, NULL);
    f->states[0] = schedt_state(STATE_SUCCESS, "2025-10-18T23:45:00Z", NULL, NULL, 0);
    f->states[1] = schedt_state(STATE_SUCCESS, "2025-10-18T00:00:00Z", NULL, NULL, 0);
    f->states[2] = schedt_state(STATE_SUCCESS, "2025-10-12T00:00:00Z", NULL, NULL, 0);
}

static int select_at(select_fixture *f, const char *now) {
    const cron_expr *crons[3] = {f->crons[0], f->crons[1], f->crons[2]};
    const state_record *states[3] = {&f->states[0], &f->states[1], &f->states[2]};
    return sched_select(&f->p, crons, states, schedt_at(now), f->d);
}

static void select_teardown(select_fixture *f) {
    for (int i = 0; i < 3; i++) cron_free(f->crons[i]);
}

static void test_select_longest_slot_wins(void **s) {
    (void)s;
    select_fixture f;
    select_setup(&f);
    assert_int_equal(select_at(&f, "2025-10-19T00:00:30Z"), 2); /* weekly full */
    for (int i = 0; i < 3; i++) assert_true(f.d[i].run);
    f.states[2].last_run = schedt_at("2025-10-19T00:00:10Z");
    assert_int_equal(select_at(&f, "2025-10-19T00:00:30Z"), 1); /* daily hash */
    expect(&f.d[2], false,
           "Already ran at 2025-10-19T00:00:10Z, last scheduled was 2025-10-19T00:00:00Z");
    f.states[1].last_run = schedt_at("2025-10-19T00:00:10Z");
    assert_int_equal(select_at(&f, "2025-10-19T00:00:30Z"), 0); /* 15-min delta */
    expect(&f.d[0], true, "Due to run (last scheduled: 2025-10-19T00:00:00Z, gap: 30s)");
    select_teardown(&f);
}

static void test_select_none_due(void **s) {
    (void)s;
    select_fixture f;
    select_setup(&f);
    f.states[0].last_run = schedt_at("2025-10-19T00:00:10Z");
    f.states[1].last_run = schedt_at("2025-10-19T00:00:10Z");
    f.states[2].last_run = schedt_at("2025-10-19T00:00:10Z");
    assert_int_equal(select_at(&f, "2025-10-19T00:10:00Z"), -1);
    for (int i = 0; i < 3; i++) assert_false(f.d[i].run);
    select_teardown(&f);
}

static void test_select_ties_by_config_order(void **s) {
    (void)s;
    config_strategy cs[3];
    config_pipeline p;
    schedt_strategy(&cs[0], "a", "*/15 * * * *", true);
    schedt_strategy(&cs[1], "b", "0 * * * *", true);
    schedt_strategy(&cs[2], "c", "0 */1 * * *", true);
    schedt_pipeline(&p, cs, 3);
    sched_decision d[3];
    /* No states: all three inside the fallback window; b and c tie (hourly). */
    assert_int_equal(sched_select(&p, NULL, NULL, schedt_at("2025-10-15T10:00:30Z"), d), 1);
    /* Swap b and c in the config: the first hourly one still wins. */
    schedt_strategy(&cs[1], "c", "0 */1 * * *", true);
    schedt_strategy(&cs[2], "b", "0 * * * *", true);
    assert_int_equal(sched_select(&p, NULL, NULL, schedt_at("2025-10-15T10:00:30Z"), d), 1);
    assert_string_equal(p.strategies[1].name, "c");
    for (int i = 0; i < 3; i++) assert_true(d[i].run);
}

static void test_select_disabled_never_selected(void **s) {
    (void)s;
    select_fixture f;
    select_setup(&f);
    f.strategies[2].enabled = false;
    assert_int_equal(select_at(&f, "2025-10-19T00:00:30Z"), 1);
    expect(&f.d[2], false, "Strategy is disabled");
    assert_true(f.d[2].prev == schedt_at("2025-10-19T00:00:00Z")); /* slot still shown */
    /* Every strategy disabled: nothing is selected. */
    f.strategies[0].enabled = f.strategies[1].enabled = false;
    assert_int_equal(select_at(&f, "2025-10-19T00:00:30Z"), -1);
    expect(&f.d[0], false, "Strategy is disabled");
    select_teardown(&f);
}

static void test_select_without_cron_never_selected(void **s) {
    (void)s;
    config_strategy cs[2];
    config_pipeline p;
    schedt_strategy(&cs[0], "manual_full", NULL, true);
    schedt_strategy(&cs[1], "delta", "*/15 * * * *", true);
    schedt_pipeline(&p, cs, 2);
    sched_decision d[2];
    assert_int_equal(sched_select(&p, NULL, NULL, schedt_at("2025-10-15T10:00:30Z"), d), 1);
    expect(&d[0], false, "Strategy has no cron schedule");
    assert_true(d[0].prev == ST_TIME_NONE);
    cs[1].cron = (char *)"";
    assert_int_equal(sched_select(&p, NULL, NULL, schedt_at("2025-10-15T10:00:30Z"), d), -1);
    expect(&d[1], false, "Strategy has no cron schedule");
}

/* Without compiled crons sched_select compiles them; an invalid one reports
 * its parse error (rule 1) and is never selected. */
static void test_select_invalid_cron_reports_error(void **s) {
    (void)s;
    config_strategy cs[2];
    config_pipeline p;
    schedt_strategy(&cs[0], "broken", "61 * * * *", true);
    schedt_strategy(&cs[1], "hourly", "0 * * * *", true);
    schedt_pipeline(&p, cs, 2);
    sched_decision d[2];
    assert_int_equal(sched_select(&p, NULL, NULL, schedt_at("2025-10-15T10:00:30Z"), d), 1);
    cron_expr *c = NULL;
    st_error err;
    assert_int_equal(cron_parse(&c, "61 * * * *", NULL, &err), ST_EINVAL);
    char want[1100];
    snprintf(want, sizeof want, "Error: %s", err.msg);
    expect(&d[0], false, want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_state_within_fallback_window),
        cmocka_unit_test(test_missing_state_outside_fallback_window),
        cmocka_unit_test(test_state_exists_no_last_run_within_window),
        cmocka_unit_test(test_max_retry_count_exceeded),
        cmocka_unit_test(test_strategy_already_running),
        cmocka_unit_test(test_retry_count_below_max_failed_status),
        cmocka_unit_test(test_pending_under_300s_not_rescheduled),
        cmocka_unit_test(test_pending_over_300s_lost_handoff_retried),
        cmocka_unit_test(test_already_ran_for_schedule_slot),
        cmocka_unit_test(test_already_scheduled_for_slot),
        cmocka_unit_test(test_due_to_run_within_buffer),
        cmocka_unit_test(test_not_due_yet),
        cmocka_unit_test(test_overdue_catch_up),
        cmocka_unit_test(test_overdue_but_recently_ran),
        cmocka_unit_test(test_daily_cron_within_buffer),
        cmocka_unit_test(test_frequent_cron_every_15_minutes),
        cmocka_unit_test(test_weekly_cron_schedule),
        cmocka_unit_test(test_invalid_cron_expression),
        cmocka_unit_test(test_last_scheduled_at_outside_buffer),
        cmocka_unit_test(test_first_run_cron_just_passed),
        cmocka_unit_test(test_exactly_at_schedule_buffer_limit),
        cmocka_unit_test(test_can_enqueue_no_state),
        cmocka_unit_test(test_cannot_enqueue_already_running),
        cmocka_unit_test(test_cannot_enqueue_recently_pending),
        cmocka_unit_test(test_can_enqueue_stuck_pending),
        cmocka_unit_test(test_can_enqueue_with_success_status),
        cmocka_unit_test(test_select_longest_slot_wins),
        cmocka_unit_test(test_select_none_due),
        cmocka_unit_test(test_select_ties_by_config_order),
        cmocka_unit_test(test_select_disabled_never_selected),
        cmocka_unit_test(test_select_without_cron_never_selected),
        cmocka_unit_test(test_select_invalid_cron_reports_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
