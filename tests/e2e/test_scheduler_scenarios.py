"""The lock-and-retry scenarios (spec TEST_LOCK_AND_RETRY.md, Scenarios 1-4)
end to end: the real binary, real locks (`lock hold` in the background),
SQLite state, ticks at fixed instants with `scheduler --once --at`.

Plus the scheduler process itself: lost-worker recovery, SIGTERM, SIGHUP,
and the leader lease between two schedulers.
"""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN, run_synctool
from test_lifecycle import PgHold, gate_waiters, gated_pipeline, tables_equal
from test_sync_cli import schema  # noqa: F401
from test_scheduler_helpers import (LockHolder, count_rows, export_state, history, iso,
                                    lock_list, make_table, pipeline_yaml, state_of, tick,
                                    wait_until, write_config)

PIPE_KEY = "synctool:exec:pipeline:{}"


def setup_sqlite(cfg, name, cron, extra="", rows=3, strategy="full_job"):
    write_config(cfg, {name: pipeline_yaml(name, cron, strategy=strategy, extra=extra)})
    make_table(os.path.join(cfg, "src.db"), rows=rows)
    make_table(os.path.join(cfg, "dst.db"), rows=0)


def statuses(hist):
    return [h["status"] for h in hist]


# --- Scenario 1: daily 02:00 job, pipeline lock held by someone else ---

def test_scenario1_daily_job_retries_every_5_minutes_then_succeeds(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "daily_sync", "0 2 * * *", strategy="hash_daily")
    key = PIPE_KEY.format("daily_sync")
    with LockHolder(cfg, "--pipeline", "daily_sync", key=key) as holder:
        r = tick(cfg, "2025-10-15T02:00:00Z")
        assert r.rc == 75, r  # --once: the run it started was skipped
        assert "First run or missing state — within 0s of schedule slot" in r.err, r
        assert "Pipeline lock not available, skipping execution" in r.err, r
        st = state_of(cfg, "daily_sync", "hash_daily")
        assert st["status"] == "skipped"
        assert iso(st["last_attempted_at"]) == "2025-10-15T02:00:00Z"

        r = tick(cfg, "2025-10-15T02:03:00Z")
        assert r.rc == 0, r  # --once: nothing started
        assert "Recently skipped, retry in 120s (within current slot)" in r.err, r
        assert "Enqueued" not in r.err, r
        assert iso(state_of(cfg, "daily_sync", "hash_daily")["last_attempted_at"]) \
            == "2025-10-15T02:00:00Z"

        for at in ("02:05", "02:10"):
            r = tick(cfg, f"2025-10-15T{at}:00Z")
            assert r.rc == 75, r
            assert "Retrying skipped job within current slot (skipped 300s ago" in r.err, r
            assert "Pipeline lock not available, skipping execution" in r.err, r
            st = state_of(cfg, "daily_sync", "hash_daily")
            assert st["status"] == "skipped"
            assert iso(st["last_attempted_at"]) == f"2025-10-15T{at}:00Z"
            assert int(st["retry_count"]) == 0   # a skip never counts
        holder.release()

    r = tick(cfg, "2025-10-15T02:15:00Z")
    assert r.rc == 0, r
    assert "Retrying skipped job within current slot (skipped 300s ago" in r.err, r
    assert "succeeded" in r.err, r
    st = state_of(cfg, "daily_sync", "hash_daily")
    assert st["status"] == "success"
    assert iso(st["last_run_at"]) == "2025-10-15T02:15:00Z"
    assert count_rows(os.path.join(cfg, "dst.db")) == 3
    assert statuses(history(cfg, "daily_sync"))[:4] == ["success", "skipped", "skipped",
                                                         "skipped"]

    r = tick(cfg, "2025-10-15T02:20:00Z", log_level="debug")
    assert "Already ran at" in r.err and "Enqueued" not in r.err, r

    # The next day starts fresh.
    r = tick(cfg, "2025-10-16T02:00:00Z")
    assert "Due to run (last scheduled: 2025-10-16T02:00:00Z" in r.err, r
    assert "succeeded" in r.err, r
    assert iso(state_of(cfg, "daily_sync", "hash_daily")["last_run_at"]) == "2025-10-16T02:00:00Z"


# --- Scenario 2: every 2 minutes ---

