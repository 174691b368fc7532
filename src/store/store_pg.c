/*
 * store_pg — the PostgreSQL driver (libpq) behind struct store_ops.
 *
 * Connection: PQconnectdbParams with keyword arrays (no conninfo string is
 * ever built, so nothing needs escaping and nothing leaks into messages);
 * connect_timeout 10 s, client_encoding UTF8, extra_float_digits 1 (the
 * shortest exact float text that store_canon.c mirrors), DateStyle ISO and
 * TimeZone UTC (the canonical timestamp text is ISO output in UTC, and a
 * canonical timestamptz written back, which has no offset, means UTC): each
 * SET is checked, and DateStyle and TimeZone as the server reports them, so a
 * refused setting fails the connection naming it. libpq's connection
 * errors are reduced to their first line and scrubbed of the datastore's
 * secrets (store_scrub; store.c scrubs every other error too) before they
 * reach a message.
 *
 * Small, bounded results (aggregates, keyset pages, segments) use
 * query_small: one plain statement, so the planner may go parallel.
 * Reads stream through a server-side cursor (DECLARE ... NO SCROLL CURSOR,
 * FETCH 1000 rows first, doubling up to 10000), so memory is bounded by
 * one chunk whatever the table size. A reader opened outside a
 * transaction starts a REPEATABLE READ one (one snapshot for the whole
 * scan) and ends it on close.
 *
 * Writes (apply): per call (one kind of change, pulled row by row and
 * COPYed as it comes), inside the caller's transaction,
 *   1. CREATE TEMP TABLE synctool_up / synctool_del ... ON COMMIT DROP
 *      with the destination's own column types (AS SELECT ... WITH NO DATA),
 *   2. COPY the canonical text into them (text format, escaped),
 *   (rows the caller knows are new, STORE_INSERT, skip 1-3: they are COPYed
 *   straight into the destination table)
 *   3. the merge (pg_merge): UPDATE ... FROM synctool_up WHERE the
 *      non-key values are DISTINCT, then — only if that did not change
 *      every staged row — INSERT ... ON CONFLICT (key) DO NOTHING for the
 *      new keys (and the UPDATE once more for rows a concurrent writer
 *      inserted in between), so unchanged rows are never locked or
 *      rewritten and inserts and updates are counted exactly; and
 *      DELETE ... USING synctool_del. A delta page of changed rows is one
 *      UPDATE (an INSERT ... ON CONFLICT DO UPDATE locked every row first
 *      and cost 1.5-2x as much).
 *
 * Native transfer (rows known new between PostgreSQL tables of the same
 * column types: binary COPY out of one server and into the other) lives in
 * store_pg_copy.c, reaching the connection through store_pg_int.h.
 *
 * Canonical expressions (store.h): trim_scale(x)::text for numerics,
 * (x AT TIME ZONE 'UTC')::text for timestamptz (ISO output: a third of
 * to_char()'s cost), x::text otherwise; the hash text is the same. Text
 * keys order with COLLATE "C" (bytewise, as SQLite's BINARY).
 */
#include "store_backend.h"
#include "store_driver.h"
#include "store_pg_params.h"
#include "store_pg_int.h"
#include "../time/st_time.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Cursor chunks start at PG_FETCH_FIRST rows and double up to PG_FETCH. */
#define PG_FETCH 10000
#define PG_FETCH_FIRST 1000

typedef struct pg_impl {
    PGconn *conn;
    char name[128];
    int cursor_seq;
    char nl_table[300];   /* pg_prefer_index_joins: the table last checked ... */
    bool nl_indexed;      /* ... and whether its key leads an index */
    atomic_int *intr; /* set_interrupt: ends reads */
    bool cancelled;       /* the statement being read was cancelled by it */
    int64_t cancel_at;    /* monotonic ms of the last cancel request */
} pg_impl;

struct store_reader {
    pg_impl *impl;
    PGresult *res;
    int pos, ntuples, ncols;
    bool own_txn, done;
    bool pending;        /* the next FETCH is already sent (pg_fetch) */
    int chunk;           /* rows asked for by the last FETCH sent */
    char cursor[48];
    const char **row;
};

/* --- Errors --- */

/* Never an empty cause: libpq leaves its message empty when a result is
 * missing because of a protocol-state mix-up (a statement sent while a
 * COPY or FETCH was in flight); the message then says what state the
 * connection was in. A read ended by an interrupt is ST_EINTR. */
static int pg_fail_res(pg_impl *g, PGresult *res, st_error *err, const char *what) {
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (m == NULL || *m == '\0') m = PQerrorMessage(g->conn);
    char clean[sizeof err->msg];
    store_scrub(clean, sizeof clean, m ? m : "", NULL);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* 55P03 lock_not_available (lock_timeout): another writer holds the
     * rows; the job manager skips such a run instead of failing it */
    int code = PQstatus(g->conn) != CONNECTION_OK          ? ST_EUNAVAIL
             : state != NULL && strcmp(state, "55P03") == 0 ? ST_EBUSY
                                                           : ST_ERR;
    if (clean[0] == '\0' && code == ST_EUNAVAIL)
        snprintf(clean, sizeof clean, "the connection to the server was lost");
    else if (clean[0] == '\0')
        snprintf(clean, sizeof clean, "no result from the server (%s; connection %s, "
                 "transaction %s)", res ? PQresStatus(PQresultStatus(res)) : "no result",
                 PQisBusy(g->conn) ? "busy" : "idle",
                 PQtransactionStatus(g->conn) == PQTRANS_ACTIVE ? "active"
                 : PQtransactionStatus(g->conn) == PQTRANS_INERROR ? "failed"
                 : PQtransactionStatus(g->conn) == PQTRANS_INTRANS ? "open" : "none");
    if (g->cancelled) {
        code = ST_EINTR;
        snprintf(clean, sizeof clean, "interrupted (the statement was cancelled)");
    }
    g->cancelled = false;
    st_error_set(err, code, "datastore '%s' (postgres): %s: %s", g->name, what, clean);
    PQclear(res);
    return code;
}

/* --- Interruptible reads --- */

static void pg_set_interrupt(void *impl, atomic_int *flag) {
    ((pg_impl *)impl)->intr = flag;
}

/* Waits until the statement sent last has a result ready (PQisBusy false),
 * polling the socket every 100 ms; when the interrupt flag is up, asks the
 * server once to cancel the statement (its result is then an error, which
 * pg_fail_res reports as ST_EINTR) and keeps waiting for that result, so
 * the connection stays in step. */
/* Once the interrupt flag is up: asks the server to cancel the running
 * statement (once per statement). */
static void pg_cancel_if_interrupted(pg_impl *g) {
    if (g->intr == NULL || !*g->intr) return;
    /* A cancel that reaches the backend before it has started the statement
     * is dropped by the server (it cancels only what runs): while the result
     * is still outstanding, ask again every 200 ms. */
    int64_t now = st_time_mono_ms();
    if (g->cancelled && now - g->cancel_at < 200) return;
    char msg[256];
    PGcancel *cn = PQgetCancel(g->conn);
    if (cn != NULL) PQcancel(cn, msg, sizeof msg);
    PQfreeCancel(cn);
    g->cancelled = true;
    g->cancel_at = now;
}

/* Up to 100 ms for the socket to become readable, then takes what came. */
static int pg_poll(pg_impl *g, st_error *err, const char *what) {
    pg_cancel_if_interrupted(g);
    struct pollfd p = {.fd = PQsocket(g->conn), .events = POLLIN};
    if (p.fd < 0) return pg_fail_res(g, NULL, err, what);
    int n = poll(&p, 1, 100);
    if (n < 0 && errno != EINTR) return pg_fail_res(g, NULL, err, what);
    if (n > 0 && !PQconsumeInput(g->conn)) return pg_fail_res(g, NULL, err, what);
    return ST_OK;
}

static int pg_wait(pg_impl *g, st_error *err, const char *what) {
    g->cancelled = false;
    int rc = ST_OK;
    while (rc == ST_OK && PQisBusy(g->conn)) rc = pg_poll(g, err, what);
    return rc;
}

/* The first result of the statement sent last, the rest dropped (NULL
 * when the wait failed: err filled). */
static PGresult *pg_result(pg_impl *g, st_error *err, const char *what) {
    if (pg_wait(g, err, what) != ST_OK) {
        PGresult *extra;
        while ((extra = PQgetResult(g->conn)) != NULL) PQclear(extra);
        return NULL;
    }
    PGresult *res = PQgetResult(g->conn), *extra;
    while ((extra = PQgetResult(g->conn)) != NULL) {
        ExecStatusType s = PQresultStatus(extra);
        PQclear(extra);
        if (s == PGRES_COPY_OUT || s == PGRES_COPY_IN) break;
    }
    return res;
}

/* --- Connection --- */

