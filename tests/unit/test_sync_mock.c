/*
 * test_sync_mock — full, delta and hash against the in-memory mock store
 * (support/mock_store.h), no server: sync_run() with sync_opts.store_ops
 * set, so every store of the run is opened through store_open_with_ops.
 *
 * The pipeline: src_t -> dst_t, (id bigint key, name text, amount
 * numeric(12,2), updated_at timestamptz: delta's cursor), batches of 10
 * rows, hash leaves of 8. Row sets are compared as canonical text (the
 * driver's canon_expr, ordered by id) read on the mock's own connection.
 *
 * Cases:
 *   - inserts, updates and deletes reach the destination (full, hash);
 *     a second run writes nothing;
 *   - delta copies only rows past its watermark (a change that kept its
 *     cursor stays behind, a deleted row stays), and saves the watermark;
 *     with no row past it the destination is not opened nor fenced;
 *   - a batch that fails (apply mid-batch, or COMMIT) leaves the batches
 *     committed before it and none of its rows; the rerun converges with
 *     no duplicates, delta resuming from its watermark (full, delta, hash);
 *   - a newer holder's fencing token stored mid-run: the run fails with the
 *     stale-token error and applies and commits nothing after it (full,
 *     delta, hash); a destination floor above the run's token: the run
 *     raises its token through fence_raise, or stops when it cannot;
 *   - after convergence hash finds no difference and writes nothing;
 *   - the seam itself: a wrong ops version is refused, and the run's
 *     stores come from the given table.
 * The state (delta's watermark) is an embedded SQLite file in a temp dir.
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

#include "support/mock_pair.h"
#include "support/sync_io.h"
#include "../../src/log/log.h"
#include "../../src/sync/sync.h"

#define NCOLS 4
#define FENCE_KEY "synctool:exec:pipeline:mock_pipe"

typedef struct env {
    mock_pair m;                 /* db[0] source, db[1] destination; first: mock_pair_teardown */
    config cfg;
    config_pipeline p;
    config_column cols[NCOLS];
    config_strategy strat;
    /* fence_raise's answer (fence_raise_cb) */
    int raise_rc;
    int64_t raise_to;
    int raises;
} env;

static const char *col_names[NCOLS] = {"id", "name", "amount", "updated_at"};
static const char *col_types[NCOLS] = {"bigint", "text", "numeric(12,2)", "timestamptz"};

/* --- Fixture --- */

static void exec_on(env *e, int side, const char *sql, int np, const char *const *p) {
    mock_pair_exec(&e->m, side, sql, np, p);
}

static int setup(void **state) {
    env *e = calloc(1, sizeof *e);
    mock_pair_open(&e->m, "/tmp/mockst-XXXXXX");
    for (int i = 0; i < NCOLS; i++)
        e->cols[i] = (config_column){.name = (char *)col_names[i], .type = (char *)col_types[i],
                                     .key = i == 0};
    e->strat = (config_strategy){.name = "strat", .type = CONFIG_STRATEGY_FULL, .enabled = true,
                                 .batch_size = 10, .segment_rows = 8};
    /* the destination as `ddl apply` makes it, through the plain driver */
    mock_pair_pipeline(&e->m, &e->cfg, &e->p, "mock_pipe", e->cols, NCOLS, &e->strat,
                       "CREATE TABLE src_t (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC, "
                       "updated_at TEXT)");
    *state = e;
    return 0;
}

static int teardown(void **state) { return mock_pair_teardown(state); }

/* --- Source rows --- */

/* updated_at of version v of a row: 2025-10-15 08:00:00 + v seconds. */
static const char *stamp(int64_t v, char *buf, size_t n) {
    return store_canon_time_us((1760515200LL + v) * 1000000, STORE_K_TIMESTAMPTZ, buf, n);
}

/* Writes row id with name "<tag><id>", amount id.25 and stamp `v`. */
static void put_row(env *e, int64_t id, const char *tag, int64_t v) {
    char ids[24], name[64], amount[32], ts[64];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(name, sizeof name, "%s%lld", tag, (long long)id);
    snprintf(amount, sizeof amount, "%lld.25", (long long)id);
    const char *p[4] = {ids, name, amount, stamp(v, ts, sizeof ts)};
    exec_on(e, 0, "INSERT INTO src_t VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET "
                  "name = excluded.name, amount = excluded.amount, "
                  "updated_at = excluded.updated_at", 4, p);
}

