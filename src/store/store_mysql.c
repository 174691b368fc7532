/*
 * store_mysql — the MySQL / MariaDB driver (MariaDB Connector/C) behind
 * struct store_ops.
 *
 * Written against MariaDB 10.11 (Debian 12's, what the tests run); it uses
 * nothing MySQL 8.0 lacks except two spellings noted where they occur
 * (LOCK IN SHARE MODE, still accepted; idle_transaction_timeout, only set
 * where the server has it: store.c), so MySQL 8.0+ is expected to work for
 * reads and writes, untested (Debian 12 ships no MySQL 8 server); MySQL 5.7
 * lacks JSON_TABLE and window functions (hash digests, keyset hashing) and
 * is not supported.
 *
 * Connection: mysql_real_connect with the config's host/port or
 * unix_socket, utf8mb4, connect timeout 10 s, TLS per ssl_mode. Every
 * session starts with (MYSQL_INIT_COMMAND, so a reconnect gets it too)
 *   time_zone '+00:00'      TIMESTAMP columns read and write in UTC;
 *   sql_mode STRICT_ALL_TABLES, NO_ZERO_IN_DATE, NO_ZERO_DATE,
 *            ERROR_FOR_DIVISION_BY_ZERO: nothing is silently truncated or
 *            rounded on write, a refused value fails the batch;
 *            ANSI_QUOTES, PIPES_AS_CONCAT, NO_BACKSLASH_ESCAPES: the SQL the
 *            sync layer builds for every engine ("quoted" identifiers, ||,
 *            '\' as a plain character) means the same here;
 *   group_concat_max_len at its maximum (range digests).
 * Connection errors are reduced to their first line and scrubbed of the
 * datastore's secrets (store_scrub; store.c scrubs every other error too)
 * before they reach a message.
 *
 * Parameters. The sync layer writes ?N placeholders (param_prefix '?').
 * They are bound on the client (my_bind_params): each becomes a string
 * literal escaped by Connector/C (mysql_real_escape_string_quote, which
 * knows the session's NO_BACKSLASH_ESCAPES and utf8mb4), or NULL; a ?#N
 * (param_cast of numbers) becomes the bare number when the text is one.
 * This is what the text protocol's own clients do, and it keeps every read
 * on mysql_use_result (a server-side prepared statement would need the
 * binary protocol and fixed result buffers). Identifiers are always quoted.
 *
 * Reads stream: query() is mysql_real_query + mysql_use_result, one row in
 * client memory at a time whatever the table size; query_small() stores
 * the (small) result. The canonical text (store.h) of text, integers,
 * booleans, time and bytes is computed by the server (my_canon_expr); four
 * kinds are sent as the server prints them behind a two-byte prefix
 * (0xFF, which no UTF-8 text holds, then the kind's control character)
 * and finished by the reader in C (my_fix_value), because the SQL
 * to do it (CASE / TRIM / DATE_FORMAT per value) cost more than the rest
 * of a full read:
 *   \x02 FLOAT      MariaDB prints the shortest exact digits but not
 *                   PostgreSQL's exponent form (my_float_text respells it);
 *   \x03 NUMERIC    trailing fraction zeros dropped;
 *   \x04 / \x05 / \x06 TIMESTAMPTZ / TIMESTAMP / DATE: ISO with a space,
 *                   fraction zeros dropped (the session is UTC). A zero date
 *                   (0000-00-00, a zero month or day) is NULL when the
 *                   datastore says `zero_dates: null`, else the read fails
 *                   naming the column and the row.
 * The hash text stays in SQL (my_hash_expr): MD5 runs inside the server.
 *
 * Writes (apply), inside the caller's transaction:
 *   INSERT            (rows known to be new) LOAD DATA LOCAL INFILE fed by
 *                     a local-infile handler that pulls the rows as the
 *                     server asks for the "file" (my_infile_*), so the
 *                     batch streams with no file and no statement text.
 *                     LOCAL makes the server turn refused values and
 *                     duplicate keys into warnings, so any warning fails
 *                     the batch (it is rolled back) with the first one's
 *                     text and its row's key. A server that refuses LOCAL
 *                     gets multi-row INSERTs instead;
 * and in statements of up to MY_STMT_BYTES (well under max_allowed_packet)
 * built as rows are pulled:
 *   UPDATE / UPSERT   multi-row INSERT ... ON DUPLICATE KEY UPDATE: an
 *                     identical row is not written (affected 0), counts
 *                     come from mysql_info() ("Duplicates: d" counts the
 *                     rows changed) and affected rows (1 per insert, 2
 *                     per change);
 *   DELETE            DELETE ... WHERE key IN (...) in key batches.
 * Values are converted from canonical text to MySQL literals per kind
 * (booleans 1/0, timestamps without 'T'/'Z' — the session is UTC — bytes
 * as X'hex', numbers bare when they are numbers).
 *
 * Checksums: MD5() over the same row text as the other engines (store.c
 * builds it from my_hash_expr), summed as unsigned 64-bit prefixes; range
 * digests are MD5(GROUP_CONCAT(row text ORDER BY key SEPARATOR '|')) per
 * JSON_TABLE range. Between two MySQL tables, SHA1 over the values as the
 * server prints them, XORed (my-native-v2, my_row_digest_expr). DDL: InnoDB, utf8mb4_bin (keys order by bytes, as the
 * other engines' keys do), the key as PRIMARY KEY (sync_ddl.c). Fencing:
 * store.c, with this engine's part at the end of this file.
 */
#include "store_backend.h"
#include "store_driver.h"

#include <ctype.h>
#include <errno.h>
#include <mysql.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* A write statement is sent when it reaches this size (max_allowed_packet
 * is 16 MiB by default; 1 MiB keeps memory small and the server busy). */
#define MY_STMT_BYTES (1 << 20)
/* Keys per DELETE statement. */
#define MY_DELETE_KEYS 1000

/* A marked value starts with 0xFF, which no UTF-8 text holds (the other
 * kinds' canonical SQL gives utf8mb4 text, hex or ASCII), then the kind:
 * a text value that merely begins with a control character is read as
 * it is (with a one-byte marker, "\x02" + "5x" was read as a float and
 * arrived as "5x"). */
#define MY_MARK_LEAD '\xff'
#define MY_FLOAT_MARK '\x02'
#define MY_NUM_MARK '\x03'
#define MY_TSTZ_MARK '\x04'
#define MY_TS_MARK '\x05'
#define MY_DATE_MARK '\x06'

typedef struct my_impl {
    MYSQL *conn;
    char name[128];
    bool zero_null;       /* zero_dates: null */
    bool no_infile;       /* the server refused LOAD DATA LOCAL: INSERT instead */
    atomic_int *intr; /* set_interrupt: ends reads */
    bool aborted;         /* a read was ended by it: the connection is cut */
} my_impl;

struct store_reader {
    my_impl *impl;
    MYSQL_RES *res;
    unsigned ncols;
    const char **row;
    char **fixed;         /* per column: buffer of a value finished in C */
};

/* --- Errors --- */

/* Server gone or unreachable: ST_EUNAVAIL; anything else ST_ERR. */
/* Never an empty cause: without a client error the message says so and
 * gives the error number. A read ended by an interrupt is ST_EINTR. */
static int my_fail(my_impl *m, st_error *err, const char *what) {
    unsigned no = mysql_errno(m->conn);
    char clean[sizeof err->msg];
    store_scrub(clean, sizeof clean, mysql_error(m->conn), NULL);
    if (clean[0] == '\0')
        snprintf(clean, sizeof clean, "no result from the server (client error %u; the "
                 "connection may be lost or out of step)", no);
    /* 1205 lock wait timeout: another writer holds the rows (skipped, not
     * failed, by the job manager) */
    int code = (no == 2006 || no == 2013 || no == 2002 || no == 2003) ? ST_EUNAVAIL
             : no == 1205                                           ? ST_EBUSY
                                                                    : ST_ERR;
    if (m->aborted)
        return st_error_set(err, ST_EINTR, "datastore '%s' (mysql): %s: interrupted (the "
                            "read was abandoned)", m->name, what);
    return st_error_set(err, code, "datastore '%s' (mysql): %s: %s", m->name, what, clean);
}

/* --- Interruptible reads ---
 * Reads (a streamed query, its rows, a small query's result) go through
 * Connector/C's non-blocking calls (MYSQL_OPT_NONBLOCK, set at connect; the
 * blocking calls still work for everything else), waiting on the socket in
 * 100 ms polls. Once the interrupt flag is up the socket is shut down: the
 * call ends at once with a lost connection, reported as ST_EINTR, and the
 * server abandons the statement when it sees the connection go. The run is
 * ending; the connection is only closed after that. */
static void my_set_interrupt(void *impl, atomic_int *flag) {
    ((my_impl *)impl)->intr = flag;
}

/* Waits for the events `status` asks for; returns those that happened
 * (MYSQL_WAIT_TIMEOUT once the connector's own timeout has passed). */
static int my_wait(my_impl *m, int status) {
    unsigned waited_ms = 0, limit_ms = (status & MYSQL_WAIT_TIMEOUT)
                                           ? mysql_get_timeout_value_ms(m->conn) : 0;
    for (;;) {
        if (!m->aborted && m->intr != NULL && *m->intr) {
            shutdown(mysql_get_socket(m->conn), SHUT_RDWR);
            m->aborted = true;
        }
        struct pollfd p = {.fd = mysql_get_socket(m->conn)};
        if (status & MYSQL_WAIT_READ) p.events |= POLLIN;
        if (status & MYSQL_WAIT_WRITE) p.events |= POLLOUT;
        if (status & MYSQL_WAIT_EXCEPT) p.events |= POLLPRI;
        int n = poll(&p, 1, 100);
        if (n > 0) {
            int ready = 0;
            if (p.revents & (POLLIN | POLLHUP | POLLERR)) ready |= MYSQL_WAIT_READ;
            if (p.revents & (POLLOUT | POLLHUP | POLLERR)) ready |= MYSQL_WAIT_WRITE;
            if (p.revents & POLLPRI) ready |= MYSQL_WAIT_EXCEPT;
            if (ready) return ready;
        }
        if (n < 0 && errno != EINTR) return status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
        waited_ms += 100;
        if (limit_ms > 0 && waited_ms >= limit_ms) return MYSQL_WAIT_TIMEOUT;
    }
}

static int my_real_query_read(my_impl *m, const char *text) {
    int ret = 0;
    int st = mysql_real_query_start(&ret, m->conn, text, (unsigned long)strlen(text));
    while (st) st = mysql_real_query_cont(&ret, m->conn, my_wait(m, st));
    return ret;
}

static MYSQL_RES *my_store_result_read(my_impl *m) {
    MYSQL_RES *res = NULL;
    int st = mysql_store_result_start(&res, m->conn);
    while (st) st = mysql_store_result_cont(&res, m->conn, my_wait(m, st));
    return res;
}

static MYSQL_ROW my_fetch_row_read(my_impl *m, MYSQL_RES *res) {
    MYSQL_ROW row = NULL;
    int st = mysql_fetch_row_start(&row, res);
    while (st) st = mysql_fetch_row_cont(&row, res, my_wait(m, st));
    return row;
}

