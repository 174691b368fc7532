/*
 * store_sqlite_local — the SQLite driver's optional `local` methods
 * (store_backend.h, struct store_local_ops): full, delta and hash between
 * two SQLite tables, run by SQLite itself: no value leaves the engine,
 * none becomes canonical text.
 *
 * Canonical text (store_canon.h) exists so that two engines can compare
 * values. Between two SQLite tables there is nothing to translate: the
 * destination connection ATTACHes the source file read-only, so its
 * transactions lock the destination, never the source (or it reads the
 * source table in place when both are in one file), and, in the caller's
 * transaction (sync_batch.c: fencing and cancel checks), merge runs
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
 * delta: the caller's page loop (sync_delta.c) builds each page's keyset
 * condition and order over the source as this connection names it
 * (source_schema; the generic delta's terms, so either path resumes from
 * the other's watermark) and calls page, which in the caller's
 * transaction runs
 *   INSERT INTO temp.synctool_page SELECT <columns> FROM src
 *     WHERE c IS NOT NULL AND <raw bound> AND <keyset> ORDER BY ... LIMIT n + 1
 *   INSERT INTO dst SELECT ... FROM temp.synctool_page WHERE true
 *     ON CONFLICT (key) DO UPDATE SET c = excluded.c, ...
 *     WHERE dst.c IS NOT excluded.c OR ...          -- only changed rows
 * counted with changes() (inserts: the page's keys the destination lacked,
 * counted first; the SELECT asks one row more than the page, which is
 * deleted from the page table before the upsert and only says that another
 * page exists, so a full last page needs no empty page's scan after it),
 * and hands back the page's last row as canonical text
 * (the only values made canonical): the caller's next watermark, so either
 * path resumes from the other's state.
 *
 * One scan. A date or timestamp cursor is compared through st_canon (any
 * ISO spelling, an offset, Unix seconds, a Julian day), which no index
 * serves: each page reads the whole source table, and a function call per
 * row was half of that read. So the page adds a raw bound that every row
 * past the watermark meets, checked first without a call:
 *   +c COLLATE BINARY NOT BETWEEN '' AND 'D'     (D: the day before the
 *                                                 watermark's date)
 * A number (Unix seconds, a Julian day) sorts below any text and passes;
 * a text that st_canon reads as a time starts with its date as written,
 * which is at most a day before its UTC date (offsets stay within 23:59),
 * so one past the watermark is >= D as text; a text it cannot read is
 * compared as it is, so one past the watermark is past D too; a blob sorts
 * above any text. `+c` has no affinity: no text is turned into a number
 * per row. And the first page of a run counts the NULL cursors in that
 * same scan instead of a query of its own (sync_delta.c):
 *   FROM src NOT INDEXED WHERE (c IS NULL AND st_null_tally(c)) OR (...)
 * st_null_tally (store_sqlite.c) adds a NULL argument to this copy's
 * counter and returns 0; NOT INDEXED keeps the scan a whole-table scan
 * that evaluates the condition once per row, whatever indexes exist. An
 * integer or text cursor compares raw (an index on it serves each page),
 * so its page has neither and the caller counts the NULLs with an indexed
 * query.
 *
 * open says ST_ENOTIMPL (the caller takes the generic path) unless both
 * stores are SQLite, the source is a table in its file's main schema, and
 * every key column is an integer, decimal, float or text (keys compare
 * raw). Which path a caller takes is its own business (sync: the
 * datastores' `in_engine: false` forces the generic one).
 */
#include "store_backend.h"
#include "store_driver.h"
#include "store_sqlite_int.h"

#include "../time/st_time.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOCAL_SCHEMA "synctool_src"
#define LOCAL_PAGE "temp.\"synctool_page\""

typedef struct sq_local {
    store *dst, *src;
    const store_table *st, *dt;
    size_t nkeys;
    bool attached;      /* the source file is attached as LOCAL_SCHEMA */
    bool page_made;     /* temp.synctool_page exists */
    bool tally;         /* st_null_tally counts into nulls */
    int64_t nulls;
    char **last;        /* the page's last row (canonical text) */
} sq_local;

static bool raw_kind(store_kind k) {
    return k == STORE_K_INT || k == STORE_K_NUMERIC || k == STORE_K_FLOAT || k == STORE_K_TEXT;
}

static int oom(st_error *err) { return st_error_set(err, ST_ENOMEM, "out of memory"); }

