/*
 * sync_full_copy — full into an empty destination in the engines' native
 * form: between two PostgreSQL databases whose columns have the same types,
 * rows travel as binary COPY data, source to destination, and no value
 * becomes canonical text (the text path's to_char / trim_scale cost the
 * source ~650 ms of CPU per million rows) or is parsed back.
 *
 * A range of `parallel: N` (sync_parallel.c) takes this path when its key
 * is one integer column: its bounds are integer literals in the COPY's
 * SELECT (a COPY takes no parameters); other keys' ranges take the text
 * path, whose bounds are parameters.
 *
 * When: the destination's first page is empty (sync_full), both stores
 * offer native transfer (store.h, native_*) and describe the same form for
 * the mapped columns: same engine, same server major version, and every
 * column of the same type and type modifier on both sides. Anything else
 * (a source query with computed columns, numeric(14,2) into numeric, a type
 * defined in the database) takes the canonical-text path of sync_full.c.
 *
 * How: one COPY (SELECT cols FROM source) TO STDOUT streams for the whole
 * run; the driver hands it over in pieces of whole rows, having checked
 * that no key is NULL (the same error as the text path). Every batch_size
 * rows are one destination transaction (sync_batch_txn: interrupt check, BEGIN, the
 * fencing check, COPY ... FROM STDIN (FORMAT binary) of those rows, cancel
 * and interrupt checks, COMMIT), so the fencing and cancel rules of every
 * other write hold here unchanged. Rows are counted exactly: a batch ends
 * after its batch_size-th row, found by walking the tuple boundaries.
 *
 * No idle gap: within a batch, source and destination work at once (rows
 * are forwarded while the destination parses the previous piece). Between
 * batches the wait is the commit: with synchronous_commit on, each commit
 * waited for its WAL flush (an fsync) while the source stalled on a full
 * socket. So every batch but the last commits without waiting for the
 * flush (store_relax_commit: SET synchronous_commit = off for the session,
 * RESET inside the last batch's transaction), and the last one commits
 * durably. The WAL is one sequence and is flushed in order, so the last
 * commit's flush makes every earlier batch durable too, and the run reports
 * success only after it. A crash of the destination server mid-run loses
 * at most the batches committed since the last flush (recovery replays a
 * prefix of the WAL, so the table holds a prefix of the batches); the run
 * itself then fails (connection lost) or is found lost, and the next full
 * run, finding a non-empty destination, merges and repairs it as after any
 * failed run. A killed synctool loses nothing committed (the server
 * flushes relaxed commits within wal_writer_delay). Which batch is the
 * last is known before its commit: the next piece is read while the
 * batch's COPY is still open (so a slow source never leaves the
 * destination idle in a transaction, where the session's idle timeout
 * would end it).
 */
#include "sync_int.h"
#include "../log/log.h"

#include <string.h>

/* SELECT "a", "b", ... FROM source or destination: plain columns, so the
 * described types are the columns' own. */
static void copy_select(store_sb *q, const sync_ctx *c, bool source) {
    store_sb_add(q, "SELECT ");
    for (size_t i = 0; i < c->ncols; i++) {
        if (i) store_sb_add(q, ", ");
        store_sb_quote(q, source ? c->scols[i] : c->dcols[i]);
    }
    store_sb_add(q, " FROM ");
    store_sb_from(q, source ? c->src : c->dst, source ? &c->st : &c->dt);
    if (source) sync_range_literal(q, c, true, " WHERE ");   /* a range of parallel: N */
}

/* The side's native form into buf; *none when it has none. */
static int copy_form(sync_ctx *c, bool source, char *buf, size_t n, bool *none) {
    store_sb q = {0};
    copy_select(&q, c, source);
    st_error e;
    int rc = q.oom ? st_error_set(&e, ST_ENOMEM, "out of memory")
                   : store_native_form(source ? c->src : c->dst, q.s, buf, n, &e);
    store_sb_free(&q);
    *none = rc == ST_ENOTIMPL;
    if (rc != ST_OK && !*none) *c->err = e;
    return *none ? ST_OK : rc;
}

