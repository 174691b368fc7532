/*
 * test_dashboard — dashboard_asset(): the page and its files are compiled in
 * and found by path with the right content type; anything else (other
 * folders, "..", unknown names, a query string) is not found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "../../src/dashboard/dashboard.h"

static bool contains(const char *body, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(body + i, needle, n) == 0) return true;
    return false;
}

static void test_index_served_at_root(void **state) {
    (void)state;
    const char *body, *type;
    size_t len;
    assert_int_equal(dashboard_asset("/", &body, &len, &type), 0);
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_true(len > 100);
    assert_true(contains(body, len, "<title>synctool</title>"));
    /* no CDN: every script and stylesheet is served by the binary itself */
    assert_false(contains(body, len, "http://"));
    assert_false(contains(body, len, "https://"));
    const char *b2;
    size_t l2;
    assert_int_equal(dashboard_asset("/index.html", &b2, &l2, &type), 0);
    assert_ptr_equal(b2, body);
}

static void test_static_files(void **state) {
    (void)state;
    const char *body, *type;
    size_t len;
    assert_int_equal(dashboard_asset("/static/app.js", &body, &len, &type), 0);
    assert_string_equal(type, "text/javascript; charset=utf-8");
    assert_true(contains(body, len, "/api/v1/pipelines"));
    assert_int_equal(dashboard_asset("/static/app.css", &body, &len, &type), 0);
    assert_string_equal(type, "text/css; charset=utf-8");
}

static void test_unknown_paths_not_found(void **state) {
    (void)state;
    const char *body = NULL, *type = NULL;
    size_t len = 0;
    const char *bad[] = {"", "/static/", "/static/nope.js", "/static/../Makefile",
                         "/static/sub/app.js", "/app.js", "/index.htm", "/static/app.js?x=1",
                         "static/app.js", "/api/v1/pipelines", NULL};
    for (size_t i = 0; bad[i]; i++) assert_int_equal(dashboard_asset(bad[i], &body, &len, &type), -1);
    assert_int_equal(dashboard_asset(NULL, &body, &len, &type), -1);
    assert_null(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_served_at_root),
        cmocka_unit_test(test_static_files),
        cmocka_unit_test(test_unknown_paths_not_found),
    };
    return cmocka_run_group_tests_name("dashboard", tests, NULL, NULL);
}
