/* job — placeholder until the job manager lands. */
#include "job.h"

#include <stdio.h>
#include <string.h>

void job_opts_from_config(job_opts *opts, const config_pipeline *p, const char *strategy) { (void)p; memset(opts, 0, sizeof *opts); opts->strategy = strategy; }
int job_run(const config *cfg, const config_pipeline *p, const job_opts *opts, lock_manager *lm, const job_callbacks *cb, job_execute_fn exec, void *exec_ud, job_result *out) {
    (void)cfg; (void)p; (void)opts; (void)lm; (void)cb; (void)exec; (void)exec_ud;
    memset(out, 0, sizeof *out);
    out->status = JOB_FAILED;
    snprintf(out->message, sizeof out->message, "job manager: not implemented");
    return ST_ENOTIMPL;
}
const config_strategy *job_strategy_config(const config_pipeline *p, const char *name) { (void)p; (void)name; return NULL; }
void job_destination_table(const config_pipeline *p, const char **ds, const char **schema, const char **table) { (void)p; *ds = *schema = *table = NULL; }
const char *job_status_name(job_status s) { (void)s; return "?"; }
