/*
 * synctool scheduler — the scheduler process: leader lease, ticks, job
 * processes, signals (DESIGN §3-§5).
 *
 * One loop, woken every 200 ms or by a signal. Signals are blocked and read
 * with sigtimedwait(), so there is no handler and no global flag: SIGTERM /
 * SIGINT stop taking work and wait up to --grace for running jobs, SIGHUP
 * reloads the configs (an invalid new config is logged file:line:col and
 * the old one stays), SIGCHLD only wakes the loop to reap.
 *
 * Leadership: every scheduler tries to take the lock `synctool:scheduler:
 * leader` (lock module, same backend as the state: SQLite on one host, Redis
 * across hosts) and renews it every lease/3. Only the leader ticks; the
 * others log `standby: leader is NAME` once and try again every second, so
 * they take over within one lease of the leader dying. The leader writes
 * its name to the state's meta store for the standby message.
 *
 * Each tick is sched_tick() (src/sched/scheduler.c) at `now` = --at or the
 * wall clock. In embedded mode (sqlite: state) the queue is the in-process
 * one and this loop is its consumer: it re-executes this binary as
 * `scheduler --exec-job ...` per job, at most --max-jobs at once, so a crash
 * in a job takes down only that child. In distributed mode (redis: state)
 * the tick pushes to the Redis Stream and `synctool worker` processes run
 * the jobs. --once runs a single tick and, embedded, waits for its jobs.
 *
 * `--exec-job P S RUN_ID AT EK EO EF` is the child side (internal, listed in
 * --help for operators reading ps output): it loads the config, opens state
 * and locks and calls sched_run_job(); its exit code is the job's (0, 1, 75).
 */
#include "cli.h"

#include "../lock/lock.h"
#include "../log/log.h"
#include "../notify/notify.h"
#include "../queue/queue.h"
#include "../sched/sched.h"
#include "../time/st_time.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCHED_LEADER_KEY "synctool:scheduler:leader"
#define SCHED_META_PIPELINE "synctool:scheduler"

typedef struct sched_opts {
    bool once;
    int64_t at;             /* 0 = wall clock */
    int64_t max_jobs, tick_s, grace_s, lease_s;
    char name[128];
    bool exec_job;
} sched_opts;

typedef struct sched_kid {
    pid_t pid;
    queue_job job;
} sched_kid;

typedef struct sched_proc {
    cli_ctx *ctx;
    sched_opts o;
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
    int lease_rc;           /* last failed leader-lease attempt (ST_EBUSY: standby) */
    int64_t next_tick, next_lease, stop_deadline;   /* monotonic ms */
    sigset_t sigs;
    int status;
    notifier *nt;           /* alerts (src/notify); inactive without webhooks */
    int64_t next_prune;     /* monotonic ms of the next history pruning */
} sched_proc;

static void sched_usage(FILE *f) {
    fprintf(f,
        "usage: synctool scheduler [--once] [--at TIME] [--max-jobs K] [--tick SECS]\n"
        "                          [--grace SECS] [--lease SECS] [--name NAME]\n\n"
        "The scheduler loop. Every tick it decides, for each pipeline, which strategy\n"
        "is due (the reasons are logged verbatim), takes the enqueue lock, marks the\n"
        "run pending and hands it off:\n"
        "  - embedded mode (state url sqlite:, the default): runs each job itself in\n"
        "    a child process through the job manager, at most --max-jobs at once;\n"
        "  - distributed mode (state url redis://): appends it to the Redis Stream\n"
        "    synctool:jobs for `synctool worker` processes on any host.\n"
        "Several schedulers may run: one leads through the leader lease\n"
        "(lock synctool:scheduler:leader), the others stand by and take over.\n\n"
        "Options:\n"
        "  --once          run a single tick, wait for the jobs it started, exit\n"
        "                  (distributed mode: exit once its jobs are enqueued)\n"
        "  --at TIME       with --once: fix \"now\" for the tick (ISO-8601, e.g.\n"
        "                  2025-10-15T02:00:00Z); its jobs record that time in state\n"
        "  --max-jobs K    embedded mode: jobs running at once (default 4)\n"
        "  --tick SECS     seconds between ticks (default 10)\n"
        "  --grace SECS    on SIGTERM, how long running jobs may finish (default 30)\n"
        "  --lease SECS    leader lease, renewed every third of it (default 30)\n"
        "  --name NAME     this scheduler's name in logs and state (default host:pid)\n"
        "  -h, --help      this help\n\n"
        "Signals: SIGTERM/SIGINT stop taking work and wait --grace for running jobs;\n"
        "SIGHUP reloads the configs (an invalid new config keeps the old one).\n"
        "Internal: --exec-job P S RUN_ID AT EK EO EF runs one queued job (used by\n"
        "the scheduler for its child processes).\n"
        "Exit: 0 done, 1 failed, 2 usage or config error, 75 --once while another\n"
        "scheduler leads.\n");
}

