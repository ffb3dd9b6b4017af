"""``compact facilities``: capacity, utilization and matching charter needs to buildings.

Travel times for the matching come from the city's street network when it has one, else the
straight-line model (see ``compact zones``); ``--straight-line`` forces the latter.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from app._common import echo as _echo
from app._common import load_city as _load
from app._common import travel_for, write_csv, write_json
from app.commands import city_output
from app.outputs import city_inputs, output_folders
from facilities.travel import describe as _describe_travel

app = typer.Typer(
    help="Building capacity and utilization; match charter needs to buildings.", no_args_is_help=True
)

_CITY = typer.Argument(..., help="A city folder with a city.toml.")


def _band(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give two numbers, e.g. 0.85,1.0") from None
    return low, high


def _require(city: Any, capability: str) -> Any:
    """Stop with validate's own words when the city's data blocks ``capability`` (see
    facilities.readiness)."""
    from facilities import ValidationError
    from facilities.readiness import require

    try:
        return require(city, capability)
    except ValidationError as err:
        _echo(str(err))
        raise typer.Exit(code=1) from None


@app.command()
def capacity(
    city_dir: Path = _CITY,
    out: Path = typer.Option(
        None, "--out", help="Folder for capacity_buildings.csv and capacity_schools.csv."
    ),
    band: str = typer.Option(
        None, "--band", help="Target utilization band 'low,high' (default city.toml [capacity] or 0.85,1.0)."
    ),
) -> None:
    """Capacity of each building (from its rooms, else reported, else floor area) and the utilization of
    buildings and schools."""
    from facilities import ValidationError
    from facilities.capacity import describe_estimates, utilization

    city = _load(city_dir)
    _require(city, "capacity")
    run = {"command": "facilities capacity", "inputs": city_inputs(city_dir), "settings": {"band": band}}
    with output_folders(out, None, **run, say=_echo) as (tmp, _):  # locked before the work
        try:
            result = utilization(city, band=_band(band))
        except ValidationError as err:
            _echo(str(err))
            raise typer.Exit(code=1) from None
        b, s = result.buildings, result.schools
        if tmp is not None:
            for frame, name in ((b, "capacity_buildings.csv"), (s, "capacity_schools.csv")):
                write_csv(frame, tmp / name)
    low, high = result.rules.band
    typer.echo(
        f"{city.name}: {len(b)} buildings, {int(b['capacity'].sum()):,} seats, "
        f"{int(b['enrollment'].sum()):,} enrolled; band {low:.0%}-{high:.0%}"
    )
    for flag, n in b["flag"].value_counts().items():
        typer.echo(f"  {flag:<14} {n:>5} buildings")
    for what, frame in (("buildings", b), ("schools", s)):
        for line in describe_estimates(frame, what):
            typer.echo(f"  {line}")
    shown = b[
        [
            "building",
            "name",
            "capacity",
            "capacity_source",
            "enrollment",
            "utilization",
            "spare_seats",
            "spare_rooms",
            "flag",
        ]
    ]
    typer.echo(shown.sort_values("utilization", ascending=False).to_string(index=False, max_rows=40))
    if out is not None:
        _echo(f"wrote {out / 'capacity_buildings.csv'} and {out / 'capacity_schools.csv'}")


@app.command()
def match(
    city_dir: Path = _CITY,
    out: Path = typer.Option(
        ..., "--out", help="Folder for matches.gpkg, matches.csv, summary.json and report.html."
    ),
    time_limit: float = typer.Option(30.0, "--time-limit", help="Seconds the solver may search."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same seed gives the same answer)."),
    years: int = typer.Option(None, "--years", help="Horizon in years (default: the longest growth plan)."),
    withdraw: str = typer.Option(
        None, "--withdraw", help="What-if: building ids to withdraw, comma-separated."
    ),
    straight_line: bool = typer.Option(
        False, "--straight-line", help="Use straight-line travel even when the city has streets."
    ),
) -> None:
    """Match charter needs to buildings (whole or co-located) over their growth plans; write the outputs and a
    report."""
    city = _load(city_dir)
    options = {"time_limit": time_limit, "years": years, "withdraw": withdraw, "straight_line": straight_line}
    with city_output(out, city_dir, command="facilities match", settings=options, seed=seed) as tmp:
        travel, how = (None, _STRAIGHT) if straight_line else travel_for(city)  # locked before the work
        match_city(
            city,
            tmp,
            travel=travel,
            how=how,
            time_limit=time_limit,
            seed=seed,
            years=years,
            withdraw=[w.strip() for w in withdraw.split(",") if w.strip()] if withdraw else (),
        )
    _echo(f"wrote {out}")


_STRAIGHT = _describe_travel(None)  # the straight-line model of facilities.travel


def match_city(
    city: Any,
    out: Path,
    *,
    travel: Any = None,
    how: str = _STRAIGHT,
    time_limit: float = 30.0,
    seed: int = 0,
    years: int | None = None,
    withdraw: Sequence[str] = (),
) -> Any:
    """Match a loaded city's needs, print the answer, write the outputs to ``out``; return the
    ``MatchResult``."""
    from app.report_facilities import write_match_report
    from facilities import ValidationError
    from facilities.matching import MatchData, solve, what_if

    _require(city, "match")
    try:
        data = MatchData.from_city(city, travel=travel, years=years)
        if withdraw:
            data = what_if(data, withdraw=list(withdraw))
    except (ValidationError, KeyError) as err:
        _echo(str(err).strip("'\""))
        raise typer.Exit(code=1) from None
    _echo(data.summary())
    result = solve(data, time_limit=time_limit, seed=seed, progress=lambda message, _fraction: _echo(message))
    paths = result.to_files(out)
    report = write_match_report(
        out / "report.html",
        result,
        title=f"{city.name}: charter needs matched to buildings",
        zones=city.zones,
        notes={
            "Travel": how,
            "Weights": ", ".join(f"{k} {v:g}" for k, v in result.summary()["weights"].items()),
        },
    )
    s = result.summary()
    typer.echo(
        f"{s['housed']} of {s['needs']} needs housed ({s['housed_whole_plan']} for the whole plan), "
        f"{s['status']}, gap {100 * s['gap']:.2f}%"
    )
    if len(result.assignments):
        typer.echo(
            result.assignments[
                [
                    "need",
                    "building",
                    "mode",
                    "year_last",
                    "plan_years",
                    "seats",
                    "travel_min",
                    "cost",
                    "conditions",
                ]
            ].to_string(index=False)
        )
    if s.get("housed_if_confirmed"):
        typer.echo(
            f"  {s['housed_if_confirmed']} housed only if the unknown facts listed under conditions are "
            "confirmed"
        )
    for row in result.unmatched.itertuples():
        typer.echo(
            f"  {row.need} not housed for {row.years_unmet} year{'s' if row.years_unmet != 1 else ''}: "
            f"{row.reasons}"
        )
    _echo(f"wrote {', '.join(p.name for p in [*paths.values(), report])}")
    return result


@app.command()
def sites(
    city_dir: Path = _CITY,
    out: Path = typer.Option(
        ..., "--out", help="Folder for sites.csv, sites.gpkg, summary.json and report.html."
    ),
    p: int = typer.Option(1, "--p", help="How many new campuses to open."),
    grades: str = typer.Option(
        None,
        "--grades",
        help="Students of these grades travel to the new campuses, e.g. '6-8' (default: all).",
    ),
    capacitated: bool = typer.Option(
        False, "--capacitated", help="A campus seats at most its building's spare seats."
    ),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds the solver may search."),
    straight_line: bool = typer.Option(
        False, "--straight-line", help="Use straight-line travel even when the city has streets."
    ),
) -> None:
    """Where should p new campuses go? The vacant and under-used buildings that minimize students' travel
    (p-median)."""
    from facilities.schema import parse_grades

    city = _load(city_dir)
    options = {
        "p": p,
        "grades": grades,
        "capacitated": capacitated,
        "time_limit": time_limit,
        "straight_line": straight_line,
    }
    wanted = parse_grades(grades) if grades else None
    with city_output(out, city_dir, command="facilities sites", settings=options) as tmp:
        travel, how = (None, _STRAIGHT) if straight_line else travel_for(city)  # locked before the work
        sites_city(
            city,
            tmp,
            p=p,
            grades=wanted,
            capacitated=capacitated,
            travel=travel,
            how=how,
            time_limit=time_limit,
        )
    _echo(f"wrote {out}")


def sites_city(
    city: Any,
    out: Path,
    *,
    p: int,
    grades: Sequence[int] | None = None,
    capacitated: bool = False,
    travel: Any = None,
    how: str = _STRAIGHT,
    time_limit: float = 60.0,
) -> dict:
    """Choose ``p`` of the city's vacant and under-used buildings for new campuses; write the outputs; return
    the summary."""
    from app.report_zones import write_report
    from facilities.io import write_geo
    from facilities.siting import site_campuses

    _require(city, "sites")
    try:
        siting = site_campuses(
            city, p=p, grades=grades, capacitated=capacitated, travel=travel, time_limit=time_limit
        )
    except (ValueError, RuntimeError) as err:
        _echo(str(err))
        raise typer.Exit(code=1) from None
    table = siting.table().rename(columns={"mean_travel": "mean_travel_min"})
    summary = {**siting.summary, "travel": how}
    out.mkdir(parents=True, exist_ok=True)
    write_csv(table, out / "sites.csv")
    write_geo(
        siting.chosen[["id", "name", "status", "students_served", "geometry"]],
        out / "sites.gpkg",
        layer="sites",
    )
    write_json(summary, out / "summary.json")
    answer = "proven optimal" if summary["optimal"] else f"gap {summary['gap']:.2%}"
    write_report(
        out / "report.html",
        title=f"{city.name}: where {p} new campus{'es' if p > 1 else ''} should go",
        notes={
            "Travel": how,
            "Students": f"{summary['students']:,} grouped in {summary['cell_m']:.0f} m cells",
            "Answer": answer,
        },
        sections=[("Chosen buildings", table)],
    )
    typer.echo(
        f"{p} campus{'es' if p > 1 else ''} for {summary['students']:,} students among "
        f"{summary['candidates']} buildings "
        f"({answer}, {summary['seconds']:.1f} s):"
    )
    typer.echo(table.to_string(index=False))
    return summary
