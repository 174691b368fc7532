/*
 * lock_pg — the lock backend in synctool's PostgreSQL database (issue 24):
 * many hosts, no Redis.
 *
 * A backend_url of kind BURL_POSTGRES. The tables are lock_v1's in
 * src/pgcoord/pgcoord_schema.c:
 *
 *   lock_keys(key, fence, owner, expires_at)  one row per key ever locked:
 *                                its fencing counter and exclusive holder
 *                                (NULL: none), and the row every
 *                                acquisition locks first (FOR UPDATE)
 *   lock_holders(key, owner, fence, expires_at)  shared holds
 *   lock_intents(key, owner, expires_at)         exclusive waiters
 *   lock_fence_seq               where tokens come from
 *
 * The exclusive holder lives in the key's own row so that an exclusive
 * cycle (pipeline, enqueue and leader locks: the hot path) only updates
 * one row in place: a delete-and-insert per cycle would leave dead rows
 * that every later check scans until autovacuum comes by.
 *
 * Every operation is one statement, one round trip: acquisition and
 * raise_fence are server functions (lock_acquire, lock_raise) that lock the
 * key's row, purge dead shared holds, check, and take — so check-and-act
 * is atomic per key across every process and host. acquire_many (the
 * scheduler's enqueue locks for every due pipeline) calls lock_acquire
 * once per key in one statement over unnest() of the keys sent as one
 * text[]: one round trip and one commit for the whole batch. Renew,
 * release and the fence check are single compare-and-act statements on
 * the owner's row
 * (UPDATE ... WHERE key AND owner AND expires_at > clock_timestamp()):
 * a holder whose lease ran out and was taken over matches nothing and gets
 * ST_ESTALE. Row locks order a renewal against a newcomer's check: the
 * newcomer re-reads a renewed row and finds it alive.
 *
 * Leases are instants of the server's clock (clock_timestamp(), never
 * now(), which stands still inside a transaction); the `now_us` every op
 * receives is used only to show lock_list's expires_at in the caller's
 * time (time left on the server added to it), as lock_redis.c does. So a
 * host with a skewed clock still agrees with the others on which leases
 * are alive — the scheduler's leader lease among them (key
 * synctool:scheduler:leader, an ordinary exclusive lock).
 *
 * Fencing tokens come from a sequence and a key's counter only grows
 * (greatest of the sequence and counter + 1); the destination's fence
 * table (src/store, checked per write batch) compares them exactly as it
 * does Redis's and SQLite's counters, and lock_raise moves both past a
 * floor read from a destination.
 *
 * Durability: lock connections commit with synchronous_commit off, so a
 * cycle costs no WAL flush wait (bench/bench_lock.c: the flush bounds it
 * to half the disk's commit rate, far below 2,000/s on a plain disk). A
 * server crash may then forget the last fraction of a second of lock
 * changes — what Redis with appendfsync everysec forgets too: a holder
 * whose hold was forgotten finds out at its next renewal (ST_ESTALE, its
 * run stops), and if the sequence forgot tokens, the destination's fence
 * table still holds the highest one written and a new holder raises its
 * token above it (lock_raise_fence) before writing, so tokens at a
 * destination never go back. The queue's connections keep synchronous
 * commits: a job handed off is never forgotten.
 *
 * Outages: each statement has a deadline (pgc_call.h); a lost or stalled
 * server is ST_EUNAVAIL naming the URL (password masked), the connection
 * is dropped and the next call connects afresh. Pacing retries is the
 * caller's business.
 */
#include "lock_backend.h"
#include "../pgcoord/pgc_call.h"
#include "../strbuf/strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct lpg {
    pgc_link l;
} lpg;

/* --- connection ---------------------------------------------------------- */

static void lpg_close(void *be) {
    lpg *p = be;
    if (p == NULL) return;
    pgc_link_drop(&p->l);
    memset(&p->l.u, 0, sizeof p->l.u);
    free(p);
}

