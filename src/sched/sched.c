/*
 * sched — the scheduling decision (DESIGN §3), strategy selection and the
 * enqueue guard.
 *
 * sched_should_run() answers "should this strategy run at `now`, and why"
 * from four inputs only: the stored state record, the compiled cron, the
 * instant and the pipeline's retry settings. It reads no clock, touches no
 * backend and allocates nothing, so every rule is testable at a fixed instant
 * and the scheduler can afford to call it for every strategy on every tick.
 * It calls cron_prev() and cron_next() once each (they dominate its cost);
 * everything else is integer comparisons and one snprintf of the reason.
 *
 * An operator pause (state_record.paused, set by POST .../pause) comes right
 * after rule 1: a paused strategy is never due, SCHED_PAUSED_REASON says so.
 *
 * The twelve rules of DESIGN §3 are applied in order, first match wins, and
 * their reason strings are an interface (logs, `synctool explain`, tests
 * assert them verbatim): instants are formatted with st_time_format(),
 * durations as integer seconds. Elapsed durations ("pending for Ns", "gap")
 * are rounded down; remaining durations ("retry in Ns", "Ns until next slot")
 * are rounded up, so "retry in 0s" is never printed while a retry is refused.
 * `prev` is the latest fire time <= now (inclusive: at 10:00:00 the 10:00
 * slot has begun), `next` the first fire time > now, slot = next - prev and
 * backoff = clamp(slot / 2, 30 s, 300 s). A cron that has no fire time within
 * the cron module's search horizon cannot define a slot and is reported under
 * rule 1 ("Error: ...") like an invalid one.
 *
 * How states map onto the rules:
 *   - no record (NULL) and a record in status idle behave the same: idle is
 *     matched by none of rules 2-7, so rules 8-12 decide from its fields.
 *     A blank idle record (no timestamps) is therefore exactly "no state"
 *     (rule 8: first run inside the fallback window); an idle record left by
 *     `synctool reset` keeps its last_run and is judged by rules 9-12.
 *   - success is judged by rules 8-12 as well.
 *   - pending older than 300 s (or with no last_scheduled_at) was lost in
 *     the scheduler -> worker hand-off; it is treated exactly like a skipped
 *     run (rule 6 inside its slot, rule 7 after it).
 *   - failed below max_retry_count whose last attempt is before `prev` is an
 *     old slot's failure: rules 8-12 decide, without the rule 7 prefix (that
 *     prefix is about abandoning a skipped run's retry).
 *   - interrupted (an operator or a stopping scheduler asked the run to
 *     stop) is a skip: rules 6-7, retry_count unchanged. lost (the run
 *     died without recording; its lease expired) is a failure: rules 2, 5.
 *   - an instant later than now + SCHED_FUTURE_TOLERANCE_S (a clock that was
 *     ahead, a tick with --at in the future, an imported file) is not
 *     trusted: the decision treats it as unknown and names it in
 *     d->distrusted for the caller to log. Without this, one tick a year
 *     ahead would leave "Already ran at <next year>" for a year.
 *   - an unknown instant (ST_TIME_NONE) is never ">= prev": a skipped record
 *     without last_scheduled_at is from "an earlier slot" (rule 7).
 *
 * The pause window (rule 2 for frequent strategies; DESIGN is silent on
 * it): DESIGN pauses a strategy after max_retry_count consecutive failures.
 * For a strategy whose current slot is shorter than retry.pause_window
 * (default 1 h) that would pause a per-minute strategy after a 3-minute
 * outage, so its threshold is the number of slots that cover the window,
 * max(max_retry_count, ceil(pause_window / slot)) (sched_pause_after).
 * Rule 5 allows at most one failure per slot, so reaching it means the
 * strategy failed in every slot it tried across a whole pause_window.
 * The slot is the one the last failed attempt ran in (the current one if
 * unknown): with an irregular cron (every 15 min from 9 to 17 h) a pause on the
 * long overnight slot does not lift itself when the short day slots return.
 * pause_window 0 restores DESIGN's plain count. The reason keeps its
 * "Max retry count (N) exceeded for failed job" prefix and adds the slots.
 * sched_paused_by_failures() is the same predicate for the readers of
 * state (API, /metrics, alerts), so every surface says "paused" together.
 *
 * sched_select() decides every strategy of a pipeline and picks the due one
 * with the longest slot (ties: config order); disabled strategies and
 * strategies without cron are reported but never chosen. sched_can_enqueue()
 * is the scheduler's cheaper guard before it takes the enqueue lock; for it
 * too a blank idle record counts as "No state, first run", and a pending
 * record older than 300 s (or without last_scheduled_at) may be enqueued
 * again.
 *
 * Not here: the scheduler loop (scheduler.c), locks, queues, the state
 * backends. This file never writes state.
 */
