/*
 * synctool cron EXPR [--from TIME] [--count K] [--tz ZONE] [--json]
 *
 * Prints the next K (default 5) fire times of a cron expression strictly
 * after --from (default: now), one per line as UTC ISO-8601; with --tz also
 * the local wall time in that zone (`2025-03-30T01:00:00Z  2025-03-30T03:00:00+02:00`).
 * --json prints one object:
 *   {"expression", "timezone", "from", "fire_times": [{"utc", "local"}]}
 * The expression may be given as one argument or as five (`0 2 '*' '*' '*'`):
 * the positional arguments are joined with spaces.
 *
 * Needs no config directory: it is a calculator for schedules. A bad
 * expression or zone prints the cron module's message (which names the field
 * and token) and exits 2; an expression that never fires within the 5-year
 * search horizon (`0 0 30 2 *`) prints what it found, says so, and exits 1.
 */
#include "cli.h"

#include "../cron/cron.h"
#include "../json/json.h"
#include "../time/st_time.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRON_CLI_MAX_COUNT 1000

static void usage(FILE *f) {
    fprintf(f,
            "usage: synctool cron EXPR [--from TIME] [--count K] [--tz ZONE] [--json]\n\n"
            "Prints the next K fire times of a cron expression, strictly after TIME.\n"
            "EXPR is `min hour day-of-month month day-of-week` (quote it) or a macro:\n"
            "@hourly @daily @midnight @weekly @monthly @yearly @annually.\n\n"
            "  --from TIME   ISO-8601 with offset, e.g. 2025-10-15T10:06:00Z (default now)\n"
            "  --count K     how many fire times, 1-%d (default 5)\n"
            "  --tz ZONE     IANA zone the fields are read in, e.g. Europe/Berlin\n"
            "                (default UTC); also prints each time as local time\n"
            "  --json        one JSON object: expression, timezone, from,\n"
            "                fire_times [{utc, local}]\n"
            "  -h, --help    this help\n",
            CRON_CLI_MAX_COUNT);
}

typedef struct cron_opts {
    int64_t from;
    int64_t count;
    const char *tz;
    int json;
    char *expr;   /* joined positional arguments, malloc'd */
} cron_opts;

/* Joins argv[first..argc) with single spaces. */
static char *join_args(int argc, char **argv, int first) {
    size_t len = 1;
    for (int i = first; i < argc; i++) len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = first; i < argc; i++) {
        if (i > first) strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

/* Returns -1 to continue, or an exit code (help, usage error). */
static int parse_opts(int argc, char **argv, cron_opts *o) {
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'}, {"count", required_argument, NULL, 'n'},
        {"tz", required_argument, NULL, 'z'},   {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *from = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 'n':
            if (cli_parse_int("--count", optarg, &o->count) != CLI_OK) return CLI_USAGE;
            if (o->count < 1 || o->count > CRON_CLI_MAX_COUNT)
                return cli_usage_error("cron", "--count must be between 1 and %d, got %s",
                                       CRON_CLI_MAX_COUNT, optarg);
            break;
        case 'z': o->tz = optarg; break;
        case 'j': o->json = 1; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error("cron", "missing cron expression (see synctool cron --help)");
    if (from && cli_parse_time("--from", from, &o->from) != CLI_OK) return CLI_USAGE;
    if (!from) o->from = st_time_now();
    o->expr = join_args(argc, argv, optind);
    if (!o->expr) {
        fprintf(stderr, "synctool cron: out of memory\n");
        return CLI_FAILED;
    }
    return -1;
}

static int print_json(const cron_expr *ce, const cron_opts *o, const int64_t *times,
                      int64_t n) {
    char buf[64];
    json_writer w;
    json_init(&w);
    json_begin_object(&w);
    json_kv_string(&w, "expression", o->expr);
    json_kv_string(&w, "timezone", cron_zone(ce));
    json_kv_time(&w, "from", o->from);
    json_key(&w, "fire_times");
    json_begin_array(&w);
    for (int64_t i = 0; i < n; i++) {
        json_begin_object(&w);
        json_kv_time(&w, "utc", times[i]);
        st_time_format_offset(times[i], cron_utc_offset(ce, times[i]), buf, sizeof buf);
        json_kv_string(&w, "local", buf);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    int rc = cli_print_json("cron", &w);
    json_release(&w);
    return rc;
}

static void print_text(const cron_expr *ce, const cron_opts *o, const int64_t *times,
                       int64_t n) {
    char u[64], l[64];
    for (int64_t i = 0; i < n; i++) {
        st_time_format(times[i], u, sizeof u);
        if (o->tz) {
            st_time_format_offset(times[i], cron_utc_offset(ce, times[i]), l, sizeof l);
            printf("%s  %s\n", u, l);
        } else {
            printf("%s\n", u);
        }
    }
}

/* Fills times[0..count) and returns how many were found. */
static int64_t collect(const cron_expr *ce, const cron_opts *o, int64_t *times) {
    int64_t t = o->from, n = 0;
    while (n < o->count && cron_next(ce, t, &times[n]) == ST_OK) t = times[n++];
    return n;
}

int cli_cmd_cron(cli_ctx *ctx, int argc, char **argv) {
    (void)ctx;
    cron_opts o = {.count = 5};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    st_error err;
    cron_expr *ce = NULL;
    if (cron_parse(&ce, o.expr, o.tz, &err) != ST_OK) {
        rc = cli_usage_error("cron", "invalid cron expression '%s': %s", o.expr, err.msg);
        free(o.expr);
        return rc;
    }
    int64_t *times = calloc((size_t)o.count, sizeof *times);
    if (!times) {
        fprintf(stderr, "synctool cron: out of memory\n");
        rc = CLI_FAILED;
    } else {
        int64_t n = collect(ce, &o, times);
        rc = o.json ? print_json(ce, &o, times, n) : (print_text(ce, &o, times, n), CLI_OK);
        if (rc == CLI_OK && n < o.count) {
            char b[64];
            st_time_format(n ? times[n - 1] : o.from, b, sizeof b);
            fprintf(stderr, "synctool cron: no fire time within 5 years after %s\n", b);
            rc = CLI_FAILED;
        }
    }
    free(times);
    cron_free(ce);
    free(o.expr);
    return rc;
}
