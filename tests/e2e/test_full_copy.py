"""End-to-end: full into an empty PostgreSQL table from PostgreSQL in binary
COPY form (src/sync/sync_full_copy.c, src/store/store_pg_copy.c).

When both sides have the same column types, rows travel as binary COPY data
and no value becomes text. These tests check that the path is taken (its
debug log line), that every type the config accepts arrives identical
across batch boundaries (row counts at, around and between multiples of
batch_size; NULLs in every non-key column), that a second run finds nothing
to change (the merge compares canonical texts), and the run's edges: a NULL
key, a kill and an interrupt while a batch is held open at the PostgreSQL
gate of test_lifecycle, and the fallback to canonical text when the types
differ. The fencing test (test_fencing.py) asserts that its frozen run took
this path too.
"""
import os
import signal
import subprocess

import pytest

from conftest import BIN
from test_lifecycle import PgHold, gate_waiters, gated_pipeline, tables_equal
from test_scheduler_helpers import wait_until
from test_sync_cli import pg_count, pg_ds, schema  # noqa: F401

BINARY = "full into empty: binary copy"
FALLBACK = "column types differ"

# (name, config type, value over g): every column type the config accepts
# on PostgreSQL, with the awkward values (big scales, NaN and infinities,
# unicode, backslashes, tabs, newlines, NUL bytes, arrays with NULLs).
TYPES = [
    ("c_small", "smallint", "(g % 30000 - 15000)::smallint"),
    ("c_int", "integer", "g * 7"),
    ("c_num", "numeric(38,20)", "g * 1.12345678901234567890"),
    ("c_numu", "numeric", "12345678901234567890.123456789012345678901234567890 * g"),
    ("c_real", "real", "(g / 3.0)::real"),
    ("c_dbl", "double precision",
     "CASE g % 4 WHEN 1 THEN 'NaN'::float8 WHEN 2 THEN '-Infinity' WHEN 3 THEN '-0' "
     "ELSE g / 7.0 END"),
    ("c_bool", "boolean", "g % 2 = 0"),
    ("c_text", "text", "E'\\u00fc\\u20ac\\U0001F600 tab\\there nl\\nthere back\\\\slash ' || g"),
    ("c_vc", "varchar(40)", "'v' || g"),
    ("c_ch", "char(5)", "'c' || (g % 100)"),
    ("c_bytea", "bytea", "decode('00ff00' || lpad(to_hex(g), 8, '0') || '5c0a0900', 'hex')"),
    ("c_tstz", "timestamptz",
     "'2025-10-15 08:00:00.123456+02'::timestamptz + g * interval '1 second'"),
    ("c_ts", "timestamp", "'1999-12-31 23:59:59.5'::timestamp + g * interval '1 day'"),
    ("c_date", "date", "'2000-02-29'::date + g"),
    ("c_time", "time", "'08:00:00.25'::time + g * interval '1 second'"),
    ("c_timetz", "timetz", "'08:00:00.5+05'::timetz"),
    ("c_interval", "interval", "g * interval '1 minute 1.5 seconds'"),
    ("c_uuid", "uuid", "md5(g::text)::uuid"),
    ("c_json", "json", "json_build_object('g', g, 's', 'x\"y')"),
    ("c_jsonb", "jsonb", "jsonb_build_object('g', g, 'a', ARRAY[1, 2])"),
    ("c_arr", "integer[]", "ARRAY[g, NULL, -g]::integer[]"),
    ("c_tarr", "text[]", "ARRAY['a,b', 'q\"', NULL, E'\\\\']::text[]"),
]


def _columns(types):
    out = "columns:\n  - {name: id, type: bigint, key: true}\n"
    for name, typ, _ in types:
        out += f'  - {{name: {name}, type: "{typ}"}}\n'
    return out


def _cmp_list(types):
    """Columns for EXCEPT: json has no equality operator, its text does."""
    return "id, " + ", ".join(f"{n}::text" if t == "json" else n for n, t, _ in types)


