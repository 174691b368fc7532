"""End-to-end: `compare: false` columns (issue 26, item 1).

A pipeline copies pages(id, title, views, updated_at) with
`views` marked `compare: false`. On every engine pair (SQLite, PostgreSQL,
MySQL as source and destination; SQLite -> SQLite both inside SQLite and
through the generic path; the pairs not named by a test of their own run on
fewer rows, test_other_pairs):

1. full copies every row, views included;
2. views changed on 10% of the source rows: `diff` reports no difference and
   names the ignored column, `explain` names it, and `hash` and `full` move
   0 rows — the destination still holds the old views;
3. title changed on some rows (some of them with changed views too): `diff`
   counts exactly those rows, and `hash` then `full` rewrite exactly them,
   the new views included;
4. delta behaves as before: it compares every column, so its first run
   rewrites the rows whose views still differ; then source and destination
   are equal, row for row.

Every expectation is checked against what the databases themselves answer
(psql, mariadb, Python's sqlite3), never against synctool's own output alone.
"""
import json
import re
import sqlite3

import pytest

from pairs import (my_side, mydb, pg_side, pgschema, run_example, run_json,  # noqa: F401
                   sides, sqlite_side, write_sqlite_pair)

N = 400                      # rows; ids 1..N
VIEWS_CHANGED = [i for i in range(1, N + 1) if i % 10 == 0]   # 10%


SOURCE_DDL = {
    "pg": "CREATE TABLE {t} (id bigint PRIMARY KEY, title text, views bigint, "
          "updated_at timestamp)",
    "mysql": "CREATE TABLE {t} (id bigint PRIMARY KEY, title varchar(200), views bigint, "
             "updated_at datetime(6)) ENGINE=InnoDB",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, title TEXT, views INTEGER, "
              "updated_at TEXT)",
}


def seed(src, engine, n=N):
    src.exec(SOURCE_DDL[engine] + ";")
    values = ", ".join(f"({i}, 'page {i}', {i * 10}, '2025-01-01 00:00:00')"
                       for i in range(1, n + 1))
    src.exec(f"INSERT INTO {{t}} VALUES {values};")


def write_config(root, src, dst):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + src.ds_line + dst.ds_line)
    (root / "pipelines" / "pages.yaml").write_text(
        f"name: pages\nsource: {src.ref}\ndestination: {dst.ref}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true}\n"
        "  - {name: title, type: text}\n"
        "  - {name: views, type: bigint, compare: false}\n"
        "  - {name: updated_at, type: timestamp}\n"
        "strategies:\n"
        "  - {name: delta, type: delta, cursor: updated_at, batch_size: 100}\n"
        "  - {name: hash, type: hash, segment_rows: 16, batch_size: 100}\n"
        "  - {name: full, type: full, batch_size: 100}\n"
        "locks: {lease_ttl_seconds: 10}\n")


def run(synctool, root, strategy, env=None):
    return run_json(synctool, root, "pages", strategy, env=env)[0]


def hash_segments(synctool, root, env):
    """Runs hash; returns its (rows_read, segments compared, segments
    skipped) from its "sync done" log line (synctool logs RUN_ID)."""
    r = synctool("run", "--job-name", "pages", "--strategy", "hash", "--json",
                 config_dir=root, env=env)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["rows_inserted"] + doc["rows_updated"] == 0, doc
    logs = synctool("logs", str(doc["run_id"]), config_dir=root)
    m = re.search(r"sync done: (\d+) read, .* (\d+) segments compared, (\d+) skipped",
                  logs.out)
    assert m, logs
    return tuple(int(x) for x in m.groups())


def diff(synctool, root, env=None, rc=0):
    r = synctool("diff", "pages", "--keys", "--json", config_dir=root, env=env)
    assert r.rc == rc, r
    doc = json.loads(r.out)
    assert doc["ignored_columns"] == ["views"], doc
    return doc


