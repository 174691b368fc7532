/*
 * test_sched_property — properties of the decision and the selection over
 * random crons, states and instants (a seeded PRNG, so every failure
 * reproduces; the seed and iteration are printed on failure).
 *
 * Properties:
 *   1. never true while running, never true while freshly pending (< 300 s);
 *   2. a skipped run inside its slot is never retried before its backoff;
 *   3. a failed strategy never runs twice in one slot (simulated over many
 *      slots with random outcomes and random tick spacing);
 *   4. sched_select picks exactly one strategy when any is due, none when
 *      none is, never a disabled one, and the one it picks has the longest
 *      slot among the due ones (first in config order among equals);
 *   and throughout: prev <= now < next, backoff within [30, 300], a reason.
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

static const struct {
    const char *expr, *tz;
} crons[] = {
    {"* * * * *", NULL},       {"*/2 * * * *", NULL},    {"*/15 * * * *", NULL},
    {"0 * * * *", NULL},       {"0 2 * * *", NULL},      {"0 0 * * 0", NULL},
    {"30 9 * * 1-5", NULL},    {"0 0 1 * *", NULL},      {"5,35 */3 * * *", NULL},
    {"0 2 * * *", "Europe/Berlin"}, {"*/7 8-17 * * *", NULL}, {"@hourly", NULL},
};
#define NCRONS (sizeof crons / sizeof crons[0])

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) { /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

static int64_t rng_range(rng *r, int64_t lo, int64_t hi) { /* [lo, hi] */
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Base instant 2025-10-15T00:00:00Z plus up to ~60 days, whole seconds. */
static int64_t rng_instant(rng *r) {
    return schedt_at("2025-10-15T00:00:00Z") + rng_range(r, 0, 60LL * 86400) * ST_USEC;
}

/* A known instant within ten days before `now` (20%: unknown, 5%: up to an
 * hour after `now`, as with a skewed clock). */
static int64_t rng_stamp(rng *r, int64_t now) {
    int64_t k = rng_range(r, 0, 99);
    if (k < 20) return ST_TIME_NONE;
    if (k < 25) return now + rng_range(r, 0, 3600) * ST_USEC;
    return now - rng_range(r, 0, 10LL * 86400) * ST_USEC;
}

static state_record rng_state(rng *r, int64_t now) {
    state_record st = schedt_state((state_status)rng_range(r, 0, 5), NULL, NULL, NULL,
                                   rng_range(r, 0, 4));
    st.last_run = rng_stamp(r, now);
    st.last_scheduled_at = rng_stamp(r, now);
    st.last_attempted_at = rng_stamp(r, now);
    return st;
}

static cron_expr *compiled[NCRONS];

static int setup(void **s) {
    (void)s;
    for (size_t i = 0; i < NCRONS; i++) compiled[i] = schedt_cron(crons[i].expr, crons[i].tz);
    return 0;
}

static int teardown(void **s) {
    (void)s;
    for (size_t i = 0; i < NCRONS; i++) cron_free(compiled[i]);
    return 0;
}

static void check_invariants(const sched_decision *d, int64_t now) {
    assert_true(d->reason[0] != '\0');
    assert_true(d->prev != ST_TIME_NONE && d->prev <= now && now < d->next);
    assert_true(d->backoff_s >= 30 && d->backoff_s <= 300);
}

static void test_never_runs_while_running_or_freshly_pending(void **s) {
    (void)s;
    rng r = {0x5eed0001};
    sched_settings set = schedt_settings();
    for (int i = 0; i < 20000; i++) {
        size_t ci = (size_t)rng_range(&r, 0, NCRONS - 1);
        int64_t now = rng_instant(&r);
        state_record st = rng_state(&r, now);
        sched_decision d;
        sched_should_run(&st, compiled[ci], NULL, now, &set, &d);
        check_invariants(&d, now);
        if (st.status == STATE_RUNNING) assert_false(d.run);
        /* Same record, made freshly pending. */
        st.status = STATE_PENDING;
        st.last_scheduled_at = now - rng_range(&r, 0, 299) * ST_USEC;
        sched_should_run(&st, compiled[ci], NULL, now, &set, &d);
        if (d.run) fail_msg("iteration %d: freshly pending ran: %s", i, d.reason);
    }
}

static void test_skipped_retry_never_before_backoff(void **s) {
    (void)s;
    rng r = {0x5eed0002};
    sched_settings set = schedt_settings();
    int retried = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        size_t ci = (size_t)rng_range(&r, 0, NCRONS - 1);
        int64_t now = rng_instant(&r), prev;
        assert_int_equal(cron_prev(compiled[ci], now, &prev), 0);
        state_record st = rng_state(&r, now);
        st.status = STATE_SKIPPED;
        /* Scheduled inside the current slot, attempted since then. */
        st.last_scheduled_at = prev + rng_range(&r, 0, (now - prev) / ST_USEC) * ST_USEC;
        st.last_attempted_at =
            st.last_scheduled_at +
            rng_range(&r, 0, (now - st.last_scheduled_at) / ST_USEC) * ST_USEC;
        sched_decision d;
        sched_should_run(&st, compiled[ci], NULL, now, &set, &d);
        check_invariants(&d, now);
        int64_t since = now - st.last_attempted_at;
        if (since < d.backoff_s * ST_USEC) {
            if (d.run) fail_msg("iteration %d: retried %llds after skip: %s", i,
                                (long long)(since / ST_USEC), d.reason);
            refused++;
        } else {
            assert_true(d.run);
            retried++;
        }
    }
    assert_true(retried > 1000 && refused > 1000); /* both sides exercised */
}

/* One finished attempt at `now`; returns true if it failed. A manual run
 * (`synctool run`) takes the lock without an enqueue: last_scheduled_at
 * stays as it was. */
static bool sim_attempt(rng *r, state_record *st, int64_t now, bool manual) {
    if (!manual) st->last_scheduled_at = now;
    st->last_attempted_at = now;
    int64_t o = rng_range(r, 0, 9);
    if (o < 4) {
        st->status = STATE_FAILED;
        st->retry_count++;
        return true;
    }
    if (o < 7) {
        st->status = STATE_SKIPPED;
    } else {
        st->status = STATE_SUCCESS;
        st->last_run = now;
        st->retry_count = 0;
    }
    return false;
}

/* Simulates one strategy over ~20 slots with random outcomes, scheduled runs
 * and the odd manual run; after a failed attempt in slot P (while that
 * failure is the last attempt) the scheduler never runs it again while
 * prev == P. */
static void simulate_failures(rng *r, size_t ci, int64_t start, const sched_settings *set) {
    state_record st = schedt_state(STATE_SUCCESS, NULL, NULL, NULL, 0);
    st.last_run = start - 3600 * ST_USEC;
    int64_t failed_slot = ST_TIME_NONE, now = start, end;
    int64_t prev, next;
    assert_int_equal(cron_prev(compiled[ci], start, &prev), 0);
    assert_int_equal(cron_next(compiled[ci], start, &next), 0);
    end = start + 20 * (next - prev);
    while (now < end) {
        sched_decision d;
        sched_should_run(&st, compiled[ci], NULL, now, set, &d);
        check_invariants(&d, now);
        if (d.run) {
            if (failed_slot == d.prev)
                fail_msg("ran again in slot of a failure (%s): %s", crons[ci].expr, d.reason);
            failed_slot = sim_attempt(r, &st, now, false) ? d.prev : ST_TIME_NONE;
        } else if (rng_range(r, 0, 19) == 0) {
            failed_slot = sim_attempt(r, &st, now, true) ? d.prev : ST_TIME_NONE;
        }
        now += rng_range(r, 1, (next - prev) / ST_USEC / 4 + 30) * ST_USEC;
    }
}

static void test_failed_never_twice_in_one_slot(void **s) {
    (void)s;
    rng r = {0x5eed0003};
    sched_settings set = schedt_settings();
    set.max_retry_count = 1000; /* keep failing strategies unpaused */
    for (int i = 0; i < 300; i++) {
        size_t ci = (size_t)rng_range(&r, 0, NCRONS - 1);
        simulate_failures(&r, ci, rng_instant(&r), &set);
    }
}

static void check_selection(const config_pipeline *p, const sched_decision *d, int sel) {
    int due = 0, best = -1;
    for (size_t i = 0; i < p->nstrategies; i++) {
        if (!d[i].run) continue;
        assert_true(p->strategies[i].enabled);
        due++;
        if (best < 0 || d[i].next - d[i].prev > d[best].next - d[best].prev) best = (int)i;
    }
    if (due == 0) {
        assert_int_equal(sel, -1);
    } else {
        assert_int_equal(sel, best);
        assert_true(d[sel].run);
    }
}

static void test_exactly_one_selected_when_any_due(void **s) {
    (void)s;
    rng r = {0x5eed0004};
    int some = 0, none = 0;
    for (int i = 0; i < 5000; i++) {
        config_strategy cs[4];
        const cron_expr *cc[4];
        state_record st[4];
        const state_record *sp[4];
        size_t n = (size_t)rng_range(&r, 1, 4);
        int64_t now = rng_instant(&r);
        for (size_t k = 0; k < n; k++) {
            size_t ci = (size_t)rng_range(&r, 0, NCRONS - 1);
            schedt_strategy(&cs[k], "s", crons[ci].expr, rng_range(&r, 0, 9) > 0);
            cs[k].timezone = (char *)crons[ci].tz;
            cc[k] = compiled[ci];
            st[k] = rng_state(&r, now);
            sp[k] = rng_range(&r, 0, 4) ? &st[k] : NULL;
        }
        config_pipeline p;
        schedt_pipeline(&p, cs, n);
        sched_decision d[4];
        int sel = sched_select(&p, cc, sp, now, d);
        check_selection(&p, d, sel);
        if (sel >= 0) some++; else none++;
    }
    assert_true(some > 500 && none > 500); /* both outcomes exercised */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_runs_while_running_or_freshly_pending),
        cmocka_unit_test(test_skipped_retry_never_before_backoff),
        cmocka_unit_test(test_failed_never_twice_in_one_slot),
        cmocka_unit_test(test_exactly_one_selected_when_any_due),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
