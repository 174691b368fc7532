/*
 * proc_worker — the distributed consumer of the shared job queue (the
 * Redis job stream, or the PostgreSQL queue table: src/queue/queue_pg.c,
 * same contract, claimed with FOR UPDATE SKIP LOCKED, woken by NOTIFY).
 *
 * A worker is one consumer (`--name`, default host:pid) in the consumer
 * group `synctool-workers` of the stream `synctool:jobs` (src/queue/
 * queue_redis.c). Its loop: once a second try to claim a job that another
 * consumer took and left unacknowledged for longer than --claim-idle (that
 * consumer is presumed dead: XAUTOCLAIM), otherwise block up to a second on
 * XREADGROUP for a new job. While a job runs, a heartbeat thread (its own
 * connection) touches it every claim-idle/3, so a long job of a live worker
 * is never taken for a dead one's. A job runs through run_job() — the one
 * run lifecycle (src/run/), as in the embedded scheduler's children — and is acknowledged once its result is recorded. If the state cannot be
 * written the job is not acknowledged, so another worker retries it later:
 * a job is never lost, and the pipeline lock keeps a redelivered job from
 * running twice at once (a redelivery of a finished run is dropped).
 *
 * Stopping: signals are blocked. Between jobs the loop polls them; while a
 * job runs, a watcher thread waits for them (poll on a signalfd and an
 * eventfd: the job's end wakes the watcher at once, so the next job does
 * not wait out a poll interval — issue 25 measured 185 ms a job lost to
 * a 200 ms sigtimedwait before the join). SIGTERM/SIGINT:
 * take no new job, let the job in hand finish for --grace seconds, then
 * raise its interrupt flag (it stops at its next batch boundary and records
 * `interrupted`: retried inside its slot, retry_count unchanged); a second
 * SIGTERM/SIGINT interrupts at once. A job still running another --grace
 * (at least 10 s) after that is abandoned: the process exits 1 and the attempt is found
 * `lost` when its lease expires. Exit 0 after a clean stop. SIGHUP reloads
 * the configs (an invalid new config keeps the old), after the job in hand.
 * A job for a pipeline the worker does not know reloads first (the valid
 * pipelines, as the scheduler takes them, when another file is invalid);
 * still unknown, it is recorded failed naming the reload's problem.
 *
 * Redis outages: the queue, state and lock connections reconnect on their
 * own after an error (each backend drops a broken connection and connects
 * afresh on the next call). This loop paces it: while the stream cannot be
 * read it waits a backoff step (0.5 s doubling to 30 s, with jitter),
 * warning once per step, runs nothing, and resumes by itself; after
 * --give-up-after seconds of outage it exits 69 (EX_UNAVAILABLE).
 *
 * --concurrency K > 1 forks K consumer processes named NAME-1..NAME-K. Each
 * dies with its parent (PR_SET_PDEATHSIG), so SIGKILL to the parent kills
 * all of it and the jobs they held are claimed by other workers. The parent
 * forwards SIGTERM/SIGINT/SIGHUP, respawns a consumer that died with a
 * backoff (1 s doubling to 30 s, reset once it has lived a minute) and logs
 * how it died; a consumer that cannot be forked (the process limit) is
 * logged and retried the same way. After PROC_RESPAWN_MAX deaths or failed
 * forks in a row of consumers that lived under 10 s it gives up (cannot
 * keep K alive), stops the others and exits 1. The plugged-in service
 * (proc.h) is called once per iteration.
 *
 * Startup: the backends are connected with the outage backoff too, so a
 * worker started before Redis (systemd, containers) waits for it (each
 * consumer on its own), and exits 69 after --give-up-after.
 */
#include "proc_int.h"

#include "../lock/lock.h"
#include "../log/log.h"
#include "../run/run.h"
#include "../state/state.h"
#include "../time/st_time.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The heartbeat of the job in hand: a thread with its own queue connection
 * touches the job every claim_idle/3 so a long job is never mistaken for
 * a dead worker's and claimed by another. */
typedef struct worker_beat {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    queue *q;
    const char *consumer;
    char id[64];
    int64_t every_ms;
} worker_beat;

