/*
 * test_sched_pause_window — the pause policy for frequent strategies
 * (issue 21 item 7; DESIGN §3 rule 2 is silent on slot length).
 *
 * DESIGN pauses a strategy after max_retry_count consecutive failures. A
 * strategy whose slot is shorter than retry.pause_window (default 1 h) pauses
 * only after failing in ceil(pause_window / slot) consecutive slots (and at
 * least max_retry_count), i.e. after failing across a whole window, so a
 * 3-minute outage does not pause a per-minute strategy. Covered here: the
 * threshold (sched_pause_after), the decision's reason, the shared predicate
 * the API, /metrics and alerts use (sched_paused_by_failures), and two
 * minute-by-minute simulations: a 3-minute outage that recovers by itself,
 * and a persistent outage that pauses after exactly one window.
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

static sched_settings settings(int64_t max_retry, int64_t window_s) {
    sched_settings s = schedt_settings();
    s.max_retry_count = max_retry;
    s.pause_window_s = window_s;
    return s;
}

static void test_threshold_by_slot(void **unused) {
    (void)unused;
    sched_settings s = settings(3, 3600);
    assert_int_equal(sched_pause_after(&s, 60 * ST_USEC), 60);        /* * * * * * */
    assert_int_equal(sched_pause_after(&s, 5 * 60 * ST_USEC), 12);    /* every 5 min */
    assert_int_equal(sched_pause_after(&s, 15 * 60 * ST_USEC), 4);    /* every 15 min */
    assert_int_equal(sched_pause_after(&s, 25 * 60 * ST_USEC), 3);    /* ceil(2.4) < 3 */
    assert_int_equal(sched_pause_after(&s, 7 * 60 * ST_USEC), 9);     /* ceil(8.57) */
    assert_int_equal(sched_pause_after(&s, 3600 * ST_USEC), 3);       /* not shorter */
    assert_int_equal(sched_pause_after(&s, 86400 * ST_USEC), 3);
    assert_int_equal(sched_pause_after(&s, 0), 3);                    /* slot unknown */
    s = settings(100, 3600);
    assert_int_equal(sched_pause_after(&s, 60 * ST_USEC), 100);       /* at least max */
    s = settings(3, 0);                                               /* window off */
    assert_int_equal(sched_pause_after(&s, 60 * ST_USEC), 3);
}

/* The decision at 10:03 of a per-minute strategy that failed at 10:00, 10:01
 * and 10:02: DESIGN's count alone would pause it; the window runs it. */
static void test_per_minute_keeps_running_below_the_window(void **unused) {
    (void)unused;
    sched_decision d;
    state_record st = schedt_state(STATE_FAILED, "2025-10-15T09:59:00Z", "2025-10-15T10:02:00Z",
                                   "2025-10-15T10:02:00Z", 3);
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:03:00Z");
    assert_true(d.run);
    assert_string_equal(d.reason, "Due to run (last scheduled: 2025-10-15T10:03:00Z, gap: 0s)");
    /* inside the slot of its last failure it waits, as every failure does (rule 5) */
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:02:30Z");
    assert_false(d.run);
    assert_string_equal(d.reason, "Job failed on last attempt, waiting for next regular schedule");
    st.retry_count = 59;
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:03:00Z");
    assert_true(d.run);
    st.retry_count = 60;
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:03:00Z");
    assert_false(d.run);
    assert_string_equal(d.reason, "Max retry count (3) exceeded for failed job (failed in 60 "
                                  "consecutive slots, a whole pause_window of 3600s)");
    st.status = STATE_LOST; /* lost counts like failed */
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:03:00Z");
    assert_false(d.run);
}

/* An hourly (or longer) strategy pauses after max_retry_count as DESIGN says,
 * with DESIGN's reason verbatim. */
static void test_hourly_still_pauses_after_max_retry_count(void **unused) {
    (void)unused;
    sched_decision d;
    state_record st = schedt_state(STATE_FAILED, "2025-10-15T09:00:00Z", "2025-10-15T12:00:00Z",
                                   "2025-10-15T12:00:00Z", 3);
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T13:00:00Z");
    assert_false(d.run);
    assert_string_equal(d.reason, "Max retry count (3) exceeded for failed job");
    schedt_decide(&d, &st, "0 2 * * *", "2025-10-16T02:00:00Z");
    assert_string_equal(d.reason, "Max retry count (3) exceeded for failed job");
    st.retry_count = 2;
    schedt_decide(&d, &st, "0 * * * *", "2025-10-15T13:00:00Z");
    assert_true(d.run);
}

