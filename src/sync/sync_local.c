/*
 * sync_local — full, delta and hash between two SQLite tables, run by
 * SQLite itself: no value leaves the engine, none becomes canonical text.
 *
 * Canonical text (store.h) exists so that two engines can compare values.
 * Between two SQLite tables there is nothing to translate: the destination
 * connection ATTACHes the source file read-only, so its transactions lock
 * the destination, never the source (or it reads the source table in place
 * when both are in one file), and, in one transaction with the fencing and
 * cancel checks of a batch (sync_batch.c), runs
 *   DELETE FROM dst WHERE NOT EXISTS (the key in src)
 *   UPDATE dst SET ... FROM src WHERE key = key AND (c IS NOT c OR ...)
 *     (every non-key column set; only the compared ones in the OR: a
 *     compare: false column is written when another one differs)
 *   INSERT INTO dst SELECT ... FROM src WHERE NOT EXISTS (the key in dst)
 * (the INSERT without the NOT EXISTS when dst was empty), counting with
 * changes(). Values are copied as SQLite holds them, so the destination's
 * affinity stores numbers as numbers; booleans, dates and timestamps go
 * through st_store() (store_sqlite.c), which writes them as a sync from any
 * engine would (0/1, canonical UTC text), whatever spelling the source
 * uses. Comparisons apply the columns' affinities, so '5.00' in a TEXT
 * source column equals 5 in a NUMERIC one, and an unchanged row is never
 * rewritten or counted. (The generic path compares canonical text; the two
 * agree except where SQLite's own equality is wider than the text: a -0.0
 * that a column without affinity holds equals 0 here, while the generic
 * path rewrites it on every run, docs/configuration.md.)
 *
 * The whole table is one transaction: SQLite has one writer per file
 * anyway, and a failure leaves the destination as it was.
 *
 * hash: for two SQLite tables the hash strategy's result (only differing
 * rows written, deletions included, exact counts) is what the full above
 * does by comparing values in SQL, so hash runs it. No digest is computed:
 * the whole table is one segment, compared row by row in SQL;
 * segments_compared is 1 and segments_skipped is 1 when nothing differed;
 * rows_read counts the source rows that differed (inserted or updated),
 * as a hash run reads only differing segments' rows.
 * A dry run (`synctool diff`) takes the generic hash (sync_hash.c).
 *
 * delta: the page loop, watermark and lookback rules of sync_delta.c
 * (sync_delta_pages), with each page run here, in one fenced transaction:
 *   INSERT INTO temp.synctool_page SELECT ... FROM src
 *     WHERE cursor IS NOT NULL AND (cursor, key) > (watermark)
 *     ORDER BY cursor, key LIMIT batch_size        -- the generic page SQL
 *   INSERT INTO dst SELECT ... FROM temp.synctool_page WHERE true
 *     ON CONFLICT (key) DO UPDATE SET c = excluded.c, ...
 *     WHERE dst.c IS NOT excluded.c OR ...          -- only changed rows
 * counted with changes() (inserts: the page's keys the destination lacked,
 * counted first). The page's last row, as canonical text (the only values
 * made canonical), is the new watermark, saved after the commit as the
 * generic path saves it, so either path resumes from the other's state.
 *
 * Used when both datastores are SQLite, the source is a table in its
 * file's main schema, and every key column is an integer, decimal, float
 * or text (keys compare raw). Anything else takes the generic path.
 * SYNCTOOL_TEST_SQLITE_GENERIC=1 in the environment forces the generic
 * path: tests compare the two on the same data.
 * A run given a driver (sync_opts.store_ops: a test's mock store) takes the
 * generic path too: its stores are reached only through that table.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOCAL_SCHEMA "synctool_src"
#define LOCAL_PAGE "temp.\"synctool_page\""

static bool raw_kind(store_kind k) {
    return k == STORE_K_INT || k == STORE_K_NUMERIC || k == STORE_K_FLOAT || k == STORE_K_TEXT;
}

bool sync_local_applies(const sync_ctx *c) {
    const char *forced = getenv("SYNCTOOL_TEST_SQLITE_GENERIC");
    if (forced != NULL && *forced != '\0' && strcmp(forced, "0") != 0) return false;
    if (c->o->store_ops != NULL) return false; /* stores reached only through their ops */
    const config_pipeline *p = c->o->pipeline;
    const config_datastore *sd = config_datastore_find(c->o->cfg, p->source.datastore);
    const config_datastore *dd = config_datastore_find(c->o->cfg, p->destination.datastore);
    if (sd == NULL || dd == NULL || sd->type != CONFIG_DS_SQLITE || dd->type != CONFIG_DS_SQLITE)
        return false;
    if (p->source.query != NULL || p->source.table == NULL || store_table_derived(&c->st))
        return false;
    if (p->source.schema != NULL && strcmp(p->source.schema, "main") != 0) return false;
    for (size_t i = 0; i < c->ncols; i++)
        if (c->key[i] && !raw_kind(c->kinds[i])) return false;
    return true;
}

