/*
 * state_sqlite — the embedded state backend: one SQLite file, several
 * processes on one host (a backend_url of kind BURL_SQLITE: its path).
 *
 * Tables (all ours are prefixed state_; the lock module keeps its own tables
 * in the same file through its own connection):
 *   synctool_meta(key, value)      schema versions; our key is state.schema_version
 *   state_records(pipeline, strategy, status, last_run, last_scheduled_at,
 *                 last_attempted_at, retry_count, run_id, worker, message,
 *                 error, updated_at)          one row per pair
 *   state_history(id, pipeline, strategy, ...)  newest = highest id; kept
 *                 until state_prune() (retention by age and count per pair)
 *   state_run_logs(history_id, log)  the run's log lines, one row per history
 *                 entry that has any (a separate table, so listing history
 *                 never reads logs and older files gain it by CREATE)
 *   state_kv(pipeline, strategy, key, value)    state_meta_get/put
 *   state_counters(name, value)                 the run_id counter
 *   state_run_counters(pipeline, strategy, name, value)  metrics counters
 *                 (runs by outcome, duration histogram, rows moved), added
 *                 to by every finished attempt (state_counters_add)
 *   state_processes(name, kind, last_heartbeat_at)  process heartbeats
 *   state_outbox(id, key UNIQUE, hook, status, ..., body)  the alert outbox
 *                 (src/notify): one row per (alert, webhook); older files
 *                 gain it by CREATE
 * state_records.paused (operator pause, 0/1) was added after schema 1: an
 * older file gets the column on open (ALTER TABLE, default 0).
 * Timestamps are integer microseconds, NULL when unknown.
 *
 * Concurrency: WAL journal, busy_timeout 10 s, and every read-modify-write
 * (apply, new_run_id, put_many) runs inside BEGIN IMMEDIATE, which takes the
 * write lock up front, so two processes never interleave a compare and a
 * set. Plain reads need no transaction (WAL gives them a snapshot).
 *
 * Durability and the WAL: commits run at synchronous=NORMAL (appended to
 * the WAL, not fsynced), except the one that records a finished attempt
 * (an apply carrying a history entry: the outcome, its history and log
 * lines), which is made durable by itself at synchronous=FULL: its WAL
 * fsync also covers every earlier frame (mark running, watermarks). What
 * follows it at NORMAL (the metrics counters) is synced by the next FULL
 * commit of any connection to the file (the next lock acquisition). The
 * connection does not checkpoint when it closes
 * (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): that checkpoint (WAL sync, database
 * writes and sync, deleting the -wal and -shm files) cost a short-lived
 * process like `synctool run` ~7 ms at exit. The WAL stays bounded by
 * SQLite's automatic checkpoint (wal_autocheckpoint, 1000 pages by
 * default), which runs in whichever commit grows the WAL past it; a reader
 * after a SIGKILL or a reboot finds the committed frames in the WAL.
 *
 * Corruption: tables are not STRICT, so a person (or a bug) can write text
 * where an integer belongs. Rows are checked as they are read — unknown
 * status, non-integer timestamp or counter — and reported with ST_EINVAL
 * naming the pair; list() skips such rows and reports them without failing.
 */
#include "state_backend.h"

#include "../time/st_time.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SCHEMA_VERSION "1"

