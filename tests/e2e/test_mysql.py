"""End-to-end: the MySQL / MariaDB driver through the real binary.

Against the harness's mariadbd (tests/harness/servers.py): the value battery
(NULLs, 4-byte unicode, empty strings, 65-digit and negative decimals,
microsecond datetimes around the 2025 DST changes, unsigned extremes,
binary with NUL bytes, json, enum, set) through MySQL -> PostgreSQL,
PostgreSQL -> MySQL, MySQL -> SQLite and MySQL -> MySQL with every strategy
(full, then delta after updates and inserts, then hash after deletes and
silent updates, then hash again changing nothing); a full run held with
some batches committed (a row lock in a MySQL or PostgreSQL destination, a
named lock in a MySQL source view for SQLite) in each direction, SIGKILLed
and re-run (equal, no duplicates); failures
naming datastore, table, column and key (wrong password, missing table,
value MySQL refuses, zero dates); `ddl apply` / type check on MySQL.

Every compared value is read back with the engines' own clients (mariadb,
psql, Python's sqlite3), text as hex, and normalised in Python: the test
does not trust synctool's canonical form to check synctool.
"""
import datetime
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from decimal import Decimal

import pytest

from conftest import BIN

# name, MySQL source type, config type, normaliser kind
COLS = [
    ("id", "bigint NOT NULL PRIMARY KEY", "bigint", "int"),
    ("flag", "tinyint(1)", "boolean", "bool"),
    ("i", "int", "integer", "int"),
    ("u", "bigint unsigned", "numeric(20)", "int"),
    ("d", "decimal(65,30)", "numeric(65,30)", "dec"),
    ("f", "double", "double precision", "float"),
    ("dt", "date", "date", "date"),
    ("ts", "datetime(6)", "timestamp", "ts"),
    ("tz", "timestamp(6) NULL", "timestamptz", "ts"),
    ("tm", "time(6)", "time", "time"),
    ("s", "varchar(200)", "text", "text"),
    ("b", "varbinary(64)", "bytea", "bytes"),
    ("j", "json", "json", "text"),
    ("e", "enum('a','b','c')", "text", "text"),
    ("st", "set('x','y')", "text", "text"),
    ("updated_at", "datetime(6) NOT NULL", "timestamp", "ts"),
]
NAMES = [c[0] for c in COLS]

# PostgreSQL source types (PostgreSQL -> MySQL)
PG_TYPES = {"id": "bigint PRIMARY KEY", "flag": "boolean", "i": "integer", "u": "numeric(20)",
            "d": "numeric(65,30)", "f": "double precision", "dt": "date", "ts": "timestamp",
            "tz": "timestamptz", "tm": "time", "s": "text", "b": "bytea", "j": "json", "e": "text",
            "st": "text", "updated_at": "timestamp"}

BIGDEC = "-12345678901234567890123456789012345.123456789012345678901234567890"
NINES = "99999999999999999999999999999999999.999999999999999999999999999999"

# One row per dict; missing columns are NULL. Strings are SQL literals
# valid on both engines (no backslashes: NO_BACKSLASH_ESCAPES is not the
# mariadb client's default), bytes given as hex.
BATTERY = [
    {"id": 1, "updated_at": "'2025-01-01 00:00:00'"},
    {"id": 2, "flag": "1", "i": "-2147483648", "u": "18446744073709551615", "d": BIGDEC,
     "f": "-1.5e-7", "dt": "'1999-12-31'", "ts": "'2025-03-30 02:30:00.000001'",
     "tz": "'2025-10-26 00:59:59.999999'", "tm": "'23:59:59.5'",
     "s": "'😀 ünïcødé 漢字 a|b'", "b": "00ff00", "j": "'{\"a\": [1, 2]}'", "e": "'b'",
     "st": "'x,y'", "updated_at": "'2025-01-02 00:00:00.5'"},
    {"id": 3, "flag": "0", "i": "2147483647", "u": "0", "d": "0", "f": "1e20",
     "dt": "'2000-02-29'", "ts": "'1970-01-01 00:00:00'", "tz": "'2038-01-19 03:14:07.999999'",
     "tm": "'00:00:00'", "s": "''", "b": "", "j": "'[]'", "e": "'a'", "st": "''",
     "updated_at": "'2025-01-03 00:00:00'"},
    {"id": 4, "flag": "1", "u": "9223372036854775808", "d": NINES, "f": "0.1",
     "ts": "'2025-10-26 02:30:00.5'", "tz": "'2025-03-30 01:00:00'", "tm": "'12:00:00.000001'",
     "s": "'line1' || CHAR(10) || 'line2' || CHAR(9) || 'tab'", "b": "00",
     "updated_at": "'2025-01-04 00:00:00'"},
    # text that begins with the bytes the MySQL reader once took for its kind marks
    {"id": 5, "s": "CHAR(2) || '5x'", "j": "'\"x\"'", "e": "'a'",
     "updated_at": "'2025-01-05 00:00:01'"},
    {"id": 6, "s": "CHAR(3) || '1.50'", "updated_at": "'2025-01-05 00:00:02'"},
    {"id": -9223372036854775808, "i": "0", "d": "-0.000000000000000000000000000001", "f": "-2.5",
     "s": "'🙂🙃'", "updated_at": "'2025-01-05 00:00:00'"},
] + [
    {"id": 10 + k, "flag": str(k % 2), "i": str(k * 7 - 100), "u": str(2 ** 40 + k),
     "d": f"{k}.{k:03d}", "f": f"{k}.25", "dt": f"'2024-{1 + k % 12:02d}-{1 + k % 28:02d}'",
     "ts": f"'2025-10-26 0{k % 4}:{k % 60:02d}:00.{k:06d}'",
     "tz": f"'2025-03-30 0{k % 4}:{k % 60:02d}:00.{k:06d}'", "tm": f"'{k % 24:02d}:00:01.25'",
     "s": f"'row {k} ✓'", "b": f"{k:02x}00{k:02x}", "j": f"'{{\"k\": {k}}}'",
     "e": "'c'", "st": "'y'", "updated_at": f"'2025-02-01 00:00:{k % 60:02d}.{k:06d}'"}
    for k in range(60)
]


