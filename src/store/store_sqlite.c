/*
 * store_sqlite — the SQLite driver (libsqlite3) behind struct store_ops.
 *
 * One sqlite3 connection per store, busy timeout 10 s. On open it
 * registers SQL functions so SQLite can compute the canonical row text and
 * checksums itself, exactly as PostgreSQL does with built-ins:
 *   md5(text)            hex MD5 of the UTF-8 bytes (store_md5.c)
 *   st_canon(kind, v)    canonical text of v for store_kind `kind`,
 *                        whatever storage class v has (store_canon.c):
 *                        numbers from INTEGER, REAL or TEXT; booleans from
 *                        0/1 or 't'/'true'/...; dates and times from ISO
 *                        text (with or without an offset; none = UTC), an
 *                        INTEGER of Unix seconds or a REAL Julian day, as
 *                        SQLite's own date functions read them
 *   st_rowtext(k1, v1, ...) the row text of the values (store.h), as
 *                        store_sb_rowtext spells it with st_canon: one
 *                        call per row instead of a dozen expressions
 *   st_store(kind, v)    v as a sync writes it into a column of `kind`
 *                        (ddl apply --migrate, SQLite -> SQLite full)
 *   st_sum64(hex16)      aggregate: sum of 64-bit values mod 2^64, as text
 *   st_bucket_sums(b, h) aggregate: per bucket b the rows and the sum of h
 *                        mod 2^64, as JSON — the hash strategy's bucket
 *                        sums without GROUP BY's sorter (bucket_sums_sql)
 *   st_md5_agg(key, t)   aggregate: hex MD5 of the texts joined with '|' in
 *                        ascending integer key order, whatever order SQLite
 *                        feeds them in (it keeps one key range's texts and
 *                        sorts them unless they came sorted); NULL if empty.
 *                        PostgreSQL's md5(string_agg(t, '|')) over the
 *                        same rows read in key order gives the same digest.
 *
 * Types (ddl_type, docs/configuration.md): a copy must answer queries as
 * its source does, so every kind gets the affinity that makes SQLite
 * compare it right: INTEGER; NUMERIC(p,s) / DECIMAL(p,s) as the config
 * spells it (numeric affinity: 5.00 is stored as 5, 12.5 as REAL; more
 * than 15 significant digits become the nearest REAL, which validate and
 * ddl apply warn about); REAL; BOOLEAN (stored 0/1: writes bind t/f as
 * integers); DATE, TIMESTAMP, TIMESTAMPTZ (the canonical text, which is
 * what datetime() produces); TEXT. Canonical text is bound as text and the
 * column's affinity makes numbers of it.
 *
 * Reads are one stepping statement (constant memory). Writes: apply()
 * prepares an upsert and a delete statement per call and runs them, one
 * pulled change at a time, inside
 * the caller's BEGIN IMMEDIATE transaction. An UPSERT of unknown existence
 * first reads the canonical row by key, so counts say what really changed
 * and identical rows are not rewritten.
 */
#include "store_backend.h"
#include "store_driver.h"
#include "store_sqlite_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_USEC_SQ INT64_C(1000000)

typedef struct sq_impl {
    sqlite3 *db;
    char name[128];
    atomic_int *intr; /* set_interrupt: ends reads */
    bool reading;        /* a reader's step runs: the interrupt may end it */
    bool writer;         /* a write transaction began: the page cache is SQ_WRITE_CACHE */
} sq_impl;

struct store_reader {
    sq_impl *impl;
    sqlite3_stmt *stmt;
    int ncols;
    const char **row;
};

/* --- SQL functions --- */

static void fn_md5(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    if (sqlite3_value_type(v[0]) == SQLITE_NULL) { sqlite3_result_null(c); return; }
    const unsigned char *s = sqlite3_value_text(v[0]);
    int n = sqlite3_value_bytes(v[0]);
    char hex[33];
    store_md5_hex(s ? (const char *)s : "", (size_t)n, hex);
    sqlite3_result_text(c, hex, 32, SQLITE_TRANSIENT);
}

/* SQLite's own date/time storage classes (its date functions read both):
 * an INTEGER is Unix seconds, a REAL a Julian day number (millisecond
 * precision, as SQLite computes it). */
static const char *sq_canon_time_num(sqlite3_value *v, store_kind k, char *buf, size_t n) {
    if (sqlite3_value_type(v) == SQLITE_INTEGER) {
        sqlite3_int64 s = sqlite3_value_int64(v);
        if (s > INT64_MAX / ST_USEC_SQ || s < -(INT64_MAX / ST_USEC_SQ)) return NULL;
        return store_canon_time_us(s * ST_USEC_SQ, k, buf, n);
    }
    double jd = sqlite3_value_double(v);
    if (!(jd > 0 && jd < 5373484.5)) return NULL;
    int64_t ms = (int64_t)(jd * 86400000.0 + 0.5) - INT64_C(210866760000000);
    return store_canon_time_us(ms * 1000, k, buf, n);
}

/* Canonical text (store.h) of v for kind k, whatever its storage class;
 * NULL when v cannot be read as k (the caller keeps v as it is). */
static const char *sq_canon_value(sqlite3_value *v, store_kind k, char *buf, size_t n) {
    int type = sqlite3_value_type(v);
    bool timeish = k == STORE_K_TIMESTAMPTZ || k == STORE_K_TIMESTAMP || k == STORE_K_DATE;
    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
        if (timeish) return sq_canon_time_num(v, k, buf, n);
        if (k == STORE_K_BOOL) return sqlite3_value_double(v) != 0 ? "t" : "f";
    }
    if (type == SQLITE_INTEGER) {
        if (k == STORE_K_FLOAT) return store_canon_double((double)sqlite3_value_int64(v), k, buf, n);
        return store_canon_int64(sqlite3_value_int64(v), buf, n);
    }
    if (type == SQLITE_FLOAT) return store_canon_double(sqlite3_value_double(v), k, buf, n);
    const char *t = (const char *)sqlite3_value_text(v);
    return t ? store_canon_text(t, k, buf, n) : NULL;
}

/* Already in canonical form (store.h) for kind k: a DATE, or a
 * TIMESTAMP(TZ) "YYYY-MM-DD HH:MM:SS[.f]" without trailing fraction zeros.
 * Checked by shape only, so st_store passes most values through without
 * parsing and formatting them. */
static bool sq_is_canonical_time(const char *t, int n, store_kind k) {
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    int want = k == STORE_K_DATE ? 10 : 19;
    if (n < want || (k == STORE_K_DATE && n != 10)) return false;
    for (int i = 0; i < want; i++)
        if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i]) return false;
    if (t[5] > '1' || t[8] > '3') return false;
    if (k == STORE_K_DATE) return true;
    if (t[11] > '2' || t[14] > '5' || t[17] > '5') return false;
    if (n == want) return true;
    if (t[19] != '.' || n < 21 || n > 26 || t[n - 1] == '0') return false;
    for (int i = 20; i < n; i++)
        if (t[i] < '0' || t[i] > '9') return false;
    return true;
}

static bool sq_is_time_kind(store_kind k) {
    return k == STORE_K_TIMESTAMPTZ || k == STORE_K_TIMESTAMP || k == STORE_K_DATE;
}

/* Canonical already: integers of integer and decimal kinds (SQLite's own
 * integer text is the canonical one) and time text in canonical shape are
 * passed through without a conversion (half the cost of a read). */
