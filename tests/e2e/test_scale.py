"""End-to-end scale tier (issue 20): real sizes, with progress on.

Every engine pair (SQLite, PostgreSQL, MySQL as source and as destination:
9 pairs) copies a 2,000,000-row table with `--progress-interval 1`, so
progress updates (and their row estimate) happen while the source's read
stream is open — the case that used to fail ("reading rows: no COPY in
progress", an empty "reading rows: ", "Commands out of sync"). Per pair, in
order, each run followed by a comparison of the two tables:
  1. full into an empty destination (PostgreSQL -> PostgreSQL: binary COPY;
     SQLite -> SQLite: the local path; otherwise the text stream);
  2. full into a full destination with some rows changed, deleted and one
     added (the merge with upserts and deletes);
  3. delta (no watermark yet: every row read in pages, upserted) after
     changes and deletes;
  4. hash after changes, deletes and an added row.
Three pairs also read through a source filter and an expression column
(test_scale_computed_and_filtered: full, delta, hash at 2M rows).
Step 1 runs under a pseudo-terminal (Python's pty) when the destination is
SQLite, step 2 when it is PostgreSQL (so each source engine runs under a pty
twice); the other runs are off a terminal (log lines). Plus one scheduled
run (PostgreSQL -> PostgreSQL into an empty table) through
`scheduler --once`.

The table is wide-ish (bigint key, int, numeric(12,2), text, timestamp, a
nullable bigint) so the text paths convert every kind they commonly meet.
Tables are compared by an order-independent checksum each database
computes itself (count, sums of each column, of the label lengths and of
the timestamps' seconds), not by synctool.

Budget: sources are generated inside the databases (generate_series,
MariaDB's sequence engine, a recursive CTE), once per module, and shared;
the servers run with fsync off (tests/harness/servers.py). This tier runs
the release binary (build/synctool; override with SYNCTOOL_SCALE_BIN): the
ASan build is several times slower at this size and the ASan build's
correctness is covered by the rest of the suite. SYNCTOOL_SCALE_ROWS
changes the size (development only). Nothing here measures or asserts a
duration (each step's time is printed with -s). Measured on the 2-core CI
machine shared with other jobs: the tier 7 min 38 s on its own (sources
generated, 9 pairs x 4 runs, the scheduled run); the whole `make test` with
it 13 min 6 s.
"""
import os
import pty
import select
import sqlite3
import subprocess
import time
import uuid
from decimal import Decimal

import pytest

from conftest import ROOT

N = int(os.environ.get("SYNCTOOL_SCALE_ROWS", "2000000"))
SBIN = os.environ.get("SYNCTOOL_SCALE_BIN", os.path.join(ROOT, "build", "synctool"))
ENGINES = ["sqlite", "postgres", "mysql"]
TIMEOUT = 900

COLUMNS = ("columns:\n"
           "  - {name: id, type: bigint, key: true}\n"
           "  - {name: n, type: integer}\n"
           "  - {name: amount, type: \"numeric(12,2)\"}\n"
           "  - {name: label, type: text}\n"
           "  - {name: at, type: timestamp}\n"
           "  - {name: opt, type: bigint}\n")


# --- sources: generated once per module inside each database ---------------

@pytest.fixture(scope="module")
def pg_source(pg_server):
    schema = "scale_src_" + uuid.uuid4().hex[:8]
    pg_server.psql(
        f'CREATE SCHEMA "{schema}"; '
        f'CREATE TABLE "{schema}".big (id bigint PRIMARY KEY, n integer, '
        f'amount numeric(12,2), label text, at timestamp NOT NULL, opt bigint); '
        f'INSERT INTO "{schema}".big SELECT g, g % 1000, (g % 100000) / 100.0, '
        f"'label-' || g, timestamp '2025-01-01' + g * interval '1 second', "
        f'CASE WHEN g % 7 = 0 THEN NULL ELSE g END FROM generate_series(1, {N}) g; '
        f'CREATE INDEX ON "{schema}".big (at, id); ANALYZE "{schema}".big',
        dbname=pg_server.dbname)
    yield schema
    pg_server.psql(f'DROP SCHEMA "{schema}" CASCADE', dbname=pg_server.dbname)


