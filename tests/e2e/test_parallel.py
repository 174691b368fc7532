"""End-to-end: `parallel: N` for the full strategy (src/sync/sync_parallel.c).

A full with parallel: N cuts the source's keys into N ranges at sampled
keys and copies each on a connection pair of its own, under the run's one
pipeline lock, table lock and fencing token. These tests drive the binary
against PostgreSQL on integer, composite and text keys and compare the
destination with the source as a user would (both queried: EXCEPT ALL both
ways, pairs.pg_tables_equal):

  - into an empty table, then a merge with inserts, updates and deletes in
    every range, then a run with nothing to do;
  - ranges with no rows (an empty source, fewer rows than ranges,
    destination rows only below the first or above the last sampled key);
  - a range held by a destination row lock (a psql session) while the other
    ranges finish: killed (SIGKILL), the rerun resumes only the unfinished
    range and the tables end equal with no duplicates — both into an empty
    table (the held range copies) and in a merge (it updates);
  - SIGTERM while a range is held: the run ends interrupted (143), every
    range's committed work is kept, the held range's batch rolled back;
  - a range that fails (a CHECK its rows break): named in the error, `why`
    and history; the rerun resumes it alone;
  - boundaries from a TABLESAMPLE of a large table's pages;
  - MySQL and SQLite sources with a composite (integer, text) key;
  - validation: 1..64, full and hash only;
  - hash with parallel: N (each range runs the hash strategy over its keys)
    on integer, composite (integer, integer: the keyset recursion) and
    text keys, changes in every range, then ranges with no rows.
No test waits on time: each waits for log lines and the lock wait itself.
"""
import json
import os
import re
import signal
import sqlite3
import subprocess

import pytest

from conftest import BIN, run_synctool
from pairs import mydb, pg_tables_equal  # noqa: F401
from test_scheduler_helpers import wait_until
from test_sync_cli import pg_count, pg_ds, schema  # noqa: F401

KEYS = {
    "int": ("id bigint PRIMARY KEY",
            "  - {name: id, type: bigint, key: true}\n",
            "g", "id"),
    "composite": ("a integer, b text, PRIMARY KEY (a, b)",
                  "  - {name: a, type: integer, key: true}\n"
                  "  - {name: b, type: text, key: true}\n",
                  "g % 7, 'k' || (g / 7)", "a, b"),
    # bytewise order differs from most collations: 'B' < 'a', '~' > 'z',
    # multibyte characters last
    "text": ("k text PRIMARY KEY",
             "  - {name: k, type: text, key: true}\n",
             "(ARRAY['B', 'a', 'Z x', '~', '\u00e9', 'k'])[g % 6 + 1] || lpad(g::text, 6, '0')",
             "k"),
    "int2": ("a integer, b integer, PRIMARY KEY (a, b)",
             "  - {name: a, type: integer, key: true}\n"
             "  - {name: b, type: integer, key: true}\n",
             "g % 7, g / 7", "a, b"),
}


def _setup(tmp_path, pg, schema, kind="int", n=1000, parallel=4, batch=50, extra="",
           stype="full"):
    ddl, cols, keyexpr, _ = KEYS[kind]
    keycols = KEYS[kind][3]
    pg.psql(f'CREATE TABLE "{schema}".src ({ddl}, note text); '
            f'INSERT INTO "{schema}".src ({keycols}, note) SELECT {keyexpr}, \'row \' || g '
            f'FROM generate_series(1, {n}) g', dbname=pg.dbname)
    (tmp_path / "pipelines").mkdir(parents=True, exist_ok=True)
    (tmp_path / "datastores.yaml").write_text("datastores:\n" + pg_ds(pg, "shop") +
                                              pg_ds(pg, "wh"))
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "name: p\n"
        f"source: {{datastore: shop, schema: {schema}, table: src}}\n"
        f"destination: {{datastore: wh, schema: {schema}, table: dst}}\n"
        "columns:\n" + cols + "  - {name: note, type: text}\n"
        "strategies:\n"
        f"  - {{name: {stype}, type: {stype}, batch_size: {batch}, parallel: {parallel}, "
        "cron: \"0 2 * * *\"}\n"
        "locks: {lease_ttl_seconds: 5}\n" + extra)
    r = run_synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r


