/*
 * sync_full — the full strategy: the destination ends identical to the
 * source (inserts, updates and deletes), in constant memory.
 *
 * Design: a streaming merge-join. Both sides are read ordered by key, as
 * canonical text, and compared row by row:
 *   source key < destination key  -> INSERT
 *   source key > destination key  -> DELETE the destination row
 *   equal keys, different rows    -> UPDATE; equal rows -> nothing
 * where "different" leaves out the compare: false columns (sync_rows_equal):
 * a row differing only there is left alone, and an UPDATE writes the whole
 * source row, those columns included.
 * Changes go to the batch (sync_batch.c), committed every batch_size.
 *
 * The source is one streaming query (a cursor on PostgreSQL). The
 * destination is read in keyset pages (WHERE key > last ORDER BY key LIMIT
 * batch_size), each a short query: the destination connection is never
 * holding a cursor while a batch commits, and no page can see our own
 * writes — every key we insert is smaller than the destination key we were
 * comparing with, which is at most the last key of the current page.
 * Both engines order keys the same way (numbers numerically, text
 * bytewise), which the merge relies on.
 *
 * The merge itself (sync_merge) takes two iterators, so the hash strategy
 * reuses it on the rows of a mismatching segment.
 *
 * Into an empty destination there is nothing to merge: the source streams
 * straight into the destination's writer (full_into_empty), or, between
 * PostgreSQL tables of the same column types, as binary COPY data with no
 * canonical text at all (sync_full_copy.c).
 *
 * Between two SQLite tables none of this runs: SQLite does the whole job
 * itself (sync_local.c, store_sqlite_local.c).
 *
 * With `parallel: N` (sync_parallel.c) each key range runs this same code
 * on a connection pair of its own: c->range adds the range's bounds to the
 * source stream and to every destination page (sync_range_where), so a
 * range merges, or copies into its empty part of the table, on its own.
 *
 * A pipeline with lookups reads its source rows through sync_lookup_wrap
 * (sync_lookup.c): each batch of rows is enriched before the merge or the
 * insert stream sees it, so every comparison is of enriched rows.
 */
#include "sync_int.h"

#include <stdlib.h>
#include <string.h>

/* --- Iterators --- */

static int stream_next(sync_iter *it, const char *const **row, st_error *err) {
    sync_stream *s = (sync_stream *)it;
    int nc;
    return store_next(s->s, s->r, row, &nc, err);
}

int sync_stream_open(sync_stream *it, store *s, const char *sql, int np, const char *const *p,
                     st_error *err) {
    it->it.next = stream_next;
    it->s = s;
    it->r = NULL;
    return store_query(s, &it->r, sql, np, p, err);
}

void sync_stream_close(sync_stream *it) {
    if (it->r) store_reader_close(it->s, it->r);
    it->r = NULL;
}

static int list_next(sync_iter *it, const char *const **row, st_error *err) {
    (void)err;
    sync_list *l = (sync_list *)it;
    if (l->pos >= l->n) return 0;
    *row = l->rows[l->pos++]->v;
    return 1;
}

void sync_list_free(sync_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->rows[i]);
    free(l->rows);
    l->rows = NULL;
    l->n = l->pos = 0;
}

int sync_list_load(sync_list *l, store *s, const char *sql, int np, const char *const *p,
                   st_error *err) {
    memset(l, 0, sizeof *l);
    l->it.next = list_next;
    store_reader *r = NULL;
    int rc = store_query_small(s, &r, sql, np, p, err);
    size_t cap = 0;
    const char *const *row;
    int nc;
    while (rc == ST_OK && (rc = store_next(s, r, &row, &nc, err)) == 1) {
        rc = ST_OK;
        if (l->n == cap) {
            cap = cap ? cap * 2 : 64;
            sync_row **g = realloc(l->rows, cap * sizeof *g);
            if (g == NULL) { rc = st_error_set(err, ST_ENOMEM, "out of memory"); break; }
            l->rows = g;
        }
        if ((l->rows[l->n] = sync_row_copy(row, (size_t)nc)) == NULL)
            rc = st_error_set(err, ST_ENOMEM, "out of memory");
        else
            l->n++;
    }
    if (r) store_reader_close(s, r);
    if (rc != ST_OK) sync_list_free(l);
    return rc;
}

int sync_query_int(store *s, const store_sb *q, int np, const char *const *p, int64_t *out,
                   st_error *err) {
    *out = 0;
    if (q->oom) return st_error_set(err, ST_ENOMEM, "out of memory");
    sync_list l;
    int rc = sync_list_load(&l, s, q->s, np, p, err);
    if (rc != ST_OK) return rc;
    if (l.n > 0 && l.rows[0]->v[0]) *out = strtoll(l.rows[0]->v[0], NULL, 10);
    sync_list_free(&l);
    return ST_OK;
}

/* Destination in keyset pages. */
typedef struct dst_pages {
    sync_iter it;
    sync_ctx *c;
    sync_list page;
    sync_row *last;   /* last key of the previous page */
    bool eof;
} dst_pages;

