/*
 * sync_ddl — sync_ddl_apply(): create or alter the destination table.
 *
 * From the pipeline's `columns`: a missing table is created with
 * CREATE TABLE IF NOT EXISTS, each column in the engine's type for the
 * config type (store ddl_type: PostgreSQL spells the config type itself,
 * SQLite maps to INTEGER / REAL / TEXT so numerics and timestamps keep full
 * precision as text) and a PRIMARY KEY on the key columns. An existing
 * table gets ALTER TABLE ADD COLUMN for each missing column.
 *
 * What differs by engine is the driver's (store.h, store_ops version 11):
 * the options after CREATE TABLE (PostgreSQL's fillfactor, MySQL's
 * InnoDB and binary collation), the type of a key column (MySQL cannot
 * index TEXT), how an existing column fits its config type (column_fit)
 * and the in-place migration of a table (migrate_table), the caveats of
 * a config type (ddl_caveat).
 *
 * Existing columns are checked first, before anything is altered
 * (store_column_fit: PostgreSQL and MySQL compare their own spelling,
 * SQLite compares affinities). A mismatch fails the whole call naming the
 * column, both types and the fix. A column the driver can rewrite (SQLite:
 * tables made by earlier versions, whose values compared as strings, and
 * any other affinity mismatch) is rewritten with `migrate`, the table in
 * place in one transaction (store_migrate_table); other engines' column
 * types are never changed.
 *
 * Caveats (sync_ddl_caveats, store_ddl_caveat: a decimal wider than SQLite
 * holds as a number) are reported by validate and ddl apply. All ALTERs
 * run in one transaction. The caller holds the exclusive table lock
 * (cmd_ddl.c).
 *
 * Before the table, what it lives in (store_prepare, store_ensure_schema):
 * a SQLite file's missing directory is made, a missing PostgreSQL schema
 * or MySQL database created (IF NOT EXISTS). The plan lists them too; for
 * a SQLite file in a directory that does not exist yet it says only that
 * (there is no database to ask about the table).
 *
 * sync_ddl_plan() is the same walk with every statement appended to a text
 * instead of executed (`synctool ddl plan`, `synctool check`): what apply
 * would run, exactly, and nothing when the table matches (a table only
 * `--migrate` can fix is reported as the error apply gives).
 */
#include "sync_int.h"
#include "../log/log.h"
#include "../store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ddl_table_name(store_sb *b, store *s, const config_endpoint *e) {
    store_sb_quote(b, store_schema(s, e->schema));
    store_sb_add(b, ".");
    store_sb_quote(b, e->table);
}

static const char *dest_col(const config_column *c) { return c->dest_name ? c->dest_name : c->name; }

/* The engine type of column c. */
static int col_type(store *s, const config_column *c, char *buf, size_t n, st_error *err) {
    return store_ddl_col_type(s, c->type, c->key, buf, n, err);
}

/* Runs q, or with a plan appends it as one statement ("...;\n"). */
static int ddl_run(store *s, const store_sb *q, store_sb *plan, st_error *err) {
    if (q->oom) return st_error_set(err, ST_ENOMEM, "out of memory");
    if (plan == NULL) return store_exec(s, q->s, 0, NULL, NULL, err);
    store_sb_addf(plan, "%s;\n", q->s);
    return plan->oom ? st_error_set(err, ST_ENOMEM, "out of memory") : ST_OK;
}

static int ddl_create(store *s, const config_pipeline *p, store_sb *plan, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "CREATE TABLE IF NOT EXISTS ");
    ddl_table_name(&q, s, &p->destination);
    store_sb_add(&q, " (");
    int rc = ST_OK;
    for (size_t i = 0; i < p->ncolumns && rc == ST_OK; i++) {
        char type[128];
        rc = col_type(s, &p->columns[i], type, sizeof type, err);
        if (i) store_sb_add(&q, ", ");
        store_sb_quote(&q, dest_col(&p->columns[i]));
        store_sb_addf(&q, " %s", type);
        if (p->columns[i].key) store_sb_add(&q, " NOT NULL");
    }
    store_sb_add(&q, ", PRIMARY KEY (");
    const char *sep = "";
    for (size_t i = 0; i < p->ncolumns; i++) {
        if (!p->columns[i].key) continue;
        store_sb_add(&q, sep);
        store_sb_quote(&q, dest_col(&p->columns[i]));
        sep = ", ";
    }
    store_sb_add(&q, "))");
    store_sb_add(&q, store_ddl_table_options(s));
    if (rc == ST_OK) rc = ddl_run(s, &q, plan, err);
    store_sb_free(&q);
    if (rc == ST_OK && plan == NULL)
        log_info(p->name, NULL, "ddl: created table %s.%s.%s", store_name(s),
                 store_schema_shown(s, p->destination.schema), p->destination.table);
    return rc;
}

static const store_column_info *find_col(const store_column_info *info, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(info[i].name, name) == 0) return &info[i];
    return NULL;
}