def _run(tmp_path, *extra, strategy="full"):
    r = run_synctool("--log-level", "debug", "run", "--job-name", "p", "--strategy", strategy,
                     *extra, config_dir=tmp_path, timeout=300)
    return r


def _equal(pg, schema):
    """The destination holds exactly the source's rows: no row missing,
    none extra, none twice (the source's keys are unique, so no key twice)."""
    return pg_tables_equal(pg, f'"{schema}".src', f'"{schema}".dst')


def _ranges_done(text):
    """The lines of ranges this run finished ("range 2/4: keys ... done, 250 rows")."""
    return [ln for ln in text.splitlines() if re.search(r" range \d+/\d+: .* done, [\d,]+ rows? ", ln)]


@pytest.mark.parametrize("kind", ["int", "composite", "text"])
def test_parallel_full_into_empty_then_merge(tmp_path, pg_server, schema, kind):
    _setup(tmp_path, pg_server, schema, kind)
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert "parallel: 4 key ranges" in r.err, r.err
    assert len(_ranges_done(r.err)) == 4, r.err
    for i in range(1, 5):
        assert f"range {i}/4: " in r.err, r.err
    if kind == "int":   # same types, one integer key: each range as binary COPY
        assert r.err.count("full into empty: binary copy") == 4, r.err
        assert "range 2/4: keys (250, 500] done, 250 rows" in r.err, r.err
    assert _equal(pg_server, schema)
    # changes in every range: updates, deletes, inserts
    keycols = KEYS[kind][3]
    pg_server.psql(   # spread over the key space: every tenth row, and the fifth ones
        f'UPDATE "{schema}".src SET note = note || \' v2\' WHERE note LIKE \'%0\'; '
        f'DELETE FROM "{schema}".src WHERE note LIKE \'%5\'; '
        f'INSERT INTO "{schema}".src ({keycols}, note) SELECT {KEYS[kind][2]}, \'new\' '
        f'FROM generate_series(1001, 1100) g', dbname=pg_server.dbname)
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert "success" in r.out, r
    assert "100 inserted, 100 updated, 100 deleted" in r.out, r.out
    assert _equal(pg_server, schema)
    r = _run(tmp_path)
    assert r.rc == 0 and "0 inserted, 0 updated, 0 deleted" in r.out, r


def test_parallel_ranges_with_no_rows(tmp_path, pg_server, schema):
    """Fewer rows than ranges, destination rows outside every sampled key
    (below the first, above the last), then an empty source."""
    _setup(tmp_path, pg_server, schema, n=3, parallel=8)
    pg_server.psql(f'INSERT INTO "{schema}".dst VALUES (-5, \'below\'), (2, \'stale\'), '
                   f'(1000, \'above\'), (2000, \'above\')', dbname=pg_server.dbname)
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert "parallel: 3 key ranges" in r.err, r.err
    assert "range 1/3: keys up to 1 done" in r.err, r.err
    assert "range 3/3: keys above 2 done" in r.err, r.err
    assert "2 inserted, 1 updated, 3 deleted" in r.out, r.out
    assert _equal(pg_server, schema)
    pg_server.psql(f'DELETE FROM "{schema}".src', dbname=pg_server.dbname)
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert "parallel: 1 key range," in r.err and "range 1/1: all keys done" in r.err, r.err
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".dst') == 0


class RowHold:
    """A psql session holding destination key `key` in an open transaction:
    FOR UPDATE of an existing row (a merge's update waits), or an
    uncommitted insert of it (a copy into the empty table waits on the
    unique index)."""

    def __init__(self, pg, schema, key, insert):
        env = dict(os.environ, PGPASSWORD=pg.password)
        self.p = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-h", pg.host, "-p", str(pg.port), "-U", pg.user,
             "-d", pg.dbname], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env)
        sql = (f'INSERT INTO "{schema}".dst VALUES ({key}, \'held\')' if insert else
               f'SELECT 1 FROM "{schema}".dst WHERE id = {key} FOR UPDATE')
        self.p.stdin.write(f"BEGIN;\n{sql};\n\\echo held\n")
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            assert line, "psql ended before holding the row"
            if line.strip() == "held":
                return

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.write("ROLLBACK;\n")
            self.p.stdin.close()
            self.p.wait(30)


