/*
 * lock_redis — the lock backend for many hosts: leases in Redis (hiredis).
 *
 * A backend_url of kind BURL_REDIS (src/url). Key layout per lock key K
 * (K is e.g. synctool:exec:pipeline:orders_sync):
 *
 *   K           held exclusively: a string, the owner token, PX = lease;
 *               held shared: a sorted set, owner -> expiry (server ms),
 *               with PEXPIREAT of its latest member
 *   K:intent    sorted set, exclusive waiters: owner -> expiry (server ms)
 *   K:fence     integer, the fencing counter (INCR on every acquisition)
 *
 * Keeping both forms under K itself is what makes the exclusive path cheap:
 * it is literally `SET K owner NX PX ttl` — refused while K exists as
 * either a holder string or a set of shared holders — plus INCR of the
 * fence, in one script. Because each set carries the expiry of its latest
 * member, K exists exactly while some holder's lease is alive, so a dead
 * holder frees the key by itself. Shared holders are refused while K is a
 * string or a live intent exists — that is what keeps a waiting schema
 * change from being starved.
 *
 * Every operation is one Lua script (EVALSHA, loaded at connect, reloaded on
 * NOSCRIPT), so check-and-act is atomic and an acquire+release cycle costs
 * exactly two round trips. Scripts that need the time read the server clock
 * (TIME; Redis 7 replicates script effects), so hosts with skewed clocks
 * still agree on which leases are alive. Nothing here uses the caller's
 * clock (the `now` every op receives) to decide: an exclusive lease is the
 * key's own PX/PTTL, shared ones are scored in server milliseconds, and
 * lock_list judges liveness by PTTL and TIME. So a run recorded lost
 * (`status`, a scheduler tick, the next `run`: lock_list, then taking the
 * pipeline lock) and the scheduler's leader lease follow Redis's clock; the
 * only use of the local clock is to show lock_list's expires_at in the
 * caller's time (tests/e2e/test_lifecycle.py runs them under faketime).
 *
 * Release is compare-and-delete and renewal compare-and-pexpire on the owner
 * token (GET through pcall, so a set in K simply "is not ours"): a holder
 * whose lease expired and was taken over gets ST_ESTALE and changes
 * nothing. Deleting without the compare would let a paused process delete
 * its successor's lock.
 *
 * A dropped connection reports ST_EUNAVAIL naming the URL (password masked)
 * and reconnects on the next call.
 */
#include "lock_backend.h"
#include "../redis/redis_conn.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SCRIPT_ACQUIRE, SCRIPT_RENEW, SCRIPT_RELEASE, SCRIPT_FENCE, SCRIPT_INTENT, SCRIPT_RAISE,
       NSCRIPTS };

#define LUA_NOW                                                                  \
    "local t = redis.call('TIME') "                                              \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
#define LUA_EXPIRE_SET(k)                                                        \
    "local top = redis.call('ZRANGE', " k ", -1, -1, 'WITHSCORES') "             \
    "if top[2] then redis.call('PEXPIREAT', " k ", top[2]) end "

#define LUA_IS_ZSET "redis.call('TYPE', KEYS[1])['ok'] == 'zset' "

/* KEYS: K, K:intent, K:fence. ARGV: mode (0 x, 1 s), owner, ttl.
 * Returns the new fence, -1 busy, -2 an exclusive waiter blocks shared.
 * Exclusive is exactly SET K owner NX PX ttl (refused while K exists in
 * either form) plus the INCR: no clock, no extra reads. */
static const char LUA_ACQUIRE[] =
    "if ARGV[1] == '0' then "
    "  if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return -1 end "
    "  return redis.call('INCR', KEYS[3]) "
    "end "
    "local ty = redis.call('TYPE', KEYS[1])['ok'] "
    "if ty ~= 'none' and ty ~= 'zset' then return -1 end "
    LUA_NOW
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) "
    "if redis.call('ZCARD', KEYS[2]) > 0 then return -2 end "
    "if ty == 'zset' then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2]) "
    LUA_EXPIRE_SET("KEYS[1]")
    "return redis.call('INCR', KEYS[3])";

