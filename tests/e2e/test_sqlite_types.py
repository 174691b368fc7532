"""End-to-end: SQLite copies answer queries as their source does (issue 12).

One battery of values for every kind of type the config accepts (bigint,
integer, smallint, numeric(p,s), decimal(p,s), double precision, real,
boolean, date, timestamp, timestamptz, text, varchar): NULLs, negative and
large decimals, scale padding (5.00), booleans, dates, microsecond
timestamps across zones and both DST changes, unicode and empty strings,
and 200 generated rows for ordering and aggregates.

The reference is a typed PostgreSQL table (`ref`). Through the real binary
(`ddl apply` + `run`), the data goes PostgreSQL -> SQLite (A), SQLite ->
SQLite (A -> B), SQLite -> PostgreSQL (A -> C), and from a hand-made SQLite
table whose values sit in every storage class (numbers as TEXT '5.00',
booleans as 'true' / 1, timestamps with offsets or as Unix seconds) to
PostgreSQL (M -> D). After each sync a set of queries (comparisons with
literals, =, BETWEEN, ORDER BY, min/max/sum/avg, SQLite's date(),
datetime(), strftime(), unixepoch() against PostgreSQL's equivalents) gives
the reference's answers, and PostgreSQL copies equal the reference row for
row. Also: hash between SQLite and PostgreSQL moves no rows on identical
tables and exactly the changed ones after random inserts, updates and
deletes; `ddl apply --migrate` rewrites a table made by the previous
version (TEXT columns, ...T...Z timestamps) keeping every row; ddl apply
accepts equivalent hand-made types and names a real mismatch; validate
warns about a numeric wider than SQLite keeps exact.
"""
import os
import random
import sqlite3
import struct
import subprocess
import uuid

import pytest

COLS = [  # name, config type, PostgreSQL DDL type
    ("id", "bigint", "bigint"), ("i", "integer", "integer"), ("s", "smallint", "smallint"),
    ("n", "numeric(12,2)", "numeric(12,2)"), ("dd", "decimal(10,4)", "numeric(10,4)"),
    ("f", "double precision", "double precision"), ("r", "real", "real"),
    ("b", "boolean", "boolean"), ("d", "date", "date"), ("ts", "timestamp", "timestamp"),
    ("tz", "timestamptz", "timestamptz"), ("t", "text", "text"), ("v", "varchar(20)", "varchar(20)"),
]
NAMES = [c[0] for c in COLS]

# id, i, s, n, dd, f, r, b, d, ts, tz, t, v
FIXED = [
    (1, None, None, None, None, None, None, None, None, None, None, None, None),
    (2, -5, -32768, "5.00", "-0.0001", 0.1, 0.5, True, "2025-03-30",
     "2025-03-30 02:30:00.000001", "2025-03-30 01:59:59.999999+00", "", ""),
    (3, 2147483647, 32767, "100.00", "123456.7891", 1e20, -1.25, False, "1999-12-31",
     "1999-12-31 23:59:59.5", "2025-03-30 03:00:00.000001+02", "héllo ✓ 日本", "a|b\\c"),
    (4, 0, 0, "100.01", "0.5000", -2.5e-7, 0.1, True, "2025-10-26",
     "2025-10-26 02:30:00", "2025-10-26 02:30:00+01", "emoji 😀", "x"),
    (5, 7, 1, "1234567890.12", "9.9999", 3.141592653589793, 2.0, False, "2025-09-26",
     "2025-09-26 23:59:59", "2025-09-26 00:00:00+00", "Zebra", "zebra"),
    (6, -7, -1, "-1234567890.12", "-9.9999", 123456.789, -0.5, True, "2025-09-26",
     "2025-09-26 00:00:00", "2025-09-26 23:59:59.999999+00", "apple", "Apple"),
    (7, 1, 2, "99.99", "0.0001", 100.0, 100.0, False, "2024-02-29",
     "2024-02-29 12:00:00", "2025-09-25 23:59:59.999999-05", "a'quote", "new\nline"),
    (8, 0, 0, "0.01", "0.0000", 1e-5, 1e-3, False, "1970-01-01",
     "1970-01-01 00:00:00", "1970-01-01 00:00:00+00", "tab\there", "back\\slash"),
    (9, 100, 100, "100", "100.0000", 100.5, 3.5, True, "2025-09-27",
     "2025-09-27 00:00:00.000001", "2025-10-26 01:30:00+00", "100", "9"),
    (10, -100, -100, "-0.50", "-0.5000", -1e-300, -3.5, None, "2025-01-01",
     "2025-01-01 00:00:00", "2024-12-31 23:00:00.123456-01", "10", "09"),
]


