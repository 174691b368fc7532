/*
 * synctool why PIPELINE [--strategy S] [--since TIME] [--until TIME]
 * [--json] — "why didn't it run last night?" in one command.
 *
 * Prints the timeline of PIPELINE's strategies, oldest first: the
 * scheduler's decisions as they changed (the why-journal, src/why: instant,
 * run / wait, the §3 reason verbatim), its enqueues and resets, merged with
 * the attempts from the run history (skipped, success, failed, ... with the
 * run id and message or error). --since / --until bound the instants
 * (ISO-8601; without an offset UTC); the default is everything kept (the
 * history's retention).
 *
 * --json: [{"at", "strategy", "kind": "decision"|"event"|"attempt",
 * "should_run" (decisions), "status" (attempts), "run_id" (attempts),
 * "text"}]. Exit 0, 1 (state unreadable), 2 usage.
 */
#include "cli.h"

#include "../json/json.h"
#include "../time/st_time.h"
#include "../why/why.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct why_line {
    int64_t at;
    const char *strategy;
    int kind;            /* 0 decision, 1 event, 2 attempt */
    bool run;
    const char *status;
    int64_t run_id;
    char text[1100];
} why_line;

static void usage(FILE *f) {
    fprintf(f, "usage: synctool why PIPELINE [--strategy S] [--since TIME] [--until TIME] "
               "[--json]\n\n"
               "The timeline of PIPELINE: the scheduler's decisions when they changed (run\n"
               "or wait, and why), its enqueues and resets, merged with every attempt from\n"
               "the history (skipped, success, failed ...). Oldest first.\n\n"
               "  --strategy S   only strategy S\n"
               "  --since TIME   from this instant (ISO-8601; without an offset UTC)\n"
               "  --until TIME   up to this instant\n"
               "  --json         [{at, strategy, kind, should_run, status, run_id, text}]\n");
}

static int by_time(const void *a, const void *b) {
    const why_line *x = a, *y = b;
    if (x->at != y->at) return x->at < y->at ? -1 : 1;
    return x->kind - y->kind;   /* a decision before the attempt it caused */
}

typedef struct lines {
    why_line *v;
    size_t n, cap;
} lines;

static why_line *push(lines *l) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        why_line *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) return NULL;
        l->v = v;
        l->cap = cap;
    }
    why_line *w = &l->v[l->n++];
    memset(w, 0, sizeof *w);
    return w;
}

static int collect(state *st, const config_pipeline *p, const config_strategy *s, lines *l) {
    why_entry *j = NULL;
    size_t nj = 0;
    st_error err;
    if (why_read(st, p->name, s->name, &j, &nj, &err) != ST_OK)
        return cli_error("why", "state_unavailable", CLI_FAILED, "%s", err.msg);
    for (size_t i = 0; i < nj; i++) {
        why_line *w = push(l);
        if (w == NULL) break;
        w->at = j[i].at;
        w->strategy = s->name;
        w->kind = j[i].decision ? 0 : 1;
        w->run = j[i].run;
        snprintf(w->text, sizeof w->text, "%s", j[i].text);
    }
    free(j);
    state_history_entry *h = NULL;
    size_t nh = 0;
    if (state_history(st, p->name, s->name, 100000, &h, &nh, &err) != ST_OK)
        return cli_error("why", "state_unavailable", CLI_FAILED, "%s", err.msg);
    for (size_t i = 0; i < nh; i++) {
        why_line *w = push(l);
        if (w == NULL) break;
        w->at = h[i].started_at != ST_TIME_NONE ? h[i].started_at : h[i].finished_at;
        w->strategy = s->name;
        w->kind = 2;
        w->status = state_status_name(h[i].status);
        w->run_id = h[i].run_id;
        if (h[i].error[0])
            snprintf(w->text, sizeof w->text, "%s", h[i].error);
        else
            snprintf(w->text, sizeof w->text, "%s", h[i].message);
    }
    free(h);
    return CLI_OK;
}

