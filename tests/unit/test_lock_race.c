/*
 * test_lock_race — mutual exclusion across processes with the real lock code.
 *
 * 8 forked processes make 50 attempts each at one pipeline lock, against
 * SQLite (one file, as on one host), the redis-server named by
 * SYNCTOOL_TEST_REDIS_URL and the PostgreSQL of SYNCTOOL_TEST_PG_* (a
 * fresh schema, created before the children race, dropped after). Whoever gets the lock checks, under the lock,
 * through a shared file, that nobody else is inside: it reads the file (must
 * be 0), writes its pid, pauses, reads it back (must still be its pid),
 * writes 0, and appends its fencing token to a log before releasing. The
 * parent then checks that no child saw a violation, that the lock was
 * actually taken many times, and that the logged fences — written in
 * acquisition order — strictly increase: two holders at once would break
 * at least one of these.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/lock/lock.h"
#include "support/pg_url.h"
#include "support/url_open.h"

#define NPROC 8
#define NATTEMPTS 50

typedef struct race {
    char url[512];
    char key[320];
    char shared[256], fences[256];
} race;

static void nap_us(long us) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};
    nanosleep(&ts, NULL);
}

/* Under the lock: the shared file must be ours alone. Returns 0 or 1. */
static int critical_section(const race *r, const lock_handle *h) {
    int fd = open(r->shared, O_RDWR);
    int fl = open(r->fences, O_WRONLY | O_APPEND);
    if (fd < 0 || fl < 0) return 1;
    int32_t v = -1, me = (int32_t)getpid(), zero = 0;
    int bad = 0;
    if (pread(fd, &v, sizeof v, 0) != sizeof v || v != 0) bad = 1;
    if (pwrite(fd, &me, sizeof me, 0) != sizeof me) bad = 1;
    nap_us(300);
    if (pread(fd, &v, sizeof v, 0) != sizeof v || v != me) bad = 1;
    if (pwrite(fd, &zero, sizeof zero, 0) != sizeof zero) bad = 1;
    char line[32];
    int n = snprintf(line, sizeof line, "%lld\n", (long long)h->fence);
    if (write(fl, line, (size_t)n) != n) bad = 1;
    close(fd);
    close(fl);
    return bad;
}

/* Exit codes: 0 fine, 1 exclusion violated, 2 backend error. */
static int child(const race *r) {
    lock_manager *lm = NULL;
    if (lock_open_url(&lm, r->url, NULL) != ST_OK) return 2;
    int rc = 0;
    for (int i = 0; i < NATTEMPTS && rc == 0; i++) {
        lock_handle h;
        int a = lock_acquire(lm, r->key, LOCK_EXCLUSIVE, 10000, &h, NULL);
        if (a == ST_EBUSY) {
            nap_us(200 + (getpid() % 7) * 100);
            continue;
        }
        if (a != ST_OK) { rc = 2; break; }
        rc = critical_section(r, &h);
        if (lock_release(lm, &h, NULL) != ST_OK) rc = rc ? rc : 2;
    }
    lock_close(lm);
    return rc;
}

static void run_race(race *r) {
    snprintf(r->shared, sizeof r->shared, "/tmp/synctool-race-%d-shared", (int)getpid());
    snprintf(r->fences, sizeof r->fences, "/tmp/synctool-race-%d-fences", (int)getpid());
    int fd = open(r->shared, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int32_t zero = 0;
    assert_int_equal(pwrite(fd, &zero, sizeof zero, 0), sizeof zero);
    close(fd);
    close(open(r->fences, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    fflush(NULL);
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) _exit(child(r));
    }
    for (int i = 0; i < NPROC; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    FILE *f = fopen(r->fences, "r");
    assert_non_null(f);
    long long prev = 0, fence;
    int count = 0;
    while (fscanf(f, "%lld", &fence) == 1) {
        assert_true(fence > prev);
        prev = fence;
        count++;
    }
    fclose(f);
    unlink(r->shared);
    unlink(r->fences);
    print_message("%d acquisitions by %d processes x %d attempts\n", count, NPROC, NATTEMPTS);
    /* the lock was really taken, and really contended (some attempts busy) */
    assert_true(count >= NPROC);
    assert_true(count < NPROC * NATTEMPTS);
}

static void test_race_sqlite(void **state) {
    (void)state;
    race r = {0};
    char path[] = "/tmp/synctool-race-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(r.url, sizeof r.url, "sqlite:%s", path);
    snprintf(r.key, sizeof r.key, "synctool:exec:pipeline:race");
    lock_manager *lm = NULL; /* create the schema before the children race */
    assert_int_equal(lock_open_url(&lm, r.url, NULL), 0);
    lock_close(lm);
    run_race(&r);
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static void test_race_redis(void **state) {
    (void)state;
    const char *url = getenv("SYNCTOOL_TEST_REDIS_URL");
    if (url == NULL || url[0] == '\0')
        fail_msg("SYNCTOOL_TEST_REDIS_URL is not set: run under scripts/with-servers");
    race r = {0};
    snprintf(r.url, sizeof r.url, "%s", url);
    snprintf(r.key, sizeof r.key, "synctool:exec:pipeline:race_%ld_%d", (long)time(NULL),
             (int)getpid());
    run_race(&r);
}

static void test_race_pg(void **state) {
    (void)state;
    race r = {0};
    char schema[64];
    pg_test_schema(schema, sizeof schema, "racet");
    if (pg_test_url(r.url, sizeof r.url, schema) != 0)
        fail_msg("SYNCTOOL_TEST_PG_* is not set: run under scripts/with-servers");
    snprintf(r.key, sizeof r.key, "synctool:exec:pipeline:race");
    lock_manager *lm = NULL; /* create the schema before the children race */
    st_error err;
    if (lock_open_url(&lm, r.url, &err) != 0) fail_msg("%s", err.msg);
    lock_close(lm);
    run_race(&r);
    pg_drop_schema(schema);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_race_sqlite),
        cmocka_unit_test(test_race_redis),
        cmocka_unit_test(test_race_pg),
    };
    return cmocka_run_group_tests_name("LockRace", tests, NULL, NULL);
}
