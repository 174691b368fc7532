/*
 * lock_sqlite — the lock backend for one host: leases in the state file.
 *
 * URL `sqlite:/abs/path.db`, the same file the state module uses; this
 * backend opens its own connection and touches only its own tables:
 *
 *   lock_holders(key, owner, mode, fence, expires_at)  PK (key, owner)
 *   lock_fences(key, fence)        per-key fencing counter, only ever grows
 *   lock_intents(key, owner, expires_at)  exclusive waiters, PK (key, owner)
 *
 * expires_at is wall-clock microseconds: processes on one host share the
 * clock, so a lease is comparable across them. This is the one backend that
 * judges leases by the local clock, legitimately: the store is a local file,
 * so every process using it reads the same clock (a process run with a
 * skewed clock of its own, e.g. under faketime, would misjudge leases; the
 * Redis backend, which reads Redis's clock, is the one for many hosts). Every operation is one
 * `BEGIN IMMEDIATE` transaction: it takes SQLite's write lock up front, so
 * the check ("is anyone else holding it?") and the act (insert, extend,
 * delete) are atomic across processes; busy_timeout makes concurrent
 * writers queue instead of failing. Expired rows are deleted inside the same
 * transaction before the check, so a killed holder's lock frees itself once
 * its lease has run out. Renew and release are compare-and-act on the owner
 * token: a statement that matches no live row of that owner is ST_ESTALE.
 *
 * The journal is WAL with synchronous=FULL: every commit is fsynced, so a
 * fencing counter never goes backwards after a power loss (a counter that
 * went back would refuse a new holder's writes until it caught up). That
 * fsync is what bounds the cycle rate (bench/bench_lock.c). Releases are
 * the exception (lsq_release: no fencing counter moves, and a lost one
 * errs on the side of a held lock).
 */
#include "lock_backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LSQ_CACHE 16

typedef struct lsq {
    sqlite3 *db;
    struct { const char *sql; sqlite3_stmt *st; } cache[LSQ_CACHE]; /* by SQL literal */
    char path[1024];
    char shown[512];
} lsq;

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS lock_holders(key TEXT NOT NULL, owner TEXT NOT NULL,"
    " mode INTEGER NOT NULL, fence INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    " PRIMARY KEY(key, owner));"
    "CREATE TABLE IF NOT EXISTS lock_fences(key TEXT PRIMARY KEY, fence INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lock_intents(key TEXT NOT NULL, owner TEXT NOT NULL,"
    " expires_at INTEGER NOT NULL, PRIMARY KEY(key, owner));";

/* --- connection ---------------------------------------------------------- */

/* mkdir -p of the file's parent directory. */
static void make_parent_dirs(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) return;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
    mkdir(dir, 0755);
}

static int lsq_fail(lsq *s, int code, const char *what, st_error *err) {
    return st_error_set(err, code, "lock backend %s: %s: %s", s->shown, what,
                        s->db ? sqlite3_errmsg(s->db) : "cannot open");
}

static int lsq_connect(lsq *s, st_error *err) {
    make_parent_dirs(s->path);
    int rc = sqlite3_open_v2(s->path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) return lsq_fail(s, ST_EUNAVAIL, "unreachable", err);
    sqlite3_busy_timeout(s->db, 10000);
    /* No checkpoint when the last connection to the file closes (as the
     * state module's: state_sqlite.c says why and what bounds the WAL). */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    char *msg = NULL;
    /* Switching a new file to WAL needs a moment of exclusive access and
     * can answer SQLITE_BUSY without waiting: retry while another process
     * (the state module, a concurrent run) is creating the file too. */
    for (int i = 0; i < 100; i++) {
        rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        sqlite3_sleep(20);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r = st_error_set(err, ST_EUNAVAIL, "lock backend %s: cannot initialise: %s",
                             s->shown, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return r;
    }
    return ST_OK;
}

static void lsq_close(void *be) {
    lsq *s = be;
    if (s == NULL) return;
    for (int i = 0; i < LSQ_CACHE; i++) sqlite3_finalize(s->cache[i].st);
    sqlite3_close(s->db);
    free(s);
}

static int lsq_open(void **out, const char *path, const char *shown, st_error *err) {
    *out = NULL;
    if (path == NULL || path[0] != '/')
        return st_error_set(err, ST_EINVAL, "lock backend %s: path must be absolute", shown);
    lsq *s = calloc(1, sizeof *s);
    if (s == NULL) return st_error_set(err, ST_ENOMEM, "lock: out of memory");
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->shown, sizeof s->shown, "%s", shown);
    int rc = lsq_connect(s, err);
    if (rc != ST_OK) {
        lsq_close(s);
        return rc;
    }
    *out = s;
    return ST_OK;
}

