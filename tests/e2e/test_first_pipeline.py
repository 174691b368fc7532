"""End-to-end: docs/first-pipeline.md, executed step by step (issue 21, item 8).

The guide's code blocks are the test: they are read from the page in order and
run against a fresh PostgreSQL database (the harness's server, reached through
the PG* variables the guide tells the reader to set) in an empty directory, with
the binary under test as `synctool` on PATH:
  - ```yaml title="PATH"``` writes PATH, or, when an earlier command wrote it
    (the pipeline `init` writes), must equal it byte for byte;
  - ```sql``` runs in psql;
  - ```sh``` runs line by line in bash; a line's `# exit N` comment is the exit
    code it must have (0 otherwise); a line ending in `&` starts a background
    process (`serve`), which the test waits for (its /healthz answers) and which
    `kill %1` stops (exit 0). The guide's port is replaced by a free one.
So the page cannot rot: a changed output format, exit code or option breaks
this test. At the end the copy holds the source's rows, and the README links
the page.
"""
import os
import re
import socket
import sqlite3
import subprocess
import time
import urllib.request
import uuid

import pytest

from conftest import BIN, ROOT

DOC = os.path.join(ROOT, "docs", "first-pipeline.md")
GUIDE_PORT = "127.0.0.1:8420"


def blocks(text):
    """(language, attributes, body) of each fenced code block, in order."""
    return [(m.group(1), m.group(2), m.group(3))
            for m in re.finditer(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", text, re.M | re.S)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def pgdb(pg_server):
    name = "e2e_guide_" + uuid.uuid4().hex[:10]
    pg_server.psql(f'CREATE DATABASE "{name}"')
    yield name
    pg_server.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


class Guide:
    def __init__(self, work, env, listen):
        self.work, self.env, self.listen = work, env, listen
        self.background = None
        self.outputs = []

    def yaml(self, attrs, body):
        m = re.search(r'title="([^"]+)"', attrs)
        assert m, f"a yaml block without a title: {body[:80]}"
        path = self.work / m.group(1)
        if path.exists():
            assert path.read_text() == body, f"{m.group(1)} differs from the guide:\n{path.read_text()}"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)

    def sql(self, body):
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], input=body,
                           env=self.env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def sh(self, body):
        for line in body.splitlines():
            cmd, _, comment = line.partition("#")
            cmd = cmd.strip().replace(GUIDE_PORT, self.listen)
            if not cmd:
                continue
            m = re.match(r"\s*exit (\d+)", comment)
            want = int(m.group(1)) if m else 0
            if cmd.endswith("&"):
                self.start(cmd[:-1].strip())
            elif cmd == "kill %1":
                self.stop()
            else:
                self.run(cmd, want)

    def run(self, cmd, want):
        r = subprocess.run(["bash", "-c", cmd], cwd=self.work, env=self.env,
                           capture_output=True, text=True, timeout=300)
        self.outputs.append((cmd, r.stdout, r.stderr))
        assert r.returncode == want, f"{cmd}: exit {r.returncode}, the guide says {want}\n" \
                                     f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"

    def start(self, cmd):
        assert self.background is None
        self.background = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=self.work,
                                           env=self.env, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:   # wait for the server to answer, not for a time
            assert self.background.poll() is None, self.background.communicate()
            try:
                urllib.request.urlopen(f"http://{self.listen}/healthz", timeout=5).read()
                return
            except OSError:
                assert time.monotonic() < deadline, "serve never answered /healthz"
                time.sleep(0.05)

    def stop(self):
        self.background.terminate()
        out, err = self.background.communicate(timeout=60)
        assert self.background.returncode == 0, err
        self.background = None


def test_the_guide_step_by_step(tmp_path, pg_server, pgdb):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "synctool").symlink_to(BIN)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", PGHOST=pg_server.host,
               PGPORT=str(pg_server.port), PGUSER=pg_server.user, PGPASSWORD=pg_server.password,
               PGDATABASE=pgdb)
    env.pop("SYNCTOOL_CONFIG_DIR", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    guide = Guide(work, env, f"127.0.0.1:{free_port()}")
    text = open(DOC).read()
    kinds = []
    for lang, attrs, body in blocks(text):
        kinds.append(lang)
        getattr(guide, lang)(*((attrs, body) if lang == "yaml" else (body,)))
    assert kinds.count("sh") >= 6 and "sql" in kinds, kinds
    assert guide.background is None, "the guide leaves serve running"
    ran = [c for c, _, _ in guide.outputs]
    for step in ("synctool init", "synctool validate", "synctool check", "synctool ddl plan",
                 "synctool ddl apply", "synctool diff", "synctool run", "synctool scheduler --once",
                 "curl"):
        assert any(c.startswith(step) for c in ran), (step, ran)
    # the copy: in the directory ddl apply created, equal to the source
    db = sqlite3.connect(work / "configs" / "data" / "warehouse.db")
    rows = db.execute("SELECT id, customer, total, paid FROM orders ORDER BY id").fetchall()
    db.close()
    assert rows == [(1, "Ada", 120.5, 1), (2, "Grace", 80, 0), (3, "Linus", 99.99, 1)]
    api = [o for c, o, _ in guide.outputs if "/api/v1/pipelines/orders" in c]
    assert api and '"orders"' in api[0], api


def test_the_readme_links_the_guide():
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "docs/first-pipeline.md" in readme
