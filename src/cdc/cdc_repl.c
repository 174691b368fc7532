/*
 * cdc_repl — the replication connection of the cdc strategy (cdc.h), in
 * the shape of PostgreSQL's pg_recvlogical: connect with
 * replication=database, create a slot (with an exported snapshot) or
 * START_REPLICATION on one, then one read loop over PQgetCopyData.
 *
 * CopyData messages from the server: 'w' XLogData (Int64 WAL start, Int64
 * WAL end, Int64 send time, then one pgoutput message) and 'k' keepalive
 * (Int64 WAL end, Int64 send time, Byte1 reply requested). From us: 'r'
 * standby status update (Int64 written, Int64 flushed, Int64 applied,
 * Int64 time in microseconds since 2000-01-01, Byte1 0), always saying the
 * confirmed LSN for all three: nothing is reported received that the
 * destination has not committed, so a kill at any moment replays from the
 * last confirmed transaction.
 *
 * The end of a run: the walsender, once it has decoded everything flushed,
 * sends a keepalive whose WAL end is the position it has decoded up to;
 * when that reaches the caller's stop LSN, every transaction that
 * committed before it has been sent (cdc_repl_next returns 0). Should no
 * keepalive come, a second of silence returns CDC_IDLE and the caller reads
 * the same position from pg_stat_replication.sent_lsn on another session.
 *
 * Waits poll the socket in steps of 100 ms and end with ST_EINTR when the
 * interrupt flag is up (a command in progress, such as creating a slot,
 * which waits for the server's open transactions, is cancelled).
 * Connection errors are scrubbed of the datastore's secrets (store_scrub)
 * and name the datastore.
 */
#include "cdc.h"
#include "../store/store_driver.h"
#include "../store/store_pg_params.h"
#include "../time/st_time.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cdc_repl {
    PGconn *conn;
    char name[128];
    const char *const *secrets;
    atomic_int *intr;
    char *buf;           /* the last CopyData (PQfreemem) */
    uint64_t confirmed;
    int64_t last_status_ms;
};

static int repl_fail(cdc_repl *r, PGresult *res, st_error *err, const char *what) {
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (m == NULL || *m == '\0') m = PQerrorMessage(r->conn);
    char clean[sizeof err->msg];
    store_scrub(clean, sizeof clean, m ? m : "", r->secrets);
    size_t n = strlen(clean);
    while (n > 0 && (clean[n - 1] == '\n' || clean[n - 1] == ' ')) clean[--n] = '\0';
    int code = PQstatus(r->conn) != CONNECTION_OK ? ST_EUNAVAIL : ST_ERR;
    st_error_set(err, code, "datastore '%s' (postgres): %s: %s", r->name, what,
                 clean[0] ? clean : "the connection to the server was lost");
    PQclear(res);
    return code;
}

int cdc_repl_open(cdc_repl **out, const config_datastore *ds, st_error *err) {
    *out = NULL;
    cdc_repl *r = calloc(1, sizeof *r);
    if (r == NULL) return st_error_set(err, ST_ENOMEM, "out of memory");
    snprintf(r->name, sizeof r->name, "%s", ds->name);
    r->secrets = (const char *const *)ds->secrets;
    store_pg_params cp;
    store_pg_params_fill(&cp, ds, "synctool-cdc", "database",
                         "-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=1 "
                         "-c IntervalStyle=postgres -c bytea_output=hex");
    r->conn = PQconnectdbParams(cp.keys, cp.vals, 0);
    if (r->conn == NULL || PQstatus(r->conn) != CONNECTION_OK) {
        char clean[sizeof err->msg];
        store_scrub(clean, sizeof clean, r->conn ? PQerrorMessage(r->conn) : "out of memory",
                    r->secrets);
        char *nl = strchr(clean, '\n');
        if (nl) *nl = '\0';
        bool priv = strstr(clean, "replication") != NULL;
        st_error_set(err, ST_EUNAVAIL, "datastore '%s' (postgres): cannot open a replication "
                     "connection: %s%s%s%s", ds->name, clean,
                     priv ? " (the cdc strategy needs a role with the REPLICATION attribute: "
                            "ALTER ROLE " : "",
                     priv ? (ds->user ? ds->user : "the_role") : "",
                     priv ? " REPLICATION)" : "");
        cdc_repl_close(r);
        return ST_EUNAVAIL;
    }
    *out = r;
    return ST_OK;
}

