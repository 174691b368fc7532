/*
 * proc_worker — the distributed consumer of the Redis job stream.
 *
 * A worker is one consumer (`--name`, default host:pid) in the consumer
 * group `synctool-workers` of the stream `synctool:jobs` (src/queue/
 * queue_redis.c). Its loop: once a second try to claim a job that another
 * consumer took and left unacknowledged for longer than --claim-idle (that
 * consumer is presumed dead: XAUTOCLAIM), otherwise block up to a second on
 * XREADGROUP for a new job. While a job runs, a heartbeat thread (its own
 * connection) touches it every claim-idle/3, so a long job of a live worker
 * is never taken for a dead one's. A job runs through sched_run_job() — the
 * same path as the embedded scheduler's children: job manager, locks, state
 * — and is acknowledged once its result is recorded. If the state cannot be
 * written the job is not acknowledged, so another worker retries it later:
 * a job is never lost, and the pipeline lock keeps a redelivered job from
 * running twice at once (a redelivery of a finished run is dropped).
 *
 * --concurrency K > 1 forks K consumer processes named NAME-1..NAME-K; each
 * dies with its parent (PR_SET_PDEATHSIG), so killing the worker kills all
 * of it, and its unacknowledged jobs are claimed by the others. Signals are
 * blocked and polled between jobs: SIGTERM/SIGINT finish the running job and
 * exit 0; SIGHUP reloads the configs (an invalid new config keeps the old).
 * The plugged-in service (proc.h) is called once per loop iteration.
 */
#include "proc_int.h"

#include "../lock/lock.h"
#include "../log/log.h"
#include "../sched/sched.h"
#include "../state/state.h"
#include "../time/st_time.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
    bool stopping;
    size_t in_hand;         /* jobs running now (0 or 1) */
    int64_t next_beat;      /* when the next heartbeat is due (mono ms) */
} worker_proc;

/* --- One consumer --- */

static void worker_reload(worker_proc *w) {
    config *ncfg = NULL;
    if (!proc_reload_config(w->o.config_dir, &ncfg)) return;
    config_free(w->cfg);
    w->cfg = ncfg;
    log_info(NULL, NULL, "config reloaded: %zu pipelines", ncfg->npipelines);
}

