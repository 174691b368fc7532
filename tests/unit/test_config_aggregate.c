/*
 * test_config_aggregate — `aggregate: {group_by: [...]}` as config_load
 * reads and checks it (src/config/config_aggregate.c): the parsed groups,
 * a group key that is an expression, a cursor of the source rows, and each
 * problem at its file:line:col (which column is an aggregate expression is
 * decided by the function it calls, as a word followed by '(').
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "support/config_fixture.h"

#define DS "datastores:\n  a: {type: sqlite, path: a.db}\n  b: {type: sqlite, path: b.db}\n"

static void load(cfgt_dir *t, const char *columns, const char *group_by) {
    char text[2048];
    snprintf(text, sizeof text,
             "name: p\nsource: {datastore: a, table: orders}\n"
             "destination: {datastore: b, table: t}\n"
             "aggregate: {group_by: %s}\n"
             "columns:\n%s"
             "strategies:\n  - {name: d, type: delta, cursor: updated_at}\n", group_by, columns);
    cfgt_write(t, "datastores.yaml", DS);
    cfgt_write(t, "pipelines/p.yaml", text);
    t->rc = config_load(&t->cfg, t->path, &t->probs, &t->err);
}

static bool has_problem(const cfgt_dir *t, const char *text) {
    for (size_t i = 0; i < t->probs.n; i++)
        if (strstr(t->probs.items[i], text) != NULL) return true;
    return false;
}

static void test_parsed(void **state) {
    cfgt_dir *t = *state;
    load(t, "  - {name: customer_id, type: bigint, key: true}\n"
            "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
            "  - {name: revenue, type: \"numeric(14,2)\", expr: \"SUM (total)\"}\n"
            "  - {name: orders, type: bigint, expr: \"coalesce(count(*), 0)\"}\n",
         "[customer_id, day]");
    assert_int_equal(t->rc, ST_OK);
    const config_aggregate *a = t->cfg->pipelines[0].aggregate;
    assert_non_null(a);
    assert_int_equal(a->ngroup_by, 2);
    assert_string_equal(a->group_by[0], "customer_id");
    assert_string_equal(a->group_by[1], "day");
    assert_int_equal(a->line, 4);
    assert_int_equal(a->col, 1);
}

static void test_not_aggregates(void **state) {
    cfgt_dir *t = *state;
    load(t, "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
            "  - {name: a, type: bigint, expr: \"summary(total)\"}\n"
            "  - {name: b, type: bigint, expr: \"my_sum(total)\"}\n"
            "  - {name: c, type: bigint, expr: \"sum\"}\n"
            "  - {name: d, type: bigint}\n",
         "[day]");
    assert_int_equal(t->rc, ST_EINVAL);
    assert_int_equal(t->probs.n, 4);
    assert_string_equal(t->probs.items[0], "pipelines/p.yaml:7:35: columns[1]: column \"a\" of "
                        "an aggregate pipeline must be a group key or an aggregate expression "
                        "(expr: \"sum(total)\", \"count(*)\", min, max, avg, ...)");
    assert_true(has_problem(t, "pipelines/p.yaml:8:35: columns[2]: column \"b\""));
    assert_true(has_problem(t, "pipelines/p.yaml:9:35: columns[3]: column \"c\""));
    assert_true(has_problem(t, "pipelines/p.yaml:10:12: columns[4]: column \"d\""));
}

static void test_group_by_shape(void **state) {
    cfgt_dir *t = *state;
    load(t, "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
            "  - {name: n, type: bigint, expr: \"count(*)\"}\n",
         "[day, day]");
    assert_int_equal(t->rc, ST_EINVAL);
    assert_true(has_problem(t, "pipelines/p.yaml:4:29: aggregate.group_by[1]: \"day\" is listed "
                               "twice"));
    config_free(t->cfg);
    t->cfg = NULL;
    config_problems_clear(&t->probs);
    load(t, "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
            "  - {name: n, type: bigint, expr: \"count(*)\"}\n",
         "day");
    assert_int_equal(t->rc, ST_EINVAL);
    assert_true(has_problem(t, "pipelines/p.yaml:4:23: aggregate.group_by: expected a list of "
                               "key column names"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parsed, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_not_aggregates, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_group_by_shape, cfgt_setup, cfgt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
