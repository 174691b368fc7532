/*
 * view_json — the one JSON writer of each operator concept built from a
 * view (view.h): strategy state, pipeline summary, explanation, error and
 * a source or destination. `status --json`, `explain --json`, `list
 * --json`, the HTTP API and the dashboard (which reads the API) all print
 * through these, so their names cannot drift apart (docs/cli.md "JSON
 * vocabulary", docs/openapi.yaml schemas Strategy, PipelineSummary,
 * Explain, Error).
 *
 * A config-only view (`list`, no state read) writes the config members of
 * a strategy and of a pipeline only; a view with state writes every member.
 */
#include "view.h"

#include "../notify/notify.h"
#include "../sync/sync.h"
#include "../time/st_time.h"

#include <stdlib.h>
#include <string.h>

void view_endpoint_json(json_writer *w, const config_endpoint *e) {
    json_begin_object(w);
    json_kv_string(w, "datastore", e->datastore);
    json_kv_string(w, "schema", e->schema || e->table ? config_schema_shown(e) : NULL);
    json_kv_string(w, "table", e->table);
    json_kv_bool(w, "query", e->query != NULL);
    json_kv_string(w, "where", e->where);
    json_end_object(w);
}

void view_aggregate_json(json_writer *w, const config_pipeline *p) {
    json_key(w, "aggregate");
    if (p->aggregate == NULL) {
        json_null(w);
        return;
    }
    json_begin_object(w);
    json_key(w, "group_by");
    json_begin_array(w);
    for (size_t i = 0; i < p->aggregate->ngroup_by; i++) json_string(w, p->aggregate->group_by[i]);
    json_end_array(w);
    char map[80];
    sync_agg_map_name(p, map, sizeof map);
    json_kv_string(w, "group_map", map);
    json_end_object(w);
}

/* `lookups:` (config_lookup): what each adds to the rows, from where. */
void view_lookups_json(json_writer *w, const config_pipeline *p) {
    json_begin_array(w);
    for (size_t i = 0; i < p->nlookups; i++) {
        const config_lookup *lk = &p->lookups[i];
        json_begin_object(w);
        json_kv_string(w, "name", lk->name);
        json_kv_string(w, "datastore", lk->datastore);
        json_kv_string(w, "schema", lk->schema ? config_lookup_schema_shown(lk) : NULL);
        json_kv_string(w, "table", lk->table);
        json_kv_string(w, "key", lk->key);
        json_kv_string(w, "lookup_key", lk->lookup_key);
        json_key(w, "columns");
        json_begin_array(w);
        for (size_t j = 0; j < lk->ncolumns && lk->first + j < p->ncolumns; j++) {
            const config_column *c = &p->columns[lk->first + j];
            json_begin_object(w);
            json_kv_string(w, "name", c->name);
            json_kv_string(w, "dest", c->dest_name ? c->dest_name : c->name);
            json_kv_string(w, "type", c->type);
            json_end_object(w);
        }
        json_end_array(w);
        json_kv_bool(w, "required", lk->required);
        json_kv_int(w, "cache_rows", lk->cache_rows);
        json_kv_int(w, "cache_ttl_s", lk->cache_ttl_s);
        json_end_object(w);
    }
    json_end_array(w);
}

static void kv_opt_int(json_writer *w, const char *key, bool known, int64_t v) {
    json_key(w, key);
    if (known) json_int(w, v); else json_null(w);
}

static void config_members(json_writer *w, const view_pipeline *v, size_t i) {
    const config_strategy *s = &v->p->strategies[i];
    json_kv_string(w, "pipeline", v->p->name);
    json_kv_string(w, "strategy", s->name);
    json_kv_string(w, "type", config_strategy_type_name(s->type));
    json_kv_text(w, "cron", s->cron);
    json_kv_string(w, "timezone", s->timezone && s->timezone[0] ? s->timezone : "UTC");
    json_kv_bool(w, "enabled", s->enabled);
    json_kv_time(w, "next_fire_at", s->enabled ? v->next_fire[i] : ST_TIME_NONE);
    kv_opt_int(w, "max_slot_lag", s->max_slot_lag > 0, s->max_slot_lag);
}

