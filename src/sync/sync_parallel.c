/*
 * sync_parallel — `parallel: N` for the full and hash strategies: one table
 * copied or compared as N key ranges at once, each on a connection pair of
 * its own.
 *
 * Split. The run's own source connection estimates the source rows (the
 * driver's estimate, PostgreSQL's reltuples, else count(*)). A plain table
 * of 200,000 rows or more on an engine that samples (store_sb_sample:
 * PostgreSQL's TABLESAMPLE SYSTEM) gives ~20,000 of its keys, sorted in
 * the key order the merge uses, and every N-th part of them is a boundary
 * (0.03 s a million rows). Otherwise the source is asked for the keys at
 * positions count * i / N (i = 1 .. N-1) in key order: one window query
 * (row_number() over that order), the same SQL on every engine
 * (PostgreSQL, SQLite >= 3.25, MariaDB >= 10.2, MySQL 8). Boundaries are
 * canonical text. The N-1 keys cut the key space into N ranges (lo, hi]:
 * the first open below, the last open above, so a key that appears later,
 * however small or large, still falls in one range. Fewer rows than
 * ranges: fewer ranges. An estimate or a sample off the truth only makes
 * the ranges uneven, never wrong.
 *
 * Run. Each range is a thread with a sync_ctx of its own (sync_ctx_open:
 * its own source and destination connection, the same checks) running
 * sync_full.c unchanged but for c->range: the bounds go into the source
 * stream and every destination page as keyset conditions on the key
 * columns (sync_sql_keyset: a row comparison, led by the first column's
 * bound so every engine scans an index range), parameters cast to the
 * key's type. A range whose destination part is empty copies into it
 * (between PostgreSQL tables of the same types as binary COPY when the key
 * is one integer column: the bounds are then integer literals, as a COPY
 * takes no parameters); any other range merges. Ranges never overlap, so
 * their writes never touch the same row.
 *
 * Hash. A range of a hash strategy runs sync_hash.c the same way: its
 * bounds go into the whole-range checksum (table_sum), the integer key's
 * span (min/max, as literals: sync_range_literal), so every bucket, digest
 * and row fetch cut from that span stays inside the range, and the top
 * keyset segment of any other key (sync_hash_keyset.c: (lo, hi] as the
 * segment's after/upto); where hash falls back to a merge it is this
 * range's full. The copy inside one engine (sync_local.c) is not split.
 *
 * Locks and fencing. The ranges run inside the one run: under the
 * pipeline lock and the table lock the job manager holds for it. Every
 * range commits through sync_batch_txn with the run's token (the parent
 * first commits one empty fenced transaction, so synctool_fence already
 * holds the token and the ranges only share its row lock), the lease
 * re-check before every COMMIT, and the cancel and interrupt checks. Each
 * range's destination session is tagged with the token (store_fence_
 * session), so a newer holder ends every one of them. The ranges' set-up
 * does not raise the token (fence_raise NULL): the parent already did.
 *
 * Stop. SIGINT/SIGTERM set the one interrupt flag every range checks at
 * its batch boundaries (and its reads wait on): every range stops at its
 * next boundary, its open batch rolled back; the run ends ST_EINTR with
 * every range's committed work counted and kept. A range that fails does
 * not stop the others: they finish and are recorded, so a rerun has less
 * to do; the run fails with the first failing range's error, named.
 *
 * Resume. The plan (boundaries, which ranges are done and their rows) is
 * kept in state meta "parallel" of the (pipeline, strategy): written
 * before the first range starts, updated as each range finishes, cleared
 * when the run succeeds. The next run of the strategy resumes it — skips
 * the ranges done, with the same boundaries — only when all of these hold:
 *   - the configuration is unchanged (a fingerprint of the source,
 *     destination, columns, strategy name and N);
 *   - it starts in the same cron slot as the attempt that made the plan
 *     (a strategy without cron: any time), so no range is older than the
 *     slot the successful run reports;
 *   - no other strategy of the pipeline was attempted since (it may have
 *     changed the destination, e.g. a hash that deleted rows).
 * Otherwise the plan is discarded and the run samples anew. Every write is
 * an upsert or delete by key, so a range re-run after a kill merges what
 * its killed attempt committed: no duplicates, nothing lost. What a
 * resume does not see: rows of a done range changed in the source after
 * that range finished, until the next full (the same holds within any one
 * run: ranges are read in separate snapshots, one per source connection,
 * not one snapshot of the whole table).
 *
 * Report. Each finished range logs "range 2/4: keys (1000, 2000] done,
 * 12,345 rows ..." (the run's log: `logs`, history); the progress line and
 * published figures are the sum of the ranges, with "ranges 1 of 4 done";
 * a failed run's error names its range and the ranges done, which `why`
 * shows.
 */