def _waiting_on_row(pg):
    return pg_count(pg, "SELECT count(*) FROM pg_locks WHERE NOT granted AND "
                        "locktype = 'transactionid'") > 0


def _held_run(tmp_path, pg, schema, merge, log):
    """A parallel run (4 ranges of 1000 keys) whose range 3 (keys
    (500, 750]) waits on a row held by psql while ranges 1, 2 and 4 finish.
    Returns (process, hold)."""
    _setup(tmp_path, pg, schema)
    if merge:
        r = _run(tmp_path)
        assert r.rc == 0, r
        pg.psql(f'UPDATE "{schema}".src SET note = note || \' v2\'', dbname=pg.dbname)
    hold = RowHold(pg, schema, 600, insert=not merge)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    with open(log, "w") as f:
        proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "--log-level", "debug",
                                 "run", "--job-name", "p", "--strategy", "full"], env=env,
                                stdout=subprocess.DEVNULL, stderr=f, text=True)
    wait_until(lambda: (len(_ranges_done(log.read_text())) == 3 and _waiting_on_row(pg))
               or proc.poll() is not None, timeout=120,
               what="ranges 1, 2, 4 done and range 3 waiting on the held row")
    assert proc.poll() is None, log.read_text()
    return proc, hold


@pytest.mark.parametrize("merge", [False, True], ids=["into_empty", "merge"])
def test_parallel_killed_range_then_rerun_resumes(tmp_path, pg_server, schema, merge):
    log = tmp_path / "killed.log"
    proc, hold = _held_run(tmp_path, pg_server, schema, merge, log)
    try:
        done = _ranges_done(log.read_text())
        assert not any("range 3/4" in ln for ln in done), done
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()
    # the held range committed whole batches before the held key at most
    held = pg_count(pg_server, f'SELECT count(*) FROM "{schema}".dst WHERE id > 500 AND id <= 750 '
                               + ("AND note LIKE '%v2'" if merge else ""))
    assert held < 250, held
    r = _run(tmp_path, "--lock-timeout", "60", "--table-lock-timeout", "60")
    assert r.rc == 0, r
    assert "parallel: 4 key ranges (resumed), 3 done by an earlier attempt" in r.err, r.err
    for i in (1, 2, 4):
        assert f"range {i}/4: " in r.err and "done by an earlier attempt" in r.err, r.err
    done = _ranges_done(r.err)   # only range 3 ran
    assert len(done) == 1 and "range 3/4: keys (500, 750] done" in done[0], r.err
    assert _equal(pg_server, schema)
    # the plan is cleared by the success: the next run cuts anew
    r = _run(tmp_path)
    assert r.rc == 0 and "(resumed)" not in r.err, r
    assert "0 inserted, 0 updated, 0 deleted" in r.out, r.out


def test_parallel_sigterm_keeps_every_range_committed_work(tmp_path, pg_server, schema):
    log = tmp_path / "term.log"
    proc, hold = _held_run(tmp_path, pg_server, schema, True, log)
    try:
        proc.send_signal(signal.SIGTERM)
        hold.release()   # the held batch may now finish its body: it must not commit
        proc.wait(120)
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()
    err = log.read_text()
    assert proc.returncode == 143, err
    assert "interrupted with 3 of 4 ranges done" in err, err
    # ranges 1, 2 and 4 committed every change; range 3 only whole batches
    v2 = f'SELECT count(*) FROM "{schema}".dst WHERE note LIKE \'%v2\''
    outside = pg_count(pg_server, v2 + " AND (id <= 500 OR id > 750)")
    inside = pg_count(pg_server, v2 + " AND id > 500 AND id <= 750")
    assert outside == 750, outside
    assert inside % 50 == 0 and inside < 250, inside
    h = run_synctool("history", "p", "--json", config_dir=tmp_path)
    assert '"interrupted"' in h.out, h
    entries = json.loads(h.out)
    run_id = next(e["run_id"] for e in entries if e["status"] == "interrupted")
    lg = run_synctool("logs", run_id, config_dir=tmp_path)   # every range's line kept
    assert "range 1/4: keys up to 250 done, 250 rows" in lg.out, lg
    assert "interrupted with 3 of 4 ranges done" in lg.out, lg
    r = _run(tmp_path, "--no-wait-lock")
    assert r.rc == 0, r
    assert "(resumed), 3 done by an earlier attempt" in r.err, r.err
    assert _equal(pg_server, schema)


