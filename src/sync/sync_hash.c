/*
 * sync_hash — the hash strategy: compare digests, move only what differs.
 *
 * Each database computes, for key ranges, the row count and an MD5-based
 * digest of the rows ITSELF in SQL, over the *row text* of each row: the
 * values' hash texts joined with '|' (store.h: canonical text, timestamps in
 * ISO output form; '\' and '|' escaped, NULL as \N). Equal rows give equal
 * text on both engines, so equal ranges give equal digests across engines.
 * The compare: false columns are in no digest (store_table.ignored): a
 * range differing only there is equal, and no row of it is read.
 *
 * Ordered digests (single integer key with an index on both sides, table
 * sources): a range's digest is md5 of its row texts joined with '|' in key
 * order — one MD5 over the range, not one per row, which is what made the
 * hash pass cost 2x a plain read of the row text (PostgreSQL sets up an
 * OpenSSL context per md5() call). Each side reads the range through the
 * key index in key order, so the server holds one range's text at a time
 * (store_ops.digest_sql). The key range [min, max] over both sides is cut
 * into buckets of equal width, enough of them (16 to HASH_MAX_FANOUT) that
 * one holds about HASH_AGG_ROWS / 2 rows on average; one query per side
 * digests them all. A bucket whose width may exceed HASH_AGG_ROWS keys
 * (sparse keys) is first only counted, and split further before anything
 * is digested, so no digest ever joins more than HASH_AGG_ROWS rows (keys
 * are unique). Equal buckets are skipped (segments_skipped). A differing
 * bucket holding more than segment_rows rows on either side is cut into 16
 * and digested again; a smaller one is a leaf: its rows are fetched from
 * both sides (ordered by key) and merged with sync_merge(), which queues
 * exactly the inserts, updates and deletes needed (see settle_level below
 * for when a level switches to the row pass instead). Identical tables
 * transfer no rows: only the buckets' (count, digest) pairs.
 *
 * Summed checksums (any other key, a key without an index, a source
 * query): the 64-bit checksum of a range is the sum modulo 2^64 of the
 * first 16 hex digits of md5(row text) per row, which needs no order.
 * PostgreSQL uses md5() and sums bigints (128-bit accumulator); SQLite the
 * md5() and st_sum64() functions the driver registers. The whole table is
 * the first segment; with a single integer key, differing tables recurse by
 * key range with one GROUP BY query per level (fan-out 16); other keys
 * recurse over ranges cut at real keys when both sides can read such a
 * range through an index (sync_hash_keyset.c), and run the full merge
 * otherwise.
 *
 * Same-engine fast path (both stores offer a summable per-row digest
 * family, store.h: colhash-v2 between PostgreSQL and SQLite; single
 * indexed integer key): a range's checksum is the sum of the rows' typed
 * hashes (the XOR of each value's extended hash), so no row text is
 * built; the first level cuts the key range (min and max only: the span's
 * width sizes it) into fine buckets (~HASH_FAST_ROWS rows, up to
 * HASH_FAST_FANOUT: one GROUP BY costs the same for 16 groups as for
 * 16,384), which also tells identical tables in one pass per side (a
 * driver may sum the buckets without its GROUP BY's sort:
 * store_sb_bucket_sums, SQLite's st_bucket_sums). Before
 * that pass, a sample of the first level's buckets (sample_plan) decides
 * whether the changes are spread: then the row pass (or, when a large
 * share of rows differs, full) runs at once instead of after a wasted
 * pass.
 *
 * Every level then settles its compared buckets together (settle_level):
 * when most differ and they hold more than a few leaves' rows — changes
 * spread over the table, where bisection would re-read every range at
 * every level — they go to the row pass (sync_hash_rows.c: per-row digests
 * streamed and merged, then only the differing keys fetched); otherwise
 * the small differing buckets are leaves, many per query, and the large
 * ones are split again. With a row digest family the leaves' (key, digest)
 * pairs are compared first and only their differing rows fetched
 * (sync_hash_merge_buckets); without one the leaves are fetched whole.
 *
 * The two sides' queries run concurrently (the source's in a thread), each
 * on its own connection.
 *
 * With `parallel: N` (sync_parallel.c) each key range runs this code on a
 * connection pair of its own, c->range bounding it: the whole-range
 * checksum and the integer key's span (as literals) take the bounds, so
 * every bucket, digest and row fetch cut from the span stays in the range;
 * the keyset recursion's top segment is the range (sync_hash_keyset.c).
 *
 * A pipeline with lookups (sync_lookup.c) compares enriched rows: the
 * source database cannot put another datastore's columns into its digest,
 * so hash streams the source's canonical rows through the enrichment and
 * merges them with the destination's (sync_full_compare, the path the
 * cross-engine comparison takes when no digest recursion fits), writing
 * only the differing rows; a change in a lookup table is seen this way.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_FANOUT 16
#define HASH_MAX_FANOUT 1024
#define HASH_AGG_ROWS 32768   /* most rows one ordered digest joins */

