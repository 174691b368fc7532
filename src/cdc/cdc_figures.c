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

const char *const cdc_figures_keys[3] = {KEY_RETAINED, KEY_LAG, KEY_CONFIRMED};

static int64_t text_int(const char *buf, int64_t none) {
    if (buf == NULL || buf[0] == '\0') return none;
    char *end;
    long long v = strtoll(buf, &end, 10);
    return *end == '\0' && v >= 0 ? (int64_t)v : none;
}

void cdc_figures_from(const char *watermark, const char *const texts[3], cdc_figures *out) {
    out->retained = out->lag = -1;
    out->confirmed_at = ST_TIME_NONE;
    if (watermark == NULL || watermark[0] == '\0') return;   /* no slot */
    out->retained = text_int(texts[0], -1);
    out->lag = text_int(texts[1], -1);
    out->confirmed_at = text_int(texts[2], ST_TIME_NONE);
}

void cdc_figures_read(state *st, const char *pipeline, const char *strategy,
                      cdc_figures *out) {
    char wm[64], v[3][32];
    const char *texts[3];
    if (state_meta_get(st, pipeline, strategy, "watermark", wm, sizeof wm, NULL) != ST_OK)
        wm[0] = '\0';
    for (int i = 0; i < 3 && wm[0]; i++)
        texts[i] = state_meta_get(st, pipeline, strategy, cdc_figures_keys[i], v[i],
                                  sizeof v[i], NULL) == ST_OK ? v[i] : NULL;
    cdc_figures_from(wm, texts, out);
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
