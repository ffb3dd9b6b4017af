"""``compact sbrp``: the school bus routing benchmark (Park, Tae & Kim 2012)."""

from pathlib import Path

import typer

app = typer.Typer(help="Solve and check school bus routing benchmark instances.", no_args_is_help=True)


@app.command()
def solve(
    instance_dir: Path = typer.Argument(
        ..., help="An instance folder, e.g. ../shared/data/sbrp/RSRB/RSRB01."
    ),
    max_ride: float = typer.Option(
        ..., "--max-ride", help="Longest ride in seconds (the benchmark uses 2700 and 5400)."
    ),
    out: Path = typer.Option(..., "--out", help="Itinerary CSV to write (BiRD's solution format)."),
    time_limit: float = typer.Option(120.0, "--time-limit", help="Seconds for the whole solve."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same plan."),
    solver: str = typer.Option("pyvrp", "--solver", help="Run solver: pyvrp or ortools."),
    alternatives: int = typer.Option(
        20,
        "--alternatives",
        help="Run sets per school (at most 20); their runs are combined jointly with the chaining.",
    ),
    mixed_loads: bool = typer.Option(
        False,
        "--mixed-loads",
        help="Let a run carry students of several schools when bells and places allow.",
    ),
    workers: int = typer.Option(
        2, "--workers", help="Processes for the school routing problems (part of what a seed reproduces)."
    ),
    arrive_by: str = typer.Option(
        "early",
        "--arrive-by",
        help="early: unload by AMEARLY (BiRD's convention); late: by AMLATE (Park et al.'s window).",
    ),
) -> None:
    """Solve an instance and write the buses' itineraries; progress goes to stderr."""
    from facilities import ValidationError
    from routing.buses import solve as solve_plan
    from routing.sbrp import read_instance

    try:
        data = read_instance(instance_dir, max_ride=max_ride, arrive_by=arrive_by)  # type: ignore[arg-type]
    except (ValidationError, ValueError) as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=1) from None

    def progress(message: str, fraction: float) -> None:
        typer.echo(f"[{fraction:4.0%}] {message}", err=True)

    asked = {"solver": solver, "alternatives": alternatives, "workers": workers, "mixed_loads": mixed_loads}
    plan = solve_plan(data, time_limit=time_limit, seed=seed, progress=progress, **asked)
    from app.outputs import output_file

    with output_file(out) as tmp:  # written whole, one run at a time
        plan.to_bird_csv(tmp)
    typer.echo(plan.summary())
    typer.echo(f"wrote {out}")


@app.command()
def check(
    instance_dir: Path = typer.Argument(..., help="An instance folder."),
    plan_csv: Path = typer.Argument(..., help="An itinerary CSV (BiRD's solution format)."),
    max_ride: float = typer.Option(..., "--max-ride", help="Longest ride in seconds."),
    arrive_by: str = typer.Option("early", "--arrive-by", help="early: unload by AMEARLY; late: by AMLATE."),
) -> None:
    """Check a plan independently of the solver; exit 1 when a rule is broken."""
    from routing.check import check_plan

    report = check_plan(instance_dir, plan_csv, max_ride=max_ride, arrive_by=arrive_by)
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(code=1)
