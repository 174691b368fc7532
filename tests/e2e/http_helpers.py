"""Helpers for the HTTP API end-to-end tests (no tests here).

Server starts `synctool serve --listen 127.0.0.1:0` (or `scheduler --http`) in
the background and learns the port from its log line; call() makes one request
with urllib and returns (status, headers, body); validate() checks a JSON body
against docs/openapi.yaml with python3-jsonschema, after turning OpenAPI 3.0's
`nullable` and `$ref`s into plain JSON Schema.
"""
import copy
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import jsonschema
import yaml

from conftest import BIN, ROOT
from test_scheduler_helpers import wait_until

OPENAPI = yaml.safe_load(open(os.path.join(ROOT, "docs", "openapi.yaml")))


class Server:
    """A `synctool serve` (or any command that serves) in the background."""

    def __init__(self, cfg, *args, token=None, listen="127.0.0.1:0", command=("serve",),
                 env=None):
        self.log = os.path.join(cfg, f"serve-{time.monotonic_ns()}.log")
        self.f = open(self.log, "w")
        full_env = dict(os.environ)
        full_env.pop("SYNCTOOL_API_TOKEN", None)
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        if token is not None:
            full_env["SYNCTOOL_API_TOKEN"] = token
        full_env.update(env or {})
        flag = "--listen" if command[0] == "serve" else "--http"
        self.proc = subprocess.Popen([BIN, "--config-dir", cfg, *command, flag, listen, *args],
                                     stdout=self.f, stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True)
        m = wait_until(lambda: re.search(r"listening on \S+ \(port (\d+)\)", self.text())
                       or self.proc.poll() is not None, what="the server to listen")
        assert self.proc.poll() is None, self.text()
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}"

    def text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.f.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def call(self, method, path, body=None, token=None, raw_body=None):
        data = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def json(self, method, path, template=None, expect=200, **kw):
        """One request; asserts the status, validates against the OpenAPI file."""
        status, headers, text = self.call(method, path, **kw)
        assert status == expect, (status, text)
        doc = json.loads(text)
        validate(template or path.split("?")[0], method, status, doc)
        return doc


def _resolve(node):
    """Inlines $refs and turns `nullable: true` into a union with null."""
    if isinstance(node, list):
        return [_resolve(x) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = OPENAPI
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _resolve(copy.deepcopy(target))
    out = {k: _resolve(v) for k, v in node.items()
           if k not in ("nullable", "description", "example")}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def response_schema(template, method, status):
    op = OPENAPI["paths"][template][method.lower()]
    resp = _resolve(op["responses"][str(status)])
    return resp["content"]["application/json"]["schema"]


def validate(template, method, status, doc):
    jsonschema.Draft7Validator(response_schema(template, method, status)).validate(doc)
