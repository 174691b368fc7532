/*
 * test_store_fence — the fencing check in a batch transaction
 * (store_fence_check) on PostgreSQL, against the real server from
 * SYNCTOOL_TEST_PG_*:
 *   - the first check of a token raises it (exclusive); later checks of
 *     the same token only read it under a shared lock, and two open
 *     transactions of one run hold that at the same time without waiting;
 *   - a newer run's raise waits until those transactions end (checked with
 *     a short lock_timeout: it fails while they are open), so no write of
 *     the older run can commit after the newer token;
 *   - afterwards the older token is refused as stale, naming both tokens.
 * And on SQLite: raise, shared re-check, stale.
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

#include "../../src/store/store.h"

static store *open_store(bool pg) {
    config_datastore ds = {.name = "wh"};
    static char path[96];
    if (pg) {
        const char *port = getenv("SYNCTOOL_TEST_PG_PORT");
        if (port == NULL) fail_msg("SYNCTOOL_TEST_PG_* not set: run under scripts/with-servers");
        ds.type = CONFIG_DS_POSTGRES;
        ds.host = getenv("SYNCTOOL_TEST_PG_HOST");
        ds.user = getenv("SYNCTOOL_TEST_PG_USER");
        ds.password = getenv("SYNCTOOL_TEST_PG_PASSWORD");
        ds.dbname = getenv("SYNCTOOL_TEST_PG_DBNAME");
        ds.port = atoi(port);
    } else {
        snprintf(path, sizeof path, "/tmp/synctool-fence-%d.db", (int)getpid());
        ds.type = CONFIG_DS_SQLITE;
        ds.path = path;
    }
    store *s;
    st_error err;
    if (store_open(&s, &ds, &err) != ST_OK) fail_msg("%s", err.msg);
    assert_int_equal(store_fence_ensure_table(s, &err), ST_OK);
    return s;
}

/* Begins a transaction and checks token; returns the check's code. */
static int begin_check(store *s, const char *key, int64_t token, bool *exclusive, st_error *err) {
    if (store_begin(s, err) != ST_OK) fail_msg("begin: %s", err->msg);
    return store_fence_check(s, key, token, exclusive, err);
}

static void test_fence_shared_by_one_run_and_waited_for_by_a_newer_one(void **x) {
    (void)x;
    char key[64];
    snprintf(key, sizeof key, "test-fence-%d/pipeline:p", (int)getpid());
    store *a = open_store(true), *b = open_store(true), *newer = open_store(true);
    st_error err;
    bool excl = false;
    /* b would wait on a forever if the re-check took an exclusive lock */
    assert_int_equal(store_exec(b, "SET lock_timeout = '2s'", 0, NULL, NULL, &err), ST_OK);
    assert_int_equal(begin_check(a, key, 7, &excl, &err), ST_OK);
    assert_true(excl);                                  /* first check raises */
    assert_int_equal(store_commit(a, &err), ST_OK);
    assert_int_equal(begin_check(a, key, 7, &excl, &err), ST_OK);
    assert_false(excl);
    assert_int_equal(begin_check(b, key, 7, &excl, &err), ST_OK);   /* no wait on a */
    assert_false(excl);
    assert_int_equal(store_exec(newer, "SET lock_timeout = '300ms'", 0, NULL, NULL, &err), ST_OK);
    assert_int_equal(begin_check(newer, key, 8, &excl, &err), ST_EBUSY);  /* skipped, not failed */
    assert_non_null(strstr(err.msg, "lock timeout"));
    store_rollback(newer);
    assert_int_equal(store_commit(a, &err), ST_OK);
    assert_int_equal(store_commit(b, &err), ST_OK);
    assert_int_equal(begin_check(newer, key, 8, &excl, &err), ST_OK);
    assert_true(excl);
    assert_int_equal(store_commit(newer, &err), ST_OK);
    assert_int_equal(begin_check(a, key, 7, &excl, &err), ST_ESTALE);
    assert_string_equal(err.msg, "fencing token 7 is stale (current 8): this run lost its lock");
    store_rollback(a);
    const char *p[1] = {key};
    store_exec(a, "DELETE FROM synctool_fence WHERE lock_key = $1", 1, p, NULL, &err);
    store_close(a);
    store_close(b);
    store_close(newer);
}

static void test_fence_sqlite(void **x) {
    (void)x;
    store *s = open_store(false);
    st_error err;
    bool excl = false;
    assert_int_equal(begin_check(s, "k", 3, &excl, &err), ST_OK);
    assert_true(excl);
    assert_int_equal(store_commit(s, &err), ST_OK);
    assert_int_equal(begin_check(s, "k", 3, &excl, &err), ST_OK);
    assert_false(excl);
    assert_int_equal(store_commit(s, &err), ST_OK);
    assert_int_equal(begin_check(s, "k", 4, &excl, &err), ST_OK);
    assert_true(excl);
    assert_int_equal(store_commit(s, &err), ST_OK);
    assert_int_equal(begin_check(s, "k", 3, &excl, &err), ST_ESTALE);
    assert_string_equal(err.msg, "fencing token 3 is stale (current 4): this run lost its lock");
    store_rollback(s);
    store_close(s);
    char path[96];
    snprintf(path, sizeof path, "/tmp/synctool-fence-%d.db", (int)getpid());
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fence_shared_by_one_run_and_waited_for_by_a_newer_one),
        cmocka_unit_test(test_fence_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
