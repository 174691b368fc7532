"""End-to-end: what an operator sees of a cdc strategy's replication slot
(issue 23, "Safety"; DESIGN §7).

Each cdc run records, at its start, the WAL its slot retains (current LSN -
restart_lsn) and its lag (current LSN - confirmed_flush_lsn), and, when it
succeeds, its start (the destination holds the source as of then). Here a
slot is made to retain more than `max_slot_lag` (5000 rows written while
the strategy does not run; the next run fails before reading), then:

- `status --json`, `status` and the API (validated against docs/openapi.yaml)
  show the figures, the slot's level and the pipeline's freshness decided
  by the slot;
- `/metrics` carries `synctool_cdc_slot_*` (promtool check metrics clean),
  read from the state store only: the scrape and the API answer with the
  source's datastore pointing at a closed port;
- the documented rule SynctoolCdcSlotRetainingWal (docs/api.md) fires on
  that scrape under `promtool test rules`, and not on a scrape where the
  slot is below half of max_slot_lag;
- the `freshness` webhook: error past max_slot_lag, warn from half of it,
  ok below half, each once (`scheduler --once` ticks; the receiver of
  test_alerts.py).

No test waits on the clock: a run ends when it ends, a tick delivers its
alerts before it exits.
"""
import json
import re

import yaml

from http_helpers import Server
from test_alerts import Receiver
from test_cdc import make_env, pgschema  # noqa: F401
from test_metrics_alerts import (JOB, check_metrics, check_shortest, doc_rules,
                                 input_series, render, run_promtool_test, scrape, series)

MAX = 64 * 1024


def fill(e):
    """Writes well over MAX bytes of WAL for the slot to retain."""
    e.sql("INSERT INTO {t} SELECT g, repeat('x', 100), g FROM generate_series(1, 5000) g")


def cdc_row(synctool, e):
    r = synctool("status", e.name, "--json", config_dir=e.root)
    assert r.rc == 0, r
    [row] = [s for s in json.loads(r.out) if s["strategy"] == "cdc"]
    return row


def lagging_env(synctool, tmp_path, pg_server, schema):
    """A cdc pipeline whose last run failed: its slot retains more than MAX."""
    e = make_env(synctool, tmp_path, pg_server, schema, "sqlite", extra=", max_slot_lag: 64kB")
    # the slot `ddl apply` made (make_env) retains whatever the shared server
    # writes meanwhile (any database's WAL): the run makes its own instead
    assert synctool("cdc", "drop", e.name, config_dir=e.root).rc == 0
    e.run()
    row = cdc_row(synctool, e)
    # a new slot retains nothing; the first run applied everything before it began
    assert row["slot_retained_bytes"] == 0 and row["slot_lag_bytes"] == 0, row
    assert row["slot_lag_s"] is not None and row["slot_lag_s"] >= 0, row
    assert row["slot_level"] == "ok" and row["max_slot_lag"] == MAX, row
    fill(e)
    r = e.run(ok=False)
    assert r.rc == 1 and f"more than max_slot_lag ({MAX})" in r.err, r
    return e


def set_max(e, value):
    p = e.root / "pipelines" / "p.yaml"
    p.write_text(re.sub(r"max_slot_lag: [^}]+}", f"max_slot_lag: {value}}}", p.read_text()))


