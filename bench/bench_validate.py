"""What checking a city costs: `compact validate` against reading its files alone.

For each city, two fresh processes: the reference reads every file ``city.toml`` names with the
same readers and nothing else (pandas / geopandas for the layers, osmnx for the streets), then
`compact validate CITY` reads, checks and projects everything, loads the streets and snaps every
school and student to them. Seconds are wall time of the whole process (imports included, in
both); peak MB is the process's maximum resident set size (``getrusage``). Cities: the demo,
Riverton at Boston scale (``--size city``, generated into a temporary folder; skipped with
``--quick``) and ``tests/cities/bps2017`` (the 2017 BPS challenge's students; skipped when
``../shared/data`` is absent). Target: validate within 2x of reading the files.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 2.0

_READ_ONLY = textwrap.dedent(
    """
    import sys, tomllib
    from pathlib import Path
    import osmnx as ox
    from facilities.io import read_layer_file

    toml = Path(sys.argv[1]) / "city.toml"
    config = tomllib.loads(toml.read_text())
    for cfg in config.get("layers", {}).values():
        header = cfg.get("header_row", 1)
        read_layer_file(toml.parent / cfg["file"], sheet=cfg.get("sheet"), header_row=header)
    street = config.get("network", {}).get("file")
    if street:
        path = toml.parent / street
        if path.suffix == ".graphml":
            ox.load_graphml(path)
        else:
            ox.graph_from_xml(path, simplify=False, retain_all=True)
    """
)
_PEAK = "import resource, sys; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"


def _child(code: str, *args: str) -> tuple[float, float, int]:
    """Wall seconds, peak MB and exit status of ``code`` in a fresh process."""
    wrapped = f"try:\n{textwrap.indent(code, '    ')}\nfinally:\n    {_PEAK}\n"
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapped, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    lines = done.stderr.strip().splitlines()
    peak = float(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("nan")
    if done.returncode:
        print(done.stderr[-1500:])
    return seconds, peak, done.returncode


def _validate(city: Path) -> tuple[float, float, int]:
    return _child(
        "import sys\nfrom app.cli import main\nsys.argv = ['compact', 'validate', sys.argv[1]]\nmain()",
        str(city),
    )


def _cities(quick: bool, tmp: Path) -> list[tuple[str, Path]]:
    cities = [("demo (7,502 students)", ROOT / "data" / "demo")]
    if not quick:
        big = tmp / "riverton-city"
        subprocess.run(
            [sys.executable, "-m", "facilities.demo", "--size", "city", "--seed", "2026", "--out", str(big)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        cities.append(("Riverton, Boston scale (--size city)", big))
    bps = ROOT / "tests" / "cities" / "bps2017"
    if (ROOT.parent / "shared" / "data" / "boston").exists():
        cities.append(("bps2017 (BPS challenge students)", bps))
    else:
        print("bps2017 skipped: ../shared/data is absent")
    return cities


def run(quick: bool) -> None:
    """Print per city: reading the files (reference) and `compact validate`, seconds and peak MB."""
    print(
        f"{'city':<40} {'read s':>7} {'read MB':>8} {'validate s':>10} {'validate MB':>11} "
        f"{'ratio s':>7} {'ratio MB':>8}  exit"
    )
    print("-" * 104)
    with tempfile.TemporaryDirectory() as folder:
        for label, city in _cities(quick, Path(folder)):
            rs, rm, rc = _child(_READ_ONLY, str(city))
            vs, vm, vc = _validate(city)
            print(
                f"{label:<40} {rs:>7.1f} {rm:>8.0f} {vs:>10.1f} {vm:>11.0f} "
                f"{vs / rs:>7.2f} {vm / rm:>8.2f}  {rc}/{vc}"
            )
    print(f"\ntarget: validate within {TARGET:g}x of reading the files (time and memory)")
