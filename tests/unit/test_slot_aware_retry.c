/*
 * test_slot_aware_retry — slot-aware retry of skipped runs (DESIGN §3 rules
 * 5-7; spec TEST_LOCK_AND_RETRY.md, test_slot_aware_retry).
 *
 * Every case is a fixed instant, a hand-built state record and a real
 * compiled cron; the full reason string is asserted, since reasons are an
 * interface. Settings are the spec's: max_retry_count 3, fallback window
 * 30 min, buffer 60 s. Backoff is clamp(slot / 2, 30 s, 300 s).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "support/sched_fixture.h"

static void expect(const sched_decision *d, bool run, const char *reason) {
    assert_string_equal(d->reason, reason);
    assert_int_equal(d->run, run);
}

/* Skipped at 10:01 in the 10:00 slot of an hourly job: at 10:06 the 300 s
 * backoff has passed, one second earlier it has not. */
static void test_skipped_job_retry_within_slot(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:10Z", "2025-10-15T10:01:00Z", 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:06:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 300s ago, "
                     "3240s until next slot)");
    assert_int_equal(d.backoff_s, 300);
    assert_true(d.prev == schedt_at("2025-10-15T10:00:00Z"));
    assert_true(d.next == schedt_at("2025-10-15T11:00:00Z"));
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:05:59Z");
    expect(&d, false, "Recently skipped, retry in 1s (within current slot)");
}

static void test_skipped_job_too_soon_to_retry(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:10Z", "2025-10-15T10:01:00Z", 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:03:00Z");
    expect(&d, false, "Recently skipped, retry in 180s (within current slot)");
}

/* The 11:00 slot has begun: the 10:00 retry is abandoned and the new slot
 * starts fresh (rule 7; the Python original waited instead). */
static void test_skipped_job_new_slot_abandons_retry(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:10Z", "2025-10-15T10:01:00Z", 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T11:01:00Z");
    expect(&d, true, "Moved to new schedule slot, abandoning old retry; "
                     "Due to run (last scheduled: 2025-10-15T11:00:00Z, gap: 60s)");
    /* Later in the new slot, the catch-up rule still carries the prefix. */
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T11:20:00Z");
    expect(&d, true, "Moved to new schedule slot, abandoning old retry; "
                     "Overdue (gap: 1200s, last success: 8400s ago)");
    /* A success in between (last_run 10:30) makes the late check not due. */
    st.last_run = schedt_at("2025-10-15T10:30:00Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T11:20:00Z");
    expect(&d, false, "Moved to new schedule slot, abandoning old retry; "
                      "Not due yet (gap: 1200s, buffer: 60s)");
}

static void test_failed_job_no_automatic_retry(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_FAILED, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:10Z", "2025-10-15T10:01:00Z", 1);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:06:00Z");
    expect(&d, false, "Job failed on last attempt, waiting for next regular schedule");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:59:59Z");
    expect(&d, false, "Job failed on last attempt, waiting for next regular schedule");
    /* The next regular slot runs it as usual, without the rule 7 prefix. */
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T11:00:00Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T11:00:00Z, gap: 0s)");
}

static void test_daily_job_skipped_retries_all_day(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-14T02:00:30Z",
                                   "2025-10-15T02:00:10Z", "2025-10-15T02:25:00Z", 0);
    schedt_decide(&d, &st, "0 2 * * *", "2025-10-15T02:30:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 300s ago, "
                     "84600s until next slot)");
    assert_int_equal(d.backoff_s, 300);
    /* Late in the evening, still the same 24-hour slot. */
    st.last_attempted_at = schedt_at("2025-10-15T23:50:00Z");
    schedt_decide(&d, &st, "0 2 * * *", "2025-10-15T23:55:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 300s ago, "
                     "7500s until next slot)");
    schedt_decide(&d, &st, "0 2 * * *", "2025-10-15T23:54:00Z");
    expect(&d, false, "Recently skipped, retry in 60s (within current slot)");
}

/* Every 2 minutes: slot 120 s, backoff 60 s (half the interval). */
static void test_frequent_job_adaptive_backoff(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:58:00Z",
                                   "2025-10-15T10:00:05Z", "2025-10-15T10:00:10Z", 0);
    schedt_decide(&d, &st, "*/2 * * * *", "2025-10-15T10:01:10Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 60s ago, "
                     "50s until next slot)");
    assert_int_equal(d.backoff_s, 60);
    schedt_decide(&d, &st, "*/2 * * * *", "2025-10-15T10:01:09Z");
    expect(&d, false, "Recently skipped, retry in 1s (within current slot)");
}

/* Every 15 minutes: half the slot is 450 s, capped at 300 s. */
static void test_fifteen_minute_job_capped_backoff(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:45:00Z",
                                   "2025-10-15T10:00:10Z", "2025-10-15T10:01:00Z", 0);
    schedt_decide(&d, &st, "*/15 * * * *", "2025-10-15T10:06:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 300s ago, "
                     "540s until next slot)");
    assert_int_equal(d.backoff_s, 300);
    schedt_decide(&d, &st, "*/15 * * * *", "2025-10-15T10:05:59Z");
    expect(&d, false, "Recently skipped, retry in 1s (within current slot)");
}

