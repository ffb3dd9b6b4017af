"""``compact zones``: shared enrollment zones, the seat guarantee and a unified lottery.

Travel times come from :mod:`routing.travel`: the city's street network when it has one, else
the network-free straight-line model (Manhattan distance times 1.3 at 20 mph). Student-level
results are written only to the file named by ``--private-out``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import typer

from app._common import echo as _echo
from app._common import load_city as _load
from app._common import travel_for
from app._common import write_csv as _write_csv
from app._common import write_json as _write_json
from app.outputs import city_inputs, output_folder
from facilities.privacy import suppress_small

app = typer.Typer(help="Shared enrollment zones: coverage, the lottery and zone design.", no_args_is_help=True)

_CITY = typer.Argument(..., help="A city folder with a city.toml.")
_OUT = typer.Option(..., "--out", help="Folder for the outputs (created; files written atomically).")
_UNITS = typer.Option(None, "--units", help="Shared zone from units: zone ids or names, comma-separated.")
_SCHOOLS = typer.Option(None, "--schools", help="The shared zone's school ids, comma-separated (default: those inside).")
_ZONES = typer.Option(None, "--zones", help="A file of zone polygons (GeoJSON, GeoPackage, shapefile).")
_ZONE_ID = typer.Option("id", "--zone-id", help="Column of --zones holding zone ids.")
_ZONE_SCHOOLS = typer.Option(None, "--zone-schools", help="Column of --zones holding each zone's school ids.")
_SOURCE = typer.Option("auto", "--source", help="Residents from 'students', 'population' or 'auto'.")
_BASIS = typer.Option("capacity", "--basis", help="Seats from 'capacity' or 'enrollment'.")
_SEED = typer.Option(0, "--seed", help="Random seed (the same seed gives the same results).")


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def resolve_zones(city: Any, *, units: str | None = None, schools: str | None = None, zones_file: Path | None = None,
                  zone_id: str = "id", zone_schools: str | None = None) -> gpd.GeoDataFrame | None:  # fmt: skip
    """The zones asked for: ``--units`` (a shared zone), ``--zones FILE``, the city's
    ``[[enrollment.shared_zones]]`` (``id``, ``units``, optional ``schools``), or ``None``."""
    from facilities.zones import configured_zones, read_zones, shared_zone

    if units:
        return shared_zone(city, units=_split(units) or [], schools=_split(schools), id="shared")
    if zones_file is not None:
        return read_zones(zones_file, crs=city.crs, id=zone_id, schools=zone_schools)
    return configured_zones(city)


def _plain(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for col in ("schools", "units"):
        if col in out:
            out[col] = out[col].map(lambda v: ";".join(v) if isinstance(v, (tuple, list)) else v)
    return out


@app.command()
def coverage(
    city_dir: Path = _CITY, out: Path = _OUT, units: str = _UNITS, schools: str = _SCHOOLS, zones: Path = _ZONES,
    zone_id: str = _ZONE_ID, zone_schools: str = _ZONE_SCHOOLS, source: str = _SOURCE, basis: str = _BASIS,
    grades: str = typer.Option(None, "--grades", help="Grades the zones guarantee, e.g. '6-8' (default: the city's shared zones' grades, else all)."),
) -> None:  # fmt: skip
    """Zones' residents and seats by grade, the guarantee and its shortfall, travel and compactness."""
    from facilities._validate import parse_grades
    from facilities.zones import configured_grades

    city = _load(city_dir)
    travel, how = travel_for(city)
    chosen = resolve_zones(city, units=units, schools=schools, zones_file=zones, zone_id=zone_id, zone_schools=zone_schools)
    wanted = parse_grades(grades) if grades else (configured_grades(city) if units is None and zones is None else None)
    options = {"units": units, "schools": schools, "zones": zones, "source": source, "basis": basis,
               "grades": grades}  # fmt: skip
    inputs = [*city_inputs(city_dir), *([zones] if zones else [])]
    with output_folder(out, command="zones coverage", inputs=inputs, settings=options, say=_echo) as tmp:
        coverage_city(city, tmp, zones=chosen, travel=travel, how=how, source=source, basis=basis, grades=wanted)
    _echo(f"wrote {out}")


def rider_walk_limit(city: Any, grades: Sequence[int]) -> float:
    """The walk distance beyond which students of ``grades`` ride, from the bell-time capability's
    eligibility rules (``[transport.eligibility]``): the shortest limit of the bands covering them."""
    from facilities.zones import WALK_LIMIT_M

    bands = city.settings.transport.eligibility
    limits = [band.walk_beyond for band in bands if set(band.grades) & set(grades) and not band.transit_pass]
    return min(limits) if limits else WALK_LIMIT_M