def my_value(col, v, pg=False):
    """The SQL literal for battery value v of col on MySQL (or PostgreSQL)."""
    if v is None:
        return "NULL"
    if col == "b":
        return f"'\\x{v}'::bytea" if pg else f"X'{v}'"
    if pg:
        if col == "flag":
            return "true" if v == "1" else "false"
        if col == "s" and "CHAR(" in v:
            return (v.replace("CHAR(10)", "chr(10)").replace("CHAR(9)", "chr(9)")
                    .replace("CHAR(2)", "chr(2)").replace("CHAR(3)", "chr(3)"))
        if col == "tz" and v != "NULL":
            return v[:-1] + "+00'"
    elif col == "s" and "||" in v:
        return "CONCAT(" + v.replace(" || ", ", ") + ")"
    return str(v)


def row_sql(row, pg=False):
    return "(" + ", ".join(my_value(c, row.get(c), pg) if c != "id" else str(row["id"])
                           for c in NAMES) + ")"


# --- reading back, normalised -------------------------------------------------

def norm(kind, v):
    if v is None:
        return None
    if kind == "int":
        return int(v)
    if kind == "bool":
        return str(v) in ("1", "t", "true")
    if kind == "dec":
        return Decimal(v)
    if kind == "float":
        return float(v)
    if kind == "date":
        return str(v)[:10]
    if kind == "ts":
        s = str(v).replace("T", " ").rstrip("Z")
        if "." not in s:
            s += ".0"
        head, frac = s.split(".")
        return datetime.datetime.fromisoformat(head + "." + frac.ljust(6, "0")[:6])
    if kind == "time":
        hms, _, frac = str(v).partition(".")
        return hms, int(frac.ljust(6, "0")) if frac else 0
    return v


def my_read(my, db, table):
    sel = []
    for name, _, _, kind in COLS:
        q = f"`{name}`"
        if kind in ("text",):
            sel.append(f"HEX({q})")
        elif kind == "bytes":
            sel.append(f"LOWER(HEX({q}))")
        elif kind == "ts":
            sel.append(f"DATE_FORMAT({q}, '%Y-%m-%d %H:%i:%s.%f')")
        elif kind == "time":
            sel.append(f"TIME_FORMAT({q}, '%H:%i:%s.%f')")
        elif kind == "float":
            sel.append(f"CAST({q} AS DOUBLE)")
        else:
            sel.append(f"CAST({q} AS CHAR)")
    out = my.sql(f"SET time_zone = '+00:00'; SELECT {', '.join(sel)} FROM `{db}`.`{table}`")
    return decode_rows(out, hexed=True)


