/*
 * test_sync_progress — the progress line: shown on stderr when asked and
 * stderr is a terminal (a pseudo-terminal here), absent when stderr is a
 * pipe even if asked, absent when not asked.
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

int main(void) {
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_on_a_terminal),
        cmocka_unit_test(test_no_progress_into_a_pipe_or_unasked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