def generated():
    rows = []
    for k in range(100, 300):
        rows.append((k, k * 31 % 977 - 400, k % 50 - 25, f"{(k * 37 % 20011) / 100:.2f}",
                     f"{(k * 13 % 1000) / 7:.4f}", k / 8 - 10, (k % 16) / 4, k % 3 == 0,
                     f"2025-09-{1 + k % 28:02d}", f"2025-09-26 {k % 24:02d}:{k % 60:02d}:{k % 7:02d}.{k:06d}",
                     f"2025-09-26 {k % 24:02d}:{(k * 7) % 60:02d}:00.{k * 3:06d}+0{k % 3}",
                     f"text {k} é", f"v{k % 17}"))
    return rows


ROWS = FIXED + generated()

# (PostgreSQL, SQLite) query pairs asked of the reference and of each copy.
QUERIES = [
    ("SELECT count(*) FROM {t} WHERE n > 100", None),
    ("SELECT count(*) FROM {t} WHERE n = 100.00", None),
    ("SELECT count(*) FROM {t} WHERE n = 5", None),
    ("SELECT count(*) FROM {t} WHERE n BETWEEN 99.99 AND 100.01", None),
    ("SELECT max(n), min(n), round(sum(n), 2), round(avg(n), 4) FROM {t}",
     "SELECT max(n), min(n), round(sum(n), 2), round(avg(n), 4) FROM {t}"),
    ("SELECT id FROM {t} ORDER BY n DESC NULLS LAST, id LIMIT 5", None),
    ("SELECT id FROM {t} ORDER BY n ASC NULLS FIRST, id LIMIT 5", None),
    ("SELECT count(*) FROM {t} WHERE b", None),
    ("SELECT count(*) FROM {t} WHERE NOT b", None),
    ("SELECT count(*) FROM {t} WHERE b = true", "SELECT count(*) FROM {t} WHERE b = 1"),
    ("SELECT count(*), sum(i), min(s), max(s) FROM {t} WHERE i > 0", None),
    ("SELECT count(*) FROM {t} WHERE dd < 0", None),
    ("SELECT max(dd), min(dd) FROM {t}", None),
    ("SELECT count(*) FROM {t} WHERE f > 1", None),
    ("SELECT sum(f), max(f), min(f) FROM {t}", None),
    ("SELECT id FROM {t} ORDER BY f DESC NULLS LAST, id LIMIT 5", None),
    ("SELECT count(*) FROM {t} WHERE r > 0.1", None),
    ("SELECT count(*) FROM {t} WHERE tz BETWEEN '2025-09-26 00:00:00' AND '2025-09-26 23:59:59'", None),
    ("SELECT count(*) FROM {t} WHERE tz >= '2025-09-26 00:00:00' AND tz < '2025-09-27'", None),
    ("SELECT count(*) FROM {t} WHERE ts BETWEEN '2025-09-26 00:00:00' AND '2025-09-26 23:59:59'", None),
    ("SELECT count(*) FROM {t} WHERE ts > '2025-09-26 12:00:00'", None),
    ("SELECT min(tz)::text, max(tz)::text, min(ts)::text, max(ts)::text FROM {t}",
     "SELECT min(tz), max(tz), min(ts), max(ts) FROM {t}"),
    ("SELECT id FROM {t} ORDER BY tz DESC NULLS LAST, id LIMIT 8",
     "SELECT id FROM {t} ORDER BY tz DESC NULLS LAST, id LIMIT 8"),
    ("SELECT (tz AT TIME ZONE 'UTC')::date::text, count(*) FROM {t} GROUP BY 1 ORDER BY 1 NULLS FIRST",
     "SELECT date(tz), count(*) FROM {t} GROUP BY 1 ORDER BY 1"),
    ("SELECT to_char(ts, 'YYYY-MM'), count(*) FROM {t} GROUP BY 1 ORDER BY 1 NULLS FIRST",
     "SELECT strftime('%Y-%m', ts), count(*) FROM {t} GROUP BY 1 ORDER BY 1"),
    ("SELECT sum(floor(extract(epoch FROM tz)))::bigint FROM {t}",
     "SELECT sum(unixepoch(tz)) FROM {t}"),
    ("SELECT to_char(tz + interval '1 day', 'YYYY-MM-DD HH24:MI:SS') FROM {t} WHERE id = 3",
     "SELECT datetime(tz, '+1 day') FROM {t} WHERE id = 3"),
    ("SELECT count(*) FROM {t} WHERE d > '2025-01-01'", None),
    ("SELECT count(*) FROM {t} WHERE d BETWEEN '2025-09-26' AND '2025-10-01'", None),
    ("SELECT count(*) FROM {t} WHERE d = '2025-09-26'", "SELECT count(*) FROM {t} WHERE d = date('2025-09-26')"),
    ("SELECT count(*) FROM {t} WHERE t = ''", None),
    ("SELECT id FROM {t} WHERE id < 20 ORDER BY t COLLATE \"C\" NULLS FIRST, id",
     "SELECT id FROM {t} WHERE id < 20 ORDER BY t, id"),
    ("SELECT count(*) FROM {t} WHERE v = 'a|b\\c'", None),
]


