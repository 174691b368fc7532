/*
 * sync_io — what the sync tests read and capture besides their fixtures
 * (prefix syncio_; test_sync_mock, test_sync_parallel, test_sync_progress,
 * synct_env): a side's rows as one text to compare, and a run's stderr on
 * a pseudo-terminal or a pipe (the progress line is shown only on a
 * terminal). Every failure fails the test (cmocka's fail_msg), naming what
 * failed.
 */
#ifndef ST_TEST_SYNC_IO_H
#define ST_TEST_SYNC_IO_H

#include <stddef.h>

#include "../../../src/state/state.h"
#include "../../../src/store/store.h"
#include "../../../src/sync/sync.h"

/* The rows `sql` reads on s, "v1|v2|...\n" each (store_sb_rowvalue: '|'
 * and '\' escaped, NULL as \N); "" for none. The caller frees it. */
char *syncio_rows(store *s, const char *sql);

/* syncio_rows of "SELECT <the n columns, each as the driver's canonical
 * text of its config type> FROM <rest>" (rest: the table and the order). */
char *syncio_canon_rows(store *s, const char *const *cols, const char *const *types, size_t n,
                        const char *rest);

/* Fails the test unless the two texts are equal, showing both from the
 * first line that differs. */
void syncio_assert_same(const char *src, const char *dst);

/* Fails the test unless every line of `rows` is a line of `in`, naming
 * the first that is not after `what` ("destination row not in the
 * source"). */
void syncio_assert_lines_in(const char *rows, const char *in, const char *what);

/* A pseudo-terminal: what is written to *slave is read on *master. */
void syncio_pty(int *master, int *slave);

/* sync_run(o) with stderr (fd 2) sent to `fd` meanwhile. */
int syncio_run_with_stderr(int fd, const sync_opts *o, state_stats *stats, st_error *err);

/* What can be read on fd now (made non-blocking), NUL-terminated in buf;
 * its length. */
size_t syncio_drain(int fd, char *buf, size_t n);

#endif
