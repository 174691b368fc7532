/*
 * synct_env — see synct_env.h. Values are chosen to break naive copies:
 * NULLs everywhere except the key, '' vs NULL, separators and escapes in
 * text, 24-digit numerics (15 when SQLite is a side), timestamps written with random zone offsets and
 * microseconds, floats with exponent spellings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "synct_env.h"
#include "sync_io.h"
#include "url_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int synct_seq;

static uint64_t rnd(synct_env *e) {
    e->rng ^= e->rng << 13;
    e->rng ^= e->rng >> 7;
    e->rng ^= e->rng << 17;
    return e->rng;
}

static void pg_datastore(config_datastore *d, const char *name) {
    const char *host = getenv("SYNCTOOL_TEST_PG_HOST"), *port = getenv("SYNCTOOL_TEST_PG_PORT");
    if (host == NULL || port == NULL)
        fail_msg("SYNCTOOL_TEST_PG_* not set: run the unit tests under scripts/with-servers "
                 "(make unit does)");
    d->name = (char *)name;
    d->type = CONFIG_DS_POSTGRES;
    d->host = (char *)host;
    d->port = atoi(port);
    d->user = getenv("SYNCTOOL_TEST_PG_USER");
    d->password = getenv("SYNCTOOL_TEST_PG_PASSWORD");
    d->dbname = getenv("SYNCTOOL_TEST_PG_DBNAME");
}

void synct_mysql_datastore(config_datastore *d, const char *name) {
    const char *host = getenv("SYNCTOOL_TEST_MYSQL_HOST"), *port = getenv("SYNCTOOL_TEST_MYSQL_PORT");
    if (host == NULL || port == NULL)
        fail_msg("SYNCTOOL_TEST_MYSQL_* not set: run the unit tests under scripts/with-servers "
                 "(make unit does)");
    *d = (config_datastore){.name = (char *)name, .type = CONFIG_DS_MYSQL, .host = (char *)host,
                            .port = atoi(port), .user = getenv("SYNCTOOL_TEST_MYSQL_USER"),
                            .password = getenv("SYNCTOOL_TEST_MYSQL_PASSWORD"),
                            .dbname = getenv("SYNCTOOL_TEST_MYSQL_DBNAME")};
}

static const char *col_names[SYNCT_NCOLS] = {"id", "name", "amount", "updated_at", "flag", "note", "ratio"};
static const char *col_types[SYNCT_NCOLS] = {"bigint", "text", "numeric(30,6)", "timestamptz",
                                             "boolean", "text", "double precision"};

static void create_source(synct_env *e) {
    char sql[512];
    if (e->ds[0].type == CONFIG_DS_POSTGRES)
        snprintf(sql, sizeof sql, "CREATE TABLE \"%s\".src_t (id bigint PRIMARY KEY, name text, "
                 "amount numeric(30,6), updated_at timestamptz, flag boolean, note text, "
                 "ratio double precision)", e->schemas[0]);
    else
        snprintf(sql, sizeof sql, "CREATE TABLE src_t (id INTEGER PRIMARY KEY, name TEXT, "
                 "amount TEXT, updated_at TEXT, flag INTEGER, note TEXT, ratio REAL)");
    synct_exec(e, 0, sql);
}

static void setup_side(synct_env *e, int side, bool pg) {
    static const char *names[2] = {"src_ds", "dst_ds"};
    st_error err;
    if (pg) {
        pg_datastore(&e->ds[side], names[side]);
        snprintf(e->schemas[side], sizeof e->schemas[side], "synct_%d_%d_%c", (int)getpid(),
                 synct_seq, side ? 'd' : 's');
    } else {
        char dir[256];
        memcpy(dir, e->dir, sizeof dir);
        snprintf(e->paths[side], sizeof e->paths[side], "%s/%s.db", dir, names[side]);
        e->ds[side] = (config_datastore){.name = (char *)names[side], .type = CONFIG_DS_SQLITE,
                                         .path = e->paths[side]};
        snprintf(e->schemas[side], sizeof e->schemas[side], "main");
    }
    if (store_open(&e->admin[side], &e->ds[side], &err) != 0) fail_msg("%s", err.msg);
    if (pg) {
        char sql[160];
        snprintf(sql, sizeof sql, "CREATE SCHEMA \"%s\"", e->schemas[side]);
        synct_exec(e, side, sql);
    }
}

void synct_setup(synct_env *e, bool src_pg, bool dst_pg, config_strategy_type type) {
    memset(e, 0, sizeof *e);
    synct_seq++;
    e->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)synct_seq;
    e->clock_us = 1760486400LL * 1000000;  /* 2025-10-15T00:00:00Z */
    snprintf(e->dir, sizeof e->dir, "/tmp/synct-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    setup_side(e, 0, src_pg);
    setup_side(e, 1, dst_pg);
    for (int i = 0; i < SYNCT_NCOLS; i++)
        e->cols[i] = (config_column){.name = (char *)col_names[i], .type = (char *)col_types[i],
                                     .key = i == 0};
    e->strat = (config_strategy){.name = "strat", .type = type, .enabled = true,
                                 .cursor = type == CONFIG_STRATEGY_DELTA ? "updated_at" : NULL,
                                 .batch_size = 37, .segment_rows = 8};
    e->p = (config_pipeline){.name = "synct_pipe", .columns = e->cols, .ncolumns = SYNCT_NCOLS,
                             .strategies = &e->strat, .nstrategies = 1};
    e->p.source = (config_endpoint){.datastore = "src_ds", .schema = e->schemas[0], .table = "src_t"};
    e->p.destination = (config_endpoint){.datastore = "dst_ds", .schema = e->schemas[1],
                                         .table = "dst_t"};
    char dir[256];
    memcpy(dir, e->dir, sizeof dir);
    snprintf(e->state_url, sizeof e->state_url, "sqlite:%s/state.db", dir);
    e->cfg = (config){.dir = e->dir, .datastores = e->ds, .ndatastores = 2,
                      .pipelines = &e->p, .npipelines = 1};
    st_error err;
    e->cfg.state_url = burl_of(e->state_url);
    if (state_open(&e->st, &e->cfg.state_url, &err) != 0) fail_msg("state: %s", err.msg);
    create_source(e);
    if (sync_ddl_apply(&e->cfg, &e->p, &err) != 0) fail_msg("ddl: %s", err.msg);
}

