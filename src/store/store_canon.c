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

/* --- colhash-v2: PostgreSQL's extended hash functions over canonical values ---
 *
 * The row digest family colhash-v2 (store.h) is the XOR over the compared
 * columns of one 64-bit term per value; PostgreSQL computes each term with
 * its own extended hash function on the typed value (store_pg.c), and an
 * engine without those functions (SQLite) computes the same bits here from
 * the canonical text. hash_bytes_extended and hash_bytes_uint32_extended
 * follow PostgreSQL's src/common/hashfn.c (Bob Jenkins' lookup3, 64-bit
 * seed) on a little-endian machine, which is what hash partitioning relies
 * on being stable across PostgreSQL versions. A text that is not in
 * canonical form for its kind is hashed as bytes: a false difference costs
 * the hash strategy a fetch, never a write. */

#define CH_ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
#define CH_MIX(a, b, c) do { \
    a -= c; a ^= CH_ROT(c, 4); c += b; \
    b -= a; b ^= CH_ROT(a, 6); a += c; \
    c -= b; c ^= CH_ROT(b, 8); b += a; \
    a -= c; a ^= CH_ROT(c, 16); c += b; \
    b -= a; b ^= CH_ROT(a, 19); a += c; \
    c -= b; c ^= CH_ROT(b, 4); b += a; } while (0)
#define CH_FINAL(a, b, c) do { \
    c ^= b; c -= CH_ROT(b, 14); \
    a ^= c; a -= CH_ROT(c, 11); \
    b ^= a; b -= CH_ROT(a, 25); \
    c ^= b; c -= CH_ROT(b, 16); \
    a ^= c; a -= CH_ROT(c, 4); \
    b ^= a; b -= CH_ROT(a, 14); \
    c ^= b; c -= CH_ROT(b, 24); } while (0)

static uint32_t ch_le32(const unsigned char *k, size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint32_t)k[i] << (8 * i);
    return v;
}

uint64_t store_pg_hash_bytes(const void *key, size_t keylen, uint64_t seed) {
    const unsigned char *k = key;
    uint32_t len = (uint32_t)keylen;
    uint32_t a, b, c;
    a = b = c = 0x9e3779b9u + len + 3923095u;
    if (seed != 0) {
        a += (uint32_t)(seed >> 32);
        b += (uint32_t)seed;
        CH_MIX(a, b, c);
    }
    while (len >= 12) {
        a += ch_le32(k, 4);
        b += ch_le32(k + 4, 4);
        c += ch_le32(k + 8, 4);
        CH_MIX(a, b, c);
        k += 12;
        len -= 12;
    }
    /* the last 11 bytes; the lowest byte of c is reserved for the length */
    if (len > 8) c += ch_le32(k + 8, len - 8) << 8;
    if (len > 4) b += ch_le32(k + 4, len > 8 ? 4 : len - 4);
    if (len > 0) a += ch_le32(k, len > 4 ? 4 : len);
    CH_FINAL(a, b, c);
    return ((uint64_t)b << 32) | c;
}

uint64_t store_pg_hash_uint32(uint32_t k, uint64_t seed) {
    uint32_t a, b, c;
    a = b = c = 0x9e3779b9u + 4u + 3923095u;
    if (seed != 0) {
        a += (uint32_t)(seed >> 32);
        b += (uint32_t)seed;
        CH_MIX(a, b, c);
    }
    a += k;
    CH_FINAL(a, b, c);
    return ((uint64_t)b << 32) | c;
}

/* hashint8extended (and timestamp_hash_extended, date as timestamp). */
uint64_t store_pg_hash_int8(int64_t v, uint64_t seed) {
    uint32_t lo = (uint32_t)(uint64_t)v, hi = (uint32_t)((uint64_t)v >> 32);
    lo ^= v >= 0 ? hi : ~hi;
    return store_pg_hash_uint32(lo, seed);
}

/* hash_numeric_extended of a canonical NUMERIC text (no exponent): the
 * base-10000 digits without leading and trailing zero digits, hashed as
 * little-endian int16s, XOR the weight of the first one; zero hashes to
 * seed - 1. PostgreSQL's ignores the sign and NaN and the infinities all
 * hash to seed; colhash-v2 adds them (ch_numeric_flag, the CASE in
 * store_pg.c). false: not a plain decimal. */
