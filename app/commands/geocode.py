"""``compact geocode``: students' addresses to points, offline, with a match report.

Registered in :mod:`app.cli` as a command (``compact geocode CITY_DIR``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from app._common import echo, load_city, write_csv, write_json


def report_for(city):  # type: ignore[no-untyped-def]
    """The match report of every student row with an address (those with coordinates too, as a check)."""
    from facilities.geocode.load import check_addresses

    return check_addresses(city.root, address_points=city.address_points, settings=city.settings)


def geocode(
    city_dir: Path = typer.Argument(
        ..., help="A city folder with a city.toml whose students layer maps an address."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the report (counts only: report.html, summary.json)."
    ),
    private_out: Path | None = typer.Option(
        None,
        "--private-out",
        help="Folder for the PRIVATE outputs: rows to fix with their addresses, the points.",
    ),
    rows: int = typer.Option(20, "--rows", help="Rows to fix printed here (0: none)."),
) -> None:
    """Place every student's address, print the match report and the spreadsheet rows to fix."""
    from app.outputs import check_apart, city_inputs, output_folders
    from app.report_geocode import write_geocode_report
    from facilities import ValidationError

    if out is not None and private_out is not None:
        check_apart(out, private_out)  # before the work, not after it
    city = load_city(city_dir)
    run = {"command": "geocode", "inputs": city_inputs(city_dir), "seed": None, "say": echo}
    with output_folders(out, private_out, **run) as (tmp, private):  # both locked before the work
        try:
            report = report_for(city)
        except ValidationError as err:
            echo(str(err))
            raise typer.Exit(code=1) from None
        typer.echo(report.text(rows_to_fix=rows))
        if city.geocoding is not None:
            typer.echo(f"  at load: {city.geocoding.summary_line()}")
        if tmp is not None:
            write_geocode_report(tmp / "report.html", report, city=city)
            write_json(
                {
                    "city": city.name,
                    "counts": report.counts(),
                    "matched_share": report.matched_share,
                    "not_placed": report.not_placed,
                    "disagreements": report.disagreements(),
                },
                tmp / "summary.json",
            )
        if private is not None:
            write_geocode_report(private / "report.html", report, city=city, private=True)
            write_csv(report.to_fix(), private / "rows_to_fix.csv")
            write_csv(report.rows, private / "matches.csv")
    if out is not None:
        typer.echo(f"wrote report.html and summary.json to {out}")
    if private_out is not None:
        typer.echo(f"wrote the PRIVATE report.html, rows_to_fix.csv and matches.csv to {private_out}")


def demo_section(city, out: Path) -> dict | None:  # type: ignore[no-untyped-def]
    """``compact demo``'s addresses step: geocode, print the report, write it under ``out``.

    Returns the counts for the demo's summary, or ``None`` when the students layer maps no address.
    """
    if city.root is None or "address" not in _students_cfg(city.root):
        return None
    from app.report_geocode import write_geocode_report

    typer.echo("\n== Addresses: students' addresses to points, offline from the city's address points ==")
    report = report_for(city)
    typer.echo(report.text(rows_to_fix=5))
    write_geocode_report(out / "report.html", report, city=city)
    return {
        "counts": report.counts(),
        "matched_share": round(report.matched_share, 4),
        "not_placed": report.not_placed,
        "disagreements": report.disagreements(),
    }


def _students_cfg(root: Path) -> dict:
    import tomllib

    return (
        tomllib.loads((root / "city.toml").read_text(encoding="utf-8")).get("layers", {}).get("students", {})
    )
