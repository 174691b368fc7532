"""End-to-end: lookups from another datastore (issue 26, item 3).

Orders (id, customer_id, total, updated_at) are copied with each customer's
segment and tier, looked up in a customers table of a third datastore by
customer_id. Every engine pair (SQLite, PostgreSQL, MySQL as source and
destination) runs it, the lookup's engine rotating so each engine is the
lookup datastore three times: the third engine when source and destination
differ (PostgreSQL -> MySQL with a SQLite lookup, MySQL -> SQLite with
PostgreSQL, SQLite -> PostgreSQL with MySQL, ... on 1200 orders), the next
one when they are the same (PostgreSQL -> PostgreSQL with MySQL, MySQL ->
MySQL with SQLite, SQLite -> SQLite with PostgreSQL, on 600 orders):

1. `check` finds the lookup table and its columns; `ddl apply` creates the
   lookup columns; `full` copies every order with its customer's columns:
   a key the customers table has (most, many of them cache hits: a cache of
   5 rows for 12 keys), a key it lacks (NULLs) and a NULL key (NULLs);
2. `delta` copies new and changed orders, enriched;
3. a change in the customers table (a segment changed, a missing customer
   added): `delta` moves nothing (no order changed), `hash` rewrites exactly
   the orders of those customers, then finds nothing; `full` after it moves
   nothing; another change is picked up by `full`.

The expectation is always what the source and lookup databases answer
(their rows, joined by customer_id = id), never synctool's own output.

Then, on SQLite: `required: true` fails the run naming the lookup and the
key (a NULL key still gives NULLs); validation names file:line:col for an
unknown datastore, a key that is not a column, a clashing column, a source
query and a cdc strategy. On PostgreSQL: the lookup datastore (a private
server) is stopped while a run is held at a gate in its source view; once
released the run fails naming the lookup's datastore (no password), and
a run against the stopped server fails the same way before writing.
"""
import json
import os
import re
import sqlite3
import subprocess
from decimal import Decimal

import pytest

from conftest import BIN
from pairs import (mydb, pgschema, run_example, run_json, sides, sqlite_side,  # noqa: F401
                   write_sqlite_pair)
from test_lifecycle import PgHold
from test_scheduler_helpers import wait_until

N = 1200                     # 3 batches of enrichment (500 rows each)
MISSING = {10, 11, 12}       # customer ids the customers table lacks

SOURCE_DDL = {
    "pg": "CREATE TABLE {t} (id bigint PRIMARY KEY, customer_id bigint, total numeric(12,2), "
          "updated_at timestamp);",
    "mysql": "CREATE TABLE {t} (id bigint PRIMARY KEY, customer_id bigint, total decimal(12,2), "
             "updated_at datetime(6)) ENGINE=InnoDB;",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, customer_id INTEGER, total NUMERIC, "
              "updated_at TEXT);",
}
LOOKUP_DDL = {
    "pg": "CREATE TABLE {t} (id bigint PRIMARY KEY, name text, segment varchar(20), tier int);",
    "mysql": "CREATE TABLE {t} (id bigint PRIMARY KEY, name varchar(50), segment varchar(20), "
             "tier int) ENGINE=InnoDB;",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, segment TEXT, tier INTEGER);",
}


def nul(v):
    """A value as the clients print it, None for SQL NULL (psql: empty,
    mariadb: NULL, Python's sqlite3: None)."""
    return None if v in ("", "NULL", "None", None) else v


def customers(lk):
    return {int(r[0]): (nul(r[1]), None if nul(r[2]) is None else int(r[2]))
            for r in lk._query(f"SELECT id, segment, tier FROM {lk.table}")}


def expected(src, lk):
    """The orders left-joined with the customers, as the two databases answer."""
    cust = customers(lk)
    out = {}
    for r in src._query(f"SELECT id, customer_id, total FROM {src.table}"):
        c = None if nul(r[1]) is None else int(r[1])
        seg, tier = cust.get(c, (None, None)) if c is not None else (None, None)
        out[int(r[0])] = (c, Decimal(r[2]).normalize(), seg, tier)
    return out


def actual(dst):
    out = {}
    for r in dst._query(f"SELECT id, customer_id, total, segment, customer_tier FROM {dst.table}"):
        out[int(r[0])] = (None if nul(r[1]) is None else int(r[1]), Decimal(r[2]).normalize(),
                          nul(r[3]), None if nul(r[4]) is None else int(r[4]))
    return out


