/*
 * config — loading a config directory, problems, lookups and freeing.
 *
 * config_load() resolves the directory to an absolute path, reads
 * datastores.yaml, then every pipelines/NAME.yaml or NAME.yml in byte order
 * of the file name (hidden files skipped). Each file is read whole, parsed
 * into a positioned node tree (config_yaml.c) and turned into structs
 * (config_parse.c), which also runs the cross-file checks (duplicate
 * pipeline names, unknown datastores) because datastores.yaml and earlier
 * pipelines are already known when a pipeline file is parsed.
 *
 * Problems are collected, never fatal: after the last file, any problem
 * means ST_EINVAL, no config, and the full list for the caller. A problem's
 * file is shown relative to the config directory ("pipelines/orders.yaml"),
 * which is what an operator sees in their repository; config_pipeline.file
 * keeps the absolute path. Only a missing directory or datastores.yaml stops
 * the load early, with the absolute path in err and no problems.
 *
 * Every file read is kept whole in cfg->sources: config_load_snapshot()
 * loads the same bytes again in a job process (run_handoff_write), reading
 * nothing from the disk, so a job runs with what its scheduler validated.
 *
 * Nothing here opens a database or the network.
 */
#include "config_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- small helpers --- */

char *config_strdup(config_loader *ld, const char *s) {
    if (s == NULL) return NULL;
    char *d = strdup(s);
    if (d == NULL) ld->oom = true;
    return d;
}

char *config_path_join(config_loader *ld, const char *dir, const char *rel) {
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p == NULL) {
        ld->oom = true;
        return NULL;
    }
    snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
    return p;
}

/* --- problems --- */

static int problems_push(config_problems *p, const char *file, int line, int col,
                         const char *msg) {
    char **items = realloc(p->items, (p->n + 1) * sizeof *items);
    if (items == NULL) return ST_ENOMEM;
    p->items = items;
    config_problem *det = realloc(p->details, (p->n + 1) * sizeof *det);
    if (det == NULL) return ST_ENOMEM;
    p->details = det;
    int len = snprintf(NULL, 0, "%s:%d:%d: %s", file, line, col, msg);
    char *text = malloc((size_t)len + 1);
    char *f = strdup(file), *m = strdup(msg);
    if (text == NULL || f == NULL || m == NULL) {
        free(text);
        free(f);
        free(m);
        return ST_ENOMEM;
    }
    snprintf(text, (size_t)len + 1, "%s:%d:%d: %s", file, line, col, msg);
    items[p->n] = text;
    det[p->n] = (config_problem){.file = f, .line = line, .col = col, .message = m};
    p->n++;
    return 0;
}

void config_problem_add(config_loader *ld, int line, int col, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (problems_push(&ld->probs, ld->file ? ld->file : "?", line, col, msg) != 0)
        ld->oom = true;
}

void config_problems_clear(config_problems *p) {
    if (p == NULL) return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i]);
        if (p->details) {
            free(p->details[i].file);
            free(p->details[i].message);
        }
    }
    free(p->items);
    free(p->details);
    p->items = NULL;
    p->details = NULL;
    p->n = 0;
}

/* --- reading files --- */

