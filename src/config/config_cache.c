/*
 * config_cache — the parsed pipelines kept between commands, so `status`
 * with 10,000 pipeline files does not read and parse 10,000 YAML files at
 * each invocation (issue 25 item 5).
 *
 * <dir>/.synctool/config.cache (0600, written to a temporary name and
 * renamed) holds: a header (magic, format version, the sizes of the
 * structs it mirrors, the body's length and hash: a torn or foreign
 * file is a miss), the config directory, the *signature* of every config
 * file (datastores.yaml and each pipelines/ entry the loader reads: name,
 * size, mtime and ctime in ns, inode, device, regular or not), the
 * *fingerprint* of the datastores as the pipelines' parse reads them
 * (name, type, a MySQL dbname: the default schema), then every pipeline's
 * members.
 *
 * A hit needs the same directory listing with the same signatures and
 * the same fingerprint. datastores.yaml is always parsed (it is small, and
 * it holds the secrets, which never go into the cache), then the cached
 * pipelines are attached. Anything else is a miss: config_load_valid, as
 * without a cache.
 *
 * Never stale: the signature includes the ctime, which only the kernel
 * sets (to its clock, at every write, rename or touch; `touch -d` moves
 * mtime, not ctime). A cache is written only when (1) the load found no
 * problem, (2) no pipeline file uses ${VAR} and no schema came from one
 * (their value depends on the environment; a secret never goes to disk),
 * (3) every file's signature was the same before and after the files
 * were read, and (4) every file's ctime is strictly older than the ctime
 * of the cache's temporary file, created *before* the files were read
 * (2 s older when they are on another filesystem, whose clock granularity
 * may be coarser). (4) is git's "racily clean" rule: a file changed in
 * the same clock tick as our read could have kept its signature; a file
 * changed after our read has a ctime at or after that tick, so a
 * signature that matches later is the content we parsed.
 *
 * SYNCTOOL_CONFIG_CACHE=0 turns it off (a plain config_load_valid).
 */
#include "config_int.h"

#include "../strbuf/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "STCFGC\001\n"
#define CACHE_VERSION 4u /* 4: an unset batch_size is 0 (the driver's default), no longer 10,000 */
#define CACHE_MAX (1u << 30)
#define OTHER_FS_MARGIN_NS 2000000000LL

/* The cache mirrors these structs member by member (put_pipeline and
 * get_pipeline): a struct that grows must be taught here too, which this
 * makes a compile error on the 64-bit targets we build for. */
#if defined(__LP64__)
_Static_assert(sizeof(config_pipeline) == 272, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_strategy) == 104, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_column) == 56, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_lookup) == 104, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_endpoint) == 48, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_locks) == 40, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_retry) == 32, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_freshness) == 16, "config_cache.c: cache the new member");
_Static_assert(sizeof(config_aggregate) == 24, "config_cache.c: cache the new member");
#endif

/* --- file signatures --- */

typedef struct cache_sig {
    char *rel;                 /* "datastores.yaml", "pipelines/x.yaml" */
    int64_t size, mtime_ns, ctime_ns, ino, dev;
    int64_t regular;
} cache_sig;

typedef struct cache_sigs {
    cache_sig *v;
    size_t n;
} cache_sigs;

static void sigs_free(cache_sigs *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i].rel);
    free(s->v);
    *s = (cache_sigs){0};
}

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }

/* Adds the signature of `name` in directory dfd, recorded as `rel`. */
static bool sig_add(cache_sigs *s, int dfd, const char *name, const char *rel) {
    struct stat st;
    cache_sig g = {0};
    if (fstatat(dfd, name, &st, 0) == 0) {
        g = (cache_sig){NULL, st.st_size, ts_ns(st.st_mtim), ts_ns(st.st_ctim),
                        (int64_t)st.st_ino, (int64_t)st.st_dev, S_ISREG(st.st_mode)};
    } else {
        g.size = -1;   /* vanished between listing and stat: recorded as such */
    }
    if (s->n % 256 == 0) {
        cache_sig *v = realloc(s->v, (s->n + 256) * sizeof *v);
        if (v == NULL) return false;
        s->v = v;
    }
    if ((g.rel = strdup(rel)) == NULL) return false;
    s->v[s->n++] = g;
    return true;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The signature of every file config_load reads, in its order. */
static bool sigs_scan(cache_sigs *s, const char *dir) {
    *s = (cache_sigs){0};
    int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) return false;
    bool ok = sig_add(s, top, "datastores.yaml", "datastores.yaml");
    int pfd = openat(top, "pipelines", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(top);
    if (pfd < 0) return ok && errno == ENOENT;
    DIR *d = fdopendir(pfd);
    if (d == NULL) {
        close(pfd);
        return false;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; ok && (e = readdir(d)) != NULL;) {
        if (!config_is_pipeline_file(e->d_name)) continue;
        if (n % 256 == 0) {
            char **nn = realloc(names, (n + 256) * sizeof *nn);
            if (nn) names = nn;
            else ok = false;
        }
        ok = ok && (names[n] = strdup(e->d_name)) != NULL;
        if (ok) n++;
    }
    if (n > 1) qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "pipelines/%s", names[i]);
        ok = ok && sig_add(s, dirfd(d), names[i], rel);
        free(names[i]);
    }
    free(names);
    closedir(d);
    return ok;
}

