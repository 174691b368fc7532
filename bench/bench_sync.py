#!/usr/bin/env python3
"""Sync engine benchmarks, PostgreSQL -> PostgreSQL (run by bench/run).

Every figure is measured against a baseline in the same run, interleaved
(synctool, baseline, synctool, baseline, ...; the order flips every
repetition), and reported as the median of SYNCTOOL_BENCH_REPS (default 5)
pairs with the range. Every tool writes into a table of exactly the
destination's definition: each destination (synctool's, the COPY pipe's,
pgcopydb's) is made by `synctool ddl apply` of a pipeline naming it, so none
carries an index the others lack.

  full into an empty table   vs  psql COPY TO STDOUT | psql COPY FROM STDIN,
                                 and pgcopydb copy table-data (same server,
                                 a second database, --table-jobs 1)
  hash at 10%/1%/0.1% of rows changed spread evenly and 1% clustered
                             vs  full on the same change
  hash on identical tables   vs  SELECT count(*) on both sides (0 rows moved)
  delta with N rows changed  vs  psql applying exactly those N rows (\\copy
                                 into a temp table, INSERT ... ON CONFLICT
                                 DO UPDATE), N = 1% and 10% of the rows
  peak RSS of the synctool process (wait4 rusage) at ROWS and BIG rows
  full with parallel: 2   vs  the same full with parallel: 1 (goal <= 1.0x on
                              these 2 cores), each into an empty table; the
                              client's CPU (wait4 rusage) and the server's
                              (the postmaster's own and reaped children's
                              times plus its live children's, /proc) per
                              side give the cores parallel: 1 keeps busy and
                              so the N that would fill an 8-core server.
                              pgcopydb 0.10's `copy table-data` has no
                              --split-tables-larger-than (only `clone` has,
                              which also rebuilds schema and indexes), so
                              it cannot split one table: not a baseline here.

Every side of every figure proves itself (benchlib.Proof): it starts after a
CHECKPOINT, its WAL is measured (pg_current_wal_lsn before and after), and
the rows it had to leave in its target are counted there by a query of our
own afterwards (a full copy: count(*) of the target; a repair: the changed
rows now equal to the source). pgcopydb's target is truncated before each
repetition (`copy table-data` does not truncate: into a filled target it
stops at the first duplicate key and still exits 0) and its log is searched
for errors beside its exit code. A repetition whose rows or WAL disagree is
left out of the median and named in the row.

Changes for hash/full are made in the destination (UPDATE ... SET total =
total + 1), outside the timed part, so both tools repair the same rows.

Env: SYNCTOOL_BENCH_ROWS (default 1000000), SYNCTOOL_BENCH_BIG_ROWS
(default 5000000, 0 skips), SYNCTOOL_BENCH_REPS (5), SYNCTOOL_BENCH_LABEL
(a title for the tables), SYNCTOOL_BENCH_SUMMARY (a file the summary rows
are appended to, tab-separated: figure, synctool, baseline, ratio, goal,
met). Needs the servers from scripts/with-servers (SYNCTOOL_TEST_PG_*) and
the release binary in SYNCTOOL_BIN. Reports; never fails on a missed goal.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import (BIN, REPS, interleave_proved, kept, med, pg_proved, report, rng,
                      save_summary, synctool, timed)

ROWS = int(os.environ.get("SYNCTOOL_BENCH_ROWS", "1000000"))
BIG = int(os.environ.get("SYNCTOOL_BENCH_BIG_ROWS", "5000000"))
LABEL = os.environ.get("SYNCTOOL_BENCH_LABEL", "")
# SYNCTOOL_BENCH_ONLY="full,parallel,hash,delta" picks sections (default: all)
ONLY = set(os.environ.get("SYNCTOOL_BENCH_ONLY", "full,parallel,hash,delta").split(","))
PG = {k: os.environ.get("SYNCTOOL_TEST_PG_" + k) for k in
      ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")}
SCHEMA = f"bench_sync_{os.getpid()}"
TGT_DB = f"bench_sync_tgt_{os.getpid()}"
COLS = "id, customer_id, total, note, updated_at, ratio"


def psql_cmd(sql, db=None):
    return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", PG["HOST"],
            "-p", PG["PORT"], "-U", PG["USER"], "-d", db or PG["DBNAME"], "-c", sql]


PGENV = dict(os.environ, PGPASSWORD=PG["PASSWORD"] or "")


def psql(sql, db=None):
    return subprocess.run(psql_cmd(sql, db), env=PGENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def q(table):
    return f'"{SCHEMA}".{table}'


def proved(fn, count_sql, want, db=None):
    """benchlib.pg_proved with the count taken by count_sql (in db)."""
    return pg_proved(psql, fn, lambda: int(psql(count_sql, db)), want)


def ratio_of(a, b):
    """Median ratio of two kept time lists, with the range of the pairs."""
    r = med(a) / med(b)
    pairs = [x / y for x, y in zip(a, b)]
    return r, pairs


def make_source(table, n):
    psql(f"DROP TABLE IF EXISTS {q(table)}; "
         f"CREATE TABLE {q(table)} (id bigint PRIMARY KEY, customer_id bigint, "
         f"total numeric(14,2), note text, updated_at timestamptz, ratio double precision); "
         f"INSERT INTO {q(table)} SELECT g, g % 9973, g * 0.37, "
         f"CASE WHEN g % 7 = 0 THEN NULL ELSE 'order note ' || g END, "
         f"'2025-01-01T00:00:00Z'::timestamptz + g * interval '1 second', g / 3.0 "
         f"FROM generate_series(1, {n}) g; "
         f"CREATE INDEX ON {q(table)} (updated_at, id); ANALYZE {q(table)}")


def datastore(db):
    return (f"{{type: postgres, connection: {{host: {PG['HOST']}, port: {PG['PORT']}, "
            f"user: {PG['USER']}, password: \"{PG['PASSWORD']}\", dbname: {db}}}}}")


def write_config(root, src):
    """Pipeline p syncs src -> dst; pcopy and ppgc only exist so that `ddl apply`
    makes the baselines' destinations (copy_t here, src in TGT_DB)."""
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        f.write(f"datastores:\n  shop: {datastore(PG['DBNAME'])}\n"
                f"  wh: {datastore(PG['DBNAME'])}\n  tgt: {datastore(TGT_DB)}\n")
    cols = ("columns:\n  - {name: id, type: bigint, key: true}\n"
            "  - {name: customer_id, type: bigint}\n  - {name: total, type: \"numeric(14,2)\"}\n"
            "  - {name: note, type: text}\n  - {name: updated_at, type: timestamptz}\n"
            "  - {name: ratio, type: double precision}\n")
    for name, ds, dst in (("p", "wh", "dst"), ("pcopy", "wh", "copy_t"), ("ppgc", "tgt", src),
                          ("ppar", "wh", "par_t")):
        full = "{name: full, type: full, parallel: 2}" if name == "ppar" else \
            "{name: full, type: full}"
        with open(os.path.join(root, "pipelines", f"{name}.yaml"), "w") as f:
            f.write(f"name: {name}\nsource: {{datastore: shop, schema: {SCHEMA}, table: {src}}}\n"
                    f"destination: {{datastore: {ds}, schema: {SCHEMA}, table: {dst}}}\n" + cols +
                    f"strategies:\n  - {full}\n"
                    "  - {name: delta, type: delta, cursor: updated_at}\n"
                    "  - {name: hash, type: hash}\n")


