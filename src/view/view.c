/*
 * view — building a pipeline's view at an instant (see view.h): the state
 * records given by the caller, each cron compiled once, the scheduler's
 * decisions from sched_select (the very function the scheduler calls, so a
 * reason is the scheduler's reason verbatim) and, on request, what only the
 * state store knows: a delta strategy's watermark (state meta "watermark",
 * as sync_delta saves it) and a running run's published progress.
 *
 * It reads no clock (`at` is passed in) and writes nothing.
 */
#include "view.h"

#include "../time/st_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEW_WM_MAX 4096   /* as sync_delta reads a watermark */

/* The record of a pair without state: idle, every instant unknown. */
static void record_blank(state_record *r, const char *p, const char *s) {
    memset(r, 0, sizeof *r);
    snprintf(r->pipeline, sizeof r->pipeline, "%s", p);
    snprintf(r->strategy, sizeof r->strategy, "%s", s);
    r->status = STATE_IDLE;
    r->last_run = r->last_scheduled_at = r->last_attempted_at = r->updated_at = ST_TIME_NONE;
}

static int view_alloc(view_pipeline *v, size_t n) {
    v->recs = calloc(n, sizeof *v->recs);
    v->has_state = calloc(n, sizeof *v->has_state);
    v->problem = calloc(n, sizeof *v->problem);
    v->crons = calloc(n, sizeof *v->crons);
    v->next_fire = calloc(n, sizeof *v->next_fire);
    v->d = calloc(n, sizeof *v->d);
    v->prog = calloc(n, sizeof *v->prog);
    v->watermark = calloc(n, sizeof *v->watermark);
    v->slot = calloc(n, sizeof *v->slot);
    for (size_t i = 0; v->slot != NULL && i < n; i++)
        v->slot[i] = (cdc_figures){-1, -1, ST_TIME_NONE};
    if (!v->recs || !v->has_state || !v->problem || !v->crons || !v->next_fire || !v->d ||
        !v->prog || !v->watermark || !v->slot)
        return ST_ENOMEM;
    return ST_OK;
}

int view_build(view_pipeline *v, const config *cfg, const config_pipeline *p,
               const state_record *const *states, bool with_state, int64_t at) {
    memset(v, 0, sizeof *v);
    v->p = p;
    v->cfg = cfg;
    v->at = at;
    v->with_state = with_state;
    if (view_alloc(v, p->nstrategies ? p->nstrategies : 1) != ST_OK) {
        view_free(v);
        return ST_ENOMEM;
    }
    const state_record **given = calloc(p->nstrategies ? p->nstrategies : 1, sizeof *given);
    if (given == NULL) {
        view_free(v);
        return ST_ENOMEM;
    }
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *s = &p->strategies[i];
        const state_record *r = states ? states[i] : NULL;
        if (r) {
            v->recs[i] = *r;
            v->has_state[i] = true;
            given[i] = &v->recs[i];
        } else {
            record_blank(&v->recs[i], p->name, s->name);
        }
        v->next_fire[i] = ST_TIME_NONE;
        if (s->cron && s->cron[0] && cron_parse(&v->crons[i], s->cron, s->timezone, NULL) != ST_OK)
            v->crons[i] = NULL;
        if (v->crons[i] && cron_next(v->crons[i], at, &v->next_fire[i]) != ST_OK)
            v->next_fire[i] = ST_TIME_NONE;
    }
    v->selected = sched_select(p, (const cron_expr *const *)v->crons, given, at, v->d);
    free(given);
    return ST_OK;
}

int view_build_listed(view_pipeline *v, const config *cfg, const config_pipeline *p,
                      const state_record *all, size_t nall, int64_t at) {
    size_t n = p->nstrategies ? p->nstrategies : 1;
    const state_record **states = calloc(n, sizeof *states);
    if (states == NULL) return ST_ENOMEM;
    for (size_t i = 0; i < p->nstrategies; i++)
        states[i] = state_list_find(all, nall, p->name, p->strategies[i].name);
    int rc = view_build(v, cfg, p, states, true, at);
    free(states);
    return rc;
}

void view_set_problem(view_pipeline *v, size_t i, const char *msg) {
    snprintf(v->problem[i], VIEW_PROBLEM_MAX, "%s", msg && msg[0] ? msg : "unreadable record");
    v->d[i].run = false;
    if (v->selected == (int)i) v->selected = -1;
}

/* --- live figures, read in one batch --- */

/* The meta values a view reads in one batch: a delta or cdc strategy's
 * watermark. (A cdc strategy's slot figures are read by cdc_figures_read,
 * one strategy at a time: cdc strategies are few.) */
