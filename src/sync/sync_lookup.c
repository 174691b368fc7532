/*
 * sync_lookup — `lookups:` (config_lookup.c): columns added to each source
 * row from a table of another datastore, matched by key (issue 26 item 3).
 *
 * A run opens one store per lookup next to the source and destination
 * (sync_lookup_open: connected and checked before anything is written: the
 * table, its key and every column must exist; an unreachable datastore
 * fails the run naming the lookup and the datastore, never with a
 * password, store_scrub). The strategies read the source's own columns
 * (the first nsrc of the row) and pass their iterator through
 * sync_lookup_wrap(), which yields the same rows with the lookup columns
 * filled in, so merges, digests-by-row, inserts and upserts all see
 * enriched rows.
 *
 * Batches, never a query per row: the wrapper reads SYNC_LOOKUP_BATCH rows
 * ahead (fewer at the end of the stream), and per lookup collects the
 * batch's distinct join keys that its cache does not hold, then asks them
 * in one query through the lookup's store:
 *
 *   SELECT canon(lookup_key), canon(col1), ... FROM "schema"."table"
 *   WHERE "lookup_key" IN (cast($1), cast($2), ...)
 *
 * (the driver's dialect: quoting, parameters, casts and canonical text are
 * the store's, store_sb_*; the join column's kind and type cast the keys,
 * so the lookup key's index serves and both sides' keys compare as the
 * same canonical text). Answers and misses go into the lookup's LRU cache
 * (sync_lookup_cache.c: cache_rows entries, cache_ttl), put only after the
 * batch's rows are built so that no value a row points at is evicted
 * under it. A key with no row gives NULLs, or fails the run with
 * `required: true` naming the lookup, its table and the key; a NULL join
 * key gives NULLs. When the lookup table holds a key twice the first row
 * it returns wins (lookup_key is meant to be unique).
 *
 * Time: the cache's TTL is judged on sync_clock_us() (monotonic), read
 * here once per batch and passed in; no decision inside the cache reads a
 * clock.
 */
#include "sync_int.h"
#include "sync_lookup_cache.h"
#include "../log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_LOOKUP_BATCH 500   /* rows enriched together: keys in one IN list */

typedef struct lookup_run {
    const config_lookup *cfg;
    store *s;
    size_t keycol;            /* the join key's index in the row */
    sync_lookup_cache *cache;
    int64_t queries, asked, rows_missing;
} lookup_run;

struct sync_lookups {
    lookup_run *v;
    size_t n;
};

/* --- opening: connect, check the table --- */

static int lookup_err(sync_ctx *c, const lookup_run *l, int rc, const char *msg) {
    const config_lookup *k = l->cfg;
    return st_error_set(c->err, rc, "lookup '%s' (datastore '%s', table %s.%s): %s", k->name,
                        k->datastore, config_lookup_schema_shown(k), k->table, msg);
}

/* The lookup key and every lookup column must be columns of the table. */
static int lookup_check_table(sync_ctx *c, lookup_run *l) {
    const config_lookup *k = l->cfg;
    store_column_info *info = NULL;
    size_t n = 0;
    st_error e;
    int rc = store_describe(l->s, k->schema, k->table, &info, &n, &e);
    if (rc != ST_OK) return lookup_err(c, l, rc, e.msg);
    const config_pipeline *p = c->o->pipeline;
    for (size_t i = 0; rc == ST_OK && i <= k->ncolumns; i++) {
        const char *want = i == 0 ? k->lookup_key : p->columns[k->first + i - 1].name;
        bool found = false;
        for (size_t j = 0; j < n && !found; j++) found = strcmp(info[j].name, want) == 0;
        if (!found) {
            char msg[512];
            snprintf(msg, sizeof msg, "the table has no column '%s'", want);
            rc = lookup_err(c, l, ST_ENOTFOUND, msg);
        }
    }
    free(info);
    return rc;
}

