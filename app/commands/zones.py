"""``compact zones``: shared enrollment zones, the seat guarantee and a unified lottery.

Travel times come from :mod:`routing.travel`: the city's street network when it has one, else
the network-free straight-line model of :mod:`facilities.travel` (Manhattan distance times 1.3 at
20 mph). Residents come from students, else population by age, else an enrollment estimate, and
every output says which. A data or precondition problem is one message naming what is missing
and the fix (exit status 1, nothing written); degenerate results are warnings, never headlines.
Student-level results are written only into the folder named by ``--private-out``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import typer

from app._common import echo as _echo
from app._common import load_city as _load
from app._common import travel_for, unplaced
from app._common import write_csv as _write_csv
from app._common import write_json as _write_json
from app.commands import city_output
from app.outputs import check_folder, city_inputs, output_folder, output_folders
from facilities.privacy import suppress_small
from facilities.schema import format_grades

app = typer.Typer(
    help="Shared enrollment zones: coverage, the lottery and zone design.", no_args_is_help=True
)

_CITY = typer.Argument(..., help="A city folder with a city.toml.")
_OUT = typer.Option(..., "--out", help="Folder for the outputs (created; files written atomically).")
_UNITS = typer.Option(None, "--units", help="Shared zone from units: zone ids or names, comma-separated.")
_SCHOOLS = typer.Option(
    None, "--schools", help="The shared zone's school ids, comma-separated (default: those inside)."
)
_ZONES = typer.Option(None, "--zones", help="A file of zone polygons (GeoJSON, GeoPackage, shapefile).")
_ZONE_ID = typer.Option("id", "--zone-id", help="Column of --zones holding zone ids.")
_ZONE_SCHOOLS = typer.Option(None, "--zone-schools", help="Column of --zones holding each zone's school ids.")
_SOURCE = typer.Option(
    "auto",
    "--source",
    help="Residents from 'students', 'population' (by age), 'enrollment' (an estimate) "
    "or 'auto' (the first of them the city has).",
)
_BASIS = typer.Option("capacity", "--basis", help="Seats from 'capacity' or 'enrollment'.")
_SEED = typer.Option(0, "--seed", help="Random seed (the same seed gives the same results).")
_COVERED_GRADES = typer.Option(
    None,
    "--grades",
    help="Grades the zones guarantee, e.g. '6-8' (default: the city's shared zones' grades, else all).",
)
PRIVATE_LOTTERY = ("assignments.csv", "waitlists.csv")  # the files of the lottery's --private-out


@contextmanager
def _problems() -> Iterator[None]:
    """Turn a data or precondition problem into its message and exit status 1 (nothing written)."""
    try:
        yield
    except ValueError as err:  # ValidationError and bad option values: the message names the fix
        _echo(str(err))
        raise typer.Exit(code=1) from None


def _require(city: Any, capability: str, *, defaults: bool) -> None:
    """With the default options, stop with the words of ``compact validate`` when the city's data
    blocks ``capability`` (other options change what it needs: the command checks those itself)."""
    from facilities.readiness import require

    if defaults:
        require(city, capability)


def _warn(warnings: Sequence[str]) -> None:
    for w in warnings:
        _echo(f"warning: {w}")


def _grades(text: str) -> tuple[int, ...]:
    """The grades of a ``--grades`` option, or one message naming the option and the fix."""
    from facilities.schema import parse_grades
    from facilities.zones.measure import fail

    try:
        return tuple(parse_grades(text))
    except ValueError as err:
        fail(
            "--grades",
            None,
            None,
            f"{text!r}: {err}",
            "write grades like 'K-5', '6-8' or 'K,6,9'",
            city="options",
        )


def _choices(path: Path) -> pd.DataFrame:
    """Real ranked lists from ``--choices``, or one message naming the file and the fix."""
    from facilities.zones.measure import fail

    if not path.is_file():
        fail(
            str(path), None, None, "file not found", "give a CSV with student, school, rank", city="--choices"
        )
    return pd.read_csv(path)


def _priorities(text: str | None) -> list[str] | None:
    """The rules of a ``--priorities`` option, or one message naming the option and the fix."""
    from facilities.lottery import PRIORITY_RULES
    from facilities.zones.measure import fail

    rules = _split(text)
    unknown = [r for r in rules or [] if r not in PRIORITY_RULES]
    if unknown:
        fail(
            "--priorities",
            None,
            None,
            f"{', '.join(map(repr, unknown))} is not a priority rule",
            f"use any of {', '.join(PRIORITY_RULES)}, best first, comma-separated",
            city="options",
        )
    return rules


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@dataclass(frozen=True)
class ZonesAsked:
    """The zones a command was asked for: ``--units`` (a shared zone of units, with ``--schools``),
    ``--zones FILE`` (with ``--zone-id`` and ``--zone-schools``), else the city's
    ``[[enrollment.shared_zones]]``."""

    units: str | None = None
    schools: str | None = None
    zones: Path | None = None
    zone_id: str = "id"
    zone_schools: str | None = None

    @property
    def given(self) -> bool:
        """Whether units or a zones file were named (else the city's own zones are used)."""
        return self.units is not None or self.zones is not None

    def settings(self) -> dict[str, object]:
        """The options, as an output folder's manifest records them."""
        return {"units": self.units, "schools": self.schools, "zones": self.zones}

    def resolve(self, city: Any) -> gpd.GeoDataFrame | None:
        """The zones: a shared zone from units, the file's zones, the city's shared zones, or ``None``."""
        from facilities.zones import configured_zones, read_zones, shared_zone

        if self.units:
            return shared_zone(
                city, units=_split(self.units) or [], schools=_split(self.schools), id="shared"
            )
        if self.zones is not None:
            return read_zones(self.zones, crs=city.crs, id=self.zone_id, schools=self.zone_schools)
        return configured_zones(city)


#: The options that pick the zones: name, type and the typer option.
_ZONE_OPTIONS = (
    ("units", str, _UNITS),
    ("schools", str, _SCHOOLS),
    ("zones", Path, _ZONES),
    ("zone_id", str, _ZONE_ID),
    ("zone_schools", str, _ZONE_SCHOOLS),
)


def _asks_for_zones(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the options that pick its zones (after its city and ``--out``); it receives
    them as one ``asked: ZonesAsked``."""
    signature = inspect.signature(command)
    own = [p for name, p in signature.parameters.items() if name != "asked"]
    added = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option, annotation=kind)
        for name, kind, option in _ZONE_OPTIONS
    ]

    def run(**options: Any) -> None:
        command(asked=ZonesAsked(**{name: options.pop(name) for name, _, _ in _ZONE_OPTIONS}), **options)

    run.__name__, run.__qualname__, run.__doc__ = command.__name__, command.__qualname__, command.__doc__
    run.__annotations__ = {k: v for k, v in command.__annotations__.items() if k != "asked"}
    run.__signature__ = signature.replace(parameters=[*own[:2], *added, *own[2:]])  # type: ignore[attr-defined]
    return run


def _plain(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for col in ("schools", "units"):
        if col in out:
            out[col] = out[col].map(lambda v: ";".join(v) if isinstance(v, (tuple, list)) else v)
    return out


@app.command()
@_asks_for_zones
def coverage(
    city_dir: Path = _CITY,
    out: Path = _OUT,
    source: str = _SOURCE,
    basis: str = _BASIS,
    grades: str = _COVERED_GRADES,
    *,
    asked: ZonesAsked,
) -> None:
    """Zones' residents and seats by grade, the guarantee and its shortfall, travel and compactness."""
    from facilities.zones import configured_grades

    city = _load(city_dir)
    with _problems():
        _require(city, "coverage", defaults=not asked.given and (source, basis) == ("auto", "capacity"))
        chosen = asked.resolve(city)
        wanted = _grades(grades) if grades else (None if asked.given else configured_grades(city))
        options = {**asked.settings(), "source": source, "basis": basis}
        settings = {**options, "grades": grades}
        with city_output(
            out, city_dir, command="zones coverage", settings=settings, files=[asked.zones]
        ) as tmp:
            travel, how = travel_for(city)  # locked before the work
            coverage_city(
                city, tmp, zones=chosen, travel=travel, how=how, source=source, basis=basis, grades=wanted
            )
    _echo(f"wrote {out}")


def rider_walk_limit(city: Any, grades: Sequence[int]) -> float:
    """The walk distance beyond which students of ``grades`` ride, from the bell-time capability's
    eligibility rules (``[transport.eligibility]``): the shortest limit of the bands covering them."""
    from facilities.zones import WALK_LIMIT_M

    limits = [
        r.walk_beyond
        for r in city.settings.transport.eligibility
        if set(r.grades) & set(grades) and not r.transit_pass
    ]
    return min(limits) if limits else WALK_LIMIT_M


def coverage_city(
    city: Any,
    out: Path,
    *,
    zones: gpd.GeoDataFrame | None,
    travel: Any,
    how: str,
    source: str = "auto",
    basis: str = "capacity",
    grades: Sequence[int] | None = None,
) -> dict:
    """Measure a loaded city's zones (for ``grades``, default each zone's own), write the outputs and
    report to ``out``; return the summary.

    Raises
    ------
    ValidationError
        Before anything is written, naming what is missing (zones, residents) and the fix.
    """
    from app.report_zones import coverage_sections, write_report
    from facilities.io import write_geo
    from facilities.zones import coverage as measure
    from facilities.zones import gap_closers

    cov = measure(
        city,
        zones,
        travel=travel,
        source=source,  # type: ignore[arg-type]
        basis=basis,  # type: ignore[arg-type]
        grades=grades,
    )
    gaps = gap_closers(city, cov)
    out.mkdir(parents=True, exist_ok=True)
    counts = (
        [c for c in ("residents", "guaranteed", "shortfall") if c in cov.grades]
        if cov.source == "students"
        else []
    )
    table = suppress_small(
        _plain(cov.zones), [c for c in counts if c in cov.zones]
    )  # no count below 10 students
    shown = {c: table[c].to_numpy() for c in ("schools", *counts) if c in table}
    write_geo(cov.zones.assign(**shown), out / "zones.gpkg", layer="zones")
    _write_csv(table, out / "zones.csv")
    _write_csv(suppress_small(cov.grades, counts), out / "coverage.csv")
    _write_csv(gaps, out / "gaps.csv")
    summary = {**cov.summary(), "travel": how, "warnings": [*cov.warnings, *unplaced(city)]}
    _write_json(summary, out / "summary.json")
    write_report(
        out / "report.html",
        title=f"{city.name}: shared zones and the guarantee",
        notes={"Residents": cov.residents_note, "Seats": cov.seats_note, "Travel": how},
        warnings=[*cov.warnings, *unplaced(city)],
        sections=coverage_sections(
            cov, gaps, city.schools, private=cov.source == "students", context=city.zones
        ),
    )
    _echo(f"residents: {cov.residents_note}")
    _echo(f"seats: {cov.seats_note}")
    _warn(cov.warnings)
    if summary["residents"] and summary["seats"]:
        _echo(
            f"{summary['zones']} zones: {summary['guaranteed']:,} of {summary['residents']:,} residents "
            f"guaranteed a seat ({summary['share']:.1%}), shortfall {summary['shortfall']:,}; "
            f"median Polsby-Popper {summary['polsby_popper_median']}"
        )
    return summary


@app.command()
@_asks_for_zones
def lottery(
    city_dir: Path = _CITY,
    out: Path = _OUT,
    source: str = _SOURCE,
    basis: str = _BASIS,
    seed: int = _SEED,
    choices: Path = typer.Option(
        None, "--choices", help="Real ranked lists: CSV with student, school, rank."
    ),
    grades: str = typer.Option(
        None, "--grades", help="Grades applying, e.g. 'K,6,9' (default: K, 6, 9 when simulated)."
    ),
    no_guarantee: bool = typer.Option(
        False, "--no-guarantee", help="Do not apply the shared zones' guarantee."
    ),
    priorities: str = typer.Option(
        None,
        "--priorities",
        help="Priority rules, best first, comma-separated: continuing, sibling, zone, proximity, equity, "
        "staff (default: continuing when the applicants are the city's students, then zone with zones).",
    ),
    private_out: Path = typer.Option(
        None,
        "--private-out",
        help="Folder for each student's assignment and the waitlists (PRIVATE: assignments.csv, "
        "waitlists.csv), written whole or not at all, outside --out.",
    ),
    *,
    asked: ZonesAsked,
) -> None:
    """One lottery (deferred acceptance) across district, charter and Catholic schools, with the zone
    guarantee."""
    if private_out is not None:
        check_folder(private_out, option="--private-out", holds=" and ".join(PRIVATE_LOTTERY))
    city = _load(city_dir)
    with _problems():
        given = asked.given or (choices, grades, priorities) != (None,) * 3
        _require(city, "lottery", defaults=not given and (source, basis) == ("auto", "capacity"))
        parsed = {  # the options as lottery_city takes them
            "zones": asked.resolve(city),
            "choices": _choices(choices) if choices is not None else None,
            "grades": list(_grades(grades)) if grades else None,
            "priorities": _priorities(priorities),
            "guarantee": not no_guarantee,
        }
        options = {
            **asked.settings(),
            "source": source,
            "basis": basis,
            "grades": grades,
            "choices": choices,
            "no_guarantee": no_guarantee,
            "priorities": priorities,
        }
        files = [asked.zones, choices]
        inputs = [*city_inputs(city_dir), *(f for f in files if f is not None)]
        with output_folders(
            out, private_out, command="zones lottery", inputs=inputs, settings=options, seed=seed, say=_echo
        ) as (tmp, private_tmp):  # both locked before the work
            assert tmp is not None
            lottery_city(city, tmp, seed=seed, source=source, basis=basis, private_out=private_tmp, **parsed)
    _echo(f"wrote {out}")
    if private_out is not None:
        _echo(f"wrote each student's assignment and the waitlists (PRIVATE) to {private_out}")


def lottery_city(
    city: Any,
    out: Path,
    *,
    zones: gpd.GeoDataFrame | None,
    choices: pd.DataFrame | None = None,
    guarantee: bool = True,
    seed: int = 0,
    grades: list[int] | None = None,
    source: str = "auto",
    basis: str = "capacity",
    priorities: Sequence[str] | None = None,
    private_out: Path | None = None,
) -> dict:
    """Run the unified lottery on a loaded city, write aggregate outputs and the report to ``out``;
    return the summary.

    ``priorities`` are the priority rules, best first (default: see
    :func:`facilities.enrollment.lottery_data`). Student-level assignments and waitlists are written
    only into the folder ``private_out`` (``assignments.csv``, ``waitlists.csv``) when it is given.
    """
    from app.report_zones import lottery_sections, write_report
    from facilities.enrollment import run_lottery

    run = run_lottery(
        city,
        zones=zones,
        choices=choices,
        guarantee=guarantee,
        seed=seed,
        grades=grades,
        source=source,
        basis=basis,
        priorities=priorities,
    )
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "sector": run.by_sector(),
        **{key: run.aggregates(by=[key]) for key in ("neighborhood", "grade")},
    }
    for key, frame in tables.items():
        _write_csv(frame, out / f"lottery_by_{key}.csv")
    by_zone = run.by_zone()
    _write_csv(by_zone, out / "lottery_by_zone.csv")
    summary = {**run.summary(), "not_placed": unplaced(city)}
    _write_json(summary, out / "lottery_summary.json")
    lists = "simulated (random-utility model: distance, sector; seeded)" if run.simulated_choices else "given"
    people = f"simulated: {run.residents_note}" if run.simulated_applicants else run.residents_note
    write_report(
        out / "report.html",
        title=f"{city.name}: unified lottery",
        warnings=[*run.warnings, *unplaced(city)],
        notes={
            "Applicants": people,
            "Seats": run.seats_note,
            "Ranked lists": lists,
            "Seed": str(seed),
            "Priorities": ", ".join(summary["priorities"]) or "none",
        },
        sections=lottery_sections(run.aggregates(), tables, by_zone),
    )
    if private_out is not None:
        assignments, waitlists = PRIVATE_LOTTERY
        run.result.to_csv(private_out / assignments)
        run.result.to_csv(private_out / waitlists, table="waitlists")
    _echo(f"seats: {run.seats_note}")
    _echo(
        f"seats offered in the lottery's grades ({format_grades(summary['grades'])}): "
        f"{summary['seats_offered']:,}, {summary['seats_left']:,} left after placing"
    )
    _warn(run.warnings)
    _echo(
        f"{summary['students']:,} applicants ({people}; lists {lists}): "
        f"{summary['matched_share']:.1%} matched, "
        f"{summary['first_choice_share']:.1%} first choice, {summary['top_three_share']:.1%} top three, "
        f"{summary['unassigned']:,} unassigned"
    )
    return summary


@app.command()
def design(
    city_dir: Path = _CITY,
    out: Path = _OUT,
    source: str = _SOURCE,
    basis: str = _BASIS,
    seed: int = _SEED,
    grades: str = typer.Option("K-5", "--grades", help="Grades the zones guarantee, e.g. 'K-5' or '6-8'."),
    min_schools: int = typer.Option(2, "--min-schools", help="Fewest schools a zone holds."),
    max_schools: int = typer.Option(8, "--max-schools", help="Most schools a zone holds."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds for each optimizer."),
    cpsat: bool = typer.Option(
        False, "--cpsat", help="Also solve the exact CP-SAT model (slower on many units)."
    ),
) -> None:
    """Generate contiguous shared zones from the city's units (neighborhoods, census units, wards or
    attendance zones) and compare plans side by side."""
    from app.report_zones import comparison_text, design_sections, write_report
    from facilities.io import write_geo
    from facilities.readiness import DESIGN_GRADES
    from facilities.zones import ZoneData, ZonePlan, compare_plans, design_cpsat, greedy_zones
    from facilities.zones import design as make
    from facilities.zones.residents import area_units

    city = _load(city_dir)
    with _problems():
        wanted = _grades(grades)
        _require(city, "design", defaults=(source, basis, wanted) == ("auto", "capacity", DESIGN_GRADES))
    asked = {
        "source": source,
        "basis": basis,
        "grades": grades,
        "min_schools": min_schools,
        "max_schools": max_schools,
        "time_limit": time_limit,
        "cpsat": cpsat,
    }
    with (
        output_folder(
            out, command="zones design", inputs=city_inputs(city_dir), settings=asked, seed=seed, say=_echo
        ) as tmp,  # locked before the work
        _problems(),
    ):
        units = area_units(city, grades=wanted)
        travel, how = travel_for(city)
        data = ZoneData.from_city(
            city,
            units=units,
            travel=travel,
            source=source,  # type: ignore[arg-type]
            basis=basis,  # type: ignore[arg-type]
            grades=wanted,
        )
        options = {"min_schools": min_schools, "max_schools": max_schools, "grades": wanted}
        kind = str(units["kind"].iloc[0]) if "kind" in units and len(units) else "unit"
        plans: dict[str, ZonePlan] = {
            {"attendance": "each attendance zone", "census": "each census unit"}.get(
                kind, f"each {kind}"
            ): ZonePlan.from_labels(data, data.unit_ids, grades=wanted),
            "greedy": greedy_zones(data, **options),
            "designed": make(
                data,
                time_limit=time_limit,
                seed=seed,
                progress=lambda k, n: _echo(f"  local search pass {k}"),
                **options,
            ),
        }
        if cpsat:
            plans["cp-sat"] = design_cpsat(data, time_limit=time_limit, seed=seed, **options)
        walk_m = rider_walk_limit(city, wanted)
        table = compare_plans(plans, walk_m=walk_m).reset_index(names="measure")
        for name, plan in plans.items():
            frame = plan.to_geodataframe()
            write_geo(
                frame.assign(**{c: _plain(frame)[c].to_numpy() for c in ("units", "schools")}),
                tmp / "plans.gpkg",
                layer=name.replace(" ", "_"),
            )
        _write_csv(table, tmp / "comparison.csv")
        issues = {name: list(plan.issues) for name, plan in plans.items()}
        _write_json(
            {
                "grades": list(wanted),
                "travel": how,
                "travel_unit": "seconds",
                "residents_note": data.residents_note,
                "seats_note": data.seats_note,
                "warnings": [*data.warnings, *unplaced(city)],
                "issues": issues,
                "status": {n: p.status for n, p in plans.items()},
                "bus_riders_walk_m": walk_m,
            },
            tmp / "design.json",
        )
        unit_names = dict(
            zip(
                units["id"].astype(str),
                units["name"].where(units["name"].notna(), units["id"]).astype(str),
                strict=True,
            )
        )
        write_report(
            tmp / "report.html",
            title=f"{city.name}: shared zone design ({grades})",
            warnings=[*data.warnings, *unplaced(city)],
            notes={
                "Residents": data.residents_note,
                "Seats": data.seats_note,
                "Travel": how,
                "Units": f"{len(units)} {kind} zones",
                "Bus riders": f"residents farther than {walk_m / 1000:,.1f} km (straight line) from their "
                "zone's nearest "
                "school, the walk limit of [transport.eligibility] for these grades",
            },
            sections=design_sections(
                table,
                plans,
                city.schools,
                unit_names,
                private=data.residents_source == "students",
            ),
        )
    _echo(f"residents: {data.residents_note}")
    _echo(f"seats: {data.seats_note}")
    _warn(data.warnings)
    _echo(comparison_text(table))
    _echo(f"wrote {out}")
