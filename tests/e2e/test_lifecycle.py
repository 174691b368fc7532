"""End-to-end: the lifecycle around a run (issue 11): interrupting `run`,
stopping schedulers and workers, lost attempts, Redis outages, clocks that
jump, frozen SQLite holders, secrets in messages.

Nothing here depends on how fast the machine copies rows. A run is held in
place by a PostgreSQL advisory lock the test holds: the source is a view
whose rows past a threshold call a gate function that waits for the lock
(`SELECT pg_advisory_lock_shared(K)`), so the run is provably "mid sync"
(some batches committed or the source query open) until the test lets go.
"""
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from conftest import BIN, run_synctool
from test_scheduler_helpers import wait_until
from test_sync_cli import pg_count, pg_ds, schema  # noqa: F401

GATE_KEY = 911011

COLUMNS = """columns:
  - {name: id, type: bigint, key: true}
  - {name: note, type: text}
"""


class PgHold:
    """A psql session holding the advisory lock `key` until release()."""

    def __init__(self, pg, key=GATE_KEY):
        env = dict(os.environ, PGPASSWORD=pg.password)
        self.p = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-h", pg.host, "-p", str(pg.port), "-U", pg.user,
             "-d", pg.dbname], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env)
        self.p.stdin.write(f"SELECT pg_advisory_lock({key});\n\\echo held\n")
        self.p.stdin.flush()
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if line.strip() == "held":
                return
            assert line, "psql ended before taking the advisory lock"
        raise AssertionError("advisory lock not taken")

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(30)


def gated_pipeline(tmp_path, pg, schema, n=3000, gate_after=1500, batch=100, state_url=None,
                   extra="", names=("p",), cron="0 2 * * *"):
    """Per name a PostgreSQL table NAME_src (n rows) behind a view NAME_v
    whose rows with id > gate_after wait for advisory lock GATE_KEY, and a
    pipeline NAME: NAME_v -> NAME_dst (PostgreSQL), strategy `full`.
    The gate's high COST makes the planner stream the source in key order
    (index scan) rather than sort it first, and the reader's first FETCH
    (1000 rows) stays below the gate, so batches commit before it."""
    pg.psql(
        f'CREATE FUNCTION "{schema}".gate(i bigint) RETURNS boolean LANGUAGE plpgsql '
        f'VOLATILE AS $$ BEGIN IF i > {gate_after} THEN '
        f'PERFORM pg_advisory_lock_shared({GATE_KEY}); '
        f'PERFORM pg_advisory_unlock_shared({GATE_KEY}); END IF; RETURN true; END $$ '
        f'COST 10000', dbname=pg.dbname)
    (tmp_path / "pipelines").mkdir(parents=True, exist_ok=True)
    ds = "datastores:\n" + pg_ds(pg, "shop") + pg_ds(pg, "wh")
    if state_url:
        ds += f'state: {{url: "{state_url}"}}\n'
    (tmp_path / "datastores.yaml").write_text(ds)
    for name in names:
        pg.psql(
            f'CREATE TABLE "{schema}".{name}_src (id bigint PRIMARY KEY, note text); '
            f'INSERT INTO "{schema}".{name}_src SELECT g, \'row \' || g '
            f'FROM generate_series(1, {n}) g; '
            f'CREATE VIEW "{schema}".{name}_v AS SELECT id, note FROM "{schema}".{name}_src '
            f'WHERE "{schema}".gate(id)', dbname=pg.dbname)
        (tmp_path / "pipelines" / f"{name}.yaml").write_text(
            f"name: {name}\nsource: {{datastore: shop, schema: {schema}, table: {name}_v}}\n"
            f"destination: {{datastore: wh, schema: {schema}, table: {name}_dst}}\n" + COLUMNS +
            "strategies:\n"
            f"  - {{name: full, type: full, batch_size: {batch}, cron: \"{cron}\"}}\n"
            "locks: {lease_ttl_seconds: 5}\n" + extra)
        r = run_synctool("ddl", "apply", name, config_dir=tmp_path)
        assert r.rc == 0, r


