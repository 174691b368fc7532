/*
 * queue_backend — what a queue backend implements (struct queue_ops) and
 * how one is wrapped in a `queue` handle, as lock_backend.h and
 * state_backend.h are for theirs: backends (queue_local.c, queue_redis.c)
 * and test doubles include this; users of a queue include queue.h only.
 */
#ifndef ST_QUEUE_BACKEND_H
#define ST_QUEUE_BACKEND_H

#include "queue.h"

/*
 * A backend. Every method is required. `be` is the backend's own state.
 * Return conventions: 0 ok, negative ST_E* with err filled.
 */
#define QUEUE_OPS_VERSION 1
struct queue_ops {
    int version;          /* QUEUE_OPS_VERSION */
    const char *name;     /* "local", "redis" */
    /* Appends a job; fills job->id. */
    int (*push)(void *be, queue_job *job, st_error *err);
    /* Takes the next never-delivered job for `consumer`, waiting up to
     * block_ms (0 = do not wait). ST_ENOTFOUND if none arrived. */
    int (*pop)(void *be, const char *consumer, int64_t block_ms, queue_job *out,
               st_error *err);
    /* Acknowledges a delivered job: it is done and never delivered again.
     * Acknowledging an unknown or already acknowledged id is not an error. */
    int (*ack)(void *be, const char *id, st_error *err);
    /* Takes over one delivered-but-unacknowledged job idle for at least
     * min_idle_ms (its consumer is presumed dead). ST_ENOTFOUND if none. */
    int (*claim)(void *be, const char *consumer, int64_t min_idle_ms, queue_job *out,
                 st_error *err);
    /* Heartbeat of a consumer still working on a delivered job: resets its
     * idle time so claim() does not hand it to another consumer. ST_ESTALE
     * if the job is no longer delivered to `consumer`. */
    int (*touch)(void *be, const char *consumer, const char *id, st_error *err);
    /* Jobs not yet acknowledged: *waiting never delivered, *pending delivered. */
    int (*count)(void *be, size_t *waiting, size_t *pending, st_error *err);
    void (*close)(void *be);
};

/* Wraps an opened backend context in a queue handle. Takes ownership of
 * `be` (closed by queue_close, or at once if this fails). ST_EINVAL if
 * ops->version is not supported. */
int queue_open_with_ops(queue **out, const struct queue_ops *ops, void *be, st_error *err);

/* Backend constructors (queue_open picks one), the shape of every
 * family's: the context in *be, its table in *ops. */
int queue_local_open(void **be, const struct queue_ops **ops, st_error *err);
int queue_redis_open(void **be, const struct queue_ops **ops, const backend_url *u,
                     st_error *err);
int queue_pg_open(void **be, const struct queue_ops **ops, const backend_url *u,
                  st_error *err);

#endif