static int read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -errno;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (nb == NULL) free(buf);
        buf = nb;
    }
    int err = ferror(f) ? EIO : 0;
    fclose(f);
    if (buf == NULL) return -ENOMEM;
    if (err) {
        free(buf);
        return -err;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The snapshot's file `rel`, or NULL. */
static const config_source *snap_find(const config_loader *ld, const char *rel) {
    for (size_t i = 0; i < ld->nsnap; i++)
        if (strcmp(ld->snap[i].rel, rel) == 0) return &ld->snap[i];
    return NULL;
}

/* The text of file `rel` (abs on disk), from the snapshot or the disk:
 * 0 with *text (malloc'ed, len bytes) or a negative errno. */
static int file_text(const config_loader *ld, const char *abs, const char *rel, char **text,
                     size_t *len) {
    if (ld->snap == NULL) return read_file(abs, text, len);
    const config_source *s = snap_find(ld, rel);
    if (s == NULL) return -ENOENT;
    if ((*text = malloc(s->len + 1)) == NULL) return -ENOMEM;
    memcpy(*text, s->text, s->len);
    (*text)[s->len] = '\0';
    *len = s->len;
    return 0;
}

/* Keeps the text of file rel in cfg->sources (takes text). */
static void keep_source(config_loader *ld, const char *rel, char *text, size_t len) {
    config *cfg = ld->cfg;
    config_source *v = realloc(cfg->sources, (cfg->nsources + 1) * sizeof *v);
    char *r = strdup(rel);
    if (v == NULL || r == NULL) {
        if (v) cfg->sources = v;
        free(r);
        free(text);
        ld->oom = true;
        return;
    }
    cfg->sources = v;
    v[cfg->nsources++] = (config_source){.rel = r, .text = text, .len = len};
}

/* Parses one file (display name `rel`) into a tree; problems recorded. */
static config_node *load_tree(config_loader *ld, const char *abs, const char *rel) {
    char *text = NULL;
    size_t len = 0;
    ld->file = rel;
    int rc = file_text(ld, abs, rel, &text, &len);
    if (rc != 0) {
        config_problem_add(ld, 1, 1, "cannot read file: %s", strerror(-rc));
        return NULL;
    }
    config_node *root = NULL;
    if (config_yaml_parse(ld, text, len, &root) == 0 && root == NULL)
        config_problem_add(ld, 1, 1, "file is empty: expected a mapping");
    keep_source(ld, rel, text, len);
    return root;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool config_is_pipeline_file(const char *name) {
    size_t n = strlen(name);
    if (name[0] == '.') return false;
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* The snapshot's pipelines/ files, in its order (names without the folder). */
static char **list_snapshot_files(config_loader *ld, size_t *count) {
    char **names = calloc(ld->nsnap ? ld->nsnap : 1, sizeof *names);
    if (names == NULL) {
        ld->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < ld->nsnap; i++) {
        const char *rel = ld->snap[i].rel;
        if (strncmp(rel, "pipelines/", 10) != 0 || !config_is_pipeline_file(rel + 10)) continue;
        if ((names[*count] = strdup(rel + 10)) == NULL) {
            ld->oom = true;
            break;
        }
        (*count)++;
    }
    return names;
}

/* Sorted names of pipelines/NAME.yaml or .yml; a missing folder is no pipelines. */
static char **list_pipeline_files(config_loader *ld, const char *pdir, size_t *count) {
    *count = 0;
    if (ld->snap != NULL) return list_snapshot_files(ld, count);
    DIR *d = opendir(pdir);
    if (d == NULL) return NULL;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!config_is_pipeline_file(e->d_name)) continue;
        char **nn = realloc(names, (*count + 1) * sizeof *nn);
        char *s = strdup(e->d_name);
        if (nn == NULL || s == NULL) {
            free(s);
            if (nn) names = nn;
            ld->oom = true;
            break;
        }
        names = nn;
        names[(*count)++] = s;
    }
    closedir(d);
    if (*count > 1) qsort(names, *count, sizeof *names, cmp_str);
    return names;
}

static void load_pipelines(config_loader *ld, config *cfg) {
    char *pdir = config_path_join(ld, cfg->dir, "pipelines");
    if (pdir == NULL) return;
    size_t count;
    char **names = list_pipeline_files(ld, pdir, &count);
    for (size_t i = 0; i < count; i++) {
        char *abs = config_path_join(ld, pdir, names[i]);
        char *rel = config_path_join(ld, "pipelines", names[i]);
        struct stat st;
        if (abs && rel && (ld->snap != NULL || (stat(abs, &st) == 0 && S_ISREG(st.st_mode)))) {
            config_node *root = load_tree(ld, abs, rel);
            if (root) config_parse_pipeline(ld, cfg, root, abs);
            config_node_free(root);
        }
        free(abs);
        free(rel);
        free(names[i]);
    }
    free(names);
    free(pdir);
}

/* --- config_load --- */

static int resolve_dir(const char *dir, char **out, st_error *err) {
    char buf[PATH_MAX];
    struct stat st;
    if (dir == NULL || dir[0] == '\0')
        return st_error_set(err, ST_EINVAL, "config directory: none given");
    if (realpath(dir, buf) == NULL)
        return st_error_set(err, ST_EINVAL, "config directory %s: %s", dir, strerror(errno));
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return st_error_set(err, ST_EINVAL, "config directory %s: not a directory", dir);
    *out = strdup(buf);
    if (*out == NULL) return st_error_set(err, ST_ENOMEM, "config: out of memory");
    return 0;
}

static int load_datastores(config_loader *ld, config *cfg, st_error *err) {
    char *abs = config_path_join(ld, cfg->dir, "datastores.yaml");
    if (abs == NULL) return st_error_set(err, ST_ENOMEM, "config: out of memory");
    if (ld->snap == NULL ? access(abs, F_OK) != 0 : snap_find(ld, "datastores.yaml") == NULL) {
        if (ld->snap != NULL) errno = ENOENT;
        st_error_set(err, ST_EINVAL, "%s: %s", abs, strerror(errno));
        free(abs);
        return ST_EINVAL;
    }
    config_node *root = load_tree(ld, abs, "datastores.yaml");
    config_parse_datastores(ld, cfg, root);
    config_node_free(root);
    free(abs);
    return 0;
}

/* Orders problems by line and column within each file, keeping files in
 * load order (a stable insertion sort: problem lists are short). */
static void sort_problems(config_problems *p) {
    for (size_t i = 1; i < p->n; i++) {
        config_problem d = p->details[i];
        char *item = p->items[i];
        size_t j = i;
        while (j > 0 && strcmp(p->details[j - 1].file, d.file) == 0 &&
               (p->details[j - 1].line > d.line ||
                (p->details[j - 1].line == d.line && p->details[j - 1].col > d.col))) {
            p->details[j] = p->details[j - 1];
            p->items[j] = p->items[j - 1];
            j--;
        }
        p->details[j] = d;
        p->items[j] = item;
    }
}

static void hand_over_problems(config_loader *ld, config_problems *problems) {
    sort_problems(&ld->probs);
    if (problems != NULL) {
        config_problems_clear(problems);
        *problems = ld->probs;
    } else {
        config_problems_clear(&ld->probs);
    }
}

/* Is every problem in a pipelines/ file? Then the valid pipelines can be
 * served without the files that have problems. */
static bool only_pipeline_problems(const config_loader *ld) {
    for (size_t i = 0; i < ld->probs.n; i++)
        if (strncmp(ld->probs.details[i].file, "pipelines/", 10) != 0) return false;
    return ld->probs.n > 0;
}

/* Drops every pipeline whose file has a problem (config_load_valid). */
static void drop_invalid_pipelines(const config_loader *ld, config *cfg) {
    size_t dl = strlen(cfg->dir), k = 0;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        config_pipeline *p = &cfg->pipelines[i];
        const char *rel = p->file ? p->file : "";
        if (strncmp(rel, cfg->dir, dl) == 0 && rel[dl] == '/') rel += dl + 1;
        bool bad = p->file == NULL;
        for (size_t j = 0; j < ld->probs.n && !bad; j++)
            bad = strcmp(ld->probs.details[j].file, rel) == 0;
        if (bad) config_free_pipeline(p);
        else cfg->pipelines[k++] = *p;
    }
    cfg->npipelines = k;
}

