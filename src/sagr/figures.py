"""The report's figures, each saved as PNG (for the page) and PDF (for LaTeX).

Every point shows its n (panel titles) and both uncertainties: the error bar is the 95 %
point-sampling interval, the shaded band ± sd over seeds. Points measured on fewer points than the
rest of their panel are drawn hollow and never joined to the others by a line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

from sagr.labels import (  # noqa: E402
    CLEAN,
    METHOD_ORDER,
    SPECIAL_ATTACKS,
    WORST,
    dataset_label,
    method_label,
    metric_label,
    param_label,
    sorted_methods,
)
from sagr.presentation import fmt_eps, fmt_n  # noqa: E402


def palette(methods: Sequence[str]) -> dict[str, tuple]:
    """One colour per method key, fixed by the paper's method order, shared by all figures."""
    colours = sns.color_palette("colorblind", max(len(METHOD_ORDER), len(methods)))
    order = list(dict.fromkeys(METHOD_ORDER + sorted_methods(methods)))
    colour = {m: colours[i % len(colours)] for i, m in enumerate(order)}
    # The paper's method in black: its colorblind-palette brown reads as PGD-AT's orange.
    colour["sagr"] = (0.0, 0.0, 0.0)
    return colour


def save(fig: plt.Figure, out_dir: Path, stem: str) -> str:
    """Write stem.png and stem.pdf under out_dir, close the figure, return the stem."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / f"{stem}.png", dpi=130, bbox_inches="tight")
    fig.savefig(out_dir / f"{stem}.pdf", bbox_inches="tight")
    plt.close(fig)
    return stem


def _series(
    ax: plt.Axes, df: pd.DataFrame, x: str, colour: tuple, label: str, scale: float, full_n: int
) -> None:
    """Mean with its sampling interval (bars) and seed sd (band); lines only within one n."""
    df = df.sort_values(x)
    xs, mean = df[x].to_numpy(float), scale * df["mean"].to_numpy(float)
    lo, hi = scale * df["ci_low"].to_numpy(float), scale * df["ci_high"].to_numpy(float)
    sd = scale * df["sd"].fillna(0).to_numpy(float)
    ns = df["n"].to_numpy()
    ax.fill_between(xs, mean - sd, mean + sd, color=colour, alpha=0.15, linewidth=0)
    for i in range(len(xs)):
        full = ns[i] >= full_n
        ax.errorbar(
            xs[i],
            mean[i],
            yerr=[[max(mean[i] - lo[i], 0)], [max(hi[i] - mean[i], 0)]],
            fmt="o",
            color=colour,
            mfc=colour if full else "white",
            capsize=2,
            ms=4,
            label=label if i == 0 else None,
        )
        if i and ns[i] == ns[i - 1]:
            ax.plot(xs[i - 1 : i + 1], mean[i - 1 : i + 1], color=colour, linewidth=1.2)


def robust_vs_eps(
    curves: pd.DataFrame, datasets: Sequence[str], out_dir: Path, stem: str = "robust_vs_eps"
) -> str:
    """Worst-case accuracy against ε (clean at ε = 0), one panel per dataset, n in the title."""
    datasets = [d for d in datasets if d in set(curves["dataset"])]
    colours = palette(curves["method"].unique())
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.1):
        fig, axes = plt.subplots(
            1, len(datasets), figsize=(4.2 * len(datasets), 3.3), squeeze=False, sharey=True
        )
        for ax, dataset in zip(axes[0], datasets, strict=True):
            d = curves[curves["dataset"] == dataset]
            full_n = int(d["n"].max())
            for method in sorted_methods(d["method"]):
                _series(
                    ax,
                    d[d["method"] == method],
                    "eps",
                    colours[method],
                    method_label(method),
                    100.0,
                    full_n,
                )
            eps = sorted(d["eps"].unique())
            ax.set_xticks(eps, [fmt_eps(e) for e in eps])
            ax.set_title(f"{dataset_label(dataset)} ({fmt_n(d['n'])})")
            ax.set_xlabel("ε (L∞)")
            ax.set_ylim(-3, 103)
        axes[0, 0].set_ylabel("worst-case accuracy (%)")
        axes[0, -1].legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        return save(fig, out_dir, stem)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """C×H×W in [0,1] to H×W (grey) or H×W×3 for imshow."""
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def saliency_grid(rows: Sequence[tuple[str, Mapping]], dataset: str, out_dir: Path) -> str:
    """The same test images (first row) and their saliency maps, one row per method."""
    first = rows[0][1]
    for label, npz in rows[1:]:
        if not np.array_equal(np.asarray(npz["indices"]), np.asarray(first["indices"])):
            raise ValueError(
                f"{dataset}: the saliency maps of {label} are not on the same test "
                f"images as those of {rows[0][0]}"
            )
    images, labels = np.asarray(first["images"]), np.asarray(first["labels"])
    k = len(images)
    fig, axes = plt.subplots(
        len(rows) + 1, k, figsize=(1.15 * k + 0.9, 1.15 * (len(rows) + 1)), squeeze=False
    )
    for j in range(k):
        axes[0, j].imshow(_to_rgb(images[j]), cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"y = {labels[j]}", fontsize=8)
    for i, (_label, npz) in enumerate(rows, start=1):
        maps = np.asarray(npz["maps"])
        for j in range(k):
            # each map scaled to its own 99th percentile: shape, not magnitude, is compared
            top = np.percentile(maps[j], 99) or 1.0
            axes[i, j].imshow(np.clip(maps[j] / top, 0, 1), cmap="magma", vmin=0, vmax=1)
    for i, name in enumerate(["image"] + [label for label, _ in rows]):
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{dataset_label(dataset)}: |∇ₓ z_y| (seed 0 models)", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir, f"saliency_{dataset}")


def _sweep_axis(ax: plt.Axes, xs: np.ndarray) -> None:
    """Ticks at the swept values only; log scale when they span a decade (no minor labels)."""
    if len(xs) and xs.min() > 0 and xs.max() / xs.min() >= 10:
        ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{v:g}" for v in xs])


def ablation(summary: pd.DataFrame, param: str, datasets: Sequence[str], out_dir: Path) -> str:
    """Each ablation metric against one numeric swept parameter; rows = datasets, n in titles; one
    series per method that sweeps it (in the method's colour, labelled, where there are several)."""
    d = summary[summary["param"] == param].assign(x=lambda f: f["value"].astype(float))
    metrics = [m for m in (WORST, "gini", CLEAN) if m in set(d["metric"])]
    datasets = [ds for ds in datasets if ds in set(d["dataset"])]
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.1):
        fig, axes = plt.subplots(
            len(datasets),
            len(metrics),
            figsize=(3.3 * len(metrics), 2.7 * len(datasets)),
            squeeze=False,
        )
        for i, dataset in enumerate(datasets):
            for j, metric in enumerate(metrics):
                ax = axes[i, j]
                m = d[(d["dataset"] == dataset) & (d["metric"] == metric)]
                scale = 1.0 if metric == "gini" else 100.0
                methods = sorted_methods(m["method"])
                for method in methods:
                    colour = palette(methods)[method] if len(methods) > 1 else (0.0, 0.0, 0.0)
                    label = method_label(method) if len(methods) > 1 and i == j == 0 else None
                    _series(ax, m[m["method"] == method], "x", colour, label, scale, int(m["n"].max()))
                if len(methods) > 1 and i == j == 0:
                    ax.legend(fontsize=7)
                _sweep_axis(ax, np.sort(m["x"].unique()))
                if metric == "gini":
                    title = metric_label("gini")
                else:
                    eps = "" if metric == CLEAN else f" ε={fmt_eps(m['eps'].iloc[0])}"
                    title = f"{SPECIAL_ATTACKS[metric]}{eps} (%)"
                ax.set_title(f"{dataset_label(dataset)}: {title}, {fmt_n(m['n'])}", fontsize=9)
                ax.set_xlabel(param_label(param))
        fig.tight_layout()
        return save(fig, out_dir, f"ablation_{param}")


