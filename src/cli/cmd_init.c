/*
 * synctool init PIPELINE --from DS.SCHEMA.TABLE --to DS[.SCHEMA.TABLE]
 *               [--key COL[,COL...]] [--force] [--print]
 * — the first pipeline file in one command (DESIGN §5).
 *
 * Reads the source table through its store driver (store_describe for the
 * columns and their engine types, store_primary_key for the key,
 * store_key_indexed for the cursor's index, store_column_stamped for how
 * the cursor gets its values) and writes <config-dir>/pipelines/PIPELINE.yaml
 * in the format of docs/configuration.md:
 *   - every column, its type in the config's vocabulary (the driver's
 *     config_type: tinyint(1) -> boolean, timestamp with time zone ->
 *     timestamptz, ...), the engine's own spelling in a comment when it
 *     differs;
 *   - `key: true` on the primary key columns (--key names them for a table
 *     without one; without either the command stops: every strategy needs
 *     a key that identifies a row);
 *   - strategies: delta every 15 minutes when a timestamp column leads an
 *     index (preferring one indexed together with the key, then a name
 *     like updated_at/modified), hash daily, full weekly. A timestamp
 *     column without an index is suggested in a comment with the CREATE
 *     INDEX that makes delta cheap.
 * Nothing here knows an engine: catalog queries and type names live in the
 * drivers (store.h, version 10).
 *
 * The file is never overwritten unless --force (it is created with O_EXCL);
 * a pipeline of that name in another file is refused too. --print writes
 * the YAML on stdout instead of the file. Exit: 0 written, 1 the source
 * could not be read or the file exists, 2 usage or config error.
 */
#include "cli.h"

#include "../store/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define INIT_MAX_KEYS 32

/* DS.SCHEMA.TABLE (or DS.TABLE, DS) split in place. */
typedef struct init_ref {
    char buf[1024];
    const char *ds, *schema, *table;   /* schema, table may be NULL */
} init_ref;

/* What was read from the source and is written into the file. */
typedef struct init_plan {
    store_column_info *cols;
    size_t ncols;
    char (*types)[128];            /* config type per column */
    bool *key;
    const char *keys[INIT_MAX_KEYS];
    size_t nkeys;
    const char *cursor;            /* NULL: no delta */
    bool cursor_with_key;          /* an index leads with (cursor, key) */
    bool cursor_stamped;           /* default now() or a trigger */
    const char *unindexed;         /* a timestamp column without an index */
} init_plan;

static void init_help(FILE *f) {
    fprintf(f,
        "usage: synctool init PIPELINE --from DATASTORE.SCHEMA.TABLE --to DATASTORE[.SCHEMA.TABLE]\n"
        "                     [--key COL[,COL...]] [--force] [--print]\n\n"
        "Writes pipelines/PIPELINE.yaml in the config dir from the source table:\n"
        "every column with its type (in the config's type names), the primary key as\n"
        "key, and strategies: delta every 15 minutes on an indexed timestamp column\n"
        "(when there is one; otherwise a comment with the index to create), hash\n"
        "daily, full weekly. Review the file, then: synctool validate, synctool check\n"
        "PIPELINE, synctool ddl apply PIPELINE, synctool run --job-name PIPELINE.\n\n"
        "  --from DS.SCHEMA.TABLE  the source table (DS.TABLE: the default schema;\n"
        "                          SQLite's is main, MySQL's the datastore's dbname)\n"
        "  --to DS[.SCHEMA.TABLE]  the destination (default: the source's table name\n"
        "                          in the datastore's default schema)\n"
        "  --key COLS              key columns for a source without a primary key\n"
        "  --force                 overwrite an existing pipelines/PIPELINE.yaml\n"
        "  --print                 print the YAML instead of writing the file\n\n"
        "Exit: 0 written, 1 source unreadable or the file exists, 2 usage or config error.\n");
}

/* --- arguments --- */

static bool init_valid_name(const char *s) {
    if (s == NULL || s[0] == '\0' || s[0] == '-' || strlen(s) > CONFIG_NAME_MAX) return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-')) return false;
    return true;
}

