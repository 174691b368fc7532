"""End-to-end: status, history, reset and state export/import through the
real binary, on SQLite state (the default) and on Redis state.

Every test builds its own config dir under tmp_path; instants are fixed
(--at, imported times), never the wall clock.
"""
import json
import sqlite3
import subprocess

import pytest

AT = "2025-10-15T10:06:00Z"

PIPELINE = """\
name: orders_sync
source: {datastore: src, table: orders}
destination: {datastore: dst, table: orders}
columns:
  - {name: id, type: bigint, key: true}
  - {name: updated_at, type: timestamptz}
strategies:
  - {name: delta_15m, type: delta, cursor: updated_at, cron: "*/15 * * * *"}
  - {name: hash_daily, type: hash, cron: "0 2 * * *"}
  - {name: full_weekly, type: full, cron: "0 0 * * 0", enabled: false}
retry: {max_retry_count: 3}
"""

STATE = [
    {"pipeline": "orders_sync", "strategy": "hash_daily", "status": "failed",
     "last_run": "2025-10-14T02:00:00Z", "last_scheduled_at": "2025-10-15T02:00:00Z",
     "last_attempted_at": "2025-10-15T02:00:05Z", "retry_count": 3, "run_id": 7,
     "worker": "w1", "message": "", "error": "connection refused",
     "updated_at": "2025-10-15T02:01:00Z"},
    {"pipeline": "orders_sync", "strategy": "delta_15m", "status": "skipped",
     "last_run": "2025-10-15T09:45:00Z", "last_scheduled_at": "2025-10-15T10:00:00Z",
     "last_attempted_at": "2025-10-15T10:00:01Z", "retry_count": 0, "run_id": 8,
     "worker": "", "message": "Pipeline lock not available, skipping execution",
     "error": "", "updated_at": "2025-10-15T10:00:01Z"},
]


def make_config(tmp_path, state_url=None):
    cfg = tmp_path / "cfg"
    (cfg / "pipelines").mkdir(parents=True)
    ds = ("datastores:\n"
          "  src: {type: sqlite, path: data/src.db}\n"
          "  dst: {type: sqlite, path: data/dst.db}\n")
    if state_url:
        ds += f'state: {{url: "{state_url}"}}\n'
    (cfg / "datastores.yaml").write_text(ds)
    (cfg / "pipelines" / "orders.yaml").write_text(PIPELINE)
    return cfg


def import_state(synctool, cfg, tmp_path, entries, name="state.json"):
    f = tmp_path / name
    f.write_text(json.dumps(entries))
    return synctool("state", "import", f, config_dir=cfg)


@pytest.fixture
def redis_url(redis_server):
    subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", "15", "FLUSHDB"],
                   check=True, capture_output=True)
    return redis_server.url.rsplit("/", 1)[0] + "/15"


@pytest.fixture(params=["sqlite", "redis"])
def cfg(request, tmp_path):
    if request.param == "sqlite":
        return make_config(tmp_path)
    return make_config(tmp_path, request.getfixturevalue("redis_url"))


def by_pair(entries):
    return {(e["pipeline"], e["strategy"]): e for e in entries}


def exported_form(entries):
    """An imported entry as export prints it: the current names
    (last_run -> last_run_at) and null, never "", for unknown."""
    out = []
    for e in entries:
        e = {("last_run_at" if k == "last_run" else k): (None if v == "" else v)
             for k, v in e.items()}
        out.append(e)
    return out


def test_help_for_every_command(synctool, tmp_path):
    for cmd in (["status"], ["history"], ["reset"], ["state"]):
        r = synctool(*cmd, "--help")
        assert r.rc == 0, r
        assert r.out.startswith("usage: synctool"), r


