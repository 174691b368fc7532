"""`synctool serve` under attack and outage (issue 27): slow and silent
clients, a stalled state store, an oversized token, a foreign Host, non-JSON
bodies, libmicrohttpd's own limits, the dashboard's CSP.

Every scenario holds the server with something it controls — open sockets, a
SIGSTOPped Redis, a held SQLite write lock — and probes /healthz meanwhile;
the only time assertions are generous upper bounds on single probes. Probes
come from 127.0.0.2 (another loopback address): the attackers' address is at
its per-client connection limit, as a real attacker's would be.
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from http_helpers import Server
from test_distributed import redis_db_url
from test_scheduler_helpers import make_table, pipeline_yaml, wait_until, write_config

TOKEN = "s3cret-token-for-attacks"
PROBE_BOUND_S = 1.0     # generous: /healthz answers in well under 100 ms


def make_config(cfg, state_url=None):
    write_config(cfg, {"good": pipeline_yaml("good", "0 0 1 1 *")}, state_url=state_url)
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)


def raw(port, request, source="127.0.0.2", timeout=PROBE_BOUND_S):
    """Sends bytes, returns (status, headers dict, body) of the answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0))
    try:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body.decode("latin-1")


def get(port, path, host="127.0.0.1", extra=b"", **kw):
    req = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode() +
           extra + b"\r\n")
    return raw(port, req, **kw)


def probe(port):
    """One /healthz; returns its duration, asserting a 200 JSON answer."""
    t0 = time.monotonic()
    status, headers, body = get(port, "/healthz")
    took = time.monotonic() - t0
    assert status == 200 and json.loads(body) == {"status": "ok"}, (status, body)
    return took


def probe_for(port, seconds, every=1.0):
    """Probes /healthz about every `every` s for `seconds`; all must answer
    within PROBE_BOUND_S (a failed connect or read raises)."""
    worst, n = 0.0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        worst = max(worst, probe(port))
        n += 1
        time.sleep(every)       # pacing of the probes, not a synchronisation
    return n, worst


class SlowClients:
    """n connections from 127.0.0.1; each sends one header line every
    `every` s (slowloris), or nothing at all when every is None."""

    def __init__(self, port, n, every):
        self.socks, self.stop = [], threading.Event()
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /api/v1/pipelines HTTP/1.1\r\nHost: localhost\r\n")
                self.socks.append(s)
            except OSError:
                pass                 # refused at the per-client limit: fine
        self.thread = None
        if every is not None:
            self.thread = threading.Thread(target=self._drip, args=(every,), daemon=True)
            self.thread.start()

    def _drip(self, every):
        i = 0
        while not self.stop.wait(every):
            for s in self.socks:
                try:
                    s.sendall(f"X-Slow-{i}: x\r\n".encode())
                except OSError:
                    pass
            i += 1

    def all_dropped(self):
        """True once the server closed every connection (EOF or reset)."""
        for s in self.socks:
            s.setblocking(False)
            try:
                if s.recv(4096) != b"":
                    pass                # an answer (408-like) then EOF: read on
                else:
                    continue
            except BlockingIOError:
                return False
            except OSError:
                continue
        return True

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join()
        for s in self.socks:
            s.close()


@pytest.mark.parametrize("every", [2.0, None], ids=["slowloris", "silent"])
def test_slow_and_silent_clients_never_take_healthz_down(tmp_path, every):
    """100 slow-header clients (one line every 2 s) or 70 silent connections,
    while /healthz is probed every second for ~10 s: every probe answered."""
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg) as srv:
        clients = SlowClients(srv.port, 100 if every else 70, every)
        try:
            n, worst = probe_for(srv.port, 10)
            assert n >= 5 and worst < PROBE_BOUND_S
            # The request deadline (slow) or the idle timeout (silent) drops
            # every connection the clients hold.
            wait_until(clients.all_dropped, timeout=30, what="the server to drop the clients")
            if every:
                assert "sent no complete request within 10s" in srv.text()
        finally:
            clients.close()


def test_request_deadline_drops_a_trickling_client(tmp_path):
    """A client that sends a byte now and then is never idle, yet is cut at
    the request deadline (10 s) rather than held forever."""
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 30 and not closed:
            try:
                s.sendall(b"X: y\r\n")
                s.settimeout(1.0)
                closed = s.recv(1) == b""
            except socket.timeout:
                pass
            except OSError:
                closed = True
        s.close()
        assert closed, "a trickling client was never dropped"
        assert time.monotonic() - t0 < 25


def redis_pid(redis_server):
    out = subprocess.run(["redis-cli", "-p", str(redis_server.port), "INFO", "server"],
                         capture_output=True, text=True, check=True).stdout
    return int(next(line.split(":")[1] for line in out.splitlines()
                    if line.startswith("process_id:")))


