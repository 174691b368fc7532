/*
 * store — the public front end of the datastore drivers (DESIGN §1).
 *
 * A `store` is one open connection to one datastore (a SQLite file, a
 * PostgreSQL or MySQL database). Everything above the store module (the
 * sync strategies, `ddl apply`, `check`, `init`) speaks only this header.
 * Three headers, one per reader:
 *   store.h          this one: open a store, read, write, fence, and ask
 *                    what differs between engines (store_default_batch,
 *                    store_column_fit, ...: never the engine's name);
 *   store_canon.h    the canonical-text rules of the values that cross it;
 *   store_backend.h  what a driver or a test double implements (struct
 *                    store_ops, struct store_local_ops), as
 *                    lock_backend.h and state_backend.h are for theirs.
 * Each engine is a `static const struct store_ops` table in
 * store_sqlite.c / store_pg.c / store_mysql.c.
 *
 * Reads stream: a reader yields one row at a time and never holds a whole
 * table (PostgreSQL: server-side cursor fetched in chunks; SQLite: one
 * stepping statement). Writes are applied by store_apply() (a batch in
 * memory) or store_apply_stream() (changes pulled one at a time, written as
 * they come) inside a transaction the caller opened with store_begin();
 * drivers implement only the streaming form, one kind of change per call.
 * Rows known to be new may also travel in an engine's native form between
 * two stores of that engine (the optional native_* methods: PostgreSQL's
 * binary COPY), never becoming canonical text.
 *
 * SQL identifiers are always quoted (store_quote()); values always travel as
 * parameters. Error messages name the datastore (and the table when there
 * is one) and never contain a password or connection string.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "store_canon.h"

/* A growable NUL-terminated string. All functions tolerate ENOMEM by
 * setting `oom`; callers check it once before use. */
typedef struct store_sb {
    char *s;
    size_t len, cap;
    bool oom;
} store_sb;

