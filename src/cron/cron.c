/*
 * cron — five-field cron expressions, prev/next fire times, in UTC or an
 * IANA zone (see cron.h for the grammar and the contract).
 *
 * Representation: each field is a bitmask (minute 64 bits, hour 24, day-of-
 * month bits 1-31, month bits 1-12, day-of-week bits 0-6 with 7 folded onto
 * Sunday). Matching a whole month's days is one AND/OR of two 32-bit masks:
 * the day-of-week mask is pre-expanded at parse time into seven "month
 * patterns", one per weekday the month can start on. Vixie's rule decides how
 * the two combine: a field written starting with `*` (`*`, `*``/2`) is
 * unrestricted; if either field is unrestricted a day must match both (so
 * only the other one restricts), if both are restricted a day matching either
 * fires. That is what Vixie cron and cronie do, `*``/2` included.
 *
 * Search works on civil wall time, never minute by minute: wall_next() takes
 * the first set bit at or after the current month, day, hour and minute in
 * turn (count-trailing-zeros on the masks), carrying into the next
 * hour/day/month when a field has no later bit; wall_prev() mirrors it with
 * count-leading-zeros. Each step either returns or moves to the start (end)
 * of a later (earlier) unit, so a call costs a handful of mask operations;
 * the search gives up with ST_ENOTFOUND after 5 years (`0 0 30 2 *`).
 *
 * Time zones (cron_tz.c): fields match local wall time. cron_tz_wall_to_utc()
 * maps a wall time to its first occurrence, or to the end of a spring-forward
 * gap; the map is monotone, so
 *   next(t) = map(first matching wall W > local(t) with map(W) > t)
 *   prev(t) = map(last matching wall W <= B with map(W) <= t)
 * where B is local(t), or the end of a fall-back overlap that t lies in (its
 * wall times' first occurrences are before t). Both loops rarely take more
 * than one step; they only iterate near a transition. Because the set of
 * fire instants is the image of one monotone map, prev(next(t)) == next(t)
 * and prev(t) <= t < next(t) hold by construction. UTC and fixed-offset zones
 * skip the lookups entirely.
 */
#include "cron.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../time/st_time.h"
#include "cron_tz.h"

#define CRON_HORIZON_DAYS 1827            /* 5 years */
#define CRON_MAX_US 300000000000000000LL  /* ~9500 years either side of 1970 */

struct cron_expr {
    uint64_t min;          /* bits 0-59 */
    uint32_t hour;         /* bits 0-23 */
    uint32_t dom;          /* bits 1-31 */
    uint32_t mon;          /* bits 1-12 */
    uint32_t dow;          /* bits 0-6 */
    int dom_star, dow_star;
    uint32_t dow_pat[7];   /* days (bits 1-31) matching dow if day 1 is weekday i */
    char *text;
    char *zone;            /* "UTC" when none */
    cron_tz *tz;           /* NULL for UTC */
    int fixed;             /* zone with a single offset: no lookups */
    int32_t fixed_off;
};

/* --- Parsing --- */

typedef struct field_def {
    const char *name;
    int min, max;          /* accepted values (day-of-week accepts 7) */
    int star_max;          /* upper bound of `*` */
    const char *const *names;
    int names_base;        /* value of names[0] */
} field_def;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const field_def fields[5] = {
    {"minute", 0, 59, 59, NULL, 0},
    {"hour", 0, 23, 23, NULL, 0},
    {"day-of-month", 1, 31, 31, NULL, 0},
    {"month", 1, 12, 12, month_names, 1},
    {"day-of-week", 0, 7, 6, day_names, 0},
};

