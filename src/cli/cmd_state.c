/*
 * synctool state export [--output FILE] | state import FILE|- — the run
 * state as JSON, for backups, moves between backends and test scenarios.
 * synctool state prune [--dry-run] — removes the records (and watermarks)
 * of pipelines and strategies no longer in the config; refused while any
 * config file is invalid, since a pipeline whose file does not load would
 * look unconfigured and lose its state.
 *
 * Format: a JSON list of objects, one per (pipeline, strategy):
 *   {"pipeline", "strategy", "status", "last_run_at", "last_scheduled_at",
 *    "last_attempted_at", "retry_count", "run_id", "worker", "message",
 *    "error", "updated_at", "paused", "watermark"}   (paused: the operator
 *    pause, optional; watermark: the delta strategy's saved position, its
 *    canonical text as state_meta "watermark" holds it, or null)
 * with times as ISO-8601 strings (UTC, "Z") or null, and null for an
 * unknown run_id, worker, message or error. Import also takes every name an
 * earlier version exported (`last_run` for last_run_at) and times without
 * an offset (UTC, as the upstream tool writes them). Export writes one
 * object per line so files diff well; corrupt records are skipped with a
 * warning naming them and the exit code is 1.
 *
 * Import is all or nothing. Every entry is validated before anything is
 * written: pipeline and strategy are required non-empty strings, status
 * (default idle) must be a known status, times must be ISO-8601 or null,
 * retry_count and run_id (default 0) non-negative integers or null,
 * worker/message/error strings or null, no unknown keys (a typo such as
 * "last_runn" would otherwise be silently lost), no pair twice. Each problem
 * is printed as "entry [INDEX] (pipeline:strategy): FIELD: problem" and
 * nothing is imported (exit 2). A valid file is written with
 * state_put_many(): one transaction on SQLite. Entries for pipelines or
 * strategies that are not in the config are imported with a warning, so
 * state can be restored before the config that uses it. A missing
 * updated_at becomes the time of the import. Watermarks are written after
 * the records (state_meta_put, one per entry that has one): moving state
 * between backends keeps every delta where it was instead of re-reading its
 * whole table.
 */
#include "cli.h"

#include "../sched/sched.h"

#include "../json/json.h"
#include "../strbuf/strbuf.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] state export [--output FILE]\n"
               "       synctool [--config-dir DIR] state import [--allow-future] FILE|-\n"
               "       synctool [--config-dir DIR] state prune [--dry-run]\n"
               "       synctool [--config-dir DIR] state init\n"
               "       synctool [--config-dir DIR] state migrate --to URL\n\n"
               "export  writes every state record as a JSON list (stdout or FILE)\n"
               "import  validates every entry of FILE (- for stdin) and writes them all,\n"
               "        or nothing if any entry is invalid (each problem is printed)\n"
               "prune   removes the records and watermarks of pipelines or strategies that\n"
               "        are no longer configured (--dry-run: only lists them); refused while\n"
               "        a config file is invalid. History stays until its retention.\n"
               "init    creates or upgrades the configured store and says what it found\n"
               "        (PostgreSQL: its schema and version)\n"
               "migrate copies state, history, run logs, watermarks, the why-journal,\n"
               "        counters and alerts to the empty store URL names (sqlite:///PATH,\n"
               "        redis://..., postgresql://...; ${VAR} is expanded, so quote it),\n"
               "        then compares counts; refused while a run holds a lock or a\n"
               "        scheduler or worker is alive. The source is left as it was.\n\n"
               "Entry fields: pipeline, strategy, status, last_run_at, last_scheduled_at,\n"
               "last_attempted_at, retry_count, run_id, worker, message, error, updated_at,\n"
               "paused, watermark (a delta strategy's saved position)\n"
               "(times ISO-8601, or null; a time without an offset is UTC). Import also\n"
               "accepts last_run, the name earlier versions exported. An instant later than\n"
               "now (beyond 60 s) is refused unless --allow-future: the scheduler would\n"
               "not trust it.\n");
}

