"""Checks of a city's files before their cells are read, so a broken file is named once, for what it is.

:func:`check_layer_file` looks at a layer's file itself: its CRS setting, whether it is empty, its
text encoding (UTF-8, else Windows-1252/Latin-1 as Excel on Windows writes it; else the row of the
first bad byte), a header without rows, ragged rows (with their line) and oversized fields (an
unclosed quote). :func:`check_read_frame` catches what only shows once the file is read (no rows).
:func:`check_layer_crs` compares the layers with each other: a layer whose points lie far from all
the others is named once (wrong CRS, or x and y swapped), and left out so the checks that follow
do not blame the other files for it. :func:`check_extra_file` checks files named by the settings
(``[map] water``). Each returns whether the layer can be read; problems go to a
:class:`~facilities._validate.Problems`.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from facilities._validate import Problems

__all__ = [
    "FileCheck",
    "check_network_file",
    "check_layer_file",
    "check_read_frame",
    "check_layer_crs",
    "check_extra_file",
    "read_error",
]

#: A field longer than this (characters) is reported: most likely an unclosed quote.
MAX_FIELD = 100_000
#: Ragged rows or bad bytes listed one by one before the rest is counted.
_LISTED = 5
#: A layer whose points' median lies farther than this (metres) from every other layer's is
#: reported as in the wrong CRS (cities span tens of kilometres; a wrong CRS moves points by
#: hundreds or thousands).
FAR_APART_M = 100_000.0
_TEXT = {".csv", ".tsv", ".txt"}
_ENCODINGS = ("utf-8-sig", "cp1252")


@dataclass(frozen=True)
class FileCheck:
    """What :func:`check_layer_file` found: whether to read the file, and its text encoding."""

    ok: bool
    encoding: str | None = None


def check_layer_file(
    path: Path, *, layer: str, cfg: Mapping[str, object], source: str, problems: Problems
) -> FileCheck:
    """Check one layer's file and its ``[layers.<layer>]`` CRS before reading it.

    Parameters
    ----------
    path
        The file.
    layer
        The layer's name, for messages about ``city.toml``.
    cfg
        The layer's table of ``city.toml`` (its ``crs`` and ``header_row`` are used).
    source
        The file as the user names it, for messages.
    problems
        Where problems are added.

    Returns
    -------
    FileCheck
        ``ok`` is false when the file cannot be read at all (every problem already added).
    """
    ok = _check_crs_setting(cfg.get("crs"), layer=layer, problems=problems)
    if path.is_dir():
        return FileCheck(ok)
    if path.stat().st_size == 0:
        problems.add(
            source,
            None,
            None,
            "the file is empty (0 bytes)",
            f"export the {layer} layer again; a file with a header row and one row per record",
        )
        return FileCheck(False)
    if path.suffix.lower() not in _TEXT:
        return FileCheck(ok)
    data = path.read_bytes()
    encoding = _encoding(data, source=source, problems=problems)
    if encoding is None:
        return FileCheck(False)
    text = data.decode(encoding)
    header_row = cfg.get("header_row", 1)
    skip = int(header_row) - 1 if isinstance(header_row, int) and header_row >= 1 else 0
    ok = (
        _check_table(
            text, tab=path.suffix.lower() == ".tsv", skip=skip, layer=layer, source=source, problems=problems
        )
        and ok
    )
    return FileCheck(ok, encoding)


def _check_crs_setting(crs: object, *, layer: str, problems: Problems) -> bool:
    if crs is None:
        return True
    try:
        pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        problems.add(
            "city.toml",
            None,
            f"layers.{layer}.crs",
            f"{crs!r} is not a CRS",
            'write crs = "EPSG:4326" for longitude/latitude, '
            'or the EPSG code of the coordinates (e.g. "EPSG:2249")',
        )
        return False
    return True


def _encoding(data: bytes, *, source: str, problems: Problems) -> str | None:
    """UTF-8 (with or without a byte-order mark), else Windows-1252; ``None`` (reported) if neither."""
    if b"\x00" in data[:65536]:
        problems.add(
            source,
            None,
            None,
            "is not a text file (it holds NUL bytes: a spreadsheet or UTF-16 file named .csv?)",
            "save it as 'CSV UTF-8' (Excel: File > Save As > CSV UTF-8)",
        )
        return None
    for encoding in _ENCODINGS:
        try:
            codecs.decode(data, encoding)
        except UnicodeDecodeError as err:
            if encoding == _ENCODINGS[-1]:
                line = data[: err.start].count(b"\n") + 1
                problems.add(
                    source,
                    line,
                    None,
                    f"byte 0x{data[err.start]:02x} is neither UTF-8 nor Windows-1252 text",
                    "save it as 'CSV UTF-8' (Excel: File > Save As > CSV UTF-8)",
                )
            continue
        return encoding
    return None


def _check_table(text: str, *, tab: bool, skip: int, layer: str, source: str, problems: Problems) -> bool:
    """Header without rows, ragged rows, oversized fields; false when pandas could not read the table."""
    lines = io.StringIO(text, newline="")
    for _ in range(skip):
        lines.readline()
    body = lines.read()
    if not body.strip():
        problems.add(
            source,
            None,
            None,
            "has no header row",
            f"give the {layer} file a header row of column names, then one row per record",
        )
        return False
    delimiter = "\t" if tab else _delimiter(body[:65536])
    csv.field_size_limit(1 << 30)
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    ragged: list[tuple[int, int]] = []
    rows = 0
    huge: tuple[int, int] | None = None
    try:
        width = len(next(reader))
        start = reader.line_num + 1
        for record in reader:
            line, start = (
                start + skip,
                reader.line_num + 1,
            )  # the line a record starts on (quotes may span lines)
            if not record:
                continue
            rows += 1
            if len(record) != width and any(cell.strip() for cell in record):
                ragged.append((line, len(record)))
            longest = max(map(len, record))
            if longest > MAX_FIELD and huge is None:
                huge = (line, longest)
    except csv.Error as err:
        problems.add(
            source,
            reader.line_num + skip,
            None,
            f"cannot be read as a table ({err})",
            "save it as 'CSV UTF-8' from a spreadsheet",
        )
        return False
    if rows == 0:
        problems.add(
            source,
            None,
            None,
            f"has a header row but no rows: the {layer} layer is empty",
            f"fill in the {layer}, one row per record (or remove [layers.{layer}])",
        )
        return False
    for line, n in ragged[:_LISTED]:
        problems.add(
            source,
            line,
            None,
            f"has {n} fields where the header has {width}",
            "remove the extra separators, or quote cells that hold a separator",
        )
    if len(ragged) > _LISTED:
        problems.add(
            source,
            None,
            None,
            f"... and {len(ragged) - _LISTED:,} more rows with a different number of fields than the header",
            "",
        )
    if huge is not None:
        problems.add(
            source,
            huge[0],
            None,
            f"a field of {huge[1]:,} characters (an unclosed quote?)",
            'close the quote, or remove the stray " character',
        )
    return not ragged and huge is None


def _delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_error(source: str, path: Path, err: Exception) -> tuple[str, str]:
    """What to tell about a file its reader failed on: the message and the fix, by kind of file."""
    suffix = path.suffix.lower()
    reason = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
    if suffix in (".geojson", ".json"):
        return (
            f"is not valid GeoJSON ({reason})",
            "check it opens in QGIS or geojson.io, or export the layer again",
        )
    if suffix in (".xlsx", ".xls"):
        return (
            f"cannot be read as a spreadsheet ({reason})",
            "open it in Excel and save it again as .xlsx (or as CSV UTF-8)",
        )
    if suffix in _TEXT:
        return (
            f"cannot be read as a table ({reason})",
            "save it as 'CSV UTF-8', one header row then one row per record",
        )
    return f"cannot be read ({reason})", "save it as CSV, XLSX, GeoJSON, GeoPackage, GeoParquet or shapefile"


def check_network_file(path: Path, *, problems: Problems) -> None:
    """A street network file (GraphML or OSM XML): complete (its closing tag is there) and holding
    streets (edges or ways). A scan of the bytes, not a parse: the reader says where XML is broken."""
    source = path.name
    fix = "export the street network again (osmnx: ox.save_graphml), or fix [network] file in city.toml"
    if path.stat().st_size == 0:
        problems.add(source, None, None, "the street network file is empty (0 bytes)", fix)
        return
    streets = found = False
    tail = b""
    try:
        with bz2.open(path, "rb") if path.suffix.lower() == ".bz2" else path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 22), b""):
                chunk = tail + block
                streets = streets or b"<edge " in chunk or b"<way " in chunk
                tail = chunk[-64:]
                found = True
    except (OSError, EOFError) as err:
        problems.add(source, None, None, f"cannot be read ({err})", fix)
        return
    end = tail.rstrip()
    if not found or not end.endswith((b"</graphml>", b"</osm>")):
        what = "is not readable GraphML/XML: it ends before its closing tag (truncated?)"
        problems.add(source, None, None, what, fix)
    elif not streets:
        problems.add(source, None, None, "the street network holds no streets (no edges)", fix)


def check_read_frame(frame: pd.DataFrame, *, layer: str, source: str, problems: Problems) -> bool:
    """A layer read without error but holding no rows is named (not left to every layer that refers to it)."""
    if len(frame):
        return True
    problems.add(
        source,
        None,
        None,
        f"has no rows: the {layer} layer is empty",
        f"fill in the {layer}, one row per record (or remove [layers.{layer}])",
    )
    return False


def check_extra_file(root: Path, name: str | None, *, key: str, problems: Problems) -> None:
    """A file named by a setting (``[map] water``): present and readable as polygons."""
    if not name:
        return
    path = root / name
    if not path.exists():
        problems.add(
            "city.toml",
            None,
            key,
            f"file {name!r} not found in {root}",
            f"put the file in the city folder or fix {key}",
        )
        return
    try:
        frame = gpd.read_file(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a problem of this file
        problems.add(name, None, None, *read_error(name, path, err))
        return
    kinds = set(frame.geom_type.dropna())
    if not len(frame) or not kinds <= {"Polygon", "MultiPolygon"}:
        problems.add(
            name,
            None,
            "geometry",
            f"holds {', '.join(sorted(kinds)) or 'no geometry'} where polygons are expected",
            "give the water's outline as polygons",
        )
    elif not frame.geometry.is_valid.all():
        row = int(np.flatnonzero(~frame.geometry.is_valid.to_numpy())[0]) + 1
        problems.add(name, row, "geometry", "invalid polygon", "repair it (e.g. QGIS 'Fix geometries')")


def check_layer_crs(
    frames: dict[str, pd.DataFrame], *, sources: Mapping[str, str], swappable: set[str], problems: Problems
) -> set[str]:
    """Layers whose locations fall far from the other layers', each named once.

    Parameters
    ----------
    frames
        The layers read so far; GeoDataFrames with a CRS are compared.
    sources
        Each layer's file, for messages.
    swappable
        Layers read from x/y columns: for them, swapped columns are tested and said.
    problems
        Where problems are added.

    Returns
    -------
    set of str
        The layers that are off: leave them out of the checks that compare locations.
    """
    centres: dict[str, tuple[float, float, float, float]] = {}
    for name, frame in frames.items():
        centre = _centre(frame)
        if centre is not None:
            centres[name] = centre
    bad: set[str] = set()
    for name, (x, y, sx, sy) in centres.items():
        frame = frames[name]
        if frame.crs.is_geographic and not (-180 <= x <= 180 and -90 <= y <= 90):
            problems.add(
                sources.get(name, name),
                None,
                "geometry",
                f"the {name} coordinates (around {x:,.0f}, {y:,.0f}) are not longitude/latitude",
                f'set crs in [layers.{name}] of city.toml to the coordinates\' CRS (e.g. "EPSG:26986")',
            )
            bad.add(name)
    good = {k: c for k, c in centres.items() if k not in bad}
    if len(good) < 2:
        return bad
    if len(good) == 2:  # two layers far apart: which one is off cannot be told
        (a, (ax, ay, _, _)), (b, (bx, by, _, _)) = good.items()
        if _distance_m(ax, ay, bx, by) > FAR_APART_M:
            problems.add(
                sources.get(a, a),
                None,
                "geometry",
                f"the {a} lie {_distance_m(ax, ay, bx, by) / 1000:,.0f} km from the {b} "
                f"({sources.get(b, b)}): one of the two has the wrong CRS",
                "set crs in its [layers.<layer>] of city.toml",
            )
            bad.update(good)
        return bad
    for name, (x, y, sx, sy) in good.items():
        others = [(ox, oy) for other, (ox, oy, _, _) in good.items() if other != name]
        ox, oy = np.median(np.asarray(others), axis=0)
        if _distance_m(x, y, ox, oy) <= FAR_APART_M:
            continue
        source = sources.get(name, name)
        if name in swappable and _distance_m(sx, sy, ox, oy) <= FAR_APART_M:
            problems.add(
                source,
                None,
                None,
                f"the columns look swapped: the {name} lie {_distance_m(x, y, ox, oy) / 1000:,.0f} km "
                "from the other layers, "
                "and where they belong with x and y exchanged",
                f"exchange x and y in [layers.{name}] of city.toml",
            )
        else:
            problems.add(
                source,
                None,
                "geometry",
                f"the {name} lie {_distance_m(x, y, ox, oy) / 1000:,.0f} km from the other layers: "
                "its CRS is wrong",
                f"set crs in [layers.{name}] of city.toml to the CRS the file's coordinates are in",
            )
        bad.add(name)
    return bad


def _centre(frame: pd.DataFrame) -> tuple[float, float, float, float] | None:
    """The median location (longitude/latitude, or raw coordinates when they do not project) and its swap."""
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None or not len(frame):
        return None
    geoms = frame.geometry[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if not len(geoms):
        return None
    with np.errstate(invalid="ignore"):  # blank coordinates are reported when read
        points = geoms.representative_point()
    xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        return None
    if frame.crs.is_geographic:
        lonlat = (np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90)
        if (
            lonlat.mean() < 0.5
        ):  # most are no longitude/latitude: the layer's CRS is wrong (a few: their rows say so)
            x, y = np.median(xy, axis=0)
            return float(x), float(y), float(y), float(x)
        xy = xy[lonlat]
    x, y = np.median(xy, axis=0)
    to_wgs = pyproj.Transformer.from_crs(frame.crs, 4326, always_xy=True)
    with np.errstate(invalid="ignore"):
        lon, lat = to_wgs.transform(x, y)
        slon, slat = to_wgs.transform(y, x)
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return None
    return float(lon), float(lat), float(slon), float(slat)


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (metres); infinite when a point is not a longitude/latitude."""
    if not all(np.isfinite(v) for v in (lon1, lat1, lon2, lat2)) or abs(lat1) > 90 or abs(lat2) > 90:
        return float("inf")
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    c = np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl)
    return float(6_371_000.0 * np.arccos(np.clip(c, -1.0, 1.0)))