static void sched_default_name(char *buf, size_t n) {
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(buf, n, "%s:%ld", host, (long)getpid());
}

static int sched_parse_secs(const char *opt, const char *v, int64_t *out) {
    int rc = cli_parse_int(opt, v, out);
    if (rc == CLI_OK && *out == 0)
        return cli_usage_error("scheduler", "%s must be at least 1", opt);
    return rc;
}

static int sched_parse(sched_opts *o, int argc, char **argv) {
    static const struct option lo[] = {
        {"once", no_argument, NULL, 'o'},      {"at", required_argument, NULL, 'a'},
        {"max-jobs", required_argument, NULL, 'm'}, {"tick", required_argument, NULL, 't'},
        {"grace", required_argument, NULL, 'g'}, {"lease", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'}, {"exec-job", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    *o = (sched_opts){.max_jobs = 4, .tick_s = 10, .grace_s = 30, .lease_s = 30};
    sched_default_name(o->name, sizeof o->name);
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o->once = true; break;
        case 'a': rc = cli_parse_time("--at", optarg, &o->at); break;
        case 'm': rc = sched_parse_secs("--max-jobs", optarg, &o->max_jobs); break;
        case 't': rc = sched_parse_secs("--tick", optarg, &o->tick_s); break;
        case 'g': rc = cli_parse_int("--grace", optarg, &o->grace_s); break;
        case 'l': rc = sched_parse_secs("--lease", optarg, &o->lease_s); break;
        case 'n': snprintf(o->name, sizeof o->name, "%s", optarg); break;
        case 'x': o->exec_job = true; break;
        case 'h': sched_usage(stdout); return -1;
        default: sched_usage(stderr); return CLI_USAGE;
        }
    }
    if (rc != CLI_OK) return rc;
    if (o->exec_job) return optind + 7 == argc ? CLI_OK
        : cli_usage_error("scheduler", "--exec-job needs P S RUN_ID AT EK EO EF");
    if (optind < argc)
        return cli_usage_error("scheduler", "unexpected argument '%s'", argv[optind]);
    if (o->at != 0 && !o->once)
        return cli_usage_error("scheduler", "--at needs --once (it fixes the time of one tick)");
    return CLI_OK;
}

/* --- The child side: one job --- */

