/*
 * cdc_figures — what a cdc run records about its replication slot, for the
 * surfaces that must never ask the source (status, the API, the dashboard,
 * /metrics, the freshness alerts): they read these from the state store.
 *
 * Three figures per cdc strategy, state_meta of the pair (strings):
 *   "slot_retained_bytes"  retained WAL: pg_current_wal_insert_lsn() minus
 *                          the slot's restart_lsn when the last run began —
 *                          the WAL the source keeps for the slot (the insert
 *                          position, not the write position, which lags it
 *                          by up to wal_writer_delay under
 *                          synchronous_commit = off);
 *   "slot_lag_bytes"       lag: the source's WAL position when the last run
 *                          began minus the slot's confirmed_flush_lsn — the
 *                          WAL written that the destination had not applied;
 *   "slot_confirmed_at"    the start (Unix µs) of the last run that applied
 *                          everything committed before it began (a success):
 *                          the destination holds the source as of then, so
 *                          "lag in seconds" at any instant `now` is
 *                          now - slot_confirmed_at (an upper bound: a failed
 *                          run's committed batches do not move it).
 * Written by sync_cdc.c only (the run knows them); read in one place
 * (cdc_figures_read). A strategy without a saved position (never run, or
 * its slot dropped by `synctool cdc drop`) has no slot: every figure reads
 * as unknown, whatever an older run recorded.
 */
#include "cdc.h"

#include "../time/st_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define KEY_RETAINED "slot_retained_bytes"
#define KEY_LAG "slot_lag_bytes"
#define KEY_CONFIRMED "slot_confirmed_at"

static int64_t meta_int(state *st, const char *p, const char *s, const char *key, int64_t none) {
    char buf[32];
    if (state_meta_get(st, p, s, key, buf, sizeof buf, NULL) != ST_OK || buf[0] == '\0')
        return none;
    char *end;
    long long v = strtoll(buf, &end, 10);
    return *end == '\0' && v >= 0 ? (int64_t)v : none;
}

void cdc_figures_read(state *st, const char *pipeline, const char *strategy,
                      cdc_figures *out) {
    out->retained = out->lag = -1;
    out->confirmed_at = ST_TIME_NONE;
    char wm[64];
    if (state_meta_get(st, pipeline, strategy, "watermark", wm, sizeof wm, NULL) != ST_OK ||
        wm[0] == '\0')
        return;   /* no slot */
    out->retained = meta_int(st, pipeline, strategy, KEY_RETAINED, -1);
    out->lag = meta_int(st, pipeline, strategy, KEY_LAG, -1);
    out->confirmed_at = meta_int(st, pipeline, strategy, KEY_CONFIRMED, ST_TIME_NONE);
}

int cdc_figures_record(state *st, const char *pipeline, const char *strategy, int64_t retained,
                       int64_t lag, st_error *err) {
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, retained < 0 ? 0 : retained);
    int rc = state_meta_put(st, pipeline, strategy, KEY_RETAINED, v, err);
    snprintf(v, sizeof v, "%" PRId64, lag < 0 ? 0 : lag);
    if (rc == ST_OK) rc = state_meta_put(st, pipeline, strategy, KEY_LAG, v, err);
    return rc;
}

int cdc_figures_confirmed(state *st, const char *pipeline, const char *strategy, int64_t at,
                          st_error *err) {
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, at);
    return state_meta_put(st, pipeline, strategy, KEY_CONFIRMED, v, err);
}