/* Server notices ("table does not exist, skipping") are not errors. */
static void pg_notice_ignore(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

/* The session settings the canonical text depends on, each checked: a
 * pooler or a permission that refuses one would make hash and diff report
 * false differences. Cursors are read to the end: plan for total time. */
static const char *const PG_SESSION_SETTINGS[][2] = {
    {"extra_float_digits", "SET extra_float_digits = 1"},
    {"cursor_tuple_fraction", "SET cursor_tuple_fraction = 1.0"},
    {"DateStyle", "SET DateStyle = ISO"},
    {"TimeZone", "SET TimeZone = 'UTC'"},
};

static int pg_session_setup(pg_impl *g, st_error *err) {
    for (size_t i = 0; i < sizeof PG_SESSION_SETTINGS / sizeof PG_SESSION_SETTINGS[0]; i++) {
        PGresult *res = PQexec(g->conn, PG_SESSION_SETTINGS[i][1]);
        if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
            PQclear(res);
            continue;
        }
        char what[160];
        snprintf(what, sizeof what, "session setting %s refused (%s; synctool needs it for "
                 "exact comparisons: connect directly or allow it)", PG_SESSION_SETTINGS[i][0],
                 PG_SESSION_SETTINGS[i][1]);
        return pg_fail_res(g, res, err, what);
    }
    /* DateStyle and TimeZone are reported back: a pooler that answered the
     * SET without applying it is caught here too */
    const char *ds = PQparameterStatus(g->conn, "DateStyle");
    const char *tz = PQparameterStatus(g->conn, "TimeZone");
    if (ds != NULL && strncmp(ds, "ISO", 3) != 0)
        return st_error_set(err, ST_ERR, "datastore '%s' (postgres): session setting DateStyle "
                            "is '%s' after SET DateStyle = ISO", g->name, ds);
    if (tz != NULL && strcmp(tz, "UTC") != 0 && strcmp(tz, "Etc/UTC") != 0)
        return st_error_set(err, ST_ERR, "datastore '%s' (postgres): session setting TimeZone "
                            "is '%s' after SET TimeZone = 'UTC'", g->name, tz);
    return ST_OK;
}

void store_pg_params_fill(store_pg_params *c, const config_datastore *ds, const char *app,
                          const char *replication, const char *options) {
    int k = 0;
    snprintf(c->port, sizeof c->port, "%d", ds->port);
#define KV(K, V) if (V) { c->keys[k] = K; c->vals[k++] = V; }
    KV("host", ds->host) KV("user", ds->user) KV("password", ds->password)
    KV("dbname", ds->dbname) KV("sslmode", ds->sslmode)
    if (ds->port > 0) { c->keys[k] = "port"; c->vals[k++] = c->port; }
    KV("connect_timeout", "10") KV("client_encoding", "UTF8")
    KV("application_name", app) KV("replication", replication) KV("options", options)
#undef KV
    c->keys[k] = c->vals[k] = NULL;
}

static int pg_open(void **impl, const config_datastore *ds, st_error *err) {
    pg_impl *g = calloc(1, sizeof *g);
    if (g == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    snprintf(g->name, sizeof g->name, "%s", ds->name);
    store_pg_params cp;
    store_pg_params_fill(&cp, ds, "synctool", NULL, NULL);
    g->conn = PQconnectdbParams(cp.keys, cp.vals, 0);
    if (g->conn == NULL || PQstatus(g->conn) != CONNECTION_OK) {
        char clean[sizeof err->msg];
        store_scrub(clean, sizeof clean, g->conn ? PQerrorMessage(g->conn) : "out of memory",
                    (const char *const *)ds->secrets);
        st_error_set(err, ST_EUNAVAIL, "datastore '%s' (postgres): cannot connect: %s",
                     ds->name, clean);
        PQfinish(g->conn);
        free(g);
        return ST_EUNAVAIL;
    }
    PQsetNoticeProcessor(g->conn, pg_notice_ignore, NULL);
    int rc = pg_session_setup(g, err);
    if (rc != ST_OK) {
        PQfinish(g->conn);
        free(g);
        return rc;
    }
    *impl = g;
    return ST_OK;
}

static void pg_close(void *impl) {
    pg_impl *g = impl;
    if (g == NULL) return;
    PQfinish(g->conn);
    free(g);
}

/* --- Dialect --- */

static void pg_canon_expr(store_sb *b, store_kind kind, const char *c) {
    switch (kind) {
    case STORE_K_NUMERIC: store_sb_addf(b, "trim_scale((%s)::numeric)::text", c); break;
    case STORE_K_FLOAT: store_sb_addf(b, "(%s)::float8::text", c); break;
    case STORE_K_BOOL:
        store_sb_addf(b, "CASE WHEN (%s) IS NULL THEN NULL WHEN (%s)::boolean THEN 't' ELSE 'f' END", c, c);
        break;
    case STORE_K_TIMESTAMPTZ:
        store_sb_addf(b, "((%s)::timestamptz AT TIME ZONE 'UTC')::text", c);
        break;
    case STORE_K_TIMESTAMP: store_sb_addf(b, "(%s)::timestamp::text", c); break;
    case STORE_K_DATE: store_sb_addf(b, "(%s)::date::text", c); break;
    default: store_sb_addf(b, "(%s)::text", c);
    }
}

static void pg_hash_expr(store_sb *b, store_kind kind, const char *c) {
    pg_canon_expr(b, kind, c);
}

/* Per [lo, hi] pair: the range read through the key index in key order
 * (the ORDER BY of the innermost query) feeds string_agg, then one md5 per
 * range; LATERAL keeps one range's text in memory at a time. PostgreSQL 15
 * would sort again for string_agg(... ORDER BY key) (2x the cost); rows in
 * another order would only make a digest differ, and a differing range is
 * compared row by row, so the result stays exact either way. */
static void pg_digest_sql(store_sb *b, const char *from, const char *qkey, const char *rowtext) {
    store_sb_addf(b,
        "SELECT \"synctool_u\".i - 1, \"synctool_x\".n, \"synctool_x\".h "
        "FROM json_array_elements($1::json) WITH ORDINALITY AS \"synctool_u\"(e, i), "
        "LATERAL (SELECT count(*) AS n, md5(string_agg(\"synctool_o\".r, '|')) AS h "
        "FROM (SELECT %s AS r FROM %s WHERE %s BETWEEN (\"synctool_u\".e->>0)::bigint "
        "AND (\"synctool_u\".e->>1)::bigint ORDER BY %s) AS \"synctool_o\") AS \"synctool_x\"",
        rowtext, from, qkey, qkey);
}

/* Per-row digests (store.h: digest_families). colhash-v2 hashes each
 * typed value with PostgreSQL's own extended hash function (the ones hash
 * partitioning uses, stable across versions), seeded with the column's
 * position, and XORs them: no row text and no composite row is built
 * (hash_record_extended(ROW(...)) forms and deforms a tuple per row; this
 * costs 40% of that: 1M 6-column rows summed in 0.25 s against 0.63 s).
 * Equal per kind exactly when the canonical texts are equal: numeric and
 * timestamps by value, float8 by value except that 0 is hashed as text
 * (which tells -0 from 0, as the canonical form does), text-like kinds by
 * bytes (COLLATE "C"). NULL is a per-column constant. Columns the table
 * marks ignored (compare: false) are left out; the others keep their
 * position as seed. hashint8extended hashes the XOR of an integer's two
 * 32-bit halves, so its high half is hashed as well (seed + 65536).
 * hash_numeric_extended ignores the sign and hashes NaN
 * and both infinities alike, so a flag for those is hashed in (1 negative,
 * 2 NaN, 4 Infinity, seed + 65536: a bare XOR would meet the weight's):
 * pg-colhash-v1, without these two, took 1.5 and -1.5 (and 1 and 2^32)
 * for equal; times hash their high word as integers do (pg_colhash_time). SQLite computes the same terms in C from the canonical text
 * (store_canon.c, store_colhash_text), so the family also serves
 * PostgreSQL <-> SQLite. */
static const char *const pg_digest_families[] = {"colhash-v2", "canon-md5-v1", NULL};

/* A time as its microseconds since 2000-01-01 (timestamp_hash_extended is
 * hashint8extended of them, which folds the high word into the low one:
 * 2000-01-01 00:00 and 01:11:34.967297, 2^32 + 1 us later, hashed alike),
 * so the high word is hashed too, as for integers; the infinities stand
 * for INT64_MAX and INT64_MIN, as in PostgreSQL. cast turns c into a
 * timestamp in UTC (a timestamptz AT TIME ZONE INTERVAL '00:00': the same
 * value as AT TIME ZONE 'UTC' without looking the zone's name up, which
 * cost 40 ms per 1M evaluations, and this expression evaluates it up to
 * five times per value).
 *
 * From 2000-01-01 to infinity (microseconds >= 0) the high word comes from
 * date_bin into bins of 2^32 us from 2000-01-01: the bin's start is the
 * high word shifted up, whose timestamp_hash_extended is hashint4extended
 * of the high word itself (the low half is 0; a non-negative value's high
 * half is not inverted) — the same term, from integer arithmetic (1M
 * times: 1-2 function calls where the general form takes 10, 150 ms of
 * 200). Earlier times take the general form (date_bin rounds a negative
 * exact multiple of the stride down a bin in some versions): whole days
 * since 2000-01-01 (date subtraction) and the time of day (exact: under
 * 2^37 us, so the double from date_part rounds back to it), in bigint. */
static void pg_colhash_time(store_sb *b, const char *c, const char *cast, int seed) {
    store_sb_addf(b, "(timestamp_hash_extended((%s)%s, %d) # CASE WHEN (%s)%s >= timestamp "
                  "'2000-01-01' AND (%s)%s < timestamp 'infinity' THEN timestamp_hash_extended("
                  "date_bin('01:11:34.967296', (%s)%s, timestamp '2000-01-01'), %d) ELSE ",
                  c, cast, seed, c, cast, c, cast, c, cast, seed + STORE_COLHASH_HI_SEED);
    store_sb_addf(b, "hashint4extended(CASE WHEN isfinite((%s)%s) THEN ((((%s)%s)::date - "
                  "date '2000-01-01')::bigint * 86400000000 + round(date_part('epoch', "
                  "((%s)%s)::time) * 1000000)::bigint >> 32)::int WHEN (%s)%s > 'epoch' THEN "
                  "2147483647 ELSE -2147483648 END, %d) END)", c, cast, c, cast, c, cast, c, cast,
                  seed + STORE_COLHASH_HI_SEED);
}

/* A numeric's flag term (1 negative, also -Infinity; 2 NaN; 4 Infinity;
 * 0 otherwise), hashint4extended(flag, seed + 65536), as the four
 * constants it can be, computed here: no hash call per value, and two
 * comparisons for a positive value (NaN sorts above Infinity) where
 * three and a hash cost 90 ms per 1M values. */
static void pg_colhash_numeric(store_sb *b, const char *c, int seed) {
    uint64_t hs = (uint64_t)(int64_t)(seed + STORE_COLHASH_HI_SEED);
    long long f[5];
    for (uint32_t i = 0; i < 5; i++) f[i] = (long long)store_pg_hash_uint32(i, hs);
    store_sb_addf(b, "(hash_numeric_extended((%s)::numeric, %d) # CASE WHEN (%s)::numeric < 0 "
                  "THEN %lld WHEN (%s)::numeric < 'Infinity' THEN %lld WHEN (%s)::numeric = "
                  "'Infinity' THEN %lld ELSE %lld END)", c, seed, c, f[1], c, f[0], c, f[4], f[2]);
}

static void pg_colhash_term(store_sb *b, store_kind kind, const char *c, int seed) {
    store_sb_add(b, "COALESCE(");
    switch (kind) {
    case STORE_K_INT: /* hashint8extended folds the high word into the low one
                       * (1 and 2^32 hash alike): the high word is hashed too */
        store_sb_addf(b, "(hashint8extended((%s)::bigint, %d) # hashint4extended(((%s)::bigint >> 32)::int, %d))",
                      c, seed, c, seed + STORE_COLHASH_HI_SEED);
        break;
    case STORE_K_NUMERIC: pg_colhash_numeric(b, c, seed); break;
    case STORE_K_FLOAT:
        store_sb_addf(b, "CASE WHEN (%s)::float8 = 0 THEN hashtextextended((%s)::float8::text, %d) "
                      "ELSE hashfloat8extended((%s)::float8, %d) END", c, c, seed, c, seed);
        break;
    case STORE_K_BOOL: store_sb_addf(b, "hashint4extended((%s)::boolean::int, %d)", c, seed); break;
    case STORE_K_TIMESTAMPTZ:
        pg_colhash_time(b, c, "::timestamptz AT TIME ZONE INTERVAL '00:00'", seed);
        break;
    case STORE_K_TIMESTAMP: pg_colhash_time(b, c, "::timestamp", seed); break;
    case STORE_K_DATE: pg_colhash_time(b, c, "::date::timestamp", seed); break;
    default: store_sb_addf(b, "hashtextextended((%s)::text COLLATE \"C\", %d)", c, seed);
    }
    store_sb_addf(b, ", %d)", -seed);
}

static int pg_row_digest_expr(store_sb *b, const char *family, const store_table *t,
                              const char *rowtext, bool sum) {
    if (strcmp(family, "canon-md5-v1") == 0) {
        if (sum) return ST_ENOTIMPL;
        store_sb_addf(b, "substr(md5(%s), 1, 16)", rowtext);
        return ST_OK;
    }
    if (strcmp(family, "colhash-v2") != 0) return ST_ENOTIMPL;
    store_sb_add(b, sum ? "COALESCE(sum(" : "(");
    const char *sep = "";
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->ignored != NULL && t->ignored[i]) continue; /* compare: false */
        store_sb q = {0};
        store_sb_quote(&q, t->cols[i]);
        store_sb_add(b, sep);
        sep = " # ";
        pg_colhash_term(b, t->kinds[i], q.s ? q.s : "\"\"", (int)i + 1);
        if (q.oom) b->oom = true;
        store_sb_free(&q);
    }
    store_sb_add(b, sum ? "), 0)::text" : ")::text");
    return ST_OK;
}

