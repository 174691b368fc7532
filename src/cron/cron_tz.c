/*
 * cron_tz — a TZif reader and wall-time mapper for the cron module.
 *
 * Why not localtime()/mktime(): they read the process-wide TZ variable, so
 * switching zones means setenv("TZ") + tzset(), which is neither thread-safe
 * nor fast, and mktime's handling of skipped/repeated wall times is
 * unspecified. Instead each cron_expr owns a compiled cron_tz.
 *
 * Loading (RFC 8536): the file's 64-bit (v2+) section is used when present,
 * else the v1 32-bit section. Every transition becomes the start of a
 * "period" with one UTC offset; consecutive transitions with the same offset
 * are merged (a change of abbreviation or isdst alone does not move wall
 * time). The POSIX TZ footer (`CET-1CEST,M3.5.0,M10.5.0/3`) describes every
 * later year; rather than evaluating it per lookup, its transitions are
 * expanded into periods for the 403 years after the last explicit one. The
 * Gregorian calendar repeats exactly every 400 years (146097 days, a whole
 * number of weeks) so any later instant is folded back by whole cycles.
 * Lookups are then one binary search over a sorted array.
 *
 * Wall-time mapping: period p covers UTC [start[p], start[p+1]) and so wall
 * times [start[p]+off[p], start[p+1]+off[p]). A wall time in two periods'
 * ranges (fall-back) maps to the earlier period; one in no range (spring-
 * forward gap) maps to the start of the next period, the first valid instant
 * after the gap. The mapping is monotone, which is what makes cron_prev and
 * cron_next consistent.
 *
 * Zone names are checked before touching the file system: no absolute paths,
 * no "." or ".." components, only the characters tzdb names use.
 */
#include "cron_tz.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../time/st_time.h"

#define TZ_CYCLE_SECS (146097LL * 86400)   /* 400 Gregorian years */
#define TZ_RULE_YEARS 403
#define TZ_MAX_FILE (1L << 20)

/* --- Name checks and file reading --- */

/* Copies name into buf for messages: printable, at most 100 chars. */
static const char *safe_name(const char *name, char *buf, size_t n) {
    size_t i = 0;
    for (; name[i] && i + 1 < n && i < 100; i++)
        buf[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    buf[i] = '\0';
    return buf;
}

static int valid_zone_name(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 200 || name[0] == '/') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' ||
                 c == '.' || c == '/';
        if (!ok) return 0;
    }
    /* Every component must be non-empty and not "." or "..". */
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e) break;
        p = e + 1;
        if (*p == '\0') return 0; /* trailing slash */
    }
    return 1;
}

/* Reads the whole file into a malloc'd buffer. Returns 0 or -1. */
static int read_file(const char *path, unsigned char **buf, long *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_MAX_FILE) {
        close(fd);
        return -1;
    }
    unsigned char *b = malloc((size_t)st.st_size + 1);
    long got = 0;
    while (b && got < (long)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)(st.st_size - got));
        if (r <= 0) break;
        got += r;
    }
    close(fd);
    if (!b || got != (long)st.st_size) {
        free(b);
        return -1;
    }
    *buf = b;
    *len = got;
    return 0;
}

/* --- POSIX TZ footer ("CET-1CEST,M3.5.0,M10.5.0/3") --- */

typedef struct tz_rule_date {
    char kind;      /* 'J' (1-365, no Feb 29), 'n' (0-365), 'M' */
    int a, b, c;    /* J/n: a = day; M: a = month, b = week, c = weekday */
    int32_t secs;   /* local time of day of the change (may be <0 or >24h) */
} tz_rule_date;

typedef struct tz_rule {
    int32_t std_off, dst_off;   /* seconds east of UTC */
    int has_dst;
    tz_rule_date start, end;
} tz_rule;

static int rule_name(const char **pp) {
    const char *p = *pp;
    if (*p == '<') {
        const char *e = strchr(p, '>');
        if (!e || e - p < 2) return -1;
        *pp = e + 1;
        return 0;
    }
    int n = 0;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) p++, n++;
    if (n < 3) return -1;
    *pp = p;
    return 0;
}

