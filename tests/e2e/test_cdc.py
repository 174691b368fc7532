"""End-to-end: the cdc strategy (issue 23, item 2; DESIGN §7).

A PostgreSQL source table (the harness's server runs with wal_level =
logical) is copied by a first cdc run (on the slot `ddl apply` made: full in
the run's own snapshot, then the slot replayed; after `cdc drop` the run
makes the slot and copies in its exported snapshot), then
changed (inserts, updates, deletes, a key update, TRUNCATE, a 1 MB text
value, an update leaving a TOASTed column unchanged, a battery of types)
and drained by further runs into PostgreSQL, MySQL and SQLite destinations;
after each, `hash` (the referee) finds nothing to do. Also: SIGKILL
mid-apply and a rerun (equal, no duplicates); a column added on the source
mid-stream (an error naming it); a dropped slot (an error naming the fix);
max_slot_lag exceeded; cdc on a MySQL source refused by validate; `cdc
drop`. Runs are held by gates (a row lock in the destination), never by
sleeps. Every slot a test makes is dropped at its end. Also: `reset
--drop-slot`, `continuous: true`, the slot made by `ddl apply`, a source restart
mid-run, and the max_slot_lag webhook.
"""
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from conftest import BIN
from pairs import write_sqlite_pair


def wait_for(cond, what, timeout=60.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def pgschema(pg_server):
    name = "cdc_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
    yield name
    # the slots and publications of this test's pipelines
    pg_server.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                   f"WHERE slot_name LIKE 'synctool_{name}%' AND NOT active",
                   dbname=pg_server.dbname)
    for pub in pg_server.psql(f"SELECT pubname FROM pg_publication WHERE pubname LIKE "
                              f"'synctool_{name}%'", dbname=pg_server.dbname).split():
        pg_server.psql(f'DROP PUBLICATION "{pub}"', dbname=pg_server.dbname)
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


def pg_ds(pg, name):
    return (f"  {name}: {{type: postgres, connection: {{host: {pg.host}, port: {pg.port}, "
            f"user: {pg.user}, password: {pg.password}, dbname: {pg.dbname}}}}}\n")


def my_ds(my, name):
    return (f"  {name}: {{type: mysql, connection: {{host: {my.host}, port: {my.port}, "
            f"user: {my.user}, password: {my.password}, dbname: {my.dbname}}}}}\n")


SIMPLE = [("id", "bigint PRIMARY KEY", "bigint", True), ("v", "text", "text", False),
          ("n", "integer", "integer", False)]


def write_config(root, ds, src, dst, cols, name, extra=""):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + ds +
                                          "  lite: {type: sqlite, path: data/b.db}\n")
    colyaml = "".join(f"  - {{name: {c}, type: \"{t}\"{', key: true' if k else ''}}}\n"
                      for c, _, t, k in cols)
    (root / "pipelines" / "p.yaml").write_text(
        f"name: {name}\nsource: {src}\ndestination: {dst}\ncolumns:\n{colyaml}"
        f"strategies:\n  - {{name: cdc, type: cdc{extra}}}\n  - {{name: hash, type: hash}}\n")


class Env:
    def __init__(self, synctool, root, pg, schema, name):
        self.synctool, self.root, self.pg, self.schema, self.name = synctool, root, pg, schema, name

    def sql(self, s):
        return self.pg.psql(s.replace("{t}", f'"{self.schema}".src'), dbname=self.pg.dbname)

    def run(self, strategy="cdc", ok=True):
        r = self.synctool("run", "--job-name", self.name, "--strategy", strategy,
                          config_dir=self.root)
        if ok:
            assert r.rc == 0, r
        return r

    def referee(self):
        """hash after cdc finds nothing to do."""
        r = self.run("hash")
        assert "0 inserted, 0 updated, 0 deleted" in r.err, r


def make_env(synctool, tmp_path, pg, schema, dst_kind, cols=SIMPLE, extra="", my=None,
             mydb=None):
    name = f"{schema}_p"
    ds = pg_ds(pg, "src")
    if dst_kind == "pg":
        dst = f"{{datastore: src, schema: {schema}, table: dst}}"
    elif dst_kind == "mysql":
        ds += my_ds(my, "my")
        dst = "{datastore: my, table: " + f"{schema}_dst" + "}"
    else:
        dst = "{datastore: lite, table: dst}"
    write_config(tmp_path, ds, f"{{datastore: src, schema: {schema}, table: src}}", dst, cols,
                 name, extra)
    e = Env(synctool, tmp_path, pg, schema, name)
    e.sql("CREATE TABLE {t} (" + ", ".join(f"{c} {t}" for c, t, _, _ in cols) + ")")
    r = synctool("ddl", "apply", name, config_dir=tmp_path)
    assert r.rc == 0, r
    return e


def test_cdc_basic_sqlite(synctool, tmp_path, pg_server, pgschema):
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite")
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, g FROM generate_series(1, 100) g")
    r = e.run()
    assert "100 inserted" in r.err, r
    e.referee()
    e.sql("INSERT INTO {t} VALUES (101, 'new', 1); UPDATE {t} SET v = 'upd' WHERE id <= 10; "
          "DELETE FROM {t} WHERE id BETWEEN 50 AND 59; UPDATE {t} SET id = 1000 WHERE id = 20")
    r = e.run()
    assert "1 inserted" in r.err or "2 inserted" in r.err, r
    e.referee()
    db = sqlite3.connect(tmp_path / "data" / "b.db")
    assert db.execute("SELECT count(*) FROM dst").fetchone()[0] == 91
    assert db.execute("SELECT v FROM dst WHERE id = 1000").fetchone()[0] == "v20"
    r = e.run()
    assert "0 read" in r.err, r
    # status --json: the confirmed LSN and the WAL the slot retained
    r = synctool("status", e.name, "--json", config_dir=tmp_path)
    [row] = [s for s in json.loads(r.out) if s["strategy"] == "cdc"]
    assert "/" in row["watermark"] and row["slot_retained_bytes"] >= 0, row
    lsn = row["watermark"]
    [row] = [s for s in json.loads(r.out) if s["strategy"] == "hash"]
    assert row["watermark"] is None and row["slot_retained_bytes"] is None, row
    r = synctool("status", e.name, config_dir=tmp_path)
    assert "CDC SLOTS" in r.out and f"{e.name}:cdc  confirmed {lsn}" in r.out, r.out
    assert "keeps retaining WAL" not in r.out, r.out   # neither paused nor failing
    assert synctool("pause", e.name, "--strategy", "cdc", config_dir=tmp_path).rc == 0
    r = synctool("status", e.name, config_dir=tmp_path)
    assert "PAUSED: its slot keeps retaining WAL until it runs again" in r.out, r.out
    assert synctool("resume", e.name, "--strategy", "cdc", config_dir=tmp_path).rc == 0


