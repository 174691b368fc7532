/*
 * log — one line per event on stderr (see log.h).
 *
 * The whole line is formatted into one buffer and written with a single
 * fputs so lines from concurrent worker processes sharing a terminal or a
 * log file do not interleave mid-line.
 *
 * The run capture is a ring of LOG_CAPTURE_MAX_LINES malloc'ed lines behind
 * a mutex (a worker's heartbeat thread logs too); when it overflows, the
 * oldest lines go and log_capture_end() says how many were dropped.
 */
#include "log.h"

#include "../error/st_error.h"
#include "../time/st_time.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static log_level g_level = LOG_INFO;
/* set by a worker around a job, read by every thread that logs */
static _Atomic int64_t g_time_override = 0;

static struct {
    pthread_mutex_t mu;
    bool on;
    char pipeline[128], strategy[128];
    char *lines[LOG_CAPTURE_MAX_LINES];
    size_t first, count, dropped;
} g_cap = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void capture_clear(void) {
    for (size_t i = 0; i < LOG_CAPTURE_MAX_LINES; i++) {
        free(g_cap.lines[i]);
        g_cap.lines[i] = NULL;
    }
    g_cap.first = g_cap.count = g_cap.dropped = 0;
}

void log_capture_begin(const char *pipeline, const char *strategy) {
    pthread_mutex_lock(&g_cap.mu);
    capture_clear();
    g_cap.on = true;
    snprintf(g_cap.pipeline, sizeof g_cap.pipeline, "%s", pipeline ? pipeline : "");
    snprintf(g_cap.strategy, sizeof g_cap.strategy, "%s", strategy ? strategy : "");
    pthread_mutex_unlock(&g_cap.mu);
}

/* Is this line part of the captured run? Lines of other pipelines are not;
 * process-wide lines (no pipeline) are. */
static bool capture_wants(const char *pipeline, const char *strategy) {
    if (!g_cap.on) return false;
    if (pipeline == NULL) return true;
    if (strcmp(pipeline, g_cap.pipeline) != 0) return false;
    return strategy == NULL || g_cap.strategy[0] == '\0' ||
           strcmp(strategy, g_cap.strategy) == 0;
}

static void capture_line(const char *pipeline, const char *strategy, const char *line) {
    pthread_mutex_lock(&g_cap.mu);
    if (capture_wants(pipeline, strategy)) {
        char *copy = strdup(line);
        if (copy != NULL) {
            size_t slot = (g_cap.first + g_cap.count) % LOG_CAPTURE_MAX_LINES;
            if (g_cap.count == LOG_CAPTURE_MAX_LINES) {
                free(g_cap.lines[g_cap.first]);
                g_cap.first = (g_cap.first + 1) % LOG_CAPTURE_MAX_LINES;
                g_cap.dropped++;
            } else {
                g_cap.count++;
            }
            g_cap.lines[slot] = copy;
        }
    }
    pthread_mutex_unlock(&g_cap.mu);
}

char *log_capture_end(void) {
    pthread_mutex_lock(&g_cap.mu);
    size_t len = 64;
    for (size_t i = 0; i < g_cap.count; i++)
        len += strlen(g_cap.lines[(g_cap.first + i) % LOG_CAPTURE_MAX_LINES]);
    char *out = g_cap.count ? malloc(len) : NULL;
    if (out != NULL) {
        size_t at = 0;
        if (g_cap.dropped)
            at = (size_t)snprintf(out, 64, "... %zu earlier lines dropped ...\n", g_cap.dropped);
        for (size_t i = 0; i < g_cap.count; i++) {
            const char *l = g_cap.lines[(g_cap.first + i) % LOG_CAPTURE_MAX_LINES];
            size_t n = strlen(l);
            memcpy(out + at, l, n);
            at += n;
        }
        out[at] = '\0';
    }
    capture_clear();
    g_cap.on = false;
    pthread_mutex_unlock(&g_cap.mu);
    return out;
}

void log_set_level(log_level level) { g_level = level; }
log_level log_get_level(void) { return g_level; }
void log_set_time_override(int64_t now_us) { g_time_override = now_us; }

const char *log_level_name(log_level level) {
    switch (level) {
    case LOG_DEBUG: return "debug";
    case LOG_WARN: return "warn";
    case LOG_ERROR: return "error";
    default: return "info";
    }
}

int log_level_parse(const char *s, log_level *out) {
    static const struct { const char *name; log_level level; } names[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN},
        {"warning", LOG_WARN}, {"error", LOG_ERROR},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (s != NULL && strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return ST_OK;
        }
    }
    return ST_EINVAL;
}

static const char *level_name(log_level level) {
    switch (level) {
    case LOG_DEBUG: return "debug";
    case LOG_INFO: return "info";
    case LOG_WARN: return "warn";
    default: return "error";
    }
}

/* Formats one line "TIME LEVEL p:s message\n" into line[n]. */
static void format_line(char *line, size_t size, log_level level, const char *pipeline,
                        const char *strategy, const char *fmt, va_list ap) {
    char when[40];
    st_time_format(g_time_override ? g_time_override : st_time_now(), when, sizeof when);
    int n = snprintf(line, size, "%s %s %s:%s ", when, level_name(level),
                     pipeline ? pipeline : "-", strategy ? strategy : "-");
    if (n < 0 || (size_t)n >= size) n = 0;
    vsnprintf(line + n, size - (size_t)n - 1, fmt, ap);
    size_t len = strlen(line);
    line[len] = '\n';
    line[len + 1] = '\0';
}

void log_event(log_level level, const char *pipeline, const char *strategy,
               const char *fmt, ...) {
    bool print = level >= g_level;
    bool keep = __atomic_load_n(&g_cap.on, __ATOMIC_RELAXED) &&
                level >= (g_level < LOG_INFO ? g_level : LOG_INFO);
    if (!print && !keep) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    format_line(line, sizeof line, level, pipeline, strategy, fmt, ap);
    va_end(ap);
    if (print) fputs(line, stderr);
    if (keep) capture_line(pipeline, strategy, line);
}

void log_detail(const char *pipeline, const char *strategy, const char *fmt, ...) {
    bool print = LOG_DEBUG >= g_level;
    bool keep = __atomic_load_n(&g_cap.on, __ATOMIC_RELAXED);
    if (!print && !keep) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    format_line(line, sizeof line, print ? LOG_DEBUG : LOG_INFO, pipeline, strategy, fmt, ap);
    va_end(ap);
    if (print) fputs(line, stderr);
    if (keep) capture_line(pipeline, strategy, line);
}

void log_capture_add(log_level level, const char *pipeline, const char *strategy,
                     const char *fmt, ...) {
    if (!__atomic_load_n(&g_cap.on, __ATOMIC_RELAXED)) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    format_line(line, sizeof line, level, pipeline, strategy, fmt, ap);
    va_end(ap);
    capture_line(pipeline, strategy, line);
}
