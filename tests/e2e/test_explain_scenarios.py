"""`synctool explain` end to end: the spec's Scenarios 1-3 from the command line.

Each test writes its own config dir (SQLite datastores that need not exist:
explain never opens a datastore), imports a state with `synctool state
import`, and asks `synctool explain PIPELINE --at TIME --json` at the
scenario's instants. The reasons are DESIGN §3's, verbatim.
"""
import json

import pytest

DATASTORES = """\
datastores:
  src: {type: sqlite, path: src.db}
  dst: {type: sqlite, path: dst.db}
"""

PIPELINE = """\
name: {name}
source:      {{datastore: src, table: t}}
destination: {{datastore: dst, table: t}}
columns:
  - {{name: id, type: bigint, key: true}}
strategies:
{strategies}
retry: {{max_retry_count: 3, safe_fallback_window_minutes: {fallback}, schedule_buffer_seconds: 60}}
"""


def write_config(tmp_path, pipelines, fallback=30):
    """pipelines: {name: [(strategy, type, cron, extra)]}; fallback in minutes."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "datastores.yaml").write_text(DATASTORES)
    for name, strategies in pipelines.items():
        lines = []
        for sname, stype, cron, extra in strategies:
            cursor = ", cursor: id" if stype == "delta" else ""
            lines.append(f'  - {{name: {sname}, type: {stype}{cursor}, cron: "{cron}"{extra}}}')
        (tmp_path / "pipelines" / f"{name}.yaml").write_text(
            PIPELINE.format(name=name, strategies="\n".join(lines), fallback=fallback))
    return tmp_path


def state_entry(pipeline, strategy, status, last_run=None, last_scheduled_at=None,
                last_attempted_at=None, retry_count=0):
    return {"pipeline": pipeline, "strategy": strategy, "status": status,
            "last_run": last_run, "last_scheduled_at": last_scheduled_at,
            "last_attempted_at": last_attempted_at, "retry_count": retry_count}


def import_state(synctool, cfg, tmp_path, entries):
    f = tmp_path / "state.json"
    f.write_text(json.dumps(entries))
    r = synctool("state", "import", f, config_dir=cfg)
    assert r.rc == 0, r


def explain(synctool, cfg, pipeline, at, *extra):
    r = synctool("explain", pipeline, "--at", at, "--json", *extra, config_dir=cfg)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert set(doc) == {"pipeline", "at", "selected", "strategies"}
    for s in doc["strategies"]:
        # DESIGN §5's names, within the shared strategy state (issue 21)
        assert {"name", "should_run", "reason", "prev_slot", "next_slot",
                "next_fire_at", "backoff_seconds"} <= set(s)
        assert s["name"] == s["strategy"] and s["pipeline"] == doc["pipeline"]
        if s["enabled"]:
            assert s["next_fire_at"] == s["next_slot"]
    return doc


def only(doc):
    assert len(doc["strategies"]) == 1
    return doc["strategies"][0]


# --- Scenario 1: daily 02:00 job, pipeline lock busy -----------------------

SCENARIO1 = [
    # (at, last_attempted_at, should_run, reason)
    ("2025-10-15T02:04:00Z", "2025-10-15T02:00:00Z", False,
     "Recently skipped, retry in 60s (within current slot)"),
    ("2025-10-15T02:05:00Z", "2025-10-15T02:00:00Z", True,
     "Retrying skipped job within current slot (skipped 300s ago, 86100s until next slot)"),
    ("2025-10-15T02:10:00Z", "2025-10-15T02:05:00Z", True,
     "Retrying skipped job within current slot (skipped 300s ago, 85800s until next slot)"),
    ("2025-10-15T20:00:00Z", "2025-10-15T19:55:00Z", True,
     "Retrying skipped job within current slot (skipped 300s ago, 21600s until next slot)"),
    ("2025-10-16T02:00:00Z", "2025-10-16T01:55:00Z", True,
     "Moved to new schedule slot, abandoning old retry; "
     "Due to run (last scheduled: 2025-10-16T02:00:00Z, gap: 0s)"),
]


@pytest.mark.parametrize("at,attempted,should_run,reason", SCENARIO1)
def test_scenario1_daily_job_retries_every_5_minutes(synctool, tmp_path, at, attempted,
                                                     should_run, reason):
    cfg = write_config(tmp_path, {"daily": [("hash_daily", "hash", "0 2 * * *", "")]})
    import_state(synctool, cfg, tmp_path, [state_entry(
        "daily", "hash_daily", "skipped", last_run="2025-10-14T02:00:00Z",
        last_scheduled_at=attempted, last_attempted_at=attempted)])
    doc = explain(synctool, cfg, "daily", at)
    s = only(doc)
    assert (s["should_run"], s["reason"]) == (should_run, reason)
    assert s["backoff_seconds"] == 300
    assert doc["selected"] == ("hash_daily" if should_run else None)
    assert doc["at"] == at


# --- Scenario 2: every 2 minutes, skipped at 10:00 --------------------------

SCENARIO2 = [
    ("2025-10-15T10:00:30Z", "2025-10-15T10:00:00Z", False,
     "Recently skipped, retry in 30s (within current slot)"),
    ("2025-10-15T10:01:00Z", "2025-10-15T10:00:00Z", True,
     "Retrying skipped job within current slot (skipped 60s ago, 60s until next slot)"),
    ("2025-10-15T10:02:00Z", "2025-10-15T10:01:00Z", True,
     "Moved to new schedule slot, abandoning old retry; "
     "Due to run (last scheduled: 2025-10-15T10:02:00Z, gap: 0s)"),
]


@pytest.mark.parametrize("at,attempted,should_run,reason", SCENARIO2)
def test_scenario2_frequent_job_retries_then_starts_fresh(synctool, tmp_path, at, attempted,
                                                          should_run, reason):
    cfg = write_config(tmp_path, {"frequent": [("delta_2m", "delta", "*/2 * * * *", "")]})
    import_state(synctool, cfg, tmp_path, [state_entry(
        "frequent", "delta_2m", "skipped", last_run="2025-10-15T09:58:00Z",
        last_scheduled_at=attempted, last_attempted_at=attempted)])
    s = only(explain(synctool, cfg, "frequent", at))
    assert (s["should_run"], s["reason"]) == (should_run, reason)
    assert s["backoff_seconds"] == 60


# --- Scenario 3: failed at 10:00 (database error, not a lock) ---------------

SCENARIO3 = [
    ("2025-10-15T10:05:00Z", False,
     "Job failed on last attempt, waiting for next regular schedule"),
    ("2025-10-15T10:59:59Z", False,
     "Job failed on last attempt, waiting for next regular schedule"),
    ("2025-10-15T11:00:00Z", True,
     "Due to run (last scheduled: 2025-10-15T11:00:00Z, gap: 0s)"),
]


@pytest.mark.parametrize("at,should_run,reason", SCENARIO3)
def test_scenario3_failed_job_waits_for_next_slot(synctool, tmp_path, at, should_run, reason):
    cfg = write_config(tmp_path, {"hourly": [("full_hourly", "full", "0 * * * *", "")]})
    import_state(synctool, cfg, tmp_path, [state_entry(
        "hourly", "full_hourly", "failed", last_run="2025-10-15T09:00:00Z",
        last_scheduled_at="2025-10-15T10:00:00Z", last_attempted_at="2025-10-15T10:00:00Z",
        retry_count=1)])
    s = only(explain(synctool, cfg, "hourly", at))
    assert (s["should_run"], s["reason"]) == (should_run, reason)


def test_failed_job_max_retry_exceeded(synctool, tmp_path):
    cfg = write_config(tmp_path, {"hourly": [("full_hourly", "full", "0 * * * *", "")]})
    import_state(synctool, cfg, tmp_path, [state_entry(
        "hourly", "full_hourly", "failed", last_run="2025-10-15T09:00:00Z",
        last_attempted_at="2025-10-15T10:00:00Z", retry_count=3)])
    s = only(explain(synctool, cfg, "hourly", "2025-10-15T11:00:00Z"))
    assert (s["should_run"], s["reason"]) == (False, "Max retry count (3) exceeded for failed job")


# --- selection and output shape (no imported state needed) ------------------

def three_strategies(tmp_path, fallback=30):
    return write_config(tmp_path, {"orders": [
        ("delta_15m", "delta", "*/15 * * * *", ""),
        ("hash_daily", "hash", "0 0 * * *", ""),
        ("full_weekly", "full", "0 0 * * 0", ""),
    ]}, fallback=fallback)


def test_explain_selects_longest_slot_without_state(synctool, tmp_path):
    cfg = three_strategies(tmp_path)
    doc = explain(synctool, cfg, "orders", "2025-10-19T00:00:30Z")  # a Sunday
    assert doc["pipeline"] == "orders"
    assert doc["selected"] == "full_weekly"
    by = {s["name"]: s for s in doc["strategies"]}
    assert [s["name"] for s in doc["strategies"]] == ["delta_15m", "hash_daily", "full_weekly"]
    for s in by.values():
        assert s["should_run"] is True
        assert s["reason"] == "First run or missing state \u2014 within 30s of schedule slot"
    assert by["delta_15m"]["prev_slot"] == "2025-10-19T00:00:00Z"
    assert by["delta_15m"]["next_slot"] == "2025-10-19T00:15:00Z"
    assert by["full_weekly"]["next_slot"] == "2025-10-26T00:00:00Z"


def test_explain_none_due_and_strategy_filter(synctool, tmp_path):
    cfg = three_strategies(tmp_path, fallback=5)
    doc = explain(synctool, cfg, "orders", "2025-10-15T10:40:00Z", "--strategy", "hash_daily")
    assert doc["selected"] is None
    s = only(doc)
    assert s["name"] == "hash_daily"
    assert (s["should_run"], s["reason"]) == (
        False, "State missing and outside fallback window (gap: 38400s)")


def test_explain_disabled_strategy_never_selected(synctool, tmp_path):
    cfg = write_config(tmp_path, {"orders": [
        ("delta_15m", "delta", "*/15 * * * *", ""),
        ("full_weekly", "full", "0 0 * * 0", ", enabled: false"),
    ]})
    doc = explain(synctool, cfg, "orders", "2025-10-19T00:00:30Z")
    assert doc["selected"] == "delta_15m"
    s = doc["strategies"][1]
    assert (s["should_run"], s["reason"]) == (False, "Strategy is disabled")


def test_explain_text_output(synctool, tmp_path):
    cfg = three_strategies(tmp_path, fallback=5)
    r = synctool("explain", "orders", "--at", "2025-10-15T10:40:00Z", config_dir=cfg)
    assert r.rc == 0, r
    assert "pipeline orders at 2025-10-15T10:40:00Z" in r.out
    assert "reason:   State missing and outside fallback window (gap: 600s)" in r.out
    assert "slot:     2025-10-15T10:30:00Z .. 2025-10-15T10:45:00Z" in r.out
    assert "backoff:  300s" in r.out
    assert "selected: none (no strategy is due)" in r.out


def test_explain_usage_errors(synctool, tmp_path):
    cfg = three_strategies(tmp_path)
    r = synctool("explain", config_dir=cfg)
    assert r.rc == 2 and "synctool explain: missing PIPELINE (see --help)" in r.err
    r = synctool("explain", "nope", "--at", "2025-10-15T10:40:00Z", config_dir=cfg)
    assert r.rc == 2 and "synctool explain: unknown pipeline 'nope'" in r.err
    r = synctool("explain", "orders", "--strategy", "x", config_dir=cfg)
    assert r.rc == 2 and "synctool explain: pipeline 'orders' has no strategy 'x'" in r.err
    r = synctool("explain", "orders", "extra", config_dir=cfg)
    assert r.rc == 2 and "synctool explain: unexpected argument 'extra' (see --help)" in r.err
    r = synctool("explain", "orders", "--at", "yesterday", config_dir=cfg)
    assert r.rc == 2 and "--at" in r.err and "yesterday" in r.err
    r = synctool("explain", "--help")
    assert r.rc == 0 and r.out.startswith("usage: synctool")


def test_explain_corrupt_state_names_the_strategy(synctool, tmp_path):
    import sqlite3
    cfg = three_strategies(tmp_path)
    r = synctool("explain", "orders", "--at", "2025-10-15T10:40:00Z", config_dir=cfg)
    assert r.rc == 0, r  # creates the default state database
    db = sqlite3.connect(str(tmp_path / ".synctool" / "state.db"))
    db.execute("INSERT INTO state_records(pipeline, strategy, status) "
               "VALUES('orders', 'hash_daily', 'bogus')")
    db.commit()
    db.close()
    r = synctool("explain", "orders", "--at", "2025-10-15T10:40:00Z", config_dir=cfg)
    assert r.rc == 1, r
    assert "synctool explain: state of orders:hash_daily: " in r.err
    assert "bogus" in r.err
    assert r.out == ""
