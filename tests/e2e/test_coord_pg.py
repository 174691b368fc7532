"""End-to-end: PostgreSQL as the coordination database (issue 24) — state,
locks, the job queue and the scheduler's leader lease all in one
PostgreSQL schema, no Redis: two schedulers and two workers.

- the leader SIGKILLed, then the next one SIGSTOPped past its lease: a
  standby leads each time, the stopped one steps down when it wakes, and
  no slot runs twice;
- a run asked for through the API (`serve`, POST .../run) goes through the
  PostgreSQL queue to a worker, not to a process on the API's host;
- a worker SIGKILLed mid-job (held at the PostgreSQL gate of
  test_lifecycle, so it is provably running): another worker claims the
  job after --claim-idle and runs it once;
- the coordination server restarted, or stalled with SIGSTOP for 8 s, under
  a running scheduler and two workers (a private PostgreSQL per test): they
  warn once per backoff step, run nothing while it is away, resume by
  themselves, and the slot after recovery runs exactly once;
  --give-up-after exits 69.

The state URL's password comes from ${SYNCTOOL_E2E_PGPW} and never appears
in any output. Waits are on log lines and state, never on sleeps (the 8 s
stall is the fault itself).
"""
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.parse
import uuid

import pytest

from conftest import BIN
from http_helpers import Server
from test_lifecycle import PgHold, gate_waiters, gated_pipeline, tables_equal
from test_outage import assert_backoff_steps, give_up_exits_69, succeeded, wait_or_dump
from test_outage import outage_setup as setup_pipelines
from test_scheduler_helpers import (count_rows, history, make_table, pipeline_yaml, state_of,
                                    wait_until, write_config)
from test_scheduler_scenarios import Background
from test_sync_cli import schema  # noqa: F401


def pg_url(server, schema_name):
    return (f"postgresql://{server.user}:${{SYNCTOOL_E2E_PGPW}}@{server.host}:{server.port}/"
            f"{server.dbname}?schema={schema_name}")


def pg_env(server):
    return {"SYNCTOOL_E2E_PGPW": urllib.parse.quote(server.password, safe="")}


@pytest.fixture
def coord(pg_server, monkeypatch):
    """(state URL, env with its password) in a schema of its own; the
    password is in this process's environment too (for `synctool status`,
    `ddl apply` ... run by the helpers)."""
    name = "co_" + uuid.uuid4().hex[:10]
    for k, v in pg_env(pg_server).items():
        monkeypatch.setenv(k, v)
    yield pg_url(pg_server, name), pg_env(pg_server), name
    pg_server.psql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', dbname=pg_server.dbname)


def queue_rows(server, schema_name):
    return int(server.psql(f'SELECT count(*) FROM "{schema_name}".queue_jobs',
                           dbname=server.dbname).strip())


def add_pipeline(cfg, name, rows, *procs):
    with open(os.path.join(cfg, "pipelines", f"{name}.yaml"), "w") as f:
        f.write(pipeline_yaml(name, "* * * * *", src_table=name, dst_table=name))
    make_table(os.path.join(cfg, "src.db"), table=name, rows=rows)
    make_table(os.path.join(cfg, "dst.db"), table=name, rows=0)
    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGHUP)


def once_per_slot(cfg, name):
    hist = history(cfg, name, limit=50)
    slots = [h["started_at"][:16] for h in hist if h["status"] == "success"]
    assert slots, hist
    assert len(slots) == len(set(slots)), hist


def leader_of(*scheds):
    for s in scheds:
        if s.proc.poll() is None and re.search(r"leader: \S+ holds the scheduler lease",
                                               s.text()):
            return s
    return None


