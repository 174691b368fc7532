/*
 * config — the loaded, validated configuration (DESIGN §2).
 *
 * config_load() reads <dir>/datastores.yaml and every <dir>/pipelines/NAME.yaml
 * (sorted by file name) with libyaml, expands ${VAR} and ${VAR:default} in
 * scalar values, applies defaults and validates everything. It reports every
 * problem it finds, not only the first, each as `file:line:col: message`
 * naming the key; on any problem it returns ST_EINVAL and no config.
 *
 * The structs below are plain data, read-only after loading, owned by the
 * `config` value and released by config_free(). Strings are never NULL unless
 * documented as optional. Relative SQLite paths are resolved against the
 * config directory, so every path here is absolute.
 */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../error/st_error.h"
#include "../url/backend_url.h"

typedef enum { CONFIG_DS_SQLITE, CONFIG_DS_POSTGRES, CONFIG_DS_MYSQL } config_ds_type;

typedef struct config_datastore {
    char *name;
    config_ds_type type;
    char *path;     /* sqlite: absolute file path; NULL for postgres */
    /* postgres / mysql connection; optional fields are NULL / 0 when absent.
     * sslmode holds mysql's ssl_mode (disable, preferred, required,
     * verify_ca, verify_identity) on a mysql datastore. */
    char *host, *user, *password, *dbname, *sslmode;
    int port;
    char *unix_socket;      /* mysql: socket path instead of host:port */
    bool zero_dates_null;   /* mysql: `zero_dates: null` reads 0000-00-00 as NULL */
    /* `in_engine: false`: a copy to or from this datastore never runs
     * inside the engine (store_local_*: SQLite to SQLite) but row by row
     * as between two engines; for comparing the two paths. */
    bool generic_copy;
    /* Name of a ${VAR} in any key but `type` (connection fields, port,
     * ssl mode, socket, an SQLite path) that was unset at load time (no
     * default), else NULL; the key's value then stays unset (NULL / 0).
     * Loading does not need it, so commands that never connect (list,
     * status, history, lock list, explain) and every command about other
     * datastores work without it; `validate` warns (env_unset_key, _line,
     * _col: where it is written); store_open() refuses to connect with
     * "datastore 'NAME': environment variable VAR is not set". */
    char *env_unset;
    char *env_unset_key;    /* "datastores.shop.connection.password" */
    int env_unset_line, env_unset_col;
    /* What no message may print, NULL-terminated (nsecrets entries): the
     * password, and the expanded value of every key of this datastore that
     * was written with ${VAR} (a password put in the wrong key, a host or a
     * path kept out of the config files). The store scrubs them from every
     * error it returns (store_scrub: "(value hidden)"). */
    char **secrets;
    size_t nsecrets;
    char *file;     /* where it was defined, for messages */
    int line, col;
} config_datastore;

typedef struct config_column {
    char *name;       /* source column */
    char *dest_name;  /* destination column (key `dest`, default = name) */
    char *type;       /* SQL type as written, e.g. "numeric(12,2)" */
    bool key;
    /* `compare: false`: copied on insert and whenever the row is written
     * for another reason, but a difference in it alone is no difference for
     * full, hash and diff (left out of their comparisons and digests);
     * delta writes it as any column. Never a key or a delta cursor. */
    bool ignored;
    /* `expr`: an SQL expression in the source's dialect computed instead of
     * reading a source column (`name` is then only the result's name);
     * never a key or a delta cursor. NULL: a plain column. */
    char *expr;
    /* 0: a column of the source row; i + 1: a column added by
     * p->lookups[i] (`name` is then the lookup table's column). Lookup
     * columns follow every source column in p->columns (config_lookup.c). */
    size_t lookup;
    int line, col;    /* a lookup column: where its `type` is written */
} config_column;

/* `lookups:` of a pipeline (config_lookup.c): columns added to every row
 * from a table of another datastore, by key. */