/* --- Connection --- */

static const char MY_INIT[] =
    "SET time_zone = '+00:00', "
    "sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION,ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES', "
    "group_concat_max_len = 4294967295";

static void my_ssl(MYSQL *c, const char *mode) {
    if (mode == NULL || strcmp(mode, "disable") == 0) return;
    my_bool yes = 1;
    /* preferred: try TLS; required and stricter: refuse a plain connection. */
    mysql_ssl_set(c, NULL, NULL, NULL, NULL, NULL);
    if (strcmp(mode, "preferred") != 0) mysql_optionsv(c, MYSQL_OPT_SSL_ENFORCE, &yes);
    if (strncmp(mode, "verify_", 7) == 0)
        mysql_optionsv(c, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
}

static int my_open(void **impl, const config_datastore *ds, st_error *err) {
    my_impl *m = calloc(1, sizeof *m);
    if (m == NULL || (m->conn = mysql_init(NULL)) == NULL) {
        free(m);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    snprintf(m->name, sizeof m->name, "%s", ds->name);
    m->zero_null = ds->zero_dates_null;
    unsigned timeout = 10;
    mysql_optionsv(m->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(m->conn, MYSQL_INIT_COMMAND, MY_INIT);
    unsigned infile = 1;
    mysql_optionsv(m->conn, MYSQL_OPT_LOCAL_INFILE, &infile);
    mysql_optionsv(m->conn, MYSQL_OPT_NONBLOCK, 0);   /* interruptible reads */
    my_ssl(m->conn, ds->sslmode);
    const char *host = ds->unix_socket ? "localhost" : ds->host ? ds->host : "127.0.0.1";
    if (mysql_real_connect(m->conn, host, ds->user, ds->password, ds->dbname,
                           ds->port > 0 ? (unsigned)ds->port : 0, ds->unix_socket, 0) == NULL) {
        char clean[sizeof err->msg];
        store_scrub(clean, sizeof clean, mysql_error(m->conn), (const char *const *)ds->secrets);
        st_error_set(err, ST_EUNAVAIL, "datastore '%s' (mysql): cannot connect: %s", ds->name,
                     clean);
        mysql_close(m->conn);
        free(m);
        return ST_EUNAVAIL;
    }
    *impl = m;
    return ST_OK;
}

static void my_close(void *impl) {
    my_impl *m = impl;
    if (m == NULL) return;
    mysql_close(m->conn);
    free(m);
}

/* --- Dialect --- */

/* Exact decimal text without trailing fraction zeros, in SQL (hash text). */
static void my_numeric_sql(store_sb *b, const char *c) {
    store_sb_addf(b, "CASE WHEN LOCATE('.', CAST(%s AS CHAR)) > 0 THEN TRIM(TRAILING '.' FROM "
                     "TRIM(TRAILING '0' FROM CAST(%s AS CHAR))) ELSE CAST(%s AS CHAR) END", c, c, c);
}

/* Numerics, floats and the temporal kinds are sent as the server prints
 * them behind a marker and finished in C (my_fix_value): a CONCAT costs the
 * server a fraction of the CASE / TRIM / DATE_FORMAT expressions, which
 * dominated a full read. */
static void my_canon_expr(store_sb *b, store_kind kind, const char *c) {
    switch (kind) {
    case STORE_K_NUMERIC: store_sb_addf(b, "CONCAT(_binary X'FF03', %s)", c); break;
    case STORE_K_FLOAT: store_sb_addf(b, "CONCAT(_binary X'FF02', CAST(%s AS DOUBLE))", c); break;
    case STORE_K_TIMESTAMPTZ: store_sb_addf(b, "CONCAT(_binary X'FF04', %s)", c); break;
    case STORE_K_TIMESTAMP: store_sb_addf(b, "CONCAT(_binary X'FF05', %s)", c); break;
    case STORE_K_DATE: store_sb_addf(b, "CONCAT(_binary X'FF06', %s)", c); break;
    case STORE_K_BOOL:
        store_sb_addf(b, "CASE WHEN (%s) IS NULL THEN NULL WHEN (%s) <> 0 THEN 't' ELSE 'f' END", c, c);
        break;
    case STORE_K_BYTES: store_sb_addf(b, "CONCAT('\\x', LOWER(HEX(%s)))", c); break;
    case STORE_K_TIME:
        /* PostgreSQL's time output: fraction digits only when non-zero. */
        store_sb_addf(b, "CASE WHEN MICROSECOND(%s) = 0 THEN TIME_FORMAT(%s, '%%H:%%i:%%s') "
                         "ELSE TRIM(TRAILING '0' FROM TIME_FORMAT(%s, '%%H:%%i:%%s.%%f')) END",
                      c, c, c);
        break;
    default: store_sb_addf(b, "CAST(%s AS CHAR)", c);
    }
}

/* The hash text (store.h). Timestamps: PostgreSQL's ISO output (space,
 * trailing fraction zeros dropped); a zero date hashes as NULL (its row is
 * then read and refused, or copied as NULL with zero_dates: null). Floats:
 * MariaDB's shortest digits with PostgreSQL's exponent spelling (1e+20,
 * 1.5e-07); values below 1e-4 print in plain form here and in exponent
 * form there, so their ranges compare row by row (still exact). */
static void my_hash_expr(store_sb *b, store_kind kind, const char *c) {
    const char *f = kind == STORE_K_DATE ? "%Y-%m-%d" : "%Y-%m-%d %H:%i:%s";
    switch (kind) {
    case STORE_K_TIMESTAMPTZ:
    case STORE_K_TIMESTAMP:
        store_sb_addf(b, "CASE WHEN MONTH(%s) = 0 OR DAYOFMONTH(%s) = 0 THEN NULL "
                         "WHEN MICROSECOND(%s) = 0 THEN DATE_FORMAT(%s, '%s') ELSE "
                         "TRIM(TRAILING '0' FROM DATE_FORMAT(%s, '%s.%%f')) END",
                      c, c, c, c, f, c, f);
        break;
    case STORE_K_DATE:
        store_sb_addf(b, "CASE WHEN MONTH(%s) = 0 OR DAYOFMONTH(%s) = 0 THEN NULL "
                         "ELSE DATE_FORMAT(%s, '%s') END", c, c, c, f);
        break;
    case STORE_K_NUMERIC: my_numeric_sql(b, c); break;
    case STORE_K_FLOAT:
        store_sb_addf(b, "CASE WHEN LOCATE('e', CAST(%s AS DOUBLE)) = 0 THEN CAST(%s AS DOUBLE) "
                         "ELSE CONCAT(SUBSTRING_INDEX(CAST(%s AS DOUBLE), 'e', 1), 'e', "
                         "IF(SUBSTRING_INDEX(CAST(%s AS DOUBLE), 'e', -1) LIKE '-%%', '-', '+'), "
                         "LPAD(TRIM(LEADING '-' FROM SUBSTRING_INDEX(CAST(%s AS DOUBLE), 'e', -1)), "
                         "2, '0')) END",
                      c, c, c, c, c);
        break;
    default: my_canon_expr(b, kind, c);
    }
}

/* Numbers as bare literals (exact, and the key index is used); the rest
 * through CAST of the bound string. */
static void my_param_cast(store_sb *b, const char *param, store_kind kind, const char *type) {
    (void)type;
    const char *num = param[0] == '?' ? param + 1 : param;
    switch (kind) {
    case STORE_K_INT:
    case STORE_K_NUMERIC: store_sb_addf(b, "?#%s", num); break;
    case STORE_K_FLOAT: store_sb_addf(b, "CAST(%s AS DOUBLE)", param); break;
    case STORE_K_BOOL: store_sb_addf(b, "(%s = 't')", param); break;
    case STORE_K_TIMESTAMPTZ:
    case STORE_K_TIMESTAMP:
        store_sb_addf(b, "CAST(REPLACE(REPLACE(%s, 'T', ' '), 'Z', '') AS DATETIME(6))", param);
        break;
    case STORE_K_DATE: store_sb_addf(b, "CAST(%s AS DATE)", param); break;
    case STORE_K_BYTES: store_sb_addf(b, "UNHEX(SUBSTRING(%s, 3))", param); break;
    default: store_sb_add(b, param);
    }
}

/* Text keys order by bytes, as on the other engines (utf8mb4_bin orders
 * by code point, which is UTF-8 byte order); tables made by `ddl apply`
 * use that collation, so the key index serves the ORDER BY. */
static void my_order_term(store_sb *b, const char *qcol, store_kind kind) {
    if (kind == STORE_K_TEXT) store_sb_addf(b, "%s COLLATE utf8mb4_bin", qcol);
    else store_sb_add(b, qcol);
}

/* SUM over BIGINT UNSIGNED is an exact DECIMAL; the caller reduces it mod
 * 2^64 (store_mod64), the same as PostgreSQL's signed sum reduced. */
static void my_sum64_expr(store_sb *b, const char *rowtext) {
    store_sb_addf(b, "CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(%s), 1, 16), 16, 10) AS UNSIGNED)), "
                     "0) AS CHAR)", rowtext);
}

/* Per-row digests (store.h: digest_families), between two MySQL/MariaDB
 * tables only: my-native-v2 is the first 16 hex digits of SHA1 over the
 * compared values as the server prints them natively (numbers and times
 * bare, other kinds as "len:text", NULL as N, joined by '|': an injective
 * spelling), as an unsigned integer; a range's checksum is the BIT_XOR of
 * its rows' digests. The server's own text is one per value for a given
 * column type (decimals exact, doubles in their shortest digits,
 * DATETIME(6) with six fraction digits, TIMESTAMP in the session's UTC), so
 * it needs none of the canonical text's CASE / TRIM / DATE_FORMAT per
 * value. Two tables whose column types differ print equal values
 * differently: their rows then differ by digest and are compared by
 * canonical text when read (a false difference costs a read, never a
 * write).
 *
 * What each part costs MariaDB 10.11 per row (server CPU, 1M rows of six
 * columns, GROUP BY into 15,625 buckets; CHECKSUM TABLE takes ~0.2 s):
 * v1 (MD5, '|' and 'N' in the connection's utf8mb4, IFNULL per value, SUM)
 * took ~2.6-3.0 s, v2 ~1.4 s:
 *   MD5()   goes through OpenSSL's EVP interface per call (context set-up,
 *           an implicit algorithm fetch under a lock): ~0.7 us a row more
 *           than SHA1(), whose digest is just as good for telling rows
 *           apart (64 bits of it are kept either way);
 *   SUM     over BIGINT UNSIGNED accumulates an exact DECIMAL (a decimal
 *           addition and a conversion per row); BIT_XOR stays in 64-bit
 *           integers. XOR combines a set as exactly as a sum does here:
 *           a row's text includes its unique key, so no text occurs twice
 *           on one side, and two different sets of rows give equal XORs
 *           with probability 2^-64, as they give equal sums;
 *   utf8mb4 literals made the text utf8mb4, and the server converted the
 *           whole text to binary for the hash function character by
 *           character (my_convert_fix, the costliest single function) and
 *           every number to utf8mb4 on the way in; _binary literals make
 *           the text binary, where no conversion is done (a text column's
 *           bytes are the same either way);
 *   IFNULL  per value, when most rows have none: the row is first built by
 *           one CONCAT of the bare values, which is NULL when any value is
 *           NULL, and only then by CONCAT_WS of the IFNULLs — both spell a
 *           row without NULLs identically (my_native_text).
 * The double's shortest digits (dtoa) stay the costliest value (~0.4 us);
 * nothing cheaper tells every double apart in SQL. */
static const char *const my_digest_families[] = {"my-native-v2", NULL};

/* Kinds whose native text never holds '|' nor equals 'N': written bare
 * (the length prefix cost a second conversion of each number). */
static bool my_native_plain(store_kind k) {
    return k == STORE_K_INT || k == STORE_K_NUMERIC || k == STORE_K_FLOAT || k == STORE_K_BOOL ||
           k == STORE_K_TIMESTAMPTZ || k == STORE_K_TIMESTAMP || k == STORE_K_DATE ||
           k == STORE_K_TIME;
}

/* The row's native text: IFNULL(CONCAT(v1, '|', v2, ...), CONCAT_WS('|',
 * IFNULL(v1, 'N'), ...)), each v bare or "LENGTH(v), ':', v". The first is
 * NULL exactly when a value is (CONCAT's rule), and otherwise the same
 * bytes as the second, which is the definition. */
static void my_native_text(store_sb *b, const store_table *t) {
    for (int pass = 0; pass < 2; pass++) {
        store_sb_add(b, pass == 0 ? "IFNULL(CONCAT(" : ", CONCAT_WS(_binary'|'");
        bool first = true;
        for (size_t i = 0; i < t->ncols; i++) {
            if (t->ignored != NULL && t->ignored[i]) continue; /* compare: false */
            store_sb q = {0};
            store_sb_quote(&q, t->cols[i]);
            const char *c = q.s ? q.s : "``";
            bool plain = my_native_plain(t->kinds[i]);
            if (pass == 0) {
                if (!first) store_sb_add(b, ", _binary'|', ");
                if (plain) store_sb_add(b, c);
                else store_sb_addf(b, "LENGTH(%s), _binary':', %s", c, c);
            } else if (plain) {
                store_sb_addf(b, ", IFNULL(%s, _binary'N')", c);
            } else {
                store_sb_addf(b, ", IFNULL(CONCAT(LENGTH(%s), _binary':', %s), _binary'N')", c, c);
            }
            first = false;
            if (q.oom) b->oom = true;
            store_sb_free(&q);
        }
        store_sb_add(b, ")");
    }
    store_sb_add(b, ")");
}

static int my_row_digest_expr(store_sb *b, const char *family, const store_table *t,
                              const char *rowtext, bool sum) {
    (void)rowtext;
    if (strcmp(family, "my-native-v2") != 0) return ST_ENOTIMPL;
    store_sb_add(b, sum ? "CAST(BIT_XOR(" : "CAST(");
    store_sb_add(b, "CAST(CONV(LEFT(SHA1(");
    my_native_text(b, t);
    store_sb_add(b, "), 16), 16, 10) AS UNSIGNED)");
    store_sb_add(b, sum ? ") AS CHAR)" : " AS CHAR)");
    return ST_OK;
}

/* Ranges from the JSON parameter (JSON_TABLE, MariaDB 10.6+ / MySQL 8),
 * joined to the table by key; GROUP_CONCAT in key order gives the text
 * PostgreSQL's string_agg builds. Empty ranges yield no row (the caller
 * reads them as count 0). */
static void my_digest_sql(store_sb *b, const char *from, const char *qkey, const char *rowtext) {
    store_sb_addf(b,
        "SELECT \"synctool_u\".\"synctool_i\" - 1, count(*), "
        "MD5(GROUP_CONCAT(%s ORDER BY %s SEPARATOR '|')) "
        "FROM JSON_TABLE(?1, '$[*]' COLUMNS (\"synctool_i\" FOR ORDINALITY, "
        "\"synctool_lo\" BIGINT PATH '$[0]', \"synctool_hi\" BIGINT PATH '$[1]')) AS \"synctool_u\" "
        "JOIN %s ON %s BETWEEN \"synctool_u\".\"synctool_lo\" AND \"synctool_u\".\"synctool_hi\" "
        "GROUP BY \"synctool_u\".\"synctool_i\"",
        rowtext, qkey, from, qkey);
}

/* --- Statements --- */

/* Appends value v as a string literal escaped by Connector/C. */
static void my_literal(store_sb *b, MYSQL *conn, const char *v, size_t len) {
    char stackbuf[512];
    char *buf = 2 * len + 1 <= sizeof stackbuf ? stackbuf : malloc(2 * len + 1);
    if (buf == NULL) { b->oom = true; return; }
    unsigned long n = mysql_real_escape_string(conn, buf, v, (unsigned long)len);
    store_sb_add(b, "'");
    store_sb_addn(b, buf, n);
    store_sb_add(b, "'");
    if (buf != stackbuf) free(buf);
}

/* [-]digits[.digits]: safe to paste bare. */
static bool my_is_number(const char *v) {
    const char *p = v;
    if (*p == '-') p++;
    if (!isdigit((unsigned char)*p)) return false;
    while (isdigit((unsigned char)*p)) p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return false;
        while (isdigit((unsigned char)*p)) p++;
    }
    return *p == '\0';
}

/* Rewrites ?N / ?#N placeholders outside quotes into literals of params. */
static int my_bind_params(my_impl *m, store_sb *out, const char *sql, int np,
                          const char *const *p, st_error *err) {
    char quote = 0;
    for (const char *s = sql; *s; s++) {
        if (quote) {
            if (*s == quote) quote = 0;
            store_sb_addn(out, s, 1);
            continue;
        }
        if (*s == '\'' || *s == '"' || *s == '`') {
            quote = *s;
            store_sb_addn(out, s, 1);
            continue;
        }
        bool bare = s[0] == '?' && s[1] == '#' && isdigit((unsigned char)s[2]);
        if (s[0] != '?' || !(bare || isdigit((unsigned char)s[1]))) {
            store_sb_addn(out, s, 1);
            continue;
        }
        char *end;
        long k = strtol(s + (bare ? 2 : 1), &end, 10);
        if (k < 1 || k > np)
            return st_error_set(err, ST_EINVAL, "datastore '%s' (mysql): parameter ?%ld of %d",
                                m->name, k, np);
        const char *v = p[k - 1];
        if (v == NULL) store_sb_add(out, "NULL");
        else if (bare && my_is_number(v)) store_sb_add(out, v);
        else my_literal(out, m->conn, v, strlen(v));
        s = end - 1;
    }
    return out->oom ? st_error_set(err, ST_ENOMEM, "out of memory") : ST_OK;
}

/* Sends a statement; a read's (`read`) waits are interruptible. */
static int my_send_mode(my_impl *m, const char *sql, int np, const char *const *p, bool read,
                        st_error *err) {
    store_sb q = {0};
    int rc = ST_OK;
    if (np > 0) rc = my_bind_params(m, &q, sql, np, p, err);
    if (rc == ST_OK) {
        const char *text = np > 0 ? q.s : sql;
        if ((read ? my_real_query_read(m, text)
                  : mysql_real_query(m->conn, text, (unsigned long)strlen(text))) != 0)
            rc = my_fail(m, err, "statement");
    }
    store_sb_free(&q);
    return rc;
}

static int my_send(my_impl *m, const char *sql, int np, const char *const *p, st_error *err) {
    return my_send_mode(m, sql, np, p, false, err);
}

static int my_exec(void *impl, const char *sql, int np, const char *const *p,
                   int64_t *affected, st_error *err) {
    my_impl *m = impl;
    int rc = my_send(m, sql, np, p, err);
    if (rc != ST_OK) return rc;
    MYSQL_RES *res = mysql_store_result(m->conn);
    if (res) mysql_free_result(res);
    else if (mysql_field_count(m->conn) != 0) return my_fail(m, err, "statement");
    if (affected) {
        my_ulonglong n = mysql_affected_rows(m->conn);
        *affected = n == (my_ulonglong)-1 ? 0 : (int64_t)n;
    }
    return ST_OK;
}

static int my_begin(void *impl, st_error *err) {
    return my_exec(impl, "START TRANSACTION", 0, NULL, NULL, err);
}
static int my_commit(void *impl, st_error *err) { return my_exec(impl, "COMMIT", 0, NULL, NULL, err); }
static int my_rollback(void *impl) { return my_exec(impl, "ROLLBACK", 0, NULL, NULL, NULL); }

static int my_reader_new(my_impl *m, MYSQL_RES *res, store_reader **out, st_error *err) {
    store_reader *r = calloc(1, sizeof *r);
    unsigned n = mysql_num_fields(res);
    if (r == NULL || (r->row = calloc((size_t)n + 1, sizeof *r->row)) == NULL ||
        (r->fixed = calloc((size_t)n + 1, sizeof *r->fixed)) == NULL) {
        if (r) free(r->row);
        free(r);
        mysql_free_result(res);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    r->impl = m;
    r->res = res;
    r->ncols = n;
    *out = r;
    return ST_OK;
}

static int my_query_mode(void *impl, store_reader **out, const char *sql, int np,
                         const char *const *p, bool small, st_error *err) {
    my_impl *m = impl;
    int rc = my_send_mode(m, sql, np, p, true, err);
    if (rc != ST_OK) return rc;
    MYSQL_RES *res = small ? my_store_result_read(m) : mysql_use_result(m->conn);
    if (res == NULL) return my_fail(m, err, "query");
    return my_reader_new(m, res, out, err);
}

static int my_query(void *impl, store_reader **out, const char *sql, int np,
                    const char *const *p, st_error *err) {
    return my_query_mode(impl, out, sql, np, p, false, err);
}

static int my_query_small(void *impl, store_reader **out, const char *sql, int np,
                          const char *const *p, st_error *err) {
    return my_query_mode(impl, out, sql, np, p, true, err);
}

/* The kind mark of a value my_canon_expr marked (MY_MARK_LEAD), else 0. */
static char my_mark(const char *v) {
    return v[0] == MY_MARK_LEAD && v[1] >= MY_FLOAT_MARK && v[1] <= MY_DATE_MARK ? v[1] : 0;
}

/* "(v1, v2, ...)" of the row, for the zero-date message (values cut). */
static void my_row_text(store_reader *r, MYSQL_ROW row, char *out, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(out, n, "(");
    for (unsigned i = 0; i < r->ncols && k + 8 < n; i++) {
        const char *v = row[i] ? row[i] : "NULL";
        if (my_mark(v)) v += 2;
        k += (size_t)snprintf(out + k, n - k, "%s%.40s", i ? ", " : "", v);
    }
    if (k + 2 < n) snprintf(out + k, n - k, ")");
}

/* Rewrites MariaDB's double text ("1e20", "0.00000015", "-2.5") into
 * PostgreSQL's float8 output. Both print the shortest digits that read
 * back as the same double, so only the spelling differs: PostgreSQL uses
 * an exponent (at least two digits, with its sign) when the decimal
 * exponent is below -4 or at least 15, plain digits otherwise. Returns
 * NULL when `in` is not such a number (the caller then parses it). */
static const char *my_float_text(const char *in, char *out, size_t n) {
    const char *p = in;
    bool neg = *p == '-';
    if (neg) p++;
    char all[40];
    size_t k = 0;
    int intlen = -1;                /* digits before the point */
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            if (intlen >= 0) return NULL;
            intlen = (int)k;
            continue;
        }
        if (k + 1 >= sizeof all) return NULL;
        all[k++] = *p;
    }
    if (k == 0) return NULL;
    if (intlen < 0) intlen = (int)k;
    long e = 0;
    if (*p == 'e' || *p == 'E') {
        char *end;
        e = strtol(p + 1, &end, 10);
        if (end == p + 1 || e > 400 || e < -400) return NULL;
        p = end;
    }
    if (*p != '\0') return NULL;
    size_t z = 0;
    while (z < k && all[z] == '0') z++;
    while (k > z && all[k - 1] == '0') k--;
    if (k == z) { snprintf(out, n, "%s", neg ? "-0" : "0"); return out; }
    all[k] = '\0';
    const char *d = all + z;          /* significant digits */
    int nd = (int)(k - z);
    int x = intlen - 1 - (int)z + (int)e;   /* decimal exponent of d[0] */
    const char *sg = neg ? "-" : "";
    int len;
    if (x < -4 || x >= 15)
        len = snprintf(out, n, "%s%c%s%se%c%02d", sg, d[0], nd > 1 ? "." : "", d + 1,
                       x < 0 ? '-' : '+', x < 0 ? -x : x);
    else if (x < 0)
        len = snprintf(out, n, "%s0.%.*s%s", sg, -x - 1, "0000", d);
    else if (x + 1 >= nd)
        len = snprintf(out, n, "%s%s%.*s", sg, d, x + 1 - nd, "000000000000000");
    else
        len = snprintf(out, n, "%s%.*s.%s", sg, x + 1, d, d + x + 1);
    return len > 0 && (size_t)len < n ? out : NULL;
}

/* Finishes column i in C (see top). */
/* The column a select item reads: the last "quoted" identifier of the
 * expression the server names the field after. */
static void my_field_column(store_reader *r, unsigned i, char *out, size_t n) {
    MYSQL_FIELD *f = mysql_fetch_field_direct(r->res, i);
    const char *name = f && f->name ? f->name : "?";
    const char *end = strrchr(name, '"');
    const char *start = NULL;
    if (end && end > name)
        for (const char *p = end - 1; p >= name && start == NULL; p--)
            if (*p == '"') start = p;
    if (start) snprintf(out, n, "%.*s", (int)(end - start + 1), start);
    else snprintf(out, n, "#%u", i + 1);
}

static int my_zero_date(store_reader *r, MYSQL_ROW row, unsigned i, st_error *err) {
    if (r->impl->zero_null) { r->row[i] = NULL; return ST_OK; }
    char rowtext[400], col[160];
    my_row_text(r, row, rowtext, sizeof rowtext);
    my_field_column(r, i, col, sizeof col);
    return st_error_set(err, ST_EINVAL,
                        "datastore '%s' (mysql): column %s holds the zero date 0000-00-00 in "
                        "the row %s: fix the row, or set `zero_dates: null` on the datastore "
                        "to read zero dates as NULL", r->impl->name, col, rowtext);
}

/* "2025-01-02 03:04:05[.ffffff]" or "2025-01-02" -> canonical (store.h:
 * "2025-01-02 03:04:05.5", fraction zeros dropped);
 * NULL when v is not such a text. Sets *zero for a zero month or day. */
static const char *my_time_text(const char *v, char mark, char *out, size_t n, bool *zero) {
    size_t len = strlen(v);
    *zero = false;
    if (len < 10 || v[4] != '-' || v[7] != '-') return NULL;
    *zero = (v[5] == '0' && v[6] == '0') || (v[8] == '0' && v[9] == '0');
    if (mark == MY_DATE_MARK) {
        snprintf(out, n, "%.10s", v);
        return out;
    }
    (void)mark;   /* TIMESTAMPTZ and TIMESTAMP share the form; the session is UTC */
    if (len < 19) {
        snprintf(out, n, "%.10s 00:00:00", v);
        return out;
    }
    size_t k = len > 26 ? 26 : len;   /* "YYYY-MM-DD HH:MM:SS.ffffff" */
    if (k + 1 > n) return NULL;
    memcpy(out, v, k);
    out[10] = ' ';
    while (k > 20 && out[k - 1] == '0') k--;     /* fraction zeros, then a lone '.' */
    if (k == 20 && out[19] == '.') k = 19;
    out[k] = '\0';
    return out;
}

/* Decimal text without trailing fraction zeros (and no lone '.'). */
static const char *my_numeric_text(const char *v, char *out, size_t n) {
    size_t len = strlen(v);
    if (len + 1 > n) return NULL;
    memcpy(out, v, len + 1);
    if (strchr(out, '.') == NULL) return out;
    while (len > 0 && out[len - 1] == '0') out[--len] = '\0';
    if (len > 0 && out[len - 1] == '.') out[--len] = '\0';
    if (strcmp(out, "-0") == 0) snprintf(out, n, "0");
    return out;
}

static int my_fix_value(store_reader *r, MYSQL_ROW row, unsigned i, st_error *err) {
    char mark = my_mark(row[i]);
    const char *v = row[i] + 2;   /* after the mark */
    if (r->fixed[i] == NULL && (r->fixed[i] = malloc(96)) == NULL)
        return st_error_set(err, ST_ENOMEM, "out of memory");
    if (mark == MY_NUM_MARK) {
        r->row[i] = my_numeric_text(v, r->fixed[i], 96);
        if (r->row[i] == NULL) r->row[i] = v;   /* longer than any decimal: as is */
        return ST_OK;
    }
    if (mark == MY_TSTZ_MARK || mark == MY_TS_MARK || mark == MY_DATE_MARK) {
        bool zero;
        r->row[i] = my_time_text(v, mark, r->fixed[i], 96, &zero);
        if (zero) return my_zero_date(r, row, i, err);
        if (r->row[i] == NULL) {
            store_kind k = mark == MY_TSTZ_MARK ? STORE_K_TIMESTAMPTZ
                         : mark == MY_TS_MARK ? STORE_K_TIMESTAMP : STORE_K_DATE;
            const char *c = store_canon_text(v, k, r->fixed[i], 96);
            r->row[i] = c ? c : v;
        }
        return ST_OK;
    }
    if ((r->row[i] = my_float_text(v, r->fixed[i], 64)) != NULL) return ST_OK;
    char *end;
    double d = strtod(v, &end);
    r->row[i] = *end == '\0' ? store_canon_double(d, STORE_K_FLOAT, r->fixed[i], 64) : v;
    return ST_OK;
}

static int my_next(store_reader *r, const char *const **row, int *ncols, st_error *err) {
    MYSQL_ROW mr = my_fetch_row_read(r->impl, r->res);
    if (mr == NULL) {
        if (mysql_errno(r->impl->conn) != 0) return my_fail(r->impl, err, "reading rows");
        return 0;
    }
    for (unsigned i = 0; i < r->ncols; i++) {
        r->row[i] = mr[i];
        if (mr[i] && my_mark(mr[i])) {
            int rc = my_fix_value(r, mr, i, err);
            if (rc != ST_OK) return rc;
        }
    }
    *row = r->row;
    *ncols = (int)r->ncols;
    return 1;
}

/* mysql_free_result reads and drops the rest of an unbuffered result. */
static void my_reader_close(store_reader *r) {
    if (r == NULL) return;
    mysql_free_result(r->res);
    for (unsigned i = 0; i < r->ncols; i++) free(r->fixed[i]);
    free(r->fixed);
    free(r->row);
    free(r);
}

/* --- Apply --- */

static void my_qualified(store_sb *b, const store_table *t) {
    if (t->schema) {
        store_sb_quote(b, t->schema);
        store_sb_add(b, ".");
    }
    store_sb_quote(b, t->table);
}

/* Appends canonical value v of `kind` as a MySQL literal (see top). */
static void my_value(store_sb *b, MYSQL *conn, store_kind kind, const char *v) {
    if (v == NULL) { store_sb_add(b, "NULL"); return; }
    switch (kind) {
    case STORE_K_INT:
    case STORE_K_NUMERIC:
    case STORE_K_FLOAT:
        if (my_is_number(v)) { store_sb_add(b, v); return; }
        break;
    case STORE_K_BOOL:
        if (strcmp(v, "t") == 0 || strcmp(v, "f") == 0) { store_sb_add(b, v[0] == 't' ? "1" : "0"); return; }
        break;
    case STORE_K_TIMESTAMPTZ:
    case STORE_K_TIMESTAMP: {
        char t[64];
        size_t n = strlen(v);
        if (n >= sizeof t || n < 10) break;
        memcpy(t, v, n + 1);
        if (n > 10 && t[10] == 'T') t[10] = ' ';
        if (t[n - 1] == 'Z') t[--n] = '\0';
        my_literal(b, conn, t, n);
        return;
    }
    case STORE_K_BYTES:
        if (v[0] == '\\' && v[1] == 'x') {
            bool hex = true;
            for (const char *p = v + 2; *p && hex; p++) hex = isxdigit((unsigned char)*p);
            if (hex) { store_sb_addf(b, "X'%s'", v + 2); return; }
        }
        break;
    default: break;
    }
    my_literal(b, conn, v, strlen(v));
}

static void my_collist(store_sb *b, const store_table *t) {
    for (size_t i = 0; i < t->ncols; i++) {
        if (i) store_sb_add(b, ", ");
        store_sb_quote(b, t->cols[i]);
    }
}

static void my_row_values(store_sb *b, MYSQL *conn, const store_table *t, const char *const *v,
                          bool keys_only) {
    const char *sep = "";
    store_sb_add(b, "(");
    for (size_t i = 0; i < t->ncols; i++) {
        if (keys_only && !t->key[i]) continue;
        store_sb_add(b, sep);
        my_value(b, conn, t->kinds[i], v[i]);
        sep = ", ";
    }
    store_sb_add(b, ")");
}

/* The rows an INSERT ... ON DUPLICATE KEY UPDATE of `rows` rows changed:
 * "Records: 3  Duplicates: 1  Warnings: 0" (multi-row statements), or for
 * one row (no info) affected 2 = updated, 1 = inserted, 0 = identical. */
static int64_t my_updated_rows(MYSQL *conn, int64_t rows, int64_t affected) {
    const char *info = mysql_info(conn);
    const char *d = info ? strstr(info, "Duplicates:") : NULL;
    if (d) return strtoll(d + 11, NULL, 10);
    return rows == 1 && affected == 2 ? 1 : 0;
}

/* The keys of the rows in the statement being built ("id=7" texts, each
 * NUL-terminated, at offs[i]), so a value the server refuses "at row N"
 * is reported with its key. */
typedef struct my_keys {
    store_sb text;
    size_t *offs;
    size_t n, cap;
} my_keys;

static void my_keys_add(my_keys *k, const store_table *t, const char *const *v) {
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        size_t *p = realloc(k->offs, cap * sizeof *p);
        if (p == NULL) { k->text.oom = true; return; }
        k->offs = p;
        k->cap = cap;
    }
    k->offs[k->n++] = k->text.len;
    const char *sep = "";
    for (size_t i = 0; i < t->ncols; i++) {
        if (!t->key[i]) continue;
        store_sb_addf(&k->text, "%s%s=%.60s", sep, t->cols[i], v[i] ? v[i] : "NULL");
        sep = ", ";
    }
    store_sb_addn(&k->text, "", 1);   /* keeps the NUL */
}