/* The source table as the destination connection names it. */
static void src_name(store_sb *b, const sq_local *l) {
    store_sb_quote(b, l->attached ? LOCAL_SCHEMA : "main");
    store_sb_add(b, ".");
    store_sb_quote(b, l->st->table);
}

static void dst_name(store_sb *b, const sq_local *l) {
    store_sb_quote(b, store_schema(l->dst, l->dt->schema));
    store_sb_add(b, ".");
    store_sb_quote(b, l->dt->table);
}

/* The value of source column i as the destination gets it. */
static void src_value(store_sb *b, const sq_local *l, size_t i, const char *alias) {
    bool raw = raw_kind(l->st->kinds[i]);
    if (!raw) store_sb_addf(b, "st_store(%d, ", (int)l->st->kinds[i]);
    store_sb_addf(b, "%s.", alias);
    store_sb_quote(b, l->st->cols[i]);
    if (!raw) store_sb_add(b, ")");
}

/* " a.k1 = b.k1 AND a.k2 = b.k2" (source names on the `s` side). */
static void key_match(store_sb *b, const sq_local *l, const char *s, const char *d) {
    const char *sep = "";
    for (size_t i = 0; i < l->st->ncols; i++) {
        if (!l->st->key[i]) continue;
        store_sb_addf(b, "%s%s.", sep, s);
        store_sb_quote(b, l->st->cols[i]);
        store_sb_addf(b, " = %s.", d);
        store_sb_quote(b, l->dt->cols[i]);
        sep = " AND ";
    }
}

static int exec_counted(sq_local *l, store_sb *q, int64_t *n, st_error *err) {
    *n = 0;
    if (q->oom) return oom(err);
    return store_exec(l->dst, q->s, 0, NULL, n, err);
}

static void free_row(char **row, size_t n) {
    for (size_t i = 0; row && i < n; i++) free(row[i]);
    free(row);
}

/* The one row of q (its values copied into *row, ncols of them; freed by
 * free_row), or ST_ERR naming `what` when there is none. */
static int one_row(sq_local *l, const store_sb *q, size_t ncols, char ***row, const char *what,
                   st_error *err) {
    *row = NULL;
    if (q->oom) return oom(err);
    store_reader *r = NULL;
    int rc = store_query_small(l->dst, &r, q->s, 0, NULL, err);
    const char *const *v;
    int nc = 0;
    if (rc == ST_OK && (rc = store_next(l->dst, r, &v, &nc, err)) == 1) {
        rc = (size_t)nc == ncols ? ST_OK : st_error_set(err, ST_ERR, "%s: %d columns", what, nc);
        *row = rc == ST_OK ? calloc(ncols ? ncols : 1, sizeof **row) : NULL;
        if (rc == ST_OK && *row == NULL) rc = oom(err);
        for (size_t i = 0; rc == ST_OK && i < ncols; i++)
            if (v[i] && ((*row)[i] = strdup(v[i])) == NULL) rc = oom(err);
    } else if (rc == 0) {
        rc = st_error_set(err, ST_ERR, "%s is missing", what);
    }
    if (r) store_reader_close(l->dst, r);
    if (rc != ST_OK) {
        free_row(*row, ncols);
        *row = NULL;
    }
    return rc;
}

/* --- full and hash --- */

static int local_delete(sq_local *l, int64_t *n, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "DELETE FROM ");
    dst_name(&q, l);
    store_sb_add(&q, " AS d WHERE NOT EXISTS (SELECT 1 FROM ");
    src_name(&q, l);
    store_sb_add(&q, " AS s WHERE ");
    key_match(&q, l, "s", "d");
    store_sb_add(&q, ")");
    int rc = exec_counted(l, &q, n, err);
    store_sb_free(&q);
    return rc;
}

/* Whether column i is one whose difference makes a row differ (full, hash:
 * not a key, not compare: false). */
static bool compared(const sq_local *l, size_t i) {
    return !l->st->key[i] && !(l->st->ignored && l->st->ignored[i]);
}

static void update_set(store_sb *q, const sq_local *l) {
    const char *sep = "";
    for (size_t i = 0; i < l->st->ncols; i++) {
        if (l->st->key[i]) continue;
        store_sb_add(q, sep);
        store_sb_quote(q, l->dt->cols[i]);
        store_sb_add(q, " = ");
        src_value(q, l, i, "s");
        sep = ", ";
    }
}

