/*
 * view — building a pipeline's view at an instant (see view.h): the state
 * records given by the caller, each cron compiled once, the scheduler's
 * decisions from sched_select (the very function the scheduler calls, so a
 * reason is the scheduler's reason verbatim) and, on request, what only the
 * state store knows: a delta strategy's watermark (state meta "watermark",
 * as sync_delta saves it), a cdc strategy's slot figures and a running
 * run's published progress.
 *
 * At 10,000 pipelines per request (status, /api/v1/pipelines; issue 25):
 * a view is one allocation whose records are copied text by text (not
 * 2 KB each), its crons are the config's, compiled once per load
 * (config_strategy_cron), and the watermarks and cdc slot figures of many
 * views come in batches of LIVE_CHUNK values (state_meta_get_many) read
 * into one set of buffers; a value kept is a copy of its length.
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

/* A copy of a listed record that writes the texts' bytes, not the whole
 * 2 KB of their buffers (20,000 records per /pipelines request). */
static void record_copy(state_record *d, const state_record *r) {
    size_t n;
#define COPY_TEXT(f)                                                   \
    n = strnlen(r->f, sizeof r->f - 1);                                \
    memcpy(d->f, r->f, n);                                             \
    d->f[n] = '\0'
    COPY_TEXT(pipeline);
    COPY_TEXT(strategy);
    COPY_TEXT(worker);
    COPY_TEXT(message);
    COPY_TEXT(error);
#undef COPY_TEXT
    d->status = r->status;
    d->last_run = r->last_run;
    d->last_scheduled_at = r->last_scheduled_at;
    d->last_attempted_at = r->last_attempted_at;
    d->retry_count = r->retry_count;
    d->run_id = r->run_id;
    d->updated_at = r->updated_at;
    d->paused = r->paused;
}

#define ALIGN16(x) (((x) + 15) & ~(size_t)15)

/* One block for every per-strategy array (records last: they are copied
 * over, not zeroed first); v->has_state is its start (view_free). */
static int view_alloc(view_pipeline *v, size_t n) {
    size_t o_crons = ALIGN16(n * sizeof *v->has_state);
    size_t o_next = o_crons + ALIGN16(n * sizeof *v->crons);
    size_t o_d = o_next + ALIGN16(n * sizeof *v->next_fire);
    size_t o_prog = o_d + ALIGN16(n * sizeof *v->d);
    size_t o_wm = o_prog + ALIGN16(n * sizeof *v->prog);
    size_t o_slot = o_wm + ALIGN16(n * sizeof *v->watermark);
    size_t o_recs = o_slot + ALIGN16(n * sizeof *v->slot);
    char *b = malloc(o_recs + n * sizeof *v->recs);
    if (b == NULL) return ST_ENOMEM;
    memset(b, 0, o_recs);
    v->has_state = (bool *)b;
    v->crons = (cron_expr **)(b + o_crons);
    v->next_fire = (int64_t *)(b + o_next);
    v->d = (sched_decision *)(b + o_d);
    v->prog = (state_progress *)(b + o_prog);
    v->watermark = (char **)(b + o_wm);
    v->slot = (cdc_figures *)(b + o_slot);
    v->recs = (state_record *)(b + o_recs);
    for (size_t i = 0; i < n; i++) v->slot[i] = (cdc_figures){-1, -1, ST_TIME_NONE};
    return ST_OK;
}

/* Strategy i's cron: the config's compiled one when it has it, else
 * compiled here (a config assembled by hand, tests). */
static void view_cron(view_pipeline *v, size_t i) {
    const config_strategy *s = &v->p->strategies[i];
    const cron_expr *c = v->cfg ? config_strategy_cron(v->cfg, v->p, i) : NULL;
    if (c != NULL && v->crons_borrowed) {
        v->crons[i] = (cron_expr *)c;
        return;
    }
    if (s->cron && s->cron[0] && cron_parse(&v->crons[i], s->cron, s->timezone, NULL) != ST_OK)
        v->crons[i] = NULL;
}

/* Does the config hold every strategy's compiled cron? Then the view
 * borrows them all (one ownership rule per view). */
