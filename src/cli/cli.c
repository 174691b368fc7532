/*
 * cli — global options, dispatch and the one error/JSON output path (see cli.h).
 *
 * Global options (--config-dir, --log-level) may come before the command or
 * anywhere after it: they are taken out of the command's argv before the
 * command parses it ("--" ends that scan). `synctool help [COMMAND]` and
 * `synctool COMMAND --help` print the same text; `synctool --version` the
 * version. The command table is the single list of what synctool can do.
 *
 * Errors: every command reports through cli_error() (or its shorthands),
 * which prints "synctool COMMAND: message" on stderr. When the command line
 * holds --json, the first error is also kept, and if the command printed no
 * JSON document of its own (cli_print_json() was never called) cli_main()
 * prints {"error": {"code", "message"}} on stdout, so a script reading
 * stdout always gets a document. A command that failed through a path
 * that printed its cause on stderr without cli_error() (a log line, a
 * module's own message) still gets the real message: with --json, stderr
 * is a tee (fopencookie) that passes every byte on to fd 2 and keeps the
 * line stating the cause (the last "synctool CMD: ..." or error/warn log
 * line, else the first line), which the record carries, never "see stderr". That
 * record is the CLI's only process-wide state: one command runs per process.
 */
#include "cli.h"

#include "../json/json.h"
#include "../log/log.h"
#include "../notify/notify.h"
#include "../queue/queue.h"
#include "../time/st_time.h"
#include "../view/view.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every buffer that holds a configured name fits the longest one the config
 * accepts (CONFIG_NAME_MAX): a name is never silently cut short. */
#define CLI_FITS_NAME(type, field) \
    _Static_assert(sizeof(((type *)0)->field) > CONFIG_NAME_MAX, #type "." #field)
CLI_FITS_NAME(state_record, pipeline);
CLI_FITS_NAME(state_record, strategy);
CLI_FITS_NAME(queue_job, pipeline);
CLI_FITS_NAME(queue_job, strategy);
CLI_FITS_NAME(notify_alert, pipeline);
CLI_FITS_NAME(notify_alert, strategy);
CLI_FITS_NAME(state_counter, pipeline);
CLI_FITS_NAME(state_run, pipeline);
CLI_FITS_NAME(state_run, strategy);

#ifndef SYNCTOOL_VERSION
#define SYNCTOOL_VERSION "0.9.0"
#endif

/* The --json error record (see the header comment). */
static struct {
    bool json;          /* --json on the command line */
    bool printed;       /* the command printed its JSON document */
    bool has_error;
    char code[48];
    char message[2048];
    config_problems left_out;   /* pipeline files cli_load_config left out */
} out_state;

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"validate", cli_cmd_validate, "check every config; print problems as file:line:col: message"},
    {"list", cli_cmd_list, "pipelines, strategies, cron and next fire time"},
    {"run", cli_cmd_run, "run a pipeline now through the job manager"},
    {"explain", cli_cmd_explain, "why each strategy would or would not run at an instant"},
    {"status", cli_cmd_status, "current state of every strategy"},
    {"history", cli_cmd_history, "past attempts of a pipeline"},
    {"logs", cli_cmd_logs, "one run's log lines"},
    {"reset", cli_cmd_reset, "clear failures and the paused state"},
    {"state", cli_cmd_state, "state export / import FILE / init / migrate --to URL"},
    {"cron", cli_cmd_cron, "print the next fire times of a cron expression"},
    {"lock", cli_cmd_lock, "lock hold / lock list"},
    {"scheduler", cli_cmd_scheduler, "the scheduler loop"},
    {"worker", cli_cmd_worker, "distributed worker (Redis state)"},
    {"ddl", cli_cmd_ddl, "ddl apply N | ddl plan N: create or alter the destination table"},
    {"init", cli_cmd_init, "write a pipeline file from a source table's columns and key"},
    {"why", cli_cmd_why, "the timeline of decisions and attempts: why it ran or did not"},
    {"check", cli_cmd_check, "connect and check source, destination, keys, indexes, stores"},
    {"diff", cli_cmd_diff, "what a sync would change, writing nothing (exit 1: differences)"},
    {"pause", cli_cmd_pause, "pause scheduling of a pipeline's strategies"},
    {"resume", cli_cmd_resume, "resume scheduling paused by `pause`"},
    {"serve", cli_cmd_serve, "HTTP API, /metrics and health endpoints"},
    {"cdc", cli_cmd_cdc, "cdc drop N: drop a pipeline's replication slot and publication"},
    {"help", cli_cmd_help, "help [COMMAND]: this list, or a command's --help"},
};

