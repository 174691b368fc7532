/*
 * store_engine — the front end of the store_ops version 11 entries: the
 * engine differences callers ask for instead of testing an engine's name
 * (issue 22). Each function reads one data field or calls one optional
 * method of the store's driver, and says what happens without it; none of
 * them knows an engine. Errors go through the store's scrubbing
 * (store_scrub_rc) like every other error a store returns; statements are
 * refused while a streaming read is open (store_refuse_busy).
 *
 * The copy inside one engine (store_local_*) wraps the driver's
 * store_local_ops and its state; callers test for it by opening one
 * (ST_ENOTIMPL: none), never by engine name.
 */
#include "store_backend.h"
#include "store_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_BATCH 10000

/* --- The driver's SQL dialect --- */

void store_sb_canon(store_sb *b, const store *s, store_kind kind, const char *qcol) {
    store_ops_of(s)->canon_expr(b, kind, qcol);
}
void store_sb_param_cast(store_sb *b, const store *s, const char *param, store_kind kind,
                         const char *type) {
    store_ops_of(s)->param_cast(b, param, kind, type);
}
void store_sb_order_term(store_sb *b, const store *s, const char *qcol, store_kind kind) {
    store_ops_of(s)->order_term(b, qcol, kind);
}
void store_sb_sum64(store_sb *b, const store *s, const char *rowtext) {
    store_ops_of(s)->sum64_expr(b, rowtext);
}
void store_sb_digest_sql(store_sb *b, const store *s, const char *from, const char *qkey,
                         const char *rowtext) {
    store_ops_of(s)->digest_sql(b, from, qkey, rowtext);
}
bool store_sb_bucket_sums(store_sb *b, const store *s, const char *bucket, const char *rowhash,
                          const char *from, const char *where) {
    const struct store_ops *o = store_ops_of(s);
    if (o->bucket_sums_sql == NULL) return false;
    o->bucket_sums_sql(b, bucket, rowhash, from, where);
    return true;
}
char store_param_prefix(const store *s) { return store_ops_of(s)->param_prefix; }
const char *store_int_div(const store *s) {
    const char *d = store_ops_of(s)->int_div;
    return d ? d : "/";
}

const char *store_row_list(const store *s) {
    const char *r = store_ops_of(s)->row_list;
    return r ? r : "";
}

/* --- Engine differences --- */

int64_t store_default_batch(const store *s) {
    int64_t b = store_ops_of(s)->default_batch;
    return b > 0 ? b : DEFAULT_BATCH;
}

bool store_text_key_order_unindexed(const store *s) {
    return store_ops_of(s)->text_key_order_unindexed;
}

bool store_time_compare_unindexed(const store *s) {
    return store_ops_of(s)->time_compare_unindexed;
}

int store_ddl_col_type(store *s, const char *cfgtype, bool key, char *buf, size_t n,
                       st_error *err) {
    char want[160];
    if (key && store_ops_of(s)->ddl_key_types)
        snprintf(want, sizeof want, "%s%s", STORE_DDL_KEY, cfgtype);
    else
        snprintf(want, sizeof want, "%s", cfgtype);
    return store_ddl_type(s, want, buf, n, err);
}

bool store_sb_sample(store_sb *b, const store *s, const store_table *t, double pct) {
    const char *f = store_ops_of(s)->sample_format;
    if (f == NULL || t->table == NULL || store_table_derived(t) || pct <= 0 || pct >= 100)
        return false;
    store_sb_addf(b, f, pct);
    return true;
}

const char *store_ddl_table_options(const store *s) {
    const char *o = store_ops_of(s)->ddl_table_options;
    return o ? o : "";
}

store_fit store_column_fit(const store *s, const char *have, store_kind kind, const char *want) {
    const struct store_ops *ops = store_ops_of(s);
    if (ops->column_fit) return ops->column_fit(have, kind, want);
    if (want == NULL) return STORE_FIT_SAME;
    return strcasecmp(have, want) == 0 ? STORE_FIT_SAME : STORE_FIT_NO;
}

