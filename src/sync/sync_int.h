/*
 * sync_int — what the strategy files share (internal to src/sync).
 *
 * A sync_ctx is one run: both stores, both table specs (same columns,
 * source and destination names), the batch of pending changes, the stats
 * and progress. Rows inside sync are arrays of canonical text (store.h)
 * in config column order.
 */
#ifndef ST_SYNC_INT_H
#define ST_SYNC_INT_H

#include "../store/store.h"
#include "sync.h"

/* An owned row: one malloc holding the pointer array and the strings. */
typedef struct sync_row {
    size_t n;
    const char *v[];
} sync_row;

sync_row *sync_row_copy(const char *const *vals, size_t n);



/* Progress line on stderr (sync_progress.c); silent unless enabled. */
typedef struct sync_progress {
    bool on;               /* the TTY line */
    bool log;              /* not on a TTY: a log line every interval */
    int64_t interval_us;
    int64_t start_us, last_us;
    int64_t total;         /* expected rows, 0 = unknown (estimated lazily) */
    int64_t total_segments;/* hash: expected leaf segments, 0 = unknown */
    bool estimated;        /* the totals were asked for */
    int ranges_total;      /* parallel: N (sync_parallel.c): key ranges, 0 = one */
    int ranges_done;       /* ... finished (earlier attempts' included) */
    int64_t rows_compared; /* hash's row pass: source rows whose digests were compared */
    int64_t compare_start_us; /* ... since (the first row pass's start; 0 = the run's) */
    int64_t logged;        /* log lines written */
    bool publish;          /* progress records in state (opts run_id, st) */
    struct sync_publisher *pub; /* the thread writing them (sync_progress.c) */
    const char *pipeline, *strategy;
    struct sync_ctx *c;    /* for the lazy estimate */
} sync_progress;

void sync_progress_start(sync_progress *p, bool want, int64_t total);
/* sync.c: the source's expected row count, asked on a connection of its
 * own (store_estimate_rows), 0 when unknown. */
int64_t sync_estimate_rows(struct sync_ctx *c);
void sync_progress_update(sync_progress *p, const state_stats *s, bool force);
void sync_progress_end(sync_progress *p, const state_stats *s);
/* hash's row pass (sync_hash_rows.c), on the run's (or range's) thread:
 * sync_progress_compare_begin when a pass starts, sync_progress_compared
 * for every n source rows whose digests it compared (a range of a parallel
 * run reports them to the run, sync_parallel_report). */
void sync_progress_compare_begin(sync_progress *p);
void sync_progress_compared(struct sync_ctx *c, int64_t n);
/* The figures of the line and of the published record at `now`
 * (sync_clock_us), from p's totals and s. */
typedef struct sync_progress_figures {
    int64_t written;
    double rate;   /* rows read per second */
    double left;   /* ETA in seconds, < 0 unknown */
} sync_progress_figures;
void sync_progress_figures_at(const sync_progress *p, const state_stats *s, int64_t now,
                              sync_progress_figures *f);
int64_t sync_clock_us(void);  /* monotonic; display and durations only */

typedef struct sync_batch {
    store_change *ch;
    sync_row **rows;
    size_t n, cap;
} sync_batch;

/* sync_parallel.c: one key range of a parallel full (`parallel: N`):
 * keys > lo and <= hi, each bound the canonical texts of the key columns
 * in column order (nkeys values), NULL for an open end. */
typedef struct sync_range {
    int index, count;          /* range `index` (1-based) of `count` */
    const char *const *lo, *const *hi;
} sync_range;

typedef struct sync_ctx {
    const sync_opts *o;
    store *src, *dst;
    store_table st, dt;
    const char **scols, **dcols, **types;
    const char **exprs; /* source column expressions (config_column.expr) */
    store_kind *kinds;
    bool *key;
    bool *ignored;   /* compare: false (config_column.ignored): not compared by
                      * full, hash and diff, but written with the row */
    size_t ncols, nkeys;
    /* Columns read from the source: the first nsrc (== ncols without
     * lookups); the rest are filled by the lookups (sync_lookup.c), so a
     * source row has nsrc values until sync_lookup_wrap() enriches it. */
    size_t nsrc;
    struct sync_lookups *lookups;   /* NULL: the pipeline has none */
    int64_t batch_size;
    sync_batch batch;
    state_stats *stats;
    sync_progress prog;
    st_error *err;
    /* hash: the per-row digest family both stores offer (store.h), NULL if
     * none; sum_family: one whose sum the range checksums use instead of
     * summed md5s of row texts (same-engine fast path), NULL if none. */
    const char *row_family, *sum_family;
    /* fencing (sync_fence.c): the run's token (raised above the
     * destination's when the lock store lost its counters) and an older
     * holder's session that could not be ended ("" none) */
    int64_t fence_token;
    char fence_holder[512];
    /* an aggregate pipeline's source rows and group map (sync_aggregate.c),
     * NULL for a row-level pipeline */
    struct sync_agg *agg;
    /* a range of a parallel full (sync_parallel.c): the bounds every query
     * of the range adds, and the run it reports its figures to; both NULL
     * for a run on one connection pair */
    const sync_range *range;
    struct sync_par_job *par;
} sync_ctx;