def pg_read(pg, schema, table):
    sel = []
    for name, _, _, kind in COLS:
        q = f'"{name}"'
        if kind == "text":
            sel.append(f"encode(convert_to({q}::text, 'UTF8'), 'hex')")
        elif kind == "bytes":
            sel.append(f"encode({q}, 'hex')")
        elif kind == "ts":
            sel.append(f"to_char({q}{' AT TIME ZONE $$UTC$$' if name == 'tz' else ''}, "
                       f"'YYYY-MM-DD HH24:MI:SS.US')")
        elif kind == "time":
            sel.append(f"to_char({q}::interval, 'HH24:MI:SS.US')")
        elif kind == "bool":
            sel.append(f"CASE WHEN {q} IS NULL THEN NULL WHEN {q} THEN 1 ELSE 0 END")
        else:
            sel.append(f"{q}::text")
    env = dict(os.environ, PGPASSWORD=pg.password)
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-P", "null=NULL", "-v", "ON_ERROR_STOP=1",
         "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-d", pg.dbname,
         "-c", f'SELECT {", ".join(sel)} FROM "{schema}"."{table}"'],
        env=env, check=True, capture_output=True, text=True).stdout
    return decode_rows(out, hexed=True)


def decode_rows(out, hexed):
    rows = {}
    for line in out.splitlines():
        if not line:
            continue
        vals = line.split("\t")
        assert len(vals) == len(COLS), line
        row = []
        for (name, _, _, kind), v in zip(COLS, vals):
            if v == "NULL":
                row.append(None)
            elif kind == "text" and hexed:
                row.append(bytes.fromhex(v).decode("utf-8"))
            elif kind == "bytes":
                row.append(bytes.fromhex(v))
            else:
                row.append(norm(kind, v))
        rows[row[0]] = tuple(row)
    return rows


def sqlite_read(path, table):
    db = sqlite3.connect(path)
    rows = {}
    for r in db.execute(f'SELECT {", ".join(NAMES)} FROM "{table}"'):
        row = []
        for (name, _, _, kind), v in zip(COLS, r):
            if v is None:
                row.append(None)
            elif kind == "bytes":
                assert v.startswith("\\x"), v
                row.append(bytes.fromhex(v[2:]))
            elif kind == "text":
                row.append(v)
            else:
                row.append(norm(kind, v))
        rows[row[0]] = tuple(row)
    db.close()
    return rows


# --- fixtures ---------------------------------------------------------------

@pytest.fixture
def mydb(mysql_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    mysql_server.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    yield name
    mysql_server.sql(f"DROP DATABASE `{name}`")


@pytest.fixture
def pgschema(pg_server):
    name = "e2e_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
    yield name
    pg_server.psql(f'DROP SCHEMA "{name}" CASCADE', dbname=pg_server.dbname)


def my_ds(my, name, db, password=None, extra=""):
    pw = my.password if password is None else password
    return (f"  {name}: {{type: mysql{extra}, connection: {{host: {my.host}, port: {my.port}, "
            f"user: {my.user}, password: \"{pw}\", dbname: {db}}}}}\n")


def pg_ds(pg, name):
    return (f"  {name}: {{type: postgres, connection: {{host: {pg.host}, port: {pg.port}, "
            f"user: {pg.user}, password: \"{pg.password}\", dbname: {pg.dbname}}}}}\n")


def write_config(root, datastores, src, dst, batch=20, cols=None):
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + datastores)
    cols = cols or COLS
    colyaml = "".join(f"  - {{name: {n}, type: \"{t}\"{', key: true' if n == 'id' else ''}}}\n"
                      for n, _, t, _ in cols)
    (root / "pipelines" / "p.yaml").write_text(
        f"name: p\nsource: {src}\ndestination: {dst}\ncolumns:\n{colyaml}"
        "strategies:\n"
        f"  - {{name: full, type: full, batch_size: {batch}}}\n"
        + (f"  - {{name: delta, type: delta, cursor: updated_at, batch_size: {batch}}}\n"
           if any(c[0] == "updated_at" for c in cols) else "")
        + f"  - {{name: hash, type: hash, batch_size: {batch}, segment_rows: 8}}\n"
        "locks: {lease_ttl_seconds: 5}\n")


def my_seed(my, db):
    ddl = ", ".join(f"`{n}` {t}" for n, t, _, _ in COLS)
    my.sql(f"CREATE TABLE `{db}`.src ({ddl}) ENGINE=InnoDB")
    my.sql(f"SET time_zone = '+00:00'; INSERT INTO `{db}`.src VALUES "
           + ", ".join(row_sql(r) for r in BATTERY))


def pg_seed(pg, schema):
    ddl = ", ".join(f'"{n}" {PG_TYPES[n]}' for n in NAMES)
    pg.psql(f'CREATE TABLE "{schema}".src ({ddl}); INSERT INTO "{schema}".src VALUES '
            + ", ".join(row_sql(r, pg=True) for r in BATTERY), dbname=pg.dbname)