/* The source table as the destination connection names it. */
static void src_name(store_sb *b, const sync_ctx *c, bool attached) {
    store_sb_quote(b, attached ? LOCAL_SCHEMA : "main");
    store_sb_add(b, ".");
    store_sb_quote(b, c->st.table);
}

static void dst_name(store_sb *b, const sync_ctx *c) {
    store_sb_quote(b, store_schema(c->dst, c->dt.schema));
    store_sb_add(b, ".");
    store_sb_quote(b, c->dt.table);
}

/* The value of source column i as the destination gets it. */
static void src_value(store_sb *b, const sync_ctx *c, size_t i, const char *alias) {
    if (!raw_kind(c->kinds[i])) store_sb_addf(b, "st_store(%d, ", (int)c->kinds[i]);
    store_sb_addf(b, "%s.", alias);
    store_sb_quote(b, c->scols[i]);
    if (!raw_kind(c->kinds[i])) store_sb_add(b, ")");
}

/* " a.k1 = b.k1 AND a.k2 = b.k2" (source names on the `s` side). */
static void key_match(store_sb *b, const sync_ctx *c, const char *s, const char *d) {
    const char *sep = "";
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb_addf(b, "%s%s.", sep, s);
        store_sb_quote(b, c->scols[i]);
        store_sb_addf(b, " = %s.", d);
        store_sb_quote(b, c->dcols[i]);
        sep = " AND ";
    }
}

static int exec_counted(sync_ctx *c, store_sb *q, int64_t *n) {
    *n = 0;
    if (q->oom) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    return store_exec(c->dst, q->s, 0, NULL, n, c->err);
}

static int local_delete(sync_ctx *c, bool attached, int64_t *n) {
    store_sb q = {0};
    store_sb_add(&q, "DELETE FROM ");
    dst_name(&q, c);
    store_sb_add(&q, " AS d WHERE NOT EXISTS (SELECT 1 FROM ");
    src_name(&q, c, attached);
    store_sb_add(&q, " AS s WHERE ");
    key_match(&q, c, "s", "d");
    store_sb_add(&q, ")");
    int rc = exec_counted(c, &q, n);
    store_sb_free(&q);
    return rc;
}

/* Whether column i is one whose difference makes a row differ (full, hash:
 * not a key, not compare: false). */
static bool compared(const sync_ctx *c, size_t i) { return !c->key[i] && !c->ignored[i]; }