/* sync.c: a run's set-up (datastores, columns, connections, checks,
 * fencing) and tear-down; sync_run's, and each range's of a parallel full
 * (sync_parallel.c). */
int sync_ctx_open(sync_ctx *c, const sync_opts *o);
void sync_ctx_close(sync_ctx *c);

/* sync_parallel.c: `parallel: N` for full and hash. sync_parallel_full runs
 * the ranges of c (its connections sample the boundaries), each in a thread
 * on its own connection pair, resuming ranges an interrupted attempt
 * finished. sync_parallel_report: a range's figures after a batch, summed
 * into the run's progress. sync_range_where appends `glue` and the range's
 * bounds for side `source` (parameters numbered from *np + 1, their values
 * added to params); nothing without a range. sync_range_literal appends
 * them as integer literals (a COPY takes no parameters): false, nothing
 * appended, when the key is not one integer column. */
int sync_parallel_full(sync_ctx *c);
void sync_parallel_report(sync_ctx *c);
void sync_range_where(store_sb *q, const sync_ctx *c, bool source, const char *glue,
                      const char **params, int *np);
bool sync_range_literal(store_sb *q, const sync_ctx *c, bool source, const char *glue);

/* sync_aggregate.c: an aggregate pipeline (config.h `aggregate:`).
 * sync_agg_open (set-up, after the tables are checked): the source's
 * primary key and cursor, the group map table (must exist); a no-op for a
 * row-level pipeline. sync_agg_run: the strategy (delta by groups; full
 * and hash after rebuilding the map). sync_agg_ddl: creates the map (or
 * with `plan` appends the statements). */
typedef struct sync_agg sync_agg;
int sync_agg_open(sync_ctx *c);
int sync_agg_run(sync_ctx *c);
void sync_agg_free(sync_agg *a);
int sync_agg_ddl(store *s, const config_pipeline *p, store_sb *plan, st_error *err);

/* sync_fence.c: before the first write of a fenced run: synctool_fence,
 * the token above the destination's, older holders' sessions ended. */
int sync_fence_setup(sync_ctx *c);
/* Right before COMMIT: ST_ELOST "lost pipeline lock" when the lock store
 * says the pipeline lock was taken over. */
int sync_fence_before_commit(sync_ctx *c);
/* rc, with an ST_EBUSY error naming the older holder that could not be
 * ended (if any). */
int sync_fence_blocked(sync_ctx *c, int rc);

/* sync_batch.c: queue a change (copies the row); flush when full. */
int sync_batch_add(sync_ctx *c, store_op op, const char *const *vals);
/* Commits the pending changes in one destination transaction with the
 * fencing check and the cancel check. */
int sync_batch_flush(sync_ctx *c);
/* sync_diff.c: a change of a dry run (opts->diff): counted and sampled.
 * s is the source row (INSERT, UPDATE), d the destination row (UPDATE,
 * DELETE). */
int sync_diff_record(sync_ctx *c, store_op op, const char *const *s, const char *const *d);
/* sync_batch.c: one destination transaction (fencing, cancel check, as a
 * flush) applying the changes `pull` yields, all of kind `op`, as they
 * come: the caller streams a source read straight into the destination. */
int sync_batch_stream(sync_ctx *c, store_op op, store_pull_fn pull, void *arg);
void sync_batch_free(sync_batch *b);
/* The transaction of one batch around `body`: interrupt check, BEGIN,
 * fencing check, body, cancel and interrupt checks, COMMIT; rolled back on
 * any failure. The caller adds *cnt to the stats (sync_batch_count) once
 * it returns ST_OK. */
typedef int (*sync_txn_fn)(sync_ctx *c, void *arg, store_counts *cnt);
int sync_batch_txn(sync_ctx *c, sync_txn_fn body, void *arg, store_counts *cnt);
void sync_batch_count(sync_ctx *c, const store_counts *cnt);