static void my_keys_free(my_keys *k) {
    store_sb_free(&k->text);
    free(k->offs);
}

/* Adds "(key id=7)" to a server error naming "at row N" of the statement. */
static void my_name_key(st_error *err, const my_keys *k) {
    const char *at = err ? strstr(err->msg, " at row ") : NULL;
    if (at == NULL || k->text.oom) return;
    long row = strtol(at + 8, NULL, 10);
    if (row < 1 || (size_t)row > k->n) return;
    st_error_wrap(err, "row with key %s", k->text.s + k->offs[row - 1]);
}

/* Sends one built write statement of `rows` rows and counts it. */
static int my_flush(my_impl *m, store_sb *q, store_op op, int64_t rows, my_keys *keys,
                    store_counts *out, st_error *err) {
    if (q->oom || keys->text.oom) return st_error_set(err, ST_ENOMEM, "out of memory");
    if (op == STORE_DELETE) store_sb_add(q, ")");
    int64_t affected = 0;
    int rc = my_exec(m, q->s, 0, NULL, &affected, err);
    if (rc != ST_OK) my_name_key(err, keys);
    keys->n = 0;
    keys->text.len = 0;
    if (rc != ST_OK) return rc;
    if (op == STORE_DELETE) {
        out->deleted += affected;
    } else if (op == STORE_INSERT) {
        out->inserted += affected;
    } else {
        /* affected = inserted + 2 * updated; "Duplicates" counts the
         * updated rows only (identical ones are neither) */
        int64_t updated = my_updated_rows(m->conn, rows, affected);
        out->updated += updated;
        out->inserted += affected - 2 * updated;
    }
    return ST_OK;
}