# --- the value battery into every engine -------------------------------------

BATTERY_COLS = [
    ("id", "bigint PRIMARY KEY", "bigint", True),
    ("flag", "boolean", "boolean", False),
    ("i", "integer", "integer", False),
    ("d", "numeric(65,30)", "numeric(65,30)", False),
    ("n", "numeric", "numeric", False),
    ("f", "double precision", "double precision", False),
    ("r", "real", "real", False),
    ("dt", "date", "date", False),
    ("ts", "timestamp(6)", "timestamp", False),
    ("tz", "timestamptz", "timestamptz", False),
    ("tm", "time", "time", False),
    ("s", "text", "text", False),
    ("b", "bytea", "bytea", False),
    ("big", "text", "text", False),
]

# id, flag, i, d, n, f, r, dt, ts, tz, tm, s, b
ROWS = [
    "(1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(2, true, -2147483648, -12345678901234567890123456789012345.123456789012345678901234567890,"
    " 123456789012345678901234567890.5, 0.1, 0.1, '2025-03-30', '2025-03-30 02:30:00.123456',"
    " '2025-10-26 01:30:00.000001+02', '23:59:59.999999', 'h\u00e9llo \U0001F600 | \\ x',"
    " '\\x00ff10', 'small')",
    "(3, false, 0, 12.50, 0.000, 1e20, 1.5e-05, '1999-12-31', '2000-01-01 00:00:00',"
    " '1970-01-02 00:00:00+00', '00:00:00', '', '\\x', '')",
    "(4, true, 7, 0.000000000000000000000000000001, 99999999999999999999.99999, 123456.789,"
    " 3.4e38, '2024-02-29', '2024-02-29 12:00:00.5', '2024-02-29 23:59:59.5-05', '12:34:56.5',"
    " 'tab\tnewline\nend', '\\xdeadbeef', 'x')",
]
# PostgreSQL keeps these; MySQL and SQLite have no NaN / Infinity / -0 to hold
PG_ONLY_ROWS = [
    "(5, NULL, NULL, NULL, 'NaN', 'NaN', '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(6, NULL, NULL, NULL, '-0.00', '-0', 'Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
]

BIG = "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 32768) g)"  # 1 MB


def rows_with(base, rows):
    return [r.replace("(", f"({base} + ", 1) if base else r for r in rows]


@pytest.fixture
def mytable(mysql_server, pgschema):
    yield f"{pgschema}_dst"
    mysql_server.sql(f"DROP TABLE IF EXISTS `{mysql_server.dbname}`.`{pgschema}_dst`")


@pytest.mark.parametrize("dst", ["pg", "mysql", "sqlite"])
def test_cdc_battery(synctool, tmp_path, pg_server, pgschema, mysql_server, mytable, dst):
    e = make_env(synctool, tmp_path, pg_server, pgschema, dst, cols=BATTERY_COLS,
                 my=mysql_server)
    rows = ROWS + (PG_ONLY_ROWS if dst == "pg" else [])
    if dst == "sqlite":   # SQLite holds numerics of up to 15 digits exactly (sync_ddl_caveats)
        rows = [r.replace("-12345678901234567890123456789012345.123456789012345678901234567890",
                          "-12345.678901").replace("123456789012345678901234567890.5", "1234567.5")
                .replace("0.000000000000000000000000000001", "0.000001")
                .replace("99999999999999999999.99999", "99999.99999") for r in rows]
    e.sql("INSERT INTO {t} VALUES " + ", ".join(rows))
    e.sql("INSERT INTO {t} (id, s, big) SELECT 900, 'toasted', " + BIG)
    e.sql("INSERT INTO {t} (id, s) SELECT g, 'plain ' || g FROM generate_series(1000, 1049) g")
    r = e.run()                       # the slot (made by ddl apply) and full
    assert "copying the table in full" in r.err, r
    e.referee()
    # every battery row again (inserts), updates, deletes, a key update
    e.sql("INSERT INTO {t} VALUES " + ", ".join(rows_with(100, rows)))
    e.sql("UPDATE {t} SET (flag, i, d, n, f, r, dt, ts, tz, tm, s, b) = "
          "(SELECT flag, i, d, n, f, r, dt, ts, tz, tm, s, b FROM {t} WHERE id = 2) "
          "WHERE id IN (3, 1000)")
    e.sql("UPDATE {t} SET s = NULL, n = 5 WHERE id = 2")
    e.sql("DELETE FROM {t} WHERE id BETWEEN 1040 AND 1049")
    e.sql("UPDATE {t} SET id = 5000 WHERE id = 1001")
    e.sql("UPDATE {t} SET id = 1001 WHERE id = 1002")      # the freed key taken again
    # an update that leaves the TOASTed column unchanged ('u'): the row is in
    # the destination already, and one inserted and updated in the same run
    e.sql("UPDATE {t} SET s = 'toasted, then updated' WHERE id = 900")
    e.sql("INSERT INTO {t} (id, s, big) SELECT 901, 'new', " + BIG)
    e.sql("UPDATE {t} SET s = 'new, then updated' WHERE id = 901")
    r = e.run()
    assert "0 read" not in r.err, r
    e.referee()
    if dst == "pg":
        got = e.pg.psql(f'SELECT length(big), s FROM "{pgschema}".dst WHERE id = 900',
                        dbname=e.pg.dbname)
        assert got.strip() == "1048576|toasted, then updated", got
    # TRUNCATE empties the destination; later inserts arrive
    e.sql("TRUNCATE {t}")
    e.sql("INSERT INTO {t} (id, s) VALUES (1, 'after truncate'), (2, 'too')")
    r = e.run()
    assert "2 inserted" in r.err, r
    e.referee()
    r = e.run()                       # nothing new: nothing read
    assert "0 read" in r.err, r


