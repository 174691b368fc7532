"""End-to-end: secrets only when connecting (issue 14, item 7), and never
printed (issue 11, item 7).

A `${VAR}` in a datastore's connection fields is needed only by the
commands that open a connection: list, status, history, lock list,
explain and validate work without it (validate warns, naming the key and
the pipelines that will fail); run names the datastore and the variable,
and exits 1 without writing anything. The same holds for every key of a
datastore but `type` (port, an SQLite path...), and a datastore no
pipeline uses never stops anything (issue 21, item 2).

A value that came from `${VAR}` in any key of a datastore (host, port,
user, dbname, unix_socket, an SQLite path) is never printed, even where
the server's own message names it (`connection to server at "<host>"`,
`Access denied for user '<user>'`, `Unknown database '<db>'`): a run
whose connection fails on that value says "(value hidden)" in its output,
`status --json`, `history --json`, its log lines and `check`.
"""
import json
import re
import socket

import pytest

from test_mysql import mydb  # noqa: F401 (fixture)
from test_sync_cli import pg_ds, sqlite_seed, write_config

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
        if args == ["validate"]:   # a warning, not a problem (issue 21 item 2)
            assert "warning: datastores.shop.connection.password: environment variable " \
                "ST_SHOP_PW is not set: datastore 'shop' cannot be opened, so the runs of " \
                "pipeline p fail until it is set" in r.err, r
        else:
            assert "ST_SHOP_PW" not in r.err, (args, r)
    r = synctool("run", "p", "--strategy", "full", "--json", config_dir=cfg)
    assert r.rc == 1, r
    doc = json.loads(r.out)
    assert doc["status"] == "failed"
    assert "datastore 'shop': environment variable ST_SHOP_PW is not set" in doc["message"]
    r = synctool("run", "p", "--strategy", "full", config_dir=cfg,
                 env={"ST_SHOP_PW": "wrong-password-xyz"})
    assert r.rc == 1 and "wrong-password-xyz" not in r.out + r.err, r


def test_unused_datastore_with_unset_variables_stops_nothing(synctool, tmp_path):
    """A datastore no pipeline touches, with ${VAR}s unset in keys that are
    not connection strings (an SQLite path, a port, a MySQL socket): every
    command about the other pipelines works; validate warns once per
    datastore, naming the key."""
    import os
    for v in ("ST_UNUSED_DIR", "ST_UNUSED_PORT", "ST_UNUSED_SOCK", "ST_SHOP_PW"):
        os.environ.pop(v, None)
    cfg = tmp_path / "cfg"
    ds = "  shop: {type: sqlite, path: data/src.db}\n" \
        "  dst: {type: sqlite, path: data/dst.db}\n" \
        '  lite: {type: sqlite, path: "${ST_UNUSED_DIR}/x.db"}\n' \
        '  pg2: {type: postgres, connection: {dbname: x, port: "${ST_UNUSED_PORT}"}}\n' \
        '  my2: {type: mysql, connection: {dbname: x, unix_socket: "${ST_UNUSED_SOCK}"}}\n'
    write_config(cfg, ds, "{datastore: shop, table: orders}",
                 "{datastore: dst, table: orders}")
    sqlite_seed(cfg / "data" / "src.db")
    v = synctool("validate", config_dir=cfg)
    assert v.rc == 0 and v.out.startswith("OK: 1 pipeline"), v
    for key, var, name in (("datastores.lite.path", "ST_UNUSED_DIR", "lite"),
                           ("datastores.pg2.connection.port", "ST_UNUSED_PORT", "pg2"),
                           ("datastores.my2.connection.unix_socket", "ST_UNUSED_SOCK", "my2")):
        assert f"warning: {key}: environment variable {var} is not set: datastore '{name}' " \
            "cannot be opened (no pipeline uses it; other datastores are not affected)" \
            in v.err, v
    vj = json.loads(synctool("validate", "--json", config_dir=cfg).out)
    assert vj["ok"] and len(vj["warnings"]) == 3 and vj["problems"] == [], vj
    assert vj["warnings"][0]["file"] == "datastores.yaml" and vj["warnings"][0]["line"] == 4
    assert synctool("ddl", "apply", "p", config_dir=cfg).rc == 0
    for args in (["list"], ["status", "--at", AT], ["explain", "p", "--at", AT],
                 ["check", "p"], ["diff", "p"]):
        r = synctool(*args, config_dir=cfg)
        assert "ST_UNUSED" not in r.out + r.err and "not set" not in r.err, (args, r)
    r = synctool("run", "p", "--strategy", "full", "--json", config_dir=cfg)
    assert r.rc == 0 and json.loads(r.out)["status"] == "success", r


