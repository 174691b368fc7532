"""End-to-end in a real browser: the dashboard served by `synctool serve`.

Debian's chromium and chromium-driver, driven headless by python3-selenium
(scripts/install-deps installs all three). The test builds a config with a
healthy, a failed and a paused pipeline (real runs against SQLite
datastores), starts `synctool serve` with an API token, and checks what an
operator sees: the failed and the paused pipeline flagged and listed first,
a pipeline's chart and history, a run's log; then enters the token, presses
"Run now" and follows the run until it has finished. Every page is saved as
a PNG in the test's output folder ($SYNCTOOL_TEST_OUTPUT/dashboard, else the
pytest tmp dir); docs/screenshots/ holds copies for the README.

Waits are for conditions in the page with generous timeouts (WebDriverWait),
never fixed sleeps, so a slow machine only makes the test slower.
"""
import json
import os
import shutil
import sqlite3
import subprocess

import pytest

from conftest import BIN
from http_helpers import Server
from test_lifecycle import GATE_KEY, PgHold, gated_pipeline
from test_scheduler_helpers import wait_until
from test_sync_cli import schema  # noqa: F401
from test_cdc import pgschema  # noqa: F401

TOKEN = "dash-token-7f3a"

PIPELINE = """\
name: {name}
source: {{datastore: shop, table: {table}}}
destination: {{datastore: warehouse, table: {table}}}
columns:
  - {{name: id, type: bigint, key: true}}
  - {{name: amount, type: "numeric(12,2)"}}
strategies:
  - {{name: full_hourly, type: full, cron: "0 * * * *"}}
  - {{name: full_daily, type: full, cron: "0 3 * * *"}}
retry: {{max_retry_count: {retries}}}
freshness: {{warn_after: 2h, error_after: 6h}}
"""



def _stale():
    from selenium.common.exceptions import StaleElementReferenceException
    return (StaleElementReferenceException,)


STALE = _stale()

def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("python3-selenium is missing: run scripts/install-deps")
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(path):
            pytest.fail(f"{path} is missing: run scripts/install-deps (chromium, chromium-driver)")
    o = Options()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1440,900", "--force-device-scale-factor=1"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def make_config(tmp_path, synctool):
    cfg = tmp_path / "cfg"
    (cfg / "pipelines").mkdir(parents=True)
    (cfg / "data").mkdir()
    (cfg / "datastores.yaml").write_text(
        "datastores:\n"
        "  shop: {type: sqlite, path: data/shop.db}\n"
        "  warehouse: {type: sqlite, path: data/warehouse.db}\n")
    con = sqlite3.connect(cfg / "data" / "shop.db")
    for table, rows in (("orders", 1200), ("customers", 300), ("payments", 800)):
        con.execute(f"CREATE TABLE {table}(id INTEGER PRIMARY KEY, amount NUMERIC)")
        con.executemany(f"INSERT INTO {table} VALUES (?, ?)",
                        [(i, i * 1.25) for i in range(1, rows + 1)])
    con.commit()
    for name, table, retries in (("orders_sync", "orders", 3), ("customers_sync", "customers", 3),
                                 ("payments_sync", "payments", 1)):
        (cfg / "pipelines" / f"{table}.yaml").write_text(
            PIPELINE.format(name=name, table=table, retries=retries))
        assert synctool("ddl", "apply", name, config_dir=cfg).rc == 0
    # history for the chart: several successful runs of orders_sync
    for i in range(5):
        con.execute("UPDATE orders SET amount = amount + 1 WHERE id % ? = 0", (i + 2,))
        con.commit()
        assert synctool("run", "--job-name", "orders_sync", "--strategy", "full_hourly",
                        config_dir=cfg).rc == 0
    for name in ("customers_sync", "payments_sync"):
        assert synctool("run", "--job-name", name, "--strategy", "full_hourly",
                        config_dir=cfg).rc == 0
    # then customers fails once (still scheduled), payments fails once with
    # max_retry_count 1 (paused until reset)
    con.execute("ALTER TABLE customers RENAME TO customers_moved")
    con.execute("ALTER TABLE payments RENAME TO payments_moved")
    con.commit()
    con.close()
    for name in ("customers_sync", "payments_sync"):
        assert synctool("run", "--job-name", name, "--strategy", "full_hourly",
                        config_dir=cfg).rc == 1
    # a failed manual run does not count toward the pause: payments' one failure
    # is made a scheduled one (retry_count 1 = its max) through the state file
    recs = json.loads(synctool("state", "export", config_dir=cfg).out)
    for rec in recs:
        if rec["pipeline"] == "payments_sync" and rec["strategy"] == "full_hourly":
            rec["retry_count"] = 1
    (tmp_path / "state.json").write_text(json.dumps(recs))
    assert synctool("state", "import", str(tmp_path / "state.json"), config_dir=cfg).rc == 0
    return cfg


