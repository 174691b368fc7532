/*
 * scheduler — the scheduler loop's building blocks (the "scheduler loop"
 * section of sched.h): the compiled plan, one tick, and running one job
 * taken from the queue.
 *
 * A tick is a pure pass over data loaded in bulk: one streamed listing of
 * every record (state_list_each), at most one lock_list() (only when some
 * record says running), then per pipeline sched_select() at the tick's
 * `now`. The listing is not kept as 2 KB state_records (100,000 strategies
 * would be 200 MB per tick, faulted in afresh each time): each record is
 * reduced as it arrives to a 48-byte tick_slot holding what the decision
 * reads, placed by the plan's pipeline-name hash (plan->buckets) at
 * plan->first[i] + j; only records that say running are kept whole, for
 * recovery. The decision then sees a state_record rebuilt from the slot
 * (worker, message and error empty: no rule reads them). Only a pipeline that is
 * due costs more round trips: the enqueue lock (a short lease so a crashed
 * hand-off frees itself; the tick tries all due pipelines' enqueue locks in
 * one lock_acquire_many() after deciding every pipeline), then per taken
 * lock sched_can_enqueue(), a new run id, state_mark_pending() and
 * queue_push(). The decision's reason is logged
 * verbatim (DESIGN §5); strategies that are waiting on a retry are logged at
 * info, plain "not due" at debug, so an idle scheduler stays quiet. One
 * pipeline runs one strategy at a time: a due strategy is not enqueued
 * while another strategy of its pipeline is pending or running.
 *
 * Recovery: a record `running` whose pipeline lock nobody holds has lost its
 * worker. The tick (and `status`, through sched_recover_lost()) confirms
 * that by taking the pipeline lock itself (so no worker can be mid-run),
 * re-reads the record and, if it is still the same run, records it `lost`
 * (SCHED_WORKER_LOST) in state and history. Lost counts as failed for the
 * §3 rules.
 *
 * sched_run_job() is the consumer side, shared by the embedded scheduler's
 * child processes and `synctool worker`: drop jobs that a newer run
 * superseded or that already finished (a redelivered job is never run
 * twice), otherwise job_run() with callbacks that mark the run running and
 * release the enqueue lock, execute sync_run() under the locks, and record
 * the result. The staleness check is repeated once the locks are held, and
 * a skip caused by another delivery of the same run holding the pipeline
 * lock is not recorded, so duplicates never add runs or overwrite results. A job's times are its `at` (the scheduler's fixed --at) or the
 * wall clock; the locks always keep real time.
 *
 * Not here: processes, signals, the leader lease (src/proc/). Nothing here reads the clock except where a job has
 * no fixed time.
 */
#include "sched.h"

#include "../log/log.h"
#include "../sync/sync.h"
#include "../why/why.h"
#include "../time/st_time.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHED_ENQUEUE_TTL_MS 60000

/* --- Plan --- */

static uint64_t sched_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}


int sched_plan_build(sched_plan **out, const config *cfg, st_error *err) {
    *out = NULL;
    sched_plan *plan = calloc(1, sizeof *plan);
    if (plan == NULL) return st_error_set(err, ST_ENOMEM, "scheduler: out of memory");
    plan->cfg = cfg;
    plan->crons = calloc(cfg->npipelines ? cfg->npipelines : 1, sizeof *plan->crons);
    plan->first = calloc(cfg->npipelines ? cfg->npipelines : 1, sizeof *plan->first);
    plan->nbuckets = 16;
    while (plan->nbuckets < 2 * cfg->npipelines) plan->nbuckets *= 2;
    plan->buckets = calloc(plan->nbuckets, sizeof *plan->buckets);
    if (plan->crons == NULL || plan->first == NULL || plan->buckets == NULL) goto oom;
    size_t nslots = 0;
    for (size_t i = 0; i < cfg->npipelines; i++) nslots += cfg->pipelines[i].nstrategies;
    plan->memo = calloc(nslots ? nslots : 1, sizeof *plan->memo);
    if (plan->memo == NULL) goto oom;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        plan->first[i] = plan->nslots;
        plan->nslots += p->nstrategies;
        /* First of a duplicated name wins (config validation refuses those). */
        size_t b = sched_hash(p->name) & (plan->nbuckets - 1);
        while (plan->buckets[b] != 0 && strcmp(cfg->pipelines[plan->buckets[b] - 1].name,
                                               p->name) != 0)
            b = (b + 1) & (plan->nbuckets - 1);
        if (plan->buckets[b] == 0) plan->buckets[b] = i + 1;
        plan->crons[i] = calloc(p->nstrategies ? p->nstrategies : 1, sizeof **plan->crons);
        if (plan->crons[i] == NULL) goto oom;
        for (size_t j = 0; j < p->nstrategies; j++) {
            const config_strategy *s = &p->strategies[j];
            if (s->cron == NULL || s->cron[0] == '\0') continue;
            st_error e;
            /* An invalid cron stays NULL: sched_select() reports it (rule 1). */
            if (cron_parse(&plan->crons[i][j], s->cron, s->timezone, &e) != ST_OK)
                plan->crons[i][j] = NULL;
        }
    }
    *out = plan;
    return ST_OK;
oom:
    sched_plan_free(plan);
    return st_error_set(err, ST_ENOMEM, "scheduler: out of memory");
}

void sched_plan_free(sched_plan *plan) {
    if (plan == NULL) return;
    if (plan->crons != NULL) {
        for (size_t i = 0; i < plan->cfg->npipelines; i++) {
            if (plan->crons[i] == NULL) continue;
            for (size_t j = 0; j < plan->cfg->pipelines[i].nstrategies; j++)
                cron_free(plan->crons[i][j]);
            free(plan->crons[i]);
        }
        free(plan->crons);
    }
    free(plan->first);
    free(plan->buckets);
    free(plan->memo);
    free(plan);
}