static bool ch_numeric(const char *s, size_t n, uint64_t seed, uint64_t *out) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    size_t int0 = i, dot = n;
    for (size_t j = i; j < n; j++) {
        if (s[j] == '.' && dot == n) dot = j;
        else if (s[j] < '0' || s[j] > '9') return false;
    }
    size_t nint = dot - int0, nfrac = dot < n ? n - dot - 1 : 0;
    if (nint == 0 || (dot < n && nfrac == 0) || nint + nfrac > 4000) return false;
    /* digit groups aligned on the decimal point */
    size_t lead = (4 - nint % 4) % 4, groups_int = (nint + lead) / 4;
    size_t groups = groups_int + (nfrac + 3) / 4;
    int16_t dig[1024];
    if (groups > sizeof dig / sizeof dig[0]) return false;
    for (size_t g = 0; g < groups; g++) {
        int v = 0;
        for (size_t p = 0; p < 4; p++) {
            size_t pos = g * 4 + p;   /* position in the padded digit string */
            int d = 0;
            if (pos >= lead && pos - lead < nint) d = s[int0 + pos - lead] - '0';
            else if (pos >= lead + nint && pos - lead - nint < nfrac) d = s[dot + 1 + pos - lead - nint] - '0';
            v = v * 10 + d;
        }
        dig[g] = (int16_t)v;
    }
    int weight = (int)groups_int - 1;
    size_t from = 0, to = groups;
    while (from < to && dig[from] == 0) { from++; weight--; }
    if (from == to) { *out = seed - 1; return true; }
    while (to > from && dig[to - 1] == 0) to--;
    unsigned char bytes[2 * 1024];
    for (size_t g = from; g < to; g++) {
        bytes[2 * (g - from)] = (unsigned char)((uint16_t)dig[g] & 0xff);
        bytes[2 * (g - from) + 1] = (unsigned char)((uint16_t)dig[g] >> 8);
    }
    *out = store_pg_hash_bytes(bytes, 2 * (to - from), seed) ^ (uint64_t)(int64_t)weight;
    return true;
}

/* The flag colhash-v2 hashes into a numeric's term: 1 negative (also
 * -Infinity), 2 NaN, 4 Infinity, 0 otherwise (store_pg.c's CASE). */
static uint64_t ch_numeric_flag(const char *s, size_t n) {
    if (n == 3 && memcmp(s, "NaN", 3) == 0) return 2;
    if (n == 8 && memcmp(s, "Infinity", 8) == 0) return 4;
    return n > 0 && s[0] == '-' ? 1 : 0;
}

static int64_t ch_atoi(const char *s, size_t w) {
    int64_t v = 0;
    for (size_t i = 0; i < w; i++) v = v * 10 + (s[i] - '0');
    return v;
}

/* Microseconds since 2000-01-01 (PostgreSQL's timestamp) of a canonical
 * DATE or TIMESTAMP text; "infinity" and "-infinity" as PostgreSQL keeps
 * them. false: another form. */
