/*
 * state — run state and history per (pipeline, strategy) (DESIGN §3).
 *
 * A `state` handle fronts one backend (struct state_ops): SQLite, the
 * embedded default, Redis or PostgreSQL. state_open() picks it from the parsed
 * backend URL's kind (src/url/backend_url.h).
 *
 * Transitions (what each writer sets):
 *   enqueue   -> pending, last_scheduled_at, run_id (new)
 *   locks ok  -> running, last_attempted_at, worker
 *   success   -> success, last_run = start of the run, retry_count = 0
 *   failed    -> failed, retry_count + 1, error
 *   skipped   -> skipped, last_attempted_at only (retry_count unchanged)
 * Every update carries a run_id; the backend applies it atomically and only
 * if run_id >= the stored run_id, so a stale update from an older run never
 * overwrites a newer one (it returns ST_ESTALE instead). Every finished
 * attempt (success, failed, skipped) is appended to history, newest first,
 * with the run's log lines (state_mark_finished_log); state_prune() applies
 * the retention of datastores.yaml `history:` (keep_days, keep_runs).
 *
 * Unknown instants are ST_TIME_NONE. Corrupt stored rows are reported with
 * ST_EINVAL naming the pipeline and strategy; they never affect other rows.
 */
#ifndef ST_STATE_H
#define ST_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"
#include "../json/json.h"
#include "../url/backend_url.h"

typedef enum {
    STATE_IDLE = 0,
    STATE_PENDING,
    STATE_RUNNING,
    STATE_SUCCESS,
    STATE_FAILED,
    STATE_SKIPPED,
    STATE_INTERRUPTED,  /* asked to stop (SIGINT/SIGTERM): treated like skipped */
    STATE_LOST          /* died without recording (lease expired): like failed */
} state_status;

typedef struct state_record {
    char pipeline[128];
    char strategy[128];
    state_status status;
    int64_t last_run;          /* start of the last successful run */
    int64_t last_scheduled_at; /* last enqueue */
    int64_t last_attempted_at; /* last lock attempt (success or skip) */
    int64_t retry_count;       /* consecutive failures */
    int64_t run_id;            /* 0 = none */
    char worker[128];
    char message[512];
    char error[1024];
    int64_t updated_at;
    bool paused;               /* operator pause (state_set_paused): not scheduled */
} state_record;

/* What a finished run moved; stored with history and printed by run --json. */
typedef struct state_stats {
    int64_t rows_read, rows_inserted, rows_updated, rows_deleted;
    int64_t rows_null_cursor;
    int64_t segments_compared, segments_skipped;
    double seconds;
} state_stats;

typedef struct state_history_entry {
    int64_t run_id;
    state_status status;
    int64_t started_at, finished_at;
    int64_t retry_count;
    char worker[128];
    char message[512];
    char error[1024];
    state_stats stats;
} state_history_entry;

typedef struct state state;

/* Opens the backend `u` names. ST_EUNAVAIL (message names the URL,
 * never a password) if it cannot be reached; ST_EINVAL for no URL. */
int state_open(state **out, const backend_url *u, st_error *err);
void state_close(state *st);

/* Fills *out. ST_ENOTFOUND if the pair has no state; ST_EINVAL if corrupt. */
int state_get(state *st, const char *pipeline, const char *strategy,
              state_record *out, st_error *err);

/* All records, sorted by pipeline then strategy. Caller frees *out with free().
 * Corrupt rows are skipped and described in err->msg (the call still
 * returns 0 if at least the listing worked). */
int state_list(state *st, state_record **out, size_t *n, st_error *err);

/* The record of (pipeline, strategy) in a listing sorted as state_list()
 * returns it (binary search), or NULL when the pair has none. */
const state_record *state_list_find(const state_record *sorted, size_t n,
                                    const char *pipeline, const char *strategy);

