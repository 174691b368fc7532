/*
 * test_config_compare — `compare: false` on a column (issue 26, item 1):
 * parsed into config_column.ignored, named by config_ignored_columns() (the
 * destination names, as `diff` and `explain` print them), and refused with
 * `file:line:col` on a key column and on a column a delta strategy uses as
 * its cursor, and when it is not a boolean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../src/config/config.h"
#include "support/config_fixture.h"

static const char *DS =
    "datastores:\n"
    "  src: {type: sqlite, path: src.db}\n"
    "  dst: {type: sqlite, path: dst.db}\n";

/* A pipeline whose columns are `cols` (lines 6..) and whose delta cursor
 * is `cursor`. */
static void write_pipe(cfgt_dir *t, const char *cols, const char *cursor) {
    char buf[2048];
    snprintf(buf, sizeof buf,
             "name: pages\n"                                      /* 1 */
             "source: {datastore: src, table: pages}\n"           /* 2 */
             "destination: {datastore: dst, table: pages}\n"      /* 3 */
             "strategies:\n"                                      /* 4 */
             "  - {name: d, type: delta, cursor: %s}\n"           /* 5 */
             "columns:\n"                                         /* 6 */
             "%s",                                                /* 7.. */
             cursor, cols);
    cfgt_write(t, "datastores.yaml", DS);
    cfgt_write(t, "pipelines/pages.yaml", buf);
}

static int load(cfgt_dir *t) {
    t->rc = config_load(&t->cfg, t->path, &t->probs, &t->err);
    return t->rc;
}

static void expect_only_problem(cfgt_dir *t, const char *text) {
    assert_int_equal(load(t), ST_EINVAL);
    for (size_t i = 0; i < t->probs.n; i++) print_message("  problem: %s\n", t->probs.items[i]);
    assert_int_equal(t->probs.n, 1);
    assert_string_equal(t->probs.items[0], text);
}

static void test_parsed_and_named(void **state) {
    cfgt_dir *t = *state;
    write_pipe(t,
               "  - {name: id, type: bigint, key: true}\n"
               "  - {name: views, type: bigint, compare: false}\n"
               "  - {name: seen, type: timestamptz, compare: false, dest: last_seen}\n"
               "  - {name: title, type: text, compare: true}\n"
               "  - {name: updated_at, type: timestamptz}\n",
               "updated_at");
    assert_int_equal(load(t), 0);
    const config_pipeline *p = config_pipeline_find(t->cfg, "pages");
    assert_non_null(p);
    assert_int_equal(p->ncolumns, 5);
    bool want[] = {false, true, true, false, false};
    for (size_t i = 0; i < 5; i++) assert_int_equal(p->columns[i].ignored, want[i]);
    char buf[64];
    assert_int_equal(config_ignored_columns(p, buf, sizeof buf), 2);
    assert_string_equal(buf, "views, last_seen");
}

static void test_none_ignored(void **state) {
    cfgt_dir *t = *state;
    write_pipe(t,
               "  - {name: id, type: bigint, key: true}\n"
               "  - {name: updated_at, type: timestamptz}\n",
               "updated_at");
    assert_int_equal(load(t), 0);
    char buf[16] = "x";
    assert_int_equal(config_ignored_columns(&t->cfg->pipelines[0], buf, sizeof buf), 0);
    assert_string_equal(buf, "");
}

static void test_key_column_refused(void **state) {
    cfgt_dir *t = *state;
    write_pipe(t,
               "  - {name: id, type: bigint, key: true, compare: false}\n"
               "  - {name: updated_at, type: timestamptz}\n",
               "updated_at");
    expect_only_problem(t, "pipelines/pages.yaml:7:50: columns[0].compare: key column \"id\" "
                           "cannot be compare: false (rows are matched by their key; remove "
                           "compare: false or key: true)");
}

static void test_cursor_refused(void **state) {
    cfgt_dir *t = *state;
    write_pipe(t,
               "  - {name: id, type: bigint, key: true}\n"
               "  - {name: updated_at, type: timestamptz, compare: false}\n",
               "updated_at");
    expect_only_problem(t, "pipelines/pages.yaml:5:36: strategies[0].cursor: column "
                           "\"updated_at\" is compare: false (columns[1]); a delta cursor must "
                           "be compared: remove compare: false or choose another cursor");
}

static void test_not_a_boolean(void **state) {
    cfgt_dir *t = *state;
    write_pipe(t,
               "  - {name: id, type: bigint, key: true}\n"
               "  - {name: views, type: bigint, compare: sometimes}\n"
               "  - {name: updated_at, type: timestamptz}\n",
               "updated_at");
    expect_only_problem(t, "pipelines/pages.yaml:8:42: columns[1].compare: expected true or "
                           "false, got \"sometimes\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parsed_and_named, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_none_ignored, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_key_column_refused, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_cursor_refused, cfgt_setup, cfgt_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_boolean, cfgt_setup, cfgt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
