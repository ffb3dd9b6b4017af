"""The school bus routing benchmark of Park, Tae & Kim (EJOR 2012), as compared by BiRD.

An instance folder (``RSRB01`` ... ``CSCB16``) holds ``Schools.txt`` (``ID X Y AMEARLY AMLATE``,
feet and ``hmm`` times) and ``Stops.txt`` (``ID X Y EP_ID STUDENT_COUNT``), read by column
position because a few files misname their headers. The conventions of Bertsimas, Delarue &
Martin (PNAS 2019): 66 seats, 20 mph along Manhattan distances, a stop takes 19 s + 2.6 s per
student, the school dwell is 154.4 s, the bell is ``AMEARLY``, one yard at (105600, 105600) ft
with id ``900001``. ``arrive_by="late"`` takes Park et al.'s own window instead: a bus arrives
from ``AMEARLY`` on and has unloaded by ``AMLATE`` (the school's ``am_window`` is the slack).

>>> from routing.sbrp import read_instance
>>> data = read_instance("../shared/data/sbrp/RSRB/RSRB01", max_ride=2700)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from facilities import Problem, ValidationError
from routing.data import ProblemData

__all__ = [
    "read_instance",
    "SPEED_FT_S",
    "FEET",
    "YARD_ID",
    "YARD_XY",
    "SEATS",
    "STOP_FIXED",
    "STOP_PER_STUDENT",
    "DWELL",
]

SPEED_FT_S = 20 * 5280 / 3600
FEET = 0.3048
YARD_ID = "900001"
YARD_XY = (105600.0, 105600.0)
SEATS = 66
STOP_FIXED = 19.0
STOP_PER_STUDENT = 2.6
DWELL = 154.4


def _hmm(value: int) -> float:
    return float((int(value) // 100) * 3600 + (int(value) % 100) * 60)


def _table(path: Path, names: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise ValidationError(
            [
                Problem(
                    str(path),
                    None,
                    None,
                    "file not found",
                    "point at an instance folder such as .../sbrp/RSRB/RSRB01",
                )
            ],
            city=path.parent.name,
        )
    frame = pd.read_csv(path, sep=r"\s+", header=0, names=names, dtype={names[0]: str})
    bad = frame[names[1:]].isna().any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 2
        raise ValidationError(
            [Problem(str(path), row, None, "missing values", f"each row needs {' '.join(names)}")],
            city=path.parent.name,
        )
    return frame


def read_instance(
    path: str | os.PathLike[str], *, max_ride: float, arrive_by: Literal["early", "late"] = "early"
) -> ProblemData:
    """Read one benchmark instance as :class:`~routing.problem.ProblemData`.

    Parameters
    ----------
    path
        The instance folder (with ``Schools.txt`` and ``Stops.txt``).
    max_ride
        Longest ride in seconds (the benchmark uses 2700 and 5400).
    arrive_by
        ``"early"``: the unloading ends by ``AMEARLY`` (BiRD's convention); ``"late"``: Park et
        al.'s arrival window, from ``AMEARLY`` to the end of the unloading by ``AMLATE``.

    Returns
    -------
    ProblemData
        Locations: the yard (0), the schools, then the stops; Manhattan metres and seconds at 20 mph.
    """
    if arrive_by not in ("early", "late"):
        raise ValueError(f"arrive_by must be 'early' or 'late', not {arrive_by!r}")
    root = Path(path)
    schools = _table(root / "Schools.txt", ["id", "x", "y", "early", "late"])
    stops = _table(root / "Stops.txt", ["id", "x", "y", "school", "students"])
    stops["school"] = stops["school"].astype(int).astype(str)
    xy = np.vstack(
        [np.array([YARD_XY]), schools[["x", "y"]].to_numpy(float), stops[["x", "y"]].to_numpy(float)]
    )
    feet = np.abs(xy[:, None, 0] - xy[None, :, 0]) + np.abs(xy[:, None, 1] - xy[None, :, 1])
    n_sch = len(schools)
    slack = (
        np.array([_hmm(v) for v in schools["late"]]) - np.array([_hmm(v) for v in schools["early"]]) - DWELL
    )
    window = np.maximum(slack, 0.0) if arrive_by == "late" else 0.0
    return ProblemData.from_matrices(
        durations=feet / SPEED_FT_S,
        distances=feet * FEET,
        schools=pd.DataFrame(
            {
                "id": schools["id"],
                "location": np.arange(1, n_sch + 1),
                "am_bell": [_hmm(v) for v in schools[arrive_by]],
                "dwell": DWELL,
                "am_window": window,
            }
        ),
        stops=pd.DataFrame(
            {
                "id": stops["id"],
                "location": np.arange(n_sch + 1, n_sch + 1 + len(stops)),
                "school": stops["school"],
                "students": stops["students"].astype(int),
            }
        ),
        yards=pd.DataFrame({"id": [YARD_ID], "location": [0]}),
        bus_types=pd.DataFrame({"id": ["bus"], "seats": [SEATS]}),
        max_ride=max_ride,
        stop_time_fixed=STOP_FIXED,
        stop_time_per_student=STOP_PER_STUDENT,
        name=root.name,
    )
