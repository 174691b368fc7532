/*
 * synctool state init | state migrate --to URL — preparing a state store
 * and moving everything it holds to another one (issue 24).
 *
 * init opens the configured store, which creates or upgrades it, and says
 * what it found: PostgreSQL reports the schema and its version (pgcoord),
 * SQLite the file, Redis that it keeps no schema (keys are made as used).
 *
 * migrate copies from the configured store (state.url) to the one --to
 * names, in this order: history oldest first with each run's log
 * (state_history_each -> state_history_put), then the records in one
 * state_put_many (so a record's run id is the newest), every meta entry
 * (watermarks, why-journal, ...), the /metrics counters and the alert
 * outbox. Process heartbeats are not copied: they describe processes of
 * the old store. The run id counter of the target is kept ahead of every
 * copied id by the backends.
 *
 * It refuses (exit 75) while anything is live on the source: a lock held
 * in the lock store of state.url (a run holds its pipeline's lock; a
 * backend without locks in this build has none; a leading scheduler holds
 * its leader lease), or a scheduler or worker whose heartbeat is younger
 * than STATE_PROCESS_ALIVE_US — unless it is a process of this host (its
 * default name "host:pid") whose pid no longer exists. It refuses a
 * target that already holds records (exit 2): migrate fills an empty
 * store, it never merges. Afterwards it counts what the target holds and
 * compares with what was read; any difference fails (exit 1). The counts
 * are printed. Nothing is removed from the source: switch state.url when
 * the counts agree.
 *
 * --to takes ${VAR} like the config does (write it in single quotes), so
 * a password need not appear in the command line; URLs are only printed
 * redacted.
 */
#include "cli.h"

#include "../lock/lock.h"
#include "../pgcoord/pgcoord.h"
#include "../time/st_time.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct mig_counts {
    size_t records, history, logs, meta, counters, alerts;
} mig_counts;

/* --- the --to URL: ${VAR} expanded, parsed --- */

/* Expands ${NAME} from the environment into out; CLI_USAGE naming an
 * unset variable (never a value). */
static int expand_env(const char *in, char *out, size_t n) {
    size_t o = 0;
    for (const char *p = in; *p;) {
        const char *end = p[0] == '$' && p[1] == '{' ? strchr(p, '}') : NULL;
        if (end == NULL) {
            if (o + 1 >= n) return cli_usage_error("state", "--to: URL too long");
            out[o++] = *p++;
            continue;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(end - p - 2), p + 2);
        const char *v = getenv(name);
        if (v == NULL) return cli_usage_error("state", "--to: ${%s} is not set", name);
        if (o + strlen(v) >= n) return cli_usage_error("state", "--to: URL too long");
        memcpy(out + o, v, strlen(v));
        o += strlen(v);
        p = end + 1;
    }
    out[o] = '\0';
    return CLI_OK;
}

static int parse_target(const char *text, backend_url *u) {
    char buf[2048];
    int rc = expand_env(text, buf, sizeof buf);
    if (rc != CLI_OK) return rc;
    st_error err;
    rc = burl_parse(u, buf, &err);
    memset(buf, 0, sizeof buf);
    if (rc != ST_OK) return cli_usage_error("state", "--to: %s", err.msg);
    if (u->kind == BURL_SQLITE && u->path[0] != '/')
        return cli_usage_error("state", "--to: a SQLite path must be absolute "
                               "(sqlite:///var/lib/synctool/state.db)");
    return CLI_OK;
}

/* --- liveness on the source --- */