/* --- export --- */

#define STATE_WM_MAX 4096   /* as sync_delta reads it */

static void record_json(json_writer *w, const state_record *r, const char *watermark) {
    json_begin_object(w);
    json_kv_string(w, "pipeline", r->pipeline);
    json_kv_string(w, "strategy", r->strategy);
    json_kv_string(w, "status", state_status_name(r->status));
    json_kv_time(w, "last_run_at", r->last_run);
    json_kv_time(w, "last_scheduled_at", r->last_scheduled_at);
    json_kv_time(w, "last_attempted_at", r->last_attempted_at);
    json_kv_int(w, "retry_count", r->retry_count);
    json_key(w, "run_id");
    if (r->run_id > 0) json_int(w, r->run_id); else json_null(w);
    json_kv_text(w, "worker", r->worker);
    json_kv_text(w, "message", r->message);
    json_kv_text(w, "error", r->error);
    json_kv_time(w, "updated_at", r->updated_at);
    json_kv_bool(w, "paused", r->paused);
    json_kv_string(w, "watermark", watermark);
    json_end_object(w);
}

/* The pair's delta watermark into buf (STATE_WM_MAX), or NULL if none. */
static const char *watermark_of(state *st, const state_record *r, char *buf, int *rc) {
    st_error err;
    int got = state_meta_get(st, r->pipeline, r->strategy, "watermark", buf, STATE_WM_MAX, &err);
    if (got == ST_OK) return buf;
    if (got != ST_ENOTFOUND) {
        fprintf(stderr, "synctool state export: %s:%s: reading the watermark: %s\n",
                r->pipeline, r->strategy, err.msg);
        *rc = CLI_FAILED;
    }
    return NULL;
}

static int write_export(FILE *f, state *st, const state_record *recs, size_t n) {
    fputs("[", f);
    int rc = CLI_OK;
    char *wm = malloc(STATE_WM_MAX);
    if (wm == NULL) return CLI_FAILED;
    for (size_t i = 0; i < n; i++) {
        json_writer w;
        json_init(&w);
        record_json(&w, &recs[i], watermark_of(st, &recs[i], wm, &rc));
        if (w.failed) {
            json_release(&w);
            free(wm);
            return CLI_FAILED;
        }
        fprintf(f, "%s\n  %s", i ? "," : "", w.buf);
        json_release(&w);
    }
    free(wm);
    fputs(n ? "\n]\n" : "]\n", f);
    return ferror(f) ? CLI_FAILED : rc;
}

static int do_export(state *st, const char *output) {
    state_record *recs;
    size_t n;
    st_error err;
    if (state_list(st, &recs, &n, &err) != ST_OK) {
        fprintf(stderr, "synctool state export: %s\n", err.msg);
        return CLI_FAILED;
    }
    bool corrupt = err.code != ST_OK && err.msg[0];
    if (corrupt) fprintf(stderr, "synctool state export: skipped: %s\n", err.msg);
    FILE *f = output ? fopen(output, "w") : stdout;
    int rc = CLI_FAILED;
    if (f == NULL) {
        fprintf(stderr, "synctool state export: cannot write %s\n", output);
    } else {
        rc = write_export(f, st, recs, n);
        if (output && fclose(f) != 0) rc = CLI_FAILED;
        if (rc != CLI_OK) fprintf(stderr, "synctool state export: write failed\n");
        else if (output) fprintf(stderr, "exported %zu records to %s\n", n, output);
    }
    free(recs);
    return rc == CLI_OK && corrupt ? CLI_FAILED : rc;
}

/* --- import: validation --- */

typedef struct import_ctx {
    const config *cfg;
    size_t problems;
    int64_t now;
    bool allow_future;   /* --allow-future: keep instants later than now */
} import_ctx;

static void problem(import_ctx *ic, size_t idx, const state_record *r, const char *field,
                    const char *what) {
    fprintf(stderr, "synctool state import: entry [%zu] (%s:%s): %s: %s\n", idx,
            r->pipeline[0] ? r->pipeline : "?", r->strategy[0] ? r->strategy : "?", field, what);
    ic->problems++;
}

