/*
 * mock_store — an in-memory store (struct store_ops) for the unit tests of
 * the sync strategies (prefix mock_): full, delta and hash run with no
 * server, and a test can count what they did and make the store fail.
 *
 * Why it wraps SQLite. The store interface is SQL text: the strategies
 * build their statements (sync_sql.c) from the driver's dialect methods
 * (canon_expr, hash_expr, param_cast, digest_sql, row_digest_expr, ...)
 * and send them through query / exec / apply. A mock that interpreted
 * those statements itself would be a second SQL engine written for the
 * test, and a test passing against it would prove only that the two agree.
 * So the mock's engine is the real SQLite driver on a database that lives
 * in memory; what the mock adds is what a real server cannot be asked for
 * on cue: counts of every call, and failures at an exact call.
 *
 * One mock_db is one datastore: a SQLite database in memory (the memdb
 * VFS, "file:/synctool-mock-...?vfs=memdb": one database shared by every
 * connection of this process, gone when its last connection closes). The
 * mock_db keeps one connection of its own open (mock_db_admin), made by
 * the plain SQLite driver, for the test's set-up and checks: its
 * statements are not counted. mock_store_ops() is the table to pass to
 * store_open_with_ops or sync_opts.store_ops: the SQLite driver's table
 * with the methods listed below replaced by ones that count the call on
 * the datastore's mock_db, inject the fault armed on it, and call the
 * driver. A store opened with it keeps the driver's connection state as
 * its impl (the mock finds its mock_db from the impl in a registry), so a
 * method the mock does not replace, including any a later store_ops
 * version adds, reaches the driver unchanged. The engine name stays
 * "sqlite": every statement is SQLite's.
 *
 * Counted (mock_counts): opens, statements (query, query_small, exec),
 * begin, commit, rollback, apply calls and the rows they wrote, fence_tag
 * and fence_floor calls.
 *
 * Faults. Each is armed for one call, counted from when it is armed (the
 * 2nd commit after mock_fail_commit(db, 2)), and fires once:
 *   mock_fail_apply   the nth apply fails after `after_rows` rows (or at
 *                     the end of its rows, if fewer): a connection lost
 *                     mid-batch; the rows written are in the open
 *                     transaction, which the caller must roll back.
 *   mock_fail_commit  the nth COMMIT fails: the transaction is rolled back
 *                     and commit returns ST_EUNAVAIL (a server gone at
 *                     COMMIT: nothing of the batch is kept).
 *   mock_fence_after_commit  right after the nth COMMIT succeeds, a newer
 *                     holder of the pipeline lock stores `token` in
 *                     synctool_fence for every key (on the admin
 *                     connection, as that holder's own batch would): the
 *                     run's next fencing check must refuse (ST_ESTALE).
 *                     The counts at that moment are kept
 *                     (mock_db_counts_at_fault), so a test can show that
 *                     nothing was applied or committed afterwards.
 *   mock_fence_floor  fence_floor reports at least `floor` (a destination
 *                     that knows a newer token than the lock store gave).
 * Injected errors are ST_EUNAVAIL with a message naming the datastore and
 * "(mock: ...)".
 *
 * Threads: sync opens the source in a thread of its own and hash works on
 * both sides at once; counters are atomics and the registry is under a
 * mutex. Arm faults only while no run is going on.
 */
#ifndef MOCK_STORE_H
#define MOCK_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../../src/config/config.h"
#include "../../../src/store/store.h"
#include "../../../src/store/store_backend.h"

typedef struct mock_db mock_db;

typedef struct mock_counts {
    int opens;
    int statements;    /* query, query_small, exec */
    int begins, commits, rollbacks;
    int applies;
    int64_t rows_applied;
    int fence_tags, fence_floors;
} mock_counts;

/* A new in-memory database for datastore `name` (NULL: out of memory or
 * SQLite could not open it; err says why). */
mock_db *mock_db_new(const char *name, st_error *err);
/* Closes the admin connection (the database goes with the last one) and
 * forgets the mock_db. NULL is a no-op. Stores opened on it must be
 * closed first. */
void mock_db_free(mock_db *db);

/* The datastore (type sqlite, path the memdb URI), valid while db lives:
 * copy it into a config's datastores. */
const config_datastore *mock_db_datastore(const mock_db *db);
/* The test's own connection (plain SQLite driver, not counted). */
store *mock_db_admin(mock_db *db);

/* The table for store_open_with_ops / sync_opts.store_ops. Opening a
 * datastore that is not a live mock_db's fails with ST_ENOTFOUND. */
const struct store_ops *mock_store_ops(void);
/* Whether the mock engine says its timestamps compare through a function
 * no index serves (store_ops.time_compare_unindexed; default false). */
void mock_time_compare_unindexed(bool on);

void mock_db_counts(const mock_db *db, mock_counts *out);
/* The counts when the last mock_fence_after_commit fired (zeros before). */
void mock_db_counts_at_fault(const mock_db *db, mock_counts *out);

void mock_fail_apply(mock_db *db, int nth, int64_t after_rows);
void mock_fail_commit(mock_db *db, int nth);
void mock_fence_after_commit(mock_db *db, int nth, int64_t token);
void mock_fence_floor(mock_db *db, int64_t floor);
/* Disarms every fault. */
void mock_db_disarm(mock_db *db);

#endif
