/*
 * proc_scheduler — the scheduler process: leader lease, ticks, job
 * processes, signals (DESIGN §3-§5).
 *
 * One loop, woken every 200 ms, by a signal, or by the plugged-in service's
 * descriptor (proc.h). Signals are blocked and read through a signalfd, so
 * there is no handler and no global flag: SIGHUP reloads the configs (an
 * invalid new config is logged file:line:col and the old one stays),
 * SIGCHLD only wakes the loop to reap, SIGTERM / SIGINT stop:
 *
 *   1. no new tick, no new job; queued jobs not started are dropped (their
 *      enqueue locks released, their state stays pending);
 *   2. running jobs get --grace seconds to finish;
 *   3. then each gets SIGTERM: it stops at its next batch boundary and
 *      records `interrupted` (retried inside its slot, retry_count
 *      unchanged — a restart never costs a slot);
 *   4. only a job that ignores that for another --grace (at least
 *      SCHED_KILL_WAIT_MS) gets SIGKILL (its attempt is then found `lost`
 *      once its lease expires).
 *
 * Exit 0 when every job stopped by itself or by SIGTERM. Job processes run
 * in their own process group, so a terminal's Ctrl-C (SIGINT to the
 * foreground group) reaches the scheduler only, which then stops as above.
 *
 * Outages: the lock, state and queue backends reconnect by themselves after
 * an error. While the lease cannot be renewed or taken for any reason other
 * than "another scheduler holds it", this loop stops leading (no tick: it
 * runs nothing), retries with a capped exponential backoff with jitter
 * (proc_backoff: one warning per step) and resumes by itself; after
 * --give-up-after seconds of outage it stops as on SIGTERM and exits 69.
 * A scheduler started while its store is down waits for it the same way
 * (sched_connect). A tick that fails is logged and retried at the next
 * one: only --once turns it into exit 1, so a scheduler that lived through
 * an outage exits 0 on a clean stop.
 *
 * Job processes get the configuration this loop validated on their stdin
 * with the job (run_spawn_job, the one spawn helper: the bytes of datastores.yaml and of the
 * job's pipeline file as this loop loaded them), never the files on disk:
 * an edit without SIGHUP, valid or not, changes nothing until the reload.
 * Job processes that cannot be started (fork fails at the process limit,
 * exec fails on a deleted binary: a close-on-exec pipe tells) are logged
 * and recorded as a failed attempt, their enqueue lock released. One that
 * exits or dies before its run left `pending` (a hand-off it could not
 * read, a signal) is recorded failed with how it ended when it is reaped
 * (run_record_unstarted): no run stays pending unexplained. One that
 * dies while running is found `lost` once its lease expires.
 *
 * Leadership: every scheduler tries to take the lock `synctool:scheduler:
 * leader` (lock module, same backend as the state: SQLite on one host, Redis
 * or PostgreSQL across hosts) and renews it every lease/3. Only the leader ticks; the
 * others log `standby: leader is NAME` once and try again every second, so
 * they take over within one lease of the leader dying. The leader writes
 * its name to the state's meta store for the standby message.
 *
 * Each tick is sched_tick() (src/sched/scheduler.c) at `now` = --at or the
 * wall clock. In embedded mode (sqlite: state) the queue is the in-process
 * one and this loop is its consumer: it re-executes this binary as
 * `scheduler --exec-job ...` per job, at most --max-jobs at once, so a crash
 * in a job takes down only that child (proc_exec_job() is the child side).
 * In distributed mode (redis: or postgresql: state) the tick pushes to the
 * shared job queue (a Redis Stream, a PostgreSQL table)
 * and `synctool worker` processes run the jobs. --once runs a single tick
 * and, embedded, waits for its jobs.
 *
 * One iteration of the loop, in order: reap children, check whether we are
 * done, renew or take the lease, tick if due, start queued jobs, call the
 * plugged-in service, wait for a signal / the service fd / 200 ms.
 *
 * URL-kind branch left here (issue 22): `burl_distributed(state_url)`
 * asks the deployment's mode (embedded: run jobs here; distributed —
 * Redis or PostgreSQL — hand them to workers), a decision of this loop,
 * not an engine difference; the kind names the store in outage messages.
 */
#include "proc_int.h"

