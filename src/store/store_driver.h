/*
 * store_driver — what store.c needs from each driver (internal).
 */
#ifndef ST_STORE_DRIVER_H
#define ST_STORE_DRIVER_H

#include "store.h"

const struct store_ops *store_sqlite_driver(void);
const struct store_ops *store_pg_driver(void);
const struct store_ops *store_mysql_driver(void);

#endif
