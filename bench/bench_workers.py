#!/usr/bin/env python3
"""Workers, the fixed cost of a run, and the state at scale (issue 25 items
2, 4 and 5; run by bench/run).

  worker throughput   500 small pipelines (SQLite -> SQLite, 3 rows each, a
                      `full` strategy every minute, Redis state: workers
                      need it) all due in one tick (`scheduler --once --at`),
                      drained by `synctool worker` with 1 and with 2
                      consumers (--concurrency 2). Timed from the tick's
                      start to the stream's last acknowledgement (XLEN 0).
                      Each repetition proves it ran every job exactly once:
                      the workers' logs say "succeeded" once per pipeline,
                      every pipeline's history holds exactly one entry per
                      tick so far, and its record is `success` at that tick.
                      Baseline, same run: one `synctool run` of such a
                      pipeline (a process per run, as the embedded
                      scheduler's jobs). Goals: >= 50 jobs/s with 1 worker,
                      500 due pipelines in <= 10 s with 2.
  no-op run           `synctool run` of a delta strategy with no new rows,
                      SQLite -> SQLite and PostgreSQL -> PostgreSQL (SQLite
                      state), against the process start (`synctool
                      --version`). Where it goes, from the wall-clock
                      instants of the run's debug log lines against its
                      spawn: up to "locks acquired" (process start, config,
                      state open, both locks), the sync (the source's
                      connection, the probe), recording (outcome, history,
                      releases) and the exit.
                      Each run proves it read 0 rows and says whether it
                      opened the destination (a delta with nothing after
                      its watermark does not: sync.c). Goals: <= 30 ms
                      SQLite, <= 60 ms PostgreSQL.
  state at scale      10,000 pipelines (generated config dir; a delta and a
                      full strategy each, a record and a watermark for every
                      delta), SQLite and Redis state: `status`, `status
                      --json` (their config from the parsed-config cache,
                      <dir>/.synctool/config.cache, written by a first
                      `status`: checked to exist), GET /api/v1/pipelines on a
                      running `serve` (the full list: no pagination), with
                      the server's CPU per request from /proc, and a
                      dashboard load (the page, its script and style,
                      /api/v1/pipelines, /api/v1/workers, /api/v1/alerts, one
                      after the other, as the page asks for them). The
                      answers are checked to hold every pipeline. Baseline:
                      `synctool validate` (reading and parsing the 10,000
                      files, which `status` did at every call before the
                      cache). Also printed, without a goal: `status` right
                      after one pipeline file was rewritten (a cache miss:
                      the full parse, then the cache written again).
                      Goal: <= 200 ms each.
(The history retention over a simulated year is bench_retention.c.)

Env: SYNCTOOL_BENCH_REPS (5), SYNCTOOL_BENCH_WORKER_PIPES (500),
SYNCTOOL_BENCH_SCALE_PIPES (10000), SYNCTOOL_BENCH_ONLY
(workers,noop,scale), SYNCTOOL_TEST_REDIS_URL and SYNCTOOL_TEST_PG_* (from
scripts/with-servers). Runs in bench/run's first pass only (the second pass
changes PostgreSQL's buffers, which none of these depend on). Reports;
never fails on a missed goal.
"""
import calendar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.request

from benchlib import REPS, med, report, rng, save_summary

BIN = os.environ.get("SYNCTOOL_BIN", "build/synctool")
REDIS = os.environ.get("SYNCTOOL_TEST_REDIS_URL", "")
PG = {k: os.environ.get("SYNCTOOL_TEST_PG_" + k) for k in
      ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")}
PIPES = int(os.environ.get("SYNCTOOL_BENCH_WORKER_PIPES", "500"))
SCALE = int(os.environ.get("SYNCTOOL_BENCH_SCALE_PIPES", "10000"))
ONLY = set(os.environ.get("SYNCTOOL_BENCH_ONLY", "workers,noop,scale").split(","))


# --- a small Redis client (RESP), so polling costs no process ---

class Redis:
    def __init__(self, url, db):
        m = re.match(r"redis://(?:[^@]*@)?([^:/]+)(?::(\d+))?", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2) or 6379)))
        self.f = self.sock.makefile("rb")
        self.cmd("SELECT", str(db))

    def _send(self, cmds):
        out = b""
        for args in cmds:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = a.encode() if isinstance(a, str) else a
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def _read(self):
        line = self.f.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"redis: unexpected reply {line!r}")

    def cmd(self, *args):
        self._send([args])
        return self._read()

    def many(self, cmds):
        out = []
        for i in range(0, len(cmds), 1000):
            chunk = cmds[i:i + 1000]
            self._send(chunk)
            out += [self._read() for _ in chunk]
        return out

    def close(self):
        self.sock.close()