typedef struct sqlite_be {
    sqlite3 *db;
    char path[1024];
} sqlite_be;

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS synctool_meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS state_records("
    " pipeline TEXT NOT NULL, strategy TEXT NOT NULL, status TEXT NOT NULL,"
    " last_run INTEGER, last_scheduled_at INTEGER, last_attempted_at INTEGER,"
    " retry_count INTEGER NOT NULL DEFAULT 0, run_id INTEGER NOT NULL DEFAULT 0,"
    " worker TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',"
    " error TEXT NOT NULL DEFAULT '', updated_at INTEGER,"
    " PRIMARY KEY(pipeline, strategy));"
    "CREATE TABLE IF NOT EXISTS state_history("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline TEXT NOT NULL, strategy TEXT NOT NULL,"
    " run_id INTEGER, status TEXT, started_at INTEGER, finished_at INTEGER,"
    " retry_count INTEGER, worker TEXT, message TEXT, error TEXT,"
    " rows_read INTEGER, rows_inserted INTEGER, rows_updated INTEGER, rows_deleted INTEGER,"
    " rows_null_cursor INTEGER, segments_compared INTEGER, segments_skipped INTEGER,"
    " seconds REAL);"
    "CREATE INDEX IF NOT EXISTS state_history_pair ON state_history(pipeline, strategy, id);"
    "CREATE INDEX IF NOT EXISTS state_history_run ON state_history(run_id);"
    "CREATE INDEX IF NOT EXISTS state_history_finished ON state_history(finished_at);"
    "CREATE TABLE IF NOT EXISTS state_run_logs(history_id INTEGER PRIMARY KEY, log TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS state_kv(pipeline TEXT NOT NULL, strategy TEXT NOT NULL,"
    " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(pipeline, strategy, key));"
    "CREATE TABLE IF NOT EXISTS state_counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO state_counters(name, value) VALUES('run_id', 0);"
    "CREATE TABLE IF NOT EXISTS state_run_counters(pipeline TEXT NOT NULL,"
    " strategy TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,"
    " PRIMARY KEY(pipeline, strategy, name));"
    "CREATE TABLE IF NOT EXISTS state_processes(name TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " last_heartbeat_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS state_outbox(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " key TEXT NOT NULL UNIQUE, hook TEXT NOT NULL, status TEXT NOT NULL,"
    " pipeline TEXT NOT NULL, strategy TEXT NOT NULL, event TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, next_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, last_error TEXT NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS state_outbox_open ON state_outbox(status, hook, id);"
    "INSERT OR IGNORE INTO synctool_meta(key, value) VALUES('state.schema_version', "
    SCHEMA_VERSION ");";

#define RECORD_COLUMNS                                                                  \
    "pipeline, strategy, status, last_run, last_scheduled_at, last_attempted_at, "     \
    "retry_count, run_id, worker, message, error, updated_at, paused"

/* --- small SQL helpers --- */

static int db_fail(sqlite_be *b, st_error *err, const char *what) {
    int code = sqlite3_errcode(b->db);
    int st = (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_CANTOPEN ||
              code == SQLITE_IOERR || code == SQLITE_FULL)
                 ? ST_EUNAVAIL
                 : ST_ERR;
    return st_error_set(err, st, "state sqlite %s: %s: %s", b->path, what,
                        sqlite3_errmsg(b->db));
}

static int exec(sqlite_be *b, const char *sql, st_error *err) {
    if (sqlite3_exec(b->db, sql, NULL, NULL, NULL) != SQLITE_OK) return db_fail(b, err, sql);
    return ST_OK;
}

static int prepare(sqlite_be *b, const char *sql, sqlite3_stmt **stmt, st_error *err) {
    if (sqlite3_prepare_v2(b->db, sql, -1, stmt, NULL) != SQLITE_OK) {
        *stmt = NULL;
        return db_fail(b, err, "prepare");
    }
    return ST_OK;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void bind_time(sqlite3_stmt *s, int i, int64_t t) {
    if (t == ST_TIME_NONE)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_int64(s, i, t);
}

/* Runs a statement that returns no rows, then finalizes it. */
static int step_done(sqlite_be *b, sqlite3_stmt *s, st_error *err) {
    int rc = sqlite3_step(s);
    int out = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? ST_OK : db_fail(b, err, "step");
    sqlite3_finalize(s);
    return out;
}

static int rollback(sqlite_be *b, int rc) {
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int commit(sqlite_be *b, st_error *err) {
    int rc = exec(b, "COMMIT", err);
    return rc == ST_OK ? ST_OK : rollback(b, rc);
}

/* --- open / close --- */

static int mkdir_parents(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}

static void sqlite_close(void *be) {
    sqlite_be *b = be;
    if (b == NULL) return;
    sqlite3_close(b->db);
    free(b);
}

/* Files made before the operator pause existed lack state_records.paused. */
static int add_paused_column(sqlite_be *b, st_error *err) {
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT 1 FROM pragma_table_info('state_records') WHERE name = 'paused'",
                     &s, err);
    if (rc != ST_OK) return rc;
    int step = sqlite3_step(s);
    sqlite3_finalize(s);
    if (step == SQLITE_ROW) return ST_OK;
    return exec(b, "ALTER TABLE state_records ADD COLUMN paused INTEGER NOT NULL DEFAULT 0", err);
}

/* Whether the file already has every table and column of this version: a
 * plain read (never waits on a writer in WAL mode), so opening a handle
 * while another connection holds the write lock does not wait for it. */
static bool schema_current(sqlite_be *b) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(b->db, "SELECT (SELECT count(*) FROM sqlite_master WHERE name ="
                           " 'state_outbox') + (SELECT count(*) FROM"
                           " pragma_table_info('state_records') WHERE name = 'paused')",
                           -1, &s, NULL) != SQLITE_OK)
        return false;
    bool ok = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 2;
    sqlite3_finalize(s);
    return ok;
}

/* journal_mode=WAL needs a moment of exclusive access; retry while another
 * process is creating the file at the same time. */
static int setup_connection(sqlite_be *b, st_error *err) {
    sqlite3_busy_timeout(b->db, 10000);
    sqlite3_db_config(b->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    if (schema_current(b)) {
        int jm = sqlite3_exec(b->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
        if (jm == SQLITE_OK) return ST_OK;
    }
    int rc = ST_ERR;
    for (int i = 0; i < 50 && rc != ST_OK; i++) {
        rc = sqlite3_exec(b->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) == SQLITE_OK
                 ? ST_OK
                 : ST_ERR;
    }
    if (rc != ST_OK) return db_fail(b, err, "enable WAL");
    if ((rc = exec(b, "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE", err)) != ST_OK) return rc;
    if ((rc = exec(b, schema_sql, err)) != ST_OK) return rollback(b, rc);
    if ((rc = add_paused_column(b, err)) != ST_OK) return rollback(b, rc);
    return commit(b, err);
}

int state_sqlite_open(void **be, const struct state_ops **ops, const char *path,
                      st_error *err);

static const struct state_ops sqlite_state_ops;

int state_sqlite_open(void **be, const struct state_ops **ops, const char *path,
                      st_error *err) {
    *be = NULL;
    if (path[0] != '/')
        return st_error_set(err, ST_EINVAL, "state sqlite: path must be absolute, got '%s'",
                            path);
    if (mkdir_parents(path) != 0)
        return st_error_set(err, ST_EUNAVAIL, "state sqlite %s: cannot create directory: %s",
                            path, strerror(errno));
    sqlite_be *b = calloc(1, sizeof *b);
    if (b == NULL) return st_error_set(err, ST_ENOMEM, "state sqlite: out of memory");
    snprintf(b->path, sizeof b->path, "%s", path);
    if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        st_error_set(err, ST_EUNAVAIL, "state sqlite %s: cannot open: %s", path,
                     b->db ? sqlite3_errmsg(b->db) : "out of memory");
        sqlite_close(b);
        return ST_EUNAVAIL;
    }
    int rc = setup_connection(b, err);
    if (rc != ST_OK) {
        sqlite_close(b);
        return rc;
    }
    *be = b;
    *ops = &sqlite_state_ops;
    return ST_OK;
}

/* --- reading rows --- */

static int col_time(sqlite3_stmt *s, int i, int64_t *out, const state_record *r,
                    st_error *err) {
    int t = sqlite3_column_type(s, i);
    if (t == SQLITE_NULL) {
        *out = ST_TIME_NONE;
        return ST_OK;
    }
    if (t != SQLITE_INTEGER)
        return state_corrupt(err, r->pipeline, r->strategy, "%s is not an integer timestamp: '%s'",
                             sqlite3_column_name(s, i), (const char *)sqlite3_column_text(s, i));
    *out = sqlite3_column_int64(s, i);
    return ST_OK;
}

static int col_count(sqlite3_stmt *s, int i, int64_t *out, const state_record *r,
                     st_error *err) {
    if (sqlite3_column_type(s, i) != SQLITE_INTEGER || sqlite3_column_int64(s, i) < 0)
        return state_corrupt(err, r->pipeline, r->strategy,
                             "%s is not a non-negative integer: '%s'", sqlite3_column_name(s, i),
                             (const char *)sqlite3_column_text(s, i));
    *out = sqlite3_column_int64(s, i);
    return ST_OK;
}

static const char *col_str(sqlite3_stmt *s, int i) {
    const char *v = (const char *)sqlite3_column_text(s, i);
    return v ? v : "";
}

/* Decodes one RECORD_COLUMNS row; ST_EINVAL naming the pair if corrupt. */
static int row_to_record(sqlite3_stmt *s, state_record *r, st_error *err) {
    /* Every field is assigned below: no state_record_init() memset of 2 KB
     * per row (the tick streams 100,000 of them through one buffer). */
    state_copy(r->pipeline, sizeof r->pipeline, col_str(s, 0));
    state_copy(r->strategy, sizeof r->strategy, col_str(s, 1));
    r->status = STATE_IDLE;
    r->retry_count = r->run_id = 0;
    r->last_run = r->last_scheduled_at = r->last_attempted_at = r->updated_at = ST_TIME_NONE;
    r->worker[0] = r->message[0] = r->error[0] = '\0';
    const char *status = col_str(s, 2);
    if (state_status_parse(status, &r->status) != ST_OK)
        return state_corrupt(err, r->pipeline, r->strategy, "unknown status '%s'", status);
    int rc;
    if ((rc = col_time(s, 3, &r->last_run, r, err)) != ST_OK) return rc;
    if ((rc = col_time(s, 4, &r->last_scheduled_at, r, err)) != ST_OK) return rc;
    if ((rc = col_time(s, 5, &r->last_attempted_at, r, err)) != ST_OK) return rc;
    if ((rc = col_count(s, 6, &r->retry_count, r, err)) != ST_OK) return rc;
    if ((rc = col_count(s, 7, &r->run_id, r, err)) != ST_OK) return rc;
    state_copy(r->worker, sizeof r->worker, col_str(s, 8));
    state_copy(r->message, sizeof r->message, col_str(s, 9));
    state_copy(r->error, sizeof r->error, col_str(s, 10));
    r->paused = sqlite3_column_int64(s, 12) != 0;
    return col_time(s, 11, &r->updated_at, r, err);
}

static int sqlite_get(void *be, const char *pipeline, const char *strategy, state_record *out,
                      st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT " RECORD_COLUMNS " FROM state_records "
                        "WHERE pipeline = ?1 AND strategy = ?2", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, pipeline);
    bind_text(s, 2, strategy);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        rc = row_to_record(s, out, err);
    else if (step == SQLITE_DONE)
        rc = st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", pipeline, strategy);
    else
        rc = db_fail(b, err, "get");
    sqlite3_finalize(s);
    return rc;
}

static int grow(state_record **arr, size_t *cap, size_t need) {
    if (need <= *cap) return ST_OK;
    size_t nc = *cap ? *cap * 2 : 64;
    state_record *na = realloc(*arr, nc * sizeof *na);
    if (na == NULL) return ST_ENOMEM;
    *arr = na;
    *cap = nc;
    return ST_OK;
}

/* Row count, to allocate the listing once (records are ~2 KB each). */
static size_t count_records(sqlite_be *b) {
    sqlite3_stmt *s;
    size_t n = 0;
    if (prepare(b, "SELECT count(*) FROM state_records", &s, NULL) != ST_OK) return 0;
    if (sqlite3_step(s) == SQLITE_ROW) n = (size_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

static int sqlite_list(void *be, state_record **out, size_t *n, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    size_t cap = count_records(b) + 1;
    int rc = prepare(b, "SELECT " RECORD_COLUMNS " FROM state_records"
                        " ORDER BY pipeline, strategy", &s, err);
    if (rc != ST_OK) return rc;
    state_record *arr = malloc(cap * sizeof *arr);
    size_t len = 0;
    int step = arr ? SQLITE_ROW : SQLITE_NOMEM;
    while (arr && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow(&arr, &cap, len + 1) != ST_OK) {
            step = SQLITE_NOMEM;
            break;
        }
        st_error problem;
        if (row_to_record(s, &arr[len], &problem) == ST_OK)
            len++;
        else
            state_note_problem(err, &problem);
    }
    if (step != SQLITE_DONE) {
        rc = step == SQLITE_NOMEM ? st_error_set(err, ST_ENOMEM, "state list: out of memory")
                                  : db_fail(b, err, "list");
        free(arr);
        sqlite3_finalize(s);
        return rc;
    }
    sqlite3_finalize(s);
    *out = arr;
    *n = len;
    return ST_OK;
}

/* Streams the rows (no ORDER BY: the caller indexes them) through one
 * record buffer. */
static int sqlite_list_each(void *be, state_each_fn fn, void *ud, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT " RECORD_COLUMNS " FROM state_records", &s, err);
    if (rc != ST_OK) return rc;
    state_record *r = malloc(sizeof *r);
    int step = r ? SQLITE_ROW : SQLITE_NOMEM;
    while (r && rc == ST_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        st_error problem;
        if (row_to_record(s, r, &problem) == ST_OK)
            rc = fn(ud, r);
        else
            state_note_problem(err, &problem);
    }
    if (rc == ST_OK && step != SQLITE_DONE)
        rc = step == SQLITE_NOMEM ? st_error_set(err, ST_ENOMEM, "state list: out of memory")
                                  : db_fail(b, err, "list");
    free(r);
    sqlite3_finalize(s);
    return rc;
}

/* --- writes --- */

static int sqlite_new_run_id(void *be, int64_t *out, st_error *err) {
    sqlite_be *b = be;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc != ST_OK) return rc;
    rc = exec(b, "UPDATE state_counters SET value = value + 1 WHERE name = 'run_id'", err);
    if (rc != ST_OK) return rollback(b, rc);
    sqlite3_stmt *s;
    if ((rc = prepare(b, "SELECT value FROM state_counters WHERE name = 'run_id'", &s, err)))
        return rollback(b, rc);
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = db_fail(b, err, "read run_id counter");
        sqlite3_finalize(s);
        return rollback(b, rc);
    }
    *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return commit(b, err);
}

