/*
 * test_sync_parallel — `parallel: N` for full (src/sync/sync_parallel.c)
 * on the in-memory mock store (support/mock_pair.h), no server.
 *
 * The range SQL: a range's bounds as keyset conditions (one key, a
 * composite key led by its first column's bound, open ends, parameters
 * numbered after the caller's), and as integer literals for a COPY (one
 * integer key only).
 * The split and the run, through sync_run with parallel set: a composite
 * key (integer, text) and a text key whose byte order differs from a
 * collation's ('B' < 'a' < '~' < 'é'), the destination equal to the source
 * after a copy into the empty table and after a merge with changes in
 * every range; fewer rows than ranges; an empty source. Resume: a COMMIT
 * that fails fails the run naming its range, the plan with the ranges done
 * stays in state meta, and the rerun reads only the unfinished ranges,
 * ends equal and clears it; no resume (every range read again) after N
 * changed, in the next cron slot, or when another strategy of the pipeline
 * was attempted since. On a terminal the progress line is the ranges' sum
 * with "ranges 4 of 4 done". hash with parallel: each range compares only
 * its keys (the changes counted once), composite and text keys.
 * Built into the ThreadSanitizer run too (make tsan): the ranges are threads.
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
#include "../../src/sync/sync_int.h"

#define NCOLS 3

typedef struct env {
    mock_pair m;                 /* first: mock_pair_teardown */
    config cfg;
    config_pipeline p;
    config_column cols[NCOLS];
    config_strategy strat;
} env;

/* key: "composite" (a integer, b text), or "text" (b alone) */
static void make_env(env *e, bool composite) {
    mock_pair_open(&e->m, "/tmp/mockpar-XXXXXX");
    e->cols[0] = (config_column){.name = "a", .type = "integer", .key = composite};
    e->cols[1] = (config_column){.name = "b", .type = "text", .key = true};
    e->cols[2] = (config_column){.name = "note", .type = "text"};
    e->strat = (config_strategy){.name = "full", .type = CONFIG_STRATEGY_FULL, .enabled = true,
                                 .batch_size = 7, .parallel = 4};
    mock_pair_pipeline(&e->m, &e->cfg, &e->p, "par_pipe", e->cols, NCOLS, &e->strat,
                       composite ? "CREATE TABLE src_t (a INTEGER, b TEXT, note TEXT, "
                                   "PRIMARY KEY (a, b))"
                                 : "CREATE TABLE src_t (a INTEGER, b TEXT PRIMARY KEY, "
                                   "note TEXT)");
}

static int setup_composite(void **state) {
    env *e = calloc(1, sizeof *e);
    make_env(e, true);
    *state = e;
    return 0;
}

static int setup_text(void **state) {
    env *e = calloc(1, sizeof *e);
    make_env(e, false);
    *state = e;
    return 0;
}

static int teardown(void **state) { return mock_pair_teardown(state); }

static const char *const prefixes[] = {"B", "a", "~", "\xc3\xa9", "Z x"};

static void put(env *e, int i, const char *note) {
    char a[16], b[32];
    snprintf(a, sizeof a, "%d", i % 5);
    snprintf(b, sizeof b, "%s%04d", prefixes[i % 5], i);
    const char *p[3] = {a, b, note};
    mock_pair_exec(&e->m, 0, "INSERT INTO src_t VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET "
                             "note = excluded.note", 3, p);
}

static void seed(env *e, int n) {
    for (int i = 1; i <= n; i++) put(e, i, "row");
}

/* Both sides as "a|b|note\n" lines in byte order of the key. */
static void assert_equal_sides(env *e) {
    char *a = syncio_rows(mock_db_admin(e->m.db[0]), "SELECT a, b, note FROM src_t ORDER BY a, b");
    char *b = syncio_rows(mock_db_admin(e->m.db[1]), "SELECT a, b, note FROM dst_t ORDER BY a, b");
    syncio_assert_same(a, b);
    free(a);
    free(b);
}

#define T0 (1760522760LL * 1000000)   /* 2025-10-15T10:06:00Z */

static int run_at(env *e, int64_t now, state_stats *stats, st_error *err) {
    sync_opts o = {.cfg = &e->cfg, .pipeline = &e->p, .strategy = &e->strat, .st = e->m.st,
                   .fence_key = "synctool:exec:pipeline:par_pipe", .fence_token = 3,
                   .progress_interval_s = -1, .now = now, .store_ops = mock_store_ops()};
    return sync_run(&o, stats, err);
}

static int run(env *e, state_stats *stats, st_error *err) { return run_at(e, T0, stats, err); }

