"""synctool validate / list end to end: the real binary on real config dirs.

Each test builds its own config directory under tmp_path. Problems are
asserted verbatim (file:line:col: key: message); "validate never opens a
database" is checked by listing the directory tree before and after.
Fire times in `list` come from the cron module: while it answers "not
implemented" they must show as "-", afterwards as the exact instants.
"""
import json
import os
import shutil

import pytest

from conftest import ROOT

EXAMPLE = os.path.join(ROOT, "examples", "quickstart")
AT = "2025-10-15T10:06:00Z"  # a Wednesday


def tree(path):
    out = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), path))
    return out


def copy_example(tmp_path):
    cfg = tmp_path / "cfg"
    (cfg / "pipelines").mkdir(parents=True)
    shutil.copy(os.path.join(EXAMPLE, "datastores.yaml"), cfg / "datastores.yaml")
    shutil.copy(os.path.join(EXAMPLE, "pipelines", "orders.yaml"),
                cfg / "pipelines" / "orders.yaml")
    return cfg


def cron_implemented(synctool):
    r = synctool("cron", "* * * * *", "--count", "1", "--from", AT)
    return not (r.rc == 1 and "not implemented" in r.err)


BROKEN_PIPELINE = """\
name: orders_sync
source: {datastore: shop, table: orders}
destination: {datastore: warehouse}
columns:
  - {name: id, type: bigint, key: true}
  - {name: updated_at, type: timestamptz, colour: blue}
strategies:
  - {name: delta_15m, type: delta, cursor: updated_at, cron: "61 * * * *"}
  - {name: delta_15m, type: full, cron: "0 0 * * 0"}
locks: {table_lock_wait_timeout: soon}
"""


def write_broken(tmp_path):
    cfg = copy_example(tmp_path)
    (cfg / "pipelines" / "orders.yaml").write_text(BROKEN_PIPELINE)
    (cfg / "pipelines" / "other.yml").write_text(
        "name: other\nsource: {datastore: nowhere, table: t}\n"
        "destination: {datastore: warehouse, table: t}\n"
        "columns: [{name: id, type: int, key: true}]\n"
        "strategies: [{name: full, type: full, enabled: maybe}]\n")
    return cfg


def test_help(synctool):
    for cmd in ("validate", "list"):
        r = synctool(cmd, "--help")
        assert r.rc == 0, r
        assert r.out.startswith("usage: synctool [--config-dir DIR] " + cmd), r
        assert r.err == ""


def test_bad_usage_exits_2(synctool, tmp_path):
    cfg = copy_example(tmp_path)
    r = synctool("validate", "--bogus", config_dir=cfg)
    assert r.rc == 2, r
    assert "usage: synctool" in r.err
    r = synctool("validate", "extra", config_dir=cfg)
    assert r.rc == 2, r
    assert "synctool validate: unexpected argument 'extra' (see --help)" in r.err
    r = synctool("list", "extra", config_dir=cfg)
    assert r.rc == 2, r
    assert "synctool list: unexpected argument 'extra' (see --help)" in r.err
    r = synctool("list", "--at", "yesterday", config_dir=cfg)
    assert r.rc == 2, r
    assert r.err.startswith("synctool: --at: ")


def test_validate_example_in_place(synctool):
    before = tree(EXAMPLE)
    r = synctool("validate", config_dir=EXAMPLE)
    assert r.rc == 0, r
    assert r.out == f"OK: 1 pipeline, 3 strategies ({os.path.realpath(EXAMPLE)})\n"
    assert tree(EXAMPLE) == before


def test_validate_json_ok(synctool, tmp_path):
    cfg = copy_example(tmp_path)
    r = synctool("validate", "--json", config_dir=cfg)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc == {"ok": True, "config_dir": os.path.realpath(cfg), "pipelines": 1,
                   "strategies": 3, "problems": [], "warnings": [], "error": None}