def tradeoff_series(summary: pd.DataFrame, dataset: str, eps: float) -> dict[str, pd.DataFrame]:
    """Per swept method, its λ points in λ order: lam, clean and worst case at ε (means, sd over seeds,
    intervals)."""
    d = summary[summary["dataset"] == dataset]
    clean = d[d["metric"] == CLEAN]
    worst = d[(d["metric"] == WORST) & np.isclose(d["eps"], eps)]
    cols = ["method", "lam", "mean", "sd", "ci_low", "ci_high", "n"]
    cols = [c for c in cols if c in d]
    both = clean[cols].merge(worst[cols], on=["method", "lam"], suffixes=("_clean", "_worst"))
    return {
        m: both[both["method"] == m].sort_values("lam").reset_index(drop=True)
        for m in sorted_methods(both["method"])
    }


# A point more than this far below the best clean accuracy of its panel has collapsed (e.g. IGR at a λ that
# destabilises training): drawn at scale it would squeeze every other point into a sliver of the axis.
COLLAPSED_CLEAN_GAP = 0.05
# Below this worst case every point of a panel is broken almost everywhere (`sagr.claims.FLOOR`): such a
# panel shows nothing and is left out.
FLOOR = 0.05


def tradeoff_panels(summary: pd.DataFrame, dataset: str) -> list[float]:
    """The ε of a dataset's trade-off panels: every ε with a worst case, except those where every
    point is below `FLOOR`."""
    w = summary[(summary["dataset"] == dataset) & (summary["metric"] == WORST)]
    return [float(e) for e, g in sorted(w.groupby("eps")) if (g["mean"] >= FLOOR).any()]