static void take_string(import_ctx *ic, size_t idx, const json_value *o, const char *key,
                        char *dst, size_t n, state_record *r) {
    const json_value *v = json_get(o, key);
    if (v == NULL || v->type == JSON_NULL) return;
    if (v->type != JSON_STRING) {
        problem(ic, idx, r, key, "expected a string or null");
        return;
    }
    if (strlen(v->string) >= n) {
        problem(ic, idx, r, key, "too long");
        return;
    }
    snprintf(dst, n, "%s", v->string);
}

static void take_time(import_ctx *ic, size_t idx, const json_value *o, const char *key,
                      int64_t *dst, state_record *r) {
    const json_value *v = json_get(o, key);
    *dst = ST_TIME_NONE;
    if (v == NULL || v->type == JSON_NULL) return;
    st_error err;
    if (v->type != JSON_STRING)
        {
        problem(ic, idx, r, key, "expected an ISO-8601 timestamp string or null");
        return;
    }
    if (st_time_parse(v->string, dst, &err) != ST_OK) {
        *dst = ST_TIME_NONE;
        problem(ic, idx, r, key, err.msg);
    } else if (!ic->allow_future && strcmp(key, "updated_at") != 0 &&
               *dst > ic->now + SCHED_FUTURE_TOLERANCE_S * ST_USEC) {
        char now[40], msg[200];
        st_time_format(ic->now, now, sizeof now);
        snprintf(msg, sizeof msg, "%s is in the future (now %s): a clock that was ahead? "
                 "Fix the file, or import it anyway with --allow-future", v->string, now);
        problem(ic, idx, r, key, msg);
    }
}

static void take_count(import_ctx *ic, size_t idx, const json_value *o, const char *key,
                       int64_t *dst, state_record *r) {
    const json_value *v = json_get(o, key);
    *dst = 0;
    if (v == NULL || v->type == JSON_NULL) return;
    if (v->type != JSON_NUMBER || !v->is_integer || v->integer < 0)
        {
        problem(ic, idx, r, key, "expected a non-negative integer or null");
        return;
    }
    *dst = v->integer;
}

static const char *const known_keys[] = {
    "pipeline", "strategy", "status", "last_run_at", "last_run", "last_scheduled_at",
    "last_attempted_at",
    "retry_count", "run_id", "worker", "message", "error", "updated_at", "paused", "watermark"};

static void check_keys(import_ctx *ic, size_t idx, const json_value *o, state_record *r) {
    for (size_t i = 0; i < o->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known_keys / sizeof known_keys[0]; k++)
            ok = ok || strcmp(o->keys[i], known_keys[k]) == 0;
        if (!ok) problem(ic, idx, r, o->keys[i], "unknown field");
    }
}

static void check_status(import_ctx *ic, size_t idx, const json_value *o, state_record *r) {
    const json_value *v = json_get(o, "status");
    r->status = STATE_IDLE;
    if (v == NULL) return;
    char what[200];
    if (v->type != JSON_STRING)
        {
        problem(ic, idx, r, "status", "expected a status name");
        return;
    }
    if (state_status_parse(v->string, &r->status) != ST_OK) {
        snprintf(what, sizeof what, "unknown status '%.80s' (idle, pending, running, success, "
                 "failed, skipped, interrupted, lost)", v->string);
        problem(ic, idx, r, "status", what);
    }
}

/* The entry's watermark (a non-empty string, or null / absent: NULL). */
static const char *read_watermark(import_ctx *ic, size_t idx, const json_value *o,
                                  state_record *r) {
    const json_value *v = json_get(o, "watermark");
    if (v == NULL || v->type == JSON_NULL) return NULL;
    if (v->type != JSON_STRING || v->string[0] == '\0') {
        problem(ic, idx, r, "watermark", "expected a non-empty string or null");
        return NULL;
    }
    if (strlen(v->string) >= STATE_WM_MAX) {
        problem(ic, idx, r, "watermark", "too long");
        return NULL;
    }
    return v->string;
}