static int rule_num(const char **pp, int max, int *out) {
    const char *p = *pp;
    int v = 0, n = 0;
    while (*p >= '0' && *p <= '9' && n < 4) v = v * 10 + (*p++ - '0'), n++;
    if (n == 0 || v > max) return -1;
    *pp = p;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] into seconds (sign as written). */
static int rule_hms(const char **pp, int maxh, int32_t *out) {
    int sign = 1, h, m = 0, s = 0;
    if (**pp == '+' || **pp == '-') sign = *(*pp)++ == '-' ? -1 : 1;
    if (rule_num(pp, maxh, &h) < 0) return -1;
    if (**pp == ':') {
        (*pp)++;
        if (rule_num(pp, 59, &m) < 0) return -1;
        if (**pp == ':') {
            (*pp)++;
            if (rule_num(pp, 59, &s) < 0) return -1;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int rule_date(const char **pp, tz_rule_date *d) {
    d->secs = 7200;
    if (**pp == 'J') {
        (*pp)++;
        d->kind = 'J';
        if (rule_num(pp, 365, &d->a) < 0 || d->a < 1) return -1;
    } else if (**pp == 'M') {
        (*pp)++;
        d->kind = 'M';
        if (rule_num(pp, 12, &d->a) < 0 || d->a < 1 || *(*pp)++ != '.' ||
            rule_num(pp, 5, &d->b) < 0 || d->b < 1 || *(*pp)++ != '.' ||
            rule_num(pp, 6, &d->c) < 0)
            return -1;
    } else {
        d->kind = 'n';
        if (rule_num(pp, 365, &d->a) < 0) return -1;
    }
    if (**pp == '/') {
        (*pp)++;
        if (rule_hms(pp, 167, &d->secs) < 0) return -1;
    }
    return 0;
}

/* Parses a footer. Returns 0 or -1. A DST name without rules counts as no DST. */
static int rule_parse(const char *s, tz_rule *r) {
    int32_t posix;
    memset(r, 0, sizeof *r);
    if (rule_name(&s) < 0 || rule_hms(&s, 24, &posix) < 0) return -1;
    r->std_off = -posix;
    if (*s == '\0') return 0;
    if (rule_name(&s) < 0) return -1;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (rule_hms(&s, 24, &posix) < 0) return -1;
        r->dst_off = -posix;
    }
    if (*s == '\0') return 0;
    if (*s++ != ',' || rule_date(&s, &r->start) < 0 || *s++ != ',' ||
        rule_date(&s, &r->end) < 0 || *s != '\0')
        return -1;
    r->has_dst = 1;
    return 0;
}

/* Local second of the rule's change in year y. */
static int64_t rule_local(const tz_rule_date *d, int64_t y) {
    int leap = st_days_in_month(y, 2) == 29;
    int64_t day;
    if (d->kind == 'J') {
        day = st_days_from_civil(y, 1, 1) + d->a - 1 + (leap && d->a >= 60);
    } else if (d->kind == 'n') {
        day = st_days_from_civil(y, 1, 1) + d->a;
    } else {
        int64_t first = st_days_from_civil(y, (unsigned)d->a, 1);
        int wd1 = (int)(((first + 4) % 7 + 7) % 7);
        int dom = 1 + (d->c - wd1 + 7) % 7 + (d->b - 1) * 7;
        while ((unsigned)dom > st_days_in_month(y, (unsigned)d->a)) dom -= 7;
        day = first + dom - 1;
    }
    return day * 86400 + d->secs;
}

/* --- Building periods --- */

typedef struct tz_build {
    int64_t *start;
    int32_t *off;
    int n, cap;
} tz_build;

/* Appends a period starting at t with offset off; merges no-op changes and
 * drops out-of-order starts. Returns 0 or -1 (out of memory). */
static int build_push(tz_build *b, int64_t t, int32_t off) {
    if (b->n > 0 && b->off[b->n - 1] == off) return 0;
    if (b->n > 1 && t <= b->start[b->n - 1]) {
        b->off[b->n - 1] = off; /* same instant: the later record wins */
        if (b->n > 1 && b->off[b->n - 2] == off) b->n--;
        return 0;
    }
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        int64_t *s = realloc(b->start, (size_t)cap * sizeof *s);
        if (!s) return -1;
        b->start = s;
        int32_t *o = realloc(b->off, (size_t)cap * sizeof *o);
        if (!o) return -1;
        b->off = o;
        b->cap = cap;
    }
    b->start[b->n] = t;
    b->off[b->n] = off;
    b->n++;
    return 0;
}

/* Expands the footer rule for the years after the last transition. */
static int build_rule(tz_build *b, const tz_rule *r, int64_t last, cron_tz *z) {
    int64_t y0, dd = last / 86400 - (last % 86400 < 0);
    unsigned m, d;
    st_civil_from_days(dd, &y0, &m, &d);
    if (!r->has_dst) return build_push(b, last + 1, r->std_off);
    for (int64_t y = y0; y < y0 + TZ_RULE_YEARS; y++) {
        int64_t s = rule_local(&r->start, y) - r->std_off;
        int64_t e = rule_local(&r->end, y) - r->dst_off;
        int64_t t1 = s < e ? s : e, t2 = s < e ? e : s;
        int32_t o1 = s < e ? r->dst_off : r->std_off, o2 = s < e ? r->std_off : r->dst_off;
        if (t1 > last && build_push(b, t1, o1) < 0) return -1;
        if (t2 > last && build_push(b, t2, o2) < 0) return -1;
    }
    z->has_fold = 1;
    z->fold_from = st_days_from_civil(y0 + 1, 1, 1) * 86400;
    return 0;
}

/* --- TZif parsing --- */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_hdr {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_hdr;

static int read_hdr(const unsigned char *p, long avail, tzif_hdr *h) {
    if (avail < 44 || memcmp(p, "TZif", 4) != 0) return -1;
    h->isut = be32(p + 20);
    h->isstd = be32(p + 24);
    h->leap = be32(p + 28);
    h->time = be32(p + 32);
    h->type = be32(p + 36);
    h->chars = be32(p + 40);
    if (h->type == 0 || h->type > 256 || h->time > 100000 || h->leap > 100000 ||
        h->chars > 100000 || h->isut > 256 || h->isstd > 256)
        return -1;
    return 0;
}

static long body_len(const tzif_hdr *h, int tsize) {
    return (long)h->time * (tsize + 1) + (long)h->type * 6 + h->chars +
           (long)h->leap * (tsize + 4) + h->isstd + h->isut;
}

/* Turns one data block into periods. Returns 0 or -1. */
static int parse_body(const unsigned char *p, const tzif_hdr *h, int tsize, tz_build *b,
                      int64_t *last) {
    const unsigned char *idx = p + (long)h->time * tsize;
    const unsigned char *types = idx + h->time;
    if (build_push(b, INT64_MIN, (int32_t)be32(types)) < 0) return -1;
    *last = INT64_MIN;
    for (uint32_t i = 0; i < h->time; i++) {
        int64_t t = tsize == 8 ? be64(p + (long)i * 8) : (int32_t)be32(p + (long)i * 4);
        if (idx[i] >= h->type || (i > 0 && t <= *last)) return -1;
        int32_t off = (int32_t)be32(types + idx[i] * 6);
        if (off < -26 * 3600 || off > 26 * 3600) return -1;
        if (build_push(b, t, off) < 0) return -1;
        *last = t;
    }
    return 0;
}

/* Footer of a v2+ file: "\n<rule>\n" at p. Returns 0 (rule or none) or -1. */
static int parse_footer(const unsigned char *p, long avail, tz_rule *r, int *has) {
    *has = 0;
    if (avail < 2 || p[0] != '\n') return avail == 0 ? 0 : -1;
    const unsigned char *e = memchr(p + 1, '\n', (size_t)avail - 1);
    if (!e || e - p > 200) return -1;
    if (e == p + 1) return 0;
    char s[256];
    memcpy(s, p + 1, (size_t)(e - p - 1));
    s[e - p - 1] = '\0';
    if (rule_parse(s, r) < 0) return -1;
    *has = 1;
    return 0;
}

static int tzif_parse(const unsigned char *buf, long len, tz_build *b, cron_tz *z) {
    tzif_hdr h;
    if (read_hdr(buf, len, &h) < 0) return -1;
    long v1 = 44 + body_len(&h, 4);
    if (v1 > len) return -1;
    const unsigned char *p = buf + 44;
    int tsize = 4;
    if (buf[4] >= '2' && len > v1) {
        if (read_hdr(buf + v1, len - v1, &h) < 0) return -1;
        p = buf + v1 + 44;
        tsize = 8;
        if (44 + body_len(&h, 8) > len - v1) return -1;
    }
    int64_t last;
    if (parse_body(p, &h, tsize, b, &last) < 0) return -1;
    if (tsize == 4) return 0;
    const unsigned char *foot = p + body_len(&h, 8);
    tz_rule r;
    int has;
    if (parse_footer(foot, len - (foot - buf), &r, &has) < 0) return -1;
    if (!has) return 0;
    if (last == INT64_MIN) last = st_days_from_civil(1900, 1, 1) * 86400;
    return build_rule(b, &r, last, z);
}

int cron_tz_from_tzif(cron_tz **out, const unsigned char *buf, long len, const char *name,
                      st_error *err) {
    char sn[128];
    tz_build b = {0};
    cron_tz *z = calloc(1, sizeof *z);
    if (!z) return st_error_set(err, ST_ENOMEM, "time zone '%s': out of memory",
                                safe_name(name, sn, sizeof sn));
    if (tzif_parse(buf, len, &b, z) < 0 || b.n == 0) {
        free(b.start);
        free(b.off);
        free(z);
        return st_error_set(err, ST_EINVAL, "time zone '%s': not a valid TZif file",
                            safe_name(name, sn, sizeof sn));
    }
    z->start = b.start;
    z->off = b.off;
    z->n = b.n;
    *out = z;
    return ST_OK;
}

int cron_tz_load(cron_tz **out, const char *name, st_error *err) {
    char sn[128];
    *out = NULL;
    if (!valid_zone_name(name))
        return st_error_set(err, ST_EINVAL, "invalid time zone name '%s'",
                            safe_name(name, sn, sizeof sn));
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir) dir = "/usr/share/zoneinfo";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *buf;
    long len;
    if (read_file(path, &buf, &len) < 0)
        return st_error_set(err, ST_EINVAL, "unknown time zone '%s'",
                            safe_name(name, sn, sizeof sn));
    int rc = cron_tz_from_tzif(out, buf, len, name, err);
    free(buf);
    return rc;
}

void cron_tz_free(cron_tz *z) {
    if (!z) return;
    free(z->start);
    free(z->off);
    free(z);
}

/* --- Lookups --- */

/* Folds t into the expanded window; returns the shift that was removed. */
static int64_t fold(const cron_tz *z, int64_t *t) {
    if (!z->has_fold || *t < z->fold_from + TZ_CYCLE_SECS) return 0;
    int64_t k = (*t - z->fold_from) / TZ_CYCLE_SECS;
    *t -= k * TZ_CYCLE_SECS;
    return k * TZ_CYCLE_SECS;
}

/* Index of the period containing UTC second t (no folding). */
static int period_of(const cron_tz *z, int64_t t) {
    int lo = 0, hi = z->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (z->start[mid] <= t) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

int32_t cron_tz_offset(const cron_tz *z, int64_t t) {
    fold(z, &t);
    return z->off[period_of(z, t)];
}

int32_t cron_tz_offset_prev_end(const cron_tz *z, int64_t t, int64_t *prev_wall_end) {
    int64_t shift = fold(z, &t);
    int p = period_of(z, t);
    *prev_wall_end = p == 0 ? INT64_MIN : z->start[p] + z->off[p - 1] + shift;
    return z->off[p];
}

/* Wall end (exclusive) of period p; the last period never ends. */
static int64_t wall_end(const cron_tz *z, int p) {
    return p + 1 < z->n ? z->start[p + 1] + z->off[p] : INT64_MAX;
}

int64_t cron_tz_wall_to_utc(const cron_tz *z, int64_t w) {
    int64_t shift = fold(z, &w);
    int p = period_of(z, w - z->off[period_of(z, w)]);
    while (p > 0 && w < wall_end(z, p - 1)) p--;
    while (p + 1 < z->n && w >= wall_end(z, p)) p++;
    if (p > 0 && w < z->start[p] + z->off[p]) return z->start[p] + shift; /* gap */
    return w - z->off[p] + shift;
}
