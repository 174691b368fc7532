"""End-to-end: one CLI vocabulary (issue 14, item 9; docs/cli.md).

The same JSON names in every command (next_fire_at, last_run_at,
duration_s with millisecond precision, null for unknown), JSON errors on
stdout with --json, `run PIPELINE` (and --job-name as an alias), global
options after the command, --version, `help [COMMAND]`, and times without
an offset read as UTC by --at, --from and `state import`.
"""
import json
import re
import sqlite3

from test_state_cli import PIPELINE, make_config

AT = "2025-10-15T10:06:00Z"

SYNC_PIPELINE = """\
name: p
source: {datastore: src, table: orders}
destination: {datastore: dst, table: orders}
columns:
  - {name: id, type: bigint, key: true}
  - {name: v, type: text}
strategies:
  - {name: full, type: full, cron: "0 0 * * *"}
"""


def sync_config(tmp_path):
    cfg = tmp_path / "sync"
    (cfg / "pipelines").mkdir(parents=True)
    (cfg / "data").mkdir()
    (cfg / "datastores.yaml").write_text(
        "datastores:\n  src: {type: sqlite, path: data/src.db}\n"
        "  dst: {type: sqlite, path: data/dst.db}\n")
    (cfg / "pipelines" / "p.yaml").write_text(SYNC_PIPELINE)
    db = sqlite3.connect(cfg / "data" / "src.db")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"v{i}") for i in range(5)])
    db.commit()
    db.close()
    return cfg


def test_version_and_help(synctool):
    r = synctool("--version")
    assert r.rc == 0 and re.match(r"^synctool \d+\.\d+\.\d+\n$", r.out), r
    r = synctool("help")
    assert r.rc == 0 and "Commands:" in r.out and "help [COMMAND]" in r.out
    r = synctool("help", "run")
    assert r.rc == 0 and r.out.startswith("usage: synctool run PIPELINE"), r
    assert synctool("help", "run").out == synctool("run", "--help").out
    r = synctool("help", "frob")
    assert r.rc == 2 and "unknown command 'frob'" in r.err


def test_global_options_after_the_command(synctool, tmp_path):
    cfg = make_config(tmp_path)
    r = synctool("status", "--config-dir", cfg, "--at", AT, "--log-level", "debug")
    assert r.rc == 0, r
    assert "orders_sync" in r.out
    r = synctool("list", f"--config-dir={cfg}", "--json")
    assert r.rc == 0 and json.loads(r.out)[0]["pipeline"] == "orders_sync"
    r = synctool("status", "--config-dir", cfg, "--log-level", "loud")
    assert r.rc == 2 and "unknown level 'loud'" in r.err
    r = synctool("status", "--config-dir")
    assert r.rc == 2 and "--config-dir needs a value" in r.err


def test_run_takes_the_pipeline_positionally(synctool, tmp_path):
    cfg = sync_config(tmp_path)
    assert synctool("ddl", "apply", "p", config_dir=cfg).rc == 0
    r = synctool("run", "p", "--json", config_dir=cfg)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["status"] == "success" and doc["rows_inserted"] == 5
    # duration_s: a number with millisecond precision
    assert isinstance(doc["duration_s"], (int, float))
    assert re.search(r'"duration_s":\d+\.\d{3}[,}]', r.out), r.out
    assert doc["reason_code"] is None
    r = synctool("run", "--job-name", "p", config_dir=cfg)  # the upstream alias
    assert r.rc == 0, r
    r = synctool("run", "p", "--job-name", "q", config_dir=cfg)
    assert r.rc == 2 and "contradicts --job-name" in r.err
    r = synctool("run", config_dir=cfg)
    assert r.rc == 2 and "missing PIPELINE" in r.err
    h = json.loads(synctool("history", "p", "--json", config_dir=cfg).out)
    assert len(h) == 2
    for e in h:
        assert isinstance(e["duration_s"], (int, float)) and "duration_seconds" not in e
        assert e["worker"] and e["error"] is None
    raw = synctool("history", "p", "--json", config_dir=cfg).out
    assert re.findall(r'"duration_s":(\d+\.\d+)', raw) and all(
        len(x.split(".")[1]) == 3 for x in re.findall(r'"duration_s":(\d+\.\d+)', raw))


def test_shared_names_in_list_status_explain_export(synctool, tmp_path):
    cfg = make_config(tmp_path)
    lst = json.loads(synctool("list", "--json", "--at", AT, config_dir=cfg).out)
    s0 = lst[0]["strategies"][0]
    assert s0["next_fire_at"] == "2025-10-15T10:15:00Z" and "next" not in s0
    assert lst[0]["description"] is None
    st = json.loads(synctool("status", "--json", "--at", AT, config_dir=cfg).out)
    for row in st:
        assert "next_fire" not in row and "last_run" not in row
        assert row["last_run_at"] is None and row["run_id"] is None
        assert row["worker"] is None and row["message"] is None and row["error"] is None
    assert st[0]["next_fire_at"] == "2025-10-15T10:15:00Z"
    ex = json.loads(synctool("explain", "orders_sync", "--json", "--at", AT,
                             config_dir=cfg).out)
    d = ex["strategies"][0]
    assert d["next_fire_at"] == d["next_slot"] == "2025-10-15T10:15:00Z"
    assert "should_run" in d and "reason" in d  # kept (DESIGN §5)
    synctool("reset", "orders_sync", config_dir=cfg)
    exp = json.loads(synctool("state", "export", config_dir=cfg).out)
    for rec in exp:
        assert "last_run_at" in rec and "last_run" not in rec


