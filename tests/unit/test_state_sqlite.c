/*
 * test_state_sqlite — the shared state behaviour cases (state_cases.h)
 * against the SQLite backend in a temporary directory, plus what only
 * SQLite has: the file and directory it creates, WAL, bad paths, and the
 * generic front's URL and vtable checks.
 */
#include "state_cases.h"

#include "../../src/state/state_backend.h"
#include "support/url_open.h"

#include <sqlite3.h>
#include <sys/stat.h>

static char g_dir[256];
static char g_url[512];
static char g_path[512];

static void sqlite_wipe(void) {
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", g_path, suffix[i]);
        unlink(p);
    }
}

static int sqlite_open_test(state **out, st_error *err) { return state_open_url(out, g_url, err); }

static void sqlite_corrupt(const char *p, const char *s, const char *field, const char *raw) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE state_records SET \"%s\" = ?1 WHERE pipeline = ?2 AND "
             "strategy = ?3", field);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, raw, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static const state_test_backend sqlite_backend = {
    "sqlite", sqlite_wipe, sqlite_open_test, sqlite_corrupt};

static void test_creates_parent_dirs_and_wal(void **ctx) {
    (void)ctx;
    char url[600], path[600];
    snprintf(path, sizeof path, "%s/deep/er/state.db", g_dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    state *st;
    st_error err;
    assert_int_equal(state_open_url(&st, url, &err), ST_OK);
    assert_string_equal(state_backend_name(st), "sqlite");
    assert_int_equal(state_mark_pending(st, "p", "s", 1, T0, NULL), ST_OK);
    state_close(st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM synctool_meta WHERE key = "
                                        "'state.schema_version'", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "1");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void test_bad_paths(void **ctx) {
    (void)ctx;
    state *st;
    st_error err;
    assert_int_equal(state_open_url(&st, "sqlite:relative/state.db", &err), ST_EINVAL);
    assert_string_equal(err.msg, "state sqlite: path must be absolute, got 'relative/state.db'");
    assert_null(st);
    assert_int_equal(state_open_url(&st, "sqlite:/proc/self/nope/state.db", &err), ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, "/proc/self/nope/state.db"));
    assert_int_equal(state_open_url(&st, "mysql://x", &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "unsupported state URL"));
}

static void mock_close(void *be) { (void)be; }
static const struct state_ops future_ops = {.version = STATE_OPS_VERSION + 1, .name = "future",
                                            .close = mock_close};

static void test_open_with_ops_checks_version(void **ctx) {
    (void)ctx;
    state *st;
    st_error err;
    assert_int_equal(state_open_with_ops(&st, &future_ops, NULL, &err), ST_EINVAL);
    assert_non_null(strstr(err.msg, "unsupported ops version 2"));
    assert_null(st);
    state_close(NULL);
}

static void test_status_names(void **ctx) {
    (void)ctx;
    state_status s;
    const char *names[] = {"idle",   "pending", "running",     "success",
                           "failed", "skipped", "interrupted", "lost"};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(state_status_parse(names[i], &s), ST_OK);
        assert_int_equal(s, i);
        assert_string_equal(state_status_name(s), names[i]);
    }
    assert_int_equal(state_status_parse("bogus", &s), ST_EINVAL);
    assert_int_equal(state_status_parse("", &s), ST_EINVAL);
}

