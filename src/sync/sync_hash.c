/*
 * sync_hash — the hash strategy: compare checksums, move only what differs.
 *
 * Each database computes, for a key range, the row count and a 64-bit
 * checksum ITSELF in SQL: the sum modulo 2^64 of the first 16 hex digits of
 * md5(row text), where the row text is the values' hash texts joined with
 * '|' (store.h: canonical text, timestamps in ISO output form; '\' and '|'
 * escaped, NULL as \N). PostgreSQL uses its md5() and sums bigints (128-bit
 * accumulator); SQLite uses the md5() and st_sum64() functions the driver
 * registers. Both reduce to the same number for equal rows, across engines.
 *
 * The whole table is the first segment: a plain count + checksum per side
 * (PostgreSQL runs it with parallel workers); identical tables stop there.
 * Segments (single integer key): the key range [min, max] over both sides
 * is cut into HASH_FANOUT buckets of equal width with one GROUP BY query
 * per side — one scan computes every bucket's (count, checksum). Equal
 * buckets are skipped (segments_skipped). A differing bucket holding more
 * than segment_rows rows on either side is split again the same way
 * (recursion by range, fan-out 16 instead of 2 to save round trips); a
 * smaller one is a leaf: its rows are fetched from both sides (ordered by
 * key) and merged with sync_merge(), which queues exactly the inserts,
 * updates and deletes needed. Identical tables transfer no rows: only
 * HASH_FANOUT (count, checksum) pairs per side.
 *
 * The two sides' bucket queries run concurrently (the source's in a
 * thread), each on its own connection.
 *
 * Other keys (text, composite): the whole table is one segment. Equal
 * checksums: nothing to do; otherwise the full merge runs (documented
 * limitation; integer keys are the common case and get the recursion).
 */
#include "sync_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_FANOUT 16

typedef struct seg_sum {
    int64_t count;
    uint64_t sum;
} seg_sum;

typedef struct hash_range {
    int64_t lo, hi;
} hash_range;

static int key_index(const sync_ctx *c) {
    for (size_t i = 0; i < c->ncols; i++)
        if (c->key[i]) return (int)i;
    return -1;
}

/* SELECT bucket, count(*), checksum FROM t WHERE k BETWEEN lo AND hi GROUP BY 1 */
static int bucket_sums(sync_ctx *c, bool source, hash_range r, int64_t step, seg_sum *out,
                       size_t nb, st_error *err) {
    store *s = source ? c->src : c->dst;
    const struct store_ops *ops = store_ops_of(s);
    int k = key_index(c);
    const char *type = c->types[k];
    char pp = ops->param_prefix, p1[8], p2[8], p3[8];
    snprintf(p1, sizeof p1, "%c1", pp);
    snprintf(p2, sizeof p2, "%c2", pp);
    snprintf(p3, sizeof p3, "%c3", pp);
    store_sb q = {0}, kq = {0}, rt = {0};
    store_sb_quote(&kq, source ? c->scols[k] : c->dcols[k]);
    store_sb_rowtext(&rt, s, source ? &c->st : &c->dt);
    store_sb_addf(&q, "SELECT (%s - ", kq.s);
    ops->param_cast(&q, p1, STORE_K_INT, type);
    store_sb_add(&q, ") / ");
    ops->param_cast(&q, p2, STORE_K_INT, type);
    store_sb_add(&q, ", count(*), ");
    ops->sum64_expr(&q, rt.s ? rt.s : "''");
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, s, source ? &c->st : &c->dt);
    store_sb_addf(&q, " WHERE %s >= ", kq.s);
    ops->param_cast(&q, p1, STORE_K_INT, type);
    store_sb_addf(&q, " AND %s <= ", kq.s);
    ops->param_cast(&q, p3, STORE_K_INT, type);
    store_sb_add(&q, " GROUP BY 1");
    char a[24], b[24], d[24];
    snprintf(a, sizeof a, "%lld", (long long)r.lo);
    snprintf(b, sizeof b, "%lld", (long long)step);
    snprintf(d, sizeof d, "%lld", (long long)r.hi);
    const char *params[3] = {a, b, d};
    sync_list l;
    int rc = (q.oom || kq.oom || rt.oom) ? st_error_set(err, ST_ENOMEM, "out of memory")
                                         : sync_list_load(&l, s, q.s, 3, params, err);
    store_sb_free(&q);
    store_sb_free(&kq);
    store_sb_free(&rt);
    if (rc != ST_OK) return rc;
    memset(out, 0, nb * sizeof *out);
    for (size_t i = 0; i < l.n; i++) {
        long long bi = l.rows[i]->v[0] ? strtoll(l.rows[i]->v[0], NULL, 10) : -1;
        if (bi < 0 || (size_t)bi >= nb) continue;
        out[bi].count = l.rows[i]->v[1] ? strtoll(l.rows[i]->v[1], NULL, 10) : 0;
        out[bi].sum = l.rows[i]->v[2] ? store_mod64(l.rows[i]->v[2]) : 0;
    }
    sync_list_free(&l);
    return ST_OK;
}

