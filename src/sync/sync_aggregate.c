/*
 * sync_aggregate — the strategies of an aggregate pipeline (`aggregate:
 * {group_by: [...]}`, config_aggregate.c): one destination row per group.
 *
 * The grouped query is a derived table like any other (store_table.
 * aggregate, store_sb_from: "(SELECT keys, aggregates FROM t WHERE filter
 * GROUP BY keys) AS synctool_src"), so `full` (every group, vanished ones
 * deleted) and `hash` (group rows compared by range digests) are the
 * row-level strategies reading it unchanged. What is particular lives here:
 *
 * The group map. A side table beside the destination ("synctool_groups_"
 * + the destination table, sync_agg_map_name; made by `ddl apply`,
 * sync_agg_ddl) holds, per source row in the filter, its primary key
 * (canonical text joined as a watermark is: "42", "7|a\|b") and the group
 * it counts in. It answers the one question delta cannot ask the source:
 * which group did a changed row count in before it changed.
 *
 * delta follows the source rows' cursor (sync_delta_pages: the same
 * keyset pages, watermark, lookback and late-commit cap as row-level
 * delta) over a second view of the source (agg_rows: the unfiltered
 * table's primary key, cursor, group expressions and whether the row
 * passes source.where). Per page: the rows' old groups are read from the
 * map, their new groups are their current group values (rows outside the
 * filter have none), the union is recomputed on the source in queries of
 * AGG_GROUPS_PER_QUERY groups (the grouped query with a condition on the
 * groups' expressions), and in one destination transaction the groups
 * found are upserted, the groups that came back empty deleted and the
 * map brought up to date with the page (upsert, or delete for a row
 * outside the filter). The watermark is saved after that commit. A row
 * that moves after it was read has a later cursor and is read again.
 *
 * Deleted source rows have no cursor: delta does not see them (their
 * groups keep counting them) until `full` or `hash`, as for row-level
 * pipelines. full and hash therefore rebuild the map first (one
 * transaction: every map row replaced by the source's current primary key
 * -> group), so the map never names a group older than the groups the
 * destination holds; read before the groups, a row that moves meanwhile
 * has a cursor above any watermark delta holds and is followed by it.
 * A dry run (`diff`) writes nothing, the map included.
 *
 * Engine differences stay in the drivers: the map is written with
 * store_apply (their upsert), created with their DDL types and table
 * options, and groups are compared with their order_term/param_cast (the
 * same comparisons delta's keyset uses).
 */
#include "sync_int.h"
#include "../log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGG_GROUPS_PER_QUERY 15000 /* at most; fewer with many group keys */
#define AGG_PARAMS_PER_QUERY 30000 /* below SQLite's 32766 host parameters */
#define AGG_KEYS_PER_QUERY 1000
#define AGG_MAX_KEYS 64            /* primary key columns, group keys */
#define AGG_MAP_KEY "synctool_key"
#define AGG_IN_COL "synctool_in"

/* The source rows' columns: the primary key, the cursor, the groups, the
 * filter flag. */
#define AGG_MAX_RCOLS (2 * AGG_MAX_KEYS + 2)

struct sync_agg {
    /* strings this struct owns: per key column its name and type, per group
     * its name and expression, the cursor's type, the filter flag */
    char *own[4 * AGG_MAX_KEYS + 8];
    size_t nown;
    /* the source rows: pk[0..npk), [cursor], groups[gfirst..gfirst+ng), in */
    const char *rcols[AGG_MAX_RCOLS], *rexprs[AGG_MAX_RCOLS], *rtypes[AGG_MAX_RCOLS];
    store_kind rkinds[AGG_MAX_RCOLS];
    bool rkey[AGG_MAX_RCOLS];
    size_t rn, npk, gfirst, ng, in_col;
    size_t gidx[AGG_MAX_KEYS];   /* config column of group j */
    /* the map table */
    char map_name[80];
    const char *mcols[AGG_MAX_KEYS + 1], *mtypes[AGG_MAX_KEYS + 1];
    store_kind mkinds[AGG_MAX_KEYS + 1];
    bool mkey[AGG_MAX_KEYS + 1];
    store_table mt;
};

static const char *own(sync_agg *a, char *s) {
    if (s != NULL && a->nown < sizeof a->own / sizeof a->own[0]) a->own[a->nown++] = s;
    return s;
}

void sync_agg_free(sync_agg *a) {
    if (a == NULL) return;
    for (size_t i = 0; i < a->nown; i++) free(a->own[i]);
    free(a);
}

