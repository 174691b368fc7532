"""End-to-end: `synctool init` writes a pipeline from a source table (issue 21, item 8).

For PostgreSQL, MySQL (MariaDB) and SQLite sources holding every type of the
value batteries (test_sqlite_types.py's thirteen config types over 210
rows, test_mysql.py's MySQL and PostgreSQL tables with unsigned, 65-digit
decimals, time, binary, json, enum, set): `init` reads the columns, their
types and the primary key; `validate` accepts the file unchanged; `ddl
apply` creates the destination (in a PostgreSQL schema, a MySQL database
and a SQLite directory that do not exist yet); `check` then finds no
problem; a full run copies the table equal (read back with the engines'
own clients) and hash finds nothing left to do. Also: the cursor suggested
from an indexed timestamp column (and a delta run with it), the comment
when none is indexed, refusing to overwrite, --force, a table without a
primary key, --key, unknown datastores.
"""
import sqlite3
import subprocess
import uuid

import pytest

import test_mysql as tm
import test_sqlite_types as ts


def ok(synctool, root, *args):
    r = synctool(*args, config_dir=root)
    assert r.rc == 0, r
    return r


def no_problem(synctool, root, name):
    r = synctool("check", name, config_dir=root)
    assert r.rc == 0, r
    assert "problem" not in r.out, r
    return r


def pipeline_yaml(root, name):
    """The file, with the YAML-quoted name "n" (a word YAML 1.1 reads as
    false) unquoted for the assertions."""
    return (root / "pipelines" / f"{name}.yaml").read_text().replace('{name: "n",', '{name: n,')


def init_validate_apply_check(synctool, root, name, src, dst):
    r = ok(synctool, root, "init", name, "--from", src, "--to", dst)
    assert f"pipelines/{name}.yaml" in r.out, r
    r = ok(synctool, root, "validate")
    assert "warning" not in r.err.lower() or "15 significant digits" in r.err, r
    ok(synctool, root, "ddl", "apply", name)
    no_problem(synctool, root, name)
    return pipeline_yaml(root, name)


def counts(r):
    return (r.out + r.err)