/* Reads the stored run_id of a pair: ST_ENOTFOUND if no row, ST_EINVAL if
 * it is not an integer. */
static int stored_run_id(sqlite_be *b, const char *p, const char *st, int64_t *out,
                         st_error *err) {
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT run_id FROM state_records WHERE pipeline = ?1 AND strategy = ?2",
                     &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, p);
    bind_text(s, 2, st);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        state_record r;
        state_record_init(&r, p, st);
        rc = col_count(s, 0, out, &r, err);
    } else {
        rc = step == SQLITE_DONE ? ST_ENOTFOUND : db_fail(b, err, "read run_id");
    }
    sqlite3_finalize(s);
    return rc;
}

static int insert_blank(sqlite_be *b, const char *p, const char *st, st_error *err) {
    sqlite3_stmt *s;
    int rc = prepare(b, "INSERT INTO state_records(pipeline, strategy, status) "
                        "VALUES(?1, ?2, 'idle')", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, p);
    bind_text(s, 2, st);
    return step_done(b, s, err);
}

/* Builds "UPDATE ... SET col = ?N, ..." from the change mask: column names
 * are constants, every value is a bound parameter. */
static int update_fields(sqlite_be *b, const state_change *c, st_error *err) {
    static const struct { unsigned bit; const char *col; } cols[] = {
        {STATE_SET_STATUS, "status"}, {STATE_SET_LAST_RUN, "last_run"},
        {STATE_SET_LAST_SCHEDULED, "last_scheduled_at"},
        {STATE_SET_LAST_ATTEMPTED, "last_attempted_at"}, {STATE_SET_WORKER, "worker"},
        {STATE_SET_MESSAGE, "message"}, {STATE_SET_ERROR, "error"}, {STATE_SET_RUN_ID, "run_id"},
        {STATE_SET_PAUSED, "paused"},
    };
    char sql[1024] = "UPDATE state_records SET updated_at = ?3";
    size_t len = strlen(sql);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        if (c->set & cols[i].bit)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ", %s = ?%zu", cols[i].col, i + 4);
    if (c->retry == STATE_RETRY_RESET)
        len += (size_t)snprintf(sql + len, sizeof sql - len, ", retry_count = 0");
    else if (c->retry == STATE_RETRY_INCR)
        len += (size_t)snprintf(sql + len, sizeof sql - len, ", retry_count = retry_count + 1");
    snprintf(sql + len, sizeof sql - len, " WHERE pipeline = ?1 AND strategy = ?2");
    sqlite3_stmt *s;
    int rc = prepare(b, sql, &s, err);
    if (rc != ST_OK) return rc;
    const state_record *v = &c->values;
    bind_text(s, 1, c->pipeline);
    bind_text(s, 2, c->strategy);
    bind_time(s, 3, c->now);
    if (c->set & STATE_SET_STATUS) bind_text(s, 4, state_status_name(v->status));
    if (c->set & STATE_SET_LAST_RUN) bind_time(s, 5, v->last_run);
    if (c->set & STATE_SET_LAST_SCHEDULED) bind_time(s, 6, v->last_scheduled_at);
    if (c->set & STATE_SET_LAST_ATTEMPTED) bind_time(s, 7, v->last_attempted_at);
    if (c->set & STATE_SET_WORKER) bind_text(s, 8, v->worker);
    if (c->set & STATE_SET_MESSAGE) bind_text(s, 9, v->message);
    if (c->set & STATE_SET_ERROR) bind_text(s, 10, v->error);
    if (c->set & STATE_SET_RUN_ID) sqlite3_bind_int64(s, 11, v->run_id);
    if (c->set & STATE_SET_PAUSED) sqlite3_bind_int(s, 12, v->paused ? 1 : 0);
    return step_done(b, s, err);
}

