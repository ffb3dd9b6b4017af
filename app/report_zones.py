"""The HTML report of ``compact zones``: aggregated tables only (never a student's row)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from facilities.io import atomic_write

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9rem}"""


def write_report(
    path: str | Path,
    *,
    title: str,
    sections: Sequence[tuple[str, pd.DataFrame | str]],
    notes: Mapping[str, str] | None = None,
) -> Path:
    """Write a self-contained HTML page of headed sections (tables or paragraphs), atomically.

    Parameters
    ----------
    path
        The ``.html`` file.
    title
        The page title.
    sections
        ``(heading, content)`` pairs: a DataFrame (already aggregated) or a text paragraph.
    notes
        Lines shown under the title (how the numbers were made: simulated lists, travel model).
    """
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>",
             f"<h1>{html.escape(title)}</h1>"]  # fmt: skip
    for key, text in (notes or {}).items():
        parts.append(f"<p class='note'><b>{html.escape(key)}</b>: {html.escape(text)}</p>")
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            parts.append(content.to_html(index=False, na_rep="", border=0))
        else:
            parts.append(f"<p>{html.escape(content)}</p>")
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return Path(path)
