/*
 * synctool explain PIPELINE [--strategy S] [--at TIME] [--json] — why each
 * strategy of a pipeline would or would not run at an instant.
 *
 * It loads the config and the state, compiles each strategy's cron (in its
 * zone) and asks sched_select() exactly what the scheduler would ask at
 * --at (default: now, read once here): per strategy the decision, the §3
 * reason verbatim, the slot around the instant (prev inclusive, next strict)
 * and the retry backoff; then which strategy would be selected. It writes
 * no state (opening the default SQLite state may create its empty file) and
 * opens no datastore, so it is safe against a live system.
 *
 * State: a strategy without a state record (ST_ENOTFOUND) is decided as "no
 * state"; any other state error (corrupt record, unreachable backend) is
 * printed naming pipeline:strategy and the command fails (exit 1) rather
 * than explaining a decision from data it could not read. An invalid cron
 * is not fatal: it is rule 1 ("Error: ...") for that strategy.
 *
 * The past: when a strategy's record was written after --at (today's state
 * would answer "Already ran at <a time after --at>"), its state as of --at
 * is rebuilt from the run history (attempts finished by then: status,
 * retry count, last success, last attempt; a run started before and
 * finished after is running) and the why-journal's enqueues (last
 * scheduled). The text says which strategies were rebuilt.
 *
 * The text names the pipeline's compare: false columns ("ignored columns:
 * views"), which full, hash and diff leave out of their comparisons; the
 * JSON does not (its keys are fixed, DESIGN §5: the API's pipeline detail
 * has "compare" per column).
 *
 * --strategy S restricts the per-strategy output to S; "selected" is still
 * the pipeline-wide choice, since selection weighs every strategy.
 *
 * --json prints, through view_explain_json (the API's detail "explain"),
 *   {"pipeline", "at", "selected", "strategies": [{"name", "should_run",
 *    "reason", "prev_slot", "next_slot", "next_fire_at", "backoff_seconds",
 *    ...}]}
 * each strategy being its state object (view_strategy_json's members:
 * paused, paused_by, watermark, ...) plus "name" (DESIGN §5), with instants
 * as ISO-8601 UTC strings (null when unknown) and selected a strategy name
 * or null. The text adds a delta strategy's watermark and a pause's cause.
 */
#include "cli.h"

#include "../cron/cron.h"
#include "../json/json.h"
#include "../sched/sched.h"
#include "../sync/sync.h"
#include "../time/st_time.h"
#include "../view/view.h"
#include "../why/why.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct explain_ctx {
    const config_pipeline *p;
    const char *only;            /* --strategy, or NULL */
    int64_t at;
    state_record *records;
    const state_record **states; /* NULL entries = no state */
    bool *rebuilt;               /* state as of --at rebuilt from history */
    view_pipeline v;             /* the decisions (sched_select), watermarks */
} explain_ctx;

static void usage(FILE *f) {
    fprintf(f,
            "usage: synctool [--config-dir DIR] explain PIPELINE [--strategy S] [--at TIME] "
            "[--json]\n\n"
            "For each strategy of PIPELINE: whether the scheduler would run it at TIME,\n"
            "the reason, the cron slot around TIME and the retry backoff; then which\n"
            "strategy would be selected. Reads config and state; writes no state.\n\n"
            "  --strategy S  show only strategy S (selection still weighs all)\n"
            "  --at TIME     ISO-8601 instant (default now), e.g.\n"
            "                2025-10-15T10:06:00Z; without an offset it is UTC\n"
            "  --json        {\"pipeline\", \"at\", \"selected\", \"strategies\": [{\"name\",\n"
            "                \"should_run\", \"reason\", \"prev_slot\", \"next_slot\",\n"
            "                \"next_fire_at\", \"backoff_seconds\", ...}]}: each strategy's\n"
            "                state object (as status --json) plus name\n"
            "  -h, --help    this help\n");
}

static void explain_free(explain_ctx *x) {
    view_free(&x->v);
    free(x->records);
    free(x->states);
    free(x->rebuilt);
}

