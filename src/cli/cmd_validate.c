/*
 * synctool validate [--json] — check every config file, open nothing.
 *
 * Loads the config directory with config_load() and reports every problem
 * it found, not only the first. Text mode prints each problem to stderr as
 * `file:line:col: message`, where file is relative to the config directory
 * (`pipelines/orders.yaml:7:5: strategies[1].cron: ...`), and on success one
 * line to stdout: `OK: N pipelines, M strategies (DIR)` with DIR absolute.
 * --json prints one object to stdout either way:
 *   {"ok", "config_dir", "pipelines", "strategies",
 *    "problems": [{"file", "line", "col", "message"}], "error"}
 * where "error" is set when the load stopped early (missing directory or
 * datastores.yaml) and there are no located problems.
 *
 * Warnings (valid, but worth knowing: a numeric column into SQLite that
 * may hold more digits than SQLite keeps exact, sync_ddl_caveats; a
 * datastore whose ${VAR} is unset here, so it cannot be opened: every
 * other command resolves variables only for the datastores it touches) go
 * to stderr as `file:line:col: warning: ...` in text mode; --json lists the
 * unset variables under "warnings" [{file, line, col, message}].
 *
 * Exit 0 when valid, 2 on any problem. Validation never opens a database or
 * the state store: it is safe to run against a production config.
 */
#include "cli.h"

#include "../json/json.h"
#include "../sync/sync.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] validate [--json]\n\n"
               "Checks datastores.yaml and every pipelines/*.yaml without opening any\n"
               "database. Problems go to stderr as FILE:LINE:COL: MESSAGE, FILE relative\n"
               "to the config directory; exit 2 if there is any, else prints\n"
               "\"OK: N pipelines, M strategies (DIR)\" and exits 0.\n\n"
               "  --json     one JSON object on stdout: ok, config_dir, pipelines,\n"
               "             strategies, problems [{file, line, col, message}], error\n"
               "  -h, --help this help\n");
}

static size_t count_strategies(const config *cfg) {
    size_t n = 0;
    for (size_t i = 0; cfg && i < cfg->npipelines; i++) n += cfg->pipelines[i].nstrategies;
    return n;
}

/* The warning about d's unset ${VAR} into buf (d->env_unset != NULL),
 * naming the pipelines it would fail. */
static void env_warning(const config *cfg, const config_datastore *d, char *buf, size_t n) {
    char users[512] = "";
    size_t used = 0, count = 0;
    for (size_t i = 0; i < cfg->npipelines && used < sizeof users; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        if (strcmp(p->source.datastore, d->name) != 0 &&
            strcmp(p->destination.datastore, d->name) != 0)
            continue;
        used += (size_t)snprintf(users + used, sizeof users - used, "%s%s", count ? ", " : "",
                                 p->name);
        count++;
    }
    if (count > 0)
        snprintf(buf, n, "%s: environment variable %s is not set: datastore '%s' cannot be "
                 "opened, so the runs of pipeline%s %s fail until it is set", d->env_unset_key,
                 d->env_unset, d->name, count == 1 ? "" : "s", users);
    else
        snprintf(buf, n, "%s: environment variable %s is not set: datastore '%s' cannot be "
                 "opened (no pipeline uses it; other datastores are not affected)",
                 d->env_unset_key, d->env_unset, d->name);
}

static void json_warnings(json_writer *w, const config *cfg) {
    json_key(w, "warnings");
    json_begin_array(w);
    for (size_t i = 0; cfg && i < cfg->ndatastores; i++) {
        const config_datastore *d = &cfg->datastores[i];
        if (d->env_unset == NULL) continue;
        char msg[1024];
        env_warning(cfg, d, msg, sizeof msg);
        json_begin_object(w);
        json_kv_string(w, "file", d->file);
        json_kv_int(w, "line", d->env_unset_line);
        json_kv_int(w, "col", d->env_unset_col);
        json_kv_string(w, "message", msg);
        json_end_object(w);
    }
    json_end_array(w);
}

static int print_json(const char *dir, const config *cfg, const config_problems *probs,
                      const st_error *err, int rc) {
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_bool(&w, "ok", rc == ST_OK);
    json_kv_string(&w, "config_dir", cfg ? cfg->dir : dir);
    json_kv_int(&w, "pipelines", cfg ? (int64_t)cfg->npipelines : 0);
    json_kv_int(&w, "strategies", (int64_t)count_strategies(cfg));
    json_key(&w, "problems");
    json_begin_array(&w);
    for (size_t i = 0; i < probs->n; i++) {
        const config_problem *p = &probs->details[i];
        json_begin_object(&w);
        json_kv_string(&w, "file", p->file);
        json_kv_int(&w, "line", p->line);
        json_kv_int(&w, "col", p->col);
        json_kv_string(&w, "message", p->message);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_warnings(&w, cfg);
    json_kv_string(&w, "error", rc != ST_OK && probs->n == 0 ? err->msg : NULL);
    json_end_object(&w);
    int prc = cli_print_json("validate", &w);
    json_release(&w);
    if (prc != CLI_OK) return prc;
    return rc == ST_OK ? CLI_OK : CLI_USAGE;
}

static void caveat_print(void *arg, const config_pipeline *p, const config_column *c,
                         const char *msg) {
    (void)arg;
    (void)c;
    fprintf(stderr, "%s:%d:%d: warning: pipeline '%s': %s\n", p->file, p->line, p->col,
            p->name, msg);
}

static int print_text(const config *cfg, const config_problems *probs, const st_error *err,
                      int rc) {
    if (rc == ST_OK) {
        for (size_t i = 0; i < cfg->ndatastores; i++) {
            const config_datastore *d = &cfg->datastores[i];
            if (d->env_unset == NULL) continue;
            char msg[1024];
            env_warning(cfg, d, msg, sizeof msg);
            fprintf(stderr, "%s:%d:%d: warning: %s\n", d->file, d->env_unset_line,
                    d->env_unset_col, msg);
        }
        for (size_t i = 0; i < cfg->npipelines; i++)
            sync_ddl_caveats(cfg, &cfg->pipelines[i], caveat_print, NULL);
        size_t np = cfg->npipelines, ns = count_strategies(cfg);
        printf("OK: %zu pipeline%s, %zu strateg%s (%s)\n", np, np == 1 ? "" : "s", ns,
               ns == 1 ? "y" : "ies", cfg->dir);
        return CLI_OK;
    }
    for (size_t i = 0; i < probs->n; i++) fprintf(stderr, "%s\n", probs->items[i]);
    if (probs->n == 0) fprintf(stderr, "synctool validate: %s\n", err->msg);
    return rc == ST_ENOMEM ? CLI_FAILED : CLI_USAGE;
}

int cli_cmd_validate(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool as_json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error("validate", "unexpected argument '%s' (see --help)", argv[optind]);
    config *cfg = NULL;
    config_problems probs = {0};
    st_error err = {0};
    int rc = config_load(&cfg, ctx->config_dir, &probs, &err);
    int out = as_json ? print_json(ctx->config_dir, cfg, &probs, &err, rc)
                      : print_text(cfg, &probs, &err, rc);
    config_problems_clear(&probs);
    config_free(cfg);
    return out;
}
