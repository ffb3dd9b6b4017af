"""``--private-out`` and ``compact bells sweep`` are written as ``--out`` is: whole or not at all, one run
at a time, each folder with its manifest (:mod:`app.outputs`)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.outputs import MANIFEST, check_apart, output_folder, private_folder
from facilities import ValidationError
from tests.test_outputs import kill_at
from tests.test_scenarios import city_folder

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from app.outputs import output_folder, private_folder

    out, private, tag, pause = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    with output_folder(out, command="test") as tmp, private_folder(private, out=out, command="test") as ptmp:
        (tmp / "public.txt").write_text(tag * 1000)
        for k in range(4):
            (ptmp / f"private{k}.txt").write_text(tag * 10_000)
            print(f"wrote {k}", flush=True)
            time.sleep(pause)
    print("done", flush=True)
    """
)


def _files(folder: Path) -> dict[str, str]:
    """The folder's files and checksums, after checking they are exactly those of its manifest."""
    manifest = json.loads((folder / MANIFEST).read_text())
    found = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    assert found == {name: entry["sha256"] for name, entry in manifest["files"].items()}, "whole"
    return found


def _tag(folder: Path) -> str:
    tags = {(folder / name).read_text()[:3] for name in _files(folder)}
    assert len(tags) == 1, "every file comes from the same run"
    return tags.pop()


def _writer(out: Path, private: Path, tag: str, pause: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out), str(private), tag, str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )


@pytest.mark.parametrize("killed_after", [0, 2])
def test_a_run_killed_while_writing_private_files_leaves_the_old_private_folder_whole(
    tmp_path: Path, killed_after: int
) -> None:
    out, private = tmp_path / "out", tmp_path / "private"
    first = _writer(out, private, "old", 0.0)
    assert first.wait(timeout=120) == 0, first.stderr.read()  # type: ignore[union-attr]
    assert _tag(private) == "old" and len(_files(private)) == 4
    kill_at(_writer(out, private, "new", 0.3), f"wrote {killed_after}")
    assert _tag(private) == "old" and len(_files(private)) == 4, "the old private folder, whole"
    assert _tag(out) == "old"
    third = _writer(out, private, "new", 0.0)
    assert third.wait(timeout=120) == 0
    assert _tag(private) == "new" and _tag(out) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "private"], "leftovers removed"


def test_a_private_folder_without_private_out_writes_nothing(tmp_path: Path) -> None:
    with (
        output_folder(tmp_path / "out", command="test") as tmp,
        private_folder(None, out=tmp_path / "out", command="test") as private,
    ):
        assert private is None
        (tmp / "a.txt").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("private", ["out", "out/private", "."])
def test_private_out_must_lie_outside_out(tmp_path: Path, private: str) -> None:
    with pytest.raises(ValidationError, match="--private-out"):
        check_apart(tmp_path / "out", tmp_path / private)
    check_apart(tmp_path / "out", tmp_path / "private")  # side by side is fine


def test_compare_refuses_a_private_folder_inside_out_before_its_work(tmp_path: Path) -> None:
    from app.cli import app

    city = city_folder(tmp_path / "city")
    out = tmp_path / "out"
    args = ["bells", "compare", str(city), "--out", str(out), "--private-out", str(out / "private")]
    result = CliRunner().invoke(app, [*args, "--quiet"])
    assert result.exit_code == 1 and "nested with --out" in result.output and "Traceback" not in result.output
    assert not out.exists()


SWEEP = '[[scenario]]\nname = "status quo"\n[[scenario]]\nname = "aligned"\nkind = "aligned"\n'


def _sweep_args(tmp_path: Path, out: Path) -> list[str]:
    (tmp_path / "s.toml").write_text(SWEEP)
    return [
        *("bells", "sweep", str(tmp_path / "city"), "--scenarios", str(tmp_path / "s.toml")),
        *("--out", str(out), "--time-limit", "2", "--prepare-time", "4", "--am-only", "--workers", "1"),
        "--quiet",
    ]


