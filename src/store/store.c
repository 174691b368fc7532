/*
 * store — the front end of the datastore drivers (see store.h).
 *
 * A store is a driver vtable plus its connection state and the datastore
 * name used in every message. The wrappers here are thin on purpose: all
 * engine knowledge lives in the drivers, and what is the same on both
 * engines lives here once:
 *   - the FROM clause (quoted schema.table, or a source query as a derived
 *     table),
 *   - the row text used for hashing (hash texts joined with '|', '\' and
 *     '|' escaped, NULL as \N) built from the driver's hash expressions
 *     (store.h), so both engines hash byte-equal text,
 *   - secrets: every error a store returns (any driver, any method) is
 *     passed through store_scrub with the datastore's secrets (config.h:
 *     the password and every value that came from ${VAR}), so a server
 *     message that names a host, user, database or file shows
 *     "(value hidden)" instead; a message cut inside a secret loses the
 *     piece. store_schema_shown is the schema as messages show it;
 *   - the driver: store_open picks it from the datastore's type (driver_of);
 *     store_open_with_ops takes a table from the caller instead (the seam
 *     tests use for a mock store, tests/unit/support/mock_store.h): the
 *     same front end, secrets and checks around any table of the current
 *     STORE_OPS_VERSION,
 *   - fencing: synctool_fence(lock_key text primary key, token bigint) is
 *     read inside the caller's transaction under a shared row lock (the
 *     driver's fence_read_sql: FOR SHARE on PostgreSQL, LOCK IN SHARE MODE
 *     on MySQL; SQLite writers are serialised by the database lock). The
 *     run's own token: go on (several transactions of one run may hold the
 *     shared lock together). A larger one: the caller lost its lock. None
 *     or a smaller one: one conditional upsert (fence_raise_sql) raises it
 *     (zero affected rows: a larger token got there first). A newer run's
 *     raise waits for every transaction holding the shared lock, so no
 *     write of an older run can commit after a newer run's token. The
 *     engine's parts (creating the table safely under concurrency, tagging
 *     a writer's session, the newest token known, ending older holders'
 *     sessions) are store_ops methods (store.h, version 7); `check`'s probe
 *     is here, from ddl_transactional. Session limits and the aggregate
 *     hint are driver methods (store_ops.session_limits, hint_aggregate);
 *     the other version 11 entries are fronted by store_engine.c.
 *
 * Engine branches left here (issue 22): store_ops_for maps a datastore's
 * type to its driver: this is the store family's backend constructor, the
 * one place that may. Messages print a driver's `engine` name (a fact for
 * the reader, never a decision).
 */
#include "store_backend.h"
#include "store_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    const struct store_ops *ops;
    void *impl;
    char name[128];
    char schema[128];   /* default schema: the driver's, or the dbname (mysql) */
    char **secrets;     /* the datastore's secrets (config.h), NULL-terminated */
    /* The streaming read open on this connection (store_query's reader or
     * a native read), if any: no other statement may run until it is
     * closed (a PostgreSQL cursor FETCH or COPY, a MySQL streamed result
     * would be corrupted); store_busy refuses one with a clear error. */
    const void *stream;
};

/* Refuses a statement while a streaming read is open on this connection. */
static int store_busy(const store *s, st_error *err) {
    if (s->stream == NULL) return ST_OK;
    return st_error_set(err, ST_ERR, "datastore '%s': internal error: a statement was sent "
                        "while a streaming read is open on the same connection", s->name);
}

/* A message that filled its buffer was cut, maybe inside a secret: its
 * longest tail that begins a secret is dropped (the text was cut anyway). */
static void drop_cut_secret(char *msg, size_t n, char *const *secrets) {
    size_t len = strlen(msg);
    if (len + 1 < n) return;
    for (size_t i = 0; secrets[i]; i++) {
        size_t sl = strlen(secrets[i]);
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > 0; k--) {
            if (memcmp(msg + len - k, secrets[i], k) != 0) continue;
            len -= k;
            msg[len] = '\0';
            break;
        }
    }
}

/* Every error a store returns passes here: the datastore's secrets become
 * "(value hidden)" (store_scrub), whichever driver or layer wrote them. */
