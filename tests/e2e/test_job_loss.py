"""End-to-end: no silent job loss (issue 21, item 2).

Reported: a datastore added to datastores.yaml with a `${VAR}` the running
scheduler's environment lacks (no SIGHUP): every job process re-read the
files, printed one bare line and exited; the run stayed `pending` for 5
minutes, then vanished — no history row, no alert, `logs N` said "no run N".
And one unresolvable `${VAR}` stopped every command, even for pipelines that
never touch that datastore.

Now:
  - a job process runs with the configuration its scheduler validated (it
    comes with the job on the child's stdin; the files on disk are not read
    again), so an edit without SIGHUP changes nothing — valid or not;
  - a `${VAR}` is resolved only when its datastore is opened: the pipeline
    that uses it fails with the cause, recorded, alerted, shown by `logs`
    and `why`; the others keep running; `validate` warns;
  - a job process that ends before it started its run (here: killed while it
    waits for its pipeline lock, still `pending`) is recorded `failed` with
    how it ended, alerted, shown by `logs`;
  - the same through Redis workers: a worker reloads for a pipeline it does
    not know, and the job fails with the variable as its cause; an invalid
    file elsewhere is left out of that reload, as the scheduler does, so the
    new pipeline runs.

Gates, never sleeps: a held pipeline lock (`lock hold`) keeps a job process
waiting while it is `pending`; `scheduler --once --max-jobs 1` keeps the
second job queued in the scheduler until the first one ends.
"""
import json
import os
import signal
import subprocess

import pytest

from conftest import BIN, run_synctool
from test_alerts import Receiver
from test_distributed import redis_db_url
from test_handoff import cmdlines
from test_scheduler_helpers import LockHolder, count_rows, history, make_table, \
    pipeline_yaml, state_of, wait_until
from test_scheduler_scenarios import Background

WAIT_LOCKS = ("locks: {wait_for_pipeline_lock: true, pipeline_lock_wait_timeout: 300,\n"
              "        wait_for_table_lock: false, table_lock_wait_timeout: 30}\n")
NEW_DS = '  newds: {type: sqlite, path: "${ST_JOBLOSS_DIR}/new.db"}\n'
CAUSE = "datastore 'newds': environment variable ST_JOBLOSS_DIR is not set"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def no_var():
    os.environ.pop("ST_JOBLOSS_DIR", None)


def datastores(cfg, hook, state_url=None, extra="", dst="dst.db"):
    text = ("datastores:\n  src: {type: sqlite, path: src.db}\n"
            f"  dst: {{type: sqlite, path: {dst}}}\n" + extra)
    if hook:
        text += f'notify:\n  webhooks:\n    - {{url: "{hook}"}}\n  timeout_seconds: 5\n'
    if state_url:
        text += f'state: {{url: "{state_url}"}}\n'
    with open(os.path.join(cfg, "datastores.yaml"), "w") as f:
        f.write(text)


def add_pipeline(cfg, name, src="src", extra=""):
    os.makedirs(os.path.join(cfg, "pipelines"), exist_ok=True)
    with open(os.path.join(cfg, "pipelines", name + ".yaml"), "w") as f:
        f.write(pipeline_yaml(name, "0 * * * *", src_table="items", dst_table=name, src=src,
                              extra=extra))


def make_config(cfg, hook, state_url=None):
    datastores(cfg, hook, state_url)
    add_pipeline(cfg, "a_held", extra=WAIT_LOCKS)
    add_pipeline(cfg, "b_next")
    make_table(os.path.join(cfg, "src.db"), rows=3)
    for p in ("a_held", "b_next"):
        r = run_synctool("ddl", "apply", p, config_dir=cfg)
        assert r.rc == 0, r


def job_processes(cfg):
    """This test's job processes (other tests may run on the machine)."""
    return [pid for pid, argv in cmdlines().items() if "--exec-job" in argv and cfg in argv]


def status(cfg, p):
    rec = state_of(cfg, p, "full_job")
    return rec and rec["status"]


def failed_alerts(receiver, pipeline):
    return [b for b in receiver.bodies if b["pipeline"] == pipeline and b["event"] == "failed"]


