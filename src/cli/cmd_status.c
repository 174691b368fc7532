/*
 * synctool status [PIPELINE] [--json] [--at TIME] — the current state of
 * every configured strategy, and why it is (not) due.
 * A `running` record whose pipeline lease has expired is recorded `lost`
 * first (run_recover_lost), so status never shows a dead run as running.
 *
 * One row per configured strategy, in config order: status, last successful
 * run, last attempt, consecutive failures, the next cron fire time, whether
 * it is due now and the DESIGN §3 reason (each pipeline's view, view.h:
 * sched_select, the function the scheduler uses, so status and the
 * scheduler never disagree and the reason is the scheduler's, verbatim).
 * A strategy with no stored state shows "idle" and "never". A corrupt record
 * shows status "corrupt" and the problem as its reason; the other rows are
 * unaffected. "now" is the wall clock, read once here, or --at.
 *
 * At 10,000 pipelines (issue 25): the config comes through the parsed-
 * config cache (config_load_cached: no YAML parse unless a file changed)
 * while a thread opens the state and reads its listing (prefetch_run);
 * the state is read once as a compact listing (state_listing_read: one
 * pipelined pass on Redis, ~100 bytes a record instead of a 2 KB
 * state_record), which the lost-run check also uses, then matched to the
 * config by binary search; views are built, given their watermarks in one batch read
 * (view_load_live_many) and freed PIPELINES_CHUNK pipelines at a time, the
 * text keeping a small row per strategy. State for pipelines no longer in
 * the config is not shown (state export shows everything).
 *
 * A paused strategy (view_paused_by: an operator, or its failures) shows
 * status PAUSED; the WHY of a pause by failures leads with it and the
 * command that resumes it, then the scheduler's reason. A WATERMARKS
 * section lists each delta strategy's saved position; a CDC SLOTS section
 * each cdc strategy's confirmed LSN, the WAL its slot retained, and, when
 * the strategy is paused or failing, that the slot keeps retaining WAL. The text starts with the scheduler's liveness:
 * the leader's name and its last tick (the why-journal writes both), with
 * a warning when none has ticked for 3 intervals (30 s).
 *
 * --json prints a list of strategy state objects through the one writer
 * of that concept (view_strategy_json, the API's StrategyState): the state
 * fields of `state export` plus configuration, paused/paused_by, watermark,
 * progress and the decision (should_run, reason); unknown values are null.
 */
#include "cli.h"

#include "../cron/cron.h"
#include "../json/json.h"
#include "../lock/lock.h"
#include "../run/run.h"
#include "../sched/sched.h"
#include "../time/st_time.h"
#include "../view/view.h"

#include <getopt.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A run whose lease expired without recording is shown (and recorded) as
 * lost, never as running (DESIGN §3): the records of the listing that say
 * running go to run_recover_records; when it recorded any, the listing is
 * read again. Best effort: without the lock store the records are shown as
 * they are. */
static void record_lost_runs(const config *cfg, state *st, state_listing **all,
                             const char *pipeline) {
    state_record *running = NULL;
    size_t nrunning = 0, recovered = 0;
    if (state_listing_running(*all, pipeline, &running, &nrunning) != ST_OK || nrunning == 0)
        return;
    lock_manager *lm = NULL;
    st_error e;
    if (lock_open(&lm, &cfg->state_url, &e) == ST_OK) {
        if (run_recover_records(st, lm, running, nrunning, pipeline, 0, st_time_now(),
                                &recovered, NULL, &e) != ST_OK)
            fprintf(stderr, "synctool status: cannot check for lost runs: %s\n", e.msg);
        lock_close(lm);
    }
    free(running);
    state_listing *again;
    if (recovered > 0 && state_listing_read(st, &again, &e) == ST_OK) {
        state_listing_free(*all);
        *all = again;
    }
}

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] status [PIPELINE] [--json] [--at TIME]\n\n"
               "Shows each strategy's state: status, last run, last attempt, retries, the\n"
               "next fire time, whether it is due and why (the scheduler's own reasons).\n\n"
               "  PIPELINE   only this pipeline\n"
               "  --at TIME  decide as of this ISO-8601 instant instead of now (no offset: UTC)\n"
               "  --json     a JSON list of objects, one per strategy\n"
               "  -h, --help this help\n");
}

/* One row of the text, taken from strategy i of a pipeline's view (view.h:
 * the record, the scheduler's decision, the watermark) and kept small: the
 * views are built and freed PIPELINES_CHUNK at a time. */
