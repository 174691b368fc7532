/*
 * cli — subcommands (DESIGN §5). Nothing else in synctool parses argv.
 *
 * main() parses the global options (--config-dir, --log-level, --help) into
 * a cli_ctx and dispatches to one cli_cmd_<name>() per subcommand; each
 * lives in its own file cmd_<name>.c, parses its own options with
 * getopt_long (argv[0] is the command name) and answers --help.
 *
 * Exit codes: 0 success, 1 failed, 2 usage or config error, 75 skipped.
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
} cli_ctx;

typedef int (*cli_cmd_fn)(cli_ctx *ctx, int argc, char **argv);

int cli_main(int argc, char **argv);

/* Loads the config; on problems prints each "file:line:col: message" to
 * stderr and returns CLI_USAGE. */
int cli_load_config(const cli_ctx *ctx, config **out);

/* Opens the state named by cfg->state_url; prints the error and returns
 * CLI_FAILED if it cannot. */
int cli_open_state(const config *cfg, state **out);

/* Parses an ISO-8601 option value; prints "synctool: --opt: message" and
 * returns CLI_USAGE on error. */
int cli_parse_time(const char *opt, const char *value, int64_t *out);

/* Parses a non-negative integer option; prints and returns CLI_USAGE on error. */
int cli_parse_int(const char *opt, const char *value, int64_t *out);

/* Prints "synctool COMMAND: message" and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "synctool COMMAND: not implemented" and returns CLI_FAILED. */
int cli_not_implemented(const char *cmd);

/* The subcommands. */
int cli_cmd_validate(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_list(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_run(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_explain(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_status(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_history(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_reset(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_state(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_cron(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_lock(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_scheduler(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_worker(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ddl(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_logs(cli_ctx *ctx, int argc, char **argv);

#endif
