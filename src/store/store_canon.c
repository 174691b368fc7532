/*
 * store_canon — the canonical value representation, in C.
 *
 * Values cross engines as *canonical text*: one spelling per value and
 * kind (store_kind, from the config type), so rows from any two engines
 * compare with strcmp and hash to the same digest. A driver produces it
 * with SQL expressions where its engine can (PostgreSQL: store_pg.c) or with
 * C functions registered in the engine (SQLite's st_canon(), backed by the
 * functions here). THE RULES, byte for byte (a new driver, e.g. MySQL,
 * must produce exactly these; test_store.c pins every case):
 *
 *   NULL         SQL NULL, never a text.
 *   INT          decimal integer, '-' for negatives, no '+', no leading
 *                zeros: -42, 0, 9223372036854775807.
 *   NUMERIC      exact decimal, no exponent, no trailing fraction zeros,
 *                no '.' when integral, "0" for zero (never "-0"):
 *                5 (for 5.00), 12.5, -0.001, 123456789012345678901234.5.
 *                PostgreSQL: trim_scale(x)::text. A REAL holding a numeric
 *                (SQLite) prints its shortest round-trip digits this way.
 *   FLOAT        PostgreSQL's float8out with extra_float_digits >= 1: the
 *                shortest digits that read back as the same double
 *                (store_dtoa.c), plain when the decimal exponent e of the
 *                first digit is -4 <= e < 15, else d.ddde+XX / e-XX (at
 *                least two exponent digits): 0.1, 123456, 1e+20, 1.5e-05,
 *                -0, NaN, Infinity, -Infinity.
 *   BOOL         t or f.
 *   TIMESTAMPTZ  the instant in UTC, "YYYY-MM-DD HH:MM:SS" then, only when
 *                the microseconds are not zero, "." and the fraction without
 *                trailing zeros: 2025-10-15 08:00:00, 2025-10-15 08:00:00.5,
 *                2025-10-15 08:00:00.000001. PostgreSQL: (x AT TIME ZONE
 *                'UTC')::text with DateStyle ISO. Input text with an offset
 *                is converted to UTC; text without one is UTC.
 *   TIMESTAMP    the same form, the wall time as stored (no zone).
 *   DATE         YYYY-MM-DD.
 *   TEXT         the value's own UTF-8 text, unchanged.
 *
 * The time forms are what SQLite's date functions produce (datetime()),
 * so a SQLite copy stores them as they are and compares them correctly
 * with literals; fraction digits sort right without padding (".5" > ".25").
 * Hash text is canonical text (store.h). Earlier versions used
 * "2025-10-15T08:00:00.500000Z" for timestamps; store_canon_hash_time()
 * converts that spelling, and the text parser accepts it.
 *
 * Decimal rendering goes through one helper (digits + point position), so
 * text, integers and doubles share the trimming rules. Also here: the
 * string builder used by every SQL builder, the row-text escaping, key
 * comparison in engine order, and reduction modulo 2^64 of the decimal
 * checksum sums the engines return.
 */
#include "store.h"
#include "../time/st_time.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- String builder --- */

static void sb_grow(store_sb *b, size_t extra) {
    if (b->oom) return;
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (p == NULL) { b->oom = true; return; }
    b->s = p;
    b->cap = cap;
}