# --- values from ${VAR} in any key are never printed ------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_conn(srv, key, typ):
    """The connection map of `srv` as YAML with `key` read from ${ST_SECRET}."""
    conn = {"host": srv.host, "port": str(srv.port), "user": srv.user,
            "password": srv.password, "dbname": srv.dbname}
    conn[key] = "${ST_SECRET}"
    return "{" + ", ".join(f'{k}: "{v}"' for k, v in conn.items()) + "}"


# engine, key, the value (a function of the servers), what the server says
# (MariaDB Connector/C does not name the port: nothing to hide there)
SECRET_CASES = [
    ("postgres", "host", lambda pg, my: "127.31.41.59", "connection to server at"),
    ("postgres", "port", lambda pg, my: str(free_port()), "connection to server at"),
    ("postgres", "user", lambda pg, my: "st_hidden_user_q7", "failed for user"),
    ("postgres", "dbname", lambda pg, my: "st_hidden_db_q7", "does not exist"),
    ("mysql", "host", lambda pg, my: "127.31.41.59", "connect"),
    ("mysql", "port", lambda pg, my: str(free_port()), "Can't connect to server on"),
    ("mysql", "user", lambda pg, my: "st_hidden_user_q7", "Access denied"),
    ("mysql", "dbname", lambda pg, my: "st_hidden_db_q7", "database"),
    ("mysql", "unix_socket", lambda pg, my: "/tmp/st-hidden-sock-q7/none.sock", "socket"),
    ("sqlite", "path", lambda pg, my: "/nonexistent-st-hidden-q7/src.db", "unable to open"),
]

ISO = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+Z")   # microseconds could hold a port's digits


@pytest.mark.parametrize("engine,key,value,says", SECRET_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in SECRET_CASES])
def test_env_value_in_any_key_is_never_printed(synctool, tmp_path, pg_server, mysql_server,
                                               engine, key, value, says):
    secret = value(pg_server, mysql_server)
    cfg = tmp_path / "cfg"
    if engine == "sqlite":
        src = '  src: {type: sqlite, path: "${ST_SECRET}"}\n'
    elif engine == "postgres":
        src = f"  src: {{type: postgres, connection: {server_conn(pg_server, key, engine)}}}\n"
    else:
        src = f"  src: {{type: mysql, connection: {server_conn(mysql_server, key, engine)}}}\n"
    write_config(cfg, src + "  dst: {type: sqlite, path: data/dst.db}\n",
                 "{datastore: src, table: orders}", "{datastore: dst, table: orders}")
    env = {"ST_SECRET": secret}
    echoed = (engine, key) != ("mysql", "port")
    r = synctool("run", "p", "--strategy", "full", config_dir=cfg, env=env)
    assert r.rc == 1 and says in r.err and ("(value hidden)" in r.err or not echoed), r
    runj = synctool("run", "p", "--strategy", "full", "--json", config_dir=cfg, env=env)
    doc = json.loads(runj.out)
    assert doc["status"] == "failed" and says in doc["message"], runj
    assert "(value hidden)" in doc["message"] or not echoed, runj
    status = synctool("status", "--json", config_dir=cfg, env=env)
    assert says in status.out and ("(value hidden)" in status.out or not echoed), status
    seen = [r, runj, status]
    for args in (["history", "p", "--json"], ["history", "p"], ["check", "p"],
                 ["logs", str(doc["run_id"])], ["why", "p"], ["list"], ["validate"],
                 ["scheduler", "--once", "--at", AT]):
        seen.append(synctool(*args, config_dir=cfg, env=env))
    for res in seen:
        text = ISO.sub("<t>", res.out + res.err)
        assert secret not in text, res
    assert says in seen[3].out   # history --json keeps the error, hidden
    assert "(value hidden)" in seen[3].out or not echoed