static int append_history(sqlite_be *b, const state_change *c, st_error *err) {
    const state_history_entry *h = c->history;
    sqlite3_stmt *s;
    int rc = prepare(b,
                     "INSERT INTO state_history(pipeline, strategy, run_id, status, started_at,"
                     " finished_at, retry_count, worker, message, error, rows_read, rows_inserted,"
                     " rows_updated, rows_deleted, rows_null_cursor, segments_compared,"
                     " segments_skipped, seconds) SELECT ?1, ?2, ?3, ?4, ?5, ?6, retry_count,"
                     " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17 FROM state_records"
                     " WHERE pipeline = ?1 AND strategy = ?2", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, c->pipeline);
    bind_text(s, 2, c->strategy);
    sqlite3_bind_int64(s, 3, h->run_id);
    bind_text(s, 4, state_status_name(h->status));
    bind_time(s, 5, h->started_at);
    bind_time(s, 6, h->finished_at);
    bind_text(s, 7, h->worker);
    bind_text(s, 8, h->message);
    bind_text(s, 9, h->error);
    const state_stats *x = &h->stats;
    const int64_t v[] = {x->rows_read, x->rows_inserted, x->rows_updated, x->rows_deleted,
                         x->rows_null_cursor, x->segments_compared, x->segments_skipped};
    for (int i = 0; i < 7; i++) sqlite3_bind_int64(s, 10 + i, v[i]);
    sqlite3_bind_double(s, 17, x->seconds);
    if ((rc = step_done(b, s, err)) != ST_OK) return rc;
    if (c->log == NULL || c->log[0] == '\0') return ST_OK;
    if ((rc = prepare(b, "INSERT INTO state_run_logs(history_id, log) VALUES(?1, ?2)", &s,
                      err)) != ST_OK)
        return rc;
    sqlite3_bind_int64(s, 1, sqlite3_last_insert_rowid(b->db));
    bind_text(s, 2, c->log);
    return step_done(b, s, err);
}

/* The compare-and-set of one change, inside an open transaction. */
static int apply_in_tx(sqlite_be *b, const state_change *c, st_error *err) {
    int64_t stored = 0;
    int rc = stored_run_id(b, c->pipeline, c->strategy, &stored, err);
    if (rc == ST_ENOTFOUND) {
        if (c->must_exist)
            return st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", c->pipeline,
                                c->strategy);
        if ((rc = insert_blank(b, c->pipeline, c->strategy, err)) != ST_OK) return rc;
    } else if (rc != ST_OK) {
        return rc;
    } else if (c->check_run_id && stored > c->run_id) {
        return state_stale(err, c->run_id, stored);
    }
    if ((rc = update_fields(b, c, err)) != ST_OK) return rc;
    return c->history ? append_history(b, c, err) : ST_OK;
}