/* CLI_SKIPPED naming the first held lock, if any. */
static int refuse_held_locks(const config *cfg) {
    lock_manager *lm;
    st_error err;
    int rc = lock_open(&lm, &cfg->state_url, &err);
    if (rc == ST_ENOTIMPL) return CLI_OK;   /* no locks there in this build: none held */
    if (rc != ST_OK) return cli_error("state", "state_unavailable", CLI_FAILED, "%s", err.msg);
    lock_info *li = NULL;
    size_t n = 0;
    rc = lock_list(lm, &li, &n, &err);
    lock_close(lm);
    if (rc != ST_OK) return cli_error("state", "state_unavailable", CLI_FAILED, "%s", err.msg);
    if (n > 0)
        fprintf(stderr, "synctool state migrate: refused: lock '%s' is held (owner %s), so a "
                        "run is live on this state; wait for it to finish (synctool lock "
                        "list) and stop the scheduler and workers first\n",
                li[0].key, li[0].owner);
    free(li);
    return n > 0 ? CLI_SKIPPED : CLI_OK;
}

/* A process named "<this host>:<pid>" (the default name) whose pid is gone
 * has stopped, whatever its last beat says; others are judged by the beat. */
static bool gone_from_this_host(const char *name) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    size_t hl = strlen(host);
    if (hl == 0 || strncmp(name, host, hl) != 0 || name[hl] != ':') return false;
    char *end;
    long long pid = strtoll(name + hl + 1, &end, 10);
    if (*end != '\0' || end == name + hl + 1 || pid <= 0) return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* CLI_SKIPPED naming a scheduler or worker that beat recently. */
static int refuse_live_processes(state *src, int64_t now) {
    state_process *p = NULL;
    size_t n = 0;
    st_error err;
    int rc = state_beats(src, &p, &n, &err);
    if (rc == ST_ENOTIMPL) return CLI_OK;
    if (rc != ST_OK) return cli_error("state", "state_unavailable", CLI_FAILED, "%s", err.msg);
    int out = CLI_OK;
    for (size_t i = 0; i < n && out == CLI_OK; i++) {
        if (strcmp(p[i].kind, "scheduler") != 0 && strcmp(p[i].kind, "worker") != 0) continue;
        int64_t age = now - p[i].last_heartbeat_at;
        if (p[i].last_heartbeat_at == ST_TIME_NONE || age > STATE_PROCESS_ALIVE_US ||
            gone_from_this_host(p[i].name))
            continue;
        fprintf(stderr, "synctool state migrate: refused: %s '%s' beat %llds ago; stop it "
                        "(a process of another host counts as live for %llds after its "
                        "last beat)\n",
                p[i].kind, p[i].name, (long long)(age / ST_USEC),
                (long long)(STATE_PROCESS_ALIVE_US / ST_USEC));
        out = CLI_SKIPPED;
    }
    free(p);
    return out;
}

/* --- copying --- */

typedef struct hist_copy {
    state *to;
    mig_counts *c;
    st_error err;
} hist_copy;

static int copy_run(void *ud, const state_run *r) {
    hist_copy *h = ud;
    int rc = state_history_put(h->to, r, &h->err);
    if (rc == ST_OK) {
        h->c->history++;
        if (r->log != NULL && r->log[0] != '\0') h->c->logs++;
    }
    return rc;
}

static int copy_meta(state *from, state *to, mig_counts *c, st_error *err) {
    state_meta *m;
    size_t n;
    int rc = state_meta_list(from, &m, &n, err);
    for (size_t i = 0; rc == ST_OK && i < n; i++)
        rc = state_meta_put(to, m[i].pipeline, m[i].strategy, m[i].key, m[i].value, err);
    if (rc == ST_OK) c->meta = n;
    state_meta_list_free(m, n);
    return rc;
}

/* Counters are added per pair, at most 16 names a step. */
static int copy_counters(state *from, state *to, mig_counts *c, st_error *err) {
    state_counter *k;
    size_t n;
    int rc = state_counters_list(from, &k, &n, err);
    if (rc == ST_ENOTIMPL) return ST_OK;
    if (rc != ST_OK) return rc;
    for (size_t i = 0; rc == ST_OK && i < n;) {
        const char *names[16];
        double deltas[16];
        size_t m = 0;
        while (i + m < n && m < 16 && strcmp(k[i + m].pipeline, k[i].pipeline) == 0 &&
               strcmp(k[i + m].strategy, k[i].strategy) == 0) {
            names[m] = k[i + m].name;
            deltas[m] = k[i + m].value;
            m++;
        }
        rc = state_counters_add(to, k[i].pipeline, k[i].strategy, m, names, deltas, err);
        i += m;
    }
    c->counters = n;
    free(k);
    return rc;
}

