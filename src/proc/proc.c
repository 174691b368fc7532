/*
 * proc — what the scheduler and worker loops share: default names, the
 * signal set they block and poll, config reload on SIGHUP, and the call
 * into a plugged-in service (see proc.h).
 *
 * Signals are never handled asynchronously: the loops block them at start
 * and read them at a point of their choosing, so no code runs in a signal
 * handler and there is no global flag to race on. The exception is a
 * process that runs one job (proc_interrupt_install): its handler only
 * stores the signal number in a lock-free atomic_int (safe in a handler, and
 * read by other threads) that the sync polls at batch
 * boundaries, or _exit()s on the second signal.
 */
#include "proc_int.h"

#include "../log/log.h"
#include "../time/st_time.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The state URL line of the hand-off: the longest a parsed URL formats to. */
#define PROC_URL_MAX 2048

/* --- Interrupting a run --- */

static atomic_int proc_interrupted;

static void proc_on_interrupt(int sig) {
    if (proc_interrupted != 0) _exit(128 + sig);   /* second signal: now */
    proc_interrupted = sig;
}

atomic_int *proc_interrupt_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = proc_on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &proc_interrupted;
}

/* --- Detached processes --- */

/* The middle process: forks the job, reports a failed fork in its exit
 * status (the errno) and a failed exec through the pipe, exits. */
