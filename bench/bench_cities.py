"""Real cities end to end: every capability on Washington, DC and Boston, seconds and peak memory.

Each command runs in a fresh process (``compact ...``) on the shipped city folders
``tests/cities/dc`` and ``tests/cities/boston``, which read ``../shared/data`` in place. The
reference measured in the same run is ``compact validate`` on the same city (loading alone). A
command the city's data blocks exits 1 with validate's own words: the table says ``blocked`` and
how long saying so took. Peak memory is the child's own maximum resident set size.

Targets on the 2-core machine: each DC command under 30 s and 1 GB.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CITIES = {"dc": ROOT / "tests" / "cities" / "dc", "boston": ROOT / "tests" / "cities" / "boston"}
TARGET_SECONDS, TARGET_MB = 30.0, 1024.0
#: The child runs the CLI, then prints its own peak resident set (kB on Linux) on stderr's last line.
_CHILD = (
    "import resource, sys, traceback\n"
    "from app.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:])\n"
    "    code = 0\n"
    "except SystemExit as e:\n"
    "    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)\n"
    "except Exception:\n"
    "    traceback.print_exc()\n"
    "    code = 1\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _commands(city: Path, out: Path, *, quick: bool) -> list[tuple[str, list[str]]]:
    limit = "5" if quick else "20"
    return [
        ("validate (reference)", ["validate", str(city), "--no-streets"]),
        ("facilities capacity", ["facilities", "capacity", str(city), "--out", str(out / "capacity")]),
        (
            "facilities match",
            [
                "facilities",
                "match",
                str(city),
                "--out",
                str(out / "match"),
                "--time-limit",
                limit,
                "--straight-line",
            ],
        ),
        (
            "facilities sites",
            [
                "facilities",
                "sites",
                str(city),
                "--out",
                str(out / "sites"),
                "--time-limit",
                limit,
                "--straight-line",
            ],
        ),
        ("zones coverage", ["zones", "coverage", str(city), "--out", str(out / "coverage")]),
        ("zones lottery", ["zones", "lottery", str(city), "--out", str(out / "lottery")]),
        ("zones design", ["zones", "design", str(city), "--out", str(out / "design"), "--time-limit", limit]),
        (
            "bells compare",
            ["bells", "compare", str(city), "--out", str(out / "bells"), "--time-limit", limit],
        ),
    ]


def _child(args: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, the child's peak MB, its exit code and its last words."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    lines = done.stderr.strip().splitlines()
    peak = next(
        (int(line.split()[1]) / 1024 for line in reversed(lines) if line.startswith("PEAK_KB")), float("nan")
    )
    said = [
        line.lstrip(" -")
        for line in (done.stdout + "\n" + "\n".join(lines)).splitlines()
        if line.strip() and not line.startswith("PEAK_KB")
    ]
    return seconds, peak, done.returncode, said[-1].strip()[:90] if said else ""


def run(quick: bool) -> None:
    """Print one table per city: each capability's seconds, peak MB and outcome."""
    if not SHARED.exists():
        print(f"skipped: needs the shared real data at {SHARED}")
        return
    for name, city in CITIES.items():
        print(f"\n{name}: {city.relative_to(ROOT)}")
        print(f"{'command':<22} {'seconds':>8} {'peak MB':>8}  outcome")
        print("-" * 100)
        with tempfile.TemporaryDirectory() as tmp:
            worst = 0.0, 0.0
            for label, args in _commands(city, Path(tmp), quick=quick):
                seconds, mb, code, said = _child(args)
                outcome = "ok" if code == 0 else (said if "blocked" in said else f"exit {code}: {said}")
                print(f"{label:<22} {seconds:>8.1f} {mb:>8.0f}  {outcome}", flush=True)
                worst = max(worst[0], seconds), max(worst[1], mb)
        if name == "dc":
            verdict = "meets" if worst[0] <= TARGET_SECONDS and worst[1] <= TARGET_MB else "misses"
            target = f"each DC command under {TARGET_SECONDS:.0f} s and {TARGET_MB:.0f} MB"
            print(f"target: {target} -> {verdict} it (slowest {worst[0]:.1f} s, largest {worst[1]:.0f} MB)")