void store_sb_addn(store_sb *b, const char *s, size_t n) {
    sb_grow(b, n);
    if (b->oom) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void store_sb_add(store_sb *b, const char *s) { store_sb_addn(b, s, strlen(s)); }

void store_sb_addf(store_sb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = true; return; }
    sb_grow(b, (size_t)n);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void store_sb_free(store_sb *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

void store_sb_quote(store_sb *b, const char *name) {
    store_sb_add(b, "\"");
    for (const char *p = name; *p; p++) store_sb_addn(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    store_sb_add(b, "\"");
}

void store_sb_quote_list(store_sb *b, const char *const *names, size_t n) {
    store_sb_add(b, "(");
    for (size_t k = 0; k < n; k++) {
        if (k) store_sb_add(b, ", ");
        store_sb_quote(b, names[k]);
    }
    store_sb_add(b, ")");
}

void store_sb_rowvalue(store_sb *b, const char *v) {
    if (v == NULL) { store_sb_add(b, "\\N"); return; }
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '|') store_sb_addn(b, "\\", 1);
        store_sb_addn(b, p, 1);
    }
}

/* --- Kinds --- */

store_kind store_kind_of(const char *t) {
    char low[64];
    size_t i = 0;
    for (; t[i] && i < sizeof low - 1 && t[i] != '('; i++) low[i] = (char)tolower((unsigned char)t[i]);
    while (i > 0 && low[i - 1] == ' ') i--;
    low[i] = '\0';
    /* MySQL's "bigint unsigned", "int(10) unsigned": the kind of the base type */
    if (strstr(t, "unsigned") != NULL || strstr(t, "UNSIGNED") != NULL) {
        char *sp = strchr(low, ' ');
        if (sp) *sp = '\0';
    }
    static const struct { const char *name; store_kind k; } map[] = {
        {"bigint", STORE_K_INT}, {"int8", STORE_K_INT}, {"integer", STORE_K_INT},
        {"int", STORE_K_INT}, {"int4", STORE_K_INT}, {"smallint", STORE_K_INT},
        {"int2", STORE_K_INT}, {"numeric", STORE_K_NUMERIC}, {"decimal", STORE_K_NUMERIC},
        {"double precision", STORE_K_FLOAT}, {"float8", STORE_K_FLOAT},
        {"float", STORE_K_FLOAT}, {"real", STORE_K_FLOAT}, {"float4", STORE_K_FLOAT},
        {"boolean", STORE_K_BOOL}, {"bool", STORE_K_BOOL},
        {"timestamptz", STORE_K_TIMESTAMPTZ},
        {"timestamp with time zone", STORE_K_TIMESTAMPTZ},
        {"timestamp", STORE_K_TIMESTAMP}, {"timestamp without time zone", STORE_K_TIMESTAMP},
        {"date", STORE_K_DATE},
        /* MySQL spellings (store_mysql.c) */
        {"tinyint", STORE_K_INT}, {"mediumint", STORE_K_INT}, {"double", STORE_K_FLOAT},
        {"datetime", STORE_K_TIMESTAMP},
        {"time", STORE_K_TIME}, {"time without time zone", STORE_K_TIME},
        {"bytea", STORE_K_BYTES}, {"blob", STORE_K_BYTES}, {"binary", STORE_K_BYTES},
        {"varbinary", STORE_K_BYTES}, {"tinyblob", STORE_K_BYTES},
        {"mediumblob", STORE_K_BYTES}, {"longblob", STORE_K_BYTES},
    };
    for (size_t j = 0; j < sizeof map / sizeof map[0]; j++)
        if (strcmp(low, map[j].name) == 0) return map[j].k;
    return STORE_K_TEXT;
}

/* --- Decimal rendering --- */

/* Renders sign, digits D and point position pos (value = 0.D * 10^pos) as
 * plain decimal text, dropping leading/trailing zeros. */
static const char *render_decimal(bool neg, const char *d, int pos, char *buf, size_t n) {
    while (*d == '0') { d++; pos--; }
    size_t len = strlen(d);
    while (len > 0 && d[len - 1] == '0') len--;
    if (len == 0) { snprintf(buf, n, "0"); return buf; }
    store_sb b = {0};
    if (neg) store_sb_add(&b, "-");
    if (pos <= 0) {
        store_sb_add(&b, "0.");
        for (int i = 0; i < -pos; i++) store_sb_add(&b, "0");
        store_sb_addn(&b, d, len);
    } else if ((size_t)pos >= len) {
        store_sb_addn(&b, d, len);
        for (size_t i = len; i < (size_t)pos; i++) store_sb_add(&b, "0");
    } else {
        store_sb_addn(&b, d, (size_t)pos);
        store_sb_add(&b, ".");
        store_sb_addn(&b, d + pos, len - (size_t)pos);
    }
    const char *ret = NULL;
    if (!b.oom && b.len < n) { memcpy(buf, b.s, b.len + 1); ret = buf; }
    store_sb_free(&b);
    return ret;
}

/* Parses decimal text ("+001.50", "-1e3") into sign, digits and point. */
static bool parse_decimal(const char *in, bool *neg, char *d, size_t dn, int *pos) {
    const char *p = in;
    while (isspace((unsigned char)*p)) p++;
    *neg = false;
    if (*p == '+' || *p == '-') *neg = (*p++ == '-');
    size_t k = 0;
    int intdigits = 0;
    bool any = false, dot = false;
    for (; isdigit((unsigned char)*p) || (*p == '.' && !dot); p++) {
        if (*p == '.') { dot = true; continue; }
        if (k + 1 >= dn) return false;
        d[k++] = *p;
        any = true;
        if (!dot) intdigits++;
    }
    d[k] = '\0';
    if (!any) return false;
    long e = 0;
    if (*p == 'e' || *p == 'E') {
        char *end;
        errno = 0;
        e = strtol(p + 1, &end, 10);
        if (end == p + 1 || errno != 0 || e > 1000 || e < -1000) return false;
        p = end;
    }
    while (isspace((unsigned char)*p)) p++;
    if (*p != '\0') return false;
    *pos = intdigits + (int)e;
    return true;
}

const char *store_canon_int64(int64_t v, char *buf, size_t n) {
    snprintf(buf, n, "%lld", (long long)v);
    return buf;
}

/* Exponent form of the shortest digits, as float8out: 1.5e-05, 1e+20. */
static const char *render_exp(bool neg, const char *d, int e, char *buf, size_t n) {
    size_t len = strlen(d);
    snprintf(buf, n, "%s%c%s%.*se%c%02d", neg ? "-" : "", d[0], len > 1 ? "." : "",
             (int)(len > 1 ? len - 1 : 0), d + 1, e < 0 ? '-' : '+', e < 0 ? -e : e);
    return buf;
}

const char *store_canon_double(double v, store_kind kind, char *buf, size_t n) {
    if (isnan(v)) { snprintf(buf, n, "NaN"); return buf; }
    if (isinf(v)) { snprintf(buf, n, v < 0 ? "-Infinity" : "Infinity"); return buf; }
    if (kind == STORE_K_INT && v == floor(v) && fabs(v) < 9.2e18)
        return store_canon_int64((int64_t)v, buf, n);
    if (v == 0) {
        snprintf(buf, n, kind == STORE_K_FLOAT && signbit(v) ? "-0" : "0");
        return buf;
    }
    char d[STORE_DTOA_DIGITS];
    int e;
    store_dtoa_shortest(v, d, &e);
    if (kind != STORE_K_FLOAT || (e >= -4 && e < 15)) return render_decimal(signbit(v), d, e + 1, buf, n);
    return render_exp(signbit(v), d, e, buf, n);
}

const char *store_canon_time_us(int64_t t, store_kind kind, char *buf, size_t n) {
    int64_t days = t / (86400 * ST_USEC), rem = t % (86400 * ST_USEC);
    if (rem < 0) { rem += 86400 * ST_USEC; days--; }
    int64_t y;
    unsigned m, d;
    st_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) return NULL;
    if (kind == STORE_K_DATE) {
        snprintf(buf, n, "%04lld-%02u-%02u", (long long)y, m, d);
        return buf;
    }
    int64_t s = rem / ST_USEC, us = rem % ST_USEC;
    int len = snprintf(buf, n, "%04lld-%02u-%02u %02lld:%02lld:%02lld", (long long)y, m, d,
                       (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
    if (us != 0 && len > 0 && (size_t)len + 8 <= n) {
        int digits = 6;
        while (us % 10 == 0) { us /= 10; digits--; }
        snprintf(buf + len, n - (size_t)len, ".%0*lld", digits, (long long)us);
    }
    return buf;
}

static const char *canon_time(const char *in, store_kind kind, char *buf, size_t n) {
    int64_t t;
    char tmp[96];
    if (st_time_parse(in, &t, NULL) != ST_OK) {
        snprintf(tmp, sizeof tmp, "%sZ", in);
        if (strlen(in) > 64 || st_time_parse(tmp, &t, NULL) != ST_OK) return NULL;
    }
    return store_canon_time_us(t, kind, buf, n);
}

/* YYYY-MM-DD with a valid month and day, optionally followed by a time. */
static const char *canon_date(const char *in, char *buf, size_t n) {
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? in[i] != '-' : (in[i] < '0' || in[i] > '9')) return NULL;
    if (in[10] != '\0' && in[10] != ' ' && in[10] != 'T') return NULL;
    int m = (in[5] - '0') * 10 + in[6] - '0', d = (in[8] - '0') * 10 + in[9] - '0';
    if (m < 1 || m > 12 || d < 1 || d > 31) return NULL;
    if (in[10] != '\0') return canon_time(in, STORE_K_DATE, buf, n);
    snprintf(buf, n, "%.10s", in);
    return buf;
}

char *store_canon_hash_time(char *buf) {
    char *t = strchr(buf, 'T');
    if (t == NULL) return buf;
    *t = ' ';
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] == 'Z') buf[--len] = '\0';
    char *dot = strrchr(t, '.');
    if (dot == NULL) return buf;
    while (len > 0 && buf[len - 1] == '0') buf[--len] = '\0';
    if (&buf[len - 1] == dot) buf[--len] = '\0';
    return buf;
}