/* --- Tick --- */

/* A record as the tick keeps it: only what the decision reads (48 bytes
 * instead of state_record's 1,976), one per configured strategy, found by
 * position (plan->first[i] + j), so a listing of 100,000 records costs
 * 4.8 MB and no per-record allocation. */
typedef struct tick_slot {
    int64_t last_run, last_scheduled_at, last_attempted_at, retry_count, run_id;
    int32_t status;
    bool present;
    bool paused;                 /* operator pause: the decision says so */
} tick_slot;

/* A strategy the tick decided to enqueue (sched_enqueue_due). */
typedef struct tick_due {
    const config_pipeline *p;
    const config_strategy *s;
    const tick_slot *slot;       /* its state; NULL if none */
    char key[320];               /* its pipeline's enqueue lock */
} tick_due;

typedef struct tick_ctx {
    const sched_plan *plan;
    state *st;
    lock_manager *lm;
    queue *q;
    const sched_tick_opts *o;
    sched_tick_stats *stats;
    tick_slot *slots;              /* plan->nslots */
    state_record *running;         /* records that say running (any pipeline) */
    ptrdiff_t *running_slot;       /* ... and their slot, -1 if not configured */
    size_t nrunning, caprunning;
    size_t last_p;                 /* pipeline of the previous record (lookup cache) */
    const state_record **states;   /* scratch, max strategies per pipeline */
    state_record *scratch;         /* the records states[] point to */
    sched_decision *decisions;     /* scratch */
    tick_due *due;                 /* what this tick enqueues, one per pipeline at most */
    size_t ndue, capdue;
    int rc;                        /* ST_ENOMEM while listing */
} tick_ctx;

/* Index of the configured pipeline named `name`, or -1. */
static ptrdiff_t sched_pipeline_of(const sched_plan *plan, const char *name) {
    if (plan->nbuckets == 0) return -1;
    for (size_t b = sched_hash(name) & (plan->nbuckets - 1);; b = (b + 1) & (plan->nbuckets - 1)) {
        size_t v = plan->buckets[b];
        if (v == 0) return -1;
        if (strcmp(plan->cfg->pipelines[v - 1].name, name) == 0) return (ptrdiff_t)(v - 1);
    }
}

static void sched_slot_to_record(const tick_slot *t, const config_pipeline *p,
                                 const config_strategy *s, state_record *r) {
    snprintf(r->pipeline, sizeof r->pipeline, "%s", p->name);
    snprintf(r->strategy, sizeof r->strategy, "%s", s->name);
    r->status = (state_status)t->status;
    r->last_run = t->last_run;
    r->last_scheduled_at = t->last_scheduled_at;
    r->last_attempted_at = t->last_attempted_at;
    r->retry_count = t->retry_count;
    r->run_id = t->run_id;
    r->paused = t->paused;
}

static void sched_record_to_slot(const state_record *r, tick_slot *t) {
    t->last_run = r->last_run;
    t->last_scheduled_at = r->last_scheduled_at;
    t->last_attempted_at = r->last_attempted_at;
    t->retry_count = r->retry_count;
    t->run_id = r->run_id;
    t->status = (int32_t)r->status;
    t->paused = r->paused;
    t->present = true;
}

/* state_list_each() callback: one record into its slot; running ones are
 * also kept whole (any pipeline, configured or not) for recovery. */
static int sched_take_record(void *ud, const state_record *r) {
    tick_ctx *c = ud;
    const config *cfg = c->plan->cfg;
    ptrdiff_t i = -1;
    if (c->last_p < cfg->npipelines && strcmp(cfg->pipelines[c->last_p].name, r->pipeline) == 0)
        i = (ptrdiff_t)c->last_p;
    else if ((i = sched_pipeline_of(c->plan, r->pipeline)) >= 0)
        c->last_p = (size_t)i;
    ptrdiff_t slot = -1;
    if (i >= 0) {
        const config_pipeline *p = &cfg->pipelines[i];
        for (size_t j = 0; j < p->nstrategies; j++)
            if (strcmp(p->strategies[j].name, r->strategy) == 0) {
                slot = (ptrdiff_t)(c->plan->first[i] + j);
                sched_record_to_slot(r, &c->slots[slot]);
                break;
            }
    }
    if (r->status != STATE_RUNNING) return ST_OK;
    if (c->nrunning == c->caprunning) {
        size_t nc = c->caprunning ? c->caprunning * 2 : 16;
        state_record *nr = realloc(c->running, nc * sizeof *nr);
        if (nr != NULL) c->running = nr;
        ptrdiff_t *ns = realloc(c->running_slot, nc * sizeof *ns);
        if (ns != NULL) c->running_slot = ns;
        if (nr == NULL || ns == NULL) return c->rc = ST_ENOMEM;
        c->caprunning = nc;
    }
    c->running[c->nrunning] = *r;
    c->running_slot[c->nrunning++] = slot;
    return ST_OK;
}

/* Fills c->states for pipeline i (NULL where the strategy has no record). */
static void sched_states_for(tick_ctx *c, size_t i) {
    const config_pipeline *p = &c->plan->cfg->pipelines[i];
    for (size_t j = 0; j < p->nstrategies; j++) {
        const tick_slot *t = &c->slots[c->plan->first[i] + j];
        c->states[j] = NULL;
        if (!t->present) continue;
        sched_slot_to_record(t, p, &p->strategies[j], &c->scratch[j]);
        c->states[j] = &c->scratch[j];
    }
}

static bool sched_key_held(const lock_info *held, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(held[i].key, key) == 0) return true;
    return false;
}