def run(root, strategy):
    return synctool(root, "run", "--job-name", "p", "--strategy", strategy)


def stats(err):
    m = re.search(r"sync done: (\d+) read, (\d+) inserted, (\d+) updated, (\d+) deleted, "
                  r"(\d+) segments compared, (\d+) skipped", err)
    return tuple(int(x) for x in m.groups()) if m else None


def copy_pipe(src, dst):
    out = subprocess.Popen(psql_cmd(f"COPY {q(src)} TO STDOUT"), env=PGENV,
                           stdout=subprocess.PIPE)
    subprocess.run(psql_cmd(f"COPY {q(dst)} FROM STDIN"), env=PGENV, stdin=out.stdout,
                   check=True, capture_output=True)
    out.stdout.close()
    if out.wait() != 0:
        raise RuntimeError("psql COPY TO STDOUT failed")


def pgcopydb(src, workdir):
    """pgcopydb copy table-data of `src` into the same-named table of TGT_DB.
    It does NOT truncate the target (0.10): the caller does. Its work
    directory is removed before; an error in its log is reported even when
    it exits 0 (the row count of the target then tells)."""
    shutil.rmtree(os.path.join(workdir, "pgc"), ignore_errors=True)
    uri = f"postgres://{PG['USER']}:{PG['PASSWORD']}@{PG['HOST']}:{PG['PORT']}/"
    filters = os.path.join(workdir, "filters.ini")
    with open(filters, "w") as f:
        f.write(f"[include-only-table]\n{SCHEMA}.{src}\n")
    r = subprocess.run(["pgcopydb", "copy", "table-data", "--source", uri + PG["DBNAME"],
                    "--target", uri + TGT_DB, "--dir", os.path.join(workdir, "pgc"),
                    "--filters", filters, "--table-jobs", "1"],
                   check=True, capture_output=True, text=True)
    errors = [ln for ln in (r.stdout + r.stderr).splitlines() if " ERROR " in ln]
    if errors:
        print(f"bench_sync: pgcopydb logged errors (exit 0): {errors[0]}", file=sys.stderr)


