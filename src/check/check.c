/*
 * check — pre-flight checks of pipelines against their databases (see
 * check.h).
 *
 * Connections: every distinct datastore the selected pipelines use is
 * opened once, all in parallel, one detached-able thread each. The caller
 * waits for each until the common deadline; a datastore that has not
 * answered by then is reported "unreachable (no answer within Ns)" and its
 * thread is abandoned: it closes whatever it opens later and frees its own
 * slot (the `abandoned` flag under the slot's mutex decides who frees).
 *
 * What differs by engine is asked of the store driver (store.h, store_ops
 * version 11): the SQL telling whether the key is a primary key or unique
 * index (none: "not checked"), whether a column's type reads the config
 * type's values (store_type_compatible: by kind on PostgreSQL, MySQL's own
 * spellings, any on SQLite, which stores any value in any column), and the
 * CREATE INDEX a missing cursor index is suggested as.
 *
 * A pipeline with a cdc strategy (DESIGN §7) gets the checks logical
 * decoding needs on its PostgreSQL source: wal_level = logical, the role's
 * REPLICATION attribute, a free replication slot (or its own slot, with the
 * WAL it retains against max_slot_lag); and the first pipeline of each
 * PostgreSQL source datastore lists synctool's slots there that belong to
 * no configured cdc pipeline (they retain WAL for nobody).
 */
#include "check.h"

#include "../cdc/cdc.h"
#include "../lock/lock.h"
#include "../state/state.h"
#include "../store/store.h"
#include "../sync/sync.h"
#include "../time/st_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- reports --- */

static check_item *add(check_report *r, const char *name, check_level lv, const char *sql,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static check_item *add(check_report *r, const char *name, check_level lv, const char *sql,
                       const char *fmt, ...) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        check_item *v = realloc(r->items, cap * sizeof *v);
        if (v == NULL) return NULL;
        r->items = v;
        r->cap = cap;
    }
    check_item *it = &r->items[r->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->level = lv;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->message, sizeof it->message, fmt, ap);
    va_end(ap);
    it->sql = sql ? strdup(sql) : NULL;
    return it;
}

void check_reports_free(check_report *r, size_t n) {
    for (size_t i = 0; r && i < n; i++) {
        for (size_t j = 0; j < r[i].n; j++) free(r[i].items[j].sql);
        free(r[i].items);
    }
    free(r);
}

check_level check_worst(const check_report *r) {
    check_level w = CHECK_OK;
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].level > w) w = r->items[i].level;
    return w;
}

const char *check_level_name(check_level l) {
    return l == CHECK_OK ? "ok" : l == CHECK_WARN ? "warning" : "problem";
}

/* --- parallel connections --- */

typedef struct conn_slot {
    const config_datastore *ds;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, abandoned;
    store *s;
    int rc;
    st_error err;
} conn_slot;

static void *conn_thread(void *arg) {
    conn_slot *c = arg;
    store *s = NULL;
    st_error err;
    int rc = store_open(&s, c->ds, &err);
    pthread_mutex_lock(&c->mu);
    if (c->abandoned) {
        pthread_mutex_unlock(&c->mu);
        store_close(s);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        return NULL;
    }
    c->s = s;
    c->rc = rc;
    c->err = err;
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

#define ABANDONED ((conn_slot *)-1)   /* a slot its thread now owns */

typedef struct conns {
    conn_slot **slot;      /* parallel to cfg->datastores; NULL = not needed */
    size_t n;
    int64_t timeout_ms;
} conns;

static bool uses(const config *cfg, const config_pipeline *only, const char *ds) {
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        if (only && only != p) continue;
        if ((p->source.datastore && strcmp(p->source.datastore, ds) == 0) ||
            (p->destination.datastore && strcmp(p->destination.datastore, ds) == 0))
            return true;
        for (size_t j = 0; j < p->nlookups; j++)
            if (p->lookups[j].datastore && strcmp(p->lookups[j].datastore, ds) == 0) return true;
    }
    return false;
}