static void print_help(FILE *f) {
    fprintf(f,
            "usage: synctool [--config-dir DIR] [--log-level LEVEL] COMMAND [ARGS]\n"
            "       synctool help [COMMAND] | --version\n\n"
            "Keeps database tables in sync on a schedule, safely.\n\n"
            "Global options:\n"
            "  --config-dir DIR   configs (default $SYNCTOOL_CONFIG_DIR, then ./configs)\n"
            "  --log-level LEVEL  debug, info, warn or error (default info)\n"
            "  -h, --help         this help; COMMAND --help for a command's own\n"
            "  --version          print the version\n"
            "Global options may also follow the command. TIME values are ISO-8601;\n"
            "without an offset (2025-10-15T10:00:00) they are UTC.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nExit codes: 0 success, 1 failed (or differences found, problems found),\n"
               "2 usage or config error, 75 skipped (lock busy). See docs/cli.md.\n");
}

static void record_error(const char *code, const char *msg) {
    if (!out_state.json || out_state.has_error) return;
    out_state.has_error = true;
    snprintf(out_state.code, sizeof out_state.code, "%s", code);
    snprintf(out_state.message, sizeof out_state.message, "%s", msg);
}

static int verror(const char *cmd, const char *code, int rc, const char *fmt, va_list ap) {
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (cmd) fprintf(stderr, "synctool %s: %s\n", cmd, msg);
    else fprintf(stderr, "synctool: %s\n", msg);
    record_error(code, msg);
    return rc;
}

