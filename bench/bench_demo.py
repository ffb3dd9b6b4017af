"""`make demo`'s own time and peak memory, after installation: `compact demo` in a fresh process.

The reference measured in the same run is `compact validate` on the same city (loading alone), so
the table shows what the analyses add to reading the files. Peak memory is the child process's
maximum resident set size (``getrusage``), which counts everything the process touched.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS, TARGET_MB = 120.0, 2048.0


def _child(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak MB and exit code of ``compact ARGS`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    if done.returncode:
        print(done.stderr[-2000:])
    return seconds, peak, done.returncode


def run(quick: bool) -> None:
    """Print the table: validate (reference) and the whole demo, seconds and peak MB."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("compact validate data/demo (reference: loading)", *_child(["validate", "data/demo"]))]
        limit = "8" if quick else "20"
        rows.append(
            (
                f"compact demo --time-limit {limit} (make demo)",
                *_child(["demo", "--out", tmp, "--time-limit", limit]),
            )
        )
    print(f"{'command':<52} {'seconds':>8} {'peak MB':>8}  exit")
    print("-" * 80)
    for label, seconds, mb, code in rows:
        print(f"{label:<52} {seconds:>8.1f} {mb:>8.0f}  {code}")
    seconds, mb = rows[-1][1], rows[-1][2]
    verdict = "meets" if seconds <= TARGET_SECONDS and mb <= TARGET_MB else "misses"
    print(f"\ntarget: under {TARGET_SECONDS:.0f} s and {TARGET_MB:.0f} MB on 2 cores -> {verdict} it")