def run(synctool, root, strategy, rc=0):
    r = synctool("run", "--job-name", "p", "--strategy", strategy, config_dir=root)
    assert r.rc == rc, r
    return r


# Source changes between the strategies, in each engine's SQL.
def mutate_for_delta(exec_src, pg):
    exec_src("UPDATE {t} SET s = 'changed ✓', updated_at = '2025-06-01 00:00:00' WHERE id = 2")
    exec_src("UPDATE {t} SET u = 18446744073709551614, updated_at = '2025-06-01 00:00:01' "
             "WHERE id = 3")
    exec_src("INSERT INTO {t} (id, s, b, updated_at) VALUES (100, 'new', "
             + ("'\\x0000'::bytea" if pg else "X'0000'") + ", '2025-06-02 00:00:00')")


def mutate_for_hash(exec_src):
    exec_src("DELETE FROM {t} WHERE id IN (3, 15)")
    exec_src("UPDATE {t} SET d = 1.5, s = NULL WHERE id IN (4, 20)")  # cursor unchanged


def check_all_strategies(synctool, root, exec_src, read_src, read_dst, pg_src=False,
                         digests_agree=False):
    r = synctool("ddl", "apply", "p", config_dir=root)
    assert r.rc == 0, r
    run(synctool, root, "full")
    src = read_src()
    assert len(src) == len(BATTERY)
    assert read_dst() == src
    mutate_for_delta(exec_src, pg_src)
    r = run(synctool, root, "delta")   # the first delta reads everything
    assert "1 inserted, 2 updated, 0 deleted" in r.err, r
    assert read_dst() == read_src()
    exec_src("UPDATE {t} SET i = 5, updated_at = '2025-07-01 00:00:00' WHERE id = 10")
    r = run(synctool, root, "delta")   # from the cursor on: one row
    assert "1 read, 0 inserted, 1 updated, 0 deleted" in r.err, r
    assert read_dst() == read_src()
    mutate_for_hash(exec_src)
    r = run(synctool, root, "hash")
    assert "0 inserted, 2 updated, 2 deleted" in r.err, r
    assert read_dst() == read_src()
    r = run(synctool, root, "hash")
    assert "0 inserted, 0 updated, 0 deleted" in r.err, r
    if digests_agree:   # my-native-v1 between MySQL tables: every row's digest agreed
        assert "sync done: 0 read," in r.err, r
    r = run(synctool, root, "full")
    assert "0 inserted, 0 updated, 0 deleted" in r.err, r
    assert read_dst() == read_src()


def test_battery_mysql_to_postgres(synctool, tmp_path, mysql_server, mydb, pg_server, pgschema):
    my_seed(mysql_server, mydb)
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb) + pg_ds(pg_server, "wh"),
                 "{datastore: shop, table: src}",
                 f"{{datastore: wh, schema: {pgschema}, table: dst}}")
    check_all_strategies(
        synctool, tmp_path,
        lambda sql: mysql_server.sql(sql.format(t=f"`{mydb}`.src")),
        lambda: my_read(mysql_server, mydb, "src"),
        lambda: pg_read(pg_server, pgschema, "dst"))


def test_battery_postgres_to_mysql(synctool, tmp_path, mysql_server, mydb, pg_server, pgschema):
    pg_seed(pg_server, pgschema)
    write_config(tmp_path, pg_ds(pg_server, "shop") + my_ds(mysql_server, "wh", mydb),
                 f"{{datastore: shop, schema: {pgschema}, table: src}}",
                 "{datastore: wh, table: dst}")
    check_all_strategies(
        synctool, tmp_path,
        lambda sql: pg_server.psql(sql.format(t=f'"{pgschema}".src'), dbname=pg_server.dbname),
        lambda: pg_read(pg_server, pgschema, "src"),
        lambda: my_read(mysql_server, mydb, "dst"), pg_src=True)
    # the MySQL table `ddl apply` made: InnoDB, utf8mb4, the key as primary key
    out = mysql_server.sql(f"SHOW CREATE TABLE `{mydb}`.dst")
    assert "ENGINE=InnoDB" in out and "utf8mb4" in out and 'PRIMARY KEY (`id`)' in out, out


def test_battery_mysql_to_sqlite(synctool, tmp_path, mysql_server, mydb):
    """SQLite stores numerics as numbers (15 significant digits): the
    20-digit unsigned and the 65-digit decimal travel as text to stay exact
    (docs/configuration.md, SQLite caveats)."""
    my_seed(mysql_server, mydb)
    cols = [(n, t, "text" if n in ("u", "d") else ct, k) for n, t, ct, k in COLS]
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb) +
                 "  lite: {type: sqlite, path: lite.db}\n",
                 "{datastore: shop, table: src}", "{datastore: lite, table: dst}", cols=cols)
    check_all_strategies(
        synctool, tmp_path,
        lambda sql: mysql_server.sql(sql.format(t=f"`{mydb}`.src")),
        lambda: my_read(mysql_server, mydb, "src"),
        lambda: sqlite_read(tmp_path / "lite.db", "dst"))


