/*
 * sync_delta — the delta strategy: copy rows changed since the watermark.
 *
 * Keyset pagination on (cursor, key), never OFFSET:
 *   SELECT ... WHERE cursor IS NOT NULL AND (cursor, key) > ($1, $2)
 *   ORDER BY cursor, key LIMIT batch_size
 * Each page is upserted in one destination transaction (sync_batch_stream):
 * the page is read through a streaming reader and its rows are written
 * (PostgreSQL: COPYed into the staging table) as they arrive, so the
 * source produces the rest of the page while the destination takes in the
 * first part (and rows are not copied into a batch first). Only after that
 * commit is the watermark — the last row's cursor and key as canonical
 * text — saved with state_meta_put(pipeline, strategy, "watermark"). A run
 * killed mid-way resumes after its last committed page.
 *
 * Late commits (DESIGN §7). Before the first page the source is asked
 * (store_read_xact_floor; nothing else open on that connection) for the
 * oldest stamp a transaction still in progress may give a row: the start
 * of the oldest open transaction, or the server's time when none is open.
 * Every later page reads in a snapshot taken after that, so a row it cannot
 * see yet carries a stamp >= that floor. The saved watermark never passes
 * it: once the last copied row's cursor reaches the cap, the watermark is
 * saved as the cap alone ("cap" with no keys: the next run starts at
 * cursor >= cap, inclusive) and those rows are read again next run. The
 * cap applies to timestamp and date cursors (sync_delta_cap; a cursor
 * without a zone is the wall time of the server's default zone). Integer,
 * text and other cursors are not capped: their values do not come from a
 * clock, so only lookback_seconds protects them. When the role cannot see
 * other sessions' transactions (store_xact_floor.blind) the cap is also
 * held SYNC_DELTA_BLIND_LOOKBACK_S before the server's time. A driver
 * without xact_floor (SQLite: writers serialised) is exact already.
 *
 * lookback_seconds re-reads late-committed rows: the first page starts at
 * (watermark cursor - lookback) inclusive, for timestamp and integer
 * cursors. Re-reading is harmless: upserts of identical rows change nothing
 * and are not counted.
 *
 * Rows whose cursor is NULL can never be ordered into a watermark: they are
 * counted (rows_null_cursor), logged as a warning, and not copied — use the
 * full or hash strategy for them. They are counted after the pages by a
 * query of their own, unless a page's scan counted them already (the copy
 * inside SQLite, whose page reads the whole table anyway: one scan). Delta does not see deletes either: a
 * deleted source row stays in the destination until a full or hash run.
 * Precision: values travel as canonical text (microsecond UTC timestamps,
 * exact numerics), and the cursor parameter is cast to the column's type.
 *
 * Where the destination's engine copies itself (sync_local_open; SQLite
 * to SQLite) each page runs inside it instead (store_sqlite_local.c:
 * INSERT ... SELECT ... ON CONFLICT DO
 * UPDATE, no value made canonical but the watermark); the page loop,
 * watermark and lookback rules here are shared (sync_delta_pages).
 *
 * Nothing to do (sync_delta_probe, before the destination is opened):
 * with a watermark saved, sync_run first asks the source whether any row
 * lies after it (the first page's WHERE, LIMIT 1, no ORDER BY). None: the
 * run writes nothing, so it opens no destination connection and sets up
 * no fence (sync.c); the NULL-cursor count is still taken and reported.
 * Fencing is not weakened: every write still comes after the fence set-up
 * and each batch's fence check, and a run that writes nothing has nothing
 * an older holder's late commit could overwrite (the newest token reaches
 * the destination with the next run that writes). A run with rows pays
 * the probe and opens the destination after it instead of beside the
 * source: one indexed LIMIT 1 given an index on the cursor; without one a
 * scan up to the first new row, the whole table when new rows sit at its
 * end (bench/README.md has the figures). Where a timestamp cursor is
 * compared through a function no index serves (the driver says so:
 * store_time_compare_unindexed, SQLite's st_canon) the probe would be that
 * scan on every run with rows, doubling the read of an appended table: it
 * is not made, and the run goes on as if rows were there (the destination
 * is opened and fenced; the first page finds none). A first run (no
 * watermark) does not probe either.
 *
 * Cost: on PostgreSQL each page is an index range scan given an index on
 * (cursor, key). On SQLite a timestamp cursor is compared through
 * st_canon() (stored text may be in any ISO spelling), which cannot use an
 * index: each page scans the table. Integer and text cursors compare raw.
 */
#include "sync_int.h"
#include "../log/log.h"
#include "../time/st_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void wm_clear(sync_wm *w) {
    for (size_t i = 0; i < w->n; i++) free(w->v[i]);
    w->n = 0;
}