#include "sync_int.h"
#include "../cron/cron.h"
#include "../json/json.h"
#include "../log/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAR_META "parallel"
#define PAR_META_MAX (1 << 20)

/* --- Range bounds in SQL --- */

void sync_range_where(store_sb *q, const sync_ctx *c, bool source, const char *glue,
                      const char **params, int *np) {
    const sync_range *r = c->range;
    if (r == NULL || (r->lo == NULL && r->hi == NULL)) return;
    store_sb_add(q, glue);
    const char *const *b[2] = {r->lo, r->hi};
    const char *ops[2] = {">", "<="};
    for (int s = 0; s < 2; s++) {
        if (b[s] == NULL) continue;
        if (s == 1 && b[0] != NULL) store_sb_add(q, " AND ");
        sync_sql_keyset(q, c, source, -1, *np + 1, ops[s], false);
        for (size_t k = 0; k < c->nkeys; k++) params[(*np)++] = b[s][k];
    }
}

static bool int_text(const char *s, long long *out) {
    if (s == NULL || *s == '\0') return false;
    char *end = NULL;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

bool sync_range_literal(store_sb *q, const sync_ctx *c, bool source, const char *glue) {
    const sync_range *r = c->range;
    int k = -1;
    for (size_t i = 0; i < c->ncols && c->nkeys == 1; i++)
        if (c->key[i]) k = (int)i;
    if (r == NULL || k < 0 || c->kinds[k] != STORE_K_INT) return false;
    long long lo = 0, hi = 0;
    if ((r->lo && !int_text(r->lo[0], &lo)) || (r->hi && !int_text(r->hi[0], &hi))) return false;
    if (r->lo == NULL && r->hi == NULL) return true;
    store *s = source ? c->src : c->dst;
    const store_table *t = source ? &c->st : &c->dt;
    store_sb col = {0};
    store_sb_colref(&col, s, t, source ? c->scols[k] : c->dcols[k]);
    store_sb_add(q, glue);
    if (r->lo) store_sb_addf(q, "%s > %lld", col.oom ? "" : col.s, lo);
    if (r->lo && r->hi) store_sb_add(q, " AND ");
    if (r->hi) store_sb_addf(q, "%s <= %lld", col.oom ? "" : col.s, hi);
    store_sb_free(&col);
    return true;
}

/* --- The plan --- */

typedef struct par_plan {
    int n;                 /* ranges */
    sync_row **bounds;     /* n - 1 keys (nkeys canonical values each), ascending */
    bool *done;            /* per range: finished by this plan's attempts */
    int64_t *rows;         /* per range: rows it read (done ones) */
    int64_t started;       /* o->now of the attempt that sampled the bounds */
    char fp[33];
} par_plan;

static void plan_free(par_plan *pl) {
    for (int i = 0; pl->bounds && i < pl->n - 1; i++) free(pl->bounds[i]);
    free(pl->bounds);
    free(pl->done);
    free(pl->rows);
    memset(pl, 0, sizeof *pl);
}

static int plan_alloc(sync_ctx *c, par_plan *pl, int n) {
    size_t m = n > 0 && n <= 64 ? (size_t)n : 1;
    pl->n = (int)m;
    pl->bounds = calloc(m, sizeof *pl->bounds);
    pl->done = calloc(m, sizeof *pl->done);
    pl->rows = calloc(m, sizeof *pl->rows);
    if (!pl->bounds || !pl->done || !pl->rows) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    return ST_OK;
}

/* What a plan is valid for: the pipeline's source, destination and columns,
 * the strategy's name and N. */
static void plan_fingerprint(const sync_ctx *c, char out[33]) {
    const config_pipeline *p = c->o->pipeline;
    store_sb b = {0};
    const config_endpoint *e[2] = {&p->source, &p->destination};
    for (int i = 0; i < 2; i++)
        store_sb_addf(&b, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1e", e[i]->datastore ? e[i]->datastore : "",
                      e[i]->schema ? e[i]->schema : "", e[i]->table ? e[i]->table : "",
                      e[i]->query ? e[i]->query : "", e[i]->where ? e[i]->where : "");
    for (size_t i = 0; i < c->ncols; i++)
        store_sb_addf(&b, "%s\x1f%s\x1f%s\x1f%s\x1f%d\x1e", c->scols[i], c->dcols[i], c->types[i],
                      c->exprs[i] ? c->exprs[i] : "", (int)c->key[i]);
    store_sb_addf(&b, "%s\x1f%lld", c->o->strategy->name, (long long)c->o->strategy->parallel);
    store_md5_hex(b.oom ? "" : b.s, b.oom ? 0 : b.len, out);
    store_sb_free(&b);
}

static char *plan_json(const sync_ctx *c, const par_plan *pl) {
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_int(&w, "version", 1);
    json_kv_string(&w, "fingerprint", pl->fp);
    json_kv_int(&w, "started_us", pl->started);
    json_kv_int(&w, "ranges", pl->n);
    json_key(&w, "bounds");
    json_begin_array(&w);
    for (int i = 0; i < pl->n - 1; i++) {
        json_begin_array(&w);
        for (size_t k = 0; k < c->nkeys; k++) json_string(&w, pl->bounds[i]->v[k]);
        json_end_array(&w);
    }
    json_end_array(&w);
    json_key(&w, "done");
    json_begin_array(&w);
    for (int i = 0; i < pl->n; i++) {
        if (!pl->done[i]) continue;
        json_begin_object(&w);
        json_kv_int(&w, "range", i + 1);
        json_kv_int(&w, "rows", pl->rows[i]);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    if (w.failed) {
        json_release(&w);
        return NULL;
    }
    return w.buf;
}

static int64_t jint(const json_value *v, const char *key) {
    const json_value *x = json_get(v, key);
    return x && x->type == JSON_NUMBER && x->is_integer ? x->integer : -1;
}

/* The plan in `text` into pl; false when it is not one this run can use
 * (another version, configuration or N; malformed). */
static bool plan_parse(sync_ctx *c, const char *text, par_plan *pl) {
    json_value *v = NULL;
    st_error e;
    if (json_parse(&v, text, strlen(text), &e) != ST_OK) return false;
    const json_value *fp = json_get(v, "fingerprint"), *b = json_get(v, "bounds");
    const json_value *d = json_get(v, "done");
    int64_t n = jint(v, "ranges");
    bool ok = jint(v, "version") == 1 && fp && fp->type == JSON_STRING &&
              strcmp(fp->string, pl->fp) == 0 && n >= 1 && n <= 64 && b &&
              b->type == JSON_ARRAY && b->n == (size_t)(n - 1) && d && d->type == JSON_ARRAY;
    char fpv[33];   /* plan_free clears the plan, fingerprint included */
    memcpy(fpv, pl->fp, sizeof fpv);
    if (ok) ok = plan_alloc(c, pl, (int)n) == ST_OK;
    pl->started = jint(v, "started_us");
    for (size_t i = 0; ok && i + 1 < (size_t)n; i++) {
        const json_value *k = b->items[i];
        const char *vals[64];
        ok = k->type == JSON_ARRAY && k->n == c->nkeys;
        for (size_t j = 0; ok && j < c->nkeys; j++) {
            ok = k->items[j]->type == JSON_STRING;
            vals[j] = ok ? k->items[j]->string : NULL;
        }
        if (ok) ok = (pl->bounds[i] = sync_row_copy(vals, c->nkeys)) != NULL;
    }
    for (size_t i = 0; ok && i < d->n; i++) {
        int64_t r = jint(d->items[i], "range"), rows = jint(d->items[i], "rows");
        ok = r >= 1 && r <= n;
        if (ok) {
            pl->done[r - 1] = true;
            pl->rows[r - 1] = rows < 0 ? 0 : rows;
        }
    }
    json_free(v);
    if (!ok) plan_free(pl);
    memcpy(pl->fp, fpv, sizeof fpv);
    return ok;
}

/* Whether a plan made at `started` may be resumed by a run starting at
 * `now`: the same cron slot, and no other strategy of the pipeline
 * attempted since. */
static bool plan_fresh(sync_ctx *c, int64_t started) {
    const sync_opts *o = c->o;
    if (started <= 0 || started > o->now) return false;
    if (o->strategy->cron != NULL) {
        cron_expr *ce = NULL;
        int64_t prev = 0;
        bool in_slot = cron_parse(&ce, o->strategy->cron, o->strategy->timezone, NULL) == ST_OK &&
                       cron_prev(ce, o->now, &prev) == ST_OK && started >= prev;
        cron_free(ce);
        if (!in_slot) return false;
    }
    for (size_t i = 0; i < o->pipeline->nstrategies; i++) {
        const config_strategy *s = &o->pipeline->strategies[i];
        if (s == o->strategy || strcmp(s->name, o->strategy->name) == 0) continue;
        state_record rec;
        st_error e;
        if (state_get(o->st, o->pipeline->name, s->name, &rec, &e) == ST_OK &&
            rec.last_attempted_at > started)
            return false;
    }
    return true;
}

/* The plan an interrupted attempt left, when this run may resume it. */
static bool plan_load(sync_ctx *c, par_plan *pl) {
    const sync_opts *o = c->o;
    if (o->st == NULL) return false;
    char *buf = malloc(PAR_META_MAX);
    st_error e;
    bool ok = buf != NULL && state_meta_get(o->st, o->pipeline->name, o->strategy->name,
                                            PAR_META, buf, PAR_META_MAX, &e) == ST_OK &&
              buf[0] != '\0' && plan_parse(c, buf, pl);
    free(buf);
    if (ok && !plan_fresh(c, pl->started)) {
        log_info(o->pipeline->name, o->strategy->name, "parallel: the ranges an earlier attempt "
                 "finished are not resumed (an earlier cron slot, or another strategy ran "
                 "since): every range runs");
        plan_free(pl);
        ok = false;
    }
    return ok;
}

/* Writes the plan to state meta; a failure is a warning (the run goes on,
 * its rerun just does not resume). */
static void plan_save(sync_ctx *c, const par_plan *pl, bool clear) {
    const sync_opts *o = c->o;
    if (o->st == NULL) return;
    char *text = clear ? NULL : plan_json(c, pl);
    st_error e;
    if ((clear || text) && state_meta_put(o->st, o->pipeline->name, o->strategy->name, PAR_META,
                                          clear ? "" : text, &e) != ST_OK)
        log_warn(o->pipeline->name, o->strategy->name, "parallel: ranges done not recorded "
                 "(a rerun will not resume them): %s", e.msg);
    free(text);
}

/* --- Sampling the boundaries --- */

/* SELECT canon(k1), canon(k2) FROM (SELECT k1, k2, row_number() OVER
 * (ORDER BY key order) AS synctool_rn FROM source) synctool_b WHERE
 * synctool_rn <= last AND synctool_rn IN (positions) ORDER BY synctool_rn:
 * the inner query reads the raw keys only (an index scan of the key on
 * PostgreSQL), the canonical text is made for the N-1 rows kept. */
static void sample_sql(store_sb *q, const sync_ctx *c, const int64_t *pos, size_t npos) {
    store_sb_add(q, "SELECT ");
    const char *sep = "";
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb col = {0};
        store_sb_add(&col, "synctool_b.");
        store_sb_quote(&col, c->scols[i]);
        store_sb_add(q, sep);
        store_sb_canon(q, c->src, c->kinds[i], col.oom ? "" : col.s);
        store_sb_free(&col);
        sep = ", ";
    }
    store_sb_add(q, " FROM (SELECT ");
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb_colref(q, c->src, &c->st, c->scols[i]);
        store_sb_add(q, " AS ");
        store_sb_quote(q, c->scols[i]);
        store_sb_add(q, ", ");
    }
    store_sb_add(q, "row_number() OVER (");
    sync_sql_order(q, c, true, -1);
    store_sb_add(q, ") AS synctool_rn FROM ");
    store_sb_from(q, c->src, &c->st);
    /* the bound lets a planner stop the window early (PostgreSQL 15) */
    store_sb_addf(q, ") synctool_b WHERE synctool_rn <= %lld AND synctool_rn IN (",
                  (long long)pos[npos - 1]);
    for (size_t i = 0; i < npos; i++) store_sb_addf(q, "%s%lld", i ? ", " : "", (long long)pos[i]);
    store_sb_add(q, ") ORDER BY synctool_rn");
}