/* KEYS: K. ARGV: mode, owner, ttl. 1 renewed, 0 stale. GET goes through
 * pcall: on a shared (zset) K it is an error, i.e. not ours. */
static const char LUA_RENEW[] =
    "if ARGV[1] == '0' then "
    "  if redis.pcall('GET', KEYS[1]) == ARGV[2] then "
    "    redis.call('PEXPIRE', KEYS[1], ARGV[3]) return 1 end "
    "  return 0 "
    "end "
    "if not (" LUA_IS_ZSET ") then return 0 end "
    LUA_NOW
    "local sc = redis.call('ZSCORE', KEYS[1], ARGV[2]) "
    "if not sc or tonumber(sc) <= now then redis.call('ZREM', KEYS[1], ARGV[2]) return 0 end "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2]) "
    LUA_EXPIRE_SET("KEYS[1]")
    "return 1";

/* KEYS: K. ARGV: mode, owner. 1 released, 0 stale. */
static const char LUA_RELEASE[] =
    "if ARGV[1] == '0' then "
    "  if redis.pcall('GET', KEYS[1]) == ARGV[2] then redis.call('DEL', KEYS[1]) return 1 end "
    "  return 0 "
    "end "
    "if not (" LUA_IS_ZSET ") then return 0 end "
    LUA_NOW
    "local sc = redis.call('ZSCORE', KEYS[1], ARGV[2]) "
    "redis.call('ZREM', KEYS[1], ARGV[2]) "
    LUA_EXPIRE_SET("KEYS[1]")
    "if not sc or tonumber(sc) <= now then return 0 end "
    "return 1";

/* KEYS: K, K:fence. ARGV: mode, owner, fence. 1 current, 0 stale. */
static const char LUA_FENCE[] =
    "if ARGV[1] == '0' then "
    "  if redis.pcall('GET', KEYS[1]) == ARGV[2] and redis.call('GET', KEYS[2]) == ARGV[3] "
    "  then return 1 end "
    "  return 0 "
    "end "
    "if not (" LUA_IS_ZSET ") then return 0 end "
    LUA_NOW
    "local sc = redis.call('ZSCORE', KEYS[1], ARGV[2]) "
    "if sc and tonumber(sc) > now then return 1 end "
    "return 0";

/* KEYS: K:intent. ARGV: owner, ttl (0 = clear). */
static const char LUA_INTENT[] =
    "if ARGV[2] == '0' then redis.call('ZREM', KEYS[1], ARGV[1]) return 1 end "
    LUA_NOW
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) "
    LUA_EXPIRE_SET("KEYS[1]")
    "return 1";

/* KEYS: K, K:fence. ARGV: owner, floor. The new fence, or -1 when the
 * owner no longer holds K exclusively. */
static const char LUA_RAISE[] =
    "if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then return -1 end "
    "local f = tonumber(redis.call('GET', KEYS[2]) or '0') "
    "if tonumber(ARGV[2]) > f then f = tonumber(ARGV[2]) end "
    "redis.call('SET', KEYS[2], f + 1) "
    "return f + 1";

static const char *const SCRIPTS[NSCRIPTS] = {LUA_ACQUIRE, LUA_RENEW, LUA_RELEASE, LUA_FENCE,
                                              LUA_INTENT,  LUA_RAISE};

typedef struct lrd {
    redisContext *c;
    char shown[512];
    backend_url u;       /* parsed URL, credentials kept for reconnects and clones */
    char sha[NSCRIPTS][41];
    int64_t last_used;   /* monotonic ms, for redis_conn_check_idle */
} lrd;

/* --- connection ---------------------------------------------------------- */

static int lrd_drop(lrd *r, const char *what, st_error *err) {
    int rc = st_error_set(err, ST_EUNAVAIL, "lock backend %s unreachable: %s: %s", r->shown,
                          what, r->c && r->c->errstr[0] ? r->c->errstr : "no connection");
    if (r->c) redisFree(r->c);
    r->c = NULL;
    return rc;
}

