/*
 * state_redis — the distributed state backend (a backend_url of kind
 * BURL_REDIS, parsed by src/url) over hiredis.
 *
 * Key layout:
 *   synctool:state:<pipeline>:<strategy>    hash: one record; fields are the
 *                                           state_record names, times as
 *                                           integer microseconds ("" = unknown)
 *   synctool:state:index                    sorted set (all scores 0) of
 *                                           "<pipeline>:<strategy>" members
 *   synctool:state:run_id                   INCR counter for run ids
 *   synctool:history:<pipeline>:<strategy>  list of JSON entries, newest first
 *                                           (LPUSH; PRUNE_LUA applies retention)
 *   synctool:run:<run_id>                   hash: pipeline, strategy, entry (the
 *                                           history JSON) and log, for lookup by
 *                                           run id (`synctool logs`, the API)
 *   synctool:runs                           sorted set of run ids by finished_at
 *                                           (microseconds), for pruning by age
 *   synctool:meta:<pipeline>:<strategy>     hash: state_meta_get/put
 *   synctool:counters:<pipeline>:<strategy> hash: metrics counters (HINCRBYFLOAT)
 *   synctool:counters:index                 sorted set of "<pipeline>\x1f<strategy>"
 *   synctool:processes                      hash: process name -> "kind last_heartbeat_us"
 *   synctool:outbox:a:<id>                  hash: one alert outbox entry (src/notify)
 *   synctool:outbox:ids / :pending          sorted sets of entry ids (all / pending)
 *   synctool:outbox:keys                    hash: entry key -> id (no duplicates)
 *   synctool:outbox:seq                     INCR counter for entry ids
 * The state hash's "paused" field ("1"/"0", absent = 0) is the operator pause.
 *
 * Atomicity: a transition is one Lua script (APPLY_LUA) that checks the
 * stored run_id, validates what it is about to increment, and only then
 * writes the hash, the index and the history — all checks come before the
 * first write, so a refused or corrupt update changes nothing. Imports run
 * PUT_LUA, which replaces whole hashes and keeps the run_id counter ahead of
 * imported ids. Scripts are loaded once (SCRIPT LOAD) and called by EVALSHA;
 * a NOSCRIPT reply (server restarted or flushed) reloads them.
 *
 * list() reads the index, then pipelines HMGETs of the record's fields
 * (in field_names' order: decoded by position, half the reply of an
 * HGETALL) in chunks of 1000 (redisAppendCommandArgv ... redisGetReply):
 * 30,000 records cost 30 round trips, not 30,000. Corrupt hashes are
 * reported per record. list_each() pages the index itself (ZRANGEBYLEX
 * after the last member seen, 8000 at a time), keeps one chunk of HMGETs
 * in flight ahead of the one it decodes (the server's time and the
 * client's overlap: at 20,000 records each was ~half of the listing), and
 * decodes each reply into one reused record, so a listing holds a page of
 * index members and two chunks of replies whatever the number of records. get() reads one hash whole (HGETALL).
 *
 * Errors name the URL with any password replaced by three stars.
 * After an I/O error the connection is dropped and re-made on the next call.
 * Connect and command timeouts are 5 s.
 */
#include "state_backend.h"
#include "../redis/redis_conn.h"

#include "../json/json.h"
#include "../time/st_time.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 600
#define LIST_CHUNK 1000
#define INDEX_PAGE 8000   /* list_each: index members per ZRANGEBYLEX */
#define PUT_CHUNK 2000
#define NFIELDS 13

typedef struct redis_be {
    redisContext *c;
    backend_url u;            /* parsed URL; credentials kept for reconnects */
    char shown[512];          /* URL safe to print */
    char apply_sha[41], put_sha[41], prune_sha[41];
    int64_t last_used;        /* monotonic ms, for redis_conn_check_idle */
} redis_be;

static const char *const field_names[NFIELDS] = {
    "pipeline", "strategy", "status", "last_run", "last_scheduled_at", "last_attempted_at",
    "retry_count", "run_id", "worker", "message", "error", "updated_at", "paused"};

/* KEYS: 1 state hash, 2 index, 3 history list, 4 run hash, 5 runs by time.
 * ARGV: 1 check run_id, 2 must exist, 3 run_id, 4 retry op, 5 member,
 *       6 pipeline, 7 strategy, 8 history body ("" = none), 9 the run's
 *       log, 10 updated_at (= finished_at), 11.. field/value pairs to set. */
static const char APPLY_LUA[] =
    "local exists = redis.call('EXISTS', KEYS[1]) == 1\n"
    "if not exists and ARGV[2] == '1' then return {'notfound'} end\n"
    "if exists then\n"
    "  local cur = redis.call('HGET', KEYS[1], 'run_id')\n"
    "  if cur and cur ~= '' then\n"
    "    if not string.match(cur, '^%d+$') then return {'corrupt', 'run_id', cur} end\n"
    "    if ARGV[1] == '1' and tonumber(cur) > tonumber(ARGV[3]) then return {'stale', cur} end\n"
    "  end\n"
    "  local rc = redis.call('HGET', KEYS[1], 'retry_count')\n"
    "  if ARGV[4] == 'incr' and rc and rc ~= '' and not string.match(rc, '^%d+$') then\n"
    "    return {'corrupt', 'retry_count', rc} end\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 'pipeline', ARGV[6], 'strategy', ARGV[7], 'status', 'idle',\n"
    "             'retry_count', '0', 'run_id', '0')\n"
    "  redis.call('ZADD', KEYS[2], 0, ARGV[5])\n"
    "end\n"
    "if ARGV[4] == 'reset' then redis.call('HSET', KEYS[1], 'retry_count', '0')\n"
    "elseif ARGV[4] == 'incr' then redis.call('HINCRBY', KEYS[1], 'retry_count', 1) end\n"
    "local args = {'updated_at', ARGV[10]}\n"
    "for i = 11, #ARGV do args[#args + 1] = ARGV[i] end\n"
    "redis.call('HSET', KEYS[1], unpack(args))\n"
    "if ARGV[8] ~= '' then\n"
    "  local n = redis.call('HGET', KEYS[1], 'retry_count') or '0'\n"
    "  local entry = '{\"retry_count\":' .. n .. ',' .. ARGV[8]\n"
    "  redis.call('LPUSH', KEYS[3], entry)\n"
    "  redis.call('HSET', KEYS[4], 'pipeline', ARGV[6], 'strategy', ARGV[7], 'entry', entry,\n"
    "             'log', ARGV[9])\n"
    "  redis.call('ZADD', KEYS[5], tonumber(ARGV[10]) or 0, ARGV[3])\n"
    "end\n"
    "return {'ok'}\n";

/* KEYS: 1 index, 2 run_id counter, 3.. state hashes.
 * ARGV: per hash, its index member then the 13 field values in order. */
static const char PUT_LUA[] =
    "local names = {'pipeline', 'strategy', 'status', 'last_run', 'last_scheduled_at',\n"
    "  'last_attempted_at', 'retry_count', 'run_id', 'worker', 'message', 'error', 'updated_at',\n"
    "  'paused'}\n"
    "local maxid = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "local oldmax = maxid\n"
    "local a = 1\n"
    "for k = 3, #KEYS do\n"
    "  local member = ARGV[a]\n"
    "  local h = {}\n"
    "  for i = 1, 13 do h[#h + 1] = names[i]; h[#h + 1] = ARGV[a + i] end\n"
    "  a = a + 14\n"
    "  redis.call('DEL', KEYS[k])\n"
    "  redis.call('HSET', KEYS[k], unpack(h))\n"
    "  redis.call('ZADD', KEYS[1], 0, member)\n"
    "  local id = tonumber(h[16])\n"
    "  if id > maxid then maxid = id end\n"
    "end\n"
    "if maxid > oldmax then redis.call('SET', KEYS[2], string.format('%d', maxid)) end\n"
    "return 'OK'\n";

