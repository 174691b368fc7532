/*
 * st_error — the one error convention every synctool module uses.
 *
 * Functions return an int: 0 (ST_OK) on success, a negative ST_E* code on
 * failure. When they fail they also fill a caller-provided `st_error` with a
 * human-readable message that names the thing that is wrong (a file, a
 * pipeline, a datastore, a key). Callers decide on the code, never by parsing
 * the message; they print the message.
 *
 * The struct is a fixed buffer on purpose: errors are produced on paths where
 * allocation may itself be the failure, and nobody has to free them.
 * Passing NULL for the st_error is allowed everywhere: the message is dropped.
 */
#ifndef ST_ERROR_H
#define ST_ERROR_H

#include <stddef.h>

enum {
    ST_OK = 0,
    ST_ERR = -1,        /* generic failure */
    ST_ENOTFOUND = -2,  /* no such pipeline / strategy / row / key */
    ST_EBUSY = -3,      /* lock held by someone else */
    ST_EINVAL = -4,     /* bad input: config, cron, timestamp, argument */
    ST_EUNAVAIL = -5,   /* backend unreachable (network, file) */
    ST_ETIMEOUT = -6,   /* waited and gave up */
    ST_ESTALE = -7,     /* stale run_id / fencing token: refused */
    ST_ENOTIMPL = -8,   /* not implemented */
    ST_ENOMEM = -9,     /* out of memory */
    ST_ELOST = -10,     /* lease lost while running */
    ST_EINTR = -11      /* interrupted by an operator (SIGINT/SIGTERM) */
};

typedef struct st_error {
    int code;
    char msg[1024];
} st_error;

/* Formats the message into `e` (if not NULL) and returns `code`. */
int st_error_set(st_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "prefix: ". Returns e->code (or ST_ERR). */
int st_error_wrap(st_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets to ST_OK with an empty message. */
void st_error_clear(st_error *e);

/* Short constant name of a code ("busy", "not found", ...). */
const char *st_error_name(int code);

#endif
