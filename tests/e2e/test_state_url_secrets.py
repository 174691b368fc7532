"""End-to-end: the state URL's password is never printed, whatever it holds
(issue 22, item 2).

A Redis password containing `/` was printed in full by `run`, `run --json`,
`lock list` and `check`; one containing `@` leaked its tail: three
redactors each split the URL differently. The userinfo now ends at the
URL's last `@` in the one parser and the one redactor, `%XX` is decoded,
and `rediss://` is refused by `validate` (no TLS in Debian 12's hiredis)
instead of passing and then failing in every command.

A password-protected redis-server of its own runs for this module.
"""
import os
import sqlite3
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
import servers  # noqa: E402

PASSWORD = "pa/ss@w:rd%x"          # what redis-server requires
IN_URL = "pa/ss@w:rd%25x"          # as typed in the URL: '%' itself %-encoded
FRAGMENTS = ["pa/ss", "ss@w", "w:rd", "rd%x", "rd%25x", "@w:"]


@pytest.fixture(scope="module")
def locked_redis():
    r = servers.Redis("--requirepass", PASSWORD)
    yield r
    r.stop()


def config(tmp_path, url):
    cfg = tmp_path / "cfg"
    (cfg / "pipelines").mkdir(parents=True)
    (cfg / "datastores.yaml").write_text(
        "datastores:\n"
        "  src: {type: sqlite, path: src.db}\n"
        "  dst: {type: sqlite, path: dst.db}\n"
        f'state: {{url: "{url}"}}\n')
    (cfg / "pipelines" / "t.yaml").write_text(
        "name: t\n"
        "source: {datastore: src, table: t}\n"
        "destination: {datastore: dst, table: t}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "strategies:\n"
        "  - {name: full, type: full, cron: '0 * * * *'}\n")
    for db in ("src.db", "dst.db"):
        with sqlite3.connect(cfg / db) as c:
            c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            if db == "src.db":
                c.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5)])
    return cfg


def assert_hidden(r):
    text = r.out + r.err
    for frag in FRAGMENTS:
        assert frag not in text, (frag, text)


COMMANDS = [("run", "--job-name", "t"), ("run", "--job-name", "t", "--json"),
            ("lock", "list"), ("lock", "list", "--json"), ("check",), ("status",),
            ("status", "--json"), ("history", "t")]


@pytest.mark.parametrize("user", ["default", ""])
def test_password_with_slash_at_colon_percent_works_and_is_never_printed(
        synctool, tmp_path, locked_redis, user):
    cfg = config(tmp_path, f"redis://{user}:{IN_URL}@127.0.0.1:{locked_redis.port}/0")
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 0, r
    assert_hidden(r)
    r = synctool("run", "--job-name", "t", config_dir=cfg)
    assert r.rc == 0, r  # the password really was parsed whole
    for args in COMMANDS:
        r = synctool(*args, config_dir=cfg)
        assert_hidden(r)


def test_wrong_password_errors_never_print_it(synctool, tmp_path, locked_redis):
    cfg = config(tmp_path, f"redis://default:{IN_URL}zz@127.0.0.1:{locked_redis.port}/0")
    r = synctool("run", "--job-name", "t", config_dir=cfg)
    assert r.rc != 0, r
    for args in COMMANDS:
        r = synctool(*args, config_dir=cfg)
        assert_hidden(r)
        assert "zz" not in r.out + r.err


def test_a_bad_escape_is_refused_without_echoing_it(synctool, tmp_path, locked_redis):
    cfg = config(tmp_path, f"redis://default:secret%zz@127.0.0.1:{locked_redis.port}/0")
    r = synctool("run", "--job-name", "t", config_dir=cfg)
    assert r.rc != 0, r
    assert "secret" not in r.out + r.err, r
    assert "%-encoded" in r.err, r


def test_rediss_is_refused_by_validate(synctool, tmp_path):
    cfg = config(tmp_path, "rediss://default:s3cret@127.0.0.1:6380/0")
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    assert "datastores.yaml:4:" in r.err and "rediss:// (Redis over TLS) is not supported" \
        in r.err, r
    assert "s3cret" not in r.out + r.err


@pytest.mark.parametrize("url, why", [
    ("redis://default:s3cret@127.0.0.1:99999/0", "bad Redis URL: bad port"),
    ("redis://default:s3cret@127.0.0.1:6379/zero", "bad Redis URL: bad database number"),
    ("redis://default:s3cret@[::1/0", "bad Redis URL: unclosed [ in the host"),
])
def test_a_bad_redis_url_is_refused_by_validate(synctool, tmp_path, url, why):
    """The URL is parsed once, by the config: a typo is a file:line:col
    problem of `validate`, not a failure of every later command."""
    cfg = config(tmp_path, url)
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    assert f"datastores.yaml:4:14: state.url: {why}" in r.err, r
    assert "s3cret" not in r.out + r.err
