/*
 * config_pipeline — the `columns` and `strategies` lists of a pipeline.
 *
 * Columns map source names to destination names (`dest`, default the same)
 * with an SQL type kept as written; at least one column is the key. Column
 * and destination names are unique. `compare: false` marks a column that is
 * copied but not compared (config.h, config_column.ignored); a key column
 * cannot be one (a row is found by its key), nor a delta's cursor (the
 * cursor is what tells delta a row changed). `expr` computes a column from
 * the source row instead of reading one (never a key or a cursor, never with
 * a hand-written source.query, which computes its own columns).
 *
 * Strategies are full, delta, hash or cdc, each with optional cron + timezone
 * and type-specific settings: a delta needs a `cursor` that is one of the
 * pipeline's source columns and may have `lookback_seconds`; a hash may have
 * `segment_rows`; a cdc `max_slot_lag` (a size: bytes or "1GB"; its source
 * engine is checked against the datastores in config_check.c) and
 * `continuous` (keep streaming until interrupted). A setting that belongs to another type is refused rather
 * than ignored, so a typo in the type cannot silently change behaviour.
 *
 * Cron expressions and zones are checked with cron_parse(), the same parser
 * the scheduler uses, so "valid here" means "schedulable there". The zone is
 * checked separately (with the pipeline's expression, or `* * * * *` when
 * there is none) so a bad zone is reported at `timezone`, not at `cron`.
 * While the cron module answers ST_ENOTIMPL, cron cannot be validated and
 * the check is skipped rather than failing every config.
 */
#include "config_int.h"

#include "../cron/cron.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The list at key `key`, or NULL after recording why there is none usable. */
static const config_node *get_list(config_loader *ld, const config_node *root,
                                   const char *key, const char *what) {
    const config_node *m = config_map_get(root, key);
    if (m == NULL) {
        config_missing(ld, root, "", key);
        return NULL;
    }
    if (m->kind != CONFIG_NODE_SEQ) {
        config_problem_add(ld, m->line, m->col, "%s: expected a list, got %s", key,
                           config_kind_name(m));
        return NULL;
    }
    if (m->n == 0) {
        config_problem_add(ld, m->line, m->col, "%s: must list at least one %s", key, what);
        return NULL;
    }
    return m;
}

/* --- columns --- */

/* Reports `field` of column i if an earlier column has the same value;
 * returns false then. */
static bool column_unique(config_loader *ld, const config_pipeline *p, size_t i,
                          const config_node *item, bool dest) {
    const char *v = dest ? p->columns[i].dest_name : p->columns[i].name;
    if (v == NULL) return true;
    for (size_t j = 0; j < i; j++) {
        const char *o = dest ? p->columns[j].dest_name : p->columns[j].name;
        if (o == NULL || strcmp(o, v) != 0) continue;
        const config_node *n = config_map_get(item, dest ? "dest" : "name");
        if (n == NULL) n = config_map_get(item, "name");
        config_problem_add(ld, n->line, n->col, "columns[%zu].%s: duplicate %s column \"%s\" "
                           "(also columns[%zu])", i, dest ? "dest" : "name",
                           dest ? "destination" : "source", v, j);
        return false;
    }
    return true;
}

/* `compare` of column i (default true); a key column must be compared. */
static void parse_compare(config_loader *ld, const config_node *item, const char *path,
                          config_column *c) {
    bool compare = true;
    if (!config_get_bool(ld, item, path, "compare", &compare) || compare) return;
    c->ignored = true;
    if (!c->key) return;
    const config_node *v = config_map_get(item, "compare");
    config_problem_add(ld, v->line, v->col, "%s.compare: key column \"%s\" cannot be "
                       "compare: false (rows are matched by their key; remove compare: false "
                       "or key: true)", path, c->name ? c->name : "");
}

/* `expr` of column i: computed from the source row; a key cannot be one (a
 * row is found by its key, on both sides, through the key's index). */
static void parse_expr(config_loader *ld, const config_node *item, const char *path,
                       const config_pipeline *p, config_column *c) {
    if (!config_get_string(ld, item, path, "expr", false, &c->expr) || c->expr == NULL) return;
    const config_node *v = config_map_get(item, "expr");
    if (c->expr[strspn(c->expr, " \t\r\n")] == '\0') {
        config_problem_add(ld, v->line, v->col, "%s.expr: empty expression (remove expr: to "
                           "copy the source column \"%s\")", path, c->name ? c->name : "");
        return;
    }
    if (p->source.query != NULL)
        config_problem_add(ld, v->line, v->col, "%s.expr: the source is a query; compute "
                           "\"%s\" in source.query instead", path, c->name ? c->name : "");
    else if (c->key && p->aggregate == NULL) /* an aggregate's group: config_aggregate.c */
        config_problem_add(ld, v->line, v->col, "%s.expr: key column \"%s\" cannot be an "
                           "expression (rows are found by their key through its index; key a "
                           "plain source column)", path, c->name ? c->name : "");
}