/* The source's row count for the positions: the driver's estimate
 * (PostgreSQL: the table's reltuples, no scan), else count(*). A stale
 * estimate only makes the ranges uneven: every key still falls in one. */
static int source_rows(sync_ctx *c, int64_t *count) {
    st_error e;
    if (store_estimate_rows(c->src, &c->st, count, &e) == ST_OK && *count > 0) return ST_OK;
    store_sb q = {0};
    store_sb_add(&q, "SELECT count(*) FROM ");
    store_sb_from(&q, c->src, &c->st);
    int rc = sync_query_int(c->src, &q, 0, NULL, count, c->err);
    store_sb_free(&q);
    return rc;
}

/* A large plain table on an engine that samples (store_sb_sample:
 * PostgreSQL's TABLESAMPLE SYSTEM, random pages): about PAR_SAMPLE_KEYS of
 * its keys, sorted, into *l, from which the boundaries are picked; reading
 * every key (below) cost 0.3-0.5 s per million rows before any range could
 * start. *l empty: no sample (the exact way then). */
#define PAR_SAMPLE_MIN_ROWS 200000
#define PAR_SAMPLE_KEYS 20000

static int sample_pages(sync_ctx *c, int64_t count, sync_list *l) {
    memset(l, 0, sizeof *l);
    if (count < PAR_SAMPLE_MIN_ROWS) return ST_OK;
    store_sb q = {0};
    store_sb_add(&q, "SELECT ");
    const char *sep = "";
    for (size_t i = 0; i < c->ncols; i++) {
        if (!c->key[i]) continue;
        store_sb col = {0};
        store_sb_quote(&col, c->scols[i]);
        store_sb_add(&q, sep);
        store_sb_canon(&q, c->src, c->kinds[i], col.oom ? "" : col.s);
        store_sb_free(&col);
        sep = ", ";
    }
    store_sb_add(&q, " FROM ");
    store_sb_from(&q, c->src, &c->st);
    int rc = ST_OK;
    if (store_sb_sample(&q, c->src, &c->st, 100.0 * PAR_SAMPLE_KEYS / (double)count)) {
        sync_sql_order(&q, c, true, -1);
        rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                   : sync_list_load(l, c->src, q.s, 0, NULL, c->err);
    }
    store_sb_free(&q);
    return rc;
}

