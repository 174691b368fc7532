/*
 * sync_sql — the SQL every strategy shares, built per engine.
 *
 * Selects always return canonical text (store.h) in config column order, so
 * rows from either engine compare with strcmp. Ordering and keyset
 * comparisons use the driver's order_term (raw indexed columns where the
 * engine orders them like the canonical text, COLLATE "C" for text keys on
 * PostgreSQL), and parameters are cast to the column type so PostgreSQL
 * uses the key/cursor index. Identifiers are quoted; values are always
 * parameters ($N / ?N). A keyset over several columns, (a, b) > (x, y),
 * is preceded by a >= x (a <= x for < and <=): MariaDB does not turn a row comparison into an
 * index range, so every delta page scanned and sorted the whole table
 * (2M rows MySQL -> SQLite: a delta of 167 s, 200 pages); with the bound
 * each page is a range scan on every engine.
 */
#include "sync_int.h"

#include <stdio.h>
#include <string.h>

static store *side(const sync_ctx *c, bool source) { return source ? c->src : c->dst; }
static const char *colname(const sync_ctx *c, bool source, size_t i) {
    return source ? c->scols[i] : c->dcols[i];
}

void sync_sql_select(store_sb *b, const sync_ctx *c, bool source) {
    const store *os = side(c, source);
    store_sb_add(b, "SELECT ");
    size_t n = source ? c->st.ncols : c->dt.ncols;   /* lookup columns: not in the source */
    for (size_t i = 0; i < n; i++) {
        store_sb q = {0};
        store_sb_quote(&q, colname(c, source, i));
        if (i) store_sb_add(b, ", ");
        store_sb_canon(b, os, c->kinds[i], q.oom ? "" : q.s);
        store_sb_free(&q);
    }
    store_sb_add(b, " FROM ");
    store_sb_from(b, side(c, source), source ? &c->st : &c->dt);
}

static void term(store_sb *b, const sync_ctx *c, bool source, size_t i) {
    store_sb q = {0};
    store_sb_colref(&q, side(c, source), source ? &c->st : &c->dt, colname(c, source, i));
    store_sb_order_term(b, side(c, source), q.oom ? "" : q.s, c->kinds[i]);
    store_sb_free(&q);
}

void sync_sql_order(store_sb *b, const sync_ctx *c, bool source, int cursor_col) {
    store_sb_add(b, " ORDER BY ");
    const char *sep = "";
    if (cursor_col >= 0) { term(b, c, source, (size_t)cursor_col); sep = ", "; }
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb_add(b, sep);
        term(b, c, source, i);
        sep = ", ";
    }
}

void sync_sql_keyset(store_sb *b, const sync_ctx *c, bool source, int cursor_col, int first,
                     const char *op, bool cursor_only) {
    const store *os = side(c, source);
    size_t idx[64], n = 0;
    if (cursor_col >= 0) idx[n++] = (size_t)cursor_col;
    for (size_t i = 0; i < c->ncols && n < 64 && !cursor_only; i++)
        if (c->key[i]) idx[n++] = i;
    if (n > 1) { /* the leading column's bound first: a range any planner can use */
        char p[16];
        snprintf(p, sizeof p, "%c%d", store_param_prefix(os), first);
        term(b, c, source, idx[0]);
        store_sb_add(b, op[0] == '<' ? " <= " : " >= ");
        store_sb_param_cast(b, os, p, c->kinds[idx[0]], c->types[idx[0]]);
        store_sb_add(b, " AND ");
    }
    store_sb_add(b, n > 1 ? "(" : "");
    for (size_t k = 0; k < n; k++) {
        if (k) store_sb_add(b, ", ");
        term(b, c, source, idx[k]);
    }
    store_sb_addf(b, "%s %s %s", n > 1 ? ")" : "", op, n > 1 ? "(" : "");
    for (size_t k = 0; k < n; k++) {
        char p[16];
        snprintf(p, sizeof p, "%c%d", store_param_prefix(os), first + (int)k);
        if (k) store_sb_add(b, ", ");
        store_sb_param_cast(b, os, p, c->kinds[idx[k]], c->types[idx[k]]);
    }
    store_sb_add(b, n > 1 ? ")" : "");
}

int sync_key_cmp(const sync_ctx *c, const char *const *a, const char *const *b) {
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        int r = store_key_cmp(c->kinds[i], a[i], b[i]);
        if (r != 0) return r;
    }
    return 0;
}

bool sync_rows_equal(const sync_ctx *c, const char *const *a, const char *const *b) {
    for (size_t i = 0; i < c->ncols; i++) {
        if (c->ignored != NULL && c->ignored[i]) continue;
        if ((a[i] == NULL) != (b[i] == NULL)) return false;
        if (a[i] && strcmp(a[i], b[i]) != 0) return false;
    }
    return true;
}