static bool sq_canon_as_is(sqlite3_value *v, int type, store_kind k) {
    return (type == SQLITE_INTEGER && (k == STORE_K_INT || k == STORE_K_NUMERIC)) ||
           (type == SQLITE_TEXT && sq_is_time_kind(k) &&
            sq_is_canonical_time((const char *)sqlite3_value_text(v), sqlite3_value_bytes(v), k));
}

static void fn_canon(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    store_kind k = (store_kind)sqlite3_value_int(v[0]);
    char buf[128];
    int type = sqlite3_value_type(v[1]);
    if (type == SQLITE_NULL) { sqlite3_result_null(c); return; }
    if (sq_canon_as_is(v[1], type, k)) {
        sqlite3_result_value(c, v[1]);
        return;
    }
    const char *out = sq_canon_value(v[1], k, buf, sizeof buf);
    if (out == NULL) {
        const char *t = (const char *)sqlite3_value_text(v[1]);
        sqlite3_result_text(c, t ? t : "", -1, SQLITE_TRANSIENT);
        return;
    }
    sqlite3_result_text(c, out, -1, SQLITE_TRANSIENT);
}

/* A row text under construction: on the stack until it outgrows it. */
typedef struct rt_buf {
    char *s;
    size_t len, cap;
    bool heap, oom;
    char stack[512];
} rt_buf;

static void rt_add(rt_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + n) cap *= 2;
        char *p = b->heap ? realloc(b->s, cap) : malloc(cap);
        if (p == NULL) { b->oom = true; return; }
        if (!b->heap) memcpy(p, b->s, b->len);
        b->s = p;
        b->cap = cap;
        b->heap = true;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
}

/* One value's part of the row text (store_sb_rowtext): \N for NULL; text
 * kinds as CAST(v AS TEXT) with '\' and '|' escaped; every other kind as
 * st_canon(kind, v) gives it, unescaped. */
static void rowtext_value(rt_buf *b, store_kind k, sqlite3_value *v) {
    int type = sqlite3_value_type(v);
    if (type == SQLITE_NULL) { rt_add(b, "\\N", 2); return; }
    if (k == STORE_K_TEXT) {
        const char *t = (const char *)sqlite3_value_text(v);
        size_t n = (size_t)sqlite3_value_bytes(v), from = 0;
        for (size_t i = 0; t != NULL && i < n; i++) {
            if (t[i] != '\\' && t[i] != '|') continue;
            rt_add(b, t + from, i - from);
            rt_add(b, "\\", 1);
            from = i;
        }
        if (t != NULL) rt_add(b, t + from, n - from);
        return;
    }
    char buf[128];
    const char *out = sq_canon_as_is(v, type, k) ? NULL : sq_canon_value(v, k, buf, sizeof buf);
    if (out != NULL) { rt_add(b, out, strlen(out)); return; }
    const char *t = (const char *)sqlite3_value_text(v);   /* as st_canon: up to a NUL */
    if (t != NULL) rt_add(b, t, strlen(t));
}

/* st_rowtext(kind1, v1, kind2, v2, ...): the row text store_sb_rowtext
 * would build from st_canon, CAST, replace and ||, in one call (a third of
 * the hash pass's cost on the SQLite side was those intermediate values). */
static void fn_rowtext(sqlite3_context *c, int argc, sqlite3_value **v) {
    rt_buf b;
    b.s = b.stack;
    b.len = 0;
    b.cap = sizeof b.stack;
    b.heap = b.oom = false;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (i > 0) rt_add(&b, "|", 1);
        rowtext_value(&b, (store_kind)sqlite3_value_int(v[i]), v[i + 1]);
    }
    if (b.oom) sqlite3_result_error_nomem(c);
    else sqlite3_result_text(c, b.s, (int)b.len, SQLITE_TRANSIENT);
    if (b.heap) free(b.s);
}

/* st_store(kind, v): v as a sync writes it into a column of this kind
 * (booleans 1/0, everything else its canonical text, which the column's
 * affinity turns into a number where it is one); v unchanged when it
 * cannot be read as kind. ddl apply --migrate rewrites old tables with it. */
static void fn_store(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    store_kind k = (store_kind)sqlite3_value_int(v[0]);
    int type = sqlite3_value_type(v[1]);
    if ((k == STORE_K_BOOL && type == SQLITE_INTEGER && (sqlite3_value_int64(v[1]) & ~1) == 0) ||
        (type == SQLITE_TEXT && sq_is_time_kind(k) &&
         sq_is_canonical_time((const char *)sqlite3_value_text(v[1]), sqlite3_value_bytes(v[1]), k))) {
        sqlite3_result_value(c, v[1]);
        return;
    }
    char buf[128];
    const char *out = type == SQLITE_NULL || k == STORE_K_TEXT
                          ? NULL : sq_canon_value(v[1], k, buf, sizeof buf);
    if (out == NULL) sqlite3_result_value(c, v[1]);
    else if (k == STORE_K_BOOL) sqlite3_result_int(c, out[0] == 't');
    else sqlite3_result_text(c, out, -1, SQLITE_TRANSIENT);
}

/* One value's colhash-v2 term (store_canon.c): straight from the storage
 * class where it already holds the canonical value (an integer of an
 * integer kind, a double of a float kind, text of a text kind, time text in
 * canonical shape), else from the canonical text. */
static uint64_t colhash_value(store_kind k, sqlite3_value *v, int seed) {
    int type = sqlite3_value_type(v);
    if (type == SQLITE_NULL) return store_colhash_null(seed);
    if (type == SQLITE_INTEGER && k == STORE_K_INT)
        return store_colhash_int(sqlite3_value_int64(v), seed);
    if (type == SQLITE_FLOAT && k == STORE_K_FLOAT)
        return store_colhash_double(sqlite3_value_double(v), seed);
    uint64_t h;   /* a NUMERIC REAL of few decimals, without its text */
    if (type == SQLITE_FLOAT && k == STORE_K_NUMERIC &&
        store_colhash_numeric_double(sqlite3_value_double(v), seed, &h))
        return h;
    if (k == STORE_K_TEXT || sq_canon_as_is(v, type, k)) {
        const char *t = (const char *)sqlite3_value_text(v);
        /* text kinds: every byte; canonical time text has no NUL (its
         * shape is checked over all its bytes) */
        size_t n = (size_t)sqlite3_value_bytes(v);
        if (k != STORE_K_TEXT && type != SQLITE_TEXT) n = t ? strlen(t) : 0;
        return store_colhash_text(k, t ? t : "", n, seed);
    }
    char buf[128];
    const char *out = sq_canon_value(v, k, buf, sizeof buf);
    if (out == NULL) out = (const char *)sqlite3_value_text(v);   /* as st_canon */
    return store_colhash_text(k, out ? out : "", out ? strlen(out) : 0, seed);
}

/* st_colhash(seed1, kind1, v1, seed2, kind2, v2, ...): the row's
 * colhash-v2 digest, the XOR of its values' terms. */
static void fn_colhash(sqlite3_context *c, int argc, sqlite3_value **v) {
    uint64_t h = 0;
    for (int i = 0; i + 2 < argc; i += 3)
        h ^= colhash_value((store_kind)sqlite3_value_int(v[i + 1]), v[i + 2],
                           sqlite3_value_int(v[i]));
    sqlite3_result_int64(c, (sqlite3_int64)h);
}

/* st_sumi64(x): the sum of integers x mod 2^64 as unsigned decimal text
 * (SQLite's sum() fails on overflow). */
