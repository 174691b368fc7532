/* state — placeholder until the backends land. */
#include "state.h"

int state_open(state **out, const char *url, st_error *err) {
    (void)url;
    *out = NULL;
    return st_error_set(err, ST_ENOTIMPL, "state: not implemented");
}
