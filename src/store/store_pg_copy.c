/*
 * store_pg_copy — native transfer between PostgreSQL databases (the
 * optional native_* methods of struct store_ops, store.h): rows travel in
 * PostgreSQL's binary COPY form from one server to the other, so no value
 * is turned into text and parsed back.
 *
 *   form    the prepared SELECT's result columns, each as type OID and
 *           typmod, with the server's major version: "pg-binary-v1 15:
 *           20/-1 1700/917510 ...". Equal forms on both sides mean every
 *           binary value the source sends is one the destination's
 *           receive function takes and means the same (equal types, equal
 *           typmods, so nothing is coerced or rounded). Only built-in types
 *           (OID below 16384): their OIDs are the same in every database,
 *           while an array or record of a type defined in the database
 *           carries that database's OID in its binary form. Text values
 *           pass through client_encoding (UTF8 on both connections), as
 *           text COPY does.
 *   read    COPY (SELECT ...) TO STDOUT (FORMAT binary): one statement,
 *           one snapshot. Each message libpq hands over (one row, as
 *           servers send them, but any split is handled) is appended to a
 *           buffer that the stream parser (below) walks to find tuple
 *           boundaries and NULL keys; a piece is the whole tuples buffered,
 *           at most `max` rows or about 64 KiB, header and trailer left
 *           out. A read waits only for a piece's first row and then takes
 *           what has already arrived (PQconsumeInput), so pieces follow
 *           the source's pace. Memory: one piece plus one message.
 *   write   COPY t (cols) FROM STDIN (FORMAT binary) inside the caller's
 *           transaction: the header, the pieces as they came, the trailer.
 *
 * Closing a read that is still running cancels it on the server and drains
 * what was in flight, so the connection is usable afterwards. A read waits
 * for the source in 100 ms polls (store_pg_poll): when the run's interrupt
 * flag goes up the COPY is cancelled and the read fails with ST_EINTR,
 * whatever the source's pace.
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_NATIVE_PIECE (64 * 1024)

/* --- The binary stream parser --- */

const unsigned char store_pgbin_header[STORE_PGBIN_HEADER] = {
    'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0, /* signature */
    0, 0, 0, 0,                                             /* flags */
    0, 0, 0, 0};                                            /* extension length */

enum { PGBIN_SIG, PGBIN_EXT, PGBIN_COUNT, PGBIN_LEN, PGBIN_DATA, PGBIN_END };

void store_pgbin_init(store_pgbin *p, int nfields, const bool *key) {
    memset(p, 0, sizeof *p);
    p->phase = PGBIN_SIG;
    p->nfields = nfields;
    p->key = key;
    p->null_key = -1;
}

bool store_pgbin_boundary(const store_pgbin *p) {
    return p->phase == PGBIN_COUNT && p->accn == 0;
}

bool store_pgbin_done(const store_pgbin *p) { return p->phase == PGBIN_END; }

static uint32_t pgbin_be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Points *item at the next `want` bytes: in place when they are all in
 * the data, else gathered in p->acc across calls. false: more needed. */
static bool pgbin_item(store_pgbin *p, const unsigned char **d, const unsigned char *e,
                       size_t want, const unsigned char **item) {
    if (p->accn == 0 && (size_t)(e - *d) >= want) {
        *item = *d;
        *d += want;
        return true;
    }
    size_t n = want - p->accn;
    if (n > (size_t)(e - *d)) n = (size_t)(e - *d);
    memcpy(p->acc + p->accn, *d, n);
    p->accn += n;
    *d += n;
    if (p->accn < want) return false;
    p->accn = 0;
    *item = p->acc;
    return true;
}

static int pgbin_bad(store_pgbin *p, const char *why) {
    p->why = why;
    return STORE_PGBIN_BAD;
}

static int pgbin_header(store_pgbin *p, const unsigned char *h) {
    if (memcmp(h, store_pgbin_header, 11) != 0) return pgbin_bad(p, "no binary COPY signature");
    if (pgbin_be32(h + 11) != 0) return pgbin_bad(p, "unexpected binary COPY flags");
    p->skip = pgbin_be32(h + 15);
    p->phase = p->skip > 0 ? PGBIN_EXT : PGBIN_COUNT;
    return STORE_PGBIN_OK;
}

/* A field ended; true when it was the tuple's last. */
static bool pgbin_field_end(store_pgbin *p) {
    if (++p->field < p->nfields) {
        p->phase = PGBIN_LEN;
        return false;
    }
    p->phase = PGBIN_COUNT;
    p->rows++;
    return true;
}

