/*
 * synctool serve [--listen ADDR:PORT] — the HTTP API, /metrics and health
 * endpoints (src/http) as a process of its own.
 *
 * This file only parses argv, reads $SYNCTOOL_API_TOKEN, starts the server
 * and waits for SIGINT/SIGTERM (blocked in every thread and taken with
 * sigtimedwait, so no handler runs inside libmicrohttpd's thread). Every 10 s
 * it records a heartbeat (kind "serve") in the state named by the config, so
 * GET /api/v1/workers lists it. A broken config only skips the heartbeat
 * (the server answers /readyz with the reason). A state store that cannot
 * be reached (Redis down, also at startup) is retried with the backoff of
 * the scheduler and the worker (proc_backoff: 0.5 s doubling to 30 s, one
 * warning per step, "reachable again" once it answers) while the server
 * keeps answering (/readyz 503); with --give-up-after SECS the process
 * exits 69 once the outage has lasted that long.
 * A stop by signal is the normal end of a server: exit 0.
 */
#include "cli.h"

#include "../http/http.h"
#include "../log/log.h"
#include "../proc/proc.h"
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
            "usage: synctool [--config-dir DIR] serve [--listen ADDR:PORT]\n"
            "                                       [--give-up-after SECS]\n\n"
            "Serves the JSON API under /api/v1/, /healthz, /readyz and Prometheus /metrics\n"
            "for the deployment described by the config (its SQLite or Redis state).\n\n"
            "  --listen ADDR:PORT  address to listen on (default %s);\n"
            "                      a non-loopback address needs SYNCTOOL_API_TOKEN\n"
            "  --give-up-after SECS  exit 69 once the state store (Redis) has been\n"
            "                      unreachable this long (default: never; it retries with\n"
            "                      a capped backoff and keeps answering, /readyz 503)\n"
            "  -h, --help          this help\n\n"
            "Environment: SYNCTOOL_API_TOKEN enables POST endpoints (Authorization: Bearer\n"
            "TOKEN) and protects reads on non-loopback addresses. See docs/api.md.\n",
            HTTP_DEFAULT_LISTEN);
}

/* Records this process's heartbeat. Returns ST_OK, or the error of a state
 * store that could not be reached or written (err filled); a config that
 * cannot be loaded is logged at debug only and counts as ST_OK (the server
 * reports it on /readyz). */
static int serve_beat(const cli_ctx *ctx, const char *name, st_error *err) {
    config *cfg = NULL;
    if (config_load(&cfg, ctx->config_dir, NULL, err) != ST_OK) {
        log_debug(NULL, NULL, "heartbeat not recorded: %s", err->msg);
        return ST_OK;
    }
    state *st = NULL;
    int rc = state_open(&st, &cfg->state_url, err);
    if (rc == ST_OK) rc = state_beat(st, "serve", name, st_time_now(), err);
    if (rc != ST_OK) log_debug(NULL, NULL, "heartbeat not recorded: %s", err->msg);
    state_close(st);
    config_free(cfg);
    return rc;
}

/* Beats every SERVE_BEAT_S while the state answers, backs off while it
 * does not. Returns CLI_OK on SIGINT/SIGTERM, PROC_UNAVAILABLE after
 * --give-up-after. */
static int serve_loop(const cli_ctx *ctx, const char *name, const sigset_t *stop,
                      int64_t give_up_s) {
    proc_backoff bo = {.what = "state store"};
    for (;;) {
        st_error err;
        int rc = serve_beat(ctx, name, &err);
        if (rc != ST_OK && proc_backoff_transient(rc)) {
            proc_wait w = proc_backoff_wait(&bo, stop, give_up_s, err.msg);
            if (w == PROC_WAIT_STOP) return CLI_OK;
            if (w == PROC_WAIT_GAVE_UP) return PROC_UNAVAILABLE;
            continue;
        }
        proc_backoff_ok(&bo, st_time_mono_ms());
        struct timespec ts = {.tv_sec = SERVE_BEAT_S};
        int sig = sigtimedwait(stop, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info(NULL, NULL, "serve: stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return CLI_OK;
        }
    }
}

int cli_cmd_serve(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"give-up-after", required_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = HTTP_DEFAULT_LISTEN;
    int64_t give_up_s = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'G':
            if ((c = cli_parse_int("--give-up-after", optarg, &give_up_s)) != CLI_OK) return c;
            break;
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
    rc = serve_loop(ctx, name, &stop, give_up_s);
    http_server_stop(srv);
    return rc;
}