/* The boundary keys into pl: from the sample when it has at least n keys
 * (every n-th part of it), else the keys at positions count * i / n of the
 * whole source. */
static int pick_bounds(sync_ctx *c, int n, int64_t count, par_plan *pl) {
    sync_list l;
    int rc = sample_pages(c, count, &l);
    if (rc != ST_OK) return rc;
    size_t take[64], nt = 0;
    bool sampled = l.n >= (size_t)n;
    for (int i = 1; sampled && i < n; i++) take[nt++] = l.n * (size_t)i / (size_t)n;
    if (!sampled) {
        sync_list_free(&l);
        int64_t pos[64];
        size_t npos = 0;
        for (int i = 1; i < n; i++) {
            int64_t p = count * i / n;
            if (p >= 1 && (npos == 0 || p > pos[npos - 1])) pos[npos++] = p;
        }
        store_sb q = {0};
        if (npos > 0) {
            sample_sql(&q, c, pos, npos);
            rc = q.oom ? st_error_set(c->err, ST_ENOMEM, "out of memory")
                       : sync_list_load(&l, c->src, q.s, 0, NULL, c->err);
        }
        store_sb_free(&q);
        for (size_t i = 0; rc == ST_OK && i < l.n; i++) take[nt++] = i;
    }
    if (rc == ST_OK) rc = plan_alloc(c, pl, (int)nt + 1);
    for (size_t i = 0; rc == ST_OK && i < nt; i++) {
        const sync_row *k = l.rows[take[i]];
        for (size_t j = 0; j < c->nkeys && rc == ST_OK; j++)
            if (k->v[j] == NULL)
                rc = st_error_set(c->err, ST_EINVAL, "key column '%s' is NULL in datastore '%s'",
                                  c->scols[j], store_name(c->src));
        if (rc == ST_OK && (pl->bounds[i] = sync_row_copy(k->v, c->nkeys)) == NULL)
            rc = st_error_set(c->err, ST_ENOMEM, "out of memory");
    }
    log_detail(c->o->pipeline->name, c->o->strategy->name, "parallel: %zu boundary keys of "
               "~%lld rows, %s", nt, (long long)count,
               sampled ? "from a sample of the table's pages" : "read from every key");
    sync_list_free(&l);
    return rc;
}