/* Streams every record to fn, one at a time, in no particular order; `r`
 * is only valid during the call (the backend reuses one buffer), so a
 * listing costs memory for one record and one backend chunk, not 2 KB per
 * record (the scheduler's tick). fn returns 0 to go on; anything else stops
 * the listing and is returned. Corrupt rows are skipped and described in
 * err->msg as for state_list(). */
typedef int (*state_each_fn)(void *ud, const state_record *r);
int state_list_each(state *st, state_each_fn fn, void *ud, st_error *err);

/* Every record, kept compact (~100 bytes each instead of a 2 KB
 * state_record) and sorted as state_list() sorts: what `status` and
 * /api/v1/pipelines read at 10,000 pipelines (state_listing.c). Corrupt
 * records are left out and described in err as for state_list(). */
typedef struct state_listing state_listing;
int state_listing_read(state *st, state_listing **out, st_error *err);
size_t state_listing_len(const state_listing *l);   /* NULL: 0 */
/* The record of (pipeline, strategy) expanded into *out; false if none. */
bool state_listing_get(const state_listing *l, const char *pipeline, const char *strategy,
                       state_record *out);
/* The records that say running (of `pipeline` only, unless NULL), expanded
 * into *out (malloc'ed; NULL when none); ST_ENOMEM or 0. */
int state_listing_running(const state_listing *l, const char *pipeline, state_record **out,
                          size_t *n);
void state_listing_free(state_listing *l);   /* NULL-safe */

/* Allocates a new run id, strictly greater than any given before. */
int state_new_run_id(state *st, int64_t *out, st_error *err);

/* Transitions; each is one atomic compare-on-run_id update. */
int state_mark_pending(state *st, const char *pipeline, const char *strategy,
                       int64_t run_id, int64_t now, st_error *err);
int state_mark_running(state *st, const char *pipeline, const char *strategy,
                       int64_t run_id, int64_t now, const char *worker, st_error *err);
/* status is STATE_SUCCESS, STATE_FAILED, STATE_SKIPPED, STATE_INTERRUPTED
 * or STATE_LOST. started_at is the run's start (becomes last_run on
 * success). failed and lost raise retry_count; skipped and interrupted set
 * last_attempted_at = now and leave retry_count alone. Appends history. */
int state_mark_finished(state *st, const char *pipeline, const char *strategy,
                        int64_t run_id, state_status status, int64_t started_at,
                        int64_t now, const char *worker, const char *message,
                        const char *error, const state_stats *stats, st_error *err);

/* Clears failures and the paused state: status idle, retry_count 0, error "". */
int state_reset(state *st, const char *pipeline, const char *strategy, st_error *err);

/* Same as state_reset, with updated_at = now (state_reset uses the wall clock). */
int state_reset_at(state *st, const char *pipeline, const char *strategy, int64_t now,
                   st_error *err);

/* Writes a whole record as is (import); atomic per record. */
int state_put(state *st, const state_record *rec, st_error *err);

/* Writes n records; all or nothing where the backend allows (SQLite: one
 * transaction; Redis: one Lua script per record, validation done before). */
int state_put_many(state *st, const state_record *recs, size_t n, st_error *err);

/* Backend name: "sqlite", "redis" (or a mock's). */
const char *state_backend_name(const state *st);

/* Newest first, at most `limit` entries. Caller frees *out with free(). */
int state_history(state *st, const char *pipeline, const char *strategy,
                  size_t limit, state_history_entry **out, size_t *n, st_error *err);

/* Small per-strategy key/value store (delta watermarks and the like). */
int state_meta_get(state *st, const char *pipeline, const char *strategy,
                   const char *key, char *buf, size_t buflen, st_error *err);
/* One value of a batch read (state_meta_get_many): the caller fills the
 * names and buf; the read sets rc (ST_OK, or ST_ENOTFOUND with buf "").
 * Strings point into the caller's memory. */
