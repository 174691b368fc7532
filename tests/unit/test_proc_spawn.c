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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/proc/proc.h"

static void test_exec_failure_is_reported(void **state) {
    (void)state;
    char *argv[] = {"/nonexistent/synctool", "--version", NULL};
    st_error err;
    st_error_clear(&err);
    assert_int_equal(proc_spawn_detached(argv, &err), ST_ERR);
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
    assert_int_equal(proc_spawn_detached(argv, &err), ST_OK);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_failure_is_reported),
        cmocka_unit_test(test_good_spawn_runs_detached),
    };
    return cmocka_run_group_tests_name("TestProcSpawn", tests, NULL, NULL);
}
