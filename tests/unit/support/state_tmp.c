/*
 * state_tmp — see state_tmp.h. The directory is removed with `rm -rf`.
 */
#include "state_tmp.h"
#include "url_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int state_tmp_open(state_tmp *t, const char *tmpl) {
    snprintf(t->dir, sizeof t->dir, "%s", tmpl);
    if (mkdtemp(t->dir) == NULL) return -1;
    snprintf(t->url, sizeof t->url, "sqlite:%s/state.db", t->dir);
    return state_open_url(&t->st, t->url, NULL) == ST_OK ? 0 : -1;
}

int state_tmp_close(state_tmp *t) {
    state_close(t->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    return system(cmd) == 0 ? 0 : -1;
}
