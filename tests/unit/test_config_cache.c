/*
 * test_config_cache — config_load_cached (config_cache.c): a cached parse
 * is the same config as a fresh one, and it is never served stale: an edit
 * that keeps the size and the mtime (set back with utimensat), an added or
 * removed pipeline file, an edited datastores.yaml, a torn cache file, and
 * pipelines that depend on the environment are all seen at once.
 *
 * A cache is written only once every file's ctime is older than the cache's
 * temporary file (the "racily clean" rule), so right after a test writes
 * its files the first loads may parse in full without writing; load_until
 * loads again until the cache is written — it waits on that state change
 * (a clock tick of the filesystem), never sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/json/json.h"
#include "../../src/view/view.h"

typedef struct tdir {
    char path[256];
} tdir;

static void put_file(const tdir *t, const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", t->path, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *DS =
    "datastores:\n"
    "  src: {type: sqlite, path: src.db}\n"
    "  dst: {type: sqlite, path: dst.db}\n";

/* A pipeline using most of what a pipeline can say. */
static const char *RICH =
    "name: rich\n"
    "description: every member\n"
    "source: {datastore: src, table: orders, where: \"id > 0\"}\n"
    "destination: {datastore: dst, schema: main, table: orders_copy}\n"
    "columns:\n"
    "  - {name: id, type: bigint, key: true}\n"
    "  - {name: total, type: \"numeric(12,2)\", dest: amount}\n"
    "  - {name: views, type: bigint, compare: false}\n"
    "  - {name: doubled, type: bigint, expr: \"id * 2\"}\n"
    "  - {name: updated_at, type: timestamptz}\n"
    "strategies:\n"
    "  - {name: d, type: delta, cursor: updated_at, cron: \"*/5 * * * *\", lookback_seconds: 30}\n"
    "  - {name: h, type: hash, cron: \"0 2 * * *\", timezone: Europe/Berlin, segment_rows: 500}\n"
    "  - {name: f, type: full, cron: \"0 0 * * 0\", enabled: false, batch_size: 77}\n"
    "locks: {wait_for_pipeline_lock: true, pipeline_lock_wait_timeout: 12, lease_ttl_seconds: 9}\n"
    "retry: {max_retry_count: 5, safe_fallback_window_minutes: 7, schedule_buffer_seconds: 8}\n"
    "freshness: {warn_after: 2h, error_after: 6h}\n";

static const char *pipe_text(const char *name, const char *cron) {
    static char buf[600];
    snprintf(buf, sizeof buf,
             "name: %s\n"
             "source: {datastore: src, table: t_%s}\n"
             "destination: {datastore: dst, table: t_%s}\n"
             "columns:\n"
             "  - {name: id, type: bigint, key: true}\n"
             "strategies:\n"
             "  - {name: full, type: full, cron: \"%s\"}\n",
             name, name, name, cron);
    return buf;
}

