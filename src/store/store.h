/*
 * store — datastore drivers behind one documented vtable (DESIGN §1).
 *
 * A `store` is one open connection to one datastore (SQLite file or
 * PostgreSQL database). Everything above this header (the sync strategies,
 * `ddl apply`) speaks only this interface; each engine is a
 * `static const struct store_ops` table in store_sqlite.c / store_pg.c.
 *
 * The canonical value representation. Every value that crosses this
 * interface is text in a *canonical* form decided by the column's kind
 * (store_kind, derived from the config type), or NULL for SQL NULL. The
 * rules, with how each engine produces them, are written out at the top of
 * store_canon.c (a new driver follows them to the byte):
 *
 *   INT        decimal integer, no sign for positives:       -42
 *   NUMERIC    exact decimal, no exponent, no trailing zeros: 12.5, 0, -0.001
 *   FLOAT      PostgreSQL's float8 text (shortest exact):     0.1, 1e+20
 *   BOOL       t or f
 *   TIMESTAMPTZ UTC, ISO with a space, fraction without trailing zeros
 *              (none when zero):                        2025-10-15 08:00:00.5
 *   TIMESTAMP  the same, the wall time as stored:       2025-10-15 08:00:00
 *   DATE       2025-10-15
 *   TIME       PostgreSQL's time output: 08:00:00, 08:00:00.5
 *   BYTES      PostgreSQL's bytea hex output: \x00ff (lower case)
 *   TEXT       the text itself (UTF-8)
 *
 * The time forms are PostgreSQL's ISO output and the text SQLite's date
 * functions produce and compare correctly (datetime(), BETWEEN literals).
 * The canonical form is computed by the database itself (drivers provide
 * store_canon_expr(), a SQL expression per kind; SQLite evaluates it with
 * C functions this module registers), so both engines produce byte-equal
 * text for equal values. The *row text* used for hashing joins the values'
 * *hash text* with '|', escapes '\' and '|' with a backslash and writes NULL
 * as \N, so ('a','bc') and ('ab','c') and (NULL) and ('\N') all differ.
 * A table's ignored columns (compare: false) are not part of the row text.
 * The hash text is the canonical text (hash_expr exists so that a driver
 * may produce it more cheaply).
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

typedef enum {
    STORE_K_TEXT = 0,
    STORE_K_INT,
    STORE_K_NUMERIC,
    STORE_K_FLOAT,
    STORE_K_BOOL,
    STORE_K_TIMESTAMPTZ,
    STORE_K_TIMESTAMP,
    STORE_K_DATE,
    STORE_K_TIME,
    STORE_K_BYTES
} store_kind;

/* Maps a config type ("bigint", "numeric(12,2)", "timestamptz", ...) to its
 * kind. Unknown types are TEXT (compared and copied as their text form). */
store_kind store_kind_of(const char *sqltype);

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

/* One table as synctool sees it: the mapped columns, their kinds, keys. */
typedef struct store_table {
    const char *datastore;    /* for messages */
    const char *schema;       /* may be NULL: the engine default */
    const char *table;        /* NULL when `query` is used */
    const char *query;        /* source query instead of a table, or NULL */
    size_t ncols;
    const char *const *cols;  /* column names in this datastore */
    const char *const *types; /* config types, for DDL and casts */
    const store_kind *kinds;
    const bool *key;          /* key columns */
    /* Columns left out of every row text and row digest (store_sb_rowtext,
     * row_digest_expr): a pipeline's `compare: false` columns. Writes
     * (apply, native copy) still carry them. NULL: none. */
    const bool *ignored;
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
     *   "pg-colhash-v1" PostgreSQL only: the XOR of each value's extended
     *                   hash (hashint8extended, hash_numeric_extended,
     *                   timestamp_hash_extended, hashtextextended COLLATE
     *                   "C", ...; float8 0 hashed as text, telling -0),
     *                   seeded with the column's position, NULL a constant:
     *                   PostgreSQL equality per kind, with no canonical
     *                   text or composite row built; summable (sum of int8
     *                   is exact in numeric).
     *   "canon-md5-v1"  the first 16 hex digits of md5(row text): any
     *                   engine, across engines (not summable here; the
     *                   summed checksums use sum64_expr). */
    const char *const *digest_families;
    /* Appends, for `family`, the expression of one row's digest (sum =
     * false; text, equal for equal rows on every driver offering the
     * family) or of the sum of the rows' digests as decimal text, which
     * the caller reduces mod 2^64 (sum = true). `rowtext` is the row text
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
    /* ddl apply: ddl_type is asked for key columns with STORE_DDL_KEY. */
    bool ddl_key_types;
    /* ddl apply: appended to CREATE TABLE (...), e.g. " WITH (...)"; NULL: nothing. */
    const char *ddl_table_options;
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
};