typedef struct worker_proc {
    proc_worker_opts o;
    char consumer[160];
    config *cfg;
    state *st;
    lock_manager *lm;
    queue *q;
    queue *beat_q;          /* the heartbeat thread's own connection */
    sigset_t sigs;
    int sig_fd;             /* signalfd of sigs, read by the watcher; -1 none */
    int wake_fd;            /* eventfd: the job in hand ended, the watcher returns */
    atomic_int stopping;     /* set by the loop or the watcher */
    atomic_int reload;       /* SIGHUP seen during a job */
    atomic_int interrupt;    /* the job in hand's interrupt flag */
    int status;
    size_t in_hand;         /* jobs running now (0 or 1) */
    proc_backoff bo;        /* Redis outages */
    int64_t next_beat;      /* when the next heartbeat is due (mono ms) */
    char config_problem[1024];  /* first problem of the last failed reload; "" none */
} worker_proc;

/* The watcher of the job in hand: reads signals while the main thread runs
 * the job, and raises its interrupt flag once the grace period is over. */
typedef struct worker_watch {
    pthread_t th;
    worker_proc *w;
    const queue_job *job;
    atomic_int done;
    int64_t stop_at;        /* monotonic ms of the first stop signal; 0 none */
} worker_watch;

#define PROC_RESPAWN_MAX 5

/* --- One consumer --- */

static void worker_install(worker_proc *w, config *ncfg) {
    config_free(w->cfg);
    w->cfg = ncfg;
    w->config_problem[0] = '\0';
    log_info(NULL, NULL, "config reloaded: %zu pipelines", ncfg->npipelines);
}

static void worker_reload(worker_proc *w) {
    config *ncfg = NULL;
    if (proc_reload_config(w->o.config_dir, &ncfg, w->config_problem,
                           sizeof w->config_problem))
        worker_install(w, ncfg);
}

/* A job names a pipeline this worker does not know (added since it loaded
 * its config): reload. When the files have a problem elsewhere (another
 * pipeline's file), the valid pipelines are taken as the scheduler takes
 * them (config_load_valid) if the job's pipeline is among them, so a new
 * pipeline runs on the workers as soon as the scheduler enqueues it;
 * otherwise the job is recorded failed naming the reload's problem
 * (run_spec.config_problem). */
static void worker_reload_for(worker_proc *w, const queue_job *job) {
    log_info(job->pipeline, job->strategy, "pipeline not in this worker's config: "
             "reloading it before running run %" PRId64, job->run_id);
    worker_reload(w);
    if (config_pipeline_find(w->cfg, job->pipeline) != NULL || w->config_problem[0] == '\0')
        return;
    config *ncfg = NULL;
    config_problems probs = {0};
    st_error e;
    if (config_load_valid(&ncfg, w->o.config_dir, &probs, &e) == ST_OK &&
        config_pipeline_find(ncfg, job->pipeline) != NULL) {
        for (size_t i = 0; i < probs.n; i++)
            log_warn(NULL, NULL, "reload: left out: %s", probs.items[i]);
        worker_install(w, ncfg);
        ncfg = NULL;
    }
    config_free(ncfg);
    config_problems_clear(&probs);
}

static void worker_poll_signals(worker_proc *w) {
    struct timespec zero = {0, 0};
    siginfo_t si;
    int sig;
    while ((sig = sigtimedwait(&w->sigs, &si, &zero)) > 0) {
        if (sig == SIGTERM || sig == SIGINT) {
            if (!w->stopping) log_info(NULL, NULL, "%s: worker %s stopping", strsignal(sig),
                                       w->consumer);
            w->stopping = 1;
        } else if (sig == SIGHUP) {
            worker_reload(w);
        }
    }
    if (w->reload) {
        w->reload = 0;
        worker_reload(w);
    }
}

static void worker_watch_signal(worker_watch *x, int sig) {
    worker_proc *w = x->w;
    if (sig == SIGHUP) {
        w->reload = 1;
    } else if (sig == SIGTERM || sig == SIGINT) {
        if (x->stop_at == 0) {
            x->stop_at = st_time_mono_ms();
            w->stopping = 1;
            log_info(NULL, NULL, "%s: worker %s stopping; run %" PRId64 " gets up to %" PRId64
                     "s to finish", strsignal(sig), w->consumer, x->job->run_id, w->o.grace_s);
        } else if (w->interrupt == 0) {
            log_warn(x->job->pipeline, x->job->strategy, "second %s: interrupting run %" PRId64
                     " now", strsignal(sig), x->job->run_id);
            w->interrupt = sig;
            x->stop_at = st_time_mono_ms() - w->o.grace_s * 1000;
        }
    }
}

/* Waits up to 200 ms for a signal or the job's end (the wake eventfd);
 * hands each signal read to worker_watch_signal. */