static void my_stmt_head(store_sb *q, const store_table *t, store_op op) {
    q->len = 0;
    if (q->s) q->s[0] = '\0';
    if (op == STORE_DELETE) {
        size_t nk = 0;
        for (size_t i = 0; i < t->ncols; i++) nk += t->key[i];
        store_sb_add(q, "DELETE FROM ");
        my_qualified(q, t);
        store_sb_add(q, " WHERE (");
        const char *sep = "";
        for (size_t i = 0; i < t->ncols; i++) {
            if (!t->key[i]) continue;
            store_sb_add(q, sep);
            store_sb_quote(q, t->cols[i]);
            sep = ", ";
        }
        store_sb_add(q, nk > 1 ? ") IN (" : ") IN (");
        return;
    }
    store_sb_add(q, "INSERT INTO ");
    my_qualified(q, t);
    store_sb_add(q, " (");
    my_collist(q, t);
    store_sb_add(q, ") VALUES ");
}

/* ON DUPLICATE KEY UPDATE c = VALUES(c), ... (VALUES() is MariaDB's and
 * MySQL 8's spelling; MySQL 8.0.20+ warns but accepts it). */
static void my_stmt_tail(store_sb *q, const store_table *t) {
    const char *sep = " ON DUPLICATE KEY UPDATE ";
    bool any = false;
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->key[i]) continue;
        store_sb_add(q, sep);
        store_sb_quote(q, t->cols[i]);
        store_sb_add(q, " = VALUES(");
        store_sb_quote(q, t->cols[i]);
        store_sb_add(q, ")");
        sep = ", ";
        any = true;
    }
    if (!any) {   /* key-only table: an existing key is left alone */
        for (size_t i = 0; i < t->ncols && !any; i++) {
            store_sb_addf(q, "%s", sep);
            store_sb_quote(q, t->cols[i]);
            store_sb_add(q, " = ");
            store_sb_quote(q, t->cols[i]);
            any = true;
        }
    }
}

