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
 *
 * Errors name the datastore and table; a failure never leaves a partial
 * batch outside a transaction, and re-running after any failure neither
 * duplicates nor loses rows.
 */
#ifndef ST_SYNC_H
#define ST_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "../state/state.h"

typedef struct sync_opts {
    const config *cfg;
    const config_pipeline *pipeline;
    const config_strategy *strategy;
    state *st;                /* for delta watermarks; may be NULL (no resume) */
    const char *fence_key;    /* pipeline lock key; NULL = no fencing */
    int64_t fence_token;      /* pipeline lock fencing token */
    volatile int *cancel;     /* may be NULL */
    bool progress;            /* progress line on stderr (only if a TTY) */
    int64_t now;              /* run start, for logs and watermarks */
} sync_opts;

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

#endif