static int local_update(sq_local *l, int64_t *n, st_error *err) {
    *n = 0;
    size_t ncompared = 0;
    for (size_t i = 0; i < l->st->ncols; i++) ncompared += compared(l, i);
    if (ncompared == 0) return ST_OK;
    store_sb q = {0};
    store_sb_add(&q, "UPDATE ");
    dst_name(&q, l);
    store_sb_add(&q, " AS d SET ");
    update_set(&q, l);
    store_sb_add(&q, " FROM ");
    src_name(&q, l);
    store_sb_add(&q, " AS s WHERE ");
    key_match(&q, l, "s", "d");
    const char *sep = " AND (";
    for (size_t i = 0; i < l->st->ncols; i++) {
        if (!compared(l, i)) continue;   /* compare: false columns are written, not compared */
        store_sb_add(&q, sep);
        store_sb_add(&q, "d.");
        store_sb_quote(&q, l->dt->cols[i]);
        store_sb_add(&q, " IS NOT ");
        src_value(&q, l, i, "s");
        sep = " OR ";
    }
    store_sb_add(&q, ")");
    int rc = exec_counted(l, &q, n, err);
    store_sb_free(&q);
    return rc;
}

/* "INSERT INTO dst[ AS alias] (columns) SELECT <source values of s>". */
static void insert_select(store_sb *q, const sq_local *l, const char *alias) {
    store_sb_add(q, "INSERT INTO ");
    dst_name(q, l);
    if (alias != NULL) {
        store_sb_add(q, " AS ");
        store_sb_add(q, alias);
    }
    store_sb_add(q, " (");
    for (size_t i = 0; i < l->dt->ncols; i++) {
        if (i) store_sb_add(q, ", ");
        store_sb_quote(q, l->dt->cols[i]);
    }
    store_sb_add(q, ") SELECT ");
    for (size_t i = 0; i < l->st->ncols; i++) {
        if (i) store_sb_add(q, ", ");
        src_value(q, l, i, "s");
    }
}

static int local_insert(sq_local *l, bool empty, int64_t *n, st_error *err) {
    store_sb q = {0};
    insert_select(&q, l, NULL);
    store_sb_add(&q, " FROM ");
    src_name(&q, l);
    store_sb_add(&q, " AS s");
    if (!empty) {
        store_sb_add(&q, " WHERE NOT EXISTS (SELECT 1 FROM ");
        dst_name(&q, l);
        store_sb_add(&q, " AS d WHERE ");
        key_match(&q, l, "s", "d");
        store_sb_add(&q, ")");
    }
    int rc = exec_counted(l, &q, n, err);
    store_sb_free(&q);
    return rc;
}

/* One scan of the source: its rows, and a NULL key refused as the merge
 * refuses it. Then whether the destination is empty. */
static int local_counts(sq_local *l, int64_t *read, bool *empty, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*)");
    for (size_t i = 0; i < l->st->ncols; i++) {
        if (!l->st->key[i]) continue;
        store_sb_add(&q, ", count(*) - count(");
        store_sb_quote(&q, l->st->cols[i]);
        store_sb_add(&q, ")");
    }
    store_sb_add(&q, ", (SELECT NOT EXISTS (SELECT 1 FROM ");
    dst_name(&q, l);
    store_sb_add(&q, ")) FROM ");
    src_name(&q, l);
    char **row = NULL;
    size_t n = l->nkeys + 2;
    int rc = one_row(l, &q, n, &row, "the source's row count", err);
    store_sb_free(&q);
    if (rc != ST_OK) return rc;
    *read = row[0] ? strtoll(row[0], NULL, 10) : 0;
    for (size_t i = 0, k = 1; i < l->st->ncols && rc == ST_OK; i++) {
        if (!l->st->key[i]) continue;
        if (row[k] && strtoll(row[k], NULL, 10) > 0)
            rc = st_error_set(err, ST_EINVAL, "key column '%s' is NULL in datastore '%s'",
                              l->st->cols[i], store_name(l->src));
        k++;
    }
    *empty = row[n - 1] && strcmp(row[n - 1], "1") == 0;
    free_row(row, n);
    return rc;
}

