/*
 * synctool explain — not built yet; answers "not implemented" (exit 1).
 */
#include "cli.h"

int cli_cmd_explain(cli_ctx *ctx, int argc, char **argv) {
    (void)ctx;
    (void)argc;
    (void)argv;
    return cli_not_implemented("explain");
}