/* `type` of a column: required, also on an `expr` column, whose type is
 * not inferred from the expression (not implemented: SQLite has no type
 * for an expression, and PostgreSQL's numeric results carry no precision),
 * which the message says rather than only "missing". */
static void parse_column_type(config_loader *ld, const config_node *item, const char *path,
                              config_column *c) {
    if (config_map_get(item, "type") == NULL && config_map_get(item, "expr") != NULL) {
        config_problem_add(ld, item->line, item->col, "%s: missing required key \"type\": an "
                           "expr column needs its destination type written (inferring it from "
                           "the expression is not implemented)", path);
        return;
    }
    config_get_string(ld, item, path, "type", true, &c->type);
}

void config_parse_columns(config_loader *ld, const config_node *root, config_pipeline *p) {
    static const char *const keys[] = {"name", "type", "key", "dest", "compare", "expr", NULL};
    const config_node *m = get_list(ld, root, "columns", "column");
    if (m == NULL) return;
    p->columns = calloc(m->n, sizeof *p->columns);
    if (p->columns == NULL) {
        ld->oom = true;
        return;
    }
    p->ncolumns = m->n;
    bool any_key = false;
    for (size_t i = 0; i < m->n; i++) {
        config_column *c = &p->columns[i];
        char path[64];
        snprintf(path, sizeof path, "columns[%zu]", i);
        if (!config_check_map(ld, m->vals[i], path, NULL, keys)) continue;
        config_get_string(ld, m->vals[i], path, "name", true, &c->name);
        parse_column_type(ld, m->vals[i], path, c);
        config_get_bool(ld, m->vals[i], path, "key", &c->key);
        config_get_string(ld, m->vals[i], path, "dest", false, &c->dest_name);
        parse_compare(ld, m->vals[i], path, c);
        parse_expr(ld, m->vals[i], path, p, c);
        if (c->dest_name == NULL) c->dest_name = config_strdup(ld, c->name);
        if (column_unique(ld, p, i, m->vals[i], false)) column_unique(ld, p, i, m->vals[i], true);
        any_key = any_key || c->key;
    }
    if (!any_key)
        config_problem_add(ld, m->line, m->col,
                           "columns: no key column (mark at least one with key: true)");
}

/* --- strategies --- */

static bool parse_type(config_loader *ld, const config_node *m, const char *path,
                       config_strategy *s) {
    static const char *const names[] = {"full", "delta", "hash", "cdc"};
    char *t = NULL;
    if (!config_get_string(ld, m, path, "type", true, &t)) return false;
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(t, names[i]) == 0) {
            s->type = (config_strategy_type)i;
            free(t);
            return true;
        }
    }
    const config_node *v = config_map_get(m, "type");
    config_problem_add(ld, v->line, v->col,
                       "%s.type: unknown strategy type \"%s\" (expected full, delta, hash or cdc)",
                       path, t);
    free(t);
    return false;
}

static void refuse_unless(config_loader *ld, const config_node *m, const char *path,
                          const char *key, bool ok, const char *only) {
    const config_node *k = config_map_key(m, key);
    if (k == NULL || ok) return;
    config_problem_add(ld, k->line, k->col, "%s.%s: only valid for %s strategies", path, key,
                       only);
}

/* parallel: N > 1 runs key ranges at once (sync_parallel.c): full and
 * hash, not an aggregate pipeline, whose groups are rebuilt as one
 * (sync_aggregate.c). */
static void check_parallel(config_loader *ld, const config_node *m, const char *path,
                           const config_pipeline *p, const config_strategy *s) {
    const config_node *v = config_map_get(m, "parallel");
    if (v == NULL || s->parallel <= 1) return;
    if (p->aggregate != NULL)
        config_problem_add(ld, v->line, v->col, "%s.parallel: not implemented for an aggregate "
                           "pipeline (its groups are rebuilt as one): remove it or set 1", path);
}