static void test_parse_i64_strict(void **ctx) {
    (void)ctx;
    int64_t v;
    assert_int_equal(state_parse_i64("1760522760000000", &v), ST_OK);
    assert_true(v == 1760522760000000LL);
    assert_int_equal(state_parse_i64("-9223372036854775808", &v), ST_OK);
    assert_true(v == INT64_MIN);
    const char *bad[] = {"", "-", "12a", " 1", "1.5", "9223372036854775808", "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(state_parse_i64(bad[i], &v), ST_EINVAL);
}

/* A file written before the operator pause existed (no state_records.paused
 * column) opens, keeps its rows, reads them as not paused and can pause. */
static void test_old_file_gains_the_paused_column(void **ctx) {
    (void)ctx;
    char path[600], url[640];
    snprintf(path, sizeof path, "%s/old.db", g_dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE TABLE state_records(pipeline TEXT NOT NULL, strategy TEXT NOT NULL,"
        " status TEXT NOT NULL, last_run INTEGER, last_scheduled_at INTEGER,"
        " last_attempted_at INTEGER, retry_count INTEGER NOT NULL DEFAULT 0,"
        " run_id INTEGER NOT NULL DEFAULT 0, worker TEXT NOT NULL DEFAULT '',"
        " message TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', updated_at INTEGER,"
        " PRIMARY KEY(pipeline, strategy));"
        "INSERT INTO state_records(pipeline, strategy, status, run_id) VALUES('p', 's',"
        " 'success', 7);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    state *st;
    st_error err;
    assert_int_equal(state_open_url(&st, url, &err), ST_OK);
    state_record r = get_ok(st, "p", "s");
    assert_int_equal(r.run_id, 7);
    assert_false(r.paused);
    assert_int_equal(state_set_paused(st, "p", "s", true, T0, &err), ST_OK);
    state_close(st);
    assert_int_equal(state_open_url(&st, url, &err), ST_OK);   /* reopening does not migrate twice */
    r = get_ok(st, "p", "s");
    assert_true(r.paused);
    state_close(st);
}

/* --- durability without a checkpoint at close ---
 * A VFS over the default one that counts syncs of the WAL and of the
 * database file, so a test sees which commits are made durable (SQLite's
 * own tests count syncs the same way). */

typedef struct cvfs_file {
    sqlite3_file base;
    sqlite3_file *real;   /* follows this struct in the same allocation */
    int *syncs;           /* the counter of this kind of file, or NULL */
} cvfs_file;

static sqlite3_vfs *g_real_vfs;
static sqlite3_vfs g_cvfs;
static int g_wal_syncs, g_db_syncs;

#define REAL(f) (((cvfs_file *)(f))->real)
static int cv_close(sqlite3_file *f) {
    int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
    return rc;
}
static int cv_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int cv_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int cv_truncate(sqlite3_file *f, sqlite3_int64 n) {
    return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int cv_sync(sqlite3_file *f, int flags) {
    cvfs_file *c = (cvfs_file *)f;
    if (c->syncs) (*c->syncs)++;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int cv_size(sqlite3_file *f, sqlite3_int64 *n) {
    return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int cv_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int cv_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int cv_reserved(sqlite3_file *f, int *o) {
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), o);
}
static int cv_fcntl(sqlite3_file *f, int op, void *a) {
    return REAL(f)->pMethods->xFileControl(REAL(f), op, a);
}
static int cv_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int cv_devchar(sqlite3_file *f) {
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int cv_shmmap(sqlite3_file *f, int i, int sz, int ext, void volatile **pp) {
    return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, pp);
}
static int cv_shmlock(sqlite3_file *f, int o, int n, int fl) {
    return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl);
}
static void cv_shmbarrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int cv_shmunmap(sqlite3_file *f, int del) {
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int cv_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) {
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int cv_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) {
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}
static const sqlite3_io_methods cv_methods = {
    3, cv_close, cv_read, cv_write, cv_truncate, cv_sync, cv_size, cv_lock, cv_unlock,
    cv_reserved, cv_fcntl, cv_sector, cv_devchar, cv_shmmap, cv_shmlock, cv_shmbarrier,
    cv_shmunmap, cv_fetch, cv_unfetch};

static int cv_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
    (void)v;
    cvfs_file *c = (cvfs_file *)f;
    c->real = (sqlite3_file *)(c + 1);
    c->syncs = (flags & SQLITE_OPEN_WAL) ? &g_wal_syncs
               : (flags & SQLITE_OPEN_MAIN_DB) ? &g_db_syncs : NULL;
    int rc = g_real_vfs->xOpen(g_real_vfs, name, c->real, flags, out);
    c->base.pMethods = c->real->pMethods ? &cv_methods : NULL;
    return rc;
}

/* Makes the counting VFS the default (sqlite3_open_v2 without a VFS name,
 * as state_sqlite.c opens). */
static void cvfs_install(void) {
    if (g_real_vfs != NULL) return;
    g_real_vfs = sqlite3_vfs_find(NULL);
    g_cvfs = *g_real_vfs;
    g_cvfs.zName = "counting";
    g_cvfs.szOsFile = (int)sizeof(cvfs_file) + g_real_vfs->szOsFile;
    g_cvfs.xOpen = cv_open;
    assert_int_equal(sqlite3_vfs_register(&g_cvfs, 1), SQLITE_OK);
}

static void cvfs_uninstall(void) {
    sqlite3_vfs_register(g_real_vfs, 1);
    sqlite3_vfs_unregister(&g_cvfs);
    g_real_vfs = NULL;
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* The outcome of a run is durable by itself (its commit syncs the WAL);
 * other writes are not synced one by one; closing the store checkpoints
 * nothing (no database sync, the -wal file stays), and a new handle reads
 * the outcome from the WAL. */
static void test_outcome_durable_without_checkpoint_at_close(void **ctx) {
    (void)ctx;
    sqlite_wipe();
    cvfs_install();
    state *st;
    st_error err;
    assert_int_equal(state_open_url(&st, g_url, &err), ST_OK);
    g_wal_syncs = g_db_syncs = 0;
    assert_int_equal(state_mark_running(st, "p", "s", 3, T0, "w", &err), ST_OK);
    assert_int_equal(g_wal_syncs, 0);   /* synchronous=NORMAL */
    state_stats x = {.rows_read = 5};
    assert_int_equal(state_mark_finished(st, "p", "s", 3, STATE_SUCCESS, T0, T0 + ST_USEC,
                                         "w", "done", "", &x, &err), ST_OK);
    assert_true(g_wal_syncs >= 1);      /* the outcome's commit: synchronous=FULL */
    int wal_after_outcome = g_wal_syncs;
    state_close(st);
    assert_int_equal(g_db_syncs, 0);    /* no checkpoint at close */
    assert_int_equal(g_wal_syncs, wal_after_outcome);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    assert_true(file_size(wal) > 0);
    cvfs_uninstall();
    assert_int_equal(state_open_url(&st, g_url, &err), ST_OK);
    state_record r = get_ok(st, "p", "s");
    assert_int_equal(r.status, STATE_SUCCESS);
    assert_int_equal(r.run_id, 3);
    assert_int_equal(r.last_run, T0);
    state_close(st);
}

/* With no checkpoint at close the WAL is kept bounded by the automatic
 * checkpoint: many short-lived handles, each recording an outcome, leave a
 * -wal file of at most wal_autocheckpoint (1000) pages and a few more. */
static void test_wal_bounded_over_many_handles(void **ctx) {
    (void)ctx;
    sqlite_wipe();
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    long largest = 0;
    state_stats x = {0};
    for (int i = 1; i <= 250; i++) {
        state *st;
        st_error err;
        assert_int_equal(state_open_url(&st, g_url, &err), ST_OK);
        char p[32];
        snprintf(p, sizeof p, "p%d", i % 50);
        assert_int_equal(state_mark_running(st, p, "s", i, T0 + i, "w", &err), ST_OK);
        assert_int_equal(state_mark_finished(st, p, "s", i, STATE_SUCCESS, T0 + i, T0 + i + 1,
                                             "w", "done", "", &x, &err), ST_OK);
        state_close(st);
        long n = file_size(wal);
        if (n > largest) largest = n;
    }
    /* 250 outcomes wrote over 1000 pages in all: the WAL reached its bound */
    assert_true(largest > 500 * 4096);
    assert_true(largest <= (1000 + 64) * (4096 + 24) + 32);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_state_sqlite.XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(g_path, sizeof g_path, "%s/state.db", g_dir);
    snprintf(g_url, sizeof g_url, "sqlite:%s", g_path);
    TB = &sqlite_backend;
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_creates_parent_dirs_and_wal),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_open_with_ops_checks_version),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_parse_i64_strict),
        cmocka_unit_test(test_old_file_gains_the_paused_column),
        cmocka_unit_test(test_outcome_durable_without_checkpoint_at_close),
        cmocka_unit_test(test_wal_bounded_over_many_handles),
    };
    int failed = cmocka_run_group_tests_name("state_sqlite", state_cases, NULL, NULL);
    failed += cmocka_run_group_tests_name("state_sqlite_own", own, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
    return failed;
}
