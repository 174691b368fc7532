"""End-to-end: the cdc strategy (issue 23, item 2; DESIGN §7).

A PostgreSQL source table (the harness's server runs with wal_level =
logical) is copied by a first cdc run (the publication and the slot are
made, the initial copy runs as full in the slot's exported snapshot), then
changed (inserts, updates, deletes, a key update, TRUNCATE, a 1 MB text
value, an update leaving a TOASTed column unchanged, a battery of types)
and drained by further runs into PostgreSQL, MySQL and SQLite destinations;
after each, `hash` (the referee) finds nothing to do. Also: SIGKILL
mid-apply and a rerun (equal, no duplicates); a column added on the source
mid-stream (an error naming it); a dropped slot (an error naming the fix);
max_slot_lag exceeded; cdc on a MySQL source refused by validate; `cdc
drop`. Runs are held by gates (a row lock in the destination), never by
sleeps. Every slot a test makes is dropped at its end.
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
