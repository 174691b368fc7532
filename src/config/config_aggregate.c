/*
 * config_aggregate — `aggregate: {group_by: [...]}` of a pipeline.
 *
 * An aggregate pipeline keeps one destination row per group of the source
 * rows (after source.where): its key columns are the groups, each a plain
 * source column or an `expr` (`day = date(created_at)`), and every other
 * column is an aggregate expression over the group's rows (`sum(total)`,
 * `count(*)`). The strategies read the grouped query (store_sb_from);
 * delta follows the source rows' cursor and recomputes only the groups
 * they touch, old and new (src/sync/sync_aggregate.c).
 *
 * What is checked here, each at the node that is wrong:
 *   - group_by is a non-empty list of distinct column names, each a key
 *     column, and every key column is listed (the groups are the key);
 *   - every other column has an `expr` that calls an aggregate function
 *     (a plain column would be one arbitrary row's value; the database
 *     says more when `check` runs the query);
 *   - the source is a table, not source.query (delta reads its rows and
 *     their primary key), and no strategy is cdc (its row changes are not
 *     group changes);
 *   - a delta's cursor is a column of the source rows (not of `columns`):
 *     config_pipeline.c leaves it unchecked here; `check` and the run look
 *     it up on the source.
 * That the source table has a primary key (the side table maps each source
 * row to its group by it) is known only to the database: `check`, `ddl
 * apply` and the run say so.
 */
#include "config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_free_aggregate(config_pipeline *p) {
    if (p->aggregate == NULL) return;
    for (size_t i = 0; i < p->aggregate->ngroup_by; i++) free(p->aggregate->group_by[i]);
    free(p->aggregate->group_by);
    free(p->aggregate);
    p->aggregate = NULL;
}

static void parse_group_by(config_loader *ld, const config_node *m, config_aggregate *a) {
    const config_node *g = config_map_get(m, "group_by");
    if (g == NULL) {
        config_missing(ld, m, "aggregate", "group_by");
        return;
    }
    if (g->kind != CONFIG_NODE_SEQ || g->n == 0) {
        config_problem_add(ld, g->line, g->col, "aggregate.group_by: expected a list of key "
                           "column names, e.g. [customer_id, day]");
        return;
    }
    a->group_by = calloc(g->n, sizeof *a->group_by);
    if (a->group_by == NULL) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        const config_node *v = g->vals[i];
        if (v->kind != CONFIG_NODE_SCALAR || v->value[0] == '\0') {
            config_problem_add(ld, v->line, v->col, "aggregate.group_by[%zu]: expected a "
                               "column name", i);
            continue;
        }
        for (size_t j = 0; j < a->ngroup_by; j++)
            if (strcmp(a->group_by[j], v->value) == 0)
                config_problem_add(ld, v->line, v->col, "aggregate.group_by[%zu]: \"%s\" is "
                                   "listed twice", i, v->value);
        a->group_by[a->ngroup_by++] = config_strdup(ld, v->value);
    }
}

void config_parse_aggregate(config_loader *ld, const config_node *root, config_pipeline *p) {
    static const char *const keys[] = {"group_by", NULL};
    const config_node *m = config_map_get(root, "aggregate");
    if (m == NULL || !config_check_map(ld, m, "aggregate", NULL, keys)) return;
    p->aggregate = calloc(1, sizeof *p->aggregate);
    if (p->aggregate == NULL) {
        ld->oom = true;
        return;
    }
    const config_node *k = config_map_key(root, "aggregate");
    p->aggregate->line = k->line;
    p->aggregate->col = k->col;
    parse_group_by(ld, m, p->aggregate);
}

/* Whether expression e calls an aggregate function: one of the names
 * below, as a word, followed by '('. */
static bool calls_aggregate(const char *e) {
    static const char *const fns[] = {
        "sum", "count", "min", "max", "avg", "total", "group_concat", "string_agg",
        "array_agg", "bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor",
        "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
        "json_agg", "jsonb_agg", "json_arrayagg", "json_group_array", NULL};
    for (const char *p = e; *p; p++) {
        if (!isalpha((unsigned char)*p) || (p > e && (isalnum((unsigned char)p[-1]) ||
                                                      p[-1] == '_')))
            continue;
        size_t n = 0;
        while (isalnum((unsigned char)p[n]) || p[n] == '_') n++;
        const char *q = p + n;
        while (*q == ' ' || *q == '\t') q++;
        for (size_t i = 0; *q == '(' && fns[i]; i++)
            if (strlen(fns[i]) == n && strncasecmp(p, fns[i], n) == 0) return true;
        p += n - 1;
    }
    return false;
}

