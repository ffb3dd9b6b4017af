"""Output folders that are all or nothing, one run at a time, each with a manifest.

Every command that writes ``--out DIR`` writes inside :func:`output_folder`:

- files go to a temporary folder next to ``DIR`` (``.DIR.tmp-<pid>-…``); only when every file is
  written is it put in place of ``DIR`` (one atomic exchange of the two folders on Linux, two
  renames elsewhere), so ``DIR`` is always the previous run's folder or the new one, whole;
- a lock file (``.DIR.lock``, holding the run's process id) stops a second run on the same ``DIR``
  with a clear message; the lock of a run that was killed is recognized (its process is gone) and
  taken over, and that run's leftovers are removed and named;
- the folder named by ``--private-out`` is written the same way (:func:`private_folder`): whole or
  not at all, locked, with its own manifest; it may not lie inside ``--out`` nor hold it;
- ``manifest.json`` in the folder says which run made it: the command, the inputs' SHA-256
  checksums, the settings, the seed, the version and every file written with its checksum. It
  holds no clock time, so the same inputs and seed give the same folder, byte for byte.

>>> with output_folder(Path("out/zones"), command="zones coverage") as tmp:  # doctest: +SKIP
...     (tmp / "summary.json").write_text("{}")
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from facilities import Problem, ValidationError

__all__ = [
    "MANIFEST",
    "OutputBusy",
    "check_apart",
    "check_folder",
    "city_inputs",
    "output_file",
    "output_folder",
    "output_folders",
    "private_folder",
]

MANIFEST = "manifest.json"


class OutputBusy(ValidationError):
    """Another run is writing the same output folder."""


def output_folder(
    out: Path,
    *,
    command: str,
    inputs: Iterable[Path] = (),
    settings: Any = None,
    seed: int | None = None,
    say: Any = None,
) -> contextlib.AbstractContextManager[Path]:
    """A temporary folder to write a run's outputs in, put in place of ``out`` when the block succeeds.

    Parameters
    ----------
    out
        The output folder the user named (``--out``).
    command
        The command, for the manifest (``"bells compare"``).
    inputs
        Input files whose checksums go in the manifest (:func:`city_inputs` lists a city's).
    settings
        The run's settings and options, for the manifest (made JSON with ``str`` for the rest).
    seed
        The run's seed.
    say
        Called with a line about leftovers of an interrupted run that were removed.

    Raises
    ------
    OutputBusy
        Another run (alive) holds the lock of ``out``.
    """
    return _output_folder(
        Path(out), command=command, inputs=list(inputs), settings=settings, seed=seed, say=say
    )


@contextlib.contextmanager
def _output_folder(
    out: Path, *, command: str, inputs: list[Path], settings: Any, seed: int | None, say: Any
) -> Iterator[Path]:
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    lock = parent / f".{out.name}.lock"
    _acquire(lock, out)
    try:
        _clean_leftovers(out, say)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # a folder like any other once in place (mkdtemp makes it private)
        try:
            yield tmp
            _write_manifest(tmp, command=command, inputs=inputs, settings=settings, seed=seed)
            _put_in_place(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


@contextlib.contextmanager
def private_folder(
    private_out: Path | None,
    *,
    out: Path | None,
    command: str,
    inputs: Iterable[Path] = (),
    settings: Any = None,
    seed: int | None = None,
    say: Any = None,
) -> Iterator[Path | None]:
    """A temporary folder for the private outputs (``--private-out``), put in place of ``private_out``
    when the block succeeds, exactly as :func:`output_folder` puts ``out`` in place; ``None`` (and
    nothing written) without ``private_out``.

    Used inside the ``with`` of :func:`output_folder`, it is put in place first: a run stopped
    between the two leaves each folder whole (the new private one and the previous public one).

    Parameters
    ----------
    private_out
        The private folder the user named, or ``None``.
    out
        The public output folder (``--out``), if any: the two may not lie one inside the other,
        since putting one in place would replace the other's files.
    command, inputs, settings, seed, say
        As for :func:`output_folder` (the manifest says ``"<command> (private)"``).

    Raises
    ------
    ValidationError
        When one folder lies inside the other (or they are the same).
    OutputBusy
        Another run (alive) holds the lock of ``private_out``.
    """
    if private_out is None:
        yield None
        return
    if out is not None:
        check_apart(out, private_out)
    with output_folder(
        Path(private_out),
        command=f"{command} (private)",
        inputs=inputs,
        settings=settings,
        seed=seed,
        say=say,
    ) as tmp:
        yield tmp


@contextlib.contextmanager
def output_folders(
    out: Path | None,
    private_out: Path | None,
    *,
    command: str,
    inputs: Iterable[Path] = (),
    settings: Any = None,
    seed: int | None = None,
    say: Any = None,
) -> Iterator[tuple[Path | None, Path | None]]:
    """:func:`output_folder` for ``out`` and :func:`private_folder` for ``private_out`` (each optional,
    ``None`` for a folder not asked for), both locked for the whole block.

    A command does its work inside the block: a second run on the same folder is stopped before it
    starts, not after. The private folder is put in place first.

    Raises
    ------
    ValidationError
        When one folder lies inside the other.
    OutputBusy
        Another run (alive) holds the lock of either folder.
    """
    run = {"command": command, "inputs": list(inputs), "settings": settings, "seed": seed, "say": say}
    if out is not None and private_out is not None:
        check_apart(out, private_out)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(output_folder(out, **run)) if out is not None else None
        private = stack.enter_context(private_folder(private_out, out=out, **run))
        yield tmp, private


def check_folder(folder: Path, *, option: str, holds: str) -> None:
    """Stop when a folder option was given a file's name (``--out sweep.csv``).

    Parameters
    ----------
    folder
        The path the user gave.
    option
        The option's name, for the message (``"--out"``).
    holds
        What the folder will hold, for the message (``"sweep.csv and manifest.json"``).

    Raises
    ------
    ValidationError
        Naming the option and the folder to give instead.
    """
    if Path(folder).suffix.lower() in (".csv", ".json", ".parquet", ".gpkg"):
        raise ValidationError(
            [
                Problem(
                    str(folder),
                    None,
                    option,
                    f"is a folder, not a file ({holds} are written in it)",
                    f"write {option} {Path(folder).with_suffix('')}",
                )
            ],
            city=str(folder),
        )


def check_apart(out: Path, private_out: Path) -> None:
    """Stop when ``private_out`` and ``out`` are the same folder or one lies inside the other.

    Raises
    ------
    ValidationError
        Naming both folders and the fix.
    """
    public, private = Path(out).resolve(), Path(private_out).resolve()
    if public == private or public in private.parents or private in public.parents:
        raise ValidationError(
            [
                Problem(
                    str(private_out),
                    None,
                    "--private-out",
                    f"is {'the same folder as' if public == private else 'nested with'} --out {out}",
                    "give --private-out a folder of its own, outside --out (e.g. private/bells)",
                )
            ],
            city=str(private_out),
        )


@contextlib.contextmanager
def output_file(out: Path) -> Iterator[Path]:
    """A temporary path for a single output file (``--out plan.csv``), renamed onto ``out`` when the
    block succeeds; the same lock as :func:`output_folder` stops a second run on the same file.

    Raises
    ------
    OutputBusy
        Another run (alive) is writing ``out``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    _acquire(lock, out, what="file")
    try:
        _clean_leftovers(out, None)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}{out.suffix}")
        try:
            yield tmp
            os.replace(tmp, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _acquire(lock: Path, out: Path, *, what: str = "folder") -> None:
    """Create the lock (holding our pid); take over a dead run's; refuse a live one's."""
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = _lock_pid(lock)
            if pid is not None and _alive(pid):
                raise OutputBusy(
                    [
                        Problem(
                            str(out),
                            None,
                            None,
                            f"another run (process {pid}) is writing this {what}",
                            f"wait for it to finish, or choose another --out (the lock is {lock})",
                        )
                    ],
                    city=str(out),
                ) from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # its run was killed: take over
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return
    raise OutputBusy(
        [
            Problem(
                str(out), None, None, f"could not lock the {what}", f"remove {lock} if no run is writing it"
            )
        ],
        city=str(out),
    )


def _lock_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_leftovers(out: Path, say: Any) -> None:
    """Remove the temporary folders of runs that were killed (we hold the lock: none is alive)."""
    leftovers = sorted(out.parent.glob(f".{out.name}.tmp-*"))
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if leftovers and say is not None:
        say(
            f"removed {len(leftovers)} unfinished output folder{'s' if len(leftovers) > 1 else ''} "
            "of an interrupted run "
            f"({', '.join(p.name for p in leftovers)}); {out} is the last complete run's"
        )


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``); false where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _put_in_place(tmp: Path, out: Path) -> None:
    """``tmp`` becomes ``out``; the previous ``out`` ends in ``tmp`` (removed by the caller)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        return
    old = tmp.with_name(tmp.name + "-old")
    os.rename(out, old)
    os.rename(tmp, out)
    os.rename(old, tmp)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(
    folder: Path, *, command: str, inputs: list[Path], settings: Any, seed: int | None
) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    try:
        version = metadata.version("compact-planner")
    except metadata.PackageNotFoundError:
        version = "unknown"
    manifest = {
        "command": command,
        "arguments": sys.argv[1:],
        "version": version,
        "seed": seed,
        "inputs": {str(p): _sha256(p) for p in inputs if p.is_file()},
        "settings": settings,
        "files": {
            str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files
        },
    }
    (folder / MANIFEST).write_text(
        json.dumps(manifest, indent=2, default=str, sort_keys=True), encoding="utf-8"
    )


def city_inputs(city_dir: Path) -> list[Path]:
    """A city folder's input files: its ``city.toml`` and every file it names (layers, streets, water)."""
    toml = city_dir / "city.toml" if city_dir.is_dir() else city_dir
    root = toml.parent
    try:
        config = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return [toml]
    named = [cfg.get("file") for cfg in (config.get("layers") or {}).values() if isinstance(cfg, dict)]
    named += [(config.get("network") or {}).get("file"), (config.get("map") or {}).get("water")]
    files = [toml]
    for name in named:
        for one in name if isinstance(name, list) else [name]:
            if isinstance(one, str) and (root / one).is_file():
                files.append(root / one)
    return files
