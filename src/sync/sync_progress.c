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
 * table: its ETA is an upper bound) and the segments for hash, until
 * hash's row pass (sync_hash_rows.c) streams digests: from then on it
 * follows the source rows whose digests were compared, of the estimated
 * rows, at the pace since the pass began (issue 25: the pass compares no
 * segment, so a 3.7 s run over 2M rows showed "ETA 288s" from the few
 * rows it fetched). An ETA is the work left over the pace so far: with a
 * steady pace it falls by one second a second, and it is 0 once the
 * figure reaches its total.
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
 *   sync_local.c      (store_sqlite_local.c) statements and one-row reads, no
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
 * (the publisher below) for the API and the dashboard's run page.
 *
 * The clock here is the monotonic one and is used for display and the run
 * duration only, never for a decision.
 */
#include "sync_int.h"

#include "../log/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SYNC_PROGRESS_PUBLISH_US (5 * 1000000)
/* A run's first figures are published once it has lasted this long: a
 * shorter run opens no state connection for them (issue 25: a connection
 * per small job in a worker). */
#define SYNC_PROGRESS_FIRST_US (250 * 1000)

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

/* Seconds left when `done` of `total` took `secs`; 0 once done. */
static double left_of(double done, double total, double secs) {
    return done >= total ? 0 : (total - done) * secs / done;
}

void sync_progress_figures_at(const sync_progress *p, const state_stats *s, int64_t now,
                              sync_progress_figures *f) {
    double secs = (double)(now - p->start_us) / 1e6;
    f->written = s->rows_inserted + s->rows_updated + s->rows_deleted;
    f->rate = secs > 0 ? (double)s->rows_read / secs : 0;
    f->left = -1;
    if (p->compare_start_us > 0 || p->rows_compared > 0) {
        /* hash's row pass: its digests at its own pace (unknown until the
         * first are counted; the rows it fetched are no measure of it) */
        int64_t t0 = p->compare_start_us > 0 ? p->compare_start_us : p->start_us;
        double in = (double)(now - t0) / 1e6;
        if (p->total > 0 && in > 0 && p->rows_compared > 0)
            f->left = left_of((double)p->rows_compared, (double)p->total, in);
    } else if (p->total_segments > 0 && s->segments_compared > 0 && secs > 0) {
        f->left = left_of((double)s->segments_compared, (double)p->total_segments, secs);
    } else if (p->total > 0 && s->rows_read > 0 && secs > 0) {
        f->left = left_of((double)s->rows_read, (double)p->total, secs);
    }
}

/* "rows 120 of ~1000 read (12%), 40 written, segments 3 of ~10, 50 rows/s, ETA 18s";
 * hash's row pass adds ", row digests 5000 of ~10000 compared" after the
 * segments, a parallel run ", ranges 1 of 4 done" before the rate. Its ranges
 * update the figures from their threads, one at a time (sync_parallel.c
 * holds its mutex around sync_progress_update). */
static void describe(const sync_progress *p, const state_stats *s, int64_t now, char *buf,
                     size_t n) {
    sync_progress_figures f;
    sync_progress_figures_at(p, s, now, &f);
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "rows %lld", (long long)s->rows_read);
    if (p->total > 0)
        k += (size_t)snprintf(buf + k, n - k, " of ~%lld", (long long)p->total);
    k += (size_t)snprintf(buf + k, n - k, " read, %lld written, segments %lld",
                          (long long)f.written, (long long)s->segments_compared);
    if (p->total_segments > 0 && k < n)
        k += (size_t)snprintf(buf + k, n - k, " of ~%lld", (long long)p->total_segments);
    if (p->rows_compared > 0 && k < n) {
        k += (size_t)snprintf(buf + k, n - k, ", row digests %lld", (long long)p->rows_compared);
        if (p->total > 0 && k < n)
            k += (size_t)snprintf(buf + k, n - k, " of ~%lld", (long long)p->total);
        if (k < n) k += (size_t)snprintf(buf + k, n - k, " compared");
    }
    if (p->ranges_total > 1 && k < n)   /* parallel: N (sync_parallel.c) */
        k += (size_t)snprintf(buf + k, n - k, ", ranges %d of %d done", p->ranges_done,
                              p->ranges_total);
    if (k < n) k += (size_t)snprintf(buf + k, n - k, ", %.0f rows/s", f.rate);
    if (f.left >= 0 && k < n) snprintf(buf + k, n - k, ", ETA %.0fs", f.left);
}

/* --- the progress record in state ---------------------------------------
 *
 * A run with a run id publishes its figures (state_progress_put) for the
 * API and the dashboard's run page. The run's thread only takes a snapshot
 * after each batch or segment (a copy under a mutex); a publisher thread,
 * on a state connection of its own (cfg->state_url: the run's handle is
 * not shared across threads), writes the newest snapshot once the run has
 * lasted SYNC_PROGRESS_FIRST_US, then at most every SYNC_PROGRESS_PUBLISH_US,
 * and the last ones when the run's sync ends (its record still says
 * running); a run that ends sooner publishes nothing (its figures are in
 * its history entry a moment later). So figures reach the
 * API even when the run then blocks for long in one read or lock wait (the
 * rows it committed just before are not held back until the next batch),
 * and a run never waits on the state store for them. The row estimate is
 * asked for once the run has lasted one interval (a short run never pays
 * for the source query, and never meets a lock on the source's view there).
 * A failed write is logged at debug, never fails the run. */