/* Splits "a.b.c" (at most 3 parts, at least `min`); "a.b" is DS.TABLE. */
static int init_parse_ref(init_ref *r, const char *opt, const char *text, int min) {
    memset(r, 0, sizeof *r);
    if (text == NULL)
        return cli_usage_error("init", "%s is required (see synctool init --help)", opt);
    snprintf(r->buf, sizeof r->buf, "%s", text);
    char *part[4] = {r->buf, NULL, NULL, NULL};
    int n = 1;
    for (char *p = r->buf; *p; p++) {
        if (*p != '.') continue;
        if (n == 3) { n = 4; break; }
        *p = '\0';
        part[n++] = p + 1;
    }
    for (int i = 0; i < n && i < 3; i++)
        if (part[i][0] == '\0') n = 4;
    if (n < min || n > 3)
        return cli_usage_error("init", "%s: expected %s, got '%s'", opt,
                               min == 1 ? "DATASTORE[.SCHEMA.TABLE]" : "DATASTORE.SCHEMA.TABLE",
                               text);
    r->ds = part[0];
    r->schema = n == 3 ? part[1] : NULL;
    r->table = n == 3 ? part[2] : n == 2 ? part[1] : NULL;
    return CLI_OK;
}

/* A datastore of cfg, or a usage error naming the known ones. */
static const config_datastore *init_datastore(const config *cfg, const char *opt,
                                              const char *name) {
    const config_datastore *d = config_datastore_find(cfg, name);
    if (d != NULL) return d;
    char known[512] = "";
    for (size_t i = 0; i < cfg->ndatastores; i++) {
        size_t len = strlen(known);
        snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", cfg->datastores[i].name);
    }
    cli_error("init", "unknown_datastore", CLI_USAGE,
              "%s: datastore '%s' is not defined in %s/datastores.yaml (defined: %s)", opt, name,
              cfg->dir, known[0] ? known : "none");
    return NULL;
}

/* --- reading the source --- */

static const store_column_info *init_find(const init_plan *pl, const char *name) {
    for (size_t i = 0; i < pl->ncols; i++)
        if (strcmp(pl->cols[i].name, name) == 0) return &pl->cols[i];
    return NULL;
}

/* The key: --key's columns, else the primary key. */
static int init_keys(init_plan *pl, store *s, const init_ref *src, char *keyopt,
                     store_column_info **pk) {
    st_error err;
    size_t npk = 0;
    if (keyopt == NULL) {
        if (store_primary_key(s, src->schema, src->table, pk, &npk, &err) != ST_OK)
            return cli_error("init", "failed", CLI_FAILED, "%s", err.msg);
        for (size_t i = 0; i < npk && pl->nkeys < INIT_MAX_KEYS; i++)
            pl->keys[pl->nkeys++] = (*pk)[i].name;
    } else {
        for (char *tok = strtok(keyopt, ","); tok && pl->nkeys < INIT_MAX_KEYS;
             tok = strtok(NULL, ","))
            pl->keys[pl->nkeys++] = tok;
    }
    if (pl->nkeys == 0)
        return cli_error("init", "no_key", CLI_FAILED,
                         "table %s.%s.%s has no primary key: synctool needs columns that "
                         "identify each row; add a primary key to the source, or name them "
                         "with --key COL[,COL...]", src->ds, store_schema(s, src->schema),
                         src->table);
    for (size_t i = 0; i < pl->nkeys; i++) {
        const store_column_info *c = init_find(pl, pl->keys[i]);
        if (c == NULL)
            return cli_usage_error("init", "--key: table %s.%s.%s has no column '%s'", src->ds,
                                   store_schema(s, src->schema), src->table, pl->keys[i]);
        pl->key[c - pl->cols] = true;
    }
    return CLI_OK;
}

static bool init_is_time(const char *cfgtype) {
    store_kind k = store_kind_of(cfgtype);
    return k == STORE_K_TIMESTAMPTZ || k == STORE_K_TIMESTAMP;
}

static bool init_cursor_name(const char *n) {
    return strcasestr(n, "updat") || strcasestr(n, "modif") || strcasestr(n, "chang");
}

/* 2 when an index leads with (col, key...), 1 with col alone, else 0. */
static int init_index_score(store *s, const init_ref *src, const init_plan *pl, const char *col) {
    const char *cols[INIT_MAX_KEYS + 1] = {col};
    size_t n = 1;
    for (size_t i = 0; i < pl->nkeys; i++)
        if (strcmp(pl->keys[i], col) != 0) cols[n++] = pl->keys[i];
    bool yes = false;
    if (store_key_indexed(s, src->schema, src->table, cols, n, &yes, NULL) == ST_OK && yes)
        return 2;
    if (store_key_indexed(s, src->schema, src->table, cols, 1, &yes, NULL) == ST_OK && yes)
        return 1;
    return 0;
}

/* The delta cursor: the best-indexed timestamp column (not a key), names
 * like updated_at first. A timestamp column without an index is kept
 * for a comment. */