static void worker_poll_signals(worker_proc *w) {
    struct timespec zero = {0, 0};
    siginfo_t si;
    int sig;
    while ((sig = sigtimedwait(&w->sigs, &si, &zero)) > 0) {
        if (sig == SIGTERM || sig == SIGINT) {
            if (!w->stopping) log_info(NULL, NULL, "%s: worker %s stopping", strsignal(sig),
                                       w->consumer);
            w->stopping = true;
        } else if (sig == SIGHUP) {
            worker_reload(w);
        }
    }
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
    worker_beat beat;
    bool beating = worker_beat_start(&beat, w, job);
    if (!beating) log_warn(job->pipeline, job->strategy, "no heartbeat for run %" PRId64
                           ": a job longer than --claim-idle may be claimed by another "
                           "worker", job->run_id);
    if (job->at != 0) log_set_time_override(job->at);
    sched_job_env env = {.cfg = w->cfg, .st = w->st, .lm = w->lm, .worker = w->consumer};
    sched_job_outcome out;
    job_result res;
    st_error e;
    w->in_hand = 1;
    int rc = sched_run_job(&env, job, &out, &res, &e);
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

/* Claims a dead consumer's job or pops a new one (blocking up to 1 s).
 * Returns true with *job filled if there is work. */
static bool worker_next(worker_proc *w, int64_t *next_claim, queue_job *job) {
    st_error e;
    int64_t mono = st_time_mono_ms();
    if (mono >= *next_claim) {
        *next_claim = mono + 1000;
        int rc = queue_claim(w->q, w->consumer, w->o.claim_idle_s * 1000, job, &e);
        if (rc == ST_OK) {
            log_warn(job->pipeline, job->strategy, "claimed run %" PRId64 " from a dead "
                     "worker (delivery %" PRId64 ")", job->run_id, job->deliveries);
            return true;
        }
        if (rc != ST_ENOTFOUND) log_error(NULL, NULL, "claim failed: %s", e.msg);
    }
    int rc = queue_pop(w->q, w->consumer, 1000, job, &e);
    if (rc == ST_OK) return true;
    if (rc != ST_ENOTFOUND) {
        log_error(NULL, NULL, "reading the job stream failed: %s", e.msg);
        sleep(1);
    }
    return false;
}

static void worker_service(worker_proc *w) {
    proc_view v = {.name = w->consumer, .cfg = w->cfg, .stopping = w->stopping,
                   .running = w->in_hand, .mono_ms = st_time_mono_ms()};
    proc_service_call(&w->o.service, &v);
}

static int worker_open(worker_proc *w, st_error *err) {
    if (state_open(&w->st, w->cfg->state_url, err) != ST_OK) {
        st_error_wrap(err, "cannot open state");
        return PROC_FAILED;
    }
    if (lock_open(&w->lm, w->cfg->state_url, err) != ST_OK ||
        queue_open(&w->q, w->cfg->state_url, err) != ST_OK ||
        queue_open(&w->beat_q, w->cfg->state_url, err) != ST_OK)
        return PROC_FAILED;
    return PROC_OK;
}

static int worker_consume(worker_proc *w, st_error *err) {
    if (worker_open(w, err) != PROC_OK) return PROC_FAILED;
    log_info(NULL, NULL, "worker %s started (claims jobs idle for %" PRId64 "s)", w->consumer,
             w->o.claim_idle_s);
    int64_t next_claim = 0;
    while (!w->stopping) {
        queue_job job;
        if (worker_next(w, &next_claim, &job)) worker_handle(w, &job);
        worker_poll_signals(w);
        worker_service(w);
        proc_beat(w->st, "worker", w->consumer, st_time_mono_ms(), &w->next_beat);
    }
    log_info(NULL, NULL, "worker %s stopped", w->consumer);
    return PROC_OK;
}

static void worker_close(worker_proc *w) {
    queue_close(w->beat_q);
    queue_close(w->q);
    lock_close(w->lm);
    state_close(w->st);
    config_free(w->cfg);
}

/* --- Several consumers --- */

static int worker_fork_all(worker_proc *w) {
    size_t n = (size_t)w->o.concurrency;
    pid_t *kids = calloc(n, sizeof *kids);
    if (kids == NULL) return PROC_FAILED;
    pid_t parent = getpid();
    for (size_t i = 0; i < n; i++) {
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            free(kids);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1);
            snprintf(w->consumer, sizeof w->consumer, "%s-%zu", w->o.name, i + 1);
            st_error e;
            int rc = worker_consume(w, &e);
            if (rc != PROC_OK) fprintf(stderr, "synctool worker: %s\n", e.msg);
            worker_close(w);
            exit(rc);
        }
        kids[i] = pid;
    }
    size_t alive = n;
    while (alive > 0) {
        struct timespec ts = {1, 0};
        siginfo_t si;
        int sig = sigtimedwait(&w->sigs, &si, &ts);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            for (size_t i = 0; i < n; i++) if (kids[i] > 0) kill(kids[i], sig);
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            for (size_t i = 0; i < n; i++)
                if (kids[i] == pid) { kids[i] = 0; alive--; }
        worker_service(w);
    }
    free(kids);
    return PROC_OK;
}

int proc_worker_run(const proc_worker_opts *o, config *cfg, st_error *err) {
    worker_proc w;
    memset(&w, 0, sizeof w);
    w.o = *o;
    w.cfg = cfg;
    proc_block_signals(&w.sigs);
    snprintf(w.consumer, sizeof w.consumer, "%s", w.o.name);
    int rc = w.o.concurrency > 1 ? worker_fork_all(&w) : worker_consume(&w, err);
    worker_close(&w);
    return rc;
}