def test_bells_sweep_writes_a_whole_folder_one_run_at_a_time(tmp_path: Path) -> None:
    from app.cli import app

    city_folder(tmp_path / "city")
    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, _sweep_args(tmp_path, out))
    assert result.exit_code == 0, result.output
    files = _files(out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(files) == {"sweep.csv"} and manifest["command"] == "bells sweep" and manifest["seed"] == 0
    assert str(tmp_path / "s.toml") in manifest["inputs"]  # the scenarios are an input of the run
    (tmp_path / ".sweep.lock").write_text(str(os.getppid()))  # a live process holds the folder
    busy = CliRunner().invoke(app, _sweep_args(tmp_path, out))
    assert busy.exit_code == 1 and "is writing this folder" in busy.output
    assert _files(out) == files, "the folder is untouched"
    (tmp_path / ".sweep.lock").unlink()
    as_file = CliRunner().invoke(app, _sweep_args(tmp_path, tmp_path / "sweep.csv"))
    assert as_file.exit_code == 1 and f"--out {tmp_path / 'sweep'}" in as_file.output
    assert not (tmp_path / "sweep.csv").exists()


def test_a_sweep_killed_while_it_works_leaves_the_old_folder_whole(tmp_path: Path) -> None:
    city_folder(tmp_path / "city")
    out = tmp_path / "sweep"
    args = [sys.executable, "-c", "from app.cli import main; main()", *_sweep_args(tmp_path, out)]
    first = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    before = _files(out)
    process = subprocess.Popen(  # its own process group: the kill takes its workers too, as a power cut would
        args, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    lock = tmp_path / ".sweep.lock"
    for _ in range(600):  # the run holds the lock from the start of its work
        if lock.exists() and list(tmp_path.glob(".sweep.tmp-*")):
            break
        time.sleep(0.1)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert _files(out) == before, "the old folder, whole"
    again = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "interrupted run" in again.stderr, again.stderr
    assert _files(out) == before, "the same inputs and seed give the same folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city", "s.toml", "sweep"]


LOTTERY = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from facilities.lottery.result import LotteryResult
    from app.cli import main

    written = LotteryResult.to_csv

    def slowly(self, path, **kwargs):
        done = written(self, path, **kwargs)
        print(f"wrote {Path(path).name}", flush=True)
        time.sleep(0.5)
        return done

    LotteryResult.to_csv = slowly
    sys.argv = ["compact", *sys.argv[1:]]
    main()
    """
)


def _lottery(tmp_path: Path, seed: int) -> list[str]:
    city, out, private = (str(tmp_path / name) for name in ("city", "out", "private"))
    args = ["zones", "lottery", city, "--out", out, "--private-out", private, "--seed", str(seed)]
    return [sys.executable, "-c", LOTTERY, *args]


def test_a_lottery_killed_while_writing_its_private_folder_leaves_both_folders_whole(tmp_path: Path) -> None:
    from bench.bench_zones import synthetic
    from tests.test_zones import _write_city

    _write_city(tmp_path / "city", *synthetic(30, seed=8))
    first = subprocess.run(_lottery(tmp_path, 1), cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    private, out = _files(tmp_path / "private"), _files(tmp_path / "out")
    assert set(private) == {"assignments.csv", "waitlists.csv"}
    manifest = json.loads((tmp_path / "private" / MANIFEST).read_text())
    assert manifest["command"] == "zones lottery (private)"
    assert not any(name.endswith("waitlists.csv") for name in os.listdir(tmp_path)), "nothing beside it"
    process = subprocess.Popen(_lottery(tmp_path, 2), cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    kill_at(process, "wrote assignments.csv")  # the new assignments written, not yet the waitlists
    assert _files(tmp_path / "private") == private and _files(tmp_path / "out") == out, "the old, whole"
    again = subprocess.run(_lottery(tmp_path, 2), cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert again.returncode == 0 and "interrupted run" in again.stderr, again.stderr
    assert set(_files(tmp_path / "private")) == {"assignments.csv", "waitlists.csv"}
    assert json.loads((tmp_path / "private" / MANIFEST).read_text())["seed"] == 2, "the new run's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city", "out", "private"], "leftovers removed"


@pytest.mark.parametrize(
    ("private", "said"),
    [("out/private", "nested with --out"), ("private.csv", "option '--private-out': is a folder")],
)
def test_the_lottery_refuses_a_private_folder_inside_out_or_named_as_a_file(
    tmp_path: Path, private: str, said: str
) -> None:
    from app.cli import app
    from bench.bench_zones import synthetic
    from tests.test_zones import _write_city

    _write_city(tmp_path / "city", *synthetic(30, seed=8))
    out = tmp_path / "out"
    args = [
        "zones",
        "lottery",
        str(tmp_path / "city"),
        "--out",
        str(out),
        "--private-out",
        str(tmp_path / private),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and said in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city"], "nothing written"
