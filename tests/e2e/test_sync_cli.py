"""End-to-end: the sync engine through the real binary (`ddl apply`, `run`).

Covers what only a process can show: `ddl apply` usage and exit codes, a
real SQLite sync as in the quickstart, failures naming the datastore and
table with exit 1 and no partial write (missing table, bad password,
unreachable server, type change), and a PostgreSQL -> PostgreSQL full sync
killed with SIGKILL mid-way and re-run: equal, no duplicates, nothing lost.
Each test has its own config dir and, on PostgreSQL, its own schema.
"""
import os
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from conftest import BIN

COLUMNS = """columns:
  - {name: id, type: bigint, key: true}
  - {name: customer_id, type: bigint}
  - {name: total, type: "numeric(14,2)"}
  - {name: note, type: text}
  - {name: updated_at, type: timestamptz}
"""


def write_config(root, datastores, src, dst, extra="", columns=COLUMNS):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + datastores)
    (root / "pipelines" / "p.yaml").write_text(
        f"name: p\nsource: {src}\ndestination: {dst}\n" + columns +
        "strategies:\n"
        "  - {name: full, type: full, batch_size: 2000}\n"
        "  - {name: delta, type: delta, cursor: updated_at}\n"
        "  - {name: hash, type: hash}\n"
        "locks: {lease_ttl_seconds: 3}\n" + extra)


def pg_ds(pg, name, password=None, port=None):
    pw = pg.password if password is None else password
    return (f"  {name}: {{type: postgres, connection: {{host: {pg.host}, "
            f"port: {port or pg.port}, user: {pg.user}, password: \"{pw}\", "
            f"dbname: {pg.dbname}}}}}\n")


def sqlite_seed(path, n=4):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, "
               "total TEXT, note TEXT, updated_at TEXT)")
    db.executemany("INSERT INTO orders VALUES (?,?,?,?,?)",
                   [(i, 100 + i % 3, f"{i}.50", None if i % 4 == 0 else f"note {i} ✓",
                     f"2025-10-15T08:{i % 60:02d}:00.{i:06d}+02:00") for i in range(1, n + 1)])
    db.commit()
    db.close()


@pytest.fixture
def schema(pg_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
    yield name
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


def test_ddl_usage(synctool, tmp_path):
    r = synctool("ddl", "--help")
    assert r.rc == 0 and "usage: synctool ddl apply PIPELINE" in r.out
    r = synctool("ddl")
    assert r.rc == 2 and "missing subcommand" in r.err
    r = synctool("ddl", "frob", "p")
    assert r.rc == 2 and "unknown subcommand 'frob'" in r.err
    r = synctool("ddl", "apply")
    assert r.rc == 2 and "expected exactly one PIPELINE" in r.err
    r = synctool("ddl", "apply", "p", "--bogus")
    assert r.rc == 2 and "unknown option '--bogus'" in r.err
    r = synctool("ddl", "apply", "p", "--lock-timeout")
    assert r.rc == 2 and "option '--lock-timeout' needs a value" in r.err
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    r = synctool("ddl", "apply", "nope", config_dir=tmp_path)
    assert r.rc == 2 and "unknown pipeline 'nope'" in r.err


def test_sqlite_quickstart_sync(synctool, tmp_path):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    sqlite_seed(tmp_path / "data" / "a.db", 50)
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "created table b.main.orders" in r.err
    # it prints what it ran, then the outcome; a second apply changes nothing and says so
    assert r.out.startswith("ddl apply p: ran\nCREATE TABLE "), r.out
    assert r.out.endswith("ddl apply p: b.main.orders now matches the config\n"), r.out
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    assert r.out == ("ddl apply p: b.main.orders already matches the config: "
                     "nothing changed\n"), r.out
    r = synctool("run", "--job-name", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 0, r
    db = sqlite3.connect(tmp_path / "data" / "b.db")
    rows = db.execute("SELECT id, total, note, updated_at FROM orders ORDER BY id").fetchall()
    assert len(rows) == 50
    assert rows[0] == (1, 1.5, "note 1 ✓", "2025-10-15 06:01:00.000001")
    assert rows[3][2] is None
    r = synctool("run", "--job-name", "p", "--strategy", "hash", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "0 inserted, 0 updated, 0 deleted" in r.err


def test_missing_source_table_fails_naming_it(synctool, tmp_path):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: missing_orders}", "{datastore: b, table: orders}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("run", "--job-name", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "datastore 'a'" in r.err and "missing_orders" in r.err


def test_bad_password_and_unreachable(synctool, tmp_path, pg_server, schema):
    secret = "N0t-The-Password-" + uuid.uuid4().hex[:6]
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "wh", secret),
                 "{datastore: a, table: orders}", f"{{datastore: wh, schema: {schema}, table: orders}}")
    sqlite_seed(tmp_path / "data" / "a.db")
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "datastore 'wh'" in r.err and "cannot connect" in r.err
    assert secret not in r.err and secret not in r.out
    r = synctool("run", "--job-name", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "datastore 'wh'" in r.err and "orders" in r.err
    assert secret not in r.err and secret not in r.out
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "wh", port=1),
                 "{datastore: a, table: orders}", f"{{datastore: wh, schema: {schema}, table: orders}}")
    r = synctool("run", "--job-name", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1 and "datastore 'wh'" in r.err and "cannot connect" in r.err, r


def test_ddl_refuses_type_change(synctool, tmp_path, pg_server, schema):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "wh"),
                 "{datastore: a, table: orders}", f"{{datastore: wh, schema: {schema}, table: orders}}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "wh"),
                 "{datastore: a, table: orders}", f"{{datastore: wh, schema: {schema}, table: orders}}",
                 columns=COLUMNS.replace('"numeric(14,2)"', "text"))
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "column 'total'" in r.err and "numeric(14,2)" in r.err and "does not change column types" in r.err


