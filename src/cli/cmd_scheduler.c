/*
 * synctool scheduler — argv of the scheduler process; the loop itself is
 * proc_scheduler_run() (src/proc/proc_scheduler.c).
 *
 * `--exec-job` (the job on stdin, run_handoff_read) is the child side of the embedded
 * scheduler and of serve's trigger (internal, listed in --help for operators
 * reading ps output): the job and the configuration it reads become
 * proc_exec_handoff()'s (the config directory on disk is not read); its
 * exit code is the job's (0, 1, 75).
 */
#include "cli.h"

#include <unistd.h>

#include "../http/http.h"
#include "../log/log.h"
#include "../proc/proc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sched_usage(FILE *f) {
    fprintf(f,
        "usage: synctool scheduler [--once] [--at TIME] [--max-jobs K] [--tick SECS]\n"
        "                          [--grace SECS] [--lease SECS] [--name NAME]\n"
        "                          [--http ADDR:PORT] [--give-up-after SECS]\n\n"
        "The scheduler loop. Every tick it decides, for each pipeline, which strategy\n"
        "is due (the reasons are logged verbatim), takes the enqueue lock, marks the\n"
        "run pending and hands it off:\n"
        "  - embedded mode (state url sqlite:, the default): runs each job itself in\n"
        "    a child process through the job manager, at most --max-jobs at once;\n"
        "  - distributed mode (state url redis:// or postgresql://): appends it to\n"
        "    the shared job queue for `synctool worker` processes on any host.\n"
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
        "  --give-up-after SECS  exit 69 once the shared store has been\n"
        "                  unreachable this long (default: never)\n"
        "  --http ADDR:PORT  also serve the HTTP API and /metrics, as `synctool serve\n"
        "                  --listen ADDR:PORT` would (SYNCTOOL_API_TOKEN as for serve)\n"
        "  -h, --help      this help\n\n"
        "Stopping: SIGTERM/SIGINT stop taking work and give running jobs --grace\n"
        "seconds; then each is sent SIGTERM and stops at its next batch boundary,\n"
        "recorded `interrupted` (retried inside its slot, retry_count unchanged);\n"
        "only a job ignoring that for another --grace is killed. Job processes run\n"
        "in their own process group: a terminal's Ctrl-C reaches the scheduler only.\n"
        "SIGHUP reloads the configs (an invalid new config keeps the old one).\n"
        "Internal: --exec-job runs one queued job, read from standard input (used by\n"
        "the scheduler for its child processes).\n"
        "While the lock store (Redis, PostgreSQL) is unreachable it stops leading,\n"
        "warns once per backoff step (0.5 s doubling to 30 s), runs nothing and\n"
        "resumes by itself.\n"
        "Exit: 0 done, 1 failed, 2 usage or config error, 69 the lock store was\n"
        "unreachable for longer than --give-up-after, 75 --once while another\n"
        "scheduler leads. --once (embedded mode): 1 if any run it started failed,\n"
        "75 if its runs were only skipped, 0 if they succeeded or nothing was due.\n"
        "TIME without an offset is UTC.\n");
}

static int sched_parse_secs(const char *opt, const char *v, int64_t *out) {
    int rc = cli_parse_int(opt, v, out);
    if (rc == CLI_OK && *out == 0)
        return cli_usage_error("scheduler", "%s must be at least 1", opt);
    return rc;
}

static int sched_parse(proc_scheduler_opts *o, bool *exec_job, const char **http, int argc,
                       char **argv) {
    static const struct option lo[] = {
        {"once", no_argument, NULL, 'o'},      {"at", required_argument, NULL, 'a'},
        {"max-jobs", required_argument, NULL, 'm'}, {"tick", required_argument, NULL, 't'},
        {"grace", required_argument, NULL, 'g'}, {"lease", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'}, {"exec-job", no_argument, NULL, 'x'},
        {"give-up-after", required_argument, NULL, 'G'},
        {"http", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    proc_scheduler_defaults(o);
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
        case 'G': rc = cli_parse_int("--give-up-after", optarg, &o->give_up_s); break;
        case 'x': *exec_job = true; break;
        case 'H': *http = optarg; break;
        case 'h': sched_usage(stdout); return -1;
        default: sched_usage(stderr); return CLI_USAGE;
        }
    }
    if (rc != CLI_OK) return rc;
    if (*exec_job) return optind == argc ? CLI_OK
        : cli_usage_error("scheduler", "--exec-job takes no arguments: the job comes on "
                          "standard input");
    if (optind < argc)
        return cli_usage_error("scheduler", "unexpected argument '%s'", argv[optind]);
    if (o->at != 0 && !o->once)
        return cli_usage_error("scheduler", "--at needs --once (it fixes the time of one tick)");
    return CLI_OK;
}

/* The job and the configuration to run it with both come on stdin: the
 * config directory is not read (proc_exec_handoff). */
static int sched_exec_job(void) {
    run_handoff h;
    st_error e = {0};
    if (run_handoff_read(STDIN_FILENO, &h, &e) != ST_OK) {
        fprintf(stderr, "synctool scheduler: %s\n", e.msg);
        return CLI_USAGE;
    }
    int rc = proc_exec_handoff(&h, &e);
    run_handoff_clear(&h);
    if (e.msg[0] != '\0') fprintf(stderr, "synctool: %s\n", e.msg);
    return rc;
}

/* The loop's service with --http: copies what /metrics reports about this
 * process (the server thread reads it). */
static void sched_http_service(void *arg, const proc_view *v) {
    http_process_stats *ps = arg;
    ps->last_tick_seconds = v->last_tick_s;
    ps->ticks = v->ticks;
    ps->leader = v->leading;
}

int cli_cmd_scheduler(cli_ctx *ctx, int argc, char **argv) {
    proc_scheduler_opts o;
    bool exec_job = false;
    const char *http = NULL;
    int rc = sched_parse(&o, &exec_job, &http, argc, argv);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    if (exec_job) return sched_exec_job();
    o.config_dir = ctx->config_dir;
    config *cfg = NULL;
    if ((rc = cli_load_config(ctx, &cfg)) != CLI_OK) return rc;
    st_error e = {0};
    http_process_stats stats = {0};
    http_server *srv = NULL;
    if (http != NULL) {
        http_opts ho = {.listen = http, .config_dir = ctx->config_dir,
                        .token = getenv("SYNCTOOL_API_TOKEN"), .proc = &stats};
        if ((rc = http_server_start(&srv, &ho, &e)) != ST_OK) {
            fprintf(stderr, "synctool scheduler: --http: %s\n", e.msg);
            config_free(cfg);
            return rc == ST_EINVAL ? CLI_USAGE : CLI_FAILED;
        }
        o.service.fn = sched_http_service;
        o.service.arg = &stats;
    }
    rc = proc_scheduler_run(&o, cfg, &e);
    http_server_stop(srv);
    if (e.msg[0] != '\0') fprintf(stderr, "synctool scheduler: %s\n", e.msg);
    return rc;
}