static void check_cursor(config_loader *ld, const config_node *m, const char *path,
                         const config_pipeline *p, const config_strategy *s) {
    if (s->cursor == NULL) {
        if (config_map_get(m, "cursor") == NULL)
            config_problem_add(ld, m->line, m->col, "%s: missing required key \"cursor\" "
                               "(a delta strategy needs a cursor column)", path);
        return;
    }
    const config_node *v = config_map_get(m, "cursor");
    if (p->aggregate != NULL) return; /* a column of the source rows (config_aggregate.c) */
    for (size_t i = 0; i < p->ncolumns; i++) {
        if (p->columns[i].name == NULL || strcmp(p->columns[i].name, s->cursor) != 0) continue;
        if (p->columns[i].ignored)
            config_problem_add(ld, v->line, v->col, "%s.cursor: column \"%s\" is compare: false "
                               "(columns[%zu]); a delta cursor must be compared: remove "
                               "compare: false or choose another cursor", path, s->cursor, i);
        else if (p->columns[i].expr != NULL)
            config_problem_add(ld, v->line, v->col, "%s.cursor: column \"%s\" is an expression "
                               "(columns[%zu]); a delta cursor must be a plain source column "
                               "(its index finds the changed rows)", path, s->cursor, i);
        return;
    }
    if (p->ncolumns == 0) return; /* columns already reported */
    config_problem_add(ld, v->line, v->col, "%s.cursor: column \"%s\" is not in columns",
                       path, s->cursor);
}

/* A cron that parses but never fires (`0 0 31 2 *`), or fires less than
 * once in 5 years, would leave its strategy silently unscheduled: the cron
 * module searches 5 years ahead, so "no next fire time within 5 years of
 * any of a few instants" is the test. The instants are fixed (validation
 * reads no clock) and four years apart so Feb 29 crons pass. */
static void check_cron_fires(config_loader *ld, const config_node *m, const char *path,
                             const config_strategy *s) {
    static const int64_t refs[] = {1735689600LL, 1861920000LL}; /* 2025-01-01, 2029-01-01 */
    cron_expr *c = NULL;
    if (cron_parse(&c, s->cron, NULL, NULL) != 0) return;
    bool never = false;
    for (size_t i = 0; i < sizeof refs / sizeof refs[0] && !never; i++) {
        int64_t next;
        never = cron_next(c, refs[i] * 1000000LL, &next) == ST_ENOTFOUND;
    }
    cron_free(c);
    if (!never) return;
    const config_node *v = config_map_get(m, "cron");
    config_problem_add(ld, v->line, v->col,
                       "%s.cron: \"%s\" never fires (not once in 5 years): the strategy would "
                       "never run", path, s->cron);
}

static void check_cron(config_loader *ld, const config_node *m, const char *path,
                       const config_strategy *s) {
    cron_expr *c = NULL;
    st_error err;
    if (s->cron) {
        int rc = cron_parse(&c, s->cron, NULL, &err);
        cron_free(c);
        if (rc == ST_ENOTIMPL) return; /* cron module not built yet: cannot validate */
        if (rc != 0) {
            const config_node *v = config_map_get(m, "cron");
            config_problem_add(ld, v->line, v->col, "%s.cron: invalid cron expression \"%s\": %s",
                               path, s->cron, err.msg);
            return;
        }
        check_cron_fires(ld, m, path, s);
    }
    if (s->timezone) {
        c = NULL;
        int rc = cron_parse(&c, s->cron ? s->cron : "* * * * *", s->timezone, &err);
        cron_free(c);
        if (rc == 0 || rc == ST_ENOTIMPL) return;
        const config_node *v = config_map_get(m, "timezone");
        config_problem_add(ld, v->line, v->col, "%s.timezone: invalid time zone \"%s\": %s",
                           path, s->timezone, err.msg);
    }
}

static void strategy_unique(config_loader *ld, const config_node *m, const char *path,
                            const config_pipeline *p, size_t i) {
    const char *name = p->strategies[i].name;
    const config_node *v = config_map_get(m, "name");
    if (!config_valid_name(name)) {
        config_problem_add(ld, v->line, v->col, "%s.name: invalid strategy name \"%s\": use "
                           "letters, digits, '_' and '-'", path, name);
        return;
    }
    char what[256];
    snprintf(what, sizeof what, "%s.name: strategy", path);
    if (config_name_too_long(ld, v->line, v->col, what, name)) return;
    for (size_t j = 0; j < i; j++) {
        if (p->strategies[j].name == NULL || strcmp(p->strategies[j].name, name) != 0) continue;
        config_problem_add(ld, v->line, v->col,
                           "%s.name: duplicate strategy name \"%s\" (also strategies[%zu])",
                           path, name, j);
        return;
    }
}

