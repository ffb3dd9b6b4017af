"""The bell times of a scenario, with the old and new times of each school and the reason."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facilities.schema import format_time


@dataclass(frozen=True)
class BellTimes:
    """Bell times of a scenario and why each school has its time.

    Attributes
    ----------
    starts, ends
        School id -> start and dismissal (seconds after midnight).
    changes
        One row per school: ``school``, ``sector``, ``old_start``, ``new_start``, ``old_end``,
        ``new_end`` (``HH:MM``), ``change_min`` (of the start), ``end_change_min``, ``reason``.
    infeasible
        Schools that could not be given an allowed time (``school``, ``reason``).
    buses
        Fewest buses for these times with the runs the search counted (``None`` when not evaluated).
    clock_cap
        Whether the clock cap, not the search's budget, ended the search (the times may then
        differ between two runs on a loaded machine).
    """

    starts: Mapping[str, float]
    ends: Mapping[str, float]
    changes: pd.DataFrame
    infeasible: pd.DataFrame
    buses: int | None = None
    clock_cap: bool = False

    @classmethod
    def from_times(
        cls,
        schools: pd.DataFrame,
        starts: Mapping[str, float],
        *,
        ends: Mapping[str, float] | None = None,
        reasons: Mapping[str, str] | None = None,
        infeasible: pd.DataFrame | None = None,
        buses: int | None = None,
    ) -> BellTimes:
        """Bell times from new ``starts`` and ``ends`` by school id (others keep theirs; a school
        without a new dismissal keeps its day's length), with the ``changes`` table.

        Parameters
        ----------
        schools
            ``id``, ``sector``, ``bell_start``, ``bell_end``: the current times.
        starts, ends
            New times, seconds after midnight.
        reasons
            Why, per school (default ``"unchanged"``).
        infeasible
            Schools that could not be given an allowed time (``school``, ``reason``).
        buses
            Their bus count, when known.
        """
        reasons = reasons or {}
        rows = []
        new_starts, new_ends = {}, {}
        for _, s in schools.iterrows():
            sid, old, old_end = str(s["id"]), float(s["bell_start"]), float(s["bell_end"])
            new = new_starts[sid] = float(starts.get(sid, old))
            end = new_ends[sid] = (
                float(ends[sid]) if ends is not None and sid in ends else new + (old_end - old)
            )
            moved = (
                (new - old) / 60 if math.isfinite(old) else math.nan,
                (end - old_end) / 60 if math.isfinite(old_end) else math.nan,
            )
            rows.append(
                (
                    sid,
                    s.get("sector", ""),
                    format_time(old),
                    format_time(new),
                    format_time(old_end),
                    format_time(end),
                    *moved,
                    reasons.get(sid, "unchanged"),
                )
            )
        changes = pd.DataFrame(
            rows,
            columns=[
                "school",
                "sector",
                "old_start",
                "new_start",
                "old_end",
                "new_end",
                "change_min",
                "end_change_min",
                "reason",
            ],
        )
        if infeasible is None:
            infeasible = pd.DataFrame(columns=["school", "reason"])
        return cls(new_starts, new_ends, changes, infeasible, buses)

    def shift(self, school_ids: Sequence[str], current: Mapping[str, float]) -> np.ndarray:
        """Shifts (seconds) from ``current`` starts, in the order of ``school_ids`` (0 for others)."""
        return _offsets(self.starts, current, school_ids)

    def end_shift(self, school_ids: Sequence[str], current_ends: Mapping[str, float]) -> np.ndarray:
        """Shifts (seconds) from ``current_ends`` dismissals, in the order of ``school_ids`` (0 for
        others)."""
        return _offsets(self.ends, current_ends, school_ids)


def _offsets(new: Mapping[str, float], old: Mapping[str, float], ids: Sequence[str]) -> np.ndarray:
    return np.array([new.get(s, old.get(s, 0.0)) - old.get(s, 0.0) for s in ids], dtype=float)


def _span(start: float, end: float) -> str:
    return f"{format_time(start)}-{format_time(end)}"


def _was(old: tuple[float, float], new: tuple[float, float]) -> str:
    """``07:50-14:50 -> 07:30-14:00, day 20 min shorter``."""
    day = (new[1] - new[0]) - (old[1] - old[0])
    length = (
        "day length kept" if day == 0 else f"day {abs(day) / 60:.0f} min {'longer' if day > 0 else 'shorter'}"
    )
    return f"{_span(*old)} -> {_span(*new)}, {length}"


def current_bells(schools: pd.DataFrame) -> BellTimes:
    """The status quo: every school keeps its times (schools without times are listed as infeasible)."""
    missing = schools[
        ~np.isfinite(schools["bell_start"].astype(float)) | ~np.isfinite(schools["bell_end"].astype(float))
    ]
    infeasible = pd.DataFrame(
        {"school": missing["id"].astype(str), "reason": "no current start and end times"}
    )
    return BellTimes.from_times(schools, {}, infeasible=infeasible.reset_index(drop=True))
