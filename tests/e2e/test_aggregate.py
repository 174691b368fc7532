"""End-to-end: aggregate pipelines, incremental rollups (issue 26, item 4).

The issue's daily_revenue pipeline (orders grouped by customer_id and
day = date(created_at), revenue = sum(total), orders = count(*), cancelled
orders filtered out) on every engine pair (SQLite, PostgreSQL, MySQL as
source and destination):

1. `check` runs the aggregate query and finds the source's primary key;
   `full` writes exactly the groups the source's own GROUP BY answers;
2. `delta` after inserts (a new group and existing ones);
3. `delta` after updates that move orders between customers and days: the
   groups they left are recomputed (one left empty is deleted), and an order
   that leaves the filter takes its amount out of its group;
4. deletes are not seen by `delta` (no cursor moved) and are picked up by
   `full`, which also deletes a group that vanished;
5. `hash` then has nothing to do.

Each step compares the destination with the aggregate query run directly on
the source, never with synctool's own output. Totals are multiples of 0.25,
exact in binary, so SQLite's floating sums are exact too.
"""
import json
from decimal import Decimal

import pytest

from pairs import mydb, pg_side, pgschema, run_example, run_json, sides  # noqa: F401
from pairs import write_sqlite_pair as write
from test_json_schema import check as check_schema

N = 40
WHERE = "status <> 'cancelled'"
PIPELINE = """\
name: daily_revenue
source: {source}
destination: {destination}
aggregate: {{group_by: [customer_id, day]}}
columns:
  - {{name: customer_id, type: bigint, key: true}}
  - {{name: day, type: date, key: true, expr: "date(created_at)"}}
  - {{name: revenue, type: "numeric(14,2)", expr: "sum(total)"}}
  - {{name: orders, type: bigint, expr: "count(*)"}}
strategies:
  - {{name: delta, type: delta, cursor: updated_at, batch_size: 7}}   # a column of the source rows
  - {{name: nightly, type: full, cron: "0 3 * * *"}}
  - {{name: hash, type: hash, segment_rows: 4}}
"""

SOURCE_DDL = {
    "pg": "CREATE TABLE {t} (id bigint PRIMARY KEY, customer_id bigint, created_at timestamp, "
          "total numeric(12,2), status text, updated_at timestamp);",
    "mysql": "CREATE TABLE {t} (id bigint PRIMARY KEY, customer_id bigint, created_at "
             "datetime(6), total decimal(12,2), status varchar(20), updated_at datetime(6)) "
             "ENGINE=InnoDB;",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, customer_id INTEGER, created_at TEXT, "
              "total NUMERIC, status TEXT, updated_at TEXT);",
}


def norm(rows):
    """{(customer_id, day): (revenue, orders)} from text rows."""
    return {(int(r[0]), r[1][:10]): (Decimal(r[2]).quantize(Decimal("0.01")), int(r[3]))
            for r in rows}


def expected(src):
    return norm(src._query(f"SELECT customer_id, date(created_at), sum(total), count(*) FROM "
                           f"{src.table} WHERE {WHERE} GROUP BY customer_id, date(created_at)"))


def actual(dst):
    return norm(dst._query(f"SELECT customer_id, day, revenue, orders FROM {dst.table}"))


def order(i, customer, day, total, status="paid", stamp="2025-01-01 00:00:00"):
    return (f"({i}, {customer}, '2025-03-{day:02d} {i % 24:02d}:15:00', {total}, '{status}', "
            f"'{stamp}')")


def seed(src, engine):
    src.exec(SOURCE_DDL[engine])
    # customers 1..4, days 1..5; every 9th order cancelled
    rows = [order(i, 1 + i % 4, 1 + i % 5, f"{(i * 7) % 40 * 0.25:.2f}",
                  "cancelled" if i % 9 == 0 else "paid") for i in range(1, N + 1)]
    src.exec(f"INSERT INTO {{t}} VALUES {', '.join(rows)};")


def write_config(root, src, dst):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + src.ds_line + dst.ds_line)
    ref = src.ref[:-1] + f', where: "{WHERE}"}}'
    (root / "pipelines" / "daily_revenue.yaml").write_text(
        PIPELINE.format(source=ref, destination=dst.ref))