static void proc_spawn_middle(char *const argv[], int stdin_fd, int wfd) {
    setsid();
    pid_t pid = fork();
    if (pid < 0) _exit(errno > 0 && errno < 126 ? errno : EAGAIN);
    if (pid == 0) {
        if (stdin_fd >= 0 && dup2(stdin_fd, STDIN_FILENO) < 0) {
            int e = errno;
            ssize_t n = write(wfd, &e, sizeof e);
            (void)n;
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        int e = errno;
        ssize_t n = write(wfd, &e, sizeof e);
        (void)n;
        _exit(127);
    }
    _exit(0);
}

int proc_spawn_detached(char *const argv[], int stdin_fd, st_error *err) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return st_error_set(err, ST_ERR, "cannot start %s: pipe: %s", argv[0], strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t mid = fork();
    if (mid == 0) {
        close(fds[0]);
        proc_spawn_middle(argv, stdin_fd, fds[1]);
    }
    int fork_errno = errno;
    close(fds[1]);
    if (mid < 0) {
        close(fds[0]);
        return st_error_set(err, ST_ERR, "cannot start %s: fork: %s", argv[0],
                            strerror(fork_errno));
    }
    int status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        close(fds[0]);
        return st_error_set(err, ST_ERR, "cannot start %s: fork: %s", argv[0],
                            WIFEXITED(status) ? strerror(WEXITSTATUS(status))
                                              : "the middle process died");
    }
    int e = 0;
    ssize_t n;
    while ((n = read(fds[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(fds[0]);
    if (n == (ssize_t)sizeof e)
        return st_error_set(err, ST_ERR, "cannot start %s: exec: %s", argv[0], strerror(e));
    return ST_OK;
}

/* --- The job hand-off (proc.h) ---
 *
 * Layout, all text lines but the files' bytes:
 *   synctool-job 3
 *   PIPELINE / STRATEGY / RUN_ID / AT / ENQUEUE_KEY / ENQUEUE_OWNER / FENCE
 *   MANUAL             (1: an operator's run through the API, 0: scheduled)
 *   STATE_URL          (to record a job whose config cannot be loaded)
 *   CONFIG_DIR         (absolute)
 *   NFILES
 *   then per file: REL, LEN, LEN bytes, "\n"
 * It goes into a memfd (any size, nothing blocks, no file on disk), rewound,
 * that becomes the child's stdin. */

#define PROC_JOB_MAGIC "synctool-job 3"
#define PROC_JOB_MAX_BYTES (64 * 1024 * 1024)

static bool proc_line_ok(const char *s) { return s != NULL && strchr(s, '\n') == NULL; }

/* Writes all of buf (n bytes) to fd; false on an error. */
static bool proc_write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

/* The header of the hand-off into buf; false if it does not fit. */
static bool proc_job_header(const queue_job *j, const config *cfg, const char *url,
                            size_t nfiles, char *buf, size_t n, size_t *len) {
    int k = snprintf(buf, n, PROC_JOB_MAGIC "\n%s\n%s\n%" PRId64 "\n%" PRId64 "\n%s\n%s\n%"
                     PRId64 "\n%d\n%s\n%s\n%zu\n", j->pipeline, j->strategy, j->run_id, j->at,
                     j->enqueue_key, j->enqueue_owner, j->enqueue_fence, j->manual ? 1 : 0,
                     url, cfg->dir, nfiles);
    *len = (size_t)k;
    return k > 0 && (size_t)k < n;
}

/* The files a job of pipeline j->pipeline needs: datastores.yaml and its
 * pipeline's file (the scheduler's config already left out what another
 * file makes invalid, so these two load alone exactly as they did there). */
static size_t proc_job_files(const queue_job *j, const config *cfg, const config_source *f[2]) {
    size_t n = 0;
    if ((f[n] = config_source_find(cfg, "datastores.yaml")) != NULL) n++;
    const config_source *ps = config_pipeline_source(cfg, config_pipeline_find(cfg, j->pipeline));
    if (ps != NULL) f[n++] = ps;
    return n;
}

static bool proc_write_file(int fd, const config_source *s) {
    char head[4200];
    int k = snprintf(head, sizeof head, "%s\n%zu\n", s->rel, s->len);
    return k > 0 && (size_t)k < sizeof head && proc_line_ok(s->rel) &&
           proc_write_all(fd, head, (size_t)k) && proc_write_all(fd, s->text, s->len) &&
           proc_write_all(fd, "\n", 1);
}

int proc_job_pipe(const queue_job *j, const config *cfg, int *rfd, st_error *err) {
    const config_source *files[2];
    size_t nfiles = proc_job_files(j, cfg, files);
    char head[8192], url[PROC_URL_MAX];   /* url: SECRET, the password in it */
    size_t hlen;
    bool fits = burl_format_secret(&cfg->state_url, url, sizeof url) == 0 &&
                proc_line_ok(url) && proc_line_ok(cfg->dir) &&
                proc_job_header(j, cfg, url, nfiles, head, sizeof head, &hlen);
    memset(url, 0, sizeof url);
    if (!fits) {
        memset(head, 0, sizeof head);
        return st_error_set(err, ST_EINVAL, "job hand-off: the job does not fit");
    }
    int fd = memfd_create("synctool-job", MFD_CLOEXEC);
    if (fd < 0) return st_error_set(err, ST_ERR, "job hand-off: memfd_create: %s", strerror(errno));
    bool ok = proc_write_all(fd, head, hlen);
    for (size_t i = 0; ok && i < nfiles; i++) ok = proc_write_file(fd, files[i]);
    if (!ok || lseek(fd, 0, SEEK_SET) != 0) {
        int e = errno;
        close(fd);
        return st_error_set(err, ST_ERR, "job hand-off: write: %s", strerror(e));
    }
    *rfd = fd;
    return ST_OK;
}

/* A cursor over the hand-off's bytes. */
typedef struct proc_cur {
    char *p, *end;
} proc_cur;

/* The next line into dst (n bytes); false if missing or too long. */
static bool proc_job_field(proc_cur *c, char *dst, size_t n) {
    char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (nl == NULL || (size_t)(nl - c->p) >= n) return false;
    memcpy(dst, c->p, (size_t)(nl - c->p));
    dst[nl - c->p] = '\0';
    c->p = nl + 1;
    return true;
}

static bool proc_job_int(proc_cur *c, int64_t *v) {
    char num[32], *end;
    if (!proc_job_field(c, num, sizeof num) || num[0] == '\0') return false;
    errno = 0;
    long long x = strtoll(num, &end, 10);
    *v = x;
    return errno == 0 && *end == '\0';
}

/* The state URL line ("" for none) parsed into *u. */
static bool proc_job_url(proc_cur *c, backend_url *u) {
    char text[PROC_URL_MAX];
    memset(u, 0, sizeof *u);
    bool ok = proc_job_field(c, text, sizeof text) &&
              (text[0] == '\0' || burl_parse(u, text, NULL) == ST_OK);
    memset(text, 0, sizeof text);
    return ok;
}

/* The next line, malloc'ed; NULL if missing (or out of memory). */
static char *proc_job_str(proc_cur *c) {
    char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (nl == NULL) return NULL;
    char *s = strndup(c->p, (size_t)(nl - c->p));
    c->p = nl + 1;
    return s;
}

static bool proc_job_file(proc_cur *c, config_source *f) {
    int64_t len;
    if ((f->rel = proc_job_str(c)) == NULL || f->rel[0] == '\0' || !proc_job_int(c, &len) ||
        len < 0 || len >= c->end - c->p || c->p[len] != '\n')
        return false;
    if ((f->text = malloc((size_t)len + 1)) == NULL) return false;
    memcpy(f->text, c->p, (size_t)len);
    f->text[len] = '\0';
    f->len = (size_t)len;
    c->p += len + 1;
    return true;
}

static bool proc_job_parse(proc_cur *c, proc_handoff *h) {
    queue_job *j = &h->job;
    char magic[32];
    int64_t nfiles, manual = 0;
    bool ok = proc_job_field(c, magic, sizeof magic) && strcmp(magic, PROC_JOB_MAGIC) == 0 &&
              proc_job_field(c, j->pipeline, sizeof j->pipeline) &&
              proc_job_field(c, j->strategy, sizeof j->strategy) &&
              proc_job_int(c, &j->run_id) && proc_job_int(c, &j->at) &&
              proc_job_field(c, j->enqueue_key, sizeof j->enqueue_key) &&
              proc_job_field(c, j->enqueue_owner, sizeof j->enqueue_owner) &&
              proc_job_int(c, &j->enqueue_fence) && proc_job_int(c, &manual) &&
              (manual == 0 || manual == 1) && proc_job_url(c, &h->state_url) &&
              (h->dir = proc_job_str(c)) && proc_job_int(c, &nfiles) && nfiles >= 0 &&
              nfiles <= 64 && j->pipeline[0] && j->strategy[0] && j->run_id > 0 &&
              h->dir[0] == '/';
    j->manual = manual == 1;
    if (ok && nfiles > 0) ok = (h->files = calloc((size_t)nfiles, sizeof *h->files)) != NULL;
    for (int64_t i = 0; ok && i < nfiles; i++, h->nfiles++) ok = proc_job_file(c, &h->files[i]);
    return ok && c->p == c->end;
}

/* Everything on fd into *buf (up to PROC_JOB_MAX_BYTES); its length or -1. */
static ssize_t proc_read_all(int fd, char **buf) {
    size_t cap = 4096, len = 0;
    *buf = malloc(cap);
    while (*buf != NULL) {
        if (len == cap) {
            char *nb = cap >= PROC_JOB_MAX_BYTES ? NULL : realloc(*buf, cap *= 2);
            if (nb == NULL) break;
            *buf = nb;
        }
        ssize_t n = read(fd, *buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        if (n == 0) return (ssize_t)len;
        len += (size_t)n;
    }
    free(*buf);
    *buf = NULL;
    return -1;
}

int proc_job_read(int fd, proc_handoff *h, st_error *err) {
    memset(h, 0, sizeof *h);
    char *buf = NULL;
    ssize_t n = proc_read_all(fd, &buf);
    proc_cur c = {buf, buf ? buf + n : NULL};
    bool ok = n >= 0 && proc_job_parse(&c, h);
    free(buf);
    if (ok) return ST_OK;
    proc_handoff_clear(h);
    return st_error_set(err, ST_EINVAL, "--exec-job: no valid job on standard input "
                        "(internal: only the scheduler and serve start job processes)");
}

void proc_handoff_clear(proc_handoff *h) {
    if (h == NULL) return;
    for (size_t i = 0; i < h->nfiles; i++) {
        free(h->files[i].rel);
        free(h->files[i].text);
    }
    free(h->files);
    free(h->dir);
    memset(h, 0, sizeof *h);
}

void proc_default_name(char *buf, size_t n) {
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(buf, n, "%s:%ld", host, (long)getpid());
}

void proc_scheduler_defaults(proc_scheduler_opts *o) {
    *o = (proc_scheduler_opts){.max_jobs = 4, .tick_s = 10, .grace_s = 30, .lease_s = 30,
                               .service = {.fd = -1}};
    proc_default_name(o->name, sizeof o->name);
}

void proc_worker_defaults(proc_worker_opts *o) {
    *o = (proc_worker_opts){.concurrency = 1, .claim_idle_s = 60, .grace_s = 30,
                            .service = {.fd = -1}};
    proc_default_name(o->name, sizeof o->name);
}

void proc_beat(state *st, const char *kind, const char *name, int64_t mono_ms,
               int64_t *next_ms) {
    if (st == NULL || mono_ms < *next_ms) return;
    *next_ms = mono_ms + PROC_BEAT_S * 1000;
    st_error e;
    if (state_beat(st, kind, name, st_time_now(), &e) != ST_OK)
        log_debug(NULL, NULL, "heartbeat not recorded: %s", e.msg);
}

void proc_block_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
    sigprocmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);   /* a closed Redis/database socket is an error, not death */
}

bool proc_reload_config(const char *dir, config **out, char *why, size_t n) {
    config_problems probs = {0};
    st_error e;
    *out = NULL;
    if (config_load(out, dir, &probs, &e) != ST_OK) {
        if (why != NULL) snprintf(why, n, "%s", probs.n ? probs.items[0] : e.msg);
        for (size_t i = 0; i < probs.n; i++) log_error(NULL, NULL, "reload: %s", probs.items[i]);
        if (probs.n == 0) log_error(NULL, NULL, "reload: %s", e.msg);
        log_error(NULL, NULL, "config reload failed; keeping the previous config");
        config_problems_clear(&probs);
        return false;
    }
    return true;
}

/* --- Backoff --- */

int64_t proc_backoff_fail(proc_backoff *b, const char *why, int64_t mono) {
    if (b->down_since == 0) {
        b->down_since = mono;
        b->step_ms = 0;
        if (b->seed == 0) b->seed = (unsigned)getpid() ^ (unsigned)mono;
    }
    b->step_ms = b->step_ms == 0 ? PROC_BACKOFF_FIRST_MS : b->step_ms * 2;
    if (b->step_ms > PROC_BACKOFF_MAX_MS) b->step_ms = PROC_BACKOFF_MAX_MS;
    int64_t jitter = b->step_ms / 5;
    int64_t delay = b->step_ms - jitter + (int64_t)(rand_r(&b->seed) % (unsigned)(2 * jitter + 1));
    log_warn(NULL, NULL, "%s unreachable (%s); down for %llds, retrying in %.1fs", b->what, why,
             (long long)((mono - b->down_since) / 1000), (double)delay / 1000.0);
    return delay;
}

void proc_backoff_ok(proc_backoff *b, int64_t mono) {
    if (b->down_since == 0) return;
    log_info(NULL, NULL, "%s reachable again after %llds", b->what,
             (long long)((mono - b->down_since) / 1000));
    b->down_since = 0;
    b->step_ms = 0;
}

bool proc_backoff_expired(const proc_backoff *b, int64_t give_up_s, int64_t mono) {
    return give_up_s > 0 && b->down_since != 0 && mono - b->down_since > give_up_s * 1000;
}

bool proc_backoff_transient(int rc) { return rc == ST_EUNAVAIL || rc == ST_ERR; }

static proc_wait proc_gave_up(const proc_backoff *b, int64_t give_up_s) {
    log_error(NULL, NULL, "%s unreachable for more than %" PRId64 "s: giving up "
              "(--give-up-after)", b->what, give_up_s);
    return PROC_WAIT_GAVE_UP;
}

proc_wait proc_backoff_wait(proc_backoff *b, const sigset_t *sigs, int64_t give_up_s,
                            const char *why) {
    int64_t mono = st_time_mono_ms();
    int64_t until = mono + proc_backoff_fail(b, why, mono);
    for (;;) {
        mono = st_time_mono_ms();
        if (proc_backoff_expired(b, give_up_s, mono)) return proc_gave_up(b, give_up_s);
        if (mono >= until) return PROC_WAIT_RETRY;
        int64_t left = until - mono < 100 ? until - mono : 100;
        struct timespec ts = {0, (long)left * 1000000L};
        siginfo_t si;
        int sig = sigtimedwait(sigs, &si, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info(NULL, NULL, "%s: stopping while waiting for %s", strsignal(sig), b->what);
            return PROC_WAIT_STOP;
        }
    }
}

void proc_service_call(const proc_service *s, const proc_view *view) {
    if (s->fn != NULL) s->fn(s->arg, view);
}
