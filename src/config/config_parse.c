/*
 * config_parse — datastores.yaml and the top level of pipeline files.
 *
 * Walks the node trees of config_yaml.c with the getters of config_fields.c
 * and fills the public structs of config.h, applying defaults. Every check
 * that can be made with what is already loaded is made here, at the node
 * that is wrong, so its line and column are exact:
 *   - datastores: type sqlite|postgres|mysql, sqlite needs `path` (made
 *     absolute against the config dir), postgres and mysql need
 *     `connection.dbname` (mysql: `ssl_mode`, `unix_socket` instead of
 *     `sslmode`; `zero_dates: null|error` beside `connection`), keys that
 *     belong to another type are refused; `in_engine: false` (any type)
 *     keeps copies out of the engine (config.h); optional `state.url`, parsed once
 *     into a backend_url (src/url; sqlite:PATH made absolute, or redis://;
 *     rediss:// is refused: no TLS in hiredis 0.14), default
 *     sqlite:DIR/.synctool/state.db;
 *   - pipelines: unique names across files, known datastores, schema
 *     defaults (public on postgres, main on sqlite, the dbname on mysql). Columns and strategies
 *     are in config_pipeline.c.
 *
 * Engine branches left here (issue 22): this file turns `type:` into
 * config_ds_type, refuses the keys of another type and defaults an
 * endpoint's schema by type. The config is read before any store exists
 * and sits below the store module in the dependency order (config.h is
 * what store_open reads), so it cannot ask a driver; the schema defaults
 * match the drivers' default_schema.
 *
 * Secrets: while a datastore is parsed, every value expanded from ${VAR}
 * (any key) and the password are recorded in d->secrets (config.h); a
 * mysql table whose schema defaults to such a dbname is marked
 * schema_hidden (config_schema_shown).
 *
 * Names of datastores, pipelines and strategies end up in lock keys and in
 * `datastore.schema.table` references, so they are restricted to letters,
 * digits, `_` and `-`.
 */
#include "config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool config_name_too_long(config_loader *ld, int line, int col, const char *what,
                          const char *name) {
    size_t n = strlen(name);
    if (n <= CONFIG_NAME_MAX) return false;
    config_problem_add(ld, line, col, "%s name is %zu characters long; the limit is %d "
                       "(names must fit every state record, queued job and lock key): "
                       "shorten it", what, n, CONFIG_NAME_MAX);
    return true;
}

bool config_valid_name(const char *s) {
    if (s == NULL || s[0] == '\0' || s[0] == '-') return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-')) return false;
    return true;
}

/* --- datastores.yaml --- */

void config_add_secret(config_loader *ld, config_datastore *d, const char *value) {
    if (value == NULL || value[0] == '\0') return;
    for (size_t i = 0; i < d->nsecrets; i++)
        if (strcmp(d->secrets[i], value) == 0) return;
    char **s = realloc(d->secrets, (d->nsecrets + 2) * sizeof *s);
    if (s == NULL) {
        ld->oom = true;
        return;
    }
    d->secrets = s;
    if ((s[d->nsecrets] = strdup(value)) == NULL) {
        ld->oom = true;
        return;
    }
    s[++d->nsecrets] = NULL;
}

/* "./a/b" and "a/b" name the same file: drop leading "./" before joining. */
static const char *skip_dot_slash(const char *p) {
    while (p[0] == '.' && p[1] == '/') p += 2;
    return p;
}

static const char *const ds_keys[] = {"type", "path", "connection", "zero_dates", "in_engine",
                                      NULL};
static const char *const conn_keys[] = {"host", "port", "user", "password", "dbname",
                                        "sslmode", NULL};
static const char *const sslmodes[] = {"disable", "allow", "prefer", "require",
                                       "verify-ca", "verify-full", NULL};
static const char *const my_conn_keys[] = {"host", "port", "user", "password", "dbname",
                                           "ssl_mode", "unix_socket", NULL};
static const char *const my_sslmodes[] = {"disable", "preferred", "required", "verify_ca",
                                          "verify_identity", NULL};

