/*
 * test_log_capture — the run capture of the logger (src/log): a run keeps
 * its own pipeline's lines and process-wide ones, not other pipelines'; info
 * lines are kept even when the printing level hides them; the last
 * LOG_CAPTURE_MAX_LINES survive with a marker saying how many were dropped;
 * nothing is captured outside begin/end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/log/log.h"

#define T0 (1760522760LL * 1000000LL) /* 2025-10-15T10:06:00Z */

static int setup(void **state) {
    (void)state;
    log_set_time_override(T0);
    log_set_level(LOG_ERROR); /* keep the test output quiet: capture ignores it */
    return 0;
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

static void test_keeps_own_and_process_lines(void **state) {
    (void)state;
    log_capture_begin("orders", "full");
    log_info("orders", "full", "mine %d", 1);
    log_info("orders", NULL, "pipeline-wide");
    log_info(NULL, NULL, "process-wide");
    log_info("customers", "full", "someone else's");
    log_info("orders", "delta", "another strategy");
    log_debug("orders", "full", "too detailed");
    log_capture_add(LOG_WARN, "orders", "full", "only in the capture");
    char *out = log_capture_end();
    assert_non_null(out);
    assert_string_equal(out,
                        "2025-10-15T10:06:00Z info orders:full mine 1\n"
                        "2025-10-15T10:06:00Z info orders:- pipeline-wide\n"
                        "2025-10-15T10:06:00Z info -:- process-wide\n"
                        "2025-10-15T10:06:00Z warn orders:full only in the capture\n");
    free(out);
    /* after the end nothing is kept */
    log_info("orders", "full", "later");
    assert_null(log_capture_end());
}

static void test_ring_keeps_the_last_lines(void **state) {
    (void)state;
    log_capture_begin("p", "s");
    for (int i = 1; i <= LOG_CAPTURE_MAX_LINES + 100; i++) log_info("p", "s", "line %d", i);
    char *out = log_capture_end();
    assert_non_null(out);
    assert_int_equal(count_lines(out), LOG_CAPTURE_MAX_LINES + 1);
    assert_true(strncmp(out, "... 100 earlier lines dropped ...\n", 34) == 0);
    assert_non_null(strstr(out, " line 101\n"));
    assert_null(strstr(out, " line 100\n"));
    assert_non_null(strstr(out, " line 600\n"));
    free(out);
}

static void test_begin_drops_what_an_earlier_capture_left(void **state) {
    (void)state;
    log_capture_begin("p", "s");
    log_info("p", "s", "old run");
    log_capture_begin("p", "s");
    log_info("p", "s", "new run");
    char *out = log_capture_end();
    assert_string_equal(out, "2025-10-15T10:06:00Z info p:s new run\n");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_keeps_own_and_process_lines, setup),
        cmocka_unit_test_setup(test_ring_keeps_the_last_lines, setup),
        cmocka_unit_test_setup(test_begin_drops_what_an_earlier_capture_left, setup),
    };
    return cmocka_run_group_tests_name("log_capture", tests, NULL, NULL);
}
