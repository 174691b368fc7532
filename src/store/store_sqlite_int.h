/*
 * store_sqlite_int — what store_sqlite.c's ops table takes from the
 * driver's other files (store_sqlite_ddl.c; internal).
 */
#ifndef ST_STORE_SQLITE_INT_H
#define ST_STORE_SQLITE_INT_H

#include "store_backend.h"

/* SQLite type affinity of a declared type ('I', 'T', 'B', 'R', 'N'). */
char store_sqlite_affinity(const char *decl);
store_fit store_sqlite_column_fit(const char *have, store_kind kind, const char *want);
int store_sqlite_migrate_table(store *s, const store_table *t, const store_column_info *have,
                               size_t nhave, int64_t *rows, st_error *err);
bool store_sqlite_ddl_caveat(const char *column, const char *type, const char *datastore,
                             char *msg, size_t n);
void store_sqlite_create_index_sql(store_sb *b, const char *schema, const char *index,
                                   const char *table, const char *const *cols, size_t n);
int store_sqlite_read_while_write(void *impl, const config_datastore *sd,
                                  const config_datastore *dd, st_error *err);

/* Registers st_null_tally(v) on s's connection: it returns 0 and adds 1 to
 * *counter when v is NULL; counter NULL removes it (store_sqlite.c). */
int store_sqlite_null_tally(store *s, int64_t *counter, st_error *err);

/* store_ops.local (store_sqlite_local.c). */
extern const struct store_local_ops store_sqlite_local_ops;

#endif