/* sync_sql.c: SQL builders. */
void sync_sql_select(store_sb *b, const sync_ctx *c, bool source);
void sync_sql_order(store_sb *b, const sync_ctx *c, bool source, int cursor_col);
/* "t1 >= cast($first) AND (t1, t2) > (cast($first), cast($first+1))" over
 * the key columns, with the cursor column first when cursor_col >= 0; op
 * is ">", ">=", "<" or "<=" (the leading bound then "<="); a single column:
 * "t1 > cast($first)". */
void sync_sql_keyset(store_sb *b, const sync_ctx *c, bool source, int cursor_col, int first,
                     const char *op, bool cursor_only);
int sync_key_cmp(const sync_ctx *c, const char *const *a, const char *const *b);
/* Equal in every compared column (compare: false columns are skipped). */
bool sync_rows_equal(const sync_ctx *c, const char *const *a, const char *const *b);

/* A row source for the merge: 1 + *row, 0 at the end, or an error. */
typedef struct sync_iter {
    int (*next)(struct sync_iter *it, const char *const **row, st_error *err);
} sync_iter;

/* sync_full.c */
int sync_merge(sync_ctx *c, sync_iter *src, sync_iter *dst);
/* The rows matching one WHERE clause on each side (`where` appends it and
 * its parameters, at most max_params), loaded ordered by key and merged. */
typedef void (*sync_where_fn)(store_sb *q, sync_ctx *c, bool source, const void *arg,
                              const char **params, int *np);
int sync_merge_where(sync_ctx *c, sync_where_fn where, const void *arg, size_t max_params);
int sync_full(sync_ctx *c);

/* sync_local.c: the copy inside the destination's engine (store_local_*):
 * *out NULL (and ST_OK) when there is none for this run; the strategies
 * below take it over (and close it). */
int sync_local_open(sync_ctx *c, store_local **out);
int sync_full_local(sync_ctx *c, store_local *l);

/* sync_full_copy.c: full into an empty destination in the engines' native
 * form (PostgreSQL binary COPY) when both stores offer one and the
 * columns' types are equal on both sides (*yes), else *yes = false. */
int sync_full_copy_wanted(sync_ctx *c, bool *yes);
int sync_full_copy(sync_ctx *c);

/* Streaming reader as an iterator. */
typedef struct sync_stream {
    sync_iter it;
    store *s;
    store_reader *r;
} sync_stream;
int sync_stream_open(sync_stream *it, store *s, const char *sql, int np, const char *const *p,
                     st_error *err);
void sync_stream_close(sync_stream *it);

/* Materialised rows as an iterator (pages, hash leaves, aggregates): the
 * query must have a bounded result; it runs without a cursor. */
typedef struct sync_list {
    sync_iter it;
    sync_row **rows;
    size_t n, pos;
} sync_list;
int sync_list_load(sync_list *l, store *s, const char *sql, int np, const char *const *p,
                   st_error *err);
void sync_list_free(sync_list *l);
/* The integer in the first column of the first row of query q (a count, a
 * statistic): *out is 0 when there is no row or it is NULL. */
int sync_query_int(store *s, const store_sb *q, int np, const char *const *p, int64_t *out,
                   st_error *err);

/* sync.c: runs fn for the source in a thread and for the destination in
 * the caller, each on its own connection, so both databases work at once.
 * fn reports through `err` (never c->err). The destination's error is
 * returned first, else the source's. */
typedef int (*sync_side_fn)(sync_ctx *c, bool source, void *arg, st_error *err);
int sync_both_sides(sync_ctx *c, sync_side_fn fn, void *src_arg, void *dst_arg);

/* sync_full.c: the full merge of the (enriched) source with the
 * destination, never the copy into an empty table: what hash runs for a
 * pipeline with lookups, whose digests the source cannot compute. */
int sync_full_compare(sync_ctx *c);

/* sync.c: opens datastore ds for this run (through opts->store_ops when set). */
int sync_store_open(const sync_opts *o, store **s, const config_datastore *ds, st_error *err);

/* sync_lookup.c: `lookups:` (config_lookup). sync_lookup_open connects to
 * every lookup datastore and checks its table and columns (nothing when
 * the pipeline has none); sync_lookup_close logs their figures and closes.
 * sync_lookup_wrap returns an iterator yielding in's rows (nsrc values)
 * with the lookup columns filled (ncols values), enriched in batches (one
 * keyed query per lookup per batch, through an LRU cache); without
 * lookups it returns `in` itself. *e is freed by sync_lookup_unwrap. */
int sync_lookup_open(sync_ctx *c);
void sync_lookup_close(sync_ctx *c);
typedef struct sync_enrich sync_enrich;
int sync_lookup_wrap(sync_ctx *c, sync_iter *in, sync_iter **out, sync_enrich **e);
void sync_lookup_unwrap(sync_enrich *e);

