"""End-to-end: `delta` never loses a late commit (issue 23, item 1; DESIGN §7).

A transaction writes rows stamped by the server's clock (now() /
CURRENT_TIMESTAMP) and stays open across two delta runs while other rows,
committed meanwhile with later stamps, move the watermark; then it commits
and the next delta must copy its rows. Before the watermark was capped at
the oldest open transaction these rows were behind it and never copied.

The open transaction is a psql / mariadb client fed through a pipe; the
test waits until the server shows it holding its writes (a state, not a
sleep), and commits it by writing COMMIT. Also: a role that cannot see
other sessions' transactions (no pg_read_all_stats / PROCESS) falls back
to a lookback and `check` says which grant is missing; a cursor without a
server-clock default gets a `check` warning.
"""
import json
import os
import sqlite3
import subprocess
import time
import uuid

import pytest


def wait_for(cond, what, on_timeout=None, timeout=60.0, interval=0.02):
    """Polls a server state until cond() is true (generous upper bound).
    INNODB_TRX is a cache InnoDB refreshes only when it has not been read
    for 0.1 s: poll it more slowly than that, or it never changes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    if on_timeout:
        on_timeout()
    raise AssertionError(f"timed out waiting for {what}")


def write_config(synctool, root, ds, src, col_type="timestamptz"):
    """The pipeline a (source) -> b (SQLite), its destination table made."""
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "datastores.yaml").write_text(
        "datastores:\n" + ds + "  b: {type: sqlite, path: data/b.db}\n")
    (root / "pipelines" / "p.yaml").write_text(
        f"name: p\nsource: {src}\ndestination: {{datastore: b, table: dst}}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "  - {name: v, type: text}\n"
        f"  - {{name: updated_at, type: {col_type}}}\n"
        "strategies:\n"
        "  - {name: delta, type: delta, cursor: updated_at, batch_size: 2}\n"
        "  - {name: hash, type: hash}\n")
    r = synctool("ddl", "apply", "p", config_dir=root)
    assert r.rc == 0, r


def run(synctool, root, strategy="delta"):
    r = synctool("run", "--job-name", "p", "--strategy", strategy, config_dir=root)
    assert r.rc == 0, r
    return r


def dst_rows(root):
    db = sqlite3.connect(root / "data" / "b.db")
    rows = dict(db.execute("SELECT id, v FROM dst").fetchall())
    db.close()
    return rows


def checks(r):
    assert r.rc == 0, r
    [p] = json.loads(r.out)["pipelines"]
    return {c["check"]: c for c in p["checks"]}


# --- PostgreSQL ---

@pytest.fixture
def pgschema(pg_server):
    name = "late_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
    yield name
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


@pytest.fixture
def pgrole(pg_server):
    """A login role with no pg_read_all_stats (dropped afterwards)."""
    name = "late_" + uuid.uuid4().hex[:10]
    pg_server.psql(f"CREATE ROLE {name} LOGIN PASSWORD 'late-pw'", dbname=pg_server.dbname)
    yield name
    pg_server.psql(f"DROP OWNED BY {name}; DROP ROLE {name}", dbname=pg_server.dbname)


def pg_ds(pg, user=None, password=None):
    return (f"  a: {{type: postgres, connection: {{host: {pg.host}, port: {pg.port}, "
            f"user: {user or pg.user}, password: \"{password or pg.password}\", "
            f"dbname: {pg.dbname}}}}}\n")


def pg_table(pg, schema, default="DEFAULT now()"):
    pg.psql(f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, v text, '
            f'updated_at timestamptz NOT NULL {default}); '
            f'CREATE INDEX ON "{schema}".src (updated_at, id); '
            f'INSERT INTO "{schema}".src (id, v) VALUES (1, \'one\')', dbname=pg.dbname)


class PgOpenTxn:
    """A psql session holding a transaction open until commit()."""

    def __init__(self, pg, sql):
        self.pg = pg
        self.app = "late_writer_" + uuid.uuid4().hex[:8]
        env = dict(os.environ, PGPASSWORD=pg.password, PGAPPNAME=self.app)
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.host, "-p", str(pg.port),
             "-U", pg.user, "-d", pg.dbname], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
        self.proc.stdin.write("BEGIN;\n" + sql + "\n")
        self.proc.stdin.flush()
        wait_for(lambda: pg.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
            f"'{self.app}' AND state = 'idle in transaction' AND backend_xid IS NOT NULL",
            dbname=pg.dbname).strip() == "1", "the open transaction's writes", self.kill)

    def commit(self):
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        assert self.proc.wait(60) == 0, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def late_commit_scenario(synctool, root, exec_src, open_txn, held_log):
    """Rows 1..3 commit around a transaction T that inserts 100 and updates
    1 with the server's clock and stays open across two delta runs."""
    r = run(synctool, root)
    assert dst_rows(root) == {1: "one"}, r
    txn = open_txn()
    try:
        exec_src("INSERT INTO {t} (id, v) VALUES (2, 'two')")   # stamped after T began
        r = run(synctool, root)
        assert dst_rows(root) == {1: "one", 2: "two"}
        assert held_log in r.err, r
        exec_src("INSERT INTO {t} (id, v) VALUES (3, 'three')")
        r = run(synctool, root)
        assert dst_rows(root) == {1: "one", 2: "two", 3: "three"}
        assert held_log in r.err, r
        txn.commit()
    finally:
        txn.kill()
    r = run(synctool, root)   # T's rows are older than rows 2 and 3, yet copied
    assert dst_rows(root) == {1: "late", 2: "two", 3: "three", 100: "late"}, r
    r = run(synctool, root, "hash")
    assert "0 inserted, 0 updated, 0 deleted" in r.err, r