typedef struct config_lookup {
    char *name;          /* for messages; default: the table's name */
    char *datastore, *schema, *table;
    char *key;           /* the row's column (config_column.name of a source column) */
    char *lookup_key;    /* the lookup table's column matched with it */
    size_t first, ncolumns; /* its columns: p->columns[first .. first + ncolumns) */
    bool required;       /* a key with no match fails the run (default: NULLs) */
    int64_t cache_rows;  /* LRU entries kept, default 10000; 0 = no cache */
    int64_t cache_ttl_s; /* an entry is asked again after this long, default 300 */
    bool schema_hidden;  /* the schema is a mysql dbname that came from ${VAR} */
    int line, col;       /* the list item */
} config_lookup;

typedef enum {
    CONFIG_STRATEGY_FULL,
    CONFIG_STRATEGY_DELTA,
    CONFIG_STRATEGY_HASH,
    CONFIG_STRATEGY_CDC   /* PostgreSQL sources: logical decoding (src/cdc) */
} config_strategy_type;

typedef struct config_strategy {
    char *name;
    config_strategy_type type;
    char *cron;          /* optional: a strategy without cron is never scheduled */
    char *timezone;      /* optional IANA zone, NULL = UTC */
    bool enabled;        /* default true */
    char *cursor;        /* delta: source column name of the cursor; else NULL */
    int64_t lookback_seconds;  /* delta: re-read window, default 0 */
    int64_t batch_size;        /* rows per write batch; 0 (unset): the destination driver's
                                * (store_default_batch: 10000, 100000 into SQLite) */
    int64_t segment_rows;      /* hash: rows per leaf segment, default 1000 */
    /* full: key ranges copied at once, each on its own connection pair
     * (sync_parallel.c), 1..64, default 1 (hash: only 1, not implemented) */
    int64_t parallel;
    /* cdc: the run fails when the replication slot retains more WAL than
     * this many bytes (`max_slot_lag: 1GB`); 0 = no limit */
    int64_t max_slot_lag;
    /* cdc: after draining, keep streaming (applying batches, confirming
     * after each destination commit) until SIGINT/SIGTERM; default false */
    bool continuous;
    int line, col;
} config_strategy;

typedef struct config_locks {
    bool wait_for_pipeline_lock;     /* default false */
    int64_t pipeline_lock_wait_timeout; /* seconds, default 60 */
    bool wait_for_table_lock;        /* default false */
    int64_t table_lock_wait_timeout; /* seconds, default 30 */
    int64_t lease_ttl_seconds;       /* default 30 */
} config_locks;

typedef struct config_retry {
    int64_t max_retry_count;              /* default 3 */
    int64_t safe_fallback_window_minutes; /* default 30 */
    int64_t schedule_buffer_seconds;      /* default 60 */
    int64_t pause_window_seconds;         /* default 3600; 0 = off (rule 2 as DESIGN says) */
} config_retry;

/* `freshness:` of a pipeline: the data is stale once the newest successful
 * run of any strategy started longer ago than these (seconds, 0 = unset). */
typedef struct config_freshness {
    int64_t warn_after_s;
    int64_t error_after_s;
} config_freshness;

typedef struct config_endpoint {
    char *datastore;
    char *schema;    /* default: "public" on postgres, "main" on sqlite */
    char *table;     /* required for destination; source needs table or query */
    char *query;     /* optional source query instead of a table; NULL if unused */
    char *where;     /* optional source filter (SQL condition, source dialect); NULL: all rows */
    bool schema_hidden; /* the schema is a mysql dbname that came from ${VAR} */
} config_endpoint;

/* The longest pipeline, strategy or datastore name, in bytes. Every state
 * record, queued job, alert and lock key holds names in fixed buffers of at
 * least CONFIG_NAME_MAX + 1 bytes (checked at compile time where they are
 * declared), so a name the config accepts is never cut short — two long
 * names sharing a prefix would otherwise be merged into one record. */
#define CONFIG_NAME_MAX 100

/* How every message shows a secret (config_shown, store_scrub, ...). */
#define CONFIG_HIDDEN "(value hidden)"

/* The schema of e as messages show it: "(value hidden)" when it is one of
 * its datastore's secrets (config_datastore), "-" when there is none. */
const char *config_schema_shown(const config_endpoint *e);
/* `value` (a field of d) as messages show it: "(value hidden)" when it is
 * one of d's secrets. */
