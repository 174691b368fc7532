/*
 * synctool run — run one strategy of one pipeline now, through the job
 * manager (DESIGN §4, §5).
 *
 *   run PIPELINE [--strategy S] [--lock-timeout SECS]
 *       [--table-lock-timeout SECS] [--no-wait-lock] [--json]
 *
 * The pipeline is positional like every other command's; --job-name N (the
 * upstream tool's spelling) is an alias.
 *
 * Without --strategy the highest-priority enabled strategy runs: the one
 * whose cron slot (next - prev around now) is longest, ties in config order
 * — the same rule the scheduler uses to pick among due strategies. Waiting:
 * the pipeline's `locks:` block decides unless --lock-timeout (wait for the
 * pipeline lock), --table-lock-timeout (wait for the table lock) or
 * --no-wait-lock (never wait) say otherwise.
 *
 * State: lock success allocates a run_id and marks the strategy running;
 * the end marks it success, failed or skipped with the run's start time and
 * stats. The run_id is allocated only when there is something to record,
 * never up front, and a skip is not recorded over a record that says
 * another run is running: that run holds the lock we could not get and
 * records its own outcome (a newer run_id on our skip would make its
 * result a "stale update").
 * Locks live at the state URL. If the lock backend cannot be reached nothing
 * executes: the run is skipped with `lock_backend_unavailable` and a message
 * naming the URL (password masked). An unknown pipeline or strategy is a
 * usage error (exit 2) and is not recorded: there is no state row to record
 * it under.
 *
 * Output: one summary line (stdout on success, stderr otherwise), or with
 * --json one object {pipeline, strategy, run_id, status, reason_code,
 * message, duration_s, stats: {rows_read, rows_inserted, rows_updated,
 * rows_deleted}}. Exit 0 success, 1 failed, 75 skipped, 2 usage/config.
 *
 * SIGINT/SIGTERM (proc_interrupt_install): the run stops at the next batch
 * boundary, the open batch is rolled back, the attempt is recorded
 * `interrupted` with the counts of what was committed, the locks are
 * released, one line says what was committed, and the exit code is 130
 * (SIGINT) or 143 (SIGTERM). A second signal exits at once.
 */
#include "cli.h"

#include "../cron/cron.h"
#include "../job/job.h"
#include "../json/json.h"
#include "../lock/lock.h"
#include "../log/log.h"
#include "../proc/proc.h"
#include "../sched/sched.h"
#include "../sync/sync.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct run_args {
    const char *job, *strategy;
    int64_t lock_timeout, table_lock_timeout;  /* -1 = not given */
    int64_t progress_interval;                 /* 0 = default (30 s) */
    bool no_wait, json;
} run_args;

typedef struct run_ctx {
    const config *cfg;
    state *st;
    const config_pipeline *p;
    const char *strategy;
    int64_t run_id, started;
    atomic_int *interrupt;
    char worker[160];
    bool recorded;   /* on_finished ran (the result was recorded, or tried) */
    bool executed;   /* the run executed (its data may be committed) */
    int record_rc;   /* how recording the result ended */
    int64_t progress_interval;
} run_ctx;

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: synctool run PIPELINE [--strategy S] [--lock-timeout SECS]\n"
            "                    [--table-lock-timeout SECS] [--no-wait-lock] [--json]\n\n"
            "Runs a pipeline now through the job manager: takes the pipeline lock and\n"
            "the destination table lock (shared), executes, records the result.\n\n"
            "  PIPELINE                  the pipeline (--job-name N is an alias)\n"
            "  --strategy S              the strategy (default: the enabled one with the\n"
            "                            longest cron slot)\n"
            "  --lock-timeout SECS       wait up to SECS for the pipeline lock\n"
            "  --table-lock-timeout SECS wait up to SECS for the table DDL lock\n"
            "  --no-wait-lock            never wait, whatever the config says\n"
            "  --progress-interval SECS  not on a terminal: a progress log line this\n"
            "                            often (default 30); on a terminal a live line\n"
            "  --json                    print the result as JSON\n\n"
            "SIGINT/SIGTERM stop the run at the next batch boundary (the open batch is\n"
            "rolled back, what was committed stays and is recorded as `interrupted`);\n"
            "a second signal exits at once.\n\n"
            "Exit codes: 0 success, 1 failed, 2 usage or config error, 75 skipped,\n"
            "130/143 interrupted by SIGINT/SIGTERM.\n");
}

