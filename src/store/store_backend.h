/*
 * store_backend — what a store backend implements: the documented driver
 * vtable (struct store_ops) and the optional copy inside one engine
 * (struct store_local_ops), as src/lock/lock_backend.h and
 * src/state/state_backend.h are for theirs.
 *
 * Drivers (store_sqlite.c, store_pg.c, store_mysql.c) and test doubles
 * implement these tables; everything above the store module speaks the
 * front end of store.h, which never shows them. The per-entry comments say
 * which methods are required and what a caller does without an optional
 * one (store.c, store_engine.c). SQL builders of a driver (canon_expr,
 * param_cast, ...) are reached from above through store.h's store_sb_*
 * wrappers.
 */
#ifndef ST_STORE_BACKEND_H
#define ST_STORE_BACKEND_H

#include "store.h"

struct store_local_ops;

/*
 * The driver vtable. All methods are required. `impl` is the driver's own
 * connection state, created by open. Methods that fail fill `err` with a
 * message naming the datastore and return a negative ST_E* code.
 */
#define STORE_OPS_VERSION 11
struct store_ops {
    int version;               /* STORE_OPS_VERSION */
    const char *engine;        /* "sqlite", "postgres" or "mysql" */
    const char *default_schema; /* "main" or "public"; NULL: the datastore's dbname (mysql) */
    char param_prefix;          /* '?' (sqlite and mysql ?N) or '$' (postgres $N) */
    const char *int_div;        /* integer division operator; NULL: "/" (mysql: DIV) */
    const char *row_list;       /* what opens the rows of `(a, b) IN (...)`: "VALUES " (a
                                 * set the engine can hash or index: sqlite, postgres);
                                 * NULL: "" (mysql's row list, sorted and searched) */

    /* Connects. ST_EUNAVAIL if unreachable or the credentials are refused. */
    int (*open)(void **impl, const config_datastore *ds, st_error *err);
    /* Closes; NULL is a no-op. Rolls back an open transaction. */
    void (*close)(void *impl);

    /* Appends the SQL expression giving the canonical text of `qcol` (an
     * already quoted column reference) for `kind`. */
    void (*canon_expr)(store_sb *b, store_kind kind, const char *qcol);
    /* Appends the SQL expression giving the hash text (see top) of `qcol`
     * for `kind`: canon_expr's, except for timestamps. */
    void (*hash_expr)(store_sb *b, store_kind kind, const char *qcol);
    /* Optional: appends one expression giving the whole row text of the
     * compared columns of `t` (store.h: values' hash texts joined with '|',
     * text escaped, NULL as \N), byte for byte what store_sb_rowtext
     * builds from hash_expr, computed in one call per row (SQLite:
     * st_rowtext, no intermediate strings). NULL: store_sb_rowtext builds
     * it from hash_expr. */
    void (*rowtext_expr)(store_sb *b, const store_table *t);
    /* Appends the SQL casting parameter `param` (e.g. "$1") to `type` (a
     * config type) so comparisons with the raw column use its index. */
    void (*param_cast)(store_sb *b, const char *param, store_kind kind, const char *type);
    /* Appends the ORDER BY term for a key column (PostgreSQL adds COLLATE
     * "C" for text so both engines order keys by bytes). */
    void (*order_term)(store_sb *b, const char *qcol, store_kind kind);
    /* Appends the expression for the 64-bit checksum aggregate of row texts
     * `rowtext`: sum of the first 16 hex digits of md5 as integers (reduced
     * mod 2^64 by the caller). */
    void (*sum64_expr)(store_sb *b, const char *rowtext);
    /* Appends the key range digest query: parameter 1 is a JSON array of
     * [lo, hi] integer pairs; one row per pair, (i, count, digest): i its
     * 0-based position, count the rows with lo <= key <= hi, digest the hex
     * md5 of their row texts joined with '|' in ascending key order (NULL
     * when there are none). `from` is the quoted table, `qkey` the quoted
     * integer key column, `rowtext` the row text expression. One range is
     * digested at a time, reading it in key order through the key's index
     * (server memory: one range's row texts). */
    void (*digest_sql)(store_sb *b, const char *from, const char *qkey, const char *rowtext);