typedef struct sync_publisher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, dirty;
    state_progress rec;        /* the newest snapshot */
    int64_t start_us;          /* the run's start (sync_clock_us) */
    int64_t first_us;          /* the first publish this long after it */
    const backend_url *url;
    const char *pipeline, *strategy;
} sync_publisher;

static void *publisher_main(void *arg) {
    sync_publisher *pb = arg;
    state *st = NULL;
    st_error err;
    int64_t last = 0;
    pthread_mutex_lock(&pb->mu);
    while (!pb->stop || pb->dirty) {   /* stopping: the last figures first */
        int64_t now = sync_clock_us();
        if (pb->stop && last == 0 && now - pb->start_us < pb->first_us) {
            pb->dirty = false;   /* a short run: its figures go to history only */
            break;
        }
        bool first_due = last == 0 && now - pb->start_us >= pb->first_us;
        if (pb->dirty && (pb->stop || first_due || (last != 0 &&
                                                    now - last >= SYNC_PROGRESS_PUBLISH_US))) {
            state_progress rec = pb->rec;
            pb->dirty = false;
            last = now;
            pthread_mutex_unlock(&pb->mu);
            int rc = st ? ST_OK : state_open(&st, pb->url, &err);
            if (rc == ST_OK) rc = state_progress_put(st, pb->pipeline, pb->strategy, &rec, &err);
            if (rc != ST_OK) {
                log_debug(pb->pipeline, pb->strategy, "progress not published: %s", err.msg);
                state_close(st);
                st = NULL;
            }
            pthread_mutex_lock(&pb->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait_us = !pb->dirty ? 1000000
                          : last == 0 ? pb->start_us + pb->first_us - now
                                      : SYNC_PROGRESS_PUBLISH_US - (now - last);
        if (wait_us < 1) wait_us = 1;
        ts.tv_sec += wait_us / 1000000;
        ts.tv_nsec += (wait_us % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pb->cv, &pb->mu, &ts);
    }
    pthread_mutex_unlock(&pb->mu);
    state_close(st);
    return NULL;
}

/* Starts the publisher (p->pub stays NULL if it cannot: no figures then). */
static void publisher_start(sync_progress *p) {
    const sync_opts *o = p->c->o;
    sync_publisher *pb = calloc(1, sizeof *pb);
    if (pb == NULL) return;
    pthread_mutex_init(&pb->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pb->cv, &ca);
    pthread_condattr_destroy(&ca);
    pb->url = &o->cfg->state_url;
    pb->start_us = p->start_us;
    pb->first_us = o->progress_first_us > 0 ? o->progress_first_us
                   : o->progress_first_us < 0 ? 0 : SYNC_PROGRESS_FIRST_US;
    pb->pipeline = o->pipeline->name;
    pb->strategy = o->strategy->name;
    if (pthread_create(&pb->thread, NULL, publisher_main, pb) != 0) {
        pthread_cond_destroy(&pb->cv);
        pthread_mutex_destroy(&pb->mu);
        free(pb);
        return;
    }
    p->pub = pb;
}

static void publisher_stop(sync_progress *p) {
    sync_publisher *pb = p->pub;
    if (pb == NULL) return;
    pthread_mutex_lock(&pb->mu);
    pb->stop = true;
    pthread_cond_signal(&pb->cv);
    pthread_mutex_unlock(&pb->mu);
    pthread_join(pb->thread, NULL);
    pthread_cond_destroy(&pb->cv);
    pthread_mutex_destroy(&pb->mu);
    free(pb);
    p->pub = NULL;
}

/* Hands the publisher the run's figures as of now. */
static void publish(sync_progress *p, const state_stats *s, int64_t now) {
    const sync_opts *o = p->c->o;
    if (p->pub == NULL) publisher_start(p);
    if (p->pub == NULL) return;
    /* the row estimate (a source query, up to 500 ms on a view) only for a
     * run that has lasted one interval: short runs never pay for it */
    if (now - p->start_us >= SYNC_PROGRESS_PUBLISH_US) estimate(p);
    sync_progress_figures f;
    sync_progress_figures_at(p, s, now, &f);
    state_progress rec = {.run_id = o->run_id, .at = o->now + (now - p->start_us),
                          .rows_read = s->rows_read, .rows_inserted = s->rows_inserted,
                          .rows_updated = s->rows_updated, .rows_deleted = s->rows_deleted,
                          .rows_expected = p->total, .segments_compared = s->segments_compared,
                          .segments_expected = p->total_segments, .rows_per_s = f.rate,
                          .eta_s = f.left};
    pthread_mutex_lock(&p->pub->mu);
    p->pub->rec = rec;
    p->pub->dirty = true;
    pthread_cond_signal(&p->pub->cv);
    pthread_mutex_unlock(&p->pub->mu);
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

void sync_progress_compare_begin(sync_progress *p) {
    if (p->compare_start_us == 0) p->compare_start_us = sync_clock_us();
}

void sync_progress_compared(sync_ctx *c, int64_t n) {
    if (n <= 0) return;
    c->prog.rows_compared += n;
    if (c->par != NULL) sync_parallel_report(c);
    else sync_progress_update(&c->prog, c->stats, false);
}

void sync_progress_end(sync_progress *p, const state_stats *s) {
    publisher_stop(p);
    if (p->on) {
        sync_progress_update(p, s, true);
        fputc('\n', stderr);
    } else if (p->log && p->logged > 0) {
        sync_progress_update(p, s, true); /* a long run: its last figures */
    }
}
