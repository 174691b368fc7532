/*
 * synctool diff PIPELINE [--strategy S] [--keys] [--limit K] [--json] —
 * what a sync would change, writing nothing (the data-diff question).
 *
 * It runs the sync module's hash comparison (sync_run with opts.diff set,
 * src/sync/sync_diff.c): the same digests, recursion and leaf merges a hash
 * run uses, with every change counted instead of written. The settings
 * (segment_rows, batch_size) are those of --strategy S, of the pipeline's
 * first hash strategy, or of its first strategy; whatever S's type, the
 * comparison is the hash one (a delta could not see deletes).
 *
 * Like a run it holds the destination's table lock SHARED for the whole
 * comparison (renewed every ttl/3), so a schema change cannot run under it
 * and it does not wait for other syncs; a busy table lock (a schema change
 * running) exits 75 after --table-lock-timeout (default the pipeline's
 * table_lock_wait_timeout when wait_for_table_lock, else 0). It takes no
 * pipeline lock, opens no destination transaction, checks and writes no
 * fencing token and records nothing in state.
 *
 * Output: counts of rows to insert, update and delete; the pipeline's
 * compare: false columns ("ignored columns: views"), whose differences
 * alone are not counted (the hash comparison leaves them out); with --keys
 * the first K (--limit, default 10) keys of each kind, and for each update
 * the destination columns that differ (an ignored one among them when it
 * differs too: it is written with the row). --json:
 *   {"pipeline", "strategy", "identical", "inserts", "updates", "deletes",
 *    "ignored_columns": [NAME], "duration_s", "keys": {"insert": [KEY],
 *    "update": [{"key", "columns"}], "delete": [KEY]}}
 *   (keys only with --keys; KEY is "id=17"; NAME a destination column)
 * Exit 0 identical, 1 differences found (as diff(1)), 2 error or usage,
 * 75 table lock busy.
 */
#include "cli.h"

#include "../json/json.h"
#include "../lock/lock.h"
#include "../sync/sync.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct diff_args {
    const char *pipeline, *strategy;
    bool keys, json;
    int64_t limit, lock_timeout;   /* lock_timeout -1: from the config */
} diff_args;

static void usage(FILE *f) {
    fprintf(f,
            "usage: synctool diff PIPELINE [--strategy S] [--keys] [--limit K]\n"
            "                     [--table-lock-timeout SECS] [--json]\n\n"
            "Compares source and destination with the hash strategy's digests and says\n"
            "what a sync would change: rows to insert, update and delete. Writes nothing,\n"
            "records nothing in state; holds the destination's table lock shared, as a\n"
            "run does.\n\n"
            "  --strategy S               use S's settings (default: the first hash strategy)\n"
            "  --keys                     list the first K keys of each kind, and for\n"
            "                             updates the columns that differ\n"
            "  --limit K                  keys per kind with --keys (default 10)\n"
            "  --table-lock-timeout SECS  wait that long for a schema change to finish\n"
            "  --json                     {pipeline, strategy, identical, inserts, updates,\n"
            "                             deletes, ignored_columns, duration_s,\n"
            "                             keys: {insert, update, delete}}\n\n"
            "Columns with compare: false are left out of the comparison (named in the\n"
            "output as ignored columns).\n\n"
            "Exit: 0 identical, 1 differences found, 2 error, 75 table lock busy.\n");
}