void synct_teardown(synct_env *e) {
    for (int side = 0; side < 2; side++) {
        if (e->ds[side].type == CONFIG_DS_POSTGRES && e->admin[side]) {
            char sql[160];
            snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", e->schemas[side]);
            store_exec(e->admin[side], sql, 0, NULL, NULL, NULL);
        }
        store_close(e->admin[side]);
        e->admin[side] = NULL;
        if (e->paths[side][0]) unlink(e->paths[side]);
    }
    state_close(e->st);
    char p[320];
    snprintf(p, sizeof p, "%s/state.db", e->dir);
    unlink(p);
    rmdir(e->dir);
}

void synct_exec(synct_env *e, int side, const char *sql) {
    st_error err;
    if (store_exec(e->admin[side], sql, 0, NULL, NULL, &err) != 0) fail_msg("%s: %s", sql, err.msg);
}

static void src_table(synct_env *e, char *buf, size_t n) {
    snprintf(buf, n, "\"%s\".src_t", e->schemas[0]);
}

/* Random values for one row; ts advances so delta sees every change. */
static void random_row(synct_env *e, int64_t id, char bufs[SYNCT_NCOLS][96], const char *v[SYNCT_NCOLS]) {
    static const char *names[] = {"alice", "", "grüße ünïcødé 😀", "tab\there|pipe\\back",
                                  NULL, "quote \"'", "\\N", "line\nbreak"};
    /* SQLite holds a decimal as a number to 15 significant digits (a wider
     * one becomes the nearest REAL, docs/configuration.md): 24 digits only
     * between PostgreSQL tables. */
    static const char *amounts[] = {NULL, "0", "12.50", "-0.000001",
                                    "123456789012345678901234.123456", "99999.999999"};
    static const char *amounts_sqlite[] = {NULL, "0", "12.50", "-0.000001",
                                           "-123456789.123456", "99999.999999"};
    bool any_sqlite = e->ds[0].type == CONFIG_DS_SQLITE || e->ds[1].type == CONFIG_DS_SQLITE;
    static const char *zones[] = {"Z", "+02:00", "-05:30", "+14:00"};
    static const char *ratios[] = {NULL, "0.1", "2.5", "1e+20", "-3.25", "1e-05"};
    static const char *flags[] = {"1", "0", NULL};
    snprintf(bufs[0], 96, "%lld", (long long)id);
    v[0] = bufs[0];
    v[1] = names[rnd(e) % 8];
    v[2] = (any_sqlite ? amounts_sqlite : amounts)[rnd(e) % 6];
    e->clock_us += 1 + (int64_t)(rnd(e) % 5000000);
    const char *z = zones[rnd(e) % 4];
    int off = z[0] == 'Z' ? 0 : (z[0] == '-' ? -1 : 1) * (atoi(z + 1) * 60 + atoi(z + 4));
    int64_t local = e->clock_us + (int64_t)off * 60 * 1000000;
    time_t secs = (time_t)(local / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(bufs[3], 96, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long long)(local % 1000000), z);
    v[3] = (!e->no_null_cursor && rnd(e) % 10 == 0) ? NULL : bufs[3];
    v[4] = flags[rnd(e) % 3];
    v[5] = rnd(e) % 3 == 0 ? NULL : rnd(e) % 2 ? "" : "note ✓";
    v[6] = ratios[rnd(e) % 6];
}