/* store_ops.ranges_select: a LATERAL subquery per range over the unnested
 * bounds; OFFSET 0 keeps PostgreSQL from flattening it into a join (which
 * it plans as one scan of the whole index, filtered). Measured: 1,000
 * ranges of 64 rows out of 1M in 85 ms, against 315 ms for one range scan
 * filtered by a hashed list of buckets. Bounds are integer literals. */
static void pg_ranges_select(store_sb *b, const char *cols, const char *from, const char *qkey,
                             const int64_t (*r)[2], size_t n) {
    store_sb_add(b, "SELECT \"synctool_x\".* FROM unnest('{");
    for (size_t i = 0; i < n; i++) store_sb_addf(b, "%s%lld", i ? "," : "", (long long)r[i][0]);
    store_sb_add(b, "}'::bigint[], '{");
    for (size_t i = 0; i < n; i++) store_sb_addf(b, "%s%lld", i ? "," : "", (long long)r[i][1]);
    store_sb_addf(b, "}'::bigint[]) AS \"synctool_r\"(lo, hi), LATERAL (SELECT %s FROM %s "
                  "WHERE %s BETWEEN \"synctool_r\".lo AND \"synctool_r\".hi OFFSET 0) AS "
                  "\"synctool_x\" ORDER BY 1", cols, from, qkey);
}

/* store_ops.keys_where: one bigint[] literal, which PostgreSQL parses as
 * one constant, where an IN list of 4,096 literals cost 20-30 ms to parse
 * and bind per query (statement log, the hash row pass at 10% spread:
 * 15-34 ms for the query against 41-88 ms). */
static void pg_keys_where(store_sb *b, const char *qkey, const int64_t *k, size_t n) {
    store_sb_addf(b, " WHERE %s = ANY('{", qkey);
    for (size_t i = 0; i < n; i++) store_sb_addf(b, "%s%lld", i ? "," : "", (long long)k[i]);
    store_sb_add(b, "}'::bigint[])");
}

/* Config types are pasted into SQL as type names: only a safe alphabet. */
static bool pg_type_ok(const char *t) {
    if (t == NULL || *t == '\0' || strlen(t) > 100) return false;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(" _(),[]", *p)) return false;
    return true;
}

static void pg_param_cast(store_sb *b, const char *param, store_kind kind, const char *type) {
    if (kind == STORE_K_TEXT || !pg_type_ok(type)) store_sb_addf(b, "%s", param);
    else store_sb_addf(b, "CAST(%s AS %s)", param, type);
}

static void pg_order_term(store_sb *b, const char *qcol, store_kind kind) {
    if (kind == STORE_K_TEXT) store_sb_addf(b, "%s COLLATE \"C\"", qcol);
    else store_sb_add(b, qcol);
}

/* sum(bigint) accumulates in 128 bits and returns an exact numeric; the
 * caller reduces it mod 2^64 (store_mod64), which is the same as summing
 * the unsigned values mod 2^64 as SQLite's st_sum64 does. */
static void pg_sum64_expr(store_sb *b, const char *rowtext) {
    store_sb_addf(b, "COALESCE(sum(('x' || substr(md5(%s), 1, 16))::bit(64)::bigint), 0)::text",
                  rowtext);
}

/* --- Statements --- */

static PGresult *pg_run(pg_impl *g, const char *sql, int np, const char *const *p) {
    return PQexecParams(g->conn, sql, np, NULL, p, NULL, NULL, 0);
}

static int pg_exec(void *impl, const char *sql, int np, const char *const *p,
                   int64_t *affected, st_error *err) {
    pg_impl *g = impl;
    PGresult *res = pg_run(g, sql, np, p);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "statement");
    if (affected) *affected = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return ST_OK;
}