/* One step: consumes a fixed-size item or a run of value bytes. *ended
 * tells that a tuple ended, *stop that the scan should return (header or
 * trailer read). */
static int pgbin_step(store_pgbin *p, const unsigned char **d, const unsigned char *e,
                      bool *ended, bool *stop) {
    const unsigned char *it;
    switch (p->phase) {
    case PGBIN_SIG:
        if (!pgbin_item(p, d, e, STORE_PGBIN_HEADER, &it)) return STORE_PGBIN_OK;
        if (pgbin_header(p, it) != STORE_PGBIN_OK) return STORE_PGBIN_BAD;
        *stop = p->phase == PGBIN_COUNT;
        return STORE_PGBIN_OK;
    case PGBIN_EXT:
    case PGBIN_DATA: {
        size_t n = (size_t)(e - *d) < p->skip ? (size_t)(e - *d) : p->skip;
        *d += n;
        p->skip -= (uint32_t)n;
        if (p->skip > 0) return STORE_PGBIN_OK;
        if (p->phase == PGBIN_EXT) {
            p->phase = PGBIN_COUNT;
            *stop = true;
        } else {
            *ended = pgbin_field_end(p);
        }
        return STORE_PGBIN_OK;
    }
    case PGBIN_COUNT: {
        if (!pgbin_item(p, d, e, 2, &it)) return STORE_PGBIN_OK;
        int count = (int16_t)(uint16_t)(it[0] << 8 | it[1]);
        if (count == -1) {
            p->phase = PGBIN_END;
            *stop = true;
            return STORE_PGBIN_OK;
        }
        if (count != p->nfields || count <= 0) return pgbin_bad(p, "unexpected field count");
        p->field = 0;
        p->phase = PGBIN_LEN;
        return STORE_PGBIN_OK;
    }
    case PGBIN_LEN: {
        if (!pgbin_item(p, d, e, 4, &it)) return STORE_PGBIN_OK;
        int32_t len = (int32_t)pgbin_be32(it);
        if (len < -1) return pgbin_bad(p, "negative field length");
        if (len == -1 && p->key != NULL && p->key[p->field]) {
            p->null_key = p->field;
            return STORE_PGBIN_NULL_KEY;
        }
        p->skip = len > 0 ? (uint32_t)len : 0;
        p->phase = PGBIN_DATA;
        if (p->skip == 0) *ended = pgbin_field_end(p);
        return STORE_PGBIN_OK;
    }
    default:
        return pgbin_bad(p, "data after the binary COPY trailer");
    }
}

int store_pgbin_scan(store_pgbin *p, const unsigned char *data, size_t len, int64_t max,
                     size_t *used, int64_t *tuples) {
    const unsigned char *d = data, *e = data + len;
    int rc = STORE_PGBIN_OK;
    *tuples = 0;
    while (rc == STORE_PGBIN_OK && d < e) {
        bool ended = false, stop = false;
        rc = pgbin_step(p, &d, e, &ended, &stop);
        if (ended) (*tuples)++;
        if (stop || (ended && *tuples >= max)) break;
    }
    *used = (size_t)(d - data);
    return rc;
}

/* --- Form --- */

/* Built-in types have OIDs below FirstNormalObjectId (PostgreSQL's
 * access/transam.h). */
#define PG_FIRST_NORMAL_OID 16384

int store_pg_native_form(void *impl, const char *select, char *buf, size_t n, st_error *err) {
    PGconn *conn = store_pg_conn(impl);
    PGresult *res = PQprepare(conn, "", select, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) return store_pg_fail(impl, res, err, "describe");
    PQclear(res);
    res = PQdescribePrepared(conn, "");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) return store_pg_fail(impl, res, err, "describe");
    store_sb f = {0};
    store_sb_addf(&f, "pg-binary-v1 %d:", PQserverVersion(conn) / 10000);
    int rc = ST_OK;
    for (int i = 0; i < PQnfields(res) && rc == ST_OK; i++) {
        Oid type = PQftype(res, i);
        if (type >= PG_FIRST_NORMAL_OID) rc = ST_ENOTIMPL;
        store_sb_addf(&f, " %u/%d", (unsigned)type, PQfmod(res, i));
    }
    PQclear(res);
    if (rc == ST_OK && (f.oom || f.len >= n)) rc = ST_ENOTIMPL;
    if (rc == ST_OK) memcpy(buf, f.s, f.len + 1);
    else st_error_set(err, rc, "no binary form for these columns");
    store_sb_free(&f);
    return rc;
}

