/*
 * why — the why-journal (see why.h): normalize, compare, append, prune.
 *
 * Appending is read-modify-write of one meta value; only the scheduler
 * leader (one process) writes decisions, and events are rare, so there is
 * no contention worth a backend operation of its own.
 */
#include "why.h"

#include "../json/json.h"
#include "../state/state.h"
#include "../time/st_time.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHY_BUF (WHY_JOURNAL_MAX + 4096)

void why_normalize(const char *reason, char *out, size_t n) {
    size_t k = 0;
    for (const char *p = reason; *p && k + 1 < n; p++) {
        if (isdigit((unsigned char)*p)) {
            out[k++] = 'N';
            while (isdigit((unsigned char)p[1]) || ((p[1] == '-' || p[1] == ':' || p[1] == '.' ||
                                                     p[1] == 'T') && isdigit((unsigned char)p[2])))
                p++;
            continue;
        }
        out[k++] = *p;
    }
    out[k] = '\0';
}

uint64_t why_hash(bool run, const char *reason) {
    char norm[1024];
    why_normalize(reason, norm, sizeof norm);
    uint64_t h = 1469598103934665603ULL ^ (run ? 0x9e3779b97f4a7c15ULL : 0);
    for (const char *p = norm; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h ? h : 1;
}

/* One JSON line for an entry. */
static int entry_line(const why_entry *e, char **out) {
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_time(&w, "at", e->at);
    json_kv_string(&w, "kind", e->decision ? "decision" : "event");
    json_kv_bool(&w, "run", e->run);
    json_kv_string(&w, "text", e->text);
    json_end_object(&w);
    if (w.failed) {
        json_release(&w);
        return ST_ENOMEM;
    }
    *out = w.buf;
    return ST_OK;
}

/* Appends e to the journal, dropping entries older than keep_days before
 * e->at and the oldest ones beyond WHY_JOURNAL_MAX bytes. */
static int append(state *st, const char *p, const char *s, const why_entry *e, int64_t keep_days,
                  st_error *err) {
    char *buf = malloc(WHY_BUF), *line = NULL;
    if (buf == NULL || entry_line(e, &line) != ST_OK) {
        free(buf);
        return st_error_set(err, ST_ENOMEM, "out of memory");
    }
    buf[0] = '\0';
    int rc = state_meta_get(st, p, s, "why", buf, WHY_BUF, err);
    if (rc == ST_ENOTFOUND) rc = ST_OK, buf[0] = '\0';
    if (rc != ST_OK) {
        free(buf);
        free(line);
        return rc;
    }
    int64_t oldest = keep_days > 0 ? e->at - keep_days * 86400 * ST_USEC : INT64_MIN;
    /* drop old lines from the front: by age, then by size */
    char *start = buf;
    size_t need = strlen(line) + 1;
    while (*start) {
        char *nl = strchr(start, '\n');
        if (nl == NULL) break;
        size_t rest = strlen(start);
        int64_t at = ST_TIME_NONE;
        const char *q = strstr(start, "\"at\":\"");
        char iso[40] = "";
        if (q && sscanf(q + 6, "%39[^\"]", iso) == 1) st_time_parse(iso, &at, NULL);
        if ((at != ST_TIME_NONE && at >= oldest) && rest + need <= WHY_JOURNAL_MAX) break;
        start = nl + 1;
    }
    size_t len = strlen(start);
    memmove(buf, start, len + 1);
    snprintf(buf + len, WHY_BUF - len, "%s\n", line);
    rc = state_meta_put(st, p, s, "why", buf, err);
    free(buf);
    free(line);
    return rc;
}

int why_decision(state *st, const char *pipeline, const char *strategy, int64_t at, bool run,
                 const char *reason, int64_t keep_days, bool *changed, st_error *err) {
    char norm[1100], last[1100] = "";
    char n2[1024];
    why_normalize(reason, n2, sizeof n2);
    snprintf(norm, sizeof norm, "%d|%s", run ? 1 : 0, n2);
    *changed = false;
    int rc = state_meta_get(st, pipeline, strategy, "why.last", last, sizeof last, err);
    if (rc != ST_OK && rc != ST_ENOTFOUND) return rc;
    if (rc == ST_OK && strcmp(last, norm) == 0) return ST_OK;
    why_entry e = {.at = at, .decision = true, .run = run};
    snprintf(e.text, sizeof e.text, "%s", reason);
    rc = append(st, pipeline, strategy, &e, keep_days, err);
    if (rc == ST_OK) rc = state_meta_put(st, pipeline, strategy, "why.last", norm, err);
    *changed = rc == ST_OK;
    return rc;
}

int why_event(state *st, const char *pipeline, const char *strategy, int64_t at,
              const char *text, int64_t keep_days, st_error *err) {
    why_entry e = {.at = at};
    snprintf(e.text, sizeof e.text, "%s", text);
    return append(st, pipeline, strategy, &e, keep_days, err);
}

int why_read(state *st, const char *pipeline, const char *strategy, why_entry **out,
             size_t *n, st_error *err) {
    *out = NULL;
    *n = 0;
    char *buf = malloc(WHY_BUF);
    if (buf == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    int rc = state_meta_get(st, pipeline, strategy, "why", buf, WHY_BUF, err);
    if (rc == ST_ENOTFOUND) {
        free(buf);
        return ST_OK;
    }
    size_t cap = 0;
    for (char *line = buf; rc == ST_OK && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        json_value *v = NULL;
        if (json_parse(&v, line, strlen(line), NULL) == ST_OK && v->type == JSON_OBJECT) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 32;
                why_entry *ne = realloc(*out, cap * sizeof *ne);
                if (ne == NULL) rc = st_error_set(err, ST_ENOMEM, "out of memory");
                else *out = ne;
            }
            if (rc == ST_OK) {
                why_entry *e = &(*out)[(*n)++];
                memset(e, 0, sizeof *e);
                const json_value *at = json_get(v, "at"), *k = json_get(v, "kind"),
                                 *r = json_get(v, "run"), *t = json_get(v, "text");
                e->at = ST_TIME_NONE;
                if (at && at->type == JSON_STRING) st_time_parse(at->string, &e->at, NULL);
                e->decision = k && k->type == JSON_STRING && strcmp(k->string, "decision") == 0;
                e->run = r && r->type == JSON_BOOL && r->boolean;
                if (t && t->type == JSON_STRING) snprintf(e->text, sizeof e->text, "%s", t->string);
            }
        }
        json_free(v);
        if (nl == NULL) break;
        line = nl + 1;
    }
    free(buf);
    if (rc != ST_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* --- the state as of an instant (explain --at, the API's ?at=) --- */

/* The record of (p, s) as it was at `at`, from the history and the
 * why-journal's enqueues: 1 rebuilt, 0 nothing had happened by then (no
 * state), -1 no history to rebuild from (keep today's record). */
static int rebuild_at(state *st, const char *p, const char *s, int64_t at, state_record *r) {
    state_history_entry *h = NULL;
    size_t n = 0;
    if (state_history(st, p, s, 100000, &h, &n, NULL) != ST_OK) return -1;
    why_entry *j = NULL;
    size_t nj = 0;
    if (why_read(st, p, s, &j, &nj, NULL) != ST_OK) nj = 0;
    if (n == 0 && nj == 0) {
        free(h);
        free(j);
        return -1;
    }
    memset(r, 0, sizeof *r);
    snprintf(r->pipeline, sizeof r->pipeline, "%s", p);
    snprintf(r->strategy, sizeof r->strategy, "%s", s);
    r->last_run = r->last_scheduled_at = r->last_attempted_at = ST_TIME_NONE;
    r->updated_at = ST_TIME_NONE;
    bool any = false, latest = false;
    for (size_t i = 0; i < n; i++) { /* newest first */
        const state_history_entry *e = &h[i];
        if (e->started_at != ST_TIME_NONE && e->started_at <= at &&
            (e->finished_at == ST_TIME_NONE || e->finished_at > at) && !latest) {
            r->status = STATE_RUNNING; /* under way at that instant */
            r->run_id = e->run_id;
            r->last_attempted_at = e->started_at;
            latest = any = true;
            continue;
        }
        if (e->finished_at == ST_TIME_NONE || e->finished_at > at) continue;
        if (!latest) {
            r->status = e->status;
            r->retry_count = e->retry_count;
            r->run_id = e->run_id;
            r->last_attempted_at = e->started_at;
            r->updated_at = e->finished_at;
            latest = any = true;
        }
        if (e->status == STATE_SUCCESS && r->last_run == ST_TIME_NONE) r->last_run = e->started_at;
    }
    free(h);
    for (size_t i = 0; i < nj; i++)
            if (!j[i].decision && j[i].at <= at && strncmp(j[i].text, "Enqueued run", 12) == 0) {
                r->last_scheduled_at = j[i].at;
                any = true;
            }
    free(j);
    if (r->last_scheduled_at == ST_TIME_NONE) r->last_scheduled_at = r->last_attempted_at;
    return any ? 1 : 0;
}

/* Does the record know of something that happened after `at`? */
static bool record_after(const state_record *r, int64_t at) {
    int64_t t[] = {r->last_run, r->last_scheduled_at, r->last_attempted_at};
    for (size_t i = 0; i < 3; i++)
        if (t[i] != ST_TIME_NONE && t[i] > at) return true;
    return false;
}

int why_state_as_of(state *st, const state_record *cur, int64_t at, state_record *out) {
    if (!record_after(cur, at)) return -1;
    return rebuild_at(st, cur->pipeline, cur->strategy, at, out);
}