@pytest.mark.parametrize("value,msg", [
    ("0", "parallel: 0 out of range 1-64"),
    ("65", "parallel: 65 out of range 1-64"),
    ("two", "parallel: expected an integer"),
])
def test_parallel_validation(tmp_path, pg_server, schema, value, msg):
    _setup(tmp_path, pg_server, schema, n=1)
    y = tmp_path / "pipelines" / "p.yaml"
    y.write_text(y.read_text().replace("parallel: 4", f"parallel: {value}"))
    r = run_synctool("validate", config_dir=tmp_path)
    assert r.rc == 2 and msg in r.out + r.err, r


def test_parallel_refused_on_delta_accepted_on_hash(tmp_path, pg_server, schema):
    _setup(tmp_path, pg_server, schema, n=1, extra="")
    y = tmp_path / "pipelines" / "p.yaml"
    base = y.read_text()
    y.write_text(base.replace("strategies:\n", "strategies:\n  - {name: d, type: delta, "
                              "cursor: note, parallel: 2}\n"))
    r = run_synctool("validate", config_dir=tmp_path)
    assert r.rc == 2 and "parallel: only valid for full and hash strategies" in r.out + r.err, r
    y.write_text(base.replace("type: full", "type: hash"))
    r = run_synctool("validate", config_dir=tmp_path)
    assert r.rc == 0, r   # hash runs key ranges too
    y.write_text(base.replace("type: full", "type: hash").replace("parallel: 4", "parallel: 1"))
    r = run_synctool("validate", config_dir=tmp_path)
    assert r.rc == 0, r


def test_parallel_boundaries_from_a_sample_of_a_large_table(tmp_path, pg_server, schema):
    """From 200,000 rows on PostgreSQL the boundaries come from a
    TABLESAMPLE of the table's pages (not from every key): still every row
    in exactly one range, composite keys too."""
    _setup(tmp_path, pg_server, schema, kind="composite", n=210000, parallel=3, batch=20000)
    pg_server.psql(f'ANALYZE "{schema}".src', dbname=pg_server.dbname)
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert "boundary keys of ~210000 rows, from a sample of the table's pages" in r.err, r.err
    assert len(_ranges_done(r.err)) == 3, r.err
    assert _equal(pg_server, schema)


def test_parallel_failed_range_named_in_why_then_resumed(tmp_path, pg_server, schema):
    """A range that fails (a destination CHECK its rows break) does not stop
    the others; the run fails naming the range and the ranges done (`why`
    and `history` show it); once fixed, the rerun resumes only that range."""
    _setup(tmp_path, pg_server, schema)
    pg_server.psql(f'ALTER TABLE "{schema}".dst ADD CONSTRAINT no600 CHECK (note <> \'row 600\')',
                   dbname=pg_server.dbname)
    r = _run(tmp_path)
    assert r.rc == 1, r
    done = _ranges_done(r.err)
    assert len(done) == 3 and not any("range 3/4" in ln for ln in done), r.err
    want = "range 3/4 (keys (500, 750]; 3 of 4 ranges done, the next run of full resumes the others)"
    assert want in r.err, r.err
    w = run_synctool("why", "p", config_dir=tmp_path)
    assert w.rc == 0 and want in w.out, w
    h = run_synctool("history", "p", "--json", config_dir=tmp_path)
    assert want in h.out, h
    pg_server.psql(f'ALTER TABLE "{schema}".dst DROP CONSTRAINT no600', dbname=pg_server.dbname)
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert "(resumed), 3 done by an earlier attempt" in r.err, r.err
    done = _ranges_done(r.err)
    assert len(done) == 1 and "range 3/4: keys (500, 750] done" in done[0], r.err
    assert _equal(pg_server, schema)