/* A byte count: an integer, or a number with a unit B, kB/KB, MB, GB or TB
 * (powers of 1024, as PostgreSQL's memory settings): "512MB", "1GB". */
static void parse_size(config_loader *ld, const config_node *m, const char *path,
                       const char *key, int64_t *out) {
    const config_node *v = config_map_get(m, key);
    if (v == NULL) return;
    const char *s = v->kind == CONFIG_NODE_SCALAR ? v->value : "";
    char *end = NULL;
    long long n = strtoll(s, &end, 10);
    static const char *const units[] = {"", "B", "kB", "KB", "MB", "GB", "TB"};
    static const int shift[] = {0, 0, 10, 10, 20, 30, 40};
    for (size_t i = 0; end != s && n > 0 && i < 7; i++) {
        if (strcmp(end, units[i]) != 0 || n > (INT64_MAX >> shift[i])) continue;
        *out = (int64_t)n << shift[i];
        return;
    }
    config_problem_add(ld, v->line, v->col, "%s.%s: expected a positive size in bytes, e.g. "
                       "1073741824, \"512MB\" or \"1GB\" (units B, kB, MB, GB, TB), got \"%s\"",
                       path, key, s);
}

static void parse_strategy(config_loader *ld, const config_node *m, size_t i,
                           config_pipeline *p) {
    static const char *const keys[] = {"name", "type", "cron", "timezone", "enabled",
                                       "cursor", "lookback_seconds", "batch_size",
                                       "segment_rows", "max_slot_lag", "continuous", "parallel",
                                       NULL};
    config_strategy *s = &p->strategies[i];
    char path[64];
    snprintf(path, sizeof path, "strategies[%zu]", i);
    *s = (config_strategy){.enabled = true, .batch_size = 0, .segment_rows = 1000,
                           .parallel = 1, .line = m->line, .col = m->col};
    if (!config_check_map(ld, m, path, NULL, keys)) return;
    if (config_get_string(ld, m, path, "name", true, &s->name))
        strategy_unique(ld, m, path, p, i);
    bool typed = parse_type(ld, m, path, s);
    config_get_string(ld, m, path, "cron", false, &s->cron);
    config_get_string(ld, m, path, "timezone", false, &s->timezone);
    config_get_bool(ld, m, path, "enabled", &s->enabled);
    config_get_string(ld, m, path, "cursor", false, &s->cursor);
    config_get_int(ld, m, path, "lookback_seconds", 0, 31536000, &s->lookback_seconds);
    config_get_int(ld, m, path, "batch_size", 1, 10000000, &s->batch_size);
    config_get_int(ld, m, path, "segment_rows", 1, 100000000, &s->segment_rows);
    parse_size(ld, m, path, "max_slot_lag", &s->max_slot_lag);
    config_get_bool(ld, m, path, "continuous", &s->continuous);
    config_get_int(ld, m, path, "parallel", 1, 64, &s->parallel);
    if (typed) {
        bool delta = s->type == CONFIG_STRATEGY_DELTA;
        refuse_unless(ld, m, path, "cursor", delta, "delta");
        refuse_unless(ld, m, path, "lookback_seconds", delta, "delta");
        refuse_unless(ld, m, path, "segment_rows", s->type == CONFIG_STRATEGY_HASH, "hash");
        refuse_unless(ld, m, path, "max_slot_lag", s->type == CONFIG_STRATEGY_CDC, "cdc");
        refuse_unless(ld, m, path, "continuous", s->type == CONFIG_STRATEGY_CDC, "cdc");
        refuse_unless(ld, m, path, "parallel", s->type == CONFIG_STRATEGY_FULL ||
                      s->type == CONFIG_STRATEGY_HASH, "full and hash");
        check_parallel(ld, m, path, p, s);
        if (delta) check_cursor(ld, m, path, p, s);
    }
    check_cron(ld, m, path, s);
}

void config_parse_strategies(config_loader *ld, const config_node *root, config_pipeline *p) {
    const config_node *m = get_list(ld, root, "strategies", "strategy");
    if (m == NULL) return;
    p->strategies = calloc(m->n, sizeof *p->strategies);
    if (p->strategies == NULL) {
        ld->oom = true;
        return;
    }
    p->nstrategies = m->n;
    for (size_t i = 0; i < m->n; i++) parse_strategy(ld, m->vals[i], i, p);
}
