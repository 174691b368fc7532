/*
 * sync_cdc — the cdc strategy: a PostgreSQL source table's changes, read
 * from its write-ahead log through a logical replication slot (pgoutput),
 * applied to any destination (DESIGN §7; the protocol lives in src/cdc).
 *
 * State. The strategy's "watermark" (state_meta, as delta's) is the LSN
 * the destination has committed up to ("16/B374D848"); "cdc_columns" the
 * source table's columns when the slot was made. Both are written only
 * after a destination commit. No watermark means no stream: the run starts
 * one. The slot's retained WAL and lag at the run's start, and the start of
 * the last run that applied everything before it, are recorded through
 * cdc_figures.c (what status, the API, /metrics and the alerts show).
 *
 * First run (no watermark): the publication and the slot (cdc_slot_name:
 * one name for both) are made anew — an older slot of the same name is
 * dropped, its position meaningless without a watermark — the publication
 * first, so the slot decodes the table from its first change. The slot is
 * created with an exported snapshot; the source connection imports it
 * (BEGIN REPEATABLE READ; SET TRANSACTION SNAPSHOT) and the initial copy
 * runs as the `full` strategy inside it: every transaction that committed
 * before the slot's consistent point is in the copy, every later one comes
 * from the slot, none twice. The watermark becomes the consistent point.
 *
 * A slot made ahead by `ddl apply` (sync_cdc_prepare; "cdc_slot_ready"
 * holds its consistent point while nothing has read it): its exported
 * snapshot died with ddl apply's connection, so the first run copies the
 * table as `full` in a snapshot of its own (taken after the consistent
 * point; the run's stop is read in it) and then replays the slot from the
 * consistent point to that stop. Changes in between are in the copy and
 * replayed too: applying them again, each key's last change last, leaves
 * every row as the source had it at the stop.
 *
 * continuous: true: after draining, the run keeps reading (no stop) and
 * applies what is pending whenever the server says it is caught up (a
 * keepalive), after a second of silence, and at batch_size changes, each
 * batch committed, then saved and confirmed, until SIGTERM/SIGINT ends it
 * (interrupted; a batch not yet committed is replayed by the next run).
 *
 * Each later run: the source's pg_current_wal_insert_lsn() at the start is the
 * stop; if the slot's confirmed position is there already nothing is read.
 * With little WAL in between (CDC_PEEK_MAX) the source session peeks the
 * slot first (peek_quiet): no change of the table there, and the slot is
 * advanced to the stop without a replication connection. Otherwise
 * START_REPLICATION from the watermark, and every transaction
 * whose commit lies before the stop is applied in commit order. Changes
 * are kept per key (the last change of a key wins: an upsert of the row as
 * it is now, or a delete), so a batch's deletes and upserts never depend on
 * their order; a key update is a delete of the old key and an upsert of the
 * new. A batch (batch_size changes, ended at a commit or, in a large
 * transaction, in its middle) is one destination transaction through
 * sync_batch_txn (fencing, cancel and interrupt checks as every strategy);
 * after its commit the watermark is saved and the slot told the end LSN of
 * the last whole transaction in it (cdc_repl_confirm). A kill at any moment
 * replays from there: re-applying an upsert or a delete by key is
 * idempotent. When the table had no change before the stop, the server's
 * keepalive says how far it has decoded, and that is confirmed, so a quiet
 * table does not hold WAL back.
 *
 * Values: pgoutput sends each value as its type's output text in the
 * replication session (DateStyle ISO, TimeZone UTC, extra_float_digits 1:
 * cdc_repl.c), which is the canonical text (store.h) except: numeric
 * trailing fraction zeros (trimmed, as trim_scale), timestamptz's "+00"
 * (cut), real (float4) widened to float8 as PostgreSQL's cast does, and a
 * source type other than the config kind (cdc_canon). An unchanged TOASTed
 * value ('u') is not in the message: it is taken from an earlier change of
 * the key in the same batch, else from the destination row, else from the
 * source row; never written as NULL.
 *
 * Checks: a relation message naming a column the pipeline does not map and
 * the table did not have when the slot was made, or lacking a mapped
 * column, stops the run with an error naming it (never a wrong row); so
 * does a pipeline key column outside the table's replica identity. A
 * TRUNCATE of the table deletes every destination row (in the batch's
 * transaction, so a failure rolls it back). max_slot_lag: the run fails
 * before reading when the slot retains more WAL than that.
 */
#include "sync_int.h"
#include "../cdc/cdc.h"
#include "../log/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- Pending changes, one per key --- */

typedef struct cdc_ent {
    store_op op;          /* STORE_UPSERT or STORE_DELETE */
    char *key;            /* the key values' row text: the map's key */
    char **v;             /* ncols values, canonical; NULL = SQL NULL */
    bool *unch;           /* ncols: an unchanged TOASTed value not yet known */
    bool any_unch;
} cdc_ent;

typedef struct cdc_pending {
    cdc_ent *e;
    size_t n, cap;
    size_t *slot;         /* open addressing: index + 1, 0 empty */
    size_t nslot;
    bool truncate;        /* the destination is emptied first */
} cdc_pending;

typedef struct cdc_rel {
    uint32_t relid;
    int *src_of;          /* per pipeline column: its position in the relation */
    uint32_t *type_of;    /* per pipeline column: the source type OID */
    int ncols;            /* the relation's */
} cdc_rel;

typedef struct cdc_run {
    sync_ctx *c;
    cdc_repl *repl;
    char slot[CDC_NAME_MAX];
    cdc_pending pend;
    cdc_rel rel;
    char **baseline;      /* source columns when the slot was made */
    size_t nbaseline;
    uint64_t stop;        /* pg_current_wal_insert_lsn() at the run's start */
    uint64_t done;        /* end LSN of the last whole transaction read */
    uint64_t saved;       /* the watermark */
    int64_t changes;      /* read since the last flush */
    bool fresh;           /* this run made the slot and copied the table */
} cdc_run;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void ent_free(cdc_ent *e, size_t ncols) {
    for (size_t i = 0; e->v && i < ncols; i++) free(e->v[i]);
    free(e->v);
    free(e->unch);
    free(e->key);
}

static void pend_clear(cdc_pending *p, size_t ncols) {
    for (size_t i = 0; i < p->n; i++) ent_free(&p->e[i], ncols);
    p->n = 0;
    if (p->slot) memset(p->slot, 0, p->nslot * sizeof *p->slot);
    p->truncate = false;
}

static void pend_free(cdc_pending *p, size_t ncols) {
    pend_clear(p, ncols);
    free(p->e);
    free(p->slot);
    memset(p, 0, sizeof *p);
}

static int pend_grow(cdc_pending *p) {
    size_t cap = p->cap ? p->cap * 2 : 256;
    cdc_ent *e = realloc(p->e, cap * sizeof *e);
    if (e == NULL) return ST_ENOMEM;
    p->e = e;
    p->cap = cap;
    size_t nslot = cap * 2;
    size_t *slot = calloc(nslot, sizeof *slot);
    if (slot == NULL) return ST_ENOMEM;
    free(p->slot);
    p->slot = slot;
    p->nslot = nslot;
    for (size_t i = 0; i < p->n; i++) {
        size_t h = fnv(p->e[i].key) % nslot;
        while (slot[h]) h = (h + 1) % nslot;
        slot[h] = i + 1;
    }
    return ST_OK;
}