/* Source side in a thread while the destination side runs here: the two
 * databases scan and hash at the same time (separate connections). */
typedef struct side_job {
    sync_ctx *c;
    hash_range r;
    int64_t step;    /* 0: whole table, one (count, checksum) */
    seg_sum *out;
    st_error err;
    int rc;
} side_job;

static int table_sum(sync_ctx *c, bool source, seg_sum *out, st_error *err);

static int side_run(side_job *j, bool source, st_error *err) {
    if (j->step == 0) return table_sum(j->c, source, j->out, err);
    return bucket_sums(j->c, source, j->r, j->step, j->out, HASH_FANOUT, err);
}

static void *side_thread(void *arg) {
    side_job *j = arg;
    j->rc = side_run(j, true, &j->err);
    return NULL;
}

static int both_sides(sync_ctx *c, hash_range r, int64_t step, seg_sum *s, seg_sum *d) {
    side_job j = {.c = c, .r = r, .step = step, .out = s};
    side_job here = {.c = c, .r = r, .step = step, .out = d};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, side_thread, &j) == 0;
    if (!threaded) side_thread(&j);
    int rc = side_run(&here, false, c->err);
    if (threaded) pthread_join(th, NULL);
    if (rc == ST_OK && j.rc != ST_OK) {
        *c->err = j.err;
        rc = j.rc;
    }
    return rc;
}

static int both_bucket_sums(sync_ctx *c, hash_range r, int64_t step, seg_sum *s, seg_sum *d) {
    return both_sides(c, r, step, s, d);
}

/* The top segment: whole-table count and checksum on both sides (a plain
 * aggregate, which PostgreSQL runs with parallel workers). */
static int whole_table_same(sync_ctx *c, bool *same) {
    seg_sum s = {0}, d = {0};
    hash_range none = {0, 0};
    int rc = both_sides(c, none, 0, &s, &d);
    if (rc != ST_OK) return rc;
    c->stats->segments_compared++;
    *same = s.count == d.count && s.sum == d.sum;
    c->stats->segments_skipped += *same;
    return ST_OK;
}

/* Rows of one key range from both sides, merged into the batch. */
static int hash_leaf(sync_ctx *c, hash_range r) {
    int k = key_index(c);
    sync_list side[2];
    int rc = ST_OK;
    for (int i = 0; i < 2 && rc == ST_OK; i++) {
        bool source = i == 0;
        store *s = source ? c->src : c->dst;
        const struct store_ops *ops = store_ops_of(s);
        char p1[8], p2[8];
        snprintf(p1, sizeof p1, "%c1", ops->param_prefix);
        snprintf(p2, sizeof p2, "%c2", ops->param_prefix);
        store_sb q = {0};
        sync_sql_select(&q, c, source);
        store_sb_add(&q, " WHERE ");
        store_sb_quote(&q, source ? c->scols[k] : c->dcols[k]);
        store_sb_add(&q, " BETWEEN ");
        ops->param_cast(&q, p1, STORE_K_INT, c->types[k]);
        store_sb_add(&q, " AND ");
        ops->param_cast(&q, p2, STORE_K_INT, c->types[k]);
        sync_sql_order(&q, c, source, -1);
        char a[24], b[24];
        snprintf(a, sizeof a, "%lld", (long long)r.lo);
        snprintf(b, sizeof b, "%lld", (long long)r.hi);
        const char *params[2] = {a, b};
        rc = q.oom ? ST_ENOMEM : sync_list_load(&side[i], s, q.s, 2, params, c->err);
        store_sb_free(&q);
        if (rc != ST_OK && i == 1) sync_list_free(&side[0]);
    }
    if (rc != ST_OK) return rc;
    rc = sync_merge(c, &side[0].it, &side[1].it);
    sync_list_free(&side[0]);
    sync_list_free(&side[1]);
    return rc;
}