/* Checks every existing column's type; counts the missing ones and the
 * SQLite columns `--migrate` would rewrite (*rewrite). Without migrate any
 * mismatch is an error naming the column, both types and the fix. */
static int ddl_check(store *s, const config_pipeline *p, const store_column_info *info, size_t n,
                     bool migrate, size_t *missing, size_t *rewrite, st_error *err) {
    *missing = *rewrite = 0;
    for (size_t i = 0; i < p->ncolumns; i++) {
        const config_column *c = &p->columns[i];
        const store_column_info *have = find_col(info, n, dest_col(c));
        if (have == NULL) { (*missing)++; continue; }
        char want[128];
        int rc = col_type(s, c, want, sizeof want, err);
        if (rc != ST_OK) return rc;
        store_fit fit = store_column_fit(s, have->type, store_kind_of(c->type), want);
        if (fit == STORE_FIT_SAME) continue;
        const char *schema = store_schema_shown(s, p->destination.schema);
        if (fit == STORE_FIT_NO)
            return st_error_set(err, ST_EINVAL,
                                "datastore '%s': column '%s' of table %s.%s has type %s but the "
                                "config says %s: synctool does not change column types on "
                                "PostgreSQL; alter the column to %s by hand, or change the config's "
                                "type to %s",
                                store_name(s), have->name, schema, p->destination.table,
                                have->type, c->type, want, have->type);
        (*rewrite)++;
        if (migrate) continue;
        if (fit == STORE_FIT_LEGACY)
            return st_error_set(err, ST_EINVAL,
                                "datastore '%s': column '%s' of table %s.%s has type %s, as "
                                "earlier synctool versions made it, so SQLite compares its "
                                "values as text; the config's %s is now %s: run synctool ddl "
                                "apply %s --migrate to rewrite the table in place (every row "
                                "kept)",
                                store_name(s), have->name, schema, p->destination.table,
                                have->type[0] ? have->type : "(none)", c->type, want, p->name);
        return st_error_set(err, ST_EINVAL,
                            "datastore '%s': column '%s' of table %s.%s has type %s but the "
                            "config says %s (SQLite type %s): run synctool ddl apply %s "
                            "--migrate to rewrite the column as %s, or change the config's type",
                            store_name(s), have->name, schema, p->destination.table,
                            have->type[0] ? have->type : "(none)", c->type, want, p->name, want);
    }
    return ST_OK;
}

static int ddl_add_columns(store *s, const config_pipeline *p, const store_column_info *info,
                           size_t n, store_sb *plan, st_error *err) {
    int rc = plan ? ST_OK : store_begin(s, err);
    for (size_t i = 0; i < p->ncolumns && rc == ST_OK; i++) {
        if (find_col(info, n, dest_col(&p->columns[i]))) continue;
        char type[128];
        store_sb q = {0};
        rc = col_type(s, &p->columns[i], type, sizeof type, err);
        store_sb_add(&q, "ALTER TABLE ");
        ddl_table_name(&q, s, &p->destination);
        store_sb_add(&q, " ADD COLUMN ");
        store_sb_quote(&q, dest_col(&p->columns[i]));
        store_sb_addf(&q, " %s", type);
        if (rc == ST_OK) rc = ddl_run(s, &q, plan, err);
        store_sb_free(&q);
        if (rc == ST_OK && plan == NULL)
            log_info(p->name, NULL, "ddl: added column %s %s to %s.%s.%s", dest_col(&p->columns[i]),
                     type, store_name(s), store_schema_shown(s, p->destination.schema),
                     p->destination.table);
    }
    if (plan) return rc;
    if (rc == ST_OK) rc = store_commit(s, err);
    if (rc != ST_OK) store_rollback(s);
    return rc;
}

/* --- Migration (store_migrate_table) --- */

/* The config's columns as the destination names them. */
typedef struct ddl_cols {
    const char **cols, **types;
    bool *key;
} ddl_cols;

static int ddl_cols_make(ddl_cols *d, const config_pipeline *p, store_table *t, st_error *err) {
    size_t n = p->ncolumns;
    d->cols = calloc(n ? n : 1, sizeof *d->cols);
    d->types = calloc(n ? n : 1, sizeof *d->types);
    d->key = calloc(n ? n : 1, sizeof *d->key);
    if (d->cols == NULL || d->types == NULL || d->key == NULL)
        return st_error_set(err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        d->cols[i] = dest_col(&p->columns[i]);
        d->types[i] = p->columns[i].type;
        d->key[i] = p->columns[i].key;
    }
    *t = (store_table){.datastore = p->destination.datastore, .schema = p->destination.schema,
                       .table = p->destination.table, .ncols = n, .cols = d->cols,
                       .types = d->types, .key = d->key};
    return ST_OK;
}

static void ddl_cols_free(ddl_cols *d) {
    free(d->cols);
    free(d->types);
    free(d->key);
}

