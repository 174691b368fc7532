"""End-to-end: `synctool check` (issue 14, item 1) and `ddl plan`.

A healthy pipeline, a missing column, a wrong type, a missing cursor index
(with the CREATE INDEX to run), a missing destination (with the SQL `ddl
apply` would run, also from `ddl plan`), an unreachable database and one
that accepts the connection but never answers (the timeout); `check` twice
changes nothing on any destination engine (issue 20, item 4).
"""
import json
import socket
import sqlite3

import pytest

from test_mysql import mydb  # noqa: F401
from test_sync_cli import pg_ds, schema, write_config  # noqa: F401


def pg_source(pg, schema, cols="id bigint PRIMARY KEY, customer_id bigint, "
              "total numeric(14,2), note text, updated_at timestamptz", index=True):
    pg.psql(f'CREATE TABLE "{schema}".orders ({cols})', dbname=pg.dbname)
    if index:
        pg.psql(f'CREATE INDEX ON "{schema}".orders (updated_at, id)', dbname=pg.dbname)


def pg_pipeline(tmp_path, pg, schema):
    write_config(tmp_path, pg_ds(pg, "shop") + "  b: {type: sqlite, path: data/b.db}\n",
                 f"{{datastore: shop, schema: {schema}, table: orders}}",
                 "{datastore: b, table: orders}")


def checks(doc, pipeline="p"):
    [p] = [x for x in doc["pipelines"] if x["pipeline"] == pipeline]
    return {c["check"]: c for c in p["checks"]}, p


def test_check_healthy(synctool, tmp_path, pg_server, schema):
    pg_source(pg_server, schema, cols="id bigint PRIMARY KEY, customer_id bigint, "
              "total numeric(14,2), note text, updated_at timestamptz DEFAULT now()")
    pg_pipeline(tmp_path, pg_server, schema)
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("check", "p", "--json", config_dir=tmp_path)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["ok"] is True and doc["store"]["status"] == "ok"
    c, p = checks(doc)
    assert p["status"] == "ok", p
    assert set(c) == {"source", "columns", "key", "cursor_index", "cursor_stamp", "late_commits",
                      "destination", "fencing"}
    r = synctool("check", config_dir=tmp_path)
    assert r.rc == 0 and "p: ok" in r.out and "state and lock store: ok" in r.out, r
    # nothing was changed: no fencing table left behind
    db = sqlite3.connect(tmp_path / "data" / "b.db")
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"orders"}, names


def test_check_missing_column_and_wrong_type(synctool, tmp_path, pg_server, schema):
    pg_source(pg_server, schema, cols="id bigint PRIMARY KEY, customer_id text, "
              "total numeric(14,2), updated_at timestamptz")
    pg_pipeline(tmp_path, pg_server, schema)
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("check", "p", config_dir=tmp_path)
    assert r.rc == 1, r
    assert f"source shop.{schema}.orders has no column 'note'" in r.out, r
    assert (f"column 'customer_id' of source shop.{schema}.orders is text, the config says "
            "bigint") in r.out, r


def test_check_missing_cursor_index_and_key(synctool, tmp_path, pg_server, schema):
    pg_source(pg_server, schema, cols="id bigint, customer_id bigint, total numeric(14,2), "
              "note text, updated_at timestamptz", index=False)
    pg_pipeline(tmp_path, pg_server, schema)
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("check", "p", "--json", config_dir=tmp_path)
    assert r.rc == 0, r  # warnings only
    c, p = checks(json.loads(r.out))
    assert p["status"] == "warning"
    assert c["cursor_index"]["status"] == "warning"
    assert c["cursor_index"]["sql"] == (f'CREATE INDEX "orders_updated_at_synctool" ON '
                                        f'"{schema}"."orders" ("updated_at", "id")')
    assert c["key"]["status"] == "warning" and "not a primary key" in c["key"]["message"]
    # the suggested statement is the fix
    pg_server.psql(c["cursor_index"]["sql"], dbname=pg_server.dbname)
    c, _ = checks(json.loads(synctool("check", "p", "--json", config_dir=tmp_path).out))
    assert c["cursor_index"]["status"] == "ok"


