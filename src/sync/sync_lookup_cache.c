/*
 * sync_lookup_cache — the LRU cache of lookup answers (see the header).
 *
 * An entry is one malloc: the struct, the value pointers, then the key and
 * the values' bytes. Buckets are a power of two at least twice the cap
 * (at most 2^20 for a large cap; chains then grow, still short); the
 * recency list has the newest entry at `head`, the eviction candidate at
 * `tail`.
 */
#include "sync_lookup_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct lc_entry {
    struct lc_entry *chain;        /* next in the bucket */
    struct lc_entry *prev, *next;  /* recency list */
    uint64_t hash;
    int64_t at;                    /* when it was put */
    bool found;                    /* false: the key has no row */
    const char *key;
    const char *v[];               /* nvals values */
} lc_entry;

struct sync_lookup_cache {
    size_t cap, nvals, n;
    int64_t ttl;
    lc_entry **buckets;
    size_t nbuckets;               /* a power of two */
    lc_entry *head, *tail;
    sync_lookup_cache_stats stats;
};

static uint64_t lc_hash(const char *s) {   /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

sync_lookup_cache *sync_lookup_cache_new(size_t cap, int64_t ttl_us, size_t nvals) {
    sync_lookup_cache *lc = calloc(1, sizeof *lc);
    if (lc == NULL) return NULL;
    lc->cap = cap;
    lc->ttl = ttl_us;
    lc->nvals = nvals;
    size_t want = cap > ((size_t)1 << 19) ? ((size_t)1 << 20) : cap * 2;
    lc->nbuckets = 16;
    while (lc->nbuckets < want) lc->nbuckets *= 2;
    lc->buckets = calloc(lc->nbuckets, sizeof *lc->buckets);
    if (lc->buckets == NULL) {
        free(lc);
        return NULL;
    }
    return lc;
}

void sync_lookup_cache_free(sync_lookup_cache *lc) {
    if (lc == NULL) return;
    for (lc_entry *e = lc->head, *nx; e != NULL; e = nx) {
        nx = e->next;
        free(e);
    }
    free(lc->buckets);
    free(lc);
}

static lc_entry **lc_slot(sync_lookup_cache *lc, const char *key, uint64_t h) {
    lc_entry **p = &lc->buckets[h & (lc->nbuckets - 1)];
    while (*p != NULL && ((*p)->hash != h || strcmp((*p)->key, key) != 0)) p = &(*p)->chain;
    return p;
}

static void lc_unlink(sync_lookup_cache *lc, lc_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else lc->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else lc->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lc_push_front(sync_lookup_cache *lc, lc_entry *e) {
    e->prev = NULL;
    e->next = lc->head;
    if (lc->head) lc->head->prev = e;
    lc->head = e;
    if (lc->tail == NULL) lc->tail = e;
}

/* Removes the entry *slot points at. */
static void lc_remove(sync_lookup_cache *lc, lc_entry **slot) {
    lc_entry *e = *slot;
    *slot = e->chain;
    lc_unlink(lc, e);
    free(e);
    lc->n--;
}

int sync_lookup_cache_get(sync_lookup_cache *lc, const char *key, int64_t now,
                          const char *const **vals) {
    uint64_t h = lc_hash(key);
    lc_entry **slot = lc_slot(lc, key, h);
    if (*slot != NULL && lc->ttl > 0 && now - (*slot)->at >= lc->ttl) {
        lc_remove(lc, slot);
        lc->stats.expired++;
    }
    if (*slot == NULL) {
        lc->stats.misses++;
        return 0;
    }
    lc_entry *e = *slot;
    lc_unlink(lc, e);
    lc_push_front(lc, e);
    lc->stats.hits++;
    *vals = e->found ? e->v : NULL;
    return 1;
}

static lc_entry *lc_entry_new(const sync_lookup_cache *lc, const char *key,
                              const char *const *vals) {
    size_t bytes = sizeof(lc_entry) + lc->nvals * sizeof(char *) + strlen(key) + 1;
    for (size_t i = 0; vals != NULL && i < lc->nvals; i++)
        bytes += vals[i] ? strlen(vals[i]) + 1 : 0;
    lc_entry *e = malloc(bytes);
    if (e == NULL) return NULL;
    memset(e, 0, sizeof *e);
    char *p = (char *)&e->v[lc->nvals];
    size_t kl = strlen(key) + 1;
    memcpy(p, key, kl);
    e->key = p;
    p += kl;
    e->found = vals != NULL;
    for (size_t i = 0; i < lc->nvals; i++) {
        e->v[i] = NULL;
        if (vals == NULL || vals[i] == NULL) continue;
        size_t l = strlen(vals[i]) + 1;
        memcpy(p, vals[i], l);
        e->v[i] = p;
        p += l;
    }
    return e;
}

int sync_lookup_cache_put(sync_lookup_cache *lc, const char *key, const char *const *vals,
                          int64_t now) {
    if (lc->cap == 0) return 0;
    lc_entry *e = lc_entry_new(lc, key, vals);
    if (e == NULL) return -1;
    e->hash = lc_hash(key);
    e->at = now;
    lc_entry **slot = lc_slot(lc, key, e->hash);
    if (*slot != NULL) lc_remove(lc, slot);
    slot = lc_slot(lc, key, e->hash);   /* the chain's end */
    *slot = e;
    lc_push_front(lc, e);
    lc->n++;
    while (lc->n > lc->cap) {
        lc_entry *old = lc->tail;
        lc_remove(lc, lc_slot(lc, old->key, old->hash));
        lc->stats.evictions++;
    }
    return 0;
}

size_t sync_lookup_cache_size(const sync_lookup_cache *lc) { return lc->n; }

sync_lookup_cache_stats sync_lookup_cache_stats_of(const sync_lookup_cache *lc) {
    return lc->stats;
}
