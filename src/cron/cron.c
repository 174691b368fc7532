/* cron — placeholder until the parser lands. */
#include "cron.h"

int cron_parse(cron_expr **out, const char *expr, const char *tz, st_error *err) {
    (void)expr; (void)tz;
    *out = NULL;
    return st_error_set(err, ST_ENOTIMPL, "cron: not implemented");
}
void cron_free(cron_expr *c) { (void)c; }
int cron_next(const cron_expr *c, int64_t t, int64_t *out) { (void)c; (void)t; (void)out; return ST_ENOTIMPL; }
int cron_prev(const cron_expr *c, int64_t t, int64_t *out) { (void)c; (void)t; (void)out; return ST_ENOTIMPL; }
const char *cron_text(const cron_expr *c) { (void)c; return ""; }
const char *cron_zone(const cron_expr *c) { (void)c; return "UTC"; }