static void worker_watch_wait(worker_watch *x) {
    worker_proc *w = x->w;
    struct pollfd fds[2] = {{.fd = w->sig_fd, .events = POLLIN},
                            {.fd = w->wake_fd, .events = POLLIN}};
    if (poll(fds, 2, 200) <= 0) return;
    struct signalfd_siginfo si;
    while ((fds[0].revents & POLLIN) && read(w->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        worker_watch_signal(x, (int)si.ssi_signo);
    eventfd_t v;
    if (fds[1].revents & POLLIN) eventfd_read(w->wake_fd, &v);
}

static void *worker_watch_main(void *arg) {
    worker_watch *x = arg;
    worker_proc *w = x->w;
    while (!x->done) {
        worker_watch_wait(x);
        if (x->done || x->stop_at == 0) continue;
        int64_t over = st_time_mono_ms() - x->stop_at - w->o.grace_s * 1000;
        if (over >= 0 && w->interrupt == 0) {
            log_warn(x->job->pipeline, x->job->strategy, "grace period over: interrupting run %"
                     PRId64 " (it stops at its next batch boundary)", x->job->run_id);
            w->interrupt = SIGTERM;
        } else if (over >= (w->o.grace_s > 10 ? w->o.grace_s : 10) * 1000 && !x->done) {
            log_error(x->job->pipeline, x->job->strategy, "run %" PRId64 " ignored the "
                      "interrupt for %" PRId64 "s: abandoning it (its locks lapse with their "
                      "lease; it is recorded lost)", x->job->run_id,
                      w->o.grace_s > 10 ? w->o.grace_s : 10);
            _exit(PROC_FAILED);
        }
    }
    return NULL;
}

static void *worker_beat_main(void *arg) {
    worker_beat *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += b->every_ms / 1000;
        ts.tv_nsec += (b->every_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &ts) != ETIMEDOUT) {}
        if (b->stop) break;
        pthread_mutex_unlock(&b->mu);
        st_error e;
        if (queue_touch(b->q, b->consumer, b->id, &e) != ST_OK)
            log_warn(NULL, NULL, "heartbeat of job %s: %s", b->id, e.msg);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Starts the heartbeat for `job`; returns false (no heartbeat) on failure. */
static bool worker_beat_start(worker_beat *b, worker_proc *w, const queue_job *job) {
    memset(b, 0, sizeof *b);
    if (w->beat_q == NULL) return false;
    b->q = w->beat_q;
    b->consumer = w->consumer;
    snprintf(b->id, sizeof b->id, "%s", job->id);
    b->every_ms = w->o.claim_idle_s * 1000 / 3 > 500 ? w->o.claim_idle_s * 1000 / 3 : 500;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&b->mu, NULL);
    if (pthread_create(&b->th, NULL, worker_beat_main, b) == 0) return true;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    return false;
}

static void worker_beat_stop(worker_beat *b) {
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

static void worker_handle(worker_proc *w, const queue_job *job) {
    /* a SIGHUP sent with the job (a pipeline just added) is read first */
    worker_poll_signals(w);
    if (config_pipeline_find(w->cfg, job->pipeline) == NULL) worker_reload_for(w, job);
    worker_beat beat;
    bool beating = worker_beat_start(&beat, w, job);
    if (!beating) log_warn(job->pipeline, job->strategy, "no heartbeat for run %" PRId64
                           ": a job longer than --claim-idle may be claimed by another "
                           "worker", job->run_id);
    if (job->at != 0) log_set_time_override(job->at);
    run_spec spec = {.cfg = w->cfg, .st = w->st, .lm = w->lm, .pipeline = job->pipeline,
                     .strategy = job->strategy, .job = job, .worker = w->consumer,
                     .interrupt = &w->interrupt, .config_problem = w->config_problem};
    run_result out;
    st_error e;
    w->in_hand = 1;
    w->interrupt = 0;
    worker_watch watch = {.w = w, .job = job};
    bool watching = w->sig_fd >= 0 && w->wake_fd >= 0 &&
                    pthread_create(&watch.th, NULL, worker_watch_main, &watch) == 0;
    int rc = run_job(&spec, &out, &e);
    watch.done = 1;
    if (watching) {
        eventfd_write(w->wake_fd, 1);   /* the watcher returns now, not after its poll */
        pthread_join(watch.th, NULL);
    }
    w->in_hand = 0;
    if (beating) worker_beat_stop(&beat);   /* before the ack: no touch after it */
    if (rc == ST_OK) {
        if (queue_ack(w->q, job->id, &e) != ST_OK)
            log_error(job->pipeline, job->strategy, "cannot acknowledge run %" PRId64 ": %s",
                      job->run_id, e.msg);
    } else {
        log_error(job->pipeline, job->strategy, "run %" PRId64 " not recorded, left for "
                  "retry: %s", job->run_id, e.msg);
    }
    log_set_time_override(0);
}

/* Redis unreachable (or answering errors): wait one backoff step, polling
 * signals, and give up (exit 69) once --give-up-after has passed. */
static void worker_outage(worker_proc *w, const char *why) {
    int64_t until = st_time_mono_ms() + proc_backoff_fail(&w->bo, why, st_time_mono_ms());
    while (!w->stopping && st_time_mono_ms() < until &&
           !proc_backoff_expired(&w->bo, w->o.give_up_s, st_time_mono_ms())) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        worker_poll_signals(w);
    }
    if (proc_backoff_expired(&w->bo, w->o.give_up_s, st_time_mono_ms()) && !w->stopping) {
        log_error(NULL, NULL, "%s unreachable for more than %" PRId64 "s: giving up "
                  "(--give-up-after)", w->bo.what, w->o.give_up_s);
        w->stopping = 1;
        w->status = PROC_UNAVAILABLE;
    }
}

/* Claims a dead consumer's job or pops a new one (blocking up to 1 s).
 * Returns true with *job filled if there is work. */
static bool worker_next(worker_proc *w, int64_t *next_claim, queue_job *job) {
    st_error e;
    int64_t mono = st_time_mono_ms();
    if (mono >= *next_claim) {
        *next_claim = mono + 1000;
        int rc = queue_claim(w->q, w->consumer, w->o.claim_idle_s * 1000, job, &e);
        if (rc == ST_OK) {
            proc_backoff_ok(&w->bo, st_time_mono_ms());
            log_warn(job->pipeline, job->strategy, "claimed run %" PRId64 " from a dead "
                     "worker (delivery %" PRId64 ")", job->run_id, job->deliveries);
            return true;
        }
        if (rc != ST_ENOTFOUND) {
            worker_outage(w, e.msg);
            return false;
        }
    }
    int rc = queue_pop(w->q, w->consumer, 1000, job, &e);
    if (rc == ST_OK || rc == ST_ENOTFOUND) proc_backoff_ok(&w->bo, st_time_mono_ms());
    if (rc == ST_OK) return true;
    if (rc != ST_ENOTFOUND) worker_outage(w, e.msg);
    return false;
}

static void worker_service(worker_proc *w) {
    proc_view v = {.name = w->consumer, .cfg = w->cfg, .stopping = w->stopping,
                   .running = w->in_hand, .mono_ms = st_time_mono_ms()};
    proc_service_call(&w->o.service, &v);
}

static void worker_close_conns(worker_proc *w) {
    queue_close(w->beat_q);
    queue_close(w->q);
    lock_close(w->lm);
    state_close(w->st);
    w->beat_q = w->q = NULL;
    w->lm = NULL;
    w->st = NULL;
}

static int worker_try_open(worker_proc *w, st_error *err) {
    int rc = state_open(&w->st, &w->cfg->state_url, err);
    if (rc != ST_OK) return st_error_wrap(err, "cannot open state");
    if ((rc = lock_open(&w->lm, &w->cfg->state_url, err)) != ST_OK ||
        (rc = queue_open(&w->q, &w->cfg->state_url, err)) != ST_OK ||
        (rc = queue_open(&w->beat_q, &w->cfg->state_url, err)) != ST_OK)
        return rc;
    return ST_OK;
}

/* Connects the state, lock and queue backends. A worker started before
 * Redis (systemd, containers) waits for it with the backoff of an outage;
 * a config problem (bad URL, wrong password) fails at once. */
static int worker_open(worker_proc *w, st_error *err) {
    for (;;) {
        int rc = worker_try_open(w, err);
        if (rc == ST_OK) {
            proc_backoff_ok(&w->bo, st_time_mono_ms());
            return PROC_OK;
        }
        worker_close_conns(w);
        if (!proc_backoff_transient(rc)) return PROC_FAILED;
        proc_wait r = proc_backoff_wait(&w->bo, &w->sigs, w->o.give_up_s, err->msg);
        if (r == PROC_WAIT_RETRY) continue;
        err->msg[0] = '\0';    /* logged by proc_backoff_wait */
        w->stopping = 1;
        w->status = r == PROC_WAIT_GAVE_UP ? PROC_UNAVAILABLE : PROC_OK;
        return w->status;
    }
}

/* The watcher's descriptors, one pair per consumer process. */
static int worker_watch_fds(worker_proc *w, st_error *err) {
    w->sig_fd = signalfd(-1, &w->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->sig_fd >= 0 && w->wake_fd >= 0) return PROC_OK;
    st_error_set(err, ST_ERR, "worker: cannot create its signal and wake descriptors: %s",
                 strerror(errno));
    return PROC_FAILED;
}

static int worker_consume(worker_proc *w, st_error *err) {
    int rc = worker_watch_fds(w, err);
    if (rc != PROC_OK) return rc;
    rc = worker_open(w, err);
    if (rc != PROC_OK || w->stopping) return rc;
    log_info(NULL, NULL, "worker %s started (claims jobs idle for %" PRId64 "s)", w->consumer,
             w->o.claim_idle_s);
    int64_t next_claim = 0;
    while (!w->stopping) {
        queue_job job;
        /* beat first: a worker is live from its start, not after its first job */
        proc_beat(w->st, "worker", w->consumer, st_time_mono_ms(), &w->next_beat);
        if (worker_next(w, &next_claim, &job)) worker_handle(w, &job);
        worker_poll_signals(w);
        worker_service(w);
    }
    log_info(NULL, NULL, "worker %s stopped", w->consumer);
    return w->status;
}

static void worker_close(worker_proc *w) {
    worker_close_conns(w);
    if (w->sig_fd >= 0) close(w->sig_fd);
    if (w->wake_fd >= 0) close(w->wake_fd);
    w->sig_fd = w->wake_fd = -1;
    config_free(w->cfg);
}

/* --- Several consumers --- */

typedef struct worker_kid {
    pid_t pid;
    int64_t started;        /* monotonic ms */
    int64_t respawn_at;     /* monotonic ms; 0 = alive or not due */
    int64_t backoff_ms;
    int fast_deaths;        /* deaths in a row after living < 10 s */
} worker_kid;

static pid_t worker_spawn(worker_proc *w, size_t i) {
    pid_t parent = getpid();
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        snprintf(w->consumer, sizeof w->consumer, "%s-%zu", w->o.name, i + 1);
        st_error e;
        int rc = worker_consume(w, &e);
        if (rc != PROC_OK && e.msg[0]) fprintf(stderr, "synctool worker: %s\n", e.msg);
        worker_close(w);
        exit(rc);
    }
    return pid;
}

