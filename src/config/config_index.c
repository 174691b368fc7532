/*
 * config_index — pipelines found by name, and by destination table, in
 * constant time.
 *
 * A config of 10,000 pipelines was loaded in ~3 s, 70 % of it in strcmp:
 * each pipeline file compared its name and its destination with every
 * pipeline before it (duplicate names, two pipelines writing one table),
 * and every lookup by name (config_pipeline_find: `status`, the API, the
 * tick) walked the array. Issue 25 asks `status`, `/pipelines` and the
 * dashboard to answer within 200 ms at that size.
 *
 * One small open-addressing hash (FNV-1a, linear probing, grown at half
 * full) maps a text key to the index of the first pipeline that had it:
 *   - the loader keeps two while it reads the files (names; destinations
 *     as "datastore\037schema\037table"), so each check is one probe and
 *     the first holder is the one a problem names, as before;
 *   - the loaded config keeps one by name (cfg->index), built once at the
 *     end of a load (after config_load_valid dropped the invalid files).
 * The index also keeps each strategy's compiled cron
 * (config_strategy_cron), compiled at its first use and shared by every
 * view of that config: the server built 10,000 views per /pipelines
 * request, each compiling its crons again.
 * An index holds positions, not pointers, and remembers the array it was
 * built over: config_pipeline_find falls back to the walk for a config
 * assembled by hand (tests) or changed after its load, and checks the name
 * it found, so a stale index can only cost time, never a wrong answer.
 */
#include "config_int.h"

#include "../cron/cron.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config_index {
    config_map names;
    const config_pipeline *built_over;   /* cfg->pipelines when built */
    size_t npipelines;
    /* Compiled crons (config_strategy_cron): pipeline i's strategies at
     * uses[first[i] ..], each the position of its (cron, timezone) among
     * the distinct ones, whose crons[] entry is NULL until compiled and
     * CRON_INVALID for none or an invalid one. Set once, by compare-and-
     * swap; strategies with the same schedule share one (immutable) cron. */
    size_t *first, nstrategies;
    size_t *uses;
    cron_expr **crons;
    size_t ncrons;
};

static char cron_invalid_mark;   /* never read: its address marks "none" */
#define CRON_INVALID ((cron_expr *)(void *)&cron_invalid_mark)

static uint64_t map_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static config_map_slot *map_slot(const config_map *m, const char *key) {
    size_t i = (size_t)map_hash(key) & (m->cap - 1);
    while (m->slots[i].key != NULL && strcmp(m->slots[i].key, key) != 0)
        i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

static bool map_grow(config_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    config_map_slot *old = m->slots;
    size_t ocap = m->cap;
    if ((m->slots = calloc(cap, sizeof *m->slots)) == NULL) {
        m->slots = old;
        return false;
    }
    m->cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key != NULL) *map_slot(m, old[i].key) = old[i];
    free(old);
    return true;
}

bool config_map_find(const config_map *m, const char *key, size_t *value) {
    if (m == NULL || m->cap == 0 || key == NULL) return false;
    const config_map_slot *s = map_slot(m, key);
    if (s->key == NULL) return false;
    *value = s->value;
    return true;
}

bool config_map_put_first(config_map *m, const char *key, size_t value) {
    if (key == NULL) return true;
    if ((m->n + 1) * 2 > m->cap && !map_grow(m)) return false;
    config_map_slot *s = map_slot(m, key);
    if (s->key != NULL) return true;     /* the first holder stays */
    if ((s->key = strdup(key)) == NULL) return false;
    s->value = value;
    m->n++;
    return true;
}

