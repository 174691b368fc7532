"""End-to-end: what `validate` catches beyond syntax (issue 14, item 3),
and one invalid pipeline file not stopping the scheduler and the read
commands.

Unknown column types per engine, crons that never fire, a delta cursor
that is not a configured column, two pipelines writing one destination
table; every problem as file:line:col with exit 2. Meanwhile `status`,
`list` and `scheduler --once` serve the valid pipelines and name the
invalid file.
"""
import json
import sqlite3

AT = "2025-10-15T10:00:00Z"

DS = ("datastores:\n"
      "  shop: {type: postgres, connection: {host: 127.0.0.1, dbname: shop}}\n"
      "  src: {type: sqlite, path: src.db}\n"
      "  dst: {type: sqlite, path: dst.db}\n")


def pipeline(name, src="src", dst_table=None, ctype="bigint", cron="0 * * * *",
             cursor=None):
    strat = (f'  - {{name: d, type: delta, cursor: {cursor}, cron: "{cron}"}}\n' if cursor
             else f'  - {{name: f, type: full, cron: "{cron}"}}\n')
    return (f"name: {name}\n"
            f"source: {{datastore: {src}, table: {name}}}\n"
            f"destination: {{datastore: dst, table: {dst_table or name}}}\n"
            "columns:\n"
            "  - {name: id, type: bigint, key: true}\n"
            f"  - {{name: total, type: {ctype}}}\n"
            "strategies:\n" + strat)


def config(tmp_path, files):
    cfg = tmp_path / "cfg"
    (cfg / "pipelines").mkdir(parents=True)
    (cfg / "datastores.yaml").write_text(DS)
    for stem, text in files.items():
        (cfg / "pipelines" / f"{stem}.yaml").write_text(text)
    return cfg


def test_validate_unknown_type_per_engine(synctool, tmp_path):
    cfg = config(tmp_path, {"a": pipeline("a", src="shop", ctype="nummeric")})
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    assert ('pipelines/a.yaml:6:25: columns[1].type: unknown type "nummeric" for postgres '
            "(datastore 'shop')") in r.err, r
    # SQLite's own spellings pass on SQLite, not on PostgreSQL
    cfg2 = config(tmp_path / "2", {"b": pipeline("b", ctype="blob"),
                                   "c": pipeline("c", ctype='"numeric(12,2)"'),
                                   "d": pipeline("d", ctype='"varchar(20)[]"')})
    r = synctool("validate", config_dir=cfg2)
    assert r.rc == 0, r
    cfg3 = config(tmp_path / "3", {"b": pipeline("b", src="shop", ctype="blob")})
    r = synctool("validate", config_dir=cfg3)
    assert r.rc == 2 and 'unknown type "blob" for postgres' in r.err, r


def test_validate_cron_that_never_fires(synctool, tmp_path):
    cfg = config(tmp_path, {"a": pipeline("a", cron="0 0 31 2 *")})
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    assert ('pipelines/a.yaml:8:33: strategies[0].cron: "0 0 31 2 *" never fires '
            "(not once in 5 years)") in r.err, r
    cfg2 = config(tmp_path / "2", {"a": pipeline("a", cron="0 0 29 2 *")})  # leap days fire
    assert synctool("validate", config_dir=cfg2).rc == 0


def test_validate_cursor_not_a_column(synctool, tmp_path):
    cfg = config(tmp_path, {"a": pipeline("a", cursor="updated_at")})
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    assert 'strategies[0].cursor: column "updated_at" is not in columns' in r.err, r


def test_validate_duplicate_destination_table(synctool, tmp_path):
    cfg = config(tmp_path, {"a": pipeline("a", dst_table="orders"),
                            "b": pipeline("b", dst_table="orders")})
    r = synctool("validate", "--json", config_dir=cfg)
    assert r.rc == 2, r
    probs = json.loads(r.out)["problems"]
    assert len(probs) == 1 and probs[0]["file"] == "pipelines/b.yaml"
    assert probs[0]["message"] == (
        'destination.table: dst.main.orders is already the destination of pipeline "a" '
        "(pipelines/a.yaml): two pipelines would overwrite each other's rows")


def test_invalid_file_does_not_stop_scheduler_and_read_commands(synctool, tmp_path):
    cfg = config(tmp_path, {"good": pipeline("good"),
                            "bad": pipeline("bad", ctype="nummeric", src="shop")})
    for t in ("good",):
        db = sqlite3.connect(cfg / "src.db")
        db.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, total INTEGER)")
        db.execute(f"INSERT INTO {t} VALUES (1, 10)")
        db.commit()
        db.close()
    assert synctool("ddl", "apply", "good", config_dir=cfg).rc == 0
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    r = synctool("status", "--at", AT, config_dir=cfg)
    assert r.rc == 0, r
    assert "good" in r.out and "INVALID pipeline files" in r.out
    assert 'pipelines/bad.yaml:6:25: columns[1].type: unknown type "nummeric"' in r.out
    assert "invalid pipeline file left out: pipelines/bad.yaml" in r.err
    r = synctool("list", "--json", config_dir=cfg)
    assert r.rc == 0 and [p["pipeline"] for p in json.loads(r.out)] == ["good"], r
    r = synctool("scheduler", "--once", "--at", AT, config_dir=cfg)
    assert r.rc == 0, r
    assert "invalid pipeline file left out: pipelines/bad.yaml" in r.err
    assert r.err.count("unknown type \"nummeric\"") == 1  # logged once
    assert "good:f" in r.err and "succeeded" in r.err, r
    r = synctool("explain", "bad", config_dir=cfg)
    assert r.rc == 2 and "known pipelines: good" in r.err


def test_names_longer_than_the_cap_are_refused_not_merged(synctool, tmp_path):
    """Two 140-character pipeline names sharing their first 127 characters
    were merged into one state record (128-byte buffers): now each is refused
    by name and position, the strategy and datastore names likewise, and no
    other command treats them as one pipeline."""
    stem = "p" * 127
    a, b = stem + "a" * 13, stem + "b" * 13
    long_strategy = "s" * 101
    cfg = config(tmp_path, {"a": pipeline(a), "b": pipeline(b),
                            "c": pipeline("c").replace("name: f,", f"name: {long_strategy},"),
                            "ok": pipeline("ok")})
    (cfg / "datastores.yaml").write_text(DS + f"  {'d' * 101}: {{type: sqlite, path: x.db}}\n")
    r = synctool("validate", config_dir=cfg)
    assert r.rc == 2, r
    limit = "the limit is 100"
    assert f"pipelines/a.yaml:1:7: name: pipeline name is 140 characters long; {limit}" in r.err
    assert f"pipelines/b.yaml:1:7: name: pipeline name is 140 characters long; {limit}" in r.err
    assert (f"pipelines/c.yaml:8:12: strategies[0].name: strategy name is 101 characters long; "
            f"{limit}") in r.err, r.err
    assert f"datastores.yaml:5:3: datastore name is 101 characters long; {limit}" in r.err
    # exactly 100 characters is accepted
    cfg2 = config(tmp_path / "2", {"m": pipeline("m" * 100)})
    assert synctool("validate", config_dir=cfg2).rc == 0