static int conns_open(conns *cs, const config *cfg, const config_pipeline *only) {
    cs->n = cfg->ndatastores;
    cs->slot = calloc(cs->n ? cs->n : 1, sizeof *cs->slot);
    if (cs->slot == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < cs->n; i++) {
        if (!uses(cfg, only, cfg->datastores[i].name)) continue;
        conn_slot *c = calloc(1, sizeof *c);
        if (c == NULL) return ST_ENOMEM;
        c->ds = &cfg->datastores[i];
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        pthread_t th;
        if (pthread_create(&th, NULL, conn_thread, c) != 0) {
            conn_thread(c); /* no thread: connect here */
        } else {
            pthread_detach(th);
        }
        cs->slot[i] = c;
    }
    /* wait for every slot up to one common deadline */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += cs->timeout_ms / 1000;
    dl.tv_nsec += (cs->timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    for (size_t i = 0; i < cs->n; i++) {
        conn_slot *c = cs->slot[i];
        if (c == NULL) continue;
        pthread_mutex_lock(&c->mu);
        while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &dl) != ETIMEDOUT) {}
        bool gone = !c->done;
        if (gone) c->abandoned = true; /* from now on the thread frees the slot */
        pthread_mutex_unlock(&c->mu);
        if (gone) cs->slot[i] = ABANDONED;
    }
    return ST_OK;
}

/* The store for datastore `name`, or NULL with *why filled. */
static store *conn_get(const conns *cs, const config *cfg, const char *name, char *why,
                       size_t n) {
    for (size_t i = 0; i < cs->n; i++) {
        if (strcmp(cfg->datastores[i].name, name) != 0) continue;
        conn_slot *c = cs->slot[i];
        if (c == ABANDONED) {
            snprintf(why, n, "datastore '%s': unreachable (no answer within %llds)", name,
                     (long long)((cs->timeout_ms + 999) / 1000));
            return NULL;
        }
        if (c == NULL || c->rc != ST_OK) {
            snprintf(why, n, "%s", c ? c->err.msg : "not opened");
            return NULL;
        }
        return c->s;
    }
    snprintf(why, n, "datastore '%s' is not defined", name);
    return NULL;
}

static void conns_close(conns *cs) {
    for (size_t i = 0; i < cs->n; i++) {
        conn_slot *c = cs->slot[i];
        if (c == NULL || c == ABANDONED) continue;
        store_close(c->s);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
    }
    free(cs->slot);
}

/* --- is the key unique? --- */

static int cmp_cstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 unique, 0 not, -1 not checked (no SQL for it in the driver, error). */
static int key_unique(store *s, const char *schema, const char *table, const config_pipeline *p) {
    const char *keys[64];
    size_t nk = 0;
    for (size_t i = 0; i < p->ncolumns && nk < 64; i++)
        if (p->columns[i].key) keys[nk++] = p->columns[i].name;
    qsort(keys, nk, sizeof *keys, cmp_cstr);
    char joined[1024] = "";
    for (size_t i = 0; i < nk; i++) {
        size_t len = strlen(joined);
        snprintf(joined + len, sizeof joined - len, "%s%s", i ? "," : "", keys[i]);
    }
    return store_key_unique(s, schema, table, joined);
}

/* --- the checks --- */

static const store_column_info *find_col(const store_column_info *info, size_t n,
                                         const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(info[i].name, name) == 0) return &info[i];
    return NULL;
}

static void check_columns(check_report *r, store *s, const config_pipeline *p,
                          const store_column_info *info, size_t n) {
    size_t bad = 0;
    const config_endpoint *e = &p->source;
    size_t nsrc = config_source_columns(p);   /* lookup columns: check_lookups() */
    for (size_t i = 0; i < nsrc; i++) {
        const config_column *c = &p->columns[i];
        if (c->expr != NULL) continue; /* computed: check_computed() */
        const store_column_info *have = find_col(info, n, c->name);
        if (have == NULL) {
            add(r, "columns", CHECK_PROBLEM, NULL, "source %s.%s.%s has no column '%s'",
                e->datastore, config_schema_shown(e), e->table, c->name);
            bad++;
        } else if (!store_type_compatible(s, have->type, c->type)) {
            add(r, "columns", CHECK_PROBLEM, NULL,
                "column '%s' of source %s.%s.%s is %s, the config says %s", c->name,
                e->datastore, config_schema_shown(e), e->table, have->type, c->type);
            bad++;
        }
    }
    if (bad == 0)
        add(r, "columns", CHECK_OK, NULL, "all %zu columns present with compatible types",
            nsrc);
}