/* Splits "a|b\|c" on unescaped '|' into w. */
static int wm_parse(sync_wm *w, const char *s) {
    store_sb cur = {0};
    for (const char *p = s;; p++) {
        if (*p == '\\' && p[1]) {
            store_sb_addn(&cur, p + 1, 1);
            p++;
            continue;
        }
        if (*p != '|' && *p != '\0') { store_sb_addn(&cur, p, 1); continue; }
        if (w->n >= 64) break;
        w->v[w->n++] = strdup(cur.s ? cur.s : "");
        cur.len = 0;
        if (cur.s) cur.s[0] = '\0';
        if (*p == '\0') break;
    }
    store_sb_free(&cur);
    return ST_OK;
}

const char *sync_delta_cap(const store_xact_floor *f, store_kind kind, int64_t blind_lookback_s,
                           char *buf, size_t n) {
    if (kind != STORE_K_TIMESTAMPTZ && kind != STORE_K_TIMESTAMP && kind != STORE_K_DATE)
        return NULL;
    int64_t at = f->floor < f->now ? f->floor : f->now;
    if (f->blind && f->now - blind_lookback_s * ST_USEC < at)
        at = f->now - blind_lookback_s * ST_USEC;
    /* a wall time: the zone's offset, or the earliest any zone shows (UTC-12) */
    if (kind != STORE_K_TIMESTAMPTZ) at += f->offset_known ? f->wall_offset : -12 * 3600 * ST_USEC;
    return store_canon_time_us(at, kind, buf, n);
}

/* The run's cap on the saved watermark (see top). */
typedef struct delta_cap {
    bool on;            /* the source reported a floor and the cursor kind has a cap */
    bool held;          /* a save was held back at the cap */
    store_kind kind;    /* the cursor's */
    char v[96];         /* canonical text of the cap */
    store_xact_floor f;
} delta_cap;

static int cap_read(sync_ctx *c, int cur, delta_cap *cap) {
    st_error e;
    int rc = store_read_xact_floor(c->src, &cap->f, &e);
    if (rc == ST_ENOTIMPL) return ST_OK;
    if (rc != ST_OK) return st_error_set(c->err, rc, "%s", e.msg);
    cap->kind = c->kinds[cur];
    cap->on = sync_delta_cap(&cap->f, c->kinds[cur], SYNC_DELTA_BLIND_LOOKBACK_S, cap->v,
                             sizeof cap->v) != NULL;
    return ST_OK;
}

/* Says once, at the end of the run, why the watermark was held back. */
static void cap_log(sync_ctx *c, const delta_cap *cap) {
    if (!cap->held) return;
    const char *p = c->o->pipeline->name, *s = c->o->strategy->name;
    char since[64];
    st_time_format(cap->f.floor, since, sizeof since);
    if (cap->f.standby)
        log_info(p, s, "watermark held at %s: the source is a standby, where the primary's "
                 "open transactions are not visible, so the last %d s are read again next run",
                 cap->v, SYNC_DELTA_BLIND_LOOKBACK_S);
    else if (cap->f.blind)
        log_info(p, s, "watermark held at %s: this role cannot see other sessions' "
                 "transactions on the source (grant %s), so the last %d s are read again "
                 "next run", cap->v, cap->f.grant, SYNC_DELTA_BLIND_LOOKBACK_S);
    else if (cap->f.open)
        log_info(p, s, "watermark held at %s: a transaction open on the source since %s "
                 "(%s) may still commit rows stamped from then on; they are read again next "
                 "run", cap->v, since, cap->f.who);
    else
        log_debug(p, s, "watermark held at %s, the source's time: rows stamped later are "
                  "read again next run", cap->v);
}

static int wm_save(sync_ctx *c, const sync_wm *w, delta_cap *cap) {
    if (c->o->st == NULL) return ST_OK;
    sync_wm capped = {.v = {cap->v}, .n = 1};
    if (cap->on && store_key_cmp(cap->kind, w->v[0], cap->v) >= 0) {
        w = &capped;
        cap->held = true;
    }
    store_sb b = {0};
    for (size_t i = 0; i < w->n; i++) {
        if (i) store_sb_add(&b, "|");
        store_sb_rowvalue(&b, w->v[i]);
    }
    int rc = b.oom ? ST_ENOMEM
                   : state_meta_put(c->o->st, c->o->pipeline->name, c->o->strategy->name,
                                    "watermark", b.s, c->err);
    store_sb_free(&b);
    return rc;
}