def test_validate_broken_reports_every_problem(synctool, tmp_path):
    cfg = write_broken(tmp_path)
    before = tree(tmp_path)
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    assert r.out == ""
    lines = r.err.splitlines()
    expected = [
        'pipelines/orders.yaml:3:14: destination: missing required key "table"',
        'pipelines/orders.yaml:6:43: columns[1].colour: unknown key "colour" '
        "(expected one of: name, type, key, dest, compare, expr)",
        'pipelines/orders.yaml:9:12: strategies[1].name: duplicate strategy name '
        '"delta_15m" (also strategies[0])',
        'pipelines/orders.yaml:10:34: locks.table_lock_wait_timeout: expected an integer, '
        'got "soon"',
        'pipelines/other.yml:2:21: source.datastore: unknown datastore "nowhere" '
        "(datastores.yaml defines: shop, warehouse)",
        'pipelines/other.yml:5:48: strategies[0].enabled: expected true or false, got "maybe"',
    ]
    cron_problem = ('pipelines/orders.yaml:8:62: strategies[0].cron: invalid cron expression '
                    '"61 * * * *": minute: 61 out of range 0-59')
    if cron_implemented(synctool):
        assert any(line.startswith(cron_problem) for line in lines), r
        lines = [line for line in lines if not line.startswith(cron_problem)]
    assert lines == expected, r
    # nothing was created: no state dir, no database file
    assert tree(tmp_path) == before
    assert not (cfg / ".synctool").exists()


def test_validate_json_problems(synctool, tmp_path):
    cfg = write_broken(tmp_path)
    r = synctool("validate", "--json", config_dir=cfg)
    assert r.rc == 2, r
    doc = json.loads(r.out)
    assert doc["ok"] is False
    assert doc["config_dir"] == os.path.realpath(cfg)
    assert {"file": "pipelines/orders.yaml", "line": 3, "col": 14,
            "message": 'destination: missing required key "table"'} in doc["problems"]
    assert len(doc["problems"]) >= 6


def test_validate_yaml_syntax_error(synctool, tmp_path):
    cfg = copy_example(tmp_path)
    (cfg / "datastores.yaml").write_text("datastores:\n  shop: {type: sqlite, path: a.db\n")
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    assert r.err.startswith("datastores.yaml:3:1: YAML syntax error: did not find expected "
                            "',' or '}'"), r


def test_missing_config_dir_and_datastores(synctool, tmp_path):
    missing = tmp_path / "nope"
    r = synctool("validate", config_dir=missing)
    assert r.rc == 2, r
    assert f"synctool validate: config directory {missing}: No such file or directory" in r.err
    empty = tmp_path / "empty"
    empty.mkdir()
    r = synctool("validate", config_dir=empty)
    assert r.rc == 2, r
    assert f"{os.path.realpath(empty)}/datastores.yaml: No such file or directory" in r.err
    r = synctool("list", config_dir=empty)
    assert r.rc == 2, r
    assert "datastores.yaml: No such file or directory" in r.err


def test_env_expansion_and_secrets(synctool, tmp_path):
    cfg = copy_example(tmp_path)
    (cfg / "datastores.yaml").write_text(
        "datastores:\n"
        "  shop: {type: sqlite, path: \"${ST_E2E_DIR:data}/shop.db\"}\n"
        "  warehouse: {type: sqlite, path: data/warehouse.db}\n"
        "  pg: {type: postgres, connection: {dbname: x, password: \"${ST_E2E_PW}\","
        " port: \"${ST_E2E_PORT}\"}}\n")
    env = {"ST_E2E_PW": "hunter2-secret", "ST_E2E_PORT": "not-a-port"}
    r = synctool("validate", config_dir=cfg, env=env)
    assert r.rc == 2, r
    # the value came from ${ST_E2E_PORT}: it could be a secret, so it is not shown
    assert r.err == ('datastores.yaml:4:80: datastores.pg.connection.port: expected an '
                     'integer, got (value hidden)\n'), r
    env["ST_E2E_PORT"] = "5432"
    r = synctool("validate", config_dir=cfg, env=env)
    assert r.rc == 0, r
    r = synctool("list", "--json", config_dir=cfg, env=env)
    assert r.rc == 0, r
    assert "hunter2" not in r.out + r.err
    env = {k: v for k, v in env.items() if k != "ST_E2E_PW"}
    r = synctool("validate", config_dir=cfg, env=dict(env, ST_E2E_PW=""))
    assert r.rc == 0, r  # set but empty is set
    # Secrets only when connecting (issue 14 item 7): an unset connection
    # variable is not a config problem; the commands that connect report it.
    r = synctool("validate", config_dir=cfg, env=env)
    assert r.rc == 0, r