def _differences(pg, schema, types, src="src", dst="dst"):
    cols = _cmp_list(types)
    s, d = f'"{schema}".{src}', f'"{schema}".{dst}'
    return pg_count(pg, f"SELECT count(*) FROM ((SELECT {cols} FROM {s} EXCEPT ALL "
                        f"SELECT {cols} FROM {d}) UNION ALL (SELECT {cols} FROM {d} "
                        f"EXCEPT ALL SELECT {cols} FROM {s})) x")


def _run(tmp_path, *extra, timeout=300):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
    return subprocess.run([BIN, "--config-dir", str(tmp_path), "--log-level", "debug", "run",
                           "--job-name", "p", "--strategy", "full", *extra], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _pipeline(tmp_path, pg, schema, types, src_types=None, batch=100, src_ddl_extra=""):
    """Source table src (columns as `src_types`, default the config's) and a
    pipeline p: src -> dst with `ddl apply` (dst of the config's types)."""
    src_types = src_types or types
    cols = ", ".join(f"{n} {t}" for n, t, _ in src_types)
    pg.psql(f'CREATE TABLE "{schema}".src (id bigint{src_ddl_extra}, {cols})', dbname=pg.dbname)
    (tmp_path / "pipelines").mkdir(parents=True, exist_ok=True)
    (tmp_path / "datastores.yaml").write_text("datastores:\n" + pg_ds(pg, "shop") +
                                              pg_ds(pg, "wh"))
    (tmp_path / "pipelines" / "p.yaml").write_text(
        f"name: p\nsource: {{datastore: shop, schema: {schema}, table: src}}\n"
        f"destination: {{datastore: wh, schema: {schema}, table: dst}}\n" + _columns(types) +
        f"strategies:\n  - {{name: full, type: full, batch_size: {batch}}}\n")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
    r = subprocess.run([BIN, "--config-dir", str(tmp_path), "ddl", "apply", "p"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _fill(pg, schema, types, n, first=1):
    """Rows first..first+n-1; every fifth row has NULL in every non-key column."""
    vals = ", ".join(f"CASE WHEN g % 5 = 0 THEN NULL ELSE {v} END" for _, _, v in types)
    pg.psql(f'INSERT INTO "{schema}".src SELECT g, {vals} '
            f"FROM generate_series({first}, {first + n - 1}) g", dbname=pg.dbname)


@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 200, 201])
def test_binary_full_every_type_across_batch_boundaries(tmp_path, pg_server, schema, n):
    _pipeline(tmp_path, pg_server, schema, TYPES, src_ddl_extra=" PRIMARY KEY")
    _fill(pg_server, schema, TYPES, n)
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert BINARY in r.stderr, r.stderr
    assert f"{n} read, {n} inserted, 0 updated, 0 deleted" in r.stderr, r.stderr
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".dst') == n
    assert _differences(pg_server, schema, TYPES) == 0
    # The canonical-text merge finds the binary copy identical to the source.
    again = _run(tmp_path)
    assert again.returncode == 0, again.stderr
    assert (BINARY in again.stderr) == (n == 0), again.stderr
    assert f"{n} read, 0 inserted, 0 updated, 0 deleted" in again.stderr, again.stderr


def test_binary_full_null_key_fails_naming_the_column(tmp_path, pg_server, schema):
    types = TYPES[:2]
    _pipeline(tmp_path, pg_server, schema, types)
    _fill(pg_server, schema, types, 250)
    pg_server.psql(f'INSERT INTO "{schema}".src VALUES (NULL, 1, 2)', dbname=pg_server.dbname)
    r = _run(tmp_path)
    assert r.returncode == 1, r.stderr
    assert BINARY in r.stderr, r.stderr
    assert "key column 'id' is NULL in datastore 'shop'" in r.stderr, r.stderr
    # whole batches only, none holding the NULL key
    copied = pg_count(pg_server, f'SELECT count(*) FROM "{schema}".dst')
    assert copied % 100 == 0 and copied <= 200, copied


@pytest.mark.parametrize("n", [0, 100, 150])
def test_binary_full_falls_back_when_types_differ(tmp_path, pg_server, schema, n):
    """integer and numeric(14,4) at the source, bigint and numeric(14,2) in
    the config and the destination: the values travel as canonical text
    (batches read one row ahead to know the last one: 0 rows, an exact
    multiple of batch_size, and a part batch)."""
    types = [("c_int", "bigint", "g * 7"), ("c_num", "numeric(14,2)", "g * 1.25")]
    src_types = [("c_int", "integer", None), ("c_num", "numeric(14,4)", None)]
    _pipeline(tmp_path, pg_server, schema, types, src_types=src_types,
              src_ddl_extra=" PRIMARY KEY")
    _fill(pg_server, schema, types, n)
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert FALLBACK in r.stderr and BINARY not in r.stderr, r.stderr
    assert f"{n} read, {n} inserted" in r.stderr, r.stderr
    assert _differences(pg_server, schema, types) == 0


def _held(pg, schema):
    """At the gate with batches committed. The server streams the binary
    COPY ahead of the run (and buffers up to 8 KB of it), so the gate is
    reached while the run still commits the batches before it: waiting for
    committed rows makes "mid-stream" true however fast the machine is."""
    return gate_waiters(pg) > 0 and pg_count(pg, f'SELECT count(*) FROM "{schema}".p_dst') > 0


def _start_gated(tmp_path, stderr):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    return subprocess.Popen([BIN, "--config-dir", str(tmp_path), "--log-level", "debug", "run",
                             "--job-name", "p", "--strategy", "full"], env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def test_binary_full_killed_mid_stream_rerun_equal(tmp_path, pg_server, schema):
    """SIGKILL while a batch is held open (the source waits at the gate
    inside the batch's COPY): whole batches stay, and a re-run (a merge now)
    makes the tables equal with no duplicates."""
    n = 3000
    gated_pipeline(tmp_path, pg_server, schema, n=n, native=True)
    hold = PgHold(pg_server)
    log = tmp_path / "killed.log"
    with open(log, "w") as f:
        proc = _start_gated(tmp_path, f)
    try:
        wait_until(lambda: _held(pg_server, schema) or proc.poll() is not None,
                   timeout=120, what="the run at the gate with batches committed")
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()
    assert BINARY in log.read_text(), log.read_text()
    copied = pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst')
    assert 0 < copied < n and copied % 100 == 0, copied
    r = _run(tmp_path, "--lock-timeout", "60", "--table-lock-timeout", "60")
    assert r.returncode == 0, r.stderr
    assert BINARY not in r.stderr, r.stderr
    assert pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst') == n
    assert pg_count(pg_server, f'SELECT count(DISTINCT id) FROM "{schema}".p_dst') == n
    assert tables_equal(pg_server, schema)


def test_binary_full_sigterm_stops_at_batch_boundary(tmp_path, pg_server, schema):
    """SIGTERM while a batch is held open: the batch rolls back, the run is
    interrupted (exit 143) with whole batches committed, and its locks are
    free at once."""
    gated_pipeline(tmp_path, pg_server, schema, native=True)
    hold = PgHold(pg_server)
    proc = _start_gated(tmp_path, subprocess.PIPE)
    try:
        wait_until(lambda: _held(pg_server, schema) or proc.poll() is not None,
                   timeout=120, what="the run at the gate with batches committed")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        hold.release()
        _, err = proc.communicate(timeout=120)
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert BINARY in err, err
    committed = pg_count(pg_server, f'SELECT count(*) FROM "{schema}".p_dst')
    assert 0 < committed < 3000 and committed % 100 == 0, committed
    assert f"committed {committed} inserted" in err, err
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    locks = subprocess.run([BIN, "--config-dir", str(tmp_path), "lock", "list"], env=env,
                           capture_output=True, text=True)
    assert "synctool:exec:pipeline:p" not in locks.stdout, locks.stdout
    r = _run(tmp_path, "--no-wait-lock")
    assert r.returncode == 0, r.stderr
    assert tables_equal(pg_server, schema)