static void fn_sumi64_step(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    uint64_t *acc = sqlite3_aggregate_context(c, sizeof *acc);
    if (acc != NULL && sqlite3_value_type(v[0]) != SQLITE_NULL)
        *acc += (uint64_t)sqlite3_value_int64(v[0]);
}

static void fn_sum64_step(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    uint64_t *acc = sqlite3_aggregate_context(c, sizeof *acc);
    const char *h = (const char *)sqlite3_value_text(v[0]);
    if (acc == NULL || h == NULL) return;
    *acc += strtoull(h, NULL, 16);
}

static void fn_sum64_final(sqlite3_context *c) {
    uint64_t *acc = sqlite3_aggregate_context(c, 0);
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)(acc ? *acc : 0));
    sqlite3_result_text(c, buf, -1, SQLITE_TRANSIENT);
}

/* st_bucket_sums(bucket, h): aggregate: per bucket (an integer in
 * [0, ST_BUCKETS_MAX)) the rows and the sum of the integers h mod 2^64,
 * as JSON [[bucket, count, sum], ...] of the non-empty buckets in bucket
 * order, the sum a signed 64-bit integer (NULL when no row). What GROUP
 * BY bucket gives, with no sorter: the counters are an array indexed by
 * bucket, so rows may come in any order (sq_bucket_sums_sql). */
#define ST_BUCKETS_MAX (1 << 24)

typedef struct bucket_agg {
    int64_t *count;
    uint64_t *sum;
    size_t cap;
} bucket_agg;

static bool bucket_grow(bucket_agg *a, size_t need) {
    size_t cap = a->cap ? a->cap : 1024;
    while (cap < need) cap *= 2;
    int64_t *c = realloc(a->count, cap * sizeof *c);
    if (c == NULL) return false;
    a->count = c;
    uint64_t *s = realloc(a->sum, cap * sizeof *s);
    if (s == NULL) return false;
    a->sum = s;
    memset(c + a->cap, 0, (cap - a->cap) * sizeof *c);
    memset(s + a->cap, 0, (cap - a->cap) * sizeof *s);
    a->cap = cap;
    return true;
}

static void fn_bucket_sums_step(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    bucket_agg *a = sqlite3_aggregate_context(c, sizeof *a);
    if (a == NULL) { sqlite3_result_error_nomem(c); return; }
    if (sqlite3_value_type(v[0]) == SQLITE_NULL) return;
    sqlite3_int64 b = sqlite3_value_int64(v[0]);
    if (b < 0 || b >= ST_BUCKETS_MAX) {
        sqlite3_result_error(c, "st_bucket_sums: bucket out of range", -1);
        return;
    }
    if ((size_t)b >= a->cap && !bucket_grow(a, (size_t)b + 1)) {
        sqlite3_result_error_nomem(c);
        return;
    }
    a->count[b]++;
    if (sqlite3_value_type(v[1]) != SQLITE_NULL) a->sum[b] += (uint64_t)sqlite3_value_int64(v[1]);
}

static void fn_bucket_sums_final(sqlite3_context *c) {
    bucket_agg *a = sqlite3_aggregate_context(c, 0);
    if (a == NULL || a->cap == 0) { sqlite3_result_null(c); return; }
    store_sb out = {0};
    store_sb_add(&out, "[");
    const char *sep = "";
    for (size_t b = 0; b < a->cap; b++) {
        if (a->count[b] == 0) continue;
        store_sb_addf(&out, "%s[%zu,%lld,%lld]", sep, b, (long long)a->count[b],
                      (long long)(int64_t)a->sum[b]);
        sep = ",";
    }
    store_sb_add(&out, "]");
    free(a->count);
    free(a->sum);
    if (out.oom) sqlite3_result_error_nomem(c);
    else sqlite3_result_text(c, out.s, (int)out.len, free);
    if (out.oom) store_sb_free(&out);
}

typedef struct md5_item {
    int64_t key;
    char *text;
    size_t len;
} md5_item;

typedef struct md5_agg {
    md5_item *v;
    size_t n, cap;
    bool unsorted, oom;
} md5_agg;

static void md5_agg_free(md5_agg *a) {
    for (size_t i = 0; i < a->n; i++) free(a->v[i].text);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static void fn_md5_agg_step(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    md5_agg **slot = sqlite3_aggregate_context(c, sizeof *slot);
    if (slot == NULL) { sqlite3_result_error_nomem(c); return; }
    if (*slot == NULL && (*slot = calloc(1, sizeof **slot)) == NULL) {
        sqlite3_result_error_nomem(c);
        return;
    }
    md5_agg *a = *slot;
    const char *t = (const char *)sqlite3_value_text(v[1]);
    if (a->oom || t == NULL) return;
    size_t len = (size_t)sqlite3_value_bytes(v[1]);
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        md5_item *g = realloc(a->v, cap * sizeof *g);
        if (g == NULL) { a->oom = true; return; }
        a->v = g;
        a->cap = cap;
    }
    md5_item *it = &a->v[a->n];
    it->key = sqlite3_value_int64(v[0]);
    it->len = len;
    if ((it->text = malloc(len + 1)) == NULL) { a->oom = true; return; }
    memcpy(it->text, t, len + 1);
    if (a->n > 0 && a->v[a->n - 1].key > it->key) a->unsorted = true;
    a->n++;
}

static int md5_item_cmp(const void *x, const void *y) {
    const md5_item *a = x, *b = y;
    return (a->key > b->key) - (a->key < b->key);
}

static void fn_md5_agg_final(sqlite3_context *c) {
    md5_agg **slot = sqlite3_aggregate_context(c, 0);
    md5_agg *a = slot ? *slot : NULL;
    if (a == NULL || a->n == 0 || a->oom) {
        if (a && a->oom) sqlite3_result_error_nomem(c);
        else sqlite3_result_null(c);
        if (a) { md5_agg_free(a); free(a); }
        return;
    }
    if (a->unsorted) qsort(a->v, a->n, sizeof *a->v, md5_item_cmp);
    store_md5_ctx m;
    unsigned char d[16];
    char hex[33];
    store_md5_init(&m);
    for (size_t i = 0; i < a->n; i++) {
        if (i > 0) store_md5_update(&m, "|", 1);
        store_md5_update(&m, a->v[i].text, a->v[i].len);
    }
    store_md5_final(&m, d);
    store_md5_digest_hex(d, hex);
    sqlite3_result_text(c, hex, 32, SQLITE_TRANSIENT);
    md5_agg_free(a);
    free(a);
}

static int sq_register(sqlite3 *db) {
    int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    if (sqlite3_create_function(db, "md5", 1, f, NULL, fn_md5, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "st_canon", 2, f, NULL, fn_canon, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "st_store", 2, f, NULL, fn_store, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "st_rowtext", -1, f, NULL, fn_rowtext, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "st_colhash", -1, f, NULL, fn_colhash, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "st_sumi64", 1, f, NULL, NULL, fn_sumi64_step,
                                fn_sum64_final) != SQLITE_OK ||
        sqlite3_create_function(db, "st_sum64", 1, f, NULL, NULL, fn_sum64_step,
                                fn_sum64_final) != SQLITE_OK ||
        sqlite3_create_function(db, "st_md5_agg", 2, f, NULL, NULL, fn_md5_agg_step,
                                fn_md5_agg_final) != SQLITE_OK ||
        sqlite3_create_function(db, "st_bucket_sums", 2, f, NULL, NULL, fn_bucket_sums_step,
                                fn_bucket_sums_final) != SQLITE_OK)
        return ST_ERR;
    return ST_OK;
}