static int lsq_clone(void *be, void **out, st_error *err) {
    lsq *s = be;
    return lsq_open(out, s->path, s->shown, err);
}

/* --- statements ---------------------------------------------------------- */

/* Runs one statement binding one value per character of fmt: 't' a
 * const char *, 'i' an int64_t. Returns the result of the last
 * sqlite3_step(); if `row` is non-NULL the first column of the first row
 * lands there. */
/* Prepared statements are cached per SQL literal (the same pointer at each
 * call site), so the hot path never re-parses SQL. */
static sqlite3_stmt *lsq_stmt(lsq *s, const char *sql) {
    int i;
    for (i = 0; i < LSQ_CACHE && s->cache[i].sql != NULL; i++)
        if (s->cache[i].sql == sql) return s->cache[i].st;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return NULL;
    if (i < LSQ_CACHE) {
        s->cache[i].sql = sql;
        s->cache[i].st = st;
    }
    return st;
}

static bool lsq_cached(lsq *s, sqlite3_stmt *st) {
    for (int i = 0; i < LSQ_CACHE; i++)
        if (s->cache[i].st == st) return true;
    return false;
}

static int lsq_exec(lsq *s, int64_t *row, const char *sql, const char *fmt, ...) {
    sqlite3_stmt *st = lsq_stmt(s, sql);
    if (st == NULL) return sqlite3_errcode(s->db);
    int rc;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 't')
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
        else sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && row != NULL) *row = sqlite3_column_int64(st, 0);
    while (rc == SQLITE_ROW) rc = sqlite3_step(st);
    if (lsq_cached(s, st)) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
    return rc;
}

static int lsq_begin(lsq *s, st_error *err) {
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return lsq_fail(s, ST_EUNAVAIL, "begin", err);
    return ST_OK;
}

/* Commits if rc is 0, rolls back otherwise; returns rc or the commit error. */
static int lsq_end(lsq *s, int rc, st_error *err) {
    if (rc == ST_OK) {
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) return ST_OK;
        rc = lsq_fail(s, ST_EUNAVAIL, "commit", err);
    }
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int lsq_purge(lsq *s, const char *key, int64_t now, st_error *err) {
    if (lsq_exec(s, NULL, "DELETE FROM lock_holders WHERE key=?1 AND expires_at<=?2", "ti",
                 key, now) != SQLITE_DONE ||
        lsq_exec(s, NULL, "DELETE FROM lock_intents WHERE key=?1 AND expires_at<=?2", "ti",
                 key, now) != SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "purge", err);
    return ST_OK;
}

/* --- operations ---------------------------------------------------------- */

/* Inside the transaction: ST_EBUSY if `mode` conflicts with live holders or
 * (for shared) with an exclusive waiter's intent. */
static int lsq_conflicts(lsq *s, const char *key, lock_mode mode, st_error *err) {
    int64_t n = 0;
    const char *q = mode == LOCK_EXCLUSIVE
                        ? "SELECT count(*) FROM lock_holders WHERE key=?1"
                        : "SELECT count(*) FROM lock_holders WHERE key=?1 AND mode=0";
    if (lsq_exec(s, &n, q, "t", key) != SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "read holders", err);
    if (n > 0) return st_error_set(err, ST_EBUSY, "lock '%s' is held by another owner", key);
    if (mode == LOCK_EXCLUSIVE) return ST_OK;
    if (lsq_exec(s, &n, "SELECT count(*) FROM lock_intents WHERE key=?1", "t", key) !=
        SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "read intents", err);
    if (n > 0)
        return st_error_set(err, ST_EBUSY, "lock '%s' has an exclusive waiter", key);
    return ST_OK;
}

static int lsq_take(lsq *s, const char *key, lock_mode mode, const char *owner,
                    int64_t expires, int64_t *fence, st_error *err) {
    if (lsq_exec(s, fence,
                 "INSERT INTO lock_fences(key, fence) VALUES(?1, 1) ON CONFLICT(key) "
                 "DO UPDATE SET fence=fence+1 RETURNING fence",
                 "t", key) != SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "fence", err);
    if (lsq_exec(s, NULL,
                 "INSERT INTO lock_holders(key, owner, mode, fence, expires_at) "
                 "VALUES(?1, ?2, ?3, ?4, ?5)",
                 "ttiii", key, owner, (int64_t)mode, *fence, expires) != SQLITE_DONE ||
        lsq_exec(s, NULL, "DELETE FROM lock_intents WHERE key=?1 AND owner=?2", "tt", key,
                 owner) != SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "insert holder", err);
    return ST_OK;
}

