/*
 * sync_local — the full strategy between two SQLite tables, run by SQLite
 * itself: no value leaves the engine, none becomes canonical text.
 *
 * Canonical text (store.h) exists so that two engines can compare values.
 * Between two SQLite tables there is nothing to translate: the destination
 * connection ATTACHes the source file (or reads the source table in place
 * when both are in one file) and, in one transaction with the fencing and
 * cancel checks of a batch (sync_batch.c), runs
 *   DELETE FROM dst WHERE NOT EXISTS (the key in src)
 *   UPDATE dst SET ... FROM src WHERE key = key AND (c IS NOT c OR ...)
 *   INSERT INTO dst SELECT ... FROM src WHERE NOT EXISTS (the key in dst)
 * (the INSERT without the NOT EXISTS when dst was empty), counting with
 * changes(). Values are copied as SQLite holds them, so the destination's
 * affinity stores numbers as numbers; booleans, dates and timestamps go
 * through st_store() (store_sqlite.c), which writes them as a sync from any
 * engine would (0/1, canonical UTC text), whatever spelling the source
 * uses. Comparisons apply the columns' affinities, so '5.00' in a TEXT
 * source column equals 5 in a NUMERIC one, and an unchanged row is never
 * rewritten or counted.
 *
 * Used when both datastores are SQLite, the source is a table in its
 * file's main schema, and every key column is an integer, decimal, float
 * or text (keys compare raw). Anything else takes the streaming merge
 * (sync_full.c). The whole table is one transaction: SQLite has one writer
 * per file anyway, and a failure leaves the destination as it was.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_SCHEMA "synctool_src"

static bool raw_kind(store_kind k) {
    return k == STORE_K_INT || k == STORE_K_NUMERIC || k == STORE_K_FLOAT || k == STORE_K_TEXT;
}

bool sync_local_applies(const sync_ctx *c) {
    const config_pipeline *p = c->o->pipeline;
    const config_datastore *sd = config_datastore_find(c->o->cfg, p->source.datastore);
    const config_datastore *dd = config_datastore_find(c->o->cfg, p->destination.datastore);
    if (sd == NULL || dd == NULL || sd->type != CONFIG_DS_SQLITE || dd->type != CONFIG_DS_SQLITE)
        return false;
    if (p->source.query != NULL || p->source.table == NULL) return false;
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

static int local_update(sync_ctx *c, bool attached, int64_t *n) {
    *n = 0;
    if (c->nkeys == c->ncols) return ST_OK;
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
        if (c->key[i]) continue;
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

static int local_insert(sync_ctx *c, bool attached, bool empty, int64_t *n) {
    store_sb q = {0};
    store_sb_add(&q, "INSERT INTO ");
    dst_name(&q, c);
    store_sb_add(&q, " (");
    for (size_t i = 0; i < c->ncols; i++) {
        if (i) store_sb_add(&q, ", ");
        store_sb_quote(&q, c->dcols[i]);
    }
    store_sb_add(&q, ") SELECT ");
    for (size_t i = 0; i < c->ncols; i++) {
        if (i) store_sb_add(&q, ", ");
        src_value(&q, c, i, "s");
    }
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

static int local_transaction(sync_ctx *c, bool attached) {
    bool empty = false;
    int64_t del = 0, upd = 0, ins = 0;
    int rc = store_begin(c->dst, c->err);
    if (rc == ST_OK && c->o->fence_key != NULL)
        rc = store_fence_check(c->dst, c->o->fence_key, c->o->fence_token, NULL, c->err);
    if (rc == ST_OK) rc = local_counts(c, attached, &empty);
    if (rc == ST_OK && !empty) rc = local_delete(c, attached, &del);
    if (rc == ST_OK && !empty) rc = local_update(c, attached, &upd);
    if (rc == ST_OK) rc = local_insert(c, attached, empty, &ins);
    if (rc == ST_OK && c->o->cancel != NULL && *c->o->cancel)
        rc = st_error_set(c->err, ST_ELOST, "lost pipeline lock");
    if (rc == ST_OK && c->o->interrupt != NULL && *c->o->interrupt)
        rc = st_error_set(c->err, ST_EINTR, "interrupted");   /* one batch: the table */
    if (rc == ST_OK) rc = store_commit(c->dst, c->err);
    if (rc != ST_OK) {
        store_rollback(c->dst);
        return rc;
    }
    c->stats->rows_deleted += del;
    c->stats->rows_updated += upd;
    c->stats->rows_inserted += ins;
    sync_progress_update(&c->prog, c->stats, true);
    return ST_OK;
}

int sync_full_local(sync_ctx *c) {
    const config_pipeline *p = c->o->pipeline;
    const config_datastore *sd = config_datastore_find(c->o->cfg, p->source.datastore);
    const config_datastore *dd = config_datastore_find(c->o->cfg, p->destination.datastore);
    char a[PATH_MAX], b[PATH_MAX];
    bool same = realpath(sd->path, a) != NULL && realpath(dd->path, b) != NULL && strcmp(a, b) == 0;
    int rc = ST_OK;
    if (!same) {
        const char *params[1] = {sd->path};
        rc = store_exec(c->dst, "ATTACH DATABASE ?1 AS " LOCAL_SCHEMA, 1, params, NULL, c->err);
        if (rc != ST_OK) return rc;
    }
    rc = local_transaction(c, !same);
    if (!same) {
        st_error ignore;
        store_exec(c->dst, "DETACH DATABASE " LOCAL_SCHEMA, 0, NULL, NULL, &ignore);
    }
    log_debug(p->name, c->o->strategy->name, "full: ran inside SQLite (%s)",
              same ? "one file" : "source attached");
    return rc;
}
