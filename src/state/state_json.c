/*
 * state_json — one history entry as the JSON object the CLI (`synctool logs
 * --json`) and the HTTP API (`GET /api/v1/runs/{id}`) both print, so the two
 * cannot drift apart (docs/openapi.yaml, schema RunDetail).
 *
 * Names follow the shared vocabulary: times are ISO-8601 UTC or null,
 * `duration_s` a number (null when a bound is unknown) split into
 * `execution_s` and `waiting_s` (lock waits, connecting), empty strings are
 * null, a running run adds `progress` (state_progress_write_json) and
 * takes its row counts from it, and `log` is the list of the run's kept log lines (null when the run
 * kept none: recorded before logs were kept, or nothing was logged).
 *
 * It also holds the one JSON form of a worker or scheduler process
 * (state_process_write_json: GET /api/v1/workers, schema Worker).
 */
#include "state.h"

#include "../time/st_time.h"

#include <string.h>

static void kv_text_or_null(json_writer *w, const char *key, const char *s) {
    json_key(w, key);
    if (s == NULL || s[0] == '\0') json_null(w);
    else json_string(w, s);
}

/* The log text as an array of lines (no trailing newlines). */
static void write_log_lines(json_writer *w, const char *log) {
    json_key(w, "log");
    if (log == NULL) {
        json_null(w);
        return;
    }
    json_begin_array(w);
    char line[4096];
    for (const char *p = log; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, p, k);
        line[k] = '\0';
        json_string(w, line);
        p += n + (nl ? 1 : 0);
    }
    json_end_array(w);
}

void state_run_write_json(json_writer *w, const state_run *r, bool with_log) {
    const state_history_entry *e = &r->entry;
    json_begin_object(w);
    json_kv_int(w, "run_id", e->run_id);
    json_kv_string(w, "pipeline", r->pipeline);
    json_kv_string(w, "strategy", r->strategy);
    json_kv_string(w, "status", state_status_name(e->status));
    json_kv_text(w, "reason_code", r->reason_code);
    json_kv_time(w, "started_at", e->started_at);
    json_kv_time(w, "finished_at", e->finished_at);
    bool timed = e->started_at != ST_TIME_NONE && e->finished_at != ST_TIME_NONE &&
                 e->finished_at >= e->started_at;
    int64_t total_ms = timed ? (e->finished_at - e->started_at) / 1000 : 0;
    json_kv_seconds(w, "duration_s", timed ? (double)total_ms / 1000.0 : -1.0);
    /* execution_s: the sync itself, under the locks (success and failed
     * runs); waiting_s: the rest of the run, taking the locks (a skipped run
     * only waited) and connecting. */
    bool executed = e->status == STATE_SUCCESS || e->status == STATE_FAILED;
    int64_t exec_ms = executed ? (int64_t)(e->stats.seconds * 1000.0 + 0.5) : 0;
    if (exec_ms > total_ms) exec_ms = total_ms;
    json_kv_seconds(w, "execution_s", timed && executed ? (double)exec_ms / 1000.0 : -1.0);
    json_kv_seconds(w, "waiting_s", timed ? (double)(total_ms - exec_ms) / 1000.0 : -1.0);
    json_kv_int(w, "retry_count", e->retry_count);
    kv_text_or_null(w, "worker", e->worker);
    kv_text_or_null(w, "message", e->message);
    kv_text_or_null(w, "error", e->error);
    state_stats x = e->stats;
    if (r->progress != NULL) {   /* running: the figures published so far */
        x.rows_read = r->progress->rows_read;
        x.rows_inserted = r->progress->rows_inserted;
        x.rows_updated = r->progress->rows_updated;
        x.rows_deleted = r->progress->rows_deleted;
        x.segments_compared = r->progress->segments_compared;
    }
    json_kv_int(w, "rows_read", x.rows_read);
    json_kv_int(w, "rows_inserted", x.rows_inserted);
    json_kv_int(w, "rows_updated", x.rows_updated);
    json_kv_int(w, "rows_deleted", x.rows_deleted);
    json_kv_int(w, "rows_null_cursor", x.rows_null_cursor);
    json_kv_int(w, "segments_compared", x.segments_compared);
    json_kv_int(w, "segments_skipped", x.segments_skipped);
    if (r->progress != NULL) {
        json_key(w, "progress");
        state_progress_write_json(w, r->progress);
    }
    if (with_log) write_log_lines(w, r->log);
    json_end_object(w);
}

/* How far a running run is (the API's Progress object; docs/openapi.yaml).
 * Unknown estimates are null: rows_expected, segments_expected, eta_s. */
void state_progress_write_json(json_writer *w, const state_progress *p) {
    json_begin_object(w);
    json_kv_int(w, "run_id", p->run_id);
    json_kv_time(w, "at", p->at);
    json_kv_int(w, "rows_read", p->rows_read);
    json_kv_int(w, "rows_written", p->rows_inserted + p->rows_updated + p->rows_deleted);
    json_key(w, "rows_expected");
    if (p->rows_expected > 0) json_int(w, p->rows_expected); else json_null(w);
    json_kv_int(w, "segments_compared", p->segments_compared);
    json_key(w, "segments_expected");
    if (p->segments_expected > 0) json_int(w, p->segments_expected); else json_null(w);
    json_key(w, "rows_per_s");
    json_double(w, (double)(int64_t)(p->rows_per_s * 10.0 + 0.5) / 10.0);
    json_key(w, "eta_s");
    if (p->eta_s >= 0) json_double(w, (double)(int64_t)(p->eta_s * 10.0 + 0.5) / 10.0);
    else json_null(w);
    json_end_object(w);
}

/* A process from the heartbeats: {"name", "kind", "last_heartbeat_at",
 * "alive", "leader"}; alive = beat within STATE_PROCESS_ALIVE_US of now,
 * leader = its name is the leader lease's holder (`leader`, may be NULL). */
void state_process_write_json(json_writer *w, const state_process *p, int64_t now,
                              const char *leader) {
    json_begin_object(w);
    json_kv_string(w, "name", p->name);
    json_kv_string(w, "kind", p->kind);
    json_kv_time(w, "last_heartbeat_at", p->last_heartbeat_at);
    json_kv_bool(w, "alive", p->last_heartbeat_at != ST_TIME_NONE &&
                                 now - p->last_heartbeat_at <= STATE_PROCESS_ALIVE_US);
    json_kv_bool(w, "leader", leader && leader[0] && strcmp(leader, p->name) == 0);
    json_end_object(w);
}