static int setup(void **state) {
    tdir *t = calloc(1, sizeof *t);
    snprintf(t->path, sizeof t->path, "/tmp/synctool-cfgcache-XXXXXX");
    assert_non_null(mkdtemp(t->path));
    char p[512];
    snprintf(p, sizeof p, "%s/pipelines", t->path);
    assert_int_equal(mkdir(p, 0700), 0);
    put_file(t, "datastores.yaml", DS);
    put_file(t, "pipelines/a.yaml", pipe_text("a", "*/5 * * * *"));
    put_file(t, "pipelines/rich.yaml", RICH);
    unsetenv("SYNCTOOL_CONFIG_CACHE");
    *state = t;
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int teardown(void **state) {
    tdir *t = *state;
    nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

static config *load(const tdir *t, config_cache_how *how) {
    config *cfg = NULL;
    config_problems probs = {0};
    st_error err;
    int rc = config_load_cached(&cfg, t->path, &probs, how, &err);
    if (rc != ST_OK) print_message("load: %s\n", err.msg);
    assert_int_equal(rc, ST_OK);
    assert_int_equal(probs.n, 0);
    config_problems_clear(&probs);
    return cfg;
}

/* Loads until the cache is written (see the header; a hit also means an
 * earlier load wrote it), then once more, which must be a hit: returns
 * that config. */
static config *load_until_hit(const tdir *t) {
    config_cache_how how = CONFIG_CACHE_MISS;
    for (long i = 0; i < 10000000 && how == CONFIG_CACHE_MISS; i++) config_free(load(t, &how));
    assert_true(how == CONFIG_CACHE_WRITTEN || how == CONFIG_CACHE_HIT);
    config *cfg = load(t, &how);
    assert_int_equal(how, CONFIG_CACHE_HIT);
    return cfg;
}

/* Every pipeline as the API writes its config (a config-only view), plus
 * the members no JSON shows. */
static char *dump(const config *cfg) {
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        view_pipeline v;
        assert_int_equal(view_build(&v, cfg, p, NULL, false, 1767225600LL * 1000000), ST_OK);
        json_begin_object(&w);
        view_pipeline_fields(&w, &v);
        json_kv_int(&w, "line", p->line);
        json_kv_int(&w, "locks", p->locks.wait_for_pipeline_lock * 1000000 +
                                     p->locks.pipeline_lock_wait_timeout * 1000 +
                                     p->locks.lease_ttl_seconds);
        json_kv_int(&w, "retry", p->retry.max_retry_count * 1000000 +
                                     p->retry.safe_fallback_window_minutes * 1000 +
                                     p->retry.schedule_buffer_seconds);
        json_kv_int(&w, "warn", p->freshness.warn_after_s);
        for (size_t k = 0; k < p->nstrategies; k++) {
            const config_strategy *s = &p->strategies[k];
            json_kv_int(&w, "s", s->lookback_seconds * 1000000 + s->batch_size * 1000 +
                                     s->segment_rows + s->line * 7 + s->col);
        }
        for (size_t k = 0; k < p->ncolumns; k++) {
            const config_column *c = &p->columns[k];
            json_kv_string(&w, "c", c->expr ? c->expr : c->dest_name);
            json_kv_int(&w, "k", c->key * 100 + c->ignored * 10 + c->line);
        }
        json_end_object(&w);
        view_free(&v);
    }
    json_end_array(&w);
    char *s = strdup(w.buf);
    json_release(&w);
    return s;
}

static void test_hit_is_the_same_config(void **state) {
    tdir *t = *state;
    setenv("SYNCTOOL_CONFIG_CACHE", "0", 1);
    config_cache_how how;
    config *fresh = load(t, &how);
    assert_int_equal(how, CONFIG_CACHE_OFF);
    unsetenv("SYNCTOOL_CONFIG_CACHE");
    config *cached = load_until_hit(t);
    char *a = dump(fresh), *b = dump(cached);
    assert_string_equal(a, b);
    assert_int_equal(cached->npipelines, 2);
    assert_non_null(config_pipeline_find(cached, "rich"));
    assert_int_equal(cached->ndatastores, 2);
    free(a);
    free(b);
    config_free(fresh);
    config_free(cached);
}

static const char *cron_of(const config *cfg, const char *pipeline) {
    const config_pipeline *p = config_pipeline_find(cfg, pipeline);
    assert_non_null(p);
    return p->strategies[0].cron;
}

/* The same size, the same mtime (set back): only the ctime tells. */
static void test_edit_same_size_same_mtime(void **state) {
    tdir *t = *state;
    config_free(load_until_hit(t));
    char p[512];
    snprintf(p, sizeof p, "%s/pipelines/a.yaml", t->path);
    struct stat before, after;
    assert_int_equal(stat(p, &before), 0);
    put_file(t, "pipelines/a.yaml", pipe_text("a", "*/7 * * * *"));
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
    assert_int_equal(stat(p, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    config_cache_how how;
    config *cfg = load(t, &how);
    assert_int_not_equal(how, CONFIG_CACHE_HIT);
    assert_string_equal(cron_of(cfg, "a"), "*/7 * * * *");
    config_free(cfg);
    cfg = load_until_hit(t);
    assert_string_equal(cron_of(cfg, "a"), "*/7 * * * *");
    config_free(cfg);
}

static void test_added_and_removed_files(void **state) {
    tdir *t = *state;
    config_free(load_until_hit(t));
    put_file(t, "pipelines/b.yaml", pipe_text("b", "0 * * * *"));
    config_cache_how how;
    config *cfg = load(t, &how);
    assert_int_not_equal(how, CONFIG_CACHE_HIT);
    assert_int_equal(cfg->npipelines, 3);
    assert_string_equal(cron_of(cfg, "b"), "0 * * * *");
    config_free(cfg);
    config_free(load_until_hit(t));
    char p[512];
    snprintf(p, sizeof p, "%s/pipelines/a.yaml", t->path);
    assert_int_equal(unlink(p), 0);
    cfg = load(t, &how);
    assert_int_not_equal(how, CONFIG_CACHE_HIT);
    assert_int_equal(cfg->npipelines, 2);
    assert_null(config_pipeline_find(cfg, "a"));
    config_free(cfg);
}

/* A rename onto a file (editors' atomic save) is a new inode. */
static void test_renamed_over(void **state) {
    tdir *t = *state;
    config_free(load_until_hit(t));
    put_file(t, "pipelines/.a.yaml.tmp", pipe_text("a", "*/9 * * * *"));
    char from[512], to[512];
    snprintf(from, sizeof from, "%s/pipelines/.a.yaml.tmp", t->path);
    snprintf(to, sizeof to, "%s/pipelines/a.yaml", t->path);
    assert_int_equal(rename(from, to), 0);
    config_cache_how how;
    config *cfg = load(t, &how);
    assert_int_not_equal(how, CONFIG_CACHE_HIT);
    assert_string_equal(cron_of(cfg, "a"), "*/9 * * * *");
    config_free(cfg);
}

static void test_datastores_edit(void **state) {
    tdir *t = *state;
    config_free(load_until_hit(t));
    put_file(t, "datastores.yaml",
             "datastores:\n"
             "  src: {type: sqlite, path: src.db}\n"
             "  dst: {type: sqlite, path: dst.db}\n"
             "  more: {type: sqlite, path: more.db}\n");
    config_cache_how how;
    config *cfg = load(t, &how);
    assert_int_not_equal(how, CONFIG_CACHE_HIT);
    assert_int_equal(cfg->ndatastores, 3);
    config_free(cfg);
}

/* A torn or altered cache file is a miss, and the config is right. */
static void test_corrupt_cache(void **state) {
    tdir *t = *state;
    config_free(load_until_hit(t));
    char p[512];
    snprintf(p, sizeof p, "%s/.synctool/config.cache", t->path);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\xff\xfe", 2, sb.st_size / 2), 2);
    close(fd);
    config_cache_how how;
    config *cfg = load(t, &how);
    assert_int_not_equal(how, CONFIG_CACHE_HIT);
    assert_int_equal(cfg->npipelines, 2);
    config_free(cfg);
    config_free(load_until_hit(t));
    assert_int_equal(truncate(p, sb.st_size - 9), 0);
    cfg = load(t, &how);
    assert_int_not_equal(how, CONFIG_CACHE_HIT);
    assert_int_equal(cfg->npipelines, 2);
    config_free(cfg);
}

/* A pipeline file with ${VAR}: its value depends on the environment (and
 * may be a secret), so it is never cached and a change is seen at once. */
static void test_env_never_cached(void **state) {
    tdir *t = *state;
    put_file(t, "pipelines/a.yaml", pipe_text("a", "${TEST_CFGCACHE_CRON}"));
    setenv("TEST_CFGCACHE_CRON", "*/3 * * * *", 1);
    config_cache_how how = CONFIG_CACHE_HIT;
    config *cfg = NULL;
    for (int i = 0; i < 3; i++) {
        config_free(cfg);
        cfg = load(t, &how);
        assert_int_equal(how, CONFIG_CACHE_MISS);
    }
    assert_string_equal(cron_of(cfg, "a"), "*/3 * * * *");
    config_free(cfg);
    setenv("TEST_CFGCACHE_CRON", "*/4 * * * *", 1);
    cfg = load(t, &how);
    assert_string_equal(cron_of(cfg, "a"), "*/4 * * * *");
    config_free(cfg);
    unsetenv("TEST_CFGCACHE_CRON");
}

/* A config with problems is never cached: they are reported every time. */
static void test_problems_not_cached(void **state) {
    tdir *t = *state;
    put_file(t, "pipelines/bad.yaml", "name: bad\nsource: 7\n");
    for (int i = 0; i < 3; i++) {
        config *cfg = NULL;
        config_problems probs = {0};
        st_error err;
        config_cache_how how;
        assert_int_equal(config_load_cached(&cfg, t->path, &probs, &how, &err), ST_OK);
        assert_int_equal(how, CONFIG_CACHE_MISS);
        assert_true(probs.n > 0);
        assert_int_equal(cfg->npipelines, 2);
        config_problems_clear(&probs);
        config_free(cfg);
    }
}

/* The compiled crons a view borrows: one per distinct schedule, the same
 * answers as compiling each. */
static void test_strategy_cron(void **state) {
    tdir *t = *state;
    put_file(t, "pipelines/b.yaml", pipe_text("b", "*/5 * * * *"));
    config_cache_how how;
    config *cfg = load(t, &how);
    const config_pipeline *a = config_pipeline_find(cfg, "a"), *b = config_pipeline_find(cfg, "b");
    const config_pipeline *r = config_pipeline_find(cfg, "rich");
    const cron_expr *ca = config_strategy_cron(cfg, a, 0), *cb = config_strategy_cron(cfg, b, 0);
    assert_non_null(ca);
    assert_ptr_equal(ca, cb);   /* the same schedule: one cron */
    assert_ptr_equal(ca, config_strategy_cron(cfg, a, 0));
    const cron_expr *berlin = config_strategy_cron(cfg, r, 1);
    assert_non_null(berlin);
    assert_string_equal(cron_zone(berlin), "Europe/Berlin");
    assert_null(config_strategy_cron(cfg, a, 1));   /* no such strategy */
    config_pipeline copy = *a;
    assert_null(config_strategy_cron(cfg, &copy, 0));   /* not one of cfg's */
    config_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_is_the_same_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_same_size_same_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_added_and_removed_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renamed_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_datastores_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_never_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_problems_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strategy_cron, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