/* A new plan of at most n ranges cut at sampled keys of the source. */
static int plan_sample(sync_ctx *c, int n, par_plan *pl) {
    int64_t count = 0;
    int rc = source_rows(c, &count);
    int64_t t0 = sync_clock_us();
    if (rc == ST_OK) rc = pick_bounds(c, n, count, pl);
    if (rc != ST_OK) return st_error_wrap(c->err, "sampling the boundaries of %d key ranges", n);
    log_detail(c->o->pipeline->name, c->o->strategy->name, "parallel: boundaries in %.3fs",
               (double)(sync_clock_us() - t0) / 1e6);
    return ST_OK;
}

/* --- The ranges --- */

typedef struct sync_par {
    sync_ctx *c;               /* the run */
    par_plan plan;
    pthread_mutex_t mu;        /* plan, figures, state, progress */
    int done;                  /* ranges done (earlier attempts' included) */
    struct sync_par_job *jobs;
} sync_par;

typedef struct sync_par_job {
    sync_par *run;
    int idx;                   /* 0-based */
    sync_opts o;
    sync_range range;
    state_stats stats, shown;  /* the range's figures; the last ones summed in */
    int64_t compared, compared_shown; /* hash: row digests compared (sync_progress.c) */
    st_error err;
    int rc;
    bool skip;                 /* done by an earlier attempt */
    pthread_t th;
    bool started;
} sync_par_job;

