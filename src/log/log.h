/*
 * log — the one piece of global mutable state synctool allows.
 *
 * One line per event on stderr: `TIME LEVEL pipeline:strategy message`,
 * e.g. `2025-10-15T02:05:00Z info orders_sync:hash_daily Retrying skipped job
 * within current slot`. TIME is the wall clock unless log_set_time_override()
 * fixed it (the scheduler's --at does, so logs match the state it writes).
 * Messages never contain passwords: callers pass names, not connection strings.
 *
 * Run capture: between log_capture_begin() and log_capture_end() the lines
 * of one run (its pipeline's lines, and process-wide lines with no pipeline)
 * are also kept in memory, the last LOG_CAPTURE_MAX_LINES of them, at info
 * level or more detailed whatever the printing level, so each history entry
 * can carry its own log (`synctool logs RUN_ID`).
 */
#ifndef ST_LOG_H
#define ST_LOG_H

#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);

/* Parses "debug", "info", "warn"/"warning", "error". Returns 0 or ST_EINVAL. */
int log_level_parse(const char *s, log_level *out);

/* "debug", "info", "warn", "error" (what log_level_parse accepts). */
const char *log_level_name(log_level level);

/* 0 = use the wall clock (the default). */
void log_set_time_override(int64_t now_us);

/* pipeline/strategy may be NULL (printed as "-"). */
void log_event(log_level level, const char *pipeline, const char *strategy,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Lines kept per run (older ones are dropped, counted in a marker line). */
#define LOG_CAPTURE_MAX_LINES 500

/* Starts capturing the lines of `pipeline` (any strategy if NULL), dropping
 * whatever an earlier capture left. */
void log_capture_begin(const char *pipeline, const char *strategy);

/* Stops capturing and returns the captured lines, '\n'-terminated, as one
 * malloc'ed string (NULL when nothing was captured or out of memory). */
char *log_capture_end(void);

/* A line for the captured run log only, not printed (the caller reports the
 * same fact in its own words elsewhere, e.g. `run` on stdout). */
void log_capture_add(log_level level, const char *pipeline, const char *strategy,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A detail of a run: printed at debug level only, but always kept in the
 * captured run log (`synctool logs RUN_ID`, the dashboard's run page), so a
 * successful run prints one info line ("sync done" for `run`, "Run N
 * succeeded" under a scheduler) and keeps the rest. */
void log_detail(const char *pipeline, const char *strategy, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(p, s, ...) log_event(LOG_DEBUG, p, s, __VA_ARGS__)
#define log_info(p, s, ...) log_event(LOG_INFO, p, s, __VA_ARGS__)
#define log_warn(p, s, ...) log_event(LOG_WARN, p, s, __VA_ARGS__)
#define log_error(p, s, ...) log_event(LOG_ERROR, p, s, __VA_ARGS__)

#endif