void cdc_repl_close(cdc_repl *r) {
    if (r == NULL) return;
    if (r->buf) PQfreemem(r->buf);
    PQfinish(r->conn);
    free(r);
}

void cdc_repl_set_interrupt(cdc_repl *r, atomic_int *flag) { r->intr = flag; }

/* Runs one replication command, waiting in steps of 100 ms: on the
 * interrupt flag the command is cancelled (creating a slot waits for every
 * transaction open on the server to end, which may take long). Returns its
 * first result (the rest are drained); NULL with err filled on failure. */
static PGresult *repl_exec(cdc_repl *r, const char *sql, st_error *err, const char *what) {
    if (PQsendQuery(r->conn, sql) != 1) {
        repl_fail(r, NULL, err, what);
        return NULL;
    }
    bool cancelled = false;
    while (PQisBusy(r->conn)) {
        if (!cancelled && r->intr != NULL && *r->intr) {
            PGcancel *cn = PQgetCancel(r->conn);
            char buf[256];
            if (cn) PQcancel(cn, buf, sizeof buf);
            PQfreeCancel(cn);
            cancelled = true;
        }
        struct pollfd p = {.fd = PQsocket(r->conn), .events = POLLIN};
        poll(&p, 1, 100);
        if (PQconsumeInput(r->conn) != 1) break;
    }
    PGresult *res = PQgetResult(r->conn), *extra;
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COPY_BOTH)
        while ((extra = PQgetResult(r->conn)) != NULL) PQclear(extra);
    if (cancelled && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_COPY_BOTH) {
        PQclear(res);
        st_error_set(err, ST_EINTR, "datastore '%s' (postgres): %s: interrupted", r->name, what);
        return NULL;
    }
    return res;
}

/* Slot names are made by cdc_slot_name: [a-z0-9_] only, safe to quote. */
int cdc_repl_create_slot(cdc_repl *r, const char *slot, uint64_t *lsn, char snapshot[64],
                         st_error *err) {
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput EXPORT_SNAPSHOT",
             slot);
    st_error werr = {0};
    PGresult *res = repl_exec(r, sql, &werr, "creating the replication slot");
    if (res == NULL && werr.code != ST_OK) {
        *err = werr;
        return werr.code;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3)
        return repl_fail(r, res, err, "creating the replication slot");
    int rc = cdc_lsn_parse(PQgetvalue(res, 0, 1), lsn);
    snprintf(snapshot, 64, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    if (rc != ST_OK)
        return st_error_set(err, ST_ERR, "datastore '%s' (postgres): creating the replication "
                            "slot: unexpected consistent point", r->name);
    return ST_OK;
}

