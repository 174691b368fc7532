#!/usr/bin/env python3
"""The cdc strategy against delta on the same changes (issue 23; run by bench/run).

A PostgreSQL source table of ROWS rows (the definition of bench_sync.py:
bigint key, bigint, numeric(14,2), text with NULLs, timestamptz with an
index on (updated_at, id), double precision) feeds two pipelines into two
destination tables of the same definition, each made by `synctool ddl
apply`: `pc` (a `cdc` strategy) and `pd` (a `delta` strategy on
updated_at). The destinations live in a second database on the same
server, so the cdc slot (which decodes the source database) reads only the
source's changes, never the other side's writes: each side pays for its
own work only.

Each repetition makes one change at the source, outside the timed part:
CHANGED rows (every ROWS/CHANGED-th key) get a new total and an updated_at
of a new generation (past every delta watermark so far), in one
transaction (the issue's figure: the worst case for cdc, see the README)
and, for a second figure, in TXNS transactions of CHANGED/TXNS rows each. Then both
strategies apply that same change, interleaved (cdc, delta; the order flips
every repetition), each after a CHECKPOINT, each proving itself
(benchlib.Proof): the rows of this generation counted in its destination
afterwards (must be CHANGED), and the WAL written while it ran. A second
figure times a run of each with no change since its last run (CHECKPOINT
before each side, so the WAL has moved on, as it always has on a live
server; proof: the generation's rows still all there, and 0 rows read).

Goals (issue 23): cdc <= 1.0x delta on the same changes; a cdc run with no
changes <= 50 ms (the delta run with no changes is recorded beside it).

pgcopydb's follow-style apply (`pgcopydb follow`) is not run: see
bench/README.md, "CDC", for why.

Env: SYNCTOOL_BENCH_CDC_ROWS (default 1000000), SYNCTOOL_BENCH_CDC_CHANGED
(default ROWS/10), SYNCTOOL_BENCH_CDC_TXNS (100; 1 leaves the second
figure out), SYNCTOOL_BENCH_REPS (5), SYNCTOOL_BENCH_LABEL,
SYNCTOOL_BENCH_SUMMARY; the servers of scripts/with-servers (PostgreSQL
with wal_level=logical) and the release binary in SYNCTOOL_BIN.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from benchlib import BIN, REPS, kept, med, pg_proved, report, rng, save_summary, synctool

ROWS = int(os.environ.get("SYNCTOOL_BENCH_CDC_ROWS", "1000000"))
CHANGED = int(os.environ.get("SYNCTOOL_BENCH_CDC_CHANGED", str(max(1, ROWS // 10))))
TXNS = int(os.environ.get("SYNCTOOL_BENCH_CDC_TXNS", "100"))
LABEL = os.environ.get("SYNCTOOL_BENCH_LABEL", "")
PG = {k: os.environ.get("SYNCTOOL_TEST_PG_" + k) for k in
      ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")}
SCHEMA = f"bench_cdc_{os.getpid()}"
TGT_DB = f"bench_cdc_tgt_{os.getpid()}"
PGENV = dict(os.environ, PGPASSWORD=PG["PASSWORD"] or "")
GEN = ["-infinity"]   # the start of the current generation of changes


def psql(sql, db=None):
    cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", PG["HOST"],
           "-p", PG["PORT"], "-U", PG["USER"], "-d", db or PG["DBNAME"], "-c", sql]
    return subprocess.run(cmd, env=PGENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def q(table):
    return f'"{SCHEMA}".{table}'


def datastore(db):
    return (f"{{type: postgres, connection: {{host: {PG['HOST']}, port: {PG['PORT']}, "
            f"user: {PG['USER']}, password: \"{PG['PASSWORD']}\", dbname: {db}}}}}")


def write_config(root):
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        f.write(f"datastores:\n  shop: {datastore(PG['DBNAME'])}\n  tgt: {datastore(TGT_DB)}\n")
    cols = ("columns:\n  - {name: id, type: bigint, key: true}\n"
            "  - {name: customer_id, type: bigint}\n  - {name: total, type: \"numeric(14,2)\"}\n"
            "  - {name: note, type: text}\n  - {name: updated_at, type: timestamptz}\n"
            "  - {name: ratio, type: double precision}\n")
    for name, dst, strategy in (("pc", "dst_c", "{name: cdc, type: cdc}"),
                                ("pd", "dst_d", "{name: delta, type: delta, cursor: updated_at}")):
        with open(os.path.join(root, "pipelines", f"{name}.yaml"), "w") as f:
            f.write(f"name: {name}\nsource: {{datastore: shop, schema: {SCHEMA}, table: src}}\n"
                    f"destination: {{datastore: tgt, schema: {SCHEMA}, table: {dst}}}\n" + cols +
                    f"strategies:\n  - {strategy}\n")


def make_source():
    psql(f"CREATE TABLE {q('src')} (id bigint PRIMARY KEY, customer_id bigint, "
         f"total numeric(14,2), note text, updated_at timestamptz, ratio double precision); "
         f"INSERT INTO {q('src')} SELECT g, g % 9973, g * 0.37, "
         f"CASE WHEN g % 7 = 0 THEN NULL ELSE 'order note ' || g END, "
         f"'2025-01-01T00:00:00Z'::timestamptz + g * interval '1 second', g / 3.0 "
         f"FROM generate_series(1, {ROWS}) g; "
         f"CREATE INDEX ON {q('src')} (updated_at, id); ANALYZE {q('src')}")


def new_change(txns=1):
    """A new generation of the CHANGED rows at the source (outside the timing),
    in `txns` transactions (each a share of the keys). updated_at is the
    server's clock as each row is changed: past every watermark so far and in
    the past when the runs start (a delta run re-reads rows whose cursor lies
    past the time its snapshot was taken)."""
    step = max(1, ROWS // CHANGED)
    GEN[0] = psql("SELECT clock_timestamp()")
    script = "".join(f"UPDATE {q('src')} SET total = total + 1, updated_at = "
                     f"clock_timestamp() WHERE id % {step} = 0 AND id / {step} % {txns} = {t};\n"
                     for t in range(txns))
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG["HOST"], "-p",
                    PG["PORT"], "-U", PG["USER"], "-d", PG["DBNAME"]], input=script, env=PGENV,
                   check=True, capture_output=True, text=True)   # autocommit: one txn each


def stats(err):
    m = re.search(r"sync done: (\d+) read, (\d+) inserted, (\d+) updated, (\d+) deleted", err)
    return tuple(int(x) for x in m.groups()) if m else None


def side(root, pipeline, strategy, want_read):
    """One timed run of a side after a CHECKPOINT: (seconds, Proof)."""
    table = "dst_c" if pipeline == "pc" else "dst_d"

    def go():
        secs, err, _ = synctool(root, "run", "--job-name", pipeline, "--strategy", strategy)
        s = stats(err)
        if s is None or s[0] != want_read:
            raise RuntimeError(f"{pipeline}:{strategy}: expected {want_read} read, got {s}: "
                               f"{err[-400:]}")
        return secs

    count = lambda: int(psql(f"SELECT count(*) FROM {q(table)} WHERE updated_at >= "  # noqa
                             f"'{GEN[0]}'", TGT_DB))
    return pg_proved(psql, go, count, CHANGED)


def pairs(root, fresh_change, txns=1):
    """REPS interleaved pairs (cdc, delta); a new change (in `txns`
    transactions) before each pair when fresh_change, else none (the figure
    of a run with nothing to do)."""
    want = CHANGED if fresh_change else 0
    out = {"cdc": [], "delta": []}
    for r in range(REPS):
        if fresh_change:
            new_change(txns)
        order = [("pc", "cdc"), ("pd", "delta")]
        if r % 2:
            order.reverse()
        for p, s in order:
            out[s].append(side(root, p, s, want))
    return kept(out["cdc"]), kept(out["delta"])


def ratio(a, b):
    return med(a) / med(b), [x / y for x, y in zip(a, b)]


def bench(root):
    make_source()
    write_config(root)
    for p in ("pc", "pd"):
        synctool(root, "ddl", "apply", p)
    # first runs: cdc makes its slot and copies in full in its snapshot; delta
    # copies every row and sets its watermark
    synctool(root, "run", "--job-name", "pc", "--strategy", "cdc")
    synctool(root, "run", "--job-name", "pd", "--strategy", "delta")
    settings = psql("SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY "
                    "name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', "
                    "'full_page_writes', 'shared_buffers', 'wal_level')")
    print(f"rows: {ROWS} x 6 columns, {CHANGED} changed per repetition, PostgreSQL -> "
          f"PostgreSQL (second database){LABEL}; server: {settings}; median of {REPS} "
          "interleaved pairs (range)\n")
    print("| figure | synctool | baseline (same run) | ratio | goal | met? |")
    print("|---|---|---|---|---|---|", flush=True)

    (t_c, n_c), (t_d, n_d) = pairs(root, True)
    r, rs = ratio(t_c, t_d)
    report(f"cdc, {CHANGED} rows changed of {ROWS}",
           f"{med(t_c):.3f} s {rng(t_c, '{:.3f}')} [{n_c}]",
           f"delta on the same changes {med(t_d):.3f} s {rng(t_d, '{:.3f}')} [{n_d}]",
           f"{r:.2f}x {rng(rs)}", "<= 1.0x delta", r <= 1.0)

    if TXNS > 1:
        (t_c, n_c), (t_d, n_d) = pairs(root, True, TXNS)
        r, rs = ratio(t_c, t_d)
        report(f"cdc, {CHANGED} rows changed of {ROWS} in {TXNS} transactions",
               f"{med(t_c):.3f} s {rng(t_c, '{:.3f}')} [{n_c}]",
               f"delta on the same changes {med(t_d):.3f} s {rng(t_d, '{:.3f}')} [{n_d}]",
               f"{r:.2f}x {rng(rs)}", "<= 1.0x delta", r <= 1.0)

    (t_c, n_c), (t_d, n_d) = pairs(root, False)
    r, rs = ratio(t_c, t_d)
    report(f"cdc, no changes (table of {ROWS} rows)",
           f"{med(t_c) * 1000:.1f} ms {rng([x * 1000 for x in t_c], '{:.1f}')} [{n_c}]",
           f"delta, no changes {med(t_d) * 1000:.1f} ms "
           f"{rng([x * 1000 for x in t_d], '{:.1f}')} [{n_d}]",
           f"{r:.2f}x {rng(rs)}", "<= 50 ms", med(t_c) <= 0.050)


def main():
    if not PG["PORT"]:
        print("bench_cdc: SYNCTOOL_TEST_PG_* not set (run through bench/run)", file=sys.stderr)
        return 2
    if psql("SHOW wal_level") != "logical":
        print("bench_cdc: the server's wal_level is not logical: skipped", file=sys.stderr)
        return 2
    psql(f'CREATE SCHEMA "{SCHEMA}"')
    psql(f'CREATE DATABASE "{TGT_DB}"')
    psql(f'CREATE SCHEMA "{SCHEMA}"', TGT_DB)
    root = tempfile.mkdtemp(prefix="bench-cdc-")
    try:
        bench(root)
        save_summary(LABEL)
        return 0
    finally:
        subprocess.run([BIN, "--config-dir", root, "cdc", "drop", "pc"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        psql(f'DROP DATABASE IF EXISTS "{TGT_DB}"')
        psql(f'DROP SCHEMA "{SCHEMA}" CASCADE')


if __name__ == "__main__":
    sys.exit(main())