static void seed(env *e, int64_t n) {
    for (int64_t id = 1; id <= n; id++) put_row(e, id, "row", id);
}

static void del_row(env *e, int64_t id) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[1] = {ids};
    exec_on(e, 0, "DELETE FROM src_t WHERE id = ?1", 1, p);
}

/* --- Reading a side --- */

/* One side's rows as canonical text, "v1|v2|...\n" per row, by id. */
static char *dump(env *e, int side) {
    return syncio_canon_rows(mock_db_admin(e->m.db[side]), col_names, col_types, NCOLS,
                             side ? "dst_t ORDER BY id" : "src_t ORDER BY id");
}

static int64_t count_rows(env *e, int side) {
    char *d = dump(e, side);
    int64_t n = 0;
    for (char *p = d; *p; p++) n += *p == '\n';
    free(d);
    return n;
}

static void assert_sides_equal(env *e) {
    char *a = dump(e, 0), *b = dump(e, 1);
    syncio_assert_same(a, b);
    free(a);
    free(b);
}

/* Every destination row is a source row as it is now (no row half-written,
 * none from nowhere). */
static void assert_dst_subset(env *e) {
    char *a = dump(e, 0), *b = dump(e, 1);
    syncio_assert_lines_in(b, a, "destination row not in the source");
    free(a);
    free(b);
}

/* The destination row of `id` as canonical text ("" if none). */
static void dst_row(env *e, int64_t id, char *buf, size_t n) {
    char *d = dump(e, 1), *save = NULL, prefix[32];
    snprintf(prefix, sizeof prefix, "%lld|", (long long)id);
    buf[0] = '\0';
    for (char *line = strtok_r(d, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, prefix, strlen(prefix)) == 0) snprintf(buf, n, "%s", line);
    free(d);
}

/* --- Runs --- */

static int fence_raise_cb(const void *arg, int64_t floor, int64_t *token, st_error *err) {
    env *e = (env *)arg;
    e->raises++;
    if (e->raise_rc != ST_OK) return st_error_set(err, e->raise_rc, "mock lock store refuses");
    *token = e->raise_to > floor ? e->raise_to : floor + 1;
    return ST_OK;
}

static int run(env *e, config_strategy_type type, const char *fence_key, int64_t token,
               state_stats *stats, st_error *err) {
    e->strat.type = type;
    e->strat.cursor = type == CONFIG_STRATEGY_DELTA ? "updated_at" : NULL;
    sync_opts o = {.cfg = &e->cfg, .pipeline = &e->p, .strategy = &e->strat, .st = e->m.st,
                   .fence_key = fence_key, .fence_token = token, .fence_raise = fence_raise_cb,
                   .lease_arg = e, .progress_interval_s = -1, .now = 1760522760LL * 1000000,
                   .store_ops = mock_store_ops()};
    return sync_run(&o, stats, err);
}

static void run_ok(env *e, config_strategy_type type, state_stats *stats) {
    st_error err = {0};
    int rc = run(e, type, FENCE_KEY, 5, stats, &err);
    if (rc != ST_OK) fail_msg("sync_run: %d %s", rc, err.msg);
}

static void assert_written(const state_stats *s, int64_t ins, int64_t upd, int64_t del) {
    assert_int_equal(s->rows_inserted, ins);
    assert_int_equal(s->rows_updated, upd);
    assert_int_equal(s->rows_deleted, del);
}

/* A hash run over converged sides: every segment skipped, nothing written
 * (the destination saw no apply and no commit). */
static void assert_hash_converged(env *e) {
    mock_counts before, after;
    mock_db_counts(e->m.db[1], &before);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_HASH, &st);
    mock_db_counts(e->m.db[1], &after);
    assert_true(st.segments_compared > 0);
    assert_int_equal(st.segments_skipped, st.segments_compared);
    assert_written(&st, 0, 0, 0);
    assert_int_equal(after.applies, before.applies);
    assert_int_equal(after.commits, before.commits);
}

/* --- Inserts, updates, deletes --- */