/* What a copy inside one engine did (store_local_*). */
typedef struct store_local_counts {
    int64_t read, inserted, updated, deleted;
} store_local_counts;

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
    /* delta, in the caller's transaction: upserts the rows of `select` (a
     * SELECT of st's columns, in st's order, over source_schema, with its
     * parameters) into dt: *out the rows read, inserted and updated (an
     * unchanged row is not counted); *last the last row of the page as
     * canonical text (ncols values, valid until the next call), NULL when
     * the page was empty. */
    int (*page)(void *impl, const char *select, int np, const char *const *params,
                store_local_counts *out, const char *const **last, st_error *err);
    /* Ends the copy (detaches what open attached). NULL is a no-op. */
    void (*close)(void *impl);
};

#define STORE_DDL_KEY "key:"

/* --- Front end (store.c) --- */

/* Opens the driver for ds->type. */
int store_open(store **out, const config_datastore *ds, st_error *err);
void store_close(store *s);
const struct store_ops *store_ops_of(const store *s);
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

/* Appends "schema"."table" (or "(query) AS synctool_src"). */
void store_sb_from(store_sb *b, const store *s, const store_table *t);
/* Appends a fully qualified column reference ("schema"."table"."col"):
 * ORDER BY terms must name the input column, not an output column of the
 * same name (PostgreSQL prefers output names in ORDER BY). */
void store_sb_colref(store_sb *b, const store *s, const store_table *t, const char *col);
/* Appends the row text expression over the table's columns (see top). */
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
/* The engine type `ddl apply` writes for config type `cfgtype` of a key
 * column (`key`) or another one (store_ops.ddl_type, ddl_key_types). */
int store_ddl_col_type(store *s, const char *cfgtype, bool key, char *buf, size_t n,
                       st_error *err);
/* store_ops.ddl_table_options, "" when none. */
const char *store_ddl_table_options(const store *s);
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
int store_local_page(store_local *l, const char *select, int np, const char *const *params,
                     store_local_counts *out, const char *const **last, st_error *err);
void store_local_close(store_local *l);

/* store_ops.set_interrupt (version 9); a no-op when the driver has none. */
void store_set_interrupt(store *s, atomic_int *flag);
/* The source's expected row count for progress (store_ops.estimate_rows,
 * else count(*)); *out is 0 when unknown. Never call it on a store whose
 * reader is open: progress opens a store of its own for it. */
int store_estimate_rows(store *s, const store_table *t, int64_t *out, st_error *err);

/* Reduces a decimal integer text (any size, optional '-') modulo 2^64. */
uint64_t store_mod64(const char *dec);

/* --- Canonical values in C (store_canon.c): used by the SQLite functions
 * and by tests. Each writes into buf (>= 64 bytes for non-text kinds) and
 * returns buf, or NULL if the input cannot be read as that kind. --- */
const char *store_canon_int64(int64_t v, char *buf, size_t n);
const char *store_canon_double(double v, store_kind kind, char *buf, size_t n);
/* Canonical TIMESTAMPTZ / TIMESTAMP / DATE text of instant t (microseconds
 * since the epoch, UTC); NULL outside years 0000-9999. */
const char *store_canon_time_us(int64_t t, store_kind kind, char *buf, size_t n);

/* Shortest round-trip decimal digits of |v| (store_dtoa.c): d gets the
 * significant digits without trailing zeros ("15" for 1.5e-05), *exp10 the
 * decimal exponent of the first one (-5); returns the digit count. v must
 * be finite; 0 gives "0". */
#define STORE_DTOA_DIGITS 24
int store_dtoa_shortest(double v, char d[STORE_DTOA_DIGITS], int *exp10);
/* Canonicalises text input for `kind`; TEXT is returned unchanged (pointer
 * to `in`). NULL if unparseable. */
const char *store_canon_text(const char *in, store_kind kind, char *buf, size_t n);
/* Rewrites a timestamp in the canonical form of earlier versions in place
 * into today's (see top): "2025-10-15T08:00:00.500000Z" ->
 * "2025-10-15 08:00:00.5". Returns buf. */
char *store_canon_hash_time(char *buf);
/* Appends `v` (or \N for NULL) escaped for the row text. */
void store_sb_rowvalue(store_sb *b, const char *v);

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

/* Compares two canonical key values of `kind` (numbers numerically, the
 * rest bytewise), as the engines order them. */
int store_key_cmp(store_kind kind, const char *a, const char *b);

#endif
