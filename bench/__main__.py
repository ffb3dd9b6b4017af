"""Run the benchmarks: ``python -m bench`` runs all, ``python -m bench travel sbrp`` some.

Each ``bench/bench_<name>.py`` exposes ``run(quick: bool) -> None`` that prints its tables, with a
reference measured in the same run. ``--quick`` runs a smaller version of each.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path


def _available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all when none is named)."""
    names = _available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="smaller instances, for a fast look")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    for name in args.names or names:
        print(f"\n=== bench {name} ===", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"bench.bench_{name}").run(quick=args.quick)
        print(f"(bench {name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
