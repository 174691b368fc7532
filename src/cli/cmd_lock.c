/*
 * synctool lock — hold a lock by hand (maintenance, tests) or list locks.
 *
 *   lock hold (--pipeline N | --table DS.SCHEMA.TABLE) --for SECS
 *             [--shared] [--wait SECS] [--ttl SECS]
 *   lock list [--json]
 *
 * `hold` takes the pipeline execution lock, or the table DDL lock
 * (exclusive by default: what a schema change takes; --shared: what a sync
 * takes), prints `holding <key> (fence N) for SECS s`, keeps the lease
 * renewed every ttl/3 until SECS have passed or SIGINT/SIGTERM arrives, then
 * releases and prints `released <key>`. Busy: exit 75 (with --wait, after
 * waiting that long). If a renewal or the release finds the lock gone — the
 * process was paused past its TTL and someone else took it — it prints
 * `lost lock <key>` and exits 1 without touching the new holder's lock.
 *
 * Signals are blocked and taken with sigtimedwait(), so there is no handler
 * and no global flag; the wait between renewals is the same call.
 *
 * `list` shows every live lock at the state URL: key, mode, holders, fence
 * and seconds until expiry. Owner tokens are not printed.
 */
#include "cli.h"

#include "../json/json.h"
#include "../lock/lock.h"
#include "../time/st_time.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct hold_args {
    const char *pipeline, *table;
    int64_t for_s, wait_s, ttl_s;   /* -1 = not given */
    bool shared;
} hold_args;

static void lock_usage(FILE *f) {
    fprintf(f,
            "usage: synctool lock hold (--pipeline N | --table DS.SCHEMA.TABLE) --for SECS\n"
            "                          [--shared] [--wait SECS] [--ttl SECS]\n"
            "       synctool lock list [--json]\n\n"
            "hold: takes the pipeline lock or the table DDL lock (exclusive unless\n"
            "--shared), keeps it renewed for SECS seconds or until SIGINT/SIGTERM, then\n"
            "releases it. Exit 75 if it is busy (after --wait SECS if given), 1 if the\n"
            "lock was lost while held. --ttl sets the lease (default 30 s).\n"
            "list: every held lock with its mode, holders, fence and expiry.\n");
}

static int hold_parse(int argc, char **argv, hold_args *a) {
    static const struct option opts[] = {
        {"pipeline", required_argument, NULL, 'p'}, {"table", required_argument, NULL, 't'},
        {"for", required_argument, NULL, 'f'},      {"wait", required_argument, NULL, 'w'},
        {"ttl", required_argument, NULL, 'T'},      {"shared", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *a = (hold_args){.for_s = -1, .wait_s = -1, .ttl_s = -1};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': a->pipeline = optarg; break;
        case 't': a->table = optarg; break;
        case 'f': if (cli_parse_int("--for", optarg, &a->for_s)) return CLI_USAGE; break;
        case 'w': if (cli_parse_int("--wait", optarg, &a->wait_s)) return CLI_USAGE; break;
        case 'T': if (cli_parse_int("--ttl", optarg, &a->ttl_s)) return CLI_USAGE; break;
        case 's': a->shared = true; break;
        case 'h': lock_usage(stdout); return -1;
        case ':': return cli_usage_error("lock", "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("lock", "unknown option '%s' (see lock --help)",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error("lock", "unexpected argument '%s'", argv[optind]);
    if ((a->pipeline == NULL) == (a->table == NULL))
        return cli_usage_error("lock", "hold needs exactly one of --pipeline or --table");
    if (a->for_s < 0) return cli_usage_error("lock", "hold needs --for SECS");
    if (a->ttl_s == 0) return cli_usage_error("lock", "--ttl must be at least 1 second");
    if (a->shared && a->pipeline)
        return cli_usage_error("lock", "--shared applies to table locks only");
    return CLI_OK;
}

/* Builds the lock key from the arguments, checking names against the config. */
static int hold_key(const config *cfg, const hold_args *a, char *key, size_t n) {
    if (a->pipeline) {
        if (config_pipeline_find(cfg, a->pipeline) == NULL)
            return cli_usage_error("lock", "unknown pipeline '%s'", a->pipeline);
        lock_key_pipeline(key, n, a->pipeline);
        return CLI_OK;
    }
    char buf[320];
    snprintf(buf, sizeof buf, "%s", a->table);
    char *d1 = strchr(buf, '.');
    char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d1 == NULL || d2 == NULL || d1 == buf || d2 == d1 + 1 || d2[1] == '\0')
        return cli_usage_error("lock", "--table: expected DATASTORE.SCHEMA.TABLE, got '%s'",
                               a->table);
    *d1 = *d2 = '\0';
    if (config_datastore_find(cfg, buf) == NULL)
        return cli_usage_error("lock", "--table: unknown datastore '%s'", buf);
    lock_key_table(key, n, buf, d1 + 1, d2 + 1);
    return CLI_OK;
}

/* Keeps h renewed until for_s passed or a signal. 0 ok, 1 lost. */
static int hold_loop(lock_manager *lm, const lock_handle *h, int64_t for_s) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int64_t end = st_time_mono_ms() + for_s * 1000, every = h->ttl_ms / 3;
    int64_t next = st_time_mono_ms() + every;
    for (;;) {
        int64_t now = st_time_mono_ms();
        if (now >= end) return 0;
        if (now >= next) {
            st_error err;
            int rc = lock_renew(lm, h, &err);
            if (rc == ST_ESTALE) {
                fprintf(stderr, "synctool lock: lost lock %s: %s\n", h->key, err.msg);
                return 1;
            }
            if (rc != ST_OK) fprintf(stderr, "synctool lock: renewal failed: %s\n", err.msg);
            next = now + every;
        }
        int64_t wait = (next < end ? next : end) - now;
        struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) return 0;
    }
}

