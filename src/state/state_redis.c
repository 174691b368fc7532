/* state_redis — placeholder while the Redis backend is written. */
#include "state_backend.h"

int state_redis_open(void **be, const struct state_ops **ops, const char *url, st_error *err) {
    (void)url;
    *be = NULL;
    *ops = NULL;
    return st_error_set(err, ST_ENOTIMPL, "state redis: not implemented");
}
