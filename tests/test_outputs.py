"""Output folders are all or nothing: killed runs, failed runs and runs side by side leave the old
folder or the new one, whole, and every folder says which run made it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.outputs import MANIFEST, OutputBusy, output_folder

ROOT = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from app.outputs import output_folder

    out, tag, pause = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    with output_folder(out, command="test", seed=7, say=print) as tmp:
        for k in range(4):
            (tmp / f"part{k}.txt").write_text(tag * 10_000)
            print(f"wrote {k}", flush=True)
            time.sleep(pause)
    print("done", flush=True)
    """
)


def _whole(folder: Path) -> str:
    """The run's tag, after checking the folder holds exactly the files its manifest lists, intact."""
    manifest = json.loads((folder / MANIFEST).read_text())
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert files == set(manifest["files"]), "the folder holds exactly the files of its manifest"
    tags = set()
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        tags.add(data[:3].decode())
    assert len(tags) == 1, "every file comes from the same run"
    return tags.pop()


def _start(out: Path, tag: str, pause: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out), tag, str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def kill_at(process: subprocess.Popen, said: str) -> None:
    """Kill ``process`` (SIGKILL, as a power cut would) as soon as it prints the line ``said``."""
    for line in process.stdout:  # type: ignore[union-attr]
        if line.strip() == said:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def _run(out: Path, tag: str, pause: float = 0.0) -> subprocess.CompletedProcess:
    process = _start(out, tag, pause)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_a_folder_is_written_whole_with_its_manifest(tmp_path: Path) -> None:
    inputs = tmp_path / "city.toml"
    inputs.write_text("[city]\n")
    out = tmp_path / "out"
    with output_folder(
        out, command="zones coverage", inputs=[inputs], settings={"grades": "6-8"}, seed=3
    ) as tmp:
        (tmp / "a.csv").write_text("aaa")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.csv").write_text("aaa")
        assert not out.exists(), "nothing is in place before every file is written"
    assert _whole(out) == "aaa"
    manifest = json.loads((out / MANIFEST).read_text())
    assert (
        manifest["command"] == "zones coverage"
        and manifest["seed"] == 3
        and manifest["settings"] == {"grades": "6-8"}
    )
    assert manifest["inputs"] == {str(inputs): hashlib.sha256(b"[city]\n").hexdigest()}
    assert manifest["version"] and set(manifest["files"]) == {"a.csv", "sub/b.csv"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.toml", "out"], (
        "no lock or temporary folder is left"
    )


def test_a_failed_run_keeps_the_previous_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_folder(out, command="test") as tmp:
        (tmp / "a.csv").write_text("old")
    with pytest.raises(RuntimeError), output_folder(out, command="test") as tmp:
        (tmp / "a.csv").write_text("new")
        raise RuntimeError("the solver failed")
    assert _whole(out) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_second_run_on_the_same_folder_is_stopped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".out.lock").write_text(str(sleeper.pid))
        busy = f"another run \\(process {sleeper.pid}\\) is writing this folder"
        with pytest.raises(OutputBusy, match=busy), output_folder(out, command="test"):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not out.exists()


def test_the_lock_and_leftovers_of_a_killed_run_are_taken_over_and_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".out.lock").write_text(str(dead.pid))
    (tmp_path / ".out.tmp-1-abc").mkdir()
    (tmp_path / ".out.tmp-1-abc" / "runs.parquet").write_text("half")
    said: list[str] = []
    with output_folder(out, command="test", say=said.append) as tmp:
        (tmp / "a.csv").write_text("new")
    assert _whole(out) == "new"
    assert len(said) == 1 and ".out.tmp-1-abc" in said[0] and "interrupted run" in said[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("killed_after", [0, 2, 3])
def test_a_run_killed_while_writing_leaves_the_old_folder_whole(tmp_path: Path, killed_after: int) -> None:
    out = tmp_path / "out"
    assert _run(out, "old").returncode == 0
    kill_at(_start(out, "new", 0.3), f"wrote {killed_after}")
    assert _whole(out) == "old"
    rerun = _run(out, "new")
    assert rerun.returncode == 0 and "interrupted run" in rerun.stdout, rerun.stderr
    assert _whole(out) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_two_runs_side_by_side_leave_one_whole_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _start(out, "one", 2.0)  # long enough for the second to start while it writes
    assert first.stdout.readline().strip() == "wrote 0"  # type: ignore[union-attr]
    second = _run(out, "two")
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert (
        second.returncode != 0
        and "another run" in second.stderr
        and "is writing this folder" in second.stderr
    )
    assert _whole(out) == "one"


def test_the_commands_refuse_a_folder_another_run_is_writing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from app.cli import app as cli
    from tests.conftest import DEMO

    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    out = tmp_path / "out"
    (tmp_path / ".out.lock").write_text(str(os.getppid()))
    result = CliRunner().invoke(cli, ["facilities", "capacity", str(DEMO), "--out", str(out)])
    assert (
        result.exit_code == 1
        and "is writing this folder" in result.output
        and "Traceback" not in result.output
    )
    assert not out.exists()


def test_a_single_output_file_is_written_whole_one_run_at_a_time(tmp_path: Path) -> None:
    from app.outputs import output_file

    out = tmp_path / "plan.csv"
    (tmp_path / ".plan.csv.tmp-1.csv").write_text("half of a killed run")
    with output_file(out) as tmp:
        tmp.write_text("bus,run\n")
    assert out.read_text() == "bus,run\n"
    with pytest.raises(RuntimeError), output_file(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("stopped")
    assert out.read_text() == "bus,run\n"
    (tmp_path / ".plan.csv.lock").write_text(str(os.getppid()))
    with pytest.raises(OutputBusy, match="is writing this file"), output_file(out):
        pass
    (tmp_path / ".plan.csv.lock").unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.csv"]


@pytest.mark.parametrize("delay", [2.0, 6.0])
def test_a_command_killed_at_any_moment_leaves_a_whole_folder(tmp_path: Path, delay: float) -> None:
    import time

    from tests.conftest import DEMO

    if not (DEMO / "city.toml").exists():
        pytest.skip("data/demo has not been generated (make demo-data)")
    out = tmp_path / "out"
    command = ["zones", "coverage", str(DEMO), "--out", str(out)]
    args = [sys.executable, "-c", "from app.cli import main; main()", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run(args, cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0
    before = json.loads((out / MANIFEST).read_text())["files"]
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    manifest = json.loads((out / MANIFEST).read_text())
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert files == set(manifest["files"]) == set(before), "the old folder or the new one, whole"
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]


def test_a_geopackage_of_the_same_data_is_the_same_bytes(tmp_path: Path) -> None:
    """GeoPackages record when they were written; ours do not, so reruns give the same files."""
    import time

    import geopandas as gpd
    from shapely.geometry import Point

    from facilities.io import write_geo

    frame = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[Point(-71.0, 42.3), Point(-71.1, 42.4)], crs=4326)
    write_geo(frame, tmp_path / "one.gpkg", layer="points")
    time.sleep(1.1)  # a timestamp with seconds would now differ
    write_geo(frame, tmp_path / "two.gpkg", layer="points")
    assert (tmp_path / "one.gpkg").read_bytes() == (tmp_path / "two.gpkg").read_bytes()