static int lrd_load_scripts(lrd *r, st_error *err) {
    for (int i = 0; i < NSCRIPTS; i++) {
        redisReply *rep = redisCommand(r->c, "SCRIPT LOAD %s", SCRIPTS[i]);
        if (rep == NULL) return lrd_drop(r, "script load", err);
        int ok = rep->type == REDIS_REPLY_STRING && rep->len == 40;
        if (ok) memcpy(r->sha[i], rep->str, 41);
        else st_error_set(err, ST_EUNAVAIL, "lock backend %s: script load: %s", r->shown,
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        if (!ok) return ST_EUNAVAIL;
    }
    return ST_OK;
}

static int lrd_connect(lrd *r, st_error *err) {
    char name[64];
    snprintf(name, sizeof name, "synctool-lock-%d", (int)getpid());
    /* named with the pid, so operators can tell whose connection it is */
    int rc = redis_conn_open(&r->c, &r->u, name, err);
    if (rc != ST_OK) return st_error_wrap(err, "lock backend %s unreachable", r->shown);
    rc = lrd_load_scripts(r, err);
    if (rc != ST_OK && r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
    return rc;
}

/* Before a call: a connection idle for a while is PINGed first, and a
 * dropped or closed one replaced, so a Redis restart between two calls
 * costs no failed call. */
static int lrd_ready(lrd *r, st_error *err) {
    redis_conn_check_idle(&r->c, &r->last_used);
    return r->c != NULL ? ST_OK : lrd_connect(r, err);
}

static void lrd_close(void *be) {
    lrd *r = be;
    if (r == NULL) return;
    if (r->c) redisFree(r->c);
    memset(&r->u, 0, sizeof r->u);
    free(r);
}

static int lrd_open(void **out, const backend_url *u, const char *shown, st_error *err) {
    *out = NULL;
    lrd *r = calloc(1, sizeof *r);
    if (r == NULL) return st_error_set(err, ST_ENOMEM, "lock: out of memory");
    r->u = *u;
    snprintf(r->shown, sizeof r->shown, "%s", shown);
    int rc = lrd_connect(r, err);
    if (rc != ST_OK) {
        lrd_close(r);
        return rc;
    }
    *out = r;
    return ST_OK;
}

static int lrd_clone(void *be, void **out, st_error *err) {
    lrd *r = be;
    return lrd_open(out, &r->u, r->shown, err);
}

/* --- scripts ------------------------------------------------------------- */

/* EVALSHA script with nkeys keys then args (argv strings); on NOSCRIPT
 * reloads once. Reconnects if the connection was dropped. Integer reply in
 * *res. */
static int lrd_eval(lrd *r, int script, int nkeys, const char **kv, int nkv, long long *res,
                    st_error *err) {
    int rc0 = lrd_ready(r, err);
    if (rc0 != ST_OK) return rc0;
    const char *argv[12];
    char nk[8];
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = r->sha[script];
    argv[2] = nk;
    for (int i = 0; i < nkv; i++) argv[3 + i] = kv[i];
    for (int attempt = 0; attempt < 2; attempt++) {
        redisReply *rep = redisCommandArgv(r->c, 3 + nkv, argv, NULL);
        if (rep == NULL) return lrd_drop(r, "command", err);
        if (rep->type == REDIS_REPLY_INTEGER) {
            *res = rep->integer;
            freeReplyObject(rep);
            return ST_OK;
        }
        int noscript = rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
        if (!noscript)
            st_error_set(err, ST_EUNAVAIL, "lock backend %s: script: %s", r->shown,
                         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        if (!noscript) return ST_EUNAVAIL;
        int rc = lrd_load_scripts(r, err);
        if (rc != ST_OK) return rc;
    }
    return st_error_set(err, ST_EUNAVAIL, "lock backend %s: script not loaded", r->shown);
}

static int lrd_acquire(void *be, const char *key, lock_mode mode, const char *owner,
                       int64_t ttl_ms, int64_t now, int64_t *fence, st_error *err) {
    (void)now;
    char ik[400], fk[400], ttl[24];
    snprintf(ik, sizeof ik, "%s:intent", key);
    snprintf(fk, sizeof fk, "%s:fence", key);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    const char *kv[] = {key, ik, fk, mode == LOCK_SHARED ? "1" : "0", owner, ttl};
    long long res = 0;
    int rc = lrd_eval(be, SCRIPT_ACQUIRE, 3, kv, 6, &res, err);
    if (rc != ST_OK) return rc;
    if (res == -1) return st_error_set(err, ST_EBUSY, "lock '%s' is held by another owner", key);
    if (res == -2) return st_error_set(err, ST_EBUSY, "lock '%s' has an exclusive waiter", key);
    *fence = res;
    return ST_OK;
}

/* Renew, release or fence check: compare-and-act on h->owner. */
static int lrd_own(lrd *r, int script, const lock_handle *h, st_error *err) {
    char fk[400], arg[24];
    const char *mode = h->mode == LOCK_SHARED ? "1" : "0";
    long long res = 0;
    int rc;
    if (script == SCRIPT_FENCE) {
        snprintf(fk, sizeof fk, "%s:fence", h->key);
        snprintf(arg, sizeof arg, "%lld", (long long)h->fence);
        const char *kv[] = {h->key, fk, mode, h->owner, arg};
        rc = lrd_eval(r, script, 2, kv, 5, &res, err);
    } else {
        snprintf(arg, sizeof arg, "%lld", (long long)h->ttl_ms);
        const char *kv[] = {h->key, mode, h->owner, arg};
        rc = lrd_eval(r, script, 1, kv, 4, &res, err);
    }
    if (rc != ST_OK) return rc;
    if (res == 1) return ST_OK;
    if (script == SCRIPT_FENCE)
        return st_error_set(err, ST_ESTALE, "fencing token %lld of lock '%s' is stale",
                            (long long)h->fence, h->key);
    return st_error_set(err, ST_ESTALE, "lock '%s' is no longer held by this owner", h->key);
}

static int lrd_renew(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    return lrd_own(be, SCRIPT_RENEW, h, err);
}

static int lrd_release(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    return lrd_own(be, SCRIPT_RELEASE, h, err);
}

static int lrd_check_fence(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    return lrd_own(be, SCRIPT_FENCE, h, err);
}

static int lrd_intent(lrd *r, const char *key, const char *owner, int64_t ttl_ms,
                      st_error *err) {
    char ik[400], ttl[32];
    snprintf(ik, sizeof ik, "%s:intent", key);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    const char *kv[] = {ik, owner, ttl};
    long long res = 0;
    return lrd_eval(r, SCRIPT_INTENT, 1, kv, 3, &res, err);
}

static int lrd_intent_set(void *be, const char *key, const char *owner, int64_t ttl_ms,
                          int64_t now, st_error *err) {
    (void)now;
    return lrd_intent(be, key, owner, ttl_ms > 0 ? ttl_ms : 1, err);
}

static int lrd_intent_clear(void *be, const char *key, const char *owner, st_error *err) {
    return lrd_intent(be, key, owner, 0, err);
}

/* --- listing ------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static bool is_lock_key(const char *k) {
    return strncmp(k, "synctool:exec:", 14) == 0 || strncmp(k, "synctool:enqueue:", 17) == 0 ||
           strncmp(k, "synctool:table:", 15) == 0;
}

static long long lrd_int(lrd *r, const char *fmt, const char *arg) {
    redisReply *rep = redisCommand(r->c, fmt, arg);
    long long v = 0;
    if (rep && rep->type == REDIS_REPLY_INTEGER) v = rep->integer;
    else if (rep && rep->type == REDIS_REPLY_STRING) v = atoll(rep->str);
    freeReplyObject(rep);
    return v;
}

/* Fills li from key `k`: a string (exclusive holder) or a sorted set
 * (shared holders). 1 if some holder is live. Liveness is the server's
 * (PTTL, scores against TIME: now_ms); expires_at is the time left added to
 * the caller's clock (local_us), so "expires in" reads right on a host
 * whose clock is off. */
static int lrd_describe(lrd *r, const char *k, long long now_ms, int64_t local_us,
                        lock_info *li) {
    memset(li, 0, sizeof *li);
    snprintf(li->key, sizeof li->key, "%s", k);
    char fk[400];
    snprintf(fk, sizeof fk, "%s:fence", k);
    li->fence = lrd_int(r, "GET %s", fk);
    redisReply *rep = redisCommand(r->c, "GET %s", k);
    bool exclusive = rep && rep->type == REDIS_REPLY_STRING;
    if (exclusive) snprintf(li->owner, sizeof li->owner, "%s", rep->str);
    freeReplyObject(rep);
    if (exclusive) {
        long long pttl = lrd_int(r, "PTTL %s", k);
        li->mode = LOCK_EXCLUSIVE;
        li->holders = 1;
        li->expires_at = local_us + (pttl > 0 ? pttl : 0) * 1000;
        return pttl > 0;
    }
    char lo[32];
    snprintf(lo, sizeof lo, "(%lld", now_ms);
    rep = redisCommand(r->c, "ZRANGEBYSCORE %s %s +inf WITHSCORES", k, lo);
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
        li->mode = LOCK_SHARED;
        li->holders = (int)(rep->elements / 2);
        snprintf(li->owner, sizeof li->owner, "%s", rep->element[0]->str);
        li->expires_at = local_us + (atoll(rep->element[rep->elements - 1]->str) - now_ms) * 1000;
    }
    freeReplyObject(rep);
    return li->holders > 0;
}

static int lrd_push(lock_info **out, size_t *n, size_t *cap, const lock_info *li) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        lock_info *g = realloc(*out, *cap * sizeof *g);
        if (g == NULL) return ST_ENOMEM;
        *out = g;
    }
    (*out)[(*n)++] = *li;
    return ST_OK;
}

