"""Measures of zones: seats by grade, the guarantee and its shortfall, compactness, travel quantiles.

- **Seats by grade.** A school's ``capacity`` (or ``enrollment`` when capacity is unknown, or
  always with ``basis="enrollment"``) spread evenly over the grades it serves, the remainder going
  to the lowest grades. Spare seats are capacity minus enrollment, spread the same way.
- **Guarantee.** In a zone and grade with ``residents`` and ``seats``, ``min(residents, seats)``
  residents are guaranteed a seat; the shortfall is ``max(residents - seats, 0)``.
- **Compactness** is Polsby–Popper, ``4 pi area / perimeter**2`` (1 for a disc).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NoReturn

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facilities._validate import Problem, ValidationError
from facilities.schema import GRADE_NAMES

__all__ = [
    "GRADES",
    "WALK_LIMIT_M",
    "Basis",
    "polsby_popper",
    "seats_by_grade",
    "seat_sources",
    "seat_notes",
    "spare_seats_by_grade",
]

#: Grade integers in column order (PK = -1, K = 0, 1..12).
GRADES: tuple[int, ...] = tuple(range(-1, 13))
_NG = len(GRADES)
Basis = Literal["capacity", "enrollment"]
#: Straight-line distance beyond which a resident is counted as a bus rider (1.5 miles).
WALK_LIMIT_M = 2414.0


def fail(file: str, row: int | None, column: str | None, message: str, fix: str, *, city: str) -> NoReturn:
    """Raise a :class:`~facilities.ValidationError` holding one problem: what is missing and the fix."""
    raise ValidationError([Problem(file, row, column, message, fix)], city=city)


def polsby_popper(geometries: gpd.GeoSeries | Sequence[shapely.Geometry]) -> np.ndarray:
    """Polsby–Popper compactness ``4 pi A / P**2`` of each polygon (metric CRS; NaN when empty)."""
    geoms = np.asarray(getattr(geometries, "values", geometries), dtype=object)
    area = shapely.area(geoms)
    perimeter = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, np.nan)


def _grade_tuple(value: object) -> tuple[int, ...]:
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(sorted({int(g) for g in value if int(g) in GRADES}))
    return ()


def _spread(amounts: np.ndarray, grades: Sequence[object]) -> np.ndarray:
    """Spread each row's amount evenly over its grades (remainder to the lowest grades)."""
    out = np.zeros((len(amounts), _NG), dtype=np.int64)
    for i, (amount, gs) in enumerate(zip(amounts, grades, strict=True)):
        gs = _grade_tuple(gs)
        if not gs or not np.isfinite(amount) or amount <= 0:
            continue
        base, extra = divmod(int(round(amount)), len(gs))
        for k, g in enumerate(gs):
            out[i, g + 1] = base + (k < extra)
    return out


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(float)


def _seat_amounts(schools: pd.DataFrame, basis: Basis) -> tuple[np.ndarray, np.ndarray, float]:
    """Each school's seats, their source, and the typical seats a grade used for the estimate."""
    if basis not in ("capacity", "enrollment"):
        fail(
            "--basis",
            None,
            None,
            f"unknown seats basis {basis!r}",
            "use capacity or enrollment",
            city="seats",
        )
    n = len(schools)
    cap, enr = _numbers(schools, "capacity"), _numbers(schools, "enrollment")
    own = (
        schools["capacity_source"].astype(str).to_numpy()
        if "capacity_source" in schools
        else np.full(n, "capacity")
    )
    width = np.array([len(_grade_tuple(g)) for g in schools["grades"]], dtype=float) if n else np.zeros(0)
    use_cap = (np.isfinite(cap) & (cap > 0)) if basis == "capacity" else np.zeros(n, bool)
    use_enr = ~use_cap & np.isfinite(enr) & (enr > 0)
    amount = np.where(use_cap, cap, np.where(use_enr, enr, np.nan))
    source = np.where(use_cap, own, np.where(use_enr, "enrollment", "typical")).astype(object)
    known = np.isfinite(amount) & (width > 0)
    typical = float(np.median(amount[known] / width[known])) if known.any() else float("nan")
    guess = ~np.isfinite(amount) & (width > 0) & np.isfinite(typical)
    amount[guess] = typical * width[guess]
    source[~np.isfinite(amount)] = "none"
    source[width == 0] = "no grades"
    return amount, source, typical


