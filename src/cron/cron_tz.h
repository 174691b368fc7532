/*
 * cron_tz — IANA time zones read from TZif files, for the cron module.
 *
 * Internal to src/cron (cron.c is the only user). A zone is compiled into a
 * sorted list of "periods": spans of UTC time with one constant offset.
 * Period 0 starts at -infinity; period p >= 1 starts at start[p]. The POSIX
 * TZ footer of the file (or nothing, for a fixed zone) is expanded into
 * explicit periods over a 400-year window after the last transition; since
 * the Gregorian calendar repeats every 400 years (146097 days, a whole
 * number of weeks) an instant beyond the window is folded back into it.
 *
 * All times here are int64 seconds (not microseconds) since the epoch.
 */
#ifndef ST_CRON_TZ_H
#define ST_CRON_TZ_H

#include <stdint.h>

#include "../error/st_error.h"

typedef struct cron_tz {
    int64_t *start;    /* start[p] = first UTC second of period p; start[0] unused */
    int32_t *off;      /* off[p] = seconds east of UTC during period p */
    int n;             /* number of periods, >= 1 */
    int64_t fold_from; /* instants >= fold_from are folded by whole 400-year cycles */
    int has_fold;      /* 0 when the last period lasts forever */
} cron_tz;

/* Loads zone `name` from $TZDIR (default /usr/share/zoneinfo). Returns 0, or
 * ST_EINVAL with a message naming the zone (unknown, bad name, bad file). */
int cron_tz_load(cron_tz **out, const char *name, st_error *err);

/* Compiles a TZif image held in memory (used by cron_tz_load and tests). */
int cron_tz_from_tzif(cron_tz **out, const unsigned char *buf, long len, const char *name,
                      st_error *err);

void cron_tz_free(cron_tz *z);

/* Offset (seconds east of UTC) in effect at UTC second t. */
int32_t cron_tz_offset(const cron_tz *z, int64_t t);

/* Offset in effect at t, plus the wall-clock end of the previous period
 * (start of t's period + the previous period's offset), or INT64_MIN when t
 * is in period 0. Lets cron_prev see wall times repeated by a fall-back. */
int32_t cron_tz_offset_prev_end(const cron_tz *z, int64_t t, int64_t *prev_wall_end);

/* The UTC second of wall time w (seconds since the epoch read as UTC).
 * A wall time that occurs twice maps to its first occurrence; one skipped by
 * a gap maps to the first instant after the gap. Monotone non-decreasing. */
int64_t cron_tz_wall_to_utc(const cron_tz *z, int64_t w);

#endif
