"""Travel between points: one protocol and one network-free model for every analysis.

The facilities analyses (matching, siting, zones) and routing price trips through the same
:class:`TravelModel` protocol: ``matrix(origins, destinations)`` gives seconds and
``distance_matrix`` metres, ``(len(origins), len(destinations))``. A city with streets uses
:class:`routing.travel.CompiledNetwork`; without them, :class:`StraightLineModel` (Manhattan
distance x 1.3 at 20 mph by default, a school bus in town). Functions that take ``travel``
accept a model, a plain callable ``travel(origins, destinations) -> seconds`` or ``None`` (the
default straight-line model), and say which one they used (:func:`describe`).

>>> from facilities.travel import StraightLineModel, travel_seconds
>>> import numpy as np
>>> model = StraightLineModel()
>>> round(float(travel_seconds(model, np.array([[0.0, 0.0]]), np.array([[1000.0, 0.0]]))[0, 0]))
145
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pyproj

__all__ = [
    "BUS_SPEED_MPS",
    "DEFAULT_MODEL",
    "Travel",
    "TravelModel",
    "StraightLineModel",
    "describe",
    "point_coordinates",
    "travel_seconds",
]

#: Door-to-door speed of a school bus in town, 20 mph (the school bus routing benchmark's convention).
BUS_SPEED_MPS = 8.9408
_EARTH_RADIUS_M = 6_371_008.8


@runtime_checkable
class TravelModel(Protocol):
    """Anything that prices trips between points: a street network or a :class:`StraightLineModel`."""

    def matrix(self, origins: Any, destinations: Any, *, cutoff: float | None = None) -> np.ndarray:
        """Travel times (seconds), ``(len(origins), len(destinations))``; ``inf`` beyond ``cutoff``."""
        ...

    def distance_matrix(self, origins: Any, destinations: Any, *, cutoff: float | None = None) -> np.ndarray:
        """Travel distances (metres), ``(len(origins), len(destinations))``; ``inf`` beyond ``cutoff``."""
        ...


#: What the analyses accept as ``travel``: a model, ``travel(origins, destinations) -> seconds``
#: (points as GeoSeries, GeoDataFrames or ``(n, 2)`` metric x/y), or ``None`` for the default
#: :class:`StraightLineModel`.
Travel = TravelModel | Callable[[Any, Any], np.ndarray] | None


def point_coordinates(points: Any, *, crs: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, 2)`` x/y of points and their ids.

    Parameters
    ----------
    points
        A GeoSeries or GeoDataFrame of points (ids from an ``id`` column, else the index), or an
        ``(n, 2)`` array-like of x/y (ids ``0..n-1``).
    crs
        The CRS wanted; geometries with another CRS are reprojected to it.

    Returns
    -------
    xy, ids
    """
    if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
        geom = points.geometry
        if crs is not None and geom.crs is not None and pyproj.CRS.from_user_input(crs) != geom.crs:
            geom = geom.to_crs(crs)
        bad = ~geom.geom_type.isin(["Point"]) | geom.is_empty
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} geometries are not points (first at index {geom.index[bad][0]!r}); "
                "use their centroids or representative points"
            )
        is_frame = isinstance(points, gpd.GeoDataFrame) and "id" in points
        ids = points["id"].to_numpy() if is_frame else geom.index.to_numpy()
        return np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()]), ids
    xy = np.asarray(points, dtype=float)
    if xy.ndim == 2 and xy.shape[0] == 0:
        xy = xy.reshape(0, 2)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(
            f"points must be a GeoSeries / GeoDataFrame or an (n, 2) array of x/y, not shape {xy.shape}"
        )
    return xy, np.arange(len(xy))


def _cut(values: np.ndarray, cutoff: float | None) -> np.ndarray:
    if cutoff is not None:
        values[values > cutoff] = np.inf
    return values


_KIND_NAMES = {"manhattan": "Manhattan", "euclidean": "straight-line", "great_circle": "great-circle"}


