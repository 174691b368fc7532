"""benchlib -- what the sync benchmark scripts share (bench_sync.py,
bench_mysql.py; bench_sqlite.py takes `timed`).

Every figure is measured beside its baseline in the same process,
interleaved (`interleave`: the order flips every repetition), and reported
as the median with the range (`med`, `rng`). `synctool` runs the binary
named by SYNCTOOL_BIN and returns its wall time, stderr and peak RSS (its
own, from wait4). `report` prints one table row and keeps it; `save_summary`
appends the kept rows to the SYNCTOOL_BENCH_SUMMARY file that bench/run
turns into the summary table at the end of `make bench`.
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
