"""End-to-end: PostgreSQL as the state store (issue 24) and `synctool state
init` / `state migrate --to URL` between SQLite, PostgreSQL and Redis.

The state URL's password comes from ${SYNCTOOL_E2E_PGPW} in datastores.yaml
and must never appear in any output, log or API answer. Each test keeps its
state in its own schema (?schema=) of the harness's database. History, run
logs and the why-journal are made by `scheduler --once --at` ticks on SQLite
state (fixed instants, never the wall clock), then moved and read back.

Runs and the coordination database as a sync endpoint need the PostgreSQL
lock backend; until this build has it those tests skip, saying so.
"""
import json
import os
import sqlite3
import subprocess
import sys
import urllib.parse
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from http_helpers import Server  # noqa: E402
from test_locks_cli import Proc  # noqa: E402
from conftest import BIN  # noqa: E402

PIPELINE = """\
name: orders_sync
source: {datastore: src, table: orders}
destination: {datastore: dst, table: orders}
columns:
  - {name: id, type: bigint, key: true}
  - {name: total, type: text}
  - {name: updated_at, type: text}
strategies:
  - {name: full_hourly, type: full, cron: "0 * * * *"}
  - {name: delta_15m, type: delta, cursor: updated_at, cron: "*/15 * * * *"}
locks: {wait_for_pipeline_lock: false, pipeline_lock_wait_timeout: 60,
        wait_for_table_lock: true, table_lock_wait_timeout: 120}
"""

TICKS = ["2025-10-15T10:00:00Z", "2025-10-15T10:15:00Z", "2025-10-15T11:00:00Z"]


@pytest.fixture
def pg(pg_server):
    """(url with ${SYNCTOOL_E2E_PGPW}, env holding the password, schema)."""
    schema = "st_" + uuid.uuid4().hex[:10]
    url = (f"postgresql://{pg_server.user}:${{SYNCTOOL_E2E_PGPW}}@{pg_server.host}:"
           f"{pg_server.port}/{pg_server.dbname}?schema={schema}")
    env = {"SYNCTOOL_E2E_PGPW": urllib.parse.quote(pg_server.password, safe="")}
    yield url, env, schema
    pg_server.psql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', pg_server.dbname)


@pytest.fixture
def redis_url(redis_server):
    subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", "11", "FLUSHDB"],
                   check=True, capture_output=True)
    return redis_server.url.rsplit("/", 1)[0] + "/11"


def write_config(cfg, state_url=None, src=None):
    (cfg / "pipelines").mkdir(parents=True, exist_ok=True)
    (cfg / "data").mkdir(exist_ok=True)
    ds = ("datastores:\n"
          + (src or "  src: {type: sqlite, path: data/src.db}\n")
          + "  dst: {type: sqlite, path: data/dst.db}\n")
    if state_url:
        ds += f'state: {{url: "{state_url}"}}\n'
    (cfg / "datastores.yaml").write_text(ds)
    (cfg / "pipelines" / "orders.yaml").write_text(PIPELINE)


def seed(cfg):
    con = sqlite3.connect(cfg / "data" / "src.db")
    con.execute("CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, total TEXT,"
                " updated_at TEXT)")
    con.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?)",
                    [(i, f"{i}.50", f"2025-10-15T09:{i:02d}:00Z") for i in range(1, 11)])
    con.commit()
    con.close()


class Outputs:
    """Every stdout/stderr seen, to grep for the password at the end."""

    def __init__(self, synctool, env, password):
        self.synctool, self.env, self.password, self.seen = synctool, env, password, []

    def __call__(self, *args, **kw):
        r = self.synctool(*args, env=self.env, **kw)
        self.seen += [r.out, r.err]
        return r

    def assert_no_password(self, *more):
        for text in self.seen + list(more):
            assert self.password not in text, text
            assert self.env["SYNCTOOL_E2E_PGPW"] not in text, text


def history(run, cfg, strategy):
    r = run("history", "orders_sync", "--strategy", strategy, "--json", "--limit", "100",
            config_dir=cfg)
    assert r.rc == 0, r
    return json.loads(r.out)


def snapshot(run, cfg):
    """What the store holds, as the CLI shows it."""
    st = run("status", "--json", config_dir=cfg)
    assert st.rc == 0, st
    why = run("why", "orders_sync", "--json", config_dir=cfg)
    assert why.rc == 0, why
    hist = {s: history(run, cfg, s) for s in ("full_hourly", "delta_15m")}
    logs = {}
    for s in hist.values():
        for h in s:
            r = run("logs", h["run_id"], "--json", config_dir=cfg)
            assert r.rc == 0, r
            logs[h["run_id"]] = json.loads(r.out)["log"]
    exported = run("state", "export", config_dir=cfg)
    assert exported.rc == 0, exported
    return {"history": hist, "logs": logs, "why": json.loads(why.out),
            "state": json.loads(exported.out)}