/* The entry of `key`, made (empty, op UPSERT) when there is none. */
static cdc_ent *pend_get(cdc_run *r, const char *key) {
    cdc_pending *p = &r->pend;
    if (p->n == p->cap && pend_grow(p) != ST_OK) return NULL;
    size_t h = fnv(key) % p->nslot;
    for (; p->slot[h]; h = (h + 1) % p->nslot)
        if (strcmp(p->e[p->slot[h] - 1].key, key) == 0) return &p->e[p->slot[h] - 1];
    size_t nc = r->c->ncols;
    cdc_ent *e = &p->e[p->n];
    *e = (cdc_ent){.op = STORE_UPSERT, .key = strdup(key), .v = calloc(nc, sizeof(char *)),
                   .unch = calloc(nc, sizeof(bool))};
    if (!e->key || !e->v || !e->unch) { ent_free(e, nc); return NULL; }
    p->slot[h] = ++p->n;
    return e;
}

/* --- Values --- */

#define PG_FLOAT4_OID 700

/* The canonical text (store.h) of pgoutput's text `in` for a column of
 * `kind` whose source type is `type`, into buf (n >= strlen(in) + 64); `in`
 * itself when it is canonical already. */
static const char *cdc_canon(const char *in, store_kind kind, uint32_t type, char *buf,
                             size_t n) {
    size_t len = strlen(in);
    switch (kind) {
    case STORE_K_NUMERIC: {
        if (strpbrk(in, "eE") && strcmp(in, "Infinity") && strcmp(in, "-Infinity")) {
            const char *v = store_canon_text(in, kind, buf, n);
            return v ? v : in;
        }
        if (strchr(in, '.') == NULL) return in;
        memcpy(buf, in, len + 1);
        while (len > 0 && buf[len - 1] == '0') buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '.') buf[--len] = '\0';
        if (strcmp(buf, "-0") == 0) snprintf(buf, n, "0");
        return buf;
    }
    case STORE_K_FLOAT: {
        char *end;
        double v = type == PG_FLOAT4_OID ? (double)strtof(in, &end) : strtod(in, &end);
        if (end == in || *end != '\0') return in;
        return store_canon_double(v, kind, buf, n);
    }
    case STORE_K_TIMESTAMPTZ:
    case STORE_K_TIMESTAMP:
        if (len > 3 && strcmp(in + len - 3, "+00") == 0) {
            memcpy(buf, in, len - 3);
            buf[len - 3] = '\0';
            return buf;
        }
        return in;
    case STORE_K_DATE:
        if (len > 10 && in[10] == ' ' && isdigit((unsigned char)in[0])) {
            snprintf(buf, n, "%.10s", in);
            return buf;
        }
        return in;
    case STORE_K_BOOL:
        return strcmp(in, "true") == 0 ? "t" : strcmp(in, "false") == 0 ? "f" : in;
    default: return in;
    }
}

/* cdc_canon into a new string (NULL: out of memory). */
static char *canon_dup(const char *in, store_kind kind, uint32_t type) {
    size_t n = strlen(in) + 64;
    char *buf = malloc(n);
    if (buf == NULL) return NULL;
    const char *v = cdc_canon(in, kind, type, buf, n);
    if (v != buf) {
        free(buf);
        return strdup(v);
    }
    return buf;
}

/* Sets e->v[i] from column `ri` of tuple t (kind 'n', 'u' or 't'). */
static int set_value(cdc_run *r, cdc_ent *e, size_t i, const cdc_tuple *t, int ri) {
    char k = ri < t->ncols ? t->kind[ri] : 'n';
    if (k == 'u') {
        e->unch[i] = true;   /* resolved at the flush (resolve_unchanged) */
        return ST_OK;
    }
    free(e->v[i]);
    e->v[i] = NULL;
    e->unch[i] = false;
    if (k != 't') return ST_OK;
    e->v[i] = canon_dup(t->val[ri], r->c->kinds[i], r->rel.type_of[i]);
    return e->v[i] ? ST_OK : ST_ENOMEM;
}

/* The key's row text from tuple t (NULL when a key value is missing). */
static char *key_text(cdc_run *r, const cdc_tuple *t) {
    store_sb b = {0};
    sync_ctx *c = r->c;
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        int ri = r->rel.src_of[i];
        if (ri >= t->ncols || t->kind[ri] != 't') { store_sb_free(&b); return NULL; }
        char *v = canon_dup(t->val[ri], c->kinds[i], r->rel.type_of[i]);
        if (b.len) store_sb_add(&b, "|");
        store_sb_rowvalue(&b, v ? v : "");
        b.oom |= v == NULL;
        free(v);
    }
    if (b.oom) { store_sb_free(&b); return NULL; }
    return b.s ? b.s : strdup("");
}

/* --- Applying messages --- */

static int no_key(cdc_run *r, const char *what) {
    return st_error_set(r->c->err, ST_EINVAL, "cdc: a %s on the source has no value for a key "
                        "column of the pipeline: its key must be the table's replica identity "
                        "(its primary key, or REPLICA IDENTITY FULL)", what);
}

/* An insert or the new row of an update: upsert the key's row. An 'u'
 * column keeps what an earlier change of the key in this batch said. */
static int add_upsert(cdc_run *r, const cdc_tuple *t, const char *what) {
    char *key = key_text(r, t);
    if (key == NULL) return no_key(r, what);
    cdc_ent *e = pend_get(r, key);
    free(key);
    if (e == NULL) return st_error_set(r->c->err, ST_ENOMEM, "out of memory");
    bool was_delete = e->op == STORE_DELETE;
    e->op = STORE_UPSERT;
    e->any_unch = false;
    for (size_t i = 0; i < r->c->ncols; i++) {
        int ri = r->rel.src_of[i];
        bool unch = ri < t->ncols && t->kind[ri] == 'u';
        if (unch && !was_delete && e->v[i] != NULL && !e->unch[i]) continue; /* known */
        int rc = set_value(r, e, i, t, ri);
        if (rc != ST_OK) return st_error_set(r->c->err, rc, "out of memory");
        e->any_unch |= e->unch[i];
    }
    return ST_OK;
}

static int add_delete(cdc_run *r, const cdc_tuple *t) {
    char *key = key_text(r, t);
    if (key == NULL) return no_key(r, "delete");
    cdc_ent *e = pend_get(r, key);
    free(key);
    if (e == NULL) return st_error_set(r->c->err, ST_ENOMEM, "out of memory");
    e->op = STORE_DELETE;
    e->any_unch = false;
    for (size_t i = 0; i < r->c->ncols; i++) {
        e->unch[i] = false;
        if (r->c->key[i]) set_value(r, e, i, t, r->rel.src_of[i]);
    }
    return ST_OK;
}

static int on_update(cdc_run *r, const cdc_msg *m) {
    if (m->old_kind != 0) {   /* a key change: delete the old key first */
        char *old = key_text(r, &m->old), *now = key_text(r, &m->new_);
        bool moved = old && now && strcmp(old, now) != 0;
        free(old);
        free(now);
        if (moved) {
            int rc = add_delete(r, &m->old);
            if (rc != ST_OK) return rc;
        }
    }
    /* REPLICA IDENTITY FULL: an unchanged TOASTed value is in the old row */
    cdc_tuple merged = m->new_;
    char *kind = NULL;
    char **val = NULL;
    if (m->old_kind == 'O' && m->old.ncols == m->new_.ncols) {
        kind = malloc((size_t)m->new_.ncols + 1);
        val = malloc(((size_t)m->new_.ncols + 1) * sizeof *val);
        if (!kind || !val) { free(kind); free(val); return ST_ENOMEM; }
        for (int i = 0; i < m->new_.ncols; i++) {
            bool from_old = m->new_.kind[i] == 'u' && m->old.kind[i] != 'u';
            kind[i] = from_old ? m->old.kind[i] : m->new_.kind[i];
            val[i] = from_old ? m->old.val[i] : m->new_.val[i];
        }
        merged.kind = kind;
        merged.val = val;
    }
    int rc = add_upsert(r, &merged, "update");
    free(kind);
    free(val);
    return rc;
}