static int lpg_open(void **out, const backend_url *u, st_error *err) {
    *out = NULL;
    lpg *p = calloc(1, sizeof *p);
    if (p == NULL) return st_error_set(err, ST_ENOMEM, "lock: out of memory");
    char app[64];
    snprintf(app, sizeof app, "synctool-lock-%d", (int)getpid());
    pgc_link_init(&p->l, u, app, "lock backend");
    p->l.setup = "SET synchronous_commit TO off";
    int rc = pgc_link_ready(&p->l, err);
    if (rc != ST_OK) {
        lpg_close(p);
        return rc;
    }
    *out = p;
    return ST_OK;
}

static int lpg_clone(void *be, void **out, st_error *err) {
    lpg *p = be;
    return lpg_open(out, &p->l.u, err);
}

/* One statement; the integer in row 0 column 0 (or the affected row count
 * when it returns no rows) in *res. */
static int lpg_int(lpg *p, const char *sql, int n, const char *const *params, int64_t *res,
                   st_error *err) {
    PGresult *r = NULL;
    int rc = pgc_call(&p->l, sql, n, params, PGC_CALL_TIMEOUT_MS, &r, err);
    if (rc != ST_OK) return rc;
    *res = PQresultStatus(r) == PGRES_TUPLES_OK ? pgc_int(r, 0, 0) : atoll(PQcmdTuples(r));
    PQclear(r);
    return ST_OK;
}

/* --- operations ---------------------------------------------------------- */

static int lpg_acquire(void *be, const char *key, lock_mode mode, const char *owner,
                       int64_t ttl_ms, int64_t now, int64_t *fence, st_error *err) {
    (void)now;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    const char *pv[] = {key, mode == LOCK_SHARED ? "1" : "0", owner, ttl};
    int64_t res = 0;
    int rc = lpg_int(be, "SELECT lock_acquire($1, $2::int, $3, $4::bigint)", 4, pv, &res, err);
    if (rc != ST_OK) return rc;
    if (res == -1) return st_error_set(err, ST_EBUSY, "lock '%s' is held by another owner", key);
    if (res == -2) return st_error_set(err, ST_EBUSY, "lock '%s' has an exclusive waiter", key);
    *fence = res;
    return ST_OK;
}

/* Appends `v` to a text[] literal being built in b ("{" already put):
 * each element double-quoted, a quote or backslash in it escaped. */
static int array_put(strbuf *b, const char *v, bool first) {
    int rc = first ? ST_OK : strbuf_put(b, ",", 1);
    if (rc == ST_OK) rc = strbuf_put(b, "\"", 1);
    for (const char *c = v; rc == ST_OK && *c; c++) {
        if (*c == '"' || *c == '\\') rc = strbuf_put(b, "\\", 1);
        if (rc == ST_OK) rc = strbuf_put(b, c, 1);
    }
    return rc == ST_OK ? strbuf_put(b, "\"", 1) : rc;
}

static int array_of(strbuf *b, const char *const *v, size_t n) {
    int rc = strbuf_put(b, "{", 1);
    for (size_t i = 0; rc == ST_OK && i < n; i++) rc = array_put(b, v[i], i == 0);
    if (rc == ST_OK) rc = strbuf_put(b, "}", 1);
    return rc;
}

/* Every key in one statement, one round trip (the scheduler's enqueue
 * locks: 100 due pipelines cost one call, not 100): lock_acquire per key
 * as acquire does, in one transaction, so a failure takes nothing. Two
 * batches locking shared keys in opposite orders would deadlock; the
 * server then fails one of them (nothing taken, its error returned). */
