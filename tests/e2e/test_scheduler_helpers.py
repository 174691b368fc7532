"""Helpers for the scheduler end-to-end tests (no tests here; imported by
test_scheduler_scenarios.py and test_distributed.py).
Everything goes through the real binary: `scheduler --once --at` ticks at
fixed instants, `lock hold` in the background for a held lock, `state
export` / `history --json` for what the runs recorded. Waits poll with
generous deadlines; nothing sleeps and hopes.
"""
import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timezone

from conftest import BIN, run_synctool


def write_config(cfg, pipelines, datastores=None, state_url=None):
    """pipelines: {file stem: yaml text}; datastores: yaml lines under datastores:."""
    os.makedirs(os.path.join(cfg, "pipelines"), exist_ok=True)
    ds = datastores or ["  src: {type: sqlite, path: src.db}",
                        "  dst: {type: sqlite, path: dst.db}"]
    text = "datastores:\n" + "\n".join(ds) + "\n"
    if state_url:
        text += f'state: {{url: "{state_url}"}}\n'
    with open(os.path.join(cfg, "datastores.yaml"), "w") as f:
        f.write(text)
    for stem, body in pipelines.items():
        with open(os.path.join(cfg, "pipelines", stem + ".yaml"), "w") as f:
            f.write(body)


def pipeline_yaml(name, cron, strategy="full_job", src_table="items", dst_table="items",
                  src="src", dst="dst", extra=""):
    return f"""name: {name}
source: {{datastore: {src}, table: {src_table}}}
destination: {{datastore: {dst}, table: {dst_table}}}
columns:
  - {{name: id, type: bigint, key: true}}
  - {{name: name, type: text}}
strategies:
  - {{name: {strategy}, type: full, cron: "{cron}"}}
{extra}"""


def make_table(path, table="items", rows=3):
    con = sqlite3.connect(path)
    con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (id INTEGER PRIMARY KEY, name TEXT)')
    con.executemany(f'INSERT OR REPLACE INTO "{table}" VALUES (?, ?)',
                    [(i, f"row {i}") for i in range(1, rows + 1)])
    con.commit()
    con.close()


def count_rows(path, table="items"):
    con = sqlite3.connect(path)
    try:
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def tick(cfg, at, *extra, env=None, timeout=180, log_level=None):
    """One `scheduler --once --at AT` tick; waits for the jobs it started."""
    pre = ["--log-level", log_level] if log_level else []
    return run_synctool(*pre, "scheduler", "--once", "--at", at, *extra, config_dir=cfg,
                        env=env, timeout=timeout)


def iso(v):
    """State times as ISO-8601 UTC text, whatever the export's spelling."""
    if v is None or v == "-" or v == "":
        return None
    if isinstance(v, (int, float)):
        return datetime.fromtimestamp(v / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    s = str(v).replace(" ", "T")
    if s.endswith("+00:00"):
        s = s[:-6] + "Z"
    return s


def export_state(cfg, env=None):
    r = run_synctool("state", "export", config_dir=cfg, env=env)
    assert r.rc == 0, r
    data = json.loads(r.out)
    if isinstance(data, dict):
        for key in ("records", "state", "states"):
            if key in data:
                data = data[key]
                break
    return data


def state_of(cfg, pipeline, strategy, env=None):
    for rec in export_state(cfg, env=env):
        if rec.get("pipeline") == pipeline and rec.get("strategy") == strategy:
            return rec
    return None


def history(cfg, pipeline, strategy=None, limit=100, env=None):
    args = ["history", pipeline, "--json", "--limit", str(limit)]
    if strategy:
        args += ["--strategy", strategy]
    r = run_synctool(*args, config_dir=cfg, env=env)
    assert r.rc == 0, r
    data = json.loads(r.out)
    if isinstance(data, dict):
        for key in ("history", "entries", "runs"):
            if key in data:
                data = data[key]
                break
    return data


def wait_until(pred, timeout=60.0, what="condition", interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def lock_list(cfg, env=None):
    r = run_synctool("lock", "list", config_dir=cfg, env=env)
    assert r.rc == 0, r
    return r.out


class LockHolder:
    """`synctool lock hold ... --for SECS` in the background."""

    def __init__(self, cfg, *target, key, seconds=600, env=None):
        self.cfg, self.key, self.env = cfg, key, env
        # Create the state/lock store first: two processes initialising a fresh
        # SQLite file at the same instant can see "database is locked".
        lock_list(cfg, env)
        full_env = dict(os.environ, **(env or {}))
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen(
            [BIN, "--config-dir", str(cfg), "lock", "hold", *target, "--for", str(seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        wait_until(lambda: self.key in lock_list(cfg, env) or self.proc.poll() is not None,
                   what=f"lock {key} to be held")
        assert self.proc.poll() is None, self.proc.communicate()

    def release(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        wait_until(lambda: self.key not in lock_list(self.cfg, self.env),
                   what=f"lock {self.key} to be released")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