/* A skip never counts, whatever the slot. */
static void test_skips_never_pause(void **unused) {
    (void)unused;
    sched_decision d;
    state_record st = schedt_state(STATE_SKIPPED, "2025-10-15T09:00:00Z", "2025-10-15T10:02:00Z",
                                   "2025-10-15T10:02:00Z", 500);
    schedt_decide(&d, &st, "* * * * *", "2025-10-15T10:03:00Z");
    assert_true(d.run);
}

/* Minute-by-minute: what the scheduler and the job write for one attempt. */
static void attempt(state_record *st, int64_t now, bool fails) {
    st->last_scheduled_at = now;
    st->last_attempted_at = now;
    if (fails) {
        st->status = STATE_FAILED;
        st->retry_count++;
    } else {
        st->status = STATE_SUCCESS;
        st->last_run = now;
        st->retry_count = 0;
    }
}

/* Ticks every 30 s from `from` for `minutes`; the source is down in
 * [down_from, down_until). Returns the attempts made; *paused_at is the first
 * tick whose reason is a pause (ST_TIME_NONE if none). */
static int simulate(state_record *st, const char *from, int minutes, const char *down_from,
                    const char *down_until, int64_t *paused_at) {
    cron_expr *c = schedt_cron("* * * * *", NULL);
    sched_settings s = schedt_settings();
    int64_t t0 = schedt_at(from), d0 = schedt_at(down_from), d1 = schedt_at(down_until);
    int attempts = 0;
    *paused_at = ST_TIME_NONE;
    for (int64_t t = t0; t < t0 + (int64_t)minutes * 60 * ST_USEC; t += 30 * ST_USEC) {
        sched_decision d;
        sched_should_run(st, c, NULL, t, &s, &d);
        if (*paused_at == ST_TIME_NONE && strncmp(d.reason, "Max retry count", 15) == 0)
            *paused_at = t;
        if (d.run) {
            attempts++;
            attempt(st, t, t >= d0 && t < d1);
        }
    }
    cron_free(c);
    return attempts;
}

/* The case: a 3-minute outage of a per-minute strategy, then the
 * source is back; no reset needed, one attempt per minute throughout. */
static void test_three_minute_outage_recovers_without_reset(void **unused) {
    (void)unused;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T09:59:00Z", "2025-10-15T09:59:00Z",
                                   "2025-10-15T09:59:00Z", 0);
    int64_t paused;
    int n = simulate(&st, "2025-10-15T10:00:00Z", 10, "2025-10-15T10:00:00Z",
                     "2025-10-15T10:03:00Z", &paused);
    assert_int_equal(n, 10);
    assert_true(paused == ST_TIME_NONE);
    assert_int_equal(st.status, STATE_SUCCESS);
    assert_int_equal(st.retry_count, 0);
    assert_true(st.last_run == schedt_at("2025-10-15T10:09:00Z"));
}

/* A persistent outage: failures at 10:00 ... 10:59 (60 slots, a whole
 * window); paused from the next tick after the 60th failure (10:59:30)
 * and it stays paused. */
static void test_persistent_outage_pauses_after_the_window(void **unused) {
    (void)unused;
    state_record st = schedt_state(STATE_SUCCESS, "2025-10-15T09:59:00Z", "2025-10-15T09:59:00Z",
                                   "2025-10-15T09:59:00Z", 0);
    int64_t paused;
    int n = simulate(&st, "2025-10-15T10:00:00Z", 180, "2025-10-15T10:00:00Z",
                     "2025-10-15T23:00:00Z", &paused);
    assert_int_equal(n, 60);
    assert_true(paused == schedt_at("2025-10-15T10:59:30Z"));
    assert_int_equal(st.retry_count, 60);
}