/* KEYS: 1 runs by time, 2 index.  ARGV: 1 cutoff ("" = no age limit),
 * 2 keep_runs per pair (0 = no limit). Removes history entries (and their
 * run hashes) that finished before the cutoff or lie beyond the newest
 * keep_runs of their list; returns how many entries left the lists. */
static const char PRUNE_LUA[] =
    "local removed = 0\n"
    "local cutoff = tonumber(ARGV[1])\n"
    "local keep = tonumber(ARGV[2]) or 0\n"
    "if cutoff then\n"
    "  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])) do\n"
    "    redis.call('DEL', 'synctool:run:' .. id)\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  end\n"
    "end\n"
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do\n"
    "  local key = 'synctool:history:' .. m\n"
    "  while cutoff do\n"
    "    local last = redis.call('LINDEX', key, -1)\n"
    "    if not last then break end\n"
    "    local ok, e = pcall(cjson.decode, last)\n"
    "    local fin = ok and type(e) == 'table' and tonumber(e.finished_at) or nil\n"
    "    if fin == nil or fin >= cutoff then break end\n"
    "    redis.call('RPOP', key)\n"
    "    removed = removed + 1\n"
    "  end\n"
    "  if keep > 0 and redis.call('LLEN', key) > keep then\n"
    "    for _, v in ipairs(redis.call('LRANGE', key, keep, -1)) do\n"
    "      local ok, e = pcall(cjson.decode, v)\n"
    "      if ok and type(e) == 'table' and e.run_id then\n"
    "        local id = string.format('%d', e.run_id)\n"
    "        redis.call('DEL', 'synctool:run:' .. id)\n"
    "        redis.call('ZREM', KEYS[1], id)\n"
    "      end\n"
    "      removed = removed + 1\n"
    "    end\n"
    "    redis.call('LTRIM', key, 0, keep - 1)\n"
    "  end\n"
    "end\n"
    "return removed\n";

/* --- URL and connection --- */

static void keep_url(redis_be *b, const backend_url *u) {
    b->u = *u;
    burl_redact(u, b->shown, sizeof b->shown);
}

static int unavailable(redis_be *b, st_error *err, const char *what) {
    const char *why = b->c ? (b->c->errstr[0] ? b->c->errstr : "connection lost")
                           : "out of memory";
    st_error_set(err, ST_EUNAVAIL, "state redis %s: %s: %s", b->shown, what, why);
    if (b->c) {
        redisFree(b->c);
        b->c = NULL;
    }
    return ST_EUNAVAIL;
}

/* Runs one command; *out is the reply (caller frees) unless it failed. A
 * Redis error reply is ST_ERR with its text, an I/O error ST_EUNAVAIL. */
static int command(redis_be *b, redisReply **out, st_error *err, int argc, const char **argv,
                   const size_t *lens);

static int load_scripts(redis_be *b, st_error *err) {
    const char *scripts[3] = {APPLY_LUA, PUT_LUA, PRUNE_LUA};
    char *shas[3] = {b->apply_sha, b->put_sha, b->prune_sha};
    for (int i = 0; i < 3; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", scripts[i]};
        redisReply *r;
        int rc = command(b, &r, err, 3, argv, NULL);
        if (rc != ST_OK) return rc;
        if (r->type == REDIS_REPLY_STRING) snprintf(shas[i], 41, "%s", r->str);
        freeReplyObject(r);
    }
    return ST_OK;
}

static int connect_be(redis_be *b, st_error *err) {
    if (redis_conn_open(&b->c, &b->u, NULL, err) != ST_OK)
        return st_error_wrap(err, "state redis %s", b->shown);
    return load_scripts(b, err);
}

static int ensure_connected(redis_be *b, st_error *err) {
    redis_conn_check_idle(&b->c, &b->last_used);
    if (b->c) return ST_OK;
    int rc = connect_be(b, err);
    if (rc != ST_OK && b->c) {
        redisFree(b->c);
        b->c = NULL;
    }
    return rc;
}

static int command(redis_be *b, redisReply **out, st_error *err, int argc, const char **argv,
                   const size_t *lens) {
    *out = NULL;
    redisReply *r = redisCommandArgv(b->c, argc, argv, lens);
    if (r == NULL) return unavailable(b, err, argv[0]);
    if (r->type == REDIS_REPLY_ERROR) {
        /* AUTH errors could echo nothing secret, but keep the text short. */
        st_error_set(err, ST_ERR, "state redis %s: %s: %s", b->shown, argv[0], r->str);
        freeReplyObject(r);
        return ST_ERR;
    }
    *out = r;
    return ST_OK;
}

static void redis_close(void *be) {
    redis_be *b = be;
    if (b == NULL) return;
    if (b->c) redisFree(b->c);
    memset(&b->u, 0, sizeof b->u);
    free(b);
}

static const struct state_ops redis_state_ops;

int state_redis_open(void **be, const struct state_ops **ops, const backend_url *u,
                     st_error *err) {
    *be = NULL;
    redis_be *b = calloc(1, sizeof *b);
    if (b == NULL) return st_error_set(err, ST_ENOMEM, "state redis: out of memory");
    keep_url(b, u);
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) {
        redis_close(b);
        return rc;
    }
    *be = b;
    *ops = &redis_state_ops;
    return ST_OK;
}

/* --- keys and record decoding --- */

static void key_of(char *buf, const char *kind, const char *p, const char *s) {
    snprintf(buf, KEY_MAX, "synctool:%s:%s:%s", kind, p, s);
}

static void fmt_time(char *buf, size_t n, int64_t t) {
    if (t == ST_TIME_NONE)
        buf[0] = '\0';
    else
        snprintf(buf, n, "%lld", (long long)t);
}

/* Decodes an HGETALL reply. `p`/`s` name the pair when the hash lacks them. */
static int reply_to_record(const redisReply *h, const char *p, const char *s, state_record *r,
                           st_error *err) {
    const char *v[NFIELDS] = {0};
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        for (int f = 0; f < NFIELDS; f++)
            if (strcmp(h->element[i]->str, field_names[f]) == 0) v[f] = h->element[i + 1]->str;
    int rc = state_record_from_text(r, v, p, s, err);
    r->paused = v[12] != NULL && strcmp(v[12], "1") == 0;
    return rc;
}

static int redis_get(void *be, const char *p, const char *s, state_record *out,
                     st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[KEY_MAX];
    key_of(key, "state", p, s);
    const char *argv[] = {"HGETALL", key};
    redisReply *r;
    if ((rc = command(b, &r, err, 2, argv, NULL)) != ST_OK) return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        rc = st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", p, s);
    else
        rc = reply_to_record(r, p, s, out, err);
    freeReplyObject(r);
    return rc;
}

/* --- list: pipelined HMGET --- */

/* Appends "HMGET synctool:state:<member> <the NFIELDS names>": the fields
 * come back in field_names' order, so decoding is by position, and the
 * reply is half an HGETALL's (no names): a third less server time and no
 * name matching at 20,000 records (issue 25). */
static void append_hmget(redis_be *b, const char *member) {
    char key[KEY_MAX];
    snprintf(key, sizeof key, "synctool:state:%s", member);
    const char *argv[2 + NFIELDS] = {"HMGET", key};
    for (int f = 0; f < NFIELDS; f++) argv[2 + f] = field_names[f];
    redisAppendCommandArgv(b->c, 2 + NFIELDS, argv, NULL);
}

