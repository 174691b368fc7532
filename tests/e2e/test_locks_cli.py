"""End-to-end: locks through the real binary (`run`, `lock hold`, `lock list`).

Every scenario runs twice: with the embedded SQLite state file and with Redis
state (the redis_server fixture), since locks live wherever the state lives.
Each test gets its own config dir and unique pipeline and datastore names, so
lock keys never collide between tests sharing one redis-server.

Sequencing never relies on sleeps: a `lock hold` is "holding" once it printed
its line, a run is "inside the job manager" once `lock list` shows its
pipeline lock, and expiries are awaited by polling with generous deadlines.
The pipeline is SQLite -> SQLite with the destination table pre-created, so
a run that gets both locks really executes the sync.
"""
import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

import pytest

from conftest import BIN

SEED = [
    (1, 100, "19.99", "first order", "2025-10-15T08:00:00Z"),
    (2, 101, "5.00", None, "2025-10-15T08:05:00Z"),
    (3, 100, "12.50", "third", "2025-10-15T09:00:00Z"),
    (4, 102, "0.00", "", "2025-10-15T09:30:00Z"),
]


class Env:
    """A config dir with one SQLite -> SQLite pipeline."""

    def __init__(self, root, state_url=None, locks=None):
        tag = uuid.uuid4().hex[:8]
        self.dir = root
        self.pipeline = f"orders_{tag}"
        self.shop = f"shop_{tag}"
        self.wh = f"wh_{tag}"
        self.table_key = f"synctool:table:{self.wh}:main:orders"
        self.pipeline_key = f"synctool:exec:pipeline:{self.pipeline}"
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        (root / "pipelines").mkdir(exist_ok=True)
        state = f'state: {{url: "{state_url}"}}\n' if state_url else ""
        (root / "datastores.yaml").write_text(
            "datastores:\n"
            f"  {self.shop}: {{type: sqlite, path: data/shop.db}}\n"
            f"  {self.wh}: {{type: sqlite, path: data/warehouse.db}}\n" + state)
        locks = locks or ("{wait_for_pipeline_lock: false, pipeline_lock_wait_timeout: 60,"
                          " wait_for_table_lock: false, table_lock_wait_timeout: 30}")
        (root / "pipelines" / "orders.yaml").write_text(
            f"name: {self.pipeline}\n"
            f"source: {{datastore: {self.shop}, table: orders}}\n"
            f"destination: {{datastore: {self.wh}, table: orders}}\n"
            "columns:\n"
            "  - {name: id, type: bigint, key: true}\n"
            "  - {name: customer_id, type: bigint}\n"
            "  - {name: total, type: text}\n"
            "  - {name: note, type: text}\n"
            "  - {name: updated_at, type: text}\n"
            "strategies:\n"
            "  - {name: delta_15m, type: delta, cursor: updated_at, cron: '*/15 * * * *'}\n"
            "  - {name: full_weekly, type: full, cron: '0 0 * * 0'}\n"
            f"locks: {locks}\n")
        ddl = ("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer_id INTEGER,"
               " total TEXT, note TEXT, updated_at TEXT)")
        with sqlite3.connect(data / "shop.db") as db:
            db.execute(ddl)
            db.executemany("INSERT OR REPLACE INTO orders VALUES (?,?,?,?,?)", SEED)
        with sqlite3.connect(data / "warehouse.db") as db:
            db.execute(ddl)

    def args(self, *a):
        return [BIN, "--config-dir", str(self.dir)] + [str(x) for x in a]

    def warehouse_rows(self):
        with sqlite3.connect(self.dir / "data" / "warehouse.db") as db:
            return db.execute("SELECT count(*) FROM orders").fetchone()[0]


class Proc:
    """A background synctool process whose output we can wait on."""

    def __init__(self, args):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        # Default Ctrl-C handling even when the suite itself runs in the
        # background (a shell's background jobs start with SIGINT ignored,
        # and an ignored signal stays ignored across exec).
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.out = b""
        self.err = b""

    def wait_for(self, needle, timeout=60, stream="out"):
        """Reads stdout (or stderr, stream="err") until needle appears."""
        deadline = time.time() + timeout
        pipe = self.p.stdout if stream == "out" else self.p.stderr
        fd = pipe.fileno()
        while needle.encode() not in getattr(self, stream):
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"no {needle!r} within {timeout}s; "
                                     f"std{stream}={getattr(self, stream)!r}")
            r, _, _ = select.select([fd], [], [], min(left, 0.2))
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError(f"exited before {needle!r}: {self.finish()}")
                setattr(self, stream, getattr(self, stream) + chunk)
        return getattr(self, stream).decode()

    def finish(self, timeout=120):
        out, err = self.p.communicate(timeout=timeout)
        self.out += out
        self.err += err
        return self.p.returncode, self.out.decode(), self.err.decode()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate()


