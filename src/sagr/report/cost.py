"""Cost: the benchmark's per-method step times against the paper's ratios, with their noise."""

from __future__ import annotations

import pandas as pd

from sagr.document import (
    Section,
    frame_table,
    split_columns,
)
from sagr.labels import (
    DEVICE_LABELS,
    arch_label,
    estimator_label,
    method_label,
    method_rank,
)
from sagr.presentation import MISSING, is_nan
from sagr.report.aggregate import Summaries
from sagr.report.blocks import note, numeric_columns, para
from sagr.report.estimators import estimator_section
from sagr.results import Results


def _where(row: dict, benchmark: dict) -> dict:
    """What a cost row was measured on; rows of older cost.json files take the file's own."""
    prov = benchmark.get("provenance") or {}
    return {
        "arch": row.get("arch", benchmark.get("arch")),
        "device": row.get("device", benchmark.get("device_type")),
        "device_name": row.get("device_name", benchmark.get("device", prov.get("device"))),
        "threads": row.get("threads", benchmark.get("threads")),
        "reference": row.get("reference", ""),
        "commit": row.get("commit", prov.get("git_commit", "")),
        "commit_dirty": bool(row.get("commit_dirty", prov.get("git_dirty", False))),
    }


def source_label(where: dict) -> str:
    """Where a cost row comes from: this run's benchmark job, or a committed reference file."""
    if not where["reference"]:
        return "this run"
    dirty = " with uncommitted changes" if where["commit_dirty"] else ""
    return f"reference file {where['reference']} (measured at commit {str(where['commit'])[:8]}{dirty})"


def device_text(where: dict) -> str:
    """'GPU · cuda:NVIDIA H200': the device kind and the machine's own name for it."""
    kind = DEVICE_LABELS.get(where["device"], where["device"] or MISSING)
    return f"{kind} · {where['device_name']}" if where["device_name"] else kind


def _goal(goal: object) -> str:
    """A numeric goal is a bound on the ratio; a text goal (≈6, K+1) is shown as written."""
    if goal is None or is_nan(goal):
        return MISSING
    return f"≤ {goal:g}" if isinstance(goal, (int, float)) else str(goal)


def cost_tables(benchmark: dict) -> list[tuple[dict, pd.DataFrame]]:
    """One step-cost table per (architecture, device, source), this run's first.

    Each comes with what it was measured on (labels: architecture, device, threads, batch size,
    source, and whether it is a committed reference) and lists every method and estimator
    variant: ms per step, the median ratio to a standard step of the same round, that ratio's
    interquartile range over rounds, the number of timed rounds and the goal.
    """
    goals = benchmark.get("goals") or {}
    groups: dict[tuple, list[dict]] = {}
    for r in benchmark.get("rows", []):
        where = _where(r, benchmark)
        key = tuple(where.values()) + (r.get("batch_size", benchmark.get("batch_size")),)
        groups.setdefault(key, []).append(r)
    out = []
    for key, rows in groups.items():
        where = _where(rows[0], benchmark)
        table = []
        for r in sorted(rows, key=lambda r: method_rank(r["method"])):  # stable: variants keep their order
            fallback = goals.get(r["method"] + (f"/{r['variant']}" if r.get("variant") else ""))
            iqr = r.get("ratio_iqr")
            table.append(
                {
                    "Method": method_label(r["method"]),
                    "Variant": r.get("variant") or MISSING,
                    "ms / step": f"{r['ms_per_step']:.1f}",
                    "× standard": f"{r['ratio_to_standard']:.2f}",
                    "IQR (×)": f"{iqr[0]:.2f}–{iqr[1]:.2f}" if iqr else MISSING,
                    "Rounds": r.get("n_steps", MISSING),
                    "Goal (×)": _goal(r.get("goal", fallback)),
                }
            )
        meta = {
            "arch": arch_label(where["arch"]) if where["arch"] else MISSING,
            "device": device_text(where),
            "threads": where["threads"] if where["threads"] is not None else MISSING,
            "batch": key[-1] if key[-1] is not None else MISSING,
            "source": source_label(where),
            "reference": bool(where["reference"]),
        }
        out.append((meta, pd.DataFrame(table)))
    return out


