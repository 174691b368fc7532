/*
 * state_spool — outcomes the state store could not take, kept on local disk
 * until the next contact.
 *
 * A run that copied its data but could not record the outcome within its
 * lease (the state store unreachable) exits 69 "data copied, outcome not
 * recorded". Before it does, it writes the outcome here: one JSON file per
 * run in the spool directory, written to a temporary name, fsync'ed and
 * renamed, mode 0600. The next state_open of the same state URL by any
 * synctool command on this host (a run, the scheduler's tick, a worker,
 * `status`) replays the files: state_record_late() records the outcome,
 * correcting a run already recorded `lost` meanwhile without counting a
 * second failure, and the file is removed. A file that cannot be recorded
 * now (the store still away) stays for the next time.
 *
 * Directory: SYNCTOOL_SPOOL_DIR, else $STATE_DIRECTORY/spool (systemd's
 * StateDirectory=), else $XDG_STATE_HOME/synctool/spool, else
 * ~/.local/state/synctool/spool; created 0700.
 *
 * Files carry the state URL they belong to without user and password (the
 * one redactor, burl_redact, over the parsed URL with both cleared), so two
 * configs on one host never record into each other's store, and no secret
 * reaches the disk. Two processes replaying at once: each claims a file by renaming it to
 * a name of its own first; only the one whose rename succeeded records it.
 */
#include "state.h"

#include "../json/json.h"
#include "../log/log.h"
#include "../strbuf/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_PATH_MAX 1024

/* The URL without userinfo: "redis://:pw@h:1/0" -> "redis://h:1/0". */
static void spool_identity(const backend_url *u, char *buf, size_t n) {
    backend_url id = *u;
    memset(id.user, 0, sizeof id.user);
    memset(id.password, 0, sizeof id.password);
    burl_redact(&id, buf, n);
}

static int spool_dir(char *buf, size_t n) {
    const char *d = getenv("SYNCTOOL_SPOOL_DIR");
    int len;
    if (d != NULL && d[0] != '\0') {
        len = snprintf(buf, n, "%s", d);
    } else if ((d = getenv("STATE_DIRECTORY")) != NULL && d[0] != '\0') {
        len = snprintf(buf, n, "%.*s/spool", (int)strcspn(d, ":"), d);
    } else if ((d = getenv("XDG_STATE_HOME")) != NULL && d[0] != '\0') {
        len = snprintf(buf, n, "%s/synctool/spool", d);
    } else if ((d = getenv("HOME")) != NULL && d[0] != '\0') {
        len = snprintf(buf, n, "%s/.local/state/synctool/spool", d);
    } else {
        return -1;
    }
    return len > 0 && (size_t)len < n ? 0 : -1;
}

/* mkdir -p with mode 0700. */
static int spool_mkdirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST) return -1;
    }
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static void spool_write_json(json_writer *w, const char *identity, const state_outcome *o) {
    const state_stats *s = &o->stats;
    json_begin_object(w);
    json_kv_int(w, "version", 1);
    json_kv_string(w, "state", identity);
    json_kv_string(w, "pipeline", o->pipeline);
    json_kv_string(w, "strategy", o->strategy);
    json_kv_int(w, "run_id", o->run_id);
    json_kv_string(w, "status", state_status_name(o->status));
    json_kv_int(w, "started_at_us", o->started_at);
    json_kv_int(w, "finished_at_us", o->finished_at);
    json_kv_string(w, "worker", o->worker ? o->worker : "");
    json_kv_string(w, "message", o->message ? o->message : "");
    json_kv_string(w, "error", o->error ? o->error : "");
    json_kv_string(w, "log", o->log ? o->log : "");
    json_key(w, "stats");
    json_begin_object(w);
    json_kv_int(w, "rows_read", s->rows_read);
    json_kv_int(w, "rows_inserted", s->rows_inserted);
    json_kv_int(w, "rows_updated", s->rows_updated);
    json_kv_int(w, "rows_deleted", s->rows_deleted);
    json_kv_int(w, "rows_null_cursor", s->rows_null_cursor);
    json_kv_int(w, "segments_compared", s->segments_compared);
    json_kv_int(w, "segments_skipped", s->segments_skipped);
    json_key(w, "seconds");
    json_double(w, s->seconds);
    json_end_object(w);
    json_end_object(w);
}

static int spool_write_file(const char *tmp, const char *path, const char *text,
                            st_error *err) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return st_error_set(err, ST_ERR, "spool: cannot create %s: %s", tmp, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        off += (size_t)k;
    }
    int ok = off == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return st_error_set(err, ST_ERR, "spool: cannot write %s: %s", path, strerror(e));
    }
    return ST_OK;
}