def run(env, *a, timeout=120):
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    p = subprocess.run(env.args(*a), capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def held_keys(env):
    rc, out, err = run(env, "lock", "list", "--json")
    assert rc == 0, err
    return {x["key"]: x for x in json.loads(out)}


def poll(fn, timeout=60, every=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture(params=["sqlite", "redis"])
def env(request, tmp_path):
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    e = Env(tmp_path / "cfg", state_url=url)
    procs = []
    e.spawn = lambda *a: procs.append(Proc(e.args(*a))) or procs[-1]
    yield e
    for p in procs:
        p.kill()


def hold_table(env, *extra):
    h = env.spawn("lock", "hold", "--table", f"{env.wh}.main.orders", "--for", 120, *extra)
    h.wait_for("holding")
    return h


def test_two_concurrent_runs_exactly_one_executes(env):
    # The table DDL lock keeps whichever run gets the pipeline lock inside the
    # job manager, so the two runs overlap for certain.
    holder = hold_table(env)
    a = env.spawn("run", "--job-name", env.pipeline, "--table-lock-timeout", 120, "--json")
    b = env.spawn("run", "--job-name", env.pipeline, "--table-lock-timeout", 120, "--json")
    poll(lambda: a.p.poll() is not None or b.p.poll() is not None)
    first, second = (a, b) if a.p.poll() is not None else (b, a)
    rc, out, err = first.finish()
    assert rc == 75, (out, err)
    res = json.loads(out)
    assert res["status"] == "skipped"
    assert res["reason_code"] == "pipeline_lock_unavailable"
    assert res["message"] == "Pipeline lock not available, skipping execution"
    assert second.p.poll() is None
    assert env.warehouse_rows() == 0  # nothing executed yet
    holder.p.send_signal(signal.SIGTERM)
    assert holder.finish()[0] == 0
    rc, out, err = second.finish()
    res = json.loads(out)
    assert rc == 0, (out, err)
    assert res["status"] == "success"
    assert res["rows_inserted"] == 4
    assert env.warehouse_rows() == 4
    assert held_keys(env) == {}


def test_second_run_skips_with_clear_message(env):
    holder = hold_table(env)
    a = env.spawn("run", "--job-name", env.pipeline, "--table-lock-timeout", 120)
    poll(lambda: env.pipeline_key in held_keys(env))
    rc, out, err = run(env, "run", "--job-name", env.pipeline)
    assert rc == 75
    assert f"{env.pipeline}:full_weekly skipped: Pipeline lock not available, skipping execution" in err
    holder.p.send_signal(signal.SIGTERM)
    holder.finish()
    rc, out, err = a.finish()
    assert rc == 0, err
    assert f"{env.pipeline}:full_weekly success in" in out
    assert "4 inserted, 0 updated, 0 deleted" in out


def test_skip_does_not_clobber_the_running_run(env):
    holder = hold_table(env)
    a = env.spawn("run", "--job-name", env.pipeline, "--table-lock-timeout", 120, "--json")
    # A has its pipeline lock once it waits for the table; it is marked
    # running only after both locks, so release the table and catch it there
    poll(lambda: env.pipeline_key in held_keys(env))
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--json")
    assert rc == 75
    assert json.loads(out)["reason_code"] == "pipeline_lock_unavailable"
    holder.p.send_signal(signal.SIGTERM)
    holder.finish()
    rc, out, err = a.finish()
    assert rc == 0, err
    ra = json.loads(out)
    rec = _state(env)[(env.pipeline, "full_weekly")]
    assert rec["status"] == "success"
    assert rec["run_id"] == ra["run_id"]
    assert rec["last_run_at"] is not None


def test_lock_timeout_waits_for_first_then_runs(env):
    holder = hold_table(env)
    a = env.spawn("run", "--job-name", env.pipeline, "--table-lock-timeout", 120)
    poll(lambda: env.pipeline_key in held_keys(env))
    b = env.spawn("run", "--job-name", env.pipeline, "--lock-timeout", 120, "--json")
    b.wait_for("waiting up to 120s for it", stream="err")  # for the first run's pipeline lock
    assert b.p.poll() is None
    holder.p.send_signal(signal.SIGTERM)
    holder.finish()
    assert a.finish()[0] == 0
    rc, out, err = b.finish()
    assert rc == 0, (out, err)
    res = json.loads(out)
    assert res["status"] == "success"
    assert res["reason_code"] is None


def test_lock_timeout_expires_and_skips(env):
    h = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 120)
    h.wait_for("holding")
    t0 = time.time()
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--lock-timeout", 1, "--json")
    assert time.time() - t0 >= 1
    assert rc == 75
    res = json.loads(out)
    assert res["reason_code"] == "pipeline_lock_unavailable"
    assert res["message"] == "Pipeline lock timeout after 1s, skipping execution"


def test_table_ddl_lock_makes_runs_skip(env):
    hold_table(env)
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--json")
    assert rc == 75
    res = json.loads(out)
    assert res["status"] == "skipped"
    assert res["reason_code"] == "table_ddl_lock_active"
    assert res["message"] == "Table has active DDL lock, skipping execution"
    rc, out, err = run(env, "run", "--job-name", env.pipeline)
    assert rc == 75
    assert "Table has active DDL lock" in err
    # the skipped runs gave their pipeline lock back
    assert env.pipeline_key not in held_keys(env)
    assert env.warehouse_rows() == 0


def test_table_lock_timeout_expires_and_skips(env):
    hold_table(env)
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--table-lock-timeout", 1, "--json")
    assert rc == 75
    res = json.loads(out)
    assert res["reason_code"] == "table_ddl_lock_timeout"
    assert res["message"] == "Table DDL lock timeout after 1s, skipping execution"


def test_table_lock_timeout_proceeds_once_released(env):
    h = env.spawn("lock", "hold", "--table", f"{env.wh}.main.orders", "--for", 3)
    h.wait_for("holding")
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--table-lock-timeout", 120,
                       "--json")
    assert rc == 0, (out, err)
    assert json.loads(out)["status"] == "success"
    rc, hout, _ = h.finish()
    assert rc == 0 and "released" in hout


