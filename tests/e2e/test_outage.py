"""End-to-end: Redis outages under a running worker and scheduler (issue 11,
item 1). A private redis-server per test is restarted (with and without
persistence) or frozen with SIGSTOP for 8 s; the worker and the scheduler
warn once per backoff step, run nothing, and resume by themselves; a job
enqueued afterwards runs exactly once, and a job enqueued before a restart
with persistence is not lost. --give-up-after makes them exit 69.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import run_synctool
from test_scheduler_helpers import (count_rows, history, make_table, pipeline_yaml,
                                    state_of, wait_until, write_config)
from test_scheduler_scenarios import Background


class RestartableRedis:
    """A redis-server on a fixed port that can be stopped and started again
    (same port, same directory), optionally with an append-only file."""

    def __init__(self, persist):
        import servers
        self.dir = tempfile.mkdtemp(prefix="synctool-redis-outage-")
        self.port = servers.free_port()
        self.persist = persist
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        self.start()

    def start(self):
        import servers
        persist = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             self.dir, "--save", "", *persist, "--daemonize", "no", "--logfile",
             os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers._wait_port(self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def outage_setup(cfg, url, names):
    write_config(cfg, {n: pipeline_yaml(n, "* * * * *", src_table=n, dst_table=n)
                       for n in names}, state_url=url)
    for i, n in enumerate(names):
        make_table(os.path.join(cfg, "src.db"), table=n, rows=3 + i)
        make_table(os.path.join(cfg, "dst.db"), table=n, rows=0)


def wait_or_dump(pred, what, *bgs, timeout=120):
    try:
        wait_until(pred, timeout=timeout, what=what)
    except AssertionError as e:
        raise AssertionError(str(e) + "\n" + "\n----\n".join(b.text() for b in bgs)) from None


def succeeded(cfg, name):
    st = state_of(cfg, name, "full_job")
    return st is not None and st["status"] == "success"


def assert_backoff_steps(text, backend="redis"):
    """The warnings of one outage of `backend` (redis, postgresql) each name
    a delay at least 0.8 of the doubling step (0.5 s, 1 s, 2 s ... capped at
    30 s): one warning per step, whatever the machine's speed."""
    outage = text.split("reachable again")[0]
    delays = [float(m) for m in re.findall(backend + r" unreachable \(.*retrying in ([0-9.]+)s",
                                           outage)]
    assert len(delays) >= 3, text
    for i, d in enumerate(delays):
        assert d >= min(0.5 * 2 ** i, 30) * 0.8 - 0.05, (i, delays, text)


def give_up_exits_69(cfg, stop, env=None):
    """A worker and a scheduler with --give-up-after 3 both exit 69 once
    stop() takes their coordination store away, each saying it is giving
    up; returns their logs (worker, scheduler)."""
    w = Background(cfg, "worker", "--name", "w", "--give-up-after", "3", env=env)
    s = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--give-up-after", "3",
                   env=env)
    try:
        w.wait_for("worker w started")
        s.wait_for("holds the scheduler lease")
        stop()
        assert w.proc.wait(60) == 69, w.text()
        assert s.proc.wait(60) == 69, s.text()
    finally:
        w.stop()
        s.stop()
    for bg in (w, s):
        assert "giving up" in bg.text(), bg.text()
    return w.text(), s.text()