static void changes_reach_destination(env *e, config_strategy_type type) {
    seed(e, 50);
    state_stats st;
    run_ok(e, type, &st);
    assert_written(&st, 50, 0, 0);
    assert_sides_equal(e);
    for (int64_t id = 3; id <= 15; id += 3) put_row(e, id, "changed", 100 + id); /* 5 updates */
    del_row(e, 7);
    del_row(e, 20);
    del_row(e, 50);
    put_row(e, 51, "new", 200);
    put_row(e, 60, "new", 201);
    run_ok(e, type, &st);
    assert_written(&st, 2, 5, 3);
    assert_sides_equal(e);
    /* a second run finds nothing to write and commits nothing */
    mock_counts before, after;
    mock_db_counts(e->m.db[1], &before);
    run_ok(e, type, &st);
    mock_db_counts(e->m.db[1], &after);
    assert_written(&st, 0, 0, 0);
    assert_int_equal(after.commits, before.commits);
    assert_int_equal(after.rows_applied, before.rows_applied);
    assert_hash_converged(e);
}

static void test_full_changes(void **state) { changes_reach_destination(*state, CONFIG_STRATEGY_FULL); }
static void test_hash_changes(void **state) { changes_reach_destination(*state, CONFIG_STRATEGY_HASH); }

/* --- Delta and its watermark --- */

static void watermark(env *e, char *buf, size_t n) {
    st_error err;
    if (state_meta_get(e->m.st, "mock_pipe", "strat", "watermark", buf, n, &err) != ST_OK)
        fail_msg("watermark: %s", err.msg);
}

static void test_delta_watermark(void **state) {
    env *e = *state;
    char wm[256], want[256], ts[64], before[256], after[256];
    seed(e, 30);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    assert_int_equal(st.rows_read, 30);
    assert_written(&st, 30, 0, 0);
    assert_sides_equal(e);
    watermark(e, wm, sizeof wm);
    snprintf(want, sizeof want, "%s|30", stamp(30, ts, sizeof ts));
    assert_string_equal(wm, want);

    put_row(e, 4, "late", 2);          /* changed, but its cursor is behind the watermark */
    dst_row(e, 4, before, sizeof before);
    del_row(e, 9);                     /* delta does not see deletes */
    put_row(e, 12, "changed", 40);
    put_row(e, 25, "changed", 41);
    put_row(e, 31, "new", 42);
    put_row(e, 32, "new", 43);
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    assert_int_equal(st.rows_read, 4);  /* only the rows past the watermark */
    assert_written(&st, 2, 2, 0);
    watermark(e, wm, sizeof wm);
    snprintf(want, sizeof want, "%s|32", stamp(43, ts, sizeof ts));
    assert_string_equal(wm, want);
    dst_row(e, 4, after, sizeof after);
    assert_string_equal(after, before);
    dst_row(e, 9, after, sizeof after);
    assert_true(after[0] != '\0');
    dst_row(e, 32, after, sizeof after);
    assert_true(strstr(after, "|new32|") != NULL);
    assert_int_equal(count_rows(e, 1), 32);
    /* nothing new: nothing read, nothing written */
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    assert_int_equal(st.rows_read, 0);
    assert_written(&st, 0, 0, 0);
}

/* A delta with no source row after its watermark asks the source only:
 * the destination is not opened, no fence is set up (no fence_floor, no
 * session tag), nothing is written. A new row brings both back. */
static void test_delta_nothing_to_do(void **state) {
    env *e = *state;
    seed(e, 20);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    assert_written(&st, 20, 0, 0);
    mock_counts s0, d0, s1, d1;
    mock_db_counts(e->m.db[0], &s0);
    mock_db_counts(e->m.db[1], &d0);
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    mock_db_counts(e->m.db[0], &s1);
    mock_db_counts(e->m.db[1], &d1);
    assert_int_equal(st.rows_read, 0);
    assert_written(&st, 0, 0, 0);
    assert_int_equal(s1.opens - s0.opens, 1);
    assert_int_equal(d1.opens, d0.opens);
    assert_int_equal(d1.statements, d0.statements);
    assert_int_equal(d1.fence_floors, d0.fence_floors);
    assert_int_equal(d1.fence_tags, d0.fence_tags);

    put_row(e, 21, "new", 50);
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    mock_db_counts(e->m.db[1], &d0);
    assert_written(&st, 1, 0, 0);
    assert_int_equal(d0.opens - d1.opens, 1);
    assert_int_equal(d0.fence_tags - d1.fence_tags, 1);
    assert_true(d0.fence_floors > d1.fence_floors);
    assert_sides_equal(e);
}

