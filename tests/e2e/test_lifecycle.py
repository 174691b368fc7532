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
from pairs import pg_tables_equal
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
                   extra="", names=("p",), cron="0 2 * * *", native=False):
    """Per name a PostgreSQL table NAME_src (n rows) behind a view NAME_v
    whose rows with id > gate_after wait for advisory lock GATE_KEY, and a
    pipeline NAME: NAME_v -> NAME_dst (PostgreSQL), strategy `full`.
    The gate's high COST makes the planner stream the source in key order
    (index scan) rather than sort it first, and the reader's first FETCH
    (1000 rows) stays below the gate, so batches commit before it.
    The view's note is varchar (the config and destination say text), so a
    full into the empty destination reads that cursor, whose FETCHes end
    flushed. With `native` it is text: the full takes the binary COPY path
    (sync_full_copy.c), whose one COPY the server streams ahead of the run
    and buffers, so at the gate the run may still be committing batches, or
    not yet have committed one: wait for rows in the destination too."""
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
            f'CREATE VIEW "{schema}".{name}_v AS SELECT id, '
            f'note{"" if native else "::varchar AS note"} FROM "{schema}".{name}_src '
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
    return pg_tables_equal(pg, f'"{schema}".{name}_src', f'"{schema}".{name}_dst', "id, note")


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


def test_signal_ends_a_run_waiting_on_its_source_read(tmp_path, pg_server, schema):
    """Issue 20: an interrupt is honoured within one network read, whatever
    the source's pace: a run whose source read waits at the gate stops on
    the first SIGTERM (the read is cancelled on the server, the batch in
    progress rolled back) while the gate is still closed. (Before, the first
    signal waited for a batch boundary and only a second one ended it.)"""
    gated_pipeline(tmp_path, pg_server, schema)
    hold = PgHold(pg_server)
    proc = start_run(tmp_path)
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                   timeout=120, what="the run waiting at the gate")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)  # the gate is still closed
        assert proc.returncode == 143, err
        assert "interrupted by SIGTERM" in err, err
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()


# --- Stopping the scheduler and the worker (item 3) ---

def scheduler_bg(cfg, *args):
    from test_scheduler_scenarios import Background
    return Background(str(cfg), "scheduler", *args)


def bg_command(cfg, *args):
    """Any synctool command in the background, its log in a file to wait on."""
    from test_scheduler_scenarios import Background
    return Background(str(cfg), *args)


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


# --- Secrets (item 7) ---

@pytest.mark.parametrize("engine,key", [("postgres", "port"), ("postgres", "sslmode"),
                                        ("mysql", "port"), ("mysql", "ssl_mode")])
def test_secret_from_env_in_a_wrong_key_is_never_printed(tmp_path, engine, key):
    """A password put by mistake (through ${VAR}) in port or sslmode/ssl_mode:
    the message names the key and says (value hidden), never the value."""
    secret = "Pw-" + uuid.uuid4().hex[:12]
    ssl_key, ssl_ok = ("sslmode", "prefer") if engine == "postgres" else ("ssl_mode", "preferred")
    conn = {"host": "127.0.0.1", "port": "5432", "user": "u", "password": "x",
            "dbname": "d", ssl_key: ssl_ok}

    def write(conn):
        body = ", ".join(f'{k}: "{v}"' for k, v in conn.items())
        (tmp_path / "datastores.yaml").write_text(
            "datastores:\n"
            f"  src: {{type: {engine}, connection: {{{body}}}}}\n"
            "  lite: {type: sqlite, path: l.db}\n")

    conn[key] = "${SYNCTOOL_TEST_SECRET}"
    write(conn)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "name: p\nsource: {datastore: src, table: t}\ndestination: {datastore: lite, table: t}\n"
        + COLUMNS + "strategies:\n  - {name: full, type: full}\n")
    env = {"SYNCTOOL_TEST_SECRET": secret}
    for args in (["validate"], ["run", "--job-name", "p"], ["status"], ["list"]):
        r = run_synctool(*args, config_dir=tmp_path, env=env)
        assert r.rc == 2, (args, r)
        assert secret not in r.out + r.err, (args, r)
        assert f"connection.{key}" in r.err and "(value hidden)" in r.err, (args, r)
    # without ${...} the value is shown (it is not from the environment)
    conn[key] = "bogus"
    write(conn)
    r = run_synctool("validate", config_dir=tmp_path)
    assert r.rc == 2 and '"bogus"' in r.err, r