typedef struct status_row {
    const config_pipeline *p;
    size_t i;
    const char *status;         /* "corrupt", "PAUSED" or the record's status */
    int64_t last_run, attempt, next, retries;
    bool due;
    char *why;                  /* the WHY cell (row_why) */
    char *watermark;            /* taken from the view; NULL = none */
    cdc_figures slot;
    const char *paused_by;      /* view_paused_by */
    bool failed;
} status_row;

/* The WHY cell: the scheduler's reason verbatim, led by a pause's cause and
 * the command that lifts it. */
static char *row_why(const view_pipeline *v, size_t i) {
    const config_strategy *s = &v->p->strategies[i];
    const char *by = view_paused_by(v, i);
    const char *reason = view_problem(v, i) ? view_problem(v, i) : v->d[i].reason;
    char why[1200];
    if (by && strcmp(by, "failures") == 0)
        snprintf(why, sizeof why, "Paused after %lld failures: run `synctool reset %s "
                 "--strategy %s` to resume; %s", (long long)v->recs[i].retry_count,
                 v->p->name, s->name, reason);
    else if (by)
        snprintf(why, sizeof why, "%s: run `synctool resume %s --strategy %s` to resume",
                 reason, v->p->name, s->name);
    else
        snprintf(why, sizeof why, "%s", reason);
    return strdup(why);
}

/* Fills r from strategy i of v (takes its watermark); false when out of memory. */
static bool row_take(status_row *r, view_pipeline *v, size_t i) {
    const state_record *rec = &v->recs[i];
    r->p = v->p;
    r->i = i;
    r->paused_by = view_paused_by(v, i);
    r->status = view_problem(v, i) ? "corrupt"
                : r->paused_by     ? "PAUSED"
                                   : state_status_name(rec->status);
    r->last_run = rec->last_run;
    r->attempt = rec->last_attempted_at;
    r->next = v->p->strategies[i].enabled ? v->next_fire[i] : ST_TIME_NONE;
    r->retries = rec->retry_count;
    r->due = !view_problem(v, i) && v->d[i].run;
    r->watermark = v->watermark[i];
    v->watermark[i] = NULL;
    r->slot = v->slot[i];
    r->failed = rec->status == STATE_FAILED;
    r->why = row_why(v, i);
    return r->why != NULL;
}

/* The pipeline's records: from the listing, else read one by one (written
 * between list and get), an unreadable one marked as a problem. `got` has
 * room for the pipeline's records (expanded from the listing). */
static int build_view(view_pipeline *v, const config *cfg, const config_pipeline *p, state *st,
                      const state_listing *all, state_record *got, int64_t now) {
    size_t n = p->nstrategies ? p->nstrategies : 1;
    const state_record **states = calloc(n, sizeof *states);
    char (*problem)[VIEW_PROBLEM_MAX] = calloc(n, sizeof *problem);
    int rc = states && problem ? ST_OK : ST_ENOMEM;
    for (size_t i = 0; rc == ST_OK && i < p->nstrategies; i++) {
        const char *s = p->strategies[i].name;
        if (state_listing_get(all, p->name, s, &got[i])) {
            states[i] = &got[i];
            continue;
        }
        st_error err;
        int g = state_get(st, p->name, s, &got[i], &err);
        if (g == ST_OK) states[i] = &got[i];
        else if (g != ST_ENOTFOUND) snprintf(problem[i], VIEW_PROBLEM_MAX, "%s", err.msg);
    }
    if (rc == ST_OK) rc = view_build(v, cfg, p, states, true, now);
    for (size_t i = 0; rc == ST_OK && i < p->nstrategies; i++)
        if (problem[i][0]) view_set_problem(v, i, problem[i]);
    free(states);
    free(problem);
    return rc;
}

/* --- text --- */

enum { COLS = 9 };
static const char *const headers[COLS] = {"PIPELINE", "STRATEGY", "STATUS", "LAST RUN",
                                          "LAST ATTEMPT", "RETRIES", "NEXT", "DUE", "WHY"};

static void fmt_when(int64_t t, const char *none, char *buf, size_t n) {
    if (t == ST_TIME_NONE) snprintf(buf, n, "%s", none);
    else st_time_format(t, buf, n);
}

typedef struct row_text {
    char last_run[40], attempt[40], next[40], retries[24];
    const char *cell[COLS];
} row_text;

