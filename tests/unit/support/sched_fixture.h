/*
 * sched_fixture — helpers for the scheduling-decision unit tests: fixed
 * instants from ISO-8601 text, hand-built state records, compiled crons and
 * hand-built pipelines. Every symbol is prefixed schedt_ because support
 * files are linked into every unit test.
 */
#ifndef SCHEDT_FIXTURE_H
#define SCHEDT_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../../src/config/config.h"
#include "../../../src/cron/cron.h"
#include "../../../src/sched/sched.h"
#include "../../../src/state/state.h"

/* ISO-8601 instant; NULL gives ST_TIME_NONE. Aborts on a bad literal. */
int64_t schedt_at(const char *iso);

/* Compiled cron (tz NULL = UTC); aborts on a parse error. cron_free() it. */
cron_expr *schedt_cron(const char *expr, const char *tz);

/* A state record for pipeline "p", strategy "s"; NULL instants are unknown. */
state_record schedt_state(state_status status, const char *last_run,
                          const char *last_scheduled_at, const char *last_attempted_at,
                          int64_t retry_count);

/* max_retry_count 3, fallback window 30 min, buffer 60 s (the spec's). */
sched_settings schedt_settings(void);

/* Decides `st` (NULL = no state) under `cron_text` (UTC) at `now`. */
void schedt_decide(sched_decision *d, const state_record *st, const char *cron_text,
                   const char *now);

/* Fills a strategy; strings are borrowed (never freed by the tests). */
void schedt_strategy(config_strategy *cs, const char *name, const char *cron, bool enabled);

/* A pipeline over `n` strategies with the spec's retry settings. */
void schedt_pipeline(config_pipeline *p, config_strategy *strategies, size_t n);

#endif