const char *config_datastore_shown(const config_datastore *d, const char *value);

typedef struct config_pipeline {
    char *name;
    char *description; /* optional, NULL if absent */
    char *file;      /* absolute path of the YAML file */
    int line, col;   /* position of the `name` value in file */
    config_endpoint source, destination;
    config_column *columns;
    size_t ncolumns;
    config_lookup *lookups;  /* `lookups:`; their columns end p->columns */
    size_t nlookups;
    config_strategy *strategies;
    size_t nstrategies;
    config_locks locks;
    config_retry retry;
    config_freshness freshness;
    /* `aggregate: {group_by: [...]}` (config_aggregate.c): the destination
     * holds one row per group of the (filtered) source rows; the key
     * columns are the groups (a plain column or an `expr`), every other
     * column an aggregate expression. NULL: a row-level pipeline. */
    struct config_aggregate *aggregate;
} config_pipeline;

typedef struct config_aggregate {
    char **group_by;     /* the key columns' names, as written */
    size_t ngroup_by;
    int line, col;       /* of `aggregate:` */
} config_aggregate;

/* `history:` of datastores.yaml: retention of run history and logs. */
typedef struct config_history {
    int64_t keep_days;   /* default 30; 0 = no age limit */
    int64_t keep_runs;   /* per strategy, default 50000; 0 = no count limit */
} config_history;

/* Events a webhook receives (`events:` names). */
enum {
    CONFIG_NOTIFY_FAILED = 1 << 0,     /* "failed": a run failed */
    CONFIG_NOTIFY_PAUSED = 1 << 1,     /* "paused": a strategy reached max_retry_count */
    CONFIG_NOTIFY_RECOVERED = 1 << 2,  /* "recovered": success after failed/paused */
    CONFIG_NOTIFY_FRESHNESS = 1 << 3,  /* "freshness": warn/error threshold crossed */
    CONFIG_NOTIFY_ALL = 0xf
};

typedef struct config_webhook {
    char *url;        /* http(s) URL; may hold a token: never print it whole */
    unsigned events;  /* CONFIG_NOTIFY_* mask, default all */
} config_webhook;

/* `notify:` of datastores.yaml. */
typedef struct config_notify {
    config_webhook *webhooks;
    size_t nwebhooks;
    int64_t timeout_seconds;  /* per delivery attempt, default 10 */
    int64_t max_attempts;     /* per alert before it is given up; 0 (default) = until
                               * retry_for has passed */
    int64_t retry_for_s;      /* an undelivered alert is retried (backoff 1 s, 2 s, 4 s,
                               * ... at most 5 min) this long; 0 = default 6 h */
} config_notify;

/* The bytes of one config file as it was loaded. A scheduler hands them to
 * its job processes (run_handoff_write), so a job runs with the configuration
 * its scheduler validated, never with files changed on disk since. */
typedef struct config_source {
    char *rel;       /* relative to the config directory: "datastores.yaml",
                      * "pipelines/orders.yaml" */
    char *text;
    size_t len;
} config_source;

typedef struct config_index config_index;   /* config_index.c */

typedef struct config {
    char *dir;                 /* absolute config directory */
    config_datastore *datastores;
    size_t ndatastores;
    backend_url state_url;     /* parsed once; sqlite paths absolute; never rediss */
    config_pipeline *pipelines;
    size_t npipelines;
    config_history history;
    config_notify notify;
    config_source *sources;    /* every file read, in load order */
    size_t nsources;
    config_index *index;       /* pipelines by name (config_index.c); NULL: walk */
} config;

/* One problem, split into its parts (items[i] is the joined text). */
typedef struct config_problem {
    char *file;      /* relative to the config directory, e.g. "pipelines/orders.yaml" */
    int line, col;   /* 1-based */
    char *message;   /* "strategies[1].cron: invalid cron expression ..." */
} config_problem;

/* Every problem found, each "file:line:col: message" (file relative to the
 * config directory), in file order: datastores.yaml, then pipelines/ sorted. */
typedef struct config_problems {
    char **items;
    size_t n;
    config_problem *details;  /* parallel to items */
} config_problems;