# --- Time that jumps ahead (item 5) ---

def sqlite_pipeline(cfg, cron="* * * * *", name="t"):
    from test_scheduler_helpers import make_table, pipeline_yaml, write_config
    write_config(str(cfg), {name: pipeline_yaml(name, cron)})
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)


def test_tick_at_a_future_time_does_not_block_the_real_time(tmp_path):
    """One tick with --at a year ahead (a clock that was ahead) records
    instants in the future; the next tick at the real time does not trust
    them (a warning names the fields) and runs instead of waiting a year."""
    sqlite_pipeline(tmp_path)
    r = run_synctool("scheduler", "--once", "--at", "2099-06-01T10:00:00Z", config_dir=tmp_path)
    assert r.rc == 0 and "succeeded" in r.err, r
    assert state_record(tmp_path, "full_job")["last_run_at"].startswith("2099-06-01")
    r = run_synctool("scheduler", "--once", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "state in the future of now, treated as unknown: last_run=2099-06-01T10:00:00Z" \
        in r.err, r
    assert "Already ran at 2099" not in r.err, r
    assert "succeeded" in r.err, r
    assert not state_record(tmp_path, "full_job")["last_run_at"].startswith("2099"), r


def test_state_import_refuses_future_instants_unless_allowed(tmp_path):
    sqlite_pipeline(tmp_path)
    doc = [{"pipeline": "t", "strategy": "full_job", "status": "success",
            "last_run": "2099-01-01T00:00:00Z", "last_scheduled_at": None,
            "last_attempted_at": None, "retry_count": 0, "run_id": 1}]
    f = tmp_path / "state.json"
    f.write_text(json.dumps(doc))
    r = run_synctool("state", "import", str(f), config_dir=tmp_path)
    assert r.rc == 2, r
    assert "last_run: 2099-01-01T00:00:00Z is in the future" in r.err and \
        "--allow-future" in r.err, r
    assert "nothing imported" in r.err
    r = run_synctool("state", "import", "--allow-future", str(f), config_dir=tmp_path)
    assert r.rc == 0, r
    assert state_record(tmp_path, "full_job")["last_run_at"].startswith("2099")


# --- SQLite destination held by a frozen run (item 6) ---

def test_frozen_sqlite_destination_holder_makes_the_run_skip_not_fail(tmp_path):
    """Another process holds a write transaction on the SQLite destination
    (what a frozen run does): the newer run is skipped (destination_locked),
    retry_count stays 0, the strategy is not paused, and it is retried
    inside its slot once the holder is gone."""
    sqlite_pipeline(tmp_path, cron="0 * * * *")
    holder = sqlite3.connect(os.path.join(tmp_path, "dst.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO items VALUES (1000, 'frozen')")
    try:
        r = run_synctool("scheduler", "--once", "--at", "2025-10-15T10:00:00Z",
                         config_dir=tmp_path)
        assert r.rc == 75, r  # --once: its only run was skipped
        assert "Destination locked by another writer" in r.err, r
        rec = state_record(tmp_path, "full_job")
        assert rec["status"] == "skipped" and rec["retry_count"] == 0, rec
        r = run_synctool("run", "--job-name", "t", config_dir=tmp_path)
        assert r.rc == 75 and "locked by another writer" in r.err, r
        assert state_record(tmp_path, "full_job")["retry_count"] == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    r = run_synctool("scheduler", "--once", "--at", "2025-10-15T10:06:00Z", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "Retrying skipped job within current slot" in r.err and "succeeded" in r.err, r
    rec = state_record(tmp_path, "full_job")
    assert rec["status"] == "success" and rec["retry_count"] == 0, rec


# --- Two schedulers: the leader frozen past its lease ---

def test_frozen_leader_steps_down_and_no_slot_runs_twice(tmp_path, redis_server):
    """Two schedulers on one Redis: the leader is SIGSTOPped past its lease,
    the standby takes over within one lease, and the old leader, woken,
    finds its lease gone and stands by instead of ticking."""
    from test_scheduler_helpers import history, make_table, pipeline_yaml, write_config
    from test_scheduler_scenarios import Background
    cfg = str(tmp_path)
    url = redis_db(redis_server, 13)
    write_config(cfg, {"m": pipeline_yaml("m", "* * * * *")}, state_url=url)
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)
    w = Background(cfg, "worker", "--name", "w")
    a = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "red-a")
    b = None
    try:
        a.wait_for("leader: red-a holds the scheduler lease")
        b = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "red-b")
        b.wait_for("standby: leader is red-a")
        a.proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        b.wait_for("leader: red-b holds the scheduler lease", timeout=60)
        # within one lease (3 s) plus its 1 s retry; generous for a loaded machine
        assert time.monotonic() - t0 < 10, "the standby did not take over within a lease"
        time.sleep(1)
        a.proc.send_signal(signal.SIGCONT)
        a.wait_for("lost the scheduler lease")
        a.wait_for("standby: leader is red-b")
        time.sleep(2)
    finally:
        for p in (a, b, w):
            if p is not None:
                if p.proc.poll() is None:
                    p.proc.send_signal(signal.SIGCONT)
                assert p.stop() == 0, p.text()
    after = a.text().split("lost the scheduler lease", 1)[1]
    assert "Enqueued run" not in after, a.text()  # the woken leader never ticked again
    slots = [h["started_at"][:16] for h in history(cfg, "m")]  # the cron is every minute
    assert len(slots) == len(set(slots)), slots  # no slot twice


