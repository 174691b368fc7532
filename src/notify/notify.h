/*
 * notify — alerts by webhook when something an operator must know happens
 * (DESIGN §6): a run failed, a strategy paused (max_retry_count reached), a
 * pipeline recovered (success after a failure or pause), a pipeline's data
 * crossed a `freshness:` threshold or a cdc strategy's slot retains too much
 * WAL (notify_pipeline_fresh), and came back.
 *
 * Two halves:
 *  - detection, notify_check(): compares the current state with what was
 *    last notified and emits one alert per *transition*, never one per tick.
 *    The last-notified states live in the state store (state_meta, keys
 *    "notify.health" per strategy and "notify.freshness" per pipeline under
 *    strategy "*"), so a restarted or a new leading scheduler does not
 *    repeat an alert. The decision itself is the pure notify_health_next() /
 *    notify_fresh_level() / notify_transition(), tested at any instant.
 *  - the outbox: a transition is recorded in the state store together with
 *    one outbox entry per webhook subscribed to its event, in one atomic
 *    step (state_outbox_add), so an alert is neither lost nor repeated by a
 *    crash or a restart.
 *  - delivery (notify_send.c): one thread per webhook, each with its own
 *    state handle, POSTs its pending entries as JSON with a Slack-compatible
 *    "text" field; an entry is marked delivered only after a 2xx, else it is
 *    retried with backoff (1 s, 2 s, 4 s, ... at most 5 min) for
 *    notify.retry_for (default 6 h), across restarts, then marked failed.
 *    A slow receiver delays only its own alerts, never a tick, a run or
 *    another webhook. Stopping takes at most NOTIFY_STOP_MS.
 *
 * Webhook URLs carry tokens: they are only ever logged redacted to scheme
 * and host (config_url_redact).
 */
#ifndef ST_NOTIFY_H
#define ST_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "../state/state.h"

/* What a strategy last looked like to an operator. NOTIFY_HELD: paused by
 * an operator (POST .../pause), whatever its last status. */
typedef enum { NOTIFY_OK = 0, NOTIFY_FAILING, NOTIFY_PAUSED, NOTIFY_HELD } notify_health;

/* Freshness of a pipeline's data. NOTIFY_FRESH_UNKNOWN: no successful run yet
 * or no thresholds configured (never alerted). */
typedef enum {
    NOTIFY_FRESH_UNKNOWN = 0,
    NOTIFY_FRESH_OK,
    NOTIFY_FRESH_WARN,
    NOTIFY_FRESH_ERROR
} notify_fresh;

/* The health a record shows, given the previous one: an operator pause is
 * held; failed (or lost) is failing, or paused once retry_count >= max_retry
 * (the caller passes rule 2's threshold, sched_pause_after_strategy);
 * success is ok; any other status (idle after a reset, pending, running,
 * skipped) keeps `prev`, except that a lifted operator pause is ok. */
notify_health notify_health_next(const state_record *r, int64_t max_retry, notify_health prev);

/* Level of data whose last successful run started at `last_success`
 * (ST_TIME_NONE if never) at `now`. */
notify_fresh notify_fresh_level(const config_freshness *f, int64_t last_success, int64_t now);

/* The level a cdc strategy's replication slot gives (DESIGN §7): warn once
 * the WAL it retained at its last run reaches half of max_slot_lag, error
 * once it passes max_slot_lag (there the run itself fails), else ok;
 * unknown without max_slot_lag (<= 0) or without a figure (retained < 0). */
notify_fresh notify_slot_level(int64_t retained, int64_t max_slot_lag);

/* A pipeline's freshness level, the one the alerts, the API and the
 * dashboard show: the worse of its data's age level (notify_fresh_level)
 * and each cdc strategy's slot level. retained: per strategy of p (its
 * order), -1 = unknown; NULL = none known. *slot (may be NULL): the strategy
 * whose slot decided, -1 when the age did (a tie goes to the age). */
notify_fresh notify_pipeline_fresh(const config_pipeline *p, int64_t last_success,
                                   const int64_t *retained, int64_t now, int *slot);

/* Which event, if any (0), a health change is: ok -> failing "failed",
 * anything -> paused or held "paused", failing/paused/held -> ok
 * "recovered" (for held: resumed). */
unsigned notify_transition(notify_health prev, notify_health cur);

const char *notify_health_name(notify_health h);
const char *notify_fresh_name(notify_fresh f);

/* One alert. */
typedef struct notify_alert {
    unsigned event;          /* CONFIG_NOTIFY_* (one bit) */
    char pipeline[128];
    char strategy[128];      /* "" for freshness alerts */
    char status[16];         /* strategy status, or the freshness level */
    int64_t run_id;          /* 0 if none */
    int64_t retry_count;
    int64_t at;              /* when it was detected */
    double freshness_s;      /* < 0 if unknown */
    int64_t slot_retained;   /* freshness decided by a cdc slot: its retained WAL; -1 none */
    char error[512];
    char text[1024];         /* the human sentence ("text" in the body) */
} notify_alert;

/* The JSON body sent for an alert (malloc'ed; NULL if out of memory). */
char *notify_alert_json(const notify_alert *a);

typedef struct notifier notifier;

/* Stopping waits at most this long for deliveries in flight; what is left
 * stays in the outbox. Below every systemd unit's TimeoutStopSec. */
#define NOTIFY_STOP_MS 10000
#define NOTIFY_BACKOFF_MAX_S 300
#define NOTIFY_RETRY_FOR_DEFAULT_S (6 * 3600)
/* Delivered and failed entries are kept this long (the API shows them). */
#define NOTIFY_KEEP_CLOSED_S (7 * 86400)

/* The wait after the attempts-th failed attempt: 1 s, 2 s, 4 s, ... at most
 * NOTIFY_BACKOFF_MAX_S. */
int64_t notify_backoff_us(int64_t attempts);

/* Applies one attempt's outcome at `now` to an outbox entry: delivered on
 * ok; else retried after notify_backoff_us, or failed when the retry would
 * come more than retry_for_us after the alert or max_attempts (> 0) is
 * reached. Returns ok. */
bool notify_outcome(state_alert *a, bool ok, const char *why, int64_t now, int64_t retry_for_us,
                    int64_t max_attempts);

/* Starts one delivery thread per webhook of cfg->notify; without any, *out
 * is a notifier whose checks do nothing. The threads deliver only after the
 * first notify_check (only a leading scheduler checks). */
int notifier_open(notifier **out, const config *cfg, st_error *err);

/* Makes one attempt of what is due, for at most min(drain_ms,
 * NOTIFY_STOP_MS), cuts what is still in flight short, stops the threads
 * and frees. Undelivered alerts stay in the outbox. NULL-safe. */
void notifier_close(notifier *n, int64_t drain_ms);

/* The config to check against after a reload (borrowed, like the first). */
void notifier_set_config(notifier *n, const config *cfg);

/* One detection pass at `now`: reads every record, records an alert per
 * transition in the outbox with the new last-notified state, and wakes the
 * delivery threads (setting their clock to `now`). Returns 0, or an error if
 * the state could not be read (nothing is lost: the next pass sees the same
 * transitions). *queued (may be NULL) counts the alerts queued. */
int notify_check(notifier *n, state *st, int64_t now, size_t *queued, st_error *err);

/* Outbox entries delivered and given up by this notifier since open. */
void notifier_counts(notifier *n, size_t *delivered, size_t *failed);

#endif
