"""End-to-end: the job hand-off to `synctool scheduler --exec-job` (issue 22,
item 3; DESIGN §4: lock keys and owner tokens never appear in a process's
command line).

The scheduler and `serve` started their job processes with the enqueue lock's
key and owner token in argv, where any local user reads them in
/proc/PID/cmdline (and, with the token, could release or renew the lock). The
job now travels on the child's standard input. Here a job process is held
waiting for a pipeline lock (a `lock hold` owns it) while it still owns its
enqueue lock; every lock owner token in the state file is then looked for in
every process's command line.

A job process that cannot be started by `serve` (its binary deleted, so
exec fails) is recorded `failed` with the cause instead of staying pending.
"""
import json
import os
import shutil
import sqlite3
import re
import subprocess
import urllib.error
import urllib.request

from conftest import BIN, run_synctool
from http_helpers import Server
from test_scheduler_helpers import LockHolder, make_table, pipeline_yaml, wait_until, \
    write_config
from test_scheduler_scenarios import Background

TOKEN = "handoff-token-for-tests"
WAIT_LOCKS = ("locks: {wait_for_pipeline_lock: true, pipeline_lock_wait_timeout: 300,\n"
              "        wait_for_table_lock: false, table_lock_wait_timeout: 30}\n")


def config(cfg):
    write_config(cfg, {"good": pipeline_yaml("good", "0 2 * * *", extra=WAIT_LOCKS)})
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)


def cmdlines():
    out = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    out[int(pid)] = f.read().decode(errors="replace").split("\0")
            except OSError:
                pass
    return out


def job_processes():
    return {pid: argv for pid, argv in cmdlines().items() if "--exec-job" in argv}


def owners(cfg):
    with sqlite3.connect(os.path.join(cfg, ".synctool", "state.db"), timeout=30) as db:
        return {(k, o) for k, o in db.execute("SELECT key, owner FROM lock_holders")}


def assert_no_secret_in_any_cmdline(cfg):
    held = owners(cfg)
    assert any(k.startswith("synctool:enqueue:") for k, _ in held), held
    everything = "\n".join(" ".join(a) for a in cmdlines().values())
    for key, owner in held:
        assert owner not in everything, (owner, key)
    jobs = job_processes()
    assert jobs, "no job process found"
    for argv in jobs.values():
        assert argv[-2:] == ["--exec-job", ""] or argv[-1] == "--exec-job", argv
        assert not any(a.startswith("synctool:") for a in argv), argv


def test_scheduler_job_process_gets_no_lock_token_in_argv(tmp_path):
    cfg = str(tmp_path)
    config(cfg)
    with LockHolder(cfg, "--pipeline", "good", key="synctool:exec:pipeline:good"):
        bg = Background(cfg, "scheduler", "--once", "--at", "2025-10-15T02:00:00Z")
        wait_until(lambda: job_processes() or bg.proc.poll() is not None,
                   what="the job process")
        wait_until(lambda: any(k.startswith("synctool:enqueue:") for k, _ in owners(cfg)),
                   what="the enqueue lock")
        assert_no_secret_in_any_cmdline(cfg)
    # the holder let go: the --once tick's job runs and the scheduler exits
    bg.proc.wait(120)
    assert bg.stop() == 0, bg.text()
    assert "succeeded" in bg.text(), bg.text()


def test_serve_job_process_gets_no_lock_token_in_argv(tmp_path):
    cfg = str(tmp_path)
    config(cfg)
    with LockHolder(cfg, "--pipeline", "good", key="synctool:exec:pipeline:good") as holder:
        with Server(cfg, token=TOKEN) as s:
            st, _, text = s.call("POST", "/api/v1/pipelines/good/run", token=TOKEN,
                                 body={"strategy": "full_job"})
            assert st == 202, text
            run_id = json.loads(text)["run_id"]
            wait_until(job_processes, what="the job process")
            assert_no_secret_in_any_cmdline(cfg)
            holder.release()

            def finished():
                code, _, body = s.call("GET", f"/api/v1/runs/{run_id}")
                doc = json.loads(body)
                return doc if code == 200 and doc["status"] not in ("pending", "running") \
                    else None
            doc = wait_until(finished, timeout=120, what="the run to finish")
            assert doc["status"] == "success", doc


def test_serve_that_cannot_start_a_job_records_it_failed(tmp_path):
    """exec fails (serve's binary was deleted, an upgrade gone wrong): the
    run is `failed` with the cause at once, not pending for 300 s."""
    cfg = str(tmp_path)
    config(cfg)
    copy = os.path.join(cfg, "synctool-copy")
    shutil.copy(BIN, copy)
    log = open(os.path.join(cfg, "serve.log"), "w")
    env = dict(os.environ, SYNCTOOL_API_TOKEN=TOKEN, ASAN_OPTIONS="detect_leaks=1")
    proc = subprocess.Popen([copy, "--config-dir", cfg, "serve", "--listen", "127.0.0.1:0"],
                            stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        def port():
            with open(log.name) as f:
                m = re.search(r"listening on \S+ \(port (\d+)\)", f.read())
            return m or proc.poll() is not None
        m = wait_until(port, what="serve to listen")
        assert proc.poll() is None
        os.unlink(copy)
        req = urllib.request.Request(f"http://127.0.0.1:{m.group(1)}/api/v1/pipelines/good/run",
                                     data=b'{"strategy": "full_job"}', method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, body = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode()
        assert status >= 500, (status, body)
        assert "exec" in body and "No such file or directory" in body, body
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
    r = run_synctool("history", "good", "--json", config_dir=cfg)
    assert r.rc == 0, r
    runs = json.loads(r.out)
    runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
    assert runs and runs[0]["status"] == "failed", runs
    assert "cannot start the job" in json.dumps(runs[0]), runs[0]
    r = run_synctool("status", "good", "--json", config_dir=cfg)
    assert '"pending"' not in r.out, r.out