def test_config_edit_without_sighup_loses_no_job(tmp_path, receiver):
    cfg = str(tmp_path)
    make_config(cfg, receiver.url())
    with LockHolder(cfg, "--pipeline", "a_held", key="synctool:exec:pipeline:a_held") as gate:
        bg = Background(cfg, "scheduler", "--once", "--at", "2025-10-15T02:00:05Z",
                        "--max-jobs", "1")
        try:
            # a_held's process waits for its lock; b_next is queued behind it
            wait_until(lambda: status(cfg, "a_held") == "pending" and
                       status(cfg, "b_next") == "pending" and len(job_processes(cfg)) == 1,
                       what="a_held waiting, b_next queued")
            # the operator edits the files, no SIGHUP: a datastore whose ${VAR}
            # this environment lacks, and dst moved to another file
            datastores(cfg, receiver.url(), extra=NEW_DS, dst="dst2.db")
            add_pipeline(cfg, "c_new", src="newds")
            gate.release()
            assert bg.proc.wait(120) == 0, bg.text()
        finally:
            bg.stop()
    # both ran with the configuration the scheduler validated
    assert status(cfg, "a_held") == "success" and status(cfg, "b_next") == "success", bg.text()
    assert count_rows(os.path.join(cfg, "dst.db"), "b_next") == 3
    assert not os.path.exists(os.path.join(cfg, "dst2.db"))
    assert "c_new" not in bg.text()
    assert receiver.bodies == []

    # the new config (a scheduler started now, as after SIGHUP): only the
    # pipeline that uses newds fails, with the cause, alerted
    v = run_synctool("validate", config_dir=cfg)
    assert v.rc == 0 and "warning: datastores.newds.path: environment variable " \
        "ST_JOBLOSS_DIR is not set" in v.err and "pipeline c_new" in v.err, v
    for p in ("a_held", "b_next", "c_new"):
        r = run_synctool("ddl", "apply", p, config_dir=cfg)
        assert r.rc == 0 or p == "c_new", r
    for args in (["list"], ["status"], ["explain", "a_held"], ["history", "b_next"]):
        r = run_synctool(*args, config_dir=cfg)
        assert r.rc == 0 and "ST_JOBLOSS_DIR" not in r.err, (args, r)
    r = run_synctool("scheduler", "--once", "--at", "2025-10-15T03:00:05Z", config_dir=cfg)
    assert r.rc == 1, r   # --once: a run it started failed
    assert status(cfg, "a_held") == "success" and status(cfg, "b_next") == "success", r
    assert count_rows(os.path.join(cfg, "dst2.db"), "b_next") == 3
    rec = state_of(cfg, "c_new", "full_job")
    assert rec["status"] == "failed" and CAUSE in rec["error"], rec
    run_id = history(cfg, "c_new")[0]["run_id"]
    logs = run_synctool("logs", str(run_id), config_dir=cfg)
    assert logs.rc == 0 and CAUSE in logs.out, logs
    why = run_synctool("why", "c_new", config_dir=cfg)
    assert CAUSE in why.out, why
    alerts = failed_alerts(receiver, "c_new")
    assert len(alerts) == 1 and CAUSE in alerts[0]["error"], receiver.bodies
    assert [b["pipeline"] for b in receiver.bodies] == ["c_new"], receiver.bodies


def test_job_process_killed_before_its_run_is_recorded_failed(tmp_path, receiver):
    cfg = str(tmp_path)
    make_config(cfg, receiver.url())
    with LockHolder(cfg, "--pipeline", "a_held", key="synctool:exec:pipeline:a_held"):
        bg = Background(cfg, "scheduler", "--once", "--at", "2025-10-15T02:00:05Z")
        try:
            jobs = wait_until(lambda: status(cfg, "a_held") == "pending" and
                              status(cfg, "b_next") == "success" and job_processes(cfg),
                              what="a_held's job process waiting for its lock")
            for pid in jobs:
                os.kill(pid, signal.SIGKILL)
            assert bg.proc.wait(120) == 1, bg.text()   # --once: a run failed
        finally:
            bg.stop()
    rec = state_of(cfg, "a_held", "full_job")
    cause = "the job process was killed by signal 9 (Killed) before it started the run"
    assert rec["status"] == "failed" and rec["error"] == cause, rec
    assert rec["retry_count"] == 1, rec
    run_id = history(cfg, "a_held")[0]["run_id"]
    logs = run_synctool("logs", str(run_id), config_dir=cfg)
    assert logs.rc == 0 and cause in logs.out, logs
    assert cause in run_synctool("why", "a_held", config_dir=cfg).out
    alerts = failed_alerts(receiver, "a_held")
    assert len(alerts) == 1 and alerts[0]["error"] == cause, receiver.bodies
    assert alerts[0]["run_id"] == run_id