static int load(config **out, const char *dir, config_problems *problems, bool partial,
                bool pipelines, const config_source *snap, size_t nsnap, st_error *err) {
    *out = NULL;
    if (problems) config_problems_clear(problems);
    config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) return st_error_set(err, ST_ENOMEM, "config: out of memory");
    int rc = 0;
    if (snap == NULL) {
        rc = resolve_dir(dir, &cfg->dir, err);
    } else if (dir == NULL || dir[0] != '/') {
        rc = st_error_set(err, ST_EINVAL, "config snapshot: the directory must be absolute");
    } else if ((cfg->dir = strdup(dir)) == NULL) {
        rc = st_error_set(err, ST_ENOMEM, "config: out of memory");
    }
    config_loader ld = {.dir = cfg->dir, .snap = snap, .nsnap = nsnap, .cfg = cfg};
    if (rc == 0) rc = load_datastores(&ld, cfg, err);
    if (rc == 0 && pipelines) load_pipelines(&ld, cfg);
    if (rc == 0 && ld.oom) rc = st_error_set(err, ST_ENOMEM, "config: out of memory");
    config_map_clear(&ld.names);
    config_map_clear(&ld.dests);
    if (rc == 0 && partial && only_pipeline_problems(&ld)) {
        drop_invalid_pipelines(&ld, cfg);
        hand_over_problems(&ld, problems);
        config_index_build(cfg);
        *out = cfg;
        return 0;
    }
    if (rc == 0 && ld.probs.n > 0)
        rc = st_error_set(err, ST_EINVAL, "%s: %zu problem%s in the configuration",
                          cfg->dir, ld.probs.n, ld.probs.n == 1 ? "" : "s");
    hand_over_problems(&ld, problems);
    if (rc != 0) {
        config_free(cfg);
        return rc;
    }
    config_index_build(cfg);
    *out = cfg;
    return 0;
}

int config_load(config **out, const char *dir, config_problems *problems, st_error *err) {
    return load(out, dir, problems, false, true, NULL, 0, err);
}

int config_load_valid(config **out, const char *dir, config_problems *problems, st_error *err) {
    return load(out, dir, problems, true, true, NULL, 0, err);
}

int config_load_datastores(config **out, const char *dir, st_error *err) {
    return load(out, dir, NULL, false, false, NULL, 0, err);
}

int config_load_snapshot(config **out, const char *dir, const config_source *files, size_t n,
                         config_problems *problems, st_error *err) {
    static const config_source none;
    return load(out, dir, problems, false, true, files ? files : &none, files ? n : 0, err);
}

/* --- freeing --- */

static void free_endpoint(config_endpoint *e) {
    free(e->datastore);
    free(e->schema);
    free(e->table);
    free(e->query);
    free(e->where);
}

