/*
 * queue_redis — the distributed job queue: one Redis Stream, one consumer
 * group.
 *
 * Layout: the stream `synctool:jobs` (QUEUE_STREAM_KEY) holds one entry per
 * job that is not yet done, with the fields
 *     pipeline strategy run_id at ek eo ef manual
 * (ek/eo/ef: the enqueue lock's key, owner token and fencing token, so the
 * consumer can release it once it has its own locks). Workers read through
 * the consumer group `synctool-workers` (QUEUE_GROUP), which Redis keeps per
 * stream: XREADGROUP ... > hands each entry to exactly one consumer and puts
 * it in the group's pending entries list (PEL) until XACK.
 *
 * Why this gives "never lost": an entry leaves the PEL only through ack.
 * A consumer that dies keeps its entries in the PEL; XAUTOCLAIM (Redis >=
 * 6.2) moves entries idle longer than a threshold to a live consumer and
 * bumps their delivery count; a live consumer busy with a long job resets
 * its entry's idle time (touch: a small Lua script), so only dead
 * consumers' jobs are ever claimed. ack is XACK followed by XDEL, so the stream
 * only ever holds unfinished work and XLEN minus the PEL size is the
 * backlog that nobody has seen yet.
 *
 * The group is created at open with MKSTREAM from id 0, so jobs pushed
 * before any worker existed are still delivered; BUSYGROUP (another process
 * created it first) is fine. A handle wraps one hiredis connection and is
 * not thread-safe: every worker thread opens its own.
 *
 * Outages: a connection that saw a transport error (reset, timeout, a
 * Redis restart or stall) is freed at once and never used again; the next
 * call connects afresh (and re-creates the group). A NOGROUP reply (Redis
 * restarted without persistence: the stream and the group are gone)
 * re-creates the group and retries the command once. The call that saw the
 * error still fails with ST_EUNAVAIL: pacing the retries (backoff, giving
 * up) is the caller's business (src/proc/).
 *
 * The URL is a parsed backend_url (src/url). Error messages name host:port
 * and never the password.
 */
#include "queue_backend.h"
#include "../redis/redis_conn.h"

#include <hiredis/hiredis.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct redis_queue {
    redisContext *c;   /* NULL after a transport error: reconnect on next call */
    backend_url u;     /* parsed URL, credentials kept for reconnects */
    int64_t last_used; /* monotonic ms, for redis_conn_check_idle */
    char where[300];   /* host:port for messages */
} redis_queue;

/* --- Connection --- */

static int rq_setup(redis_queue *q, st_error *err);

static void rq_drop(redis_queue *q) {
    if (q->c) redisFree(q->c);
    q->c = NULL;
}

static int rq_connect(redis_queue *q, st_error *err) {
    redis_conn_check_idle(&q->c, &q->last_used);
    if (q->c != NULL) return ST_OK;
    int rc = redis_conn_open(&q->c, &q->u, NULL, err);
    if (rc != ST_OK) return st_error_wrap(err, "queue: redis at %s", q->where);
    rc = rq_setup(q, err);
    if (rc != ST_OK) rq_drop(q);
    return rc;
}

/* One command on the current connection; NULL with err filled on a
 * transport error (the connection is dropped) or an error reply. */
