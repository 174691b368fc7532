/*
 * state_tmp — a SQLite state store in a fresh directory under /tmp, for
 * unit tests that need a real store and nothing else (test_notify,
 * test_cdc_figures; prefix state_tmp_). state_tmp_close removes the
 * directory with everything in it.
 */
#ifndef ST_TEST_STATE_TMP_H
#define ST_TEST_STATE_TMP_H

#include "../../../src/state/state.h"

typedef struct state_tmp {
    char dir[64], url[128];    /* url: "sqlite:<dir>/state.db" */
    state *st;
} state_tmp;

/* Makes the directory from tmpl ("/tmp/name.XXXXXX") and opens the store.
 * 0, or -1 if either fails. */
int state_tmp_open(state_tmp *t, const char *tmpl);

/* Closes the store and removes the directory; -1 if it could not be removed. */
int state_tmp_close(state_tmp *t);

#endif