void config_free_pipeline(config_pipeline *p) {
    free(p->name);
    free(p->description);
    free(p->file);
    free_endpoint(&p->source);
    free_endpoint(&p->destination);
    config_free_aggregate(p);
    for (size_t i = 0; i < p->ncolumns; i++) {
        free(p->columns[i].name);
        free(p->columns[i].dest_name);
        free(p->columns[i].expr);
        free(p->columns[i].type);
    }
    free(p->columns);
    config_free_lookups(p);
    for (size_t i = 0; i < p->nstrategies; i++) {
        config_strategy *s = &p->strategies[i];
        free(s->name);
        free(s->cron);
        free(s->timezone);
        free(s->cursor);
    }
    free(p->strategies);
}

void config_free(config *cfg) {
    if (cfg == NULL) return;
    for (size_t i = 0; i < cfg->ndatastores; i++) {
        config_datastore *d = &cfg->datastores[i];
        free(d->name);
        free(d->path);
        free(d->host);
        free(d->user);
        free(d->password);
        free(d->env_unset);
        free(d->env_unset_key);
        free(d->dbname);
        free(d->sslmode);
        free(d->unix_socket);
        for (size_t k = 0; k < d->nsecrets; k++) free(d->secrets[k]);
        free(d->secrets);
        free(d->file);
    }
    free(cfg->datastores);
    for (size_t i = 0; i < cfg->npipelines; i++) config_free_pipeline(&cfg->pipelines[i]);
    free(cfg->pipelines);
    config_free_operations(cfg);
    for (size_t i = 0; i < cfg->nsources; i++) {
        free(cfg->sources[i].rel);
        free(cfg->sources[i].text);
    }
    free(cfg->sources);
    memset(&cfg->state_url, 0, sizeof cfg->state_url);   /* the password */
    free(cfg->dir);
    config_index_free(cfg->index);
    free(cfg);
}

/* --- lookups --- */

const config_pipeline *config_pipeline_find(const config *cfg, const char *name) {
    if (cfg == NULL || name == NULL) return NULL;
    bool usable;
    const config_pipeline *p = config_index_find(cfg, name, &usable);
    if (usable) return p;
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (cfg->pipelines[i].name && strcmp(cfg->pipelines[i].name, name) == 0)
            return &cfg->pipelines[i];
    return NULL;
}

const config_strategy *config_strategy_find(const config_pipeline *p, const char *name) {
    if (p == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < p->nstrategies; i++)
        if (p->strategies[i].name && strcmp(p->strategies[i].name, name) == 0)
            return &p->strategies[i];
    return NULL;
}

const config_datastore *config_datastore_find(const config *cfg, const char *name) {
    if (cfg == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < cfg->ndatastores; i++)
        if (cfg->datastores[i].name && strcmp(cfg->datastores[i].name, name) == 0)
            return &cfg->datastores[i];
    return NULL;
}

const config_source *config_source_find(const config *cfg, const char *rel) {
    for (size_t i = 0; cfg && rel && i < cfg->nsources; i++)
        if (strcmp(cfg->sources[i].rel, rel) == 0) return &cfg->sources[i];
    return NULL;
}

const config_source *config_pipeline_source(const config *cfg, const config_pipeline *p) {
    if (cfg == NULL || p == NULL || p->file == NULL) return NULL;
    size_t dl = strlen(cfg->dir);
    const char *rel = p->file;
    if (strncmp(rel, cfg->dir, dl) == 0 && rel[dl] == '/') rel += dl + 1;
    return config_source_find(cfg, rel);
}

const char *config_schema_shown(const config_endpoint *e) {
    return e->schema_hidden ? CONFIG_HIDDEN : e->schema ? e->schema : "-";
}

const char *config_datastore_shown(const config_datastore *d, const char *value) {
    for (size_t i = 0; value && i < d->nsecrets; i++)
        if (strcmp(d->secrets[i], value) == 0) return CONFIG_HIDDEN;
    return value;
}

const char *config_strategy_type_name(config_strategy_type t) {
    switch (t) {
    case CONFIG_STRATEGY_FULL: return "full";
    case CONFIG_STRATEGY_DELTA: return "delta";
    case CONFIG_STRATEGY_HASH: return "hash";
    case CONFIG_STRATEGY_CDC: return "cdc";
    }
    return "?";
}

size_t config_ignored_columns(const config_pipeline *p, char *buf, size_t n) {
    size_t count = 0, used = 0;
    if (n > 0) buf[0] = '\0';
    for (size_t i = 0; i < p->ncolumns; i++) {
        const config_column *c = &p->columns[i];
        if (!c->ignored) continue;
        const char *name = c->dest_name ? c->dest_name : c->name;
        if (used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", count ? ", " : "",
                                     name ? name : "");
        count++;
    }
    return count;
}
