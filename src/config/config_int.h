/*
 * config_int — private interface between the files of the config module.
 *
 * The loader works in two passes per file. config_yaml.c turns the libyaml
 * event stream into a small tree of config_node values that keeps the
 * 1-based line and column of every key and value; config_parse.c then walks
 * that tree with typed getters that know the key path ("strategies[1].cron")
 * and record problems at the exact node. Nothing in this header is visible
 * outside src/config/.
 */
#ifndef ST_CONFIG_INT_H
#define ST_CONFIG_INT_H

#include "config.h"

typedef enum { CONFIG_NODE_SCALAR, CONFIG_NODE_MAP, CONFIG_NODE_SEQ } config_node_kind;

typedef struct config_node {
    config_node_kind kind;
    char *value;      /* scalar text, never NULL for a scalar */
    bool is_null;     /* plain scalar "", "~" or "null" */
    int line, col;    /* 1-based position of the node's first character */
    size_t n;         /* map entries / sequence items */
    struct config_node **keys;  /* map keys (any kind; non-scalars are problems) */
    struct config_node **vals;  /* map values or sequence items */
} config_node;

/* The state shared by every step of one config_load(). */
/* A text key -> the position of the first pipeline that had it
 * (config_index.c). Zeroed = empty. */
typedef struct config_map_slot {
    char *key;        /* NULL = empty */
    size_t value;
} config_map_slot;

typedef struct config_map {
    config_map_slot *slots;
    size_t cap, n;     /* cap: a power of two */
} config_map;

bool config_map_find(const config_map *m, const char *key, size_t *value);
/* Keeps the first value of a key; false when out of memory. */
bool config_map_put_first(config_map *m, const char *key, size_t value);
void config_map_clear(config_map *m);
/* "datastore\037schema\037table": a destination as one key. */
void config_dest_key(const config_endpoint *d, char *buf, size_t n);
/* cfg->index over cfg->pipelines as they are now; false when out of memory
 * (then there is none, and lookups walk the array). */
bool config_index_build(config *cfg);
void config_index_free(config_index *x);
/* The pipeline named name through cfg->index; *usable false when the index
 * cannot answer (none, or built over another array): then walk. */
const config_pipeline *config_index_find(const config *cfg, const char *name, bool *usable);

typedef struct config_loader {
    const char *dir;          /* absolute config directory */
    const char *file;         /* display name of the current file (relative to dir) */
    config_problems probs;    /* everything found so far */
    bool oom;                 /* an allocation failed: the result is incomplete */
    bool datastores_parsed;   /* datastores.yaml was valid YAML: names are known */
    /* Connection fields: an unset ${VAR} (no default) is not a problem at
     * load time; its name is kept here and the value stays NULL, so only
     * the commands that connect need the variable (see config.h). */
    bool defer_unset_env;
    char unset_env[256];
    char unset_path[512];     /* the key path and position of that value */
    int unset_line, unset_col;
    /* config_load_snapshot: the files to read instead of the disk. */
    const config_source *snap;
    size_t nsnap;
    config *cfg;              /* being loaded: every file read is kept in cfg->sources */
    /* The datastore being parsed: every ${VAR} expanded meanwhile records
     * its value as one of the datastore's secrets (config.h). */
    config_datastore *secrets_of;
    /* The pipelines read so far, by name and by destination (first holder). */
    config_map names, dests;
} config_loader;

/* config.c, for config_cache.c (beside config_load_datastores, config.h:
 * the load without pipelines/): the test for a
 * pipelines/ file name (NAME.yaml or NAME.yml, not hidden), and freeing
 * one pipeline's members. */
bool config_is_pipeline_file(const char *name);
void config_free_pipeline(config_pipeline *p);

