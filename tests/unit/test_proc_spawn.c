/*
 * test_proc_spawn — proc_spawn_detached() reports every failure (issue 20
 * item 6): a job process whose exec fails is an error naming the step, not
 * a silent success; a good one starts detached (adopted by init, nothing to
 * reap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/proc/proc.h"

static void test_exec_failure_is_reported(void **state) {
    (void)state;
    char *argv[] = {"/nonexistent/synctool", "--version", NULL};
    st_error err;
    st_error_clear(&err);
    assert_int_equal(proc_spawn_detached(argv, -1, &err), ST_ERR);
    assert_non_null(strstr(err.msg, "cannot start /nonexistent/synctool: exec: "
                                    "No such file or directory"));
    /* nothing left to reap: the middle process was waited for */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_good_spawn_runs_detached(void **state) {
    (void)state;
    char path[] = "/tmp/synctool-spawn-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "echo $PPID > %s.tmp && mv %s.tmp %s", path, path, path);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    st_error err;
    assert_int_equal(proc_spawn_detached(argv, -1, &err), ST_OK);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    FILE *f = NULL;
    for (int i = 0; i < 3000 && f == NULL; i++) {   /* up to 30 s: a generous bound */
        f = fopen(path, "r");
        if (f == NULL) nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    assert_non_null(f);
    long ppid = 0;
    assert_int_equal(fscanf(f, "%ld", &ppid), 1);
    fclose(f);
    unlink(path);
    assert_true(ppid != (long)getpid());   /* not our child: the middle process's */
}

/* The job hand-off: what proc_job_pipe writes, proc_job_read gives back
 * field for field; the child's stdin carries it (cat copies it out). */
static queue_job sample_job(void) {
    queue_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.pipeline, sizeof j.pipeline, "orders_sync");
    snprintf(j.strategy, sizeof j.strategy, "hash_daily");
    j.run_id = 42;
    j.at = 1760522400000000LL;
    snprintf(j.enqueue_key, sizeof j.enqueue_key, "synctool:enqueue:pipeline:orders_sync");
    snprintf(j.enqueue_owner, sizeof j.enqueue_owner, "0123456789abcdef0123456789abcdef");
    j.enqueue_fence = 7;
    return j;
}

static void test_job_handoff_round_trip(void **state) {
    (void)state;
    queue_job j = sample_job(), back;
    int fd = -1;
    st_error err;
    assert_int_equal(proc_job_pipe(&j, &fd, &err), ST_OK);
    assert_int_equal(proc_job_read(fd, &back, &err), ST_OK);
    close(fd);
    assert_string_equal(back.pipeline, j.pipeline);
    assert_string_equal(back.strategy, j.strategy);
    assert_int_equal(back.run_id, 42);
    assert_int_equal(back.at, j.at);
    assert_string_equal(back.enqueue_key, j.enqueue_key);
    assert_string_equal(back.enqueue_owner, j.enqueue_owner);
    assert_int_equal(back.enqueue_fence, 7);
}

/* Through a detached child's stdin: sh copies it to a file. */
static void test_job_travels_on_the_childs_stdin(void **state) {
    (void)state;
    char path[] = "/tmp/synctool-job-XXXXXX";
    int tfd = mkstemp(path);
    assert_true(tfd >= 0);
    close(tfd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cat > %s.tmp && mv %s.tmp %s.done", path, path, path);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    queue_job j = sample_job(), back;
    int fd = -1;
    st_error err;
    assert_int_equal(proc_job_pipe(&j, &fd, &err), ST_OK);
    assert_int_equal(proc_spawn_detached(argv, fd, &err), ST_OK);
    close(fd);
    char done[64];
    snprintf(done, sizeof done, "%s.done", path);
    int in = -1;
    for (int i = 0; i < 3000 && in < 0; i++) {   /* up to 30 s: a generous bound */
        in = open(done, O_RDONLY);
        if (in < 0) nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    assert_true(in >= 0);
    assert_int_equal(proc_job_read(in, &back, &err), ST_OK);
    close(in);
    unlink(done);
    unlink(path);
    assert_string_equal(back.enqueue_owner, j.enqueue_owner);
}

/* Anything else on stdin is refused, naming what was expected. */
static void test_job_read_refuses_garbage(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *bad = "synctool-job 1\norders\n\n42\n";
    assert_int_equal(write(fds[1], bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fds[1]);
    queue_job back;
    st_error err;
    assert_int_equal(proc_job_read(fds[0], &back, &err), ST_EINVAL);
    close(fds[0]);
    assert_non_null(strstr(err.msg, "no valid job on standard input"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_failure_is_reported),
        cmocka_unit_test(test_good_spawn_runs_detached),
        cmocka_unit_test(test_job_handoff_round_trip),
        cmocka_unit_test(test_job_travels_on_the_childs_stdin),
        cmocka_unit_test(test_job_read_refuses_garbage),
    };
    return cmocka_run_group_tests_name("TestProcSpawn", tests, NULL, NULL);
}