/* --- Connection --- */

/* SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: another process
 * holds a write transaction on the file (a frozen or stale run). That is
 * ST_EBUSY, which the job manager records as skipped, not failed: someone
 * else's frozen transaction must not count against this strategy. */
static int sq_fail(sq_impl *q, st_error *err, const char *what) {
    int code = sqlite3_errcode(q->db);
    if (code == SQLITE_INTERRUPT)
        return st_error_set(err, ST_EINTR, "datastore '%s' (sqlite): %s: interrupted", q->name,
                            what);
    const char *m = sqlite3_errmsg(q->db);
    if (m == NULL || *m == '\0')
        return st_error_set(err, ST_ERR, "datastore '%s' (sqlite): %s: failed with SQLite code "
                            "%d and no message", q->name, what, code);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        return st_error_set(err, ST_EBUSY, "datastore '%s' (sqlite): %s: the database file is "
                            "locked by another writer (a frozen or stale run?)", q->name, what);
    return st_error_set(err, ST_ERR, "datastore '%s' (sqlite): %s: %s", q->name, what,
                        sqlite3_errmsg(q->db));
}

/* The directory of ds->path into dir ("" for URI and in-memory names,
 * which name no directory). */
static void sq_dir_of(const config_datastore *ds, char *dir, size_t n) {
    dir[0] = '\0';
    const char *p = ds->path;
    if (p == NULL || strncmp(p, "file:", 5) == 0 || strcmp(p, ":memory:") == 0) return;
    const char *slash = strrchr(p, '/');
    if (slash == NULL || slash == p) return;
    snprintf(dir, n, "%.*s", (int)(slash - p), p);
}

static bool sq_is_dir(const char *dir) {
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory as messages show it: hidden when the path is a secret. */
static const char *sq_dir_shown(const config_datastore *ds, const char *dir) {
    return config_datastore_shown(ds, ds->path) == ds->path ? dir : CONFIG_HIDDEN;
}

static int sq_open(void **impl, const config_datastore *ds, st_error *err) {
    sq_impl *q = calloc(1, sizeof *q);
    if (q == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    snprintf(q->name, sizeof q->name, "%s", ds->name);
    /* URI filenames: SQLite -> SQLite syncs ATTACH the source read-only
     * (file:...?mode=ro, store_sqlite_local.c) */
    if (sqlite3_open_v2(ds->path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                        NULL) !=
            SQLITE_OK ||
        sq_register(q->db) != ST_OK) {
        char dir[4096];
        sq_dir_of(ds, dir, sizeof dir);
        if (dir[0] != '\0' && !sq_is_dir(dir))
            st_error_set(err, ST_EUNAVAIL, "datastore '%s' (sqlite): cannot open %s: %s: "
                         "directory %s does not exist; `synctool ddl apply PIPELINE` creates it "
                         "for a destination, or correct `path` in datastores.yaml", ds->name,
                         ds->path, q->db ? sqlite3_errmsg(q->db) : "out of memory",
                         sq_dir_shown(ds, dir));
        else
            st_error_set(err, ST_EUNAVAIL, "datastore '%s' (sqlite): cannot open %s: %s",
                         ds->name, ds->path, q->db ? sqlite3_errmsg(q->db) : "out of memory");
        sqlite3_close(q->db);
        free(q);
        return ST_EUNAVAIL;
    }
    sqlite3_busy_timeout(q->db, 10000);
    *impl = q;
    return ST_OK;
}

/* st_null_tally(v): 0, counting a NULL v into the registered counter (a
 * local delta page's scan, store_sqlite_local.c). Not deterministic: called
 * once per evaluation. */
static void fn_null_tally(sqlite3_context *c, int argc, sqlite3_value **v) {
    (void)argc;
    if (sqlite3_value_type(v[0]) == SQLITE_NULL) (*(int64_t *)sqlite3_user_data(c))++;
    sqlite3_result_int(c, 0);
}

int store_sqlite_null_tally(store *s, int64_t *counter, st_error *err) {
    sq_impl *q = store_impl(s);
    if (sqlite3_create_function(q->db, "st_null_tally", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY,
                                counter, counter ? fn_null_tally : NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(q, err, "st_null_tally");
    return ST_OK;
}

static void sq_close(void *impl) {
    sq_impl *q = impl;
    if (q == NULL) return;
    if (!sqlite3_get_autocommit(q->db)) sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(q->db);
    free(q);
}

/* --- Dialect --- */

static void sq_canon_expr(store_sb *b, store_kind kind, const char *qcol) {
    if (kind == STORE_K_TEXT) store_sb_addf(b, "CAST(%s AS TEXT)", qcol);
    else store_sb_addf(b, "st_canon(%d, %s)", (int)kind, qcol);
}

static void sq_hash_expr(store_sb *b, store_kind kind, const char *qcol) {
    sq_canon_expr(b, kind, qcol);
}

static void sq_rowtext_expr(store_sb *b, const store_table *t) {
    const char *sep = "st_rowtext(";
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->ignored != NULL && t->ignored[i]) continue; /* compare: false */
        store_sb_addf(b, "%s%d, ", sep, (int)t->kinds[i]);
        store_sb_quote(b, t->cols[i]);
        sep = ", ";
    }
    store_sb_add(b, *sep == ',' ? ")" : "''");
}

/* Numbers compare as numbers (the raw column, numeric affinity); dates,
 * times and booleans through their canonical text on both sides, so a
 * parameter in an older spelling (a watermark saved as ...T...Z) still
 * compares right. */
static void sq_param_cast(store_sb *b, const char *param, store_kind kind, const char *type) {
    (void)type;
    if (kind == STORE_K_INT) store_sb_addf(b, "CAST(%s AS INTEGER)", param);
    else if (kind == STORE_K_NUMERIC || kind == STORE_K_FLOAT)
        store_sb_addf(b, "CAST(%s AS NUMERIC)", param);
    else if (kind == STORE_K_TEXT) store_sb_add(b, param);
    else store_sb_addf(b, "st_canon(%d, %s)", (int)kind, param);
}

static void sq_order_term(store_sb *b, const char *qcol, store_kind kind) {
    if (kind == STORE_K_INT || kind == STORE_K_TEXT || kind == STORE_K_NUMERIC ||
        kind == STORE_K_FLOAT)
        store_sb_add(b, qcol);
    else sq_canon_expr(b, kind, qcol);
}

/* Per-row digests (store.h): colhash-v2 through st_colhash() (the
 * PostgreSQL hash terms computed in C, store_canon.c), summed by
 * st_sumi64(); canon-md5-v1 over the md5() this driver registers. Both
 * agree with PostgreSQL's for equal rows. */
static const char *const sq_digest_families[] = {"colhash-v2", "canon-md5-v1", NULL};

static int sq_row_digest_expr(store_sb *b, const char *family, const store_table *t,
                              const char *rowtext, bool sum) {
    if (strcmp(family, "canon-md5-v1") == 0) {
        if (sum) return ST_ENOTIMPL;
        store_sb_addf(b, "substr(md5(%s), 1, 16)", rowtext);
        return ST_OK;
    }
    if (strcmp(family, "colhash-v2") != 0) return ST_ENOTIMPL;
    store_sb_add(b, sum ? "st_sumi64(st_colhash(" : "(st_colhash(");
    const char *sep = "";
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->ignored != NULL && t->ignored[i]) continue; /* compare: false */
        store_sb_addf(b, "%s%zu, %d, ", sep, i + 1, (int)t->kinds[i]);
        store_sb_quote(b, t->cols[i]);
        sep = ", ";
    }
    store_sb_add(b, "))");
    return ST_OK;
}