def gate_waiters(pg):
    return pg_count(pg, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        f"AND objid = {GATE_KEY} AND NOT granted")


def tables_equal(pg, schema, name="p"):
    src, dst = f'"{schema}".{name}_src', f'"{schema}".{name}_dst'
    return pg_count(pg, f'SELECT count(*) FROM ((SELECT id, note FROM {src} EXCEPT ALL '
                        f'TABLE {dst}) UNION ALL (TABLE {dst} EXCEPT ALL '
                        f'SELECT id, note FROM {src})) d') == 0


def history_json(cfg, pipeline="p"):
    r = run_synctool("history", pipeline, "--json", config_dir=cfg)
    assert r.rc == 0, r
    return json.loads(r.out)


def entries_of(doc):
    if isinstance(doc, dict):
        for k in ("runs", "history", "entries"):
            if k in doc:
                return doc[k]
    return doc


def start_run(cfg, *extra):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
    return subprocess.Popen([BIN, "--config-dir", str(cfg), "run", "--job-name", "p",
                             "--strategy", "full", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_to_run_stops_at_batch_boundary_and_records_interrupted(
        tmp_path, pg_server, schema, sig, code):
    gated_pipeline(tmp_path, pg_server, schema)
    hold = PgHold(pg_server)
    proc = start_run(tmp_path)
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                   timeout=120, what="the run waiting at the gate")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        time.sleep(0.2)
        hold.release()
        out, err = proc.communicate(timeout=120)
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    lines = [ln for ln in err.splitlines() if "interrupted by" in ln]
    assert len(lines) == 1 and name in lines[0] and "committed" in lines[0], err
    committed = pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst')
    print(lines[0])
    assert 0 < committed < 3000
    assert committed % 100 == 0  # whole batches only
    assert f"committed {committed} inserted" in lines[0], err
    # the locks are free at once: the next run neither waits nor skips
    locks = run_synctool("lock", "list", config_dir=tmp_path)
    assert "synctool:exec:pipeline:p" not in locks.out, locks
    runs = entries_of(history_json(tmp_path))
    assert runs[0]["status"] == "interrupted", runs
    assert runs[0].get("rows_inserted", runs[0].get("stats", {}).get("rows_inserted")) \
        == committed, runs[0]
    st = json.loads(run_synctool("status", "p", "--json", config_dir=tmp_path).out)
    assert "interrupted" in json.dumps(st), st
    r = run_synctool("run", "--job-name", "p", "--strategy", "full", "--no-wait-lock",
                     config_dir=tmp_path)
    assert r.rc == 0, r
    assert tables_equal(pg_server, schema)
    exported = json.loads(run_synctool("state", "export", config_dir=tmp_path).out)
    recs = exported if isinstance(exported, list) else exported.get("records", exported)
    assert [x["retry_count"] for x in recs if x["strategy"] == "full"] == [0], recs


def test_second_signal_exits_at_once(tmp_path, pg_server, schema):
    gated_pipeline(tmp_path, pg_server, schema)
    hold = PgHold(pg_server)
    proc = start_run(tmp_path)
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                   timeout=120, what="the run waiting at the gate")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert proc.poll() is None  # the first one waits for a batch boundary
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)  # the gate is still closed: only the second signal ends it
        assert proc.returncode == 143
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()


# --- Stopping the scheduler and the worker (item 3) ---

def scheduler_bg(cfg, *args):
    from test_scheduler_scenarios import Background
    return Background(str(cfg), "scheduler", *args)


def state_record(cfg, strategy="full"):
    exported = json.loads(run_synctool("state", "export", config_dir=cfg).out)
    recs = exported if isinstance(exported, list) else exported.get("records", exported)
    return [x for x in recs if x["strategy"] == strategy][0]