static void test_skipped_job_no_last_attempted_at(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:10Z", NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:06:00Z");
    expect(&d, true, "Retrying skipped job within current slot");
}

/* Weekly (Sunday 00:00): a skip on Sunday is retried on Monday. */
static void test_weekly_job_skipped_long_slot(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-12T00:00:30Z",
                                   "2025-10-19T00:00:05Z", "2025-10-19T00:05:00Z", 0);
    schedt_decide(&d, &st, "0 0 * * 0", "2025-10-20T10:00:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 122100s ago, "
                     "482400s until next slot)");
    assert_int_equal(d.backoff_s, 300);
    assert_true(d.prev == schedt_at("2025-10-19T00:00:00Z"));
    assert_true(d.next == schedt_at("2025-10-26T00:00:00Z"));
}

static void test_success_status_normal_scheduling(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T09:00:30Z", NULL, NULL, 0);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:30Z");
    expect(&d, true, "Due to run (last scheduled: 2025-10-15T10:00:00Z, gap: 30s)");
}

/* DESIGN §3: interrupted is treated like skipped (retried inside its slot,
 * whatever retry_count says), lost like failed (waits for the next slot,
 * pauses at max_retry_count). */
static void test_interrupted_retries_in_slot_and_lost_waits_like_failed(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_INTERRUPTED, "2025-10-15T09:00:00Z",
                                   "2025-10-15T10:00:10Z", "2025-10-15T10:01:00Z", 2);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:06:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 300s ago, "
                     "3240s until next slot)");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:03:00Z");
    expect(&d, false, "Recently skipped, retry in 180s (within current slot)");
    st.retry_count = 3; /* interrupts never pause */
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:06:00Z");
    assert_true(d.run);
    st.status = STATE_LOST;
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:06:00Z");
    expect(&d, false, "Max retry count (3) exceeded for failed job");
    st.retry_count = 1;
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:06:00Z");
    expect(&d, false, "Job failed on last attempt, waiting for next regular schedule");
}

static void test_failed_job_max_retry_exceeded(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_FAILED, "2025-10-15T09:00:00Z", NULL, NULL, 3);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T10:00:30Z");
    expect(&d, false, "Max retry count (3) exceeded for failed job");
    /* Paused: later slots do not run it either. */
    st.last_attempted_at = schedt_at("2025-10-15T10:00:00Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-16T12:00:00Z");
    expect(&d, false, "Max retry count (3) exceeded for failed job");
    /* A skipped run with a high count is not paused: skips never count. */
    st.status = STATE_SKIPPED;
    st.last_scheduled_at = schedt_at("2025-10-16T12:00:00Z");
    st.last_attempted_at = schedt_at("2025-10-16T12:00:00Z");
    schedt_decide(&d, &st, "0 * * * *", "2025-10-16T12:05:00Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 300s ago, "
                     "3300s until next slot)");
}

/* Every minute: half the slot is exactly the 30 s minimum. */
static void test_minimum_backoff_30_seconds(void **s) {
    (void)s;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:59:05Z",
                                   "2025-10-15T10:00:02Z", "2025-10-15T10:00:05Z", 0);
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:00:40Z");
    expect(&d, true, "Retrying skipped job within current slot (skipped 35s ago, "
                     "20s until next slot)");
    assert_int_equal(d.backoff_s, 30);
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:00:34Z");
    expect(&d, false, "Recently skipped, retry in 1s (within current slot)");
}

/* 2 min, 5 min, 15 min, hourly, daily, weekly: 60, 150, 300, 300, 300, 300;
 * an irregular cron takes the slot around `now`. */
static void test_backoff_by_cron_frequency(void **s) {
    (void)s;
    static const struct {
        const char *cron;
        int64_t backoff;
    } cases[] = {
        {"* * * * *", 30},  {"*/2 * * * *", 60}, {"*/5 * * * *", 150},
        {"*/15 * * * *", 300}, {"0 * * * *", 300}, {"0 2 * * *", 300},
        {"0 0 * * 0", 300}, {"0,2,10 * * * *", 240},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sched_decision d;
        state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T10:00:00Z", NULL, NULL, 0);
        schedt_decide(&d, &st, cases[i].cron, "2025-10-15T10:05:00Z");
        assert_int_equal(d.backoff_s, cases[i].backoff);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skipped_job_retry_within_slot),
        cmocka_unit_test(test_skipped_job_too_soon_to_retry),
        cmocka_unit_test(test_skipped_job_new_slot_abandons_retry),
        cmocka_unit_test(test_failed_job_no_automatic_retry),
        cmocka_unit_test(test_daily_job_skipped_retries_all_day),
        cmocka_unit_test(test_frequent_job_adaptive_backoff),
        cmocka_unit_test(test_fifteen_minute_job_capped_backoff),
        cmocka_unit_test(test_skipped_job_no_last_attempted_at),
        cmocka_unit_test(test_weekly_job_skipped_long_slot),
        cmocka_unit_test(test_success_status_normal_scheduling),
        cmocka_unit_test(test_failed_job_max_retry_exceeded),
        cmocka_unit_test(test_interrupted_retries_in_slot_and_lost_waits_like_failed),
        cmocka_unit_test(test_minimum_backoff_30_seconds),
        cmocka_unit_test(test_backoff_by_cron_frequency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