static int pg_begin(void *impl, st_error *err) { return pg_exec(impl, "BEGIN", 0, NULL, NULL, err); }
static int pg_commit(void *impl, st_error *err) { return pg_exec(impl, "COMMIT", 0, NULL, NULL, err); }
static int pg_rollback(void *impl) {
    pg_impl *g = impl;
    if (PQtransactionStatus(g->conn) == PQTRANS_IDLE) return ST_OK;
    return pg_exec(impl, "ROLLBACK", 0, NULL, NULL, NULL);
}

static int pg_query(void *impl, store_reader **out, const char *sql, int np,
                    const char *const *p, st_error *err) {
    pg_impl *g = impl;
    store_reader *r = calloc(1, sizeof *r);
    if (r == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    r->impl = g;
    snprintf(r->cursor, sizeof r->cursor, "synctool_cur_%d", ++g->cursor_seq);
    int rc = ST_OK;
    if (PQtransactionStatus(g->conn) == PQTRANS_IDLE) {
        rc = pg_exec(g, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, NULL, err);
        r->own_txn = rc == ST_OK;
    }
    store_sb q = {0};
    store_sb_addf(&q, "DECLARE %s NO SCROLL CURSOR FOR %s", r->cursor, sql);
    if (rc == ST_OK) rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                                : pg_exec(g, q.s, np, p, NULL, err);
    store_sb_free(&q);
    if (rc != ST_OK) {
        if (r->own_txn) pg_rollback(g);
        free(r);
        return rc;
    }
    *out = r;
    return ST_OK;
}

static int pg_query_small(void *impl, store_reader **out, const char *sql, int np,
                          const char *const *p, st_error *err) {
    pg_impl *g = impl;
    store_reader *r = calloc(1, sizeof *r);
    if (r == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    r->impl = g;
    st_error werr = {0};
    r->res = PQsendQueryParams(g->conn, sql, np, NULL, p, NULL, NULL, 0) == 1
                 ? pg_result(g, &werr, "query") : NULL;
    if (PQresultStatus(r->res) != PGRES_TUPLES_OK) {
        PGresult *res = r->res;
        free(r);
        if (res == NULL && werr.code != ST_OK) {
            if (err) *err = werr;
            return werr.code;
        }
        return pg_fail_res(g, res, err, "query");
    }
    r->done = true;
    r->ntuples = PQntuples(r->res);
    r->ncols = PQnfields(r->res);
    r->row = calloc((size_t)r->ncols + 1, sizeof *r->row);
    if (r->row == NULL) {
        PQclear(r->res);
        free(r);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    *out = r;
    return ST_OK;
}

/* Waits for the FETCH sent ahead and drops anything after its result
 * (NULL: the wait failed, err filled). */
static PGresult *pg_fetch_wait(store_reader *r, st_error *err) {
    r->pending = false;
    return pg_result(r->impl, err, "reading rows");
}

/* Cursor reads run one chunk ahead: as soon as a chunk arrives the next
 * FETCH is sent, so the server produces chunk k+1 while the caller works
 * on chunk k (full: merging it and writing batches to the destination),
 * and pg_next keeps draining the socket so the server is never stalled on
 * a full buffer. Chunks start small (PG_FETCH_FIRST) and double up to
 * PG_FETCH, so the first rows reach the caller after a few milliseconds
 * and a short read (a delta page) is already being written while the rest
 * is produced. A failed send just falls back to a plain FETCH next time;
 * an error in the chunk sent ahead is reported when it is needed. The
 * connection serves only this reader while it is open (store.h). */
static void pg_fetch_sql(store_reader *r, char *sql, size_t n) {
    r->chunk = r->chunk == 0 ? PG_FETCH_FIRST : r->chunk * 2 > PG_FETCH ? PG_FETCH : r->chunk * 2;
    snprintf(sql, n, "FETCH %d FROM %s", r->chunk, r->cursor);
}

static int pg_fetch(store_reader *r, st_error *err) {
    char sql[96];
    PQclear(r->res);
    r->res = NULL;
    st_error werr = {0};
    if (r->pending) {
        r->res = pg_fetch_wait(r, &werr);
    } else {
        pg_fetch_sql(r, sql, sizeof sql);
        if (PQsendQuery(r->impl->conn, sql) == 1) r->res = pg_result(r->impl, &werr, "reading rows");
    }
    if (PQresultStatus(r->res) != PGRES_TUPLES_OK) {
        PGresult *res = r->res;
        r->res = NULL;
        if (res == NULL && werr.code != ST_OK) {
            if (err) *err = werr;
            return werr.code;
        }
        return pg_fail_res(r->impl, res, err, "reading rows");
    }
    if (r->impl->intr != NULL && *r->impl->intr) {
        /* the chunk came in whole before the cancel took effect: the
         * interrupt still ends the read here, within one chunk */
        PQclear(r->res);
        r->res = NULL;
        r->impl->cancelled = false;
        return st_error_set(err, ST_EINTR, "datastore '%s' (postgres): reading rows: "
                            "interrupted (the statement was cancelled)", r->impl->name);
    }
    r->ntuples = PQntuples(r->res);
    r->pos = 0;
    if (r->ntuples < r->chunk) {
        r->done = true;
    } else {
        pg_fetch_sql(r, sql, sizeof sql);
        r->pending = PQsendQuery(r->impl->conn, sql) == 1;
    }
    if (r->row == NULL) {
        r->ncols = PQnfields(r->res);
        r->row = calloc((size_t)r->ncols + 1, sizeof *r->row);
        if (r->row == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    return ST_OK;
}

static int pg_next(store_reader *r, const char *const **row, int *ncols, st_error *err) {
    if (r->res == NULL || r->pos >= r->ntuples) {
        if (r->res != NULL && r->done) return 0;
        int rc = pg_fetch(r, err);
        if (rc != ST_OK) return rc;
        if (r->ntuples == 0) return 0;
    }
    for (int i = 0; i < r->ncols; i++)
        r->row[i] = PQgetisnull(r->res, r->pos, i) ? NULL : PQgetvalue(r->res, r->pos, i);
    if (r->pending && r->pos % 512 == 0) PQconsumeInput(r->impl->conn);
    r->pos++;
    *row = r->row;
    *ncols = r->ncols;
    return 1;
}

static void pg_reader_close(store_reader *r) {
    if (r == NULL) return;
    PQclear(r->res);
    st_error ignored;
    if (r->pending) PQclear(pg_fetch_wait(r, &ignored));
    char sql[96];
    snprintf(sql, sizeof sql, "CLOSE %s", r->cursor);
    if (r->cursor[0] && PQtransactionStatus(r->impl->conn) == PQTRANS_INTRANS)
        PQclear(PQexec(r->impl->conn, sql));
    if (r->own_txn) {
        if (PQtransactionStatus(r->impl->conn) == PQTRANS_INTRANS)
            PQclear(PQexec(r->impl->conn, "COMMIT"));
        else
            pg_rollback(r->impl);
    }
    free(r->row);
    free(r);
}

/* --- Writes --- */

static void pg_qualified(store_sb *b, const store_table *t) {
    store_sb_quote(b, t->schema ? t->schema : "public");
    store_sb_add(b, ".");
    store_sb_quote(b, t->table);
}

typedef enum { PG_ALL, PG_KEYS, PG_VALUES } pg_cols;

/* Appends the chosen columns, each as `left"col"`, or as the comparison
 * `left"col" = right"col"` when right is not NULL, joined by sep. */
static void pg_cols_join(store_sb *b, const store_table *t, pg_cols which, const char *left,
                         const char *right, const char *sep) {
    const char *s = "";
    for (size_t i = 0; i < t->ncols; i++) {
        if (which != PG_ALL && (which == PG_KEYS) != t->key[i]) continue;
        store_sb_addf(b, "%s%s", s, left);
        store_sb_quote(b, t->cols[i]);
        if (right != NULL) {
            store_sb_addf(b, " = %s", right);
            store_sb_quote(b, t->cols[i]);
        }
        s = sep;
    }
}

static void pg_collist(store_sb *b, const store_table *t, bool keys_only, const char *prefix) {
    pg_cols_join(b, t, keys_only ? PG_KEYS : PG_ALL, prefix, NULL, ", ");
}

/* Appends one COPY text-format field: \N for NULL, escapes otherwise. */
static void pg_copy_field(store_sb *b, const char *v) {
    if (v == NULL) { store_sb_add(b, "\\N"); return; }
    const char *run = v;
    for (const char *p = v;; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '\t' ? "\\t" : *p == '\n' ? "\\n"
                        : *p == '\r' ? "\\r" : NULL;
        if (esc == NULL && *p != '\0') continue;
        store_sb_addn(b, run, (size_t)(p - run));
        if (*p == '\0') break;
        store_sb_add(b, esc);
        run = p + 1;
    }
}

/* The key of every row sent in one COPY, one "id=17" line per row, so a
 * value the server refuses ("COPY x, line 3, column total") can be named
 * with its row's key. Only key columns are kept (short), truncated. */
static void pg_keylog_add(store_sb *kl, const store_table *t, const char *const *vals) {
    const char *sep = "";
    for (size_t c = 0; c < t->ncols; c++) {
        if (!t->key[c]) continue;
        store_sb_addf(kl, "%s%s=", sep, t->cols[c]);
        const char *v = vals[c] ? vals[c] : "NULL";
        size_t n = strcspn(v, "\n");
        store_sb_addn(kl, v, n > 64 ? 64 : n);
        sep = ", ";
    }
    store_sb_add(kl, "\n");
}

/* Line `line` (1-based) of the key log into buf; "?" if out of range. */
static void pg_keylog_line(const store_sb *kl, long line, char *buf, size_t n) {
    snprintf(buf, n, "?");
    const char *p = kl->s;
    for (long i = 1; p && i < line; i++) {
        p = memchr(p, '\n', kl->len - (size_t)(p - kl->s));
        if (p) p++;
        if (p && (size_t)(p - kl->s) >= kl->len) p = NULL;
    }
    if (p == NULL || line < 1) return;
    const char *e = memchr(p, '\n', kl->len - (size_t)(p - kl->s));
    snprintf(buf, n, "%.*s", (int)(e ? e - p : 0), p);
}

/* A COPY the server refused: when its context names the line and column
 * (a value the column's type does not take), the message names the column,
 * its config type, the destination type (in the server's own words) and
 * the key of the row; otherwise as pg_fail_res. */
static int pg_copy_fail(pg_impl *g, PGresult *res, const store_table *t, const store_sb *kl,
                        st_error *err) {
    const char *ctx = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
    const char *lp = ctx ? strstr(ctx, ", line ") : NULL;
    const char *cp = lp ? strstr(lp, ", column ") : NULL;
    if (cp == NULL) return pg_fail_res(g, res, err, "COPY");
    long line = strtol(lp + 7, NULL, 10);
    char col[128];
    size_t cn = strcspn(cp + 9, ":");
    snprintf(col, sizeof col, "%.*s", (int)(cn < sizeof col ? cn : sizeof col - 1), cp + 9);
    const char *type = "?";
    for (size_t c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c], col) == 0) type = t->types[c];
    char key[256], clean[512];
    pg_keylog_line(kl, line, key, sizeof key);
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    store_scrub(clean, sizeof clean, m ? m : PQerrorMessage(g->conn), NULL);
    int code = PQstatus(g->conn) == CONNECTION_OK ? ST_ERR : ST_EUNAVAIL;
    st_error_set(err, code,
                 "datastore '%s' (postgres): table %s refused a value of column '%s' "
                 "(config type %s) in the row with key %s: %s",
                 g->name, t->table ? t->table : "?", col, type, key, clean);
    PQclear(res);
    return code;
}

/* Runs the COPY ... FROM STDIN `sql`, sending the rows `pull` yields
 * (keys only if `keys_only`) as they come, in 64 KiB messages, so the
 * server parses one part while the caller reads the next. *copied (may be
 * NULL) gets the server's row count. A pull error aborts the COPY and is
 * returned as the puller reported it (*pull_failed set). */
static int pg_copy_rows(pg_impl *g, const char *sql, const store_table *t, bool keys_only,
                        store_pull_fn pull, void *arg, int64_t *copied, bool *pull_failed,
                        st_error *err) {
    PGresult *res = PQexec(g->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) return pg_fail_res(g, res, err, "COPY");
    PQclear(res);
    store_sb b = {0}, kl = {0};
    bool ok = true;
    int more = 1;
    const char *const *vals;
    while (ok && (more = pull(arg, &vals, err)) > 0) {
        pg_keylog_add(&kl, t, vals);
        const char *sep = "";
        for (size_t c = 0; c < t->ncols; c++) {
            if (keys_only && !t->key[c]) continue;
            store_sb_add(&b, sep);
            pg_copy_field(&b, vals[c]);
            sep = "\t";
        }
        store_sb_add(&b, "\n");
        if (b.len >= 1 << 16) {
            ok = !b.oom && PQputCopyData(g->conn, b.s, (int)b.len) == 1;
            b.len = 0;
        }
    }
    if (ok && more == 0 && b.len > 0) ok = !b.oom && PQputCopyData(g->conn, b.s, (int)b.len) == 1;
    store_sb_free(&b);
    PQputCopyEnd(g->conn, ok && more == 0 ? NULL : "synctool: copy aborted");
    res = PQgetResult(g->conn);
    int rc;
    if (more < 0) {
        *pull_failed = true;
        rc = more;
        PQclear(res);
    } else {
        rc = PQresultStatus(res) == PGRES_COMMAND_OK ? ST_OK : pg_copy_fail(g, res, t, &kl, err);
        if (rc == ST_OK && copied) *copied = strtoll(PQcmdTuples(res), NULL, 10);
        if (rc == ST_OK) PQclear(res);
    }
    store_sb_free(&kl);
    while ((res = PQgetResult(g->conn)) != NULL) PQclear(res);
    return rc;
}

static int pg_stage(pg_impl *g, const store_table *t, const char *stage, bool keys_only,
                    store_pull_fn pull, void *arg, int64_t *staged, bool *pull_failed,
                    st_error *err) {
    store_sb q = {0};
    store_sb_addf(&q, "CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT ", stage);
    pg_collist(&q, t, keys_only, "");
    store_sb_add(&q, " FROM ");
    pg_qualified(&q, t);
    store_sb_add(&q, " WITH NO DATA");
    int rc = q.oom ? ST_ENOMEM : pg_exec(g, q.s, 0, NULL, NULL, err);
    q.len = 0;
    store_sb_addf(&q, "COPY %s (", stage);
    pg_collist(&q, t, keys_only, "");
    store_sb_add(&q, ") FROM STDIN");
    if (rc == ST_OK)
        rc = q.oom ? ST_ENOMEM
                   : pg_copy_rows(g, q.s, t, keys_only, pull, arg, staged, pull_failed, err);
    store_sb_free(&q);
    return rc;
}

/* INSERT ... SELECT FROM synctool_up ON CONFLICT (key) DO NOTHING: the new
 * keys only; existing rows are neither locked nor written. */
static int pg_insert_new(pg_impl *g, const store_table *t, int64_t *n, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "INSERT INTO ");
    pg_qualified(&q, t);
    store_sb_add(&q, " (");
    pg_collist(&q, t, false, "");
    store_sb_add(&q, ") SELECT ");
    pg_collist(&q, t, false, "");
    store_sb_add(&q, " FROM synctool_up ON CONFLICT (");
    pg_collist(&q, t, true, "");
    store_sb_add(&q, ") DO NOTHING");
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : pg_exec(g, q.s, 0, NULL, n, err);
    store_sb_free(&q);
    return rc;
}

/* The non-key columns as `left"col"` for IS DISTINCT FROM; json has no
 * equality operator, so json columns compare as their text (what the
 * canonical form compares anyway). */
static void pg_values_cmp(store_sb *b, const store_table *t, const char *left) {
    const char *s = "";
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->key[i]) continue;
        store_sb_addf(b, "%s%s", s, left);
        store_sb_quote(b, t->cols[i]);
        if (t->types && t->types[i] && strncasecmp(t->types[i], "json", 4) == 0 &&
            strncasecmp(t->types[i], "jsonb", 5) != 0)
            store_sb_add(b, "::text");
        s = ", ";
    }
}