def test_export_import_round_trip(synctool, cfg, tmp_path):
    r = import_state(synctool, cfg, tmp_path, STATE)
    assert r.rc == 0, r
    assert "imported 2 records" in r.out
    r = synctool("state", "export", config_dir=cfg)
    assert r.rc == 0, r
    exported = json.loads(r.out)
    assert [(e["pipeline"], e["strategy"]) for e in exported] == [
        ("orders_sync", "delta_15m"), ("orders_sync", "hash_daily")]
    # Export adds the operator pause flag (false unless paused) and the delta
    # watermark (null until a delta ran).
    assert by_pair(exported) == by_pair([dict(e, paused=False, watermark=None)
                                         for e in exported_form(STATE)])
    # --output writes the same document to a file; importing it changes nothing
    out = tmp_path / "exported.json"
    r = synctool("state", "export", "--output", out, config_dir=cfg)
    assert r.rc == 0, r
    assert json.loads(out.read_text()) == exported
    r = synctool("state", "import", out, config_dir=cfg)
    assert r.rc == 0, r
    again = json.loads(synctool("state", "export", config_dir=cfg).out)
    assert again == exported


def seed_orders(db_path, rows):
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, "
                   "updated_at TEXT)")
        db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?)", rows)


def test_export_import_keeps_the_delta_watermark(synctool, cfg, tmp_path, redis_server):
    """Moving state (export, then import into another backend) keeps each
    delta's watermark: the next delta reads only rows past it, not the
    whole table again. Proof by a row the delta must NOT copy: one whose
    cursor lies behind the watermark, inserted only after the move."""
    data = cfg / "data"
    data.mkdir()
    seed_orders(data / "src.db", [(i, f"2025-10-15T08:{i:02d}:00Z") for i in range(1, 11)])
    seed_orders(data / "dst.db", [])
    r = synctool("run", "--job-name", "orders_sync", "--strategy", "delta_15m", config_dir=cfg)
    assert r.rc == 0, r
    exported = json.loads(synctool("state", "export", config_dir=cfg).out)
    wm = by_pair(exported)[("orders_sync", "delta_15m")]["watermark"]
    assert wm and "08:10:00" in wm, exported
    f = tmp_path / "moved.json"
    f.write_text(json.dumps(exported))
    # the other backend: Redis if this was SQLite, a fresh SQLite file if Redis
    other = tmp_path / "other"
    other.mkdir()
    ds = (cfg / "datastores.yaml").read_text()
    if "redis://" in ds:
        ds = "\n".join(x for x in ds.splitlines() if not x.startswith("state:")) + "\n"
    else:
        subprocess.run(["redis-cli", "-p", str(redis_server.port), "-n", "14", "FLUSHDB"],
                       check=True, capture_output=True)
        ds += f'state: {{url: "{redis_server.url.rsplit("/", 1)[0]}/14"}}\n'
    (cfg / "datastores.yaml").write_text(ds)
    r = synctool("state", "import", f, config_dir=cfg)
    assert r.rc == 0, r
    assert "imported 1 watermark" in r.out, r
    assert by_pair(json.loads(synctool("state", "export", config_dir=cfg).out))[
        ("orders_sync", "delta_15m")]["watermark"] == wm
    # a row behind the watermark (not copied) and one past it (copied)
    seed_orders(data / "src.db", [(100, "2025-10-15T07:00:00Z"), (101, "2025-10-15T09:00:00Z")])
    r = synctool("run", "--job-name", "orders_sync", "--strategy", "delta_15m", config_dir=cfg)
    assert r.rc == 0, r
    with sqlite3.connect(data / "dst.db") as db:
        ids = [x[0] for x in db.execute("SELECT id FROM orders ORDER BY id")]
    assert ids == list(range(1, 11)) + [101], ids


