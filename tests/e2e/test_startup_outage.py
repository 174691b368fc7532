"""End-to-end: a missing service at startup and at the end of a run (issue 20
item 5, issue 27 item 5).

- `worker` (also with --concurrency 2), `scheduler` and `serve` started while
  Redis is down wait with the outage backoff and start working once it comes
  up; with --give-up-after 2 they exit 69 instead.
- A scheduler and a worker that lived through a Redis restart exit 0 on a
  clean SIGTERM (a failed tick no longer sticks in the exit code).
- A run whose data is committed but whose outcome cannot be recorded (Redis
  killed while the run is held at a PostgreSQL advisory-lock gate) retries
  recording for its lease and exits 69 "data copied, outcome not recorded";
  if Redis comes back inside the lease, the outcome is recorded and it exits 0.

Nothing waits on a fixed sleep: every step waits for a log line, a state or
the gate.
"""
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BIN
from test_lifecycle import PgHold, gate_waiters, gated_pipeline, tables_equal
from test_outage import RestartableRedis, outage_setup, succeeded, wait_or_dump
from test_scheduler_helpers import wait_until
from test_scheduler_scenarios import Background
from test_sync_cli import pg_count, schema  # noqa: F401
import servers


def readyz(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_worker_scheduler_serve_started_before_redis_wait_for_it(tmp_path):
    red = RestartableRedis(persist=False)
    red.stop()
    cfg = str(tmp_path)
    port = servers.free_port()
    bgs = []
    try:
        outage_setup(cfg, red.url, ["boot"])
        w = Background(cfg, "worker", "--name", "w")
        w2 = Background(cfg, "worker", "--name", "wk", "--concurrency", "2")
        s = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "sch")
        v = Background(cfg, "serve", "--listen", f"127.0.0.1:{port}")
        bgs = [w, w2, s, v]
        for bg in bgs:
            wait_or_dump(lambda bg=bg: bg.text().count("unreachable") >= 2 or
                         bg.proc.poll() is not None, "backoff steps while Redis is down", bg)
            assert bg.proc.poll() is None, bg.text()
        assert readyz(port) == 503
        red.start()
        w.wait_for("worker w started")
        w2.wait_for("worker wk-1 started")
        w2.wait_for("worker wk-2 started")
        s.wait_for("holds the scheduler lease")
        wait_or_dump(lambda: succeeded(cfg, "boot"), "the job after Redis came up", *bgs)
        wait_or_dump(lambda: "reachable again" in v.text(), "serve to see Redis", v)
        wait_until(lambda: readyz(port) == 200, timeout=60, what="/readyz 200")
    finally:
        rcs = [bg.stop() for bg in bgs]
        red.close()
    assert rcs == [0, 0, 0, 0], "\n----\n".join(bg.text() for bg in bgs)


def test_give_up_after_at_startup_exits_69(tmp_path):
    red = RestartableRedis(persist=False)
    red.stop()
    cfg = str(tmp_path)
    try:
        outage_setup(cfg, red.url, ["quiet"])
        bgs = [Background(cfg, "worker", "--give-up-after", "2"),
               Background(cfg, "worker", "--concurrency", "2", "--give-up-after", "2"),
               Background(cfg, "scheduler", "--give-up-after", "2"),
               Background(cfg, "serve", "--listen", f"127.0.0.1:{servers.free_port()}",
                          "--give-up-after", "2")]
        try:
            rcs = [bg.proc.wait(120) for bg in bgs]
        finally:
            for bg in bgs:
                bg.stop()
        assert rcs == [69, 69, 69, 69], "\n----\n".join(bg.text() for bg in bgs)
        for bg in bgs:
            assert "giving up (--give-up-after)" in bg.text(), bg.text()
            assert "retrying in" in bg.text(), bg.text()
    finally:
        red.close()