static int scrubbed(char *const *secrets, int rc, st_error *err) {
    if (rc >= 0 || err == NULL || secrets == NULL || secrets[0] == NULL) return rc;
    char raw[sizeof err->msg];
    memcpy(raw, err->msg, sizeof raw);
    drop_cut_secret(raw, sizeof raw, secrets);
    store_scrub(err->msg, sizeof err->msg, raw, (const char *const *)secrets);
    return rc;
}
#define SCRUBBED(s, err, call) scrubbed((s)->secrets, (call), (err))

static void free_secrets(char **v) {
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

/* A copy of ds->secrets (the store may outlive the config it came from). */
static int copy_secrets(char ***out, const config_datastore *ds) {
    *out = calloc(ds->nsecrets + 1, sizeof **out);
    if (*out == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < ds->nsecrets; i++)
        if (((*out)[i] = strdup(ds->secrets[i])) == NULL) return ST_ENOMEM;
    return ST_OK;
}

const struct store_ops *store_ops_for(const config_datastore *ds) {
    return ds->type == CONFIG_DS_POSTGRES ? store_pg_driver()
         : ds->type == CONFIG_DS_MYSQL    ? store_mysql_driver()
                                          : store_sqlite_driver();
}

int store_open(store **out, const config_datastore *ds, st_error *err) {
    return store_open_with_ops(out, store_ops_for(ds), ds, err);
}

int store_open_with_ops(store **out, const struct store_ops *ops, const config_datastore *ds,
                        st_error *err) {
    *out = NULL;
    if (ops == NULL || ops->version != STORE_OPS_VERSION)
        return st_error_set(err, ST_EINVAL, "datastore '%s': store driver '%s' has ops version "
                            "%d, want %d", ds->name, ops && ops->engine ? ops->engine : "?",
                            ops ? ops->version : -1, STORE_OPS_VERSION);
    if (ds->env_unset != NULL)
        return st_error_set(err, ST_EINVAL,
                            "datastore '%s': environment variable %s is not set (needed to "
                            "connect)", ds->name, ds->env_unset);
    store *s = calloc(1, sizeof *s);
    if (s == NULL || copy_secrets(&s->secrets, ds) != ST_OK) {
        if (s) free_secrets(s->secrets);
        free(s);
        return st_error_set(err, ST_ENOMEM, "datastore '%s': out of memory", ds->name);
    }
    s->ops = ops;
    snprintf(s->name, sizeof s->name, "%s", ds->name);
    snprintf(s->schema, sizeof s->schema, "%s",
             s->ops->default_schema ? s->ops->default_schema : ds->dbname ? ds->dbname : "");
    int rc = SCRUBBED(s, err, s->ops->open(&s->impl, ds, err));
    if (rc != ST_OK) {
        free_secrets(s->secrets);
        free(s);
        return rc;
    }
    *out = s;
    return ST_OK;
}

void store_close(store *s) {
    if (s == NULL) return;
    s->ops->close(s->impl);
    free_secrets(s->secrets);
    free(s);
}

const struct store_ops *store_ops_of(const store *s) { return s->ops; }
void *store_impl(const store *s) { return s->impl; }
int store_scrub_rc(const store *s, int rc, st_error *err) { return SCRUBBED(s, err, rc); }
int store_refuse_busy(const store *s, st_error *err) { return store_busy(s, err); }
const char *store_name(const store *s) { return s->name; }

int store_row_digest_expr(const store *s, store_sb *b, const char *family, const store_table *t,
                          const char *rowtext, bool sum) {
    if (s->ops->row_digest_expr == NULL) return ST_ENOTIMPL;
    return s->ops->row_digest_expr(b, family, t, rowtext, sum);
}

bool store_keys_where(const store *s, store_sb *b, const char *qkey, const int64_t *k, size_t n) {
    if (s->ops->keys_where == NULL) return false;
    s->ops->keys_where(b, qkey, k, n);
    return true;
}

bool store_ranges_select(const store *s, store_sb *b, const char *cols, const char *from,
                         const char *qkey, const int64_t (*r)[2], size_t n) {
    if (s->ops->ranges_select == NULL) return false;
    s->ops->ranges_select(b, cols, from, qkey, r, n);
    return true;
}

static bool offers(const store *s, const char *family, const store_table *t, bool sum) {
    if (s->ops->digest_families == NULL) return false;
    for (const char *const *f = s->ops->digest_families; *f; f++) {
        if (strcmp(*f, family) != 0) continue;
        store_sb b = {0};
        int rc = store_row_digest_expr(s, &b, family, t, "''", sum);
        store_sb_free(&b);
        return rc == ST_OK;
    }
    return false;
}

const char *store_digest_family(const store *a, const store_table *ta, const store *b,
                                const store_table *tb, bool sum) {
    if (a->ops->digest_families == NULL) return NULL;
    for (const char *const *f = a->ops->digest_families; *f; f++)
        if (offers(a, *f, ta, sum) && offers(b, *f, tb, sum)) return *f;
    return NULL;
}
const char *store_schema(const store *s, const char *schema) {
    return schema ? schema : s->schema;
}
void store_hide_secrets(const config_datastore *ds, char *out, size_t n, const char *line) {
    store_scrub(out, n, line, ds ? (const char *const *)ds->secrets : NULL);
}

const char *store_schema_shown(const store *s, const char *schema) {
    const char *v = store_schema(s, schema);
    for (size_t i = 0; s->secrets[i]; i++)
        if (strcmp(s->secrets[i], v) == 0) return STORE_HIDDEN;
    return v;
}

int store_query(store *s, store_reader **out, const char *sql, int nparams,
                const char *const *params, st_error *err) {
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    int rc = SCRUBBED(s, err, s->ops->query(s->impl, out, sql, nparams, params, err));
    if (rc == ST_OK) s->stream = *out;
    return rc;
}
int store_query_small(store *s, store_reader **out, const char *sql, int nparams,
                      const char *const *params, st_error *err) {
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return SCRUBBED(s, err, s->ops->query_small(s->impl, out, sql, nparams, params, err));
}
int store_next(store *s, store_reader *r, const char *const **row, int *ncols, st_error *err) {
    return SCRUBBED(s, err, s->ops->reader_next(r, row, ncols, err));
}
void store_reader_close(store *s, store_reader *r) {
    if (r != NULL && r == s->stream) s->stream = NULL;
    s->ops->reader_close(r);
}
int store_exec(store *s, const char *sql, int nparams, const char *const *params,
               int64_t *affected, st_error *err) {
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return SCRUBBED(s, err, s->ops->exec(s->impl, sql, nparams, params, affected, err));
}
int store_begin(store *s, st_error *err) {
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return SCRUBBED(s, err, s->ops->begin(s->impl, err));
}
int store_commit(store *s, st_error *err) {
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return SCRUBBED(s, err, s->ops->commit(s->impl, err));
}
int store_rollback(store *s) { return s->ops->rollback(s->impl); }
/* Pulls the changes of one kind from an array (store_apply). */
typedef struct array_pull {
    const store_change *ch;
    size_t n, i;
    store_op op;
} array_pull;

static int array_pull_next(void *arg, const char *const **vals, st_error *err) {
    (void)err;
    array_pull *a = arg;
    while (a->i < a->n && a->ch[a->i].op != a->op) a->i++;
    if (a->i == a->n) return 0;
    *vals = a->ch[a->i++].vals;
    return 1;
}

int store_apply(store *s, const store_table *t, const store_change *ch, size_t n,
                store_counts *out, st_error *err) {
    static const store_op order[] = {STORE_DELETE, STORE_INSERT, STORE_UPDATE, STORE_UPSERT};
    bool present[4] = {false};
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    for (size_t i = 0; i < n; i++) present[ch[i].op] = true;
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        if (!present[order[k]]) continue;
        array_pull a = {ch, n, 0, order[k]};
        int rc = SCRUBBED(s, err, s->ops->apply(s->impl, t, order[k], array_pull_next, &a, out, err));
        if (rc != ST_OK) return rc;
    }
    return ST_OK;
}

