/*
 * store_canon — the canonical-text rules (the values that cross the store
 * interface) and the C functions that produce them (store_canon.c,
 * store_dtoa.c).
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
 * canon_expr, a SQL expression per kind; SQLite evaluates it with
 * C functions this module registers), so both engines produce byte-equal
 * text for equal values. The *row text* used for hashing joins the values'
 * *hash text* with '|', escapes '\' and '|' with a backslash and writes NULL
 * as \N, so ('a','bc') and ('ab','c') and (NULL) and ('\N') all differ.
 * A table's ignored columns (compare: false) are not part of the row text.
 * The hash text is the canonical text (hash_expr exists so that a driver
 * may produce it more cheaply).
 */
#ifndef ST_STORE_CANON_H
#define ST_STORE_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* A growable string (store.h); the row text helper below appends to one. */
typedef struct store_sb store_sb;

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
/* colhash-v2 (store_canon.c): PostgreSQL's hash_bytes_extended,
 * hash_bytes_uint32_extended and hashint8extended, bit for bit, and the
 * family's term of one value (seed: the column's position): from its
 * canonical text of `kind` (n bytes), from a double, or for NULL. */
uint64_t store_pg_hash_bytes(const void *key, size_t keylen, uint64_t seed);
uint64_t store_pg_hash_uint32(uint32_t k, uint64_t seed);
uint64_t store_pg_hash_int8(int64_t v, uint64_t seed);
uint64_t store_colhash_text(store_kind kind, const char *t, size_t n, int seed);
/* An integer's term (its high half hashed too, with seed + this). */
#define STORE_COLHASH_HI_SEED 65536
uint64_t store_colhash_int(int64_t v, int seed);
uint64_t store_colhash_double(double v, int seed);
uint64_t store_colhash_null(int seed);
/* A NUMERIC value held as a double (a SQLite REAL) with at most 4
 * decimals (the nearest double to r / 10^4, |v| < 2^50 / 10^4, v != 0):
 * *out the term of its canonical text (store_canon_double), bit for bit
 * store_colhash_text's, from its base-10000 digits without building the
 * text. false: another value (the caller hashes the canonical text). */
bool store_colhash_numeric_double(double v, int seed, uint64_t *out);
/* Appends `v` (or \N for NULL) escaped for the row text. */
void store_sb_rowvalue(store_sb *b, const char *v);

/* Compares two canonical key values of `kind` (numbers numerically, the
 * rest bytewise), as the engines order them. */
int store_key_cmp(store_kind kind, const char *a, const char *b);

#endif
