/*
 * test_store_fence_session — session-level fencing on PostgreSQL: a writer
 * with a newer fencing token ends the destination sessions of older runs of
 * the same pipeline (which may hold row locks forever if their process is
 * frozen mid-batch), and leaves everything else alone; the floor counts the
 * tokens of live tagged sessions. The same on MySQL (user-level lock,
 * KILL). Against the real servers from SYNCTOOL_TEST_PG_* / _MYSQL_*;
 * SQLite can end no other writer (ST_ENOTIMPL, nothing done).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/synct_env.h"

static config_datastore pg_ds(void) {
    const char *port = getenv("SYNCTOOL_TEST_PG_PORT");
    if (port == NULL) fail_msg("SYNCTOOL_TEST_PG_* not set: run under scripts/with-servers");
    config_datastore ds = {.name = "wh", .type = CONFIG_DS_POSTGRES,
                           .host = getenv("SYNCTOOL_TEST_PG_HOST"),
                           .user = getenv("SYNCTOOL_TEST_PG_USER"),
                           .password = getenv("SYNCTOOL_TEST_PG_PASSWORD"),
                           .dbname = getenv("SYNCTOOL_TEST_PG_DBNAME"), .port = atoi(port)};
    return ds;
}

static store *open_pg(void) {
    config_datastore ds = pg_ds();
    store *s;
    st_error err;
    assert_int_equal(store_open(&s, &ds, &err), ST_OK);
    return s;
}

/* Is the session still usable? (A terminated one fails its next query.) */
static bool alive(store *s) {
    st_error err;
    return store_exec(s, "SELECT 1", 0, NULL, NULL, &err) == ST_OK;
}

/* Polls until the session fails a query, up to timeout_ms. */
static bool dead_within(store *s, int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (!alive(s)) return true;
        usleep(20 * 1000);
    }
    return !alive(s);
}

static void fence(store *s, const char *pipeline, int64_t token, int want_evicted) {
    int evicted = -1;
    char holder[256];
    st_error err;
    if (store_fence_session(s, pipeline, token, &evicted, holder, sizeof holder, &err) != ST_OK)
        fail_msg("store_fence_session: %s", err.msg);
    assert_int_equal(evicted, want_evicted);
    assert_string_equal(holder, "");
}

static void test_newer_token_ends_older_sessions_of_same_pipeline_only(void **st) {
    (void)st;
    store *old_run = open_pg(), *other_pipeline = open_pg(), *newer = open_pg();
    store *late = open_pg();
    st_error err;
    fence(old_run, "orders_sync", 5, 0);
    fence(other_pipeline, "customers", 1, 0);
    /* an open transaction, as a run frozen mid-batch would hold */
    assert_int_equal(store_begin(old_run, &err), ST_OK);
    fence(newer, "orders_sync", 9, 1);  /* token 5 < 9: ended */
    /* PostgreSQL 14+ waits for the end; before that termination is a signal
     * the server delivers on its own time: wait for it to land (a generous
     * deadline, not a guess at how long it takes). */
    assert_true(dead_within(old_run, 30000));
    assert_true(alive(other_pipeline)); /* another pipeline: left alone */
    fence(late, "orders_sync", 7, 0);   /* token 9 > 7: not ours to end */
    assert_true(alive(newer));
    assert_true(alive(late));
    store_close(old_run);
    store_close(other_pipeline);
    store_close(newer);
    store_close(late);
}

/* A token of a live tagged session counts in the floor even before any row
 * is committed (a holder frozen inside its very first transaction). */
static void test_floor_counts_live_session_tags(void **st) {
    (void)st;
    char key[64];
    snprintf(key, sizeof key, "floor-%d", (int)getpid());
    store *frozen = open_pg(), *newer = open_pg();
    st_error err;
    int64_t floor = 0;
    assert_int_equal(store_fence_ensure_table(newer, &err), ST_OK);
    assert_int_equal(store_fence_floor(newer, key, &floor, &err), ST_OK);
    assert_int_equal(floor, -1);
    fence(frozen, key, 7, 0);
    assert_int_equal(store_fence_floor(newer, key, &floor, &err), ST_OK);
    assert_int_equal(floor, 7);
    fence(newer, key, 8, 1);
    assert_false(alive(frozen));
    store_close(frozen);
    store_close(newer);
}

/* MySQL: a session holding an older token (its user-level lock) is ended
 * with KILL; one holding a newer token, or another key, is left alone. */