/* An engine whose timestamp cursor no index serves (SQLite's st_canon):
 * the probe would scan the table on every run with rows, so none is made —
 * a run with nothing to do opens and fences the destination as before, and
 * its first page finds nothing. */
static void test_delta_no_probe_where_it_would_scan(void **state) {
    env *e = *state;
    seed(e, 20);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    mock_time_compare_unindexed(true);
    mock_counts d0, d1;
    mock_db_counts(e->m.db[1], &d0);
    run_ok(e, CONFIG_STRATEGY_DELTA, &st);
    mock_db_counts(e->m.db[1], &d1);
    mock_time_compare_unindexed(false);
    assert_int_equal(st.rows_read, 0);
    assert_written(&st, 0, 0, 0);
    assert_int_equal(d1.opens - d0.opens, 1);
    assert_int_equal(d1.fence_tags - d0.fence_tags, 1);
}

/* --- A failed batch, then the rerun --- */

static void resume_after(env *e, config_strategy_type type, bool at_commit) {
    seed(e, 50);
    mock_counts c0, c1;
    mock_db_counts(e->m.db[1], &c0);
    if (at_commit) mock_fail_commit(e->m.db[1], 3);
    else mock_fail_apply(e->m.db[1], 3, 4);
    state_stats st;
    st_error err = {0};
    int rc = run(e, type, FENCE_KEY, 5, &st, &err);
    assert_int_equal(rc, ST_EUNAVAIL);
    assert_non_null(strstr(err.msg, at_commit ? "commit #" : "apply #"));
    assert_non_null(strstr(err.msg, "src_ds.main.src_t -> dst_ds.main.dst_t"));
    mock_db_counts(e->m.db[1], &c1);
    /* the failed batch left nothing: two batches of 10 are in, each row whole
     * (a failed apply never reached its COMMIT; 4 of its rows were written
     * in the transaction rolled back) */
    assert_int_equal(c1.commits - c0.commits, at_commit ? 3 : 2);
    if (!at_commit) assert_int_equal(c1.rows_applied - c0.rows_applied, 24);
    assert_int_equal(count_rows(e, 1), 20);
    assert_dst_subset(e);
    mock_db_disarm(e->m.db[1]);

    run_ok(e, type, &st);
    assert_written(&st, 30, 0, 0);
    if (type == CONFIG_STRATEGY_DELTA) assert_int_equal(st.rows_read, 30); /* from the watermark */
    assert_int_equal(count_rows(e, 1), 50);
    assert_sides_equal(e);
    assert_hash_converged(e);
}

static void test_full_resume_commit(void **s) { resume_after(*s, CONFIG_STRATEGY_FULL, true); }
static void test_full_resume_apply(void **s) { resume_after(*s, CONFIG_STRATEGY_FULL, false); }
static void test_delta_resume_commit(void **s) { resume_after(*s, CONFIG_STRATEGY_DELTA, true); }
static void test_delta_resume_apply(void **s) { resume_after(*s, CONFIG_STRATEGY_DELTA, false); }
static void test_hash_resume_commit(void **s) { resume_after(*s, CONFIG_STRATEGY_HASH, true); }
static void test_hash_resume_apply(void **s) { resume_after(*s, CONFIG_STRATEGY_HASH, false); }

/* --- Fencing --- */

static void fenced_out_mid_run(env *e, config_strategy_type type) {
    seed(e, 50);
    mock_fence_after_commit(e->m.db[1], 2, 9);
    state_stats st;
    st_error err = {0};
    int rc = run(e, type, FENCE_KEY, 5, &st, &err);
    assert_int_equal(rc, ST_ESTALE);
    assert_string_equal(err.msg, "fencing token 5 is stale (current 9): this run lost its lock");
    mock_counts now, at;
    mock_db_counts(e->m.db[1], &now);
    mock_db_counts_at_fault(e->m.db[1], &at);
    assert_int_equal(at.commits, 2);
    assert_int_equal(now.commits, at.commits);
    assert_int_equal(now.applies, at.applies);
    assert_int_equal(now.rows_applied, at.rows_applied);
    assert_int_equal(count_rows(e, 1), 20);
    assert_dst_subset(e);
    /* the newer holder (token 9) converges the table */
    mock_db_disarm(e->m.db[1]);
    st_error err2 = {0};
    rc = run(e, type, FENCE_KEY, 9, &st, &err2);
    if (rc != ST_OK) fail_msg("rerun with the newer token: %s", err2.msg);
    assert_sides_equal(e);
}