def seed(src, src_engine, lk, lk_engine, n=N):
    src.exec(SOURCE_DDL[src_engine])
    vals = ", ".join(
        f"({i}, {'NULL' if i % 10 == 0 else i % 12 + 1}, {(i * 37) % 1000}.{i % 100:02d}, "
        f"'2025-01-01 00:00:00')" for i in range(1, n + 1))
    src.exec(f"INSERT INTO {{t}} VALUES {vals};")
    lk.exec(LOOKUP_DDL[lk_engine])
    vals = ", ".join(f"({i}, 'customer {i}', 'seg{i % 4}', {i % 3})" for i in range(1, 10))
    lk.exec(f"INSERT INTO {{t}} VALUES {vals};")


def lookup_item(lk, extra=""):
    where = lk.ref[1:-1]   # "datastore: crm, [schema: s, ]table: customers"
    return (f"  - {{name: crm, {where}, key: customer_id, lookup_key: id, cache_rows: 5, "
            f"cache_ttl: 5m{extra},\n"
            "     columns: [{name: segment, type: \"varchar(20)\"}, "
            "{name: tier, type: integer, dest: customer_tier}]}\n")


def write_config(root, src, dst, lk, extra=""):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + src.ds_line + dst.ds_line +
                                          lk.ds_line)
    (root / "pipelines" / "orders.yaml").write_text(
        f"name: orders\nsource: {src.ref}\ndestination: {dst.ref}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "  - {name: customer_id, type: bigint}\n"
        "  - {name: total, type: \"numeric(12,2)\"}\n"
        "  - {name: updated_at, type: timestamp}\n"
        "lookups:\n" + lookup_item(lk, extra) +
        "strategies:\n"
        "  - {name: delta, type: delta, cursor: updated_at, batch_size: 50}\n"
        "  - {name: hash, type: hash, segment_rows: 16, batch_size: 50}\n"
        "  - {name: full, type: full, batch_size: 50}\n")


def run(synctool, root, strategy, debug=False):
    return run_json(synctool, root, "orders", strategy, debug=debug)


def orders_of(want, ids):
    return sum(1 for v in want.values() if v[0] in ids)


def scenario(synctool, root, src, dst, lk, src_engine, lk_engine, n=N):
    seed(src, src_engine, lk, lk_engine, n)
    write_config(root, src, dst, lk)
    assert synctool("validate", config_dir=root).rc == 0
    assert synctool("ddl", "apply", "orders", config_dir=root).rc == 0
    r = synctool("check", "orders", config_dir=root)
    assert "lookup crm: crm." in r.out and "has id and the 2 column(s)" in r.out, r
    want = expected(src, lk)
    assert any(v[0] in MISSING for v in want.values())       # a miss
    assert any(v[0] is None for v in want.values())          # a NULL key
    moved, log = run(synctool, root, "full", debug=True)
    assert moved == (n, 0, 0)
    assert actual(dst) == want
    m = re.search(r"lookup crm: (\d+) queries for (\d+) keys, (\d+) cache hits, (\d+) rows "
                  r"whose key has no row", log)
    assert m, log
    queries, keys, hits, missing = map(int, m.groups())
    assert hits > 0 and missing > 0 and queries < n // 10, m.group(0)

    later = "'2025-02-01 00:00:00'"
    src.exec(f"UPDATE {{t}} SET customer_id = 5, updated_at = {later} WHERE id = 1;")
    src.exec(f"INSERT INTO {{t}} VALUES ({n + 1}, 3, 10.00, {later}), "
             f"({n + 2}, 11, 20.00, {later}), ({n + 3}, NULL, 30.00, {later});")
    moved, _ = run(synctool, root, "delta")
    assert moved == (3, 1, 0)
    assert actual(dst) == expected(src, lk)

    # the lookup table changes: delta cannot see it, hash and full do
    lk.exec("UPDATE {t} SET segment = 'vip', tier = 0 WHERE id = 2;")
    lk.exec("INSERT INTO {t} VALUES (10, 'customer 10', 'new', 2);")
    want = expected(src, lk)
    moved, _ = run(synctool, root, "delta")
    assert moved == (0, 0, 0)
    assert actual(dst) != want
    moved, _ = run(synctool, root, "hash")
    assert moved == (0, orders_of(want, {2, 10}), 0)
    assert actual(dst) == want
    assert run(synctool, root, "hash")[0] == (0, 0, 0)
    assert run(synctool, root, "full")[0] == (0, 0, 0)
    lk.exec("UPDATE {t} SET segment = 'gold' WHERE id = 4;")
    want = expected(src, lk)
    assert run(synctool, root, "full")[0] == (0, orders_of(want, {4}), 0)
    assert actual(dst) == want
    assert run(synctool, root, "hash")[0] == (0, 0, 0)
    r = synctool("explain", "orders", config_dir=root)
    assert "lookup crm: crm." in r.out and "by customer_id = id adds segment, customer_tier" \
        in r.out, r