static redisReply *rq_cmd_once(redis_queue *q, st_error *err, int argc, const char **argv) {
    if (rq_connect(q, err) != ST_OK) return NULL;
    redisReply *r = redisCommandArgv(q->c, argc, argv, NULL);
    if (r == NULL) {
        st_error_set(err, ST_EUNAVAIL, "queue: redis at %s: %s", q->where,
                     q->c->errstr[0] ? q->c->errstr : "connection lost");
        rq_drop(q);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        st_error_set(err, ST_ERR, "queue: redis at %s: %s: %s", q->where, argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Runs a command; on a transport error or an error reply returns NULL with
 * err filled. The reply must be freed. NOGROUP: re-create, retry once. */
static redisReply *rq_cmd(redis_queue *q, st_error *err, int argc, const char **argv) {
    st_error e;
    st_error_clear(&e);
    redisReply *r = rq_cmd_once(q, &e, argc, argv);
    if (r == NULL && e.code == ST_ERR && strstr(e.msg, "NOGROUP") != NULL &&
        rq_setup(q, NULL) == ST_OK)
        r = rq_cmd_once(q, &e, argc, argv);
    if (r == NULL && err) *err = e;
    return r;
}

static int rq_simple(redis_queue *q, st_error *err, int argc, const char **argv) {
    redisReply *r = rq_cmd(q, err, argc, argv);
    if (r == NULL) return err ? err->code : ST_ERR;
    freeReplyObject(r);
    return ST_OK;
}

/* Creates the consumer group (and the stream) unless it exists. Talks to
 * q->c directly (rq_cmd reconnects through here). */
static int rq_setup(redis_queue *q, st_error *err) {
    const char *grp[] = {"XGROUP", "CREATE", QUEUE_STREAM_KEY, QUEUE_GROUP, "0", "MKSTREAM"};
    redisReply *r = redisCommandArgv(q->c, 6, grp, NULL);
    if (r == NULL) {
        st_error_set(err, ST_EUNAVAIL, "queue: redis at %s: %s", q->where,
                     q->c->errstr[0] ? q->c->errstr : "connection lost");
        rq_drop(q);
        return ST_EUNAVAIL;
    }
    int rc = ST_OK;
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "BUSYGROUP") == NULL)
        rc = st_error_set(err, ST_ERR, "queue: redis at %s: XGROUP: %s", q->where, r->str);
    freeReplyObject(r);
    return rc;
}

/* --- Entries --- */

static int64_t rq_i64(const char *s) { return s ? strtoll(s, NULL, 10) : 0; }

/* Fills out from one stream entry [id, [field, value, ...]]. */
static int rq_entry(const redisReply *e, queue_job *out, st_error *err) {
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return st_error_set(err, ST_EINVAL, "queue: malformed stream entry");
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", e->element[0]->str);
    const redisReply *f = e->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
        if (k == NULL || v == NULL) continue;
        if (strcmp(k, "pipeline") == 0) snprintf(out->pipeline, sizeof out->pipeline, "%s", v);
        else if (strcmp(k, "strategy") == 0) snprintf(out->strategy, sizeof out->strategy, "%s", v);
        else if (strcmp(k, "run_id") == 0) out->run_id = rq_i64(v);
        else if (strcmp(k, "at") == 0) out->at = rq_i64(v);
        else if (strcmp(k, "ek") == 0) snprintf(out->enqueue_key, sizeof out->enqueue_key, "%s", v);
        else if (strcmp(k, "eo") == 0) snprintf(out->enqueue_owner, sizeof out->enqueue_owner, "%s", v);
        else if (strcmp(k, "ef") == 0) out->enqueue_fence = rq_i64(v);
        else if (strcmp(k, "manual") == 0) out->manual = strcmp(v, "1") == 0;
    }
    if (out->pipeline[0] == '\0' || out->strategy[0] == '\0')
        return st_error_set(err, ST_EINVAL, "queue: stream entry %s has no pipeline/strategy",
                            out->id);
    return ST_OK;
}

/* --- Operations --- */

static int rq_push(void *be, queue_job *job, st_error *err) {
    redis_queue *q = be;
    char rid[32], at[32], ef[32];
    snprintf(rid, sizeof rid, "%" PRId64, job->run_id);
    snprintf(at, sizeof at, "%" PRId64, job->at);
    snprintf(ef, sizeof ef, "%" PRId64, job->enqueue_fence);
    const char *argv[] = {"XADD", QUEUE_STREAM_KEY, "*", "pipeline", job->pipeline,
                          "strategy", job->strategy, "run_id", rid, "at", at,
                          "ek", job->enqueue_key, "eo", job->enqueue_owner, "ef", ef,
                          "manual", job->manual ? "1" : "0"};
    redisReply *r = rq_cmd(q, err, (int)(sizeof argv / sizeof argv[0]), argv);
    if (r == NULL) return err ? err->code : ST_ERR;
    snprintf(job->id, sizeof job->id, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return ST_OK;
}

static int rq_pop(void *be, const char *consumer, int64_t block_ms, queue_job *out,
                  st_error *err) {
    redis_queue *q = be;
    char ms[32];
    snprintf(ms, sizeof ms, "%" PRId64, block_ms);
    const char *with_block[] = {"XREADGROUP", "GROUP", QUEUE_GROUP, consumer, "COUNT", "1",
                                "BLOCK", ms, "STREAMS", QUEUE_STREAM_KEY, ">"};
    const char *no_block[] = {"XREADGROUP", "GROUP", QUEUE_GROUP, consumer, "COUNT", "1",
                              "STREAMS", QUEUE_STREAM_KEY, ">"};
    redisReply *r = block_ms > 0 ? rq_cmd(q, err, 11, with_block) : rq_cmd(q, err, 9, no_block);
    if (r == NULL) return err ? err->code : ST_ERR;
    int rc = st_error_set(err, ST_ENOTFOUND, "queue: empty");
    /* [[key, [[id, fields]]]] or nil on timeout */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
        const redisReply *entries = r->element[0]->element[1];
        if (entries->type == REDIS_REPLY_ARRAY && entries->elements >= 1) {
            rc = rq_entry(entries->element[0], out, err);
            out->deliveries = 1;
        }
    }
    freeReplyObject(r);
    return rc;
}

static int rq_ack(void *be, const char *id, st_error *err) {
    redis_queue *q = be;
    const char *ack[] = {"XACK", QUEUE_STREAM_KEY, QUEUE_GROUP, id};
    const char *del[] = {"XDEL", QUEUE_STREAM_KEY, id};
    int rc = rq_simple(q, err, 4, ack);
    if (rc == ST_OK) rc = rq_simple(q, err, 3, del);
    return rc;
}

