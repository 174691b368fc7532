"""End-to-end: `synctool diff` (issue 14, item 2) — what a sync would
change, writing nothing, through the hash engine's dry-run sink.

Identical tables exit 0 with nothing written and no state change; after
inserts, updates and deletes on the source the exact counts and keys (and
the columns that differ) come back with exit 1, on SQLite and PostgreSQL,
same engine and across engines. A schema change holding the table lock
makes it exit 75.
"""
import hashlib
import json
import sqlite3
import subprocess

import pytest

from conftest import BIN
from test_sync_cli import pg_ds, schema, sqlite_seed, write_config  # noqa: F401

SQLITE_A = "  a: {type: sqlite, path: data/a.db}\n"
SQLITE_B = "  b: {type: sqlite, path: data/b.db}\n"


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def change_source_sqlite(path):
    db = sqlite3.connect(path)
    db.execute("INSERT INTO orders VALUES (101, 1, '1.00', 'new', '2025-10-15T08:00:00Z')")
    db.execute("INSERT INTO orders VALUES (102, 1, '2.00', 'new', '2025-10-15T08:00:00Z')")
    db.execute("UPDATE orders SET note = 'changed' WHERE id = 3")
    db.execute("UPDATE orders SET total = '999.99' WHERE id = 5")
    db.execute("DELETE FROM orders WHERE id = 7")
    db.commit()
    db.close()


def change_source_pg(pg, schema):
    pg.psql(f"""INSERT INTO "{schema}".src VALUES (101, 1, 1.00, 'new', now()),
                (102, 1, 2.00, 'new', now());
                UPDATE "{schema}".src SET note = 'changed' WHERE id = 3;
                UPDATE "{schema}".src SET total = 999.99 WHERE id = 5;
                DELETE FROM "{schema}".src WHERE id = 7""", dbname=pg.dbname)


def check_changes(synctool, cfg):
    r = synctool("diff", "p", "--keys", "--json", config_dir=cfg)
    assert r.rc == 1, r
    doc = json.loads(r.out)
    assert (doc["inserts"], doc["updates"], doc["deletes"]) == (2, 2, 1), doc
    assert doc["identical"] is False and doc["strategy"] == "hash"
    assert doc["keys"]["insert"] == ["id=101", "id=102"]
    assert doc["keys"]["update"] == [{"key": "id=3", "columns": ["note"]},
                                     {"key": "id=5", "columns": ["total"]}]
    assert doc["keys"]["delete"] == ["id=7"]
    assert isinstance(doc["duration_s"], (int, float))
    r = synctool("diff", "p", "--keys", "--limit", "1", config_dir=cfg)
    assert r.rc == 1, r
    assert "to insert: 2" in r.out and "to update: 2" in r.out and "to delete: 1" in r.out
    assert "insert (first 1 of 2):\n  id=101\n" in r.out, r.out
    assert "  id=3  (note)" in r.out


def sqlite_pair(tmp_path, synctool, n=10):
    write_config(tmp_path, SQLITE_A + SQLITE_B, "{datastore: a, table: orders}",
                 "{datastore: b, table: orders}")
    sqlite_seed(tmp_path / "data" / "a.db", n=n)
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    assert synctool("run", "p", "--strategy", "full", config_dir=tmp_path).rc == 0