static void row_cells(const status_row *r, row_text *t) {
    fmt_when(r->last_run, "never", t->last_run, sizeof t->last_run);
    fmt_when(r->attempt, "-", t->attempt, sizeof t->attempt);
    fmt_when(r->next, "-", t->next, sizeof t->next);
    snprintf(t->retries, sizeof t->retries, "%lld", (long long)r->retries);
    t->cell[0] = r->p->name;
    t->cell[1] = r->p->strategies[r->i].name;
    t->cell[2] = r->status;
    t->cell[3] = t->last_run;
    t->cell[4] = t->attempt;
    t->cell[5] = t->retries;
    t->cell[6] = t->next;
    t->cell[7] = r->due ? "yes" : "no";
    t->cell[8] = r->why;
}

/* "Scheduler: ..." from the meta the scheduler writes every tick. */
static void print_scheduler(state *st, int64_t now) {
    char leader[160] = "", tick[64] = "";
    int64_t at = ST_TIME_NONE;
    state_meta_get(st, "synctool:scheduler", "-", "leader", leader, sizeof leader, NULL);
    if (state_meta_get(st, "synctool:scheduler", "-", "last_tick", tick, sizeof tick, NULL) ==
        ST_OK)
        st_time_parse(tick, &at, NULL);
    if (at == ST_TIME_NONE) {
        printf("Scheduler: none has ticked yet (is `synctool scheduler` running?)\n");
        return;
    }
    long long ago = (long long)((now - at) / ST_USEC);
    printf("Scheduler: leader %s, last tick %s (%llds ago)\n", leader[0] ? leader : "?", tick,
           ago);
    if (ago > 30)
        printf("WARNING: no scheduler has ticked for %llds (3 intervals of 10 s): nothing is "
               "being scheduled\n", ago);
}

/* One line of the table, each cell padded to its column's width (by hand:
 * printf's %-*s was a tenth of `status` at 20,000 rows). */
static void print_line(const char *const *cell, const int *width) {
    static const char blanks[64] = "                                                               ";
    for (int k = 0; k < COLS - 1; k++) {
        size_t len = strlen(cell[k]);
        fwrite(cell[k], 1, len, stdout);
        for (int pad = width[k] - (int)len + 2; pad > 0; pad -= 63)
            fwrite(blanks, 1, pad < 63 ? (size_t)pad : 63, stdout);
    }
    fputs(cell[COLS - 1], stdout);
    fputc('\n', stdout);
}

static void print_text(state *st, const status_row *rows, size_t n, int64_t now) {
    int width[COLS];
    for (int i = 0; i < COLS; i++) width[i] = (int)strlen(headers[i]);
    for (size_t i = 0; i < n; i++) {
        row_text t;
        row_cells(&rows[i], &t);
        for (int k = 0; k < COLS - 1; k++)
            if ((int)strlen(t.cell[k]) > width[k]) width[k] = (int)strlen(t.cell[k]);
    }
    char at[40];
    st_time_format(now, at, sizeof at);
    printf("Status at %s\n", at);
    print_scheduler(st, now);
    printf("\n");
    print_line(headers, width);
    for (size_t i = 0; i < n; i++) {
        row_text t;
        row_cells(&rows[i], &t);
        print_line(t.cell, width);
    }
    if (n == 0) printf("(no pipelines configured)\n");
    for (size_t i = 0, shown = 0; i < n; i++) {
        const status_row *r = &rows[i];
        if (r->p->strategies[r->i].type != CONFIG_STRATEGY_DELTA) continue;
        if (shown++ == 0) printf("\nWATERMARKS (delta: the next run reads rows past these)\n");
        printf("  %s:%s  %s\n", r->p->name, r->p->strategies[r->i].name,
               r->watermark ? r->watermark : "none (the next run reads every row)");
    }
    for (size_t i = 0, shown = 0; i < n; i++) {
        const status_row *r = &rows[i];
        const config_strategy *s = &r->p->strategies[r->i];
        if (s->type != CONFIG_STRATEGY_CDC) continue;
        if (shown++ == 0) printf("\nCDC SLOTS (each retains WAL on its source until a run "
                                 "confirms it)\n");
        printf("  %s:%s  confirmed %s", r->p->name, s->name,
               r->watermark ? r->watermark : "nothing yet (the first run copies in full)");
        const cdc_figures *f = &r->slot;
        if (f->retained >= 0)
            printf(", %" PRId64 " bytes of WAL retained and %" PRId64 " not yet applied when the "
                   "last run began", f->retained, f->lag >= 0 ? f->lag : 0);
        if (f->confirmed_at != ST_TIME_NONE && now >= f->confirmed_at)
            printf("; the destination holds the source as of %" PRId64 " s ago",
                   (int64_t)((now - f->confirmed_at) / ST_USEC));
        if (s->max_slot_lag > 0) printf(" (max_slot_lag %" PRId64 ")", s->max_slot_lag);
        if (r->paused_by != NULL || r->failed)
            printf("\n    %s: its slot keeps retaining WAL until it runs again (or `synctool "
                   "cdc drop %s`)", r->paused_by ? "PAUSED" : "FAILING", r->p->name);
        printf("\n");
    }
    const config_problems *bad = cli_config_left_out();
    for (size_t i = 0; i < bad->n; i++) {
        if (i == 0) printf("\nINVALID pipeline files, left out (fix them; see synctool validate):\n");
        printf("  %s\n", bad->items[i]);
    }
}