static int lookup_open_one(sync_ctx *c, lookup_run *l) {
    const config_lookup *k = l->cfg;
    const config_datastore *ds = config_datastore_find(c->o->cfg, k->datastore);
    if (ds == NULL)
        return st_error_set(c->err, ST_ENOTFOUND, "lookup '%s': datastore '%s' is not defined",
                            k->name, k->datastore);
    for (size_t i = 0; i < c->nsrc; i++)
        if (strcmp(c->scols[i], k->key) == 0) l->keycol = i;
    st_error e;
    int rc = sync_store_open(c->o, &l->s, ds, &e);
    if (rc != ST_OK)
        return st_error_set(c->err, rc, "lookup '%s': datastore '%s' could not be reached: %s",
                            k->name, k->datastore, e.msg);
    store_set_interrupt(l->s, c->o->interrupt);
    l->cache = sync_lookup_cache_new((size_t)k->cache_rows, k->cache_ttl_s * 1000000,
                                     k->ncolumns);
    if (l->cache == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    return lookup_check_table(c, l);
}

int sync_lookup_open(sync_ctx *c) {
    const config_pipeline *p = c->o->pipeline;
    if (p->nlookups == 0) return ST_OK;
    c->lookups = calloc(1, sizeof *c->lookups);
    lookup_run *v = calloc(p->nlookups, sizeof *v);
    if (c->lookups == NULL || v == NULL) {
        free(v);
        return st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    c->lookups->v = v;
    c->lookups->n = p->nlookups;
    int rc = ST_OK;
    for (size_t i = 0; i < p->nlookups && rc == ST_OK; i++) {
        v[i].cfg = &p->lookups[i];
        rc = lookup_open_one(c, &v[i]);
    }
    return rc;
}

void sync_lookup_close(sync_ctx *c) {
    if (c->lookups == NULL) return;
    for (size_t i = 0; i < c->lookups->n; i++) {
        lookup_run *l = &c->lookups->v[i];
        if (l->cache != NULL && c->o->strategy != NULL) {
            sync_lookup_cache_stats st = sync_lookup_cache_stats_of(l->cache);
            log_detail(c->o->pipeline->name, c->o->strategy->name,
                       "lookup %s: %lld queries for %lld keys, %lld cache hits, %lld rows "
                       "whose key has no row", l->cfg->name, (long long)l->queries,
                       (long long)l->asked, (long long)st.hits, (long long)l->rows_missing);
        }
        sync_lookup_cache_free(l->cache);
        store_close(l->s);
    }
    free(c->lookups->v);
    free(c->lookups);
    c->lookups = NULL;
}

/* --- one batch --- */

struct sync_enrich {
    sync_iter it;
    sync_ctx *c;
    sync_iter *in;
    sync_row **src;       /* the batch's source rows (nsrc values) */
    sync_row **rows;      /* enriched (ncols values) */
    size_t n, pos;
    bool eof;
};

/* What one lookup needs for one batch: the rows whose key the cache did
 * not hold, their distinct keys, and the answers (a map of the batch). */
typedef struct lookup_batch {
    bool *pending;
    const char **keys;
    size_t nkeys;
    sync_lookup_cache *map;
} lookup_batch;

/* SELECT canon(key), canon(cols)... FROM t WHERE key IN (casts). */
static int lookup_query(sync_ctx *c, lookup_run *l, const char *const *keys, size_t n,
                        sync_list *out) {
    const config_lookup *k = l->cfg;
    const config_pipeline *p = c->o->pipeline;
    store_kind kk = c->kinds[l->keycol];
    store_sb q = {0}, kq = {0};
    store_sb_quote(&kq, k->lookup_key);
    store_sb_add(&q, "SELECT ");
    store_sb_canon(&q, l->s, kk, kq.oom ? "" : kq.s);
    for (size_t i = 0; i < k->ncolumns; i++) {
        const config_column *col = &p->columns[k->first + i];
        store_sb cq = {0};
        store_sb_quote(&cq, col->name);
        store_sb_add(&q, ", ");
        store_sb_canon(&q, l->s, c->kinds[k->first + i], cq.oom ? "" : cq.s);
        store_sb_free(&cq);
    }
    store_table t = {.datastore = k->datastore, .schema = k->schema, .table = k->table};
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, l->s, &t);
    store_sb_addf(&q, " WHERE %s IN (", kq.oom ? "" : kq.s);
    for (size_t i = 0; i < n; i++) {
        char ph[24];
        snprintf(ph, sizeof ph, "%c%zu", store_param_prefix(l->s), i + 1);
        if (i) store_sb_add(&q, ", ");
        store_sb_param_cast(&q, l->s, ph, kk, c->types[l->keycol]);
    }
    store_sb_add(&q, ")");
    st_error e;
    int rc = q.oom || kq.oom ? st_error_set(&e, ST_ENOMEM, "out of memory")
                             : sync_list_load(out, l->s, q.s, (int)n, keys, &e);
    store_sb_free(&q);
    store_sb_free(&kq);
    l->queries++;
    l->asked += (int64_t)n;
    return rc == ST_OK ? ST_OK : lookup_err(c, l, rc, e.msg);
}

/* Rows whose key is cached get their values now; the others are pending,
 * their distinct keys listed once. */
static int batch_from_cache(sync_enrich *e, lookup_run *l, lookup_batch *b, const char **w,
                            int64_t now) {
    sync_ctx *c = e->c;
    size_t first = l->cfg->first, nc = l->cfg->ncolumns;
    for (size_t r = 0; r < e->n; r++) {
        const char *key = e->src[r]->v[l->keycol];
        if (key == NULL) continue;   /* a NULL join key: NULLs */
        const char *const *vals = NULL;
        if (sync_lookup_cache_get(l->cache, key, now, &vals) == 1) {
            for (size_t i = 0; vals != NULL && i < nc; i++) w[r * c->ncols + first + i] = vals[i];
            if (vals == NULL) b->pending[r] = true;   /* a known miss: judged below */
            if (vals == NULL && sync_lookup_cache_get(b->map, key, 0, &vals) == 0 &&
                sync_lookup_cache_put(b->map, key, NULL, 0) != 0)
                return st_error_set(c->err, ST_ENOMEM, "out of memory");
            continue;
        }
        b->pending[r] = true;
        if (sync_lookup_cache_get(b->map, key, 0, &vals) == 1) continue;  /* listed */
        if (sync_lookup_cache_put(b->map, key, NULL, 0) != 0)
            return st_error_set(c->err, ST_ENOMEM, "out of memory");
        b->keys[b->nkeys++] = key;
    }
    return ST_OK;
}

/* The pending keys asked in one query; the answers go into the batch map. */
static int batch_ask(sync_enrich *e, lookup_run *l, lookup_batch *b) {
    if (b->nkeys == 0) return ST_OK;
    sync_list res = {0};
    int rc = lookup_query(e->c, l, b->keys, b->nkeys, &res);
    for (size_t i = 0; rc == ST_OK && i < res.n; i++) {
        const char *const *v = res.rows[i]->v;
        const char *const *had = NULL;
        if (v[0] == NULL) continue;
        if (sync_lookup_cache_get(b->map, v[0], 0, &had) == 1 && had != NULL) continue;
        if (sync_lookup_cache_put(b->map, v[0], v + 1, 0) != 0)
            rc = st_error_set(e->c->err, ST_ENOMEM, "out of memory");
    }
    sync_list_free(&res);
    return rc;
}

/* Pending rows take the answers; a key without a row is NULLs or, with
 * required, the run's error. */
static int batch_fill(sync_enrich *e, lookup_run *l, lookup_batch *b, const char **w) {
    sync_ctx *c = e->c;
    size_t first = l->cfg->first, nc = l->cfg->ncolumns;
    for (size_t r = 0; r < e->n; r++) {
        if (!b->pending[r]) continue;
        const char *key = e->src[r]->v[l->keycol];
        const char *const *vals = NULL;
        sync_lookup_cache_get(b->map, key, 0, &vals);
        if (vals == NULL) l->rows_missing++;
        if (vals == NULL && l->cfg->required) {
            char msg[600];
            snprintf(msg, sizeof msg, "no row with %s = %s for the row's %s (required: true; "
                     "add the row to the lookup table, or drop required)",
                     l->cfg->lookup_key, key, l->cfg->key);
            return lookup_err(c, l, ST_ENOTFOUND, msg);
        }
        for (size_t i = 0; vals != NULL && i < nc; i++) w[r * c->ncols + first + i] = vals[i];
    }
    return ST_OK;
}

/* After the rows are built: the batch's answers and misses into the cache. */
static int batch_remember(sync_enrich *e, lookup_run *l, lookup_batch *b, int64_t now) {
    for (size_t i = 0; i < b->nkeys; i++) {
        const char *const *vals = NULL;
        sync_lookup_cache_get(b->map, b->keys[i], 0, &vals);
        if (sync_lookup_cache_put(l->cache, b->keys[i], vals, now) != 0)
            return st_error_set(e->c->err, ST_ENOMEM, "out of memory");
    }
    return ST_OK;
}

static void batch_free(lookup_batch *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(b[i].pending);
        free(b[i].keys);
        sync_lookup_cache_free(b[i].map);
    }
    free(b);
}