def redis_url(db):
    return REDIS.rsplit("/", 1)[0] + f"/{db}"


def iso_us(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) * 1000000


def run_ok(root, *args, env=None):
    p = subprocess.run([BIN, "--config-dir", root] + list(args), capture_output=True, text=True,
                       env=env)
    if p.returncode != 0:
        raise RuntimeError(f"synctool {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def timed_run(cmd):
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.monotonic() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr}")
    return secs, p


# --- worker throughput ---

def small_pipelines(root, n, state_url):
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        f.write("datastores:\n  src: {type: sqlite, path: src.db}\n"
                "  dst: {type: sqlite, path: dst.db}\n"
                f"state: {{url: \"{state_url}\"}}\n")
    for path in ("src.db", "dst.db"):
        con = sqlite3.connect(os.path.join(root, path))
        for i in range(n):
            con.execute(f"CREATE TABLE IF NOT EXISTS t{i} (id INTEGER PRIMARY KEY, name TEXT)")
            if path == "src.db":
                con.executemany(f"INSERT OR REPLACE INTO t{i} VALUES (?, ?)",
                                [(r, f"row {r}") for r in range(1, 4)])
        con.commit()
        con.close()
    for i in range(n):
        with open(os.path.join(root, "pipelines", f"p{i}.yaml"), "w") as f:
            f.write(f"name: p{i}\nsource: {{datastore: src, table: t{i}}}\n"
                    f"destination: {{datastore: dst, table: t{i}}}\ncolumns:\n"
                    "  - {name: id, type: bigint, key: true}\n  - {name: name, type: text}\n"
                    "strategies:\n  - {name: full_1m, type: full, cron: \"* * * * *\"}\n")


class Worker:
    """`synctool worker --concurrency k`, its stderr collected by a thread."""

    def __init__(self, root, k):
        self.lines = []
        self.cv = threading.Condition()
        self.p = subprocess.Popen([BIN, "--config-dir", root, "worker", "--name", "bw",
                                   "--concurrency", str(k), "--claim-idle", "60"],
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_for(lambda: sum("started (claims" in s for s in self.lines) >= k)

    def _read(self):
        for line in self.p.stderr:
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout=120):
        end = time.monotonic() + timeout
        with self.cv:
            while not pred():
                if self.p.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("worker: " + "".join(self.lines[-20:]))
                self.cv.wait(0.5)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=120)
        self.reader.join(timeout=60)   # the pipe read to its end
        if rc != 0:
            raise RuntimeError(f"worker exited {rc}: " + "".join(self.lines[-20:]))
        return "".join(self.lines)


def drain(root, r, k, at, ticks):
    """One tick of PIPES due pipelines drained by k consumers: (seconds,
    note); raises if any job did not run exactly once."""
    w = Worker(root, k)
    t = time.monotonic()
    run_ok(root, "scheduler", "--once", "--at", at)
    while r.cmd("XLEN", "synctool:jobs") != 0:
        time.sleep(0.005)
    secs = time.monotonic() - t
    log = w.stop()
    ok = log.count(" succeeded: ")
    lens = r.many([("LLEN", f"synctool:history:p{i}:full_1m") for i in range(PIPES)])
    recs = r.many([("HMGET", f"synctool:state:p{i}:full_1m", "status", "last_run")
                   for i in range(PIPES)])
    want = iso_us(at)
    bad = [i for i in range(PIPES) if lens[i] != ticks or recs[i][0] != "success" or
           int(recs[i][1] or 0) != want]
    if ok != PIPES or bad:
        raise RuntimeError(f"not exactly once at {at}: {ok} succeeded of {PIPES}; "
                           f"pipelines off: {bad[:5]} (history {[lens[i] for i in bad[:5]]})")
    return secs