/* A finished attempt (a change with a history entry) commits at
 * synchronous=FULL: durable by itself, as no checkpoint follows at close
 * (see top). The level is the connection's; it is set back after. */
static int sqlite_apply(void *be, const state_change *c, st_error *err) {
    sqlite_be *b = be;
    bool durable = c->history != NULL;
    if (durable && exec(b, "PRAGMA synchronous=FULL", err) != ST_OK) return err->code;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc == ST_OK) {
        rc = apply_in_tx(b, c, err);
        rc = rc == ST_OK ? commit(b, err) : rollback(b, rc);
    }
    if (durable) sqlite3_exec(b->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    return rc;
}

static int put_in_tx(sqlite_be *b, const state_record *r, st_error *err) {
    sqlite3_stmt *s;
    int rc = prepare(b, "INSERT OR REPLACE INTO state_records(" RECORD_COLUMNS ") VALUES("
                        "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, r->pipeline);
    bind_text(s, 2, r->strategy);
    bind_text(s, 3, state_status_name(r->status));
    bind_time(s, 4, r->last_run);
    bind_time(s, 5, r->last_scheduled_at);
    bind_time(s, 6, r->last_attempted_at);
    sqlite3_bind_int64(s, 7, r->retry_count);
    sqlite3_bind_int64(s, 8, r->run_id);
    bind_text(s, 9, r->worker);
    bind_text(s, 10, r->message);
    bind_text(s, 11, r->error);
    bind_time(s, 12, r->updated_at);
    sqlite3_bind_int(s, 13, r->paused ? 1 : 0);
    if ((rc = step_done(b, s, err)) != ST_OK) return rc;
    /* Keep the counter ahead of imported run ids so new runs stay newest. */
    if ((rc = prepare(b, "UPDATE state_counters SET value = max(value, ?1) WHERE name = 'run_id'",
                      &s, err)) != ST_OK)
        return rc;
    sqlite3_bind_int64(s, 1, r->run_id);
    return step_done(b, s, err);
}

static int sqlite_put_many(void *be, const state_record *recs, size_t n, st_error *err) {
    sqlite_be *b = be;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc != ST_OK) return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = put_in_tx(b, &recs[i], err)) != ST_OK) return rollback(b, rc);
    return commit(b, err);
}

static int sqlite_put(void *be, const state_record *rec, st_error *err) {
    return sqlite_put_many(be, rec, 1, err);
}

/* --- history and meta --- */

static void row_to_history(sqlite3_stmt *s, state_history_entry *h) {
    memset(h, 0, sizeof *h);
    h->run_id = sqlite3_column_int64(s, 0);
    if (state_status_parse(col_str(s, 1), &h->status) != ST_OK) h->status = STATE_IDLE;
    h->started_at = sqlite3_column_type(s, 2) == SQLITE_INTEGER ? sqlite3_column_int64(s, 2)
                                                                 : ST_TIME_NONE;
    h->finished_at = sqlite3_column_type(s, 3) == SQLITE_INTEGER ? sqlite3_column_int64(s, 3)
                                                                  : ST_TIME_NONE;
    h->retry_count = sqlite3_column_int64(s, 4);
    state_copy(h->worker, sizeof h->worker, col_str(s, 5));
    state_copy(h->message, sizeof h->message, col_str(s, 6));
    state_copy(h->error, sizeof h->error, col_str(s, 7));
    state_stats *x = &h->stats;
    int64_t *v[] = {&x->rows_read, &x->rows_inserted, &x->rows_updated, &x->rows_deleted,
                    &x->rows_null_cursor, &x->segments_compared, &x->segments_skipped};
    for (int i = 0; i < 7; i++) *v[i] = sqlite3_column_int64(s, 8 + i);
    x->seconds = sqlite3_column_double(s, 15);
}

static int sqlite_history(void *be, const char *pipeline, const char *strategy, size_t limit,
                          state_history_entry **out, size_t *n, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT run_id, status, started_at, finished_at, retry_count, worker,"
                        " message, error, rows_read, rows_inserted, rows_updated, rows_deleted,"
                        " rows_null_cursor, segments_compared, segments_skipped, seconds"
                        " FROM state_history WHERE pipeline = ?1 AND strategy = ?2"
                        " ORDER BY id DESC LIMIT ?3", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, pipeline);
    bind_text(s, 2, strategy);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)(limit > INT32_MAX ? INT32_MAX : limit));
    state_history_entry *arr = calloc(limit ? (limit < 1000 ? limit : 1000) : 1, sizeof *arr);
    size_t len = 0;
    while (arr && len < limit && len < 1000 && sqlite3_step(s) == SQLITE_ROW)
        row_to_history(s, &arr[len++]);
    sqlite3_finalize(s);
    if (arr == NULL) return st_error_set(err, ST_ENOMEM, "state history: out of memory");
    *out = arr;
    *n = len;
    return ST_OK;
}

#define HISTORY_COLUMNS                                                                \
    "run_id, status, started_at, finished_at, retry_count, worker, message, error,"      \
    " rows_read, rows_inserted, rows_updated, rows_deleted, rows_null_cursor,"           \
    " segments_compared, segments_skipped, seconds"

static int sqlite_run_get(void *be, int64_t run_id, state_run *out, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT " HISTORY_COLUMNS ", pipeline, strategy,"
                        " (SELECT log FROM state_run_logs WHERE history_id = h.id)"
                        " FROM state_history h WHERE run_id = ?1 ORDER BY id DESC LIMIT 1",
                     &s, err);
    if (rc != ST_OK) return rc;
    sqlite3_bind_int64(s, 1, run_id);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        row_to_history(s, &out->entry);
        state_copy(out->pipeline, sizeof out->pipeline, col_str(s, 16));
        state_copy(out->strategy, sizeof out->strategy, col_str(s, 17));
        if (sqlite3_column_type(s, 18) == SQLITE_TEXT) {
            out->log = strdup((const char *)sqlite3_column_text(s, 18));
            if (out->log == NULL) rc = st_error_set(err, ST_ENOMEM, "state: out of memory");
        }
    } else if (step == SQLITE_DONE) {
        rc = st_error_set(err, ST_ENOTFOUND, "no run %lld in history", (long long)run_id);
    } else {
        rc = db_fail(b, err, "run lookup");
    }
    sqlite3_finalize(s);
    return rc;
}