static void record_members(json_writer *w, const view_pipeline *v, size_t i) {
    const state_record *r = &v->recs[i];
    bool corrupt = view_problem(v, i) != NULL;
    json_kv_bool(w, "has_state", v->has_state[i]);
    json_kv_string(w, "status", corrupt ? "corrupt" : state_status_name(r->status));
    const char *by = view_paused_by(v, i);
    json_kv_bool(w, "paused", by != NULL);
    json_kv_string(w, "paused_by", by);
    json_kv_time(w, "last_run_at", r->last_run);
    json_kv_time(w, "last_attempted_at", r->last_attempted_at);
    json_kv_time(w, "last_scheduled_at", r->last_scheduled_at);
    json_kv_time(w, "updated_at", r->updated_at);
    json_kv_int(w, "retry_count", r->retry_count);
    kv_opt_int(w, "run_id", r->run_id > 0, r->run_id);
    json_kv_text(w, "worker", r->worker);
    json_kv_text(w, "message", r->message);
    json_kv_text(w, "error", r->error);
    json_kv_string(w, "watermark", v->watermark[i]);
    const cdc_figures *f = &v->slot[i];
    kv_opt_int(w, "slot_retained_bytes", f->retained >= 0, f->retained);
    kv_opt_int(w, "slot_lag_bytes", f->lag >= 0, f->lag);
    notify_fresh sl = notify_slot_level(f->retained, v->p->strategies[i].max_slot_lag);
    json_kv_string(w, "slot_level", sl == NOTIFY_FRESH_UNKNOWN ? NULL : notify_fresh_name(sl));
    json_key(w, "slot_lag_s");
    if (f->confirmed_at != ST_TIME_NONE && v->at >= f->confirmed_at)
        json_double(w, (double)((v->at - f->confirmed_at) / 1000) / 1000.0);
    else
        json_null(w);
    json_key(w, "progress");
    if (v->prog[i].run_id > 0) state_progress_write_json(w, &v->prog[i]); else json_null(w);
    json_key(w, "freshness_s");
    if (r->last_run != ST_TIME_NONE && v->at >= r->last_run)
        json_double(w, (double)((v->at - r->last_run) / 1000) / 1000.0);
    else
        json_null(w);
}

/* The decision: sched_select's verdict and reason, verbatim. */
static void decision_members(json_writer *w, const view_pipeline *v, size_t i) {
    const sched_decision *d = &v->d[i];
    const char *problem = view_problem(v, i);
    json_kv_bool(w, "should_run", problem == NULL && d->run);
    json_kv_string(w, "reason", problem ? problem : d->reason);
    json_kv_time(w, "prev_slot", d->prev);
    json_kv_time(w, "next_slot", d->next);
    json_kv_int(w, "backoff_seconds", d->backoff_s);
}

static void strategy_members(json_writer *w, const view_pipeline *v, size_t i) {
    config_members(w, v, i);
    if (!v->with_state) return;
    record_members(w, v, i);
    decision_members(w, v, i);
}

void view_strategy_json(json_writer *w, const view_pipeline *v, size_t i) {
    json_begin_object(w);
    strategy_members(w, v, i);
    json_end_object(w);
}

/* The pipeline's `freshness:` thresholds and where its data stands: the age
 * of the newest successful run of any strategy and its level, decided as
 * the alerts decide it (notify_pipeline_fresh: the age, made worse by a cdc
 * slot retaining WAL; "slot_strategy" names that strategy when its slot
 * decided). Unset thresholds are null. */
