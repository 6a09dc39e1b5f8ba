"""The run-budget replay (benchmarks/bench_run_budget.py): list scheduling of measured job times."""

import importlib.util

from conftest import REPO

spec = importlib.util.spec_from_file_location("bench_run_budget", REPO / "benchmarks" / "bench_run_budget.py")
budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget)


def test_replay_packs_jobs_on_the_cores_and_never_beats_the_critical_path():
    # fetch 1 s -> two trainings (10 s, 4 s) -> their evaluations (6 s, 6 s) -> report 1 s
    jobs = {
        "fetch": (1.0, []),
        "train/a": (10.0, ["fetch"]),
        "train/b": (4.0, ["fetch"]),
        "eval/a": (6.0, ["train/a"]),
        "eval/b": (6.0, ["train/b"]),
        "report": (1.0, ["eval/a", "eval/b"]),
    }
    assert budget.critical_path(jobs) == 18.0  # fetch, train/a, eval/a, report
    assert budget.simulate(jobs, 1) == 28.0  # one slot: the sum
    assert budget.simulate(jobs, 2) == 18.0  # b's chain fits beside a's
    assert budget.simulate(jobs, 8) == 18.0
    # a job waits for its inputs even when a slot is free
    chain = {"x": (5.0, []), "y": (5.0, ["x"])}
    assert budget.simulate(chain, 4) == 10.0