def test_diff_identical_writes_nothing_and_records_nothing(synctool, tmp_path):
    sqlite_pair(tmp_path, synctool)
    before_db = digest(tmp_path / "data" / "b.db")
    before_state = synctool("state", "export", config_dir=tmp_path).out
    before_hist = synctool("history", "p", "--json", config_dir=tmp_path).out
    r = synctool("diff", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "p (hash): identical" in r.out
    r = synctool("diff", "p", "--json", config_dir=tmp_path)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["identical"] is True and doc["keys"] is None
    assert (doc["inserts"], doc["updates"], doc["deletes"]) == (0, 0, 0)
    assert digest(tmp_path / "data" / "b.db") == before_db
    assert synctool("state", "export", config_dir=tmp_path).out == before_state
    assert synctool("history", "p", "--json", config_dir=tmp_path).out == before_hist


def test_diff_sqlite_changes_exact_and_nothing_written(synctool, tmp_path):
    sqlite_pair(tmp_path, synctool)
    change_source_sqlite(tmp_path / "data" / "a.db")
    before_db = digest(tmp_path / "data" / "b.db")
    before_state = synctool("state", "export", config_dir=tmp_path).out
    check_changes(synctool, tmp_path)
    assert digest(tmp_path / "data" / "b.db") == before_db
    assert synctool("state", "export", config_dir=tmp_path).out == before_state
    # the sync then does exactly that, and diff agrees afterwards
    r = synctool("run", "p", "--strategy", "hash", config_dir=tmp_path)
    assert r.rc == 0 and "2 inserted, 2 updated, 1 deleted" in r.out, r
    assert synctool("diff", "p", config_dir=tmp_path).rc == 0


def test_diff_postgres_same_engine(synctool, tmp_path, pg_server, schema):
    pg_server.psql(
        f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, customer_id bigint, '
        f'total numeric(14,2), note text, updated_at timestamptz); '
        f'INSERT INTO "{schema}".src SELECT g, g % 7, g * 1.25, \'row \' || g, '
        f"'2025-10-15T00:00:00Z'::timestamptz FROM generate_series(1, 2000) g "
        f"WHERE g NOT IN (101, 102)",
        dbname=pg_server.dbname)
    write_config(tmp_path, pg_ds(pg_server, "shop") + pg_ds(pg_server, "wh"),
                 f"{{datastore: shop, schema: {schema}, table: src}}",
                 f"{{datastore: wh, schema: {schema}, table: dst}}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    assert synctool("run", "p", "--strategy", "full", config_dir=tmp_path).rc == 0
    assert synctool("diff", "p", config_dir=tmp_path).rc == 0
    change_source_pg(pg_server, schema)
    check_changes(synctool, tmp_path)
    n = pg_server.psql(f'SELECT count(*) FROM "{schema}".dst', dbname=pg_server.dbname)
    assert n.strip() == "1998"  # nothing written


@pytest.mark.parametrize("direction", ["sqlite_to_pg", "pg_to_sqlite"])
def test_diff_cross_engine(synctool, tmp_path, pg_server, schema, direction):
    if direction == "sqlite_to_pg":
        write_config(tmp_path, SQLITE_A + pg_ds(pg_server, "wh"), "{datastore: a, table: orders}",
                     f"{{datastore: wh, schema: {schema}, table: orders}}")
        sqlite_seed(tmp_path / "data" / "a.db", n=10)
    else:
        pg_server.psql(
            f'CREATE TABLE "{schema}".src (id bigint PRIMARY KEY, customer_id bigint, '
            f'total numeric(14,2), note text, updated_at timestamptz); '
            f'INSERT INTO "{schema}".src SELECT g, g % 7, g * 1.25, \'row \' || g, '
            f"'2025-10-15T00:00:00Z'::timestamptz FROM generate_series(1, 10) g",
            dbname=pg_server.dbname)
        write_config(tmp_path, pg_ds(pg_server, "shop") + SQLITE_B,
                     f"{{datastore: shop, schema: {schema}, table: src}}",
                     "{datastore: b, table: orders}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    assert synctool("run", "p", "--strategy", "full", config_dir=tmp_path).rc == 0
    r = synctool("diff", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    if direction == "sqlite_to_pg":
        change_source_sqlite(tmp_path / "data" / "a.db")
    else:
        change_source_pg(pg_server, schema)
    check_changes(synctool, tmp_path)


def test_diff_waits_for_no_schema_change(synctool, tmp_path):
    sqlite_pair(tmp_path, synctool)
    holder = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "lock", "hold", "--table",
                               "b.main.orders", "--for", "60"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert "holding" in holder.stdout.readline()
        r = synctool("diff", "p", "--json", config_dir=tmp_path)
        assert r.rc == 75, r
        assert json.loads(r.out)["error"]["code"] == "skipped"
    finally:
        holder.terminate()
        holder.communicate(timeout=30)
    r = synctool("diff", "p", "--strategy", "nope", config_dir=tmp_path)
    assert r.rc == 2 and "its strategies: full, delta, hash" in r.err