#include "sched.h"

#include "../time/st_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SCHED_PENDING_LOST_US (300 * ST_USEC)
#define SCHED_BACKOFF_MIN_US (30 * ST_USEC)
#define SCHED_BACKOFF_MAX_US (300 * ST_USEC)

static const char sched_moved_prefix[] = "Moved to new schedule slot, abandoning old retry; ";

/* --- small helpers --- */

static bool sched_known(int64_t t) { return t != ST_TIME_NONE; }

/* True when `t` is known and at or after `ref`. */
static bool sched_since(int64_t t, int64_t ref) { return t != ST_TIME_NONE && t >= ref; }

/* Whole seconds, rounded toward minus infinity (elapsed durations). */
static long long sched_secs(int64_t us) {
    int64_t s = us / ST_USEC;
    if (us % ST_USEC < 0) s -= 1;
    return (long long)s;
}

/* Whole seconds, rounded toward plus infinity (remaining durations). */
static long long sched_secs_up(int64_t us) { return -sched_secs(-us); }

/* Sets the verdict; the reason is written after the first `off` bytes (the
 * rule 7 prefix, when present). */
static void sched_verdict(sched_decision *d, sched_rule rule, size_t off, bool run,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void sched_verdict(sched_decision *d, sched_rule rule, size_t off, bool run,
                          const char *fmt, ...) {
    if (off == 0) d->rule = rule;   /* after a rule 7 prefix, 7 stays */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason + off, sizeof d->reason - off, fmt, ap);
    va_end(ap);
    d->run = run;
}

/* Fills prev, next and backoff. Returns false (and a rule 1 verdict) when the
 * cron has no fire time on one side of `now`. */
static bool sched_slot_bounds(const cron_expr *cron, int64_t now, sched_decision *d) {
    char at[40];
    int rc = cron_prev(cron, now, &d->prev);
    if (rc == ST_OK) rc = cron_next(cron, now, &d->next);
    if (rc != ST_OK) {
        d->prev = d->next = ST_TIME_NONE;
        st_time_format(now, at, sizeof at);
        if (rc == ST_ENOTFOUND)
            sched_verdict(d, SCHED_RULE_ERROR, 0, false, "Error: cron '%s' has no fire time near %s",
                          cron_text(cron), at);
        else
            sched_verdict(d, SCHED_RULE_ERROR, 0, false, "Error: cron '%s' could not be evaluated (%s)",
                          cron_text(cron), st_error_name(rc));
        return false;
    }
    int64_t backoff = (d->next - d->prev) / 2;
    if (backoff < SCHED_BACKOFF_MIN_US) backoff = SCHED_BACKOFF_MIN_US;
    if (backoff > SCHED_BACKOFF_MAX_US) backoff = SCHED_BACKOFF_MAX_US;
    d->backoff_s = backoff / ST_USEC;
    return true;
}

/* --- the rules --- */

/* Rules 8-12: a fresh slot. `st` may be NULL (no state); `off` is the length
 * of a rule 7 prefix already in d->reason. */