ENGINES = ["pg", "mysql", "sqlite"]


def lookup_engine(src_kind, dst_kind):
    """The third engine when source and destination differ, else the next
    one: each engine is the lookup datastore of three pairs."""
    if src_kind != dst_kind:
        return (set(ENGINES) - {src_kind, dst_kind}).pop()
    return ENGINES[(ENGINES.index(src_kind) + 1) % 3]


@pytest.mark.parametrize("src_kind", ENGINES)
@pytest.mark.parametrize("dst_kind", ENGINES)
def test_lookups_every_engine_pair(synctool, tmp_path, request, src_kind, dst_kind):
    lk_kind = lookup_engine(src_kind, dst_kind)
    src, dst, lk = sides(request, tmp_path, (src_kind, "shop", "orders"),
                         (dst_kind, "wh", "orders_enriched"), (lk_kind, "crm", "customers"))
    scenario(synctool, tmp_path, src, dst, lk, src_kind, lk_kind,
             n=N if src_kind != dst_kind else 600)


def sqlite_setup(root, extra=""):
    (root / "data").mkdir(exist_ok=True)
    src = sqlite_side(root, "shop", "orders")
    dst = sqlite_side(root, "wh", "orders_enriched")
    lk = sqlite_side(root, "crm", "customers")
    seed(src, "sqlite", lk, "sqlite")
    write_config(root, src, dst, lk, extra)
    return src, dst, lk


def test_required_fails_naming_lookup_and_key(synctool, tmp_path):
    src, dst, lk = sqlite_setup(tmp_path, ", required: true")
    assert synctool("ddl", "apply", "orders", config_dir=tmp_path).rc == 0
    r = synctool("run", "--job-name", "orders", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "lookup 'crm' (datastore 'crm', table main.customers)" in r.err, r
    assert re.search(r"no row with id = 1[012] for the row's customer_id \(required: true", r.err), r
    st = json.loads(synctool("status", "orders", "--json", config_dir=tmp_path).out)
    full = [s for s in (st if isinstance(st, list) else st.get("strategies", st))
            if s.get("strategy") == "full"]
    assert full and full[0]["status"] == "failed", st
    # only orders whose customer exists, or that have none: NULL keys give NULLs
    src.exec("DELETE FROM {t} WHERE customer_id IN (10, 11, 12);")
    r = synctool("run", "--job-name", "orders", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 0, r
    assert actual(dst) == expected(src, lk)
    assert any(v[0] is None and v[2] is None for v in actual(dst).values())


def test_validation_names_file_line_col(synctool, tmp_path):
    write_sqlite_pair(
        tmp_path,
        "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "  - {name: cust, type: bigint}\n"
        "lookups:\n"
        "  - {name: x, datastore: nosuch, table: c, key: cust, lookup_key: id,\n"
        "     columns: [{name: seg, type: text}]}\n"
        "  - {name: y, datastore: a, table: c, key: nocol, lookup_key: id,\n"
        "     columns: [{name: cust, type: text}]}\n"
        "strategies:\n  - {name: f, type: full}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert re.search(r'p\.yaml:8:\d+: lookups\[0\]\.datastore: unknown datastore "nosuch"',
                     r.err), r
    assert re.search(r'p\.yaml:10:\d+: lookups\[1\]\.key: "nocol" is not a column of the '
                     r'pipeline', r.err), r
    assert re.search(r'p\.yaml:11:\d+: lookups\[1\]\.columns\[0\]: column "cust" clashes with '
                     r'columns\[1\]', r.err), r
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "name: p\nsource: {datastore: a, query: \"SELECT 1 AS id, 2 AS cust\"}\n"
        "destination: {datastore: b, table: t}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "  - {name: cust, type: bigint}\n"
        "lookups:\n"
        "  - {datastore: a, table: c, key: cust, lookup_key: id, columns: [{name: s, "
        "type: text}]}\n"
        "strategies:\n  - {name: f, type: full}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2 and re.search(r"p\.yaml:8:\d+: lookups: the source is a query", r.err), r


def test_cdc_refused_with_lookups(synctool, tmp_path, pg_server):
    (tmp_path / "pipelines").mkdir()
    pg = pg_server
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n"
        f"  a: {{type: postgres, connection: {{host: {pg.host}, port: {pg.port}, user: {pg.user}, "
        f"password: \"{pg.password}\", dbname: {pg.dbname}}}}}\n"
        "  b: {type: sqlite, path: b.db}\n")
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "  - {name: cust, type: bigint}\n"
        "lookups:\n"
        "  - {datastore: b, table: c, key: cust, lookup_key: id, columns: [{name: s, "
        "type: text}]}\n"
        "strategies:\n  - {name: c, type: cdc}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert re.search(r'p\.yaml:10:\d+: strategies\[0\]: strategy "c" is type cdc, .*lookups are '
                     r'not supported with it', r.err), r