static void write_row(synct_env *e, const char *verb, int64_t id) {
    char bufs[SYNCT_NCOLS][96], t[96], sql[512];
    const char *v[SYNCT_NCOLS];
    random_row(e, id, bufs, v);
    src_table(e, t, sizeof t);
    char pp = store_param_prefix(e->admin[0]);
    if (strcmp(verb, "insert") == 0)
        snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (%c1, %c2, %c3, %c4, %c5, %c6, %c7)", t,
                 pp, pp, pp, pp, pp, pp, pp);
    else
        snprintf(sql, sizeof sql, "UPDATE %s SET name = %c2, amount = %c3, updated_at = %c4, "
                 "flag = %c5, note = %c6, ratio = %c7 WHERE id = %c1", t, pp, pp, pp, pp, pp, pp, pp);
    st_error err;
    if (store_exec(e->admin[0], sql, SYNCT_NCOLS, v, NULL, &err) != 0) fail_msg("%s: %s", sql, err.msg);
}

void synct_insert(synct_env *e, int64_t id) { write_row(e, "insert", id); }
void synct_update(synct_env *e, int64_t id) { write_row(e, "update", id); }

void synct_delete(synct_env *e, int64_t id) {
    char t[96], sql[256];
    src_table(e, t, sizeof t);
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = %lld", t, (long long)id);
    synct_exec(e, 0, sql);
}

int64_t synct_count(synct_env *e, int side) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\".%s", e->schemas[side], side ? "dst_t" : "src_t");
    store_reader *r = NULL;
    st_error err;
    if (store_query(e->admin[side], &r, sql, 0, NULL, &err) != 0) fail_msg("%s", err.msg);
    const char *const *row;
    int nc;
    assert_int_equal(store_next(e->admin[side], r, &row, &nc, &err), 1);
    int64_t n = strtoll(row[0], NULL, 10);
    store_reader_close(e->admin[side], r);
    return n;
}

/* Canonical rows of one side, ordered by id, as one newline-joined text. */
static char *dump(synct_env *e, int side) {
    char rest[160];
    snprintf(rest, sizeof rest, "\"%s\".%s AS t ORDER BY t.id", e->schemas[side],
             side ? "dst_t" : "src_t");
    return syncio_canon_rows(e->admin[side], col_names, col_types, SYNCT_NCOLS, rest);
}

void synct_assert_equal(synct_env *e, bool exact) {
    char *a = dump(e, 0), *b = dump(e, 1);
    if (exact) syncio_assert_same(a, b);
    else syncio_assert_lines_in(a, b, "source row missing in destination");
    free(a);
    free(b);
}

int synct_run(synct_env *e, state_stats *stats, st_error *err, const char *fence_key,
              int64_t token, atomic_int *cancel) {
    sync_opts o = {.cfg = &e->cfg, .pipeline = &e->p, .strategy = &e->strat, .st = e->st,
                   .fence_key = fence_key, .fence_token = token, .cancel = cancel,
                   .now = 1760522760LL * 1000000};
    return sync_run(&o, stats, err);
}