int sync_delta(sync_ctx *c);
/* Before the destination is opened: *any = false when a watermark is saved
 * and the source has no row after it (the NULL-cursor count then taken);
 * true otherwise (sync_delta.c). */
int sync_delta_probe(sync_ctx *c, bool *any);
/* sync_cdc.c: the cdc strategy (PostgreSQL logical decoding, src/cdc). */
int sync_cdc(sync_ctx *c);
/* sync_delta.c: the watermark (the last copied row's cursor, then its keys,
 * canonical text) and the page loop that loads, advances and saves it;
 * `page` copies the rows after *w (from *w inclusive on the cursor alone
 * when `lookback`), at most batch_size, in one destination transaction,
 * sets *got and the new watermark *next (sync_wm_from_row on the last
 * row, canonical, config column order). sync_delta_local shares it. */
typedef struct sync_wm {
    char *v[65];   /* cursor, then the keys in column order */
    size_t n;
} sync_wm;
int sync_wm_from_row(sync_ctx *c, sync_wm *w, int cur, const char *const *row);
/* One page of delta: *got rows read, *more when rows beyond the page may
 * exist (the loop reads another page only then). *nulls says whether the
 * source's NULL cursors are still to be counted; a page whose scan counted
 * them (into stats->rows_null_cursor) sets it false, else the loop counts
 * them after the pages. */
typedef int (*sync_delta_page_fn)(sync_ctx *c, int cur, const sync_wm *w, bool lookback,
                                  size_t *got, bool *more, sync_wm *next, bool *nulls,
                                  void *arg);
int sync_delta_pages(sync_ctx *c, sync_delta_page_fn page, void *arg);
/* The cursor value a saved watermark may not pass, as canonical text of
 * `kind` in buf, from the source's floor f (store_xact_floor): the floor,
 * held blind_lookback_s before the server's time when f->blind; for a
 * TIMESTAMP or DATE cursor the wall time of the server's default zone (the
 * earliest any zone shows, UTC-12, when its offset is not known). NULL for
 * other kinds (their values do not come from a clock: no cap). */
const char *sync_delta_cap(const store_xact_floor *f, store_kind kind, int64_t blind_lookback_s,
                           char *buf, size_t n);
/* sync_local.c: delta and hash inside the destination's engine. */
int sync_delta_local(sync_ctx *c, store_local *l);
int sync_hash_local(sync_ctx *c, store_local *l);
int sync_hash(sync_ctx *c);
/* sync_hash_keyset.c: hash recursion over keyset ranges for keys that are
 * not one integer; the whole table (scount, dcount rows) is known to differ. */
int sync_hash_keyset(sync_ctx *c, int64_t scount, int64_t dcount);
/* Whether each side reads a keyset range through an index (see there). */
int sync_hash_keyset_usable(sync_ctx *c, bool *yes);
/* sync_hash_rows.c: whether a level of the range recursion should hand its
 * differing ranges to the row pass (most of them differ, and they hold
 * more rows than a few leaves), and the row pass itself over ranges
 * [ranges[i][0], ranges[i][1]] of a single integer key, ascending. */
bool sync_hash_rows_wanted(const sync_ctx *c, size_t compared, size_t differing,
                           int64_t differing_rows);
int sync_hash_rows(sync_ctx *c, const int64_t (*ranges)[2], size_t n);
/* The row digests of ranges r[0..n) (ascending, disjoint, a few thousand
 * rows in all) compared on both sides, counted: how many ranges hold a
 * differing row, how many keys were seen and how many of them differ. */
typedef struct hash_sample {
    size_t ranges, ranges_differing;
    int64_t rows, rows_differing;
} hash_sample;
int sync_hash_rows_sample(sync_ctx *c, const int64_t (*r)[2], size_t n, hash_sample *out);
/* The rows of ranges [ranges[i][0], ranges[i][1]] from both sides, merged,
 * a few hundred ranges per query (hash leaves). With rows[i] (the most rows
 * either side holds in leaf i) and a row digest family, the leaves' row
 * digests are compared first and only the differing rows fetched; rows
 * NULL fetches the leaves whole. */
int sync_hash_merge_ranges(sync_ctx *c, const int64_t (*ranges)[2], const int64_t *rows,
                           size_t n);
/* The same for buckets idx[0..n) (ascending) of one level cut into buckets
 * of width `step` from lo (the last one ends at hi): bucket i holds keys
 * lo + i * step .. lo + (i + 1) * step - 1. The range must not be wider
 * than INT64_MAX (k - lo must not overflow). */
int sync_hash_merge_buckets(sync_ctx *c, int64_t lo, int64_t hi, int64_t step,
                            const int64_t *idx, const int64_t *rows, size_t n);

#endif