static void sq_sum64_expr(store_sb *b, const char *rowtext) {
    store_sb_addf(b, "st_sum64(substr(md5(%s), 1, 16))", rowtext);
}

/* The bucket sums without GROUP BY's sorter (store_backend.h): one
 * st_bucket_sums() over the range scan, its JSON read back as rows. */
static void sq_bucket_sums_sql(store_sb *b, const char *bucket, const char *rowhash,
                               const char *from, const char *where) {
    store_sb_addf(b, "SELECT json_extract(\"synctool_b\".value, '$[0]'), "
                     "json_extract(\"synctool_b\".value, '$[1]'), "
                     "json_extract(\"synctool_b\".value, '$[2]') "
                     "FROM json_each((SELECT st_bucket_sums(%s, %s) FROM %s WHERE %s)) "
                     "AS \"synctool_b\"", bucket, rowhash, from, where);
}

/* One row per [lo, hi] pair of the JSON array ?1: two correlated
 * subqueries over the key range (an index range scan when the key leads an
 * index, which the hash strategy checks first). */
static void sq_digest_range(store_sb *b, const char *from, const char *qkey) {
    store_sb_addf(b, " FROM %s WHERE %s BETWEEN json_extract(\"synctool_j\".value, '$[0]') "
                     "AND json_extract(\"synctool_j\".value, '$[1]'))", from, qkey);
}

static void sq_digest_sql(store_sb *b, const char *from, const char *qkey, const char *rowtext) {
    store_sb_add(b, "SELECT \"synctool_j\".key, (SELECT count(*)");
    sq_digest_range(b, from, qkey);
    store_sb_addf(b, ", (SELECT st_md5_agg(%s, %s)", qkey, rowtext);
    sq_digest_range(b, from, qkey);
    store_sb_add(b, " FROM json_each(?1) AS \"synctool_j\"");
}

/* --- Statements --- */

static int sq_prepare(sq_impl *q, sqlite3_stmt **st, const char *sql, int np,
                      const char *const *p, st_error *err) {
    if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK) return sq_fail(q, err, "query");
    for (int i = 0; i < np; i++) {
        int rc = p[i] ? sqlite3_bind_text(*st, i + 1, p[i], -1, SQLITE_TRANSIENT)
                      : sqlite3_bind_null(*st, i + 1);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(*st);
            *st = NULL;
            return sq_fail(q, err, "binding a parameter");
        }
    }
    return ST_OK;
}

static int sq_query(void *impl, store_reader **out, const char *sql, int np,
                    const char *const *p, st_error *err) {
    sq_impl *q = impl;
    store_reader *r = calloc(1, sizeof *r);
    if (r == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    r->impl = q;
    int rc = sq_prepare(q, &r->stmt, sql, np, p, err);
    if (rc != ST_OK) { free(r); return rc; }
    r->ncols = sqlite3_column_count(r->stmt);
    r->row = calloc((size_t)r->ncols + 1, sizeof *r->row);
    if (r->row == NULL) {
        sqlite3_finalize(r->stmt);
        free(r);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    *out = r;
    return ST_OK;
}

/* Interruptible reads (store_ops.set_interrupt): SQLite calls this every
 * 1,000 virtual machine steps; non-zero ends the statement being stepped
 * with SQLITE_INTERRUPT. Only a reader's step is ended so (`reading`): a
 * write or a commit always runs to its end. */
static int sq_progress(void *arg) {
    sq_impl *q = arg;
    return q->reading && q->intr != NULL && *q->intr;
}

static void sq_set_interrupt(void *impl, atomic_int *flag) {
    sq_impl *q = impl;
    q->intr = flag;
    sqlite3_progress_handler(q->db, flag ? 1000 : 0, flag ? sq_progress : NULL, q);
}

static int sq_next(store_reader *r, const char *const **row, int *ncols, st_error *err) {
    r->impl->reading = true;
    int rc = sqlite3_step(r->stmt);
    r->impl->reading = false;
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return sq_fail(r->impl, err, "reading rows");
    for (int i = 0; i < r->ncols; i++)
        r->row[i] = sqlite3_column_type(r->stmt, i) == SQLITE_NULL
                        ? NULL : (const char *)sqlite3_column_text(r->stmt, i);
    *row = r->row;
    *ncols = r->ncols;
    return 1;
}

static void sq_reader_close(store_reader *r) {
    if (r == NULL) return;
    sqlite3_finalize(r->stmt);
    free(r->row);
    free(r);
}

static int sq_exec(void *impl, const char *sql, int np, const char *const *p,
                   int64_t *affected, st_error *err) {
    sq_impl *q = impl;
    sqlite3_stmt *st = NULL;
    int rc = sq_prepare(q, &st, sql, np, p, err);
    if (rc != ST_OK) return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sq_fail(q, err, "statement");
    if (affected) *affected = sqlite3_changes(q->db);
    return ST_OK;
}

/* The page cache of a connection that writes (16 MiB; SQLite's default is
 * 2 MiB): a transaction whose dirty pages outgrow the cache spills them
 * into the database file, each spill an fsync of the journal first. 10,000
 * rows upserted across a 1M-row table dirty ~10,000 pages: 55 fsyncs at
 * the default, 9 at 64 MiB (SQLite -> SQLite delta of 1 %). The cache
 * grows as pages are used, and a 100,000-row batch fills any size: at
 * 64 MiB PostgreSQL -> SQLite full of 1M rows peaked at 79 MB RSS (19 MB
 * before), hash at 95 MB; at 16 MiB 34 and 49 MB, with the delta of 1 %
 * no slower (1.08-1.14x its baseline against 1.23-1.25x at 64 MiB,
 * interleaved). A connection that only reads keeps the default, as the
 * OS caches the file anyway. */
#define SQ_WRITE_CACHE "PRAGMA cache_size = -16384"

static int sq_begin(void *impl, st_error *err) {
    sq_impl *q = impl;
    if (!q->writer && sqlite3_exec(q->db, SQ_WRITE_CACHE, NULL, NULL, NULL) == SQLITE_OK)
        q->writer = true;
    return sq_exec(impl, "BEGIN IMMEDIATE", 0, NULL, NULL, err);
}
static int sq_commit(void *impl, st_error *err) { return sq_exec(impl, "COMMIT", 0, NULL, NULL, err); }
static int sq_rollback(void *impl) {
    sq_impl *q = impl;
    if (sqlite3_get_autocommit(q->db)) return ST_OK;
    return sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK ? ST_OK : ST_ERR;
}

/* --- Writes --- */

/* Appends " WHERE k1 = ?a AND k2 = ?b" numbering keys by column index. */
static void sq_where_keys(store_sb *b, const store_table *t) {
    const char *sep = " WHERE ";
    for (size_t i = 0; i < t->ncols; i++) {
        if (!t->key[i]) continue;
        store_sb_add(b, sep);
        store_sb_quote(b, t->cols[i]);
        store_sb_addf(b, " = ?%zu", i + 1);
        sep = " AND ";
    }
}

static void sq_build_upsert(store_sb *b, const store_table *t) {
    store_sb_add(b, "INSERT INTO ");
    store_sb_quote(b, t->schema ? t->schema : "main");
    store_sb_add(b, ".");
    store_sb_quote(b, t->table);
    store_sb_add(b, " (");
    for (size_t i = 0; i < t->ncols; i++) {
        if (i) store_sb_add(b, ", ");
        store_sb_quote(b, t->cols[i]);
    }
    store_sb_add(b, ") VALUES (");
    for (size_t i = 0; i < t->ncols; i++) store_sb_addf(b, "%s?%zu", i ? ", " : "", i + 1);
    store_sb_add(b, ") ON CONFLICT (");
    const char *sep = "";
    for (size_t i = 0; i < t->ncols; i++)
        if (t->key[i]) { store_sb_add(b, sep); store_sb_quote(b, t->cols[i]); sep = ", "; }
    store_sb_add(b, ") DO ");
    sep = "UPDATE SET ";
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->key[i]) continue;
        store_sb_add(b, sep);
        store_sb_quote(b, t->cols[i]);
        store_sb_add(b, " = excluded.");
        store_sb_quote(b, t->cols[i]);
        sep = ", ";
    }
    if (strcmp(sep, "UPDATE SET ") == 0) store_sb_add(b, "NOTHING");
}