/* Records one running record `lost` if its pipeline lock is really free:
 * we take the lock ourselves first so no worker can be mid-run (lm NULL:
 * the caller holds it). Returns 1 if it recorded, 0 if not (someone holds
 * the lock, the run moved on), or an error. On 1, *rec is the record as it
 * is now. */
static int sched_mark_lost(state *st, lock_manager *lm, state_record *rec, int64_t now,
                           st_error *err) {
    char key[320];
    lock_key_pipeline(key, sizeof key, rec->pipeline);
    lock_handle h;
    st_error e;
    if (lm != NULL && lock_acquire(lm, key, LOCK_EXCLUSIVE, 10000, &h, &e) != ST_OK) return 0;
    int rc = 0;
    state_record fresh;
    if (state_get(st, rec->pipeline, rec->strategy, &fresh, &e) == ST_OK &&
        fresh.status == STATE_RUNNING && fresh.run_id == rec->run_id) {
        state_stats none = {0};
        int64_t started = fresh.last_attempted_at != ST_TIME_NONE ? fresh.last_attempted_at
                                                                    : now;
        if (started > now) started = now;
        rc = state_mark_finished(st, rec->pipeline, rec->strategy, rec->run_id, STATE_LOST,
                                 started, now, fresh.worker, SCHED_WORKER_LOST,
                                 SCHED_WORKER_LOST, &none, err);
        if (rc == ST_OK) {
            rc = 1;
            log_warn(rec->pipeline, rec->strategy, "Run %" PRId64 " recorded lost: %s "
                     "(worker %s)", rec->run_id, SCHED_WORKER_LOST,
                     fresh.worker[0] ? fresh.worker : "unknown");
            if (state_get(st, rec->pipeline, rec->strategy, &fresh, &e) == ST_OK) *rec = fresh;
        }
    }
    if (lm != NULL) lock_release(lm, &h, &e);
    return rc;
}

static void sched_recover_one(tick_ctx *c, state_record *rec) {
    st_error e;
    int rc = sched_mark_lost(c->st, c->lm, rec, c->o->now, &e);
    if (rc == 1) {
        c->stats->recovered++;
    } else if (rc < 0) {
        log_error(rec->pipeline, rec->strategy, "cannot record lost run: %s", e.msg);
        c->stats->errors++;
    }
}

static void sched_recover(tick_ctx *c) {
    if (c->nrunning == 0 || c->lm == NULL) return;
    lock_info *held = NULL;
    size_t nheld = 0;
    st_error e;
    if (lock_list(c->lm, &held, &nheld, &e) != ST_OK) {
        log_warn(NULL, NULL, "cannot list locks, lost runs not checked: %s", e.msg);
        return;
    }
    for (size_t i = 0; i < c->nrunning; i++) {
        state_record *rec = &c->running[i];
        char key[320];
        lock_key_pipeline(key, sizeof key, rec->pipeline);
        if (sched_key_held(held, nheld, key)) continue;
        sched_recover_one(c, rec);
        if (c->running_slot[i] >= 0) sched_record_to_slot(rec, &c->slots[c->running_slot[i]]);
    }
    free(held);
}

int sched_recover_lost(state *st, lock_manager *lm, const char *pipeline, int64_t now,
                       size_t *recovered, st_error *err) {
    if (recovered) *recovered = 0;
    state_record *recs = NULL;
    size_t n = 0;
    int rc = state_list(st, &recs, &n, err);
    if (rc != ST_OK) return rc;
    lock_info *held = NULL;
    size_t nheld = 0;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = recs[i].status == STATE_RUNNING &&
              (pipeline == NULL || strcmp(recs[i].pipeline, pipeline) == 0);
    if (any && (lm == NULL || (rc = lock_list(lm, &held, &nheld, err)) == ST_OK)) {
        for (size_t i = 0; i < n && rc >= 0; i++) {
            if (recs[i].status != STATE_RUNNING) continue;
            if (pipeline != NULL && strcmp(recs[i].pipeline, pipeline) != 0) continue;
            char key[320];
            lock_key_pipeline(key, sizeof key, recs[i].pipeline);
            if (lm != NULL && sched_key_held(held, nheld, key)) continue;
            int r = sched_mark_lost(st, lm, &recs[i], now, err);
            if (r < 0) rc = r;
            else if (r == 1 && recovered) (*recovered)++;
        }
        if (rc > 0) rc = ST_OK;
    }
    free(held);
    free(recs);
    return rc;
}

/* Pending + push once the enqueue lock is ours. Returns 0 or an error. */
static int sched_handoff(tick_ctx *c, const config_pipeline *p, const config_strategy *s,
                         const lock_handle *h, int64_t *run_id, st_error *e) {
    int rc = state_new_run_id(c->st, run_id, e);
    if (rc == ST_OK) rc = state_mark_pending(c->st, p->name, s->name, *run_id, c->o->now, e);
    if (rc != ST_OK) return rc;
    queue_job job;
    memset(&job, 0, sizeof job);
    snprintf(job.pipeline, sizeof job.pipeline, "%s", p->name);
    snprintf(job.strategy, sizeof job.strategy, "%s", s->name);
    job.run_id = *run_id;
    job.at = c->o->fixed_time ? c->o->now : 0;
    if (h != NULL) {
        snprintf(job.enqueue_key, sizeof job.enqueue_key, "%s", h->key);
        snprintf(job.enqueue_owner, sizeof job.enqueue_owner, "%s", h->owner);
        job.enqueue_fence = h->fence;
    }
    return queue_push(c->q, &job, e);
}

/* The rest of an enqueue once the enqueue lock was tried (lrc: 0, or
 * why not): sched_can_enqueue() on the record, then the hand-off. */
