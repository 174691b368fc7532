"""End-to-end: progress (issue 14, item 10).

On a terminal (a pty from Python's pty module) `run` shows a progress line
with the total and an ETA, for full and for hash; not on a terminal a run
longer than --progress-interval logs info lines instead (the run is made
long by pg_sleep in a source view, never by a big table), and a short run
logs none.

Issue 20: the row estimate no longer runs on the source connection while
its read is open, and never reads a slow view (statistics, a count that
finishes within 500 ms, else the planner's estimate: the view's table is
ANALYZEd so the estimate is exact). SIGTERM to a run reading a slow source
(a view yielding 500 rows/s, a batch taking 4 s) ends it within one network
read: exit 143 within 2 s (the one upper bound the issue asks for).
"""
import threading
import time
import os
import pty
import select
import subprocess

from conftest import BIN
from test_sync_cli import pg_ds, schema, sqlite_seed, write_config  # noqa: F401


def run_on_pty(args):
    master, slave = pty.openpty()
    p = subprocess.Popen([BIN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=60)
    os.close(master)
    return p.returncode, out.decode(errors="replace")


def test_progress_line_on_a_terminal(synctool, tmp_path):
    write_config(tmp_path, "  a: {type: sqlite, path: data/a.db}\n"
                 "  b: {type: sqlite, path: data/b.db}\n",
                 "{datastore: a, table: orders}", "{datastore: b, table: orders}")
    sqlite_seed(tmp_path / "data" / "a.db", n=50)
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    base = ["--config-dir", str(tmp_path), "run", "p"]
    rc, err = run_on_pty(base + ["--strategy", "full"])
    assert rc == 0, err
    assert "\rrows 50 of ~50 read, 50 written" in err, err
    assert "rows/s, ETA 0s" in err, err
    rc, err = run_on_pty(base + ["--strategy", "hash"])
    assert rc == 0, err
    assert "of ~50 read" in err and "segments" in err and "of ~1" in err and "ETA" in err, err
    # not on a terminal: no line
    r = synctool("run", "p", "--strategy", "full", config_dir=tmp_path)
    assert "\r" not in r.err and "progress:" not in r.err, r


def test_progress_log_lines_off_a_terminal(synctool, tmp_path, pg_server, schema):
    pg_server.psql(
        f'CREATE TABLE "{schema}".orders (id bigint PRIMARY KEY, customer_id bigint, '
        f'total numeric(14,2), note text, updated_at timestamptz); '
        f'INSERT INTO "{schema}".orders SELECT g, g, g, \'n\', now() FROM generate_series(1, 4) g; '
        f'ANALYZE "{schema}".orders; '
        f'CREATE VIEW "{schema}".slow AS SELECT o.* FROM "{schema}".orders o, '
        f'LATERAL (SELECT pg_sleep(0.4 + 0 * o.id)) AS nap',
        dbname=pg_server.dbname)
    write_config(tmp_path, pg_ds(pg_server, "shop") + "  b: {type: sqlite, path: data/b.db}\n",
                 f"{{datastore: shop, schema: {schema}, table: slow}}",
                 "{datastore: b, table: orders}")
    assert synctool("ddl", "apply", "p", config_dir=tmp_path).rc == 0
    r = synctool("run", "p", "--strategy", "full", "--progress-interval", "1",
                 config_dir=tmp_path)
    assert r.rc == 0, r
    lines = [line for line in r.err.splitlines() if " info p:full progress: " in line]
    assert lines, r.err  # at least 1.6 s of reading: at least one line
    assert "rows 4 of ~4 read" in lines[-1] and "ETA 0s" in lines[-1], lines
    # the default interval is 30 s: this short run logs no progress
    r = synctool("run", "p", "--strategy", "full", config_dir=tmp_path)
    assert r.rc == 0 and "progress:" not in r.err, r
    r = synctool("run", "p", "--progress-interval", "0", config_dir=tmp_path)
    assert r.rc == 2 and "--progress-interval must be at least 1" in r.err


def test_sigterm_to_a_run_reading_a_slow_source(tmp_path, pg_server, schema):
    pg_server.psql(
        f'CREATE TABLE "{schema}".orders (id bigint PRIMARY KEY, customer_id bigint, '
        f'total numeric(14,2), note text, updated_at timestamptz); '
        f'INSERT INTO "{schema}".orders SELECT g, g, g, \'n\', now() '
        f'FROM generate_series(1, 100000) g; ANALYZE "{schema}".orders; '
        f'CREATE VIEW "{schema}".slow AS SELECT o.* FROM "{schema}".orders o, '
        f'LATERAL (SELECT pg_sleep(0.002 + 0 * o.id)) AS nap',
        dbname=pg_server.dbname)
    write_config(tmp_path, pg_ds(pg_server, "shop") + "  b: {type: sqlite, path: data/b.db}\n",
                 f"{{datastore: shop, schema: {schema}, table: slow}}",
                 "{datastore: b, table: orders}")
    assert subprocess.run([BIN, "--config-dir", str(tmp_path), "ddl", "apply", "p"],
                          capture_output=True).returncode == 0
    p = subprocess.Popen([BIN, "--config-dir", str(tmp_path), "run", "p", "--strategy", "full",
                          "--progress-interval", "1"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
    lines, progressing = [], threading.Event()

    def read():
        for line in p.stderr:
            lines.append(line)
            if " progress: " in line:
                progressing.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # a batch (2,000 rows, 4 s at this pace) committed, the estimate taken
        assert progressing.wait(120), "".join(lines)
        killed = time.monotonic()
        p.send_signal(15)
        rc = p.wait(60)
        took = time.monotonic() - killed
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    reader.join(10)
    assert rc == 143, "".join(lines)
    assert took <= 2.0, f"exit {took:.1f}s after SIGTERM:\n" + "".join(lines)
    assert "reading rows" not in "".join(lines) or "interrupted" in "".join(lines), lines
