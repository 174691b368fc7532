"""`status` reads the pipelines through the parsed-config cache
(src/config/config_cache.c, <config-dir>/.synctool/config.cache) and never
shows a stale config: an edit that keeps the file's size and mtime, an added
and a removed pipeline file are seen by the very next `status`.

The cache is written only once every config file is older than the cache's
own temporary file (a filesystem clock tick), so `status_until_cached` runs
`status` until the cache file exists: it waits on that state change, never
sleeps."""
import json
import os

from conftest import run_synctool

DS = ("datastores:\n  src: {type: sqlite, path: src.db}\n"
      "  dst: {type: sqlite, path: dst.db}\n")


def pipeline(name, cron):
    return (f"name: {name}\nsource: {{datastore: src, table: t_{name}}}\n"
            f"destination: {{datastore: dst, table: t_{name}}}\n"
            "columns:\n  - {name: id, type: bigint, key: true}\n"
            f"strategies:\n  - {{name: full, type: full, cron: \"{cron}\"}}\n")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def status(cfg):
    r = run_synctool("status", "--json", "--at", "2026-03-02T10:00:00Z", config_dir=cfg)
    assert r.rc == 0, r
    return {(s["pipeline"], s["strategy"]): s for s in json.loads(r.out)}


def status_until_cached(cfg):
    cache = os.path.join(cfg, ".synctool", "config.cache")
    for _ in range(1000):
        got = status(cfg)
        if os.path.exists(cache):
            return got
    raise AssertionError("the config cache was never written")


def make(tmp_path):
    cfg = str(tmp_path / "cfg")
    os.makedirs(os.path.join(cfg, "pipelines"))
    write(os.path.join(cfg, "datastores.yaml"), DS)
    write(os.path.join(cfg, "pipelines", "a.yaml"), pipeline("a", "*/5 * * * *"))
    write(os.path.join(cfg, "pipelines", "b.yaml"), pipeline("b", "0 * * * *"))
    return cfg


def test_status_sees_an_edit_with_the_same_size_and_mtime(tmp_path):
    cfg = make(tmp_path)
    got = status_until_cached(cfg)
    assert got[("a", "full")]["cron"] == "*/5 * * * *"
    path = os.path.join(cfg, "pipelines", "a.yaml")
    before = os.stat(path)
    write(path, pipeline("a", "*/7 * * * *"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    got = status(cfg)
    assert got[("a", "full")]["cron"] == "*/7 * * * *"
    assert got[("a", "full")]["next_fire_at"] == "2026-03-02T10:07:00Z"


def test_status_sees_added_and_removed_pipelines(tmp_path):
    cfg = make(tmp_path)
    assert set(status_until_cached(cfg)) == {("a", "full"), ("b", "full")}
    write(os.path.join(cfg, "pipelines", "c.yaml"), pipeline("c", "0 3 * * *"))
    assert set(status(cfg)) == {("a", "full"), ("b", "full"), ("c", "full")}
    status_until_cached(cfg)
    os.remove(os.path.join(cfg, "pipelines", "a.yaml"))
    assert set(status(cfg)) == {("b", "full"), ("c", "full")}


def test_status_reports_an_invalid_file_every_time(tmp_path):
    cfg = make(tmp_path)
    status_until_cached(cfg)
    write(os.path.join(cfg, "pipelines", "bad.yaml"), "name: bad\nsource: 7\n")
    for _ in range(2):
        r = run_synctool("status", config_dir=cfg)
        assert r.rc == 0, r
        assert "INVALID pipeline files" in r.out and "pipelines/bad.yaml" in r.out