void store_sb_add(store_sb *b, const char *s);
void store_sb_addn(store_sb *b, const char *s, size_t n);
void store_sb_addf(store_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void store_sb_free(store_sb *b);
/* Appends `name` as a quoted identifier: "na""me". */
void store_sb_quote(store_sb *b, const char *name);
/* Appends "(a", "b")": n names quoted, comma-separated, in parentheses. */
void store_sb_quote_list(store_sb *b, const char *const *names, size_t n);

/* One table as synctool sees it: the mapped columns, their kinds, keys. */
typedef struct store_table {
    const char *datastore;    /* for messages */
    const char *schema;       /* may be NULL: the engine default */
    const char *table;        /* NULL when `query` is used */
    const char *query;        /* source query instead of a table, or NULL */
    /* A filter on `table` (an SQL condition) and per-column expressions
     * computed instead of reading the column (NULL entries: plain columns;
     * NULL: none). With either, store_sb_from() makes the table a derived
     * table selecting exactly the mapped columns under their names, so
     * every query a strategy sends carries them; planners merge the derived
     * table into the query (the key's and cursor's indexes still serve). */
    const char *where;
    const char *const *exprs;
    size_t ncols;
    const char *const *cols;  /* column names in this datastore */
    const char *const *types; /* config types, for DDL and casts */
    const store_kind *kinds;
    const bool *key;          /* key columns */
    /* Columns left out of every row text and row digest (store_sb_rowtext,
     * row_digest_expr): a pipeline's `compare: false` columns. Writes
     * (apply, native copy) still carry them. NULL: none. */
    const bool *ignored;
    /* An aggregate (a pipeline's `aggregate:`): the key columns are the
     * groups and the others aggregate expressions; store_sb_from groups the
     * filtered rows by the keys' expressions. `group_where`: one more
     * condition on the source rows (the groups delta recomputes, built with
     * store_sb_param_cast), NULL: every group. */
    bool aggregate;
    const char *group_where;
} store_table;

/* A change applied by store_apply(). `vals` has one entry per column of the
 * table (canonical text or NULL); for DELETE only the key entries are read.
 * UPSERT is "insert or update if different" when the caller does not know
 * whether the row exists (delta); INSERT / UPDATE when it does (full, hash). */
typedef enum { STORE_INSERT, STORE_UPDATE, STORE_UPSERT, STORE_DELETE } store_op;

typedef struct store_change {
    store_op op;
    const char *const *vals;
} store_change;

/* Yields the next change's values (one per column, valid until the next
 * call): 1 and *vals, 0 at the end, or a negative ST_E* code with `err`
 * filled. */
typedef int (*store_pull_fn)(void *arg, const char *const **vals, st_error *err);

typedef struct store_counts {
    int64_t inserted, updated, deleted;
} store_counts;

typedef struct store_column_info {
    char name[128];
    char type[128];   /* as the engine reports it */
} store_column_info;

typedef struct store_reader store_reader;
typedef struct store_native store_native;
typedef struct store store;

/* What store_ops.xact_floor reports. Instants are microseconds since the
 * epoch, UTC, by the server's clock. */
typedef struct store_xact_floor {
    int64_t now;         /* the server's time when the statement began */
    int64_t floor;       /* <= now: the oldest stamp an uncommitted row may carry */
    bool open;           /* a transaction in progress set `floor` (else floor == now) */
    char who[96];        /* that transaction, for the log ("pid 4242") */
    /* The session cannot see every other session's transactions (a role
     * without the grant in `grant`): `floor` covers only the visible ones. */
    bool blind;
    char grant[64];      /* "pg_read_all_stats", "PROCESS"; "" when no grant helps */
    /* The server is a replica (PostgreSQL: in recovery): the primary's
     * open transactions are not visible here at all; blind is set too. */
    bool standby;
    /* A timestamp without time zone written by now() is the wall time of
     * the server's default zone: its offset from UTC at `floor`, in
     * microseconds (offset_known false: not known). */
    int64_t wall_offset;
    bool offset_known;
} store_xact_floor;

/* How an existing column holds the values of its config type
 * (store_ops.column_fit). */
typedef enum {
    STORE_FIT_SAME = 0,   /* as ddl apply would make it */
    STORE_FIT_NO,         /* it does not, and synctool never changes it */
    STORE_FIT_MIGRATE,    /* it does not; ddl apply --migrate rewrites it */
    STORE_FIT_LEGACY      /* as earlier versions made it (values compare as
                           * text); ddl apply --migrate rewrites it */
} store_fit;

/* What a copy inside one engine did (store_local_*). */
typedef struct store_local_counts {
    int64_t read, inserted, updated, deleted;
    bool more;   /* page: the source has a row beyond the page */
    /* page: the source's rows whose cursor is NULL, counted by the page's
     * own scan when null_counted (store_local_pageq.count_null) */
    int64_t null_cursor;
    bool null_counted;
} store_local_counts;

/* One delta page of a copy inside one engine (store_local_page): the rows
 * of the source table (as source_schema names it) whose cursor is not
 * NULL and that `after` selects (NULL: every one), in `order`, at most
 * `limit` of them (plus one lookahead row). */
typedef struct store_local_pageq {
    int cursor;              /* the cursor column (the source table's index) */
    const char *after;       /* the keyset condition on (cursor, keys) past the watermark, or NULL */
    const char *since;       /* its cursor value (canonical text, the first parameter), or NULL */
    const char *order;       /* " ORDER BY ..." (cursor, then keys) */
    int np;                  /* after's parameters */
    const char *const *params;
    int64_t limit;
    bool count_null;         /* count the NULL cursors too where the page scans the whole table
                              * anyway (out->null_counted says whether it did) */
} store_local_pageq;


/* --- Front end (store.c) --- */

struct store_ops; /* a driver's table (store_backend.h) */

/* Opens the driver for ds->type. */
int store_open(store **out, const config_datastore *ds, st_error *err);
/* Opens ds through `ops` instead of the driver its type names (ops->open
 * gets ds): the seam through which tests plug in a mock store. ST_EINVAL
 * when ops->version is not STORE_OPS_VERSION. */
int store_open_with_ops(store **out, const struct store_ops *ops, const config_datastore *ds,
                        st_error *err);
void store_close(store *s);
const char *store_name(const store *s);   /* the datastore name */
const char *store_schema(const store *s, const char *schema); /* schema or default */
/* store_schema as messages show it: "(value hidden)" when it is one of the
 * datastore's secrets (a mysql dbname from ${VAR}; config.h). */
const char *store_schema_shown(const store *s, const char *schema);
/* One line of text (up to its first '\n') as output may show it: every
 * secret of datastore `ds` (its password, values from ${VAR}) replaced by
 * "(value hidden)". For printing SQL that names a secret schema. */
void store_hide_secrets(const config_datastore *ds, char *out, size_t n, const char *line);

int store_query(store *s, store_reader **out, const char *sql, int nparams,
                const char *const *params, st_error *err);
int store_query_small(store *s, store_reader **out, const char *sql, int nparams,
                      const char *const *params, st_error *err);
int store_next(store *s, store_reader *r, const char *const **row, int *ncols, st_error *err);
void store_reader_close(store *s, store_reader *r);
int store_exec(store *s, const char *sql, int nparams, const char *const *params,
               int64_t *affected, st_error *err);
int store_begin(store *s, st_error *err);
int store_commit(store *s, st_error *err);
int store_rollback(store *s);
/* Applies a batch of changes (any mix of ops) inside the current
 * transaction: deletes, then inserts, then updates, then upserts. */
int store_apply(store *s, const store_table *t, const store_change *ch, size_t n,
                store_counts *out, st_error *err);
/* Applies the changes `pull` yields, all of kind `op`, as they come. */
int store_apply_stream(store *s, const store_table *t, store_op op, store_pull_fn pull,
                       void *arg, store_counts *out, st_error *err);
int store_describe(store *s, const char *schema, const char *table,
                   store_column_info **out, size_t *n, st_error *err);
int store_ddl_type(store *s, const char *cfgtype, char *buf, size_t n, st_error *err);
int store_key_indexed(store *s, const char *schema, const char *table, const char *const *cols,
                      size_t n, bool *yes, st_error *err);

/* Whether store_sb_from() makes `t` a derived table (a query, a filter or
 * an expression column): its columns are then named through synctool_src. */
bool store_table_derived(const store_table *t);
/* Appends "schema"."table", or "(query) AS synctool_src", or for a table
 * with a filter or expressions "(SELECT ... FROM "schema"."table" WHERE
 * (filter)) AS synctool_src" (an aggregate: "... GROUP BY <keys>"). */
void store_sb_from(store_sb *b, const store *s, const store_table *t);
/* Appends a fully qualified column reference ("schema"."table"."col"):
 * ORDER BY terms must name the input column, not an output column of the
 * same name (PostgreSQL prefers output names in ORDER BY). */
void store_sb_colref(store_sb *b, const store *s, const store_table *t, const char *col);
/* The driver's SQL dialect (store_backend.h: canon_expr, param_cast,
 * order_term, sum64_expr, digest_sql, param_prefix, int_div), for the SQL
 * the strategies build. */
void store_sb_canon(store_sb *b, const store *s, store_kind kind, const char *qcol);
void store_sb_param_cast(store_sb *b, const store *s, const char *param, store_kind kind,
                         const char *type);
void store_sb_order_term(store_sb *b, const store *s, const char *qcol, store_kind kind);
void store_sb_sum64(store_sb *b, const store *s, const char *rowtext);
void store_sb_digest_sql(store_sb *b, const store *s, const char *from, const char *qkey,
                         const char *rowtext);
/* store_ops.bucket_sums_sql of s into b (true); false when s has none
 * (the caller writes the GROUP BY). */
bool store_sb_bucket_sums(store_sb *b, const store *s, const char *bucket, const char *rowhash,
                          const char *from, const char *where);
char store_param_prefix(const store *s);     /* '$' ($1) or '?' (?1) */
const char *store_int_div(const store *s);   /* "/" or "DIV" */
/* Opens the row list of "(a, b) IN (...)": "VALUES " or "" (mysql). */
const char *store_row_list(const store *s);
/* Appends the row text expression over the table's columns (store_canon.h). */
void store_sb_rowtext(store_sb *b, const store *s, const store_table *t);

/* Planner hint for the hash strategy's GROUP BY bucket queries: PostgreSQL
 * estimates one group per key and would sort the whole range to disk; with
 * `on` it hash-aggregates (SET enable_sort = off; RESET when off). The
 * penalty that setting adds to any plan with a sort would make PostgreSQL
 * JIT-compile even the small queries of the recursion (~200 ms each), so
 * `on` also sets jit = off. No-op on SQLite. */
int store_hint_aggregate(store *s, bool on, st_error *err);

/* Bounds how long this session may sit idle inside a transaction and how
 * long it waits for a row lock, in seconds (0 = leave as is). A run frozen
 * mid-batch (SIGSTOP, a paused VM) keeps its transaction and row locks
 * after its lease is gone; the server ends that session after idle_s, and a
 * newer run waiting on its rows gives up after lock_s instead of hanging.
 * PostgreSQL: idle_in_transaction_session_timeout and lock_timeout. No-op
 * on SQLite (a file lock; busy_timeout already bounds waits). */
int store_session_limits(store *s, int64_t idle_s, int64_t lock_s, st_error *err);

/* Session fencing for a writer holding fencing token `fence` for `key`
 * (the pipeline lock key). Tags this session (store_ops.fence_tag:
 * PostgreSQL application_name `synctool:<16 hex of md5(key)>:<fence>`,
 * MySQL a user-level lock of the same name) and ends every other session
 * tagged for `key` with an older token (fence_evict: PostgreSQL
 * pg_terminate_backend, MySQL KILL; the same role may): those belong to
 * runs that lost their lock, and one frozen mid-batch (even mid-COPY, which
 * no server timeout ends) would hold its row locks forever. *evicted gets
 * how many were ended; holder[n] describes an older holder that is still
 * there because it could not be ended (no privilege), else "". ST_ENOTIMPL
 * when the engine can neither find nor end another writer (SQLite, whose
 * file lock belongs to another process): holder[n] then names the token
 * last stored, the holder should one block this run. Another error when
 * this session could not be tagged or the sessions not be listed. */
int store_fence_session(store *s, const char *key, int64_t fence, int *evicted, char *holder,
                        size_t n, st_error *err);

/* Fencing. synctool_fence is created (store_fence_ensure_table) outside
 * any transaction, safe against concurrent creators on every engine.
 * store_fence_floor: the newest token of `key` the destination knows
 * (-1: none), read without waiting for a lock: a writer whose token is not
 * above it raises its token in the lock store first (lock_raise_fence), so
 * tokens never go backwards even after the lock store lost its counters.
 * store_fence_check, in the current transaction: when synctool_fence
 * already holds `token` for `key`, the row is read under a shared lock
 * (PostgreSQL FOR SHARE): any number of this run's transactions may hold it
 * at once, and a newer run's raise waits until they all end. Otherwise
 * `token` is stored unless a larger one is (a conditional upsert: an
 * exclusive row lock until commit; *exclusive, may be NULL, says so).
 * ST_ESTALE "fencing token N is stale (current M): this run lost its lock"
 * when a larger token is stored. store_fence_probe (`synctool check`):
 * whether the table can be created and written, changing nothing but,
 * where DDL cannot be rolled back (MySQL), creating the empty table. */
int store_fence_ensure_table(store *s, st_error *err);
int store_fence_floor(store *s, const char *key, int64_t *floor, st_error *err);
int store_fence_check(store *s, const char *key, int64_t token, bool *exclusive, st_error *err);
int store_fence_probe(store *s, st_error *err);

/* The first digest family (store_ops.digest_families) that both stores
 * offer for tables ta and tb, with its sum when `sum`; NULL if none. */
const char *store_digest_family(const store *a, const store_table *ta, const store *b,
                                const store_table *tb, bool sum);
/* store_ops.row_digest_expr of s; ST_ENOTIMPL when s has none. */
int store_row_digest_expr(const store *s, store_sb *b, const char *family, const store_table *t,
                          const char *rowtext, bool sum);

/* store_ops.keys_where of s; false (nothing appended) when s has none. */
bool store_keys_where(const store *s, store_sb *b, const char *qkey, const int64_t *k, size_t n);
/* store_ops.ranges_select of s; false (nothing appended) when s has none. */
bool store_ranges_select(const store *s, store_sb *b, const char *cols, const char *from,
                         const char *qkey, const int64_t (*r)[2], size_t n);
/* Native transfer (store_ops, version 6): the wrappers return ST_ENOTIMPL
 * when the driver has no such method (store_relax_commit: ST_OK, every
 * commit stays durable). */
int store_native_form(store *s, const char *select, char *buf, size_t n, st_error *err);
int store_native_open(store *s, store_native **out, const char *select, const store_table *t,
                      st_error *err);
int store_native_read(store *s, store_native *r, const char **data, size_t *len, int64_t *rows,
                      int64_t max, st_error *err);
void store_native_close(store *s, store_native *r);
int store_native_write_begin(store *s, const store_table *t, st_error *err);
int store_native_write(store *s, const char *data, size_t len, st_error *err);
int store_native_write_end(store *s, const store_table *t, bool abort, int64_t *rows,
                           st_error *err);
int store_relax_commit(store *s, bool on, st_error *err);
/* store_ops.xact_floor / column_stamped of s: ST_ENOTIMPL when the driver
 * has none (xact_floor: its writers are serialised, see there). */
int store_read_xact_floor(store *s, store_xact_floor *f, st_error *err);
int store_column_stamped(store *s, const char *schema, const char *table, const char *col,
                         bool *stamped, st_error *err);

/* --- Version 10: init and ddl apply (store_ops above) --- */
/* The driver's config_type for an engine type; the type itself when the
 * driver has none. */
void store_config_type(const store *s, const char *type, char *buf, size_t n);
/* store_ops.primary_key; ST_ENOTIMPL when the driver has none. */
int store_primary_key(store *s, const char *schema, const char *table, store_column_info **out,
                      size_t *n, st_error *err);
/* Makes `schema` (NULL: the default) exist unless it does: with `plan`,
 * the statement is appended to it ("...;\n") instead of run. *created
 * (may be NULL) says a statement was needed. A no-op on a driver without
 * schema_exists (SQLite: main always exists). */
int store_ensure_schema(store *s, const char *schema, store_sb *plan, bool *created,
                        st_error *err);
/* store_ops.prepare of ds's driver (before store_open); did[0] = '\0' and
 * ST_OK when the driver has none. */
int store_prepare(const config_datastore *ds, bool dry, char *did, size_t n, st_error *err);

/* --- Version 11 (store_engine.c): engine differences callers ask for --- */
/* Rows per write batch when a strategy sets none. */
int64_t store_default_batch(const store *s);
/* store_ops.text_key_order_unindexed. */
bool store_text_key_order_unindexed(const store *s);
/* store_ops.time_compare_unindexed. */
bool store_time_compare_unindexed(const store *s);
/* The engine type `ddl apply` writes for config type `cfgtype` of a key
 * column (`key`) or another one (store_ops.ddl_type, ddl_key_types). */
int store_ddl_col_type(store *s, const char *cfgtype, bool key, char *buf, size_t n,
                       st_error *err);
/* store_ops.ddl_table_options, "" when none. */
const char *store_ddl_table_options(const store *s);
/* store_ops.sample_format of s, appended after table t in FROM, reading
 * about pct percent of it: false (nothing appended) when the engine has
 * none, t is not a plain table (a query, a filter, expressions) or pct is
 * not below 100. */
bool store_sb_sample(store_sb *b, const store *s, const store_table *t, double pct);
/* store_ops.column_fit; without one: STORE_FIT_SAME when `want` is NULL
 * or spelt like `have`, else STORE_FIT_NO. */
store_fit store_column_fit(const store *s, const char *have, store_kind kind, const char *want);
/* store_ops.migrate_table; ST_ENOTIMPL when the driver has none. */
int store_migrate_table(store *s, const store_table *t, const store_column_info *have,
                        size_t nhave, int64_t *rows, st_error *err);
/* store_ops.ddl_caveat of ds's driver (no connection needed). */
bool store_ddl_caveat(const config_datastore *ds, const char *column, const char *type,
                      char *msg, size_t n);
/* 1 when `keys` (sorted, comma-joined) are a primary key or unique index
 * of schema.table, 0 when not, -1 not checked (no SQL for it, an error). */
int store_key_unique(store *s, const char *schema, const char *table, const char *keys);
/* store_ops.type_compatible; true without one. */
bool store_type_compatible(const store *s, const char *have, const char *want);
/* store_ops.create_index_sql; without one CREATE INDEX "i" ON "s"."t" (...). */
void store_create_index_sql(const store *s, store_sb *b, const char *schema, const char *index,
                            const char *table, const char *const *cols, size_t n);
/* store_ops.read_while_write of dst when src is of the same engine; ST_OK
 * otherwise. */
int store_read_while_write(store *dst, const store *src, const config_datastore *sds,
                           const config_datastore *dds, st_error *err);
/* The copy inside one engine (store_ops.local, store_local_ops above):
 * store_local_open says ST_ENOTIMPL when dst's driver has none or the
 * pair does not fit; the rest as the methods. */
typedef struct store_local store_local;
int store_local_open(store_local **out, store *dst, const config_datastore *dds,
                     const store_table *dt, store *src, const config_datastore *sds,
                     const store_table *st, st_error *err);
const char *store_local_source_schema(const store_local *l);
const char *store_local_how(const store_local *l);
int store_local_merge(store_local *l, store_local_counts *out, st_error *err);
int store_local_page(store_local *l, const store_local_pageq *pg, store_local_counts *out,
                     const char *const **last, st_error *err);
void store_local_close(store_local *l);

/* store_ops.set_interrupt (version 9); a no-op when the driver has none. */
void store_set_interrupt(store *s, atomic_int *flag);
/* The source's expected row count for progress (store_ops.estimate_rows,
 * else count(*)); *out is 0 when unknown. Never call it on a store whose
 * reader is open: progress opens a store of its own for it. */
int store_estimate_rows(store *s, const store_table *t, int64_t *out, st_error *err);

/* --- MD5 (store_md5.c, libcrypto EVP) --- */
void store_md5(const void *data, size_t len, unsigned char out[16]);
void store_md5_hex(const void *data, size_t len, char out[33]);
typedef struct store_md5_ctx {
    struct evp_md_ctx_st *ctx;   /* EVP_MD_CTX: from init until final */
} store_md5_ctx;
void store_md5_init(store_md5_ctx *m);
void store_md5_update(store_md5_ctx *m, const void *data, size_t len);
void store_md5_final(store_md5_ctx *m, unsigned char out[16]);
void store_md5_digest_hex(const unsigned char d[16], char out[33]);

#endif