/* Expression columns and the source filter: the source runs the derived
 * table every strategy reads (store_sb_from) with no row, so a wrong name or
 * a syntax error is reported here with the server's message. */
static void check_computed(check_report *r, store *s, const config_pipeline *p) {
    size_t nexpr = 0;
    for (size_t i = 0; i < p->ncolumns; i++) nexpr += p->columns[i].expr != NULL;
    if (nexpr == 0 && p->source.where == NULL && p->aggregate == NULL) return;
    const char **cols = calloc(p->ncolumns ? p->ncolumns : 1, sizeof *cols);
    const char **exprs = calloc(p->ncolumns ? p->ncolumns : 1, sizeof *exprs);
    bool *key = calloc(p->ncolumns ? p->ncolumns : 1, sizeof *key);
    store_sb q = {0};
    st_error err = {0};
    int rc = cols && exprs && key ? ST_OK : st_error_set(&err, ST_ENOMEM, "out of memory");
    for (size_t i = 0; rc == ST_OK && i < p->ncolumns; i++) {
        cols[i] = p->columns[i].name;
        exprs[i] = p->columns[i].expr;
        key[i] = p->columns[i].key;
    }
    store_table t = {.datastore = p->source.datastore, .schema = p->source.schema,
                     .table = p->source.table, .where = p->source.where,
                     .exprs = exprs, .ncols = config_source_columns(p), .cols = cols, .key = key,
                     .aggregate = p->aggregate != NULL};
    store_sb_add(&q, "SELECT * FROM ");
    store_sb_from(&q, s, &t);
    store_sb_add(&q, " WHERE 1 = 0");
    store_reader *rd = NULL;
    if (rc == ST_OK) rc = q.oom ? st_error_set(&err, ST_ENOMEM, "out of memory")
                                : store_query_small(s, &rd, q.s, 0, NULL, &err);
    if (rc == ST_OK) {
        const char *const *row;
        int nc;
        rc = store_next(s, rd, &row, &nc, &err) < 0 ? ST_ERR : ST_OK;
        store_reader_close(s, rd);
    }
    if (rc == ST_OK && p->aggregate != NULL)
        add(r, "computed", CHECK_OK, NULL, "the aggregate query (%zu expression column(s)%s, "
            "grouped by the key) runs on the source", nexpr,
            p->source.where ? " and the source filter" : "");
    else if (rc == ST_OK)
        add(r, "computed", CHECK_OK, NULL, "%zu expression column(s)%s evaluate on the source",
            nexpr, p->source.where ? " and the source filter" : "");
    else
        add(r, "computed", CHECK_PROBLEM, NULL, "the expression columns or source.where do not "
            "run on source %s.%s.%s: %s", p->source.datastore, config_schema_shown(&p->source),
            p->source.table, err.msg);
    store_sb_free(&q);
    free(cols);
    free(exprs);
    free(key);
}

/* An aggregate pipeline (config_aggregate.c): the source's primary key
 * maps each row to its group (sync_aggregate.c), and each delta's cursor
 * is a column of the source rows. */
static void check_aggregate(check_report *r, store *s, const config_pipeline *p,
                            const store_column_info *info, size_t n) {
    const config_endpoint *e = &p->source;
    store_column_info *pk = NULL;
    size_t npk = 0;
    st_error err;
    int rc = store_primary_key(s, e->schema, e->table, &pk, &npk, &err);
    char names[512] = "";
    for (size_t i = 0; rc == ST_OK && i < npk; i++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", pk[i].name);
    }
    free(pk);
    if (rc != ST_OK)
        add(r, "key", CHECK_PROBLEM, NULL, "%s", err.msg);
    else if (npk == 0)
        add(r, "key", CHECK_PROBLEM, NULL, "source %s.%s.%s has no primary key: an aggregate "
            "pipeline maps each source row to its group by it (add one)", e->datastore,
            config_schema_shown(e), e->table);
    else
        add(r, "key", CHECK_OK, NULL, "the source's primary key (%s) maps each row to its group",
            names);
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *st = &p->strategies[i];
        if (st->type != CONFIG_STRATEGY_DELTA || st->cursor == NULL) continue;
        if (find_col(info, n, st->cursor) == NULL)
            add(r, "cursor", CHECK_PROBLEM, NULL, "strategy %s: source %s.%s.%s has no column "
                "'%s' (the cursor of the source rows)", st->name, e->datastore,
                config_schema_shown(e), e->table, st->cursor);
    }
}