def test_json_errors_on_stdout(synctool, tmp_path):
    cfg = make_config(tmp_path)
    for args in (["status", "nope"], ["explain", "nope"], ["history", "nope"],
                 ["run", "nope"]):
        r = synctool(*args, "--json", config_dir=cfg)
        assert r.rc == 2, r
        doc = json.loads(r.out)
        assert doc["error"]["code"] == "unknown_pipeline"
        assert "unknown pipeline 'nope' (known pipelines: orders_sync)" in doc["error"]["message"]
        assert "known pipelines: orders_sync" in r.err
    r = synctool("explain", "orders_sync", "--strategy", "bogus", "--json", config_dir=cfg)
    assert r.rc == 2
    err = json.loads(r.out)["error"]
    assert err["code"] == "unknown_strategy"
    assert "delta_15m, hash_daily, full_weekly" in err["message"]
    r = synctool("status", "--json", "--at", "yesterday", config_dir=cfg)
    assert r.rc == 2 and json.loads(r.out)["error"]["code"] == "usage"
    (cfg / "datastores.yaml").write_text("datastores: [\n")
    r = synctool("list", "--json", config_dir=cfg)
    assert r.rc == 2, r
    err = json.loads(r.out)["error"]
    assert err["code"] == "config_invalid" and "datastores.yaml" in err["message"]
    r = synctool("reset", "--json", config_dir=cfg)  # no --json: a usage error
    assert r.rc == 2 and json.loads(r.out)["error"]["code"] == "usage"
    # text mode keeps stdout empty
    r = synctool("list", config_dir=cfg)
    assert r.rc == 2 and r.out == ""


def test_naive_timestamps_are_utc(synctool, tmp_path):
    cfg = make_config(tmp_path)
    a = synctool("explain", "orders_sync", "--json", "--at", "2025-10-15T10:06:00",
                 config_dir=cfg)
    b = synctool("explain", "orders_sync", "--json", "--at", AT, config_dir=cfg)
    assert a.rc == 0 and json.loads(a.out) == json.loads(b.out), a
    r = synctool("cron", "0 * * * *", "--from", "2025-10-15 10:06", "--count", "1")
    assert r.rc == 0 and "2025-10-15T11:00:00Z" in r.out, r
    # state import: the upstream tool's naive times and its `last_run` name
    f = tmp_path / "s.json"
    f.write_text(json.dumps([{"pipeline": "orders_sync", "strategy": "delta_15m",
                              "status": "success", "last_run": "2025-10-15T09:45:00",
                              "last_scheduled_at": "2025-10-15T09:45:00.250"}]))
    r = synctool("state", "import", f, config_dir=cfg)
    assert r.rc == 0, r
    rec = json.loads(synctool("state", "export", config_dir=cfg).out)[0]
    assert rec["last_run_at"] == "2025-10-15T09:45:00Z"
    assert rec["last_scheduled_at"] == "2025-10-15T09:45:00.250000Z" or \
        rec["last_scheduled_at"].startswith("2025-10-15T09:45:00.25")
    f.write_text(json.dumps([{"pipeline": "orders_sync", "strategy": "delta_15m",
                              "last_run": AT, "last_run_at": AT}]))
    r = synctool("state", "import", f, config_dir=cfg)
    assert r.rc == 2 and "given together with last_run_at" in r.err
    assert "without an offset" in synctool("explain", "--help").out


def walk(doc, path="$"):
    """Every (path, key, value) of a JSON document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from walk(v, f"{path}[{i}]")


OLD_NAMES = {"next", "next_fire", "last_run", "duration_seconds", "seconds", "expires_in"}


def test_every_json_output_speaks_the_shared_names(synctool, tmp_path):
    cfg = sync_config(tmp_path)
    assert synctool("ddl", "apply", "p", config_dir=cfg).rc == 0
    assert synctool("run", "p", config_dir=cfg).rc == 0
    commands = [["validate"], ["list"], ["status"], ["status", "p"], ["explain", "p"],
                ["history", "p"], ["why", "p"], ["check"], ["diff", "p", "--keys"],
                ["lock", "list"], ["run", "p"], ["cron", "0 * * * *", "--count", "2"],
                ["status", "nope"]]
    for args in commands:
        r = synctool(*args, "--json", config_dir=cfg)
        assert r.rc in (0, 2), (args, r)
        doc = json.loads(r.out)
        for path, key, value in walk(doc):
            assert key not in OLD_NAMES, (args, path, key)
            assert value != "", (args, path, key)  # unknown is null, never ""
            if key.endswith("_at") and value is not None:
                assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", value), (args, key)
            if key == "duration_s" and value is not None:
                assert isinstance(value, (int, float)), (args, key)