    /* Starts a streaming query; rows come from reader_next. Parameters are
     * text (NULL = SQL NULL). Only one reader per store at a time, and
     * nothing else runs on that store until it is closed (PostgreSQL
     * keeps the next FETCH in flight while the caller works). */
    int (*query)(void *impl, store_reader **out, const char *sql, int nparams,
                 const char *const *params, st_error *err);
    /* Like query, for results the caller knows are small (aggregates,
     * pages, segments): one plain statement, no cursor, so PostgreSQL may
     * use a parallel plan. */
    int (*query_small)(void *impl, store_reader **out, const char *sql, int nparams,
                       const char *const *params, st_error *err);
    /* 1 and *row (ncols values, valid until the next call), 0 at the end, or
     * an error code. */
    int (*reader_next)(store_reader *r, const char *const **row, int *ncols, st_error *err);
    /* Ends the query (the rest of the rows are discarded). NULL is a no-op. */
    void (*reader_close)(store_reader *r);

    /* Runs one statement; *affected (may be NULL) gets the changed rows. */
    int (*exec)(void *impl, const char *sql, int nparams, const char *const *params,
                int64_t *affected, st_error *err);
    int (*begin)(void *impl, st_error *err);
    int (*commit)(void *impl, st_error *err);
    int (*rollback)(void *impl);

    /* Applies, inside the current transaction, every change `pull` yields
     * (all of kind `op`), counting what really changed (an UPSERT of an
     * identical row changes nothing). Rows are written as they are pulled
     * (PostgreSQL: COPY into the staging table while the caller is still
     * reading its source), so a page need not be in memory. When pull
     * fails it has filled `err`; the driver returns its code unchanged. */
    int (*apply)(void *impl, const store_table *t, store_op op, store_pull_fn pull, void *arg,
                 store_counts *out, st_error *err);

    /* Columns of schema.table in order. ST_ENOTFOUND if the table does not
     * exist. Caller frees *out. */
    int (*describe)(void *impl, const char *schema, const char *table,
                    store_column_info **out, size_t *n, st_error *err);
    /* *yes when cols[0..n-1] are, in that order, the leading columns of
     * one index of schema.table (or cols[0] is SQLite's rowid, n = 1), so
     * reading a key range is an index range scan. */
    int (*key_indexed)(void *impl, const char *schema, const char *table,
                       const char *const *cols, size_t n, bool *yes, st_error *err);
    /* The engine type `ddl apply` writes for a config type, normalised the
     * way describe() reports it, into buf. A cfgtype prefixed with
     * STORE_DDL_KEY asks for the type of a key column (MySQL cannot index
     * TEXT or BLOB: varchar(255) / varbinary(255)); only engines whose
     * ops say key_types are given the prefix. */
    int (*ddl_type)(void *impl, const char *cfgtype, char *buf, size_t n, st_error *err);

    /* --- Optional: per-row digests (sync_hash_rows.c). NULL when a driver
     * does not offer them (drivers written for version 4 leave them NULL);
     * the hash strategy then keeps bisecting by range digests. --- */
    /* The digest families this driver computes, fastest first, NULL-
     * terminated. Two stores compare digests only of a family both name
     * (store_digest_family). Families are versioned: a changed formula is a
     * new name, so two synctool versions never compare unlike digests.
     *   "colhash-v2"    the XOR of each value's PostgreSQL extended hash
     *                   (hashint8extended, hash_numeric_extended with a
     *                   sign/NaN/Infinity flag, timestamp_hash_extended,
     *                   hashtextextended COLLATE "C", ...; float8 0 hashed
     *                   as text, telling -0), seeded with the column's
     *                   position, NULL a constant: equal exactly when the
     *                   canonical texts are; PostgreSQL in SQL with no
     *                   canonical text built, SQLite in C from the
     *                   canonical text (store_canon.c); summable (mod
     *                   2^64). pg-colhash-v1, its PostgreSQL-only
     *                   predecessor, missed a numeric's sign and is
     *                   offered no more.
     *   "canon-md5-v1"  the first 16 hex digits of md5(row text): any
     *                   engine, across engines (not summable here; the
     *                   summed checksums use sum64_expr). */
    const char *const *digest_families;
    /* Appends, for `family`, the expression of one row's digest (sum =
     * false; text, equal for equal rows on every driver offering the
     * family) or of the sum of the rows' digests as decimal text, which
     * the caller reduces mod 2^64 (sum = true; a family may combine the
     * rows otherwise, my-native-v2 by XOR: the caller only compares it). `rowtext` is the row text
     * expression (store_sb_rowtext); `t` names the columns and kinds.
     * ST_ENOTIMPL when the family (or its sum) is not offered. */
    int (*row_digest_expr)(store_sb *b, const char *family, const store_table *t,
                           const char *rowtext, bool sum);