static void run_ok(env *e, state_stats *stats) {
    st_error err = {0};
    int rc = run(e, stats, &err);
    if (rc != ST_OK) fail_msg("sync_run: %d %s", rc, err.msg);
}

static void plan_of(env *e, char *buf, size_t n) {
    st_error err;
    buf[0] = '\0';
    int rc = state_meta_get(e->m.st, "par_pipe", "full", "parallel", buf, n, &err);
    if (rc != ST_OK && rc != ST_ENOTFOUND) fail_msg("meta: %s", err.msg);
}

/* --- range SQL --- */

typedef struct sql_env {
    sync_ctx c;
    const char *cols[3], *types[3];
    store_kind kinds[3];
    bool key[3];
} sql_env;

static void sql_ctx(sql_env *s, env *e, size_t nkeys, bool int_key) {
    memset(s, 0, sizeof *s);
    const char *names[3] = {"a", "b", "note"};
    for (int i = 0; i < 3; i++) {
        s->cols[i] = names[i];
        s->types[i] = i == 0 && int_key ? "bigint" : "text";
        s->kinds[i] = store_kind_of(s->types[i]);
        s->key[i] = (size_t)i < nkeys;
    }
    sync_ctx *c = &s->c;
    c->src = c->dst = mock_db_admin(e->m.db[0]);
    c->scols = c->dcols = s->cols;
    c->types = s->types;
    c->kinds = s->kinds;
    c->key = s->key;
    c->ncols = 3;
    c->nkeys = nkeys;
    store_table t = {.ncols = 3, .types = s->types, .kinds = s->kinds, .key = s->key,
                     .cols = s->cols, .schema = "main", .table = "t"};
    c->st = c->dt = t;
}

static void test_range_where(void **state) {
    env *e = *state;
    sql_env s;
    const char *lo[2] = {"10", "k"}, *hi[2] = {"20", "m"};
    const char *params[8];
    int np = 1;   /* the caller's own first parameter */
    /* composite key, both ends: each bound led by the first column's */
    sql_ctx(&s, e, 2, true);
    sync_range r = {.index = 2, .count = 3, .lo = lo, .hi = hi};
    s.c.range = &r;
    store_sb q = {0};
    sync_range_where(&q, &s.c, true, " WHERE ", params, &np);
    assert_int_equal(np, 5);
    assert_string_equal(params[1], "10");
    assert_string_equal(params[2], "k");
    assert_string_equal(params[3], "20");
    assert_string_equal(params[4], "m");
    assert_non_null(strstr(q.s, " WHERE "));
    const char *gt = strstr(q.s, ") > ("), *le = strstr(q.s, ") <= (");
    assert_non_null(gt);
    assert_non_null(le);
    assert_true(gt < le);
    assert_non_null(strstr(q.s, "?2"));   /* numbered after the caller's */
    assert_non_null(strstr(q.s, "?5"));
    assert_null(strstr(q.s, "?1"));
    store_sb_free(&q);
    /* open below: only the upper bound */
    r.lo = NULL;
    np = 0;
    sync_range_where(&q, &s.c, true, " AND ", params, &np);
    assert_int_equal(np, 2);
    assert_null(strstr(q.s, ">"));
    assert_non_null(strstr(q.s, "<="));
    store_sb_free(&q);
    /* both ends open (one range): nothing at all */
    r.hi = NULL;
    np = 0;
    sync_range_where(&q, &s.c, true, " WHERE ", params, &np);
    assert_int_equal(np, 0);
    assert_true(q.s == NULL || q.s[0] == '\0');
    store_sb_free(&q);
    /* no range: nothing */
    s.c.range = NULL;
    sync_range_where(&q, &s.c, true, " WHERE ", params, &np);
    assert_true(q.s == NULL || q.s[0] == '\0');
    store_sb_free(&q);
    teardown(state);
    *state = NULL;
}

static void test_range_literal(void **state) {
    env *e = *state;
    sql_env s;
    const char *lo[1] = {"-5"}, *hi[1] = {"9223372036854775807"}, *bad[1] = {"1; DROP"};
    sync_range r = {.index = 2, .count = 3, .lo = lo, .hi = hi};
    store_sb q = {0};
    sql_ctx(&s, e, 1, true);   /* one integer key: literals */
    s.c.range = &r;
    assert_true(sync_range_literal(&q, &s.c, true, " WHERE "));
    assert_string_equal(q.s, " WHERE \"main\".\"t\".\"a\" > -5 AND \"main\".\"t\".\"a\" <= "
                             "9223372036854775807");
    store_sb_free(&q);
    r.hi = bad;                /* not an integer: never pasted */
    assert_false(sync_range_literal(&q, &s.c, true, " WHERE "));
    assert_true(q.s == NULL || q.s[0] == '\0');
    r.hi = hi;
    sql_ctx(&s, e, 2, true);   /* composite: parameters only */
    s.c.range = &r;
    assert_false(sync_range_literal(&q, &s.c, true, " WHERE "));
    sql_ctx(&s, e, 1, false);  /* a text key: parameters only */
    s.c.range = &r;
    assert_false(sync_range_literal(&q, &s.c, true, " WHERE "));
    store_sb_free(&q);
    teardown(state);
    *state = NULL;
}

