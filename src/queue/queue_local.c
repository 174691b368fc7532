/*
 * queue_local — the in-process queue of the embedded scheduler.
 *
 * One process (the scheduler) both pushes and pops, so this is a plain
 * FIFO array with no locking: entries are appended by push, marked
 * delivered by pop (with the consumer name and a monotonic delivery time),
 * and removed by ack. claim hands a delivered entry idle for at least
 * min_idle_ms to another consumer, which is how the scheduler would recover
 * a job whose child process vanished without being reaped.
 *
 * Ids are "L-<seq>" with a sequence that only grows, so an id is never
 * reused and a late ack of an old id is harmless. Nothing survives the
 * process: embedded mode relies on the state (pending older than 300 s is
 * retried, DESIGN §3 rule 4) for jobs lost with the scheduler itself.
 */
#include "queue_backend.h"
#include "../time/st_time.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct local_entry {
    queue_job job;
    bool delivered;
    int64_t delivered_ms;   /* monotonic */
    char consumer[128];
} local_entry;

typedef struct local_queue {
    local_entry *items;
    size_t n, cap;
    uint64_t seq;
} local_queue;

static int local_push(void *be, queue_job *job, st_error *err) {
    local_queue *q = be;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        local_entry *items = realloc(q->items, cap * sizeof *items);
        if (items == NULL) return st_error_set(err, ST_ENOMEM, "queue: out of memory");
        q->items = items;
        q->cap = cap;
    }
    snprintf(job->id, sizeof job->id, "L-%llu", (unsigned long long)++q->seq);
    local_entry *e = &q->items[q->n++];
    memset(e, 0, sizeof *e);
    e->job = *job;
    e->job.deliveries = 0;
    return ST_OK;
}

static void local_deliver(local_entry *e, const char *consumer, queue_job *out) {
    e->delivered = true;
    e->delivered_ms = st_time_mono_ms();
    snprintf(e->consumer, sizeof e->consumer, "%s", consumer ? consumer : "");
    e->job.deliveries++;
    *out = e->job;
}

static int local_pop(void *be, const char *consumer, int64_t block_ms, queue_job *out,
                     st_error *err) {
    (void)block_ms; /* nobody else can push while we wait: never block */
    local_queue *q = be;
    for (size_t i = 0; i < q->n; i++) {
        if (!q->items[i].delivered) {
            local_deliver(&q->items[i], consumer, out);
            return ST_OK;
        }
    }
    return st_error_set(err, ST_ENOTFOUND, "queue: empty");
}

static int local_ack(void *be, const char *id, st_error *err) {
    (void)err;
    local_queue *q = be;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->items[i].job.id, id) == 0) {
            memmove(&q->items[i], &q->items[i + 1], (q->n - i - 1) * sizeof *q->items);
            q->n--;
            break;
        }
    }
    return ST_OK;
}

static int local_claim(void *be, const char *consumer, int64_t min_idle_ms, queue_job *out,
                       st_error *err) {
    local_queue *q = be;
    int64_t now = st_time_mono_ms();
    for (size_t i = 0; i < q->n; i++) {
        local_entry *e = &q->items[i];
        if (e->delivered && now - e->delivered_ms >= min_idle_ms) {
            local_deliver(e, consumer, out);
            return ST_OK;
        }
    }
    return st_error_set(err, ST_ENOTFOUND, "queue: nothing to claim");
}

static int local_touch(void *be, const char *consumer, const char *id, st_error *err) {
    local_queue *q = be;
    for (size_t i = 0; i < q->n; i++) {
        local_entry *e = &q->items[i];
        if (strcmp(e->job.id, id) == 0 && e->delivered && strcmp(e->consumer, consumer) == 0) {
            e->delivered_ms = st_time_mono_ms();
            return ST_OK;
        }
    }
    return st_error_set(err, ST_ESTALE, "queue: job %s is not delivered to %s", id, consumer);
}

static int local_count(void *be, size_t *waiting, size_t *pending, st_error *err) {
    (void)err;
    local_queue *q = be;
    size_t w = 0, p = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (q->items[i].delivered) p++;
        else w++;
    }
    if (waiting) *waiting = w;
    if (pending) *pending = p;
    return ST_OK;
}

static void local_close(void *be) {
    local_queue *q = be;
    if (q == NULL) return;
    free(q->items);
    free(q);
}

static const struct queue_ops local_queue_ops = {
    .version = QUEUE_OPS_VERSION,
    .name = "local",
    .push = local_push,
    .pop = local_pop,
    .ack = local_ack,
    .claim = local_claim,
    .touch = local_touch,
    .count = local_count,
    .close = local_close,
};

int queue_local_open(void **be, const struct queue_ops **ops, st_error *err) {
    local_queue *q = calloc(1, sizeof *q);
    if (q == NULL) return st_error_set(err, ST_ENOMEM, "queue: out of memory");
    *be = q;
    *ops = &local_queue_ops;
    return ST_OK;
}