def norm(cell):
    if cell is None or cell == "":
        return ""
    if isinstance(cell, (int, float)):
        return f"{float(cell):.10g}"
    try:
        return f"{float(cell):.10g}"
    except ValueError:
        return cell[:-3] if cell.endswith("+00") else cell


def pg_rows(pg, sql, raw=False):
    env = dict(os.environ, PGPASSWORD=pg.password, PGTZ="UTC")
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-h", pg.host,
         "-p", str(pg.port), "-U", pg.user, "-d", pg.dbname, "-c", sql],
        env=env, check=True, capture_output=True, text=True).stdout
    return [tuple(c if raw else norm(c) for c in line.split("\x1f"))
            for line in out.splitlines() if line != ""]


def sq_rows(path, sql):
    db = sqlite3.connect(path)
    try:
        return [tuple(norm(c) for c in row) for row in db.execute(sql).fetchall()]
    finally:
        db.close()


def answers_pg(pg, table):
    return [pg_rows(pg, q.format(t=table)) for q, _ in QUERIES]


def answers_sqlite(path, table="t"):
    return [sq_rows(path, (s or q).format(t=table)) for q, s in QUERIES]


def assert_same_answers(want, got, label):
    for (q, s), w, g in zip(QUERIES, want, got):
        assert g == w, f"{label}: {s or q}\n  source: {w}\n  copy:   {g}"


@pytest.fixture
def schema(pg_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
    yield name
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + v.replace("'", "''") + "'"


def make_ref(pg, schema, table="ref", rows=ROWS):
    cols = ", ".join(f"{n} {pt}" for n, _, pt in COLS)
    values = ", ".join("(" + ", ".join(lit(v) for v in r) + ")" for r in rows)
    pg.psql(f'SET TimeZone = \'UTC\'; CREATE TABLE "{schema}".{table} ({cols}, PRIMARY KEY (id)); '
            f'INSERT INTO "{schema}".{table} VALUES {values}', dbname=pg.dbname)


def pg_ds(pg, name):
    return (f"  {name}: {{type: postgres, connection: {{host: {pg.host}, port: {pg.port}, "
            f"user: {pg.user}, password: \"{pg.password}\", dbname: {pg.dbname}}}}}\n")


def write_pipeline(root, name, src, dst, datastores):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + datastores)
    cols = "".join(f"  - {{name: {n}, type: \"{t}\"{', key: true' if n == 'id' else ''}}}\n"
                   for n, t, _ in COLS)
    (root / "pipelines" / f"{name}.yaml").write_text(
        f"name: {name}\nsource: {src}\ndestination: {dst}\ncolumns:\n{cols}"
        "strategies:\n  - {name: full, type: full}\n  - {name: hash, type: hash}\n")


def run_ok(synctool, root, *args):
    r = synctool(*args, config_dir=root)
    assert r.rc == 0, r
    return r


def pg_table_rows(pg, schema, table):
    return pg_rows(pg, f'SELECT {", ".join(NAMES)} FROM "{schema}".{table} ORDER BY id')