static int pg_update_from(pg_impl *g, const store_table *t, int64_t *n, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "UPDATE ");
    pg_qualified(&q, t);
    store_sb_add(&q, " AS d SET ");
    pg_cols_join(&q, t, PG_VALUES, "", "s.", ", ");
    store_sb_add(&q, " FROM synctool_up AS s WHERE ");
    pg_cols_join(&q, t, PG_KEYS, "d.", "s.", " AND ");
    store_sb_add(&q, " AND (");
    pg_values_cmp(&q, t, "d.");
    store_sb_add(&q, ") IS DISTINCT FROM (");
    pg_values_cmp(&q, t, "s.");
    store_sb_add(&q, ")");
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : pg_exec(g, q.s, 0, NULL, n, err);
    store_sb_free(&q);
    return rc;
}

/* Merges the `staged` rows of synctool_up, counting exactly what changed:
 *   1. UPDATE ... FROM for existing keys whose values differ. When it
 *      changed every staged row (the usual delta page, every full or hash
 *      update batch) all keys exist: done.
 *   2. Otherwise INSERT ... ON CONFLICT DO NOTHING adds the new keys.
 *   3. If some staged rows are still unaccounted for, they are identical
 *      rows, or rows another writer inserted between 1 and 2: the UPDATE
 *      runs again (READ COMMITTED sees them; identical rows count nothing).
 * Unlike INSERT ... ON CONFLICT DO UPDATE, identical rows are never locked
 * or rewritten, and changed rows skip the speculative insertion. */