static void worker_describe_exit(int status, char *buf, size_t n) {
    if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by %s", strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
}

/* A consumer died (or could not be forked: how says why) while we were
 * not stopping: schedule its respawn. Returns false once that happened
 * PROC_RESPAWN_MAX times in a row quickly. */
static bool worker_schedule_respawn(worker_proc *w, worker_kid *k, size_t i, const char *how,
                                    int64_t mono) {
    int64_t lived = mono - k->started;
    k->fast_deaths = lived < 10000 ? k->fast_deaths + 1 : 0;
    if (lived >= 60000 || k->backoff_ms == 0) k->backoff_ms = 1000;
    else k->backoff_ms = k->backoff_ms * 2 > 30000 ? 30000 : k->backoff_ms * 2;
    if (k->fast_deaths >= PROC_RESPAWN_MAX) {
        log_error(NULL, NULL, "consumer %s-%zu (process %ld) %s, %d times in a row within "
                  "10 s of starting: cannot keep %" PRId64 " consumers alive; stopping",
                  w->o.name, i + 1, (long)k->pid, how, k->fast_deaths, w->o.concurrency);
        k->pid = 0;
        return false;
    }
    log_warn(NULL, NULL, "consumer %s-%zu (process %ld) %s; respawning in %" PRId64 " s",
             w->o.name, i + 1, (long)k->pid, how, k->backoff_ms / 1000);
    k->pid = 0;
    k->respawn_at = mono + k->backoff_ms;
    return true;
}