/* "1000" or "(1, 'a')" into buf, long values cut. */
static void key_text(const sync_ctx *c, const sync_row *k, char *buf, size_t n) {
    size_t w = 0;
    if (c->nkeys > 1) w += (size_t)snprintf(buf + w, n - w, "(");
    for (size_t i = 0; i < c->nkeys && w < n; i++) {
        const char *v = k->v[i];
        size_t len = strlen(v);
        w += (size_t)snprintf(buf + w, n - w, "%s%.*s%s", i ? ", " : "", (int)(len > 40 ? 40 : len),
                              v, len > 40 ? "..." : "");
    }
    if (c->nkeys > 1 && w < n) snprintf(buf + w, n - w, ")");
}

/* "keys (1000, 2000]", "keys up to 1000", "keys above 2000", "all keys" */
static void range_text(const sync_ctx *c, const par_plan *pl, int i, char *buf, size_t n) {
    char lo[256] = "", hi[256] = "";
    if (i > 0) key_text(c, pl->bounds[i - 1], lo, sizeof lo);
    if (i < pl->n - 1) key_text(c, pl->bounds[i], hi, sizeof hi);
    if (i > 0 && i < pl->n - 1) snprintf(buf, n, "keys (%s, %s]", lo, hi);
    else if (i > 0) snprintf(buf, n, "keys above %s", lo);
    else if (i < pl->n - 1) snprintf(buf, n, "keys up to %s", hi);
    else snprintf(buf, n, "all keys");
}

static void thousands(int64_t v, char *buf, size_t n) {
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%lld", (long long)(v < 0 ? -v : v));
    size_t w = 0;
    if (v < 0 && w + 1 < n) buf[w++] = '-';
    for (int i = 0; i < len && w + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[w++] = ',';
        buf[w++] = raw[i];
    }
    buf[w] = '\0';
}