@pytest.fixture
def battery(tmp_path, pg_server, schema):
    """ref (PostgreSQL) -> A (SQLite) -> B (SQLite), A -> C (PostgreSQL)."""
    make_ref(pg_server, schema)
    ds = ("  a: {type: sqlite, path: data/a.db}\n  b: {type: sqlite, path: data/b.db}\n"
          + pg_ds(pg_server, "pg"))
    write_pipeline(tmp_path, "pg_to_a", f"{{datastore: pg, schema: {schema}, table: ref}}",
                   "{datastore: a, table: t}", ds)
    write_pipeline(tmp_path, "a_to_b", "{datastore: a, table: t}", "{datastore: b, table: t}", ds)
    write_pipeline(tmp_path, "a_to_c", "{datastore: a, table: t}",
                   f"{{datastore: pg, schema: {schema}, table: c}}", ds)
    return tmp_path


def test_battery_through_every_engine_pair(synctool, battery, pg_server, schema):
    root = battery
    want = answers_pg(pg_server, f'"{schema}".ref')
    ref_rows = pg_table_rows(pg_server, schema, "ref")
    for p in ("pg_to_a", "a_to_b", "a_to_c"):
        run_ok(synctool, root, "ddl", "apply", p)
        r = run_ok(synctool, root, "run", "--job-name", p, "--strategy", "full")
        assert f"{len(ROWS)} inserted, 0 updated, 0 deleted" in r.out + r.err, r
    a, b = root / "data" / "a.db", root / "data" / "b.db"
    assert_same_answers(want, answers_sqlite(a), "PostgreSQL -> SQLite")
    assert_same_answers(want, answers_sqlite(b), "SQLite -> SQLite")
    assert_same_answers(want, answers_pg(pg_server, f'"{schema}".c'), "SQLite -> PostgreSQL")
    assert pg_table_rows(pg_server, schema, "c") == ref_rows
    # what SQLite holds: numbers as numbers, booleans 0/1, canonical times
    db = sqlite3.connect(a)
    got = db.execute("SELECT typeof(n), n, typeof(b), b, ts, tz, d FROM t WHERE id = 2").fetchone()
    assert got == ("integer", 5, "integer", 1, "2025-03-30 02:30:00.000001",
                   "2025-03-30 01:59:59.999999", "2025-03-30")
    assert db.execute("SELECT typeof(n), n FROM t WHERE id = 4").fetchone() == ("real", 100.01)
    types = dict(db.execute("SELECT name, type FROM pragma_table_info('t')").fetchall())
    assert types == {"id": "INTEGER", "i": "INTEGER", "s": "INTEGER", "n": "NUMERIC(12,2)",
                     "dd": "DECIMAL(10,4)", "f": "REAL", "r": "REAL", "b": "BOOLEAN", "d": "DATE",
                     "ts": "TIMESTAMP", "tz": "TIMESTAMPTZ", "t": "TEXT", "v": "TEXT"}
    db.close()
    # identical tables: nothing moves, in either direction and on both sides
    for p in ("pg_to_a", "a_to_b", "a_to_c"):
        for strategy in ("full", "hash"):
            r = run_ok(synctool, root, "run", "--job-name", p, "--strategy", strategy)
            assert "0 inserted, 0 updated, 0 deleted" in r.out + r.err, (p, strategy, r)
            if strategy == "hash" and p != "a_to_b":
                # every row's digest (colhash-v2: PostgreSQL's hashes in SQL,
                # SQLite's in C) agreed: no row had to be read to compare
                assert "sync done: 0 read," in r.out + r.err, (p, r)


