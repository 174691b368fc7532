/*
 * bench_cron — cron_next() calls per second (make bench; see bench/run).
 *
 * Measures, on one core, in the same run:
 *   - cron_next for `*` `/15 * * * *` in UTC (goal >= 2,000,000 calls/s);
 *   - cron_next for `0 2 * * *` in Europe/Berlin (TZif zone, DST lookups);
 *   - cron_next for `0 2 * * *` in UTC, and cron_prev in Berlin;
 *   - baseline: a naive next() that scans minute by minute and checks all
 *     five fields of each minute after decomposing it with
 *     st_civil_from_days (what a straightforward implementation does), for
 *     the same UTC expressions; the ratio column compares against it;
 *   - baseline: one st_civil_from_days call, the unit cost of date maths.
 * Each figure is the best of 3 rounds of about 0.3 s. Instants are spread
 * over ten years (2020-2030) by a fixed stride so caches and branch
 * predictors see varied input; a checksum keeps the work observable.
 * Benchmarks report; they never fail on a slow machine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../src/cron/cron.h"
#include "../src/time/st_time.h"

#define T2020 1577836800LL
#define TEN_YEARS (3653LL * 86400)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t instant(uint64_t i) {
    return (T2020 + (int64_t)((i * 7919ULL * 61ULL) % (uint64_t)TEN_YEARS)) * ST_USEC +
           (int64_t)(i % 1000) * 1000;
}

typedef int64_t (*bench_fn)(const void *arg, uint64_t i);

static volatile int64_t sink;

/* Calls fn for about 0.3 s, 3 rounds; returns the best calls per second. */
static double measure(bench_fn fn, const void *arg) {
    double best = 0;
    for (int round = 0; round < 3; round++) {
        uint64_t n = 0, batch = 4096;
        int64_t sum = 0;
        double t0 = now_s(), t1;
        do {
            for (uint64_t k = 0; k < batch; k++, n++) sum += fn(arg, n);
            t1 = now_s();
        } while (t1 - t0 < 0.3);
        sink = sum;
        double rate = (double)n / (t1 - t0);
        if (rate > best) best = rate;
    }
    return best;
}

static int64_t do_next(const void *arg, uint64_t i) {
    int64_t out = 0;
    cron_next(arg, instant(i), &out);
    return out;
}

static int64_t do_prev(const void *arg, uint64_t i) {
    int64_t out = 0;
    cron_prev(arg, instant(i), &out);
    return out;
}

/* The naive baseline: a matcher that steps minute by minute and checks all
 * five fields of each minute, decomposing it with st_civil_from_days. */
typedef struct naive_expr {
    unsigned char min[60], hour[24], dom[32], mon[13], dow[7];
} naive_expr;

static int64_t naive_next(const void *arg, uint64_t i) {
    const naive_expr *e = arg;
    int64_t m = instant(i) / ST_USEC / 60 + 1;
    for (;;) {
        int64_t y, day = m / 1440;
        unsigned mo, d;
        st_civil_from_days(day, &y, &mo, &d);
        int mi = (int)(m % 60), h = (int)(m / 60 % 24), wd = (int)((day + 4) % 7);
        if (e->min[mi] && e->hour[h] && e->dom[d] && e->mon[mo] && e->dow[wd])
            return m * 60 * ST_USEC;
        m++;
    }
}

static void naive_init(naive_expr *e, int step15) {
    for (int i = 0; i < 60; i++) e->min[i] = step15 ? i % 15 == 0 : i == 0;
    for (int i = 0; i < 24; i++) e->hour[i] = step15 ? 1 : i == 2;
    for (int i = 1; i < 32; i++) e->dom[i] = 1;
    for (int i = 1; i < 13; i++) e->mon[i] = 1;
    for (int i = 0; i < 7; i++) e->dow[i] = 1;
}

static int64_t civil_only(const void *arg, uint64_t i) {
    (void)arg;
    int64_t y;
    unsigned mo, d;
    st_civil_from_days(instant(i) / ST_USEC / 86400, &y, &mo, &d);
    return y + mo + d;
}

static cron_expr *parse_or_die(const char *expr, const char *tz) {
    cron_expr *c;
    st_error err;
    if (cron_parse(&c, expr, tz, &err) != ST_OK) {
        fprintf(stderr, "bench_cron: %s\n", err.msg);
        exit(1);
    }
    return c;
}

int main(void) {
    cron_expr *utc = parse_or_die("*/15 * * * *", NULL);
    cron_expr *daily = parse_or_die("0 2 * * *", NULL);
    cron_expr *ber = parse_or_die("0 2 * * *", "Europe/Berlin");
    naive_expr n15, n2;
    naive_init(&n15, 1);
    naive_init(&n2, 0);
    const struct {
        const char *name;
        bench_fn fn;
        const void *arg;
        int baseline; /* row index of its naive baseline, -1 for none */
    } rows[] = {
        {"cron_next */15 * * * *  UTC", do_next, utc, 4},
        {"cron_next 0 2 * * *  UTC", do_next, daily, 5},
        {"cron_next 0 2 * * *  Europe/Berlin", do_next, ber, 5},
        {"cron_prev 0 2 * * *  Europe/Berlin", do_prev, ber, 5},
        {"baseline: naive minute scan */15 UTC", naive_next, &n15, -1},
        {"baseline: naive minute scan 0 2 * * * UTC", naive_next, &n2, -1},
        {"baseline: one st_civil_from_days", civil_only, NULL, -1},
    };
    enum { NROWS = sizeof rows / sizeof rows[0] };
    double rate[NROWS];
    for (int i = 0; i < NROWS; i++) rate[i] = measure(rows[i].fn, rows[i].arg);
    printf("%-44s %14s %10s %14s\n", "case", "calls/s", "ns/call", "x naive scan");
    for (int i = 0; i < NROWS; i++) {
        printf("%-44s %14.0f %10.1f", rows[i].name, rate[i], 1e9 / rate[i]);
        if (rows[i].baseline >= 0) printf(" %13.1fx", rate[i] / rate[rows[i].baseline]);
        printf("\n");
    }
    printf("\ngoal: cron_next */15 * * * * UTC >= 2,000,000 calls/s on one core: %s (%.0f/s)\n",
           rate[0] >= 2e6 ? "met" : "NOT met", rate[0]);
    cron_free(utc);
    cron_free(daily);
    cron_free(ber);
    return 0;
}
