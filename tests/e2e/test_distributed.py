"""Distributed mode end to end: Redis state, the Redis Stream job queue,
`synctool scheduler` ticking at fixed instants and several `synctool worker`
processes, against a real redis-server (fixture redis_server).

Each test uses its own Redis database number (flushed first), so the state,
the locks and the stream `synctool:jobs` are its own.
"""
import json
import os
import re
import signal
import sqlite3
import subprocess

from test_scheduler_helpers import (count_rows, export_state, history, iso, make_table,
                                    pipeline_yaml, state_of, wait_until, write_config)
from test_scheduler_scenarios import Background
from test_lifecycle import PgHold, gate_waiters, gated_pipeline, tables_equal
from test_sync_cli import schema  # noqa: F401
from http_helpers import Server
from conftest import BIN


def redis_db_url(redis_server, db):
    subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", str(db), "FLUSHDB"],
                   check=True, capture_output=True)
    base = redis_server.url.rsplit("/", 1)[0]
    return f"{base}/{db}"


def stream_len(redis_server, db):
    out = subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", str(db), "XLEN",
                          "synctool:jobs"], check=True, capture_output=True, text=True).stdout
    return int(out.strip() or 0)


def duplicate_stream(redis_server, db):
    """Appends a copy of every job in the stream (a double delivery)."""
    cli = ["redis-cli", "-p", str(redis_server.port), "-n", str(db)]
    out = subprocess.run(cli + ["--json", "XRANGE", "synctool:jobs", "-", "+"], check=True,
                         capture_output=True, text=True).stdout
    entries = json.loads(out)
    for _id, fields in entries:
        subprocess.run(cli + ["XADD", "synctool:jobs", "*", *fields], check=True,
                       capture_output=True)
    return len(entries)


