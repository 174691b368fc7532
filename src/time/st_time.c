/*
 * st_time — ISO-8601 parse/format and civil-date arithmetic (see st_time.h).
 *
 * Date arithmetic uses Howard Hinnant's days_from_civil algorithm, which is
 * exact for the proleptic Gregorian calendar and needs no tables, no libc
 * time zone state and no locale: the same input always gives the same
 * output, which is what the tests and the cron module need.
 *
 * The parser is a hand-written scanner over a fixed grammar rather than
 * strptime(): strptime accepts too much (it skips whitespace, ignores
 * trailing text) and has no notion of offsets or fractions.
 */
#include "st_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds. */
#define ST_TIME_MIN_SECS (-62167219200LL)
#define ST_TIME_MAX_SECS (253402300799LL)

int64_t st_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * ST_USEC + ts.tv_nsec / 1000;
}

int64_t st_time_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t st_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void st_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

unsigned st_days_in_month(int64_t y, unsigned m) {
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return 28 + (unsigned)leap;
    }
    return days[(m - 1) % 12];
}

/* Reads exactly `width` digits at *p. Returns 0 or -1. */
static int read_digits(const char **p, int width, int *out) {
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += width;
    *out = v;
    return 0;
}

static int expect(const char **p, char c) {
    if (**p != c) return -1;
    (*p)++;
    return 0;
}

/* Fraction after '.', 1-9 digits, rounded down to microseconds. */
static int read_fraction(const char **p, int64_t *usec) {
    int64_t v = 0;
    int n = 0;
    while (isdigit((unsigned char)**p)) {
        if (n < 6) v = v * 10 + (**p - '0');
        n++;
        (*p)++;
    }
    if (n == 0 || n > 9) return -1;
    for (int i = n; i < 6; i++) v *= 10;
    *usec = v;
    return 0;
}

/* Parses Z, +HH:MM, -HH:MM, +HHMM or +HH into seconds east of UTC. */
static int read_offset(const char **p, int64_t *off) {
    if (**p == '\0') { /* no offset: UTC (DESIGN §5), as the upstream tool writes */
        *off = 0;
        return 0;
    }
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *off = 0;
        return 0;
    }
    if (**p != '+' && **p != '-') return -1;
    int sign = **p == '-' ? -1 : 1;
    (*p)++;
    int hh, mm = 0;
    if (read_digits(p, 2, &hh) < 0 || hh > 23) return -1;
    if (**p == ':') {
        (*p)++; /* a colon must be followed by minutes: "+05:" is an error */
        if (read_digits(p, 2, &mm) < 0 || mm > 59) return -1;
    } else if (isdigit((unsigned char)**p) && (read_digits(p, 2, &mm) < 0 || mm > 59)) {
        return -1;
    }
    *off = sign * (hh * 3600 + mm * 60);
    return 0;
}

int st_time_parse(const char *s, int64_t *out, st_error *err) {
    if (s == NULL || *s == '\0')
        return st_error_set(err, ST_EINVAL, "empty timestamp");
    const char *p = s;
    int y, mo, d, h, mi, sec = 0;
    int64_t frac = 0, off = 0;
    if (read_digits(&p, 4, &y) < 0 || expect(&p, '-') < 0 ||
        read_digits(&p, 2, &mo) < 0 || expect(&p, '-') < 0 ||
        read_digits(&p, 2, &d) < 0)
        goto bad;
    if (*p != 'T' && *p != 't' && *p != ' ') goto bad;
    p++;
    if (read_digits(&p, 2, &h) < 0 || expect(&p, ':') < 0 ||
        read_digits(&p, 2, &mi) < 0)
        goto bad;
    if (*p == ':') {
        p++;
        if (read_digits(&p, 2, &sec) < 0) goto bad;
        if (*p == '.' || *p == ',') {
            p++;
            if (read_fraction(&p, &frac) < 0) goto bad;
        }
    }
    if (read_offset(&p, &off) < 0 || *p != '\0') goto bad;
    if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > st_days_in_month(y, (unsigned)mo) ||
        h > 23 || mi > 59 || sec > 59)
        return st_error_set(err, ST_EINVAL,
                            "invalid timestamp '%s': field out of range", s);
    int64_t days = st_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off;
    /* Keep every accepted instant printable by st_time_format and parseable
     * again: "0000-01-01T00:00:00+01:00" would be year -1 in UTC. */
    if (secs < ST_TIME_MIN_SECS || secs > ST_TIME_MAX_SECS)
        return st_error_set(err, ST_EINVAL,
                            "invalid timestamp '%s': outside years 0000-9999 in UTC", s);
    *out = secs * ST_USEC + frac;
    return ST_OK;
bad:
    return st_error_set(err, ST_EINVAL,
                        "invalid timestamp '%s': expected ISO-8601, "
                        "e.g. 2025-10-15T10:06:00Z (without an offset it is UTC)",
                        s);
}

/* v as exactly `width` decimal digits, zero-padded (v >= 0). */
static void time_digits(char *out, int v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void st_time_format(int64_t t, char *buf, size_t n) {
    if (t == ST_TIME_NONE) {
        snprintf(buf, n, "-");
        return;
    }
    int64_t secs = t / ST_USEC, us = t % ST_USEC;
    if (us < 0) {
        us += ST_USEC;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    st_civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600), mm = (int)(rem % 3600 / 60), ss = (int)(rem % 60);
    if (y >= 0 && y <= 9999 && n >= 28) {   /* by hand: the API writes thousands */
        time_digits(buf, (int)y, 4);
        buf[4] = '-';
        time_digits(buf + 5, (int)m, 2);
        buf[7] = '-';
        time_digits(buf + 8, (int)d, 2);
        buf[10] = 'T';
        time_digits(buf + 11, hh, 2);
        buf[13] = ':';
        time_digits(buf + 14, mm, 2);
        buf[16] = ':';
        time_digits(buf + 17, ss, 2);
        size_t k = 19;
        if (us) {
            buf[k++] = '.';
            time_digits(buf + k, (int)us, 6);
            k += 6;
        }
        buf[k++] = 'Z';
        buf[k] = '\0';
        return;
    }
    if (us)
        snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", (long long)y, m, d,
                 hh, mm, ss, (long long)us);
    else
        snprintf(buf, n, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, hh, mm,
                 ss);
}

void st_time_format_offset(int64_t t, int32_t offset, char *buf, size_t n) {
    if (t == ST_TIME_NONE || n < 8) {
        snprintf(buf, n, "-");
        return;
    }
    st_time_format(t + (int64_t)offset * ST_USEC, buf, n);
    size_t len = strlen(buf);
    if (len == 0 || buf[len - 1] != 'Z') return;
    int32_t a = offset < 0 ? -offset : offset;
    char sign = offset < 0 ? '-' : '+';
    if (a % 60)
        snprintf(buf + len - 1, n - (len - 1), "%c%02d:%02d:%02d", sign, (int)(a / 3600),
                 (int)(a % 3600 / 60), (int)(a % 60));
    else
        snprintf(buf + len - 1, n - (len - 1), "%c%02d:%02d", sign, (int)(a / 3600),
                 (int)(a % 3600 / 60));
}
