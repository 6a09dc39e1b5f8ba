"""Seaborn figures of the report, each saved as PNG (for the page) and PDF (for LaTeX)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from sagr.tables import (  # noqa: E402
    METHOD_ORDER, PARAM_LABELS, dataset_label, fmt_eps, method_label, sorted_methods,
)


def palette(methods: Sequence[str]) -> dict[str, tuple]:
    """One colour per method label, fixed by the paper's method order, shared by all figures."""
    colours = sns.color_palette("colorblind", max(len(METHOD_ORDER), len(methods)))
    order = list(dict.fromkeys(METHOD_ORDER + sorted_methods(methods)))
    colour = {method_label(m): colours[i % len(colours)] for i, m in enumerate(order)}
    # The paper's method in black: its colorblind-palette brown reads as PGD-AT's orange.
    colour[method_label("sagr")] = (0.0, 0.0, 0.0)
    return colour


def save(fig: plt.Figure, out_dir: Path, stem: str) -> str:
    """Write stem.png and stem.pdf under out_dir, close the figure, return the stem."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / f"{stem}.png", dpi=130, bbox_inches="tight")
    fig.savefig(out_dir / f"{stem}.pdf", bbox_inches="tight")
    plt.close(fig)
    return stem


def robust_vs_eps(curves: pd.DataFrame, out_dir: Path, stem: str = "robust_vs_eps") -> str:
    """Robust accuracy against ε: columns = datasets, rows = PGD / worst case, hue = method."""
    df = curves.assign(Method=curves["method"].map(method_label),
                       Dataset=curves["dataset"].map(dataset_label))
    hue_order = [method_label(m) for m in sorted_methods(curves["method"])]
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.1):
        g = sns.relplot(data=df, x="eps", y="accuracy", hue="Method", hue_order=hue_order,
                        palette=palette(curves["method"].unique()), style="Method",
                        markers=True, dashes=False, col="Dataset", row="curve",
                        col_order=list(dict.fromkeys(df["Dataset"])),
                        kind="line", errorbar="sd", err_style="bars", height=2.8, aspect=1.25,
                        facet_kws={"sharex": "col", "sharey": True, "margin_titles": True})
        g.set_titles(row_template="{row_name}", col_template="{col_name}")
        g.set_axis_labels("ε (L∞)", "accuracy (%)")
        g.set(ylim=(-3, 103))
        for (_, dataset), ax in g.axes_dict.items():
            eps = sorted(df.loc[df["Dataset"] == dataset, "eps"].unique())
            ax.set_xticks(eps, [fmt_eps(e) for e in eps])
        return save(g.figure, out_dir, stem)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """C×H×W in [0,1] to H×W (grey) or H×W×3 for imshow."""
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def saliency_grid(rows: Sequence[tuple[str, Mapping]], dataset: str, out_dir: Path) -> str:
    """The same test images (first row) and their saliency maps, one row per method."""
    first = rows[0][1]
    for label, npz in rows[1:]:
        if not np.array_equal(np.asarray(npz["indices"]), np.asarray(first["indices"])):
            raise ValueError(f"{dataset}: the saliency maps of {label} are not on the same test "
                             f"images as those of {rows[0][0]}")
    images, labels = np.asarray(first["images"]), np.asarray(first["labels"])
    k = len(images)
    fig, axes = plt.subplots(len(rows) + 1, k, figsize=(1.15 * k + 0.9, 1.15 * (len(rows) + 1)),
                             squeeze=False)
    for j in range(k):
        axes[0, j].imshow(_to_rgb(images[j]), cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"y = {labels[j]}", fontsize=8)
    for i, (label, npz) in enumerate(rows, start=1):
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


def ablation(long: pd.DataFrame, param: str, metrics: Sequence[str], out_dir: Path) -> str:
    """Each ablation metric against one numeric swept parameter; rows = datasets."""
    d = long[long["param"] == param]
    d = d.assign(x=d["value"].astype(float), Dataset=d["dataset"].map(dataset_label))
    d = d.melt(id_vars=["Dataset", "x", "seed"], value_vars=list(metrics), var_name="metric",
               value_name="y").dropna(subset=["y"])
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.1):
        g = sns.relplot(data=d, x="x", y="y", col="metric", row="Dataset", kind="line",
                        marker="o", errorbar="sd", err_style="bars", height=2.5, aspect=1.2,
                        facet_kws={"sharey": False, "margin_titles": True})
        g.set_titles(row_template="{row_name}", col_template="{col_name}")
        g.set_axis_labels(PARAM_LABELS.get(param, param), "")
        xs = np.sort(d["x"].unique())
        if len(xs) and xs.min() > 0 and xs.max() / xs.min() >= 10:
            g.set(xscale="log")  # λ sweeps span decades
        return save(g.figure, out_dir, f"ablation_{param}")
