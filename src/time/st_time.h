/*
 * st_time — instants as int64 microseconds since the Unix epoch (UTC).
 *
 * Every decision in synctool takes "now" as a parameter; only the command
 * line, the scheduler loop, leases and the logger call st_time_now().
 * ST_TIME_NONE marks an unknown instant (a state field never set).
 *
 * Text form is ISO-8601 / RFC 3339 with an explicit offset:
 * `2025-10-15T10:06:00Z`, `2025-10-15T12:06:00.250+02:00`. A space may stand
 * for the `T`. Fractions up to microseconds. Parsing is strict: trailing
 * garbage, out-of-range fields, Feb 30 are errors, never a
 * silent zero. A time without an offset (`2025-10-15T10:00:00`, as the
 * upstream tool writes them) is UTC. Formatting always prints UTC with `Z`, and a fraction only
 * when the instant has one.
 */
#ifndef ST_TIME_H
#define ST_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"

#define ST_TIME_NONE INT64_MIN
#define ST_USEC 1000000LL

/* Wall clock, microseconds since the epoch. */
int64_t st_time_now(void);

/* Monotonic clock in milliseconds: for timeouts, ticks and poll intervals
 * (never for decisions, never stored). */
int64_t st_time_mono_ms(void);

/* Parses `s` into *out. Returns 0 or ST_EINVAL with a message quoting `s`. */
int st_time_parse(const char *s, int64_t *out, st_error *err);

/* Formats as UTC ISO-8601 into buf (>= 32 bytes); ST_TIME_NONE gives "-". */
void st_time_format(int64_t t, char *buf, size_t n);

/* Formats t as local wall time at `offset` seconds east of UTC with that
 * offset: `2025-10-15T12:06:00+02:00` (`+HH:MM:SS` if the offset has
 * seconds). ST_TIME_NONE gives "-". buf >= 40 bytes. */
void st_time_format_offset(int64_t t, int32_t offset, char *buf, size_t n);

/* Days since 1970-01-01 for a proleptic Gregorian date (month 1-12). */
int64_t st_days_from_civil(int64_t y, unsigned m, unsigned d);

/* Inverse of st_days_from_civil. */
void st_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Number of days in month m (1-12) of year y. */
unsigned st_days_in_month(int64_t y, unsigned m);

#endif
