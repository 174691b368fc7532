/*
 * synctool pause PIPELINE [--strategy S] / synctool resume PIPELINE
 * [--strategy S] — the operator pause (state_set_paused), the same as
 * POST /api/v1/pipelines/{name}/pause|resume.
 *
 * A paused strategy is never scheduled: the decision says
 * "Paused by operator ..." (explain, status, the scheduler's log). Manual
 * `run` still works, and `reset` leaves the pause alone. Without --strategy
 * every strategy of the pipeline is paused or resumed.
 */
#include "cli.h"

#include "../time/st_time.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f, const char *cmd) {
    fprintf(f,
            "usage: synctool [--config-dir DIR] %s PIPELINE [--strategy S]\n\n"
            "%s the scheduling of PIPELINE's strategies (all, or only S). A paused\n"
            "strategy is not scheduled; `explain` says \"Paused by operator\"; manual runs\n"
            "still work.\n\n"
            "  --strategy S  only strategy S\n"
            "  -h, --help    this help\n",
            cmd, strcmp(cmd, "pause") == 0 ? "Pauses" : "Resumes");
}

static int pause_apply(const config_pipeline *p, const char *only, bool paused, state *st) {
    int64_t now = st_time_now();
    for (size_t i = 0; i < p->nstrategies; i++) {
        const char *sn = p->strategies[i].name;
        if (only && strcmp(only, sn) != 0) continue;
        st_error err;
        if (state_set_paused(st, p->name, sn, paused, now, &err) != ST_OK) {
            fprintf(stderr, "synctool: %s:%s: %s\n", p->name, sn, err.msg);
            return CLI_FAILED;
        }
        printf("%s:%s %s\n", p->name, sn, paused ? "paused" : "resumed");
    }
    return CLI_OK;
}

static int pause_cmd(cli_ctx *ctx, int argc, char **argv, bool paused) {
    static const struct option opts[] = {
        {"strategy", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = paused ? "pause" : "resume";
    const char *only = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': only = optarg; break;
        case 'h': usage(stdout, cmd); return CLI_OK;
        default: usage(stderr, cmd); return CLI_USAGE;
        }
    }
    if (optind >= argc) return cli_usage_error(cmd, "missing PIPELINE (see --help)");
    if (optind + 1 < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' (see --help)", argv[optind + 1]);
    config *cfg = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, argv[optind]);
    state *st = NULL;
    if (p == NULL)
        rc = cli_usage_error(cmd, "unknown pipeline '%s'", argv[optind]);
    else if (only && config_strategy_find(p, only) == NULL)
        rc = cli_usage_error(cmd, "pipeline '%s' has no strategy '%s'", p->name, only);
    else if ((rc = cli_open_state(cfg, &st)) == CLI_OK)
        rc = pause_apply(p, only, paused, st);
    state_close(st);
    config_free(cfg);
    return rc;
}

int cli_cmd_pause(cli_ctx *ctx, int argc, char **argv) { return pause_cmd(ctx, argc, argv, true); }

int cli_cmd_resume(cli_ctx *ctx, int argc, char **argv) {
    return pause_cmd(ctx, argc, argv, false);
}
