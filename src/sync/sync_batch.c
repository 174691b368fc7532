/*
 * sync_batch — pending destination changes and their commit.
 *
 * Strategies queue changes (owned copies of canonical rows) and the batch
 * commits them when it holds batch_size changes, or when a strategy asks.
 * One commit is one destination transaction:
 *
 *   BEGIN; fencing check-and-set (synctool_fence); apply the changes;
 *   cancel check; lease re-check with the lock store; COMMIT
 *
 * so a run whose lock was taken over (a larger fencing token is stored)
 * writes nothing (ST_ESTALE), and a run whose lease renewal failed
 * (*opts->cancel) or whose lock the lock store gives to someone else now
 * (sync_fence_before_commit) stops before committing (ST_ELOST "lost
 * pipeline lock").
 * An interrupt (*opts->interrupt, SIGINT/SIGTERM) is checked at the same
 * batch boundaries, before BEGIN and before COMMIT: the open batch is rolled
 * back and the run returns ST_EINTR with the counts of what was committed.
 * sync_batch_stream() commits the same way, with rows pulled from a source
 * reader as they arrive instead of queued (delta pages), and
 * sync_batch_txn() around any body (the native copy of sync_full_copy.c).
 * Any failure rolls back: a batch is all or nothing, and since every write
 * is an idempotent upsert or delete by key, re-running after a failure or a
 * kill neither duplicates nor loses rows.
 */
#include "sync_int.h"

#include <stdlib.h>
#include <string.h>

sync_row *sync_row_copy(const char *const *vals, size_t n) {
    size_t bytes = sizeof(sync_row) + n * sizeof(char *);
    for (size_t i = 0; i < n; i++) bytes += vals[i] ? strlen(vals[i]) + 1 : 0;
    sync_row *r = malloc(bytes);
    if (r == NULL) return NULL;
    r->n = n;
    char *p = (char *)&r->v[n];
    for (size_t i = 0; i < n; i++) {
        if (vals[i] == NULL) { r->v[i] = NULL; continue; }
        size_t l = strlen(vals[i]) + 1;
        memcpy(p, vals[i], l);
        r->v[i] = p;
        p += l;
    }
    return r;
}

void sync_batch_free(sync_batch *b) {
    for (size_t i = 0; i < b->n; i++) free(b->rows[i]);
    free(b->rows);
    free(b->ch);
    memset(b, 0, sizeof *b);
}

int sync_batch_add(sync_ctx *c, store_op op, const char *const *vals) {
    sync_batch *b = &c->batch;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        store_change *ch = realloc(b->ch, cap * sizeof *ch);
        if (ch) b->ch = ch;
        sync_row **rows = realloc(b->rows, cap * sizeof *rows);
        if (rows) b->rows = rows;
        if (!ch || !rows) return st_error_set(c->err, ST_ENOMEM, "out of memory");
        b->cap = cap;
    }
    sync_row *r = sync_row_copy(vals, c->ncols);
    if (r == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    b->rows[b->n] = r;
    b->ch[b->n].op = op;
    b->ch[b->n].vals = r->v;
    b->n++;
    if ((int64_t)b->n >= c->batch_size) return sync_batch_flush(c);
    return ST_OK;
}

/* One destination transaction applying the queued batch, or, with `pull`,
 * the changes it yields. */
static bool batch_interrupted(const sync_ctx *c) {
    return c->o->interrupt != NULL && *c->o->interrupt != 0;
}

int sync_batch_txn(sync_ctx *c, sync_txn_fn body, void *arg, store_counts *cnt) {
    if (batch_interrupted(c)) return st_error_set(c->err, ST_EINTR, "interrupted");
    int rc = store_begin(c->dst, c->err);
    if (rc == ST_OK && c->o->fence_key != NULL)
        rc = store_fence_check(c->dst, c->o->fence_key, c->fence_token, NULL, c->err);
    if (rc == ST_OK) rc = body(c, arg, cnt);
    if (rc == ST_OK && c->o->cancel != NULL && *c->o->cancel)
        rc = st_error_set(c->err, ST_ELOST, "lost pipeline lock");
    if (rc == ST_OK && batch_interrupted(c)) rc = st_error_set(c->err, ST_EINTR, "interrupted");
    if (rc == ST_OK) rc = sync_fence_before_commit(c);
    if (rc == ST_OK) rc = store_commit(c->dst, c->err);
    if (rc != ST_OK) store_rollback(c->dst);
    return sync_fence_blocked(c, rc);
}

typedef struct batch_apply_arg {
    store_op op;
    store_pull_fn pull;
    void *arg;
} batch_apply_arg;

static int batch_apply(sync_ctx *c, void *arg, store_counts *cnt) {
    batch_apply_arg *a = arg;
    return a->pull ? store_apply_stream(c->dst, &c->dt, a->op, a->pull, a->arg, cnt, c->err)
                   : store_apply(c->dst, &c->dt, c->batch.ch, c->batch.n, cnt, c->err);
}

static int batch_commit(sync_ctx *c, store_op op, store_pull_fn pull, void *arg,
                        store_counts *cnt) {
    batch_apply_arg a = {.op = op, .pull = pull, .arg = arg};
    return sync_batch_txn(c, batch_apply, &a, cnt);
}

void sync_batch_count(sync_ctx *c, const store_counts *cnt) {
    c->stats->rows_inserted += cnt->inserted;
    c->stats->rows_updated += cnt->updated;
    c->stats->rows_deleted += cnt->deleted;
    if (c->par != NULL) sync_parallel_report(c);   /* a range: the run's figures */
    else sync_progress_update(&c->prog, c->stats, false);
}

int sync_batch_flush(sync_ctx *c) {
    if (c->o->diff != NULL) return ST_OK; /* dry run: nothing was queued */
    if (c->batch.n == 0) {
        if (c->o->cancel != NULL && *c->o->cancel)
            return st_error_set(c->err, ST_ELOST, "lost pipeline lock");
        if (batch_interrupted(c)) return st_error_set(c->err, ST_EINTR, "interrupted");
        return ST_OK;
    }
    store_counts cnt = {0};
    int rc = batch_commit(c, STORE_UPSERT, NULL, NULL, &cnt);
    for (size_t i = 0; i < c->batch.n; i++) free(c->batch.rows[i]);
    c->batch.n = 0;
    if (rc == ST_OK) sync_batch_count(c, &cnt);
    return rc;
}

int sync_batch_stream(sync_ctx *c, store_op op, store_pull_fn pull, void *arg) {
    store_counts cnt = {0};
    int rc = batch_commit(c, op, pull, arg, &cnt);
    if (rc == ST_OK) sync_batch_count(c, &cnt);
    return rc;
}