int store_apply_stream(store *s, const store_table *t, store_op op, store_pull_fn pull,
                       void *arg, store_counts *out, st_error *err) {
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return SCRUBBED(s, err, s->ops->apply(s->impl, t, op, pull, arg, out, err));
}

/* --- Native transfer (optional methods) --- */

static int no_native(const store *s, st_error *err) {
    return st_error_set(err, ST_ENOTIMPL, "datastore '%s': no native transfer", s->name);
}
int store_native_form(store *s, const char *select, char *buf, size_t n, st_error *err) {
    if (s->ops->native_form == NULL) return no_native(s, err);
    return s->ops->native_form(s->impl, select, buf, n, err);
}
int store_native_open(store *s, store_native **out, const char *select, const store_table *t,
                      st_error *err) {
    if (s->ops->native_open == NULL) return no_native(s, err);
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    int rc = s->ops->native_open(s->impl, out, select, t, err);
    if (rc == ST_OK) s->stream = *out;
    return rc;
}
int store_native_read(store *s, store_native *r, const char **data, size_t *len, int64_t *rows,
                      int64_t max, st_error *err) {
    return s->ops->native_read(r, data, len, rows, max, err);
}
void store_native_close(store *s, store_native *r) {
    if (r != NULL && (const void *)r == s->stream) s->stream = NULL;
    if (r != NULL) s->ops->native_close(r);
}
int store_native_write_begin(store *s, const store_table *t, st_error *err) {
    if (s->ops->native_write_begin == NULL) return no_native(s, err);
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return s->ops->native_write_begin(s->impl, t, err);
}
int store_native_write(store *s, const char *data, size_t len, st_error *err) {
    return s->ops->native_write(s->impl, data, len, err);
}
int store_native_write_end(store *s, const store_table *t, bool abort, int64_t *rows,
                           st_error *err) {
    return s->ops->native_write_end(s->impl, t, abort, rows, err);
}
int store_relax_commit(store *s, bool on, st_error *err) {
    return s->ops->relax_commit ? s->ops->relax_commit(s->impl, on, err) : ST_OK;
}
/* --- init and ddl apply (store_ops version 10) --- */

