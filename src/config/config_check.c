/*
 * config_check — checks across a pipeline and its datastores that the
 * per-key parsers cannot make alone (issue 14, item 3):
 *
 *   - every column type is one the engines at both ends know
 *     (config_check_column_types): `type: nummeric` is caught by validate,
 *     not by `ddl apply` later. PostgreSQL and SQLite each have a list of
 *     base names (lowercase, without "(p,s)" or "[]"); SQLite accepts a few
 *     spellings of its own (blob, datetime, ...). A datastore type this file
 *     does not know is not checked.
 *   - a cdc strategy reads a PostgreSQL source table (config_check_cdc):
 *     logical decoding is PostgreSQL's; the message names the engines
 *     that support it and the strategies that work everywhere.
 *   - no two pipelines write the same destination table
 *     (config_check_destination): they would overwrite each other's rows
 *     and fight over the table lock.
 *
 * Cron expressions that never fire are checked in config_pipeline.c next to
 * the other cron checks. Everything here is pure: no database is opened.
 *
 * Engine branches left here (issue 22): the type lists per datastore type
 * (engine_knows, engine_name). They are checked while the config loads,
 * before any store exists, and the config module sits below the store
 * module (store_open reads config.h), so it cannot ask a driver.
 */
#include "config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const common_types[] = {
    "bigint", "int8", "integer", "int", "int4", "smallint", "int2", "numeric", "decimal",
    "double precision", "float8", "float", "real", "float4", "boolean", "bool",
    "timestamptz", "timestamp with time zone", "timestamp", "timestamp without time zone",
    "date", "text", "varchar", "character varying", "char", "character", "uuid", "json",
    "jsonb", "bytea", "time", "timetz", "time with time zone", "time without time zone",
    "interval", NULL};

/* MySQL / MariaDB spellings (base names; "bigint unsigned" keeps its word). */
static const char *const mysql_extra[] = {
    "tinyint", "mediumint", "double", "datetime", "blob", "tinyblob", "mediumblob", "longblob",
    "binary", "varbinary", "tinytext", "mediumtext", "longtext", "enum", "set", "year",
    "bit", "tinyint unsigned", "smallint unsigned", "mediumint unsigned", "int unsigned",
    "integer unsigned", "bigint unsigned", "decimal unsigned", "double unsigned", NULL};

static const char *const sqlite_extra[] = {"blob", "datetime", "clob", "tinyint", "mediumint",
                                           "double", "nvarchar", "nchar", NULL};

/* Lowercase base name: no "(...)", no "[]", single spaces, trimmed. */
static void base_name(const char *t, char *out, size_t n) {
    size_t k = 0;
    bool space = false;
    for (const char *p = t; *p && k + 1 < n; p++) {
        if (*p == '(') {
            const char *e = strchr(p, ')');
            if (e == NULL) break;
            p = e;
            continue;
        }
        if (*p == '[' || *p == ']') continue;
        if (isspace((unsigned char)*p)) {
            space = k > 0;
            continue;
        }
        if (space && k + 2 < n) out[k++] = ' ';
        space = false;
        out[k++] = (char)tolower((unsigned char)*p);
    }
    out[k] = '\0';
}

static bool in_list(const char *const *list, const char *name) {
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0) return true;
    return false;
}

/* Does the engine of `d` know the type? Unknown engines: yes. */
static bool engine_knows(const config_datastore *d, const char *type) {
    char b[128];
    base_name(type, b, sizeof b);
    if (d->type == CONFIG_DS_POSTGRES) return in_list(common_types, b);
    if (d->type == CONFIG_DS_SQLITE) return in_list(common_types, b) || in_list(sqlite_extra, b);
    if (d->type == CONFIG_DS_MYSQL) return in_list(common_types, b) || in_list(mysql_extra, b);
    return true;
}

static const char *engine_name(const config_datastore *d) {
    return d->type == CONFIG_DS_POSTGRES ? "postgres" : d->type == CONFIG_DS_MYSQL ? "mysql" : "sqlite";
}

