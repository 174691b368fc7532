"""benchlib -- what the sync benchmark scripts share (bench_sync.py,
bench_mysql.py; bench_sqlite.py takes `timed`).

Every figure is measured beside its baseline in the same process,
interleaved (`interleave`: the order flips every repetition), and reported
as the median with the range (`med`, `rng`). `synctool` runs the binary
named by SYNCTOOL_BIN and returns its wall time, stderr and peak RSS (its
own, from wait4). `report` prints one table row and keeps it; `save_summary`
appends the kept rows to the SYNCTOOL_BENCH_SUMMARY file that bench/run
turns into the summary table at the end of `make bench`.

Every side proves what it did (`Proof`: the rows it left in its target,
checked against the rows it had to copy, and for PostgreSQL the WAL bytes
it wrote). `interleave_proved` runs sides that return (seconds, Proof);
`kept` drops a repetition whose proof differs from the side's others (a
wrong row count, or WAL more than 25 % off the side's median) from the
median and says so in the row, so a baseline that silently did less (a
copy that failed and exited 0) or more cannot flatter or shame either side.
"""
import os
import statistics
import subprocess
import time

BIN = os.environ.get("SYNCTOOL_BIN", "build/synctool")
REPS = max(1, int(os.environ.get("SYNCTOOL_BENCH_REPS", "5")))
SUMMARY = os.environ.get("SYNCTOOL_BENCH_SUMMARY", "")
ROWS_OUT = []


def synctool(root, *args):
    """Runs synctool; returns (seconds, stderr, peak RSS in KiB)."""
    t = time.monotonic()
    p = subprocess.Popen([BIN, "--config-dir", root] + list(args), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"synctool {' '.join(args)} exited {p.returncode}: {err}")
    return secs, err, ru.ru_maxrss


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


class Proof:
    """What one repetition of one side did: rows in its target (`rows`,
    expected `want`) and WAL bytes written (None where not measured)."""

    def __init__(self, rows, want, wal=None):
        self.rows, self.want, self.wal = rows, want, wal

    def __repr__(self):
        return f"Proof(rows={self.rows}, want={self.want}, wal={self.wal})"


def pg_proved(psql, fn, count, want):
    """A PostgreSQL side: CHECKPOINT, then fn() (returns seconds); returns
    (seconds, Proof(count() afterwards, want, WAL bytes written meanwhile)).
    psql(sql) answers one value as text."""
    psql("CHECKPOINT")
    l0 = psql("SELECT pg_current_wal_lsn()")
    secs = fn()
    wal = int(float(psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{l0}')")))
    return secs, Proof(count(), want, wal)


def proved(fn, count, want):
    """A side without WAL figures (MySQL, SQLite): (seconds, Proof(count()
    afterwards, want))."""
    secs = fn()
    return secs, Proof(count(), want)


def interleave_proved(fns):
    """interleave() for sides returning (seconds, Proof): returns, per side,
    a list of (seconds, Proof)."""
    return interleave(fns)


def mib(n):
    return f"{n / 1048576:.1f} MiB" if n < 10 * 1048576 else f"{n / 1048576:.0f} MiB"


def kept(samples):
    """(times of the repetitions whose proof agrees, a note): a repetition
    with rows != want, or WAL more than 25 % (and more than 4 MiB: a
    checkpoint's or autovacuum's few pages are noise) off the median WAL of
    the side's correct repetitions, is left out and named in the note."""
    good = [(t, p) for t, p in samples if p.rows == p.want]
    wals = sorted(p.wal for _, p in good if p.wal is not None)
    mid = wals[len(wals) // 2] if wals else None
    ok, bad = [], []
    for i, (t, p) in enumerate(samples):
        off = p.rows != p.want or (mid is not None and p.wal is not None and
                                   abs(p.wal - mid) > max(0.25 * mid, 4 * 1048576))
        (bad if off else ok).append((i + 1, t, p))
    note = f"rows {samples[0][1].want}"
    if mid is not None:
        note += f", WAL {mib(mid)}"
    if bad:
        note += "; LEFT OUT: " + "; ".join(
            f"rep {i} rows {p.rows}" + (f" WAL {mib(p.wal)}" if p.wal is not None else "")
            for i, _, p in bad)
    if not ok:
        raise RuntimeError("no repetition proved itself: " + note)
    return [t for _, t, _ in ok], note


def med(v):
    return statistics.median(v)


def rng(v, fmt="{:.2f}"):
    return "(" + fmt.format(min(v)) + "-" + fmt.format(max(v)) + ")"


def interleave(fns):
    """Runs each function of `fns` REPS times, interleaved, the order reversed
    every other repetition; returns a list of time lists (one per function)."""
    out = [[] for _ in fns]
    for r in range(REPS):
        order = list(range(len(fns)))
        if r % 2:
            order.reverse()
        for i in order:
            out[i].append(fns[i]())
    return out


def report(figure, tool, base, ratio, goal, met):
    ROWS_OUT.append((figure, tool, base, ratio, goal, "met" if met else "MISSED"))
    print(f"| {figure} | {tool} | {base} | {ratio} | {goal} | {'met' if met else 'MISSED'} |",
          flush=True)


def save_summary(label=""):
    """Appends the reported rows (figure + label) to SYNCTOOL_BENCH_SUMMARY."""
    if not SUMMARY:
        return
    with open(SUMMARY, "a") as f:
        for r in ROWS_OUT:
            f.write("\t".join((r[0] + label,) + r[1:]) + "\n")
