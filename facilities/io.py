"""Read a city folder (``city.toml`` + layer files) into a :class:`~facilities.city.City`; write results.

A city folder holds the user's own files; ``city.toml`` names each layer's file and maps its
columns and values onto the canonical schema of :mod:`facilities.schema`. See the README's
"A city is a folder" section for the format.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from facilities import _files
from facilities import _validate as v
from facilities._crs import WrongCrs, file_crs, impossible_coordinates, report_wrong_crs
from facilities._rows import FileRow
from facilities.city import City, NetworkSpec, _assemble
from facilities.geocode.load import address_columns, place_students
from facilities.schema import LAYERS, Layer
from facilities.settings import NetworkSettings, parse_settings

__all__ = ["read_city", "read_layer_file", "atomic_write", "write_geo"]

log = logging.getLogger(__name__)

_UNITS = {"m": 1.0, "km": 1000.0, "ft": 0.3048, "mi": 1609.344, "m2": 1.0, "ft2": 0.09290304}
_VECTOR = {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml"}
_TABLE = {".csv", ".tsv", ".txt", ".xlsx", ".xls"}


def read_city(path: str | os.PathLike[str]) -> City:
    """Read and validate a city folder.

    Parameters
    ----------
    path
        A folder holding ``city.toml`` and the layer files it names (or the ``city.toml`` itself).

    Returns
    -------
    City
        Every layer in canonical columns, projected to the city's metric CRS.

    Raises
    ------
    ValidationError
        Listing every problem found (file, row, column, and what to do); nothing is half-loaded.

    Examples
    --------
    >>> city = read_city("data/demo")  # doctest: +SKIP
    >>> print(city.summary())  # doctest: +SKIP
    """
    root = Path(path)
    manifest = root if root.is_file() else root / "city.toml"
    root = manifest.parent
    problems = v.Problems()
    if not manifest.exists():
        problems.add(
            str(manifest),
            None,
            None,
            "no city.toml here",
            "point at a city folder (one with a city.toml), or create one (see README: 'A city is a folder')",
        )
        problems.raise_if_any(city=str(root))
    try:
        config = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        problems.add(
            str(manifest),
            None,
            None,
            f"not valid TOML: {err}",
            "fix the syntax (strings in double quotes, one key per line)",
        )
        problems.raise_if_any(city=str(root))
    settings = parse_settings(config, problems=problems)
    name = settings.city.name or root.name
    layers_cfg = config.get("layers", {})
    for unknown in sorted(set(layers_cfg) - set(LAYERS)):
        problems.add(
            "city.toml", None, None, f"unknown layer [layers.{unknown}]", _suggest(unknown, list(LAYERS))
        )
    if "schools" not in layers_cfg:
        problems.add(
            "city.toml",
            None,
            None,
            "no [layers.schools] table",
            'add one naming the schools file: [layers.schools] file = "schools.csv"',
        )
    frames: dict[str, pd.DataFrame] = {}
    rows: dict[str, list[int | None]] = {}
    sources: dict[str, str] = {}
    wrong: list[WrongCrs] = []
    for layer_name, layer in LAYERS.items():
        cfg = layers_cfg.get(layer_name)
        if not isinstance(cfg, dict):
            continue
        loaded = _read_layer(root, layer, cfg, problems, wrong=wrong)
        if loaded is not None:
            frames[layer_name], rows[layer_name], sources[layer_name] = loaded
    report_wrong_crs(wrong, frames, problems)
    network = _network_spec(root, settings.network, problems)
    _files.check_extra_file(root, settings.map.water, key="map.water", problems=problems)
    geocoding = None
    if "students" in frames and "address" in layers_cfg.get(
        "students", {}
    ):  # addresses to points: facilities.geocode
        frames["students"], rows["students"], geocoding = place_students(
            frames["students"],
            rows["students"],
            cfg=layers_cfg["students"],
            settings=settings,
            address_points=frames.get("address_points"),
            root=root,
            source=str(layers_cfg["students"].get("file")),
            problems=problems,
        )
    tables = {k for k in frames if Path(str(layers_cfg[k].get("file"))).suffix.lower() in _TABLE}
    for off in _files.check_layer_crs(frames, sources=sources, swappable=tables, problems=problems):
        del frames[off]  # named once; the checks comparing locations would blame the other layers
    if "schools" not in frames:
        problems.raise_if_any(city=name)
    return _assemble(
        name=name,
        crs=settings.city.crs,
        root=root,
        network=network,
        settings=settings,
        sources=sources,
        rows=rows,
        frames=frames,
        problems=problems,
        geocoding=geocoding,
    )


def _network_spec(root: Path, cfg: NetworkSettings | None, problems: v.Problems) -> NetworkSpec | None:
    if cfg is None:
        return None
    spec = NetworkSpec(
        file=(root / cfg.file) if cfg.file else None,
        place=cfg.place,
        bbox=cfg.bbox,
        network_type=cfg.network_type,
        snap_max=cfg.snap_max,
        min_covered=cfg.min_covered,
        cache_dir=root / cfg.cache_dir,
    )
    if sum(x is not None for x in (spec.file, spec.place, spec.bbox)) != 1:
        problems.add(
            "city.toml",
            None,
            None,
            "[network] needs exactly one of file, place or bbox",
            'e.g. file = "streets.graphml"',
        )
    elif spec.file is not None and not spec.file.exists():
        problems.add(
            "city.toml",
            None,
            "network.file",
            f"street network file {cfg.file!r} not found in {root}",
            "put the file in the city folder or fix its name",
        )
    elif spec.file is not None:
        _files.check_network_file(spec.file, problems=problems)
    return spec


def read_layer_file(
    path: Path, *, sheet: str | int | None = None, header_row: int = 1, encoding: str | None = None
) -> pd.DataFrame:
    """Read a layer file of any supported format into a (Geo)DataFrame, all cells as found.

    Parameters
    ----------
    path
        CSV/TSV, XLSX, GeoJSON, GeoPackage, shapefile, FlatGeobuf or GeoParquet.
    sheet
        Spreadsheet sheet name or index (XLSX only).
    header_row
        1-based row holding the column names (CSV and XLSX).
    encoding
        Text encoding of a CSV/TSV (default UTF-8, with or without a byte-order mark).
    """
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".bz2" else path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        sep = "\t" if suffix == ".tsv" else None
        return pd.read_csv(
            path,
            sep=sep,
            engine="python",
            dtype=str,
            keep_default_na=False,
            skiprows=header_row - 1,
            encoding=encoding or "utf-8-sig",
        )
    if suffix in (".xlsx", ".xls"):
        return pd.read_excel(
            path, sheet_name=sheet if sheet is not None else 0, header=header_row - 1, dtype=object
        )
    if suffix == ".parquet":
        try:
            return gpd.read_parquet(path)
        except ValueError:
            return pd.read_parquet(path)
    return gpd.read_file(path)


#: Keys of a layer's table (and of each of its ``[[layers.X.files]]`` tables) besides its groups.
_FILE_KEYS = (
    "file",
    "columns",
    "defaults",
    "values",
    "units",
    "x",
    "y",
    "crs",
    "crs_override",
    "sheet",
    "header_row",
    "on_duplicate_id",
    "id_prefix",
    "keep",
    "drop",
    "query",
    "repair",
    "address",
)
#: Keys whose tables merge (a file's entries over the layer's) rather than replace.
_MERGED = ("columns", "defaults", "units", "keep", "drop")


def _suggest(key: str, known: list[str]) -> str:
    """``use 'x'`` for the nearest known key, or the list of known keys."""
    lowered = {k.lower(): k for k in reversed(known)}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return f"did you mean {lowered[close[0]]!r}?" if close else f"use {', '.join(known)}"


def _file_specs(layer: Layer, cfg: dict, problems: v.Problems) -> list[dict]:
    """One spec per file of the layer: its own table over the layer's shared keys.

    A layer names one ``file``, or several as ``[[layers.X.files]]`` tables, each with its own
    columns, defaults, value maps and filters; keys set on ``[layers.X]`` apply to every file.
    """
    known = [*_FILE_KEYS, *layer.groups]
    where = f"[layers.{layer.name}]"
    for key in sorted(set(cfg) - set(known) - {"files"}):
        problems.add(
            "city.toml",
            None,
            f"layers.{layer.name}.{key}",
            f"unknown key {key!r} in {where}",
            _suggest(key, [*known, "files"]),
        )
    files = cfg.get("files")
    if files is None:
        return [cfg]
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files) or not files:
        problems.add(
            "city.toml",
            None,
            f"layers.{layer.name}.files",
            "files must be a list of tables",
            f'write one [[layers.{layer.name}.files]] table per file, each with file = "..."',
        )
        return []
    if "file" in cfg:
        problems.add(
            "city.toml",
            None,
            f"layers.{layer.name}.file",
            f"{where} names both file and files",
            "keep one: file for one file, [[...files]] tables for several",
        )
    shared = {k: val for k, val in cfg.items() if k != "files"}
    specs = []
    for i, entry in enumerate(files, start=1):
        for key in sorted(set(entry) - set(known)):
            problems.add(
                "city.toml",
                None,
                f"layers.{layer.name}.files[{i}].{key}",
                f"unknown key {key!r}",
                _suggest(key, known),
            )
        spec = {**shared, **entry}
        for key in (*_MERGED, *layer.groups):
            if isinstance(shared.get(key), dict) and isinstance(entry.get(key), dict):
                spec[key] = {**shared[key], **entry[key]}
        if isinstance(shared.get("values"), dict) and isinstance(entry.get("values"), dict):
            fields = set(shared["values"]) | set(entry["values"])
            spec["values"] = {
                f: {**shared["values"].get(f, {}), **entry["values"].get(f, {})} for f in fields
            }
        specs.append(spec)
    return specs


def _read_layer(
    root: Path, layer: Layer, cfg: dict, problems: v.Problems, *, wrong: list[WrongCrs]
) -> tuple[pd.DataFrame, list[int | None], str] | None:
    """Read a layer's files, filter their rows, map their columns to canonical ones (values still raw).

    Returns the frame, each record's row as the user sees it, and the layer's source for messages.
    """
    specs = _file_specs(layer, cfg, problems)
    several = len(specs) > 1
    read = (_read_file(root, layer, spec, problems, several=several, wrong=wrong) for spec in specs)
    parts = [part for part in read if part is not None]
    if len(parts) != len(specs) or not parts:
        return None
    if len(parts) == 1:
        frame, rows = parts[0]
        return frame, rows, str(specs[0]["file"])
    frames = [frame for frame, _ in parts]
    geo = [f for f in frames if isinstance(f, gpd.GeoDataFrame)]
    if geo:
        crs = geo[0].crs
        frames = [f.to_crs(crs) if isinstance(f, gpd.GeoDataFrame) and f.crs != crs else f for f in frames]
    out = pd.concat(frames, ignore_index=True)
    if geo:
        out = gpd.GeoDataFrame(out, geometry="geometry", crs=geo[0].crs)
    for key in ("columns", "units", "dropped"):
        out.attrs[key] = {}
        for frame in frames:
            out.attrs[key].update(frame.attrs.get(key, {}))
    if "id" in out and cfg.get("on_duplicate_id") == "number":
        out["id"] = _number_duplicates(out["id"])
    return out, [r for _, rows in parts for r in rows], f"[layers.{layer.name}] files"


def _read_file(
    root: Path, layer: Layer, cfg: dict, problems: v.Problems, *, several: bool, wrong: list[WrongCrs]
) -> tuple[pd.DataFrame, list[int | None]] | None:
    """Read one file of a layer: filter its rows, map its columns and values.

    A file whose coordinates cannot be in the CRS it is read in is added to ``wrong`` (reported once
    the city's other layers are read, see :func:`facilities._crs.report_wrong_crs`) and not loaded.
    """
    file = cfg.get("file")
    if not file:
        problems.add(
            "city.toml", None, None, f"[layers.{layer.name}] names no file", f'add file = "{layer.name}.csv"'
        )
        return None
    path = root / str(file)
    source = str(file)
    if not path.exists():
        problems.add(
            source,
            None,
            None,
            f"file not found in {root}",
            f"put {file!r} in the city folder or fix [layers.{layer.name}] file",
        )
        return None
    header_row = int(cfg.get("header_row", 1))
    checked = _files.check_layer_file(path, layer=layer.name, cfg=cfg, source=source, problems=problems)
    if not checked.ok:
        return None
    try:
        raw = read_layer_file(path, sheet=cfg.get("sheet"), header_row=header_row, encoding=checked.encoding)
    except Exception as err:  # noqa: BLE001 - any reader failure is a problem of this file
        problems.add(source, None, None, *_files.read_error(source, path, err))
        return None
    if not _files.check_read_frame(raw, layer=layer.name, source=source, problems=problems):
        return None
    raw.columns = [str(c).strip() for c in raw.columns]
    first = header_row + 1 if path.suffix.lower() in _TABLE else 1
    all_rows = np.arange(first, first + len(raw))
    raw, dropped = _filter_rows(raw, cfg, layer=layer, source=source, problems=problems)
    rows: list[int | None] = [
        FileRow(int(r), path.name) if several else int(r) for r in all_rows[raw.index.to_numpy()]
    ]
    raw = raw.reset_index(drop=True)
    out = _map_columns(raw, layer, cfg, source=source, problems=problems)
    out.attrs["dropped"] = {path.name: dropped} if dropped else {}
    if layer.geometry is None:
        return out, rows
    own = raw.crs if isinstance(raw, gpd.GeoDataFrame) else None
    crs, declared = file_crs(own, cfg, layer=layer.name, source=source, problems=problems)
    if crs is None:
        return None
    if not isinstance(raw, gpd.GeoDataFrame):
        geometry = _points_from_columns(raw, cfg, crs=crs, source=source, rows=rows, problems=problems)
    else:
        geometry = raw.geometry.set_crs(crs, allow_override=True)
        if cfg.get("repair"):
            geometry, repaired = _repair(geometry)
            if repaired:
                out.attrs["dropped"].setdefault(path.name, {})[
                    "invalid polygons repaired (make_valid), kept"
                ] = repaired
    if geometry is None:
        return None
    if reason := impossible_coordinates(geometry):
        minx, miny, maxx, maxy = (float(b) for b in geometry.total_bounds)
        bounds = (minx, miny, maxx, maxy)
        wrong.append(WrongCrs(layer.name, source, geometry.crs, bounds, declared, reason))
        return None
    return gpd.GeoDataFrame(out, geometry=geometry.values, crs=geometry.crs), rows


def _repair(geometry: gpd.GeoSeries) -> tuple[gpd.GeoSeries, int]:
    """Make invalid polygons valid (``repair = true``), keeping their polygonal parts; count them."""
    bad = geometry.notna() & ~geometry.is_valid
    if not bad.any():
        return geometry, 0
    fixed = geometry.copy()
    fixed[bad] = (
        geometry[bad]
        .make_valid()
        .map(
            lambda g: shapely.union_all(
                [p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]
            )
        )
    )
    return fixed, int(bad.sum())


def _filter_rows(
    raw: pd.DataFrame, cfg: dict, *, layer: Layer, source: str, problems: v.Problems
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep or drop rows by column values (``keep``, ``drop``) or a pandas ``query``; count what each drops.

    ``keep = {STATUS = ["Active"]}`` keeps the rows whose ``STATUS`` is listed; ``drop = {GRADES =
    ["Adult/Voc Ed"]}`` drops the rows whose ``GRADES`` is listed; ``query = "TOTAL_STUD > 0"`` keeps
    the rows where the expression holds. Columns are the file's own; values compare as text.
    """
    dropped: dict[str, int] = {}
    for how in ("keep", "drop"):
        table = cfg.get(how) or {}
        if not isinstance(table, dict):
            problems.add(
                "city.toml",
                None,
                f"layers.{layer.name}.{how}",
                f"{how} must be a table of column = [values]",
                f'write {how} = {{STATUS = ["Active"]}}',
            )
            continue
        for column, values in table.items():
            if column not in raw.columns:
                problems.add(
                    source,
                    None,
                    column,
                    f"{how} names column {column!r}, which is not in the file",
                    _suggest(column, list(raw.columns)),
                )
                continue
            wanted = {str(x).strip() for x in (values if isinstance(values, list) else [values])}
            listed = raw[column].map(lambda x: "" if v.is_missing(x) else v.parse_str(x)).isin(wanted)
            mask = listed if how == "keep" else ~listed
            if n := int((~mask).sum()):
                dropped[f"{how} {column}"] = n
            raw = raw[mask.to_numpy()]
    query = cfg.get("query")
    if query:
        try:
            kept = raw.query(str(query), engine="python")
        except Exception as err:  # noqa: BLE001 - any failure of the user's expression is reported
            problems.add(
                "city.toml",
                None,
                f"layers.{layer.name}.query",
                f"query {query!r} fails on {source}: {err}",
                'write a pandas expression over the file\'s columns, e.g. query = "TOTAL_STUD > 0"',
            )
        else:
            if n := len(raw) - len(kept):
                dropped[f"query {query}"] = n
            raw = kept
    return raw, dropped


def _map_columns(
    raw: pd.DataFrame, layer: Layer, cfg: dict, *, source: str, problems: v.Problems
) -> pd.DataFrame:
    """Rename the file's columns to canonical ones, apply value maps and defaults (values still raw)."""
    mapping = {str(k): str(c) for k, c in dict(cfg.get("columns", {})).items()}
    defaults = dict(cfg.get("defaults", {}))
    for key in sorted(set(defaults) - {f.name for f in layer.fields}):
        problems.add(
            "city.toml",
            None,
            f"layers.{layer.name}.defaults.{key}",
            f"{key!r} is not a field of {layer.name}",
            _suggest(key, [f.name for f in layer.fields]),
        )
    v.check_layer_columns(
        layer, list(raw.columns) + list(defaults), mapping, source=source, problems=problems
    )
    out = pd.DataFrame(index=raw.index)
    prefix = str(cfg.get("id_prefix", ""))
    for f in layer.fields:
        column = mapping.get(f.name, f.name)
        if column in raw.columns:
            values = raw[column]
            value_map = cfg.get("values", {}).get(f.name)
            if value_map:
                values = values.map(
                    lambda x, m=value_map: m.get(v.parse_str(x), x) if not v.is_missing(x) else x
                )
            if f.name == "id" and prefix:
                values = values.map(lambda x: x if v.is_missing(x) else prefix + v.parse_str(x))
            out[f.name] = values
            out.attrs.setdefault("columns", {})[f.name] = column
        elif f.name in defaults:
            out[f.name] = [defaults[f.name]] * len(raw)
    for group in layer.groups:
        group_map = {str(k): str(c) for k, c in dict(cfg.get(group, {})).items()}
        for key, column in group_map.items():
            if column not in raw.columns:
                problems.add(
                    source,
                    None,
                    column,
                    f"column {column!r} (for {group} {key}) is not in the file",
                    f"fix [layers.{layer.name}.{group}]",
                )
            else:
                out[f"{group}_{key}"] = raw[column]
                out.attrs.setdefault("columns", {})[f"{group}_{key}"] = column
        for column in raw.columns:
            if (
                column.startswith(f"{group}_")
                and column not in out.columns
                and column not in group_map.values()
            ):
                out[column] = raw[column]
    if "address" in cfg:  # the address columns, placed by facilities.geocode.place_students
        out = pd.concat(
            [out, address_columns(raw, cfg, layer=layer.name, source=source, problems=problems)], axis=1
        )
    if cfg.get("on_duplicate_id") == "number" and "id" in out:
        out["id"] = _number_duplicates(out["id"])
    out.attrs["units"] = {k: _UNITS.get(str(u).lower()) for k, u in dict(cfg.get("units", {})).items()}
    for key, unit in dict(cfg.get("units", {})).items():
        if str(unit).lower() not in _UNITS:
            problems.add(
                "city.toml",
                None,
                f"layers.{layer.name}.units.{key}",
                f"unknown unit {unit!r}",
                f"use one of {', '.join(_UNITS)}",
            )
    return out


def _number_duplicates(ids: pd.Series) -> pd.Series:
    """Give repeated ids a suffix: the second ``A`` becomes ``A-2`` (a school's second campus, say)."""
    text = ids.map(lambda x: x if v.is_missing(x) else v.parse_str(x))
    nth = text.groupby(text).cumcount() + 1
    return text.where(nth == 1, text.astype(str) + "-" + nth.astype(str))


def _points_from_columns(
    raw: pd.DataFrame, cfg: dict, *, crs: object, source: str, rows: list[int | None], problems: v.Problems
) -> gpd.GeoSeries | None:
    """Points from a table's coordinate columns (``x``/``y`` keys of the layer's config), in ``crs``."""
    xcol = cfg.get("x") or next(
        (c for c in ("lon", "longitude", "x", "X", "Longitude", "LON") if c in raw.columns), None
    )
    ycol = cfg.get("y") or next(
        (c for c in ("lat", "latitude", "y", "Y", "Latitude", "LAT") if c in raw.columns), None
    )
    if (
        (xcol not in raw.columns or ycol not in raw.columns) and "address" in cfg and "x" not in cfg
    ):  # only addresses
        return gpd.GeoSeries(
            gpd.points_from_xy(np.full(len(raw), np.nan), np.full(len(raw), np.nan)), index=raw.index, crs=crs
        )
    if xcol not in raw.columns or ycol not in raw.columns:
        problems.add(
            source,
            None,
            None,
            "no coordinate columns found",
            'name them in city.toml: x = "lon", y = "lat" (and crs = "EPSG:4326")',
        )
        return None
    xs = np.full(len(raw), np.nan)
    ys = np.full(len(raw), np.nan)
    for i, (x, y, row) in enumerate(zip(raw[xcol].tolist(), raw[ycol].tolist(), rows, strict=True)):
        try:
            xs[i], ys[i] = float(x), float(y)
            if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
                raise ValueError
        except (TypeError, ValueError):
            if "address" in cfg and v.is_missing(x) and v.is_missing(y):  # placed from its address
                xs[i] = ys[i] = np.nan
                continue
            problems.add(
                source,
                row,
                f"{xcol}/{ycol}",
                f"coordinates ({x!r}, {y!r}) are not numbers",
                "fill in both coordinates",
            )
            xs[i] = ys[i] = np.nan
    return gpd.GeoSeries(gpd.points_from_xy(xs, ys), index=raw.index, crs=crs)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    Examples
    --------
    >>> with atomic_write("out/summary.json") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


#: The date written into every GeoPackage (it would otherwise record the time of writing).
_GPKG_DATE = "2000-01-01T00:00:00Z"


def write_geo(frame: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str | None = None) -> Path:
    """Write a GeoDataFrame in WGS84 atomically; the format follows the suffix (.gpkg, .geojson, .parquet).

    A GeoPackage with several layers is written one call per layer to the same path; each call
    rewrites the file through a temporary copy, so a failure leaves the previous file intact. A
    GeoPackage records when it was written: a fixed date keeps the same data the same bytes. The
    frame's ``attrs`` are not written (GeoParquet would store them).
    """
    target = Path(path)
    out = frame.to_crs(4326) if frame.crs is not None else frame.copy()
    out.attrs = {}  # a layer's row provenance (facilities._rows) is for messages, never for files
    with atomic_write(target) as tmp:
        if target.suffix == ".parquet":
            out.to_parquet(tmp)
        elif target.suffix == ".gpkg":
            if layer is not None and target.exists():
                tmp.write_bytes(target.read_bytes())
            before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
            try:
                out.to_file(tmp, layer=layer or target.stem, driver="GPKG")
            finally:
                pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})
        else:
            out.to_file(tmp, driver="GeoJSON")
    return target