/* --- command --- */

static size_t count_rows(const config *cfg, const config_pipeline *only) {
    size_t n = 0;
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (!only || only == &cfg->pipelines[i]) n += cfg->pipelines[i].nstrategies;
    return n;
}

/* Views are built, read (watermarks and progress in one batch each) and
 * written PIPELINES_CHUNK at a time: the JSON straight from the views,
 * the text through the small rows it prints once every width is known. */
#define PIPELINES_CHUNK 256

typedef struct show_ctx {
    const config *cfg;
    const config_pipeline *only;
    state *st;
    const state_listing *all;
    state_record *got;   /* room for the largest pipeline's records */
    int64_t now;
    json_writer *w;      /* --json; NULL: text into rows */
    status_row *rows;
    size_t nrows;
} show_ctx;

/* Pipelines [at, at + PIPELINES_CHUNK); false when out of memory. */
static bool show_chunk(show_ctx *c, size_t at) {
    view_pipeline v[PIPELINES_CHUNK];
    size_t n = 0, end = at + PIPELINES_CHUNK < c->cfg->npipelines ? at + PIPELINES_CHUNK
                                                                  : c->cfg->npipelines;
    bool ok = true;
    for (size_t i = at; ok && i < end; i++) {
        const config_pipeline *p = &c->cfg->pipelines[i];
        if (c->only && c->only != p) continue;
        ok = build_view(&v[n], c->cfg, p, c->st, c->all, c->got, c->now) == ST_OK;
        if (ok) n++;
    }
    if (ok) view_load_live_many(v, n, c->st, true);
    for (size_t k = 0; k < n; k++) {
        for (size_t j = 0; ok && j < v[k].p->nstrategies; j++) {
            if (c->w) view_strategy_json(c->w, &v[k], j);
            else ok = row_take(&c->rows[c->nrows++], &v[k], j);
        }
        view_free(&v[k]);
    }
    return ok && !(c->w && c->w->failed);
}

static size_t max_strategies(const config *cfg) {
    size_t m = 1;
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (cfg->pipelines[i].nstrategies > m) m = cfg->pipelines[i].nstrategies;
    return m;
}

/* `all`: the listing read while the config loaded (owned; NULL: read here). */
static int show(const config *cfg, const config_pipeline *only, state *st, state_listing *all,
                int64_t now, bool json) {
    st_error err;
    if (all == NULL && state_listing_read(st, &all, &err) != ST_OK) {
        return cli_error("status", "state_unavailable", CLI_FAILED, "%s", err.msg);
    }
    record_lost_runs(cfg, st, &all, only ? only->name : NULL);
    json_writer w;
    json_init(&w);
    show_ctx c = {cfg, only, st, all, NULL, now, json ? &w : NULL, NULL, 0};
    bool ok = (c.got = malloc(max_strategies(cfg) * sizeof *c.got)) != NULL;
    ok = ok && (json || (c.rows = calloc(count_rows(cfg, only) + 1, sizeof *c.rows)) != NULL);
    if (json) json_begin_array(&w);
    for (size_t at = 0; ok && at < cfg->npipelines; at += PIPELINES_CHUNK) ok = show_chunk(&c, at);
    int rc = CLI_OK;
    if (!ok) rc = cli_error("status", "out_of_memory", CLI_FAILED, "out of memory");
    else if (json) {
        json_end_array(&w);
        rc = cli_print_json("status", &w);
    } else {
        print_text(st, c.rows, c.nrows, now);
    }
    json_release(&w);
    for (size_t i = 0; i < c.nrows; i++) {
        free(c.rows[i].why);
        free(c.rows[i].watermark);
    }
    free(c.rows);
    free(c.got);
    state_listing_free(all);
    return rc;
}

