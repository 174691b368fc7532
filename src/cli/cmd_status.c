/*
 * synctool status [PIPELINE] [--json] [--at TIME] — the current state of
 * every configured strategy, and why it is (not) due.
 * A `running` record whose pipeline lease has expired is recorded `lost`
 * first (sched_recover_lost), so status never shows a dead run as running.
 *
 * One row per configured strategy, in config order: status, last successful
 * run, last attempt, consecutive failures, the next cron fire time, whether
 * it is due now and the DESIGN §3 reason (from sched_should_run, the same
 * function the scheduler uses, so status and the scheduler never disagree).
 * A strategy with no stored state shows "idle" and "never". A corrupt record
 * shows status "corrupt" and the problem as its reason; the other rows are
 * unaffected. "now" is the wall clock, read once here, or --at.
 *
 * The state is read with one state_list() call (one pipelined pass on
 * Redis), then matched to the config by binary search: status stays cheap
 * with thousands of pipelines. State for pipelines no longer in the config
 * is not shown (state export shows everything).
 *
 * A strategy paused by its failures (rule 2) shows status PAUSED and the
 * command that resumes it. The text starts with the scheduler's liveness:
 * the leader's name and its last tick (the why-journal writes both), with
 * a warning when none has ticked for 3 intervals (30 s).
 *
 * --json prints a list of objects: the state fields of `state export`
 * (last_run_at, ...) plus enabled, paused, cron, next_fire_at, due and
 * reason, and for a cdc strategy confirmed_lsn and slot_retained_bytes (the
 * WAL its replication slot retained when the last run began); unknown
 * values are null.
 */
#include "cli.h"

#include "../cron/cron.h"
#include "../json/json.h"
#include "../lock/lock.h"
#include "../sched/sched.h"
#include "../time/st_time.h"

#include <getopt.h>
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
    if (sched_recover_lost(st, lm, pipeline, st_time_now(), NULL, &e) != ST_OK)
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

/* One row: the record (or defaults), and the decision about it. */
typedef struct status_row {
    const config_pipeline *p;
    const config_strategy *s;
    state_record rec;
    bool has_state, corrupt;
    int64_t next;
    bool due, paused;
    char reason[1100];
    /* cdc: the confirmed LSN and the WAL its slot retained at the last run
     * (state meta "watermark", "slot_retained_bytes"; "" when unknown) */
    char cdc_lsn[32], cdc_retained[32];
} status_row;

/* Fills the record part: from the listing, else "no state" or "corrupt". */
static void row_state(status_row *r, state *st, const state_record *all, size_t n) {
    const state_record *found = state_list_find(all, n, r->p->name, r->s->name);
    if (found) {
        r->rec = *found;
        r->has_state = true;
        return;
    }
    st_error err;
    int rc = state_get(st, r->p->name, r->s->name, &r->rec, &err);
    if (rc == ST_OK) {
        r->has_state = true; /* written between list and get */
        return;
    }
    memset(&r->rec, 0, sizeof r->rec);
    r->rec.last_run = r->rec.last_scheduled_at = r->rec.last_attempted_at = ST_TIME_NONE;
    r->rec.updated_at = ST_TIME_NONE;
    if (rc != ST_ENOTFOUND) {
        r->corrupt = true;
        snprintf(r->reason, sizeof r->reason, "%s", err.msg);
    }
}

