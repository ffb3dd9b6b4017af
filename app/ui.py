"""Small display helpers shared by the app's pages: readable tables and downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facilities.schema import format_grades, format_time

__all__ = ["readable", "download_csv", "GRADE_COLUMNS", "TIME_COLUMNS"]

#: Columns holding grades (tuples of ints) and bell times (seconds after midnight).
GRADE_COLUMNS = ("grades",)
TIME_COLUMNS = ("bell_start", "bell_end", "am_bell", "pm_bell", "start", "end")


def readable(frame: pd.DataFrame, *, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy for people: no geometry, grades as ``K-5``, bell times as ``HH:MM``, empty columns dropped."""
    out = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    if columns is not None:
        out = out[[c for c in columns if c in out.columns]]
    for column in out.columns:
        if column in GRADE_COLUMNS:
            out[column] = out[column].map(lambda g: format_grades(g) if isinstance(g, tuple | list) else "")
        elif column in TIME_COLUMNS and pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(format_time)
        elif column == "grade":
            out[column] = out[column].map(lambda g: format_grades((int(g),)) if pd.notna(g) else "")
    keep = [c for c in out.columns if not (out[c].isna().all() or (out[c].astype(str) == "").all())]
    return out[keep].reset_index(drop=True)


def download_csv(frame: pd.DataFrame, *, label: str, file_name: str, key: str) -> None:
    """A download button for ``frame`` as CSV (geometry dropped)."""
    data = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).to_csv(index=False).encode("utf-8")
    st.download_button(label, data, file_name=file_name, mime="text/csv", key=key, icon="⬇️")
