"""Which city the app shows, chosen in the sidebar: the demo city, a folder, or an uploaded zip.

Cities are read once per folder (or uploaded file) and kept with ``st.cache_resource``; a city
that does not validate shows every problem found (file, row, column, what to do) in the page.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st

from facilities import City, Problem, ValidationError, read_city

__all__ = [
    "CITY_ENV",
    "DEMO_CITY",
    "city_key",
    "city_picker",
    "current_city",
    "default_city",
    "load_city",
    "load_zipped_city",
    "remember",
    "remembered",
    "show_problems",
    "zip_folder",
]

#: The demo city shipped with the project.
DEMO_CITY = Path(__file__).resolve().parents[1] / "data" / "demo"
#: Environment variable naming another default city folder.
CITY_ENV = "COMPACT_CITY"
_SOURCES = ("Demo city", "A city folder", "Upload a zipped city")


def default_city() -> Path:
    """The city shown first: ``$COMPACT_CITY`` when set, else the demo city."""
    return Path(os.environ.get(CITY_ENV) or DEMO_CITY)


def _stamp(folder: Path) -> float:
    """Last change of a city folder's manifest (a new stamp reloads the city)."""
    manifest = folder if folder.is_file() else folder / "city.toml"
    return manifest.stat().st_mtime if manifest.exists() else 0.0


@st.cache_resource(show_spinner="Reading the city…", max_entries=4)
def _cached_city(folder: str, stamp: float) -> City:
    return read_city(folder)


def load_city(folder: str | os.PathLike[str]) -> City:
    """Read and validate a city folder, once per change of its ``city.toml``.

    Raises
    ------
    facilities.ValidationError
        Every problem found in the city's files.
    """
    path = Path(folder).expanduser().resolve()
    return _cached_city(str(path), _stamp(path))