static void check_key(check_report *r, store *s, const config_pipeline *p) {
    const config_endpoint *e = &p->source;
    int u = key_unique(s, e->schema, e->table, p);
    if (u == 1)
        add(r, "key", CHECK_OK, NULL, "the key is a primary key or unique index of the source");
    else if (u == 0)
        add(r, "key", CHECK_WARN, NULL,
            "the key is not a primary key or unique index of source %s.%s.%s: duplicate keys "
            "would make runs disagree", e->datastore, config_schema_shown(e), e->table);
    else
        add(r, "key", CHECK_OK, NULL, "key uniqueness not checked on this engine");
}

/* Each delta strategy's cursor must lead an index together with the key:
 * delta pages read WHERE (cursor, key) > (...) ORDER BY cursor, key. */
static void check_cursor_index(check_report *r, store *s, const config_pipeline *p) {
    const config_endpoint *e = &p->source;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *st = &p->strategies[i];
        if (st->type != CONFIG_STRATEGY_DELTA || st->cursor == NULL) continue;
        const char *cols[64];
        size_t n = 0;
        cols[n++] = st->cursor;
        for (size_t k = 0; k < p->ncolumns && n < 64; k++)
            if (p->columns[k].key && strcmp(p->columns[k].name, st->cursor) != 0)
                cols[n++] = p->columns[k].name;
        bool yes = false;
        if (store_key_indexed(s, e->schema, e->table, cols, n, &yes, NULL) != ST_OK) continue;
        if (yes) {
            add(r, "cursor_index", CHECK_OK, NULL, "strategy %s: cursor %s is indexed with the key",
                st->name, st->cursor);
            continue;
        }
        store_sb q = {0};
        char iname[300];
        snprintf(iname, sizeof iname, "%s_%s_synctool", e->table, st->cursor);
        store_create_index_sql(s, &q, config_schema_shown(e), iname, e->table, cols, n);
        add(r, "cursor_index", CHECK_WARN, q.oom ? NULL : q.s,
            "strategy %s: no index on the source leads with (%s, key): every delta run reads "
            "the whole table; create one: %s", st->name, st->cursor, q.oom ? "" : q.s);
        store_sb_free(&q);
    }
}

static bool kind_is_time(store_kind k) {
    return k == STORE_K_TIMESTAMPTZ || k == STORE_K_TIMESTAMP || k == STORE_K_DATE;
}

/* An aggregate's cursor is a column of the source rows (info), not of
 * `columns`. */
static bool cursor_is_time(const config_pipeline *p, const char *cursor, const store *s,
                           const store_column_info *info, size_t n) {
    if (p->aggregate != NULL) {
        const store_column_info *c = find_col(info, n, cursor);
        char type[128];
        if (c != NULL) store_config_type(s, c->type, type, sizeof type);
        return c != NULL && kind_is_time(store_kind_of(type));
    }
    for (size_t i = 0; i < p->ncolumns; i++)
        if (strcmp(p->columns[i].name, cursor) == 0)
            return kind_is_time(store_kind_of(p->columns[i].type));
    return false;
}

/* Delta's exactness (DESIGN §7): can the source show every open
 * transaction (else delta falls back to a lookback), and does each delta
 * cursor come from the server's clock (else only lookback_seconds catches
 * a row committed late with an older value)? */
