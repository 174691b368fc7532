/*
 * synctool ddl apply PIPELINE [--lock-timeout SECS] [--migrate] — create or
 * alter the destination table of a pipeline from its `columns`
 * (sync_ddl_apply_ex); --migrate rewrites SQLite columns of another type
 * (tables made by earlier versions) in place, every row kept.
 *
 * The schema change runs under the EXCLUSIVE table lock
 * (synctool:table:<datastore>:<schema>:<table>), so it waits for running
 * syncs (which hold it shared) and no sync starts while it runs. It waits
 * up to --lock-timeout seconds (default: the pipeline's
 * table_lock_wait_timeout); still busy then: exit 75 (skipped), nothing
 * changed. Exit codes: 0 done, 1 failed (type change refused, database
 * error), 2 usage or config error, 75 lock busy.
 *
 * synctool ddl plan PIPELINE prints the SQL `ddl apply` would run now
 * (sync_ddl_plan), one statement per line, or "-- ... matches the config";
 * it takes no lock and changes nothing. Exit 0, 1 (unreachable, type
 * change), 2.
 *
 * A pipeline with a cdc strategy: apply also makes the publication and the
 * replication slot on the source when there is no stream yet
 * (sync_cdc_prepare, still under the table lock, so no run starts
 * meanwhile), and plan prints the replication commands it would run.
 */
#include "cli.h"

#include "../lock/lock.h"
#include "../store/store.h"
#include "../log/log.h"
#include "../sync/sync.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ddl_help(FILE *f) {
    fprintf(f, "usage: synctool ddl apply PIPELINE [--lock-timeout SECS] [--migrate]\n"
               "       synctool ddl plan PIPELINE\n\n"
               "plan prints the SQL apply would run (nothing is changed).\n\n"
               "Creates the destination table of PIPELINE from its columns (types mapped\n"
               "per engine, primary key on the key columns), or adds missing columns.\n"
               "Column type changes are refused, except with --migrate on SQLite: the\n"
               "table is rewritten in place with the config's types (tables made by\n"
               "earlier versions kept numerics, booleans and timestamps as TEXT), every\n"
               "row kept, in one transaction. Runs under the exclusive table lock,\n"
               "waiting up to SECS for running syncs (default table_lock_wait_timeout).\n"
               "A pipeline with a cdc strategy: also creates the publication and the\n"
               "replication slot on its PostgreSQL source when there is no stream yet (the\n"
               "first cdc run copies the table in full, then replays the slot).\n"
               "Exit: 0 done, 1 failed, 2 usage, 75 table lock busy.\n");
}

/* Prints statements line by line with the destination's secrets (values
 * from ${VAR}, e.g. a database name) shown as "(value hidden)". */
static void ddl_print_sql(const config *cfg, const config_pipeline *p, const char *sql) {
    const config_datastore *ds = config_datastore_find(cfg, p->destination.datastore);
    for (const char *at = sql; *at;) {
        size_t len = strcspn(at, "\n");
        size_t cap = len * 15 + 64;   /* every character a secret of its own, at worst */
        char *line = malloc(cap);
        if (line == NULL) break;
        store_hide_secrets(ds, line, cap, at);
        printf("%s\n", line);
        free(line);
        at += len + (at[len] == '\n');
    }
}

/* What apply did: the statements it ran (the plan taken under the lock),
 * or that nothing was needed. */
static void ddl_print_done(const config *cfg, const config_pipeline *p, const char *sql) {
    const char *ds = p->destination.datastore, *schema = config_schema_shown(&p->destination);
    if (sql == NULL) {
        printf("ddl apply %s: %s.%s.%s now matches the config (what was created, added or "
               "migrated is logged)\n", p->name, ds, schema, p->destination.table);
        return;
    }
    if (sql[0] == '\0') {
        printf("ddl apply %s: %s.%s.%s already matches the config: nothing changed\n", p->name,
               ds, schema, p->destination.table);
        return;
    }
    printf("ddl apply %s: ran\n", p->name);
    ddl_print_sql(cfg, p, sql);
    printf("ddl apply %s: %s.%s.%s now matches the config\n", p->name, ds, schema,
           p->destination.table);
}

/* The cdc part (sync_cdc_prepare) of plan or apply: *out "" when none. */
static int ddl_cdc(const config *cfg, const config_pipeline *p, bool apply, char **out,
                   st_error *err) {
    bool cdc = false;
    for (size_t i = 0; i < p->nstrategies; i++) cdc |= p->strategies[i].type == CONFIG_STRATEGY_CDC;
    *out = NULL;
    if (!cdc) return (*out = strdup("")) ? ST_OK : st_error_set(err, ST_ENOMEM, "out of memory");
    state *st = NULL;
    if (cli_open_state(cfg, &st) != CLI_OK)
        return st_error_set(err, ST_EUNAVAIL, "cdc: the state store (for the strategy's "
                            "position) cannot be opened");
    int rc = sync_cdc_prepare(cfg, p, st, apply, out, err);
    state_close(st);
    return rc;
}