static bool ch_pg_time(const char *s, size_t n, int64_t *us) {
    if (n == 8 && memcmp(s, "infinity", 8) == 0) { *us = INT64_MAX; return true; }
    if (n == 9 && memcmp(s, "-infinity", 9) == 0) { *us = INT64_MIN; return true; }
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    if (n != 10 && n < 19) return false;
    size_t want = n == 10 ? 10 : 19;
    for (size_t i = 0; i < want; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) return false;
#define CH_NUM(p, w) ch_atoi(s + (p), (w))
    int64_t y = CH_NUM(0, 4), mo = CH_NUM(5, 2), d = CH_NUM(8, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
    int64_t secs = 0, frac = 0;
    if (n > 10) {
        int64_t h = CH_NUM(11, 2), mi = CH_NUM(14, 2), se = CH_NUM(17, 2);
        if (h > 23 || mi > 59 || se > 59) return false;
        secs = h * 3600 + mi * 60 + se;
        if (n > 19) {
            if (s[19] != '.' || n < 21 || n > 26) return false;
            for (size_t i = 20; i < 26; i++) {
                if (i < n && (s[i] < '0' || s[i] > '9')) return false;
                frac = frac * 10 + (i < n ? s[i] - '0' : 0);
            }
        }
    }
#undef CH_NUM
    int64_t days = st_days_from_civil(y, (unsigned)mo, (unsigned)d) - 10957;   /* 2000-01-01 */
    *us = (days * 86400 + secs) * 1000000 + frac;
    return true;
}

uint64_t store_colhash_null(int seed) { return (uint64_t)(int64_t)-seed; }

uint64_t store_colhash_int(int64_t v, int seed) {
    return store_pg_hash_int8(v, (uint64_t)(int64_t)seed) ^
           store_pg_hash_uint32((uint32_t)((uint64_t)v >> 32),
                                (uint64_t)(int64_t)(seed + STORE_COLHASH_HI_SEED));
}

uint64_t store_colhash_double(double v, int seed) {
    uint64_t s = (uint64_t)(int64_t)seed;
    if (v == 0) return store_pg_hash_bytes(signbit(v) ? "-0" : "0", signbit(v) ? 2 : 1, s);
    if (isnan(v)) v = NAN;
    unsigned char b[sizeof v];
    memcpy(b, &v, sizeof v);
    return store_pg_hash_bytes(b, sizeof b, s);
}

uint64_t store_colhash_text(store_kind kind, const char *t, size_t n, int seed) {
    uint64_t s = (uint64_t)(int64_t)seed, h;
    int64_t us;
    char buf[64];
    switch (kind) {
    case STORE_K_INT:
        if (n > 0 && n < sizeof buf) {
            memcpy(buf, t, n);
            buf[n] = '\0';
            char *end;
            errno = 0;
            long long v = strtoll(buf, &end, 10);
            if (*end == '\0' && errno == 0) return store_colhash_int(v, seed);
        }
        break;
    case STORE_K_NUMERIC:
        if (!ch_numeric(t, n, s, &h)) {
            if (!(n == 3 && memcmp(t, "NaN", 3) == 0) && !(n == 8 && memcmp(t, "Infinity", 8) == 0) &&
                !(n == 9 && memcmp(t, "-Infinity", 9) == 0))
                break;
            h = s;   /* PostgreSQL: a special value hashes to the seed */
        }
        return h ^ store_pg_hash_uint32((uint32_t)ch_numeric_flag(t, n),
                                        (uint64_t)(int64_t)(seed + STORE_COLHASH_HI_SEED));
        break;
    case STORE_K_FLOAT:
        if (n > 0 && n < sizeof buf) {
            memcpy(buf, t, n);
            buf[n] = '\0';
            char *end;
            double v = strtod(buf, &end);
            if (*end == '\0') return store_colhash_double(v, seed);
        }
        break;
    case STORE_K_BOOL:
        if (n == 1 && (t[0] == 't' || t[0] == 'f')) return store_pg_hash_uint32(t[0] == 't', s);
        break;
    case STORE_K_TIMESTAMPTZ:
    case STORE_K_TIMESTAMP:
    case STORE_K_DATE:
        if (ch_pg_time(t, n, &us)) return store_colhash_int(us, seed);   /* high word too */
        break;
    default: break;
    }
    return store_pg_hash_bytes(t, n, s);   /* text kinds; a form not canonical */
}

/* The numeric term of a / 10^4 for an integer a > 0, negative or not:
 * ch_numeric's base-10000 digits (the fraction is exactly one digit
 * group, the integer part the groups of a / 10^4) and weight, and the
 * sign flag, without the canonical text in between. */
static uint64_t ch_numeric_scaled4(uint64_t a, bool neg, int seed) {
    uint16_t g[8];   /* a < 2^64: at most 5 integer groups + 1 fraction group */
    int n = 0;
    uint64_t ip = a / 10000;
    uint16_t tmp[6];
    int ni = 0;
    do { tmp[ni++] = (uint16_t)(ip % 10000); ip /= 10000; } while (ip > 0);
    for (int i = ni - 1; i >= 0; i--) g[n++] = tmp[i];
    g[n++] = (uint16_t)(a % 10000);
    int weight = ni - 1, from = 0, to = n;
    while (from < to && g[from] == 0) { from++; weight--; }
    while (to > from && g[to - 1] == 0) to--;
    unsigned char bytes[16];
    for (int i = from; i < to; i++) {
        bytes[2 * (i - from)] = (unsigned char)(g[i] & 0xff);
        bytes[2 * (i - from) + 1] = (unsigned char)(g[i] >> 8);
    }
    uint64_t s = (uint64_t)(int64_t)seed;
    uint64_t h = store_pg_hash_bytes(bytes, 2 * (size_t)(to - from), s) ^ (uint64_t)(int64_t)weight;
    return h ^ store_pg_hash_uint32(neg ? 1 : 0, (uint64_t)(int64_t)(seed + STORE_COLHASH_HI_SEED));
}

bool store_colhash_numeric_double(double v, int seed, uint64_t *out) {
    double a = fabs(v);
    /* as store_dtoa_shortest's few-decimals path: a is the double nearest
     * to r / 10^4, so the canonical text is r / 10^4 (no other decimal
     * of 4 places reads back as a) */
    if (!(a > 0 && a < 0x1p50 / 10000.0)) return false;
    double r = nearbyint(a * 10000.0);
    if (!(r > 0 && r / 10000.0 == a)) return false;
    *out = ch_numeric_scaled4((uint64_t)r, v < 0, seed);
    return true;
}
