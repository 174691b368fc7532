/*
 * test_notify — alert detection (src/notify): the pure decisions (health,
 * freshness level, which transition is which event), the JSON body, and
 * notify_check() over a real SQLite state store: one alert per transition,
 * none per tick, none again after a restart (the last-notified state lives
 * in the store). Delivery goes to a closed loopback port with one attempt,
 * so nothing waits on the network; e2e tests/e2e/test_alerts.py checks real
 * delivery to a receiver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/cdc/cdc.h"
#include "../../src/notify/notify.h"
#include "../../src/time/st_time.h"
#include "support/state_tmp.h"
#include "support/url_open.h"

#define T0 (1760522760LL * ST_USEC) /* 2025-10-15T10:06:00Z */
#define MIN (60LL * ST_USEC)
#define HOUR (3600LL * ST_USEC)

static state_record rec(state_status st, int64_t retries) {
    state_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.pipeline, sizeof r.pipeline, "orders");
    snprintf(r.strategy, sizeof r.strategy, "full");
    r.status = st;
    r.retry_count = retries;
    r.last_run = ST_TIME_NONE;
    return r;
}

static void test_health_next(void **state) {
    (void)state;
    state_record r = rec(STATE_FAILED, 1);
    assert_int_equal(notify_health_next(&r, 3, NOTIFY_OK), NOTIFY_FAILING);
    r.retry_count = 3;
    assert_int_equal(notify_health_next(&r, 3, NOTIFY_FAILING), NOTIFY_PAUSED);
    r = rec(STATE_SUCCESS, 0);
    assert_int_equal(notify_health_next(&r, 3, NOTIFY_PAUSED), NOTIFY_OK);
    /* a reset (idle), a skip or a run in progress changes nothing */
    state_status keep[] = {STATE_IDLE, STATE_SKIPPED, STATE_RUNNING, STATE_PENDING};
    for (size_t i = 0; i < 4; i++) {
        r = rec(keep[i], 0);
        assert_int_equal(notify_health_next(&r, 3, NOTIFY_PAUSED), NOTIFY_PAUSED);
        assert_int_equal(notify_health_next(&r, 3, NOTIFY_OK), NOTIFY_OK);
    }
}

static void test_operator_pause(void **state) {
    (void)state;
    state_record r = rec(STATE_SUCCESS, 0);
    r.paused = true;
    assert_int_equal(notify_health_next(&r, 3, NOTIFY_OK), NOTIFY_HELD);
    assert_int_equal(notify_transition(NOTIFY_OK, NOTIFY_HELD), CONFIG_NOTIFY_PAUSED);
    r.paused = false;
    assert_int_equal(notify_health_next(&r, 3, NOTIFY_HELD), NOTIFY_OK);
    assert_int_equal(notify_transition(NOTIFY_HELD, NOTIFY_OK), CONFIG_NOTIFY_RECOVERED);
    r = rec(STATE_IDLE, 0); /* resumed before it ever ran */
    assert_int_equal(notify_health_next(&r, 3, NOTIFY_HELD), NOTIFY_OK);
    r = rec(STATE_FAILED, 3); /* resumed while still failed past the limit */
    assert_int_equal(notify_health_next(&r, 3, NOTIFY_HELD), NOTIFY_PAUSED);
}

static void test_transitions(void **state) {
    (void)state;
    assert_int_equal(notify_transition(NOTIFY_OK, NOTIFY_FAILING), CONFIG_NOTIFY_FAILED);
    assert_int_equal(notify_transition(NOTIFY_OK, NOTIFY_PAUSED), CONFIG_NOTIFY_PAUSED);
    assert_int_equal(notify_transition(NOTIFY_FAILING, NOTIFY_PAUSED), CONFIG_NOTIFY_PAUSED);
    assert_int_equal(notify_transition(NOTIFY_FAILING, NOTIFY_OK), CONFIG_NOTIFY_RECOVERED);
    assert_int_equal(notify_transition(NOTIFY_PAUSED, NOTIFY_OK), CONFIG_NOTIFY_RECOVERED);
    assert_int_equal(notify_transition(NOTIFY_FAILING, NOTIFY_FAILING), 0);
    assert_int_equal(notify_transition(NOTIFY_PAUSED, NOTIFY_FAILING), 0);
}