typedef struct seg_sum {
    int64_t count;
    uint64_t sum;        /* summed checksums */
    char digest[33];     /* ordered digests; "" when the range is empty */
    int64_t min, max;    /* key_span */
} seg_sum;

typedef struct hash_range {
    int64_t lo, hi;
    int64_t rows;        /* most rows either side holds in it; -1 unknown */
} hash_range;

typedef struct range_stack {
    hash_range *v;
    size_t n, cap;
} range_stack;

static int key_index(const sync_ctx *c) {
    for (size_t i = 0; i < c->ncols; i++)
        if (c->key[i]) return (int)i;
    return -1;
}

static store *side_store(sync_ctx *c, bool source) { return source ? c->src : c->dst; }
static const store_table *side_table(sync_ctx *c, bool source) {
    return source ? &c->st : &c->dt;
}
static const char *side_key(sync_ctx *c, bool source) {
    int k = key_index(c);
    return source ? c->scols[k] : c->dcols[k];
}

static int push_range(sync_ctx *c, range_stack *st, hash_range r) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 32;
        hash_range *g = realloc(st->v, cap * sizeof *g);
        if (g == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
        st->v = g;
        st->cap = cap;
    }
    st->v[st->n++] = r;
    return ST_OK;
}

/* Cuts [r.lo, r.hi] into at most nb buckets of equal width `*step`;
 * returns how many (the last may be narrower). */
static size_t cut_range(hash_range r, size_t nb, int64_t *step, hash_range *out) {
    uint64_t width = (uint64_t)r.hi - (uint64_t)r.lo + 1;
    uint64_t w = width == 0 ? UINT64_MAX / nb + 1 : (width + nb - 1) / nb;
    if (w < 1) w = 1;
    *step = (int64_t)w;
    size_t n = 0;
    for (uint64_t lo = (uint64_t)r.lo; n < nb; lo += w) {
        uint64_t left = (uint64_t)r.hi - lo;
        out[n].lo = (int64_t)lo;
        out[n].hi = left < w ? r.hi : (int64_t)(lo + w - 1);
        out[n].rows = -1;
        n++;
        if (left < w) break;
    }
    return n;
}

/* --- The two sides at once --- */

typedef struct side_job side_job;
typedef int (*side_fn)(side_job *j, bool source, st_error *err);

struct side_job {
    sync_ctx *c;
    side_fn fn;
    hash_range r;           /* bucket queries: the range ... */
    int64_t step;           /* ... and the bucket width */
    const hash_range *segs; /* digests: the ranges */
    size_t n;               /* buckets or ranges */
    bool count_only;
    bool no_count;          /* key_span: min and max only */
    seg_sum *out;
};

static int side_call(sync_ctx *c, bool source, void *arg, st_error *err) {
    (void)c;
    side_job *j = arg;
    return j->fn(j, source, err);
}

/* j->fn on both sides at once (sync_both_sides), filling src[] and dst[]. */
static int both_sides(side_job *j, seg_sum *src, seg_sum *dst) {
    side_job s = *j, d = *j;
    s.out = src;
    d.out = dst;
    return sync_both_sides(j->c, side_call, &s, &d);
}

static bool seg_equal(const seg_sum *a, const seg_sum *b) {
    return a->count == b->count && a->sum == b->sum && strcmp(a->digest, b->digest) == 0;
}

/* --- Queries --- */

/* Rows (bucket index, count, checksum or digest) into j->out; frees l. */
static void fill_buckets(side_job *j, sync_list *l, bool digest) {
    memset(j->out, 0, j->n * sizeof *j->out);
    for (size_t i = 0; i < l->n; i++) {
        const char *const *v = l->rows[i]->v;
        long long bi = v[0] ? strtoll(v[0], NULL, 10) : -1;
        if (bi < 0 || (size_t)bi >= j->n) continue;
        j->out[bi].count = v[1] ? strtoll(v[1], NULL, 10) : 0;
        if (v[2] && digest) snprintf(j->out[bi].digest, sizeof j->out[bi].digest, "%s", v[2]);
        else if (v[2]) j->out[bi].sum = store_mod64(v[2]);
    }
    sync_list_free(l);
}

/* Appends the bucket of key `kq` among sub[from..to) as nested CASEs on
 * their upper bounds (a binary search, log2(n) comparisons per row). */