static int lpg_acquire_many(void *be, const char *const *keys, size_t n, lock_mode mode,
                            const char *const *owners, int64_t ttl_ms, int64_t now,
                            int64_t *fences, int *rcs, st_error *err) {
    (void)now;
    strbuf k = {0}, o = {0};
    if (array_of(&k, keys, n) != ST_OK || array_of(&o, owners, n) != ST_OK) {
        strbuf_release(&k);
        strbuf_release(&o);
        return st_error_set(err, ST_ENOMEM, "lock backend: out of memory");
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    const char *pv[] = {k.s, o.s, mode == LOCK_SHARED ? "1" : "0", ttl};
    PGresult *r = NULL;
    int rc = pgc_call(&((lpg *)be)->l,
                      "SELECT t.i, lock_acquire(t.k, $3::int, t.o, $4::bigint)"
                      " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(k, o, i)",
                      4, pv, PGC_CALL_TIMEOUT_MS, &r, err);
    strbuf_release(&k);
    strbuf_release(&o);
    if (rc != ST_OK) return rc;
    for (size_t i = 0; i < n; i++) rcs[i] = ST_EBUSY;
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t i = pgc_int(r, row, 0) - 1, f = pgc_int(r, row, 1);
        if (i < 0 || (size_t)i >= n) continue;
        rcs[i] = f > 0 ? ST_OK : ST_EBUSY;
        fences[i] = f;
    }
    PQclear(r);
    return ST_OK;
}

static int stale(const lock_handle *h, st_error *err) {
    return st_error_set(err, ST_ESTALE, "lock '%s' is no longer held by this owner", h->key);
}

/* Runs sql (params: key, owner, ttl ms) against h's live row; ST_ESTALE
 * when it matched none. */
static int lpg_own(lpg *p, const lock_handle *h, const char *sql, st_error *err) {
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRId64, h->ttl_ms);
    const char *pv[] = {h->key, h->owner, ttl};
    int64_t n = 0;
    int rc = lpg_int(p, sql, 3, pv, &n, err);
    if (rc != ST_OK) return rc;
    return n > 0 ? ST_OK : stale(h, err);
}

static int lpg_renew(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    return lpg_own(be, h,
                   h->mode == LOCK_EXCLUSIVE
                       ? "UPDATE lock_keys SET expires_at = clock_timestamp() + $3::bigint * "
                         "interval '1 millisecond' WHERE key = $1 AND owner = $2 "
                         "AND expires_at > clock_timestamp()"
                       : "UPDATE lock_holders SET expires_at = clock_timestamp() + $3::bigint * "
                         "interval '1 millisecond' WHERE key = $1 AND owner = $2 "
                         "AND expires_at > clock_timestamp()",
                   err);
}

static int lpg_release(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    return lpg_own(be, h,
                   h->mode == LOCK_EXCLUSIVE
                       ? "UPDATE lock_keys SET owner = NULL, expires_at = NULL WHERE key = $1 "
                         "AND owner = $2 AND expires_at > clock_timestamp() "
                         "AND $3::bigint IS NOT NULL"
                       : "DELETE FROM lock_holders WHERE key = $1 AND owner = $2 "
                         "AND expires_at > clock_timestamp() AND $3::bigint IS NOT NULL",
                   err);
}

/* Exclusive: h's live hold and the key's counter still h->fence (a raise
 * by nobody else). Shared: h's live hold with that fence. */
static int lpg_check_fence(void *be, const lock_handle *h, int64_t now, st_error *err) {
    (void)now;
    char fence[24];
    snprintf(fence, sizeof fence, "%" PRId64, h->fence);
    const char *pv[] = {h->key, h->owner, fence};
    const char *sql =
        h->mode == LOCK_EXCLUSIVE
            ? "SELECT count(*) FROM lock_keys WHERE key = $1 AND owner = $2 "
              "AND expires_at > clock_timestamp() AND fence = $3::bigint"
            : "SELECT count(*) FROM lock_holders WHERE key = $1 AND owner = $2 "
              "AND expires_at > clock_timestamp() AND fence = $3::bigint";
    int64_t n = 0;
    int rc = lpg_int(be, sql, 3, pv, &n, err);
    if (rc != ST_OK) return rc;
    if (n == 0)
        return st_error_set(err, ST_ESTALE, "fencing token %lld of lock '%s' is stale",
                            (long long)h->fence, h->key);
    return ST_OK;
}