# --- a kill mid-apply ---------------------------------------------------------

def test_cdc_sigkill_mid_apply_then_rerun(synctool, tmp_path, pg_server, pgschema):
    e = make_env(synctool, tmp_path, pg_server, pgschema, "pg", extra=", batch_size: 10")
    with open(tmp_path / "pipelines" / "p.yaml", "a") as f:
        f.write("locks: {lease_ttl_seconds: 3}\n")
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 100) g")
    e.run()
    # 100 transactions, one change each: batches of 10 commit one by one
    e.sql("DO $$ BEGIN FOR k IN 1..100 LOOP UPDATE {t} SET n = n + 1, v = 'w' || k "
          "WHERE id = k; COMMIT; END LOOP; END $$")
    e.sql("INSERT INTO {t} VALUES (101, 'new', 1)")
    # the gate: row 75 of the destination is locked, so the batch with it waits
    holder = hold_dst_row(pg_server, pgschema, 75)

    def waiting():
        return e.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                         "AND application_name LIKE 'synctool%'",
                         dbname=e.pg.dbname).strip() != "0"

    base = [BIN, "--config-dir", str(tmp_path)]
    proc = subprocess.Popen(base + ["run", "--job-name", e.name, "--strategy", "cdc"],
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(waiting, "the cdc run to wait on the locked row")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(30)
    done = e.pg.psql(f'SELECT count(*) FROM "{pgschema}".dst WHERE n = 1', dbname=e.pg.dbname)
    assert 0 < int(done) < 100, done           # some batches committed, not all
    r = synctool("run", "--job-name", e.name, "--strategy", "cdc", "--lock-timeout", "60",
                 config_dir=tmp_path)
    assert r.rc == 0, r
    got = e.pg.psql(f'SELECT count(*), count(DISTINCT id), sum(n) FROM "{pgschema}".dst',
                    dbname=e.pg.dbname)
    assert got.strip() == "101|101|101", got
    e.referee()


def test_cdc_sigterm_mid_apply(synctool, tmp_path, pg_server, pgschema):
    """SIGTERM while a batch waits: interrupted, the slot confirmed no further
    than the state's position (the last committed batch); a rerun completes."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "pg", extra=", batch_size: 10")
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 100) g")
    e.run()
    e.sql("DO $$ BEGIN FOR k IN 1..100 LOOP UPDATE {t} SET n = n + 1 WHERE id = k; COMMIT; "
          "END LOOP; END $$")
    holder = hold_dst_row(pg_server, pgschema, 45)
    proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name", e.name,
                             "--strategy", "cdc"],
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: e.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE "
                                   "wait_event_type = 'Lock' AND application_name LIKE "
                                   "'synctool%'", dbname=e.pg.dbname).strip() != "0",
                 "the cdc run to wait on the locked row")
        proc.send_signal(signal.SIGTERM)
    finally:
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(30)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    [row] = [s for s in json.loads(synctool("status", e.name, "--json",
                                            config_dir=tmp_path).out) if s["strategy"] == "cdc"]
    assert row["status"] == "interrupted", row
    done = int(e.pg.psql(f'SELECT count(*) FROM "{pgschema}".dst WHERE n = 1',
                         dbname=e.pg.dbname))
    assert done == 40, done               # the four batches before row 45's
    ok = e.pg.psql("SELECT confirmed_flush_lsn <= '" + row["watermark"] + "'::pg_lsn "
                   "FROM pg_replication_slots WHERE slot_name LIKE 'synctool_" + pgschema + "%'",
                   dbname=e.pg.dbname)
    assert ok.strip() == "t", (ok, row)
    e.run()
    got = e.pg.psql(f'SELECT count(*), sum(n) FROM "{pgschema}".dst', dbname=e.pg.dbname)
    assert got.strip() == "100|100", got
    e.referee()


def test_cdc_writes_racing_the_initial_full(synctool, tmp_path, pg_server, pgschema,
                                            mysql_server, mytable):
    """The initial full is held (its destination, MySQL, locked) after it has
    taken the slot's snapshot; writes made meanwhile are not in the copy and
    come from the slot: after the next run the tables are equal."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "mysql", my=mysql_server)
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 50) g")
    env = dict(os.environ, MYSQL_PWD=mysql_server.password)
    holder = subprocess.Popen(
        ["mariadb", "--no-defaults", "--unbuffered", "-h", mysql_server.host, "-P",
         str(mysql_server.port), "-u", mysql_server.user, mysql_server.dbname],
        stdin=subprocess.PIPE, env=env,
        text=True, stdout=subprocess.PIPE)
    holder.stdin.write(f"LOCK TABLES `{mytable}` WRITE; SELECT 'locked' AS gate;\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "gate"     # the lock is held
    proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name", e.name,
                             "--strategy", "cdc"],
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: mysql_server.sql("SELECT count(*) FROM information_schema.PROCESSLIST "
                                          "WHERE STATE LIKE 'Waiting for table%'").strip()
                 != "0", "the initial full to wait on the locked destination")
        # the snapshot is taken: these writes race the copy
        e.sql("INSERT INTO {t} VALUES (51, 'raced', 1); UPDATE {t} SET v = 'raced' "
              "WHERE id = 10; DELETE FROM {t} WHERE id = 20")
    finally:
        holder.stdin.write("UNLOCK TABLES;\n")
        holder.stdin.close()
        holder.wait(30)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0, err
    got = mysql_server.sql(f"SELECT count(*), sum(v = 'raced') FROM `{mytable}`")
    assert got.split() == ["50", "0"], got      # the copy is the snapshot's
    r = e.run()
    assert "1 inserted, 1 updated, 1 deleted" in r.err, r
    got = mysql_server.sql(f"SELECT count(*), sum(v = 'raced') FROM `{mytable}`")
    assert got.split() == ["50", "2"], got
    e.referee()