@pytest.mark.parametrize("mode", ["restart-persistent", "restart-empty", "stall"])
def test_redis_outage_under_worker_and_scheduler(tmp_path, mode):
    red = RestartableRedis(persist=mode == "restart-persistent")
    cfg = str(tmp_path)
    w = s = None
    try:
        outage_setup(cfg, red.url, ["first"])
        w = Background(cfg, "worker", "--name", "w", "--claim-idle", "30")
        s = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "sch")
        w.wait_for("worker w started")
        wait_until(lambda: succeeded(cfg, "first"), timeout=120, what="the first job")
        if mode == "restart-persistent":
            # a job enqueued before the outage, not yet taken: it must survive
            w.proc.send_signal(signal.SIGSTOP)
            with open(os.path.join(cfg, "pipelines", "early.yaml"), "w") as f:
                f.write(pipeline_yaml("early", "* * * * *", src_table="early",
                                      dst_table="early"))
            make_table(os.path.join(cfg, "src.db"), table="early", rows=7)
            make_table(os.path.join(cfg, "dst.db"), table="early", rows=0)
            s.proc.send_signal(signal.SIGHUP)
            w.proc.send_signal(signal.SIGHUP)  # taken (queued) while stopped: on SIGCONT
            wait_until(lambda: (state_of(cfg, "early", "full_job") or {}).get("status")
                       == "pending", timeout=60, what="the early job to be enqueued")
        if mode == "stall":
            red.proc.send_signal(signal.SIGSTOP)
            time.sleep(8)
            red.proc.send_signal(signal.SIGCONT)
        else:
            red.stop()
            if mode == "restart-persistent":
                w.proc.send_signal(signal.SIGCONT)
            # a few backoff steps while it is down (counted, not timed)
            for bg in (s, w):
                wait_or_dump(lambda bg=bg: bg.text().count("redis unreachable") >= 3 or
                             bg.proc.poll() is not None, "three backoff steps", bg)
            red.start()
        if mode != "stall":
            # (an 8 s stall may cost each process one timed-out call, or none)
            wait_or_dump(lambda: "reachable again" in w.text(), "the worker to resume", w, s,
                         timeout=90)
            wait_or_dump(lambda: "reachable again" in s.text(), "the scheduler to resume", w,
                         s, timeout=90)
            # once per backoff step, not every second: the delays double
            assert_backoff_steps(w.text())
            assert_backoff_steps(s.text())
        assert "reading the job stream failed" not in w.text()
        # a pipeline added after the outage is enqueued and run exactly once
        with open(os.path.join(cfg, "pipelines", "later.yaml"), "w") as f:
            f.write(pipeline_yaml("later", "* * * * *", src_table="later", dst_table="later"))
        make_table(os.path.join(cfg, "src.db"), table="later", rows=5)
        make_table(os.path.join(cfg, "dst.db"), table="later", rows=0)
        s.proc.send_signal(signal.SIGHUP)
        w.proc.send_signal(signal.SIGHUP)
        wait_or_dump(lambda: succeeded(cfg, "later"), "the later job", w, s)
        if mode == "restart-persistent":
            wait_or_dump(lambda: succeeded(cfg, "early"), "the early job", w, s)
    except BaseException:
        red.close()
        raise
    finally:
        rc_w = w.stop() if w else 0
        rc_s = s.stop() if s else 0
    # exactly once: read history before the server goes away
    try:
        assert rc_w == 0, w.text()
        assert rc_s == 0, s.text()
        # exactly once per slot (the cron is every minute, so a test that
        # crosses a minute boundary may see the next slot's run too)
        for name, rows in (("later", 5), ("early", 7)):
            if name == "early" and mode != "restart-persistent":
                continue
            hist = history(cfg, name)
            slots = [h["started_at"][:16] for h in hist]
            assert hist and all(h["status"] == "success" for h in hist), hist
            assert len(slots) == len(set(slots)), hist
            assert count_rows(os.path.join(cfg, "dst.db"), name) == rows
    finally:
        red.close()


def test_give_up_after_exits_69(tmp_path):
    red = RestartableRedis(persist=False)
    cfg = str(tmp_path)
    try:
        outage_setup(cfg, red.url, ["quiet"])
        give_up_exits_69(cfg, red.stop)
    finally:
        red.close()
    r = run_synctool("worker", "--give-up-after", "x", config_dir=cfg)
    assert r.rc == 2 and "--give-up-after" in r.err, r