def bench_workers():
    if not REDIS:
        print("skipped: no SYNCTOOL_TEST_REDIS_URL")
        return
    root = tempfile.mkdtemp(prefix="synctool-bench-workers-")
    base_root = tempfile.mkdtemp(prefix="synctool-bench-workers-base-")
    try:
        r = Redis(REDIS, 9)
        r.cmd("FLUSHDB")
        small_pipelines(root, PIPES, redis_url(9))
        rb = Redis(REDIS, 10)
        rb.cmd("FLUSHDB")
        small_pipelines(base_root, 1, redis_url(10))
        base = [timed_run([BIN, "--config-dir", base_root, "run", "--job-name", "p0"])[0]
                for _ in range(max(10, REPS))]
        times = {1: [], 2: []}
        tick = 0
        for rep in range(REPS):
            for k in ((1, 2) if rep % 2 == 0 else (2, 1)):
                tick += 1
                at = f"2026-03-02T{10 + tick // 60:02d}:{tick % 60:02d}:00Z"
                times[k].append(drain(root, r, k, at, tick))
        r.close()
        rb.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(base_root, ignore_errors=True)
    b = med(base)
    one = [PIPES / s for s in times[1]]
    print(f"{PIPES} due pipelines, {REPS} ticks per side, each checked exactly once "
          f"(logs, history length, record)")
    print(f"  1 worker:  {med(times[1]):.2f} s {rng(times[1])}  = {med(one):.1f} jobs/s")
    print(f"  2 workers: {med(times[2]):.2f} s {rng(times[2])}  = "
          f"{PIPES / med(times[2]):.1f} jobs/s")
    print(f"  one `synctool run` of such a pipeline: {b * 1000:.1f} ms")
    note = f"{PIPES} jobs, each exactly once"
    report(f"worker throughput, {PIPES} small pipelines (SQLite -> SQLite, Redis state), "
           "1 worker", f"{med(one):.1f} jobs/s {rng(one, '{:.1f}')} ({note})",
           f"synctool run of one: {b * 1000:.1f} ms ({1 / b:.0f}/s)",
           f"{(med(times[1]) / PIPES) / b:.2f}x a run", ">= 50 jobs/s", med(one) >= 50)
    report(f"{PIPES} due pipelines drained, 2 workers (--concurrency 2)",
           f"{med(times[2]):.2f} s {rng(times[2])} ({PIPES / med(times[2]):.1f} jobs/s; {note})",
           f"1 worker {med(times[1]):.2f} s", f"{med(times[2]) / med(times[1]):.2f}x",
           f"<= {10 * PIPES / 500:.0f} s", med(times[2]) <= 10 * PIPES / 500)


# --- the fixed cost of a run with nothing to do ---

def pg_env():
    return dict(os.environ, PGPASSWORD=PG["PASSWORD"] or "")


def psql(sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG["HOST"], "-p",
                    PG["PORT"], "-U", PG["USER"], "-d", PG["DBNAME"], "-c", sql],
                   check=True, capture_output=True, env=pg_env())


def noop_config(root, kind):
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)
    schema = ""
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        if kind == "sqlite":
            f.write("datastores:\n  src: {type: sqlite, path: src.db}\n"
                    "  dst: {type: sqlite, path: dst.db}\n")
            for path in ("src.db", "dst.db"):
                con = sqlite3.connect(os.path.join(root, path))
                con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT)")
                if path == "src.db":
                    con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                                    [(i, f"row {i}", f"2025-01-01T00:{i // 60 % 60:02d}:"
                                      f"{i % 60:02d}Z") for i in range(1000)])
                con.commit()
                con.close()
        else:
            ds = (f"{{type: postgres, connection: {{host: {PG['HOST']}, port: {PG['PORT']}, "
                  f"user: {PG['USER']}, password: \"{PG['PASSWORD']}\", dbname: {PG['DBNAME']}}}}}")
            f.write(f"datastores:\n  src: {ds}\n  dst: {ds}\n")
            schema = f"bench_noop_{os.getpid()}"
            psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; "
                 f"CREATE TABLE {schema}.src (id bigint PRIMARY KEY, name text, "
                 f"updated_at timestamptz); INSERT INTO {schema}.src SELECT g, 'row ' || g, "
                 f"'2025-01-01'::timestamptz + g * interval '1 second' "
                 f"FROM generate_series(1, 1000) g; "
                 f"CREATE INDEX ON {schema}.src (updated_at, id)")
    sch = f"schema: {schema}, " if schema else ""
    with open(os.path.join(root, "pipelines", "d.yaml"), "w") as f:
        f.write(f"name: d\nsource: {{datastore: src, {sch}table: {'src' if schema else 't'}}}\n"
                f"destination: {{datastore: dst, {sch}table: {'dst' if schema else 't'}}}\n"
                "columns:\n  - {name: id, type: bigint, key: true}\n"
                "  - {name: name, type: text}\n"
                f"  - {{name: updated_at, type: {'timestamptz' if schema else 'text'}}}\n"
                "strategies:\n  - {name: delta, type: delta, cursor: updated_at}\n")
    if schema:
        run_ok(root, "ddl", "apply", "d")
    run_ok(root, "run", "--job-name", "d")   # catches up: the timed runs find nothing new
    return schema