def test_hash_moves_exactly_the_changed_rows(synctool, battery, pg_server, schema):
    root = battery
    for p in ("pg_to_a", "a_to_c"):
        run_ok(synctool, root, "ddl", "apply", p)
        run_ok(synctool, root, "run", "--job-name", p, "--strategy", "full")
    rnd = random.Random(12)
    ids = [r[0] for r in ROWS]
    deleted = rnd.sample(ids, 7)
    updated = rnd.sample([i for i in ids if i not in deleted], 11)
    stmts = [f'DELETE FROM "{schema}".ref WHERE id IN ({", ".join(map(str, deleted))})']
    changes = ["n = coalesce(n, 0) + 0.01", "b = NOT coalesce(b, false)",
               "tz = coalesce(tz, now()) + interval '1 microsecond'", "t = coalesce(t, '') || 'ü'",
               "f = coalesce(f, 1) * 3", "d = coalesce(d, '2000-01-01') + 1",
               "ts = coalesce(ts, '2000-01-01') + interval '1 second'", "dd = coalesce(dd, 1) + 1",
               "n = coalesce(n, 0) - 1", "r = coalesce(r, 0) + 1", "v = coalesce(v, '') || 'z'"]
    for k, i in enumerate(updated):
        stmts.append(f'UPDATE "{schema}".ref SET {changes[k % len(changes)]} WHERE id = {i}')
    new = [tuple([1000 + k] + list(ROWS[1 + k % 9][1:])) for k in range(5)]
    pg_server.psql("SET TimeZone = 'UTC'; " + "; ".join(stmts), dbname=pg_server.dbname)
    pg_server.psql(f'SET TimeZone = \'UTC\'; INSERT INTO "{schema}".ref VALUES ' +
                   ", ".join("(" + ", ".join(lit(v) for v in r) + ")" for r in new),
                   dbname=pg_server.dbname)
    r = run_ok(synctool, root, "run", "--job-name", "pg_to_a", "--strategy", "hash")
    assert f"5 inserted, 11 updated, 7 deleted" in r.out + r.err, r
    r = run_ok(synctool, root, "run", "--job-name", "a_to_c", "--strategy", "hash")
    assert f"5 inserted, 11 updated, 7 deleted" in r.out + r.err, r
    want = answers_pg(pg_server, f'"{schema}".ref')
    assert_same_answers(want, answers_sqlite(root / "data" / "a.db"), "after hash PostgreSQL -> SQLite")
    assert pg_table_rows(pg_server, schema, "c") == pg_table_rows(pg_server, schema, "ref")
    for p in ("pg_to_a", "a_to_c"):
        r = run_ok(synctool, root, "run", "--job-name", p, "--strategy", "hash")
        assert "0 inserted, 0 updated, 0 deleted" in r.out + r.err, r


def mixed_value(k, name, v):
    """The logical value as a hand-made SQLite table might hold it."""
    if v is None:
        return None
    if name in ("n", "dd"):
        return [v, float(v), v + "0" if "." in v else v][k % 3]
    if name == "b":
        return [v, int(v), "true" if v else "false", "t" if v else "f"][k % 4]
    if name == "tz" and k % 2:
        return v.replace(" ", "T").replace("+00", "Z")
    if name == "ts" and k % 2 == 0 and "." not in v:
        return int(subprocess.run(["date", "-u", "-d", v, "+%s"], capture_output=True,
                                  text=True, check=True).stdout)
    if name == "f" and k % 2:
        return repr(v)
    if name == "r":  # what a PostgreSQL real holds: the value rounded to float4
        return struct.unpack("f", struct.pack("f", v))[0]
    return v


