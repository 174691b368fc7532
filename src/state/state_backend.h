/*
 * state_backend — the vtable a state backend implements (see state.h).
 *
 * The generic front (state.c) turns every public transition into one
 * `state_change`: a run_id to compare, which fields to set, what to do with
 * retry_count, and optionally a history entry to append. A backend applies a
 * change atomically — SQLite inside one BEGIN IMMEDIATE transaction, Redis in
 * one Lua script, PostgreSQL in one transaction holding the pair's row
 * lock — so the transition rules live in one place (state.c) and a backend
 * only has to be a faithful, atomic "compare run_id, then set".
 *
 * Backends: state_sqlite.c (state_sqlite_open), state_redis.c
 * (state_redis_open), state_pg.c (state_pg_open). Tests plug a mock
 * through state_open_with_ops().
 */
#ifndef ST_STATE_BACKEND_H
#define ST_STATE_BACKEND_H

#include "state.h"

#define STATE_OPS_VERSION 1

/* Which fields of state_change.values a change sets. */
enum {
    STATE_SET_STATUS = 1 << 0,
    STATE_SET_LAST_RUN = 1 << 1,
    STATE_SET_LAST_SCHEDULED = 1 << 2,
    STATE_SET_LAST_ATTEMPTED = 1 << 3,
    STATE_SET_WORKER = 1 << 4,
    STATE_SET_MESSAGE = 1 << 5,
    STATE_SET_ERROR = 1 << 6,
    STATE_SET_RUN_ID = 1 << 7,
    STATE_SET_PAUSED = 1 << 8
};

typedef enum { STATE_RETRY_KEEP = 0, STATE_RETRY_RESET, STATE_RETRY_INCR } state_retry_op;

typedef struct state_change {
    const char *pipeline, *strategy;
    bool check_run_id;   /* refuse with ST_ESTALE if stored run_id > run_id */
    bool must_exist;     /* ST_ENOTFOUND if the pair has no state (reset) */
    int64_t run_id;
    unsigned set;        /* STATE_SET_* mask */
    state_record values; /* values of the fields named in `set` */
    state_retry_op retry;
    int64_t now;         /* becomes updated_at */
    /* If not NULL, appended to history after the update; its retry_count is
     * replaced by the stored retry_count after the update. History is not
     * trimmed here: state_prune() applies the retention. */
    const state_history_entry *history;
    /* The run's log lines kept with `history` (NULL = none). */
    const char *log;
} state_change;

/*
 * struct state_ops — one backend. Every method returns 0 or a negative ST_E*
 * code and fills `err`. `be` is the backend's own handle. All methods are
 * required unless marked optional.
 */
