/*
 * sync — sync_run(): one strategy of one pipeline, source to destination.
 *
 * This file sets a run up and tears it down; the strategies live in
 * sync_full.c, sync_delta.c, sync_hash.c and sync_cdc.c, the batch commit (fencing,
 * cancel) in sync_batch.c, DDL in sync_ddl.c.
 *
 * Stores are opened by each datastore's driver, or all by the driver the
 * caller gives in sync_opts.store_ops (store_open_with_ops): the seam unit
 * tests use to run the strategies on a mock store with no server.
 *
 * Setup, in order, each failure naming the datastore and table:
 *   1. resolve both datastores and build the two table specs (the config
 *      columns, source and destination names, kinds, keys);
 *   2. connect to both at once, the source in a thread (ST_EUNAVAIL for
 *      unreachable servers and refused credentials, the source's error
 *      first; never a password in the message); a full run needs the
 *      destination to commit while the source is read (store_read_while_write:
 *      two tables of one SQLite file need the file in WAL mode);
 *   3. check that the destination table exists ("run `synctool ddl apply`")
 *      and has every column, and the same for a source table;
 *   4. a fenced run: synctool_fence, its token above the destination's,
 *      older holders' sessions ended (sync_fence.c).
 * Nothing is written before all checks pass.
 *
 * A delta (not an aggregate) asks the source first: step 2 opens the
 * source alone, checks its table and asks whether any row lies after the
 * watermark (sync_delta_probe). With none the run is done — 0 rows read,
 * no destination connection, no fence set-up, nothing written (a run with
 * nothing to do cost a PostgreSQL destination a connection with its
 * authentication and the fencing round trips; a SQLite one the fence row's
 * commit, four fsyncs). Otherwise the destination is opened then, and
 * steps 3 and 4 follow as for every run. Such a run does not check the
 * destination table either; `synctool check` does, and so does the next
 * run with rows.
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

void sync_ctx_close(sync_ctx *c) {
    sync_lookup_close(c);
    store_close(c->src);
    store_close(c->dst);
    free(c->scols);
    free(c->exprs);
    free(c->dcols);
    free(c->types);
    free(c->kinds);
    free(c->key);
    free(c->ignored);
    sync_agg_free(c->agg);
    sync_batch_free(&c->batch);
}

static int ctx_columns(sync_ctx *c, const config_pipeline *p) {
    size_t n = p->ncolumns;
    c->ncols = n;
    c->scols = calloc(n, sizeof *c->scols);
    c->exprs = calloc(n, sizeof *c->exprs);
    c->dcols = calloc(n, sizeof *c->dcols);
    c->types = calloc(n, sizeof *c->types);
    c->kinds = calloc(n, sizeof *c->kinds);
    c->key = calloc(n, sizeof *c->key);
    c->ignored = calloc(n, sizeof *c->ignored);
    if (!c->scols || !c->exprs || !c->dcols || !c->types || !c->kinds || !c->key || !c->ignored)
        return st_error_set(c->err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        c->scols[i] = p->columns[i].name;
        c->exprs[i] = p->columns[i].expr;
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
    c->nsrc = config_source_columns(p);
    c->st.ncols = c->nsrc;   /* lookup columns are not read from the source */
    c->st.datastore = p->source.datastore;
    c->st.schema = p->source.schema;
    c->st.table = p->source.query ? NULL : p->source.table;
    c->st.query = p->source.query;
    c->st.where = p->source.where;
    c->st.exprs = c->exprs;
    c->st.cols = c->scols;
    c->st.aggregate = p->aggregate != NULL;   /* grouped by the keys: sync_aggregate.c */
    c->dt = base;
    c->dt.datastore = p->destination.datastore;
    c->dt.schema = p->destination.schema;
    c->dt.table = p->destination.table;
    c->dt.cols = c->dcols;
    return ST_OK;
}