static void check_late_commits(check_report *r, store *s, const config_pipeline *p,
                               const store_column_info *info, size_t n) {
    const config_endpoint *e = &p->source;
    bool any = false;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *st = &p->strategies[i];
        if (st->type != CONFIG_STRATEGY_DELTA || st->cursor == NULL) continue;
        any = true;
        bool stamped = false;
        if (!cursor_is_time(p, st->cursor, s, info, n)) {
            add(r, "cursor_stamp", CHECK_WARN, NULL, "strategy %s: cursor %s is not a timestamp "
                "or date: delta cannot hold its watermark below transactions still open on the "
                "source, so a row committed late with a smaller value is caught only by "
                "lookback_seconds (now %lld)", st->name, st->cursor,
                (long long)st->lookback_seconds);
            continue;
        }
        if (store_column_stamped(s, e->schema, e->table, st->cursor, &stamped, NULL) != ST_OK)
            continue;
        if (stamped)
            add(r, "cursor_stamp", CHECK_OK, NULL, "strategy %s: cursor %s is set by the "
                "server's clock (default or trigger)", st->name, st->cursor);
        else
            add(r, "cursor_stamp", CHECK_WARN, NULL, "strategy %s: cursor %s of source "
                "%s.%s.%s has no default of now()/CURRENT_TIMESTAMP and no trigger: its values "
                "come from the application, so a row committed late with an older value is "
                "caught only by lookback_seconds (now %lld); set it longer than your longest "
                "transaction plus clock skew", st->name, st->cursor, e->datastore,
                config_schema_shown(e), e->table, (long long)st->lookback_seconds);
    }
    store_xact_floor f;
    if (!any || store_read_xact_floor(s, &f, NULL) != ST_OK) return;
    if (f.standby)
        add(r, "late_commits", CHECK_WARN, NULL, "source datastore '%s' is a standby, where "
            "the primary's open transactions are not visible: delta reads the last %d s again "
            "every run; set lookback_seconds longer than the primary's longest transaction",
            e->datastore, SYNC_DELTA_BLIND_LOOKBACK_S);
    else if (f.blind)
        add(r, "late_commits", CHECK_WARN, NULL, "the role of source datastore '%s' cannot see "
            "other sessions' transactions: delta cannot hold its watermark below them and "
            "reads the last %d s again every run instead; grant %s to the role",
            e->datastore, SYNC_DELTA_BLIND_LOOKBACK_S, f.grant);
    else
        add(r, "late_commits", CHECK_OK, NULL, "delta holds its watermark below transactions "
            "open on source datastore '%s'", e->datastore);
}

/* --- cdc (logical decoding) --- */

/* The first row of a small query into row[0..n) (strdup'd, NULL for SQL
 * NULL); false when it failed or returned no row. */
static bool one_row(store *s, const char *sql, int np, const char *const *params, char **row,
                    int n) {
    store_reader *rd = NULL;
    const char *const *v;
    int nc = 0;
    bool ok = store_query_small(s, &rd, sql, np, params, NULL) == ST_OK &&
              store_next(s, rd, &v, &nc, NULL) == 1 && nc >= n;
    for (int i = 0; i < n; i++) row[i] = ok && v[i] ? strdup(v[i]) : NULL;
    store_reader_close(s, rd);
    return ok;
}

static const config_strategy *cdc_strategy(const config_pipeline *p) {
    for (size_t i = 0; i < p->nstrategies; i++)
        if (p->strategies[i].type == CONFIG_STRATEGY_CDC) return &p->strategies[i];
    return NULL;
}

/* The cdc strategy's saved position ("" none), from the state store. */
static void cdc_position(const config *cfg, const config_pipeline *p, const config_strategy *st,
                         char *buf, size_t n) {
    state *sta = NULL;
    st_error err;
    buf[0] = '\0';
    if (state_open(&sta, &cfg->state_url, &err) == ST_OK &&
        state_meta_get(sta, p->name, st->name, "watermark", buf, n, &err) != ST_OK)
        buf[0] = '\0';
    state_close(sta);
}