#include "../lock/lock.h"
#include "../log/log.h"
#include "../notify/notify.h"
#include "../sched/sched.h"
#include "../state/state.h"
#include "../time/st_time.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCHED_LEADER_KEY "synctool:scheduler:leader"
#define SCHED_META_PIPELINE "synctool:scheduler"
#define SCHED_KILL_WAIT_MS 10000

typedef struct sched_kid {
    pid_t pid;
    queue_job job;
} sched_kid;

typedef struct sched_proc {
    proc_scheduler_opts o;
    config *cfg;
    sched_plan *plan;
    state *st;
    lock_manager *lm;
    queue *q;
    bool embedded;
    sched_kid *kids;
    size_t nkids;
    lock_handle leader;
    bool leading, standby_logged, ticked, stopping;
    int stop_phase;         /* 0 grace, 1 SIGTERM sent, 2 SIGKILL sent */
    int64_t ticks, next_beat;   /* ticks done; when the next heartbeat is due (mono ms) */
    double last_tick_s;
    int lease_rc;           /* last failed leader-lease attempt (ST_EBUSY: standby) */
    int64_t next_tick, next_lease, stop_deadline;   /* monotonic ms */
    sigset_t sigs;
    int sigfd;
    int status;
    proc_backoff bo;        /* lock store (Redis) outages */
    size_t jobs_ok, jobs_failed, jobs_skipped;  /* job processes reaped, by exit code */
    notifier *nt;           /* alerts (src/notify); inactive without webhooks */
    int64_t next_prune;     /* monotonic ms of the next history pruning */
} sched_proc;

/* --- The child side: one job --- */

int proc_exec_handoff(run_handoff *h, st_error *err) {
    config *cfg = NULL;
    config_problems probs = {0};
    st_error e = {0};
    if (config_load_snapshot(&cfg, h->dir, h->files, h->nfiles, &probs, &e) == ST_OK)
        return proc_exec_job(cfg, &h->job, err);
    char cause[1200];
    snprintf(cause, sizeof cause, "the job process could not load the configuration its "
             "scheduler handed over: %s", probs.n ? probs.items[0] : e.msg);
    config_problems_clear(&probs);
    const queue_job *j = &h->job;
    if (j->at != 0) log_set_time_override(j->at);
    state *st = NULL;
    lock_manager *lm = NULL;
    char name[128];
    proc_default_name(name, sizeof name);
    bool has_url = h->state_url.kind != BURL_NONE;
    int rc = has_url ? state_open(&st, &h->state_url, err) : ST_EINVAL;
    if (rc == ST_OK && lock_open(&lm, &h->state_url, &e) != ST_OK) lm = NULL;
    if (rc == ST_OK)
        rc = run_record_unstarted(st, lm, j, STATE_FAILED, false,
                                    j->at != 0 ? j->at : st_time_now(), name, cause, err);
    if (rc != ST_OK) {
        log_error(j->pipeline, j->strategy, "run %" PRId64 ": %s", j->run_id, cause);
        log_error(j->pipeline, j->strategy, "cannot record run %" PRId64 " failed: %s",
                  j->run_id, has_url ? err->msg : "no state url");
    }
    err->msg[0] = '\0';   /* logged */
    lock_close(lm);
    state_close(st);
    return PROC_FAILED;
}

int proc_exec_job(config *cfg, const queue_job *job, st_error *err) {
    state *st = NULL;
    lock_manager *lm = NULL;
    int rc = PROC_OK;
    char name[128];
    proc_default_name(name, sizeof name);
    if (job->at != 0) log_set_time_override(job->at);
    if (state_open(&st, &cfg->state_url, err) != ST_OK) {
        st_error_wrap(err, "cannot open state");
        rc = PROC_FAILED;
    } else if (lock_open(&lm, &cfg->state_url, err) != ST_OK) {
        st_error_wrap(err, "cannot open locks");
        rc = PROC_FAILED;
    }
    if (rc == PROC_OK) {
        atomic_int *intr = proc_interrupt_install();
        run_spec spec = {.cfg = cfg, .st = st, .lm = lm, .pipeline = job->pipeline,
                         .strategy = job->strategy, .job = job, .worker = name,
                         .interrupt = intr};
        run_result out;
        st_error e;
        int r = run_job(&spec, &out, &e);
        if (r == ST_EUNAVAIL && out.outcome == RUN_RAN) {
            log_error(job->pipeline, job->strategy, "run %" PRId64 " %s: %s: %s", job->run_id,
                      job_status_name(out.res.status), out.res.status == JOB_SUCCESS
                      ? RUN_NOT_RECORDED : "outcome not recorded", e.msg);
            rc = PROC_UNAVAILABLE;
        } else if (r != ST_OK) {
            log_error(job->pipeline, job->strategy, "cannot record run %" PRId64 ": %s",
                      job->run_id, e.msg);
            rc = PROC_FAILED;
        } else {
            rc = out.outcome == RUN_DROPPED ? PROC_OK : run_exit_code(&out.res, (int)*intr);
        }
    }
    lock_close(lm);
    state_close(st);
    config_free(cfg);
    return rc;
}