@pytest.fixture
def outdir(tmp_path):
    base = os.environ.get("SYNCTOOL_TEST_OUTPUT")
    d = os.path.join(base, "dashboard") if base else str(tmp_path / "screenshots")
    os.makedirs(d, exist_ok=True)
    return d


def test_dashboard_in_a_browser(synctool, tmp_path, outdir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    cfg = make_config(tmp_path, synctool)
    with Server(str(cfg), token=TOKEN) as srv:
        d = browser()
        wait = WebDriverWait(d, 60, poll_frequency=0.2, ignored_exceptions=STALE)
        shots = []

        def shot(name):
            path = os.path.join(outdir, f"{name}.png")
            assert d.save_screenshot(path)
            shots.append(path)

        try:
            # --- the pipelines page: failed and paused flagged, first ---
            d.get(srv.base + "/")
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-pipeline]")) == 3)
            rows = d.find_elements(By.CSS_SELECTOR, "tr[data-pipeline]")
            order = [(r.get_attribute("data-pipeline"), r.get_attribute("data-state")) for r in rows]
            assert order == [("payments_sync", "paused"), ("customers_sync", "failed"),
                             ("orders_sync", "ok")], order
            paused = rows[0]
            assert "Paused" in paused.find_element(By.CSS_SELECTOR, ".badge").text
            assert "Paused after a failed run. Fix the cause, then press Reset." in paused.text
            assert "table main.payments does not exist" in paused.text
            assert "Failed" in rows[1].find_element(By.CSS_SELECTOR, ".badge").text
            assert "attention" in rows[1].get_attribute("class")
            cards = d.find_element(By.ID, "cards").text
            assert "1\nFAILED" in cards and "1\nPAUSED" in cards, cards
            # no scheduler runs here: every page says so, and no next run is promised
            wait.until(lambda d: "No scheduler is running" in d.find_element(By.ID, "status").text)
            assert "none: no scheduler" in rows[2].text, rows[2].text
            shot("pipelines")

            # --- a pipeline: strategies, chart, history ---
            d.find_element(By.LINK_TEXT, "orders_sync").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg rect"))
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 5)
            assert "Healthy" in d.find_element(By.ID, "p-title").text
            # the buttons wait for the token
            run_btn = d.find_element(By.CSS_SELECTOR, "button[data-act=run]")
            assert not run_btn.is_enabled()
            d.find_element(By.ID, "explain-at").clear()
            d.find_element(By.ID, "explain-at").send_keys("2030-01-01T03:00:30Z")
            d.find_element(By.CSS_SELECTOR, "#explain-form button").click()
            wait.until(lambda d: "At 2030-01-01 03:00:30 UTC" in d.find_element(By.ID, "explain-out").text)
            shot("pipeline")

            # --- a run's log ---
            first = d.find_element(By.CSS_SELECTOR, "#history tbody tr a")
            run_id = first.text
            first.click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#log .ln"))
            log = d.find_element(By.ID, "log").text
            assert "locks acquired: pipeline (fencing token" in log
            assert "sync done:" in log
            assert f"Run {run_id} · orders_sync:full_hourly" in d.find_element(By.ID, "r-title").text
            shot("run")

            # the failed run's page shows its error above the log
            d.get(srv.base + "/#/p/customers_sync")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#history tbody tr a"))
            d.find_element(By.CSS_SELECTOR, "#history tbody tr a").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#r-body .errorbox"))
            assert "does not exist" in d.find_element(By.CSS_SELECTOR, "#r-body .errorbox").text
            assert "ERROR" in d.find_element(By.ID, "log").text
            shot("run-failed")

            # --- with the token: run now, follow the run until it finished ---
            d.get(srv.base + "/#/p/orders_sync")
            d.find_element(By.ID, "token-input").send_keys(TOKEN)
            d.find_element(By.ID, "token-save").click()
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "button[data-act=run]").is_enabled())
            assert d.execute_script("return sessionStorage.getItem('synctool.token')") == TOKEN
            d.find_element(By.CSS_SELECTOR, "#act-strategy option[value=full_hourly]").click()
            d.find_element(By.CSS_SELECTOR, "button[data-act=run]").click()
            wait.until(lambda d: "queued" in d.find_element(By.ID, "banner").text)
            new_id = d.find_element(By.ID, "banner").text.split()[1]
            assert int(new_id) > int(run_id)
            d.find_element(By.LINK_TEXT, "Follow it").click()
            wait.until(lambda d: "success" in d.find_element(By.ID, "r-title").text)
            wait.until(lambda d: "sync done:" in d.find_element(By.ID, "log").text)
            shot("run-triggered")

            # --- locks (one held by `synctool lock hold`) and workers ---
            holder = subprocess.Popen([BIN, "--config-dir", str(cfg), "lock", "hold",
                                       "--pipeline", "customers_sync", "--for", "300"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                wait_until(lambda: "synctool:exec:pipeline:customers_sync" in
                           synctool("lock", "list", config_dir=cfg).out, what="the held lock")
                d.find_element(By.LINK_TEXT, "Locks").click()
                wait.until(lambda d: "synctool:exec:pipeline:customers_sync" in
                           d.find_element(By.ID, "locks").text)
                row = d.find_element(By.CSS_SELECTOR, "#locks tbody tr").text
                assert row.startswith("pipeline") and "exclusive" in row, row
                shot("locks")
            finally:
                holder.terminate()
                holder.wait(60)
            d.find_element(By.LINK_TEXT, "Workers").click()
            wait.until(lambda d: "serve@" in d.find_element(By.ID, "workers").text)
            wait.until(lambda d: "0 waiting for delivery" in d.find_element(By.ID, "a-sub").text)
            assert "No alert is waiting for delivery." in d.find_element(By.ID, "alerts").text
            shot("workers")

            errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
            assert errors == [], errors
        finally:
            d.quit()
    for p in shots:
        assert os.path.getsize(p) > 10000, p
    if os.environ.get("SYNCTOOL_UPDATE_SCREENSHOTS"):
        dest = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "screenshots")
        os.makedirs(dest, exist_ok=True)
        for p in shots:
            shutil.copy(p, dest)


def fresh(read):
    """read() again while the page replaced the elements it found (the
    dashboard re-renders on every refresh: an element found just before a
    refresh is stale by the time it is read, however fast the machine)."""
    from selenium.common.exceptions import StaleElementReferenceException
    while True:
        try:
            return read()
        except StaleElementReferenceException:
            continue


def status_kinds(d):
    from selenium.webdriver.common.by import By
    return fresh(lambda: [e.get_attribute("data-status")
                          for e in d.find_elements(By.CSS_SELECTOR, "#status [data-status]")])


def save_shots(shots):
    for p in shots:
        assert os.path.getsize(p) > 10000, p
    if os.environ.get("SYNCTOOL_UPDATE_SCREENSHOTS"):
        dest = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "screenshots")
        os.makedirs(dest, exist_ok=True)
        for p in shots:
            shutil.copy(p, dest)


