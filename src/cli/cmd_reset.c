/*
 * synctool reset PIPELINE [--strategy S] — clear failures and the paused
 * state (DESIGN §3 rule 2: a strategy that failed max_retry_count times in a
 * row stays paused until reset).
 *
 * For each selected strategy whose state records a failure (status failed,
 * a retry count or an error) or cannot be read: status becomes idle,
 * retry_count 0 and the error is cleared (state_reset). last_run,
 * last_scheduled_at, last_attempted_at and the run id are kept, so the
 * scheduler's slot arithmetic still works and older runs stay stale. Prints
 * one line per strategy saying what it was and what it did. Strategies with
 * no state or no failure are left alone (a skipped strategy keeps its
 * in-slot retry, a running one its status) and reported as such. Exit 0 unless the state cannot be written.
 *
 * --drop-slot (a pipeline with a cdc strategy): also drops the pipeline's
 * replication slot and publication on its source and forgets the cdc
 * positions (cli_cdc_drop, the same code as `synctool cdc drop`), so a
 * paused cdc strategy stops retaining WAL and its next run copies in full.
 * It takes the pipeline lock (exclusive, no waiting) first and holds it
 * while dropping, so no run reads or re-creates the slot meanwhile; a run
 * holding it means exit 75 with nothing reset or dropped. The slot is
 * dropped before the failures are cleared: a failure leaves the strategy
 * paused as it was.
 */
#include "cli.h"

#include "../lock/lock.h"
#include "../time/st_time.h"
#include "../why/why.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: synctool [--config-dir DIR] reset PIPELINE [--strategy S] [--drop-slot]\n\n"
               "Clears failures and the paused state (status idle, retry count 0, error\n"
               "cleared) of every strategy of PIPELINE, or only of strategy S.\n\n"
               "  --strategy S  only strategy S\n"
               "  --drop-slot   also drop the replication slot and publication of PIPELINE's\n"
               "                cdc strategy on its PostgreSQL source (as synctool cdc drop):\n"
               "                the slot stops retaining WAL and the next cdc run copies the\n"
               "                table in full. Refused (exit 75) while a run holds the\n"
               "                pipeline lock.\n"
               "  -h, --help    this help\n");
}

/* Resets one pair and prints what happened. Returns CLI_OK or CLI_FAILED. */
static int reset_one(state *st, const char *p, const char *s) {
    state_record before;
    st_error err;
    int rc = state_get(st, p, s, &before, &err);
    bool known = rc == ST_OK;
    if (rc == ST_ENOTFOUND) {
        printf("%s:%s: no state, nothing to reset\n", p, s);
        return CLI_OK;
    }
    if (known && before.status != STATE_FAILED && before.retry_count == 0 && !before.error[0]) {
        printf("%s:%s: nothing to reset (%s, no failures)\n", p, s,
               state_status_name(before.status));
        return CLI_OK;
    }
    if (state_reset(st, p, s, &err) != ST_OK) {
        cli_error("reset", "state_unavailable", CLI_FAILED, "%s:%s: %s", p, s, err.msg);
        return CLI_FAILED;
    }
    char ev[200];
    snprintf(ev, sizeof ev, "Reset by synctool reset (was %s, retry count %lld)",
             known ? state_status_name(before.status) : "unreadable",
             known ? (long long)before.retry_count : 0LL);
    why_event(st, p, s, st_time_now(), ev, 0, NULL); /* the why-journal */
    if (known)
        printf("%s:%s: reset (was %s, retry count %lld)\n", p, s,
               state_status_name(before.status), (long long)before.retry_count);
    else
        printf("%s:%s: reset (record was unreadable)\n", p, s);
    return CLI_OK;
}

static bool has_cdc(const config_pipeline *p, const char *strategy) {
    for (size_t i = 0; i < p->nstrategies; i++)
        if (p->strategies[i].type == CONFIG_STRATEGY_CDC &&
            (!strategy || strcmp(strategy, p->strategies[i].name) == 0))
            return true;
    return false;
}

/* --drop-slot: under the pipeline lock, cli_cdc_drop. */
static int drop_slot_locked(const config *cfg, const config_pipeline *p) {
    lock_manager *lm = NULL;
    lock_handle h;
    st_error err;
    char key[320];
    lock_key_pipeline(key, sizeof key, p->name);
    if (lock_open(&lm, &cfg->state_url, &err) != ST_OK)
        return cli_error("reset", "state_unavailable", CLI_FAILED, "cannot open locks: %s",
                         err.msg);
    int64_t ttl = (p->locks.lease_ttl_seconds > 0 ? p->locks.lease_ttl_seconds : 30) * 1000;
    int rc = lock_acquire(lm, key, LOCK_EXCLUSIVE, ttl, &h, &err);
    if (rc == ST_EBUSY) {
        lock_close(lm);
        return cli_error("reset", "pipeline_lock_unavailable", CLI_SKIPPED,
                         "pipeline '%s' is running (its pipeline lock is held): nothing reset "
                         "or dropped; wait for the run to end (or stop it), then run synctool "
                         "reset %s --drop-slot again", p->name, p->name);
    }
    if (rc != ST_OK) {
        lock_close(lm);
        return cli_error("reset", "state_unavailable", CLI_FAILED, "pipeline lock: %s", err.msg);
    }
    rc = cli_cdc_drop(cfg, p, "reset");
    lock_release(lm, &h, NULL);
    lock_close(lm);
    return rc;
}

int cli_cmd_reset(cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"strategy", required_argument, NULL, 's'},
                                         {"drop-slot", no_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *strategy = NULL;
    bool drop_slot = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return CLI_OK; }
        if (c == 's') strategy = optarg;
        else if (c == 'd') drop_slot = true;
        else { usage(stderr); return CLI_USAGE; }
    }
    if (argc - optind != 1) return cli_usage_error("reset", "expected one PIPELINE (see --help)");
    const char *name = argv[optind];
    config *cfg;
    int rc = cli_load_config(ctx, &cfg);
    if (rc != CLI_OK) return rc;
    const config_pipeline *p = config_pipeline_find(cfg, name);
    state *st = NULL;
    if (p == NULL)
        rc = cli_unknown_pipeline("reset", cfg, name);
    else if (strategy && config_strategy_find(p, strategy) == NULL)
        rc = cli_unknown_strategy("reset", p, strategy);
    else if (drop_slot && !has_cdc(p, strategy))
        rc = strategy ? cli_usage_error("reset", "--drop-slot: strategy '%s' of pipeline "
                                        "'%s' is not a cdc strategy, so it has no replication "
                                        "slot", strategy, p->name)
                      : cli_usage_error("reset", "--drop-slot: pipeline '%s' has no cdc "
                                        "strategy, so no replication slot", p->name);
    else if (drop_slot && (rc = drop_slot_locked(cfg, p)) != CLI_OK)
        ;   /* printed; nothing reset */
    else if ((rc = cli_open_state(cfg, &st)) == CLI_OK)
        for (size_t i = 0; i < p->nstrategies; i++)
            if (!strategy || strcmp(strategy, p->strategies[i].name) == 0)
                if (reset_one(st, p->name, p->strategies[i].name) != CLI_OK) rc = CLI_FAILED;
    state_close(st);
    config_free(cfg);
    return rc;
}
