/*
 * config_fields — typed, positioned access to YAML mappings.
 *
 * The parse code never touches node text directly: it asks for "the string
 * at key table of the mapping at path source" and gets either a value or a
 * recorded problem at the right line and column. Where a problem points:
 *   - unknown or duplicate key: at the key;
 *   - wrong type, bad value, unset environment variable: at the value;
 *   - missing required key: at the mapping that should hold it.
 *
 * Environment expansion happens here, on every scalar read through a
 * getter: `${VAR}` is the variable (an unset one is a problem naming it),
 * `${VAR:default}` falls back to the default when VAR is unset or empty,
 * as the shell's ${VAR:-default} does. A `$` not followed by `{` is kept.
 *
 * Values can be secrets (passwords), so string problems never quote the
 * value; only integer, boolean and enumerated fields quote what they got,
 * and not when it came from ${VAR} (config_shown). Inside a datastore
 * (ld->secrets_of) every expanded value is recorded as one of its secrets,
 * which the store hides from every message.
 */
#include "config_int.h"
#include "../strbuf/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void config_key_path(char *buf, size_t n, const char *path, const char *key) {
    if (path == NULL || path[0] == '\0')
        snprintf(buf, n, "%s", key);
    else
        snprintf(buf, n, "%s.%s", path, key);
}

const char *config_kind_name(const config_node *n) {
    if (n == NULL) return "nothing";
    switch (n->kind) {
    case CONFIG_NODE_MAP: return "a mapping";
    case CONFIG_NODE_SEQ: return "a list";
    case CONFIG_NODE_SCALAR: return n->is_null ? "null" : "a scalar";
    }
    return "?";
}

const config_node *config_map_key(const config_node *map, const char *key) {
    if (map == NULL || map->kind != CONFIG_NODE_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->kind == CONFIG_NODE_SCALAR && strcmp(map->keys[i]->value, key) == 0)
            return map->keys[i];
    return NULL;
}

const config_node *config_map_get(const config_node *map, const char *key) {
    if (map == NULL || map->kind != CONFIG_NODE_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->kind == CONFIG_NODE_SCALAR && strcmp(map->keys[i]->value, key) == 0)
            return map->vals[i];
    return NULL;
}

static void join_allowed(char *buf, size_t n, const char *const *allowed) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; allowed[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", allowed[i]);
}

static bool is_allowed(const char *key, const char *const *allowed) {
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(allowed[i], key) == 0) return true;
    return false;
}

/* Reports one key of a mapping if it is not a scalar, repeated or unknown. */
static void check_key(config_loader *ld, const config_node *map, size_t i, const char *path,
                      const char *const *allowed) {
    const config_node *k = map->keys[i];
    const char *where = path[0] ? path : "top level";
    if (k->kind != CONFIG_NODE_SCALAR) {
        config_problem_add(ld, k->line, k->col, "%s: keys must be plain names, got %s",
                           where, config_kind_name(k));
        return;
    }
    for (size_t j = 0; j < i; j++) {
        if (map->keys[j]->kind == CONFIG_NODE_SCALAR && strcmp(map->keys[j]->value, k->value) == 0) {
            char kp[512];
            config_key_path(kp, sizeof kp, path, k->value);
            config_problem_add(ld, k->line, k->col, "%s: duplicate key (first at line %d)", kp,
                               map->keys[j]->line);
            return;
        }
    }
    if (allowed != NULL && !is_allowed(k->value, allowed)) {
        char kp[512], list[512];
        config_key_path(kp, sizeof kp, path, k->value);
        join_allowed(list, sizeof list, allowed);
        config_problem_add(ld, k->line, k->col, "%s: unknown key \"%s\" (expected one of: %s)",
                           kp, k->value, list);
    }
}

bool config_check_map(config_loader *ld, const config_node *node, const char *path,
                      const char *what, const char *const *allowed) {
    if (node == NULL) return false;
    if (node->kind != CONFIG_NODE_MAP) {
        config_problem_add(ld, node->line, node->col, "%s: expected %s, got %s",
                           path[0] ? path : "top level", what ? what : "a mapping",
                           config_kind_name(node));
        return false;
    }
    for (size_t i = 0; i < node->n; i++) check_key(ld, node, i, path, allowed);
    return true;
}

void config_missing(config_loader *ld, const config_node *map, const char *path,
                    const char *key) {
    config_problem_add(ld, map->line, map->col, "%s: missing required key \"%s\"",
                       path[0] ? path : "top level", key);
}

/* --- environment expansion --- */

/* Appends; false when out of memory. */
static bool sb_put(strbuf *b, const char *s, size_t n) { return strbuf_put(b, s, n) == ST_OK; }

static bool valid_var_name(const char *s, size_t n) {
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    return true;
}

/* Expands one ${...} whose body is body[0..n); returns false after a problem. */
static bool expand_one(config_loader *ld, const config_node *node, const char *path,
                       const char *body, size_t n, strbuf *out, bool *oom) {
    const char *colon = memchr(body, ':', n);
    size_t nlen = colon ? (size_t)(colon - body) : n;
    char name[256];
    if (!valid_var_name(body, nlen) || nlen >= sizeof name) {
        config_problem_add(ld, node->line, node->col,
                           "%s: invalid environment variable name in ${...}", path);
        return false;
    }
    memcpy(name, body, nlen);
    name[nlen] = '\0';
    const char *v = getenv(name);
    if (colon && (v == NULL || v[0] == '\0')) {
        if (!sb_put(out, colon + 1, n - nlen - 1)) *oom = true;
        return true;
    }
    if (v == NULL && ld->defer_unset_env) {
        if (ld->unset_env[0] == '\0') {
            snprintf(ld->unset_env, sizeof ld->unset_env, "%s", name);
            snprintf(ld->unset_path, sizeof ld->unset_path, "%s", path);
            ld->unset_line = node->line;
            ld->unset_col = node->col;
        }
        return false;
    }
    if (v == NULL) {
        config_problem_add(ld, node->line, node->col,
                           "%s: environment variable %s is not set (use ${%s:default} "
                           "for a default)", path, name, name);
        return false;
    }
    if (!sb_put(out, v, strlen(v))) *oom = true;
    return true;
}

