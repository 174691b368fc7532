/*
 * test_view — a pipeline's view and its one JSON writer per concept
 * (src/view, issue 21 item 1): `paused` means one thing with its cause in
 * `paused_by`, the reason is the scheduler's verbatim, a config-only view
 * (`list`) writes only configuration members, and errors have one shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../src/json/json.h"
#include "../../src/time/st_time.h"
#include "../../src/view/view.h"
#include "support/config_fixture.h"
#include "support/sched_fixture.h"
#include "support/state_tmp.h"

#define DS "datastores:\n  src: {type: sqlite, path: src.db}\n"
#define PIPE                                                               \
    "name: p\n"                                                            \
    "source: {datastore: src, table: a}\n"                                 \
    "destination: {datastore: src, table: b}\n"                            \
    "columns: [{name: id, type: bigint, key: true}, {name: ts, type: bigint}]\n" \
    "strategies:\n"                                                        \
    "  - {name: daily, type: full, cron: \"0 2 * * *\"}\n"                 \
    "  - {name: manual, type: delta, cursor: ts}\n"                        \
    "retry: {max_retry_count: 3}\n"

static const config_pipeline *load(cfgt_dir *t) {
    cfgt_write(t, "datastores.yaml", DS);
    cfgt_write(t, "pipelines/p.yaml", PIPE);
    assert_int_equal(config_load(&t->cfg, t->path, &t->probs, &t->err), ST_OK);
    return &t->cfg->pipelines[0];
}

static int64_t at(const char *s) {
    int64_t v;
    assert_int_equal(st_time_parse(s, &v, NULL), ST_OK);
    return v;
}

/* strategy i of v as parsed JSON (caller frees) */
static json_value *strategy_doc(const view_pipeline *v, size_t i) {
    json_writer w;
    json_init(&w);
    view_strategy_json(&w, v, i);
    assert_false(w.failed);
    json_value *doc = NULL;
    assert_int_equal(json_parse(&doc, w.buf, w.len, NULL), ST_OK);
    json_release(&w);
    return doc;
}

static void expect_str(const json_value *o, const char *key, const char *want) {
    const json_value *v = json_get(o, key);
    assert_non_null(v);
    if (want == NULL) {
        assert_int_equal(v->type, JSON_NULL);
        return;
    }
    assert_int_equal(v->type, JSON_STRING);
    assert_string_equal(v->string, want);
}

static void test_paused_by_failures_and_by_operator(void **state) {
    cfgt_dir *t = *state;
    const config_pipeline *p = load(t);
    state_record daily = schedt_state(STATE_FAILED, NULL, "2025-10-15T02:00:00Z",
                                      "2025-10-15T02:00:05Z", 3);
    state_record manual = daily;
    snprintf(daily.pipeline, sizeof daily.pipeline, "p");
    snprintf(daily.strategy, sizeof daily.strategy, "daily");
    snprintf(manual.pipeline, sizeof manual.pipeline, "p");
    snprintf(manual.strategy, sizeof manual.strategy, "manual");
    manual.paused = true;
    const state_record *states[] = {&daily, &manual};
    view_pipeline v;
    assert_int_equal(view_build(&v, t->cfg, p, states, true, at("2025-10-15T03:00:30Z")), ST_OK);
    assert_string_equal(view_paused_by(&v, 0), "failures");
    assert_string_equal(view_paused_by(&v, 1), "operator");
    json_value *d = strategy_doc(&v, 0);
    expect_str(d, "pipeline", "p");
    expect_str(d, "strategy", "daily");
    expect_str(d, "timezone", "UTC");
    expect_str(d, "paused_by", "failures");
    expect_str(d, "reason", "Max retry count (3) exceeded for failed job");
    assert_true(json_get(d, "paused")->boolean);
    assert_false(json_get(d, "should_run")->boolean);
    assert_null(json_get(d, "name"));   /* explain alone adds it */
    json_free(d);
    json_value *m = strategy_doc(&v, 1);
    expect_str(m, "paused_by", "operator");
    expect_str(m, "reason", "Strategy has no cron schedule");   /* the scheduler's, verbatim */
    expect_str(m, "watermark", NULL);   /* not loaded: none shown */
    json_free(m);
    view_free(&v);
}

static void test_config_only_view_writes_configuration(void **state) {
    cfgt_dir *t = *state;
    const config_pipeline *p = load(t);
    view_pipeline v;
    assert_int_equal(view_build(&v, t->cfg, p, NULL, false, at("2025-10-15T03:00:30Z")), ST_OK);
    assert_null(view_paused_by(&v, 0));
    json_value *d = strategy_doc(&v, 0);
    expect_str(d, "strategy", "daily");
    expect_str(d, "next_fire_at", "2025-10-16T02:00:00Z");
    assert_null(json_get(d, "status"));
    assert_null(json_get(d, "reason"));
    json_free(d);
    view_free(&v);
}

