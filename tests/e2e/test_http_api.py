"""`synctool serve`: every endpoint of the JSON API against docs/openapi.yaml,
authentication, the operator pause, a run triggered through the API that waits
for a held lock, /metrics parsed with prometheus_client's parser, and a fuzz of
malformed HTTP requests.

Every test starts its own server on a free port (`--listen 127.0.0.1:0`) in a
temporary config directory, with SQLite state unless it says Redis.
"""
import json
import os
import random
import socket
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import run_synctool
from http_helpers import Server, validate
from test_distributed import redis_db_url
from test_scheduler_helpers import (LockHolder, count_rows, make_table, pipeline_yaml,
                                    wait_until, write_config)
from test_scheduler_scenarios import Background

TOKEN = "s3cret-token-for-tests"
NAMES = "/api/v1/pipelines/{name}"


def make_config(cfg, state_url=None, extra=""):
    """Two pipelines: `good` (3 rows to copy) and `broken` (its source table is missing)."""
    write_config(cfg, {
        "good": pipeline_yaml("good", "0 0 1 1 *", extra=extra),
        "broken": pipeline_yaml("broken", "0 0 1 1 *", src_table="missing",
                                dst_table="broken_dst"),
    }, state_url=state_url)
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)
    make_table(os.path.join(cfg, "dst.db"), table="broken_dst", rows=0)


def run(cfg, name, expect=0):
    r = run_synctool("run", "--job-name", name, config_dir=cfg)
    assert r.rc == expect, r
    return r