def test_mysql_dbname_from_env_is_hidden_where_it_names_tables(synctool, tmp_path,
                                                               mysql_server, mydb):
    """On MySQL the schema of a table defaults to the dbname: from ${VAR},
    every message naming a table shows it as (value hidden)."""
    mysql_server.sql(f"CREATE TABLE `{mydb}`.orders (id bigint PRIMARY KEY, "
                     "customer_id bigint, total decimal(14,2), note text, updated_at datetime(6));"
                     f"INSERT INTO `{mydb}`.orders VALUES (1, 2, 3.50, 'x', '2025-01-01')")
    conn = (f'{{host: "{mysql_server.host}", port: {mysql_server.port}, '
            f'user: "{mysql_server.user}", password: "{mysql_server.password}", '
            'dbname: "${ST_SECRET}"}')
    cfg = tmp_path / "cfg"
    write_config(cfg, f"  shop: {{type: mysql, connection: {conn}}}\n"
                      f"  wh: {{type: mysql, connection: {conn}}}\n",
                 "{datastore: shop, table: orders}", "{datastore: wh, table: dst}",
                 columns=MY_COLUMNS)
    env = {"ST_SECRET": mydb}
    plan = synctool("ddl", "plan", "p", config_dir=cfg, env=env)   # the statements, printed
    assert plan.rc == 0 and "CREATE TABLE" in plan.out, plan
    seen = [plan, synctool("ddl", "apply", "p", config_dir=cfg, env=env),
            synctool("ddl", "plan", "p", config_dir=cfg, env=env)]
    assert seen[1].rc == 0 and "wh.(value hidden).dst now matches the config" in seen[1].out, seen[1]
    run = synctool("run", "p", "--strategy", "full", "--json", config_dir=cfg, env=env)
    assert run.rc == 0 and json.loads(run.out)["status"] == "success", run
    mysql_server.sql(f"ALTER TABLE `{mydb}`.orders MODIFY customer_id varchar(20)")
    check = synctool("check", "p", config_dir=cfg, env=env)
    assert "source shop.(value hidden).orders" in check.out, check
    seen += [run, check]
    for args in (["run", "p", "--strategy", "full"], ["status", "--json"],
                 ["history", "p", "--json"], ["logs", str(json.loads(run.out)["run_id"])],
                 ["list"], ["list", "--json"], ["why", "p"]):
        seen.append(synctool(*args, config_dir=cfg, env=env))
    for res in seen:
        assert mydb not in res.out + res.err, res
    from http_helpers import Server
    with Server(str(cfg), env=env) as srv:   # the API names tables the same way
        for path in ("/api/v1/pipelines", "/api/v1/pipelines/p", "/api/v1/pipelines/p/runs"):
            status, _, body = srv.call("GET", path)
            assert status == 200 and mydb not in body, (path, body)
        assert "(value hidden)" in srv.call("GET", "/api/v1/pipelines/p")[2]


MY_COLUMNS = """columns:
  - {name: id, type: bigint, key: true}
  - {name: customer_id, type: bigint}
  - {name: total, type: "numeric(14,2)"}
  - {name: note, type: text}
  - {name: updated_at, type: timestamp}
"""