def run(synctool, root, strategy):
    return run_json(synctool, root, "daily_revenue", strategy)[0]


def scenario(synctool, root, src, dst, engine):
    seed(src, engine)
    write_config(root, src, dst)
    assert synctool("validate", config_dir=root).rc == 0
    plan = synctool("ddl", "plan", "daily_revenue", config_dir=root)
    assert plan.rc == 0 and "synctool_groups_daily_revenue" in plan.out, plan
    assert synctool("ddl", "apply", "daily_revenue", config_dir=root).rc == 0
    r = synctool("check", "daily_revenue", config_dir=root)
    assert r.rc == 0, r.out + r.err
    assert "the aggregate query (3 expression column(s) and the source filter, grouped by the " \
           "key) runs on the source" in r.out, r.out
    assert "the source's primary key (id) maps each row to its group" in r.out, r.out

    want = expected(src)
    assert len(want) == 20
    assert run(synctool, root, "nightly") == (len(want), 0, 0)
    assert actual(dst) == want
    assert run(synctool, root, "delta") == (0, 0, 0)   # first delta: every row, no change

    later = "2025-04-01 00:00:00"
    # inserts: a new customer and day (a new group), and two into existing groups
    src.exec(f"INSERT INTO {{t}} VALUES {order(101, 9, 20, '5.50', stamp=later)}, "
             f"{order(102, 1, 1, '2.25', stamp=later)}, {order(103, 2, 2, '1.00', stamp=later)};")
    assert run(synctool, root, "delta") == (1, 2, 0)
    assert actual(dst) == expected(src)

    # updates: 101 (alone in (9, 20)) moves to customer 3, day 4 — its old group is
    # left empty and deleted; 6 moves between customers and days; 8 leaves the filter
    later = "2025-04-02 00:00:00"
    src.exec(f"UPDATE {{t}} SET customer_id = 3, created_at = '2025-03-04 08:00:00', "
             f"updated_at = '{later}' WHERE id = 101;")
    src.exec(f"UPDATE {{t}} SET customer_id = 2, created_at = '2025-03-05 08:00:00', "
             f"updated_at = '{later}' WHERE id = 6;")
    src.exec(f"UPDATE {{t}} SET status = 'cancelled', updated_at = '{later}' WHERE id = 8;")
    before = actual(dst)
    want = expected(src)
    assert (9, "2025-03-20") in before and (9, "2025-03-20") not in want
    ins, upd, dele = run(synctool, root, "delta")
    assert dele == 1 and ins + upd >= 3, (ins, upd, dele)
    assert actual(dst) == want

    # deletes: delta sees no cursor move; full recomputes, deleting a vanished group
    gone = [k for k, v in want.items() if v[1] == 1][0]
    src.exec(f"DELETE FROM {{t}} WHERE customer_id = {gone[0]} AND "
             f"date(created_at) = '{gone[1]}';")
    src.exec("DELETE FROM {t} WHERE id = 1;")
    assert run(synctool, root, "delta") == (0, 0, 0)
    assert actual(dst) == want            # unchanged: delta does not see deletes
    want = expected(src)
    assert gone not in want
    r = synctool("diff", "daily_revenue", "--strategy", "hash", config_dir=root)
    assert r.rc == 1 and "to delete: 1" in r.out and "to update: 1" in r.out, r
    assert run(synctool, root, "nightly")[2] == 1
    assert actual(dst) == want
    assert run(synctool, root, "hash") == (0, 0, 0)
    assert synctool("diff", "daily_revenue", "--strategy", "hash", config_dir=root).rc == 0

    # after full, delta still follows moves (the map was rebuilt by full)
    src.exec("UPDATE {t} SET customer_id = 4, updated_at = '2025-04-03 00:00:00' WHERE id = 2;")
    run(synctool, root, "delta")
    assert actual(dst) == expected(src)
    assert run(synctool, root, "hash") == (0, 0, 0)