void config_check_column_types(config_loader *ld, const config *cfg, const config_node *root,
                               const config_pipeline *p) {
    const config_datastore *ends[2] = {
        p->source.datastore ? config_datastore_find(cfg, p->source.datastore) : NULL,
        p->destination.datastore ? config_datastore_find(cfg, p->destination.datastore) : NULL};
    const config_node *list = config_map_get(root, "columns");
    for (size_t i = 0; i < p->ncolumns; i++) {
        const config_column *c = &p->columns[i];
        if (c->type == NULL) continue;
        for (int e = 0; e < 2; e++) {
            if (ends[e] == NULL || engine_knows(ends[e], c->type)) continue;
            if (e == 1 && ends[0] && ends[0]->type == ends[1]->type) break; /* said once */
            const config_node *item = list && i < list->n ? list->vals[i] : NULL;
            const config_node *v = item && !c->lookup ? config_map_get(item, "type") : NULL;
            config_problem_add(ld, v ? v->line : c->lookup ? c->line : 1,
                               v ? v->col : c->lookup ? c->col : 1,
                               "columns[%zu].type: unknown type \"%s\" for %s (datastore '%s'); "
                               "known: bigint, integer, smallint, numeric(P,S), double precision, "
                               "real, boolean, text, varchar(N), date, timestamp, timestamptz, "
                               "time, interval, uuid, json, jsonb, bytea%s",
                               i, c->type, engine_name(ends[e]), ends[e]->name,
                               ends[e]->type == CONFIG_DS_SQLITE ? ", blob, datetime"
                               : ends[e]->type == CONFIG_DS_MYSQL
                                   ? ", MySQL's own (bigint unsigned, datetime, blob, enum, ...)"
                                   : "");
            break;
        }
    }
}

/* The first pipeline other than p writing d (a same-named pipeline is
 * reported as a duplicate name instead): one probe of ld->dests, walking
 * only when the first holder has p's name. */
static const config_pipeline *dest_holder(config_loader *ld, const config *cfg,
                                          const config_pipeline *p) {
    const config_endpoint *d = &p->destination;
    char key[3 * 256 + 8];
    config_dest_key(d, key, sizeof key);
    size_t first;
    if (!config_map_find(&ld->dests, key, &first)) {
        if (p->name != NULL && !config_map_put_first(&ld->dests, key, (size_t)(p - cfg->pipelines)))
            ld->oom = true;
        return NULL;
    }
    const config_pipeline *o = &cfg->pipelines[first];
    if (p->name == NULL || strcmp(o->name, p->name) != 0) return o;
    for (size_t i = first + 1; i < cfg->npipelines; i++) {
        o = &cfg->pipelines[i];
        const config_endpoint *od = &o->destination;
        if (o == p || o->name == NULL || od->datastore == NULL || od->table == NULL ||
            od->schema == NULL || strcmp(o->name, p->name) == 0)
            continue;
        if (strcmp(od->datastore, d->datastore) == 0 && strcmp(od->schema, d->schema) == 0 &&
            strcmp(od->table, d->table) == 0)
            return o;
    }
    return NULL;
}

void config_check_destination(config_loader *ld, const config *cfg, const config_node *root,
                              const config_pipeline *p) {
    const config_endpoint *d = &p->destination;
    if (d->datastore == NULL || d->table == NULL || d->schema == NULL) return;
    const config_pipeline *o = dest_holder(ld, cfg, p);
    if (o == NULL) return;
    const config_node *m = config_map_get(root, "destination");
    const config_node *v = m ? config_map_get(m, "table") : NULL;
    size_t dl = strlen(ld->dir);
    const char *of = o->file ? o->file : "?";
    if (strncmp(of, ld->dir, dl) == 0 && of[dl] == '/') of += dl + 1;
    config_problem_add(ld, v ? v->line : 1, v ? v->col : 1,
                       "destination.table: %s.%s.%s is already the destination of pipeline "
                       "\"%s\" (%s): two pipelines would overwrite each other's rows",
                       d->datastore, config_schema_shown(d), d->table, o->name, of);
}

static bool config_has_expr(const config_pipeline *p) {
    for (size_t i = 0; i < p->ncolumns; i++)
        if (p->columns[i].expr != NULL) return true;
    return false;
}

void config_check_cdc(config_loader *ld, const config *cfg, const config_pipeline *p) {
    const config_datastore *src =
        p->source.datastore ? config_datastore_find(cfg, p->source.datastore) : NULL;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *s = &p->strategies[i];
        if (s->type != CONFIG_STRATEGY_CDC || s->name == NULL) continue;
        if (src != NULL && src->type != CONFIG_DS_POSTGRES)
            config_problem_add(ld, s->line, s->col,
                               "strategies[%zu]: strategy \"%s\" is type cdc, which needs a "
                               "PostgreSQL source; datastore '%s' is %s (cdc supports: "
                               "PostgreSQL; use delta or hash for this source)",
                               i, s->name, src->name, engine_name(src));
        else if (p->source.query != NULL)
            config_problem_add(ld, s->line, s->col,
                               "strategies[%zu]: strategy \"%s\" is type cdc, which reads a "
                               "table's changes: source.query cannot be used with it (name "
                               "source.table, or use delta or hash)", i, s->name);
        else if (p->source.where != NULL || config_has_expr(p))
            config_problem_add(ld, s->line, s->col,
                               "strategies[%zu]: strategy \"%s\" is type cdc, which applies the "
                               "table's row changes as they are: source.where and column expr "
                               "are not supported with it yet (use delta or hash, or a pipeline "
                               "without them)", i, s->name);
    }
}
