/*
 * sync_progress — the progress line on stderr.
 *
 * Only when asked (opts->progress) and stderr is a terminal: one line,
 * rewritten in place with '\r' at most five times a second, showing rows
 * read and written, segments compared, the rate and (when the total is
 * known) an ETA. Nothing at all otherwise, so logs and pipes stay clean.
 * The clock here is the monotonic one and is used for display and the run
 * duration only, never for a decision.
 */
#include "sync_int.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

int64_t sync_clock_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sync_progress_start(sync_progress *p, bool want, int64_t total) {
    p->on = want && isatty(STDERR_FILENO);
    p->start_us = p->last_us = sync_clock_us();
    p->total = total;
}

void sync_progress_update(sync_progress *p, const state_stats *s, bool force) {
    if (!p->on) return;
    int64_t now = sync_clock_us();
    if (!force && now - p->last_us < 200000) return;
    p->last_us = now;
    double secs = (double)(now - p->start_us) / 1e6;
    double rate = secs > 0 ? (double)s->rows_read / secs : 0;
    fprintf(stderr, "\rrows %lld read, %lld written, segments %lld, %.0f rows/s",
            (long long)s->rows_read,
            (long long)(s->rows_inserted + s->rows_updated + s->rows_deleted),
            (long long)s->segments_compared, rate);
    if (p->total > 0 && rate > 0 && s->rows_read <= p->total)
        fprintf(stderr, ", ETA %.0fs   ", (double)(p->total - s->rows_read) / rate);
    fflush(stderr);
}

void sync_progress_end(sync_progress *p, const state_stats *s) {
    if (!p->on) return;
    sync_progress_update(p, s, true);
    fputc('\n', stderr);
}
