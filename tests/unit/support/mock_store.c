/*
 * mock_store — see mock_store.h: the SQLite driver on an in-memory
 * database, wrapped by a table that counts calls and injects faults.
 *
 * The driver's table is taken from a store the plain driver opened
 * (store_ops_of), so this file needs no internal header of src/store. The
 * mock's table is a copy of it with the observed methods replaced; each
 * replacement finds the mock_db of its connection (the registry maps the
 * driver's impl to it), counts, fires a fault when its call is the armed
 * one, and calls the driver's method.
 */
#include "mock_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOCK_MAX_CONNS 64
#define MOCK_MAX_DBS 16

typedef struct mock_atomics {
    atomic_int opens, statements, begins, commits, rollbacks, applies, fence_tags, fence_floors;
    atomic_llong rows_applied;
} mock_atomics;

struct mock_db {
    char name[128];
    char uri[256];
    config_datastore ds;
    store *admin;
    mock_atomics n;
    /* faults: the call number (of n.applies / n.commits) that fails, 0 none */
    atomic_int fail_apply_at, fail_commit_at, fence_at;
    atomic_llong fail_apply_rows, fence_token, floor_at_least;
    mock_counts at_fault;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static mock_db *reg_dbs[MOCK_MAX_DBS];
static struct { void *impl; mock_db *db; } reg_conns[MOCK_MAX_CONNS];
static const struct store_ops *sqlite_ops;   /* the driver's table */
static struct store_ops mock_ops;
static int mock_seq;

/* --- Registry --- */

static mock_db *db_of_path(const char *path) {
    mock_db *db = NULL;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MOCK_MAX_DBS && db == NULL && path; i++)
        if (reg_dbs[i] && strcmp(reg_dbs[i]->uri, path) == 0) db = reg_dbs[i];
    pthread_mutex_unlock(&reg_mu);
    return db;
}

static mock_db *db_of(void *impl) {
    mock_db *db = NULL;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MOCK_MAX_CONNS && db == NULL; i++)
        if (reg_conns[i].impl == impl) db = reg_conns[i].db;
    pthread_mutex_unlock(&reg_mu);
    return db;
}

static bool conn_add(void *impl, mock_db *db) {
    bool ok = false;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MOCK_MAX_CONNS && !ok; i++)
        if (reg_conns[i].impl == NULL) {
            reg_conns[i].impl = impl;
            reg_conns[i].db = db;
            ok = true;
        }
    pthread_mutex_unlock(&reg_mu);
    return ok;
}

static void conn_remove(void *impl) {
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MOCK_MAX_CONNS; i++)
        if (reg_conns[i].impl == impl) reg_conns[i].impl = NULL, reg_conns[i].db = NULL;
    pthread_mutex_unlock(&reg_mu);
}

static void snapshot(const mock_atomics *a, mock_counts *out) {
    *out = (mock_counts){.opens = a->opens, .statements = a->statements, .begins = a->begins,
                         .commits = a->commits, .rollbacks = a->rollbacks,
                         .applies = a->applies, .rows_applied = a->rows_applied,
                         .fence_tags = a->fence_tags, .fence_floors = a->fence_floors};
}

/* --- Connect --- */

static int mk_open(void **impl, const config_datastore *ds, st_error *err) {
    mock_db *db = db_of_path(ds->path);
    if (db == NULL)
        return st_error_set(err, ST_ENOTFOUND, "datastore '%s': no mock database is open for "
                            "it (mock_db_new)", ds->name);
    int rc = sqlite_ops->open(impl, ds, err);
    if (rc != ST_OK) return rc;
    if (!conn_add(*impl, db)) {
        sqlite_ops->close(*impl);
        *impl = NULL;
        return st_error_set(err, ST_ENOMEM, "datastore '%s': more than %d mock connections",
                            ds->name, MOCK_MAX_CONNS);
    }
    db->n.opens++;
    return ST_OK;
}

static void mk_close(void *impl) {
    if (impl == NULL) return;
    conn_remove(impl);
    sqlite_ops->close(impl);
}

/* --- Statements --- */

static int mk_query(void *impl, store_reader **out, const char *sql, int nparams,
                    const char *const *params, st_error *err) {
    db_of(impl)->n.statements++;
    return sqlite_ops->query(impl, out, sql, nparams, params, err);
}

