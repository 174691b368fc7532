/*
 * synctool list [--json] [--at TIME] — pipelines, strategies and next fire.
 *
 * One row per strategy, in config order: pipeline, strategy, type, cron,
 * zone, enabled, and the next fire time, the first cron instant strictly
 * after now (or after --at, which makes the output reproducible). The next
 * time is "-" (null in JSON) for a strategy without cron, a disabled one
 * (it will not fire), or when the cron module cannot compute it.
 *
 * Text is an aligned table with a header line. --json prints a list of
 * pipeline summaries through the shared writer (view_pipeline_fields, the
 * API's PipelineSummary without the members that need state):
 *   [{"pipeline", "description", "file", "source", "destination",
 *     "strategies": [{"pipeline", "strategy", "type", "cron", "timezone",
 *                     "enabled", "next_fire_at"}]}]
 * with file relative to the config directory and source/destination as
 * objects {"datastore", "schema", "table", "query"}.
 *
 * The clock is read once, here, and passed on; nothing opens a database.
 */
#include "cli.h"

#include "../cron/cron.h"
#include "../view/view.h"
#include "../json/json.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] list [--json] [--at TIME]\n\n"
               "Lists every pipeline's strategies with type, cron, zone, enabled and the\n"
               "next fire time after now (or after --at). Opens no database.\n\n"
               "  --at TIME  ISO-8601 instant, e.g. 2025-10-15T10:06:00Z (no offset: UTC)\n"
               "  --json     a JSON list of pipelines with their strategies\n"
               "  -h, --help this help\n");
}

/* Next fire time after `at`, or ST_TIME_NONE when there is none to show. */
static int64_t next_fire(const config_strategy *s, int64_t at) {
    if (!s->enabled || s->cron == NULL) return ST_TIME_NONE;
    cron_expr *c = NULL;
    int64_t next = ST_TIME_NONE;
    if (cron_parse(&c, s->cron, s->timezone, NULL) == ST_OK && cron_next(c, at, &next) != ST_OK)
        next = ST_TIME_NONE;
    cron_free(c);
    return next;
}

/* --- text --- */

enum { COLS = 7 };
static const char *const headers[COLS] = {"PIPELINE", "STRATEGY", "TYPE", "CRON",
                                          "ZONE", "ENABLED", "NEXT"};

static void row_cells(const config_pipeline *p, const config_strategy *s, int64_t at,
                      const char *cell[COLS], char next[40]) {
    st_time_format(next_fire(s, at), next, 40);
    cell[0] = p->name;
    cell[1] = s->name;
    cell[2] = config_strategy_type_name(s->type);
    cell[3] = s->cron ? s->cron : "-";
    cell[4] = s->timezone ? s->timezone : "UTC";
    cell[5] = s->enabled ? "yes" : "no";
    cell[6] = next;
}

static void print_row(const char *const cell[COLS], const int width[COLS]) {
    for (int i = 0; i < COLS - 1; i++) printf("%-*s  ", width[i], cell[i]);
    printf("%s\n", cell[COLS - 1]);
}

static int print_text(const config *cfg, int64_t at) {
    int width[COLS];
    for (int i = 0; i < COLS; i++) width[i] = (int)strlen(headers[i]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) print_row(headers, width);
        for (size_t i = 0; i < cfg->npipelines; i++) {
            const config_pipeline *p = &cfg->pipelines[i];
            for (size_t j = 0; j < p->nstrategies; j++) {
                const char *cell[COLS];
                char next[40];
                row_cells(p, &p->strategies[j], at, cell, next);
                for (int k = 0; pass == 0 && k < COLS; k++)
                    if ((int)strlen(cell[k]) > width[k]) width[k] = (int)strlen(cell[k]);
                if (pass == 1) print_row(cell, width);
            }
        }
    }
    if (cfg->npipelines == 0) printf("(no pipelines in %s/pipelines)\n", cfg->dir);
    return CLI_OK;
}

/* --- JSON --- */

static int print_json(const config *cfg, int64_t at) {
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    for (size_t i = 0; i < cfg->npipelines; i++) {
        view_pipeline v;
        if (view_build(&v, cfg, &cfg->pipelines[i], NULL, false, at) != ST_OK) {
            w.failed = true;
            break;
        }
        json_begin_object(&w);
        view_pipeline_fields(&w, &v);
        json_end_object(&w);
        view_free(&v);
    }
    json_end_array(&w);
    int rc = cli_print_json("list", &w);
    json_release(&w);
    return rc;
}

int cli_cmd_list(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"at", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool as_json = false;
    int64_t at = ST_TIME_NONE;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'a':
            if (cli_parse_time("--at", optarg, &at) != CLI_OK) return CLI_USAGE;
            break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error("list", "unexpected argument '%s' (see --help)", argv[optind]);
    if (at == ST_TIME_NONE) at = st_time_now();
    config *cfg = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    rc = as_json ? print_json(cfg, at) : print_text(cfg, at);
    config_free(cfg);
    return rc;
}