static int explain_alloc(explain_ctx *x) {
    size_t n = x->p->nstrategies ? x->p->nstrategies : 1;
    x->records = calloc(n, sizeof *x->records);
    x->states = calloc(n, sizeof *x->states);
    x->rebuilt = calloc(n, sizeof *x->rebuilt);
    if (!x->records || !x->states || !x->rebuilt) {
        fprintf(stderr, "synctool explain: out of memory\n");
        return CLI_FAILED;
    }
    return CLI_OK;
}

/* Reads every strategy's state; ST_ENOTFOUND is "no state". */
static int explain_load_states(explain_ctx *x, state *st) {
    for (size_t i = 0; i < x->p->nstrategies; i++) {
        const char *name = x->p->strategies[i].name;
        st_error err;
        st_error_clear(&err);
        int rc = state_get(st, x->p->name, name, &x->records[i], &err);
        state_record past;
        int rb = rc == ST_OK ? why_state_as_of(st, &x->records[i], x->at, &past) : -1;
        if (rb >= 0) {
            x->rebuilt[i] = true; /* today's record is newer than --at: use the past */
            x->records[i] = past;
            x->states[i] = rb == 1 ? &x->records[i] : NULL;
        } else if (rc == ST_OK) {
            x->states[i] = &x->records[i];
        } else if (rc != ST_ENOTFOUND) {
            return cli_error("explain", "state_unavailable", CLI_FAILED, "state of %s:%s: %s",
                             x->p->name, name, err.msg[0] ? err.msg : st_error_name(rc));
        }
    }
    return CLI_OK;
}

static bool explain_shown(const explain_ctx *x, size_t i) {
    return x->only == NULL || strcmp(x->only, x->p->strategies[i].name) == 0;
}

/* --- output --- */

/* An aggregate pipeline: its groups and the map delta keeps beside the
 * destination (sync_aggregate.c). */
static void explain_aggregate(const config_pipeline *p) {
    if (p->aggregate == NULL) return;
    printf("aggregate: one row per group of");
    for (size_t i = 0; i < p->aggregate->ngroup_by; i++) {
        const char *g = p->aggregate->group_by[i], *e = NULL;
        for (size_t k = 0; k < p->ncolumns; k++)
            if (strcmp(p->columns[k].name, g) == 0) e = p->columns[k].expr;
        printf("%s %s%s%s", i ? "," : "", g, e ? " = " : "", e ? e : "");
    }
    char map[80];
    sync_agg_map_name(p, map, sizeof map);
    printf("; delta recomputes the groups its changed rows left and joined (group map %s); "
           "deleted source rows are seen by full and hash\n", map);
}

/* "lookup crm: crm.public.customers by customer_id = id adds segment, tier
 * (...)": each lookup (config_lookup) and what full/hash/delta see of it. */
static void print_lookups(const config_pipeline *p) {
    for (size_t i = 0; i < p->nlookups; i++) {
        const config_lookup *lk = &p->lookups[i];
        printf("lookup %s: %s.%s.%s by %s = %s adds ", lk->name, lk->datastore,
               config_lookup_schema_shown(lk), lk->table, lk->key, lk->lookup_key);
        for (size_t j = 0; j < lk->ncolumns && lk->first + j < p->ncolumns; j++) {
            const config_column *c = &p->columns[lk->first + j];
            printf("%s%s", j ? ", " : "", c->dest_name ? c->dest_name : c->name);
        }
        printf(" (%s; cache %lld rows for %lld s; a change in the lookup table is picked up "
               "by full and hash, not by delta)\n",
               lk->required ? "required: a key without a row fails the run"
                            : "a key without a row gives NULLs",
               (long long)lk->cache_rows, (long long)lk->cache_ttl_s);
    }
}

