"""End-to-end: column expressions and a source filter (issue 26, item 2).

A pipeline copies orders(id, total, status, updated_at) with a computed
column `gross = round(total * 1.19, 2)` and `source.where: status <>
'cancelled'`, on every engine pair (SQLite, PostgreSQL, MySQL as source and
destination):

1. `check` runs the expressions and the filter on the source; `full` copies
   exactly the rows the source itself selects, with the gross it computes;
2. `delta` copies updated rows, new rows and a row that entered the filter;
   a row that left the filter is still in the destination after delta (delta
   never deletes) and `hash` then deletes it like a deleted row;
3. `full` deletes another row that left the filter; `hash` then has nothing
   to do.

The expectation is always what the source answers to the same SELECT with
the same expression and WHERE, never synctool's own output.
"""
from decimal import Decimal

import pytest

from pairs import mydb, pgschema, run_example, run_json, sides  # noqa: F401
from pairs import write_sqlite_pair as write

N = 300
EXPR = "round(total * 1.19, 2)"
WHERE = "status <> 'cancelled'"

SOURCE_DDL = {
    "pg": "CREATE TABLE {t} (id bigint PRIMARY KEY, total numeric(12,2), status text, "
          "updated_at timestamp);",
    "mysql": "CREATE TABLE {t} (id bigint PRIMARY KEY, total decimal(12,2), status varchar(20), "
             "updated_at datetime(6)) ENGINE=InnoDB;",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, total NUMERIC, status TEXT, "
              "updated_at TEXT);",
}


def norm(rows):
    """{id: (total, gross, status, updated_at to the second)} from text rows."""
    out = {}
    for r in rows:
        out[int(r[0])] = (Decimal(r[1]).normalize(), Decimal(r[2]).normalize(), r[3],
                          r[4].replace("T", " ")[:19])
    return out


def expected(src):
    return norm(src._query(f"SELECT id, total, {EXPR}, status, updated_at FROM {src.table} "
                           f"WHERE {WHERE}"))


def actual(dst):
    return norm(dst._query(f"SELECT id, total, gross, status, updated_at FROM {dst.table}"))


def seed(src, engine):
    src.exec(SOURCE_DDL[engine])
    vals = ", ".join(
        f"({i}, {(i * 37) % 1000}.{i % 100:02d}, '{'cancelled' if i % 7 == 0 else 'active'}', "
        f"'2025-01-01 00:00:00')" for i in range(1, N + 1))
    src.exec(f"INSERT INTO {{t}} VALUES {vals};")


