"""``compact bells``: bell-time alignment scenarios and what they save."""

from __future__ import annotations

from pathlib import Path

import typer

from app._common import load_city
from app._common import progress_printer as _progress

app = typer.Typer(
    help="Compare bell-time scenarios: buses, miles, ride times and dollars.", no_args_is_help=True
)

_QUICK = {"time_limit": 20.0, "sessions": ("am", "pm")}


def _load(city_dir: Path, scenarios: Path | None, engine: str):  # type: ignore[no-untyped-def]
    from facilities import ValidationError
    from routing.scenarios import DEFAULT_SCENARIOS, grid_scenarios, read_scenarios

    if engine not in ("select", "fixed"):
        typer.echo(
            f"--engine {engine!r} is not an engine: use --engine select (default) or --engine fixed (the "
            "reference)",
            err=True,
        )
        raise typer.Exit(code=1)
    city = load_city(city_dir)
    try:
        if scenarios is None:
            return city, list(DEFAULT_SCENARIOS)
        listed, grid = read_scenarios(scenarios)
        return city, listed + grid_scenarios(grid)
    except ValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=1) from None


def _require_bells(city) -> None:  # type: ignore[no-untyped-def]
    """Stop with the words of ``compact validate`` when the city's data blocks bell-time scenarios."""
    from facilities import ValidationError
    from facilities.readiness import require

    try:
        require(city, "bells")
    except ValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=1) from None


def _routing(listed, *, seed: int, quiet: bool, am_only: bool, engine: str) -> dict:  # type: ignore[no-untyped-def]
    """The options of :func:`routing.scenarios.prepare` (and ``compare``) the command line sets."""
    return {
        "seed": seed,
        "progress": _progress(quiet),
        "sessions": ("am",) if am_only else ("am", "pm"),
        "engine": engine,
        "mixed_loads": any(s.mixed_loads for s in listed),
    }


def _require_riders(result) -> None:  # type: ignore[no-untyped-def]
    """Stop (exit 1, nothing written) when no rider was routed, saying why."""
    if result.summary()["riders"].iloc[0]:
        return
    counts = result.prepared.infeasible.groupby(["kind", "reason"]).size()
    why = "; ".join(f"{n} {kind}s: {reason}" for (kind, reason), n in counts.items()) or "no student rides"
    typer.echo(
        f"No rider was routed, so there is nothing to compare ({why}). Give the schools bell_start and "
        "bell_end, and check [transport.eligibility].",
        err=True,
    )
    raise typer.Exit(code=1)