static int pages_fetch(dst_pages *d, st_error *err) {
    sync_ctx *c = d->c;
    store_sb q = {0};
    const char *params[192];
    int np = 0;
    sync_sql_select(&q, c, false);
    sync_range_where(&q, c, false, " WHERE ", params, &np);   /* a range of parallel: N */
    if (d->last) {
        store_sb_add(&q, np > 0 ? " AND " : " WHERE ");
        sync_sql_keyset(&q, c, false, -1, np + 1, ">", false);
        for (size_t i = 0; i < c->ncols && np < 192; i++)
            if (c->key[i]) params[np++] = d->last->v[i];
    }
    sync_sql_order(&q, c, false, -1);
    store_sb_addf(&q, " LIMIT %lld", (long long)c->batch_size);
    sync_list_free(&d->page);
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : sync_list_load(&d->page, c->dst, q.s, np, params, err);
    store_sb_free(&q);
    if (rc != ST_OK) return rc;
    if ((int64_t)d->page.n < c->batch_size) d->eof = true;
    if (d->page.n > 0) {
        free(d->last);
        d->last = sync_row_copy(d->page.rows[d->page.n - 1]->v, c->ncols);
        if (d->last == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    return ST_OK;
}

static int pages_next(sync_iter *it, const char *const **row, st_error *err) {
    dst_pages *d = (dst_pages *)it;
    if (d->page.pos >= d->page.n) {
        if (d->eof) return 0;
        int rc = pages_fetch(d, err);
        if (rc != ST_OK) return rc;
        if (d->page.n == 0) return 0;
    }
    *row = d->page.rows[d->page.pos++]->v;
    return 1;
}

/* --- Merge --- */

static int merge_step(sync_ctx *c, const char *const *s, const char *const *d, int *adv) {
    int cmp = s && d ? sync_key_cmp(c, s, d) : (s ? -1 : 1);
    *adv = cmp < 0 ? 1 : cmp > 0 ? 2 : 3;
    if (c->o->diff != NULL) { /* dry run: record, write nothing */
        if (cmp < 0) return sync_diff_record(c, STORE_INSERT, s, NULL);
        if (cmp > 0) return sync_diff_record(c, STORE_DELETE, NULL, d);
        return sync_rows_equal(c, s, d) ? ST_OK : sync_diff_record(c, STORE_UPDATE, s, d);
    }
    if (cmp < 0) return sync_batch_add(c, STORE_INSERT, s);
    if (cmp > 0) return sync_batch_add(c, STORE_DELETE, d);
    if (!sync_rows_equal(c, s, d)) return sync_batch_add(c, STORE_UPDATE, s);
    return ST_OK;
}

static int null_key(sync_ctx *c, const char *const *row) {
    for (size_t i = 0; i < c->ncols; i++)
        if (c->key[i] && row[i] == NULL)
            return st_error_set(c->err, ST_EINVAL, "key column '%s' is NULL in datastore '%s'",
                                c->scols[i], store_name(c->src));
    return ST_OK;
}

int sync_merge(sync_ctx *c, sync_iter *src, sync_iter *dst) {
    const char *const *s = NULL, *const *d = NULL;
    int rs = src->next(src, &s, c->err);
    int rd = rs < 0 ? 0 : dst->next(dst, &d, c->err);
    while (rs == 1 || rd == 1) {
        if (rs < 0 || rd < 0) break;
        if (rs == 1 && null_key(c, s) != ST_OK) return c->err->code;
        int adv;
        int rc = merge_step(c, rs == 1 ? s : NULL, rd == 1 ? d : NULL, &adv);
        if (rc != ST_OK) return rc;
        if (adv & 1) {
            c->stats->rows_read++;
            rs = src->next(src, &s, c->err);
        }
        if ((adv & 2) && rs >= 0) rd = dst->next(dst, &d, c->err);
    }
    if (rs < 0 || rd < 0) return rs < 0 ? rs : rd;
    return ST_OK;
}

int sync_merge_where(sync_ctx *c, sync_where_fn where, const void *arg, size_t max_params) {
    const char **params = malloc((max_params ? max_params : 1) * sizeof *params);
    if (params == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    sync_list side[2];
    int rc = ST_OK;
    for (int i = 0; i < 2 && rc == ST_OK; i++) {
        bool source = i == 0;
        int np = 0;
        store_sb q = {0};
        sync_sql_select(&q, c, source);
        where(&q, c, source, arg, params, &np);
        sync_sql_order(&q, c, source, -1);
        rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(&side[i], source ? c->src : c->dst, q.s, np, params, c->err);
        store_sb_free(&q);
        if (rc != ST_OK && i == 1) sync_list_free(&side[0]);
    }
    free(params);
    if (rc != ST_OK) return rc;
    rc = sync_merge(c, &side[0].it, &side[1].it);
    sync_list_free(&side[0]);
    sync_list_free(&side[1]);
    return rc;
}

/* Into an empty destination every source row is an insert: the source
 * read streams straight into the destination's writer (PostgreSQL: COPY
 * into the table while SQLite is still being read; the server parses one
 * chunk while we read the next), batch_size rows per transaction, with no
 * row copied into a batch and no destination page read. When a batch is
 * full, the next source row is read ahead (while its COPY is still open)
 * and held for the next batch: so a batch knows whether it is the last,
 * and every batch but the last commits without waiting for its WAL flush
 * (store_relax_commit; the reasoning is in sync_full_copy.c). */
typedef struct insert_stream {
    sync_ctx *c;
    sync_iter *src;
    int64_t left;
    const char *const *held;   /* the row read ahead, valid until the next read */
    bool eof;
} insert_stream;

static int insert_read(insert_stream *s, const char *const **row, st_error *err) {
    int rc = s->src->next(s->src, row, err);
    s->eof = rc == 0;
    return rc;
}

static int insert_pull(void *arg, const char *const **vals, st_error *err) {
    insert_stream *s = arg;
    const char *const *row = s->held;
    int rc;
    if (s->left == 0) { /* batch full: is there a next one? */
        if (row == NULL && !s->eof && (rc = insert_read(s, &row, err)) < 0) return rc;
        s->held = row;
        return 0;
    }
    if (row == NULL && s->eof) return 0;
    if (row == NULL && (rc = insert_read(s, &row, err)) <= 0) return rc;
    s->held = NULL;
    if (null_key(s->c, row) != ST_OK) return s->c->err->code;
    s->left--;
    s->c->stats->rows_read++;
    *vals = row;
    return 1;
}

static int insert_batch(sync_ctx *c, void *arg, store_counts *cnt) {
    insert_stream *s = arg;
    int rc = store_apply_stream(c->dst, &c->dt, STORE_INSERT, insert_pull, s, cnt, c->err);
    if (rc == ST_OK && s->eof) rc = store_relax_commit(c->dst, false, c->err);
    return rc;
}

static int full_into_empty(sync_ctx *c, sync_iter *src) {
    insert_stream s = {.c = c, .src = src};
    int rc = store_relax_commit(c->dst, true, c->err);
    while (rc == ST_OK && !s.eof) {
        s.left = c->batch_size;
        store_counts cnt = {0};
        rc = sync_batch_txn(c, insert_batch, &s, &cnt);
        if (rc == ST_OK) sync_batch_count(c, &cnt);
    }
    st_error ignored;
    if (rc != ST_OK) store_relax_commit(c->dst, false, &ignored);
    return rc;
}

/* The source read as canonical text, ordered by key (its rows enriched
 * when the pipeline has lookups), into the empty destination or merged
 * with its pages (always merged with `merge`, and in a dry run). */
static int full_stream(sync_ctx *c, dst_pages *dst, bool merge) {
    store_sb q = {0};
    const char *params[128];
    int np = 0;
    sync_sql_select(&q, c, true);
    sync_range_where(&q, c, true, " WHERE ", params, &np);   /* a range of parallel: N */
    sync_sql_order(&q, c, true, -1);
    if (q.oom) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    sync_stream src;
    int rc = sync_stream_open(&src, c->src, q.s, np, params, c->err);
    store_sb_free(&q);
    if (rc != ST_OK) return rc;
    sync_iter *it = NULL;
    sync_enrich *e = NULL;
    rc = sync_lookup_wrap(c, &src.it, &it, &e);
    if (rc == ST_OK && dst->page.n == 0 && !merge && c->o->diff == NULL)
        rc = full_into_empty(c, it);
    else if (rc == ST_OK)
        rc = sync_merge(c, it, &dst->it);
    sync_lookup_unwrap(e);
    sync_stream_close(&src);
    return rc;
}

int sync_full(sync_ctx *c) {
    if (c->range == NULL) {   /* the whole table (a range of parallel: N is below) */
        store_local *l = NULL;   /* the copy inside the engine, when there is one */
        int lrc = sync_local_open(c, &l);
        if (lrc != ST_OK || l != NULL) return lrc != ST_OK ? lrc : sync_full_local(c, l);
        if (c->o->strategy->parallel > 1 && c->agg == NULL && c->o->diff == NULL)
            return sync_parallel_full(c);   /* key ranges at once: sync_parallel.c */
    }
    dst_pages dst = {.it.next = pages_next, .c = c};
    int rc = pages_fetch(&dst, c->err);   /* the first page: is there anything? */
    bool native = false;   /* into empty, same types on both sides: sync_full_copy.c */
    if (rc == ST_OK && dst.page.n == 0) rc = sync_full_copy_wanted(c, &native);
    if (rc == ST_OK) rc = native ? sync_full_copy(c) : full_stream(c, &dst, false);
    sync_list_free(&dst.page);
    free(dst.last);
    if (rc == ST_OK) rc = sync_batch_flush(c);
    return rc;
}

int sync_full_compare(sync_ctx *c) {
    dst_pages dst = {.it.next = pages_next, .c = c};
    int rc = pages_fetch(&dst, c->err);
    if (rc == ST_OK) rc = full_stream(c, &dst, true);
    sync_list_free(&dst.page);
    free(dst.last);
    if (rc == ST_OK && c->o->diff == NULL) rc = sync_batch_flush(c);
    return rc;
}
