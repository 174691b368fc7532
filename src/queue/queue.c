/*
 * queue — the front of the job hand-off (see queue.h).
 *
 * This file only picks a backend from the parsed URL's kind (one of the
 * backend constructors allowed to branch on it) and forwards every call
 * through the backend's `struct queue_ops` table, checking the table's
 * version once at open time. It holds no state of its own beyond the
 * (ops, be) pair, so a test can hand queue_open_with_ops() a mock table and
 * exercise exactly the calls production makes.
 */
#include "queue_backend.h"

#include <stdlib.h>
#include <string.h>

struct queue {
    const struct queue_ops *ops;
    void *be;
};

int queue_open_with_ops(queue **out, const struct queue_ops *ops, void *be, st_error *err) {
    *out = NULL;
    if (ops == NULL || ops->version != QUEUE_OPS_VERSION) {
        if (ops != NULL && ops->close != NULL) ops->close(be);
        return st_error_set(err, ST_EINVAL, "queue: backend table version %d, expected %d",
                            ops ? ops->version : -1, QUEUE_OPS_VERSION);
    }
    queue *q = calloc(1, sizeof *q);
    if (q == NULL) {
        ops->close(be);
        return st_error_set(err, ST_ENOMEM, "queue: out of memory");
    }
    q->ops = ops;
    q->be = be;
    *out = q;
    return ST_OK;
}

int queue_open(queue **out, const backend_url *u, st_error *err) {
    const struct queue_ops *ops = NULL;
    void *be = NULL;
    int rc;
    *out = NULL;
    if (u != NULL && u->kind == BURL_SQLITE)
        rc = queue_local_open(&be, &ops, err);
    else if (u != NULL && u->kind == BURL_REDIS)
        rc = queue_redis_open(&be, &ops, u, err);
    else if (u != NULL && u->kind == BURL_POSTGRES)
        rc = queue_pg_open(&be, &ops, u, err);
    else
        return st_error_set(err, ST_EINVAL, "queue: no state URL given");
    if (rc != ST_OK) return rc;
    return queue_open_with_ops(out, ops, be, err);
}

int queue_open_local(queue **out, st_error *err) {
    const struct queue_ops *ops = NULL;
    void *be = NULL;
    *out = NULL;
    int rc = queue_local_open(&be, &ops, err);
    return rc != ST_OK ? rc : queue_open_with_ops(out, ops, be, err);
}

void queue_close(queue *q) {
    if (q == NULL) return;
    q->ops->close(q->be);
    free(q);
}

int queue_push(queue *q, queue_job *job, st_error *err) {
    return q->ops->push(q->be, job, err);
}

int queue_pop(queue *q, const char *consumer, int64_t block_ms, queue_job *out,
              st_error *err) {
    return q->ops->pop(q->be, consumer, block_ms, out, err);
}

int queue_ack(queue *q, const char *id, st_error *err) {
    return q->ops->ack(q->be, id, err);
}

int queue_claim(queue *q, const char *consumer, int64_t min_idle_ms, queue_job *out,
                st_error *err) {
    return q->ops->claim(q->be, consumer, min_idle_ms, out, err);
}

int queue_touch(queue *q, const char *consumer, const char *id, st_error *err) {
    return q->ops->touch(q->be, consumer, id, err);
}

int queue_count(queue *q, size_t *waiting, size_t *pending, st_error *err) {
    return q->ops->count(q->be, waiting, pending, err);
}

const char *queue_backend_name(const queue *q) { return q->ops->name; }