static int batch_alloc(sync_enrich *e, lookup_batch **out) {
    size_t nl = e->c->lookups->n;
    lookup_batch *b = calloc(nl, sizeof *b);
    bool ok = b != NULL;
    for (size_t i = 0; ok && i < nl; i++) {
        b[i].pending = calloc(e->n, sizeof *b[i].pending);
        b[i].keys = calloc(e->n, sizeof *b[i].keys);
        b[i].map = sync_lookup_cache_new(e->n + 1, 0, e->c->lookups->v[i].cfg->ncolumns);
        ok = b[i].pending && b[i].keys && b[i].map;
    }
    *out = b;
    if (ok) return ST_OK;
    if (b) batch_free(b, nl);
    *out = NULL;
    return st_error_set(e->c->err, ST_ENOMEM, "out of memory");
}

/* Every lookup over the batch's rows, then the enriched rows built. */
static int enrich_rows(sync_enrich *e, const char **w) {
    sync_ctx *c = e->c;
    lookup_batch *b = NULL;
    int rc = batch_alloc(e, &b);
    int64_t now = sync_clock_us();
    for (size_t i = 0; rc == ST_OK && i < c->lookups->n; i++) {
        lookup_run *l = &c->lookups->v[i];
        rc = batch_from_cache(e, l, &b[i], w, now);
        if (rc == ST_OK) rc = batch_ask(e, l, &b[i]);
        if (rc == ST_OK) rc = batch_fill(e, l, &b[i], w);
    }
    for (size_t r = 0; rc == ST_OK && r < e->n; r++)
        if ((e->rows[r] = sync_row_copy(&w[r * c->ncols], c->ncols)) == NULL)
            rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < c->lookups->n; i++)
        rc = batch_remember(e, &c->lookups->v[i], &b[i], now);
    if (b) batch_free(b, c->lookups->n);
    return rc;
}