int cdc_repl_drop_slot(cdc_repl *r, const char *slot, st_error *err) {
    char sql[160];
    snprintf(sql, sizeof sql, "DROP_REPLICATION_SLOT \"%s\" WAIT", slot);
    st_error werr = {0};
    PGresult *res = repl_exec(r, sql, &werr, "dropping the replication slot");
    if (res == NULL && werr.code != ST_OK) {
        *err = werr;
        return werr.code;
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        return repl_fail(r, res, err, "dropping the replication slot");
    PQclear(res);
    return ST_OK;
}

int cdc_repl_start(cdc_repl *r, const char *slot, const char *pub, uint64_t lsn, st_error *err) {
    char sql[512], at[32];
    cdc_lsn_format(lsn, at);
    snprintf(sql, sizeof sql, "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', "
             "publication_names '\"%s\"')", slot, at, pub);
    PGresult *res = PQexec(r->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_BOTH)
        return repl_fail(r, res, err, "starting replication");
    PQclear(res);
    r->confirmed = lsn;
    r->last_status_ms = st_time_mono_ms();
    return ST_OK;
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

/* Microseconds between the Unix and the PostgreSQL epoch (2000-01-01). */
#define PG_EPOCH_US 946684800000000LL

static int send_status(cdc_repl *r, st_error *err) {
    unsigned char m[34];
    m[0] = 'r';
    put64(m + 1, r->confirmed);
    put64(m + 9, r->confirmed);
    put64(m + 17, r->confirmed);
    put64(m + 25, (uint64_t)(st_time_now() - PG_EPOCH_US));
    m[33] = 0;
    if (PQputCopyData(r->conn, (const char *)m, sizeof m) <= 0 || PQflush(r->conn) != 0)
        return repl_fail(r, NULL, err, "sending the confirmed position");
    r->last_status_ms = st_time_mono_ms();
    return ST_OK;
}

int cdc_repl_confirm(cdc_repl *r, uint64_t lsn, st_error *err) {
    if (lsn > r->confirmed) r->confirmed = lsn;
    return send_status(r, err);
}

/* One wait for the socket (<= 100 ms); ST_EINTR on the interrupt flag. A
 * status update goes out every 10 s so wal_sender_timeout never ends us. */
static int wait_socket(cdc_repl *r, st_error *err) {
    if (r->intr != NULL && *r->intr)
        return st_error_set(err, ST_EINTR, "interrupted");
    if (st_time_mono_ms() - r->last_status_ms > 10000) {
        int rc = send_status(r, err);
        if (rc != ST_OK) return rc;
    }
    struct pollfd p = {.fd = PQsocket(r->conn), .events = POLLIN};
    if (p.fd < 0) return repl_fail(r, NULL, err, "reading changes");
    poll(&p, 1, 100);
    if (PQconsumeInput(r->conn) != 1) return repl_fail(r, NULL, err, "reading changes");
    return ST_OK;
}

int cdc_repl_pid(const cdc_repl *r) { return PQbackendPID(r->conn); }

int cdc_repl_next(cdc_repl *r, uint64_t stop, cdc_data *d, st_error *err) {
    int64_t since = st_time_mono_ms();
    for (;;) {
        if (r->buf) { PQfreemem(r->buf); r->buf = NULL; }
        int n = PQgetCopyData(r->conn, &r->buf, 1);
        if (n == 0) {
            if (st_time_mono_ms() - since >= 1000) return CDC_IDLE;
            int rc = wait_socket(r, err);
            if (rc != ST_OK) return rc;
            continue;
        }
        if (n < 0) {
            PGresult *res = PQgetResult(r->conn);
            return repl_fail(r, res, err, "reading changes");
        }
        const unsigned char *b = (const unsigned char *)r->buf;
        if (b[0] == 'w' && n >= 25) {
            d->start = get64(b + 1);
            d->wal_end = get64(b + 9);
            d->msg = b + 25;
            d->len = (size_t)n - 25;
            return 1;
        }
        if (b[0] == 'k' && n >= 18) {
            d->wal_end = get64(b + 1);
            if (b[17]) {
                int rc = send_status(r, err);
                if (rc != ST_OK) return rc;
            }
            if (stop != 0 && d->wal_end >= stop) return 0;
            since = st_time_mono_ms();
            continue;
        }
        return st_error_set(err, ST_ERR, "datastore '%s' (postgres): reading changes: "
                            "unexpected message 0x%02x", r->name, b[0]);
    }
}

int cdc_repl_stop(cdc_repl *r, st_error *err) {
    if (PQputCopyEnd(r->conn, NULL) != 1 || PQflush(r->conn) != 0)
        return repl_fail(r, NULL, err, "ending replication");
    int64_t until = st_time_mono_ms() + 5000;
    for (;;) {
        if (r->buf) { PQfreemem(r->buf); r->buf = NULL; }
        int n = PQgetCopyData(r->conn, &r->buf, 1);
        if (n < 0) break;
        if (n > 0) continue;
        if (st_time_mono_ms() > until) return ST_OK;   /* closing ends it anyway */
        struct pollfd p = {.fd = PQsocket(r->conn), .events = POLLIN};
        poll(&p, 1, 100);
        if (PQconsumeInput(r->conn) != 1) return ST_OK;
    }
    PGresult *res;
    while ((res = PQgetResult(r->conn)) != NULL) PQclear(res);
    return ST_OK;
}
