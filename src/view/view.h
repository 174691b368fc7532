/*
 * view — what an operator reads about a pipeline, written as JSON in one
 * place for every surface: `status --json`, `explain --json`, `list --json`,
 * the HTTP API (GET /api/v1/pipelines...) and, through the API, the
 * dashboard. /metrics reads the same predicates (view_paused_by).
 *
 * A view_pipeline is one pipeline at an instant: per strategy its state
 * record (or none), its compiled cron, the scheduler's decision
 * (sched_select: the reason is the scheduler's reason verbatim), the next
 * fire time, and what view_load_live adds from the state store (a delta
 * strategy's watermark, a cdc strategy's confirmed LSN and slot figures, a
 * running run's published progress).
 *
 * Built for 10,000 pipelines per request (status, /api/v1/pipelines): a
 * view is one allocation, its crons are the config's compiled ones
 * (config_strategy_cron), and its live values come in one batch read.
 *
 * The shared vocabulary (docs/cli.md "JSON vocabulary", docs/openapi.yaml):
 *   a pipeline is named by "pipeline", a strategy by "strategy" (explain
 *   keeps "name" too, DESIGN §5); "should_run" and "reason" are the
 *   decision; "paused" is true when the strategy will not run because of a
 *   pause and "paused_by" says whose ("operator" | "failures" | null);
 *   "timezone" is the zone the cron is read in ("UTC" when unset); source
 *   and destination are objects; times ISO-8601 UTC or null; unknown is
 *   null, never "".
 */
#ifndef ST_VIEW_H
#define ST_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../cdc/cdc.h"
#include "../config/config.h"
#include "../cron/cron.h"
#include "../json/json.h"
#include "../sched/sched.h"
#include "../state/state.h"

#define VIEW_PROBLEM_MAX 512

typedef struct view_pipeline {
    const config_pipeline *p;
    const config *cfg;          /* for the file name relative to the config dir; may be NULL */
    int64_t at;
    bool with_state;            /* false: config only (`list`) */
    state_record *recs;         /* parallel to p->strategies; blank when none */
    bool *has_state;
    char **problem;             /* an unreadable record's message; NULL = none
                                 * (view_problem); the array itself is NULL until
                                 * the first view_set_problem */
    cron_expr **crons;          /* NULL: no cron or an invalid one */
    bool crons_borrowed;        /* the config's (config_strategy_cron): not freed */
    int64_t *next_fire;
    sched_decision *d;
    int selected;               /* sched_select's answer, -1 = none */
    state_progress *prog;       /* run_id 0 = no progress shown */
    char **watermark;           /* a delta strategy's saved position, a cdc
                                 * strategy's confirmed LSN; NULL = none */
    cdc_figures *slot;          /* cdc: its slot's figures recorded by the last run
                                 * (cdc_figures_read); unknown otherwise */
} view_pipeline;

/* Builds the view of p at `at`. states: parallel to p->strategies (NULL
 * entries = no state), or NULL for a config-only view. ST_ENOMEM or 0. */
int view_build(view_pipeline *v, const config *cfg, const config_pipeline *p,
               const state_record *const *states, bool with_state, int64_t at);
/* The same from a sorted state_list() listing. */
int view_build_listed(view_pipeline *v, const config *cfg, const config_pipeline *p,
                      const state_record *all, size_t nall, int64_t at);
/* The same from a compact listing (state_listing_read). */
int view_build_listing(view_pipeline *v, const config *cfg, const config_pipeline *p,
                       const state_listing *all, int64_t at);
/* Marks strategy i's record unreadable (status "corrupt", msg as reason). */
void view_set_problem(view_pipeline *v, size_t i, const char *msg);
/* Strategy i's problem (view_set_problem), or NULL when its record is fine. */
const char *view_problem(const view_pipeline *v, size_t i);
/* Reads each delta strategy's watermark and, with `progress`, each running
 * run's published figures. Best effort: what cannot be read stays unknown. */
void view_load_live(view_pipeline *v, state *st, bool progress);
/* view_load_live for nviews views with one batch read of their values
 * (state_meta_get_many): status and /pipelines at 10,000 pipelines. */
void view_load_live_many(view_pipeline *views, size_t nviews, state *st, bool progress);
void view_free(view_pipeline *v);

/* Why strategy i will not run because of a pause: "operator", "failures",
 * or NULL (not paused). The predicate status, explain, the API and /metrics
 * share (sched_paused_by_failures). */
const char *view_paused_by(const view_pipeline *v, size_t i);
/* The same for one record (NULL = no state) at `now`: what /metrics'
 * synctool_paused reads, so it cannot disagree with the JSON. */
const char *view_record_paused_by(const config_pipeline *p, const config_strategy *cs,
                                  const state_record *r, int64_t now);

/* --- the writers: one per concept --- */

/* Strategy state: config, record, decision, watermark, progress. */
void view_strategy_json(json_writer *w, const view_pipeline *v, size_t i);
/* Pipeline summary: the members of the pipeline object (the caller opens
 * and closes it, so the API's detail can add its own). */
void view_pipeline_fields(json_writer *w, const view_pipeline *v);
/* The explanation of `explain --json` and the API's detail "explain":
 * {"pipeline", "at", "selected", "strategies": [strategy state + "name"]}. */
void view_explain_json(json_writer *w, const view_pipeline *v, const char *only);
/* An error: {"error": {"code", "message"[, "token"]}}. */
void view_error_json(json_writer *w, const char *code, const char *message, const char *token);
/* A source or destination: {"datastore", "schema", "table", "query"}. */
void view_endpoint_json(json_writer *w, const config_endpoint *e);
/* "aggregate": null, or {"group_by": [...], "group_map": "synctool_groups_..."}
 * for an aggregate pipeline (config.h `aggregate:`). */
void view_aggregate_json(json_writer *w, const config_pipeline *p);
/* A pipeline's `lookups:`: [{"name", "datastore", "schema", "table", "key",
 * "lookup_key", "columns": [{"name", "dest", "type"}], "required",
 * "cache_rows", "cache_ttl_s"}] ([] without lookups). */
void view_lookups_json(json_writer *w, const config_pipeline *p);

#endif