GEN = [0]  # generations of delta changes, each beyond every watermark so far


def bench_full(root, workdir, src, n, tag):
    """Full into an empty table vs the COPY pipe vs pgcopydb; returns peak RSS."""
    rss = []

    def go():
        secs, err, kib = run(root, "full")
        s = stats(err)
        if s is None or s[1] != n:
            raise RuntimeError(f"full into empty: expected {n} inserted, got {s}")
        rss.append(kib)
        return secs

    def st():
        psql(f"TRUNCATE {q('dst')}")
        return proved(go, f"SELECT count(*) FROM {q('dst')}", n)

    def cp():
        psql(f"TRUNCATE {q('copy_t')}")
        return proved(lambda: timed(lambda: copy_pipe(src, "copy_t")),
                      f"SELECT count(*) FROM {q('copy_t')}", n)

    def pgc():
        psql(f"TRUNCATE {q(src)}", TGT_DB)
        return proved(lambda: timed(lambda: pgcopydb(src, workdir)),
                      f"SELECT count(*) FROM {q(src)}", n, TGT_DB)

    s_st, s_cp, s_pgc = interleave_proved([st, cp, pgc])
    (t_st, n_st), (t_cp, n_cp), (t_pgc, n_pgc) = kept(s_st), kept(s_cp), kept(s_pgc)
    r_cp, pairs = ratio_of(t_st, t_cp)
    r_pgc, _ = ratio_of(t_st, t_pgc)
    report(f"full into empty table, {tag} rows", f"{med(t_st):.2f} s {rng(t_st)} [{n_st}]",
           f"COPY pipe {med(t_cp):.2f} s {rng(t_cp)} [{n_cp}]; pgcopydb {med(t_pgc):.2f} s "
           f"{rng(t_pgc)} [{n_pgc}]",
           f"{r_cp:.2f}x COPY {rng(pairs)}; {r_pgc:.2f}x pgcopydb",
           "<= 1.10x COPY", r_cp <= 1.10)
    return max(rss)


def server_cpu():
    """CPU seconds the PostgreSQL server has used so far: the postmaster's own
    and its reaped children's (every backend that has exited), plus its live
    children's (the backends of the run still connected, the WAL writer,
    the checkpointer)."""
    pid = int(psql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"))
    pm = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p):
        return [int(x) for x in open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[11:15]]

    total = sum(fields(pm))
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            if int(st[1]) == pm:
                total += int(st[11]) + int(st[12])
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