def test_cdc_first_run_waits_for_open_transactions_and_sigterm_ends_it(
        synctool, tmp_path, pg_server, pgschema):
    """Creating the slot waits for every transaction open on the server (a
    consistent start); SIGTERM ends that wait (interrupted), and once the
    transaction ended the next run starts the stream."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite")
    assert synctool("cdc", "drop", e.name, config_dir=tmp_path).rc == 0  # the run makes it
    e.sql("INSERT INTO {t} VALUES (1, 'a', 1)")
    holder = psql_session(pg_server, "BEGIN; SELECT txid_current();\n")
    # the transaction is open (has its id) before the run starts
    wait_for(lambda: e.sql("SELECT count(*) FROM pg_stat_activity WHERE state = "
                           "'idle in transaction' AND backend_xid IS NOT NULL").strip() != "0",
             "the open transaction")
    proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name", e.name,
                             "--strategy", "cdc"],
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: e.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE "
                                   "application_name = 'synctool-cdc' AND wait_event_type = "
                                   "'Lock'", dbname=e.pg.dbname).strip() != "0",
                 "the slot's creation to wait for the open transaction")
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 143, err
        assert "interrupted" in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        holder.wait(30)
    r = e.run()
    assert "1 inserted" in r.err, r
    e.referee()


# --- what stops a run ---------------------------------------------------------

def test_cdc_column_added_mid_stream(synctool, tmp_path, pg_server, pgschema):
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite")
    e.sql("INSERT INTO {t} VALUES (1, 'a', 1)")
    e.run()
    e.sql("ALTER TABLE {t} ADD COLUMN extra integer")
    e.sql("INSERT INTO {t} VALUES (2, 'b', 2, 42)")
    r = e.run(ok=False)
    assert r.rc == 1, r
    assert "column 'extra'" in r.err and f"synctool cdc drop {e.name}" in r.err, r
    # the fix the message names: drop, then the next run copies in full
    r = synctool("cdc", "drop", e.name, config_dir=tmp_path)
    assert r.rc == 0 and "dropped replication slot" in r.out, r
    r = e.run()
    assert "created publication and replication slot" in r.err, r
    e.referee()
    e.sql("INSERT INTO {t} VALUES (3, 'c', 3, 43)")
    r = e.run()
    assert "1 inserted" in r.err, r


def test_cdc_dropped_slot(synctool, tmp_path, pg_server, pgschema):
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite")
    e.sql("INSERT INTO {t} VALUES (1, 'a', 1)")
    e.run()
    e.sql(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
          f"WHERE slot_name LIKE 'synctool_{pgschema}%'")
    r = e.run(ok=False)
    assert r.rc == 1, r
    slotname = e.sql("SELECT 'synctool_' || left(lower('" + e.name + "'), 40)").strip()
    assert f"replication slot {slotname}_" in r.err and "does not exist" in r.err, r
    assert f"synctool cdc drop {e.name}" in r.err, r
    assert f"synctool reset {e.name} --drop-slot" in r.err, r
    r = synctool("check", e.name, "--json", config_dir=tmp_path)
    [p] = [p for p in json.loads(r.out)["pipelines"] if p["pipeline"] == e.name]
    [slot] = [c for c in p["checks"] if c["check"] == "cdc_slot"]
    assert slot["status"] == "problem" and "no longer exists" in slot["message"], slot
    assert f"synctool cdc drop {e.name}" in slot["message"], slot
    r = synctool("cdc", "drop", e.name, config_dir=tmp_path)
    assert r.rc == 0 and "no replication slot" in r.out and "dropped publication" in r.out, r
    e.run()
    e.referee()


def test_cdc_no_change_peeks_and_advances(synctool, tmp_path, pg_server, pgschema):
    """A run with no change of the table while the source's WAL moved on
    (writes to another table of the same database) decodes the slot on the
    source session without a stream, advances the slot to the run's start
    (a quiet table holds no WAL back), and the next change still arrives."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite")
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 10) g")
    e.run()
    e.sql(f'CREATE TABLE "{pgschema}".other (id int); '
          f'INSERT INTO "{pgschema}".other SELECT generate_series(1, 100)')
    before = e.sql("SELECT pg_current_wal_insert_lsn()").strip()
    r = e.run()
    assert "no changes" in r.err and "peeked, slot advanced" in r.err, r
    assert "0 read" in r.err, r
    ok = e.sql(f"SELECT confirmed_flush_lsn >= '{before}'::pg_lsn FROM pg_replication_slots "
               f"WHERE slot_name LIKE 'synctool_{pgschema}%'").strip()
    assert ok == "t", ok
    e.sql("UPDATE {t} SET n = 5 WHERE id = 3; DELETE FROM {t} WHERE id = 4")
    r = e.run()
    assert "2 read" in r.err and "1 updated, 1 deleted" in r.err, r
    e.referee()


def slot_streamed(e):
    """Transactions the slot's decodings streamed in progress (PostgreSQL
    15: a backend's decoding statistics are in shared memory when its
    decoding ends)."""
    return int(e.sql(f"SELECT coalesce(sum(s.stream_txns), 0) FROM pg_stat_replication_slots s "
                     f"WHERE s.slot_name LIKE 'synctool_{e.schema}%'").strip())


