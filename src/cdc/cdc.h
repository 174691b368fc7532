/*
 * cdc — change data capture from PostgreSQL's write-ahead log (DESIGN §7).
 *
 * Four parts, each its own file, used by the `cdc` strategy
 * (src/sync/sync_cdc.c) and `synctool cdc drop` (src/cli/cmd_cdc.c):
 *
 *   cdc_names.c    the replication slot and publication of a pipeline:
 *                  "synctool_" + the pipeline name lowercased with every
 *                  character outside [a-z0-9_] made '_', cut to 40 bytes,
 *                  + "_" + the first 8 hex digits of md5(pipeline name):
 *                  at most 58 bytes (PostgreSQL allows 63), distinct for
 *                  distinct pipelines, and recognisable as synctool's.
 *   cdc_pgoutput.c the parser of the `pgoutput` plugin's messages (protocol
 *                  version 1; PostgreSQL docs, "Logical Replication Message
 *                  Formats"): Begin, Commit, Relation, Insert, Update,
 *                  Delete, Truncate, with TupleData columns 'n' (NULL), 'u'
 *                  (an unchanged TOASTed value, not sent) and 't' (text).
 *                  Pure: bytes in, a struct out; unit-tested on hand-built
 *                  buffers (tests/unit/test_cdc.c).
 *   cdc_repl.c     the replication connection (libpq, replication=database):
 *                  CREATE_REPLICATION_SLOT ... LOGICAL pgoutput
 *                  EXPORT_SNAPSHOT, START_REPLICATION SLOT ... LOGICAL,
 *                  one read loop over PQgetCopyData that hands back XLogData
 *                  ('w') payloads and answers keepalives ('k'), and standby
 *                  status updates ('r') that confirm an LSN — sent only
 *                  when the caller says the destination committed it.
 *   cdc_figures.c  what a run records about its slot (retained WAL, lag,
 *                  the start of the last complete run) in the state store,
 *                  read by status, the API, /metrics and the freshness
 *                  alerts, which never query the source.
 *
 * The session of the replication connection sets DateStyle ISO, TimeZone
 * UTC, extra_float_digits 1, IntervalStyle postgres and bytea_output hex
 * (as store_pg does for reads): pgoutput writes every value with its type's
 * output function in that session, so the text is PostgreSQL's output form,
 * which sync_cdc.c turns into the canonical text of store.h.
 *
 * What this module does not do: decide what a change means for the
 * destination (sync_cdc.c), or run SQL on an ordinary connection (the slot's
 * catalog rows, publications: sync_cdc.c through the store).
 */
#ifndef ST_CDC_H
#define ST_CDC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config/config.h"
#include "../error/st_error.h"
#include "../state/state.h"

/* --- Names (cdc_names.c) --- */

#define CDC_NAME_MAX 64   /* buffer size for a slot or publication name */

/* The slot and the publication of `pipeline` (the same name for both). */
/* Whether ds can be a cdc source (logical decoding: PostgreSQL only). The
 * one place outside the store drivers that names an engine for cdc: the
 * cdc module is PostgreSQL's change capture. */
bool cdc_source_supported(const config_datastore *ds);

void cdc_slot_name(const char *pipeline, char out[CDC_NAME_MAX]);

/* --- What a run records about its slot (cdc_figures.c) --- */

/* Read by status, the API, the dashboard, /metrics and the freshness
 * alerts, which never ask the source; see cdc_figures.c for the definitions. */
typedef struct cdc_figures {
    int64_t retained;      /* WAL the slot retained when the last run began (current
                            * LSN - restart_lsn), bytes; -1 unknown */
    int64_t lag;           /* WAL not yet applied when the last run began (current LSN -
                            * confirmed_flush_lsn), bytes; -1 unknown */
    int64_t confirmed_at;  /* start of the last run that applied everything committed
                            * before it (µs); ST_TIME_NONE unknown */
} cdc_figures;

/* The figures of a cdc strategy; all unknown without a saved position (no
 * slot). Best effort: what cannot be read is unknown. */
void cdc_figures_read(state *st, const char *pipeline, const char *strategy, cdc_figures *out);
/* The state meta keys cdc_figures_read reads beside the "watermark", for a
 * caller that reads many strategies' values in one batch (view.c), and the
 * figures from those values' texts ("" or NULL: not stored). */
extern const char *const cdc_figures_keys[3];
void cdc_figures_from(const char *watermark, const char *const texts[3], cdc_figures *out);
/* Records retained and lag (measured at the run's start). */
int cdc_figures_record(state *st, const char *pipeline, const char *strategy, int64_t retained,
                       int64_t lag, st_error *err);
/* Records that the destination holds everything committed before `at`. */
int cdc_figures_confirmed(state *st, const char *pipeline, const char *strategy, int64_t at,
                          st_error *err);

/* LSNs as PostgreSQL writes them ("16/B374D848"). */
int cdc_lsn_parse(const char *s, uint64_t *out);
void cdc_lsn_format(uint64_t lsn, char out[32]);