static int sched_exec_job(cli_ctx *ctx, char **args) {
    queue_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.pipeline, sizeof job.pipeline, "%s", args[0]);
    snprintf(job.strategy, sizeof job.strategy, "%s", args[1]);
    job.run_id = strtoll(args[2], NULL, 10);
    job.at = strtoll(args[3], NULL, 10);
    snprintf(job.enqueue_key, sizeof job.enqueue_key, "%s", args[4]);
    snprintf(job.enqueue_owner, sizeof job.enqueue_owner, "%s", args[5]);
    job.enqueue_fence = strtoll(args[6], NULL, 10);
    if (job.at != 0) log_set_time_override(job.at);
    config *cfg = NULL;
    state *st = NULL;
    lock_manager *lm = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    st_error e;
    char name[128];
    sched_default_name(name, sizeof name);
    if ((rc = cli_open_state(cfg, &st)) == CLI_OK && lock_open(&lm, cfg->state_url, &e) != 0) {
        fprintf(stderr, "synctool: cannot open locks: %s\n", e.msg);
        rc = CLI_FAILED;
    }
    if (rc == CLI_OK) {
        sched_job_env env = {.cfg = cfg, .st = st, .lm = lm, .worker = name};
        sched_job_outcome out;
        job_result res;
        if (sched_run_job(&env, &job, &out, &res, &e) != ST_OK) {
            log_error(job.pipeline, job.strategy, "cannot record run %" PRId64 ": %s",
                      job.run_id, e.msg);
            rc = CLI_FAILED;
        } else {
            rc = out == SCHED_JOB_DROPPED ? CLI_OK : sched_job_exit_code(&res);
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

static pid_t sched_spawn(sched_proc *p, const queue_job *j) {
    char rid[32], at[32], ef[32], self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    snprintf(rid, sizeof rid, "%" PRId64, j->run_id);
    snprintf(at, sizeof at, "%" PRId64, j->at);
    snprintf(ef, sizeof ef, "%" PRId64, j->enqueue_fence);
    char *argv[] = {self, "--config-dir", (char *)p->ctx->config_dir, "--log-level",
                    (char *)sched_level_name(), "scheduler", "--exec-job",
                    (char *)j->pipeline, (char *)j->strategy, rid, at,
                    (char *)j->enqueue_key, (char *)j->enqueue_owner, ef, NULL};
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(self, argv);
        _exit(127);
    }
    return pid;
}

static void sched_dispatch(sched_proc *p) {
    while (p->embedded && !p->stopping && p->nkids < (size_t)p->o.max_jobs) {
        queue_job j;
        if (queue_pop(p->q, "scheduler", 0, &j, NULL) != ST_OK) return;
        pid_t pid = sched_spawn(p, &j);
        if (pid < 0) {
            log_error(j.pipeline, j.strategy, "cannot start a process for run %" PRId64
                      ": %s (it stays pending and is retried)", j.run_id, strerror(errno));
            queue_ack(p->q, j.id, NULL);
            continue;
        }
        log_debug(j.pipeline, j.strategy, "run %" PRId64 " started in process %ld", j.run_id,
                  (long)pid);
        p->kids[p->nkids].pid = pid;
        p->kids[p->nkids].job = j;
        p->nkids++;
    }
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
        if (lock_renew(p->lm, &p->leader, &e) == ST_OK) return;
        log_warn(NULL, NULL, "lost the scheduler lease: %s", e.msg);
        p->leading = false;
    }
    int rc = lock_acquire(p->lm, SCHED_LEADER_KEY, LOCK_EXCLUSIVE, ttl_ms, &p->leader, &e);
    p->lease_rc = rc;
    if (rc == ST_OK) {
        sched_became_leader(p);
        return;
    }
    p->next_lease = mono + 1000;
    if (rc == ST_EBUSY) sched_log_standby(p);
    else log_error(NULL, NULL, "cannot take the scheduler lease: %s", e.msg);
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
    sched_tick_opts to = {.now = p->o.at ? p->o.at : st_time_now(), .fixed_time = p->o.at != 0};
    sched_tick_stats stats;
    st_error e;
    if (p->o.at) log_set_time_override(p->o.at);
    if (sched_tick(p->plan, p->st, p->lm, p->q, &to, &stats, &e) != ST_OK) {
        log_error(NULL, NULL, "tick failed: %s", e.msg);
        p->status = CLI_FAILED;
    } else {
        log_debug(NULL, NULL, "tick: %zu pipelines, %zu due, %zu enqueued, %zu busy, "
                  "%zu recovered, %zu errors", stats.pipelines, stats.due, stats.enqueued,
                  stats.busy, stats.recovered, stats.errors);
    }
    sched_housekeeping(p, to.now, mono);
    p->ticked = true;
    p->next_tick = mono + p->o.tick_s * 1000;
}

static void sched_reload(sched_proc *p) {
    config *ncfg = NULL;
    config_problems probs = {0};
    sched_plan *nplan = NULL;
    st_error e;
    if (config_load(&ncfg, p->ctx->config_dir, &probs, &e) != ST_OK) {
        for (size_t i = 0; i < probs.n; i++) log_error(NULL, NULL, "reload: %s", probs.items[i]);
        if (probs.n == 0) log_error(NULL, NULL, "reload: %s", e.msg);
        log_error(NULL, NULL, "config reload failed; keeping the previous config");
        config_problems_clear(&probs);
        return;
    }
    if (sched_plan_build(&nplan, ncfg, &e) != ST_OK) {
        log_error(NULL, NULL, "config reload failed (%s); keeping the previous config", e.msg);
        config_free(ncfg);
        return;
    }
    if (strcmp(ncfg->state_url, p->cfg->state_url) != 0)
        log_warn(NULL, NULL, "reload: the state url changed; restart the scheduler to use it");
    sched_plan_free(p->plan);
    config_free(p->cfg);
    p->cfg = ncfg;
    p->plan = nplan;
    notifier_set_config(p->nt, ncfg);
    log_info(NULL, NULL, "config reloaded: %zu pipelines", ncfg->npipelines);
}

static void sched_begin_stop(sched_proc *p, int sig, int64_t mono) {
    if (p->stopping) return;
    p->stopping = true;
    p->stop_deadline = mono + p->o.grace_s * 1000;
    log_info(NULL, NULL, "%s: stopping; %zu running jobs get up to %" PRId64 "s to finish",
             strsignal(sig), p->nkids, p->o.grace_s);
}

static void sched_kill_kids(sched_proc *p) {
    for (size_t i = 0; i < p->nkids; i++) {
        log_warn(p->kids[i].job.pipeline, p->kids[i].job.strategy,
                 "grace period over: stopping run %" PRId64 " (its locks lapse with their "
                 "lease)", p->kids[i].job.run_id);
        kill(p->kids[i].pid, SIGKILL);
    }
    while (p->nkids > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) break;
        for (size_t i = 0; i < p->nkids; i++)
            if (p->kids[i].pid == pid) p->kids[i] = p->kids[--p->nkids];
    }
}

