/*
 * sync — the strategies that move rows: full, delta, hash (DESIGN §1, §2).
 *
 * sync_run() executes one strategy of one pipeline from source to
 * destination over the `store` interface. It streams (never a whole table in
 * memory), writes in batches inside transactions, and checks the run's
 * fencing token in the destination's `synctool_fence` table with every batch
 * commit, so a run that has lost its lock cannot write (ST_ESTALE).
 * If *opts->cancel becomes non-zero (the lease renewal thread lost the lock)
 * it stops before the next commit and returns ST_ELOST "lost pipeline lock".
 * If *opts->interrupt becomes non-zero (SIGINT/SIGTERM) it stops the same
 * way and returns ST_EINTR: batches already committed stay committed.
 *
 * Errors name the datastore and table; a failure never leaves a partial
 * batch outside a transaction, and re-running after any failure neither
 * duplicates nor loses rows.
 */
#ifndef ST_SYNC_H
#define ST_SYNC_H

#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "../state/state.h"

struct store_ops;

/* What `synctool diff` reports (sync_diff.c): change counts and the first
 * `limit` changes of each kind, key as "col=value, ..." (destination column
 * names), and for an update the destination columns that differ. */
typedef struct sync_diff_entry {
    char *key;
    char *columns;   /* updates only, else NULL */
} sync_diff_entry;

typedef struct sync_diff_list {
    sync_diff_entry *v;
    size_t n, cap;
} sync_diff_list;

typedef struct sync_diff {
    size_t limit;                    /* entries kept per kind (set by the caller) */
    int64_t inserts, updates, deletes;
    sync_diff_list ins, upd, del;
} sync_diff;

void sync_diff_free(sync_diff *d);

typedef struct sync_opts {
    const config *cfg;
    const config_pipeline *pipeline;
    const config_strategy *strategy;
    state *st;                /* for delta watermarks; may be NULL (no resume) */
    const char *fence_key;    /* pipeline lock key; NULL = no fencing */
    int64_t fence_token;      /* pipeline lock fencing token */
    atomic_int *cancel;       /* may be NULL */
    /* May be NULL (then the renewer's `cancel` is all a run knows of its
     * lease). lease_check(lease_arg) asks the lock store, right before every
     * commit, whether the pipeline lock is still held with fence_token:
     * ST_ESTALE rolls the batch back and ends the run ST_ELOST "lost
     * pipeline lock" (any other answer leaves it to the renewer, which
     * gives up after a lease without an answer). fence_raise raises the
     * run's token above `floor` in the lock store (*token: the new one),
     * when the destination already holds a token >= the run's (job.h,
     * job_lease_check / job_fence_raise). */
    int (*lease_check)(const void *lease_arg, st_error *err);
    int (*fence_raise)(const void *lease_arg, int64_t floor, int64_t *token, st_error *err);
    const void *lease_arg;
    /* may be NULL; non-zero: stop at the next batch boundary (the open
     * batch is rolled back) and return ST_EINTR "interrupted" */
    atomic_int *interrupt;
    bool progress;            /* progress line on stderr (only if a TTY) */
    int64_t progress_interval_s; /* not on a TTY: an info log line this often for runs
                                    lasting longer; 0 = 30 s, < 0 = never */
    int64_t now;              /* run start, for logs and watermarks */
    int64_t run_id;           /* > 0 and st set: the run publishes its progress in
                                 state (state_progress_put) for the API */
    int64_t progress_first_us; /* ...once it has lasted this long: 0 = 250 ms (a
                                 shorter run publishes nothing), < 0 = at once */
    sync_diff *diff;          /* non-NULL: dry run (hash strategy only): changes are
                                 recorded here, nothing is written */
    /* NULL: each datastore's driver. Else the store driver for every store
     * this run opens (source, destination, the progress estimate's), given
     * to store_open_with_ops with the datastore's config: the seam through
     * which unit tests run a strategy on a mock store (tests/unit/support/
     * mock_store.h). Such stores are reached only through the table, so the
     * SQLite-to-SQLite path (sync_local.c), which opens the files itself,
     * is not taken. */
    const struct store_ops *store_ops;
    bool done_is_detail;      /* the caller logs the run's one info line itself (the
                                 scheduler's "Run N succeeded: ..."): "sync done" is then
                                 a detail (log_detail), else `run`'s one info line */
} sync_opts;

/* delta on a source whose role cannot see other sessions' transactions
 * (store_xact_floor.blind) holds its watermark this many seconds before the
 * source's time (sync_delta.c, DESIGN §7). */
#define SYNC_DELTA_BLIND_LOOKBACK_S 300

/* Runs the strategy. Returns 0 and fills *stats, or an error code. */
int sync_run(const sync_opts *opts, state_stats *stats, st_error *err);

/* Creates or alters the destination table from `columns` (`synctool ddl
 * apply`). The caller holds the exclusive table lock. */
int sync_ddl_apply(const config *cfg, const config_pipeline *p, st_error *err);
/* The same; with `migrate`, SQLite columns of another type (tables made by
 * earlier versions: TEXT numerics, booleans, timestamps) are rewritten in
 * place, every row kept, in one transaction (sync_ddl.c). */
int sync_ddl_apply_ex(const config *cfg, const config_pipeline *p, bool migrate, st_error *err);

/* Column types the destination engine cannot hold exactly as numbers
 * (SQLite: decimals of more than 15 significant digits): calls fn once per
 * such column with a message naming it and the fix; returns the count. */
typedef void (*sync_caveat_fn)(void *arg, const config_pipeline *p, const config_column *c,
                               const char *msg);
int sync_ddl_caveats(const config *cfg, const config_pipeline *p, sync_caveat_fn fn, void *arg);

/* The statements sync_ddl_apply would run now, each ending ";\n", in *sql
 * (malloc'd, "" when the table matches the config). Opens the destination,
 * changes nothing, takes no lock. Type mismatches fail as apply does. */
int sync_ddl_plan(const config *cfg, const config_pipeline *p, char **sql, st_error *err);
/* The name of an aggregate pipeline's group map table, beside its
 * destination ("synctool_groups_<table>"; sync_aggregate.c). */
void sync_agg_map_name(const config_pipeline *p, char *buf, size_t n);

/* `ddl plan` / `ddl apply` of a pipeline with a cdc strategy (sync_cdc.c):
 * the publication and the replication slot its first run will read, made
 * ahead when absent (none yet, no saved position). apply false: *out is
 * the plan (replication commands, one per line), apply true: what was made;
 * "" when nothing is to be done (no cdc strategy, a stream already going,
 * or a slot ddl apply made that is still unread). Caller frees *out. */
int sync_cdc_prepare(const config *cfg, const config_pipeline *p, state *st, bool apply,
                     char **out, st_error *err);

#endif
