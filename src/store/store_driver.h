/*
 * store_driver — what store.c needs from each driver (internal).
 */
#ifndef ST_STORE_DRIVER_H
#define ST_STORE_DRIVER_H

#include "store_backend.h"

const struct store_ops *store_sqlite_driver(void);
const struct store_ops *store_pg_driver(void);
const struct store_ops *store_mysql_driver(void);

/* The driver of ds's type (store.c: the one place that maps a datastore
 * type to a driver). */
const struct store_ops *store_ops_for(const config_datastore *ds);
/* The driver's connection state of s (store_engine.c calls methods with it). */
void *store_impl(const store *s);
/* rc, with err's message scrubbed of s's secrets when rc is an error (what
 * every error a store returns goes through). */
int store_scrub_rc(const store *s, int rc, st_error *err);
/* ST_ERR and a message when a streaming read is open on s. */
int store_refuse_busy(const store *s, st_error *err);

/* What a secret is shown as (config.h). */
#define STORE_HIDDEN CONFIG_HIDDEN

/* The first line of `msg` into out[n] (n > 0; cut short rather than
 * overflow, never inside a replacement), with every occurrence of each of
 * `secrets` (NULL-terminated; NULL for none) shown as STORE_HIDDEN:
 * overlapping or adjacent occurrences become one. Drivers reduce server
 * messages with it; store.c passes every error a store returns through it
 * with the datastore's secrets (config.h). */
void store_scrub(char *out, size_t n, const char *msg, const char *const *secrets);

#endif