/* Copies a token for a message: printable characters, at most 64. */
static const char *show(const char *s, size_t n, char *buf) {
    size_t i = 0;
    for (; i < n && i < 64; i++) buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

/* Reads a number or a name at *p (within end). Returns 0, -1 (bad token) or
 * -2 (unknown name). */
static int read_value(const field_def *f, const char **p, const char *end, int *out) {
    const char *s = *p;
    if (s < end && isdigit((unsigned char)*s)) {
        long v = 0;
        while (s < end && isdigit((unsigned char)*s)) {
            if (v < 100000) v = v * 10 + (*s - '0');
            s++;
        }
        *p = s;
        *out = (int)v;
        return 0;
    }
    const char *n = s;
    while (n < end && isalpha((unsigned char)*n)) n++;
    if (n == s || !f->names) return -1;
    for (int i = 0; f->names[i]; i++) {
        if (n - s == 3 && strncasecmp(s, f->names[i], 3) == 0) {
            *p = n;
            *out = f->names_base + i;
            return 0;
        }
    }
    return -2;
}

static int value_error(const field_def *f, int rc, const char *s, const char *end,
                       st_error *err) {
    char b[80];
    if (rc == -2) {
        const char *n = s;
        while (n < end && isalpha((unsigned char)*n)) n++;
        return st_error_set(err, ST_EINVAL, "%s: unknown name '%s'", f->name,
                            show(s, (size_t)(n - s), b));
    }
    return st_error_set(err, ST_EINVAL, "%s: bad token '%s'", f->name,
                        show(s, (size_t)(end - s), b));
}

/* Parses the range part of an item ("*", "a", "a-b") into lo..hi; *single
 * is set for a lone value (which a step extends to the field maximum). */
static int parse_range(const field_def *f, const char **p, const char *end, int *lo,
                       int *hi, int *single, st_error *err) {
    const char *item = *p;
    int rc;
    *single = 0;
    if (*p < end && **p == '*') {
        (*p)++;
        *lo = f->min;
        *hi = f->star_max;
        return ST_OK;
    }
    if ((rc = read_value(f, p, end, lo)) < 0) return value_error(f, rc, item, end, err);
    *hi = *lo;
    if (*p < end && **p == '-') {
        (*p)++;
        const char *v = *p;
        if ((rc = read_value(f, p, end, hi)) < 0)
            return value_error(f, rc, rc == -2 ? v : item, end, err);
    } else {
        *single = 1;
    }
    return ST_OK;
}

/* Parses one list item into *mask. Returns 0 or ST_EINVAL. */
static int parse_item(const field_def *f, const char *s, const char *end, uint64_t *mask,
                      st_error *err) {
    char b[80];
    const char *p = s;
    int lo, hi, single, step = 1, rc;
    if ((rc = parse_range(f, &p, end, &lo, &hi, &single, err)) != ST_OK) return rc;
    if (p < end && *p == '/') {
        p++;
        const char *v = p;
        if (read_value(f, &p, end, &step) < 0 || !isdigit((unsigned char)*v))
            return st_error_set(err, ST_EINVAL, "%s: bad step in '%s'", f->name,
                                show(s, (size_t)(end - s), b));
        if (step < 1 || step > f->max - f->min + 1)
            return st_error_set(err, ST_EINVAL, "%s: step %d out of range 1-%d in '%s'",
                                f->name, step, f->max - f->min + 1,
                                show(s, (size_t)(end - s), b));
        if (single) hi = lo > f->star_max ? lo : f->star_max; /* `5/10`: 5 to the end */
    }
    if (p != end)
        return st_error_set(err, ST_EINVAL, "%s: bad token '%s'", f->name,
                            show(s, (size_t)(end - s), b));
    int bad = lo < f->min || lo > f->max ? lo : hi < f->min || hi > f->max ? hi : -1;
    if (bad >= 0)
        return st_error_set(err, ST_EINVAL, "%s: %d out of range %d-%d in '%s'", f->name,
                            bad, f->min, f->max, show(s, (size_t)(end - s), b));
    if (lo > hi)
        return st_error_set(err, ST_EINVAL, "%s: reversed range '%s'", f->name,
                            show(s, (size_t)(end - s), b));
    for (int v = lo; v <= hi; v += step) *mask |= 1ULL << v;
    return ST_OK;
}

/* Parses one whitespace-free field token (a comma list). */
static int parse_field(const field_def *f, const char *s, size_t len, uint64_t *mask,
                       st_error *err) {
    char b[80];
    const char *end = s + len, *p = s;
    *mask = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (e == p)
            return st_error_set(err, ST_EINVAL, "%s: empty list item in '%s'", f->name,
                                show(s, len, b));
        int rc = parse_item(f, p, e, mask, err);
        if (rc != ST_OK) return rc;
        if (!comma) break;
        p = comma + 1;
    }
    if (f->max == 7 && (*mask >> 7 & 1)) *mask = (*mask & 0x7f) | 1; /* 7 = Sunday */
    return ST_OK;
}