def make_sqlite_history(run, cfg):
    seed(cfg)
    r = run("ddl", "apply", "orders_sync", config_dir=cfg)
    assert r.rc == 0, r
    for at in TICKS:
        r = run("scheduler", "--once", "--at", at, config_dir=cfg)
        assert r.rc == 0, r


def migrate(run, cfg, to):
    r = run("state", "migrate", "--to", to, config_dir=cfg)
    assert r.rc == 0, r
    copied = [l for l in r.out.splitlines() if l.startswith("copied")]
    target = [l for l in r.out.splitlines() if l.startswith("target")]
    assert copied and target and copied[0].split(None, 1)[1] == target[0].split(None, 1)[1], r
    return r


def test_migrate_sqlite_to_postgres_to_redis_keeps_history(synctool, tmp_path, pg, redis_url,
                                                           pg_server):
    url, env, schema = pg
    run = Outputs(synctool, env, pg_server.password)
    cfg = tmp_path / "cfg"
    write_config(cfg)
    make_sqlite_history(run, cfg)
    before = snapshot(run, cfg)
    assert len(before["history"]["full_hourly"]) == 2
    assert len(before["history"]["delta_15m"]) >= 1
    n = len(before["history"]["full_hourly"]) + len(before["history"]["delta_15m"])
    assert any(e["watermark"] for e in before["state"])
    assert before["why"], before

    r = run("state", "init", config_dir=cfg)
    assert r.rc == 0 and "SQLite" in r.out, r

    r = migrate(run, cfg, url)
    assert f"records 2, history {n}, logs {n}," in r.out, r
    assert "postgresql://***@" in r.out, r
    # a second migrate into the same store refuses to merge
    r = run("state", "migrate", "--to", url, config_dir=cfg)
    assert r.rc == 2 and "already holds 2 record(s)" in r.err, r

    write_config(cfg, url)
    r = run("state", "init", config_dir=cfg)
    assert r.rc == 0 and f'schema "{schema}" already at version 1' in r.out, r
    on_pg = snapshot(run, cfg)
    assert on_pg == before
    rows = pg_server.psql(f'SELECT count(*) FROM "{schema}".state_history', pg_server.dbname)
    assert rows.strip() == str(n)

    migrate(run, cfg, redis_url)
    write_config(cfg, redis_url)
    on_redis = snapshot(run, cfg)
    assert on_redis == before
    r = run("state", "init", config_dir=cfg)
    assert r.rc == 0 and "Redis keeps no schema" in r.out, r
    run.assert_no_password()


def test_metrics_and_api_read_postgres_state(synctool, tmp_path, pg, pg_server):
    url, env, _ = pg
    run = Outputs(synctool, env, pg_server.password)
    cfg = tmp_path / "cfg"
    write_config(cfg)
    make_sqlite_history(run, cfg)
    migrate(run, cfg, url)
    write_config(cfg, url)
    with Server(str(cfg), env=env) as s:
        status, _, metrics = s.call("GET", "/metrics")
        if status == 503 and "not implemented" in metrics:
            pytest.skip("serve needs the PostgreSQL lock backend (issue 24, pglock)")
        assert status == 200, metrics
        runs_ok = [l for l in metrics.splitlines() if l.startswith("synctool_runs_total{")
                   and 'strategy="full_hourly"' in l and 'outcome="success"' in l]
        assert runs_ok and runs_ok[0].endswith(" 2"), metrics
        ready = s.json("GET", "/readyz")
        assert ready["state_backend"] == "postgresql", ready
        _, _, pipelines = s.call("GET", "/api/v1/pipelines")
        _, _, runs = s.call("GET", "/api/v1/pipelines/orders_sync/runs")
        log = s.text()
    run.assert_no_password(metrics, pipelines, runs, log)


