/*
 * proc — the long-running processes: the scheduler loop and the worker loop
 * (DESIGN §3-§5). Everything that reaps, waits, renews a lease, beats a
 * heartbeat or reacts to a signal lives here (a job process is started by
 * the run module's one spawn helper, run_spawn_job); `cli/` only parses
 * argv into the option structs below, calls proc_*_run() and exits with the
 * code it returns.
 *
 * Both loops own their config (they reload it on SIGHUP), their state, lock
 * and queue connections, and their child processes. Setup failures (no
 * state, no lock store, no queue) come back as PROC_FAILED with `err`
 * filled, for the caller to print; everything after setup is logged.
 *
 * Heartbeats: every PROC_BEAT_S each loop records itself in the state
 * (state_beat: kind "scheduler" or "worker", its name), which the HTTP API
 * lists under /api/v1/workers and /metrics counts as live workers.
 *
 * Extra things to service: a caller can plug a proc_service into either
 * loop (an HTTP listener, a metrics exporter...). The loop calls
 * service.fn once per iteration (at least every 200 ms in the scheduler,
 * every second in the worker) and, if service.fd >= 0, also wakes up as
 * soon as that descriptor is readable. The function runs on the loop's
 * thread, must not block, and gets the loop's read-only view (proc_view).
 */
#ifndef ST_PROC_H
#define ST_PROC_H

#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "../queue/queue.h"
#include "../run/run.h"

/* Exit codes (sysexits where one fits). */
enum {
    PROC_OK = 0,
    PROC_FAILED = 1,
    PROC_USAGE = 2,          /* usage or config error */
    PROC_UNAVAILABLE = 69,   /* EX_UNAVAILABLE: a backend stayed unreachable */
    PROC_SKIPPED = 75        /* EX_TEMPFAIL: lock busy / another scheduler leads */
};

/* What a plugged-in service sees of the loop on each call. */
typedef struct proc_view {
    const char *name;        /* scheduler or consumer name */
    const config *cfg;       /* current config (changes on SIGHUP reload) */
    bool leading;            /* scheduler: holds the leader lease */
    bool stopping;           /* a stop signal arrived */
    size_t running;          /* job processes / jobs in hand */
    int64_t mono_ms;         /* st_time_mono_ms() of this iteration */
    double last_tick_s;      /* scheduler: duration of the last tick (0 before one) */
    int64_t ticks;           /* scheduler: ticks done */
} proc_view;

typedef struct proc_service {
    int fd;                                      /* -1: no descriptor to wait on */
    void (*fn)(void *arg, const proc_view *view); /* NULL: nothing to call */
    void *arg;
} proc_service;

typedef struct proc_scheduler_opts {
    const char *config_dir;  /* passed to the job processes */
    bool once;
    int64_t at;              /* 0 = wall clock */
    int64_t max_jobs, tick_s, grace_s, lease_s;
    int64_t give_up_s;       /* lock store unreachable longer: exit 69; 0 never */
    char name[128];
    proc_service service;    /* .fd = -1 and .fn = NULL when unused */
} proc_scheduler_opts;

typedef struct proc_worker_opts {
    int64_t concurrency, claim_idle_s;
    int64_t grace_s;         /* on SIGTERM: how long the job in hand may finish */
    int64_t give_up_s;       /* Redis unreachable longer: exit 69; 0 never */
    char name[128];
    const char *config_dir;  /* for SIGHUP reloads */
    proc_service service;
} proc_worker_opts;

/* Fills the defaults (max_jobs 4, tick 10 s, grace 30 s, lease 30 s,
 * name host:pid, no service; worker: concurrency 1, claim-idle 60 s,
 * grace 30 s). */
void proc_scheduler_defaults(proc_scheduler_opts *o);
void proc_worker_defaults(proc_worker_opts *o);

/* For a process that runs one job (`run`, a scheduler's job process):
 * installs SIGINT/SIGTERM handlers and returns the flag to pass as
 * job_opts.interrupt / run_spec.interrupt. The first signal stores its
 * number there (the run stops at the next batch boundary); a second one
 * exits at once with 128 + its number. Also unblocks both signals. */
atomic_int *proc_interrupt_install(void);

#define PROC_BEAT_S 10

/* Retrying an unreachable backend (Redis, the lock store; also used by
 * `serve` for its state store): capped
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

/* Whether an error opening or using a backend is worth waiting out (the
 * server unreachable, or answering an error such as LOADING) rather than a
 * problem of the config (a bad URL, a refused password). */
bool proc_backoff_transient(int rc);

/* What proc_backoff_wait() ended with. */
typedef enum { PROC_WAIT_RETRY, PROC_WAIT_STOP, PROC_WAIT_GAVE_UP } proc_wait;

/* Before a loop runs (startup, or a process with no loop of its own):
 * records the failure `why`, then waits out one backoff step reading the
 * stop signals in `sigs` (blocked by the caller). RETRY: try again; STOP: a
 * SIGTERM/SIGINT arrived (logged; SIGHUP and SIGCHLD are ignored here);
 * GAVE_UP: the outage outlasted give_up_s (logged "giving up"). */
proc_wait proc_backoff_wait(proc_backoff *b, const sigset_t *sigs, int64_t give_up_s,
                            const char *why);

/* "host:pid" into buf. */
void proc_default_name(char *buf, size_t n);

/* Runs the scheduler until stopped (or one tick with --once). Takes
 * ownership of cfg. Returns a PROC_* code; on a setup failure fills err. */
int proc_scheduler_run(const proc_scheduler_opts *o, config *cfg, st_error *err);

/* The job-process side of the embedded scheduler: runs one queued job
 * through run_job(). Takes ownership of cfg. Returns the job's exit
 * code (0, 1, 75); on a setup failure fills err and returns PROC_FAILED. */
int proc_exec_job(config *cfg, const queue_job *job, st_error *err);

/* `scheduler --exec-job`: loads the configuration handed over in h
 * (config_load_snapshot: nothing is read from the config directory) and
 * runs the job with it (proc_exec_job). A snapshot that does not load is
 * recorded as the run failed, with the problem as its cause, in the state
 * at h->state_url (its enqueue lock released), so the run never stays
 * pending unexplained. Returns the job's exit code. */
int proc_exec_handoff(run_handoff *h, st_error *err);

/* Runs the worker (one consumer, or `concurrency` consumer processes)
 * until stopped. Takes ownership of cfg, which must have Redis state.
 * Returns a PROC_* code; on a setup failure fills err. */
int proc_worker_run(const proc_worker_opts *o, config *cfg, st_error *err);

#endif