void sync_agg_map_name(const config_pipeline *p, char *buf, size_t n) {
    const char *t = p->destination.table ? p->destination.table : "";
    if (strlen(t) <= 40) {
        snprintf(buf, n, "synctool_groups_%s", t);
        return;
    }
    char hex[33];
    store_md5_hex(t, strlen(t), hex);
    snprintf(buf, n, "synctool_groups_%.32s_%.8s", t, hex);
}

/* --- Set-up: the source's primary key and cursor, the map table --- */

static int add_rcol(sync_agg *a, const char *name, const char *expr, const char *type, bool key) {
    if (a->rn >= sizeof a->rcols / sizeof a->rcols[0]) return ST_EINVAL;
    a->rcols[a->rn] = name;
    a->rexprs[a->rn] = expr;
    a->rtypes[a->rn] = type;
    a->rkinds[a->rn] = store_kind_of(type);
    a->rkey[a->rn] = key;
    a->rn++;
    return ST_OK;
}

/* The config type of source column `name` (describe + config_type). */
static const char *source_type(sync_agg *a, store *s, const store_column_info *info, size_t n,
                               const char *name) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(info[i].name, name) != 0) continue;
        char buf[128];
        store_config_type(s, info[i].type, buf, sizeof buf);
        return own(a, strdup(buf));
    }
    return NULL;
}