def run_ticks_together(cfg, at, n=2):
    """n schedulers tick the same instant at once: exactly one may lead."""
    procs = [subprocess.Popen([BIN, "--config-dir", cfg, "scheduler", "--once", "--at", at],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    results = [(p.returncode, err) for p, err in zip(procs, errs)]
    for rc, err in results:
        assert rc in (0, 75), err
    return results


class ReadHold:
    """A read transaction on an SQLite file: a writer's COMMIT waits for it
    (synctool's busy timeout is 10 s), so a run stays `running` until
    release(), however fast the machine is. Never a big table instead."""

    def __init__(self, path):
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("BEGIN")
        self.con.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def release(self):
        if self.con is not None:
            self.con.execute("COMMIT")
            self.con.close()
            self.con = None


def test_twenty_pipelines_three_workers_every_slot_exactly_once(tmp_path, redis_server):
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 7)
    names = [f"pipe{i:02d}" for i in range(20)]
    write_config(cfg, {n: pipeline_yaml(n, "* * * * *", src_table=n, dst_table=n)
                       for n in names}, state_url=url)
    for i, n in enumerate(names):
        make_table(os.path.join(cfg, "src.db"), table=n, rows=i + 1)
        make_table(os.path.join(cfg, "dst.db"), table=n, rows=0)
    minutes = [f"2025-10-15T10:{m:02d}:00Z" for m in range(10)]
    workers = [Background(cfg, "worker", "--name", f"w{i}", "--claim-idle", "60")
               for i in range(3)]
    try:
        for w in workers:
            w.wait_for("started")
        for at in minutes:
            duplicate = at == minutes[5]
            if duplicate:   # hold the workers so every job can be delivered twice
                for w in workers:
                    w.proc.send_signal(signal.SIGSTOP)
            results = run_ticks_together(cfg, at)
            enqueued = sum(err.count("Enqueued run") for _, err in results)
            assert enqueued == 20, results
            if duplicate:
                assert duplicate_stream(redis_server, 7) == 20
                for w in workers:
                    w.proc.send_signal(signal.SIGCONT)

            def drained():
                if stream_len(redis_server, 7) != 0:
                    return False
                recs = [r for r in export_state(cfg) if r["pipeline"] in names]
                return len(recs) == 20 and all(
                    r["status"] == "success" and iso(r["last_run_at"]) == at for r in recs)
            wait_until(drained, timeout=180, interval=0.3, what=f"the {at} jobs to finish")
    finally:
        for w in workers:
            assert w.stop() == 0, w.text()
    logs = "".join(w.text() for w in workers)
    assert logs.count("succeeded") == 200, logs
    dropped = logs.count(" not run: ") + logs.count(" not recorded: another delivery")
    assert dropped == 20, logs
    for n in names:
        hist = history(cfg, n, limit=50)
        assert [h["status"] for h in hist] == ["success"] * 10, [(h["status"], h["error"], h["message"], h.get("worker")) for h in hist]
        starts = sorted(iso(h["started_at"]) for h in hist)
        assert starts == minutes, (n, starts)
        assert len({h["run_id"] for h in hist}) == 10
    for i, n in enumerate(names):
        assert count_rows(os.path.join(cfg, "dst.db"), n) == i + 1


def test_killed_worker_job_is_claimed_and_finished_by_another(tmp_path, redis_server,
                                                              pg_server, schema):
    """The run is held mid-sync by the PostgreSQL gate (test_lifecycle), so
    it is provably running when its worker is SIGKILLed, however fast the
    machine: another worker claims the job and finishes it."""
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 8)
    gated_pipeline(tmp_path, pg_server, schema, state_url=url)
    hold = PgHold(pg_server)
    a = Background(cfg, "worker", "--name", "doomed", "--claim-idle", "5")
    b = None
    try:
        a.wait_for("started")
        r = subprocess.run([BIN, "--config-dir", cfg, "scheduler", "--once", "--at",
                            "2025-10-15T02:00:00Z"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and "Enqueued run" in r.stderr, r.stderr
        wait_until(lambda: gate_waiters(pg_server) > 0, timeout=120, what="the run at the gate")
        st = state_of(cfg, "p", "full")
        assert st["status"] == "running" and st["worker"] == "doomed", st
        # the worker's run publishes its figures in the Redis state: the API shows them
        with Server(cfg) as srv:
            def progress():
                s0 = srv.json("GET", "/api/v1/pipelines/p",
                              template="/api/v1/pipelines/{name}")["strategies"][0]
                return s0 if s0["progress"] and s0["progress"]["rows_read"] > 0 else None
            s0 = wait_until(progress, what="the running run's figures")
            assert s0["progress"]["run_id"] == s0["run_id"] == st["run_id"], s0
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        hold.release()
        b = Background(cfg, "worker", "--name", "rescuer", "--claim-idle", "5")
        wait_until(lambda: state_of(cfg, "p", "full")["status"]
                   in ("success", "failed", "skipped"), timeout=240, interval=0.3,
                   what="the claimed job to finish")
        st = state_of(cfg, "p", "full")
        assert st["status"] == "success", (st, b.text())
        assert st["worker"] == "rescuer"
        assert iso(st["last_run_at"]) == "2025-10-15T02:00:00Z"
        assert "claimed run" in b.text(), b.text()
        # acknowledged right after the result is recorded
        wait_until(lambda: stream_len(redis_server, 8) == 0, what="the job's ack")
    finally:
        hold.release()
        a.stop()
        if b is not None:
            assert b.stop() == 0, b.text()
    assert tables_equal(pg_server, schema)
    hist = history(cfg, "p")
    assert [h["status"] for h in hist].count("success") == 1, hist


def test_worker_pool_concurrency_reload_and_stop(tmp_path, redis_server):
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 9)
    names = [f"pool{i}" for i in range(6)]
    write_config(cfg, {n: pipeline_yaml(n, "* * * * *", src_table=n, dst_table=n)
                       for n in names}, state_url=url)
    for n in names:
        make_table(os.path.join(cfg, "src.db"), table=n, rows=4)
        make_table(os.path.join(cfg, "dst.db"), table=n, rows=0)
    pool = Background(cfg, "worker", "--concurrency", "3", "--name", "pool")
    try:
        for i in (1, 2, 3):
            pool.wait_for(f"worker pool-{i} started")
        r = subprocess.run([BIN, "--config-dir", cfg, "scheduler", "--once", "--at",
                            "2025-10-15T10:00:00Z"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and r.stderr.count("Enqueued run") == 6, r.stderr

        def all_done():
            recs = [x for x in export_state(cfg) if x["pipeline"] in names]
            return len(recs) == 6 and all(x["status"] == "success" for x in recs)
        wait_until(all_done, timeout=180, interval=0.3, what="the pool to run six jobs")
        workers = {x["worker"] for x in export_state(cfg) if x["pipeline"] in names}
        assert workers <= {"pool-1", "pool-2", "pool-3"}, workers

        with open(os.path.join(cfg, "pipelines", "bad.yaml"), "w") as f:
            f.write(pipeline_yaml("bad", "not a cron"))
        pool.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: pool.text().count("config reload failed; keeping the previous "
                                             "config") == 3, timeout=60,
                   what="every consumer to refuse the bad config")
        assert re.search(r"reload: (\S*/)?pipelines/bad\.yaml:\d+:\d+: ", pool.text()), \
            pool.text()
    finally:
        rc = pool.stop(signal.SIGTERM, timeout=60)
    assert rc == 0, pool.text()
    for i in (1, 2, 3):
        assert f"worker pool-{i} stopped" in pool.text()
    for n in names:
        assert count_rows(os.path.join(cfg, "dst.db"), n) == 4


def test_redis_leader_lease_standby_takes_over(tmp_path, redis_server):
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 6)
    write_config(cfg, {"quiet": pipeline_yaml("quiet", "0 0 1 1 *")}, state_url=url)
    a = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "red-a")
    b = None
    try:
        a.wait_for("leader: red-a holds the scheduler lease")
        assert "distributed mode" in a.text()
        b = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "red-b")
        b.wait_for("standby: leader is red-a")
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        b.wait_for("leader: red-b holds the scheduler lease", timeout=60)
    finally:
        a.stop()
        if b is not None:
            assert b.stop() == 0, b.text()