def write_config(root, src, dst):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + src.ds_line + dst.ds_line)
    ref = src.ref[:-1] + f', where: "{WHERE}"}}'
    (root / "pipelines" / "orders.yaml").write_text(
        f"name: orders\nsource: {ref}\ndestination: {dst.ref}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "  - {name: total, type: \"numeric(12,2)\"}\n"
        f"  - {{name: gross, type: \"numeric(12,2)\", expr: \"{EXPR}\"}}\n"
        "  - {name: status, type: \"varchar(20)\"}\n"
        "  - {name: updated_at, type: timestamp}\n"
        "strategies:\n"
        "  - {name: delta, type: delta, cursor: updated_at, batch_size: 50}\n"
        "  - {name: hash, type: hash, segment_rows: 16, batch_size: 50}\n"
        "  - {name: full, type: full, batch_size: 50}\n")


def run(synctool, root, strategy):
    return run_json(synctool, root, "orders", strategy)[0]


def scenario(synctool, root, src, dst, engine):
    seed(src, engine)
    write_config(root, src, dst)
    assert synctool("validate", config_dir=root).rc == 0
    assert synctool("ddl", "apply", "orders", config_dir=root).rc == 0
    r = synctool("check", "orders", config_dir=root)
    assert r.rc == 0 and "1 expression column(s) and the source filter evaluate" in r.out, \
        r.out + r.err
    want = expected(src)
    assert len(want) == N - N // 7
    assert run(synctool, root, "full") == (len(want), 0, 0)
    assert actual(dst) == want

    later = "'2025-02-01 00:00:00'"
    src.exec(f"UPDATE {{t}} SET total = total + 1, updated_at = {later} WHERE id IN (1, 2, 3);")
    src.exec(f"INSERT INTO {{t}} VALUES ({N + 1}, 10.00, 'active', {later}), "
             f"({N + 2}, 20.00, 'cancelled', {later});")
    src.exec(f"UPDATE {{t}} SET status = 'cancelled', updated_at = {later} WHERE id = 5;")
    src.exec(f"UPDATE {{t}} SET status = 'active', updated_at = {later} WHERE id = 14;")
    # delta: 3 updated, 2 new (301 and 14, which entered the filter); 5 left
    # the filter and stays until a full or hash run
    assert run(synctool, root, "delta") == (2, 3, 0)
    want = expected(src)
    got = actual(dst)
    assert 5 not in want and 5 in got
    del got[5]
    assert got == want
    assert run(synctool, root, "hash") == (0, 0, 1)
    assert actual(dst) == want

    src.exec(f"UPDATE {{t}} SET status = 'cancelled' WHERE id = 10;")
    assert run(synctool, root, "full") == (0, 0, 1)
    assert actual(dst) == expected(src)
    assert run(synctool, root, "hash") == (0, 0, 0)
    r = synctool("explain", "orders", config_dir=root)
    assert f"source filter: {WHERE}" in r.out and f"computed column: gross = {EXPR}" in r.out, r


@pytest.mark.parametrize("src_kind", ["pg", "mysql", "sqlite"])
@pytest.mark.parametrize("dst_kind", ["pg", "mysql", "sqlite"])
def test_expr_and_where(synctool, tmp_path, request, src_kind, dst_kind):
    src, dst = sides(request, tmp_path, (src_kind, "shop", "orders"),
                     (dst_kind, "wh", "orders_copy"))
    scenario(synctool, tmp_path, src, dst, src_kind)


def test_expr_refused_on_key_cursor_and_query(synctool, tmp_path):
    write(tmp_path,
          "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
          "columns:\n"
          "  - {name: id, type: bigint, key: true, expr: \"id + 1\"}\n"
          "  - {name: seen, type: timestamp, expr: \"datetime(ts)\"}\n"
          "strategies:\n"
          "  - {name: d, type: delta, cursor: seen}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert 'columns[0].expr: key column "id" cannot be an expression' in r.err, r
    assert ('strategies[0].cursor: column "seen" is an expression (columns[1]); a delta '
            "cursor must be a plain source column") in r.err, r
    write(tmp_path,
          "name: p\nsource: {datastore: a, query: \"SELECT 1 AS id\", where: \"id > 0\"}\n"
          "destination: {datastore: b, table: t}\n"
          "columns:\n"
          "  - {name: id, type: bigint, key: true}\n"
          "  - {name: x, type: bigint, expr: \"id * 2\"}\n"
          "strategies:\n  - {name: f, type: full}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert "p.yaml:2:" in r.err and "source.where: a filter applies to a source table" in r.err
    assert 'columns[1].expr: the source is a query; compute "x" in source.query' in r.err, r
    # the destination type of an expression is written, not inferred
    write(tmp_path,
          "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
          "columns:\n"
          "  - {name: id, type: bigint, key: true}\n"
          "  - {name: gross, expr: \"round(total * 1.19, 2)\"}\n"
          "strategies:\n  - {name: f, type: full}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert ('pipelines/p.yaml:6:5: columns[1]: missing required key "type": an expr column '
            "needs its destination type written (inferring it from the expression is not "
            "implemented)") in r.err, r


def test_check_names_a_broken_expression(synctool, tmp_path):
    write(tmp_path,
          "name: p\nsource: {datastore: a, table: t, where: \"nosuch > 0\"}\n"
          "destination: {datastore: b, table: t}\n"
          "columns:\n"
          "  - {name: id, type: bigint, key: true}\n"
          "  - {name: x, type: bigint, expr: \"id * 2\"}\n"
          "strategies:\n  - {name: f, type: full}\n")
    import sqlite3
    db = sqlite3.connect(tmp_path / "a.db")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.close()
    r = synctool("check", "p", config_dir=tmp_path)
    assert r.rc != 0, r
    assert "the expression columns or source.where do not run on source a" in r.out, r
    assert "nosuch" in r.out, r


def test_example_runs(tmp_path):
    """examples/expr-filter/run, on a copy, succeeds and leaves what its
    README says in the warehouse."""
    import sqlite3
    out, ex = run_example(tmp_path, "expr-filter")
    assert "expr-filter: ok" in out
    assert "source filter: status <> 'cancelled'" in out
    db = sqlite3.connect(ex / "data" / "warehouse.db")
    assert db.execute("SELECT id, status FROM orders_gross ORDER BY id").fetchall() == [
        (2, "paid"), (3, "open")]
    db.close()