def _other_source(tmp_path, pg, schema, ds_line):
    (tmp_path / "pipelines").mkdir(parents=True, exist_ok=True)
    (tmp_path / "datastores.yaml").write_text("datastores:\n" + ds_line + pg_ds(pg, "wh"))
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "name: p\nsource: {datastore: shop, table: src}\n"
        f"destination: {{datastore: wh, schema: {schema}, table: dst}}\n"
        "columns:\n  - {name: a, type: integer, key: true}\n  - {name: b, type: text, key: true}\n"
        "  - {name: note, type: text}\n"
        "strategies:\n  - {name: full, type: full, batch_size: 40, parallel: 3}\n")
    r = run_synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r


def _dst_rows(pg, schema):
    out = pg.psql(f'SELECT a, b, note FROM "{schema}".dst ORDER BY a, b COLLATE "C"',
                  dbname=pg.dbname)
    return [tuple(ln.split("|")) for ln in out.strip().splitlines()]


ROWS = sorted(((g % 7, f"{['B', 'a', '~', 'é'][g % 4]}{g:04d}", f"row {g}") for g in range(1, 301)),
              key=lambda r: (r[0], r[1].encode()))


def _check_source_runs(tmp_path, pg, schema, change):
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert "parallel: 3 key ranges" in r.err and len(_ranges_done(r.err)) == 3, r.err
    assert _dst_rows(pg, schema) == [(str(a), b, n) for a, b, n in ROWS]
    change()   # a row updated, one deleted, in every range
    r = _run(tmp_path)
    assert r.rc == 0, r
    want = [(str(a), b, n + " v2" if i % 10 == 0 else n) for i, (a, b, n) in enumerate(ROWS)
            if i % 10 != 5]
    assert _dst_rows(pg, schema) == want


def test_parallel_from_mysql_composite_key(tmp_path, mysql_server, mydb, pg_server, schema):
    mysql_server.sql("CREATE TABLE src (a int, b varchar(20), note text, PRIMARY KEY (a, b))",
                     dbname=mydb)
    mysql_server.sql("INSERT INTO src VALUES " + ", ".join(
        f"({a}, '{b}', '{n}')" for a, b, n in ROWS), dbname=mydb)
    ds = (f"  shop: {{type: mysql, connection: {{host: {mysql_server.host}, port: "
          f"{mysql_server.port}, user: {mysql_server.user}, password: \"{mysql_server.password}\", "
          f"dbname: {mydb}}}}}\n")
    _other_source(tmp_path, pg_server, schema, ds)

    def change():
        for i, (a, b, _) in enumerate(ROWS):
            if i % 10 == 0:
                mysql_server.sql(f"UPDATE src SET note = CONCAT(note, ' v2') WHERE a = {a} "
                                 f"AND b = '{b}'", dbname=mydb)
            elif i % 10 == 5:
                mysql_server.sql(f"DELETE FROM src WHERE a = {a} AND b = '{b}'", dbname=mydb)
    _check_source_runs(tmp_path, pg_server, schema, change)


def test_parallel_from_sqlite_composite_key(tmp_path, pg_server, schema):
    path = tmp_path / "shop.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE src (a INTEGER, b TEXT, note TEXT, PRIMARY KEY (a, b))")
    db.executemany("INSERT INTO src VALUES (?, ?, ?)", ROWS)
    db.commit()
    _other_source(tmp_path, pg_server, schema, f"  shop: {{type: sqlite, path: {path}}}\n")

    def change():
        for i, (a, b, _) in enumerate(ROWS):
            if i % 10 == 0:
                db.execute("UPDATE src SET note = note || ' v2' WHERE a = ? AND b = ?", (a, b))
            elif i % 10 == 5:
                db.execute("DELETE FROM src WHERE a = ? AND b = ?", (a, b))
        db.commit()
    _check_source_runs(tmp_path, pg_server, schema, change)


def test_parallel_into_sqlite_destination(tmp_path, pg_server, schema):
    """Into SQLite (one writer at a time) the ranges' transactions take
    turns on the file: slower than one range, never wrong."""
    _setup(tmp_path, pg_server, schema, n=3000, batch=100)
    y = tmp_path / "pipelines" / "p.yaml"
    y.write_text(y.read_text().replace(f"destination: {{datastore: wh, schema: {schema}, "
                                       "table: dst}", "destination: {datastore: lite, table: dst}"))
    ds = tmp_path / "datastores.yaml"
    ds.write_text(ds.read_text() + f"  lite: {{type: sqlite, path: {tmp_path / 'wh.db'}}}\n")
    r = run_synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    r = _run(tmp_path)
    assert r.rc == 0, r
    assert len(_ranges_done(r.err)) == 4, r.err
    db = sqlite3.connect(tmp_path / "wh.db")
    got = db.execute("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM dst").fetchone()
    assert got == (3000, 3000, 1, 3000), got
    assert db.execute("SELECT note FROM dst WHERE id = 1234").fetchone() == ("row 1234",)