def test_cdc_peek_stops_inside_a_large_transaction(synctool, tmp_path, pg_server, pgschema):
    """A run whose WAL range is small enough to peek, holding one large
    transaction of the table: the peek (PostgreSQL 15+) asks pgoutput for
    the first change only, with in-progress transactions streamed past 64kB
    of decoding, so it stops inside the transaction instead of decoding and
    materialising all of it before the stream decodes it again. Seen in the
    slot's statistics (the peek streamed a transaction; the stream itself
    runs protocol 1, which never streams); then the stream applies every
    change and hash finds nothing. Fails on the peek that decoded the whole
    range (stream_txns stayed 0)."""
    if int(pg_server.psql("SHOW server_version_num").strip()) < 150000:
        pytest.skip("the first-change peek needs PostgreSQL 15")
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite")
    e.sql("INSERT INTO {t} SELECT g, repeat('v', 100), 0 FROM generate_series(1, 3000) g")
    e.run()
    before = slot_streamed(e)
    e.sql("UPDATE {t} SET n = n + 1, v = repeat('w', 100)")   # one transaction, ~0.5 MB of WAL
    r = e.run()
    assert "3000 read" in r.err and "3000 updated" in r.err, r
    assert "peeked" not in r.err, r
    assert slot_streamed(e) > before, "the peek did not stop inside the transaction"
    e.referee()


def test_cdc_peek_after_unflushed_writes(synctool, tmp_path):
    """synchronous_commit = off and the WAL writer held (SIGSTOP): a write
    of 1000 rows to another table leaves the source's WAL unflushed when the
    run starts. The run's one-statement flush (a synchronous commit of its
    own) makes the stop decodable, and the other table's transaction, large
    enough to be streamed by the peek (an empty Stream Start and Stop), is
    not taken for a change: the quiet table is peeked and the slot advanced
    on the source session, with no stream. A private server: stopping the
    shared one's WAL writer would disturb other tests."""
    import servers
    pg = servers.Postgres()
    walwriter = None
    try:
        schema = "cdc_unflushed"
        pg.psql(f'CREATE SCHEMA "{schema}"')
        e = make_env(synctool, tmp_path, pg, schema, "sqlite")
        e.sql("INSERT INTO {t} VALUES (1, 'a', 1)")
        e.run()
        walwriter = int(pg.psql("SELECT pid FROM pg_stat_activity "
                                "WHERE backend_type = 'walwriter'").strip())
        os.kill(walwriter, signal.SIGSTOP)
        e.sql(f'CREATE TABLE "{schema}".other (id int); '
              f'INSERT INTO "{schema}".other SELECT generate_series(1, 1000)')
        unflushed = e.sql("SELECT pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()")
        assert unflushed.strip() == "t"   # the held state this test is about
        r = e.run()
        assert "peeked, slot advanced" in r.err and "0 read" in r.err, r
        os.kill(walwriter, signal.SIGCONT)
        walwriter = None
        e.sql("UPDATE {t} SET n = 2")
        r = e.run()
        assert "1 read" in r.err and "1 updated" in r.err, r
    finally:
        if walwriter is not None:
            os.kill(walwriter, signal.SIGCONT)
        pg.stop()


def test_cdc_max_slot_lag(synctool, tmp_path, pg_server, pgschema):
    """Scheduled runs: the one that finds the slot retaining more than
    max_slot_lag fails loudly and the `failed` webhook is delivered."""
    from test_alerts import Receiver
    hook = Receiver()
    try:
        e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite",
                     extra=", max_slot_lag: 64kB, cron: \"0 * * * *\"")
        with open(tmp_path / "datastores.yaml", "a") as f:
            f.write(f"notify:\n  webhooks:\n    - {{url: \"{hook.url()}\"}}\n"
                    "  timeout_seconds: 5\n")
        r = synctool("scheduler", "--once", "--at", "2025-10-15T10:00:05Z", config_dir=tmp_path)
        assert r.rc == 0, r
        e.sql("INSERT INTO {t} SELECT g, repeat('x', 100), g FROM generate_series(1, 5000) g")
        r = synctool("scheduler", "--once", "--at", "2025-10-15T11:00:05Z", config_dir=tmp_path)
        assert r.rc == 1, r
        assert "more than max_slot_lag (65536)" in r.err, r
        # the failed run, and the slot past max_slot_lag as a freshness error
        # (test_cdc_surface checks that alert)
        assert sorted(hook.events()) == [("failed", "failed"), ("freshness", "error")], \
            hook.bodies
        [a] = [b for b in hook.bodies if b["event"] == "failed"]
        assert a["pipeline"] == e.name and a["strategy"] == "cdc", a
        assert "more than max_slot_lag (65536)" in a["error"], a
        assert f"synctool cdc drop {e.name}" in a["error"], a
        r = e.run(ok=False)                  # a manual run says the same
        assert r.rc == 1 and "more than max_slot_lag (65536)" in r.err, r
    finally:
        hook.stop()


def test_cdc_validate_refuses_mysql_source(synctool, tmp_path, mysql_server):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n" + my_ds(mysql_server, "my") + "  lite: {type: sqlite, path: b.db}\n")
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "name: p\nsource: {datastore: my, table: t}\ndestination: {datastore: lite, table: t}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n"
        "strategies:\n  - {name: c, type: cdc}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert "needs a PostgreSQL source" in r.out + r.err, r
    assert "cdc supports: PostgreSQL" in r.out + r.err, r