def scenario(synctool, root, src, dst, engine, env=None, n=N):
    seed(src, engine, n)
    write_config(root, src, dst)
    assert synctool("validate", config_dir=root).rc == 0
    assert synctool("ddl", "apply", "pages", config_dir=root).rc == 0
    assert run(synctool, root, "full", env) == (n, 0, 0)
    original = src.rows()
    assert dst.rows() == original

    # 2. views change on 10% of the rows: not a difference
    src.exec("UPDATE {t} SET views = views + 1000 WHERE id % 10 = 0;")
    doc = diff(synctool, root, env)
    assert doc["identical"] is True
    assert (doc["inserts"], doc["updates"], doc["deletes"]) == (0, 0, 0)
    r = synctool("diff", "pages", config_dir=root, env=env)
    assert r.rc == 0 and "identical" in r.out and "ignored columns: views" in r.out, r
    r = synctool("explain", "pages", config_dir=root)
    assert r.rc == 0 and "ignored columns: views" in r.out, r
    assert run(synctool, root, "hash", env) == (0, 0, 0)
    assert dst.rows() == original
    # the digests leave views out: every segment is equal, no row is read
    read, compared, skipped = hash_segments(synctool, root, env)
    assert read == 0 and compared > 0 and skipped == compared, (read, compared, skipped)
    assert dst.rows() == original
    assert run(synctool, root, "full", env) == (0, 0, 0)
    assert dst.rows() == original

    # 3. another column changes: those rows are rewritten, views included
    src.exec("UPDATE {t} SET title = 'changed' WHERE id IN (10, 20, 33);")
    doc = diff(synctool, root, env, rc=1)
    assert (doc["inserts"], doc["updates"], doc["deletes"]) == (0, 3, 0), doc
    cols = {u["key"]: u["columns"] for u in doc["keys"]["update"]}
    assert cols == {"id=10": ["title", "views"], "id=20": ["title", "views"],
                    "id=33": ["title"]}, cols
    assert run(synctool, root, "hash", env) == (0, 3, 0)
    got, now = dst.rows(), src.rows()
    for i in (10, 20, 33):
        assert got[i] == now[i], i
    assert now[10][1] == 1100 and now[33][1] == 330
    assert got[30] == original[30] and got[30] != now[30]
    src.exec("UPDATE {t} SET title = 'changed again' WHERE id IN (30, 40);")
    assert run(synctool, root, "full", env) == (0, 2, 0)
    got = dst.rows()
    assert got[30] == src.rows()[30] and got[40] == src.rows()[40]
    stale = [i for i in VIEWS_CHANGED if i <= n and i not in (10, 20, 30, 40)]
    assert all(got[i] == original[i] for i in stale)
    assert diff(synctool, root, env)["identical"] is True

    # 4. delta as before: every column compared, so the stale views are written
    assert run(synctool, root, "delta", env) == (0, len(stale), 0)
    assert dst.rows() == src.rows()


def test_postgres_to_postgres(synctool, tmp_path, pg_server, pgschema):
    scenario(synctool, tmp_path, pg_side(pg_server, pgschema, "shop", "pages"),
             pg_side(pg_server, pgschema, "wh", "pages_copy"), "pg")


def test_mysql_to_postgres(synctool, tmp_path, mysql_server, mydb, pg_server, pgschema):
    scenario(synctool, tmp_path, my_side(mysql_server, mydb, "shop", "pages"),
             pg_side(pg_server, pgschema, "wh", "pages"), "mysql")


def test_postgres_to_mysql(synctool, tmp_path, mysql_server, mydb, pg_server, pgschema):
    scenario(synctool, tmp_path, pg_side(pg_server, pgschema, "shop", "pages"),
             my_side(mysql_server, mydb, "wh", "pages"), "pg")


@pytest.mark.parametrize("path", ["local", "generic"])
def test_sqlite_to_sqlite(synctool, tmp_path, path):
    (tmp_path / "data").mkdir()
    extra = ", in_engine: false" if path == "generic" else ""
    scenario(synctool, tmp_path, sqlite_side(tmp_path, "shop", "pages"),
             sqlite_side(tmp_path, "wh", "pages", extra), "sqlite")


@pytest.mark.parametrize("src_kind,dst_kind", [
    ("sqlite", "pg"), ("sqlite", "mysql"), ("pg", "sqlite"), ("mysql", "sqlite"),
    ("mysql", "mysql")])
def test_other_pairs(synctool, tmp_path, request, src_kind, dst_kind):
    """The issue's scenario on the pairs the tests above leave out, on 100
    rows (10 with changed views)."""
    src, dst = sides(request, tmp_path, (src_kind, "shop", "pages"),
                     (dst_kind, "wh", "pages_copy"))
    scenario(synctool, tmp_path, src, dst, src_kind, n=100)


def test_compare_false_refused_on_key_and_cursor(synctool, tmp_path):
    write_sqlite_pair(
        tmp_path,
        "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
        "columns:\n"
        "  - {name: id, type: bigint, key: true, compare: false}\n"
        "  - {name: seen, type: timestamp, compare: false}\n"
        "strategies:\n"
        "  - {name: d, type: delta, cursor: seen}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 2, r
    assert ('pipelines/p.yaml:5:50: columns[0].compare: key column "id" cannot be '
            "compare: false") in r.err, r
    assert ('pipelines/p.yaml:8:36: strategies[0].cursor: column "seen" is compare: false '
            "(columns[1]); a delta cursor must be compared") in r.err, r


def test_example_runs(tmp_path):
    """examples/compare-false/run, on a copy (no state files in the
    repository's directory), succeeds and shows what its README says."""
    out, ex = run_example(tmp_path, "compare-false", env={"ASAN_OPTIONS": "detect_leaks=1"})
    assert "ignored columns: views" in out and "compare-false: ok" in out
    db = sqlite3.connect(ex / "data" / "warehouse.db")
    assert db.execute("SELECT id, title, views FROM pages ORDER BY id").fetchall() == [
        (1, "Home page", 101), (2, "Pricing", 40), (3, "About", 7), (4, "Blog", 55)]
    db.close()