static int ddl_locked(const config *cfg, const config_pipeline *p, int64_t timeout_s,
                      bool migrate) {
    lock_manager *lm = NULL;
    lock_handle h;
    st_error err;
    char key[320];
    lock_key_table(key, sizeof key, p->destination.datastore, p->destination.schema,
                   p->destination.table);
    if (lock_open(&lm, &cfg->state_url, &err) != ST_OK) {
        fprintf(stderr, "synctool ddl: cannot open locks: %s\n", err.msg);
        return CLI_FAILED;
    }
    int64_t ttl = (p->locks.lease_ttl_seconds > 0 ? p->locks.lease_ttl_seconds : 30) * 1000;
    int rc = lock_acquire_wait(lm, key, LOCK_EXCLUSIVE, ttl, timeout_s * 1000, &h, &err);
    if (rc == ST_ETIMEOUT || rc == ST_EBUSY) {
        fprintf(stderr, "synctool ddl: table lock %s busy after %llds, nothing changed\n", key,
                (long long)timeout_s);
        lock_close(lm);
        return CLI_SKIPPED;
    }
    if (rc != ST_OK) {
        fprintf(stderr, "synctool ddl: table lock %s: %s\n", key, err.msg);
        lock_close(lm);
        return CLI_FAILED;
    }
    /* the plan, taken under the exclusive table lock, is what apply runs next */
    char *sql = NULL;   /* --migrate: the plan refuses what it rewrites; apply logs it */
    rc = migrate ? ST_OK : sync_ddl_plan(cfg, p, &sql, &err);
    if (rc == ST_OK) rc = sync_ddl_apply_ex(cfg, p, migrate, &err);
    char *made = NULL;
    if (rc == ST_OK) {
        ddl_print_done(cfg, p, sql);
        rc = ddl_cdc(cfg, p, true, &made, &err);
    }
    lock_release(lm, &h, NULL);
    lock_close(lm);
    free(sql);
    if (rc != ST_OK) {
        fprintf(stderr, "synctool ddl: %s\n", err.msg);
        return CLI_FAILED;
    }
    if (made[0]) printf("ddl apply %s: %s\n", p->name, made);
    free(made);
    return CLI_OK;
}

static int ddl_plan(const config *cfg, const config_pipeline *p) {
    char *sql = NULL, *cdc = NULL;
    st_error err;
    if (sync_ddl_plan(cfg, p, &sql, &err) != ST_OK)
        return cli_error("ddl", "failed", CLI_FAILED, "%s", err.msg);
    if (ddl_cdc(cfg, p, false, &cdc, &err) != ST_OK) {
        free(sql);
        return cli_error("ddl", "failed", CLI_FAILED, "%s", err.msg);
    }
    if (sql[0] == '\0' && cdc[0] == '\0')
        printf("-- %s.%s.%s matches the config: nothing to do\n", p->destination.datastore,
               config_schema_shown(&p->destination), p->destination.table);
    else if (sql[0] != '\0')
        ddl_print_sql(cfg, p, sql);
    if (cdc[0] != '\0') printf("%s\n", cdc);
    free(sql);
    free(cdc);
    return CLI_OK;
}

int cli_cmd_ddl(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"lock-timeout", required_argument, NULL, 'l'},
                                         {"migrate", no_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t timeout = -1;
    bool migrate = false;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': ddl_help(stdout); return CLI_OK;
        case 'm': migrate = true; break;
        case 'l':
            if (cli_parse_int("--lock-timeout", optarg, &timeout)) return CLI_USAGE;
            break;
        case ':': return cli_usage_error("ddl", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("ddl", "unknown option '%s' (see ddl --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage_error("ddl", "missing subcommand: ddl apply PIPELINE");
    bool plan = strcmp(argv[optind], "plan") == 0;
    if (strcmp(argv[optind], "apply") != 0 && !plan)
        return cli_usage_error("ddl", "unknown subcommand '%s' (apply or plan)", argv[optind]);
    if (optind + 2 != argc)
        return cli_usage_error("ddl", "expected exactly one PIPELINE: ddl %s PIPELINE",
                               argv[optind]);
    config *cfg = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, argv[optind + 1]);
    if (p == NULL) {
        rc = cli_unknown_pipeline("ddl", cfg, argv[optind + 1]);
        config_free(cfg);
        return rc;
    }
    if (plan) rc = ddl_plan(cfg, p);
    else rc = ddl_locked(cfg, p, timeout >= 0 ? timeout : p->locks.table_lock_wait_timeout,
                         migrate);
    config_free(cfg);
    return rc;
}
