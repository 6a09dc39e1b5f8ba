"""A killed evaluation resumes: each attack × ε step's per-point outcomes are saved as it finishes.

One file in `sagr.checkpoint`'s format (atomic, checksummed, the previous generation kept) holds
every finished step, under a key hashing the model's weights, the evaluation settings and the
points. A rerun with the same key takes the finished steps from it and runs the rest; each step
seeds its own RNG (`runner._attack`), so the result is an uninterrupted run's. State saved under
another key (a retrained model, other settings or points) is discarded, never mixed in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoint as ck
from .plan import Step

log = logging.getLogger("sagr")


def evaluation_key(
    model: torch.nn.Module, settings: dict[str, Any], x: torch.Tensor, y: torch.Tensor, idx: np.ndarray
) -> str:
    """SHA-256 of what decides an evaluation's outcomes: the model (class, weights and buffers), the
    settings (suite, budgets, seed, batch size) and the points (images, labels, test-set indices)."""
    h = hashlib.sha256()
    h.update(json.dumps([type(model).__qualname__, settings], sort_keys=True, default=str).encode())
    for name, t in model.state_dict().items():
        h.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for a in (x, y, idx):
        a = torch.as_tensor(a).cpu().contiguous()
        h.update(f"{a.dtype} {tuple(a.shape)}".encode())
        h.update(a.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class SavedSteps:
    """The steps an earlier attempt of this evaluation finished (loaded), and each new one as it finishes."""

    def __init__(self, path: str | Path, key: str) -> None:
        self.path, self.identity = Path(path), {"evaluation": key}
        self.steps: list[dict[str, Any]] = self._load()

    def _load(self) -> list[dict[str, Any]]:
        best: list[dict[str, Any]] = []
        found = [p for p in (self.path.with_name(self.path.name + ".next"), self.path) if p.exists()]
        found += [p for p in [ck.previous_path(self.path)] if p.exists()]
        for p in found:
            try:
                state = ck.read_checkpoint(p)
            except ck.CorruptCheckpoint as err:  # recomputing a step costs time, never correctness
                log.warning("evaluation state %s is corrupt (%s); not used", p, err)
                continue
            if state["identity"] != self.identity:
                log.info("evaluation state %s is of another model, settings or points; not used", p)
            elif len(state["steps"]) > len(best):
                best = state["steps"]
        if found and not best:
            ck.remove(self.path)
        return best

    def get(self, i: int, step: Step, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict] | None:
        """Step ``i``'s (still correct, ‖δ‖₂, how it ran) as an earlier attempt saved it; None if not saved."""
        if i >= len(self.steps):
            return None
        s = self.steps[i]
        same = (s["attack"], tuple(s["eps"])) == (step.attack, step.eps)
        if not same or not np.array_equal(s["idx"].numpy(), idx):
            # Same key, so the same plan; only a change of the code between attempts gets here.
            log.warning(
                "evaluation state %s differs from the plan at step %d; rerunning from it", self.path, i
            )
            del self.steps[i:]
            return None
        return s["still"].numpy(), s["l2"].numpy(), dict(s["run"])

    def add(
        self, step: Step, idx: np.ndarray, still: np.ndarray, l2: np.ndarray, run: dict[str, Any]
    ) -> None:
        """Save the step that just finished (after every earlier one), atomically."""
        self.steps.append(
            {
                "attack": step.attack,
                "eps": list(step.eps),
                "idx": torch.from_numpy(np.asarray(idx)),
                "still": torch.from_numpy(np.asarray(still)),
                "l2": torch.from_numpy(np.asarray(l2)),
                "run": dict(run),
            }
        )
        ck.write_checkpoint(self.path, {"identity": self.identity, "steps": self.steps})

    def remove(self) -> None:
        """Delete the state (once the job's outputs are written)."""
        ck.remove(self.path)