/* --- runs --- */

static void test_parallel_copy_then_merge(void **state) {
    env *e = *state;
    seed(e, 200);
    state_stats st;
    run_ok(e, &st);
    assert_int_equal(st.rows_inserted, 200);
    assert_equal_sides(e);
    char plan[4096];
    plan_of(e, plan, sizeof plan);
    assert_string_equal(plan, "");   /* cleared by the success */
    for (int i = 3; i <= 200; i += 10) put(e, i, "changed");   /* 20 updates */
    mock_pair_exec(&e->m, 0, "DELETE FROM src_t WHERE rowid % 17 = 0", 0, NULL);
    for (int i = 201; i <= 230; i++) put(e, i, "new");
    run_ok(e, &st);
    assert_int_equal(st.rows_inserted, 30);
    assert_true(st.rows_deleted > 0 && st.rows_updated > 0);
    assert_equal_sides(e);
    run_ok(e, &st);
    assert_int_equal(st.rows_inserted + st.rows_updated + st.rows_deleted, 0);
    teardown(state);
    *state = NULL;
}

/* hash with parallel: 4: each range compares only its own keys, so the
 * figures are the changes (once each), not the changes times the ranges. */
static void test_parallel_hash_changes_in_every_range(void **state) {
    env *e = *state;
    e->strat.type = CONFIG_STRATEGY_HASH;
    e->strat.segment_rows = 8;   /* small segments: the ranges recurse */
    seed(e, 200);
    state_stats st;
    run_ok(e, &st);
    assert_int_equal(st.rows_inserted, 200);
    assert_equal_sides(e);
    for (int i = 3; i <= 200; i += 10) put(e, i, "changed");   /* 20 updates */
    mock_pair_exec(&e->m, 0, "DELETE FROM src_t WHERE rowid % 20 = 7", 0, NULL);   /* 10 */
    for (int i = 201; i <= 230; i++) put(e, i, "new");   /* every prefix: every range */
    run_ok(e, &st);
    assert_int_equal(st.rows_inserted, 30);
    assert_int_equal(st.rows_updated, 20);
    assert_int_equal(st.rows_deleted, 10);
    assert_true(st.segments_compared > 0);
    assert_equal_sides(e);
    run_ok(e, &st);
    assert_int_equal(st.rows_inserted + st.rows_updated + st.rows_deleted, 0);
    teardown(state);
    *state = NULL;
}

static void test_parallel_fewer_rows_and_empty(void **state) {
    env *e = *state;
    e->strat.parallel = 8;
    seed(e, 3);
    state_stats st;
    run_ok(e, &st);
    assert_int_equal(st.rows_inserted, 3);
    assert_equal_sides(e);
    mock_pair_exec(&e->m, 0, "DELETE FROM src_t", 0, NULL);
    run_ok(e, &st);
    assert_int_equal(st.rows_deleted, 3);
    assert_equal_sides(e);
    teardown(state);
    *state = NULL;
}

static void test_parallel_failed_range_resumes(void **state) {
    env *e = *state;
    seed(e, 200);
    mock_fail_commit(e->m.db[1], 12);   /* some range's batch fails at COMMIT */
    state_stats st;
    st_error err = {0};
    int rc = run(e, &st, &err);
    assert_int_not_equal(rc, ST_OK);
    assert_non_null(strstr(err.msg, "range "));
    assert_non_null(strstr(err.msg, "ranges done, the next run of full resumes the others"));
    char plan[8192];
    plan_of(e, plan, sizeof plan);
    assert_non_null(strstr(plan, "\"bounds\""));
    assert_non_null(strstr(plan, "\"done\""));
    mock_db_disarm(e->m.db[1]);
    run_ok(e, &st);
    assert_true(st.rows_read < 200);   /* resumed: the finished ranges were not read */
    assert_equal_sides(e);
    plan_of(e, plan, sizeof plan);
    assert_string_equal(plan, "");
    teardown(state);
    *state = NULL;
}

