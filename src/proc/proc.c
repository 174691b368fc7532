/*
 * proc — what the scheduler and worker loops share: default names, the
 * signal set they block and poll, config reload on SIGHUP, and the call
 * into a plugged-in service (see proc.h).
 *
 * Signals are never handled asynchronously: the loops block them at start
 * and read them at a point of their choosing, so no code runs in a signal
 * handler and there is no global flag to race on.
 */
#include "proc_int.h"

#include "../log/log.h"
#include "../time/st_time.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void proc_default_name(char *buf, size_t n) {
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(buf, n, "%s:%ld", host, (long)getpid());
}

void proc_scheduler_defaults(proc_scheduler_opts *o) {
    *o = (proc_scheduler_opts){.max_jobs = 4, .tick_s = 10, .grace_s = 30, .lease_s = 30,
                               .service = {.fd = -1}};
    proc_default_name(o->name, sizeof o->name);
}

void proc_worker_defaults(proc_worker_opts *o) {
    *o = (proc_worker_opts){.concurrency = 1, .claim_idle_s = 60, .service = {.fd = -1}};
    proc_default_name(o->name, sizeof o->name);
}

void proc_beat(state *st, const char *kind, const char *name, int64_t mono_ms,
               int64_t *next_ms) {
    if (st == NULL || mono_ms < *next_ms) return;
    *next_ms = mono_ms + PROC_BEAT_S * 1000;
    st_error e;
    if (state_beat(st, kind, name, st_time_now(), &e) != ST_OK)
        log_debug(NULL, NULL, "heartbeat not recorded: %s", e.msg);
}

void proc_block_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
    sigprocmask(SIG_BLOCK, set, NULL);
}

bool proc_reload_config(const char *dir, config **out) {
    config_problems probs = {0};
    st_error e;
    *out = NULL;
    if (config_load(out, dir, &probs, &e) != ST_OK) {
        for (size_t i = 0; i < probs.n; i++) log_error(NULL, NULL, "reload: %s", probs.items[i]);
        if (probs.n == 0) log_error(NULL, NULL, "reload: %s", e.msg);
        log_error(NULL, NULL, "config reload failed; keeping the previous config");
        config_problems_clear(&probs);
        return false;
    }
    return true;
}

void proc_service_call(const proc_service *s, const proc_view *view) {
    if (s->fn != NULL) s->fn(s->arg, view);
}
