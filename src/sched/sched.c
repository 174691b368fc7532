/* sched — placeholder until the decision function lands. */
#include "sched.h"

#include <stdio.h>
#include <string.h>

void sched_settings_from_config(sched_settings *s, const config_retry *r) { (void)r; memset(s, 0, sizeof *s); }
void sched_should_run(const state_record *st, const cron_expr *cron, const char *cron_error, int64_t now, const sched_settings *s, sched_decision *out) {
    (void)st; (void)cron; (void)cron_error; (void)now; (void)s;
    memset(out, 0, sizeof *out);
    snprintf(out->reason, sizeof out->reason, "Error: scheduling decision not implemented");
}
int sched_select(const config_pipeline *p, const cron_expr *const *crons, const state_record *const *states, int64_t now, sched_decision *d) { (void)p; (void)crons; (void)states; (void)now; (void)d; return -1; }
bool sched_can_enqueue(const state_record *st, int64_t now, char *reason, size_t n) { (void)st; (void)now; snprintf(reason, n, "not implemented"); return false; }