@pytest.mark.parametrize("kind", ["int", "int2", "text"])
def test_parallel_hash_changes_in_every_range(tmp_path, pg_server, schema, kind):
    """hash with parallel: 4: every range compares only its own keys; the
    keys g % 10 = 7 are missing at first and come back spread over every
    range, with updates and deletes in every range too."""
    _setup(tmp_path, pg_server, schema, kind, stype="hash")
    y = tmp_path / "pipelines" / "p.yaml"   # small segments: the ranges recurse
    y.write_text(y.read_text().replace("parallel: 4,", "parallel: 4, segment_rows: 20,"))
    keycols, keyexpr = KEYS[kind][3], KEYS[kind][2]
    pg_server.psql(f'DELETE FROM "{schema}".src WHERE note LIKE \'%7\'', dbname=pg_server.dbname)
    r = _run(tmp_path, strategy="hash")
    assert r.rc == 0, r
    assert "parallel: 4 key ranges" in r.err, r.err
    assert len(_ranges_done(r.err)) == 4, r.err
    assert "900 inserted, 0 updated, 0 deleted" in r.out, r.out
    assert _equal(pg_server, schema)
    pg_server.psql(
        f'UPDATE "{schema}".src SET note = note || \' v2\' WHERE note ~ \'(00|50)$\'; '
        f'DELETE FROM "{schema}".src WHERE note ~ \'(25|75)$\'; '
        f'INSERT INTO "{schema}".src ({keycols}, note) SELECT {keyexpr}, \'new\' '
        f'FROM generate_series(1, 1000) g WHERE g % 10 = 7', dbname=pg_server.dbname)
    if kind == "int":   # the new keys fall in every range of the run's own boundaries
        ends = [250, 500, 750, 1000]
        ins = pg_count(pg_server, f'SELECT count(DISTINCT width_bucket(id, ARRAY{ends})) '
                                  f'FROM "{schema}".src WHERE note = \'new\'')
        assert ins == 4
    r = _run(tmp_path, strategy="hash")
    assert r.rc == 0, r
    assert len(_ranges_done(r.err)) == 4, r.err
    assert "100 inserted, 20 updated, 20 deleted" in r.out, r.out
    assert _equal(pg_server, schema)
    r = _run(tmp_path, strategy="hash")
    assert r.rc == 0 and "0 inserted, 0 updated, 0 deleted" in r.out, r


def test_parallel_hash_ranges_with_no_rows(tmp_path, pg_server, schema):
    """hash: fewer rows than ranges, destination rows below the first and
    above the last boundary (outside every source key), then an empty
    source: one range, every destination row deleted."""
    _setup(tmp_path, pg_server, schema, n=3, parallel=8, stype="hash")
    pg_server.psql(f'INSERT INTO "{schema}".dst VALUES (-5, \'below\'), (2, \'stale\'), '
                   f'(1000, \'above\'), (2000, \'above\')', dbname=pg_server.dbname)
    r = _run(tmp_path, strategy="hash")
    assert r.rc == 0, r
    assert "parallel: 3 key ranges" in r.err, r.err
    assert "range 1/3: keys up to 1 done" in r.err, r.err
    assert "range 3/3: keys above 2 done" in r.err, r.err
    assert "2 inserted, 1 updated, 3 deleted" in r.out, r.out
    assert _equal(pg_server, schema)
    pg_server.psql(f'DELETE FROM "{schema}".src', dbname=pg_server.dbname)
    r = _run(tmp_path, strategy="hash")
    assert r.rc == 0, r
    assert "parallel: 1 key range," in r.err and "range 1/1: all keys done" in r.err, r.err
    assert "0 inserted, 0 updated, 3 deleted" in r.out, r.out
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".dst') == 0