/* Records "file:line:col: message" for the current file. */
void config_problem_add(config_loader *ld, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses one YAML text (len bytes) into *out. On a syntax error records the
 * problem and returns ST_EINVAL; an empty document gives *out = NULL and 0. */
int config_yaml_parse(config_loader *ld, const char *text, size_t len, config_node **out);
void config_node_free(config_node *n);

/* Builds the typed structs from parsed trees (config_parse.c). Problems are
 * recorded in ld; the structs are filled as far as possible either way. */
void config_parse_datastores(config_loader *ld, config *cfg, const config_node *root);
void config_parse_pipeline(config_loader *ld, config *cfg, const config_node *root,
                           const char *abs_path);
/* Checks that `datastore` (the "datastore" key of mapping m at `path`) is
 * defined, and gives *schema the default a table on it has when NULL:
 * "main" (SQLite), "public" (PostgreSQL), the dbname (MySQL; *hidden when
 * it came from ${VAR}). For endpoints (config_parse.c) and lookups. */
void config_datastore_schema(config_loader *ld, const config *cfg, const config_node *m,
                             const char *path, const char *datastore, char **schema,
                             bool *hidden);

/* --- typed access to a mapping (config_fields.c) ---
 * `path` is the key path of the mapping ("" at top level, "strategies[1]");
 * messages name "path.key". Each getter returns true when the value is
 * usable (or absent and optional) and false after recording a problem.
 * Absent optional keys leave *out untouched (the caller set the default). */

/* Checks that `node` is a mapping whose keys are unique scalars from
 * `allowed` (NULL-terminated). Returns false if it is not a mapping. */
bool config_check_map(config_loader *ld, const config_node *node, const char *path,
                      const char *what, const char *const *allowed);
const config_node *config_map_get(const config_node *map, const char *key);
/* The key node for `key` (for positions), or NULL. */
const config_node *config_map_key(const config_node *map, const char *key);
void config_key_path(char *buf, size_t n, const char *path, const char *key);
const char *config_kind_name(const config_node *n);
/* ${VAR} / ${VAR:default} expansion of a scalar. NULL after a problem. */
char *config_expand(config_loader *ld, const config_node *n, const char *path);

/* What a problem message may show of scalar v's (expanded) value: the value
 * quoted, or "(value hidden)" when it came from ${VAR}: a secret may live
 * there (a password in the wrong key), and messages never print one. */
const char *config_shown(char *buf, size_t n, const config_node *v, const char *value);
bool config_get_string(config_loader *ld, const config_node *map, const char *path,
                       const char *key, bool required, char **out);
bool config_get_bool(config_loader *ld, const config_node *map, const char *path,
                     const char *key, bool *out);
bool config_get_int(config_loader *ld, const config_node *map, const char *path,
                    const char *key, int64_t min, int64_t max, int64_t *out);
void config_missing(config_loader *ld, const config_node *map, const char *path,
                    const char *key);

/* Columns and strategies of one pipeline (config_pipeline.c). */
void config_parse_columns(config_loader *ld, const config_node *root, config_pipeline *p);
void config_parse_strategies(config_loader *ld, const config_node *root, config_pipeline *p);

/* `aggregate:` of a pipeline (config_aggregate.c): parsed before the
 * columns (a group key may be an expression), checked after the columns
 * and strategies; freed with the pipeline. */
void config_parse_aggregate(config_loader *ld, const config_node *root, config_pipeline *p);
void config_check_aggregate(config_loader *ld, const config_node *root, const config_pipeline *p);
void config_free_aggregate(config_pipeline *p);
/* `lookups:` of a pipeline (config_lookup.c), after its columns and
 * strategies: appends the lookup columns to p->columns. */
void config_parse_lookups(config_loader *ld, const config *cfg, const config_node *root,
                          config_pipeline *p);
void config_free_lookups(config_pipeline *p);

/* config_check.c: column types known to both engines; no destination table
 * shared with an earlier pipeline. Problems are recorded in ld. */
void config_check_column_types(config_loader *ld, const config *cfg, const config_node *root,
                               const config_pipeline *p);
/* A cdc strategy needs a PostgreSQL source table (not a query). */
void config_check_cdc(config_loader *ld, const config *cfg, const config_pipeline *p);
void config_check_destination(config_loader *ld, const config *cfg, const config_node *root,
                              const config_pipeline *p);
/* datastores.yaml `history:` and `notify:`, a pipeline's `freshness:`
 * (config_ops.c). The first applies defaults when the keys are absent. */
void config_parse_operations(config_loader *ld, config *cfg, const config_node *root);
void config_parse_freshness(config_loader *ld, const config_node *root, config_pipeline *p);
void config_free_operations(config *cfg);

/* Adds a copy of `value` (not empty, not already there) to d->secrets. */
void config_add_secret(config_loader *ld, config_datastore *d, const char *value);

/* Helpers shared by the parse files. */
bool config_valid_name(const char *s);

/* A duration "90s", "30m", "6h", "2d" (a bare number is seconds) or "0", in
 * seconds; false if malformed (config_ops.c). */
bool config_parse_duration0(const char *s, int64_t *out);
/* Reports a name longer than CONFIG_NAME_MAX at line:col ("<what> name is N
 * characters long ...") and returns true. */
bool config_name_too_long(config_loader *ld, int line, int col, const char *what,
                          const char *name);
char *config_strdup(config_loader *ld, const char *s);
char *config_path_join(config_loader *ld, const char *dir, const char *rel);

#endif
