/*
 * test_sync_hash_rows — the hash strategy's switch-over (sync_hash_rows.c,
 * settle_level in sync_hash.c) moves exactly the changed rows, at every
 * distribution, on PostgreSQL, on SQLite and across engines.
 *
 * A 4,000-row table keyed by an indexed integer, segment_rows 10, so the
 * recursion takes every branch: 10% and 1% of the rows changed spread
 * evenly make most first-level ranges differ (the row pass: per-row
 * digests streamed and merged, then only the differing keys fetched);
 * 0.1% spread and 1% clustered leave most ranges equal (leaves merged
 * together, or split further). Each case also deletes rows near both ends
 * and in the middle and inserts new ones past the end. After each run: exact insert, update and
 * delete counts, source and destination equal row for row, and a second
 * hash run finds nothing. Where the row pass must have run (spread 10% and
 * 1%), rows_read — source rows the merge read — equals the changed source
 * rows exactly: the pass fetched those and nothing else.
 *
 * The digests are colhash-v2 on every pair (PostgreSQL's typed hashes,
 * in SQL there and in C over the canonical text on SQLite), which must
 * agree across engines for equal rows — so an identical run reading no
 * row after each case is the cross-engine check (the battery test below
 * checks the terms bit for bit). The sample before the first level decides
 * first: half the rows go to full (>= 1/4 of the sampled rows differ),
 * 10% and 1% spread straight to the row pass (no bucket compared), 0.1%
 * and clustered to the bucket levels. Between two servers the row pass
 * streams its digests on a second connection pair while the differing
 * rows are fetched and written (its log line says so); with SQLite on a
 * side it takes turns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/synct_env.h"
#include "../../src/log/log.h"
#include "../../src/store/store_canon.h"

#define ROWS 4000

static int64_t call, next_new; /* per table: deletes made, next new key */

static void run_ok(synct_env *e, config_strategy_type type, state_stats *st) {
    st_error err = {0};
    e->strat.type = type;
    if (synct_run(e, st, &err, NULL, 0, NULL) != 0) fail_msg("sync_run: %s", err.msg);
}

static void seed(synct_env *e, bool src_pg) {
    char sql[768];
    if (src_pg)
        snprintf(sql, sizeof sql,
                 "INSERT INTO \"%s\".src_t SELECT i, 'n' || i, (i || '.25')::numeric, "
                 "('2025-10-15T08:00:00.00000' || (i %% 10) || 'Z')::timestamptz, i %% 2 = 1, "
                 "CASE WHEN i %% 5 = 0 THEN NULL ELSE 'a|b\\c' END, i / 7.0 "
                 "FROM generate_series(1, %d) i", e->schemas[0], ROWS);
    else
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) "
                 "INSERT INTO src_t SELECT i, 'n' || i, printf('%%d.25', i), "
                 "'2025-10-15T08:00:00.00000' || (i %% 10) || 'Z', i %% 2, "
                 "CASE WHEN i %% 5 = 0 THEN NULL ELSE 'a|b\\c' END, i / 7.0 FROM g", ROWS);
    synct_exec(e, 0, sql);
}

static void assert_identical(synct_env *e) {
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_inserted + st.rows_updated + st.rows_deleted, 0);
    assert_int_equal(st.rows_read, 0);
}

/* How the run went about it: every pair here offers colhash-v2 (the fast
 * path, which samples before the first level). */
enum plan { ANY_PLAN, LEVELS, ROW_PASS, FULL };

static bool both_pg;

/* Runs hash and checks the exact counts, that only the changed source rows
 * were read (every path fetches only the rows whose digests differ, except
 * full, which reads every source row), the plan the sample chose, and that
 * a second run moves nothing. */
#define OVERLAP_LINE "digests stream on a second connection pair"

