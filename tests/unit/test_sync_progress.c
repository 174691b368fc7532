/*
 * test_sync_progress — the progress line: shown on stderr when asked and
 * stderr is a terminal (a pseudo-terminal here), absent when stderr is a
 * pipe even if asked, absent when not asked. A run with a run id publishes
 * its figures in state (state_progress), read back and written as the
 * API's Progress object; a run without one publishes nothing, and neither
 * does a run that ends before its first publish is due (a worker's small
 * job opens no state connection for it: issue 25).
 *
 * hash's row pass (issue 25: it compares no segment, and a 3.7 s run over
 * 2M rows showed "ETA 288s"): its figure is the source rows whose digests
 * it compared, of the estimate — the last line of a row pass over 4,000
 * rows says "row digests 4000 of ~4000 compared" and "ETA 0s", taking
 * turns (SQLite) or overlapped (PostgreSQL, from the servers of
 * scripts/with-servers); and at
 * given instants (sync_progress_figures_at: no clock read) the ETA of a
 * 3.7 s run over 2M rows is the time left within half a second, never
 * grows, and is 0 at the end.
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

#include "support/sync_io.h"
#include "support/synct_env.h"
#include "../../src/log/log.h"
#include "../../src/sync/sync_int.h"

/* Runs a full sync of 20 rows with stderr redirected to `fd`. */
static void run_with_stderr(int fd, bool progress) {
    synct_env e;
    synct_setup(&e, false, false, CONFIG_STRATEGY_FULL);
    for (int64_t id = 1; id <= 20; id++) synct_insert(&e, id);
    sync_opts o = {.cfg = &e.cfg, .pipeline = &e.p, .strategy = &e.strat, .st = e.st,
                   .progress = progress, .now = 1760522760LL * 1000000};
    state_stats st;
    st_error err;
    assert_int_equal(syncio_run_with_stderr(fd, &o, &st, &err), 0);
    assert_int_equal(st.rows_inserted, 20);
    synct_teardown(&e);
}

static void test_progress_on_a_terminal(void **s) {
    (void)s;
    int m, sl;
    syncio_pty(&m, &sl);
    run_with_stderr(sl, true);
    char buf[4096];
    syncio_drain(m, buf, sizeof buf);
    assert_non_null(strstr(buf, "\rrows 20 of ~20 read, 20 written, segments 0"));
    assert_non_null(strstr(buf, "rows/s"));
    assert_non_null(strstr(buf, "ETA"));
    close(sl);
    close(m);
}

static void test_no_progress_into_a_pipe_or_unasked(void **s) {
    (void)s;
    for (int asked = 0; asked < 2; asked++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        run_with_stderr(p[1], asked == 1);
        close(p[1]);
        char buf[4096];
        assert_int_equal(syncio_drain(p[0], buf, sizeof buf), 0);
        close(p[0]);
    }
}

