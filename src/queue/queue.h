/*
 * queue — the job hand-off from the scheduler to whoever runs the job
 * (DESIGN §1): an in-process FIFO in embedded mode, a Redis Stream with a
 * consumer group or a PostgreSQL table (queue_pg.c) in distributed mode.
 *
 * A `queue` handle fronts one backend (struct queue_ops, queue_backend.h), picked by
 * queue_open() from the parsed state URL's kind (src/url/backend_url.h):
 * SQLite state (embedded mode) has the in-process queue, Redis state the
 * stream `synctool:jobs` read by consumer group `synctool-workers`,
 * PostgreSQL state the table queue_jobs in the URL's schema.
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

struct queue_ops;   /* a backend's table: queue_backend.h */

typedef struct queue queue;

/* The queue of the mode `u` names: the in-process queue for SQLite state,
 * the Redis stream for Redis state. ST_EINVAL for no URL, ST_EUNAVAIL
 * (naming host:port, never a password) if Redis is unreachable. */
int queue_open(queue **out, const backend_url *u, st_error *err);
/* The in-process queue, whatever the state (the embedded scheduler, tests). */
int queue_open_local(queue **out, st_error *err);
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

#endif