/* The run's figures: the sum of its ranges' (caller holds mu). */
static void sum_figures(sync_par *r, sync_par_job *j) {
    state_stats *t = r->c->stats, *s = &j->stats, *was = &j->shown;
    t->rows_read += s->rows_read - was->rows_read;
    t->rows_inserted += s->rows_inserted - was->rows_inserted;
    t->rows_updated += s->rows_updated - was->rows_updated;
    t->rows_deleted += s->rows_deleted - was->rows_deleted;
    t->segments_compared += s->segments_compared - was->segments_compared;   /* hash */
    t->segments_skipped += s->segments_skipped - was->segments_skipped;
    *was = *s;
    r->c->prog.rows_compared += j->compared - j->compared_shown;
    j->compared_shown = j->compared;
}

void sync_parallel_report(sync_ctx *c) {
    sync_par_job *j = c->par;
    sync_par *r = j->run;
    pthread_mutex_lock(&r->mu);
    j->compared = c->prog.rows_compared;
    sum_figures(r, j);
    sync_progress_update(&r->c->prog, r->c->stats, false);
    pthread_mutex_unlock(&r->mu);
}

/* A range finished: recorded in the plan (state meta) and logged. */
static void range_done(sync_par_job *j) {
    sync_par *r = j->run;
    sync_ctx *c = r->c;
    char what[600], rows[32];
    pthread_mutex_lock(&r->mu);
    sum_figures(r, j);
    r->plan.done[j->idx] = true;
    r->plan.rows[j->idx] = j->stats.rows_read;
    r->done++;
    c->prog.ranges_done = r->done;
    plan_save(c, &r->plan, false);
    range_text(c, &r->plan, j->idx, what, sizeof what);
    thousands(j->stats.rows_read, rows, sizeof rows);
    log_info(c->o->pipeline->name, c->o->strategy->name,
             "range %d/%d: %s done, %s row%s (%lld inserted, %lld updated, %lld deleted)",
             j->idx + 1, r->plan.n, what, rows, j->stats.rows_read == 1 ? "" : "s",
             (long long)j->stats.rows_inserted,
             (long long)j->stats.rows_updated, (long long)j->stats.rows_deleted);
    sync_progress_update(&c->prog, c->stats, false);
    pthread_mutex_unlock(&r->mu);
}

static void *range_main(void *arg) {
    sync_par_job *j = arg;
    sync_ctx *parent = j->run->c;
    sync_ctx c = {.o = &j->o, .stats = &j->stats, .err = &j->err, .range = &j->range, .par = j};
    int rc = sync_ctx_open(&c, &j->o);
    if (rc == ST_OK) {
        c.batch_size = parent->batch_size;
        rc = j->o.strategy->type == CONFIG_STRATEGY_HASH ? sync_hash(&c) : sync_full(&c);
    }
    j->compared = c.prog.rows_compared;   /* summed in by range_done */
    sync_ctx_close(&c);
    j->rc = rc;
    if (rc == ST_OK) range_done(j);
    return NULL;
}

/* One job per range; the ones an earlier attempt finished are skipped. */
static int jobs_make(sync_par *r) {
    sync_ctx *c = r->c;
    par_plan *pl = &r->plan;
    size_t n = pl->n > 0 && pl->n <= 64 ? (size_t)pl->n : 1;
    r->jobs = calloc(n, sizeof *r->jobs);
    if (r->jobs == NULL) return st_error_set(c->err, ST_ENOMEM, "out of memory");
    for (int i = 0; i < pl->n; i++) {
        sync_par_job *j = &r->jobs[i];
        j->run = r;
        j->idx = i;
        j->o = *c->o;
        j->o.fence_token = c->fence_token;   /* raised by the run if it had to be */
        j->o.fence_raise = NULL;             /* ... so a range never raises it */
        j->o.progress = false;
        j->o.run_id = 0;                     /* the run publishes the sum */
        j->range = (sync_range){.index = i + 1, .count = pl->n,
                                .lo = i > 0 ? pl->bounds[i - 1]->v : NULL,
                                .hi = i < pl->n - 1 ? pl->bounds[i]->v : NULL};
        j->skip = pl->done[i];
    }
    return ST_OK;
}

static int noop_body(sync_ctx *c, void *arg, store_counts *cnt) {
    (void)c, (void)arg, (void)cnt;
    return ST_OK;
}

/* The run's outcome from its ranges': the first failure other than an
 * interrupt, named by its range; else the interrupt; else ST_OK. */