/* --- Children (embedded mode) --- */

static const char *sched_level_name(void) {
    switch (log_get_level()) {
    case LOG_DEBUG: return "debug";
    case LOG_WARN: return "warn";
    case LOG_ERROR: return "error";
    default: return "info";
    }
}

/* A job process that could not be started: the attempt is recorded failed
 * (it counts toward the retries like any failure, and alerts), its enqueue
 * lock released, the queue entry dropped. */
static void sched_spawn_failed(sched_proc *p, const queue_job *j, const st_error *why) {
    char msg[1200];
    snprintf(msg, sizeof msg, "cannot start the job process: %s", why->msg);
    int64_t now = j->at != 0 ? j->at : st_time_now();
    st_error err;
    if (run_record_unstarted(p->st, p->lm, j, STATE_FAILED, false, now, p->o.name, msg,
                               &err) != ST_OK)
        log_error(j->pipeline, j->strategy, "cannot record run %" PRId64 " failed: %s",
                  j->run_id, err.msg);
    queue_ack(p->q, j->id, NULL);
    p->jobs_failed++;
}

static void sched_dispatch(sched_proc *p) {
    while (p->embedded && !p->stopping && p->nkids < (size_t)p->o.max_jobs) {
        queue_job j;
        if (queue_pop(p->q, "scheduler", 0, &j, NULL) != ST_OK) return;
        run_spawn_opts so = {.config_dir = p->o.config_dir, .log_level = sched_level_name(),
                             .mode = RUN_SPAWN_CHILD};
        pid_t pid = -1;
        st_error e;
        if (run_spawn_job(&so, &j, p->cfg, &pid, &e) != ST_OK) {
            sched_spawn_failed(p, &j, &e);
            continue;
        }
        log_debug(j.pipeline, j.strategy, "run %" PRId64 " started in process %ld", j.run_id,
                  (long)pid);
        p->kids[p->nkids].pid = pid;
        p->kids[p->nkids].job = j;
        p->nkids++;
    }
}

/* Counts a reaped job process for --once's exit code (sched_once_status). */
static void sched_count_exit(sched_proc *p, int status) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : PROC_FAILED;
    if (code == PROC_OK) p->jobs_ok++;
    else if (code == PROC_SKIPPED) p->jobs_skipped++;
    else p->jobs_failed++;
}

/* --once: 1 if any run it started failed, 75 if its runs were only
 * skipped, else 0 (also when nothing was due): what cron, a CronJob or a
 * systemd timer running `scheduler --once` needs to see a failure. */
static int sched_once_status(const sched_proc *p) {
    if (p->jobs_failed > 0) return PROC_FAILED;
    if (p->jobs_skipped > 0 && p->jobs_ok == 0) return PROC_SKIPPED;
    return PROC_OK;
}

/* A reaped job process whose run is still pending never started it (it
 * records running once it holds its locks, and every outcome after):
 * recorded failed with how the process ended. */