/* Loads and validates `dir`. Returns 0 and *out, or ST_EINVAL with every
 * problem in *problems (and a one-line summary in err). `problems` may be
 * NULL. A missing directory or datastores.yaml is also ST_EINVAL. */
int config_load(config **out, const char *dir, config_problems *problems, st_error *err);
void config_free(config *cfg);
void config_problems_clear(config_problems *p);

/* datastores.yaml alone (its datastores and the state URL; no pipeline):
 * what `status` needs to start reading the state while the pipelines
 * load. Problems fail the load as in config_load. */
int config_load_datastores(config **out, const char *dir, st_error *err);

/* As config_load, but when every problem is inside pipelines/ files, those
 * files' pipelines are left out and the rest is returned (0, with the
 * problems still in *problems, n > 0): one invalid pipeline file does not
 * stop the scheduler or the read commands from serving the valid ones.
 * Problems in datastores.yaml still fail the whole load. */
int config_load_valid(config **out, const char *dir, config_problems *problems,
                      st_error *err);

/* As config_load, from file contents instead of the disk: `files` (n of
 * them, each named relative to `dir`) stand for datastores.yaml and the
 * pipelines/ files; nothing else is read. `dir` (absolute, as config.dir)
 * resolves relative SQLite paths. What a job process does with the
 * snapshot its scheduler handed over. */
int config_load_snapshot(config **out, const char *dir, const config_source *files, size_t n,
                         config_problems *problems, st_error *err);

/* How config_load_cached answered. */
typedef enum {
    CONFIG_CACHE_OFF,      /* SYNCTOOL_CONFIG_CACHE=0: config_load_valid, nothing cached */
    CONFIG_CACHE_HIT,      /* pipelines from the cache; datastores.yaml parsed */
    CONFIG_CACHE_WRITTEN,  /* parsed in full; the cache written for the next call */
    CONFIG_CACHE_MISS      /* parsed in full; not cacheable now (config_cache.c) */
} config_cache_how;

/* As config_load_valid, but the parsed pipelines are kept in
 * <dir>/.synctool/config.cache, keyed by every config file's signature
 * (name, size, mtime, ctime, inode, device) and by what the pipelines'
 * parse reads of datastores.yaml; any change is a miss, never a stale
 * config (config_cache.c). The config it returns from the cache has no
 * sources for the pipelines/ files: for read commands (`status`), never
 * for handing a job its configuration. `how` may be NULL. */
int config_load_cached(config **out, const char *dir, config_problems *problems,
                       config_cache_how *how, st_error *err);

/* The source of file `rel` ("datastores.yaml", or a pipeline's file made
 * relative to cfg->dir), or NULL. */
const config_source *config_source_find(const config *cfg, const char *rel);
/* The source of pipeline p's file, or NULL. */
const config_source *config_pipeline_source(const config *cfg, const config_pipeline *p);

const config_pipeline *config_pipeline_find(const config *cfg, const char *name);
const config_strategy *config_strategy_find(const config_pipeline *p, const char *name);
const config_datastore *config_datastore_find(const config *cfg, const char *name);

const char *config_strategy_type_name(config_strategy_type t);

/* Strategy i of p's cron compiled (cron_parse of its cron and timezone) at
 * the first call and kept by cfg until config_free: views of 10,000
 * pipelines compile each cron once per load, not per request. NULL: no
 * cron, an invalid one, or p not one of cfg's pipelines (config_index.c).
 * Thread-safe. */
const struct cron_expr *config_strategy_cron(const config *cfg, const config_pipeline *p,
                                             size_t i);

/* The destination names of p's compare: false columns, "views, hits", into
 * buf (cut to n - 1 bytes); returns how many there are. */
size_t config_ignored_columns(const config_pipeline *p, char *buf, size_t n);

/* How many of p->columns come from the source row (the lookup columns
 * follow them). */
size_t config_source_columns(const config_pipeline *p);
/* lk's schema as messages show it ("(value hidden)", as config_schema_shown). */
const char *config_lookup_schema_shown(const config_lookup *lk);

/* A webhook URL safe to print: scheme and host only ("https://hooks.slack.com/…"). */
void config_url_redact(const char *url, char *buf, size_t n);

#endif
