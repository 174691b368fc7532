/*
 * bench_json — the streaming JSON writer (src/json/json_write.c) against
 * jansson's encoder for the largest document synctool prints: a history of
 * 100,000 runs (`history --json`, the API's run lists), each object written
 * by state_run_write_json().
 *
 *   writer:  json_writer + state_run_write_json per run, into one buffer
 *            (what the CLI and the API do);
 *   jansson: the same objects built as a json_t tree (json_object_set_new
 *            per field, json_array_append_new per run), then json_dumps()
 *            with JSON_COMPACT | JSON_REAL_PRECISION(15) — what json.h's
 *            begin/end API would have to do on top of jansson, since a
 *            caller closes the outer array only after the last run.
 *
 * Runs are generated one at a time (as a backend cursor hands them over), so
 * memory is the output and, for jansson, the tree. Each measurement runs in
 * its own forked process: time is wall time of the writing alone, memory the
 * growth of that process's peak RSS (ru_maxrss) while writing. Median of
 * REPS, interleaved (writer, jansson, jansson, writer, ...). It also reports
 * whether the two outputs are byte-identical (they are not: jansson prints
 * an integral real as 4.0 where the writer prints 4, and escapes control
 * characters as \u001F where the writer prints \u001f). Benchmarks report;
 * they never fail on a slow machine.
 */
#include <jansson.h>

/* jansson's null. Not json_null(): libsynctool's writer exports a
 * json_null() too, and the static library's symbol wins at link time. The
 * parsed null is jansson's singleton (no reference counting). */
static json_t *jnull(void) {
    static json_t *null;
    if (null == NULL) null = json_loads("null", JSON_DECODE_ANY, NULL);
    return null;
}

/* jansson.h and json.h share names (json_type, JSON_NULL/STRING/ARRAY/
 * OBJECT, json_string(), jnull()): json.h's are renamed for this file,
 * as in src/json/json_read.c. */
#define json_type st_json_type
#define JSON_NULL ST_JSON_NULL
#define JSON_BOOL ST_JSON_BOOL
#define JSON_NUMBER ST_JSON_NUMBER
#define JSON_STRING ST_JSON_STRING
#define JSON_ARRAY ST_JSON_ARRAY
#define JSON_OBJECT ST_JSON_OBJECT
#define json_string st_json_writer_string
#define json_null st_json_writer_null
#include "../src/json/json.h"
#include "../src/state/state.h"
#include "../src/time/st_time.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NRUNS 100000
#define REPS 5

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Run i of the history: varied statuses, durations (some whole seconds),
 * messages, and an error with a quote, non-ASCII text and a control byte. */
static void make_run(state_run *r, int i) {
    memset(r, 0, sizeof *r);
    int64_t t0 = 1760522760LL * ST_USEC;
    snprintf(r->pipeline, sizeof r->pipeline, "pipeline_%04d", i % 1000);
    snprintf(r->strategy, sizeof r->strategy, "%s", i % 3 ? "delta_15m" : "hash_daily");
    state_history_entry *e = &r->entry;
    e->run_id = i + 1;
    e->status = i % 10 == 0 ? STATE_FAILED : i % 7 == 0 ? STATE_SKIPPED : STATE_SUCCESS;
    e->started_at = t0 - (int64_t)i * 60 * ST_USEC;
    e->finished_at = e->started_at + (int64_t)(i % 4 ? 4637 + i % 1000 : 4000) * 1000;
    e->retry_count = i % 3;
    snprintf(e->worker, sizeof e->worker, "host-%d:%d", i % 3, 1000 + i % 50);
    snprintf(e->message, sizeof e->message, "synced %d rows", i % 5000);
    if (e->status == STATE_FAILED)
        snprintf(e->error, sizeof e->error, "relation \"orders_%d\" does not exist "
                 "(caf\xc3\xa9 \x01)", i);
    e->stats.seconds = e->status == STATE_SKIPPED ? 0 : 3.5 + (i % 100) / 100.0;
    e->stats.rows_read = i % 5000;
    e->stats.rows_inserted = i % 70;
    e->stats.rows_updated = i % 30;
}

static char *write_with_writer(size_t *len) {
    json_writer w;
    json_init(&w);
    json_begin_array(&w);
    state_run r;
    for (int i = 0; i < NRUNS; i++) {
        make_run(&r, i);
        state_run_write_json(&w, &r, false);
    }
    json_end_array(&w);
    *len = w.len;
    return w.buf;   /* the caller frees */
}

static json_t *text_or_null(const char *s) {
    return s[0] ? json_stringn(s, strlen(s)) : jnull();
}

static json_t *time_value(int64_t t) {
    char b[40];
    if (t == ST_TIME_NONE) return jnull();
    st_time_format(t, b, sizeof b);
    return json_stringn(b, strlen(b));
}