/* Decodes an HMGET reply of append_hmget. 1 when the hash exists (r
 * filled, or a problem in err), 0 when it does not (every field nil, or
 * not a hash). `member` names the pair when the hash lacks its names. */
static int hmget_to_record(const redisReply *h, const char *member, state_record *r, int *rc,
                           st_error *err) {
    if (h->type != REDIS_REPLY_ARRAY || h->elements != NFIELDS) return 0;
    const char *v[NFIELDS] = {0};
    bool any = false;
    for (int f = 0; f < NFIELDS; f++)
        if (h->element[f]->type == REDIS_REPLY_STRING) {
            v[f] = h->element[f]->str;
            any = true;
        }
    if (!any) return 0;
    *rc = state_record_from_text(r, v, member, "", err);
    r->paused = v[12] != NULL && strcmp(v[12], "1") == 0;
    return 1;
}

/* Reads the replies of `n` appended HMGETs into arr (appending). */
static int read_chunk(redis_be *b, const redisReply *idx, size_t from, size_t n,
                      state_record *arr, size_t *len, st_error *err) {
    for (size_t i = 0; i < n; i++) {
        void *rv = NULL;
        if (redisGetReply(b->c, &rv) != REDIS_OK) return unavailable(b, err, "HMGET");
        st_error problem;
        int rc = ST_OK;
        if (hmget_to_record(rv, idx->element[from + i]->str, &arr[*len], &rc, &problem)) {
            if (rc == ST_OK) (*len)++;
            else state_note_problem(err, &problem);
        }
        freeReplyObject(rv);
    }
    return ST_OK;
}

static int redis_list(void *be, state_record **out, size_t *n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    const char *argv[] = {"ZRANGE", "synctool:state:index", "0", "-1"};
    redisReply *idx;
    if ((rc = command(b, &idx, err, 4, argv, NULL)) != ST_OK) return rc;
    state_record *arr = calloc(idx->elements ? idx->elements : 1, sizeof *arr);
    if (arr == NULL) {
        freeReplyObject(idx);
        return st_error_set(err, ST_ENOMEM, "state list: out of memory");
    }
    size_t len = 0;
    for (size_t at = 0; rc == ST_OK && at < idx->elements; at += LIST_CHUNK) {
        size_t chunk = idx->elements - at < LIST_CHUNK ? idx->elements - at : LIST_CHUNK;
        for (size_t i = 0; i < chunk; i++) append_hmget(b, idx->element[at + i]->str);
        rc = read_chunk(b, idx, at, chunk, arr, &len, err);
    }
    freeReplyObject(idx);
    if (rc != ST_OK) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = len;
    return ST_OK;
}

/* Reads the HMGET replies of idx's members [from, to), appended before,
 * handing each decoded record to fn while *rc is ST_OK (the rest are read
 * and dropped, so the connection stays in step). false on an I/O error. */
static bool each_replies(redis_be *b, const redisReply *idx, size_t from, size_t to,
                         state_record *rec, state_each_fn fn, void *ud, int *rc,
                         st_error *err) {
    for (size_t i = from; i < to; i++) {
        void *rv = NULL;
        if (redisGetReply(b->c, &rv) != REDIS_OK) return false;
        st_error problem;
        int dec = ST_OK;
        if (*rc == ST_OK && hmget_to_record(rv, idx->element[i]->str, rec, &dec, &problem)) {
            if (dec == ST_OK) *rc = fn(ud, rec);
            else state_note_problem(err, &problem);
        }
        freeReplyObject(rv);
    }
    return true;
}

/* One page of the index: its HMGETs go out LIST_CHUNK at a time, one chunk
 * ahead of the replies being read, so the server answers chunk k+1 while
 * chunk k is decoded (hiredis sends what was appended whenever it must
 * read more). */
static int each_page(redis_be *b, const redisReply *idx, state_record *rec, state_each_fn fn,
                     void *ud, st_error *err) {
    size_t n = idx->elements, sent = 0, done = 0;
    int rc = ST_OK;
    for (;;) {
        while (rc == ST_OK && sent < n && sent < done + 2 * LIST_CHUNK)
            append_hmget(b, idx->element[sent++]->str);
        if (done == sent) return rc;
        size_t to = done + LIST_CHUNK < sent ? done + LIST_CHUNK : sent;
        if (!each_replies(b, idx, done, to, rec, fn, ud, &rc, err))
            return unavailable(b, err, "HMGET");
        done = to;
    }
}

static int redis_list_each(void *be, state_each_fn fn, void *ud, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    state_record *rec = malloc(sizeof *rec);
    char *last = malloc(KEY_MAX + 2);
    if (rec == NULL || last == NULL) {
        free(rec);
        free(last);
        return st_error_set(err, ST_ENOMEM, "state list: out of memory");
    }
    snprintf(last, KEY_MAX + 2, "-");
    char page_s[16];
    snprintf(page_s, sizeof page_s, "%d", INDEX_PAGE);
    for (;;) {
        const char *argv[] = {"ZRANGEBYLEX", "synctool:state:index", last, "+", "LIMIT", "0",
                              page_s};
        redisReply *idx;
        if ((rc = command(b, &idx, err, 7, argv, NULL)) != ST_OK) break;
        size_t n = idx->type == REDIS_REPLY_ARRAY ? idx->elements : 0;
        if (n > 0) rc = each_page(b, idx, rec, fn, ud, err);
        if (rc == ST_OK && n > 0) snprintf(last, KEY_MAX + 2, "(%s", idx->element[n - 1]->str);
        freeReplyObject(idx);
        if (rc != ST_OK || n < INDEX_PAGE) break;
    }
    free(rec);
    free(last);
    return rc;
}

/* --- writes --- */

static int redis_new_run_id(void *be, int64_t *out, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    const char *argv[] = {"INCR", "synctool:state:run_id"};
    redisReply *r;
    if ((rc = command(b, &r, err, 2, argv, NULL)) != ST_OK) return rc;
    *out = r->integer;
    freeReplyObject(r);
    return ST_OK;
}

/* EVALSHA, reloading the scripts once on NOSCRIPT. */
static int evalsha(redis_be *b, const char *sha, redisReply **out, int argc, const char **argv,
                   st_error *err) {
    argv[0] = "EVALSHA";
    argv[1] = sha;
    st_error local;
    int rc = command(b, out, &local, argc, argv, NULL);
    if (rc == ST_ERR && strstr(local.msg, "NOSCRIPT")) {
        if ((rc = load_scripts(b, err)) != ST_OK) return rc;
        argv[1] = sha; /* same content, same sha */
        return command(b, out, err, argc, argv, NULL);
    }
    if (rc != ST_OK && err) *err = local;
    return rc;
}

/* The history entry as a JSON object body without its opening brace (the
 * script prepends {"retry_count":N, ...). */
static int history_body(const state_history_entry *h, json_writer *w) {
    json_init(w);
    json_begin_object(w);
    json_kv_int(w, "run_id", h->run_id);
    json_kv_string(w, "status", state_status_name(h->status));
    json_key(w, "started_at");
    if (h->started_at == ST_TIME_NONE) json_null(w); else json_int(w, h->started_at);
    json_key(w, "finished_at");
    if (h->finished_at == ST_TIME_NONE) json_null(w); else json_int(w, h->finished_at);
    json_kv_string(w, "worker", h->worker);
    json_kv_string(w, "message", h->message);
    json_kv_string(w, "error", h->error);
    const state_stats *x = &h->stats;
    json_kv_int(w, "rows_read", x->rows_read);
    json_kv_int(w, "rows_inserted", x->rows_inserted);
    json_kv_int(w, "rows_updated", x->rows_updated);
    json_kv_int(w, "rows_deleted", x->rows_deleted);
    json_kv_int(w, "rows_null_cursor", x->rows_null_cursor);
    json_kv_int(w, "segments_compared", x->segments_compared);
    json_kv_int(w, "segments_skipped", x->segments_skipped);
    json_key(w, "seconds");
    json_double(w, x->seconds);
    json_end_object(w);
    return w->failed ? ST_ENOMEM : ST_OK;
}