static void sched_kid_ended(sched_proc *p, const queue_job *j, int status) {
    char cause[256];
    if (WIFSIGNALED(status))
        snprintf(cause, sizeof cause, "the job process was killed by signal %d (%s) before it "
                 "started the run", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(cause, sizeof cause, "the job process exited with status %d before it "
                 "started the run (its message is in the scheduler's log)",
                 WEXITSTATUS(status));
    int64_t now = j->at != 0 ? j->at : st_time_now();
    st_error e;
    if (run_record_unstarted(p->st, p->lm, j, STATE_FAILED, true, now, p->o.name, cause,
                               &e) != ST_OK)
        log_error(j->pipeline, j->strategy, "cannot check or record run %" PRId64 ": %s",
                  j->run_id, e.msg);
}

static void sched_reap(sched_proc *p) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < p->nkids; i++) {
            if (p->kids[i].pid != pid) continue;
            const queue_job *j = &p->kids[i].job;
            if (WIFSIGNALED(status))
                log_error(j->pipeline, j->strategy, "run %" PRId64 ": job process died "
                          "(signal %d)", j->run_id, WTERMSIG(status));
            if (!WIFEXITED(status) || WEXITSTATUS(status) != PROC_OK)
                sched_kid_ended(p, j, status);
            sched_count_exit(p, status);
            queue_ack(p->q, j->id, NULL);
            p->kids[i] = p->kids[--p->nkids];
            break;
        }
    }
}

/* --- Leadership --- */

static void sched_became_leader(sched_proc *p) {
    st_error e;
    p->leading = true;
    p->standby_logged = false;
    if (state_meta_put(p->st, SCHED_META_PIPELINE, "-", "leader", p->o.name, &e) != ST_OK)
        log_debug(NULL, NULL, "cannot record the leader's name: %s", e.msg);
    log_info(NULL, NULL, "leader: %s holds the scheduler lease", p->o.name);
}

static void sched_log_standby(sched_proc *p) {
    if (p->standby_logged) return;
    char who[160] = "unknown";
    st_error e;
    if (state_meta_get(p->st, SCHED_META_PIPELINE, "-", "leader", who, sizeof who, &e) != ST_OK)
        snprintf(who, sizeof who, "unknown");
    log_info(NULL, NULL, "standby: leader is %s", who);
    p->standby_logged = true;
}

static void sched_lead(sched_proc *p, int64_t mono) {
    if (mono < p->next_lease) return;
    int64_t ttl_ms = p->o.lease_s * 1000;
    st_error e;
    p->next_lease = mono + (ttl_ms / 3 > 0 ? ttl_ms / 3 : 1);
    if (p->leading) {
        if (lock_renew(p->lm, &p->leader, &e) == ST_OK) {
            proc_backoff_ok(&p->bo, mono);
            return;
        }
        log_warn(NULL, NULL, "lost the scheduler lease: %s", e.msg);
        p->leading = false;
    }
    int rc = lock_acquire(p->lm, SCHED_LEADER_KEY, LOCK_EXCLUSIVE, ttl_ms, &p->leader, &e);
    p->lease_rc = rc;
    if (rc == ST_OK || rc == ST_EBUSY) proc_backoff_ok(&p->bo, mono);
    if (rc == ST_OK) {
        sched_became_leader(p);
        return;
    }
    p->next_lease = mono + 1000;
    if (rc == ST_EBUSY) sched_log_standby(p);
    else p->next_lease = mono + proc_backoff_fail(&p->bo, e.msg, mono);
}

/* --- Ticks, reload, stop --- */

#define SCHED_PRUNE_EVERY_MS (3600 * 1000)

/* What the leader does besides scheduling, after each tick: apply the
 * history retention (hourly, and on the first tick) and look for alerts.
 * Neither blocks for long: pruning is one statement or script, alerts are
 * only queued (src/notify delivers them from its own thread). */
static void sched_housekeeping(sched_proc *p, int64_t now, int64_t mono) {
    st_error e;
    if (mono >= p->next_prune) {
        state_retention r = {p->cfg->history.keep_days, p->cfg->history.keep_runs};
        int64_t removed = 0;
        if (state_prune(p->st, now, &r, &removed, &e) != ST_OK)
            log_warn(NULL, NULL, "history pruning failed: %s", e.msg);
        else if (removed > 0)
            log_info(NULL, NULL, "history: pruned %" PRId64 " entries (keep_days %" PRId64
                     ", keep_runs %" PRId64 ")", removed, r.keep_days, r.keep_runs);
        p->next_prune = mono + SCHED_PRUNE_EVERY_MS;
    }
    if (notify_check(p->nt, p->st, now, NULL, &e) != ST_OK)
        log_warn(NULL, NULL, "alert check failed: %s", e.msg);
}

