/*
 * sync_hash_rows — the hash strategy's row pass: when bisecting stops
 * paying, compare per-row digests in one streamed pass, then fetch only the
 * rows that differ.
 *
 * Bisection re-reads every differing range at every level. With changes
 * spread over the table every range differs at every level (62 -> 992 ->
 * 15,872 ranges over 1M rows), so each level reads the whole table again
 * and hash ends up several times slower than full. sync_hash.c therefore
 * hands a level's differing ranges here as soon as most of a level's
 * ranges differ (sync_hash_rows_wanted). Over the span of those ranges
 * (the equal ones between are few), each side streams (key, row digest)
 * in key order — the digest computed
 * by the database itself (store_ops.row_digest_expr, a family both stores
 * offer: pg-colhash-v1 between PostgreSQL databases, canon-md5-v1 across
 * engines) — and a merge on the integer key collects the keys present on
 * one side only or whose digests differ. Those keys are then fetched from
 * both sides, SYNC_ROWS_FETCH at a time (WHERE key IN (...), integer
 * literals), and merged with sync_merge(), which queues exactly the
 * inserts, updates and deletes needed: a false difference (unlike column
 * types giving unlike digests for equal values) costs a fetch, never a
 * write. Memory is bounded: after SYNC_ROWS_WINDOW differing keys the
 * streams are closed, those keys fetched and merged, and the streams
 * reopened after the last key compared.
 *
 * Only for a single integer key (the hash strategy's range recursion); the
 * digests are 64 bits, so two different rows escape with probability
 * 2^-64 per key, as with any digest comparison.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_ROWS_WINDOW 65536   /* differing keys held before fetching */
#define SYNC_ROWS_FETCH 4096     /* keys per fetch query */

typedef struct key_set {
    int64_t *k;
    size_t n, cap;
} key_set;

static int key_add(sync_ctx *c, key_set *ks, int64_t k) {
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 1024;
        int64_t *g = realloc(ks->k, cap * sizeof *g);
        if (g == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
        ks->k = g;
        ks->cap = cap;
    }
    ks->k[ks->n++] = k;
    return ST_OK;
}

static int key_index(const sync_ctx *c) {
    for (size_t i = 0; i < c->ncols; i++)
        if (c->key[i]) return (int)i;
    return -1;
}

bool sync_hash_rows_wanted(const sync_ctx *c, size_t compared, size_t differing,
                           int64_t differing_rows) {
    return c->row_family != NULL && compared > 0 && 2 * differing > compared &&
           differing_rows > 4 * c->o->strategy->segment_rows;
}

/* SELECT key, digest FROM t WHERE key BETWEEN $1 AND $2 ORDER BY key */
static int digest_query(sync_ctx *c, bool source, store_sb *q) {
    store *s = source ? c->src : c->dst;
    const store_table *t = source ? &c->st : &c->dt;
    const struct store_ops *ops = store_ops_of(s);
    int k = key_index(c);
    const char *kcol = source ? c->scols[k] : c->dcols[k];
    store_sb kq = {0}, rt = {0};
    store_sb_quote(&kq, kcol);
    store_sb_rowtext(&rt, s, t);
    store_sb_addf(q, "SELECT %s, ", kq.s ? kq.s : "");
    int rc = store_row_digest_expr(s, q, c->row_family, t, rt.s ? rt.s : "''", false);
    store_sb_add(q, " FROM ");
    store_sb_from(q, s, t);
    char p1[8], p2[8];
    snprintf(p1, sizeof p1, "%c1", ops->param_prefix);
    snprintf(p2, sizeof p2, "%c2", ops->param_prefix);
    store_sb_addf(q, " WHERE %s BETWEEN ", kq.s ? kq.s : "");
    ops->param_cast(q, p1, STORE_K_INT, c->types[k]);
    store_sb_add(q, " AND ");
    ops->param_cast(q, p2, STORE_K_INT, c->types[k]);
    store_sb_add(q, " ORDER BY ");
    ops->order_term(q, kq.s ? kq.s : "", STORE_K_INT);
    bool oom = kq.oom || rt.oom || q->oom;
    store_sb_free(&kq);
    store_sb_free(&rt);
    if (rc != ST_OK)
        return st_error_set(c->err, rc, "hash: datastore '%s' has no row digest '%s'",
                            store_name(s), c->row_family);
    return oom ? st_error_set(c->err, ST_ENOMEM, "out of memory") : ST_OK;
}

