/*
 * test_json — the strict RFC 8259 reader (json_parse / json_get / json_free)
 * and a writer -> reader round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/json/json.h"

static json_value *parse_ok(const char *text) {
    json_value *v = NULL;
    st_error err;
    int rc = json_parse(&v, text, strlen(text), &err);
    if (rc != ST_OK) fail_msg("parse of %s failed: %s", text, err.msg);
    return v;
}

static void test_scalars(void **s) {
    (void)s;
    json_value *v = parse_ok(" true ");
    assert_int_equal(v->type, JSON_BOOL);
    assert_true(v->boolean);
    json_free(v);
    v = parse_ok("null");
    assert_int_equal(v->type, JSON_NULL);
    json_free(v);
    v = parse_ok("-0");
    assert_int_equal(v->type, JSON_NUMBER);
    assert_true(v->is_integer);
    json_free(v);
    v = parse_ok("1760522760000000");
    assert_true(v->is_integer);
    assert_true(v->integer == 1760522760000000LL);
    json_free(v);
    v = parse_ok("-2.5e-1");
    assert_false(v->is_integer);
    assert_true(v->number == -0.25);
    json_free(v);
    v = parse_ok("2.0");
    assert_true(v->is_integer);
    assert_int_equal(v->integer, 2);
    json_free(v);
    v = parse_ok("99999999999999999999");
    assert_false(v->is_integer); /* does not fit in int64 */
    json_free(v);
}

static void test_strings_and_escapes(void **s) {
    (void)s;
    json_value *v = parse_ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"");
    assert_string_equal(v->string, "a\"b\\c/d\b\f\n\r\t");
    json_free(v);
    v = parse_ok("\"\\u00e9\\u20AC\"");
    assert_string_equal(v->string, "\xc3\xa9\xe2\x82\xac"); /* é € */
    json_free(v);
    v = parse_ok("\"\\ud83d\\ude00\""); /* U+1F600 as a surrogate pair */
    assert_string_equal(v->string, "\xf0\x9f\x98\x80");
    json_free(v);
    v = parse_ok("\"raw \xc3\xa9 utf8\"");
    assert_string_equal(v->string, "raw \xc3\xa9 utf8");
    json_free(v);
}

static void test_containers_and_get(void **s) {
    (void)s;
    json_value *v = parse_ok("[{\"pipeline\": \"orders\", \"n\": [1, 2, {}], \"x\": null}, []]");
    assert_int_equal(v->type, JSON_ARRAY);
    assert_int_equal(v->n, 2);
    const json_value *o = v->items[0];
    assert_int_equal(o->type, JSON_OBJECT);
    assert_string_equal(json_get(o, "pipeline")->string, "orders");
    assert_int_equal(json_get(o, "n")->n, 3);
    assert_int_equal(json_get(o, "x")->type, JSON_NULL);
    assert_null(json_get(o, "missing"));
    assert_null(json_get(v, "pipeline")); /* not an object */
    assert_null(json_get(NULL, "pipeline"));
    assert_int_equal(v->items[1]->n, 0);
    json_free(v);
    json_free(NULL);
}

static void expect_error(const char *text, size_t len, const char *msg) {
    json_value *v = (json_value *)0x1;
    st_error err;
    assert_int_equal(json_parse(&v, text, len, &err), ST_EINVAL);
    assert_null(v);
    if (strstr(err.msg, msg) == NULL) fail_msg("'%s': got '%s', want '%s'", text, err.msg, msg);
}

static void test_malformed(void **s) {
    (void)s;
    static const struct { const char *text, *msg; } cases[] = {
        {"", "json: at byte 0: unexpected end of input, expected a value"},
        {"   ", "at byte 3: unexpected end of input"},
        {"[1,]", "at byte 3: expected a value"},
        {"[1 2]", "at byte 3: expected ',' or ']' in array"},
        {"{\"a\" 1}", "at byte 5: expected ':' after object key"},
        {"{\"a\":1,}", "at byte 7: expected a string key"},
        {"{'a':1}", "at byte 1: expected a string key"},
        {"{\"a\":1 \"b\":2}", "at byte 7: expected ',' or '}' in object"},
        {"{\"a\":1,\"a\":2}", "at byte 7: duplicate key 'a'"},
        {"01", "at byte 1: leading zero in number"},
        {"1.", "at byte 2: expected a digit after '.'"},
        {"1e", "at byte 2: expected a digit in exponent"},
        {"-", "at byte 1: expected a digit"},
        {".5", "at byte 0: expected a value"},
        {"NaN", "at byte 0: expected a value"},
        {"tru", "at byte 0: expected a value"},
        {"true false", "at byte 5: unexpected trailing content after the value"},
        {"\"abc", "at byte 4: unterminated string"},
        {"\"a\tb\"", "at byte 2: control character in string"},
        {"\"\\x\"", "at byte 2: invalid escape '\\x'"},
        {"\"\\u12\"", "expected 4 hex digits after \\u"},
        {"\"\\ud83d\"", "high surrogate not followed by a low surrogate"},
        {"\"\\ud83d\\u0041\"", "high surrogate not followed by a low surrogate"},
        {"\"\\ude00\"", "lone low surrogate"},
        {"\"\\u0000\"", "\\u0000 is not supported"},
        {"\"\xc3\"", "at byte 1: invalid UTF-8"},
        {"\"\xc0\xaf\"", "at byte 1: invalid UTF-8"},       /* overlong */
        {"\"\xed\xa0\x80\"", "at byte 1: invalid UTF-8"},   /* encoded surrogate */
        {"/* c */ 1", "at byte 0: expected a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].text, strlen(cases[i].text), cases[i].msg);
    expect_error("[1]\0", 4, "at byte 3: NUL byte in input");
}

static void test_depth_limit(void **s) {
    (void)s;
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    json_value *v;
    st_error err;
    assert_int_equal(json_parse(&v, deep, 600, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "at byte 256: nesting deeper than 256 levels"));
    /* 256 levels are fine */
    assert_int_equal(json_parse(&v, deep + 44, 512, &err), ST_OK);
    json_free(v);
}

static void test_writer_roundtrip(void **s) {
    (void)s;
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    json_begin_object(&w);
    json_kv_string(&w, "msg", "quote \" backslash \\ tab \t ctl \x01 \xe2\x82\xac");
    json_kv_int(&w, "big", INT64_MAX);
    json_kv_time(&w, "none", INT64_MIN);
    json_kv_bool(&w, "ok", true);
    json_end_object(&w);
    json_end_array(&w);
    assert_false(w.failed);
    json_value *v = parse_ok(w.buf);
    const json_value *o = v->items[0];
    assert_string_equal(json_get(o, "msg")->string,
                        "quote \" backslash \\ tab \t ctl \x01 \xe2\x82\xac");
    assert_true(json_get(o, "big")->integer == INT64_MAX);
    assert_int_equal(json_get(o, "none")->type, JSON_NULL);
    assert_true(json_get(o, "ok")->boolean);
    json_free(v);
    json_release(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_strings_and_escapes),
        cmocka_unit_test(test_containers_and_get),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_writer_roundtrip),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
