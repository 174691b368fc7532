/*
 * store_pg_params — the libpq connection parameters of a PostgreSQL
 * datastore, in one place for every connection synctool opens to one: the
 * store driver's (store_pg.c) and the cdc module's replication connection
 * (src/cdc/cdc_repl.c), which differ only in application_name and the
 * replication/options keys.
 */
#ifndef ST_STORE_PG_PARAMS_H
#define ST_STORE_PG_PARAMS_H

#include "../config/config.h"

#define STORE_PG_PARAMS_KEYS 16

typedef struct store_pg_params {
    const char *keys[STORE_PG_PARAMS_KEYS], *vals[STORE_PG_PARAMS_KEYS]; /* NULL-terminated */
    char port[16];
} store_pg_params;

/* Fills c from ds (host, user, password, dbname, sslmode, port,
 * connect_timeout 10, client_encoding UTF8, application_name app) plus
 * `replication` and `options` when not NULL; c->keys/c->vals go to
 * PQconnectdbParams. c must outlive that call (port is kept inside). */
void store_pg_params_fill(store_pg_params *c, const config_datastore *ds, const char *app,
                          const char *replication, const char *options);

#endif
