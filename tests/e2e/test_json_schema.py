"""End-to-end: one vocabulary, one writer (issue 21, item 1 and gaps of 3, 5, 6, 7).

Each concept has one JSON schema, the component of docs/openapi.yaml the API
answers with (StrategyState, PipelineSummary, Explain, Run, RunDetail, Lock,
Process, Error), and every CLI command that prints that concept is validated
against the same schema as the endpoint. A strategy paused by its failures
says so the same way in `status --json`, `explain --json`, the API and
/metrics; a delta strategy's watermark is shown by all of them; a JSON error
carries the real message; a successful run logs one info line; a run
triggered through the API is a manual run (its failure does not pause).
"""
import json
import re
import sqlite3

import jsonschema
import pytest

from conftest import run_synctool
from http_helpers import OPENAPI, Server, _resolve
from test_http_api import metrics, sample
from test_scheduler_helpers import LockHolder, wait_until

TOKEN = "vocab-token-1"
AT = "2025-10-15T03:00:30Z"

PIPELINE = """\
name: orders
source: {datastore: src, table: orders}
destination: {datastore: dst, table: orders}
columns:
  - {name: id, type: bigint, key: true}
  - {name: v, type: text}
  - {name: ts, type: bigint}
strategies:
  - {name: full, type: full, cron: "0 3 * * *"}
  - {name: delta, type: delta, cron: "0 * * * *", cursor: ts}
  - {name: hash, type: hash}
"""

BROKEN = """\
name: broken
source: {datastore: src, table: missing}
destination: {datastore: dst, table: broken}
columns:
  - {name: id, type: bigint, key: true}
strategies:
  - {name: daily, type: full, cron: "0 2 * * *"}
  - {name: manual, type: full}
retry: {max_retry_count: 3}
"""


def schema(name):
    return _resolve(OPENAPI["components"]["schemas"][name])


def check(name, doc):
    jsonschema.Draft7Validator(schema(name)).validate(doc)


def cli_json(cfg, *args, rc=0):
    r = run_synctool(*args, "--json", config_dir=cfg)
    assert r.rc == rc, r
    return json.loads(r.out)


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n  src: {type: sqlite, path: data/src.db}\n"
        "  dst: {type: sqlite, path: data/dst.db}\n")
    (tmp_path / "pipelines" / "orders.yaml").write_text(PIPELINE)
    (tmp_path / "pipelines" / "broken.yaml").write_text(BROKEN)
    db = sqlite3.connect(tmp_path / "data" / "src.db")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, v TEXT, ts INTEGER)")
    db.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, f"v{i}", 100 + i) for i in range(5)])
    db.commit()
    db.close()
    assert run_synctool("ddl", "apply", "orders", config_dir=tmp_path).rc == 0
    return tmp_path


def pause_by_failures(cfg, tmp_path):
    """Records both strategies of `broken` failed 3 times in a row (scheduled
    failures: manual ones do not count), so both are paused by failures."""
    entries = [{"pipeline": "broken", "strategy": s, "status": "failed", "retry_count": 3,
                "last_attempted_at": "2025-10-15T02:00:05Z", "error": "datastore 'src': boom"}
               for s in ("daily", "manual")]
    f = tmp_path / "broken-state.json"
    f.write_text(json.dumps(entries))
    assert run_synctool("state", "import", f, config_dir=cfg).rc == 0


# --- every CLI output against its concept's schema ---------------------------

def test_every_cli_output_has_its_concepts_schema(cfg):
    run = cli_json(cfg, "run", "orders", "--strategy", "delta")
    check("Run", run)
    assert run["status"] == "success" and run["rows_inserted"] == 5 and run["reason_code"] is None
    for s in cli_json(cfg, "status"):
        check("StrategyState", s)
    ex = cli_json(cfg, "explain", "orders", "--at", AT)
    check("Explain", ex)
    for p in cli_json(cfg, "list"):
        check("PipelineSummary", p)
        assert p["source"]["datastore"] == "src"     # source is an object everywhere
    hist = cli_json(cfg, "history", "orders")
    assert hist
    for h in hist:
        check("Run", h)
    logs = cli_json(cfg, "logs", str(run["run_id"]))
    check("RunDetail", logs)
    assert {k: v for k, v in logs.items() if k not in ("log", "reason_code")} == \
        {k: v for k, v in run.items() if k != "reason_code"}
    holder = LockHolder(cfg, "--pipeline", "orders", key="synctool:exec:pipeline:orders")
    try:
        locks = cli_json(cfg, "lock", "list")
        assert [(lk["key"], lk["kind"]) for lk in locks] == [
            ("synctool:exec:pipeline:orders", "pipeline")]
        for lk in locks:
            check("Lock", lk)
    finally:
        holder.release()
    err = cli_json(cfg, "status", "nope", rc=2)
    check("Error", err)