static void bucket_case(store_sb *q, const char *kq, const hash_range *sub, size_t from,
                        size_t to) {
    if (to - from == 1) {
        store_sb_addf(q, "%zu", from);
        return;
    }
    size_t mid = from + (to - from) / 2;
    store_sb_addf(q, "CASE WHEN %s <= %lld THEN ", kq, (long long)sub[mid - 1].hi);
    bucket_case(q, kq, sub, from, mid);
    store_sb_add(q, " ELSE ");
    bucket_case(q, kq, sub, mid, to);
    store_sb_add(q, " END");
}

/* Appends the bucket number of key `kq` in j->r: (k - lo) / step, which
 * both engines compute in 64-bit integers. When the range spans more than
 * 2^63 keys, k - lo can overflow (PostgreSQL: "bigint out of range";
 * SQLite: silently a float, so a row could be counted in the wrong
 * bucket), so such ranges — only the top of a table whose keys reach from
 * far below zero to far above — compare against the bucket bounds. */
static bool range_is_wide(hash_range r) {
    return (uint64_t)r.hi - (uint64_t)r.lo > (uint64_t)INT64_MAX;
}

static void bucket_expr(store_sb *q, side_job *j, const store *os, const char *kq,
                        const char *type, const char *p1, const char *p2) {
    if (range_is_wide(j->r)) {
        hash_range sub[HASH_MAX_FANOUT];
        int64_t step;
        size_t n = cut_range(j->r, j->n, &step, sub);
        bucket_case(q, kq, sub, 0, n);
        return;
    }
    store_sb_addf(q, "(%s - ", kq);
    store_sb_param_cast(q, os, p1, STORE_K_INT, type);
    store_sb_addf(q, ") %s ", store_int_div(os));
    store_sb_param_cast(q, os, p2, STORE_K_INT, type);
}

/* SELECT bucket, count(*), checksum FROM t WHERE k BETWEEN lo AND hi GROUP BY 1
 * (count_only: no checksum); with a summable row digest, the driver's form
 * of it when it has one (store_sb_bucket_sums: SQLite sums without a sort). */
static int bucket_sums(side_job *j, bool source, st_error *err) {
    sync_ctx *c = j->c;
    store *s = side_store(c, source);
    const store *os = s;
    const char *type = c->types[key_index(c)];
    char pp = store_param_prefix(os), p1[8], p2[8], p3[8];
    snprintf(p1, sizeof p1, "%c1", pp);
    snprintf(p2, sizeof p2, "%c2", pp);
    snprintf(p3, sizeof p3, "%c3", pp);
    store_sb q = {0}, kq = {0}, rt = {0}, bk = {0}, from = {0}, where = {0}, rh = {0};
    store_sb_quote(&kq, side_key(c, source));
    if (!j->count_only) store_sb_rowtext(&rt, s, side_table(c, source));
    bucket_expr(&bk, j, os, kq.s, type, p1, p3);
    store_sb_from(&from, s, side_table(c, source));
    store_sb_addf(&where, "%s >= ", kq.s);
    store_sb_param_cast(&where, os, p1, STORE_K_INT, type);
    store_sb_addf(&where, " AND %s <= ", kq.s);
    store_sb_param_cast(&where, os, p2, STORE_K_INT, type);
    bool driver = !j->count_only && c->sum_family &&
                  store_row_digest_expr(s, &rh, c->sum_family, side_table(c, source),
                                        rt.s ? rt.s : "''", false) == ST_OK &&
                  store_sb_bucket_sums(&q, os, bk.s ? bk.s : "", rh.s ? rh.s : "",
                                       from.s ? from.s : "", where.s ? where.s : "");
    if (!driver) {
        store_sb_addf(&q, "SELECT %s, count(*), ", bk.s ? bk.s : "");
        if (j->count_only) store_sb_add(&q, "0");
        else if (c->sum_family)
            store_row_digest_expr(s, &q, c->sum_family, side_table(c, source),
                                  rt.s ? rt.s : "''", true);
        else store_sb_sum64(&q, os, rt.s ? rt.s : "''");
        store_sb_addf(&q, " FROM %s WHERE %s GROUP BY 1", from.s ? from.s : "",
                      where.s ? where.s : "");
    }
    if (bk.oom || from.oom || where.oom || rh.oom) q.oom = true;
    store_sb_free(&bk);
    store_sb_free(&from);
    store_sb_free(&where);
    store_sb_free(&rh);
    char a[24], b[24], d[24];
    snprintf(a, sizeof a, "%lld", (long long)j->r.lo);
    snprintf(b, sizeof b, "%lld", (long long)j->r.hi);
    snprintf(d, sizeof d, "%lld", (long long)j->step);
    const char *params[3] = {a, b, d};   /* the step only when the bucket uses it */
    sync_list l;
    int rc = (q.oom || kq.oom || rt.oom)
                 ? st_error_set(err, ST_ENOMEM, "out of memory")
                 : sync_list_load(&l, s, q.s, range_is_wide(j->r) ? 2 : 3, params, err);
    store_sb_free(&q);
    store_sb_free(&kq);
    store_sb_free(&rt);
    if (rc != ST_OK) return rc;
    fill_buckets(j, &l, false);
    return ST_OK;
}