static void sq_build_select(store_sb *b, const store_table *t) {
    store_sb_add(b, "SELECT ");
    for (size_t i = 0; i < t->ncols; i++) {
        store_sb q = {0};
        store_sb_quote(&q, t->cols[i]);
        if (i) store_sb_add(b, ", ");
        sq_canon_expr(b, t->kinds[i], q.oom ? "" : q.s);
        store_sb_free(&q);
    }
    store_sb_add(b, " FROM ");
    store_sb_quote(b, t->schema ? t->schema : "main");
    store_sb_add(b, ".");
    store_sb_quote(b, t->table);
    sq_where_keys(b, t);
}

typedef struct sq_stmts {
    sqlite3_stmt *up, *del, *sel;
} sq_stmts;

static void sq_stmts_free(sq_stmts *s) {
    sqlite3_finalize(s->up);
    sqlite3_finalize(s->del);
    sqlite3_finalize(s->sel);
}

static int sq_stmts_prepare(sq_impl *q, const store_table *t, sq_stmts *s, st_error *err) {
    store_sb up = {0}, del = {0}, sel = {0};
    sq_build_upsert(&up, t);
    store_sb_add(&del, "DELETE FROM ");
    store_sb_quote(&del, t->schema ? t->schema : "main");
    store_sb_add(&del, ".");
    store_sb_quote(&del, t->table);
    sq_where_keys(&del, t);
    sq_build_select(&sel, t);
    int rc = ST_OK;
    if (up.oom || del.oom || sel.oom) rc = st_error_set(err, ST_ENOMEM, "out of memory");
    else if (sqlite3_prepare_v2(q->db, up.s, -1, &s->up, NULL) != SQLITE_OK ||
             sqlite3_prepare_v2(q->db, del.s, -1, &s->del, NULL) != SQLITE_OK ||
             sqlite3_prepare_v2(q->db, sel.s, -1, &s->sel, NULL) != SQLITE_OK)
        rc = st_error_set(err, ST_ERR, "datastore '%s' (sqlite): table %s: %s", q->name,
                          t->table, sqlite3_errmsg(q->db));
    store_sb_free(&up);
    store_sb_free(&del);
    store_sb_free(&sel);
    return rc;
}

/* Binds canonical text; booleans as 1/0 (SQLite has no boolean class and
 * its comparisons and sums want 0/1). Numbers are bound as text: the
 * column's affinity stores them as INTEGER or REAL; a float's Infinity and
 * -Infinity, which no affinity reads as numbers, as the REAL infinities
 * SQLite holds (and a copy inside SQLite keeps). */
static void sq_bind_row(sqlite3_stmt *st, const store_table *t, const char *const *v, bool keys_only) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (size_t i = 0; i < t->ncols; i++) {
        if ((keys_only && !t->key[i]) || v[i] == NULL) continue;
        if (t->kinds[i] == STORE_K_BOOL && (v[i][0] == 't' || v[i][0] == 'f') && v[i][1] == '\0')
            sqlite3_bind_int(st, (int)i + 1, v[i][0] == 't');
        else if (t->kinds[i] == STORE_K_FLOAT && strcmp(v[i] + (v[i][0] == '-'), "Infinity") == 0)
            sqlite3_bind_double(st, (int)i + 1, v[i][0] == '-' ? -HUGE_VAL : HUGE_VAL);
        else
            sqlite3_bind_text(st, (int)i + 1, v[i], -1, SQLITE_STATIC);
    }
}

/* For UPSERT: 0 = row missing, 1 = present and equal, 2 = present, differs. */
static int sq_compare_existing(sqlite3_stmt *sel, const store_table *t, const char *const *v) {
    sq_bind_row(sel, t, v, true);
    if (sqlite3_step(sel) != SQLITE_ROW) return 0;
    for (size_t i = 0; i < t->ncols; i++) {
        const char *have = sqlite3_column_type(sel, (int)i) == SQLITE_NULL
                               ? NULL : (const char *)sqlite3_column_text(sel, (int)i);
        if ((have == NULL) != (v[i] == NULL) || (have && strcmp(have, v[i]) != 0)) return 2;
    }
    return 1;
}

static int sq_apply_one(sq_impl *q, sq_stmts *s, const store_table *t, const store_change *c,
                        store_counts *out) {
    int existing = c->op == STORE_INSERT ? 0 : c->op == STORE_UPDATE ? 2 : -1;
    if (c->op == STORE_UPSERT) existing = sq_compare_existing(s->sel, t, c->vals);
    if (c->op == STORE_DELETE) {
        sq_bind_row(s->del, t, c->vals, true);
        if (sqlite3_step(s->del) != SQLITE_DONE) return ST_ERR;
        out->deleted += sqlite3_changes(q->db);
        return ST_OK;
    }
    if (existing == 1) return ST_OK;
    sq_bind_row(s->up, t, c->vals, false);
    if (sqlite3_step(s->up) != SQLITE_DONE) return ST_ERR;
    if (existing == 0) out->inserted++;
    else out->updated++;
    return ST_OK;
}

static int sq_apply(void *impl, const store_table *t, store_op op, store_pull_fn pull, void *arg,
                    store_counts *out, st_error *err) {
    sq_impl *q = impl;
    sq_stmts s = {0};
    int rc = sq_stmts_prepare(q, t, &s, err);
    for (int more = 1; rc == ST_OK;) {
        store_change c = {op, NULL};
        if ((more = pull(arg, &c.vals, err)) <= 0) {
            rc = more;
            break;
        }
        if (sq_apply_one(q, &s, t, &c, out) != ST_OK)
            rc = st_error_set(err, ST_ERR, "datastore '%s' (sqlite): writing table %s: %s",
                              q->name, t->table, sqlite3_errmsg(q->db));
    }
    sq_stmts_free(&s);
    return rc;
}

/* --- Schema --- */