/* Validates entry idx into *r, printing every problem. */
static void read_entry(import_ctx *ic, size_t idx, const json_value *o, state_record *r) {
    memset(r, 0, sizeof *r);
    if (o->type != JSON_OBJECT) {
        problem(ic, idx, r, "entry", "expected an object");
        return;
    }
    take_string(ic, idx, o, "pipeline", r->pipeline, sizeof r->pipeline, r);
    take_string(ic, idx, o, "strategy", r->strategy, sizeof r->strategy, r);
    if (!r->pipeline[0]) problem(ic, idx, r, "pipeline", "required");
    if (!r->strategy[0]) problem(ic, idx, r, "strategy", "required");
    check_keys(ic, idx, o, r);
    check_status(ic, idx, o, r);
    /* last_run_at; `last_run` is the name earlier versions exported */
    if (json_get(o, "last_run_at") != NULL && json_get(o, "last_run") != NULL)
        problem(ic, idx, r, "last_run", "given together with last_run_at (its new name)");
    take_time(ic, idx, o, json_get(o, "last_run_at") ? "last_run_at" : "last_run",
              &r->last_run, r);
    take_time(ic, idx, o, "last_scheduled_at", &r->last_scheduled_at, r);
    take_time(ic, idx, o, "last_attempted_at", &r->last_attempted_at, r);
    take_time(ic, idx, o, "updated_at", &r->updated_at, r);
    if (json_get(o, "updated_at") == NULL) r->updated_at = ic->now;
    take_count(ic, idx, o, "retry_count", &r->retry_count, r);
    take_count(ic, idx, o, "run_id", &r->run_id, r);
    take_string(ic, idx, o, "worker", r->worker, sizeof r->worker, r);
    take_string(ic, idx, o, "message", r->message, sizeof r->message, r);
    take_string(ic, idx, o, "error", r->error, sizeof r->error, r);
    const json_value *pv = json_get(o, "paused");
    if (pv != NULL && pv->type != JSON_BOOL && pv->type != JSON_NULL)
        problem(ic, idx, r, "paused", "expected true or false");
    r->paused = pv != NULL && pv->type == JSON_BOOL && pv->boolean;
}

static void check_duplicates_and_config(import_ctx *ic, const state_record *recs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(recs[i].pipeline, recs[j].pipeline) == 0 &&
                strcmp(recs[i].strategy, recs[j].strategy) == 0) {
                char what[64];
                snprintf(what, sizeof what, "same pipeline and strategy as entry [%zu]", j);
                problem(ic, i, &recs[i], "strategy", what);
                break;
            }
        if (!recs[i].pipeline[0] || !recs[i].strategy[0]) continue;
        const config_pipeline *p = config_pipeline_find(ic->cfg, recs[i].pipeline);
        if (p == NULL || config_strategy_find(p, recs[i].strategy) == NULL)
            fprintf(stderr, "synctool state import: warning: entry [%zu] (%s:%s) is not in "
                            "the config; importing it anyway\n",
                    i, recs[i].pipeline, recs[i].strategy);
    }
}

/* --- import: reading and writing --- */

/* The whole file, or standard input for "-". */
static int read_input(strbuf *text, const char *path) {
    if (strcmp(path, "-") == 0) return strbuf_read_fd(text, STDIN_FILENO, 0);
    return strbuf_read_file(text, path, 0);
}

/* Parses and validates; on success *out holds every record and (*wms)[i]
 * entry i's watermark or NULL (strings owned by *wms, freed with
 * free_watermarks). */