LOGTS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z \w+ \S+ (.*)$")


def log_time(line):
    m = LOGTS.match(line)
    if m is None:
        return None, ""
    whole, frac = m.group(1).split(".")
    t = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)
    return t, m.group(2)


def noop_one(root):
    """One no-op run with debug logs; returns (total, phases) in seconds:
    phases from the wall-clock instants of its log lines against its spawn:
    'to locks' (process start, config, state open, both locks), 'sync'
    (until "sync done": connects, fencing, the delta query), 'record' (until
    "job success": the outcome, history, releases), 'exit'; and whether
    the run opened the destination."""
    t0 = time.time()
    m0 = time.monotonic()
    p = subprocess.run([BIN, "--log-level", "debug", "--config-dir", root, "run", "--job-name",
                        "d"], capture_output=True, text=True)
    total = time.monotonic() - m0
    t_end = t0 + total
    if p.returncode != 0:
        raise RuntimeError(f"no-op run exited {p.returncode}: {p.stderr}")
    marks = {}
    dst_opened = "destination not opened" not in p.stderr
    for line in p.stderr.splitlines():
        t, msg = log_time(line)
        if t is None:
            continue
        if msg.startswith("locks acquired"):
            marks["locks"] = t
        elif msg.startswith("sync done: "):
            marks["sync"] = t
            if not msg.startswith("sync done: 0 read"):
                raise RuntimeError("the no-op run read rows: " + p.stderr)
        elif msg.startswith("job success"):
            marks["done"] = t
    if set(marks) != {"locks", "sync", "done"}:
        raise RuntimeError("no-op run: log lines missing: " + p.stderr)
    return total, {"to locks": marks["locks"] - t0, "sync": marks["sync"] - marks["locks"],
                   "record": marks["done"] - marks["sync"], "exit": t_end - marks["done"],
                   "dst opened": dst_opened}


def bench_noop_one(kind, goal_ms):
    root = tempfile.mkdtemp(prefix=f"synctool-bench-noop-{kind}-")
    schema = ""
    try:
        schema = noop_config(root, kind)
        n = max(10, 2 * REPS)
        runs, phases, starts, opened = [], {}, [], 0
        for i in range(n):
            for o in ((0, 1) if i % 2 == 0 else (1, 0)):
                if o == 0:
                    s, ph = noop_one(root)
                    runs.append(s)
                    opened += ph.pop("dst opened")
                    for k, v in ph.items():
                        phases.setdefault(k, []).append(v)
                else:
                    starts.append(timed_run([BIN, "--version"])[0])
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if schema:
            psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    t, st = med(runs) * 1000, med(starts) * 1000
    ph = {k: med(v) * 1000 for k, v in phases.items()}
    parts = (f"process start + config + state + locks {ph['to locks']:.1f} ms (of which "
             f"process start {st:.1f}), sync {ph['sync']:.1f} (the source's connection and "
             f"the probe; the destination and fencing only for a run with rows), "
             f"record {ph['record']:.1f} (outcome, history, releases), "
             f"exit {ph['exit']:.1f}; destination opened by {opened} of {n} runs")
    name = "SQLite -> SQLite" if kind == "sqlite" else "PostgreSQL -> PostgreSQL"
    print(f"  {name}: {t:.1f} ms {rng([x * 1000 for x in runs], '{:.1f}')}: {parts}")
    report(f"a run with nothing to do (delta, 0 new rows), {name}, SQLite state",
           f"{t:.1f} ms {rng([x * 1000 for x in runs], '{:.1f}')} (0 rows read, destination "
           f"opened {opened}/{n}; to locks {ph['to locks']:.1f}, sync {ph['sync']:.1f}, "
           f"record {ph['record']:.1f}, exit {ph['exit']:.1f})",
           f"process start (--version) {st:.1f} ms", f"{t / st:.1f}x", f"<= {goal_ms} ms",
           t <= goal_ms)