static void freshness_json(json_writer *w, const view_pipeline *v) {
    const config_pipeline *p = v->p;
    int64_t last = ST_TIME_NONE;
    for (size_t i = 0; i < p->nstrategies; i++) {
        int64_t lr = v->recs[i].last_run;
        if (lr != ST_TIME_NONE && lr <= v->at && (last == ST_TIME_NONE || lr > last)) last = lr;
    }
    json_key(w, "freshness");
    json_begin_object(w);
    kv_opt_int(w, "warn_after_s", p->freshness.warn_after_s > 0, p->freshness.warn_after_s);
    kv_opt_int(w, "error_after_s", p->freshness.error_after_s > 0, p->freshness.error_after_s);
    json_kv_time(w, "last_success_at", last);
    json_key(w, "age_s");
    if (last != ST_TIME_NONE) json_double(w, (double)((v->at - last) / 1000) / 1000.0);
    else json_null(w);
    int64_t small[8];
    int64_t *kept = p->nstrategies <= 8 ? small : calloc(p->nstrategies, sizeof *kept);
    for (size_t i = 0; kept != NULL && i < p->nstrategies; i++) kept[i] = v->slot[i].retained;
    int by = -1;
    notify_fresh level = notify_pipeline_fresh(p, last, kept, v->at, &by);
    if (kept != small) free(kept);
    json_kv_string(w, "level", level == NOTIFY_FRESH_UNKNOWN ? NULL : notify_fresh_name(level));
    json_kv_string(w, "slot_strategy", by >= 0 ? p->strategies[by].name : NULL);
    json_end_object(w);
}

static const char *rel_file(const config *cfg, const char *file) {
    if (cfg == NULL || cfg->dir == NULL || file == NULL) return file;
    size_t n = strlen(cfg->dir);
    if (strncmp(file, cfg->dir, n) == 0 && file[n] == '/') return file + n + 1;
    return file;
}

void view_pipeline_fields(json_writer *w, const view_pipeline *v) {
    const config_pipeline *p = v->p;
    json_kv_string(w, "pipeline", p->name);
    json_kv_text(w, "description", p->description);
    json_kv_string(w, "file", rel_file(v->cfg, p->file));
    json_key(w, "source");
    view_endpoint_json(w, &p->source);
    json_key(w, "destination");
    view_endpoint_json(w, &p->destination);
    view_aggregate_json(w, p);
    json_key(w, "lookups");
    view_lookups_json(w, p);
    if (v->with_state) {
        json_kv_string(w, "selected", v->selected >= 0 ? p->strategies[v->selected].name : NULL);
        bool any = false;
        for (size_t i = 0; i < p->nstrategies; i++) any = any || view_paused_by(v, i) != NULL;
        json_kv_bool(w, "paused", any);
        freshness_json(w, v);
    }
    json_key(w, "strategies");
    json_begin_array(w);
    for (size_t i = 0; i < p->nstrategies; i++) view_strategy_json(w, v, i);
    json_end_array(w);
}

void view_explain_json(json_writer *w, const view_pipeline *v, const char *only) {
    const config_pipeline *p = v->p;
    json_begin_object(w);
    json_kv_string(w, "pipeline", p->name);
    json_kv_time(w, "at", v->at);
    json_kv_string(w, "selected", v->selected >= 0 ? p->strategies[v->selected].name : NULL);
    json_key(w, "strategies");
    json_begin_array(w);
    for (size_t i = 0; i < p->nstrategies; i++) {
        if (only != NULL && strcmp(only, p->strategies[i].name) != 0) continue;
        json_begin_object(w);
        json_kv_string(w, "name", p->strategies[i].name);   /* DESIGN §5 */
        strategy_members(w, v, i);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
}

void view_error_json(json_writer *w, const char *code, const char *message, const char *token) {
    json_begin_object(w);
    json_key(w, "error");
    json_begin_object(w);
    json_kv_string(w, "code", code);
    json_kv_string(w, "message", message);
    if (token) json_kv_string(w, "token", token);
    json_end_object(w);
    json_end_object(w);
}