@app.command()
def compare(
    city_dir: Path = typer.Argument(..., help="A city folder with a city.toml."),
    out: Path = typer.Option(
        Path("out/bells"), "--out", help="Folder for runs, stops, schedules, summary and report."
    ),
    scenarios: Path | None = typer.Option(
        None,
        "--scenarios",
        help="TOML file of [[scenario]] tables (default: status quo, aligned, optimized).",
    ),
    time_limit: float = typer.Option(
        60.0,
        "--time-limit",
        help="Seconds in all, as work budgets (half for runs, half for the bell-time search): the same seed "
        "gives the same files on any machine.",
    ),
    quick: bool = typer.Option(False, "--quick", help="A fast look: 20 s in all."),
    am_only: bool = typer.Option(False, "--am-only", help="Route the morning only."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same result."),
    mixed_loads: bool = typer.Option(
        False,
        "--mixed-loads",
        help="Also each scenario with mixed loads (runs carrying several schools), in its own row.",
    ),
    engine: str = typer.Option(
        "select",
        "--engine",
        help="select: runs chosen among run sets with the chaining; fixed: one run set per school (the "
        "reference).",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress on stderr."),
    private_out: Path | None = typer.Option(
        None,
        "--private-out",
        help="Folder for the exact stops, route sheets and runs (PRIVATE: door-to-door and wheelchair stops "
        "locate students).",
    ),
) -> None:
    """Run the status quo, 'charter and Catholic schools align their start and dismissal to the
    district's tiers' and 'optimized' (or the scenarios of --scenarios), and write what each costs
    and saves."""
    from app._common import echo, travel_model_for
    from app.outputs import check_apart, city_inputs, output_folders
    from app.outputs_bells import write_bells
    from routing.scenarios import compare as run_compare
    from routing.scenarios import with_mixed_loads

    if private_out is not None:
        check_apart(out, private_out)  # before the work, not after it
    city, listed = _load(city_dir, scenarios, engine)
    _require_bells(city)
    if mixed_loads:
        listed = with_mixed_loads(listed)
    limit = _QUICK["time_limit"] if quick else time_limit
    asked = {
        "scenarios": scenarios,
        "time_limit": limit,
        "am_only": am_only,
        "mixed_loads": mixed_loads,
        "engine": engine,
    }
    inputs = [*city_inputs(city_dir), *([scenarios] if scenarios else [])]
    # both folders locked from the start: a second run on the same --out is stopped before its work
    with output_folders(
        out, private_out, command="bells compare", inputs=inputs, settings=asked, seed=seed, say=echo
    ) as (tmp, private_tmp):
        assert tmp is not None
        model, how = travel_model_for(city)  # the streets checked: readable, with edges, covering the city
        result = run_compare(
            city,
            scenarios=listed,
            time_limit=limit,
            network=model if how.startswith("street") else None,
            **_routing(listed, seed=seed, quiet=quiet, am_only=am_only, engine=engine),
        )
        _require_riders(result)
        written = write_bells(result, tmp, private_out=private_tmp, yards=city.yards)
        paths = {k: v for k, v in written.items() if not k.startswith("private/")}
    typer.echo(result.text())
    typer.echo(f"travel: {how}")
    if city.geocoding is not None and city.geocoding.not_placed:  # never dropped silently
        typer.echo(
            f"  {city.geocoding.not_placed:,} students not placed (addresses unmatched): not routed; "
            "compact geocode lists the rows"
        )
    typer.echo(f"wrote {', '.join(sorted(paths))} to {out}")
    if private_out is not None:
        typer.echo(
            f"wrote the exact stops, route sheets and runs to {private_out} (private: they locate students)"
        )


@app.command()
def sweep(
    city_dir: Path = typer.Argument(..., help="A city folder with a city.toml."),
    scenarios: Path = typer.Option(
        ..., "--scenarios", help="TOML file of [[scenario]] tables and/or a [grid] of policy values."
    ),
    out: Path = typer.Option(
        Path("out/bells/sweep"),
        "--out",
        help="Folder for sweep.csv (totals per scenario) and its manifest, written whole or not at all.",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://host:8786); default: local processes."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Local processes (default: the machine's cores)."
    ),
    time_limit: float = typer.Option(
        30.0, "--time-limit", help="Seconds of bell-time search per optimized scenario."
    ),
    prepare_time: float = typer.Option(30.0, "--prepare-time", help="Seconds for the runs, computed once."),
    am_only: bool = typer.Option(False, "--am-only", help="Route the morning only."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same result."),
    mixed_loads: bool = typer.Option(
        False, "--mixed-loads", help="Also each scenario with mixed loads, in its own row."
    ),
    engine: str = typer.Option(
        "select", "--engine", help="select (default) or fixed (the reference engine)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress on stderr."),
) -> None:
    """Evaluate many scenarios in parallel (local processes, or a Dask cluster with --scheduler)."""
    from app._common import echo
    from app.outputs import check_folder, city_inputs, output_folder
    from routing.scenarios import (
        DaskExecutor,
        ProcessExecutor,
        prepare,
        with_mixed_loads,
    )
    from routing.scenarios import sweep as run_sweep

    check_folder(out, option="--out", holds="sweep.csv and manifest.json")
    city, listed = _load(city_dir, scenarios, engine)
    _require_bells(city)
    if mixed_loads:
        listed = with_mixed_loads(listed)
    asked = {
        "scenarios": scenarios,
        "time_limit": time_limit,
        "prepare_time": prepare_time,
        "am_only": am_only,
        "mixed_loads": mixed_loads,
        "engine": engine,
    }
    inputs = [*city_inputs(city_dir), scenarios]
    # the lock is held from the start: a second run on the same --out is stopped before its work
    with output_folder(out, command="bells sweep", inputs=inputs, settings=asked, seed=seed, say=echo) as tmp:
        prepared = prepare(
            city,
            time_limit=prepare_time,
            **_routing(listed, seed=seed, quiet=quiet, am_only=am_only, engine=engine),
        )
        executor = DaskExecutor(scheduler) if scheduler else ProcessExecutor(workers)
        table = run_sweep(prepared, listed, executor=executor, time_limit=time_limit, seed=seed)
        table.to_csv(tmp / "sweep.csv", index=False)
    cols = [
        "scenario",
        "buses",
        "buses_saved",
        "dollars_saved_per_year",
        "mean_ride_min",
        "policy_violations",
    ]
    typer.echo(table[cols].to_string(index=False))
    typer.echo(f"wrote sweep.csv and manifest.json to {out}")