static const char *canon_bool(const char *in, char *buf, size_t n) {
    static const char *yes[] = {"t", "true", "1", "yes", "y", "on"};
    static const char *no[] = {"f", "false", "0", "no", "n", "off"};
    for (size_t i = 0; i < 6; i++) {
        if (strcasecmp(in, yes[i]) == 0) { snprintf(buf, n, "t"); return buf; }
        if (strcasecmp(in, no[i]) == 0) { snprintf(buf, n, "f"); return buf; }
    }
    return NULL;
}

const char *store_canon_text(const char *in, store_kind kind, char *buf, size_t n) {
    char d[512];
    bool neg;
    int pos;
    switch (kind) {
    case STORE_K_TEXT:
    case STORE_K_TIME:
    case STORE_K_BYTES: return in;
    case STORE_K_INT:
    case STORE_K_NUMERIC:
        if (!parse_decimal(in, &neg, d, sizeof d, &pos)) return NULL;
        return render_decimal(neg, d, pos, buf, n);
    case STORE_K_FLOAT: {
        char *end;
        double v = strtod(in, &end);
        if (end == in || *end != '\0') return NULL;
        return store_canon_double(v, kind, buf, n);
    }
    case STORE_K_BOOL: return canon_bool(in, buf, n);
    case STORE_K_TIMESTAMPTZ:
    case STORE_K_TIMESTAMP: return canon_time(in, kind, buf, n);
    case STORE_K_DATE: return strlen(in) < 10 ? NULL : canon_date(in, buf, n);
    }
    return NULL;
}

/* --- Ordering and checksums --- */

int store_key_cmp(store_kind kind, const char *a, const char *b) {
    if (a == NULL || b == NULL) return (a != NULL) - (b != NULL);
    if (kind == STORE_K_INT) {
        long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);
        return (x > y) - (x < y);
    }
    if (kind == STORE_K_NUMERIC || kind == STORE_K_FLOAT) {
        long double x = strtold(a, NULL), y = strtold(b, NULL);
        if (x != y) return (x > y) - (x < y);
    }
    return strcmp(a, b);
}

uint64_t store_mod64(const char *dec) {
    const char *p = dec;
    bool neg = false;
    if (*p == '-') { neg = true; p++; }
    uint64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) v = v * 10 + (uint64_t)(*p - '0');
    return neg ? (uint64_t)0 - v : v;
}
