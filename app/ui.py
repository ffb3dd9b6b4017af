"""Small display helpers shared by the app's pages: readable tables and downloads."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from facilities.schema import format_grades, format_time

__all__ = [
    "GRADE_COLUMNS",
    "HEADERS",
    "TIME_COLUMNS",
    "display_names",
    "download",
    "download_csv",
    "header",
    "readable",
    "show_table",
]

#: Columns holding grades (tuples of ints) and bell times (seconds after midnight).
GRADE_COLUMNS = ("grades",)
TIME_COLUMNS = ("bell_start", "bell_end", "am_bell", "pm_bell", "start", "end")
#: Column names in the users' words (others: underscores become spaces).
HEADERS = {
    "gross_area": "gross area (sq ft)",
    "annual_cost": "annual cost ($)",
    "rooms_classroom": "classrooms",
    "rooms_small": "small rooms",
    "rooms_science": "science labs",
    "rooms_special_education": "special education rooms",
    "rooms_art": "art rooms",
    "rooms_music": "music rooms",
    "rooms_library": "libraries",
    "rooms_computer": "computer rooms",
    "rooms_office": "offices",
    "bell_start": "starts",
    "bell_end": "ends",
    "n_schools": "number of schools",
    "travel_median_s": "median travel (s)",
    "travel_p90_s": "90th percentile travel (s)",
    "area_km2": "area (km²)",
    "polsby_popper": "compactness (Polsby–Popper)",
    "low_income_share": "low-income share",
    "spare_seats": "spare seats",
    "spare_rooms": "spare rooms",
}
_SHARE = ("share", "utilization", "host use after")
_DOLLARS = ("annual cost ($)", "budget", "$ / year", "dollars_per_year", "cost")


def display_names(frame: pd.DataFrame, *, place: str = "neighborhood") -> dict[str, str]:
    """Id -> the name people read: the row's ``name``; names used twice get their ``place`` (else id)
    added."""
    names = (
        frame["name"]
        .where(frame["name"].notna() & (frame["name"].astype(str).str.strip() != ""), frame["id"])
        .astype(str)
    )
    twice = names.duplicated(keep=False)
    if twice.any() and place in frame:
        names = names.where(~twice, names + " (" + frame[place].astype(str) + ")")
    twice = names.duplicated(keep=False)
    names = names.where(~twice, names + " (" + frame["id"].astype(str) + ")")
    return dict(zip(frame["id"].astype(str), names))


def header(column: str) -> str:
    """A column's name for people (:data:`HEADERS`, else underscores as spaces)."""
    return HEADERS.get(column, column.replace("_", " "))


def readable(frame: pd.DataFrame, *, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy for people: no geometry, grades as ``K-5``, bell times as ``HH:MM``, no "None", empty columns
    dropped."""
    out = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    if columns is not None:
        out = out[[c for c in columns if c in out.columns]]
    for column in out.columns:
        if column in GRADE_COLUMNS:
            out[column] = out[column].map(lambda g: format_grades(g) if isinstance(g, tuple | list) else "")
        elif column in TIME_COLUMNS and pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(lambda t: format_time(t) if pd.notna(t) else "")
        elif column == "grade":
            out[column] = out[column].map(lambda g: format_grades((int(g),)) if pd.notna(g) else "")
        elif out[column].dtype == object:
            out[column] = out[column].map(_text)
    keep = [c for c in out.columns if not (out[c].isna().all() or (out[c].astype(str) == "").all())]
    return out[keep].reset_index(drop=True)


def _text(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def show_table(
    frame: pd.DataFrame,
    *,
    key: str | None = None,
    height: int | str = "auto",
    rename: dict[str, str] | None = None,
    on_select: str | Callable[[], None] = "ignore",
) -> object:
    """A readable table (:func:`readable`) with names in words, shares as percents, dollars as dollars."""
    out = readable(frame)
    out.columns = [(rename or {}).get(c, header(c)) for c in out.columns]
    config: dict[str, object] = {}
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
            continue
        if any(s in column for s in _SHARE):
            config[column] = st.column_config.NumberColumn(format="percent")
        elif any(d in column for d in _DOLLARS):
            config[column] = st.column_config.NumberColumn(format="dollar")
        elif pd.api.types.is_integer_dtype(out[column]):
            config[column] = st.column_config.NumberColumn(format="localized")
    selection = {"on_select": on_select, "selection_mode": "single-row"} if on_select != "ignore" else {}
    return st.dataframe(
        out, hide_index=True, width="stretch", height=height, key=key, column_config=config, **selection
    )


_MIME = {".csv": "text/csv", ".json": "application/json", ".zip": "application/zip"}


def download(
    label: str,
    build: Callable[[], bytes],
    *,
    file_name: str,
    key: str,
    at: object = st,
    icon: str = "⬇️",
) -> None:
    """A download button in ``at`` (a column, or the page) whose file ``build`` makes only when pressed;
    the kind of file from ``file_name``'s suffix."""
    at.download_button(  # type: ignore[attr-defined]
        label,
        build,
        file_name=file_name,
        mime=_MIME[file_name[file_name.rindex(".") :]],
        key=key,
        icon=icon,
        on_click="ignore",
    )


def download_csv(frame: pd.DataFrame, *, label: str, file_name: str, key: str) -> None:
    """A download button for ``frame`` as CSV (geometry dropped), built when pressed."""
    plain = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    download(label, lambda: plain.to_csv(index=False).encode("utf-8"), file_name=file_name, key=key)