def test_redis_worker_runs_a_new_pipeline_and_records_the_missing_variable(
        tmp_path, redis_server, receiver):
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 5)
    make_config(cfg, receiver.url(), state_url=url)
    worker = Background(cfg, "worker", "--name", "w1")
    try:
        worker.wait_for("worker w1 started")
        # added while the worker runs, no SIGHUP
        datastores(cfg, receiver.url(), state_url=url, extra=NEW_DS)
        add_pipeline(cfg, "c_new", src="newds")
        r = run_synctool("scheduler", "--once", "--at", "2025-10-15T02:00:05Z", config_dir=cfg)
        assert r.rc == 0 and r.err.count("Enqueued run") == 3, r
        wait_until(lambda: all(status(cfg, p) not in (None, "pending", "running")
                               for p in ("a_held", "b_next", "c_new")),
                   timeout=120, what="the worker to run the three jobs")
    finally:
        assert worker.stop() == 0, worker.text()
    assert status(cfg, "a_held") == "success" and status(cfg, "b_next") == "success"
    rec = state_of(cfg, "c_new", "full_job")
    assert rec["status"] == "failed" and CAUSE in rec["error"], rec
    assert rec["worker"] == "w1"
    run_id = history(cfg, "c_new")[0]["run_id"]
    logs = run_synctool("logs", str(run_id), config_dir=cfg)
    assert logs.rc == 0 and CAUSE in logs.out, logs
    # the next tick's alert check sends it
    run_synctool("scheduler", "--once", "--at", "2025-10-15T02:00:35Z", config_dir=cfg)
    alerts = failed_alerts(receiver, "c_new")
    assert len(alerts) == 1 and CAUSE in alerts[0]["error"], receiver.bodies


def test_exec_job_with_a_config_that_does_not_load_records_the_cause(tmp_path, receiver):
    """A hand-off whose configuration does not load in the job process (here:
    written by hand, as a bug or a damaged hand-off would) is recorded
    failed with the problem, in the state the hand-off names."""
    cfg = str(tmp_path)
    make_config(cfg, None)
    run_synctool("reset", "a_held", config_dir=cfg)   # creates the state store
    state_url = "sqlite:" + os.path.join(cfg, ".synctool", "state.db")
    bad = "name: a_held\nsource: {datastore: nowhere, table: items}\n"
    handoff = (f"synctool-job 3\na_held\nfull_job\n77\n0\n\n\n0\n0\n{state_url}\n{cfg}\n2\n"
               f"datastores.yaml\n{len(DS_TEXT)}\n{DS_TEXT}\n"
               f"pipelines/a_held.yaml\n{len(bad)}\n{bad}\n")
    r = subprocess.run([BIN, "--config-dir", "/nonexistent", "scheduler", "--exec-job"],
                       input=handoff, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r
    h = history(cfg, "a_held")
    assert h and h[0]["run_id"] == 77 and h[0]["status"] == "failed", h
    assert "could not load the configuration its scheduler handed over" in h[0]["error"], h
    assert "missing required key \"destination\"" in h[0]["error"], h


DS_TEXT = "datastores:\n  src: {type: sqlite, path: src.db}\n  dst: {type: sqlite, path: dst.db}\n"


def test_redis_worker_runs_a_new_pipeline_while_another_file_is_invalid(
        tmp_path, redis_server):
    """The scheduler leaves an invalid pipeline file out and schedules the
    valid ones; a worker that meets a new pipeline does the same when it
    reloads, instead of keeping its old config and failing the job with
    "Pipeline not found"."""
    cfg = str(tmp_path)
    url = redis_db_url(redis_server, 5)
    make_config(cfg, None, state_url=url)
    worker = Background(cfg, "worker", "--name", "w2")
    try:
        worker.wait_for("worker w2 started")
        add_pipeline(cfg, "c_new")
        with open(os.path.join(cfg, "pipelines", "zz_bad.yaml"), "w") as f:
            f.write(pipeline_yaml("zz_bad", "not a cron"))
        assert run_synctool("ddl", "apply", "c_new", config_dir=cfg).rc == 0
        r = run_synctool("scheduler", "--once", "--at", "2025-10-15T02:00:05Z", config_dir=cfg)
        assert r.rc == 0 and r.err.count("Enqueued run") == 3, r
        wait_until(lambda: all(status(cfg, p) not in (None, "pending", "running")
                               for p in ("a_held", "b_next", "c_new")),
                   timeout=120, what="the worker to run the three jobs")
    finally:
        assert worker.stop() == 0, worker.text()
    for p in ("a_held", "b_next", "c_new"):
        assert status(cfg, p) == "success", (p, state_of(cfg, p, "full_job"), worker.text())
    assert count_rows(os.path.join(cfg, "dst.db"), "c_new") == 3
    assert "reload: left out: pipelines/zz_bad.yaml" in worker.text(), worker.text()