def test_battery_mysql_to_mysql(synctool, tmp_path, mysql_server, mydb):
    my_seed(mysql_server, mydb)
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb) + my_ds(mysql_server, "wh", mydb),
                 "{datastore: shop, table: src}", "{datastore: wh, table: dst}")
    check_all_strategies(
        synctool, tmp_path,
        lambda sql: mysql_server.sql(sql.format(t=f"`{mydb}`.src")),
        lambda: my_read(mysql_server, mydb, "src"),
        lambda: my_read(mysql_server, mydb, "dst"), digests_agree=True)


# One value changed per step, each the smallest change its type allows or a
# spelling a careless row text would confuse (NULL and 'N', NULL and '',
# '|' moved between neighbouring values, one ulp, one microsecond, the last
# of 65 digits). Each must be found by the MySQL <-> MySQL digest.
SINGLE_CHANGES = [
    ("f = 0.10000000000000002", 4), ("f = -2.5000000000000004", -9223372036854775808),
    ("f = 1.0000000000000002e20", 3), ("f = 0", 1), ("f = NULL", 10),
    ("d = '-0.000000000000000000000000000002'", -9223372036854775808),
    ("d = '99999999999999999999999999999999999.999999999999999999999999999998'", 4),
    ("d = 0.000000000000000000000000000001", 3),
    ("u = 18446744073709551614", 2), ("u = NULL", 11), ("i = NULL", 12), ("i = 0", 1),
    ("flag = 0", 13), ("flag = NULL", 14),
    ("dt = '2000-03-01'", 3), ("ts = '2025-03-30 02:30:00.000002'", 2),
    ("tz = '2038-01-19 03:14:07.999998'", 3), ("tm = '23:59:59.500001'", 2),
    ("tm = NULL", 15), ("s = NULL", 3), ("s = ''", 1), ("s = 'N'", 1),
    ("s = 'p|q', b = X'72'", 16), ("s = 'p', b = X'717C72'", 16),   # "p|q|r" both ways
    ("s = '1:x', b = NULL", 17), ("s = '1', b = X'3A78'", 17),       # "1:x" both ways
    ("b = X'0000'", 4), ("b = NULL", 3), ("j = '[ ]'", 3), ("e = 'c'", 2), ("st = NULL", 3),
    ("updated_at = '2025-01-01 00:00:00.000001'", 1),
]


def test_hash_mysql_to_mysql_finds_every_single_value_change(synctool, tmp_path, mysql_server,
                                                              mydb):
    """my-native-v2 (store_mysql.c): each single change above, made in the
    source alone, is one updated row, and the tables are then equal."""
    my_seed(mysql_server, mydb)
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb) + my_ds(mysql_server, "wh", mydb),
                 "{datastore: shop, table: src}", "{datastore: wh, table: dst}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    run(synctool, tmp_path, "full")
    for change, key in SINGLE_CHANGES:
        mysql_server.sql(f"SET time_zone = '+00:00'; UPDATE `{mydb}`.src SET {change} "
                         f"WHERE id = {key}")
        r = run(synctool, tmp_path, "hash")
        assert "0 inserted, 1 updated, 0 deleted" in r.err, (change, r.err)
        assert my_read(mysql_server, mydb, "dst") == my_read(mysql_server, mydb, "src"), change
    # the same change in two rows of one range: their digests' XOR is not 0
    mysql_server.sql(f"UPDATE `{mydb}`.src SET i = i + 1 WHERE id IN (20, 21)")
    r = run(synctool, tmp_path, "hash")
    assert "0 inserted, 2 updated, 0 deleted" in r.err, r.err
    r = run(synctool, tmp_path, "hash")
    assert "sync done: 0 read, 0 inserted, 0 updated, 0 deleted" in r.err, r.err
    assert my_read(mysql_server, mydb, "dst") == my_read(mysql_server, mydb, "src")


# --- kill mid-run and rerun -------------------------------------------------

