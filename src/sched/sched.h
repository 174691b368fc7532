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

#include <stdatomic.h>
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
    int64_t pause_window_s;      /* retry.pause_window; 0 = off (pause after max_retry_count) */
} sched_settings;

/* Which rule decided (DESIGN §3, numbered as there). Callers branch on this,
 * never on the reason text. A rule 7 verdict keeps 7 (the abandoned retry)
 * although rules 8-12 wrote the rest of its reason. */
typedef enum {
    SCHED_RULE_NONE = 0,
    SCHED_RULE_ERROR = 1,          /* invalid cron */
    SCHED_RULE_MAX_RETRY = 2,      /* paused after failures */
    SCHED_RULE_RUNNING = 3,
    SCHED_RULE_PENDING = 4,
    SCHED_RULE_FAILED = 5,         /* waits for the next slot */
    SCHED_RULE_RETRY_SKIPPED = 6,
    SCHED_RULE_NEW_SLOT = 7,
    SCHED_RULE_FIRST_RUN = 8,
    SCHED_RULE_ALREADY_RAN = 9,
    SCHED_RULE_SCHEDULED = 10,
    SCHED_RULE_DUE = 11,
    SCHED_RULE_OVERDUE = 12,       /* also "Not due yet" when not overdue */
    SCHED_RULE_PAUSED = 13,        /* operator pause, checked after rule 1 */
    SCHED_RULE_OFF = 14            /* disabled or no cron: never selected */
} sched_rule;

typedef struct sched_decision {
    bool run;
    sched_rule rule;
    char reason[320];
    int64_t prev, next;   /* slot bounds; ST_TIME_NONE if unknown */
    int64_t backoff_s;    /* clamp(slot/2, 30, 300); 0 if unknown */
    /* State instants later than now + SCHED_FUTURE_TOLERANCE_S that the
     * decision treated as unknown, e.g. "last_run=2027-10-15T02:00:00Z";
     * "" if none. Callers log it as a warning. */
    char distrusted[200];
} sched_decision;

/* How far in the future of `now` a state instant may lie (clock skew
 * between hosts) before the decision stops trusting it (DESIGN §3). */
#define SCHED_FUTURE_TOLERANCE_S 60

/* The reason of a strategy paused by an operator (checked after rule 1). */
#define SCHED_PAUSED_REASON "Paused by operator (resume it to schedule again)"

void sched_settings_from_config(sched_settings *s, const config_retry *r);

/* Rule 2's threshold: the consecutive failures after which a strategy whose
 * slot is `slot_us` long pauses (the decision uses the slot its last failed
 * attempt ran in, else the current one). max_retry_count, except for a slot
 * shorter than pause_window (a frequent strategy): enough failed slots to
 * cover the window, max(max_retry_count, ceil(pause_window / slot)) — at
 * most one failure per slot is possible (rule 5), so a frequent strategy
 * pauses only after failing across a whole pause_window. slot_us <= 0
 * (unknown) gives max_retry_count. */
int64_t sched_pause_after(const sched_settings *s, int64_t slot_us);

/* The same threshold for strategy `cs` of `p`, judged (as the decision
 * does) by the slot of st's last attempt, or the slot around `now` when st is
 * NULL or that instant is unknown or in the future (compiles the cron; an
 * invalid or missing cron gives max_retry_count). */
int64_t sched_pause_after_strategy(const config_pipeline *p, const config_strategy *cs,
                                   const state_record *st, int64_t now);

/* Whether `st` is paused by its failures (rule 2) at `now`: failed or lost
 * with retry_count >= sched_pause_after_strategy(p, cs, st, now). The one
 * predicate the API, /metrics and alerts use, so they agree with the decision. Compiles
 * the cron only when retry_count reaches max_retry_count. */
bool sched_paused_by_failures(const config_pipeline *p, const config_strategy *cs,
                              const state_record *st, int64_t now);

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

/* ==== scheduler loop (src/sched/scheduler.c; owned by the scheduler work) ====
 *
 * A sched_plan is a config with every strategy's cron compiled once (per
 * config load, not per tick). sched_tick() is one pass of the scheduler over
 * every pipeline at `now`: recover runs whose lease expired, decide, take the
 * enqueue lock, check can_enqueue, mark pending and push to the queue
 * (run_enqueue). What a consumer does with a job is run_job() (src/run/).
 */
#include "../lock/lock.h"
#include "../job/job.h"
#include "../queue/queue.h"

typedef struct sched_plan {
    const config *cfg;          /* borrowed */
    cron_expr ***crons;         /* crons[i][j]: pipeline i, strategy j; NULL if none/invalid */
    size_t *first;              /* first[i]: the tick's slot of pipeline i's strategy 0 */
    size_t nslots;              /* strategies in all */
    size_t *buckets;            /* pipeline name hash table: index + 1, 0 = empty */
    size_t nbuckets;            /* a power of two, >= 2 x npipelines */
    uint64_t *memo;             /* per slot: why_hash of the last decision, 0 = unknown
                                   (mutable across ticks: log and journal changes only) */
} sched_plan;

int sched_plan_build(sched_plan **out, const config *cfg, st_error *err);
void sched_plan_free(sched_plan *plan);

typedef struct sched_tick_opts {
    int64_t now;
    bool fixed_time;            /* jobs record `now` as their times (--at) */
    int64_t enqueue_lock_ttl_ms;  /* 0 = 60000 */
    /* Optional: called with every pipeline's decisions as the tick makes
     * them (states[j] as the decision saw them, NULL = no state; chosen is
     * sched_select's answer). For tests and tools; NULL in the scheduler. */
    void (*on_decisions)(void *ud, const config_pipeline *p, const state_record *const *states,
                         const sched_decision *decisions, int chosen);
    void *ud;
    /* The why-journal (src/why): record each decision when it changes, the
     * enqueues, and the tick time (meta synctool:scheduler/-/last_tick).
     * Off for tools and benchmarks; the scheduler process turns it on. */
    bool journal;
    int64_t journal_keep_days;  /* the history's retention; 0 = no age limit */
} sched_tick_opts;

typedef struct sched_tick_stats {
    size_t pipelines, due, enqueued, busy, recovered, errors;
} sched_tick_stats;

/* One tick. Returns 0 unless the state listing itself failed; per-pipeline
 * problems are logged and counted in stats->errors. */
int sched_tick(const sched_plan *plan, state *st, lock_manager *lm, queue *q,
               const sched_tick_opts *o, sched_tick_stats *stats, st_error *err);

#endif
