"""The alert rules of docs/api.md against scrapes of a real server (issue 21, item 4).

The rules block is taken from docs/api.md as it is, checked with `promtool check
rules`, and run with `promtool test rules` on input series built from real
`/metrics` scrapes (each series labelled job/instance as a Prometheus scrape would
label it): a scrape before and after a strategy failed three scheduled times (and
so paused) with no scheduler running, and a scrape while `scheduler --http` leads.
Each scrape also passes `promtool check metrics`, and every value is printed in
its shortest exact form.

promtool comes from Debian's `prometheus` package (scripts/install-deps).
"""
import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, run_synctool
from http_helpers import Server
from test_http_api import make_config
from test_scheduler_helpers import wait_until

JOB = {"job": "synctool", "instance": "synctool:8420"}
BROKEN = {"pipeline": "broken", "strategy": "full_job"}


def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: run scripts/install-deps (Debian package prometheus)")
    return path


def doc_rules():
    """The YAML block of docs/api.md that starts with '# synctool-alerts.yml'."""
    text = open(os.path.join(ROOT, "docs", "api.md")).read()
    m = re.search(r"```yaml\n(# synctool-alerts\.yml[^\n]*\n.*?)```", text, re.S)
    assert m, "docs/api.md has no ```yaml block starting with '# synctool-alerts.yml'"
    return m.group(1)


def scrape(server):
    status, _, body = server.call("GET", "/metrics")
    assert status == 200, body
    return body.decode() if isinstance(body, bytes) else body


def check_metrics(text, tmp_path):
    r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r


def digits(v):
    """Significant digits of a number's text."""
    mant = re.split(r"[eE]", v.lstrip("+-"))[0].replace(".", "")
    return mant.strip("0") or "0"


def check_shortest(text):
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        v = line.rsplit(" ", 1)[1]
        if v in ("NaN", "+Inf", "-Inf"):
            continue
        assert float(v) == float(repr(float(v))), line
        assert len(digits(v)) <= len(digits(repr(float(v)))), f"not the shortest form: {line}"


def series(text):
    """{(name, frozenset(labels)): value} of one scrape."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def selector(name, labels):
    esc = lambda v: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")  # noqa
    inner = ",".join(f'{k}="{esc(v)}"' for k, v in sorted({**dict(labels), **JOB}.items()))
    return f"{name}{{{inner}}}"


def values(*phases):
    """Promtool expanding notation: each phase (value or None = no sample, minutes)."""
    parts = []
    for v, minutes in phases:
        parts.append(f"_x{minutes}" if v is None else f"{v!r}+0x{minutes}")
    return " ".join(parts)


def input_series(*scrapes):
    """scrapes: [(parsed scrape, minutes)]: each series holds its value for that long."""
    keys = sorted(set().union(*(s.keys() for s, _ in scrapes)), key=repr)
    return [{"series": selector(name, labels),
             "values": values(*((s.get((name, labels)), mins) for s, mins in scrapes))}
            for name, labels in keys]


def render(annotations, labels):
    return {k: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], v)
            for k, v in annotations.items()}


def alert_tests(rules, expected, eval_time):
    """expected: {alertname: [series labels of each firing alert]} for every rule."""
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert sorted(names) == sorted(expected), "update the expectations with docs/api.md"
    out = []
    for g in rules["groups"]:
        for rule in g["rules"]:
            exp = []
            for labels in expected[rule["alert"]]:
                full = {**labels, **rule.get("labels", {})}
                exp.append({"exp_labels": full,
                            "exp_annotations": render(rule.get("annotations", {}), full)})
            out.append({"eval_time": eval_time, "alertname": rule["alert"], "exp_alerts": exp})
    return out


def run_promtool_test(tmp_path, rules_text, tests):
    rules_file = tmp_path / "synctool-alerts.yml"
    rules_file.write_text(rules_text)
    r = subprocess.run([promtool(), "check", "rules", str(rules_file)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r
    test_file = tmp_path / "synctool-alerts.test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules_file.name],
                                         "evaluation_interval": "1m", "tests": tests},
                                        sort_keys=False))
    r = subprocess.run([promtool(), "test", "rules", test_file.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"


def test_documented_alerts_fire_on_real_scrapes(tmp_path):
    cfg = str(tmp_path / "cfg")
    os.makedirs(cfg)
    make_config(cfg)
    with Server(cfg) as s:
        before = scrape(s)
    # three scheduled failures of `broken` in three yearly slots: paused (max_retry_count 3)
    for year in (2022, 2023, 2024):
        r = run_synctool("scheduler", "--once", "--at", f"{year}-01-01T00:00:00Z",
                         config_dir=cfg)
        assert r.rc == 1, r
    assert run_synctool("run", "good", config_dir=cfg).rc == 0   # fresh as of now
    with Server(cfg) as s:
        after = scrape(s)
    with Server(cfg, "--tick", "1", "--name", "solo", command=("scheduler",)) as s:
        wait_until(lambda: "leader: solo holds the scheduler lease" in s.text(),
                   what="the leader lease")
        leading = scrape(s)
    for text in (before, after, leading):
        check_metrics(text, tmp_path)
        check_shortest(text)
    a, b, c = series(before), series(after), series(leading)
    assert b[("synctool_paused", frozenset(BROKEN.items()))] == 1
    assert b[("synctool_scheduler_up", frozenset())] == 0
    assert c[("synctool_scheduler_up", frozenset())] == 1
    # no label value names a process
    assert not any(re.search(r":\d+$", v) for _, labels in c for _, v in labels)

    rules_text = doc_rules()
    rules = yaml.safe_load(rules_text)
    no_scheduler = {"SynctoolSchedulerDown": [{}], "SynctoolNoWorker": [],
                    "SynctoolStrategyPaused": [{**BROKEN, **JOB}],
                    "SynctoolRunsFailing": [{**BROKEN, **JOB, "outcome": "failed"}],
                    "SynctoolStale": [], "SynctoolConfigInvalid": [],
                    "SynctoolAlertsUndelivered": [], "SynctoolCdcSlotRetainingWal": []}
    scheduling = {**no_scheduler, "SynctoolSchedulerDown": [], "SynctoolRunsFailing": []}
    run_promtool_test(tmp_path, rules_text, [
        {"interval": "1m", "input_series": input_series((a, 30), (b, 60)),
         "alert_rule_test": alert_tests(rules, no_scheduler, "60m")},
        {"interval": "1m", "input_series": input_series((c, 90)),
         "alert_rule_test": alert_tests(rules, scheduling, "60m")},
    ])
