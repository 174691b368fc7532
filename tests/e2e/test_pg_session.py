"""End-to-end: PostgreSQL session settings are checked (issue 20 item 6).

synctool sets extra_float_digits, DateStyle and TimeZone on every PostgreSQL
connection; hash and diff compare canonical text that depends on them. A
pooler or a permission that refuses one must fail the connection naming the
setting, not be ignored. The refusing server here is a minimal PostgreSQL
wire-protocol responder on loopback (what a pooler in front of the database
would answer): it accepts the startup, answers ERROR 42501 to
`SET extra_float_digits`, `SET` to the other settings, and an error to
anything else.
"""
import socket
import struct
import threading

from conftest import run_synctool
from test_scheduler_helpers import make_table, write_config


def _msg(kind, body):
    return kind + struct.pack("!i", len(body) + 4) + body


def _ready():
    return _msg(b"Z", b"I")


def _error(code, text):
    body = b"SERROR\0VERROR\0C" + code.encode() + b"\0M" + text.encode() + b"\0\0"
    return _msg(b"E", body)


def _recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class RefusingPg:
    """Answers the startup, then refuses SET extra_float_digits."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.queries = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _startup(self, conn):
        while True:
            n = struct.unpack("!i", _recv_exact(conn, 4))[0]
            body = _recv_exact(conn, n - 4)
            code = struct.unpack("!i", body[:4])[0]
            if code in (80877103, 80877104):   # SSLRequest, GSSENCRequest: no
                conn.sendall(b"N")
                continue
            break
        out = _msg(b"R", struct.pack("!i", 0))
        for k, v in (("server_version", "16.0"), ("client_encoding", "UTF8"),
                     ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"),
                     ("integer_datetimes", "on"), ("standard_conforming_strings", "on")):
            out += _msg(b"S", k.encode() + b"\0" + v.encode() + b"\0")
        out += _msg(b"K", struct.pack("!ii", 4242, 1)) + _ready()
        conn.sendall(out)

    def _client(self, conn):
        try:
            self._startup(conn)
            while True:
                kind = _recv_exact(conn, 1)
                n = struct.unpack("!i", _recv_exact(conn, 4))[0]
                body = _recv_exact(conn, n - 4)
                if kind == b"X":
                    return
                if kind != b"Q":
                    conn.sendall(_error("0A000", "fake server: extended protocol") + _ready())
                    continue
                q = body.rstrip(b"\0").decode()
                self.queries.append(q)
                if q.startswith("SET extra_float_digits"):
                    conn.sendall(_error("42501", 'permission denied to set parameter '
                                                 '"extra_float_digits"') + _ready())
                elif q.startswith("SET "):
                    conn.sendall(_msg(b"C", b"SET\0") + _ready())
                else:
                    conn.sendall(_error("XX000", "fake server: no such query") + _ready())
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def test_refused_session_setting_fails_naming_it(tmp_path):
    fake = RefusingPg()
    try:
        cfg = str(tmp_path)
        write_config(cfg, {"p": """name: p
source: {datastore: pooled, table: items}
destination: {datastore: dst, table: items}
columns:
  - {name: id, type: bigint, key: true}
  - {name: name, type: text}
strategies:
  - {name: full, type: full, cron: "0 2 * * *"}
"""}, datastores=[f"  pooled: {{type: postgres, connection: {{host: 127.0.0.1, "
                  f"port: {fake.port}, user: u, password: pw, dbname: d}}}}",
                  "  dst: {type: sqlite, path: dst.db}"])
        make_table(f"{cfg}/dst.db", rows=0)
        r = run_synctool("run", "p", config_dir=cfg)
    finally:
        fake.close()
    assert r.rc == 1, r
    assert "session setting extra_float_digits refused" in r.err, r
    assert "permission denied to set parameter" in r.err, r
    # it stopped at the refused setting: nothing else was asked
    assert not any(q.startswith("SELECT") or q.startswith("DECLARE") for q in fake.queries), \
        fake.queries
