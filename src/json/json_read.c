/*
 * json reader — a strict RFC 8259 parser into a tree of json_value nodes.
 *
 * A recursive-descent parser over (text, len): the input need not be NUL
 * terminated and may not contain NUL bytes. It accepts exactly RFC 8259 —
 * no comments, no trailing commas, no single quotes, no leading zeros, no
 * NaN/Infinity, no bare control characters in strings, no invalid UTF-8,
 * no lone surrogates, nothing but whitespace after the value — and nests at
 * most JSON_MAX_DEPTH arrays/objects deep so hostile input cannot exhaust
 * the stack. Duplicate object keys are rejected: import files are data an
 * operator wrote, and "the second one silently wins" hides mistakes.
 *
 * Every error names the byte offset and what was expected ("json: at byte
 * 17: expected ':' after object key"). \u escapes (with surrogate pairs)
 * become UTF-8; \u0000 is refused because strings are C strings.
 *
 * Ownership: json_parse() returns a root that owns every node, key and
 * string below it; json_free(root) releases all of it (NULL is a no-op).
 */
#include "json.h"
#include "../strbuf/strbuf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

typedef struct parser {
    const char *s;
    size_t len, pos;
    int depth;
    st_error *err;
} parser;

static int fail(parser *p, const char *fmt, const char *what) {
    char buf[256];
    snprintf(buf, sizeof buf, fmt, what);
    return st_error_set(p->err, ST_EINVAL, "json: at byte %zu: %s", p->pos, buf);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int peek(parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static json_value *new_value(json_type t) {
    json_value *v = calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

void json_free(json_value *v) {
    if (v == NULL) return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

static int parse_value(parser *p, json_value **out);

/* --- literals and numbers --- */

static int parse_literal(parser *p, json_value **out) {
    static const struct { const char *word; json_type t; bool b; } lits[] = {
        {"true", JSON_BOOL, true}, {"false", JSON_BOOL, false}, {"null", JSON_NULL, false}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i].word);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, lits[i].word, n) == 0) {
            if ((*out = new_value(lits[i].t)) == NULL)
                return st_error_set(p->err, ST_ENOMEM, "json: out of memory");
            (*out)->boolean = lits[i].b;
            p->pos += n;
            return ST_OK;
        }
    }
    return fail(p, "expected a value%s", "");
}

static size_t digits(parser *p) {
    size_t n = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        p->pos++;
        n++;
    }
    return n;
}

/* Checks the RFC 8259 number grammar, then converts with strtod/strtoll. */
static int parse_number(parser *p, json_value **out) {
    size_t start = p->pos;
    bool integral = true;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
        if (peek(p) >= '0' && peek(p) <= '9') return fail(p, "leading zero in number%s", "");
    } else if (digits(p) == 0) {
        return fail(p, "expected a digit%s", "");
    }
    if (peek(p) == '.') {
        p->pos++;
        integral = false;
        if (digits(p) == 0) return fail(p, "expected a digit after '.'%s", "");
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        integral = false;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (digits(p) == 0) return fail(p, "expected a digit in exponent%s", "");
    }
    char buf[400];
    size_t n = p->pos - start;
    if (n >= sizeof buf) return fail(p, "number too long%s", "");
    memcpy(buf, p->s + start, n);
    buf[n] = '\0';
    json_value *v = new_value(JSON_NUMBER);
    if (v == NULL) return st_error_set(p->err, ST_ENOMEM, "json: out of memory");
    v->number = strtod(buf, NULL);
    if (integral) {
        errno = 0;
        long long ll = strtoll(buf, NULL, 10);
        v->is_integer = errno == 0;
        v->integer = ll;
    } else if (isfinite(v->number) && v->number == floor(v->number) &&
               fabs(v->number) < 9007199254740992.0) {
        v->is_integer = true;
        v->integer = (int64_t)v->number;
    }
    *out = v;
    return ST_OK;
}

/* --- strings --- */


static int hex4(parser *p, unsigned *out) {
    if (p->len - p->pos < 4) return fail(p, "expected 4 hex digits after \\u%s", "");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return fail(p, "expected 4 hex digits after \\u%s", "");
        v = v * 16 + d;
    }
    p->pos += 4;
    *out = v;
    return ST_OK;
}

static size_t utf8_encode(unsigned cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* \uXXXX, possibly the high half of a surrogate pair (p->pos is after 'u'). */
static int parse_unicode_escape(parser *p, strbuf *sb) {
    unsigned cp, lo;
    int rc = hex4(p, &cp);
    if (rc != ST_OK) return rc;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "lone low surrogate in \\u escape%s", "");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail(p, "high surrogate not followed by a low surrogate%s", "");
        p->pos += 2;
        if ((rc = hex4(p, &lo)) != ST_OK) return rc;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(p, "high surrogate not followed by a low surrogate%s", "");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) return fail(p, "\\u0000 is not supported in strings%s", "");
    char o[4];
    return strbuf_put(sb, o, utf8_encode(cp, o));
}

static int parse_escape(parser *p, strbuf *sb) {
    if (p->pos >= p->len) return fail(p, "unterminated string%s", "");
    char c = p->s[p->pos++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) return strbuf_put(sb, &to[hit - from], 1);
    if (c == 'u') return parse_unicode_escape(p, sb);
    p->pos--;
    return fail(p, "invalid escape '\\%.1s'", &p->s[p->pos]);
}

/* Length of the valid UTF-8 sequence at p->pos, 0 if invalid. */
static size_t utf8_valid(const parser *p) {
    const unsigned char *s = (const unsigned char *)p->s + p->pos;
    size_t left = p->len - p->pos;
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; min = 0x10000; }
    else return 0;
    if (left < n) return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* A string token (p->pos at the opening quote) into a malloc'ed C string. */