static int local_update(sync_ctx *c, bool attached, int64_t *n) {
    *n = 0;
    size_t ncompared = 0;
    for (size_t i = 0; i < c->ncols; i++) ncompared += compared(c, i);
    if (ncompared == 0) return ST_OK;
    store_sb q = {0};
    store_sb_add(&q, "UPDATE ");
    dst_name(&q, c);
    store_sb_add(&q, " AS d SET ");
    const char *sep = "";
    for (size_t i = 0; i < c->ncols; i++) {
        if (c->key[i]) continue;
        store_sb_add(&q, sep);
        store_sb_quote(&q, c->dcols[i]);
        store_sb_add(&q, " = ");
        src_value(&q, c, i, "s");
        sep = ", ";
    }
    store_sb_add(&q, " FROM ");
    src_name(&q, c, attached);
    store_sb_add(&q, " AS s WHERE ");
    key_match(&q, c, "s", "d");
    sep = " AND (";
    for (size_t i = 0; i < c->ncols; i++) {
        if (!compared(c, i)) continue;   /* compare: false columns are written, not compared */
        store_sb_add(&q, sep);
        store_sb_add(&q, "d.");
        store_sb_quote(&q, c->dcols[i]);
        store_sb_add(&q, " IS NOT ");
        src_value(&q, c, i, "s");
        sep = " OR ";
    }
    store_sb_add(&q, ")");
    int rc = exec_counted(c, &q, n);
    store_sb_free(&q);
    return rc;
}

/* "INSERT INTO dst[ AS alias] (columns) SELECT <source values of s>". */
static void insert_select(store_sb *q, sync_ctx *c, const char *alias) {
    store_sb_add(q, "INSERT INTO ");
    dst_name(q, c);
    if (alias != NULL) {
        store_sb_add(q, " AS ");
        store_sb_add(q, alias);
    }
    store_sb_add(q, " (");
    for (size_t i = 0; i < c->ncols; i++) {
        if (i) store_sb_add(q, ", ");
        store_sb_quote(q, c->dcols[i]);
    }
    store_sb_add(q, ") SELECT ");
    for (size_t i = 0; i < c->ncols; i++) {
        if (i) store_sb_add(q, ", ");
        src_value(q, c, i, "s");
    }
}

static int local_insert(sync_ctx *c, bool attached, bool empty, int64_t *n) {
    store_sb q = {0};
    insert_select(&q, c, NULL);
    store_sb_add(&q, " FROM ");
    src_name(&q, c, attached);
    store_sb_add(&q, " AS s");
    if (!empty) {
        store_sb_add(&q, " WHERE NOT EXISTS (SELECT 1 FROM ");
        dst_name(&q, c);
        store_sb_add(&q, " AS d WHERE ");
        key_match(&q, c, "s", "d");
        store_sb_add(&q, ")");
    }
    int rc = exec_counted(c, &q, n);
    store_sb_free(&q);
    return rc;
}

/* One scan of the source: its rows, and a NULL key refused as the merge
 * refuses it. Then whether the destination is empty. */
static int local_counts(sync_ctx *c, bool attached, bool *empty) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*)");
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb_add(&q, ", count(*) - count(");
        store_sb_quote(&q, c->scols[i]);
        store_sb_add(&q, ")");
    }
    store_sb_add(&q, ", (SELECT NOT EXISTS (SELECT 1 FROM ");
    dst_name(&q, c);
    store_sb_add(&q, ")) FROM ");
    src_name(&q, c, attached);
    sync_list l = {0};
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(&l, c->dst, q.s, 0, NULL, c->err);
    store_sb_free(&q);
    if (rc != ST_OK) return rc;
    const char *const *row = l.n == 1 && l.rows[0]->n == c->nkeys + 2 ? l.rows[0]->v : NULL;
    c->stats->rows_read = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
    for (size_t i = 0, k = 1; row && i < c->ncols && rc == ST_OK; i++) {
        if (!c->key[i]) continue;
        if (row[k] && strtoll(row[k], NULL, 10) > 0)
            rc = st_error_set(c->err, ST_EINVAL, "key column '%s' is NULL in datastore '%s'",
                              c->scols[i], store_name(c->src));
        k++;
    }
    *empty = row && row[c->nkeys + 1] && strcmp(row[c->nkeys + 1], "1") == 0;
    sync_list_free(&l);
    return rc;
}

typedef struct local_full {
    bool attached;
    int64_t del, upd, ins;
} local_full;

/* The bodies run inside sync_batch_txn (fencing, cancel and interrupt
 * checks, one transaction); they keep their own counts in arg. */
