/*
 * test_sync_progress — the progress line: shown on stderr when asked and
 * stderr is a terminal (a pseudo-terminal here), absent when stderr is a
 * pipe even if asked, absent when not asked. A run with a run id publishes
 * its figures in state (state_progress), read back and written as the
 * API's Progress object; a run without one publishes nothing, and neither
 * does a run that ends before its first publish is due (a worker's small
 * job opens no state connection for it: issue 25).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/synct_env.h"
#include "../../src/log/log.h"

/* Runs a full sync of 20 rows with stderr redirected to `fd`. */
static void run_with_stderr(int fd, bool progress) {
    synct_env e;
    synct_setup(&e, false, false, CONFIG_STRATEGY_FULL);
    for (int64_t id = 1; id <= 20; id++) synct_insert(&e, id);
    sync_opts o = {.cfg = &e.cfg, .pipeline = &e.p, .strategy = &e.strat, .st = e.st,
                   .progress = progress, .now = 1760522760LL * 1000000};
    state_stats st;
    st_error err;
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    int rc = sync_run(&o, &st, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(rc, 0);
    assert_int_equal(st.rows_inserted, 20);
    synct_teardown(&e);
}

static size_t drain(int fd, char *buf, size_t n) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fd, buf + got, n - 1 - got)) > 0) got += (size_t)r;
    buf[got] = '\0';
    return got;
}

static void test_progress_on_a_terminal(void **s) {
    (void)s;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    int sl = open(ptsname(m), O_RDWR | O_NOCTTY);
    assert_true(sl >= 0);
    run_with_stderr(sl, true);
    char buf[4096];
    drain(m, buf, sizeof buf);
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
        assert_int_equal(drain(p[0], buf, sizeof buf), 0);
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

int main(void) {
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_on_a_terminal),
        cmocka_unit_test(test_no_progress_into_a_pipe_or_unasked),
        cmocka_unit_test(test_progress_published_in_state),
        cmocka_unit_test(test_a_run_ending_before_its_first_publish_writes_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
