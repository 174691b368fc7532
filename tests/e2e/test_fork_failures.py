"""End-to-end: fork and exec failures are recorded and logged (issue 20
item 6).

The faults are real, not switches in the binary:
- fork: the process runs as an unprivileged user (nobody, who owns no other
  process) with RLIMIT_NPROC 1, so every fork() fails with EAGAIN — as on a
  host at its process limit. Root ignores RLIMIT_NPROC, hence the user.
- exec: the scheduler's own binary is deleted while it runs (an upgrade
  gone wrong), so re-executing /proc/self/exe for a job fails with ENOENT.

A worker that cannot keep its consumers alive exits 1 (it used to store pid
-1 and run forever with no consumer); a scheduler that cannot start a job
process records the attempt `failed` with the reason (it used to leave the
run `pending` for 300 s).
"""
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from conftest import BIN
from test_scheduler_helpers import make_table, pipeline_yaml, state_of, wait_until, \
    write_config

NOBODY = 65534


def no_fork_as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    # lowered after setuid: the exec of synctool itself still succeeds
    resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))


def open_to_nobody(path):
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o777)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666)


@pytest.fixture
def shared_dir():
    if os.getuid() != 0:
        pytest.skip("needs root to run synctool as a user that owns no other process")
    d = tempfile.mkdtemp(prefix="synctool-nproc-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_limited(cfg, *args, timeout=120):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.Popen([BIN, "--config-dir", cfg, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env,
                         preexec_fn=no_fork_as_nobody, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        raise AssertionError("still running after %ds:\n%s" % (timeout, out)) from None
    return p.returncode, out


def test_worker_that_cannot_fork_consumers_exits_1(shared_dir, redis_server):
    db = 13
    subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", str(db), "FLUSHDB"],
                   check=True, capture_output=True)
    url = redis_server.url.rsplit("/", 1)[0] + f"/{db}"
    write_config(shared_dir, {"quiet": pipeline_yaml("quiet", "0 0 1 1 *")}, state_url=url)
    open_to_nobody(shared_dir)
    rc, out = run_limited(shared_dir, "worker", "--concurrency", "2", "--name", "nf")
    assert rc == 1, out
    assert "could not be started (fork: Resource temporarily unavailable)" in out, out
    assert "cannot keep 2 consumers alive" in out, out
    assert "respawning in" in out, out   # retried with a backoff before giving up


def test_scheduler_records_a_failed_fork(shared_dir):
    write_config(shared_dir, {"due": pipeline_yaml("due", "* * * * *")})
    make_table(os.path.join(shared_dir, "src.db"), rows=3)
    make_table(os.path.join(shared_dir, "dst.db"), rows=0)
    open_to_nobody(shared_dir)
    rc, out = run_limited(shared_dir, "scheduler", "--once")
    assert rc == 1, out
    assert "cannot start the job process: fork: Resource temporarily unavailable" in out, out
    st = state_of(shared_dir, "due", "full_job")
    assert st["status"] == "failed", st
    assert "fork" in st["error"], st
    assert st["retry_count"] == 1, st


def test_scheduler_records_a_failed_exec(tmp_path):
    cfg = str(tmp_path)
    write_config(cfg, {})
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)
    copy = os.path.join(cfg, "synctool-old")
    shutil.copy(BIN, copy)
    os.chmod(copy, os.stat(copy).st_mode | stat.S_IXUSR)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
    log = open(os.path.join(cfg, "sched.log"), "w")
    p = subprocess.Popen([copy, "--config-dir", cfg, "scheduler", "--tick", "1"],
                         stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def text():
        with open(os.path.join(cfg, "sched.log")) as f:
            return f.read()
    try:
        wait_until(lambda: "holds the scheduler lease" in text() or p.poll() is not None,
                   timeout=60, what="the scheduler to lead")
        os.remove(copy)   # the binary goes away under the running scheduler
        with open(os.path.join(cfg, "pipelines", "due.yaml"), "w") as f:
            f.write(pipeline_yaml("due", "* * * * *"))
        p.send_signal(signal.SIGHUP)
        wait_until(lambda: "cannot start the job process" in text() or p.poll() is not None,
                   timeout=60, what="the job start to fail")
        assert "cannot start the job process: exec: No such file or directory" in text(), \
            text()
        wait_until(lambda: (state_of(cfg, "due", "full_job") or {}).get("status") == "failed",
                   timeout=60, what="the failed attempt in state")
        st = state_of(cfg, "due", "full_job")
        assert "exec" in st["error"], st
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(60)
        log.close()
    assert p.returncode == 0, text()