static int copy_alerts(state *from, state *to, mig_counts *c, st_error *err) {
    state_alert *a;
    size_t n;
    int rc = state_outbox_list(from, NULL, false, &a, &n, err);
    if (rc == ST_ENOTIMPL) return ST_OK;
    if (rc != ST_OK) return rc;
    /* each entry keeps its status (delivered, failed, pending) */
    if (n) rc = state_outbox_add(to, a, n, NULL, NULL, NULL, NULL, err);
    c->alerts = n;
    free(a);
    return rc;
}

static int copy_all(state *from, state *to, mig_counts *c, st_error *err) {
    hist_copy h = {.to = to, .c = c};
    int rc = state_history_each(from, copy_run, &h, err);
    if (rc != ST_OK) {
        if (h.err.code != ST_OK) *err = h.err;
        return st_error_wrap(err, "copying history");
    }
    state_record *recs;
    size_t n;
    if ((rc = state_list(from, &recs, &n, err)) != ST_OK) return rc;
    if (err->code == ST_EINVAL)
        fprintf(stderr, "synctool state migrate: warning: left out: %s\n", err->msg);
    rc = state_put_many(to, recs, n, err);
    free(recs);
    if (rc != ST_OK) return st_error_wrap(err, "copying records");
    c->records = n;
    if ((rc = copy_meta(from, to, c, err)) != ST_OK) return st_error_wrap(err, "copying meta");
    if ((rc = copy_counters(from, to, c, err)) != ST_OK)
        return st_error_wrap(err, "copying counters");
    if ((rc = copy_alerts(from, to, c, err)) != ST_OK)
        return st_error_wrap(err, "copying the alert outbox");
    return ST_OK;
}

/* --- verifying --- */

static int count_run(void *ud, const state_run *r) {
    mig_counts *c = ud;
    c->history++;
    if (r->log != NULL && r->log[0] != '\0') c->logs++;
    return 0;
}

static int count_store(state *st, mig_counts *c, st_error *err) {
    memset(c, 0, sizeof *c);
    state_record *recs;
    state_meta *m;
    state_counter *k;
    state_alert *a;
    int rc = state_history_each(st, count_run, c, err);
    if (rc == ST_OK && (rc = state_list(st, &recs, &c->records, err)) == ST_OK) free(recs);
    if (rc == ST_OK && (rc = state_meta_list(st, &m, &c->meta, err)) == ST_OK)
        state_meta_list_free(m, c->meta);
    if (rc == ST_OK && (rc = state_counters_list(st, &k, &c->counters, err)) == ST_OK) free(k);
    if (rc == ST_OK && (rc = state_outbox_list(st, NULL, false, &a, &c->alerts, err)) == ST_OK)
        free(a);
    return rc;
}

static void print_counts(const char *label, const mig_counts *c) {
    printf("%-8s records %zu, history %zu, logs %zu, meta %zu (watermarks, why), "
           "counters %zu, alerts %zu\n", label, c->records, c->history, c->logs, c->meta,
           c->counters, c->alerts);
}

static int verify(state *to, const mig_counts *copied) {
    mig_counts got;
    st_error err;
    if (count_store(to, &got, &err) != ST_OK)
        return cli_error("state", "failed", CLI_FAILED, "counting the target: %s", err.msg);
    print_counts("copied", copied);
    print_counts("target", &got);
    if (memcmp(&got, copied, sizeof got) != 0)
        return cli_error("state", "failed", CLI_FAILED, "the target's counts differ from what "
                         "was copied; keep state.url as it is and look at the target");
    return CLI_OK;
}

/* --- commands --- */

static int target_empty(state *to, const char *shown) {
    state_record *recs;
    size_t n;
    st_error err;
    if (state_list(to, &recs, &n, &err) != ST_OK)
        return cli_error("state", "state_unavailable", CLI_FAILED, "%s", err.msg);
    free(recs);
    if (n == 0) return CLI_OK;
    return cli_usage_error("state", "the target %s already holds %zu record(s): migrate "
                           "fills an empty store and never merges", shown, n);
}

