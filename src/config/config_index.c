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
 * An index holds positions, not pointers, and remembers the array it was
 * built over: config_pipeline_find falls back to the walk for a config
 * assembled by hand (tests) or changed after its load, and checks the name
 * it found, so a stale index can only cost time, never a wrong answer.
 */
#include "config_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config_index {
    config_map names;
    const config_pipeline *built_over;   /* cfg->pipelines when built */
    size_t npipelines;
};

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
    x->built_over = cfg->pipelines;
    x->npipelines = cfg->npipelines;
    cfg->index = x;
    return true;
}

void config_index_free(config_index *x) {
    if (x == NULL) return;
    config_map_clear(&x->names);
    free(x);
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