@dataclass(frozen=True)
class StraightLineModel:
    """Travel without a street network: a straight-line distance times a circuity factor, at a speed.

    Parameters
    ----------
    kind
        ``"manhattan"`` (``|dx| + |dy|``, metric coordinates), ``"euclidean"`` or ``"great_circle"``
        (haversine on lon/lat; metric coordinates are converted with ``crs``).
    circuity
        Network distance over straight distance; about 1.2–1.4 for great-circle or Euclidean
        distance in US cities, nearer 1.0–1.1 for Manhattan distance on a grid.
    speed_mps
        Average door-to-door speed (m/s); default 20 mph, a school bus in town.
    crs
        CRS of the coordinates given as arrays (GeoSeries are reprojected to it); required for
        ``"great_circle"`` on metric coordinates, else lon/lat are assumed.
    """

    kind: Literal["manhattan", "euclidean", "great_circle"] = "manhattan"
    circuity: float = 1.3
    speed_mps: float = BUS_SPEED_MPS
    crs: Any = None

    def __post_init__(self) -> None:
        if self.kind not in ("manhattan", "euclidean", "great_circle"):
            raise ValueError(f"kind must be 'manhattan', 'euclidean' or 'great_circle', not {self.kind!r}")
        if not self.circuity > 0 or not self.speed_mps > 0:
            raise ValueError(
                f"circuity and speed_mps must be positive, got {self.circuity} and {self.speed_mps}"
            )
        if self.crs is not None:
            crs = pyproj.CRS.from_user_input(self.crs)
            if self.kind != "great_circle" and crs.is_geographic:
                raise ValueError(
                    f"{self.kind} distance needs metric coordinates, not {crs.name}; project first"
                )
            object.__setattr__(self, "crs", crs)

    def describe(self) -> str:
        """What the model is, in words (for outputs that must say how travel was priced)."""
        mph = self.speed_mps * 3600 / 1609.344
        return (
            f"straight-line model ({_KIND_NAMES[self.kind]} distance x {self.circuity:g} at {mph:.0f} mph; "
            "no street network)"
        )

    def distance_matrix(self, origins: Any, destinations: Any, *, cutoff: float | None = None) -> np.ndarray:
        """Distances (metres) times the circuity; ``inf`` beyond ``cutoff`` metres."""
        (ox_, oy), (dx, dy) = self._coords(origins), self._coords(destinations)
        if self.kind == "great_circle":
            lat1, lat2 = np.radians(oy)[:, None], np.radians(dy)[None, :]
            dlon = np.radians(dx)[None, :] - np.radians(ox_)[:, None]
            h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
            straight = 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        elif self.kind == "manhattan":
            straight = np.abs(ox_[:, None] - dx[None, :]) + np.abs(oy[:, None] - dy[None, :])
        else:
            straight = np.hypot(ox_[:, None] - dx[None, :], oy[:, None] - dy[None, :])
        return _cut(straight * self.circuity, cutoff)

    def matrix(self, origins: Any, destinations: Any, *, cutoff: float | None = None) -> np.ndarray:
        """Travel times (seconds); ``inf`` beyond ``cutoff`` seconds."""
        return _cut(self.distance_matrix(origins, destinations) / self.speed_mps, cutoff)

    def _coords(self, points: Any) -> tuple[np.ndarray, np.ndarray]:
        """x/y in the model's CRS, or lon/lat for great-circle distance."""
        xy, _ = point_coordinates(points, crs=self.crs)
        if self.kind == "great_circle":
            if self.crs is not None and not self.crs.is_geographic:
                to_lonlat = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
                lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
                return np.asarray(lon), np.asarray(lat)
            if self.crs is None and getattr(points, "crs", None) is not None and not points.crs.is_geographic:
                xy, _ = point_coordinates(points, crs="EPSG:4326")
        elif self.crs is None and getattr(points, "crs", None) is not None and points.crs.is_geographic:
            raise ValueError(
                f"{self.kind} distance needs metric coordinates; project the points or give crs="
            )
        return xy[:, 0], xy[:, 1]


#: The model used when an analysis is given no travel: Manhattan distance x 1.3 at 20 mph.
DEFAULT_MODEL = StraightLineModel()


def travel_seconds(travel: Travel, origins: Any, destinations: Any) -> np.ndarray:
    """Travel seconds from every origin to every destination under ``travel``.

    Parameters
    ----------
    travel
        A :class:`TravelModel`, a callable ``travel(origins, destinations) -> seconds``, or
        ``None`` for the default :class:`StraightLineModel`.
    origins, destinations
        Points: GeoSeries, GeoDataFrames or ``(n, 2)`` metric x/y.

    Returns
    -------
    ndarray
        ``(len(origins), len(destinations))`` seconds (``inf`` where unreachable).

    Raises
    ------
    ValueError
        When a callable returns a matrix of another shape.
    """
    n, m = len(origins), len(destinations)
    if not n or not m:
        return np.zeros((n, m))
    if travel is None:
        travel = DEFAULT_MODEL
    priced = (
        travel.matrix(origins, destinations)
        if isinstance(travel, TravelModel)
        else travel(origins, destinations)
    )
    seconds = np.asarray(priced, dtype=float)
    if seconds.shape != (n, m):
        raise ValueError(
            f"travel gave a {seconds.shape} matrix for {n} origins and {m} destinations; "
            "it must return seconds, origins x destinations"
        )
    return seconds


def describe(travel: Travel) -> str:
    """How ``travel`` prices trips, in words: the model's own description when it has one."""
    model = DEFAULT_MODEL if travel is None else getattr(travel, "__self__", travel)
    if hasattr(model, "describe"):
        return str(model.describe())
    if isinstance(model, TravelModel):
        return "street network travel times"
    return "travel times given by the caller"