class MySleeper:
    """A mariadb client session that runs `sql` and then sleeps, keeping
    what it took (a row lock, a named lock); held() says it is asleep.
    release() ends it with KILL, which rolls back what it did."""

    def __init__(self, my, db, sql):
        self.my = my
        self.proc = subprocess.Popen(
            ["mariadb", "--no-defaults", "-h", my.host, "-P", str(my.port), "-u", my.user, db,
             "-e", sql + "; SELECT SLEEP(600)"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=dict(os.environ, MYSQL_PWD=my.password))
        deadline = time.time() + 60
        while time.time() < deadline and self.proc.poll() is None and not self.ids():
            time.sleep(0.05)
        assert self.ids(), f"the blocker never got to sleep (exit {self.proc.poll()})"

    def ids(self):
        return self.my.sql("SELECT ID FROM information_schema.PROCESSLIST "
                           "WHERE INFO LIKE 'SELECT SLEEP(600)%'").split()

    def release(self):
        for tid in self.ids():
            subprocess.run(["mariadb", "--no-defaults", "-h", self.my.host, "-P",
                            str(self.my.port), "-u", self.my.user, "-e", f"KILL {tid}"],
                           env=dict(os.environ, MYSQL_PWD=self.my.password), capture_output=True)
        self.proc.kill()
        self.proc.wait(60)


class PgRowHold:
    """A psql session that inserted key 30 into SCHEMA.dst without
    committing; release() ends it, which rolls the insert back."""

    def __init__(self, pg, schema):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-h", pg.host, "-p", str(pg.port), "-U", pg.user,
             "-d", pg.dbname], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PGPASSWORD=pg.password))
        self.proc.stdin.write(f'BEGIN; INSERT INTO "{schema}".dst (id, updated_at) '
                              "VALUES (30, '2000-01-01');\n\\echo held\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.strip() == "held", line

    def release(self):
        self.proc.stdin.close()
        self.proc.wait(60)


# Kill mid-run and rerun, per direction: the source and destination
# datastores, and how the run is held with some batches committed. Into
# MySQL or PostgreSQL another session has inserted key 30 into the
# destination without committing, so batches commit in key order up to the
# one holding key 30, which waits. Into SQLite (a database-wide write lock
# would hold every batch), the MySQL source is a view whose rows past key 30
# wait for a named lock (GET_LOCK) the test holds; the rows before it are
# padded past MariaDB's 16 KiB network buffer, so they reach the run, which
# commits their batches and then waits for the next row.
KILL_DIRECTIONS = ["mysql-mysql", "mysql-postgres", "postgres-mysql", "mysql-sqlite"]


def kill_setup(direction, tmp_path, my, mydb, pg, pgschema):
    """Seeds the source, writes the config, applies the DDL; returns
    (read_src, read_dst, count_dst, hold(): the holder)."""
    src_eng, dst_eng = direction.split("-")
    cols = None
    if src_eng == "mysql":
        my_seed(my, mydb)
        src_ds, read_src = my_ds(my, "shop", mydb), (lambda: my_read(my, mydb, "src"))
        src = "{datastore: shop, table: src}"
    else:
        pg_seed(pg, pgschema)
        src_ds, read_src = pg_ds(pg, "shop"), (lambda: pg_read(pg, pgschema, "src"))
        src = f"{{datastore: shop, schema: {pgschema}, table: src}}"
    if dst_eng == "mysql":
        dst_ds, read_dst = my_ds(my, "wh", mydb), (lambda: my_read(my, mydb, "dst"))
        count = lambda: int(my.sql(f"SELECT count(*) FROM `{mydb}`.dst").strip())  # noqa: E731
        hold = lambda: MySleeper(my, mydb, "START TRANSACTION; INSERT INTO dst (id, "  # noqa: E731
                                 "updated_at) VALUES (30, '2000-01-01')")
    elif dst_eng == "postgres":
        dst_ds, read_dst = pg_ds(pg, "wh"), (lambda: pg_read(pg, pgschema, "dst"))
        count = lambda: int(pg.psql(f'SELECT count(*) FROM "{pgschema}".dst',  # noqa: E731
                                    dbname=pg.dbname).strip())
        hold = lambda: PgRowHold(pg, pgschema)  # noqa: E731
    else:
        lite = tmp_path / "lite.db"
        dst_ds, read_dst = "  wh: {type: sqlite, path: lite.db}\n", (lambda: sqlite_read(lite, "dst"))
        cols = [(n, t, "text" if n in ("u", "d") else ct, k) for n, t, ct, k in COLS]
        count = lambda: len(sqlite_read(lite, "dst"))  # noqa: E731
        gate = f"st_gate_{mydb}"
        my.sql(f"UPDATE `{mydb}`.src SET s = REPEAT('😀', 200) WHERE id < 30; "
               f"CREATE VIEW `{mydb}`.src_v AS SELECT * FROM `{mydb}`.src WHERE id < 30 OR "
               f"GET_LOCK('{gate}', 600) + RELEASE_LOCK('{gate}') = 2")
        src = "{datastore: shop, table: src_v}"
        hold = lambda: MySleeper(my, mydb, f"DO GET_LOCK('{gate}', 600)")  # noqa: E731
    dst = (f"{{datastore: wh, schema: {pgschema}, table: dst}}" if dst_eng == "postgres"
           else "{datastore: wh, table: dst}")
    write_config(tmp_path, src_ds + dst_ds, src, dst, batch=10, cols=cols)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    assert subprocess.run([BIN, "--config-dir", str(tmp_path), "ddl", "apply", "p"],
                          env=env).returncode == 0
    return read_src, read_dst, count, hold


@pytest.mark.parametrize("direction", KILL_DIRECTIONS)
def test_kill_held_run_and_rerun(tmp_path, mysql_server, mydb, pg_server, pgschema, direction):
    """A full run is held with some batches committed (kill_setup), SIGKILLed
    there, the hold is let go, and a re-run leaves the tables equal with no
    duplicates."""
    read_src, read_dst, count, hold = kill_setup(direction, tmp_path, mysql_server, mydb,
                                                 pg_server, pgschema)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    base = [BIN, "--config-dir", str(tmp_path)]
    ids = sorted(r["id"] for r in BATTERY)
    # Into MySQL / PostgreSQL: exactly the batches before key 30's. Into
    # SQLite: what MariaDB flushed before the gate, at least one batch.
    before = ids.index(30) // 10 * 10 if not direction.endswith("sqlite") else None
    holder = hold()
    proc = None
    log = open(tmp_path / "run.log", "w")
    try:
        proc = subprocess.Popen(base + ["run", "--job-name", "p", "--strategy", "full"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        committed = -1
        while time.time() < deadline and proc.poll() is None and \
                not (committed == before if before is not None else committed >= 10):
            committed = count()
            time.sleep(0.05)
        assert proc.poll() is None and committed > 0, \
            "the run never waited on the hold: " + (tmp_path / "run.log").read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        held = count()
        assert 0 < held < len(BATTERY) and (before is None or held == before), held
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        log.close()
        holder.release()
    r = subprocess.run(base + ["run", "--job-name", "p", "--strategy", "full",
                               "--lock-timeout", "60", "--table-lock-timeout", "60"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert read_dst() == read_src()
    assert count() == len(BATTERY)


# --- failures name datastore, table, column and key ---------------------------

SMALL = [("id", "bigint NOT NULL PRIMARY KEY", "bigint", "int"),
         ("dt", "date", "date", "date"),
         ("tz", "timestamptz", "timestamptz", "ts")]


def test_wrong_password_fails_naming_datastore(synctool, tmp_path, mysql_server, mydb, pg_server,
                                               pgschema):
    secret = "N0t-The-Password-" + uuid.uuid4().hex[:6]
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb, password=secret) +
                 pg_ds(pg_server, "wh"), "{datastore: shop, table: src}",
                 f"{{datastore: wh, schema: {pgschema}, table: dst}}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = run(synctool, tmp_path, "full", rc=1)
    assert "datastore 'shop' (mysql): cannot connect" in r.err and "Access denied" in r.err, r
    assert secret not in r.err and secret not in r.out


def test_missing_table_fails_naming_it(synctool, tmp_path, mysql_server, mydb, pg_server, pgschema):
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb) + pg_ds(pg_server, "wh"),
                 "{datastore: shop, table: no_such_table}",
                 f"{{datastore: wh, schema: {pgschema}, table: dst}}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = run(synctool, tmp_path, "full", rc=1)
    assert "datastore 'shop'" in r.err and "no_such_table does not exist" in r.err, r


def test_refused_value_fails_naming_column_and_key(synctool, tmp_path, mysql_server, mydb,
                                                   pg_server, pgschema):
    """1960 fits PostgreSQL's timestamptz but not MySQL's TIMESTAMP (1970-2038):
    strict mode refuses it, the run fails naming table, column and key."""
    pg_server.psql(f'CREATE TABLE "{pgschema}".src (id bigint PRIMARY KEY, dt date, tz timestamptz); '
                   f'INSERT INTO "{pgschema}".src SELECT g, DATE \'2020-01-01\', '
                   f"TIMESTAMPTZ '2020-01-01Z' FROM generate_series(1, 50) g; "
                   f"UPDATE \"{pgschema}\".src SET tz = '1960-01-01Z' WHERE id = 37",
                   dbname=pg_server.dbname)
    write_config(tmp_path, pg_ds(pg_server, "shop") + my_ds(mysql_server, "wh", mydb),
                 f"{{datastore: shop, schema: {pgschema}, table: src}}",
                 "{datastore: wh, table: dst}", cols=SMALL)
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = run(synctool, tmp_path, "full", rc=1)
    assert "datastore 'wh' (mysql)" in r.err and "dst" in r.err, r
    assert "tz" in r.err and "id=37" in r.err, r


def test_zero_date_refused_then_read_as_null(synctool, tmp_path, mysql_server, mydb, pg_server,
                                             pgschema):
    mysql_server.sql(f"CREATE TABLE `{mydb}`.src (id bigint PRIMARY KEY, dt date, "
                     f"tz datetime(6)); SET SESSION sql_mode = ''; "
                     f"INSERT INTO `{mydb}`.src VALUES (1, '2020-01-01', '2020-01-01'), "
                     f"(2, '0000-00-00', '2020-01-01'), (3, '2020-01-01', '0000-00-00 00:00:00')")
    cols = [("id", "", "bigint", ""), ("dt", "", "date", ""), ("tz", "", "timestamp", "")]
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb) + pg_ds(pg_server, "wh"),
                 "{datastore: shop, table: src}",
                 f"{{datastore: wh, schema: {pgschema}, table: dst}}", cols=cols)
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = run(synctool, tmp_path, "full", rc=1)
    assert "datastore 'shop' (mysql): column \"dt\" holds the zero date 0000-00-00 in the row " \
           "(2, 0000-00-00, " in r.err, r
    assert "zero_dates: null" in r.err
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb, extra=", zero_dates: null") +
                 pg_ds(pg_server, "wh"), "{datastore: shop, table: src}",
                 f"{{datastore: wh, schema: {pgschema}, table: dst}}", cols=cols)
    run(synctool, tmp_path, "full")
    out = pg_server.psql(f'SELECT id, dt, tz FROM "{pgschema}".dst ORDER BY id',
                         dbname=pg_server.dbname)
    assert out.splitlines() == ["1|2020-01-01|2020-01-01 00:00:00", "2||2020-01-01 00:00:00",
                                "3|2020-01-01|"]
    r = run(synctool, tmp_path, "hash")
    assert "0 inserted, 0 updated, 0 deleted" in r.err, r