static void check_cdc(check_report *r, store *s, const config *cfg, const config_pipeline *p,
                      const config_strategy *st) {
    char slot[CDC_NAME_MAX];
    cdc_slot_name(p->name, slot);
    const char *params[1] = {slot};
    char *v[5], pos[64];
    if (!one_row(s, "SELECT current_setting('wal_level'), (SELECT (rolreplication OR rolsuper)"
                 "::text FROM pg_roles WHERE rolname = current_user), (current_setting("
                 "'max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots))"
                 "::text, current_setting('max_replication_slots'), (SELECT pg_wal_lsn_diff("
                 "pg_current_wal_insert_lsn(), restart_lsn)::bigint::text FROM "
                 "pg_replication_slots WHERE slot_name = $1)", 1, params, v, 5)) {
        add(r, "cdc", CHECK_PROBLEM, NULL, "strategy %s: cannot read the replication settings "
            "of source datastore '%s'", st->name, p->source.datastore);
        return;
    }
    const char *ds = p->source.datastore;
    if (v[0] == NULL || strcmp(v[0], "logical") != 0)
        add(r, "cdc_wal_level", CHECK_PROBLEM, "ALTER SYSTEM SET wal_level = logical",
            "strategy %s: source datastore '%s' has wal_level = %s; cdc needs wal_level = "
            "logical: set it in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and "
            "restart the server", st->name, ds, v[0] ? v[0] : "?");
    else
        add(r, "cdc_wal_level", CHECK_OK, NULL, "source datastore '%s' has wal_level = logical",
            ds);
    if (v[1] == NULL || strcmp(v[1], "true") != 0)
        add(r, "cdc_replication", CHECK_PROBLEM, NULL, "strategy %s: the role of source "
            "datastore '%s' lacks the REPLICATION attribute cdc needs: ALTER ROLE ... "
            "REPLICATION", st->name, ds);
    else
        add(r, "cdc_replication", CHECK_OK, NULL, "the role of source datastore '%s' may "
            "open replication connections", ds);
    if (v[4] != NULL) {
        long long kept = strtoll(v[4], NULL, 10);
        add(r, "cdc_slot", st->max_slot_lag > 0 && kept > st->max_slot_lag ? CHECK_WARN : CHECK_OK,
            NULL, "replication slot %s retains %lld bytes of WAL on '%s' (max_slot_lag %lld, "
            "0 = none)", slot, kept, ds, (long long)st->max_slot_lag);
    } else if (cdc_position(cfg, p, st, pos, sizeof pos), pos[0] != '\0') {
        add(r, "cdc_slot", CHECK_PROBLEM, NULL, "strategy %s: replication slot %s no longer "
            "exists on source datastore '%s' (the strategy's position is %s): the changes "
            "since cannot be read, so the next run fails; run synctool cdc drop %s (or "
            "synctool reset %s --drop-slot, which also clears the failures), then run again: "
            "it copies the table in full and streams from there", st->name, slot, ds, pos,
            p->name, p->name);
    } else if (v[2] == NULL || strtoll(v[2], NULL, 10) <= 0) {
        add(r, "cdc_slot", CHECK_PROBLEM, NULL, "strategy %s: no free replication slot on "
            "source datastore '%s' (max_replication_slots = %s, all in use): raise "
            "max_replication_slots and restart, or drop slots nobody reads", st->name, ds,
            v[3] ? v[3] : "?");
    } else {
        add(r, "cdc_slot", CHECK_OK, NULL, "replication slot %s does not exist yet: synctool "
            "ddl apply %s or the first cdc run creates it (%s of max_replication_slots = %s "
            "free)", slot, p->name, v[2], v[3] ? v[3] : "?");
    }
    for (int i = 0; i < 5; i++) free(v[i]);
}

/* synctool's slots on the datastore that no configured cdc pipeline owns. */
static void check_orphan_slots(check_report *r, store *s, const config *cfg, const char *ds) {
    store_reader *rd = NULL;
    const char *const *v;
    int nc = 0;
    if (store_query_small(s, &rd, "SELECT slot_name::text, coalesce(pg_wal_lsn_diff("
                          "pg_current_wal_insert_lsn(), restart_lsn)::bigint, 0)::text FROM "
                          "pg_replication_slots WHERE slot_name LIKE 'synctool\\_%' AND "
                          "database = current_database() ORDER BY 1", 0, NULL, NULL) != ST_OK)
        return;
    store_sb list = {0};
    while (store_next(s, rd, &v, &nc, NULL) == 1 && nc == 2 && v[0]) {
        bool owned = false;
        for (size_t i = 0; i < cfg->npipelines && !owned; i++) {
            const config_pipeline *q = &cfg->pipelines[i];
            char name[CDC_NAME_MAX];
            cdc_slot_name(q->name, name);
            owned = cdc_strategy(q) && strcmp(q->source.datastore, ds) == 0 &&
                    strcmp(name, v[0]) == 0;
        }
        if (!owned) store_sb_addf(&list, "%s%s (%s bytes of WAL)", list.len ? ", " : "", v[0],
                                  v[1] ? v[1] : "?");
    }
    store_reader_close(s, rd);
    if (list.len && !list.oom)
        add(r, "cdc_orphan_slots", CHECK_WARN, NULL, "replication slots on source datastore "
            "'%s' that belong to no configured cdc pipeline retain WAL: %s; drop each with "
            "SELECT pg_drop_replication_slot('NAME') (and DROP PUBLICATION of the same name)",
            ds, list.s);
    store_sb_free(&list);
}