def test_no_wait_lock_overrides_config(tmp_path, request):
    env = Env(tmp_path / "cfg", locks="{wait_for_pipeline_lock: true, pipeline_lock_wait_timeout: 2}")
    h = Proc(env.args("lock", "hold", "--pipeline", env.pipeline, "--for", 120))
    request.addfinalizer(h.kill)
    h.wait_for("holding")
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--no-wait-lock", "--json")
    assert rc == 75
    assert json.loads(out)["message"] == "Pipeline lock not available, skipping execution"
    # without the flag the config's wait applies
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--json")
    assert rc == 75
    assert json.loads(out)["message"] == "Pipeline lock timeout after 2s, skipping execution"


def test_sigkill_holder_frees_within_ttl(env):
    """A SIGKILLed holder's lease outlives it until its TTL, then frees.
    Two holders, so no assertion depends on how fast this machine is: one
    with a 600 s lease (still busy right after the kill, whatever the
    speed), then one with a 2 s lease (free again within a generous bound)."""
    h = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 300, "--ttl", 2)
    h.wait_for("holding")
    h.p.kill()
    h.p.wait()
    killed = time.time()
    poll(lambda: run(env, "lock", "hold", "--pipeline", env.pipeline, "--for", 0)[0] == 0,
         timeout=60)
    assert time.time() - killed < 60
    h = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 900, "--ttl", 600)
    h.wait_for("holding")
    h.p.kill()
    h.p.wait()
    rc, _, err = run(env, "lock", "hold", "--pipeline", env.pipeline, "--for", 0)
    assert rc == 75, err
    assert "busy" in err
    assert env.pipeline_key in run(env, "lock", "list")[1]


