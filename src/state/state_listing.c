/*
 * state_listing — every record of a store, kept compact and sorted, for the
 * readers that show all of them at once: `status` and GET /api/v1/pipelines
 * (and so the dashboard) at 10,000 pipelines (issue 25 item 5).
 *
 * state_list() returns ~2 KB state_records (fixed buffers for worker,
 * message and error); 20,000 of them are 40 MB that are allocated, faulted
 * in page by page and written for every `status` or API request, a sixth of
 * its time. A listing is read through state_list_each() (the backend's one
 * reused record) and keeps each record as a 72-byte entry whose texts live
 * in one arena, ~100 bytes a record in all; state_listing_get() expands one
 * entry back into a state_record, so every consumer (view_build, the
 * scheduler's decision) still reads the one record type.
 *
 * Sorted by (pipeline, strategy) as state_list() is; lookups are binary
 * searches. Corrupt records are left out and described in err as
 * state_list() does. Nothing here talks to a backend but through
 * state_list_each().
 */
#include "state.h"

#include <stdlib.h>
#include <string.h>

enum { TXT_PIPELINE, TXT_STRATEGY, TXT_WORKER, TXT_MESSAGE, TXT_ERROR, NTXT };

typedef struct listing_entry {
    int64_t last_run, last_scheduled_at, last_attempted_at, retry_count, run_id, updated_at;
    uint32_t text[NTXT];       /* offsets of NUL-terminated texts in the arena */
    int32_t status;
    bool paused;
} listing_entry;

struct state_listing {
    listing_entry *v;
    size_t n, cap;
    char *arena;
    size_t used, room;
    bool failed;               /* out of memory while reading */
};

/* Appends s (with its NUL) to the arena; its offset, or UINT32_MAX when
 * out of memory (or past 4 GB of text). */
static uint32_t arena_put(state_listing *l, const char *s) {
    size_t n = strlen(s) + 1;
    if (l->used + n > l->room) {
        size_t room = l->room ? l->room * 2 : 1 << 16;
        while (room < l->used + n) room *= 2;
        char *a = room <= UINT32_MAX ? realloc(l->arena, room) : NULL;
        if (a == NULL) return UINT32_MAX;
        l->arena = a;
        l->room = room;
    }
    memcpy(l->arena + l->used, s, n);
    l->used += n;
    return (uint32_t)(l->used - n);
}

/* state_list_each() callback: one record into an entry. */
static int take(void *ud, const state_record *r) {
    state_listing *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        listing_entry *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) return (l->failed = true, ST_ENOMEM);
        l->v = v;
        l->cap = cap;
    }
    listing_entry *e = &l->v[l->n];
    const char *t[NTXT] = {r->pipeline, r->strategy, r->worker, r->message, r->error};
    for (int k = 0; k < NTXT; k++)
        if ((e->text[k] = arena_put(l, t[k])) == UINT32_MAX) return (l->failed = true, ST_ENOMEM);
    e->last_run = r->last_run;
    e->last_scheduled_at = r->last_scheduled_at;
    e->last_attempted_at = r->last_attempted_at;
    e->retry_count = r->retry_count;
    e->run_id = r->run_id;
    e->updated_at = r->updated_at;
    e->status = (int32_t)r->status;
    e->paused = r->paused;
    l->n++;
    return ST_OK;
}

static int entry_cmp(const void *a, const void *b, void *arena) {
    const listing_entry *x = a, *y = b;
    const char *t = arena;
    int c = strcmp(t + x->text[TXT_PIPELINE], t + y->text[TXT_PIPELINE]);
    return c ? c : strcmp(t + x->text[TXT_STRATEGY], t + y->text[TXT_STRATEGY]);
}

int state_listing_read(state *st, state_listing **out, st_error *err) {
    *out = NULL;
    state_listing *l = calloc(1, sizeof *l);
    if (l == NULL) return st_error_set(err, ST_ENOMEM, "state list: out of memory");
    int rc = state_list_each(st, take, l, err);
    if (rc == ST_OK) {
        bool sorted = true;
        for (size_t i = 1; sorted && i < l->n; i++)
            sorted = entry_cmp(&l->v[i - 1], &l->v[i], l->arena) <= 0;
        if (!sorted) qsort_r(l->v, l->n, sizeof *l->v, entry_cmp, l->arena);
    } else if (l->failed) {
        rc = st_error_set(err, ST_ENOMEM, "state list: out of memory");
    }
    if (rc != ST_OK) {
        state_listing_free(l);
        return rc;
    }
    *out = l;
    return ST_OK;
}

size_t state_listing_len(const state_listing *l) { return l ? l->n : 0; }

static void text_copy(char *dst, size_t n, const char *src) {
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Entry i as a state_record (every member written; texts by their length). */
static void expand(const state_listing *l, size_t i, state_record *r) {
    const listing_entry *e = &l->v[i];
    const char *t = l->arena;
    text_copy(r->pipeline, sizeof r->pipeline, t + e->text[TXT_PIPELINE]);
    text_copy(r->strategy, sizeof r->strategy, t + e->text[TXT_STRATEGY]);
    text_copy(r->worker, sizeof r->worker, t + e->text[TXT_WORKER]);
    text_copy(r->message, sizeof r->message, t + e->text[TXT_MESSAGE]);
    text_copy(r->error, sizeof r->error, t + e->text[TXT_ERROR]);
    r->status = (state_status)e->status;
    r->last_run = e->last_run;
    r->last_scheduled_at = e->last_scheduled_at;
    r->last_attempted_at = e->last_attempted_at;
    r->retry_count = e->retry_count;
    r->run_id = e->run_id;
    r->updated_at = e->updated_at;
    r->paused = e->paused;
}

bool state_listing_get(const state_listing *l, const char *pipeline, const char *strategy,
                       state_record *out) {
    size_t lo = 0, hi = state_listing_len(l);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const listing_entry *e = &l->v[mid];
        int c = strcmp(l->arena + e->text[TXT_PIPELINE], pipeline);
        if (c == 0) c = strcmp(l->arena + e->text[TXT_STRATEGY], strategy);
        if (c == 0) {
            expand(l, mid, out);
            return true;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

/* Entry i is running, of pipeline (any when NULL). */
static bool entry_running(const state_listing *l, size_t i, const char *pipeline) {
    return l->v[i].status == STATE_RUNNING &&
           (pipeline == NULL || strcmp(l->arena + l->v[i].text[TXT_PIPELINE], pipeline) == 0);
}

int state_listing_running(const state_listing *l, const char *pipeline, state_record **out,
                          size_t *n) {
    *out = NULL;
    *n = 0;
    size_t count = 0;
    for (size_t i = 0; i < state_listing_len(l); i++) count += entry_running(l, i, pipeline);
    if (count == 0) return ST_OK;
    if ((*out = malloc(count * sizeof **out)) == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (entry_running(l, i, pipeline)) expand(l, i, &(*out)[(*n)++]);
    return ST_OK;
}

void state_listing_free(state_listing *l) {
    if (l == NULL) return;
    free(l->v);
    free(l->arena);
    free(l);
}