static void sched_decide_fresh(const state_record *st, int64_t now, const sched_settings *s,
                               sched_decision *d, size_t off) {
    int64_t lr = st ? st->last_run : ST_TIME_NONE;
    int64_t ls = st ? st->last_scheduled_at : ST_TIME_NONE;
    int64_t gap = now - d->prev;
    char a[40], b[40];
    if (!sched_known(lr)) { /* rule 8: never succeeded */
        if (sched_since(ls, d->prev)) {
            st_time_format(ls, a, sizeof a);
            sched_verdict(d, SCHED_RULE_FIRST_RUN, off, false, "Already scheduled at %s", a);
        } else if (gap >= 0 && gap <= s->fallback_window_s * ST_USEC) {
            sched_verdict(d, SCHED_RULE_FIRST_RUN, off, true,
                          "First run or missing state \xe2\x80\x94 within %llds of schedule slot",
                          sched_secs(gap));
        } else {
            sched_verdict(d, SCHED_RULE_FIRST_RUN, off, false, "State missing and outside fallback window (gap: %llds)",
                          sched_secs(gap));
        }
    } else if (lr >= d->prev) { /* rule 9 */
        st_time_format(lr, a, sizeof a);
        st_time_format(d->prev, b, sizeof b);
        sched_verdict(d, SCHED_RULE_ALREADY_RAN, off, false, "Already ran at %s, last scheduled was %s", a, b);
    } else if (sched_since(ls, d->prev)) { /* rule 10 */
        st_time_format(ls, a, sizeof a);
        sched_verdict(d, SCHED_RULE_SCHEDULED, off, false, "Already scheduled at %s", a);
    } else if (gap >= 0 && gap <= s->buffer_s * ST_USEC) { /* rule 11 */
        st_time_format(d->prev, a, sizeof a);
        sched_verdict(d, SCHED_RULE_DUE, off, true, "Due to run (last scheduled: %s, gap: %llds)", a,
                      sched_secs(gap));
    } else if (now - lr >= d->next - d->prev) { /* rule 12 */
        sched_verdict(d, SCHED_RULE_OVERDUE, off, true, "Overdue (gap: %llds, last success: %llds ago)",
                      sched_secs(gap), sched_secs(now - lr));
    } else {
        sched_verdict(d, SCHED_RULE_OVERDUE, off, false, "Not due yet (gap: %llds, buffer: %llds)", sched_secs(gap),
                      (long long)s->buffer_s);
    }
}

/* Rule 6: a skipped (or lost pending) run inside the slot it was scheduled in. */
static void sched_decide_retry(const state_record *st, int64_t now, sched_decision *d) {
    int64_t la = st->last_attempted_at;
    if (!sched_known(la)) {
        sched_verdict(d, SCHED_RULE_RETRY_SKIPPED, 0, true, "Retrying skipped job within current slot");
        return;
    }
    int64_t since = now - la, backoff = d->backoff_s * ST_USEC;
    if (since >= backoff)
        sched_verdict(d, SCHED_RULE_RETRY_SKIPPED, 0, true,
                      "Retrying skipped job within current slot (skipped %llds ago, "
                      "%llds until next slot)",
                      sched_secs(since), sched_secs_up(d->next - now));
    else
        sched_verdict(d, SCHED_RULE_RETRY_SKIPPED, 0, false, "Recently skipped, retry in %llds (within current slot)",
                      sched_secs_up(backoff - since));
}

/* Rules 2-7 for a present record; prev/next/backoff are already known. */
static void sched_decide_state(const state_record *st, int64_t now, const sched_settings *s,
                               int64_t pause_slot, sched_decision *d) {
    char a[40];
    int64_t ls = st->last_scheduled_at;
    /* lost counts as failed, interrupted as skipped (DESIGN §3) */
    bool failed = st->status == STATE_FAILED || st->status == STATE_LOST;
    bool skipped = st->status == STATE_SKIPPED || st->status == STATE_INTERRUPTED;
    int64_t after = sched_pause_after(s, pause_slot);
    if (failed && st->retry_count >= after) { /* rule 2 */
        if (after == s->max_retry_count)
            sched_verdict(d, SCHED_RULE_MAX_RETRY, 0, false, "Max retry count (%lld) exceeded for failed job",
                          (long long)s->max_retry_count);
        else
            sched_verdict(d, SCHED_RULE_MAX_RETRY, 0, false, "Max retry count (%lld) exceeded for failed job "
                          "(failed in %lld consecutive slots, a whole pause_window of %llds)",
                          (long long)s->max_retry_count, (long long)st->retry_count,
                          (long long)s->pause_window_s);
    } else if (st->status == STATE_RUNNING) { /* rule 3 */
        sched_verdict(d, SCHED_RULE_RUNNING, 0, false, "Strategy is already running");
    } else if (st->status == STATE_PENDING && sched_known(ls) &&
               now - ls < SCHED_PENDING_LOST_US) { /* rule 4 */
        st_time_format(ls, a, sizeof a);
        sched_verdict(d, SCHED_RULE_PENDING, 0, false, "Already scheduled at %s (pending for %llds)", a,
                      sched_secs(now - ls));
    } else if (failed && (!sched_known(st->last_attempted_at) ||
                          st->last_attempted_at >= d->prev)) { /* rule 5 */
        sched_verdict(d, SCHED_RULE_FAILED, 0, false, "Job failed on last attempt, waiting for next regular schedule");
    } else if (skipped || st->status == STATE_PENDING) {
        if (sched_since(ls, d->prev)) { /* rule 6 */
            sched_decide_retry(st, now, d);
        } else { /* rule 7 */
            memcpy(d->reason, sched_moved_prefix, sizeof sched_moved_prefix);
            d->rule = SCHED_RULE_NEW_SLOT;
            sched_decide_fresh(st, now, s, d, sizeof sched_moved_prefix - 1);
        }
    } else {
        sched_decide_fresh(st, now, s, d, 0);
    }
}

