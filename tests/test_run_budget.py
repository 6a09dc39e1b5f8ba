"""The run-budget replay (benchmarks/bench_run_budget.py): Snakemake's job order replayed on measured job times."""

import importlib.util

from conftest import REPO

spec = importlib.util.spec_from_file_location("bench_run_budget", REPO / "benchmarks" / "bench_run_budget.py")
budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget)

# fetch 1 s -> two trainings (10 s, 4 s) -> their evaluations (6 s, 6 s) -> report 1 s
JOBS = {
    "fetch": (1.0, []),
    "train/a": (10.0, ["fetch"]),
    "train/b": (4.0, ["fetch"]),
    "eval/a": (6.0, ["train/a"]),
    "eval/b": (6.0, ["train/b"]),
    "report": (1.0, ["eval/a", "eval/b"]),
}


def test_replay_packs_jobs_on_the_cores_and_never_beats_the_critical_path():
    assert budget.critical_path(JOBS) == 18.0  # fetch, train/a, eval/a, report
    assert budget.simulate(JOBS, 1) == 28.0  # one slot: the sum
    assert budget.simulate(JOBS, 2) == 18.0  # b's chain fits beside a's
    assert budget.simulate(JOBS, 8) == 18.0
    assert budget.lower_bound(JOBS, 1) == 28.0 and budget.lower_bound(JOBS, 2) == 18.0
    # a job waits for its inputs even when a slot is free
    chain = {"x": (5.0, []), "y": (5.0, ["x"])}
    assert budget.simulate(chain, 4) == 10.0


def test_replay_reproduces_a_hand_computed_schedule():
    # Two cores; ready jobs by priority (higher first), equal priorities by the tie order (lower first).
    jobs = {
        "t1": (5.0, []),
        "t2": (4.0, []),
        "t3": (4.0, []),
        "t4": (4.0, []),
        "e1": (10.0, ["t1"]),
        "e2": (1.0, ["t2"]),
        "e3": (1.0, ["t3"]),
        "e4": (1.0, ["t4"]),
    }
    prio = {"t1": 15, "e1": 10, "t2": 5, "t3": 5, "t4": 5, "e2": 1, "e3": 1, "e4": 1}
    # t=0: t1 (15) and t2 (5, first of the tied); t=4: t2 ends, t3 next; t=5: t1 ends, e1 (10) before t4 (5);
    # t=8: t3 ends, t4; t=12: e2, e3, e4 one after another on the core e1 leaves free until 15.
    assert budget.schedule(jobs, 2, prio) == {
        "t1": (0.0, 5.0),
        "t2": (0.0, 4.0),
        "t3": (4.0, 8.0),
        "e1": (5.0, 15.0),
        "t4": (8.0, 12.0),
        "e2": (12.0, 13.0),
        "e3": (13.0, 14.0),
        "e4": (14.0, 15.0),
    }
    # the tie order decides among equal priorities only: t4 drawn first of the tied trainings
    ties = {j: (0 if j == "t4" else 1) for j in jobs}
    placed = budget.schedule(jobs, 2, prio, ties)
    assert placed["t4"] == (0.0, 4.0) and placed["t1"] == (0.0, 5.0) and placed["e1"] == (5.0, 15.0)
    # no priorities: the tie order alone (Snakemake's arbitrary pick), t1 drawn last: t2, t3 at 0; t4, e2
    # at 4; e3 at 5; t1 at 6 (the e's drawn before it), e1 at 11 -> 21 s, 6 s over the bound
    last = {j: (1 if j == "t1" else 0) for j in jobs}
    placed = budget.schedule(jobs, 2, None, last)
    assert [placed[j] for j in ("t4", "e2", "e3", "t1", "e4", "e1")] == [
        (4.0, 8.0),
        (4.0, 5.0),
        (5.0, 6.0),
        (6.0, 11.0),
        (8.0, 9.0),
        (11.0, 21.0),
    ]


def test_a_job_of_several_threads_waits_for_its_cores_and_a_smaller_one_goes_first():
    # Snakemake's greedy selector takes the best job that still fits: with one core free, the
    # two-thread job waits and the one-thread job of lower priority starts.
    jobs = {"a": (2.0, []), "big": (3.0, []), "small": (1.0, [])}
    placed = budget.schedule(jobs, 2, {"a": 3, "big": 2, "small": 1}, threads={"big": 2})
    assert placed == {"a": (0.0, 2.0), "small": (0.0, 1.0), "big": (2.0, 5.0)}


def test_the_chain_each_job_starts_and_the_observed_order_from_a_snakemake_log(tmp_path):
    chains = budget.chain_seconds(JOBS)
    assert chains["fetch"] == 18.0 and chains["train/b"] == 11.0 and chains["report"] == 1.0
    log = tmp_path / "run.log"
    lines = []
    for stamp, job in [("10:00:00", "fetch"), ("10:00:01", "train/b"), ("10:00:01", "train/a")]:
        lines += [
            f"[Mon Dec  7 {stamp} 2026]",
            "localrule x:",
            f"    benchmark: results/benchmarks/{job}.tsv",
        ]
    lines += ["[Mon Dec  7 10:00:19 2026]", "Finished jobid: 9 (Rule: all)"]
    log.write_text("\n".join(lines) + "\n")
    started, wall = budget.observed_order(log, JOBS)
    assert started == {"fetch": 0.0, "train/b": 1.0, "train/a": 1.0} and wall == 19.0


def test_the_tight_bound_counts_a_serial_start_and_end():
    # fetch 4 s -> four 2 s jobs -> report 4 s: on 2 cores the middle takes 4 s whatever the order, so 12 s,
    # where max(total / cores, critical path) says 10
    jobs = {"fetch": (4.0, []), **{f"x{i}": (2.0, ["fetch"]) for i in range(4)}}
    jobs["report"] = (4.0, [f"x{i}" for i in range(4)])
    assert budget.lower_bound(jobs, 2) == 10.0
    assert budget.tight_lower_bound(jobs, 2) == 12.0 == budget.simulate(jobs, 2)
    assert budget.tight_lower_bound(JOBS, 2) == 18.0 and budget.tight_lower_bound(JOBS, 1) == 28.0