/* Whole table: one (count, summed checksum). */
static int table_sum(side_job *j, bool source, st_error *err) {
    sync_ctx *c = j->c;
    store *s = side_store(c, source);
    store_sb q = {0}, rt = {0};
    store_sb_rowtext(&rt, s, side_table(c, source));
    store_sb_add(&q, "SELECT count(*), ");
    if (c->sum_family)
        store_row_digest_expr(s, &q, c->sum_family, side_table(c, source), rt.s ? rt.s : "''",
                              true);
    else
        store_sb_sum64(&q, s, rt.s ? rt.s : "''");
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, s, side_table(c, source));
    const char **params = malloc((2 * c->nkeys + 1) * sizeof *params);
    int np = 0;
    if (params != NULL)   /* a range of parallel: N: its bounds */
        sync_range_where(&q, c, source, " WHERE ", params, &np);
    sync_list l;
    int rc = q.oom || rt.oom || params == NULL ? st_error_set(err, ST_ENOMEM, "out of memory")
                                               : sync_list_load(&l, s, q.s, np, params, err);
    free(params);
    store_sb_free(&q);
    store_sb_free(&rt);
    if (rc != ST_OK) return rc;
    memset(j->out, 0, sizeof *j->out);
    j->out->count = l.n ? strtoll(l.rows[0]->v[0], NULL, 10) : 0;
    j->out->sum = l.n && l.rows[0]->v[1] ? store_mod64(l.rows[0]->v[1]) : 0;
    sync_list_free(&l);
    return ST_OK;
}

/* Ordered digests of j->segs (store_ops.digest_sql), one query. */
static int range_digests(side_job *j, bool source, st_error *err) {
    sync_ctx *c = j->c;
    store *s = side_store(c, source);
    store_sb q = {0}, kq = {0}, rt = {0}, from = {0}, arg = {0};
    store_sb_quote(&kq, side_key(c, source));
    store_sb_rowtext(&rt, s, side_table(c, source));
    store_sb_from(&from, s, side_table(c, source));
    store_sb_digest_sql(&q, s, from.s ? from.s : "", kq.s ? kq.s : "", rt.s ? rt.s : "''");
    store_sb_add(&arg, "[");
    for (size_t i = 0; i < j->n; i++)
        store_sb_addf(&arg, "%s[%lld,%lld]", i ? "," : "", (long long)j->segs[i].lo,
                      (long long)j->segs[i].hi);
    store_sb_add(&arg, "]");
    const char *params[1] = {arg.s};
    sync_list l;
    bool oom = q.oom || kq.oom || rt.oom || from.oom || arg.oom;
    int rc = oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                 : sync_list_load(&l, s, q.s, 1, params, err);
    store_sb_free(&q);
    store_sb_free(&kq);
    store_sb_free(&rt);
    store_sb_free(&from);
    store_sb_free(&arg);
    if (rc != ST_OK) return rc;
    fill_buckets(j, &l, true);
    return ST_OK;
}

/* min(key), max(key), count(*) of one side; out->count = -1 when empty.
 * With j->no_count, only min and max (two index
 * probes, where count(*) reads the whole index) and out->count is the
 * width of the span, the most rows it can hold. Over a table each is its
 * own subquery: SQLite answers a lone min() or max() from the index and a
 * lone count(*) from the b-tree's pages, but min, max and count(*) in one
 * SELECT by reading every row (1M rows: 0.19 s against 0.06 s); PostgreSQL
 * likewise probes the index for min and max. */
static void span_part(store_sb *q, const sync_ctx *c, bool source, const char *what,
                      bool sub) {
    if (!sub) { store_sb_add(q, what); return; }
    store *s = source ? c->src : c->dst;
    store_sb_addf(q, "(SELECT %s FROM ", what);
    store_sb_from(q, s, source ? &c->st : &c->dt);
    sync_range_literal(q, c, source, " WHERE ");   /* a range of parallel: N */
    store_sb_add(q, ")");
}