def tradeoff(
    summary: pd.DataFrame,
    datasets: Sequence[str],
    out_dir: Path,
    reference: Mapping[str, tuple[float, float]] | None = None,
) -> str:
    """Clean accuracy (x) against worst case at each ε (y), one curve per method over its λ sweep.

    Rows = datasets, columns = ε (`tradeoff_panels`: no panel where every point is at the floor); each
    point is labelled with its λ, error bars are the 95 % point-sampling intervals of both coordinates,
    and the shaded band is ± one standard deviation over seeds of the worst case (with several seeds).
    A collapsed point (`COLLAPSED_CLEAN_GAP` below the panel's best clean accuracy) is named in the
    panel, not drawn. `reference`: dataset → (baseline clean, rule's threshold), drawn as vertical
    lines (the λ rule keeps the points right of the dashed one)."""
    swept = summary[summary["metric"] == WORST]
    datasets = [ds for ds in datasets if ds in set(swept["dataset"])]
    eps_by = {ds: tradeoff_panels(summary, ds) for ds in datasets}
    datasets = [ds for ds in datasets if eps_by[ds]]
    if not datasets:
        return ""
    cols = max(len(e) for e in eps_by.values())
    colours = palette(summary["method"].unique())
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.1):
        fig, axes = plt.subplots(
            len(datasets), cols, figsize=(3.8 * cols, 3.4 * len(datasets)), squeeze=False
        )
        for i, dataset in enumerate(datasets):
            for j in range(cols):
                ax = axes[i, j]
                if j >= len(eps_by[dataset]):
                    ax.set_visible(False)
                    continue
                eps = eps_by[dataset][j]
                series = tradeoff_series(summary, dataset, eps)
                best = max((s["mean_clean"].max() for s in series.values() if len(s)), default=1.0)
                off_axis = []
                for k, (method, s) in enumerate(series.items()):
                    collapsed = s["mean_clean"] < best - COLLAPSED_CLEAN_GAP
                    off_axis += [
                        f"{method_label(method)} λ={lam:g}: {100 * c:.1f} % clean"
                        for lam, c in zip(
                            s.loc[collapsed, "lam"], s.loc[collapsed, "mean_clean"], strict=True
                        )
                    ]
                    s = s[~collapsed]
                    x, y = 100 * s["mean_clean"], 100 * s["mean_worst"]
                    ax.errorbar(
                        x,
                        y,
                        xerr=[x - 100 * s["ci_low_clean"], 100 * s["ci_high_clean"] - x],
                        yerr=[y - 100 * s["ci_low_worst"], 100 * s["ci_high_worst"] - y],
                        fmt="o-",
                        color=colours[method],
                        ms=4,
                        capsize=2,
                        linewidth=1.2,
                        label=method_label(method) if i == j == 0 else None,
                    )
                    if "sd_worst" in s and s["sd_worst"].notna().any():
                        band = s.sort_values("mean_clean")
                        sd = 100 * band["sd_worst"].fillna(0.0)
                        mid = 100 * band["mean_worst"]
                        ax.fill_between(
                            100 * band["mean_clean"],
                            mid - sd,
                            mid + sd,
                            color=colours[method],
                            alpha=0.15,
                            lw=0,
                        )
                    # labels alternate above and below the curve so that neighbouring curves' labels part
                    dy = 4 if k % 2 == 0 else -9
                    for xi, yi, lam in zip(x, y, s["lam"], strict=True):
                        ax.annotate(
                            f"λ={lam:g}",
                            (xi, yi),
                            fontsize=6,
                            xytext=(3, dy),
                            textcoords="offset points",
                            color=colours[method],
                        )
                if off_axis:
                    ax.text(
                        0.02,
                        0.02,
                        "not drawn (collapsed): " + "; ".join(off_axis),
                        transform=ax.transAxes,
                        fontsize=6,
                        color="0.3",
                        wrap=True,
                    )
                if reference and dataset in reference:
                    base, threshold = reference[dataset]
                    ax.axvline(100 * base, color="0.3", linewidth=0.8)
                    ax.axvline(100 * threshold, color="0.3", linewidth=0.8, linestyle="--")
                n = swept.loc[(swept["dataset"] == dataset) & np.isclose(swept["eps"], eps), "n"]
                ax.set_title(f"{dataset_label(dataset)}: ε={fmt_eps(eps)}, {fmt_n(n)}", fontsize=9)
                ax.set_xlabel("clean accuracy (%)")
                ax.set_ylabel(f"worst case at ε={fmt_eps(eps)} (%)")
        axes[0, 0].legend(fontsize=7)
        fig.tight_layout()
        return save(fig, out_dir, "tradeoff")


