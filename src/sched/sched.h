/*
 * sched — the scheduling decision (DESIGN §3), strategy selection and the
 * scheduler loop.
 *
 * sched_should_run() is a pure function of (state, cron, now, settings): it
 * reads no clock and touches no backend, so every rule is tested at fixed
 * instants. The quoted reason strings are part of the interface.
 */
#ifndef ST_SCHED_H
#define ST_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../cron/cron.h"
#include "../state/state.h"

typedef struct sched_settings {
    int64_t max_retry_count;
    int64_t fallback_window_s;   /* safe_fallback_window_minutes * 60 */
    int64_t buffer_s;            /* schedule_buffer_seconds */
} sched_settings;

typedef struct sched_decision {
    bool run;
    char reason[320];
    int64_t prev, next;   /* slot bounds; ST_TIME_NONE if unknown */
    int64_t backoff_s;    /* clamp(slot/2, 30, 300); 0 if unknown */
} sched_decision;

void sched_settings_from_config(sched_settings *s, const config_retry *r);

/* The decision. `st` NULL means no state at all. `cron` NULL means the cron
 * is invalid and `cron_error` says why (rule 1). */
void sched_should_run(const state_record *st, const cron_expr *cron,
                      const char *cron_error, int64_t now, const sched_settings *s,
                      sched_decision *out);

/* Decides every strategy of `p` (states[i] and crons[i] parallel to
 * p->strategies; NULL entries allowed) into decisions[i] and returns the
 * index of the selected strategy, or -1 if none is due: among due strategies
 * the longest slot wins, ties go to config order. Settings come from
 * p->retry. A NULL states[i] (or states == NULL) means no state; a NULL
 * crons[i] (or crons == NULL) makes sched_select compile the strategy's cron
 * itself (slow path; an invalid expression gives rule 1 with its parse
 * error). Disabled strategies ("Strategy is disabled") and strategies without
 * cron ("Strategy has no cron schedule") are never selected. */
int sched_select(const config_pipeline *p, const cron_expr *const *crons,
                 const state_record *const *states, int64_t now,
                 sched_decision *decisions);

/* Whether the scheduler may enqueue: "No state, first run", "Already running",
 * "Already pending for Ns", "Can enqueue". */
bool sched_can_enqueue(const state_record *st, int64_t now, char *reason, size_t n);

#endif