static int sq_describe(void *impl, const char *schema, const char *table,
                       store_column_info **out, size_t *n, st_error *err) {
    sq_impl *q = impl;
    const char *p[2] = {table, schema};
    store_reader *r = NULL;
    *out = NULL;
    *n = 0;
    int rc = sq_query(q, &r, "SELECT name, type FROM pragma_table_info(?1, ?2)", 2, p, err);
    const char *const *row;
    int nc;
    while (rc == ST_OK && (rc = sq_next(r, &row, &nc, err)) == 1) {
        store_column_info *g = realloc(*out, (*n + 1) * sizeof **out);
        if (g == NULL) { rc = st_error_set(err, ST_ENOMEM, "out of memory"); break; }
        *out = g;
        snprintf(g[*n].name, sizeof g[*n].name, "%s", row[0] ? row[0] : "");
        snprintf(g[*n].type, sizeof g[*n].type, "%s", row[1] ? row[1] : "");
        (*n)++;
        rc = ST_OK;
    }
    sq_reader_close(r);
    if (rc == ST_OK && *n == 0)
        rc = st_error_set(err, ST_ENOTFOUND, "datastore '%s': table %s.%s does not exist",
                          q->name, schema, table);
    if (rc != ST_OK) { free(*out); *out = NULL; *n = 0; }
    return rc;
}

/* cols lead an index in this order, or cols[0] is the rowid (INTEGER
 * PRIMARY KEY). */
static int sq_key_indexed(void *impl, const char *schema, const char *table,
                          const char *const *cols, size_t n, bool *yes, st_error *err) {
    *yes = false;
    if (n == 0 || n > 32) return ST_OK;
    const char *p[34] = {table, schema};
    store_sb q = {0};
    store_sb_add(&q, "SELECT 1 FROM pragma_index_list(?1, ?2) AS il WHERE 1");
    for (size_t k = 0; k < n; k++) {
        store_sb_addf(&q, " AND EXISTS (SELECT 1 FROM pragma_index_info(il.name, ?2) "
                          "WHERE seqno = %zu AND name = ?%zu)", k, k + 3);
        p[k + 2] = cols[k];
    }
    store_sb_addf(&q, " UNION ALL SELECT 1 FROM pragma_table_info(?1, ?2) WHERE %d AND pk = 1 "
                      "AND name = ?3 AND upper(type) = 'INTEGER'", n == 1);
    store_reader *r = NULL;
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : sq_query(impl, &r, q.s, (int)n + 2, p, err);
    store_sb_free(&q);
    const char *const *row;
    int nc;
    if (rc == ST_OK) {
        rc = sq_next(r, &row, &nc, err);
        *yes = rc == 1;
        if (rc >= 0) rc = ST_OK;
    }
    sq_reader_close(r);
    return rc;
}

/* store_ops.column_stamped: a default of CURRENT_TIMESTAMP or one of the
 * date functions at 'now', or any trigger on the table. (SQLite has no
 * xact_floor: writers are serialised, and a default is evaluated while the
 * write lock is held, so no row can commit below one already read.) */
static int sq_column_stamped(void *impl, const char *schema, const char *table, const char *col,
                             bool *stamped, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT (SELECT count(*) FROM pragma_table_info(?1, ?2) WHERE name = ?3 "
                     "AND (upper(dflt_value) LIKE 'CURRENT_%' OR lower(dflt_value) LIKE "
                     "'%''now''%')) + (SELECT count(*) FROM ");
    store_sb_quote(&q, schema);
    store_sb_add(&q, ".sqlite_master WHERE type = 'trigger' AND tbl_name = ?1)");
    const char *p[3] = {table, schema, col};
    store_reader *r = NULL;
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : sq_query(impl, &r, q.s, 3, p, err);
    store_sb_free(&q);
    const char *const *row = NULL;
    int nc = 0;
    if (rc == ST_OK) rc = sq_next(r, &row, &nc, err);
    *stamped = rc == 1 && nc == 1 && row[0] && strtoll(row[0], NULL, 10) > 0;
    sq_reader_close(r);
    return rc < 0 ? rc : ST_OK;
}

/* Declared types that give each kind its affinity (store.h, "SQLite
 * storage"): INTEGER; the config's own NUMERIC(p,s) / DECIMAL(p,s)
 * spelling (numeric affinity); REAL; BOOLEAN, DATE, TIMESTAMP and
 * TIMESTAMPTZ (numeric affinity: 0/1 stay integers, the canonical date and
 * time text stays text); TEXT for the rest. */
static int sq_ddl_type(void *impl, const char *cfgtype, char *buf, size_t n, st_error *err) {
    (void)impl;
    (void)err;
    const char *name = "TEXT";
    switch (store_kind_of(cfgtype)) {
    case STORE_K_INT: name = "INTEGER"; break;
    case STORE_K_FLOAT: name = "REAL"; break;
    case STORE_K_BOOL: name = "BOOLEAN"; break;
    case STORE_K_DATE: name = "DATE"; break;
    case STORE_K_TIMESTAMP: name = "TIMESTAMP"; break;
    case STORE_K_TIMESTAMPTZ: name = "TIMESTAMPTZ"; break;
    case STORE_K_TEXT:
    case STORE_K_TIME:      /* PostgreSQL's time text */
    case STORE_K_BYTES: break;   /* \x hex text (store_mysql / PostgreSQL's bytea output) */
    case STORE_K_NUMERIC: {
        size_t k = 0;
        for (; cfgtype[k] && k + 1 < n; k++)
            buf[k] = cfgtype[k] == ' ' ? ' ' : (char)toupper((unsigned char)cfgtype[k]);
        buf[k] = '\0';
        bool safe = k > 0;
        for (size_t i = 0; i < k; i++)
            if (!isalnum((unsigned char)buf[i]) && !strchr(" (),", buf[i])) safe = false;
        if (safe) return ST_OK;
        name = "NUMERIC";
    }
    }
    snprintf(buf, n, "%s", name);
    return ST_OK;
}

/* --- init and ddl apply (store.h, store_ops version 10) --- */

/* A declared type in the config's vocabulary. SQLite accepts any text as a
 * type, so the config's own names are kept (boolean, date, timestamp,
 * timestamptz, time, numeric(p,s), decimal(p,s), varchar(n), bytea), and
 * the rest goes by SQLite's affinity rules (store_sqlite_affinity): an
 * integer is 64 bits (bigint), a REAL 8 bytes (double precision), TEXT and
 * a column without a type text, BLOB bytea, anything else numeric. */
static void sq_config_type(const char *type, char *buf, size_t n) {
    char low[128];
    size_t i = 0;
    while (isspace((unsigned char)*type)) type++;
    for (; type[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)type[i]);
    while (i > 0 && isspace((unsigned char)low[i - 1])) i--;
    low[i] = '\0';
    size_t k = strcspn(low, "(");
    static const struct { const char *head, *to; bool args; } names[] = {
        {"boolean", "boolean", false}, {"bool", "boolean", false}, {"date", "date", false},
        {"datetime", "timestamp", false}, {"timestamp", "timestamp", false},
        {"timestamptz", "timestamptz", false}, {"timestamp with time zone", "timestamptz", false},
        {"time", "time", false}, {"numeric", "numeric", true}, {"decimal", "decimal", true},
        {"varchar", "varchar", true}, {"bytea", "bytea", false},
    };
    for (size_t j = 0; j < sizeof names / sizeof *names; j++) {
        if (strlen(names[j].head) != k || strncmp(low, names[j].head, k) != 0) continue;
        snprintf(buf, n, "%s%s", names[j].to, names[j].args ? low + k : "");
        return;
    }
    const char *to = "numeric";
    if (strstr(low, "int")) to = "bigint";
    else if (strstr(low, "char") || strstr(low, "clob") || strstr(low, "text")) to = "text";
    else if (low[0] == '\0') to = "text";
    else if (strstr(low, "blob")) to = "bytea";
    else if (strstr(low, "real") || strstr(low, "floa") || strstr(low, "doub"))
        to = "double precision";
    snprintf(buf, n, "%s", to);
}

