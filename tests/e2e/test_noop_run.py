"""End-to-end: a run with nothing to do (issue 25, item 2).

A delta whose source has no row after its watermark asks the source only:
it opens no destination connection and sets up no fence (sync.c,
sync_delta_probe). Shown by a PostgreSQL destination whose password is
wrong — the run with nothing to do succeeds, the next one with a new row
fails naming it — and by a SQLite destination whose synctool_fence row
keeps the token of the last run that wrote.

The SQLite state file is not checkpointed when a run exits (its -wal file
stays; the outcome's own commit is durable, state_sqlite.c): a run killed
with SIGKILL right after recording its outcome leaves that outcome
readable.
"""
import json
import os
import signal
import sqlite3
import subprocess
import uuid

import pytest

from conftest import BIN


def sqlite_config(root):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "datastores.yaml").write_text(
        "datastores:\n  a: {type: sqlite, path: a.db}\n  b: {type: sqlite, path: b.db}\n")
    for name in ("a.db", "b.db"):
        db = sqlite3.connect(root / name)
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
        if name == "a.db":
            db.executemany("INSERT INTO t VALUES (?, ?, ?)",
                           [(i, f"row {i}", i) for i in range(1, 11)])
        db.commit()
        db.close()
    (root / "pipelines" / "p.yaml").write_text(
        "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n  - {name: v, type: text}\n"
        "  - {name: n, type: bigint}\n"
        "strategies:\n  - {name: delta, type: delta, cursor: n}\n")


def fence_tokens(root):
    db = sqlite3.connect(root / "b.db")
    rows = db.execute("SELECT token FROM synctool_fence").fetchall()
    db.close()
    return sorted(r[0] for r in rows)


def run_debug(synctool, root):
    r = synctool("--log-level", "debug", "run", "--job-name", "p", config_dir=root)
    return r


def test_sqlite_noop_delta_sets_up_no_fence(synctool, tmp_path):
    sqlite_config(tmp_path)
    r = run_debug(synctool, tmp_path)
    assert r.rc == 0, r
    assert "sync done: 10 read" in r.err
    first = fence_tokens(tmp_path)
    assert len(first) == 1

    r = run_debug(synctool, tmp_path)
    assert r.rc == 0, r
    assert "sync done: 0 read" in r.err
    assert "destination not opened, no fence set up" in r.err
    # the run held a newer token, but wrote nothing: the destination's stays
    assert fence_tokens(tmp_path) == first

    db = sqlite3.connect(tmp_path / "a.db")
    db.execute("INSERT INTO t VALUES (11, 'new', 11)")
    db.commit()
    db.close()
    r = run_debug(synctool, tmp_path)
    assert r.rc == 0, r
    assert "sync done: 1 read, 1 inserted" in r.err
    assert fence_tokens(tmp_path)[0] > first[0]


@pytest.fixture
def pgschema(pg_server):
    name = "noop_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"; CREATE TABLE "{name}".src (id bigint PRIMARY KEY,'
                   f' v text, n bigint NOT NULL); CREATE INDEX ON "{name}".src (n, id);'
                   f' INSERT INTO "{name}".src SELECT g, \'row \' || g, g'
                   f' FROM generate_series(1, 10) g', dbname=pg_server.dbname)
    yield name
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


def pg_config(pg, root, schema, dst_password):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    conn = f"host: {pg.host}, port: {pg.port}, user: {pg.user}, dbname: {pg.dbname}"
    (root / "datastores.yaml").write_text(
        "datastores:\n"
        f"  a: {{type: postgres, connection: {{{conn}, password: \"{pg.password}\"}}}}\n"
        f"  b: {{type: postgres, connection: {{{conn}, password: \"{dst_password}\"}}}}\n")
    (root / "pipelines" / "p.yaml").write_text(
        f"name: p\nsource: {{datastore: a, schema: {schema}, table: src}}\n"
        f"destination: {{datastore: b, schema: {schema}, table: dst}}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n  - {name: v, type: text}\n"
        "  - {name: n, type: bigint}\n"
        "strategies:\n  - {name: delta, type: delta, cursor: n}\n")


def test_pg_noop_delta_opens_no_destination(synctool, pg_server, pgschema, tmp_path):
    pg_config(pg_server, tmp_path, pgschema, pg_server.password)
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    r = run_debug(synctool, tmp_path)
    assert r.rc == 0, r
    assert "sync done: 10 read" in r.err

    # the destination now refuses every connection
    pg_config(pg_server, tmp_path, pgschema, "not-the-password")
    r = run_debug(synctool, tmp_path)
    assert r.rc == 0, r
    assert "sync done: 0 read" in r.err
    assert "destination not opened, no fence set up" in r.err

    pg_server.psql(f'INSERT INTO "{pgschema}".src VALUES (11, \'new\', 11)',
                   dbname=pg_server.dbname)
    r = run_debug(synctool, tmp_path)
    assert r.rc == 1, r
    assert "datastore 'b'" in r.err, r
    assert "not-the-password" not in r.err + r.out


def test_state_outcome_survives_sigkill_after_recording(synctool, tmp_path):
    sqlite_config(tmp_path)
    r = synctool("run", "--job-name", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    wal = tmp_path / ".synctool" / "state.db-wal"
    assert wal.exists() and wal.stat().st_size > 0   # no checkpoint at exit

    db = sqlite3.connect(tmp_path / "a.db")
    db.execute("INSERT INTO t VALUES (11, 'new', 11)")
    db.commit()
    db.close()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.Popen([BIN, "--log-level", "debug", "--config-dir", str(tmp_path), "run",
                          "--job-name", "p"], stderr=subprocess.PIPE, text=True, env=env)
    for line in p.stderr:   # the outcome is recorded before this line is logged
        if "job success" in line:
            p.send_signal(signal.SIGKILL)
            break
    p.stderr.close()
    p.wait()

    r = synctool("history", "p", "--json", config_dir=tmp_path)
    assert r.rc == 0, r
    runs = json.loads(r.out)
    runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
    assert [x["status"] for x in runs][:2] == ["success", "success"], r.out
    assert runs[0]["rows_inserted"] == 1, r.out
