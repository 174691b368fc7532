/*
 * cron — five-field cron expressions with optional IANA time zone.
 *
 * Grammar: `min hour dom month dow` separated by blanks, each a comma list
 * of `*`, `a`, `a-b`, `*``/n`, `a-b/n` or `a/n` (a to the field's end), plus
 * @hourly @daily @midnight @weekly @monthly @yearly @annually (macros are
 * case-insensitive). Months JAN-DEC and days SUN-SAT may stand for numbers,
 * any case, also in ranges (MON-FRI). Day-of-week 0 and 7 are Sunday.
 * Ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12,
 * day-of-week 0-7; a step is 1 up to the field's size. Vixie rule: when both
 * day-of-month and day-of-week are restricted a day matches if EITHER
 * matches; a field written starting with `*` (`*`, `*``/2`) is unrestricted,
 * and then only the other field decides (as in Vixie cron and cronie).
 * Everything else (`L`, `W`, `#`, `?`, seconds, @reboot) is rejected.
 *
 * Times are int64 microseconds since the epoch (st_time.h). Fire times are
 * whole minutes of local wall time. cron_next() is the first fire time
 * strictly after t; cron_prev() the latest fire time at or before t
 * (inclusive). In a zone with DST, a wall time skipped by spring-forward
 * fires once at the first valid instant after the gap (02:30 on the Berlin
 * spring-forward day fires at 03:00 CEST = 01:00Z), and a wall time repeated
 * by fall-back fires once, at its first occurrence. prev(next(t)) == next(t)
 * and prev(t) <= t < next(t) always hold.
 *
 * Zones are read from TZif files under $TZDIR (default /usr/share/zoneinfo),
 * compiled once by cron_parse and kept in the cron_expr; no TZ/localtime.
 * A parsed cron_expr is immutable: any number of threads may call
 * cron_next/cron_prev on it concurrently.
 */
#ifndef ST_CRON_H
#define ST_CRON_H

#include <stdint.h>

#include "../error/st_error.h"

typedef struct cron_expr cron_expr;

/* Parses `expr` in zone `tz` (NULL or "UTC" = UTC). Returns 0 and *out, or
 * ST_EINVAL with a message naming the bad field ("day-of-month: 32 out of
 * range 1-31") or the unknown zone. */
int cron_parse(cron_expr **out, const char *expr, const char *tz, st_error *err);
void cron_free(cron_expr *c);

/* First fire time > t. Returns 0, or ST_ENOTFOUND if none within 5 years
 * (e.g. `0 0 30 2 *`). */
int cron_next(const cron_expr *c, int64_t t, int64_t *out);

/* Latest fire time <= t. Returns 0, or ST_ENOTFOUND if none within 5 years. */
int cron_prev(const cron_expr *c, int64_t t, int64_t *out);

/* The expression text as given, and the zone name ("UTC" if none). */
const char *cron_text(const cron_expr *c);
const char *cron_zone(const cron_expr *c);

/* Seconds east of UTC in the expression's zone at instant t (0 for UTC);
 * for showing fire times as local time. */
int32_t cron_utc_offset(const cron_expr *c, int64_t t);

#endif