void config_map_clear(config_map *m) {
    for (size_t i = 0; m->slots != NULL && i < m->cap; i++) free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void config_dest_key(const config_endpoint *d, char *buf, size_t n) {
    snprintf(buf, n, "%s\037%s\037%s", d->datastore, d->schema, d->table);
}

/* The distinct (cron, timezone) pairs and each strategy's position among
 * them; false when out of memory. */
static bool index_crons(config_index *x, const config *cfg) {
    x->first = calloc(cfg->npipelines + 1, sizeof *x->first);
    for (size_t i = 0; x->first != NULL && i < cfg->npipelines; i++)
        x->first[i + 1] = x->first[i] + cfg->pipelines[i].nstrategies;
    x->nstrategies = x->first ? x->first[cfg->npipelines] : 0;
    x->uses = x->first ? calloc(x->nstrategies + 1, sizeof *x->uses) : NULL;
    x->crons = x->uses ? calloc(x->nstrategies + 1, sizeof *x->crons) : NULL;
    config_map seen = {0};
    bool ok = x->crons != NULL;
    for (size_t i = 0, k = 0; ok && i < cfg->npipelines; i++) {
        for (size_t j = 0; ok && j < cfg->pipelines[i].nstrategies; j++, k++) {
            const config_strategy *s = &cfg->pipelines[i].strategies[j];
            char key[512];
            snprintf(key, sizeof key, "%s\037%s", s->cron ? s->cron : "",
                     s->timezone ? s->timezone : "\001");
            size_t at;
            if (!config_map_find(&seen, key, &at)) {
                at = x->ncrons++;
                ok = config_map_put_first(&seen, key, at);
            }
            x->uses[k] = at;
        }
    }
    config_map_clear(&seen);
    return ok;
}

bool config_index_build(config *cfg) {
    config_index_free(cfg->index);
    cfg->index = NULL;
    config_index *x = calloc(1, sizeof *x);
    if (x == NULL) return false;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        if (!config_map_put_first(&x->names, cfg->pipelines[i].name, i)) {
            config_index_free(x);
            return false;
        }
    }
    if (!index_crons(x, cfg)) {
        config_index_free(x);
        return false;
    }
    x->built_over = cfg->pipelines;
    x->npipelines = cfg->npipelines;
    cfg->index = x;
    return true;
}

void config_index_free(config_index *x) {
    if (x == NULL) return;
    config_map_clear(&x->names);
    for (size_t i = 0; x->crons != NULL && i < x->ncrons; i++)
        if (x->crons[i] != CRON_INVALID) cron_free(x->crons[i]);
    free(x->crons);
    free(x->uses);
    free(x->first);
    free(x);
}

/* Compiled at the first call; two threads racing both compile, one keeps
 * its result and the other frees its own. */
const cron_expr *config_strategy_cron(const config *cfg, const config_pipeline *p, size_t i) {
    const config_index *x = cfg ? cfg->index : NULL;
    if (x == NULL || x->built_over != cfg->pipelines || x->npipelines != cfg->npipelines ||
        p < cfg->pipelines || p >= cfg->pipelines + cfg->npipelines || i >= p->nstrategies)
        return NULL;
    cron_expr **slot = &x->crons[x->uses[x->first[p - cfg->pipelines] + i]];
    cron_expr *c = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (c == NULL) {
        const config_strategy *s = &p->strategies[i];
        cron_expr *mine = NULL;
        if (!s->cron || !s->cron[0] || cron_parse(&mine, s->cron, s->timezone, NULL) != ST_OK)
            mine = CRON_INVALID;
        if (__atomic_compare_exchange_n(slot, &c, mine, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            c = mine;
        else if (mine != CRON_INVALID)
            cron_free(mine);
    }
    if (c == CRON_INVALID) return NULL;
    /* a strategy changed by hand after the load (tests) is not this cron */
    const config_strategy *s = &p->strategies[i];
    const char *zone = s->timezone ? s->timezone : "UTC";
    if (!s->cron || strcmp(cron_text(c), s->cron) != 0 || strcmp(cron_zone(c), zone) != 0)
        return NULL;
    return c;
}

const config_pipeline *config_index_find(const config *cfg, const char *name, bool *usable) {
    const config_index *x = cfg->index;
    size_t i;
    *usable = x != NULL && x->built_over == cfg->pipelines && x->npipelines == cfg->npipelines;
    if (!*usable || !config_map_find(&x->names, name, &i)) return NULL;
    const config_pipeline *p = &cfg->pipelines[i];
    if (p->name != NULL && strcmp(p->name, name) == 0) return p;
    *usable = false;
    return NULL;
}
