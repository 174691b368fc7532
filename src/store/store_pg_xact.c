/*
 * store_pg_xact — PostgreSQL's answers to "how far may a delta watermark
 * advance?" (store_ops.xact_floor, column_stamped; DESIGN §7).
 *
 * now() in PostgreSQL is the start of the transaction, so a row written
 * by a transaction still in progress carries a stamp no older than that
 * transaction's pg_stat_activity.xact_start. One statement reads, in this
 * order: now() (its own start), then pg_stat_activity (a snapshot of every
 * backend, taken when the view is first read): any transaction the later
 * reads of the run cannot see was either in that snapshot or began after
 * now(). The floor is therefore the least of now() and the xact_start of
 * every other client backend of this database with a transaction open —
 * with or without a transaction id yet, since one that has only read so
 * far may still write rows stamped with its start. A backend that has
 * received a statement but not yet reported its transaction start shows
 * state 'active' with query_start: that counts as well (only the few
 * instructions between a backend reading the clock for a new statement
 * and reporting it are not covered). Other databases
 * are left out (a transaction cannot write into another database).
 *
 * Visibility: other roles' sessions show xact_start NULL unless this role
 * has pg_read_all_stats (or is superuser): then `blind` is set and the
 * caller falls back to a lookback. A TIMESTAMP WITHOUT TIME ZONE column
 * written by now() holds the wall time of the writer's TimeZone; the offset
 * reported is that of the session default before synctool set UTC
 * (pg_settings.reset_val), at the floor instant. A standby (in recovery)
 * shows none of the primary's transactions, whose rows arrive as they
 * commit there: it is reported `standby` (and blind).
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char PG_FLOOR_SQL[] =
    "SELECT floor(extract(epoch FROM now()) * 1000000)::int8, "
    "floor(extract(epoch FROM a.t) * 1000000)::int8, a.pid, "
    "pg_has_role('pg_read_all_stats', 'USAGE'), "
    "floor(extract(epoch FROM (least(a.t, now()) AT TIME ZONE z.reset_val) - "
    "(least(a.t, now()) AT TIME ZONE 'UTC')) * 1000000)::int8, pg_is_in_recovery() "
    "FROM (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone') z "
    "LEFT JOIN LATERAL (SELECT least(xact_start, CASE WHEN state = 'active' "
    "THEN query_start END) AS t, pid FROM pg_stat_activity "
    "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' "
    "AND datid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND (xact_start IS NOT NULL OR state = 'active') "
    "ORDER BY 1 NULLS LAST LIMIT 1) a ON true";

static int64_t pg_int(PGresult *res, int col, bool *null) {
    *null = PQgetisnull(res, 0, col);
    return *null ? 0 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

int store_pg_xact_floor(void *impl, store_xact_floor *f, st_error *err) {
    PGresult *res = PQexec(store_pg_conn(impl), PG_FLOOR_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return store_pg_fail(impl, res, err, "reading open transactions");
    bool null_now, null_t, null_off;
    f->now = pg_int(res, 0, &null_now);
    int64_t t = pg_int(res, 1, &null_t);
    f->open = !null_t && t < f->now;
    f->floor = f->open ? t : f->now;
    if (f->open) snprintf(f->who, sizeof f->who, "pid %s", PQgetvalue(res, 0, 2));
    f->blind = strcmp(PQgetvalue(res, 0, 3), "t") != 0;
    if (f->blind) snprintf(f->grant, sizeof f->grant, "pg_read_all_stats");
    f->standby = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
    if (f->standby) {
        f->blind = true;
        f->grant[0] = '\0';
    }
    f->wall_offset = pg_int(res, 4, &null_off);
    f->offset_known = !null_off;
    PQclear(res);
    return ST_OK;
}

int store_pg_column_stamped(void *impl, const char *schema, const char *table, const char *col,
                            bool *stamped, st_error *err) {
    static const char sql[] =
        "SELECT EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = c.oid "
        "AND a.attname = $3 AND pg_get_expr(d.adbin, d.adrelid) ~* "
        "'(now\\(\\)|current_timestamp|localtimestamp|clock_timestamp\\(\\)|"
        "statement_timestamp\\(\\)|transaction_timestamp\\(\\))') "
        "OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2";
    const char *p[3] = {schema, table, col};
    PGresult *res = PQexecParams(store_pg_conn(impl), sql, 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return store_pg_fail(impl, res, err, "reading the cursor column's default");
    *stamped = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return ST_OK;
}