/* A failed attempt, then `change` (1: another N, 2: the next cron slot, 3:
 * another strategy of the pipeline attempted since): the rerun reads every
 * range again (no resume) and still ends equal. */
static int run_first(env *e, int64_t now, state_stats *st, st_error *err) {
    sync_opts o = {.cfg = &e->cfg, .pipeline = &e->p, .strategy = &e->p.strategies[0],
                   .st = e->m.st, .fence_key = "synctool:exec:pipeline:par_pipe",
                   .fence_token = 3, .progress_interval_s = -1, .now = now,
                   .store_ops = mock_store_ops()};
    return sync_run(&o, st, err);
}

static void not_resumed_after(env *e, int change) {
    config_strategy two[2] = {e->strat, {.name = "other", .type = CONFIG_STRATEGY_HASH,
                                          .enabled = true}};
    if (change == 2) two[0].cron = "0 * * * *";
    e->p.strategies = two;
    e->p.nstrategies = 2;
    seed(e, 200);
    mock_fail_commit(e->m.db[1], 12);
    state_stats st;
    st_error err = {0};
    assert_int_not_equal(run_first(e, T0, &st, &err), ST_OK);
    mock_db_disarm(e->m.db[1]);
    int64_t at = T0 + 1000000;
    if (change == 1) two[0].parallel = 3;
    if (change == 2) at = T0 + 3600LL * 1000000;   /* 11:06: the 11:00 slot */
    if (change == 3) {
        state_record rec = {.status = STATE_SUCCESS, .last_attempted_at = T0 + 500000,
                            .last_run = T0 + 500000, .updated_at = T0 + 500000};
        snprintf(rec.pipeline, sizeof rec.pipeline, "par_pipe");
        snprintf(rec.strategy, sizeof rec.strategy, "other");
        if (state_put(e->m.st, &rec, &err) != ST_OK) fail_msg("state: %s", err.msg);
    }
    if (run_first(e, at, &st, &err) != ST_OK) fail_msg("rerun: %s", err.msg);
    assert_int_equal(st.rows_read, 200);
    assert_equal_sides(e);
    e->p.strategies = &e->strat;
    e->p.nstrategies = 1;
}

static void test_not_resumed_with_another_n(void **state) {
    not_resumed_after(*state, 1);
    teardown(state);
    *state = NULL;
}

static void test_not_resumed_in_the_next_slot(void **state) {
    not_resumed_after(*state, 2);
    teardown(state);
    *state = NULL;
}

static void test_not_resumed_after_another_strategy(void **state) {
    not_resumed_after(*state, 3);
    teardown(state);
    *state = NULL;
}

/* On a terminal the progress line sums the ranges and counts them. */
static void test_parallel_progress_on_a_terminal(void **state) {
    env *e = *state;
    seed(e, 200);
    int m, sl;
    syncio_pty(&m, &sl);
    sync_opts o = {.cfg = &e->cfg, .pipeline = &e->p, .strategy = &e->strat, .st = e->m.st,
                   .progress = true, .now = T0, .store_ops = mock_store_ops()};
    state_stats st;
    st_error err;
    assert_int_equal(syncio_run_with_stderr(sl, &o, &st, &err), ST_OK);
    char buf[16384];
    syncio_drain(m, buf, sizeof buf);
    assert_non_null(strstr(buf, "\rrows 200 of ~200 read, 200 written"));
    assert_non_null(strstr(buf, ", ranges 4 of 4 done, "));
    close(sl);
    close(m);
    teardown(state);
    *state = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_range_where, setup_composite),
        cmocka_unit_test_setup(test_range_literal, setup_composite),
        cmocka_unit_test_setup(test_parallel_copy_then_merge, setup_composite),
        cmocka_unit_test_setup(test_parallel_copy_then_merge, setup_text),
        cmocka_unit_test_setup(test_parallel_fewer_rows_and_empty, setup_text),
        cmocka_unit_test_setup(test_parallel_hash_changes_in_every_range, setup_composite),
        cmocka_unit_test_setup(test_parallel_hash_changes_in_every_range, setup_text),
        cmocka_unit_test_setup(test_parallel_failed_range_resumes, setup_composite),
        cmocka_unit_test_setup(test_parallel_progress_on_a_terminal, setup_composite),
        cmocka_unit_test_setup(test_not_resumed_with_another_n, setup_composite),
        cmocka_unit_test_setup(test_not_resumed_in_the_next_slot, setup_composite),
        cmocka_unit_test_setup(test_not_resumed_after_another_strategy, setup_composite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
