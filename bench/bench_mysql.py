#!/usr/bin/env python3
"""MySQL / MariaDB benchmarks (run by bench/run, first pass only).

Every figure is measured against baselines in the same run, interleaved
(the order flips every repetition), median of SYNCTOOL_BENCH_REPS (5) with
the range. Every destination has exactly the same definition: each is made
by `synctool ddl apply` of a pipeline naming it.

  MySQL -> PostgreSQL full, ROWS x 6 columns, into an empty table
      vs pgloader (Debian's, LOAD DATABASE ... WITH data only, truncate,
         INCLUDING ONLY TABLE NAMES MATCHING the one table)
      vs mariadb --batch --raw -e 'SELECT ...' | psql -c '\\copy ... FROM STDIN'
  MySQL -> MySQL full into an empty table
      vs mysqldump --no-create-info DB src | mariadb DB2
  hash on identical MySQL tables vs CHECKSUM TABLE on both sides
  peak RSS of the synctool process (wait4 rusage)

Every side proves itself (benchlib.Proof): the rows in its target counted
afterwards (and for a PostgreSQL target the WAL it wrote, after a
CHECKPOINT); a repetition that disagrees is left out and named in the row.

Env: SYNCTOOL_BENCH_MYSQL_ROWS (default 1000000), SYNCTOOL_BENCH_REPS (5),
SYNCTOOL_BENCH_SUMMARY (summary rows, tab-separated, as bench_sync.py).
Needs scripts/with-servers (SYNCTOOL_TEST_MYSQL_*, SYNCTOOL_TEST_PG_*) and
the release binary in SYNCTOOL_BIN. Reports; never fails on a missed goal.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from benchlib import (REPS, interleave_proved, kept, med, pg_proved, proved, report, rng,
                      save_summary, synctool, timed)

ROWS = int(os.environ.get("SYNCTOOL_BENCH_MYSQL_ROWS", "1000000"))
PG = {k: os.environ.get("SYNCTOOL_TEST_PG_" + k) for k in
      ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")}
MY = {k: os.environ.get("SYNCTOOL_TEST_MYSQL_" + k) for k in
      ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")}
SRC_DB = f"bench_my_{os.getpid()}"          # MySQL source database (and pgloader's PG schema)
DST_DB = f"bench_my_dst_{os.getpid()}"      # MySQL -> MySQL: synctool's destination
DUMP_DB = f"bench_my_dump_{os.getpid()}"    # MySQL -> MySQL: mysqldump's destination
PG_SCHEMA = f"bench_my_pg_{os.getpid()}"    # MySQL -> PostgreSQL: synctool's and the pipe's
COLS = "id, customer_id, total, note, updated_at, ratio"
PGENV = dict(os.environ, PGPASSWORD=PG["PASSWORD"] or "")
MYENV = dict(os.environ, MYSQL_PWD=MY["PASSWORD"] or "")


def my_cmd(db=None):
    return ["mariadb", "--no-defaults", "--default-character-set=utf8mb4", "-h", MY["HOST"],
            "-P", MY["PORT"], "-u", MY["USER"], "--batch", "--raw", "--skip-column-names"] + \
           ([db] if db else [])


def my(sql, db=None):
    return subprocess.run(my_cmd(db) + ["-e", sql], env=MYENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def psql_cmd(sql):
    return ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", PG["HOST"],
            "-p", PG["PORT"], "-U", PG["USER"], "-d", PG["DBNAME"], "-c", sql]


def psql(sql):
    return subprocess.run(psql_cmd(sql), env=PGENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def write_config(root):
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)

    def myds(db):
        return (f"{{type: mysql, connection: {{host: {MY['HOST']}, port: {MY['PORT']}, "
                f"user: {MY['USER']}, password: \"{MY['PASSWORD']}\", dbname: {db}}}}}")
    pgds = (f"{{type: postgres, connection: {{host: {PG['HOST']}, port: {PG['PORT']}, "
            f"user: {PG['USER']}, password: \"{PG['PASSWORD']}\", dbname: {PG['DBNAME']}}}}}")
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        f.write(f"datastores:\n  shop: {myds(SRC_DB)}\n  wh: {pgds}\n"
                f"  myd: {myds(DST_DB)}\n  dump: {myds(DUMP_DB)}\n")
    cols = ("columns:\n  - {name: id, type: bigint, key: true}\n"
            "  - {name: customer_id, type: bigint}\n  - {name: total, type: \"numeric(14,2)\"}\n"
            "  - {name: note, type: text}\n  - {name: updated_at, type: timestamp}\n"
            "  - {name: ratio, type: double precision}\n")
    # p: MySQL -> PG; ppipe / ppgl: only for `ddl apply` of the baselines' tables;
    # pm: MySQL -> MySQL; pdump: the mysqldump target's table.
    for name, dst in (("p", f"{{datastore: wh, schema: {PG_SCHEMA}, table: dst}}"),
                      ("ppipe", f"{{datastore: wh, schema: {PG_SCHEMA}, table: pipe_t}}"),
                      ("ppgl", f"{{datastore: wh, schema: {SRC_DB}, table: src}}"),
                      ("pm", "{datastore: myd, table: dst}"),
                      ("pdump", "{datastore: dump, table: src}")):
        with open(os.path.join(root, "pipelines", f"{name}.yaml"), "w") as f:
            f.write(f"name: {name}\nsource: {{datastore: shop, table: src}}\n"
                    f"destination: {dst}\n" + cols +
                    "strategies:\n  - {name: full, type: full}\n  - {name: hash, type: hash}\n")


def stats(err):
    m = re.search(r"sync done: (\d+) read, (\d+) inserted, (\d+) updated, (\d+) deleted", err)
    return tuple(int(x) for x in m.groups()) if m else None




def pipe_copy():
    """mariadb --batch --raw | psql \\copy (NULL printed as the word NULL)."""
    src = subprocess.Popen(my_cmd(SRC_DB) + ["--quick", "-e", f"SELECT {COLS} FROM src"],
                           env=MYENV, stdout=subprocess.PIPE)
    dst = subprocess.run(psql_cmd(f"\\copy \"{PG_SCHEMA}\".pipe_t ({COLS}) FROM STDIN "
                                  f"WITH (FORMAT text, NULL 'NULL')"),
                         env=PGENV, stdin=src.stdout, capture_output=True)
    src.stdout.close()
    if src.wait() != 0 or dst.returncode != 0:
        raise RuntimeError(f"pipe failed: {dst.stderr}")


def pgloader(workdir):
    load = os.path.join(workdir, "one_table.load")
    with open(load, "w") as f:
        f.write(f"LOAD DATABASE\n"
                f"  FROM mysql://{MY['USER']}:{MY['PASSWORD']}@{MY['HOST']}:{MY['PORT']}/{SRC_DB}\n"
                f"  INTO postgresql://{PG['USER']}:{PG['PASSWORD']}@{PG['HOST']}:{PG['PORT']}/"
                f"{PG['DBNAME']}\n"
                f"  WITH data only, truncate, workers = 2, concurrency = 1\n"
                f"  INCLUDING ONLY TABLE NAMES MATCHING 'src';\n")
    r = subprocess.run(["pgloader", "--no-ssl-cert-verification", "--quiet", load], cwd=workdir,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"pgloader failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    # its row count is the caller's proof (kept() leaves a short copy out)


def bench_to_pg(root, workdir):
    rss = []

    def go():
        secs, err, kib = synctool(root, "run", "--job-name", "p", "--strategy", "full")
        s = stats(err)
        if s is None or s[1] != ROWS:
            raise RuntimeError(f"full: expected {ROWS} inserted, got {s}")
        rss.append(kib)
        return secs

    def rows(table):
        return lambda: int(psql(f"SELECT count(*) FROM {table}"))

    def st():
        psql(f'TRUNCATE "{PG_SCHEMA}".dst')
        return pg_proved(psql, go, rows(f'"{PG_SCHEMA}".dst'), ROWS)

    def pipe():
        psql(f'TRUNCATE "{PG_SCHEMA}".pipe_t')
        return pg_proved(psql, lambda: timed(pipe_copy), rows(f'"{PG_SCHEMA}".pipe_t'), ROWS)

    def pgl():
        return pg_proved(psql, lambda: timed(lambda: pgloader(workdir)),
                         rows(f'"{SRC_DB}".src'), ROWS)

    s_st, s_pipe, s_pgl = interleave_proved([st, pipe, pgl])
    (t_st, n_st), (t_pipe, n_pipe), (t_pgl, n_pgl) = kept(s_st), kept(s_pipe), kept(s_pgl)
    r_pgl, r_pipe = med(t_st) / med(t_pgl), med(t_st) / med(t_pipe)
    report(f"MySQL -> PostgreSQL full, {ROWS} rows", f"{med(t_st):.2f} s {rng(t_st)} [{n_st}]",
           f"pgloader {med(t_pgl):.2f} s {rng(t_pgl)} [{n_pgl}]", f"{r_pgl:.2f}x",
           "<= 1.0x pgloader", r_pgl <= 1.0)
    report(f"MySQL -> PostgreSQL full, {ROWS} rows", f"{med(t_st):.2f} s {rng(t_st)} [{n_st}]",
           f"mariadb --batch piped to psql \\copy {med(t_pipe):.2f} s {rng(t_pipe)} [{n_pipe}]",
           f"{r_pipe:.2f}x", "<= 1.3x pipe", r_pipe <= 1.3)
    return max(rss)


def bench_to_mysql(root):
    rss = []

    def go_st():
        secs, err, kib = synctool(root, "run", "--job-name", "pm", "--strategy", "full")
        s = stats(err)
        if s is None or s[1] != ROWS:
            raise RuntimeError(f"full: expected {ROWS} inserted, got {s}")
        rss.append(kib)
        return secs

    def rows(table, db):
        return lambda: int(my(f"SELECT count(*) FROM {table}", db))

    def st():
        my("TRUNCATE TABLE dst", DST_DB)
        return proved(go_st, rows("dst", DST_DB), ROWS)

    def dump():
        my("TRUNCATE TABLE src", DUMP_DB)

        def go():
            d = subprocess.Popen(["mysqldump", "--no-defaults", "-h", MY["HOST"], "-P", MY["PORT"],
                                  "-u", MY["USER"], "--no-create-info", SRC_DB, "src"],
                                 env=MYENV, stdout=subprocess.PIPE)
            m = subprocess.run(my_cmd(DUMP_DB), env=MYENV, stdin=d.stdout, capture_output=True)
            d.stdout.close()
            if d.wait() != 0 or m.returncode != 0:
                raise RuntimeError(f"mysqldump | mariadb failed: {m.stderr}")
        return proved(lambda: timed(go), rows("src", DUMP_DB), ROWS)

    s_st, s_dump = interleave_proved([st, dump])
    (t_st, n_st), (t_dump, n_dump) = kept(s_st), kept(s_dump)
    r = med(t_st) / med(t_dump)
    report(f"MySQL -> MySQL full, {ROWS} rows", f"{med(t_st):.2f} s {rng(t_st)} [{n_st}]",
           f"mysqldump piped to mariadb {med(t_dump):.2f} s {rng(t_dump)} [{n_dump}]", f"{r:.2f}x",
           "<= 1.3x", r <= 1.3)
    return max(rss)


def bench_hash_identical(root):
    def go():
        secs, err, _ = synctool(root, "run", "--job-name", "pm", "--strategy", "hash")
        s = stats(err)
        if s is None or s[1:] != (0, 0, 0):
            raise RuntimeError(f"hash on identical tables changed rows: {s}")
        return secs

    def dst_rows():
        return int(my("SELECT count(*) FROM dst", DST_DB))

    def h():
        return proved(go, dst_rows, ROWS)

    def c():
        return proved(lambda: timed(lambda: (my("CHECKSUM TABLE src", SRC_DB),
                                             my("CHECKSUM TABLE dst", DST_DB))), dst_rows, ROWS)

    s_h, s_c = interleave_proved([h, c])
    (t_h, n_h), (t_c, n_c) = kept(s_h), kept(s_c)
    r = med(t_h) / med(t_c)
    report(f"hash, identical MySQL tables, {ROWS} rows", f"{med(t_h):.2f} s {rng(t_h)} [{n_h}]",
           f"CHECKSUM TABLE both sides {med(t_c):.2f} s {rng(t_c)} [{n_c}]", f"{r:.2f}x",
           "<= 5x CHECKSUM TABLE", r <= 5)  # issue 25


def main():
    if not MY["PORT"] or not PG["PORT"]:
        print("bench_mysql: SYNCTOOL_TEST_MYSQL_* / _PG_* not set (run through bench/run)",
              file=sys.stderr)
        return 2
    if os.environ.get("SYNCTOOL_BENCH_LABEL"):
        print("bench_mysql: first pass only")
        return 0
    root = tempfile.mkdtemp(prefix="bench-mysql-")
    for db in (SRC_DB, DST_DB, DUMP_DB):
        my(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    psql(f'CREATE SCHEMA "{PG_SCHEMA}"; CREATE SCHEMA "{SRC_DB}"')
    try:
        my("CREATE TABLE src (id bigint PRIMARY KEY, customer_id bigint, total decimal(14,2), "
           "note varchar(100), updated_at datetime(6), ratio double) ENGINE=InnoDB; "
           f"INSERT INTO src SELECT seq, seq % 9973, seq * 0.37, "
           f"IF(seq % 7 = 0, NULL, CONCAT('order note ', seq)), "
           f"TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq SECOND, seq / 3.0 "
           f"FROM seq_1_to_{ROWS}; ANALYZE TABLE src", SRC_DB)
        write_config(root)
        for p in ("p", "ppipe", "ppgl", "pm", "pdump"):
            synctool(root, "ddl", "apply", p)
        version = my("SELECT VERSION()")
        print(f"rows: {ROWS} x 6 columns; MariaDB {version} (test harness settings: "
              f"innodb_flush_log_at_trx_commit=0, doublewrite off), PostgreSQL from the "
              f"same with-servers run; median of {REPS} interleaved runs (range); "
              f"a shared, loaded 2-core machine\n")
        print("| figure | synctool | baseline (same run) | ratio | goal | met? |")
        print("|---|---|---|---|---|---|", flush=True)
        rss = bench_to_pg(root, root)
        report(f"peak RSS, MySQL -> PostgreSQL full, {ROWS} rows", f"{rss / 1024:.1f} MiB",
               "-", "-", "<= 64 MiB", rss / 1024 <= 64)
        rss = bench_to_mysql(root)
        report(f"peak RSS, MySQL -> MySQL full, {ROWS} rows", f"{rss / 1024:.1f} MiB",
               "-", "-", "<= 64 MiB", rss / 1024 <= 64)
        bench_hash_identical(root)
    finally:
        for db in (SRC_DB, DST_DB, DUMP_DB):
            subprocess.run(my_cmd() + ["-e", f"DROP DATABASE IF EXISTS `{db}`"], env=MYENV,
                           capture_output=True)
        subprocess.run(psql_cmd(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE; '
                                f'DROP SCHEMA IF EXISTS "{SRC_DB}" CASCADE'),
                       env=PGENV, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    save_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
