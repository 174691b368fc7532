"""End-to-end: errors that finish the sentence (issue 14, item 8).

A value the destination refuses names the column, its config type, the
destination type (PostgreSQL's words) and the key of the row; a missing
destination table or column ends with the `ddl apply` command that fixes
it; an unknown pipeline or strategy lists the known ones.
"""
import sqlite3

from test_sync_cli import pg_ds, schema, sqlite_seed, write_config  # noqa: F401


def test_refused_value_names_column_key_and_types(synctool, tmp_path, pg_server, schema):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "wh"),
                 "{datastore: a, table: orders}",
                 f"{{datastore: wh, schema: {schema}, table: orders}}")
    sqlite_seed(tmp_path / "data" / "a.db", n=5)
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    db.execute("UPDATE orders SET total = CAST(id * 100 AS TEXT)")
    db.execute("UPDATE orders SET total = '442.26' WHERE id = 3")
    db.commit()
    db.close()
    # the destination's total is an integer column: 442.26 does not fit
    pg_server.psql(f'CREATE TABLE "{schema}".orders (id bigint PRIMARY KEY, customer_id bigint, '
                   f'total integer, note text, updated_at timestamptz)', dbname=pg_server.dbname)
    r = synctool("run", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1, r
    assert ("refused a value of column 'total' (config type numeric(14,2)) in the row with "
            "key id=3: invalid input syntax for type integer: \"442.26\"") in r.err, r


def test_refused_value_names_the_exact_row(synctool, tmp_path, pg_server, schema):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "wh"),
                 "{datastore: a, table: orders}",
                 f"{{datastore: wh, schema: {schema}, table: orders}}")
    sqlite_seed(tmp_path / "data" / "a.db", n=6)
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    db.execute("UPDATE orders SET customer_id = 'abc' WHERE id = 4")
    db.commit()
    db.close()
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("run", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "column 'customer_id' (config type bigint) in the row with key id=4" in r.err, r
    assert "type bigint" in r.err
    n = pg_server.psql(f'SELECT count(*) FROM "{schema}".orders', dbname=pg_server.dbname)
    assert n.strip() == "0"  # nothing half-written


def test_missing_destination_table_and_column_say_ddl_apply(synctool, tmp_path):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    sqlite_seed(tmp_path / "data" / "a.db")
    r = synctool("run", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1, r
    assert r.err.rstrip().endswith("run `synctool ddl apply p`"), r
    db = sqlite3.connect(tmp_path / "data" / "b.db")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, "
               "total NUMERIC(14,2), updated_at TIMESTAMPTZ)")
    db.commit()
    db.close()
    r = synctool("run", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "has no column 'note': run `synctool ddl apply p`" in r.err, r
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    assert synctool("run", "p", "--strategy", "full", config_dir=tmp_path).rc == 0


def test_unknown_pipeline_and_strategy_list_the_known(synctool, tmp_path):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    for cmd in (["run", "q"], ["status", "q"], ["explain", "q"], ["history", "q"],
                ["reset", "q"], ["ddl", "apply", "q"]):
        r = synctool(*cmd, config_dir=tmp_path)
        assert r.rc == 2, (cmd, r)
        assert "unknown pipeline 'q' (known pipelines: p)" in r.err, (cmd, r)
    r = synctool("run", "p", "--strategy", "nope", config_dir=tmp_path)
    assert r.rc == 2 and "full, delta, hash" in r.err, r
    r = synctool("history", "p", "--strategy", "nope", config_dir=tmp_path)
    assert r.rc == 2 and "(its strategies: full, delta, hash)" in r.err, r
