/*
 * sync_hash_keyset — hash segments for keys that are not one integer
 * (text, composite, dates...): split by the keys themselves.
 *
 * An integer key splits by arithmetic (sync_hash.c). Any other key has no
 * width to cut, so a segment here is a keyset range (after, upto] in key
 * order — the order both engines use for the merge (COLLATE "C" for text on
 * PostgreSQL, bytes on SQLite) — and its boundaries are real keys: the side
 * holding more rows in the segment is read once in key order and every
 * ceil(n/16)-th key becomes a boundary (row_number() over the ordered
 * range), cutting it into at most 17 sub-segments of ~n/16 rows on that
 * side. One query per side then gives every sub-segment's (count, summed
 * checksum) — a CASE over the boundaries, one scan — and equal ones are
 * skipped. A differing sub-segment with more than segment_rows rows on
 * either side is split again the same way (boundaries from whichever side
 * now holds more, so a range that only the other side fills still shrinks);
 * a smaller one is a leaf: its rows are fetched from both sides and merged
 * with sync_merge().
 *
 * Every level reads each differing segment again, so this only pays when a
 * segment is an index range scan on both sides: both are tables whose key
 * columns lead an index, in key order, and no PostgreSQL side has a text
 * key column (its index orders by the database collation, the ranges here
 * compare bytes, COLLATE "C", which that index cannot serve: every segment
 * would scan the whole table — 64 s against 18 s for a full merge, 1M
 * rows). Otherwise sync_hash runs the full merge.
 *
 * Checksums are the summed per-row MD5s of sync_hash.c (no order needed).
 * The caller has already compared the whole table; this only runs when it
 * differs. Cost per level: one ordered read of the segment on one side for
 * the boundaries, one scan per side for the sums.
 */
#include "sync_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS_FANOUT 16

/* (after, upto] in key order; NULL bound = open. Bounds hold the key values
 * in key column order (nkeys entries). */
typedef struct ks_seg {
    sync_row *after, *upto;
    int64_t scount, dcount;
} ks_seg;

typedef struct ks_stack {
    ks_seg *v;
    size_t n, cap;
} ks_stack;

static store *ks_store(sync_ctx *c, bool source) { return source ? c->src : c->dst; }

static void seg_free(ks_seg *s) {
    free(s->after);
    free(s->upto);
    s->after = s->upto = NULL;
}

static sync_row *bound_copy(const sync_row *r) { return r ? sync_row_copy(r->v, r->n) : NULL; }

/* Appends " WHERE <after> AND <upto>" (whichever exist); the bounds' values
 * go to params from *np on. */
static void seg_where(store_sb *q, sync_ctx *c, bool source, const ks_seg *s,
                      const char **params, int *np) {
    const sync_row *b[2] = {s->after, s->upto};
    const char *op[2] = {">", "<="};
    const char *glue = " WHERE ";
    for (int i = 0; i < 2; i++) {
        if (b[i] == NULL) continue;
        store_sb_add(q, glue);
        sync_sql_keyset(q, c, source, -1, *np + 1, op[i], false);
        for (size_t k = 0; k < b[i]->n; k++) params[(*np)++] = b[i]->v[k];
        glue = " AND ";
    }
}

/* The key columns' canonical values and the row number in key order. */
static void key_select(store_sb *q, sync_ctx *c, bool source) {
    store *s = ks_store(c, source);
    const store *os = s;
    size_t k = 0;
    store_sb_add(q, "SELECT ");
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb cq = {0};
        store_sb_quote(&cq, source ? c->scols[i] : c->dcols[i]);
        store_sb_canon(q, os, c->kinds[i], cq.oom ? "" : cq.s);
        store_sb_addf(q, " AS \"synctool_k%zu\", ", k++);
        store_sb_free(&cq);
    }
    store_sb_add(q, "row_number() OVER (");
    sync_sql_order(q, c, source, -1);
    store_sb_add(q, ") AS \"synctool_rn\" FROM ");
    store_sb_from(q, s, source ? &c->st : &c->dt);
}

