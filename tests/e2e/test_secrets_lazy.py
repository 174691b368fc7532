"""End-to-end: secrets only when connecting (issue 14, item 7).

A `${VAR}` in a datastore's connection fields is needed only by the
commands that open a connection: list, status, history, lock list,
explain and validate work without it; run names the datastore and the
variable, and exits 1 without writing anything.
"""
import json

from test_sync_cli import pg_ds, write_config

AT = "2025-10-15T10:06:00Z"


def shop_config(tmp_path, pg_server):
    cfg = tmp_path / "cfg"
    ds = pg_ds(pg_server, "shop", password="${ST_SHOP_PW}") + \
        "  dst: {type: sqlite, path: data/dst.db}\n"
    write_config(cfg, ds, "{datastore: shop, table: orders}",
                 "{datastore: dst, table: orders}")
    return cfg


def test_read_commands_do_not_need_the_password(synctool, tmp_path, pg_server):
    cfg = shop_config(tmp_path, pg_server)
    env = {"ST_SHOP_PW": ""}  # overwritten below: make sure it is unset
    import os
    os.environ.pop("ST_SHOP_PW", None)
    del env["ST_SHOP_PW"]
    for args in (["validate"], ["list"], ["status", "--at", AT], ["history", "p"],
                 ["lock", "list"], ["explain", "p", "--at", AT],
                 ["status", "--json", "--at", AT]):
        r = synctool(*args, config_dir=cfg)
        assert r.rc == 0, (args, r)
        assert "ST_SHOP_PW" not in r.err, (args, r)
    r = synctool("run", "p", "--strategy", "full", "--json", config_dir=cfg)
    assert r.rc == 1, r
    doc = json.loads(r.out)
    assert doc["status"] == "failed"
    assert "datastore 'shop': environment variable ST_SHOP_PW is not set" in doc["message"]
    r = synctool("run", "p", "--strategy", "full", config_dir=cfg,
                 env={"ST_SHOP_PW": "wrong-password-xyz"})
    assert r.rc == 1 and "wrong-password-xyz" not in r.out + r.err, r