static void print_text(const explain_ctx *x) {
    char at[40], prev[40], next[40];
    st_time_format(x->at, at, sizeof at);
    printf("pipeline %s at %s\n", x->p->name, at);
    char ignored[4096];
    if (config_ignored_columns(x->p, ignored, sizeof ignored) > 0)
        printf("ignored columns: %s (compare: false: full, hash and diff do not compare "
               "them; they are copied with rows that change)\n", ignored);
    if (x->p->source.where != NULL) printf("source filter: %s\n", x->p->source.where);
    explain_aggregate(x->p);
    for (size_t i = 0; i < x->p->ncolumns; i++)
        if (x->p->columns[i].expr != NULL)
            printf("computed column: %s = %s\n", x->p->columns[i].name, x->p->columns[i].expr);
    print_lookups(x->p);
    for (size_t i = 0; i < x->p->nstrategies; i++) {
        if (!explain_shown(x, i)) continue;
        const config_strategy *s = &x->p->strategies[i];
        const sched_decision *d = &x->v.d[i];
        st_time_format(d->prev, prev, sizeof prev);
        st_time_format(d->next, next, sizeof next);
        printf("\n  %s (%s, cron %s%s%s%s)\n", s->name, config_strategy_type_name(s->type),
               s->cron ? s->cron : "-", s->timezone ? " " : "", s->timezone ? s->timezone : "",
               s->enabled ? "" : ", disabled");
        printf("    decision: %s\n", d->run ? "run" : "do not run");
        printf("    reason:   %s\n", d->reason);
        printf("    slot:     %s .. %s\n", prev, next);
        if (x->rebuilt[i])
            printf("    state:    as of %s, rebuilt from the run history (the current record "
                   "is newer)\n", at);
        const char *by = view_paused_by(&x->v, i);
        if (by) printf("    paused:   by %s\n", by);
        if (s->type == CONFIG_STRATEGY_DELTA)
            printf("    watermark: %s\n", x->v.watermark[i] ? x->v.watermark[i]
                                                            : "none (the next run reads every row)");
        if (d->backoff_s > 0)
            printf("    backoff:  %llds\n", (long long)d->backoff_s);
        else
            printf("    backoff:  -\n");
    }
    if (x->v.selected >= 0)
        printf("\nselected: %s\n", x->p->strategies[x->v.selected].name);
    else
        printf("\nselected: none (no strategy is due)\n");
}

static int print_json(const explain_ctx *x) {
    json_writer w;
    json_init(&w);
    view_explain_json(&w, &x->v, x->only);
    int rc = cli_print_json("explain", &w);
    json_release(&w);
    return rc;
}

/* Everything after the config is loaded and the pipeline found. */
static int explain_pipeline(explain_ctx *x, const config *cfg, bool as_json) {
    int rc = explain_alloc(x);
    if (rc != CLI_OK) return rc;
    state *st = NULL;
    rc = cli_open_state(cfg, &st);
    if (rc != CLI_OK) return rc;
    rc = explain_load_states(x, st);
    if (rc == CLI_OK && view_build(&x->v, cfg, x->p, x->states, true, x->at) != ST_OK)
        rc = cli_error("explain", "out_of_memory", CLI_FAILED, "out of memory");
    if (rc == CLI_OK) view_load_live(&x->v, st, false);
    state_close(st);
    if (rc != CLI_OK) return rc;
    if (as_json) return print_json(x);
    print_text(x);
    return CLI_OK;
}

int cli_cmd_explain(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {
        {"strategy", required_argument, NULL, 's'},
        {"at", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    explain_ctx x = {.at = ST_TIME_NONE};
    bool as_json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': x.only = optarg; break;
        case 'a':
            if (cli_parse_time("--at", optarg, &x.at) != CLI_OK) return CLI_USAGE;
            break;
        case 'j': as_json = true; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind >= argc) return cli_usage_error("explain", "missing PIPELINE (see --help)");
    if (optind + 1 < argc)
        return cli_usage_error("explain", "unexpected argument '%s' (see --help)",
                               argv[optind + 1]);
    const char *name = argv[optind];
    if (x.at == ST_TIME_NONE) x.at = st_time_now();
    config *cfg = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    x.p = config_pipeline_find(cfg, name);
    if (x.p == NULL) {
        rc = cli_unknown_pipeline("explain", cfg, name);
    } else if (x.only && config_strategy_find(x.p, x.only) == NULL) {
        rc = cli_unknown_strategy("explain", x.p, x.only);
    } else {
        rc = explain_pipeline(&x, cfg, as_json);
        explain_free(&x);
    }
    config_free(cfg);
    return rc;
}