static int range_of(sync_ctx *c, bool source, int64_t *lo, int64_t *hi, bool *empty) {
    int k = key_index(c);
    store *s = source ? c->src : c->dst;
    store_sb q = {0}, kq = {0};
    store_sb_quote(&kq, source ? c->scols[k] : c->dcols[k]);
    store_sb_addf(&q, "SELECT min(%s), max(%s) FROM ", kq.s, kq.s);
    store_sb_from(&q, s, source ? &c->st : &c->dt);
    sync_list l;
    int rc = q.oom || kq.oom ? ST_ENOMEM : sync_list_load(&l, s, q.s, 0, NULL, c->err);
    store_sb_free(&q);
    store_sb_free(&kq);
    if (rc != ST_OK) return rc;
    *empty = l.n == 0 || l.rows[0]->v[0] == NULL;
    if (!*empty) {
        *lo = strtoll(l.rows[0]->v[0], NULL, 10);
        *hi = strtoll(l.rows[0]->v[1], NULL, 10);
    }
    sync_list_free(&l);
    return ST_OK;
}

static int hash_range_split(sync_ctx *c, hash_range r, hash_range **stack, size_t *n,
                            size_t *cap) {
    uint64_t width = (uint64_t)r.hi - (uint64_t)r.lo + 1;
    int64_t step = (int64_t)((width + HASH_FANOUT - 1) / HASH_FANOUT);
    if (step < 1) step = 1;
    seg_sum s[HASH_FANOUT], d[HASH_FANOUT];
    int rc = both_bucket_sums(c, r, step, s, d);
    for (int b = 0; rc == ST_OK && b < HASH_FANOUT; b++) {
        hash_range sub = {r.lo + (int64_t)b * step, 0};
        if (sub.lo > r.hi || sub.lo < r.lo) break;
        sub.hi = (r.hi - sub.lo < step) ? r.hi : sub.lo + step - 1;
        c->stats->segments_compared++;
        if (s[b].count == d[b].count && s[b].sum == d[b].sum) {
            c->stats->segments_skipped++;
            continue;
        }
        int64_t most = s[b].count > d[b].count ? s[b].count : d[b].count;
        if (most <= c->o->strategy->segment_rows || step == 1 ||
            most <= 1) {
            rc = hash_leaf(c, sub);
            continue;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 32;
            hash_range *g = realloc(*stack, *cap * sizeof *g);
            if (g == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
            *stack = g;
        }
        (*stack)[(*n)++] = sub;
    }
    sync_progress_update(&c->prog, c->stats, false);
    return rc;
}

static int hash_int_key(sync_ctx *c) {
    int64_t slo = 0, shi = 0, dlo = 0, dhi = 0;
    bool se, de;
    bool same;
    int rc = whole_table_same(c, &same);
    if (rc != ST_OK || same) return rc;
    rc = range_of(c, true, &slo, &shi, &se);
    if (rc == ST_OK) rc = range_of(c, false, &dlo, &dhi, &de);
    if (rc != ST_OK || (se && de)) return rc;
    hash_range top = {se ? dlo : de ? slo : (slo < dlo ? slo : dlo),
                      se ? dhi : de ? shi : (shi > dhi ? shi : dhi)};
    hash_range *stack = NULL;
    size_t n = 0, cap = 0;
    rc = store_hint_aggregate(c->src, true, c->err);
    if (rc == ST_OK) rc = store_hint_aggregate(c->dst, true, c->err);
    if (rc == ST_OK) rc = hash_range_split(c, top, &stack, &n, &cap);
    while (rc == ST_OK && n > 0) rc = hash_range_split(c, stack[--n], &stack, &n, &cap);
    free(stack);
    store_hint_aggregate(c->src, false, NULL);
    store_hint_aggregate(c->dst, false, NULL);
    if (rc == ST_OK) rc = sync_batch_flush(c);
    return rc;
}

/* Non-integer or composite keys: one whole-table segment, then full merge. */
static int table_sum(sync_ctx *c, bool source, seg_sum *out, st_error *err) {
    store *s = source ? c->src : c->dst;
    store_sb q = {0}, rt = {0};
    store_sb_rowtext(&rt, s, source ? &c->st : &c->dt);
    store_sb_add(&q, "SELECT count(*), ");
    store_ops_of(s)->sum64_expr(&q, rt.s ? rt.s : "''");
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, s, source ? &c->st : &c->dt);
    sync_list l;
    int rc = q.oom || rt.oom ? ST_ENOMEM : sync_list_load(&l, s, q.s, 0, NULL, err);
    store_sb_free(&q);
    store_sb_free(&rt);
    if (rc != ST_OK) return rc;
    out->count = l.n ? strtoll(l.rows[0]->v[0], NULL, 10) : 0;
    out->sum = l.n && l.rows[0]->v[1] ? store_mod64(l.rows[0]->v[1]) : 0;
    sync_list_free(&l);
    return ST_OK;
}

int sync_hash(sync_ctx *c) {
    int k = key_index(c);
    if (c->nkeys == 1 && c->kinds[k] == STORE_K_INT) return hash_int_key(c);
    bool same;
    int rc = whole_table_same(c, &same);
    if (rc != ST_OK || same) return rc;
    return sync_full(c);
}