static int outcome(sync_par *r) {
    sync_ctx *c = r->c;
    int first = -1, intr = -1;
    for (int i = 0; i < r->plan.n; i++) {
        sync_par_job *j = &r->jobs[i];
        if (j->skip || j->rc == ST_OK) continue;
        if (j->rc == ST_EINTR) { if (intr < 0) intr = i; }
        else if (first < 0) first = i;
    }
    int pick = first >= 0 ? first : intr;
    if (pick < 0) return ST_OK;
    sync_par_job *j = &r->jobs[pick];
    *c->err = j->err;
    if (j->rc == ST_EINTR || j->rc == ST_ESTALE || j->rc == ST_ELOST) return j->rc;
    char what[600];
    range_text(c, &r->plan, pick, what, sizeof what);
    st_error_wrap(c->err, "range %d/%d (%s; %d of %d ranges done, the next run of %s resumes "
                  "the others)", pick + 1, r->plan.n, what, r->done, r->plan.n,
                  c->o->strategy->name);
    return j->rc;
}

static int run_ranges(sync_par *r) {
    sync_ctx *c = r->c;
    for (int i = 0; i < r->plan.n; i++) {
        sync_par_job *j = &r->jobs[i];
        if (j->skip) continue;
        j->started = pthread_create(&j->th, NULL, range_main, j) == 0;
        if (!j->started) j->rc = st_error_set(&j->err, ST_ENOMEM, "cannot start a thread");
    }
    for (int i = 0; i < r->plan.n; i++)
        if (r->jobs[i].started) pthread_join(r->jobs[i].th, NULL);
    int rc = outcome(r);
    if (rc == ST_OK) plan_save(c, &r->plan, true);   /* done: the next run starts anew */
    else if (rc == ST_EINTR)
        log_warn(c->o->pipeline->name, c->o->strategy->name, "parallel: interrupted with %d of "
                 "%d ranges done; the next run of %s in this slot resumes the others", r->done,
                 r->plan.n, c->o->strategy->name);
    return rc;
}

static void log_plan(sync_par *r, bool resumed) {
    sync_ctx *c = r->c;
    const char *p = c->o->pipeline->name, *s = c->o->strategy->name;
    log_info(p, s, "parallel: %d key range%s%s, %d done by an earlier attempt", r->plan.n,
             r->plan.n == 1 ? "" : "s", resumed ? " (resumed)" : "", r->done);
    for (int i = 0; i < r->plan.n; i++) {
        char what[600], rows[32];
        range_text(c, &r->plan, i, what, sizeof what);
        thousands(r->plan.rows[i], rows, sizeof rows);
        if (r->plan.done[i])
            log_info(p, s, "range %d/%d: %s done by an earlier attempt, %s row%s: skipped",
                     i + 1, r->plan.n, what, rows, r->plan.rows[i] == 1 ? "" : "s");
        else
            log_detail(p, s, "range %d/%d: %s", i + 1, r->plan.n, what);
    }
}

int sync_parallel_full(sync_ctx *c) {
    sync_par r = {.c = c};
    int n = (int)c->o->strategy->parallel;
    plan_fingerprint(c, r.plan.fp);
    bool resumed = plan_load(c, &r.plan);
    int rc = ST_OK;
    if (!resumed) {
        char fp[33];
        memcpy(fp, r.plan.fp, sizeof fp);
        rc = plan_sample(c, n, &r.plan);
        memcpy(r.plan.fp, fp, sizeof fp);
        r.plan.started = c->o->now;
    }
    /* the token in synctool_fence before the ranges share its row lock */
    store_counts none = {0};
    if (rc == ST_OK && c->o->fence_key != NULL) rc = sync_batch_txn(c, noop_body, NULL, &none);
    for (int i = 0; rc == ST_OK && i < r.plan.n; i++) r.done += r.plan.done[i];
    if (rc == ST_OK) {
        c->prog.ranges_total = r.plan.n;
        c->prog.ranges_done = r.done;
        plan_save(c, &r.plan, false);   /* before any range writes: a kill leaves it */
        log_plan(&r, resumed);
        rc = jobs_make(&r);
    }
    if (rc == ST_OK) {
        pthread_mutex_init(&r.mu, NULL);
        rc = run_ranges(&r);
        pthread_mutex_destroy(&r.mu);
    }
    free(r.jobs);
    plan_free(&r.plan);
    return rc;
}
