/*
 * sync — sync_run(): one strategy of one pipeline, source to destination.
 *
 * This file sets a run up and tears it down; the strategies live in
 * sync_full.c, sync_delta.c, sync_hash.c and sync_cdc.c, the batch commit (fencing,
 * cancel) in sync_batch.c, DDL in sync_ddl.c.
 *
 * Setup, in order, each failure naming the datastore and table:
 *   1. resolve both datastores and build the two table specs (the config
 *      columns, source and destination names, kinds, keys);
 *   2. connect to both at once, the source in a thread (ST_EUNAVAIL for
 *      unreachable servers and refused credentials, the source's error
 *      first; never a password in the message); a full run between two
 *      tables of one SQLite file needs the file in WAL mode;
 *   3. check that the destination table exists ("run `synctool ddl apply`")
 *      and has every column, and the same for a source table;
 *   4. a fenced run: synctool_fence, its token above the destination's,
 *      older holders' sessions ended (sync_fence.c).
 * Nothing is written before all checks pass.
 *
 * Errors from the strategies are prefixed with "SRC -> DST" (datastore.
 * schema.table on both sides), except lock loss and stale fencing tokens,
 * whose messages are part of the interface and stay as they are.
 */
#include "sync_int.h"
#include "../log/log.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ctx_free(sync_ctx *c) {
    store_close(c->src);
    store_close(c->dst);
    free(c->scols);
    free(c->dcols);
    free(c->types);
    free(c->kinds);
    free(c->key);
    free(c->ignored);
    sync_batch_free(&c->batch);
}

static int ctx_columns(sync_ctx *c, const config_pipeline *p) {
    size_t n = p->ncolumns;
    c->ncols = n;
    c->scols = calloc(n, sizeof *c->scols);
    c->dcols = calloc(n, sizeof *c->dcols);
    c->types = calloc(n, sizeof *c->types);
    c->kinds = calloc(n, sizeof *c->kinds);
    c->key = calloc(n, sizeof *c->key);
    c->ignored = calloc(n, sizeof *c->ignored);
    if (!c->scols || !c->dcols || !c->types || !c->kinds || !c->key || !c->ignored)
        return st_error_set(c->err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        c->scols[i] = p->columns[i].name;
        c->dcols[i] = p->columns[i].dest_name ? p->columns[i].dest_name : p->columns[i].name;
        c->types[i] = p->columns[i].type;
        c->kinds[i] = store_kind_of(p->columns[i].type);
        c->key[i] = p->columns[i].key;
        c->ignored[i] = p->columns[i].ignored && !c->key[i];
        c->nkeys += c->key[i];
    }
    if (c->nkeys == 0)
        return st_error_set(c->err, ST_EINVAL, "pipeline '%s' has no key column", p->name);
    store_table base = {.ncols = n, .types = c->types, .kinds = c->kinds, .key = c->key,
                        .ignored = c->ignored};
    c->st = base;
    c->st.datastore = p->source.datastore;
    c->st.schema = p->source.schema;
    c->st.table = p->source.query ? NULL : p->source.table;
    c->st.query = p->source.query;
    c->st.cols = c->scols;
    c->dt = base;
    c->dt.datastore = p->destination.datastore;
    c->dt.schema = p->destination.schema;
    c->dt.table = p->destination.table;
    c->dt.cols = c->dcols;
    return ST_OK;
}

