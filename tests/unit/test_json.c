/*
 * test_json — the strict RFC 8259 reader (json_parse / json_get / json_free,
 * jansson underneath: its messages, plus our NUL, depth and duplicate-key
 * rules) and a writer -> reader round trip.
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
    v = parse_ok("-9223372036854775808");
    assert_true(v->is_integer);
    assert_true(v->integer == INT64_MIN);
    json_free(v);
    v = parse_ok("1e300");
    assert_false(v->is_integer);
    assert_true(v->number == 1e300);
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
    /* jansson's wording; the offset is where it stopped (after the token). */
    static const struct { const char *text, *msg; } cases[] = {
        {"", "json: at byte 0 (line 1, column 0): unexpected token near end of file"},
        {"   ", "at byte 3 (line 1, column 3): unexpected token near end of file"},
        {"[1,]", "at byte 4 (line 1, column 4): unexpected token near ']'"},
        {"[1 2]", "at byte 4 (line 1, column 4): ']' expected near '2'"},
        {"{\"a\" 1}", "at byte 6 (line 1, column 6): ':' expected near '1'"},
        {"{\"a\":1,}", "at byte 8 (line 1, column 8): string or '}' expected near '}'"},
        {"{'a':1}", "string or '}' expected near '''"},
        {"{\"a\":1 \"b\":2}", "'}' expected near '\"b\"'"},
        {"{\"a\":1,\"a\":2}", "at byte 10 (line 1, column 10): duplicate object key near '\"a\"'"},
        {"{\"a\":{\"b\":1,\"b\":1}}", "duplicate object key near '\"b\"'"},
        {"[1,\n 2\n 3]", "at byte 9 (line 3, column 2): ']' expected near '3'"},
        {"01", "invalid token near '0'"},
        {"1.", "invalid token near '1.'"},
        {"1e", "invalid token near '1e'"},
        {"-", "invalid token near '-'"},
        {".5", "invalid token near '.'"},
        {"NaN", "invalid token near 'NaN'"},
        {"tru", "invalid token near 'tru'"},
        {"true false", "end of file expected near 'false'"},
        {"\"abc", "premature end of input near '\"abc'"},
        {"\"a\tb\"", "at byte 2 (line 1, column 2): control character 0x9"},
        {"\"\\x\"", "invalid escape near '\"\\x'"},
        {"\"\\u12\"", "invalid escape near '\"\\u12\"'"},
        {"\"\\ud83d\"", "invalid Unicode '\\uD83D'"},                 /* lone high surrogate */
        {"\"\\ud83d\\u0041\"", "invalid Unicode '\\uD83D\\u0041'"},
        {"\"\\ude00\"", "invalid Unicode '\\uDE00'"},                 /* lone low surrogate */
        {"\"\\u0000\"", "\\u0000 is not allowed"},
        {"\"\xc3\"", "at byte 1 (line 1, column 1): unable to decode byte 0xc3"},
        {"\"\xc0\xaf\"", "unable to decode byte 0xc0"},              /* overlong */
        {"\"\xed\xa0\x80\"", "unable to decode byte 0xed"},          /* encoded surrogate */
        {"{\"k\xc3\":1}", "unable to decode byte 0xc3"},             /* in a key too */
        {"/* c */ 1", "invalid token near '/'"},
        {"99999999999999999999", "too big integer"},                 /* never a lossy double */
        {"1e400", "real number overflow"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].text, strlen(cases[i].text), cases[i].msg);
    expect_error("[1]\0", 4, "json: at byte 3: NUL byte in input");
    expect_error("[1,\0 2]", 7, "json: at byte 3: NUL byte in input");
}

