/*
 * store_pg_int — what store_pg.c and store_pg_copy.c share (internal to
 * src/store): the connection behind a driver handle, the driver's error
 * reporting and SQL pieces, the native-transfer methods of struct
 * store_ops, and the parser of PostgreSQL's binary COPY stream (public to
 * the unit tests).
 */
#ifndef ST_STORE_PG_INT_H
#define ST_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_backend.h"

/* --- store_pg.c --- */
PGconn *store_pg_conn(void *impl);
/* Fills err from a failed result (or the connection's error), naming the
 * datastore and `what`; clears res; returns the code (ST_EUNAVAIL when the
 * connection is gone). */
int store_pg_fail(void *impl, PGresult *res, st_error *err, const char *what);
/* Appends "schema"."table" of t, and t's column list. */
void store_pg_qualified(store_sb *b, const store_table *t);
void store_pg_collist(store_sb *b, const store_table *t);
int store_pg_exec(void *impl, const char *sql, st_error *err);
/* Waits, interruptibly (store_ops.set_interrupt), until the statement sent
 * last has a result ready; and its first result (NULL with err filled when
 * the wait failed). */
int store_pg_wait(void *impl, st_error *err, const char *what);
PGresult *store_pg_result(void *impl, st_error *err, const char *what);
/* For a read outside pg_wait (a COPY out): store_pg_read_start when it
 * begins, then store_pg_poll for each wait (up to 100 ms; cancels the
 * statement once the interrupt flag is up, so its end is reported as
 * ST_EINTR by store_pg_fail). */
void store_pg_read_start(void *impl);
int store_pg_poll(void *impl, st_error *err, const char *what);

/* --- store_pg_copy.c: store_ops' native transfer (store.h) --- */
int store_pg_native_form(void *impl, const char *select, char *buf, size_t n, st_error *err);
int store_pg_native_open(void *impl, store_native **out, const char *select,
                         const store_table *t, st_error *err);
int store_pg_native_read(store_native *r, const char **data, size_t *len, int64_t *rows,
                         int64_t max, st_error *err);
void store_pg_native_close(store_native *r);
int store_pg_native_write_begin(void *impl, const store_table *t, st_error *err);
int store_pg_native_write(void *impl, const char *data, size_t len, st_error *err);
int store_pg_native_write_end(void *impl, const store_table *t, bool abort, int64_t *rows,
                              st_error *err);
int store_pg_relax_commit(void *impl, bool on, st_error *err);

/* --- store_pg_xact.c: store_ops.xact_floor and column_stamped (store.h) --- */
int store_pg_xact_floor(void *impl, store_xact_floor *f, st_error *err);
int store_pg_column_stamped(void *impl, const char *schema, const char *table, const char *col,
                            bool *stamped, st_error *err);

/* --- The binary COPY stream (PostgreSQL docs, "COPY", "Binary Format"):
 * a 19-byte header (11-byte signature, int32 flags, int32 length of a
 * header extension, then the extension), tuples (int16 field count, then
 * per field an int32 length, -1 for NULL, and that many bytes), and an
 * int16 -1 trailer; integers in network byte order. The parser finds
 * tuple boundaries in pieces of any size, split anywhere, checking the
 * field count and that key fields are not NULL; it never looks inside a
 * value. --- */
#define STORE_PGBIN_HEADER 19

enum { STORE_PGBIN_OK = 0, STORE_PGBIN_BAD = -1, STORE_PGBIN_NULL_KEY = -2 };

typedef struct store_pgbin {
    int phase;
    unsigned char acc[STORE_PGBIN_HEADER]; /* a fixed-size item split across pieces */
    size_t accn;
    uint32_t skip;        /* bytes of a value or of the header extension still to pass */
    int nfields;          /* fields per tuple */
    int field;            /* fields of the current tuple passed */
    const bool *key;      /* fields that must not be NULL; may be NULL */
    int null_key;         /* after STORE_PGBIN_NULL_KEY: that field */
    const char *why;      /* after STORE_PGBIN_BAD: what was wrong */
    int64_t rows;         /* whole tuples passed */
} store_pgbin;

void store_pgbin_init(store_pgbin *p, int nfields, const bool *key);
/* Scans data[0..len) and stops after the header, after the `max`-th tuple
 * ending in this call (max >= 1), after the trailer, or at the end of the
 * data. *used gets the bytes consumed, *tuples the tuples that ended in
 * them. Returns STORE_PGBIN_OK, or an error after which the stream is not
 * to be trusted. */
int store_pgbin_scan(store_pgbin *p, const unsigned char *data, size_t len, int64_t max,
                     size_t *used, int64_t *tuples);
/* Between two tuples (past the header, before the trailer). */
bool store_pgbin_boundary(const store_pgbin *p);
/* The trailer has been read. */
bool store_pgbin_done(const store_pgbin *p);
/* The header COPY ... FROM STDIN (FORMAT binary) expects. */
extern const unsigned char store_pgbin_header[STORE_PGBIN_HEADER];

#endif