/* Every mapped column must exist in the table. */
static int check_table(sync_ctx *c, store *s, const store_table *t, bool dest) {
    store_column_info *info = NULL;
    size_t n = 0;
    int rc = store_describe(s, t->schema, t->table, &info, &n, c->err);
    if (rc == ST_ENOTFOUND && dest) {
        char msg[sizeof c->err->msg];
        memcpy(msg, c->err->msg, sizeof msg);
        return st_error_set(c->err, ST_ENOTFOUND, "%s: run `synctool ddl apply %s`", msg,
                            c->o->pipeline->name);
    }
    bool sqlite = strcmp(store_ops_of(s)->engine, "sqlite") == 0;
    for (size_t i = 0; rc == ST_OK && i < t->ncols; i++) {
        bool found = false;
        size_t j = 0;
        for (; j < n && !found; j++) found = strcmp(info[j].name, t->cols[i]) == 0;
        if (found && dest && sqlite &&
            sync_sqlite_legacy(t->kinds[i], sync_sqlite_affinity(info[j - 1].type)))
            log_warn(c->o->pipeline->name, c->o->strategy->name,
                     "datastore '%s': column '%s' of table %s.%s is %s, as earlier versions "
                     "made it, so SQLite compares its values as text: run synctool ddl apply "
                     "%s --migrate", store_name(s), t->cols[i], store_schema_shown(s, t->schema),
                     t->table, info[j - 1].type, c->o->pipeline->name);
        if (!found && dest)
            rc = st_error_set(c->err, ST_ENOTFOUND,
                              "datastore '%s': table %s.%s has no column '%s': run `synctool "
                              "ddl apply %s`",
                              store_name(s), store_schema_shown(s, t->schema), t->table, t->cols[i],
                              c->o->pipeline->name);
        else if (!found)
            rc = st_error_set(c->err, ST_ENOTFOUND, "datastore '%s': table %s.%s has no column '%s'",
                              store_name(s), store_schema_shown(s, t->schema), t->table, t->cols[i]);
    }
    free(info);
    return rc;
}

typedef struct open_job {
    const config_datastore *ds;
    store *s;
    st_error err;
    int rc;
} open_job;

static void *open_thread(void *arg) {
    open_job *j = arg;
    j->rc = store_open(&j->s, j->ds, &j->err);
    return NULL;
}

/* Connection set-up (TCP, TLS negotiation, SCRAM) is mostly waiting: the
 * two stores connect concurrently. */
static int open_both(sync_ctx *c, const config_datastore *sd, const config_datastore *dd) {
    open_job j = {.ds = sd};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, open_thread, &j) == 0;
    if (!threaded) open_thread(&j);
    st_error derr;
    int rc = store_open(&c->dst, dd, &derr);
    if (threaded) pthread_join(th, NULL);
    c->src = j.s;
    if (j.rc != ST_OK) {
        *c->err = j.err;
        return j.rc;
    }
    if (rc != ST_OK) *c->err = derr;
    return rc;
}

typedef struct side_call {
    sync_ctx *c;
    sync_side_fn fn;
    void *arg;
    st_error err;
    int rc;
} side_call;

static void *side_thread(void *arg) {
    side_call *j = arg;
    j->rc = j->fn(j->c, true, j->arg, &j->err);
    return NULL;
}

int sync_both_sides(sync_ctx *c, sync_side_fn fn, void *src_arg, void *dst_arg) {
    side_call j = {.c = c, .fn = fn, .arg = src_arg};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, side_thread, &j) == 0;
    if (!threaded) side_thread(&j);
    int rc = fn(c, false, dst_arg, c->err);
    if (threaded) pthread_join(th, NULL);
    if (rc == ST_OK && j.rc != ST_OK) {
        *c->err = j.err;
        rc = j.rc;
    }
    return rc;
}

/* A run that lost its lease while frozen mid-batch still holds its
 * destination transaction; these limits make the server end it (idle for
 * 2 leases) and make a newer run wait at most 4 leases for its rows, so the
 * newer run proceeds once the stale session is gone instead of hanging. */
static int limit_stale_sessions(sync_ctx *c, const config_pipeline *p) {
    int64_t lease = p->locks.lease_ttl_seconds > 0 ? p->locks.lease_ttl_seconds : 30;
    int64_t idle = lease * 2 < 10 ? 10 : lease * 2;
    return store_session_limits(c->dst, idle, idle * 3, c->err);
}

/* A full run keeps its source read open while batches commit. When source
 * and destination are tables of one SQLite file, only WAL lets a writer
 * commit past a reader; in any other journal mode the first commit would
 * wait out the busy timeout and fail with "database is locked". Refused
 * up front, naming the fix. */