static bool in_list(char **list, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return true;
    return false;
}

/* A relation message: map the pipeline's columns onto it, or stop. */
static int on_relation(cdc_run *r, const cdc_msg *m) {
    sync_ctx *c = r->c;
    const char *pn = c->o->pipeline->name;
    const char *sch = m->nspname && *m->nspname ? m->nspname : "pg_catalog";
    for (int j = 0; j < m->ncols; j++) {
        const char *name = m->cols[j].name;
        bool mapped = false;
        for (size_t i = 0; i < c->ncols && !mapped; i++) mapped = strcmp(c->scols[i], name) == 0;
        if (!mapped && !in_list(r->baseline, r->nbaseline, name))
            return st_error_set(c->err, ST_EINVAL,
                                "cdc: source table %s.%s has column '%s', which it did not "
                                "have when the stream began and the pipeline does not map: "
                                "the changes no longer match the pipeline's columns; add it "
                                "to columns if it is to be copied (then synctool ddl apply %s), "
                                "and run synctool cdc drop %s: the next run copies the table "
                                "in full and streams from there",
                                sch, m->relname, name, pn, pn);
    }
    free(r->rel.src_of);
    free(r->rel.type_of);
    r->rel.src_of = calloc(c->ncols, sizeof *r->rel.src_of);
    r->rel.type_of = calloc(c->ncols, sizeof *r->rel.type_of);
    if (!r->rel.src_of || !r->rel.type_of) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    r->rel.relid = m->relid;
    r->rel.ncols = m->ncols;
    for (size_t i = 0; i < c->ncols; i++) {
        int j = 0;
        while (j < m->ncols && strcmp(m->cols[j].name, c->scols[i]) != 0) j++;
        if (j == m->ncols)
            return st_error_set(c->err, ST_EINVAL,
                                "cdc: source table %s.%s no longer has column '%s' of the "
                                "pipeline: fix the pipeline's columns, then run synctool cdc "
                                "drop %s: the next run copies the table in full",
                                sch, m->relname, c->scols[i], pn);
        if (c->key[i] && !m->cols[j].key && m->replident != 'f')
            return st_error_set(c->err, ST_EINVAL,
                                "cdc: key column '%s' of the pipeline is not part of the "
                                "replica identity of source table %s.%s, so deletes and key "
                                "changes would not name it: make the pipeline's key the "
                                "table's primary key, or ALTER TABLE %s.%s REPLICA IDENTITY "
                                "FULL", c->scols[i], sch, m->relname, sch, m->relname);
        r->rel.src_of[i] = j;
        r->rel.type_of[i] = m->cols[j].type;
    }
    return ST_OK;
}

static int need_relation(cdc_run *r, uint32_t relid) {
    if (r->rel.src_of != NULL && r->rel.relid == relid) return ST_OK;
    return st_error_set(r->c->err, ST_ERR, "cdc: a change of relation %u arrived before its "
                        "relation message", relid);
}

static int on_change(cdc_run *r, const cdc_msg *m) {
    int rc = need_relation(r, m->relid);
    if (rc != ST_OK) return rc;
    r->changes++;
    r->c->stats->rows_read++;
    if (m->type == CDC_MSG_INSERT) return add_upsert(r, &m->new_, "insert");
    if (m->type == CDC_MSG_UPDATE) return on_update(r, m);
    if (m->old_kind == 0) return no_key(r, "delete");
    return add_delete(r, &m->old);
}

static void on_truncate(cdc_run *r, const cdc_msg *m) {
    for (int i = 0; i < m->nrels; i++) {
        if (m->relids[i] != r->rel.relid || r->rel.src_of == NULL) continue;
        pend_clear(&r->pend, r->c->ncols);   /* everything before is gone */
        r->pend.truncate = true;
        r->changes++;
    }
}

/* --- The flush: one destination transaction --- */

/* The row of `e`'s key in the destination (source: false) or the source,
 * canonical; NULL in *row when there is none. */
static int fetch_row(cdc_run *r, const cdc_ent *e, bool source, sync_list *l) {
    sync_ctx *c = r->c;
    store *s = source ? c->src : c->dst;
    store_sb q = {0};
    const char *params[64];
    int np = 0;
    sync_sql_select(&q, c, source);
    store_sb_add(&q, " WHERE ");
    for (size_t i = 0; i < c->ncols && np < 64; i++) {
        if (!c->key[i]) continue;
        char p[16];
        snprintf(p, sizeof p, "%c%d", store_param_prefix(s), np + 1);
        if (np) store_sb_add(&q, " AND ");
        store_sb_colref(&q, s, source ? &c->st : &c->dt, source ? c->scols[i] : c->dcols[i]);
        store_sb_add(&q, " = ");
        store_sb_param_cast(&q, s, p, c->kinds[i], c->types[i]);
        params[np++] = e->v[i];
    }
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(l, s, q.s, np, params, c->err);
    store_sb_free(&q);
    return rc;
}

/* Fills the unchanged TOASTed values of `e` from the destination row, else
 * the source row; *gone when neither has the key (a later delete of the
 * stream removes it anyway). */
static int resolve_unchanged(cdc_run *r, cdc_ent *e, bool *gone) {
    *gone = false;
    for (int side = 0; side < 2; side++) {
        sync_list l;
        int rc = fetch_row(r, e, side == 1, &l);
        if (rc != ST_OK) return rc;
        if (l.n == 1) {
            for (size_t i = 0; i < r->c->ncols; i++) {
                if (!e->unch[i]) continue;
                free(e->v[i]);
                e->v[i] = l.rows[0]->v[i] ? strdup(l.rows[0]->v[i]) : NULL;
                e->unch[i] = false;
            }
            e->any_unch = false;
        }
        sync_list_free(&l);
        if (!e->any_unch) return ST_OK;
    }
    *gone = true;
    return ST_OK;
}

static int flush_body(sync_ctx *c, void *arg, store_counts *cnt) {
    cdc_run *r = arg;
    cdc_pending *p = &r->pend;
    int rc = ST_OK;
    if (p->truncate) {
        store_sb q = {0};
        int64_t n = 0;
        store_sb_add(&q, "DELETE FROM ");
        store_sb_from(&q, c->dst, &c->dt);
        rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : store_exec(c->dst, q.s, 0, NULL, &n, c->err);
        store_sb_free(&q);
        cnt->deleted += n;
    }
    store_change *ch = calloc(p->n + 1, sizeof *ch);
    if (ch == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < p->n && rc == ST_OK; i++) {
        cdc_ent *e = &p->e[i];
        bool gone = false;
        if (e->op == STORE_UPSERT && e->any_unch) rc = resolve_unchanged(r, e, &gone);
        if (rc != ST_OK || gone) continue;
        ch[k].op = e->op;
        ch[k++].vals = (const char *const *)e->v;
    }
    store_counts got = {0};
    if (rc == ST_OK && k > 0) rc = store_apply(c->dst, &c->dt, ch, k, &got, c->err);
    free(ch);
    cnt->inserted += got.inserted;
    cnt->updated += got.updated;
    cnt->deleted += got.deleted;
    return rc;
}