/* Every step-th key of the segment on one side, in key order. */
static int boundaries(sync_ctx *c, bool source, const ks_seg *s, int64_t step, sync_list *out) {
    const char **params = malloc(2 * c->nkeys * sizeof *params);
    if (params == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    int np = 0;
    store_sb q = {0};
    store_sb_add(&q, "SELECT ");
    for (size_t k = 0; k < c->nkeys; k++) store_sb_addf(&q, "%s\"synctool_k%zu\"", k ? ", " : "", k);
    store_sb_add(&q, " FROM (");
    key_select(&q, c, source);
    seg_where(&q, c, source, s, params, &np);
    store_sb_addf(&q, ") AS \"synctool_b\" WHERE \"synctool_rn\" %% %lld = 0 ORDER BY "
                      "\"synctool_rn\"", (long long)step);
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(out, ks_store(c, source), q.s, np, params, c->err);
    store_sb_free(&q);
    free(params);
    return rc;
}

/* Per sub-segment (count, checksum) on one side: bucket i holds the keys in
 * (b[i-1], b[i]], the last one everything after b[nb-1]. */
static int sub_sums(sync_ctx *c, bool source, const ks_seg *s, const sync_list *b, size_t nb,
                    int64_t *count, uint64_t *sum, st_error *err) {
    store *st = ks_store(c, source);
    const char **params = malloc((2 + nb) * c->nkeys * sizeof *params);
    if (params == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    int np = 0;
    store_sb q = {0}, rt = {0};
    store_sb_rowtext(&rt, st, source ? &c->st : &c->dt);
    store_sb_add(&q, "SELECT CASE");
    for (size_t i = 0; i < nb; i++) {
        store_sb_add(&q, " WHEN ");
        sync_sql_keyset(&q, c, source, -1, np + 1, "<=", false);
        for (size_t k = 0; k < b->rows[i]->n; k++) params[np++] = b->rows[i]->v[k];
        store_sb_addf(&q, " THEN %zu", i);
    }
    store_sb_addf(&q, " ELSE %zu END, count(*), ", nb);
    store_sb_sum64(&q, st, rt.s ? rt.s : "''");
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, st, source ? &c->st : &c->dt);
    seg_where(&q, c, source, s, params, &np);
    store_sb_add(&q, " GROUP BY 1");
    sync_list l;
    int rc = q.oom || rt.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                             : sync_list_load(&l, st, q.s, np, params, err);
    store_sb_free(&q);
    store_sb_free(&rt);
    free(params);
    if (rc != ST_OK) return rc;
    for (size_t i = 0; i < l.n; i++) {
        const char *const *v = l.rows[i]->v;
        long long bi = v[0] ? strtoll(v[0], NULL, 10) : -1;
        if (bi < 0 || (size_t)bi > nb) continue;
        count[bi] = v[1] ? strtoll(v[1], NULL, 10) : 0;
        sum[bi] = v[2] ? store_mod64(v[2]) : 0;
    }
    sync_list_free(&l);
    return ST_OK;
}

/* One side's sums: what sub_sums needs, and where its results go. */
typedef struct sums_job {
    const ks_seg *s;
    const sync_list *b;
    size_t nb;
    int64_t *count;
    uint64_t *sum;
} sums_job;

static int sums_side(sync_ctx *c, bool source, void *arg, st_error *err) {
    sums_job *j = arg;
    return sub_sums(c, source, j->s, j->b, j->nb, j->count, j->sum, err);
}

static void seg_where_arg(store_sb *q, sync_ctx *c, bool source, const void *arg,
                          const char **params, int *np) {
    seg_where(q, c, source, arg, params, np);
}

/* Rows of the segment from both sides, merged into the batch. */
static int ks_leaf(sync_ctx *c, const ks_seg *s) {
    return sync_merge_where(c, seg_where_arg, s, 2 * c->nkeys);
}

static int push(sync_ctx *c, ks_stack *st, ks_seg s) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 32;
        ks_seg *g = realloc(st->v, cap * sizeof *g);
        if (g == NULL) {
            seg_free(&s);
            return st_error_set(c->err, ST_ENOMEM, "out of memory");
        }
        st->v = g;
        st->cap = cap;
    }
    st->v[st->n++] = s;
    return ST_OK;
}

/* Sub-segment i of s cut at the first nb keys of b: (b[i-1] or s->after,
 * b[i] or s->upto]. */
static int sub_seg(const ks_seg *s, const sync_list *b, size_t nb, size_t i, ks_seg *out) {
    const sync_row *lo = i == 0 ? s->after : b->rows[i - 1];
    const sync_row *hi = i == nb ? s->upto : b->rows[i];
    out->after = bound_copy(lo);
    out->upto = bound_copy(hi);
    bool oom = (out->after == NULL && lo != NULL) || (out->upto == NULL && hi != NULL);
    if (oom) seg_free(out);
    return oom ? ST_ENOMEM : ST_OK;
}

