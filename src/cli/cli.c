/*
 * cli — global options and dispatch (see cli.h).
 *
 * Global options come before the command; everything after the command name
 * belongs to the command. The command table is the single list of what
 * synctool can do: `synctool --help` prints it.
 */
#include "cli.h"

#include "../log/log.h"
#include "../time/st_time.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"validate", cli_cmd_validate, "check every config; print problems as file:line:col: message"},
    {"list", cli_cmd_list, "pipelines, strategies, cron and next fire time"},
    {"run", cli_cmd_run, "run a pipeline now through the job manager"},
    {"explain", cli_cmd_explain, "why each strategy would or would not run at an instant"},
    {"status", cli_cmd_status, "current state of every strategy"},
    {"history", cli_cmd_history, "past attempts of a pipeline"},
    {"logs", cli_cmd_logs, "one run's log lines"},
    {"reset", cli_cmd_reset, "clear failures and the paused state"},
    {"state", cli_cmd_state, "state export / state import FILE (JSON)"},
    {"cron", cli_cmd_cron, "print the next fire times of a cron expression"},
    {"lock", cli_cmd_lock, "lock hold / lock list"},
    {"scheduler", cli_cmd_scheduler, "the scheduler loop"},
    {"worker", cli_cmd_worker, "distributed worker (Redis state)"},
    {"ddl", cli_cmd_ddl, "ddl apply N: create or alter the destination table"},
};

static void print_help(FILE *f) {
    fprintf(f,
            "usage: synctool [--config-dir DIR] [--log-level LEVEL] COMMAND [ARGS]\n\n"
            "Keeps database tables in sync on a schedule, safely.\n\n"
            "Global options:\n"
            "  --config-dir DIR   configs (default $SYNCTOOL_CONFIG_DIR, then ./configs)\n"
            "  --log-level LEVEL  debug, info, warn or error (default info)\n"
            "  -h, --help         this help; COMMAND --help for a command's own\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nExit codes: 0 success, 1 failed, 2 usage or config error, "
               "75 skipped (lock busy).\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "synctool %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USAGE;
}

int cli_not_implemented(const char *cmd) {
    fprintf(stderr, "synctool %s: not implemented\n", cmd);
    return CLI_FAILED;
}

int cli_parse_time(const char *opt, const char *value, int64_t *out) {
    st_error err;
    if (st_time_parse(value, out, &err) != ST_OK) {
        fprintf(stderr, "synctool: %s: %s\n", opt, err.msg);
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_parse_int(const char *opt, const char *value, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < 0) {
        fprintf(stderr, "synctool: %s: expected a non-negative integer, got '%s'\n", opt,
                value);
        return CLI_USAGE;
    }
    *out = v;
    return CLI_OK;
}

int cli_load_config(const cli_ctx *ctx, config **out) {
    config_problems probs = {0};
    st_error err;
    if (config_load(out, ctx->config_dir, &probs, &err) == ST_OK) return CLI_OK;
    for (size_t i = 0; i < probs.n; i++) fprintf(stderr, "%s\n", probs.items[i]);
    if (probs.n == 0) fprintf(stderr, "synctool: %s\n", err.msg);
    config_problems_clear(&probs);
    return CLI_USAGE;
}

int cli_open_state(const config *cfg, state **out) {
    st_error err;
    if (state_open(out, cfg->state_url, &err) == ST_OK) return CLI_OK;
    fprintf(stderr, "synctool: cannot open state: %s\n", err.msg);
    return CLI_FAILED;
}

static cli_cmd_fn find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return commands[i].fn;
    return NULL;
}

int cli_main(int argc, char **argv) {
    cli_ctx ctx = {.config_dir = getenv("SYNCTOOL_CONFIG_DIR"), .argv0 = argv[0]};
    if (ctx.config_dir == NULL || ctx.config_dir[0] == '\0') ctx.config_dir = "./configs";
    static const struct option opts[] = {
        {"config-dir", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    /* "+" stops at the first non-option: the command name. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ctx.config_dir = optarg; break;
        case 'l': {
            log_level lv;
            if (log_level_parse(optarg, &lv) != 0) {
                fprintf(stderr, "synctool: --log-level: unknown level '%s' "
                                "(debug, info, warn, error)\n", optarg);
                return CLI_USAGE;
            }
            log_set_level(lv);
            break;
        }
        case 'h': print_help(stdout); return CLI_OK;
        default: print_help(stderr); return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return CLI_USAGE;
    }
    cli_cmd_fn fn = find_command(argv[optind]);
    if (fn == NULL) {
        fprintf(stderr, "synctool: unknown command '%s' (see synctool --help)\n",
                argv[optind]);
        return CLI_USAGE;
    }
    int cargc = argc - optind;
    char **cargv = argv + optind;
    optind = 0; /* reset getopt for the command (0 = full re-init in glibc) */
    return fn(&ctx, cargc, cargv);
}
