"""The shipped real cities (DC, Boston, the 2017 BPS challenge), every README command on each.

Each command either exits 0 with a result that has something in it (seats, residents, riders), or
``compact validate`` reports the capability blocked and the command stops, exit status 1, with the
same reasons: no command fails on a precondition that validate did not name. Read in place from
``../shared/data`` (skipped when absent).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from facilities import read_city
from facilities.readiness import Readiness, readiness
from tests.conftest import CITIES, SHARED

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SHARED.exists(), reason=f"needs the shared real data at {SHARED} (absent)"),
]

NAMES = ("dc", "boston", "bps2017")

#: Each capability's README command; ``{city}`` and ``{out}`` are filled in. Small time limits.
COMMANDS: dict[str, list[str]] = {
    "capacity": ["facilities", "capacity", "{city}"],
    "match": ["facilities", "match", "{city}", "--out", "{out}"],
    "sites": ["facilities", "sites", "{city}", "--p", "3", "--out", "{out}"],
    "coverage": ["zones", "coverage", "{city}", "--out", "{out}"],
    "lottery": ["zones", "lottery", "{city}", "--out", "{out}"],
    "design": ["zones", "design", "{city}", "--out", "{out}", "--time-limit", "2"],
    "bells": ["bells", "compare", "{city}", "--out", "{out}", "--time-limit", "4", "--am-only", "--quiet"],
}


@cache
def _readiness(name: str) -> dict[str, Readiness]:
    return {r.capability: r for r in readiness(read_city(CITIES / name))}


@cache
def _run(name: str, capability: str, out: Path) -> tuple[int, str]:
    args = [a.format(city=CITIES / name, out=out) for a in COMMANDS[capability]]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def outs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("real_cities")


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _has_something(capability: str, out: Path, text: str) -> None:
    """The command's result is not degenerate: it counts seats, residents, riders or buses."""
    if capability == "capacity":
        seats = re.search(r"([\d,]+) seats", text)
        assert seats and int(seats.group(1).replace(",", "")) > 0, text[:300]
    elif capability == "match":
        assert _json(out / "summary.json")["housed"] > 0
    elif capability == "sites":
        assert re.search(r"\d+ campuses for [1-9][\d,]* students", text), text[:300]
    elif capability == "coverage":
        summary = _json(out / "summary.json")
        assert summary["residents"] > 0 and summary["seats"] > 0 and summary["guaranteed"] > 0
        assert summary["residents_note"] and summary["seats_note"]
    elif capability == "lottery":
        summary = _json(out / "lottery_summary.json")
        assert summary["students"] > 0 and summary["matched_share"] > 0
    elif capability == "design":
        design = _json(out / "design.json")
        assert design["residents_note"] and design["seats_note"]
        assert len(pd.read_csv(out / "comparison.csv")) > 0
    elif capability == "bells":
        assert "saving $0.00M" not in text
        assert re.search(r"[1-9][\d,]* riders", text), text[:500]


@pytest.mark.parametrize(
    "capability",
    [pytest.param(c, marks=pytest.mark.slow) if c in ("bells", "design") else c for c in COMMANDS],
)
@pytest.mark.parametrize("name", NAMES)
def test_each_command_runs_or_validate_names_why_it_cannot(name, capability, outs):
    ready = _readiness(name)[capability]
    out = outs / name / capability
    code, text = _run(name, capability, out)
    assert "Traceback" not in text
    if ready.state == "blocked":
        assert code == 1, f"validate says {capability} is blocked on {name}, the command ran:\n{text[-800:]}"
        for need in ready.missing:
            assert f"{capability} is blocked: {need.what}" in text
        assert not out.exists() or not any(out.iterdir())
    else:
        assert code == 0, f"validate says {ready.line()!r} on {name}, the command failed:\n{text[-800:]}"
        _has_something(capability, out, text)


def test_the_dc_lottery_has_seats_in_every_sector_that_has_schools_with_grades(outs):
    if _readiness("dc")["lottery"].state == "blocked":
        pytest.fail(_readiness("dc")["lottery"].line())
    out = outs / "dc" / "lottery"
    code, text = _run("dc", "lottery", out)
    assert code == 0, text[-800:]
    schools = read_city(CITIES / "dc").schools
    graded = set(schools.loc[schools["grades"].map(lambda g: isinstance(g, tuple) and len(g) > 0), "sector"])
    by_sector = pd.read_csv(out / "lottery_by_sector.csv").set_index("sector")
    assert graded <= set(by_sector.index)
    assert (by_sector.loc[sorted(graded), "seats_offered"] > 0).all(), by_sector
    assert (by_sector.loc[sorted(graded), "placed"] > 0).all(), by_sector
    ungraded = set(schools["sector"]) - graded
    for sector in ungraded:  # DC's independent schools publish no grades: a named warning, not a silent row
        assert f"no seats in sector '{sector}'" in text


def test_dc_coverage_counts_residents_per_attendance_zone_and_says_they_are_estimated(outs):
    out = outs / "dc" / "coverage"
    code, text = _run("dc", "coverage", out)
    assert code == 0, text[-800:]
    summary = _json(out / "summary.json")
    assert summary["residents_from"] == "enrollment" and summary["residents_estimated"]
    assert "estimated from enrollment" in _readiness("dc")["coverage"].line()
    zones = pd.read_csv(out / "zones.csv")
    assert len(zones) == len(read_city(CITIES / "dc").zones)


def test_a_zone_feeding_a_school_not_in_the_layer_blocks_coverage_in_validate_as_in_the_command():
    from facilities import ValidationError
    from facilities.zones import coverage

    city = read_city(CITIES / "dc")
    zones = city.zones.copy()
    planned = zones["school"].isna()  # city.toml maps the three planned middle schools' ids to none
    assert planned.sum() == 3
    zones.loc[planned, "school"] = "-200002"
    broken = city.replace(zones=zones)
    ready = readiness(broken, ["coverage"])[0]
    assert ready.state == "blocked" and "lists unknown school '-200002'" in ready.line()
    with pytest.raises(ValidationError, match="lists unknown school '-200002'"):
        coverage(broken, None)


@pytest.mark.parametrize("name", NAMES)
def test_bells_sweep_stops_with_validates_reasons_where_bells_is_blocked(name, tmp_path):
    ready = _readiness(name)["bells"]
    if ready.state != "blocked":
        pytest.skip(f"bells is {ready.state} on {name}: compare runs it above (a sweep takes minutes)")
    (tmp_path / "s.toml").write_text('[[scenario]]\nname = "status quo"\n')
    out = tmp_path / "sweep"
    args = ["bells", "sweep", str(CITIES / name), "--scenarios", str(tmp_path / "s.toml"), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--quiet"])
    assert result.exit_code == 1 and not out.exists()
    for need in ready.missing:
        assert f"bells is blocked: {need.what}" in result.output