@st.cache_resource(show_spinner="Reading the uploaded city…", max_entries=2)
def load_zipped_city(data: bytes, name: str = "city.zip") -> City:
    """Unpack a zipped city folder into a temporary folder and read it.

    The zip holds ``city.toml`` and its layer files, at its top or in one folder.

    Raises
    ------
    facilities.ValidationError
        When the file is not a zip, holds no ``city.toml``, or the city has problems.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        suffix = Path(name).suffix.lower()
        what = (
            f"a single {suffix[1:].upper()} file, not a zip of a city folder"
            if suffix and suffix != ".zip"
            else "not a zip file"
        )
        raise ValidationError(
            [
                Problem(
                    name,
                    None,
                    None,
                    what,
                    "zip the city folder (city.toml and its files) and upload the .zip",
                )
            ],
            city=name,
        ) from None
    target = Path(tempfile.mkdtemp(prefix="compact-upload-")).resolve()
    for member in archive.namelist():
        if not (target / member).resolve().is_relative_to(target):
            raise ValidationError(
                [
                    Problem(
                        name,
                        None,
                        None,
                        f"unsafe path {member!r} in the zip",
                        "zip the city folder itself, with relative paths",
                    )
                ],
                city=name,
            )
    archive.extractall(target)
    manifests = sorted(target.rglob("city.toml"), key=lambda p: len(p.parts))
    if not manifests:
        raise ValidationError(
            [
                Problem(
                    name,
                    None,
                    None,
                    "no city.toml in the zip",
                    "put city.toml at the top of the folder you zip (see README: 'A city is a folder')",
                )
            ],
            city=name,
        )
    return read_city(manifests[0].parent)


def city_key(city: City) -> str:
    """A key naming this city object, for caches and for results kept in the session.

    The cached city is the same object on every rerun until its folder changes, so results keyed
    by it are dropped when another city (or a new version) is picked.
    """
    return f"{city.name}|{city.root}|{id(city)}"


@st.cache_resource(show_spinner="Preparing travel times…", max_entries=3)
def _cached_travel(key: str, _city: City) -> tuple[object, str]:
    from app._common import travel_for

    return travel_for(_city)


def city_travel(city: City) -> tuple[object, str]:
    """The city's travel-time function ``(origins, destinations) -> seconds`` and what it is, built once per
    city."""
    return _cached_travel(city_key(city), city)


def zip_folder(folder: str | os.PathLike[str]) -> bytes:
    """The files of a folder as zip bytes (for a download button)."""
    buffer = io.BytesIO()
    root = Path(folder)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(root))
    return buffer.getvalue()


def show_problems(error: ValidationError) -> None:
    """Show every problem of a city that does not validate, as an error and a table."""
    n = len(error.problems)
    st.error(
        f"**{error.city}** has {n} problem{'s' if n != 1 else ''}; fix them and load it again.", icon="⚠️"
    )
    table = pd.DataFrame(
        [
            {
                "file": p.file,
                "row": p.row,
                "column": p.column or "",
                "problem": p.message,
                "what to do": p.fix,
            }
            for p in error.problems
        ]
    )
    table["row"] = table["row"].astype("Int64")
    st.dataframe(table, hide_index=True, width="stretch", key="city_problems")


def city_picker() -> City | None:
    """Sidebar controls choosing the city; the chosen city, or ``None`` after showing its problems.

    The choice lives in ``st.session_state`` under ``city_source`` (one of the radio's labels),
    ``city_folder`` (a folder path) and ``city_zip`` (the uploaded file); the city itself under ``city``.
    """
    st.session_state.setdefault("city_source", _SOURCES[1] if os.environ.get(CITY_ENV) else _SOURCES[0])
    st.session_state.setdefault("city_folder", str(default_city()))
    city: City | None = None
    with st.sidebar:
        st.subheader("City")
        source = st.radio("Show", _SOURCES, key="city_source", label_visibility="collapsed")
        try:
            if source == _SOURCES[0]:
                if not (DEMO_CITY / "city.toml").exists():
                    st.warning("The demo city is not built yet: run `make demo-data`, or pick a city folder.")
                else:
                    city = load_city(DEMO_CITY)
            elif source == _SOURCES[1]:
                folder = st.text_input("City folder (holding city.toml)", key="city_folder")
                city = load_city(folder)
            else:
                upload = st.file_uploader(
                    "Zipped city folder",
                    key="city_zip",
                    help="a .zip of a folder holding city.toml and the files it names",
                )
                if upload is None:
                    st.info("Upload a .zip of a city folder: its city.toml and layer files.")
                else:
                    city = load_zipped_city(upload.getvalue(), upload.name)
        except ValidationError as err:
            st.caption("This city has problems: see the page.")
            st.session_state["city"] = None
            st.session_state["city_error"] = err
            return None
        if city is not None:
            st.caption(f"**{city.name}** · {len(city.schools):,} schools · {len(city.students):,} students")
    st.session_state["city"] = city
    st.session_state["city_error"] = None
    return city


def current_city() -> City:
    """The city chosen in the sidebar; shows its problems (or how to pick one) and stops the page
    otherwise."""
    city = st.session_state.get("city")
    if city is None:
        error = st.session_state.get("city_error")
        if error is not None:
            show_problems(error)
        else:
            st.info("Pick a city in the sidebar.")
        st.stop()
    return city


def remembered(name: str, inputs: object) -> tuple[object, bool] | None:
    """The result kept under ``name`` and whether it was computed from ``inputs`` (else older inputs).

    Pages keep one result per analysis in the session with the inputs that made it, so a rerun
    (a map filter, a tab, a download) shows it again without solving anything.
    """
    kept = st.session_state.get(f"result:{name}")
    if kept is None:
        return None
    return kept[1], kept[0] == inputs


def remember(name: str, inputs: object, value: object) -> object:
    """Keep ``value`` as the result of ``name`` for ``inputs`` (see :func:`remembered`); return it."""
    st.session_state[f"result:{name}"] = (inputs, value)
    return value