/* --- public API --- */

void sched_settings_from_config(sched_settings *s, const config_retry *r) {
    s->max_retry_count = r->max_retry_count;
    s->fallback_window_s = r->safe_fallback_window_minutes * 60;
    s->buffer_s = r->schedule_buffer_seconds;
    s->pause_window_s = r->pause_window_seconds;
}

int64_t sched_pause_after(const sched_settings *s, int64_t slot_us) {
    int64_t window_us = s->pause_window_s * ST_USEC;
    if (slot_us <= 0 || window_us <= 0 || slot_us >= window_us) return s->max_retry_count;
    int64_t slots = (window_us + slot_us - 1) / slot_us;
    return slots > s->max_retry_count ? slots : s->max_retry_count;
}

int64_t sched_pause_after_strategy(const config_pipeline *p, const config_strategy *cs,
                                   const state_record *st, int64_t now) {
    sched_settings s;
    sched_settings_from_config(&s, &p->retry);
    if (s.pause_window_s <= 0 || cs->cron == NULL || cs->cron[0] == '\0')
        return s.max_retry_count;
    /* the slot of the last attempt, as the decision judges it (a future
     * instant is not trusted, as in sched_distrust_future) */
    int64_t at = now;
    if (st != NULL && sched_known(st->last_attempted_at) &&
        st->last_attempted_at <= now + SCHED_FUTURE_TOLERANCE_S * ST_USEC)
        at = st->last_attempted_at;
    cron_expr *c = NULL;
    int64_t prev, next, after = s.max_retry_count;
    if (cron_parse(&c, cs->cron, cs->timezone, NULL) == ST_OK &&
        cron_prev(c, at, &prev) == ST_OK && cron_next(c, at, &next) == ST_OK)
        after = sched_pause_after(&s, next - prev);
    cron_free(c);
    return after;
}

bool sched_paused_by_failures(const config_pipeline *p, const config_strategy *cs,
                              const state_record *st, int64_t now) {
    if (st == NULL || (st->status != STATE_FAILED && st->status != STATE_LOST)) return false;
    if (st->retry_count < p->retry.max_retry_count) return false;
    return st->retry_count >= sched_pause_after_strategy(p, cs, st, now);
}

/* Copies st into *safe with every instant in the future of now (beyond the
 * tolerance) set unknown, naming them in d->distrusted. Returns false (no
 * copy made) when every instant is trustworthy. */
static bool sched_distrust_future(const state_record *st, int64_t now, state_record *safe,
                                  sched_decision *d) {
    int64_t limit = now + SCHED_FUTURE_TOLERANCE_S * ST_USEC;
    const struct { const char *name; int64_t v; } f[] = {
        {"last_run", st->last_run},
        {"last_scheduled_at", st->last_scheduled_at},
        {"last_attempted_at", st->last_attempted_at},
    };
    bool any = false;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!sched_known(f[i].v) || f[i].v <= limit) continue;
        if (!any) *safe = *st;
        any = true;
        char t[40];
        size_t len = strlen(d->distrusted);
        st_time_format(f[i].v, t, sizeof t);
        snprintf(d->distrusted + len, sizeof d->distrusted - len, "%s%s=%s", len ? ", " : "",
                 f[i].name, t);
        if (i == 0) safe->last_run = ST_TIME_NONE;
        else if (i == 1) safe->last_scheduled_at = ST_TIME_NONE;
        else safe->last_attempted_at = ST_TIME_NONE;
    }
    return any;
}

/* The slot rule 2's threshold is judged by: the one the last failed attempt
 * ran in (so a pause never lifts itself when an irregular cron's slots
 * change length), else the current one. Cron work only when it matters. */
static int64_t sched_pause_slot(const state_record *st, const cron_expr *cron,
                                const sched_decision *d, const sched_settings *s) {
    int64_t current = d->next - d->prev, prev, next;
    if (s->pause_window_s <= 0 || st->retry_count < s->max_retry_count ||
        !sched_known(st->last_attempted_at) || st->last_attempted_at >= d->prev)
        return current;
    if (cron_prev(cron, st->last_attempted_at, &prev) != ST_OK ||
        cron_next(cron, st->last_attempted_at, &next) != ST_OK)
        return current;
    return next - prev;
}