/* WHERE key IN (k1, ..., kn): integer literals, no parameters. */
typedef struct key_slice {
    const int64_t *k;
    size_t n;
} key_slice;

static void keys_where(store_sb *q, sync_ctx *c, bool source, const void *arg,
                       const char **params, int *np) {
    (void)params;
    (void)np;
    const key_slice *ks = arg;
    int k = key_index(c);
    store_sb_add(q, " WHERE ");
    store_sb_quote(q, source ? c->scols[k] : c->dcols[k]);
    store_sb_add(q, " IN (");
    for (size_t i = 0; i < ks->n; i++)
        store_sb_addf(q, "%s%" PRId64, i ? "," : "", ks->k[i]);
    store_sb_add(q, ")");
}

static int fetch_and_merge(sync_ctx *c, key_set *ks) {
    int rc = ST_OK;
    for (size_t at = 0; rc == ST_OK && at < ks->n; at += SYNC_ROWS_FETCH) {
        key_slice sl = {ks->k + at, ks->n - at < SYNC_ROWS_FETCH ? ks->n - at : SYNC_ROWS_FETCH};
        rc = sync_merge_where(c, keys_where, &sl, 1);
    }
    ks->n = 0;
    return rc;
}

/* WHERE key BETWEEN a AND b OR ... over a slice of ranges (literals). */
#define SYNC_RANGES_PER_QUERY 256

typedef struct range_slice {
    const int64_t (*r)[2];
    size_t n;
} range_slice;

static void ranges_where(store_sb *q, sync_ctx *c, bool source, const void *arg,
                         const char **params, int *np) {
    (void)params;
    (void)np;
    const range_slice *rs = arg;
    int k = key_index(c);
    store_sb kq = {0};
    store_sb_quote(&kq, source ? c->scols[k] : c->dcols[k]);
    store_sb_add(q, " WHERE ");
    for (size_t i = 0; i < rs->n; i++)
        store_sb_addf(q, "%s%s BETWEEN %" PRId64 " AND %" PRId64, i ? " OR " : "",
                      kq.s ? kq.s : "", rs->r[i][0], rs->r[i][1]);
    if (kq.oom) q->oom = true;
    store_sb_free(&kq);
}

int sync_hash_merge_ranges(sync_ctx *c, const int64_t (*ranges)[2], size_t n) {
    int rc = ST_OK;
    for (size_t at = 0; rc == ST_OK && at < n; at += SYNC_RANGES_PER_QUERY) {
        range_slice rs = {ranges + at,
                          n - at < SYNC_RANGES_PER_QUERY ? n - at : SYNC_RANGES_PER_QUERY};
        rc = sync_merge_where(c, ranges_where, &rs, 1);
    }
    return rc;
}

/* WHERE k BETWEEN a AND b AND (k - lo) / step IN (i, ...): the rows of
 * equal-width buckets of one level, a sorted slice of their indexes. A
 * hashed IN list on both engines; one range scan per slice. */
#define SYNC_BUCKETS_PER_QUERY 1024

typedef struct bucket_slice {
    int64_t lo, hi, step;  /* the level's range and bucket width */
    const int64_t *idx;
    size_t n;
} bucket_slice;

static void buckets_where(store_sb *q, sync_ctx *c, bool source, const void *arg,
                          const char **params, int *np) {
    (void)params;
    (void)np;
    const bucket_slice *bs = arg;
    int k = key_index(c);
    store_sb kq = {0};
    store_sb_quote(&kq, source ? c->scols[k] : c->dcols[k]);
    const char *kc = kq.s ? kq.s : "";
    int64_t a = bs->lo + bs->idx[0] * bs->step;
    int64_t last = bs->lo + bs->idx[bs->n - 1] * bs->step;
    int64_t b = bs->hi - last < bs->step ? bs->hi : last + bs->step - 1;
    store_sb_addf(q, " WHERE %s BETWEEN %" PRId64 " AND %" PRId64 " AND (%s - (%" PRId64
                  ")) / %" PRId64 " IN (", kc, a, b, kc, bs->lo, bs->step);
    for (size_t i = 0; i < bs->n; i++) store_sb_addf(q, "%s%" PRId64, i ? "," : "", bs->idx[i]);
    store_sb_add(q, ")");
    if (kq.oom) q->oom = true;
    store_sb_free(&kq);
}