static int save_watermark(cdc_run *r, uint64_t lsn) {
    char at[32];
    cdc_lsn_format(lsn, at);
    int rc = state_meta_put(r->c->o->st, r->c->o->pipeline->name, r->c->o->strategy->name,
                            "watermark", at, r->c->err);
    if (rc == ST_OK) r->saved = lsn;
    return rc;
}

/* Commits the pending changes, then saves and confirms r->done. */
static int flush(cdc_run *r) {
    sync_ctx *c = r->c;
    if (r->pend.n > 0 || r->pend.truncate) {
        store_counts cnt = {0};
        int rc = sync_batch_txn(c, flush_body, r, &cnt);
        if (rc != ST_OK) return rc;
        sync_batch_count(c, &cnt);
        pend_clear(&r->pend, c->ncols);
    }
    r->changes = 0;
    if (r->done <= r->saved) return ST_OK;
    int rc = save_watermark(r, r->done);
    if (rc == ST_OK) rc = cdc_repl_confirm(r->repl, r->done, c->err);
    return rc;
}

/* --- The stream --- */

static int drain_one(cdc_run *r, const cdc_data *d, bool *past_stop, bool *in_txn) {
    cdc_msg m;
    int rc = cdc_msg_parse(d->msg, d->len, &m, r->c->err);
    if (rc == ST_OK) {
        switch (m.type) {
        case CDC_MSG_BEGIN:
            *past_stop = m.lsn >= r->stop;
            *in_txn = !*past_stop;
            break;
        case CDC_MSG_COMMIT:
            *in_txn = false;
            r->done = m.end_lsn;
            if (r->changes >= r->c->batch_size) rc = flush(r);
            break;
        case CDC_MSG_RELATION: rc = on_relation(r, &m); break;
        case CDC_MSG_INSERT:
        case CDC_MSG_UPDATE:
        case CDC_MSG_DELETE:
            rc = on_change(r, &m);
            /* a large transaction is applied in batches too; its end is
             * confirmed only after its commit (replaying it is idempotent) */
            if (rc == ST_OK && r->changes >= r->c->batch_size) rc = flush(r);
            break;
        case CDC_MSG_TRUNCATE: on_truncate(r, &m); break;
        default: break;
        }
    }
    cdc_msg_clear(&m);
    return rc;
}

/* After a silence: how far the walsender has sent (its sentPtr, as
 * pg_stat_replication shows it); 0 when past the stop, else CDC_IDLE (wait
 * on), or an error in *rc. d->wal_end is 0: unlike a keepalive, which
 * follows the data it covers on the stream, this answer may overtake
 * messages still on their way, so it ends the run but confirms nothing
 * beyond the last transaction applied. */
static int sent_past_stop(cdc_run *r, cdc_data *d, int *rc) {
    char pid[16];
    snprintf(pid, sizeof pid, "%d", cdc_repl_pid(r->repl));
    const char *params[1] = {pid};
    sync_list l;
    *rc = sync_list_load(&l, r->c->src, "SELECT sent_lsn::text FROM pg_stat_replication "
                         "WHERE pid = $1::int", 1, params, r->c->err);
    if (*rc != ST_OK) return *rc;
    uint64_t sent = 0;
    bool known = l.n == 1 && l.rows[0]->v[0] && cdc_lsn_parse(l.rows[0]->v[0], &sent) == ST_OK;
    sync_list_free(&l);
    if (!known || sent < r->stop) return CDC_IDLE;
    d->wal_end = 0;
    return 0;
}

/* continuous: the server said it has sent everything up to wal_end (a
 * keepalive between transactions): apply what is pending, then save and
 * confirm wal_end, so a quiet table holds no WAL back. */
static int caught_up_to(cdc_run *r, uint64_t wal_end) {
    if (wal_end > r->done) r->done = wal_end;
    return flush(r);
}

/* The replication connection, opened when first needed: a run with nothing
 * to read (the slot at the stop, or a peek that found no change) never
 * opens one. */
static int repl_open(cdc_run *r) {
    if (r->repl != NULL) return ST_OK;
    sync_ctx *c = r->c;
    const config_datastore *ds = config_datastore_find(c->o->cfg, c->o->pipeline->source.datastore);
    int rc = cdc_repl_open(&r->repl, ds, c->err);
    if (rc == ST_OK) cdc_repl_set_interrupt(r->repl, c->o->interrupt);
    return rc;
}

/* Applies every transaction that committed before r->stop. Continuous
 * (r->stop is then UINT64_MAX): every transaction until interrupted
 * (ST_EINTR; what was not committed is replayed by the next run), applying
 * what is pending whenever the server says it is caught up or has been
 * silent for a second, and at every batch_size changes. */
static int drain(cdc_run *r) {
    sync_ctx *c = r->c;
    bool cont = c->o->strategy->continuous;
    c->prog.estimated = true;   /* the table's size says nothing about the changes */
    int rc = repl_open(r);
    if (rc == ST_OK) rc = cdc_repl_start(r->repl, r->slot, r->slot, r->saved, c->err);
    bool past = false, caught_up = false, in_txn = false;
    uint64_t decoded = 0;
    if (cont) r->stop = UINT64_MAX;
    while (rc == ST_OK && !past) {
        if (c->o->cancel != NULL && *c->o->cancel) {
            rc = st_error_set(c->err, ST_ELOST, "lost pipeline lock");
            break;
        }
        cdc_data d;
        /* a keepalive inside a transaction never ends the read */
        int got = cdc_repl_next(r->repl, in_txn ? 0 : cont ? 1 : r->stop, &d, c->err);
        if (cont && got == 0) { rc = caught_up_to(r, d.wal_end); continue; }
        if (cont && got == CDC_IDLE) { if (!in_txn) rc = flush(r); continue; }
        if (got == CDC_IDLE && !in_txn) got = sent_past_stop(r, &d, &rc);
        if (got == CDC_IDLE) continue;
        if (got < 0) { rc = got; break; }
        if (got == 0) { caught_up = true; decoded = d.wal_end; break; }
        rc = drain_one(r, &d, &past, &in_txn);
    }
    /* a quiet table: everything up to `decoded` was sent and applied */
    if (rc == ST_OK && caught_up && decoded > r->done) r->done = decoded;
    if (rc == ST_OK) rc = flush(r);
    st_error ignored;
    if (rc == ST_OK) rc = cdc_repl_stop(r->repl, c->err);
    else cdc_repl_stop(r->repl, &ignored);
    return rc;
}

/* --- Slot and publication --- */

typedef struct slot_info {
    bool exists;
    uint64_t confirmed, now;
    int64_t retained;     /* bytes of WAL the slot holds */
    long version;         /* server_version_num */
    char wal_level[32];
} slot_info;

/* The walsender decodes only flushed WAL. A transaction committed with
 * synchronous_commit = off is visible before its commit record is
 * flushed; one tiny synchronous commit flushes everything before it, so
 * the stop position can be reached now. The commit waits for the flush
 * only when the transaction has an XID and wrote WAL of its own
 * (PostgreSQL's RecordTransactionCommit): a transactional logical decoding
 * message (prefix "synctool", which pgoutput does not send: its messages
 * option is off) gives it both. One statement, one round trip: its
 * implicit transaction commits with the synchronous_commit that set_config
 * made local to it (the setting is read at the commit, reset after it). */