def test_sqlite_source_in_any_storage_class_reaches_postgres_typed(synctool, tmp_path, pg_server, schema):
    make_ref(pg_server, schema, rows=FIXED)
    (tmp_path / "data").mkdir()
    m = sqlite3.connect(tmp_path / "data" / "m.db")
    decl = {"n": "NUMERIC", "dd": "TEXT", "b": "BOOLEAN", "tz": "TEXT", "ts": "DATETIME", "f": "TEXT"}
    m.execute("CREATE TABLE t (" + ", ".join(f"{n} {decl.get(n, '')}" for n in NAMES) + ")")
    for k, row in enumerate(FIXED):
        m.execute(f"INSERT INTO t VALUES ({', '.join('?' * len(NAMES))})",
                  [mixed_value(k, n, v) for n, v in zip(NAMES, row)])
    m.commit()
    classes = {r[0] for r in m.execute("SELECT typeof(n) || typeof(b) || typeof(ts) FROM t")}
    assert len(classes) > 3  # really mixed
    m.close()
    ds = ("  m: {type: sqlite, path: data/m.db}\n  s: {type: sqlite, path: data/s.db}\n"
          + pg_ds(pg_server, "pg"))
    write_pipeline(tmp_path, "m_to_d", "{datastore: m, table: t}",
                   f"{{datastore: pg, schema: {schema}, table: d}}", ds)
    write_pipeline(tmp_path, "m_to_s", "{datastore: m, table: t}", "{datastore: s, table: t}", ds)
    run_ok(synctool, tmp_path, "ddl", "apply", "m_to_d")
    run_ok(synctool, tmp_path, "run", "--job-name", "m_to_d", "--strategy", "full")
    assert pg_table_rows(pg_server, schema, "d") == pg_table_rows(pg_server, schema, "ref")
    r = run_ok(synctool, tmp_path, "run", "--job-name", "m_to_d", "--strategy", "hash")
    assert "0 inserted, 0 updated, 0 deleted" in r.out + r.err, r
    assert "sync done: 0 read," in r.out + r.err, r   # digests agree from any storage class
    # SQLite -> SQLite runs inside SQLite: the same conversions, counted right
    run_ok(synctool, tmp_path, "ddl", "apply", "m_to_s")
    r = run_ok(synctool, tmp_path, "run", "--job-name", "m_to_s", "--strategy", "full")
    assert f"{len(FIXED)} inserted, 0 updated, 0 deleted" in r.out + r.err, r
    assert_same_answers(answers_pg(pg_server, f'"{schema}".ref'),
                        answers_sqlite(tmp_path / "data" / "s.db"), "mixed SQLite -> SQLite")
    for strategy in ("full", "hash"):
        r = run_ok(synctool, tmp_path, "run", "--job-name", "m_to_s", "--strategy", strategy)
        assert "0 inserted, 0 updated, 0 deleted" in r.out + r.err, (strategy, r)
    m = sqlite3.connect(tmp_path / "data" / "m.db")
    m.execute("UPDATE t SET dd = '-0.00010' WHERE id = 2")     # same value, other spelling
    m.execute("UPDATE t SET b = 'f', tz = '2025-03-30T01:00:00.000001Z' WHERE id = 3")  # the same
    m.execute("UPDATE t SET t = 'changed' WHERE id = 4")
    m.execute("DELETE FROM t WHERE id = 5")
    m.commit()
    m.close()
    r = run_ok(synctool, tmp_path, "run", "--job-name", "m_to_s", "--strategy", "full")
    assert "0 inserted, 1 updated, 1 deleted" in r.out + r.err, r