/* The fields state_run_write_json writes, in its order. */
static json_t *run_object(const state_run *r) {
    const state_history_entry *e = &r->entry;
    json_t *o = json_object();
    const char *st = state_status_name(e->status);
    int64_t total_ms = (e->finished_at - e->started_at) / 1000;
    bool executed = e->status == STATE_SUCCESS || e->status == STATE_FAILED;
    int64_t exec_ms = executed ? (int64_t)(e->stats.seconds * 1000.0 + 0.5) : 0;
    if (exec_ms > total_ms) exec_ms = total_ms;
    json_object_set_new(o, "run_id", json_integer(e->run_id));
    json_object_set_new(o, "pipeline", json_stringn(r->pipeline, strlen(r->pipeline)));
    json_object_set_new(o, "strategy", json_stringn(r->strategy, strlen(r->strategy)));
    json_object_set_new(o, "status", json_stringn(st, strlen(st)));
    json_object_set_new(o, "started_at", time_value(e->started_at));
    json_object_set_new(o, "finished_at", time_value(e->finished_at));
    json_object_set_new(o, "duration_s", json_real((double)total_ms / 1000.0));
    json_object_set_new(o, "execution_s",
                        executed ? json_real((double)exec_ms / 1000.0) : jnull());
    json_object_set_new(o, "waiting_s", json_real((double)(total_ms - exec_ms) / 1000.0));
    json_object_set_new(o, "retry_count", json_integer(e->retry_count));
    json_object_set_new(o, "worker", text_or_null(e->worker));
    json_object_set_new(o, "message", text_or_null(e->message));
    json_object_set_new(o, "error", text_or_null(e->error));
    json_object_set_new(o, "rows_read", json_integer(e->stats.rows_read));
    json_object_set_new(o, "rows_inserted", json_integer(e->stats.rows_inserted));
    json_object_set_new(o, "rows_updated", json_integer(e->stats.rows_updated));
    json_object_set_new(o, "rows_deleted", json_integer(e->stats.rows_deleted));
    json_object_set_new(o, "rows_null_cursor", json_integer(e->stats.rows_null_cursor));
    json_object_set_new(o, "segments_compared", json_integer(e->stats.segments_compared));
    json_object_set_new(o, "segments_skipped", json_integer(e->stats.segments_skipped));
    return o;
}

static char *write_with_jansson(size_t *len) {
    json_t *all = json_array();
    state_run r;
    for (int i = 0; i < NRUNS; i++) {
        make_run(&r, i);
        json_array_append_new(all, run_object(&r));
    }
    char *out = json_dumps(all, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(all);
    *len = out ? strlen(out) : 0;
    return out;
}

typedef struct sample {
    double ms;
    long rss_kib;
    size_t bytes;
} sample;

/* One measurement in a fresh process. */
static sample measure(bool jansson) {
    int fds[2];
    sample s = {0};
    if (pipe(fds) != 0) return s;
    pid_t pid = fork();
    if (pid == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long before = ru.ru_maxrss;
        double a = now_s();
        char *out = jansson ? write_with_jansson(&s.bytes) : write_with_writer(&s.bytes);
        s.ms = (now_s() - a) * 1e3;
        getrusage(RUSAGE_SELF, &ru);
        s.rss_kib = ru.ru_maxrss - before;
        free(out);
        ssize_t k = write(fds[1], &s, sizeof s);
        _exit(k == (ssize_t)sizeof s ? 0 : 1);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], &s, sizeof s) != (ssize_t)sizeof s) memset(&s, 0, sizeof s);
    close(fds[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    return s;
}

static void median(sample *v, double *ms, double *lo, double *hi, double *mib) {
    double t[REPS], m[REPS];
    for (int i = 0; i < REPS; i++) t[i] = v[i].ms, m[i] = v[i].rss_kib / 1024.0;
    qsort(t, REPS, sizeof t[0], cmp_d);
    qsort(m, REPS, sizeof m[0], cmp_d);
    *ms = t[REPS / 2];
    *lo = t[0];
    *hi = t[REPS - 1];
    *mib = m[REPS / 2];
}

int main(void) {
    sample w[REPS], j[REPS];
    for (int i = 0; i < REPS; i++) {
        bool writer_first = i % 2 == 0;
        if (writer_first) w[i] = measure(false);
        j[i] = measure(true);
        if (!writer_first) w[i] = measure(false);
    }
    size_t lw, lj;
    char *a = write_with_writer(&lw), *b = write_with_jansson(&lj);
    bool same = a && b && lw == lj && memcmp(a, b, lw) == 0;
    free(a);
    free(b);
    double wm, wlo, whi, wmib, jm, jlo, jhi, jmib;
    median(w, &wm, &wlo, &whi, &wmib);
    median(j, &jm, &jlo, &jhi, &jmib);
    printf("| figure (%d runs, history --json) | writer | jansson tree + json_dumps | ratio |\n",
           NRUNS);
    printf("|---|---|---|---|\n");
    printf("| time | %.1f ms (%.1f-%.1f) | %.1f ms (%.1f-%.1f) | %.2fx |\n", wm, wlo, whi, jm,
           jlo, jhi, wm > 0 ? jm / wm : 0);
    printf("| peak RSS growth | %.1f MiB | %.1f MiB | %.2fx |\n", wmib, jmib,
           wmib > 0 ? jmib / wmib : 0);
    printf("| output | %zu bytes | %zu bytes | byte-identical: %s |\n", lw, lj, same ? "yes" : "no");
    return 0;
}