static void sched_enqueue(tick_ctx *c, const tick_due *d, int lrc, lock_handle *h,
                          const st_error *le) {
    const config_pipeline *p = d->p;
    const config_strategy *s = d->s;
    st_error e;
    char why[160];
    if (lrc == ST_EBUSY) {
        log_info(p->name, s->name, "Enqueue lock is held, not enqueueing this tick");
        c->stats->busy++;
        return;
    }
    if (lrc != ST_OK) {
        log_error(p->name, s->name, "cannot take the enqueue lock: %s", le->msg);
        c->stats->errors++;
        return;
    }
    state_record rec;
    if (d->slot != NULL) {
        memset(&rec, 0, sizeof rec);
        sched_slot_to_record(d->slot, p, s, &rec);
    }
    if (!sched_can_enqueue(d->slot ? &rec : NULL, c->o->now, why, sizeof why)) {
        log_info(p->name, s->name, "Not enqueued: %s", why);
        if (c->lm) lock_release(c->lm, h, &e);
        c->stats->busy++;
        return;
    }
    int64_t run_id = 0;
    if (sched_handoff(c, p, s, c->lm ? h : NULL, &run_id, &e) != ST_OK) {
        log_error(p->name, s->name, "cannot enqueue: %s", e.msg);
        if (c->lm) lock_release(c->lm, h, &e);
        c->stats->errors++;
        return;
    }
    log_info(p->name, s->name, "Enqueued run %" PRId64, run_id);
    c->stats->enqueued++;
    if (c->o->journal) {
        char text[64];
        snprintf(text, sizeof text, "Enqueued run %" PRId64, run_id);
        why_event(c->st, p->name, s->name, c->o->now, text, c->o->journal_keep_days, NULL);
    }
}

/* Enqueues what the tick found due: all enqueue locks are tried in one
 * batch (one write, one fsync, on the SQLite lock store, instead of one per
 * pipeline), then each taken one is handed off. */
static void sched_enqueue_due(tick_ctx *c) {
    if (c->ndue == 0) return;
    int64_t ttl = c->o->enqueue_lock_ttl_ms > 0 ? c->o->enqueue_lock_ttl_ms : SCHED_ENQUEUE_TTL_MS;
    const char **keys = malloc(c->ndue * sizeof *keys);
    lock_handle *hs = calloc(c->ndue, sizeof *hs);
    int *rcs = calloc(c->ndue, sizeof *rcs);
    st_error le;
    st_error_clear(&le);
    if (keys == NULL || hs == NULL || rcs == NULL) {
        st_error_set(&le, ST_ENOMEM, "out of memory");
        for (size_t i = 0; rcs && i < c->ndue; i++) rcs[i] = ST_ENOMEM;
    } else if (c->lm) {
        for (size_t i = 0; i < c->ndue; i++) keys[i] = c->due[i].key;
        lock_acquire_many(c->lm, keys, c->ndue, LOCK_EXCLUSIVE, ttl, hs, rcs, &le);
    }
    for (size_t i = 0; i < c->ndue; i++)
        sched_enqueue(c, &c->due[i], rcs ? rcs[i] : ST_ENOMEM, hs ? &hs[i] : NULL, &le);
    free(keys);
    free(hs);
    free(rcs);
}

/* Has strategy j's decision changed since the last one seen? The plan's
 * memo answers without a round trip; when it does not know (the first tick
 * of this process) or sees a change, the journal (state) decides and
 * records it. Without the journal the memo alone decides. */
static bool sched_decision_changed(const tick_ctx *c, const config_pipeline *p, size_t i,
                                   size_t j) {
    const sched_decision *d = &c->decisions[j];
    uint64_t h = why_hash(d->run, d->reason), *memo = &c->plan->memo[c->plan->first[i] + j];
    if (*memo == h) return false;
    bool changed = true;
    if (c->o->journal) {
        st_error e;
        if (why_decision(c->st, p->name, p->strategies[j].name, c->o->now, d->run, d->reason,
                         c->o->journal_keep_days, &changed, &e) != ST_OK) {
            log_debug(p->name, p->strategies[j].name, "why-journal: %s", e.msg);
            changed = true;
        }
    }
    *memo = h;
    return changed;
}

/* Logs the decisions of a pipeline once: at info when a decision changed
 * (and always for the one about to be enqueued), at debug otherwise. A
 * strategy that has just paused gets one warning naming the way out. */
static void sched_log_decisions(const tick_ctx *c, const config_pipeline *p, size_t i,
                                int chosen) {
    for (size_t j = 0; j < p->nstrategies; j++) {
        const sched_decision *d = &c->decisions[j];
        bool changed = sched_decision_changed(c, p, i, j);
        if (changed && d->rule == SCHED_RULE_MAX_RETRY) {
            log_warn(p->name, p->strategies[j].name, "%s: paused; run `synctool reset %s "
                     "--strategy %s` to resume", d->reason, p->name, p->strategies[j].name);
            continue;
        }
        log_level lv = ((int)j == chosen || changed) ? LOG_INFO : LOG_DEBUG;
        if (d->distrusted[0])
            log_warn(p->name, p->strategies[j].name, "state in the future of now, treated as "
                     "unknown: %s", d->distrusted);
        if (lv < log_get_level()) continue;
        log_event(lv, p->name, p->strategies[j].name, "%s", d->reason);
    }
}

/* One pipeline runs one strategy at a time: the name of another strategy
 * that is running, or pending and not yet lost (< 300 s), else NULL. */
static const char *sched_busy_strategy(const tick_ctx *c, const config_pipeline *p, int k) {
    for (size_t j = 0; j < p->nstrategies; j++) {
        const state_record *st = c->states[j];
        if ((int)j == k || st == NULL) continue;
        char why[160];
        if ((st->status == STATE_RUNNING || st->status == STATE_PENDING) &&
            !sched_can_enqueue(st, c->o->now, why, sizeof why))
            return p->strategies[j].name;
    }
    return NULL;
}

