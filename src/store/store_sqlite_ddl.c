/*
 * store_sqlite_ddl — what the SQLite driver says about tables beyond SQL
 * text (store.h, store_ops version 11): how an existing column's declared
 * type fits a config type, the in-place migration of tables made by
 * earlier versions, the decimal caveat, `check`'s SQL, and whether a
 * destination may commit while its source (of the same file) is read.
 *
 * Column fit: SQLite compares affinities (SQLite docs, "Datatypes", 3.1),
 * and accepts every declared type whose affinity stores the kind the way a
 * sync writes it (NUMERIC, DECIMAL(12,2) or REAL for a numeric; REAL or
 * NUMERIC for double precision; ...). Tables made by earlier versions
 * (TEXT for numerics, booleans and timestamps, whose values then compared
 * as strings) are STORE_FIT_LEGACY; any other mismatch STORE_FIT_MIGRATE.
 *
 * Migration (sq_migrate_table, `ddl apply --migrate`): inside the caller's
 * transaction it builds the table anew with today's types, copies every
 * row through st_store() (each value as a sync writes it today: numbers by
 * affinity, booleans 0/1, timestamps in canonical text; a value that
 * cannot be read as its type is kept unchanged), checks the row count,
 * drops the old table, renames the new one and re-creates the old indexes
 * and triggers.
 *
 * Caveat: a decimal with more than 15 significant digits cannot be both a
 * number and exact in SQLite (a REAL holds 15).
 *
 * Reading while writing: a full run keeps its source read open while
 * batches commit. When source and destination are tables of one SQLite
 * file, only WAL lets a writer commit past a reader; in any other journal
 * mode the first commit would wait out the busy timeout and fail with
 * "database is locked". Refused up front, naming the fix.
 */
#include "store_backend.h"
#include "store_driver.h"
#include "store_sqlite_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- Column fit --- */

char store_sqlite_affinity(const char *t) {
    char low[128];
    size_t i = 0;
    for (; t[i] && i < sizeof low - 1; i++) low[i] = (char)(t[i] | 0x20);
    low[i] = '\0';
    if (strstr(low, "int")) return 'I';
    if (strstr(low, "char") || strstr(low, "clob") || strstr(low, "text")) return 'T';
    if (strstr(low, "blob") || low[0] == '\0') return 'B';
    if (strstr(low, "real") || strstr(low, "floa") || strstr(low, "doub")) return 'R';
    return 'N';
}

/* SQLite affinities that store and compare `kind` as a sync writes it. */
static bool affinity_ok(store_kind kind, char aff) {
    switch (kind) {
    case STORE_K_INT: return aff == 'I' || aff == 'N';
    case STORE_K_NUMERIC:
    case STORE_K_FLOAT: return aff == 'I' || aff == 'N' || aff == 'R';
    case STORE_K_BOOL: return aff == 'I' || aff == 'N';
    case STORE_K_DATE: return aff == 'N' || aff == 'T';
    case STORE_K_TIMESTAMP:
    case STORE_K_TIMESTAMPTZ: return aff == 'N';
    case STORE_K_TEXT:
    case STORE_K_TIME: return aff == 'T';
    case STORE_K_BYTES: return aff == 'T' || aff == 'B';   /* \x hex text */
    }
    return false;
}

/* A TEXT column where earlier versions put numerics, booleans and
 * timestamps (their values compare as strings). */
static bool legacy(store_kind kind, char aff) {
    return aff == 'T' && kind != STORE_K_TEXT && kind != STORE_K_DATE && kind != STORE_K_TIME &&
           kind != STORE_K_BYTES;
}

store_fit store_sqlite_column_fit(const char *have, store_kind kind, const char *want) {
    (void)want;
    char aff = store_sqlite_affinity(have);
    if (legacy(kind, aff)) return STORE_FIT_LEGACY;
    return affinity_ok(kind, aff) ? STORE_FIT_SAME : STORE_FIT_MIGRATE;
}

/* --- Migration --- */

/* The CREATE statements of the table's own indexes and triggers. */
static int saved_sql(store *s, const char *schema, const char *table, char ***out, size_t *n,
                     st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT sql FROM ");
    store_sb_quote(&q, schema);
    store_sb_add(&q, ".sqlite_master WHERE tbl_name = ?1 AND type IN ('index', 'trigger') "
                     "AND sql IS NOT NULL ORDER BY type = 'trigger', name");
    const char *params[1] = {table};
    store_reader *r = NULL;
    int rc = q.oom ? ST_ENOMEM : store_query_small(s, &r, q.s, 1, params, err);
    store_sb_free(&q);
    const char *const *row;
    int nc;
    *out = NULL;
    *n = 0;
    while (rc == ST_OK && (rc = store_next(s, r, &row, &nc, err)) == 1) {
        rc = ST_OK;
        char **g = realloc(*out, (*n + 1) * sizeof *g);
        if (g == NULL || (g[*n] = strdup(row[0])) == NULL) {
            if (g) *out = g;
            rc = st_error_set(err, ST_ENOMEM, "out of memory");
            break;
        }
        *out = g;
        (*n)++;
    }
    if (r) store_reader_close(s, r);
    return rc;
}