def test_migrate_table_made_by_previous_version(synctool, tmp_path, pg_server, schema):
    make_ref(pg_server, schema)
    ds = "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "pg")
    write_pipeline(tmp_path, "pg_to_a", f"{{datastore: pg, schema: {schema}, table: ref}}",
                   "{datastore: a, table: t}", ds)
    # the previous version: INTEGER / REAL / TEXT, canonical text of then
    old_type = {"bigint": "INTEGER", "integer": "INTEGER", "smallint": "INTEGER",
                "double precision": "REAL", "real": "REAL"}
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    db.execute("CREATE TABLE t (" + ", ".join(
        f'"{n}" {old_type.get(t, "TEXT")}{" NOT NULL" if n == "id" else ""}' for n, t, _ in COLS) +
        ', PRIMARY KEY ("id"))')
    db.execute("CREATE INDEX t_by_tz ON t (tz)")
    old = pg_rows(pg_server, "SELECT id, i, s, trim_scale(n)::text, trim_scale(dd)::text, f, r::float8, "
                  "CASE WHEN b THEN 't' WHEN NOT b THEN 'f' END, d::text, "
                  "to_char(ts, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
                  "to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                  f'FROM "{schema}".ref ORDER BY id', raw=True)
    by_id = {r[0]: r for r in ROWS}
    for row in old:  # psql's text of the typed columns; the text columns from ROWS
        vals = [None if c == "" else c for c in row] + list(by_id[int(row[0])][11:])
        db.execute(f"INSERT INTO t VALUES ({', '.join('?' * len(NAMES))})", vals)
    db.commit()
    assert db.execute("SELECT count(*) FROM t WHERE n > 100").fetchone()[0] != \
        int(pg_server.psql(f'SELECT count(*) FROM "{schema}".ref WHERE n > 100', dbname=pg_server.dbname))
    db.close()
    # a run still works on the old table (it reads every spelling), and says so
    r = run_ok(synctool, tmp_path, "run", "--job-name", "pg_to_a", "--strategy", "full")
    assert "0 inserted, 0 updated, 0 deleted" in r.out + r.err, r
    assert "column 'n' of table main.t is TEXT, as earlier versions made it" in r.err, r
    assert "synctool ddl apply pg_to_a --migrate" in r.err
    r = synctool("ddl", "apply", "pg_to_a", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "column 'n'" in r.err and "earlier synctool versions" in r.err
    assert "synctool ddl apply pg_to_a --migrate" in r.err and "NUMERIC(12,2)" in r.err
    r = run_ok(synctool, tmp_path, "ddl", "apply", "pg_to_a", "--migrate")
    assert f"{len(ROWS)} rows kept" in r.err, r
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == len(ROWS)
    assert [r[1] for r in db.execute("PRAGMA index_list('t')") if r[1] == "t_by_tz"] == ["t_by_tz"]
    db.close()
    want = answers_pg(pg_server, f'"{schema}".ref')
    assert_same_answers(want, answers_sqlite(tmp_path / "data" / "a.db"), "migrated")
    # the migrated rows already equal the source's: nothing to transfer
    r = run_ok(synctool, tmp_path, "run", "--job-name", "pg_to_a", "--strategy", "full")
    assert "0 inserted, 0 updated, 0 deleted" in r.out + r.err, r
    r = run_ok(synctool, tmp_path, "ddl", "apply", "pg_to_a", "--migrate")
    assert "nothing to migrate" in r.err


def test_ddl_accepts_equivalent_types_and_names_a_mismatch(synctool, tmp_path, pg_server, schema):
    make_ref(pg_server, schema, rows=FIXED)
    ds = "  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "pg")
    write_pipeline(tmp_path, "pg_to_a", f"{{datastore: pg, schema: {schema}, table: ref}}",
                   "{datastore: a, table: t}", ds)
    equivalent = {"id": "INTEGER", "i": "INT", "s": "NUMERIC", "n": "NUMERIC", "dd": "DECIMAL(10,4)",
                  "f": "DOUBLE", "r": "FLOAT", "b": "BOOL", "d": "TEXT", "ts": "DATETIME",
                  "tz": "TIMESTAMP WITH TIME ZONE", "t": "TEXT", "v": "VARCHAR(20)"}
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    db.execute("CREATE TABLE t (" + ", ".join(f"{n} {equivalent[n]}" for n in NAMES) +
               ", PRIMARY KEY (id))")
    db.close()
    r = run_ok(synctool, tmp_path, "ddl", "apply", "pg_to_a")
    assert "up to date" in r.err
    run_ok(synctool, tmp_path, "run", "--job-name", "pg_to_a", "--strategy", "full")
    assert_same_answers(answers_pg(pg_server, f'"{schema}".ref'),
                        answers_sqlite(tmp_path / "data" / "a.db"), "hand-made equivalent table")
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    db.execute("ALTER TABLE t RENAME TO t_old")
    db.execute("CREATE TABLE t (" + ", ".join(
        f"{n} {'BLOB' if n == 'ts' else equivalent[n]}" for n in NAMES) + ", PRIMARY KEY (id))")
    db.close()
    r = synctool("ddl", "apply", "pg_to_a", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "column 'ts'" in r.err and "BLOB" in r.err and "timestamp" in r.err
    assert "TIMESTAMP" in r.err and "--migrate" in r.err


def test_validate_and_ddl_warn_about_wide_numerics(synctool, tmp_path):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n  a: {type: sqlite, path: a.db}\n  b: {type: sqlite, path: b.db}\n")
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "name: p\nsource: {datastore: a, table: t}\ndestination: {datastore: b, table: t}\n"
        "columns:\n  - {name: id, type: bigint, key: true}\n  - {name: big, type: \"numeric(30,6)\"}\n"
        "  - {name: ok, type: \"numeric(15,2)\"}\n  - {name: free, type: numeric}\n"
        "strategies:\n  - {name: full, type: full}\n")
    r = synctool("validate", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "warning" in r.err and "column 'big' (numeric(30,6))" in r.err
    assert "column 'free' (numeric)" in r.err and "column 'ok'" not in r.err
    assert "15 significant digits" in r.err and "type text" in r.err
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    assert "column 'big' (numeric(30,6))" in r.err


def test_quickstart_copy_answers_like_its_source(tmp_path):
    """examples/quickstart/run asks source and copy the same questions and
    fails when they disagree; `where total > 100` is one of them."""
    import shutil
    from conftest import BIN
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    qs = tmp_path / "quickstart"
    shutil.copytree(os.path.join(root, "examples", "quickstart"), qs,
                    ignore=shutil.ignore_patterns("data", ".synctool"))
    r = subprocess.run(["bash", str(qs / "run")], env=dict(os.environ, SYNCTOOL=BIN),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("+ SELECT count(*) FROM orders WHERE total > 100\n  source: 1\n  copy:   1\n"
            in r.stdout), r.stdout


def test_what_sqlite_cannot_hold_is_re_sent_from_postgres_only(synctool, tmp_path, pg_server, schema):
    """docs/configuration.md, "Decimals of more than 15 significant digits"
    and "Floats in SQLite": PostgreSQL's -0 and a 20-digit decimal become 0
    and the nearest REAL in SQLite, so PostgreSQL -> SQLite full and hash
    update those rows on every run (and only those); Infinity is a REAL
    infinity and compares equal. SQLite -> PostgreSQL moves nothing again:
    PostgreSQL keeps what SQLite sends exactly."""
    pg_server.psql(f'CREATE TABLE "{schema}".w (id bigint PRIMARY KEY, n numeric(30,2), '
                   f'f double precision); INSERT INTO "{schema}".w VALUES '
                   "(1, 12345678901234567890.12, 1), (2, 1.5, '-0'), (3, 2.5, 'Infinity'), "
                   "(4, -3, '-Infinity'), (5, 100.25, 0.1)", dbname=pg_server.dbname)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "datastores.yaml").write_text(
        "datastores:\n  a: {type: sqlite, path: data/a.db}\n" + pg_ds(pg_server, "pg"))
    cols = ("columns:\n  - {name: id, type: bigint, key: true}\n"
            "  - {name: n, type: \"numeric(30,2)\"}\n  - {name: f, type: double precision}\n"
            "strategies:\n  - {name: full, type: full}\n  - {name: hash, type: hash}\n")
    (tmp_path / "pipelines" / "down.yaml").write_text(
        f"name: down\nsource: {{datastore: pg, schema: {schema}, table: w}}\n"
        f"destination: {{datastore: a, table: w}}\n" + cols)
    (tmp_path / "pipelines" / "up.yaml").write_text(
        f"name: up\nsource: {{datastore: a, table: w}}\n"
        f"destination: {{datastore: pg, schema: {schema}, table: back}}\n" + cols)
    r = run_ok(synctool, tmp_path, "ddl", "apply", "down")
    assert "column 'n' (numeric(30,2))" in r.err and "15 significant digits" in r.err
    r = run_ok(synctool, tmp_path, "run", "--job-name", "down", "--strategy", "full")
    assert "5 inserted, 0 updated, 0 deleted" in r.out + r.err, r
    db = sqlite3.connect(tmp_path / "data" / "a.db")
    got = db.execute("SELECT id, typeof(n), n, typeof(f), f FROM w ORDER BY id").fetchall()
    db.close()
    assert got[0] == (1, "real", 1.2345678901234567e19, "real", 1.0)
    assert got[1][3:] == ("real", 0.0) and struct.pack(">d", got[1][4])[0] == 0  # sign lost
    assert got[2][3:] == ("real", float("inf")) and got[3][3:] == ("real", float("-inf"))
    for strategy in ("full", "hash", "hash"):
        r = run_ok(synctool, tmp_path, "run", "--job-name", "down", "--strategy", strategy)
        assert "0 inserted, 2 updated, 0 deleted" in r.out + r.err, (strategy, r)   # ids 1, 2
    run_ok(synctool, tmp_path, "ddl", "apply", "up")
    r = run_ok(synctool, tmp_path, "run", "--job-name", "up", "--strategy", "full")
    assert "5 inserted, 0 updated, 0 deleted" in r.out + r.err, r
    for strategy in ("full", "hash"):
        r = run_ok(synctool, tmp_path, "run", "--job-name", "up", "--strategy", strategy)
        assert "0 inserted, 0 updated, 0 deleted" in r.out + r.err, (strategy, r)
    assert pg_rows(pg_server, f'SELECT trim_scale(n)::text, f::text FROM "{schema}".back ORDER BY id', raw=True) == [
        ("12345678901234567000", "1"), ("1.5", "0"), ("2.5", "Infinity"), ("-3", "-Infinity"),
        ("100.25", "0.1")]
