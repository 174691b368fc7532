/*
 * sched_fixture — see sched_fixture.h.
 *
 * The helpers abort (with a message) instead of failing softly: a bad literal
 * in a test is a bug in the test, and continuing would only produce a second,
 * misleading failure. They allocate nothing except the cron the caller frees.
 */
#include "sched_fixture.h"

#include "../../../src/time/st_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t schedt_at(const char *iso) {
    if (iso == NULL) return ST_TIME_NONE;
    int64_t t;
    st_error err;
    if (st_time_parse(iso, &t, &err) != ST_OK) {
        fprintf(stderr, "schedt_at: %s\n", err.msg);
        abort();
    }
    return t;
}

cron_expr *schedt_cron(const char *expr, const char *tz) {
    cron_expr *c = NULL;
    st_error err;
    if (cron_parse(&c, expr, tz, &err) != ST_OK) {
        fprintf(stderr, "schedt_cron: '%s': %s\n", expr, err.msg);
        abort();
    }
    return c;
}

state_record schedt_state(state_status status, const char *last_run,
                          const char *last_scheduled_at, const char *last_attempted_at,
                          int64_t retry_count) {
    state_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.pipeline, sizeof r.pipeline, "p");
    snprintf(r.strategy, sizeof r.strategy, "s");
    r.status = status;
    r.last_run = schedt_at(last_run);
    r.last_scheduled_at = schedt_at(last_scheduled_at);
    r.last_attempted_at = schedt_at(last_attempted_at);
    r.retry_count = retry_count;
    r.updated_at = ST_TIME_NONE;
    return r;
}

sched_settings schedt_settings(void) {
    /* pause_window at its default (1 h): the spec's cases hold under it */
    sched_settings s = {.max_retry_count = 3, .fallback_window_s = 30 * 60, .buffer_s = 60,
                        .pause_window_s = 3600};
    return s;
}

void schedt_decide(sched_decision *d, const state_record *st, const char *cron_text,
                   const char *now) {
    cron_expr *c = schedt_cron(cron_text, NULL);
    sched_settings s = schedt_settings();
    sched_should_run(st, c, NULL, schedt_at(now), &s, d);
    cron_free(c);
}

void schedt_strategy(config_strategy *cs, const char *name, const char *cron, bool enabled) {
    memset(cs, 0, sizeof *cs);
    cs->name = (char *)name;
    cs->type = CONFIG_STRATEGY_FULL;
    cs->cron = (char *)cron;
    cs->enabled = enabled;
}

void schedt_pipeline(config_pipeline *p, config_strategy *strategies, size_t n) {
    memset(p, 0, sizeof *p);
    p->name = (char *)"p";
    p->strategies = strategies;
    p->nstrategies = n;
    p->retry.max_retry_count = 3;
    p->retry.safe_fallback_window_minutes = 30;
    p->retry.schedule_buffer_seconds = 60;
    p->retry.pause_window_seconds = 3600;
}