static int key_span(side_job *j, bool source, st_error *err) {
    sync_ctx *c = j->c;
    store *s = side_store(c, source);
    const store_table *t = side_table(c, source);
    bool sub = !store_table_derived(t);   /* a query source is read once */
    store_sb q = {0}, kq = {0}, mn = {0}, mx = {0};
    store_sb_quote(&kq, side_key(c, source));
    store_sb_addf(&mn, "min(%s)", kq.s ? kq.s : "");
    store_sb_addf(&mx, "max(%s)", kq.s ? kq.s : "");
    store_sb_add(&q, "SELECT ");
    span_part(&q, c, source, mn.s ? mn.s : "", sub);
    store_sb_add(&q, ", ");
    span_part(&q, c, source, mx.s ? mx.s : "", sub);
    store_sb_add(&q, ", ");
    if (j->no_count) store_sb_add(&q, "0");
    else span_part(&q, c, source, "count(*)", sub);
    if (!sub) {
        store_sb_add(&q, " FROM ");
        store_sb_from(&q, s, t);
        sync_range_literal(&q, c, source, " WHERE ");
    }
    if (mn.oom || mx.oom) q.oom = true;
    store_sb_free(&mn);
    store_sb_free(&mx);
    sync_list l;
    int rc = q.oom || kq.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                             : sync_list_load(&l, s, q.s, 0, NULL, err);
    store_sb_free(&q);
    store_sb_free(&kq);
    if (rc != ST_OK) return rc;
    memset(j->out, 0, sizeof *j->out);
    if (l.n == 0 || l.rows[0]->v[0] == NULL) j->out->count = -1;
    else {
        j->out->min = strtoll(l.rows[0]->v[0], NULL, 10);
        j->out->max = strtoll(l.rows[0]->v[1], NULL, 10);
        j->out->count = strtoll(l.rows[0]->v[2], NULL, 10);
        if (j->no_count) {
            uint64_t w = (uint64_t)j->out->max - (uint64_t)j->out->min;
            j->out->count = w >= (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)w + 1;
        }
    }
    sync_list_free(&l);
    return ST_OK;
}

/* --- Levels --- */

/* Settles one level's n compared buckets: when most differ (and hold more
 * than a few leaves' rows), every differing one goes to the row pass
 * (sync_hash_rows.c) instead of being split again — with spread changes
 * each level would re-read them all. Otherwise the small differing ones
 * are leaves, merged together (sync_hash_merge_ranges: a few hundred
 * ranges per query), and the large ones are split again. */
