/*
 * synctool check [PIPELINE] [--timeout SECS] [--json] — "will this
 * pipeline work?" before a real run (the check module, src/check/).
 *
 * Connects to every datastore the pipeline(s) use, in parallel, each within
 * --timeout (default 10 s), and prints per pipeline one line per check:
 * `ok`, `warning` or `problem`, with the statement that fixes it when there
 * is one (the CREATE INDEX for a delta cursor, the SQL `ddl apply` would
 * run). Then the state and lock store. Changes nothing.
 *
 * --json: {"ok", "pipelines": [{"pipeline", "status", "checks": [{"check",
 * "status", "message", "sql"}]}], "store": {"status", "checks": [...]}}
 * with status "ok", "warning" or "problem".
 * Exit 0 no problem (warnings allowed), 1 problems found, 2 config error.
 */
#include "cli.h"

#include "../check/check.h"
#include "../json/json.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool check [PIPELINE] [--timeout SECS] [--json]\n\n"
               "Connects to the datastores of PIPELINE (default: every pipeline), in\n"
               "parallel, and checks: the source table is reachable; every configured\n"
               "column exists with a compatible type; the key is a primary key or unique\n"
               "index; each delta cursor is indexed together with the key (else the\n"
               "CREATE INDEX to run); the destination exists and matches (else the SQL\n"
               "`ddl apply` would run, also `synctool ddl plan N`); the fencing table is\n"
               "writable; the state and lock store are reachable. Changes nothing.\n\n"
               "  --timeout SECS  per connection (default 10)\n"
               "  --json          {ok, pipelines: [{pipeline, status, checks: [{check,\n"
               "                  status, message, sql}]}], store: {status, checks}}\n\n"
               "Exit: 0 no problem (warnings allowed), 1 problems found, 2 config error.\n");
}

static void print_text(const check_report *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        check_level w = check_worst(&r[i]);
        printf("%s%s: %s\n", i ? "\n" : "", i + 1 == n ? "state and lock store" : r[i].subject,
               w == CHECK_OK ? "ok" : w == CHECK_WARN ? "ok, with warnings" : "PROBLEMS");
        for (size_t j = 0; j < r[i].n; j++) {
            const check_item *it = &r[i].items[j];
            printf("  %-8s %-13s %s\n", check_level_name(it->level), it->name, it->message);
        }
    }
}

static void json_checks(json_writer *w, const check_report *r) {
    json_kv_string(w, "status", check_level_name(check_worst(r)));
    json_key(w, "checks");
    json_begin_array(w);
    for (size_t j = 0; j < r->n; j++) {
        json_begin_object(w);
        json_kv_string(w, "check", r->items[j].name);
        json_kv_string(w, "status", check_level_name(r->items[j].level));
        json_kv_string(w, "message", r->items[j].message);
        json_kv_text(w, "sql", r->items[j].sql);
        json_end_object(w);
    }
    json_end_array(w);
}

static int print_json(const check_report *r, size_t n, bool ok) {
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_bool(&w, "ok", ok);
    json_key(&w, "pipelines");
    json_begin_array(&w);
    for (size_t i = 0; i + 1 < n; i++) {
        json_begin_object(&w);
        json_kv_string(&w, "pipeline", r[i].subject);
        json_checks(&w, &r[i]);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_key(&w, "store");
    json_begin_object(&w);
    json_checks(&w, &r[n - 1]);
    json_end_object(&w);
    json_end_object(&w);
    int rc = cli_print_json("check", &w);
    json_release(&w);
    return rc;
}

int cli_cmd_check(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"timeout", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    int64_t timeout = 10;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 'j') json = true;
        else if (c == 't') { if (cli_parse_int("--timeout", optarg, &timeout)) return CLI_USAGE; }
        else { usage(stderr); return CLI_USAGE; }
    }
    if (argc - optind > 1) return cli_usage_error("check", "expected at most one PIPELINE");
    if (timeout < 1) return cli_usage_error("check", "--timeout must be at least 1");
    config *cfg = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *only = NULL;
    if (optind < argc && (only = config_pipeline_find(cfg, argv[optind])) == NULL) {
        rc = cli_unknown_pipeline("check", cfg, argv[optind]);
        config_free(cfg);
        return rc;
    }
    check_report *r = NULL;
    size_t n = 0;
    if (check_run(cfg, only, timeout * 1000, &r, &n) != ST_OK) {
        config_free(cfg);
        return cli_error("check", "out_of_memory", CLI_FAILED, "out of memory");
    }
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok = ok && check_worst(&r[i]) != CHECK_PROBLEM;
    if (json) rc = print_json(r, n, ok);
    else print_text(r, n);
    if (rc == CLI_OK && !ok) rc = CLI_FAILED;
    check_reports_free(r, n);
    config_free(cfg);
    return rc;
}