def test_scenario2_frequent_job_retries_after_half_slot_then_new_slot_starts_fresh(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "fast_sync", "*/2 * * * *", strategy="delta_2m")
    key = PIPE_KEY.format("fast_sync")
    with LockHolder(cfg, "--pipeline", "fast_sync", key=key) as holder:
        r = tick(cfg, "2025-10-15T10:00:00Z")
        assert "Pipeline lock not available, skipping execution" in r.err, r
        r = tick(cfg, "2025-10-15T10:00:30Z")
        assert "Recently skipped, retry in 30s (within current slot)" in r.err, r
        assert "Enqueued" not in r.err, r
        r = tick(cfg, "2025-10-15T10:01:00Z")
        assert ("Retrying skipped job within current slot (skipped 60s ago, 60s until next "
                "slot)") in r.err, r
        assert "Pipeline lock not available, skipping execution" in r.err, r
        assert iso(state_of(cfg, "fast_sync", "delta_2m")["last_attempted_at"]) \
            == "2025-10-15T10:01:00Z"
        holder.release()
    r = tick(cfg, "2025-10-15T10:02:00Z")
    assert "Moved to new schedule slot, abandoning old retry; " in r.err, r
    assert "succeeded" in r.err, r
    st = state_of(cfg, "fast_sync", "delta_2m")
    assert st["status"] == "success"
    assert iso(st["last_run_at"]) == "2025-10-15T10:02:00Z"


# --- Scenario 3: a failing job (bad connection string) ---

BAD_PG = ('  shop: {type: postgres, connection: {host: 127.0.0.1, port: 1, user: app, '
          'password: "${SHOP_PW}", dbname: shop}}')
SECRET = "hunter2-do-not-print"


def test_scenario3_failed_job_waits_for_next_slot_and_pauses_after_three(tmp_path):
    cfg = str(tmp_path)
    env = {"SHOP_PW": SECRET}
    write_config(cfg, {"orders": pipeline_yaml("orders_sync", "0 * * * *", src="shop",
                                               strategy="full_hourly")},
                 datastores=[BAD_PG, "  dst: {type: sqlite, path: dst.db}"])
    make_table(os.path.join(cfg, "dst.db"), rows=0)
    outputs = []

    def at(t, rc=0, **kw):
        r = tick(cfg, t, env=env, **kw)
        outputs.append(r.out + r.err)
        assert r.rc == rc, r  # --once exits 1 when a run it started failed
        return r

    r = at("2025-10-15T10:00:00Z", rc=1)
    assert "Run 1 failed" in r.err, r
    st = state_of(cfg, "orders_sync", "full_hourly", env=env)
    assert st["status"] == "failed" and int(st["retry_count"]) == 1

    r = at("2025-10-15T10:05:00Z", log_level="debug")
    assert "Job failed on last attempt, waiting for next regular schedule" in r.err, r
    assert "Enqueued" not in r.err, r

    for n, t in ((2, "11:00"), (3, "12:00")):
        r = at(f"2025-10-15T{t}:00Z", rc=1)
        assert "Enqueued" in r.err and "failed" in r.err, r
        assert int(state_of(cfg, "orders_sync", "full_hourly", env=env)["retry_count"]) == n

    r = at("2025-10-15T13:00:00Z")
    assert "Max retry count (3) exceeded for failed job" in r.err, r
    assert "Enqueued" not in r.err, r

    r = run_synctool("reset", "orders_sync", config_dir=cfg, env=env)
    assert r.rc == 0, r
    r = at("2025-10-15T14:00:00Z", rc=1)
    assert "Enqueued" in r.err, r
    st = state_of(cfg, "orders_sync", "full_hourly", env=env)
    assert st["status"] == "failed" and int(st["retry_count"]) == 1
    assert all(SECRET not in o for o in outputs)


# --- Scenario 4: table DDL lock ---

TABLE_KEY = "synctool:table:dst:main:items"


def test_scenario4_table_ddl_lock_without_wait_skips_then_retries(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "ddl_sync", "0 * * * *")
    with LockHolder(cfg, "--table", "dst.main.items", key=TABLE_KEY) as holder:
        r = tick(cfg, "2025-10-15T10:00:00Z")
        assert r.rc == 75, r
        assert "Table has active DDL lock, skipping execution" in r.err, r
        st = state_of(cfg, "ddl_sync", "full_job")
        assert st["status"] == "skipped"
        holder.release()
    r = tick(cfg, "2025-10-15T10:05:00Z")
    assert "Retrying skipped job within current slot (skipped 300s ago" in r.err, r
    assert "succeeded" in r.err, r
    assert count_rows(os.path.join(cfg, "dst.db")) == 3