@pytest.fixture(scope="module")
def mysql_source(mysql_server):
    db = "scale_src_" + uuid.uuid4().hex[:8]
    mysql_server.sql(
        f"CREATE DATABASE {db}; "
        f"CREATE TABLE {db}.big (id bigint NOT NULL PRIMARY KEY, n int, amount decimal(12,2), "
        f"label text, at datetime(6) NOT NULL, opt bigint, KEY big_at (at, id)); "
        f"INSERT INTO {db}.big SELECT seq, seq % 1000, (seq % 100000) / 100, "
        f"CONCAT('label-', seq), TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq SECOND, "
        f"IF(seq % 7 = 0, NULL, seq) FROM seq_1_to_{N}; ANALYZE TABLE {db}.big")
    yield db
    mysql_server.sql(f"DROP DATABASE {db}")


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "src.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, n INTEGER, amount NUMERIC, "
               "label TEXT, at TEXT NOT NULL, opt INTEGER)")
    db.execute(f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {N}) "
               "INSERT INTO big SELECT g, g % 1000, (g % 100000) / 100.0, 'label-' || g, "
               "datetime('2025-01-01', '+' || g || ' seconds'), "
               "CASE WHEN g % 7 = 0 THEN NULL ELSE g END FROM s")
    db.execute("CREATE INDEX big_at ON big (at, id)")
    db.commit()
    db.close()
    return path


@pytest.fixture
def sources(request):
    """Only the sources a test needs are generated (by name, lazily)."""
    def get(engine):
        return request.getfixturevalue(
            {"sqlite": "sqlite_source", "postgres": "pg_source", "mysql": "mysql_source"}[engine])
    return get


# --- one side: its datastore, its SQL ---------------------------------------

class Side:
    """A table `big` in one datastore: its config and the database's own SQL."""

    def __init__(self, engine, name, where, pg=None, my=None):
        self.engine, self.name, self.where, self.pg, self.my = engine, name, where, pg, my

    def datastore(self):
        if self.engine == "sqlite":
            return f"  {self.name}: {{type: sqlite, path: {self.where}}}\n"
        if self.engine == "postgres":
            p = self.pg
            return (f"  {self.name}: {{type: postgres, connection: {{host: {p.host}, "
                    f"port: {p.port}, user: {p.user}, password: \"{p.password}\", "
                    f"dbname: {p.dbname}}}}}\n")
        m = self.my
        return (f"  {self.name}: {{type: mysql, connection: {{host: {m.host}, port: {m.port}, "
                f"user: {m.user}, password: \"{m.password}\", dbname: {self.where}}}}}\n")

    def ref(self):
        schema = f", schema: {self.where}" if self.engine == "postgres" else ""
        return f"{{datastore: {self.name}{schema}, table: big}}"

    def table(self):
        return f'"{self.where}".big' if self.engine == "postgres" else "big"

    def sql(self, text):
        if self.engine == "sqlite":
            db = sqlite3.connect(self.where)
            try:
                rows = db.execute(text).fetchall()
                db.commit()
            finally:
                db.close()
            return rows
        if self.engine == "postgres":
            out = self.pg.psql(text, dbname=self.pg.dbname)
        else:
            out = self.my.sql(text, dbname=self.where)
        return [tuple(line.split("|" if self.engine == "postgres" else "\t"))
                for line in out.splitlines() if line]

    def checksum(self):
        t = self.table()
        seconds = {
            "postgres": "extract(epoch from at - timestamp '2025-01-01')::bigint",
            "mysql": "timestampdiff(SECOND, '2025-01-01 00:00:00', at)",
            "sqlite": "strftime('%s', at) - strftime('%s', '2025-01-01 00:00:00')",
        }[self.engine]
        cents = {"postgres": "(amount * 100)::bigint", "mysql": "amount * 100",
                 "sqlite": "CAST(round(amount * 100) AS INTEGER)"}[self.engine]
        length = "char_length(label)" if self.engine == "mysql" else "length(label)"
        row = self.sql(f"SELECT count(*), sum(id), sum(n), sum({cents}), sum({length}), "
                       f"count(opt), sum(opt), sum({seconds}) FROM {t}")[0]
        return tuple(int(Decimal(str(v))) if v not in (None, "", "NULL") else None for v in row)

    def damage(self, add=True):
        """Changes ~20 rows, deletes ~20 and (add) inserts one the source lacks."""
        t = self.table()
        stmts = [f"UPDATE {t} SET n = n + 1, label = 'changed' WHERE id % 100003 = 5",
                 f"DELETE FROM {t} WHERE id % 100003 = 7"]
        if add:
            stmts.append(f"INSERT INTO {t} (id, n, amount, label, at, opt) VALUES "
                         f"({N + 10}, 1, 1.25, 'extra', '2030-01-01 00:00:00', NULL)")
        if self.engine == "sqlite":
            for s in stmts:
                self.sql(s)
        else:
            self.sql("; ".join(stmts))


