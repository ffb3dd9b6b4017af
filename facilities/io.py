"""Read a city folder (``city.toml`` + layer files) into a :class:`~facilities.city.City`; write results.

A city folder holds the user's own files; ``city.toml`` names each layer's file and maps its
columns and values onto the canonical schema of :mod:`facilities.schema`. See the README's
"A city is a folder" section for the format.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from facilities import _files
from facilities import _validate as v
from facilities.city import City, NetworkSpec, _assemble
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
        problems.add(str(manifest), None, None, "no city.toml here", "point at a city folder (one with a city.toml), or create one (see README: 'A city is a folder')")
        problems.raise_if_any(city=str(root))
    try:
        config = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        problems.add(str(manifest), None, None, f"not valid TOML: {err}", "fix the syntax (strings in double quotes, one key per line)")
        problems.raise_if_any(city=str(root))
    settings = parse_settings(config, problems=problems)
    name = settings.city.name or root.name
    layers_cfg = config.get("layers", {})
    for unknown in sorted(set(layers_cfg) - set(LAYERS)):
        problems.add("city.toml", None, None, f"unknown layer [layers.{unknown}]", f"use {', '.join(LAYERS)}")
    if "schools" not in layers_cfg:
        problems.add("city.toml", None, None, "no [layers.schools] table", "add one naming the schools file: [layers.schools] file = \"schools.csv\"")
    frames: dict[str, pd.DataFrame] = {}
    rows: dict[str, list[int | None]] = {}
    for layer_name, layer in LAYERS.items():
        cfg = layers_cfg.get(layer_name)
        if not isinstance(cfg, dict):
            continue
        loaded = _read_layer(root, layer, cfg, problems)
        if loaded is not None:
            frames[layer_name], rows[layer_name] = loaded
    network = _network_spec(root, settings.network, problems)
    _files.check_extra_file(root, settings.map.water, key="map.water", problems=problems)
    tables = {k for k in frames if Path(str(layers_cfg[k].get("file"))).suffix.lower() in _TABLE}
    sources = {k: str(layers_cfg[k].get("file")) for k in frames}
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
        problems.add("city.toml", None, None, "[network] needs exactly one of file, place or bbox", "e.g. file = \"streets.graphml\"")
    elif spec.file is not None and not spec.file.exists():
        problems.add("city.toml", None, "network.file", f"street network file {cfg.file!r} not found in {root}", "put the file in the city folder or fix its name")
    elif spec.file is not None:
        _files.check_network_file(spec.file, problems=problems)
    return spec


def read_layer_file(path: Path, *, sheet: str | int | None = None, header_row: int = 1, encoding: str | None = None) -> pd.DataFrame:
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
        return pd.read_csv(path, sep=sep, engine="python", dtype=str, keep_default_na=False, skiprows=header_row - 1, encoding=encoding or "utf-8-sig")
    if suffix in (".xlsx", ".xls"):
        return pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, header=header_row - 1, dtype=object)
    if suffix == ".parquet":
        try:
            return gpd.read_parquet(path)
        except ValueError:
            return pd.read_parquet(path)
    return gpd.read_file(path)


def _read_layer(root: Path, layer: Layer, cfg: dict, problems: v.Problems) -> tuple[pd.DataFrame, list[int | None]] | None:
    """Read one layer's file and rename/convert its columns to canonical ones (values still raw)."""
    file = cfg.get("file")
    if not file:
        problems.add("city.toml", None, None, f"[layers.{layer.name}] names no file", f"add file = \"{layer.name}.csv\"")
        return None
    path = root / str(file)
    source = str(file)
    if not path.exists():
        problems.add(source, None, None, f"file not found in {root}", f"put {file!r} in the city folder or fix [layers.{layer.name}] file")
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
    tabular = not isinstance(raw, gpd.GeoDataFrame)
    first = header_row + 1 if path.suffix.lower() in _TABLE else 1
    rows: list[int | None] = list(range(first, first + len(raw)))
    mapping = {str(k): str(c) for k, c in dict(cfg.get("columns", {})).items()}
    defaults = dict(cfg.get("defaults", {}))
    v.check_layer_columns(layer, list(raw.columns) + list(defaults), mapping, source=source, problems=problems)
    out = pd.DataFrame(index=raw.index)
    for f in layer.fields:
        column = mapping.get(f.name, f.name)
        if column in raw.columns:
            values = raw[column]
            value_map = cfg.get("values", {}).get(f.name)
            if value_map:
                values = values.map(lambda x, m=value_map: m.get(v.parse_str(x), x) if not v.is_missing(x) else x)
            out[f.name] = values
            out.attrs.setdefault("columns", {})[f.name] = column
        elif f.name in defaults:
            out[f.name] = [defaults[f.name]] * len(raw)
    for group in layer.groups:
        group_map = {str(k): str(c) for k, c in dict(cfg.get(group, {})).items()}
        for key, column in group_map.items():
            if column not in raw.columns:
                problems.add(source, None, column, f"column {column!r} (for {group} {key}) is not in the file", f"fix [layers.{layer.name}.{group}]")
            else:
                out[f"{group}_{key}"] = raw[column]
                out.attrs.setdefault("columns", {})[f"{group}_{key}"] = column
        for column in raw.columns:
            if column.startswith(f"{group}_") and column not in out.columns and column not in group_map.values():
                out[column] = raw[column]
    if cfg.get("on_duplicate_id") == "number" and "id" in out:
        out["id"] = _number_duplicates(out["id"])
    out.attrs["units"] = {k: _UNITS.get(str(u).lower()) for k, u in dict(cfg.get("units", {})).items()}
    for key, unit in dict(cfg.get("units", {})).items():
        if str(unit).lower() not in _UNITS:
            problems.add("city.toml", None, f"layers.{layer.name}.units.{key}", f"unknown unit {unit!r}", f"use one of {', '.join(_UNITS)}")
    if layer.geometry is None:
        return out, rows
    if tabular:
        geometry = _points_from_columns(raw, cfg, source=source, rows=rows, problems=problems)
    else:
        geometry = raw.geometry if raw.crs is not None else raw.geometry.set_crs(cfg.get("crs", "EPSG:4326"))
    if geometry is None:
        return None
    return gpd.GeoDataFrame(out, geometry=geometry.values, crs=geometry.crs), rows