int sync_wm_from_row(sync_ctx *c, sync_wm *w, int cur, const char *const *row) {
    wm_clear(w);
    w->v[w->n++] = strdup(row[cur] ? row[cur] : "");
    for (size_t i = 0; i < c->ncols && w->n < 64; i++)
        if (c->key[i]) w->v[w->n++] = strdup(row[i] ? row[i] : "");
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i] == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    return ST_OK;
}

/* Cursor value minus the lookback, canonical; NULL if not applicable. */
static char *lookback_start(store_kind k, const char *v, int64_t secs) {
    char buf[96], tmp[96];
    if (k == STORE_K_INT) {
        snprintf(buf, sizeof buf, "%lld", strtoll(v, NULL, 10) - (long long)secs);
        return strdup(buf);
    }
    if (k != STORE_K_TIMESTAMPTZ && k != STORE_K_TIMESTAMP) return NULL;
    int64_t t;
    /* canonical timestamps carry no zone (store.h); older watermarks do */
    snprintf(tmp, sizeof tmp, "%s%s", v, strpbrk(v, "Zz+") || strlen(v) < 11 ? "" : "Z");
    if (st_time_parse(tmp, &t, NULL) != ST_OK) return NULL;
    st_time_format(t - secs * ST_USEC, tmp, sizeof tmp);
    const char *out = store_canon_text(tmp, k, buf, sizeof buf);
    return out ? strdup(out) : NULL;
}

static void null_cursor_warn(sync_ctx *c, int cur) {
    if (c->stats->rows_null_cursor > 0)
        log_warn(c->o->pipeline->name, c->o->strategy->name,
                 "%lld source rows have a NULL cursor (%s) and are not copied by delta",
                 (long long)c->stats->rows_null_cursor, c->scols[cur]);
}

static int count_null_cursor(sync_ctx *c, int cur) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*) FROM ");
    store_sb_from(&q, c->src, &c->st);
    store_sb_add(&q, " WHERE ");
    store_sb_quote(&q, c->scols[cur]);
    store_sb_add(&q, " IS NULL");
    int rc = sync_query_int(c->src, &q, 0, NULL, &c->stats->rows_null_cursor, c->err);
    store_sb_free(&q);
    if (rc == ST_OK) null_cursor_warn(c, cur);
    return rc;
}

/* Streams one page from the source reader into the destination: rows are
 * pulled by the destination's apply as they arrive, and each one's cursor
 * and keys become the candidate watermark. */
typedef struct delta_pull {
    sync_ctx *c;
    sync_iter *it;     /* the page's rows, enriched when there are lookups */
    int cur;
    const char *const *first;   /* the row read before the transaction began */
    sync_wm *last;
    size_t got;
} delta_pull;

static int delta_pull_next(void *arg, const char *const **vals, st_error *err) {
    delta_pull *d = arg;
    const char *const *row = d->first;
    int rc = 1;
    if (row == NULL) rc = d->it->next(d->it, &row, err);
    d->first = NULL;
    if (rc <= 0) return rc;
    d->got++;
    d->c->stats->rows_read++;
    rc = sync_wm_from_row(d->c, d->last, d->cur, row);
    if (rc != ST_OK) return rc;
    *vals = row;
    return 1;
}

static int delta_page(sync_ctx *c, int cur, const sync_wm *w, bool first_lookback, size_t *got,
                      bool *more, sync_wm *next, bool *nulls, void *arg) {
    (void)arg, (void)nulls;
    store_sb q = {0};
    sync_sql_select(&q, c, true);
    store_sb_add(&q, " WHERE ");
    store_sb_quote(&q, c->scols[cur]);
    store_sb_add(&q, " IS NOT NULL");
    if (w->n > 0) {
        store_sb_add(&q, " AND ");
        sync_sql_keyset(&q, c, true, cur, 1, first_lookback ? ">=" : ">", first_lookback);
    }
    sync_sql_order(&q, c, true, cur);
    store_sb_addf(&q, " LIMIT %lld", (long long)c->batch_size);
    int np = w->n == 0 ? 0 : first_lookback ? 1 : (int)w->n;
    delta_pull d = {c, NULL, cur, NULL, next, 0};
    sync_stream src = {0};
    sync_enrich *e = NULL;
    int rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_stream_open(&src, c->src, q.s, np, (const char *const *)w->v, c->err);
    store_sb_free(&q);
    if (rc == ST_OK) rc = sync_lookup_wrap(c, &src.it, &d.it, &e);
    if (rc == ST_OK) rc = d.it->next(d.it, &d.first, c->err);
    if (rc == 1) rc = sync_batch_stream(c, STORE_UPSERT, delta_pull_next, &d);
    sync_lookup_unwrap(e);
    sync_stream_close(&src);
    *got = d.got;
    *more = (int64_t)d.got >= c->batch_size;
    return rc;
}