def coverage_city(
    city: Any, out: Path, *, zones: gpd.GeoDataFrame | None, travel: Any, how: str, source: str = "auto",
    basis: str = "capacity", grades: Sequence[int] | None = None,
) -> dict:  # fmt: skip
    """Measure a loaded city's zones (for ``grades``, default all), write the outputs and report to ``out``; return the summary."""
    from app.report_zones import write_report
    from facilities.io import write_geo
    from facilities.zones import coverage as measure
    from facilities.zones import gap_closers

    cov = measure(city, zones, travel=travel, source=source, basis=basis, grades=grades)  # type: ignore[arg-type]
    gaps = gap_closers(city, cov)
    out.mkdir(parents=True, exist_ok=True)
    counted = ("residents", "guaranteed", "shortfall") if cov.source == "students" else ()
    counts = [c for c in counted if c in cov.grades]
    table = suppress_small(_plain(cov.zones), [c for c in counts if c in cov.zones])  # no count below 10 students
    by_grade = suppress_small(cov.grades, counts)
    shown = {c: table[c].to_numpy() for c in ("schools", *counts) if c in table}
    write_geo(cov.zones.assign(**shown), out / "zones.gpkg", layer="zones")
    _write_csv(table, out / "zones.csv")
    _write_csv(by_grade, out / "coverage.csv")
    _write_csv(gaps, out / "gaps.csv")
    summary = {**cov.summary(), "residents_from": cov.source, "travel": how}
    _write_json(summary, out / "summary.json")
    write_report(out / "report.html", title=f"{city.name}: shared zones and the guarantee",
                 notes={"Residents": cov.source, "Travel": how},
                 sections=[("Zones", table), ("Guarantee by zone and grade", by_grade),
                           ("What would close the gaps", gaps)])  # fmt: skip
    _echo(f"{summary['zones']} zones: {summary['guaranteed']:,} of {summary['residents']:,} residents guaranteed a seat "
          f"({summary['share']:.1%}), shortfall {summary['shortfall']:,}; median Polsby-Popper {summary['polsby_popper_median']}")  # fmt: skip
    return summary


@app.command()
def lottery(
    city_dir: Path = _CITY, out: Path = _OUT, units: str = _UNITS, schools: str = _SCHOOLS, zones: Path = _ZONES,
    zone_id: str = _ZONE_ID, zone_schools: str = _ZONE_SCHOOLS, source: str = _SOURCE, basis: str = _BASIS, seed: int = _SEED,
    choices: Path = typer.Option(None, "--choices", help="Real ranked lists: CSV with student, school, rank."),
    grades: str = typer.Option(None, "--grades", help="Grades applying, e.g. 'K,6,9' (default: K, 6, 9 when simulated)."),
    no_guarantee: bool = typer.Option(False, "--no-guarantee", help="Do not apply the shared zones' guarantee."),
    private_out: Path = typer.Option(None, "--private-out", help="Write each student's assignment (PRIVATE) to this CSV, and the waitlists beside it."),
) -> None:  # fmt: skip
    """One lottery (deferred acceptance) across district, charter and Catholic schools, with the zone guarantee."""
    from facilities._validate import parse_grade

    city = _load(city_dir)
    chosen = resolve_zones(city, units=units, schools=schools, zones_file=zones, zone_id=zone_id, zone_schools=zone_schools)
    ranked = pd.read_csv(choices) if choices is not None else None
    wanted = [parse_grade(g) for g in _split(grades)] if grades else None  # type: ignore[union-attr]
    options = {"units": units, "schools": schools, "zones": zones, "source": source, "basis": basis, "grades": grades,
               "choices": choices, "no_guarantee": no_guarantee}  # fmt: skip
    inputs = [*city_inputs(city_dir), *(p for p in (zones, choices) if p is not None)]
    with output_folder(out, command="zones lottery", inputs=inputs, settings=options, seed=seed, say=_echo) as tmp:
        lottery_city(city, tmp, zones=chosen, choices=ranked, guarantee=not no_guarantee, seed=seed, grades=wanted,
                     source=source, basis=basis, private_out=private_out)  # fmt: skip
    _echo(f"wrote {out}")


