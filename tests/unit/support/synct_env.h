/*
 * synct_env — fixtures for the sync tests (prefix synct_): a pipeline built
 * by hand between two fresh tables on SQLite (temp dir) or PostgreSQL (a
 * fresh schema per test, from SYNCTOOL_TEST_PG_*), random rows with NULLs,
 * unicode, empty strings, large numerics and zoned microsecond timestamps,
 * and a row-for-row comparison of source and destination.
 */
#ifndef SYNCT_ENV_H
#define SYNCT_ENV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../../src/config/config.h"
#include "../../../src/state/state.h"
#include "../../../src/store/store.h"
#include "../../../src/sync/sync.h"

#define SYNCT_NCOLS 7

typedef struct synct_env {
    char dir[256];
    char paths[2][300];
    char schemas[2][64];
    char state_url[320];
    config cfg;
    config_datastore ds[2];     /* 0 source, 1 destination */
    config_pipeline p;
    config_column cols[SYNCT_NCOLS];
    config_strategy strat;
    store *admin[2];
    state *st;
    uint64_t rng;
    int64_t clock_us;           /* advances per generated row (cursor) */
    bool no_null_cursor;        /* never generate a NULL updated_at */
} synct_env;

/* The harness's MariaDB (SYNCTOOL_TEST_MYSQL_*, from scripts/with-servers)
 * as a mysql datastore named `name`; fails the test when it is not set. */
void synct_mysql_datastore(config_datastore *d, const char *name);

/* Fails the test (cmocka) when PostgreSQL is wanted but not configured. */
void synct_setup(synct_env *e, bool src_pg, bool dst_pg, config_strategy_type type);
void synct_teardown(synct_env *e);

/* Source writes with random values. */
void synct_insert(synct_env *e, int64_t id);
void synct_update(synct_env *e, int64_t id);
void synct_delete(synct_env *e, int64_t id);
void synct_exec(synct_env *e, int side, const char *sql);
int64_t synct_count(synct_env *e, int side);

/* Asserts that every source row is in the destination, equal; if `exact`,
 * also that the destination has no other row. */
void synct_assert_equal(synct_env *e, bool exact);

/* sync_run with the env's pipeline and strategy. */
int synct_run(synct_env *e, state_stats *stats, st_error *err, const char *fence_key,
              int64_t token, atomic_int *cancel);

#endif
