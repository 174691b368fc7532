/*
 * test_sched_scenarios — the spec's Scenarios 1-3 (TEST_LOCK_AND_RETRY.md)
 * replayed tick by tick against the real decision function.
 *
 * A tiny simulator stands in for the scheduler and the worker: at every tick
 * it asks sched_should_run(); when the answer is "run" it applies what the
 * real components write (enqueue -> pending + last_scheduled_at; the worker's
 * lock attempt sets last_attempted_at; then skipped / failed (retry_count+1)
 * / success (last_run, retry_count 0)), with the outcome chosen by the
 * scenario (e.g. "the pipeline lock is busy until 02:00 the next day").
 * Each scenario checks two things: the exact list of instants at which the
 * job ran, and a table of (instant, decision, full reason) rows.
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

typedef enum { OUTCOME_SKIPPED, OUTCOME_FAILED, OUTCOME_SUCCESS } outcome;

typedef struct {
    const char *at;
    bool run;
    const char *reason;
} row;

typedef struct {
    const char *cron;
    state_record st;
    int64_t busy_until;   /* lock busy (skip) before this instant */
    int64_t fail_until;   /* run fails (error) before this instant */
    int64_t runs[400];    /* instants at which the decision was "run" */
    size_t nruns;
} sim;

/* What the scheduler and the worker write for one attempt at `now`. */
static void sim_attempt(sim *m, int64_t now) {
    state_record *st = &m->st;
    st->status = STATE_PENDING; /* enqueue */
    st->last_scheduled_at = now;
    st->last_attempted_at = now; /* lock attempt (success or skip) */
    outcome o = now < m->busy_until ? OUTCOME_SKIPPED
              : now < m->fail_until ? OUTCOME_FAILED : OUTCOME_SUCCESS;
    if (o == OUTCOME_SKIPPED) {
        st->status = STATE_SKIPPED;
    } else if (o == OUTCOME_FAILED) {
        st->status = STATE_FAILED;
        st->retry_count++;
    } else {
        st->status = STATE_SUCCESS;
        st->last_run = now;
        st->retry_count = 0;
    }
}

/* Ticks from `from` to `to` inclusive every `step_s`; checks `rows` (sorted,
 * each on a tick) as it passes them. */
static void sim_run(sim *m, const char *from, const char *to, int64_t step_s, const row *rows,
                    size_t nrows) {
    cron_expr *c = schedt_cron(m->cron, NULL);
    sched_settings s = schedt_settings();
    size_t r = 0;
    for (int64_t t = schedt_at(from); t <= schedt_at(to); t += step_s * ST_USEC) {
        sched_decision d;
        sched_should_run(&m->st, c, NULL, t, &s, &d);
        if (r < nrows && schedt_at(rows[r].at) == t) {
            assert_string_equal(d.reason, rows[r].reason);
            assert_int_equal(d.run, rows[r].run);
            r++;
        }
        if (d.run) {
            assert_true(m->nruns < sizeof m->runs / sizeof m->runs[0]);
            m->runs[m->nruns++] = t;
            sim_attempt(m, t);
        }
    }
    assert_int_equal(r, nrows); /* every row was on a tick */
    cron_free(c);
}

/* Scenario 1: daily 02:00 job, another job holds the pipeline lock from 02:00
 * on the 15th until 02:00 on the 16th. Tries at 02:00, retries every 5 min
 * all day (288 attempts in the slot), then the 16th's slot starts fresh and
 * succeeds; nothing more runs after that. */
