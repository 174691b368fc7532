"""`synctool cron EXPR [--from TIME] [--count K] [--tz ZONE] [--json]`.

Drives the real binary; needs no config directory and no servers. Every
instant is fixed with --from, so nothing depends on the wall clock except the
one test that checks the default (it only asserts the times are later than
the moment before the call).
"""
import datetime
import json


def lines(res):
    return [ln for ln in res.out.splitlines() if ln.strip()]


def test_every_15_minutes(synctool, tmp_path):
    res = synctool("cron", "*/15 * * * *", "--from", "2025-10-15T10:06:00Z", "--count", "3",
                   config_dir=tmp_path / "absent")
    assert res.rc == 0, res
    assert lines(res) == ["2025-10-15T10:15:00Z", "2025-10-15T10:30:00Z", "2025-10-15T10:45:00Z"]
    assert res.err == ""


def test_default_count_is_five_and_strictly_after(synctool):
    res = synctool("cron", "0 * * * *", "--from", "2025-10-15T10:00:00Z")
    assert res.rc == 0, res
    assert lines(res) == ["2025-10-15T%02d:00:00Z" % h for h in range(11, 16)]


def test_from_with_offset(synctool):
    res = synctool("cron", "@daily", "--from", "2025-10-15T23:30:00+02:00", "--count", "1")
    assert res.rc == 0, res
    assert lines(res) == ["2025-10-16T00:00:00Z"]


def test_fields_as_separate_arguments(synctool):
    res = synctool("cron", "0", "2", "*", "*", "*", "--from", "2025-10-15T10:00:00Z", "--count", "1")
    assert res.rc == 0, res
    assert lines(res) == ["2025-10-16T02:00:00Z"]


def test_tz_berlin_prints_local_time(synctool):
    res = synctool("cron", "0 2 * * *", "--tz", "Europe/Berlin", "--from", "2025-10-15T10:06:00Z",
                   "--count", "2")
    assert res.rc == 0, res
    assert lines(res) == ["2025-10-16T00:00:00Z  2025-10-16T02:00:00+02:00",
                          "2025-10-17T00:00:00Z  2025-10-17T02:00:00+02:00"]


def test_tz_berlin_spring_forward_fires_once_after_gap(synctool):
    res = synctool("cron", "30 2 * * *", "--tz", "Europe/Berlin", "--from", "2025-03-29T12:00:00Z",
                   "--count", "2")
    assert res.rc == 0, res
    assert lines(res) == ["2025-03-30T01:00:00Z  2025-03-30T03:00:00+02:00",
                          "2025-03-31T00:30:00Z  2025-03-31T02:30:00+02:00"]


def test_tz_new_york_fall_back_fires_once(synctool):
    res = synctool("cron", "30 1 * * *", "--tz", "America/New_York", "--from",
                   "2025-11-01T12:00:00Z", "--count", "2")
    assert res.rc == 0, res
    assert lines(res) == ["2025-11-02T05:30:00Z  2025-11-02T01:30:00-04:00",
                          "2025-11-03T06:30:00Z  2025-11-03T01:30:00-05:00"]


def test_json(synctool):
    res = synctool("cron", "*/15 * * * *", "--from", "2025-10-15T10:06:00Z", "--count", "2",
                   "--tz", "Europe/Berlin", "--json")
    assert res.rc == 0, res
    doc = json.loads(res.out)
    assert doc == {
        "expression": "*/15 * * * *",
        "timezone": "Europe/Berlin",
        "from": "2025-10-15T10:06:00Z",
        "fire_times": [
            {"utc": "2025-10-15T10:15:00Z", "local": "2025-10-15T12:15:00+02:00"},
            {"utc": "2025-10-15T10:30:00Z", "local": "2025-10-15T12:30:00+02:00"},
        ],
    }


def test_default_from_is_now(synctool):
    before = datetime.datetime.now(datetime.timezone.utc)
    res = synctool("cron", "* * * * *", "--count", "2")
    assert res.rc == 0, res
    got = [datetime.datetime.fromisoformat(x.replace("Z", "+00:00")) for x in lines(res)]
    assert len(got) == 2 and before < got[0] < got[1]
    assert got[1] - got[0] == datetime.timedelta(minutes=1)


def test_bad_expression_names_field(synctool):
    cases = [
        ("61 * * * *", "minute: 61 out of range 0-59"),
        ("* 24 * * *", "hour: 24 out of range 0-23"),
        ("* * 32 * *", "day-of-month: 32 out of range 1-31"),
        ("* * * FOO *", "month: unknown name 'FOO'"),
        ("* * * * 1-9", "day-of-week: 9 out of range 0-7"),
        ("*/0 * * * *", "minute: step 0 out of range"),
        ("* * * *", "expected 5 fields"),
        ("@reboot", "unknown macro '@reboot'"),
    ]
    for expr, want in cases:
        res = synctool("cron", expr, "--from", "2025-10-15T10:06:00Z")
        assert res.rc == 2, (expr, res)
        assert want in res.err, (expr, res)
        assert "invalid cron expression" in res.err
        assert res.out == ""


def test_bad_zone(synctool):
    res = synctool("cron", "0 2 * * *", "--tz", "Mars/Olympus")
    assert res.rc == 2, res
    assert "unknown time zone 'Mars/Olympus'" in res.err
    res = synctool("cron", "0 2 * * *", "--tz", "../../etc/passwd")
    assert res.rc == 2, res
    assert "invalid time zone name '../../etc/passwd'" in res.err


def test_bad_options(synctool):
    res = synctool("cron", "* * * * *", "--from", "yesterday")
    assert res.rc == 2 and "--from" in res.err and "invalid timestamp 'yesterday'" in res.err, res
    res = synctool("cron", "* * * * *", "--count", "0")
    assert res.rc == 2 and "--count must be between 1 and 1000, got 0" in res.err, res
    res = synctool("cron", "* * * * *", "--count", "lots")
    assert res.rc == 2 and "--count: expected a non-negative integer, got 'lots'" in res.err, res
    res = synctool("cron")
    assert res.rc == 2 and "missing cron expression" in res.err, res
    res = synctool("cron", "* * * * *", "--bogus")
    assert res.rc == 2 and "usage: synctool cron" in res.err, res


def test_never_fires(synctool):
    res = synctool("cron", "0 0 30 2 *", "--from", "2025-10-15T10:06:00Z")
    assert res.rc == 1, res
    assert res.out == ""
    assert "no fire time within 5 years after 2025-10-15T10:06:00Z" in res.err


def test_leap_day_only(synctool):
    res = synctool("cron", "0 0 29 2 *", "--from", "2025-01-01T00:00:00Z", "--count", "2")
    assert res.rc == 0, res
    assert lines(res) == ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]


def test_help(synctool):
    res = synctool("cron", "--help")
    assert res.rc == 0, res
    assert res.out.startswith("usage: synctool cron EXPR")
    for opt in ("--from", "--count", "--tz", "--json"):
        assert opt in res.out
    assert res.err == ""