def test_check_missing_destination_and_ddl_plan(synctool, tmp_path, pg_server, schema):
    pg_source(pg_server, schema)
    pg_pipeline(tmp_path, pg_server, schema)
    r = synctool("ddl", "plan", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    create = ('CREATE TABLE IF NOT EXISTS "main"."orders" ("id" INTEGER NOT NULL, '
              '"customer_id" INTEGER, "total" NUMERIC(14,2), "note" TEXT, "updated_at" TIMESTAMPTZ, '
              'PRIMARY KEY ("id"));')
    assert r.out == create + "\n", r.out
    r = synctool("check", "p", "--json", config_dir=tmp_path)
    assert r.rc == 1, r
    c, _ = checks(json.loads(r.out))
    assert c["destination"]["status"] == "problem"
    assert c["destination"]["sql"] == create
    assert "run `synctool ddl apply p`" in c["destination"]["message"]
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("ddl", "plan", "p", config_dir=tmp_path)
    assert r.rc == 0 and "matches the config: nothing to do" in r.out, r
    db = sqlite3.connect(tmp_path / "data" / "b.db")
    db.execute("ALTER TABLE orders DROP COLUMN note")
    db.commit()
    db.close()
    r = synctool("ddl", "plan", "p", config_dir=tmp_path)
    assert r.out == 'ALTER TABLE "main"."orders" ADD COLUMN "note" TEXT;\n', r


def test_check_unreachable_and_silent_database(synctool, tmp_path, pg_server):
    write_config(tmp_path, pg_ds(pg_server, "shop", port=1) +
                 "  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: shop, table: orders}", "{datastore: b, table: orders}")
    r = synctool("check", "p", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "problem  source" in r.out and "datastore 'shop'" in r.out, r
    # a server that accepts the connection and never answers: the timeout
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        write_config(tmp_path, pg_ds(pg_server, "shop", port=silent.getsockname()[1]) +
                     "  b: {type: sqlite, path: data/b.db}\n",
                     "{datastore: shop, table: orders}", "{datastore: b, table: orders}")
        r = synctool("check", "p", "--timeout", "1", "--json", config_dir=tmp_path)
        assert r.rc == 1, r
        c, _ = checks(json.loads(r.out))
        assert c["source"]["message"] == "datastore 'shop': unreachable (no answer within 1s)"
    finally:
        silent.close()


def test_check_usage(synctool, tmp_path):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n"
                 "  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    r = synctool("check", "nope", "--json", config_dir=tmp_path)
    assert r.rc == 2 and json.loads(r.out)["error"]["code"] == "unknown_pipeline"
    assert synctool("help", "check").out.startswith("usage: synctool check")


@pytest.mark.parametrize("engine", ["sqlite", "postgres", "mysql"])
def test_check_twice_changes_nothing(synctool, tmp_path, engine, request):
    """`check` changes nothing, so running it twice gives the same answer,
    exit 0 both times, on every destination engine. On MySQL its fencing
    probe once committed (the CREATE TABLE before it committed implicitly)
    and the second check failed on `Duplicate entry 'synctool:check'`."""
    from test_mysql import my_ds
    from test_sync_cli import sqlite_seed
    (tmp_path / "data").mkdir()
    sqlite_seed(tmp_path / "data" / "a.db")
    src = "  a: {type: sqlite, path: data/a.db}\n"
    if engine == "sqlite":
        write_config(tmp_path, src + "  b: {type: sqlite, path: data/b.db}\n",
                     "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    elif engine == "postgres":
        pg, sch = request.getfixturevalue("pg_server"), request.getfixturevalue("schema")
        write_config(tmp_path, src + pg_ds(pg, "b"), "{datastore: a, table: orders}",
                     f"{{datastore: b, schema: {sch}, table: orders}}")
    else:
        my, db = request.getfixturevalue("mysql_server"), request.getfixturevalue("mydb")
        write_config(tmp_path, src + my_ds(my, "b", db), "{datastore: a, table: orders}",
                     "{datastore: b, table: orders}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    first = synctool("check", "p", config_dir=tmp_path)
    second = synctool("check", "p", config_dir=tmp_path)
    assert first.rc == 0 and "fencing table synctool_fence writable" in first.out, first
    assert second.rc == 0 and second.out == first.out, second
    if engine == "sqlite":
        db = sqlite3.connect(tmp_path / "data" / "b.db")
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert names == {"orders"}, names
    elif engine == "mysql":
        # DDL cannot be rolled back there: the (empty) table is created
        # outside any transaction, the probe row rolled back for real
        assert my.sql(f"SELECT count(*) FROM `{db}`.synctool_fence").strip() == "0"
