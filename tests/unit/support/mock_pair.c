/*
 * mock_pair — see mock_pair.h. The state file is state.db in the pair's
 * directory; the state URL is "sqlite:" and its path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mock_pair.h"
#include "url_open.h"
#include "../../../src/sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void mock_pair_open(mock_pair *m, const char *tmpl) {
    static const char *names[2] = {"src_ds", "dst_ds"};
    st_error err;
    snprintf(m->dir, sizeof m->dir, "%s", tmpl);
    assert_non_null(mkdtemp(m->dir));
    snprintf(m->state_path, sizeof m->state_path, "%s/state.db", m->dir);
    snprintf(m->state_url, sizeof m->state_url, "sqlite:%s", m->state_path);
    for (int i = 0; i < 2; i++) {
        m->db[i] = mock_db_new(names[i], &err);
        if (m->db[i] == NULL) fail_msg("mock_db_new: %s", err.msg);
        m->ds[i] = *mock_db_datastore(m->db[i]);
    }
}

void mock_pair_open_state(mock_pair *m, config *cfg) {
    st_error err;
    cfg->dir = m->dir;
    cfg->datastores = m->ds;
    cfg->ndatastores = 2;
    cfg->state_url = burl_of(m->state_url);
    if (state_open(&m->st, &cfg->state_url, &err) != ST_OK) fail_msg("state: %s", err.msg);
}

void mock_pair_pipeline(mock_pair *m, config *cfg, config_pipeline *p, const char *name,
                        config_column *cols, size_t ncols, config_strategy *strat,
                        const char *src_ddl) {
    *p = (config_pipeline){.name = (char *)name, .columns = cols, .ncolumns = ncols,
                           .strategies = strat, .nstrategies = 1};
    p->source = (config_endpoint){.datastore = "src_ds", .schema = "main", .table = "src_t"};
    p->destination = (config_endpoint){.datastore = "dst_ds", .schema = "main", .table = "dst_t"};
    *cfg = (config){.pipelines = p, .npipelines = 1};
    mock_pair_open_state(m, cfg);
    mock_pair_exec(m, 0, src_ddl, 0, NULL);
    st_error err;
    if (sync_ddl_apply(cfg, p, &err) != ST_OK) fail_msg("ddl: %s", err.msg);
}

void mock_pair_close(mock_pair *m) {
    state_close(m->st);
    mock_db_free(m->db[0]);
    mock_db_free(m->db[1]);
    unlink(m->state_path);
    rmdir(m->dir);
}

void mock_pair_exec(mock_pair *m, int side, const char *sql, int np, const char *const *p) {
    st_error err;
    if (store_exec(mock_db_admin(m->db[side]), sql, np, p, NULL, &err) != ST_OK)
        fail_msg("%s: %s", sql, err.msg);
}

int mock_pair_teardown(void **state) {
    mock_pair *m = *state;
    mock_pair_close(m);
    free(m);
    return 0;
}