static int flush_wal(sync_ctx *c) {
    return store_exec(c->src, "SELECT set_config('synchronous_commit', 'on', true), "
                      "pg_logical_emit_message(true, 'synctool', 'flush')", 0, NULL, NULL,
                      c->err);
}

/* The insert position points past a page header when it sits at a page
 * boundary, where the last record's end is the boundary itself: the stop is
 * that boundary (no record ends inside a header). block: wal_block_size. */
static uint64_t page_start(uint64_t lsn, const char *block_text) {
    uint64_t block = block_text ? strtoull(block_text, NULL, 10) : 0;
    return block > 0 && lsn % block <= 40 ? lsn - lsn % block : lsn;
}

/* The source's WAL position now (the run's stop: pg_current_wal_insert_lsn,
 * every commit visible now lies before it), wal_level, and the slot. */
static int read_slot(cdc_run *r, slot_info *si) {
    sync_ctx *c = r->c;
    const char *params[1] = {r->slot};
    sync_list l;
    int rc = sync_list_load(&l, c->src,
        "SELECT current_setting('wal_level'), pg_current_wal_insert_lsn()::text, "
        "(SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1), "
        "(SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn)::bigint::text "
        "FROM pg_replication_slots WHERE slot_name = $1), "
        "pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn(), "
        "current_setting('wal_block_size'), current_setting('server_version_num')", 1, params,
        c->err);
    if (rc != ST_OK) return rc;
    memset(si, 0, sizeof *si);
    const char *const *v = l.rows[0]->v;
    snprintf(si->wal_level, sizeof si->wal_level, "%s", v[0] ? v[0] : "?");
    cdc_lsn_parse(v[1], &si->now);
    si->now = page_start(si->now, v[5]);
    si->exists = v[2] != NULL;
    if (v[2]) cdc_lsn_parse(v[2], &si->confirmed);
    si->retained = v[3] ? strtoll(v[3], NULL, 10) : 0;
    si->version = v[6] ? strtol(v[6], NULL, 10) : 0;
    bool unflushed = v[4] && strcmp(v[4], "t") == 0;
    sync_list_free(&l);
    return unflushed ? flush_wal(c) : ST_OK;
}

static int src_exec(sync_ctx *c, const char *sql, int np, const char *const *p) {
    return store_exec(c->src, sql, np, p, NULL, c->err);
}

/* UPDATE and DELETE on a published table without a replica identity fail
 * on the source: refused before the publication exists. */
static int check_identity(cdc_run *r) {
    sync_ctx *c = r->c;
    const char *schema = store_schema(c->src, c->st.schema);
    const char *params[2] = {schema, c->st.table};
    sync_list l;
    int rc = sync_list_load(&l, c->src,
        "SELECT c.relreplident::text, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid "
        "AND i.indisprimary)::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
        "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2", 2, params, c->err);
    if (rc != ST_OK) return rc;
    bool ok = l.n == 1 && l.rows[0]->v[0] &&
              (strcmp(l.rows[0]->v[0], "f") == 0 || strcmp(l.rows[0]->v[0], "i") == 0 ||
               (strcmp(l.rows[0]->v[0], "d") == 0 && strcmp(l.rows[0]->v[1], "true") == 0));
    sync_list_free(&l);
    if (ok) return ST_OK;
    return st_error_set(c->err, ST_EINVAL, "cdc: source table %s.%s has no replica identity "
                        "(no primary key): once published, UPDATE and DELETE on it would fail; "
                        "add a primary key or run ALTER TABLE %s.%s REPLICA IDENTITY FULL",
                        schema, c->st.table, schema, c->st.table);
}

static int save_baseline(cdc_run *r) {
    sync_ctx *c = r->c;
    store_column_info *info = NULL;
    size_t n = 0;
    int rc = store_describe(c->src, c->st.schema, c->st.table, &info, &n, c->err);
    store_sb b = {0};
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        if (i) store_sb_add(&b, "|");
        store_sb_rowvalue(&b, info[i].name);
    }
    free(info);
    if (rc == ST_OK)
        rc = b.oom ? ST_ENOMEM
                   : state_meta_put(c->o->st, c->o->pipeline->name, c->o->strategy->name,
                                    "cdc_columns", b.s ? b.s : "", c->err);
    store_sb_free(&b);
    return rc;
}

/* Adds one name to the baseline list. */
static int baseline_add(cdc_run *r, const char *name, size_t *cap) {
    if (r->nbaseline == *cap) {
        size_t n = *cap ? *cap * 2 : 32;
        char **v = realloc(r->baseline, n * sizeof *v);
        if (v == NULL) return ST_ENOMEM;
        r->baseline = v;
        *cap = n;
    }
    if ((r->baseline[r->nbaseline] = strdup(name)) == NULL) return ST_ENOMEM;
    r->nbaseline++;
    return ST_OK;
}

/* "cdc_columns": the escaped '|' list save_baseline wrote. */
static int load_baseline(cdc_run *r) {
    enum { MAX = 1 << 16 };
    sync_ctx *c = r->c;
    char *buf = malloc(MAX);
    if (buf == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    st_error e;
    int rc = ST_OK;
    if (state_meta_get(c->o->st, c->o->pipeline->name, c->o->strategy->name, "cdc_columns", buf,
                       MAX, &e) != ST_OK)
        buf[0] = '\0';   /* none: only the pipeline's columns are expected */
    store_sb cur = {0};
    size_t cap = 0;
    for (const char *p = buf; buf[0] && rc == ST_OK; p++) {
        if (*p == '\\' && p[1]) { store_sb_addn(&cur, ++p, 1); continue; }
        if (*p != '|' && *p != '\0') { store_sb_addn(&cur, p, 1); continue; }
        rc = cur.oom ? ST_ENOMEM : baseline_add(r, cur.s ? cur.s : "", &cap);
        cur.len = 0;
        if (cur.s) cur.s[0] = '\0';
        if (*p == '\0') break;
    }
    store_sb_free(&cur);
    free(buf);
    return rc == ST_OK ? ST_OK : st_error_set(c->err, rc, "out of memory");
}

static bool snapshot_name_ok(const char *s) {
    if (*s == '\0') return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) && *s != '-') return false;
    return true;
}

/* The stop of a run whose copy is in its own snapshot: the first statement
 * of the transaction takes the snapshot and reads the WAL insert position
 * after it, so every transaction the copy sees committed before the stop,
 * and replaying the slot up to the stop leaves the destination equal to the
 * source as of the stop. */
static int stop_in_snapshot(cdc_run *r) {
    sync_list l;
    int rc = sync_list_load(&l, r->c->src, "SELECT pg_current_wal_insert_lsn()::text, "
                            "current_setting('wal_block_size')", 0, NULL, r->c->err);
    if (rc != ST_OK) return rc;
    uint64_t lsn = 0;
    if (l.n == 1 && l.rows[0]->v[0] && cdc_lsn_parse(l.rows[0]->v[0], &lsn) == ST_OK)
        r->stop = page_start(lsn, l.rows[0]->v[1]);
    else
        rc = st_error_set(r->c->err, ST_ERR, "cdc: unexpected WAL position from the server");
    sync_list_free(&l);
    return rc;
}

/* The initial copy: `full` in the slot's exported snapshot, or (snapshot
 * NULL: a slot made earlier by ddl apply) in a snapshot of its own whose
 * WAL position becomes the run's stop. */