def test_pg_late_commit_is_copied(synctool, tmp_path, pg_server, pgschema):
    pg_table(pg_server, pgschema)
    write_config(synctool, tmp_path, pg_ds(pg_server), f"{{datastore: a, schema: {pgschema}, table: src}}")
    t = f'"{pgschema}".src'

    def exec_src(sql):
        pg_server.psql(sql.format(t=t), dbname=pg_server.dbname)

    def open_txn():
        return PgOpenTxn(pg_server, f"INSERT INTO {t} (id, v) VALUES (100, 'late'); "
                                    f"UPDATE {t} SET v = 'late', updated_at = now() WHERE id = 1;")

    late_commit_scenario(synctool, tmp_path, exec_src, open_txn,
                         "may still commit rows stamped from then on")
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["late_commits"]["status"] == "ok", c
    assert c["cursor_stamp"]["status"] == "ok", c


def test_pg_role_without_pg_read_all_stats_falls_back(synctool, tmp_path, pg_server, pgschema,
                                                      pgrole):
    """The role cannot see the superuser's open transaction: delta holds the
    watermark SYNC_DELTA_BLIND_LOOKBACK_S before the server's time instead
    (still copies the late rows), and `check` names the missing grant."""
    pg_table(pg_server, pgschema)
    pg_server.psql(f'GRANT USAGE ON SCHEMA "{pgschema}" TO {pgrole}; '
                   f'GRANT SELECT ON "{pgschema}".src TO {pgrole}', dbname=pg_server.dbname)
    write_config(synctool, tmp_path, pg_ds(pg_server, pgrole, "late-pw"),
                 f"{{datastore: a, schema: {pgschema}, table: src}}")
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["late_commits"]["status"] == "warning", c
    assert "grant pg_read_all_stats" in c["late_commits"]["message"], c
    assert "reads the last 300 s again every run" in c["late_commits"]["message"], c
    t = f'"{pgschema}".src'

    def exec_src(sql):
        pg_server.psql(sql.format(t=t), dbname=pg_server.dbname)

    def open_txn():
        return PgOpenTxn(pg_server, f"INSERT INTO {t} (id, v) VALUES (100, 'late'); "
                                    f"UPDATE {t} SET v = 'late', updated_at = now() WHERE id = 1;")

    late_commit_scenario(synctool, tmp_path, exec_src, open_txn, "(grant pg_read_all_stats)")
    pg_server.psql(f"GRANT pg_read_all_stats TO {pgrole}", dbname=pg_server.dbname)
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["late_commits"]["status"] == "ok", c


def test_check_warns_on_application_set_cursor(synctool, tmp_path, pg_server, pgschema):
    pg_table(pg_server, pgschema, default="DEFAULT '2025-01-01'")
    write_config(synctool, tmp_path, pg_ds(pg_server), f"{{datastore: a, schema: {pgschema}, table: src}}")
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["cursor_stamp"]["status"] == "warning", c
    msg = c["cursor_stamp"]["message"]
    assert "no default of now()/CURRENT_TIMESTAMP and no trigger" in msg, c
    assert "caught only by lookback_seconds (now 0)" in msg, c
    # a trigger that may set it is enough
    pg_server.psql(f'CREATE FUNCTION "{pgschema}".stamp() RETURNS trigger LANGUAGE plpgsql AS '
                   "$$BEGIN NEW.updated_at := now(); RETURN NEW; END$$; "
                   f'CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON "{pgschema}".src '
                   f'FOR EACH ROW EXECUTE FUNCTION "{pgschema}".stamp()', dbname=pg_server.dbname)
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["cursor_stamp"]["status"] == "ok", c
    # an integer cursor (a sequence) comes from no clock: lookback only
    yaml = tmp_path / "pipelines" / "p.yaml"
    yaml.write_text(yaml.read_text().replace("cursor: updated_at", "cursor: id"))
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["cursor_stamp"]["status"] == "warning", c
    assert "cursor id is not a timestamp or date" in c["cursor_stamp"]["message"], c