@pytest.mark.parametrize("src_kind", ["pg", "mysql", "sqlite"])
@pytest.mark.parametrize("dst_kind", ["pg", "mysql", "sqlite"])
def test_daily_revenue(synctool, tmp_path, request, src_kind, dst_kind):
    src, dst = sides(request, tmp_path, (src_kind, "shop", "orders"),
                     (dst_kind, "wh", "daily_revenue"))
    scenario(synctool, tmp_path, src, dst, src_kind)


def test_validation_names_file_line_col(synctool, tmp_path):
    write(tmp_path,
          "name: p\n"
          "source: {datastore: a, query: \"SELECT 1 AS id\"}\n"
          "destination: {datastore: b, table: t}\n"
          "aggregate: {group_by: [customer_id, nosuch, total]}\n"
          "columns:\n"
          "  - {name: customer_id, type: bigint, key: true}\n"
          "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
          "  - {name: total, type: bigint}\n"
          "  - {name: n, type: bigint, expr: \"total + 1\"}\n"
          "strategies:\n"
          "  - {name: c, type: cdc}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    err = r.err
    assert 'pipelines/p.yaml:4:37: aggregate.group_by[1]: "nosuch" is not in columns' in err, err
    assert ('pipelines/p.yaml:4:45: aggregate.group_by[2]: column "total" is not a key column'
            in err), err
    assert ('pipelines/p.yaml:7:34: columns[1]: key column "day" is not in aggregate.group_by'
            in err), err
    assert ('pipelines/p.yaml:8:12: columns[2]: column "total" of an aggregate pipeline must be '
            'a group key or an aggregate expression') in err, err
    assert "pipelines/p.yaml:9:" in err and 'column "n" of an aggregate pipeline' in err, err
    assert "pipelines/p.yaml:2:24:" in err and "source.query: an aggregate pipeline reads a " \
           "source table" in err, err
    assert 'pipelines/p.yaml:11:5: strategies[0]: strategy "c" is type cdc, which an ' \
           "aggregate pipeline does not have" in err, err
    # a group key may be an expression, and the cursor a column of the source rows
    write(tmp_path,
          "name: p\nsource: {datastore: a, table: orders}\ndestination: {datastore: b, table: t}\n"
          "aggregate: {group_by: [day]}\n"
          "columns:\n"
          "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
          "  - {name: n, type: bigint, expr: \"COUNT (*)\"}\n"
          "strategies:\n  - {name: d, type: delta, cursor: updated_at}\n")
    assert synctool("validate", config_dir=tmp_path).rc == 0


def test_lookups_refused_as_not_implemented(synctool, tmp_path):
    """An aggregate pipeline with lookups is refused (not implemented), at
    the `lookups` key, with the way to get there instead."""
    write(tmp_path,
          "name: p\nsource: {datastore: a, table: orders}\ndestination: {datastore: b, table: t}\n"
          "aggregate: {group_by: [customer_id]}\n"
          "columns:\n"
          "  - {name: customer_id, type: bigint, key: true}\n"
          "  - {name: n, type: bigint, expr: \"count(*)\"}\n"
          "lookups:\n"
          "  - {datastore: a, table: customers, key: customer_id, lookup_key: id,\n"
          "     columns: [{name: segment, type: text}]}\n"
          "strategies:\n  - {name: f, type: full}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert ("pipelines/p.yaml:8:1: lookups: an aggregate pipeline cannot have lookups (not "
            "implemented): enrich the rows in a pipeline of their own and aggregate its "
            "destination") in r.err, r


def test_no_primary_key_and_missing_map(synctool, tmp_path):
    import sqlite3
    write(tmp_path,
          "name: p\nsource: {datastore: a, table: orders}\ndestination: {datastore: b, table: t}\n"
          "aggregate: {group_by: [day]}\n"
          "columns:\n"
          "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
          "  - {name: n, type: bigint, expr: \"count(*)\"}\n"
          "strategies:\n  - {name: d, type: delta, cursor: updated_at}\n"
          "  - {name: f, type: full}\n")
    db = sqlite3.connect(tmp_path / "a.db")
    db.execute("CREATE TABLE orders (created_at TEXT, updated_at TEXT)")
    db.close()
    db = sqlite3.connect(tmp_path / "b.db")
    db.execute("CREATE TABLE t (day DATE NOT NULL PRIMARY KEY, n INTEGER)")
    db.close()
    r = synctool("run", "--job-name", "p", "--strategy", "f", config_dir=tmp_path)
    assert r.rc == 1 and "datastore 'a': source table main.orders has no primary key: an " \
                         "aggregate pipeline maps each source row to its group by it" in r.err, r
    r = synctool("check", "p", config_dir=tmp_path)
    assert r.rc != 0 and "source a.main.orders has no primary key: an aggregate pipeline maps " \
                         "each source row to its group by it" in r.out, r
    db = sqlite3.connect(tmp_path / "a.db")
    db.executescript("DROP TABLE orders; CREATE TABLE orders (id INTEGER PRIMARY KEY, "
                     "created_at TEXT, updated_at TEXT); INSERT INTO orders VALUES "
                     "(1, '2025-01-01 10:00:00', '2025-01-01 10:00:00');")
    db.close()
    r = synctool("run", "--job-name", "p", "--strategy", "f", config_dir=tmp_path)
    assert r.rc == 1 and "the group map main.synctool_groups_t of aggregate pipeline 'p' does " \
                         "not exist: run `synctool ddl apply p`" in r.err, r
    r = synctool("check", "p", config_dir=tmp_path)
    assert "synctool_groups_t" in r.out and "run `synctool ddl apply p`" in r.out, r
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("run", "--job-name", "p", "--strategy", "f", config_dir=tmp_path)
    assert r.rc == 0, r
    db = sqlite3.connect(tmp_path / "b.db")
    assert db.execute("SELECT day, n FROM t").fetchall() == [("2025-01-01", 1)]
    assert db.execute("SELECT * FROM synctool_groups_t").fetchall() == [("1", "2025-01-01")]
    db.close()


def test_explain_list_and_api_show_the_aggregate(synctool, tmp_path):
    write(tmp_path,
          "name: p\nsource: {datastore: a, table: orders, where: \"total > 0\"}\n"
          "destination: {datastore: b, table: t}\n"
          "aggregate: {group_by: [customer_id, day]}\n"
          "columns:\n"
          "  - {name: customer_id, type: bigint, key: true}\n"
          "  - {name: day, type: date, key: true, expr: \"date(created_at)\"}\n"
          "  - {name: revenue, type: \"numeric(14,2)\", expr: \"sum(total)\"}\n"
          "strategies:\n  - {name: f, type: full}\n")
    r = synctool("explain", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    assert ("aggregate: one row per group of customer_id, day = date(created_at); delta "
            "recomputes the groups its changed rows left and joined (group map "
            "synctool_groups_t); deleted source rows are seen by full and hash") in r.out, r.out
    r = synctool("list", "--json", config_dir=tmp_path)
    doc = json.loads(r.out)
    assert doc[0]["aggregate"] == {"group_by": ["customer_id", "day"],
                                   "group_map": "synctool_groups_t"}
    check_schema("PipelineSummary", doc[0])
    from http_helpers import Server
    with Server(str(tmp_path)) as s:      # the detail, validated against docs/openapi.yaml
        d = s.json("GET", "/api/v1/pipelines/p", template="/api/v1/pipelines/{name}")
    assert d["aggregate"] == doc[0]["aggregate"]
    assert d["source"]["where"] == "total > 0"
    assert [(c["dest"], c["key"], c["expr"]) for c in d["columns"]] == [
        ("customer_id", True, None), ("day", True, "date(created_at)"),
        ("revenue", False, "sum(total)")]


def test_pg_late_commit_moves_an_order(synctool, tmp_path, pg_server, pgschema):
    """A transaction that moves order 1 to another customer stays open while
    a later order commits and delta runs: the watermark is held below it
    (the late-commit cap of row-level delta), so once it commits the next
    delta recomputes both the group order 1 left and the one it joined."""
    from test_delta_late_commit import PgOpenTxn
    t = f'"{pgschema}".orders'
    pg_server.psql(f"CREATE TABLE {t} (id bigint PRIMARY KEY, customer_id bigint, created_at "
                   f"timestamp, total numeric(12,2), status text, updated_at timestamptz NOT "
                   f"NULL DEFAULT now()); INSERT INTO {t} (id, customer_id, created_at, total, "
                   f"status) VALUES (1, 1, '2025-03-01 10:00', 10.00, 'paid'), (2, 1, "
                   f"'2025-03-01 11:00', 5.00, 'paid')", dbname=pg_server.dbname)
    src = pg_side(pg_server, pgschema, "shop", "orders")
    dst = pg_side(pg_server, pgschema, "wh", "daily_revenue")
    write_config(tmp_path, src, dst)
    assert synctool("ddl", "apply", "daily_revenue", config_dir=tmp_path).rc == 0
    run(synctool, tmp_path, "nightly")
    run(synctool, tmp_path, "delta")
    assert actual(dst) == expected(src)
    txn = PgOpenTxn(pg_server, f"UPDATE {t} SET customer_id = 2, updated_at = now() "
                               f"WHERE id = 1;")
    try:
        pg_server.psql(f"INSERT INTO {t} (id, customer_id, created_at, total, status) VALUES "
                       f"(3, 3, '2025-03-02 09:00', 1.00, 'paid')", dbname=pg_server.dbname)
        r = synctool("run", "--job-name", "daily_revenue", "--strategy", "delta",
                     config_dir=tmp_path)
        assert r.rc == 0 and "may still commit rows stamped from then on" in r.err, r
        assert actual(dst) == expected(src)
        txn.commit()
    finally:
        txn.kill()
    want = expected(src)
    assert (2, "2025-03-01") in want and actual(dst) != want
    run(synctool, tmp_path, "delta")
    assert actual(dst) == want
    assert run(synctool, tmp_path, "hash") == (0, 0, 0)


def test_example_runs(tmp_path):
    """examples/aggregate/run, on a copy, succeeds and leaves what its README
    says in the warehouse."""
    import sqlite3
    out, ex = run_example(tmp_path, "aggregate")
    assert "aggregate: ok" in out
    assert "aggregate: one row per group of customer_id, day = date(created_at)" in out
    db = sqlite3.connect(ex / "data" / "wh.db")
    assert db.execute("SELECT customer_id, day, orders FROM daily_revenue ORDER BY 1, 2"
                      ).fetchall() == [(8, "2025-03-01", 1), (8, "2025-03-02", 1),
                                       (9, "2025-03-03", 1)]
    db.close()


def test_dashboard_pipeline_page_shows_the_aggregate(synctool, tmp_path):
    """The dashboard's pipeline page (through the API's pipeline object)
    shows the groups and the group map of an aggregate pipeline."""
    import os
    import shutil
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from conftest import ROOT
    from http_helpers import Server
    from test_dashboard_browser import STALE, browser
    ex = tmp_path / "aggregate"
    shutil.copytree(os.path.join(ROOT, "examples", "aggregate"), ex,
                    ignore=shutil.ignore_patterns("data", ".synctool"))
    (ex / "data").mkdir()
    import sqlite3
    db = sqlite3.connect(ex / "data" / "shop.db")
    db.executescript((ex / "seed.sql").read_text())
    db.close()
    assert synctool("ddl", "apply", "daily_revenue", config_dir=ex).rc == 0
    assert synctool("run", "--job-name", "daily_revenue", "--strategy", "nightly",
                    config_dir=ex).rc == 0
    with Server(str(ex)) as srv:
        d = browser()
        try:
            wait = WebDriverWait(d, 60, poll_frequency=0.2, ignored_exceptions=STALE)
            d.get(srv.base + "/#/p/daily_revenue")
            wait.until(lambda d: d.find_elements(By.ID, "p-aggregate"))
            text = d.find_element(By.ID, "p-aggregate").text
            assert text == ("aggregate: one row per group of customer_id, day · group map "
                            "synctool_groups_daily_revenue"), text
            assert "computed: day = date(created_at)" in d.find_element(By.ID, "p-sub").text
            errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
            assert errors == [], errors
        finally:
            d.quit()