static int sq_local_merge(void *impl, store_local_counts *out, st_error *err) {
    sq_local *l = impl;
    memset(out, 0, sizeof *out);
    bool empty = false;
    int rc = local_counts(l, &out->read, &empty, err);
    if (rc == ST_OK && !empty) rc = local_delete(l, &out->deleted, err);
    if (rc == ST_OK && !empty) rc = local_update(l, &out->updated, err);
    if (rc == ST_OK) rc = local_insert(l, empty, &out->inserted, err);
    return rc;
}

/* --- delta --- */

static void page_columns(store_sb *q, const sq_local *l) {
    for (size_t i = 0; i < l->st->ncols; i++) {
        if (i) store_sb_add(q, ", ");
        store_sb_quote(q, l->st->cols[i]);
    }
}

static int page_make(sq_local *l, st_error *err) {
    if (l->page_made) return store_exec(l->dst, "DELETE FROM " LOCAL_PAGE, 0, NULL, NULL, err);
    store_sb q = {0};
    store_sb_add(&q, "CREATE TEMP TABLE \"synctool_page\" AS SELECT ");
    page_columns(&q, l);
    store_sb_add(&q, " FROM ");
    src_name(&q, l);
    store_sb_add(&q, " LIMIT 0");
    int rc = store_exec(l->dst, "DROP TABLE IF EXISTS " LOCAL_PAGE, 0, NULL, NULL, err);
    if (rc == ST_OK) rc = q.oom ? oom(err) : store_exec(l->dst, q.s, 0, NULL, NULL, err);
    store_sb_free(&q);
    l->page_made = rc == ST_OK;
    return rc;
}

/* The page's rows whose key the destination lacks (the inserts). */
static int page_new(sq_local *l, int64_t *n, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*) FROM " LOCAL_PAGE " AS s WHERE NOT EXISTS (SELECT 1 FROM ");
    dst_name(&q, l);
    store_sb_add(&q, " AS d WHERE ");
    key_match(&q, l, "s", "d");
    store_sb_add(&q, ")");
    char **row = NULL;
    int rc = one_row(l, &q, 1, &row, "the page's new rows", err);
    store_sb_free(&q);
    *n = rc == ST_OK && row[0] ? strtoll(row[0], NULL, 10) : 0;
    free_row(row, 1);
    return rc;
}

/* Upserts the page; *n: rows inserted or really changed. */
static int page_upsert(sq_local *l, int64_t *n, st_error *err) {
    const store_table *d = l->dt;
    bool all_keys = l->nkeys == d->ncols;
    store_sb q = {0};
    insert_select(&q, l, "d");
    store_sb_add(&q, " FROM " LOCAL_PAGE " AS s WHERE true ON CONFLICT (");
    const char *sep = "";
    for (size_t i = 0; i < d->ncols; i++) {
        if (!d->key[i]) continue;
        store_sb_add(&q, sep);
        store_sb_quote(&q, d->cols[i]);
        sep = ", ";
    }
    store_sb_add(&q, all_keys ? ") DO NOTHING" : ") DO UPDATE SET ");
    sep = "";
    for (size_t i = 0; i < d->ncols && !all_keys; i++) {
        if (d->key[i]) continue;
        store_sb_add(&q, sep);
        store_sb_quote(&q, d->cols[i]);
        store_sb_add(&q, " = excluded.");
        store_sb_quote(&q, d->cols[i]);
        sep = ", ";
    }
    sep = " WHERE ";
    for (size_t i = 0; i < d->ncols && !all_keys; i++) {
        if (d->key[i]) continue;
        store_sb_addf(&q, "%sd.", sep);
        store_sb_quote(&q, d->cols[i]);
        store_sb_add(&q, " IS NOT excluded.");
        store_sb_quote(&q, d->cols[i]);
        sep = " OR ";
    }
    int rc = exec_counted(l, &q, n, err);
    store_sb_free(&q);
    return rc;
}

/* A name of the page table's rowid that no column shadows (SQLite: a
 * column named rowid, _rowid_ or oid takes that name, not the others). */
static const char *page_rowid(const sq_local *l) {
    static const char *const names[] = {"rowid", "_rowid_", "oid"};
    for (size_t n = 0; n < 3; n++) {
        bool taken = false;
        for (size_t i = 0; i < l->st->ncols && !taken; i++)
            taken = strcasecmp(l->st->cols[i], names[n]) == 0;
        if (!taken) return names[n];
    }
    return "rowid";   /* unreachable: the three are different columns' names */
}

/* The page's last row (rows go in in page order, rowids ascending) as
 * canonical text: the caller's next watermark. */
