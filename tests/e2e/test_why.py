"""End-to-end: the why-journal (issue 14, items 4 and 5).

A night of `scheduler --once --at` ticks at fixed instants with the
pipeline lock held: `synctool why` shows the decisions as they changed
merged with the enqueues and the attempts; a decision that did not change
is neither journaled nor logged at info; `explain --at` an instant in the
past reasons from the state as it was then; `status` says whether a
scheduler is alive; a paused strategy warns once with the reset command.
"""
import json
import os

from conftest import run_synctool
from test_scheduler_helpers import LockHolder, make_table, pipeline_yaml, tick, write_config

PIPE_KEY = "synctool:exec:pipeline:{}"
DAY = "2025-10-15T"


def make_nightly(cfg):
    write_config(cfg, {"nightly": pipeline_yaml("nightly", "0 2 * * *", strategy="full_nightly")})
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)


def test_why_after_a_night_with_a_held_lock(tmp_path):
    cfg = str(tmp_path)
    make_nightly(cfg)
    with LockHolder(cfg, "--pipeline", "nightly", key=PIPE_KEY.format("nightly")) as holder:
        for t in ("01:00", "01:30", "02:00", "02:03", "02:04", "02:05", "02:10"):
            r = tick(cfg, f"{DAY}{t}:00Z")
            assert r.rc in (0, 75), r
            if t == "02:04":  # same decision as 02:03: debug only
                assert "Recently skipped" not in r.err, r
        holder.release()
    r = tick(cfg, f"{DAY}02:15:00Z")
    assert r.rc == 0 and "succeeded" in r.err, r
    tick(cfg, f"{DAY}02:20:00Z")
    tick(cfg, f"{DAY}03:00:00Z")

    r = run_synctool("why", "nightly", "--json", "--since", f"{DAY}00:00:00",
                     "--until", f"{DAY}12:00:00", config_dir=cfg)
    assert r.rc == 0, r
    tl = [(e["at"][11:16], e["kind"], e["should_run"], e["status"], e["text"])
          for e in json.loads(r.out)]
    decisions = [(at, run, text.split(" (")[0]) for at, kind, run, _, text in tl
                 if kind == "decision"]
    assert decisions == [
        ("01:00", False, "State missing and outside fallback window"),
        ("02:00", True, "First run or missing state — within 0s of schedule slot"),
        ("02:03", False, "Recently skipped, retry in 120s"),
        ("02:05", True, "Retrying skipped job within current slot"),
        ("02:20", False, "Already ran at 2025-10-15T02:15:00Z, last scheduled was "
                         "2025-10-15T02:00:00Z"),
    ], decisions
    # 01:30, 02:04 and 02:10 changed nothing: not journaled as decisions
    assert not any(at in ("01:30", "02:04", "02:10") for at, _, _ in decisions), decisions
    attempts = [(at, status) for at, kind, _, status, _ in tl if kind == "attempt"]
    assert attempts == [("02:00", "skipped"), ("02:05", "skipped"), ("02:10", "skipped"),
                        ("02:15", "success")], tl
    events = [(at, text) for at, kind, _, _, text in tl if kind == "event"]
    assert [at for at, _ in events] == ["02:00", "02:05", "02:10", "02:15"], events
    assert all(text.startswith("Enqueued run") for _, text in events)
    # the skip's reason is in the timeline
    assert any("Pipeline lock not available" in text for _, kind, _, _, text in tl
               if kind == "attempt")
    # text form; --until bounds it
    r = run_synctool("why", "nightly", "--until", f"{DAY}02:01:00Z", config_dir=cfg)
    assert r.rc == 0 and "decided run" in r.out and "run 1 skipped" in r.out, r
    assert "02:05" not in r.out

    # explain --at the past: the state as it was at 02:03, not today's success
    r = run_synctool("explain", "nightly", "--at", f"{DAY}02:03:00Z", config_dir=cfg)
    assert r.rc == 0, r
    assert "Recently skipped, retry in 120s (within current slot)" in r.out, r
    assert "rebuilt from the run history" in r.out
    r = run_synctool("explain", "nightly", "--at", f"{DAY}02:03:00Z", "--json", config_dir=cfg)
    [s] = json.loads(r.out)["strategies"]
    assert s["should_run"] is False and s["reason"].startswith("Recently skipped, retry in 120s")
    r = run_synctool("explain", "nightly", "--at", f"{DAY}02:30:00Z", config_dir=cfg)
    assert "Already ran at 2025-10-15T02:15:00Z" in r.out, r

    # status: the scheduler's liveness
    r = run_synctool("status", "--at", f"{DAY}03:00:20Z", config_dir=cfg)
    assert f"last tick {DAY}03:00:00Z (20s ago)" in r.out and "WARNING" not in r.out, r
    r = run_synctool("status", "--at", f"{DAY}03:05:00Z", config_dir=cfg)
    assert "WARNING: no scheduler has ticked for 300s" in r.out, r