/* The field/value pairs a change sets, as strings in `vals`. */
static int change_fields(const state_change *c, const char **argv, char vals[][32]) {
    const state_record *v = &c->values;
    int n = 0;
    if (c->set & STATE_SET_STATUS) { argv[n++] = "status"; argv[n++] = state_status_name(v->status); }
    const struct { unsigned bit; const char *name; int64_t t; } times[] = {
        {STATE_SET_LAST_RUN, "last_run", v->last_run},
        {STATE_SET_LAST_SCHEDULED, "last_scheduled_at", v->last_scheduled_at},
        {STATE_SET_LAST_ATTEMPTED, "last_attempted_at", v->last_attempted_at},
        {STATE_SET_RUN_ID, "run_id", v->run_id}};
    for (int i = 0; i < 4; i++) {
        if (!(c->set & times[i].bit)) continue;
        fmt_time(vals[i], 32, times[i].t);
        argv[n++] = times[i].name;
        argv[n++] = vals[i];
    }
    if (c->set & STATE_SET_WORKER) { argv[n++] = "worker"; argv[n++] = v->worker; }
    if (c->set & STATE_SET_MESSAGE) { argv[n++] = "message"; argv[n++] = v->message; }
    if (c->set & STATE_SET_ERROR) { argv[n++] = "error"; argv[n++] = v->error; }
    if (c->set & STATE_SET_PAUSED) { argv[n++] = "paused"; argv[n++] = v->paused ? "1" : "0"; }
    return n;
}

static int apply_result(const redisReply *r, const state_change *c, st_error *err) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return st_error_set(err, ST_ERR, "state redis: unexpected script reply");
    const char *tag = r->element[0]->str;
    if (strcmp(tag, "ok") == 0) return ST_OK;
    if (strcmp(tag, "notfound") == 0)
        return st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", c->pipeline, c->strategy);
    if (strcmp(tag, "stale") == 0) {
        int64_t stored = 0;
        state_parse_i64(r->element[1]->str, &stored);
        return state_stale(err, c->run_id, stored);
    }
    return state_corrupt(err, c->pipeline, c->strategy, "%s is not a non-negative integer: '%s'",
                         r->elements > 1 ? r->element[1]->str : "?",
                         r->elements > 2 ? r->element[2]->str : "?");
}

static const char *const retry_ops[] = {"keep", "reset", "incr"};

static int redis_apply(void *be, const state_change *c, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[KEY_MAX], hkey[KEY_MAX], member[KEY_MAX], run_id[32], now[32], rkey[64];
    key_of(key, "state", c->pipeline, c->strategy);
    snprintf(rkey, sizeof rkey, "synctool:run:%lld", (long long)c->run_id);
    key_of(hkey, "history", c->pipeline, c->strategy);
    snprintf(member, sizeof member, "%s:%s", c->pipeline, c->strategy);
    snprintf(run_id, sizeof run_id, "%lld", (long long)c->run_id);
    fmt_time(now, sizeof now, c->now);
    json_writer w = {0};
    if (c->history && history_body(c->history, &w) != ST_OK) {
        json_release(&w);
        return st_error_set(err, ST_ENOMEM, "state redis: out of memory");
    }
    const char *argv[40] = {NULL, NULL, "5", key, "synctool:state:index", hkey, rkey,
                            "synctool:runs", c->check_run_id ? "1" : "0",
                            c->must_exist ? "1" : "0", run_id, retry_ops[c->retry], member,
                            c->pipeline, c->strategy, c->history ? w.buf + 1 : "",
                            c->log ? c->log : "", now};
    char vals[4][32];
    int argc = 18 + change_fields(c, argv + 18, vals);
    redisReply *r;
    rc = evalsha(b, b->apply_sha, &r, argc, argv, err);
    json_release(&w);
    if (rc != ST_OK) return rc;
    rc = apply_result(r, c, err);
    freeReplyObject(r);
    return rc;
}

/* One PUT_LUA call for recs[0..n). */
static int put_chunk(redis_be *b, const state_record *recs, size_t n, st_error *err) {
    size_t argc = 5 + n + n * 14;
    const char **argv = calloc(argc, sizeof *argv);
    char (*keys)[KEY_MAX] = calloc(n, sizeof *keys);
    char (*members)[KEY_MAX] = calloc(n, sizeof *members);
    char (*nums)[6][32] = calloc(n, sizeof *nums);
    int rc = ST_ENOMEM;
    if (argv && keys && members && nums) {
        char nkeys[32];
        snprintf(nkeys, sizeof nkeys, "%zu", n + 2);
        argv[2] = nkeys;
        argv[3] = "synctool:state:index";
        argv[4] = "synctool:state:run_id";
        size_t a = 5 + n;
        for (size_t i = 0; i < n; i++) {
            const state_record *r = &recs[i];
            key_of(keys[i], "state", r->pipeline, r->strategy);
            snprintf(members[i], KEY_MAX, "%s:%s", r->pipeline, r->strategy);
            argv[5 + i] = keys[i];
            fmt_time(nums[i][0], 32, r->last_run);
            fmt_time(nums[i][1], 32, r->last_scheduled_at);
            fmt_time(nums[i][2], 32, r->last_attempted_at);
            snprintf(nums[i][3], 32, "%lld", (long long)r->retry_count);
            snprintf(nums[i][4], 32, "%lld", (long long)r->run_id);
            fmt_time(nums[i][5], 32, r->updated_at);
            const char *v[14] = {members[i], r->pipeline, r->strategy,
                                 state_status_name(r->status), nums[i][0], nums[i][1],
                                 nums[i][2], nums[i][3], nums[i][4], r->worker, r->message,
                                 r->error, nums[i][5], r->paused ? "1" : "0"};
            for (int f = 0; f < 14; f++) argv[a++] = v[f];
        }
        redisReply *reply;
        rc = evalsha(b, b->put_sha, &reply, (int)argc, argv, err);
        if (rc == ST_OK) freeReplyObject(reply);
    } else {
        st_error_set(err, ST_ENOMEM, "state redis: out of memory");
    }
    free(argv);
    free(keys);
    free(members);
    free(nums);
    return rc;
}

static int redis_put_many(void *be, const state_record *recs, size_t n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    for (size_t at = 0; rc == ST_OK && at < n; at += PUT_CHUNK)
        rc = put_chunk(b, recs + at, n - at < PUT_CHUNK ? n - at : PUT_CHUNK, err);
    return rc;
}

static int redis_put(void *be, const state_record *rec, st_error *err) {
    return redis_put_many(be, rec, 1, err);
}

/* --- history and meta --- */

static int64_t jint(const json_value *o, const char *k) {
    const json_value *v = json_get(o, k);
    return v && v->type == JSON_NUMBER && v->is_integer ? v->integer : 0;
}

static int64_t jtime(const json_value *o, const char *k) {
    const json_value *v = json_get(o, k);
    return v && v->type == JSON_NUMBER && v->is_integer ? v->integer : ST_TIME_NONE;
}