/* Deletes the history rows named by `victims` (a SELECT of ids) and their
 * logs, adding the count to *removed. Runs inside the caller's transaction. */
static int prune_where(sqlite_be *b, const char *victims, int64_t arg, int64_t *removed,
                       st_error *err) {
    char sql[512];
    sqlite3_stmt *s;
    snprintf(sql, sizeof sql, "DELETE FROM state_run_logs WHERE history_id IN (%s)", victims);
    int rc = prepare(b, sql, &s, err);
    if (rc != ST_OK) return rc;
    sqlite3_bind_int64(s, 1, arg);
    if ((rc = step_done(b, s, err)) != ST_OK) return rc;
    snprintf(sql, sizeof sql, "DELETE FROM state_history WHERE id IN (%s)", victims);
    if ((rc = prepare(b, sql, &s, err)) != ST_OK) return rc;
    sqlite3_bind_int64(s, 1, arg);
    if ((rc = step_done(b, s, err)) != ST_OK) return rc;
    *removed += sqlite3_changes(b->db);
    return ST_OK;
}

static int sqlite_prune(void *be, int64_t cutoff, int64_t keep_runs, int64_t *removed,
                        st_error *err) {
    sqlite_be *b = be;
    *removed = 0;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc != ST_OK) return rc;
    if (cutoff != ST_TIME_NONE)
        rc = prune_where(b, "SELECT id FROM state_history WHERE finished_at < ?1", cutoff,
                         removed, err);
    if (rc == ST_OK && keep_runs > 0)
        rc = prune_where(b, "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY"
                            " pipeline, strategy ORDER BY id DESC) AS n FROM state_history)"
                            " WHERE n > ?1", keep_runs, removed, err);
    if (rc != ST_OK) return rollback(b, rc);
    return commit(b, err);
}

static int sqlite_meta_get(void *be, const char *p, const char *st, const char *key, char *buf,
                           size_t buflen, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT value FROM state_kv WHERE pipeline = ?1 AND strategy = ?2"
                        " AND key = ?3", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, p);
    bind_text(s, 2, st);
    bind_text(s, 3, key);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        state_copy(buf, buflen, col_str(s, 0));
    else if (step == SQLITE_DONE)
        rc = st_error_set(err, ST_ENOTFOUND, "no meta '%s' for %s:%s", key, p, st);
    else
        rc = db_fail(b, err, "meta get");
    sqlite3_finalize(s);
    return rc;
}

/* One statement, reset per value, inside one read transaction: one lock
 * and one parse for the batch. */
static int sqlite_meta_get_many(void *be, state_meta_req *reqs, size_t n, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s = NULL;
    int rc = exec(b, "BEGIN", err);
    if (rc != ST_OK) return rc;
    rc = prepare(b, "SELECT value FROM state_kv WHERE pipeline = ?1 AND strategy = ?2"
                    " AND key = ?3", &s, err);
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        state_meta_req *q = &reqs[i];
        sqlite3_reset(s);
        bind_text(s, 1, q->pipeline);
        bind_text(s, 2, q->strategy);
        bind_text(s, 3, q->key);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            state_copy(q->buf, q->buflen, col_str(s, 0));
            q->rc = ST_OK;
        } else if (step != SQLITE_DONE) {
            rc = db_fail(b, err, "meta get");
        }
    }
    sqlite3_finalize(s);   /* NULL when prepare failed: a no-op */
    if (rc != ST_OK) return rollback(b, rc);
    return commit(b, err);
}

static int sqlite_meta_put(void *be, const char *p, const char *st, const char *key,
                           const char *value, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "INSERT OR REPLACE INTO state_kv(pipeline, strategy, key, value)"
                        " VALUES(?1, ?2, ?3, ?4)", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, p);
    bind_text(s, 2, st);
    bind_text(s, 3, key);
    bind_text(s, 4, value);
    return step_done(b, s, err);
}

/* One DELETE of the pair from `table`; *changed: rows removed. */
static int sqlite_delete_pair(sqlite_be *b, const char *table, const char *p, const char *st,
                              int *changed, st_error *err) {
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE pipeline = ?1 AND strategy = ?2", table);
    sqlite3_stmt *s;
    int rc = prepare(b, sql, &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, p);
    bind_text(s, 2, st);
    rc = step_done(b, s, err);
    *changed = sqlite3_changes(b->db);
    return rc;
}

static int sqlite_forget(void *be, const char *p, const char *st, st_error *err) {
    sqlite_be *b = be;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc != ST_OK) return rc;
    int records = 0, metas = 0;
    rc = sqlite_delete_pair(b, "state_records", p, st, &records, err);
    if (rc == ST_OK) rc = sqlite_delete_pair(b, "state_kv", p, st, &metas, err);
    if (rc != ST_OK) return rollback(b, rc);
    if ((rc = commit(b, err)) != ST_OK) return rc;
    return records ? ST_OK : st_error_set(err, ST_ENOTFOUND, "no state for %s:%s", p, st);
}

/* --- metrics counters and process heartbeats --- */

static int sqlite_counters_add(void *be, const char *p, const char *st, size_t n,
                               const char *const *names, const double *deltas, st_error *err) {
    sqlite_be *b = be;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc != ST_OK) return rc;
    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        sqlite3_stmt *s;
        rc = prepare(b, "INSERT INTO state_run_counters(pipeline, strategy, name, value)"
                        " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(pipeline, strategy, name)"
                        " DO UPDATE SET value = value + excluded.value", &s, err);
        if (rc != ST_OK) break;
        bind_text(s, 1, p);
        bind_text(s, 2, st);
        bind_text(s, 3, names[i]);
        sqlite3_bind_double(s, 4, deltas[i]);
        rc = step_done(b, s, err);
    }
    return rc == ST_OK ? commit(b, err) : rollback(b, rc);
}