/* --- pgoutput messages (cdc_pgoutput.c) --- */

typedef enum {
    CDC_MSG_BEGIN = 'B',
    CDC_MSG_COMMIT = 'C',
    CDC_MSG_RELATION = 'R',
    CDC_MSG_INSERT = 'I',
    CDC_MSG_UPDATE = 'U',
    CDC_MSG_DELETE = 'D',
    CDC_MSG_TRUNCATE = 'T',
    CDC_MSG_OTHER = 0       /* Origin, Type, Message: nothing to apply */
} cdc_msg_type;

/* One TupleData: per column 'n', 'u' or 't' and, for 't', its text
 * (NUL-terminated, owned by the tuple). */
typedef struct cdc_tuple {
    int ncols;
    char *kind;      /* ncols entries */
    char **val;      /* ncols entries; NULL unless kind 't' */
} cdc_tuple;

typedef struct cdc_relcol {
    bool key;        /* flag 1: part of the replica identity */
    char *name;
    uint32_t type;   /* type OID */
    int32_t typmod;
} cdc_relcol;

typedef struct cdc_msg {
    cdc_msg_type type;
    uint64_t lsn;        /* Begin: final LSN; Commit: commit LSN */
    uint64_t end_lsn;    /* Commit: end of the transaction */
    uint32_t xid;        /* Begin */
    uint32_t relid;      /* Relation, Insert, Update, Delete */
    /* Relation */
    char *nspname, *relname;
    char replident;      /* 'd', 'n', 'f', 'i' */
    int ncols;
    cdc_relcol *cols;
    /* Insert, Update: new; Update, Delete: old ('K' key or 'O' full), 0 none */
    char old_kind;
    cdc_tuple old, new_;
    /* Truncate */
    int nrels;
    uint32_t *relids;
    uint8_t truncate_flags;
} cdc_msg;

/* Parses one pgoutput message. ST_EINVAL with a message saying what was
 * malformed (and at which byte); the caller frees *m with cdc_msg_clear
 * either way. */
int cdc_msg_parse(const unsigned char *buf, size_t len, cdc_msg *m, st_error *err);
void cdc_msg_clear(cdc_msg *m);

/* --- The replication connection (cdc_repl.c) --- */

typedef struct cdc_repl cdc_repl;

/* Connects to datastore `ds` (PostgreSQL) with replication=database.
 * ST_EUNAVAIL when it cannot connect; the message names the datastore, and
 * the fix when the role lacks the REPLICATION attribute. */
int cdc_repl_open(cdc_repl **out, const config_datastore *ds, st_error *err);
void cdc_repl_close(cdc_repl *r);
/* Ends waits early when *flag becomes non-zero (ST_EINTR). */
void cdc_repl_set_interrupt(cdc_repl *r, atomic_int *flag);

/* CREATE_REPLICATION_SLOT slot LOGICAL pgoutput EXPORT_SNAPSHOT: *lsn the
 * consistent point, snapshot[] the exported snapshot's name, valid until
 * the next command on this connection. */
int cdc_repl_create_slot(cdc_repl *r, const char *slot, uint64_t *lsn, char snapshot[64],
                         st_error *err);
/* DROP_REPLICATION_SLOT slot WAIT: waits while a walsender still holds it
 * (the one of a run that just ended). */
int cdc_repl_drop_slot(cdc_repl *r, const char *slot, st_error *err);
/* START_REPLICATION SLOT slot LOGICAL lsn (proto_version '1',
 * publication_names 'pub'). */
int cdc_repl_start(cdc_repl *r, const char *slot, const char *pub, uint64_t lsn, st_error *err);

/* What cdc_repl_next hands back. */
typedef struct cdc_data {
    const unsigned char *msg;   /* XLogData payload (a pgoutput message) */
    size_t len;
    uint64_t start;             /* its WAL start */
    uint64_t wal_end;           /* the server's WAL end when sent */
} cdc_data;

/* Waits for the next XLogData: 1 and *d (valid until the next call), or 0
 * when a keepalive said the server has sent everything up to at least
 * `stop` (so nothing committed before `stop` is still to come), or
 * CDC_IDLE after a second without any message (the caller may ask the
 * server how far it has sent: cdc_repl_pid, pg_stat_replication.sent_lsn),
 * or an error. Keepalives asking for a reply are answered with the
 * confirmed LSN (cdc_repl_confirm). */
#define CDC_IDLE 2
int cdc_repl_next(cdc_repl *r, uint64_t stop, cdc_data *d, st_error *err);
/* The walsender's process id (pg_stat_replication.pid). */
int cdc_repl_pid(const cdc_repl *r);
/* Records `lsn` as flushed and sends a standby status update saying so:
 * the server may then drop the WAL before it. Call only after the
 * destination committed everything up to lsn. */
int cdc_repl_confirm(cdc_repl *r, uint64_t lsn, st_error *err);
/* Ends the stream (CopyDone) and waits for the server to finish it. */
int cdc_repl_stop(cdc_repl *r, st_error *err);

#endif