static int parse_string_raw(parser *p, char **out) {
    strbuf sb = {0};
    int rc = strbuf_put(&sb, "", 0);
    p->pos++;
    while (rc == ST_OK) {
        if (p->pos >= p->len) {
            rc = fail(p, "unterminated string%s", "");
            break;
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            *out = sb.s;
            return ST_OK;
        }
        if (c == '\\') {
            p->pos++;
            rc = parse_escape(p, &sb);
        } else if (c < 0x20) {
            rc = fail(p, "control character in string (escape it)%s", "");
        } else {
            size_t n = utf8_valid(p);
            if (n == 0) rc = fail(p, "invalid UTF-8 in string%s", "");
            else rc = strbuf_put(&sb, p->s + p->pos, n), p->pos += n;
        }
    }
    if (rc == ST_ENOMEM) st_error_set(p->err, ST_ENOMEM, "json: out of memory");
    strbuf_release(&sb);
    return rc;
}

static int parse_string(parser *p, json_value **out) {
    char *s;
    int rc = parse_string_raw(p, &s);
    if (rc != ST_OK) return rc;
    if ((*out = new_value(JSON_STRING)) == NULL) {
        free(s);
        return st_error_set(p->err, ST_ENOMEM, "json: out of memory");
    }
    (*out)->string = s;
    return ST_OK;
}

/* --- arrays and objects --- */

static int append(json_value *v, char *key, json_value *item) {
    char **nk = NULL;
    json_value **ni = realloc(v->items, (v->n + 1) * sizeof *ni);
    if (ni == NULL) return ST_ENOMEM;
    v->items = ni;
    if (v->type == JSON_OBJECT) {
        if ((nk = realloc(v->keys, (v->n + 1) * sizeof *nk)) == NULL) return ST_ENOMEM;
        v->keys = nk;
        v->keys[v->n] = key;
    }
    v->items[v->n++] = item;
    return ST_OK;
}

static int parse_member(parser *p, json_value *obj) {
    skip_ws(p);
    if (peek(p) != '"') return fail(p, "expected a string key%s", "");
    size_t key_at = p->pos;
    char *key;
    int rc = parse_string_raw(p, &key);
    if (rc != ST_OK) return rc;
    if (json_get(obj, key) != NULL) {
        p->pos = key_at;
        rc = fail(p, "duplicate key '%s'", key);
        free(key);
        return rc;
    }
    skip_ws(p);
    if (peek(p) != ':') {
        free(key);
        return fail(p, "expected ':' after object key%s", "");
    }
    p->pos++;
    json_value *val = NULL;
    if ((rc = parse_value(p, &val)) != ST_OK) {
        free(key);
        return rc;
    }
    if (append(obj, key, val) != ST_OK) {
        free(key);
        json_free(val);
        return st_error_set(p->err, ST_ENOMEM, "json: out of memory");
    }
    return ST_OK;
}

static int parse_container(parser *p, json_value **out, bool object) {
    if (++p->depth > JSON_MAX_DEPTH) return fail(p, "nesting deeper than 256 levels%s", "");
    char close = object ? '}' : ']';
    json_value *v = new_value(object ? JSON_OBJECT : JSON_ARRAY);
    if (v == NULL) return st_error_set(p->err, ST_ENOMEM, "json: out of memory");
    p->pos++;
    skip_ws(p);
    int rc = ST_OK;
    if (peek(p) == close) {
        p->pos++;
    } else {
        for (;;) {
            json_value *item = NULL;
            if (object) rc = parse_member(p, v);
            else if ((rc = parse_value(p, &item)) == ST_OK && append(v, NULL, item) != ST_OK) {
                json_free(item);
                rc = st_error_set(p->err, ST_ENOMEM, "json: out of memory");
            }
            if (rc != ST_OK) break;
            skip_ws(p);
            if (peek(p) == ',') { p->pos++; continue; }
            if (peek(p) == close) { p->pos++; break; }
            rc = object ? fail(p, "expected ',' or '}' in object%s", "")
                        : fail(p, "expected ',' or ']' in array%s", "");
            break;
        }
    }
    p->depth--;
    if (rc != ST_OK) {
        json_free(v);
        return rc;
    }
    *out = v;
    return ST_OK;
}

static int parse_value(parser *p, json_value **out) {
    skip_ws(p);
    int c = peek(p);
    if (c == -1) return fail(p, "unexpected end of input, expected a value%s", "");
    if (c == '{') return parse_container(p, out, true);
    if (c == '[') return parse_container(p, out, false);
    if (c == '"') return parse_string(p, out);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, out);
    return parse_literal(p, out);
}

int json_parse(json_value **out, const char *text, size_t len, st_error *err) {
    *out = NULL;
    parser p = {.s = text, .len = len, .err = err};
    if (memchr(text, '\0', len) != NULL) {
        p.pos = (size_t)((const char *)memchr(text, '\0', len) - text);
        return fail(&p, "NUL byte in input%s", "");
    }
    json_value *v = NULL;
    int rc = parse_value(&p, &v);
    if (rc != ST_OK) return rc;
    skip_ws(&p);
    if (p.pos != p.len) {
        json_free(v);
        return fail(&p, "unexpected trailing content after the value%s", "");
    }
    *out = v;
    return ST_OK;
}

const json_value *json_get(const json_value *v, const char *key) {
    if (v == NULL || v->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return v->items[i];
    return NULL;
}