static int sqlite_counters_list(void *be, state_counter **out, size_t *n, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT pipeline, strategy, name, value FROM state_run_counters"
                        " ORDER BY pipeline, strategy, name", &s, err);
    if (rc != ST_OK) return rc;
    size_t len = 0, cap = 64;
    state_counter *arr = malloc(cap * sizeof *arr);
    int step = SQLITE_NOMEM;
    while (arr && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            state_counter *na = realloc(arr, 2 * cap * sizeof *arr);
            if (na == NULL) { step = SQLITE_NOMEM; break; }
            arr = na;
            cap *= 2;
        }
        state_copy(arr[len].pipeline, sizeof arr[len].pipeline, col_str(s, 0));
        state_copy(arr[len].strategy, sizeof arr[len].strategy, col_str(s, 1));
        state_copy(arr[len].name, sizeof arr[len].name, col_str(s, 2));
        arr[len++].value = sqlite3_column_double(s, 3);
    }
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        free(arr);
        return step == SQLITE_NOMEM ? st_error_set(err, ST_ENOMEM, "state counters: out of memory")
                                    : db_fail(b, err, "counters");
    }
    *out = arr;
    *n = len;
    return ST_OK;
}

static int sqlite_beat(void *be, const char *kind, const char *name, int64_t now,
                       st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "INSERT OR REPLACE INTO state_processes(name, kind, last_heartbeat_at)"
                        " VALUES(?1, ?2, ?3)", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, name);
    bind_text(s, 2, kind);
    bind_time(s, 3, now);
    return step_done(b, s, err);
}

static int sqlite_beats(void *be, state_process **out, size_t *n, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT name, kind, last_heartbeat_at FROM state_processes ORDER BY name",
                     &s, err);
    if (rc != ST_OK) return rc;
    size_t len = 0, cap = 16;
    state_process *arr = malloc(cap * sizeof *arr);
    int step = SQLITE_NOMEM;
    while (arr && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            state_process *na = realloc(arr, 2 * cap * sizeof *arr);
            if (na == NULL) { step = SQLITE_NOMEM; break; }
            arr = na;
            cap *= 2;
        }
        state_copy(arr[len].name, sizeof arr[len].name, col_str(s, 0));
        state_copy(arr[len].kind, sizeof arr[len].kind, col_str(s, 1));
        arr[len++].last_heartbeat_at = sqlite3_column_type(s, 2) == SQLITE_INTEGER
                                           ? sqlite3_column_int64(s, 2) : ST_TIME_NONE;
    }
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        free(arr);
        return step == SQLITE_NOMEM ? st_error_set(err, ST_ENOMEM, "state processes: out of memory")
                                    : db_fail(b, err, "processes");
    }
    *out = arr;
    *n = len;
    return ST_OK;
}

/* --- the alert outbox --- */

static int outbox_insert(sqlite_be *b, const state_alert *a, st_error *err) {
    sqlite3_stmt *s;
    int rc = prepare(b, "INSERT OR IGNORE INTO state_outbox(key, hook, status, pipeline,"
                        " strategy, event, created_at, next_at, updated_at, attempts,"
                        " last_error, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                        " ?11, ?12)", &s, err);
    if (rc != ST_OK) return rc;
    char num[4][24];
    const char *v[STATE_ALERT_NFIELDS];
    state_alert_values(a, num, v);
    for (int i = 0; i < STATE_ALERT_NFIELDS; i++) bind_text(s, i + 1, v[i]);
    for (int i = 6; i < 10; i++) sqlite3_bind_int64(s, i + 1, strtoll(v[i], NULL, 10));
    return step_done(b, s, err);
}

static int sqlite_outbox_add(void *be, const state_alert *alerts, size_t n, const char *mp,
                             const char *ms, const char *mkey, const char *mvalue,
                             st_error *err) {
    sqlite_be *b = be;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc != ST_OK) return rc;
    for (size_t i = 0; i < n && rc == ST_OK; i++) rc = outbox_insert(b, &alerts[i], err);
    if (rc == ST_OK && mkey != NULL) rc = sqlite_meta_put(b, mp, ms, mkey, mvalue, err);
    return rc == ST_OK ? commit(b, err) : rollback(b, rc);
}

static int sqlite_outbox_list(void *be, const char *hook, bool pending_only, state_alert **out,
                              size_t *n, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT id, key, hook, status, pipeline, strategy, event, created_at,"
                        " next_at, updated_at, attempts, last_error, body FROM state_outbox"
                        " WHERE (?1 = '' OR hook = ?1) AND (?2 = 0 OR status = 'pending')"
                        " ORDER BY id", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, hook ? hook : "");
    sqlite3_bind_int(s, 2, pending_only);
    size_t len = 0, cap = 16;
    state_alert *arr = malloc(cap * sizeof *arr);
    int step = SQLITE_NOMEM;
    while (arr && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            state_alert *na = realloc(arr, 2 * cap * sizeof *arr);
            if (na == NULL) { step = SQLITE_NOMEM; break; }
            arr = na;
            cap *= 2;
        }
        state_alert *a = &arr[len];
        memset(a, 0, sizeof *a);
        a->id = sqlite3_column_int64(s, 0);
        bool ok = true;
        for (int i = 0; i < STATE_ALERT_NFIELDS; i++)
            ok = state_alert_field(a, state_alert_fields[i], col_str(s, i + 1)) && ok;
        if (ok) len++; /* a corrupt row is left out */
    }
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        free(arr);
        return step == SQLITE_NOMEM ? st_error_set(err, ST_ENOMEM, "state outbox: out of memory")
                                    : db_fail(b, err, "outbox");
    }
    *out = arr;
    *n = len;
    return ST_OK;
}

static int sqlite_outbox_update(void *be, const state_alert *a, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "UPDATE state_outbox SET status = ?2, next_at = ?3, updated_at = ?4,"
                        " attempts = ?5, last_error = ?6 WHERE id = ?1", &s, err);
    if (rc != ST_OK) return rc;
    sqlite3_bind_int64(s, 1, a->id);
    bind_text(s, 2, state_alert_status_name(a->status));
    sqlite3_bind_int64(s, 3, a->next_at);
    sqlite3_bind_int64(s, 4, a->updated_at);
    sqlite3_bind_int64(s, 5, a->attempts);
    bind_text(s, 6, a->last_error);
    return step_done(b, s, err);
}

