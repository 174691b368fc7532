"""End-to-end: SQLite -> SQLite full, delta and hash run inside SQLite
(src/store/store_sqlite_local.c) and give exactly what the generic path
gives.

One source table holds the value battery in every storage class a
hand-made SQLite table may use (numbers as TEXT '5.00' or REAL, booleans as
0/1/'t'/'true'/'false', timestamps in several spellings and zones or as
Unix seconds, -0.0, a decimal wider than 15 digits, REAL extremes, unicode
and empty strings, NULLs). Each strategy copies it into two destinations
made by `ddl apply`: one through the local path, one through the generic
path (forced with the destination datastore's `in_engine: false`). The
two destination tables must be equal row for row, storage class and sign
of zero included, with the same counts (read, inserted, updated,
deleted, NULL cursor); a second run moves nothing on both; after updates
(real changes and re-spellings of the same value), inserts and deletes the
same holds again (hash's rows_read aside: the generic path reads whole
differing segments, the local one counts the differing rows). The log says
which path ran.
"""
import re
import sqlite3

import pytest

from test_sqlite_types import COLS, FIXED, NAMES, generated, mixed_value

DECL = {"n": "NUMERIC", "dd": "TEXT", "b": "BOOLEAN", "tz": "TEXT", "ts": "DATETIME", "f": "TEXT",
        "r": "REAL", "id": "INTEGER"}

# id, i, s, n, dd, f, r, b, d, ts, tz, t, v: values as stored, spelled on purpose
EXTRA = [
    (11, 0, 0, "-0.00", "0.00000", -0.0, -0.0, "true", "2025-06-01",
     "2025-06-01 12:00:00.100000", "2025-06-01T12:00:00+02:00", "", "ü"),
    (12, -1, 5, "12345678901234567890.12", "-99999.9999", 1.7976931348623157e308, 5e-324, "t",
     "2025-06-02", 1700000000, "2025-06-01 10:00:00Z", "日本", "x"),
    (13, 2, 6, 5.0, "1e-4", "1e-7", 0.1, "false", "2025-06-03",
     "2025-06-03T00:00:00.000001", "2025-06-01 10:00:00.000000+00:00", " ", "tab\t"),
    (14, 3, 7, "0005.50", 7, "2.5e-320", 1e-310, 0, "2025-06-04",
     "2025-06-04 00:00:00", "2025-06-01 10:00:00.5-01:30", "a|b\\c", ""),
]
CHANGED_LINE = re.compile(r"sync done: (\d+) read, (\d+) inserted, (\d+) updated, (\d+) deleted, "
                          r"\d+ segments compared, \d+ skipped, (\d+) NULL cursor")


def source_rows():
    rows = []
    for k, row in enumerate(FIXED + generated()):
        rows.append([mixed_value(k, n, v) for n, v in zip(NAMES, row)])
    for row in EXTRA:
        rows.append(list(row))
    return rows


def write_pipeline(root, name, dst):
    cols = "".join(f"  - {{name: {n}, type: \"{t}\"{', key: true' if n == 'id' else ''}}}\n"
                   for n, t, _ in COLS)
    (root / "pipelines" / f"{name}.yaml").write_text(
        f"name: {name}\nsource: {{datastore: m, table: t}}\ndestination: {{datastore: {dst}, table: t}}\n"
        f"columns:\n{cols}strategies:\n  - {{name: full, type: full}}\n"
        "  - {name: delta, type: delta, cursor: tz, batch_size: 4}\n"
        "  - {name: hash, type: hash, segment_rows: 8}\n")


@pytest.fixture
def pair(tmp_path, synctool):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n  m: {type: sqlite, path: data/m.db}\n  l: {type: sqlite, path: data/l.db}\n"
        "  g: {type: sqlite, path: data/g.db, in_engine: false}\n")
    m = sqlite3.connect(tmp_path / "data" / "m.db")
    m.execute("CREATE TABLE t (" + ", ".join(f"{n} {DECL.get(n, '')}" for n in NAMES) + ")")
    m.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(NAMES))})", source_rows())
    m.commit()
    m.close()
    write_pipeline(tmp_path, "to_local", "l")
    write_pipeline(tmp_path, "to_generic", "g")
    for p in ("to_local", "to_generic"):
        r = synctool("ddl", "apply", p, config_dir=tmp_path)
        assert r.rc == 0, r
    return tmp_path


def run(synctool, root, pipeline, strategy):
    r = synctool("--log-level", "debug", "run", pipeline, "--strategy", strategy,
                 config_dir=root)
    assert r.rc == 0, r
    # a delta with nothing past its watermark opens no destination (sync.c)
    noop = "destination not opened" in r.err
    assert ("ran inside SQLite" in r.err) == (pipeline == "to_local" and not noop), r
    m = CHANGED_LINE.search(r.err)
    assert m, r
    return tuple(int(x) for x in m.groups())


def table(path):
    """Every cell with its storage class, floats by repr (-0.0 is not 0.0)."""
    db = sqlite3.connect(path)
    rows = db.execute("SELECT * FROM t ORDER BY id").fetchall()
    db.close()
    return [tuple((type(v).__name__, repr(v)) for v in row) for row in rows]


def both(synctool, root, strategy):
    local = run(synctool, root, "to_local", strategy)
    generic = run(synctool, root, "to_generic", strategy)
    skip = 1 if strategy == "hash" else 0   # hash reads differing segments: rows_read differs
    assert local[skip:] == generic[skip:], (strategy, local, generic)
    got, want = table(root / "data" / "l.db"), table(root / "data" / "g.db")
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a == b
    return local


