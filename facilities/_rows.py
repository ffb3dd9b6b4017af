"""Where each record of a layer came from: its file and its row as the user sees it there.

A layer may be read from several files (``[[layers.zones.files]]``): its records are then rows of
one combined table, but a message about a record must name the user's file and the row in it
(``row 3 of high.geojson``), never the record's place in the combined table. :class:`FileRow` is
such a row number; :class:`RowSources`, kept in a layer's ``attrs["rows"]`` by id, survives the
selections, copies and reorderings a layer goes through (pandas carries ``attrs`` along), and
:func:`source_row` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Self

import pandas as pd

__all__ = ["FileRow", "RowSources", "source_row"]


class FileRow(int):
    """A row number that also names its file, for layers read from several files."""

    file: str

    def __new__(cls, row: int, file: str) -> Self:
        obj = super().__new__(cls, row)
        obj.file = file
        return obj

    def __str__(self) -> str:
        return f"{int(self)} of {self.file}"


class RowSources(Mapping[str, int]):
    """Record id -> its row in the user's file (a :class:`FileRow` when the layer has several files),
    and the layer's file (``source``) for rows that are plain numbers.

    Immutable, so the frames pandas derives from a layer share it (their ``attrs`` are deep copies).
    """

    def __init__(self, source: str, rows: Mapping[str, int]) -> None:
        self.source = source
        self._rows = dict(rows)

    def __getitem__(self, key: str) -> int:
        return self._rows[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __deepcopy__(self, memo: dict[int, object]) -> RowSources:
        return self


def source_row(frame: pd.DataFrame, position: int, *, source: str) -> tuple[str, int]:
    """The file and row of the record at ``position`` of ``frame``, for a message.

    Parameters
    ----------
    frame
        A layer (or a selection of it) with an ``id`` column; its ``attrs["rows"]`` is set when the
        city is read (:func:`facilities.city._assemble`).
    position
        The record's position in ``frame`` (0-based).
    source
        What to name when the frame does not come from a city's layer (``"zones"``, a file name):
        the row is then ``position + 1``.
    """
    rows = frame.attrs.get("rows")
    if isinstance(rows, RowSources) and "id" in frame.columns:
        row = rows.get(str(frame["id"].iloc[position]))
        if row is not None:
            return (row.file if isinstance(row, FileRow) else rows.source), int(row)
    return source, position + 1