@pytest.fixture
def pgschema(pg_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
    yield name
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


@pytest.fixture
def newschema(pg_server):
    """A schema name that does not exist yet (ddl apply creates it)."""
    name = "e2e_new_" + uuid.uuid4().hex[:10]
    yield name
    pg_server.psql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', dbname=pg_server.dbname)


def test_postgres_value_battery(synctool, tmp_path, pg_server, pgschema, newschema):
    ts.make_ref(pg_server, pgschema)
    pg_server.psql(f'CREATE INDEX ON "{pgschema}".ref (tz, id)', dbname=pg_server.dbname)
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n" + ts.pg_ds(pg_server, "shop") + ts.pg_ds(pg_server, "wh"))
    # ddl plan names the schema it would create before the table
    ok(synctool, tmp_path, "init", "ref", "--from", f"shop.{pgschema}.ref",
       "--to", f"wh.{newschema}.ref_copy")
    r = ok(synctool, tmp_path, "ddl", "plan", "ref")
    assert r.out.startswith(f'CREATE SCHEMA IF NOT EXISTS "{newschema}";\nCREATE TABLE'), r
    r = synctool("check", "ref", config_dir=tmp_path)
    assert r.rc == 1 and f'CREATE SCHEMA IF NOT EXISTS "{newschema}"' in r.out, r
    (tmp_path / "pipelines" / "ref.yaml").unlink()
    y = init_validate_apply_check(synctool, tmp_path, "ref", f"shop.{pgschema}.ref",
                                  f"wh.{newschema}.ref_copy")
    for name, cfgtype, _ in ts.COLS:
        want = {"varchar(20)": '"varchar(20)"', "numeric(12,2)": '"numeric(12,2)"',
                "decimal(10,4)": '"numeric(10,4)"'}.get(cfgtype, cfgtype)
        assert f"{{name: {name}, type: {want}" in y, (name, y)
    assert "{name: id, type: bigint, key: true}" in y, y
    assert "cursor: tz," in y and "type: delta" in y, y
    r = ok(synctool, tmp_path, "run", "--job-name", "ref", "--strategy", "full_weekly")
    assert f"{len(ts.ROWS)} inserted, 0 updated, 0 deleted" in counts(r), r
    assert ts.pg_table_rows(pg_server, newschema, "ref_copy") == \
        ts.pg_table_rows(pg_server, pgschema, "ref")
    for strategy in ("hash_daily", "delta_15m"):
        r = ok(synctool, tmp_path, "run", "--job-name", "ref", "--strategy", strategy)
        assert "0 inserted, 0 updated, 0 deleted" in counts(r), (strategy, r)


def test_postgres_types_of_the_mysql_battery(synctool, tmp_path, pg_server, pgschema):
    """json, bytea, time, numeric(20), numeric(65,30) from PostgreSQL; no
    index on a timestamp: no delta, a comment saying what to index."""
    tm.pg_seed(pg_server, pgschema)
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n" + ts.pg_ds(pg_server, "shop") + ts.pg_ds(pg_server, "wh"))
    y = init_validate_apply_check(synctool, tmp_path, "b", f"shop.{pgschema}.src",
                                  f"wh.{pgschema}.dst")
    assert "type: delta" not in y.replace("# - {name: delta_15m, type: delta", ""), y
    assert "# - {name: delta_15m, type: delta, cursor: updated_at" in y, y
    assert "{name: b, type: bytea}" in y and "{name: j, type: json}" in y, y
    assert "{name: tm, type: time}" in y and '{name: d, type: "numeric(65,30)"}' in y, y
    r = ok(synctool, tmp_path, "run", "--job-name", "b", "--strategy", "full_weekly")
    assert f"{len(tm.BATTERY)} inserted" in counts(r), r
    assert tm.pg_read(pg_server, pgschema, "dst") == tm.pg_read(pg_server, pgschema, "src")
    r = ok(synctool, tmp_path, "run", "--job-name", "b", "--strategy", "hash_daily")
    assert "0 inserted, 0 updated, 0 deleted" in counts(r), r


@pytest.fixture
def mydb(mysql_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    mysql_server.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    yield name
    mysql_server.sql(f"DROP DATABASE `{name}`")


@pytest.fixture
def newdb(mysql_server):
    name = "e2e_new_" + uuid.uuid4().hex[:10]
    yield name
    mysql_server.sql(f"DROP DATABASE IF EXISTS `{name}`")


def test_mysql_value_battery(synctool, tmp_path, mysql_server, mydb, newdb):
    tm.my_seed(mysql_server, mydb)
    mysql_server.sql(f"CREATE INDEX src_upd ON `{mydb}`.src (updated_at, id)")
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n" + tm.my_ds(mysql_server, "shop", mydb) + tm.my_ds(mysql_server, "wh", mydb))
    y = init_validate_apply_check(synctool, tmp_path, "my", f"shop.{mydb}.src",
                                  f"wh.{newdb}.dst")
    want = {"id": "bigint, key: true", "flag": "boolean", "i": "integer",
            "u": '"numeric(20)"', "d": '"numeric(65,30)"', "f": "double precision",
            "dt": "date", "ts": "timestamp", "tz": "timestamptz", "tm": "time", "s": "text",
            "b": "bytea", "e": "text", "st": "text", "updated_at": "timestamp"}
    for name, t in want.items():
        assert f"{{name: {name}, type: {t}}}" in y, (name, y)
    assert "cursor: updated_at" in y, y
    assert "DATABASE" not in mysql_server.sql(f"SHOW DATABASES LIKE '{newdb}'") and \
        newdb in mysql_server.sql(f"SHOW DATABASES LIKE '{newdb}'")
    r = ok(synctool, tmp_path, "run", "--job-name", "my", "--strategy", "full_weekly")
    assert f"{len(tm.BATTERY)} inserted" in counts(r), r
    assert tm.my_read(mysql_server, newdb, "dst") == tm.my_read(mysql_server, mydb, "src")
    tm.mutate_for_delta(lambda sql: mysql_server.sql(sql.format(t=f"`{mydb}`.src")), False)
    r = ok(synctool, tmp_path, "run", "--job-name", "my", "--strategy", "delta_15m")
    assert "1 inserted, 2 updated, 0 deleted" in counts(r), r
    r = ok(synctool, tmp_path, "run", "--job-name", "my", "--strategy", "hash_daily")
    assert "0 inserted, 0 updated, 0 deleted" in counts(r), r
    assert tm.my_read(mysql_server, newdb, "dst") == tm.my_read(mysql_server, mydb, "src")


def test_mysql_battery_into_postgres(synctool, tmp_path, mysql_server, mydb, pg_server,
                                    newschema):
    """Across engines: the types init writes for MySQL columns create
    PostgreSQL columns that hold every value of the battery."""
    tm.my_seed(mysql_server, mydb)
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n" + tm.my_ds(mysql_server, "shop", mydb) + ts.pg_ds(pg_server, "wh"))
    init_validate_apply_check(synctool, tmp_path, "x", f"shop.{mydb}.src", f"wh.{newschema}.dst")
    r = ok(synctool, tmp_path, "run", "--job-name", "x", "--strategy", "full_weekly")
    assert f"{len(tm.BATTERY)} inserted" in counts(r), r
    assert tm.pg_read(pg_server, newschema, "dst") == tm.my_read(mysql_server, mydb, "src")
    r = ok(synctool, tmp_path, "run", "--job-name", "x", "--strategy", "hash_daily")
    assert "0 inserted, 0 updated, 0 deleted" in counts(r), r


def test_sqlite_value_battery(synctool, tmp_path, pg_server, pgschema):
    """The battery in a SQLite table as ddl apply makes it (PostgreSQL ->
    SQLite a), then init from a.main.t into b, whose directory does not
    exist yet."""
    ts.make_ref(pg_server, pgschema)
    ds = ("  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: new/dir/b.db}\n"
          + ts.pg_ds(pg_server, "pg"))
    ts.write_pipeline(tmp_path, "pg_to_a", f"{{datastore: pg, schema: {pgschema}, table: ref}}",
                      "{datastore: a, table: t}", ds)
    ok(synctool, tmp_path, "ddl", "apply", "pg_to_a")
    ok(synctool, tmp_path, "run", "--job-name", "pg_to_a", "--strategy", "full")
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    db.execute("CREATE INDEX t_tz ON t (tz, id)")
    db.close()
    r = ok(synctool, tmp_path, "init", "lite", "--from", "a.main.t", "--to", "b")
    r = ok(synctool, tmp_path, "ddl", "plan", "lite")
    assert "create directory" in r.out and "new/dir" in r.out, r
    r = synctool("check", "lite", config_dir=tmp_path)
    assert r.rc == 1 and "does not exist" in r.out and "ddl apply" in r.out, r
    (tmp_path / "pipelines" / "lite.yaml").unlink()
    y = init_validate_apply_check(synctool, tmp_path, "lite", "a.main.t", "b")
    assert (tmp_path / "new" / "dir" / "b.db").exists()
    want = {"id": "bigint, key: true", "i": "bigint", "s": "bigint", "n": '"numeric(12,2)"',
            "dd": '"decimal(10,4)"', "f": "double precision", "r": "double precision",
            "b": "boolean", "d": "date", "ts": "timestamp", "tz": "timestamptz", "t": "text",
            "v": "text"}
    for name, t in want.items():
        assert f"{{name: {name}, type: {t}}}" in y, (name, y)
    assert "cursor: tz" in y, y
    r = ok(synctool, tmp_path, "run", "--job-name", "lite", "--strategy", "full_weekly")
    assert f"{len(ts.ROWS)} inserted" in counts(r), r
    a, b = tmp_path / "data" / "a.db", tmp_path / "new" / "dir" / "b.db"
    q = f"SELECT {', '.join(ts.NAMES)} FROM t ORDER BY id"
    assert ts.sq_rows(b, q) == ts.sq_rows(a, q)
    ts.assert_same_answers(ts.answers_sqlite(a), ts.answers_sqlite(b), "init SQLite -> SQLite")
    for strategy in ("hash_daily", "delta_15m"):
        r = ok(synctool, tmp_path, "run", "--job-name", "lite", "--strategy", strategy)
        assert "0 inserted, 0 updated, 0 deleted" in counts(r), (strategy, r)


# --- refusals and options -----------------------------------------------------

@pytest.fixture
def lite(tmp_path):
    db = sqlite3.connect(tmp_path / "src.db")
    db.executescript("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT, "
                     "updated_at TIMESTAMP); CREATE TABLE nokey (a TEXT, b INTEGER, "
                     "changed_at TIMESTAMP); INSERT INTO nokey VALUES ('x', 1, NULL);")
    db.close()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n  shop: {type: sqlite, path: src.db}\n  wh: {type: sqlite, path: wh.db}\n")
    return tmp_path


def test_refuses_to_overwrite_and_force(synctool, lite):
    ok(synctool, lite, "init", "orders", "--from", "shop.main.orders", "--to", "wh")
    path = lite / "pipelines" / "orders.yaml"
    path.write_text(path.read_text() + "# my edit\n")
    r = synctool("init", "orders", "--from", "shop.main.orders", "--to", "wh", config_dir=lite)
    assert r.rc == 1 and "already exists" in r.err and "--force" in r.err, r
    assert path.read_text().endswith("# my edit\n")
    r = synctool("init", "other", "--from", "shop.orders", "--to", "wh.main.orders",
                 config_dir=lite)
    assert r.rc == 2 and "already the destination of pipeline 'orders'" in r.err, r
    r = synctool("init", "other", "--from", "shop.orders", "--to", "wh.main.orders_2",
                 config_dir=lite)
    assert r.rc == 0, r   # another name: its own file
    (lite / "pipelines" / "other.yaml").write_text(
        (lite / "pipelines" / "other.yaml").read_text().replace("name: other", "name: orders2"))
    r = synctool("init", "orders2", "--from", "shop.orders", "--to", "wh.main.orders_3",
                 config_dir=lite)
    assert r.rc == 1 and "pipeline 'orders2' already exists" in r.err and "other.yaml" in r.err, r
    ok(synctool, lite, "init", "orders", "--from", "shop.main.orders", "--to", "wh", "--force")
    assert "# my edit" not in path.read_text()
    # no index on updated_at: no delta, a comment naming the column and the key
    assert "# - {name: delta_15m, type: delta, cursor: updated_at" in path.read_text()
    assert "index updated_at together with the key (id)" in path.read_text()


def test_table_without_primary_key(synctool, lite):
    r = synctool("init", "nk", "--from", "shop.main.nokey", "--to", "wh", config_dir=lite)
    assert r.rc == 1 and "has no primary key" in r.err and "--key" in r.err, r
    assert not (lite / "pipelines" / "nk.yaml").exists()
    r = synctool("init", "nk", "--from", "shop.main.nokey", "--to", "wh", "--key", "zz",
                 config_dir=lite)
    assert r.rc == 2 and "no column 'zz'" in r.err, r
    ok(synctool, lite, "init", "nk", "--from", "shop.main.nokey", "--to", "wh", "--key", "a,b")
    y = pipeline_yaml(lite, "nk")
    assert "{name: a, type: text, key: true}" in y and "{name: b, type: bigint, key: true}" in y
    ok(synctool, lite, "validate")
    ok(synctool, lite, "ddl", "apply", "nk")
    r = ok(synctool, lite, "run", "--job-name", "nk", "--strategy", "full_weekly")
    assert "1 inserted" in counts(r), r


def test_usage_errors(synctool, lite):
    r = synctool("init", "x", "--from", "nope.main.orders", "--to", "wh", config_dir=lite)
    assert r.rc == 2 and "datastore 'nope' is not defined" in r.err and "shop, wh" in r.err, r
    r = synctool("init", "x", "--from", "shop", "--to", "wh", config_dir=lite)
    assert r.rc == 2 and "DATASTORE.SCHEMA.TABLE" in r.err, r
    r = synctool("init", "x", "--to", "wh", config_dir=lite)
    assert r.rc == 2 and "--from is required" in r.err, r
    r = synctool("init", "bad name", "--from", "shop.orders", "--to", "wh", config_dir=lite)
    assert r.rc == 2 and "invalid pipeline name" in r.err, r
    r = synctool("init", "x", "--from", "shop.main.missing", "--to", "wh", config_dir=lite)
    assert r.rc == 1 and "missing" in r.err and "does not exist" in r.err, r
    r = synctool("init", "x", "--from", "shop.main.orders", "--to", "shop", config_dir=lite)
    assert r.rc == 2 and "source table itself" in r.err, r
    r = synctool("init", "--help")
    assert r.rc == 0 and "--from DATASTORE.SCHEMA.TABLE" in r.out, r
    r = ok(synctool, lite, "init", "x", "--from", "shop.orders", "--to", "wh", "--print")
    assert r.out.startswith("# Written by `synctool init`") and "name: x" in r.out, r
    assert not (lite / "pipelines" / "x.yaml").exists()