static int sq_primary_key(void *impl, const char *schema, const char *table,
                          store_column_info **out, size_t *n, st_error *err) {
    const char *p[2] = {table, schema};
    store_reader *r = NULL;
    *out = NULL;
    *n = 0;
    int rc = sq_query(impl, &r, "SELECT name FROM pragma_table_info(?1, ?2) WHERE pk > 0 "
                                "ORDER BY pk", 2, p, err);
    const char *const *row;
    int nc;
    while (rc == ST_OK && (rc = sq_next(r, &row, &nc, err)) == 1) {
        store_column_info *g = realloc(*out, (*n + 1) * sizeof **out);
        if (g == NULL) { rc = st_error_set(err, ST_ENOMEM, "out of memory"); break; }
        *out = g;
        memset(&g[*n], 0, sizeof g[*n]);
        snprintf(g[*n].name, sizeof g[*n].name, "%s", row[0] ? row[0] : "");
        (*n)++;
        rc = ST_OK;
    }
    sq_reader_close(r);
    if (rc != ST_OK) { free(*out); *out = NULL; *n = 0; }
    return rc;
}

/* store_ops.prepare: the file's directory, with its missing parents. */
static int sq_make_dir(const config_datastore *ds, bool dry, char *did, size_t n,
                      st_error *err) {
    char dir[4096];
    sq_dir_of(ds, dir, sizeof dir);
    if (dir[0] == '\0' || sq_is_dir(dir)) return ST_OK;
    if (dry) {
        snprintf(did, n, "create directory %s", sq_dir_shown(ds, dir));
        return ST_OK;
    }
    for (char *p = dir + 1;; p++) {
        bool end = *p == '\0';
        if (!end && *p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return st_error_set(err, ST_ERR, "datastore '%s' (sqlite): cannot create directory "
                                "%s: %s", ds->name, sq_dir_shown(ds, dir), strerror(errno));
        if (end) break;
        *p = '/';
    }
    snprintf(did, n, "created directory %s", sq_dir_shown(ds, dir));
    return ST_OK;
}

/* --- Fencing (store.h, store_ops version 7) ---
 *
 * Writers of one file are serialised by its lock, so CREATE TABLE IF NOT
 * EXISTS is safe against a concurrent creator and the shared read needs no
 * row lock. A session cannot be tagged, and another process's write lock
 * cannot be ended: a newer run blocked by a frozen older one is skipped
 * (ST_EBUSY), naming the token that holder last stored. */

static const char SQ_FENCE_READ[] = "SELECT token FROM synctool_fence WHERE lock_key = ?1";
static const char SQ_FENCE_RAISE[] =
    "INSERT INTO synctool_fence (lock_key, token) VALUES (?1, CAST(?2 AS bigint)) "
    "ON CONFLICT (lock_key) DO UPDATE SET token = excluded.token "
    "WHERE synctool_fence.token <= excluded.token";

static int sq_fence_create(void *impl, st_error *err) {
    return sq_exec(impl, "CREATE TABLE IF NOT EXISTS synctool_fence "
                         "(lock_key text PRIMARY KEY, token bigint NOT NULL)",
                   0, NULL, NULL, err);
}

static int sq_fence_tag(void *impl, const char *key, int64_t token, st_error *err) {
    (void)impl, (void)key, (void)token, (void)err;
    return ST_OK;
}

static int sq_fence_floor(void *impl, const char *key, int64_t *floor, st_error *err) {
    store_reader *r = NULL;
    const char *p[] = {key};
    *floor = -1;
    int rc = sq_query(impl, &r, SQ_FENCE_READ, 1, p, err);
    if (rc != ST_OK) return rc;
    const char *const *row;
    int nc;
    rc = sq_next(r, &row, &nc, err);
    if (rc == 1 && row[0] != NULL) *floor = strtoll(row[0], NULL, 10);
    sq_reader_close(r);
    return rc < 0 ? rc : ST_OK;
}

static int sq_fence_evict(void *impl, const char *key, int64_t token, int *ended, char *holder,
                          size_t n, st_error *err) {
    (void)impl, (void)key, (void)token, (void)ended, (void)holder, (void)n;
    return st_error_set(err, ST_ENOTIMPL, "sqlite: another writer cannot be ended");
}

/* --- What callers ask of the engine (store.h, store_ops version 11; the
 * methods are in store_sqlite_ddl.c and store_sqlite_local.c) --- */

/* Rows per batch: each commit is a journal and database fsync (1M rows
 * PostgreSQL -> SQLite: 2.2 s of fsync waits at 10,000, measured in
 * bench_sqlite.py). */
#define SQ_DEFAULT_BATCH 100000

#define SQ_KEY_UNIQUE                                                                          \
    "SELECT 1 FROM pragma_index_list(?1, ?2) AS il WHERE il.\"unique\" AND "                   \
    "(SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_index_info(il.name, ?2) "   \
    "ORDER BY name)) = ?3 "                                                                    \
    "UNION ALL SELECT 1 FROM (SELECT group_concat(name, ',') AS k FROM (SELECT name FROM "     \
    "pragma_table_info(?1, ?2) WHERE pk > 0 ORDER BY name)) WHERE k = ?3"

static const struct store_ops sqlite_store_ops = {
    .version = STORE_OPS_VERSION,
    .engine = "sqlite",
    .default_schema = "main",
    .param_prefix = '?',
    .row_list = "VALUES ",
    .open = sq_open,
    .close = sq_close,
    .canon_expr = sq_canon_expr,
    .param_cast = sq_param_cast,
    .order_term = sq_order_term,
    .hash_expr = sq_hash_expr,
    .rowtext_expr = sq_rowtext_expr,
    .sum64_expr = sq_sum64_expr,
    .digest_sql = sq_digest_sql,
    .bucket_sums_sql = sq_bucket_sums_sql,
    .query = sq_query,
    .query_small = sq_query,
    .reader_next = sq_next,
    .reader_close = sq_reader_close,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .apply = sq_apply,
    .describe = sq_describe,
    .key_indexed = sq_key_indexed,
    .ddl_type = sq_ddl_type,
    .set_interrupt = sq_set_interrupt,
    .digest_families = sq_digest_families,
    .row_digest_expr = sq_row_digest_expr,
    .ddl_transactional = true,
    .fence_create = sq_fence_create,
    .fence_read_sql = SQ_FENCE_READ,
    .fence_raise_sql = SQ_FENCE_RAISE,
    .fence_tag = sq_fence_tag,
    .fence_floor = sq_fence_floor,
    .fence_evict = sq_fence_evict,
    .column_stamped = sq_column_stamped,
    .config_type = sq_config_type,
    .primary_key = sq_primary_key,
    .prepare = sq_make_dir,
    .default_batch = SQ_DEFAULT_BATCH,
    .time_compare_unindexed = true,
    .column_fit = store_sqlite_column_fit,
    .migrate_table = store_sqlite_migrate_table,
    .ddl_caveat = store_sqlite_ddl_caveat,
    .key_unique_sql = SQ_KEY_UNIQUE,
    .create_index_sql = store_sqlite_create_index_sql,
    .read_while_write = store_sqlite_read_while_write,
    .local = &store_sqlite_local_ops,
};

const struct store_ops *store_sqlite_driver(void) { return &sqlite_store_ops; }
