/*
 * check — "will this pipeline work?" answered before a real run
 * (`synctool check`, issue 14 item 1).
 *
 * check_run() connects to every datastore the selected pipelines use, all
 * at once (one thread per datastore) and each within a timeout, then
 * reports per pipeline: the source table reachable; every configured
 * column present with a compatible type (both types named when not); the
 * key a primary key or unique index (a warning otherwise); each delta
 * cursor indexed together with the key (a warning carrying the CREATE
 * INDEX to run); the destination present and matching (else the exact SQL
 * `ddl apply` would run, from sync_ddl_plan); the fencing table writable;
 * and, once, the state and lock store reachable. It changes nothing: the
 * fencing check runs inside a transaction that is rolled back.
 */
#ifndef ST_CHECK_H
#define ST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"

typedef enum { CHECK_OK = 0, CHECK_WARN, CHECK_PROBLEM } check_level;

typedef struct check_item {
    char name[48];         /* "source", "columns", "key", "cursor_index", ... */
    check_level level;
    char message[1024];
    char *sql;             /* the statement that fixes it, or NULL */
} check_item;

typedef struct check_report {
    char subject[160];     /* pipeline name, or "state" for the state/lock store */
    check_item *items;
    size_t n, cap;
} check_report;

/* Checks `only` (NULL: every pipeline) and the state/lock store. *out gets
 * one report per pipeline plus a last one for the store; free with
 * check_reports_free. Returns 0 or ST_ENOMEM. */
int check_run(const config *cfg, const config_pipeline *only, int64_t timeout_ms,
              check_report **out, size_t *n);
void check_reports_free(check_report *r, size_t n);

/* The worst level in a report. */
check_level check_worst(const check_report *r);
const char *check_level_name(check_level l);

#endif
