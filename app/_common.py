"""What every ``compact`` command shares: loading a city, travel times, progress and writing files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from facilities import City, ValidationError, read_city
from facilities.io import atomic_write

__all__ = ["echo", "load_city", "travel_model_for", "travel_for", "write_csv", "write_json", "progress_printer"]

STRAIGHT_LINE = "straight-line model (Manhattan distance x 1.3 at 20 mph; no street network)"


def echo(message: str) -> None:
    """Print a progress or status line on stderr (results go to stdout)."""
    typer.echo(message, err=True)


def load_city(city_dir: Path) -> City:
    """Read a city folder, or print every problem in it and exit with status 1."""
    try:
        city = read_city(city_dir)
    except ValidationError as err:
        echo(str(err))
        raise typer.Exit(code=1) from None
    if city.geocoding is not None and city.geocoding.not_placed:  # every result below leaves them out
        echo(f"{city.geocoding.not_placed:,} students not placed (addresses unmatched): left out of every result")
    return city


def travel_model_for(city: City) -> tuple[Any, str]:
    """The city's travel model (its compiled street network, else the straight-line model) and what it is."""
    from routing.travel import StraightLineModel, travel_model

    if city.network is not None:
        try:
            return travel_model(city.network, crs=city.crs), "street network travel times"
        except Exception as err:  # noqa: BLE001 - any network failure falls back, and says so
            echo(f"street network unavailable ({err}); using the straight-line model")
    return StraightLineModel(crs=city.crs), STRAIGHT_LINE


def travel_for(city: City) -> tuple[Callable[..., Any], str]:
    """The city's travel-time callable ``(origins, destinations) -> seconds`` and what it is."""
    model, how = travel_model_for(city)
    return model.matrix, how


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table atomically (a temporary name, then renamed)."""
    with atomic_write(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def write_json(obj: Any, path: Path) -> Path:
    """Write JSON atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")
    return path


def progress_printer(quiet: bool = False, *, every: float = 2.0) -> Callable[[str, float], None]:
    """A ``progress(message, fraction)`` callback printing to stderr at most every ``every`` seconds."""
    state = {"last": 0.0}

    def say(message: str, fraction: float) -> None:
        now = time.monotonic()
        if not quiet and (now - state["last"] > every or fraction >= 1):
            echo(f"[{fraction:4.0%}] {message}")
            state["last"] = now

    return say