static int full_body(sync_ctx *c, void *arg, store_counts *unused) {
    (void)unused;
    local_full *f = arg;
    bool empty = false;
    int rc = local_counts(c, f->attached, &empty);
    if (rc == ST_OK && !empty) rc = local_delete(c, f->attached, &f->del);
    if (rc == ST_OK && !empty) rc = local_update(c, f->attached, &f->upd);
    if (rc == ST_OK) rc = local_insert(c, f->attached, empty, &f->ins);
    return rc;
}

static int full_run(sync_ctx *c, bool attached, int64_t *changed) {
    local_full f = {attached, 0, 0, 0};
    int rc = sync_batch_txn(c, full_body, &f, NULL);   /* one batch: the table */
    if (rc != ST_OK) return rc;
    c->stats->rows_deleted += f.del;
    c->stats->rows_updated += f.upd;
    c->stats->rows_inserted += f.ins;
    *changed = f.del + f.upd + f.ins;
    sync_progress_update(&c->prog, c->stats, true);
    return ST_OK;
}

/* hash: rows_read counts the source rows that differed (the ones a hash
 * run reads out of its segments), not the rows SQLite compared. */
static int hash_run(sync_ctx *c, bool attached, int64_t *changed) {
    int rc = full_run(c, attached, changed);
    c->stats->rows_read = c->stats->rows_inserted + c->stats->rows_updated;
    return rc;
}

/* --- delta --- */

static void page_columns(store_sb *q, const sync_ctx *c, const char *alias) {
    for (size_t i = 0; i < c->ncols; i++) {
        if (i) store_sb_add(q, ", ");
        if (alias) store_sb_addf(q, "%s.", alias);
        store_sb_quote(q, c->scols[i]);
    }
}

/* The page: the generic delta's SELECT (sync_delta.c, same keyset and
 * order terms) over the source as the destination connection names it. */
static int page_fill(sync_ctx *c, bool attached, int cur, const sync_wm *w, bool lookback,
                     int64_t *n) {
    sync_ctx lc = *c;
    lc.st.schema = attached ? LOCAL_SCHEMA : "main";
    store_sb q = {0};
    store_sb_add(&q, "INSERT INTO " LOCAL_PAGE " SELECT ");
    page_columns(&q, c, NULL);
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, c->src, &lc.st);
    store_sb_add(&q, " WHERE ");
    store_sb_quote(&q, c->scols[cur]);
    store_sb_add(&q, " IS NOT NULL");
    if (w->n > 0) {
        store_sb_add(&q, " AND ");
        sync_sql_keyset(&q, &lc, true, cur, 1, lookback ? ">=" : ">", lookback);
    }
    sync_sql_order(&q, &lc, true, cur);
    store_sb_addf(&q, " LIMIT %lld", (long long)c->batch_size);
    int np = w->n == 0 ? 0 : lookback ? 1 : (int)w->n;
    *n = 0;
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : store_exec(c->dst, q.s, np, (const char *const *)w->v, n, c->err);
    store_sb_free(&q);
    return rc;
}

/* The page's rows whose key the destination lacks (the inserts). */
static int page_new(sync_ctx *c, int64_t *n) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*) FROM " LOCAL_PAGE " AS s WHERE NOT EXISTS (SELECT 1 FROM ");
    dst_name(&q, c);
    store_sb_add(&q, " AS d WHERE ");
    key_match(&q, c, "s", "d");
    store_sb_add(&q, ")");
    int rc = sync_query_int(c->dst, &q, 0, NULL, n, c->err);
    store_sb_free(&q);
    return rc;
}