def test_cdc_validate_refuses_where_and_expr(synctool, tmp_path, pg_server):
    """cdc applies row changes as they come: a filter or a computed column
    would need the row re-evaluated (a row leaving the filter), so validate
    refuses them rather than copying wrong rows."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n" + pg_ds(pg_server, "pg") + "  lite: {type: sqlite, path: b.db}\n")
    for src, col in (("{datastore: pg, table: t, where: \"id > 0\"}", ""),
                     ("{datastore: pg, table: t}", "  - {name: x, type: bigint, expr: \"id * 2\"}\n")):
        (tmp_path / "pipelines" / "p.yaml").write_text(
            f"name: p\nsource: {src}\ndestination: {{datastore: lite, table: t}}\n"
            "columns:\n  - {name: id, type: bigint, key: true}\n" + col +
            "strategies:\n  - {name: c, type: cdc}\n")
        r = synctool("validate", config_dir=tmp_path)
        assert r.rc == 2, r
        assert "source.where and column expr are not supported with it" in r.out + r.err, r


def test_cdc_max_slot_lag_only_on_cdc(synctool, tmp_path):
    write_sqlite_pair(
        tmp_path,
        "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n"
        "strategies:\n  - {name: f, type: full, max_slot_lag: 1GB}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2 and "max_slot_lag: only valid for cdc strategies" in r.out + r.err, r


def test_cdc_check(synctool, tmp_path, pg_server, pgschema):
    """check: wal_level, the REPLICATION attribute, the slot and the WAL it
    retains, and synctool slots that belong to no pipeline."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite", extra=", max_slot_lag: 1GB")
    assert synctool("cdc", "drop", e.name, config_dir=tmp_path).rc == 0  # undo ddl apply's
    orphan = f"synctool_{pgschema}_orphan"
    e.sql(f"SELECT pg_create_logical_replication_slot('{orphan}', 'pgoutput')")

    def checks():
        r = synctool("check", e.name, "--json", config_dir=tmp_path)
        [p] = [p for p in json.loads(r.out)["pipelines"] if p["pipeline"] == e.name]
        return {c["check"]: c for c in p["checks"]}

    c = checks()
    assert c["cdc_wal_level"]["status"] == "ok", c
    assert c["cdc_replication"]["status"] == "ok", c
    assert "does not exist yet" in c["cdc_slot"]["message"], c
    assert c["cdc_orphan_slots"]["status"] == "warning", c
    assert orphan in c["cdc_orphan_slots"]["message"], c
    e.run()
    c = checks()
    assert "bytes of WAL" in c["cdc_slot"]["message"] and c["cdc_slot"]["status"] == "ok", c
    assert e.name.lower() not in c["cdc_orphan_slots"]["message"], c


def psql_session(pg, sql):
    """A psql session that has been sent `sql` and stays open (a gate: an
    open transaction, a held lock) until its stdin is closed."""
    env = dict(os.environ, PGPASSWORD=pg.password)
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-d",
         pg.dbname], stdin=subprocess.PIPE, env=env, text=True, stdout=subprocess.DEVNULL)
    holder.stdin.write(sql)
    holder.stdin.flush()
    return holder


def hold_dst_row(pg, schema, key):
    """A psql session holding a row lock on the destination (the gate)."""
    return psql_session(pg, f'BEGIN; SELECT * FROM "{schema}".dst WHERE id = {key} '
                            'FOR UPDATE;\n')


def release(holder):
    holder.stdin.write("ROLLBACK;\n")
    holder.stdin.close()
    holder.wait(30)


def run_waiting_on_lock(pg):
    return pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND application_name LIKE 'synctool%'", dbname=pg.dbname).strip() != "0"


def slot_count(e):
    return e.sql(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE "
                 f"'synctool_{e.schema}%'").strip()