    /* --- Optional: many key ranges in one query, each read through the
     * key index (sync_hash_rows.c, hash leaves). NULL: callers OR the
     * ranges or filter one range scan. --- */
    /* Appends SELECT `cols` FROM `from` for the rows whose integer key
     * `qkey` lies in one of the n ranges r[i] = [lo, hi] (ascending,
     * disjoint), ORDER BY the key (the first of `cols`): one index range
     * scan per range (the
     * planners of some engines turn an OR of n ranges into one scan of the
     * whole index). `cols` may only name columns of `from`. */
    void (*ranges_select)(store_sb *b, const char *cols, const char *from, const char *qkey,
                          const int64_t (*r)[2], size_t n);
    /* --- Optional (version 6): native transfer of rows known to be new
     * between two stores of one engine (sync_full_copy.c), no value
     * turned into canonical text and back. NULL when a driver has none
     * (drivers written for version 5 leave them NULL); full then streams
     * canonical text. --- */
    /* Describes into buf the form in which the columns of `select` (a
     * SELECT of plain columns) travel natively: the engine, the format's
     * version and every column's exact type. Rows pass natively between
     * two stores whose descriptions are equal. ST_ENOTIMPL when there is
     * no such form (PostgreSQL: a column of a type defined in the database,
     * whose binary form may name its OID). */
    int (*native_form)(void *impl, const char *select, char *buf, size_t n, st_error *err);
    /* Starts reading the rows of `select` in native form (PostgreSQL: COPY
     * (select) TO STDOUT (FORMAT binary): one statement, one snapshot). `t`
     * names the columns; its key columns are checked non-NULL as rows
     * arrive (ST_EINVAL "key column 'c' is NULL in datastore 'd'"). */
    int (*native_open)(void *impl, store_native **out, const char *select, const store_table *t,
                       st_error *err);
    /* 1 and the next piece: *rows whole rows (1 to max) in *len bytes at
     * *data, valid until the next call, to be handed unchanged to
     * native_write; 0 at the end; or an error. Waits for a piece's first
     * row only, then takes what has arrived (up to 64 KiB). */
    int (*native_read)(store_native *r, const char **data, size_t *len, int64_t *rows,
                       int64_t max, st_error *err);
    /* Ends the read; one still running is cancelled. NULL is a no-op. */
    void (*native_close)(store_native *r);
    /* Inside the caller's transaction: starts writing rows in native form
     * into table t (PostgreSQL: COPY t (cols) FROM STDIN (FORMAT binary)),
     * then native_write for each piece, native_write_end once (*rows: the
     * rows written; `abort` discards them and fails the transaction). */
    int (*native_write_begin)(void *impl, const store_table *t, st_error *err);
    int (*native_write)(void *impl, const char *data, size_t len, st_error *err);
    int (*native_write_end)(void *impl, const store_table *t, bool abort, int64_t *rows,
                            st_error *err);
    /* With `on`, this session's commits from now on return without
     * waiting until they are durable; the next durable commit on the same
     * server makes them durable too (PostgreSQL: SET synchronous_commit =
     * off; the WAL is one sequence, flushed in order). With `off`, commits
     * wait again, the current transaction's included (RESET); called
     * outside a transaction it also commits durably at once, so every
     * earlier relaxed commit is durable when it returns. A relaxed setting
     * made in a transaction that rolls back is undone with it. NULL: every
     * commit is durable. */
    int (*relax_commit)(void *impl, bool on, st_error *err);