static void test_scenario1_daily_lock_conflict_retries_all_day(void **s) {
    (void)s;
    static sim m;
    memset(&m, 0, sizeof m);
    m.cron = "0 2 * * *";
    m.st = schedt_state(STATE_SUCCESS, "2025-10-14T02:00:00Z", "2025-10-14T02:00:00Z",
                        "2025-10-14T02:00:00Z", 0);
    m.busy_until = schedt_at("2025-10-16T02:00:00Z");
    m.fail_until = ST_TIME_NONE;
    static const row rows[] = {
        {"2025-10-15T01:59:00Z", false,
         "Already ran at 2025-10-14T02:00:00Z, last scheduled was 2025-10-14T02:00:00Z"},
        {"2025-10-15T02:00:00Z", true,
         "Due to run (last scheduled: 2025-10-15T02:00:00Z, gap: 0s)"},
        {"2025-10-15T02:01:00Z", false, "Recently skipped, retry in 240s (within current slot)"},
        {"2025-10-15T02:04:00Z", false, "Recently skipped, retry in 60s (within current slot)"},
        {"2025-10-15T02:05:00Z", true,
         "Retrying skipped job within current slot (skipped 300s ago, 86100s until next slot)"},
        {"2025-10-15T02:10:00Z", true,
         "Retrying skipped job within current slot (skipped 300s ago, 85800s until next slot)"},
        {"2025-10-15T14:00:00Z", true,
         "Retrying skipped job within current slot (skipped 300s ago, 43200s until next slot)"},
        {"2025-10-16T01:55:00Z", true,
         "Retrying skipped job within current slot (skipped 300s ago, 300s until next slot)"},
        {"2025-10-16T01:59:00Z", false, "Recently skipped, retry in 60s (within current slot)"},
        {"2025-10-16T02:00:00Z", true,
         "Moved to new schedule slot, abandoning old retry; "
         "Due to run (last scheduled: 2025-10-16T02:00:00Z, gap: 0s)"},
        {"2025-10-16T02:05:00Z", false,
         "Already ran at 2025-10-16T02:00:00Z, last scheduled was 2025-10-16T02:00:00Z"},
    };
    sim_run(&m, "2025-10-15T01:59:00Z", "2025-10-16T03:00:00Z", 60, rows,
            sizeof rows / sizeof rows[0]);
    /* 02:00, 02:05, ..., 01:55 next day (288), then 02:00 on the 16th. */
    assert_int_equal(m.nruns, 289);
    for (size_t i = 0; i < 288; i++)
        assert_true(m.runs[i] == schedt_at("2025-10-15T02:00:00Z") + (int64_t)i * 300 * ST_USEC);
    assert_true(m.runs[288] == schedt_at("2025-10-16T02:00:00Z"));
    assert_int_equal(m.st.status, STATE_SUCCESS);
    assert_int_equal(m.st.retry_count, 0);
}

/* Scenario 2: every 2 minutes, lock busy at 10:00 and 10:01. Skipped at
 * 10:00, retried at 10:01 (backoff 60 s), the 10:02 slot starts fresh. */
static void test_scenario2_frequent_job_new_slot_starts_fresh(void **s) {
    (void)s;
    static sim m;
    memset(&m, 0, sizeof m);
    m.cron = "*/2 * * * *";
    m.st = schedt_state(STATE_SUCCESS, "2025-10-15T09:58:00Z", "2025-10-15T09:58:00Z",
                        "2025-10-15T09:58:00Z", 0);
    m.busy_until = schedt_at("2025-10-15T10:02:00Z");
    m.fail_until = ST_TIME_NONE;
    static const row rows[] = {
        {"2025-10-15T10:00:00Z", true,
         "Due to run (last scheduled: 2025-10-15T10:00:00Z, gap: 0s)"},
        {"2025-10-15T10:00:30Z", false, "Recently skipped, retry in 30s (within current slot)"},
        {"2025-10-15T10:01:00Z", true,
         "Retrying skipped job within current slot (skipped 60s ago, 60s until next slot)"},
        {"2025-10-15T10:01:30Z", false, "Recently skipped, retry in 30s (within current slot)"},
        {"2025-10-15T10:02:00Z", true,
         "Moved to new schedule slot, abandoning old retry; "
         "Due to run (last scheduled: 2025-10-15T10:02:00Z, gap: 0s)"},
        {"2025-10-15T10:02:30Z", false,
         "Already ran at 2025-10-15T10:02:00Z, last scheduled was 2025-10-15T10:02:00Z"},
        {"2025-10-15T10:04:00Z", true,
         "Due to run (last scheduled: 2025-10-15T10:04:00Z, gap: 0s)"},
    };
    sim_run(&m, "2025-10-15T10:00:00Z", "2025-10-15T10:05:30Z", 30, rows,
            sizeof rows / sizeof rows[0]);
    static const char *want[] = {"2025-10-15T10:00:00Z", "2025-10-15T10:01:00Z",
                                 "2025-10-15T10:02:00Z", "2025-10-15T10:04:00Z"};
    assert_int_equal(m.nruns, 4);
    for (size_t i = 0; i < 4; i++) assert_true(m.runs[i] == schedt_at(want[i]));
}