static long long lrd_now_ms(lrd *r) {
    redisReply *rep = redisCommand(r->c, "TIME");
    long long now = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
        now = atoll(rep->element[0]->str) * 1000 + atoll(rep->element[1]->str) / 1000;
    freeReplyObject(rep);
    return now;
}

static int lrd_list(void *be, int64_t now, lock_info **out, size_t *n, st_error *err) {
    lrd *r = be;
    if (lrd_ready(r, err) != ST_OK) return ST_EUNAVAIL;
    long long now_ms = lrd_now_ms(r);
    char cursor[32] = "0";
    size_t cap = 0;
    do {
        redisReply *rep = redisCommand(r->c, "SCAN %s MATCH synctool:* COUNT 1000", cursor);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            freeReplyObject(rep);
            free(*out);
            *out = NULL;
            *n = 0;
            return lrd_drop(r, "scan", err);
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            if (!is_lock_key(k) || ends_with(k, ":fence") || ends_with(k, ":intent")) continue;
            lock_info li;
            if (lrd_describe(r, k, now_ms, now, &li) && lrd_push(out, n, &cap, &li) != ST_OK) {
                freeReplyObject(rep);
                free(*out);
                *out = NULL;
                *n = 0;
                return st_error_set(err, ST_ENOMEM, "lock: out of memory");
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return ST_OK;
}

/* SET NX keeps the first writer's value; GET returns whichever won. */
static int lrd_raise_fence(void *be, const lock_handle *h, int64_t floor, int64_t now,
                           int64_t *fence, st_error *err) {
    (void)now;
    char fk[400], fl[24];
    snprintf(fk, sizeof fk, "%s:fence", h->key);
    snprintf(fl, sizeof fl, "%lld", (long long)floor);
    const char *kv[] = {h->key, fk, h->owner, fl};
    long long res = 0;
    int rc = lrd_eval(be, SCRIPT_RAISE, 2, kv, 4, &res, err);
    if (rc != ST_OK) return rc;
    if (res < 0)
        return st_error_set(err, ST_ESTALE, "lock '%s' is no longer held by this owner", h->key);
    *fence = res;
    return ST_OK;
}

static const struct lock_ops lrd_ops = {
    .version = LOCK_OPS_VERSION,
    .name = "redis",
    .acquire = lrd_acquire,
    .renew = lrd_renew,
    .release = lrd_release,
    .check_fence = lrd_check_fence,
    .list = lrd_list,
    .intent_set = lrd_intent_set,
    .intent_clear = lrd_intent_clear,
    .clone = lrd_clone,
    .raise_fence = lrd_raise_fence,
    .close = lrd_close,
};

int lock_redis_open(void **be, const struct lock_ops **ops, const backend_url *u, const char *shown, st_error *err) {
    *ops = &lrd_ops;
    return lrd_open(be, u, shown, err);
}