static int mk_query_small(void *impl, store_reader **out, const char *sql, int nparams,
                          const char *const *params, st_error *err) {
    db_of(impl)->n.statements++;
    return sqlite_ops->query_small(impl, out, sql, nparams, params, err);
}

static int mk_exec(void *impl, const char *sql, int nparams, const char *const *params,
                   int64_t *affected, st_error *err) {
    db_of(impl)->n.statements++;
    return sqlite_ops->exec(impl, sql, nparams, params, affected, err);
}

/* --- Transactions --- */

static int mk_begin(void *impl, st_error *err) {
    db_of(impl)->n.begins++;
    return sqlite_ops->begin(impl, err);
}

/* A newer holder of the pipeline lock stores its token (mock_fence_after_commit). */
static void fence_overtake(mock_db *db) {
    char tok[32];
    snprintf(tok, sizeof tok, "%lld", (long long)db->fence_token);
    const char *p[1] = {tok};
    st_error e;
    if (store_exec(db->admin, "UPDATE synctool_fence SET token = ?1 WHERE token < ?1", 1, p,
                   NULL, &e) != ST_OK)
        fprintf(stderr, "mock_store: raising the fence of '%s' failed: %s\n", db->name, e.msg);
    snapshot(&db->n, &db->at_fault);
}

static int mk_commit(void *impl, st_error *err) {
    mock_db *db = db_of(impl);
    int k = ++db->n.commits;
    if (k == db->fail_commit_at) {
        sqlite_ops->rollback(impl);
        return st_error_set(err, ST_EUNAVAIL, "datastore '%s': connection lost at COMMIT (mock: "
                            "commit #%d failed)", db->name, k);
    }
    int rc = sqlite_ops->commit(impl, err);
    if (rc == ST_OK && k == db->fence_at) fence_overtake(db);
    return rc;
}

static int mk_rollback(void *impl) {
    db_of(impl)->n.rollbacks++;
    return sqlite_ops->rollback(impl);
}

/* --- Apply: rows pulled through a counter that can fail --- */

typedef struct mock_pull {
    store_pull_fn pull;
    void *arg;
    mock_db *db;
    bool fail;         /* this apply is the armed one */
    int64_t left;      /* rows still to write before it fails */
    int nth;
} mock_pull;

static int mock_pull_fail(mock_pull *m, st_error *err) {
    return st_error_set(err, ST_EUNAVAIL, "datastore '%s': connection lost (mock: apply #%d "
                        "failed after %lld rows)", m->db->name, m->nth,
                        (long long)m->db->fail_apply_rows);
}

static int mock_pull_next(void *arg, const char *const **vals, st_error *err) {
    mock_pull *m = arg;
    if (m->fail && m->left == 0) return mock_pull_fail(m, err);
    int rc = m->pull(m->arg, vals, err);
    if (rc == 0 && m->fail) return mock_pull_fail(m, err);
    if (rc == 1) {
        m->left--;
        m->db->n.rows_applied++;
    }
    return rc;
}

static int mk_apply(void *impl, const store_table *t, store_op op, store_pull_fn pull, void *arg,
                    store_counts *out, st_error *err) {
    mock_db *db = db_of(impl);
    int k = ++db->n.applies;
    mock_pull m = {.pull = pull, .arg = arg, .db = db, .fail = k == db->fail_apply_at,
                   .left = db->fail_apply_rows, .nth = k};
    return sqlite_ops->apply(impl, t, op, mock_pull_next, &m, out, err);
}

/* --- Fencing --- */

static int mk_fence_tag(void *impl, const char *key, int64_t token, st_error *err) {
    db_of(impl)->n.fence_tags++;
    return sqlite_ops->fence_tag(impl, key, token, err);
}

static int mk_fence_floor(void *impl, const char *key, int64_t *floor, st_error *err) {
    mock_db *db = db_of(impl);
    db->n.fence_floors++;
    int rc = sqlite_ops->fence_floor(impl, key, floor, err);
    if (rc == ST_OK && db->floor_at_least > *floor) *floor = db->floor_at_least;
    return rc;
}

/* --- The table --- */