static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

/* Replaces a macro by its five fields. Returns the text to parse or NULL. */
static const char *expand_macro(const char *s, st_error *err) {
    char b[80];
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (strlen(macros[i].name) == n && strncasecmp(s, macros[i].name, n) == 0)
            return macros[i].expansion;
    st_error_set(err, ST_EINVAL,
                 "unknown macro '%s' (use @hourly, @daily, @midnight, @weekly, "
                 "@monthly, @yearly or @annually)",
                 show(s, n, b));
    return NULL;
}

static void build_dow_patterns(cron_expr *c) {
    for (int wd1 = 0; wd1 < 7; wd1++) {
        uint32_t m = 0;
        for (int d = 1; d <= 31; d++)
            if (c->dow >> ((wd1 + d - 1) % 7) & 1) m |= 1u << d;
        c->dow_pat[wd1] = m;
    }
}

/* Splits into exactly five fields and fills the masks. */
static int parse_fields(cron_expr *c, const char *s, st_error *err) {
    const char *tok[5];
    size_t len[5];
    int n = 0;
    for (const char *p = s;;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *e = p;
        while (*e && !isspace((unsigned char)*e)) e++;
        if (n < 5) tok[n] = p, len[n] = (size_t)(e - p);
        n++;
        p = e;
    }
    if (n != 5)
        return st_error_set(err, ST_EINVAL,
                            "expected 5 fields (minute hour day-of-month month "
                            "day-of-week), got %d",
                            n);
    uint64_t m[5];
    for (int i = 0; i < 5; i++) {
        int rc = parse_field(&fields[i], tok[i], len[i], &m[i], err);
        if (rc != ST_OK) return rc;
    }
    c->min = m[0];
    c->hour = (uint32_t)m[1];
    c->dom = (uint32_t)m[2];
    c->mon = (uint32_t)m[3];
    c->dow = (uint32_t)m[4];
    c->dom_star = tok[2][0] == '*';
    c->dow_star = tok[4][0] == '*';
    build_dow_patterns(c);
    return ST_OK;
}

static int attach_zone(cron_expr *c, const char *tz, st_error *err) {
    if (tz == NULL || strcmp(tz, "UTC") == 0) {
        c->zone = strdup("UTC");
        return c->zone ? ST_OK : st_error_set(err, ST_ENOMEM, "cron: out of memory");
    }
    int rc = cron_tz_load(&c->tz, tz, err);
    if (rc != ST_OK) return rc;
    c->zone = strdup(tz);
    if (!c->zone) return st_error_set(err, ST_ENOMEM, "cron: out of memory");
    if (c->tz->n == 1) {
        c->fixed = 1;
        c->fixed_off = c->tz->off[0];
    }
    return ST_OK;
}

int cron_parse(cron_expr **out, const char *expr, const char *tz, st_error *err) {
    *out = NULL;
    if (expr == NULL) return st_error_set(err, ST_EINVAL, "empty cron expression");
    const char *s = expr;
    while (isspace((unsigned char)*s)) s++;
    if (*s == '\0') return st_error_set(err, ST_EINVAL, "empty cron expression");
    if (strlen(s) > 1024) return st_error_set(err, ST_EINVAL, "cron expression too long");
    if (*s == '@' && (s = expand_macro(s, err)) == NULL) return ST_EINVAL;
    cron_expr *c = calloc(1, sizeof *c);
    if (!c) return st_error_set(err, ST_ENOMEM, "cron: out of memory");
    int rc = parse_fields(c, s, err);
    if (rc == ST_OK) rc = attach_zone(c, tz, err);
    if (rc == ST_OK && (c->text = strdup(expr)) == NULL)
        rc = st_error_set(err, ST_ENOMEM, "cron: out of memory");
    if (rc != ST_OK) {
        cron_free(c);
        return rc;
    }
    *out = c;
    return ST_OK;
}