static void run_and_check(synct_env *e, int64_t upd, int64_t ins, int64_t del, enum plan plan) {
    state_stats st;
    log_capture_begin(e->p.name, NULL);
    run_ok(e, CONFIG_STRATEGY_HASH, &st);
    char *lines = log_capture_end();
    bool overlapped = lines != NULL && strstr(lines, OVERLAP_LINE) != NULL;
    free(lines);
    if (both_pg && plan == ROW_PASS) assert_true(overlapped);
    if (e->ds[0].path != NULL || e->ds[1].path != NULL) assert_false(overlapped);
    synct_assert_equal(e, true);
    assert_int_equal(st.rows_updated, upd);
    assert_int_equal(st.rows_inserted, ins);
    assert_int_equal(st.rows_deleted, del);
    if (plan == FULL) assert_int_equal(st.rows_read, synct_count(e, 0));
    else assert_int_equal(st.rows_read, upd + ins);
    if (plan == ROW_PASS) assert_int_equal(st.segments_compared, 0);
    if (plan == LEVELS) assert_true(st.segments_compared > 0);
    assert_identical(e);
}

/* Changes every `step`-th key from `from` to `to`, deletes three and
 * inserts three, and checks the run. */
static void change_and_check(synct_env *e, int64_t from, int64_t to, int64_t step,
                             enum plan plan) {
    /* In SQL, so every updated row really changes (name gets longer). */
    char sql[512];
    int64_t upd = (to - from) / step + 1;
    snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET name = name || '+' "
             "WHERE id BETWEEN %lld AND %lld AND (id - %lld) %% %lld = 0", e->schemas[0],
             (long long)from, (long long)to, (long long)from, (long long)step);
    synct_exec(e, 0, sql);
    /* Deletes near both ends and in the middle (even keys: none of the
     * updated ones), new keys past the end. */
    synct_delete(e, 2 + 2 * call);
    synct_delete(e, ROWS / 2 - 100 + 2 * call);
    synct_delete(e, ROWS - 2 - 2 * call);
    call++;
    for (int i = 0; i < 3; i++) synct_insert(e, next_new++);
    run_and_check(e, upd, 3, 3, plan);
}

/* Only inserts (new keys past the end), then only deletes (every 97th
 * key of the middle half). */
static void inserts_then_deletes(synct_env *e) {
    for (int i = 0; i < 40; i++) synct_insert(e, next_new++);
    run_and_check(e, 0, 40, 0, ANY_PLAN);
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\".src_t WHERE id BETWEEN %d AND %d AND "
             "id %% 97 = 0", e->schemas[0], ROWS / 4, 3 * ROWS / 4);
    int64_t before = synct_count(e, 0);
    synct_exec(e, 0, sql);
    run_and_check(e, 0, 0, before - synct_count(e, 0), ANY_PLAN);
}

/* An empty destination (every row an insert: the sample finds every row
 * differing and runs full), then an empty source (every row a delete). */
static void empty_sides(synct_env *e) {
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\".dst_t", e->schemas[1]);
    synct_exec(e, 1, sql);
    int64_t n = synct_count(e, 0);
    run_and_check(e, 0, n, 0, FULL);
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\".src_t", e->schemas[0]);
    synct_exec(e, 0, sql);
    state_stats st;
    run_ok(e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_deleted, n);
    assert_int_equal(st.rows_read, 0);
    assert_int_equal(synct_count(e, 1), 0);
    assert_identical(e);
}

/* The destination's `in_engine: false` (config.h: generic_copy). */
static bool force_generic;

static void every_distribution(bool src_pg, bool dst_pg) {
    synct_env e;
    synct_setup(&e, src_pg, dst_pg, CONFIG_STRATEGY_HASH);
    e.ds[1].generic_copy = force_generic;
    seed(&e, src_pg);
    call = 0;
    next_new = ROWS + 1;
    both_pg = src_pg && dst_pg;
    e.strat.segment_rows = 10;
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_FULL, &st);
    assert_int_equal(st.rows_inserted, ROWS);
    assert_identical(&e);
    change_and_check(&e, 5, ROWS - 5, 10, ROW_PASS);          /* 10% spread */
    change_and_check(&e, 7, ROWS, 100, ROW_PASS);             /* 1% spread */
    change_and_check(&e, 500, ROWS, 1000, LEVELS);            /* 0.1% spread */
    change_and_check(&e, 2011, 2050, 1, LEVELS);              /* 1% clustered */
    change_and_check(&e, 1, ROWS, 2, FULL);                   /* half the rows */
    inserts_then_deletes(&e);
    empty_sides(&e);
    synct_teardown(&e);
}

