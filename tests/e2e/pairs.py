"""Helpers for the end-to-end tests that run one pipeline on every engine
pair (test_compare_false, test_expr_where, test_aggregate, test_lookups).

A Side is one end of a pipeline on PostgreSQL (a schema of its own,
fixture pgschema), MySQL (a database of its own, fixture mydb) or SQLite
(a file under data/): its datastores.yaml line, its table reference, SQL on
it and its rows. sides() builds the ends a test names, asking only for the
servers those ends need; run_json() runs one strategy and returns the rows
it moved; write_sqlite_pair() writes a config of two SQLite datastores a, b
for validation tests; run_example() runs an examples/<name>/run on a copy;
pg_tables_equal() compares two PostgreSQL tables row for row.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import uuid

import pytest

from conftest import BIN, ROOT


class Side:
    """One end of the pipeline: its datastores.yaml line, its table
    reference, SQL on it and its rows as {id: (title, views)}."""

    def __init__(self, ds_line, ref, exec_sql, query, table):
        self.ds_line, self.ref, self._exec, self._query, self.table = (
            ds_line, ref, exec_sql, query, table)

    def exec(self, sql):
        self._exec(sql.replace("{t}", self.table))

    def rows(self):
        out = {}
        for line in self._query(f"SELECT id, title, views FROM {self.table} ORDER BY id"):
            out[int(line[0])] = (line[1], int(line[2]))
        return out


def pg_side(pg, schema, name, table):
    ds = (f"  {name}: {{type: postgres, connection: {{host: {pg.host}, port: {pg.port}, "
          f"user: {pg.user}, password: \"{pg.password}\", dbname: {pg.dbname}}}}}\n")

    def ex(sql):
        pg.psql(sql, dbname=pg.dbname)

    def q(sql):
        return [ln.split("|") for ln in pg.psql(sql, dbname=pg.dbname).splitlines() if ln]
    return Side(ds, f"{{datastore: {name}, schema: {schema}, table: {table}}}", ex, q,
                f'"{schema}".{table}')


def my_side(my, db, name, table):
    ds = (f"  {name}: {{type: mysql, connection: {{host: {my.host}, port: {my.port}, "
          f"user: {my.user}, password: \"{my.password}\", dbname: {db}}}}}\n")

    def ex(sql):
        my.sql(sql, dbname=db)

    def q(sql):
        return [ln.split("\t") for ln in my.sql(sql, dbname=db).splitlines() if ln]
    return Side(ds, f"{{datastore: {name}, table: {table}}}", ex, q, f"`{db}`.{table}")


def sqlite_side(root, name, table, extra=""):
    path = root / "data" / f"{name}.db"

    def ex(sql):
        db = sqlite3.connect(path)
        db.executescript(sql)
        db.close()

    def q(sql):
        db = sqlite3.connect(path)
        rows = [[str(v) for v in r] for r in db.execute(sql)]
        db.close()
        return rows
    return Side(f"  {name}: {{type: sqlite, path: data/{name}.db{extra}}}\n",
                f"{{datastore: {name}, table: {table}}}", ex, q, table)


@pytest.fixture
def pgschema(pg_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
    yield name
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


@pytest.fixture
def mydb(mysql_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    mysql_server.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    yield name
    mysql_server.sql(f"DROP DATABASE `{name}`")


def sides(request, root, *specs):
    """One Side per (kind, name, table) in specs, kind "pg", "mysql" or
    "sqlite"; the pg_server/pgschema and mysql_server/mydb fixtures are
    requested only when a spec needs them (the test module imports
    pgschema and mydb from here)."""
    kinds = {kind for kind, _, _ in specs}
    pg = request.getfixturevalue("pg_server") if "pg" in kinds else None
    pgs = request.getfixturevalue("pgschema") if pg else None
    my = request.getfixturevalue("mysql_server") if "mysql" in kinds else None
    myd = request.getfixturevalue("mydb") if my else None
    out = []
    for kind, name, table in specs:
        if kind == "pg":
            out.append(pg_side(pg, pgs, name, table))
        elif kind == "mysql":
            out.append(my_side(my, myd, name, table))
        else:
            (root / "data").mkdir(exist_ok=True)
            out.append(sqlite_side(root, name, table))
    return out


def run_json(synctool, root, job, strategy, env=None, debug=False):
    """Runs one strategy of job with --json; asserts it succeeded; returns
    ((rows inserted, updated, deleted), its stderr)."""
    args = (["--log-level", "debug"] if debug else []) + [
        "run", "--job-name", job, "--strategy", strategy, "--json"]
    r = synctool(*args, config_dir=root, env=env)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["status"] == "success", doc
    return (doc["rows_inserted"], doc["rows_updated"], doc["rows_deleted"]), r.err


def pg_tables_equal(pg, a, b, cols="*"):
    """Whether PostgreSQL tables a and b (qualified names) hold the same
    rows, each as often: EXCEPT ALL both ways finds nothing (so no row is
    missing, none extra, none twice)."""
    return int(pg.psql(f"SELECT count(*) FROM ((SELECT {cols} FROM {a} EXCEPT ALL "
                       f"SELECT {cols} FROM {b}) UNION ALL (SELECT {cols} FROM {b} "
                       f"EXCEPT ALL SELECT {cols} FROM {a})) d", dbname=pg.dbname).strip()) == 0


def write_sqlite_pair(root, pipeline):
    """A config of SQLite datastores a and b and pipelines/p.yaml."""
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "datastores.yaml").write_text(
        "datastores:\n  a: {type: sqlite, path: a.db}\n  b: {type: sqlite, path: b.db}\n")
    (root / "pipelines" / "p.yaml").write_text(pipeline)


def run_example(tmp_path, name, ignore=None, env=None):
    """Runs examples/<name>/run on a copy under tmp_path (no state files in
    the repository's directory); asserts it succeeded; returns (its stdout,
    the copy's directory)."""
    ex = tmp_path / name
    shutil.copytree(os.path.join(ROOT, "examples", name), ex, ignore=ignore)
    env = dict(os.environ, SYNCTOOL=BIN, **(env or {}))
    r = subprocess.run([str(ex / "run")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout, ex