/* --- Read --- */

struct store_native {
    void *impl;
    PGconn *conn;
    const store_table *t;
    store_pgbin p;
    char *buf;
    size_t len, cap;
    size_t start, end;  /* the piece being built: whole tuples [start, end) */
    size_t scanned;     /* bytes the parser has passed */
    size_t handed;      /* the piece handed out last ends here: dropped next call */
    int64_t rows;       /* tuples in the piece */
    bool copying;       /* the COPY still runs on the server */
};

int store_pg_native_open(void *impl, store_native **out, const char *select,
                         const store_table *t, st_error *err) {
    store_native *r = calloc(1, sizeof *r);
    store_sb q = {0};
    store_sb_addf(&q, "COPY (%s) TO STDOUT (FORMAT binary)", select);
    if (r == NULL || q.oom) {
        free(r);
        store_sb_free(&q);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    r->impl = impl;
    r->conn = store_pg_conn(impl);
    r->t = t;
    store_pgbin_init(&r->p, (int)t->ncols, t->key);
    PGresult *res = PQexec(r->conn, q.s);
    store_sb_free(&q);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        free(r);
        return store_pg_fail(impl, res, err, "reading rows");
    }
    PQclear(res);
    r->copying = true;
    store_pg_read_start(impl);
    *out = r;
    return ST_OK;
}

/* Clears the results left on the connection; stops at a COPY state, which
 * PQgetResult would report again and again. */
static void native_drain(PGconn *conn) {
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType s = PQresultStatus(res);
        PQclear(res);
        if (s == PGRES_COPY_OUT || s == PGRES_COPY_IN) break;
    }
}

/* The COPY has ended on the server: its result says whether it worked. */
static int native_finish(store_native *r, st_error *err) {
    r->copying = false;
    PGresult *res = PQgetResult(r->conn);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK
                 ? ST_OK : store_pg_fail(r->impl, res, err, "reading rows");
    if (rc == ST_OK) PQclear(res);
    native_drain(r->conn);
    if (rc == ST_OK && !store_pgbin_done(&r->p))
        rc = st_error_set(err, ST_ERR, "binary COPY of the source ended before its trailer");
    return rc;
}

static int native_append(store_native *r, const char *m, size_t n, st_error *err) {
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 2 * PG_NATIVE_PIECE;
        while (cap < r->len + n) cap *= 2;
        char *b = realloc(r->buf, cap);
        if (b == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, m, n);
    r->len += n;
    return ST_OK;
}

/* Takes the next message: 1 appended, 0 none yet (nowait only), 2 the COPY
 * ended, or an error. */
static int native_more(store_native *r, bool nowait, st_error *err) {
    char *m = NULL;
    int n;
    while ((n = PQgetCopyData(r->conn, &m, 1)) == 0) {
        if (!PQconsumeInput(r->conn)) return store_pg_fail(r->impl, NULL, err, "reading rows");
        if ((n = PQgetCopyData(r->conn, &m, 1)) != 0) break;
        if (nowait) return 0;
        /* waits in 100 ms polls, so an interrupt cancels the COPY */
        int rc = store_pg_poll(r->impl, err, "reading rows");
        if (rc != ST_OK) return rc;
    }
    if (n == -1) {
        int rc = native_finish(r, err);
        return rc == ST_OK ? 2 : rc;
    }
    if (n < 0) return store_pg_fail(r->impl, NULL, err, "reading rows");
    int rc = native_append(r, m, (size_t)n, err);
    PQfreemem(m);
    return rc == ST_OK ? 1 : rc;
}

/* Walks the new bytes; the header's bytes are dropped from the piece. */
static int native_scan(store_native *r, int64_t max, st_error *err) {
    while (r->scanned < r->len && r->rows < max && !store_pgbin_done(&r->p)) {
        size_t used;
        int64_t n;
        int rc = store_pgbin_scan(&r->p, (const unsigned char *)r->buf + r->scanned,
                                  r->len - r->scanned, max - r->rows, &used, &n);
        r->scanned += used;
        if (rc == STORE_PGBIN_NULL_KEY)
            return st_error_set(err, ST_EINVAL, "key column '%s' is NULL in datastore '%s'",
                                r->t->cols[r->p.null_key], r->t->datastore);
        if (rc != STORE_PGBIN_OK)
            return st_error_set(err, ST_ERR, "unreadable binary COPY from the source: %s",
                                r->p.why);
        r->rows += n;
        if (store_pgbin_boundary(&r->p)) {
            r->end = r->scanned;
            if (r->rows == 0) r->start = r->scanned;
        }
    }
    return ST_OK;
}

