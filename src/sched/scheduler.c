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
 * Recovery: records that say running are handed to run_recover_records()
 * (src/run/), which records `lost` those whose pipeline lock nobody holds;
 * their slots are then refreshed, so the decision sees `lost` (failed for
 * the §3 rules). The hand-off itself (run id, pending) is run_enqueue().
 *
 * Running a job taken from the queue is not here: that is run_job(), the
 * one run lifecycle (src/run/run.h), shared by `run`, the scheduler's job
 * processes, the worker and the HTTP trigger.
 *
 * Not here: processes, signals, the leader lease (src/proc/). Nothing here
 * reads the clock.
 */
#include "sched.h"

#include "../log/log.h"
#include "../run/run.h"
#include "../why/why.h"
#include "../time/st_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Runs still marked running whose pipeline lock nobody holds are recorded
 * lost (run_recover_records); their slots then hold the record as it is. */
static void sched_recover(tick_ctx *c) {
    if (c->nrunning == 0 || c->lm == NULL) return;
    size_t recovered = 0, failed = 0;
    st_error e;
    if (run_recover_records(c->st, c->lm, c->running, c->nrunning, NULL, 0, c->o->now,
                            &recovered, &failed, &e) != ST_OK) {
        log_warn(NULL, NULL, "cannot list locks, lost runs not checked: %s", e.msg);
        return;
    }
    c->stats->recovered += recovered;
    c->stats->errors += failed;
    for (size_t i = 0; i < c->nrunning; i++)
        if (c->running_slot[i] >= 0 && c->running[i].status != STATE_RUNNING)
            sched_record_to_slot(&c->running[i], &c->slots[c->running_slot[i]]);
}

/* Pending + push once the enqueue lock is ours. Returns 0 or an error. */
static int sched_handoff(tick_ctx *c, const config_pipeline *p, const config_strategy *s,
                         const lock_handle *h, int64_t *run_id, st_error *e) {
    queue_job job;
    int rc = run_enqueue(c->st, p->name, s->name, c->o->now, c->o->fixed_time ? c->o->now : 0,
                         h, &job, e);
    *run_id = job.run_id;
    return rc == ST_OK ? queue_push(c->q, &job, e) : rc;
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