# --- More of item 5: leases are judged by the lock store's clock ---

def skewed(offset, cfg, *args):
    """synctool ARGS under faketime with the local clock OFFSET ("+1h")."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:verify_asan_link_order=0")
    p = subprocess.run(["faketime", "-f", offset, BIN, "--config-dir", str(cfg), *args],
                       capture_output=True, text=True, env=env, timeout=120)
    return p


def test_redis_leases_are_judged_by_the_redis_clock(tmp_path, redis_server, pg_server, schema):
    """A live run holds its lease in Redis; `status` and `scheduler --once`
    with the local clock an hour ahead or behind still see it running (the
    lease is the key's PTTL / Redis TIME, not the local clock), record
    nothing lost, and `lock list` shows the lease's real time left. Once the holder is SIGKILLed and its key expires on Redis,
    a process whose clock is an hour behind records it lost."""
    url = redis_db(redis_server, 11)
    gated_pipeline(tmp_path, pg_server, schema, state_url=url)
    hold = PgHold(pg_server)
    proc = start_run(tmp_path)
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                   timeout=120, what="the run at the gate")
        assert proc.poll() is None, proc.communicate()
        for offset in ("+1h", "-1h"):
            r = skewed(offset, tmp_path, "status", "p", "--json")
            assert r.returncode == 0, r
            assert json.loads(r.stdout)[0]["status"] == "running", r.stdout
            r = skewed(offset, tmp_path, "scheduler", "--once")
            assert r.returncode in (0, 75), r
            assert "recorded lost" not in r.stderr, r.stderr
            assert state_record(tmp_path)["status"] == "running"
            r = skewed(offset, tmp_path, "lock", "list", "--json")   # time left, Redis's
            held = [x for x in json.loads(r.stdout) if x["key"] == "synctool:exec:pipeline:p"]
            assert len(held) == 1 and 0 < held[0]["expires_in_s"] <= 5, r.stdout
        assert entries_of(history_json(tmp_path)) == []
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        hold.release()
    # the lease (5 s) lapses on Redis: a clock an hour behind does not hide it
    port = str(redis_server.port)
    wait_until(lambda: subprocess.run(
        ["redis-cli", "-p", port, "-n", "11", "EXISTS", "synctool:exec:pipeline:p"],
        capture_output=True, text=True).stdout.strip() == "0", timeout=60,
        what="the dead run's lease to expire on Redis")
    r = skewed("-1h", tmp_path, "status", "p", "--json")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)[0]["status"] == "lost", r.stdout
    assert [x["status"] for x in entries_of(history_json(tmp_path))] == ["lost"]


# --- More of item 3: the single worker's grace, and a pool that cannot stay up ---

def test_sigterm_to_worker_interrupts_its_job_after_grace(tmp_path, redis_server, pg_server,
                                                          schema):
    from test_scheduler_scenarios import Background
    url = redis_db(redis_server, 14)
    gated_pipeline(tmp_path, pg_server, schema, state_url=url)
    hold = PgHold(pg_server)
    w = Background(str(tmp_path), "worker", "--name", "w", "--grace", "1")
    try:
        w.wait_for("worker w started")
        r = run_synctool("scheduler", "--once", "--at", "2025-10-15T02:00:05Z",
                         config_dir=tmp_path)
        assert r.rc == 0 and "Enqueued run" in r.err, r
        wait_until(lambda: gate_waiters(pg_server) > 0, timeout=120, what="the job at the gate")
        w.proc.send_signal(signal.SIGTERM)
        w.wait_for("grace period over: interrupting run")
        hold.release()
        w.proc.wait(120)
    finally:
        hold.release()
        rc = w.stop()
    assert rc == 0, w.text()
    rec = state_record(tmp_path)
    assert rec["status"] == "interrupted" and rec["retry_count"] == 0, (rec, w.text())


def test_worker_pool_that_cannot_keep_its_consumers_alive_exits_1(tmp_path, redis_server):
    """Every consumer dies at once (Redis refuses its password: a config
    error, not an outage to wait out): each is respawned with a growing
    backoff, and after 5 quick deaths in a row the pool says it cannot keep
    K alive and exits 1 (not 0)."""
    from test_scheduler_helpers import pipeline_yaml, write_config
    write_config(str(tmp_path), {"q": pipeline_yaml("q", "0 0 1 1 *")},
                 state_url=f"redis://:wrong-password@127.0.0.1:{redis_server.port}/0")
    r = run_synctool("worker", "--concurrency", "2", "--name", "pool", config_dir=tmp_path,
                     timeout=180)
    assert r.rc == 1, r
    assert "respawning in" in r.err and "cannot keep 2 consumers alive" in r.err, r


# --- More of item 4: status and the next run see a lost run ---

def test_killed_run_is_recorded_lost_by_status_and_the_next_run(tmp_path, pg_server, schema):
    gated_pipeline(tmp_path, pg_server, schema)
    hold = PgHold(pg_server)
    proc = start_run(tmp_path)
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                   timeout=120, what="the run at the gate")
        assert state_record(tmp_path)["status"] == "running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        hold.release()
    # the lease (5 s) lapses; until then status may say running, never after
    wait_until(lambda: "synctool:exec:pipeline:p" not in
               run_synctool("lock", "list", config_dir=tmp_path).out, timeout=60,
               what="the dead run's lease to lapse")
    r = run_synctool("status", "p", "--json", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "running" not in json.dumps(json.loads(r.out)), r.out
    assert state_record(tmp_path)["status"] == "lost"
    runs = entries_of(history_json(tmp_path))
    assert [x["status"] for x in runs] == ["lost"], runs
    # a second kill, found by the next run instead
    hold = PgHold(pg_server)
    proc = start_run(tmp_path)
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                   timeout=120, what="the run at the gate")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        hold.release()
    r = run_synctool("run", "--job-name", "p", "--strategy", "full", "--lock-timeout", "30",
                     config_dir=tmp_path)
    assert r.rc == 0, r
    assert "recorded lost" in r.err, r
    runs = entries_of(history_json(tmp_path))
    assert [x["status"] for x in runs][:2] == ["success", "lost"], runs
    assert tables_equal(pg_server, schema)


def test_signal_to_run_waiting_for_a_lock_stops_waiting(tmp_path):
    """SIGTERM while `run` waits (--lock-timeout 300) for a pipeline lock
    someone else holds: it stops waiting at once, exit 143, and records
    nothing over the holder's state."""
    from test_scheduler_helpers import LockHolder
    sqlite_pipeline(tmp_path)
    with LockHolder(str(tmp_path), "--pipeline", "t", key="synctool:exec:pipeline:t"):
        bg = bg_command(tmp_path, "--log-level", "debug", "run", "--job-name", "t",
                        "--lock-timeout", "300")
        # Its own log line, not a sleep, says it is waiting for the lock
        # (held for 600 s).
        bg.wait_for("waiting up to 300s for it")
        assert bg.proc.poll() is None
        rc = bg.stop(signal.SIGTERM, timeout=30)  # not 300 s
        err = bg.text()
        assert rc == 143, err
        assert "interrupted by SIGTERM" in err, err
