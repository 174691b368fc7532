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
 * (run_default_strategy, also the HTTP trigger's rule). Waiting:
 * the pipeline's `locks:` block decides unless --lock-timeout (wait for the
 * pipeline lock), --table-lock-timeout (wait for the table lock) or
 * --no-wait-lock (never wait) say otherwise.
 *
 * State: the run goes through the one run lifecycle (run_job, src/run/):
 * lock success records the pipeline's dead runs lost, allocates a run_id
 * and marks the strategy running; the end marks it success, failed or
 * skipped with the run's start time and stats. The run_id is allocated
 * only when there is something to record, never up front, and a skip is
 * not recorded over a record that says another run is running or pending:
 * that run holds the lock we could not get and records its own outcome (a
 * newer run_id on our skip would make its result a "stale update"). If the
 * state store stays unreachable for the lease after the run executed, the
 * outcome is spooled and the exit code is 69.
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

#include "../job/job.h"
#include "../json/json.h"
#include "../lock/lock.h"
#include "../log/log.h"
#include "../proc/proc.h"
#include "../run/run.h"
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

static int resolve_strategy(const config_pipeline *p, const char *name, int64_t now,
                            const char **out) {
    if (name == NULL) {
        const config_strategy *s = run_default_strategy(p, now);
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
    return run_exit_code(res, sig);
}

/* Through the run lifecycle (src/run/): locks, lost runs, run id, running,
 * execute, record (spooled when the state store stays away). */
static int run_now(run_ctx *r, lock_manager *lm, const st_error *lerr, const run_args *a) {
    job_opts o;
    job_opts_from_config(&o, r->p, r->strategy);
    apply_overrides(&o, a);
    run_spec spec = {.cfg = r->cfg, .st = r->st, .lm = lm, .pipeline = r->p->name,
                     .strategy = r->strategy, .worker = r->worker, .interrupt = r->interrupt,
                     .opts = &o, .locks_unavailable = lerr, .progress = isatty(2) != 0,
                     .progress_interval_s = r->progress_interval};
    run_result out;
    st_error err;
    int rc = run_job(&spec, &out, &err);
    r->run_id = out.run_id;
    if (rc != ST_OK && rc != ST_EUNAVAIL)
        log_warn(r->p->name, r->strategy, "cannot record the result: %s", err.msg);
    int code = report(r, &out.res, a->json);
    if (out.executed && rc == ST_EUNAVAIL) {
        fprintf(stderr, "%s:%s run %" PRId64 " %s: %s (the state store stayed unreachable "
                "for the lease, %" PRId64 "s)\n", r->p->name, r->strategy, r->run_id,
                job_status_name(out.res.status), out.res.status == JOB_SUCCESS
                ? RUN_NOT_RECORDED : "outcome not recorded", r->p->locks.lease_ttl_seconds > 0
                ? r->p->locks.lease_ttl_seconds : 30);
        return PROC_UNAVAILABLE;
    }
    return code;
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
    int lrc = lock_open(&lm, &cfg->state_url, &lerr);
    if (lrc == ST_EINVAL) {
        rc = cli_usage_error("run", "%s", lerr.msg);
    } else if (lrc != ST_OK) {
        /* nothing runs; recorded if the state is reachable */
        if (state_open(&r.st, &cfg->state_url, NULL) != ST_OK) r.st = NULL;
        rc = run_now(&r, NULL, &lerr, &a);
    } else if ((rc = cli_open_state(cfg, &r.st)) == CLI_OK) {
        rc = run_now(&r, lm, NULL, &a);
    }
    state_close(r.st);
    lock_close(lm);
    config_free(cfg);
    return rc;
}