static const char *jstr(const json_value *o, const char *k) {
    const json_value *v = json_get(o, k);
    return v && v->type == JSON_STRING ? v->string : "";
}

static void json_to_history(const json_value *o, state_history_entry *h) {
    memset(h, 0, sizeof *h);
    h->run_id = jint(o, "run_id");
    if (state_status_parse(jstr(o, "status"), &h->status) != ST_OK) h->status = STATE_IDLE;
    h->started_at = jtime(o, "started_at");
    h->finished_at = jtime(o, "finished_at");
    h->retry_count = jint(o, "retry_count");
    state_copy(h->worker, sizeof h->worker, jstr(o, "worker"));
    state_copy(h->message, sizeof h->message, jstr(o, "message"));
    state_copy(h->error, sizeof h->error, jstr(o, "error"));
    state_stats *x = &h->stats;
    x->rows_read = jint(o, "rows_read");
    x->rows_inserted = jint(o, "rows_inserted");
    x->rows_updated = jint(o, "rows_updated");
    x->rows_deleted = jint(o, "rows_deleted");
    x->rows_null_cursor = jint(o, "rows_null_cursor");
    x->segments_compared = jint(o, "segments_compared");
    x->segments_skipped = jint(o, "segments_skipped");
    const json_value *sec = json_get(o, "seconds");
    x->seconds = sec && sec->type == JSON_NUMBER ? sec->number : 0;
}

static int redis_history(void *be, const char *p, const char *s, size_t limit,
                         state_history_entry **out, size_t *n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[KEY_MAX], stop[32];
    key_of(key, "history", p, s);
    snprintf(stop, sizeof stop, "%lld", limit ? (long long)limit - 1 : -1LL);
    if (limit == 0) snprintf(stop, sizeof stop, "-1");
    const char *argv[] = {"LRANGE", key, "0", stop};
    redisReply *r;
    if ((rc = command(b, &r, err, 4, argv, NULL)) != ST_OK) return rc;
    size_t cnt = limit == 0 ? 0 : r->elements;
    state_history_entry *arr = calloc(cnt ? cnt : 1, sizeof *arr);
    size_t len = 0;
    for (size_t i = 0; arr && i < cnt; i++) {
        json_value *o;
        if (json_parse(&o, r->element[i]->str, r->element[i]->len, NULL) != ST_OK) continue;
        json_to_history(o, &arr[len++]);
        json_free(o);
    }
    freeReplyObject(r);
    if (arr == NULL) return st_error_set(err, ST_ENOMEM, "state history: out of memory");
    *out = arr;
    *n = len;
    return ST_OK;
}

static int redis_run_get(void *be, int64_t run_id, state_run *out, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[64];
    snprintf(key, sizeof key, "synctool:run:%lld", (long long)run_id);
    const char *argv[] = {"HMGET", key, "pipeline", "strategy", "entry", "log"};
    redisReply *r;
    if ((rc = command(b, &r, err, 6, argv, NULL)) != ST_OK) return rc;
    json_value *o = NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[2]->type != REDIS_REPLY_STRING ||
        json_parse(&o, r->element[2]->str, r->element[2]->len, NULL) != ST_OK) {
        freeReplyObject(r);
        return st_error_set(err, ST_ENOTFOUND, "no run %lld in history", (long long)run_id);
    }
    json_to_history(o, &out->entry);
    json_free(o);
    for (int i = 0; i < 2; i++) {
        const redisReply *e = r->element[i];
        state_copy(i ? out->strategy : out->pipeline, sizeof out->pipeline,
                   e->type == REDIS_REPLY_STRING ? e->str : "");
    }
    const redisReply *lg = r->element[3];
    if (lg->type == REDIS_REPLY_STRING && lg->len > 0 &&
        (out->log = strdup(lg->str)) == NULL)
        rc = st_error_set(err, ST_ENOMEM, "state: out of memory");
    freeReplyObject(r);
    return rc;
}

static int redis_prune(void *be, int64_t cutoff, int64_t keep_runs, int64_t *removed,
                       st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char cut[32], keep[32];
    fmt_time(cut, sizeof cut, cutoff);
    snprintf(keep, sizeof keep, "%lld", (long long)keep_runs);
    const char *argv[] = {NULL, NULL, "2", "synctool:runs", "synctool:state:index", cut, keep};
    redisReply *r;
    if ((rc = evalsha(b, b->prune_sha, &r, 7, argv, err)) != ST_OK) return rc;
    *removed = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return ST_OK;
}

static int redis_meta_get(void *be, const char *p, const char *s, const char *k, char *buf,
                          size_t buflen, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[KEY_MAX];
    key_of(key, "meta", p, s);
    const char *argv[] = {"HGET", key, k};
    redisReply *r;
    if ((rc = command(b, &r, err, 3, argv, NULL)) != ST_OK) return rc;
    if (r->type == REDIS_REPLY_STRING)
        state_copy(buf, buflen, r->str);
    else
        rc = st_error_set(err, ST_ENOTFOUND, "no meta '%s' for %s:%s", k, p, s);
    freeReplyObject(r);
    return rc;
}

/* HGETs pipelined in chunks of LIST_CHUNK: one round trip per chunk. */
static int redis_meta_get_many(void *be, state_meta_req *reqs, size_t n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    for (size_t at = 0; rc == ST_OK && at < n; at += LIST_CHUNK) {
        size_t chunk = n - at < LIST_CHUNK ? n - at : LIST_CHUNK;
        for (size_t i = 0; i < chunk; i++) {
            char key[KEY_MAX];
            key_of(key, "meta", reqs[at + i].pipeline, reqs[at + i].strategy);
            const char *argv[] = {"HGET", key, reqs[at + i].key};
            redisAppendCommandArgv(b->c, 3, argv, NULL);
        }
        for (size_t i = 0; i < chunk; i++) {
            void *rv = NULL;
            if (redisGetReply(b->c, &rv) != REDIS_OK) return unavailable(b, err, "HGET");
            redisReply *r = rv;
            state_meta_req *q = &reqs[at + i];
            if (r->type == REDIS_REPLY_STRING) {
                state_copy(q->buf, q->buflen, r->str);
                q->rc = ST_OK;
            }
            freeReplyObject(r);
        }
    }
    return rc;
}

static int redis_meta_put(void *be, const char *p, const char *s, const char *k,
                          const char *value, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[KEY_MAX];
    key_of(key, "meta", p, s);
    const char *argv[] = {"HSET", key, k, value ? value : ""};
    redisReply *r;
    if ((rc = command(b, &r, err, 4, argv, NULL)) != ST_OK) return rc;
    freeReplyObject(r);
    return ST_OK;
}

/* The record, its index entry and its meta, in one script: 1 if there was
 * a record. */
static const char FORGET_LUA[] =
    "local n = redis.call('DEL', KEYS[1]) "
    "redis.call('ZREM', KEYS[2], ARGV[1]) "
    "redis.call('DEL', KEYS[3]) "
    "return n";

static int redis_forget(void *be, const char *p, const char *s, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[KEY_MAX], meta[KEY_MAX], member[KEY_MAX];
    key_of(key, "state", p, s);
    key_of(meta, "meta", p, s);
    snprintf(member, sizeof member, "%s:%s", p, s);
    const char *argv[] = {"EVAL", FORGET_LUA, "3", key, "synctool:state:index", meta, member};
    redisReply *r;
    if ((rc = command(b, &r, err, 7, argv, NULL)) != ST_OK) return rc;
    bool had = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return had ? ST_OK : st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", p, s);
}

/* --- metrics counters and process heartbeats --- */

