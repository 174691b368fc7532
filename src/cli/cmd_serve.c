/*
 * synctool serve [--listen ADDR:PORT] — the HTTP API, /metrics and health
 * endpoints (src/http) as a process of its own.
 *
 * This file only parses argv, reads $SYNCTOOL_API_TOKEN, starts the server
 * and waits for SIGINT/SIGTERM (blocked in every thread and taken with
 * sigtimedwait, so no handler runs inside libmicrohttpd's thread). Every 10 s
 * it records a heartbeat (kind "serve") in the state named by the config, so
 * GET /api/v1/workers lists it; a config or state that is unavailable only
 * skips the heartbeat (the server answers /readyz with the reason).
 * A stop by signal is the normal end of a server: exit 0.
 */
#include "cli.h"

#include "../http/http.h"
#include "../log/log.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SERVE_BEAT_S 10

static void usage(FILE *f) {
    fprintf(f,
            "usage: synctool [--config-dir DIR] serve [--listen ADDR:PORT]\n\n"
            "Serves the JSON API under /api/v1/, /healthz, /readyz and Prometheus /metrics\n"
            "for the deployment described by the config (its SQLite or Redis state).\n\n"
            "  --listen ADDR:PORT  address to listen on (default %s);\n"
            "                      a non-loopback address needs SYNCTOOL_API_TOKEN\n"
            "  -h, --help          this help\n\n"
            "Environment: SYNCTOOL_API_TOKEN enables POST endpoints (Authorization: Bearer\n"
            "TOKEN) and protects reads on non-loopback addresses. See docs/api.md.\n",
            HTTP_DEFAULT_LISTEN);
}

/* Records this process's heartbeat; problems are logged at debug only. */
static void serve_beat(const cli_ctx *ctx, const char *name) {
    config *cfg = NULL;
    st_error err;
    if (config_load(&cfg, ctx->config_dir, NULL, &err) != ST_OK) return;
    state *st = NULL;
    if (state_open(&st, cfg->state_url, &err) == ST_OK &&
        state_beat(st, "serve", name, st_time_now(), &err) != ST_OK)
        log_debug(NULL, NULL, "heartbeat not recorded: %s", err.msg);
    state_close(st);
    config_free(cfg);
}

int cli_cmd_serve(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = HTTP_DEFAULT_LISTEN;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s' (see --help)", argv[optind]);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    http_opts o = {.listen = listen, .config_dir = ctx->config_dir,
                   .token = getenv("SYNCTOOL_API_TOKEN")};
    http_server *srv = NULL;
    st_error err;
    int rc = http_server_start(&srv, &o, &err);
    if (rc != ST_OK) {
        fprintf(stderr, "synctool serve: %s\n", err.msg);
        return rc == ST_EINVAL ? CLI_USAGE : CLI_FAILED;
    }
    char name[160], host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(name, sizeof name, "serve@%s:%ld", host, (long)getpid());
    for (;;) {
        serve_beat(ctx, name);
        struct timespec ts = {.tv_sec = SERVE_BEAT_S};
        int sig = sigtimedwait(&stop, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info(NULL, NULL, "serve: stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    http_server_stop(srv);
    return CLI_OK;
}