static void sched_do_tick(sched_proc *p, int64_t mono) {
    sched_tick_opts to = {.now = p->o.at ? p->o.at : st_time_now(), .fixed_time = p->o.at != 0,
                          .journal = true, .journal_keep_days = p->cfg->history.keep_days};
    sched_tick_stats stats;
    st_error e;
    if (p->o.at) log_set_time_override(p->o.at);
    if (sched_tick(p->plan, p->st, p->lm, p->q, &to, &stats, &e) != ST_OK) {
        log_error(NULL, NULL, "tick failed: %s", e.msg);
        /* --once reports it; a long-running scheduler retries at the next
         * tick, and its exit code is that of its stop (a store outage it
         * lived through does not make a clean SIGTERM a failure) */
        if (p->o.once) p->status = PROC_FAILED;
    } else {
        log_debug(NULL, NULL, "tick: %zu pipelines, %zu due, %zu enqueued, %zu busy, "
                  "%zu recovered, %zu errors", stats.pipelines, stats.due, stats.enqueued,
                  stats.busy, stats.recovered, stats.errors);
    }
    sched_housekeeping(p, to.now, mono);
    p->ticked = true;
    p->ticks++;
    p->last_tick_s = (double)(st_time_mono_ms() - mono) / 1000.0;
    p->next_tick = mono + p->o.tick_s * 1000;
}

static void sched_reload(sched_proc *p) {
    config *ncfg = NULL;
    sched_plan *nplan = NULL;
    st_error e;
    if (!proc_reload_config(p->o.config_dir, &ncfg, NULL, 0)) return;
    if (sched_plan_build(&nplan, ncfg, &e) != ST_OK) {
        log_error(NULL, NULL, "config reload failed (%s); keeping the previous config", e.msg);
        config_free(ncfg);
        return;
    }
    if (!burl_equal(&ncfg->state_url, &p->cfg->state_url))
        log_warn(NULL, NULL, "reload: the state url changed; restart the scheduler to use it");
    sched_plan_free(p->plan);
    config_free(p->cfg);
    p->cfg = ncfg;
    p->plan = nplan;
    notifier_set_config(p->nt, ncfg);
    log_info(NULL, NULL, "config reloaded: %zu pipelines", ncfg->npipelines);
}

/* Jobs still in the in-process queue when we stop: free their enqueue locks
 * now rather than at lease expiry. Their state stays pending, which the
 * next scheduler retries once the pending timeout (300 s) has passed. */
static void sched_drop_unstarted(sched_proc *p) {
    queue_job j;
    while (p->embedded && queue_pop(p->q, "scheduler", 0, &j, NULL) == ST_OK) {
        if (j.enqueue_key[0] != '\0') {
            lock_handle h = {.fence = j.enqueue_fence, .mode = LOCK_EXCLUSIVE};
            snprintf(h.key, sizeof h.key, "%s", j.enqueue_key);
            snprintf(h.owner, sizeof h.owner, "%s", j.enqueue_owner);
            lock_release(p->lm, &h, NULL);
        }
        log_warn(j.pipeline, j.strategy, "run %" PRId64 " not started: the scheduler is "
                 "stopping (it stays pending and is retried later)", j.run_id);
        queue_ack(p->q, j.id, NULL);
    }
}

/* sig 0: giving up on an unreachable lock store (--give-up-after). */
static void sched_begin_stop(sched_proc *p, int sig, int64_t mono) {
    if (p->stopping) return;
    p->stopping = true;
    p->stop_deadline = mono + p->o.grace_s * 1000;
    log_info(NULL, NULL, "%s: stopping; %zu running jobs get up to %" PRId64 "s to finish",
             sig ? strsignal(sig) : "giving up", p->nkids, p->o.grace_s);
    sched_drop_unstarted(p);
}

/* Phase 1: SIGTERM to each running job (it stops at a batch boundary and
 * records interrupted); phase 2: SIGKILL to the ones that ignored it. */