/* Delivery count of one pending entry (XPENDING key group id id 1). */
static int64_t rq_deliveries(redis_queue *q, const char *id) {
    const char *argv[] = {"XPENDING", QUEUE_STREAM_KEY, QUEUE_GROUP, id, id, "1"};
    redisReply *r = rq_cmd(q, NULL, 6, argv);
    int64_t n = 0;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 4)
        n = r->element[0]->element[3]->integer;
    freeReplyObject(r);
    return n;
}

/* XAUTOCLAIM scans the PEL in bounded steps; follow the cursor until one
 * entry is claimed or the scan wraps to 0-0. */
static int rq_claim(void *be, const char *consumer, int64_t min_idle_ms, queue_job *out,
                    st_error *err) {
    redis_queue *q = be;
    char idle[32], cursor[64] = "0-0";
    snprintf(idle, sizeof idle, "%" PRId64, min_idle_ms);
    for (int step = 0; step < 1000; step++) {
        const char *argv[] = {"XAUTOCLAIM", QUEUE_STREAM_KEY, QUEUE_GROUP, consumer, idle,
                              cursor, "COUNT", "1"};
        redisReply *r = rq_cmd(q, err, 8, argv);
        if (r == NULL) return err ? err->code : ST_ERR;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
            freeReplyObject(r);
            return st_error_set(err, ST_EINVAL, "queue: unexpected XAUTOCLAIM reply");
        }
        const redisReply *list = r->element[1];
        if (list->type == REDIS_REPLY_ARRAY && list->elements >= 1 &&
            list->element[0]->type == REDIS_REPLY_ARRAY) {
            int rc = rq_entry(list->element[0], out, err);
            freeReplyObject(r);
            if (rc == ST_OK) out->deliveries = rq_deliveries(q, out->id);
            return rc;
        }
        snprintf(cursor, sizeof cursor, "%s",
                 r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "0-0");
        freeReplyObject(r);
        if (strcmp(cursor, "0-0") == 0) break;
    }
    return st_error_set(err, ST_ENOTFOUND, "queue: nothing to claim");
}

/* Resets the idle time of an entry we own, atomically in Lua: XPENDING
 * filtered by consumer proves it is still ours (a plain XCLAIM would steal
 * it back from a consumer that claimed it meanwhile), then XCLAIM ... 0 id
 * JUSTID resets its idle time without bumping the delivery count. */
static const char rq_touch_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) "
    "if #p == 0 then return 0 end "
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID') "
    "return 1";

static int rq_touch(void *be, const char *consumer, const char *id, st_error *err) {
    redis_queue *q = be;
    const char *argv[] = {"EVAL", rq_touch_lua, "1", QUEUE_STREAM_KEY, QUEUE_GROUP,
                          consumer, id};
    redisReply *r = rq_cmd(q, err, 7, argv);
    if (r == NULL) return err ? err->code : ST_ERR;
    bool ok = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return ok ? ST_OK
              : st_error_set(err, ST_ESTALE, "queue: job %s is not delivered to %s", id,
                             consumer);
}

static int rq_count(void *be, size_t *waiting, size_t *pending, st_error *err) {
    redis_queue *q = be;
    const char *xlen[] = {"XLEN", QUEUE_STREAM_KEY};
    const char *xpend[] = {"XPENDING", QUEUE_STREAM_KEY, QUEUE_GROUP};
    redisReply *r = rq_cmd(q, err, 2, xlen);
    if (r == NULL) return err ? err->code : ST_ERR;
    long long len = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    r = rq_cmd(q, err, 3, xpend);
    if (r == NULL) return err ? err->code : ST_ERR;
    long long pend = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        pend = r->element[0]->integer;
    freeReplyObject(r);
    if (waiting) *waiting = (size_t)(len > pend ? len - pend : 0);
    if (pending) *pending = (size_t)pend;
    return ST_OK;
}

static void rq_close(void *be) {
    redis_queue *q = be;
    if (q == NULL) return;
    if (q->c) redisFree(q->c);
    memset(&q->u, 0, sizeof q->u);
    free(q);
}

static const struct queue_ops redis_queue_ops = {
    .version = QUEUE_OPS_VERSION,
    .name = "redis",
    .push = rq_push,
    .pop = rq_pop,
    .ack = rq_ack,
    .claim = rq_claim,
    .touch = rq_touch,
    .count = rq_count,
    .close = rq_close,
};

int queue_redis_open(void **be, const struct queue_ops **ops, const backend_url *u,
                     st_error *err) {
    redis_queue *q = calloc(1, sizeof *q);
    if (q == NULL) return st_error_set(err, ST_ENOMEM, "queue: out of memory");
    snprintf(q->where, sizeof q->where, "%s%s%s:%d", strchr(u->host, ':') ? "[" : "", u->host,
             strchr(u->host, ':') ? "]" : "", u->port);
    q->u = *u;
    int rc = rq_connect(q, err);
    if (rc != ST_OK) {
        rq_close(q);
        return rc;
    }
    *be = q;
    *ops = &redis_queue_ops;
    return ST_OK;
}