def bench_noop():
    print(f"medians of {max(10, 2 * REPS)} runs, interleaved with the process start")
    bench_noop_one("sqlite", 30)
    if PG["HOST"]:
        bench_noop_one("pg", 60)
    else:
        print("  PostgreSQL: skipped (no SYNCTOOL_TEST_PG_HOST)")


# --- the state at scale ---

def scale_config(root, state_url):
    os.makedirs(os.path.join(root, "pipelines"), exist_ok=True)
    with open(os.path.join(root, "datastores.yaml"), "w") as f:
        f.write("datastores:\n  src: {type: sqlite, path: src.db}\n"
                "  dst: {type: sqlite, path: dst.db}\n")
        if state_url:
            f.write(f"state: {{url: \"{state_url}\"}}\n")
    for i in range(SCALE):
        with open(os.path.join(root, "pipelines", f"p{i:05d}.yaml"), "w") as f:
            f.write(f"name: p{i:05d}\nsource: {{datastore: src, table: t{i}}}\n"
                    f"destination: {{datastore: dst, table: t{i}}}\ncolumns:\n"
                    "  - {name: id, type: bigint, key: true}\n  - {name: name, type: text}\n"
                    "  - {name: updated_at, type: text}\nstrategies:\n"
                    "  - {name: delta, type: delta, cursor: updated_at, cron: \"*/5 * * * *\"}\n"
                    "  - {name: full, type: full, cron: \"0 3 * * *\"}\n")
    recs = []
    for i in range(SCALE):
        for s in ("delta", "full"):
            recs.append({"pipeline": f"p{i:05d}", "strategy": s, "status": "success",
                         "last_run": "2026-03-02T09:55:00Z",
                         "last_scheduled_at": "2026-03-02T09:55:00Z",
                         "last_attempted_at": "2026-03-02T09:55:00Z", "retry_count": 0,
                         "run_id": 2 * i + (s == "full") + 1,
                         "watermark": "2026-03-02T09:54:59Z" if s == "delta" else None})
    path = os.path.join(root, "state.json")
    with open(path, "w") as f:
        json.dump(recs, f)
    run_ok(root, "state", "import", path)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as resp:
        return resp.read()