static int check_shared_sqlite_file(sync_ctx *c, const config_datastore *sd,
                                    const config_datastore *dd) {
    char a[PATH_MAX], b[PATH_MAX];
    if (sd->type != CONFIG_DS_SQLITE || dd->type != CONFIG_DS_SQLITE) return ST_OK;
    if (realpath(sd->path, a) == NULL || realpath(dd->path, b) == NULL || strcmp(a, b) != 0)
        return ST_OK;
    sync_list l;
    int rc = sync_list_load(&l, c->dst, "PRAGMA journal_mode", 0, NULL, c->err);
    if (rc != ST_OK) return rc;
    char mode[32];
    snprintf(mode, sizeof mode, "%s", l.n == 1 && l.rows[0]->v[0] ? l.rows[0]->v[0] : "?");
    sync_list_free(&l);
    if (strcmp(mode, "wal") == 0) return ST_OK;
    return st_error_set(c->err, ST_EINVAL,
                        "datastores '%s' and '%s' are the same SQLite file %s, in journal mode "
                        "'%s': a full run reads the source while it commits to the destination, "
                        "which needs WAL (run once: sqlite3 %s 'PRAGMA journal_mode=WAL')",
                        sd->name, dd->name, config_datastore_shown(sd, sd->path), mode,
                        config_datastore_shown(sd, sd->path));
}

static int ctx_open(sync_ctx *c, const sync_opts *o) {
    const config_pipeline *p = o->pipeline;
    const config_datastore *sd = config_datastore_find(o->cfg, p->source.datastore);
    const config_datastore *dd = config_datastore_find(o->cfg, p->destination.datastore);
    if (sd == NULL || dd == NULL)
        return st_error_set(c->err, ST_ENOTFOUND, "pipeline '%s': datastore '%s' is not defined",
                            p->name, sd == NULL ? p->source.datastore : p->destination.datastore);
    int rc = ctx_columns(c, p);
    if (rc == ST_OK) rc = open_both(c, sd, dd);
    if (rc == ST_OK) { /* reads end on an interrupt (store.h, set_interrupt) */
        store_set_interrupt(c->src, o->interrupt);
        store_set_interrupt(c->dst, o->interrupt);
    }
    if (rc == ST_OK && o->strategy->type == CONFIG_STRATEGY_FULL)
        rc = check_shared_sqlite_file(c, sd, dd);
    if (rc == ST_OK) rc = limit_stale_sessions(c, p);
    if (rc == ST_OK && c->st.table) rc = check_table(c, c->src, &c->st, false);
    if (rc == ST_OK) rc = check_table(c, c->dst, &c->dt, true);
    if (rc == ST_OK) rc = sync_fence_setup(c);
    return rc;
}

static void name_tables(const sync_opts *o, char *buf, size_t n) {
    const config_pipeline *p = o->pipeline;
    snprintf(buf, n, "%s.%s.%s -> %s.%s.%s", p->source.datastore,
             config_schema_shown(&p->source),
             p->source.table ? p->source.table : "(query)", p->destination.datastore,
             config_schema_shown(&p->destination), p->destination.table);
}

/* Source row count for the ETA (sync_progress asks when it first needs
 * it). Asked on a connection of its own, opened for it and closed at once:
 * the run's source connection is then usually busy with a read (a cursor,
 * a COPY, a streamed result), on which no other statement may run (see
 * the audit in sync_progress.c). The driver's planner estimate reads no
 * rows (a slow view costs no more than a table); SQLite counts. A failure
 * leaves the total unknown, and the run goes on. */
int64_t sync_estimate_rows(sync_ctx *c) {
    const config_datastore *sd = config_datastore_find(c->o->cfg, c->o->pipeline->source.datastore);
    store *s = NULL;
    st_error e;
    int64_t n = 0;
    int rc = sd ? store_open(&s, sd, &e) : ST_ENOTFOUND;
    if (rc == ST_OK) {
        store_set_interrupt(s, c->o->interrupt);
        rc = store_estimate_rows(s, &c->st, &n, &e);
    }
    if (rc != ST_OK && sd != NULL)
        log_debug(c->o->pipeline->name, c->o->strategy->name, "no row estimate: %s", e.msg);
    store_close(s);
    return rc == ST_OK && n > 0 ? n : 0;
}