def test_ddl_check_refuses_type_change_on_mysql(synctool, tmp_path, mysql_server, mydb, pg_server,
                                                pgschema):
    write_config(tmp_path, pg_ds(pg_server, "shop") + my_ds(mysql_server, "wh", mydb),
                 f"{{datastore: shop, schema: {pgschema}, table: src}}",
                 "{datastore: wh, table: dst}", cols=SMALL)
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 0 and f"wh.{mydb}.dst now matches the config" in r.out, r
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)   # idempotent
    assert r.rc == 0, r
    bad = [SMALL[0], ("dt", "", "text", "text"), SMALL[2]]
    write_config(tmp_path, pg_ds(pg_server, "shop") + my_ds(mysql_server, "wh", mydb),
                 f"{{datastore: shop, schema: {pgschema}, table: src}}",
                 "{datastore: wh, table: dst}", cols=bad)
    r = synctool("ddl", "apply", "p", config_dir=tmp_path)
    assert r.rc == 1, r
    assert "column 'dt'" in r.err and "has type date" in r.err and "longtext" not in r.out, r


def test_check_on_mysql_source_and_destination(synctool, tmp_path, mysql_server, mydb):
    """`check` compares the MySQL source's columns with the config (tinyint(1)
    for boolean, bigint unsigned for numeric(20), datetime for timestamp are
    compatible), finds its primary key, and the MySQL destination made by
    `ddl apply`; a column of the wrong kind is a problem."""
    my_seed(mysql_server, mydb)
    write_config(tmp_path, my_ds(mysql_server, "shop", mydb) + my_ds(mysql_server, "wh", mydb),
                 "{datastore: shop, table: src}", "{datastore: wh, table: dst}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("check", "p", config_dir=tmp_path)
    assert r.rc == 0, r
    assert f"all {len(COLS)} columns present with compatible types" in r.out, r
    assert "the key is a primary key or unique index of the source" in r.out, r
    assert f"destination wh.{mydb}.dst matches the config" in r.out, r
    mysql_server.sql(f"ALTER TABLE `{mydb}`.src MODIFY dt varchar(20)")
    r = synctool("check", "p", config_dir=tmp_path)
    assert r.rc == 1, r
    assert f"column 'dt' of source shop.{mydb}.src is varchar(20), the config says date" in r.out, r