static void sched_tick_pipeline(tick_ctx *c, size_t i) {
    const config_pipeline *p = &c->plan->cfg->pipelines[i];
    if (p->nstrategies == 0) return;
    sched_states_for(c, i);
    int k = sched_select(p, (const cron_expr *const *)c->plan->crons[i], c->states,
                         c->o->now, c->decisions);
    if (c->o->on_decisions) c->o->on_decisions(c->o->ud, p, c->states, c->decisions, k);
    sched_log_decisions(c, p, i, k);
    if (k < 0) return;
    c->stats->due++;
    const char *busy = sched_busy_strategy(c, p, k);
    if (busy != NULL) {
        log_info(p->name, p->strategies[k].name, "Not enqueued: strategy '%s' of this "
                 "pipeline is already pending or running", busy);
        c->stats->busy++;
        return;
    }
    if (c->ndue == c->capdue) {
        size_t nc = c->capdue ? c->capdue * 2 : 64;
        tick_due *nd = realloc(c->due, nc * sizeof *nd);
        if (nd == NULL) {
            log_error(p->name, p->strategies[k].name, "cannot enqueue: out of memory");
            c->stats->errors++;
            return;
        }
        c->due = nd;
        c->capdue = nc;
    }
    tick_due *d = &c->due[c->ndue++];
    d->p = p;
    d->s = &p->strategies[k];
    const tick_slot *t = &c->slots[c->plan->first[i] + (size_t)k];
    d->slot = t->present ? t : NULL;
    lock_key_enqueue(d->key, sizeof d->key, p->name);
}

static int sched_tick_alloc(tick_ctx *c, st_error *err) {
    size_t maxs = 1;
    for (size_t i = 0; i < c->plan->cfg->npipelines; i++)
        if (c->plan->cfg->pipelines[i].nstrategies > maxs)
            maxs = c->plan->cfg->pipelines[i].nstrategies;
    c->slots = calloc(c->plan->nslots ? c->plan->nslots : 1, sizeof *c->slots);
    c->states = malloc(maxs * sizeof *c->states);
    c->scratch = malloc(maxs * sizeof *c->scratch);
    c->decisions = malloc(maxs * sizeof *c->decisions);
    if (c->slots == NULL || c->states == NULL || c->scratch == NULL || c->decisions == NULL)
        return st_error_set(err, ST_ENOMEM, "scheduler: out of memory");
    memset(c->scratch, 0, maxs * sizeof *c->scratch);  /* worker, message, error: "" */
    return ST_OK;
}

int sched_tick(const sched_plan *plan, state *st, lock_manager *lm, queue *q,
               const sched_tick_opts *o, sched_tick_stats *stats, st_error *err) {
    sched_tick_stats local;
    if (stats == NULL) stats = &local;
    memset(stats, 0, sizeof *stats);
    st_error le;
    st_error_clear(&le);
    tick_ctx c = {.plan = plan, .st = st, .lm = lm, .q = q, .o = o, .stats = stats,
                  .last_p = SIZE_MAX};
    int rc = sched_tick_alloc(&c, err);
    if (rc == ST_OK) {
        rc = state_list_each(st, sched_take_record, &c, &le);
        if (rc == ST_OK && c.rc != ST_OK) rc = st_error_set(&le, c.rc, "out of memory");
        if (rc != ST_OK)
            st_error_set(err, rc, "scheduler: cannot load state: %s", le.msg);
        else if (le.msg[0] != '\0')
            log_warn(NULL, NULL, "state: %s", le.msg);
    }
    if (rc == ST_OK) {
        sched_recover(&c);
        stats->pipelines = plan->cfg->npipelines;
        for (size_t i = 0; i < plan->cfg->npipelines; i++) sched_tick_pipeline(&c, i);
        sched_enqueue_due(&c);
    }
    if (rc == ST_OK && o->journal) { /* `synctool status`: is a scheduler alive? */
        char at[40];
        st_time_format(o->now, at, sizeof at);
        state_meta_put(st, "synctool:scheduler", "-", "last_tick", at, NULL);
    }
    free(c.due);
    free(c.slots);
    free(c.running);
    free(c.running_slot);
    free(c.states);
    free(c.scratch);
    free(c.decisions);
    return rc;
}

/* --- Running one job --- */

/* Whether a delivered job must not run: a newer run superseded it, or this
 * very run already finished (a redelivery after the ack was lost). */
static bool sched_job_stale(const state_record *rec, const queue_job *job, char *why,
                            size_t n) {
    if (rec->run_id > job->run_id) {
        snprintf(why, n, "superseded by run %" PRId64, rec->run_id);
        return true;
    }
    if (rec->run_id != job->run_id) return false;
    /* lost (or failed "Worker lost" from before `lost` existed): a
     * redelivery of the run may still run it */
    bool lost = rec->status == STATE_LOST ||
                (rec->status == STATE_FAILED &&
                 (strcmp(rec->error, SCHED_WORKER_LOST) == 0 ||
                  strcmp(rec->message, SCHED_WORKER_LOST) == 0));
    if (rec->status == STATE_SUCCESS || rec->status == STATE_SKIPPED ||
        rec->status == STATE_INTERRUPTED || (rec->status == STATE_FAILED && !lost)) {
        snprintf(why, n, "already finished (%s)", state_status_name(rec->status));
        return true;
    }
    return false;
}

typedef struct run_ctx {
    const sched_job_env *env;
    const queue_job *job;
    const config_pipeline *p;
    int64_t started_at;
    bool enqueue_released;
    bool abandoned;        /* another delivery of this run got there first */
    bool recorded;         /* sched_on_finished recorded the result */
    int record_rc;         /* ... and what recording returned */
    st_error record_err;
} run_ctx;