def lottery_city(
    city: Any, out: Path, *, zones: gpd.GeoDataFrame | None, choices: pd.DataFrame | None = None, guarantee: bool = True,
    seed: int = 0, grades: list[int] | None = None, source: str = "auto", basis: str = "capacity", private_out: Path | None = None,
) -> dict:  # fmt: skip
    """Run the unified lottery on a loaded city, write aggregate outputs and the report to ``out``; return the summary.

    Student-level assignments and waitlists are written only to ``private_out`` (and a
    ``<name>_waitlists.csv`` beside it) when it is given.
    """
    from app.report_zones import write_report
    from facilities.enrollment import run_lottery

    try:
        run = run_lottery(city, zones=zones, choices=choices, guarantee=guarantee, seed=seed, grades=grades,
                          source=source, basis=basis)  # fmt: skip
    except ValueError as err:
        _echo(str(err))
        raise typer.Exit(code=1) from None
    out.mkdir(parents=True, exist_ok=True)
    tables = {key: run.aggregates(by=[key]) for key in ("sector", "neighborhood", "grade")}
    for key, frame in tables.items():
        _write_csv(frame, out / f"lottery_by_{key}.csv")
    by_zone = run.by_zone()
    _write_csv(by_zone, out / "lottery_by_zone.csv")
    summary = run.summary()
    _write_json(summary, out / "lottery_summary.json")
    lists = "simulated (random-utility model: distance, sector; seeded)" if run.simulated_choices else "given"
    people = "simulated from population by age" if run.simulated_applicants else "the city's students"
    write_report(out / "report.html", title=f"{city.name}: unified lottery",
                 notes={"Applicants": people, "Ranked lists": lists, "Seed": str(seed), "Priorities": ", ".join(summary["priorities"]) or "none"},
                 sections=[("Overall", run.aggregates()), *((f"By {k}", v) for k, v in tables.items()),
                           ("Shared zones' residents", by_zone)])  # fmt: skip
    if private_out is not None:
        waitlists = private_out.with_name(f"{private_out.stem}_waitlists{private_out.suffix or '.csv'}")
        run.result.to_csv(private_out)
        run.result.to_csv(waitlists, table="waitlists")
        _echo(f"wrote each student's assignment and the waitlists (private) to {private_out} and {waitlists}")
    _echo(f"{summary['students']:,} applicants ({people}; lists {lists}): {summary['matched_share']:.1%} matched, "
          f"{summary['first_choice_share']:.1%} first choice, {summary['top_three_share']:.1%} top three, "
          f"{summary['unassigned']:,} unassigned")  # fmt: skip
    return summary


@app.command()
def design(
    city_dir: Path = _CITY, out: Path = _OUT, source: str = _SOURCE, basis: str = _BASIS, seed: int = _SEED,
    grades: str = typer.Option("K-5", "--grades", help="Grades the zones guarantee, e.g. 'K-5' or '6-8'."),
    min_schools: int = typer.Option(2, "--min-schools", help="Fewest schools a zone holds."),
    max_schools: int = typer.Option(8, "--max-schools", help="Most schools a zone holds."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds for each optimizer."),
    cpsat: bool = typer.Option(False, "--cpsat", help="Also solve the exact CP-SAT model (slower on many units)."),
) -> None:  # fmt: skip
    """Generate contiguous shared zones from the city's neighborhoods and compare plans side by side."""
    from app.report_zones import write_report
    from facilities._validate import parse_grades
    from facilities.io import write_geo
    from facilities.zones import ZoneData, ZonePlan, compare_plans, design_cpsat, greedy_zones
    from facilities.zones import design as make

    city = _load(city_dir)
    travel, how = travel_for(city)
    wanted = tuple(parse_grades(grades))
    data = ZoneData.from_city(city, travel=travel, source=source, basis=basis)  # type: ignore[arg-type]
    options = {"min_schools": min_schools, "max_schools": max_schools, "grades": wanted}
    plans: dict[str, ZonePlan] = {
        "each neighborhood": ZonePlan.from_labels(data, data.unit_ids, grades=wanted),
        "greedy": greedy_zones(data, **options),
        "designed": make(data, time_limit=time_limit, seed=seed, progress=lambda k, n: _echo(f"  local search pass {k}"), **options),
    }  # fmt: skip
    if cpsat:
        plans["cp-sat"] = design_cpsat(data, time_limit=time_limit, seed=seed, **options)
    walk_m = rider_walk_limit(city, wanted)
    table = compare_plans(plans, walk_m=walk_m).reset_index(names="measure")
    asked = {"source": source, "basis": basis, "grades": grades, "min_schools": min_schools, "max_schools": max_schools,
             "time_limit": time_limit, "cpsat": cpsat}  # fmt: skip
    inputs = city_inputs(city_dir)
    with output_folder(out, command="zones design", inputs=inputs, settings=asked, seed=seed, say=_echo) as tmp:
        for name, plan in plans.items():
            frame = plan.to_geodataframe()
            write_geo(frame.assign(**{c: _plain(frame)[c].to_numpy() for c in ("units", "schools")}), tmp / "plans.gpkg", layer=name.replace(" ", "_"))
        _write_csv(table, tmp / "comparison.csv")
        issues = {name: list(plan.issues) for name, plan in plans.items()}
        _write_json({"grades": list(wanted), "travel": how, "issues": issues,
                     "status": {n: p.status for n, p in plans.items()}, "bus_riders_walk_m": walk_m}, tmp / "design.json")  # fmt: skip
        sections: list[tuple[str, Any]] = [("Plans side by side", table)]
        for name, plan in plans.items():
            sections.append((f"{name}: zones", _plain(plan.to_geodataframe())))
            if plan.issues:
                sections.append((f"{name}: issues", "; ".join(plan.issues)))
        write_report(tmp / "report.html", title=f"{city.name}: shared zone design ({grades})",
                     notes={"Travel": how, "Residents": source,
                            "Bus riders": f"residents farther than {walk_m:,.0f} m (straight line) from their zone's nearest school, "
                                          "the walk limit of [transport.eligibility] for these grades"},
                     sections=sections)  # fmt: skip
    _echo(table.to_string(index=False))
    _echo(f"wrote {out}")