static int my_load(my_impl *m, const store_table *t, store_pull_fn pull, void *arg,
                   store_counts *out, st_error *err);

static int my_apply(void *impl, const store_table *t, store_op op, store_pull_fn pull, void *arg,
                    store_counts *out, st_error *err) {
    my_impl *m = impl;
    if (op == STORE_INSERT && !m->no_infile) {
        int rc = my_load(m, t, pull, arg, out, err);
        if (rc <= 0) {
            if (rc < 0 && rc != ST_ENOMEM) st_error_wrap(err, "writing table %s", t->table);
            return rc;
        }
        m->no_infile = true;   /* LOCAL refused: multi-row INSERT from now on */
    }
    store_sb q = {0};
    my_keys keys = {0};
    const char *const *vals;
    int more, rc = ST_OK;
    int64_t rows = 0;
    bool upsert = op == STORE_UPDATE || op == STORE_UPSERT;
    size_t cap = op == STORE_DELETE ? (size_t)-1 : MY_STMT_BYTES;
    while (rc == ST_OK && (more = pull(arg, &vals, err)) > 0) {
        if (rows == 0) my_stmt_head(&q, t, op);
        else store_sb_add(&q, ", ");
        my_row_values(&q, m->conn, t, vals, op == STORE_DELETE);
        if (op != STORE_DELETE) my_keys_add(&keys, t, vals);
        rows++;
        if ((op == STORE_DELETE && rows == MY_DELETE_KEYS) || q.len >= cap) {
            if (upsert) my_stmt_tail(&q, t);
            rc = my_flush(m, &q, op, rows, &keys, out, err);
            rows = 0;
        }
    }
    if (rc == ST_OK && more < 0) {
        store_sb_free(&q);
        my_keys_free(&keys);
        return more;   /* the puller's error, unchanged */
    }
    if (rc == ST_OK && rows > 0) {
        if (upsert) my_stmt_tail(&q, t);
        rc = my_flush(m, &q, op, rows, &keys, out, err);
    }
    store_sb_free(&q);
    my_keys_free(&keys);
    if (rc != ST_OK) st_error_wrap(err, "writing table %s", t->table);
    return rc;
}

/* --- Apply: LOAD DATA LOCAL INFILE --- */

typedef struct my_infile {
    my_impl *m;
    const store_table *t;
    store_pull_fn pull;
    void *arg;
    st_error *err;
    store_sb buf;         /* formatted rows not yet handed to the server */
    size_t off;
    int more;             /* last pull result: 1, 0 (end) or an error */
    int64_t rows;
    my_keys keys;
} my_infile;

/* Appends n bytes escaped for LOAD DATA (ESCAPED BY '\'). */
static void my_tsv_bytes(store_sb *b, const char *v, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = v[i] == '\\' ? "\\\\" : v[i] == '\t' ? "\\t" : v[i] == '\n' ? "\\n"
                        : v[i] == '\0' ? "\\0" : NULL;
        if (esc == NULL) continue;
        store_sb_addn(b, v + run, i - run);
        store_sb_add(b, esc);
        run = i + 1;
    }
    store_sb_addn(b, v + run, n - run);
}

static int my_hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One canonical value as a LOAD DATA field (see my_value for the rules). */
static void my_tsv_value(store_sb *b, store_kind kind, const char *v) {
    if (v == NULL) { store_sb_add(b, "\\N"); return; }
    size_t n = strlen(v);
    if (kind == STORE_K_BOOL && (strcmp(v, "t") == 0 || strcmp(v, "f") == 0)) {
        store_sb_add(b, v[0] == 't' ? "1" : "0");
    } else if ((kind == STORE_K_TIMESTAMPTZ || kind == STORE_K_TIMESTAMP) && n > 10 && n < 64) {
        char t[64];
        memcpy(t, v, n + 1);
        if (t[10] == 'T') t[10] = ' ';
        if (t[n - 1] == 'Z') t[--n] = '\0';
        store_sb_addn(b, t, n);
    } else if (kind == STORE_K_BYTES && v[0] == '\\' && v[1] == 'x' && n % 2 == 0) {
        for (size_t i = 2; i + 1 < n; i += 2) {
            int hi = my_hexval(v[i]), lo = my_hexval(v[i + 1]);
            if (hi < 0 || lo < 0) { my_tsv_bytes(b, v, n); return; }
            char c = (char)(hi * 16 + lo);
            my_tsv_bytes(b, &c, 1);
        }
    } else {
        my_tsv_bytes(b, v, n);
    }
}

static int my_infile_init(void **ptr, const char *name, void *userdata) {
    (void)name;
    *ptr = userdata;
    return 0;
}

/* Hands the server up to len bytes, pulling rows as needed. */
static int my_infile_read(void *ptr, char *out, unsigned int len) {
    my_infile *f = ptr;
    while (f->buf.len - f->off < len && f->more > 0) {
        const char *const *vals;
        f->more = f->pull(f->arg, &vals, f->err);
        if (f->more <= 0) break;
        for (size_t i = 0; i < f->t->ncols; i++) {
            if (i) store_sb_add(&f->buf, "\t");
            my_tsv_value(&f->buf, f->t->kinds[i], vals[i]);
        }
        store_sb_add(&f->buf, "\n");
        my_keys_add(&f->keys, f->t, vals);
        f->rows++;
        if (f->off > (1u << 16) && f->off * 2 > f->buf.len) {   /* drop what was sent */
            memmove(f->buf.s, f->buf.s + f->off, f->buf.len - f->off);
            f->buf.len -= f->off;
            f->off = 0;
        }
    }
    if (f->more < 0 || f->buf.oom || f->keys.text.oom) return -1;
    size_t n = f->buf.len - f->off < len ? f->buf.len - f->off : len;
    memcpy(out, f->buf.s + f->off, n);
    f->off += n;
    return (int)n;
}

static void my_infile_end(void *ptr) { (void)ptr; }

static int my_infile_error(void *ptr, char *msg, unsigned int len) {
    my_infile *f = ptr;
    snprintf(msg, len, "%s", f->more < 0 ? "synctool: reading the source failed" : "out of memory");
    return 2000;
}

/* The first warning of the last statement as the error of the batch. */
static int my_warning_fail(my_impl *m, const my_keys *keys, st_error *err) {
    char text[512] = "a value was refused";
    if (mysql_real_query(m->conn, "SHOW WARNINGS LIMIT 1", 21) == 0) {
        MYSQL_RES *res = mysql_store_result(m->conn);
        MYSQL_ROW w = res ? mysql_fetch_row(res) : NULL;
        if (w && w[2]) snprintf(text, sizeof text, "%s", w[2]);
        if (res) mysql_free_result(res);
    }
    st_error_set(err, ST_ERR, "datastore '%s' (mysql): statement: %s", m->name, text);
    my_name_key(err, keys);
    return ST_ERR;
}