/* A key that only the other datastore type takes. */
static void refuse_key(config_loader *ld, const config_node *map, const char *path,
                       const char *key, const char *only) {
    const config_node *k = config_map_key(map, key);
    if (k == NULL) return;
    char kp[512];
    config_key_path(kp, sizeof kp, path, key);
    config_problem_add(ld, k->line, k->col, "%s: only valid for %s datastores", kp, only);
}

/* sslmode (postgres) or ssl_mode (mysql): one of `modes`; a wrong value is
 * named unless it came from ${VAR} (config_shown: "(value hidden)"). */
static void parse_ssl_key(config_loader *ld, const config_node *conn, const char *cp,
                          const char *key, const char *const *modes, const char *expected,
                          config_datastore *d) {
    if (!config_get_string(ld, conn, cp, key, false, &d->sslmode) || !d->sslmode) return;
    for (size_t i = 0; modes[i]; i++)
        if (strcmp(modes[i], d->sslmode) == 0) return;
    const config_node *v = config_map_get(conn, key);
    char shown[256];
    config_problem_add(ld, v->line, v->col, "%s.%s: unknown %s %s (expected %s)", cp, key, key,
                       config_shown(shown, sizeof shown, v, d->sslmode), expected);
}

/* The `connection` map of a server datastore (postgres, mysql): checks its
 * keys against `keys`, reads host, user, password and dbname, and leaves its
 * path in cp. Returns the map, or NULL when it is missing or malformed. */
static const config_node *parse_server_connection(config_loader *ld, const config_node *m,
                                                  const char *path, const char *const *keys,
                                                  char *cp, size_t cpsz,
                                                  config_datastore *d) {
    const config_node *conn = config_map_get(m, "connection");
    config_key_path(cp, cpsz, path, "connection");
    if (conn == NULL) {
        config_missing(ld, m, path, "connection");
        return NULL;
    }
    if (!config_check_map(ld, conn, cp, NULL, keys)) return NULL;
    config_get_string(ld, conn, cp, "host", false, &d->host);
    config_get_string(ld, conn, cp, "user", false, &d->user);
    config_get_string(ld, conn, cp, "password", false, &d->password);
    config_add_secret(ld, d, d->password);
    config_get_string(ld, conn, cp, "dbname", true, &d->dbname);
    return conn;
}

/* port: 1-65535. From ${VAR}, the number as drivers print it ("05432" is
 * shown as 5432) is a secret too. */
static void parse_port(config_loader *ld, const config_node *conn, const char *cp,
                       config_datastore *d) {
    size_t before = d->nsecrets;
    int64_t port = 0;
    if (!config_get_int(ld, conn, cp, "port", 1, 65535, &port)) return;
    d->port = (int)port;
    char text[16];
    snprintf(text, sizeof text, "%d", d->port);
    if (d->nsecrets > before) config_add_secret(ld, d, text);
}

static void parse_postgres(config_loader *ld, const config_node *m, const char *path,
                           config_datastore *d) {
    refuse_key(ld, m, path, "path", "sqlite");
    refuse_key(ld, m, path, "zero_dates", "mysql");
    char cp[512];
    const config_node *conn = parse_server_connection(ld, m, path, conn_keys, cp, sizeof cp, d);
    if (conn == NULL) return;
    parse_port(ld, conn, cp, d);
    parse_ssl_key(ld, conn, cp, "sslmode", sslmodes,
                  "disable, allow, prefer, require, verify-ca or verify-full", d);
}

/* zero_dates: error (default) refuses 0000-00-00 naming column and key;
 * null reads it as NULL. */
static void parse_zero_dates(config_loader *ld, const config_node *m, const char *path,
                             config_datastore *d) {
    const config_node *v = config_map_get(m, "zero_dates");
    if (v == NULL) return;
    if (v->kind == CONFIG_NODE_SCALAR && (v->is_null || strcmp(v->value, "null") == 0)) {
        d->zero_dates_null = true;
        return;
    }
    if (v->kind == CONFIG_NODE_SCALAR && strcmp(v->value, "error") == 0) return;
    config_problem_add(ld, v->line, v->col,
                       "%s.zero_dates: expected null (read 0000-00-00 as NULL) or error "
                       "(refuse it, the default)", path);
}

