"""End-to-end: `notify:` webhooks and `freshness:` thresholds.

A small HTTP server in the test receives the webhooks. The scheduler runs
tick by tick (`scheduler --once --at T`), so every instant is fixed and the
test never waits on the clock: each --once waits for its alerts to be
delivered before it exits. The receiver must get exactly one alert per
transition — failed, paused, freshness warn, recovered, fresh again — never
one per tick, each with a Slack-compatible "text", and never the webhook's
token.
"""
import http.server
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import BIN
from http_helpers import Server, validate
from test_distributed import redis_db_url

TOKEN = "tok-SECRET-123"

PIPELINE = """\
name: orders_sync
source: {datastore: src, table: orders}
destination: {datastore: dst, table: orders}
columns:
  - {name: id, type: bigint, key: true}
  - {name: total, type: "numeric(12,2)"}
strategies:
  - {name: full_hourly, type: full, cron: "0 * * * *"}
retry: {max_retry_count: 2}
freshness: {warn_after: 3h, error_after: 6h}
"""


class Receiver:
    """Collects POSTed JSON bodies; answers 503 to the first `fail_first`."""

    def __init__(self, fail_first=0, port=0):
        self.bodies, self.paths, self.attempts = [], [], 0
        self.fail_first = fail_first
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.attempts += 1
                if outer.attempts <= outer.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                outer.paths.append(self.path)
                assert self.headers["Content-Type"] == "application/json"
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks/{TOKEN}?token={TOKEN}"

    def events(self):
        return [(b["event"], b["status"]) for b in self.bodies]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def make_config(tmp_path, hook_url, events=None):
    cfg = tmp_path / "cfg"
    (cfg / "pipelines").mkdir(parents=True)
    (cfg / "data").mkdir()
    ev = f", events: [{', '.join(events)}]" if events else ""
    (cfg / "datastores.yaml").write_text(
        "datastores:\n"
        "  src: {type: sqlite, path: data/src.db}\n"
        "  dst: {type: sqlite, path: data/dst.db}\n"
        "notify:\n"
        f"  webhooks:\n    - {{url: \"{hook_url}\"{ev}}}\n"
        "  timeout_seconds: 5\n")
    (cfg / "pipelines" / "orders.yaml").write_text(PIPELINE)
    con = sqlite3.connect(cfg / "data" / "src.db")
    con.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, total NUMERIC)")
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(i, i * 2.5) for i in range(1, 6)])
    con.commit()
    con.close()
    return cfg


def break_source(cfg, broken):
    con = sqlite3.connect(cfg / "data" / "src.db")
    if broken:
        con.execute("ALTER TABLE orders RENAME TO orders_away")
    else:
        con.execute("ALTER TABLE orders_away RENAME TO orders")
    con.commit()
    con.close()


def tick(synctool, cfg, at):
    r = synctool("scheduler", "--once", "--at", at, config_dir=cfg)
    assert TOKEN not in r.err and TOKEN not in r.out, "the webhook token leaked into the output"
    return r