int store_migrate_table(store *s, const store_table *t, const store_column_info *have,
                        size_t nhave, int64_t *rows, st_error *err) {
    *rows = 0;
    const struct store_ops *ops = store_ops_of(s);
    if (ops->migrate_table == NULL)
        return st_error_set(err, ST_ENOTIMPL, "datastore '%s': column types are never changed",
                            store_name(s));
    return store_scrub_rc(s, ops->migrate_table(s, t, have, nhave, rows, err), err);
}

bool store_ddl_caveat(const config_datastore *ds, const char *column, const char *type,
                      char *msg, size_t n) {
    const struct store_ops *ops = store_ops_for(ds);
    return ops->ddl_caveat != NULL && ops->ddl_caveat(column, type, ds->name, msg, n);
}

int store_key_unique(store *s, const char *schema, const char *table, const char *keys) {
    const char *sql = store_ops_of(s)->key_unique_sql;
    if (sql == NULL) return -1;
    const char *params[3] = {table, store_schema(s, schema), keys};
    store_reader *r = NULL;
    if (store_query(s, &r, sql, 3, params, NULL) != ST_OK) return -1;
    const char *const *row;
    int nc;
    int got = store_next(s, r, &row, &nc, NULL);
    store_reader_close(s, r);
    return got < 0 ? -1 : got == 1;
}

bool store_type_compatible(const store *s, const char *have, const char *want) {
    const struct store_ops *ops = store_ops_of(s);
    return ops->type_compatible == NULL || ops->type_compatible(have, want);
}

void store_create_index_sql(const store *s, store_sb *b, const char *schema, const char *index,
                            const char *table, const char *const *cols, size_t n) {
    const struct store_ops *ops = store_ops_of(s);
    if (ops->create_index_sql) {
        ops->create_index_sql(b, schema, index, table, cols, n);
        return;
    }
    store_sb_add(b, "CREATE INDEX ");
    store_sb_quote(b, index);
    store_sb_add(b, " ON ");
    store_sb_quote(b, schema);
    store_sb_add(b, ".");
    store_sb_quote(b, table);
    store_sb_add(b, " ");
    store_sb_quote_list(b, cols, n);
}

int store_read_while_write(store *dst, const store *src, const config_datastore *sds,
                           const config_datastore *dds, st_error *err) {
    const struct store_ops *ops = store_ops_of(dst);
    if (ops != store_ops_of(src) || ops->read_while_write == NULL) return ST_OK;
    if (store_refuse_busy(dst, err) != ST_OK) return ST_ERR;
    return store_scrub_rc(dst, ops->read_while_write(store_impl(dst), sds, dds, err), err);
}

/* --- The copy inside one engine --- */

struct store_local {
    const struct store_local_ops *ops;
    void *impl;
    store *dst;
};

int store_local_open(store_local **out, store *dst, const config_datastore *dds,
                     const store_table *dt, store *src, const config_datastore *sds,
                     const store_table *st, st_error *err) {
    *out = NULL;
    const struct store_local_ops *ops = store_ops_of(dst)->local;
    if (ops == NULL)
        return st_error_set(err, ST_ENOTIMPL, "datastore '%s': no copy inside the engine",
                            store_name(dst));
    store_local *l = calloc(1, sizeof *l);
    if (l == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    int rc = ops->open(&l->impl, dst, dds, dt, src, sds, st, err);
    if (rc != ST_OK) {
        free(l);
        return rc;
    }
    l->ops = ops;
    l->dst = dst;
    *out = l;
    return ST_OK;
}

const char *store_local_source_schema(const store_local *l) {
    return l->ops->source_schema(l->impl);
}

const char *store_local_how(const store_local *l) { return l->ops->how(l->impl); }

int store_local_merge(store_local *l, store_local_counts *out, st_error *err) {
    return store_scrub_rc(l->dst, l->ops->merge(l->impl, out, err), err);
}

int store_local_page(store_local *l, const store_local_pageq *pg, store_local_counts *out,
                     const char *const **last, st_error *err) {
    return store_scrub_rc(l->dst, l->ops->page(l->impl, pg, out, last, err), err);
}

void store_local_close(store_local *l) {
    if (l == NULL) return;
    l->ops->close(l->impl);
    free(l);
}
