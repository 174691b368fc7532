/* lock — placeholder until the backends land: every call is "not implemented". */
#include "lock.h"

#define NI return st_error_set(err, ST_ENOTIMPL, "lock: not implemented")
int lock_open(lock_manager **out, const char *url, st_error *err) { (void)url; *out = NULL; NI; }
void lock_close(lock_manager *lm) { (void)lm; }
int lock_acquire(lock_manager *lm, const char *key, lock_mode mode, int64_t ttl_ms, lock_handle *h, st_error *err) { (void)lm; (void)key; (void)mode; (void)ttl_ms; (void)h; NI; }
int lock_acquire_wait(lock_manager *lm, const char *key, lock_mode mode, int64_t ttl_ms, int64_t timeout_ms, lock_handle *h, st_error *err) { (void)lm; (void)key; (void)mode; (void)ttl_ms; (void)timeout_ms; (void)h; NI; }
int lock_renew(lock_manager *lm, const lock_handle *h, st_error *err) { (void)lm; (void)h; NI; }
int lock_release(lock_manager *lm, const lock_handle *h, st_error *err) { (void)lm; (void)h; NI; }
int lock_check_fence(lock_manager *lm, const lock_handle *h, st_error *err) { (void)lm; (void)h; NI; }
int lock_list(lock_manager *lm, lock_info **out, size_t *n, st_error *err) { (void)lm; (void)out; (void)n; NI; }
char *lock_key_pipeline(char *buf, size_t n, const char *pipeline) { (void)n; (void)pipeline; return buf; }
char *lock_key_enqueue(char *buf, size_t n, const char *pipeline) { (void)n; (void)pipeline; return buf; }
char *lock_key_table(char *buf, size_t n, const char *ds, const char *schema, const char *table) { (void)n; (void)ds; (void)schema; (void)table; return buf; }
