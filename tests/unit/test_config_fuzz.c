/*
 * test_config_fuzz — config_load() on thousands of mutated configs.
 *
 * Starts from a valid datastores.yaml + pipeline file (the quickstart plus
 * a postgres datastore, env references and block-style YAML, so every code
 * path is reachable), and for each round applies a few random mutations
 * with a seeded xorshift PRNG: byte flips, truncation, deletion, and
 * insertion of YAML-significant fragments ("{", "- ", "&a", "*a", "${",
 * tabs, NUL and invalid UTF-8). The result is written to a temporary
 * directory and loaded under ASan/UBSan.
 *
 * The invariant checked is the contract of config_load(): either 0 with a
 * config and no problems, or ST_EINVAL with no config and at least one
 * problem, every problem formatted "file:line:col: message" with line and
 * col >= 1. A crash, leak or sanitizer report fails the binary. The seed is
 * fixed so a failure reproduces; the round count keeps it well under 10 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../src/config/config.h"

#define ROUNDS 3000

static const char DS[] =
    "# datastores\n"
    "datastores:\n"
    "  shop:      {type: sqlite, path: data/shop.db}\n"
    "  warehouse: {type: sqlite, path: \"${ST_FUZZ_DIR:data}/warehouse.db\"}\n"
    "  pg:\n"
    "    type: postgres\n"
    "    connection: {host: localhost, port: 5432, user: app, password: \"${ST_FUZZ_PW:x}\","
    " dbname: shop, sslmode: prefer}\n"
    "state: {url: \"sqlite:.synctool/state.db\"}\n";

static const char PIPE[] =
    "name: orders_sync\n"
    "description: copies orders\n"
    "source:      {datastore: shop, table: orders}\n"
    "destination:\n"
    "  datastore: warehouse\n"
    "  schema: main\n"
    "  table: orders\n"
    "columns:\n"
    "  - {name: id, type: bigint, key: true}\n"
    "  - {name: total, type: \"numeric(12,2)\", dest: amount}\n"
    "  - name: updated_at\n"
    "    type: timestamptz\n"
    "strategies:\n"
    "  - {name: delta_15m,   type: delta, cursor: updated_at, cron: \"*/15 * * * *\","
    " lookback_seconds: 60}\n"
    "  - {name: hash_daily,  type: hash,  cron: \"0 2 * * *\", timezone: Europe/Berlin,"
    " segment_rows: 500}\n"
    "  - name: full_weekly\n"
    "    type: full\n"
    "    cron: \"0 0 * * 0\"\n"
    "    enabled: true\n"
    "locks: {wait_for_pipeline_lock: false, pipeline_lock_wait_timeout: 60,\n"
    "        wait_for_table_lock: false, table_lock_wait_timeout: 30, lease_ttl_seconds: 30}\n"
    "retry: {max_retry_count: 3, safe_fallback_window_minutes: 30, schedule_buffer_seconds: 60}\n";

static const char *const FRAGMENTS[] = {
    "{", "}", "[", "]", ":", ": ", "- ", "\n", "\n  ", "\t", "\"", "'", "&a ", "*a", "!!str ",
    "${", "${X}", "${ST_FUZZ_UNSET}", "}", "#", "---\n", "...\n", "? ", "|\n  ", ">-\n ",
    ",", "\xff\xfe", "\xc3", "\0", "~", "null", "true", "-1", "99999999999999999999",
    "name: x\n", "key: true", "type: delta", "cursor: nope", "\\u0000", "\r\n", "%YAML 1.1\n",
    "<<: *a\n", "- - - -", "{{{{{{{{{{", "[[[[[[[[[[",
};

static uint64_t rng_state;