def seats_by_grade(schools: pd.DataFrame, *, basis: Basis = "capacity") -> np.ndarray:
    """Seats of each school by grade: capacity (or enrollment) spread evenly over its grades.

    A school reporting neither (or zero) gets the typical school's seats a grade (the median
    over the schools that report them) times its grades: an estimate, which
    :func:`seat_sources` and :func:`seat_notes` name.

    Parameters
    ----------
    schools
        Rows with ``grades`` (tuples of ints) and ``capacity`` and/or ``enrollment``.
    basis
        ``"capacity"``: reported capacity, else enrollment where capacity is unknown;
        ``"enrollment"``: current enrollment (seats as used today).

    Returns
    -------
    ndarray
        ``(len(schools), 14)`` integer seats, column ``grade + 1``; 0 for a school without grades.
    """
    amount, _, _ = _seat_amounts(schools, basis)
    return _spread(amount, list(schools["grades"]))


def seat_sources(schools: pd.DataFrame, *, basis: Basis = "capacity") -> np.ndarray:
    """Where each school's seats come from: ``"capacity"`` (reported, or the school's own
    ``capacity_source`` when the capacity was estimated), ``"enrollment"`` (seats as used today),
    ``"typical"`` (estimated at the typical school's seats a grade), ``"no grades"`` or ``"none"``
    (no seats counted)."""
    return _seat_amounts(schools, basis)[1]


def seat_notes(schools: pd.DataFrame, *, basis: Basis = "capacity") -> tuple[str, list[str]]:
    """Seats' sources in words, and a warning for every sector of schools with no seats counted.

    Returns
    -------
    (str, list of str)
        e.g. ``"reported capacity at 40 schools; estimated from enrollment at 12 schools"``
        and warnings such as ``"no seats in sector 'private': its 9 schools report no grades ..."``.
    """
    _, src, typical = _seat_amounts(schools, basis)
    counts = pd.Series(src).value_counts()
    words = {
        "capacity": "reported capacity",
        "enrollment": "estimated from enrollment",
        "typical": f"estimated at the typical school's {typical:,.0f} seats a grade "
        "(no capacity or enrollment)",
        "none": "none (no capacity or enrollment)",
        "no grades": "none (no grades)",
    }
    parts = [
        f"{words.get(k, f'estimated from {k}')} at {n:,} school{'s' if n != 1 else ''}"
        for k, n in counts.items()
    ]
    note = "; ".join(parts) if len(src) else "no schools"
    warnings = []
    sectors = schools["sector"].astype(str).to_numpy() if "sector" in schools else np.full(len(schools), "")
    for sector in sorted(set(sectors)):
        mine = sectors == sector
        if not np.isin(src[mine], ["none", "no grades"]).all():
            continue
        why = (
            "have no grades"
            if (src[mine] == "no grades").all()
            else "report no capacity or enrollment, and no school reports seats to estimate from"
        )
        warnings.append(
            f"no seats in sector {sector!r}: its {int(mine.sum()):,} schools {why}; map their grades "
            "and capacity in [layers.schools.columns], or they take no one"
        )
    missing = int(np.isin(src, ["none", "no grades"]).sum())
    if missing and not warnings:
        warnings.append(f"{missing:,} schools have no grades or no seats to count: they take no one")
    return note, warnings


def spare_seats_by_grade(schools: pd.DataFrame) -> np.ndarray:
    """Spare seats (capacity minus enrollment, where both are known) spread over each school's grades."""
    spare = np.clip(_numbers(schools, "capacity") - _numbers(schools, "enrollment"), 0, None)
    return _spread(spare, list(schools["grades"]))


def _xy(geoms: gpd.GeoSeries) -> np.ndarray:
    pts = geoms.representative_point() if (geoms.geom_type != "Point").any() else geoms
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list[float]:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return [float("nan")] * len(qs)
    order = np.argsort(values[ok], kind="stable")
    v, w = values[ok][order], weights[ok][order]
    cum = np.cumsum(w) / w.sum()
    return [float(v[min(np.searchsorted(cum, q), len(v) - 1)]) for q in qs]


def _guarantee_rows(zone_ids: Sequence[str], residents: np.ndarray, seats: np.ndarray) -> pd.DataFrame:
    """Zone × grade rows (grades with residents or seats): residents, seats, guaranteed, share, shortfall."""
    z, g = np.nonzero((residents >= 0.5) | (seats > 0))
    r = np.round(residents[z, g]).astype(np.int64)
    s = seats[z, g].astype(np.int64)
    guaranteed = np.minimum(r, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(r > 0, guaranteed / np.maximum(r, 1), np.nan)
    return pd.DataFrame(
        {
            "zone": np.asarray(zone_ids, dtype=object)[z],
            "grade": g - 1,
            "grade_name": np.asarray(GRADE_NAMES, dtype=object)[g],
            "residents": r,
            "seats": s,
            "guaranteed": guaranteed,
            "share": np.round(share, 4),
            "shortfall": np.maximum(r - s, 0),
        }
    )