def test_dashboard_states(synctool, tmp_path, pg_server, schema, outdir):  # noqa: F811
    """The states an operator must see at a glance: no scheduler (banner),
    a run in progress (held by an advisory lock in its source view: rows read,
    the RUNNING card at 1, rate and ETA on the run page), a strategy paused
    after failures (Why leads with the pause), a scheduler leading (no
    banner), an invalid file on disk (banner), and a refused token (required
    vs wrong)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    cfg = tmp_path
    gated_pipeline(cfg, pg_server, schema, names=("orders",))
    (cfg / "pipelines" / "invoices.yaml").write_text(
        f"name: invoices\nsource: {{datastore: shop, schema: {schema}, table: invoices}}\n"
        f"destination: {{datastore: wh, schema: {schema}, table: invoices_dst}}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n  - {name: note, type: text}\n"
        "strategies:\n  - {name: full_hourly, type: full, cron: \"0 * * * *\"}\n"
        "retry: {max_retry_count: 2}\n")
    assert synctool("ddl", "apply", "invoices", config_dir=cfg).rc == 0
    r = synctool("run", "--job-name", "invoices", config_dir=cfg)
    assert r.rc == 1 and "does not exist" in r.err, r
    # two scheduled failures in a row (manual ones do not count toward the pause)
    recs = json.loads(synctool("state", "export", config_dir=cfg).out)
    for rec in recs:
        if rec["pipeline"] == "invoices":
            rec["retry_count"] = 2
    (tmp_path / "state.json").write_text(json.dumps(recs))
    assert synctool("state", "import", str(tmp_path / "state.json"), config_dir=cfg).rc == 0

    shots = []
    d = browser()
    wait = WebDriverWait(d, 60, poll_frequency=0.2, ignored_exceptions=STALE)

    def shot(name):
        path = os.path.join(outdir, f"{name}.png")
        assert d.save_screenshot(path)
        shots.append(path)

    def text(el_id):
        def read():
            els = d.find_elements(By.ID, el_id)
            return els[0].text if els else ""
        return fresh(read)

    hold = PgHold(pg_server, GATE_KEY)
    run = None
    try:
        with Server(str(cfg)) as srv:
            # --- a run held mid-sync: its progress reaches the API and the page ---
            run = subprocess.Popen([BIN, "--config-dir", str(cfg), "run", "--job-name", "orders",
                                    "--strategy", "full"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)

            def progressed():
                st = srv.json("GET", "/api/v1/pipelines/orders", template="/api/v1/pipelines/{name}")
                s0 = st["strategies"][0]
                # the first FETCH (1000 rows) passes the gate, the next one waits in
                # it: the batches committed before the wait are published (not
                # only the first one's figures)
                return s0 if s0["status"] == "running" and s0["progress"] and \
                    s0["progress"]["rows_read"] >= 500 else None
            s0 = wait_until(progressed, what="the held run's first published figures")
            run_id = s0["run_id"]
            assert s0["progress"]["run_id"] == run_id
            doc = srv.json("GET", f"/api/v1/runs/{run_id}", template="/api/v1/runs/{run_id}")
            assert doc["status"] == "running" and doc["rows_read"] > 0, doc
            assert doc["progress"]["rows_read"] == doc["rows_read"]
            assert doc["rows_inserted"] == doc["progress"]["rows_written"] > 0, doc

            d.get(srv.base + "/")
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-pipeline]")) == 2)
            wait.until(lambda d: "No scheduler is running" in text("status"))
            assert status_kinds(d) == ["no-scheduler"], status_kinds(d)
            running = d.find_element(By.CSS_SELECTOR, "[data-card=running] .n").text
            assert running == "1", running
            assert d.find_element(By.CSS_SELECTOR, "[data-card=paused] .n").text == "1"
            row = d.find_element(By.CSS_SELECTOR, "tr[data-pipeline=orders]")
            why = row.find_element(By.CSS_SELECTOR, "td.reason .lead").text
            assert why.startswith("full: Running: ") and " rows read" in why, why
            paused = d.find_element(By.CSS_SELECTOR, "tr[data-pipeline=invoices]")
            assert paused.get_attribute("data-state") == "paused"
            why = paused.find_element(By.CSS_SELECTOR, "td.reason .lead").text
            assert why.startswith("full_hourly: Paused after 2 failed runs in a row."), why
            err = paused.find_element(By.CSS_SELECTOR, "td.reason .err").get_attribute("title")
            assert "does not exist" in err, err
            # led by the cause, the error is shown without the datastore prefix that
            # says where it happened (issue 21); the tooltip keeps the whole text
            assert "datastore 'shop': table" in err, err
            shown = paused.find_element(By.CSS_SELECTOR, "td.reason .err").text
            assert shown.startswith("table ") and shown.endswith("does not exist"), shown
            shot("states-no-scheduler")

            d.get(srv.base + f"/#/run/{run_id}")
            wait.until(lambda d: "rows read" in text("r-progress"))
            prog = text("r-progress")
            n = int(prog.split(" ")[0].replace(",", ""))
            assert n > 0 and "written" in prog and "rows/s" in prog, prog
            assert "running" in text("r-title")
            shot("run-progress")

            hold.release()
            assert run.wait(120) == 0, run.stdout.read()
            wait.until(lambda d: "success" in text("r-title") if d.find_elements(By.ID, "r-title") else False)

            # --- a scheduler leads: the banner goes ---
            sched = subprocess.Popen([BIN, "--config-dir", str(cfg), "scheduler"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                d.get(srv.base + "/")
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-pipeline]")
                           and status_kinds(d) == [])
                assert not d.find_element(By.ID, "status").is_displayed()
            finally:
                sched.terminate()
                sched.wait(60)

            # --- a broken file on disk: the banner names it, the rest keeps working ---
            (cfg / "pipelines" / "broken.yaml").write_text("name: broken\nsource: [\n")
            d.get(srv.base + "/#/locks")
            wait.until(lambda d: "config-invalid" in status_kinds(d))
            assert "The config on disk is invalid" in text("status")
            assert "broken.yaml" in text("status")
            shot("config-invalid")
            (cfg / "pipelines" / "broken.yaml").unlink()
            wait.until(lambda d: "config-invalid" not in status_kinds(d))

        # --- a server that needs the token for reads: required, then wrong ---
        with Server(str(cfg), token=TOKEN, listen="0.0.0.0:0") as srv:
            d.get(srv.base + "/")
            wait.until(lambda d: status_kinds(d) == ["token-missing"])
            assert "API token required" in text("status")
            shot("token-required")
            d.find_element(By.ID, "token-input").send_keys("not-" + TOKEN)
            d.find_element(By.ID, "token-save").click()
            wait.until(lambda d: status_kinds(d) == ["token-wrong"])
            assert "Wrong API token" in text("status")
            shot("token-wrong")
            d.find_element(By.ID, "token-clear").click()
            d.find_element(By.ID, "token-input").send_keys(TOKEN)
            d.find_element(By.ID, "token-save").click()
            wait.until(lambda d: status_kinds(d) == ["no-scheduler"])
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-pipeline]")) == 2)
        errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"
                  and "401" not in e.get("message", "")]
        assert errors == [], errors
    finally:
        hold.release()
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        d.quit()
    save_shots(shots)


def test_dashboard_cdc_slot(synctool, tmp_path, pg_server, pgschema, outdir):  # noqa: F811
    """A cdc strategy's slot on the pipeline page (issue 23, "Safety"): its
    confirmed LSN, the WAL it retained and had not applied when its last run
    began (from the API, which reads what the run recorded), flagged when
    past max_slot_lag, and the pipeline's freshness saying the slot decided
    it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from test_cdc import make_env

    e = make_env(synctool, tmp_path, pg_server, pgschema, "sqlite",
                 extra=", max_slot_lag: 64kB")
    e.run()
    e.sql("INSERT INTO {t} SELECT g, repeat('x', 100), g FROM generate_series(1, 5000) g")
    assert e.run(ok=False).rc == 1
    shots = []
    d = browser()
    wait = WebDriverWait(d, 60, poll_frequency=0.2, ignored_exceptions=STALE)
    try:
        with Server(str(tmp_path)) as srv:
            doc = srv.json("GET", f"/api/v1/pipelines/{e.name}",
                           template="/api/v1/pipelines/{name}")
            [s] = [s for s in doc["strategies"] if s["strategy"] == "cdc"]
            d.get(srv.base + f"/#/p/{e.name}")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#strategies .slot"))
            assert fresh(lambda: d.find_element(By.CSS_SELECTOR, "#strategies .slot")
                         .get_attribute("data-slot-level")) == "error"
            text = fresh(lambda: d.find_element(By.CSS_SELECTOR, "#strategies .slot").text)
            assert text.startswith(f"slot: confirmed {s['watermark']} · retains "), text
            assert "of WAL (max 64 kB)" in text and " not applied" in text, text
            assert "holds the source as of" in text, text
            sub = fresh(lambda: d.find_element(By.ID, "p-sub").text)
            assert "cdc's replication slot retains more WAL than max_slot_lag" in sub, sub
            path = os.path.join(outdir, "cdc-slot.png")
            assert d.save_screenshot(path)
            shots.append(path)
            errors = [x for x in d.get_log("browser") if x.get("level") == "SEVERE"]
            assert errors == [], errors
    finally:
        d.quit()
    save_shots(shots)
