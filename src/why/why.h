/*
 * why — the why-journal: each strategy's scheduling decisions, recorded
 * when they change, and the events around them (issue 14 item 4).
 *
 * The scheduler calls why_decision() for every strategy it decides; the
 * decision is written only when it differs from the last one written for
 * that strategy, compared in a normalized form (numbers and instants
 * replaced: "Recently skipped, retry in 120s" and "... in 60s" are the same
 * decision), so a quiet night costs nothing and the journal reads as a
 * timeline of what changed. Events (enqueued run N, reset) are appended as
 * they happen. `synctool why` merges the journal with the run history.
 *
 * Storage: two keys of the state's per-strategy meta store (SQLite or
 * Redis, whichever holds the state): `why.last` (the last decision,
 * normalized) and `why` (JSON lines, oldest first, one object per entry:
 * {"at", "kind": "decision"|"event", "run", "text"}). The journal keeps the
 * history's retention (keep_days) and at most WHY_JOURNAL_MAX bytes per
 * strategy, dropping the oldest entries first.
 */
#ifndef ST_WHY_H
#define ST_WHY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"
#include "../state/state.h"

#define WHY_JOURNAL_MAX 60000

typedef struct why_entry {
    int64_t at;
    bool decision;     /* false: an event */
    bool run;          /* decision: should_run */
    char text[1024];   /* the reason verbatim, or the event */
} why_entry;

/* "Recently skipped, retry in Ns (within current slot)": digits runs
 * become N (an instant becomes one N...). */
void why_normalize(const char *reason, char *out, size_t n);

/* Records the decision if it differs from the last one recorded for
 * (pipeline, strategy); *changed says whether it did. keep_days 0: no age
 * limit. */
int why_decision(state *st, const char *pipeline, const char *strategy, int64_t at, bool run,
                 const char *reason, int64_t keep_days, bool *changed, st_error *err);

/* Appends an event ("Enqueued run 7", "Reset by synctool reset"). */
int why_event(state *st, const char *pipeline, const char *strategy, int64_t at,
              const char *text, int64_t keep_days, st_error *err);

/* The journal, oldest first; *out is malloc'd (free()), n may be 0. */
int why_read(state *st, const char *pipeline, const char *strategy, why_entry **out,
             size_t *n, st_error *err);

/* The record as it was at `at` when `cur` knows of something after it (a
 * run, an enqueue or an attempt later than `at`): rebuilt from the run
 * history (attempts finished by then: status, retry count, last success,
 * last attempt; a run started before and finished after is running) and the
 * journal's enqueues (last scheduled). Returns 1 with *out rebuilt, 0 when
 * nothing had happened by then (no state), -1 to keep `cur` (nothing after
 * `at`, or no history to rebuild from). The one rule for `explain --at` and
 * the API, so they cannot disagree. */
int why_state_as_of(state *st, const state_record *cur, int64_t at, state_record *out);

/* 64-bit hash of (run, normalized reason), never 0: the scheduler's
 * in-memory memo of the last decision per strategy. */
uint64_t why_hash(bool run, const char *reason);

#endif
