/*
 * synctool reset PIPELINE [--strategy S] — clear failures and the paused
 * state (DESIGN §3 rule 2: a strategy that failed max_retry_count times in a
 * row stays paused until reset).
 *
 * For each selected strategy whose state records a failure (status failed,
 * a retry count or an error) or cannot be read: status becomes idle,
 * retry_count 0 and the error is cleared (state_reset). last_run,
 * last_scheduled_at, last_attempted_at and the run id are kept, so the
 * scheduler's slot arithmetic still works and older runs stay stale. Prints
 * one line per strategy saying what it was and what it did. Strategies with
 * no state or no failure are left alone (a skipped strategy keeps its
 * in-slot retry, a running one its status) and reported as such. Exit 0 unless the state cannot be written.
 */
#include "cli.h"

#include "../time/st_time.h"
#include "../why/why.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] reset PIPELINE [--strategy S]\n\n"
               "Clears failures and the paused state (status idle, retry count 0, error\n"
               "cleared) of every strategy of PIPELINE, or only of strategy S.\n\n"
               "  --strategy S  only strategy S\n"
               "  -h, --help    this help\n");
}

/* Resets one pair and prints what happened. Returns CLI_OK or CLI_FAILED. */
static int reset_one(state *st, const char *p, const char *s) {
    state_record before;
    st_error err;
    int rc = state_get(st, p, s, &before, &err);
    bool known = rc == ST_OK;
    if (rc == ST_ENOTFOUND) {
        printf("%s:%s: no state, nothing to reset\n", p, s);
        return CLI_OK;
    }
    if (known && before.status != STATE_FAILED && before.retry_count == 0 && !before.error[0]) {
        printf("%s:%s: nothing to reset (%s, no failures)\n", p, s,
               state_status_name(before.status));
        return CLI_OK;
    }
    if (state_reset(st, p, s, &err) != ST_OK) {
        cli_error("reset", "state_unavailable", CLI_FAILED, "%s:%s: %s", p, s, err.msg);
        return CLI_FAILED;
    }
    char ev[200];
    snprintf(ev, sizeof ev, "Reset by synctool reset (was %s, retry count %lld)",
             known ? state_status_name(before.status) : "unreadable",
             known ? (long long)before.retry_count : 0LL);
    why_event(st, p, s, st_time_now(), ev, 0, NULL); /* the why-journal */
    if (known)
        printf("%s:%s: reset (was %s, retry count %lld)\n", p, s,
               state_status_name(before.status), (long long)before.retry_count);
    else
        printf("%s:%s: reset (record was unreadable)\n", p, s);
    return CLI_OK;
}

int cli_cmd_reset(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"strategy", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *strategy = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 's') strategy = optarg;
        else { usage(stderr); return CLI_USAGE; }
    }
    if (argc - optind != 1) return cli_usage_error("reset", "expected one PIPELINE (see --help)");
    const char *name = argv[optind];
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, name);
    state *st = NULL;
    if (p == NULL)
        rc = cli_unknown_pipeline("reset", cfg, name);
    else if (strategy && config_strategy_find(p, strategy) == NULL)
        rc = cli_unknown_strategy("reset", p, strategy);
    else if ((rc = cli_open_state(cfg, &st)) == CLI_OK)
        for (size_t i = 0; i < p->nstrategies; i++)
            if (!strategy || strcmp(strategy, p->strategies[i].name) == 0)
                if (reset_one(st, p->name, p->strategies[i].name) != CLI_OK) rc = CLI_FAILED;
    state_close(st);
    config_free(cfg);
    return rc;
}
