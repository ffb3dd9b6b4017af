"""The match report of ``compact geocode``: how students' addresses were placed.

Two pages, one writer. The report under ``--out`` holds only counts: by kind of match, by school
and by neighborhood (cells under ten students read "<10") and why addresses did not match; it
never shows an address or a point. The private report (under ``--private-out``) adds the
spreadsheet rows to fix and to check, with each address as written (the user's own file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.report_zones import write_report
from facilities import City
from facilities.geocode import KINDS, MIN_CELL, MatchReport
from facilities.geocode.local import FUZZY_MARGIN, FUZZY_MIN, MAX_NUMBER_GAP
from facilities.geocode.report import WRONG_METRES, suppress

__all__ = ["how_matched", "kinds_table", "write_geocode_report"]


def kinds_table(report: MatchReport) -> pd.DataFrame:
    """Addresses by kind of match, with shares (a city-wide count: no cell locates anyone)."""
    counts = report.counts()
    total = max(sum(counts.values()), 1)
    return pd.DataFrame(
        {
            "kind": list(KINDS),
            "addresses": [f"{counts[k]:,}" for k in KINDS],
            "share": [f"{counts[k] / total:.1%}" for k in KINDS],
        }
    )


def how_matched() -> str:
    """How matches are made, in a sentence (shown under every report)."""
    return (
        "Addresses are normalized as USPS Publication 28 does (suffixes, directionals, units, case, "
        "punctuation), "
        "then matched to the city's address points: exact; else the nearest number on the same side of "
        "the same block "
        f"(at most {MAX_NUMBER_GAP} numbers away); else the street spelled another way "
        "(rapidfuzz ratio at least "
        f"{FUZZY_MIN:.0f}, {FUZZY_MARGIN:.0f} above the next street, and the exact number on it). "
        "A wrong match is worse than none: anything less sure is left unmatched, with its reason."
    )


def write_geocode_report(path: str | Path, report: MatchReport, *, city: City, private: bool = False) -> Path:
    """Write the match report as one HTML page, atomically.

    Parameters
    ----------
    path
        The ``.html`` file.
    report
        The match report.
    city
        The city (its name, schools' names and students' neighborhoods).
    private
        Also list the rows to fix and check, with their addresses (only for ``--private-out``).
    """
    why = report.reasons().reset_index()
    neighborhoods = city.students.set_index("id")["neighborhood"] if len(city.students) else None
    by_school = report.table("school")
    by_school.insert(1, "name", by_school["school"].map(city.schools.set_index("id")["name"]).fillna(""))
    sections: list[tuple[str, pd.DataFrame | str]] = [
        ("Summary", report.summary_line()),
        ("By kind of match", kinds_table(report)),
        (
            "Why addresses did not match",
            suppress(why, ["addresses"]) if len(why) else "Every address matched.",
        ),
        (f"By school (cells under {MIN_CELL} students read <{MIN_CELL})", by_school),
        (
            f"By neighborhood (cells under {MIN_CELL} students read <{MIN_CELL})",
            report.table("neighborhood", neighborhoods=neighborhoods),
        ),
    ]
    fix = report.to_fix()
    if private:
        sections.append(("Rows to fix (not matched) and to check (fuzzy or nearest number)", fix))
    else:
        where = "are listed, with their addresses, in the private report (compact geocode --private-out DIR)."
        to_fix, to_check = (fix["action"] == "fix").sum(), (fix["action"] == "check").sum()
        counts = f"{to_fix:,} rows to fix and {to_check:,} to check"
        sections.append(("Rows to fix", f"{counts} {where}"))
    notes = {"Placed by": " then ".join(report.geocoders), "How": how_matched()}
    if report.check:
        notes["Check"] = (
            f"rows with coordinates were geocoded too; a point more than {WRONG_METRES:.0f} m "
            "from the file's counts as a disagreement"
        )
    title = f"Addresses to points — {city.name}" + (" (PRIVATE: addresses)" if private else "")
    return write_report(path, title=title, sections=sections, notes=notes)