static const config_node *column_node(const config_node *root, size_t i, const char *key) {
    const config_node *cols = config_map_get(root, "columns");
    if (cols == NULL || cols->kind != CONFIG_NODE_SEQ || i >= cols->n) return root;
    const config_node *v = config_map_get(cols->vals[i], key);
    return v != NULL ? v : cols->vals[i];
}

static bool in_group_by(const config_aggregate *a, const char *name) {
    for (size_t j = 0; name != NULL && j < a->ngroup_by; j++)
        if (strcmp(a->group_by[j], name) == 0) return true;
    return false;
}

/* group_by names the key columns, all of them; the others aggregate. */
static void check_columns(config_loader *ld, const config_node *root, const config_pipeline *p) {
    const config_aggregate *a = p->aggregate;
    const config_node *g = config_map_get(config_map_get(root, "aggregate"), "group_by");
    for (size_t j = 0; g != NULL && g->kind == CONFIG_NODE_SEQ && j < a->ngroup_by; j++) {
        size_t i = 0;
        while (i < p->ncolumns && (p->columns[i].name == NULL ||
                                   strcmp(p->columns[i].name, a->group_by[j]) != 0))
            i++;
        if (i < p->ncolumns && p->columns[i].key) continue;
        const config_node *v = j < g->n ? g->vals[j] : g;
        config_problem_add(ld, v->line, v->col, i < p->ncolumns
                           ? "aggregate.group_by[%zu]: column \"%s\" is not a key column (the "
                             "groups are the destination's key: mark it key: true)"
                           : "aggregate.group_by[%zu]: \"%s\" is not in columns (list it with "
                             "key: true, as a source column or with expr:)", j, a->group_by[j]);
    }
    for (size_t i = 0; i < p->ncolumns; i++) {
        const config_column *c = &p->columns[i];
        if (c->name == NULL) continue;
        if (c->key && !in_group_by(a, c->name)) {
            const config_node *v = column_node(root, i, "key");
            config_problem_add(ld, v->line, v->col, "columns[%zu]: key column \"%s\" is not in "
                               "aggregate.group_by (add it there, or remove key: true)", i,
                               c->name);
        } else if (!c->key && (c->expr == NULL || !calls_aggregate(c->expr))) {
            const config_node *v = column_node(root, i, c->expr ? "expr" : "name");
            config_problem_add(ld, v->line, v->col, "columns[%zu]: column \"%s\" of an aggregate "
                               "pipeline must be a group key or an aggregate expression (expr: "
                               "\"sum(total)\", \"count(*)\", min, max, avg, ...)", i, c->name);
        }
    }
}

/* No source.query, no cdc strategy. */
static void check_source(config_loader *ld, const config_node *root, const config_pipeline *p) {
    const config_node *src = config_map_get(root, "source");
    const config_node *q = src ? config_map_key(src, "query") : NULL;
    if (p->source.query != NULL && q != NULL)
        config_problem_add(ld, q->line, q->col, "source.query: an aggregate pipeline reads a "
                           "source table (delta follows its rows by their primary key); name "
                           "source.table and put the condition in source.where");
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *s = &p->strategies[i];
        if (s->type == CONFIG_STRATEGY_CDC)
            config_problem_add(ld, s->line, s->col, "strategies[%zu]: strategy \"%s\" is type "
                               "cdc, which an aggregate pipeline does not have (use delta, full "
                               "or hash)", i, s->name ? s->name : "");
    }
}

void config_check_aggregate(config_loader *ld, const config_node *root,
                            const config_pipeline *p) {
    if (p->aggregate == NULL) return;
    const config_node *lk = config_map_key(root, "lookups");
    if (p->nlookups > 0 && lk != NULL) {
        /* the lookup columns would be grouped rows' columns: not built */
        config_problem_add(ld, lk->line, lk->col, "lookups: an aggregate pipeline cannot have "
                           "lookups (not implemented): enrich the rows in a pipeline of their "
                           "own and aggregate its destination");
        return;
    }
    if (p->aggregate->ngroup_by > 0) check_columns(ld, root, p);
    check_source(ld, root, p);
}