/* Sends one pipelined MULTI ... EXEC and reads every reply; the counters of
 * one finished attempt are added atomically. */
static int redis_counters_add(void *be, const char *p, const char *s, size_t n,
                              const char *const *names, const double *deltas, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char key[KEY_MAX], member[KEY_MAX];
    key_of(key, "counters", p, s);
    snprintf(member, sizeof member, "%s\x1f%s", p, s);
    redisAppendCommand(b->c, "MULTI");
    const char *zargv[] = {"ZADD", "synctool:counters:index", "0", member};
    redisAppendCommandArgv(b->c, 4, zargv, NULL);
    for (size_t i = 0; i < n; i++) {
        char num[64];
        snprintf(num, sizeof num, "%.17g", deltas[i]);
        const char *hargv[] = {"HINCRBYFLOAT", key, names[i], num};
        redisAppendCommandArgv(b->c, 4, hargv, NULL);
    }
    redisAppendCommand(b->c, "EXEC");
    for (size_t i = 0; i < n + 3; i++) {
        void *rv = NULL;
        if (redisGetReply(b->c, &rv) != REDIS_OK) return unavailable(b, err, "HINCRBYFLOAT");
        redisReply *r = rv;
        if (r->type == REDIS_REPLY_ERROR && rc == ST_OK)
            rc = st_error_set(err, ST_ERR, "state redis %s: counters: %s", b->shown, r->str);
        freeReplyObject(r);
    }
    return rc;
}

/* Appends the counters of one HGETALL reply for the pair in `member`. */
static int take_counters(const redisReply *h, const char *member, state_counter **arr,
                         size_t *len, size_t *cap) {
    const char *sep = strchr(member, '\x1f');
    if (sep == NULL || h->type != REDIS_REPLY_ARRAY) return ST_OK;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        if (*len == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            state_counter *na = realloc(*arr, nc * sizeof *na);
            if (na == NULL) return ST_ENOMEM;
            *arr = na;
            *cap = nc;
        }
        state_counter *c = &(*arr)[*len];
        size_t plen = (size_t)(sep - member);
        if (plen >= sizeof c->pipeline) plen = sizeof c->pipeline - 1;
        memcpy(c->pipeline, member, plen);
        c->pipeline[plen] = '\0';
        state_copy(c->strategy, sizeof c->strategy, sep + 1);
        state_copy(c->name, sizeof c->name, h->element[i]->str);
        c->value = strtod(h->element[i + 1]->str, NULL);
        (*len)++;
    }
    return ST_OK;
}

static int counter_cmp(const void *a, const void *b) {
    const state_counter *x = a, *y = b;
    int c = strcmp(x->pipeline, y->pipeline);
    if (c == 0) c = strcmp(x->strategy, y->strategy);
    return c ? c : strcmp(x->name, y->name);
}

static int redis_counters_list(void *be, state_counter **out, size_t *n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    const char *argv[] = {"ZRANGE", "synctool:counters:index", "0", "-1"};
    redisReply *idx;
    if ((rc = command(b, &idx, err, 4, argv, NULL)) != ST_OK) return rc;
    state_counter *arr = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < idx->elements; i++) {
        const char *member = idx->element[i]->str;
        const char *sep = strchr(member, '\x1f');
        if (sep == NULL) continue;
        char key[KEY_MAX];
        snprintf(key, sizeof key, "synctool:counters:%.*s:%s", (int)(sep - member), member,
                 sep + 1);
        const char *hargv[] = {"HGETALL", key};
        redisAppendCommandArgv(b->c, 2, hargv, NULL);
    }
    for (size_t i = 0; i < idx->elements; i++) {
        const char *member = idx->element[i]->str;
        if (strchr(member, '\x1f') == NULL) continue;
        void *rv = NULL;
        if (redisGetReply(b->c, &rv) != REDIS_OK) {
            freeReplyObject(idx);
            free(arr);
            return unavailable(b, err, "HGETALL");
        }
        if (rc == ST_OK && take_counters(rv, member, &arr, &len, &cap) != ST_OK)
            rc = st_error_set(err, ST_ENOMEM, "state counters: out of memory");
        freeReplyObject(rv);
    }
    freeReplyObject(idx);
    if (rc != ST_OK) {
        free(arr);
        return rc;
    }
    if (len) qsort(arr, len, sizeof *arr, counter_cmp);
    *out = arr;
    *n = len;
    return ST_OK;
}

static int redis_beat(void *be, const char *kind, const char *name, int64_t now,
                      st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    char val[64];
    snprintf(val, sizeof val, "%s %lld", kind, (long long)now);
    const char *argv[] = {"HSET", "synctool:processes", name, val};
    redisReply *r;
    if ((rc = command(b, &r, err, 4, argv, NULL)) != ST_OK) return rc;
    freeReplyObject(r);
    return ST_OK;
}