def test_migrate_refused_while_a_run_holds_the_lock(synctool, tmp_path, pg, pg_server):
    url, env, _ = pg
    run = Outputs(synctool, env, pg_server.password)
    cfg = tmp_path / "cfg"
    write_config(cfg)
    seed(cfg)
    assert run("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
    args = [BIN, "--config-dir", str(cfg)]
    holder = Proc(args + ["lock", "hold", "--table", "dst.main.orders", "--for", "120"])
    holder.wait_for("holding")
    blocked = Proc(args + ["run", "--job-name", "orders_sync", "--strategy", "full_hourly",
                           "--table-lock-timeout", "120"])
    try:
        # the run holds its pipeline lock while it waits for the table lock
        for _ in range(600):
            r = run("lock", "list", "--json", config_dir=cfg)
            if "synctool:exec:pipeline:orders_sync" in r.out:
                break
        else:
            raise AssertionError(r)
        r = run("state", "migrate", "--to", url, config_dir=cfg)
        assert r.rc == 75, r
        assert "refused: lock" in r.err and "is held" in r.err, r
        rows = pg_server.psql("SELECT count(*) FROM pg_namespace WHERE nspname = "
                              f"'{pg[2]}'", pg_server.dbname)
        assert rows.strip() == "0"   # nothing was created on the target
    finally:
        blocked.kill()
        holder.kill()
    run.assert_no_password()


def test_usage_errors(synctool, tmp_path, pg, pg_server):
    url, env, _ = pg
    cfg = tmp_path / "cfg"
    write_config(cfg)
    r = synctool("state", "migrate", config_dir=cfg)
    assert r.rc == 2 and "migrate needs --to URL" in r.err, r
    r = synctool("state", "migrate", "--to", url, config_dir=cfg)   # variable unset
    assert r.rc == 2 and "${SYNCTOOL_E2E_PGPW} is not set" in r.err, r
    r = synctool("state", "migrate", "--to", "sqlite:rel/state.db", config_dir=cfg)
    assert r.rc == 2 and "must be absolute" in r.err, r
    r = synctool("state", "export", "--to", url, config_dir=cfg)
    assert r.rc == 2 and "--to is for migrate" in r.err, r
    r = synctool("state", "--help")
    assert r.rc == 0 and "state migrate --to URL" in r.out


def needs_pg_locks(r):
    if r.rc != 0 and "not implemented" in r.err and "PostgreSQL" in r.err:
        pytest.skip("this build has no PostgreSQL lock backend yet (issue 24, pglock)")


def test_run_on_postgres_state_reads_back(synctool, tmp_path, pg, pg_server):
    url, env, schema = pg
    run = Outputs(synctool, env, pg_server.password)
    cfg = tmp_path / "cfg"
    write_config(cfg, url)
    seed(cfg)
    r = run("state", "init", config_dir=cfg)
    assert r.rc == 0 and f'schema "{schema}" created or migrated to version 1' in r.out, r
    r = run("ddl", "apply", "orders_sync", config_dir=cfg)
    needs_pg_locks(r)
    assert r.rc == 0, r
    r = run("run", "--job-name", "orders_sync", "--strategy", "full_hourly", "--json",
            config_dir=cfg)
    needs_pg_locks(r)
    assert r.rc == 0, r
    h = history(run, cfg, "full_hourly")
    assert h[0]["status"] == "success" and h[0]["rows_inserted"] == 10
    r = run("logs", h[0]["run_id"], config_dir=cfg)
    assert r.rc == 0 and "success" in r.out, r
    assert run("status", config_dir=cfg).rc == 0
    assert run("why", "orders_sync", config_dir=cfg).rc == 0
    run.assert_no_password()


def test_coordination_database_is_also_the_sync_source(synctool, tmp_path, pg, pg_server):
    """Allowed: synctool's schema sits beside the synced tables in one database."""
    url, env, schema = pg
    table = "orders_" + schema
    pg_server.psql(f"CREATE TABLE public.{table} (id bigint PRIMARY KEY, total text,"
                   f" updated_at text); INSERT INTO public.{table} SELECT g, g || '.50',"
                   " '2025-10-15T09:00:00Z' FROM generate_series(1, 10) g", pg_server.dbname)
    try:
        run = Outputs(synctool, env, pg_server.password)
        cfg = tmp_path / "cfg"
        src = (f"  src: {{type: postgres, connection: {{host: {pg_server.host},"
               f" port: {pg_server.port}, user: {pg_server.user},"
               f" password: \"${{SYNCTOOL_E2E_PGRAW}}\", dbname: {pg_server.dbname}}}}}\n")
        run.env = dict(env, SYNCTOOL_E2E_PGRAW=pg_server.password)
        write_config(cfg, url, src=src)
        (cfg / "pipelines" / "orders.yaml").write_text(
            PIPELINE.replace("table: orders}", f"table: {table}}}", 1))
        r = run("ddl", "apply", "orders_sync", config_dir=cfg)
        needs_pg_locks(r)
        assert r.rc == 0, r
        r = run("run", "--job-name", "orders_sync", "--strategy", "full_hourly",
                config_dir=cfg)
        needs_pg_locks(r)
        assert r.rc == 0, r
        assert history(run, cfg, "full_hourly")[0]["rows_inserted"] == 10
        run.assert_no_password()
    finally:
        pg_server.psql(f"DROP TABLE IF EXISTS public.{table}", pg_server.dbname)