# --- MariaDB ---

@pytest.fixture
def mydb(mysql_server):
    name = "late_" + uuid.uuid4().hex[:10]
    mysql_server.sql(f"CREATE DATABASE `{name}`")
    yield name
    mysql_server.sql(f"DROP DATABASE `{name}`")


@pytest.fixture
def myuser(mysql_server):
    name = "late_" + uuid.uuid4().hex[:10]
    mysql_server.sql(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'late-pw'")
    yield name
    mysql_server.sql(f"DROP USER '{name}'@'%'")


def my_ds(my, db, user=None, password=None):
    return (f"  a: {{type: mysql, connection: {{host: {my.host}, port: {my.port}, "
            f"user: {user or my.user}, password: \"{password or my.password}\", "
            f"dbname: {db}}}}}\n")


def my_table(my, db):
    my.sql(f"CREATE TABLE `{db}`.src (id bigint PRIMARY KEY, v text, "
           "updated_at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
           f"KEY (updated_at, id)) ENGINE=InnoDB; INSERT INTO `{db}`.src (id, v) VALUES (1, 'one')")


class MyOpenTxn:
    """A mariadb client that writes `sql` in a transaction, then waits for a
    named lock the test holds (in a second session, asleep) before its
    COMMIT; commit() kills the holder, which frees the lock."""

    def __init__(self, my, db, sql):
        self.my, self.db = my, db
        self.lock = "late_" + uuid.uuid4().hex[:8]
        self.holder = self._client(f"SELECT GET_LOCK('{self.lock}', 0); SELECT SLEEP(600)")
        wait_for(lambda: self._ids("SELECT SLEEP(600)"), "the lock holder", self.kill)
        self.writer = self._client(f"BEGIN; {sql} SELECT GET_LOCK('{self.lock}', 600); COMMIT")
        wait_for(lambda: my.sql(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_modified = 2 "
            "AND trx_query LIKE 'SELECT GET_LOCK%'", dbname=db).strip() == "1",
            "the open transaction's writes", self.kill, interval=0.25)

    def _client(self, sql):
        return subprocess.Popen(
            ["mariadb", "--no-defaults", "-h", self.my.host, "-P", str(self.my.port), "-u",
             self.my.user, self.db, "-e", sql], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=dict(os.environ, MYSQL_PWD=self.my.password), text=True)

    def _ids(self, info):
        return self.my.sql("SELECT ID FROM information_schema.PROCESSLIST "
                           f"WHERE INFO = '{info}'").split()

    def commit(self):
        for tid in self._ids("SELECT SLEEP(600)"):
            self.my.sql(f"KILL {tid}")
        assert self.writer.wait(60) == 0, self.writer.stderr.read()

    def kill(self):
        for p in (getattr(self, "writer", None), self.holder):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def my_scenario(synctool, root, my, db, held_log):
    def exec_src(sql):
        my.sql(sql.format(t="src"), dbname=db)

    def open_txn():
        return MyOpenTxn(my, db, "INSERT INTO src (id, v) VALUES (100, 'late'); "
                                 "UPDATE src SET v = 'late', updated_at = NOW(6) WHERE id = 1;")

    late_commit_scenario(synctool, root, exec_src, open_txn, held_log)


def test_mariadb_late_commit_is_copied(synctool, tmp_path, mysql_server, mydb):
    my_table(mysql_server, mydb)
    write_config(synctool, tmp_path, my_ds(mysql_server, mydb), "{datastore: a, table: src}",
                 col_type="timestamp")
    my_scenario(synctool, tmp_path, mysql_server, mydb,
                "may still commit rows stamped from then on")
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["late_commits"]["status"] == "ok", c
    assert c["cursor_stamp"]["status"] == "ok", c


def test_mariadb_user_without_process_falls_back(synctool, tmp_path, mysql_server, mydb,
                                                 myuser):
    my_table(mysql_server, mydb)
    mysql_server.sql(f"GRANT SELECT ON `{mydb}`.* TO '{myuser}'@'%'")
    write_config(synctool, tmp_path, my_ds(mysql_server, mydb, myuser, "late-pw"),
                 "{datastore: a, table: src}", col_type="timestamp")
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["late_commits"]["status"] == "warning", c
    assert "grant PROCESS" in c["late_commits"]["message"], c
    my_scenario(synctool, tmp_path, mysql_server, mydb, "(grant PROCESS)")
    mysql_server.sql(f"GRANT PROCESS ON *.* TO '{myuser}'@'%'")
    c = checks(synctool("check", "p", "--json", config_dir=tmp_path))
    assert c["late_commits"]["status"] == "ok", c