static void init_cursor(init_plan *pl, store *s, const init_ref *src) {
    int best = 0;
    for (size_t i = 0; i < pl->ncols; i++) {
        if (pl->key[i] || !init_is_time(pl->types[i])) continue;
        const char *name = pl->cols[i].name;
        int score = init_index_score(s, src, pl, name) * 2 + init_cursor_name(name);
        if (score < 2) {
            if (pl->unindexed == NULL || (init_cursor_name(name) &&
                                          !init_cursor_name(pl->unindexed)))
                pl->unindexed = name;
            continue;
        }
        if (score <= best) continue;
        best = score;
        pl->cursor = name;
        pl->cursor_with_key = score >= 4;
    }
    if (pl->cursor == NULL) return;
    pl->unindexed = NULL;
    bool stamped = false;
    if (store_column_stamped(s, src->schema, src->table, pl->cursor, &stamped, NULL) == ST_OK)
        pl->cursor_stamped = stamped;
}

static void init_plan_free(init_plan *pl) {
    free(pl->cols);
    free(pl->types);
    free(pl->key);
}

/* Reads columns, types, key and cursor of the source table. */
static int init_read(init_plan *pl, const config_datastore *ds, const init_ref *src,
                     char *keyopt, store_column_info **pk) {
    store *s = NULL;
    st_error err;
    if (store_open(&s, ds, &err) != ST_OK)
        return cli_error("init", "source_unavailable", CLI_FAILED, "%s", err.msg);
    int rc = CLI_OK;
    if (store_describe(s, src->schema, src->table, &pl->cols, &pl->ncols, &err) != ST_OK)
        rc = cli_error("init", "failed", CLI_FAILED, "%s", err.msg);
    if (rc == CLI_OK && ((pl->types = calloc(pl->ncols, sizeof *pl->types)) == NULL ||
                         (pl->key = calloc(pl->ncols, sizeof *pl->key)) == NULL))
        rc = cli_error("init", "out_of_memory", CLI_FAILED, "out of memory");
    for (size_t i = 0; rc == CLI_OK && i < pl->ncols; i++)
        store_config_type(s, pl->cols[i].type, pl->types[i], sizeof pl->types[i]);
    if (rc == CLI_OK) rc = init_keys(pl, s, src, keyopt, pk);
    if (rc == CLI_OK) init_cursor(pl, s, src);
    store_close(s);
    return rc;
}

/* --- writing the file --- */

/* A YAML scalar: plain when it is a simple word YAML reads as a string,
 * else double-quoted. */
static void init_scalar(store_sb *b, const char *v) {
    static const char *words[] = {"true", "false", "yes", "no", "on", "off", "null", "y", "n",
                                  "~", NULL};
    bool plain = v[0] != '\0' && !isdigit((unsigned char)v[0]) && v[0] != ' ';
    for (const char *p = v; plain && *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != ' ' && *p != '-') plain = false;
    for (size_t i = 0; plain && words[i]; i++)
        if (strcasecmp(v, words[i]) == 0) plain = false;
    if (plain && v[strlen(v) - 1] == ' ') plain = false;
    if (plain) { store_sb_add(b, v); return; }
    store_sb_add(b, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') store_sb_addn(b, "\\", 1);
        store_sb_addn(b, p, 1);
    }
    store_sb_add(b, "\"");
}

static void init_endpoint(store_sb *b, const char *label, const char *ds, const char *schema,
                          const char *table) {
    store_sb_addf(b, "%s {datastore: ", label);
    init_scalar(b, ds);
    if (schema) {
        store_sb_add(b, ", schema: ");
        init_scalar(b, schema);
    }
    store_sb_add(b, ", table: ");
    init_scalar(b, table);
    store_sb_add(b, "}\n");
}

static void init_columns(store_sb *b, const init_plan *pl) {
    store_sb_add(b, "columns:\n");
    for (size_t i = 0; i < pl->ncols; i++) {
        store_sb_add(b, "  - {name: ");
        init_scalar(b, pl->cols[i].name);
        store_sb_add(b, ", type: ");
        init_scalar(b, pl->types[i]);
        if (pl->key[i]) store_sb_add(b, ", key: true");
        store_sb_add(b, "}");
        if (strcasecmp(pl->types[i], pl->cols[i].type) != 0)
            store_sb_addf(b, "   # source: %s", pl->cols[i].type[0] ? pl->cols[i].type : "(none)");
        store_sb_add(b, "\n");
    }
}