typedef struct state_meta_req {
    const char *pipeline, *strategy, *key;
    char *buf;
    size_t buflen;
    int rc;
} state_meta_req;
/* Reads n values at once (one pipelined pass on Redis, one read transaction
 * and one statement on SQLite; a backend without the op: one get each):
 * `status` and the API read every delta strategy's watermark, and 10,000
 * of them one round trip or one lock each cost ~0.7 s (issue 25). Returns
 * the first error that is not ST_ENOTFOUND (the store unreachable); each
 * value's own outcome is in its rc. */
int state_meta_get_many(state *st, state_meta_req *reqs, size_t n, st_error *err);
/* Removes the pair's record and meta (its watermark and why-journal):
 * `state prune` for pipelines no longer configured. ST_ENOTFOUND if there was
 * no record; ST_ENOTIMPL on a backend without it. History stays until the
 * retention removes it. */
int state_forget(state *st, const char *pipeline, const char *strategy, st_error *err);
int state_meta_put(state *st, const char *pipeline, const char *strategy,
                   const char *key, const char *value, st_error *err);

/* --- operator pause, metrics counters, process heartbeats --- */

/* Sets or clears the operator pause of a pair (creating an idle record if it
 * has none). A paused strategy is never scheduled (sched_should_run says
 * "Paused by operator"); manual runs still work; state_reset leaves it. */
int state_set_paused(state *st, const char *pipeline, const char *strategy, bool paused,
                     int64_t now, st_error *err);

/* One metrics counter of a pair. Every finished attempt adds (in
 * state_mark_finished, after the transition) "runs_<status>" 1, rows_read,
 * rows_inserted, rows_updated, rows_deleted, and for success and failed runs
 * "duration_seconds_sum", "duration_seconds_count" and the cumulative
 * histogram buckets "duration_seconds_bucket:<le>" (le in
 * STATE_DURATION_BUCKETS). Counters only grow; they live in the shared
 * state, so every process sees the whole deployment and they survive
 * restarts. A counter update that fails is logged, never fails the run. */
typedef struct state_counter {
    char pipeline[128], strategy[128], name[64];
    double value;
} state_counter;

#define STATE_DURATION_BUCKETS {1, 5, 15, 60, 300, 900, 3600}
#define STATE_NDURATION_BUCKETS 7

/* ST_ENOTIMPL if the backend keeps no counters. Caller frees *out. */
int state_counters_list(state *st, state_counter **out, size_t *n, st_error *err);
/* Adds to counters directly (tests, imports). */
int state_counters_add(state *st, const char *pipeline, const char *strategy, size_t n,
                       const char *const *names, const double *deltas, st_error *err);

/* A process that reports itself alive (scheduler, worker, serve). */
typedef struct state_process {
    char name[160];
    char kind[16];
    int64_t last_heartbeat_at;
} state_process;

/* A process whose last heartbeat is at most this old is alive. */
#define STATE_PROCESS_ALIVE_US (60 * 1000000LL)

int state_beat(state *st, const char *kind, const char *name, int64_t now, st_error *err);
/* ST_ENOTIMPL if the backend keeps no heartbeats. Caller frees *out. */
int state_beats(state *st, state_process **out, size_t *n, st_error *err);
/* --- run logs and retention ---------------------------------------------- */

/* Defaults of datastores.yaml `history:`. 50000 runs per strategy keep 30
 * days even of a strategy that runs every minute. */
#define STATE_KEEP_DAYS_DEFAULT 30
#define STATE_KEEP_RUNS_DEFAULT 50000

typedef struct state_retention {
    int64_t keep_days;  /* entries that finished longer ago are removed; 0 = no age limit */
    int64_t keep_runs;  /* newest entries kept per strategy; 0 = no count limit */
} state_retention;

/* state_mark_finished plus the run's log lines (text, '\n'-separated, may be
 * NULL), kept with the history entry. */
int state_mark_finished_log(state *st, const char *pipeline, const char *strategy,
                            int64_t run_id, state_status status, int64_t started_at,
                            int64_t now, const char *worker, const char *message,
                            const char *error, const state_stats *stats, const char *log,
                            st_error *err);

/* A finished run's outcome as one value: what state_mark_finished_log
 * records, kept on local disk by the spool (state_spool.c) when the state
 * store could not be reached. Strings point into the caller's memory. */