def test_cdc_reset_drop_slot(synctool, tmp_path, pg_server, pgschema):
    """reset --drop-slot is refused while a run holds the pipeline lock (exit
    75, nothing dropped); after a failure (slot dropped behind synctool's
    back) it drops the publication, forgets the position and clears the
    failure; the next run copies in full."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "pg")
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 10) g")
    e.run()
    e.sql("UPDATE {t} SET n = 1 WHERE id = 5")
    holder = hold_dst_row(pg_server, pgschema, 5)
    proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name", e.name,
                             "--strategy", "cdc"],
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: run_waiting_on_lock(pg_server), "the cdc run to wait on the row")
        r = synctool("reset", e.name, "--drop-slot", config_dir=tmp_path)
        assert r.rc == 75, r
        assert "is running" in r.err and f"synctool reset {e.name} --drop-slot" in r.err, r
        assert slot_count(e) == "1"
    finally:
        release(holder)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, err
    # a failure: the slot dropped behind synctool's back
    e.sql(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
          f"WHERE slot_name LIKE 'synctool_{pgschema}%'")
    assert e.run(ok=False).rc == 1
    r = synctool("reset", e.name, "--drop-slot", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "no replication slot" in r.out and "dropped publication" in r.out, r
    assert f"{e.name}:cdc: reset (was failed" in r.out, r
    [row] = [s for s in json.loads(synctool("status", e.name, "--json",
                                            config_dir=tmp_path).out) if s["strategy"] == "cdc"]
    assert row["status"] == "idle" and not row.get("watermark"), row
    e.sql("INSERT INTO {t} VALUES (11, 'new', 0)")
    r = e.run()
    assert "created publication and replication slot" in r.err, r
    e.referee()
    # with a healthy slot: dropped, and WAL no longer retained
    r = synctool("reset", e.name, "--drop-slot", config_dir=tmp_path)
    assert r.rc == 0 and "dropped replication slot" in r.out, r
    assert slot_count(e) == "0"


def test_cdc_reset_drop_slot_needs_cdc(synctool, tmp_path, pg_server, pgschema):
    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite")
    r = synctool("reset", e.name, "--strategy", "hash", "--drop-slot", config_dir=tmp_path)
    assert r.rc == 2 and "--drop-slot: strategy 'hash'" in r.err, r
    assert "is not a cdc strategy" in r.err, r


def test_cdc_max_slot_lag_counts_wal_not_yet_written(synctool, tmp_path):
    """Under synchronous_commit = off (the harness's servers; many users'
    too) a commit leaves its WAL in the server's buffers until the WAL
    writer writes it: pg_current_wal_lsn() (the write position) lags the
    insert position. The slot's retained WAL is measured from the insert
    position, so a run right after a large write still sees it (it once
    measured from the write position and let the run through — the CI
    failure of test_slot_freshness_webhook). Held, not timed: the WAL writer
    is stopped (SIGSTOP) while the rows are written and the run starts. A
    private server: stopping the shared one's WAL writer would disturb
    other tests."""
    import servers
    pg = servers.Postgres()
    walwriter = None
    try:
        schema = "cdc_unwritten"
        pg.psql(f'CREATE SCHEMA "{schema}"')
        e = make_env(synctool, tmp_path, pg, schema, "sqlite", extra=", max_slot_lag: 64kB")
        e.run()
        walwriter = int(pg.psql("SELECT pid FROM pg_stat_activity "
                                "WHERE backend_type = 'walwriter'").strip())
        os.kill(walwriter, signal.SIGSTOP)
        e.sql("INSERT INTO {t} SELECT g, repeat('x', 100), g FROM generate_series(1, 5000) g")
        unwritten = int(float(pg.psql("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), "
                                      "pg_current_wal_lsn())").strip()))
        assert unwritten > 64 * 1024, unwritten    # the held state this test is about
        r = e.run(ok=False)
        assert r.rc == 1 and "more than max_slot_lag (65536)" in r.err, r
    finally:
        if walwriter is not None:
            os.kill(walwriter, signal.SIGCONT)
        pg.stop()


def test_cdc_source_restart_mid_run(synctool, tmp_path):
    """The source server restarts while a run waits (a row of the destination,
    on the same server, is locked): the run fails with an error naming the
    datastore, or finishes; the next run makes the destination equal to the
    source and hash finds nothing. A private server: restarting the shared
    one would disturb other tests."""
    import servers
    pg = servers.Postgres()
    try:
        schema = "cdc_restart"
        pg.psql(f'CREATE SCHEMA "{schema}"')
        e = make_env(synctool, tmp_path, pg, schema, "pg", extra=", batch_size: 10")
        e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 100) g")
        e.run()
        e.sql("DO $$ BEGIN FOR k IN 1..100 LOOP UPDATE {t} SET n = n + 1 WHERE id = k; "
              "COMMIT; END LOOP; END $$")
        holder = hold_dst_row(pg, schema, 45)
        proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name",
                                 e.name, "--strategy", "cdc"],
                                env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: run_waiting_on_lock(pg), "the cdc run to wait on the row")
            pg._run([servers._pg_bin("pg_ctl"), "-D", pg.data, "-m", "fast", "-w", "-t", "60",
                     "restart"])
        finally:
            holder.stdin.close()             # the session ended with the restart
            holder.wait(30)
        err = proc.communicate(timeout=120)[1]
        if proc.returncode != 0:
            assert proc.returncode == 1, err
            assert "datastore 'src'" in err and "failed" in err, err
        e.sql("INSERT INTO {t} VALUES (101, 'after', 1)")
        e.run()
        got = e.sql(f'SELECT count(*), sum(n) FROM "{schema}".dst')
        assert got.strip() == "101|101", got
        e.referee()
    finally:
        pg.stop()


def test_cdc_continuous(synctool, tmp_path, pg_server, pgschema):
    """continuous: true keeps the run streaming after it drained: changes made
    while it runs reach the destination (waited for by polling it, with a
    deadline); status says running; SIGTERM ends it interrupted with the
    slot confirmed exactly up to the saved position; hash finds nothing."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "pg", extra=", continuous: true")
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 10) g")
    proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name", e.name,
                             "--strategy", "cdc"],
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dst = f'"{pgschema}".dst'

    def dst_is(want):
        def check():
            assert proc.poll() is None, proc.communicate()[1]
            return e.sql(f"SELECT count(*) || '|' || coalesce(sum(n), 0) || '|' || "
                         f"coalesce(string_agg(v, ',' ORDER BY id), '') FROM {dst}").strip() \
                == want
        return check

    try:
        want = "10|0|" + ",".join(f"v{i}" for i in range(1, 11))
        wait_for(dst_is(want), "the initial copy")
        [row] = [s for s in json.loads(synctool("status", e.name, "--json",
                                                config_dir=tmp_path).out)
                 if s["strategy"] == "cdc"]
        assert row["status"] == "running", row
        e.sql("INSERT INTO {t} VALUES (11, 'new', 5)")
        e.sql("UPDATE {t} SET n = 1, v = 'upd' WHERE id <= 3")
        e.sql("DELETE FROM {t} WHERE id BETWEEN 8 AND 10")
        want = "8|8|upd,upd,upd,v4,v5,v6,v7,new"
        wait_for(dst_is(want), "the streamed changes in the destination")
        e.sql("UPDATE {t} SET v = 'again' WHERE id = 4")     # a second round, same stream
        wait_for(dst_is(want.replace("v4", "again")), "the second change")

        def progress_written():
            [row] = [s for s in json.loads(synctool("status", e.name, "--json",
                                                    config_dir=tmp_path).out)
                     if s["strategy"] == "cdc"]
            assert row["status"] == "running", row
            # the copy's 10, then 1 + 3 + 3 + 1 streamed
            return row["progress"] is not None and row["progress"]["rows_written"] == 18
        wait_for(progress_written, "the run's progress to count the streamed rows")
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "continuous: streaming changes" in err, err
    h = json.loads(synctool("history", e.name, "--strategy", "cdc", "--json",
                            config_dir=tmp_path).out)
    assert h[0]["status"] == "interrupted", h[0]
    [row] = [s for s in json.loads(synctool("status", e.name, "--json",
                                            config_dir=tmp_path).out) if s["strategy"] == "cdc"]
    assert row["status"] == "interrupted", row
    ok = e.sql("SELECT confirmed_flush_lsn = '" + row["watermark"] + "'::pg_lsn "
               "FROM pg_replication_slots WHERE slot_name LIKE 'synctool_" + pgschema + "%'")
    assert ok.strip() == "t", (ok, row)
    e.referee()