static bool sig_eq(const cache_sig *a, const cache_sig *b) {
    return strcmp(a->rel, b->rel) == 0 && a->size == b->size && a->mtime_ns == b->mtime_ns &&
           a->ctime_ns == b->ctime_ns && a->ino == b->ino && a->dev == b->dev &&
           a->regular == b->regular;
}

static bool sigs_eq(const cache_sigs *a, const cache_sigs *b) {
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (!sig_eq(&a->v[i], &b->v[i])) return false;
    return true;
}

/* Rule (4): every file changed strictly before `mark` (the temporary
 * file's ctime and device). */
static bool sigs_settled(const cache_sigs *s, int64_t mark_ns, int64_t mark_dev) {
    for (size_t i = 0; i < s->n; i++) {
        int64_t limit = s->v[i].dev == mark_dev ? mark_ns : mark_ns - OTHER_FS_MARGIN_NS;
        if (s->v[i].size < 0 || s->v[i].ctime_ns >= limit) return false;
    }
    return true;
}

/* --- the datastores as the pipelines' parse reads them --- */

static void fingerprint(const config *cfg, strbuf *b) {
    for (size_t i = 0; i < cfg->ndatastores; i++) {
        const config_datastore *d = &cfg->datastores[i];
        bool secret = false;
        for (size_t k = 0; d->dbname && k < d->nsecrets; k++)
            secret = secret || strcmp(d->secrets[k], d->dbname) == 0;
        char line[512];
        int n = snprintf(line, sizeof line, "%s\t%d\t%s\n", d->name, (int)d->type,
                         d->type != CONFIG_DS_MYSQL || d->dbname == NULL ? ""
                         : secret                                         ? "\001secret"
                                                                          : d->dbname);
        strbuf_put(b, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
    }
    strbuf_put(b, "", 1);
}

/* --- writing --- */

/* Integers as zigzag LEB128 varints (most are small: flags, counts,
 * positions): the cache of 10,000 pipelines is a third of its size with
 * 8-byte integers, and reading it is most of a hit. */
static void put(strbuf *b, const void *p, size_t n) { strbuf_put(b, p, n); }

static void put_i(strbuf *b, int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char o[10];
    size_t n = 0;
    do {
        o[n] = (unsigned char)(u & 0x7f);
        u >>= 7;
        if (u) o[n] |= 0x80;
        n++;
    } while (u);
    put(b, o, n);
}

/* A string: its length + 1 (0 = NULL), then its bytes. */
static void put_s(strbuf *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    put_i(b, s ? (int64_t)n + 1 : 0);
    if (s) put(b, s, n);
}

static void put_endpoint(strbuf *b, const config_endpoint *e) {
    put_s(b, e->datastore);
    put_s(b, e->schema);
    put_s(b, e->table);
    put_s(b, e->query);
    put_s(b, e->where);
    put_i(b, e->schema_hidden);
}

static void put_column(strbuf *b, const config_column *c) {
    put_s(b, c->name);
    put_s(b, c->dest_name);
    put_s(b, c->type);
    put_s(b, c->expr);
    put_i(b, c->key);
    put_i(b, c->ignored);
    put_i(b, (int64_t)c->lookup);
    put_i(b, c->line);
    put_i(b, c->col);
}

static void put_lookup(strbuf *b, const config_lookup *l) {
    put_s(b, l->name);
    put_s(b, l->datastore);
    put_s(b, l->schema);
    put_s(b, l->table);
    put_s(b, l->key);
    put_s(b, l->lookup_key);
    put_i(b, (int64_t)l->first);
    put_i(b, (int64_t)l->ncolumns);
    put_i(b, l->required);
    put_i(b, l->cache_rows);
    put_i(b, l->cache_ttl_s);
    put_i(b, l->schema_hidden);
    put_i(b, l->line);
    put_i(b, l->col);
}

static void put_strategy(strbuf *b, const config_strategy *s) {
    put_s(b, s->name);
    put_i(b, s->type);
    put_s(b, s->cron);
    put_s(b, s->timezone);
    put_i(b, s->enabled);
    put_s(b, s->cursor);
    put_i(b, s->lookback_seconds);
    put_i(b, s->batch_size);
    put_i(b, s->segment_rows);
    put_i(b, s->parallel);
    put_i(b, s->max_slot_lag);
    put_i(b, s->continuous);
    put_i(b, s->line);
    put_i(b, s->col);
}

static void put_pipeline(strbuf *b, const config_pipeline *p) {
    put_s(b, p->name);
    put_s(b, p->description);
    put_s(b, p->file);
    put_i(b, p->line);
    put_i(b, p->col);
    put_endpoint(b, &p->source);
    put_endpoint(b, &p->destination);
    put_i(b, (int64_t)p->ncolumns);
    for (size_t i = 0; i < p->ncolumns; i++) put_column(b, &p->columns[i]);
    put_i(b, (int64_t)p->nlookups);
    for (size_t i = 0; i < p->nlookups; i++) put_lookup(b, &p->lookups[i]);
    put_i(b, (int64_t)p->nstrategies);
    for (size_t i = 0; i < p->nstrategies; i++) put_strategy(b, &p->strategies[i]);
    const config_locks *l = &p->locks;
    put_i(b, l->wait_for_pipeline_lock);
    put_i(b, l->pipeline_lock_wait_timeout);
    put_i(b, l->wait_for_table_lock);
    put_i(b, l->table_lock_wait_timeout);
    put_i(b, l->lease_ttl_seconds);
    const config_retry *r = &p->retry;
    put_i(b, r->max_retry_count);
    put_i(b, r->safe_fallback_window_minutes);
    put_i(b, r->schedule_buffer_seconds);
    put_i(b, r->pause_window_seconds);
    put_i(b, p->freshness.warn_after_s);
    put_i(b, p->freshness.error_after_s);
    put_i(b, p->aggregate != NULL);
    if (p->aggregate == NULL) return;
    put_i(b, (int64_t)p->aggregate->ngroup_by);
    for (size_t i = 0; i < p->aggregate->ngroup_by; i++) put_s(b, p->aggregate->group_by[i]);
    put_i(b, p->aggregate->line);
    put_i(b, p->aggregate->col);
}

/* A check of the body (FNV-1a over 8-byte words): a torn or altered file
 * is a miss, not a config. */
static uint64_t body_hash(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h ^ n;
}

/* The header's struct sizes: a build with another layout reads a miss. */
static void put_layout(strbuf *b) {
    put_i(b, CACHE_VERSION);
    put_i(b, (int64_t)(sizeof(config_pipeline) << 32 | sizeof(config_strategy) << 16 |
                       sizeof(config_column)));
    put_i(b, (int64_t)(sizeof(config_lookup) << 32 | sizeof(config_endpoint) << 16 |
                       sizeof(config_aggregate)));
}

/* The body: layout, directory, signatures, fingerprint, pipelines. */
static void put_body(strbuf *b, const config *cfg, const cache_sigs *sigs, const strbuf *fp) {
    put_layout(b);
    put_s(b, cfg->dir);
    put_i(b, (int64_t)sigs->n);
    for (size_t i = 0; i < sigs->n; i++) {
        const cache_sig *g = &sigs->v[i];
        put_s(b, g->rel);
        put_i(b, g->size);
        put_i(b, g->mtime_ns);
        put_i(b, g->ctime_ns);
        put_i(b, g->ino);
        put_i(b, g->dev);
        put_i(b, g->regular);
    }
    put_s(b, fp->s ? fp->s : "");
    put_i(b, (int64_t)cfg->npipelines);
    for (size_t i = 0; i < cfg->npipelines; i++) put_pipeline(b, &cfg->pipelines[i]);
}

static bool write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Writes header + body to fd; true when every byte went. */
static bool write_cache(int fd, const config *cfg, const cache_sigs *sigs, const strbuf *fp) {
    strbuf body = {0};
    put_body(&body, cfg, sigs, fp);
    bool ok = body.s != NULL && body.len < CACHE_MAX;
    if (ok) {
        uint64_t h = body_hash(body.s, body.len), len = body.len;
        char head[24];
        memcpy(head, CACHE_MAGIC, 8);
        memcpy(head + 8, &len, 8);
        memcpy(head + 16, &h, 8);
        ok = write_all(fd, head, sizeof head) && write_all(fd, body.s, body.len);
    }
    strbuf_release(&body);
    return ok;
}

/* --- reading --- */

typedef struct rd {
    const char *p, *end;
    bool bad;
} rd;

static int64_t get_i(rd *r) {
    uint64_t u = 0;
    for (int shift = 0; !r->bad && shift < 64; shift += 7) {
        if (r->p >= r->end) break;
        unsigned char c = (unsigned char)*r->p++;
        u |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    }
    r->bad = true;
    return 0;
}

/* A string (malloc'ed; NULL when it was NULL or on a problem). */
static char *get_s(rd *r) {
    int64_t n = get_i(r);
    if (r->bad || n <= 0) {
        if (n < 0) r->bad = true;
        return NULL;
    }
    if ((uint64_t)(r->end - r->p) < (uint64_t)n - 1) {
        r->bad = true;
        return NULL;
    }
    char *s = malloc((size_t)n);
    if (s == NULL) {
        r->bad = true;
        return NULL;
    }
    memcpy(s, r->p, (size_t)n - 1);
    s[n - 1] = '\0';
    r->p += n - 1;
    return s;
}

/* A count of items of `size` bytes each, allocated zeroed (NULL for 0). */
static void *get_array(rd *r, size_t *n, size_t size) {
    int64_t c = get_i(r);
    if (r->bad || c < 0 || (uint64_t)c > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        *n = 0;
        return NULL;
    }
    *n = (size_t)c;
    if (c == 0) return NULL;
    void *v = calloc((size_t)c, size);
    if (v == NULL) {
        r->bad = true;
        *n = 0;
    }
    return v;
}

static void get_endpoint(rd *r, config_endpoint *e) {
    e->datastore = get_s(r);
    e->schema = get_s(r);
    e->table = get_s(r);
    e->query = get_s(r);
    e->where = get_s(r);
    e->schema_hidden = get_i(r) != 0;
}

static void get_column(rd *r, config_column *c) {
    c->name = get_s(r);
    c->dest_name = get_s(r);
    c->type = get_s(r);
    c->expr = get_s(r);
    c->key = get_i(r) != 0;
    c->ignored = get_i(r) != 0;
    c->lookup = (size_t)get_i(r);
    c->line = (int)get_i(r);
    c->col = (int)get_i(r);
}

static void get_lookup(rd *r, config_lookup *l) {
    l->name = get_s(r);
    l->datastore = get_s(r);
    l->schema = get_s(r);
    l->table = get_s(r);
    l->key = get_s(r);
    l->lookup_key = get_s(r);
    l->first = (size_t)get_i(r);
    l->ncolumns = (size_t)get_i(r);
    l->required = get_i(r) != 0;
    l->cache_rows = get_i(r);
    l->cache_ttl_s = get_i(r);
    l->schema_hidden = get_i(r) != 0;
    l->line = (int)get_i(r);
    l->col = (int)get_i(r);
}

static void get_strategy(rd *r, config_strategy *s) {
    s->name = get_s(r);
    s->type = (config_strategy_type)get_i(r);
    s->cron = get_s(r);
    s->timezone = get_s(r);
    s->enabled = get_i(r) != 0;
    s->cursor = get_s(r);
    s->lookback_seconds = get_i(r);
    s->batch_size = get_i(r);
    s->segment_rows = get_i(r);
    s->parallel = get_i(r);
    s->max_slot_lag = get_i(r);
    s->continuous = get_i(r) != 0;
    s->line = (int)get_i(r);
    s->col = (int)get_i(r);
}

static void get_aggregate(rd *r, config_pipeline *p) {
    if (get_i(r) == 0 || r->bad) return;
    if ((p->aggregate = calloc(1, sizeof *p->aggregate)) == NULL) {
        r->bad = true;
        return;
    }
    config_aggregate *a = p->aggregate;
    a->group_by = get_array(r, &a->ngroup_by, sizeof *a->group_by);
    for (size_t i = 0; !r->bad && i < a->ngroup_by; i++) a->group_by[i] = get_s(r);
    a->line = (int)get_i(r);
    a->col = (int)get_i(r);
}

/* One pipeline; on a problem r->bad and p holds what was read (freeable). */
static void get_pipeline(rd *r, config_pipeline *p) {
    p->name = get_s(r);
    p->description = get_s(r);
    p->file = get_s(r);
    p->line = (int)get_i(r);
    p->col = (int)get_i(r);
    get_endpoint(r, &p->source);
    get_endpoint(r, &p->destination);
    p->columns = get_array(r, &p->ncolumns, sizeof *p->columns);
    for (size_t i = 0; !r->bad && i < p->ncolumns; i++) get_column(r, &p->columns[i]);
    p->lookups = get_array(r, &p->nlookups, sizeof *p->lookups);
    for (size_t i = 0; !r->bad && i < p->nlookups; i++) get_lookup(r, &p->lookups[i]);
    p->strategies = get_array(r, &p->nstrategies, sizeof *p->strategies);
    for (size_t i = 0; !r->bad && i < p->nstrategies; i++) get_strategy(r, &p->strategies[i]);
    config_locks *l = &p->locks;
    l->wait_for_pipeline_lock = get_i(r) != 0;
    l->pipeline_lock_wait_timeout = get_i(r);
    l->wait_for_table_lock = get_i(r) != 0;
    l->table_lock_wait_timeout = get_i(r);
    l->lease_ttl_seconds = get_i(r);
    config_retry *t = &p->retry;
    t->max_retry_count = get_i(r);
    t->safe_fallback_window_minutes = get_i(r);
    t->schedule_buffer_seconds = get_i(r);
    t->pause_window_seconds = get_i(r);
    p->freshness.warn_after_s = get_i(r);
    p->freshness.error_after_s = get_i(r);
    get_aggregate(r, p);
    if (!r->bad && p->name == NULL) r->bad = true;
}

/* The header: magic, length, hash; *body set past it. */
static bool check_header(const strbuf *b, rd *body) {
    uint64_t len, h;
    if (b->len < 24 || memcmp(b->s, CACHE_MAGIC, 8) != 0) return false;
    memcpy(&len, b->s + 8, 8);
    memcpy(&h, b->s + 16, 8);
    if (len != b->len - 24 || body_hash(b->s + 24, (size_t)len) != h) return false;
    *body = (rd){b->s + 24, b->s + b->len, false};
    return true;
}

/* Does the body up to its pipelines match layout, dir, sigs and fp? */
static bool check_key(rd *r, const char *dir, const cache_sigs *sigs, const strbuf *fp) {
    strbuf want = {0};
    put_layout(&want);
    bool ok = want.s && (size_t)(r->end - r->p) >= want.len && memcmp(r->p, want.s, want.len) == 0;
    if (ok) r->p += want.len;
    strbuf_release(&want);
    char *d = ok ? get_s(r) : NULL;
    ok = ok && d && strcmp(d, dir) == 0 && (size_t)get_i(r) == sigs->n;
    free(d);
    for (size_t i = 0; ok && i < sigs->n; i++) {
        cache_sig g = {get_s(r), 0, 0, 0, 0, 0, 0};
        g.size = get_i(r);
        g.mtime_ns = get_i(r);
        g.ctime_ns = get_i(r);
        g.ino = get_i(r);
        g.dev = get_i(r);
        g.regular = get_i(r);
        ok = !r->bad && g.rel && sig_eq(&g, &sigs->v[i]);
        free(g.rel);
    }
    char *f = ok ? get_s(r) : NULL;
    ok = ok && f && strcmp(f, fp->s ? fp->s : "") == 0;
    free(f);
    return ok && !r->bad;
}

/* Attaches the cached pipelines to cfg (datastores loaded); false on a
 * mismatch or a problem (cfg's pipelines then none). */
static bool attach(config *cfg, const strbuf *file, const cache_sigs *sigs) {
    rd r;
    strbuf fp = {0};
    fingerprint(cfg, &fp);
    bool ok = check_header(file, &r) && check_key(&r, cfg->dir, sigs, &fp);
    strbuf_release(&fp);
    if (!ok) return false;
    cfg->pipelines = get_array(&r, &cfg->npipelines, sizeof *cfg->pipelines);
    size_t got = 0;
    for (; !r.bad && got < cfg->npipelines; got++) get_pipeline(&r, &cfg->pipelines[got]);
    if (!r.bad && r.p == r.end && config_index_build(cfg)) return true;
    for (size_t i = 0; i < got; i++) config_free_pipeline(&cfg->pipelines[i]);
    free(cfg->pipelines);
    cfg->pipelines = NULL;
    cfg->npipelines = 0;
    return false;
}

/* --- the load --- */

/* Rule (2): nothing in the pipelines depends on the environment. */
static bool cacheable(const config *cfg) {
    for (size_t i = 0; i < cfg->nsources; i++)
        if (memmem(cfg->sources[i].text, cfg->sources[i].len, "${", 2) != NULL &&
            strcmp(cfg->sources[i].rel, "datastores.yaml") != 0)
            return false;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_pipeline *p = &cfg->pipelines[i];
        if (p->source.schema_hidden || p->destination.schema_hidden) return false;
        for (size_t k = 0; k < p->nlookups; k++)
            if (p->lookups[k].schema_hidden) return false;
    }
    return true;
}

