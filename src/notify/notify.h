/*
 * notify — alerts by webhook when something an operator must know happens
 * (DESIGN §6): a run failed, a strategy paused (max_retry_count reached), a
 * pipeline recovered (success after a failure or pause), a pipeline's data
 * crossed a `freshness:` threshold (and came back).
 *
 * Two halves:
 *  - detection, notify_check(): compares the current state with what was
 *    last notified and emits one alert per *transition*, never one per tick.
 *    The last-notified states live in the state store (state_meta, keys
 *    "notify.health" per strategy and "notify.freshness" per pipeline under
 *    strategy "*"), so a restarted or a new leading scheduler does not
 *    repeat an alert. The decision itself is the pure notify_health_next() /
 *    notify_fresh_level() / notify_transition(), tested at any instant.
 *  - delivery: a background thread POSTs each alert as JSON with a
 *    Slack-compatible "text" field to every webhook subscribed to its event,
 *    through libcurl, retrying with backoff (1 s, 2 s, 4 s, ... up to
 *    notify.max_attempts). notify_check() only queues (bounded queue; the
 *    oldest alert is dropped, with a warning, if it overflows), so a slow
 *    receiver never delays a tick or a run.
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
 * held; failed (or lost) is failing, or paused once retry_count >= max_retry;
 * success is ok; any other status (idle after a reset, pending, running,
 * skipped) keeps `prev`, except that a lifted operator pause is ok. */
notify_health notify_health_next(const state_record *r, int64_t max_retry, notify_health prev);

/* Level of data whose last successful run started at `last_success`
 * (ST_TIME_NONE if never) at `now`. */
notify_fresh notify_fresh_level(const config_freshness *f, int64_t last_success, int64_t now);

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
    char error[512];
    char text[1024];         /* the human sentence ("text" in the body) */
} notify_alert;

/* The JSON body sent for an alert (malloc'ed; NULL if out of memory). */
char *notify_alert_json(const notify_alert *a);

typedef struct notifier notifier;

/* Starts the delivery thread when cfg->notify has webhooks; without any,
 * *out is a notifier whose checks do nothing. */
int notifier_open(notifier **out, const config *cfg, st_error *err);

/* Waits up to drain_ms for queued alerts to be delivered, then stops the
 * thread and frees. NULL-safe. */
void notifier_close(notifier *n, int64_t drain_ms);

/* The config to check against after a reload (borrowed, like the first). */
void notifier_set_config(notifier *n, const config *cfg);

/* One detection pass at `now`: reads every record, emits and queues an alert
 * per transition, stores the new last-notified states. Returns 0, or an
 * error if the state could not be read (nothing is lost: the next pass sees
 * the same transitions). *queued (may be NULL) counts the alerts queued. */
int notify_check(notifier *n, state *st, int64_t now, size_t *queued, st_error *err);

/* Alerts delivered and given up since open (tests, logs). */
void notifier_counts(notifier *n, size_t *delivered, size_t *failed);

#endif