/* --- the state read while the pipelines load --- */

/* At 10,000 pipelines the config (even from its cache: 10,000 file
 * signatures) and the state listing (20,000 records; on Redis, the
 * server's time too) each take a third of `status`. They do not depend on
 * each other but through the state URL, which datastores.yaml alone gives:
 * a thread opens that state and reads the listing while this one loads
 * the config. The result is used only when the loaded config names the
 * same state (burl_equal); a failed open or listing is reported as it
 * would have been, without trying again. */
typedef struct prefetch {
    const char *dir;
    pthread_t thread;
    bool started;
    config *ds;              /* datastores.yaml alone */
    state *st;
    state_listing *all;
    int stage;               /* 0 ok; 1 config failed; 2 open failed; 3 listing failed */
    st_error err;
} prefetch;

static void *prefetch_run(void *arg) {
    prefetch *p = arg;
    p->stage = 1;
    if (config_load_datastores(&p->ds, p->dir, &p->err) != ST_OK) return NULL;
    p->stage = 2;
    if (state_open(&p->st, &p->ds->state_url, &p->err) != ST_OK) return NULL;
    p->stage = 3;
    if (state_listing_read(p->st, &p->all, &p->err) != ST_OK) return NULL;
    p->stage = 0;
    return NULL;
}

static void prefetch_start(prefetch *p, const char *dir) {
    memset(p, 0, sizeof *p);
    p->dir = dir;
    p->started = dir != NULL && pthread_create(&p->thread, NULL, prefetch_run, p) == 0;
}

/* Joins; true when its state is cfg's (then *st and *all are taken, *all
 * NULL if the listing failed, p->err saying why). */
static bool prefetch_take(prefetch *p, const config *cfg, state **st, state_listing **all) {
    if (!p->started) return false;
    pthread_join(p->thread, NULL);
    p->started = false;
    bool same = p->stage != 1 && burl_equal(&p->ds->state_url, &cfg->state_url);
    if (same && p->stage != 2) {
        *st = p->st;
        *all = p->all;
        p->st = NULL;
        p->all = NULL;
    }
    return same;
}

static void prefetch_end(prefetch *p) {
    if (p->started) pthread_join(p->thread, NULL);
    state_listing_free(p->all);
    state_close(p->st);
    config_free(p->ds);
}

/* The state and its listing: the prefetched ones when they are cfg's,
 * else opened and read now (status_show reads the listing when NULL). */
static int open_state(prefetch *pf, const config *cfg, state **st, state_listing **all) {
    *st = NULL;
    *all = NULL;
    if (!prefetch_take(pf, cfg, st, all)) return cli_open_state(cfg, st);
    if (pf->stage == 2)
        return cli_error(NULL, "state_unavailable", CLI_FAILED, "cannot open state: %s",
                         pf->err.msg);
    if (pf->stage == 3) {
        state_close(*st);
        *st = NULL;
        return cli_error("status", "state_unavailable", CLI_FAILED, "%s", pf->err.msg);
    }
    return CLI_OK;
}

int cli_cmd_status(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    int64_t now = ST_TIME_NONE;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 'j') json = true;
        else if (c == 'a') { if (cli_parse_time("--at", optarg, &now) != CLI_OK) return CLI_USAGE; }
        else { usage(stderr); return CLI_USAGE; }
    }
    if (argc - optind > 1) return cli_usage_error("status", "expected at most one PIPELINE");
    const char *name = optind < argc ? argv[optind] : NULL;
    config *cfg;
    prefetch pf;
    prefetch_start(&pf, ctx->config_dir);
    int rc = cli_load_config_cached(ctx, &cfg);
    if (rc != CLI_OK) {
        prefetch_end(&pf);
        return rc;
    }
    const config_pipeline *only = name ? config_pipeline_find(cfg, name) : NULL;
    if (name && only == NULL) {
        prefetch_end(&pf);
        int urc = cli_unknown_pipeline("status", cfg, name);
        config_free(cfg);
        return urc;
    }
    state *st;
    state_listing *all;
    if ((rc = open_state(&pf, cfg, &st, &all)) == CLI_OK) {
        rc = show(cfg, only, st, all, now == ST_TIME_NONE ? st_time_now() : now, json);
        state_close(st);
    }
    prefetch_end(&pf);
    config_free(cfg);
    return rc;
}