int cli_error(const char *cmd, const char *code, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(cmd, code, rc, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror(cmd, "usage", CLI_USAGE, fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

int cli_not_implemented(const char *cmd) {
    return cli_error(cmd, "not_implemented", CLI_FAILED, "not implemented");
}

bool cli_json_mode(void) { return out_state.json; }

int cli_print_json(const char *cmd, json_writer *w) {
    if (w->failed || w->buf == NULL)
        return cli_error(cmd, "out_of_memory", CLI_FAILED, "out of memory");
    printf("%s\n", w->buf);
    fflush(stdout);
    out_state.printed = true;
    return CLI_OK;
}

/* "a, b, c" of the configured pipeline names into buf. */
static void join_pipelines(const config *cfg, char *buf, size_t n) {
    buf[0] = '\0';
    for (size_t i = 0; i < cfg->npipelines; i++) {
        size_t len = strlen(buf);
        if (len + 8 >= n) {
            snprintf(buf + len, n - len, ", ...");
            return;
        }
        snprintf(buf + len, n - len, "%s%s", i ? ", " : "", cfg->pipelines[i].name);
    }
}

int cli_unknown_pipeline(const char *cmd, const config *cfg, const char *name) {
    char names[1024];
    join_pipelines(cfg, names, sizeof names);
    if (cfg->npipelines == 0)
        return cli_error(cmd, "unknown_pipeline", CLI_USAGE,
                         "unknown pipeline '%s' (no pipelines in %s/pipelines)", name,
                         cfg->dir);
    return cli_error(cmd, "unknown_pipeline", CLI_USAGE,
                     "unknown pipeline '%s' (known pipelines: %s)", name, names);
}

int cli_unknown_strategy(const char *cmd, const config_pipeline *p, const char *name) {
    char names[1024] = "";
    for (size_t i = 0; i < p->nstrategies; i++) {
        size_t len = strlen(names);
        if (len + 8 >= sizeof names) break;
        snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", p->strategies[i].name);
    }
    return cli_error(cmd, "unknown_strategy", CLI_USAGE,
                     "pipeline '%s' has no strategy '%s' (its strategies: %s)", p->name, name,
                     names[0] ? names : "none");
}

int cli_parse_time(const char *opt, const char *value, int64_t *out) {
    st_error err;
    if (st_time_parse(value, out, &err) != ST_OK) {
        return cli_error(NULL, "usage", CLI_USAGE, "%s: %s", opt, err.msg);
    }
    return CLI_OK;
}

int cli_parse_int(const char *opt, const char *value, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < 0) {
        return cli_error(NULL, "usage", CLI_USAGE, "%s: expected a non-negative integer, got '%s'",
                         opt, value);
    }
    *out = v;
    return CLI_OK;
}

const config_problems *cli_config_left_out(void) { return &out_state.left_out; }

/* Reports the pipeline files left out by config_load_valid, once, as
 * errors in the log (the scheduler's log at start-up; stderr otherwise). */
static void report_left_out(config_problems *probs) {
    for (size_t i = 0; i < probs->n; i++) log_error(NULL, NULL, "%s", probs->items[i]);
    char files[1024] = "";
    size_t nfiles = 0;
    for (size_t i = 0; i < probs->n; i++) {
        const char *f = probs->details[i].file;
        if (i > 0 && strcmp(f, probs->details[i - 1].file) == 0) continue;
        size_t len = strlen(files);
        snprintf(files + len, sizeof files - len, "%s%s", nfiles++ ? ", " : "", f);
    }
    log_error(NULL, NULL, "invalid pipeline file%s left out: %s (the other pipelines are "
              "served; see synctool validate)", nfiles == 1 ? "" : "s", files);
    config_problems_clear(&out_state.left_out);
    out_state.left_out = *probs;
}

static int cli_load_config_with(const cli_ctx *ctx, config **out, bool cached);

/* cli_load_config through the parsed-config cache (config_cache.c): for
 * read commands that never hand the config to a job (`status`). */
int cli_load_config_cached(const cli_ctx *ctx, config **out) {
    return cli_load_config_with(ctx, out, true);
}

int cli_load_config(const cli_ctx *ctx, config **out) {
    return cli_load_config_with(ctx, out, false);
}

static int cli_load_config_with(const cli_ctx *ctx, config **out, bool cached) {
    config_problems probs = {0};
    st_error err;
    if ((cached ? config_load_cached(out, ctx->config_dir, &probs, NULL, &err)
                : config_load_valid(out, ctx->config_dir, &probs, &err)) == ST_OK) {
        if (probs.n > 0 && !ctx->quiet_left_out) report_left_out(&probs);
        else config_problems_clear(&probs);
        return CLI_OK;
    }
    for (size_t i = 0; i < probs.n; i++) fprintf(stderr, "%s\n", probs.items[i]);
    if (probs.n == 0) fprintf(stderr, "synctool: %s\n", err.msg);
    if (probs.n > 1) {
        char msg[1600];
        snprintf(msg, sizeof msg, "%s (and %zu more problems; see synctool validate)",
                 probs.items[0], probs.n - 1);
        record_error("config_invalid", msg);
    } else {
        record_error("config_invalid", probs.n ? probs.items[0] : err.msg);
    }
    config_problems_clear(&probs);
    return CLI_USAGE;
}

int cli_open_state(const config *cfg, state **out) {
    st_error err;
    if (state_open(out, &cfg->state_url, &err) == ST_OK) return CLI_OK;
    return cli_error(NULL, "state_unavailable", CLI_FAILED, "cannot open state: %s", err.msg);
}

static cli_cmd_fn find_command(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return commands[i].fn;
    return NULL;
}

static int set_log_level(const char *value) {
    log_level lv;
    if (log_level_parse(value, &lv) != 0)
        return cli_error(NULL, "usage", CLI_USAGE,
                         "--log-level: unknown level '%s' (debug, info, warn, error)", value);
    log_set_level(lv);
    return CLI_OK;
}

/* Is argv[i] the global option `name` ("--name VALUE" or "--name=VALUE")?
 * Sets *value and *used (1 or 2 words); a missing value is a usage error. */
static int global_option(int argc, char **argv, int i, const char *name, const char **value,
                         int *used) {
    size_t n = strlen(name);
    if (strncmp(argv[i], name, n) != 0) return 0;
    if (argv[i][n] == '=') {
        *value = argv[i] + n + 1;
        *used = 1;
        return 1;
    }
    if (argv[i][n] != '\0') return 0;
    if (i + 1 >= argc) return -1;
    *value = argv[i + 1];
    *used = 2;
    return 1;
}

/* Takes --config-dir / --log-level out of the command's argv (compacting
 * it) and notes --json. Returns CLI_OK or CLI_USAGE. */
static int take_globals(cli_ctx *ctx, int *argc, char **argv) {
    int w = 1;
    bool rest = false;
    for (int i = 1; i < *argc;) {
        const char *v = NULL;
        int used = 0, m = 0;
        if (!rest && strcmp(argv[i], "--") == 0) rest = true;
        if (!rest && strcmp(argv[i], "--json") == 0) out_state.json = true;
        if (!rest && (m = global_option(*argc, argv, i, "--config-dir", &v, &used)) > 0) {
            ctx->config_dir = v;
        } else if (!rest && m == 0 &&
                   (m = global_option(*argc, argv, i, "--log-level", &v, &used)) > 0) {
            if (set_log_level(v) != CLI_OK) return CLI_USAGE;
        }
        if (m < 0)
            return cli_error(argv[0], "usage", CLI_USAGE, "%s needs a value", argv[i]);
        if (m > 0) {
            i += used;
            continue;
        }
        argv[w++] = argv[i++];
    }
    argv[w] = NULL;
    *argc = w;
    return CLI_OK;
}

/* --- the stderr tee of --json --- */

static char tee_line[2048], tee_first[2048], tee_cause[2048];
static size_t tee_len;

/* A log line "TIME LEVEL p:s message" of level error or warn: the part
 * after the level; NULL for any other line. */
static const char *tee_log_message(const char *line) {
    const char *sp = strchr(line, ' ');
    if (sp == NULL || sp - line < 20 || line[4] != '-' || line[10] != 'T') return NULL;
    if (strncmp(sp + 1, "error ", 6) == 0) return sp + 7;
    if (strncmp(sp + 1, "warn ", 5) == 0) return sp + 6;
    return NULL;
}

/* One whole line went to stderr: the first line is kept, and the last
 * that states a cause ("synctool CMD: ...", an error or warn log line). */
static void tee_take_line(void) {
    tee_line[tee_len] = '\0';
    tee_len = 0;
    if (tee_line[0] == '\0') return;
    if (tee_first[0] == '\0') snprintf(tee_first, sizeof tee_first, "%s", tee_line);
    const char *m = tee_log_message(tee_line);
    if (m) snprintf(tee_cause, sizeof tee_cause, "%s", m);
    else if (strncmp(tee_line, "synctool", 8) == 0)
        snprintf(tee_cause, sizeof tee_cause, "%s", tee_line);
}

static ssize_t tee_write(void *cookie, const char *buf, size_t n) {
    (void)cookie;
    for (size_t off = 0; off < n;) {
        ssize_t k = write(2, buf + off, n - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        off += (size_t)k;
    }
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') tee_take_line();
        else if (tee_len + 1 < sizeof tee_line) tee_line[tee_len++] = buf[i];
    }
    return (ssize_t)n;
}

/* With --json, stderr becomes the tee (see the top); best effort. */
static void tee_stderr(void) {
    cookie_io_functions_t io = {.write = tee_write};
    FILE *f = fopencookie(NULL, "w", io);
    if (f == NULL) return;
    setvbuf(f, NULL, _IONBF, 0);
    fflush(stderr);
    stderr = f;
}

/* What the command said on stderr about its failure: the last line stating
 * a cause, else the first line; NULL when it said nothing. */
static const char *tee_message(void) {
    fflush(stderr);
    if (tee_len > 0) tee_take_line();
    return tee_cause[0] ? tee_cause : tee_first[0] ? tee_first : NULL;
}

/* Prints {"error": ...} when --json was asked, the command failed and it
 * printed no document of its own. */
static void finish_json(int rc) {
    if (!out_state.json || out_state.printed || rc == CLI_OK) return;
    const char *last = tee_message();
    char fallback[64];
    snprintf(fallback, sizeof fallback, "the command failed with exit code %d", rc);
    json_writer w;
    json_init(&w);
    view_error_json(&w, out_state.has_error ? out_state.code
                        : rc == CLI_SKIPPED ? "skipped"
                        : rc == CLI_USAGE   ? "usage"
                                            : "failed",
                    out_state.has_error ? out_state.message : last ? last : fallback, NULL);
    if (!w.failed && w.buf) printf("%s\n", w.buf);
    json_release(&w);
}

int cli_cmd_help(cli_ctx *ctx, int argc, char **argv) {
    if (argc > 2) return cli_usage_error("help", "expected at most one COMMAND");
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    cli_cmd_fn fn = find_command(argv[1]);
    if (fn == NULL || fn == cli_cmd_help)
        return cli_usage_error("help", "unknown command '%s' (see synctool help)", argv[1]);
    char *hargv[] = {argv[1], (char *)"--help", NULL};
    optind = 0;
    return fn(ctx, 2, hargv);
}

int cli_main(int argc, char **argv) {
    cli_ctx ctx = {.config_dir = getenv("SYNCTOOL_CONFIG_DIR"), .argv0 = argv[0]};
    if (ctx.config_dir == NULL || ctx.config_dir[0] == '\0') ctx.config_dir = "./configs";
    static const struct option opts[] = {
        {"config-dir", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    /* "+" stops at the first non-option: the command name. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ctx.config_dir = optarg; break;
        case 'l':
            if (set_log_level(optarg) != CLI_OK) return CLI_USAGE;
            break;
        case 'h': print_help(stdout); return CLI_OK;
        case 'V': printf("synctool %s\n", SYNCTOOL_VERSION); return CLI_OK;
        default: print_help(stderr); return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return CLI_USAGE;
    }
    cli_cmd_fn fn = find_command(argv[optind]);
    if (fn == NULL) {
        fprintf(stderr, "synctool: unknown command '%s' (see synctool help)\n", argv[optind]);
        return CLI_USAGE;
    }
    int cargc = argc - optind;
    char **cargv = argv + optind;
    int rc = take_globals(&ctx, &cargc, cargv);
    if (out_state.json) tee_stderr();
    if (rc == CLI_OK) {
        optind = 0; /* reset getopt for the command (0 = full re-init in glibc) */
        rc = fn(&ctx, cargc, cargv);
    }
    fflush(stdout);
    finish_json(rc);
    config_problems_clear(&out_state.left_out);
    return rc;
}
