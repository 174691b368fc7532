/*
 * json writer — compact JSON into a growable buffer (see json.h).
 *
 * The writer keeps one "needs a comma" flag per nesting level; every value
 * or key first emits a comma if its level already holds something. A key
 * clears the flag for the value that follows it. Allocation failure sets
 * `failed` and turns every later call into a no-op, so callers check once.
 *
 * Why this is not jansson's encoder (issue 22 asks for the library unless a
 * measured reason says otherwise; the reader is jansson). Measured with
 * bench/bench_json.c on 100,000 runs of `history --json` (44 MB of output,
 * each object written by state_run_write_json), medians of 5 interleaved
 * runs on the shared 2-core VM at load 5, commit 52803e1:
 *   - memory: this writer's peak RSS grows 42.7 MiB (the output buffer);
 *     a jansson tree + json_dumps() grows 392.6 MiB (9.2x): json.h's
 *     begin/end API can only be put on jansson by building the whole tree
 *     until the outer array closes, then encoding it;
 *   - time: 395 ms against 1088 ms (2.8x; 4.6x in a second run);
 *   - bytes: jansson cannot print what our vocabulary fixes. It prints an
 *     integral real as 4.0 (we print 4; `duration_s` is "%.3f" via
 *     json_kv_seconds), escapes control characters as \u001F and \b/\f
 *     (we print \u001f, \u0008), and json_string() returns NULL for text
 *     that is not valid UTF-8, so a field taken from a database error
 *     would silently vanish from the object.
 * So the streaming writer stays: every figure above favours it, and its
 * output is a contract the CLI, the API and the dashboard share.
 *
 * Link note: jansson exports json_string() and json_null() as well; the
 * ones in this file win in every synctool binary, so synctool code must
 * never call jansson's (json_read.c does not).
 */
#include "json.h"

#include "../time/st_time.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_init(json_writer *w) { memset(w, 0, sizeof *w); }