static void enrich_clear(sync_enrich *e) {
    for (size_t i = 0; i < e->n; i++) {
        free(e->src[i]);
        free(e->rows[i]);
        e->src[i] = e->rows[i] = NULL;
    }
    e->n = e->pos = 0;
}

/* Reads the next batch of source rows and enriches them. */
static int enrich_fill(sync_enrich *e, st_error *err) {
    sync_ctx *c = e->c;
    enrich_clear(e);
    int rc = 1;
    while (e->n < SYNC_LOOKUP_BATCH) {
        const char *const *row;
        rc = e->in->next(e->in, &row, err);
        if (rc <= 0) break;
        if ((e->src[e->n] = sync_row_copy(row, c->nsrc)) == NULL)
            return st_error_set(err, ST_ENOMEM, "out of memory");
        e->n++;
    }
    if (rc < 0) return rc;
    if (rc == 0) e->eof = true;
    if (e->n == 0) return ST_OK;
    const char **w = calloc(e->n * c->ncols, sizeof *w);
    if (w == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    for (size_t r = 0; r < e->n; r++)
        for (size_t i = 0; i < c->nsrc; i++) w[r * c->ncols + i] = e->src[r]->v[i];
    rc = enrich_rows(e, w);
    free(w);
    if (rc != ST_OK && err != c->err) *err = *c->err;
    return rc;
}

static int enrich_next(sync_iter *it, const char *const **row, st_error *err) {
    sync_enrich *e = (sync_enrich *)it;
    if (e->pos >= e->n) {
        if (e->eof) return 0;
        int rc = enrich_fill(e, err);
        if (rc != ST_OK) return rc;
        if (e->n == 0) return 0;
    }
    *row = e->rows[e->pos++]->v;
    return 1;
}

int sync_lookup_wrap(sync_ctx *c, sync_iter *in, sync_iter **out, sync_enrich **e) {
    *e = NULL;
    *out = in;
    if (c->lookups == NULL) return ST_OK;
    sync_enrich *x = calloc(1, sizeof *x);
    if (x != NULL) {
        x->src = calloc(SYNC_LOOKUP_BATCH, sizeof *x->src);
        x->rows = calloc(SYNC_LOOKUP_BATCH, sizeof *x->rows);
    }
    if (x == NULL || x->src == NULL || x->rows == NULL) {
        sync_lookup_unwrap(x);
        return st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    x->it.next = enrich_next;
    x->c = c;
    x->in = in;
    *e = x;
    *out = &x->it;
    return ST_OK;
}

void sync_lookup_unwrap(sync_enrich *e) {
    if (e == NULL) return;
    if (e->src && e->rows) enrich_clear(e);
    free(e->src);
    free(e->rows);
    free(e);
}