/* The config column of t named `name`, or -1. */
static int cfg_col(const store_table *t, const char *name) {
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i], name) == 0) return (int)i;
    return -1;
}

static void table_name(store_sb *b, const char *schema, const char *table) {
    store_sb_quote(b, schema);
    store_sb_add(b, ".");
    store_sb_quote(b, table);
}

/* CREATE TABLE tmp with every existing column (config columns in today's
 * type) and the config's primary key; INSERT ... SELECT st_store(...). */
static int migrate_sql(store *s, const store_table *t, const store_column_info *info, size_t n,
                       const char *schema, const char *tmp, store_sb *create, store_sb *copy,
                       st_error *err) {
    store_sb sel = {0};
    store_sb_add(create, "CREATE TABLE ");
    table_name(create, schema, tmp);
    store_sb_add(create, " (");
    store_sb_add(copy, "INSERT INTO ");
    table_name(copy, schema, tmp);
    store_sb_add(copy, " (");
    int rc = ST_OK;
    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        int c = cfg_col(t, info[i].name);
        char type[128];
        snprintf(type, sizeof type, "%s", info[i].type);
        if (c >= 0) rc = store_ddl_type(s, t->types[c], type, sizeof type, err);
        const char *sep = i ? ", " : "";
        store_sb_add(create, sep);
        store_sb_quote(create, info[i].name);
        store_sb_addf(create, " %s%s", type, c >= 0 && t->key[c] ? " NOT NULL" : "");
        store_sb_add(copy, sep);
        store_sb_quote(copy, info[i].name);
        store_sb_add(&sel, sep);
        if (c >= 0) store_sb_addf(&sel, "st_store(%d, ", (int)store_kind_of(t->types[c]));
        store_sb_quote(&sel, info[i].name);
        if (c >= 0) store_sb_add(&sel, ")");
    }
    store_sb_add(create, ", PRIMARY KEY (");
    const char *sep = "";
    for (size_t i = 0; i < t->ncols; i++) {
        if (!t->key[i]) continue;
        store_sb_add(create, sep);
        store_sb_quote(create, t->cols[i]);
        sep = ", ";
    }
    store_sb_add(create, "))");
    store_sb_add(copy, ") SELECT ");
    store_sb_add(copy, sel.oom ? "" : sel.s);
    store_sb_add(copy, " FROM ");
    table_name(copy, schema, t->table);
    if (sel.oom || create->oom || copy->oom) rc = st_error_set(err, ST_ENOMEM, "out of memory");
    store_sb_free(&sel);
    return rc;
}

static int count_rows(store *s, const char *schema, const char *table, int64_t *out,
                      st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*) FROM ");
    table_name(&q, schema, table);
    store_reader *r = NULL;
    int rc = q.oom ? ST_ENOMEM : store_query_small(s, &r, q.s, 0, NULL, err);
    store_sb_free(&q);
    const char *const *row;
    int nc;
    if (rc == ST_OK && (rc = store_next(s, r, &row, &nc, err)) == 1) {
        *out = strtoll(row[0], NULL, 10);
        rc = ST_OK;
    } else if (rc == 0) {
        rc = st_error_set(err, ST_ERR, "count(*) returned no row");
    }
    if (r) store_reader_close(s, r);
    return rc;
}

/* The migration's statements, inside the caller's transaction. */
static int migrate_run(store *s, const store_table *t, const store_column_info *info, size_t n,
                       char **saved, size_t nsaved, int64_t *rows, st_error *err) {
    const char *schema = store_schema(s, t->schema);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "synctool_migrate_%s", t->table);
    store_sb create = {0}, copy = {0}, drop = {0}, rename = {0};
    int rc = migrate_sql(s, t, info, n, schema, tmp, &create, &copy, err);
    store_sb_add(&drop, "DROP TABLE ");
    table_name(&drop, schema, t->table);
    store_sb_add(&rename, "ALTER TABLE ");
    table_name(&rename, schema, tmp);
    store_sb_add(&rename, " RENAME TO ");
    store_sb_quote(&rename, t->table);
    int64_t before = -1, after = -2;
    if (rc == ST_OK && (drop.oom || rename.oom)) rc = st_error_set(err, ST_ENOMEM, "out of memory");
    if (rc == ST_OK) rc = count_rows(s, schema, t->table, &before, err);
    if (rc == ST_OK) rc = store_exec(s, create.s, 0, NULL, NULL, err);
    if (rc == ST_OK) rc = store_exec(s, copy.s, 0, NULL, NULL, err);
    if (rc == ST_OK) rc = count_rows(s, schema, tmp, &after, err);
    if (rc == ST_OK && before != after)
        rc = st_error_set(err, ST_ERR, "migration copied %lld of %lld rows; nothing changed",
                          (long long)after, (long long)before);
    if (rc == ST_OK) rc = store_exec(s, drop.s, 0, NULL, NULL, err);
    if (rc == ST_OK) rc = store_exec(s, rename.s, 0, NULL, NULL, err);
    for (size_t i = 0; i < nsaved && rc == ST_OK; i++)
        rc = store_exec(s, saved[i], 0, NULL, NULL, err);
    *rows = before;
    store_sb_free(&create);
    store_sb_free(&copy);
    store_sb_free(&drop);
    store_sb_free(&rename);
    return rc;
}

