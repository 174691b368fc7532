/*
 * proc_int — helpers shared by the scheduler and worker loops (not public).
 */
#ifndef ST_PROC_INT_H
#define ST_PROC_INT_H

#include "proc.h"

#include "../state/state.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD in this thread (and so in the
 * threads it creates) and fills *set with them. The loops read them with
 * sigtimedwait() or a signalfd: no handler, no global flag. */
void proc_block_signals(sigset_t *set);

/* Loads the config from dir for a SIGHUP reload. Returns true with *out
 * set, or logs each problem ("reload: ...", then "keeping the previous
 * config") and returns false. */
bool proc_reload_config(const char *dir, config **out);

/* Retrying an unreachable backend (Redis, the lock store): capped
 * exponential backoff with jitter, one warning per step, and a deadline.
 * Steps start at PROC_BACKOFF_FIRST_MS and double up to PROC_BACKOFF_MAX_MS,
 * each shortened or lengthened by up to 20% so processes that lost the same
 * server do not come back in lockstep. */
#define PROC_BACKOFF_FIRST_MS 500
#define PROC_BACKOFF_MAX_MS 30000

typedef struct proc_backoff {
    const char *what;       /* "redis", "lock store": names it in the warnings */
    int64_t down_since;     /* monotonic ms of the first failure; 0 = reachable */
    int64_t step_ms;        /* the last delay */
    unsigned seed;
} proc_backoff;

/* Records a failure (why: the error text). Logs one warning and returns
 * the delay in ms before the next try. */
int64_t proc_backoff_fail(proc_backoff *b, const char *why, int64_t mono);

/* Records a success; logs "<what> reachable again after Ns" after an outage. */
void proc_backoff_ok(proc_backoff *b, int64_t mono);

/* Whether the outage has lasted longer than give_up_s (0: never). */
bool proc_backoff_expired(const proc_backoff *b, int64_t give_up_s, int64_t mono);

/* Records the heartbeat of process `name` when mono_ms has reached *next_ms
 * (then *next_ms moves PROC_BEAT_S on). A failure is logged at debug only. */
void proc_beat(state *st, const char *kind, const char *name, int64_t mono_ms,
               int64_t *next_ms);

/* Calls the plugged-in service, if any. */
void proc_service_call(const proc_service *s, const proc_view *view);

#endif