int sync_full_copy_wanted(sync_ctx *c, bool *yes) {
    char sf[4096], df[4096];
    bool none = false;
    *yes = false;
    if (c->lookups != NULL) return ST_OK;   /* rows are enriched on their way */
    store_sb probe = {0};   /* a range's bounds go into the COPY as literals */
    bool literal = c->range == NULL || sync_range_literal(&probe, c, true, "");
    store_sb_free(&probe);
    if (!literal) return ST_OK;   /* bounds of text or composite keys: parameters */
    int rc = copy_form(c, true, sf, sizeof sf, &none);
    if (rc != ST_OK || none) return rc;
    rc = copy_form(c, false, df, sizeof df, &none);
    if (rc != ST_OK || none) return rc;
    *yes = strcmp(sf, df) == 0;
    if (!*yes)
        log_debug(c->o->pipeline->name, c->o->strategy->name,
                  "full into empty: column types differ (source %s, destination %s): "
                  "values travel as canonical text", sf, df);
    return ST_OK;
}

/* The source's COPY and the piece in hand. */
typedef struct copy_run {
    store_native *r;
    int64_t batch;     /* rows a batch */
    const char *data;
    size_t len;
    int64_t rows;
    int have;          /* 1: a piece in hand, 0: the source is done, < 0: its error */
} copy_run;

static int copy_next(sync_ctx *c, copy_run *k, int64_t max) {
    k->have = store_native_read(c->src, k->r, &k->data, &k->len, &k->rows, max, c->err);
    return k->have < 0 ? k->have : ST_OK;
}

/* One batch (the body of its transaction): the piece in hand and the next
 * ones up to k->batch rows, then the first piece of the next batch, read
 * while this COPY is still open. The last batch commits durably. */
static int copy_batch(sync_ctx *c, void *arg, store_counts *cnt) {
    copy_run *k = arg;
    int rc = store_native_write_begin(c->dst, &c->dt, c->err);
    if (rc != ST_OK) return rc;
    int64_t rows = 0;
    while (rc == ST_OK && k->have == 1 && rows < k->batch) {
        rc = store_native_write(c->dst, k->data, k->len, c->err);
        rows += k->rows;
        c->stats->rows_read += k->rows;
        if (rc == ST_OK) rc = copy_next(c, k, rows < k->batch ? k->batch - rows : k->batch);
    }
    st_error ignored;
    int64_t written = 0;
    int end = store_native_write_end(c->dst, &c->dt, rc != ST_OK, &written,
                                     rc == ST_OK ? c->err : &ignored);
    if (rc == ST_OK) rc = end;
    cnt->inserted += written;
    if (rc == ST_OK && k->have == 0) rc = store_relax_commit(c->dst, false, c->err);
    return rc;
}

int sync_full_copy(sync_ctx *c) {
    store_sb q = {0};
    copy_select(&q, c, true);
    if (q.oom) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    copy_run k = {.batch = c->batch_size};
    log_debug(c->o->pipeline->name, c->o->strategy->name,
              "full into empty: binary copy, %lld rows a batch", (long long)k.batch);
    int rc = store_native_open(c->src, &k.r, q.s, &c->st, c->err);
    store_sb_free(&q);
    if (rc == ST_OK) rc = copy_next(c, &k, k.batch);
    if (rc == ST_OK && k.have == 1) rc = store_relax_commit(c->dst, true, c->err);
    while (rc == ST_OK && k.have == 1) {
        store_counts cnt = {0};
        rc = sync_batch_txn(c, copy_batch, &k, &cnt);
        if (rc == ST_OK) sync_batch_count(c, &cnt);
    }
    st_error ignored;
    if (rc != ST_OK) store_relax_commit(c->dst, false, &ignored);
    store_native_close(c->src, k.r);
    return rc;
}