static int lsq_acquire(void *be, const char *key, lock_mode mode, const char *owner,
                       int64_t ttl_ms, int64_t now, int64_t *fence, st_error *err) {
    lsq *s = be;
    int rc = lsq_begin(s, err);
    if (rc != ST_OK) return rc;
    rc = lsq_purge(s, key, now, err);
    if (rc == ST_OK) rc = lsq_conflicts(s, key, mode, err);
    if (rc == ST_OK) rc = lsq_take(s, key, mode, owner, now + ttl_ms * 1000, fence, err);
    return lsq_end(s, rc, err);
}

/* Every key in one transaction (one fsync): a busy key is answered
 * ST_EBUSY and the others still taken; any other failure takes none. */
static int lsq_acquire_many(void *be, const char *const *keys, size_t n, lock_mode mode,
                            const char *const *owners, int64_t ttl_ms, int64_t now,
                            int64_t *fences, int *rcs, st_error *err) {
    lsq *s = be;
    int rc = lsq_begin(s, err);
    if (rc != ST_OK) return rc;
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        st_error busy;
        rc = lsq_purge(s, keys[i], now, err);
        if (rc == ST_OK) rcs[i] = lsq_conflicts(s, keys[i], mode, &busy);
        if (rc == ST_OK && rcs[i] != ST_OK && rcs[i] != ST_EBUSY) {
            *err = busy;
            rc = rcs[i];
        }
        if (rc == ST_OK && rcs[i] == ST_OK)
            rc = lsq_take(s, keys[i], mode, owners[i], now + ttl_ms * 1000, &fences[i], err);
    }
    return lsq_end(s, rc, err);
}

static int stale(const lock_handle *h, st_error *err) {
    return st_error_set(err, ST_ESTALE, "lock '%s' is no longer held by this owner", h->key);
}

/* Runs `sql` (bound: key, owner, now, new expiry) on the live row of
 * h->owner in one transaction; ST_ESTALE if it matched nothing. */
static int lsq_on_own_row(lsq *s, const lock_handle *h, const char *sql, int64_t now,
                          st_error *err) {
    int rc = lsq_begin(s, err);
    if (rc != ST_OK) return rc;
    int64_t expires = now + h->ttl_ms * 1000;
    if (lsq_exec(s, NULL, sql, "ttii", h->key, h->owner, now, expires) != SQLITE_DONE)
        rc = lsq_fail(s, ST_EUNAVAIL, "update holder", err);
    else if (sqlite3_changes(s->db) == 0)
        rc = stale(h, err);
    return lsq_end(s, rc, err);
}

static int lsq_renew(void *be, const lock_handle *h, int64_t now, st_error *err) {
    return lsq_on_own_row(be, h,
                          "UPDATE lock_holders SET expires_at=?4 WHERE key=?1 AND owner=?2 "
                          "AND expires_at>?3",
                          now, err);
}

/* A release is committed without its own fsync (synchronous=NORMAL for
 * that one transaction; the next acquisition's fsync carries it to disk): a
 * release lost to a power cut only leaves the lock held until its lease
 * ends, as a killed holder's, and no fencing counter is involved. Two of the
 * six fsyncs of every run (issue 25: a run with nothing to do). */
static int lsq_release(void *be, const lock_handle *h, int64_t now, st_error *err) {
    lsq *s = be;
    sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    int rc = lsq_on_own_row(be, h,
                            "DELETE FROM lock_holders WHERE key=?1 AND owner=?2 AND expires_at>?3 "
                            "AND ?4 IS NOT NULL",
                            now, err);
    sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    return rc;
}

static int lsq_check_fence(void *be, const lock_handle *h, int64_t now, st_error *err) {
    lsq *s = be;
    int64_t n = 0;
    const char *q = h->mode == LOCK_EXCLUSIVE
                        ? "SELECT count(*) FROM lock_holders h JOIN lock_fences f USING(key) "
                          "WHERE h.key=?1 AND h.owner=?2 AND h.expires_at>?3 AND f.fence=?4"
                        : "SELECT count(*) FROM lock_holders WHERE key=?1 AND owner=?2 "
                          "AND expires_at>?3 AND fence=?4";
    if (lsq_exec(s, &n, q, "ttii", h->key, h->owner, now, h->fence) != SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "check fence", err);
    if (n == 0)
        return st_error_set(err, ST_ESTALE, "fencing token %lld of lock '%s' is stale",
                            (long long)h->fence, h->key);
    return ST_OK;
}