static bool first_source_user(const config *cfg, const config_pipeline *p) {
    for (size_t i = 0; i < cfg->npipelines && &cfg->pipelines[i] != p; i++)
        if (strcmp(cfg->pipelines[i].source.datastore, p->source.datastore) == 0) return false;
    return true;
}

static void check_source(check_report *r, const conns *cs, const config *cfg,
                         const config_pipeline *p, bool only) {
    char why[1024];
    store *s = conn_get(cs, cfg, p->source.datastore, why, sizeof why);
    if (s == NULL) {
        add(r, "source", CHECK_PROBLEM, NULL, "%s", why);
        return;
    }
    if (p->source.query) {
        add(r, "source", CHECK_OK, NULL, "datastore '%s' reachable (query source: columns not "
            "checked)", p->source.datastore);
        return;
    }
    store_column_info *info = NULL;
    size_t n = 0;
    st_error err;
    int rc = store_describe(s, p->source.schema, p->source.table, &info, &n, &err);
    if (rc != ST_OK) {
        add(r, "source", CHECK_PROBLEM, NULL, "%s", err.msg);
        return;
    }
    add(r, "source", CHECK_OK, NULL, "source %s.%s.%s reachable", p->source.datastore,
        config_schema_shown(&p->source), p->source.table);
    check_columns(r, s, p, info, n);
    check_computed(r, s, p);
    if (p->aggregate != NULL) {
        check_aggregate(r, s, p, info, n);
    } else {
        check_key(r, s, p);
        check_cursor_index(r, s, p);
    }
    check_late_commits(r, s, p, info, n);
    free(info);
    if (!cdc_source_supported(config_datastore_find(cfg, p->source.datastore))) return;
    const config_strategy *cdc = cdc_strategy(p);
    if (cdc) check_cdc(r, s, cfg, p, cdc);
    if (only || first_source_user(cfg, p)) check_orphan_slots(r, s, cfg, p->source.datastore);
}

/* One lookup (config_lookup): its table, key and columns exist in its
 * datastore, with types that read the config's. */
static void check_lookup(check_report *r, store *s, const config_pipeline *p,
                         const config_lookup *lk) {
    store_column_info *info = NULL;
    size_t n = 0, bad = 0;
    st_error err;
    if (store_describe(s, lk->schema, lk->table, &info, &n, &err) != ST_OK) {
        add(r, "lookups", CHECK_PROBLEM, NULL, "lookup %s: %s", lk->name, err.msg);
        return;
    }
    for (size_t i = 0; i <= lk->ncolumns; i++) {
        const config_column *c = i ? &p->columns[lk->first + i - 1] : NULL;
        const char *name = c ? c->name : lk->lookup_key;
        const store_column_info *have = find_col(info, n, name);
        if (have == NULL) {
            add(r, "lookups", CHECK_PROBLEM, NULL, "lookup %s: table %s.%s.%s has no column "
                "'%s'", lk->name, lk->datastore, config_lookup_schema_shown(lk), lk->table,
                name);
            bad++;
        } else if (c != NULL && !store_type_compatible(s, have->type, c->type)) {
            add(r, "lookups", CHECK_PROBLEM, NULL, "lookup %s: column '%s' of %s.%s.%s is %s, "
                "the config says %s", lk->name, name, lk->datastore,
                config_lookup_schema_shown(lk), lk->table, have->type, c->type);
            bad++;
        }
    }
    free(info);
    if (bad == 0)
        add(r, "lookups", CHECK_OK, NULL, "lookup %s: %s.%s.%s has %s and the %zu column(s)",
            lk->name, lk->datastore, config_lookup_schema_shown(lk), lk->table, lk->lookup_key,
            lk->ncolumns);
}

