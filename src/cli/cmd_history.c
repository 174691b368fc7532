/*
 * synctool history PIPELINE [--strategy S] [--limit K] [--json] — past
 * attempts of a pipeline, newest first.
 *
 * Each finished attempt (success, failed, skipped) as the state module
 * recorded it: strategy, run id, started, finished, duration, status, the
 * consecutive-failure count after it, worker, rows inserted/updated/deleted
 * and the message (or the error, for a failure). Without --strategy the
 * histories of all the pipeline's strategies are merged by finish time;
 * --limit (default 20) bounds the total. The store keeps what the `history:`
 * retention of datastores.yaml allows (default 30 days); `synctool logs
 * RUN_ID` shows one run's log lines.
 *
 * --json prints a list of Run objects through the one writer of a run
 * (state_run_write_json: `logs --json` and the API's runs print the same),
 * without their log lines; duration_s has millisecond precision, unknown
 * values are null.
 */
#include "cli.h"

#include "../json/json.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] history PIPELINE [--strategy S] "
               "[--limit K] [--json]\n\n"
               "Past attempts of PIPELINE, newest first: started, finished, duration,\n"
               "status, retry count, worker, rows and message or error.\n\n"
               "  --strategy S  only strategy S\n"
               "  --limit K     at most K attempts (default 20)\n"
               "  --json        a JSON list of objects\n"
               "  -h, --help    this help\n");
}

typedef struct hist_row {
    const char *strategy;
    state_history_entry e;
} hist_row;

static int by_finish_desc(const void *a, const void *b) {
    const state_history_entry *x = &((const hist_row *)a)->e, *y = &((const hist_row *)b)->e;
    if (x->finished_at != y->finished_at) return x->finished_at < y->finished_at ? 1 : -1;
    return x->run_id < y->run_id ? 1 : (x->run_id > y->run_id ? -1 : 0);
}

/* Reads the history of every selected strategy into one array. */
static int collect(state *st, const config_pipeline *p, const config_strategy *only,
                   size_t limit, hist_row **out, size_t *n) {
    hist_row *rows = NULL;
    size_t len = 0;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *s = &p->strategies[i];
        if (only && only != s) continue;
        state_history_entry *h;
        size_t k;
        st_error err;
        if (state_history(st, p->name, s->name, limit, &h, &k, &err) != ST_OK) {
            free(rows);
            return cli_error("history", "state_unavailable", CLI_FAILED, "%s", err.msg);
        }
        hist_row *nr = realloc(rows, (len + k + 1) * sizeof *nr);
        if (nr == NULL) {
            free(h);
            free(rows);
            fprintf(stderr, "synctool history: out of memory\n");
            return CLI_FAILED;
        }
        rows = nr;
        for (size_t j = 0; j < k; j++) rows[len++] = (hist_row){s->name, h[j]};
        free(h);
    }
    qsort(rows, len, sizeof *rows, by_finish_desc);
    *out = rows;
    *n = len < limit ? len : limit;
    return CLI_OK;
}

static double duration_s(const state_history_entry *e) {
    if (e->started_at == ST_TIME_NONE || e->finished_at == ST_TIME_NONE) return -1;
    return (double)(e->finished_at - e->started_at) / ST_USEC;
}

/* --- text --- */

enum { COLS = 10 };
static const char *const headers[COLS] = {"STRATEGY", "RUN", "STARTED", "FINISHED",
                                          "DURATION", "STATUS", "RETRIES", "WORKER",
                                          "ROWS +INS ~UPD -DEL", "MESSAGE"};

typedef struct row_text {
    char run[24], started[40], finished[40], dur[24], retries[24], rows[80], msg[1100];
    const char *cell[COLS];
} row_text;