def test_the_api_and_the_cli_print_the_same_objects(cfg):
    run_synctool("run", "orders", "--strategy", "delta", config_dir=cfg)
    with Server(str(cfg)) as s:
        pl = s.json("GET", "/api/v1/pipelines")
        api = {(x["pipeline"], x["strategy"]): x
               for p in pl["pipelines"] for x in p["strategies"]}
        cli = {(x["pipeline"], x["strategy"]): x for x in cli_json(cfg, "status")}
        assert set(api) == set(cli)
        for key, a in api.items():
            c = cli[key]
            # one writer: the same members, the same values (but the instant-bound ones)
            assert set(a) == set(c), (key, set(a) ^ set(c))
            for f in ("status", "paused", "paused_by", "reason", "should_run", "watermark",
                      "timezone", "cron", "last_run_at", "retry_count", "run_id"):
                assert a[f] == c[f], (key, f, a[f], c[f])
        lst = {p["pipeline"]: p for p in cli_json(cfg, "list")}
        for p in pl["pipelines"]:
            assert p["source"] == lst[p["pipeline"]]["source"]
            assert p["file"] == lst[p["pipeline"]]["file"]
        detail = s.json("GET", f"/api/v1/pipelines/orders?at={AT}",
                        template="/api/v1/pipelines/{name}")
        assert detail["explain"] == cli_json(cfg, "explain", "orders", "--at", AT)
        runs = s.json("GET", "/api/v1/pipelines/orders/runs",
                      template="/api/v1/pipelines/{name}/runs")["runs"]
        assert runs == cli_json(cfg, "history", "orders")
        holder = LockHolder(cfg, "--pipeline", "orders", key="synctool:exec:pipeline:orders")
        try:
            api_locks = s.json("GET", "/api/v1/locks")["locks"]
            cli_locks = cli_json(cfg, "lock", "list")
            drop = lambda ls: [{k: v for k, v in x.items() if k != "expires_in_s"} for x in ls]
            assert drop(api_locks) == drop(cli_locks)
        finally:
            holder.release()
        for w in s.json("GET", "/api/v1/workers")["workers"]:
            check("Process", w)
        status, _, text = s.call("GET", "/api/v1/pipelines/nope")
        assert status == 404
        check("Error", json.loads(text))


# --- paused after failures: one answer everywhere ----------------------------

def test_paused_after_failures_says_the_same_everywhere(cfg, tmp_path):
    pause_by_failures(cfg, tmp_path)
    status = {x["strategy"]: x for x in cli_json(cfg, "status", "broken", "--at", AT)}
    explain = {x["strategy"]: x for x in
               cli_json(cfg, "explain", "broken", "--at", AT)["strategies"]}
    with Server(str(cfg)) as s:
        api = {x["strategy"]: x for x in
               s.json("GET", f"/api/v1/pipelines/broken?at={AT}",
                      template="/api/v1/pipelines/{name}")["strategies"]}
        m = metrics(s)
    for name in ("daily", "manual"):
        for where, doc in (("status", status), ("explain", explain), ("api", api)):
            x = doc[name]
            assert x["paused"] is True and x["paused_by"] == "failures", (where, x)
            assert x["should_run"] is False, (where, x)
        # the scheduler's reason, verbatim, in all three
        assert status[name]["reason"] == explain[name]["reason"] == api[name]["reason"]
        assert sample(m, "synctool_paused", pipeline="broken", strategy=name) == 1
    assert status["daily"]["reason"] == "Max retry count (3) exceeded for failed job"
    assert status["manual"]["reason"] == "Strategy has no cron schedule"
    # the text says the pause first, with the command that lifts it
    r = run_synctool("status", "broken", "--at", AT, config_dir=cfg)
    assert "Paused after 3 failures: run `synctool reset broken --strategy manual`" in r.out, r


# --- the delta watermark -------------------------------------------------------