def test_one_alert_per_transition(synctool, tmp_path, receiver):
    cfg = make_config(tmp_path, receiver.url())
    assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0

    tick(synctool, cfg, "2025-10-15T10:00:05Z")            # first run: success
    assert receiver.events() == []                         # fresh data is no news

    break_source(cfg, True)
    tick(synctool, cfg, "2025-10-15T11:00:05Z")            # fails (1 of 2)
    assert receiver.events() == [("failed", "failed")]
    a = receiver.bodies[0]
    assert a["pipeline"] == "orders_sync" and a["strategy"] == "full_hourly"
    assert a["text"].startswith(":x: orders_sync:full_hourly failed (run ")
    assert "failure 1 of 2 before it pauses" in a["text"]
    assert "table main.orders does not exist" in a["error"]
    assert a["at"] == "2025-10-15T11:00:05Z" and a["retry_count"] == 1

    tick(synctool, cfg, "2025-10-15T11:00:35Z")            # same slot, nothing runs
    tick(synctool, cfg, "2025-10-15T11:01:05Z")
    assert len(receiver.bodies) == 1                       # not one per tick

    tick(synctool, cfg, "2025-10-15T12:00:05Z")            # fails again: paused
    assert receiver.events()[1:] == [("paused", "failed")]
    assert "synctool reset orders_sync --strategy full_hourly" in receiver.bodies[1]["text"]

    tick(synctool, cfg, "2025-10-15T13:30:05Z")            # 3.5 h after the last success
    assert receiver.events()[2:] == [("freshness", "warn")]
    warn = receiver.bodies[2]
    assert warn["strategy"] is None
    assert warn["freshness_s"] == 12600
    assert warn["text"] == (":warning: orders_sync data is stale: last successful run started "
                            "3h 30m ago (2025-10-15T10:00:05Z), over the warn threshold of 3h")
    tick(synctool, cfg, "2025-10-15T13:45:05Z")            # still warn, still paused
    assert len(receiver.bodies) == 3

    break_source(cfg, False)
    assert synctool("reset", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T14:00:05Z")            # runs, succeeds
    assert sorted(receiver.events()[3:]) == [("freshness", "ok"), ("recovered", "success")]
    tick(synctool, cfg, "2025-10-15T14:00:35Z")
    assert len(receiver.bodies) == 5
    for b in receiver.bodies:
        assert set(b) == {"text", "event", "pipeline", "strategy", "status", "run_id",
                          "retry_count", "freshness_s", "slot_retained_bytes", "error", "at"}
        assert b["slot_retained_bytes"] is None      # a cdc slot's figure only
        assert TOKEN not in json.dumps(b["text"])
    assert all(p == f"/hooks/{TOKEN}?token={TOKEN}" for p in receiver.paths)


def test_error_threshold_and_event_filter(synctool, tmp_path, receiver):
    """A webhook subscribed to freshness only gets the freshness crossings."""
    cfg = make_config(tmp_path, receiver.url(), events=["freshness"])
    assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T10:00:05Z")
    break_source(cfg, True)
    tick(synctool, cfg, "2025-10-15T11:00:05Z")            # failed: not subscribed
    tick(synctool, cfg, "2025-10-15T17:00:05Z")            # 7 h: straight to error
    assert receiver.events() == [("freshness", "error")]
    assert receiver.bodies[0]["text"].startswith(":rotating_light: orders_sync data is stale")


def test_delivery_retried_after_a_receiver_error(synctool, tmp_path):
    """A refused delivery stays in the outbox and goes out on the next tick;
    the tick itself does not wait out a backoff."""
    rec = Receiver(fail_first=1)
    try:
        cfg = make_config(tmp_path, rec.url())
        assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
        tick(synctool, cfg, "2025-10-15T10:00:05Z")
        break_source(cfg, True)
        r = tick(synctool, cfg, "2025-10-15T11:00:05Z")
        assert rec.attempts == 1 and rec.events() == []
        assert "alert 1 (failed) to http://127.0.0.1:" in r.err
        assert "failed (HTTP 503), attempt 1; retrying in 1s" in r.err
        assert "/…" in r.err                                # the URL is shown redacted
        assert "1 not delivered yet; they stay in the outbox" in r.err
        r = tick(synctool, cfg, "2025-10-15T11:01:05Z")
        assert rec.attempts == 2
        assert rec.events() == [("failed", "failed")]
        assert "alert 1 (failed) delivered to http://127.0.0.1:" in r.err
        assert "on attempt 2" in r.err
    finally:
        rec.stop()


def test_unreachable_receiver_never_blocks_the_run(synctool, tmp_path):
    """Delivery gives up after max_attempts; the run itself is recorded as
    usual."""
    cfg = make_config(tmp_path, f"http://127.0.0.1:9/x?token={TOKEN}")
    (cfg / "datastores.yaml").write_text((cfg / "datastores.yaml").read_text()
                                         .replace("timeout_seconds: 5", "max_attempts: 1"))
    assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T10:00:05Z")
    break_source(cfg, True)
    r = tick(synctool, cfg, "2025-10-15T11:00:05Z")
    assert "given up" in r.err
    st = json.loads(synctool("status", "orders_sync", "--json", config_dir=cfg).out)
    assert any(s["status"] == "failed" for s in (st if isinstance(st, list) else st["strategies"]))


def test_notify_config_is_validated(synctool, tmp_path):
    cfg = make_config(tmp_path, "smtp://mail/?token=" + TOKEN)
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2
    assert "notify.webhooks[0].url: expected an http:// or https:// URL" in r.out + r.err
    assert TOKEN not in r.out + r.err


def test_operator_pause_and_resume_alerted_once(synctool, tmp_path, receiver):
    cfg = make_config(tmp_path, receiver.url(), events=["paused", "recovered"])
    assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T10:00:05Z")
    assert synctool("pause", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T10:00:35Z")
    tick(synctool, cfg, "2025-10-15T11:00:05Z")            # paused: not run, not re-alerted
    assert receiver.events() == [("paused", "success")]
    assert receiver.bodies[0]["text"] == (":double_vertical_bar: orders_sync:full_hourly was "
                                          "paused by an operator and will not be scheduled "
                                          "until resumed (manual runs still work)")
    assert synctool("resume", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T11:00:35Z")
    assert [e for e, _ in receiver.events()[1:]] == ["recovered"]  # status: pending or later
    assert "was resumed and is scheduled again" in receiver.bodies[1]["text"]


# --- issue 27: webhooks independent of each other, no alert lost ---

NOTIFY_STOP_S = 10          # NOTIFY_STOP_MS: the documented bound on stopping


class Hanging:
    """A receiver that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def url(self):
        return f"http://127.0.0.1:{self.port}/hang?token={TOKEN}"

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def set_hooks(cfg, urls, extra=""):
    """Rewrites notify: with these webhook URLs, in order."""
    ds = (cfg / "datastores.yaml").read_text()
    head = ds[:ds.index("notify:")]
    hooks = "".join(f'    - {{url: "{u}"}}\n' for u in urls)
    (cfg / "datastores.yaml").write_text(head + "notify:\n  webhooks:\n" + hooks + extra)


class Once:
    """`scheduler --once --at T` in the background, its stderr lines timed."""

    def __init__(self, cfg, at):
        self.lines = []
        self.proc = subprocess.Popen([BIN, "--config-dir", str(cfg), "scheduler", "--once",
                                      "--at", at], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line))

    def when(self, text):
        return next((t for t, line in self.lines if text in line), None)

    def err(self):
        return "".join(line for _, line in self.lines)


def test_hanging_receiver_delays_only_itself(synctool, tmp_path):
    """A receiver that never answers, listed first with the longest timeout:
    the healthy one still gets the alert within 2 s, and stopping takes at
    most the documented bound; the hanging one's alert stays in the outbox."""
    hang, rec = Hanging(), Receiver()
    try:
        cfg = make_config(tmp_path, rec.url())
        set_hooks(cfg, [hang.url(), rec.url()], "  timeout_seconds: 300\n")
        assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
        tick(synctool, cfg, "2025-10-15T10:00:05Z")
        break_source(cfg, True)
        once = Once(cfg, "2025-10-15T11:00:05Z")
        queued = wait_until(lambda: once.when("alert: :x: orders_sync:full_hourly failed"),
                            timeout=120, what="the alert to be detected")
        wait_until(lambda: rec.bodies, timeout=30, what="the healthy receiver's alert")
        got = time.monotonic()
        assert got - queued <= 2.0, f"the healthy receiver waited {got - queued:.1f}s"
        once.proc.wait(timeout=120)
        once.thread.join(10)
        stop = time.monotonic() - queued
        assert stop <= NOTIFY_STOP_S + 5, f"stopping took {stop:.1f}s"
        assert rec.events() == [("failed", "failed")]
        err = once.err()
        assert f"delivered to http://127.0.0.1:{rec.port}/… on attempt 1" in err
        assert f"alerts for http://127.0.0.1:{hang.port}/…: 1 not delivered yet" in err
        assert TOKEN not in err
    finally:
        hang.stop()
        rec.stop()


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def alerts_api(cfg):
    """GET /api/v1/alerts (validated against docs/openapi.yaml) and /metrics;
    {} when the endpoint is missing, so callers check behaviour first."""
    with Server(str(cfg)) as srv:
        status, _, text = srv.call("GET", "/api/v1/alerts")
        doc = json.loads(text) if status == 200 else {}
        if status == 200:
            validate("/api/v1/alerts", "GET", 200, doc)
        _, _, metrics = srv.call("GET", "/metrics")
    return doc, metrics


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_alert_survives_a_receiver_down_for_60s(synctool, tmp_path, backend, request):
    """The receiver is down (connection refused) for 60 s — past the old 15 s
    retry window — across four scheduler processes: the alert (an operator
    pause, which needs no worker on Redis) waits in the outbox of the state
    store and arrives exactly once when the receiver is back."""
    probe = Receiver()
    port = probe.port
    probe.stop()                                            # down: nothing listens
    url = f"http://127.0.0.1:{port}/hooks/{TOKEN}?token={TOKEN}"
    cfg = make_config(tmp_path, url)
    if backend == "redis":
        state = redis_db_url(request.getfixturevalue("redis_server"), 15)
        ds = (cfg / "datastores.yaml").read_text()
        (cfg / "datastores.yaml").write_text(ds + f'state: {{url: "{state}"}}\n')
    assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T10:00:05Z")
    assert synctool("pause", "orders_sync", config_dir=cfg).rc == 0
    first = tick(synctool, cfg, "2025-10-15T11:00:05Z").err
    second = tick(synctool, cfg, "2025-10-15T11:00:25Z").err  # 20 s: the old window is over
    doc, metrics = alerts_api(cfg)
    tick(synctool, cfg, "2025-10-15T11:00:45Z")
    rec = Receiver(port=port)                               # back after 60 s
    try:
        last = tick(synctool, cfg, "2025-10-15T11:01:06Z").err
        assert [e for e, _ in rec.events()] == ["paused"]
        assert rec.bodies[0]["at"] == "2025-10-15T11:00:05Z"
        tick(synctool, cfg, "2025-10-15T11:01:36Z")
        tick(synctool, cfg, "2025-10-15T11:02:06Z")
        assert len(rec.bodies) == 1                         # exactly once
        # what the log, the API and /metrics said meanwhile
        assert "(queued for 1 webhook(s))" in first
        assert "attempt 1; retrying in 1s" in first and "1 not delivered yet" in first
        assert "attempt 2; retrying in 2s" in second
        assert doc["pending"] == 1 and doc["alerts"][0]["status"] == "pending"
        assert doc["alerts"][0]["event"] == "paused" and doc["alerts"][0]["attempts"] == 2
        assert 'synctool_alerts{status="pending"} 1' in metrics
        assert "delivered to http://127.0.0.1:" in last and "on attempt 4" in last
        doc, metrics = alerts_api(cfg)
        assert doc["pending"] == 0 and doc["delivered"] == 1
        assert 'synctool_alerts{status="delivered"} 1' in metrics
    finally:
        rec.stop()


def test_alert_given_up_after_the_horizon_is_shown(synctool, tmp_path):
    """notify.retry_for bounds the retries: past it the alert is failed, said
    so in the log, in the API and in /metrics, and never sent later."""
    probe = Receiver()
    port = probe.port
    probe.stop()
    url = f"http://127.0.0.1:{port}/hooks/{TOKEN}?token={TOKEN}"
    cfg = make_config(tmp_path, url)
    set_hooks(cfg, [url], "  retry_for: 60s\n")
    assert synctool("ddl", "apply", "orders_sync", config_dir=cfg).rc == 0
    tick(synctool, cfg, "2025-10-15T10:00:05Z")
    break_source(cfg, True)
    tick(synctool, cfg, "2025-10-15T11:00:05Z")
    tick(synctool, cfg, "2025-10-15T11:00:35Z")
    r = tick(synctool, cfg, "2025-10-15T11:01:10Z")
    assert "given up after 3 attempt(s)" in r.err and "NOT delivered" in r.err
    rec = Receiver(port=port)
    try:
        tick(synctool, cfg, "2025-10-15T11:01:40Z")
        assert rec.events() == []
        doc, metrics = alerts_api(cfg)
        assert doc["failed"] == 1 and doc["pending"] == 0
        assert doc["alerts"][0]["status"] == "failed" and doc["alerts"][0]["last_error"]
        assert 'synctool_alerts{status="failed"} 1' in metrics
    finally:
        rec.stop()