void sched_should_run(const state_record *st, const cron_expr *cron, const char *cron_error,
                      int64_t now, const sched_settings *s, sched_decision *out) {
    out->run = false;
    out->reason[0] = '\0';
    out->distrusted[0] = '\0';
    state_record safe;
    if (st != NULL && sched_distrust_future(st, now, &safe, out)) st = &safe;
    out->prev = out->next = ST_TIME_NONE;
    out->backoff_s = 0;
    if (cron == NULL) { /* rule 1 */
        sched_verdict(out, SCHED_RULE_ERROR, 0, false, "Error: %s",
                      cron_error && cron_error[0] ? cron_error : "invalid cron expression");
        return;
    }
    if (!sched_slot_bounds(cron, now, out)) return; /* rule 1 as well */
    if (st != NULL && st->paused) { /* operator pause (issue 13), before rules 2-12 */
        sched_verdict(out, SCHED_RULE_PAUSED, 0, false, "%s", SCHED_PAUSED_REASON);
        return;
    }
    if (st == NULL)
        sched_decide_fresh(NULL, now, s, out, 0);
    else
        sched_decide_state(st, now, s, sched_pause_slot(st, cron, out, s), out);
}

/* A strategy that is never selected: the verdict says why; the slot is still
 * shown when the cron is usable (explain prints it). */
static void sched_decide_off(const cron_expr *cron, int64_t now, const char *why,
                             sched_decision *d) {
    d->distrusted[0] = '\0';
    d->prev = d->next = ST_TIME_NONE;
    d->backoff_s = 0;
    if (cron != NULL) (void)sched_slot_bounds(cron, now, d);
    sched_verdict(d, SCHED_RULE_OFF, 0, false, "%s", why);
}

/* Decides strategy `cs` whose caller passed no compiled cron: compiles it here
 * (slow path, allocates) so an invalid expression reports its parse error. */
static void sched_decide_uncompiled(const config_strategy *cs, const state_record *st,
                                    int64_t now, const sched_settings *s, sched_decision *d) {
    cron_expr *c = NULL;
    st_error err;
    st_error_clear(&err);
    if (cron_parse(&c, cs->cron, cs->timezone, &err) != ST_OK) {
        sched_should_run(st, NULL, err.msg, now, s, d);
        return;
    }
    sched_should_run(st, c, NULL, now, s, d);
    cron_free(c);
}

int sched_select(const config_pipeline *p, const cron_expr *const *crons,
                 const state_record *const *states, int64_t now, sched_decision *decisions) {
    sched_settings s;
    sched_settings_from_config(&s, &p->retry);
    int best = -1;
    int64_t best_slot = 0;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *cs = &p->strategies[i];
        const cron_expr *c = crons ? crons[i] : NULL;
        const state_record *st = states ? states[i] : NULL;
        sched_decision *d = &decisions[i];
        if (!cs->enabled) {
            sched_decide_off(c, now, "Strategy is disabled", d);
            continue;
        }
        if (cs->cron == NULL || cs->cron[0] == '\0') {
            sched_decide_off(NULL, now, "Strategy has no cron schedule", d);
            continue;
        }
        if (c != NULL)
            sched_should_run(st, c, NULL, now, &s, d);
        else
            sched_decide_uncompiled(cs, st, now, &s, d);
        if (d->run && (best < 0 || d->next - d->prev > best_slot)) {
            best = (int)i;
            best_slot = d->next - d->prev;
        }
    }
    return best;
}

/* A record that carries nothing: idle and never scheduled, attempted or run. */
static bool sched_state_blank(const state_record *st) {
    return st->status == STATE_IDLE && !sched_known(st->last_run) &&
           !sched_known(st->last_scheduled_at) && !sched_known(st->last_attempted_at);
}

bool sched_can_enqueue(const state_record *st, int64_t now, char *reason, size_t n) {
    if (st == NULL || sched_state_blank(st)) {
        snprintf(reason, n, "No state, first run");
        return true;
    }
    if (st->status == STATE_RUNNING) {
        snprintf(reason, n, "Already running");
        return false;
    }
    if (st->status == STATE_PENDING && sched_known(st->last_scheduled_at) &&
        st->last_scheduled_at <= now + SCHED_FUTURE_TOLERANCE_S * ST_USEC &&
        now - st->last_scheduled_at < SCHED_PENDING_LOST_US) {
        snprintf(reason, n, "Already pending for %llds", sched_secs(now - st->last_scheduled_at));
        return false;
    }
    snprintf(reason, n, "Can enqueue");
    return true;
}