static int page_last(sq_local *l, st_error *err) {
    const struct store_ops *ops = store_ops_of(l->dst);
    store_sb q = {0};
    store_sb_add(&q, "SELECT ");
    for (size_t i = 0; i < l->st->ncols; i++) {
        store_sb col = {0};
        store_sb_quote(&col, l->st->cols[i]);
        if (i) store_sb_add(&q, ", ");
        ops->canon_expr(&q, l->st->kinds[i], col.oom ? "" : col.s);
        store_sb_free(&col);
    }
    store_sb_addf(&q, " FROM " LOCAL_PAGE " ORDER BY %s DESC LIMIT 1", page_rowid(l));
    free_row(l->last, l->st->ncols);
    int rc = one_row(l, &q, l->st->ncols, &l->last, "delta: the page's last row", err);
    store_sb_free(&q);
    return rc;
}

/* Drops the page's lookahead row (the last in, the highest rowid). */
static int page_drop_lookahead(sq_local *l, st_error *err) {
    char q[160];
    const char *id = page_rowid(l);
    snprintf(q, sizeof q, "DELETE FROM " LOCAL_PAGE " WHERE %s = (SELECT max(%s) FROM " LOCAL_PAGE ")",
             id, id);
    return store_exec(l->dst, q, 0, NULL, NULL, err);
}

static bool time_kind(store_kind k) {
    return k == STORE_K_TIMESTAMPTZ || k == STORE_K_TIMESTAMP || k == STORE_K_DATE;
}

/* " AND c NOT BETWEEN '' AND 'D'": a bound in raw values that every row
 * past `since` meets, D the day before since's date (see top); none
 * when since has no date. */
static void page_prefilter(store_sb *q, const sq_local *l, int cur, const char *since) {
    char buf[96], d[16];
    const char *v = store_canon_text(since, l->st->kinds[cur], buf, sizeof buf);
    int y, m, day;
    if (v == NULL || strlen(v) < 10 || sscanf(v, "%4d-%2d-%2d", &y, &m, &day) != 3 ||
        v[4] != '-' || v[7] != '-' || m < 1 || m > 12 || day < 1 || day > 31)
        return;
    int64_t yy;
    unsigned mm, dd;
    st_civil_from_days(st_days_from_civil(y, (unsigned)m, (unsigned)day) - 1, &yy, &mm, &dd);
    if (yy < 0 || yy > 9999) return;
    snprintf(d, sizeof d, "%04d-%02u-%02u", (int)yy, mm, dd);
    store_sb_add(q, " AND +");
    store_sb_quote(q, l->st->cols[cur]);
    store_sb_addf(q, " COLLATE BINARY NOT BETWEEN '' AND '%s'", d);
}

/* INSERT INTO the page table the page's rows and one more (see top). */
static void page_fill_sql(store_sb *q, const sq_local *l, const store_local_pageq *pg, bool tally) {
    bool scan = time_kind(l->st->kinds[pg->cursor]);   /* compared through st_canon */
    store_sb_add(q, "INSERT INTO " LOCAL_PAGE " SELECT ");
    page_columns(q, l);
    store_sb_add(q, " FROM ");
    src_name(q, l);
    store_sb_add(q, tally ? " NOT INDEXED WHERE (" : " WHERE ");
    if (tally) {
        store_sb_quote(q, l->st->cols[pg->cursor]);
        store_sb_add(q, " IS NULL AND st_null_tally(");
        store_sb_quote(q, l->st->cols[pg->cursor]);
        store_sb_add(q, ")) OR (");
    }
    store_sb_quote(q, l->st->cols[pg->cursor]);
    store_sb_add(q, " IS NOT NULL");
    if (scan && pg->since != NULL) page_prefilter(q, l, pg->cursor, pg->since);
    if (pg->after != NULL) {
        store_sb_add(q, " AND ");
        store_sb_add(q, pg->after);
    }
    store_sb_add(q, tally ? ")" : "");
    store_sb_add(q, pg->order);
    store_sb_addf(q, " LIMIT %lld", (long long)pg->limit + 1);
}