/* 1 when the server refused LOCAL before reading anything (fall back). */
static int my_load(my_impl *m, const store_table *t, store_pull_fn pull, void *arg,
                   store_counts *out, st_error *err) {
    my_infile f = {.m = m, .t = t, .pull = pull, .arg = arg, .err = err, .more = 1};
    store_sb q = {0};
    store_sb_add(&q, "LOAD DATA LOCAL INFILE 'synctool-stream' INTO TABLE ");
    my_qualified(&q, t);
    store_sb_add(&q, " CHARACTER SET binary FIELDS TERMINATED BY '\t' ESCAPED BY '\\' "
                     "LINES TERMINATED BY '\n' (");
    my_collist(&q, t);
    store_sb_add(&q, ")");
    if (q.oom) { store_sb_free(&q); return st_error_set(err, ST_ENOMEM, "out of memory"); }
    mysql_set_local_infile_handler(m->conn, my_infile_init, my_infile_read, my_infile_end,
                                   my_infile_error, &f);
    int rc = ST_OK;
    if (mysql_real_query(m->conn, q.s, (unsigned long)q.len) != 0) {
        unsigned no = mysql_errno(m->conn);
        if (f.more < 0) rc = f.more;   /* the puller's error, unchanged */
        else if (f.rows == 0 && f.more > 0 && (no == 1148 || no == 4166 || no == 2068)) rc = 1;
        else rc = my_fail(m, err, "statement");
        if (rc < 0 && f.more >= 0) my_name_key(err, &f.keys);
    } else if (mysql_warning_count(m->conn) > 0) {
        rc = my_warning_fail(m, &f.keys, err);
    } else {
        my_ulonglong n = mysql_affected_rows(m->conn);
        out->inserted += n == (my_ulonglong)-1 ? 0 : (int64_t)n;
    }
    mysql_set_local_infile_default(m->conn);
    store_sb_free(&q);
    store_sb_free(&f.buf);
    my_keys_free(&f.keys);
    return rc;
}

/* --- Schema --- */

/* MariaDB reports integer display widths (bigint(20)); tinyint(1) is the
 * boolean spelling and keeps its width, the others drop it. */
static void my_norm_type(char *t) {
    static const char *ints[] = {"bigint(", "int(", "smallint(", "mediumint(", "tinyint(", NULL};
    for (size_t i = 0; ints[i]; i++) {
        size_t n = strlen(ints[i]);
        if (strncmp(t, ints[i], n) != 0) continue;
        if (strncmp(t, "tinyint(1)", 10) == 0) return;
        char *close = strchr(t + n, ')');
        if (close) memmove(t + n - 1, close + 1, strlen(close + 1) + 1);
        return;
    }
}

static int my_describe(void *impl, const char *schema, const char *table,
                       store_column_info **out, size_t *n, st_error *err) {
    my_impl *m = impl;
    const char *p[2] = {schema, table};
    *out = NULL;
    *n = 0;
    store_reader *r;
    int rc = my_query_small(m,
        &r, "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = ?1 AND TABLE_NAME = ?2 ORDER BY ORDINAL_POSITION", 2, p, err);
    if (rc != ST_OK) return rc;
    my_ulonglong rows = mysql_num_rows(r->res);
    if (rows == 0) {
        my_reader_close(r);
        return st_error_set(err, ST_ENOTFOUND, "datastore '%s': table %s.%s does not exist",
                            m->name, schema, table);
    }
    *out = calloc((size_t)rows, sizeof **out);
    if (*out == NULL) { my_reader_close(r); return st_error_set(err, ST_ENOMEM, "out of memory"); }
    const char *const *row;
    int nc;
    size_t i = 0;
    while (i < rows && my_next(r, &row, &nc, err) == 1) {
        snprintf((*out)[i].name, sizeof (*out)[i].name, "%s", row[0]);
        snprintf((*out)[i].type, sizeof (*out)[i].type, "%s", row[1]);
        my_norm_type((*out)[i].type);
        i++;
    }
    *n = i;
    my_reader_close(r);
    return ST_OK;
}

/* A BTREE index whose leading columns are cols, in order. */
static int my_key_indexed(void *impl, const char *schema, const char *table,
                          const char *const *cols, size_t n, bool *yes, st_error *err) {
    my_impl *m = impl;
    *yes = false;
    if (n == 0 || n > 32) return ST_OK;
    const char *p[2] = {schema, table};
    store_reader *r;
    int rc = my_query_small(m, &r,
        "SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = ?1 AND TABLE_NAME = ?2 AND INDEX_TYPE = 'BTREE' "
        "ORDER BY INDEX_NAME, SEQ_IN_INDEX", 2, p, err);
    if (rc != ST_OK) return rc;
    const char *const *row;
    int nc;
    char index[200] = "";
    size_t matched = 0;
    while (!*yes && my_next(r, &row, &nc, err) == 1) {
        if (strcmp(index, row[0]) != 0) {
            snprintf(index, sizeof index, "%s", row[0]);
            matched = 0;
        }
        size_t seq = (size_t)strtoul(row[1], NULL, 10);
        if (seq == matched + 1 && matched < n && strcmp(row[2], cols[matched]) == 0) matched++;
        if (matched == n) *yes = true;
    }
    my_reader_close(r);
    return ST_OK;
}

/* Config types are pasted into SQL as type names: only a safe alphabet. */
static bool my_type_ok(const char *t) {
    if (t == NULL || *t == '\0' || strlen(t) > 100) return false;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(" _(),'", *p)) return false;
    return true;
}

/* Config types in PostgreSQL spelling become their MySQL equivalents;
 * anything else (bigint unsigned, datetime(6), enum('a','b'), ...) is
 * MySQL's own spelling and used as written. A key column cannot be TEXT or
 * BLOB in InnoDB: text and bytea keys become varchar(255) / varbinary(255). */
static const char *my_map_type(const char *cfg, bool key, char *buf, size_t n) {
    static const struct { const char *from, *to, *key_to; } map[] = {
        {"text", "longtext", "varchar(255)"}, {"bytea", "longblob", "varbinary(255)"},
        {"boolean", "tinyint(1)", NULL}, {"bool", "tinyint(1)", NULL},
        {"timestamptz", "timestamp(6)", NULL}, {"timestamp with time zone", "timestamp(6)", NULL},
        {"timestamp", "datetime(6)", NULL}, {"timestamp without time zone", "datetime(6)", NULL},
        {"time", "time(6)", NULL}, {"double precision", "double", NULL},
        {"float8", "double", NULL}, {"float4", "float", NULL}, {"real", "float", NULL},
        {"int8", "bigint", NULL}, {"int4", "int", NULL}, {"integer", "int", NULL},
        {"int2", "smallint", NULL}, {"jsonb", "json", NULL}, {"uuid", "char(36)", NULL},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcasecmp(cfg, map[i].from) == 0)
            return key && map[i].key_to ? map[i].key_to : map[i].to;
    if (strncasecmp(cfg, "numeric", 7) == 0) {
        snprintf(buf, n, "decimal%s", cfg + 7);
        if (strcmp(buf, "decimal") == 0) snprintf(buf, n, "decimal(65,30)");
        return buf;
    }
    return cfg;
}

/* Asks the server how it spells the mapped type: a throw-away temporary
 * table with one column of it, read back with SHOW COLUMNS. */
static int my_ddl_type(void *impl, const char *cfgtype, char *buf, size_t n, st_error *err) {
    my_impl *m = impl;
    bool key = strncmp(cfgtype, STORE_DDL_KEY, strlen(STORE_DDL_KEY)) == 0;
    if (key) cfgtype += strlen(STORE_DDL_KEY);
    if (!my_type_ok(cfgtype))
        return st_error_set(err, ST_EINVAL, "column type '%s' is not a valid type name", cfgtype);
    char mapped[160], sql[320];
    const char *t = my_map_type(cfgtype, key, mapped, sizeof mapped);
    snprintf(sql, sizeof sql, "CREATE TEMPORARY TABLE \"synctool_probe\" (c %s)", t);
    my_exec(m, "DROP TEMPORARY TABLE IF EXISTS \"synctool_probe\"", 0, NULL, NULL, NULL);
    int rc = my_exec(m, sql, 0, NULL, NULL, err);
    if (rc != ST_OK) return st_error_wrap(err, "column type '%s'", cfgtype);
    store_reader *r;
    rc = my_query_small(m, &r, "SHOW COLUMNS FROM \"synctool_probe\"", 0, NULL, err);
    if (rc == ST_OK) {
        const char *const *row;
        int nc;
        if (my_next(r, &row, &nc, err) == 1 && nc >= 2) {
            snprintf(buf, n, "%s", row[1]);
            my_norm_type(buf);
        } else {
            rc = st_error_set(err, ST_ERR, "datastore '%s': type probe returned nothing", m->name);
        }
        my_reader_close(r);
    }
    my_exec(m, "DROP TEMPORARY TABLE IF EXISTS \"synctool_probe\"", 0, NULL, NULL, NULL);
    return rc;
}

/* --- init and ddl apply (store.h, store_ops version 10) --- */

/* MySQL spellings (describe()'s, widths dropped) in the config's
 * vocabulary, as docs/configuration.md's table of MySQL column types
 * gives them: tinyint(1) boolean; integers by range (an unsigned one in
 * the next wider type, bigint unsigned numeric(20)); decimal(p,s)
 * numeric(p,s); float real, double double precision; datetime timestamp,
 * timestamp timestamptz, time time; the character types, enum and set
 * text; the binary types bytea. Anything else (json, year, bit(n), ...)
 * is written as MySQL spells it. */
static void my_config_type(const char *type, char *buf, size_t n) {
    char base[128];
    snprintf(base, sizeof base, "%s", type);
    char *u = strstr(base, " unsigned");
    bool uns = u != NULL;
    if (u) *u = '\0';
    char *z = strstr(base, " zerofill");
    if (z) *z = '\0';
    char head[64];
    size_t k = strcspn(base, "(");
    snprintf(head, sizeof head, "%.*s", (int)(k < sizeof head ? k : sizeof head - 1), base);
    static const struct { const char *head, *to, *uns_to; } map[] = {
        {"tinyint", "smallint", "smallint"}, {"smallint", "smallint", "integer"},
        {"mediumint", "integer", "integer"}, {"int", "integer", "bigint"},
        {"integer", "integer", "bigint"}, {"bigint", "bigint", "numeric(20)"},
        {"float", "real", "real"}, {"double", "double precision", "double precision"},
        {"real", "double precision", "double precision"}, {"date", "date", NULL},
        {"datetime", "timestamp", NULL}, {"timestamp", "timestamptz", NULL},
        {"time", "time", NULL}, {"char", "text", NULL}, {"varchar", "text", NULL},
        {"tinytext", "text", NULL}, {"text", "text", NULL}, {"mediumtext", "text", NULL},
        {"longtext", "text", NULL}, {"enum", "text", NULL}, {"set", "text", NULL},
        {"binary", "bytea", NULL}, {"varbinary", "bytea", NULL}, {"tinyblob", "bytea", NULL},
        {"blob", "bytea", NULL}, {"mediumblob", "bytea", NULL}, {"longblob", "bytea", NULL},
    };
    if (strcmp(base, "tinyint(1)") == 0 && !uns) { snprintf(buf, n, "boolean"); return; }
    if (strcmp(head, "decimal") == 0 || strcmp(head, "numeric") == 0) {
        snprintf(buf, n, "numeric%s", base + k);
        return;
    }
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (strcmp(head, map[i].head) != 0) continue;
        snprintf(buf, n, "%s", uns && map[i].uns_to ? map[i].uns_to : map[i].to);
        return;
    }
    snprintf(buf, n, "%s", type);
}