static void test_progress_published_in_state(void **s) {
    (void)s;
    for (int with_id = 0; with_id < 2; with_id++) {
        synct_env e;
        synct_setup(&e, false, false, CONFIG_STRATEGY_FULL);
        for (int64_t id = 1; id <= 20; id++) synct_insert(&e, id);
        sync_opts o = {.cfg = &e.cfg, .pipeline = &e.p, .strategy = &e.strat, .st = e.st,
                       .now = 1760522760LL * 1000000, .run_id = with_id ? 7 : 0,
                       .progress_first_us = -1};
        state_stats st;
        st_error err;
        assert_int_equal(sync_run(&o, &st, &err), 0);
        state_progress pr;
        int rc = state_progress_get(e.st, e.p.name, e.strat.name, &pr, &err);
        if (!with_id) {
            assert_int_equal(rc, ST_ENOTFOUND);
            synct_teardown(&e);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(pr.run_id, 7);
        assert_int_equal(pr.rows_read, 20);
        assert_int_equal(pr.rows_inserted, 20);
        /* a run this short never asks the source for an estimate (that waits
         * for one publish interval): the total and the ETA are unknown */
        assert_int_equal(pr.rows_expected, 0);
        assert_true(pr.at >= o.now);
        assert_true(pr.eta_s < 0);
        json_writer w;
        json_init(&w);
        state_progress_write_json(&w, &pr);
        assert_false(w.failed);
        assert_non_null(strstr(w.buf, "\"run_id\":7"));
        assert_non_null(strstr(w.buf, "\"rows_read\":20,\"rows_written\":20,"
                                      "\"rows_expected\":null,\"segments_compared\":0,"
                                      "\"segments_expected\":null"));
        json_release(&w);
        synct_teardown(&e);
    }
}

/* The first publish an hour after the start: the run ends long before, so
 * no record is written (without the delay it always was). */
static void test_a_run_ending_before_its_first_publish_writes_none(void **s) {
    (void)s;
    synct_env e;
    synct_setup(&e, false, false, CONFIG_STRATEGY_FULL);
    for (int64_t id = 1; id <= 20; id++) synct_insert(&e, id);
    sync_opts o = {.cfg = &e.cfg, .pipeline = &e.p, .strategy = &e.strat, .st = e.st,
                   .now = 1760522760LL * 1000000, .run_id = 7,
                   .progress_first_us = 3600LL * 1000000};
    state_stats st;
    st_error err;
    assert_int_equal(sync_run(&o, &st, &err), 0);
    assert_int_equal(st.rows_inserted, 20);
    state_progress pr;
    assert_int_equal(state_progress_get(e.st, e.p.name, e.strat.name, &pr, &err), ST_ENOTFOUND);
    synct_teardown(&e);
}

/* The last line of a hash run whose row pass compared every row: 4,000
 * rows, one in ten changed, so the sample sends the run to the row pass;
 * SQLite to SQLite (not copied inside the engine) takes turns, PostgreSQL
 * to PostgreSQL overlaps (the producer's count reaches the line through
 * the pipe; the captured run log says which pass ran). */
static void row_pass_on_a_terminal(bool pg) {
    synct_env e;
    synct_setup(&e, pg, pg, CONFIG_STRATEGY_HASH);
    e.ds[0].generic_copy = e.ds[1].generic_copy = true;
    e.strat.segment_rows = 16;
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO \"%s\".src_t (id, name, amount, note) WITH RECURSIVE "
             "g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 4000) "
             "SELECT i, 'row ' || i, i + 0.5, 'n' FROM g", e.schemas[0]);
    synct_exec(&e, 0, sql);
    sync_opts o = {.cfg = &e.cfg, .pipeline = &e.p, .strategy = &e.strat, .st = e.st,
                   .now = 1760522760LL * 1000000};
    state_stats st;
    st_error err;
    assert_int_equal(sync_run(&o, &st, &err), 0);
    assert_int_equal(st.rows_inserted, 4000);
    snprintf(sql, sizeof sql, "UPDATE \"%s\".src_t SET name = 'changed' WHERE id %% 10 = 3",
             e.schemas[0]);
    synct_exec(&e, 0, sql);
    if (pg) {   /* the estimate from statistics: exact */
        snprintf(sql, sizeof sql, "ANALYZE \"%s\".src_t", e.schemas[0]);
        synct_exec(&e, 0, sql);
    }
    int m, sl;
    syncio_pty(&m, &sl);
    o.progress = true;
    log_capture_begin(e.p.name, NULL);
    int rc = syncio_run_with_stderr(sl, &o, &st, &err);
    char *logged = log_capture_end();
    if (rc != ST_OK) fail_msg("sync_run: %s", err.msg);
    assert_int_equal(st.rows_updated, 400);
    const char *overlapped = "row digests stream on a second connection pair";
    assert_true((logged != NULL && strstr(logged, overlapped) != NULL) == pg);
    free(logged);
    char buf[16384];
    syncio_drain(m, buf, sizeof buf);
    char *last = NULL;   /* the last line: "\rrows ..." (a pty ends it with "\r\n") */
    for (char *at = strstr(buf, "\rrows "); at; at = strstr(at + 1, "\rrows ")) last = at + 1;
    assert_non_null(last);
    if (strstr(last, "row digests 4000 of ~4000 compared") == NULL || strstr(last, "ETA 0s") == NULL)
        fail_msg("last progress line: %s", last);
    close(sl);
    close(m);
    synct_teardown(&e);
}

static void test_hash_row_pass_progress_on_a_terminal(void **s) {
    (void)s;
    row_pass_on_a_terminal(false);
}

static void test_hash_overlapped_row_pass_progress_on_a_terminal(void **s) {
    (void)s;
    row_pass_on_a_terminal(true);
}

/* A 3.7 s hash run over 2M rows, at given instants: a 0.2 s sample, then
 * the row pass compares 2M rows' digests at a steady pace and fetches the
 * 10 % that differ; the ETA is unknown until the first digests are counted
 * (the first keys fetched are no measure of the pass), then the time left
 * (within 0.5 s), never grows, and is 0 at the end. No segment is compared
 * meanwhile. */
static void test_hash_row_pass_eta_is_the_time_left(void **s) {
    (void)s;
    const int64_t sec = 1000000, start = 5 * sec, pass = start + sec / 5, end = start + 37 * sec / 10;
    sync_progress p = {.start_us = start, .total = 2000000, .total_segments = 2000};
    state_stats st = {0};
    double last = -1;
    p.compare_start_us = pass;
    st.rows_read = st.rows_updated = 4096;   /* keys fetched, no digest counted yet */
    sync_progress_figures f0;
    sync_progress_figures_at(&p, &st, pass + sec / 20, &f0);
    assert_true(f0.left < 0);
    for (int64_t now = pass + sec / 10; now <= end; now += sec / 10) {
        p.rows_compared = 2000000 * (now - pass) / (end - pass);
        st.rows_read = st.rows_updated = p.rows_compared / 10;
        sync_progress_figures f;
        sync_progress_figures_at(&p, &st, now, &f);
        double want = (double)(end - now) / 1e6;
        if (f.left < 0 || f.left > want + 0.5 || f.left < want - 0.5)
            fail_msg("at %.1f s: ETA %.2f s, %.2f s left", (double)(now - start) / 1e6, f.left, want);
        if (last >= 0) assert_true(f.left <= last + 1e-9);
        last = f.left;
    }
    assert_true(last == 0);
}

int main(void) {
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_on_a_terminal),
        cmocka_unit_test(test_no_progress_into_a_pipe_or_unasked),
        cmocka_unit_test(test_progress_published_in_state),
        cmocka_unit_test(test_a_run_ending_before_its_first_publish_writes_none),
        cmocka_unit_test(test_hash_row_pass_progress_on_a_terminal),
        cmocka_unit_test(test_hash_overlapped_row_pass_progress_on_a_terminal),
        cmocka_unit_test(test_hash_row_pass_eta_is_the_time_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
