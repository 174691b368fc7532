/*
 * log — one line per event on stderr (see log.h).
 *
 * The whole line is formatted into one buffer and written with a single
 * fputs so lines from concurrent worker processes sharing a terminal or a
 * log file do not interleave mid-line.
 */
#include "log.h"

#include "../error/st_error.h"
#include "../time/st_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static log_level g_level = LOG_INFO;
static int64_t g_time_override = 0;

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

void log_event(log_level level, const char *pipeline, const char *strategy,
               const char *fmt, ...) {
    if (level < g_level) return;
    char when[40];
    st_time_format(g_time_override ? g_time_override : st_time_now(), when,
                   sizeof when);
    char line[2048];
    int n = snprintf(line, sizeof line, "%s %s %s:%s ", when, level_name(level),
                     pipeline ? pipeline : "-", strategy ? strategy : "-");
    if (n < 0 || (size_t)n >= sizeof line) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}