static int sqlite_outbox_prune(void *be, int64_t cutoff, int64_t *removed, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "DELETE FROM state_outbox WHERE status != 'pending' AND updated_at < ?1",
                     &s, err);
    if (rc != ST_OK) return rc;
    sqlite3_bind_int64(s, 1, cutoff);
    rc = step_done(b, s, err);
    if (rc == ST_OK) *removed = sqlite3_changes(b->db);
    return rc;
}

/* --- copying a whole store (state migrate) --- */

static int sqlite_history_each(void *be, state_run_fn fn, void *ud, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT " HISTORY_COLUMNS ", pipeline, strategy,"
                        " (SELECT log FROM state_run_logs WHERE history_id = h.id)"
                        " FROM state_history h ORDER BY id", &s, err);
    if (rc != ST_OK) return rc;
    int step = SQLITE_ROW;
    while (rc == ST_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        state_run run = {0};
        row_to_history(s, &run.entry);
        state_copy(run.pipeline, sizeof run.pipeline, col_str(s, 16));
        state_copy(run.strategy, sizeof run.strategy, col_str(s, 17));
        run.log = (char *)sqlite3_column_text(s, 18);
        rc = fn(ud, &run);
    }
    if (rc == ST_OK && step != SQLITE_DONE) rc = db_fail(b, err, "history");
    sqlite3_finalize(s);
    return rc;
}

static int history_put_in_tx(sqlite_be *b, const state_run *r, st_error *err) {
    const state_history_entry *h = &r->entry;
    const state_stats *x = &h->stats;
    sqlite3_stmt *s;
    int rc = prepare(b, "INSERT INTO state_history(pipeline, strategy, " HISTORY_COLUMNS ")"
                        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                        " ?15, ?16, ?17, ?18)", &s, err);
    if (rc != ST_OK) return rc;
    bind_text(s, 1, r->pipeline);
    bind_text(s, 2, r->strategy);
    sqlite3_bind_int64(s, 3, h->run_id);
    bind_text(s, 4, state_status_name(h->status));
    bind_time(s, 5, h->started_at);
    bind_time(s, 6, h->finished_at);
    sqlite3_bind_int64(s, 7, h->retry_count);
    bind_text(s, 8, h->worker);
    bind_text(s, 9, h->message);
    bind_text(s, 10, h->error);
    const int64_t v[] = {x->rows_read, x->rows_inserted, x->rows_updated, x->rows_deleted,
                         x->rows_null_cursor, x->segments_compared, x->segments_skipped};
    for (int i = 0; i < 7; i++) sqlite3_bind_int64(s, 11 + i, v[i]);
    sqlite3_bind_double(s, 18, x->seconds);
    if ((rc = step_done(b, s, err)) != ST_OK) return rc;
    sqlite3_int64 id = sqlite3_last_insert_rowid(b->db);
    if (r->log != NULL && r->log[0] != '\0') {
        if ((rc = prepare(b, "INSERT INTO state_run_logs(history_id, log) VALUES(?1, ?2)", &s,
                          err)) != ST_OK)
            return rc;
        sqlite3_bind_int64(s, 1, id);
        bind_text(s, 2, r->log);
        if ((rc = step_done(b, s, err)) != ST_OK) return rc;
    }
    if ((rc = prepare(b, "UPDATE state_counters SET value = max(value, ?1) WHERE name = 'run_id'",
                      &s, err)) != ST_OK)
        return rc;
    sqlite3_bind_int64(s, 1, h->run_id);
    return step_done(b, s, err);
}

static int sqlite_history_put(void *be, const state_run *r, st_error *err) {
    sqlite_be *b = be;
    int rc = exec(b, "BEGIN IMMEDIATE", err);
    if (rc != ST_OK) return rc;
    if ((rc = history_put_in_tx(b, r, err)) != ST_OK) return rollback(b, rc);
    return commit(b, err);
}

static int sqlite_meta_list(void *be, state_meta **out, size_t *n, st_error *err) {
    sqlite_be *b = be;
    sqlite3_stmt *s;
    int rc = prepare(b, "SELECT pipeline, strategy, key, value FROM state_kv"
                        " ORDER BY pipeline, strategy, key", &s, err);
    if (rc != ST_OK) return rc;
    size_t len = 0, cap = 16;
    state_meta *arr = malloc(cap * sizeof *arr);
    int step = SQLITE_NOMEM;
    while (arr && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            state_meta *na = realloc(arr, 2 * cap * sizeof *arr);
            if (na == NULL) { step = SQLITE_NOMEM; break; }
            arr = na;
            cap *= 2;
        }
        state_meta *m = &arr[len];
        state_copy(m->pipeline, sizeof m->pipeline, col_str(s, 0));
        state_copy(m->strategy, sizeof m->strategy, col_str(s, 1));
        state_copy(m->key, sizeof m->key, col_str(s, 2));
        if ((m->value = strdup(col_str(s, 3))) == NULL) { step = SQLITE_NOMEM; break; }
        len++;
    }
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        state_meta_list_free(arr, len);
        return step == SQLITE_NOMEM ? st_error_set(err, ST_ENOMEM, "state meta: out of memory")
                                    : db_fail(b, err, "meta");
    }
    *out = arr;
    *n = len;
    return ST_OK;
}

static const struct state_ops sqlite_state_ops = {
    .version = STATE_OPS_VERSION,
    .name = "sqlite",
    .close = sqlite_close,
    .get = sqlite_get,
    .list = sqlite_list,
    .list_each = sqlite_list_each,
    .new_run_id = sqlite_new_run_id,
    .apply = sqlite_apply,
    .put = sqlite_put,
    .put_many = sqlite_put_many,
    .history = sqlite_history,
    .run_get = sqlite_run_get,
    .prune = sqlite_prune,
    .meta_get = sqlite_meta_get,
    .meta_put = sqlite_meta_put,
    .meta_get_many = sqlite_meta_get_many,
    .counters_add = sqlite_counters_add,
    .counters_list = sqlite_counters_list,
    .beat = sqlite_beat,
    .beats = sqlite_beats,
    .outbox_add = sqlite_outbox_add,
    .outbox_list = sqlite_outbox_list,
    .outbox_update = sqlite_outbox_update,
    .outbox_prune = sqlite_outbox_prune,
    .forget = sqlite_forget,
    .history_each = sqlite_history_each,
    .history_put = sqlite_history_put,
    .meta_list = sqlite_meta_list,
};
