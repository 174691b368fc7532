/* state — placeholder until the backends land: every call is "not implemented". */
#include "state.h"

#define NI return st_error_set(err, ST_ENOTIMPL, "state: not implemented")
int state_open(state **out, const char *url, st_error *err) { (void)url; *out = NULL; NI; }
void state_close(state *st) { (void)st; }
int state_get(state *st, const char *p, const char *s, state_record *out, st_error *err) { (void)st; (void)p; (void)s; (void)out; NI; }
int state_list(state *st, state_record **out, size_t *n, st_error *err) { (void)st; (void)out; (void)n; NI; }
int state_new_run_id(state *st, int64_t *out, st_error *err) { (void)st; (void)out; NI; }
int state_mark_pending(state *st, const char *p, const char *s, int64_t run_id, int64_t now, st_error *err) { (void)st; (void)p; (void)s; (void)run_id; (void)now; NI; }
int state_mark_running(state *st, const char *p, const char *s, int64_t run_id, int64_t now, const char *worker, st_error *err) { (void)st; (void)p; (void)s; (void)run_id; (void)now; (void)worker; NI; }
int state_mark_finished(state *st, const char *p, const char *s, int64_t run_id, state_status status, int64_t started_at, int64_t now, const char *worker, const char *message, const char *error, const state_stats *stats, st_error *err) { (void)st; (void)p; (void)s; (void)run_id; (void)status; (void)started_at; (void)now; (void)worker; (void)message; (void)error; (void)stats; NI; }
int state_reset(state *st, const char *p, const char *s, st_error *err) { (void)st; (void)p; (void)s; NI; }
int state_put(state *st, const state_record *rec, st_error *err) { (void)st; (void)rec; NI; }
int state_history(state *st, const char *p, const char *s, size_t limit, state_history_entry **out, size_t *n, st_error *err) { (void)st; (void)p; (void)s; (void)limit; (void)out; (void)n; NI; }
int state_meta_get(state *st, const char *p, const char *s, const char *key, char *buf, size_t buflen, st_error *err) { (void)st; (void)p; (void)s; (void)key; (void)buf; (void)buflen; NI; }
int state_meta_put(state *st, const char *p, const char *s, const char *key, const char *value, st_error *err) { (void)st; (void)p; (void)s; (void)key; (void)value; NI; }
const char *state_status_name(state_status s) { (void)s; return "?"; }
int state_status_parse(const char *s, state_status *out) { (void)s; (void)out; return ST_ENOTIMPL; }