static int run_strategy(sync_ctx *c) {
    /* Default batch: 10,000 rows; 100,000 into SQLite, where each commit is
     * a journal and database fsync (1M rows PostgreSQL -> SQLite: 2.2 s of
     * fsync waits at 10,000, measured in bench_sqlite.py). */
    int64_t batch = c->o->strategy->batch_size;
    bool sqlite_dst = strcmp(store_ops_of(c->dst)->engine, "sqlite") == 0;
    c->batch_size = batch > 0 ? batch : sqlite_dst ? 100000 : 10000;
    int64_t iv = c->o->progress_interval_s == 0 ? 30 : c->o->progress_interval_s;
    c->prog.interval_us = iv > 0 ? iv * 1000000 : 0;
    c->prog.pipeline = c->o->pipeline->name;
    c->prog.strategy = c->o->strategy->name;
    c->prog.c = c;
    c->prog.publish = c->o->st != NULL && c->o->run_id > 0 && c->o->diff == NULL &&
                      c->o->cfg->state_url.kind != BURL_NONE;
    sync_progress_start(&c->prog, c->o->progress && c->o->diff == NULL, 0);
    int rc;
    switch (c->o->strategy->type) {
    case CONFIG_STRATEGY_FULL: rc = sync_full(c); break;
    case CONFIG_STRATEGY_DELTA: rc = sync_delta(c); break;
    case CONFIG_STRATEGY_HASH: rc = sync_hash(c); break;
    case CONFIG_STRATEGY_CDC: rc = sync_cdc(c); break;
    default: rc = st_error_set(c->err, ST_EINVAL, "unknown strategy type");
    }
    sync_progress_end(&c->prog, c->stats);
    return rc;
}

int sync_run(const sync_opts *o, state_stats *stats, st_error *err) {
    st_error local;
    if (err == NULL) err = &local;
    memset(stats, 0, sizeof *stats);
    if (o == NULL || o->cfg == NULL || o->pipeline == NULL || o->strategy == NULL)
        return st_error_set(err, ST_EINVAL, "sync: missing config, pipeline or strategy");
    if (o->diff != NULL && (o->strategy->type != CONFIG_STRATEGY_HASH || o->fence_key != NULL))
        return st_error_set(err, ST_EINVAL, "sync: a dry run is a hash comparison without "
                                            "fencing");
    int64_t t0 = sync_clock_us();
    sync_ctx c = {.o = o, .stats = stats, .err = err};
    int rc = ctx_open(&c, o);
    if (rc == ST_OK) rc = run_strategy(&c);
    ctx_free(&c);
    stats->seconds = (double)(sync_clock_us() - t0) / 1e6;
    if (rc != ST_OK && rc != ST_ESTALE && rc != ST_ELOST) {
        char names[600];
        name_tables(o, names, sizeof names);
        st_error_wrap(err, "%s", names);
    }
    if (rc == ST_OK && o->diff != NULL)
        log_debug(o->pipeline->name, o->strategy->name,
                  "diff done: %lld to insert, %lld to update, %lld to delete, %lld segments "
                  "compared, %lld skipped", (long long)o->diff->inserts,
                  (long long)o->diff->updates, (long long)o->diff->deletes,
                  (long long)stats->segments_compared, (long long)stats->segments_skipped);
    else if (rc == ST_OK)
        log_info(o->pipeline->name, o->strategy->name,
                 "sync done: %lld read, %lld inserted, %lld updated, %lld deleted, "
                 "%lld segments compared, %lld skipped, %lld NULL cursor, %.3fs",
                 (long long)stats->rows_read, (long long)stats->rows_inserted,
                 (long long)stats->rows_updated, (long long)stats->rows_deleted,
                 (long long)stats->segments_compared, (long long)stats->segments_skipped,
                 (long long)stats->rows_null_cursor, stats->seconds);
    return rc;
}
