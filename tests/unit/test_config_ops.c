/*
 * test_config_ops — the operating keys of the config (src/config/config_ops.c):
 * datastores.yaml `history:` and `notify:`, a pipeline's `freshness:`; their
 * defaults, and each bad value reported as file:line:col: key: message. A
 * webhook URL (it may hold a token) never appears in any message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "support/config_fixture.h"

typedef cfgt_dir tdir;

static int load(tdir *t) {
    config_free(t->cfg);
    t->cfg = NULL;
    config_problems_clear(&t->probs);
    return config_load(&t->cfg, t->path, &t->probs, &t->err);
}

static void expect_problem(tdir *t, const char *exact) {
    assert_int_equal(load(t), ST_EINVAL);
    for (size_t i = 0; i < t->probs.n; i++)
        if (strcmp(t->probs.items[i], exact) == 0) return;
    for (size_t i = 0; i < t->probs.n; i++) print_message("  problem: %s\n", t->probs.items[i]);
    fail_msg("expected: %s", exact);
}

#define DS "datastores:\n  src: {type: sqlite, path: src.db}\n"
#define PIPE_HEAD                                                  \
    "name: p1\n"                                                   \
    "source: {datastore: src, table: a}\n"                         \
    "destination: {datastore: src, table: b}\n"                    \
    "columns: [{name: id, type: bigint, key: true}]\n"             \
    "strategies: [{name: full, type: full, cron: \"0 * * * *\"}]\n"

static void test_defaults_keep_30_days(void **state) {
    tdir *t = *state;
    cfgt_write(t, "datastores.yaml", DS);
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD);
    assert_int_equal(load(t), ST_OK);
    assert_int_equal(t->cfg->history.keep_days, 30);
    assert_int_equal(t->cfg->history.keep_runs, 50000); /* > 30 days of a 1-minute cron */
    assert_int_equal(t->cfg->notify.nwebhooks, 0);
    assert_int_equal(t->cfg->pipelines[0].freshness.warn_after_s, 0);
    assert_int_equal(t->cfg->pipelines[0].freshness.error_after_s, 0);
}

static void test_all_keys_parsed(void **state) {
    tdir *t = *state;
    cfgt_write(t, "datastores.yaml", DS
               "history: {keep_days: 7, keep_runs: 100}\n"
               "notify:\n"
               "  webhooks:\n"
               "    - {url: \"https://hooks.example.com/T/B/secret\"}\n"
               "    - {url: \"http://127.0.0.1:9/x\", events: [failed, freshness]}\n"
               "  timeout_seconds: 3\n"
               "  max_attempts: 2\n");
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD "freshness: {warn_after: 90m, error_after: 1d}\n");
    assert_int_equal(load(t), ST_OK);
    assert_int_equal(t->cfg->history.keep_days, 7);
    assert_int_equal(t->cfg->history.keep_runs, 100);
    const config_notify *n = &t->cfg->notify;
    assert_int_equal(n->nwebhooks, 2);
    assert_int_equal(n->webhooks[0].events, CONFIG_NOTIFY_ALL);
    assert_int_equal(n->webhooks[1].events, CONFIG_NOTIFY_FAILED | CONFIG_NOTIFY_FRESHNESS);
    assert_int_equal(n->timeout_seconds, 3);
    assert_int_equal(n->max_attempts, 2);
    assert_int_equal(t->cfg->pipelines[0].freshness.warn_after_s, 5400);
    assert_int_equal(t->cfg->pipelines[0].freshness.error_after_s, 86400);
}

static void test_bad_history(void **state) {
    tdir *t = *state;
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD);
    cfgt_write(t, "datastores.yaml", DS "history: {keep_days: -1}\n");
    expect_problem(t, "datastores.yaml:3:22: history.keep_days: -1 out of range 0-36500");
    cfgt_write(t, "datastores.yaml", DS "history: {keep: 3}\n");
    expect_problem(t, "datastores.yaml:3:11: history.keep: unknown key \"keep\" (expected one "
                      "of: keep_days, keep_runs)");
}

static void test_bad_notify_never_shows_url(void **state) {
    tdir *t = *state;
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD);
    cfgt_write(t, "datastores.yaml", DS "notify:\n  webhooks:\n    - {url: \"ftp://u:TOKEN@x/\"}\n");
    expect_problem(t, "datastores.yaml:5:13: notify.webhooks[0].url: expected an http:// or "
                      "https:// URL (the value is not shown: it may hold a token)");
    for (size_t i = 0; i < t->probs.n; i++) assert_null(strstr(t->probs.items[i], "TOKEN"));
    cfgt_write(t, "datastores.yaml", DS "notify:\n  webhooks:\n"
               "    - {url: \"http://x/\", events: [failed, exploded]}\n");
    expect_problem(t, "datastores.yaml:5:43: notify.webhooks[0].events[1]: unknown event "
                      "\"exploded\" (expected failed, paused, recovered or freshness)");
    cfgt_write(t, "datastores.yaml", DS "notify: {timeout_seconds: 5}\n");
    expect_problem(t, "datastores.yaml:3:9: notify: missing required key \"webhooks\"");
}

static void test_bad_freshness(void **state) {
    tdir *t = *state;
    cfgt_write(t, "datastores.yaml", DS);
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD "freshness: {warn_after: 2 hours}\n");
    expect_problem(t, "pipelines/p.yaml:6:25: freshness.warn_after: expected a duration such "
                      "as 90s, 30m, 2h or 1d, got \"2 hours\"");
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD "freshness: {warn_after: 6h, error_after: 2h}\n");
    expect_problem(t, "pipelines/p.yaml:6:42: freshness.error_after: must be longer than "
                      "warn_after (21600s), got 7200s");
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD "freshness: {}\n");
    expect_problem(t, "pipelines/p.yaml:6:12: freshness: set warn_after, error_after or both "
                      "(e.g. {warn_after: 2h, error_after: 6h})");
    cfgt_write(t, "pipelines/p.yaml", PIPE_HEAD "freshness: {error_after: 45}\n");
    assert_int_equal(load(t), ST_OK);
    assert_int_equal(t->cfg->pipelines[0].freshness.error_after_s, 45);
}

static void test_url_redact(void **state) {
    (void)state;
    char b[128];
    config_url_redact("https://hooks.slack.com/services/T0/B0/SECRET", b, sizeof b);
    assert_string_equal(b, "https://hooks.slack.com/…");
    config_url_redact("http://user:pw@127.0.0.1:8080/hook?token=x", b, sizeof b);
    assert_string_equal(b, "http://127.0.0.1:8080/…");
    config_url_redact("http://h", b, sizeof b);
    assert_string_equal(b, "http://h");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_keep_30_days, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_all_keys_parsed, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_history, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_notify_never_shows_url, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_bad_freshness, cfgt_setup, cfgt_teardown),
        cmocka_unit_test(test_url_redact),
    };
    return cmocka_run_group_tests_name("config_ops", tests, NULL, NULL);
}