def run_cpu(root, pipeline):
    """synctool run of `pipeline`'s full: (seconds, client CPU seconds,
    server CPU seconds, stderr)."""
    s0 = server_cpu()
    t = time.monotonic()
    p = subprocess.Popen([BIN, "--config-dir",
                          root, "run", "--job-name", pipeline, "--strategy", "full"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"synctool run {pipeline} failed: {err}")
    return secs, ru.ru_utime + ru.ru_stime, server_cpu() - s0, err


def bench_full_parallel(root, n):
    """full into an empty table with parallel: 2 against parallel: 1."""
    cpu = {"p": [], "ppar": []}

    def side(pipeline, table):
        def go():
            secs, client, server, err = run_cpu(root, pipeline)
            s = stats(err)
            if s is None or s[1] != n:
                raise RuntimeError(f"{pipeline} full into empty: expected {n} inserted, got {s}")
            cpu[pipeline].append((secs, client, server))
            return secs

        def fn():
            psql(f"TRUNCATE {q(table)}")
            return proved(go, f"SELECT count(*) FROM {q(table)}", n)
        return fn

    s_par, s_one = interleave_proved([side("ppar", "par_t"), side("p", "dst")])
    (t_par, n_par), (t_one, n_one) = kept(s_par), kept(s_one)
    r, pairs = ratio_of(t_par, t_one)

    def busy(pipeline):
        rows = cpu[pipeline]
        secs = med([x[0] for x in rows])
        client, server = med([x[1] for x in rows]), med([x[2] for x in rows])
        return secs, client, server, (client + server) / secs
    one, par = busy("p"), busy("ppar")
    report(f"full into empty, parallel: 2 vs parallel: 1, {n} rows",
           f"{med(t_par):.2f} s {rng(t_par)} [{n_par}]",
           f"parallel: 1 {med(t_one):.2f} s {rng(t_one)} [{n_one}]",
           f"{r:.2f}x {rng(pairs)}", "<= 1.0x parallel: 1", r <= 1.0)
    # cores kept busy: (client + server CPU) / wall time; with W such cores per
    # range, an 8-core server is full at N = 8 / W ranges
    n8 = 8 / one[3] if one[3] > 0 else float("nan")
    print(f"\nparallel CPU: parallel: 1 client {one[1]:.2f} s + server {one[2]:.2f} s in "
          f"{one[0]:.2f} s = {one[3]:.2f} cores busy; parallel: 2 client {par[1]:.2f} s + "
          f"server {par[2]:.2f} s in {par[0]:.2f} s = {par[3]:.2f} cores busy (of "
          f"{os.cpu_count()}); on 8 cores about N = {n8:.1f} ranges would keep them busy, "
          f"bounded by T(1)/N = {one[0] / max(n8, 1):.2f} s if the CPU were the only limit\n",
          flush=True)


def change(cond, sign="+"):
    psql(f"UPDATE {q('dst')} SET total = total {sign} 1 WHERE {cond}")


def repaired(cond):
    """The rows of `cond` now equal in dst and src (a repair's proof)."""
    return (f"SELECT count(*) FROM {q('dst')} d JOIN {q('src')} s USING (id) "
            f"WHERE {cond} AND d.total = s.total")  # USING (id): a bare id is the key


def bench_hash_changed(root, label, cond, n, goal):
    def side(strategy):
        def go():
            secs, err, _ = run(root, strategy)
            s = stats(err)
            if s is None or s[2] != n:
                raise RuntimeError(f"{strategy} {label}: expected {n} updated, got {s}")
            return secs

        def fn():
            change(cond)
            return proved(go, repaired(cond), n)
        return fn

    s_h, s_f = interleave_proved([side("hash"), side("full")])
    (t_h, n_h), (t_f, n_f) = kept(s_h), kept(s_f)
    r, pairs = ratio_of(t_h, t_f)
    report(f"hash, {label} ({n} rows)", f"{med(t_h):.2f} s {rng(t_h)} [{n_h}]",
           f"full on the same change {med(t_f):.2f} s {rng(t_f)} [{n_f}]",
           f"{r:.2f}x {rng(pairs)}", f"<= {goal}x full", r <= goal)


def bench_hash_identical(root):
    segs = []

    def go():
        secs, err, _ = run(root, "hash")
        s = stats(err)
        if s is None or s[0] != 0 or s[2] != 0:
            raise RuntimeError(f"hash identical: expected 0 rows read, got {s}")
        segs.append(s)
        return secs

    differ = (f"SELECT count(*) FROM {q('dst')} d FULL JOIN {q('src')} s USING (id) "
              "WHERE d.total IS DISTINCT FROM s.total")

    def h():
        return proved(go, differ, 0)

    def c():
        return proved(lambda: timed(lambda: (psql(f"SELECT count(*) FROM {q('src')}"),
                                             psql(f"SELECT count(*) FROM {q('dst')}"))),
                      differ, 0)

    s_h, s_c = interleave_proved([h, c])
    (t_h, n_h), (t_c, n_c) = kept(s_h), kept(s_c)
    r, pairs = ratio_of(t_h, t_c)
    s = segs[-1]
    report("hash, identical tables", f"{med(t_h):.2f} s {rng(t_h)} ({s[0]} rows read, "
           f"{s[5]}/{s[4]} segments skipped) [{n_h}]",
           f"count(*) both sides {med(t_c):.2f} s {rng(t_c)} [{n_c}]",
           f"{r:.1f}x {rng(pairs, '{:.1f}')}", "<= 5x count(*), 0 rows", r <= 5)


def bench_delta(root, workdir, n_changed):
    """Delta with n_changed rows vs psql applying exactly those rows."""
    step = max(1, ROWS // n_changed)
    cond = f"id % {step} = 0"
    csv = os.path.join(workdir, f"delta_{n_changed}.csv")
    apply_sql = (f"CREATE TEMP TABLE t (LIKE {q('dst')});\n"
                 f"\\copy t FROM '{csv}' WITH (FORMAT csv)\n"
                 f"INSERT INTO {q('dst')} SELECT * FROM t ON CONFLICT (id) DO UPDATE SET "
                 "customer_id = EXCLUDED.customer_id, total = EXCLUDED.total, "
                 "note = EXCLUDED.note, updated_at = EXCLUDED.updated_at, "
                 "ratio = EXCLUDED.ratio;\n")
    script = os.path.join(workdir, "apply.sql")
    with open(script, "w") as f:
        f.write(apply_sql)

    def new_change():
        # A new generation of the changed rows at the source, beyond every
        # watermark so far, and those exact rows exported for the baseline.
        GEN[0] += 1
        psql(f"UPDATE {q('src')} SET total = total + 1, updated_at = "
             f"timestamptz '2100-01-01' + interval '1 day' * {GEN[0]} "
             f"+ id * interval '1 microsecond' WHERE {cond}")
        psql(f"\\copy (SELECT {COLS} FROM {q('src')} WHERE {cond}) TO '{csv}' WITH (FORMAT csv)")
        change(cond, "-")  # the destination differs in exactly these rows

    counts = []

    def go():
        secs, err, _ = run(root, "delta")
        s = stats(err)
        if s is None or s[0] != n_changed or s[2] != n_changed:
            raise RuntimeError(f"delta: expected {n_changed} read and updated, got {s}")
        counts.append(s)
        return secs

    def d():
        new_change()
        return proved(go, repaired(cond), n_changed)

    def b():
        new_change()
        cmd = psql_cmd("", None)[:-2] + ["-f", script]
        return proved(lambda: timed(lambda: subprocess.run(cmd, env=PGENV, check=True,
                                                           capture_output=True)),
                      repaired(cond), n_changed)

    s_d, s_b = interleave_proved([d, b])
    (t_d, n_d), (t_b, n_b) = kept(s_d), kept(s_b)
    r, pairs = ratio_of(t_d, t_b)
    limit = 1.5 * med(t_b) + 0.040
    pct = 100.0 * n_changed / ROWS
    report(f"delta, {n_changed} rows changed ({pct:g}%)",
           f"{med(t_d):.3f} s {rng(t_d, '{:.3f}')} [{n_d}]",
           f"psql \\copy + INSERT ON CONFLICT of those rows {med(t_b):.3f} s "
           f"{rng(t_b, '{:.3f}')} [{n_b}]", f"{r:.2f}x {rng(pairs)} (limit {limit:.3f} s)",
           "<= 1.5x + 40 ms", med(t_d) <= limit)


def main():
    if not PG["PORT"]:
        print("bench_sync: SYNCTOOL_TEST_PG_* not set (run through bench/run)", file=sys.stderr)
        return 2
    psql(f'CREATE SCHEMA "{SCHEMA}"')
    subprocess.run(psql_cmd(f'CREATE DATABASE "{TGT_DB}"'), env=PGENV, check=True,
                   capture_output=True)
    psql(f'CREATE SCHEMA "{SCHEMA}"', TGT_DB)
    try:
        return bench()
    finally:
        subprocess.run(psql_cmd(f'DROP DATABASE IF EXISTS "{TGT_DB}"'), env=PGENV,
                       capture_output=True)
        psql(f'DROP SCHEMA "{SCHEMA}" CASCADE')


def bench():
    root = tempfile.mkdtemp(prefix="bench-sync-")
    settings = psql("SELECT string_agg(name || '=' || current_setting(name), ', ' "
                    "ORDER BY name) FROM pg_settings WHERE name IN ('fsync', "
                    "'synchronous_commit', 'full_page_writes', 'shared_buffers')")
    make_source("src", ROWS)
    write_config(root, "src")
    for p in ("p", "pcopy", "ppgc", "ppar"):
        synctool(root, "ddl", "apply", p)
    print(f"rows: {ROWS} x 6 columns, PostgreSQL -> PostgreSQL{LABEL}; server: {settings}; "
          f"median of {REPS} interleaved pairs (range); a shared, loaded 2-core machine\n")
    print("| figure | synctool | baseline (same run) | ratio | goal | met? |")
    print("|---|---|---|---|---|---|", flush=True)
    if "full" in ONLY:
        rss = bench_full(root, root, "src", ROWS, f"{ROWS}")
        report(f"peak RSS, full, {ROWS} rows", f"{rss / 1024:.1f} MiB", "-", "-",
               "<= 64 MiB", rss / 1024 <= 64)
    if "parallel" in ONLY:
        bench_full_parallel(root, ROWS)
    if "full" not in ONLY:
        run(root, "full")  # hash and delta start from an equal copy
    if "hash" in ONLY:
        bench_hash(root)
    if "delta" in ONLY:
        run(root, "delta")  # sets the watermark
        for n in (ROWS // 100, ROWS // 10):
            bench_delta(root, root, n)
    if BIG > 0 and "full" in ONLY:
        big(root)
    shutil.rmtree(root, ignore_errors=True)
    save_summary(LABEL)
    return 0


def bench_hash(root):
    bench_hash_identical(root)
    for label, cond, goal in (("10% spread", "id % 10 = 0", 0.9),  # issue 25: <= 0.9x full
                              ("1% spread", "id % 100 = 0", 1.0),
                              ("0.1% spread", "id % 1000 = 0", 0.5),
                              ("1% clustered", f"id > {ROWS // 2} AND id <= {ROWS // 2 + ROWS // 100}",
                               1.0)):
        n = int(psql(f"SELECT count(*) FROM {q('dst')} WHERE {cond}"))
        bench_hash_changed(root, label, cond, n, goal)


def big(root):
    psql(f"DROP TABLE {q('src')}; DROP TABLE {q('dst')}; DROP TABLE {q('copy_t')}")
    psql(f"DROP TABLE {q('src')}", TGT_DB)
    make_source("src", BIG)
    for p in ("p", "pcopy", "ppgc", "ppar"):
        synctool(root, "ddl", "apply", p)
    rss_big = bench_full(root, root, "src", BIG, f"{BIG}")
    report(f"peak RSS, full, {BIG} rows", f"{rss_big / 1024:.1f} MiB", "-", "-",
           "<= 64 MiB, flat", rss_big / 1024 <= 64)


if __name__ == "__main__":
    sys.exit(main())