int store_sqlite_migrate_table(store *s, const store_table *t, const store_column_info *have,
                               size_t nhave, int64_t *rows, st_error *err) {
    char **saved = NULL;
    size_t nsaved = 0;
    *rows = 0;
    int rc = saved_sql(s, store_schema(s, t->schema), t->table, &saved, &nsaved, err);
    if (rc == ST_OK) rc = migrate_run(s, t, have, nhave, saved, nsaved, rows, err);
    for (size_t i = 0; i < nsaved; i++) free(saved[i]);
    free(saved);
    return rc;
}

/* --- Caveat, check --- */

/* Precision of numeric(p[,s]) / decimal(p[,s]); 0 when not given. */
static int numeric_precision(const char *type) {
    const char *open = strchr(type, '(');
    return open ? atoi(open + 1) : 0;
}

bool store_sqlite_ddl_caveat(const char *column, const char *type, const char *datastore,
                             char *msg, size_t n) {
    if (store_kind_of(type) != STORE_K_NUMERIC) return false;
    int prec = numeric_precision(type);
    if (prec > 0 && prec <= 15) return false;
    snprintf(msg, n,
             "column '%s' (%s) into SQLite datastore '%s': SQLite holds a decimal as a "
             "number only to 15 significant digits; a value with more is stored as the "
             "nearest REAL (its last digits change, and hash re-sends its row every run). "
             "Declare %s(p,s) with p <= 15 if the values fit, or type text to keep the "
             "exact digits as text",
             column, type, datastore, strncasecmp(type, "decimal", 7) == 0 ? "decimal" : "numeric");
    return true;
}

/* SQLite names the schema on the index, not the table: the table is the
 * index's own file's. */
void store_sqlite_create_index_sql(store_sb *b, const char *schema, const char *index,
                                   const char *table, const char *const *cols, size_t n) {
    (void)schema;
    store_sb_add(b, "CREATE INDEX ");
    store_sb_quote(b, index);
    store_sb_add(b, " ON ");
    store_sb_quote(b, table);
    store_sb_add(b, " ");
    store_sb_quote_list(b, cols, n);
}

/* --- Reading the source while committing to the destination --- */

/* The journal mode of the destination connection ("wal", "delete", ...). */
static int journal_mode(void *impl, char *mode, size_t n, st_error *err) {
    const struct store_ops *ops = store_sqlite_driver();
    store_reader *r = NULL;
    snprintf(mode, n, "?");
    int rc = ops->query_small(impl, &r, "PRAGMA journal_mode", 0, NULL, err);
    if (rc != ST_OK) return rc;
    const char *const *row;
    int nc;
    rc = ops->reader_next(r, &row, &nc, err);
    if (rc == 1 && nc == 1 && row[0]) snprintf(mode, n, "%s", row[0]);
    ops->reader_close(r);
    return rc < 0 ? rc : ST_OK;
}

int store_sqlite_read_while_write(void *impl, const config_datastore *sd,
                                  const config_datastore *dd, st_error *err) {
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(sd->path, a) == NULL || realpath(dd->path, b) == NULL || strcmp(a, b) != 0)
        return ST_OK;
    char mode[32];
    int rc = journal_mode(impl, mode, sizeof mode, err);
    if (rc != ST_OK || strcmp(mode, "wal") == 0) return rc;
    return st_error_set(err, ST_EINVAL,
                        "datastores '%s' and '%s' are the same SQLite file %s, in journal mode "
                        "'%s': a full run reads the source while it commits to the destination, "
                        "which needs WAL (run once: sqlite3 %s 'PRAGMA journal_mode=WAL')",
                        sd->name, dd->name, config_datastore_shown(sd, sd->path), mode,
                        config_datastore_shown(sd, sd->path));
}