static bool crons_shared(const config *cfg, const config_pipeline *p) {
    if (cfg == NULL) return false;
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *s = &p->strategies[i];
        if (s->cron && s->cron[0] && config_strategy_cron(cfg, p, i) == NULL) return false;
    }
    return true;
}

int view_build(view_pipeline *v, const config *cfg, const config_pipeline *p,
               const state_record *const *states, bool with_state, int64_t at) {
    memset(v, 0, sizeof *v);
    v->p = p;
    v->cfg = cfg;
    v->at = at;
    v->with_state = with_state;
    size_t n = p->nstrategies ? p->nstrategies : 1;
    const state_record *given_small[8];
    const state_record **given = n <= 8 ? given_small : calloc(n, sizeof *given);
    if (given == NULL || view_alloc(v, n) != ST_OK) {
        if (given != given_small) free(given);
        view_free(v);
        return ST_ENOMEM;
    }
    v->crons_borrowed = crons_shared(cfg, p);
    for (size_t i = 0; i < p->nstrategies; i++) {
        const config_strategy *s = &p->strategies[i];
        const state_record *r = states ? states[i] : NULL;
        given[i] = NULL;
        if (r) {
            record_copy(&v->recs[i], r);
            v->has_state[i] = true;
            given[i] = &v->recs[i];
        } else {
            record_blank(&v->recs[i], p->name, s->name);
        }
        v->next_fire[i] = ST_TIME_NONE;
        view_cron(v, i);
        if (v->crons[i] && cron_next(v->crons[i], at, &v->next_fire[i]) != ST_OK)
            v->next_fire[i] = ST_TIME_NONE;
    }
    v->selected = sched_select(p, (const cron_expr *const *)v->crons, given, at, v->d);
    if (given != given_small) free(given);
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

int view_build_listing(view_pipeline *v, const config *cfg, const config_pipeline *p,
                       const state_listing *all, int64_t at) {
    size_t n = p->nstrategies ? p->nstrategies : 1;
    const state_record **states = calloc(n, sizeof *states);
    state_record *got = malloc(n * sizeof *got);   /* every member written when found */
    int rc = states && got ? ST_OK : ST_ENOMEM;
    for (size_t i = 0; rc == ST_OK && i < p->nstrategies; i++)
        if (state_listing_get(all, p->name, p->strategies[i].name, &got[i])) states[i] = &got[i];
    if (rc == ST_OK) rc = view_build(v, cfg, p, states, true, at);
    free(states);
    free(got);
    return rc;
}

void view_set_problem(view_pipeline *v, size_t i, const char *msg) {
    size_t n = v->p->nstrategies ? v->p->nstrategies : 1;
    v->d[i].run = false;
    if (v->selected == (int)i) v->selected = -1;
    if (v->problem == NULL && (v->problem = calloc(n, sizeof *v->problem)) == NULL) return;
    char text[VIEW_PROBLEM_MAX];
    snprintf(text, sizeof text, "%s", msg && msg[0] ? msg : "unreadable record");
    free(v->problem[i]);
    v->problem[i] = strdup(text);
}

const char *view_problem(const view_pipeline *v, size_t i) {
    return v->problem ? v->problem[i] : NULL;
}

/* --- live figures, read in one batch --- */

/* The meta values a view reads in one batch: a delta or cdc strategy's
 * watermark and a cdc strategy's slot figures (cdc_figures_keys), the
 * values of one strategy always in the same batch. */
typedef struct live_want {
    view_pipeline *v;
    size_t i;
    int key;        /* -1: "watermark"; 0-2: cdc_figures_keys[key] */
} live_want;

static size_t live_collect(view_pipeline *views, size_t nviews, live_want *w) {
    size_t n = 0;
    for (size_t k = 0; k < nviews; k++) {
        view_pipeline *v = &views[k];
        for (size_t i = 0; v->with_state && i < v->p->nstrategies; i++) {
            config_strategy_type t = v->p->strategies[i].type;
            bool cdc = t == CONFIG_STRATEGY_CDC;
            if ((t == CONFIG_STRATEGY_DELTA || cdc) && v->watermark[i] == NULL) {
                if (w) w[n] = (live_want){v, i, -1};
                n++;
            }
            for (int key = 0; cdc && key < 3; key++, n++)
                if (w) w[n] = (live_want){v, i, key};
        }
    }
    return n;
}

/* Hands each value read to its view: watermarks first, then the slot
 * figures of a cdc strategy from its three values (which follow it). */
static void live_apply(const live_want *w, state_meta_req *q, size_t n) {
    for (size_t j = 0; j < n; j++) {
        view_pipeline *v = w[j].v;
        if (w[j].key == -1 && q[j].rc == ST_OK && q[j].buf[0] != '\0')
            v->watermark[w[j].i] = strdup(q[j].buf);
    }
    for (size_t j = 0; j + 2 < n; j++) {
        if (w[j].key != 0) continue;
        const char *texts[3];
        for (int k = 0; k < 3; k++) texts[k] = q[j + k].rc == ST_OK ? q[j + k].buf : NULL;
        cdc_figures_from(w[j].v->watermark[w[j].i], texts, &w[j].v->slot[w[j].i]);
    }
}

#define LIVE_CHUNK 512   /* values per batch, each read into a VIEW_WM_MAX buffer */

/* One batch of n values (at most LIVE_CHUNK) through bufs; false if the
 * store failed. */
static bool live_chunk(const live_want *w, size_t n, state *st, char *bufs) {
    state_meta_req q[LIVE_CHUNK];
    for (size_t j = 0; j < n; j++) {
        const state_record *r = &w[j].v->recs[w[j].i];
        q[j] = (state_meta_req){r->pipeline, r->strategy,
                                w[j].key < 0 ? "watermark" : cdc_figures_keys[w[j].key],
                                bufs + j * VIEW_WM_MAX, VIEW_WM_MAX, ST_ENOTFOUND};
    }
    st_error e;
    if (state_meta_get_many(st, q, n, &e) != ST_OK) return false;
    live_apply(w, q, n);
    return true;
}

static bool same_pair(const live_want *a, const live_want *b) {
    return a->v == b->v && a->i == b->i;
}

/* Best effort, as before: what cannot be read stays unknown. */
static void live_meta(view_pipeline *views, size_t nviews, state *st) {
    size_t n = live_collect(views, nviews, NULL);
    live_want *w = n ? calloc(n, sizeof *w) : NULL;
    char *bufs = w ? malloc((size_t)LIVE_CHUNK * VIEW_WM_MAX) : NULL;
    if (bufs != NULL) {
        live_collect(views, nviews, w);
        for (size_t at = 0, end; at < n; at = end) {
            end = at + LIVE_CHUNK < n ? at + LIVE_CHUNK : n;
            while (end < n && end > at + 1 && same_pair(&w[end - 1], &w[end])) end--;
            if (!live_chunk(w + at, end - at, st, bufs)) break;
        }
    }
    free(bufs);
    free(w);
}

void view_load_live_many(view_pipeline *views, size_t nviews, state *st, bool progress) {
    live_meta(views, nviews, st);
    for (size_t k = 0; progress && k < nviews; k++) {
        view_pipeline *v = &views[k];
        for (size_t i = 0; v->with_state && i < v->p->nstrategies; i++) {
            const state_record *r = &v->recs[i];
            state_progress pr;
            if (r->status == STATE_RUNNING && r->run_id > 0 &&
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
    size_t n = v->p ? v->p->nstrategies : 0;
    for (size_t i = 0; v->crons && !v->crons_borrowed && i < n; i++) cron_free(v->crons[i]);
    for (size_t i = 0; v->watermark && i < n; i++) free(v->watermark[i]);
    for (size_t i = 0; v->problem && i < n; i++) free(v->problem[i]);
    free(v->problem);
    free(v->has_state);   /* the block of view_alloc */
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
    if (!v->with_state || view_problem(v, i)) return NULL;
    return view_record_paused_by(v->p, &v->p->strategies[i], &v->recs[i], v->at);
}