def mutate(root):
    m = sqlite3.connect(root / "data" / "m.db")
    bump = "tz = '2030-01-01 00:00:00.' || substr('000000' || id, -6)"   # delta sees them
    m.execute(f"UPDATE t SET n = '100.010', b = 'f', {bump} WHERE id = 4")     # n re-spelt, b changed
    m.execute(f"UPDATE t SET f = -0.0, r = 0.0, {bump} WHERE id = 8")         # zeros of either sign
    m.execute(f"UPDATE t SET t = t || 'ü', dd = -0.5, {bump} WHERE id = 10")
    m.execute(f"UPDATE t SET ts = '2025-06-04T00:00:00Z', {bump} WHERE id = 14")  # same instant
    m.execute(f"UPDATE t SET i = NULL, v = NULL, {bump} WHERE id = 150")
    m.execute("UPDATE t SET n = '5.000' WHERE id = 2")                        # same value, no bump
    m.execute("DELETE FROM t WHERE id IN (5, 160)")
    m.execute("INSERT INTO t SELECT id + 1000, i, s, n, dd, f, r, b, d, ts, "
              "'2030-02-01T00:00:00+01:00', t, v FROM t WHERE id BETWEEN 11 AND 14")
    m.commit()
    m.close()


@pytest.mark.parametrize("strategy", ["full", "delta", "hash"])
def test_local_path_gives_what_the_generic_path_gives(synctool, pair, strategy):
    first = both(synctool, pair, strategy)
    nrows = len(source_rows())
    if strategy == "delta":
        assert first == (nrows - 1, nrows - 1, 0, 0, 1)   # id 1 has a NULL cursor
    else:
        assert first[1:4] == (nrows, 0, 0)
    again = both(synctool, pair, strategy)
    assert again[1:4] == (0, 0, 0)
    mutate(pair)
    after = both(synctool, pair, strategy)
    if strategy == "delta":
        assert after[1:4] == (4, 5, 0)          # deletes are not delta's
    else:
        assert after[1:4] == (4, 5, 2)
    assert both(synctool, pair, strategy)[1:4] == (0, 0, 0)


def test_negative_zero_in_an_untyped_column(synctool, tmp_path):
    """A column without affinity keeps -0.0 (and '-0' text); a REAL column
    cannot (SQLite stores -0.0 as 0). Both paths write 0. The local path
    compares as SQLite does (-0.0 = 0) and moves nothing again; the generic
    path compares canonical text ("-0" against "0") and re-sends those rows
    on every run (docs/configuration.md, "Floats in SQLite")."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n  m: {type: sqlite, path: data/m.db}\n  l: {type: sqlite, path: data/l.db}\n"
        "  g: {type: sqlite, path: data/g.db, in_engine: false}\n")
    m = sqlite3.connect(tmp_path / "data" / "m.db")
    m.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, f)")
    m.executemany("INSERT INTO t VALUES (?, ?)", [(1, -0.0), (2, "-0"), (3, 0.0), (4, 1.5)])
    m.commit()
    m.close()
    for name, dst in (("to_local", "l"), ("to_generic", "g")):
        (tmp_path / "pipelines" / f"{name}.yaml").write_text(
            f"name: {name}\nsource: {{datastore: m, table: t}}\n"
            f"destination: {{datastore: {dst}, table: t}}\ncolumns:\n"
            "  - {name: id, type: bigint, key: true}\n  - {name: f, type: double precision}\n"
            "strategies:\n  - {name: full, type: full}\n  - {name: hash, type: hash}\n")
        assert synctool("ddl", "apply", name, config_dir=tmp_path).rc == 0
    for strategy in ("full", "hash"):
        assert run(synctool, tmp_path, "to_local", strategy)[1:4] == ((4, 0, 0) if strategy == "full" else (0, 0, 0))
        assert run(synctool, tmp_path, "to_generic", strategy)[1:4] == ((4, 0, 0) if strategy == "full" else (0, 2, 0))
    assert table(tmp_path / "data" / "l.db") == table(tmp_path / "data" / "g.db")
    assert [r[1] for r in table(tmp_path / "data" / "l.db")] == [("float", "0.0")] * 3 + [("float", "1.5")]


def test_delta_with_a_column_named_rowid(synctool, tmp_path):
    """The page table's rows are read back in page order by rowid; a column
    named rowid must not take its place (the watermark would lag and pages
    re-read rows)."""
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n  m: {type: sqlite, path: m.db}\n  l: {type: sqlite, path: l.db}\n")
    m = sqlite3.connect(tmp_path / "m.db")
    m.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, rowid INTEGER, u TEXT)")
    m.executemany("INSERT INTO t VALUES (?, ?, ?)",
                  [(k, 100 - k, f"2025-01-01 00:00:0{k}") for k in range(1, 8)])
    m.commit()
    m.close()
    (tmp_path / "pipelines" / "to_local.yaml").write_text(
        "name: to_local\nsource: {datastore: m, table: t}\ndestination: {datastore: l, table: t}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n  - {name: rowid, type: bigint}\n"
        "  - {name: u, type: timestamp}\n"
        "strategies:\n  - {name: delta, type: delta, cursor: u, batch_size: 2}\n")
    assert synctool("ddl", "apply", "to_local", config_dir=tmp_path).rc == 0
    assert run(synctool, tmp_path, "to_local", "delta")[:4] == (7, 7, 0, 0)
    assert run(synctool, tmp_path, "to_local", "delta")[:4] == (0, 0, 0, 0)
    assert len(table(tmp_path / "l.db")) == 7