/* Upserts the page; *n: rows inserted or really changed. */
static int page_upsert(sync_ctx *c, int64_t *n) {
    store_sb q = {0};
    insert_select(&q, c, "d");
    store_sb_add(&q, " FROM " LOCAL_PAGE " AS s WHERE true ON CONFLICT (");
    const char *sep = "";
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb_add(&q, sep);
        store_sb_quote(&q, c->dcols[i]);
        sep = ", ";
    }
    store_sb_add(&q, c->nkeys == c->ncols ? ") DO NOTHING" : ") DO UPDATE SET ");
    sep = "";
    for (size_t i = 0; i < c->ncols && c->nkeys < c->ncols; i++) {
        if (c->key[i]) continue;
        store_sb_add(&q, sep);
        store_sb_quote(&q, c->dcols[i]);
        store_sb_add(&q, " = excluded.");
        store_sb_quote(&q, c->dcols[i]);
        sep = ", ";
    }
    sep = " WHERE ";
    for (size_t i = 0; i < c->ncols && c->nkeys < c->ncols; i++) {
        if (c->key[i]) continue;
        store_sb_addf(&q, "%sd.", sep);
        store_sb_quote(&q, c->dcols[i]);
        store_sb_add(&q, " IS NOT excluded.");
        store_sb_quote(&q, c->dcols[i]);
        sep = " OR ";
    }
    int rc = exec_counted(c, &q, n);
    store_sb_free(&q);
    return rc;
}

/* A name of the page table's rowid that no column shadows (SQLite: a
 * column named rowid, _rowid_ or oid takes that name, not the others). */
static const char *page_rowid(const sync_ctx *c) {
    static const char *const names[] = {"rowid", "_rowid_", "oid"};
    for (size_t n = 0; n < 3; n++) {
        bool taken = false;
        for (size_t i = 0; i < c->ncols && !taken; i++) taken = strcasecmp(c->scols[i], names[n]) == 0;
        if (!taken) return names[n];
    }
    return "rowid";   /* unreachable: the three are different columns' names */
}

/* The page's last row (rows go in in page order, rowids ascending) as
 * canonical text: the next watermark. */
static int page_last(sync_ctx *c, int cur, sync_wm *next) {
    const struct store_ops *ops = store_ops_of(c->dst);
    store_sb q = {0};
    store_sb_add(&q, "SELECT ");
    for (size_t i = 0; i < c->ncols; i++) {
        store_sb col = {0};
        store_sb_quote(&col, c->scols[i]);
        if (i) store_sb_add(&q, ", ");
        ops->canon_expr(&q, c->kinds[i], col.oom ? "" : col.s);
        store_sb_free(&col);
    }
    store_sb_addf(&q, " FROM " LOCAL_PAGE " ORDER BY %s DESC LIMIT 1", page_rowid(c));
    sync_list l = {0};
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(&l, c->dst, q.s, 0, NULL, c->err);
    store_sb_free(&q);
    if (rc == ST_OK && (l.n != 1 || l.rows[0]->n != c->ncols))
        rc = st_error_set(c->err, ST_ERR, "delta: the page's last row is missing");
    if (rc == ST_OK) rc = sync_wm_from_row(c, next, cur, l.rows[0]->v);
    sync_list_free(&l);
    return rc;
}

typedef struct local_page {
    bool attached;
    int cur;
    const sync_wm *w;
    bool lookback;
    sync_wm *next;
    int64_t n, ins, changed;
} local_page;

static int page_body(sync_ctx *c, void *arg, store_counts *unused) {
    (void)unused;
    local_page *p = arg;
    int rc = store_exec(c->dst, "DELETE FROM " LOCAL_PAGE, 0, NULL, NULL, c->err);
    if (rc == ST_OK) rc = page_fill(c, p->attached, p->cur, p->w, p->lookback, &p->n);
    if (rc != ST_OK || p->n == 0) return rc;
    rc = page_new(c, &p->ins);
    if (rc == ST_OK) rc = page_upsert(c, &p->changed);
    if (rc == ST_OK) rc = page_last(c, p->cur, p->next);
    return rc;
}