static int pg_merge(pg_impl *g, const store_table *t, int64_t staged, store_counts *out,
                    st_error *err) {
    bool nonkey = false;
    for (size_t i = 0; i < t->ncols; i++) nonkey |= !t->key[i];
    int64_t updated = 0, inserted = 0, again = 0;
    int rc = nonkey ? pg_update_from(g, t, &updated, err) : ST_OK;
    if (rc == ST_OK && updated < staged) rc = pg_insert_new(g, t, &inserted, err);
    if (rc == ST_OK && nonkey && updated + inserted < staged)
        rc = pg_update_from(g, t, &again, err);
    out->updated += updated + again;
    out->inserted += inserted;
    return rc;
}

static int pg_delete(pg_impl *g, const store_table *t, store_counts *out, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "DELETE FROM ");
    pg_qualified(&q, t);
    store_sb_add(&q, " AS d USING synctool_del AS s WHERE ");
    pg_cols_join(&q, t, PG_KEYS, "d.", "s.", " AND ");
    int64_t n = 0;
    int rc = q.oom ? ST_ENOMEM : pg_exec(g, q.s, 0, NULL, &n, err);
    store_sb_free(&q);
    out->deleted += n;
    return rc;
}

/* Rows known to be new (full, hash) are COPYed straight into the table:
 * one write instead of staging + merge. A concurrent writer that inserted
 * the same key makes the COPY fail and the batch roll back; the re-run
 * re-reads the destination and converges. */
static int pg_copy_direct(pg_impl *g, const store_table *t, store_pull_fn pull, void *arg,
                          store_counts *out, bool *pull_failed, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "COPY ");
    pg_qualified(&q, t);
    store_sb_add(&q, " (");
    pg_collist(&q, t, false, "");
    store_sb_add(&q, ") FROM STDIN");
    int64_t copied = 0;
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : pg_copy_rows(g, q.s, t, false, pull, arg, &copied, pull_failed, err);
    store_sb_free(&q);
    out->inserted += copied;
    return rc;
}

static int pg_key_indexed(void *impl, const char *schema, const char *table,
                          const char *const *cols, size_t n, bool *yes, st_error *err);

/* A batch (at most batch_size rows) joins its staging table to the whole
 * destination by key. Without statistics on the staging table PostgreSQL
 * often picks a merge or hash join, which reads every row of the
 * destination (370 ms for 10,000 updates into 1M rows, against 70 ms for
 * index lookups). When the key leads an index, this transaction turns
 * those joins off (SET LOCAL) so each staged row is one index probe; the
 * check is cached per table. Without an index the planner is left alone. */
static int pg_prefer_index_joins(pg_impl *g, const store_table *t, st_error *err) {
    const char *key = NULL;
    for (size_t i = 0; i < t->ncols && key == NULL; i++)
        if (t->key[i]) key = t->cols[i];
    if (key == NULL || t->table == NULL) return ST_OK;
    const char *schema = t->schema ? t->schema : "public";
    char id[300];
    snprintf(id, sizeof id, "%s.%s.%s", schema, t->table, key);
    if (strcmp(id, g->nl_table) != 0) {
        bool yes = false;
        int rc = pg_key_indexed(g, schema, t->table, &key, 1, &yes, err);
        if (rc != ST_OK) return rc;
        snprintf(g->nl_table, sizeof g->nl_table, "%s", id);
        g->nl_indexed = yes;
    }
    if (!g->nl_indexed) return ST_OK;
    int rc = pg_exec(g, "SET LOCAL enable_mergejoin = off", 0, NULL, NULL, err);
    return rc == ST_OK ? pg_exec(g, "SET LOCAL enable_hashjoin = off", 0, NULL, NULL, err) : rc;
}

static int pg_apply(void *impl, const store_table *t, store_op op, store_pull_fn pull, void *arg,
                    store_counts *out, st_error *err) {
    pg_impl *g = impl;
    bool pull_failed = false;
    int64_t staged = 0;
    int rc = ST_OK;
    if (op == STORE_INSERT) return pg_copy_direct(g, t, pull, arg, out, &pull_failed, err);
    rc = pg_prefer_index_joins(g, t, err);
    if (rc == ST_OK && op == STORE_DELETE) {
        rc = pg_stage(g, t, "synctool_del", true, pull, arg, &staged, &pull_failed, err);
        if (rc == ST_OK) rc = pg_delete(g, t, out, err);
        if (rc == ST_OK) rc = pg_exec(g, "DROP TABLE synctool_del", 0, NULL, NULL, err);
    } else if (rc == ST_OK) {
        rc = pg_stage(g, t, "synctool_up", false, pull, arg, &staged, &pull_failed, err);
        if (rc == ST_OK) rc = pg_merge(g, t, staged, out, err);
        if (rc == ST_OK) rc = pg_exec(g, "DROP TABLE synctool_up", 0, NULL, NULL, err);
    }
    if (rc != ST_OK && !pull_failed) st_error_wrap(err, "writing table %s", t->table);
    return rc;
}

/* --- Schema --- */

static int pg_describe(void *impl, const char *schema, const char *table,
                       store_column_info **out, size_t *n, st_error *err) {
    pg_impl *g = impl;
    const char *p[2] = {schema, table};
    *out = NULL;
    *n = 0;
    PGresult *res = pg_run(g,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum", 2, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "describe");
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return st_error_set(err, ST_ENOTFOUND, "datastore '%s': table %s.%s does not exist",
                            g->name, schema, table);
    }
    *out = calloc((size_t)rows, sizeof **out);
    if (*out == NULL) { PQclear(res); return st_error_set(err, ST_ENOMEM, "out of memory"); }
    for (int i = 0; i < rows; i++) {
        snprintf((*out)[i].name, sizeof (*out)[i].name, "%s", PQgetvalue(res, i, 0));
        snprintf((*out)[i].type, sizeof (*out)[i].type, "%s", PQgetvalue(res, i, 1));
    }
    *n = (size_t)rows;
    PQclear(res);
    return ST_OK;
}

/* A btree index (no predicate) whose leading columns are cols, in order. */
static int pg_key_indexed(void *impl, const char *schema, const char *table,
                          const char *const *cols, size_t n, bool *yes, st_error *err) {
    pg_impl *g = impl;
    *yes = false;
    if (n == 0 || n > 32) return ST_OK;
    const char *p[34] = {schema, table};
    store_sb q = {0};
    store_sb_add(&q,
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam "
        "WHERE s.nspname = $1 AND c.relname = $2 AND am.amname = 'btree' "
        "AND i.indpred IS NULL");
    for (size_t k = 0; k < n; k++) {
        store_sb_addf(&q, " AND i.indkey[%zu] = (SELECT attnum FROM pg_attribute "
                          "WHERE attrelid = c.oid AND attname = $%zu)", k, k + 3);
        p[k + 2] = cols[k];
    }
    store_sb_add(&q, " LIMIT 1");
    if (q.oom) return st_error_set(err, ST_ENOMEM, "out of memory");
    PGresult *res = pg_run(g, q.s, (int)n + 2, p);
    store_sb_free(&q);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "describe");
    *yes = PQntuples(res) > 0;
    PQclear(res);
    return ST_OK;
}

/* Asks PostgreSQL how it spells `cfgtype` by creating a throw-away temp
 * table with one column of that type. */
static int pg_ddl_type(void *impl, const char *cfgtype, char *buf, size_t n, st_error *err) {
    pg_impl *g = impl;
    if (!pg_type_ok(cfgtype))
        return st_error_set(err, ST_EINVAL, "column type '%s' is not a valid type name", cfgtype);
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TEMP TABLE synctool_probe (c %s)", cfgtype);
    pg_exec(g, "DROP TABLE IF EXISTS pg_temp.synctool_probe", 0, NULL, NULL, NULL);
    int rc = pg_exec(g, sql, 0, NULL, NULL, err);
    if (rc != ST_OK) return st_error_wrap(err, "column type '%s'", cfgtype);
    PGresult *res = PQexec(g->conn,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'pg_temp.synctool_probe'::regclass AND attnum = 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        rc = pg_fail_res(g, res, err, "type probe");
    else {
        snprintf(buf, n, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    pg_exec(g, "DROP TABLE IF EXISTS pg_temp.synctool_probe", 0, NULL, NULL, NULL);
    return rc;
}

/* --- init and ddl apply (store.h, store_ops version 10) --- */

/* format_type's spellings in the config's vocabulary: the zone words
 * become timestamptz / timestamp / time (the precision is dropped: the
 * config types hold microseconds), character varying(n) varchar(n),
 * character(n) char(n); every other type is written as PostgreSQL spells
 * it (numeric(12,2), jsonb, uuid, integer[], ...). */
static void pg_config_type(const char *type, char *buf, size_t n) {
    static const struct { const char *head, *tail, *to; } zoned[] = {
        {"timestamp", " with time zone", "timestamptz"},
        {"timestamp", " without time zone", "timestamp"},
        {"time", " without time zone", "time"},
    };
    for (size_t i = 0; i < sizeof zoned / sizeof *zoned; i++) {
        size_t h = strlen(zoned[i].head), len = strlen(type), t = strlen(zoned[i].tail);
        if (strncmp(type, zoned[i].head, h) != 0 || len < h + t ||
            strcmp(type + len - t, zoned[i].tail) != 0 || (type[h] != '(' && len != h + t))
            continue;
        snprintf(buf, n, "%s", zoned[i].to);
        return;
    }
    if (strncmp(type, "character varying", 17) == 0) snprintf(buf, n, "varchar%s", type + 17);
    else if (strncmp(type, "character(", 10) == 0) snprintf(buf, n, "char%s", type + 9);
    else if (strcmp(type, "character") == 0) snprintf(buf, n, "char");
    else snprintf(buf, n, "%s", type);
}

static int pg_primary_key(void *impl, const char *schema, const char *table,
                          store_column_info **out, size_t *n, st_error *err) {
    pg_impl *g = impl;
    const char *p[2] = {schema, table};
    *out = NULL;
    *n = 0;
    PGresult *res = pg_run(g,
        "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace s ON s.oid = c.relnamespace "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
        "WHERE s.nspname = $1 AND c.relname = $2 AND i.indisprimary ORDER BY k.ord", 2, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "primary key");
    int rows = PQntuples(res);
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof **out)) == NULL) {
        PQclear(res);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++)
        snprintf((*out)[i].name, sizeof (*out)[i].name, "%s", PQgetvalue(res, i, 0));
    *n = (size_t)rows;
    PQclear(res);
    return ST_OK;
}