static int rows_pk(sync_ctx *c, sync_agg *a, const store_column_info *info, size_t n) {
    const config_endpoint *e = &c->o->pipeline->source;
    store_column_info *pk = NULL;
    size_t npk = 0;
    int rc = store_primary_key(c->src, e->schema, e->table, &pk, &npk, c->err);
    if (rc == ST_OK && npk > AGG_MAX_KEYS)
        rc = st_error_set(c->err, ST_EINVAL, "datastore '%s': the primary key of source table "
                          "%s.%s has %zu columns; an aggregate pipeline takes at most %d",
                          store_name(c->src), config_schema_shown(e), e->table, npk,
                          AGG_MAX_KEYS);
    if (rc == ST_OK && npk == 0)
        rc = st_error_set(c->err, ST_EINVAL, "datastore '%s': source table %s.%s has no "
                          "primary key: an aggregate pipeline maps each source row to its group "
                          "by it (add one)", store_name(c->src), config_schema_shown(e), e->table);
    for (size_t i = 0; rc == ST_OK && i < npk; i++) {
        const char *name = own(a, strdup(pk[i].name));
        const char *type = source_type(a, c->src, info, n, pk[i].name);
        rc = name && type ? add_rcol(a, name, NULL, type, true)
                          : st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    a->npk = npk;
    free(pk);
    return rc;
}

/* A delta's cursor, unless it is part of the key already. */
static int rows_cursor(sync_ctx *c, sync_agg *a, const store_column_info *info, size_t n) {
    const char *cur = c->o->strategy->cursor;
    if (c->o->strategy->type != CONFIG_STRATEGY_DELTA || cur == NULL) return ST_OK;
    for (size_t i = 0; i < a->npk; i++)
        if (strcmp(a->rcols[i], cur) == 0) return ST_OK;
    const char *type = source_type(a, c->src, info, n, cur);
    if (type == NULL)
        return st_error_set(c->err, ST_ENOTFOUND, "datastore '%s': source table %s.%s has no "
                            "column '%s' (the cursor of strategy '%s')", store_name(c->src),
                            config_schema_shown(&c->o->pipeline->source),
                            c->o->pipeline->source.table, cur, c->o->strategy->name);
    return add_rcol(a, cur, NULL, type, false);
}

/* Each group's expression (a plain key column: its quoted name), then
 * whether the row passes source.where. */
static int rows_groups(sync_ctx *c, sync_agg *a) {
    const config_pipeline *p = c->o->pipeline;
    a->gfirst = a->rn;
    size_t ng = 0;
    for (size_t i = 0; i < p->ncolumns; i++) ng += p->columns[i].key;
    if (ng > AGG_MAX_KEYS)
        return st_error_set(c->err, ST_EINVAL, "pipeline '%s' groups by %zu keys; an aggregate "
                            "pipeline takes at most %d", p->name, ng, AGG_MAX_KEYS);
    int rc = ST_OK;
    for (size_t i = 0; rc == ST_OK && i < p->ncolumns; i++) {
        if (!p->columns[i].key) continue;
        store_sb e = {0};
        if (p->columns[i].expr) store_sb_add(&e, p->columns[i].expr);
        else store_sb_quote(&e, p->columns[i].name);
        char name[32];
        snprintf(name, sizeof name, "synctool_g%zu", a->ng);
        a->gidx[a->ng++] = i;
        rc = e.oom ? ST_ENOMEM : add_rcol(a, own(a, strdup(name)), own(a, e.s), p->columns[i].type,
                                          false);
    }
    store_sb in = {0};
    if (p->source.where) store_sb_addf(&in, "CASE WHEN (%s) THEN 1 ELSE 0 END", p->source.where);
    else store_sb_add(&in, "1");
    a->in_col = a->rn;
    if (rc == ST_OK) rc = in.oom ? ST_ENOMEM : add_rcol(a, AGG_IN_COL, own(a, in.s), "integer", false);
    else store_sb_free(&in);
    return rc == ST_OK ? ST_OK : st_error_set(c->err, ST_ENOMEM, "out of memory");
}

static void map_table(sync_ctx *c, sync_agg *a) {
    sync_agg_map_name(c->o->pipeline, a->map_name, sizeof a->map_name);
    a->mcols[0] = AGG_MAP_KEY;
    a->mtypes[0] = "text";
    a->mkinds[0] = STORE_K_TEXT;
    a->mkey[0] = true;
    for (size_t j = 0; j < a->ng; j++) {
        a->mcols[j + 1] = c->dcols[a->gidx[j]];
        a->mtypes[j + 1] = c->types[a->gidx[j]];
        a->mkinds[j + 1] = c->kinds[a->gidx[j]];
        a->mkey[j + 1] = false;
    }
    a->mt = (store_table){.datastore = c->dt.datastore, .schema = c->dt.schema,
                          .table = a->map_name, .ncols = a->ng + 1, .cols = a->mcols,
                          .types = a->mtypes, .kinds = a->mkinds, .key = a->mkey};
}

static int map_exists(sync_ctx *c, sync_agg *a) {
    store_column_info *info = NULL;
    size_t n = 0;
    int rc = store_describe(c->dst, a->mt.schema, a->mt.table, &info, &n, c->err);
    free(info);
    if (rc == ST_ENOTFOUND)
        return st_error_set(c->err, ST_ENOTFOUND, "datastore '%s': the group map %s.%s of "
                            "aggregate pipeline '%s' does not exist: run `synctool ddl apply %s`",
                            store_name(c->dst), store_schema_shown(c->dst, a->mt.schema),
                            a->mt.table, c->o->pipeline->name, c->o->pipeline->name);
    return rc;
}

int sync_agg_open(sync_ctx *c) {
    if (c->o->pipeline->aggregate == NULL) return ST_OK;
    sync_agg *a = calloc(1, sizeof *a);
    if (a == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    c->agg = a;
    const config_endpoint *e = &c->o->pipeline->source;
    store_column_info *info = NULL;
    size_t n = 0;
    int rc = store_describe(c->src, e->schema, e->table, &info, &n, c->err);
    if (rc == ST_OK) rc = rows_pk(c, a, info, n);
    if (rc == ST_OK) rc = rows_cursor(c, a, info, n);
    if (rc == ST_OK) rc = rows_groups(c, a);
    free(info);
    map_table(c, a);
    if (rc == ST_OK) rc = map_exists(c, a);
    return rc;
}

/* c seen through the source rows (filtered: only those in source.where):
 * what sync_delta_pages and the SQL builders read. */
static void rows_view(const sync_ctx *c, const sync_agg *a, sync_ctx *r, bool filtered) {
    *r = *c;
    memset(&r->batch, 0, sizeof r->batch);
    r->ncols = a->rn;
    r->nkeys = a->npk;
    r->scols = r->dcols = (const char **)a->rcols;
    r->exprs = (const char **)a->rexprs;
    r->types = (const char **)a->rtypes;
    r->kinds = (store_kind *)a->rkinds;
    r->key = (bool *)a->rkey;
    r->ignored = NULL;
    const config_endpoint *e = &c->o->pipeline->source;
    r->st = (store_table){.datastore = e->datastore, .schema = e->schema, .table = e->table,
                          .where = filtered ? e->where : NULL, .exprs = a->rexprs,
                          .ncols = a->rn, .cols = a->rcols, .types = a->rtypes,
                          .kinds = a->rkinds, .key = a->rkey};
}

/* A source row's map key: its primary key values as a watermark joins them. */
static char *row_key(const sync_agg *a, const char *const *row) {
    store_sb b = {0};
    store_sb_add(&b, "");
    for (size_t i = 0; i < a->npk; i++) {
        if (i) store_sb_add(&b, "|");
        store_sb_rowvalue(&b, row[i]);
    }
    if (b.oom) store_sb_free(&b);
    return b.s;
}

/* --- delta: the groups a page of source rows touches --- */

typedef struct agg_groups {
    sync_row **g;     /* ng values each */
    size_t n, cap;
} agg_groups;

static int groups_add(agg_groups *s, const char *const *vals, size_t ng) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        sync_row **g = realloc(s->g, cap * sizeof *g);
        if (g == NULL) return ST_ENOMEM;
        s->g = g;
        s->cap = cap;
    }
    if ((s->g[s->n] = sync_row_copy(vals, ng)) == NULL) return ST_ENOMEM;
    s->n++;
    return ST_OK;
}

