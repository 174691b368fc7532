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
    };
    int failed = cmocka_run_group_tests_name("state_sqlite", state_cases, NULL, NULL);
    failed += cmocka_run_group_tests_name("state_sqlite_own", own, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
    return failed;
}
