/*
 * config_lookup — a pipeline's `lookups:` (issue 26 item 3): columns added to
 * every row from a table of another datastore, matched by key.
 *
 *   lookups:
 *     - name: crm                   # optional, default the table's name
 *       datastore: crm
 *       schema: public              # optional, the datastore's default
 *       table: customers
 *       key: customer_id            # the row's column (a source column)
 *       lookup_key: id              # the lookup table's column
 *       columns:
 *         - {name: segment, type: text}
 *         - {name: tier, type: integer, dest: customer_tier}
 *       required: false             # true: a key with no match fails the run
 *       cache_rows: 10000           # LRU entries; 0 = no cache
 *       cache_ttl: 5m               # an entry is asked again after this long
 *
 * Each lookup column becomes a pipeline column (config_column.lookup =
 * index + 1), appended after every source column, with its type: `ddl
 * plan/apply` create it like any other, and the strategies write it. The
 * sync side (src/sync/sync_lookup.c) reads the source columns and fills
 * these in. Checked here, each at its own line and column: the datastore
 * exists; the key names a source column of the pipeline; a lookup column's
 * destination name clashes with no other column; the source is a table
 * (a hand-written source.query cannot be keyed this way: join in the query
 * instead); no strategy is cdc (row changes are applied as they come,
 * without enrichment). Runs after the columns and strategies are parsed.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOOKUP_CACHE_ROWS 10000
#define LOOKUP_CACHE_TTL_S 300

size_t config_source_columns(const config_pipeline *p) {
    size_t n = 0;
    while (n < p->ncolumns && p->columns[n].lookup == 0) n++;
    return n;
}

const char *config_lookup_schema_shown(const config_lookup *lk) {
    return lk->schema_hidden ? CONFIG_HIDDEN : lk->schema ? lk->schema : "-";
}

/* `key` must name a source column of the pipeline (the first nsrc). */
static void lookup_key(config_loader *ld, const config_node *m, const char *path,
                       const config_pipeline *p, size_t nsrc, const config_lookup *lk) {
    if (lk->key == NULL || p->ncolumns == 0) return;
    for (size_t i = 0; i < nsrc; i++)
        if (p->columns[i].name && strcmp(p->columns[i].name, lk->key) == 0) return;
    const config_node *v = config_map_get(m, "key");
    config_problem_add(ld, v->line, v->col, "%s.key: \"%s\" is not a column of the pipeline "
                       "(the key is the row's column matched with lookup_key; add it to "
                       "columns)", path, lk->key);
}

/* A lookup column's destination name must differ from every other
 * column's (source columns and earlier lookup columns). */
static void lookup_clash(config_loader *ld, const config_pipeline *p, size_t at,
                         const config_node *item, const char *path) {
    const config_column *c = &p->columns[at];
    if (c->dest_name == NULL) return;
    for (size_t j = 0; j < at; j++) {
        const config_column *o = &p->columns[j];
        if (o->dest_name == NULL || strcmp(o->dest_name, c->dest_name) != 0) continue;
        const config_node *n = config_map_get(item, "dest");
        if (n == NULL) n = config_map_get(item, "name");
        if (o->lookup == 0)
            config_problem_add(ld, n->line, n->col, "%s: column \"%s\" clashes with "
                               "columns[%zu] of the pipeline (give the lookup column another "
                               "name with dest:)", path, c->dest_name, j);
        else
            config_problem_add(ld, n->line, n->col, "%s: column \"%s\" is also added by "
                               "lookup \"%s\" (give one of them another name with dest:)",
                               path, c->dest_name, p->lookups[o->lookup - 1].name);
        return;
    }
}

/* Appends lookup li's columns (list m) to p->columns. */
static void lookup_columns(config_loader *ld, const config_node *item, const char *path,
                           config_pipeline *p, size_t li) {
    static const char *const keys[] = {"name", "type", "dest", "compare", NULL};
    config_lookup *lk = &p->lookups[li];
    const config_node *m = config_map_get(item, "columns");
    lk->first = p->ncolumns;
    if (m == NULL) {
        config_missing(ld, item, path, "columns");
        return;
    }
    if (m->kind != CONFIG_NODE_SEQ || m->n == 0) {
        config_problem_add(ld, m->line, m->col, "%s.columns: expected a list of at least one "
                           "column ({name, type})", path);
        return;
    }
    config_column *cols = realloc(p->columns, (p->ncolumns + m->n) * sizeof *cols);
    if (cols == NULL) {
        ld->oom = true;
        return;
    }
    p->columns = cols;
    for (size_t i = 0; i < m->n; i++) {
        char cp[128];
        snprintf(cp, sizeof cp, "%s.columns[%zu]", path, i);
        config_column *c = memset(&p->columns[p->ncolumns], 0, sizeof *c);
        c->lookup = li + 1;
        p->ncolumns++;
        lk->ncolumns++;
        if (!config_check_map(ld, m->vals[i], cp, NULL, keys)) continue;
        config_get_string(ld, m->vals[i], cp, "name", true, &c->name);
        config_get_string(ld, m->vals[i], cp, "type", true, &c->type);
        config_get_string(ld, m->vals[i], cp, "dest", false, &c->dest_name);
        bool compare = true;
        config_get_bool(ld, m->vals[i], cp, "compare", &compare);
        c->ignored = !compare;
        const config_node *t = config_map_get(m->vals[i], "type");
        c->line = t ? t->line : m->vals[i]->line;
        c->col = t ? t->col : m->vals[i]->col;
        if (c->dest_name == NULL && c->name != NULL) c->dest_name = config_strdup(ld, c->name);
        lookup_clash(ld, p, p->ncolumns - 1, m->vals[i], cp);
    }
}