def test_sigstop_holder_cannot_release_or_renew_new_lock(env):
    old = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 300, "--ttl", 2)
    line = old.wait_for("holding")
    old_fence = int(line.split("fence ")[1].split(")")[0])
    old.p.send_signal(signal.SIGSTOP)
    try:
        new = poll(lambda: _try_hold(env), timeout=60, every=0.3)
        new_line = new.out.decode()
        new_fence = int(new_line.split("fence ")[1].split(")")[0])
        assert new_fence > old_fence
    finally:
        old.p.send_signal(signal.SIGCONT)
    rc, out, err = old.finish(timeout=60)
    assert rc == 1
    assert f"lost lock {env.pipeline_key}" in err
    # the new holder is untouched
    held = held_keys(env)
    assert held[env.pipeline_key]["fence"] == new_fence
    new.p.send_signal(signal.SIGTERM)
    rc, out, err = new.finish()
    assert rc == 0, err
    assert f"released {env.pipeline_key}" in out


def _try_hold(env):
    p = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 120)
    fd = p.p.stdout.fileno()
    deadline = time.time() + 30
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if chunk:
                p.out += chunk
                if b"holding" in p.out:
                    return p
                continue
        if p.p.poll() is not None:
            return None  # busy: exited 75
    return None


def test_lock_list_shows_shared_holders(env):
    a = hold_table(env, "--shared")
    b = hold_table(env, "--shared")
    held = held_keys(env)
    t = held[env.table_key]
    assert t["mode"] == "shared"
    assert t["holders"] == 2
    assert t["expires_in_s"] > 0
    rc, out, err = run(env, "lock", "list")
    assert rc == 0
    assert env.table_key in out and "shared" in out
    # an exclusive hold is busy while shared holders live
    rc, out, err = run(env, "lock", "hold", "--table", f"{env.wh}.main.orders", "--for", 0)
    assert rc == 75
    for p in (a, b):
        p.p.send_signal(signal.SIGINT)
        assert p.finish()[0] == 0
    assert env.table_key not in held_keys(env)


def test_waiting_schema_change_blocks_new_shared(env):
    shared = hold_table(env, "--shared")
    ddl = env.spawn("lock", "hold", "--table", f"{env.wh}.main.orders", "--for", 0,
                    "--wait", 120)
    # once the exclusive waiter has registered, new shared holders (syncs) are refused

    def blocked():
        rc, _, _ = run(env, "lock", "hold", "--table", f"{env.wh}.main.orders", "--shared",
                       "--for", 0)
        return rc == 75
    poll(blocked, timeout=60)
    shared.p.send_signal(signal.SIGTERM)
    shared.finish()
    rc, out, err = ddl.finish()
    assert rc == 0, err
    assert "released" in out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lock_backend_unavailable_skips(tmp_path):
    port = free_port()
    env = Env(tmp_path / "cfg", state_url=f"redis://:topsecretpw@127.0.0.1:{port}/0")
    rc, out, err = run(env, "run", "--job-name", env.pipeline)
    assert rc == 75
    assert "Lock backend unavailable, skipping execution" in err
    assert f"127.0.0.1:{port}" in err
    assert "topsecretpw" not in out + err
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--json")
    assert json.loads(out)["reason_code"] == "lock_backend_unavailable"
    assert "topsecretpw" not in out + err
    rc, out, err = run(env, "lock", "list")
    assert rc == 1
    assert "unreachable" in err and "topsecretpw" not in err


def test_default_strategy_is_longest_slot(tmp_path):
    env = Env(tmp_path / "cfg")
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--json")
    assert json.loads(out)["strategy"] == "full_weekly"
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--strategy", "delta_15m",
                       "--json")
    assert json.loads(out)["strategy"] == "delta_15m"