static int run_parse(int argc, char **argv, run_args *a) {
    static const struct option opts[] = {
        {"job-name", required_argument, NULL, 'j'}, {"strategy", required_argument, NULL, 's'},
        {"lock-timeout", required_argument, NULL, 'l'},
        {"table-lock-timeout", required_argument, NULL, 't'},
        {"no-wait-lock", no_argument, NULL, 'n'}, {"json", no_argument, NULL, 'J'},
        {"progress-interval", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    *a = (run_args){.lock_timeout = -1, .table_lock_timeout = -1};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': a->job = optarg; break;
        case 's': a->strategy = optarg; break;
        case 'l':
            if (cli_parse_int("--lock-timeout", optarg, &a->lock_timeout)) return CLI_USAGE;
            break;
        case 't':
            if (cli_parse_int("--table-lock-timeout", optarg, &a->table_lock_timeout))
                return CLI_USAGE;
            break;
        case 'n': a->no_wait = true; break;
        case 'P':
            if (cli_parse_int("--progress-interval", optarg, &a->progress_interval))
                return CLI_USAGE;
            if (a->progress_interval == 0)
                return cli_usage_error("run", "--progress-interval must be at least 1");
            break;
        case 'J': a->json = true; break;
        case 'h': run_usage(stdout); return -1;
        case ':': return cli_usage_error("run", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("run", "unknown option '%s' (see run --help)", argv[optind - 1]);
        }
    }
    if (optind < argc && a->job && strcmp(a->job, argv[optind]) != 0)
        return cli_usage_error("run", "PIPELINE '%s' contradicts --job-name '%s'", argv[optind],
                               a->job);
    if (optind < argc) a->job = argv[optind++];
    if (optind < argc) return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (a->job == NULL) return cli_usage_error("run", "missing PIPELINE (see run --help)");
    if (a->no_wait && (a->lock_timeout >= 0 || a->table_lock_timeout >= 0))
        return cli_usage_error("run",
                               "--no-wait-lock contradicts --lock-timeout/--table-lock-timeout");
    return CLI_OK;
}

/* Slot length of s at now in microseconds; -1 without a usable cron. */
static int64_t slot_length(const config_strategy *s, int64_t now) {
    cron_expr *c = NULL;
    if (s->cron == NULL || cron_parse(&c, s->cron, s->timezone, NULL) != ST_OK) return -1;
    int64_t prev, next, len = -1;
    if (cron_prev(c, now, &prev) == ST_OK && cron_next(c, now, &next) == ST_OK) len = next - prev;
    cron_free(c);
    return len;
}

/* The enabled strategy with the longest slot, ties in config order. */
static const config_strategy *pick_strategy(const config_pipeline *p, int64_t now) {
    const config_strategy *best = NULL;
    int64_t best_len = -2;
    for (size_t i = 0; i < p->nstrategies; i++) {
        if (!p->strategies[i].enabled) continue;
        int64_t len = slot_length(&p->strategies[i], now);
        if (len > best_len) {
            best = &p->strategies[i];
            best_len = len;
        }
    }
    return best;
}

static int resolve_strategy(const config_pipeline *p, const char *name, int64_t now,
                            const char **out) {
    if (name == NULL) {
        const config_strategy *s = pick_strategy(p, now);
        if (s == NULL)
            return cli_usage_error("run", "pipeline '%s' has no enabled strategy", p->name);
        *out = s->name;
        return CLI_OK;
    }
    if (job_strategy_config(p, name) != NULL) {
        *out = name;
        return CLI_OK;
    }
    char names[512] = "";
    for (size_t i = 0; i < p->nstrategies; i++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", p->strategies[i].name);
    }
    return cli_error("run", "unknown_strategy", CLI_USAGE,
                     "Strategy '%s' not found in config (pipeline '%s' has: %s)", name, p->name,
                     names);
}

static void apply_overrides(job_opts *o, const run_args *a) {
    if (a->lock_timeout >= 0) {
        o->wait_pipeline_lock = true;
        o->pipeline_lock_timeout_s = a->lock_timeout;
    }
    if (a->table_lock_timeout >= 0) {
        o->wait_table_lock = true;
        o->table_lock_timeout_s = a->table_lock_timeout;
    }
    if (a->no_wait) o->wait_pipeline_lock = o->wait_table_lock = false;
}

/* --- callbacks ------------------------------------------------------------- */

static void on_locks_acquired(void *ud, const job_exec_ctx *ctx) {
    run_ctx *r = ud;
    (void)ctx;
    st_error err;
    if (r->st == NULL) return;
    /* We hold the pipeline lock: a run of this pipeline still marked running
     * died without recording (its lease expired). Record it lost first. */
    if (ctx->pipeline_lock != NULL &&
        sched_recover_lost(r->st, NULL, r->p->name, st_time_now(), NULL, &err) != ST_OK)
        log_warn(r->p->name, r->strategy, "cannot record a lost run: %s", err.msg);
    if (state_new_run_id(r->st, &r->run_id, &err) != ST_OK ||
        state_mark_running(r->st, r->p->name, r->strategy, r->run_id, st_time_now(),
                           r->worker, &err) != ST_OK)
        log_warn(r->p->name, r->strategy, "cannot record running: %s", err.msg);
}

static int execute(void *ud, const job_exec_ctx *ctx, state_stats *stats, st_error *err) {
    run_ctx *r = ud;
    sync_opts so = {.cfg = r->cfg, .pipeline = ctx->pipeline, .strategy = ctx->strategy,
                    .st = r->st, .cancel = ctx->cancel, .interrupt = ctx->interrupt,
                    .progress = isatty(2) != 0,
                    .progress_interval_s = r->progress_interval,
                    .now = r->started, .run_id = r->run_id};
    if (ctx->pipeline_lock != NULL) {
        so.fence_key = ctx->pipeline_lock->fence_key;
        so.fence_token = ctx->pipeline_lock->fence;
        so.lease_check = job_lease_check;
        so.fence_raise = job_fence_raise;
        so.lease_arg = ctx;
    }
    return sync_run(&so, stats, err);
}

/* --- output ---------------------------------------------------------------- */

/* The run as history recorded it, through the one writer of a run
 * (state_run_write_json, as `logs --json`, `history --json` and the API),
 * plus the job's reason_code; from the result when it was not recorded. */
static void print_json(const run_ctx *r, const job_result *res) {
    state_run run;
    memset(&run, 0, sizeof run);
    if (r->run_id <= 0 || r->st == NULL || state_run_get(r->st, r->run_id, &run, NULL) != ST_OK) {
        memset(&run, 0, sizeof run);
        snprintf(run.pipeline, sizeof run.pipeline, "%s", r->p->name);
        snprintf(run.strategy, sizeof run.strategy, "%s", r->strategy);
        state_history_entry *e = &run.entry;
        e->run_id = r->run_id;
        if (state_status_parse(job_status_name(res->status), &e->status) != ST_OK)
            e->status = STATE_FAILED;
        e->started_at = r->started;
        e->finished_at = r->started + (int64_t)(res->stats.seconds * 1e6);
        e->stats = res->stats;
        snprintf(e->message, sizeof e->message, "%s", res->message);
    }
    run.reason_code = res->reason_code;
    json_writer w;
    json_init(&w);
    state_run_write_json(&w, &run, false);
    cli_print_json("run", &w);
    json_release(&w);
    state_run_clear(&run);
}

static int report(const run_ctx *r, const job_result *res, bool json) {
    int sig = r->interrupt != NULL ? (int)*r->interrupt : 0;
    if (json) print_json(r, res);
    else if (res->status == JOB_INTERRUPTED)
        fprintf(stderr, "%s:%s interrupted by %s after %.1fs: committed %lld inserted, "
                "%lld updated, %lld deleted; the open batch was rolled back (run %lld "
                "recorded as interrupted)\n", r->p->name, r->strategy,
                sig == SIGINT ? "SIGINT" : "SIGTERM", res->stats.seconds,
                (long long)res->stats.rows_inserted, (long long)res->stats.rows_updated,
                (long long)res->stats.rows_deleted, (long long)r->run_id);
    else if (res->status == JOB_SUCCESS)
        printf("%s:%s success in %.1fs: %lld inserted, %lld updated, %lld deleted\n", r->p->name,
               r->strategy, res->stats.seconds, (long long)res->stats.rows_inserted,
               (long long)res->stats.rows_updated, (long long)res->stats.rows_deleted);
    else
        fprintf(stderr, "%s:%s %s: %s\n", r->p->name, r->strategy, job_status_name(res->status),
                res->message);
    fflush(stdout);
    if (res->status == JOB_INTERRUPTED) return 128 + (sig > 0 ? sig : SIGTERM);
    return res->status == JOB_SUCCESS ? CLI_OK
           : res->status == JOB_SKIPPED ? CLI_SKIPPED : CLI_FAILED;
}

/* Is another run of this strategy in progress: running, or pending (a
 * scheduled run that holds the pipeline lock but still waits for the table
 * lock says pending)? A skip recorded then, under a newer run id, would make
 * that run's own updates stale and hide its result. */
static bool other_run_in_progress(run_ctx *r) {
    state_record rec;
    return state_get(r->st, r->p->name, r->strategy, &rec, NULL) == ST_OK &&
           (rec.status == STATE_RUNNING || rec.status == STATE_PENDING) &&
           rec.run_id != r->run_id;
}

typedef struct run_finish {
    run_ctx *r;
    const job_result *res;
    const char *log;
    int64_t now;
} run_finish;

static int record_once(void *ud, st_error *err) {
    static const state_status map[] = {STATE_SUCCESS, STATE_FAILED, STATE_SKIPPED,
                                       STATE_INTERRUPTED};
    const run_finish *f = ud;
    run_ctx *r = f->r;
    const char *error = f->res->status == JOB_FAILED ? f->res->message : "";
    /* manual: a failure here does not count toward the pause (retry.pause_window) */
    return state_mark_finished_manual(r->st, r->p->name, r->strategy, r->run_id,
                                      map[f->res->status], r->started, f->now, r->worker,
                                      f->res->message, error, &f->res->stats, f->log, err);
}

/* The state store stayed away for the lease: the outcome goes to the local
 * spool, recorded by the next synctool command on this host (state_spool.c). */
static void spool(run_ctx *r, const job_result *res, const char *log, int64_t now) {
    static const state_status map[] = {STATE_SUCCESS, STATE_FAILED, STATE_SKIPPED,
                                       STATE_INTERRUPTED};
    state_outcome o = {.pipeline = r->p->name, .strategy = r->strategy, .run_id = r->run_id,
                       .status = map[res->status], .started_at = r->started,
                       .finished_at = now, .worker = r->worker, .message = res->message,
                       .error = res->status == JOB_FAILED ? res->message : "", .log = log,
                       .stats = res->stats, .manual = true};
    char where[1200];
    st_error err;
    if (state_spool_write(&r->cfg->state_url, &o, where, sizeof where, &err) == ST_OK)
        log_warn(r->p->name, r->strategy, "outcome of run %" PRId64 " kept in %s; the next "
                 "synctool command on this host records it", r->run_id, where);
    else
        log_error(r->p->name, r->strategy, "outcome of run %" PRId64 " not kept: %s",
                  r->run_id, err.msg);
}

/* Records the result. An executed run's outcome is retried within the
 * pipeline's lease while the state store is unreachable; r->record_rc says
 * how it ended. */
static void record(run_ctx *r, const job_result *res) {
    if (r->st == NULL) return;
    st_error err;
    if (r->run_id == 0) {
        if ((res->status == JOB_SKIPPED || res->status == JOB_INTERRUPTED) &&
            other_run_in_progress(r)) {
            log_info(r->p->name, r->strategy, "skip not recorded: another run is in progress");
            return;
        }
        if ((r->record_rc = state_new_run_id(r->st, &r->run_id, &err)) != ST_OK) {
            log_warn(r->p->name, r->strategy, "cannot record the result: %s", err.msg);
            return;
        }
    }
    log_capture_add(res->status == JOB_SUCCESS ? LOG_INFO
                    : res->status == JOB_SKIPPED || res->status == JOB_INTERRUPTED ? LOG_WARN
                                                                                    : LOG_ERROR, r->p->name, r->strategy, "Run %" PRId64 " %s: %s",
                    r->run_id, job_status_name(res->status),
                    res->message[0] ? res->message : "done");
    char *log = log_capture_end();
    run_finish f = {.r = r, .res = res, .log = log, .now = st_time_now()};
    int64_t lease_s = r->p->locks.lease_ttl_seconds > 0 ? r->p->locks.lease_ttl_seconds : 30;
    r->record_rc = r->executed ? sched_retry_store(record_once, &f, lease_s * 1000, r->p->name,
                                                   r->strategy, &err)
                               : record_once(&f, &err);
    if (r->record_rc != ST_OK)
        log_warn(r->p->name, r->strategy, "cannot record the result: %s", err.msg);
    if (r->record_rc == ST_EUNAVAIL && r->executed) spool(r, res, log, f.now);
    free(log);
}

/* Lock backend unreachable: nothing runs; record if the state is reachable. */
static int run_without_locks(run_ctx *r, const st_error *lerr, bool json) {
    job_result res = {.status = JOB_SKIPPED};
    snprintf(res.reason_code, sizeof res.reason_code, "lock_backend_unavailable");
    snprintf(res.message, sizeof res.message, "Lock backend unavailable, skipping execution: %s",
             lerr->msg);
    if (state_open(&r->st, &r->cfg->state_url, NULL) == ST_OK) record(r, &res);
    int rc = report(r, &res, json);
    state_close(r->st);
    r->st = NULL;
    return rc;
}

static void fill_seconds(const run_ctx *r, job_result *res) {
    if (res->stats.seconds <= 0 && res->status != JOB_SKIPPED)
        res->stats.seconds = (double)(st_time_now() - r->started) / 1e6;
}

/* Records an executed run's result while its locks are still held. */
static void on_finished(void *ud, const job_exec_ctx *ctx, const job_result *res) {
    run_ctx *r = ud;
    (void)ctx;
    job_result copy = *res;
    fill_seconds(r, &copy);
    r->executed = true;
    record(r, &copy);
    r->recorded = true;
}

static int run_job_now(run_ctx *r, lock_manager *lm, const run_args *a) {
    job_opts o;
    job_opts_from_config(&o, r->p, r->strategy);
    apply_overrides(&o, a);
    o.interrupt = r->interrupt;
    job_callbacks cb = {.on_locks_acquired = on_locks_acquired, .ud = r,
                        .on_finished = on_finished};
    job_result res;
    job_run(r->cfg, r->p, &o, lm, &cb, execute, r, &res);
    fill_seconds(r, &res);
    if (!r->recorded) record(r, &res); /* skips: no locks were held */
    int rc = report(r, &res, a->json);
    if (r->executed && r->record_rc == ST_EUNAVAIL) {
        fprintf(stderr, "%s:%s run %" PRId64 " %s: %s (the state store stayed unreachable "
                "for the lease, %" PRId64 "s)\n", r->p->name, r->strategy, r->run_id,
                job_status_name(res.status), res.status == JOB_SUCCESS ? SCHED_NOT_RECORDED
                : "outcome not recorded", r->p->locks.lease_ttl_seconds > 0
                ? r->p->locks.lease_ttl_seconds : 30);
        return PROC_UNAVAILABLE;
    }
    return rc;
}

/* --- the command ----------------------------------------------------------- */

int cli_cmd_run(cli_ctx *ctx, int argc, char **argv) {
    run_args a;
    int rc = run_parse(argc, argv, &a);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    config *cfg = NULL;
    if ((rc = cli_load_config(ctx, &cfg)) != CLI_OK) return rc;
    run_ctx r = {.cfg = cfg, .started = st_time_now(), .progress_interval = a.progress_interval,
                 .interrupt = proc_interrupt_install()};
    snprintf(r.worker, sizeof r.worker, "run:%d", (int)getpid());
    r.p = config_pipeline_find(cfg, a.job);
    if (r.p == NULL) rc = cli_unknown_pipeline("run", cfg, a.job);
    else rc = resolve_strategy(r.p, a.strategy, r.started, &r.strategy);
    if (rc != CLI_OK) {
        config_free(cfg);
        return rc;
    }
    lock_manager *lm = NULL;
    st_error lerr;
    log_capture_begin(r.p->name, r.strategy); /* kept with the history entry */
    int lrc = lock_open(&lm, &cfg->state_url, &lerr);
    if (lrc == ST_EINVAL) rc = cli_usage_error("run", "%s", lerr.msg);
    else if (lrc != ST_OK) rc = run_without_locks(&r, &lerr, a.json);
    else if ((rc = cli_open_state(cfg, &r.st)) == CLI_OK) rc = run_job_now(&r, lm, &a);
    free(log_capture_end());
    state_close(r.st);
    lock_close(lm);
    config_free(cfg);
    return rc;
}