typedef struct live_want {
    view_pipeline *v;
    size_t i;
} live_want;

static size_t live_collect(view_pipeline *views, size_t nviews, live_want *w) {
    size_t n = 0;
    for (size_t k = 0; k < nviews; k++) {
        view_pipeline *v = &views[k];
        for (size_t i = 0; v->with_state && i < v->p->nstrategies; i++) {
            config_strategy_type t = v->p->strategies[i].type;
            bool wm = (t == CONFIG_STRATEGY_DELTA || t == CONFIG_STRATEGY_CDC) &&
                      v->watermark[i] == NULL;
            if (wm && w) w[n] = (live_want){v, i};
            if (wm) n++;
        }
    }
    return n;
}

/* Hands each value read to its view. */
static void live_apply(const live_want *w, state_meta_req *q, size_t n) {
    for (size_t j = 0; j < n; j++) {
        view_pipeline *v = w[j].v;
        if (q[j].rc != ST_OK || q[j].buf[0] == '\0') continue;
        v->watermark[w[j].i] = q[j].buf;
        q[j].buf = NULL;    /* the view owns it now */
    }
}

#define LIVE_CHUNK 512   /* values per batch: LIVE_CHUNK * VIEW_WM_MAX bytes of buffers */

/* One batch of at most LIVE_CHUNK values; false if the store failed. */
static bool live_chunk(const live_want *w, size_t n, state *st) {
    state_meta_req q[LIVE_CHUNK];
    size_t ok = 0;
    for (; ok < n; ok++) {
        const state_record *r = &w[ok].v->recs[w[ok].i];
        char *buf = malloc(VIEW_WM_MAX);
        if (buf == NULL) break;
        q[ok] = (state_meta_req){r->pipeline, r->strategy, "watermark", buf, VIEW_WM_MAX,
                                 ST_ENOTFOUND};
    }
    st_error e;
    bool read = ok == n && state_meta_get_many(st, q, n, &e) == ST_OK;
    if (read) live_apply(w, q, n);
    for (size_t j = 0; j < ok; j++) free(q[j].buf);
    return read;
}

/* Best effort, as before: what cannot be read stays unknown. */
static void live_meta(view_pipeline *views, size_t nviews, state *st) {
    size_t n = live_collect(views, nviews, NULL);
    live_want *w = n ? calloc(n, sizeof *w) : NULL;
    if (w == NULL) return;
    live_collect(views, nviews, w);
    for (size_t at = 0; at < n; at += LIVE_CHUNK)
        if (!live_chunk(w + at, n - at < LIVE_CHUNK ? n - at : LIVE_CHUNK, st)) break;
    free(w);
}

void view_load_live_many(view_pipeline *views, size_t nviews, state *st, bool progress) {
    live_meta(views, nviews, st);
    for (size_t k = 0; k < nviews; k++) {
        view_pipeline *v = &views[k];
        for (size_t i = 0; v->with_state && i < v->p->nstrategies; i++) {
            const state_record *r = &v->recs[i];
            if (v->p->strategies[i].type == CONFIG_STRATEGY_CDC)
                cdc_figures_read(st, r->pipeline, r->strategy, &v->slot[i]);
            state_progress pr;
            if (progress && r->status == STATE_RUNNING && r->run_id > 0 &&
                state_progress_get(st, r->pipeline, r->strategy, &pr, NULL) == ST_OK &&
                pr.run_id == r->run_id)
                v->prog[i] = pr;
        }
    }
}

void view_load_live(view_pipeline *v, state *st, bool progress) {
    view_load_live_many(v, 1, st, progress);
}

void view_free(view_pipeline *v) {
    if (v->p && v->crons)
        for (size_t i = 0; i < v->p->nstrategies; i++) cron_free(v->crons[i]);
    if (v->p && v->watermark)
        for (size_t i = 0; i < v->p->nstrategies; i++) free(v->watermark[i]);
    free(v->crons);
    free(v->watermark);
    free(v->slot);
    free(v->recs);
    free(v->has_state);
    free(v->problem);
    free(v->next_fire);
    free(v->d);
    free(v->prog);
    memset(v, 0, sizeof *v);
}

const char *view_record_paused_by(const config_pipeline *p, const config_strategy *cs,
                                  const state_record *r, int64_t now) {
    if (r == NULL) return NULL;
    if (r->paused) return "operator";
    if (sched_paused_by_failures(p, cs, r, now)) return "failures";
    return NULL;
}

const char *view_paused_by(const view_pipeline *v, size_t i) {
    if (!v->with_state || v->problem[i][0]) return NULL;
    return view_record_paused_by(v->p, &v->p->strategies[i], &v->recs[i], v->at);
}