# --- the lookup datastore stopped mid-run ---

GATE_KEY = 926003


def test_lookup_datastore_stopped_mid_run(synctool, tmp_path, pg_server, pgschema):
    import servers
    pg, s = pg_server, pgschema
    crm = servers.Postgres()     # the lookup datastore, ours to stop
    try:
        crm.psql("CREATE TABLE customers (id bigint PRIMARY KEY, segment text); "
                 "INSERT INTO customers SELECT g, 'seg' || g FROM generate_series(1, 50) g")
        # the source: a view whose rows past 1500 wait for the gate (see test_lifecycle)
        pg.psql(f'CREATE TABLE "{s}".orders_src (id bigint PRIMARY KEY, customer_id bigint); '
                f'INSERT INTO "{s}".orders_src SELECT g, g % 50 + 1 FROM generate_series(1, 3000) g; '
                f'CREATE FUNCTION "{s}".gate(i bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE '
                f'AS $$ BEGIN IF i > 1500 THEN PERFORM pg_advisory_lock_shared({GATE_KEY}); '
                f'PERFORM pg_advisory_unlock_shared({GATE_KEY}); END IF; RETURN true; END $$ '
                f'COST 10000; '
                f'CREATE VIEW "{s}".orders AS SELECT id, customer_id FROM "{s}".orders_src '
                f'WHERE "{s}".gate(id)', dbname=pg.dbname)
        (tmp_path / "pipelines").mkdir()
        (tmp_path / "datastores.yaml").write_text(
            "datastores:\n"
            f"  shop: {{type: postgres, connection: {{host: {pg.host}, port: {pg.port}, "
            f"user: {pg.user}, password: \"{pg.password}\", dbname: {pg.dbname}}}}}\n"
            f"  crm: {{type: postgres, connection: {{host: {crm.host}, port: {crm.port}, "
            f"user: {crm.user}, password: \"{crm.password}\", dbname: {crm.dbname}}}}}\n"
            "  wh: {type: sqlite, path: wh.db}\n")
        (tmp_path / "pipelines" / "p.yaml").write_text(
            f"name: p\nsource: {{datastore: shop, schema: {s}, table: orders}}\n"
            "destination: {datastore: wh, table: orders}\n"
            "columns:\n"
            "  - {name: id, type: bigint, key: true}\n"
            "  - {name: customer_id, type: bigint}\n"
            "lookups:\n"
            "  - {datastore: crm, table: customers, key: customer_id, lookup_key: id,\n"
            "     cache_rows: 0, columns: [{name: segment, type: text}]}\n"
            "strategies:\n  - {name: full, type: full, batch_size: 100}\n")
        assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
        hold = PgHold(pg, GATE_KEY)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        proc = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "--job-name", "p",
                                 "--strategy", "full"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            def waiting():
                out = pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                              f"objid = {GATE_KEY} AND NOT granted", dbname=pg.dbname)
                return int(out.strip() or 0) > 0 or proc.poll() is not None
            wait_until(waiting, timeout=120, what="the run waiting at the gate", interval=0.05)
            assert proc.poll() is None, proc.communicate()
            crm.stop()              # the lookup datastore goes away mid-run
        finally:
            hold.release()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, (out, err)
        assert "lookup 'customers' (datastore 'crm', table public.customers)" in err, err
        assert crm.password not in err and crm.password not in out
        db = sqlite3.connect(tmp_path / "wh.db")
        n, bad = db.execute("SELECT count(*), sum(segment IS NOT 'seg' || customer_id) "
                            "FROM orders").fetchone()
        db.close()
        assert 0 < n < 3000 and n % 100 == 0 and not bad, (n, bad)   # whole batches only
        st = json.loads(synctool("status", "p", "--json", config_dir=tmp_path).out)
        rec = [x for x in (st if isinstance(st, list) else st.get("strategies", st))
               if x.get("strategy") == "full"]
        assert rec and rec[0]["status"] == "failed", st
        # a run against the stopped server fails before writing, naming the datastore
        r = synctool("run", "--job-name", "p", "--strategy", "full", config_dir=tmp_path)
        assert r.rc == 1, r
        assert "lookup 'customers': datastore 'crm' could not be reached" in r.err, r
        assert crm.password not in r.err
    finally:
        crm.stop()