static void test_full_fenced(void **s) { fenced_out_mid_run(*s, CONFIG_STRATEGY_FULL); }
static void test_delta_fenced(void **s) { fenced_out_mid_run(*s, CONFIG_STRATEGY_DELTA); }
static void test_hash_fenced(void **s) { fenced_out_mid_run(*s, CONFIG_STRATEGY_HASH); }

/* The destination knows token 20, the run holds 5: the lock store raises
 * it (fence_raise) and the run writes with the raised token; when the lock
 * store says the lock is gone, the run stops before any write. */
static void test_fence_floor(void **state) {
    env *e = *state;
    seed(e, 12);
    mock_fence_floor(e->m.db[1], 20);
    e->raise_rc = ST_ESTALE;
    state_stats st;
    st_error err = {0};
    assert_int_equal(run(e, CONFIG_STRATEGY_FULL, FENCE_KEY, 5, &st, &err), ST_ELOST);
    assert_string_equal(err.msg, "lost pipeline lock");
    mock_counts c;
    mock_db_counts(e->m.db[1], &c);
    assert_int_equal(c.begins, 0);
    assert_int_equal(c.applies, 0);
    assert_int_equal(count_rows(e, 1), 0);

    e->raise_rc = ST_OK;
    e->raise_to = 21;
    run_ok(e, CONFIG_STRATEGY_FULL, &st);
    assert_int_equal(e->raises, 2);
    assert_sides_equal(e);
    /* the token stored with the writes is the raised one */
    store *a = mock_db_admin(e->m.db[1]);
    store_reader *r = NULL;
    const char *p[1] = {FENCE_KEY};
    const char *const *row;
    int nc;
    if (store_query(a, &r, "SELECT token FROM synctool_fence WHERE lock_key = ?1", 1, p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(store_next(a, r, &row, &nc, &err), 1);
    assert_string_equal(row[0], "21");
    store_reader_close(a, r);
}

/* --- The seam --- */

static void test_seam(void **state) {
    env *e = *state;
    struct store_ops bad = *mock_store_ops();
    bad.version = STORE_OPS_VERSION - 1;
    store *s = NULL;
    st_error err = {0};
    assert_int_equal(store_open_with_ops(&s, &bad, &e->m.ds[1], &err), ST_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "ops version"));
    assert_int_equal(store_open_with_ops(&s, mock_store_ops(), &e->m.ds[1], &err), ST_OK);
    store_close(s);
    /* a datastore that is no mock database */
    config_datastore other = {.name = "other", .type = CONFIG_DS_SQLITE, .path = "/nonexistent"};
    assert_int_equal(store_open_with_ops(&s, mock_store_ops(), &other, &err), ST_ENOTFOUND);

    mock_counts src0, dst0, src1, dst1;
    mock_db_counts(e->m.db[0], &src0);
    mock_db_counts(e->m.db[1], &dst0);
    seed(e, 3);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_FULL, &st);
    mock_db_counts(e->m.db[0], &src1);
    mock_db_counts(e->m.db[1], &dst1);
    assert_int_equal(src1.opens - src0.opens, 1);
    assert_int_equal(dst1.opens - dst0.opens, 1);
    assert_true(src1.statements > src0.statements);
    assert_int_equal(dst1.rows_applied - dst0.rows_applied, 3);
    assert_int_equal(dst1.fence_tags - dst0.fence_tags, 1);
    assert_true(dst1.fence_floors > dst0.fence_floors);
}

int main(void) {
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delta_watermark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delta_no_probe_where_it_would_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delta_nothing_to_do, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_resume_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_resume_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delta_resume_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delta_resume_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_resume_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_resume_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_fenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delta_fenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_fenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fence_floor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