static int full_in_snapshot(cdc_run *r, const char *snapshot) {
    sync_ctx *c = r->c;
    char sql[160];
    if (snapshot && !snapshot_name_ok(snapshot))
        return st_error_set(c->err, ST_ERR, "cdc: unexpected snapshot name from the server");
    if (snapshot) snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT '%s'", snapshot);
    int rc = src_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
    if (rc == ST_OK) rc = snapshot ? src_exec(c, sql, 0, NULL) : stop_in_snapshot(r);
    if (rc == ST_OK) rc = sync_full(c);
    if (rc == ST_OK) rc = src_exec(c, "COMMIT", 0, NULL);
    if (rc != ST_OK) store_rollback(c->src);
    return rc;
}

/* The publication (FOR TABLE the source table) and the slot, made anew: an
 * older slot of the name (exists) is dropped, the publication made before
 * the slot so the slot decodes the table from its first change. *lsn: the
 * slot's consistent point; snap: its exported snapshot, valid until the
 * next command on r->repl. */
static int make_slot(cdc_run *r, bool exists, uint64_t *lsn, char snap[64]) {
    sync_ctx *c = r->c;
    store_sb q = {0};
    int rc = check_identity(r);
    if (rc == ST_OK) rc = repl_open(r);
    if (rc == ST_OK && exists) rc = cdc_repl_drop_slot(r->repl, r->slot, c->err);
    if (rc == ST_OK) {
        store_sb_addf(&q, "DROP PUBLICATION IF EXISTS \"%s\"", r->slot);
        rc = src_exec(c, q.s, 0, NULL);
    }
    if (rc == ST_OK) {
        q.len = 0;
        store_sb_addf(&q, "CREATE PUBLICATION \"%s\" FOR TABLE ", r->slot);
        store_sb_from(&q, c->src, &c->st);
        rc = q.oom ? ST_ENOMEM : src_exec(c, q.s, 0, NULL);
    }
    store_sb_free(&q);
    if (rc == ST_OK) rc = cdc_repl_create_slot(r->repl, r->slot, lsn, snap, c->err);
    return rc;
}

static int start_stream(cdc_run *r, const slot_info *si) {
    sync_ctx *c = r->c;
    const char *p = c->o->pipeline->name, *s = c->o->strategy->name;
    if (si->exists)
        log_info(p, s, "replication slot %s exists without a saved position: dropping it and "
                 "starting again with a full copy", r->slot);
    uint64_t lsn = 0;
    char snap[64];
    int rc = make_slot(r, si->exists, &lsn, snap);
    if (rc == ST_OK) rc = save_baseline(r);
    if (rc == ST_OK) {
        char at[32];
        cdc_lsn_format(lsn, at);
        log_info(p, s, "created publication and replication slot %s at %s: copying the table "
                 "in full in the slot's snapshot", r->slot, at);
        rc = full_in_snapshot(r, snap);
    }
    if (rc == ST_OK) rc = save_watermark(r, lsn);
    return rc;
}

/* The LSN `ddl apply` made the slot at ("cdc_slot_ready"), 0 none. */
static uint64_t slot_ready(cdc_run *r) {
    char buf[64];
    st_error e;
    uint64_t lsn = 0;
    if (state_meta_get(r->c->o->st, r->c->o->pipeline->name, r->c->o->strategy->name,
                       "cdc_slot_ready", buf, sizeof buf, &e) == ST_OK)
        cdc_lsn_parse(buf, &lsn);
    return lsn;
}

/* First run on a slot `ddl apply` made (still at its consistent point
 * `ready`, nothing read from it): the copy runs as `full` in this run's own
 * snapshot, taken after the slot's consistent point, and the slot is
 * replayed from `ready` up to the stop read in that snapshot. A change
 * between the two is both in the copy and replayed: applying it again (an
 * upsert or a delete by key, in commit order, the last change of a key
 * last) leaves the row as the source has it at the stop. */
static int adopt_slot(cdc_run *r, uint64_t ready) {
    sync_ctx *c = r->c;
    char at[32];
    cdc_lsn_format(ready, at);
    log_info(c->o->pipeline->name, c->o->strategy->name, "replication slot %s was made by "
             "ddl apply at %s: copying the table in full in this run's snapshot, then "
             "replaying the slot from %s", r->slot, at, at);
    int rc = save_baseline(r);
    if (rc == ST_OK) rc = full_in_snapshot(r, NULL);
    if (rc == ST_OK) rc = flush_wal(c);   /* the walsender decodes up to the stop now */
    if (rc == ST_OK) rc = save_watermark(r, ready);
    if (rc == ST_OK)
        rc = state_meta_put(c->o->st, c->o->pipeline->name, c->o->strategy->name,
                            "cdc_slot_ready", "", c->err);
    return rc;
}

static int load_watermark(cdc_run *r) {
    char buf[64];
    st_error e;
    sync_ctx *c = r->c;
    int rc = state_meta_get(c->o->st, c->o->pipeline->name, c->o->strategy->name, "watermark",
                            buf, sizeof buf, &e);
    if (rc == ST_ENOTFOUND || (rc == ST_OK && buf[0] == '\0')) return ST_OK;
    if (rc != ST_OK) return st_error_set(c->err, rc, "reading the watermark: %s", e.msg);
    if (cdc_lsn_parse(buf, &r->saved) != ST_OK) r->saved = 0;
    return ST_OK;
}

/* The slot's figures at the run's start, the one place they are recorded
 * (cdc_figures.c): si NULL for a slot this run made, which retains
 * nothing yet. */
static int record_slot(cdc_run *r, const slot_info *si) {
    sync_ctx *c = r->c;
    int64_t kept = si ? si->retained : 0;
    int64_t lag = si && si->now > si->confirmed ? (int64_t)(si->now - si->confirmed) : 0;
    return cdc_figures_record(c->o->st, c->o->pipeline->name, c->o->strategy->name, kept, lag,
                              c->err);
}

static int check_slot(cdc_run *r, const slot_info *si) {
    sync_ctx *c = r->c;
    const char *p = c->o->pipeline->name;
    char at[32];
    cdc_lsn_format(r->saved, at);
    if (!si->exists)
        return st_error_set(c->err, ST_ENOTFOUND,
                            "cdc: replication slot %s of pipeline '%s' does not exist on "
                            "datastore '%s' (dropped?): the changes after %s cannot be read; "
                            "run synctool cdc drop %s (or synctool reset %s --drop-slot, which "
                            "also clears the failures), then run again: the next run copies "
                            "the table in full and streams from there",
                            r->slot, p, store_name(c->src), at, p, p);
    int64_t max = c->o->strategy->max_slot_lag;
    int rc = record_slot(r, si);
    if (rc != ST_OK) return rc;
    log_info(p, c->o->strategy->name, "replication slot %s: confirmed %s, %lld bytes of WAL "
             "retained", r->slot, at, (long long)si->retained);
    if (max > 0 && si->retained > max)
        return st_error_set(c->err, ST_ERR,
                            "cdc: replication slot %s retains %lld bytes of WAL on datastore "
                            "'%s', more than max_slot_lag (%lld): the source's disk fills "
                            "while it lags; run the strategy more often, raise max_slot_lag, "
                            "or drop the slot with synctool cdc drop %s (the next run copies "
                            "the table in full)",
                            r->slot, (long long)si->retained, store_name(c->src),
                            (long long)max, p);
    return ST_OK;
}