static int lsq_intent_set(void *be, const char *key, const char *owner, int64_t ttl_ms,
                          int64_t now, st_error *err) {
    lsq *s = be;
    int64_t exp = now + ttl_ms * 1000;
    if (lsq_exec(s, NULL,
                 "INSERT INTO lock_intents(key, owner, expires_at) VALUES(?1, ?2, ?3) "
                 "ON CONFLICT(key, owner) DO UPDATE SET expires_at=excluded.expires_at",
                 "tti", key, owner, exp) != SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "intent", err);
    return ST_OK;
}

static int lsq_intent_clear(void *be, const char *key, const char *owner, st_error *err) {
    lsq *s = be;
    if (lsq_exec(s, NULL, "DELETE FROM lock_intents WHERE key=?1 AND owner=?2", "tt", key,
                 owner) != SQLITE_DONE)
        return lsq_fail(s, ST_EUNAVAIL, "intent", err);
    return ST_OK;
}

/* One row per live key: the exclusive holder, or the shared holders
 * aggregated (newest fence, latest expiry, count). */
static int lsq_list(void *be, int64_t now, lock_info **out, size_t *n, st_error *err) {
    lsq *s = be;
    sqlite3_stmt *st = NULL;
    const char *q = "SELECT key, min(mode), max(fence), max(expires_at), count(*), min(owner) "
                    "FROM lock_holders WHERE expires_at>?1 GROUP BY key ORDER BY key";
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK)
        return lsq_fail(s, ST_EUNAVAIL, "list", err);
    sqlite3_bind_int64(st, 1, now);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            lock_info *g = realloc(*out, cap * sizeof *g);
            if (g == NULL) break;
            *out = g;
        }
        lock_info *li = &(*out)[(*n)++];
        memset(li, 0, sizeof *li);
        snprintf(li->key, sizeof li->key, "%s", (const char *)sqlite3_column_text(st, 0));
        li->mode = sqlite3_column_int(st, 1) == 0 ? LOCK_EXCLUSIVE : LOCK_SHARED;
        li->fence = sqlite3_column_int64(st, 2);
        li->expires_at = sqlite3_column_int64(st, 3);
        li->holders = sqlite3_column_int(st, 4);
        snprintf(li->owner, sizeof li->owner, "%s", (const char *)sqlite3_column_text(st, 5));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc == SQLITE_ROW ? st_error_set(err, ST_ENOMEM, "lock: out of memory")
                                : lsq_fail(s, ST_EUNAVAIL, "list", err);
    }
    return ST_OK;
}

/* One transaction: h's live exclusive row, then the counter raised past
 * the floor and recorded on that row. */
static int lsq_raise_fence(void *be, const lock_handle *h, int64_t floor, int64_t now,
                           int64_t *fence, st_error *err) {
    lsq *s = be;
    int rc = lsq_begin(s, err);
    if (rc != ST_OK) return rc;
    int64_t n = 0;
    if (lsq_exec(s, &n, "SELECT count(*) FROM lock_holders WHERE key=?1 AND owner=?2 AND mode=0 "
                 "AND expires_at>?3", "tti", h->key, h->owner, now) != SQLITE_DONE)
        rc = lsq_fail(s, ST_EUNAVAIL, "read holder", err);
    else if (n == 0)
        rc = stale(h, err);
    else if (lsq_exec(s, fence, "UPDATE lock_fences SET fence=max(fence, ?2)+1 WHERE key=?1 "
                      "RETURNING fence", "ti", h->key, floor) != SQLITE_DONE ||
             lsq_exec(s, NULL, "UPDATE lock_holders SET fence=?3 WHERE key=?1 AND owner=?2",
                      "tti", h->key, h->owner, *fence) != SQLITE_DONE)
        rc = lsq_fail(s, ST_EUNAVAIL, "raise fence", err);
    return lsq_end(s, rc, err);
}

static const struct lock_ops lsq_ops = {
    .version = LOCK_OPS_VERSION,
    .name = "sqlite",
    .acquire = lsq_acquire,
    .acquire_many = lsq_acquire_many,
    .renew = lsq_renew,
    .release = lsq_release,
    .check_fence = lsq_check_fence,
    .list = lsq_list,
    .intent_set = lsq_intent_set,
    .intent_clear = lsq_intent_clear,
    .clone = lsq_clone,
    .raise_fence = lsq_raise_fence,
    .close = lsq_close,
};

int lock_sqlite_open(void **be, const struct lock_ops **ops, const char *path, const char *shown, st_error *err) {
    *ops = &lsq_ops;
    return lsq_open(be, path, shown, err);
}