static void init_keylist(store_sb *b, const init_plan *pl) {
    for (size_t i = 0; i < pl->nkeys; i++) store_sb_addf(b, "%s%s", i ? ", " : "", pl->keys[i]);
}

static void init_strategies(store_sb *b, const init_plan *pl) {
    store_sb_add(b, "strategies:\n");
    if (pl->cursor) {
        store_sb_addf(b, "  # delta reads rows whose %s grew since the last run%s\n", pl->cursor,
                      pl->cursor_with_key ? "" : " (an index on (cursor, key) would let it page "
                      "through the index: see synctool check)");
        if (!pl->cursor_stamped)
            store_sb_addf(b, "  # %s is set by the application (no default now() or trigger): "
                          "set lookback_seconds above your longest transaction\n", pl->cursor);
        store_sb_add(b, "  - {name: delta_15m, type: delta, cursor: ");
        init_scalar(b, pl->cursor);
        store_sb_add(b, ", cron: \"*/15 * * * *\"}\n");
    } else if (pl->unindexed) {
        store_sb_addf(b, "  # no index leads with a timestamp column, so delta would read the "
                      "whole table each run;\n  # index %s together with the key (", pl->unindexed);
        init_keylist(b, pl);
        store_sb_add(b, "), then add:\n  # - {name: delta_15m, type: delta, cursor: ");
        init_scalar(b, pl->unindexed);
        store_sb_add(b, ", cron: \"*/15 * * * *\"}\n");
    }
    store_sb_add(b, "  - {name: hash_daily, type: hash, cron: \"0 2 * * *\"}\n"
                    "  - {name: full_weekly, type: full, cron: \"0 3 * * 0\"}\n");
}

static void init_yaml(store_sb *b, const char *name, const init_ref *src, const init_ref *dst,
                      const char *dst_table, const init_plan *pl) {
    store_sb_addf(b, "# Written by `synctool init` from the columns of %s.%s%s%s.\n"
                  "# Review it, then: synctool validate && synctool check %s && "
                  "synctool ddl apply %s\n", src->ds, src->schema ? src->schema : "",
                  src->schema ? "." : "", src->table, name, name);
    store_sb_add(b, "name: ");
    init_scalar(b, name);
    store_sb_add(b, "\n");
    init_endpoint(b, "source:     ", src->ds, src->schema, src->table);
    init_endpoint(b, "destination:", dst->ds, dst->schema, dst_table);
    init_columns(b, pl);
    init_strategies(b, pl);
}

/* Writes the file: O_EXCL unless force. */
static int init_write(const char *dir, const char *name, const store_sb *yaml, bool force) {
    char path[4096];
    snprintf(path, sizeof path, "%s/pipelines", dir);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return cli_error("init", "failed", CLI_FAILED, "cannot create %s: %s", path,
                         strerror(errno));
    snprintf(path, sizeof path, "%s/pipelines/%s.yaml", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0 && errno == EEXIST)
        return cli_error("init", "file_exists", CLI_FAILED,
                         "%s already exists: nothing written (pass --force to overwrite it, or "
                         "choose another PIPELINE name)", path);
    if (fd < 0)
        return cli_error("init", "failed", CLI_FAILED, "cannot write %s: %s", path,
                         strerror(errno));
    ssize_t w = write(fd, yaml->s, yaml->len);
    int e = errno;
    if (close(fd) != 0 && w == (ssize_t)yaml->len) { w = -1; e = errno; }
    if (w != (ssize_t)yaml->len)
        return cli_error("init", "failed", CLI_FAILED, "writing %s: %s", path, strerror(e));
    printf("wrote %s\n", path);
    return CLI_OK;
}

static void init_summary(const char *name, const init_plan *pl) {
    printf("%zu columns, key (", pl->ncols);
    for (size_t i = 0; i < pl->nkeys; i++) printf("%s%s", i ? ", " : "", pl->keys[i]);
    printf("), strategies: %s%s%shash_daily, full_weekly\n", pl->cursor ? "delta_15m (cursor " : "",
           pl->cursor ? pl->cursor : "", pl->cursor ? "), " : "");
    if (pl->unindexed)
        printf("  no delta: %s is not indexed (see the comment in the file)\n", pl->unindexed);
    printf("next: synctool validate && synctool check %s && synctool ddl apply %s\n", name, name);
}

/* --- the command --- */

typedef struct init_opts {
    const char *from, *to;
    char *key;
    bool force, print;
} init_opts;