static void row_cells(const hist_row *r, row_text *t) {
    const state_history_entry *e = &r->e;
    snprintf(t->run, sizeof t->run, "%lld", (long long)e->run_id);
    st_time_format(e->started_at, t->started, sizeof t->started);
    st_time_format(e->finished_at, t->finished, sizeof t->finished);
    double d = duration_s(e);
    if (d < 0) snprintf(t->dur, sizeof t->dur, "-");
    else snprintf(t->dur, sizeof t->dur, "%.1fs", d);
    snprintf(t->retries, sizeof t->retries, "%lld", (long long)e->retry_count);
    snprintf(t->rows, sizeof t->rows, "+%lld ~%lld -%lld", (long long)e->stats.rows_inserted,
             (long long)e->stats.rows_updated, (long long)e->stats.rows_deleted);
    if (e->error[0]) snprintf(t->msg, sizeof t->msg, "error: %s", e->error);
    else snprintf(t->msg, sizeof t->msg, "%s", e->message);
    const char *cells[COLS] = {r->strategy, t->run, t->started, t->finished, t->dur,
                               state_status_name(e->status), t->retries,
                               e->worker[0] ? e->worker : "-", t->rows, t->msg};
    memcpy(t->cell, cells, sizeof cells);
}

static void print_text(const char *pipeline, const hist_row *rows, size_t n) {
    if (n == 0) {
        printf("No history for %s yet.\n", pipeline);
        return;
    }
    int width[COLS];
    for (int i = 0; i < COLS; i++) width[i] = (int)strlen(headers[i]);
    row_text t;
    for (size_t i = 0; i < n; i++) {
        row_cells(&rows[i], &t);
        for (int k = 0; k < COLS - 1; k++)
            if ((int)strlen(t.cell[k]) > width[k]) width[k] = (int)strlen(t.cell[k]);
    }
    printf("History of %s (newest first)\n\n", pipeline);
    for (int k = 0; k < COLS - 1; k++) printf("%-*s  ", width[k], headers[k]);
    printf("%s\n", headers[COLS - 1]);
    for (size_t i = 0; i < n; i++) {
        row_cells(&rows[i], &t);
        for (int k = 0; k < COLS - 1; k++) printf("%-*s  ", width[k], t.cell[k]);
        printf("%s\n", t.cell[COLS - 1]);
    }
}

/* --- JSON --- */

static int print_json(const char *pipeline, const hist_row *rows, size_t n) {
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    for (size_t i = 0; i < n; i++) {
        state_run run;
        memset(&run, 0, sizeof run);
        snprintf(run.pipeline, sizeof run.pipeline, "%s", pipeline);
        snprintf(run.strategy, sizeof run.strategy, "%s", rows[i].strategy);
        run.entry = rows[i].e;
        state_run_write_json(&w, &run, false);
    }
    json_end_array(&w);
    int rc = cli_print_json("history", &w);
    json_release(&w);
    return rc;
}

/* --- command --- */

static int show(const cli_ctx *ctx, const char *name, const char *strategy, size_t limit,
                bool json) {
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, name);
    const config_strategy *s = p && strategy ? config_strategy_find(p, strategy) : NULL;
    state *st = NULL;
    hist_row *rows = NULL;
    size_t n = 0;
    if (p == NULL)
        rc = cli_unknown_pipeline("history", cfg, name);
    else if (strategy && s == NULL)
        rc = cli_unknown_strategy("history", p, strategy);
    else if ((rc = cli_open_state(cfg, &st)) == CLI_OK &&
             (rc = collect(st, p, s, limit, &rows, &n)) == CLI_OK) {
        if (json) rc = print_json(name, rows, n);
        else print_text(name, rows, n);
    }
    free(rows);
    state_close(st);
    config_free(cfg);
    return rc;
}

int cli_cmd_history(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"strategy", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *strategy = NULL;
    int64_t limit = 20;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 's') strategy = optarg;
        else if (c == 'j') json = true;
        else if (c == 'l') { if (cli_parse_int("--limit", optarg, &limit) != CLI_OK) return CLI_USAGE; }
        else { usage(stderr); return CLI_USAGE; }
    }
    if (argc - optind != 1) return cli_usage_error("history", "expected one PIPELINE (see --help)");
    return show(ctx, argv[optind], strategy, (size_t)limit, json);
}
