/*
 * sync_progress — how far a run is: a line on a terminal, log lines
 * elsewhere.
 *
 * On a terminal (opts->progress and stderr is a TTY): one line, rewritten
 * in place with '\r' at most five times a second: rows read of the
 * expected total, rows written, segments compared (of the expected ones
 * for hash), the rate and an ETA. Not on a terminal (a scheduler's job, a
 * pipe): one info log line every progress_interval_s (default 30 s), so a
 * run that lasts longer than that says how far it is and a short one says
 * nothing.
 *
 * Totals are estimates, asked for only when first needed (a short run in
 * log mode never pays for them), on a connection of their own
 * (sync_estimate_rows opens one to the source and closes it): by then the
 * run's source connection is usually streaming a read, and a statement
 * sent on it would break that read (PostgreSQL: the FETCH in flight taken
 * by the side query, then "reading rows: " with no cause, or "no COPY in
 * progress"; MySQL: "Commands out of sync"). The estimate never reads a
 * slow source for long (store_estimate_rows: statistics, a count that
 * ends within 500 ms, else the planner's estimate; SQLite counts). For
 * hash, the expected leaf segments are the rows over segment_rows. The ETA
 * follows the rows for full and delta (a delta reads at most the whole
 * table: its ETA is an upper bound) and the segments for hash.
 *
 * Audit (issue 20): no statement is sent on a connection while a cursor,
 * COPY or streamed result is open on it, for the three drivers. store.c
 * enforces it: while store_query's reader or a native read is open, every
 * other statement on that store fails with "internal error: a statement
 * was sent while a streaming read is open on the same connection" instead
 * of corrupting the stream. Where streams are open and what runs meanwhile:
 *   sync_full.c       the source stream (cursor / streamed result / SQLite
 *                     statement) stays open for the run; destination pages
 *                     (query_small, materialised), batch transactions, the
 *                     fencing check and COPY-in all run on the destination
 *                     connection; progress on its own connection.
 *   sync_full_copy.c  the source COPY out stays open; COPY-in batches, the
 *                     fencing check and relax_commit run on the destination.
 *   sync_delta.c      a page's source reader is open while the page streams
 *                     into the destination (sync_batch_stream: destination
 *                     only); the NULL-cursor count runs before the first
 *                     page, the watermark goes to the state store; the
 *                     reader is closed before the next page's query.
 *   sync_hash*.c      range and segment queries are materialised lists
 *                     (sync_list_load: read to the end, then closed); the
 *                     row pass (sync_hash_rows.c) opens one digest stream
 *                     per side, compares, and closes both before fetching
 *                     and writing (fetch_and_merge).
 *   sync_diff.c       records in memory; the hash queries as above.
 *   sync_local.c      statements only (INSERT ... SELECT across ATTACH), no
 *                     reader held across another statement.
 *   check.c           one reader, read and closed before the next statement.
 *   store_pg.c        a cursor reader's own CLOSE / COMMIT run in its
 *                     reader_close, after the FETCH in flight is collected.
 * Reads wait interruptibly (store_ops.set_interrupt, fed the run's
 * SIGINT/SIGTERM flag in sync.c): PostgreSQL polls the socket every 100 ms
 * and cancels the statement, MySQL uses non-blocking reads and cuts the
 * connection, SQLite's progress handler ends the step; the read fails with
 * ST_EINTR and the run stops within one network read.
 *
 * A run with a run id and a state store also publishes its figures there
 * (publish below) for the API and the dashboard's run page.
 *
 * The clock here is the monotonic one and is used for display and the run
 * duration only, never for a decision.
 */
#include "sync_int.h"

#include "../log/log.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define SYNC_PROGRESS_PUBLISH_US (5 * 1000000)

int64_t sync_clock_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sync_progress_start(sync_progress *p, bool want, int64_t total) {
    p->on = want && isatty(STDERR_FILENO);
    p->log = !p->on && p->interval_us > 0;
    p->start_us = p->last_us = sync_clock_us();
    p->total = total;
    p->estimated = total > 0;
}

static void estimate(sync_progress *p) {
    if (p->estimated || p->c == NULL) return;
    p->estimated = true;
    p->total = sync_estimate_rows(p->c);
    if (p->c->o->strategy->type == CONFIG_STRATEGY_HASH && p->total > 0) {
        int64_t seg = p->c->o->strategy->segment_rows > 0 ? p->c->o->strategy->segment_rows : 1000;
        p->total_segments = (p->total + seg - 1) / seg;
    }
}

/* The figures of the line and of the published record, computed once. */
typedef struct progress_figures {
    int64_t written;
    double rate;   /* rows read per second */
    double left;   /* ETA in seconds, < 0 unknown */
} progress_figures;