def _number_duplicates(ids: pd.Series) -> pd.Series:
    """Give repeated ids a suffix: the second ``A`` becomes ``A-2`` (a school's second campus, say)."""
    text = ids.map(lambda x: x if v.is_missing(x) else v.parse_str(x))
    nth = text.groupby(text).cumcount() + 1
    return text.where(nth == 1, text.astype(str) + "-" + nth.astype(str))


def _points_from_columns(raw: pd.DataFrame, cfg: dict, *, source: str, rows: list[int | None], problems: v.Problems) -> gpd.GeoSeries | None:
    """Points from a table's coordinate columns (``x``/``y`` keys of the layer's config)."""
    xcol = cfg.get("x") or next((c for c in ("lon", "longitude", "x", "X", "Longitude", "LON") if c in raw.columns), None)
    ycol = cfg.get("y") or next((c for c in ("lat", "latitude", "y", "Y", "Latitude", "LAT") if c in raw.columns), None)
    if xcol not in raw.columns or ycol not in raw.columns:
        problems.add(source, None, None, "no coordinate columns found", "name them in city.toml: x = \"lon\", y = \"lat\" (and crs = \"EPSG:4326\")")
        return None
    xs = np.full(len(raw), np.nan)
    ys = np.full(len(raw), np.nan)
    for i, (x, y, row) in enumerate(zip(raw[xcol].tolist(), raw[ycol].tolist(), rows, strict=True)):
        try:
            xs[i], ys[i] = float(x), float(y)
            if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
                raise ValueError
        except (TypeError, ValueError):
            problems.add(source, row, f"{xcol}/{ycol}", f"coordinates ({x!r}, {y!r}) are not numbers", "fill in both coordinates")
            xs[i] = ys[i] = np.nan
    crs = cfg.get("crs", "EPSG:4326")
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


def write_geo(frame: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str | None = None) -> Path:
    """Write a GeoDataFrame in WGS84 atomically; the format follows the suffix (.gpkg, .geojson, .parquet).

    A GeoPackage with several layers is written one call per layer to the same path; each call
    rewrites the file through a temporary copy, so a failure leaves the previous file intact.
    """
    target = Path(path)
    out = frame.to_crs(4326) if frame.crs is not None else frame
    with atomic_write(target) as tmp:
        if target.suffix == ".parquet":
            out.to_parquet(tmp)
        elif target.suffix == ".gpkg":
            if layer is not None and target.exists():
                tmp.write_bytes(target.read_bytes())
            out.to_file(tmp, layer=layer or target.stem, driver="GPKG")
        else:
            out.to_file(tmp, driver="GeoJSON")
    return target