static void test_error_shape(void **unused) {
    (void)unused;
    json_writer w;
    json_init(&w);
    view_error_json(&w, "usage", "status: unrecognized option '--bogus'", NULL);
    assert_string_equal(w.buf, "{\"error\":{\"code\":\"usage\",\"message\":\"status: "
                               "unrecognized option '--bogus'\"}}");
    json_release(&w);
}

/* --- live values in batches (view_load_live_many) --- */

#define NLIVE 300   /* 300 x (1 delta + 4 cdc values): several batches of 512 */

/* Every delta watermark and every cdc strategy's slot figures of many views
 * read in batches, a cdc strategy's four values never split between two
 * batches: each view gets its own values, also across batch boundaries. */
static void test_live_values_in_batches(void **unused) {
    (void)unused;
    state_tmp t;
    assert_int_equal(state_tmp_open(&t, "/tmp/synctool-view-live.XXXXXX"), ST_OK);
    static config_pipeline ps[NLIVE];
    static config_strategy ss[NLIVE][2];
    static char names[NLIVE][16];
    static view_pipeline v[NLIVE];
    st_error e;
    for (int i = 0; i < NLIVE; i++) {
        snprintf(names[i], sizeof names[i], "p%03d", i);
        ss[i][0] = (config_strategy){.name = "d", .type = CONFIG_STRATEGY_DELTA, .enabled = true};
        ss[i][1] = (config_strategy){.name = "c", .type = CONFIG_STRATEGY_CDC, .enabled = true};
        ps[i] = (config_pipeline){.name = names[i], .strategies = ss[i], .nstrategies = 2,
                                  .retry = {3, 30, 60, 3600}};
        char wm[32], lsn[32];
        snprintf(wm, sizeof wm, "wm-%d", i);
        snprintf(lsn, sizeof lsn, "0/%X", i + 1);
        assert_int_equal(state_meta_put(t.st, names[i], "d", "watermark", wm, &e), ST_OK);
        if (i % 7 == 3) continue;   /* no slot: figures unknown whatever is recorded */
        assert_int_equal(state_meta_put(t.st, names[i], "c", "watermark", lsn, &e), ST_OK);
        assert_int_equal(cdc_figures_record(t.st, names[i], "c", 1000 + i, 10 + i, &e), ST_OK);
        if (i % 2 == 0)
            assert_int_equal(cdc_figures_confirmed(t.st, names[i], "c", 5000 + i, &e), ST_OK);
    }
    for (int i = 0; i < NLIVE; i++) {
        const state_record *none[2] = {NULL, NULL};
        assert_int_equal(view_build(&v[i], NULL, &ps[i], none, true, 0), ST_OK);
    }
    view_load_live_many(v, NLIVE, t.st, true);
    for (int i = 0; i < NLIVE; i++) {
        char wm[32], lsn[32];
        snprintf(wm, sizeof wm, "wm-%d", i);
        snprintf(lsn, sizeof lsn, "0/%X", i + 1);
        assert_string_equal(v[i].watermark[0], wm);
        cdc_figures want;
        cdc_figures_read(t.st, names[i], "c", &want);
        assert_int_equal(v[i].slot[1].retained, want.retained);
        assert_int_equal(v[i].slot[1].lag, want.lag);
        assert_int_equal(v[i].slot[1].confirmed_at, want.confirmed_at);
        if (i % 7 == 3) {
            assert_null(v[i].watermark[1]);
            assert_int_equal(v[i].slot[1].retained, -1);
            continue;
        }
        assert_string_equal(v[i].watermark[1], lsn);
        assert_int_equal(v[i].slot[1].retained, 1000 + i);
        assert_int_equal(v[i].slot[1].lag, 10 + i);
        assert_int_equal(v[i].slot[1].confirmed_at, i % 2 == 0 ? 5000 + i : ST_TIME_NONE);
        view_free(&v[i]);
    }
    for (int i = 0; i < NLIVE; i++)
        if (i % 7 == 3) view_free(&v[i]);
    assert_int_equal(state_tmp_close(&t), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_values_in_batches),
        cmocka_unit_test_setup_teardown(test_paused_by_failures_and_by_operator, cfgt_setup,
                                        cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_config_only_view_writes_configuration, cfgt_setup,
                                        cfgt_teardown),
        cmocka_unit_test(test_error_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
