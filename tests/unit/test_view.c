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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_paused_by_failures_and_by_operator, cfgt_setup,
                                        cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_config_only_view_writes_configuration, cfgt_setup,
                                        cfgt_teardown),
        cmocka_unit_test(test_error_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