static int parse(int argc, char **argv, diff_args *a) {
    static const struct option opts[] = {
        {"strategy", required_argument, NULL, 's'}, {"keys", no_argument, NULL, 'k'},
        {"limit", required_argument, NULL, 'l'},    {"json", no_argument, NULL, 'j'},
        {"table-lock-timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *a = (diff_args){.limit = 10, .lock_timeout = -1};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's': a->strategy = optarg; break;
        case 'k': a->keys = true; break;
        case 'j': a->json = true; break;
        case 'l':
            if (cli_parse_int("--limit", optarg, &a->limit)) return CLI_USAGE;
            break;
        case 't':
            if (cli_parse_int("--table-lock-timeout", optarg, &a->lock_timeout)) return CLI_USAGE;
            break;
        case 'h': usage(stdout); return -1;
        case ':': return cli_usage_error("diff", "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error("diff", "unknown option '%s' (see diff --help)",
                                        argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage_error("diff", "missing PIPELINE (see diff --help)");
    a->pipeline = argv[optind++];
    if (optind < argc) return cli_usage_error("diff", "unexpected argument '%s'", argv[optind]);
    return CLI_OK;
}

/* --strategy S, else the first hash strategy, else the first one. */
static const config_strategy *pick(const config_pipeline *p, const char *name) {
    if (name) return config_strategy_find(p, name);
    for (size_t i = 0; i < p->nstrategies; i++)
        if (p->strategies[i].type == CONFIG_STRATEGY_HASH) return &p->strategies[i];
    return p->nstrategies ? &p->strategies[0] : NULL;
}

/* --- output --- */

static void print_text(const config_pipeline *p, const char *strategy, const sync_diff *d,
                       bool keys) {
    bool same = d->inserts + d->updates + d->deletes == 0;
    printf("%s (%s): %s\n", p->name, strategy,
           same ? "identical" : "differences found");
    printf("  to insert: %lld\n  to update: %lld\n  to delete: %lld\n", (long long)d->inserts,
           (long long)d->updates, (long long)d->deletes);
    char ignored[4096];
    if (config_ignored_columns(p, ignored, sizeof ignored) > 0)
        printf("  ignored columns: %s (compare: false: a difference in them alone is not "
               "counted)\n", ignored);
    if (!keys || same) return;
    const struct { const char *what; const sync_diff_list *l; int64_t total; } kinds[] = {
        {"insert", &d->ins, d->inserts}, {"update", &d->upd, d->updates},
        {"delete", &d->del, d->deletes}};
    for (size_t k = 0; k < 3; k++) {
        if (kinds[k].l->n == 0) continue;
        printf("\n%s (first %zu of %lld):\n", kinds[k].what, kinds[k].l->n,
               (long long)kinds[k].total);
        for (size_t i = 0; i < kinds[k].l->n; i++) {
            const sync_diff_entry *e = &kinds[k].l->v[i];
            if (e->columns) printf("  %s  (%s)\n", e->key, e->columns);
            else printf("  %s\n", e->key);
        }
    }
}

static void json_keys(json_writer *w, const char *name, const sync_diff_list *l, bool cols) {
    json_key(w, name);
    json_begin_array(w);
    for (size_t i = 0; i < l->n; i++) {
        if (!cols) {
            json_string(w, l->v[i].key);
            continue;
        }
        json_begin_object(w);
        json_kv_string(w, "key", l->v[i].key);
        json_key(w, "columns");
        json_begin_array(w);
        /* "a, b" -> ["a", "b"] */
        const char *s = l->v[i].columns ? l->v[i].columns : "";
        while (*s) {
            size_t n = strcspn(s, ",");
            char col[256];
            snprintf(col, sizeof col, "%.*s", (int)(n < sizeof col ? n : sizeof col - 1), s);
            json_string(w, col);
            s += n;
            while (*s == ',' || *s == ' ') s++;
        }
        json_end_array(w);
        json_end_object(w);
    }
    json_end_array(w);
}

static int print_json(const config_pipeline *p, const char *strategy, const sync_diff *d,
                      bool keys, double seconds) {
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_string(&w, "pipeline", p->name);
    json_kv_string(&w, "strategy", strategy);
    json_kv_bool(&w, "identical", d->inserts + d->updates + d->deletes == 0);
    json_kv_int(&w, "inserts", d->inserts);
    json_kv_int(&w, "updates", d->updates);
    json_kv_int(&w, "deletes", d->deletes);
    json_key(&w, "ignored_columns");
    json_begin_array(&w);
    for (size_t i = 0; i < p->ncolumns; i++)
        if (p->columns[i].ignored)
            json_string(&w, p->columns[i].dest_name ? p->columns[i].dest_name
                                                     : p->columns[i].name);
    json_end_array(&w);
    json_kv_seconds(&w, "duration_s", seconds);
    json_key(&w, "keys");
    if (keys) {
        json_begin_object(&w);
        json_keys(&w, "insert", &d->ins, false);
        json_keys(&w, "update", &d->upd, true);
        json_keys(&w, "delete", &d->del, false);
        json_end_object(&w);
    } else {
        json_null(&w);
    }
    json_end_object(&w);
    int rc = cli_print_json("diff", &w);
    json_release(&w);
    return rc;
}

/* --- the comparison under the shared table lock --- */

static int compare(const config *cfg, const config_pipeline *p, const config_strategy *s,
                   lock_manager *lm, const diff_args *a, sync_diff *d, double *seconds) {
    char key[320];
    lock_key_table(key, sizeof key, p->destination.datastore, p->destination.schema,
                   p->destination.table);
    int64_t wait = a->lock_timeout >= 0 ? a->lock_timeout
                   : p->locks.wait_for_table_lock ? p->locks.table_lock_wait_timeout : 0;
    int64_t ttl = (p->locks.lease_ttl_seconds > 0 ? p->locks.lease_ttl_seconds : 30) * 1000;
    lock_handle h;
    st_error err;
    int rc = lock_acquire_wait(lm, key, LOCK_SHARED, ttl, wait * 1000, &h, &err);
    if (rc == ST_EBUSY || rc == ST_ETIMEOUT)
        return cli_error("diff", "skipped", CLI_SKIPPED,
                         "table lock %s is held by a schema change%s; nothing compared", key,
                         wait > 0 ? " (waited)" : "");
    if (rc != ST_OK)
        return cli_error("diff", "lock_unavailable", CLI_USAGE, "table lock %s: %s", key,
                         err.msg);
    atomic_int cancel = 0;
    lock_renewer *ren = NULL;
    const lock_handle *hs[] = {&h};
    lock_renewer_start(&ren, lm, hs, 1, ttl / 3, &cancel, NULL);
    config_strategy hs_cfg = *s;    /* the hash comparison with S's settings */
    hs_cfg.type = CONFIG_STRATEGY_HASH;
    sync_opts so = {.cfg = cfg, .pipeline = p, .strategy = &hs_cfg, .cancel = &cancel,
                    .now = st_time_now(), .diff = d};
    state_stats stats;
    rc = sync_run(&so, &stats, &err);
    lock_renewer_stop(ren);
    lock_release(lm, &h, NULL);
    *seconds = stats.seconds;
    if (rc != ST_OK) return cli_error("diff", "failed", CLI_USAGE, "%s", err.msg);
    return CLI_OK;
}

int cli_cmd_diff(cli_ctx *ctx, int argc, char **argv) {
    diff_args a;
    int rc = parse(argc, argv, &a);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    config *cfg = NULL;
    if ((rc = cli_load_config(ctx, &cfg)) != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, a.pipeline);
    const config_strategy *s = p ? pick(p, a.strategy) : NULL;
    lock_manager *lm = NULL;
    st_error err;
    sync_diff d = {.limit = a.keys ? (size_t)a.limit : 0};
    double seconds = 0;
    if (p == NULL) rc = cli_unknown_pipeline("diff", cfg, a.pipeline);
    else if (s == NULL && a.strategy) rc = cli_unknown_strategy("diff", p, a.strategy);
    else if (s == NULL) rc = cli_usage_error("diff", "pipeline '%s' has no strategy", p->name);
    else if (lock_open(&lm, &cfg->state_url, &err) != ST_OK)
        rc = cli_error("diff", "lock_unavailable", CLI_USAGE, "cannot open locks: %s", err.msg);
    else if ((rc = compare(cfg, p, s, lm, &a, &d, &seconds)) == CLI_OK) {
        rc = a.json ? print_json(p, s->name, &d, a.keys, seconds)
                    : (print_text(p, s->name, &d, a.keys), CLI_OK);
        if (rc == CLI_OK && d.inserts + d.updates + d.deletes > 0) rc = CLI_FAILED;
    }
    sync_diff_free(&d);
    lock_close(lm);
    config_free(cfg);
    return rc;
}
