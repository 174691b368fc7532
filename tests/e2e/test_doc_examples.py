"""End-to-end: the pipelines of docs/configuration.md run as written (issue 26,
"resolved when").

Every fenced YAML block of docs/configuration.md that is a whole pipeline
file (it starts with `name:`) is written, unchanged, into one config
directory next to datastores matching its names: shop, app and crm on a
PostgreSQL database of their own (so `schema: public` is the real default
schema), warehouse and wh SQLite files. Then:

1. the issue's own YAML is in the docs verbatim: the daily_revenue pipeline
   as a whole, and the lines of the ignored column, the `gross` expression
   and the filter;
2. `validate` accepts every block; `explain` shows each feature's line;
3. `ddl apply` and `check` pass for the four examples of issue 26, and
   their strategies run: after each, the destination equals what the
   source database answers to the same question (the ignored column's
   table, the filtered SELECT with the expression, the left join with the
   customers, the GROUP BY);
4. an ignored column changed on the source moves nothing; a row leaving the
   filter is deleted by hash; a changed customer segment is brought in by
   hash; a moved order is recomputed by delta.

So the documentation cannot drift from what synctool accepts and does.
"""
import json
import os
import re
import sqlite3
import uuid
from decimal import Decimal

import pytest

from conftest import ROOT

DOC = os.path.join(ROOT, "docs", "configuration.md")

# issue 26, as filed
ISSUE_DAILY_REVENUE = """\
name: daily_revenue
source: {datastore: shop, table: orders, where: "status <> 'cancelled'"}
destination: {datastore: wh, table: daily_revenue}
aggregate: {group_by: [customer_id, day]}
columns:
  - {name: customer_id, type: bigint, key: true}
  - {name: day, type: date, key: true, expr: "date(created_at)"}
  - {name: revenue, type: "numeric(14,2)", expr: "sum(total)"}
  - {name: orders, type: bigint, expr: "count(*)"}
strategies:
  - {name: delta, type: delta, cursor: updated_at}   # a column of the source rows
  - {name: nightly, type: full, cron: "0 3 * * *"}
"""
ISSUE_LINES = {
    "pages": ["- {name: views, type: bigint, compare: false}"],
    "orders_gross": ['- {name: gross, type: "numeric(12,2)", expr: "round(total * 1.19, 2)"}',
                     "where: \"status <> 'cancelled'\""],
    "orders_enriched": ["lookups:", "cache_rows:", "cache_ttl:", "required:"],
}


def doc_pipelines():
    """{name: text} of the doc's fenced yaml blocks that are pipeline files."""
    text = open(DOC, encoding="utf-8").read()
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        if block.startswith("name:"):
            name = block.split("\n", 1)[0].split(":", 1)[1].strip()
            assert name not in out, f"two pipeline blocks named {name} in {DOC}"
            out[name] = block
    return out


@pytest.fixture
def pgdb(pg_server):
    name = "e2e_doc_" + uuid.uuid4().hex[:8]
    pg_server.psql(f'CREATE DATABASE "{name}"')
    yield name
    pg_server.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


def pg_rows(pg, db, sql):
    return [ln.split("|") for ln in pg.psql(sql, dbname=db).splitlines() if ln]


def sq_rows(path, sql):
    db = sqlite3.connect(path)
    rows = [["" if v is None else str(v) for v in r] for r in db.execute(sql)]
    db.close()
    return rows


SOURCE = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total numeric(12,2),
  status text, created_at timestamp, updated_at timestamptz);
INSERT INTO orders SELECT g, g % 7 + 1, (g * 37 % 400) * 0.25,
  CASE WHEN g % 9 = 0 THEN 'cancelled' ELSE 'paid' END,
  timestamp '2025-03-01 08:00' + (g % 5) * interval '1 day' + (g % 11) * interval '1 hour',
  timestamptz '2025-03-10 00:00Z' FROM generate_series(1, 120) g;
CREATE TABLE pages (id bigint PRIMARY KEY, title text, views bigint, last_seen_at timestamptz,
  updated_at timestamptz);
INSERT INTO pages SELECT g, 'page ' || g, g * 10, timestamptz '2025-03-01 00:00Z',
  timestamptz '2025-03-01 00:00Z' FROM generate_series(1, 50) g;
CREATE TABLE customers (id bigint PRIMARY KEY, name text, segment text, tier integer);
INSERT INTO customers SELECT g, 'customer ' || g, 'seg' || (g % 3), g % 2
  FROM generate_series(1, 5) g;
