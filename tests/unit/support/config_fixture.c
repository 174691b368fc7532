/*
 * config_fixture — see config_fixture.h. The directory lives under /tmp and
 * is removed depth-first with nftw() by the teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_fixture.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

int cfgt_setup(void **state) {
    cfgt_dir *t = calloc(1, sizeof *t);
    if (t == NULL) return -1;
    snprintf(t->path, sizeof t->path, "/tmp/test_config.XXXXXX");
    if (mkdtemp(t->path) == NULL) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

int cfgt_teardown(void **state) {
    cfgt_dir *t = *state;
    config_free(t->cfg);
    config_problems_clear(&t->probs);
    nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

void cfgt_write(cfgt_dir *t, const char *rel, const char *text) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/pipelines", t->path);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s", t->path, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}