static uint64_t rng(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* One mutation of buf (len bytes, capacity cap). Returns the new length. */
static size_t mutate(char *buf, size_t len, size_t cap) {
    size_t pos = len ? (size_t)(rng() % len) : 0;
    switch (rng() % 5) {
    case 0: /* flip bits of one byte */
        if (len) buf[pos] ^= (char)(1u << (rng() % 8));
        return len;
    case 1: /* truncate */
        return pos;
    case 2: { /* delete a run */
        size_t n = 1 + (size_t)(rng() % 16);
        if (pos + n > len) n = len - pos;
        memmove(buf + pos, buf + pos + n, len - pos - n);
        return len - n;
    }
    default: { /* insert a fragment (or a random byte) */
        char one[1] = {(char)rng()};
        const char *f = FRAGMENTS[rng() % (sizeof FRAGMENTS / sizeof FRAGMENTS[0])];
        size_t n = (rng() % 4 == 0) ? 1 : (f[0] ? strlen(f) : 1);
        if (n == 1 && f[0] && rng() % 2) f = one;
        if (len + n > cap) return len;
        memmove(buf + pos + n, buf + pos, len - pos);
        memcpy(buf + pos, f, n);
        return len + n;
    }
    }
}

static void write_bytes(const char *path, const char *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void check_result(int rc, const config *cfg, const config_problems *probs,
                         unsigned round) {
    if (rc == 0) {
        assert_non_null(cfg);
        assert_int_equal(probs->n, 0);
        return;
    }
    if (rc != ST_EINVAL || probs->n == 0 || cfg != NULL) {
        print_message("round %u: rc=%d problems=%zu\n", round, rc, probs->n);
        fail();
    }
    for (size_t i = 0; i < probs->n; i++) {
        const config_problem *p = &probs->details[i];
        assert_true(p->line >= 1 && p->col >= 1);
        char prefix[PATH_MAX + 64];
        snprintf(prefix, sizeof prefix, "%s:%d:%d: ", p->file, p->line, p->col);
        assert_int_equal(strncmp(probs->items[i], prefix, strlen(prefix)), 0);
        assert_true(strlen(p->message) > 0);
    }
}

static void test_mutated_configs(void **state) {
    (void)state;
    char dir[] = "/tmp/test_config_fuzz.XXXXXX", path[PATH_MAX];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pipelines", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    rng_state = 0x9E3779B97F4A7C15ull;
    static char ds[4096], pipe[8192];
    unsigned ok = 0, invalid = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned round = 0; round < ROUNDS; round++) {
        size_t dlen = sizeof DS - 1, plen = sizeof PIPE - 1;
        memcpy(ds, DS, dlen);
        memcpy(pipe, PIPE, plen);
        unsigned which = (unsigned)(rng() % 4), n = 1 + (unsigned)(rng() % 4);
        for (unsigned k = 0; k < n; k++) {
            if (which != 1) dlen = which == 0 || rng() % 2 ? mutate(ds, dlen, sizeof ds) : dlen;
            if (which != 0) plen = mutate(pipe, plen, sizeof pipe);
        }
        snprintf(path, sizeof path, "%s/datastores.yaml", dir);
        write_bytes(path, ds, dlen);
        snprintf(path, sizeof path, "%s/pipelines/orders.yaml", dir);
        write_bytes(path, pipe, plen);
        config *cfg = NULL;
        config_problems probs = {0};
        st_error err;
        int rc = config_load(&cfg, dir, &probs, &err);
        check_result(rc, cfg, &probs, round);
        rc == 0 ? ok++ : invalid++;
        config_problems_clear(&probs);
        config_free(cfg);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("%u rounds: %u valid, %u invalid, %.2f s (%.0f loads/s under ASan)\n", ROUNDS,
                  ok, invalid, secs, ROUNDS / secs);
    /* The mutations must exercise both outcomes, or the test proves little. */
    assert_true(ok > 0);
    assert_true(invalid > ROUNDS / 2);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Pure random bytes: the parser must refuse them without crashing. */
static void test_random_bytes(void **state) {
    (void)state;
    char dir[] = "/tmp/test_config_fuzz.XXXXXX", path[PATH_MAX];
    assert_non_null(mkdtemp(dir));
    rng_state = 0xD1B54A32D192ED03ull;
    static char buf[512];
    for (unsigned round = 0; round < 1000; round++) {
        size_t len = (size_t)(rng() % sizeof buf);
        for (size_t i = 0; i < len; i++) buf[i] = (char)rng();
        snprintf(path, sizeof path, "%s/datastores.yaml", dir);
        write_bytes(path, buf, len);
        config *cfg = NULL;
        config_problems probs = {0};
        int rc = config_load(&cfg, dir, &probs, NULL);
        check_result(rc, cfg, &probs, round);
        config_problems_clear(&probs);
        config_free(cfg);
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
    setenv("ST_FUZZ_PW", "pw", 1);
    unsetenv("ST_FUZZ_UNSET");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutated_configs),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
