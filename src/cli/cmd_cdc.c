/*
 * synctool cdc drop PIPELINE — drops the replication slot and the
 * publication the cdc strategy made for PIPELINE on its PostgreSQL source
 * (cdc_slot_name: one name for both), and forgets the position of the
 * pipeline's cdc strategies (their "watermark" becomes empty), so the next
 * cdc run makes them anew and copies the table in full.
 *
 * Why an operator runs it: a slot keeps every WAL segment since its
 * confirmed position on the source's disk; a pipeline that is removed,
 * paused for long, or whose stream no longer matches its columns (a column
 * added on the source) should let go of it. A slot in use by a running cdc
 * run is waited for (DROP_REPLICATION_SLOT ... WAIT) until the run ends.
 * Prints what it dropped; exit 0 also when there was nothing to drop.
 *
 * cli_cdc_drop is the one implementation, shared with `synctool reset
 * PIPELINE --drop-slot` (cmd_reset.c), which takes the pipeline lock first.
 */
#include "cli.h"

#include "../cdc/cdc.h"
#include "../store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] cdc drop PIPELINE\n\n"
               "Drops the replication slot and the publication of PIPELINE's cdc strategy on\n"
               "its PostgreSQL source and forgets the strategy's position: the next cdc run\n"
               "creates them again and copies the table in full. A slot holds WAL on the\n"
               "source until it is read; drop the slot of a pipeline you remove or pause.\n\n"
               "  -h, --help    this help\n");
}

/* 1 when the query returned a row whose first value is "t". */
static int exec_bool(store *s, const char *sql, const char *arg, bool *yes, st_error *err) {
    store_reader *r = NULL;
    const char *params[1] = {arg};
    int rc = store_query_small(s, &r, sql, 1, params, err);
    const char *const *row;
    int n;
    *yes = false;
    if (rc == ST_OK && store_next(s, r, &row, &n, err) == 1)
        *yes = row[0] && strcmp(row[0], "t") == 0;
    store_reader_close(s, r);
    return rc;
}

static int drop_on_source(const config *cfg, const config_pipeline *p, const char *cmd,
                          const char *slot, bool *slot_gone, bool *pub_gone) {
    const config_datastore *ds = config_datastore_find(cfg, p->source.datastore);
    if (!cdc_source_supported(ds))
        return cli_error(cmd, "failed", CLI_FAILED, "pipeline '%s': its source is not "
                         "PostgreSQL, so it has no replication slot", p->name);
    store *s = NULL;
    cdc_repl *repl = NULL;
    st_error err;
    int rc = store_open(&s, ds, &err);
    if (rc == ST_OK)
        rc = exec_bool(s, "SELECT count(*) > 0 FROM pg_replication_slots WHERE slot_name = $1",
                       slot, slot_gone, &err);
    if (rc == ST_OK && *slot_gone) rc = cdc_repl_open(&repl, ds, &err);
    if (rc == ST_OK && *slot_gone) rc = cdc_repl_drop_slot(repl, slot, &err);
    cdc_repl_close(repl);
    if (rc == ST_OK)
        rc = exec_bool(s, "SELECT count(*) > 0 FROM pg_publication WHERE pubname = $1", slot,
                       pub_gone, &err);
    if (rc == ST_OK && *pub_gone) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP PUBLICATION IF EXISTS \"%s\"", slot);
        rc = store_exec(s, sql, 0, NULL, NULL, &err);
    }
    store_close(s);
    if (rc != ST_OK)
        return cli_error(cmd, "failed", CLI_FAILED, "pipeline '%s': dropping replication slot "
                         "%s: %s", p->name, slot, err.msg);
    return CLI_OK;
}

static int forget_positions(const config *cfg, const config_pipeline *p, const char *cmd) {
    state *st = NULL;
    int rc = cli_open_state(cfg, &st);
    for (size_t i = 0; rc == CLI_OK && i < p->nstrategies; i++) {
        if (p->strategies[i].type != CONFIG_STRATEGY_CDC) continue;
        st_error err;
        if (state_meta_put(st, p->name, p->strategies[i].name, "watermark", "", &err) != ST_OK ||
            state_meta_put(st, p->name, p->strategies[i].name, "cdc_slot_ready", "", &err) != ST_OK)
            rc = cli_error(cmd, "state_unavailable", CLI_FAILED, "%s:%s: %s", p->name,
                           p->strategies[i].name, err.msg);
    }
    state_close(st);
    return rc;
}

int cli_cdc_drop(const config *cfg, const config_pipeline *p, const char *cmd) {
    char slot[CDC_NAME_MAX];
    bool slot_gone = false, pub_gone = false;
    cdc_slot_name(p->name, slot);
    int rc = drop_on_source(cfg, p, cmd, slot, &slot_gone, &pub_gone);
    if (rc == CLI_OK) rc = forget_positions(cfg, p, cmd);
    if (rc == CLI_OK)
        printf("%s: %s replication slot %s, %s publication %s; the next cdc run copies the "
               "table in full\n", p->name, slot_gone ? "dropped" : "no", slot,
               pub_gone ? "dropped" : "no", slot);
    return rc;
}

static int cdc_drop(cli_ctx *ctx, const char *name) {
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, name);
    rc = p == NULL ? cli_unknown_pipeline("cdc", cfg, name) : cli_cdc_drop(cfg, p, "cdc");
    config_free(cfg);
    return rc;
}

int cli_cmd_cdc(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        usage(stderr);
        return CLI_USAGE;
    }
    if (optind >= argc) return cli_usage_error("cdc", "expected `cdc drop PIPELINE` (see --help)");
    if (strcmp(argv[optind], "drop") != 0)
        return cli_usage_error("cdc", "unknown cdc command '%s' (expected drop)", argv[optind]);
    optind++;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        usage(stderr);
        return CLI_USAGE;
    }
    if (argc - optind != 1) return cli_usage_error("cdc", "expected one PIPELINE (see --help)");
    return cdc_drop(ctx, argv[optind]);
}
