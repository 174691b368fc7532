/*
 * sync_diff — the "dry run" sink behind `synctool diff`: what a hash run
 * would change, counted and sampled, with nothing written.
 *
 * A run with opts->diff set executes the hash strategy exactly as a real
 * run does (same digests, same recursion, same leaf merges: one engine),
 * but every change the merge decides goes here instead of into the write
 * batch: counted per kind (insert, update, delete), and the first `limit`
 * of each kind kept with its key ("id=17") and, for an update, the
 * destination names of the columns that differ (a compare: false column
 * among them when it differs too: the update would write it; a row that
 * differs only there is no update, sync_rows_equal). No transaction is opened
 * on the destination, no fencing token is checked or written, no state is
 * touched (the caller records nothing).
 */
#include "sync_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "id=17, region=eu" of the row's key columns (source values). */
static char *key_text(const sync_ctx *c, const char *const *row) {
    store_sb b = {0};
    const char *sep = "";
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb_addf(&b, "%s%s=%s", sep, c->dcols[i], row[i] ? row[i] : "NULL");
        sep = ", ";
    }
    if (b.oom) {
        store_sb_free(&b);
        return NULL;
    }
    return b.s ? b.s : strdup("");
}

/* "total, note": destination names of the columns whose values differ. */
static char *diff_columns(const sync_ctx *c, const char *const *s, const char *const *d) {
    store_sb b = {0};
    const char *sep = "";
    for (size_t i = 0; i < c->ncols; i++) {
        bool same = (s[i] == NULL) == (d[i] == NULL) && (s[i] == NULL || strcmp(s[i], d[i]) == 0);
        if (same) continue;
        store_sb_addf(&b, "%s%s", sep, c->dcols[i]);
        sep = ", ";
    }
    if (b.oom) {
        store_sb_free(&b);
        return NULL;
    }
    return b.s ? b.s : strdup("");
}

static int keep(sync_ctx *c, sync_diff_list *l, size_t limit, const char *const *row,
                const char *const *other) {
    if (l->n >= limit) return ST_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        if (cap > limit) cap = limit;
        sync_diff_entry *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    sync_diff_entry *e = &l->v[l->n];
    e->key = key_text(c, row);
    e->columns = other ? diff_columns(c, row, other) : NULL;
    if (e->key == NULL || (other && e->columns == NULL)) {
        free(e->key);
        free(e->columns);
        return st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    l->n++;
    return ST_OK;
}

int sync_diff_record(sync_ctx *c, store_op op, const char *const *s, const char *const *d) {
    sync_diff *df = c->o->diff;
    switch (op) {
    case STORE_INSERT: df->inserts++; return keep(c, &df->ins, df->limit, s, NULL);
    case STORE_DELETE: df->deletes++; return keep(c, &df->del, df->limit, d, NULL);
    default: df->updates++; return keep(c, &df->upd, df->limit, s, d);
    }
}

static void list_free(sync_diff_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].columns);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

void sync_diff_free(sync_diff *d) {
    if (d == NULL) return;
    list_free(&d->ins);
    list_free(&d->upd);
    list_free(&d->del);
}
