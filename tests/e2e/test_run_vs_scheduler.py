"""End-to-end: a manual `run` that skips while a scheduled run of the same
strategy is in progress must not overwrite that run's state.

The scheduled job holds the pipeline lock but waits for the table lock (a
schema change holds it), so its state still says `pending`. A manual
`synctool run` meanwhile skips on the pipeline lock. Before the fix it
recorded `skipped` under a newer run id, and the scheduled run's own
`running` and `success` updates were then refused as stale: the sync
happened but the state said skipped and last_run never moved.
"""
import os
import subprocess

from conftest import BIN, run_synctool
from test_scheduler_helpers import (LockHolder, history, iso, make_table, pipeline_yaml,
                                    state_of, wait_until, write_config)


def test_manual_skip_does_not_overwrite_a_pending_scheduled_run(tmp_path):
    cfg = str(tmp_path)
    write_config(cfg, {"p": pipeline_yaml(
        "p", "0 2 * * *",
        extra="locks: {wait_for_table_lock: true, table_lock_wait_timeout: 120}\n")})
    make_table(os.path.join(cfg, "src.db"), rows=5)
    make_table(os.path.join(cfg, "dst.db"), rows=0)
    with LockHolder(cfg, "--table", "dst.main.items", key="synctool:table:dst:main:items") as ddl:
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        sched = subprocess.Popen([BIN, "--config-dir", cfg, "scheduler", "--once", "--at",
                                  "2025-10-15T02:00:00Z"], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # The scheduled job holds the pipeline lock and waits on the table.
            wait_until(lambda: "synctool:exec:pipeline:p" in run_synctool(
                "lock", "list", config_dir=cfg).out, what="the scheduled job's pipeline lock")
            assert state_of(cfg, "p", "full_job")["status"] == "pending"
            manual = run_synctool("run", "--job-name", "p", config_dir=cfg)
            assert manual.rc == 75, manual
            assert "Pipeline lock not available" in manual.err
            rec = state_of(cfg, "p", "full_job")
            assert rec["status"] == "pending", rec   # not overwritten by the skip
            ddl.release()
            out, err = sched.communicate(timeout=180)
        finally:
            if sched.poll() is None:
                sched.kill()
                sched.communicate()
    assert sched.returncode == 0, err
    rec = state_of(cfg, "p", "full_job")
    assert rec["status"] == "success", (rec, err)
    assert iso(rec["last_run_at"]) == "2025-10-15T02:00:00Z"
    assert [h["status"] for h in history(cfg, "p", "full_job")] == ["success"]