static void test_fresh_level(void **state) {
    (void)state;
    config_freshness f = {2 * 3600, 6 * 3600};
    assert_int_equal(notify_fresh_level(&f, ST_TIME_NONE, T0), NOTIFY_FRESH_UNKNOWN);
    assert_int_equal(notify_fresh_level(&f, T0 - HOUR, T0), NOTIFY_FRESH_OK);
    assert_int_equal(notify_fresh_level(&f, T0 - 2 * HOUR, T0), NOTIFY_FRESH_WARN);
    assert_int_equal(notify_fresh_level(&f, T0 - 6 * HOUR, T0), NOTIFY_FRESH_ERROR);
    config_freshness none = {0, 0};
    assert_int_equal(notify_fresh_level(&none, T0 - 100 * HOUR, T0), NOTIFY_FRESH_UNKNOWN);
    config_freshness err_only = {0, 60};
    assert_int_equal(notify_fresh_level(&err_only, T0 - 30 * ST_USEC, T0), NOTIFY_FRESH_OK);
    assert_int_equal(notify_fresh_level(&err_only, T0 - MIN, T0), NOTIFY_FRESH_ERROR);
}

/* A cdc slot's level: warn from half of max_slot_lag, error past it (where
 * the run itself fails); unknown without a limit or a figure. */
static void test_slot_level(void **state) {
    (void)state;
    assert_int_equal(notify_slot_level(100, 0), NOTIFY_FRESH_UNKNOWN);
    assert_int_equal(notify_slot_level(-1, 1000), NOTIFY_FRESH_UNKNOWN);
    assert_int_equal(notify_slot_level(0, 1000), NOTIFY_FRESH_OK);
    assert_int_equal(notify_slot_level(499, 1000), NOTIFY_FRESH_OK);
    assert_int_equal(notify_slot_level(500, 1000), NOTIFY_FRESH_WARN);
    assert_int_equal(notify_slot_level(1000, 1000), NOTIFY_FRESH_WARN);
    assert_int_equal(notify_slot_level(1001, 1000), NOTIFY_FRESH_ERROR);
    assert_int_equal(notify_slot_level(5, 9), NOTIFY_FRESH_WARN);     /* half rounded up */
    assert_int_equal(notify_slot_level(4, 9), NOTIFY_FRESH_OK);
}

/* A pipeline's level: the worse of the age and each cdc slot; the strategy
 * whose slot decided is named, a tie goes to the age. */
static void test_pipeline_fresh(void **state) {
    (void)state;
    config_strategy ss[3] = {{.name = "delta", .type = CONFIG_STRATEGY_DELTA},
                             {.name = "cdc", .type = CONFIG_STRATEGY_CDC, .max_slot_lag = 1000},
                             {.name = "cdc2", .type = CONFIG_STRATEGY_CDC}};
    config_pipeline p = {.name = "orders", .strategies = ss, .nstrategies = 3,
                         .freshness = {2 * 3600, 6 * 3600}};
    int64_t kept[3] = {-1, 600, 1 << 30};   /* cdc2 has no max_slot_lag: no level */
    int by = 7;
    assert_int_equal(notify_pipeline_fresh(&p, T0 - HOUR, kept, T0, &by), NOTIFY_FRESH_WARN);
    assert_int_equal(by, 1);
    assert_int_equal(notify_pipeline_fresh(&p, T0 - 3 * HOUR, kept, T0, &by), NOTIFY_FRESH_WARN);
    assert_int_equal(by, -1);                                      /* a tie: the age */
    kept[1] = 2000;
    assert_int_equal(notify_pipeline_fresh(&p, T0 - 3 * HOUR, kept, T0, &by), NOTIFY_FRESH_ERROR);
    assert_int_equal(by, 1);
    kept[1] = 10;
    assert_int_equal(notify_pipeline_fresh(&p, T0 - 7 * HOUR, kept, T0, &by), NOTIFY_FRESH_ERROR);
    assert_int_equal(by, -1);
    assert_int_equal(notify_pipeline_fresh(&p, T0 - HOUR, NULL, T0, &by), NOTIFY_FRESH_OK);
    assert_int_equal(by, -1);
    /* without freshness thresholds (or a success) the slot alone decides */
    p.freshness = (config_freshness){0, 0};
    assert_int_equal(notify_pipeline_fresh(&p, ST_TIME_NONE, kept, T0, &by), NOTIFY_FRESH_OK);
    assert_int_equal(by, 1);
    kept[1] = -1;
    assert_int_equal(notify_pipeline_fresh(&p, T0, kept, T0, NULL), NOTIFY_FRESH_UNKNOWN);
}