static void print_text(const config_pipeline *p, const lines *l, int64_t since, int64_t until) {
    size_t shown = 0;
    for (size_t i = 0; i < l->n; i++) {
        const why_line *w = &l->v[i];
        if ((since != ST_TIME_NONE && w->at < since) || (until != ST_TIME_NONE && w->at > until))
            continue;
        if (shown++ == 0) printf("Timeline of %s (oldest first)\n\n", p->name);
        char at[40], what[64];
        st_time_format(w->at, at, sizeof at);
        if (w->kind == 0) snprintf(what, sizeof what, "decided %s", w->run ? "run" : "wait");
        else if (w->kind == 1) snprintf(what, sizeof what, "event");
        else snprintf(what, sizeof what, "run %lld %s", (long long)w->run_id, w->status);
        printf("%-27s %-16s %-20s %s\n", at, w->strategy, what, w->text);
    }
    if (shown == 0)
        printf("Nothing recorded for %s in that period (decisions are recorded by a running "
               "scheduler).\n", p->name);
}

static int print_json(const lines *l, int64_t since, int64_t until) {
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    for (size_t i = 0; i < l->n; i++) {
        const why_line *x = &l->v[i];
        if ((since != ST_TIME_NONE && x->at < since) || (until != ST_TIME_NONE && x->at > until))
            continue;
        json_begin_object(&w);
        json_kv_time(&w, "at", x->at);
        json_kv_string(&w, "strategy", x->strategy);
        json_kv_string(&w, "kind", x->kind == 0 ? "decision" : x->kind == 1 ? "event" : "attempt");
        json_key(&w, "should_run");
        if (x->kind == 0) json_bool(&w, x->run); else json_null(&w);
        json_kv_string(&w, "status", x->kind == 2 ? x->status : NULL);
        json_key(&w, "run_id");
        if (x->kind == 2 && x->run_id > 0) json_int(&w, x->run_id); else json_null(&w);
        json_kv_text(&w, "text", x->text);
        json_end_object(&w);
    }
    json_end_array(&w);
    int rc = cli_print_json("why", &w);
    json_release(&w);
    return rc;
}

int cli_cmd_why(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"strategy", required_argument, NULL, 's'},
                                         {"since", required_argument, NULL, 'S'},
                                         {"until", required_argument, NULL, 'U'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *strategy = NULL;
    int64_t since = ST_TIME_NONE, until = ST_TIME_NONE;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 's') strategy = optarg;
        else if (c == 'j') json = true;
        else if (c == 'S') { if (cli_parse_time("--since", optarg, &since)) return CLI_USAGE; }
        else if (c == 'U') { if (cli_parse_time("--until", optarg, &until)) return CLI_USAGE; }
        else { usage(stderr); return CLI_USAGE; }
    }
    if (argc - optind != 1) return cli_usage_error("why", "expected one PIPELINE (see --help)");
    config *cfg = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, argv[optind]);
    const config_strategy *only = p && strategy ? config_strategy_find(p, strategy) : NULL;
    state *st = NULL;
    lines l = {0};
    if (p == NULL) rc = cli_unknown_pipeline("why", cfg, argv[optind]);
    else if (strategy && only == NULL) rc = cli_unknown_strategy("why", p, strategy);
    else if ((rc = cli_open_state(cfg, &st)) == CLI_OK) {
        for (size_t i = 0; rc == CLI_OK && i < p->nstrategies; i++)
            if (!only || only == &p->strategies[i]) rc = collect(st, p, &p->strategies[i], &l);
        if (rc == CLI_OK) {
            qsort(l.v, l.n, sizeof *l.v, by_time);
            if (json) rc = print_json(&l, since, until);
            else print_text(p, &l, since, until);
        }
    }
    free(l.v);
    state_close(st);
    config_free(cfg);
    return rc;
}