typedef struct state_outcome {
    const char *pipeline, *strategy;
    int64_t run_id;
    state_status status;
    int64_t started_at, finished_at;
    const char *worker, *message, *error, *log;
    state_stats stats;
    bool manual;   /* `synctool run`: a failure does not count toward the pause */
} state_outcome;

/* Records an outcome that arrives late (from the spool): like
 * state_mark_finished_log, except that a run already recorded `lost` is
 * corrected without counting a second failure, a run already recorded
 * finished is left alone (*applied = false), and a newer run's record is
 * kept while the history entry is still added. */
int state_record_late(state *st, const state_outcome *o, bool *applied, st_error *err);

/* Keeps an outcome the state store could not take in the local spool
 * directory (SYNCTOOL_SPOOL_DIR, else $STATE_DIRECTORY/spool, else
 * $XDG_STATE_HOME/synctool/spool, else ~/.local/state/synctool/spool), tagged
 * with the state URL it belongs to (burl_redact of `u` without user and
 * password). `where` (may be
 * NULL) gets the file's path. The next state_open of the same URL, by any
 * synctool command on this host, records it (state_spool_replay). */
int state_spool_write(const backend_url *u, const state_outcome *o, char *where, size_t n,
                      st_error *err);
/* Records every spooled outcome of `u`; *replayed (may be NULL) gets the
 * count. A file that cannot be recorded now stays for the next time. */
int state_spool_replay(state *st, const backend_url *u, int *replayed, st_error *err);

/* state_mark_finished_log for a manual run (`synctool run`): a failure is
 * recorded (status, error, history) but does not count toward the pause:
 * retry_count stays as it was. A success resets it as usual (DESIGN §3:
 * a successful manual run lifts a pause). */
int state_mark_finished_manual(state *st, const char *pipeline, const char *strategy,
                               int64_t run_id, state_status status, int64_t started_at,
                               int64_t now, const char *worker, const char *message,
                               const char *error, const state_stats *stats, const char *log,
                               st_error *err);

/* One history entry found by run id, with its pipeline, strategy and log. */
typedef struct state_run {
    char pipeline[128];
    char strategy[128];
    state_history_entry entry;
    char *log;  /* malloc'ed, NULL when the run kept no log lines */
    /* A running run's published figures (not owned), NULL otherwise: the
     * writer adds them as "progress" and takes its row counts from them. */
    const struct state_progress *progress;
    /* Why a run just made by `synctool run` ended as it did (job_result's
     * reason_code, not owned), NULL otherwise: written as "reason_code". */
    const char *reason_code;
} state_run;

/* ST_ENOTFOUND ("no run R in history") if no history entry has that id
 * (never recorded, or pruned). Free with state_run_clear(). */
int state_run_get(state *st, int64_t run_id, state_run *out, st_error *err);
void state_run_clear(state_run *r);

/* Writes the run as the JSON object of `synctool logs --json` and the API's
 * RunDetail (state_json.c); with_log adds the "log" list. */
void state_run_write_json(json_writer *w, const state_run *r, bool with_log);
/* The one JSON form of a heartbeating process (state_json.c). */
void state_process_write_json(json_writer *w, const state_process *p, int64_t now,
                              const char *leader);

/* How far a running run is: published by the run itself (sync_progress.c)
 * as meta key "progress" of its pair at most every few seconds, read by
 * the API for the running run of that pair. Figures of another run_id
 * than the pair's running one are stale and ignored by readers. */
typedef struct state_progress {
    int64_t run_id;
    int64_t at;                /* when these figures were taken (UTC us) */
    int64_t rows_read, rows_inserted, rows_updated, rows_deleted;
    int64_t rows_expected;     /* the source's estimate, 0 = unknown */
    int64_t segments_compared;
    int64_t segments_expected; /* hash: expected leaf segments, 0 = unknown */
    double rows_per_s;         /* rows read per second since the run started */
    double eta_s;              /* seconds left, < 0 = unknown */
} state_progress;

