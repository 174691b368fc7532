"""The pause policy for frequent strategies (issue 21, item 7), end to end with
`scheduler --once --at` ticks at fixed instants and SQLite state.

DESIGN §3 pauses a strategy after `max_retry_count` consecutive failures. A
strategy whose cron slot is shorter than `retry.pause_window` (default 1h) pauses
only after failing in a whole window of slots, so a 3-minute outage does not pause
a per-minute strategy; an hourly strategy still pauses after `max_retry_count`; and
a failed manual run (`synctool run`) does not count toward the pause.

The outage is the source table disappearing (renamed away) and coming back.
"""
import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone

from conftest import run_synctool
from test_scheduler_helpers import make_table, pipeline_yaml, state_of, tick, write_config

RETRY = "retry: {max_retry_count: 3}\n"


def make_pipelines(cfg, pipelines):
    """pipelines: {name: cron}; every one copies src.db:items into dst.db:<name>."""
    write_config(cfg, {name: pipeline_yaml(name, cron, dst_table=name, extra=RETRY)
                       for name, cron in pipelines.items()})
    make_table(os.path.join(cfg, "src.db"), rows=3)
    for name in pipelines:
        make_table(os.path.join(cfg, "dst.db"), table=name, rows=0)


def source_down(cfg, down):
    con = sqlite3.connect(os.path.join(cfg, "src.db"))
    con.execute("ALTER TABLE items RENAME TO items_away" if down else
                "ALTER TABLE items_away RENAME TO items")
    con.commit()
    con.close()


def explain(cfg, name, at):
    r = run_synctool("explain", name, "--json", "--at", at, config_dir=cfg)
    assert r.rc == 0, r
    return json.loads(r.out)["strategies"][0]


def status(cfg, name, at):
    r = run_synctool("status", name, "--json", "--at", at, config_dir=cfg)
    assert r.rc == 0, r
    return json.loads(r.out)[0]


def test_three_minute_outage_of_a_per_minute_strategy_recovers_without_reset(tmp_path):
    cfg = str(tmp_path)
    make_pipelines(cfg, {"minutely": "* * * * *"})
    assert tick(cfg, "2025-10-15T09:59:00Z").rc == 0
    source_down(cfg, True)
    for n, t in enumerate(("10:00", "10:01", "10:02"), start=1):
        r = tick(cfg, f"2025-10-15T{t}:00Z")
        assert r.rc == 1 and "failed" in r.err, r
        assert int(state_of(cfg, "minutely", "full_job")["retry_count"]) == n
    # DESIGN's count alone (3) would pause it here; the window keeps it scheduled
    e = explain(cfg, "minutely", "2025-10-15T10:03:00Z")
    assert e["should_run"] is True, e
    assert e["reason"] == "Due to run (last scheduled: 2025-10-15T10:03:00Z, gap: 0s)", e
    s = status(cfg, "minutely", "2025-10-15T10:02:30Z")
    assert s["paused"] is False and s["retry_count"] == 3, s
    source_down(cfg, False)
    r = tick(cfg, "2025-10-15T10:03:00Z")
    assert r.rc == 0 and "succeeded" in r.err, r
    st = state_of(cfg, "minutely", "full_job")
    assert st["status"] == "success" and int(st["retry_count"]) == 0, st
    r = tick(cfg, "2025-10-15T10:04:00Z")
    assert r.rc == 0 and "succeeded" in r.err, r


def test_per_minute_strategy_pauses_after_a_whole_window_of_failures(tmp_path):
    """With pause_window: 5m a per-minute strategy pauses after 5 failed slots."""
    cfg = str(tmp_path)
    write_config(cfg, {"minutely": pipeline_yaml(
        "minutely", "* * * * *", dst_table="minutely",
        extra="retry: {max_retry_count: 3, pause_window: 5m}\n")})
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), table="minutely", rows=0)
    source_down(cfg, True)
    for t in ("10:00", "10:01", "10:02", "10:03", "10:04"):
        assert tick(cfg, f"2025-10-15T{t}:00Z").rc == 1
    r = tick(cfg, "2025-10-15T10:05:00Z")
    assert r.rc == 0 and "Enqueued" not in r.err, r
    want = ("Max retry count (3) exceeded for failed job (failed in 5 consecutive slots, "
            "a whole pause_window of 300s)")
    assert explain(cfg, "minutely", "2025-10-15T10:05:00Z")["reason"] == want
    s = status(cfg, "minutely", "2025-10-15T10:05:00Z")
    assert s["paused"] is True, s
    assert run_synctool("reset", "minutely", config_dir=cfg).rc == 0
    source_down(cfg, False)
    r = tick(cfg, "2025-10-15T10:06:00Z")
    assert r.rc == 0 and "succeeded" in r.err, r


def test_hourly_strategy_still_pauses_after_max_retry_count(tmp_path):
    cfg = str(tmp_path)
    make_pipelines(cfg, {"hourly": "0 * * * *"})
    source_down(cfg, True)
    for n, t in enumerate(("10:00", "11:00", "12:00"), start=1):
        r = tick(cfg, f"2025-10-15T{t}:00Z")
        assert r.rc == 1 and "failed" in r.err, r
        assert int(state_of(cfg, "hourly", "full_job")["retry_count"]) == n
    source_down(cfg, False)
    r = tick(cfg, "2025-10-15T13:00:00Z")
    assert "Max retry count (3) exceeded for failed job" in r.err, r
    assert "Enqueued" not in r.err, r
    assert status(cfg, "hourly", "2025-10-15T13:00:00Z")["paused"] is True


def test_failed_manual_runs_do_not_count_toward_the_pause(tmp_path):
    # manual runs record the wall clock: the ticks are tomorrow, so they come after
    day = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT")
    cfg = str(tmp_path)
    make_pipelines(cfg, {"hourly": "0 * * * *"})
    source_down(cfg, True)
    assert tick(cfg, f"{day}10:00:00Z").rc == 1
    for _ in range(3):
        r = run_synctool("run", "hourly", config_dir=cfg)
        assert r.rc == 1, r
    st = state_of(cfg, "hourly", "full_job")
    assert st["status"] == "failed" and int(st["retry_count"]) == 1, st
    r = run_synctool("history", "hourly", "--json", config_dir=cfg)
    assert [h["status"] for h in json.loads(r.out)] == ["failed"] * 4, r
    source_down(cfg, False)
    r = tick(cfg, f"{day}11:00:00Z")
    assert r.rc == 0 and "Enqueued" in r.err and "succeeded" in r.err, r
    # a successful manual run still clears the count (DESIGN §3 rule 2)
    source_down(cfg, True)
    assert tick(cfg, f"{day}12:00:00Z").rc == 1
    source_down(cfg, False)
    assert run_synctool("run", "hourly", config_dir=cfg).rc == 0
    assert int(state_of(cfg, "hourly", "full_job")["retry_count"]) == 0