static int parse_import(import_ctx *ic, const char *path, state_record **out, size_t *n,
                        char ***wms) {
    strbuf text = {0};
    if (read_input(&text, path) != ST_OK) {
        strbuf_release(&text);
        fprintf(stderr, "synctool state import: cannot read %s\n", path);
        return CLI_USAGE;
    }
    json_value *root;
    st_error err;
    int rc = json_parse(&root, text.s, text.len, &err);
    strbuf_release(&text);
    if (rc != ST_OK) {
        fprintf(stderr, "synctool state import: %s: %s\n", path, err.msg);
        return CLI_USAGE;
    }
    if (root->type != JSON_ARRAY) {
        json_free(root);
        fprintf(stderr, "synctool state import: %s: expected a JSON list of objects\n", path);
        return CLI_USAGE;
    }
    state_record *recs = calloc(root->n ? root->n : 1, sizeof *recs);
    char **w = calloc(root->n ? root->n : 1, sizeof *w);
    for (size_t i = 0; recs && w && i < root->n; i++) {
        read_entry(ic, i, root->items[i], &recs[i]);
        if (root->items[i]->type != JSON_OBJECT) continue;
        const char *wm = read_watermark(ic, i, root->items[i], &recs[i]);
        if (wm != NULL) w[i] = strdup(wm);
    }
    *wms = w;
    if (recs) check_duplicates_and_config(ic, recs, root->n);
    *n = root->n;
    json_free(root);
    *out = recs;
    return recs && w ? CLI_OK : CLI_FAILED;
}

static void free_watermarks(char **wms, size_t n) {
    for (size_t i = 0; wms && i < n; i++) free(wms[i]);
    free(wms);
}

/* After the records: each entry's watermark, so a moved delta resumes. */
static int put_watermarks(state *st, const state_record *recs, char **wms, size_t n) {
    size_t put = 0;
    for (size_t i = 0; i < n; i++) {
        if (wms[i] == NULL) continue;
        st_error err;
        if (state_meta_put(st, recs[i].pipeline, recs[i].strategy, "watermark", wms[i],
                           &err) != ST_OK) {
            fprintf(stderr, "synctool state import: %s:%s: writing the watermark: %s\n",
                    recs[i].pipeline, recs[i].strategy, err.msg);
            return CLI_FAILED;
        }
        put++;
    }
    if (put) printf("imported %zu watermark%s\n", put, put == 1 ? "" : "s");
    return CLI_OK;
}

static int do_import(import_ctx *ic, state *st, const char *path) {
    state_record *recs = NULL;
    char **wms = NULL;
    size_t n = 0;
    int rc = parse_import(ic, path, &recs, &n, &wms);
    if (rc == CLI_OK && ic->problems) {
        fprintf(stderr, "synctool state import: %zu problem%s in %s; nothing imported\n",
                ic->problems, ic->problems == 1 ? "" : "s", path);
        rc = CLI_USAGE;
    } else if (rc == CLI_OK) {
        st_error err;
        if (state_put_many(st, recs, n, &err) != ST_OK) {
            fprintf(stderr, "synctool state import: %s\n", err.msg);
            rc = CLI_FAILED;
        } else {
            printf("imported %zu record%s\n", n, n == 1 ? "" : "s");
            rc = put_watermarks(st, recs, wms, n);
        }
    }
    free_watermarks(wms, n);
    free(recs);
    return rc;
}

/* --- prune --- */

static bool configured(const config *cfg, const state_record *r) {
    const config_pipeline *p = config_pipeline_find(cfg, r->pipeline);
    return p != NULL && config_strategy_find(p, r->strategy) != NULL;
}

static int do_prune(const config *cfg, state *st, bool dry_run) {
    state_record *recs;
    size_t n, removed = 0;
    st_error err;
    if (state_list(st, &recs, &n, &err) != ST_OK) {
        fprintf(stderr, "synctool state prune: %s\n", err.msg);
        return CLI_FAILED;
    }
    int rc = CLI_OK;
    for (size_t i = 0; i < n && rc == CLI_OK; i++) {
        if (configured(cfg, &recs[i])) continue;
        if (!dry_run && state_forget(st, recs[i].pipeline, recs[i].strategy, &err) != ST_OK &&
            err.code != ST_ENOTFOUND) {
            fprintf(stderr, "synctool state prune: %s:%s: %s\n", recs[i].pipeline,
                    recs[i].strategy, err.msg);
            rc = CLI_FAILED;
            break;
        }
        printf("%s %s:%s (not in the config)\n", dry_run ? "would remove" : "removed",
               recs[i].pipeline, recs[i].strategy);
        removed++;
    }
    printf("%s %zu record%s of %zu\n", dry_run ? "would remove" : "removed", removed,
           removed == 1 ? "" : "s", n);
    free(recs);
    return rc;
}