static bool worker_on_death(worker_proc *w, worker_kid *k, size_t i, int status,
                            int64_t mono) {
    char how[96];
    worker_describe_exit(status, how, sizeof how);
    return worker_schedule_respawn(w, k, i, how, mono);
}

/* Forks consumer i. A failed fork (the process limit, memory) is logged and
 * retried like a consumer that died at once; returns false when that gave
 * up (cannot keep K consumers alive). */
static bool worker_start_kid(worker_proc *w, worker_kid *k, size_t i, int64_t mono) {
    k->started = mono;
    k->respawn_at = 0;
    k->pid = worker_spawn(w, i);
    if (k->pid > 0) return true;
    char how[160];
    snprintf(how, sizeof how, "could not be started (fork: %s)", strerror(errno));
    k->pid = 0;
    return worker_schedule_respawn(w, k, i, how, mono);
}

static void worker_signal_kids(worker_kid *kids, size_t n, int sig) {
    for (size_t i = 0; i < n; i++)
        if (kids[i].pid > 0) kill(kids[i].pid, sig);
}

/* The parent of --concurrency K: forwards signals, respawns, gives up. */
static int worker_fork_all(worker_proc *w) {
    size_t n = (size_t)w->o.concurrency;
    worker_kid *kids = calloc(n, sizeof *kids);
    if (kids == NULL) return PROC_FAILED;
    int64_t mono = st_time_mono_ms();
    int rc = PROC_OK;
    bool stopping = false;
    int64_t kill_at = 0;
    for (size_t i = 0; i < n && !stopping; i++) {
        if (worker_start_kid(w, &kids[i], i, mono)) continue;
        rc = PROC_FAILED;
        stopping = true;
        kill_at = mono + (2 * w->o.grace_s + 10) * 1000;
        worker_signal_kids(kids, n, SIGTERM);
    }
    for (;;) {
        struct timespec ts = {0, 200 * 1000000L};
        siginfo_t si;
        int sig = sigtimedwait(&w->sigs, &si, &ts);
        mono = st_time_mono_ms();
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            worker_signal_kids(kids, n, sig);
            if (sig != SIGHUP && !stopping) {
                stopping = true;
                kill_at = mono + (2 * w->o.grace_s + 10) * 1000;
                log_info(NULL, NULL, "%s: stopping %zu consumers", strsignal(sig), n);
            }
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (size_t i = 0; i < n; i++) {
                if (kids[i].pid != pid) continue;
                bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_UNAVAILABLE) {
                    /* it gave up on Redis (--give-up-after): so do we */
                    kids[i].pid = 0;
                    rc = PROC_UNAVAILABLE;
                    if (!stopping) {
                        stopping = true;
                        kill_at = mono + (2 * w->o.grace_s + 10) * 1000;
                        worker_signal_kids(kids, n, SIGTERM);
                    }
                } else if (stopping) {
                    kids[i].pid = 0;
                    if (!clean && rc == PROC_OK) rc = PROC_FAILED;
                } else if (!worker_on_death(w, &kids[i], i, status, mono)) {
                    kids[i].pid = 0;
                    rc = PROC_FAILED;
                    stopping = true;
                    kill_at = mono + (2 * w->o.grace_s + 10) * 1000;
                    worker_signal_kids(kids, n, SIGTERM);
                }
            }
        }
        size_t alive = 0;
        for (size_t i = 0; i < n; i++) {
            if (!stopping && kids[i].pid == 0 && kids[i].respawn_at != 0 &&
                mono >= kids[i].respawn_at) {
                if (worker_start_kid(w, &kids[i], i, mono)) {
                    log_info(NULL, NULL, "consumer %s-%zu respawned (process %ld)", w->o.name,
                             i + 1, (long)kids[i].pid);
                } else {
                    rc = PROC_FAILED;
                    stopping = true;
                    kill_at = mono + (2 * w->o.grace_s + 10) * 1000;
                    worker_signal_kids(kids, n, SIGTERM);
                }
            }
            if (kids[i].pid > 0) alive++;
        }
        if (stopping && alive == 0) break;
        if (stopping && mono >= kill_at) {
            worker_signal_kids(kids, n, SIGKILL);
            rc = PROC_FAILED;
            kill_at = INT64_MAX;
        }
        worker_service(w);
    }
    free(kids);
    return rc;
}

int proc_worker_run(const proc_worker_opts *o, config *cfg, st_error *err) {
    worker_proc w;
    memset(&w, 0, sizeof w);
    w.o = *o;
    w.cfg = cfg;
    w.sig_fd = w.wake_fd = -1;
    w.bo.what = cfg->state_url.kind == BURL_POSTGRES ? "postgresql" : "redis";
    proc_block_signals(&w.sigs);
    snprintf(w.consumer, sizeof w.consumer, "%s", w.o.name);
    int rc = w.o.concurrency > 1 ? worker_fork_all(&w) : worker_consume(&w, err);
    worker_close(&w);
    return rc;
}