static int pg_schema_exists(void *impl, const char *schema, bool *yes, st_error *err) {
    pg_impl *g = impl;
    const char *p[1] = {schema};
    PGresult *res = pg_run(g, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "schema");
    *yes = PQntuples(res) > 0;
    PQclear(res);
    return ST_OK;
}

static void pg_create_schema_sql(store_sb *b, const char *schema) {
    store_sb_add(b, "CREATE SCHEMA IF NOT EXISTS ");
    store_sb_quote(b, schema);
}

/* --- Fencing (store.h, store_ops version 7) ---
 *
 * synctool_fence is created under a transaction-scoped advisory lock: a
 * bare CREATE TABLE IF NOT EXISTS is not safe against a concurrent creator
 * (both see no table, the second fails on pg_type's unique index). A
 * writer's session is tagged in application_name, `synctool:<16 hex of
 * md5(key)>:<token>` (63 bytes at most), which pg_stat_activity shows to
 * every session: a newer holder finds an older one's sessions by it, even
 * one frozen mid-COPY (state `active`, which no idle timeout ends), and
 * ends them with pg_terminate_backend (allowed for the same role), waiting
 * until they are gone. */

#define PG_FENCE_LOCK "7310582390415312896" /* advisory lock key of the DDL */
#define PG_TERMINATE_WAIT_MS "10000"

static const char PG_FENCE_READ[] =
    "SELECT token FROM synctool_fence WHERE lock_key = $1 FOR SHARE";
static const char PG_FENCE_RAISE[] =
    "INSERT INTO synctool_fence (lock_key, token) VALUES ($1, CAST($2 AS bigint)) "
    "ON CONFLICT (lock_key) DO UPDATE SET token = excluded.token "
    "WHERE synctool_fence.token <= excluded.token";
/* The token of a session tagged for $1 (a LIKE pattern), NULL if none. */
#define PG_TAG_TOKEN                                                                 \
    "(CASE WHEN split_part(application_name, ':', 3) ~ '^[0-9]{1,18}$' "             \
    "THEN split_part(application_name, ':', 3)::bigint END)"
static const char PG_FENCE_FLOOR[] =
    "SELECT COALESCE(greatest((SELECT max(token) FROM synctool_fence WHERE lock_key = $1), "
    "(SELECT max(" PG_TAG_TOKEN ") FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND application_name LIKE $2)), -1)";
static const char PG_FENCE_OLDER[] =
    "SELECT pid, application_name FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND application_name LIKE $1 AND " PG_TAG_TOKEN " < CAST($2 AS bigint)";

/* "synctool:<16 hex>:" for key into buf, then `tail` ("%" for LIKE). */
static void pg_fence_prefix(const char *key, const char *tail, char *buf, size_t n) {
    char hex[33];
    store_md5_hex(key, strlen(key), hex);
    snprintf(buf, n, "synctool:%.16s:%s", hex, tail);
}

static bool pg_one_bool(pg_impl *g, const char *sql, int np, const char *const *p, bool *yes,
                        st_error *err, int *rc) {
    PGresult *res = pg_run(g, sql, np, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *rc = pg_fail_res(g, res, err, "fencing");
        return false;
    }
    *yes = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return true;
}

static int pg_fence_create(void *impl, st_error *err) {
    pg_impl *g = impl;
    int rc = ST_OK;
    bool exists = false;
    if (!pg_one_bool(g, "SELECT to_regclass('synctool_fence') IS NOT NULL", 0, NULL, &exists, err,
                     &rc))
        return rc;
    if (exists) return ST_OK;
    bool own = PQtransactionStatus(g->conn) == PQTRANS_IDLE;
    if (own) rc = pg_exec(g, "BEGIN", 0, NULL, NULL, err);
    if (rc == ST_OK)
        rc = pg_exec(g, "SELECT pg_advisory_xact_lock(" PG_FENCE_LOCK ")", 0, NULL, NULL, err);
    if (rc == ST_OK)
        rc = pg_exec(g, "CREATE TABLE IF NOT EXISTS synctool_fence "
                        "(lock_key text PRIMARY KEY, token bigint NOT NULL)", 0, NULL, NULL, err);
    if (own && rc == ST_OK) rc = pg_exec(g, "COMMIT", 0, NULL, NULL, err);
    if (own && rc != ST_OK) pg_rollback(g);
    return rc;
}

static int pg_fence_tag(void *impl, const char *key, int64_t token, st_error *err) {
    char tag[64], tok[24];
    snprintf(tok, sizeof tok, "%lld", (long long)token);
    pg_fence_prefix(key, tok, tag, sizeof tag);
    const char *p[] = {tag};
    return pg_exec(impl, "SELECT set_config('application_name', $1, false)", 1, p, NULL, err);
}

static int pg_fence_floor(void *impl, const char *key, int64_t *floor, st_error *err) {
    pg_impl *g = impl;
    char like[48];
    pg_fence_prefix(key, "%", like, sizeof like);
    const char *p[] = {key, like};
    PGresult *res = pg_run(g, PG_FENCE_FLOOR, 2, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "fencing floor");
    *floor = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return ST_OK;
}

/* Ends session `pid`, waiting until it is gone (PostgreSQL 14 and later;
 * before, a newer run's first row lock waits for it); false (holder
 * described) when it may not or did not end. */
static bool pg_terminate(pg_impl *g, const char *pid, const char *tag, char *holder, size_t n) {
    const char *p[] = {pid};
    bool yes = false;
    int rc = ST_OK;
    st_error e;
    st_error_clear(&e);
    const char *sql = PQserverVersion(g->conn) >= 140000
                          ? "SELECT pg_terminate_backend(CAST($1 AS int), " PG_TERMINATE_WAIT_MS ")"
                          : "SELECT pg_terminate_backend(CAST($1 AS int))";
    if (pg_one_bool(g, sql, 1, p, &yes, &e, &rc) && yes) return true;
    snprintf(holder, n, "PostgreSQL session pid %s (application_name %s) that this role %s", pid,
             tag, e.msg[0] ? "may not end" : "could not end within 10 s");
    return false;
}

static int pg_fence_evict(void *impl, const char *key, int64_t token, int *ended, char *holder,
                          size_t n, st_error *err) {
    pg_impl *g = impl;
    char like[48], tok[24];
    pg_fence_prefix(key, "%", like, sizeof like);
    snprintf(tok, sizeof tok, "%lld", (long long)token);
    const char *p[] = {like, tok};
    PGresult *res = pg_run(g, PG_FENCE_OLDER, 2, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "fencing sessions");
    for (int i = 0; i < PQntuples(res); i++)
        if (pg_terminate(g, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), holder, n)) (*ended)++;
    PQclear(res);
    return ST_OK;
}

/* The integer in the first cell of the result of `sql` (sent as is, its
 * wait interruptible), or an error. */