static int find_cursor(sync_ctx *c) {
    const char *name = c->o->strategy->cursor;
    for (size_t i = 0; name && i < c->ncols; i++)
        if (strcmp(c->scols[i], name) == 0) return (int)i;
    st_error_set(c->err, ST_EINVAL, "strategy '%s': cursor column '%s' is not in columns",
                 c->o->strategy->name, name ? name : "(none)");
    return -1;
}

static int load_watermark(sync_ctx *c, int cur, sync_wm *w, bool *lookback) {
    char buf[4096];
    *lookback = false;
    if (c->o->st == NULL) return ST_OK;
    st_error e;
    int rc = state_meta_get(c->o->st, c->o->pipeline->name, c->o->strategy->name, "watermark",
                            buf, sizeof buf, &e);
    if (rc == ST_ENOTFOUND) return ST_OK;
    if (rc != ST_OK) return st_error_set(c->err, rc, "reading the watermark: %s", e.msg);
    wm_parse(w, buf);
    if (w->n == 1 && c->nkeys > 0) {
        *lookback = true;   /* a cap (see top): from the cursor on, inclusive */
    } else if (w->n != c->nkeys + 1) {
        wm_clear(w);
        return ST_OK;
    }
    int64_t lb = c->o->strategy->lookback_seconds;
    char *start = lb > 0 ? lookback_start(c->kinds[cur], w->v[0], lb) : NULL;
    if (start != NULL) {
        free(w->v[0]);
        w->v[0] = start;
        *lookback = true;
    }
    return ST_OK;
}

/* Whether the source has a row after the watermark w (the first page's
 * condition; see top). */
static int probe_rows(sync_ctx *c, int cur, const sync_wm *w, bool lookback, bool *any) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*) FROM (SELECT 1 AS x FROM ");
    store_sb_from(&q, c->src, &c->st);
    store_sb_add(&q, " WHERE ");
    store_sb_quote(&q, c->scols[cur]);
    store_sb_add(&q, " IS NOT NULL AND ");
    sync_sql_keyset(&q, c, true, cur, 1, lookback ? ">=" : ">", lookback);
    store_sb_add(&q, " LIMIT 1) AS probe");
    int np = lookback ? 1 : (int)w->n;
    int64_t n = 0;
    int rc = sync_query_int(c->src, &q, np, (const char *const *)w->v, &n, c->err);
    store_sb_free(&q);
    *any = rc != ST_OK || n > 0;
    return rc;
}

int sync_delta_probe(sync_ctx *c, bool *any) {
    *any = true;
    int cur = find_cursor(c);
    if (cur < 0) return c->err->code;
    store_kind k = c->kinds[cur];
    if ((k == STORE_K_TIMESTAMP || k == STORE_K_TIMESTAMPTZ) && store_time_compare_unindexed(c->src))
        return ST_OK;                       /* a scan per run with rows: see top */
    sync_wm w = {0};
    bool lookback = false;
    int rc = load_watermark(c, cur, &w, &lookback);
    if (rc == ST_OK && w.n > 0) rc = probe_rows(c, cur, &w, lookback, any);
    if (rc == ST_OK && !*any) rc = count_null_cursor(c, cur);
    wm_clear(&w);
    return rc;
}

int sync_delta_pages(sync_ctx *c, sync_delta_page_fn page, void *arg) {
    int cur = find_cursor(c);
    if (cur < 0) return c->err->code;
    sync_wm w = {0}, next = {0};
    bool lookback = false, nulls = true;
    delta_cap cap = {0};
    int rc = load_watermark(c, cur, &w, &lookback);
    if (rc == ST_OK) rc = cap_read(c, cur, &cap);   /* before any page's snapshot */
    for (size_t got = 0; rc == ST_OK;) {
        bool more = false, counting = nulls;
        rc = page(c, cur, &w, lookback, &got, &more, &next, &nulls, arg);
        if (rc == ST_OK && counting && !nulls) null_cursor_warn(c, cur);
        if (rc != ST_OK || got == 0) break;
        wm_clear(&w);
        w = next;
        next.n = 0;
        lookback = false;
        rc = wm_save(c, &w, &cap);
        if (!more) break;
    }
    if (rc == ST_OK && nulls) rc = count_null_cursor(c, cur);   /* no page's scan counted them */
    cap_log(c, &cap);
    wm_clear(&w);
    wm_clear(&next);
    return rc;
}

int sync_delta(sync_ctx *c) {
    store_local *l = NULL;   /* the copy inside the engine, when there is one */
    int rc = sync_local_open(c, &l);
    if (rc != ST_OK || l != NULL) return rc != ST_OK ? rc : sync_delta_local(c, l);
    return sync_delta_pages(c, delta_page, NULL);
}