static void test_switch_over_postgres(void **x) {
    (void)x;
    every_distribution(true, true);
}

/* Between two SQLite files hash runs inside SQLite (sync_local.c); the
 * generic path is forced here, as it runs for SQLite against another
 * engine. */
static void test_switch_over_sqlite(void **x) {
    (void)x;
    force_generic = true;
    every_distribution(false, false);
    force_generic = false;
}

static void test_switch_over_sqlite_to_postgres(void **x) {
    (void)x;
    every_distribution(false, true);
}

static void test_switch_over_postgres_to_sqlite(void **x) {
    (void)x;
    every_distribution(true, false);
}

/* colhash-v2 (store_pg.c) must be equal exactly when the canonical
 * texts are: -0 is not 0 (float8), 1.0 is 1.00 (numeric), one instant
 * written in two zones is one timestamptz, NULL is neither 0 nor '', and
 * (what pg-colhash-v1 missed) -1.0 is not 1.0, NaN not Infinity. */
static void test_pg_colhash_tells_what_canonical_text_tells(void **x) {
    (void)x;
    synct_env e;
    synct_setup(&e, true, true, CONFIG_STRATEGY_HASH);
    char sql[900];
    snprintf(sql, sizeof sql,
             "CREATE TABLE \"%s\".dg (id bigint, f float8, n numeric, ts timestamptz, t text)",
             e.schemas[0]);
    synct_exec(&e, 0, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO \"%s\".dg VALUES "
             "(1, 0, 1.0, '2025-01-01 00:00:00+00', 'a'), (2, '-0', 1.0, '2025-01-01 00:00:00+00', 'a'), "
             "(3, 0, 1.00, '2025-01-01 01:00:00+01', 'a'), (4, NULL, 1.0, '2025-01-01 00:00:00+00', 'a'), "
             "(5, 0, 1.0, '2025-01-01 00:00:00+00', NULL), (6, 0, 1.0, '2025-01-01 00:00:00+00', ''), "
             "(7, 0, 1.0, '2025-01-01 00:00:00.000001+00', 'a'), "
             "(8, 0, -1.0, '2025-01-01 00:00:00+00', 'a'), (9, 0, 'NaN', '2025-01-01 00:00:00+00', 'a'), "
             "(10, 0, 'Infinity', '2025-01-01 00:00:00+00', 'a')", e.schemas[0]);
    synct_exec(&e, 0, sql);
    const char *cols[] = {"id", "f", "n", "ts", "t"};
    const char *types[] = {"bigint", "double precision", "numeric", "timestamptz", "text"};
    const store_kind kinds[] = {STORE_K_INT, STORE_K_FLOAT, STORE_K_NUMERIC, STORE_K_TIMESTAMPTZ,
                                STORE_K_TEXT};
    const bool key[] = {true, false, false, false, false};
    /* The id is hashed too: compare rows by the digest of columns 1.. only. */
    store_table t = {.schema = e.schemas[0], .table = "dg", .ncols = 4, .cols = cols + 1,
                     .types = types + 1, .kinds = kinds + 1, .key = key + 1};
    store_sb q = {0};
    store_sb_add(&q, "SELECT ");
    assert_int_equal(store_row_digest_expr(e.admin[0], &q, "colhash-v2", &t, "''", false),
                     ST_OK);
    store_sb_addf(&q, " FROM \"%s\".dg ORDER BY id", e.schemas[0]);
    store_reader *r = NULL;
    st_error err;
    if (store_query(e.admin[0], &r, q.s, 0, NULL, &err) != ST_OK) fail_msg("%s", err.msg);
    char d[10][32];
    const char *const *row;
    int nc, n = 0;
    while (n < 10 && store_next(e.admin[0], r, &row, &nc, &err) == 1)
        snprintf(d[n++], sizeof d[0], "%s", row[0] ? row[0] : "");
    store_reader_close(e.admin[0], r);
    store_sb_free(&q);
    assert_int_equal(n, 10);
    assert_string_not_equal(d[0], d[7]);   /* -1.0 is not 1.0 */
    assert_string_not_equal(d[8], d[9]);   /* NaN is not Infinity */
    assert_string_not_equal(d[0], d[1]);   /* -0 */
    assert_string_equal(d[0], d[2]);       /* 1.00, +01 */
    assert_string_not_equal(d[0], d[3]);   /* NULL float */
    assert_string_not_equal(d[4], d[5]);   /* NULL text vs '' */
    assert_string_not_equal(d[0], d[4]);
    assert_string_not_equal(d[0], d[6]);   /* one microsecond */
    synct_teardown(&e);
}