static int64_t sched_job_now(const queue_job *job) {
    return job->at != 0 ? job->at : st_time_now();
}

static void sched_release_enqueue(run_ctx *rc) {
    if (rc->enqueue_released || rc->job->enqueue_key[0] == '\0' || rc->env->lm == NULL) return;
    lock_handle h;
    memset(&h, 0, sizeof h);
    snprintf(h.key, sizeof h.key, "%s", rc->job->enqueue_key);
    snprintf(h.owner, sizeof h.owner, "%s", rc->job->enqueue_owner);
    h.fence = rc->job->enqueue_fence;
    h.mode = LOCK_EXCLUSIVE;
    st_error e;
    lock_release(rc->env->lm, &h, &e); /* ST_ESTALE: it expired; nothing to do */
    rc->enqueue_released = true;
}

/* Once the locks are ours, look again: a duplicate delivery of this run may
 * have run it while we waited. Then this one does nothing and records
 * nothing (rc->abandoned). */
static void sched_on_locks_acquired(void *ud, const job_exec_ctx *ctx) {
    run_ctx *rc = ud;
    (void)ctx;
    st_error e;
    state_record rec;
    char why[160];
    if (state_get(rc->env->st, rc->job->pipeline, rc->job->strategy, &rec, &e) == ST_OK &&
        sched_job_stale(&rec, rc->job, why, sizeof why)) {
        log_info(rc->job->pipeline, rc->job->strategy, "Run %" PRId64 " not run: %s",
                 rc->job->run_id, why);
        rc->abandoned = true;
        sched_release_enqueue(rc);
        return;
    }
    if (state_mark_running(rc->env->st, rc->job->pipeline, rc->job->strategy, rc->job->run_id,
                           sched_job_now(rc->job), rc->env->worker, &e) != ST_OK)
        log_warn(rc->job->pipeline, rc->job->strategy, "cannot mark run %" PRId64
                 " running: %s", rc->job->run_id, e.msg);
    sched_release_enqueue(rc);
}

static void sched_on_skip(void *ud, const char *reason_code, const char *message) {
    run_ctx *rc = ud;
    (void)reason_code;
    (void)message;
    sched_release_enqueue(rc);
}

static int sched_exec_sync(void *ud, const job_exec_ctx *ctx, state_stats *stats,
                           st_error *err) {
    run_ctx *rc = ud;
    if (rc->abandoned) return ST_OK;
    sync_opts so = {
        .done_is_detail = true,   /* sched_log_result's line is the run's one info line */
        .cfg = rc->env->cfg,
        .pipeline = ctx->pipeline,
        .strategy = ctx->strategy,
        .st = rc->env->st,
        .fence_key = ctx->pipeline_lock ? ctx->pipeline_lock->fence_key : NULL,
        .fence_token = ctx->pipeline_lock ? ctx->pipeline_lock->fence : 0,
        .lease_check = ctx->pipeline_lock ? job_lease_check : NULL,
        .fence_raise = ctx->pipeline_lock ? job_fence_raise : NULL,
        .lease_arg = ctx,
        .cancel = ctx->cancel,
        .interrupt = ctx->interrupt,
        .progress = false,
        .now = rc->started_at,
        .run_id = rc->job->run_id,
    };
    return sync_run(&so, stats, err);
}

static state_status sched_state_of(job_status s) {
    switch (s) {
    case JOB_SUCCESS: return STATE_SUCCESS;
    case JOB_SKIPPED: return STATE_SKIPPED;
    case JOB_INTERRUPTED: return STATE_INTERRUPTED;
    default: return STATE_FAILED;
    }
}

static void sched_log_result(const queue_job *job, const job_result *res) {
    const char *msg = res->message[0] ? res->message : "done";
    if (res->status == JOB_SUCCESS)   /* the run's one info line (its details: log_detail) */
        log_info(job->pipeline, job->strategy, "Run %" PRId64 " succeeded: %s; %lld read, "
                 "%lld inserted, %lld updated, %lld deleted in %.3fs", job->run_id, msg,
                 (long long)res->stats.rows_read, (long long)res->stats.rows_inserted,
                 (long long)res->stats.rows_updated, (long long)res->stats.rows_deleted,
                 res->stats.seconds);
    else if (res->status == JOB_SKIPPED)
        log_warn(job->pipeline, job->strategy, "Run %" PRId64 " skipped: %s", job->run_id, msg);
    else if (res->status == JOB_INTERRUPTED)
        log_warn(job->pipeline, job->strategy, "Run %" PRId64 " interrupted at a batch "
                 "boundary: %" PRId64 " inserted, %" PRId64 " updated, %" PRId64 " deleted "
                 "committed; retried inside its slot", job->run_id, res->stats.rows_inserted,
                 res->stats.rows_updated, res->stats.rows_deleted);
    else
        log_error(job->pipeline, job->strategy, "Run %" PRId64 " failed: %s", job->run_id, msg);
}