static int ddl_migrate(store *s, const config_pipeline *p, const store_column_info *info,
                       size_t n, st_error *err) {
    const char *schema = store_schema(s, p->destination.schema);
    int64_t rows = 0;
    ddl_cols d = {0};
    store_table t;
    int rc = ddl_cols_make(&d, p, &t, err);
    if (rc == ST_OK) rc = store_begin(s, err);
    if (rc == ST_OK) rc = store_migrate_table(s, &t, info, n, &rows, err);
    if (rc == ST_OK) rc = store_commit(s, err);
    if (rc != ST_OK) {
        store_rollback(s);
        st_error_wrap(err, "datastore '%s': migrating table %s.%s (rolled back, nothing changed)",
                      store_name(s), schema, p->destination.table);
    } else {
        log_info(p->name, NULL, "ddl: migrated table %s.%s.%s to today's column types, %lld rows kept",
                 store_name(s), schema, p->destination.table, (long long)rows);
    }
    ddl_cols_free(&d);
    return rc;
}

/* --- Caveats --- */

int sync_ddl_caveats(const config *cfg, const config_pipeline *p, sync_caveat_fn fn, void *arg) {
    const config_datastore *ds = config_datastore_find(cfg, p->destination.datastore);
    if (ds == NULL) return 0;
    int count = 0;
    for (size_t i = 0; i < p->ncolumns; i++) {
        const config_column *c = &p->columns[i];
        char msg[512];
        if (!store_ddl_caveat(ds, dest_col(c), c->type, msg, sizeof msg)) continue;
        fn(arg, p, c, msg);
        count++;
    }
    return count;
}

static void caveat_log(void *arg, const config_pipeline *p, const config_column *c,
                       const char *msg) {
    (void)arg;
    (void)c;
    log_warn(p->name, NULL, "ddl: %s", msg);
}

/* apply (plan NULL) or plan. */
static int ddl_walk(const config *cfg, const config_pipeline *p, bool migrate, store_sb *plan,
                    st_error *err) {
    const config_datastore *ds = config_datastore_find(cfg, p->destination.datastore);
    if (ds == NULL)
        return st_error_set(err, ST_ENOTFOUND, "pipeline '%s': datastore '%s' is not defined",
                            p->name, p->destination.datastore);
    if (plan == NULL) sync_ddl_caveats(cfg, p, caveat_log, NULL);
    char did[4200];
    int rc = store_prepare(ds, plan != NULL, did, sizeof did, err);
    if (rc != ST_OK) return rc;
    if (did[0] != '\0' && plan != NULL) {   /* nothing to connect to yet */
        store_sb_addf(plan, "-- %s; then the table: run synctool ddl apply %s\n", did, p->name);
        return ST_OK;
    }
    if (did[0] != '\0') log_info(p->name, NULL, "ddl: %s", did);
    store *s = NULL;
    rc = store_open(&s, ds, err);
    store_column_info *info = NULL;
    size_t n = 0, missing = 0, rewrite = 0;
    bool created = false;
    if (rc == ST_OK) rc = store_ensure_schema(s, p->destination.schema, plan, &created, err);
    if (rc == ST_OK && created && plan == NULL)
        log_info(p->name, NULL, "ddl: created schema %s in datastore %s",
                 store_schema_shown(s, p->destination.schema), ds->name);
    if (rc == ST_OK) rc = store_describe(s, p->destination.schema, p->destination.table, &info, &n, err);
    if (rc == ST_ENOTFOUND) {
        rc = ddl_create(s, p, plan, err);
    } else if (rc == ST_OK) {
        rc = ddl_check(s, p, info, n, migrate && plan == NULL, &missing, &rewrite, err);
        if (rc == ST_OK && rewrite > 0) rc = ddl_migrate(s, p, info, n, err);
        if (rc == ST_OK && missing > 0) rc = ddl_add_columns(s, p, info, n, plan, err);
        else if (rc == ST_OK && rewrite == 0 && plan == NULL)
            log_info(p->name, NULL, "ddl: table %s.%s.%s is up to date%s", ds->name,
                     store_schema_shown(s, p->destination.schema), p->destination.table,
                     migrate ? " (nothing to migrate)" : "");
    }
    if (rc == ST_OK) rc = sync_agg_ddl(s, p, plan, err);   /* an aggregate's group map */
    free(info);
    store_close(s);
    return rc;
}

int sync_ddl_apply(const config *cfg, const config_pipeline *p, st_error *err) {
    return ddl_walk(cfg, p, false, NULL, err);
}

int sync_ddl_apply_ex(const config *cfg, const config_pipeline *p, bool migrate, st_error *err) {
    return ddl_walk(cfg, p, migrate, NULL, err);
}

int sync_ddl_plan(const config *cfg, const config_pipeline *p, char **sql, st_error *err) {
    store_sb plan = {0};
    store_sb_add(&plan, "");
    int rc = ddl_walk(cfg, p, false, &plan, err);
    if (rc == ST_OK && plan.oom) rc = st_error_set(err, ST_ENOMEM, "out of memory");
    if (rc != ST_OK) {
        store_sb_free(&plan);
        *sql = NULL;
        return rc;
    }
    *sql = plan.s;
    return ST_OK;
}