char *config_expand(config_loader *ld, const config_node *n, const char *path) {
    strbuf out = {0};
    bool oom = !sb_put(&out, "", 0), ok = true, expanded = false;
    const char *s = n->value;
    while (ok && !oom && *s) {
        const char *d = strstr(s, "${");
        if (d == NULL) {
            oom = !sb_put(&out, s, strlen(s));
            break;
        }
        oom = !sb_put(&out, s, (size_t)(d - s));
        const char *end = strchr(d + 2, '}');
        if (end == NULL) {
            config_problem_add(ld, n->line, n->col, "%s: unterminated ${ (missing })", path);
            ok = false;
            break;
        }
        ok = expand_one(ld, n, path, d + 2, (size_t)(end - d - 2), &out, &oom);
        expanded = true;
        s = end + 1;
    }
    if (oom) ld->oom = true;
    if (!ok || oom) {
        free(out.s);
        return NULL;
    }
    if (expanded && ld->secrets_of != NULL) config_add_secret(ld, ld->secrets_of, out.s);
    return out.s;
}

const char *config_shown(char *buf, size_t n, const config_node *v, const char *value) {
    if (v != NULL && v->kind == CONFIG_NODE_SCALAR && strstr(v->value, "${") != NULL)
        snprintf(buf, n, CONFIG_HIDDEN);
    else
        snprintf(buf, n, "\"%s\"", value);
    return buf;
}

/* --- typed getters --- */

/* The expanded text of a scalar value at key; NULL (and *absent) if there is
 * none. Records wrong types. */
static char *scalar_at(config_loader *ld, const config_node *map, const char *path,
                       const char *key, const char *want, bool *absent, const config_node **vn) {
    char kp[512];
    config_key_path(kp, sizeof kp, path, key);
    const config_node *v = config_map_get(map, key);
    *absent = false;
    *vn = v;
    if (v == NULL || (v->kind == CONFIG_NODE_SCALAR && v->is_null)) {
        *absent = true;
        return NULL;
    }
    if (v->kind != CONFIG_NODE_SCALAR) {
        config_problem_add(ld, v->line, v->col, "%s: expected %s, got %s", kp, want,
                           config_kind_name(v));
        return NULL;
    }
    return config_expand(ld, v, kp);
}

bool config_get_string(config_loader *ld, const config_node *map, const char *path,
                       const char *key, bool required, char **out) {
    bool absent;
    const config_node *v;
    char *s = scalar_at(ld, map, path, key, "a string", &absent, &v);
    if (absent) {
        if (!required) return true;
        char kp[512];
        config_key_path(kp, sizeof kp, path, key);
        if (v != NULL)
            config_problem_add(ld, v->line, v->col, "%s: expected a string, got null", kp);
        else
            config_missing(ld, map, path, key);
        return false;
    }
    if (s == NULL) return false;
    if (required && s[0] == '\0') {
        char kp[512];
        config_key_path(kp, sizeof kp, path, key);
        config_problem_add(ld, v->line, v->col, "%s: must not be empty", kp);
        free(s);
        return false;
    }
    free(*out);
    *out = s;
    return true;
}

bool config_get_bool(config_loader *ld, const config_node *map, const char *path,
                     const char *key, bool *out) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    bool absent;
    const config_node *v;
    char *s = scalar_at(ld, map, path, key, "true or false", &absent, &v);
    if (absent) return true;
    if (s == NULL) return false;
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            free(s);
            return true;
        }
    }
    char kp[512];
    config_key_path(kp, sizeof kp, path, key);
    char shown[256];
    config_problem_add(ld, v->line, v->col, "%s: expected true or false, got %s", kp,
                       config_shown(shown, sizeof shown, v, s));
    free(s);
    return false;
}

bool config_get_int(config_loader *ld, const config_node *map, const char *path,
                    const char *key, int64_t min, int64_t max, int64_t *out) {
    bool absent;
    const config_node *v;
    char *s = scalar_at(ld, map, path, key, "an integer", &absent, &v);
    if (absent) return true;
    if (s == NULL) return false;
    char kp[512], *end = NULL;
    config_key_path(kp, sizeof kp, path, key);
    errno = 0;
    long long x = strtoll(s, &end, 10);
    bool ok = true;
    if (end == s || *end != '\0' || errno == ERANGE || isspace((unsigned char)s[0])) {
        char shown[256];
        config_problem_add(ld, v->line, v->col, "%s: expected an integer, got %s", kp,
                           config_shown(shown, sizeof shown, v, s));
        ok = false;
    } else if (x < min || x > max) {
        char shown[256];
        if (config_shown(shown, sizeof shown, v, s)[0] == '"')
            snprintf(shown, sizeof shown, "%lld", x);
        config_problem_add(ld, v->line, v->col, "%s: %s out of range %lld-%lld", kp, shown,
                           (long long)min, (long long)max);
        ok = false;
    } else {
        *out = x;
    }
    free(s);
    return ok;
}