static void test_alert_json(void **state) {
    (void)state;
    notify_alert a;
    memset(&a, 0, sizeof a);
    a.event = CONFIG_NOTIFY_PAUSED;
    snprintf(a.pipeline, sizeof a.pipeline, "orders");
    snprintf(a.strategy, sizeof a.strategy, "full");
    snprintf(a.status, sizeof a.status, "failed");
    snprintf(a.text, sizeof a.text, "say \"hi\"");
    a.run_id = 7;
    a.retry_count = 3;
    a.at = T0;
    a.freshness_s = -1;
    a.slot_retained = -1;
    char *j = notify_alert_json(&a);
    assert_string_equal(j, "{\"text\":\"say \\\"hi\\\"\",\"event\":\"paused\",\"pipeline\":\"orders\","
                           "\"strategy\":\"full\",\"status\":\"failed\",\"run_id\":7,"
                           "\"retry_count\":3,\"freshness_s\":null,\"slot_retained_bytes\":null,"
                           "\"error\":null,"
                           "\"at\":\"2025-10-15T10:06:00Z\"}");
    free(j);
}

/* --- notify_check over a real store --- */

typedef struct fx {
    state_tmp t;
    config cfg;
    config_pipeline p;
    config_strategy s;
    config_webhook hook;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (f == NULL || state_tmp_open(&f->t, "/tmp/test_notify.XXXXXX") != 0) return -1;
    f->s.name = "full";
    f->p.name = "orders";
    f->p.strategies = &f->s;
    f->p.nstrategies = 1;
    f->p.retry.max_retry_count = 2;
    f->p.freshness = (config_freshness){2 * 3600, 6 * 3600};
    f->hook.url = "http://127.0.0.1:9/closed";
    f->hook.events = CONFIG_NOTIFY_ALL;
    f->cfg.pipelines = &f->p;
    f->cfg.npipelines = 1;
    f->cfg.notify = (config_notify){&f->hook, 1, 1, 1, 0};
    f->cfg.state_url = burl_of(f->t.url);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    int rc = state_tmp_close(&f->t);
    free(f);
    return rc;
}

static void finish(fx *f, int64_t run_id, state_status st, int64_t at) {
    assert_int_equal(state_mark_finished(f->t.st, "orders", "full", run_id, st, at - MIN, at, "w",
                                         "", st == STATE_FAILED ? "boom" : "", NULL, NULL),
                     ST_OK);
}

static size_t check(notifier *n, fx *f, int64_t now) {
    size_t q = 99;
    assert_int_equal(notify_check(n, f->t.st, now, &q, NULL), ST_OK);
    return q;
}

static void test_one_alert_per_transition(void **state) {
    fx *f = *state;
    notifier *n;
    assert_int_equal(notifier_open(&n, &f->cfg, NULL), ST_OK);
    assert_int_equal(check(n, f, T0), 0);                 /* no state yet */
    finish(f, 1, STATE_SUCCESS, T0);
    assert_int_equal(check(n, f, T0), 0);                 /* first sight of fresh data */
    finish(f, 2, STATE_FAILED, T0 + MIN);
    assert_int_equal(check(n, f, T0 + MIN), 1);           /* failed */
    assert_int_equal(check(n, f, T0 + 2 * MIN), 0);       /* not per tick */
    finish(f, 3, STATE_FAILED, T0 + 3 * MIN);
    assert_int_equal(check(n, f, T0 + 3 * MIN), 1);       /* paused (2 of 2) */
    assert_int_equal(check(n, f, T0 + 4 * MIN), 0);
    assert_int_equal(state_reset_at(f->t.st, "orders", "full", T0 + 5 * MIN, NULL), ST_OK);
    assert_int_equal(check(n, f, T0 + 5 * MIN), 0);       /* a reset is no recovery yet */
    finish(f, 4, STATE_SUCCESS, T0 + 6 * MIN);
    assert_int_equal(check(n, f, T0 + 6 * MIN), 1);       /* recovered */
    /* freshness: warn after 2 h, error after 6 h, each once */
    assert_int_equal(check(n, f, T0 + 6 * MIN + 2 * HOUR), 1);
    assert_int_equal(check(n, f, T0 + 6 * MIN + 3 * HOUR), 0);
    assert_int_equal(check(n, f, T0 + 6 * MIN + 6 * HOUR), 1);
    notifier_close(n, 0);
    /* a new process (restarted scheduler) remembers what it already said */
    assert_int_equal(notifier_open(&n, &f->cfg, NULL), ST_OK);
    assert_int_equal(check(n, f, T0 + 6 * MIN + 7 * HOUR), 0);
    char buf[32];
    assert_int_equal(state_meta_get(f->t.st, "orders", "*", "notify.freshness", buf, sizeof buf,
                                    NULL), ST_OK);
    assert_string_equal(buf, "error");
    finish(f, 5, STATE_SUCCESS, T0 + 8 * HOUR);
    assert_int_equal(check(n, f, T0 + 8 * HOUR), 1);       /* fresh again */
    notifier_close(n, 0);
}