static int pg_first_int(pg_impl *g, const char *sql, int np, const char *const *p, int64_t *out,
                        st_error *err) {
    st_error werr = {0};
    PGresult *res = PQsendQueryParams(g->conn, sql, np, NULL, p, NULL, NULL, 0) == 1
                        ? pg_result(g, &werr, "row estimate") : NULL;
    if (res == NULL && werr.code != ST_OK) {
        if (err) *err = werr;
        return werr.code;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_fail_res(g, res, err, "row estimate");
    *out = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
               ? (int64_t)strtod(PQgetvalue(res, 0, 0), NULL) : 0;
    PQclear(res);
    return ST_OK;
}

/* store_ops.estimate_rows, cheapest first: a table's reltuples (kept by
 * ANALYZE and autovacuum); else count(*) if it finishes within 500 ms (a
 * small or new table, exact); else the planner's estimate of the top plan
 * (EXPLAIN plans without executing, so a slow view is estimated at once). */
/* count(*) of `from` if it finishes within 500 ms, in a transaction of
 * its own (statement_timeout is local to it): ST_OK and the count; ST_ERR
 * when it did not finish (or the connection is inside a transaction);
 * ST_EINTR on an interrupt. */
static int pg_quick_count(pg_impl *g, const char *from, int64_t *out, st_error *err) {
    if (PQtransactionStatus(g->conn) != PQTRANS_IDLE) return ST_ERR;
    store_sb q = {0};
    store_sb_addf(&q, "SELECT count(*) FROM %s", from);
    if (q.oom) return st_error_set(err, ST_ENOMEM, "out of memory");
    st_error cerr = {0};
    int rc = pg_exec(g, "BEGIN", 0, NULL, NULL, &cerr);
    if (rc == ST_OK) rc = pg_exec(g, "SET LOCAL statement_timeout = 500", 0, NULL, NULL, &cerr);
    if (rc == ST_OK) rc = pg_first_int(g, q.s, 0, NULL, out, &cerr);
    pg_rollback(g);
    store_sb_free(&q);
    if (rc == ST_EINTR && err) *err = cerr;
    return rc == ST_OK || rc == ST_EINTR ? rc : ST_ERR;
}

static int pg_estimate_rows(void *impl, const store_table *t, const char *from, int64_t *out,
                            st_error *err) {
    pg_impl *g = impl;
    *out = 0;
    if (t->table != NULL && t->where == NULL) { /* a filter: the planner's estimate */
        const char *p[] = {t->table, t->schema ? t->schema : "public"};
        int rc = pg_first_int(g, "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n "
                              "ON n.oid = c.relnamespace WHERE c.relname = $1 AND n.nspname = $2",
                              2, p, out, err);
        if (rc != ST_OK || *out > 0) return rc;
    }
    int rc = pg_quick_count(g, from, out, err);
    if (rc != ST_ERR) return rc;
    store_sb q = {0};
    store_sb_addf(&q, "EXPLAIN (FORMAT JSON) SELECT 1 FROM %s", from);
    if (q.oom) return st_error_set(err, ST_ENOMEM, "out of memory");
    st_error werr = {0};
    PGresult *res = PQsendQuery(g->conn, q.s) == 1 ? pg_result(g, &werr, "row estimate") : NULL;
    store_sb_free(&q);
    if (res == NULL && werr.code != ST_OK) {
        if (err) *err = werr;
        return werr.code;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        return pg_fail_res(g, res, err, "row estimate");
    const char *rows = strstr(PQgetvalue(res, 0, 0), "\"Plan Rows\":");
    if (rows != NULL) *out = (int64_t)strtod(rows + strlen("\"Plan Rows\":"), NULL);
    PQclear(res);
    return ST_OK;
}

/* --- Shared with store_pg_copy.c (store_pg_int.h) --- */

PGconn *store_pg_conn(void *impl) { return ((pg_impl *)impl)->conn; }
int store_pg_wait(void *impl, st_error *err, const char *what) {
    return pg_wait(impl, err, what);
}
PGresult *store_pg_result(void *impl, st_error *err, const char *what) {
    return pg_result(impl, err, what);
}
int store_pg_poll(void *impl, st_error *err, const char *what) {
    return pg_poll(impl, err, what);
}
void store_pg_read_start(void *impl) { ((pg_impl *)impl)->cancelled = false; }
int store_pg_fail(void *impl, PGresult *res, st_error *err, const char *what) {
    return pg_fail_res(impl, res, err, what);
}
void store_pg_qualified(store_sb *b, const store_table *t) { pg_qualified(b, t); }
void store_pg_collist(store_sb *b, const store_table *t) { pg_collist(b, t, false, ""); }
int store_pg_exec(void *impl, const char *sql, st_error *err) {
    return pg_exec(impl, sql, 0, NULL, NULL, err);
}

/* --- What callers ask of the engine (store.h, store_ops version 11) ---
 *
 * Tables `ddl apply` creates are WITH (fillfactor = 90): a sync
 * destination is updated in place by every strategy, and the free tenth of
 * each page lets PostgreSQL write the new row version on the same page
 * without a new index entry (a HOT update). Measured: 10,000 updates into
 * 1M rows take 130-190 ms instead of 220-410 ms, for ~11% more space.
 *
 * Text keys order with COLLATE "C" (pg_order_term), which an index of the
 * database's collation cannot serve: keyset walks over them sort. */

#define PG_TABLE_OPTIONS " WITH (fillfactor = 90)"

#define PG_KEY_UNIQUE                                                                          \
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "                          \
    "JOIN pg_namespace n ON n.oid = c.relnamespace "                                           \
    "WHERE c.relname = $1 AND n.nspname = $2 AND i.indisunique AND i.indpred IS NULL "         \
    "AND (SELECT string_agg(a.attname::text, ',' ORDER BY a.attname::text) FROM pg_attribute " \
    "a WHERE a.attrelid = c.oid AND a.attnum = ANY(i.indkey)) = $3"

/* The planner estimates one group per key for the hash strategy's GROUP BY
 * bucket queries and would sort the whole range to disk: enable_sort off
 * makes it hash-aggregate. The penalty that setting adds to any plan with
 * a sort would make it JIT-compile even the small queries of the
 * recursion (~200 ms each), so jit goes off with it. */
static int pg_hint_aggregate(void *impl, bool on, st_error *err) {
    int rc = pg_exec(impl, on ? "SET enable_sort = off" : "RESET enable_sort", 0, NULL, NULL, err);
    if (rc == ST_OK) rc = pg_exec(impl, on ? "SET jit = off" : "RESET jit", 0, NULL, NULL, err);
    return rc;
}

/* idle_in_transaction_session_timeout and lock_timeout, in milliseconds. */
static int pg_session_limits(void *impl, int64_t idle_s, int64_t lock_s, st_error *err) {
    char sql[160];
    int rc = ST_OK;
    if (idle_s > 0) {
        snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %lld",
                 (long long)idle_s * 1000);
        rc = pg_exec(impl, sql, 0, NULL, NULL, err);
    }
    if (rc == ST_OK && lock_s > 0) {
        snprintf(sql, sizeof sql, "SET lock_timeout = %lld", (long long)lock_s * 1000);
        rc = pg_exec(impl, sql, 0, NULL, NULL, err);
    }
    return rc;
}

/* `check`: a column reads the config type's values exactly when both are
 * of one kind. */
static bool pg_type_compatible(const char *have, const char *want) {
    return store_kind_of(have) == store_kind_of(want);
}

static const struct store_ops pg_store_ops = {
    .version = STORE_OPS_VERSION,
    .engine = "postgres",
    .default_schema = "public",
    .param_prefix = '$',
    .row_list = "VALUES ",
    .open = pg_open,
    .close = pg_close,
    .canon_expr = pg_canon_expr,
    .hash_expr = pg_hash_expr,
    .param_cast = pg_param_cast,
    .order_term = pg_order_term,
    .sum64_expr = pg_sum64_expr,
    .digest_sql = pg_digest_sql,
    .query = pg_query,
    .query_small = pg_query_small,
    .reader_next = pg_next,
    .reader_close = pg_reader_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .apply = pg_apply,
    .describe = pg_describe,
    .key_indexed = pg_key_indexed,
    .ddl_type = pg_ddl_type,
    .digest_families = pg_digest_families,
    .row_digest_expr = pg_row_digest_expr,
    .ranges_select = pg_ranges_select,
    .native_form = store_pg_native_form,
    .native_open = store_pg_native_open,
    .native_read = store_pg_native_read,
    .native_close = store_pg_native_close,
    .native_write_begin = store_pg_native_write_begin,
    .native_write = store_pg_native_write,
    .native_write_end = store_pg_native_write_end,
    .relax_commit = store_pg_relax_commit,
    .ddl_transactional = true,
    .fence_create = pg_fence_create,
    .fence_read_sql = PG_FENCE_READ,
    .fence_raise_sql = PG_FENCE_RAISE,
    .fence_tag = pg_fence_tag,
    .fence_floor = pg_fence_floor,
    .fence_evict = pg_fence_evict,
    .xact_floor = store_pg_xact_floor,
    .column_stamped = store_pg_column_stamped,
    .set_interrupt = pg_set_interrupt,
    .estimate_rows = pg_estimate_rows,
    .config_type = pg_config_type,
    .primary_key = pg_primary_key,
    .schema_exists = pg_schema_exists,
    .create_schema_sql = pg_create_schema_sql,
    .text_key_order_unindexed = true,
    .ddl_table_options = PG_TABLE_OPTIONS,
    .sample_format = " TABLESAMPLE SYSTEM (%g)",
    .key_unique_sql = PG_KEY_UNIQUE,
    .type_compatible = pg_type_compatible,
    .hint_aggregate = pg_hint_aggregate,
    .session_limits = pg_session_limits,
    .keys_where = pg_keys_where,
};

const struct store_ops *store_pg_driver(void) { return &pg_store_ops; }