"""


def write_config(root, pg, db, blocks):
    (root / "pipelines").mkdir()
    conn = (f"{{host: {pg.host}, port: {pg.port}, user: {pg.user}, "
            f"password: \"{pg.password}\", dbname: {db}}}")
    (root / "datastores.yaml").write_text(
        "datastores:\n"
        f"  shop: {{type: postgres, connection: {conn}}}\n"
        f"  app: {{type: postgres, connection: {conn}}}\n"
        f"  crm: {{type: postgres, connection: {conn}}}\n"
        "  warehouse: {type: sqlite, path: warehouse.db}\n"
        "  wh: {type: sqlite, path: wh.db}\n")
    for name, text in blocks.items():
        (root / "pipelines" / f"{name}.yaml").write_text(text)


def run(synctool, root, pipeline, strategy):
    r = synctool("run", "--job-name", pipeline, "--strategy", strategy, "--json",
                 config_dir=root)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["status"] == "success", doc
    return doc["rows_inserted"], doc["rows_updated"], doc["rows_deleted"]


def dec(v):
    return None if v == "" else Decimal(v).quantize(Decimal("0.01"))


class Answers:
    """What the databases answer: the source's own queries, the
    destination's tables."""

    def __init__(self, pg, db, root):
        self.pg, self.db, self.root = pg, db, root

    def src(self, sql):
        return pg_rows(self.pg, self.db, sql)

    def pages(self):
        return ({int(r[0]): (r[1], int(r[2])) for r in self.src(
                    "SELECT id, title, views FROM pages")},
                {int(r[0]): (r[1], int(r[2])) for r in sq_rows(
                    self.root / "warehouse.db", "SELECT id, title, views FROM pages")})

    def gross(self):
        return ({int(r[0]): (dec(r[1]), dec(r[2])) for r in self.src(
                    "SELECT id, total, round(total * 1.19, 2) FROM orders "
                    "WHERE status <> 'cancelled'")},
                {int(r[0]): (dec(r[1]), dec(r[2])) for r in sq_rows(
                    self.root / "warehouse.db", "SELECT id, total, gross FROM orders_gross")})

    def enriched(self):
        def norm(rows):
            return {int(r[0]): (r[1], None if r[2] == "" else int(r[2])) for r in rows}
        return (norm(self.src("SELECT o.id, c.segment, c.tier FROM orders o "
                              "LEFT JOIN customers c ON c.id = o.customer_id")),
                norm(sq_rows(self.root / "warehouse.db",
                             "SELECT id, segment, customer_tier FROM orders_enriched")))

    def revenue(self):
        def norm(rows):
            return {(int(r[0]), r[1][:10]): (dec(r[2]), int(r[3])) for r in rows}
        return (norm(self.src("SELECT customer_id, date(created_at), sum(total), count(*) "
                              "FROM orders WHERE status <> 'cancelled' "
                              "GROUP BY customer_id, date(created_at)")),
                norm(sq_rows(self.root / "wh.db",
                             "SELECT customer_id, day, revenue, orders FROM daily_revenue")))


def equal(pair):
    want, got = pair
    assert got == want
    return len(want)


def test_doc_examples_run_as_written(synctool, tmp_path, pg_server, pgdb):
    blocks = doc_pipelines()
    for name in ("pages", "orders_gross", "daily_revenue", "orders_enriched"):
        assert name in blocks, f"docs/configuration.md has no pipeline block named {name}"
    assert blocks["daily_revenue"] == ISSUE_DAILY_REVENUE
    for name, lines in ISSUE_LINES.items():
        for line in lines:
            assert line in blocks[name], (name, line)

    pg_server.psql(SOURCE, dbname=pgdb)
    write_config(tmp_path, pg_server, pgdb, blocks)
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 0, r
    shows = {
        "pages": ["ignored columns: views, last_seen_at"],
        "orders_gross": ["source filter: status <> 'cancelled'",
                         "computed column: gross = round(total * 1.19, 2)"],
        "daily_revenue": ["aggregate: one row per group of customer_id, day = "
                          "date(created_at)"],
        "orders_enriched": ["lookup crm: crm.public.customers by customer_id = id adds "
                            "segment, customer_tier"],
    }
    for name, lines in shows.items():
        r = synctool("explain", name, config_dir=tmp_path)
        assert r.rc == 0, r
        for line in lines:
            assert line in r.out, (line, r.out)
        assert synctool("ddl", "apply", name, config_dir=tmp_path).rc == 0
        r = synctool("check", name, config_dir=tmp_path)
        assert r.rc == 0, r

    a = Answers(pg_server, pgdb, tmp_path)
    assert run(synctool, tmp_path, "pages", "full_weekly") == (50, 0, 0)
    assert run(synctool, tmp_path, "orders_gross", "delta_5m")[0] == equal(a.gross())
    assert run(synctool, tmp_path, "orders_enriched", "delta_5m") == (120, 0, 0)
    assert equal(a.enriched()) == 120
    assert run(synctool, tmp_path, "daily_revenue", "nightly")[0] == equal(a.revenue())
    equal(a.pages())

    src = a.src
    # the ignored column alone: nothing moves
    src("UPDATE pages SET views = views + 1, last_seen_at = now() WHERE id % 10 = 0")
    assert run(synctool, tmp_path, "pages", "hash_daily") == (0, 0, 0)
    assert run(synctool, tmp_path, "pages", "full_weekly") == (0, 0, 0)
    # another column changes: delta (its first run: every row, every column
    # compared) writes the title and the stale views
    src("UPDATE pages SET title = 'new', updated_at = now() WHERE id = 11")
    assert run(synctool, tmp_path, "pages", "delta_5m") == (0, 6, 0)
    equal(a.pages())
    # a row leaves the filter; an order moves to another customer and day
    src("UPDATE orders SET status = 'cancelled', updated_at = now() WHERE id = 1")
    src("UPDATE orders SET customer_id = 3, created_at = '2025-03-04 09:00', "
        "updated_at = now() WHERE id = 2")
    assert run(synctool, tmp_path, "orders_gross", "hash_daily")[2] == 1
    equal(a.gross())
    run(synctool, tmp_path, "daily_revenue", "delta")
    equal(a.revenue())
    # a customer's segment changes: hash brings it in
    src("UPDATE customers SET segment = 'vip' WHERE id = 3")
    assert run(synctool, tmp_path, "orders_enriched", "hash_daily")[1] > 0
    equal(a.enriched())