    /* --- Fencing (version 7, required): the engine's part of the
     * store_fence_* functions below. synctool_fence(lock_key, token) holds
     * per lock key the newest fencing token that wrote. --- */
    /* Whether DDL is part of the transaction (rolled back with it). */
    bool ddl_transactional;
    /* Creates synctool_fence unless it exists, safe against concurrent
     * creators (a racing CREATE never fails the run). Outside a
     * transaction, or inside one when ddl_transactional. */
    int (*fence_create)(void *impl, st_error *err);
    /* Statements on the table, parameter 1 the lock key: the stored token
     * under a shared row lock; and the conditional raise (parameter 2 the
     * token): store it unless a larger one is stored (0 rows affected). */
    const char *fence_read_sql;
    const char *fence_raise_sql;
    /* Tags this session as the writer holding `token` for `key`, in a form
     * fence_evict and fence_floor of another session find (PostgreSQL:
     * application_name; MySQL: a user-level lock named after both). */
    int (*fence_tag)(void *impl, const char *key, int64_t token, st_error *err);
    /* The newest token of `key` this destination knows (the committed row;
     * PostgreSQL also the tags of live sessions), -1 for none. Waits for no
     * lock. */
    int (*fence_floor)(void *impl, const char *key, int64_t *floor, st_error *err);
    /* Ends every other session tagged for `key` with a token below `token`
     * (their holders lost the lock; one frozen mid-batch keeps its locks,
     * and one mid-COPY is ended by no server timeout). *ended: how many.
     * One it may not end (no privilege) is described in holder[n] (else
     * ""). ST_ENOTIMPL: the engine cannot end another writer (SQLite). */
    int (*fence_evict)(void *impl, const char *key, int64_t token, int *ended, char *holder,
                       size_t n, st_error *err);

    /* --- Optional (version 8): how far a delta watermark may advance
     * (sync_delta.c, DESIGN §7). NULL when every writer is serialised
     * (SQLite: a row's stamp is taken while holding the write lock, so
     * no transaction can still commit a row below one already read). --- */
    /* Fills *f (f zeroed by the caller): the server's current time and the
     * earliest instant a transaction still in progress on this server may
     * have stamped a row with — rows committed later cannot carry an older
     * now()/CURRENT_TIMESTAMP. Runs its own statements: call it before the
     * read it protects, never while a reader is open. */
    int (*xact_floor)(void *impl, store_xact_floor *f, st_error *err);
    /* *stamped when column `col` of schema.table gets its value from the
     * server's clock: a default of now() / CURRENT_TIMESTAMP (or ON UPDATE
     * CURRENT_TIMESTAMP), or the table has a trigger that may set it. */
    int (*column_stamped)(void *impl, const char *schema, const char *table, const char *col,
                          bool *stamped, st_error *err);

    /* --- Optional (version 9): reads that an interrupt can end, and a
     * row estimate that reads no rows. NULL when a driver has none. --- */
    /* From now on, while `flag` (the process's SIGINT/SIGTERM flag, set by
     * a signal handler) is non-zero, a read waiting on the server (a
     * cursor FETCH, a COPY out, a streamed row, a small query) stops
     * within about 100 ms: the statement is cancelled on the server and
     * the read fails with ST_EINTR "interrupted". Commits, rollbacks and
     * cleanup statements are never cancelled. NULL turns it off. */
    void (*set_interrupt)(void *impl, atomic_int *flag);
    /* An estimate of the rows of `t` (`from` is its FROM term,
     * store_sb_from: a quoted table or a parenthesised query) that never
     * reads for long (a slow view costs no more than a table): statistics
     * or the planner's estimate, or an exact count that finishes quickly.
     * NULL: count(*). */
    int (*estimate_rows)(void *impl, const store_table *t, const char *from, int64_t *out,
                         st_error *err);

