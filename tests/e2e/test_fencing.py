"""End-to-end: a run that lost its lock cannot write (DESIGN §4, issue 5).

A real `synctool run` (PostgreSQL -> PostgreSQL full sync) is frozen with
SIGSTOP mid-way, past its lease. A second run takes the pipeline lock (a
newer fencing token) and finishes. Then the source changes and the first
run is resumed with SIGCONT: it must notice it lost its lock, fail (exit 1)
and write nothing, so the destination keeps the second run's result plus
nothing stale. Without fencing the resumed run would re-insert rows the
source no longer has. If it was frozen inside a batch transaction (even
mid-COPY), its row locks must not block the newer runs forever: the newer
run, holding a newer fencing token, ends the older run's destination
session (store_fence_session).
"""
import os
import signal
import subprocess
import time

from conftest import BIN
from test_lifecycle import PgHold, gate_waiters, gated_pipeline, tables_equal
from test_scheduler_helpers import wait_until
from test_sync_cli import (pg_count, pg_ds, pg_orders_pipeline, schema,  # noqa: F401
                           write_config)


def _run(base, env, *args, timeout=600):
    return subprocess.run(base + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_stale_run_resumed_after_its_lease_cannot_write(tmp_path, pg_server, schema):
    """A run frozen (SIGSTOP) mid-sync — held at the PostgreSQL gate with
    batches already committed, so it is mid-sync however fast the machine —
    loses its lease; newer runs sync and the source moves on; when the
    frozen run resumes it writes nothing."""
    n = 3000
    gated_pipeline(tmp_path, pg_server, schema, n=n, native=True)
    base = [BIN, "--config-dir", str(tmp_path)]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    hold = PgHold(pg_server)
    stale = subprocess.Popen(base + ["--log-level", "debug", "run", "--job-name", "p",
                                     "--strategy", "full"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = ""
    try:
        wait_until(lambda: (gate_waiters(pg_server) > 0 and pg_count(
                   pg_server, f'SELECT count(*) FROM "{schema}".p_dst') > 0)
                   or stale.poll() is not None,
                   timeout=120, what="the first run at the gate with batches committed")
        assert stale.poll() is None, stale.communicate()
        assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst') > 0
        stale.send_signal(signal.SIGSTOP)
        hold.release()
        second = _run(base, env, "run", "--job-name", "p", "--strategy", "full",
                      "--lock-timeout", "30", "--table-lock-timeout", "30")
        assert second.returncode == 0, second.stderr
        assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst') == n
        # The source moves on; a stale writer would bring the deleted rows back.
        pg_server.psql(f'DELETE FROM "{schema}".p_src WHERE id > {n - 1000}',
                       dbname=pg_server.dbname)
        third = _run(base, env, "run", "--job-name", "p", "--strategy", "full")
        assert third.returncode == 0, third.stderr
        stale.send_signal(signal.SIGCONT)
        out, err = stale.communicate(timeout=300)
    finally:
        hold.release()
        if stale.poll() is None:
            stale.send_signal(signal.SIGCONT)
            stale.kill()
            stale.wait()
    print("stale run stderr:", err)
    assert stale.returncode == 1, err
    # The frozen run wrote in binary COPY form (sync_full_copy.c): fencing
    # holds on that path too.
    assert "full into empty: binary copy" in err, err
    # Refused by the lease renewer, by the fencing token, or (frozen inside a
    # batch) by its destination session having been ended by the newer run:
    # never written.
    assert any(m in err for m in ("lost pipeline lock", "is stale", "terminating connection",
                                  "server closed the connection")), err
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst') == n - 1000
    assert tables_equal(pg_server, schema)


def test_new_lock_store_is_not_fenced_out_by_old_tokens(tmp_path, pg_server, schema):
    """Fencing tokens count per lock store; synctool_fence outlives it.

    A deployment whose state file was deleted (its counters start again at
    1), or a second deployment with a pipeline of the same name writing to
    the same database, must not be refused as "stale" by the tokens the
    first one left in synctool_fence: the fencing key carries the lock
    store's identity.
    """
    pg_server.psql(
        f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, customer_id bigint, '
        f'total numeric(14,2), note text, updated_at timestamptz); '
        f'INSERT INTO "{schema}".src SELECT g, g, g, \'r\' || g, now() '
        f"FROM generate_series(1, 50) g", dbname=pg_server.dbname)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    one, two = tmp_path / "one", tmp_path / "two"
    for root in (one, two):
        write_config(root, pg_ds(pg_server, "shop") + pg_ds(pg_server, "wh"),
                     f"{{datastore: shop, schema: {schema}, table: src}}",
                     f"{{datastore: wh, schema: {schema}, table: dst}}")
    base = [BIN, "--config-dir", str(one)]
    assert _run(base, env, "ddl", "apply", "p").returncode == 0
    for _ in range(3):
        r = _run(base, env, "run", "--job-name", "p", "--strategy", "full")
        assert r.returncode == 0, r.stderr
    subprocess.run(["rm", "-rf", str(one / ".synctool")], check=True)
    pg_server.psql(f'INSERT INTO "{schema}".src VALUES (51, 1, 1, \'new\', now())',
                   dbname=pg_server.dbname)
    r = _run(base, env, "run", "--job-name", "p", "--strategy", "full")
    assert r.returncode == 0, r.stderr
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".dst') == 51
    pg_server.psql(f'INSERT INTO "{schema}".src VALUES (52, 1, 1, \'new\', now())',
                   dbname=pg_server.dbname)
    r = _run([BIN, "--config-dir", str(two)], env, "run", "--job-name", "p", "--strategy",
             "full")
    assert r.returncode == 0, r.stderr
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".dst') == 52
