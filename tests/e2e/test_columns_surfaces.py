"""End-to-end: where `compare: false`, `expr:` and `source.where` show
(issue 26, item 5), on one SQLite pipeline that has all three.

- `ddl plan` creates the expression column with its `type:`, the ignored
  column as any other; `check` runs the expression and the filter;
- `explain` names the filter, the computed column and the ignored column;
- `list --json` (PipelineSummary) carries `source.where`; the API's pipeline
  detail (PipelineDetail, validated against docs/openapi.yaml) carries
  `source.where`, each column's `expr` and `compare`;
- the dashboard's pipeline page (headless Chromium) shows the filter, the
  computed column and the ignored column, with no browser error; the page
  is saved as a PNG in the output folder.

(The lookups' and the aggregates' own surfaces are tested in test_lookups.py
and test_aggregate.py.)
"""
import json
import sqlite3

import jsonschema

from http_helpers import OPENAPI, Server, _resolve
from test_dashboard_browser import STALE, browser, outdir  # noqa: F401

PIPELINE = """\
name: orders_gross
source: {datastore: shop, table: orders, where: "status <> 'cancelled'"}
destination: {datastore: warehouse, table: orders_gross}
columns:
  - {name: id, type: bigint, key: true}
  - {name: total, type: "numeric(12,2)"}
  - {name: gross, type: "numeric(12,2)", expr: "round(total * 1.19, 2)"}
  - {name: views, type: bigint, compare: false, dest: page_views}
  - {name: updated_at, type: timestamp}
strategies:
  - {name: delta, type: delta, cursor: updated_at}
  - {name: hash, type: hash}
"""


def make_config(root):
    (root / "pipelines").mkdir()
    (root / "datastores.yaml").write_text(
        "datastores:\n  shop: {type: sqlite, path: shop.db}\n"
        "  warehouse: {type: sqlite, path: warehouse.db}\n")
    (root / "pipelines" / "orders_gross.yaml").write_text(PIPELINE)
    db = sqlite3.connect(root / "shop.db")
    db.executescript(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total NUMERIC, status TEXT, views INTEGER, "
        "updated_at TEXT);"
        "INSERT INTO orders VALUES (1, 10.00, 'paid', 5, '2025-01-01 00:00:00'), "
        "(2, 20.00, 'cancelled', 6, '2025-01-01 00:00:00'), "
        "(3, 30.00, 'open', 7, '2025-01-01 00:00:00');")
    db.close()


def schema(name):
    return jsonschema.Draft7Validator(_resolve(OPENAPI["components"]["schemas"][name]))


def test_cli_api_and_dashboard_show_the_columns(synctool, tmp_path, outdir):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    make_config(tmp_path)
    r = synctool("ddl", "plan", "orders_gross", config_dir=tmp_path)
    assert r.rc == 0, r
    assert '"gross" NUMERIC(12,2), "page_views" INTEGER' in r.out, r.out
    assert synctool("ddl", "apply", "orders_gross", config_dir=tmp_path).rc == 0
    r = synctool("check", "orders_gross", config_dir=tmp_path)
    assert r.rc == 0 and "1 expression column(s) and the source filter evaluate on the " \
        "source" in r.out, r
    assert synctool("run", "--job-name", "orders_gross", "--strategy", "hash",
                    config_dir=tmp_path).rc == 0
    db = sqlite3.connect(tmp_path / "warehouse.db")
    assert db.execute("SELECT id, gross, page_views FROM orders_gross ORDER BY id").fetchall() \
        == [(1, 11.9, 5), (3, 35.7, 7)]
    db.close()
    r = synctool("explain", "orders_gross", config_dir=tmp_path)
    assert "source filter: status <> 'cancelled'" in r.out, r
    assert "computed column: gross = round(total * 1.19, 2)" in r.out, r
    assert "ignored columns: page_views" in r.out, r

    r = synctool("list", "--json", config_dir=tmp_path)
    (p,) = json.loads(r.out)
    schema("PipelineSummary").validate(p)
    assert p["source"]["where"] == "status <> 'cancelled'" and p["destination"]["where"] is None

    with Server(str(tmp_path)) as srv:
        d = srv.json("GET", "/api/v1/pipelines/orders_gross",
                     template="/api/v1/pipelines/{name}")
        assert d["source"]["where"] == "status <> 'cancelled'"
        assert [(c["dest"], c["compare"], c["expr"]) for c in d["columns"]] == [
            ("id", True, None), ("total", True, None),
            ("gross", True, "round(total * 1.19, 2)"), ("page_views", False, None),
            ("updated_at", True, None)]
        b = browser()
        try:
            b.get(srv.base + "/#/p/orders_gross")
            wait = WebDriverWait(b, 60, poll_frequency=0.2, ignored_exceptions=STALE)
            wait.until(lambda b: b.find_elements(By.ID, "p-ignored"))
            sub = b.find_element(By.ID, "p-sub").text
            assert "shop.main.orders where status <> 'cancelled' → warehouse.main.orders_gross" in sub, sub
            assert "computed: gross = round(total * 1.19, 2)" in sub, sub
            assert b.find_element(By.ID, "p-ignored").text == (
                "ignored columns: page_views (compare: false: copied, not compared by full, "
                "hash and diff)")
            b.save_screenshot(f"{outdir}/pipeline-columns.png")
            errors = [e for e in b.get_log("browser") if e.get("level") == "SEVERE"]
            assert errors == [], errors
        finally:
            b.quit()
