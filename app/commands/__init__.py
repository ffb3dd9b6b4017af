"""One typer sub-app per capability, mounted by :mod:`app.cli`."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path


def city_output(
    out: Path,
    city_dir: Path,
    *,
    command: str,
    settings: dict[str, object],
    seed: int | None = None,
    files: Iterable[Path | None] = (),
) -> AbstractContextManager[Path]:
    """The output folder of a command run on a city (:func:`app.outputs.output_folder`): written whole
    or not at all, its manifest naming the city's input files and the other ``files`` given."""
    from app._common import echo
    from app.outputs import city_inputs, output_folder

    inputs = [*city_inputs(city_dir), *(f for f in files if f is not None)]
    return output_folder(out, command=command, inputs=inputs, settings=settings, seed=seed, say=echo)
