/*
 * mock_pair — the fixture the sync tests on the mock store share
 * (test_sync_mock, test_sync_aggregate, test_sync_parallel; prefix
 * mock_pair_): a directory
 * under /tmp, two mock datastores, "src_ds" (side 0, the source) and
 * "dst_ds" (side 1, the destination), and an embedded SQLite state file in
 * the directory. The test builds its own pipeline (mock_pair_pipeline
 * builds the usual one, src_t -> dst_t); mock_pair_open_state points the
 * test's config at the pair and opens the state. Every failure
 * fails the test (cmocka's fail_msg), naming what failed.
 */
#ifndef ST_TEST_MOCK_PAIR_H
#define ST_TEST_MOCK_PAIR_H

#include "mock_store.h"
#include "../../../src/state/state.h"

typedef struct mock_pair {
    char dir[64], state_path[128], state_url[160];
    mock_db *db[2];              /* 0 source, 1 destination */
    config_datastore ds[2];
    state *st;
} mock_pair;

/* Makes the directory from tmpl ("/tmp/name-XXXXXX") and the two datastores. */
void mock_pair_open(mock_pair *m, const char *tmpl);

/* Sets cfg's dir, datastores and state_url to m's, and opens m->st. */
void mock_pair_open_state(mock_pair *m, config *cfg);

/* The pipeline a sync test runs over the pair, its parts in the test's own
 * fixture: p named `name`, src_ds.main.src_t -> dst_ds.main.dst_t over the
 * ncols columns `cols`, with the one strategy *strat; cfg pointing at p and
 * the pair, the state open (mock_pair_open_state); src_t made on the source
 * by `src_ddl`, dst_t as `ddl apply` makes it. */
void mock_pair_pipeline(mock_pair *m, config *cfg, config_pipeline *p, const char *name,
                        config_column *cols, size_t ncols, config_strategy *strat,
                        const char *src_ddl);

/* Closes the state and the datastores, removes the state file and the directory. */
void mock_pair_close(mock_pair *m);

/* A cmocka teardown for a fixture allocated with malloc whose first member
 * is its mock_pair: closes the pair, frees the fixture. */
int mock_pair_teardown(void **state);

/* Runs sql with its np parameters on side's own (uncounted) connection. */
void mock_pair_exec(mock_pair *m, int side, const char *sql, int np, const char *const *p);

#endif
