"""Shared fixtures for the end-to-end suite.

The suite drives the real binary ($SYNCTOOL_BIN, default build/synctool) in
temporary config directories. Servers come from scripts/with-servers when its
environment variables are set (make test), otherwise each session starts its
own, so `pytest tests/e2e` also works on its own.
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import servers  # noqa: E402

BIN = os.environ.get("SYNCTOOL_BIN", os.path.join(ROOT, "build", "synctool"))


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"<rc={self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


def run_synctool(*args, config_dir=None, env=None, timeout=120, input=None):
    """Runs the binary and returns Result(rc, out, err)."""
    cmd = [BIN]
    if config_dir is not None:
        cmd += ["--config-dir", str(config_dir)]
    cmd += [str(a) for a in args]
    full_env = dict(os.environ)
    full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if env:
        full_env.update(env)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=full_env, input=input)
    return Result(proc)


@pytest.fixture
def synctool():
    return run_synctool


class _Existing:
    pass


@pytest.fixture(scope="session")
def redis_server():
    url = os.environ.get("SYNCTOOL_TEST_REDIS_URL")
    if url:
        r = _Existing()
        r.url = url
        r.port = int(url.rsplit(":", 1)[1].split("/")[0])
        yield r
        return
    r = servers.Redis()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def pg_server():
    if os.environ.get("SYNCTOOL_TEST_PG_PORT"):
        p = _Existing()
        p.host = os.environ["SYNCTOOL_TEST_PG_HOST"]
        p.port = int(os.environ["SYNCTOOL_TEST_PG_PORT"])
        p.user = os.environ["SYNCTOOL_TEST_PG_USER"]
        p.password = os.environ["SYNCTOOL_TEST_PG_PASSWORD"]
        p.dbname = os.environ["SYNCTOOL_TEST_PG_DBNAME"]
        p.conninfo = os.environ["SYNCTOOL_TEST_PG_CONNINFO"]
        p.psql = lambda sql, dbname="postgres": _psql(p, sql, dbname)
        yield p
        return
    p = servers.Postgres()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def mysql_server():
    """MariaDB: .host .port .user .password .dbname .socket and .sql(text)."""
    if os.environ.get("SYNCTOOL_TEST_MYSQL_PORT"):
        m = _Existing()
        m.host = os.environ["SYNCTOOL_TEST_MYSQL_HOST"]
        m.port = int(os.environ["SYNCTOOL_TEST_MYSQL_PORT"])
        m.user = os.environ["SYNCTOOL_TEST_MYSQL_USER"]
        m.password = os.environ["SYNCTOOL_TEST_MYSQL_PASSWORD"]
        m.dbname = os.environ["SYNCTOOL_TEST_MYSQL_DBNAME"]
        m.socket = os.environ.get("SYNCTOOL_TEST_MYSQL_SOCKET")
        m.sql = lambda sql, dbname=None: servers.mysql_sql(
            m.host, m.port, m.user, m.password, dbname or m.dbname, sql)
        yield m
        return
    m = servers.MariaDB()
    yield m
    m.stop()


def _psql(p, sql, dbname):
    env = dict(os.environ, PGPASSWORD=p.password)
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", p.host,
         "-p", str(p.port), "-U", p.user, "-d", dbname, "-c", sql],
        env=env, check=True, capture_output=True, text=True)
    return out.stdout


@pytest.fixture(autouse=True)
def _own_spool_dir(tmp_path, monkeypatch):
    """Each test keeps unrecorded outcomes (state_spool.c) in its own
    directory: a leftover file must never be replayed into a later test's
    store that happens to reuse a port."""
    monkeypatch.setenv("SYNCTOOL_SPOOL_DIR", str(tmp_path / "spool"))
