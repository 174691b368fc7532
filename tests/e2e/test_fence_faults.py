"""End-to-end: fencing under real faults (issue 20, item 3; DESIGN §4).

- A run frozen (SIGSTOP) in the middle of a batch keeps its destination
  transaction and row locks; when the lock store then loses its data (Redis
  flushed: counters back at 1), the next run raises its fencing token above
  the destination's, ends the frozen run's session (PostgreSQL: found by
  application_name, pg_terminate_backend, even mid binary COPY; MySQL: found
  by its user-level lock, KILL) and succeeds; the frozen run, resumed, writes
  nothing and does not succeed.
- On SQLite the newer run cannot end the frozen holder (a file lock of
  another process): it is skipped naming it, and the frozen holder, resumed
  after its lease was taken over, re-checks the lease right before COMMIT
  and rolls back.
- Fencing tokens at a destination never go backwards, whatever happens to
  the lock store.
- 4 pipelines' first runs into a database without synctool_fence, started
  together: no run fails creating it.

Runs are held by a PostgreSQL advisory lock (test_lifecycle's gate), never by
timing; waits are on states (gate waiters, committed rows, lock list, log
lines), never fixed sleeps.
"""
import json
import os
import signal
import sqlite3
import subprocess
import uuid

import pytest

from conftest import BIN, run_synctool
from test_lifecycle import GATE_KEY, PgHold, gate_waiters, gated_pipeline, tables_equal
from test_scheduler_helpers import wait_until
from test_mysql import my_ds, mydb  # noqa: F401
from test_sync_cli import pg_count, pg_ds, schema, write_config  # noqa: F401

ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")