static int delta_page(sync_ctx *c, int cur, const sync_wm *w, bool lookback, size_t *got,
                      sync_wm *next, void *arg) {
    local_page p = {*(const bool *)arg, cur, w, lookback, next, 0, 0, 0};
    *got = 0;
    int rc = sync_batch_txn(c, page_body, &p, NULL);
    if (rc != ST_OK) return rc;
    *got = (size_t)p.n;
    c->stats->rows_read += p.n;
    c->stats->rows_inserted += p.ins;
    c->stats->rows_updated += p.changed - p.ins;
    sync_progress_update(&c->prog, c->stats, false);
    return ST_OK;
}

static int delta_run(sync_ctx *c, bool attached, int64_t *changed) {
    (void)changed;
    store_sb q = {0};
    store_sb_add(&q, "CREATE TEMP TABLE \"synctool_page\" AS SELECT ");
    page_columns(&q, c, NULL);
    store_sb_add(&q, " FROM ");
    src_name(&q, c, attached);
    store_sb_add(&q, " LIMIT 0");
    int rc = store_exec(c->dst, "DROP TABLE IF EXISTS " LOCAL_PAGE, 0, NULL, NULL, c->err);
    if (rc == ST_OK) rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                                : store_exec(c->dst, q.s, 0, NULL, NULL, c->err);
    store_sb_free(&q);
    if (rc == ST_OK) rc = sync_delta_pages(c, delta_page, &attached);
    st_error ignore;
    store_exec(c->dst, "DROP TABLE IF EXISTS " LOCAL_PAGE, 0, NULL, NULL, &ignore);
    return rc;
}

/* --- Entry points --- */

typedef int (*local_fn)(sync_ctx *c, bool attached, int64_t *changed);

/* The source file as a read-only URI (file:/path?mode=ro, '%', '?' and '#'
 * escaped): BEGIN IMMEDIATE then takes a write lock on the destination
 * only, so the source's own writers are not blocked by a sync (nor is a
 * read-only source file refused). */
static void local_uri(store_sb *b, const char *path) {
    store_sb_add(b, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#') store_sb_addf(b, "%%%02X", (unsigned char)*p);
        else store_sb_addn(b, p, 1);
    }
    store_sb_add(b, "?mode=ro");
}

/* Attaches the source file to the destination connection (unless both are
 * one file), runs fn, detaches. */
static int local_run(sync_ctx *c, local_fn fn, int64_t *changed) {
    const config_pipeline *p = c->o->pipeline;
    const config_datastore *sd = config_datastore_find(c->o->cfg, p->source.datastore);
    const config_datastore *dd = config_datastore_find(c->o->cfg, p->destination.datastore);
    char a[PATH_MAX], b[PATH_MAX];
    const char *src_path = realpath(sd->path, a);
    bool same = src_path != NULL && realpath(dd->path, b) != NULL && strcmp(a, b) == 0;
    int rc = ST_OK;
    *changed = 0;
    if (!same) {
        store_sb uri = {0};
        local_uri(&uri, src_path ? src_path : sd->path);
        const char *params[1] = {uri.s};
        rc = uri.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                     : store_exec(c->dst, "ATTACH DATABASE ?1 AS " LOCAL_SCHEMA, 1, params, NULL,
                                  c->err);
        store_sb_free(&uri);
        if (rc != ST_OK) return rc;
    }
    rc = fn(c, !same, changed);
    if (!same) {
        st_error ignore;
        store_exec(c->dst, "DETACH DATABASE " LOCAL_SCHEMA, 0, NULL, NULL, &ignore);
    }
    log_debug(p->name, c->o->strategy->name, "ran inside SQLite (%s)",
              same ? "one file" : "source attached");
    return rc;
}

int sync_full_local(sync_ctx *c) {
    int64_t changed;
    return local_run(c, full_run, &changed);
}

int sync_hash_local(sync_ctx *c) {
    int64_t changed;
    int rc = local_run(c, hash_run, &changed);
    if (rc != ST_OK) return rc;
    c->stats->segments_compared++;
    if (changed == 0) c->stats->segments_skipped++;
    return ST_OK;
}

int sync_delta_local(sync_ctx *c) {
    int64_t changed;
    return local_run(c, delta_run, &changed);
}