struct state_ops {
    int version;       /* STATE_OPS_VERSION */
    const char *name;  /* "sqlite", "redis", "postgresql", "mock" */
    /* Releases the handle; NULL-safe. */
    void (*close)(void *be);
    /* One record; ST_ENOTFOUND if absent, ST_EINVAL (naming the pair) if
     * corrupt. */
    int (*get)(void *be, const char *pipeline, const char *strategy,
               state_record *out, st_error *err);
    /* Every readable record, any order (the front sorts). Corrupt records are
     * left out and described in err->msg with err->code ST_EINVAL while the
     * method still returns 0. *out is malloc'ed. */
    int (*list)(void *be, state_record **out, size_t *n, st_error *err);
    /* A run id strictly greater than every id returned before. */
    int (*new_run_id)(void *be, int64_t *out, st_error *err);
    /* Applies `c` atomically (see struct state_change). ST_ESTALE with
     * "stale update from run R ignored: run S is newer" when refused. */
    int (*apply)(void *be, const state_change *c, st_error *err);
    /* Replaces the record as a whole (import), unconditionally. */
    int (*put)(void *be, const state_record *rec, st_error *err);
    /* Optional: writes n records in one transaction (all or nothing). The
     * front falls back to put() per record when NULL. */
    int (*put_many)(void *be, const state_record *recs, size_t n, st_error *err);
    /* Newest first, at most `limit`. *out is malloc'ed. */
    int (*history)(void *be, const char *pipeline, const char *strategy, size_t limit,
                   state_history_entry **out, size_t *n, st_error *err);
    /* ST_ENOTFOUND if the key is absent. */
    int (*meta_get)(void *be, const char *pipeline, const char *strategy,
                    const char *key, char *buf, size_t buflen, st_error *err);
    int (*meta_put)(void *be, const char *pipeline, const char *strategy,
                    const char *key, const char *value, st_error *err);
    /* Optional (metrics): adds deltas[i] to counter names[i] of the pair, all
     * in one atomic step; a counter starts at 0. */
    int (*counters_add)(void *be, const char *pipeline, const char *strategy, size_t n,
                        const char *const *names, const double *deltas, st_error *err);
    /* Optional: every counter, sorted by pipeline, strategy, name. *out is malloc'ed. */
    int (*counters_list)(void *be, state_counter **out, size_t *n, st_error *err);
    /* Optional: records that process `name` (kind scheduler/worker/serve) is alive at now. */
    int (*beat)(void *be, const char *kind, const char *name, int64_t now, st_error *err);
    /* Optional: every process that ever beat, sorted by name. *out is malloc'ed. */
    int (*beats)(void *be, state_process **out, size_t *n, st_error *err);
    /* Optional (NULL: "not supported by this backend"): the history entry
     * with this run id, its pipeline, strategy and log; ST_ENOTFOUND if none. */
    int (*run_get)(void *be, int64_t run_id, state_run *out, st_error *err);
    /* Optional: removes entries finished before `cutoff` (ST_TIME_NONE = no
     * age limit) and all but the newest `keep_runs` per pair (0 = no limit),
     * with their logs; counts them in *removed. */
    int (*prune)(void *be, int64_t cutoff, int64_t keep_runs, int64_t *removed,
                 st_error *err);
    /* Optional: streams every readable record to fn (see state_list_each),
     * any order, one reused record buffer; corrupt ones as for list(). The
     * front falls back to list() when NULL. */
    int (*list_each)(void *be, state_each_fn fn, void *ud, st_error *err);
    /* Optional (NULL: ST_ENOTIMPL): the alert outbox, see state_outbox_*. */
    int (*outbox_add)(void *be, const state_alert *alerts, size_t n, const char *mp,
                      const char *ms, const char *mkey, const char *mvalue, st_error *err);
    int (*outbox_list)(void *be, const char *hook, bool pending_only, state_alert **out,
                       size_t *n, st_error *err);
    int (*outbox_update)(void *be, const state_alert *a, st_error *err);
    int (*outbox_prune)(void *be, int64_t cutoff, int64_t *removed, st_error *err);
    /* Optional (NULL: ST_ENOTIMPL): removes the pair's record and its meta
     * (watermark, why-journal) in one step; ST_ENOTFOUND if it had no record.
     * History and counters stay (retention prunes history; counters are
     * monotonic for /metrics). `state prune`. */
    int (*forget)(void *be, const char *pipeline, const char *strategy, st_error *err);
    /* Optional (NULL: ST_ENOTIMPL) — what `state migrate` needs to copy a
     * store whole. history_each: every history entry of every pair with its
     * log, oldest first (r is only valid during the call). history_put:
     * appends one entry (its retry_count as given) and its log without
     * touching the record, keeping the run id counter ahead of its id.
     * meta_list: every meta entry of every pair; *out is malloc'ed, free it
     * with state_meta_list_free. */
    int (*history_each)(void *be, state_run_fn fn, void *ud, st_error *err);
    int (*history_put)(void *be, const state_run *r, st_error *err);
    int (*meta_list)(void *be, state_meta **out, size_t *n, st_error *err);
    /* Optional (NULL: the front calls meta_get for each): reads n meta
     * values at once, setting each req's buf and rc (ST_OK / ST_ENOTFOUND);
     * returns ST_OK unless the store failed. See state_meta_get_many. */
    int (*meta_get_many)(void *be, state_meta_req *reqs, size_t n, st_error *err);
};

/* Wraps a backend handle. Takes ownership of `be` (closed by state_close, or
 * at once if this fails). ST_EINVAL if ops->version is not supported. */
int state_open_with_ops(state **out, const struct state_ops *ops, void *be, st_error *err);

int state_sqlite_open(void **be, const struct state_ops **ops, const char *path,
                      st_error *err);
int state_redis_open(void **be, const struct state_ops **ops, const backend_url *u,
                     st_error *err);
int state_pg_open(void **be, const struct state_ops **ops, const backend_url *u,
                  st_error *err);

/* --- helpers shared by the backends (state.c) --- */

/* Strict decimal int64: optional '-', digits, nothing else. 0 or ST_EINVAL. */
int state_parse_i64(const char *s, int64_t *out);
/* Formats "corrupt state for P:S: <fmt>" with code ST_EINVAL. */
int state_corrupt(st_error *err, const char *pipeline, const char *strategy,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Appends one "; "-separated problem to err (list() collects several). */
void state_note_problem(st_error *err, const st_error *problem);
/* Decodes a record from its stored text, v[] in the order of
 * STATE_RECORD_TEXT_FIELDS: NULL or "" is an unknown time, a zero count or
 * an empty text; a NULL pipeline or strategy is p or s. paused is set false
 * (each store spells it its own way: the caller decodes it). ST_EINVAL
 * naming the pair for an unknown status, a time that is not an integer, a
 * count that is not a non-negative integer (the PostgreSQL and Redis
 * backends; SQLite reads typed columns). */
#define STATE_RECORD_TEXT_FIELDS 12
int state_record_from_text(state_record *r, const char *const v[STATE_RECORD_TEXT_FIELDS],
                           const char *p, const char *s, st_error *err);
/* Fills a record with the no-state defaults (idle, unknown times). */
void state_record_init(state_record *r, const char *pipeline, const char *strategy);
/* Copies into a fixed buffer, truncating; NULL copies "". */
void state_copy(char *dst, size_t n, const char *src);
/* Sets one field of an outbox entry from its stored text (both backends
 * store the same field names); false if the value is malformed. */
bool state_alert_field(state_alert *a, const char *name, const char *value);
/* The stored text of an entry's fields, in this order (outbox backends). */
#define STATE_ALERT_NFIELDS 12
extern const char *const state_alert_fields[STATE_ALERT_NFIELDS];
void state_alert_values(const state_alert *a, char num[][24], const char *out[]);

/* The stale-update message, code ST_ESTALE. */
int state_stale(st_error *err, int64_t run_id, int64_t stored);

#endif
