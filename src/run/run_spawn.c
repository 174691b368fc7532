/*
 * run_spawn — the job hand-off (step 2 of run.h): the one helper that
 * starts `synctool scheduler --exec-job`, for the embedded scheduler (a
 * child it reaps) and for `serve`'s POST .../run (a detached process), and
 * the hand-off it gives that process on its standard input.
 *
 * Lock owner tokens never appear in a command line, where any local user
 * could read them in /proc/PID/cmdline and release or renew the lock: the
 * argv is only the binary, --config-dir, --log-level and `scheduler
 * --exec-job`; the job (with its enqueue key, owner token and fence) and
 * the configuration the parent validated go into a memfd that becomes the
 * child's stdin.
 *
 * Every failure to start is reported, never a silent success: a failed
 * fork of either process (the detached mode forks a middle process that
 * forks the job and exits at once, so init adopts the job) and a failed
 * execv (reported through a close-on-exec pipe: EOF means the exec
 * happened). The caller blocks only until then. Signals are unblocked in
 * the job process (the loops block them), and it runs in a process group
 * (child) or session (detached) of its own, so a terminal's Ctrl-C is not
 * for jobs.
 */
#include "run.h"

#include "../log/log.h"
#include "../strbuf/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The state URL line of the hand-off: the longest a parsed URL formats to. */
#define RUN_URL_MAX 2048

/* --- Starting the process --- */

/* In the job process, after fork: stdin, signals, exec; on failure the
 * errno goes to the parent through wfd. Never returns. */
static void run_exec_child(char *const argv[], int stdin_fd, int wfd) {
    int e = 0;
    if (stdin_fd >= 0 && dup2(stdin_fd, STDIN_FILENO) < 0) {
        e = errno;
    } else {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        e = errno;
    }
    ssize_t n = write(wfd, &e, sizeof e);
    (void)n;
    _exit(127);
}

/* The detached mode's middle process: forks the job, reports a failed
 * fork in its exit status (the errno), exits. */
static void run_spawn_middle(char *const argv[], int stdin_fd, int wfd) {
    setsid();
    pid_t pid = fork();
    if (pid < 0) _exit(errno > 0 && errno < 126 ? errno : EAGAIN);
    if (pid == 0) run_exec_child(argv, stdin_fd, wfd);
    _exit(0);
}

/* Reads the exec result from rfd (and closes it): 0 when the exec
 * happened (EOF), else the errno the job process wrote. */
static int run_exec_result(int rfd) {
    int e = 0;
    ssize_t n;
    while ((n = read(rfd, &e, sizeof e)) < 0 && errno == EINTR) {}
    close(rfd);
    if (n != (ssize_t)sizeof e) return 0;
    return e != 0 ? e : ENOEXEC;
}

static int run_spawn_error(st_error *err, const char *what, int e) {
    errno = e;
    st_error_set(err, ST_ERR, "%s: %s", what, strerror(e));
    errno = e;
    return ST_ERR;
}

/* Forks; in the child (mode CHILD: the job; DETACHED: the middle process)
 * runs the job's side. Returns the pid, or -1 with errno. */
static pid_t run_fork(char *const argv[], int stdin_fd, run_spawn_mode mode, int fds[2]) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0) return pid;
    close(fds[0]);
    if (mode == RUN_SPAWN_DETACHED) run_spawn_middle(argv, stdin_fd, fds[1]);
    setpgid(0, 0);
    run_exec_child(argv, stdin_fd, fds[1]);
    return 0;   /* not reached */
}

/* The detached mode waits for its middle process: a failed second fork is
 * its exit status. Returns 0 or that errno. */
static int run_wait_middle(pid_t mid) {
    int status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return ECHILD;
}

int run_spawn_argv(char *const argv[], int stdin_fd, run_spawn_mode mode, pid_t *pid,
                   st_error *err) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return run_spawn_error(err, "pipe", errno);
    pid_t child = run_fork(argv, stdin_fd, mode, fds);
    int fork_errno = errno;
    close(fds[1]);
    if (child < 0) {
        close(fds[0]);
        return run_spawn_error(err, "fork", fork_errno);
    }
    int e = 0;
    if (mode == RUN_SPAWN_DETACHED && (e = run_wait_middle(child)) != 0) {
        close(fds[0]);
        return run_spawn_error(err, "fork", e);
    }
    if (mode == RUN_SPAWN_CHILD) setpgid(child, child);   /* both sides: no race with exec */
    if ((e = run_exec_result(fds[0])) != 0) {
        if (mode == RUN_SPAWN_CHILD)
            while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
        return run_spawn_error(err, "exec", e);
    }
    if (pid != NULL) *pid = mode == RUN_SPAWN_CHILD ? child : 0;
    return ST_OK;
}