void store_config_type(const store *s, const char *type, char *buf, size_t n) {
    if (s->ops->config_type) s->ops->config_type(type, buf, n);
    else snprintf(buf, n, "%s", type);
}

int store_primary_key(store *s, const char *schema, const char *table, store_column_info **out,
                      size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    if (s->ops->primary_key == NULL)
        return st_error_set(err, ST_ENOTIMPL, "datastore '%s' (%s): primary keys cannot be read",
                            s->name, s->ops->engine);
    int rc = store_busy(s, err);
    if (rc == ST_OK)
        rc = SCRUBBED(s, err, s->ops->primary_key(s->impl, store_schema(s, schema), table, out,
                                                  n, err));
    return rc;
}

int store_ensure_schema(store *s, const char *schema, store_sb *plan, bool *created,
                        st_error *err) {
    if (created) *created = false;
    if (s->ops->schema_exists == NULL || s->ops->create_schema_sql == NULL) return ST_OK;
    const char *name = store_schema(s, schema);
    bool yes = false;
    int rc = store_busy(s, err);
    if (rc == ST_OK) rc = SCRUBBED(s, err, s->ops->schema_exists(s->impl, name, &yes, err));
    if (rc != ST_OK || yes) return rc;
    store_sb q = {0};
    s->ops->create_schema_sql(&q, name);
    if (q.oom) rc = st_error_set(err, ST_ENOMEM, "out of memory");
    else if (plan) store_sb_addf(plan, "%s;\n", q.s);
    else rc = store_exec(s, q.s, 0, NULL, NULL, err);
    store_sb_free(&q);
    if (rc == ST_OK && created) *created = true;
    return rc;
}

int store_prepare(const config_datastore *ds, bool dry, char *did, size_t n, st_error *err) {
    if (n > 0) did[0] = '\0';
    const struct store_ops *ops = store_ops_for(ds);
    if (ops->prepare == NULL) return ST_OK;
    return ops->prepare(ds, dry, did, n, err);
}