/* The peek and the advance of peek_quiet, one statement (one round trip):
 * the CTE decodes first and says whether the range is quiet; the advance
 * (an InitPlan, run only when the CASE takes its branch) only when it is.
 * $1 slot, $2 stop, $3 the publication (quoted).
 *
 * PostgreSQL 15 and later (PEEK_FIRST): pgoutput sends nothing for a
 * transaction without a change of the publication (empty transactions are
 * skipped), so the peek may stop early: at PEEK_ROWS rows
 * (upto_nchanges) instead of decoding and materialising the whole range.
 * With protocol 2 and streaming, under a logical_decoding_work_mem of 64kB
 * local to the statement, a large transaction in progress in the range is
 * sent as soon as 64kB of it is decoded, not at its commit, so a run with
 * changes pays a few milliseconds for the peek, not a second decoding of
 * its transaction. A large transaction of another table is streamed too,
 * as an empty Stream Start and Stop: two rows, not a change. Quiet: fewer
 * than PEEK_ROWS rows (the decoding reached the stop: every record before
 * it was decoded) and no Insert, Update, Delete or Truncate among them.
 * Anything else (a change, or the limit reached: undecided) streams, which
 * is exact either way; a change of a transaction that later aborts also
 * counts, and the stream then finds nothing to apply.
 *
 * Earlier servers (PEEK_ALL) send Begin and Commit for every transaction of
 * the database: the peek decodes the whole range and counts Insert,
 * Update, Delete and Truncate messages. */
#define PEEK_ROWS "64"
#define PEEK_ADVANCE(quiet)                                                                    \
    "WITH p AS MATERIALIZED (SELECT CASE WHEN pg_current_wal_flush_lsn() >= $2::pg_lsn "     \
    "THEN (" quiet ") END AS quiet) SELECT quiet::text, CASE WHEN quiet THEN (SELECT "       \
    "end_lsn FROM pg_replication_slot_advance($1, $2::pg_lsn))::text END FROM p"
static const char PEEK_FIRST[] = PEEK_ADVANCE(
    "SELECT count(*) < " PEEK_ROWS " AND count(*) FILTER (WHERE get_byte(c.data, 0) IN "
    "(73, 85, 68, 84)) = 0 FROM (SELECT set_config('logical_decoding_work_mem', '64kB', "
    "true) AS m) s, LATERAL pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, "
    PEEK_ROWS " + 0 * length(s.m), 'proto_version', '2', 'streaming', 'on', "
    "'publication_names', $3) c");
static const char PEEK_ALL[] = PEEK_ADVANCE(
    "SELECT count(*) = 0 FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, NULL, "
    "'proto_version', '1', 'publication_names', $3) WHERE get_byte(data, 0) IN "
    "(73, 85, 68, 84)");

/* The WAL since the slot's confirmed position up to which a run peeks
 * before opening a stream: decoding that much on the source session costs
 * a few milliseconds, so a run whose table had no change skips the
 * walsender (its start, its authentication, its keepalive and CopyDone
 * round trips); with more WAL than this, changes are likely and the run
 * streams at once rather than decode the range twice. */
#define CDC_PEEK_MAX (4 << 20)

/* Whether the slot holds no change of the table before the stop: the
 * source session decodes the slot up to the stop without consuming it
 * (pg_logical_slot_peek_binary_changes, pgoutput with the run's
 * publication; PEEK_FIRST or PEEK_ALL above). None: in the same statement
 * the slot is advanced to the stop (pg_replication_slot_advance), whose
 * position becomes the watermark; every transaction that committed before
 * the stop was in the peek, so nothing is skipped. Decoding reads flushed
 * WAL only: the peek is made only when the server has flushed up to the
 * stop (flush_wal sees to it), else the stream waits for the flush as
 * before. 1 quiet (advanced), 0 stream (changes, more WAL than
 * CDC_PEEK_MAX, or the statement failed: the stream then says why), or an
 * error of the watermark. The peek also moves the slot's restart point up
 * to its confirmed position, as a walsender would. */
static int peek_quiet(cdc_run *r, const slot_info *si) {
    sync_ctx *c = r->c;
    uint64_t from = si->confirmed > r->saved ? si->confirmed : r->saved;
    if (c->o->strategy->continuous) return 0;
    if (r->stop - from > CDC_PEEK_MAX) {
        log_debug(c->o->pipeline->name, c->o->strategy->name, "%llu bytes of WAL since the "
                  "slot's position, more than a peek decodes (%d): streaming",
                  (unsigned long long)(r->stop - from), CDC_PEEK_MAX);
        return 0;
    }
    char stop[32], pub[CDC_NAME_MAX + 2];
    cdc_lsn_format(r->stop, stop);
    snprintf(pub, sizeof pub, "\"%s\"", r->slot);
    const char *params[3] = {r->slot, stop, pub};
    sync_list l;
    st_error perr = {0};
    int rc = sync_list_load(&l, c->src, si->version >= 150000 ? PEEK_FIRST : PEEK_ALL, 3,
                            params, &perr);
    const char *pn = c->o->pipeline->name, *sn = c->o->strategy->name;
    if (rc != ST_OK) {
        log_debug(pn, sn, "peek of replication slot %s failed, streaming: %s", r->slot, perr.msg);
        return 0;
    }
    uint64_t at = 0;
    const char *v = l.n == 1 ? l.rows[0]->v[0] : NULL;
    const char *why = v == NULL ? "the server had not flushed its WAL up to there"
                      : strcmp(v, "true") != 0 ? "changes (or undecided)" : NULL;
    bool none = why == NULL && l.rows[0]->v[1] && cdc_lsn_parse(l.rows[0]->v[1], &at) == ST_OK;
    sync_list_free(&l);
    if (!none) {
        log_debug(pn, sn, "peek of replication slot %s up to %s: %s, streaming", r->slot, stop,
                  why ? why : "no position from the advance");
        return 0;
    }
    if (at > r->saved) rc = save_watermark(r, at);
    if (rc != ST_OK) return rc;
    return at >= r->stop ? 1 : 0;   /* short of the stop: the stream reads the rest */
}

static void run_free(cdc_run *r) {
    cdc_repl_close(r->repl);
    pend_free(&r->pend, r->c->ncols);
    free(r->rel.src_of);
    free(r->rel.type_of);
    for (size_t i = 0; i < r->nbaseline; i++) free(r->baseline[i]);
    free(r->baseline);
}

