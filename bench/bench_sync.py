#!/usr/bin/env python3
"""Sync engine benchmarks, PostgreSQL -> PostgreSQL (run by bench/run).

Each figure is measured against a baseline measured in the same run:
  - full into an empty table  vs  psql COPY t TO STDOUT | psql COPY t2 FROM STDIN
  - hash on identical tables  vs  SELECT count(*) on both sides (0 rows moved)
  - delta with 1% changed     vs  full on the same change
  - peak RSS of the synctool process (wait4 rusage) at N and BIG rows

Rows: SYNCTOOL_BENCH_ROWS (default 1000000), 6 columns; the RSS check also
runs at SYNCTOOL_BENCH_BIG_ROWS (default 5000000, 0 to skip). Needs the
servers from scripts/with-servers (SYNCTOOL_TEST_PG_*) and the release
binary in SYNCTOOL_BIN. Reports; never fails on a missed goal.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("SYNCTOOL_BIN", "build/synctool")
ROWS = int(os.environ.get("SYNCTOOL_BENCH_ROWS", "1000000"))
BIG = int(os.environ.get("SYNCTOOL_BENCH_BIG_ROWS", "5000000"))
PG = {k: os.environ.get("SYNCTOOL_TEST_PG_" + k) for k in
      ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")}
SCHEMA = f"bench_sync_{os.getpid()}"


def psql_cmd(sql):
    return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", PG["HOST"],
            "-p", PG["PORT"], "-U", PG["USER"], "-d", PG["DBNAME"], "-c", sql]


PGENV = dict(os.environ, PGPASSWORD=PG["PASSWORD"] or "")


def psql(sql):
    return subprocess.run(psql_cmd(sql), env=PGENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def timed(fn):
    t = time.monotonic()
    out = fn()
    return time.monotonic() - t, out


def make_source(table, n):
    psql(f'DROP TABLE IF EXISTS "{SCHEMA}".{table}; '
         f'CREATE TABLE "{SCHEMA}".{table} (id bigint PRIMARY KEY, customer_id bigint, '
         f"total numeric(14,2), note text, updated_at timestamptz, ratio double precision); "
         f'INSERT INTO "{SCHEMA}".{table} SELECT g, g % 9973, g * 0.37, '
         f"CASE WHEN g % 7 = 0 THEN NULL ELSE 'order note ' || g END, "
         f"'2025-01-01T00:00:00Z'::timestamptz + g * interval '1 second', g / 3.0 "
         f"FROM generate_series(1, {n}) g; "
         f'CREATE INDEX ON "{SCHEMA}".{table} (updated_at, id); ANALYZE "{SCHEMA}".{table}')


def write_config(root, src, dst):
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)
    ds = (f"{{type: postgres, connection: {{host: {PG['HOST']}, port: {PG['PORT']}, "
          f"user: {PG['USER']}, password: \"{PG['PASSWORD']}\", dbname: {PG['DBNAME']}}}}}")
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        f.write(f"datastores:\n  shop: {ds}\n  wh: {ds}\n")
    with open(os.path.join(root, "pipelines", "p.yaml"), "w") as f:
        f.write(f"name: p\nsource: {{datastore: shop, schema: {SCHEMA}, table: {src}}}\n"
                f"destination: {{datastore: wh, schema: {SCHEMA}, table: {dst}}}\n"
                "columns:\n  - {name: id, type: bigint, key: true}\n"
                "  - {name: customer_id, type: bigint}\n  - {name: total, type: \"numeric(14,2)\"}\n"
                "  - {name: note, type: text}\n  - {name: updated_at, type: timestamptz}\n"
                "  - {name: ratio, type: double precision}\n"
                "strategies:\n  - {name: full, type: full}\n"
                "  - {name: delta, type: delta, cursor: updated_at}\n"
                "  - {name: hash, type: hash}\n")


def synctool(root, *args):
    """Runs synctool; returns (seconds, stderr)."""
    t = time.monotonic()
    p = subprocess.run([BIN, "--config-dir", root] + list(args), capture_output=True, text=True)
    secs = time.monotonic() - t
    err = p.stderr
    if p.returncode != 0:
        raise RuntimeError(f"synctool {' '.join(args)} exited {p.returncode}: {err}")
    return secs, err


def synctool_rss(root, *args):
    t = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(BIN, [BIN, "--config-dir", root] + list(args))
    _, status, ru = os.wait4(pid, 0)
    secs = time.monotonic() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"synctool {' '.join(args)} failed")
    return secs, ru.ru_maxrss


def stats(err):
    m = re.search(r"sync done: (\d+) read, (\d+) inserted, (\d+) updated, (\d+) deleted, "
                  r"(\d+) segments compared, (\d+) skipped", err)
    return tuple(int(x) for x in m.groups()) if m else None


def copy_baseline(src, dst):
    psql(f'DROP TABLE IF EXISTS "{SCHEMA}".{dst}; '
         f'CREATE TABLE "{SCHEMA}".{dst} (LIKE "{SCHEMA}".{src} INCLUDING ALL)')
    def run():
        out = subprocess.Popen(psql_cmd(f'COPY "{SCHEMA}".{src} TO STDOUT'), env=PGENV,
                               stdout=subprocess.PIPE)
        subprocess.run(psql_cmd(f'COPY "{SCHEMA}".{dst} FROM STDIN'), env=PGENV,
                       stdin=out.stdout, check=True, capture_output=True)
        out.wait()
    secs, _ = timed(run)
    return secs


def row(name, value, base, ratio, goal):
    print(f"| {name} | {value} | {base} | {ratio} | {goal} |")


def main():
    if not PG["PORT"]:
        print("bench_sync: SYNCTOOL_TEST_PG_* not set (run through bench/run)", file=sys.stderr)
        return 2
    psql(f'CREATE SCHEMA "{SCHEMA}"')
    try:
        return bench()
    finally:
        psql(f'DROP SCHEMA "{SCHEMA}" CASCADE')


def bench():
    root = tempfile.mkdtemp(prefix="bench-sync-")
    make_source("src", ROWS)
    write_config(root, "src", "dst")
    synctool(root, "ddl", "apply", "p")
    t_copy = copy_baseline("src", "copy_t")
    t_full, rss = synctool_rss(root, "run", "--job-name", "p", "--strategy", "full")
    t_count, _ = timed(lambda: (psql(f'SELECT count(*) FROM "{SCHEMA}".src'),
                                psql(f'SELECT count(*) FROM "{SCHEMA}".dst')))
    t_hash, err = synctool(root, "run", "--job-name", "p", "--strategy", "hash")
    hs = stats(err)
    synctool(root, "run", "--job-name", "p", "--strategy", "delta")  # sets the watermark
    changed = max(1, ROWS // 100)
    psql(f'UPDATE "{SCHEMA}".src SET total = total + 1, updated_at = updated_at + interval '
         f"'100 years' WHERE id % 100 = 0")
    t_delta, err = synctool(root, "run", "--job-name", "p", "--strategy", "delta")
    ds = stats(err)
    psql(f'UPDATE "{SCHEMA}".src SET total = total + 1 WHERE id % 100 = 0')
    t_full_changed, err = synctool(root, "run", "--job-name", "p", "--strategy", "full")
    fs = stats(err)
    print(f"rows: {ROWS} x 6 columns, PostgreSQL -> PostgreSQL\n")
    print("| figure | synctool | baseline (same run) | ratio | goal |")
    print("|---|---|---|---|---|")
    row("full into empty table", f"{t_full:.2f} s", f"psql COPY | psql COPY {t_copy:.2f} s",
        f"{t_full / t_copy:.2f}x", "<= 1.5x")
    row("hash, identical tables", f"{t_hash:.2f} s ({hs[0]} rows read, {hs[5]}/{hs[4]} segments skipped)",
        f"count(*) both sides {t_count:.2f} s", f"{t_hash / t_count:.1f}x", "<= 10x, 0 rows")
    row(f"delta, {changed} rows changed (1%)", f"{t_delta:.2f} s ({ds[0]} read, {ds[2]} updated)",
        f"full on the same change {t_full_changed:.2f} s ({fs[2]} updated)",
        f"{100 * t_delta / t_full_changed:.1f}%", "<= 5%")
    row(f"peak RSS, full, {ROWS} rows", f"{rss / 1024:.1f} MiB", "-", "-", "<= 64 MiB")
    if BIG > 0:
        make_source("big", BIG)
        write_config(root, "big", "big_dst")
        synctool(root, "ddl", "apply", "p")
        t_big, rss_big = synctool_rss(root, "run", "--job-name", "p", "--strategy", "full")
        row(f"peak RSS, full, {BIG} rows", f"{rss_big / 1024:.1f} MiB ({t_big:.1f} s)", "-", "-",
            "<= 64 MiB, same as above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
