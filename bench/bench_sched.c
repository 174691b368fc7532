/*
 * bench_sched — how many scheduling decisions per second one core makes.
 *
 * The workload is a fixed, seeded mix: 4096 (instant, state, cron) triples
 * over 60 days of instants, states drawn from none / success / skipped /
 * failed / pending / running with timestamps around the instant, and crons
 * `*``/15 * * * *`, `0 * * * *`, `0 2 * * *` in Europe/Berlin and
 * `0 0 * * 0`. Each figure is measured for about a second on the same data.
 *
 * The baseline, measured in the same run, is the pair cron_prev + cron_next
 * alone for the same (cron, instant) triples: the decision calls each once,
 * so "decision / pair" shows what the rules and the reason formatting add.
 * Goal (issue 3): >= 1,000,000 decisions per second on one core. A second
 * table breaks the rate down by cron, and one row measures sched_select over
 * a three-strategy pipeline (three decisions each).
 *
 * Benchmarks report; they never fail on a slow machine.
 */
#include "../src/config/config.h"
#include "../src/cron/cron.h"
#include "../src/sched/sched.h"
#include "../src/state/state.h"
#include "../src/time/st_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NCASES 4096
#define NCRONS 4

static const struct {
    const char *expr, *tz, *label;
} bench_crons[NCRONS] = {
    {"*/15 * * * *", NULL, "*/15 * * * *"},
    {"0 * * * *", NULL, "0 * * * * (hourly)"},
    {"0 2 * * *", "Europe/Berlin", "0 2 * * * Berlin"},
    {"0 0 * * 0", NULL, "0 0 * * 0 (weekly)"},
};

typedef struct {
    int64_t now;
    int cron;
    bool has_state;
    state_record st;
} bench_case;

static uint64_t bench_rng = 0x5eedbe7cULL;

static int64_t bench_rand(int64_t lo, int64_t hi) {
    bench_rng ^= bench_rng >> 12;
    bench_rng ^= bench_rng << 25;
    bench_rng ^= bench_rng >> 27;
    return lo + (int64_t)((bench_rng * 2685821657736338717ULL) % (uint64_t)(hi - lo + 1));
}

static double bench_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One of the six state kinds, with timestamps around `now`. */
static void bench_fill_state(bench_case *c, int kind) {
    int64_t now = c->now, m = 60 * ST_USEC;
    memset(&c->st, 0, sizeof c->st);
    c->has_state = kind != 0;
    c->st.last_run = now - bench_rand(1, 48 * 60) * m;
    c->st.last_scheduled_at = now - bench_rand(0, 120) * m;
    c->st.last_attempted_at = c->st.last_scheduled_at + bench_rand(0, 30) * ST_USEC;
    c->st.retry_count = bench_rand(0, 4);
    c->st.updated_at = ST_TIME_NONE;
    static const state_status kinds[] = {STATE_IDLE,   STATE_SUCCESS, STATE_SKIPPED,
                                         STATE_FAILED, STATE_PENDING, STATE_RUNNING};
    c->st.status = kinds[kind];
    if (kind == 4) c->st.last_scheduled_at = now - bench_rand(0, 400) * ST_USEC;
}

static void bench_build(bench_case *cases) {
    int64_t base = 1760486400LL * ST_USEC; /* 2025-10-15T00:00:00Z */
    for (int i = 0; i < NCASES; i++) {
        cases[i].now = base + bench_rand(0, 60LL * 86400) * ST_USEC;
        cases[i].cron = i % NCRONS;
        bench_fill_state(&cases[i], (int)bench_rand(0, 5));
    }
}

typedef struct {
    cron_expr *crons[NCRONS];
    bench_case *cases;
    int only_cron;   /* -1: all */
    long sink;
} bench_ctx;

