"""The ``compact`` command line: thin commands over the libraries, with progress on stderr."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from app.commands import bells, facilities, sbrp, zones

DEMO_CITY = Path(__file__).resolve().parents[1] / "data" / "demo"

app = typer.Typer(
    help="Compact planner: maps and optimized answers for a city's district, charter and Catholic schools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(facilities.app, name="facilities")
app.add_typer(bells.app, name="bells")
app.add_typer(zones.app, name="zones")
app.add_typer(sbrp.app, name="sbrp")


@app.command()
def validate(
    city_dir: Path = typer.Argument(..., help="A city folder with a city.toml."),
    streets: bool = typer.Option(True, "--streets/--no-streets", help="Also load the street network and report points far from it."),
) -> None:
    """Load a city folder, and print its summary or every problem found in it."""
    from app._common import load_city, travel_model_for

    city = load_city(city_dir)
    typer.echo(city.summary())
    if not streets or city.network is None:
        return
    model, how = travel_model_for(city)
    if not how.startswith("street"):
        return
    from routing.network import snap

    typer.echo(f"  street network {len(model):,} nodes after keeping its largest strongly connected part")
    for name in ("schools", "buildings", "yards", "students"):
        layer = city.layer(name)
        if len(layer):
            far = snap(model, layer, max_distance=city.network.snap_max).describe_far(layer=name)
            typer.echo(f"  warning: {far}" if far else f"  every one of the {len(layer):,} {name} is within {city.network.snap_max:.0f} m of a street")


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Folder for every output of the demo."),
    city_dir: Path = typer.Option(DEMO_CITY, "--city", help="The city to run on (default: the embedded demo city)."),
    time_limit: float = typer.Option(20.0, "--time-limit", help="Seconds for the bell-time step (runs and search)."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same results."),
) -> None:
    """The whole toolkit on one city: capacity and the charter match, bell-time alignment, a shared zone and a lottery."""
    from app._common import echo, load_city, progress_printer, travel_model_for, write_json
    from app.commands.facilities import match_city
    from app.commands.zones import coverage_city, lottery_city
    from facilities.zones import configured_grades, configured_zones
    from facilities.capacity import utilization
    from app.outputs_bells import write_comparison
    from routing.scenarios import compare

    started = time.perf_counter()
    city = load_city(city_dir)
    typer.echo(city.summary())
    echo("loading the street network")
    model, how = travel_model_for(city)

    typer.echo("\n== Facilities: capacity from rooms, and charter needs matched to buildings ==")
    use = utilization(city).buildings
    flags = use["flag"].value_counts().to_dict()
    typer.echo(f"{len(use)} buildings, {int(use['capacity'].sum()):,} seats from rooms; " + ", ".join(f"{n} {flag}" for flag, n in flags.items()))
    match = match_city(city, out / "facilities", travel=model.matrix, how=how, time_limit=10.0, seed=seed).summary()

    typer.echo("\n== Bell times: status quo, aligned to the district's tiers, optimized ==")
    bells = compare(city, time_limit=time_limit, seed=seed, progress=progress_printer(), network=model if how.startswith("street") else None)
    write_comparison(bells, out / "bells")
    typer.echo(bells.text())
    totals = bells.summary()

    typer.echo("\n== Shared enrollment zone: the seat guarantee and one lottery across sectors ==")
    shared = configured_zones(city)
    zone = coverage_city(city, out / "zones", zones=shared, travel=model.matrix, how=how, grades=configured_grades(city))
    lottery = lottery_city(city, out / "lottery", zones=shared, seed=seed)

    best = totals.iloc[totals["buses"].idxmin()]
    aligned = totals.iloc[1] if len(totals) > 1 else totals.iloc[0]
    summary = {
        "city": city.name,
        "facilities": {k: match[k] for k in ("needs", "housed", "housed_whole_plan", "status")},
        "bells": totals[["scenario", "buses", "buses_saved", "dollars_per_year", "dollars_saved_per_year"]].to_dict("records"),
        "zones": zone,
        "lottery": {k: lottery[k] for k in ("students", "matched_share", "first_choice_share", "top_three_share", "unassigned")},
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(summary, out / "summary.json")
    typer.echo(f"\n== {city.name}: what the compact can do ==")
    typer.echo(f"  charter needs housed      {match['housed']} of {match['needs']} ({match['status']})")
    typer.echo(f"  aligning bell times saves {int(aligned['buses_saved'])} buses, ${aligned['dollars_saved_per_year'] / 1e6:,.2f}M a year ({aligned['scenario']})")
    typer.echo(f"  optimizing them saves     {int(best['buses_saved'])} buses, ${best['dollars_saved_per_year'] / 1e6:,.2f}M a year ({best['scenario']})")
    typer.echo(f"  shared zone guarantee     {zone['share']:.0%} of {zone['residents']:,} resident students have a seat; shortfall {zone['shortfall']:,}")
    typer.echo(f"  unified lottery           {lottery['matched_share']:.0%} matched, {lottery['first_choice_share']:.0%} first choice (simulated lists)")
    typer.echo(f"  outputs in {out}/ (reports: facilities/, bells/, zones/ and lottery/report.html); {summary['seconds']:.0f} s")


def main() -> None:
    """Entry point of the ``compact`` console script."""
    app()


if __name__ == "__main__":
    main()