int run_spawn_job(const run_spawn_opts *o, const queue_job *j, const config *cfg, pid_t *pid,
                  st_error *err) {
    char self[4096];
    if (o->self != NULL) {
        snprintf(self, sizeof self, "%s", o->self);
    } else {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return run_spawn_error(err, "readlink /proc/self/exe", errno);
        self[n] = '\0';
    }
    /* The job (with its enqueue owner token) goes on stdin, not argv. */
    char *argv[] = {self, "--config-dir", (char *)o->config_dir, "--log-level",
                    (char *)(o->log_level ? o->log_level : "info"), "scheduler", "--exec-job",
                    NULL};
    int job_fd = -1;
    int rc = run_handoff_write(j, cfg, &job_fd, err);
    if (rc != ST_OK) return rc;
    rc = run_spawn_argv(argv, job_fd, o->mode, pid, err);
    int e = errno;
    close(job_fd);
    errno = e;
    return rc;
}

/* --- The job hand-off (run.h) ---
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

#define RUN_JOB_MAGIC "synctool-job 3"
#define RUN_JOB_MAX_BYTES (64 * 1024 * 1024)

static bool run_line_ok(const char *s) { return s != NULL && strchr(s, '\n') == NULL; }

/* Writes all of buf (n bytes) to fd; false on an error. */
static bool run_write_all(int fd, const char *buf, size_t n) {
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
static bool run_job_header(const queue_job *j, const config *cfg, const char *url,
                            size_t nfiles, char *buf, size_t n, size_t *len) {
    int k = snprintf(buf, n, RUN_JOB_MAGIC "\n%s\n%s\n%" PRId64 "\n%" PRId64 "\n%s\n%s\n%"
                     PRId64 "\n%d\n%s\n%s\n%zu\n", j->pipeline, j->strategy, j->run_id, j->at,
                     j->enqueue_key, j->enqueue_owner, j->enqueue_fence, j->manual ? 1 : 0,
                     url, cfg->dir, nfiles);
    *len = (size_t)k;
    return k > 0 && (size_t)k < n;
}

/* The files a job of pipeline j->pipeline needs: datastores.yaml and its
 * pipeline's file (the scheduler's config already left out what another
 * file makes invalid, so these two load alone exactly as they did there). */
static size_t run_job_files(const queue_job *j, const config *cfg, const config_source *f[2]) {
    size_t n = 0;
    if ((f[n] = config_source_find(cfg, "datastores.yaml")) != NULL) n++;
    const config_source *ps = config_pipeline_source(cfg, config_pipeline_find(cfg, j->pipeline));
    if (ps != NULL) f[n++] = ps;
    return n;
}

static bool run_write_file(int fd, const config_source *s) {
    char head[4200];
    int k = snprintf(head, sizeof head, "%s\n%zu\n", s->rel, s->len);
    return k > 0 && (size_t)k < sizeof head && run_line_ok(s->rel) &&
           run_write_all(fd, head, (size_t)k) && run_write_all(fd, s->text, s->len) &&
           run_write_all(fd, "\n", 1);
}

int run_handoff_write(const queue_job *j, const config *cfg, int *rfd, st_error *err) {
    const config_source *files[2];
    size_t nfiles = run_job_files(j, cfg, files);
    char head[8192], url[RUN_URL_MAX];   /* url: SECRET, the password in it */
    size_t hlen;
    bool fits = burl_format_secret(&cfg->state_url, url, sizeof url) == 0 &&
                run_line_ok(url) && run_line_ok(cfg->dir) &&
                run_job_header(j, cfg, url, nfiles, head, sizeof head, &hlen);
    memset(url, 0, sizeof url);
    if (!fits) {
        memset(head, 0, sizeof head);
        return st_error_set(err, ST_EINVAL, "job hand-off: the job does not fit");
    }
    int fd = memfd_create("synctool-job", MFD_CLOEXEC);
    if (fd < 0) return st_error_set(err, ST_ERR, "job hand-off: memfd_create: %s", strerror(errno));
    bool ok = run_write_all(fd, head, hlen);
    for (size_t i = 0; ok && i < nfiles; i++) ok = run_write_file(fd, files[i]);
    if (!ok || lseek(fd, 0, SEEK_SET) != 0) {
        int e = errno;
        close(fd);
        return st_error_set(err, ST_ERR, "job hand-off: write: %s", strerror(e));
    }
    *rfd = fd;
    return ST_OK;
}

/* A cursor over the hand-off's bytes. */
typedef struct run_cur {
    char *p, *end;
} run_cur;

/* The next line into dst (n bytes); false if missing or too long. */
static bool run_job_field(run_cur *c, char *dst, size_t n) {
    char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (nl == NULL || (size_t)(nl - c->p) >= n) return false;
    memcpy(dst, c->p, (size_t)(nl - c->p));
    dst[nl - c->p] = '\0';
    c->p = nl + 1;
    return true;
}

static bool run_job_int(run_cur *c, int64_t *v) {
    char num[32], *end;
    if (!run_job_field(c, num, sizeof num) || num[0] == '\0') return false;
    errno = 0;
    long long x = strtoll(num, &end, 10);
    *v = x;
    return errno == 0 && *end == '\0';
}

/* The state URL line ("" for none) parsed into *u. */
static bool run_job_url(run_cur *c, backend_url *u) {
    char text[RUN_URL_MAX];
    memset(u, 0, sizeof *u);
    bool ok = run_job_field(c, text, sizeof text) &&
              (text[0] == '\0' || burl_parse(u, text, NULL) == ST_OK);
    memset(text, 0, sizeof text);
    return ok;
}

/* The next line, malloc'ed; NULL if missing (or out of memory). */
static char *run_job_str(run_cur *c) {
    char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (nl == NULL) return NULL;
    char *s = strndup(c->p, (size_t)(nl - c->p));
    c->p = nl + 1;
    return s;
}

static bool run_job_file(run_cur *c, config_source *f) {
    int64_t len;
    if ((f->rel = run_job_str(c)) == NULL || f->rel[0] == '\0' || !run_job_int(c, &len) ||
        len < 0 || len >= c->end - c->p || c->p[len] != '\n')
        return false;
    if ((f->text = malloc((size_t)len + 1)) == NULL) return false;
    memcpy(f->text, c->p, (size_t)len);
    f->text[len] = '\0';
    f->len = (size_t)len;
    c->p += len + 1;
    return true;
}

static bool run_job_parse(run_cur *c, run_handoff *h) {
    queue_job *j = &h->job;
    char magic[32];
    int64_t nfiles, manual = 0;
    bool ok = run_job_field(c, magic, sizeof magic) && strcmp(magic, RUN_JOB_MAGIC) == 0 &&
              run_job_field(c, j->pipeline, sizeof j->pipeline) &&
              run_job_field(c, j->strategy, sizeof j->strategy) &&
              run_job_int(c, &j->run_id) && run_job_int(c, &j->at) &&
              run_job_field(c, j->enqueue_key, sizeof j->enqueue_key) &&
              run_job_field(c, j->enqueue_owner, sizeof j->enqueue_owner) &&
              run_job_int(c, &j->enqueue_fence) && run_job_int(c, &manual) &&
              (manual == 0 || manual == 1) && run_job_url(c, &h->state_url) &&
              (h->dir = run_job_str(c)) && run_job_int(c, &nfiles) && nfiles >= 0 &&
              nfiles <= 64 && j->pipeline[0] && j->strategy[0] && j->run_id > 0 &&
              h->dir[0] == '/';
    j->manual = manual == 1;
    if (ok && nfiles > 0) ok = (h->files = calloc((size_t)nfiles, sizeof *h->files)) != NULL;
    for (int64_t i = 0; ok && i < nfiles; i++, h->nfiles++) ok = run_job_file(c, &h->files[i]);
    return ok && c->p == c->end;
}

int run_handoff_read(int fd, run_handoff *h, st_error *err) {
    memset(h, 0, sizeof *h);
    strbuf buf = {0};
    bool ok = strbuf_read_fd(&buf, fd, RUN_JOB_MAX_BYTES) == ST_OK;
    run_cur c = {buf.s, buf.s ? buf.s + buf.len : NULL};
    ok = ok && run_job_parse(&c, h);
    strbuf_release(&buf);
    if (ok) return ST_OK;
    run_handoff_clear(h);
    return st_error_set(err, ST_EINVAL, "--exec-job: no valid job on standard input "
                        "(internal: only the scheduler and serve start job processes)");
}

void run_handoff_clear(run_handoff *h) {
    if (h == NULL) return;
    for (size_t i = 0; i < h->nfiles; i++) {
        free(h->files[i].rel);
        free(h->files[i].text);
    }
    free(h->files);
    free(h->dir);
    memset(h, 0, sizeof *h);
}