/* Rows of one text column into out[*n].name (query_small's result). */
static int my_names(my_impl *m, const char *sql, int np, const char *const *p,
                    store_column_info **out, size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    store_reader *r;
    int rc = my_query_small(m, &r, sql, np, p, err);
    if (rc != ST_OK) return rc;
    my_ulonglong rows = mysql_num_rows(r->res);
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof **out)) == NULL) {
        my_reader_close(r);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    const char *const *row;
    int nc;
    while (*n < rows && my_next(r, &row, &nc, err) == 1) {
        snprintf((*out)[*n].name, sizeof (*out)[*n].name, "%s", row[0] ? row[0] : "");
        (*n)++;
    }
    my_reader_close(r);
    return ST_OK;
}

static int my_primary_key(void *impl, const char *schema, const char *table,
                          store_column_info **out, size_t *n, st_error *err) {
    const char *p[2] = {schema, table};
    return my_names(impl, "SELECT COLUMN_NAME FROM information_schema.STATISTICS "
                          "WHERE TABLE_SCHEMA = ?1 AND TABLE_NAME = ?2 AND INDEX_NAME = 'PRIMARY' "
                          "ORDER BY SEQ_IN_INDEX", 2, p, out, n, err);
}

static int my_schema_exists(void *impl, const char *schema, bool *yes, st_error *err) {
    const char *p[1] = {schema};
    store_column_info *names = NULL;
    size_t n = 0;
    int rc = my_names(impl, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                            "WHERE SCHEMA_NAME = ?1", 1, p, &names, &n, err);
    *yes = rc == ST_OK && n > 0;
    free(names);
    return rc;
}

