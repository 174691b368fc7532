/*
 * synctool worker — argv of the distributed worker; the loop itself is
 * proc_worker_run() (src/proc/proc_worker.c).
 *
 * URL-kind branch left here (issue 22): a worker needs the distributed
 * mode (burl_distributed: Redis or PostgreSQL state); SQLite is a usage
 * error.
 */
#include "cli.h"

#include "../proc/proc.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void worker_usage(FILE *f) {
    fprintf(f,
        "usage: synctool worker [--concurrency K] [--name NAME] [--claim-idle SECS]\n"
        "                       [--grace SECS] [--give-up-after SECS]\n\n"
        "Distributed worker (needs shared state: state.url redis://... or\n"
        "postgresql://... in datastores.yaml). Takes jobs the scheduler appended\n"
        "to the shared queue (Redis: the stream synctool:jobs, consumer group\n"
        "synctool-workers; PostgreSQL: the table queue_jobs), runs each\n"
        "through the job manager (pipeline and table locks, state, history) and\n"
        "acknowledges it. Jobs a dead worker left unacknowledged for --claim-idle\n"
        "seconds are claimed and run here; a job is never lost, and the pipeline\n"
        "lock keeps it from running twice at once.\n\n"
        "Options:\n"
        "  --concurrency K    consumer processes (default 1)\n"
        "  --name NAME        consumer name (default host:pid; NAME-1.. with K > 1)\n"
        "  --claim-idle SECS  claim jobs idle this long from dead workers (default 60)\n"
        "  --grace SECS       on SIGTERM, how long the running job may finish before\n"
        "                     it is interrupted (default 30)\n"
        "  --give-up-after SECS  exit 69 once the store has been unreachable this long\n"
        "                     (default: never; it retries with a capped backoff)\n"
        "  -h, --help         this help\n\n"
        "Stopping: SIGTERM/SIGINT take no new job and give the running one --grace\n"
        "seconds; then it is interrupted at its next batch boundary and recorded\n"
        "`interrupted` (retried inside its slot). A second signal interrupts at once.\n"
        "With --concurrency K a consumer that dies is respawned with a backoff; the\n"
        "worker exits 1 when it cannot keep K alive. SIGHUP reloads configs.\n"
        "While the store is unreachable the worker warns once per backoff step (0.5 s\n"
        "doubling to 30 s), runs nothing and resumes by itself.\n"
        "Exit: 0 stopped cleanly, 1 failed, 2 usage or config error, 69 the store\n"
        "unreachable for longer than --give-up-after.\n");
}

static int worker_parse(proc_worker_opts *o, int argc, char **argv) {
    static const struct option lo[] = {
        {"concurrency", required_argument, NULL, 'c'}, {"name", required_argument, NULL, 'n'},
        {"claim-idle", required_argument, NULL, 'i'}, {"grace", required_argument, NULL, 'g'},
        {"give-up-after", required_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    proc_worker_defaults(o);
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'c': rc = cli_parse_int("--concurrency", optarg, &o->concurrency); break;
        case 'n': snprintf(o->name, sizeof o->name, "%s", optarg); break;
        case 'i': rc = cli_parse_int("--claim-idle", optarg, &o->claim_idle_s); break;
        case 'g': rc = cli_parse_int("--grace", optarg, &o->grace_s); break;
        case 'G': rc = cli_parse_int("--give-up-after", optarg, &o->give_up_s); break;
        case 'h': worker_usage(stdout); return -1;
        default: worker_usage(stderr); return CLI_USAGE;
        }
    }
    if (rc != CLI_OK) return rc;
    if (optind < argc) return cli_usage_error("worker", "unexpected argument '%s'", argv[optind]);
    if (o->claim_idle_s < 1) return cli_usage_error("worker", "--claim-idle must be at least 1");
    if (o->concurrency < 1 || o->concurrency > 256)
        return cli_usage_error("worker", "--concurrency must be between 1 and 256");
    return CLI_OK;
}

int cli_cmd_worker(cli_ctx *ctx, int argc, char **argv) {
    proc_worker_opts o;
    int rc = worker_parse(&o, argc, argv);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    o.config_dir = ctx->config_dir;
    config *cfg = NULL;
    if ((rc = cli_load_config(ctx, &cfg)) != CLI_OK) return rc;
    if (!burl_distributed(&cfg->state_url)) {
        config_free(cfg);
        return cli_usage_error("worker", "needs shared state (state: {url: redis://...} or "
                               "{url: postgresql://...} in datastores.yaml); with SQLite state "
                               "`synctool scheduler` runs the jobs itself");
    }
    st_error e = {0};
    rc = proc_worker_run(&o, cfg, &e);
    if (e.msg[0] != '\0') fprintf(stderr, "synctool worker: %s\n", e.msg);
    return rc;
}
