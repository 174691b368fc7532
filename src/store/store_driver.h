/*
 * store_driver — what store.c needs from each driver (internal).
 */
#ifndef ST_STORE_DRIVER_H
#define ST_STORE_DRIVER_H

#include "store.h"

const struct store_ops *store_sqlite_driver(void);
const struct store_ops *store_pg_driver(void);
const struct store_ops *store_mysql_driver(void);

/* The first line of a server's error message `msg`, with every occurrence of
 * `secret` (a password; NULL for none) replaced by ***, into out[n]. Drivers
 * pass connection errors through it before they reach st_error. */
void store_scrub(char *out, size_t n, const char *msg, const char *secret);

#endif
