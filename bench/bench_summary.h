/*
 * bench_summary — one row of `make bench`'s summary table, appended to the
 * file bench/run names in SYNCTOOL_BENCH_SUMMARY (tab-separated: figure,
 * value, baseline, ratio, goal, met/MISSED). Shared by the C benchmarks;
 * nothing is written when the variable is unset (a benchmark run by hand).
 */
#ifndef ST_BENCH_SUMMARY_H
#define ST_BENCH_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static inline void bench_summary(const char *figure, const char *value, const char *base,
                                 const char *ratio, const char *goal, bool met) {
    const char *path = getenv("SYNCTOOL_BENCH_SUMMARY");
    if (path == NULL || path[0] == '\0') return;
    FILE *f = fopen(path, "a");
    if (f == NULL) return;
    fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\n", figure, value, base, ratio, goal,
            met ? "met" : "MISSED");
    fclose(f);
}

#endif