static int redis_beats(void *be, state_process **out, size_t *n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    const char *argv[] = {"HGETALL", "synctool:processes"};
    redisReply *r;
    if ((rc = command(b, &r, err, 2, argv, NULL)) != ST_OK) return rc;
    size_t cnt = r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
    state_process *arr = calloc(cnt ? cnt : 1, sizeof *arr);
    if (arr == NULL) {
        freeReplyObject(r);
        return st_error_set(err, ST_ENOMEM, "state processes: out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        state_copy(arr[i].name, sizeof arr[i].name, r->element[2 * i]->str);
        const char *v = r->element[2 * i + 1]->str;
        const char *sp = strchr(v, ' ');
        size_t kl = sp ? (size_t)(sp - v) : strlen(v);
        if (kl >= sizeof arr[i].kind) kl = sizeof arr[i].kind - 1;
        memcpy(arr[i].kind, v, kl);
        arr[i].kind[kl] = '\0';
        arr[i].last_heartbeat_at = ST_TIME_NONE;
        if (sp) state_parse_i64(sp + 1, &arr[i].last_heartbeat_at);
    }
    freeReplyObject(r);
    for (size_t i = 1; i < cnt; i++)   /* insertion sort by name: a handful of processes */
        for (size_t j = i; j > 0 && strcmp(arr[j - 1].name, arr[j].name) > 0; j--) {
            state_process t = arr[j];
            arr[j] = arr[j - 1];
            arr[j - 1] = t;
        }
    *out = arr;
    *n = cnt;
    return ST_OK;
}

/* --- the alert outbox --- */

/* KEYS: 1 seq, 2 ids, 3 pending, 4 keys hash, 5 meta hash.
 * ARGV: 1 meta field ("" = none), 2 meta value, then per entry its
 * STATE_ALERT_NFIELDS values in state_alert_fields order (key first). */
static const char OUTBOX_ADD_LUA[] =
    "local names = {'key', 'hook', 'status', 'pipeline', 'strategy', 'event', 'created_at',\n"
    "  'next_at', 'updated_at', 'attempts', 'last_error', 'body'}\n"
    "for a = 3, #ARGV, 12 do\n"
    "  if redis.call('HEXISTS', KEYS[4], ARGV[a]) == 0 then\n"
    "    local id = redis.call('INCR', KEYS[1])\n"
    "    local h = {'id', id}\n"
    "    for i = 1, 12 do h[#h + 1] = names[i]; h[#h + 1] = ARGV[a + i - 1] end\n"
    "    redis.call('HSET', 'synctool:outbox:a:' .. id, unpack(h))\n"
    "    redis.call('ZADD', KEYS[2], id, id)\n"
    "    redis.call('ZADD', KEYS[3], id, id)\n"
    "    redis.call('HSET', KEYS[4], ARGV[a], id)\n"
    "  end\n"
    "end\n"
    "if ARGV[1] ~= '' then redis.call('HSET', KEYS[5], ARGV[1], ARGV[2]) end\n"
    "return 1\n";

/* KEYS: 1 entry hash, 2 pending. ARGV: 1 id, 2 status, 3 next_at,
 * 4 updated_at, 5 attempts, 6 last_error. A vanished entry stays vanished. */
static const char OUTBOX_UPDATE_LUA[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'next_at', ARGV[3], 'updated_at', ARGV[4],\n"
    "           'attempts', ARGV[5], 'last_error', ARGV[6])\n"
    "if ARGV[2] ~= 'pending' then redis.call('ZREM', KEYS[2], ARGV[1]) end\n"
    "return 1\n";

/* KEYS: 1 ids, 2 pending, 3 keys hash. ARGV: 1 cutoff. */
static const char OUTBOX_PRUNE_LUA[] =
    "local n = 0\n"
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  local h = 'synctool:outbox:a:' .. id\n"
    "  local v = redis.call('HMGET', h, 'status', 'updated_at', 'key')\n"
    "  if v[1] ~= 'pending' and (tonumber(v[2]) or 0) < tonumber(ARGV[1]) then\n"
    "    redis.call('DEL', h)\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "    redis.call('ZREM', KEYS[2], id)\n"
    "    if v[3] then redis.call('HDEL', KEYS[3], v[3]) end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

/* EVAL of a small script given whole (alerts are rare; no SCRIPT LOAD). */
static int eval(redis_be *b, const char *script, int nkeys, const char **keys, int nargs,
                const char **args, redisReply **out, st_error *err) {
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    const char **argv = calloc((size_t)(3 + nkeys + nargs), sizeof *argv);
    if (argv == NULL) return st_error_set(err, ST_ENOMEM, "state outbox: out of memory");
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = nk;
    memcpy(argv + 3, keys, (size_t)nkeys * sizeof *argv);
    memcpy(argv + 3 + nkeys, args, (size_t)nargs * sizeof *argv);
    redisReply *r;
    rc = command(b, &r, err, 3 + nkeys + nargs, argv, NULL);
    free(argv);
    if (rc != ST_OK) return rc;
    if (out) *out = r; else freeReplyObject(r);
    return ST_OK;
}

static int redis_outbox_add(void *be, const state_alert *alerts, size_t n, const char *mp,
                            const char *ms, const char *mkey, const char *mvalue,
                            st_error *err) {
    redis_be *b = be;
    char meta[KEY_MAX];
    key_of(meta, "meta", mp ? mp : "-", ms ? ms : "-");
    const char *keys[] = {"synctool:outbox:seq", "synctool:outbox:ids",
                          "synctool:outbox:pending", "synctool:outbox:keys", meta};
    size_t nargs = 2 + n * STATE_ALERT_NFIELDS;
    const char **args = calloc(nargs, sizeof *args);
    char (*num)[4][24] = calloc(n ? n : 1, sizeof *num);
    if (args == NULL || num == NULL) {
        free(args);
        free(num);
        return st_error_set(err, ST_ENOMEM, "state outbox: out of memory");
    }
    args[0] = mkey ? mkey : "";
    args[1] = mvalue ? mvalue : "";
    for (size_t i = 0; i < n; i++)
        state_alert_values(&alerts[i], num[i], args + 2 + i * STATE_ALERT_NFIELDS);
    int rc = eval(b, OUTBOX_ADD_LUA, 5, keys, (int)nargs, args, NULL, err);
    free(args);
    free(num);
    return rc;
}

/* Reads the entries of ids[0..n) (pipelined HGETALL), keeping those of `hook`. */
static int outbox_read(redis_be *b, const redisReply *ids, const char *hook, state_alert *arr,
                       size_t *len, st_error *err) {
    for (size_t i = 0; i < ids->elements; i++) {
        char key[KEY_MAX];
        snprintf(key, sizeof key, "synctool:outbox:a:%s", ids->element[i]->str);
        const char *argv[] = {"HGETALL", key};
        if (redisAppendCommandArgv(b->c, 2, argv, NULL) != REDIS_OK)
            return unavailable(b, err, "HGETALL");
    }
    for (size_t i = 0; i < ids->elements; i++) {
        redisReply *h = NULL;
        if (redisGetReply(b->c, (void **)&h) != REDIS_OK || h == NULL)
            return unavailable(b, err, "HGETALL");
        state_alert *a = &arr[*len];
        memset(a, 0, sizeof *a);
        bool ok = h->type == REDIS_REPLY_ARRAY && h->elements >= 2;
        for (size_t j = 0; ok && j + 1 < h->elements; j += 2)
            ok = state_alert_field(a, h->element[j]->str, h->element[j + 1]->str);
        freeReplyObject(h);
        if (ok && (hook == NULL || strcmp(a->hook, hook) == 0)) (*len)++;
    }
    return ST_OK;
}

static int redis_outbox_list(void *be, const char *hook, bool pending_only, state_alert **out,
                             size_t *n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    const char *argv[] = {"ZRANGE", pending_only ? "synctool:outbox:pending"
                                                 : "synctool:outbox:ids", "0", "-1"};
    redisReply *ids;
    if ((rc = command(b, &ids, err, 4, argv, NULL)) != ST_OK) return rc;
    size_t cnt = ids->type == REDIS_REPLY_ARRAY ? ids->elements : 0;
    state_alert *arr = calloc(cnt ? cnt : 1, sizeof *arr);
    size_t len = 0;
    if (arr == NULL) rc = st_error_set(err, ST_ENOMEM, "state outbox: out of memory");
    else if (cnt) rc = outbox_read(b, ids, hook, arr, &len, err);
    freeReplyObject(ids);
    if (rc != ST_OK) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = len;
    return ST_OK;
}

static int redis_outbox_update(void *be, const state_alert *a, st_error *err) {
    char key[KEY_MAX], id[24], next[24], upd[24], att[24];
    snprintf(key, sizeof key, "synctool:outbox:a:%lld", (long long)a->id);
    snprintf(id, sizeof id, "%lld", (long long)a->id);
    snprintf(next, sizeof next, "%lld", (long long)a->next_at);
    snprintf(upd, sizeof upd, "%lld", (long long)a->updated_at);
    snprintf(att, sizeof att, "%lld", (long long)a->attempts);
    const char *keys[] = {key, "synctool:outbox:pending"};
    const char *args[] = {id, state_alert_status_name(a->status), next, upd, att, a->last_error};
    return eval(be, OUTBOX_UPDATE_LUA, 2, keys, 6, args, NULL, err);
}

static int redis_outbox_prune(void *be, int64_t cutoff, int64_t *removed, st_error *err) {
    char c[24];
    snprintf(c, sizeof c, "%lld", (long long)cutoff);
    const char *keys[] = {"synctool:outbox:ids", "synctool:outbox:pending",
                          "synctool:outbox:keys"};
    const char *args[] = {c};
    redisReply *r;
    int rc = eval(be, OUTBOX_PRUNE_LUA, 3, keys, 1, args, &r, err);
    if (rc != ST_OK) return rc;
    *removed = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return ST_OK;
}

/* --- copying a whole store (state migrate) --- */

/* Calls fn for the run hashes of ids[from, from + n) (pipelined HMGET). */
static int runs_chunk(redis_be *b, const redisReply *ids, size_t from, size_t n,
                      state_run_fn fn, void *ud, st_error *err) {
    for (size_t i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "synctool:run:%s", ids->element[from + i]->str);
        const char *argv[] = {"HMGET", key, "pipeline", "strategy", "entry", "log"};
        redisAppendCommandArgv(b->c, 6, argv, NULL);
    }
    int rc = ST_OK;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(b->c, (void **)&r) != REDIS_OK || r == NULL)
            return unavailable(b, err, "HMGET");
        json_value *o = NULL;
        if (rc == ST_OK && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
            r->element[2]->type == REDIS_REPLY_STRING &&
            json_parse(&o, r->element[2]->str, r->element[2]->len, NULL) == ST_OK) {
            state_run run = {0};
            json_to_history(o, &run.entry);
            for (int k = 0; k < 2; k++)
                state_copy(k ? run.strategy : run.pipeline, sizeof run.pipeline,
                           r->element[k]->type == REDIS_REPLY_STRING ? r->element[k]->str : "");
            const redisReply *lg = r->element[3];
            run.log = lg->type == REDIS_REPLY_STRING && lg->len > 0 ? lg->str : NULL;
            rc = fn(ud, &run);
            json_free(o);
        }
        freeReplyObject(r);
    }
    return rc;
}

