"""Every table and figure traceable, as showyourwork links a paper's figures to what made them: the result
files it is computed from (with their SHA-256), the commit that made them, and the one command that
rebuilds it. Each caption links to its row of the sources appendix."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from sagr.document import Document, Section, frame_table
from sagr.files import sha256, snakemake_command
from sagr.report.blocks import para
from sagr.results import RUN_FILES

# The result files (the render rule's input kinds) each top-level section's tables and figures are
# computed from; a section not listed reads all of them.
ALL = ("train", "robustness", "saliency", "correct", "maps", "benchmark")
CLAIMS = ("train", "robustness", "saliency", "correct")
READS: dict[str, tuple[str, ...]] = {
    "claims": CLAIMS,
    "verdict-matrix": CLAIMS,
    "claims-detail": CLAIMS,
    "readings": CLAIMS,
    "tradeoff": CLAIMS,
    "main": ("robustness",),
    "reference": ("robustness", "correct"),
    "floors": ("train", "robustness"),
    "curves": ("robustness",),
    "paired": ("robustness", "correct"),
    "masking": ("robustness", "correct"),
    "saliency": ("saliency", "maps"),
    "ablation": ("robustness", "correct", "saliency"),
    "training-curves": ("train",),
    "training": ("train",),
    "cost": ("benchmark", "train"),
    "failed": ("train",),
    "attacks": ("robustness",),
    "masking-all": ("robustness",),
    "setup": ("robustness",),
    "provenance": ("train", "robustness", "saliency", "benchmark"),
}
FILE_NAMES = {**RUN_FILES, "benchmark": "cost.json"}


def file_hashes(inputs: Mapping[str, Sequence[str | Path]]) -> pd.DataFrame:
    """One row per input file: kind, path, sha256 (what `results/summary/sources.csv` lists)."""
    # A file that is not there was not read (a diverged run's evaluation files, which the loader skips).
    rows = [
        dict(kind=k, path=str(p), sha256=sha256(p))
        for k, paths in inputs.items()
        if k in FILE_NAMES
        for p in paths
        if Path(p).is_file()
    ]
    return pd.DataFrame(rows, columns=["kind", "path", "sha256"])


def digest(hashes: pd.DataFrame, kinds: Sequence[str]) -> str:
    """SHA-256 over the (path, sha256) lines of these kinds, sorted: one value a reader can recompute."""
    rows = hashes[hashes["kind"].isin(kinds)].sort_values("path")
    return hashlib.sha256(
        "".join(f"{p} {h}\n" for p, h in zip(rows["path"], rows["sha256"])).encode()
    ).hexdigest()


def sources_section(doc: Document, hashes: pd.DataFrame, commits: str) -> Section:
    """The sources appendix; marks every table and figure of `doc` with its row (call after numbering)."""
    rows = []
    for top in doc.front + doc.sections + doc.appendix:
        kinds = [k for k in READS.get(top.key, ALL) if (hashes["kind"] == k).any()]
        files = ", ".join(f"{FILE_NAMES[k]} × {int((hashes['kind'] == k).sum())}" for k in kinds) or "none"
        stack = [top]
        while stack:
            sec = stack.pop(0)
            for b in sec.blocks:
                if b.kind not in ("table", "figure"):
                    continue
                b.source = "sources"
                label = f"Table {b.number}" if b.kind == "table" else f"Figure {b.number}"
                rows.append(
                    {"Shown": label, "Computed from": files, "Inputs' digest": digest(hashes, kinds)[:16]}
                )
            stack[:0] = sec.children
    table = frame_table(pd.DataFrame(rows), "sources", "What each table and figure is computed from",
                        wrap={"Computed from": 40})  # fmt: skip
    table.source = "sources"
    return Section("sources", "Sources of every table and figure", fold=True).add(
        para(
            f"Every table and figure is computed by the render job from the result files named in its row, made "
            f"by commit {commits}; results/summary/sources.csv lists each file with its SHA-256, and the digest "
            "is the SHA-256 of those lines (`path sha256`, sorted by path) for the row's kinds. The one command "
            f"that rebuilds every table and figure from them: `{snakemake_command('--forcerun', 'render_report')}`.",
        ),
        table,
    )