/* A segment known to differ: a leaf, or cut at real keys and compared. */
static int ks_split(sync_ctx *c, ks_stack *st, ks_seg *s) {
    int64_t most = s->scount > s->dcount ? s->scount : s->dcount;
    if (most <= c->o->strategy->segment_rows) return ks_leaf(c, s);
    bool from_source = s->scount >= s->dcount;
    sync_list b;
    int rc = boundaries(c, from_source, s, (most + KS_FANOUT - 1) / KS_FANOUT, &b);
    if (rc != ST_OK) return rc;
    /* Counts taken earlier can be stale (a source written meanwhile): at
     * most KS_FANOUT cuts, and none at all means the segment is small now. */
    size_t nb = b.n < KS_FANOUT ? b.n : KS_FANOUT;
    if (nb == 0) {
        sync_list_free(&b);
        return ks_leaf(c, s);
    }
    int64_t sc[KS_FANOUT + 1] = {0}, dc[KS_FANOUT + 1] = {0};
    uint64_t ss[KS_FANOUT + 1] = {0}, ds[KS_FANOUT + 1] = {0};
    sums_job sj = {.s = s, .b = &b, .nb = nb, .count = sc, .sum = ss};
    sums_job dj = {.s = s, .b = &b, .nb = nb, .count = dc, .sum = ds};
    rc = sync_both_sides(c, sums_side, &sj, &dj);
    for (size_t i = 0; rc == ST_OK && i <= nb; i++) {
        c->stats->segments_compared++;
        if (sc[i] == dc[i] && ss[i] == ds[i]) {
            c->stats->segments_skipped++;
            continue;
        }
        ks_seg sub = {.scount = sc[i], .dcount = dc[i]};
        rc = sub_seg(s, &b, nb, i, &sub) == ST_OK
                 ? push(c, st, sub)
                 : st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    sync_list_free(&b);
    sync_progress_update(&c->prog, c->stats, false);
    return rc;
}

int sync_hash_keyset_usable(sync_ctx *c, bool *yes) {
    *yes = false;
    if (c->st.query != NULL || c->dt.query != NULL || c->nkeys == 0 || c->nkeys > 32) return ST_OK;
    for (int side = 0; side < 2; side++) {
        bool source = side == 0;
        store *s = ks_store(c, source);
        bool unindexed = store_text_key_order_unindexed(s);
        const char *cols[32];
        size_t n = 0;
        for (size_t i = 0; i < c->ncols; i++) {
            if (!c->key[i]) continue;
            if (unindexed && c->kinds[i] == STORE_K_TEXT) {
                *yes = false;
                return ST_OK;
            }
            cols[n++] = source ? c->scols[i] : c->dcols[i];
        }
        const store_table *t = source ? &c->st : &c->dt;
        int rc = store_key_indexed(s, t->schema, t->table, cols, n, yes, c->err);
        if (rc != ST_OK || !*yes) return rc;
    }
    return ST_OK;
}

int sync_hash_keyset(sync_ctx *c, int64_t scount, int64_t dcount) {
    ks_stack st = {0};
    ks_seg top = {.scount = scount, .dcount = dcount};   /* a range of parallel: N: its bounds */
    const sync_range *r = c->range;
    if (r != NULL && r->lo != NULL) top.after = sync_row_copy(r->lo, c->nkeys);
    if (r != NULL && r->hi != NULL) top.upto = sync_row_copy(r->hi, c->nkeys);
    bool oom = (r != NULL && r->lo != NULL && top.after == NULL) ||
               (r != NULL && r->hi != NULL && top.upto == NULL);
    int rc = oom ? st_error_set(c->err, ST_ENOMEM, "out of memory") : push(c, &st, top);
    if (oom) seg_free(&top);
    while (rc == ST_OK && st.n > 0) {
        ks_seg s = st.v[--st.n];
        rc = ks_split(c, &st, &s);
        seg_free(&s);
    }
    while (st.n > 0) seg_free(&st.v[--st.n]);
    free(st.v);
    if (rc == ST_OK) rc = sync_batch_flush(c);
    return rc;
}