def cpu_s(pid):
    """User + system CPU seconds of process pid so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_status_cache(root):
    """Runs `status` until the config cache exists (it is written once every
    config file is older than the cache's temporary file)."""
    cache = os.path.join(root, ".synctool", "config.cache")
    for _ in range(20):
        run_ok(root, "status")
        if os.path.exists(cache):
            return
    raise RuntimeError("status never wrote the config cache " + cache)


def serve(root):
    port = free_port()
    p = subprocess.Popen([BIN, "--config-dir", root, "serve", "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "listening on" in line:
            break
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    return p, port


DASHBOARD = ["/", "/static/app.js", "/static/app.css", "/api/v1/pipelines", "/api/v1/workers",
             "/api/v1/alerts?limit=200"]


def bench_scale_one(kind, state_url):
    root = tempfile.mkdtemp(prefix=f"synctool-bench-scale-{kind}-")
    srv = None
    try:
        scale_config(root, state_url)
        srv, port = serve(root)
        got = json.loads(http_get(port, "/api/v1/pipelines"))   # warm: the config is loaded
        if len(got["pipelines"]) != SCALE:
            raise RuntimeError(f"/api/v1/pipelines listed {len(got['pipelines'])} of {SCALE}")
        warm_status_cache(root)
        out = {"status": [], "status --json": [], "GET /api/v1/pipelines": [],
               "dashboard load": [], "validate": [], "status (cache miss)": []}
        api_cpu = []

        def status():
            s, p = timed_run([BIN, "--config-dir", root, "status"])
            if p.stdout.count("\n") < 2 * SCALE:
                raise RuntimeError("status printed fewer rows than strategies")
            out["status"].append(s)

        def status_json():
            s, p = timed_run([BIN, "--config-dir", root, "status", "--json"])
            if len(json.loads(p.stdout)) != 2 * SCALE:
                raise RuntimeError("status --json: not every strategy")
            out["status --json"].append(s)

        def api():
            c = cpu_s(srv.pid)
            t = time.monotonic()
            body = http_get(port, "/api/v1/pipelines")
            out["GET /api/v1/pipelines"].append(time.monotonic() - t)
            api_cpu.append(cpu_s(srv.pid) - c)
            if len(json.loads(body)["pipelines"]) != SCALE:
                raise RuntimeError("/api/v1/pipelines: not every pipeline")

        def dashboard():
            t = time.monotonic()
            for path in DASHBOARD:
                http_get(port, path)
            out["dashboard load"].append(time.monotonic() - t)

        def validate():
            out["validate"].append(timed_run([BIN, "--config-dir", root, "validate"])[0])

        def status_miss():
            path = os.path.join(root, "pipelines", "p00000.yaml")
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text)
            out["status (cache miss)"].append(timed_run([BIN, "--config-dir", root,
                                                         "status"])[0])
            warm_status_cache(root)

        fns = [status, status_json, api, dashboard, validate]
        for rep in range(REPS):
            for f in (fns if rep % 2 == 0 else fns[::-1]):
                f()
        for _ in range(min(REPS, 3)):
            status_miss()
    finally:
        if srv is not None:
            srv.send_signal(signal.SIGTERM)
            srv.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)
    v = med(out["validate"]) * 1000
    label = "SQLite" if kind == "sqlite" else "Redis"
    cpu = med(api_cpu) * 1000
    for name in ("status", "status --json", "GET /api/v1/pipelines", "dashboard load"):
        ms = [x * 1000 for x in out[name]]
        cli = name.startswith("status")
        print(f"  {label}: {name}: {med(ms):.0f} ms {rng(ms, '{:.0f}')}"
              + (f" (validate alone {v:.0f} ms)" if cli else "")
              + (f" (server CPU {cpu:.0f} ms a request)" if name.startswith("GET") else ""))
        base = (f"validate (reading the config) {v:.0f} ms" if cli
                else f"server CPU {cpu:.0f} ms a request" if name.startswith("GET") else "-")
        report(f"{name}, {SCALE} pipelines ({2 * SCALE} strategies), {label} state",
               f"{med(ms):.0f} ms {rng(ms, '{:.0f}')}", base,
               f"{med(ms) / v:.2f}x validate" if cli else "-", "<= 200 ms", med(ms) <= 200)
    ms = [x * 1000 for x in out["status (cache miss)"]]
    print(f"  {label}: status right after a pipeline file changed (cache miss, no goal): "
          f"{med(ms):.0f} ms {rng(ms, '{:.0f}')}")


def bench_scale():
    print(f"{SCALE} pipelines, a record for each of their {2 * SCALE} strategies, medians of "
          f"{REPS}; load average at the start: {os.getloadavg()[0]:.1f}")
    bench_scale_one("sqlite", "")
    if REDIS:
        r = Redis(REDIS, 11)
        r.cmd("FLUSHDB")
        bench_scale_one("redis", redis_url(11))
        r.cmd("FLUSHDB")
        r.close()


def main():
    if os.environ.get("SYNCTOOL_BENCH_LABEL"):
        print("(first pass only: nothing here depends on PostgreSQL's buffers)")
        return
    print("| figure | synctool | baseline | ratio | goal | met? |")
    print("|---|---|---|---|---|---|")
    for name, fn in (("workers", bench_workers), ("noop", bench_noop), ("scale", bench_scale)):
        if name in ONLY:
            print(f"-- {name}")
            fn()
    save_summary()


if __name__ == "__main__":
    main()