/* Runs `fn` over the cases in rounds until ~1 s has passed; ops per second. */
static double bench_rate(bench_ctx *b, long (*fn)(bench_ctx *, const bench_case *)) {
    long ops = 0;
    double t0 = bench_seconds(), t;
    do {
        for (int i = 0; i < NCASES; i++) {
            const bench_case *c = &b->cases[i];
            if (b->only_cron >= 0 && c->cron != b->only_cron) continue;
            b->sink += fn(b, c);
            ops++;
        }
        t = bench_seconds() - t0;
    } while (t < 1.0);
    return (double)ops / t;
}

static long bench_decide(bench_ctx *b, const bench_case *c) {
    static const sched_settings s = {.max_retry_count = 3, .fallback_window_s = 1800,
                                     .buffer_s = 60};
    sched_decision d;
    sched_should_run(c->has_state ? &c->st : NULL, b->crons[c->cron], NULL, c->now, &s, &d);
    return d.run + d.reason[0];
}

static long bench_pair(bench_ctx *b, const bench_case *c) {
    int64_t prev = 0, next = 0;
    cron_prev(b->crons[c->cron], c->now, &prev);
    cron_next(b->crons[c->cron], c->now, &next);
    return (long)((next - prev) & 0xff);
}

/* sched_select over delta every 15 min, hash daily Berlin, full weekly. */
static long bench_select(bench_ctx *b, const bench_case *c) {
    static config_strategy cs[3] = {
        {.name = "delta_15m", .cron = "*/15 * * * *", .enabled = true},
        {.name = "hash_daily", .cron = "0 2 * * *", .timezone = "Europe/Berlin", .enabled = true},
        {.name = "full_weekly", .cron = "0 0 * * 0", .enabled = true},
    };
    config_pipeline p = {.name = "orders", .strategies = cs, .nstrategies = 3,
                         .retry = {.max_retry_count = 3, .safe_fallback_window_minutes = 30,
                                   .schedule_buffer_seconds = 60}};
    const cron_expr *crons[3] = {b->crons[0], b->crons[2], b->crons[3]};
    const state_record *st = c->has_state ? &c->st : NULL;
    const state_record *states[3] = {st, st, st};
    sched_decision d[3];
    return sched_select(&p, crons, states, c->now, d);
}

static void bench_row(const char *what, double rate, double baseline, const char *goal) {
    printf("%-34s %14.0f %14.0f %8.2f  %s\n", what, rate, baseline, rate / baseline, goal);
}

int main(void) {
    bench_ctx b = {.only_cron = -1};
    b.cases = calloc(NCASES, sizeof *b.cases);
    if (b.cases == NULL) return 1;
    for (int i = 0; i < NCRONS; i++) {
        st_error err;
        if (cron_parse(&b.crons[i], bench_crons[i].expr, bench_crons[i].tz, &err) != ST_OK) {
            fprintf(stderr, "bench_sched: cron '%s': %s\n", bench_crons[i].expr, err.msg);
            return 1;
        }
    }
    bench_build(b.cases);
    printf("%-34s %14s %14s %8s  %s\n", "figure (per second, one core)", "rate",
           "baseline", "ratio", "goal");
    double pair = bench_rate(&b, bench_pair);
    double dec = bench_rate(&b, bench_decide);
    bench_row("decisions, mixed states and crons", dec, pair,
              dec >= 1e6 ? ">= 1,000,000/s: met" : ">= 1,000,000/s: NOT met");
    double sel = bench_rate(&b, bench_select);
    bench_row("selections, 3 strategies", sel, pair / 3, "(baseline: pairs/3)");
    printf("\nbaseline = cron_prev + cron_next pairs on the same instants\n\n");
    printf("%-34s %14s %14s %8s\n", "by cron", "decisions", "pairs", "ratio");
    for (int i = 0; i < NCRONS; i++) {
        b.only_cron = i;
        double p = bench_rate(&b, bench_pair), d = bench_rate(&b, bench_decide);
        printf("%-34s %14.0f %14.0f %8.2f\n", bench_crons[i].label, d, p, d / p);
    }
    for (int i = 0; i < NCRONS; i++) cron_free(b.crons[i]);
    free(b.cases);
    return b.sink == 42 ? 2 : 0; /* keep the work observable */
}
