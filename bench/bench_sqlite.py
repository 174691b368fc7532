#!/usr/bin/env python3
"""SQLite sync benchmarks (issue 12), run by bench/run.

Each figure against a baseline measured in the same run, interleaved
(synctool, baseline, synctool, ...), median of SYNCTOOL_BENCH_REPEAT (5):
  - SQLite -> SQLite full into an empty table  vs  sqlite3 dst.db
    "attach 'src.db' as s; insert into t select * from s.t"      (goal <= 1.5x)
  - SQLite -> PostgreSQL full into an empty table  vs
    sqlite3 -csv src.db 'select ...' | psql -c '\\copy t from stdin csv'  (goal <= 1.2x),
    and pgloader once beside it for reference
  - PostgreSQL -> SQLite full into an empty table  vs
    psql -c '\\copy (select ...) to stdout csv' | sqlite3 dst.db '.import --csv /dev/stdin t'
                                                               (goal <= 1.3x)
  - hash on identical SQLite <-> PostgreSQL tables  vs  count(*) on both sides
  - SQLite -> SQLite delta of CHANGED rows (1%) of the table  vs  sqlite3 dst.db
    "attach 'src.db' as s; insert into t select * from s.t where updated_at > ...
    on conflict (id) do update set ..." of the same rows            (report)
  - SQLite -> SQLite hash with 1% of the rows changed  vs  the (local) full
    into another copy on the same change                             (report)

Rows: SYNCTOOL_BENCH_ROWS (default 1000000), 6 columns (bigint key, bigint,
numeric(14,2), text with NULLs, timestamptz, double precision). The
destination tables are the ones `ddl apply` makes; the baselines write into
the same definitions. Needs the servers from scripts/with-servers and the
release binary in SYNCTOOL_BIN. Reports; never fails on a missed goal.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import Proof, kept, report, save_summary, timed

BIN = os.environ.get("SYNCTOOL_BIN", "build/synctool")
ROWS = int(os.environ.get("SYNCTOOL_BENCH_ROWS", "1000000"))
REPEAT = int(os.environ.get("SYNCTOOL_BENCH_REPEAT", "5"))
PG = {k: os.environ.get("SYNCTOOL_TEST_PG_" + k) for k in
      ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")}
SCHEMA = f"bench_sqlite_{os.getpid()}"
# SYNCTOOL_BENCH_ONLY="s2s,s2s_delta,s2s_hash,s2p,p2s,hash" picks benchmarks (default: all)
ONLY = set(os.environ.get("SYNCTOOL_BENCH_ONLY", "s2s,s2s_delta,s2s_hash,s2p,p2s,hash").split(","))
CHANGED = ROWS // 100   # rows changed per repetition by the delta and hash benchmarks
PGENV = dict(os.environ, PGPASSWORD=PG["PASSWORD"] or "")
COLS = [("id", "bigint"), ("customer_id", "bigint"), ("total", "numeric(14,2)"),
        ("note", "text"), ("updated_at", "timestamptz"), ("ratio", "double precision")]
NAMES = ", ".join(n for n, _ in COLS)


def psql_args(sql):
    return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", PG["HOST"],
            "-p", PG["PORT"], "-U", PG["USER"], "-d", PG["DBNAME"], "-c", sql]


def psql(sql):
    return subprocess.run(psql_args(sql), env=PGENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, env=PGENV, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def sqlite(path, sql):
    return subprocess.run(["sqlite3", path, sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def write_config(root):
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)
    pg = (f"{{type: postgres, connection: {{host: {PG['HOST']}, port: {PG['PORT']}, "
          f"user: {PG['USER']}, password: \"{PG['PASSWORD']}\", dbname: {PG['DBNAME']}}}}}")
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        f.write(f"datastores:\n  src: {{type: sqlite, path: src.db}}\n"
                f"  dst: {{type: sqlite, path: dst.db}}\n  dst2: {{type: sqlite, path: dst2.db}}\n"
                f"  dst3: {{type: sqlite, path: dst3.db}}\n  dst4: {{type: sqlite, path: dst4.db}}\n"
                f"  pg: {pg}\n")
    cols = "".join(f"  - {{name: {n}, type: \"{t}\"{', key: true' if n == 'id' else ''}}}\n"
                   for n, t in COLS)
    pipes = {"s2s": ("{datastore: src, table: t}", "{datastore: dst, table: t}"),
             "s2p": ("{datastore: src, table: t}", f"{{datastore: pg, schema: {SCHEMA}, table: t}}"),
             "p2s": (f"{{datastore: pg, schema: {SCHEMA}, table: src}}", "{datastore: dst2, table: t}"),
             "s2s_h": ("{datastore: src, table: t}", "{datastore: dst3, table: t}"),
             "s2s_f": ("{datastore: src, table: t}", "{datastore: dst4, table: t}")}
    for name, (src, dst) in pipes.items():
        with open(os.path.join(root, "pipelines", f"{name}.yaml"), "w") as f:
            f.write(f"name: {name}\nsource: {src}\ndestination: {dst}\ncolumns:\n{cols}"
                    "strategies:\n  - {name: full, type: full}\n  - {name: hash, type: hash}\n"
                    "  - {name: delta, type: delta, cursor: updated_at}\n")


def synctool(root, *args):
    r = subprocess.run([BIN, "--config-dir", root, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"synctool {' '.join(args)} failed: {r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def make_sqlite_source(path):
    sqlite(path, "CREATE TABLE t (id INTEGER PRIMARY KEY, customer_id INTEGER, "
                 "total NUMERIC(14,2), note TEXT, updated_at TIMESTAMPTZ, ratio REAL); "
                 "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g "
                 f"WHERE i < {ROWS}) INSERT INTO t SELECT i, i % 9973, round(i * 0.37, 2), "
                 "CASE WHEN i % 7 = 0 THEN NULL ELSE 'order note ' || i END, "
                 "datetime(1735689600 + i, 'unixepoch'), i / 3.0 FROM g")


def change_source(src, rep):
    """Changes CHANGED rows spread over the table (every 100th key, shifted
    per repetition): a new total and a cursor newer than any before, so each
    repetition is a real change that delta sees."""
    step = max(ROWS // CHANGED, 1)
    sqlite(src, f"UPDATE t SET total = total + 1, updated_at = datetime({1800000000 + rep * 2 * ROWS} "
                f"+ id, 'unixepoch') WHERE id % {step} = {rep % step}")
    return f"{1800000000 + rep * 2 * ROWS}"


def median_pair(label, ours, base, goal, note="", prove=None):
    """prove = (proof_ours, proof_base): each returns a benchlib.Proof of
    the side that just ran (rows in its target against rows it had to
    leave there); a repetition that fails its proof is left out and named."""
    a, b = [], []
    for _ in range(REPEAT):
        t = ours()
        a.append((t, prove[0]() if prove else Proof(0, 0)))
        t = base()
        b.append((t, prove[1]() if prove else Proof(0, 0)))
    (ta, na), (tb, nb) = kept(a), kept(b)
    ma, mb = statistics.median(ta), statistics.median(tb)
    ratio = ma / mb if mb > 0 else float("inf")
    verdict = "" if goal is None else ("met" if ratio <= goal else "MISSED")
    proof = f" [{na} | {nb}]" if prove else ""
    print(f"{label:<38} {ma:8.2f}s {mb:8.2f}s {ratio:6.2f}x  "
          f"{'<= %.1fx' % goal if goal else '':<8} {verdict} {note}{proof}", flush=True)
    return ma, mb


def rows_in(db, table="t", where=""):
    """A counter of rows in an SQLite file's table (a side's proof)."""
    return lambda: int(sqlite(db, f"SELECT count(*) FROM {table} {where}"))


def pg_rows(table):
    return lambda: int(psql(f'SELECT count(*) FROM "{SCHEMA}".{table}'))


def proof(count, want):
    return lambda: Proof(count(), want() if callable(want) else want)


def main():
    root = tempfile.mkdtemp(prefix="bench_sqlite_")
    try:
        psql(f'CREATE SCHEMA "{SCHEMA}"')
        write_config(root)
        src = os.path.join(root, "src.db")
        dst = os.path.join(root, "dst.db")
        dst2 = os.path.join(root, "dst2.db")
        base = os.path.join(root, "base.db")
        make_sqlite_source(src)
        print(f"{ROWS} rows x 6 columns, median of {REPEAT} interleaved runs; "
              f"{os.cpu_count()} CPUs shared with other work (figures are wall time)")
        print(f"{'benchmark':<38} {'synctool':>9} {'baseline':>9} {'ratio':>7}  goal")

        def fresh_dst(path=dst, pipeline="s2s"):
            for p in (path, path + "-journal", path + "-wal"):
                if os.path.exists(p):
                    os.remove(p)
            synctool(root, "ddl", "apply", pipeline)

        ddl = None

        def s2s():
            fresh_dst()
            return timed(lambda: synctool(root, "run", "--job-name", "s2s", "--strategy", "full"))

        def s2s_base():
            nonlocal ddl
            if os.path.exists(base):
                os.remove(base)
            if ddl is None:
                ddl = sqlite(dst, ".schema t")
            sqlite(base, ddl)
            return timed(lambda: sqlite(base, f"ATTACH '{src}' AS s; "
                                              "INSERT INTO t SELECT * FROM s.t"))
        if "s2s" in ONLY:
            median_pair("SQLite -> SQLite full", s2s, s2s_base, 1.5,
                        prove=(proof(rows_in(dst), ROWS), proof(rows_in(base), ROWS)))
        else:
            fresh_dst()
            ddl = sqlite(dst, ".schema t")

        if "s2s_delta" in ONLY:
            s2s_delta(root, src, dst, base)
        if "s2s_hash" in ONLY:
            s2s_hash(root, src)

        synctool(root, "ddl", "apply", "s2p")
        psql(f'CREATE TABLE "{SCHEMA}".base (LIKE "{SCHEMA}".t INCLUDING ALL)')

        def s2p():
            psql(f'TRUNCATE "{SCHEMA}".t')
            return timed(lambda: synctool(root, "run", "--job-name", "s2p", "--strategy", "full"))

        def s2p_base():
            psql(f'TRUNCATE "{SCHEMA}".base')
            cmd = (f"sqlite3 -csv {src} 'SELECT {NAMES} FROM t' | "
                   + " ".join(f"'{a}'" for a in psql_args(f'\\copy "{SCHEMA}".base FROM STDIN CSV')))
            return timed(lambda: sh(cmd))
        if "s2p" in ONLY:
            median_pair("SQLite -> PostgreSQL full", s2p, s2p_base, 1.2,
                        prove=(proof(pg_rows("t"), ROWS), proof(pg_rows("base"), ROWS)))
            pgloader_reference(src)
        else:
            s2p()

        psql(f'ALTER TABLE "{SCHEMA}".t RENAME TO src')
        psql(f'ANALYZE "{SCHEMA}".src')

        def p2s():
            fresh_dst(dst2, "p2s")
            return timed(lambda: synctool(root, "run", "--job-name", "p2s", "--strategy", "full"))

        def p2s_base():
            if os.path.exists(base):
                os.remove(base)
            sqlite(base, ddl)
            out = " ".join(f"'{a}'" for a in psql_args(
                f'\\copy (SELECT {NAMES} FROM "{SCHEMA}".src) TO STDOUT CSV'))
            return timed(lambda: sh(f"{out} | sqlite3 {base} '.import --csv /dev/stdin t'"))
        if "p2s" in ONLY:
            median_pair("PostgreSQL -> SQLite full", p2s, p2s_base, 1.3,
                        prove=(proof(rows_in(dst2), ROWS), proof(rows_in(base), ROWS)))
        else:
            p2s()

        out = synctool(root, "run", "--job-name", "p2s", "--strategy", "hash")
        assert "0 inserted, 0 updated, 0 deleted" in out, out

        def hash_run():
            return timed(lambda: synctool(root, "run", "--job-name", "p2s", "--strategy", "hash"))

        def counts():
            return timed(lambda: (sqlite(dst2, "SELECT count(*) FROM t"),
                                  psql(f'SELECT count(*) FROM "{SCHEMA}".src')))
        if "hash" in ONLY:  # issue 25: <= 10x count(*), in the summary
            ma, mb = median_pair("hash, identical PostgreSQL <-> SQLite", hash_run, counts, 10.0,
                                 "(baseline: count(*) on both sides)",
                                 prove=(proof(rows_in(dst2), ROWS), proof(rows_in(dst2), ROWS)))
            report(f"hash, identical PostgreSQL <-> SQLite tables, {ROWS} rows", f"{ma:.2f} s",
                   f"count(*) both sides {mb:.2f} s", f"{ma / mb:.1f}x", "<= 10x count(*)",
                   ma / mb <= 10)
            save_summary()
    finally:
        psql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        shutil.rmtree(root, ignore_errors=True)


def s2s_delta(root, src, dst, base):
    """Delta of CHANGED rows into a full copy, against sqlite3 upserting
    the same rows into another full copy (both start equal)."""
    synctool(root, "ddl", "apply", "s2s")
    synctool(root, "run", "--job-name", "s2s", "--strategy", "full")
    synctool(root, "run", "--job-name", "s2s", "--strategy", "delta")   # the watermark
    for p in (base, base + "-journal", base + "-wal"):
        if os.path.exists(p):
            os.remove(p)
    shutil.copyfile(dst, base)
    rep = {"n": 0, "since": None}
    sets = ", ".join(f"{n} = excluded.{n}" for n, _ in COLS if n != "id")
    changed = " OR ".join(f"t.{n} IS NOT excluded.{n}" for n, _ in COLS if n != "id")

    def ours():
        rep["n"] += 1
        rep["since"] = change_source(src, rep["n"])
        t = timed(lambda: synctool(root, "run", "--job-name", "s2s", "--strategy", "delta"))
        return t

    def baseline():
        since = f"datetime({rep['since']}, 'unixepoch')"
        return timed(lambda: sqlite(base, f"ATTACH '{src}' AS s; INSERT INTO t SELECT * FROM s.t "
                                          f"WHERE updated_at > {since} ON CONFLICT (id) DO UPDATE "
                                          f"SET {sets} WHERE {changed}"))
    def changed_in(db):
        return lambda: int(sqlite(db, "SELECT count(*) FROM t WHERE updated_at > "
                                      f"datetime({rep['since']}, 'unixepoch')"))
    median_pair(f"SQLite -> SQLite delta, {CHANGED} rows", ours, baseline, None,
                "(baseline: attach + insert ... on conflict do update)",
                prove=(proof(changed_in(dst), changed_in(src)),
                       proof(changed_in(base), changed_in(src))))
    out = synctool(root, "run", "--job-name", "s2s", "--strategy", "delta")
    assert "0 inserted, 0 updated, 0 deleted" in out, out
    a = sqlite(dst, "SELECT count(*), sum(total), max(updated_at) FROM t")
    b = sqlite(base, "SELECT count(*), sum(total), max(updated_at) FROM t")
    assert a == b, (a, b)


def s2s_hash(root, src):
    """Hash after CHANGED rows changed, against the full on the same change
    into another copy (both copies start equal to the source)."""
    for p in ("s2s_h", "s2s_f"):
        synctool(root, "ddl", "apply", p)
        synctool(root, "run", "--job-name", p, "--strategy", "full")
    rep = {"n": 100}

    def ours():
        rep["n"] += 1
        change_source(src, rep["n"])
        out = {}
        t = timed(lambda: out.setdefault("o", synctool(root, "run", "--job-name", "s2s_h",
                                                       "--strategy", "hash")))
        assert f"0 inserted, {CHANGED} updated, 0 deleted" in out["o"], out["o"]
        return t

    def baseline():
        return timed(lambda: synctool(root, "run", "--job-name", "s2s_f", "--strategy", "full"))
    dbs = {"s2s_h": os.path.join(root, "dst3.db"), "s2s_f": os.path.join(root, "dst4.db")}
    median_pair(f"SQLite -> SQLite hash, {CHANGED} rows changed", ours, baseline, None,
                "(baseline: full on the same change)",
                prove=(proof(rows_in(dbs["s2s_h"]), ROWS), proof(rows_in(dbs["s2s_f"]), ROWS)))


PGLOADER_SCHEMA = SCHEMA + "_pgloader"


def pgloader_reference(src):
    """pgloader into its own schema, once, for reference (not a goal).

    Its own schema: pgloader drops and recreates the tables it loads (with its
    own column types and, here, no indexes). Loaded into SCHEMA it replaced
    the table synctool had just written, which the PostgreSQL -> SQLite
    figures then read as their source: the hash ran against a table with no
    primary key (17.7x count(*) in the 2026-12-08 run against 4.8-5.6x on
    synctool's table)."""
    if shutil.which("pgloader") is None:
        print("pgloader: not installed")
        return
    psql(f'DROP SCHEMA IF EXISTS "{PGLOADER_SCHEMA}" CASCADE')
    psql(f'CREATE SCHEMA "{PGLOADER_SCHEMA}"')
    target = (f"postgresql://{PG['USER']}:{PG['PASSWORD']}@{PG['HOST']}:{PG['PORT']}/"
              f"{PG['DBNAME']}")
    cmds = os.path.join(os.path.dirname(src), "load.pgl")
    with open(cmds, "w") as f:
        f.write(f"LOAD DATABASE FROM sqlite://{src} INTO {target}\n"
                f"WITH include drop, create tables, create no indexes, reset no sequences\n"
                f"SET search_path TO '{PGLOADER_SCHEMA}'\n"
                f"ALTER SCHEMA 'main' RENAME TO '{PGLOADER_SCHEMA}';\n")
    t = time.monotonic()
    r = subprocess.run(["pgloader", "--quiet", cmds], capture_output=True, text=True, timeout=600)
    secs = time.monotonic() - t
    try:
        loaded = psql(f'SELECT count(*) FROM "{PGLOADER_SCHEMA}".t')
    except subprocess.CalledProcessError:
        loaded = "none (no table t)"
    psql(f'DROP SCHEMA IF EXISTS "{PGLOADER_SCHEMA}" CASCADE')
    if r.returncode == 0:
        print(f"{'  pgloader (reference, one run)':<38} {secs:8.2f}s  [rows {loaded}]")
    else:
        print(f"  pgloader (reference): failed ({(r.stderr or r.stdout).strip().splitlines()[-1:]})")


if __name__ == "__main__":
    main()