/* The value battery through colhash-v2: for every kind, PostgreSQL's term
 * (its extended hash functions in SQL, store_pg.c) equals the term
 * computed in C from the value's canonical text (store_canon.c, what
 * SQLite's st_colhash() computes), bit for bit; and unequal values give
 * unequal terms. The values cover each hash's corners: integers across
 * the 32-bit halves, numerics with leading, inner and trailing zero
 * base-10000 digits, signs, NaN and infinities, float -0 and NaN, texts
 * of 0 to 13 bytes (each of lookup3's tail lengths) and multibyte, times
 * before and after 2000-01-01 with and without fractions, infinity, and
 * times 2^32 + 1 us after and before 2000-01-01 00:00 (their microseconds'
 * two halves XOR to 0's: hashed alike before the high word was hashed),
 * and times on each side of the bins store_pg.c takes the high word from
 * (2000-01-01 itself, 2^32 us after and before it, the infinities). */
typedef struct hb_case {
    const char *type;
    store_kind kind;
    const char *values;   /* a VALUES list of one column */
} hb_case;

static const hb_case HB[] = {
    {"bigint", STORE_K_INT, "(0),(1),(-1),(2147483647),(-2147483648),(4294967296),(-4294967297),"
     "(9223372036854775807),(-9223372036854775808),(NULL)"},
    {"numeric", STORE_K_NUMERIC, "(0),(1.5),(-1.5),(1.50),(0.0001),(-0.0001),(10000),(100000000),"
     "(0.00000001),(123456789012345678901234.5),(1234567890.12),(5.00),(0.5),(10000.0001),"
     "('NaN'),('Infinity'),('-Infinity'),(NULL)"},
    {"double precision", STORE_K_FLOAT, "(0),('-0'),(0.1),(1e20),(-2.5e-7),(3.141592653589793),"
     "(1e-5),(123456.789),('NaN'),('Infinity'),('-Infinity'),(NULL)"},
    {"boolean", STORE_K_BOOL, "(true),(false),(NULL)"},
    {"timestamptz", STORE_K_TIMESTAMPTZ, "('2025-03-30 01:59:59.999999+00'),"
     "('1999-12-31 23:59:59.5+00'),('1970-01-01 00:00:00+00'),('2000-01-01 00:00:00+00'),"
     "('0001-01-01 00:00:00+00'),('2025-03-30 03:00:00.000001+02'),('infinity'),('-infinity'),"
     "('2000-01-01 01:11:34.967297+00'),('1999-12-31 22:48:25.032703+00'),"
     "('2000-01-01 01:11:34.967296+00'),('2000-01-01 01:11:34.967295+00'),"
     "('1999-12-31 22:48:25.032704+00'),('1999-12-31 23:59:59.999999+00'),"
     "('2025-01-01 00:00:00.000001+00'),(NULL)"},
    {"timestamp", STORE_K_TIMESTAMP, "('2024-02-29 12:00:00'),('1999-12-31 23:59:59.5'),"
     "('9999-12-31 23:59:59.999999'),('2000-01-01 00:00:00'),('2000-01-01 01:11:34.967297'),"
     "('2000-01-01 01:11:34.967296'),('1999-12-31 22:48:25.032704'),('2000-01-01 00:00:00.000001'),"
     "('infinity'),('-infinity'),(NULL)"},
    {"date", STORE_K_DATE, "('2024-02-29'),('1970-01-01'),('2000-01-01'),('1999-12-31'),"
     "('2100-01-01'),('0001-01-01'),('infinity'),('-infinity'),(NULL)"},
    {"text", STORE_K_TEXT, "(''),('a'),('ab'),('abc'),('abcd'),('abcde'),('abcdef'),('abcdefg'),"
     "('abcdefgh'),('abcdefghi'),('abcdefghij'),('abcdefghijk'),('abcdefghijkl'),"
     "('abcdefghijklm'),('h\xc3\xa9llo \xe2\x9c\x93'),('a|b\\c'),(NULL)"},
};