    /* --- Optional (version 10): what `synctool init` reads from a source
     * table, and what `ddl apply` creates before a destination table
     * (src/cli/cmd_init.c, sync_ddl.c). NULL when a driver has none. --- */
    /* The config type (docs/configuration.md, "Column types") for a column
     * whose engine type is `type` as describe() reports it, into buf: the
     * type whose kind reads and compares its values exactly and which
     * `ddl apply` can create on any engine where one exists. */
    void (*config_type)(const char *type, char *buf, size_t n);
    /* The primary key columns of schema.table, in key order (only `name`
     * is set; caller frees *out); *n = 0 when it has none. ST_ENOTFOUND
     * if the table does not exist. */
    int (*primary_key)(void *impl, const char *schema, const char *table,
                       store_column_info **out, size_t *n, st_error *err);
    /* *yes when `schema` exists (PostgreSQL: a schema; MySQL: a database). */
    int (*schema_exists)(void *impl, const char *schema, bool *yes, st_error *err);
    /* Appends the statement that creates `schema` unless it exists
     * (PostgreSQL CREATE SCHEMA IF NOT EXISTS; MySQL CREATE DATABASE IF NOT
     * EXISTS, utf8mb4 with the binary collation). */
    void (*create_schema_sql)(store_sb *b, const char *schema);
    /* Called before open, with no connection: makes what open needs exist
     * (SQLite: the directory of the file, made with its missing parents).
     * `dry`: changes nothing. did[n] gets what was done (or, dry, would
     * be): "created directory /srv/data", "" when nothing was missing. */
    int (*prepare)(const config_datastore *ds, bool dry, char *did, size_t n, st_error *err);

    /* --- Version 11: what callers once decided by the engine's name
     * (issue 22). Data fields are 0 / NULL and methods NULL when a driver
     * has nothing to say; the defaults are given per entry. --- */
    /* Rows per write batch when a strategy sets no batch_size; 0: 10,000. */
    int64_t default_batch;
    /* Text keys are ordered with a collation clause (order_term) that an
     * index of the column's own collation cannot serve, so a keyset walk
     * over a text key sorts instead of scanning the index. */
    bool text_key_order_unindexed;
    /* Timestamps are compared through a function of their canonical form
     * (SQLite: st_canon, since stored text may be in any ISO spelling),
     * which no index serves: "any row after this timestamp?" scans up to
     * the first one — up to the whole table when new rows sit at its end. */
    bool time_compare_unindexed;
    /* ddl apply: ddl_type is asked for key columns with STORE_DDL_KEY. */
    bool ddl_key_types;
    /* ddl apply: appended to CREATE TABLE (...), e.g. " WITH (...)"; NULL: nothing. */
    const char *ddl_table_options;
    /* full with parallel: N (sync_parallel.c): a printf format appended to a
     * plain table's name in FROM to read a random sample of about %g
     * percent of it (PostgreSQL: " TABLESAMPLE SYSTEM (%g)"); NULL: the
     * engine has none (the boundaries are then read from every key). */
    const char *sample_format;
    /* ddl apply, sync: how an existing column whose engine type is `have`
     * (as describe reports it) holds values of `kind`, whose ddl_type is
     * `want` (NULL when not known). NULL: the same spelling (case aside)
     * fits, any other does not and is never changed. */
    store_fit (*column_fit)(const char *have, store_kind kind, const char *want);
    /* ddl apply --migrate: rewrites table `t` (its columns named and typed
     * as the config says; `have` the columns it has now, describe's
     * order) in place, every row kept, inside the caller's transaction;
     * *rows the rows kept. Only called when column_fit said
     * STORE_FIT_MIGRATE or STORE_FIT_LEGACY. Takes the front-end store:
     * it runs several statements through the checked wrappers. */
    int (*migrate_table)(store *s, const store_table *t, const store_column_info *have,
                         size_t nhave, int64_t *rows, st_error *err);
    /* validate, ddl apply: a caveat about column `column` of config type
     * `type` written into datastore `datastore` (a value the engine cannot
     * hold exactly), into msg[n]; false when there is none. */
    bool (*ddl_caveat)(const char *column, const char *type, const char *datastore, char *msg,
                       size_t n);
    /* check: SQL answering one row when the sorted, comma-joined column
     * list (parameter 3) is a primary key or a unique index of table
     * (parameter 1) in schema (parameter 2). NULL: not checked. */
    const char *key_unique_sql;
    /* check: whether a source column of engine type `have` reads values of
     * config type `want` exactly. NULL: any value fits any column. */
    bool (*type_compatible)(const char *have, const char *want);
    /* check: appends the statement creating index `index` on `cols` of
     * schema.table (as shown to a user: schema may read "(value hidden)"). */
    void (*create_index_sql)(store_sb *b, const char *schema, const char *index,
                             const char *table, const char *const *cols, size_t n);
    /* The hash strategy's GROUP BY bucket queries (store_hint_aggregate). */
    int (*hint_aggregate)(void *impl, bool on, st_error *err);
    /* store_session_limits. */
    int (*session_limits)(void *impl, int64_t idle_s, int64_t lock_s, st_error *err);
    /* full: whether this connection (the destination) may commit while
     * datastore `src` (of this engine) is read on another connection;
     * ST_EINVAL naming the fix when it cannot (SQLite: one file, not in
     * WAL mode). */
    int (*read_while_write)(void *impl, const config_datastore *src, const config_datastore *dst,
                            st_error *err);
    /* full, delta, hash: a copy between two tables of this engine that the
     * engine runs itself (store_local_*); NULL: none. */
    const struct store_local_ops *local;
    /* --- Optional: the rows of many integer keys (sync_hash_rows.c, the
     * hash row pass's fetch). Appends " WHERE qkey <is one of> k[0..n)"
     * in a form the engine parses and plans faster than an IN list of n
     * literals (PostgreSQL: one array literal). NULL: an IN list. --- */
    void (*keys_where)(store_sb *b, const char *qkey, const int64_t *k, size_t n);
    /* --- Optional: the hash strategy's bucket sums without the engine's
     * GROUP BY sort (sync_hash.c). Appends a query giving what
     * "SELECT bucket, count(*), <sum of rowhash mod 2^64> FROM from
     * WHERE where GROUP BY 1" gives: one row per non-empty bucket, the
     * sum as decimal text (the caller reduces it mod 2^64). `bucket` is an
     * integer expression (0 <= bucket < 2^24 for every row `where`
     * admits), `rowhash` one row's digest of a summable family
     * (row_digest_expr, sum = false). SQLite: one aggregate over the
     * range scan that sums into an array by bucket, instead of a sorter
     * that writes every row's compared values to temporary files. NULL:
     * the GROUP BY. --- */
    void (*bucket_sums_sql)(store_sb *b, const char *bucket, const char *rowhash,
                            const char *from, const char *where);
};


