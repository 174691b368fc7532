"""End-to-end: per-run logs (`synctool logs RUN_ID`) and history retention
(`history: {keep_days, keep_runs}` in datastores.yaml, pruned by the
scheduler), on SQLite state and on Redis state.

Runs go through the real binary against SQLite datastores; retention is
checked by pointing `scheduler --once --at` far enough into the future, never
by waiting.
"""
import datetime
import json
import sqlite3
import subprocess

import pytest

PIPELINE = """\
name: orders_sync
source: {datastore: src, table: orders}
destination: {datastore: dst, table: orders}
columns:
  - {name: id, type: bigint, key: true}
  - {name: total, type: "numeric(12,2)"}
strategies:
  - {name: full_hourly, type: full, cron: "0 * * * *"}
"""


def make_config(tmp_path, state_url=None, extra=""):
    cfg = tmp_path / "cfg"
    (cfg / "pipelines").mkdir(parents=True)
    (cfg / "data").mkdir()
    ds = ("datastores:\n"
          "  src: {type: sqlite, path: data/src.db}\n"
          "  dst: {type: sqlite, path: data/dst.db}\n")
    if state_url:
        ds += f'state: {{url: "{state_url}"}}\n'
    (cfg / "datastores.yaml").write_text(ds + extra)
    (cfg / "pipelines" / "orders.yaml").write_text(PIPELINE)
    con = sqlite3.connect(cfg / "data" / "src.db")
    con.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, total NUMERIC)")
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(i, i * 1.5) for i in range(1, 11)])
    con.commit()
    con.close()
    return cfg


@pytest.fixture
def redis_url(redis_server):
    subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", "12", "FLUSHDB"],
                   check=True, capture_output=True)
    return redis_server.url.rsplit("/", 1)[0] + "/12"


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request):
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("redis_url")


def prepare(synctool, cfg):
    r = synctool("ddl", "apply", "orders_sync", config_dir=cfg)
    assert r.rc == 0, r


def run_ok(synctool, cfg):
    r = synctool("run", "--job-name", "orders_sync", "--json", config_dir=cfg)
    assert r.rc == 0, r
    return json.loads(r.out)


def history(synctool, cfg):
    r = synctool("history", "orders_sync", "--json", "--limit", "100", config_dir=cfg)
    assert r.rc == 0, r
    return json.loads(r.out)


def test_logs_show_the_lines_of_one_run(synctool, tmp_path, state_url):
    cfg = make_config(tmp_path, state_url)
    prepare(synctool, cfg)
    run_ok(synctool, cfg)
    run_id = history(synctool, cfg)[0]["run_id"]

    r = synctool("logs", run_id, config_dir=cfg)
    assert r.rc == 0, r
    assert f"Run {run_id} of orders_sync:full_hourly — success" in r.out
    assert "Rows: 10 read, 10 inserted, 0 updated, 0 deleted" in r.out
    lines = r.out.split("\n\n", 1)[1].splitlines()  # after the header block
    assert any("locks acquired: pipeline (fencing token" in l for l in lines), r.out
    assert any("sync done: 10 read, 10 inserted" in l for l in lines), r.out
    assert lines[-1].endswith(f"Run {run_id} success: completed"), r.out

    j = synctool("logs", run_id, "--json", config_dir=cfg)
    assert j.rc == 0, j
    doc = json.loads(j.out)
    assert doc["run_id"] == run_id
    assert (doc["pipeline"], doc["strategy"], doc["status"]) == ("orders_sync", "full_hourly",
                                                                "success")
    assert doc["error"] is None and doc["rows_inserted"] == 10
    assert isinstance(doc["duration_s"], (int, float)) and doc["duration_s"] >= 0
    assert doc["started_at"].endswith("Z") and doc["finished_at"].endswith("Z")
    assert doc["log"] == lines


def test_failed_run_keeps_its_error_in_the_log(synctool, tmp_path, state_url):
    cfg = make_config(tmp_path, state_url)
    prepare(synctool, cfg)
    con = sqlite3.connect(cfg / "data" / "src.db")
    con.execute("ALTER TABLE orders RENAME TO orders_gone")
    con.commit()
    con.close()
    r = synctool("run", "--job-name", "orders_sync", config_dir=cfg)
    assert r.rc == 1, r
    run_id = history(synctool, cfg)[0]["run_id"]
    doc = json.loads(synctool("logs", run_id, "--json", config_dir=cfg).out)
    assert doc["status"] == "failed"
    assert "table main.orders does not exist" in doc["error"]
    assert doc["log"][-1].split(" ", 2)[1] == "error"
    assert "does not exist" in doc["log"][-1]


def test_logs_of_unknown_run_and_bad_id(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = synctool("logs", "4242", config_dir=cfg)
    assert r.rc == 1
    assert "synctool logs: no run 4242 in history" in r.err
    assert "pruned by the history retention" in r.err
    r = synctool("logs", "abc", config_dir=cfg)
    assert r.rc == 2
    assert "RUN_ID: expected a non-negative integer, got 'abc'" in r.err
    r = synctool("logs", "--help", config_dir=cfg)
    assert r.rc == 0 and "usage: synctool [--config-dir DIR] logs RUN_ID [--json]" in r.out


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_retention_by_age(synctool, tmp_path, state_url):
    """keep_days: entries older than that at the scheduler's `now` go, with
    their logs; younger ones stay."""
    cfg = make_config(tmp_path, state_url, "history: {keep_days: 30}\n")
    prepare(synctool, cfg)
    run_ok(synctool, cfg)
    run_ok(synctool, cfg)
    ids = [h["run_id"] for h in history(synctool, cfg)]
    assert len(ids) == 2
    now = datetime.datetime.now(datetime.timezone.utc)

    # 29 days later nothing is old enough
    r = synctool("scheduler", "--once", "--at", iso(now + datetime.timedelta(days=29)),
                 config_dir=cfg)
    assert r.rc in (0, 75), r
    assert [h["run_id"] for h in history(synctool, cfg)][-2:] == ids
    assert "history: pruned" not in r.err

    # 31 days later both are
    r = synctool("scheduler", "--once", "--at", iso(now + datetime.timedelta(days=31)),
                 config_dir=cfg)
    assert "history: pruned 2 entries (keep_days 30, keep_runs 50000)" in r.err, r
    left = [h["run_id"] for h in history(synctool, cfg)]
    assert not set(ids) & set(left)
    g = synctool("logs", ids[0], config_dir=cfg)
    assert g.rc == 1 and f"no run {ids[0]} in history" in g.err


def test_retention_by_count(synctool, tmp_path, state_url):
    cfg = make_config(tmp_path, state_url, "history: {keep_runs: 2}\n")
    prepare(synctool, cfg)
    for _ in range(4):
        run_ok(synctool, cfg)
    ids = [h["run_id"] for h in history(synctool, cfg)]
    assert len(ids) == 4  # appending never trims: the scheduler prunes
    now = datetime.datetime.now(datetime.timezone.utc)
    r = synctool("scheduler", "--once", "--at", iso(now + datetime.timedelta(minutes=30)),
                 config_dir=cfg)
    assert "history: pruned 2 entries" in r.err, r
    left = [h["run_id"] for h in history(synctool, cfg)]
    assert set(ids[:2]) <= set(left) and not set(ids[2:]) & set(left)


def test_history_config_is_validated(synctool, tmp_path):
    cfg = make_config(tmp_path, None, "history: {keep_days: forever}\n")
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2
    assert ("datastores.yaml:4:22: history.keep_days: expected an integer, got \"forever\""
            in r.out + r.err), r