static void sched_signal_kids(sched_proc *p, int sig) {
    for (size_t i = 0; i < p->nkids; i++) {
        const queue_job *j = &p->kids[i].job;
        if (sig == SIGTERM)
            log_warn(j->pipeline, j->strategy, "grace period over: interrupting run %" PRId64
                     " (it stops at its next batch boundary)", j->run_id);
        else
            log_error(j->pipeline, j->strategy, "run %" PRId64 " ignored SIGTERM for %" PRId64
                      "s: killing it (its locks lapse with their lease; it is recorded lost)",
                      j->run_id, p->o.grace_s * 1000 > SCHED_KILL_WAIT_MS ? p->o.grace_s
                                                                        : SCHED_KILL_WAIT_MS / 1000);
        kill(p->kids[i].pid, sig);
    }
}

static bool sched_done(sched_proc *p, int64_t mono) {
    if (p->stopping) {
        if (p->nkids == 0) return true;
        if (mono >= p->stop_deadline && p->stop_phase < 2) {
            p->stop_phase++;
            sched_signal_kids(p, p->stop_phase == 1 ? SIGTERM : SIGKILL);
            if (p->stop_phase == 2) p->status = PROC_FAILED;
            int64_t wait = p->o.grace_s * 1000;
            if (wait < SCHED_KILL_WAIT_MS) wait = SCHED_KILL_WAIT_MS;
            p->stop_deadline = mono + (p->stop_phase == 1 ? wait : 0);
        }
        return false;
    }
    if (!p->o.once) return false;
    if (!p->ticked) return false;
    size_t waiting = 0;
    if (p->embedded) queue_count(p->q, &waiting, NULL, NULL);
    return p->nkids == 0 && waiting == 0;
}

static void sched_on_signal(sched_proc *p, int sig) {
    if (sig == SIGTERM || sig == SIGINT) sched_begin_stop(p, sig, st_time_mono_ms());
    else if (sig == SIGHUP) sched_reload(p);
}

/* Waits up to 200 ms for a signal or the service's descriptor and acts on
 * every signal that arrived. */