static void parse_mysql(config_loader *ld, const config_node *m, const char *path,
                        config_datastore *d) {
    refuse_key(ld, m, path, "path", "sqlite");
    parse_zero_dates(ld, m, path, d);
    char cp[512];
    const config_node *conn = parse_server_connection(ld, m, path, my_conn_keys, cp, sizeof cp, d);
    if (conn == NULL) return;
    config_get_string(ld, conn, cp, "unix_socket", false, &d->unix_socket);
    parse_port(ld, conn, cp, d);
    parse_ssl_key(ld, conn, cp, "ssl_mode", my_sslmodes,
                  "disable, preferred, required, verify_ca or verify_identity", d);
}

static void parse_sqlite(config_loader *ld, const config_node *m, const char *path,
                         config_datastore *d) {
    refuse_key(ld, m, path, "connection", "postgres and mysql");
    refuse_key(ld, m, path, "zero_dates", "mysql");
    char *p = NULL;
    size_t before = d->nsecrets;
    if (!config_get_string(ld, m, path, "path", true, &p)) return;
    if (p[0] == '/') {
        d->path = p;
        return;
    }
    d->path = config_path_join(ld, ld->dir, skip_dot_slash(p));
    free(p);
    if (d->nsecrets > before) config_add_secret(ld, d, d->path); /* "./x.db" made absolute */
}

static config_datastore *add_datastore(config_loader *ld, config *cfg) {
    config_datastore *ds = realloc(cfg->datastores, (cfg->ndatastores + 1) * sizeof *ds);
    if (ds == NULL) {
        ld->oom = true;
        return NULL;
    }
    cfg->datastores = ds;
    config_datastore *d = &ds[cfg->ndatastores++];
    memset(d, 0, sizeof *d);
    return d;
}

/* Secrets only when connecting: an unset ${VAR} in any key after `type`
 * is not a load problem; the first one is kept in d->env_unset (with its
 * key and position) for store_open() to report and `validate` to warn
 * about (config.h). */
static void defer_env_begin(config_loader *ld) {
    ld->defer_unset_env = true;
    ld->unset_env[0] = '\0';
}

static void defer_env_end(config_loader *ld, config_datastore *d) {
    ld->defer_unset_env = false;
    if (ld->unset_env[0] == '\0') return;
    d->env_unset = config_strdup(ld, ld->unset_env);
    d->env_unset_key = config_strdup(ld, ld->unset_path);
    d->env_unset_line = ld->unset_line;
    d->env_unset_col = ld->unset_col;
}

/* The keys of one datastore by its type (every ${VAR} expanded here is
 * one of its secrets: ld->secrets_of). */
static void parse_datastore_body(config_loader *ld, const config_node *val, const char *path,
                                 config_datastore *d) {
    char *type = NULL;
    if (!config_get_string(ld, val, path, "type", true, &type)) return;
    defer_env_begin(ld);
    if (strcmp(type, "sqlite") == 0) {
        d->type = CONFIG_DS_SQLITE;
        parse_sqlite(ld, val, path, d);
    } else if (strcmp(type, "postgres") == 0) {
        d->type = CONFIG_DS_POSTGRES;
        parse_postgres(ld, val, path, d);
    } else if (strcmp(type, "mysql") == 0) {
        d->type = CONFIG_DS_MYSQL;
        parse_mysql(ld, val, path, d);
    } else {
        const config_node *v = config_map_get(val, "type");
        char shown[256];
        config_problem_add(ld, v->line, v->col,
                           "%s.type: unknown datastore type %s (expected sqlite, postgres or mysql)",
                           path, config_shown(shown, sizeof shown, v, type));
    }
    defer_env_end(ld, d);
    free(type);
}