static size_t outbox_count(fx *f) {
    state_alert *a = NULL;
    size_t n = 0;
    assert_int_equal(state_outbox_list(f->t.st, NULL, false, &a, &n, NULL), ST_OK);
    free(a);
    return n;
}

static void test_alerts_go_to_the_outbox_once(void **state) {
    fx *f = *state;
    notifier *n;
    assert_int_equal(notifier_open(&n, &f->cfg, NULL), ST_OK);
    finish(f, 1, STATE_SUCCESS, T0);
    finish(f, 2, STATE_FAILED, T0 + MIN);
    assert_int_equal(check(n, f, T0 + MIN), 1);
    assert_int_equal(outbox_count(f), 1);
    notifier_close(n, 0);
    /* a restarted notifier finds the transition recorded: no second entry */
    assert_int_equal(notifier_open(&n, &f->cfg, NULL), ST_OK);
    assert_int_equal(check(n, f, T0 + 2 * MIN), 0);
    assert_int_equal(outbox_count(f), 1);
    notifier_close(n, 0);
    state_alert *a = NULL;
    size_t cnt = 0;
    assert_int_equal(state_outbox_list(f->t.st, NULL, false, &a, &cnt, NULL), ST_OK);
    assert_string_equal(a[0].event, "failed");
    assert_non_null(strstr(a[0].body, "\"event\":\"failed\""));
    free(a);
}

static void test_backoff_and_horizon(void **state) {
    (void)state;
    assert_true(notify_backoff_us(1) == 1 * ST_USEC);
    assert_true(notify_backoff_us(2) == 2 * ST_USEC);
    assert_true(notify_backoff_us(5) == 16 * ST_USEC);
    assert_true(notify_backoff_us(40) == NOTIFY_BACKOFF_MAX_S * ST_USEC);
    state_alert a;
    memset(&a, 0, sizeof a);
    a.created_at = T0;
    /* failures within the horizon stay pending, with backoff */
    assert_false(notify_outcome(&a, false, "HTTP 503", T0, HOUR, 0));
    assert_true(a.status == STATE_ALERT_PENDING && a.attempts == 1);
    assert_true(a.next_at == T0 + ST_USEC);
    assert_string_equal(a.last_error, "HTTP 503");
    /* a retry that would fall past the horizon gives up */
    assert_false(notify_outcome(&a, false, "refused", T0 + HOUR - ST_USEC, HOUR, 0));
    assert_true(a.status == STATE_ALERT_FAILED);
    /* max_attempts, when set, gives up earlier */
    memset(&a, 0, sizeof a);
    a.created_at = T0;
    assert_false(notify_outcome(&a, false, "x", T0, HOUR, 2));
    assert_true(a.status == STATE_ALERT_PENDING);
    assert_false(notify_outcome(&a, false, "x", T0 + 5 * ST_USEC, HOUR, 2));
    assert_true(a.status == STATE_ALERT_FAILED);
    /* a 2xx delivers, whatever came before */
    memset(&a, 0, sizeof a);
    a.created_at = T0;
    assert_true(notify_outcome(&a, true, "", T0 + MIN, HOUR, 0));
    assert_true(a.status == STATE_ALERT_DELIVERED && a.attempts == 1 && a.updated_at == T0 + MIN);
}

