/*
 * test_strbuf — growable NUL-terminated strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../src/strbuf/strbuf.h"

static void test_appends_and_terminates(void **s) {
    (void)s;
    strbuf b = {0};
    assert_int_equal(strbuf_put(&b, "", 0), ST_OK);
    assert_string_equal(b.s, "");
    assert_int_equal(strbuf_put(&b, "abc", 3), ST_OK);
    assert_int_equal(strbuf_put(&b, "defXX", 3), ST_OK);
    assert_string_equal(b.s, "abcdef");
    assert_int_equal(b.len, 6);
    strbuf_release(&b);
    assert_null(b.s);
    assert_int_equal(b.len, 0);
    strbuf_release(NULL);
}

static void test_grows_past_many_doublings(void **s) {
    (void)s;
    strbuf b = {0};
    char chunk[100];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 1000; i++) assert_int_equal(strbuf_put(&b, chunk, sizeof chunk), ST_OK);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.s[b.len], '\0');
    assert_int_equal(strlen(b.s), 100000);
    strbuf_release(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_and_terminates),
        cmocka_unit_test(test_grows_past_many_doublings),
    };
    return cmocka_run_group_tests_name("strbuf", tests, NULL, NULL);
}