static void parse_datastore(config_loader *ld, config *cfg, const config_node *key,
                            const config_node *val) {
    if (key->kind != CONFIG_NODE_SCALAR) return; /* reported by config_check_map */
    char path[512];
    config_key_path(path, sizeof path, "datastores", key->value);
    if (!config_valid_name(key->value))
        config_problem_add(ld, key->line, key->col,
                           "%s: invalid datastore name \"%s\": use letters, digits, '_' and '-'",
                           path, key->value);
    else if (config_name_too_long(ld, key->line, key->col, "datastore", key->value))
        return;
    if (config_datastore_find(cfg, key->value)) return; /* duplicate key, reported */
    config_datastore *d = add_datastore(ld, cfg);
    if (d == NULL) return;
    d->name = config_strdup(ld, key->value);
    d->file = config_strdup(ld, ld->file);
    d->line = key->line;
    d->col = key->col;
    d->type = (config_ds_type)-1;
    if (!config_check_map(ld, val, path, NULL, ds_keys)) return;
    ld->secrets_of = d;
    parse_datastore_body(ld, val, path, d);
    ld->secrets_of = NULL;
    bool in_engine = true;   /* false: copies never run inside the engine */
    if (config_get_bool(ld, val, path, "in_engine", &in_engine)) d->generic_copy = !in_engine;
}

/* A SQLite state URL's path made absolute (relative ones against the config
 * dir). false (a problem at v, or out of memory) if it does not fit. */
static bool sqlite_absolute(config_loader *ld, backend_url *u, const config_node *v) {
    if (u->path[0] == '/') return true;
    char *abs = config_path_join(ld, ld->dir, skip_dot_slash(u->path));
    if (abs == NULL) return false;
    bool fits = strlen(abs) < sizeof u->path;
    if (fits)
        snprintf(u->path, sizeof u->path, "%s", abs);
    else if (v != NULL)
        config_problem_add(ld, v->line, v->col, "state.url: bad SQLite URL: path too long");
    free(abs);
    return fits;
}

static void parse_state(config_loader *ld, config *cfg, const config_node *st) {
    static const char *const keys[] = {"url", NULL};
    if (!config_check_map(ld, st, "state", NULL, keys)) return;
    char *url = NULL;
    if (!config_get_string(ld, st, "state", "url", true, &url)) return;
    const config_node *v = config_map_get(st, "url");
    backend_url u;
    st_error e;
    /* The messages never echo the URL: it may hold a password. */
    if (burl_parse(&u, url, &e) != ST_OK) {
        config_problem_add(ld, v->line, v->col, "state.url: %s", e.msg);
    } else if (u.tls) {
        /* Debian 12's hiredis (0.14) has no TLS: refuse here rather than
         * accept a URL no command can use. */
        config_problem_add(ld, v->line, v->col, "state.url: rediss:// (Redis over TLS) is "
                           "not supported by this build (hiredis 0.14 has no TLS): use "
                           "redis:// on a private network or through a TLS tunnel such as "
                           "stunnel");
    } else if (u.kind != BURL_SQLITE || sqlite_absolute(ld, &u, v)) {
        cfg->state_url = u;
    }
    memset(&u, 0, sizeof u);
    memset(url, 0, strlen(url));
    free(url);
}

void config_parse_datastores(config_loader *ld, config *cfg, const config_node *root) {
    static const char *const top[] = {"datastores", "state", "history", "notify", NULL};
    ld->datastores_parsed = root != NULL;
    if (root != NULL && config_check_map(ld, root, "", NULL, top)) {
        const config_node *ds = config_map_get(root, "datastores");
        if (ds == NULL)
            config_missing(ld, root, "", "datastores");
        else if (config_check_map(ld, ds, "datastores", NULL, NULL))
            for (size_t i = 0; i < ds->n; i++) parse_datastore(ld, cfg, ds->keys[i], ds->vals[i]);
        const config_node *st = config_map_get(root, "state");
        if (st != NULL && !(st->kind == CONFIG_NODE_SCALAR && st->is_null))
            parse_state(ld, cfg, st);
    }
    config_parse_operations(ld, cfg, root);
    if (cfg->state_url.kind == BURL_NONE) {
        backend_url *u = &cfg->state_url;
        snprintf(u->path, sizeof u->path, ".synctool/state.db");
        if (sqlite_absolute(ld, u, NULL)) u->kind = BURL_SQLITE;
        else if (!ld->oom) config_problem_add(ld, 1, 1, "the config directory's path is too long");
    }
}

/* --- pipelines: endpoints and the top level --- */