def test_the_delta_watermark_is_shown_everywhere(cfg):
    assert run_synctool("run", "orders", "--strategy", "delta", config_dir=cfg).rc == 0
    exported = {(e["pipeline"], e["strategy"]): e
                for e in json.loads(run_synctool("state", "export", config_dir=cfg).out)}
    wm = exported[("orders", "delta")]["watermark"]
    assert wm and "104" in wm, wm
    status = {x["strategy"]: x for x in cli_json(cfg, "status", "orders")}
    assert status["delta"]["watermark"] == wm
    assert status["full"]["watermark"] is None
    explain = {x["strategy"]: x for x in cli_json(cfg, "explain", "orders")["strategies"]}
    assert explain["delta"]["watermark"] == wm
    assert wm in run_synctool("status", "orders", config_dir=cfg).out
    assert f"watermark: {wm}" in run_synctool("explain", "orders", config_dir=cfg).out
    with Server(str(cfg)) as s:
        p = s.json("GET", "/api/v1/pipelines/orders", template="/api/v1/pipelines/{name}")
        assert {x["strategy"]: x["watermark"] for x in p["strategies"]}["delta"] == wm


# --- JSON errors carry the real message ----------------------------------------

def test_a_json_error_carries_the_real_message(cfg):
    r = run_synctool("status", "--bogus", "--json", config_dir=cfg)
    assert r.rc == 2, r
    doc = json.loads(r.out)
    check("Error", doc)
    assert "see stderr" not in doc["error"]["message"]
    assert "unrecognized option '--bogus'" in doc["error"]["message"], doc


# --- one info line per successful run -----------------------------------------

def info_lines(text, pair):
    return [ln for ln in text.splitlines() if f" info {pair} " in ln]


def test_a_successful_run_logs_one_info_line(cfg):
    r = run_synctool("run", "orders", "--strategy", "full", config_dir=cfg)
    assert r.rc == 0, r
    lines = info_lines(r.err, "orders:full")
    assert len(lines) == 1 and "sync done: 5 read, 5 inserted" in lines[0], r.err
    assert len(r.out.strip().splitlines()) == 1 and "success" in r.out, r
    run_id = cli_json(cfg, "history", "orders")[0]["run_id"]
    log = run_synctool("logs", str(run_id), config_dir=cfg).out
    assert "locks acquired: pipeline" in log and "sync done:" in log   # details kept
    r = run_synctool("scheduler", "--once", "--at", "2030-01-02T03:00:10Z", config_dir=cfg)
    assert r.rc == 0, r
    lines = info_lines(r.err, "orders:full")
    m = re.search(r"Enqueued run (\d+)", r.err)
    assert m, r.err
    job = [ln for ln in lines if "Due to run" not in ln and "Overdue" not in ln
           and "Enqueued run" not in ln and "Retrying" not in ln]
    assert len(job) == 1, lines
    assert f"Run {m.group(1)} succeeded" in job[0] and "5 read" in job[0], job


# --- a run triggered through the API is a manual run ---------------------------

def test_a_run_triggered_through_the_api_does_not_count_toward_the_pause(cfg):
    with Server(str(cfg), token=TOKEN) as s:
        for _ in range(3):
            acc = s.json("POST", "/api/v1/pipelines/broken/run", body={"strategy": "daily"},
                         token=TOKEN, expect=202, template="/api/v1/pipelines/{name}/run")

            def finished(rid=acc["run_id"]):
                st, _, text = s.call("GET", f"/api/v1/runs/{rid}")
                return st == 200 and json.loads(text)["status"] not in ("pending", "running")
            wait_until(finished, timeout=120, what="the triggered run to finish")
        x = {x["strategy"]: x for x in
             s.json("GET", "/api/v1/pipelines/broken",
                    template="/api/v1/pipelines/{name}")["strategies"]}["daily"]
    assert x["status"] == "failed" and "missing" in x["error"], x
    # like `synctool run`: recorded, but not counted (max_retry_count is 3)
    assert x["retry_count"] == 0 and x["paused"] is False and x["paused_by"] is None, x


def test_the_dashboard_shows_the_delta_watermark(cfg):
    """Headless Chromium: a pipeline's page shows each delta strategy's
    watermark, read from the API's strategy state."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from test_dashboard_browser import browser

    assert run_synctool("run", "orders", "--strategy", "delta", config_dir=cfg).rc == 0
    wm = {(e["pipeline"], e["strategy"]): e["watermark"] for e in
          json.loads(run_synctool("state", "export", config_dir=cfg).out)}[("orders", "delta")]
    with Server(str(cfg)) as s:
        d = browser()
        try:
            d.get(s.base + "/#/p/orders")
            wait = WebDriverWait(d, 60, poll_frequency=0.2)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#strategies .wm"))
            shown = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#strategies .wm")]
            assert shown == [f"watermark: {wm}"], shown     # the delta row only
        finally:
            d.quit()
