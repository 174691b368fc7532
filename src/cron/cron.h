/*
 * cron — five-field cron expressions with optional IANA time zone.
 *
 * Grammar: `min hour dom month dow` with `*`, lists `a,b`, ranges `a-b`,
 * steps `*``/n` (star-slash-n) and `a-b/n`, month names JAN-DEC and day names SUN-SAT
 * (0 and 7 are Sunday), plus @hourly @daily @midnight @weekly @monthly
 * @yearly @annually. Vixie rule: when both day-of-month and day-of-week are
 * restricted (neither is `*`), a day matches if EITHER matches.
 *
 * Times are int64 microseconds since the epoch (st_time.h). cron_next() is
 * the first fire time strictly after t; cron_prev() the latest fire time at
 * or before t (inclusive). In a zone with DST, a wall time skipped by
 * spring-forward fires once at the first valid instant after the gap, and a
 * wall time repeated by fall-back fires once (at its first occurrence).
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
