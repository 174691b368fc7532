/*
 * lock_json — the one JSON form of a held lock, shared by `synctool lock
 * list --json` and GET /api/v1/locks (docs/openapi.yaml, schema Lock):
 *   {"key", "kind", "mode", "holders", "fence", "expires_at", "expires_in_s"}
 * kind is what the key locks: "pipeline" (a run's exclusive lock),
 * "enqueue" (the scheduler's hand-off lock), "table" (a destination table),
 * "leader" (the scheduler's leader lease) or "other". expires_in_s is
 * counted from the caller's `now` (null when the expiry is unknown).
 */
#include "lock.h"

#include "../time/st_time.h"

#include <string.h>

const char *lock_kind_of(const char *key) {
    if (strncmp(key, "synctool:exec:pipeline:", 23) == 0) return "pipeline";
    if (strncmp(key, "synctool:enqueue:pipeline:", 26) == 0) return "enqueue";
    if (strncmp(key, "synctool:table:", 15) == 0) return "table";
    if (strcmp(key, "synctool:scheduler:leader") == 0) return "leader";
    return "other";
}

void lock_info_write_json(json_writer *w, const lock_info *li, int64_t now) {
    json_begin_object(w);
    json_kv_string(w, "key", li->key);
    json_kv_string(w, "kind", lock_kind_of(li->key));
    json_kv_string(w, "mode", lock_mode_name(li->mode));
    json_kv_int(w, "holders", li->holders);
    json_kv_int(w, "fence", li->fence);
    json_kv_time(w, "expires_at", li->expires_at);
    json_kv_seconds(w, "expires_in_s", li->expires_at == ST_TIME_NONE
                                           ? -1.0 : (double)(li->expires_at - now) / 1e6);
    json_end_object(w);
}