def test_sigterm_to_embedded_scheduler_interrupts_its_job_after_grace(tmp_path, pg_server,
                                                                       schema):
    """SIGTERM with a job in flight: the job gets --grace, is then
    interrupted (not killed), recorded `interrupted` with retry_count
    unchanged, the scheduler exits 0, and the next scheduler retries it
    inside its slot."""
    gated_pipeline(tmp_path, pg_server, schema)
    hold = PgHold(pg_server)
    bg = scheduler_bg(tmp_path, "--once", "--at", "2025-10-15T02:00:05Z", "--grace", "1")
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or bg.proc.poll() is not None,
                   timeout=120, what="the job waiting at the gate")
        assert bg.proc.poll() is None, bg.text()
        bg.proc.send_signal(signal.SIGTERM)
        bg.wait_for("grace period over: interrupting run")
        hold.release()
        bg.proc.wait(120)
    finally:
        hold.release()
        rc = bg.stop()
    assert rc == 0, bg.text()
    assert "ignored SIGTERM" not in bg.text()
    rec = state_record(tmp_path)
    assert rec["status"] == "interrupted" and rec["retry_count"] == 0, rec
    assert entries_of(history_json(tmp_path))[0]["status"] == "interrupted"
    # the next scheduler retries it inside its slot, after the skip backoff
    r = run_synctool("scheduler", "--once", "--at", "2025-10-15T02:05:06Z", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "Retrying skipped job within current slot" in r.err, r
    rec = state_record(tmp_path)
    assert rec["status"] == "success" and rec["retry_count"] == 0, rec
    assert tables_equal(pg_server, schema)


def test_terminal_ctrl_c_reaches_the_scheduler_not_its_jobs(tmp_path, pg_server, schema):
    """SIGINT to the scheduler's whole process group (what a terminal's
    Ctrl-C does): job processes are in their own group, so the job is not
    interrupted; the scheduler stops taking work and waits for it."""
    gated_pipeline(tmp_path, pg_server, schema)
    hold = PgHold(pg_server)
    bg = scheduler_bg(tmp_path, "--once", "--at", "2025-10-15T02:00:05Z", "--grace", "120")
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or bg.proc.poll() is not None,
                   timeout=120, what="the job waiting at the gate")
        assert bg.proc.poll() is None, bg.text()
        os.killpg(bg.proc.pid, signal.SIGINT)
        bg.wait_for("stopping; 1 running jobs")
        hold.release()
        bg.proc.wait(120)
    finally:
        hold.release()
        rc = bg.stop()
    assert rc == 0, bg.text()
    rec = state_record(tmp_path)
    assert rec["status"] == "success", (rec, bg.text())
    assert tables_equal(pg_server, schema)


def redis_db(redis_server, db):
    subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", str(db), "FLUSHDB"],
                   check=True, capture_output=True)
    return redis_server.url.rsplit("/", 1)[0] + f"/{db}"


def child_pids(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_worker_concurrency_respawns_a_killed_consumer(tmp_path, redis_server, pg_server,
                                                       schema):
    """worker --concurrency 2: a consumer killed with SIGKILL is logged
    (how it died) and respawned; the pool still runs jobs and stops with 0."""
    from test_scheduler_scenarios import Background
    url = redis_db(redis_server, 12)
    gated_pipeline(tmp_path, pg_server, schema, state_url=url)
    pool = Background(str(tmp_path), "worker", "--concurrency", "2", "--name", "pool",
                      "--claim-idle", "3")
    try:
        pool.wait_for("worker pool-1 started")
        pool.wait_for("worker pool-2 started")
        kids = child_pids(pool.proc.pid)
        assert len(kids) == 2, kids
        os.kill(kids[0], signal.SIGKILL)
        pool.wait_for("respawned")
        assert "killed by Killed" in pool.text(), pool.text()
        wait_until(lambda: pool.text().count("started (claims") == 3, what="the new consumer")
        assert len(child_pids(pool.proc.pid)) == 2
        r = run_synctool("scheduler", "--once", "--at", "2025-10-15T02:00:00Z",
                         config_dir=tmp_path)
        assert r.rc == 0 and "Enqueued run" in r.err, r
        wait_until(lambda: state_record(tmp_path)["status"] == "success", timeout=120,
                   what="the job to run")
    finally:
        rc = pool.stop(signal.SIGTERM)
    assert rc == 0, pool.text()
    assert tables_equal(pg_server, schema)
