"""The school bus routing benchmark: reader, independent checker (validated on BiRD's published
solutions), the ``compact sbrp`` commands, reproducibility and stops out of reach."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from routing.check import check_plan
from tests.conftest import shared_path

pytestmark = pytest.mark.shared


def _instance(name: str):
    return shared_path("sbrp", name[:4], name)


def _cut(tmp_path, name: str, n_schools: int, *, far_stop: bool = False):
    """A cut-down copy of an instance (its first schools and their stops) in tmp_path."""
    src = _instance(name)
    schools = pd.read_csv(src / "Schools.txt", sep=r"\s+", dtype=str).iloc[:n_schools]
    stops = pd.read_csv(src / "Stops.txt", sep=r"\s+", dtype=str)
    stops = stops[stops.iloc[:, 3].isin(set(schools.iloc[:, 0]))].copy()
    if far_stop:
        stops.iloc[0, 1], stops.iloc[0, 2] = "900000", "900000"
    out = tmp_path / f"{name}cut"
    out.mkdir()
    schools.to_csv(out / "Schools.txt", sep="\t", index=False)
    stops.to_csv(out / "Stops.txt", sep="\t", index=False)
    return out, stops


def test_reader_matches_the_benchmark_conventions():
    from routing.sbrp import DWELL, read_instance

    data = read_instance(_instance("RSRB01"), max_ride=2700)
    assert len(data.schools) == 6 and len(data.stops) == 250
    assert data.schools[0].am_bell == 5 * 3600 + 10 * 60 and data.schools[0].dwell == DWELL
    a, b = data.stops[0].location, data.schools[0].location
    assert data.durations[a, b] == pytest.approx(data.distances[a, b] / 0.3048 / (20 * 5280 / 3600))
    assert data.stop_time(4) == pytest.approx(29.4)


def test_checker_accepts_every_bird_solution_with_its_published_bus_count():
    root = shared_path("sbrp", "bird_results")
    table = pd.read_csv(root / "pnas-tableS1.csv")
    table = table[table["exp_name"] == "many"].set_index(["benchmark", "max_riding_time"])["buses"]
    files = sorted((root / "solutions").glob("*_bird.csv"))
    assert len(files) == 32
    for f in files:
        name, ride, _ = f.name.split("_")
        report = check_plan(_instance(name), f, max_ride=int(ride))
        assert report.ok, str(report)
        assert report.buses == table[(name, float(ride))]
        assert report.max_ride <= int(ride)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.drop(index=f.index[f["action"] == "pickup"][3]), "picked up"),
        (
            lambda f: f.assign(
                end_time=f["end_time"].where(f.index != f.index[f["action"] == "dropoff"][0], "23:00:00.000")
            ),
            "after the bell",
        ),
        (lambda f: f.assign(start_loc=f["start_loc"].where(f.index != 2, f["start_loc"][0])), "starts at"),
    ],
)
def test_checker_catches_broken_plans(tmp_path, mutate, message):
    src = shared_path("sbrp", "bird_results", "solutions", "RSRB01_2700_bird.csv")
    broken = mutate(pd.read_csv(src, dtype=str))
    broken.to_csv(tmp_path / "bad.csv", index=False)
    report = check_plan(_instance("RSRB01"), tmp_path / "bad.csv", max_ride=2700)
    assert not report.ok
    assert any(message in v for v in report.violations)


def test_checker_catches_a_ride_over_the_limit():
    src = shared_path("sbrp", "bird_results", "solutions", "RSRB01_5400_bird.csv")
    report = check_plan(_instance("RSRB01"), src, max_ride=2700)
    assert any("exceeds 2700" in v for v in report.violations)


def test_cli_solve_then_check_passes_and_same_seed_same_plan(tmp_path):
    from app.cli import app

    folder, _ = _cut(tmp_path, "RSRB02", 2)
    runner = CliRunner()
    outs = []
    for k in range(2):
        out = tmp_path / f"plan{k}.csv"
        res = runner.invoke(
            app,
            [
                "sbrp",
                "solve",
                str(folder),
                "--max-ride",
                "2700",
                "--out",
                str(out),
                "--time-limit",
                "10",
                "--seed",
                "4",
                "--alternatives",
                "1",
            ],
        )
        assert res.exit_code == 0, res.output
        outs.append(out.read_text())
    assert outs[0] == outs[1]
    res = runner.invoke(
        app, ["sbrp", "check", str(folder), str(tmp_path / "plan0.csv"), "--max-ride", "2700"]
    )
    assert res.exit_code == 0 and "feasible" in res.output


def test_stop_out_of_reach_is_reported_and_the_rest_solved(tmp_path):
    from routing.buses import solve
    from routing.sbrp import read_instance

    folder, stops = _cut(tmp_path, "CSCB01", 2, far_stop=True)
    far = str(stops.iloc[0, 0])
    plan = solve(read_instance(folder, max_ride=2700), time_limit=10, seed=0, alternatives=1)
    assert [i.stop for i in plan.infeasible] == [far]
    plan.to_bird_csv(tmp_path / "plan.csv")
    report = check_plan(folder, tmp_path / "plan.csv", max_ride=2700)
    assert report.violations == [f"stop {far}: 0 of {stops.iloc[0, 4]} students picked up"]


def test_mixed_loads_pass_the_checker_with_no_more_buses(tmp_path):
    from routing.buses import mix_loads, solve
    from routing.sbrp import read_instance

    folder = _instance("CSCB02")  # 12 schools, several of them close together with near bells
    single = solve(read_instance(folder, max_ride=2700), time_limit=8, seed=0, alternatives=2)
    mixed = mix_loads(single, time_limit=20)
    assert mixed.n_buses <= single.n_buses
    assert any(len(r.schools) > 1 for r in mixed.runs)
    report = check_plan(folder, mixed.to_bird_csv(tmp_path / "mixed.csv"), max_ride=2700)
    assert report.ok, str(report)
    assert report.buses == mixed.n_buses


def test_cli_mixed_loads(tmp_path):
    from app.cli import app

    folder, _ = _cut(tmp_path, "CSCB02", 4)
    out = tmp_path / "plan.csv"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "sbrp",
            "solve",
            str(folder),
            "--max-ride",
            "2700",
            "--out",
            str(out),
            "--time-limit",
            "10",
            "--mixed-loads",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["sbrp", "check", str(folder), str(out), "--max-ride", "2700"])
    assert res.exit_code == 0 and "feasible" in res.output


def test_parks_window_unloads_by_amlate_and_the_checker_follows(tmp_path):
    from routing.buses import solve
    from routing.sbrp import read_instance

    folder, _ = _cut(tmp_path, "RSRB02", 4)
    early = read_instance(folder, max_ride=2700)
    late = read_instance(folder, max_ride=2700, arrive_by="late")
    schools = pd.read_csv(folder / "Schools.txt", sep=r"\s+", dtype=str)
    assert [s.am_bell for s in late.schools] == [
        int(t) // 100 * 3600 + int(t) % 100 * 60 for t in schools.iloc[:, 4]
    ]
    assert all(a.am_bell > b.am_bell for a, b in zip(late.schools, early.schools))
    plan = solve(late, time_limit=10, seed=0, alternatives=2)
    csv = plan.to_bird_csv(tmp_path / "late.csv")
    assert check_plan(folder, csv, max_ride=2700, arrive_by="late").ok
    assert any("after the bell" in v for v in check_plan(folder, csv, max_ride=2700).violations)
    with pytest.raises(ValueError, match="arrive_by"):
        read_instance(folder, max_ride=2700, arrive_by="noon")  # type: ignore[arg-type]


def test_arrival_windows_never_need_more_buses_and_open_before_unloading(tmp_path):
    import dataclasses

    from routing.buses import solve
    from routing.sbrp import DWELL, read_instance

    folder, _ = _cut(tmp_path, "CSCB01", 4)
    late = read_instance(folder, max_ride=2700, arrive_by="late")
    assert all(s.am_window > 0 for s in late.schools)
    fixed = dataclasses.replace(
        late, schools=tuple(dataclasses.replace(s, am_window=0.0) for s in late.schools)
    )
    windows = solve(late, time_limit=10, seed=0, alternatives=3)
    bells = solve(fixed, time_limit=10, seed=0, alternatives=3)
    assert windows.n_buses <= bells.n_buses
    for run in windows.runs:  # every unloading inside its school's window
        drop = run.visits[-1]
        sch = late.schools[drop.school]
        assert sch.am_bell - DWELL - sch.am_window - 1e-6 <= drop.start and drop.end <= sch.am_bell + 1e-6
    assert check_plan(folder, windows.to_bird_csv(tmp_path / "w.csv"), max_ride=2700, arrive_by="late").ok