/* A cdc strategy's slot, as its runs recorded it (cdc_figures), decides the
 * pipeline's freshness alerts without any `freshness:` thresholds: error
 * past max_slot_lag, warn from half, ok below; once per transition, with
 * the strategy and the retained bytes in the body. */
static void test_slot_alerts(void **state) {
    fx *f = *state;
    f->s.type = CONFIG_STRATEGY_CDC;
    f->s.max_slot_lag = 1000;
    f->p.freshness = (config_freshness){0, 0};
    notifier *n;
    assert_int_equal(notifier_open(&n, &f->cfg, NULL), ST_OK);
    finish(f, 1, STATE_SUCCESS, T0);
    assert_int_equal(state_meta_put(f->t.st, "orders", "full", "watermark", "0/16B3748", NULL),
                     ST_OK);
    assert_int_equal(cdc_figures_record(f->t.st, "orders", "full", 10, 0, NULL), ST_OK);
    assert_int_equal(check(n, f, T0), 0);                  /* first sight of ok: no news */
    assert_int_equal(cdc_figures_record(f->t.st, "orders", "full", 1500, 900, NULL), ST_OK);
    assert_int_equal(check(n, f, T0 + MIN), 1);            /* error */
    assert_int_equal(check(n, f, T0 + 2 * MIN), 0);        /* not per tick */
    assert_int_equal(cdc_figures_record(f->t.st, "orders", "full", 600, 0, NULL), ST_OK);
    assert_int_equal(check(n, f, T0 + 3 * MIN), 1);        /* warn */
    assert_int_equal(cdc_figures_record(f->t.st, "orders", "full", 499, 0, NULL), ST_OK);
    assert_int_equal(check(n, f, T0 + 4 * MIN), 1);        /* ok again */
    /* the slot dropped (watermark emptied): nothing known, nothing said */
    assert_int_equal(state_meta_put(f->t.st, "orders", "full", "watermark", "", NULL), ST_OK);
    assert_int_equal(check(n, f, T0 + 5 * MIN), 0);
    notifier_close(n, 0);
    state_alert *a = NULL;
    size_t cnt = 0;
    assert_int_equal(state_outbox_list(f->t.st, NULL, false, &a, &cnt, NULL), ST_OK);
    assert_int_equal(cnt, 3);
    const char *want[] = {"\"status\":\"error\"", "\"status\":\"warn\"", "\"status\":\"ok\""};
    for (size_t i = 0; i < 3; i++) {
        bool found = false;
        for (size_t k = 0; k < cnt; k++) found = found || strstr(a[k].body, want[i]) != NULL;
        assert_true(found);
    }
    for (size_t k = 0; k < cnt; k++) {
        assert_string_equal(a[k].event, "freshness");
        assert_non_null(strstr(a[k].body, "\"strategy\":\"full\""));
        if (strstr(a[k].body, "\"status\":\"error\"")) {
            assert_non_null(strstr(a[k].body, "\"slot_retained_bytes\":1500"));
            assert_non_null(strstr(a[k].body, "more than max_slot_lag (1000)"));
        }
    }
    free(a);
}

static void test_without_webhooks_nothing_happens(void **state) {
    fx *f = *state;
    f->cfg.notify.nwebhooks = 0;
    notifier *n;
    assert_int_equal(notifier_open(&n, &f->cfg, NULL), ST_OK);
    finish(f, 1, STATE_FAILED, T0);
    assert_int_equal(check(n, f, T0), 0);
    char buf[32];
    assert_int_equal(state_meta_get(f->t.st, "orders", "full", "notify.health", buf, sizeof buf,
                                    NULL), ST_ENOTFOUND);
    notifier_close(n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_next),
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_operator_pause),
        cmocka_unit_test(test_fresh_level),
        cmocka_unit_test(test_alert_json),
        cmocka_unit_test(test_slot_level),
        cmocka_unit_test(test_pipeline_fresh),
        cmocka_unit_test_setup_teardown(test_one_alert_per_transition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_webhooks_nothing_happens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_go_to_the_outbox_once, setup, teardown),
        cmocka_unit_test(test_backoff_and_horizon),
        cmocka_unit_test_setup_teardown(test_slot_alerts, setup, teardown),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