BAD_PG = ('  shop: {type: postgres, connection: {host: 127.0.0.1, port: 1, user: x, '
          'password: nope, dbname: shop}}')


def test_pause_warns_once_with_the_reset_command(tmp_path):
    cfg = str(tmp_path)
    write_config(cfg, {"orders": pipeline_yaml("orders_sync", "0 * * * *", src="shop",
                                               strategy="full_hourly",
                                               extra="retry: {max_retry_count: 1}\n")},
                 datastores=[BAD_PG, "  dst: {type: sqlite, path: dst.db}"])
    make_table(os.path.join(cfg, "dst.db"), rows=0)
    r = tick(cfg, f"{DAY}10:00:00Z")
    assert r.rc == 1 and "failed" in r.err, r
    r = tick(cfg, f"{DAY}11:00:00Z")
    hint = "paused; run `synctool reset orders_sync --strategy full_hourly` to resume"
    assert r.err.count(hint) == 1 and " warn " in r.err, r
    for t in ("12:00", "13:00"):
        r = tick(cfg, f"{DAY}{t}:00Z")
        assert hint not in r.err and "Max retry count" not in r.err, r
    r = run_synctool("status", "--at", f"{DAY}13:00:00Z", config_dir=cfg)
    assert "PAUSED" in r.out and "synctool reset orders_sync --strategy full_hourly" in r.out
    assert run_synctool("reset", "orders_sync", config_dir=cfg).rc == 0
    r = run_synctool("why", "orders_sync", "--json", config_dir=cfg)
    texts = [e["text"] for e in json.loads(r.out)]
    assert any(t.startswith("Max retry count (1) exceeded") for t in texts), texts
    assert any(t.startswith("Reset by synctool reset (was failed, retry count 1)")
               for t in texts), texts


def test_skipped_manual_run_is_logged_once_by_the_scheduler(tmp_path):
    """The state a skipped manual run leaves (skipped, after a manual success,
    last scheduled in an earlier slot): the scheduler's ticks log the
    consequence ("Moved to new schedule slot, abandoning old retry; Already
    ran ...") once at info, then only at debug -- not every tick."""
    cfg = str(tmp_path)
    make_nightly(cfg)
    f = os.path.join(cfg, "s.json")
    with open(f, "w") as fh:
        json.dump([{"pipeline": "nightly", "strategy": "full_nightly", "status": "skipped",
                    "last_run_at": "2025-10-16T02:30:00Z",
                    "last_scheduled_at": "2025-10-15T02:00:00Z",
                    "last_attempted_at": "2025-10-16T02:40:00Z", "run_id": 3}], fh)
    assert run_synctool("state", "import", f, config_dir=cfg).rc == 0
    seen = []
    for t in ("03:00:00", "03:00:10", "03:00:20", "03:00:30"):
        r = tick(cfg, f"2025-10-16T{t}Z")
        assert r.rc == 0 and "Enqueued" not in r.err, r
        seen.append(r.err.count("Moved to new schedule slot, abandoning old retry; Already ran"))
    assert seen == [1, 0, 0, 0], seen
    r = tick(cfg, "2025-10-16T03:00:40Z", log_level="debug")  # still decided, at debug
    assert " debug nightly:full_nightly Moved to new schedule slot" in r.err, r


def test_status_marks_an_operator_pause_with_resume(tmp_path):
    cfg = str(tmp_path)
    make_nightly(cfg)
    assert run_synctool("pause", "nightly", config_dir=cfg).rc == 0
    r = run_synctool("status", "--at", f"{DAY}02:00:00Z", config_dir=cfg)
    assert r.rc == 0 and "PAUSED" in r.out, r
    assert "run `synctool resume nightly --strategy full_nightly` to resume" in r.out, r
    doc = json.loads(run_synctool("status", "--json", "--at", f"{DAY}02:00:00Z",
                                  config_dir=cfg).out)
    assert doc[0]["paused"] is True
