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
 * The state is read with one state_list() call (one pipelined pass on
 * Redis), then matched to the config by binary search, and the watermarks
 * with one batch read (view_load_live_many): status stays cheap with
 * thousands of pipelines. State for pipelines no longer in the config
 * is not shown (state export shows everything).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A run whose lease expired without recording is shown (and recorded) as
 * lost, never as running (DESIGN §3). Best effort: without the lock store
 * the records are shown as they are. */
static void record_lost_runs(const config *cfg, state *st, const char *pipeline) {
    lock_manager *lm = NULL;
    st_error e;
    if (lock_open(&lm, &cfg->state_url, &e) != ST_OK) return;
    if (run_recover_lost(st, lm, pipeline, 0, st_time_now(), NULL, &e) != ST_OK)
        fprintf(stderr, "synctool status: cannot check for lost runs: %s\n", e.msg);
    lock_close(lm);
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

/* One row: strategy i of a pipeline's view (view.h: the record, the
 * scheduler's decision, the watermark). */
typedef struct status_row {
    const view_pipeline *v;
    size_t i;
    char why[1200];
} status_row;

/* The WHY cell: the scheduler's reason verbatim, led by a pause's cause and
 * the command that lifts it. */
static void row_why(status_row *r) {
    const view_pipeline *v = r->v;
    const config_strategy *s = &v->p->strategies[r->i];
    const char *by = view_paused_by(v, r->i);
    const char *reason = v->problem[r->i][0] ? v->problem[r->i] : v->d[r->i].reason;
    if (by && strcmp(by, "failures") == 0)
        snprintf(r->why, sizeof r->why, "Paused after %lld failures: run `synctool reset %s "
                 "--strategy %s` to resume; %s", (long long)v->recs[r->i].retry_count,
                 v->p->name, s->name, reason);
    else if (by)
        snprintf(r->why, sizeof r->why, "%s: run `synctool resume %s --strategy %s` to resume",
                 reason, v->p->name, s->name);
    else
        snprintf(r->why, sizeof r->why, "%s", reason);
}

/* The pipeline's records: from the listing, else read one by one (written
 * between list and get), an unreadable one marked as a problem. */
static int build_view(view_pipeline *v, const config *cfg, const config_pipeline *p, state *st,
                      const state_record *all, size_t nall, int64_t now) {
    size_t n = p->nstrategies ? p->nstrategies : 1;
    state_record *got = calloc(n, sizeof *got);
    const state_record **states = calloc(n, sizeof *states);
    char (*problem)[VIEW_PROBLEM_MAX] = calloc(n, sizeof *problem);
    int rc = got && states && problem ? ST_OK : ST_ENOMEM;
    for (size_t i = 0; rc == ST_OK && i < p->nstrategies; i++) {
        states[i] = state_list_find(all, nall, p->name, p->strategies[i].name);
        if (states[i]) continue;
        st_error err;
        int g = state_get(st, p->name, p->strategies[i].name, &got[i], &err);
        if (g == ST_OK) states[i] = &got[i];
        else if (g != ST_ENOTFOUND) snprintf(problem[i], VIEW_PROBLEM_MAX, "%s", err.msg);
    }
    if (rc == ST_OK) rc = view_build(v, cfg, p, states, true, now);
    for (size_t i = 0; rc == ST_OK && i < p->nstrategies; i++)
        if (problem[i][0]) view_set_problem(v, i, problem[i]);
    free(got);
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
    const view_pipeline *v = r->v;
    const state_record *rec = &v->recs[r->i];
    fmt_when(rec->last_run, "never", t->last_run, sizeof t->last_run);
    fmt_when(rec->last_attempted_at, "-", t->attempt, sizeof t->attempt);
    fmt_when(v->p->strategies[r->i].enabled ? v->next_fire[r->i] : ST_TIME_NONE, "-", t->next,
             sizeof t->next);
    snprintf(t->retries, sizeof t->retries, "%lld", (long long)rec->retry_count);
    t->cell[0] = v->p->name;
    t->cell[1] = v->p->strategies[r->i].name;
    t->cell[2] = v->problem[r->i][0]          ? "corrupt"
                 : view_paused_by(v, r->i)   ? "PAUSED"
                                             : state_status_name(rec->status);
    t->cell[3] = t->last_run;
    t->cell[4] = t->attempt;
    t->cell[5] = t->retries;
    t->cell[6] = t->next;
    t->cell[7] = !v->problem[r->i][0] && v->d[r->i].run ? "yes" : "no";
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
    for (int k = 0; k < COLS - 1; k++) printf("%-*s  ", width[k], headers[k]);
    printf("%s\n", headers[COLS - 1]);
    for (size_t i = 0; i < n; i++) {
        row_text t;
        row_cells(&rows[i], &t);
        for (int k = 0; k < COLS - 1; k++) printf("%-*s  ", width[k], t.cell[k]);
        printf("%s\n", t.cell[COLS - 1]);
    }
    if (n == 0) printf("(no pipelines configured)\n");
    for (size_t i = 0, shown = 0; i < n; i++) {
        const view_pipeline *v = rows[i].v;
        if (v->p->strategies[rows[i].i].type != CONFIG_STRATEGY_DELTA) continue;
        if (shown++ == 0) printf("\nWATERMARKS (delta: the next run reads rows past these)\n");
        const char *wm = v->watermark[rows[i].i];
        printf("  %s:%s  %s\n", v->p->name, v->p->strategies[rows[i].i].name,
               wm ? wm : "none (the next run reads every row)");
    }
    for (size_t i = 0, shown = 0; i < n; i++) {
        const view_pipeline *v = rows[i].v;
        size_t k = rows[i].i;
        if (v->p->strategies[k].type != CONFIG_STRATEGY_CDC) continue;
        if (shown++ == 0) printf("\nCDC SLOTS (each retains WAL on its source until a run "
                                 "confirms it)\n");
        const char *lsn = v->watermark[k];
        printf("  %s:%s  confirmed %s", v->p->name, v->p->strategies[k].name,
               lsn ? lsn : "nothing yet (the first run copies in full)");
        const cdc_figures *f = &v->slot[k];
        if (f->retained >= 0)
            printf(", %" PRId64 " bytes of WAL retained and %" PRId64 " not yet applied when the "
                   "last run began", f->retained, f->lag >= 0 ? f->lag : 0);
        if (f->confirmed_at != ST_TIME_NONE && v->at >= f->confirmed_at)
            printf("; the destination holds the source as of %" PRId64 " s ago",
                   (int64_t)((v->at - f->confirmed_at) / ST_USEC));
        if (v->p->strategies[k].max_slot_lag > 0)
            printf(" (max_slot_lag %" PRId64 ")", v->p->strategies[k].max_slot_lag);
        const char *by = view_paused_by(v, k);
        if (by != NULL || v->recs[k].status == STATE_FAILED)
            printf("\n    %s: its slot keeps retaining WAL until it runs again (or `synctool "
                   "cdc drop %s`)", by ? "PAUSED" : "FAILING", v->p->name);
        printf("\n");
    }
    const config_problems *bad = cli_config_left_out();
    for (size_t i = 0; i < bad->n; i++) {
        if (i == 0) printf("\nINVALID pipeline files, left out (fix them; see synctool validate):\n");
        printf("  %s\n", bad->items[i]);
    }
}

/* --- JSON --- */

static int print_json(const status_row *rows, size_t n) {
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    for (size_t i = 0; i < n; i++) view_strategy_json(&w, rows[i].v, rows[i].i);
    json_end_array(&w);
    int rc = cli_print_json("status", &w);
    json_release(&w);
    return rc;
}

/* --- command --- */

static size_t count_rows(const config *cfg, const config_pipeline *only) {
    size_t n = 0;
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (!only || only == &cfg->pipelines[i]) n += cfg->pipelines[i].nstrategies;
    return n;
}

static int show(const config *cfg, const config_pipeline *only, state *st, int64_t now,
                bool json) {
    state_record *all = NULL;
    size_t nall = 0;
    st_error err;
    if (state_list(st, &all, &nall, &err) != ST_OK) {
        return cli_error("status", "state_unavailable", CLI_FAILED, "%s", err.msg);
    }
    size_t n = count_rows(cfg, only), k = 0;
    status_row *rows = calloc(n ? n : 1, sizeof *rows);
    view_pipeline *views = calloc(cfg->npipelines ? cfg->npipelines : 1, sizeof *views);
    int rc = rows && views ? CLI_OK : CLI_FAILED;
    for (size_t i = 0; rc == CLI_OK && i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        if (only && only != p) continue;
        if (build_view(&views[i], cfg, p, st, all, nall, now) != ST_OK) {
            rc = CLI_FAILED;
            break;
        }
        for (size_t j = 0; j < p->nstrategies; j++, k++) {
            rows[k].v = &views[i];
            rows[k].i = j;
            row_why(&rows[k]);
        }
    }
    /* watermarks and progress of every pipeline in one batch read */
    if (rc == CLI_OK) view_load_live_many(views, cfg->npipelines, st, true);
    if (rc != CLI_OK) rc = cli_error("status", "out_of_memory", CLI_FAILED, "out of memory");
    else if (json) rc = print_json(rows, n);
    else print_text(st, rows, n, now);
    for (size_t i = 0; views && i < cfg->npipelines; i++) view_free(&views[i]);
    free(views);
    free(rows);
    free(all);
    return rc;
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
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *only = name ? config_pipeline_find(cfg, name) : NULL;
    if (name && only == NULL) {
        int urc = cli_unknown_pipeline("status", cfg, name);
        config_free(cfg);
        return urc;
    }
    state *st;
    if ((rc = cli_open_state(cfg, &st)) == CLI_OK) {
        record_lost_runs(cfg, st, name);
        rc = show(cfg, only, st, now == ST_TIME_NONE ? st_time_now() : now, json);
        state_close(st);
    }
    config_free(cfg);
    return rc;
}