def training_curves(history: pd.DataFrame, flags: pd.DataFrame, dataset: str, out_dir: Path) -> str:
    """Per method (panels), its main runs' validation accuracy against epoch, clean (solid) and PGD
    (dashed), one line per seed; a red cross on the last point of a run still improving there
    (`sagr.convergence`). A run without a validation curve shows its mean training loss instead."""
    h = history[(history["dataset"] == dataset) & history["main"].astype(bool)]
    methods = sorted_methods(h["method"])
    colours = palette(methods)
    improving = set(flags.loc[flags["still_improving"].eq(True), "run"])
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.0):
        fig, axes = plt.subplots(1, len(methods), figsize=(2.6 * len(methods), 2.6), squeeze=False)
        for ax, method in zip(axes[0], methods, strict=True):
            runs = h[h["method"] == method]
            validated = runs["val_clean"].notna().any()
            for run, g in runs.groupby("run", sort=True):
                g = g.sort_values("epoch")
                if validated:
                    for col, style in (("val_clean", "-"), ("val_pgd", "--")):
                        v = g.dropna(subset=[col])
                        ax.plot(
                            v["epoch"], 100 * v[col], style, color=colours[method], marker="o", ms=2.5, lw=1
                        )
                    if run in improving:
                        last = g.dropna(subset=["val_clean"]).iloc[-1]
                        for col in ("val_clean", "val_pgd"):
                            ax.plot(last["epoch"], 100 * last[col], "x", color="#b00020", ms=7, mew=2)
                else:
                    ax.plot(g["epoch"], g["loss"], "-", color=colours[method], marker="o", ms=2.5, lw=1)
            ax.set_title(method_label(method), fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("validation accuracy (%)" if validated else "training loss")
            ax.xaxis.set_major_locator(FixedLocator(sorted(runs["epoch"].unique())))
        fig.suptitle(
            f"{dataset_label(dataset)}: validation clean (solid) and PGD (dashed) per seed", fontsize=10
        )
        fig.tight_layout()
        return save(fig, out_dir, f"training_{dataset}")