def test_list_text(synctool, tmp_path):
    cfg = copy_example(tmp_path)
    r = synctool("list", "--at", AT, config_dir=cfg)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["PIPELINE", "STRATEGY", "TYPE", "CRON", "ZONE", "ENABLED", "NEXT"]
    # the columns are aligned: every row starts its CRON cell where the header does
    col = lines[0].index("CRON")
    assert [line[col:col + 1] for line in lines[1:]] == ["*", "0", "0"]
    if cron_implemented(synctool):
        nexts = ["2025-10-15T10:15:00Z", "2025-10-16T00:00:00Z", "2025-10-19T00:00:00Z"]
    else:
        nexts = ["-", "-", "-"]
    assert lines[1].split() == ["orders_sync", "delta_15m", "delta", "*/15", "*", "*", "*",
                                "*", "UTC", "yes", nexts[0]]
    assert lines[2].split() == ["orders_sync", "hash_daily", "hash", "0", "2", "*", "*", "*",
                                "Europe/Berlin", "yes", nexts[1]]
    assert lines[3].split() == ["orders_sync", "full_weekly", "full", "0", "0", "*", "*", "0",
                                "UTC", "yes", nexts[2]]
    assert len(lines) == 4
    assert not (cfg / ".synctool").exists()


def test_list_json_and_disabled(synctool, tmp_path):
    cfg = copy_example(tmp_path)
    p = cfg / "pipelines" / "orders.yaml"
    p.write_text(p.read_text().replace('cron: "0 0 * * 0"}', 'cron: "0 0 * * 0", enabled: false}'))
    r = synctool("list", "--json", "--at", AT, config_dir=cfg)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert len(doc) == 1
    pl = doc[0]
    assert pl["pipeline"] == "orders_sync"
    assert pl["file"] == "pipelines/orders.yaml"
    assert pl["source"] == {"datastore": "shop", "schema": "main", "table": "orders",
                            "query": False, "where": None}
    assert pl["destination"]["table"] == "orders"
    names = [s["strategy"] for s in pl["strategies"]]
    assert names == ["delta_15m", "hash_daily", "full_weekly"]
    hd = pl["strategies"][1]
    assert hd["type"] == "hash" and hd["cron"] == "0 2 * * *"
    assert hd["timezone"] == "Europe/Berlin" and hd["enabled"] is True
    fw = pl["strategies"][2]
    assert fw["enabled"] is False and fw["next_fire_at"] is None  # disabled: never fires
    if cron_implemented(synctool):
        assert pl["strategies"][0]["next_fire_at"] == "2025-10-15T10:15:00Z"
        assert hd["next_fire_at"] == "2025-10-16T00:00:00Z"
    else:
        assert pl["strategies"][0]["next_fire_at"] is None


def test_list_leaves_out_broken_pipeline_files(synctool, tmp_path):
    # One invalid pipeline file no longer stops the read commands (issue 14
    # item 3): the problems are reported and the valid pipelines listed.
    cfg = write_broken(tmp_path)
    r = synctool("list", config_dir=cfg)
    assert r.rc == 0, r
    assert "(no pipelines in" in r.out
    assert 'pipelines/orders.yaml:3:14: destination: missing required key "table"' in r.err
    assert ("invalid pipeline files left out: pipelines/orders.yaml, pipelines/other.yml"
            in r.err), r


def test_list_broken_datastores_exits_2(synctool, tmp_path):
    cfg = copy_example(tmp_path)
    (cfg / "datastores.yaml").write_text("datastores: [\n")
    r = synctool("list", config_dir=cfg)
    assert r.rc == 2, r
    assert r.out == ""
    assert "datastores.yaml" in r.err


def test_no_pipelines(synctool, tmp_path):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "datastores.yaml").write_text("datastores: {}\n")
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 0, r
    assert r.out == f"OK: 0 pipelines, 0 strategies ({os.path.realpath(cfg)})\n"
    r = synctool("list", config_dir=cfg)
    assert r.rc == 0, r
    assert r.out.splitlines()[1] == f"(no pipelines in {os.path.realpath(cfg)}/pipelines)"
    r = synctool("list", "--json", config_dir=cfg)
    assert r.rc == 0 and json.loads(r.out) == [], r