static int run_prune(const cli_ctx *ctx, bool dry_run) {
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    if (cli_config_left_out()->n > 0) {
        fprintf(stderr, "synctool state prune: refused: %zu problem(s) in pipeline files "
                        "(see above); a pipeline whose file does not load would look "
                        "unconfigured and lose its state. Fix them (synctool validate) first\n",
                cli_config_left_out()->n);
        config_free(cfg);
        return CLI_USAGE;
    }
    state *st;
    if ((rc = cli_open_state(cfg, &st)) == CLI_OK) {
        rc = do_prune(cfg, st, dry_run);
        state_close(st);
    }
    config_free(cfg);
    return rc;
}

/* --- command --- */

static int run_sub(const cli_ctx *ctx, bool import, const char *arg, bool allow_future) {
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    state *st;
    if ((rc = cli_open_state(cfg, &st)) == CLI_OK) {
        import_ctx ic = {.cfg = cfg, .now = st_time_now(), .allow_future = allow_future};
        rc = import ? do_import(&ic, st, arg) : do_export(st, arg);
        state_close(st);
    }
    config_free(cfg);
    return rc;
}

int cli_cmd_state(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"allow-future", no_argument, NULL, 'F'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"to", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *output = NULL, *to = NULL;
    bool allow_future = false, dry_run = false;
    int c;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 'o') output = optarg;
        else if (c == 'F') allow_future = true;
        else if (c == 'n') dry_run = true;
        else if (c == 't') to = optarg;
        else { usage(stderr); return CLI_USAGE; }
    }
    int left = argc - optind;
    const char *sub = left > 0 ? argv[optind] : NULL;
    if (sub == NULL)
        return cli_usage_error("state", "expected export, import, prune, init or migrate "
                               "(see --help)");
    if (dry_run && strcmp(sub, "prune") != 0)
        return cli_usage_error("state", "--dry-run is for prune");
    if (to != NULL && strcmp(sub, "migrate") != 0)
        return cli_usage_error("state", "--to is for migrate");
    if (strcmp(sub, "init") == 0 || strcmp(sub, "migrate") == 0) {
        if (left != 1 || output || allow_future || dry_run)
            return cli_usage_error("state", "%s takes no arguments%s", sub,
                                   to ? " besides --to" : "");
        if (sub[0] == 'i') return cli_state_init(ctx);
        if (to == NULL) return cli_usage_error("state", "migrate needs --to URL");
        return cli_state_migrate(ctx, to);
    }
    if (strcmp(sub, "prune") == 0) {
        if (left != 1) return cli_usage_error("state", "prune takes no arguments besides --dry-run");
        if (output || allow_future)
            return cli_usage_error("state", "prune takes only --dry-run");
        return run_prune(ctx, dry_run);
    }
    if (strcmp(sub, "export") == 0) {
        if (left != 1) return cli_usage_error("state", "export takes no arguments besides --output");
        if (allow_future) return cli_usage_error("state", "--allow-future is for import");
        return run_sub(ctx, false, output, false);
    }
    if (strcmp(sub, "import") == 0) {
        if (output) return cli_usage_error("state", "--output is for export");
        if (left != 2) return cli_usage_error("state", "import needs one FILE (or - for stdin)");
        return run_sub(ctx, true, argv[optind + 1], allow_future);
    }
    return cli_usage_error("state", "unknown subcommand '%s' (export, import, prune, init or "
                           "migrate)", sub);
}