static int migrate(const config *cfg, state *from, const backend_url *tu) {
    char shown[600], src[600];
    burl_redact(tu, shown, sizeof shown);
    burl_redact(&cfg->state_url, src, sizeof src);
    int rc = refuse_held_locks(cfg);
    if (rc == CLI_OK) rc = refuse_live_processes(from, st_time_now());
    if (rc != CLI_OK) return rc;
    state *to;
    st_error err;
    if (state_open(&to, tu, &err) != ST_OK)
        return cli_error("state", "state_unavailable", CLI_FAILED, "%s", err.msg);
    if ((rc = target_empty(to, shown)) == CLI_OK) {
        printf("migrating state from %s to %s\n", src, shown);
        mig_counts c = {0};
        if (copy_all(from, to, &c, &err) != ST_OK)
            rc = cli_error("state", "failed", CLI_FAILED, "%s", err.msg);
        else if ((rc = verify(to, &c)) == CLI_OK)
            printf("done: point state.url at %s on every host\n", shown);
    }
    state_close(to);
    return rc;
}

int cli_state_migrate(const cli_ctx *ctx, const char *to_text) {
    backend_url tu;
    int rc = parse_target(to_text, &tu);
    if (rc != CLI_OK) return rc;
    config *cfg;
    if ((rc = cli_load_config(ctx, &cfg)) != CLI_OK) return rc;
    char a[600], b[600];
    if (tu.kind == cfg->state_url.kind &&
        strcmp(burl_redact(&tu, a, sizeof a), burl_redact(&cfg->state_url, b, sizeof b)) == 0)
        rc = cli_usage_error("state", "--to names the configured store itself");
    state *from;
    if (rc == CLI_OK && (rc = cli_open_state(cfg, &from)) == CLI_OK) {
        rc = migrate(cfg, from, &tu);
        state_close(from);
    }
    memset(&tu, 0, sizeof tu);
    config_free(cfg);
    return rc;
}

/* PostgreSQL: connecting creates or migrates the schema; whether it was
 * this connection that did is read from the server (the newest version's
 * applied_at against this session's start, both the server's clock). */
static int init_postgres(const backend_url *u) {
    PGconn *c;
    st_error err;
    char shown[600];
    burl_redact(u, shown, sizeof shown);
    if (pgc_connect(u, "synctool-init", &c, &err) != ST_OK)
        return cli_error("state", "state_unavailable", CLI_FAILED, "%s", err.msg);
    PGresult *r = PQexec(c, "SELECT version, applied_at >= (SELECT backend_start FROM"
                            " pg_stat_activity WHERE pid = pg_backend_pid())"
                            " FROM synctool_schema ORDER BY version DESC LIMIT 1");
    int rc = CLI_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        rc = cli_error("state", "failed", CLI_FAILED, "reading the schema version: %s",
                       PQresultErrorMessage(r));
    else
        printf("state: PostgreSQL %s, schema \"%s\" %s version %s\n", shown, u->schema,
               strcmp(PQgetvalue(r, 0, 1), "t") == 0 ? "created or migrated to" : "already at",
               PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return rc;
}

int cli_state_init(const cli_ctx *ctx) {
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const backend_url *u = &cfg->state_url;
    char shown[600];
    burl_redact(u, shown, sizeof shown);
    state *st;
    if (u->kind == BURL_POSTGRES) {
        rc = init_postgres(u);
    } else if ((rc = cli_open_state(cfg, &st)) == CLI_OK) {   /* creates SQLite's tables */
        state_close(st);
        if (u->kind == BURL_REDIS)
            printf("state: Redis %s reachable; Redis keeps no schema (keys are created as "
                   "they are used)\n", shown);
        else
            printf("state: SQLite %s ready (its tables are created when missing)\n", u->path);
    }
    config_free(cfg);
    return rc;
}