void json_release(json_writer *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static void put(json_writer *w, const char *s, size_t n) {
    if (w->failed) return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1) cap *= 2;
        char *nb = realloc(w->buf, cap);
        if (nb == NULL) {
            w->failed = true;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void puts_(json_writer *w, const char *s) { put(w, s, strlen(s)); }

static void separate(json_writer *w) {
    if (w->need_comma[w->depth]) put(w, ",", 1);
    w->need_comma[w->depth] = true;
}

static void open_(json_writer *w, const char *c) {
    separate(w);
    put(w, c, 1);
    if (w->depth < 63) w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_(json_writer *w, const char *c) {
    if (w->depth > 0) w->depth--;
    put(w, c, 1);
}

void json_begin_object(json_writer *w) { open_(w, "{"); }
void json_end_object(json_writer *w) { close_(w, "}"); }
void json_begin_array(json_writer *w) { open_(w, "["); }
void json_end_array(json_writer *w) { close_(w, "]"); }

/* The length of the run of s that needs no escape (up to its NUL, a '"',
 * a '\\' or a control character): strlen, then eight bytes at a time
 * while no byte of the word is one of those (the "has a byte less than"
 * word test); /pipelines writes ~20 MB of such runs at 10,000 pipelines
 * (issue 25). */
static size_t plain_len(const char *s) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t len = strlen(s), n = 0;
    for (; n + 8 <= len; n += 8) {
        uint64_t x;
        memcpy(&x, s + n, 8);
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        uint64_t hit = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);
        if (hit & highs) break;
    }
    const unsigned char *p = (const unsigned char *)s + n;
    while (*p >= 0x20 && *p != '"' && *p != '\\') p++;
    return (size_t)(p - (const unsigned char *)s);
}

/* A string with nothing to escape (keys, names, instants: nearly all of
 * them) goes out quoted, with `tail` (":" after a key), in one copy when
 * the buffer has room: /pipelines writes ~20 MB at 10,000 pipelines, and
 * three puts per key were a tenth of its time (issue 25). */
static bool quoted_plain(json_writer *w, const char *s, const char *tail, size_t ntail) {
    size_t n = plain_len(s);
    if (s[n] != '\0' || w->failed) return false;
    if (w->len + n + 3 + ntail > w->cap) return false;
    char *o = w->buf + w->len;
    *o++ = '"';
    memcpy(o, s, n);
    o += n;
    *o++ = '"';
    memcpy(o, tail, ntail);
    w->len += n + 2 + ntail;
    w->buf[w->len] = '\0';
    return true;
}

/* Otherwise runs of characters that need no escape go out in one put (a
 * put per character was a fifth of /pipelines). */
static void quoted(json_writer *w, const char *s) {
    if (quoted_plain(w, s, "", 0)) return;
    put(w, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        p += plain_len((const char *)p);
        if (p > run) put(w, (const char *)run, (size_t)(p - run));
        if (*p == '\0') break;
        char esc[8];
        switch (*p) {
        case '"': puts_(w, "\\\""); break;
        case '\\': puts_(w, "\\\\"); break;
        case '\n': puts_(w, "\\n"); break;
        case '\r': puts_(w, "\\r"); break;
        case '\t': puts_(w, "\\t"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(w, esc);
        }
        p++;
    }
    put(w, "\"", 1);
}

void json_key(json_writer *w, const char *key) {
    separate(w);
    if (!quoted_plain(w, key, ":", 1)) {
        quoted(w, key);
        put(w, ":", 1);
    }
    w->need_comma[w->depth] = false;
}

void json_string(json_writer *w, const char *s) {
    separate(w);
    if (s == NULL)
        puts_(w, "null");
    else
        quoted(w, s);
}

/* Digits by hand: snprintf was a tenth of /pipelines at 10,000 pipelines. */
void json_int(json_writer *w, int64_t v) {
    char b[24];
    char *e = b + sizeof b, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) *--p = '-';
    separate(w);
    put(w, p, (size_t)(e - p));
}

/* Most doubles we write are whole milliseconds in seconds (ages,
 * durations: ms / 1000.0). When v is the double nearest to m / 1000 for an
 * integer m of at most 15 digits, "%.15g" prints exactly m / 1000 in
 * decimal without trailing zeros (the double is within 1e-16 of it,
 * far inside 15 digits' rounding), so it is written here digit by digit:
 * printf's float formatting was a twentieth of /pipelines. false: not such
 * a value (printf decides). */
static bool millis_text(double v, char *b) {
    if (!(v > -1e12 && v < 1e12) || (v == 0 && signbit(v))) return false;
    double r = v * 1000.0;
    long long m = (long long)(r < 0 ? r - 0.5 : r + 0.5);
    if ((double)m / 1000.0 != v) return false;
    unsigned long long u = m < 0 ? (unsigned long long)-m : (unsigned long long)m;
    unsigned long long whole = u / 1000, frac = u % 1000;
    char d[24], *e = d + sizeof d, *p = e;
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    char *o = b;
    if (m < 0) *o++ = '-';
    memcpy(o, p, (size_t)(e - p));
    o += e - p;
    if (frac) {
        *o++ = '.';
        *o++ = (char)('0' + frac / 100);
        if (frac % 100) *o++ = (char)('0' + frac / 10 % 10);
        if (frac % 10) *o++ = (char)('0' + frac % 10);
    }
    *o = '\0';
    return true;
}

/* 15 significant digits: a duration of 0.009 s prints as 0.009, not as
 * 0.0089999999999999993 (17 digits round-trip every double but read badly). */
void json_double(json_writer *w, double v) {
    char b[64];
    if (!isfinite(v))
        snprintf(b, sizeof b, "null");
    else if (!millis_text(v, b))
        snprintf(b, sizeof b, "%.15g", v);
    separate(w);
    puts_(w, b);
}

void json_bool(json_writer *w, bool v) {
    separate(w);
    puts_(w, v ? "true" : "false");
}

void json_null(json_writer *w) {
    separate(w);
    puts_(w, "null");
}

void json_time(json_writer *w, int64_t t) {
    if (t == ST_TIME_NONE) {
        json_null(w);
        return;
    }
    char b[40];
    st_time_format(t, b, sizeof b);
    json_string(w, b);
}

void json_kv_string(json_writer *w, const char *key, const char *s) {
    json_key(w, key);
    json_string(w, s);
}

void json_kv_text(json_writer *w, const char *key, const char *s) {
    json_key(w, key);
    json_string(w, s && s[0] ? s : NULL);
}

void json_kv_seconds(json_writer *w, const char *key, double seconds) {
    json_key(w, key);
    if (!isfinite(seconds) || seconds < 0) {
        json_null(w);
        return;
    }
    char b[64];
    snprintf(b, sizeof b, "%.3f", seconds);
    separate(w);
    puts_(w, b);
}

void json_kv_int(json_writer *w, const char *key, int64_t v) {
    json_key(w, key);
    json_int(w, v);
}

void json_kv_bool(json_writer *w, const char *key, bool v) {
    json_key(w, key);
    json_bool(w, v);
}

void json_kv_time(json_writer *w, const char *key, int64_t t) {
    json_key(w, key);
    json_time(w, t);
}