def _run(cfg, *args, timeout=300):
    return subprocess.run([BIN, "--config-dir", str(cfg), *args], env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def _start(cfg, log):
    return subprocess.Popen([BIN, "--config-dir", str(cfg), "--log-level", "debug", "run",
                             "--job-name", "p", "--strategy", "full"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"), text=True)


def _flushdb(redis_server, db):
    subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", str(db), "FLUSHDB"],
                   check=True, capture_output=True)


def _redis_url(redis_server, db):
    _flushdb(redis_server, db)
    return redis_server.url.rsplit("/", 1)[0] + f"/{db}"


def _resume_and_wait(proc):
    proc.send_signal(signal.SIGCONT)
    return proc.wait(timeout=300)


def _cleanup(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


def _frozen_pg_session(pg, dst):
    """The application_name of the session COPYing into dst, once rows of
    its open transaction are in the table's file (not yet committed)."""
    if pg_count(pg, f"SELECT pg_relation_size('{dst}')") == 0:
        return None
    out = pg.psql("SELECT application_name FROM pg_stat_activity WHERE application_name "
                  "LIKE 'synctool:%' AND query LIKE 'COPY%FROM STDIN%'", dbname=pg.dbname)
    return out.strip() or None


def test_frozen_binary_copy_holder_after_redis_data_loss(tmp_path, pg_server, redis_server,
                                                         schema):
    """PostgreSQL -> PostgreSQL, full into empty by binary COPY: frozen in its
    first batch with rows written (uncommitted), Redis flushed (token counters
    back at 1). The next run, also into the (still empty) destination, ends
    the frozen session and succeeds; on the unfixed code its COPY waited for
    the frozen rows and failed `COPY: canceling statement due to lock
    timeout`, run after run. Resumed, the frozen run writes nothing and does
    not succeed."""
    n = 3000
    url = _redis_url(redis_server, 4)
    gated_pipeline(tmp_path, pg_server, schema, n=n, batch=10000, native=True, state_url=url)
    dst = f'"{schema}".p_dst'
    hold = PgHold(pg_server)
    log = tmp_path / "frozen.log"
    frozen = _start(tmp_path, log)
    try:
        tag = wait_until(lambda: (gate_waiters(pg_server) > 0 and
                                  _frozen_pg_session(pg_server, dst))
                         or frozen.poll() is not None, timeout=120,
                         what="the first run at the gate with rows written, uncommitted")
        assert frozen.poll() is None, log.read_text()
        assert "full into empty: binary copy" in log.read_text()
        frozen.send_signal(signal.SIGSTOP)
        frozen_token = int(tag.split(":")[2])
        _flushdb(redis_server, 4)          # the lock store loses its data
        hold.release()
        second = _run(tmp_path, "run", "--job-name", "p", "--strategy", "full")
        assert second.returncode == 0, second.stderr
        assert "ended 1 destination session" in second.stderr, second.stderr
        assert pg_server.psql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name "
                              f"= '{tag}'", dbname=pg_server.dbname).strip() == "0"
        assert tables_equal(pg_server, schema)
        # the source moves on; a stale writer would bring the deleted rows back
        pg_server.psql(f'DELETE FROM "{schema}".p_src WHERE id > {n - 1000}',
                       dbname=pg_server.dbname)
        third = _run(tmp_path, "run", "--job-name", "p", "--strategy", "full")
        assert third.returncode == 0, third.stderr
        rc = _resume_and_wait(frozen)
    finally:
        hold.release()
        _cleanup(frozen)
    assert rc != 0, log.read_text()
    assert pg_count(pg_server, f"SELECT count(*) FROM {dst}") == n - 1000
    assert tables_equal(pg_server, schema)
    assert _fence_token(pg_server) > frozen_token    # never backwards


def _my_count(my, db, sql):
    return int(my.sql(sql, dbname=db).strip().splitlines()[-1])


def test_frozen_mysql_holder_after_redis_data_loss(tmp_path, pg_server, mysql_server,
                                                   redis_server, schema, mydb):
    """PostgreSQL -> MySQL: a run frozen in its first batch (its LOAD DATA
    waiting for rows, some written, uncommitted), Redis flushed; the next run
    KILLs the frozen connection (found by its user-level lock) and succeeds
    (unfixed: it waited for the frozen rows and failed on the lock wait
    timeout); resumed, the frozen run does not succeed."""
    n = 3000
    url = _redis_url(redis_server, 5)
    gated_pipeline(tmp_path, pg_server, schema, n=n, batch=10000, native=True, state_url=url)
    db = mydb
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n" + pg_ds(pg_server, "shop") + my_ds(mysql_server, "wh", db) +
        f'state: {{url: "{url}"}}\n')
    p = (tmp_path / "pipelines" / "p.yaml")
    p.write_text(p.read_text().replace(f"schema: {schema}, table: p_dst", "table: p_dst"))
    r = run_synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    count = f"SELECT count(*) FROM {db}.p_dst"
    written = ("SELECT COALESCE(SUM(trx_rows_modified), 0) FROM information_schema.INNODB_TRX "
               "WHERE trx_query LIKE 'LOAD DATA%'")
    hold = PgHold(pg_server)
    log = tmp_path / "frozen.log"
    frozen = _start(tmp_path, log)
    try:
        wait_until(lambda: (gate_waiters(pg_server) > 0 and
                            _my_count(mysql_server, db, written) > 0)
                   or frozen.poll() is not None, timeout=120,
                   what="the first run at the gate with rows written, uncommitted")
        assert frozen.poll() is None, log.read_text()
        frozen.send_signal(signal.SIGSTOP)
        _flushdb(redis_server, 5)
        hold.release()
        second = _run(tmp_path, "run", "--job-name", "p", "--strategy", "full")
        assert second.returncode == 0, second.stderr
        assert "ended 1 destination session" in second.stderr, second.stderr
        assert _my_count(mysql_server, db, count) == n
        pg_server.psql(f'DELETE FROM "{schema}".p_src WHERE id > {n - 1000}',
                       dbname=pg_server.dbname)
        third = _run(tmp_path, "run", "--job-name", "p", "--strategy", "full")
        assert third.returncode == 0, third.stderr
        rc = _resume_and_wait(frozen)
    finally:
        hold.release()
        _cleanup(frozen)
    assert rc != 0, log.read_text()
    assert _my_count(mysql_server, db, count) == n - 1000


def _sqlite_count(path, table="p_dst"):
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def _sqlite_write_locked(path):
    """True while another connection holds the file's write lock (a batch
    transaction is open in it)."""
    con = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        con.close()


def _pipeline_lock_free(cfg):
    r = run_synctool("lock", "list", "--json", config_dir=cfg)
    assert r.rc == 0, r
    return not any(x["key"] == "synctool:exec:pipeline:p" for x in json.loads(r.out))


def test_sqlite_frozen_holder_does_not_commit_after_takeover(tmp_path, pg_server, schema):
    """PostgreSQL -> SQLite: a run frozen inside a batch transaction holds the
    file's write lock past its lease. The newer run takes the pipeline lock,
    cannot write (nor end the holder) and is skipped naming it. The frozen run
    resumed: its lease is re-checked right before COMMIT and the batch rolls
    back. The test holds the lock store's write lock meanwhile, so the lease
    renewer cannot answer first (on the unfixed code the batch commits)."""
    gated_pipeline(tmp_path, pg_server, schema, n=3000)
    dstdb = tmp_path / "dst.db"
    ds = (tmp_path / "datastores.yaml").read_text()
    wh = [line for line in ds.splitlines() if line.startswith("  wh:")][0]
    (tmp_path / "datastores.yaml").write_text(
        ds.replace(wh, f"  wh: {{type: sqlite, path: {dstdb}}}"))
    p = (tmp_path / "pipelines" / "p.yaml")
    p.write_text(p.read_text().replace(f"schema: {schema}, table: p_dst", "table: p_dst"))
    r = run_synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    hold = PgHold(pg_server)
    log = tmp_path / "frozen.log"
    frozen = _start(tmp_path, log)
    state = None
    try:
        # at the gate inside a batch: rows committed before, the next batch's
        # transaction open (a gate waiter alone may be the progress
        # publisher's row estimate, asked between two batches)
        wait_until(lambda: (gate_waiters(pg_server) > 0 and _sqlite_count(dstdb) > 0
                            and _sqlite_write_locked(dstdb))
                   or frozen.poll() is not None, timeout=120,
                   what="the first run at the gate inside a batch transaction")
        assert frozen.poll() is None, log.read_text()
        frozen.send_signal(signal.SIGSTOP)
        before = _sqlite_count(dstdb)
        wait_until(lambda: _pipeline_lock_free(tmp_path), timeout=60,
                   what="the frozen run's lease to expire")
        hold.release()
        newer = _run(tmp_path, "run", "--job-name", "p", "--strategy", "full")
        assert newer.returncode == 75, newer.stderr      # skipped, not failed
        assert "Destination locked by another writer" in newer.stderr, newer.stderr
        # The renewer would learn of the takeover by writing the lock store:
        # hold that store's write lock, so only the pre-commit check can.
        state = sqlite3.connect(tmp_path / ".synctool" / "state.db", isolation_level=None,
                                timeout=30)
        state.execute("BEGIN IMMEDIATE")
        frozen.send_signal(signal.SIGCONT)
        wait_until(lambda: "lease re-checked before commit" in log.read_text()
                   or _sqlite_count(dstdb) > before, timeout=120,
                   what="the resumed run to commit or to roll back")
        state.execute("ROLLBACK")
        state.close()
        state = None
        rc = frozen.wait(timeout=300)
    finally:
        if state is not None:
            state.execute("ROLLBACK")
            state.close()
        hold.release()
        _cleanup(frozen)
    assert _sqlite_count(dstdb) == before, log.read_text()
    assert rc != 0 and "lost pipeline lock" in log.read_text(), log.read_text()
    # the newer run's skip named the holder it could not end
    assert "blocked by an older holder of fencing token 1" in newer.stderr, newer.stderr


def _fence_token(pg, key="synctool:exec:pipeline:p"):
    out = pg.psql(f"SELECT token FROM synctool_fence WHERE lock_key = '{key}'",
                  dbname=pg.dbname).strip()
    return int(out) if out else None


def test_fencing_tokens_never_go_backwards_after_the_lock_store_lost_its_data(
        tmp_path, pg_server, schema):
    """The state file deleted (counters back at 1), then a second deployment
    with its own lock store: every run succeeds and the destination's token
    for the pipeline only grows (the floor is re-read from synctool_fence)."""
    pg_server.psql(
        f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, customer_id bigint, '
        f'total numeric(14,2), note text, updated_at timestamptz); '
        f'INSERT INTO "{schema}".src SELECT g, g, g, \'r\' || g, now() '
        f"FROM generate_series(1, 50) g", dbname=pg_server.dbname)
    one, two = tmp_path / "one", tmp_path / "two"
    for root in (one, two):
        write_config(root, pg_ds(pg_server, "shop") + pg_ds(pg_server, "wh"),
                     f"{{datastore: shop, schema: {schema}, table: src}}",
                     f"{{datastore: wh, schema: {schema}, table: dst}}")
    assert _run(one, "ddl", "apply", "p").returncode == 0
    seen = []

    def run(root, i):
        # a new source row each time, so that every run writes a batch
        pg_server.psql(f'INSERT INTO "{schema}".src VALUES ({100 + i}, 1, 1, \'n\', now())',
                       dbname=pg_server.dbname)
        r = _run(root, "run", "--job-name", "p", "--strategy", "full")
        assert r.returncode == 0, r.stderr
        seen.append(_fence_token(pg_server))

    for i in range(3):
        run(one, i)
    subprocess.run(["rm", "-rf", str(one / ".synctool")], check=True)
    for i, root in enumerate((one, two, one)):
        run(root, 3 + i)
    assert None not in seen, seen
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen


def test_concurrent_first_runs_create_the_fencing_table_once(tmp_path, pg_server):
    """4 pipelines' first runs started together into a PostgreSQL database
    without synctool_fence, 30 rounds (the table dropped before each): no run
    fails (unfixed: `duplicate key value violates unique constraint
    "pg_type_typname_nsp_index"` in a few percent of runs)."""
    db = "fence_" + uuid.uuid4().hex[:8]
    pg_server.psql(f"CREATE DATABASE {db}")
    names = [f"p{i}" for i in range(4)]
    src = sqlite3.connect(tmp_path / "src.db")
    src.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    src.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"r{i}") for i in range(20)])
    src.commit()
    src.close()
    (tmp_path / "pipelines").mkdir()
    wh = pg_ds(pg_server, "wh").replace(f"dbname: {pg_server.dbname}", f"dbname: {db}")
    (tmp_path / "datastores.yaml").write_text(
        f"datastores:\n  src: {{type: sqlite, path: {tmp_path / 'src.db'}}}\n" + wh)
    for name in names:
        (tmp_path / "pipelines" / f"{name}.yaml").write_text(
            f"name: {name}\nsource: {{datastore: src, table: items}}\n"
            f"destination: {{datastore: wh, table: {name}}}\n"
            "columns:\n  - {name: id, type: bigint, key: true}\n  - {name: name, type: text}\n"
            "strategies:\n  - {name: full, type: full}\n")
        assert _run(tmp_path, "ddl", "apply", name).returncode == 0
    failures = []
    try:
        for _ in range(30):
            pg_server.psql("DROP TABLE IF EXISTS synctool_fence", dbname=db)
            procs = [subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name",
                                       name, "--strategy", "full"], env=ENV,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True) for name in names]
            for proc in procs:
                _, err = proc.communicate(timeout=120)
                if proc.returncode != 0:
                    failures.append(err)
    finally:
        pg_server.psql(f"DROP DATABASE {db} WITH (FORCE)")
    assert failures == [], failures[:3]