/* synctool:runs orders the runs by finished_at: oldest first. */
static int redis_history_each(void *be, state_run_fn fn, void *ud, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    const char *argv[] = {"ZRANGE", "synctool:runs", "0", "-1"};
    redisReply *ids;
    if ((rc = command(b, &ids, err, 4, argv, NULL)) != ST_OK) return rc;
    size_t total = ids->type == REDIS_REPLY_ARRAY ? ids->elements : 0;
    for (size_t at = 0; rc == ST_OK && at < total; at += LIST_CHUNK)
        rc = runs_chunk(b, ids, at, total - at < LIST_CHUNK ? total - at : LIST_CHUNK, fn, ud,
                        err);
    freeReplyObject(ids);
    return rc;
}

/* KEYS: 1 history list, 2 run hash, 3 runs by time, 4 run_id counter.
 * ARGV: 1 entry JSON, 2 pipeline, 3 strategy, 4 log, 5 finished_at, 6 run_id. */
static const char HISTORY_PUT_LUA[] =
    "redis.call('LPUSH', KEYS[1], ARGV[1])\n"
    "redis.call('HSET', KEYS[2], 'pipeline', ARGV[2], 'strategy', ARGV[3], 'entry', ARGV[1],\n"
    "           'log', ARGV[4])\n"
    "redis.call('ZADD', KEYS[3], tonumber(ARGV[5]) or 0, ARGV[6])\n"
    "local cur = tonumber(redis.call('GET', KEYS[4]) or '0') or 0\n"
    "if tonumber(ARGV[6]) > cur then redis.call('SET', KEYS[4], ARGV[6]) end\n"
    "return 1\n";

static int redis_history_put(void *be, const state_run *run, st_error *err) {
    json_writer w = {0};
    if (history_body(&run->entry, &w) != ST_OK) {
        json_release(&w);
        return st_error_set(err, ST_ENOMEM, "state redis: out of memory");
    }
    size_t len = w.len + 48;
    char *entry = malloc(len);
    if (entry == NULL) {
        json_release(&w);
        return st_error_set(err, ST_ENOMEM, "state redis: out of memory");
    }
    snprintf(entry, len, "{\"retry_count\":%lld,%s", (long long)run->entry.retry_count,
             w.buf + 1);
    json_release(&w);
    char hkey[KEY_MAX], rkey[64], fin[32], id[32];
    key_of(hkey, "history", run->pipeline, run->strategy);
    snprintf(rkey, sizeof rkey, "synctool:run:%lld", (long long)run->entry.run_id);
    fmt_time(fin, sizeof fin, run->entry.finished_at);
    snprintf(id, sizeof id, "%lld", (long long)run->entry.run_id);
    const char *keys[] = {hkey, rkey, "synctool:runs", "synctool:state:run_id"};
    const char *args[] = {entry, run->pipeline, run->strategy, run->log ? run->log : "", fin,
                          id};
    int rc = eval(be, HISTORY_PUT_LUA, 4, keys, 6, args, NULL, err);
    free(entry);
    return rc;
}

/* Appends the fields of one meta hash (key synctool:meta:<p>:<s>; the
 * strategy is after the last ':', since a pipeline such as
 * "synctool:scheduler" may hold one). */
static int take_meta(const char *key, const redisReply *h, state_meta **arr, size_t *len,
                     size_t *cap) {
    const char *ps = key + strlen("synctool:meta:");
    const char *sep = strrchr(ps, ':');
    if (sep == NULL || h->type != REDIS_REPLY_ARRAY) return ST_OK;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        if (*len == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            state_meta *na = realloc(*arr, nc * sizeof *na);
            if (na == NULL) return ST_ENOMEM;
            *arr = na;
            *cap = nc;
        }
        state_meta *m = &(*arr)[*len];
        size_t pl = (size_t)(sep - ps) < sizeof m->pipeline ? (size_t)(sep - ps)
                                                             : sizeof m->pipeline - 1;
        memcpy(m->pipeline, ps, pl);
        m->pipeline[pl] = '\0';
        state_copy(m->strategy, sizeof m->strategy, sep + 1);
        state_copy(m->key, sizeof m->key, h->element[i]->str);
        if ((m->value = strdup(h->element[i + 1]->str)) == NULL) return ST_ENOMEM;
        (*len)++;
    }
    return ST_OK;
}

static int redis_meta_list(void *be, state_meta **out, size_t *n, st_error *err) {
    redis_be *b = be;
    int rc = ensure_connected(b, err);
    if (rc != ST_OK) return rc;
    state_meta *arr = NULL;
    size_t len = 0, cap = 0;
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", "synctool:meta:*", "COUNT", "1000"};
        redisReply *r;
        if ((rc = command(b, &r, err, 6, argv, NULL)) != ST_OK) break;
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; rc == ST_OK && i < keys->elements; i++) {
            const char *hargv[] = {"HGETALL", keys->element[i]->str};
            redisReply *h;
            if ((rc = command(b, &h, err, 2, hargv, NULL)) != ST_OK) break;
            if (take_meta(keys->element[i]->str, h, &arr, &len, &cap) != ST_OK)
                rc = st_error_set(err, ST_ENOMEM, "state meta: out of memory");
            freeReplyObject(h);
        }
        freeReplyObject(r);
    } while (rc == ST_OK && strcmp(cursor, "0") != 0);
    if (rc != ST_OK) {
        state_meta_list_free(arr, len);
        return rc;
    }
    *out = arr ? arr : calloc(1, sizeof *arr);
    *n = len;
    return *out ? ST_OK : st_error_set(err, ST_ENOMEM, "state meta: out of memory");
}

static const struct state_ops redis_state_ops = {
    .version = STATE_OPS_VERSION,
    .name = "redis",
    .close = redis_close,
    .get = redis_get,
    .list = redis_list,
    .list_each = redis_list_each,
    .new_run_id = redis_new_run_id,
    .apply = redis_apply,
    .put = redis_put,
    .put_many = redis_put_many,
    .history = redis_history,
    .run_get = redis_run_get,
    .prune = redis_prune,
    .meta_get = redis_meta_get,
    .meta_put = redis_meta_put,
    .forget = redis_forget,
    .meta_get_many = redis_meta_get_many,
    .counters_add = redis_counters_add,
    .counters_list = redis_counters_list,
    .beat = redis_beat,
    .beats = redis_beats,
    .outbox_add = redis_outbox_add,
    .outbox_list = redis_outbox_list,
    .outbox_update = redis_outbox_update,
    .outbox_prune = redis_outbox_prune,
    .history_each = redis_history_each,
    .history_put = redis_history_put,
    .meta_list = redis_meta_list,
};