def test_scenario4_table_ddl_lock_with_wait_proceeds_when_released(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "ddl_sync", "0 * * * *",
                 extra="locks: {wait_for_table_lock: true, table_lock_wait_timeout: 120}\n")
    with LockHolder(cfg, "--table", "dst.main.items", key=TABLE_KEY) as holder:
        proc = subprocess.Popen(
            [BIN, "--config-dir", cfg, "scheduler", "--once", "--at", "2025-10-15T10:00:00Z"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The job holds the pipeline lock while it waits for the table.
            wait_until(lambda: PIPE_KEY.format("ddl_sync") in lock_list(cfg),
                       what="the job to wait on the table lock")
            assert proc.poll() is None
            holder.release()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert "succeeded" in err, err
    assert state_of(cfg, "ddl_sync", "full_job")["status"] == "success"


def test_scenario4_table_ddl_lock_wait_times_out_and_skips(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "ddl_sync", "0 * * * *",
                 extra="locks: {wait_for_table_lock: true, table_lock_wait_timeout: 2}\n")
    with LockHolder(cfg, "--table", "dst.main.items", key=TABLE_KEY):
        r = tick(cfg, "2025-10-15T10:00:00Z")
    assert "Table DDL lock timeout after 2s, skipping execution" in r.err, r
    assert state_of(cfg, "ddl_sync", "full_job")["status"] == "skipped"


# --- The scheduler process ---

def test_scheduler_help_and_usage_errors(tmp_path):
    r = run_synctool("scheduler", "--help")
    assert r.rc == 0 and "usage: synctool scheduler" in r.out and "--max-jobs" in r.out
    r = run_synctool("scheduler", "--at", "2025-10-15T10:00:00Z", config_dir=tmp_path)
    assert r.rc == 2 and "--at needs --once" in r.err, r
    r = run_synctool("scheduler", "--once", "--at", "yesterday", config_dir=tmp_path)
    assert r.rc == 2 and "--at" in r.err, r
    r = run_synctool("scheduler", "--tick", "0", config_dir=tmp_path)
    assert r.rc == 2 and "--tick must be at least 1" in r.err, r
    r = run_synctool("scheduler", "--exec-job", "only-one", config_dir=tmp_path)
    assert r.rc == 2 and "--exec-job takes no arguments" in r.err, r
    r = run_synctool("scheduler", "--exec-job", config_dir=tmp_path, input="garbage\n")
    assert r.rc == 2 and "no valid job on standard input" in r.err, r
    r = run_synctool("scheduler", "surplus", config_dir=tmp_path)
    assert r.rc == 2 and "unexpected argument 'surplus'" in r.err, r


def test_worker_refuses_sqlite_state(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "p", "0 * * * *")
    r = run_synctool("worker", config_dir=cfg)
    assert r.rc == 2 and "needs shared state" in r.err, r
    r = run_synctool("worker", "--help")
    assert r.rc == 0 and "usage: synctool worker" in r.out
    r = run_synctool("worker", "--concurrency", "0", config_dir=cfg)
    assert r.rc == 2 and "--concurrency must be between 1 and 256" in r.err, r


def test_max_jobs_bounds_parallel_children_and_all_jobs_run(tmp_path, pg_server, schema):
    """Five due pipelines, --max-jobs 2: every run waits at the PostgreSQL
    gate, so exactly two job processes exist until the test lets go."""
    import pathlib
    cfg = str(tmp_path)
    names = [f"p{i}" for i in range(5)]
    gated_pipeline(pathlib.Path(cfg), pg_server, schema, cron="*/5 * * * *", names=names)
    hold = PgHold(pg_server)
    bg = Background(cfg, "--log-level", "debug", "scheduler", "--once", "--at",
                    "2025-10-15T10:00:00Z", "--max-jobs", "2")
    most = 0
    try:
        wait_until(lambda: gate_waiters(pg_server) >= 2 or bg.proc.poll() is not None,
                   timeout=120, what="two runs at the gate")
        for _ in range(20):  # a third would have been started by now: it is not
            kids = subprocess.run(["pgrep", "-P", str(bg.proc.pid)], capture_output=True,
                                  text=True).stdout.split()
            most = max(most, len(kids))
            time.sleep(0.05)
        assert most == 2 and gate_waiters(pg_server) == 2, most
        hold.release()
        while bg.proc.poll() is None:
            kids = subprocess.run(["pgrep", "-P", str(bg.proc.pid)], capture_output=True,
                                  text=True).stdout.split()
            most = max(most, len(kids))
            time.sleep(0.02)
    finally:
        hold.release()
        rc = bg.stop()
    log = bg.text()
    assert rc == 0, log
    assert most == 2, most
    assert log.count("started in process") == 5, log
    assert log.count("succeeded") == 5, log
    for n in names:
        assert tables_equal(pg_server, schema, n)


class Background:
    """A long-running synctool process with its stderr in a file we can poll."""

    def __init__(self, cfg, *args, env=None):
        self.log = os.path.join(cfg, f"bg-{time.monotonic_ns()}.log")
        self.f = open(self.log, "w")
        full_env = dict(os.environ, **(env or {}))
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen([BIN, "--config-dir", cfg, *args], stdout=self.f,
                                     stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True)

    def text(self):
        with open(self.log) as f:
            return f.read()

    def wait_for(self, needle, timeout=60):
        wait_until(lambda: needle in self.text() or self.proc.poll() is not None,
                   timeout=timeout, what=f"{needle!r} in the log")
        assert needle in self.text(), self.text()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.f.close()
        return self.proc.returncode


def test_sigterm_stops_cleanly_and_releases_the_leader_lease(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "quiet", "0 0 1 1 *")
    bg = Background(cfg, "scheduler", "--tick", "1", "--name", "solo")
    try:
        bg.wait_for("leader: solo holds the scheduler lease")
        assert "synctool:scheduler:leader" in lock_list(cfg)
    finally:
        rc = bg.stop()
    assert rc == 0, bg.text()
    assert "scheduler stopped" in bg.text()
    assert "synctool:scheduler:leader" not in lock_list(cfg)


def test_sighup_reload_keeps_old_config_when_new_one_is_invalid(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "quiet", "0 0 1 1 *")
    bg = Background(cfg, "scheduler", "--tick", "1", "--name", "hup")
    try:
        bg.wait_for("started (embedded mode, 1 pipelines)")
        bad = os.path.join(cfg, "pipelines", "broken.yaml")
        with open(bad, "w") as f:
            f.write(pipeline_yaml("broken", "61 * * * *"))
        bg.proc.send_signal(signal.SIGHUP)
        bg.wait_for("config reload failed; keeping the previous config")
        assert re.search(r"reload: (\S*/)?pipelines/broken\.yaml:\d+:\d+: ", bg.text()), \
            bg.text()
        os.remove(bad)
        with open(os.path.join(cfg, "pipelines", "second.yaml"), "w") as f:
            f.write(pipeline_yaml("second", "0 0 1 1 *", src_table="t2", dst_table="t2"))
        bg.proc.send_signal(signal.SIGHUP)
        bg.wait_for("config reloaded: 2 pipelines")
    finally:
        rc = bg.stop()
    assert rc == 0, bg.text()


def test_standby_takes_over_after_leader_dies(tmp_path):
    cfg = str(tmp_path)
    setup_sqlite(cfg, "quiet", "0 0 1 1 *")
    a = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "alpha")
    b = None
    try:
        a.wait_for("leader: alpha holds the scheduler lease")
        b = Background(cfg, "scheduler", "--tick", "1", "--lease", "3", "--name", "beta")
        b.wait_for("standby: leader is alpha")
        r = tick(cfg, "2025-10-15T10:00:00Z")
        assert r.rc == 75 and "standby: leader is alpha" in r.err, r
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        b.wait_for("leader: beta holds the scheduler lease", timeout=60)
    finally:
        a.stop()
        if b is not None:
            assert b.stop() == 0, b.text()


def test_lost_worker_is_recorded_lost_by_the_next_tick(tmp_path, pg_server, schema):
    """A job process killed mid-run (held at the PostgreSQL gate, so it is
    provably mid-run) leaves `running` behind; once its pipeline lease
    lapses the next tick records it `lost` (Worker lost: lease expired) in
    state and history; lost counts as failed."""
    cfg = str(tmp_path)
    gated_pipeline(tmp_path, pg_server, schema, cron="0 * * * *")
    hold = PgHold(pg_server)
    bg = Background(cfg, "scheduler", "--once", "--at", "2025-10-15T10:00:00Z")
    try:
        wait_until(lambda: gate_waiters(pg_server) > 0, timeout=120, what="the run at the gate")
        assert state_of(cfg, "p", "full")["status"] == "running"
        kids = subprocess.run(["pgrep", "-P", str(bg.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        assert len(kids) == 1, kids
        os.kill(int(kids[0]), signal.SIGKILL)      # the job process only
        assert bg.proc.wait(60) == 1, bg.text()  # --once: a run it started died
    finally:
        hold.release()
        bg.stop()
    assert "job process died (signal 9)" in bg.text(), bg.text()
    assert state_of(cfg, "p", "full")["status"] == "running"
    wait_until(lambda: PIPE_KEY.format("p") not in lock_list(cfg), timeout=60,
               what="the dead run's lease to lapse")
    r = tick(cfg, "2025-10-15T10:07:00Z", log_level="debug")
    assert "recorded lost: Worker lost: lease expired" in r.err, r
    st = state_of(cfg, "p", "full")
    assert st["status"] == "lost" and int(st["retry_count"]) == 1
    assert "Worker lost: lease expired" in (st.get("error", "") + st.get("message", ""))
    assert statuses(history(cfg, "p")) == ["lost"]
    # Lost counts as failed: no retry inside the slot; the next slot runs it.
    assert "Job failed on last attempt, waiting for next regular schedule" in r.err, r
    r = tick(cfg, "2025-10-15T11:00:00Z")
    assert "succeeded" in r.err, r
    assert tables_equal(pg_server, schema)


def start_held_scheduler(cfg, pg_server, schema, *extra, names=("p",)):
    """A looping scheduler whose first tick (wall clock) starts a run that
    waits at the PostgreSQL gate (held by the returned PgHold)."""
    import pathlib
    gated_pipeline(pathlib.Path(cfg), pg_server, schema, cron="* * * * *", names=names)
    hold = PgHold(pg_server)
    bg = Background(cfg, "scheduler", "--tick", "1", *extra)
    wait_until(lambda: gate_waiters(pg_server) > 0 or bg.proc.poll() is not None,
               timeout=120, what="the run to start")
    assert bg.proc.poll() is None, bg.text()
    return bg, hold


def test_sigterm_lets_the_running_job_finish_within_grace(tmp_path, pg_server, schema):
    cfg = str(tmp_path)
    bg, hold = start_held_scheduler(cfg, pg_server, schema, "--grace", "120")
    try:
        bg.proc.send_signal(signal.SIGTERM)
        bg.wait_for("stopping; 1 running jobs get up to 120s to finish")
        hold.release()
    finally:
        hold.release()
        rc = bg.stop(signal.SIGTERM, timeout=150)
    log = bg.text()
    assert rc == 0, log
    assert "succeeded" in log and "scheduler stopped" in log
    assert state_of(cfg, "p", "full")["status"] == "success"
    assert tables_equal(pg_server, schema)
    locks = lock_list(cfg)
    assert "synctool:exec:pipeline:p" not in locks
    assert "synctool:scheduler:leader" not in locks


def test_sigterm_grace_over_interrupts_the_job(tmp_path, pg_server, schema):
    """--grace 0: the job is interrupted at once (SIGTERM, not SIGKILL);
    held at the gate it stops at its next batch boundary once let go."""
    cfg = str(tmp_path)
    bg, hold = start_held_scheduler(cfg, pg_server, schema, "--grace", "0")
    try:
        bg.proc.send_signal(signal.SIGTERM)
        bg.wait_for("grace period over: interrupting run")
        hold.release()
    finally:
        hold.release()
        rc = bg.stop(signal.SIGTERM, timeout=60)
    log = bg.text()
    assert rc == 0, log
    assert "scheduler stopped" in log and "killing it" not in log
    st = state_of(cfg, "p", "full")
    assert st["status"] == "interrupted" and int(st["retry_count"]) == 0, st


def test_sigterm_leaves_unstarted_jobs_pending_and_frees_their_enqueue_locks(
        tmp_path, pg_server, schema):
    cfg = str(tmp_path)
    bg, hold = start_held_scheduler(cfg, pg_server, schema, "--max-jobs", "1", "--grace", "120",
                                    names=("first", "second"))
    try:
        def one_running():
            recs = {r["pipeline"]: r["status"] for r in export_state(cfg)}
            return len(recs) == 2 and "running" in recs.values() and \
                "pending" in recs.values()
        wait_until(one_running, timeout=120, interval=0.05,
                   what="one run to start while the other waits")
        bg.proc.send_signal(signal.SIGTERM)
        bg.wait_for("not started: the scheduler is stopping")  # at once, not after the job
        hold.release()
    finally:
        hold.release()
        rc = bg.stop(signal.SIGTERM, timeout=150)
    log = bg.text()
    assert rc == 0, log
    statuses_now = sorted(r["status"] for r in export_state(cfg))
    assert statuses_now == ["pending", "success"], statuses_now
    assert "synctool:enqueue:pipeline:" not in lock_list(cfg)