static void groups_free(agg_groups *s) {
    for (size_t i = 0; i < s->n; i++) free(s->g[i]);
    free(s->g);
    memset(s, 0, sizeof *s);
}

static int vals_cmp(const char *const *x, const char *const *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (x[i] == NULL || y[i] == NULL) {
            if (x[i] != y[i]) return x[i] == NULL ? -1 : 1;
            continue;
        }
        int r = strcmp(x[i], y[i]);
        if (r != 0) return r;
    }
    return 0;
}

static int group_cmp(const void *x, const void *y) {
    const sync_row *a = *(sync_row *const *)x, *b = *(sync_row *const *)y;
    return vals_cmp(a->v, b->v, a->n);
}

static void groups_unique(agg_groups *s) {
    if (s->n < 2) return;
    qsort(s->g, s->n, sizeof *s->g, group_cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (group_cmp(&s->g[i], &s->g[k - 1]) == 0) free(s->g[i]);
        else s->g[k++] = s->g[i];
    }
    s->n = k;
}

/* The old groups of keys[from..to) from the map. */
static int map_old_groups(sync_ctx *c, sync_agg *a, char **keys, size_t from, size_t to,
                          agg_groups *out) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT ");
    for (size_t j = 0; j < a->ng; j++) {
        store_sb col = {0};
        store_sb_quote(&col, a->mcols[j + 1]);
        if (j) store_sb_add(&q, ", ");
        store_sb_canon(&q, c->dst, a->mkinds[j + 1], col.oom ? "" : col.s);
        store_sb_free(&col);
    }
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, c->dst, &a->mt);
    store_sb_add(&q, " WHERE ");
    store_sb_quote(&q, AGG_MAP_KEY);
    store_sb_add(&q, " IN (");
    for (size_t i = from; i < to; i++) {
        char p[16];
        snprintf(p, sizeof p, "%c%zu", store_param_prefix(c->dst), i - from + 1);
        if (i > from) store_sb_add(&q, ", ");
        store_sb_param_cast(&q, c->dst, p, STORE_K_TEXT, "text");
    }
    store_sb_add(&q, ")");
    sync_list l;
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(&l, c->dst, q.s, (int)(to - from),
                                    (const char *const *)keys + from, c->err);
    store_sb_free(&q);
    for (size_t i = 0; rc == ST_OK && i < l.n; i++)
        if (groups_add(out, l.rows[i]->v, a->ng) != ST_OK)
            rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    if (rc == ST_OK) sync_list_free(&l);
    return rc;
}

static bool group_has_null(const sync_agg *a, const agg_groups *g, size_t i) {
    for (size_t j = 0; j < a->ng; j++)
        if (g->g[i]->v[j] == NULL) return true;
    return false;
}

/* Group key j's expression on the source rows, as compared. */
static void group_term(store_sb *b, const sync_ctx *c, const sync_agg *a, size_t j) {
    size_t col = a->gfirst + j;
    store_sb e = {0};
    store_sb_addf(&e, "(%s)", a->rexprs[col]);
    store_sb_order_term(b, c->src, e.oom ? "" : e.s, a->rkinds[col]);
    store_sb_free(&e);
}

/* The next parameter, bound to v, cast to group key j's type. */
static void group_param(store_sb *b, const sync_ctx *c, const sync_agg *a, size_t j,
                        const char *v, const char **p, int *np) {
    char name[16];
    size_t col = a->gfirst + j;
    p[*np] = v;
    snprintf(name, sizeof name, "%c%d", store_param_prefix(c->src), ++*np);
    store_sb_param_cast(b, c->src, name, a->rkinds[col], a->rtypes[col]);
}