void config_datastore_schema(config_loader *ld, const config *cfg, const config_node *m,
                             const char *path, const char *datastore, char **schema,
                             bool *hidden) {
    if (datastore == NULL) return;
    const config_datastore *d = config_datastore_find(cfg, datastore);
    if (d == NULL && !ld->datastores_parsed) return; /* its syntax error says it all */
    if (d == NULL) {
        const config_node *v = config_map_get(m, "datastore");
        char known[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < cfg->ndatastores && used < sizeof known; i++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                     cfg->datastores[i].name);
        config_problem_add(ld, v->line, v->col,
                           "%s.datastore: unknown datastore \"%s\" (datastores.yaml defines: %s)",
                           path, datastore, used ? known : "none");
        return;
    }
    if (*schema == NULL && (d->type == CONFIG_DS_SQLITE || d->type == CONFIG_DS_POSTGRES))
        *schema = config_strdup(ld, d->type == CONFIG_DS_SQLITE ? "main" : "public");
    else if (*schema == NULL && d->type == CONFIG_DS_MYSQL && d->dbname != NULL) {
        *schema = config_strdup(ld, d->dbname);
        for (size_t i = 0; i < d->nsecrets; i++)
            if (strcmp(d->secrets[i], d->dbname) == 0) *hidden = true;
    }
}

static void parse_endpoint(config_loader *ld, const config *cfg, const config_node *root,
                           const char *path, bool is_source, config_endpoint *e) {
    static const char *const src_keys[] = {"datastore", "schema", "table", "query", "where",
                                           NULL};
    static const char *const dst_keys[] = {"datastore", "schema", "table", NULL};
    const config_node *m = config_map_get(root, path);
    if (m == NULL) {
        config_missing(ld, root, "", path);
        return;
    }
    if (!config_check_map(ld, m, path, NULL, is_source ? src_keys : dst_keys)) return;
    config_get_string(ld, m, path, "datastore", true, &e->datastore);
    config_get_string(ld, m, path, "schema", false, &e->schema);
    if (is_source) {
        config_get_string(ld, m, path, "table", false, &e->table);
        config_get_string(ld, m, path, "query", false, &e->query);
        config_get_string(ld, m, path, "where", false, &e->where);
        if (config_map_get(m, "table") == NULL && config_map_get(m, "query") == NULL)
            config_problem_add(ld, m->line, m->col,
                               "source: missing required key \"table\" (or \"query\")");
        else if (e->table && e->query) {
            const config_node *k = config_map_key(m, "query");
            config_problem_add(ld, k->line, k->col,
                               "source.query: give either table or query, not both");
        } else if (e->query && e->where) {
            const config_node *k = config_map_key(m, "where");
            config_problem_add(ld, k->line, k->col, "source.where: a filter applies to a "
                               "source table; write the condition into source.query instead");
        }
    } else {
        config_get_string(ld, m, path, "table", true, &e->table);
    }
    config_datastore_schema(ld, cfg, m, path, e->datastore, &e->schema, &e->schema_hidden);
}

static void parse_name(config_loader *ld, const config *cfg, const config_node *root,
                       config_pipeline *p) {
    if (!config_get_string(ld, root, "", "name", true, &p->name)) return;
    const config_node *v = config_map_get(root, "name");
    p->line = v->line;
    p->col = v->col;
    if (!config_valid_name(p->name)) {
        config_problem_add(ld, v->line, v->col,
                           "name: invalid pipeline name \"%s\": use letters, digits, '_' and '-'",
                           p->name);
        return;
    }
    if (config_name_too_long(ld, v->line, v->col, "name: pipeline", p->name)) return;
    size_t i;
    if (config_map_find(&ld->names, p->name, &i)) {   /* config_index.c */
        const config_pipeline *o = &cfg->pipelines[i];
        size_t dl = strlen(ld->dir);
        const char *of = o->file ? o->file : "?";
        if (strncmp(of, ld->dir, dl) == 0 && of[dl] == '/') of += dl + 1;
        config_problem_add(ld, v->line, v->col,
                           "name: duplicate pipeline name \"%s\" (first defined in %s:%d:%d)",
                           p->name, of, o->line, o->col);
        return;
    }
}