def count_heartbeats(redis_server, db):
    """A generator: each next() reads the idle time of the one pending job
    (XPENDING) and yields how many times it has dropped so far, i.e. how
    many heartbeats (XCLAIM ... JUSTID by the running worker) were seen."""
    beats, last = 0, None
    while True:
        out = subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", str(db),
                              "XPENDING", "synctool:jobs", "synctool-workers", "-", "+", "1"],
                             capture_output=True, text=True).stdout.split()
        idle = int(out[2]) if len(out) >= 4 else None
        if idle is not None and last is not None and idle < last:
            beats += 1
        last = idle if idle is not None else last
        yield beats


def test_long_job_of_a_live_worker_is_not_claimed(tmp_path, redis_server, pg_server, schema):
    """The running worker heartbeats its job, so another worker with a claim
    timeout far shorter than the job never takes it. The job is held at the
    PostgreSQL gate for three claim timeouts (not "a table big enough")."""
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 10)
    gated_pipeline(tmp_path, pg_server, schema, state_url=url)
    hold = PgHold(pg_server)
    a = Background(cfg, "worker", "--name", "steady", "--claim-idle", "3")
    b = None
    try:
        a.wait_for("started")
        r = subprocess.run([BIN, "--config-dir", cfg, "scheduler", "--once", "--at",
                            "2025-10-15T02:00:00Z"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and "Enqueued run" in r.stderr, r.stderr
        wait_until(lambda: gate_waiters(pg_server) > 0, timeout=120, what="the run at the gate")
        b = Background(cfg, "worker", "--name", "eager", "--claim-idle", "3")
        b.wait_for("started")
        # the run is held while three claim timeouts' worth of heartbeats
        # (one every claim-idle/3) reset its idle time: counted, not timed
        beats = count_heartbeats(redis_server, 10)
        wait_until(lambda: next(beats) >= 9, timeout=300, interval=0.2,
                   what="nine heartbeats of the held job")
        assert state_of(cfg, "p", "full")["status"] == "running"
        hold.release()
        wait_until(lambda: state_of(cfg, "p", "full")["status"] != "running",
                   timeout=300, interval=0.3, what="the long run to finish")
        st = state_of(cfg, "p", "full")
        assert st["status"] == "success" and st["worker"] == "steady", st
        assert "claimed run" not in b.text(), b.text()
    finally:
        hold.release()
        a.stop()
        if b is not None:
            assert b.stop() == 0, b.text()
    assert [h["status"] for h in history(cfg, "p")] == ["success"]


def test_redis_outage_is_logged_and_processes_still_stop_cleanly(tmp_path):
    """A private redis-server goes away under a worker and a scheduler: both
    log what failed (never the URL's password), keep trying, and exit 0 on
    SIGTERM."""
    import servers
    red = servers.Redis()
    cfg = str(tmp_path)
    try:
        write_config(cfg, {"quiet": pipeline_yaml("quiet", "0 0 1 1 *")},
                     state_url=red.url.replace("redis://", "redis://:sekrit-pw@"))
        subprocess.run(["redis-cli", "-p", str(red.port), "CONFIG", "SET", "requirepass",
                        "sekrit-pw"], check=True, capture_output=True)
        w = Background(cfg, "worker", "--name", "orphan")
        s = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "lonely")
        try:
            w.wait_for("worker orphan started")
            s.wait_for("leader: lonely holds the scheduler lease")
            red.stop()
            w.wait_for("redis unreachable")
            s.wait_for("lost the scheduler lease")
        finally:
            assert w.stop() == 0, w.text()
            assert s.stop() == 0, s.text()
        assert "sekrit-pw" not in w.text() + s.text()
    finally:
        red.stop()


def test_unreachable_redis_state_fails_without_leaking_the_password(tmp_path):
    cfg = str(tmp_path)
    write_config(cfg, {"quiet": pipeline_yaml("quiet", "0 0 1 1 *")},
                 state_url="redis://:hush-hush@127.0.0.1:1/0")
    # an unreachable Redis at startup is waited for (issue 20): with
    # --give-up-after the process exits 69, naming the server in its warnings
    for args in (["scheduler", "--once"], ["worker"]):
        r = subprocess.run([BIN, "--config-dir", cfg, *args, "--give-up-after", "1"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 69, r.stderr
        assert "cannot open state" in r.stderr and "127.0.0.1:1" in r.stderr, r.stderr
        assert "hush-hush" not in r.stderr + r.stdout


def test_one_worker_runs_forty_due_jobs_each_exactly_once(tmp_path, redis_server):
    """One tick makes forty pipelines due; one worker drains them back to
    back (issue 25: the job's end wakes the signal watcher, so jobs follow
    each other at once): each ran once, its history holds one success, the
    stream is empty and the worker stops cleanly."""
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 6)
    names = [f"q{i:02d}" for i in range(40)]
    write_config(cfg, {n: pipeline_yaml(n, "* * * * *", src_table=n, dst_table=n)
                       for n in names}, state_url=url)
    for n in names:
        make_table(os.path.join(cfg, "src.db"), table=n, rows=3)
        make_table(os.path.join(cfg, "dst.db"), table=n, rows=0)
    w = Background(cfg, "worker", "--name", "solo")
    try:
        w.wait_for("worker solo started")
        r = subprocess.run([BIN, "--config-dir", cfg, "scheduler", "--once", "--at",
                            "2025-10-15T10:00:00Z"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and r.stderr.count("Enqueued run") == 40, r.stderr
        wait_until(lambda: w.text().count(" succeeded: ") >= 40 and
                   stream_len(redis_server, 6) == 0, timeout=300, interval=0.2,
                   what="forty jobs run and acknowledged")
    finally:
        assert w.stop() == 0, w.text()
    assert w.text().count(" succeeded: ") == 40, w.text()
    for n in names:
        assert [h["status"] for h in history(cfg, n)] == ["success"], n
        assert count_rows(os.path.join(cfg, "dst.db"), n) == 3


def test_worker_sigterm_during_a_job_gives_grace_and_a_second_interrupts_it(
        tmp_path, redis_server, pg_server, schema):
    """The watcher reads signals while a job runs (a signalfd, issue 25):
    the first SIGTERM gives the job in hand --grace (the worker says so at
    once, with the job still held at the PostgreSQL gate), the second
    interrupts it at once: recorded `interrupted`, acknowledged, exit 0."""
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 5)
    gated_pipeline(tmp_path, pg_server, schema, state_url=url)
    hold = PgHold(pg_server)
    w = Background(cfg, "worker", "--name", "held", "--grace", "600")
    try:
        w.wait_for("worker held started")
        r = subprocess.run([BIN, "--config-dir", cfg, "scheduler", "--once", "--at",
                            "2025-10-15T02:00:00Z"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and "Enqueued run" in r.stderr, r.stderr
        wait_until(lambda: gate_waiters(pg_server) > 0, timeout=120, what="the run at the gate")
        w.proc.send_signal(signal.SIGTERM)
        w.wait_for("s to finish", timeout=120)
        assert "worker held stopping; run" in w.text(), w.text()
        assert state_of(cfg, "p", "full")["status"] == "running"
        w.proc.send_signal(signal.SIGTERM)
        w.wait_for("interrupting run", timeout=120)
        assert w.proc.wait(timeout=120) == 0, w.text()
    finally:
        hold.release()
        w.stop()
    assert state_of(cfg, "p", "full")["status"] == "interrupted"
    assert [h["status"] for h in history(cfg, "p")] == ["interrupted"]
    assert stream_len(redis_server, 5) == 0