def test_slot_figures_status_api_metrics_and_alert_rule(synctool, tmp_path, pg_server,
                                                        pgschema):  # noqa: F811
    e = lagging_env(synctool, tmp_path, pg_server, pgschema)
    row = cdc_row(synctool, e)
    kept, lag = row["slot_retained_bytes"], row["slot_lag_bytes"]
    assert kept > MAX and lag > MAX, row
    assert row["slot_level"] == "error", row
    assert row["status"] == "failed" and "/" in row["watermark"], row
    text = synctool("status", e.name, config_dir=e.root).out
    assert f"{kept} bytes of WAL retained and {lag} not yet applied" in text, text
    assert f"(max_slot_lag {MAX})" in text and "FAILING: its slot keeps retaining WAL" in text

    # /metrics and the API never ask the source: point it at a closed port
    ds = e.root / "datastores.yaml"
    ds.write_text(re.sub(r"port: \d+", "port: 1", ds.read_text(), count=1))
    with Server(str(e.root)) as srv:
        doc = srv.json("GET", f"/api/v1/pipelines/{e.name}",
                       template="/api/v1/pipelines/{name}")
        [s] = [s for s in doc["strategies"] if s["strategy"] == "cdc"]
        assert (s["slot_retained_bytes"], s["slot_lag_bytes"], s["slot_level"]) == \
            (kept, lag, "error"), s
        assert doc["freshness"]["level"] == "error", doc["freshness"]
        assert doc["freshness"]["slot_strategy"] == "cdc", doc["freshness"]
        lagging = scrape(srv)
    check_metrics(lagging, tmp_path)
    check_shortest(lagging)
    got = series(lagging)
    labels = frozenset({"pipeline": e.name, "strategy": "cdc"}.items())
    assert got[("synctool_cdc_slot_retained_bytes", labels)] == kept
    assert got[("synctool_cdc_slot_lag_bytes", labels)] == lag
    assert got[("synctool_cdc_max_slot_lag_bytes", labels)] == MAX
    assert got[("synctool_cdc_slot_lag_seconds", labels)] >= 0
    # the hash strategy has no slot: no sample
    assert not any(n.startswith("synctool_cdc_") and dict(l)["strategy"] == "hash"
                   for n, l in got)

    # below half of max_slot_lag (1GB): drained by a successful run
    ds.write_text(re.sub(r"port: 1\b", f"port: {pg_server.port}", ds.read_text(), count=1))
    set_max(e, "1GB")
    e.run()
    e.referee()
    row = cdc_row(synctool, e)
    assert row["slot_level"] == "ok", row
    with Server(str(e.root)) as srv:
        drained = scrape(srv)
    check_metrics(drained, tmp_path)

    rules_text = doc_rules()
    rules = yaml.safe_load(rules_text)
    [rule] = [r for g in rules["groups"] for r in g["rules"]
              if r["alert"] == "SynctoolCdcSlotRetainingWal"]
    fired = {"pipeline": e.name, "strategy": "cdc", **JOB, **rule["labels"]}

    def expect(firing):
        return [{"eval_time": "5m", "alertname": rule["alert"],
                 "exp_alerts": [{"exp_labels": fired,
                                 "exp_annotations": render(rule["annotations"], fired)}]
                 if firing else []}]
    run_promtool_test(tmp_path, rules_text, [
        {"interval": "1m", "input_series": input_series((series(lagging), 10)),
         "alert_rule_test": expect(True)},
        {"interval": "1m", "input_series": input_series((series(drained), 10)),
         "alert_rule_test": expect(False)},
    ])


def test_slot_freshness_webhook(synctool, tmp_path, pg_server, pgschema):  # noqa: F811
    rec = Receiver()
    try:
        e = lagging_env(synctool, tmp_path, pg_server, pgschema)
        ds = e.root / "datastores.yaml"
        ds.write_text(ds.read_text() + "notify:\n  webhooks:\n"
                      f"    - {{url: \"{rec.url()}\", events: [freshness]}}\n"
                      "  timeout_seconds: 5\n")

        def tick():
            r = synctool("scheduler", "--once", config_dir=e.root)
            assert r.rc == 0, r      # manual-only strategies: nothing runs
            return r
        kept = cdc_row(synctool, e)["slot_retained_bytes"]
        tick()
        assert rec.events() == [("freshness", "error")], rec.bodies
        a = rec.bodies[0]
        assert a["pipeline"] == e.name and a["strategy"] == "cdc", a
        assert a["slot_retained_bytes"] == kept, a
        assert a["text"].startswith(f":rotating_light: {e.name}:cdc: its replication slot "
                                    f"retains {kept} bytes of WAL on the source, more than "
                                    f"max_slot_lag ({MAX})"), a
        tick()
        assert len(rec.bodies) == 1, rec.bodies           # once per transition

        # max_slot_lag raised above the figure, which is still over half of it: warn
        set_max(e, kept * 3 // 2)
        tick()
        assert rec.events()[1:] == [("freshness", "warn")], rec.bodies
        assert rec.bodies[1]["text"].startswith(f":warning: {e.name}:cdc: its replication slot "
                                                f"retains {kept} bytes of WAL"), rec.bodies[1]
        assert f"over half of max_slot_lag ({kept * 3 // 2})" in rec.bodies[1]["text"]

        # below half: ok again
        set_max(e, "1GB")
        tick()
        assert rec.events()[2:] == [("freshness", "ok")], rec.bodies
        assert "below half of max_slot_lag" in rec.bodies[2]["text"], rec.bodies[2]
        tick()
        assert len(rec.bodies) == 3, rec.bodies
    finally:
        rec.stop()