static void test_depth_limit(void **s) {
    (void)s;
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    json_value *v;
    st_error err;
    assert_int_equal(json_parse(&v, deep, 600, &err), ST_EINVAL);
    assert_string_equal(err.msg, "json: nesting deeper than 256 levels");
    /* 256 levels are fine, objects count as arrays do */
    assert_int_equal(json_parse(&v, deep + 44, 512, &err), ST_OK);
    json_free(v);
    deep[299] = '{';
    deep[300] = '}';
    assert_int_equal(json_parse(&v, deep + 44, 512, &err), ST_OK);
    json_free(v);
    assert_int_equal(json_parse(&v, deep + 43, 514, &err), ST_EINVAL);
    /* beyond jansson's own limit (2048): its message, no crash */
    size_t n = 6000;
    char *deeper = malloc(n);
    assert_non_null(deeper);
    memset(deeper, '[', n / 2);
    memset(deeper + n / 2, ']', n / 2);
    assert_int_equal(json_parse(&v, deeper, n, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "maximum parsing depth reached"));
    free(deeper);
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

/* The writer puts runs of plain characters at once (issue 25): escapes at
 * the start, the end, side by side and between runs come out exactly. */
static void test_writer_escapes_between_runs(void **s) {
    (void)s;
    static const struct { const char *in, *out; } cases[] = {
        {"", "\"\""},
        {"plain text", "\"plain text\""},
        {"\"start", "\"\\\"start\""},
        {"end\\", "\"end\\\\\""},
        {"\n\r\t\x1f", "\"\\n\\r\\t\\u001f\""},
        {"a\"\"b\n\nc", "\"a\\\"\\\"b\\n\\nc\""},
        {"\xe2\x82\xac \x7f~", "\"\xe2\x82\xac \x7f~\""},
    };
    json_writer n;
    json_init(&n);
    json_begin_array(&n);
    json_int(&n, 0);
    json_int(&n, -7);
    json_int(&n, INT64_MAX);
    json_int(&n, INT64_MIN);
    json_end_array(&n);
    assert_string_equal(n.buf, "[0,-7,9223372036854775807,-9223372036854775808]");
    json_release(&n);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_writer w;
        json_init(&w);
        json_string(&w, cases[i].in);
        assert_false(w.failed);
        assert_string_equal(w.buf, cases[i].out);
        json_release(&w);
    }
}

/* Word-at-a-time scanning: a character to escape at every position of
 * strings of every length up to 40, beside bytes >= 0x80, is found. */
static void test_writer_escape_at_every_position(void **s) {
    (void)s;
    static const char specials[] = {'"', '\\', '\n', '\x01', '\x1f'};
    static const char *const escaped[] = {"\\\"", "\\\\", "\\n", "\\u0001", "\\u001f"};
    for (size_t len = 1; len <= 40; len++)
        for (size_t k = 0; k < len; k++)
            for (size_t c = 0; c < sizeof specials; c++) {
                char in[48], want[96];
                for (size_t i = 0; i < len; i++) in[i] = i % 3 ? 'a' + (char)(i % 26) : '\xe9';
                in[k] = specials[c];
                in[len] = '\0';
                snprintf(want, sizeof want, "\"%.*s%s%s\"", (int)k, in, escaped[c], in + k + 1);
                json_writer w;
                json_init(&w);
                json_string(&w, in);
                assert_string_equal(w.buf, want);
                json_release(&w);
            }
}

/* json_double prints what "%.15g" prints, whether it takes the fast path
 * for whole milliseconds or not (issue 25). */
static void expect_double(double v) {
    json_writer w;
    json_init(&w);
    json_double(&w, v);
    char want[64];
    snprintf(want, sizeof want, "%.15g", v);
    if (strcmp(w.buf, want) != 0) fail_msg("json_double(%.17g): %s, want %s", v, w.buf, want);
    json_release(&w);
}

static void test_writer_doubles_as_printf(void **s) {
    (void)s;
    for (long long m = -30000; m <= 30000; m++) expect_double((double)m / 1000.0);
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long long m = (long long)(x % 1000000000000000ULL) >> (i % 50);
        expect_double((double)m / 1000.0);
        expect_double((double)(x >> 11) / (double)(1ULL << 53) * 1e6);   /* not millis */
        expect_double((double)m / 7.0);
    }
    double odd[] = {0.0, -0.0, 1e-5, 0.0005, 0.1, 0.3, 1e11, 999999999999.999, 1e12, -1e12,
                    1e15, 123456789012.345, 0.1 + 0.2, 24243364.269, 1e-300};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) expect_double(odd[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_escapes_between_runs),
        cmocka_unit_test(test_writer_doubles_as_printf),
        cmocka_unit_test(test_writer_escape_at_every_position),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_strings_and_escapes),
        cmocka_unit_test(test_containers_and_get),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_writer_roundtrip),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