def metrics(server, token=None):
    status, headers, text = server.call("GET", "/metrics", token=token)
    assert status == 200, text
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def sample(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


# --- every endpoint ---------------------------------------------------------

def test_every_read_endpoint_answers_per_the_openapi_file(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    for _ in range(3):
        run(cfg, "good")
    run(cfg, "broken", expect=1)
    with Server(cfg) as s:
        assert s.json("GET", "/healthz") == {"status": "ok"}
        ready = s.json("GET", "/readyz")
        assert ready["status"] == "ready" and ready["state_backend"] == "sqlite"

        doc = s.json("GET", "/api/v1/pipelines")
        by_name = {p["pipeline"]: p for p in doc["pipelines"]}
        assert set(by_name) == {"good", "broken"}
        good = by_name["good"]["strategies"][0]
        assert good["status"] == "success" and good["last_run_at"] is not None
        assert good["retry_count"] == 0 and good["freshness_s"] >= 0
        broken = by_name["broken"]["strategies"][0]
        # a failed manual run is recorded but does not count toward the pause
        assert broken["status"] == "failed" and broken["retry_count"] == 0
        assert "missing" in broken["error"]

        one = s.json("GET", "/api/v1/pipelines/good?at=2025-10-15T10:06:00Z", template=NAMES)
        assert one["at"] == "2025-10-15T10:06:00Z"
        assert one["columns"][0] == {"name": "id", "dest": "id", "type": "bigint", "key": True,
                                     "compare": True, "expr": None,
                                     "lookup": None}
        assert one["explain"]["pipeline"] == "good"
        # The explanation is exactly `explain --json` at the same instant.
        cli = run_synctool("explain", "good", "--at", "2025-10-15T10:06:00Z", "--json",
                           config_dir=cfg)
        assert json.loads(cli.out) == one["explain"]

        runs = s.json("GET", "/api/v1/pipelines/good/runs", template=NAMES + "/runs")
        ids = [r["run_id"] for r in runs["runs"]]
        assert len(ids) == 3 and ids == sorted(ids, reverse=True)
        assert runs["next_before"] is None
        assert all(r["status"] == "success" and r["rows_read"] == 3 for r in runs["runs"])
        page = s.json("GET", "/api/v1/pipelines/good/runs?limit=2", template=NAMES + "/runs")
        assert [r["run_id"] for r in page["runs"]] == ids[:2]
        assert page["next_before"] == ids[1]
        rest = s.json("GET", f"/api/v1/pipelines/good/runs?limit=2&before={ids[1]}",
                      template=NAMES + "/runs")
        assert [r["run_id"] for r in rest["runs"]] == ids[2:] and rest["next_before"] is None
        none = s.json("GET", "/api/v1/pipelines/good/runs?status=failed&strategy=full_job",
                      template=NAMES + "/runs")
        assert none["runs"] == []

        r1 = s.json("GET", f"/api/v1/runs/{ids[0]}", template="/api/v1/runs/{run_id}")
        assert r1["pipeline"] == "good" and r1["rows_inserted"] + r1["rows_updated"] >= 0
        assert r1["duration_s"] is not None
        # The run's log lines, the same object as `synctool logs RUN_ID --json`.
        assert r1["log"] and all(isinstance(line, str) for line in r1["log"])
        cli = run_synctool("logs", str(ids[0]), "--json", config_dir=cfg)
        assert cli.rc == 0, cli
        assert json.loads(cli.out) == r1
        assert {k: v for k, v in r1.items() if k != "log"} == runs["runs"][0]
        failed = s.json("GET", "/api/v1/pipelines/broken/runs", template=NAMES + "/runs")
        fr = s.json("GET", f"/api/v1/runs/{failed['runs'][0]['run_id']}",
                    template="/api/v1/runs/{run_id}")
        assert fr["status"] == "failed" and "missing" in fr["error"]

        assert s.json("GET", "/api/v1/locks")["locks"] == []
        with LockHolder(cfg, "--pipeline", "good", key="synctool:exec:pipeline:good"):
            locks = s.json("GET", "/api/v1/locks")["locks"]
            assert [(l["key"], l["kind"], l["mode"]) for l in locks] == [
                ("synctool:exec:pipeline:good", "pipeline", "exclusive")]
        workers = s.json("GET", "/api/v1/workers")
        assert workers["leader"] is None
        assert workers["scheduler"] == {"up": False, "leader": None, "live": 0}
        assert any(w["kind"] == "serve" and w["alive"] for w in workers["workers"])


def test_the_dashboard_is_served_from_the_binary(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg, token=TOKEN, listen="0.0.0.0:0") as s:   # open even off loopback
        for path, ctype in [("/", "text/html"), ("/index.html", "text/html"),
                            ("/static/app.js", "javascript"), ("/static/app.css", "text/css")]:
            status, headers, body = s.call("GET", path)
            assert status == 200 and ctype in headers["Content-Type"], (path, headers)
            assert body
        for path in ("/static/nope.js", "/static/../index.html", "/static/a/b.js"):
            status, _, text = s.call("GET", path)
            assert status == 404 and json.loads(text)["error"]["code"] == "not_found", path


def test_errors_are_json_with_the_right_status(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg, token=TOKEN) as s:
        cases = [
            ("GET", "/api/v1/pipelines/nope", NAMES, 404, "not_found"),
            ("GET", "/api/v1/pipelines/good?at=yesterday", NAMES, 400, "bad_request"),
            ("GET", "/api/v1/pipelines/nope/runs", NAMES + "/runs", 404, "not_found"),
            ("GET", "/api/v1/pipelines/good/runs?limit=0", NAMES + "/runs", 400, "bad_request"),
            ("GET", "/api/v1/pipelines/good/runs?limit=x", NAMES + "/runs", 400, "bad_request"),
            ("GET", "/api/v1/pipelines/good/runs?status=weird", NAMES + "/runs", 400,
             "bad_request"),
            ("GET", "/api/v1/pipelines/good/runs?strategy=nope", NAMES + "/runs", 404,
             "not_found"),
            ("GET", "/api/v1/runs/abc", "/api/v1/runs/{run_id}", 400, "bad_request"),
            ("GET", "/api/v1/runs/999999", "/api/v1/runs/{run_id}", 404, "not_found"),
        ]
        for method, path, template, status, code in cases:
            doc = s.json(method, path, template=template, expect=status)
            assert doc["error"]["code"] == code, (path, doc)
        for path, body, status in [
            ("/api/v1/pipelines/nope/pause", None, 404),
            ("/api/v1/pipelines/good/pause", {"strategy": "nope"}, 404),
            ("/api/v1/pipelines/good/pause", {"strategy": 5}, 400),
            ("/api/v1/pipelines/good/pause", {"other": "x"}, 400),
            ("/api/v1/pipelines/good/run", [1, 2], 400),
        ]:
            doc = s.json("POST", path, template=NAMES + "/pause", expect=status, body=body,
                         token=TOKEN)
            assert doc["error"]["message"], doc
        status, _, text = s.call("POST", "/api/v1/pipelines/good/run", raw_body=b"{not json",
                                 token=TOKEN)
        assert status == 400 and json.loads(text)["error"]["code"] == "bad_request"
        status, _, text = s.call("GET", "/nowhere")
        assert status == 404 and json.loads(text)["error"]["code"] == "not_found"
        status, _, text = s.call("DELETE", "/api/v1/pipelines")
        assert status == 405 and json.loads(text)["error"]["code"] == "method_not_allowed"


def test_readyz_says_why_it_is_not_ready(tmp_path, redis_server):
    cfg = str(tmp_path)
    with socket.socket() as sk:     # a port nobody listens on
        sk.bind(("127.0.0.1", 0))
        dead = sk.getsockname()[1]
    make_config(cfg, state_url=f"redis://:hunter2pw@127.0.0.1:{dead}/0")
    with Server(cfg) as s:
        assert s.json("GET", "/healthz")["status"] == "ok"
        doc = s.json("GET", "/readyz", expect=503)
        assert doc["error"]["code"] == "unavailable"
        assert "state store unreachable" in doc["error"]["message"]
        assert "hunter2pw" not in json.dumps(doc)   # the URL is shown without its password
        assert s.json("GET", "/api/v1/pipelines", expect=503)["error"]["code"] == "unavailable"
        # Fix the state URL: ready without a restart. Break the config: 503 naming it.
        make_config(cfg, state_url=redis_db_url(redis_server, 13))
        assert s.json("GET", "/readyz")["status"] == "ready"
        with open(os.path.join(cfg, "pipelines", "good.yaml"), "a") as f:
            f.write("bogus_key: 1\n")
        doc = s.json("GET", "/readyz", expect=503)
        assert "config invalid" in doc["error"]["message"]
        assert "good.yaml" in doc["error"]["message"]
        # The last valid config still answers the API.
        assert len(s.json("GET", "/api/v1/pipelines")["pipelines"]) == 2
        m = metrics(s)
        assert sample(m, "synctool_config_invalid_files") == 1
    assert "hunter2pw" not in s.text()


def test_serve_started_with_an_invalid_pipeline_file_serves_the_valid_ones(tmp_path):
    """One invalid pipeline file does not stop serve (issue 14 item 3): the
    valid pipelines are served, /readyz answers 503 naming the file."""
    cfg = str(tmp_path)
    make_config(cfg)
    with open(os.path.join(cfg, "pipelines", "broken.yaml"), "a") as f:
        f.write("bogus_key: 1\n")
    with Server(cfg) as s:
        doc = s.json("GET", "/readyz", expect=503)
        assert "config invalid" in doc["error"]["message"]
        assert "broken.yaml" in doc["error"]["message"]
        names = [p["pipeline"] for p in s.json("GET", "/api/v1/pipelines")["pipelines"]]
        assert names == ["good"]
        conf = s.json("GET", "/api/v1/workers")["config"]   # the dashboard's banner
        assert conf["valid"] is False and conf["invalid_files"] == 1
        assert "broken.yaml" in conf["problem"]
        assert sample(metrics(s), "synctool_config_invalid_files") == 1
    assert "broken.yaml" in s.text()   # logged


def test_serve_sees_each_config_edit_with_the_next_request(tmp_path):
    """The config is looked at again only after an inotify event in the
    config directory (issue 25: the signature stat'ed every file on every
    request): a file added, a file edited in place with its size unchanged,
    a file made invalid, a file removed, and a pipelines/ directory removed
    and made again, each seen by the very next request."""
    cfg = str(tmp_path)
    make_config(cfg)
    pdir = os.path.join(cfg, "pipelines")

    def names(s):
        return sorted(p["pipeline"] for p in s.json("GET", "/api/v1/pipelines")["pipelines"])

    def cron_of(s, name):
        doc = s.json("GET", f"/api/v1/pipelines/{name}", template=NAMES)
        return doc["strategies"][0]["cron"]
    with Server(cfg) as s:
        assert names(s) == ["broken", "good"]
        with open(os.path.join(pdir, "third.yaml"), "w") as f:
            f.write(pipeline_yaml("third", "0 0 1 1 *", dst_table="third_dst"))
        assert names(s) == ["broken", "good", "third"]
        path = os.path.join(pdir, "good.yaml")
        text = open(path).read()
        assert "0 0 1 1 *" in text and cron_of(s, "good") == "0 0 1 1 *"
        with open(path, "r+") as f:            # same size, same inode
            f.write(text.replace("0 0 1 1 *", "0 0 2 1 *"))
        assert cron_of(s, "good") == "0 0 2 1 *"
        with open(path, "a") as f:
            f.write("bogus_key: 1\n")
        s.json("GET", "/readyz", expect=503)
        with open(path, "w") as f:
            f.write(text)
        s.json("GET", "/readyz")
        os.remove(os.path.join(pdir, "third.yaml"))
        assert names(s) == ["broken", "good"]
        moved = os.path.join(cfg, "pipelines.old")
        os.rename(pdir, moved)
        os.mkdir(pdir)
        assert names(s) == []
        with open(os.path.join(pdir, "good.yaml"), "w") as f:   # the new directory's watch
            f.write(text)
        assert names(s) == ["good"]


# --- security -----------------------------------------------------------------

def test_mutations_need_the_token_and_are_off_without_one(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    pause = "/api/v1/pipelines/good/pause"
    with Server(cfg) as s:   # no token configured: mutations are disabled
        for tok in (None, "anything"):
            doc = s.json("POST", pause, template=NAMES + "/pause", expect=403, token=tok)
            assert doc["error"]["code"] == "forbidden"
            assert "SYNCTOOL_API_TOKEN" in doc["error"]["message"]
        assert s.json("GET", "/api/v1/pipelines")["pipelines"]   # reads open on loopback
    with Server(cfg, token=TOKEN) as s:
        for tok in (None, "wrong", TOKEN + "x", TOKEN[:-1], ""):
            doc = s.json("POST", pause, template=NAMES + "/pause", expect=401, token=tok)
            assert doc["error"]["code"] == "unauthorized"
        doc = s.json("POST", pause, template=NAMES + "/pause", token=TOKEN)
        assert doc["strategies"][0]["paused_by"] == "operator"
        assert TOKEN not in s.text()
    assert TOKEN not in open(s.log).read()


def test_public_address_needs_a_token_and_then_protects_reads(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    r = run_synctool("serve", "--listen", "0.0.0.0:0", config_dir=cfg,
                     env={"SYNCTOOL_API_TOKEN": ""})
    assert r.rc == 2, r
    assert "refusing to listen on 0.0.0.0:0 without a token" in r.err
    for bad in ("localhost", "1.2.3.4:99999", "nohost:80", ":80"):
        r = run_synctool("serve", "--listen", bad, config_dir=cfg)
        assert r.rc == 2 and "--listen" in r.err, (bad, r)
    r = run_synctool("serve", "--help")
    assert r.rc == 0 and "--listen ADDR:PORT" in r.out
    with Server(cfg, token=TOKEN, listen="0.0.0.0:0") as s:
        assert s.json("GET", "/healthz")["status"] == "ok"      # health stays open
        doc = s.json("GET", "/api/v1/pipelines", expect=401)
        assert doc["error"]["code"] == "unauthorized"
        # the body says which: no token sent, or a wrong one
        assert doc["error"]["token"] == "missing"
        assert doc["error"]["message"].startswith("token required")
        doc = s.json("GET", "/api/v1/pipelines", expect=401, token="not-" + TOKEN)
        assert doc["error"]["token"] == "wrong"
        assert doc["error"]["message"].startswith("wrong token")
        status, _, _ = s.call("GET", "/metrics")
        assert status == 401
        assert s.json("GET", "/api/v1/pipelines", token=TOKEN)["pipelines"]
        assert metrics(s, token=TOKEN)


# --- pause / resume / reset -----------------------------------------------------

def test_pause_stops_scheduling_and_explain_says_so(tmp_path):
    cfg = str(tmp_path)
    write_config(cfg, {"good": pipeline_yaml("good", "*/15 * * * *")})
    make_table(os.path.join(cfg, "src.db"), rows=3)
    make_table(os.path.join(cfg, "dst.db"), rows=0)
    at = "2025-10-15T10:00:30Z"
    with Server(cfg, token=TOKEN) as s:
        doc = s.json("POST", "/api/v1/pipelines/good/pause", template=NAMES + "/pause",
                     token=TOKEN, body={"strategy": "full_job"})
        st = doc["strategies"][0]
        assert st["paused"] and st["paused_by"] == "operator" and not st["should_run"]
        assert st["reason"].startswith("Paused by operator")
        ex = json.loads(run_synctool("explain", "good", "--at", at, "--json",
                                     config_dir=cfg).out)
        assert ex["selected"] is None
        assert ex["strategies"][0]["reason"].startswith("Paused by operator")
        r = run_synctool("scheduler", "--once", "--at", at, config_dir=cfg)
        assert r.rc == 0 and "Enqueued run" not in r.err, r
        assert count_rows(os.path.join(cfg, "dst.db")) == 0
        m = metrics(s)
        assert sample(m, "synctool_paused", pipeline="good", strategy="full_job") == 1
        # Manual runs still work while paused; reset leaves the pause alone.
        run(cfg, "good")
        s.json("POST", "/api/v1/pipelines/good/reset", template=NAMES + "/reset", token=TOKEN)
        one = s.json("GET", "/api/v1/pipelines/good", template=NAMES)
        assert one["strategies"][0]["paused_by"] == "operator"
        doc = s.json("POST", "/api/v1/pipelines/good/resume", template=NAMES + "/resume",
                     token=TOKEN)
        assert doc["strategies"][0]["paused_by"] is None
        ex = json.loads(run_synctool("explain", "good", "--at", at, "--json",
                                     config_dir=cfg).out)
        assert not ex["strategies"][0]["reason"].startswith("Paused")
    # The CLI commands do the same; the pause travels through state export/import.
    r = run_synctool("pause", "good", config_dir=cfg)
    assert r.rc == 0 and "good:full_job paused" in r.out, r
    exported = run_synctool("state", "export", config_dir=cfg)
    assert json.loads(exported.out)[0]["paused"] is True
    r = run_synctool("resume", "good", "--strategy", "full_job", config_dir=cfg)
    assert r.rc == 0 and "good:full_job resumed" in r.out, r
    r = run_synctool("pause", "nope", config_dir=cfg)
    assert r.rc == 2 and "unknown pipeline 'nope'" in r.err


def test_reset_through_the_api_clears_max_retries(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    # three scheduled failures in three yearly slots (manual ones do not count)
    for year in (2022, 2023, 2024):
        r = run_synctool("scheduler", "--once", "--at", f"{year}-01-01T00:00:00Z",
                         config_dir=cfg)
        assert r.rc == 1, r
    with Server(cfg, token=TOKEN) as s:
        st = s.json("GET", "/api/v1/pipelines/broken", template=NAMES)["strategies"][0]
        assert st["paused"] and st["paused_by"] == "failures" and st["retry_count"] == 3
        assert st["reason"] == "Max retry count (3) exceeded for failed job"
        doc = s.json("POST", "/api/v1/pipelines/broken/reset", template=NAMES + "/reset",
                     token=TOKEN)
        st = doc["strategies"][0]
        assert st["status"] == "idle" and st["retry_count"] == 0 and not st["paused"]


# --- a run through the API --------------------------------------------------------

WAIT_LOCKS = ("locks: {wait_for_pipeline_lock: true, pipeline_lock_wait_timeout: 300,\n"
              "        wait_for_table_lock: false, table_lock_wait_timeout: 30}\n")


def run_waits_for_lock_then_succeeds(cfg, s):
    with LockHolder(cfg, "--pipeline", "good", key="synctool:exec:pipeline:good") as holder:
        acc = s.json("POST", "/api/v1/pipelines/good/run", template=NAMES + "/run",
                     expect=202, token=TOKEN, body={"strategy": "full_job"})
        assert acc["status"] == "pending" and acc["strategy"] == "full_job"
        run_id = acc["run_id"]
        cur = s.json("GET", f"/api/v1/runs/{run_id}", template="/api/v1/runs/{run_id}")
        assert cur["status"] in ("pending", "running") and cur["finished_at"] is None
        # A second trigger while this one is pending is refused, not queued twice.
        dup = s.json("POST", "/api/v1/pipelines/good/run", template=NAMES + "/run",
                     expect=409, token=TOKEN)
        assert dup["error"]["code"] == "conflict"
        assert count_rows(os.path.join(cfg, "dst.db")) == 0
        holder.release()

    def finished():
        st, _, text = s.call("GET", f"/api/v1/runs/{run_id}")
        doc = json.loads(text)
        return doc if st == 200 and doc["status"] not in ("pending", "running") else None
    done = wait_until(finished, timeout=120, what=f"run {run_id} to finish")
    validate("/api/v1/runs/{run_id}", "GET", 200, done)
    assert done["status"] == "success", done
    assert done["rows_inserted"] == 3
    assert done["execution_s"] >= 0 and done["waiting_s"] >= 0
    assert abs(done["execution_s"] + done["waiting_s"] - done["duration_s"]) < 0.002
    assert count_rows(os.path.join(cfg, "dst.db")) == 3
    return run_id


def test_run_through_the_api_waits_for_a_held_lock_then_succeeds(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg, extra=WAIT_LOCKS)
    with Server(cfg, token=TOKEN) as s:
        run_waits_for_lock_then_succeeds(cfg, s)
        m = metrics(s)
        assert sample(m, "synctool_runs_total", pipeline="good", strategy="full_job",
                      outcome="success") == 1


def test_run_through_the_api_on_redis_goes_to_a_worker(tmp_path, redis_server):
    cfg = str(tmp_path)
    make_config(cfg, state_url=redis_db_url(redis_server, 14), extra=WAIT_LOCKS)
    worker = Background(cfg, "worker", "--name", "w1")
    try:
        worker.wait_for("started")
        with Server(cfg, token=TOKEN) as s:
            run_waits_for_lock_then_succeeds(cfg, s)
            m = metrics(s)
            assert sample(m, "synctool_runs_total", pipeline="good", strategy="full_job",
                          outcome="success") == 1
            assert sample(m, "synctool_rows_read_total", pipeline="good",
                          strategy="full_job") == 3
            # the job is acknowledged just after its result is recorded
            wait_until(lambda: sample(metrics(s), "synctool_queue_depth") == 0,
                       what="the job's acknowledgement")
            assert sample(m, "synctool_workers_live") == 1
            workers = s.json("GET", "/api/v1/workers")["workers"]
            assert [(w["name"], w["kind"], w["alive"]) for w in workers
                    if w["kind"] == "worker"] == [("w1", "worker", True)]
    finally:
        worker.stop()


def test_scheduler_http_serves_the_api_from_the_scheduler_process(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg, "--tick", "1", "--name", "solo", command=("scheduler",),
                token=TOKEN) as s:
        wait_until(lambda: "leader: solo holds the scheduler lease" in s.text(),
                   what="the lease")
        workers = wait_until(lambda: s.json("GET", "/api/v1/workers")["leader"] == "solo"
                             and s.json("GET", "/api/v1/workers"), what="the heartbeat")
        assert [(w["name"], w["kind"], w["leader"]) for w in workers["workers"]
                if w["kind"] == "scheduler"] == [("solo", "scheduler", True)]
        assert workers["scheduler"] == {"up": True, "leader": "solo", "live": 1}
        m = wait_until(lambda: (lambda m: m if (sample(m, "synctool_scheduler_ticks_total")
                                                or 0) >= 1 else None)(metrics(s)),
                       what="a tick in /metrics")
        assert sample(m, "synctool_process_leader") == 1
        # no process name in any label: a restart keeps the series
        assert sample(m, "synctool_scheduler_up") == 1
        assert sample(m, "synctool_scheduler_leader") == 1
        assert sample(m, "synctool_schedulers_live") == 1
        assert sample(m, "synctool_workers_live") == 1   # embedded: the scheduler runs jobs
        assert sample(m, "synctool_scheduler_tick_duration_seconds") >= 0
        assert {p["pipeline"] for p in s.json("GET", "/api/v1/pipelines")["pipelines"]} == {
            "good", "broken"}
        doc = s.json("POST", "/api/v1/pipelines/good/pause", template=NAMES + "/pause",
                     token=TOKEN)
        assert doc["strategies"][0]["paused_by"] == "operator"
    assert s.proc.returncode == 0, s.text()
    assert "scheduler stopped" in s.text()


# --- metrics ------------------------------------------------------------------------

def check_known_runs(s):
    m = metrics(s)
    lab = {"pipeline": "good", "strategy": "full_job"}
    assert sample(m, "synctool_runs_total", outcome="success", **lab) == 2
    assert sample(m, "synctool_runs_total", outcome="failed", **lab) == 0
    assert sample(m, "synctool_runs_total", outcome="skipped", **lab) == 1
    assert sample(m, "synctool_runs_total", outcome="interrupted", **lab) == 0
    assert sample(m, "synctool_run_duration_seconds_count", **lab) == 2
    assert sample(m, "synctool_run_duration_seconds_bucket", le="+Inf", **lab) == 2
    assert sample(m, "synctool_rows_read_total", **lab) == 6
    assert sample(m, "synctool_rows_inserted_total", **lab) == 3
    assert sample(m, "synctool_consecutive_failures", **lab) == 0
    assert sample(m, "synctool_paused", **lab) == 0
    assert sample(m, "synctool_last_success_timestamp_seconds", **lab) > 1.7e9
    assert sample(m, "synctool_freshness_seconds", **lab) >= 0
    bad = {"pipeline": "broken", "strategy": "full_job"}
    assert sample(m, "synctool_runs_total", outcome="failed", **bad) == 1
    # a failed manual run does not count toward the pause
    assert sample(m, "synctool_consecutive_failures", **bad) == 0
    assert sample(m, "synctool_last_success_timestamp_seconds", **bad) is None
    assert sample(m, "synctool_config_invalid_files") == 0
    assert sample(m, "synctool_queue_depth") == 0
    assert sample(m, "synctool_workers_live") == 0
    # no scheduler: the 0/1 gauges are present and say 0 (alerts on == 0 fire)
    assert sample(m, "synctool_scheduler_up") == 0
    assert sample(m, "synctool_scheduler_leader") == 0
    assert sample(m, "synctool_schedulers_live") == 0


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_metrics_count_known_runs_and_survive_a_restart(tmp_path, redis_server, backend):
    cfg = str(tmp_path)
    make_config(cfg, state_url=redis_db_url(redis_server, 11) if backend == "redis" else None)
    run(cfg, "good")
    run(cfg, "good")
    with LockHolder(cfg, "--pipeline", "good", key="synctool:exec:pipeline:good"):
        r = run_synctool("run", "--job-name", "good", "--no-wait-lock", config_dir=cfg)
        assert r.rc == 75, r
    run(cfg, "broken", expect=1)
    with Server(cfg) as s:
        check_known_runs(s)
    with Server(cfg) as s:   # a new process: the counters live in the state
        check_known_runs(s)


# --- malformed requests ---------------------------------------------------------------

def raw(port, data, read=True):
    """Sends raw bytes; returns what came back (b"" if the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        try:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            return b""
        if not read:
            return b""
        chunks = []
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except (ConnectionResetError, socket.timeout):
            pass
        return b"".join(chunks)


def test_malformed_requests_get_4xx_and_never_stop_the_server(tmp_path):
    cfg = str(tmp_path)
    make_config(cfg)
    with Server(cfg, token=TOKEN) as s:
        big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"
        big_body = (b"POST /api/v1/pipelines/good/run HTTP/1.1\r\nHost: x\r\n"
                    b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                    b"Content-Length: 200000\r\n\r\n" + b"{" * 200000)
        cases = [
            b"\x00\x01\x02\x03garbage\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\n\r\n",                      # no Host header
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST /api/v1/pipelines/good/run HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\nnonsense\r\n",
            b"GET /api/v1/pipelines/%zz%00%ff HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/runs/" + b"9" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/pipelines/good/runs?limit=%ff&before=-1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/pipelines?" + b"a=b&" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /api/v1/pipelines/good/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n"
            b"Content-Length: 3\r\n\r\n[[[",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n",
            big_header,
            big_body,
        ]
        rng = random.Random(13)
        for _ in range(40):
            cases.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
        for _ in range(20):   # mutated valid requests
            base = bytearray(b"POST /api/v1/pipelines/good/run HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 20\r\n\r\n{\"strategy\": \"full\"}")
            for _ in range(rng.randrange(1, 8)):
                base[rng.randrange(len(base))] = rng.randrange(256)
            cases.append(bytes(base))
        for data in cases:
            reply = raw(s.port, data)
            if reply.startswith(b"HTTP/1."):
                code = int(reply.split(b" ", 2)[1])
                # 4xx, or 505 for an unknown HTTP version (libmicrohttpd's answer);
                # a mutated request may still be a valid one.
                assert code < 500 or code == 505, (data[:80], reply[:200])
            assert s.proc.poll() is None, s.text()
            assert s.json("GET", "/healthz")["status"] == "ok"
        # Requests the server must answer with a specific 4xx.
        reply = raw(s.port, big_body)
        assert reply.startswith(b"HTTP/1.1 413") or reply == b"", reply[:200]
        # Clients that connect and say nothing do not block the others.
        idle = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(5)]
        try:
            assert s.json("GET", "/healthz")["status"] == "ok"
            assert s.json("GET", "/api/v1/pipelines")["pipelines"]
        finally:
            for c in idle:
                c.close()
        # More connections than the per-client limit (32): the extra ones are turned away,
        # the server survives, and answers again once they are gone.
        crowd = []
        try:
            for _ in range(80):
                crowd.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
            assert s.proc.poll() is None
        finally:
            for c in crowd:
                c.close()
        def healthy():
            try:
                return s.call("GET", "/healthz")[0] == 200
            except OSError:   # refused while the crowd is still being closed
                return False
        wait_until(healthy, what="the server after the crowd")
        assert s.proc.poll() is None
    assert s.proc.returncode == 0, s.text()
