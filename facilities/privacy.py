"""Privacy by construction: nothing public locates fewer than :data:`MIN_CELL` students.

One mechanism for every writer and the app:

- :func:`suppress_small` shows a count of 1 to 9 students as ``"<10"`` in a table;
- :func:`public_points` keeps points (bus stops, say) that serve at least :data:`MIN_CELL`
  students, pools the others into square cells of :data:`CELL_M` metres, and withholds the cells
  still below :data:`MIN_CELL` (their count is reported in ``frame.attrs["withheld_students"]``);
- :func:`check_public` is the gate a writer calls before writing a public table or layer: it raises
  :class:`PrivacyError` when a row or point locates 1 to 9 students, or when a point lies within
  :data:`HOME_RADIUS_M` of a student's home and serves fewer than :data:`MIN_CELL` students.

Exact, student-level data (door-to-door and wheelchair stops, each student's stop or assignment)
goes only to the folder the user names with ``--private-out``.

>>> import geopandas as gpd, shapely
>>> points = [shapely.Point(0, 0), shapely.Point(900, 0)]
>>> stops = gpd.GeoDataFrame({"students": [1, 12]}, geometry=points, crs=32619)
>>> public_points(stops, count="students")["students"].tolist()
[12]
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

__all__ = [
    "MIN_CELL",
    "CELL_M",
    "HOME_RADIUS_M",
    "PrivacyError",
    "suppress_small",
    "public_points",
    "check_public",
]

#: Fewest students a public row, cell or point may locate.
MIN_CELL = 10
#: Side (metres) of the square cells small points are pooled into.
CELL_M = 500.0
#: A public point this close (metres) to a student's home, serving fewer than MIN_CELL students, locates them.
HOME_RADIUS_M = 50.0


class PrivacyError(ValueError):
    """A public output would locate fewer than :data:`MIN_CELL` students."""


def suppress_small(frame: pd.DataFrame, columns: Iterable[str], *, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """A copy of ``frame`` whose counts of students from 1 to ``min_cell - 1`` read ``"<10"``.

    Parameters
    ----------
    frame
        A table of counts.
    columns
        The columns holding counts of students.
    min_cell
        The smallest count shown.
    """
    out = frame.copy()
    for column in columns:
        out[column] = (
            out[column]
            .map(lambda n: f"<{min_cell}" if pd.notna(n) and 0 < n < min_cell else n)
            .astype(object)
        )
    return out


def public_points(
    frame: gpd.GeoDataFrame, *, count: str, min_cell: int = MIN_CELL, cell_m: float = CELL_M
) -> gpd.GeoDataFrame:
    """Points fit to publish: those serving ``min_cell`` students or more, the rest pooled by cell.

    Parameters
    ----------
    frame
        Points (any CRS; cells are laid in its metric CRS, or in metres of the local UTM zone
        when it is geographic) with a column ``count`` of students each serves.
    count
        The column of students.
    min_cell
        The fewest students a public point may serve.
    cell_m
        Side of the pooling cells, metres.

    Returns
    -------
    geopandas.GeoDataFrame
        The large points with their columns, then one row per cell of pooled small points
        (``id`` ``"cell-<x>-<y>"``, the other text columns ``"pooled"``, numbers empty, geometry the cell's
        centre), cells below ``min_cell`` withheld; ``attrs["withheld_students"]`` counts the
        students left out.
    """
    students = pd.to_numeric(frame[count], errors="coerce").fillna(0)
    large = frame[students >= min_cell].copy()
    small = frame[students < min_cell]
    metric = (
        small if small.crs is None or not small.crs.is_geographic else small.to_crs(small.estimate_utm_crs())
    )
    if len(small):
        x, y = metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy()
        key = pd.DataFrame(
            {
                "cx": np.floor(x / cell_m).astype(int),
                "cy": np.floor(y / cell_m).astype(int),
                count: students[students < min_cell].to_numpy(),
            }
        )
        cells = key.groupby(["cx", "cy"], as_index=False)[count].sum()
        kept = cells[cells[count] >= min_cell]
        withheld = int(cells.loc[cells[count] < min_cell, count].sum())
    else:
        kept, withheld = pd.DataFrame(columns=["cx", "cy", count]), 0
    centres = gpd.GeoSeries(
        [shapely.Point((cx + 0.5) * cell_m, (cy + 0.5) * cell_m) for cx, cy in zip(kept["cx"], kept["cy"])],
        crs=metric.crs,
    ).to_crs(frame.crs)
    others = [c for c in frame.columns if c not in (count, frame.geometry.name)]
    pooled = pd.DataFrame(
        {c: np.nan if pd.api.types.is_numeric_dtype(frame[c]) else "pooled" for c in others},
        index=range(len(kept)),
    )
    if "id" in frame.columns:
        pooled["id"] = [f"cell-{cx}-{cy}" for cx, cy in zip(kept["cx"], kept["cy"])]
    pooled[count] = kept[count].to_numpy()
    pooled[frame.geometry.name] = centres.to_numpy()
    cells = gpd.GeoDataFrame(pooled, geometry=frame.geometry.name, crs=frame.crs)
    out = gpd.GeoDataFrame(
        pd.concat([large, cells], ignore_index=True), geometry=frame.geometry.name, crs=frame.crs
    )
    if {"x", "y"} <= set(out.columns):
        out["x"], out["y"] = out.geometry.x, out.geometry.y
    out.attrs["withheld_students"] = withheld
    return out


def check_public(
    frame: pd.DataFrame,
    *,
    name: str,
    count: str | None = None,
    homes: gpd.GeoSeries | None = None,
    min_cell: int = MIN_CELL,
    radius: float = HOME_RADIUS_M,
) -> None:
    """Refuse a public table or layer that locates fewer than ``min_cell`` students.

    Parameters
    ----------
    frame
        The table or GeoDataFrame about to be written.
    name
        Its file name, for the error.
    count
        A column of students per row: a row of 1 to ``min_cell - 1`` is refused.
    homes
        Students' homes, for a layer without ``count``: a point within ``radius`` metres of one is
        refused.

    Raises
    ------
    PrivacyError
        Naming the file and how many rows or points locate few students.
    """
    counted = count is not None and count in frame.columns
    small = np.zeros(len(frame), dtype=bool)
    if counted:
        n = pd.to_numeric(frame[count], errors="coerce")
        small = ((n > 0) & (n < min_cell)).fillna(False).to_numpy()
    elif homes is not None and isinstance(frame, gpd.GeoDataFrame) and len(frame) and len(homes):
        points = frame.geometry.to_crs(homes.crs)
        is_point = (points.geom_type == "Point").to_numpy()
        xy = np.column_stack([points.x.where(is_point, np.nan), points.y.where(is_point, np.nan)])
        ok = np.isfinite(xy).all(axis=1)
        near = np.zeros(len(frame), dtype=bool)
        if ok.any():
            tree = cKDTree(np.column_stack([homes.x.to_numpy(), homes.y.to_numpy()]))
            distance, _ = tree.query(xy[ok])
            near[ok] = distance <= radius
        small = near
    if small.any():
        raise PrivacyError(
            f"{name}: {int(small.sum()):,} rows locate fewer than {min_cell} students; "
            "write them only to --private-out (or pool them with facilities.privacy.public_points)"
        )
