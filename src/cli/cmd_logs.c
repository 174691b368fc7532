/*
 * synctool logs RUN_ID [--json] — one run's log lines.
 *
 * Every finished attempt keeps the last LOG_CAPTURE_MAX_LINES lines logged
 * while it ran (its pipeline's lines and process-wide ones), with its history
 * entry. Text output: a header (pipeline:strategy, status, start, duration,
 * rows, error) then the lines. --json prints the API's RunDetail object
 * (state_run_write_json). A run id with no history entry (never finished,
 * pruned by the `history:` retention, or mistyped) exits 1 with a message
 * that says so.
 */
#include "cli.h"

#include "../json/json.h"
#include "../log/log.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] logs RUN_ID [--json]\n\n"
               "The log lines one run kept (the last %d), with its status, timings and\n"
               "rows. Run ids are in `synctool history PIPELINE` and the dashboard.\n\n"
               "  --json      the run as a JSON object with a \"log\" list of lines\n"
               "  -h, --help  this help\n", LOG_CAPTURE_MAX_LINES);
}

static void print_text(const state_run *r) {
    const state_history_entry *e = &r->entry;
    char started[40];
    st_time_format(e->started_at, started, sizeof started);
    printf("Run %" PRId64 " of %s:%s — %s, started %s", e->run_id, r->pipeline, r->strategy,
           state_status_name(e->status), started);
    if (e->started_at != ST_TIME_NONE && e->finished_at != ST_TIME_NONE)
        printf(", took %.1fs", (double)(e->finished_at - e->started_at) / ST_USEC);
    printf("\nRows: %" PRId64 " read, %" PRId64 " inserted, %" PRId64 " updated, %" PRId64
           " deleted\n", e->stats.rows_read, e->stats.rows_inserted, e->stats.rows_updated,
           e->stats.rows_deleted);
    if (e->error[0]) printf("Error: %s\n", e->error);
    else if (e->message[0]) printf("Message: %s\n", e->message);
    if (r->log == NULL) {
        printf("\n(no log lines were kept for this run)\n");
        return;
    }
    printf("\n%s", r->log);
    size_t n = strlen(r->log);
    if (n > 0 && r->log[n - 1] != '\n') putchar('\n');
}

static int print_json(const state_run *r) {
    json_writer w;
    json_init(&w);
    state_run_write_json(&w, r, true);
    int rc = w.failed ? CLI_FAILED : CLI_OK;
    if (w.failed) fprintf(stderr, "synctool logs: out of memory\n");
    else printf("%s\n", w.buf);
    json_release(&w);
    return rc;
}

static int show(const cli_ctx *ctx, int64_t run_id, bool json) {
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    state *st = NULL;
    if ((rc = cli_open_state(cfg, &st)) == CLI_OK) {
        state_run r;
        st_error err;
        int src = state_run_get(st, run_id, &r, &err);
        if (src == ST_OK) {
            if (json) rc = print_json(&r);
            else print_text(&r);
        } else if (src == ST_ENOTFOUND) {
            rc = cli_error("logs", "not_found", CLI_FAILED,
                           "no run %" PRId64 " in history (not finished yet, pruned by the "
                           "history retention, or a wrong id; see synctool history PIPELINE)",
                           run_id);
        } else {
            rc = cli_error("logs", "state_unavailable", CLI_FAILED, "%s", err.msg);
        }
        state_run_clear(&r);
    }
    state_close(st);
    config_free(cfg);
    return rc;
}

int cli_cmd_logs(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 'j') json = true;
        else { usage(stderr); return CLI_USAGE; }
    }
    if (argc - optind != 1) return cli_usage_error("logs", "expected one RUN_ID (see --help)");
    int64_t run_id;
    if (cli_parse_int("RUN_ID", argv[optind], &run_id) != CLI_OK) return CLI_USAGE;
    return show(ctx, run_id, json);
}