static void check_lookups(check_report *r, const conns *cs, const config *cfg,
                          const config_pipeline *p) {
    for (size_t i = 0; i < p->nlookups; i++) {
        char why[1024];
        store *s = conn_get(cs, cfg, p->lookups[i].datastore, why, sizeof why);
        if (s == NULL) add(r, "lookups", CHECK_PROBLEM, NULL, "lookup %s: %s",
                           p->lookups[i].name, why);
        else check_lookup(r, s, p, &p->lookups[i]);
    }
}

static void check_destination(check_report *r, const conns *cs, const config *cfg,
                              const config_pipeline *p) {
    char why[1024];
    store *s = conn_get(cs, cfg, p->destination.datastore, why, sizeof why);
    if (s == NULL) {
        add(r, "destination", CHECK_PROBLEM, NULL, "%s", why);
        return;
    }
    char *sql = NULL;
    st_error err;
    if (sync_ddl_plan(cfg, p, &sql, &err) != ST_OK) {
        add(r, "destination", CHECK_PROBLEM, NULL, "%s", err.msg);
    } else if (sql[0] != '\0') {
        size_t len = strlen(sql);
        while (len > 0 && sql[len - 1] == '\n') sql[--len] = '\0';
        add(r, "destination", CHECK_PROBLEM, sql,
            "destination %s.%s.%s does not match the config: run `synctool ddl apply %s`, "
            "which runs: %s", p->destination.datastore, config_schema_shown(&p->destination),
            p->destination.table, p->name, sql);
    } else {
        add(r, "destination", CHECK_OK, NULL, "destination %s.%s.%s matches the config",
            p->destination.datastore, config_schema_shown(&p->destination),
            p->destination.table);
    }
    free(sql);
    /* the fencing table: creatable and writable, changing nothing
     * (store_fence_probe: the probe row in a transaction rolled back) */
    int rc = store_fence_probe(s, &err);
    if (rc == ST_OK)
        add(r, "fencing", CHECK_OK, NULL, "fencing table synctool_fence writable");
    else
        add(r, "fencing", CHECK_PROBLEM, NULL, "fencing table synctool_fence not writable: %s",
            err.msg);
}

static void check_store(check_report *r, const config *cfg) {
    char shown[512];
    burl_redact(&cfg->state_url, shown, sizeof shown);
    state *st = NULL;
    st_error err;
    size_t n = 0;
    state_record *recs = NULL;
    if (state_open(&st, &cfg->state_url, &err) != ST_OK ||
        state_list(st, &recs, &n, &err) != ST_OK)
        add(r, "state", CHECK_PROBLEM, NULL, "state store %s: %s", shown, err.msg);
    else
        add(r, "state", CHECK_OK, NULL, "state store %s reachable (%zu records)", shown, n);
    free(recs);
    state_close(st);
    lock_manager *lm = NULL;
    lock_info *li = NULL;
    size_t nl = 0;
    if (lock_open(&lm, &cfg->state_url, &err) != ST_OK || lock_list(lm, &li, &nl, &err) != ST_OK)
        add(r, "locks", CHECK_PROBLEM, NULL, "lock store %s: %s", shown, err.msg);
    else
        add(r, "locks", CHECK_OK, NULL, "lock store %s reachable (%zu locks held)", shown, nl);
    free(li);
    lock_close(lm);
}

int check_run(const config *cfg, const config_pipeline *only, int64_t timeout_ms,
              check_report **out, size_t *n) {
    size_t np = only ? 1 : cfg->npipelines;
    check_report *r = calloc(np + 1, sizeof *r);
    if (r == NULL) return ST_ENOMEM;
    conns cs = {.timeout_ms = timeout_ms};
    if (conns_open(&cs, cfg, only) != ST_OK) {
        conns_close(&cs);
        free(r);
        return ST_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        if (only && only != p) continue;
        snprintf(r[k].subject, sizeof r[k].subject, "%s", p->name);
        check_source(&r[k], &cs, cfg, p, only != NULL);
        check_lookups(&r[k], &cs, cfg, p);
        check_destination(&r[k], &cs, cfg, p);
        k++;
    }
    conns_close(&cs);
    snprintf(r[k].subject, sizeof r[k].subject, "state");
    check_store(&r[k], cfg);
    *out = r;
    *n = k + 1;
    return ST_OK;
}