/* Fills next fire time, due and reason. */
static void row_decide(status_row *r, int64_t now) {
    r->next = ST_TIME_NONE;
    if (r->corrupt) return;
    if (r->s->cron == NULL) {
        snprintf(r->reason, sizeof r->reason, "No cron: runs only on demand");
        return;
    }
    cron_expr *c = NULL;
    st_error err;
    const char *cron_err = NULL;
    if (cron_parse(&c, r->s->cron, r->s->timezone, &err) != ST_OK) cron_err = err.msg;
    else if (cron_next(c, now, &r->next) != ST_OK) r->next = ST_TIME_NONE;
    sched_settings set;
    sched_settings_from_config(&set, &r->p->retry);
    sched_decision d;
    sched_should_run(r->has_state ? &r->rec : NULL, c, cron_err, now, &set, &d);
    cron_free(c);
    r->due = r->s->enabled && d.run;
    bool by_failures = d.rule == SCHED_RULE_MAX_RETRY;
    bool by_operator = d.rule == SCHED_RULE_PAUSED;
    r->paused = by_failures || by_operator;
    if (r->s->enabled && r->paused)
        snprintf(r->reason, sizeof r->reason, "%s: run `synctool %s %s --strategy %s` to "
                 "resume", d.reason, by_failures ? "reset" : "resume", r->p->name, r->s->name);
    else if (r->s->enabled)
        snprintf(r->reason, sizeof r->reason, "%s", d.reason);
    else
        snprintf(r->reason, sizeof r->reason, "Disabled in config");
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
    fmt_when(r->rec.last_run, "never", t->last_run, sizeof t->last_run);
    fmt_when(r->rec.last_attempted_at, "-", t->attempt, sizeof t->attempt);
    fmt_when(r->next, "-", t->next, sizeof t->next);
    snprintf(t->retries, sizeof t->retries, "%lld", (long long)r->rec.retry_count);
    t->cell[0] = r->p->name;
    t->cell[1] = r->s->name;
    t->cell[2] = r->corrupt ? "corrupt" : r->paused ? "PAUSED" : state_status_name(r->rec.status);
    t->cell[3] = t->last_run;
    t->cell[4] = t->attempt;
    t->cell[5] = t->retries;
    t->cell[6] = t->next;
    t->cell[7] = r->due ? "yes" : "no";
    t->cell[8] = r->reason;
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
    const config_problems *bad = cli_config_left_out();
    for (size_t i = 0; i < bad->n; i++) {
        if (i == 0) printf("\nINVALID pipeline files, left out (fix them; see synctool validate):\n");
        printf("  %s\n", bad->items[i]);
    }
}

/* --- JSON --- */

static void json_row(json_writer *w, const status_row *r) {
    const state_record *s = &r->rec;
    json_begin_object(w);
    json_kv_string(w, "pipeline", r->p->name);
    json_kv_string(w, "strategy", r->s->name);
    json_kv_string(w, "status", r->corrupt ? "corrupt" : state_status_name(s->status));
    json_kv_time(w, "last_run_at", s->last_run);
    json_kv_time(w, "last_scheduled_at", s->last_scheduled_at);
    json_kv_time(w, "last_attempted_at", s->last_attempted_at);
    json_kv_int(w, "retry_count", s->retry_count);
    json_key(w, "run_id");
    if (s->run_id > 0) json_int(w, s->run_id); else json_null(w);
    json_kv_text(w, "worker", s->worker);
    json_kv_text(w, "message", s->message);
    json_kv_text(w, "error", s->error);
    json_kv_time(w, "updated_at", s->updated_at);
    json_kv_bool(w, "has_state", r->has_state);
    json_kv_bool(w, "enabled", r->s->enabled);
    json_kv_bool(w, "paused", r->paused);
    json_kv_string(w, "cron", r->s->cron);
    json_kv_time(w, "next_fire_at", r->next);
    json_kv_bool(w, "due", r->due);
    json_kv_string(w, "reason", r->reason);
    if (r->s->type == CONFIG_STRATEGY_CDC) {
        json_kv_string(w, "confirmed_lsn", r->cdc_lsn[0] ? r->cdc_lsn : NULL);
        json_key(w, "slot_retained_bytes");
        if (r->cdc_retained[0]) json_int(w, strtoll(r->cdc_retained, NULL, 10));
        else json_null(w);
    }
    json_end_object(w);
}

static int print_json(const status_row *rows, size_t n) {
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    for (size_t i = 0; i < n; i++) json_row(&w, &rows[i]);
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
    if (rows == NULL) {
        free(all);
        fprintf(stderr, "synctool status: out of memory\n");
        return CLI_FAILED;
    }
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        for (size_t j = 0; (!only || only == p) && j < p->nstrategies; j++, k++) {
            rows[k].p = p;
            rows[k].s = &p->strategies[j];
            row_state(&rows[k], st, all, nall);
            row_decide(&rows[k], now);
            if (rows[k].s->type != CONFIG_STRATEGY_CDC) continue;
            if (state_meta_get(st, p->name, rows[k].s->name, "watermark", rows[k].cdc_lsn,
                               sizeof rows[k].cdc_lsn, NULL) != ST_OK)
                rows[k].cdc_lsn[0] = '\0';
            if (state_meta_get(st, p->name, rows[k].s->name, "slot_retained_bytes",
                               rows[k].cdc_retained, sizeof rows[k].cdc_retained, NULL) != ST_OK)
                rows[k].cdc_retained[0] = '\0';
        }
    }
    int rc = CLI_OK;
    if (json) rc = print_json(rows, n);
    else print_text(st, rows, n, now);
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