void store_set_interrupt(store *s, atomic_int *flag) {
    if (s->ops->set_interrupt) s->ops->set_interrupt(s->impl, flag);
}
int store_estimate_rows(store *s, const store_table *t, int64_t *out, st_error *err) {
    *out = 0;
    store_sb q = {0};
    if (s->ops->estimate_rows == NULL) store_sb_add(&q, "SELECT count(*) FROM ");
    store_sb_from(&q, s, t);
    if (q.oom) {
        store_sb_free(&q);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    int rc;
    if (s->ops->estimate_rows) {
        rc = SCRUBBED(s, err, s->ops->estimate_rows(s->impl, t, q.s, out, err));
    } else {
        store_reader *r = NULL;
        const char *const *row;
        int nc;
        rc = store_query_small(s, &r, q.s, 0, NULL, err);
        if (rc == ST_OK && (rc = store_next(s, r, &row, &nc, err)) == 1) {
            rc = ST_OK;
            if (nc > 0 && row[0]) *out = strtoll(row[0], NULL, 10);
        } else if (rc == 0) {
            rc = ST_OK;
        }
        if (r) store_reader_close(s, r);
    }
    store_sb_free(&q);
    return rc;
}

int store_read_xact_floor(store *s, store_xact_floor *f, st_error *err) {
    if (s->ops->xact_floor == NULL)
        return st_error_set(err, ST_ENOTIMPL, "datastore '%s': writers are serialised", s->name);
    memset(f, 0, sizeof *f);
    return SCRUBBED(s, err, s->ops->xact_floor(s->impl, f, err));
}
int store_column_stamped(store *s, const char *schema, const char *table, const char *col,
                         bool *stamped, st_error *err) {
    if (s->ops->column_stamped == NULL)
        return st_error_set(err, ST_ENOTIMPL, "datastore '%s': not implemented", s->name);
    return SCRUBBED(s, err, s->ops->column_stamped(s->impl, store_schema(s, schema), table, col,
                                                   stamped, err));
}

int store_describe(store *s, const char *schema, const char *table,
                   store_column_info **out, size_t *n, st_error *err) {
    return SCRUBBED(s, err, s->ops->describe(s->impl, store_schema(s, schema), table, out, n, err));
}
int store_ddl_type(store *s, const char *cfgtype, char *buf, size_t n, st_error *err) {
    return SCRUBBED(s, err, s->ops->ddl_type(s->impl, cfgtype, buf, n, err));
}
int store_key_indexed(store *s, const char *schema, const char *table, const char *const *cols,
                      size_t n, bool *yes, st_error *err) {
    return SCRUBBED(s, err, s->ops->key_indexed(s->impl, store_schema(s, schema), table, cols, n,
                                           yes, err));
}

bool store_table_derived(const store_table *t) {
    if (t->query != NULL || t->where != NULL || t->aggregate) return true;
    for (size_t i = 0; t->exprs != NULL && i < t->ncols; i++)
        if (t->exprs[i] != NULL) return true;
    return false;
}

/* An aggregate's GROUP BY: each key's expression, or its source column
 * (never the output name, which PostgreSQL would take for an input column
 * of the same name). */
static void sb_group_by(store_sb *b, const store_table *t) {
    const char *sep = " GROUP BY ";
    for (size_t i = 0; i < t->ncols; i++) {
        if (!t->key[i]) continue;
        store_sb_add(b, sep);
        sep = ", ";
        if (t->exprs != NULL && t->exprs[i] != NULL) store_sb_addf(b, "(%s)", t->exprs[i]);
        else store_sb_quote(b, t->cols[i]);
    }
}

/* A table with a filter or expressions: (SELECT "a", (expr) AS "b" FROM
 * "s"."t" WHERE (cond)) AS "synctool_src". */
static void sb_filtered(store_sb *b, const store *s, const store_table *t) {
    store_sb_add(b, "(SELECT ");
    for (size_t i = 0; i < t->ncols; i++) {
        if (i) store_sb_add(b, ", ");
        if (t->exprs != NULL && t->exprs[i] != NULL) store_sb_addf(b, "(%s) AS ", t->exprs[i]);
        store_sb_quote(b, t->cols[i]);
    }
    store_sb_add(b, " FROM ");
    store_sb_quote(b, store_schema(s, t->schema));
    store_sb_add(b, ".");
    store_sb_quote(b, t->table);
    if (t->where != NULL) store_sb_addf(b, " WHERE (%s)", t->where);
    if (t->group_where != NULL)
        store_sb_addf(b, " %s (%s)", t->where != NULL ? "AND" : "WHERE", t->group_where);
    if (t->aggregate) sb_group_by(b, t);
    store_sb_add(b, ") AS \"synctool_src\"");
}

void store_sb_from(store_sb *b, const store *s, const store_table *t) {
    if (t->query != NULL) {
        store_sb_addf(b, "(%s) AS \"synctool_src\"", t->query);
        return;
    }
    if (store_table_derived(t)) {
        sb_filtered(b, s, t);
        return;
    }
    store_sb_quote(b, store_schema(s, t->schema));
    store_sb_add(b, ".");
    store_sb_quote(b, t->table);
}

void store_sb_colref(store_sb *b, const store *s, const store_table *t, const char *col) {
    if (store_table_derived(t)) {
        store_sb_add(b, "\"synctool_src\"");
    } else {
        store_sb_quote(b, store_schema(s, t->schema));
        store_sb_add(b, ".");
        store_sb_quote(b, t->table);
    }
    store_sb_add(b, ".");
    store_sb_quote(b, col);
}

void store_sb_rowtext(store_sb *b, const store *s, const store_table *t) {
    if (s->ops->rowtext_expr != NULL) {
        s->ops->rowtext_expr(b, t);
        return;
    }
    const char *sep = "";
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->ignored != NULL && t->ignored[i]) continue; /* compare: false */
        store_sb_add(b, sep);
        sep = " || '|' || ";
        store_sb q = {0}, e = {0};
        store_sb_quote(&q, t->cols[i]);
        s->ops->hash_expr(&e, t->kinds[i], q.oom ? "" : q.s);
        /* Only text can contain the separator or the escape character: the
         * hash texts of the other kinds never do. */
        if (t->kinds[i] == STORE_K_TEXT)
            store_sb_addf(b, "COALESCE(replace(replace(%s, '\\', '\\\\'), '|', '\\|'), '\\N')",
                          e.oom ? "" : e.s);
        else
            store_sb_addf(b, "COALESCE(%s, '\\N')", e.oom ? "" : e.s);
        store_sb_free(&q);
        store_sb_free(&e);
    }
}