static int init_parse(init_opts *o, int argc, char **argv) {
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"force", no_argument, NULL, 'F'},
                                         {"print", no_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': init_help(stdout); return -1;
        case 'f': o->from = optarg; break;
        case 't': o->to = optarg; break;
        case 'k': o->key = optarg; break;
        case 'F': o->force = true; break;
        case 'p': o->print = true; break;
        case ':': return cli_usage_error("init", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("init", "unknown option '%s' (see init --help)",
                                   argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("init", "expected exactly one PIPELINE name (see init --help)");
    if (!init_valid_name(argv[optind]))
        return cli_usage_error("init", "invalid pipeline name '%s': use letters, digits, '_' "
                               "and '-' (at most %d)", argv[optind], CONFIG_NAME_MAX);
    return CLI_OK;
}

/* Checks the names against the config; CLI_OK or the error's code. */
static int init_check_names(const config *cfg, const char *name, bool force,
                            const init_ref *src, const init_ref *dst, const char *dst_table) {
    char path[4096];
    snprintf(path, sizeof path, "%s/pipelines/%s.yaml", cfg->dir, name);
    const config_pipeline *p = config_pipeline_find(cfg, name);
    if (p != NULL && !(force && strcmp(p->file, path) == 0))
        return cli_error("init", "pipeline_exists", CLI_FAILED,
                         "pipeline '%s' already exists (in %s): nothing written%s", name, p->file,
                         strcmp(p->file, path) == 0 ? " (pass --force to overwrite it, or "
                         "choose another PIPELINE name)" : "");
    if (!init_datastore(cfg, "--from", src->ds) || !init_datastore(cfg, "--to", dst->ds))
        return CLI_USAGE;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const config_endpoint *e = &cfg->pipelines[i].destination;
        if (strcmp(cfg->pipelines[i].name, name) == 0) continue;   /* --force replaces it */
        if (strcmp(e->datastore, dst->ds) == 0 && strcmp(e->table, dst_table) == 0 &&
            (!e->schema || !dst->schema || strcmp(e->schema, dst->schema) == 0))
            return cli_usage_error("init", "%s.%s is already the destination of pipeline '%s' "
                                   "(%s): choose another table with --to DS.SCHEMA.TABLE",
                                   dst->ds, dst_table, cfg->pipelines[i].name,
                                   cfg->pipelines[i].file);
    }
    /* an omitted schema may be the other's (the default): refused too */
    if (strcmp(src->ds, dst->ds) == 0 && strcmp(src->table, dst_table) == 0 &&
        (!src->schema || !dst->schema || strcmp(src->schema, dst->schema) == 0))
        return cli_usage_error("init", "--to may name the source table itself: give the "
                               "destination another datastore or table, or both schemas");
    return CLI_OK;
}

static int init_run(const config *cfg, const init_opts *o, const char *name, const init_ref *src,
                    const init_ref *dst) {
    const char *dst_table = dst->table ? dst->table : src->table;
    int rc = init_check_names(cfg, name, o->force, src, dst, dst_table);
    if (rc != CLI_OK) return rc;
    init_plan pl = {0};
    store_column_info *pk = NULL;
    rc = init_read(&pl, config_datastore_find(cfg, src->ds), src, o->key, &pk);
    store_sb yaml = {0};
    if (rc == CLI_OK) init_yaml(&yaml, name, src, dst, dst_table, &pl);
    if (rc == CLI_OK && yaml.oom) rc = cli_error("init", "out_of_memory", CLI_FAILED, "out of memory");
    if (rc == CLI_OK && o->print) fputs(yaml.s, stdout);
    else if (rc == CLI_OK) rc = init_write(cfg->dir, name, &yaml, o->force);
    if (rc == CLI_OK && !o->print) init_summary(name, &pl);
    store_sb_free(&yaml);
    free(pk);
    init_plan_free(&pl);
    return rc;
}

int cli_cmd_init(cli_ctx *ctx, int argc, char **argv) {
    init_opts o = {0};
    int rc = init_parse(&o, argc, argv);
    if (rc < 0) return CLI_OK;   /* --help */
    if (rc != CLI_OK) return rc;
    const char *name = argv[optind];
    init_ref src, dst;
    if ((rc = init_parse_ref(&src, "--from", o.from, 2)) != CLI_OK) return rc;
    if ((rc = init_parse_ref(&dst, "--to", o.to, 1)) != CLI_OK) return rc;
    config *cfg = NULL;
    if ((rc = cli_load_config(ctx, &cfg)) != CLI_OK) return rc;
    rc = init_run(cfg, &o, name, &src, &dst);
    config_free(cfg);
    return rc;
}