def test_import_rejects_a_bad_watermark(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = import_state(synctool, cfg, tmp_path, [dict(STATE[1], watermark=5)])
    assert r.rc == 2, r
    assert "watermark: expected a non-empty string or null" in r.err, r


def test_import_from_stdin_and_defaults(synctool, tmp_path):
    cfg = make_config(tmp_path)
    entry = [{"pipeline": "orders_sync", "strategy": "delta_15m", "last_run": None}]
    r = synctool("state", "import", "-", config_dir=cfg, input=json.dumps(entry))
    assert r.rc == 0, r
    got = json.loads(synctool("state", "export", config_dir=cfg).out)[0]
    assert got["status"] == "idle"
    assert got["last_run_at"] is None and got["retry_count"] == 0 and got["run_id"] is None


def test_import_bad_entries_names_each_and_imports_nothing(synctool, cfg, tmp_path):
    bad = [
        dict(STATE[1]),
        dict(STATE[0], status="bogus"),
        dict(STATE[0], strategy="full_weekly", last_run="yesterday"),
        {"strategy": "x", "retry_count": -1, "last_runn": "2025-10-15T10:00:00Z"},
    ]
    r = import_state(synctool, cfg, tmp_path, bad)
    assert r.rc == 2, r
    err = r.err
    assert ("entry [1] (orders_sync:hash_daily): status: unknown status 'bogus'" in err), r
    assert ("entry [2] (orders_sync:full_weekly): last_run: invalid timestamp 'yesterday'"
            in err), r
    assert "entry [3] (?:x): pipeline: required" in err, r
    assert "entry [3] (?:x): retry_count: expected a non-negative integer" in err, r
    assert "entry [3] (?:x): last_runn: unknown field" in err, r
    assert "nothing imported" in err, r
    assert "entry [0]" not in err
    # not even the valid first entry was written
    r = synctool("state", "export", config_dir=cfg)
    assert r.rc == 0 and json.loads(r.out) == [], r


def test_import_rejects_duplicates_and_non_json(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = import_state(synctool, cfg, tmp_path, [STATE[0], STATE[0]])
    assert r.rc == 2, r
    assert ("entry [1] (orders_sync:hash_daily): strategy: same pipeline and strategy as "
            "entry [0]") in r.err
    f = tmp_path / "broken.json"
    f.write_text('[{"pipeline": "orders_sync",}]')
    r = synctool("state", "import", f, config_dir=cfg)
    assert r.rc == 2, r
    assert "json: at byte 29 (line 1, column 29): string or '}' expected near '}'" in r.err, r
    # strict JSON: a key twice in one object is refused, never "the last one wins"
    f.write_text('[{"pipeline": "orders_sync",\n  "pipeline": "other"}]')
    r = synctool("state", "import", f, config_dir=cfg)
    assert r.rc == 2, r
    assert "line 2, column 12): duplicate object key near '\"pipeline\"'" in r.err, r
    f.write_text('{"pipeline": "orders_sync"}')
    r = synctool("state", "import", f, config_dir=cfg)
    assert r.rc == 2 and "expected a JSON list of objects" in r.err, r
    r = synctool("state", "import", tmp_path / "missing.json", config_dir=cfg)
    assert r.rc == 2 and "cannot read" in r.err, r


def test_import_unknown_pipeline_warns_but_imports(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = import_state(synctool, cfg, tmp_path, [dict(STATE[0], pipeline="gone_sync")])
    assert r.rc == 0, r
    assert "warning: entry [0] (gone_sync:hash_daily) is not in the config" in r.err
    assert json.loads(synctool("state", "export", config_dir=cfg).out)[0]["pipeline"] == \
        "gone_sync"


def test_state_usage_errors(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = synctool("state", config_dir=cfg)
    assert r.rc == 2 and "expected export, import, prune, init or migrate" in r.err, r
    r = synctool("state", "frobnicate", config_dir=cfg)
    assert r.rc == 2 and "unknown subcommand 'frobnicate'" in r.err, r
    r = synctool("state", "import", config_dir=cfg)
    assert r.rc == 2 and "import needs one FILE" in r.err, r


def test_status_text_and_json(synctool, cfg, tmp_path):
    assert import_state(synctool, cfg, tmp_path, STATE).rc == 0
    r = synctool("status", "--at", AT, config_dir=cfg)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == f"Status at {AT}"
    assert lines[1] == "Scheduler: none has ticked yet (is `synctool scheduler` running?)"
    header = lines[3].split()
    assert header[:3] == ["PIPELINE", "STRATEGY", "STATUS"]
    rows = {tuple(line.split()[:3]) for line in lines[4:]}
    # paused by its failures: marked, with the way out
    assert ("orders_sync", "hash_daily", "PAUSED") in rows
    assert "run `synctool reset orders_sync --strategy hash_daily` to resume" in r.out
    assert ("orders_sync", "delta_15m", "skipped") in rows
    assert ("orders_sync", "full_weekly", "idle") in rows
    assert "Max retry count (3) exceeded for failed job" in r.out
    assert "never" in r.out  # full_weekly has never run
    r = synctool("status", "orders_sync", "--json", "--at", AT, config_dir=cfg)
    assert r.rc == 0, r
    rows = {e["strategy"]: e for e in json.loads(r.out)}
    assert rows["hash_daily"]["status"] == "failed"
    assert rows["hash_daily"]["retry_count"] == 3
    assert rows["hash_daily"]["should_run"] is False
    assert rows["hash_daily"]["next_fire_at"] == "2025-10-16T02:00:00Z"
    assert rows["delta_15m"]["next_fire_at"] == "2025-10-15T10:15:00Z"
    assert rows["delta_15m"]["reason"].startswith("Retrying skipped job within current slot")
    assert rows["delta_15m"]["should_run"] is True
    assert rows["full_weekly"]["has_state"] is False
    assert rows["full_weekly"]["enabled"] is False
    assert rows["full_weekly"]["reason"] == "Strategy is disabled"


def test_status_unknown_pipeline_and_bad_usage(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = synctool("status", "nope", config_dir=cfg)
    assert r.rc == 2 and "synctool status: unknown pipeline 'nope'" in r.err, r
    r = synctool("status", "a", "b", config_dir=cfg)
    assert r.rc == 2 and "expected at most one PIPELINE" in r.err, r
    r = synctool("status", "--at", "yesterday", config_dir=cfg)
    assert r.rc == 2 and "--at" in r.err, r
    r = synctool("status", "--bogus", config_dir=cfg)
    assert r.rc == 2, r


def test_reset_clears_paused_strategy(synctool, cfg, tmp_path):
    assert import_state(synctool, cfg, tmp_path, STATE).rc == 0
    r = synctool("reset", "orders_sync", config_dir=cfg)
    assert r.rc == 0, r
    assert "orders_sync:hash_daily: reset (was failed, retry count 3)" in r.out
    assert "orders_sync:delta_15m: nothing to reset (skipped, no failures)" in r.out
    assert "orders_sync:full_weekly: no state, nothing to reset" in r.out
    after = by_pair(json.loads(synctool("state", "export", config_dir=cfg).out))
    h = after[("orders_sync", "hash_daily")]
    assert (h["status"], h["retry_count"], h["error"]) == ("idle", 0, None)
    assert h["last_run_at"] == "2025-10-14T02:00:00Z" and h["run_id"] == 7
    assert after[("orders_sync", "delta_15m")]["status"] == "skipped"
    r = synctool("status", "orders_sync", "--json", "--at", "2025-10-16T02:00:30Z",
                 config_dir=cfg)
    rows = {e["strategy"]: e for e in json.loads(r.out)}
    assert "Max retry count" not in rows["hash_daily"]["reason"]
    assert rows["hash_daily"]["should_run"] is True, rows["hash_daily"]


def test_reset_one_strategy_and_errors(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = synctool("reset", "orders_sync", "--strategy", "hash_daily", config_dir=cfg)
    assert r.rc == 0 and "orders_sync:hash_daily: no state, nothing to reset" in r.out, r
    assert "delta_15m" not in r.out
    r = synctool("reset", "orders_sync", "--strategy", "nope", config_dir=cfg)
    assert r.rc == 2 and "pipeline 'orders_sync' has no strategy 'nope'" in r.err, r
    r = synctool("reset", "nope", config_dir=cfg)
    assert r.rc == 2 and "synctool reset: unknown pipeline 'nope'" in r.err, r
    r = synctool("reset", config_dir=cfg)
    assert r.rc == 2 and "expected one PIPELINE" in r.err, r


def seed_history(db_path):
    """Writes three finished attempts straight into the SQLite history table
    (the run command is another module's; this tests only the reading side)."""
    con = sqlite3.connect(db_path)
    rows = [
        (1, "failed", 1760493600000000, 1760493605000000, 1, "w1", "", "connection refused",
         0, 0, 0),
        (2, "skipped", 1760494200000000, 1760494200500000, 1, "w2",
         "Pipeline lock not available, skipping execution", "", 0, 0, 0),
        (3, "success", 1760494800000000, 1760494812000000, 0, "w1", "synced", "", 5, 2, 1),
    ]
    for run_id, status, start, end, retries, worker, msg, err, ins, upd, dele in rows:
        con.execute(
            "INSERT INTO state_history(pipeline, strategy, run_id, status, started_at,"
            " finished_at, retry_count, worker, message, error, rows_read, rows_inserted,"
            " rows_updated, rows_deleted, rows_null_cursor, segments_compared,"
            " segments_skipped, seconds) VALUES('orders_sync', 'hash_daily', ?, ?, ?, ?, ?,"
            " ?, ?, ?, 0, ?, ?, ?, 0, 0, 0, 0)",
            (run_id, status, start, end, retries, worker, msg, err, ins, upd, dele))
    con.commit()
    con.close()


def test_history_text_and_json(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = synctool("history", "orders_sync", config_dir=cfg)
    assert r.rc == 0 and "No history for orders_sync yet." in r.out, r
    seed_history(cfg / ".synctool" / "state.db")
    r = synctool("history", "orders_sync", config_dir=cfg)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "History of orders_sync (newest first)"
    assert lines[2].split()[:3] == ["STRATEGY", "RUN", "STARTED"]
    assert [line.split()[1] for line in lines[3:]] == ["3", "2", "1"]
    assert "12.0s" in lines[3] and "+5 ~2 -1" in lines[3] and "synced" in lines[3]
    assert "error: connection refused" in lines[5]
    r = synctool("history", "orders_sync", "--strategy", "hash_daily", "--limit", "2",
                 "--json", config_dir=cfg)
    assert r.rc == 0, r
    h = json.loads(r.out)
    assert [e["run_id"] for e in h] == [3, 2]
    assert h[0]["status"] == "success" and h[0]["duration_s"] == 12.0
    assert h[0]["started_at"] == "2025-10-15T02:20:00Z"
    assert h[0]["rows_inserted"] == 5 and h[0]["rows_deleted"] == 1
    assert h[1]["message"] == "Pipeline lock not available, skipping execution"
    r = synctool("history", "orders_sync", "--strategy", "delta_15m", config_dir=cfg)
    assert "No history" in r.out


def test_history_usage_errors(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = synctool("history", config_dir=cfg)
    assert r.rc == 2 and "expected one PIPELINE" in r.err, r
    r = synctool("history", "nope", config_dir=cfg)
    assert r.rc == 2 and "synctool history: unknown pipeline 'nope'" in r.err, r
    r = synctool("history", "orders_sync", "--strategy", "x", config_dir=cfg)
    assert r.rc == 2 and "has no strategy 'x'" in r.err, r
    r = synctool("history", "orders_sync", "--limit", "-3", config_dir=cfg)
    assert r.rc == 2 and "--limit" in r.err, r


def test_corrupt_state_named_and_others_unaffected(synctool, tmp_path):
    cfg = make_config(tmp_path)
    assert import_state(synctool, cfg, tmp_path, STATE).rc == 0
    con = sqlite3.connect(cfg / ".synctool" / "state.db")
    con.execute("UPDATE state_records SET last_run = 'yesterday' WHERE strategy = 'hash_daily'")
    con.commit()
    con.close()
    r = synctool("status", "--json", "--at", AT, config_dir=cfg)
    assert r.rc == 0, r
    rows = {e["strategy"]: e for e in json.loads(r.out)}
    assert rows["hash_daily"]["status"] == "corrupt"
    assert rows["hash_daily"]["reason"].startswith(
        "corrupt state for orders_sync:hash_daily: last_run is not an integer timestamp")
    assert rows["delta_15m"]["status"] == "skipped"
    r = synctool("state", "export", config_dir=cfg)
    assert r.rc == 1, r
    assert "corrupt state for orders_sync:hash_daily" in r.err
    assert [e["strategy"] for e in json.loads(r.out)] == ["delta_15m"]
    # importing a good record repairs it
    assert import_state(synctool, cfg, tmp_path, [STATE[0]], "fix.json").rc == 0
    assert synctool("state", "export", config_dir=cfg).rc == 0


def test_unreachable_redis_named_without_password(synctool, tmp_path):
    cfg = make_config(tmp_path, "redis://:hunter2@127.0.0.1:1/0")
    r = synctool("status", config_dir=cfg)
    assert r.rc == 1, r
    assert "cannot open state: state redis redis://***@127.0.0.1:1/0: cannot connect" in r.err
    assert "hunter2" not in r.err + r.out


def test_prune_removes_records_of_pipelines_no_longer_configured(synctool, cfg, tmp_path):
    """Imported (or left-behind) records of pipelines or strategies that are
    not configured stayed forever; `state prune` removes them and their
    watermarks, keeps the configured ones, and refuses while a pipeline file
    is invalid (its pipeline would look unconfigured)."""
    gone = [dict(STATE[0], pipeline="old_pipeline", watermark="2025-10-15 09:00:00|7"),
            dict(STATE[0], strategy="old_strategy")]
    r = import_state(synctool, cfg, tmp_path, STATE + gone)
    assert r.rc == 0, r
    r = synctool("state", "prune", "--dry-run", config_dir=cfg)
    assert r.rc == 0, r
    assert "would remove old_pipeline:hash_daily (not in the config)" in r.out, r
    assert "would remove orders_sync:old_strategy (not in the config)" in r.out, r
    assert "would remove 2 records of 4" in r.out, r
    assert len(json.loads(synctool("state", "export", config_dir=cfg).out)) == 4
    # an invalid pipeline file: refused, nothing removed
    bad = cfg / "pipelines" / "broken.yaml"
    bad.write_text("name: broken\nsource: {datastore: nowhere}\n")
    r = synctool("state", "prune", config_dir=cfg)
    assert r.rc == 2 and "refused" in r.err and "synctool validate" in r.err, r
    assert len(json.loads(synctool("state", "export", config_dir=cfg).out)) == 4
    bad.unlink()
    r = synctool("state", "prune", config_dir=cfg)
    assert r.rc == 0, r
    assert "removed 2 records of 4" in r.out, r
    left = json.loads(synctool("state", "export", config_dir=cfg).out)
    assert sorted((e["pipeline"], e["strategy"]) for e in left) == [
        ("orders_sync", "delta_15m"), ("orders_sync", "hash_daily")]
    # re-importing the old pipeline shows its watermark was removed with it
    r = import_state(synctool, cfg, tmp_path, [dict(STATE[0], pipeline="old_pipeline")],
                     name="again.json")
    assert r.rc == 0, r
    again = by_pair(json.loads(synctool("state", "export", config_dir=cfg).out))
    assert again[("old_pipeline", "hash_daily")]["watermark"] is None
    assert synctool("state", "prune", config_dir=cfg).rc == 0
    r = synctool("state", "prune", "--output", "x", config_dir=cfg)
    assert r.rc == 2, r
