/* sync — placeholder until the strategies land. */
#include "sync.h"

int sync_run(const sync_opts *opts, state_stats *stats, st_error *err) { (void)opts; (void)stats; return st_error_set(err, ST_ENOTIMPL, "sync: not implemented"); }
int sync_ddl_apply(const config *cfg, const config_pipeline *p, st_error *err) { (void)cfg; (void)p; return st_error_set(err, ST_ENOTIMPL, "ddl apply: not implemented"); }