int sync_hash_merge_buckets(sync_ctx *c, int64_t lo, int64_t hi, int64_t step,
                            const int64_t *idx, size_t n) {
    int rc = ST_OK;
    for (size_t at = 0; rc == ST_OK && at < n; at += SYNC_BUCKETS_PER_QUERY) {
        bucket_slice bs = {lo, hi, step, idx + at,
                           n - at < SYNC_BUCKETS_PER_QUERY ? n - at : SYNC_BUCKETS_PER_QUERY};
        rc = sync_merge_where(c, buckets_where, &bs, 1);
    }
    return rc;
}

/* One side's next (key, digest); *done at the end. */
static int side_next(sync_ctx *c, sync_stream *s, int64_t *key, const char **dig, bool *done) {
    const char *const *row;
    int rc = s->it.next(&s->it, &row, c->err);
    if (rc < 0) return rc;
    *done = rc == 0;
    if (!*done) {
        *key = row[0] ? strtoll(row[0], NULL, 10) : 0;
        *dig = row[1] ? row[1] : "";
    }
    return ST_OK;
}

/* Compares [lo, hi] from the start, collecting differing keys, until the
 * range is done (*next_lo unchanged, *more false) or the window is full
 * (*more, *next_lo = the key after the last one compared). */
static int compare_window(sync_ctx *c, int64_t lo, int64_t hi, key_set *ks, bool *more,
                          int64_t *next_lo) {
    *more = false;
    store_sb qs = {0}, qd = {0};
    int rc = digest_query(c, true, &qs);
    if (rc == ST_OK) rc = digest_query(c, false, &qd);
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, lo);
    snprintf(b, sizeof b, "%" PRId64, hi);
    const char *params[2] = {a, b};
    sync_stream ss = {0}, ds = {0};
    if (rc == ST_OK) rc = sync_stream_open(&ss, c->src, qs.s, 2, params, c->err);
    if (rc == ST_OK) {
        rc = sync_stream_open(&ds, c->dst, qd.s, 2, params, c->err);
        if (rc != ST_OK) sync_stream_close(&ss);
    }
    store_sb_free(&qs);
    store_sb_free(&qd);
    if (rc != ST_OK) return rc;
    int64_t sk = 0, dk = 0;
    const char *sd = NULL, *dd = NULL;
    bool send = false, dend = false;
    rc = side_next(c, &ss, &sk, &sd, &send);
    if (rc == ST_OK) rc = side_next(c, &ds, &dk, &dd, &dend);
    while (rc == ST_OK && (!send || !dend)) {
        int64_t k;
        if (!send && (dend || sk < dk)) {
            k = sk;
            rc = key_add(c, ks, k);
            if (rc == ST_OK) rc = side_next(c, &ss, &sk, &sd, &send);
        } else if (!dend && (send || dk < sk)) {
            k = dk;
            rc = key_add(c, ks, k);
            if (rc == ST_OK) rc = side_next(c, &ds, &dk, &dd, &dend);
        } else {
            k = sk;
            if (strcmp(sd, dd) != 0) rc = key_add(c, ks, k);
            if (rc == ST_OK) rc = side_next(c, &ss, &sk, &sd, &send);
            if (rc == ST_OK) rc = side_next(c, &ds, &dk, &dd, &dend);
        }
        if (rc == ST_OK && ks->n >= SYNC_ROWS_WINDOW && k < hi && (!send || !dend)) {
            *more = true;
            *next_lo = k + 1;
            break;
        }
    }
    sync_stream_close(&ss);
    sync_stream_close(&ds);
    return rc;
}

int sync_hash_rows(sync_ctx *c, const int64_t (*ranges)[2], size_t n) {
    key_set ks = {0};
    int rc = ST_OK;
    log_info(c->o->pipeline->name, c->o->strategy->name,
             "hash: most ranges differ; comparing row digests (%s) over %zu range(s)",
             c->row_family, n);
    for (size_t i = 0; rc == ST_OK && i < n;) {
        /* One pass over the span of the ranges: most of them differ, so the
         * equal ones between cost less to read than a stream per range. */
        int64_t lo = ranges[i][0], hi = ranges[n - 1][1];
        i = n;
        bool more = true;
        while (rc == ST_OK && more) {
            rc = compare_window(c, lo, hi, &ks, &more, &lo);
            if (rc == ST_OK) rc = fetch_and_merge(c, &ks);
            sync_progress_update(&c->prog, c->stats, false);
        }
    }
    free(ks.k);
    return rc;
}
