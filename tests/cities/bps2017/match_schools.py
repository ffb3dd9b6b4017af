"""Each 2017 BPS challenge school's sector and bell times, and how each was found: writes ``city.toml``.

The challenge's schools file (``bps_challenge_schools.tsv``) has no sector and no bell times. This
script takes them from the public data in ``../shared/data/boston`` (read in place):

- **sector**, matched in this order:
  1. ``school id``: the challenge's ``id`` is the ``SCH_ID`` of ``boston_public_schools.csv``
     (a district school) or the ``SCHID`` of ``boston_non_public_schools.csv``; the sector is
     then the ``sector`` of that row in ``boston_schools_all.geojson`` (``BPS-<SCH_ID>`` or
     ``NP-<OBJECTID>``), which tells Catholic from other private schools;
  2. ``normalized name``: lower case, ``&`` as "and", punctuation and a leading "the" dropped;
  3. ``manual``: the few left, mapped by hand below (:data:`MANUAL`), each with its reason.
- **bell times**: every student of the challenge carries their school's current start and end
  time; each school's is the one its riders carry (they all agree; checked here).

Run ``python tests/cities/bps2017/match_schools.py`` to rewrite ``city.toml`` after changing the
rules; ``tests/test_bells_boston.py`` checks that the committed file is what this makes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[3] / "shared" / "data" / "boston"

#: Schools no id or normalized name finds: challenge name -> (public layer's name, its sector, why).
MANUAL: dict[str, tuple[str, str, str]] = {
    "Codman Acad Lower": (
        "Codman Academy Charter Public School",
        "charter",
        "the lower school of Codman Academy; its id 5441 is not in the layer (5440 is)",
    ),
    "Lyon 9-12": (
        "Lyon, Mary 9-12",
        "district",
        "the Mary Lyon high school (BPS-1171); the challenge gives no id",
    ),
    "Park Street Sch": (
        "Park Street School",
        "private",
        "'Sch' abbreviates 'School'; id 8659 is not in the layer",
    ),
    "St John": (
        "St John Elementary",
        "catholic",
        "St John School, North End (Archdiocese of Boston); id 8083 is not in the layer",
    ),
}
_SECTORS = ("district", "charter", "catholic", "private")


def normalize(name: str) -> str:
    """A school name for matching: lower case, '&' as 'and', no punctuation or leading 'the'."""
    text = re.sub(r"[^a-z0-9 ]+", " ", str(name).lower().replace("&", " and "))
    text = re.sub(r"^the ", "", re.sub(r"\s+", " ", text).strip())
    return text


def school_sectors(shared: Path = SHARED) -> pd.DataFrame:
    """One row per challenge school: ``name``, ``sector``, ``method`` and ``matched`` (the layer's name).

    Raises
    ------
    ValueError
        When a school is matched by none of the three ways (add it to :data:`MANUAL`).
    """
    challenge = pd.read_csv(shared / "bps_challenge_schools.tsv", sep="\t", dtype=str, keep_default_na=False)
    public = pd.read_csv(shared / "boston_public_schools.csv", dtype=str, encoding="utf-8-sig")
    private = pd.read_csv(shared / "boston_non_public_schools.csv", dtype=str, encoding="utf-8-sig")
    layer = gpd.read_file(shared / "boston_schools_all.geojson")
    by_key = dict(zip(layer["school_id"], zip(layer["name"], layer["sector"])))
    by_id = {i: f"BPS-{i}" for i in public["SCH_ID"]} | {
        i: f"NP-{o}" for i, o in zip(private["SCHID"], private["OBJECTID"])
    }
    by_name: dict[str, tuple[str, str]] = {}
    for name, sector in zip(layer["name"], layer["sector"]):
        by_name.setdefault(normalize(name), (name, sector))
    rows = []
    for name, sid in zip(challenge["name"].str.strip(), challenge["id"].str.strip()):
        if sid and sid in by_id and by_id[sid] in by_key:
            matched, sector = by_key[by_id[sid]]
            method = f"school id {sid} = {by_id[sid]}"
        elif normalize(name) in by_name:
            matched, sector = by_name[normalize(name)]
            method = "normalized name"
        elif name in MANUAL:
            matched, sector, why = MANUAL[name]
            method = f"manual: {why}"
        else:
            raise ValueError(
                f"{name!r} (id {sid!r}) matches no school of the public layers: add it to MANUAL"
            )
        if sector not in _SECTORS:
            raise ValueError(
                f"{name!r} matched {matched!r} of sector {sector!r}: map it to one of {_SECTORS} in MANUAL"
            )
        rows.append((name, sector, method, matched))
    return pd.DataFrame(rows, columns=["name", "sector", "method", "matched"])


def school_bells(shared: Path = SHARED) -> pd.DataFrame:
    """Each ridden school's current ``start``, ``end`` (``HH:MM``) and ``riders``, from the students file.

    Raises
    ------
    ValueError
        When a school's riders carry different times.
    """
    cols = ["Assigned School", "Current School Start Time", "Current School End Time"]
    raw = pd.read_excel(shared / "bps_simulated_students.xlsx", usecols=cols, dtype=str)
    raw["Assigned School"] = raw["Assigned School"].str.strip()
    g = raw.groupby("Assigned School")
    disagree = g.nunique()[lambda f: (f > 1).any(axis=1)]
    if len(disagree):
        raise ValueError(f"schools whose riders carry different bell times: {list(disagree.index)[:5]}")
    out = g.agg(start=(cols[1], "first"), end=(cols[2], "first"), riders=(cols[1], "size"))
    for c in ("start", "end"):
        out[c] = out[c].str.slice(0, 5)
    return out.rename_axis("name").reset_index()


def _key(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(shared: Path = SHARED) -> str:
    """The whole ``city.toml`` text."""
    sectors = school_sectors(shared)
    bells = school_bells(shared).set_index("name")
    width = max(len(_key(n)) for n in sectors["name"]) + 1
    counts = sectors["sector"].value_counts()
    lines = [
        HEADER.format(counts=", ".join(f"{counts.get(s, 0)} {s}" for s in _SECTORS)).rstrip("\n"),
        "",
        "[layers.schools.values.sector]  # school name = sector  # how it was matched",
    ]
    for name, sector, method, matched in sectors.itertuples(index=False):
        where = (
            ""
            if method.startswith("school id") and normalize(matched) == normalize(name)
            else f" ({matched!r})"
        )
        lines.append(f"{_key(name):<{width}}= {_toml_str(sector):<11} # {method}{where}")
    for field, col in (("bell_start", "start"), ("bell_end", "end")):
        lines += [
            "",
            f"[layers.schools.values.{field}]  # current {col} time its riders carry in the students file",
        ]
        for name in sectors["name"]:
            if name in bells.index:
                lines.append(
                    f'{_key(name):<{width}}= "{bells.at[name, col]}"  # {bells.at[name, "riders"]} riders'
                )
            else:
                lines.append(f'{_key(name):<{width}}= ""       # no rider in the students file: no bell time')
    return "\n".join(lines) + "\n" + TRANSPORT


def _toml_str(text: str) -> str:
    return f'"{text}"'


HEADER = """\
# The 2017 BPS Transportation Challenge (data-mechanics/bps-simulated-data, MIT): 22,420 synthetic
# K-6 bus riders at real addresses and the 137 schools they ride to, with Boston's 2020 neighborhoods.
# Read in place from ../shared/data/boston. Students name their school, so schools are keyed by name.
#
# GENERATED by match_schools.py (python tests/cities/bps2017/match_schools.py): each school's
# sector from the public school layers ({counts}), matched by school id, normalized name or by
# hand (the comment on each line says which), and its bell times from the students file. BPS buses
# its charter, Catholic and private riders too: the aligned scenario moves the charter and
# Catholic schools onto the district's tiers, the Boston Compact's experiment.
[city]
name = "Boston 2017 BPS Transportation Challenge"
crs = "auto"

[layers.schools]
file = "../../../../shared/data/boston/bps_challenge_schools.tsv"
x = "longitude"
y = "latitude"
crs = "EPSG:4326"
[layers.schools.columns]
id = "name"
name = "name"
sector = "name"        # through the values table below
bell_start = "name"    # idem
bell_end = "name"      # idem

[layers.students]
file = "../../../../shared/data/boston/bps_simulated_students.xlsx"
x = "Longitude"
y = "Latitude"
crs = "EPSG:4326"
[layers.students.columns]
grade = "Grade"
school = "Assigned School"
service = "Pickup Type"
max_walk = "Maximum Walk Distance"
[layers.students.values.service]
d2d = "door-to-door"
[layers.students.units]
max_walk = "mi"

[layers.zones]
file = "../../../../shared/data/boston/boston_neighborhoods_2020_pop.geojson"
[layers.zones.columns]
id = "neighborhood"
name = "neighborhood"
[layers.zones.population]
total = "pop_total"
"0_17" = "pop_age_0_17"
"""

TRANSPORT = """
# Boston's policy: three tiers, every school free to take any of them; an hour on the bus at most.
# Every student of the challenge is a bus rider already (no walk-distance rule applies).
[transport]
max_ride = 3600
bell_tiers = ["07:30", "08:30", "09:30"]
cost_per_bus_year = 100000
cost_per_bus_year_source = "Boston Public Schools, about $100k per bus-year (Bertsimas, Delarue & Martin, PNAS 2019)"
"""


if __name__ == "__main__":
    target = HERE / "city.toml"
    target.write_text(render(Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED))
    print(f"wrote {target}")
