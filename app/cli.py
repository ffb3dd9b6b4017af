"""The ``compact`` command line: thin commands over the libraries, with progress on stderr."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from app._common import INTERRUPTED, guard_commands
from app.commands import bells, city_output, facilities, geocode, sbrp, zones

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
app.command(name="geocode")(geocode.geocode)


@app.command()
def validate(
    city_dir: Path = typer.Argument(..., help="A city folder with a city.toml."),
    streets: bool = typer.Option(
        True, "--streets/--no-streets", help="Also load the street network and report points far from it."
    ),
) -> None:
    """Load a city folder; print its summary, or every problem in its files, settings and streets."""
    from app._common import load_city
    from facilities.readiness import readiness

    city = load_city(city_dir)
    typer.echo(city.summary() + "\n" + "\n".join(f"  {r.line()}" for r in readiness(city)))
    if not streets or city.network is None:
        return
    from routing.network import check_network

    layers = {name: city.layer(name) for name in ("schools", "buildings", "yards", "students")}
    checked = check_network(city.network, crs=city.crs, layers=layers, city=city.name, travel_times=False)
    nodes = len(checked.network)
    typer.echo(f"  street network {nodes:,} nodes after keeping its largest strongly connected part")
    within = f"within {city.network.snap_max:.0f} m of a street"
    for name, share in checked.covered.items():
        n = len(layers[name])
        typer.echo(
            f"  every one of the {n:,} {name} is {within}"
            if share == 1.0
            else f"  {share:.1%} of the {n:,} {name} are {within}"
        )
    for note in checked.notes:
        typer.echo(f"  warning: {note}")


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Folder for every output of the demo."),
    city_dir: Path = typer.Option(
        DEMO_CITY, "--city", help="The city to run on (default: the embedded demo city)."
    ),
    time_limit: float = typer.Option(
        20.0, "--time-limit", help="Seconds for the bell-time step (runs and search)."
    ),
    seed: int = typer.Option(1, "--seed", help="Same seed, same results."),
) -> None:
    """The whole toolkit on one city: capacity and the charter match, bell-time alignment, a shared zone
    and a lottery."""
    from app._common import (
        echo,
        load_city,
        progress_printer,
        travel_model_for,
        write_json,
    )
    from app.commands.facilities import match_city
    from app.commands.zones import coverage_city, lottery_city
    from app.outputs_bells import write_bells
    from facilities.capacity import utilization
    from facilities.zones import configured_grades, configured_zones
    from routing.scenarios import compare

    started = time.perf_counter()
    city = load_city(city_dir)
    typer.echo(city.summary())
    options = {"time_limit": time_limit, "seed": seed}
    applications = _applications(city, city_dir)
    files = [city_dir / "choices.csv"] if applications else []
    with city_output(out, city_dir, command="demo", settings=options, seed=seed, files=files) as tmp:
        echo("loading the street network")  # locked before the work
        model, how = travel_model_for(city)
        addresses = geocode.demo_section(city, tmp / "geocode")
        typer.echo("\n== Facilities: capacity from rooms, and charter needs matched to buildings ==")
        use = utilization(city).buildings
        flags = use["flag"].value_counts().to_dict()
        typer.echo(
            f"{len(use)} buildings, {int(use['capacity'].sum()):,} seats from rooms; "
            + ", ".join(f"{n} {flag}" for flag, n in flags.items())
        )
        match = match_city(
            city, tmp / "facilities", travel=model.matrix, how=how, time_limit=10.0, seed=seed
        ).summary()

        typer.echo("\n== Bell times: status quo, aligned to the district's tiers, optimized ==")
        bells = compare(
            city,
            time_limit=time_limit,
            seed=seed,
            progress=progress_printer(),
            network=model if how.startswith("street") else None,
        )
        write_bells(bells, tmp / "bells", yards=city.yards)  # with the route sheets
        typer.echo(bells.text())
        totals = bells.summary()

        typer.echo("\n== Shared enrollment zone: the seat guarantee and one lottery across sectors ==")
        shared = configured_zones(city)
        zone = coverage_city(
            city, tmp / "zones", zones=shared, travel=model.matrix, how=how, grades=configured_grades(city)
        )
        lottery = lottery_city(city, tmp / "lottery", zones=shared, seed=seed, **applications)

        best = totals.iloc[totals["buses"].idxmin()]
        aligned = totals.iloc[1] if len(totals) > 1 else totals.iloc[0]
        summary = {
            "city": city.name,
            "facilities": {k: match[k] for k in ("needs", "housed", "housed_whole_plan", "status")},
            "bells": totals[
                ["scenario", "buses", "buses_saved", "dollars_per_year", "dollars_saved_per_year"]
            ].to_dict("records"),
            "zones": zone,
            "lottery": {
                k: lottery[k]
                for k in (
                    "students",
                    "matched_share",
                    "first_choice_share",
                    "top_three_share",
                    "unassigned",
                    "seats_offered",
                    "seats_left",
                    "simulated_choices",
                    "priorities",
                )
            },
            "addresses": addresses,
        }
        write_json(summary, tmp / "summary.json")
    typer.echo(f"\n== {city.name}: what the compact can do ==")
    typer.echo(f"  charter needs housed      {match['housed']} of {match['needs']} ({match['status']})")
    typer.echo(
        f"  aligning bell times saves {int(aligned['buses_saved'])} buses, "
        f"${aligned['dollars_saved_per_year'] / 1e6:,.2f}M a year ({aligned['scenario']})"
    )
    typer.echo(
        f"  optimizing them saves     {int(best['buses_saved'])} buses, "
        f"${best['dollars_saved_per_year'] / 1e6:,.2f}M a year ({best['scenario']})"
    )
    typer.echo(
        f"  shared zone guarantee     {zone['share']:.0%} of {zone['residents']:,} resident students have a "
        f"seat; shortfall {zone['shortfall']:,}"
    )
    lists = "simulated lists" if lottery["simulated_choices"] else "ranked lists from choices.csv"
    typer.echo(
        f"  unified lottery           {lottery['students']:,} applicants: {lottery['matched_share']:.1%} "
        f"matched, {lottery['first_choice_share']:.1%} first choice, {lottery['top_three_share']:.1%} top "
        f"three ({lists})"
    )
    if addresses is not None:
        kept = addresses["counts"]["unmatched"] > addresses["not_placed"]
        kept = " (other unmatched rows keep the file's coordinates)" if kept else ""
        typer.echo(
            f"  students' addresses       {addresses['matched_share']:.1%} placed, "
            f"{addresses['disagreements']} wrong; "
            f"{addresses['not_placed']} students not placed (addresses unmatched){kept}"
        )
    typer.echo(
        f"  outputs in {out}/ (reports: facilities/, bells/, zones/, geocode/ and lottery/report.html); "
        f"{time.perf_counter() - started:.0f} s"
    )


def _applications(city: Any, city_dir: Path) -> dict:
    """The lottery's options for the demo: with the city's ``choices.csv`` (the demo city's families
    applying for K, 6 and 9), the lists of its students (those not placed from their address are
    left out, as everywhere), the entry grades and the zone priority (entry grades have no
    continuing students); without it, simulated lists."""
    import pandas as pd

    from facilities.demo import APPLICATION_GRADES

    path = city_dir / "choices.csv"
    if not path.is_file():
        return {}
    ranked = pd.read_csv(path, dtype={"student": str, "school": str})
    ranked = ranked[ranked["student"].isin(city.students["id"].astype(str))].reset_index(drop=True)
    return {"choices": ranked, "grades": list(APPLICATION_GRADES), "priorities": ["zone"]}


guard_commands(app)


def main() -> None:
    """Entry point of the ``compact`` console script (Ctrl-C at any point exits 130, without a traceback)."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(INTERRUPTED) from None


if __name__ == "__main__":
    main()