static int settle_level(sync_ctx *c, range_stack *st, const hash_range *sub, size_t n,
                        const seg_sum *s, const seg_sum *d, const side_job *level) {
    size_t ndiff = 0;
    int64_t diff_rows = 0;
    for (size_t b = 0; b < n; b++)
        if (!seg_equal(&s[b], &d[b])) {
            ndiff++;
            diff_rows += s[b].count > d[b].count ? s[b].count : d[b].count;
        }
    bool rows = sync_hash_rows_wanted(c, n, ndiff, diff_rows);
    int64_t (*ranges)[2] = malloc((ndiff ? ndiff : 1) * sizeof *ranges);
    int64_t *idx = malloc((ndiff ? ndiff : 1) * sizeof *idx);
    int64_t *rows_of = malloc((ndiff ? ndiff : 1) * sizeof *rows_of);
    if (ranges == NULL || idx == NULL || rows_of == NULL) {
        free(ranges);
        free(idx);
        free(rows_of);
        return st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    size_t k = 0;
    int rc = ST_OK;
    for (size_t b = 0; rc == ST_OK && b < n; b++) {
        c->stats->segments_compared++;
        if (seg_equal(&s[b], &d[b])) {
            c->stats->segments_skipped++;
            continue;
        }
        hash_range r = sub[b];
        r.rows = s[b].count > d[b].count ? s[b].count : d[b].count;
        if (rows || r.rows <= c->o->strategy->segment_rows || r.lo == r.hi) {
            idx[k] = (int64_t)b;
            rows_of[k] = r.rows;
            ranges[k][0] = r.lo;   /* a leaf (or all of them for the row pass) */
            ranges[k++][1] = r.hi;
        } else {
            rc = push_range(c, st, r);
        }
    }
    /* Leaves are merged many ranges per query, not one query per leaf. */
    if (rc == ST_OK && k > 0) {
        if (rows)
            rc = sync_hash_rows(c, (const int64_t (*)[2])ranges, k);
        else if (level != NULL && !range_is_wide(level->r))
            rc = sync_hash_merge_buckets(c, level->r.lo, level->r.hi, level->step, idx, rows_of,
                                         k);
        else
            rc = sync_hash_merge_ranges(c, (const int64_t (*)[2])ranges, rows_of, k);
    }
    free(ranges);
    free(idx);
    free(rows_of);
    return rc;
}

/* The key range over both sides; *empty when both tables are empty.
 * top->rows: the most rows either side holds (no_count: its upper bound,
 * the span's width). */
static int both_spans(sync_ctx *c, hash_range *top, bool *empty, bool no_count) {
    seg_sum s, d;
    side_job j = {.c = c, .fn = key_span, .no_count = no_count};
    int rc = both_sides(&j, &s, &d);
    if (rc != ST_OK) return rc;
    *empty = s.count < 0 && d.count < 0;
    if (*empty) return ST_OK;
    int64_t slo = s.min, shi = s.max, dlo = d.min, dhi = d.max;
    top->lo = s.count < 0 ? dlo : d.count < 0 ? slo : slo < dlo ? slo : dlo;
    top->hi = s.count < 0 ? dhi : d.count < 0 ? shi : shi > dhi ? shi : dhi;
    top->rows = s.count > d.count ? s.count : d.count;
    return ST_OK;
}

/* --- Ordered digests --- */

/* Counts only (buckets may be too wide to digest): pushes the non-empty
 * buckets with their row counts; nothing is compared yet. */
static int ordered_count(sync_ctx *c, range_stack *st, hash_range r, size_t nb) {
    hash_range sub[HASH_MAX_FANOUT];
    seg_sum *s = calloc(2 * nb, sizeof *s);
    if (s == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    side_job j = {.c = c, .fn = bucket_sums, .r = r, .n = nb, .count_only = true};
    size_t n = cut_range(r, nb, &j.step, sub);
    int rc = both_sides(&j, s, s + nb);
    for (size_t b = 0; rc == ST_OK && b < n; b++) {
        sub[b].rows = s[b].count > s[nb + b].count ? s[b].count : s[nb + b].count;
        if (sub[b].rows > 0) rc = push_range(c, st, sub[b]);
    }
    free(s);
    return rc;
}

static int ordered_split(sync_ctx *c, range_stack *st, hash_range r) {
    size_t nb = (size_t)(r.rows / (HASH_AGG_ROWS / 2)) + 1;
    nb = nb < HASH_FANOUT ? HASH_FANOUT : nb > HASH_MAX_FANOUT ? HASH_MAX_FANOUT : nb;
    hash_range sub[HASH_MAX_FANOUT];
    int64_t step;
    size_t n = cut_range(r, nb, &step, sub);
    if (r.rows > HASH_AGG_ROWS && step > HASH_AGG_ROWS) return ordered_count(c, st, r, nb);
    seg_sum *s = calloc(2 * n, sizeof *s);
    if (s == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    side_job j = {.c = c, .fn = range_digests, .segs = sub, .n = n};
    int rc = both_sides(&j, s, s + n);
    if (rc == ST_OK) rc = settle_level(c, st, sub, n, s, s + n, NULL);
    free(s);
    sync_progress_update(&c->prog, c->stats, false);
    return rc;
}

typedef int (*split_fn)(sync_ctx *c, range_stack *st, hash_range r);

/* Splits `top`, then every range a split pushes, until none is left
 * (depth first); flushes the queued changes. */
static int hints_on(sync_ctx *c) {
    int rc = store_hint_aggregate(c->src, true, c->err);
    if (rc == ST_OK) rc = store_hint_aggregate(c->dst, true, c->err);
    return rc;
}

static void hints_off(sync_ctx *c) {
    store_hint_aggregate(c->src, false, NULL);
    store_hint_aggregate(c->dst, false, NULL);
}

static int recurse(sync_ctx *c, hash_range top, split_fn split) {
    range_stack st = {0};
    int rc = hints_on(c);
    if (rc == ST_OK) rc = split(c, &st, top);
    while (rc == ST_OK && st.n > 0) rc = split(c, &st, st.v[--st.n]);
    free(st.v);
    hints_off(c);
    if (rc == ST_OK) rc = sync_batch_flush(c);
    return rc;
}

static int hash_ordered(sync_ctx *c) {
    hash_range top;
    bool empty;
    int rc = both_spans(c, &top, &empty, false);
    if (rc != ST_OK || empty) return rc;
    return recurse(c, top, ordered_split);
}

/* --- Summed checksums --- */

/* The top segment: whole-table count and checksum on both sides (a plain
 * aggregate, which PostgreSQL runs with parallel workers). */
static int whole_table_same(sync_ctx *c, bool *same, seg_sum *s, seg_sum *d) {
    side_job j = {.c = c, .fn = table_sum, .n = 1};
    int rc = both_sides(&j, s, d);
    if (rc != ST_OK) return rc;
    c->stats->segments_compared++;
    *same = seg_equal(s, d);
    c->stats->segments_skipped += *same;
    return ST_OK;
}

static int summed_split(sync_ctx *c, range_stack *st, hash_range r) {
    hash_range sub[HASH_FANOUT];
    seg_sum s[HASH_FANOUT], d[HASH_FANOUT];
    side_job j = {.c = c, .fn = bucket_sums, .r = r, .n = HASH_FANOUT};
    size_t n = cut_range(r, HASH_FANOUT, &j.step, sub);
    int rc = both_sides(&j, s, d);
    if (rc == ST_OK) rc = settle_level(c, st, sub, n, s, d, &j);
    sync_progress_update(&c->prog, c->stats, false);
    return rc;
}

static int hash_summed_int_key(sync_ctx *c) {
    bool same, empty;
    seg_sum s, d;
    int rc = whole_table_same(c, &same, &s, &d);
    if (rc != ST_OK || same) return rc;
    hash_range top;
    rc = both_spans(c, &top, &empty, false);
    if (rc != ST_OK || empty) return rc;
    return recurse(c, top, summed_split);
}

/* Ordered digests need a table (not a query) on both sides whose key leads
 * an index: each range is then an index range scan in key order. */
static int can_order(sync_ctx *c, bool *yes) {
    *yes = false;
    if (c->st.query != NULL || c->dt.query != NULL) return ST_OK;
    for (int i = 0; i < 2; i++) {
        bool source = i == 0;
        const store_table *t = side_table(c, source);
        const char *key = side_key(c, source);
        int rc = store_key_indexed(side_store(c, source), t->schema, t->table, &key, 1, yes,
                                   c->err);
        if (rc != ST_OK || !*yes) return rc;
    }
    return ST_OK;
}

/* One level of the fast path: fine buckets (about HASH_FAST_ROWS rows
 * each, up to HASH_FAST_FANOUT; one GROUP BY costs the same for 16 groups
 * as for 16,384), so scattered changes fall into small leaves at the
 * first level instead of every coarse range differing. */
#define HASH_FAST_ROWS 64
#define HASH_FAST_FANOUT 16384

static size_t fast_buckets(hash_range r) {
    size_t nb = r.rows > 0 ? (size_t)(r.rows / HASH_FAST_ROWS) + 1 : HASH_FANOUT;
    size_t cap = range_is_wide(r) ? HASH_MAX_FANOUT : HASH_FAST_FANOUT;
    return nb < HASH_FANOUT ? HASH_FANOUT : nb > cap ? cap : nb;
}

static int fast_split(sync_ctx *c, range_stack *st, hash_range r) {
    size_t nb = fast_buckets(r);
    hash_range *sub = malloc(nb * sizeof *sub);
    seg_sum *s = calloc(2 * nb, sizeof *s);
    int rc = ST_OK;
    if (sub == NULL || s == NULL) rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    if (rc == ST_OK) {
        side_job j = {.c = c, .fn = bucket_sums, .r = r, .n = nb};
        size_t n = cut_range(r, nb, &j.step, sub);
        rc = both_sides(&j, s, s + nb);
        if (rc == ST_OK) rc = settle_level(c, st, sub, n, s, s + nb, &j);
    }
    free(sub);
    free(s);
    sync_progress_update(&c->prog, c->stats, false);
    return rc;
}

/* --- The sample before the first level --- */

/* With changes spread over the table, every first-level bucket differs and
 * settle_level sends them all to the row pass: the GROUP BY pass over the
 * whole table was wasted (at 10% of rows changed it cost as much as the
 * row pass itself). So before it, the row digests of up to HASH_SAMPLE of
 * the first level's buckets, spread evenly over the key range (~4,000
 * rows, each bucket an index range scan), are compared on both sides
 * (sync_hash_rows_sample). When most sampled buckets differ — the rule
 * settle_level applies to a whole level — the row pass runs over the
 * whole key range at once; when even a large share of the sampled rows
 * differs (HASH_FULL_SHARE), fetching those rows by key would cost more
 * than reading everything, so full runs instead. The sample only chooses
 * between exact paths: a wrong guess costs time, never a row. */
#define HASH_SAMPLE 64
/* Full when >= 1/5 of the sampled rows differ. Measured at 1M rows, with
 * the row pass's digest streams overlapped with fetching and writing the
 * rows found (sync_hash_rows.c): 0.6-0.7x full at 10% spread, 0.9-0.95x
 * at 20%, slower than full at 25% (it was 1.13x full at 10% when stream,
 * fetch and write took turns, and the threshold 1/12). */
#define HASH_FULL_SHARE 5

typedef enum { HASH_PLAN_LEVELS, HASH_PLAN_ROWS, HASH_PLAN_FULL } hash_plan;

/* HASH_PLAN_ROWS: the row pass over all of r, nothing left to split. */
static int rows_split(sync_ctx *c, range_stack *st, hash_range r) {
    (void)st;
    int64_t all[1][2] = {{r.lo, r.hi}};
    return sync_hash_rows(c, (const int64_t (*)[2])all, 1);
}

static int sample_plan(sync_ctx *c, hash_range top, hash_plan *plan) {
    *plan = HASH_PLAN_LEVELS;
    size_t nb = fast_buckets(top);
    size_t ns = nb / 4 < HASH_SAMPLE ? nb / 4 : HASH_SAMPLE;
    if (c->row_family == NULL || range_is_wide(top) || ns < 8) return ST_OK;
    hash_range *sub = malloc(nb * sizeof *sub);
    int64_t (*pick)[2] = malloc(ns * sizeof *pick);
    int rc = ST_OK;
    hash_sample hs = {0};
    if (sub == NULL || pick == NULL) rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    if (rc == ST_OK) {
        int64_t step;
        size_t n = cut_range(top, nb, &step, sub);
        for (size_t i = 0; i < ns; i++) {
            hash_range r = sub[(2 * i + 1) * n / (2 * ns)];
            pick[i][0] = r.lo;
            pick[i][1] = r.hi;
        }
        /* No JIT (compiling the digest expression once per part would
         * cost more than the sample itself on a table without statistics). */
        rc = hints_on(c);
        if (rc == ST_OK) rc = sync_hash_rows_sample(c, (const int64_t (*)[2])pick, ns, &hs);
        hints_off(c);
    }
    free(sub);
    free(pick);
    if (rc != ST_OK) return rc;
    if (hs.rows > 0 && hs.rows_differing * HASH_FULL_SHARE >= hs.rows) *plan = HASH_PLAN_FULL;
    else if (2 * hs.ranges_differing > hs.ranges) *plan = HASH_PLAN_ROWS;
    if (*plan != HASH_PLAN_LEVELS)
        log_detail(c->o->pipeline->name, c->o->strategy->name,
                 "hash: sample: %zu of %zu ranges and %lld of %lld rows differ; %s",
                 hs.ranges_differing, hs.ranges, (long long)hs.rows_differing,
                 (long long)hs.rows, *plan == HASH_PLAN_FULL ? "running full" : "row pass");
    return ST_OK;
}

/* Same-engine fast path (a summable digest family both stores offer,
 * colhash-v2 between PostgreSQL and SQLite): checksums are sums of the
 * rows' typed hashes, no row text built, so the top level is one GROUP BY
 * pass per side; it goes straight to the fine buckets (which also tell
 * identical tables) without a whole-table checksum first, unless the
 * sample says the changes are spread (then straight to the row pass, or
 * to full). The key span is min and max only: the bucket count follows
 * the span's width, which for dense keys is the row count. */
static int hash_fast_sums(sync_ctx *c) {
    hash_range top;
    bool empty;
    hash_plan plan;
    int rc = both_spans(c, &top, &empty, true);
    if (rc != ST_OK || empty) return rc;
    rc = sample_plan(c, top, &plan);
    if (rc != ST_OK) return rc;
    if (plan == HASH_PLAN_FULL) return sync_full(c);
    return recurse(c, top, plan == HASH_PLAN_LEVELS ? fast_split : rows_split);
}

int sync_hash(sync_ctx *c) {
    store_local *l = NULL;   /* the copy inside the engine (not for a dry run) */
    int lrc = c->o->diff == NULL && c->range == NULL ? sync_local_open(c, &l) : ST_OK;
    if (lrc != ST_OK || l != NULL) return lrc != ST_OK ? lrc : sync_hash_local(c, l);
    if (c->range == NULL && c->o->strategy->parallel > 1 && c->agg == NULL &&
        c->o->diff == NULL)
        return sync_parallel_full(c);   /* key ranges at once: sync_parallel.c */
    if (c->nkeys == 1 && c->kinds[key_index(c)] == STORE_K_INT && c->range != NULL) {
        store_sb probe = {0};   /* a range's integer bounds go into the span as literals */
        bool lit = sync_range_literal(&probe, c, true, "");
        store_sb_free(&probe);
        if (!lit) return st_error_set(c->err, ST_EINVAL, "hash: key range %d of %d has a "
                                      "non-integer bound", c->range->index, c->range->count);
    }
    if (c->lookups != NULL) return sync_full_compare(c); /* enriched rows: see top */
    int k = key_index(c);
    if (c->nkeys == 1 && c->kinds[k] == STORE_K_INT) {
        bool ordered;
        int rc = can_order(c, &ordered);
        if (rc != ST_OK) return rc;
        if (!ordered) return hash_summed_int_key(c);
        /* Ranges are index range scans on both sides: the row pass and the
         * same-engine sums are worth it. */
        c->row_family = store_digest_family(c->src, &c->st, c->dst, &c->dt, false);
        c->sum_family = store_digest_family(c->src, &c->st, c->dst, &c->dt, true);
        return c->sum_family ? hash_fast_sums(c) : hash_ordered(c);
    }
    bool same;
    seg_sum s, d;
    int rc = whole_table_same(c, &same, &s, &d);
    if (rc != ST_OK || same) return rc;
    bool usable;
    rc = sync_hash_keyset_usable(c, &usable);
    if (rc != ST_OK) return rc;
    return usable ? sync_hash_keyset(c, s.count, d.count) : sync_full(c);
}
