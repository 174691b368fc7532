/*
 * queue — the job hand-off from the scheduler to whoever runs the job
 * (DESIGN §1): an in-process FIFO in embedded mode, a Redis Stream with a
 * consumer group in distributed mode.
 *
 * A `queue` handle fronts one backend (struct queue_ops), picked by
 * queue_open() from the parsed state URL's kind (src/url/backend_url.h):
 * SQLite state (embedded mode) has the in-process queue, Redis state the
 * stream `synctool:jobs` read by consumer group `synctool-workers`.
 *
 * Delivery is at-least-once. A consumer takes a job with queue_pop(); the
 * job stays "pending" (delivered, not acknowledged) until queue_ack(). A job
 * whose consumer died is handed to another one by queue_claim() once it has
 * been idle for `min_idle_ms`; a consumer busy with a long job keeps it with
 * queue_touch() heartbeats. So a job is never lost, and may be delivered
 * twice: the pipeline lock makes sure it never runs twice at once, and the
 * consumer checks the state's run_id before running a redelivered job.
 *
 * The queue carries no clock reads of its own except what Redis records for
 * idle times; a job's times travel inside it (`at`).
 */
#ifndef ST_QUEUE_H
#define ST_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"
#include "../url/backend_url.h"

#define QUEUE_STREAM_KEY "synctool:jobs"
#define QUEUE_GROUP "synctool-workers"

typedef struct queue_job {
    char id[64];          /* backend message id, set by push/pop/claim */
    char pipeline[128];
    char strategy[128];
    int64_t run_id;       /* the run id the scheduler marked pending */
    int64_t at;           /* fixed "now" for the run's state times; 0 = wall clock */
    char enqueue_key[320];   /* enqueue lock the consumer releases; "" = none */
    char enqueue_owner[64];
    int64_t enqueue_fence;
    int64_t deliveries;   /* times delivered (1 on first pop); set by pop/claim */
    bool manual;          /* asked for by an operator (POST .../run), not the schedule:
                             like `synctool run`, a failure does not count toward the pause */
} queue_job;

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

typedef struct queue queue;

/* The queue of the mode `u` names: the in-process queue for SQLite state,
 * the Redis stream for Redis state. ST_EINVAL for no URL, ST_EUNAVAIL
 * (naming host:port, never a password) if Redis is unreachable. */
int queue_open(queue **out, const backend_url *u, st_error *err);
/* The in-process queue, whatever the state (the embedded scheduler, tests). */
int queue_open_local(queue **out, st_error *err);
/* Wraps any backend (tests, mocks). Takes ownership of `be`. */
int queue_open_with(queue **out, const struct queue_ops *ops, void *be, st_error *err);
void queue_close(queue *q);

int queue_push(queue *q, queue_job *job, st_error *err);
int queue_pop(queue *q, const char *consumer, int64_t block_ms, queue_job *out,
              st_error *err);
int queue_ack(queue *q, const char *id, st_error *err);
int queue_claim(queue *q, const char *consumer, int64_t min_idle_ms, queue_job *out,
                st_error *err);
int queue_touch(queue *q, const char *consumer, const char *id, st_error *err);
int queue_count(queue *q, size_t *waiting, size_t *pending, st_error *err);
const char *queue_backend_name(const queue *q);

/* Backend constructors (queue_open picks one). */
int queue_local_open(void **be, const struct queue_ops **ops, st_error *err);
int queue_redis_open(void **be, const struct queue_ops **ops, const backend_url *u,
                     st_error *err);

#endif