/*
 * store_ops.local: a copy between two tables of one engine that the
 * destination's engine runs itself, no value becoming canonical text
 * (store_sqlite_local.c). `impl` is the driver's copy state. The caller
 * opens the transactions (merge and page run inside one) and keeps the
 * strategy's rules (fencing, batches, watermarks, progress).
 */
struct store_local_ops {
    /* Prepares a copy from table st of src (datastore sds) into table dt
     * of dst (dds); both store_tables must outlive the copy.
     * ST_ENOTIMPL when this pair cannot be copied inside the engine
     * (another engine, a source query, a key the engine compares
     * otherwise than the generic path): the caller takes the generic
     * path. */
    int (*open)(void **impl, store *dst, const config_datastore *dds, const store_table *dt,
                store *src, const config_datastore *sds, const store_table *st, st_error *err);
    /* The schema under which dst's connection names the source table. */
    const char *(*source_schema)(const void *impl);
    /* For the log: where the copy runs ("SQLite (source attached)"). */
    const char *(*how)(const void *impl);
    /* Makes dt equal st in the caller's transaction: *out the source's
     * rows (read) and the rows deleted, updated and inserted. A NULL
     * source key is refused ("key column 'c' is NULL in datastore 'd'"). */
    int (*merge)(void *impl, store_local_counts *out, st_error *err);
    /* delta, in the caller's transaction: upserts the page's rows (struct
     * store_local_pageq: st's rows past the watermark in cursor and key
     * order, at most pg->limit) into dt: *out the rows read, inserted and
     * updated (an unchanged row is not counted), and with pg->count_null
     * the NULL cursors if the page's scan counted them (out->null_counted);
     * *last the last row of the page as canonical text (ncols values, valid
     * until the next call), NULL when the page was empty. The page reads
     * limit + 1 rows: the last of them is only looked at (out->more:
     * another page exists), so a page that ends the changes needs no empty
     * page read after it. */
    int (*page)(void *impl, const store_local_pageq *pg, store_local_counts *out,
                const char *const **last, st_error *err);
    /* Ends the copy (detaches what open attached). NULL is a no-op. */
    void (*close)(void *impl);
};

#define STORE_DDL_KEY "key:"

/* The driver table of an open store. */
const struct store_ops *store_ops_of(const store *s);

#endif