def test_scheduler_and_worker_exit_0_after_redis_restart(tmp_path):
    """A tick fails while Redis is down (the lease of 600 s is not renewed
    before the next tick, so the tick is what meets the outage)."""
    red = RestartableRedis(persist=False)
    cfg = str(tmp_path)
    w = s = None
    try:
        outage_setup(cfg, red.url, ["first"])
        w = Background(cfg, "worker", "--name", "w")
        s = Background(cfg, "scheduler", "--tick", "1", "--lease", "600", "--name", "sch")
        w.wait_for("worker w started")
        wait_or_dump(lambda: succeeded(cfg, "first"), "the first job", w, s)
        red.stop()
        wait_or_dump(lambda: "tick failed" in s.text(), "a tick to fail", s)
        w.wait_for("redis unreachable")
        red.start()
        # the restarted Redis is empty: the slot runs again, through both
        wait_or_dump(lambda: succeeded(cfg, "first"), "the job after the restart", w, s)
        wait_or_dump(lambda: "reachable again" in w.text(), "the worker to resume", w)
    finally:
        rc_w = w.stop() if w else 0
        rc_s = s.stop() if s else 0
        red.close()
    assert rc_s == 0, s.text()
    assert rc_w == 0, w.text()
    assert "scheduler stopped" in s.text()


def start_run(cfg):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", SYNCTOOL_SPOOL_DIR=str(cfg / "spool"))
    return subprocess.Popen([BIN, "--config-dir", str(cfg), "run", "p", "--strategy", "full"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("comes_back", [False, True])
def test_outcome_not_recorded_exits_69(tmp_path, pg_server, schema, comes_back):
    """Redis goes away while the run waits at the gate (its last rows); the
    data is committed, recording is retried for the lease (10 s). Without
    Redis: exit 69 "data copied, outcome not recorded"; Redis back (with its
    data) inside the lease: the outcome is recorded, exit 0."""
    red = RestartableRedis(persist=True)
    try:
        gated_pipeline(tmp_path, pg_server, schema, n=200, gate_after=199, batch=50,
                       state_url=red.url)
        pfile = tmp_path / "pipelines" / "p.yaml"
        pfile.write_text(pfile.read_text().replace("lease_ttl_seconds: 5",
                                                   "lease_ttl_seconds: 10"))
        hold = PgHold(pg_server)
        proc = start_run(tmp_path)
        try:
            wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                       timeout=120, what="the run waiting at the gate")
            assert proc.poll() is None, proc.communicate()
            red.stop()
            hold.release()
            if comes_back:
                wait_until(lambda: proc.poll() is not None or
                           pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst') == 200,
                           timeout=120, what="the data committed")
                red.start()
            out, err = proc.communicate(timeout=180)
        finally:
            hold.release()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert tables_equal(pg_server, schema)
        if comes_back:
            assert proc.returncode == 0, err
            r = subprocess.run([BIN, "--config-dir", str(tmp_path), "status", "p", "--json"],
                               capture_output=True, text=True)
            assert '"success"' in r.stdout, r
        else:
            assert proc.returncode == 69, err
            assert "data copied, outcome not recorded" in err, err
            assert "retrying in" in err, err
            spooled = list((tmp_path / "spool").glob("run-*.json"))
            assert len(spooled) == 1, (err, spooled)
            assert "kept in" in err, err
            # The next contact on this host records the outcome: a success,
            # never a failure (nor `lost`), and the spool is emptied.
            red.start()
            env = dict(os.environ, SYNCTOOL_SPOOL_DIR=str(tmp_path / "spool"))
            r = subprocess.run([BIN, "--config-dir", str(tmp_path), "status", "p", "--json"],
                               capture_output=True, text=True, env=env)
            assert r.returncode == 0, r
            rec = json.loads(r.stdout)
            rec = rec[0] if isinstance(rec, list) else rec
            text = json.dumps(rec)
            assert '"success"' in text and '"failed"' not in text and '"lost"' not in text, text
            assert "recorded late" in r.stderr, r.stderr
            assert not list((tmp_path / "spool").glob("run-*.json"))
            h = subprocess.run([BIN, "--config-dir", str(tmp_path), "history", "p", "--json"],
                               capture_output=True, text=True, env=env)
            assert '"success"' in h.stdout, h
    finally:
        red.close()