/* Scenario 3: hourly job fails at 10:00 (database error, not a lock): no
 * retry at 10:05 or any time in the slot; the 11:00 slot runs it. */
static void test_scenario3_failed_job_waits_for_next_slot(void **s) {
    (void)s;
    static sim m;
    memset(&m, 0, sizeof m);
    m.cron = "0 * * * *";
    m.st = schedt_state(STATE_SUCCESS, "2025-10-15T09:00:00Z", "2025-10-15T09:00:00Z",
                        "2025-10-15T09:00:00Z", 0);
    m.busy_until = ST_TIME_NONE;
    m.fail_until = schedt_at("2025-10-15T10:30:00Z");
    static const row rows[] = {
        {"2025-10-15T10:00:00Z", true,
         "Due to run (last scheduled: 2025-10-15T10:00:00Z, gap: 0s)"},
        {"2025-10-15T10:05:00Z", false,
         "Job failed on last attempt, waiting for next regular schedule"},
        {"2025-10-15T10:55:00Z", false,
         "Job failed on last attempt, waiting for next regular schedule"},
        {"2025-10-15T11:00:00Z", true,
         "Due to run (last scheduled: 2025-10-15T11:00:00Z, gap: 0s)"},
        {"2025-10-15T11:05:00Z", false,
         "Already ran at 2025-10-15T11:00:00Z, last scheduled was 2025-10-15T11:00:00Z"},
    };
    sim_run(&m, "2025-10-15T10:00:00Z", "2025-10-15T11:30:00Z", 60, rows,
            sizeof rows / sizeof rows[0]);
    assert_int_equal(m.nruns, 2);
    assert_true(m.runs[0] == schedt_at("2025-10-15T10:00:00Z"));
    assert_true(m.runs[1] == schedt_at("2025-10-15T11:00:00Z"));
    assert_int_equal(m.st.retry_count, 0);
}

/* Scenario 3, persistent error: one attempt per slot, paused after the third
 * consecutive failure (max_retry_count 3). */
static void test_scenario3_persistent_failure_pauses(void **s) {
    (void)s;
    static sim m;
    memset(&m, 0, sizeof m);
    m.cron = "0 * * * *";
    m.st = schedt_state(STATE_SUCCESS, "2025-10-15T09:00:00Z", "2025-10-15T09:00:00Z",
                        "2025-10-15T09:00:00Z", 0);
    m.busy_until = ST_TIME_NONE;
    m.fail_until = schedt_at("2030-01-01T00:00:00Z");
    static const row rows[] = {
        {"2025-10-15T12:00:00Z", true,
         "Due to run (last scheduled: 2025-10-15T12:00:00Z, gap: 0s)"},
        {"2025-10-15T13:00:00Z", false, "Max retry count (3) exceeded for failed job"},
        {"2025-10-15T18:00:00Z", false, "Max retry count (3) exceeded for failed job"},
    };
    sim_run(&m, "2025-10-15T10:00:00Z", "2025-10-15T18:00:00Z", 60, rows,
            sizeof rows / sizeof rows[0]);
    assert_int_equal(m.nruns, 3);
    assert_int_equal(m.st.retry_count, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario1_daily_lock_conflict_retries_all_day),
        cmocka_unit_test(test_scenario2_frequent_job_new_slot_starts_fresh),
        cmocka_unit_test(test_scenario3_failed_job_waits_for_next_slot),
        cmocka_unit_test(test_scenario3_persistent_failure_pauses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
