/*
 * sync_io — see sync_io.h. The run's stderr is redirected with dup2 around
 * sync_run only (flushed before and after), so cmocka's own messages stay
 * on the test's stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sync_io.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *syncio_rows(store *s, const char *sql) {
    store_reader *r = NULL;
    st_error err;
    if (store_query(s, &r, sql, 0, NULL, &err) != ST_OK) fail_msg("%s: %s", sql, err.msg);
    store_sb out = {0};
    store_sb_add(&out, "");
    const char *const *row;
    int nc;
    while (store_next(s, r, &row, &nc, &err) == 1) {
        for (int i = 0; i < nc; i++) {
            if (i) store_sb_add(&out, "|");
            store_sb_rowvalue(&out, row[i]);
        }
        store_sb_add(&out, "\n");
    }
    store_reader_close(s, r);
    if (out.oom) fail_msg("%s: out of memory", sql);
    return out.s;
}

char *syncio_canon_rows(store *s, const char *const *cols, const char *const *types, size_t n,
                        const char *rest) {
    store_sb q = {0};
    store_sb_add(&q, "SELECT ");
    for (size_t i = 0; i < n; i++) {
        char qc[80];
        snprintf(qc, sizeof qc, "\"%s\"", cols[i]);
        if (i) store_sb_add(&q, ", ");
        store_sb_canon(&q, s, store_kind_of(types[i]), qc);
    }
    store_sb_addf(&q, " FROM %s", rest);
    if (q.oom) fail_msg("out of memory");
    char *out = syncio_rows(s, q.s);
    store_sb_free(&q);
    return out;
}

void syncio_assert_same(const char *src, const char *dst) {
    if (strcmp(src, dst) == 0) return;
    size_t i = 0, line = 0;
    for (; src[i] && src[i] == dst[i]; i++)
        if (src[i] == '\n') line = i + 1;
    fail_msg("source and destination differ:\n src: %.400s\n dst: %.400s", src + line, dst + line);
}

void syncio_assert_lines_in(const char *rows, const char *in, const char *what) {
    size_t n = strlen(in), rn = strlen(rows);
    char *hay = malloc(n + 2), *own = malloc(rn + 1), *save = NULL;
    assert_non_null(hay);
    assert_non_null(own);
    hay[0] = '\n';
    memcpy(hay + 1, in, n + 1);
    memcpy(own, rows, rn + 1);
    for (char *line = strtok_r(own, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char needle[4096];
        snprintf(needle, sizeof needle, "\n%s\n", line);
        if (strstr(hay, needle) == NULL) fail_msg("%s: %s", what, line);
    }
    free(hay);
    free(own);
}

void syncio_pty(int *master, int *slave) {
    *master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(*master >= 0);
    assert_int_equal(grantpt(*master), 0);
    assert_int_equal(unlockpt(*master), 0);
    *slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
    assert_true(*slave >= 0);
}

int syncio_run_with_stderr(int fd, const sync_opts *o, state_stats *stats, st_error *err) {
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    dup2(fd, 2);
    int rc = sync_run(o, stats, err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return rc;
}

size_t syncio_drain(int fd, char *buf, size_t n) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fd, buf + got, n - 1 - got)) > 0) got += (size_t)r;
    buf[got] = '\0';
    return got;
}
