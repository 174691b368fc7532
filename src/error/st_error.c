/*
 * st_error — fixed-buffer error values (see st_error.h).
 *
 * Formatting truncates rather than fails: an error message that is too long
 * is still better than no message. Wrapping builds the new text in a local
 * buffer first so the old message can be used as an argument.
 */
#include "st_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int st_error_set(st_error *e, int code, const char *fmt, ...) {
    if (e == NULL) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

int st_error_wrap(st_error *e, const char *fmt, ...) {
    if (e == NULL) return ST_ERR;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
    if (e->code == ST_OK) e->code = ST_ERR;
    return e->code;
}

void st_error_clear(st_error *e) {
    if (e == NULL) return;
    e->code = ST_OK;
    e->msg[0] = '\0';
}

const char *st_error_name(int code) {
    switch (code) {
    case ST_OK: return "ok";
    case ST_ENOTFOUND: return "not found";
    case ST_EBUSY: return "busy";
    case ST_EINVAL: return "invalid";
    case ST_EUNAVAIL: return "unavailable";
    case ST_ETIMEOUT: return "timeout";
    case ST_ESTALE: return "stale";
    case ST_ENOTIMPL: return "not implemented";
    case ST_ENOMEM: return "out of memory";
    case ST_ELOST: return "lost";
    case ST_EINTR: return "interrupted";
    default: return "error";
    }
}