def source_side(engine, sources, pg_server, mysql_server):
    where = sources(engine)
    return Side(engine, "src", str(where), pg=pg_server, my=mysql_server)


@pytest.fixture
def dest(request, tmp_path, pg_server, mysql_server):
    """A fresh, empty destination of the test's engine (created by ddl apply)."""
    made = []

    def make(engine):
        if engine == "sqlite":
            return Side(engine, "dst", str(tmp_path / "dst.db"))
        name = "scale_dst_" + uuid.uuid4().hex[:8]
        if engine == "postgres":
            pg_server.psql(f'CREATE SCHEMA "{name}"', dbname=pg_server.dbname)
            made.append(lambda: pg_server.psql(f'DROP SCHEMA "{name}" CASCADE',
                                               dbname=pg_server.dbname))
        else:
            mysql_server.sql(f"CREATE DATABASE {name}")
            made.append(lambda: mysql_server.sql(f"DROP DATABASE {name}"))
        return Side(engine, "dst", name, pg=pg_server, my=mysql_server)
    yield make
    for drop in made:
        drop()


def write_config(root, src, dst):
    # SQLite orders a timestamp cursor by its canonical text (an expression,
    # store_sqlite.c sq_order_term), which no index serves: every delta page
    # would sort the whole table. A SQLite source's delta follows the key.
    cursor = "id" if src.engine == "sqlite" else "at"
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "datastores.yaml").write_text("datastores:\n" + src.datastore() + dst.datastore())
    (root / "pipelines" / "p.yaml").write_text(
        f"name: p\nsource: {src.ref()}\ndestination: {dst.ref()}\n" + COLUMNS +
        "strategies:\n"
        "  - {name: full, type: full}\n"
        f"  - {{name: delta, type: delta, cursor: {cursor}}}\n"
        "  - {name: hash, type: hash}\n"
        "  - {name: nightly, type: full, cron: \"0 2 * * *\"}\n")


# --- running the release binary ----------------------------------------------

def synctool(root, *args):
    p = subprocess.run([SBIN, "--config-dir", str(root)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return p.returncode, p.stderr


def synctool_on_pty(root, *args):
    """Runs with stderr on a pseudo-terminal: the progress line is live."""
    master, slave = pty.openpty()
    p = subprocess.Popen([SBIN, "--config-dir", str(root)] + [str(a) for a in args],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], TIMEOUT)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=TIMEOUT)
    os.close(master)
    return p.returncode, out.decode(errors="replace")


def run(root, strategy, on_pty=False):
    args = ["run", "p", "--strategy", strategy, "--progress-interval", "1"]
    t0 = time.monotonic()
    rc, err = synctool_on_pty(root, *args) if on_pty else synctool(root, *args)
    assert rc == 0, f"{strategy} (pty={on_pty}) exited {rc}:\n{err[-3000:]}"
    print(f"  {strategy}{' (pty)' if on_pty else ''}: {time.monotonic() - t0:.1f}s")
    return err


def assert_same(src, dst, what):
    a, b = src.checksum(), dst.checksum()
    assert a[0] == N, (what, a)
    assert a == b, f"{what}: source {a} != destination {b}"


PAIRS = [(s, d) for s in ENGINES for d in ENGINES]