def background(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as e:          # noqa: BLE001 - reported by the caller
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_stalled_redis_never_blocks_healthz_or_other_requests(tmp_path, redis_server):
    """Redis SIGSTOPped: a read waiting on it holds only itself; /healthz and
    the dashboard answer at once, /readyz says not ready within its timeout."""
    cfg = str(tmp_path)
    make_config(cfg, state_url=redis_db_url(redis_server, 12))
    with Server(cfg) as srv:
        assert srv.call("GET", "/api/v1/pipelines")[0] == 200   # handles opened
        pid = redis_pid(redis_server)
        os.kill(pid, signal.SIGSTOP)
        try:
            t, box = background(lambda: srv.call("GET", "/api/v1/pipelines"))
            wait_until(lambda: t.is_alive(), what="the stalled read to start")
            for _ in range(4):
                assert probe(srv.port) < PROBE_BOUND_S
                status, _, body = get(srv.port, "/static/app.js")
                assert status == 200
            t0 = time.monotonic()
            status, _, body = get(srv.port, "/readyz", timeout=10)
            assert status == 503 and "did not answer" in json.loads(body)["error"]["message"]
            assert time.monotonic() - t0 < 5
        finally:
            os.kill(pid, signal.SIGCONT)
        t.join(60)
        assert srv.call("GET", "/readyz")[0] == 200


def test_held_sqlite_write_lock_never_blocks_healthz_or_reads(tmp_path):
    """A POST /pause waiting out SQLite's busy timeout behind a held write lock
    (BEGIN IMMEDIATE from another connection) holds only itself."""
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg, token=TOKEN) as srv:
        assert srv.call("GET", "/api/v1/pipelines")[0] == 200
        state_db = os.path.join(cfg, ".synctool", "state.db")
        if not os.path.exists(state_db):
            state_db = next(os.path.join(d, f) for d, _, fs in os.walk(cfg) for f in fs
                            if f == "state.db")
        con = sqlite3.connect(state_db, timeout=30, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            t, box = background(lambda: srv.call("POST", "/api/v1/pipelines/good/pause",
                                                 body={}, token=TOKEN))
            wait_until(lambda: t.is_alive(), what="the pause to wait on the lock")
            for _ in range(4):
                assert probe(srv.port) < PROBE_BOUND_S
                t0 = time.monotonic()
                status, _, body = get(srv.port, "/api/v1/pipelines")
                assert status == 200 and time.monotonic() - t0 < PROBE_BOUND_S
            assert t.is_alive(), "the pause did not wait on the held lock"
        finally:
            con.execute("ROLLBACK")
            con.close()
        t.join(60)
        assert box["value"][0] == 200, box


def test_long_token_is_kept_whole(tmp_path):
    """A 600-byte SYNCTOOL_API_TOKEN: the whole token works, its first 511
    bytes do not (it used to be cut to 511)."""
    cfg = str(tmp_path)
    make_config(cfg)
    token = ("t0k3n-" * 100)[:600]
    with Server(cfg, token=token) as srv:
        assert srv.call("POST", "/api/v1/pipelines/good/pause", body={}, token=token)[0] == 200
        assert srv.call("POST", "/api/v1/pipelines/good/resume", body={},
                        token=token[:511])[0] == 401


def test_oversized_token_refused_at_start(synctool, tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    r = synctool("serve", "--listen", "127.0.0.1:0", config_dir=cfg,
                 env={"SYNCTOOL_API_TOKEN": "x" * 20000})
    assert r.rc == 2
    assert "SYNCTOOL_API_TOKEN is 20000 bytes long" in r.err
    assert "x" * 50 not in r.err + r.out


def test_foreign_host_refused_on_loopback(tmp_path):
    """DNS rebinding: a page whose name now points at 127.0.0.1 sends its own
    name as Host and gets 421 JSON; loopback names and configured ones pass."""
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg, env={"SYNCTOOL_API_HOSTS": "synctool.internal, ops.example"}) as srv:
        status, headers, body = get(srv.port, "/api/v1/pipelines", host="attacker.example")
        assert status == 421 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "misdirected_request"
        assert get(srv.port, "/", host="attacker.example:8420")[0] == 421
        for host in ("localhost", f"localhost:{srv.port}", "127.0.0.1", f"127.0.0.1:{srv.port}",
                     "[::1]", f"[::1]:{srv.port}", "synctool.internal:80", "OPS.example"):
            assert get(srv.port, "/api/v1/pipelines", host=host)[0] == 200, host
        assert get(srv.port, "/healthz", host="attacker.example")[0] == 200  # probes pass


def test_non_json_body_is_415(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg, token=TOKEN) as srv:
        body = b"strategy=full_job"
        req = (f"POST /api/v1/pipelines/good/pause HTTP/1.1\r\nHost: localhost\r\n"
               f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/x-www-form-urlencoded"
               f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        status, headers, text = raw(srv.port, req)
        assert status == 415 and json.loads(text)["error"]["code"] == "unsupported_media_type"
        req = req.replace(b"application/x-www-form-urlencoded",
                          b"application/json; charset=utf-8").replace(body, b"{}")
        req = req.replace(f"Content-Length: {len(body)}".encode(), b"Content-Length: 2")
        assert raw(srv.port, req)[0] == 200


def test_own_limits_answer_json(tmp_path):
    """Oversized URIs and headers get JSON 414 / 431, like every other error."""
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg) as srv:
        status, headers, body = get(srv.port, "/api/v1/pipelines?x=" + "a" * 20000)
        assert status == 414 and json.loads(body)["error"]["code"] == "uri_too_long"
        big = b"".join(f"X-Big-{i}: {'b' * 1000}\r\n".encode() for i in range(40))
        status, headers, body = get(srv.port, "/api/v1/pipelines", extra=big)
        assert status == 431 and json.loads(body)["error"]["code"] == "headers_too_large"
        assert probe(srv.port) < PROBE_BOUND_S


def test_status_filter_error_lists_every_status(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg) as srv:
        status, _, body = srv.call("GET", "/api/v1/pipelines/good/runs?status=bogus")
        assert status == 400
        msg = json.loads(body)["error"]["message"]
        for name in ("idle", "pending", "running", "success", "failed", "skipped",
                     "interrupted", "lost"):
            assert name in msg, msg


def test_dashboard_has_a_csp(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg) as srv:
        status, headers, _ = get(srv.port, "/")
        csp = headers.get("content-security-policy", "")
        assert status == 200 and "script-src 'self'" in csp and "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