/* Acquires with SIGINT/SIGTERM still deliverable (so Ctrl-C ends a long
 * --wait), then blocks them for the hold. A signal in the instant between
 * the two ends the process with the lock held: it expires after its TTL. */
static int hold_locked(lock_manager *lm, const hold_args *a, const char *key) {
    lock_mode mode = a->shared ? LOCK_SHARED : LOCK_EXCLUSIVE;
    int64_t ttl = (a->ttl_s > 0 ? a->ttl_s : 30) * 1000;
    lock_handle h;
    st_error err;
    int rc = lock_acquire(lm, key, mode, ttl, &h, &err);
    if (rc == ST_EBUSY && a->wait_s > 0) {
        fprintf(stderr, "synctool lock: %s is busy; waiting up to %llds\n", key,
                (long long)a->wait_s);
        rc = lock_acquire_wait(lm, key, mode, ttl, a->wait_s * 1000, &h, &err);
    }
    if (rc == ST_EBUSY || rc == ST_ETIMEOUT) {
        fprintf(stderr, "synctool lock: %s is busy: %s\n", key, err.msg);
        return CLI_SKIPPED;
    }
    if (rc != ST_OK) {
        fprintf(stderr, "synctool lock: %s\n", err.msg);
        return CLI_FAILED;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, &old);
    printf("holding %s (fence %lld) for %lld s\n", key, (long long)h.fence, (long long)a->for_s);
    fflush(stdout);
    int lost = hold_loop(lm, &h, a->for_s);
    if (!lost && lock_release(lm, &h, &err) == ST_ESTALE) {
        fprintf(stderr, "synctool lock: lost lock %s: %s\n", key, err.msg);
        lost = 1;
    }
    if (!lost) printf("released %s\n", key);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return lost ? CLI_FAILED : CLI_OK;
}

static int open_locks(const config *cfg, lock_manager **lm) {
    st_error err;
    int rc = lock_open(lm, &cfg->state_url, &err);
    if (rc == ST_OK) return CLI_OK;
    fprintf(stderr, "synctool lock: %s\n", err.msg);
    return rc == ST_EINVAL ? CLI_USAGE : CLI_FAILED;
}

static int cmd_hold(cli_ctx *ctx, int argc, char **argv) {
    hold_args a;
    int rc = hold_parse(argc, argv, &a);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    config *cfg = NULL;
    if ((rc = cli_load_config(ctx, &cfg)) != CLI_OK) return rc;
    char key[320];
    lock_manager *lm = NULL;
    if ((rc = hold_key(cfg, &a, key, sizeof key)) == CLI_OK &&
        (rc = open_locks(cfg, &lm)) == CLI_OK)
        rc = hold_locked(lm, &a, key);
    lock_close(lm);
    config_free(cfg);
    return rc;
}

/* --- list ------------------------------------------------------------------ */

static void list_print(const lock_info *li, size_t n, bool json, int64_t now) {
    if (json) {
        json_writer w;
        json_init(&w);
        json_begin_array(&w);
        for (size_t i = 0; i < n; i++) lock_info_write_json(&w, &li[i], now);
        json_end_array(&w);
        cli_print_json("lock", &w);
        json_release(&w);
        return;
    }
    if (n == 0) {
        printf("no locks held\n");
        return;
    }
    printf("%-56s %-9s %7s %7s %10s\n", "KEY", "MODE", "HOLDERS", "FENCE", "EXPIRES_IN");
    for (size_t i = 0; i < n; i++)
        printf("%-56s %-9s %7d %7lld %9.1fs\n", li[i].key, lock_mode_name(li[i].mode),
               li[i].holders, (long long)li[i].fence,
               (double)(li[i].expires_at - now) / 1e6);
}

static int cmd_list(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'J'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'J') json = true;
        else if (c == 'h') { lock_usage(stdout); return CLI_OK; }
        else return cli_usage_error("lock", "unknown option '%s' (see lock --help)",
                                    argv[optind - 1]);
    }
    if (optind < argc) return cli_usage_error("lock", "unexpected argument '%s'", argv[optind]);
    config *cfg = NULL;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    lock_manager *lm = NULL;
    if ((rc = open_locks(cfg, &lm)) == CLI_OK) {
        lock_info *li = NULL;
        size_t n = 0;
        st_error err;
        if (lock_list(lm, &li, &n, &err) == ST_OK) list_print(li, n, json, st_time_now());
        else rc = cli_error("lock", "lock_unavailable", CLI_FAILED, "%s", err.msg);
        free(li);
    }
    lock_close(lm);
    config_free(cfg);
    return rc;
}

int cli_cmd_lock(cli_ctx *ctx, int argc, char **argv) {
    if (argc < 2) {
        lock_usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        lock_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "hold") == 0) return cmd_hold(ctx, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0) return cmd_list(ctx, argc - 1, argv + 1);
    return cli_usage_error("lock", "unknown subcommand '%s' (hold or list)", argv[1]);
}
