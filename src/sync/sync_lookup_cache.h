/*
 * sync_lookup_cache — the in-process LRU cache of a lookup's answers
 * (sync_lookup.c), one per lookup of a run.
 *
 * Maps a join key (canonical text) to the lookup columns' values found for
 * it (canonical text or NULL each), or to "no row" (a miss is cached too:
 * a key without a match is not asked again while its entry lives). At most
 * `cap` entries: putting one more evicts the least recently used (a get
 * counts as a use). An entry older than `ttl_us` (put at `now`, read at
 * `now + ttl_us` or later) is gone: the key is asked again. Time is a
 * parameter: the caller passes its clock (monotonic microseconds), so the
 * rules are tested at any instant. cap 0: nothing is kept; ttl 0: entries
 * never expire (a batch's own map, sync_lookup.c).
 *
 * Values returned by get stay valid until the next put or free on the
 * same cache (a put may evict them). Hash table with chaining plus a
 * doubly linked recency list: O(1) get and put.
 */
#ifndef ST_SYNC_LOOKUP_CACHE_H
#define ST_SYNC_LOOKUP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sync_lookup_cache sync_lookup_cache;

typedef struct sync_lookup_cache_stats {
    int64_t hits, misses, evictions, expired;
} sync_lookup_cache_stats;

/* A cache of at most `cap` entries of `nvals` values each; NULL on ENOMEM. */
sync_lookup_cache *sync_lookup_cache_new(size_t cap, int64_t ttl_us, size_t nvals);
void sync_lookup_cache_free(sync_lookup_cache *lc);
/* 1 and *vals (NULL: the key is known to have no row) when `key` has a live
 * entry, else 0. Counts a hit or a miss. */
int sync_lookup_cache_get(sync_lookup_cache *lc, const char *key, int64_t now,
                          const char *const **vals);
/* Keeps vals (nvals values, copied; NULL: no row) for key, replacing an
 * entry it had. Returns 0, or -1 on ENOMEM (the cache is unchanged). */
int sync_lookup_cache_put(sync_lookup_cache *lc, const char *key, const char *const *vals,
                          int64_t now);
size_t sync_lookup_cache_size(const sync_lookup_cache *lc);
sync_lookup_cache_stats sync_lookup_cache_stats_of(const sync_lookup_cache *lc);

#endif
