/*
 * cli — subcommands (DESIGN §5). Nothing else in synctool parses argv.
 *
 * main() parses the global options (--config-dir, --log-level, --help,
 * --version; the first two also after the command) into a cli_ctx and
 * dispatches to one cli_cmd_<name>() per subcommand; each
 * lives in its own file cmd_<name>.c, parses its own options with
 * getopt_long (argv[0] is the command name) and answers --help.
 *
 * Exit codes: 0 success, 1 failed, 2 usage or config error, 75 skipped
 * (every command's own in docs/cli.md).
 */
#ifndef ST_CLI_H
#define ST_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../state/state.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_SKIPPED = 75 };

typedef struct cli_ctx {
    const char *config_dir;   /* resolved: --config-dir, $SYNCTOOL_CONFIG_DIR, ./configs */
    const char *argv0;
    bool quiet_left_out;      /* cli_load_config: do not log left-out pipeline files
                                 (a job process: its scheduler already did) */
} cli_ctx;

typedef int (*cli_cmd_fn)(cli_ctx *ctx, int argc, char **argv);

int cli_main(int argc, char **argv);

/* Loads the config; on problems prints each "file:line:col: message" to
 * stderr and returns CLI_USAGE. When every problem is inside pipeline files
 * (config_load_valid), those pipelines are left out instead: the problems
 * are logged as errors once, kept for cli_config_left_out(), and the valid
 * pipelines are served (CLI_OK). */
int cli_load_config(const cli_ctx *ctx, config **out);
/* The same through the parsed-config cache (config_load_cached): read
 * commands that never hand the config to a job. */
int cli_load_config_cached(const cli_ctx *ctx, config **out);

/* The problems of the pipeline files the last cli_load_config left out
 * (n == 0: none). Owned by the cli module. */
const config_problems *cli_config_left_out(void);

/* Opens the state named by cfg->state_url; prints the error and returns
 * CLI_FAILED if it cannot. */
int cli_open_state(const config *cfg, state **out);

/* Parses an ISO-8601 option value; prints "synctool: --opt: message" and
 * returns CLI_USAGE on error. */
int cli_parse_time(const char *opt, const char *value, int64_t *out);

/* Parses a non-negative integer option; prints and returns CLI_USAGE on error. */
int cli_parse_int(const char *opt, const char *value, int64_t *out);

/* Prints "synctool COMMAND: message" (cmd NULL: "synctool: message") on
 * stderr and returns rc. With --json on the command line the first error
 * is also printed as {"error": {"code", "message"}} on stdout when the
 * command ends without a JSON document of its own. Codes are short
 * snake_case words: usage, config_invalid, unknown_pipeline,
 * unknown_strategy, state_unavailable, failed, ... (docs/cli.md). */
int cli_error(const char *cmd, const char *code, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* cli_error(cmd, "usage", CLI_USAGE, ...). */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "unknown pipeline 'x' (known pipelines: a, b)", code unknown_pipeline,
 * returns CLI_USAGE. */
int cli_unknown_pipeline(const char *cmd, const config *cfg, const char *name);

/* "pipeline 'p' has no strategy 'x' (its strategies: a, b)", code
 * unknown_strategy, returns CLI_USAGE. */
int cli_unknown_strategy(const char *cmd, const config_pipeline *p, const char *name);

/* Prints "synctool COMMAND: not implemented" and returns CLI_FAILED. */
int cli_not_implemented(const char *cmd);

/* Is --json on the command line? */
bool cli_json_mode(void);

/* Prints the command's JSON document (one line) on stdout; CLI_OK, or
 * CLI_FAILED after reporting out of memory. */
struct json_writer;
int cli_print_json(const char *cmd, struct json_writer *w);

/* The subcommands. */
int cli_cmd_validate(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_list(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_run(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_explain(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_status(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_history(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_reset(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_state(cli_ctx *ctx, int argc, char **argv);
/* state init / state migrate --to URL (cmd_state_migrate.c) */
int cli_state_init(const cli_ctx *ctx);
int cli_state_migrate(const cli_ctx *ctx, const char *to);
int cli_cmd_cron(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_lock(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_scheduler(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_worker(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ddl(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_pause(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_resume(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_serve(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_help(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_diff(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_check(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_why(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_logs(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_init(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_cdc(cli_ctx *ctx, int argc, char **argv);
/* Drops p's replication slot and publication on its source, forgets its cdc
 * strategies' positions and prints what it did (`cdc drop`, `reset
 * --drop-slot`); errors are printed as `synctool CMD: ...`. */
int cli_cdc_drop(const config *cfg, const config_pipeline *p, const char *cmd);

#endif