@pytest.mark.parametrize("args,needle", [
    (["run"], "missing PIPELINE"),
    (["run", "--job-name", "nope"], "unknown pipeline 'nope'"),
    (["run", "--job-name", "PIPE", "--strategy", "weekly"], "Strategy 'weekly' not found in config"),
    (["run", "--job-name", "PIPE", "--lock-timeout", "x"], "expected a non-negative integer"),
    (["run", "--job-name", "PIPE", "--no-wait-lock", "--lock-timeout", "5"], "contradicts"),
    (["run", "--job-name", "PIPE", "extra"], "PIPELINE 'extra' contradicts --job-name"),
    (["run", "PIPE", "extra"], "unexpected argument 'extra'"),
    (["run", "--bogus"], "unknown option"),
    (["run", "--job-name"], "--job-name needs a value"),
    (["lock", "hold", "--pipeline"], "--pipeline needs a value"),
    (["lock", "hold", "--bogus"], "unknown option"),
    (["lock", "list", "--bogus"], "unknown option"),
    (["lock"], "usage: synctool lock"),
    (["lock", "frob"], "unknown subcommand 'frob'"),
    (["lock", "hold", "--pipeline", "PIPE"], "hold needs --for SECS"),
    (["lock", "hold", "--for", "1"], "exactly one of --pipeline or --table"),
    (["lock", "hold", "--pipeline", "PIPE", "--for", "1", "--shared"], "table locks only"),
    (["lock", "hold", "--table", "nodots", "--for", "1"], "expected DATASTORE.SCHEMA.TABLE"),
    (["lock", "hold", "--table", "ghost.main.t", "--for", "1"], "unknown datastore 'ghost'"),
    (["lock", "hold", "--pipeline", "nope", "--for", "1"], "unknown pipeline 'nope'"),
    (["lock", "hold", "--pipeline", "PIPE", "--for", "1", "--ttl", "0"], "--ttl must be at least"),
    (["lock", "list", "extra"], "unexpected argument"),
])
def test_usage_errors(tmp_path, args, needle):
    env = Env(tmp_path / "cfg")
    args = [a.replace("PIPE", env.pipeline) for a in args]
    rc, out, err = run(env, *args)
    assert rc == 2, (out, err)
    assert needle in err


@pytest.mark.parametrize("args", [["run", "--help"], ["lock", "--help"],
                                  ["lock", "hold", "--help"], ["lock", "list", "--help"]])
def test_help(tmp_path, args):
    env = Env(tmp_path / "cfg")
    rc, out, err = run(env, *args)
    assert rc == 0
    assert out.startswith("usage: synctool")


def _state(env):
    rc, out, err = run(env, "state", "export")
    assert rc == 0, err
    return {(r["pipeline"], r["strategy"]): r for r in json.loads(out)}


def test_run_records_skipped_then_success(env):
    h = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 120)
    h.wait_for("holding")
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--json")
    assert rc == 75
    skipped_id = json.loads(out)["run_id"]
    rec = _state(env)[(env.pipeline, "full_weekly")]
    assert rec["status"] == "skipped"
    assert rec["last_attempted_at"] is not None
    assert rec["retry_count"] == 0  # a skip never counts as a failure
    assert rec["last_run_at"] is None
    h.p.send_signal(signal.SIGTERM)
    assert h.finish()[0] == 0
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--json")
    assert rc == 0, (out, err)
    res = json.loads(out)
    assert res["run_id"] > skipped_id
    rec = _state(env)[(env.pipeline, "full_weekly")]
    assert rec["status"] == "success"
    assert rec["last_run_at"] is not None
    assert rec["run_id"] == res["run_id"]


def test_no_enabled_strategy_is_a_usage_error(tmp_path):
    env = Env(tmp_path / "cfg")
    y = env.dir / "pipelines" / "orders.yaml"
    y.write_text(y.read_text().replace("cron: '*/15 * * * *'}", "cron: '*/15 * * * *', enabled: false}")
                 .replace("cron: '0 0 * * 0'}", "cron: '0 0 * * 0', enabled: false}"))
    rc, out, err = run(env, "run", "--job-name", env.pipeline)
    assert rc == 2, err
    assert f"pipeline '{env.pipeline}' has no enabled strategy" in err
    # an explicitly named disabled strategy still runs by hand
    rc, out, err = run(env, "run", "--job-name", env.pipeline, "--strategy", "full_weekly", "--json")
    assert rc == 0, err
    assert json.loads(out)["status"] == "success"


def test_ctrl_c_ends_a_waiting_hold(env):
    h = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 120)
    h.wait_for("holding")
    w = env.spawn("lock", "hold", "--pipeline", env.pipeline, "--for", 5, "--wait", 600)
    w.wait_for("waiting up to 600s", stream="err")
    assert w.p.poll() is None
    w.p.send_signal(signal.SIGINT)
    w.p.wait(timeout=30)
    assert w.p.returncode != 0
    assert b"holding" not in w.out
    assert env.pipeline_key in held_keys(env)  # the holder is untouched