static int sq_local_page(void *impl, const store_local_pageq *pg, store_local_counts *out,
                         const char *const **last, st_error *err) {
    sq_local *l = impl;
    int64_t limit = pg->limit;
    memset(out, 0, sizeof *out);
    *last = NULL;
    /* the NULL cursors in the page's own scan where it reads the whole
     * table anyway (a cursor compared through st_canon) */
    bool tally = pg->count_null && l->tally && time_kind(l->st->kinds[pg->cursor]);
    l->nulls = 0;
    int rc = page_make(l, err);
    store_sb q = {0};
    page_fill_sql(&q, l, pg, tally);
    if (rc == ST_OK)
        rc = q.oom ? oom(err) : store_exec(l->dst, q.s, pg->np, pg->params, &out->read, err);
    store_sb_free(&q);
    out->null_counted = rc == ST_OK && tally;
    out->null_cursor = l->nulls;
    if (rc != ST_OK || out->read == 0) return rc;
    if (out->read > limit) {
        out->more = true;
        out->read = limit;
        rc = page_drop_lookahead(l, err);
        if (rc != ST_OK) return rc;
    }
    int64_t changed = 0;
    rc = page_new(l, &out->inserted, err);
    if (rc == ST_OK) rc = page_upsert(l, &changed, err);
    if (rc == ST_OK) rc = page_last(l, err);
    out->updated = changed - out->inserted;
    if (rc == ST_OK) *last = (const char *const *)l->last;
    return rc;
}

/* --- Open and close --- */

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

static bool local_fits(const store *src, const store *dst, const store_table *st) {
    if (store_ops_of(src) != store_ops_of(dst)) return false;
    if (st->query != NULL || st->table == NULL) return false;
    if (st->schema != NULL && strcmp(st->schema, "main") != 0) return false;
    for (size_t i = 0; i < st->ncols; i++)
        if (st->key[i] && !raw_kind(st->kinds[i])) return false;
    return true;
}

/* Attaches the source file to the destination connection unless both are
 * one file. */
static int sq_local_open(void **out, store *dst, const config_datastore *dds,
                         const store_table *dt, store *src, const config_datastore *sds,
                         const store_table *st, st_error *err) {
    *out = NULL;
    if (!local_fits(src, dst, st))
        return st_error_set(err, ST_ENOTIMPL, "no copy inside SQLite for this pair");
    sq_local *l = calloc(1, sizeof *l);
    if (l == NULL) return oom(err);
    *l = (sq_local){.dst = dst, .src = src, .st = st, .dt = dt};
    for (size_t i = 0; i < st->ncols; i++) l->nkeys += st->key[i];
    char a[PATH_MAX], b[PATH_MAX];
    const char *src_path = realpath(sds->path, a);
    bool same = src_path != NULL && realpath(dds->path, b) != NULL && strcmp(a, b) == 0;
    int rc = ST_OK;
    if (!same) {
        store_sb uri = {0};
        local_uri(&uri, src_path ? src_path : sds->path);
        const char *params[1] = {uri.s};
        rc = uri.oom ? oom(err)
                     : store_exec(dst, "ATTACH DATABASE ?1 AS " LOCAL_SCHEMA, 1, params, NULL, err);
        store_sb_free(&uri);
    }
    if (rc != ST_OK) {
        free(l);
        return rc;
    }
    l->attached = !same;
    st_error ignore;   /* without the function the caller counts the NULL cursors apart */
    l->tally = store_sqlite_null_tally(dst, &l->nulls, &ignore) == ST_OK;
    *out = l;
    return ST_OK;
}

static const char *sq_local_source_schema(const void *impl) {
    return ((const sq_local *)impl)->attached ? LOCAL_SCHEMA : "main";
}

static const char *sq_local_how(const void *impl) {
    return ((const sq_local *)impl)->attached ? "SQLite (source attached)" : "SQLite (one file)";
}

static void sq_local_close(void *impl) {
    sq_local *l = impl;
    if (l == NULL) return;
    st_error ignore;
    if (l->page_made) store_exec(l->dst, "DROP TABLE IF EXISTS " LOCAL_PAGE, 0, NULL, NULL, &ignore);
    if (l->attached) store_exec(l->dst, "DETACH DATABASE " LOCAL_SCHEMA, 0, NULL, NULL, &ignore);
    if (l->tally) store_sqlite_null_tally(l->dst, NULL, &ignore);
    free_row(l->last, l->st->ncols);
    free(l);
}

const struct store_local_ops store_sqlite_local_ops = {
    .open = sq_local_open,
    .source_schema = sq_local_source_schema,
    .how = sq_local_how,
    .merge = sq_local_merge,
    .page = sq_local_page,
    .close = sq_local_close,
};
