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
import sqlite3
import threading

import pytest

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

    def __init__(self, fail_first=0):
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

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
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
                          "retry_count", "freshness_s", "error", "at"}
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
