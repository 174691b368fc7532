/*
 * test_proc_spawn — run_spawn_argv() (src/run/run_spawn.c) reports every failure (issue 20
 * item 6): a job process whose exec fails is an error naming the step, not
 * a silent success; a good one starts detached (adopted by init, nothing to
 * reap). The job hand-off (run_handoff_write / run_handoff_read) carries the job
 * and the configuration it runs with (issue 21 item 2): the files as the
 * parent loaded them, whatever the disk says by the time the child reads.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/run/run.h"

static void test_exec_failure_is_reported(void **state) {
    (void)state;
    char *argv[] = {"/nonexistent/synctool", "--version", NULL};
    st_error err;
    st_error_clear(&err);
    assert_int_equal(run_spawn_argv(argv, -1, RUN_SPAWN_DETACHED, NULL, &err), ST_ERR);
    assert_non_null(strstr(err.msg, "exec: No such file or directory"));
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
    assert_int_equal(run_spawn_argv(argv, -1, RUN_SPAWN_DETACHED, NULL, &err), ST_OK);
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

/* The job hand-off: what run_handoff_write writes, run_handoff_read gives back
 * field for field, with the configuration's files as they were loaded;
 * the child's stdin carries it (cat copies it out). */
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

static void write_text(const char *dir, const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define PIPELINE(name, table) \
    "name: " name "\nsource: {datastore: src, table: " table "}\n" \
    "destination: {datastore: dst, table: " table "}\ncolumns:\n" \
    "  - {name: id, type: bigint, key: true}\nstrategies:\n" \
    "  - {name: hash_daily, type: hash, cron: \"0 2 * * *\"}\n"

/* A config directory with two pipelines, loaded; its path in dir. */
static config *sample_config(char *dir) {
    assert_non_null(mkdtemp(dir));
    char sub[512];
    snprintf(sub, sizeof sub, "%s/pipelines", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_text(dir, "datastores.yaml", "datastores:\n  src: {type: sqlite, path: src.db}\n"
                                       "  dst: {type: sqlite, path: data/dst.db}\n");
    write_text(dir, "pipelines/orders.yaml", PIPELINE("orders_sync", "orders"));
    write_text(dir, "pipelines/other.yaml", PIPELINE("other", "other"));
    config *cfg = NULL;
    st_error err;
    assert_int_equal(config_load(&cfg, dir, NULL, &err), ST_OK);
    return cfg;
}

static void remove_config(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_job_handoff_round_trip(void **state) {
    (void)state;
    char dir[] = "/tmp/synctool-handoff-XXXXXX";
    config *cfg = sample_config(dir);
    queue_job j = sample_job();
    run_handoff back;
    int fd = -1;
    st_error err;
    assert_int_equal(run_handoff_write(&j, cfg, &fd, &err), ST_OK);
    assert_int_equal(run_handoff_read(fd, &back, &err), ST_OK);
    close(fd);
    assert_string_equal(back.job.pipeline, j.pipeline);
    assert_string_equal(back.job.strategy, j.strategy);
    assert_int_equal(back.job.run_id, 42);
    assert_int_equal(back.job.at, j.at);
    assert_string_equal(back.job.enqueue_key, j.enqueue_key);
    assert_string_equal(back.job.enqueue_owner, j.enqueue_owner);
    assert_int_equal(back.job.enqueue_fence, 7);
    assert_true(burl_equal(&back.state_url, &cfg->state_url));
    assert_string_equal(back.dir, cfg->dir);
    /* datastores.yaml and the job's own pipeline file, nothing else */
    assert_int_equal(back.nfiles, 2);
    assert_string_equal(back.files[0].rel, "datastores.yaml");
    assert_string_equal(back.files[1].rel, "pipelines/orders.yaml");
    assert_string_equal(back.files[1].text, PIPELINE("orders_sync", "orders"));
    run_handoff_clear(&back);
    config_free(cfg);
    remove_config(dir);
}

/* The child loads what the parent validated, whatever the disk says now:
 * an edit that breaks datastores.yaml (a ${VAR} this environment lacks in
 * a key that is not deferred) or removes the pipeline changes nothing. */
static void test_snapshot_ignores_the_files_on_disk(void **state) {
    (void)state;
    char dir[] = "/tmp/synctool-handoff-XXXXXX";
    config *cfg = sample_config(dir);
    queue_job j = sample_job();
    int fd = -1;
    st_error err;
    assert_int_equal(run_handoff_write(&j, cfg, &fd, &err), ST_OK);
    write_text(dir, "datastores.yaml", "datastores: [this is not, valid: {\n");
    write_text(dir, "pipelines/orders.yaml", "name: renamed\n");
    run_handoff h;
    assert_int_equal(run_handoff_read(fd, &h, &err), ST_OK);
    close(fd);
    config *child = NULL;
    config_problems probs = {0};
    assert_int_equal(config_load_snapshot(&child, h.dir, h.files, h.nfiles, &probs, &err),
                     ST_OK);
    assert_int_equal(probs.n, 0);
    assert_int_equal(child->npipelines, 1);
    assert_non_null(config_pipeline_find(child, "orders_sync"));
    assert_true(burl_equal(&child->state_url, &cfg->state_url));
    char want[600];
    snprintf(want, sizeof want, "%s/data/dst.db", cfg->dir);
    assert_string_equal(config_datastore_find(child, "dst")->path, want);
    /* and a fresh load from the disk would have failed */
    config *disk = NULL;
    assert_int_equal(config_load(&disk, dir, NULL, &err), ST_EINVAL);
    config_free(child);
    run_handoff_clear(&h);
    config_free(cfg);
    remove_config(dir);
}

/* A snapshot that lacks datastores.yaml is a problem, not a disk read. */
static void test_snapshot_without_datastores_is_refused(void **state) {
    (void)state;
    config_source f = {.rel = "pipelines/x.yaml", .text = "name: x\n", .len = 8};
    config *cfg = NULL;
    st_error err;
    assert_int_equal(config_load_snapshot(&cfg, "/tmp", &f, 1, NULL, &err), ST_EINVAL);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "datastores.yaml"));
}

/* Through a detached child's stdin: sh copies it to a file. */
static void test_job_travels_on_the_childs_stdin(void **state) {
    (void)state;
    char dir[] = "/tmp/synctool-handoff-XXXXXX";
    config *cfg = sample_config(dir);
    char path[] = "/tmp/synctool-job-XXXXXX";
    int tfd = mkstemp(path);
    assert_true(tfd >= 0);
    close(tfd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cat > %s.tmp && mv %s.tmp %s.done", path, path, path);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    queue_job j = sample_job();
    run_handoff back;
    int fd = -1;
    st_error err;
    assert_int_equal(run_handoff_write(&j, cfg, &fd, &err), ST_OK);
    assert_int_equal(run_spawn_argv(argv, fd, RUN_SPAWN_DETACHED, NULL, &err), ST_OK);
    close(fd);
    char done[64];
    snprintf(done, sizeof done, "%s.done", path);
    int in = -1;
    for (int i = 0; i < 3000 && in < 0; i++) {   /* up to 30 s: a generous bound */
        in = open(done, O_RDONLY);
        if (in < 0) nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    assert_true(in >= 0);
    assert_int_equal(run_handoff_read(in, &back, &err), ST_OK);
    close(in);
    unlink(done);
    unlink(path);
    assert_string_equal(back.job.enqueue_owner, j.enqueue_owner);
    assert_int_equal(back.nfiles, 2);
    run_handoff_clear(&back);
    config_free(cfg);
    remove_config(dir);
}

/* Anything else on stdin is refused, naming what was expected. */
static void test_job_read_refuses_garbage(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *bad = "synctool-job 1\norders\n\n42\n";
    assert_int_equal(write(fds[1], bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fds[1]);
    run_handoff back;
    st_error err;
    assert_int_equal(run_handoff_read(fds[0], &back, &err), ST_EINVAL);
    assert_null(back.files);
    close(fds[0]);
    assert_non_null(strstr(err.msg, "no valid job on standard input"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_failure_is_reported),
        cmocka_unit_test(test_good_spawn_runs_detached),
        cmocka_unit_test(test_job_handoff_round_trip),
        cmocka_unit_test(test_snapshot_ignores_the_files_on_disk),
        cmocka_unit_test(test_snapshot_without_datastores_is_refused),
        cmocka_unit_test(test_job_travels_on_the_childs_stdin),
        cmocka_unit_test(test_job_read_refuses_garbage),
    };
    return cmocka_run_group_tests_name("TestProcSpawn", tests, NULL, NULL);
}
