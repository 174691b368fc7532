"""`make install` and the systemd units in contrib/systemd.

The units are installed with PREFIX pointing into a temporary directory (so
their ExecStart paths exist) and checked with `systemd-analyze verify`, which
fails on unknown keys' values it cannot parse, a missing executable and the
like; a second install with DESTDIR checks that staging puts every file under
DESTDIR while the units keep the final paths.
"""
import os
import subprocess

from conftest import BIN, ROOT

UNITS = ["synctool-scheduler.service", "synctool-serve.service", "synctool-worker@.service"]


def build_dir():
    # SYNCTOOL_BIN is BUILD/asan/synctool under `make test`, BUILD/synctool otherwise.
    d = os.path.dirname(BIN)
    return os.path.dirname(d) if os.path.basename(d) == "asan" else d


def make_install(*args):
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "install",
                        f"BUILD={build_dir()}", *args],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def unit_text(path):
    with open(path) as f:
        return f.read()


def test_units_pass_systemd_analyze_verify(tmp_path):
    prefix = str(tmp_path / "usr")
    make_install(f"PREFIX={prefix}", "SYSCONFDIR=/etc")
    unitdir = os.path.join(prefix, "lib", "systemd", "system")
    assert sorted(os.listdir(unitdir)) == sorted(UNITS)
    assert os.access(os.path.join(prefix, "bin", "synctool"), os.X_OK)
    for doc in ("README.md", "api.md", "openapi.yaml"):
        assert os.path.exists(os.path.join(prefix, "share", "doc", "synctool", doc))
    # A template is verified through an instance of it.
    inst = os.path.join(unitdir, "synctool-worker@1.service")
    os.symlink(os.path.join(unitdir, "synctool-worker@.service"), inst)
    paths = [os.path.join(unitdir, u) for u in UNITS if "@." not in u] + [inst]
    r = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stdout + r.stderr
    for u in UNITS:
        text = unit_text(os.path.join(unitdir, u))
        assert "@" not in text.replace("worker@", "").replace("%i", ""), (u, text)
        assert f"ExecStart={prefix}/bin/synctool --config-dir /etc/synctool " in text
        assert "KillSignal=SIGTERM" in text and "Restart=on-failure" in text
    sched = unit_text(os.path.join(unitdir, "synctool-scheduler.service"))
    grace = int(sched.split("--grace ")[1].split()[0])
    stop = int(sched.split("TimeoutStopSec=")[1].split()[0])
    assert stop > grace, "TimeoutStopSec must leave the scheduler its --grace"
    # two --grace periods for its jobs, then at most NOTIFY_STOP_MS (10 s) for webhooks
    assert stop > 2 * grace + 10, "TimeoutStopSec must cover the bounded alert drain"


def test_a_broken_unit_fails_verify(tmp_path):
    """The check above can fail: a unit whose binary is missing is refused."""
    prefix = str(tmp_path / "usr")
    make_install(f"PREFIX={prefix}")
    unit = os.path.join(prefix, "lib", "systemd", "system", "synctool-serve.service")
    os.unlink(os.path.join(prefix, "bin", "synctool"))
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0 and "is not executable" in r.stderr, r.stderr


def test_destdir_stages_everything_with_final_paths(tmp_path):
    stage = str(tmp_path / "stage")
    make_install("PREFIX=/usr", f"DESTDIR={stage}")
    files = sorted(os.path.relpath(os.path.join(d, f), stage)
                   for d, _, fs in os.walk(stage) for f in fs)
    assert "usr/bin/synctool" in files
    assert all(f.startswith("usr/") for f in files), files
    text = unit_text(os.path.join(stage, "usr/lib/systemd/system/synctool-scheduler.service"))
    assert "ExecStart=/usr/bin/synctool --config-dir /etc/synctool scheduler" in text
    assert stage not in text