def noise_table(benchmark: dict) -> pd.DataFrame:
    """Per architecture, device and random estimator: the noise of one draw relative to exact.

    The standard deviation of a single draw (n_proj = 1) over ``draws`` draws, relative to the
    exact penalty, per example; median and interquartile range over the batch's examples.
    """
    rows = []
    for r in benchmark.get("noise", []):
        where = _where(r, benchmark)
        q1, q3 = r["rel_sd_per_draw_iqr"]
        rows.append(
            {
                "Architecture": arch_label(where["arch"]) if where["arch"] else MISSING,
                "Device": device_text(where),
                "Estimator": estimator_label(r["estimator"]),
                "sd / exact, one draw": f"{r['rel_sd_per_draw_median']:.3f} [{q1:.3f}, {q3:.3f}]",
                "var / exact²": f"{r['rel_var_per_draw_median']:.3f}",
                "Draws (n)": int(r["draws"]),
                "Examples": int(r["n_examples"]),
                # the step table of the same architecture and device names the file in full
                "Source": f"reference {where['reference'].rsplit('/', 1)[-1]}"
                if where["reference"]
                else "this run",
            }
        )
    return pd.DataFrame(rows)


def cost_section(res: Results, summ: Summaries, benchmark: dict | None) -> Section:
    sec = Section("cost", "Cost")
    if not benchmark:
        sec.add(para("No benchmark (results/benchmark/cost.json) was run."))
    else:
        steps = Section("cost-steps", "Time per training step").add(
            note(
                "One table per architecture and device. Every round times one step of each method and estimator "
                "in turn, each with its own fresh model and optimiser, on the same batch; “× standard” is the "
                "median over the timed rounds of (its step / the standard step of the same round), “IQR” that "
                "ratio's interquartile range over the rounds, warm-up rounds excluded. Goal: the ratio the spec "
                "expects (a double-backward costs about two forward+backward passes; PGD-K training about K+1; "
                "the exact estimator C× the projection estimator's step). Tables from a committed reference file "
                "were measured elsewhere by benchmarks/bench_methods.py and say so."
            )
        )
        for i, (meta, df) in enumerate(cost_tables(benchmark), start=1):
            title = (
                f"Step cost: {meta['arch']}, {meta['device']}, {meta['threads']} thread(s), batch {meta['batch']}"
                f" ({meta['source']})"
            )
            steps.add(frame_table(df, f"cost-{i}", title, right=numeric_columns(df, 2)))
        sec.children.append(steps)
        noise = noise_table(benchmark)
        if not noise.empty:
            noise = noise.rename(
                columns={
                    "sd / exact, one draw": "sd / exact,\none draw",
                    "var / exact²": "var /\nexact²",
                    "Draws (n)": "Draws\n(n)",
                }
            )
            t = frame_table(
                noise,
                "cost-noise",
                "Noise of one draw of each random estimator",
                wrap={"Device": 14, "Source": 14, "Architecture": 12},
                right=list(noise.columns[3:7]),
            )
            sec.children.append(
                Section("cost-noise", "Noise of one estimator draw").add(
                    note(
                        "What the cheaper step costs in noise: the standard deviation of one draw (one probe) of "
                        "each random estimator of SAGR's decoupled penalty, relative to the exact value, over n "
                        "draws on a fresh model; median [interquartile range] over the batch's examples. "
                        "Projection: Rademacher probes in output space, one double backward each; JVP: Rademacher "
                        "probes in input space, forward-mode derivative in the same pass as the logits. Both are "
                        "unbiased; their noise differs."
                    ),
                    *split_columns(t, keep=3),
                )
            )
    est = estimator_section(res, summ)
    if est is not None:
        sec.children.append(est)
    return sec