static void test_colhash_battery_matches_postgres(void **x) {
    (void)x;
    synct_env e;
    synct_setup(&e, true, true, CONFIG_STRATEGY_HASH);
    for (size_t k = 0; k < sizeof HB / sizeof HB[0]; k++) {
        char sql[1024];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS \"%s\".hb", e.schemas[0]);
        synct_exec(&e, 0, sql);
        snprintf(sql, sizeof sql, "CREATE TABLE \"%s\".hb (v %s)", e.schemas[0], HB[k].type);
        synct_exec(&e, 0, sql);
        snprintf(sql, sizeof sql, "INSERT INTO \"%s\".hb VALUES %s", e.schemas[0], HB[k].values);
        synct_exec(&e, 0, sql);
        const char *cols[] = {"v"};
        const char *types[] = {HB[k].type};
        const store_kind kinds[] = {HB[k].kind};
        const bool key[] = {false};
        store_table t = {.schema = e.schemas[0], .table = "hb", .ncols = 1, .cols = cols,
                         .types = types, .kinds = kinds, .key = key};
        store_sb q = {0};
        store_sb_add(&q, "SELECT ");
        store_sb_rowtext(&q, e.admin[0], &t);
        store_sb_add(&q, ", (v IS NULL)::int, ");
        assert_int_equal(store_row_digest_expr(e.admin[0], &q, "colhash-v2", &t, "''", false),
                         ST_OK);
        store_sb_addf(&q, " FROM \"%s\".hb", e.schemas[0]);
        store_reader *r = NULL;
        st_error err;
        if (store_query(e.admin[0], &r, q.s, 0, NULL, &err) != ST_OK) fail_msg("%s", err.msg);
        const char *const *row;
        int nc, n = 0;
        uint64_t seen[32];
        char text[32][48];
        while (store_next(e.admin[0], r, &row, &nc, &err) == 1) {
            char canon[64];   /* the row text of one value: text kinds unescaped */
            size_t cn = 0;
            for (const char *p = row[0]; *p && cn + 1 < sizeof canon; p++)
                canon[cn++] = HB[k].kind == STORE_K_TEXT && p[0] == '\\' && p[1] ? *++p : *p;
            canon[cn] = '\0';
            uint64_t c = row[1][0] == '1' ? store_colhash_null(1)
                                          : store_colhash_text(HB[k].kind, canon, cn, 1);
            uint64_t pg = (uint64_t)strtoll(row[2], NULL, 10);
            if (c != pg) fail_msg("%s %s: C %lld, PostgreSQL %s", HB[k].type, row[0],
                                  (long long)c, row[2]);
            for (int i = 0; i < n; i++)   /* equal exactly when the canonical texts are */
                if ((seen[i] == c) != (strcmp(text[i], row[0]) == 0))
                    fail_msg("%s: %s and %s", HB[k].type, text[i], row[0]);
            snprintf(text[n], sizeof text[n], "%s", row[0]);
            seen[n++] = c;
        }
        store_reader_close(e.admin[0], r);
        store_sb_free(&q);
        assert_true(n > 2);
    }
    synct_teardown(&e);
}

/* A side failing mid-run in the concurrent paths (each side on its own
 * thread): key 2000 lies in a sampled bucket (the sample fails), keys 1
 * and ROWS in buckets the sample skips (the bucket pass fails). The run stops
 * with that side's error, nothing leaks (ASan), and once the cause is gone
 * the next run moves exactly the changed rows. The destination's amount
 * becomes text holding one value that is not a number, so the digest's
 * cast fails on that row only. */