void cron_free(cron_expr *c) {
    if (!c) return;
    cron_tz_free(c->tz);
    free(c->text);
    free(c->zone);
    free(c);
}

const char *cron_text(const cron_expr *c) { return c->text; }
const char *cron_zone(const cron_expr *c) { return c->zone; }

/* --- Wall-time search --- */

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

/* A position in civil wall time; `day` is days since 1970-01-01. */
typedef struct wpos {
    int64_t y, day;
    unsigned mo, d;
    int h, mi;
    uint32_t days;   /* matching days of (y, mo), bits 1-31 */
} wpos;

static uint32_t month_days(const cron_expr *c, int64_t y, unsigned mo) {
    unsigned dim = st_days_in_month(y, mo);
    uint32_t valid = (uint32_t)((2ULL << dim) - 2);
    int64_t first = st_days_from_civil(y, mo, 1);
    int wd1 = (int)(((first + 4) % 7 + 7) % 7);
    uint32_t a = c->dom & valid, b = c->dow_pat[wd1] & valid;
    return (c->dom_star || c->dow_star) ? (a & b) : (a | b);
}

static void wpos_set(wpos *w, const cron_expr *c, int64_t minute) {
    w->day = floor_div(minute, 1440);
    int m = (int)(minute - w->day * 1440);
    w->h = m / 60;
    w->mi = m % 60;
    st_civil_from_days(w->day, &w->y, &w->mo, &w->d);
    w->days = month_days(c, w->y, w->mo);
}

/* Moves to day d of month mo (of year y), at time h:mi. */
static void wpos_month(wpos *w, const cron_expr *c, int64_t y, unsigned mo, unsigned d,
                       int h, int mi) {
    w->y = y;
    w->mo = mo;
    w->d = d;
    w->h = h;
    w->mi = mi;
    w->day = st_days_from_civil(y, mo, d);
    w->days = month_days(c, y, mo);
}

/* Start of the first month after w's whose bit is set in the month mask. */
static void next_month(wpos *w, const cron_expr *c) {
    uint32_t later = c->mon & ~((2u << w->mo) - 1);
    if (later) wpos_month(w, c, w->y, (unsigned)__builtin_ctz(later), 1, 0, 0);
    else wpos_month(w, c, w->y + 1, (unsigned)__builtin_ctz(c->mon), 1, 0, 0);
}

/* First matching wall minute strictly after wall second b, as wall seconds. */
static int wall_next(const cron_expr *c, int64_t b, int64_t *out) {
    wpos w;
    wpos_set(&w, c, floor_div(b, 60) + 1);
    const int64_t limit = w.day + CRON_HORIZON_DAYS;
    while (w.day <= limit) {
        if (!(c->mon >> w.mo & 1)) {
            next_month(&w, c);
            continue;
        }
        uint32_t days = (uint32_t)(w.days & ~((1ULL << w.d) - 1));
        if (!days) {
            next_month(&w, c);
            continue;
        }
        unsigned nd = (unsigned)__builtin_ctz(days);
        if (nd != w.d) w.day += nd - w.d, w.d = nd, w.h = 0, w.mi = 0;
        uint32_t hours = c->hour & ~((1u << w.h) - 1);
        if (!hours) {
            w.day++, w.d++, w.h = 0, w.mi = 0;
            continue;
        }
        int nh = __builtin_ctz(hours);
        if (nh != w.h) w.h = nh, w.mi = 0;
        uint64_t mins = c->min & ~((1ULL << w.mi) - 1);
        if (!mins) {
            if (++w.h == 24) w.day++, w.d++, w.h = 0;
            w.mi = 0;
            continue;
        }
        *out = w.day * 86400 + w.h * 3600 + __builtin_ctzll(mins) * 60;
        return ST_OK;
    }
    return ST_ENOTFOUND;
}