static bool try_hit(config **out, const char *dir, const char *path, const cache_sigs *sigs) {
    strbuf file = {0};
    if (strbuf_read_file(&file, path, CACHE_MAX) != ST_OK) {
        strbuf_release(&file);
        return false;
    }
    config *cfg = NULL;
    st_error e;
    bool hit = config_load_datastores(&cfg, dir, &e) == ST_OK && attach(cfg, &file, sigs);
    strbuf_release(&file);
    if (!hit) config_free(cfg);
    else *out = cfg;
    return hit;
}

/* The full load, and the cache written when rules (1)-(4) allow. */
static int load_and_write(config **out, const char *dir, const char *cdir, const char *path,
                          const cache_sigs *before, config_problems *problems,
                          config_cache_how *how, st_error *err) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/config.cache.%ld.tmp", cdir, (long)getpid());
    if (mkdir(cdir, 0700) != 0 && errno != EEXIST) cdir = NULL;
    int fd = cdir ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    struct stat mark;
    if (fd >= 0 && fstat(fd, &mark) != 0) {
        close(fd);
        unlink(tmp);
        fd = -1;
    }
    config_problems mine = {0};
    int rc = config_load_valid(out, dir, problems ? problems : &mine, err);
    size_t nprobs = problems ? problems->n : mine.n;
    config_problems_clear(&mine);
    cache_sigs after = {0};
    bool ok = fd >= 0 && rc == ST_OK && nprobs == 0 &&
              cacheable(*out) && sigs_scan(&after, dir) && sigs_eq(before, &after) &&
              sigs_settled(before, ts_ns(mark.st_ctim), (int64_t)mark.st_dev);
    sigs_free(&after);
    if (ok) {
        strbuf fp = {0};
        fingerprint(*out, &fp);
        ok = write_cache(fd, *out, before, &fp);
        strbuf_release(&fp);
    }
    if (fd >= 0 && close(fd) != 0) ok = false;
    if (fd >= 0 && !(ok && rename(tmp, path) == 0)) {
        ok = false;
        unlink(tmp);
    }
    *how = ok ? CONFIG_CACHE_WRITTEN : CONFIG_CACHE_MISS;
    return rc;
}

