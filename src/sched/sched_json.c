/*
 * sched_json — the one JSON form of an explanation, shared by
 * `synctool explain --json` and the HTTP API (GET /api/v1/pipelines/{name}),
 * so the two cannot drift apart:
 *   {"pipeline", "at", "selected", "strategies": [{"name", "should_run",
 *    "reason", "prev_slot", "next_slot", "next_fire_at", "backoff_seconds"}]}
 * Instants are ISO-8601 UTC strings or null; selected is a name or null.
 */
#include "sched.h"

#include <string.h>

void sched_explain_json(json_writer *w, const config_pipeline *p, int64_t at, const char *only,
                        const sched_decision *decisions, int selected) {
    json_begin_object(w);
    json_kv_string(w, "pipeline", p->name);
    json_kv_time(w, "at", at);
    json_kv_string(w, "selected", selected >= 0 ? p->strategies[selected].name : NULL);
    json_key(w, "strategies");
    json_begin_array(w);
    for (size_t i = 0; i < p->nstrategies; i++) {
        if (only != NULL && strcmp(only, p->strategies[i].name) != 0) continue;
        const sched_decision *d = &decisions[i];
        json_begin_object(w);
        json_kv_string(w, "name", p->strategies[i].name);
        json_kv_bool(w, "should_run", d->run);
        json_kv_string(w, "reason", d->reason);
        json_kv_time(w, "prev_slot", d->prev);
        json_kv_time(w, "next_slot", d->next);
        json_kv_time(w, "next_fire_at", d->next);
        json_kv_int(w, "backoff_seconds", d->backoff_s);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
}