static void sched_wait(sched_proc *p) {
    struct pollfd fds[2] = {{.fd = p->sigfd, .events = POLLIN},
                            {.fd = p->o.service.fd, .events = POLLIN}};
    nfds_t n = p->o.service.fd >= 0 ? 2 : 1;
    if (poll(fds, n, 200) <= 0 || !(fds[0].revents & POLLIN)) return;
    struct signalfd_siginfo si;
    while (read(p->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        sched_on_signal(p, (int)si.ssi_signo);
}

static void sched_service(sched_proc *p, int64_t mono) {
    proc_view v = {.name = p->o.name, .cfg = p->cfg, .leading = p->leading,
                   .stopping = p->stopping, .running = p->nkids, .mono_ms = mono,
                   .last_tick_s = p->last_tick_s, .ticks = p->ticks};
    proc_service_call(&p->o.service, &v);
}

/* The loop; returns when stopped, or after one tick with --once. */
static int sched_loop(sched_proc *p) {
    for (;;) {
        int64_t mono = st_time_mono_ms();
        sched_reap(p);
        if (sched_done(p, mono)) break;
        if (!p->stopping) sched_lead(p, mono);
        if (!p->stopping && proc_backoff_expired(&p->bo, p->o.give_up_s, mono)) {
            log_error(NULL, NULL, "%s unreachable for more than %" PRId64 "s: giving up "
                      "(--give-up-after)", p->bo.what, p->o.give_up_s);
            p->status = PROC_UNAVAILABLE;
            sched_begin_stop(p, 0, mono);
            continue;
        }
        if (p->o.once && !p->leading && !p->ticked) {
            p->status = p->lease_rc == ST_EBUSY ? PROC_SKIPPED : PROC_FAILED;
            break;
        }
        if (p->leading && !p->stopping && mono >= p->next_tick && !(p->o.once && p->ticked))
            sched_do_tick(p, mono);
        sched_dispatch(p);
        sched_service(p, mono);
        proc_beat(p->st, "scheduler", p->o.name, mono, &p->next_beat);
        if (sched_done(p, st_time_mono_ms())) continue;
        sched_wait(p);
    }
    /* --once: alert on what the tick's own jobs recorded. */
    if (p->o.once && p->leading && !p->stopping) {
        st_error e;
        if (notify_check(p->nt, p->st, p->o.at ? p->o.at : st_time_now(), NULL, &e) != ST_OK)
            log_warn(NULL, NULL, "alert check failed: %s", e.msg);
    }
    if (p->leading) lock_release(p->lm, &p->leader, NULL);
    sched_drop_unstarted(p);
    if (p->stopping) log_info(NULL, NULL, "scheduler stopped");
    if (p->o.once && p->status == PROC_OK && !p->stopping) p->status = sched_once_status(p);
    return p->status;
}

/* --- Setup --- */

static void sched_close_conns(sched_proc *p) {
    queue_close(p->q);
    lock_close(p->lm);
    state_close(p->st);
    p->q = NULL;
    p->lm = NULL;
    p->st = NULL;
}

static int sched_try_connect(sched_proc *p, st_error *err) {
    int rc = state_open(&p->st, &p->cfg->state_url, err);
    if (rc != ST_OK) return st_error_wrap(err, "cannot open state");
    if ((rc = lock_open(&p->lm, &p->cfg->state_url, err)) != ST_OK)
        return st_error_wrap(err, "cannot open locks");
    if ((rc = queue_open(&p->q, &p->cfg->state_url, err)) != ST_OK)
        return st_error_wrap(err, "cannot open the job queue");
    return ST_OK;
}

/* The state, lock and queue backends. A scheduler started before its
 * store (Redis) waits for it with the backoff of an outage; a config
 * problem fails at once. A stop signal while waiting: PROC_OK with
 * p->stopping set; --give-up-after: PROC_UNAVAILABLE. */
static int sched_connect(sched_proc *p, st_error *err) {
    p->embedded = !burl_distributed(&p->cfg->state_url);
    p->bo.what = p->embedded ? "lock store"
                 : p->cfg->state_url.kind == BURL_POSTGRES ? "postgresql" : "redis";
    for (;;) {
        int rc = sched_try_connect(p, err);
        if (rc == ST_OK) {
            proc_backoff_ok(&p->bo, st_time_mono_ms());
            return PROC_OK;
        }
        sched_close_conns(p);
        if (!proc_backoff_transient(rc)) return PROC_FAILED;
        proc_wait r = proc_backoff_wait(&p->bo, &p->sigs, p->o.give_up_s, err->msg);
        if (r == PROC_WAIT_RETRY) continue;
        err->msg[0] = '\0';    /* logged by proc_backoff_wait */
        p->stopping = true;
        return r == PROC_WAIT_GAVE_UP ? PROC_UNAVAILABLE : PROC_OK;
    }
}

static int sched_open(sched_proc *p, st_error *err) {
    int rc = sched_connect(p, err);
    if (rc != PROC_OK || p->stopping) return rc;
    if (sched_plan_build(&p->plan, p->cfg, err) != ST_OK) return PROC_FAILED;
    if (notifier_open(&p->nt, p->cfg, err) != ST_OK) return PROC_FAILED;
    p->kids = calloc((size_t)p->o.max_jobs, sizeof *p->kids);
    if (p->kids == NULL) {
        st_error_set(err, ST_ENOMEM, "out of memory");
        return PROC_FAILED;
    }
    p->sigfd = signalfd(-1, &p->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (p->sigfd < 0) {
        st_error_set(err, ST_ERR, "signalfd: %s", strerror(errno));
        return PROC_FAILED;
    }
    return PROC_OK;
}

/* Queued alerts get this long to go out when the scheduler stops. */
#define SCHED_ALERT_DRAIN_MS 30000

static void sched_close(sched_proc *p) {
    notifier_close(p->nt, SCHED_ALERT_DRAIN_MS);
    if (p->sigfd >= 0) close(p->sigfd);
    free(p->kids);
    sched_plan_free(p->plan);
    sched_close_conns(p);
    config_free(p->cfg);
}

int proc_scheduler_run(const proc_scheduler_opts *o, config *cfg, st_error *err) {
    sched_proc p;
    memset(&p, 0, sizeof p);
    p.o = *o;
    p.cfg = cfg;
    p.sigfd = -1;
    proc_block_signals(&p.sigs);
    int rc = sched_open(&p, err);
    if (rc == PROC_OK && p.stopping) log_info(NULL, NULL, "scheduler stopped");
    else if (rc == PROC_OK) {
        log_info(NULL, NULL, "scheduler %s started (%s mode, %zu pipelines)", p.o.name,
                 p.embedded ? "embedded" : "distributed", p.cfg->npipelines);
        rc = sched_loop(&p);
    }
    sched_close(&p);
    return rc;
}