def test_example_runs(tmp_path):
    """examples/lookups/run, on a copy, succeeds and leaves what its README
    says in the warehouse."""
    import shutil
    out, ex = run_example(tmp_path, "lookups",
                          ignore=shutil.ignore_patterns("data", ".synctool"))
    assert "lookups: ok" in out
    assert "lookup crm: crm.main.customers by customer_id = id" in out
    db = sqlite3.connect(ex / "data" / "warehouse.db")
    assert db.execute("SELECT id, segment, customer_tier FROM orders_enriched ORDER BY id"
                      ).fetchall() == [(1, "enterprise", 1), (2, "mid-market", 2),
                                       (3, "enterprise", 1), (4, None, None), (5, None, None)]
    db.close()


def test_api_and_list_show_the_lookups(synctool, tmp_path):
    """The pipeline objects carry the lookups, validated against
    docs/openapi.yaml: `list --json` (PipelineSummary) and the API's
    pipeline detail (PipelineDetail: each lookup column names its lookup)."""
    import jsonschema
    from http_helpers import OPENAPI, Server, _resolve
    sqlite_setup(tmp_path)
    assert synctool("ddl", "apply", "orders", config_dir=tmp_path).rc == 0
    r = synctool("list", "--json", config_dir=tmp_path)
    assert r.rc == 0, r
    (p,) = json.loads(r.out)
    jsonschema.Draft7Validator(_resolve(OPENAPI["components"]["schemas"]["PipelineSummary"])
                               ).validate(p)
    want = {"name": "crm", "datastore": "crm", "schema": "main", "table": "customers",
            "key": "customer_id", "lookup_key": "id", "required": False, "cache_rows": 5,
            "cache_ttl_s": 300,
            "columns": [{"name": "segment", "dest": "segment", "type": "varchar(20)"},
                        {"name": "tier", "dest": "customer_tier", "type": "integer"}]}
    assert p["lookups"] == [want]
    with Server(str(tmp_path)) as s:
        d = s.json("GET", "/api/v1/pipelines/orders", template="/api/v1/pipelines/{name}")
    assert d["lookups"] == [want]
    assert [(c["dest"], c["lookup"]) for c in d["columns"]] == [
        ("id", None), ("customer_id", None), ("total", None), ("updated_at", None),
        ("segment", "crm"), ("customer_tier", "crm")]


def test_dashboard_pipeline_page_shows_the_lookups(synctool, tmp_path):
    """The dashboard's pipeline page (headless Chromium) names each lookup:
    its table, key and the columns it adds."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from http_helpers import Server
    from test_dashboard_browser import STALE, browser
    sqlite_setup(tmp_path, ", required: true")
    assert synctool("ddl", "apply", "orders", config_dir=tmp_path).rc == 0
    with Server(str(tmp_path)) as srv:
        d = browser()
        try:
            d.get(srv.base + "/#/p/orders")
            wait = WebDriverWait(d, 60, poll_frequency=0.2, ignored_exceptions=STALE)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#p-sub .lookup"))
            text = d.find_element(By.CSS_SELECTOR, "#p-sub .lookup").text
            assert text == ("lookup crm: crm.main.customers by customer_id = id adds segment, "
                            "customer_tier (required)"), text
            d.save_screenshot(str(tmp_path / "pipeline-lookups.png"))
            errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
            assert errors == [], errors
        finally:
            d.quit()


def test_check_names_a_missing_lookup_column(synctool, tmp_path):
    src, dst, lk = sqlite_setup(tmp_path)
    assert synctool("ddl", "apply", "orders", config_dir=tmp_path).rc == 0
    lk.exec("ALTER TABLE {t} DROP COLUMN tier;")
    r = synctool("check", "orders", config_dir=tmp_path)
    assert r.rc != 0, r
    assert "lookup crm: table crm.main.customers has no column 'tier'" in r.out, r
    r = synctool("run", "--job-name", "orders", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 1 and "lookup 'crm' (datastore 'crm', table main.customers): the table has " \
        "no column 'tier'" in r.err, r
    assert dst._query("SELECT count(*) FROM {0}".format(dst.table)) == [["0"]]