int sched_retry_store(int (*fn)(void *ud, st_error *err), void *ud, int64_t within_ms,
                      const char *pipeline, const char *strategy, st_error *err) {
    int64_t deadline = st_time_mono_ms() + within_ms, delay = 500;
    for (;;) {
        int r = fn(ud, err);
        int64_t left = deadline - st_time_mono_ms();
        if (r != ST_EUNAVAIL || left <= 0) return r;
        if (delay > left) delay = left;
        log_warn(pipeline, strategy, "cannot record the outcome (%s); retrying in %.1fs "
                 "(for up to %.0fs more)", err ? err->msg : "state store unreachable",
                 (double)delay / 1000.0, (double)left / 1000.0);
        struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}

typedef struct sched_finish {
    run_ctx *rc;
    const job_result *res;
    const char *log;
    int64_t now;
} sched_finish;

static int sched_record_once(void *ud, st_error *err) {
    const sched_finish *f = ud;
    const queue_job *job = f->rc->job;
    /* a run an operator asked for (job->manual) does not count toward the pause */
    return (job->manual ? state_mark_finished_manual : state_mark_finished_log)(f->rc->env->st, job->pipeline, job->strategy, job->run_id,
                                   sched_state_of(f->res->status), f->rc->started_at, f->now,
                                   f->rc->env->worker, f->res->message,
                                   f->res->status == JOB_FAILED ? f->res->message : "",
                                   &f->res->stats, f->log, err);
}

/* The state store stayed away for the lease: the outcome goes to the local
 * spool, recorded by the next synctool command on this host (state_spool.c). */
static void sched_spool(run_ctx *rc, const job_result *res, const char *log, int64_t now) {
    const queue_job *job = rc->job;
    state_outcome o = {.pipeline = job->pipeline, .strategy = job->strategy,
                       .run_id = job->run_id, .status = sched_state_of(res->status),
                       .started_at = rc->started_at, .finished_at = now,
                       .worker = rc->env->worker, .message = res->message,
                       .error = res->status == JOB_FAILED ? res->message : "", .log = log,
                       .stats = res->stats, .manual = job->manual};
    char where[1200];
    st_error e;
    if (state_spool_write(&rc->env->cfg->state_url, &o, where, sizeof where, &e) == ST_OK)
        log_warn(job->pipeline, job->strategy, "outcome of run %" PRId64 " kept in %s; the "
                 "next synctool command on this host records it", job->run_id, where);
    else
        log_error(job->pipeline, job->strategy, "outcome of run %" PRId64 " not kept: %s",
                  job->run_id, e.msg);
}

/* Records the outcome, retried within the pipeline's lease while the state
 * store is unreachable. */
static int sched_record(run_ctx *rc, const job_result *res, st_error *err) {
    const queue_job *job = rc->job;
    char *log = log_capture_end();
    sched_finish f = {.rc = rc, .res = res, .log = log, .now = sched_job_now(job)};
    int64_t lease_s = rc->p != NULL && rc->p->locks.lease_ttl_seconds > 0
                          ? rc->p->locks.lease_ttl_seconds : 30;
    int r = sched_retry_store(sched_record_once, &f, lease_s * 1000, job->pipeline,
                              job->strategy, err);
    if (r == ST_EUNAVAIL) sched_spool(rc, res, log, f.now);
    free(log);
    if (r == ST_ESTALE) {
        log_warn(job->pipeline, job->strategy, "result of run %" PRId64 " not recorded: %s",
                 job->run_id, err ? err->msg : "stale");
        return ST_OK;
    }
    return r;
}

/* Logs and records an executed run while its locks are still held (see
 * job_callbacks.on_finished); an abandoned duplicate records nothing. */
static void sched_on_finished(void *ud, const job_exec_ctx *ctx, const job_result *res) {
    run_ctx *rc = ud;
    (void)ctx;
    if (rc->abandoned) return;
    sched_log_result(rc->job, res);
    rc->record_rc = sched_record(rc, res, &rc->record_err);
    rc->recorded = true;
}

/* The job manager options for this delivery: a redelivered job whose run is
 * still marked running waits for the dead worker's pipeline lease to lapse
 * instead of skipping on it. */
static void sched_job_opts(job_opts *opts, const config_pipeline *p, const queue_job *job,
                           const state_record *rec) {
    job_opts_from_config(opts, p, job->strategy);
    if (rec != NULL && rec->status == STATE_RUNNING && rec->run_id == job->run_id) {
        int64_t lease_s = p->locks.lease_ttl_seconds > 0 ? p->locks.lease_ttl_seconds : 30;
        opts->wait_pipeline_lock = true;
        opts->pipeline_lock_timeout_s = lease_s + 5;
    }
    if (p->locks.lease_ttl_seconds > 0) opts->lease_ttl_ms = p->locks.lease_ttl_seconds * 1000;
}

/* A skip because another delivery of this very run holds the pipeline lock
 * (or already ran it) is not this run's result: it must not overwrite what
 * that delivery records.
 *
 * Every hold a delivery takes is tagged with its run id (lock owner
 * "run-<id>.<random>", sched_owner_tag), so the pipeline lock's holder says
 * whose it is: no waiting on state. The lock is looked at first, the state
 * second: a twin records its outcome before it releases its locks, so a
 * twin that let go between our failed acquisition and this look has left
 * its outcome in the state. */
static void sched_owner_tag(char *buf, size_t n, int64_t run_id) {
    snprintf(buf, n, "run-%" PRId64, run_id);
}

static bool sched_is_other_delivery(const state_record *rec, const queue_job *job) {
    return rec->run_id == job->run_id && rec->status != STATE_PENDING &&
           rec->status != STATE_SKIPPED && rec->status != STATE_IDLE;
}

/* Whether the pipeline lock is held by another delivery of this run. */
static bool sched_twin_holds_lock(const run_ctx *rc) {
    if (rc->env->lm == NULL) return false;
    char key[320], tag[LOCK_OWNER_TAG_MAX + 1];
    lock_key_pipeline(key, sizeof key, rc->job->pipeline);
    sched_owner_tag(tag, sizeof tag, rc->job->run_id);
    lock_info *held = NULL;
    size_t n = 0;
    bool twin = false;
    if (lock_list(rc->env->lm, &held, &n, NULL) == ST_OK)
        for (size_t i = 0; i < n && !twin; i++)
            twin = strcmp(held[i].key, key) == 0 && lock_owner_tagged(held[i].owner, tag);
    free(held);
    return twin;
}

static bool sched_duplicate_skip(const run_ctx *rc, const job_result *res) {
    if (res->status != JOB_SKIPPED) return false;
    bool pipeline_busy = strcmp(res->reason_code, "pipeline_lock_unavailable") == 0;
    const char *what = NULL;
    state_record rec;
    if (pipeline_busy && sched_twin_holds_lock(rc)) what = "holding the pipeline lock";
    else if (state_get(rc->env->st, rc->job->pipeline, rc->job->strategy, &rec, NULL) ==
                 ST_OK && sched_is_other_delivery(&rec, rc->job))
        what = state_status_name(rec.status);
    if (what == NULL) return false;
    log_info(rc->job->pipeline, rc->job->strategy, "Run %" PRId64 " not recorded: another "
             "delivery of it is %s", rc->job->run_id, what);
    return true;
}

/* The run itself; sched_run_job() wraps it in a log capture, so the lines
 * logged for this run are kept with its history entry (sched_record). */
static int sched_run_job_captured(const sched_job_env *env, const queue_job *job,
                                  sched_job_outcome *outcome, job_result *res, st_error *err);

int sched_run_job(const sched_job_env *env, const queue_job *job, sched_job_outcome *outcome,
                  job_result *res, st_error *err) {
    log_capture_begin(job->pipeline, job->strategy);
    int rc = sched_run_job_captured(env, job, outcome, res, err);
    free(log_capture_end()); /* what a dropped run logged, or nothing */
    return rc;
}

static int sched_run_job_captured(const sched_job_env *env, const queue_job *job,
                                  sched_job_outcome *outcome, job_result *res, st_error *err) {
    memset(res, 0, sizeof *res);
    run_ctx rc = {.env = env, .job = job, .started_at = sched_job_now(job)};
    rc.p = config_pipeline_find(env->cfg, job->pipeline);
    state_record rec;
    int r = state_get(env->st, job->pipeline, job->strategy, &rec, err);
    if (r != ST_OK && r != ST_ENOTFOUND) return r;
    char why[160];
    if (r == ST_OK && sched_job_stale(&rec, job, why, sizeof why)) {
        log_info(job->pipeline, job->strategy, "Run %" PRId64 " not run: %s", job->run_id, why);
        sched_release_enqueue(&rc);
        *outcome = SCHED_JOB_DROPPED;
        return ST_OK;
    }
    *outcome = SCHED_JOB_RAN;
    if (rc.p == NULL) {
        sched_release_enqueue(&rc);
        res->status = JOB_FAILED;
        snprintf(res->reason_code, sizeof res->reason_code, "pipeline_not_found");
        if (env->config_problem != NULL && env->config_problem[0] != '\0')
            snprintf(res->message, sizeof res->message, "Pipeline '%s' not found in config "
                     "(%s reloaded its config without it: %s)", job->pipeline, env->worker,
                     env->config_problem);
        else
            snprintf(res->message, sizeof res->message, "Pipeline '%s' not found in config",
                     job->pipeline);
    } else {
        job_opts opts;
        sched_job_opts(&opts, rc.p, job, r == ST_OK ? &rec : NULL);
        opts.interrupt = env->interrupt;
        job_callbacks cb = {sched_on_locks_acquired, sched_on_skip, &rc, sched_on_finished};
        char tag[LOCK_OWNER_TAG_MAX + 1];
        sched_owner_tag(tag, sizeof tag, job->run_id);
        if (env->lm) lock_set_owner_tag(env->lm, tag, NULL);
        job_run(env->cfg, rc.p, &opts, env->lm, &cb, sched_exec_sync, &rc, res);
        if (env->lm) lock_set_owner_tag(env->lm, NULL, NULL);
        sched_release_enqueue(&rc);
        if (rc.abandoned || sched_duplicate_skip(&rc, res)) {
            *outcome = SCHED_JOB_DROPPED;
            return ST_OK;
        }
        if (rc.recorded) {
            if (rc.record_rc != ST_OK && err) *err = rc.record_err;
            return rc.record_rc;
        }
    }
    sched_log_result(job, res);
    return sched_record(&rc, res, err);
}

static void sched_release_job_lock(lock_manager *lm, const queue_job *job) {
    if (lm == NULL || job->enqueue_key[0] == '\0') return;
    lock_handle h;
    memset(&h, 0, sizeof h);
    snprintf(h.key, sizeof h.key, "%s", job->enqueue_key);
    snprintf(h.owner, sizeof h.owner, "%s", job->enqueue_owner);
    h.fence = job->enqueue_fence;
    h.mode = LOCK_EXCLUSIVE;
    lock_release(lm, &h, NULL); /* ST_ESTALE: expired or taken over; nothing to do */
}

int sched_record_unstarted(state *st, lock_manager *lm, const queue_job *job,
                           state_status status, bool only_pending, int64_t now,
                           const char *worker, const char *cause, st_error *err) {
    if (only_pending) {
        state_record rec;
        int r = state_get(st, job->pipeline, job->strategy, &rec, err);
        if (r == ST_ENOTFOUND) return ST_OK;
        if (r != ST_OK) return r;
        if (rec.run_id != job->run_id || rec.status != STATE_PENDING) return ST_OK;
    }
    sched_release_job_lock(lm, job);
    log_capture_begin(job->pipeline, job->strategy);
    log_error(job->pipeline, job->strategy, "run %" PRId64 ": %s", job->run_id, cause);
    char *lines = log_capture_end();
    state_stats none = {0};
    int r = state_mark_finished_log(st, job->pipeline, job->strategy, job->run_id, status, now,
                                    now, worker, cause, cause, &none, lines, err);
    free(lines);
    return r;
}

int sched_job_exit_code(const job_result *res, int signo) {
    if (res->status == JOB_INTERRUPTED) return 128 + (signo > 0 ? signo : SIGTERM);
    return res->status == JOB_SUCCESS ? 0 : res->status == JOB_SKIPPED ? 75 : 1;
}