int sync_cdc(sync_ctx *c) {
    const config_pipeline *p = c->o->pipeline;
    const config_datastore *ds = config_datastore_find(c->o->cfg, p->source.datastore);
    if (!cdc_source_supported(ds) || c->st.table == NULL)
        return st_error_set(c->err, ST_EINVAL, "cdc: the source must be a PostgreSQL table "
                            "(cdc supports: PostgreSQL)");
    if (c->o->st == NULL)
        return st_error_set(c->err, ST_EINVAL, "cdc: needs a state store for its position");
    cdc_run r = {.c = c};
    cdc_slot_name(p->name, r.slot);
    slot_info si;
    int rc = load_watermark(&r);
    if (rc == ST_OK) rc = read_slot(&r, &si);
    if (rc == ST_OK && strcmp(si.wal_level, "logical") != 0)
        rc = st_error_set(c->err, ST_EINVAL, "cdc: datastore '%s' has wal_level = %s; logical "
                          "decoding needs wal_level = logical (set it in postgresql.conf or "
                          "ALTER SYSTEM SET wal_level = logical, then restart the server)",
                          ds->name, si.wal_level);
    r.stop = rc == ST_OK ? si.now : 0;
    bool cont = c->o->strategy->continuous;
    uint64_t ready = r.saved == 0 && rc == ST_OK && si.exists ? slot_ready(&r) : 0;
    r.fresh = r.saved == 0 && (ready == 0 || ready != si.confirmed);
    if (rc == ST_OK && r.fresh) {
        rc = start_stream(&r, &si);
        if (rc == ST_OK) rc = record_slot(&r, NULL);
        if (rc == ST_OK && cont) rc = load_baseline(&r);
    } else if (rc == ST_OK && r.saved == 0) {
        /* made by ddl apply: it retained WAL from then until now */
        rc = record_slot(&r, &si);
        if (rc == ST_OK) rc = adopt_slot(&r, ready);
        if (rc == ST_OK) rc = load_baseline(&r);
    } else if (rc == ST_OK) {
        rc = check_slot(&r, &si);
        if (rc == ST_OK) rc = load_baseline(&r);
    }
    if (rc == ST_OK && cont) {
        log_info(p->name, c->o->strategy->name, "continuous: streaming changes from replication "
                 "slot %s until interrupted (SIGTERM or SIGINT)", r.slot);
        rc = drain(&r);
    } else if (rc == ST_OK && !r.fresh) {
        bool behind = si.confirmed < r.stop && r.saved < r.stop;
        int quiet = behind ? peek_quiet(&r, &si) : 1;
        if (quiet < 0) rc = quiet;
        else if (quiet == 0) rc = drain(&r);
        else if (behind)
            log_info(p->name, c->o->strategy->name, "no changes: the slot's WAL up to the "
                     "source's current position holds none of the table's (peeked, slot "
                     "advanced)");
        else
            log_info(p->name, c->o->strategy->name, "no changes: the slot is at the source's "
                     "current position");
    }
    /* the destination holds every commit before the run's start */
    if (rc == ST_OK) rc = cdc_figures_confirmed(c->o->st, p->name, c->o->strategy->name,
                                                c->o->now, c->err);
    run_free(&r);
    return rc;
}

/* --- ddl plan / ddl apply: the slot made ahead of the first run --- */

static const config_strategy *cdc_strategy_of(const config_pipeline *p) {
    for (size_t i = 0; i < p->nstrategies; i++)
        if (p->strategies[i].type == CONFIG_STRATEGY_CDC) return &p->strategies[i];
    return NULL;
}

/* What the source has: wal_level, the slot's confirmed position (*exists),
 * whether the publication exists. */
static int prepare_probe(cdc_run *r, char wal_level[32], bool *exists, uint64_t *confirmed,
                         bool *pub) {
    const char *params[1] = {r->slot};
    sync_list l;
    int rc = sync_list_load(&l, r->c->src, "SELECT current_setting('wal_level'), "
                            "(SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                            "WHERE slot_name = $1), EXISTS (SELECT 1 FROM pg_publication "
                            "WHERE pubname = $1)::text", 1, params, r->c->err);
    if (rc != ST_OK) return rc;
    const char *const *v = l.rows[0]->v;
    snprintf(wal_level, 32, "%s", v[0] ? v[0] : "?");
    *exists = v[1] != NULL;
    *confirmed = 0;
    if (v[1]) cdc_lsn_parse(v[1], confirmed);
    *pub = v[2] && strcmp(v[2], "true") == 0;
    sync_list_free(&l);
    return ST_OK;
}

/* The plan's text: the replication commands make_slot runs. */
static char *prepare_plan(cdc_run *r, bool exists) {
    store_sb q = {0};
    store_sb_addf(&q, "-- on source datastore '%s', for the cdc strategy (its first run copies "
                  "the table in full and replays the slot from its start):\n",
                  store_name(r->c->src));
    if (exists) store_sb_addf(&q, "DROP_REPLICATION_SLOT \"%s\" WAIT;\n", r->slot);
    store_sb_addf(&q, "DROP PUBLICATION IF EXISTS \"%s\";\nCREATE PUBLICATION \"%s\" FOR TABLE ",
                  r->slot, r->slot);
    store_sb_from(&q, r->c->src, &r->c->st);
    store_sb_addf(&q, ";\nCREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput;", r->slot);
    if (q.oom) { store_sb_free(&q); return NULL; }
    return q.s;
}

static int prepare_make(cdc_run *r, const config_datastore *ds, bool exists, char **out) {
    sync_ctx *c = r->c;
    uint64_t lsn = 0;
    char snap[64], at[32];
    (void)ds;
    int rc = make_slot(r, exists, &lsn, snap);
    cdc_lsn_format(lsn, at);
    if (rc == ST_OK)
        rc = state_meta_put(c->o->st, c->o->pipeline->name, c->o->strategy->name,
                            "cdc_slot_ready", at, c->err);
    store_sb q = {0};
    if (rc == ST_OK)
        store_sb_addf(&q, "created publication and replication slot %s on datastore '%s' at %s: "
                      "the first cdc run copies the table in full and replays the slot from "
                      "there (the slot retains WAL on the source until then)", r->slot,
                      ds->name, at);
    if (rc == ST_OK && q.oom) rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    if (rc == ST_OK) *out = q.s;
    else store_sb_free(&q);
    return rc;
}

int sync_cdc_prepare(const config *cfg, const config_pipeline *p, state *st, bool apply,
                     char **out, st_error *err) {
    *out = NULL;
    const config_strategy *s = cdc_strategy_of(p);
    const config_datastore *ds = config_datastore_find(cfg, p->source.datastore);
    sync_opts o = {.cfg = cfg, .pipeline = p, .strategy = s, .st = st};
    sync_ctx c = {.o = &o, .err = err};
    cdc_run r = {.c = &c};
    c.st = (store_table){.datastore = p->source.datastore, .schema = p->source.schema,
                         .table = p->source.table};
    int rc = ST_OK;
    if (s != NULL && cdc_source_supported(ds) && p->source.table != NULL && st != NULL) {
        cdc_slot_name(p->name, r.slot);
        rc = load_watermark(&r);
        if (rc == ST_OK && r.saved == 0) rc = store_open(&c.src, ds, err);
    }
    char wal_level[32];
    bool exists = false, pub = false;
    uint64_t confirmed = 0;
    if (rc == ST_OK && c.src != NULL) rc = prepare_probe(&r, wal_level, &exists, &confirmed, &pub);
    bool ready = exists && pub && confirmed != 0 && slot_ready(&r) == confirmed;
    if (rc == ST_OK && c.src != NULL && !ready && strcmp(wal_level, "logical") != 0 && apply)
        rc = st_error_set(err, ST_EINVAL, "cdc: datastore '%s' has wal_level = %s; logical "
                          "decoding needs wal_level = logical (set it in postgresql.conf or "
                          "ALTER SYSTEM SET wal_level = logical, then restart the server)",
                          ds->name, wal_level);
    else if (rc == ST_OK && c.src != NULL && !ready)
        rc = apply ? prepare_make(&r, ds, exists, out)
                   : ((*out = prepare_plan(&r, exists)) ? ST_OK
                                                       : st_error_set(err, ST_ENOMEM, "out of memory"));
    if (rc == ST_OK && *out == NULL && (*out = strdup("")) == NULL)
        rc = st_error_set(err, ST_ENOMEM, "out of memory");
    cdc_repl_close(r.repl);
    store_close(c.src);
    return rc;
}