int state_progress_put(state *st, const char *pipeline, const char *strategy,
                       const state_progress *p, st_error *err);
/* ST_ENOTFOUND if the pair has no progress record (or an unreadable one). */
int state_progress_get(state *st, const char *pipeline, const char *strategy,
                       state_progress *out, st_error *err);
/* The API's Progress object (state_json.c): the one writer of progress. */
void state_progress_write_json(json_writer *w, const state_progress *p);

/* --- copying a whole store (`synctool state migrate`) ---------------------
 * ST_ENOTIMPL on a backend without them. */
typedef int (*state_run_fn)(void *ud, const state_run *r);
/* Every history entry of every pair with its log, oldest first. */
int state_history_each(state *st, state_run_fn fn, void *ud, st_error *err);
/* Appends one history entry and its log as given (the record is untouched). */
int state_history_put(state *st, const state_run *r, st_error *err);
/* One meta entry (watermark, why-journal, ...). */
typedef struct state_meta {
    char pipeline[128], strategy[128], key[128];
    char *value;   /* malloc'ed */
} state_meta;
/* Every meta entry, sorted by pipeline, strategy, key. */
int state_meta_list(state *st, state_meta **out, size_t *n, st_error *err);
void state_meta_list_free(state_meta *m, size_t n);

/* Removes history entries (and their logs) that finished before
 * now - keep_days, and all but the newest keep_runs per strategy.
 * *removed (may be NULL) gets the number of entries removed. */
int state_prune(state *st, int64_t now, const state_retention *ret, int64_t *removed,
                st_error *err);

/* --- the alert outbox (src/notify) -----------------------------------------
 * One entry per (alert, webhook): written with the notifier's last-notified
 * value in one atomic step (state_outbox_add), marked delivered only after
 * a 2xx, retried with backoff until a horizon, then failed. Entries survive
 * restarts; closed ones are pruned after a while (state_outbox_prune). */
typedef enum {
    STATE_ALERT_PENDING = 0,
    STATE_ALERT_DELIVERED,
    STATE_ALERT_FAILED
} state_alert_status;

typedef struct state_alert {
    int64_t id;                /* assigned by state_outbox_add */
    char key[400];             /* unique: the transition and the webhook */
    char hook[24];             /* the webhook's id (a hash of its URL) */
    state_alert_status status;
    char pipeline[128], strategy[128], event[16];
    int64_t created_at;        /* when the transition was detected */
    int64_t next_at;           /* the next attempt is due at */
    int64_t updated_at;        /* the last attempt (or creation) */
    int64_t attempts;
    char last_error[256];
    char body[8192];           /* the JSON POSTed */
} state_alert;

/* Adds the n entries whose key is not there yet and sets meta key `mkey`
 * of (mp, ms) to `mvalue` (mkey NULL: none), all or nothing. ST_ENOTIMPL if
 * the backend keeps no outbox. */
int state_outbox_add(state *st, const state_alert *alerts, size_t n, const char *mp,
                     const char *ms, const char *mkey, const char *mvalue, st_error *err);
/* Entries by id; hook NULL = every webhook; pending_only skips closed ones.
 * Caller frees *out. */
int state_outbox_list(state *st, const char *hook, bool pending_only, state_alert **out,
                      size_t *n, st_error *err);
/* Writes an entry's status, next_at, updated_at, attempts and last_error. */
int state_outbox_update(state *st, const state_alert *a, st_error *err);
/* Removes delivered and failed entries last updated before `cutoff`. */
int state_outbox_prune(state *st, int64_t cutoff, int64_t *removed, st_error *err);
const char *state_alert_status_name(state_alert_status s);
/* Writes one entry as the API's Alert object (without the body). */
void state_alert_write_json(json_writer *w, const state_alert *a);

const char *state_status_name(state_status s);
/* Parses a status name; ST_EINVAL for unknown names. */
int state_status_parse(const char *s, state_status *out);

#endif