@pytest.mark.parametrize("src_engine,dst_engine", PAIRS, ids=[f"{s}-to-{d}" for s, d in PAIRS])
def test_scale_pair(tmp_path, sources, dest, pg_server, mysql_server, src_engine, dst_engine):
    started = time.monotonic()
    src = source_side(src_engine, sources, pg_server, mysql_server)
    dst = dest(dst_engine)
    write_config(tmp_path, src, dst)
    rc, err = synctool(tmp_path, "ddl", "apply", "p")
    assert rc == 0, err

    run(tmp_path, "full", on_pty=dst_engine == "sqlite")
    assert_same(src, dst, "full into empty")

    dst.damage()
    err = run(tmp_path, "full", on_pty=dst_engine == "postgres")
    assert_same(src, dst, "full into a full table")

    dst.damage(add=False)
    run(tmp_path, "delta")
    assert_same(src, dst, "delta")

    dst.damage()
    run(tmp_path, "hash")
    assert_same(src, dst, "hash")
    print(f"scale {src_engine} -> {dst_engine}: {time.monotonic() - started:.1f}s")


def test_scale_scheduled_run(tmp_path, sources, dest, pg_server, mysql_server):
    """One 2M-row full run started by `scheduler --once` (the job path)."""
    src = source_side("postgres", sources, pg_server, mysql_server)
    dst = dest("postgres")
    write_config(tmp_path, src, dst)
    rc, err = synctool(tmp_path, "ddl", "apply", "p")
    assert rc == 0, err
    rc, err = synctool(tmp_path, "scheduler", "--once", "--at", "2025-10-15T02:00:00Z")
    assert rc == 0, err[-3000:]
    assert_same(src, dst, "scheduled full")


# --- computed columns and a filter at size (issue 26 item 2) ---------------

FILTER = "id % 10 <> 3"


def computed_sums(side, source):
    """count, sum(id), sum(n), sum(amount in cents) of what the destination
    must hold: on the source, the filtered rows with n + 1; on the
    destination, every row."""
    cents = {"postgres": "(amount * 100)::bigint", "mysql": "amount * 100",
             "sqlite": "CAST(round(amount * 100) AS INTEGER)"}[side.engine]
    n, where = ("n + 1", f" WHERE {FILTER}") if source else ("n", "")
    row = side.sql(f"SELECT count(*), sum(id), sum({n}), sum({cents}) FROM {side.table()}{where}")
    return tuple(int(Decimal(str(v))) for v in row[0])


COMPUTED = [("postgres", "postgres"), ("mysql", "sqlite"), ("sqlite", "mysql")]


@pytest.mark.parametrize("src_engine,dst_engine", COMPUTED,
                         ids=[f"{s}-to-{d}" for s, d in COMPUTED])
def test_scale_computed_and_filtered(tmp_path, sources, dest, pg_server, mysql_server,
                                     src_engine, dst_engine):
    """2M rows read through the derived table a filter and an expression
    column make (store_sb_from): full into empty (under a pty), delta with no
    watermark (keyset pages over the derived table), hash after damage."""
    src = source_side(src_engine, sources, pg_server, mysql_server)
    dst = dest(dst_engine)
    write_config(tmp_path, src, dst)
    p = tmp_path / "pipelines" / "p.yaml"
    text = p.read_text().replace("table: big}\ndestination",
                                 f"table: big, where: \"{FILTER}\"}}\ndestination", 1)
    text = text.replace("{name: n, type: integer}", "{name: n, type: integer, expr: \"n + 1\"}")
    assert "where:" in text and "expr:" in text
    p.write_text(text)
    rc, err = synctool(tmp_path, "ddl", "apply", "p")
    assert rc == 0, err
    want = computed_sums(src, True)
    assert want[0] == N - N // 10
    run(tmp_path, "full", on_pty=True)
    assert computed_sums(dst, False) == want
    dst.damage()
    run(tmp_path, "delta")
    dst.sql(f"DELETE FROM {dst.table()} WHERE id = {N + 10}")  # delta never deletes
    assert computed_sums(dst, False) == want
    dst.damage()
    run(tmp_path, "hash")
    assert computed_sums(dst, False) == want
