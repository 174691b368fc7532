/*
 * state_outbox — what the SQLite and Redis outboxes share: the stored field
 * names of an alert entry, their text form both ways, and the entry's JSON
 * for the API (see state.h, "the alert outbox").
 *
 * Both backends store the same twelve fields as text (SQLite columns, a
 * Redis hash), times as integer microseconds; the id is the row id / the
 * sorted-set score, assigned by the backend.
 */
#include "state_backend.h"

#include "../time/st_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *const state_alert_fields[STATE_ALERT_NFIELDS] = {
    "key", "hook", "status", "pipeline", "strategy", "event", "created_at", "next_at",
    "updated_at", "attempts", "last_error", "body"};

const char *state_alert_status_name(state_alert_status s) {
    static const char *const names[] = {"pending", "delivered", "failed"};
    return (unsigned)s < 3 ? names[s] : "pending";
}

static bool parse_status(const char *v, state_alert_status *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(v, state_alert_status_name((state_alert_status)i)) == 0) {
            *out = (state_alert_status)i;
            return true;
        }
    return false;
}

bool state_alert_field(state_alert *a, const char *name, const char *v) {
    int64_t *num = NULL;
    if (strcmp(name, "id") == 0) num = &a->id;
    else if (strcmp(name, "created_at") == 0) num = &a->created_at;
    else if (strcmp(name, "next_at") == 0) num = &a->next_at;
    else if (strcmp(name, "updated_at") == 0) num = &a->updated_at;
    else if (strcmp(name, "attempts") == 0) num = &a->attempts;
    if (num) return state_parse_i64(v, num) == ST_OK;
    if (strcmp(name, "status") == 0) return parse_status(v, &a->status);
    struct { const char *name; char *dst; size_t n; } text[] = {
        {"key", a->key, sizeof a->key}, {"hook", a->hook, sizeof a->hook},
        {"pipeline", a->pipeline, sizeof a->pipeline},
        {"strategy", a->strategy, sizeof a->strategy}, {"event", a->event, sizeof a->event},
        {"last_error", a->last_error, sizeof a->last_error}, {"body", a->body, sizeof a->body}};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (strcmp(name, text[i].name) == 0) {
            state_copy(text[i].dst, text[i].n, v);
            return true;
        }
    return true; /* unknown fields are ignored (a newer writer) */
}

void state_alert_values(const state_alert *a, char num[][24], const char *out[]) {
    snprintf(num[0], 24, "%" PRId64, a->created_at);
    snprintf(num[1], 24, "%" PRId64, a->next_at);
    snprintf(num[2], 24, "%" PRId64, a->updated_at);
    snprintf(num[3], 24, "%" PRId64, a->attempts);
    const char *v[STATE_ALERT_NFIELDS] = {a->key, a->hook, state_alert_status_name(a->status),
                                          a->pipeline, a->strategy, a->event, num[0], num[1],
                                          num[2], num[3], a->last_error, a->body};
    memcpy(out, v, sizeof v);
}

void state_alert_write_json(json_writer *w, const state_alert *a) {
    json_begin_object(w);
    json_kv_int(w, "id", a->id);
    json_kv_string(w, "status", state_alert_status_name(a->status));
    json_kv_string(w, "event", a->event);
    json_kv_string(w, "pipeline", a->pipeline);
    json_key(w, "strategy");
    if (a->strategy[0] && strcmp(a->strategy, "*") != 0) json_string(w, a->strategy);
    else json_null(w);
    json_kv_string(w, "webhook", a->hook);
    json_kv_int(w, "attempts", a->attempts);
    json_kv_time(w, "created_at", a->created_at);
    json_kv_time(w, "last_attempt_at", a->attempts > 0 ? a->updated_at : ST_TIME_NONE);
    json_key(w, "next_attempt_at");
    if (a->status == STATE_ALERT_PENDING) json_time(w, a->next_at); else json_null(w);
    json_key(w, "last_error");
    if (a->last_error[0]) json_string(w, a->last_error); else json_null(w);
    json_end_object(w);
}