def test_pg_leader_killed_then_stopped_standby_leads_no_slot_twice(tmp_path, coord,
                                                                   pg_server):
    url, env, _ = coord
    cfg = str(tmp_path)
    setup_pipelines(cfg, url, ["first"])
    ws = [Background(cfg, "worker", "--name", f"w{i}", "--claim-idle", "30", env=env)
          for i in range(2)]
    a = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "pa", env=env)
    b = c = None
    try:
        a.wait_for("leader: pa holds the scheduler lease")
        assert "distributed mode" in a.text(), a.text()
        b = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "pb",
                       env=env)
        b.wait_for("standby: leader is pa")
        for w in ws:
            w.wait_for("started")
        wait_or_dump(lambda: succeeded(cfg, "first"), "the first job", a, b, *ws)
        # SIGKILL: the standby leads (the lease runs out on the server's clock)
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        b.wait_for("leader: pb holds the scheduler lease", timeout=60)
        # SIGSTOP past the lease: a third scheduler leads; the stopped one
        # finds its lease gone when it wakes and stands by
        c = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "pc",
                       env=env)
        c.wait_for("standby: leader is pb")
        b.proc.send_signal(signal.SIGSTOP)
        c.wait_for("leader: pc holds the scheduler lease", timeout=60)
        b.proc.send_signal(signal.SIGCONT)
        b.wait_for("lost the scheduler lease", timeout=60)
        # work goes on under the new leader
        add_pipeline(cfg, "later", 5, c, b, *ws)
        wait_or_dump(lambda: succeeded(cfg, "later"), "the later job", b, c, *ws)
    finally:
        a.stop()
        rcs = [(p.stop(), p.text()) for p in (b, c, *ws) if p is not None]
    for rc, text in rcs:
        assert rc == 0, text
    once_per_slot(cfg, "first")
    once_per_slot(cfg, "later")
    assert count_rows(os.path.join(cfg, "dst.db"), "later") == 5
    logs = "".join(p.text() for p in (a, b, c, *ws) if p is not None)
    assert pg_server.password not in logs


def test_pg_killed_worker_job_is_claimed_and_run_once(tmp_path, coord, pg_server, schema):
    url, env, coord_schema = coord
    cfg = str(tmp_path)
    gated_pipeline(tmp_path, pg_server, schema, state_url=url)
    hold = PgHold(pg_server)
    a = Background(cfg, "worker", "--name", "doomed", "--claim-idle", "5", env=env)
    b = None
    try:
        a.wait_for("started")
        r = subprocess.run([BIN, "--config-dir", cfg, "scheduler", "--once", "--at",
                            "2025-10-15T02:00:00Z"], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, **env))
        assert r.returncode == 0 and "Enqueued run" in r.stderr, r.stderr
        wait_until(lambda: gate_waiters(pg_server) > 0, timeout=120, what="the run at the gate")
        st = state_of(cfg, "p", "full")
        assert st["status"] == "running" and st["worker"] == "doomed", st
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        hold.release()
        b = Background(cfg, "worker", "--name", "rescuer", "--claim-idle", "5", env=env)
        wait_until(lambda: state_of(cfg, "p", "full")["status"]
                   in ("success", "failed", "skipped"), timeout=240, interval=0.3,
                   what="the claimed job to finish")
        st = state_of(cfg, "p", "full")
        assert st["status"] == "success", (st, b.text())
        assert st["worker"] == "rescuer"
        assert "claimed run" in b.text(), b.text()
        wait_until(lambda: queue_rows(pg_server, coord_schema) == 0, what="the job's ack")
    finally:
        hold.release()
        a.stop()
        if b is not None:
            assert b.stop() == 0, b.text()
    assert tables_equal(pg_server, schema)
    hist = history(cfg, "p")
    assert [h["status"] for h in hist].count("success") == 1, hist


def test_pg_api_trigger_goes_through_the_queue_to_a_worker(tmp_path, coord, pg_server):
    url, env, coord_schema = coord
    cfg = str(tmp_path)
    write_config(cfg, {"manual": pipeline_yaml("manual", "0 0 1 1 *", src_table="manual",
                                               dst_table="manual")}, state_url=url)
    make_table(os.path.join(cfg, "src.db"), table="manual", rows=4)
    make_table(os.path.join(cfg, "dst.db"), table="manual", rows=0)
    token = "t-" + uuid.uuid4().hex
    w = Background(cfg, "worker", "--name", "apiw", env=env)
    try:
        w.wait_for("worker apiw started")
        w.proc.send_signal(signal.SIGSTOP)   # the job waits in the table until it wakes
        with Server(cfg, token=token, env=env) as srv:
            st, _, text = srv.call("POST", "/api/v1/pipelines/manual/run", token=token,
                                   body={"strategy": "full_job"})
            assert st == 202, text
            assert queue_rows(pg_server, coord_schema) == 1
            w.proc.send_signal(signal.SIGCONT)
            wait_or_dump(lambda: succeeded(cfg, "manual"), "the triggered run", w)
            wait_until(lambda: queue_rows(pg_server, coord_schema) == 0, what="the ack")
            assert pg_server.password not in srv.text()
    finally:
        w.proc.send_signal(signal.SIGCONT)
        assert w.stop() == 0, w.text()
    assert "succeeded" in w.text(), w.text()
    assert count_rows(os.path.join(cfg, "dst.db"), "manual") == 4