/* Every mapped column must exist in the table (a source expression column
 * is computed, not read: its own names are checked when the query runs). */
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
    for (size_t i = 0; rc == ST_OK && i < t->ncols; i++) {
        if (t->exprs != NULL && t->exprs[i] != NULL) continue;
        bool found = false;
        size_t j = 0;
        for (; j < n && !found; j++) found = strcmp(info[j].name, t->cols[i]) == 0;
        if (found && dest &&
            store_column_fit(s, info[j - 1].type, t->kinds[i], NULL) == STORE_FIT_LEGACY)
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

/* A store of this run: through the driver of the run's opts when it has
 * one (sync_opts.store_ops, tests' mock store), else the datastore's. */
int sync_store_open(const sync_opts *o, store **s, const config_datastore *ds,
                    st_error *err) {
    return o->store_ops ? store_open_with_ops(s, o->store_ops, ds, err) : store_open(s, ds, err);
}

typedef struct open_job {
    const sync_opts *o;
    const config_datastore *ds;
    store *s;
    st_error err;
    int rc;
} open_job;

static void *open_thread(void *arg) {
    open_job *j = arg;
    j->rc = sync_store_open(j->o, &j->s, j->ds, &j->err);
    return NULL;
}

/* Connection set-up (TCP, TLS negotiation, SCRAM) is mostly waiting: the
 * two stores connect concurrently. */
static int open_both(sync_ctx *c, const config_datastore *sd, const config_datastore *dd) {
    open_job j = {.o = c->o, .ds = sd};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, open_thread, &j) == 0;
    if (!threaded) open_thread(&j);
    st_error derr;
    int rc = sync_store_open(c->o, &c->dst, dd, &derr);
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

/* A delta that is not an aggregate asks the source before opening the
 * destination (see top). */
static bool source_first(const sync_opts *o) {
    return o->strategy->type == CONFIG_STRATEGY_DELTA && o->pipeline->aggregate == NULL &&
           o->diff == NULL;
}

/* Both stores open, reads interruptible (store.h, set_interrupt), the
 * source table checked; *nothing when a delta found no row to copy, the
 * destination then left closed. */
static int open_stores(sync_ctx *c, const config_datastore *sd, const config_datastore *dd,
                       bool *nothing) {
    *nothing = false;
    bool first = source_first(c->o), any = true;
    int rc = first ? sync_store_open(c->o, &c->src, sd, c->err) : open_both(c, sd, dd);
    if (rc != ST_OK) return rc;
    store_set_interrupt(c->src, c->o->interrupt);
    if (c->st.table) rc = check_table(c, c->src, &c->st, false);
    if (rc == ST_OK && first) rc = sync_delta_probe(c, &any);
    if (rc != ST_OK || !any) {
        *nothing = rc == ST_OK;
        return rc;
    }
    if (first) rc = sync_store_open(c->o, &c->dst, dd, c->err);
    if (rc == ST_OK) store_set_interrupt(c->dst, c->o->interrupt);
    return rc;
}

static int ctx_open(sync_ctx *c, const sync_opts *o, bool *nothing) {
    const config_pipeline *p = o->pipeline;
    const config_datastore *sd = config_datastore_find(o->cfg, p->source.datastore);
    const config_datastore *dd = config_datastore_find(o->cfg, p->destination.datastore);
    *nothing = false;
    if (sd == NULL || dd == NULL)
        return st_error_set(c->err, ST_ENOTFOUND, "pipeline '%s': datastore '%s' is not defined",
                            p->name, sd == NULL ? p->source.datastore : p->destination.datastore);
    int rc = ctx_columns(c, p);
    if (rc == ST_OK) rc = open_stores(c, sd, dd, nothing);
    if (rc != ST_OK || *nothing) return rc;
    if (o->strategy->type == CONFIG_STRATEGY_FULL)
        rc = store_read_while_write(c->dst, c->src, sd, dd, c->err); /* one SQLite file: WAL */
    if (rc == ST_OK) rc = limit_stale_sessions(c, p);
    if (rc == ST_OK) rc = check_table(c, c->dst, &c->dt, true);
    if (rc == ST_OK) rc = sync_agg_open(c);
    if (rc == ST_OK) rc = sync_lookup_open(c);
    if (rc == ST_OK) rc = sync_fence_setup(c);
    return rc;
}

/* A range of a parallel full (sync_parallel.c): full never asks the source
 * first, so both stores are always open. */
int sync_ctx_open(sync_ctx *c, const sync_opts *o) {
    bool nothing = false;
    return ctx_open(c, o, &nothing);
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
    int rc = sd ? sync_store_open(c->o, &s, sd, &e) : ST_ENOTFOUND;
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
    /* Default batch: the destination driver's (store_default_batch). */
    int64_t batch = c->o->strategy->batch_size;
    c->batch_size = batch > 0 ? batch : store_default_batch(c->dst);
    int64_t iv = c->o->progress_interval_s == 0 ? 30 : c->o->progress_interval_s;
    c->prog.interval_us = iv > 0 ? iv * 1000000 : 0;
    c->prog.pipeline = c->o->pipeline->name;
    c->prog.strategy = c->o->strategy->name;
    c->prog.c = c;
    c->prog.publish = c->o->st != NULL && c->o->run_id > 0 && c->o->diff == NULL &&
                      c->o->cfg->state_url.kind != BURL_NONE;
    sync_progress_start(&c->prog, c->o->progress && c->o->diff == NULL, 0);
    int rc;
    if (c->agg != NULL) rc = sync_agg_run(c);
    else switch (c->o->strategy->type) {
    case CONFIG_STRATEGY_FULL: rc = sync_full(c); break;
    case CONFIG_STRATEGY_DELTA: rc = sync_delta(c); break;
    case CONFIG_STRATEGY_HASH: rc = sync_hash(c); break;
    case CONFIG_STRATEGY_CDC: rc = sync_cdc(c); break;
    default: rc = st_error_set(c->err, ST_EINVAL, "unknown strategy type");
    }
    sync_progress_end(&c->prog, c->stats);
    return rc;
}

/* The figures of a finished sync: `run`'s one info line, or a detail of
 * the run when the caller reports the outcome itself (o->done_is_detail). */
static void log_done(const sync_opts *o, const state_stats *x) {
    char line[512];
    snprintf(line, sizeof line, "sync done: %lld read, %lld inserted, %lld updated, %lld "
             "deleted, %lld segments compared, %lld skipped, %lld NULL cursor, %.3fs",
             (long long)x->rows_read, (long long)x->rows_inserted, (long long)x->rows_updated,
             (long long)x->rows_deleted, (long long)x->segments_compared,
             (long long)x->segments_skipped, (long long)x->rows_null_cursor, x->seconds);
    if (o->done_is_detail) log_detail(o->pipeline->name, o->strategy->name, "%s", line);
    else log_info(o->pipeline->name, o->strategy->name, "%s", line);
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
    bool nothing = false;
    int rc = ctx_open(&c, o, &nothing);
    if (rc == ST_OK && nothing)
        log_debug(o->pipeline->name, o->strategy->name, "no source row after the watermark: "
                  "destination not opened, no fence set up");
    else if (rc == ST_OK)
        rc = run_strategy(&c);
    sync_ctx_close(&c);
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
        log_done(o, stats);
    return rc;
}