static void my_create_schema_sql(store_sb *b, const char *schema) {
    store_sb_add(b, "CREATE DATABASE IF NOT EXISTS ");
    store_sb_quote(b, schema);
    store_sb_add(b, " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
}

/* --- Fencing (store.h, store_ops version 8) ---
 *
 * MySQL has no session tag like PostgreSQL's application_name, so a
 * writer's session takes a user-level lock named like that tag,
 * `synctool:<16 hex of md5(key)>:<token>` (GET_LOCK; it lives exactly as
 * long as the session). A newer holder asks IS_USED_LOCK for the
 * MY_FENCE_BACK tokens below its own (and, for the floor, past the one
 * synctool_fence holds): the answer is the connection id of a session of
 * an older holder, alive by definition, which KILL ends (allowed for the
 * same user). A recorded
 * connection id could instead name an innocent session once the server has
 * restarted and ids count from 1 again. DDL commits implicitly here, so
 * synctool_fence is created outside any transaction; a concurrent creator
 * is harmless (IF NOT EXISTS under the server's metadata lock; "already
 * exists", error 1050, is taken as done). */

#define MY_FENCE_BACK 16

static const char MY_FENCE_READ[] =
    "SELECT token FROM synctool_fence WHERE lock_key = ?1 LOCK IN SHARE MODE";
static const char MY_FENCE_RAISE[] =
    "INSERT INTO synctool_fence (lock_key, token) VALUES (?1, ?#2) "
    "ON DUPLICATE KEY UPDATE token = IF(token <= VALUES(token), VALUES(token), token)";

/* The integer in the first column of the first row; *null when there is
 * no row or it is NULL. */
static int my_fence_int(my_impl *m, const char *sql, int np, const char *const *p, int64_t *v,
                        bool *null, st_error *err) {
    store_reader *r = NULL;
    *null = true;
    int rc = my_query_small(m, &r, sql, np, p, err);
    if (rc != ST_OK) return rc;
    const char *const *row;
    int nc;
    rc = my_next(r, &row, &nc, err);
    if (rc == 1 && nc >= 1 && row[0] != NULL) {
        *v = strtoll(row[0], NULL, 10);
        *null = false;
    }
    my_reader_close(r);
    return rc < 0 ? rc : ST_OK;
}

/* Only when missing: once it exists a run needs no CREATE privilege. */
static int my_fence_create(void *impl, st_error *err) {
    my_impl *m = impl;
    int64_t n = 0;
    bool null = true;
    int rc = my_fence_int(m, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                             "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'synctool_fence'",
                          0, NULL, &n, &null, err);
    if (rc != ST_OK || n > 0) return rc;
    rc = my_exec(m, "CREATE TABLE IF NOT EXISTS synctool_fence "
                    "(lock_key varchar(512) PRIMARY KEY, token bigint NOT NULL)"
                    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                 0, NULL, NULL, err);
    return rc != ST_OK && mysql_errno(m->conn) == 1050 ? ST_OK : rc;
}

static void my_fence_name(const char *key, int64_t token, char *buf, size_t n) {
    char hex[33];
    store_md5_hex(key, strlen(key), hex);
    snprintf(buf, n, "synctool:%.16s:%lld", hex, (long long)token);
}

static int my_fence_tag(void *impl, const char *key, int64_t token, st_error *err) {
    char name[64];
    my_fence_name(key, token, name, sizeof name);
    const char *p[] = {name};
    int64_t got = 0;
    bool null = true;
    int rc = my_fence_int(impl, "SELECT GET_LOCK(?1, 0)", 1, p, &got, &null, err);
    if (rc == ST_OK && (null || got != 1))
        rc = st_error_set(err, ST_EBUSY, "datastore '%s' (mysql): session lock %s is taken",
                          ((my_impl *)impl)->name, name);
    return rc;
}

/* ids[i]: the connection holding the tag of token from + i (i < n <=
 * MY_FENCE_BACK), 0 when none or this one; one statement. */
static int my_fence_holders(my_impl *m, const char *key, int64_t from, int n, int64_t *ids,
                            st_error *err) {
    char names[MY_FENCE_BACK][64];
    const char *p[MY_FENCE_BACK];
    store_sb q = {0};
    store_sb_add(&q, "SELECT CONNECTION_ID()");
    for (int i = 0; i < n; i++) {
        my_fence_name(key, from + i, names[i], sizeof names[i]);
        p[i] = names[i];
        store_sb_addf(&q, ", IS_USED_LOCK(?%d)", i + 1);
    }
    store_reader *r = NULL;
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : my_query_small(m, &r, q.s, n, p, err);
    store_sb_free(&q);
    if (rc != ST_OK) return rc;
    const char *const *row;
    int nc;
    rc = my_next(r, &row, &nc, err);
    for (int i = 0; i < n; i++) {
        ids[i] = rc == 1 && nc > i + 1 && row[i + 1] ? strtoll(row[i + 1], NULL, 10) : 0;
        if (rc == 1 && row[0] && ids[i] == strtoll(row[0], NULL, 10)) ids[i] = 0;
    }
    my_reader_close(r);
    return rc < 0 ? rc : ST_OK;
}


/* The committed row's token T, or above it the newest token whose tag a
 * live session holds (a holder frozen in its first transaction, whose row
 * is not committed), looking MY_FENCE_BACK tokens past T. */
static int my_fence_floor(void *impl, const char *key, int64_t *floor, st_error *err) {
    const char *p[] = {key};
    bool null = true;
    int rc = my_fence_int(impl, "SELECT token FROM synctool_fence WHERE lock_key = ?1", 1, p,
                          floor, &null, err);
    if (rc != ST_OK) return rc;
    if (null) *floor = -1;
    int64_t from = *floor < 0 ? 1 : *floor + 1, ids[MY_FENCE_BACK];
    rc = my_fence_holders(impl, key, from, MY_FENCE_BACK, ids, err);
    for (int i = 0; rc == ST_OK && i < MY_FENCE_BACK; i++)
        if (ids[i] != 0) *floor = from + i;
    return rc;
}

/* KILL connection `id`; false (holder described) when it may not. */
static bool my_fence_kill(my_impl *m, int64_t id, int64_t token, char *holder, size_t n) {
    char sql[64];
    snprintf(sql, sizeof sql, "KILL CONNECTION %lld", (long long)id);
    st_error e;
    if (my_exec(m, sql, 0, NULL, NULL, &e) == ST_OK || mysql_errno(m->conn) == 1094) return true;
    snprintf(holder, n, "MySQL connection %lld (fencing token %lld) that this user may not end: "
             "%s", (long long)id, (long long)token, e.msg);
    return false;
}

/* The tags of the MY_FENCE_BACK tokens below `token`. */
static int my_fence_evict(void *impl, const char *key, int64_t token, int *ended, char *holder,
                          size_t n, st_error *err) {
    int64_t from = token - MY_FENCE_BACK < 1 ? 1 : token - MY_FENCE_BACK, ids[MY_FENCE_BACK];
    int count = (int)(token - from);
    if (count <= 0) return ST_OK;
    int rc = my_fence_holders(impl, key, from, count, ids, err);
    for (int i = 0; rc == ST_OK && i < count; i++)
        if (ids[i] != 0 && my_fence_kill(impl, ids[i], from + i, holder, n)) (*ended)++;
    return rc;
}

/* --- How far a delta watermark may advance (store_ops.xact_floor) ---
 *
 * NOW() / CURRENT_TIMESTAMP is the start of the *statement* here, so a row
 * written by a transaction still in progress carries a stamp no older than
 * its first statement: INNODB_TRX.trx_started (when it first touched an
 * InnoDB table, a whole second) or, for a statement still running,
 * PROCESSLIST.TIME seconds ago; one second is taken off each for the
 * rounding. trx_started is written in the server's system time zone by
 * MariaDB (localtime) and in the session's by MySQL: the statement runs
 * with the session in 'SYSTEM', where both agree and UNIX_TIMESTAMP()
 * reads it back, then '+00:00' is restored. INNODB_TRX needs the PROCESS
 * privilege (error 1227 without it): then only this user's threads are
 * seen and `blind` is set. A first statement that waited longer than a
 * second for a table's metadata lock (DDL) and then ended leaves a stamp
 * older than trx_started: only lookback_seconds covers that. DATETIME
 * columns hold the wall time of the writer's zone (new sessions:
 * @@global.time_zone): its offset is reported when CONVERT_TZ knows it. */
static const char MY_FLOOR_SQL[] =
    "SELECT FLOOR(UNIX_TIMESTAMP(NOW(6)) * 1000000), t.s * 1000000, t.id, "
    "p.s * 1000000, p.id, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), "
    "CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', @@global.time_zone)) * 1000000 FROM (SELECT 1) o "
    "LEFT JOIN (SELECT UNIX_TIMESTAMP(trx_started) - 1 AS s, trx_mysql_thread_id AS id "
    "FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> CONNECTION_ID() "
    "ORDER BY trx_started LIMIT 1) t ON 1 "
    "LEFT JOIN (SELECT UNIX_TIMESTAMP() - TIME - 1 AS s, ID AS id "
    "FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
    "AND COMMAND IN ('Query', 'Execute') ORDER BY TIME DESC LIMIT 1) p ON 1";
#define MY_ER_SPECIFIC_ACCESS_DENIED 1227

static void my_floor_take(store_xact_floor *f, const char *at, const char *id) {
    if (at == NULL) return;
    int64_t t = strtoll(at, NULL, 10);
    if (t >= f->floor) return;
    f->floor = t;
    f->open = true;
    snprintf(f->who, sizeof f->who, "thread %s", id ? id : "?");
}

static int my_floor_query(my_impl *m, store_xact_floor *f, bool trx, st_error *err) {
    char sql[sizeof MY_FLOOR_SQL + 64];
    snprintf(sql, sizeof sql, "%s", MY_FLOOR_SQL);
    if (!trx) { /* no PROCESS: the same shape without INNODB_TRX */
        char *from = strstr(sql, "information_schema.INNODB_TRX");
        const char *empty = "(SELECT NULL AS trx_started, NULL AS trx_mysql_thread_id) x";
        char rest[sizeof sql];
        snprintf(rest, sizeof rest, "%s", from + strlen("information_schema.INNODB_TRX"));
        snprintf(from, sizeof sql - (size_t)(from - sql), "%s%s", empty, rest);
    }
    store_reader *r = NULL;
    int rc = my_query_small(m, &r, sql, 0, NULL, err);
    const char *const *row = NULL;
    int nc = 0;
    if (rc == ST_OK) rc = my_next(r, &row, &nc, err);
    if (rc == 1 && nc == 6) {
        f->now = f->floor = strtoll(row[0], NULL, 10);
        my_floor_take(f, row[1], row[2]);
        my_floor_take(f, row[3], row[4]);
        f->offset_known = row[5] != NULL;
        f->wall_offset = row[5] ? strtoll(row[5], NULL, 10) : 0;
        rc = ST_OK;
    } else if (rc >= 0) {
        rc = st_error_set(err, ST_ERR, "datastore '%s': reading open transactions: no row",
                          m->name);
    }
    my_reader_close(r);
    return rc;
}

static int my_xact_floor(void *impl, store_xact_floor *f, st_error *err) {
    my_impl *m = impl;
    int rc = my_exec(m, "SET time_zone = 'SYSTEM'", 0, NULL, NULL, err);
    if (rc == ST_OK) {
        rc = my_floor_query(m, f, true, err);
        if (rc != ST_OK && mysql_errno(m->conn) == MY_ER_SPECIFIC_ACCESS_DENIED) {
            f->blind = true;
            snprintf(f->grant, sizeof f->grant, "PROCESS");
            rc = my_floor_query(m, f, false, err);
        }
    }
    st_error e2;
    int rc2 = my_exec(m, "SET time_zone = '+00:00'", 0, NULL, NULL, rc == ST_OK ? err : &e2);
    return rc != ST_OK ? rc : rc2;
}

static int my_column_stamped(void *impl, const char *schema, const char *table, const char *col,
                             bool *stamped, st_error *err) {
    static const char sql[] =
        "SELECT (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?1 "
        "AND TABLE_NAME = ?2 AND COLUMN_NAME = ?3 AND (UPPER(COLUMN_DEFAULT) LIKE "
        "'CURRENT_TIMESTAMP%' OR UPPER(COLUMN_DEFAULT) LIKE 'NOW(%' "
        "OR UPPER(EXTRA) LIKE '%ON UPDATE CURRENT_TIMESTAMP%')) + (SELECT COUNT(*) FROM "
        "information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ?1 AND EVENT_OBJECT_TABLE = ?2)";
    const char *p[3] = {schema, table, col};
    store_reader *r = NULL;
    int rc = my_query_small(impl, &r, sql, 3, p, err);
    const char *const *row = NULL;
    int nc = 0;
    if (rc == ST_OK) rc = my_next(r, &row, &nc, err);
    *stamped = rc == 1 && nc == 1 && row[0] && strtoll(row[0], NULL, 10) > 0;
    my_reader_close(r);
    return rc < 0 ? rc : ST_OK;
}

/* store_ops.estimate_rows: EXPLAIN's `rows` of the first table it reads
 * (the table statistics, or the planner's guess for a derived table or a
 * view), without reading the rows. */
static int my_estimate_rows(void *impl, const store_table *t, const char *from, int64_t *out,
                            st_error *err) {
    (void)t;
    my_impl *m = impl;
    *out = 0;
    store_sb q = {0};
    store_sb_addf(&q, "EXPLAIN SELECT 1 FROM %s", from);
    store_reader *r = NULL;
    int rc = q.oom ? st_error_set(err, ST_ENOMEM, "out of memory")
                   : my_query_small(m, &r, q.s, 0, NULL, err);
    store_sb_free(&q);
    if (rc != ST_OK) return rc;
    MYSQL_FIELD *f = mysql_fetch_fields(r->res);
    MYSQL_ROW row = mysql_fetch_row(r->res);
    for (unsigned i = 0; row != NULL && i < r->ncols; i++)
        if (strcasecmp(f[i].name, "rows") == 0 && row[i] != NULL)
            *out = strtoll(row[i], NULL, 10);
    my_reader_close(r);
    return ST_OK;
}

/* --- What callers ask of the engine (store.h, store_ops version 11) ---
 *
 * Tables `ddl apply` creates are InnoDB in utf8mb4 with the binary
 * collation (keys order by bytes, as on the other engines); a key column's
 * type is asked for with STORE_DDL_KEY (InnoDB cannot index TEXT / BLOB:
 * varchar(255), varbinary(255), my_ddl_type). */

#define MY_TABLE_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

#define MY_KEY_UNIQUE                                                                          \
    "SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_NAME = ?1 AND TABLE_SCHEMA = ?2 " \
    "AND NON_UNIQUE = 0 GROUP BY INDEX_NAME "                                                  \
    "HAVING GROUP_CONCAT(COLUMN_NAME ORDER BY CAST(COLUMN_NAME AS BINARY) SEPARATOR ',') = ?3"

/* Whether the server has session variable `name` (MariaDB has
 * idle_transaction_timeout, MySQL 8 does not: SET would fail there). */
static int my_has_variable(void *impl, const char *name, bool *yes, st_error *err) {
    char sql[160];
    snprintf(sql, sizeof sql, "SHOW SESSION VARIABLES LIKE '%s'", name);
    store_reader *r = NULL;
    int rc = my_query_small(impl, &r, sql, 0, NULL, err);
    if (rc != ST_OK) return rc;
    const char *const *row;
    int ncols;
    rc = my_next(r, &row, &ncols, err);
    my_reader_close(r);
    *yes = rc > 0;
    return rc < 0 ? rc : ST_OK;
}

/* idle_transaction_timeout (MariaDB) and innodb_lock_wait_timeout. MySQL 8
 * has no idle_transaction_timeout: there a frozen run's open transaction
 * lasts until its connection ends, and innodb_lock_wait_timeout alone
 * bounds a newer run's wait (fencing refuses the old run's commit). */
static int my_session_limits(void *impl, int64_t idle_s, int64_t lock_s, st_error *err) {
    char sql[160];
    bool idle_known = false;
    int rc = idle_s > 0 ? my_has_variable(impl, "idle_transaction_timeout", &idle_known, err)
                        : ST_OK;
    if (rc == ST_OK && idle_known) {
        snprintf(sql, sizeof sql, "SET SESSION idle_transaction_timeout = %lld", (long long)idle_s);
        rc = my_exec(impl, sql, 0, NULL, NULL, err);
    }
    if (rc == ST_OK && lock_s > 0) {
        snprintf(sql, sizeof sql, "SET SESSION innodb_lock_wait_timeout = %lld", (long long)lock_s);
        rc = my_exec(impl, sql, 0, NULL, NULL, err);
    }
    return rc;
}

/* `check`: MySQL spells some config types its own way: tinyint(1) holds a
 * boolean, an integer column (bigint unsigned) a numeric(20), datetime /
 * timestamp either timestamp kind. */
static bool my_type_compatible(const char *have, const char *want) {
    store_kind h = store_kind_of(have), w = store_kind_of(want);
    if (h == w) return true;
    if (w == STORE_K_BOOL) return strncmp(have, "tinyint(1)", 10) == 0;
    if ((h == STORE_K_INT || h == STORE_K_NUMERIC) && (w == STORE_K_INT || w == STORE_K_NUMERIC))
        return true;
    return (h == STORE_K_TIMESTAMP || h == STORE_K_TIMESTAMPTZ) &&
           (w == STORE_K_TIMESTAMP || w == STORE_K_TIMESTAMPTZ);
}

static const struct store_ops my_store_ops = {
    .version = STORE_OPS_VERSION,
    .engine = "mysql",
    .default_schema = NULL,   /* the connection's database (store.c) */
    .param_prefix = '?',
    .int_div = "DIV",
    .open = my_open,
    .close = my_close,
    .canon_expr = my_canon_expr,
    .hash_expr = my_hash_expr,
    .param_cast = my_param_cast,
    .order_term = my_order_term,
    .sum64_expr = my_sum64_expr,
    .digest_sql = my_digest_sql,
    .digest_families = my_digest_families,
    .row_digest_expr = my_row_digest_expr,
    .query = my_query,
    .query_small = my_query_small,
    .reader_next = my_next,
    .reader_close = my_reader_close,
    .exec = my_exec,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .apply = my_apply,
    .describe = my_describe,
    .key_indexed = my_key_indexed,
    .ddl_type = my_ddl_type,
    .ddl_transactional = false,
    .fence_create = my_fence_create,
    .fence_read_sql = MY_FENCE_READ,
    .fence_raise_sql = MY_FENCE_RAISE,
    .fence_tag = my_fence_tag,
    .fence_floor = my_fence_floor,
    .fence_evict = my_fence_evict,
    .xact_floor = my_xact_floor,
    .column_stamped = my_column_stamped,
    .set_interrupt = my_set_interrupt,
    .estimate_rows = my_estimate_rows,
    .config_type = my_config_type,
    .primary_key = my_primary_key,
    .schema_exists = my_schema_exists,
    .create_schema_sql = my_create_schema_sql,
    .ddl_key_types = true,
    .ddl_table_options = MY_TABLE_OPTIONS,
    .key_unique_sql = MY_KEY_UNIQUE,
    .type_compatible = my_type_compatible,
    .session_limits = my_session_limits,
};

const struct store_ops *store_mysql_driver(void) { return &my_store_ops; }
