/*
 * sync_local — full, delta and hash through the destination driver's copy
 * inside the engine (store_local_*, store.h; SQLite's is
 * store_sqlite_local.c, which says what it runs and when it fits).
 *
 * This file keeps only the strategies' rules around it: each batch is a
 * transaction with the fencing, cancel and interrupt checks of
 * sync_batch.c; delta pages, watermarks and lookback are sync_delta.c's
 * (sync_delta_pages), each page's keyset and order terms the generic ones
 * over the source as the destination connection names it, so either path
 * resumes from the other's state (the driver writes the rest of the page's
 * query and may count the NULL cursors in its scan: store_local_pageq);
 * counts and progress are the run's.
 *
 * full: the whole table is one transaction (the engine has one writer per
 * file anyway, and a failure leaves the destination as it was).
 *
 * hash: for two tables the engine compares itself the hash strategy's
 * result (only differing rows written, deletions included, exact counts)
 * is what full does, so hash runs it. No digest is computed: the whole
 * table is one segment, compared row by row in SQL; segments_compared is 1
 * and segments_skipped is 1 when nothing differed; rows_read counts the
 * source rows that differed (inserted or updated), as a hash run reads
 * only differing segments' rows. A dry run (`synctool diff`) takes the
 * generic hash (sync_hash.c).
 *
 * The copy is used whenever the destination's driver offers one for the
 * pair (store_local_open says ST_ENOTIMPL otherwise) and neither datastore
 * says `in_engine: false` (config.h: generic_copy; tests compare the two
 * paths on the same data with it).
 * A run given a driver (sync_opts.store_ops: a test's mock store) and a
 * source read through a derived table (a filter, expression columns:
 * store_table_derived) or enriched by lookups (sync_lookup.c) take the
 * generic path too.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sync_local_open(sync_ctx *c, store_local **out) {
    *out = NULL;
    const config_pipeline *p = c->o->pipeline;
    const config_datastore *sd = config_datastore_find(c->o->cfg, p->source.datastore);
    const config_datastore *dd = config_datastore_find(c->o->cfg, p->destination.datastore);
    if (sd == NULL || dd == NULL || sd->generic_copy || dd->generic_copy) return ST_OK;
    if (c->o->store_ops != NULL || store_table_derived(&c->st) || c->lookups != NULL)
        return ST_OK;
    st_error e;
    int rc = store_local_open(out, c->dst, dd, &c->dt, c->src, sd, &c->st, &e);
    if (rc == ST_ENOTIMPL) return ST_OK;
    if (rc != ST_OK) *c->err = e;
    return rc;
}

/* Ends the copy, saying where it ran. */
static int local_done(sync_ctx *c, store_local *l, int rc) {
    log_debug(c->o->pipeline->name, c->o->strategy->name, "ran inside %s", store_local_how(l));
    store_local_close(l);
    return rc;
}

/* --- full and hash --- */

typedef struct local_full {
    store_local *l;
    store_local_counts n;
} local_full;

/* Runs inside sync_batch_txn (fencing, cancel and interrupt checks, one
 * transaction). */
static int full_body(sync_ctx *c, void *arg, store_counts *unused) {
    (void)unused;
    local_full *f = arg;
    int rc = store_local_merge(f->l, &f->n, c->err);
    c->stats->rows_read = f->n.read;
    return rc;
}

static int full_run(sync_ctx *c, store_local *l, int64_t *changed) {
    local_full f = {l, {0}};
    *changed = 0;
    int rc = sync_batch_txn(c, full_body, &f, NULL);   /* one batch: the table */
    if (rc != ST_OK) return rc;
    c->stats->rows_deleted += f.n.deleted;
    c->stats->rows_updated += f.n.updated;
    c->stats->rows_inserted += f.n.inserted;
    *changed = f.n.deleted + f.n.updated + f.n.inserted;
    sync_progress_update(&c->prog, c->stats, true);
    return ST_OK;
}

int sync_full_local(sync_ctx *c, store_local *l) {
    int64_t changed;
    return local_done(c, l, full_run(c, l, &changed));
}

/* hash: rows_read counts the source rows that differed (the ones a hash
 * run reads out of its segments), not the rows the engine compared. */
int sync_hash_local(sync_ctx *c, store_local *l) {
    int64_t changed;
    int rc = full_run(c, l, &changed);
    c->stats->rows_read = c->stats->rows_inserted + c->stats->rows_updated;
    if (rc == ST_OK) {
        c->stats->segments_compared++;
        if (changed == 0) c->stats->segments_skipped++;
    }
    return local_done(c, l, rc);
}

/* --- delta --- */

typedef struct local_page {
    store_local *l;
    int cur;
    const sync_wm *w;
    bool lookback;
    bool count_null;
    sync_wm *next;
    store_local_counts n;
} local_page;

/* The page: the generic delta's keyset and order terms (sync_sql.c) over
 * the source as the destination connection names it, so either path
 * resumes from the other's watermark; the driver writes the rest. */
static int page_body(sync_ctx *c, void *arg, store_counts *unused) {
    (void)unused;
    local_page *p = arg;
    sync_ctx lc = *c;
    lc.st.schema = store_local_source_schema(p->l);
    store_sb after = {0}, order = {0};
    if (p->w->n > 0)
        sync_sql_keyset(&after, &lc, true, p->cur, 1, p->lookback ? ">=" : ">", p->lookback);
    sync_sql_order(&order, &lc, true, p->cur);
    store_local_pageq pg = {
        .cursor = p->cur, .after = after.s, .since = p->w->n > 0 ? p->w->v[0] : NULL,
        .order = order.s, .np = p->w->n == 0 ? 0 : p->lookback ? 1 : (int)p->w->n,
        .params = (const char *const *)p->w->v, .limit = c->batch_size,
        .count_null = p->count_null};
    const char *const *last = NULL;
    int rc = after.oom || order.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                                    : store_local_page(p->l, &pg, &p->n, &last, c->err);
    store_sb_free(&after);
    store_sb_free(&order);
    if (rc == ST_OK && last != NULL) rc = sync_wm_from_row(c, p->next, p->cur, last);
    return rc;
}

static int delta_page(sync_ctx *c, int cur, const sync_wm *w, bool lookback, size_t *got,
                      bool *more, sync_wm *next, bool *nulls, void *arg) {
    local_page p = {arg, cur, w, lookback, *nulls, next, {0}};
    *got = 0;
    int rc = sync_batch_txn(c, page_body, &p, NULL);
    if (rc != ST_OK) return rc;
    if (p.n.null_counted) {
        c->stats->rows_null_cursor = p.n.null_cursor;
        *nulls = false;
    }
    *got = (size_t)p.n.read;
    *more = p.n.more;
    c->stats->rows_read += p.n.read;
    c->stats->rows_inserted += p.n.inserted;
    c->stats->rows_updated += p.n.updated;
    sync_progress_update(&c->prog, c->stats, false);
    return ST_OK;
}

int sync_delta_local(sync_ctx *c, store_local *l) {
    return local_done(c, l, sync_delta_pages(c, delta_page, l));
}
