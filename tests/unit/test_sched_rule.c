/*
 * test_sched_rule — every verdict names the DESIGN §3 rule that decided it
 * (sched_decision.rule), so callers branch on the number, never on the
 * reason text. Each case is one state at a fixed instant under "0 * * * *"
 * (slot 10:00-11:00) and the rule and reason prefix it must produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "support/sched_fixture.h"

typedef struct rule_case {
    state_status status;
    const char *last_run, *scheduled, *attempted;
    int64_t retry;
    bool no_state;
    const char *now;
    sched_rule rule;
    const char *prefix;
} rule_case;

#define T(x) "2025-10-15T" x "Z"

static const rule_case cases[] = {
    {STATE_FAILED, T("09:00:00"), T("10:00:00"), T("10:00:00"), 3, false, T("10:30:00"),
     SCHED_RULE_MAX_RETRY, "Max retry count (3)"},
    {STATE_LOST, T("09:00:00"), T("10:00:00"), T("10:00:00"), 3, false, T("10:30:00"),
     SCHED_RULE_MAX_RETRY, "Max retry count (3)"},
    {STATE_RUNNING, T("09:00:00"), T("10:00:00"), T("10:00:00"), 0, false, T("10:30:00"),
     SCHED_RULE_RUNNING, "Strategy is already running"},
    {STATE_PENDING, T("09:00:00"), T("10:29:00"), NULL, 0, false, T("10:30:00"),
     SCHED_RULE_PENDING, "Already scheduled at"},
    {STATE_FAILED, T("09:00:00"), T("10:00:00"), T("10:00:00"), 1, false, T("10:30:00"),
     SCHED_RULE_FAILED, "Job failed on last attempt"},
    {STATE_SKIPPED, T("09:00:00"), T("10:00:00"), T("10:00:00"), 0, false, T("10:30:00"),
     SCHED_RULE_RETRY_SKIPPED, "Retrying skipped job"},
    {STATE_SKIPPED, T("09:00:00"), T("10:00:00"), T("10:29:50"), 0, false, T("10:30:00"),
     SCHED_RULE_RETRY_SKIPPED, "Recently skipped"},
    {STATE_SKIPPED, T("08:00:00"), T("09:00:00"), T("09:00:00"), 0, false, T("10:00:30"),
     SCHED_RULE_NEW_SLOT, "Moved to new schedule slot"},
    {STATE_IDLE, NULL, NULL, NULL, 0, true, T("10:10:00"), SCHED_RULE_FIRST_RUN,
     "First run"},
    {STATE_SUCCESS, T("10:00:00"), T("10:00:00"), T("10:00:00"), 0, false, T("10:30:00"),
     SCHED_RULE_ALREADY_RAN, "Already ran at"},
    {STATE_SUCCESS, T("09:00:00"), T("10:00:00"), T("10:00:00"), 0, false, T("10:30:00"),
     SCHED_RULE_SCHEDULED, "Already scheduled at"},
    {STATE_SUCCESS, T("09:00:00"), T("09:00:00"), T("09:00:00"), 0, false, T("10:00:30"),
     SCHED_RULE_DUE, "Due to run"},
    {STATE_SUCCESS, T("08:00:00"), T("08:00:00"), T("08:00:00"), 0, false, T("10:30:00"),
     SCHED_RULE_OVERDUE, "Overdue"},
};

static void test_each_rule_is_named(void **unused) {
    (void)unused;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const rule_case *c = &cases[i];
        state_record st = schedt_state(c->status, c->last_run, c->scheduled, c->attempted,
                                       c->retry);
        sched_decision d;
        schedt_decide(&d, c->no_state ? NULL : &st, "0 * * * *", c->now);
        if (d.rule != c->rule || strncmp(d.reason, c->prefix, strlen(c->prefix)) != 0)
            fail_msg("case %zu: rule %d \"%s\", want rule %d \"%s...\"", i, (int)d.rule,
                     d.reason, (int)c->rule, c->prefix);
    }
}

static void test_invalid_cron_is_rule_1(void **unused) {
    (void)unused;
    sched_decision d;
    schedt_decide(&d, NULL, "0 0 30 2 *", T("10:00:00"));   /* February 30th never comes */
    assert_false(d.run);
    assert_int_equal(d.rule, SCHED_RULE_ERROR);
    assert_memory_equal(d.reason, "Error: ", 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_rule_is_named),
        cmocka_unit_test(test_invalid_cron_is_rule_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