/* "(g0 = $1 AND g1 IS NULL)": a group with a NULL key (never in a row IN). */
static void group_null_term(store_sb *b, const sync_ctx *c, const sync_agg *a,
                            const agg_groups *g, size_t i, const char **p, int *np) {
    store_sb_add(b, "(");
    for (size_t j = 0; j < a->ng; j++) {
        if (j) store_sb_add(b, " AND ");
        group_term(b, c, a, j);
        if (g->g[i]->v[j] == NULL) {
            store_sb_add(b, " IS NULL");
        } else {
            store_sb_add(b, " = ");
            group_param(b, c, a, j, g->g[i]->v[j], p, np);
        }
    }
    store_sb_add(b, ")");
}

/* The source rows of groups g[from..to), params in p:
 * "(g0, g1) IN (VALUES ($1, $2), ...)" — a set the engine hashes or indexes
 * (mysql: a sorted row list), one probe per row instead of one comparison
 * per group: at 2M source rows an OR of 500 groups made each query scan
 * with 500 comparisons a row — plus "OR (g0 IS NULL AND ...)" per group
 * with a NULL key. */
static void group_cond(store_sb *b, const sync_ctx *c, const sync_agg *a, const agg_groups *g,
                       size_t from, size_t to, const char **p, int *np) {
    size_t nin = 0, nnull = 0;
    for (size_t i = from; i < to; i++) {
        if (!group_has_null(a, g, i)) continue;
        store_sb_add(b, nnull++ ? " OR " : "");
        group_null_term(b, c, a, g, i, p, np);
    }
    for (size_t i = from; i < to; i++) {
        if (group_has_null(a, g, i)) continue;
        if (nin++ == 0) {
            store_sb_add(b, nnull ? " OR (" : "(");
            for (size_t j = 0; j < a->ng; j++) {
                if (j) store_sb_add(b, ", ");
                group_term(b, c, a, j);
            }
            store_sb_addf(b, ") IN (%s", store_row_list(c->src));
        } else {
            store_sb_add(b, ", ");
        }
        store_sb_add(b, "(");
        for (size_t j = 0; j < a->ng; j++) {
            if (j) store_sb_add(b, ", ");
            group_param(b, c, a, j, g->g[i]->v[j], p, np);
        }
        store_sb_add(b, ")");
    }
    if (nin) store_sb_add(b, ")");
    if (nin + nnull == 0) store_sb_add(b, "1 = 0");
}

/* The destination changes of one page, built before its transaction. */
typedef struct agg_changes {
    store_change *gc, *mc;        /* groups, map */
    size_t ngc, nmc;
    sync_list *found;             /* recomputed groups, one list per query */
    size_t nfound, capfound;
    const char **del;             /* key values of the groups that came back empty */
    const char **mvals;           /* map rows: ng + 1 values each */
    char **keys;
} agg_changes;

