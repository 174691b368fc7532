/*
 * proc — what the scheduler and worker loops share: default names, the
 * signal set they block and poll, config reload on SIGHUP, and the call
 * into a plugged-in service (see proc.h).
 *
 * Signals are never handled asynchronously: the loops block them at start
 * and read them at a point of their choosing, so no code runs in a signal
 * handler and there is no global flag to race on. The exception is a
 * process that runs one job (proc_interrupt_install): its handler only
 * stores the signal number in a lock-free atomic_int (safe in a handler, and
 * read by other threads) that the sync polls at batch
 * boundaries, or _exit()s on the second signal.
 */
#include "proc_int.h"

#include "../log/log.h"
#include "../strbuf/strbuf.h"
#include "../time/st_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- Interrupting a run --- */

static atomic_int proc_interrupted;

static void proc_on_interrupt(int sig) {
    if (proc_interrupted != 0) _exit(128 + sig);   /* second signal: now */
    proc_interrupted = sig;
}

atomic_int *proc_interrupt_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = proc_on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &proc_interrupted;
}

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
    *o = (proc_worker_opts){.concurrency = 1, .claim_idle_s = 60, .grace_s = 30,
                            .service = {.fd = -1}};
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
    signal(SIGPIPE, SIG_IGN);   /* a closed Redis/database socket is an error, not death */
}

bool proc_reload_config(const char *dir, config **out, char *why, size_t n) {
    config_problems probs = {0};
    st_error e;
    *out = NULL;
    if (config_load(out, dir, &probs, &e) != ST_OK) {
        if (why != NULL) snprintf(why, n, "%s", probs.n ? probs.items[0] : e.msg);
        for (size_t i = 0; i < probs.n; i++) log_error(NULL, NULL, "reload: %s", probs.items[i]);
        if (probs.n == 0) log_error(NULL, NULL, "reload: %s", e.msg);
        log_error(NULL, NULL, "config reload failed; keeping the previous config");
        config_problems_clear(&probs);
        return false;
    }
    return true;
}

/* --- Backoff --- */

int64_t proc_backoff_fail(proc_backoff *b, const char *why, int64_t mono) {
    if (b->down_since == 0) {
        b->down_since = mono;
        b->step_ms = 0;
        if (b->seed == 0) b->seed = (unsigned)getpid() ^ (unsigned)mono;
    }
    b->step_ms = b->step_ms == 0 ? PROC_BACKOFF_FIRST_MS : b->step_ms * 2;
    if (b->step_ms > PROC_BACKOFF_MAX_MS) b->step_ms = PROC_BACKOFF_MAX_MS;
    int64_t jitter = b->step_ms / 5;
    int64_t delay = b->step_ms - jitter + (int64_t)(rand_r(&b->seed) % (unsigned)(2 * jitter + 1));
    log_warn(NULL, NULL, "%s unreachable (%s); down for %llds, retrying in %.1fs", b->what, why,
             (long long)((mono - b->down_since) / 1000), (double)delay / 1000.0);
    return delay;
}

void proc_backoff_ok(proc_backoff *b, int64_t mono) {
    if (b->down_since == 0) return;
    log_info(NULL, NULL, "%s reachable again after %llds", b->what,
             (long long)((mono - b->down_since) / 1000));
    b->down_since = 0;
    b->step_ms = 0;
}

bool proc_backoff_expired(const proc_backoff *b, int64_t give_up_s, int64_t mono) {
    return give_up_s > 0 && b->down_since != 0 && mono - b->down_since > give_up_s * 1000;
}

bool proc_backoff_transient(int rc) { return rc == ST_EUNAVAIL || rc == ST_ERR; }

static proc_wait proc_gave_up(const proc_backoff *b, int64_t give_up_s) {
    log_error(NULL, NULL, "%s unreachable for more than %" PRId64 "s: giving up "
              "(--give-up-after)", b->what, give_up_s);
    return PROC_WAIT_GAVE_UP;
}

proc_wait proc_backoff_wait(proc_backoff *b, const sigset_t *sigs, int64_t give_up_s,
                            const char *why) {
    int64_t mono = st_time_mono_ms();
    int64_t until = mono + proc_backoff_fail(b, why, mono);
    for (;;) {
        mono = st_time_mono_ms();
        if (proc_backoff_expired(b, give_up_s, mono)) return proc_gave_up(b, give_up_s);
        if (mono >= until) return PROC_WAIT_RETRY;
        int64_t left = until - mono < 100 ? until - mono : 100;
        struct timespec ts = {0, (long)left * 1000000L};
        siginfo_t si;
        int sig = sigtimedwait(sigs, &si, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info(NULL, NULL, "%s: stopping while waiting for %s", strsignal(sig), b->what);
            return PROC_WAIT_STOP;
        }
    }
}

void proc_service_call(const proc_service *s, const proc_view *view) {
    if (s->fn != NULL) s->fn(s->arg, view);
}