class RestartablePg:
    """A private PostgreSQL (tests/harness/servers.py) that can be stopped
    and started again on the same port and data directory, or frozen whole
    (postmaster and every backend) with SIGSTOP."""

    def __init__(self):
        import servers
        self.s = servers.Postgres()
        self.host, self.port = self.s.host, self.s.port
        self.user, self.password, self.dbname = self.s.user, self.s.password, self.s.dbname
        # the server's options as it was started (port, socket directory ...),
        # for starting it again the same way
        with open(os.path.join(self.s.data, "postmaster.opts")) as f:
            args = shlex.split(f.read())[1:]
        i = args.index("-D") if "-D" in args else -1
        if i >= 0:
            del args[i:i + 2]
        self.opts = " ".join(shlex.quote(a) for a in args)

    def _pids(self):
        with open(os.path.join(self.s.data, "postmaster.pid")) as f:
            pm = int(f.readline())
        out = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout
        return [pm] + [int(p) for p in out.split()]

    def freeze(self):
        self.frozen = self._pids()
        for p in self.frozen:
            os.kill(p, signal.SIGSTOP)

    def thaw(self):
        for p in getattr(self, "frozen", []):
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def stop(self):
        self.s._run([_pg_ctl(), "-D", self.s.data, "-m", "fast", "-w", "stop"])

    def start(self):
        import servers
        self.s._run([_pg_ctl(), "-D", self.s.data, "-o", self.opts, "-l",
                     os.path.join(self.s.dir, "pg.log"), "-w", "-t", "60", "start"])
        servers._wait_port(self.port)

    def close(self):
        self.thaw()
        self.s.stop()


def _pg_ctl():
    import servers
    return servers._pg_bin("pg_ctl")


@pytest.mark.parametrize("mode", ["restart", "stall"])
def test_pg_outage_under_scheduler_and_two_workers(tmp_path, mode, monkeypatch):
    pg = RestartablePg()
    cfg = str(tmp_path)
    env = pg_env(pg)
    url = pg_url(pg, "coord")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ws, s = [], None
    try:
        setup_pipelines(cfg, url, ["first"])
        ws = [Background(cfg, "worker", "--name", f"w{i}", "--claim-idle", "30", env=env)
              for i in range(2)]
        s = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "sch",
                       env=env)
        for w in ws:
            w.wait_for("started")
        wait_or_dump(lambda: succeeded(cfg, "first"), "the first job", s, *ws)
        if mode == "stall":
            pg.freeze()
            time.sleep(8)   # the fault itself: the server answers nothing for 8 s
            pg.thaw()
        else:
            pg.stop()
            for bg in (s, *ws):
                wait_or_dump(lambda bg=bg: bg.text().count("postgresql unreachable") >= 3 or
                             bg.proc.poll() is not None, "three backoff steps", bg)
            pg.start()
            for bg in (s, *ws):
                wait_or_dump(lambda bg=bg: "reachable again" in bg.text(), "resuming", bg,
                             timeout=90)
                assert_backoff_steps(bg.text(), "postgresql")
        add_pipeline(cfg, "later", 5, s, *ws)
        wait_or_dump(lambda: succeeded(cfg, "later"), "the later job", s, *ws)
        rcs = [(p.stop(), p.text()) for p in (s, *ws)]
        for rc, text in rcs:
            assert rc == 0, text
        once_per_slot(cfg, "later")
        assert count_rows(os.path.join(cfg, "dst.db"), "later") == 5
        assert pg.password not in "".join(t for _, t in rcs)
    finally:
        for p in (s, *ws):
            if p is not None:
                p.stop()
        pg.close()


def test_pg_give_up_after_exits_69(tmp_path):
    pg = RestartablePg()
    cfg = str(tmp_path)
    env = pg_env(pg)
    try:
        setup_pipelines(cfg, pg_url(pg, "coord"), ["quiet"])
        for text in give_up_exits_69(cfg, pg.stop, env=env):
            assert "postgresql" in text, text
    finally:
        pg.close()