/* The settings of lookup li beyond its columns. */
static void lookup_settings(config_loader *ld, const config_node *m, const char *path,
                            config_lookup *lk) {
    lk->cache_rows = LOOKUP_CACHE_ROWS;
    lk->cache_ttl_s = LOOKUP_CACHE_TTL_S;
    config_get_bool(ld, m, path, "required", &lk->required);
    config_get_int(ld, m, path, "cache_rows", 0, 10000000, &lk->cache_rows);
    const config_node *v = config_map_get(m, "cache_ttl");
    if (v != NULL && (v->kind != CONFIG_NODE_SCALAR ||
                      !config_parse_duration0(v->value, &lk->cache_ttl_s)))
        config_problem_add(ld, v->line, v->col, "%s.cache_ttl: expected a duration such as "
                           "90s, 5m or 1h (0: ask every batch), got \"%s\"", path,
                           v->kind == CONFIG_NODE_SCALAR ? v->value : config_kind_name(v));
}

/* Where lookups cannot work: a hand-written source query, a cdc strategy. */
static void lookup_fits(config_loader *ld, const config_node *list, const config_pipeline *p) {
    if (p->source.query != NULL)
        config_problem_add(ld, list->line, list->col, "lookups: the source is a query; join "
                           "the lookup table in source.query instead, or name source.table");
    for (size_t i = 0; i < p->nstrategies; i++)
        if (p->strategies[i].type == CONFIG_STRATEGY_CDC && p->strategies[i].name != NULL)
            config_problem_add(ld, p->strategies[i].line, p->strategies[i].col,
                               "strategies[%zu]: strategy \"%s\" is type cdc, which applies the "
                               "table's row changes as they are: lookups are not supported "
                               "with it (use delta and hash, or a pipeline without lookups)",
                               i, p->strategies[i].name);
}

static void lookup_unique(config_loader *ld, const config_node *m, const config_pipeline *p,
                          size_t li) {
    for (size_t j = 0; j < li; j++) {
        if (p->lookups[j].name == NULL || p->lookups[li].name == NULL ||
            strcmp(p->lookups[j].name, p->lookups[li].name) != 0)
            continue;
        config_problem_add(ld, m->line, m->col, "lookups[%zu]: duplicate lookup name \"%s\" "
                           "(also lookups[%zu]; set name:)", li, p->lookups[li].name, j);
        return;
    }
}

void config_parse_lookups(config_loader *ld, const config *cfg, const config_node *root,
                          config_pipeline *p) {
    static const char *const keys[] = {"name", "datastore", "schema", "table", "key",
                                       "lookup_key", "columns", "required", "cache_rows",
                                       "cache_ttl", NULL};
    const config_node *list = config_map_get(root, "lookups");
    if (list == NULL || (list->kind == CONFIG_NODE_SCALAR && list->is_null)) return;
    if (list->kind != CONFIG_NODE_SEQ) {
        config_problem_add(ld, list->line, list->col, "lookups: expected a list, got %s",
                           config_kind_name(list));
        return;
    }
    size_t nsrc = p->ncolumns;
    p->lookups = calloc(list->n ? list->n : 1, sizeof *p->lookups);
    if (p->lookups == NULL) {
        ld->oom = true;
        return;
    }
    lookup_fits(ld, list, p);
    for (size_t i = 0; i < list->n; i++) {
        const config_node *m = list->vals[i];
        config_lookup *lk = &p->lookups[p->nlookups++];
        char path[64];
        snprintf(path, sizeof path, "lookups[%zu]", i);
        lk->line = m->line;
        lk->col = m->col;
        lk->first = p->ncolumns;
        if (!config_check_map(ld, m, path, NULL, keys)) continue;
        config_get_string(ld, m, path, "datastore", true, &lk->datastore);
        config_get_string(ld, m, path, "schema", false, &lk->schema);
        config_get_string(ld, m, path, "table", true, &lk->table);
        config_get_string(ld, m, path, "key", true, &lk->key);
        config_get_string(ld, m, path, "lookup_key", true, &lk->lookup_key);
        config_get_string(ld, m, path, "name", false, &lk->name);
        if (lk->name == NULL && lk->table != NULL) lk->name = config_strdup(ld, lk->table);
        lookup_unique(ld, m, p, i);
        config_datastore_schema(ld, cfg, m, path, lk->datastore, &lk->schema,
                                &lk->schema_hidden);
        lookup_key(ld, m, path, p, nsrc, lk);
        lookup_settings(ld, m, path, lk);
        lookup_columns(ld, m, path, p, i);
    }
}

void config_free_lookups(config_pipeline *p) {
    for (size_t i = 0; i < p->nlookups; i++) {
        config_lookup *lk = &p->lookups[i];
        free(lk->name);
        free(lk->datastore);
        free(lk->schema);
        free(lk->table);
        free(lk->key);
        free(lk->lookup_key);
    }
    free(p->lookups);
    p->lookups = NULL;
    p->nlookups = 0;
}
