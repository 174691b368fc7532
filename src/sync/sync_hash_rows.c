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
 * offer: colhash-v2 between PostgreSQL and SQLite, canon-md5-v1 with
 * MySQL) — and a merge on the integer key collects the keys present on
 * one side only or whose digests differ. Those keys are then fetched from
 * both sides, SYNC_ROWS_FETCH at a time (WHERE key IN (...), integer
 * literals), and merged with sync_merge(), which queues exactly the
 * inserts, updates and deletes needed (PostgreSQL: WHERE key = ANY of one
 * array literal, store_ops.keys_where): a false difference (unlike column
 * types giving unlike digests for equal values) costs a fetch, never a
 * write. Memory is bounded: after SYNC_ROWS_WINDOW differing keys the
 * streams are closed, those keys fetched and merged, and the streams
 * reopened after the last key compared.
 *
 * Between two servers the streams run on a connection pair of their own
 * while the run's connections fetch, merge and write the keys already
 * found (the overlapped pass, below); with SQLite on a side they take turns.
 *
 * Leaves (sync_hash_merge_buckets/ranges) go the same way when a digest
 * family exists: their (key, digest) pairs are streamed and compared, a
 * slice of leaves holding at most SYNC_ROWS_WINDOW rows at a time, then
 * only the differing rows fetched — read through one index range per leaf
 * where the driver offers ranges_select (PostgreSQL). Every fetch loads
 * both sides at once, each on its own connection (sync_both_sides).
 * sync_hash_rows_sample compares the digests of a few ranges for
 * sync_hash.c's sample before the first level.
 *
 * Only for a single integer key (the hash strategy's range recursion); the
 * digests are 64 bits, so two different rows escape with probability
 * 2^-64 per key, as with any digest comparison.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <inttypes.h>
#include <pthread.h>
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

/* Which rows a digest stream reads: [$1, $2] (where NULL), or the rows a
 * `where` function selects (literals, no parameters) — through the
 * driver's ranges_select when it has one and `ranges` lists them. */
typedef struct digest_rows {
    sync_where_fn where;
    const void *arg;
    const int64_t (*ranges)[2];
    size_t nranges;
} digest_rows;

/* SELECT key, digest FROM t <rows> ORDER BY key */
static int digest_query(sync_ctx *c, bool source, store_sb *q, const digest_rows *dr) {
    store *s = source ? c->src : c->dst;
    const store_table *t = source ? &c->st : &c->dt;
    const store *os = s;
    int k = key_index(c);
    const char *kcol = source ? c->scols[k] : c->dcols[k];
    store_sb kq = {0}, rt = {0}, cols = {0}, from = {0};
    store_sb_quote(&kq, kcol);
    store_sb_rowtext(&rt, s, t);
    store_sb_from(&from, s, t);
    const char *kc = kq.s ? kq.s : "";
    store_sb_addf(&cols, "%s, ", kc);
    int rc = store_row_digest_expr(s, &cols, c->row_family, t, rt.s ? rt.s : "''", false);
    store_sb_add(&cols, " AS \"synctool_d\"");
    bool oom = kq.oom || rt.oom || cols.oom || from.oom;
    if (rc == ST_OK && !oom &&
        (dr->ranges == NULL ||
         !store_ranges_select(s, q, cols.s, from.s, kc, dr->ranges, dr->nranges))) {
        store_sb_addf(q, "SELECT %s FROM %s", cols.s, from.s);
        if (dr->where != NULL) {
            int np = 0;
            dr->where(q, c, source, dr->arg, NULL, &np);
        } else {
            char p1[8], p2[8];
            snprintf(p1, sizeof p1, "%c1", store_param_prefix(os));
            snprintf(p2, sizeof p2, "%c2", store_param_prefix(os));
            store_sb_addf(q, " WHERE %s BETWEEN ", kc);
            store_sb_param_cast(q, os, p1, STORE_K_INT, c->types[k]);
            store_sb_add(q, " AND ");
            store_sb_param_cast(q, os, p2, STORE_K_INT, c->types[k]);
        }
        store_sb_add(q, " ORDER BY ");
        store_sb_order_term(q, os, kc, STORE_K_INT);
    }
    oom = oom || q->oom;
    store_sb_free(&kq);
    store_sb_free(&rt);
    store_sb_free(&cols);
    store_sb_free(&from);
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
    store_sb kq = {0};
    store_sb_quote(&kq, source ? c->scols[k] : c->dcols[k]);
    bool driver = kq.s != NULL && store_keys_where(source ? c->src : c->dst, q, kq.s, ks->k, ks->n);
    store_sb_free(&kq);
    if (driver) return;
    store_sb_add(q, " WHERE ");
    store_sb_quote(q, source ? c->scols[k] : c->dcols[k]);
    store_sb_add(q, " IN (");
    for (size_t i = 0; i < ks->n; i++)
        store_sb_addf(q, "%s%" PRId64, i ? "," : "", ks->k[i]);
    store_sb_add(q, ")");
}

/* Both sides' rows for one WHERE clause (without parameters), loaded at
 * once on their own connections (sync_both_sides), then merged: the two
 * servers read and convert their rows side by side. */
typedef struct where_load {
    sync_where_fn where;
    const void *arg;
    sync_list l;
} where_load;

static int where_load_side(sync_ctx *c, bool source, void *arg, st_error *err) {
    where_load *w = arg;
    store_sb q = {0};
    int np = 0;
    sync_sql_select(&q, c, source);
    w->where(&q, c, source, w->arg, NULL, &np);
    sync_sql_order(&q, c, source, -1);
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : sync_list_load(&w->l, source ? c->src : c->dst, q.s, 0, NULL, err);
    store_sb_free(&q);
    return rc;
}

static int merge_where_both(sync_ctx *c, sync_where_fn where, const void *arg) {
    where_load s = {.where = where, .arg = arg}, d = {.where = where, .arg = arg};
    int rc = sync_both_sides(c, where_load_side, &s, &d);
    if (rc == ST_OK) rc = sync_merge(c, &s.l.it, &d.l.it);
    sync_list_free(&s.l);
    sync_list_free(&d.l);
    return rc;
}

static int fetch_and_merge(sync_ctx *c, key_set *ks) {
    int rc = ST_OK;
    for (size_t at = 0; rc == ST_OK && at < ks->n; at += SYNC_ROWS_FETCH) {
        key_slice sl = {ks->k + at, ks->n - at < SYNC_ROWS_FETCH ? ks->n - at : SYNC_ROWS_FETCH};
        rc = merge_where_both(c, keys_where, &sl);
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
    /* integer division: MySQL's '/' is decimal (2.5 is in no bucket) */
    store_sb_addf(q, " WHERE %s BETWEEN %" PRId64 " AND %" PRId64 " AND (%s - (%" PRId64
                  ")) %s %" PRId64 " IN (", kc, a, b, kc, bs->lo,
                  store_int_div(source ? c->src : c->dst), bs->step);
    for (size_t i = 0; i < bs->n; i++) store_sb_addf(q, "%s%" PRId64, i ? "," : "", bs->idx[i]);
    store_sb_add(q, ")");
    if (kq.oom) q->oom = true;
    store_sb_free(&kq);
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

/* Opens both sides' digest streams (digest_query); both closed on error. */
static int open_streams(sync_ctx *c, sync_stream *ss, sync_stream *ds, const digest_rows *dr,
                        int64_t lo, int64_t hi) {
    store_sb qs = {0}, qd = {0};
    int rc = digest_query(c, true, &qs, dr);
    if (rc == ST_OK) rc = digest_query(c, false, &qd, dr);
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, lo);
    snprintf(b, sizeof b, "%" PRId64, hi);
    const char *params[2] = {a, b};
    if (rc == ST_OK) rc = sync_stream_open(ss, c->src, qs.s, dr->where ? 0 : 2, params, c->err);
    if (rc == ST_OK) {
        rc = sync_stream_open(ds, c->dst, qd.s, dr->where ? 0 : 2, params, c->err);
        if (rc != ST_OK) sync_stream_close(ss);
    }
    store_sb_free(&qs);
    store_sb_free(&qd);
    return rc;
}

typedef struct key_pipe key_pipe;
static int pipe_publish(sync_ctx *c, key_pipe *p, key_set *ks, bool *full);
static int pipe_check(sync_ctx *c, key_pipe *p);

/* Merges the two open digest streams, collecting the keys on one side only
 * or whose digests differ. With `windowed`, stops once the window is full
 * (*more, *next_lo = the key after the last one compared; `hi` is the
 * stream's last possible key); otherwise reads both to the end. With a
 * pipe (the overlapped pass), every SYNC_ROWS_FETCH keys move to it, and
 * the window is full when the pipe holds SYNC_ROWS_WINDOW keys. */
static int compare_streams(sync_ctx *c, sync_stream *ss, sync_stream *ds, key_set *ks,
                           bool windowed, int64_t hi, bool *more, int64_t *next_lo,
                           key_pipe *pipe) {
    int64_t sk = 0, dk = 0;
    const char *sd = NULL, *dd = NULL;
    bool send = false, dend = false;
    unsigned seen = 0;
    int rc = side_next(c, ss, &sk, &sd, &send);
    if (rc == ST_OK) rc = side_next(c, ds, &dk, &dd, &dend);
    while (rc == ST_OK && (!send || !dend)) {
        int64_t k;
        if (!send && (dend || sk < dk)) {
            k = sk;
            rc = key_add(c, ks, k);
            if (rc == ST_OK) rc = side_next(c, ss, &sk, &sd, &send);
        } else if (!dend && (send || dk < sk)) {
            k = dk;
            rc = key_add(c, ks, k);
            if (rc == ST_OK) rc = side_next(c, ds, &dk, &dd, &dend);
        } else {
            k = sk;
            if (strcmp(sd, dd) != 0) rc = key_add(c, ks, k);
            if (rc == ST_OK) rc = side_next(c, ss, &sk, &sd, &send);
            if (rc == ST_OK) rc = side_next(c, ds, &dk, &dd, &dend);
        }
        bool full = ks->n >= SYNC_ROWS_WINDOW;
        if (pipe != NULL && rc == ST_OK && ks->n >= SYNC_ROWS_FETCH)
            rc = pipe_publish(c, pipe, ks, &full);
        else if (pipe != NULL && rc == ST_OK && (++seen & 0xffff) == 0)
            rc = pipe_check(c, pipe);   /* the fetcher may have failed meanwhile */
        if (windowed && rc == ST_OK && full && k < hi && (!send || !dend)) {
            *more = true;
            *next_lo = k + 1;
            break;
        }
    }
    return rc;
}

/* Compares [lo, hi] from the start, collecting differing keys, until the
 * range is done (*next_lo unchanged, *more false) or the window is full
 * (*more, *next_lo = the key after the last one compared). */
static int compare_window(sync_ctx *c, int64_t lo, int64_t hi, key_set *ks, bool *more,
                          int64_t *next_lo, key_pipe *pipe) {
    *more = false;
    sync_stream ss = {0}, ds = {0};
    digest_rows all = {0};
    int rc = open_streams(c, &ss, &ds, &all, lo, hi);
    if (rc != ST_OK) return rc;
    rc = compare_streams(c, &ss, &ds, ks, true, hi, more, next_lo, pipe);
    sync_stream_close(&ss);
    sync_stream_close(&ds);
    return rc;
}

/* The digests of the rows dr selects (at most SYNC_ROWS_WINDOW on either
 * side), compared; then only the differing rows fetched and merged. */
static int compare_where(sync_ctx *c, const digest_rows *dr, key_set *ks) {
    sync_stream ss = {0}, ds = {0};
    bool more = false;
    int64_t next = 0;
    int rc = open_streams(c, &ss, &ds, dr, 0, 0);
    if (rc != ST_OK) return rc;
    rc = compare_streams(c, &ss, &ds, ks, false, 0, &more, &next, NULL);
    sync_stream_close(&ss);
    sync_stream_close(&ds);
    if (rc == ST_OK) rc = fetch_and_merge(c, ks);
    return rc;
}

/* How many of the leaves from `at` go in one query: at most `per_query`,
 * and at most SYNC_ROWS_WINDOW rows (so the differing keys fit the window;
 * always at least one leaf). */
static size_t leaf_slice(const int64_t *rows, size_t at, size_t n, size_t per_query) {
    size_t k = 0;
    int64_t sum = 0;
    while (at + k < n && k < per_query) {
        int64_t r = rows[at + k] > 0 ? rows[at + k] : 0;
        if (k > 0 && sum + r > SYNC_ROWS_WINDOW) break;
        sum += r;
        k++;
    }
    return k;
}

/* Leaves, when the stores offer a row digest: the leaves' (key, digest)
 * pairs are compared first and only the differing rows fetched (with 0.1%
 * of rows changed a differing leaf of 64 rows holds one changed row), so
 * the rows crossing the wire and converted to text are the changed ones. */
int sync_hash_merge_ranges(sync_ctx *c, const int64_t (*ranges)[2], const int64_t *rows,
                           size_t n) {
    bool digests = c->row_family != NULL && rows != NULL;
    key_set ks = {0};
    int rc = ST_OK;
    for (size_t at = 0; rc == ST_OK && at < n;) {
        size_t k = digests ? leaf_slice(rows, at, n, SYNC_RANGES_PER_QUERY)
                           : (n - at < SYNC_RANGES_PER_QUERY ? n - at : SYNC_RANGES_PER_QUERY);
        range_slice rs = {ranges + at, k};
        digest_rows dr = {ranges_where, &rs, ranges + at, k};
        rc = digests ? compare_where(c, &dr, &ks) : merge_where_both(c, ranges_where, &rs);
        at += k;
    }
    free(ks.k);
    return rc;
}

/* The key ranges of a slice of buckets into out[bs->n][2]. */
static int bucket_ranges(const bucket_slice *bs, int64_t (*out)[2]) {
    if (out == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < bs->n; i++) {
        int64_t a = bs->lo + bs->idx[i] * bs->step;
        out[i][0] = a;
        out[i][1] = bs->hi - a < bs->step ? bs->hi : a + bs->step - 1;
    }
    return ST_OK;
}

int sync_hash_merge_buckets(sync_ctx *c, int64_t lo, int64_t hi, int64_t step,
                            const int64_t *idx, const int64_t *rows, size_t n) {
    bool digests = c->row_family != NULL && rows != NULL;
    key_set ks = {0};
    int rc = ST_OK;
    /* Without it the digests still stream, through buckets_where. */
    int64_t (*br)[2] = digests ? malloc(SYNC_BUCKETS_PER_QUERY * sizeof *br) : NULL;
    for (size_t at = 0; rc == ST_OK && at < n;) {
        size_t k = digests ? leaf_slice(rows, at, n, SYNC_BUCKETS_PER_QUERY)
                           : (n - at < SYNC_BUCKETS_PER_QUERY ? n - at : SYNC_BUCKETS_PER_QUERY);
        bucket_slice bs = {lo, hi, step, idx + at, k};
        digest_rows dr = {buckets_where, &bs, NULL, 0};
        if (digests && bucket_ranges(&bs, br) == ST_OK) {
            dr.ranges = (const int64_t (*)[2])br;
            dr.nranges = k;
        }
        rc = digests ? compare_where(c, &dr, &ks) : merge_where_both(c, buckets_where, &bs);
        at += k;
    }
    free(ks.k);
    free(br);
    return rc;
}

/* --- The sample (sync_hash_rows_sample) --- */

/* SELECT key, digest FROM t WHERE key BETWEEN a AND b UNION ALL ... ORDER
 * BY 1: each part an index range scan (an OR of BETWEENs is planned as one
 * scan of the whole index when sorting is discouraged); through the
 * driver's ranges_select when it has one (PostgreSQL: the digest
 * expression once, not parsed and planned once per range: 64 copies cost
 * 50-140 ms to parse and bind). */
static int sample_query(sync_ctx *c, bool source, store_sb *q, const int64_t (*r)[2], size_t n) {
    store *s = source ? c->src : c->dst;
    const store_table *t = source ? &c->st : &c->dt;
    int k = key_index(c);
    store_sb kq = {0}, rt = {0}, cols = {0}, from = {0};
    store_sb_quote(&kq, source ? c->scols[k] : c->dcols[k]);
    store_sb_rowtext(&rt, s, t);
    store_sb_from(&from, s, t);
    store_sb_addf(&cols, "%s, ", kq.s ? kq.s : "");
    int rc = store_row_digest_expr(s, &cols, c->row_family, t, rt.s ? rt.s : "''", false);
    bool oom = kq.oom || rt.oom || cols.oom || from.oom;
    if (rc == ST_OK && !oom && !store_ranges_select(s, q, cols.s, from.s, kq.s, r, n)) {
        for (size_t i = 0; i < n; i++)
            store_sb_addf(q, "%sSELECT %s FROM %s WHERE %s BETWEEN %" PRId64 " AND %" PRId64,
                          i ? " UNION ALL " : "", cols.s, from.s, kq.s, r[i][0], r[i][1]);
        store_sb_add(q, " ORDER BY 1");
    }
    oom = oom || q->oom;
    store_sb_free(&kq);
    store_sb_free(&rt);
    store_sb_free(&cols);
    store_sb_free(&from);
    if (rc != ST_OK) return st_error_set(c->err, rc, "hash: datastore '%s' has no row digest '%s'",
                                         store_name(s), c->row_family);
    return oom ? st_error_set(c->err, ST_ENOMEM, "out of memory") : ST_OK;
}

typedef struct sample_side {
    const char *sql;
    sync_list l;
} sample_side;

static int sample_load(sync_ctx *c, bool source, void *arg, st_error *err) {
    sample_side *ss = arg;
    return sync_list_load(&ss->l, source ? c->src : c->dst, ss->sql, 0, NULL, err);
}

/* Marks the range holding key k (ranges ascending; *at only moves on). */
static void sample_mark(const int64_t (*r)[2], size_t n, size_t *at, int64_t k, bool *diff) {
    while (*at < n && r[*at][1] < k) (*at)++;
    if (*at < n && r[*at][0] <= k) diff[*at] = true;
}

int sync_hash_rows_sample(sync_ctx *c, const int64_t (*r)[2], size_t n, hash_sample *out) {
    memset(out, 0, sizeof *out);
    store_sb qs = {0}, qd = {0};
    int rc = sample_query(c, true, &qs, r, n);
    if (rc == ST_OK) rc = sample_query(c, false, &qd, r, n);
    sample_side s = {.sql = qs.s}, d = {.sql = qd.s};
    if (rc == ST_OK) rc = sync_both_sides(c, sample_load, &s, &d);
    bool *diff = rc == ST_OK ? calloc(n ? n : 1, sizeof *diff) : NULL;
    if (rc == ST_OK && diff == NULL) rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    size_t i = 0, j = 0, at = 0;
    while (rc == ST_OK && (i < s.l.n || j < d.l.n)) {
        const char *const *a = i < s.l.n ? s.l.rows[i]->v : NULL;
        const char *const *b = j < d.l.n ? d.l.rows[j]->v : NULL;
        int64_t ka = a && a[0] ? strtoll(a[0], NULL, 10) : 0;
        int64_t kb = b && b[0] ? strtoll(b[0], NULL, 10) : 0;
        bool differs = true;
        int64_t k;
        if (a && (!b || ka < kb)) k = ka, i++;
        else if (!a || kb < ka) k = kb, j++;
        else {
            k = ka;
            differs = strcmp(a[1] ? a[1] : "", b[1] ? b[1] : "") != 0;
            i++, j++;
        }
        out->rows++;
        if (differs) {
            out->rows_differing++;
            sample_mark(r, n, &at, k, diff);
        }
    }
    for (size_t x = 0; rc == ST_OK && x < n; x++) out->ranges_differing += diff[x];
    out->ranges = n;
    free(diff);
    sync_list_free(&s.l);
    sync_list_free(&d.l);
    store_sb_free(&qs);
    store_sb_free(&qd);
    return rc;
}

/* --- The overlapped row pass --- */

/* The digest streams run in a thread on a connection pair of their own
 * and hand the differing keys over through this pipe, SYNC_ROWS_FETCH at
 * a time; the run's own connections fetch, merge and write them
 * meanwhile. The producer never waits on the pipe with its streams open:
 * when the pipe holds a window of keys it closes them after the last key
 * compared and reopens after that key once the fetcher has taken them —
 * so a reader never holds a snapshot (or, elsewhere, a lock) open while
 * waiting for the writer. */
struct key_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    key_set q;            /* keys found and not yet taken, ascending */
    bool done, stop;      /* the producer finished; the fetcher gave up */
    int rc;               /* the producer's result, and its error: */
    st_error err;
    sync_ctx *c;          /* the run (the producer reads its columns) */
    store *src, *dst;     /* the producer's connections */
    int64_t lo, hi;
};

/* Producer: moves ks's keys into the pipe; *full when it holds a window. */
static int pipe_publish(sync_ctx *c, key_pipe *p, key_set *ks, bool *full) {
    int rc = ST_OK;
    pthread_mutex_lock(&p->mu);
    if (p->stop) rc = st_error_set(c->err, ST_EINTR, "hash: row pass stopped");
    for (size_t i = 0; rc == ST_OK && i < ks->n; i++) rc = key_add(c, &p->q, ks->k[i]);
    *full = p->q.n >= SYNC_ROWS_WINDOW;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    ks->n = 0;
    return rc;
}

/* Producer: ST_EINTR once the fetcher gave up (checked every 65,536 keys
 * compared, so a failed run does not wait for the rest of the stream). */
static int pipe_check(sync_ctx *c, key_pipe *p) {
    pthread_mutex_lock(&p->mu);
    bool stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    return stop ? st_error_set(c->err, ST_EINTR, "hash: row pass stopped") : ST_OK;
}

/* Producer: waits (streams closed) until the fetcher took the window. */
static int pipe_room(key_pipe *p) {
    pthread_mutex_lock(&p->mu);
    while (p->q.n >= SYNC_ROWS_WINDOW && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    bool stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    return stop ? st_error_set(&p->err, ST_EINTR, "hash: row pass stopped") : ST_OK;
}

static void *pipe_produce(void *arg) {
    key_pipe *p = arg;
    sync_ctx pc = *p->c;   /* columns and families shared; its own stores and error */
    pc.src = p->src;
    pc.dst = p->dst;
    pc.err = &p->err;
    key_set ks = {0};
    int64_t lo = p->lo;
    bool more = true, full = false;
    int rc = ST_OK;
    while (rc == ST_OK && more) {
        rc = pipe_room(p);
        if (rc == ST_OK) rc = compare_window(&pc, lo, p->hi, &ks, &more, &lo, p);
    }
    if (rc == ST_OK) rc = pipe_publish(&pc, p, &ks, &full);
    free(ks.k);
    pthread_mutex_lock(&p->mu);
    p->rc = rc;
    p->done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Fetcher: the next keys into *ks (swapped with the pipe's); none left
 * when ks->n == 0 after the producer finished. */
static void pipe_take(key_pipe *p, key_set *ks) {
    pthread_mutex_lock(&p->mu);
    while (p->q.n == 0 && !p->done) pthread_cond_wait(&p->cv, &p->mu);
    if (p->done && p->rc != ST_OK) p->q.n = 0;   /* the streams failed: stop */
    key_set t = p->q;
    p->q = *ks;
    p->q.n = 0;
    *ks = t;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* The producer's connection pair, with the run's interrupt and hints. */
static int pipe_open(sync_ctx *c, key_pipe *p) {
    const config_pipeline *pl = c->o->pipeline;
    const config_datastore *sd = config_datastore_find(c->o->cfg, pl->source.datastore);
    const config_datastore *dd = config_datastore_find(c->o->cfg, pl->destination.datastore);
    if (sd == NULL || dd == NULL) return ST_ENOTFOUND;
    int rc = sync_store_open(c->o, &p->src, sd, c->err);
    if (rc == ST_OK) rc = sync_store_open(c->o, &p->dst, dd, c->err);
    for (int i = 0; rc == ST_OK && i < 2; i++) {
        store *s = i ? p->dst : p->src;
        store_set_interrupt(s, c->o->interrupt);
        rc = store_hint_aggregate(s, true, c->err);
    }
    return rc;
}

/* Whether the streams may run beside the writes: both datastores are
 * servers (a file datastore, SQLite, has one writer at a time and would
 * make the writes wait for the streams' reads). */
static bool pipe_possible(const sync_ctx *c) {
    if (c->o->cfg == NULL) return false;
    const config_pipeline *pl = c->o->pipeline;
    const config_datastore *sd = config_datastore_find(c->o->cfg, pl->source.datastore);
    const config_datastore *dd = config_datastore_find(c->o->cfg, pl->destination.datastore);
    return sd != NULL && dd != NULL && sd->path == NULL && dd->path == NULL;
}

/* Stops the producer (at its next hand-over) and waits for it. */
static void pipe_join(key_pipe *p, pthread_t th) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(th, NULL);
}

/* The row pass over [lo, hi], the digests streaming on their own
 * connections while this thread fetches, merges and writes the keys found
 * so far. *opened false: no second connection pair could be opened (the
 * caller runs the pass in turns). The first error wins: the fetcher's, or
 * the streams' (an interrupt ends a stream's read). */
static int rows_overlapped(sync_ctx *c, int64_t lo, int64_t hi, bool *opened) {
    key_pipe p = {.c = c, .lo = lo, .hi = hi};
    st_error keep = *c->err;
    *opened = pipe_open(c, &p) == ST_OK;
    if (!*opened) {
        log_debug(c->o->pipeline->name, c->o->strategy->name,
                  "hash: no second connection pair (%s); row pass in turns", c->err->msg);
        *c->err = keep;
        store_close(p.src);
        store_close(p.dst);
        return ST_OK;
    }
    log_detail(c->o->pipeline->name, c->o->strategy->name,
               "hash: row digests stream on a second connection pair while the differing "
               "rows are fetched and written");
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    bool started = pthread_create(&th, NULL, pipe_produce, &p) == 0;
    int rc = started ? ST_OK
                     : st_error_set(c->err, ST_ENOMEM, "hash: cannot start the digest streams");
    key_set ks = {0};
    while (rc == ST_OK) {
        pipe_take(&p, &ks);
        if (ks.n == 0) break;
        rc = fetch_and_merge(c, &ks);
        sync_progress_update(&c->prog, c->stats, false);
    }
    if (started) pipe_join(&p, th);
    if (rc == ST_OK && p.rc != ST_OK) {
        *c->err = p.err;
        rc = p.rc;
    }
    free(ks.k);
    free(p.q.k);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    store_close(p.src);
    store_close(p.dst);
    return rc;
}

int sync_hash_rows(sync_ctx *c, const int64_t (*ranges)[2], size_t n) {
    key_set ks = {0};
    int rc = ST_OK;
    log_detail(c->o->pipeline->name, c->o->strategy->name,
             "hash: most ranges differ; comparing row digests (%s) over %zu range(s)",
             c->row_family, n);
    for (size_t i = 0; rc == ST_OK && i < n;) {
        /* One pass over the span of the ranges: most of them differ, so the
         * equal ones between cost less to read than a stream per range. */
        int64_t lo = ranges[i][0], hi = ranges[n - 1][1];
        i = n;
        bool more = true, opened = false;
        if (pipe_possible(c)) rc = rows_overlapped(c, lo, hi, &opened);
        if (opened) break;
        while (rc == ST_OK && more) {
            rc = compare_window(c, lo, hi, &ks, &more, &lo, NULL);
            if (rc == ST_OK) rc = fetch_and_merge(c, &ks);
            sync_progress_update(&c->prog, c->stats, false);
        }
    }
    free(ks.k);
    return rc;
}