static bool sched_done(sched_proc *p, int64_t mono) {
    if (p->stopping) {
        if (p->nkids == 0) return true;
        if (mono >= p->stop_deadline) {
            sched_kill_kids(p);
            return true;
        }
        return false;
    }
    if (!p->o.once) return false;
    if (!p->ticked) return false;
    size_t waiting = 0;
    if (p->embedded) queue_count(p->q, &waiting, NULL, NULL);
    return p->nkids == 0 && waiting == 0;
}

/* Waits up to 200 ms for a signal and acts on it. */
static void sched_wait_signal(sched_proc *p) {
    struct timespec ts = {0, 200 * 1000000L};
    siginfo_t si;
    int sig = sigtimedwait(&p->sigs, &si, &ts);
    if (sig == SIGTERM || sig == SIGINT) sched_begin_stop(p, sig, st_time_mono_ms());
    else if (sig == SIGHUP) sched_reload(p);
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

/* The loop; returns when stopped, or after one tick with --once. */
static int sched_loop(sched_proc *p) {
    for (;;) {
        int64_t mono = st_time_mono_ms();
        sched_reap(p);
        if (sched_done(p, mono)) break;
        if (!p->stopping) sched_lead(p, mono);
        if (p->o.once && !p->leading && !p->ticked) {
            p->status = p->lease_rc == ST_EBUSY ? CLI_SKIPPED : CLI_FAILED;
            break;
        }
        if (p->leading && !p->stopping && mono >= p->next_tick && !(p->o.once && p->ticked))
            sched_do_tick(p, mono);
        sched_dispatch(p);
        if (sched_done(p, st_time_mono_ms())) continue;
        sched_wait_signal(p);
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
    return p->status;
}

/* --- Setup --- */

static int sched_open(sched_proc *p) {
    st_error e;
    int rc = cli_load_config(p->ctx, &p->cfg);
    if (rc != CLI_OK) return rc;
    if ((rc = cli_open_state(p->cfg, &p->st)) != CLI_OK) return rc;
    if (lock_open(&p->lm, p->cfg->state_url, &e) != ST_OK) {
        fprintf(stderr, "synctool scheduler: cannot open locks: %s\n", e.msg);
        return CLI_FAILED;
    }
    p->embedded = strncmp(p->cfg->state_url, "redis://", 8) != 0;
    if (queue_open(&p->q, p->embedded ? "local:" : p->cfg->state_url, &e) != ST_OK) {
        fprintf(stderr, "synctool scheduler: cannot open the job queue: %s\n", e.msg);
        return CLI_FAILED;
    }
    if (sched_plan_build(&p->plan, p->cfg, &e) != ST_OK) {
        fprintf(stderr, "synctool scheduler: %s\n", e.msg);
        return CLI_FAILED;
    }
    if (notifier_open(&p->nt, p->cfg, &e) != ST_OK) {
        fprintf(stderr, "synctool scheduler: %s\n", e.msg);
        return CLI_FAILED;
    }
    p->kids = calloc((size_t)p->o.max_jobs, sizeof *p->kids);
    if (p->kids == NULL) {
        fprintf(stderr, "synctool scheduler: out of memory\n");
        return CLI_FAILED;
    }
    return CLI_OK;
}

/* Queued alerts get this long to go out when the scheduler stops. */
#define SCHED_ALERT_DRAIN_MS 30000

static void sched_close(sched_proc *p) {
    notifier_close(p->nt, SCHED_ALERT_DRAIN_MS);
    free(p->kids);
    sched_plan_free(p->plan);
    queue_close(p->q);
    lock_close(p->lm);
    state_close(p->st);
    config_free(p->cfg);
}

int cli_cmd_scheduler(cli_ctx *ctx, int argc, char **argv) {
    sched_proc p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    int rc = sched_parse(&p.o, argc, argv);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    if (p.o.exec_job) return sched_exec_job(ctx, argv + optind);
    sigemptyset(&p.sigs);
    sigaddset(&p.sigs, SIGTERM);
    sigaddset(&p.sigs, SIGINT);
    sigaddset(&p.sigs, SIGHUP);
    sigaddset(&p.sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &p.sigs, NULL);
    rc = sched_open(&p);
    if (rc == CLI_OK) {
        log_info(NULL, NULL, "scheduler %s started (%s mode, %zu pipelines)", p.o.name,
                 p.embedded ? "embedded" : "distributed", p.cfg->npipelines);
        rc = sched_loop(&p);
    }
    sched_close(&p);
    return rc;
}