def test_cdc_continuous_only_on_cdc(synctool, tmp_path):
    write_sqlite_pair(
        tmp_path,
        "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n"
        "strategies:\n  - {name: f, type: full, continuous: true}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert "pipelines/p.yaml:7:27: strategies[0].continuous: only valid for cdc strategies" in r.out + r.err, r


def test_cdc_slot_from_ddl_apply(synctool, tmp_path, pg_server, pgschema):
    """ddl plan says it will make the publication and the slot, ddl apply
    makes them; writes between ddl apply and the first run, and writes racing
    the first run's copy (held by a lock on the destination), each appear
    exactly once; hash finds nothing."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "pg")
    assert synctool("cdc", "drop", e.name, config_dir=tmp_path).rc == 0
    r = synctool("ddl", "plan", e.name, config_dir=tmp_path)
    assert r.rc == 0, r
    assert "CREATE PUBLICATION" in r.out and "CREATE_REPLICATION_SLOT" in r.out, r
    assert slot_count(e) == "0"
    r = synctool("ddl", "apply", e.name, config_dir=tmp_path)
    assert r.rc == 0 and "created publication and replication slot" in r.out, r
    assert slot_count(e) == "1"
    r = synctool("ddl", "plan", e.name, config_dir=tmp_path)
    assert r.rc == 0 and "CREATE_REPLICATION_SLOT" not in r.out, r
    r = synctool("ddl", "apply", e.name, config_dir=tmp_path)   # again: the slot is kept
    assert r.rc == 0 and "replication slot" not in r.out, r
    # writes between ddl apply and the first run
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 50) g")
    e.sql("UPDATE {t} SET n = 1 WHERE id <= 5")
    e.sql("DELETE FROM {t} WHERE id = 50")
    # the gate: writes to the destination wait while this session holds the table
    holder = psql_session(pg_server, f'BEGIN; LOCK TABLE "{pgschema}".dst IN SHARE MODE;\n')
    wait_for(lambda: e.sql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = "
                           "l.relation WHERE c.relname = 'dst' AND l.mode = 'ShareLock' "
                           "AND l.granted").strip() != "0", "the gate")
    proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name", e.name,
                             "--strategy", "cdc"],
                            env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: run_waiting_on_lock(pg_server), "the first run's copy to wait")
        e.sql("INSERT INTO {t} VALUES (51, 'raced', 1); UPDATE {t} SET v = 'raced' "
              "WHERE id = 10; DELETE FROM {t} WHERE id = 20")
    finally:
        release(holder)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0, err
    assert "was made by ddl apply" in err, err
    e.run()
    want = e.sql("SELECT count(*), sum(n), string_agg(v, ',' ORDER BY id) FROM {t}")
    got = e.sql(f'SELECT count(*), sum(n), string_agg(v, \',\' ORDER BY id) FROM "{pgschema}".dst')
    assert got == want, (got, want)
    assert got.startswith("49|6|"), got        # 1..51 without 20 and 50; n: 5 + 1
    assert e.sql(f'SELECT count(*) FROM "{pgschema}".dst WHERE v = \'raced\'').strip() == "2"
    e.referee()


def test_cdc_continuous_sigterm_mid_batch(synctool, tmp_path, pg_server, pgschema):
    """SIGTERM while a continuous run's batch waits (a destination row is
    locked): interrupted, the slot confirmed no further than the saved
    position, the waiting batch not applied; the next run converges."""
    e = make_env(synctool, tmp_path, pg_server, pgschema, "pg",
                 extra=", continuous: true, batch_size: 10")
    e.sql("INSERT INTO {t} SELECT g, 'v' || g, 0 FROM generate_series(1, 100) g")
    dst = f'"{pgschema}".dst'

    def start():
        return subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name",
                                 e.name, "--strategy", "cdc"],
                                env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stop(proc, holder=None):
        proc.send_signal(signal.SIGTERM)
        if holder:      # the batch ends its statement, sees the interrupt, rolls back
            release(holder)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 143, err

    proc = start()
    try:
        wait_for(lambda: e.sql(f"SELECT count(*) FROM {dst}").strip() == "100", "the copy")
        holder = hold_dst_row(pg_server, pgschema, 95)
        try:
            e.sql("DO $$ BEGIN FOR k IN 1..100 LOOP UPDATE {t} SET n = 1 WHERE id = k; "
                  "COMMIT; END LOOP; END $$")
            wait_for(lambda: run_waiting_on_lock(pg_server), "a batch to wait on row 95")
            stop(proc, holder)
        finally:
            if holder.poll() is None and not holder.stdin.closed:
                release(holder)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    [row] = [s for s in json.loads(synctool("status", e.name, "--json",
                                            config_dir=tmp_path).out) if s["strategy"] == "cdc"]
    assert row["status"] == "interrupted", row
    ok = e.sql("SELECT confirmed_flush_lsn <= '" + row["watermark"] + "'::pg_lsn "
               "FROM pg_replication_slots WHERE slot_name LIKE 'synctool_" + pgschema + "%'")
    assert ok.strip() == "t", (ok, row)
    done = int(e.sql(f"SELECT count(*) FROM {dst} WHERE n = 1"))
    assert done < 100, done                  # row 95's batch was not applied
    e.sql("INSERT INTO {t} VALUES (101, 'after', 1)")
    proc = start()
    try:
        wait_for(lambda: e.sql(f"SELECT count(*), sum(n) FROM {dst}").strip() == "101|101",
                 "the rerun to converge")
        stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    e.referee()