int store_hint_aggregate(store *s, bool on, st_error *err) {
    if (s->ops->hint_aggregate == NULL) return ST_OK;
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return SCRUBBED(s, err, s->ops->hint_aggregate(s->impl, on, err));
}

int store_session_limits(store *s, int64_t idle_s, int64_t lock_s, st_error *err) {
    if (s->ops->session_limits == NULL) return ST_OK;
    if (store_busy(s, err) != ST_OK) return ST_ERR;
    return SCRUBBED(s, err, s->ops->session_limits(s->impl, idle_s, lock_s, err));
}

int store_fence_session(store *s, const char *key, int64_t fence, int *evicted, char *holder,
                        size_t n, st_error *err) {
    *evicted = 0;
    holder[0] = '\0';
    int rc = SCRUBBED(s, err, s->ops->fence_tag(s->impl, key, fence, err));
    if (rc != ST_OK) return st_error_wrap(err, "datastore '%s': tagging the session", s->name);
    rc = SCRUBBED(s, err, s->ops->fence_evict(s->impl, key, fence, evicted, holder, n, err));
    if (rc == ST_ENOTIMPL) {
        /* the engine can neither tell nor end another writer: should one
         * block this run, it is named by the token last stored */
        int64_t last = -1;
        if (s->ops->fence_floor(s->impl, key, &last, err) == ST_OK && last >= 0 && last < fence)
            snprintf(holder, n, "an older holder of fencing token %lld or before (%s cannot end "
                     "another writer's session)", (long long)last, s->ops->engine);
        return st_error_set(err, ST_ENOTIMPL, "datastore '%s': %s cannot end another writer's "
                            "session", s->name, s->ops->engine);
    }
    if (rc != ST_OK) return st_error_wrap(err, "datastore '%s': ending older sessions", s->name);
    return ST_OK;
}

/* --- Fencing --- */

int store_fence_ensure_table(store *s, st_error *err) {
    int rc = SCRUBBED(s, err, s->ops->fence_create(s->impl, err));
    if (rc != ST_OK) return st_error_wrap(err, "datastore '%s': creating synctool_fence", s->name);
    return ST_OK;
}

int store_fence_floor(store *s, const char *key, int64_t *floor, st_error *err) {
    *floor = -1;
    int rc = SCRUBBED(s, err, s->ops->fence_floor(s->impl, key, floor, err));
    if (rc != ST_OK) return st_error_wrap(err, "datastore '%s': reading fencing tokens", s->name);
    return ST_OK;
}

/* The probe row, in a transaction rolled back. */
static int fence_probe_row(store *s, st_error *err) {
    int rc = store_begin(s, err);
    if (rc == ST_OK && s->ops->ddl_transactional) rc = store_fence_ensure_table(s, err);
    if (rc == ST_OK) {
        const char *params[] = {"synctool:check", "0"};
        rc = store_exec(s, s->ops->fence_raise_sql, 2, params, NULL, err);
    }
    int rb = store_rollback(s);
    if (rc == ST_OK && rb != ST_OK)
        rc = st_error_set(err, rb, "datastore '%s': rolling the probe back", s->name);
    return rc;
}