/* The predicate every reader of state uses agrees with the decision. */
static void test_paused_by_failures_predicate(void **unused) {
    (void)unused;
    config_strategy cs[3];
    schedt_strategy(&cs[0], "minutely", "* * * * *", true);
    schedt_strategy(&cs[1], "hourly", "0 * * * *", true);
    schedt_strategy(&cs[2], "manual", NULL, true);
    config_pipeline p;
    schedt_pipeline(&p, cs, 3);
    int64_t now = schedt_at("2025-10-15T10:03:00Z");
    state_record st = schedt_state(STATE_FAILED, NULL, NULL, "2025-10-15T10:02:00Z", 3);
    assert_false(sched_paused_by_failures(&p, &cs[0], &st, now));
    assert_true(sched_paused_by_failures(&p, &cs[1], &st, now));
    assert_true(sched_paused_by_failures(&p, &cs[2], &st, now)); /* no cron: the plain count */
    assert_int_equal(sched_pause_after_strategy(&p, &cs[0], &st, now), 60);
    assert_int_equal(sched_pause_after_strategy(&p, &cs[1], &st, now), 3);
    assert_int_equal(sched_pause_after_strategy(&p, &cs[0], NULL, now), 60);
    st.retry_count = 60;
    assert_true(sched_paused_by_failures(&p, &cs[0], &st, now));
    st.status = STATE_SKIPPED;
    assert_false(sched_paused_by_failures(&p, &cs[1], &st, now));
    assert_false(sched_paused_by_failures(&p, &cs[1], NULL, now));
    p.retry.pause_window_seconds = 0; /* off: DESIGN's plain count for every strategy */
    st.status = STATE_FAILED;
    st.retry_count = 3;
    assert_true(sched_paused_by_failures(&p, &cs[0], &st, now));
    /* an invalid cron cannot define a slot: the plain count */
    p.retry.pause_window_seconds = 3600;
    schedt_strategy(&cs[0], "broken", "61 * * * *", true);
    assert_int_equal(sched_pause_after_strategy(&p, &cs[0], &st, now), 3);
}

/* An irregular cron: slots of 15 min by day, 15 h 15 min overnight. The
 * threshold is judged by the slot of the last failed attempt, so a pause taken
 * on the overnight slot does not lift itself at 09:00, and a day failure is
 * judged by the day's short slot. The predicate agrees at every instant. */
static void test_irregular_cron_judged_by_the_failed_slot(void **unused) {
    (void)unused;
    const char *cron = "*/15 9-17 * * *";
    config_strategy cs;
    schedt_strategy(&cs, "office", cron, true);
    config_pipeline p;
    schedt_pipeline(&p, &cs, 1);
    sched_decision d;
    state_record st = schedt_state(STATE_FAILED, NULL, "2025-10-15T17:45:00Z",
                                   "2025-10-15T17:45:00Z", 3);
    static const char *const later[] = {"2025-10-15T18:00:00Z", "2025-10-16T09:00:00Z",
                                        "2025-10-16T09:15:00Z"};
    for (size_t i = 0; i < 3; i++) {
        schedt_decide(&d, &st, cron, later[i]);
        assert_false(d.run);
        assert_string_equal(d.reason, "Max retry count (3) exceeded for failed job");
        assert_true(sched_paused_by_failures(&p, &cs, &st, schedt_at(later[i])));
    }
    st.last_scheduled_at = st.last_attempted_at = schedt_at("2025-10-16T10:00:00Z");
    schedt_decide(&d, &st, cron, "2025-10-16T10:15:00Z");
    assert_true(d.run); /* 3 of the 4 a 15-minute slot needs */
    assert_false(sched_paused_by_failures(&p, &cs, &st, schedt_at("2025-10-16T10:15:00Z")));
    /* the day's last failure, at 17:45, is judged by the overnight slot it ran in */
    st.last_scheduled_at = st.last_attempted_at = schedt_at("2025-10-16T17:45:00Z");
    schedt_decide(&d, &st, cron, "2025-10-16T17:50:00Z");
    assert_string_equal(d.reason, "Max retry count (3) exceeded for failed job");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_by_slot),
        cmocka_unit_test(test_per_minute_keeps_running_below_the_window),
        cmocka_unit_test(test_hourly_still_pauses_after_max_retry_count),
        cmocka_unit_test(test_skips_never_pause),
        cmocka_unit_test(test_three_minute_outage_recovers_without_reset),
        cmocka_unit_test(test_persistent_outage_pauses_after_the_window),
        cmocka_unit_test(test_paused_by_failures_predicate),
        cmocka_unit_test(test_irregular_cron_judged_by_the_failed_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
