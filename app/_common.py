"""What every ``compact`` command shares: errors without tracebacks, loading a city, travel times,
progress and writing files."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd
import typer

from facilities import City, ValidationError, read_city
from facilities.io import atomic_write

__all__ = [
    "guarded",
    "guard_commands",
    "echo",
    "load_city",
    "travel_model_for",
    "travel_for",
    "write_csv",
    "write_json",
    "progress_printer",
    "INTERRUPTED",
]

#: Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130

STRAIGHT_LINE = "straight-line model (Manhattan distance x 1.3 at 20 mph; no street network)"


def echo(message: str) -> None:
    """Print a progress or status line on stderr (results go to stdout)."""
    typer.echo(message, err=True)


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command so that no input ends in a traceback.

    A :class:`facilities.ValidationError` prints its problems and exits 1; a missing or unwritable
    file prints its name and exits 1; Ctrl-C exits 130 (output folders are written whole or not at
    all, see :mod:`app.outputs`); anything else is a bug of ours: one line saying so, exit 1
    (``COMPACT_DEBUG=1`` shows the traceback).
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ValidationError as err:
            echo(str(err))
        except KeyboardInterrupt:
            echo("interrupted: stopped before the end; no output folder was changed")
            raise typer.Exit(code=INTERRUPTED) from None
        except OSError as err:
            where = f": {err.filename}" if err.filename else ""
            echo(f"{err.strerror or err}{where} — check the path and that you may read (or write) it")
        except Exception as err:  # the last line of defence: no traceback for users
            if os.environ.get("COMPACT_DEBUG"):
                raise
            echo(f"error: {type(err).__name__}: {err}")
            echo(
                "this is a bug in Compact planner, not in your files: please report it with the command "
                "you ran (COMPACT_DEBUG=1 shows where it happened)"
            )
        raise typer.Exit(code=1)

    return run


def guard_commands(*apps: typer.Typer) -> None:
    """Wrap every command of ``apps`` (and of the sub-apps added to them) in :func:`guarded`."""
    for one in apps:
        for info in one.registered_commands:
            if info.callback is not None and not hasattr(info.callback, "__wrapped__"):
                info.callback = guarded(info.callback)
        groups = [group.typer_instance for group in one.registered_groups]
        guard_commands(*(group for group in groups if group is not None))


def load_city(city_dir: Path) -> City:
    """Read a city folder, or print every problem in it and exit with status 1."""
    try:
        city = read_city(city_dir)
    except ValidationError as err:
        echo(str(err))
        raise typer.Exit(code=1) from None
    for line in unplaced(city):  # every result below leaves them out
        echo(line)
    return city


def unplaced(city: City) -> list[str]:
    """The warning that students whose address matched nothing are left out, for every output that
    counts students (empty when every student is placed)."""
    n = city.geocoding.not_placed if city.geocoding is not None else 0
    return [f"{n:,} students not placed (addresses unmatched): left out of every result"] if n else []


def travel_model_for(city: City) -> tuple[Any, str]:
    """The city's travel model (its compiled street network, else the straight-line model) and what it is.

    Raises
    ------
    ValidationError
        The city names a street network that cannot be read, holds no streets or does not cover
        the city (:func:`routing.network.check_network`).
    """
    from routing.network import check_network
    from routing.travel import StraightLineModel

    if city.network is None:
        return StraightLineModel(crs=city.crs), STRAIGHT_LINE
    layers = {"schools": city.schools, "students": city.students}
    checked = check_network(city.network, crs=city.crs, layers=layers, city=city.name)
    for note in checked.notes:
        echo(f"warning: {note}")
    return checked.network, "street network travel times"


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