/* Drops the piece handed out last. */
static void native_compact(store_native *r) {
    if (r->handed == 0) return;
    memmove(r->buf, r->buf + r->handed, r->len - r->handed);
    r->len -= r->handed;
    r->scanned -= r->handed;
    r->start = r->end = 0;
    r->rows = 0;
    r->handed = 0;
}

int store_pg_native_read(store_native *r, const char **data, size_t *len, int64_t *rows,
                         int64_t max, st_error *err) {
    native_compact(r);
    if (max < 1) max = 1;
    int rc = ST_OK;
    for (;;) {
        if ((rc = native_scan(r, max, err)) != ST_OK) return rc;
        if (r->rows >= max || store_pgbin_done(&r->p) || !r->copying) break;
        if (r->rows > 0 && r->end - r->start >= PG_NATIVE_PIECE) break;
        rc = native_more(r, r->rows > 0, err);
        if (rc < 0) return rc;
        if (rc == 0 || rc == 2) break;
    }
    if (r->rows > 0) {
        *data = r->buf + r->start;
        *len = r->end - r->start;
        *rows = r->rows;
        r->handed = r->end;
        return 1;
    }
    while (r->copying) { /* the trailer was read: the COPY's end follows */
        rc = native_more(r, false, err);
        if (rc < 0) return rc;
        if (rc == 1)
            return st_error_set(err, ST_ERR, "unreadable binary COPY from the source: data "
                                             "after the trailer");
    }
    return 0;
}


void store_pg_native_close(store_native *r) {
    if (r == NULL) return;
    if (r->copying) {
        char msg[256];
        PGcancel *cn = PQgetCancel(r->conn);
        if (cn != NULL) PQcancel(cn, msg, sizeof msg);
        PQfreeCancel(cn);
        char *m;
        while (PQgetCopyData(r->conn, &m, 0) > 0) PQfreemem(m);
        native_drain(r->conn);
    }
    free(r->buf);
    free(r);
}

/* --- Write --- */

int store_pg_native_write_begin(void *impl, const store_table *t, st_error *err) {
    store_sb q = {0};
    store_sb_add(&q, "COPY ");
    store_pg_qualified(&q, t);
    store_sb_add(&q, " (");
    store_pg_collist(&q, t);
    store_sb_add(&q, ") FROM STDIN (FORMAT binary)");
    if (q.oom) {
        store_sb_free(&q);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    PGconn *conn = store_pg_conn(impl);
    PGresult *res = PQexec(conn, q.s);
    store_sb_free(&q);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        store_pg_fail(impl, res, err, "COPY");
        return st_error_wrap(err, "writing table %s", t->table);
    }
    PQclear(res);
    return store_pg_native_write(impl, (const char *)store_pgbin_header, STORE_PGBIN_HEADER, err);
}

int store_pg_native_write(void *impl, const char *data, size_t len, st_error *err) {
    if (PQputCopyData(store_pg_conn(impl), data, (int)len) == 1) return ST_OK;
    return store_pg_fail(impl, NULL, err, "COPY");
}

int store_pg_native_write_end(void *impl, const store_table *t, bool abort, int64_t *rows,
                              st_error *err) {
    static const char trailer[2] = {'\xff', '\xff'};
    PGconn *conn = store_pg_conn(impl);
    bool sent = abort || PQputCopyData(conn, trailer, 2) == 1;
    PQputCopyEnd(conn, abort || !sent ? "synctool: copy aborted" : NULL);
    PGresult *res = PQgetResult(conn);
    int rc = ST_OK;
    if (abort) {
        PQclear(res);
    } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        store_pg_fail(impl, res, err, "COPY");
        rc = st_error_wrap(err, "writing table %s", t->table);
    } else {
        *rows = strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    native_drain(conn);
    return rc;
}

/* --- Durability --- */

/* Off: RESET, then txid_current() gives the transaction an XID (outside a
 * transaction block, a transaction of its own), so its commit writes a
 * commit record and waits for the WAL flush, which covers every relaxed
 * commit before it even when nothing else is written. */
int store_pg_relax_commit(void *impl, bool on, st_error *err) {
    if (on) return store_pg_exec(impl, "SET synchronous_commit = off", err);
    int rc = store_pg_exec(impl, "RESET synchronous_commit", err);
    return rc == ST_OK ? store_pg_exec(impl, "SELECT txid_current()", err) : rc;
}