static void figures(const sync_progress *p, const state_stats *s, int64_t now,
                    progress_figures *f) {
    double secs = (double)(now - p->start_us) / 1e6;
    f->written = s->rows_inserted + s->rows_updated + s->rows_deleted;
    f->rate = secs > 0 ? (double)s->rows_read / secs : 0;
    f->left = -1;
    if (p->total_segments > 0 && s->segments_compared > 0 && secs > 0) {
        double segrate = (double)s->segments_compared / secs;
        f->left = s->segments_compared >= p->total_segments
                      ? 0 : (double)(p->total_segments - s->segments_compared) / segrate;
    } else if (p->total > 0 && f->rate > 0) {
        f->left = s->rows_read >= p->total ? 0 : (double)(p->total - s->rows_read) / f->rate;
    }
}

/* "rows 120 of ~1000 read (12%), 40 written, segments 3 of ~10, 50 rows/s, ETA 18s" */
static void describe(const sync_progress *p, const state_stats *s, int64_t now, char *buf,
                     size_t n) {
    progress_figures f;
    figures(p, s, now, &f);
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "rows %lld", (long long)s->rows_read);
    if (p->total > 0)
        k += (size_t)snprintf(buf + k, n - k, " of ~%lld", (long long)p->total);
    k += (size_t)snprintf(buf + k, n - k, " read, %lld written, segments %lld",
                          (long long)f.written, (long long)s->segments_compared);
    if (p->total_segments > 0 && k < n)
        k += (size_t)snprintf(buf + k, n - k, " of ~%lld", (long long)p->total_segments);
    if (k < n) k += (size_t)snprintf(buf + k, n - k, ", %.0f rows/s", f.rate);
    if (f.left >= 0 && k < n) snprintf(buf + k, n - k, ", ETA %.0fs", f.left);
}

/* The progress record in state (state_progress_put) that the API shows for
 * the running run: written with the first figures and then at most every
 * SYNC_PROGRESS_PUBLISH_US, one small meta write each, so a dashboard
 * refreshing every 5 s sees a run move. Its instant is the run's start plus
 * the monotonic time elapsed (no second clock). The row estimate is asked
 * for at once by full and hash runs, which read the whole table anyway;
 * a delta run asks only once it has lasted one interval (a short delta
 * never pays for it). A failed write is logged at debug, never fails the
 * run. */
static void publish(sync_progress *p, const state_stats *s, int64_t now) {
    if (p->published_us && now - p->published_us < SYNC_PROGRESS_PUBLISH_US) return;
    const sync_opts *o = p->c->o;
    if (o->strategy->type != CONFIG_STRATEGY_DELTA || p->published_us) estimate(p);
    p->published_us = now;
    progress_figures f;
    figures(p, s, now, &f);
    state_progress rec = {.run_id = o->run_id, .at = o->now + (now - p->start_us),
                          .rows_read = s->rows_read, .rows_inserted = s->rows_inserted,
                          .rows_updated = s->rows_updated, .rows_deleted = s->rows_deleted,
                          .rows_expected = p->total, .segments_compared = s->segments_compared,
                          .segments_expected = p->total_segments, .rows_per_s = f.rate,
                          .eta_s = f.left};
    st_error err;
    if (state_progress_put(o->st, o->pipeline->name, o->strategy->name, &rec, &err) != ST_OK)
        log_debug(p->pipeline, p->strategy, "progress not published: %s", err.msg);
}

void sync_progress_update(sync_progress *p, const state_stats *s, bool force) {
    if (!p->on && !p->log && !p->publish) return;
    int64_t now = sync_clock_us();
    if (p->publish) publish(p, s, now);
    if (!p->on && !p->log) return;
    if (p->on && !force && now - p->last_us < 200000) return;
    /* off a terminal the interval always holds, except for the last figures
     * of a run that already logged (a forced update mid-run is for the TTY) */
    if (p->log && now - p->last_us < p->interval_us && !(force && p->logged > 0)) return;
    p->last_us = now;
    estimate(p);
    char line[512];
    describe(p, s, now, line, sizeof line);
    if (p->on) {
        fprintf(stderr, "\r%s   ", line);
        fflush(stderr);
    } else {
        log_info(p->pipeline, p->strategy, "progress: %s", line);
        p->logged++;
    }
}

void sync_progress_end(sync_progress *p, const state_stats *s) {
    if (p->on) {
        sync_progress_update(p, s, true);
        fputc('\n', stderr);
    } else if (p->log && p->logged > 0) {
        sync_progress_update(p, s, true); /* a long run: its last figures */
    }
}