static int lpg_intent_set(void *be, const char *key, const char *owner, int64_t ttl_ms,
                          int64_t now, st_error *err) {
    (void)now;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms > 0 ? ttl_ms : 1);
    const char *pv[] = {key, owner, ttl};
    int64_t n = 0;
    return lpg_int(be,
                   "WITH gone AS (DELETE FROM lock_intents WHERE key = $1 "
                   "AND expires_at <= clock_timestamp()) "
                   "INSERT INTO lock_intents(key, owner, expires_at) VALUES ($1, $2, "
                   "clock_timestamp() + $3::bigint * interval '1 millisecond') "
                   "ON CONFLICT (key, owner) DO UPDATE SET expires_at = excluded.expires_at",
                   3, pv, &n, err);
}

static int lpg_intent_clear(void *be, const char *key, const char *owner, st_error *err) {
    const char *pv[] = {key, owner};
    int64_t n = 0;
    return lpg_int(be, "DELETE FROM lock_intents WHERE key = $1 AND owner = $2", 2, pv, &n,
                   err);
}

static int lpg_raise_fence(void *be, const lock_handle *h, int64_t floor, int64_t now,
                           int64_t *fence, st_error *err) {
    (void)now;
    char fl[24];
    snprintf(fl, sizeof fl, "%" PRId64, floor);
    const char *pv[] = {h->key, h->owner, fl};
    int64_t res = 0;
    int rc = lpg_int(be, "SELECT lock_raise($1, $2, $3::bigint)", 3, pv, &res, err);
    if (rc != ST_OK) return rc;
    if (res < 0) return stale(h, err);
    *fence = res;
    return ST_OK;
}

/* --- listing ------------------------------------------------------------- */

/* One row per live key: the exclusive holder, or the shared holders
 * aggregated (newest fence, latest expiry as time left on the server's
 * clock, count). */
static int lpg_list(void *be, int64_t now, lock_info **out, size_t *n, st_error *err) {
    lpg *p = be;
    *out = NULL;
    *n = 0;
    PGresult *r = NULL;
    int rc = pgc_call(&p->l,
                      "SELECT key, 0, fence, (extract(epoch FROM expires_at - clock_timestamp()) "
                      "* 1000000)::bigint, 1, owner FROM lock_keys "
                      "WHERE expires_at > clock_timestamp() UNION ALL "
                      "SELECT key, 1, max(fence), (extract(epoch FROM max(expires_at) - "
                      "clock_timestamp()) * 1000000)::bigint, count(*), min(owner) "
                      "FROM lock_holders WHERE expires_at > clock_timestamp() GROUP BY key "
                      "ORDER BY 1",
                      0, NULL, PGC_CALL_TIMEOUT_MS, &r, err);
    if (rc != ST_OK) return rc;
    int rows = PQntuples(r);
    if (rows > 0 && (*out = calloc((size_t)rows, sizeof **out)) == NULL) {
        PQclear(r);
        return st_error_set(err, ST_ENOMEM, "lock: out of memory");
    }
    for (int i = 0; i < rows; i++) {
        lock_info *li = &(*out)[i];
        snprintf(li->key, sizeof li->key, "%s", PQgetvalue(r, i, 0));
        li->mode = pgc_int(r, i, 1) == 0 ? LOCK_EXCLUSIVE : LOCK_SHARED;
        li->fence = pgc_int(r, i, 2);
        li->expires_at = now + pgc_int(r, i, 3);
        li->holders = (int)pgc_int(r, i, 4);
        snprintf(li->owner, sizeof li->owner, "%s", PQgetvalue(r, i, 5));
    }
    *n = (size_t)rows;
    PQclear(r);
    return ST_OK;
}

static const struct lock_ops lpg_ops = {
    .version = LOCK_OPS_VERSION,
    .name = "postgresql",
    .acquire = lpg_acquire,
    .acquire_many = lpg_acquire_many,
    .renew = lpg_renew,
    .release = lpg_release,
    .check_fence = lpg_check_fence,
    .list = lpg_list,
    .intent_set = lpg_intent_set,
    .intent_clear = lpg_intent_clear,
    .clone = lpg_clone,
    .raise_fence = lpg_raise_fence,
    .close = lpg_close,
};

int lock_pg_open(void **be, const struct lock_ops **ops, const backend_url *u, st_error *err) {
    *ops = &lpg_ops;
    return lpg_open(be, u, err);
}