int store_fence_probe(store *s, st_error *err) {
    int rc = s->ops->ddl_transactional ? ST_OK : store_fence_ensure_table(s, err);
    return rc == ST_OK ? fence_probe_row(s, err) : rc;
}

static int64_t fence_current(store *s, const char *key) {
    store_sb q = {0};
    store_sb_addf(&q, "SELECT token FROM synctool_fence WHERE lock_key = %c1", s->ops->param_prefix);
    store_reader *r = NULL;
    int64_t cur = -1;
    const char *p[1] = {key};
    if (!q.oom && store_query_small(s, &r, q.s, 1, p, NULL) == ST_OK) {
        const char *const *row;
        int nc;
        if (store_next(s, r, &row, &nc, NULL) == 1 && row[0]) cur = strtoll(row[0], NULL, 10);
        store_reader_close(s, r);
    }
    store_sb_free(&q);
    return cur;
}

static int fence_stale(store *s, const char *key, int64_t token, int64_t cur, st_error *err) {
    if (cur < 0) cur = fence_current(s, key);
    return st_error_set(err, ST_ESTALE,
                        "fencing token %lld is stale (current %lld): this run lost its lock",
                        (long long)token, (long long)cur);
}

/* The stored token for key under a shared row lock (-1: no row). */
static int fence_read_shared(store *s, const char *key, int64_t *cur, st_error *err) {
    const char *p[1] = {key};
    store_reader *r = NULL;
    *cur = -1;
    int rc = store_query_small(s, &r, s->ops->fence_read_sql, 1, p, err);
    if (rc != ST_OK) return rc;
    const char *const *row;
    int nc;
    rc = store_next(s, r, &row, &nc, err);
    if (rc == 1 && row[0]) *cur = strtoll(row[0], NULL, 10);
    store_reader_close(s, r);
    return rc < 0 ? rc : ST_OK;
}

int store_fence_check(store *s, const char *key, int64_t token, bool *exclusive, st_error *err) {
    if (exclusive) *exclusive = false;
    int64_t cur;
    int rc = fence_read_shared(s, key, &cur, err);
    if (rc != ST_OK) return st_error_wrap(err, "datastore '%s': fencing check", s->name);
    if (cur == token) return ST_OK;
    if (cur > token) return fence_stale(s, key, token, cur, err);
    char tok[32];
    snprintf(tok, sizeof tok, "%lld", (long long)token);
    const char *p[2] = {key, tok};
    int64_t n = 0;
    rc = store_exec(s, s->ops->fence_raise_sql, 2, p, &n, err);
    if (rc != ST_OK) return st_error_wrap(err, "datastore '%s': fencing check", s->name);
    if (n == 0) return fence_stale(s, key, token, -1, err);
    if (exclusive) *exclusive = true;
    return ST_OK;
}

/* --- Driver helpers --- */

/* The length of the longest secret that starts at p, 0 if none does. */
static size_t secret_at(const char *p, const char *const *secrets) {
    size_t best = 0;
    for (size_t i = 0; secrets && secrets[i]; i++) {
        size_t l = strlen(secrets[i]);
        if (l > best && strncmp(p, secrets[i], l) == 0) best = l;
    }
    return best;
}

/* One pass: `end` is where the current hidden stretch ends; every secret
 * that starts inside it extends it, so overlapping or adjacent secrets
 * become one "(value hidden)" and no character of any of them is copied. */
void store_scrub(char *out, size_t n, const char *msg, const char *const *secrets) {
    static const char hidden[] = STORE_HIDDEN;
    if (n == 0) return;
    size_t k = 0, end = 0;
    bool hiding = false;   /* msg[i - 1] was part of a hidden stretch */
    for (size_t i = 0; msg[i] && msg[i] != '\n'; i++) {
        size_t m = secret_at(msg + i, secrets);
        if (m > 0 && !hiding) {
            if (k + sizeof hidden > n) break;
            memcpy(out + k, hidden, sizeof hidden - 1);
            k += sizeof hidden - 1;
        }
        if (m > 0 && i + m > end) end = i + m;
        hiding = i < end;
        if (hiding) continue;
        if (k + 2 > n) break;
        out[k++] = msg[i];
    }
    out[k] = '\0';
}