/* Recomputes groups g[from..to) and records upserts and deletes. */
static int recompute(sync_ctx *c, sync_agg *a, const agg_groups *g, size_t from, size_t to,
                     agg_changes *ch) {
    const char **p = calloc((to - from) * a->ng + 1, sizeof *p);
    if (p != NULL && ch->nfound == ch->capfound) {
        size_t cap = ch->capfound ? ch->capfound * 2 : 8;
        sync_list *f = realloc(ch->found, cap * sizeof *f);
        if (f != NULL) {
            ch->found = f;
            ch->capfound = cap;
        }
    }
    if (p == NULL || ch->nfound == ch->capfound) {
        free(p);
        return st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    int np = 0;
    store_sb cond = {0}, q = {0};
    group_cond(&cond, c, a, g, from, to, p, &np);
    sync_ctx v = *c;
    v.st.group_where = cond.oom ? "" : cond.s;
    sync_sql_select(&q, &v, true);
    sync_list *l = &ch->found[ch->nfound];
    int rc = q.oom || cond.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                               : sync_list_load(l, c->src, q.s, np, p, c->err);
    store_sb_free(&q);
    store_sb_free(&cond);
    free(p);
    if (rc != ST_OK) return rc;
    ch->nfound++;
    for (size_t i = 0; i < l->n; i++)
        ch->gc[ch->ngc++] = (store_change){STORE_UPSERT, l->rows[i]->v};
    for (size_t i = from; i < to; i++) {   /* a group not found came back empty */
        bool hit = false;
        for (size_t k = 0; k < l->n && !hit; k++) {
            const char *kv[AGG_MAX_KEYS];
            for (size_t j = 0; j < a->ng; j++) kv[j] = l->rows[k]->v[a->gidx[j]];
            hit = vals_cmp(kv, g->g[i]->v, a->ng) == 0;
        }
        if (hit) continue;
        const char **vals = &ch->del[i * c->ncols];
        for (size_t j = 0; j < a->ng; j++) vals[a->gidx[j]] = g->g[i]->v[j];
        ch->gc[ch->ngc++] = (store_change){STORE_DELETE, vals};
    }
    return ST_OK;
}

/* The map rows of the page: upsert (key, group), or delete a row outside
 * the filter. */
static void map_changes(const sync_agg *a, const sync_list *rows, agg_changes *ch) {
    for (size_t i = 0; i < rows->n; i++) {
        const char *const *r = rows->rows[i]->v;
        const char **m = &ch->mvals[i * (a->ng + 1)];
        m[0] = ch->keys[i];
        bool in = r[a->in_col] != NULL && strcmp(r[a->in_col], "1") == 0;
        for (size_t j = 0; j < a->ng; j++) m[j + 1] = r[a->gfirst + j];
        ch->mc[ch->nmc++] = (store_change){in ? STORE_UPSERT : STORE_DELETE, m};
    }
}

static void changes_free(agg_changes *ch, size_t nrows) {
    for (size_t i = 0; i < ch->nfound; i++) sync_list_free(&ch->found[i]);
    free(ch->found);
    for (size_t i = 0; ch->keys && i < nrows; i++) free(ch->keys[i]);
    free(ch->keys);
    free(ch->gc);
    free(ch->mc);
    free(ch->del);
    free(ch->mvals);
}

typedef struct agg_txn {
    sync_agg *a;
    agg_changes *ch;
} agg_txn;

static int page_txn(sync_ctx *c, void *arg, store_counts *cnt) {
    agg_txn *t = arg;
    store_counts mcnt = {0};
    int rc = t->ch->ngc ? store_apply(c->dst, &c->dt, t->ch->gc, t->ch->ngc, cnt, c->err) : ST_OK;
    if (rc == ST_OK && t->ch->nmc)
        rc = store_apply(c->dst, &t->a->mt, t->ch->mc, t->ch->nmc, &mcnt, c->err);
    return rc;
}

/* The groups of a page of source rows: old (map) and new, recomputed and
 * written with the map in one destination transaction. */
static int page_apply(sync_ctx *c, sync_agg *a, const sync_list *rows) {
    agg_groups g = {0};
    agg_changes ch = {0};
    int rc = ST_OK;
    ch.keys = calloc(rows->n, sizeof *ch.keys);
    ch.mc = calloc(rows->n, sizeof *ch.mc);
    ch.mvals = calloc(rows->n * (a->ng + 1), sizeof *ch.mvals);
    if (!ch.keys || !ch.mc || !ch.mvals) rc = ST_ENOMEM;
    for (size_t i = 0; rc == ST_OK && i < rows->n; i++) {
        const char *const *r = rows->rows[i]->v;
        if ((ch.keys[i] = row_key(a, r)) == NULL) rc = ST_ENOMEM;
        else if (r[a->in_col] && strcmp(r[a->in_col], "1") == 0)
            rc = groups_add(&g, r + a->gfirst, a->ng);
    }
    if (rc != ST_OK) rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < rows->n; i += AGG_KEYS_PER_QUERY)
        rc = map_old_groups(c, a, ch.keys, i,
                            i + AGG_KEYS_PER_QUERY < rows->n ? i + AGG_KEYS_PER_QUERY : rows->n, &g);
    groups_unique(&g);
    if (rc == ST_OK) {
        ch.gc = calloc(2 * g.n + 1, sizeof *ch.gc);
        ch.del = calloc(g.n * c->ncols + 1, sizeof *ch.del);
        if (!ch.gc || !ch.del) rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    size_t per = AGG_PARAMS_PER_QUERY / a->ng < AGG_GROUPS_PER_QUERY
                     ? AGG_PARAMS_PER_QUERY / a->ng : AGG_GROUPS_PER_QUERY;
    for (size_t i = 0; rc == ST_OK && i < g.n; i += per)
        rc = recompute(c, a, &g, i, i + per < g.n ? i + per : g.n, &ch);
    if (rc == ST_OK) map_changes(a, rows, &ch);
    store_counts cnt = {0};
    agg_txn t = {a, &ch};
    if (rc == ST_OK) rc = sync_batch_txn(c, page_txn, &t, &cnt);
    if (rc == ST_OK) sync_batch_count(c, &cnt);
    if (rc == ST_OK)
        log_debug(c->o->pipeline->name, c->o->strategy->name, "aggregate: %zu source rows "
                  "touched %zu groups", rows->n, g.n);
    changes_free(&ch, rows->n);
    groups_free(&g);
    return rc;
}

typedef struct agg_delta {
    sync_ctx *c;        /* the pipeline's view: groups */
} agg_delta;

/* sync_delta_page_fn over the source rows' view r. */
static int delta_page(sync_ctx *r, int cur, const sync_wm *w, bool lookback, size_t *got,
                      bool *more, sync_wm *next, bool *nulls, void *arg) {
    (void)nulls;   /* counted after the pages (sync_delta_pages) */
    agg_delta *d = arg;
    store_sb q = {0};
    sync_sql_select(&q, r, true);
    store_sb_add(&q, " WHERE ");
    store_sb_colref(&q, r->src, &r->st, r->scols[cur]);
    store_sb_add(&q, " IS NOT NULL");
    if (w->n > 0) {
        store_sb_add(&q, " AND ");
        sync_sql_keyset(&q, r, true, cur, 1, lookback ? ">=" : ">", lookback);
    }
    sync_sql_order(&q, r, true, cur);
    store_sb_addf(&q, " LIMIT %lld", (long long)r->batch_size);
    int np = w->n == 0 ? 0 : lookback ? 1 : (int)w->n;
    sync_list rows;
    *got = 0;
    int rc = q.oom ? st_error_set(r->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(&rows, r->src, q.s, np, (const char *const *)w->v, r->err);
    store_sb_free(&q);
    if (rc != ST_OK) return rc;
    *got = rows.n;
    *more = (int64_t)rows.n >= r->batch_size;
    r->stats->rows_read += (int64_t)rows.n;
    if (rows.n > 0) rc = sync_wm_from_row(r, next, cur, rows.rows[rows.n - 1]->v);
    if (rc == ST_OK && rows.n > 0) rc = page_apply(d->c, d->c->agg, &rows);
    sync_list_free(&rows);
    return rc;
}

static int agg_delta_run(sync_ctx *c) {
    sync_ctx r;
    rows_view(c, c->agg, &r, false);
    agg_delta d = {c};
    return sync_delta_pages(&r, delta_page, &d);
}

/* --- full and hash: the map rebuilt from the source first --- */

typedef struct map_pull {
    sync_ctx *r;          /* the filtered source rows */
    store_reader *rd;
    const char *vals[AGG_MAX_KEYS + 1];
    char *key;
    int64_t n;
} map_pull;

static int map_pull_next(void *arg, const char *const **vals, st_error *err) {
    map_pull *m = arg;
    sync_agg *a = m->r->agg;
    const char *const *row;
    int nc;
    int rc = store_next(m->r->src, m->rd, &row, &nc, err);
    if (rc <= 0) return rc;
    free(m->key);
    if ((m->key = row_key(a, row)) == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    m->vals[0] = m->key;
    for (size_t j = 0; j < a->ng; j++) m->vals[j + 1] = row[a->gfirst + j];
    m->n++;
    *vals = m->vals;
    return 1;
}

static int map_rebuild_txn(sync_ctx *c, void *arg, store_counts *cnt) {
    map_pull *m = arg;
    store_sb q = {0};
    store_sb_add(&q, "DELETE FROM ");
    store_sb_from(&q, c->dst, &c->agg->mt);
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : store_exec(c->dst, q.s, 0, NULL, NULL, c->err);
    store_sb_free(&q);
    store_counts mcnt = {0};
    (void)cnt;
    if (rc == ST_OK) rc = store_apply_stream(c->dst, &c->agg->mt, STORE_INSERT, map_pull_next, m,
                                             &mcnt, c->err);
    return rc;
}

static int agg_map_rebuild(sync_ctx *c) {
    sync_ctx r;
    rows_view(c, c->agg, &r, true);
    store_sb q = {0};
    sync_sql_select(&q, &r, true);
    map_pull m = {.r = &r};
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : store_query(c->src, &m.rd, q.s, 0, NULL, c->err);
    store_sb_free(&q);
    store_counts cnt = {0};
    if (rc == ST_OK) rc = sync_batch_txn(c, map_rebuild_txn, &m, &cnt);
    if (m.rd) store_reader_close(c->src, m.rd);
    free(m.key);
    if (rc == ST_OK)
        log_debug(c->o->pipeline->name, c->o->strategy->name, "aggregate: group map %s rebuilt "
                  "from %lld source rows", c->agg->map_name, (long long)m.n);
    return rc;
}

int sync_agg_run(sync_ctx *c) {
    switch (c->o->strategy->type) {
    case CONFIG_STRATEGY_DELTA: return agg_delta_run(c);
    case CONFIG_STRATEGY_FULL: {
        int rc = agg_map_rebuild(c);
        return rc == ST_OK ? sync_full(c) : rc;
    }
    case CONFIG_STRATEGY_HASH: {
        int rc = c->o->diff != NULL ? ST_OK : agg_map_rebuild(c);
        return rc == ST_OK ? sync_hash(c) : rc;
    }
    default:
        return st_error_set(c->err, ST_EINVAL, "strategy '%s': an aggregate pipeline has no %s "
                            "strategy", c->o->strategy->name,
                            config_strategy_type_name(c->o->strategy->type));
    }
}

/* --- ddl: the map table --- */

static int ddl_map_create(store *s, const config_pipeline *p, const char *name, store_sb *plan,
                          st_error *err) {
    store_sb q = {0};
    char type[128];
    int rc = store_ddl_col_type(s, "text", true, type, sizeof type, err);
    store_sb_add(&q, "CREATE TABLE IF NOT EXISTS ");
    store_sb_quote(&q, store_schema(s, p->destination.schema));
    store_sb_add(&q, ".");
    store_sb_quote(&q, name);
    store_sb_add(&q, " (");
    store_sb_quote(&q, AGG_MAP_KEY);
    store_sb_addf(&q, " %s NOT NULL", type);
    for (size_t i = 0; rc == ST_OK && i < p->ncolumns; i++) {
        if (!p->columns[i].key) continue;
        rc = store_ddl_col_type(s, p->columns[i].type, false, type, sizeof type, err);
        store_sb_add(&q, ", ");
        store_sb_quote(&q, p->columns[i].dest_name ? p->columns[i].dest_name : p->columns[i].name);
        store_sb_addf(&q, " %s", type);
    }
    store_sb_add(&q, ", PRIMARY KEY (");
    store_sb_quote(&q, AGG_MAP_KEY);
    store_sb_add(&q, "))");
    store_sb_add(&q, store_ddl_table_options(s));
    if (rc == ST_OK && q.oom) rc = st_error_set(err, ST_ENOMEM, "out of memory");
    if (rc == ST_OK && plan) store_sb_addf(plan, "%s;\n", q.s);
    else if (rc == ST_OK) rc = store_exec(s, q.s, 0, NULL, NULL, err);
    store_sb_free(&q);
    return rc;
}

/* Whether the existing map has exactly the key and group columns. */
static bool map_fits(const config_pipeline *p, const store_column_info *info, size_t n) {
    size_t want = 1;
    bool ok = false;
    for (size_t k = 0; k < n && !ok; k++) ok = strcmp(info[k].name, AGG_MAP_KEY) == 0;
    for (size_t i = 0; ok && i < p->ncolumns; i++) {
        if (!p->columns[i].key) continue;
        const char *d = p->columns[i].dest_name ? p->columns[i].dest_name : p->columns[i].name;
        bool found = false;
        for (size_t k = 0; k < n && !found; k++) found = strcmp(info[k].name, d) == 0;
        ok = found;
        want++;
    }
    return ok && want == n;
}

int sync_agg_ddl(store *s, const config_pipeline *p, store_sb *plan, st_error *err) {
    if (p->aggregate == NULL) return ST_OK;
    char name[80];
    sync_agg_map_name(p, name, sizeof name);
    store_column_info *info = NULL;
    size_t n = 0;
    int rc = store_describe(s, p->destination.schema, name, &info, &n, err);
    bool fits = rc == ST_OK && map_fits(p, info, n);
    free(info);
    if (rc != ST_OK && rc != ST_ENOTFOUND) return rc;
    if (fits) return ST_OK;
    if (rc == ST_OK) { /* the groups changed: the next full or hash fills it again */
        store_sb q = {0};
        store_sb_add(&q, "DROP TABLE ");
        store_sb_quote(&q, store_schema(s, p->destination.schema));
        store_sb_add(&q, ".");
        store_sb_quote(&q, name);
        if (q.oom) rc = st_error_set(err, ST_ENOMEM, "out of memory");
        else if (plan) store_sb_addf(plan, "%s;\n", q.s);
        else rc = store_exec(s, q.s, 0, NULL, NULL, err);
        store_sb_free(&q);
        if (rc != ST_OK) return rc;
    }
    rc = ddl_map_create(s, p, name, plan, err);
    if (rc == ST_OK && plan == NULL)
        log_info(p->name, NULL, "ddl: created group map %s.%s.%s (run the full strategy to "
                 "fill it)", store_name(s), store_schema_shown(s, p->destination.schema), name);
    return rc;
}