int config_load_cached(config **out, const char *dir, config_problems *problems,
                       config_cache_how *how, st_error *err) {
    config_cache_how ignored;
    if (how == NULL) how = &ignored;
    const char *off = getenv("SYNCTOOL_CONFIG_CACHE");
    char abs[PATH_MAX];
    if ((off && strcmp(off, "0") == 0) || dir == NULL || realpath(dir, abs) == NULL) {
        *how = CONFIG_CACHE_OFF;
        return config_load_valid(out, dir, problems, err);
    }
    char cdir[PATH_MAX + 16], path[PATH_MAX + 32];
    snprintf(cdir, sizeof cdir, "%s/.synctool", abs);
    snprintf(path, sizeof path, "%s/config.cache", cdir);
    cache_sigs sigs;
    if (!sigs_scan(&sigs, abs)) {
        sigs_free(&sigs);
        *how = CONFIG_CACHE_MISS;
        return config_load_valid(out, dir, problems, err);
    }
    if (try_hit(out, abs, path, &sigs)) {
        sigs_free(&sigs);
        if (problems) config_problems_clear(problems);
        *how = CONFIG_CACHE_HIT;
        return ST_OK;
    }
    int rc = load_and_write(out, abs, cdir, path, &sigs, problems, how, err);
    sigs_free(&sigs);
    return rc;
}