/* The SQLite driver's table, from a store it opened (no internal header). */
static int driver_table(st_error *err) {
    if (sqlite_ops != NULL) return ST_OK;
    config_datastore ds = {.name = "mock_probe", .type = CONFIG_DS_SQLITE, .path = ":memory:"};
    store *s = NULL;
    int rc = store_open(&s, &ds, err);
    if (rc != ST_OK) return rc;
    sqlite_ops = store_ops_of(s);
    store_close(s);
    mock_ops = *sqlite_ops;
    mock_ops.open = mk_open;
    mock_ops.close = mk_close;
    mock_ops.query = mk_query;
    mock_ops.query_small = mk_query_small;
    mock_ops.exec = mk_exec;
    mock_ops.begin = mk_begin;
    mock_ops.commit = mk_commit;
    mock_ops.rollback = mk_rollback;
    mock_ops.apply = mk_apply;
    mock_ops.fence_tag = mk_fence_tag;
    mock_ops.fence_floor = mk_fence_floor;
    /* an engine whose timestamps compare on an index unless a test says
     * otherwise (mock_time_compare_unindexed) */
    mock_ops.time_compare_unindexed = false;
    return ST_OK;
}

void mock_time_compare_unindexed(bool on) {
    pthread_mutex_lock(&reg_mu);
    if (driver_table(NULL) == ST_OK) mock_ops.time_compare_unindexed = on;
    pthread_mutex_unlock(&reg_mu);
}

const struct store_ops *mock_store_ops(void) {
    pthread_mutex_lock(&reg_mu);
    int rc = driver_table(NULL);
    pthread_mutex_unlock(&reg_mu);
    return rc == ST_OK ? &mock_ops : NULL;
}

/* --- Databases --- */

static bool db_add(mock_db *db) {
    bool ok = false;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MOCK_MAX_DBS && !ok; i++)
        if (reg_dbs[i] == NULL) reg_dbs[i] = db, ok = true;
    pthread_mutex_unlock(&reg_mu);
    return ok;
}

mock_db *mock_db_new(const char *name, st_error *err) {
    if (mock_store_ops() == NULL) {
        st_error_set(err, ST_ERR, "mock_store: the SQLite driver did not open");
        return NULL;
    }
    mock_db *db = calloc(1, sizeof *db);
    if (db == NULL) return NULL;
    pthread_mutex_lock(&reg_mu);
    int seq = ++mock_seq;
    pthread_mutex_unlock(&reg_mu);
    snprintf(db->name, sizeof db->name, "%s", name);
    snprintf(db->uri, sizeof db->uri, "file:/synctool-mock-%d-%d-%s?vfs=memdb", (int)getpid(),
             seq, name);
    db->ds = (config_datastore){.name = db->name, .type = CONFIG_DS_SQLITE, .path = db->uri};
    db->floor_at_least = -1;
    if (store_open(&db->admin, &db->ds, err) != ST_OK || !db_add(db)) {
        store_close(db->admin);
        free(db);
        return NULL;
    }
    return db;
}

void mock_db_free(mock_db *db) {
    if (db == NULL) return;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MOCK_MAX_DBS; i++)
        if (reg_dbs[i] == db) reg_dbs[i] = NULL;
    pthread_mutex_unlock(&reg_mu);
    store_close(db->admin);
    free(db);
}

const config_datastore *mock_db_datastore(const mock_db *db) { return &db->ds; }
store *mock_db_admin(mock_db *db) { return db->admin; }

void mock_db_counts(const mock_db *db, mock_counts *out) { snapshot(&db->n, out); }
void mock_db_counts_at_fault(const mock_db *db, mock_counts *out) { *out = db->at_fault; }

void mock_fail_apply(mock_db *db, int nth, int64_t after_rows) {
    db->fail_apply_rows = after_rows;
    db->fail_apply_at = db->n.applies + nth;
}
void mock_fail_commit(mock_db *db, int nth) { db->fail_commit_at = db->n.commits + nth; }
void mock_fence_after_commit(mock_db *db, int nth, int64_t token) {
    db->fence_token = token;
    db->fence_at = db->n.commits + nth;
}
void mock_fence_floor(mock_db *db, int64_t floor) { db->floor_at_least = floor; }

void mock_db_disarm(mock_db *db) {
    db->fail_apply_at = 0;
    db->fail_commit_at = 0;
    db->fence_at = 0;
    db->floor_at_least = -1;
}