static void test_mysql_newer_token_kills_older_session(void **st) {
    (void)st;
    char key[64];
    snprintf(key, sizeof key, "evict-%d", (int)getpid());
    config_datastore ds;
    synct_mysql_datastore(&ds, "wh");
    store *old_run = NULL, *other = NULL, *newer = NULL;
    st_error err;
    assert_int_equal(store_open(&old_run, &ds, &err), ST_OK);
    assert_int_equal(store_open(&other, &ds, &err), ST_OK);
    assert_int_equal(store_open(&newer, &ds, &err), ST_OK);
    assert_int_equal(store_fence_ensure_table(newer, &err), ST_OK);
    fence(old_run, key, 3, 0);
    fence(other, "another-pipeline", 1, 0);
    assert_int_equal(store_begin(old_run, &err), ST_OK);
    fence(newer, key, 5, 1);
    assert_false(alive(old_run));
    assert_true(alive(other));
    assert_true(alive(newer));
    store_close(old_run);
    store_close(other);
    store_close(newer);
}

/* A role that may not signal the older holder's session: nothing is ended
 * and the holder is named (the run is then skipped if it blocks). */
static void test_unprivileged_role_names_the_holder(void **st) {
    (void)st;
    char key[64], role[40], sql[200];
    snprintf(key, sizeof key, "noperm-%d", (int)getpid());
    snprintf(role, sizeof role, "synctool_noperm_%d", (int)getpid());
    store *admin = open_pg(), *old_run = open_pg();
    st_error err;
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN PASSWORD 'pw-%s'", role, role);
    assert_int_equal(store_exec(admin, sql, 0, NULL, NULL, &err), ST_OK);
    fence(old_run, key, 5, 0);
    config_datastore ds = pg_ds();
    char pw[64];
    snprintf(pw, sizeof pw, "pw-%s", role);
    ds.user = role;
    ds.password = pw;
    store *newer;
    assert_int_equal(store_open(&newer, &ds, &err), ST_OK);
    int evicted = -1;
    char holder[512];
    assert_int_equal(store_fence_session(newer, key, 9, &evicted, holder, sizeof holder, &err),
                     ST_OK);
    assert_int_equal(evicted, 0);
    assert_non_null(strstr(holder, "PostgreSQL session pid"));
    assert_non_null(strstr(holder, ":5) that this role may not end"));
    assert_true(alive(old_run));
    store_close(newer);
    store_close(old_run);
    snprintf(sql, sizeof sql, "DROP ROLE %s", role);
    assert_int_equal(store_exec(admin, sql, 0, NULL, NULL, &err), ST_OK);
    store_close(admin);
}

static void test_sqlite_ends_no_other_writer(void **st) {
    (void)st;
    char path[] = "/tmp/test_fence_session_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    config_datastore ds = {.name = "a", .type = CONFIG_DS_SQLITE, .path = path};
    store *s;
    st_error err;
    assert_int_equal(store_open(&s, &ds, &err), ST_OK);
    int evicted = -1;
    char holder[256];
    assert_int_equal(store_fence_session(s, "orders_sync", 3, &evicted, holder, sizeof holder,
                                         &err), ST_ENOTIMPL);
    assert_int_equal(evicted, 0);
    assert_string_equal(holder, "");
    assert_int_equal(store_session_limits(s, 10, 30, &err), ST_OK);
    store_close(s);
    unlink(path);
}

static void test_session_limits_are_set(void **st) {
    (void)st;
    store *s = open_pg();
    st_error err;
    assert_int_equal(store_session_limits(s, 12, 34, &err), ST_OK);
    store_reader *r;
    assert_int_equal(store_query_small(s, &r, "SELECT current_setting('idle_in_transaction_"
                                       "session_timeout'), current_setting('lock_timeout')",
                                       0, NULL, &err), ST_OK);
    const char *const *row;
    int n;
    assert_int_equal(store_next(s, r, &row, &n, &err), 1);
    assert_string_equal(row[0], "12s");
    assert_string_equal(row[1], "34s");
    store_reader_close(s, r);
    store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newer_token_ends_older_sessions_of_same_pipeline_only),
        cmocka_unit_test(test_floor_counts_live_session_tags),
        cmocka_unit_test(test_mysql_newer_token_kills_older_session),
        cmocka_unit_test(test_unprivileged_role_names_the_holder),
        cmocka_unit_test(test_sqlite_ends_no_other_writer),
        cmocka_unit_test(test_session_limits_are_set),
    };
    return cmocka_run_group_tests_name("store_fence_session", tests, NULL, NULL);
}