int state_spool_write(const backend_url *u, const state_outcome *o, char *where, size_t n,
                      st_error *err) {
    char dir[SPOOL_PATH_MAX], identity[SPOOL_PATH_MAX];
    if (spool_dir(dir, sizeof dir) != 0)
        return st_error_set(err, ST_ERR, "spool: no directory (set SYNCTOOL_SPOOL_DIR)");
    if (spool_mkdirs(dir) != 0)
        return st_error_set(err, ST_ERR, "spool: cannot create %s: %s", dir, strerror(errno));
    spool_identity(u, identity, sizeof identity);
    char path[SPOOL_PATH_MAX + 64], tmp[SPOOL_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/run-%" PRId64 "-%ld.json", dir, o->run_id, (long)getpid());
    snprintf(tmp, sizeof tmp, "%s/.tmp-%" PRId64 "-%ld", dir, o->run_id, (long)getpid());
    json_writer w;
    json_init(&w);
    spool_write_json(&w, identity, o);
    int rc = w.failed ? st_error_set(err, ST_ENOMEM, "spool: out of memory")
                      : spool_write_file(tmp, path, w.buf, err);
    json_release(&w);
    if (rc == ST_OK && where != NULL) snprintf(where, n, "%s", path);
    return rc;
}

/* --- replay --- */

static const char *spool_str(const json_value *v, const char *key) {
    const json_value *x = json_get(v, key);
    return x != NULL && x->type == JSON_STRING ? x->string : "";
}

static int64_t spool_int(const json_value *v, const char *key) {
    const json_value *x = json_get(v, key);
    return x != NULL && x->type == JSON_NUMBER && x->is_integer ? x->integer : 0;
}

static int spool_status(const char *name, state_status *out) {
    static const state_status all[] = {STATE_SUCCESS, STATE_FAILED, STATE_SKIPPED,
                                       STATE_INTERRUPTED, STATE_LOST};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(state_status_name(all[i]), name) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

/* Fills *o from a parsed file; pointers point into `v`. */
static int spool_outcome(const json_value *v, state_outcome *o) {
    memset(o, 0, sizeof *o);
    o->pipeline = spool_str(v, "pipeline");
    o->strategy = spool_str(v, "strategy");
    o->run_id = spool_int(v, "run_id");
    o->started_at = spool_int(v, "started_at_us");
    o->finished_at = spool_int(v, "finished_at_us");
    o->worker = spool_str(v, "worker");
    o->message = spool_str(v, "message");
    o->error = spool_str(v, "error");
    o->log = spool_str(v, "log");
    const json_value *s = json_get(v, "stats");
    o->stats.rows_read = spool_int(s, "rows_read");
    o->stats.rows_inserted = spool_int(s, "rows_inserted");
    o->stats.rows_updated = spool_int(s, "rows_updated");
    o->stats.rows_deleted = spool_int(s, "rows_deleted");
    o->stats.rows_null_cursor = spool_int(s, "rows_null_cursor");
    o->stats.segments_compared = spool_int(s, "segments_compared");
    o->stats.segments_skipped = spool_int(s, "segments_skipped");
    const json_value *sec = json_get(s, "seconds");
    o->stats.seconds = sec != NULL && sec->type == JSON_NUMBER ? sec->number : 0;
    if (o->pipeline[0] == '\0' || o->strategy[0] == '\0' || o->run_id <= 0) return -1;
    return spool_status(spool_str(v, "status"), &o->status);
}

/* Parses one file; NULL (logged) if it is unreadable or not ours. */
static json_value *spool_load(const char *path, const char *identity) {
    strbuf text = {0};
    if (strbuf_read_file(&text, path, 0) != ST_OK) {
        strbuf_release(&text);
        return NULL;
    }
    json_value *v = NULL;
    st_error e;
    if (json_parse(&v, text.s, text.len, &e) != ST_OK) {
        log_warn(NULL, NULL, "spool: %s is not valid JSON (%s); left in place", path, e.msg);
        v = NULL;
    } else if (strcmp(spool_str(v, "state"), identity) != 0) {
        json_free(v);
        v = NULL;
    }
    strbuf_release(&text);
    return v;
}

/* Records one claimed file. Returns ST_OK (done, file removed) or an error
 * (file given back its name for the next time). */
static int spool_apply(state *st, const char *claimed, const char *path, json_value *v,
                       st_error *err) {
    state_outcome o;
    if (spool_outcome(v, &o) != 0) {
        log_warn(NULL, NULL, "spool: %s does not hold an outcome; left as %s", path, claimed);
        return ST_OK;
    }
    bool applied = false;
    int rc = state_record_late(st, &o, &applied, err);
    if (rc != ST_OK) {
        if (rename(claimed, path) != 0) log_warn(NULL, NULL, "spool: cannot restore %s", path);
        return rc;
    }
    if (applied)
        log_info(o.pipeline, o.strategy, "Run %" PRId64 " %s: recorded late from %s (the state "
                 "store was unreachable when it finished)", o.run_id,
                 state_status_name(o.status), path);
    unlink(claimed);
    return ST_OK;
}

static int spool_replay_one(state *st, const char *dir, const char *name,
                            const char *identity, int *count, st_error *err) {
    char path[SPOOL_PATH_MAX + 300], claimed[SPOOL_PATH_MAX + 340];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_value *v = spool_load(path, identity);
    if (v == NULL) return ST_OK;
    snprintf(claimed, sizeof claimed, "%s/.claim-%ld-%s", dir, (long)getpid(), name);
    int rc = ST_OK;
    if (rename(path, claimed) == 0) {   /* else another process took it */
        rc = spool_apply(st, claimed, path, v, err);
        if (rc == ST_OK) (*count)++;
    }
    json_free(v);
    return rc;
}

int state_spool_replay(state *st, const backend_url *u, int *replayed, st_error *err) {
    int count = 0;
    if (replayed) *replayed = 0;
    char dir[SPOOL_PATH_MAX], identity[SPOOL_PATH_MAX];
    if (spool_dir(dir, sizeof dir) != 0) return ST_OK;
    DIR *d = opendir(dir);
    if (d == NULL) return ST_OK;
    spool_identity(u, identity, sizeof identity);
    int rc = ST_OK;
    struct dirent *de;
    while (rc == ST_OK && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, "run-", 4) != 0 || len < 6 ||
            strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        rc = spool_replay_one(st, dir, de->d_name, identity, &count, err);
    }
    closedir(d);
    if (replayed) *replayed = count;
    return rc;
}