static void parse_locks(config_loader *ld, const config_node *root, config_locks *l) {
    static const char *const keys[] = {"wait_for_pipeline_lock", "pipeline_lock_wait_timeout",
                                       "wait_for_table_lock", "table_lock_wait_timeout",
                                       "lease_ttl_seconds", NULL};
    *l = (config_locks){false, 60, false, 30, 30};
    const config_node *m = config_map_get(root, "locks");
    if (m == NULL || !config_check_map(ld, m, "locks", NULL, keys)) return;
    config_get_bool(ld, m, "locks", "wait_for_pipeline_lock", &l->wait_for_pipeline_lock);
    config_get_int(ld, m, "locks", "pipeline_lock_wait_timeout", 0, 86400,
                   &l->pipeline_lock_wait_timeout);
    config_get_bool(ld, m, "locks", "wait_for_table_lock", &l->wait_for_table_lock);
    config_get_int(ld, m, "locks", "table_lock_wait_timeout", 0, 86400,
                   &l->table_lock_wait_timeout);
    config_get_int(ld, m, "locks", "lease_ttl_seconds", 3, 86400, &l->lease_ttl_seconds);
}

static void parse_retry(config_loader *ld, const config_node *root, config_retry *r) {
    static const char *const keys[] = {"max_retry_count", "safe_fallback_window_minutes",
                                       "schedule_buffer_seconds", "pause_window", NULL};
    *r = (config_retry){3, 30, 60, 3600};
    const config_node *m = config_map_get(root, "retry");
    if (m == NULL || !config_check_map(ld, m, "retry", NULL, keys)) return;
    config_get_int(ld, m, "retry", "max_retry_count", 0, 1000000, &r->max_retry_count);
    config_get_int(ld, m, "retry", "safe_fallback_window_minutes", 0, 525600,
                   &r->safe_fallback_window_minutes);
    config_get_int(ld, m, "retry", "schedule_buffer_seconds", 0, 86400,
                   &r->schedule_buffer_seconds);
    const config_node *pw = config_map_get(m, "pause_window");
    if (pw != NULL && (pw->kind != CONFIG_NODE_SCALAR ||
                       !config_parse_duration0(pw->value, &r->pause_window_seconds)))
        config_problem_add(ld, pw->line, pw->col, "retry.pause_window: expected a duration "
                           "such as 90s, 30m, 1h or 1d (0 turns it off), got \"%s\"",
                           pw->kind == CONFIG_NODE_SCALAR ? pw->value : config_kind_name(pw));
}

static config_pipeline *add_pipeline(config_loader *ld, config *cfg) {
    config_pipeline *ps = realloc(cfg->pipelines, (cfg->npipelines + 1) * sizeof *ps);
    if (ps == NULL) {
        ld->oom = true;
        return NULL;
    }
    cfg->pipelines = ps;
    return memset(&ps[cfg->npipelines], 0, sizeof *ps);
}

void config_parse_pipeline(config_loader *ld, config *cfg, const config_node *root,
                           const char *abs_path) {
    static const char *const keys[] = {"name", "description", "source", "destination",
                                       "columns", "strategies", "locks", "retry",
                                       "freshness", "aggregate", "lookups", NULL};
    if (!config_check_map(ld, root, "", NULL, keys)) return;
    config_pipeline *p = add_pipeline(ld, cfg);
    if (p == NULL) return;
    p->file = config_strdup(ld, abs_path);
    parse_name(ld, cfg, root, p);
    if (!config_map_put_first(&ld->names, p->name, cfg->npipelines)) ld->oom = true;
    cfg->npipelines++; /* counted only now: parse_name compares with the others */
    config_get_string(ld, root, "", "description", false, &p->description);
    parse_endpoint(ld, cfg, root, "source", true, &p->source);
    parse_endpoint(ld, cfg, root, "destination", false, &p->destination);
    config_parse_aggregate(ld, root, p);
    config_parse_columns(ld, root, p);
    config_parse_strategies(ld, root, p);
    config_parse_lookups(ld, cfg, root, p);
    config_check_aggregate(ld, root, p);
    config_check_column_types(ld, cfg, root, p);
    config_check_destination(ld, cfg, root, p);
    config_check_cdc(ld, cfg, p);
    parse_locks(ld, root, &p->locks);
    parse_retry(ld, root, &p->retry);
    config_parse_freshness(ld, root, p);
}
