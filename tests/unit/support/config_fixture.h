/*
 * config_fixture — a temporary config directory for the config unit tests
 * (test_config.c, test_config_ops.c): cmocka setup/teardown that make and
 * remove it, and a writer for datastores.yaml / pipelines/NAME.yaml inside it.
 * Every symbol is prefixed cfgt_ because support files are linked into
 * every unit test.
 */
#ifndef CFGT_FIXTURE_H
#define CFGT_FIXTURE_H

#include <limits.h>

#include "../../../src/config/config.h"

typedef struct cfgt_dir {
    char path[PATH_MAX];
    config *cfg;
    config_problems probs;
    st_error err;
    int rc;
} cfgt_dir;

/* cmocka group/test setup: *state = a fresh cfgt_dir with an empty temp dir. */
int cfgt_setup(void **state);

/* Frees the loaded config and problems and removes the directory. */
int cfgt_teardown(void **state);

/* Writes `text` to `rel` under the directory (pipelines/ is created). */
void cfgt_write(cfgt_dir *t, const char *rel, const char *text);

#endif