/* End (last day, 23:59) of the last month before w's whose bit is set. */
static void prev_month(wpos *w, const cron_expr *c) {
    uint32_t earlier = c->mon & ((1u << w->mo) - 1);
    int64_t y = w->y;
    unsigned mo;
    if (earlier) mo = (unsigned)(31 - __builtin_clz(earlier));
    else y--, mo = (unsigned)(31 - __builtin_clz(c->mon));
    wpos_month(w, c, y, mo, st_days_in_month(y, mo), 23, 59);
}

/* Last matching wall minute at or before wall second b, as wall seconds. */
static int wall_prev(const cron_expr *c, int64_t b, int64_t *out) {
    wpos w;
    wpos_set(&w, c, floor_div(b, 60));
    const int64_t limit = w.day - CRON_HORIZON_DAYS;
    while (w.day >= limit) {
        if (!(c->mon >> w.mo & 1)) {
            prev_month(&w, c);
            continue;
        }
        uint32_t days = (uint32_t)(w.days & ((2ULL << w.d) - 1));
        if (!days) {
            prev_month(&w, c);
            continue;
        }
        unsigned nd = (unsigned)(31 - __builtin_clz(days));
        if (nd != w.d) w.day -= w.d - nd, w.d = nd, w.h = 23, w.mi = 59;
        uint32_t hours = c->hour & ((2u << w.h) - 1);
        if (!hours) {
            w.day--, w.d--, w.h = 23, w.mi = 59;
            continue;
        }
        int nh = 31 - __builtin_clz(hours);
        if (nh != w.h) w.h = nh, w.mi = 59;
        uint64_t mins = c->min & ((2ULL << w.mi) - 1);
        if (!mins) {
            if (--w.h < 0) w.day--, w.d--, w.h = 23;
            w.mi = 59;
            continue;
        }
        *out = w.day * 86400 + w.h * 3600 + (63 - __builtin_clzll(mins)) * 60;
        return ST_OK;
    }
    return ST_ENOTFOUND;
}

/* --- prev / next --- */

int cron_next(const cron_expr *c, int64_t t, int64_t *out) {
    if (t < -CRON_MAX_US || t > CRON_MAX_US) return ST_ENOTFOUND;
    const int64_t ts = floor_div(t, ST_USEC);
    int64_t w, b;
    int rc;
    if (!c->tz || c->fixed) {
        const int64_t off = c->tz ? c->fixed_off : 0;
        if ((rc = wall_next(c, ts + off, &w)) != ST_OK) return rc;
        *out = (w - off) * ST_USEC;
        return ST_OK;
    }
    b = ts + cron_tz_offset(c->tz, ts);
    for (;;) {
        if ((rc = wall_next(c, b, &w)) != ST_OK) return rc;
        int64_t u = cron_tz_wall_to_utc(c->tz, w);
        if (u > ts) {
            *out = u * ST_USEC;
            return ST_OK;
        }
        b = w; /* first occurrence of a repeated wall time, already past */
    }
}

int cron_prev(const cron_expr *c, int64_t t, int64_t *out) {
    if (t < -CRON_MAX_US || t > CRON_MAX_US) return ST_ENOTFOUND;
    const int64_t ts = floor_div(t, ST_USEC);
    int64_t w, b, pend;
    int rc;
    if (!c->tz || c->fixed) {
        const int64_t off = c->tz ? c->fixed_off : 0;
        if ((rc = wall_prev(c, ts + off, &w)) != ST_OK) return rc;
        *out = (w - off) * ST_USEC;
        return ST_OK;
    }
    b = ts + cron_tz_offset_prev_end(c->tz, ts, &pend);
    if (pend != INT64_MIN && pend - 1 > b) b = pend - 1; /* inside a fall-back overlap */
    for (;;) {
        if ((rc = wall_prev(c, b, &w)) != ST_OK) return rc;
        int64_t u = cron_tz_wall_to_utc(c->tz, w);
        if (u <= ts) {
            *out = u * ST_USEC;
            return ST_OK;
        }
        b = w - 1;
    }
}

int32_t cron_utc_offset(const cron_expr *c, int64_t t) {
    if (!c->tz) return 0;
    if (c->fixed) return c->fixed_off;
    return cron_tz_offset(c->tz, floor_div(t, ST_USEC));
}