static void test_failing_side_stops_the_run_cleanly(void **x) {
    (void)x;
    synct_env e;
    synct_setup(&e, true, true, CONFIG_STRATEGY_HASH);
    seed(&e, true);
    e.strat.segment_rows = 10;
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_FULL, &st);
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE \"%s\".dst_t ALTER COLUMN amount TYPE text",
             e.schemas[1]);
    synct_exec(&e, 1, sql);
    const int64_t bad[] = {2000, 1, ROWS};  /* a leaf, the sample's first and last buckets */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(sql, sizeof sql, "UPDATE \"%s\".dst_t SET amount = 'x' WHERE id = %lld",
                 e.schemas[1], (long long)bad[i]);
        synct_exec(&e, 1, sql);
        st_error err = {0};
        e.strat.type = CONFIG_STRATEGY_HASH;
        assert_int_not_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
        assert_non_null(strstr(err.msg, "numeric"));
        snprintf(sql, sizeof sql, "UPDATE \"%s\".dst_t SET amount = '%lld.25' WHERE id = %lld",
                 e.schemas[1], (long long)bad[i], (long long)bad[i]);
        synct_exec(&e, 1, sql);
    }
    snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET name = name || '+' WHERE id %% 10 = 3",
             e.schemas[0]);
    synct_exec(&e, 0, sql);
    run_ok(&e, CONFIG_STRATEGY_HASH, &st);
    assert_int_equal(st.rows_updated, ROWS / 10);
    synct_assert_equal(&e, true);
    synct_teardown(&e);
}

/* The overlapped row pass failing on either thread: 10% of the rows
 * changed (the row pass), and one destination row whose amount the
 * digest cannot cast, early (key 15: the streams fail before the fetcher
 * has had keys) or late (key ROWS - 5: the fetcher has written some
 * batches meanwhile). The run stops with the streams' error and leaks
 * nothing (ASan, the second connection pair closed); once the cause is
 * gone the next run repairs the rest, and the tables end equal. */
static void test_overlapped_row_pass_fails_cleanly(void **x) {
    (void)x;
    synct_env e;
    synct_setup(&e, true, true, CONFIG_STRATEGY_HASH);
    seed(&e, true);
    e.strat.segment_rows = 10;
    e.strat.batch_size = 50;
    state_stats st;
    run_ok(&e, CONFIG_STRATEGY_FULL, &st);
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE \"%s\".dst_t ALTER COLUMN amount TYPE text",
             e.schemas[1]);
    synct_exec(&e, 1, sql);
    const int64_t bad[] = {15, ROWS - 5};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET name = name || '+' "
                 "WHERE id %% 10 = %d", e.schemas[0], (int)i + 1);
        synct_exec(&e, 0, sql);
        snprintf(sql, sizeof sql, "UPDATE \"%s\".dst_t SET amount = 'x' WHERE id = %lld",
                 e.schemas[1], (long long)bad[i]);
        synct_exec(&e, 1, sql);
        st_error err = {0};
        e.strat.type = CONFIG_STRATEGY_HASH;
        assert_int_not_equal(synct_run(&e, &st, &err, NULL, 0, NULL), 0);
        assert_non_null(strstr(err.msg, "numeric"));
        snprintf(sql, sizeof sql, "UPDATE \"%s\".dst_t SET amount = '%lld.25' WHERE id = %lld",
                 e.schemas[1], (long long)bad[i], (long long)bad[i]);
        synct_exec(&e, 1, sql);
        run_ok(&e, CONFIG_STRATEGY_HASH, &st);
        assert_true(st.rows_updated > 0 && st.rows_updated <= ROWS / 10);
        synct_assert_equal(&e, true);
        assert_identical(&e);
    }
    synct_teardown(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_over_postgres),
        cmocka_unit_test(test_switch_over_sqlite),
        cmocka_unit_test(test_switch_over_sqlite_to_postgres),
        cmocka_unit_test(test_switch_over_postgres_to_sqlite),
        cmocka_unit_test(test_pg_colhash_tells_what_canonical_text_tells),
        cmocka_unit_test(test_colhash_battery_matches_postgres),
        cmocka_unit_test(test_failing_side_stops_the_run_cleanly),
        cmocka_unit_test(test_overlapped_row_pass_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