def pg_count(pg, sql):
    return int(pg.psql(sql, dbname=pg.dbname).strip())


def pg_orders_pipeline(tmp_path, pg_server, schema, n, note_sql="'row ' || g"):
    """A PostgreSQL src of n orders (note from `note_sql` over g), a
    PostgreSQL -> PostgreSQL pipeline p into dst, and `ddl apply`.
    Returns (base argv, env)."""
    pg_server.psql(
        f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, customer_id bigint, '
        f'total numeric(14,2), note text, updated_at timestamptz); '
        f'INSERT INTO "{schema}".src SELECT g, g % 97, g * 1.25, {note_sql}, '
        f"'2025-10-15T00:00:00Z'::timestamptz + g * interval '1 millisecond' "
        f"FROM generate_series(1, {n}) g", dbname=pg_server.dbname)
    write_config(tmp_path, pg_ds(pg_server, "shop") + pg_ds(pg_server, "wh"),
                 f"{{datastore: shop, schema: {schema}, table: src}}",
                 f"{{datastore: wh, schema: {schema}, table: dst}}")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    base = [BIN, "--config-dir", str(tmp_path)]
    assert subprocess.run(base + ["ddl", "apply", "p"], env=env, capture_output=True).returncode == 0
    return base, env


def test_kill_midway_and_rerun_pg_to_pg(tmp_path, pg_server, schema):
    """SIGKILL mid-way (the run is held at the PostgreSQL gate of
    test_lifecycle with batches committed, so it is mid-way however fast the
    machine), then a re-run: equal, no duplicates, nothing lost."""
    from test_lifecycle import PgHold, gate_waiters, gated_pipeline, tables_equal
    from test_scheduler_helpers import wait_until
    n = 3000
    gated_pipeline(tmp_path, pg_server, schema, n=n)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    base = [BIN, "--config-dir", str(tmp_path)]
    hold = PgHold(pg_server)
    proc = subprocess.Popen(base + ["run", "--job-name", "p", "--strategy", "full"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0 or proc.poll() is not None,
                   timeout=120, what="the run at the gate")
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        hold.release()
    copied = pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst')
    print(f"killed after {copied} of {n} rows")
    assert 0 < copied < n and copied % 100 == 0  # whole batches only
    r = subprocess.run(base + ["run", "--job-name", "p", "--strategy", "full",
                               "--lock-timeout", "60", "--table-lock-timeout", "60"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst') == n
    assert tables_equal(pg_server, schema)


def test_ddl_waits_for_table_lock_then_skips(tmp_path):
    """A sync holding the table lock (here `lock hold`, shared like a run)
    makes `ddl apply` wait --lock-timeout, then exit 75 with nothing changed."""
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    hold = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "lock", "hold", "--table",
                             "b.main.orders", "--for", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        seen = ""
        while time.time() < deadline and "holding" not in seen:
            line = hold.stdout.readline()
            if not line:
                break
            seen += line
        assert "holding" in seen, seen
        r = subprocess.run([BIN, "--config-dir", str(tmp_path), "ddl", "apply", "p",
                            "--lock-timeout", "1"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 75, r.stderr
        assert "table lock synctool:table:b:main:orders busy after 1s, nothing changed" in r.stderr
        assert not (tmp_path / "data" / "b.db").exists() or \
            sqlite3.connect(tmp_path / "data" / "b.db").execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'orders'").fetchone()[0] == 0
    finally:
        hold.send_signal(signal.SIGTERM)
        hold.wait(30)
