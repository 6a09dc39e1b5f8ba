"""AutoAttack's automatic checks on the model itself, run once per model before any attack.

Croce & Hein's reference AutoAttack (``autoattack/checks.py``, installed here as `pyautoattack`) warns
when a robustness number cannot be trusted because of what the model is, whatever the attacks find:

- ``deterministic``: a randomised forward pass (5 passes on the same inputs, outputs normalised per
  row, any pair more than 1e-4 apart in L2, or a different number of correct predictions) — gradient
  attacks then follow noise, and an expectation over transformations is needed instead;
- ``logits_not_probabilities``: outputs that are already probabilities (every value in [0, 1] and every
  row summing to 1, within 1e-5) — the attacks' losses expect logits and saturate on probabilities;
- ``input_gradients``: a point whose input gradient of the loss is exactly zero, or any non-finite
  gradient — gradient attacks then cannot move (stop-gradient, no_grad inside the model, saturation).

A model in training mode is refused (`ModelInTrainingMode`) rather than recorded, as RobustBench
refuses one: its BatchNorm statistics and dropout would make every number depend on the batch.
The results are `sagr.robustness.records.ModelCheck` records, stored in robustness.json beside the
gradient-masking checks (`sagr.masking`), which test the attacks' outcomes instead.
"""

from __future__ import annotations

import torch
from torch import nn

from .robustness.records import ModelCheck

#: Points the checks run on (the first of the evaluation points): a few passes on them stay cheap.
MAX_POINTS: int = 64
#: The reference's check_randomized: passes, and tolerance on the L2 distance of row-normalised outputs.
RANDOMISED_PASSES: int = 5
RANDOMISED_TOL: float = 1e-4
#: The reference's check_range_output: tolerance on [0, 1] and on rows summing to 1.
PROBABILITY_TOL: float = 1e-5

#: Each recorded check's id and title, in the order they run and are reported.
CHECK_TITLES: dict[str, str] = {
    "deterministic": f"Forward pass is deterministic ({RANDOMISED_PASSES} passes agree)",
    "logits_not_probabilities": "Outputs are logits, not probabilities",
    "input_gradients": "Input gradients of the loss are non-zero and finite on every point",
}


class ModelInTrainingMode(ValueError):
    """A model with modules in training mode when its evaluation would start."""


def training_modules(model: nn.Module) -> list[str]:
    """The modules of `model` in training mode, by name ("<model>" for the model itself)."""
    return [f"{name or '<model>'} ({type(m).__name__})" for name, m in model.named_modules() if m.training]


def require_eval_mode(model: nn.Module, name: str) -> None:
    """Refuse a model any of whose modules is in training mode (RobustBench refuses one too)."""
    training = training_modules(model)
    if training:
        shown = ", ".join(training[:5]) + (f" and {len(training) - 5} more" if len(training) > 5 else "")
        raise ModelInTrainingMode(
            f"model {name} is in training mode at evaluation time ({len(training)} module(s): {shown}); "
            "BatchNorm statistics and dropout would make every number depend on the batch. Call "
            "model.eval(), and check that no module overrides train() or switches itself back in forward()"
        )


def _normalised(out: torch.Tensor) -> torch.Tensor:
    """Each row divided by its L2 norm, as the reference compares outputs (scale-free)."""
    return out / (out.flatten(1).norm(dim=1).view(-1, *[1] * (out.dim() - 1)) + 1e-10)


def check_deterministic(outputs: list[torch.Tensor], y: torch.Tensor) -> ModelCheck:
    """Fails when any two passes' row-normalised outputs are more than RANDOMISED_TOL apart (L2, on some
    point) or when the passes get different numbers of points right (the reference's check_randomized)."""
    normed = [_normalised(o) for o in outputs]
    pairs = [
        (normed[i] - normed[j]).flatten(1).norm(dim=1).max()
        for i in range(len(normed))
        for j in range(i + 1, len(normed))
    ]
    gap = float(torch.stack(pairs).max()) if pairs else 0.0  # torch's max keeps a NaN, Python's may not
    right = [int((o.argmax(1) == y).sum()) for o in outputs]
    # NaN compares false with everything: a non-finite output fails rather than passes
    passed = gap <= RANDOMISED_TOL and len(set(right)) == 1
    return ModelCheck(
        check="deterministic",
        title=CHECK_TITLES["deterministic"],
        passed=bool(passed),
        detail=f"{len(outputs)} forward passes on {len(y)} points: largest L2 distance between "
        f"row-normalised outputs {gap:.3g} (tolerance {RANDOMISED_TOL:g}); points right per pass "
        f"{', '.join(map(str, right))}" + ("" if passed else "; a randomised model needs an EOT evaluation"),
        n_points=len(y),
    )


def check_logits_not_probabilities(out: torch.Tensor) -> ModelCheck:
    """Fails when every output is in [0, 1] and every row sums to 1, within PROBABILITY_TOL (the
    reference's check_range_output): the model returns probabilities, not logits."""
    lo, hi = float(out.min()), float(out.max())
    sums = (out.sum(-1) - 1.0).abs()
    worst_sum = float(sums.max())
    probabilities = lo > -PROBABILITY_TOL and hi < 1.0 + PROBABILITY_TOL and worst_sum < PROBABILITY_TOL
    return ModelCheck(
        check="logits_not_probabilities",
        title=CHECK_TITLES["logits_not_probabilities"],
        passed=not probabilities,
        detail=f"outputs on {len(out)} points range over [{lo:.3g}, {hi:.3g}]; rows sum to 1 within "
        f"{worst_sum:.3g} (a probability output: within [0, 1] and every row within {PROBABILITY_TOL:g})"
        + ("; the attacks' losses need logits" if probabilities else ""),
        n_points=len(out),
    )


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-point loss whose input gradient is checked: the reference's DLR loss (it checks the gradients
    of APGD's DLR runs), scale-free so that it does not saturate on confident points as cross-entropy does
    in float32. With fewer than 3 classes (DLR undefined): the margin max_{i≠y} z_i - z_y."""
    srt, ind = logits.sort(dim=1)
    top_is_y = (ind[:, -1] == y).float()
    z_y = logits.gather(1, y[:, None])[:, 0]
    margin = srt[:, -2] * top_is_y + srt[:, -1] * (1.0 - top_is_y) - z_y
    if logits.shape[1] < 3:
        return margin
    return margin / (srt[:, -1] - srt[:, -3] + 1e-12)


def check_input_gradients(model: nn.Module, x: torch.Tensor) -> ModelCheck:
    """Fails when some point's input gradient of the DLR loss is exactly zero, or any gradient entry is
    not finite (the reference's check_zero_gradients, on the clean points).

    The loss is taken at each point's predicted class: the attacks run on the points the model gets
    right, where that is the label. At a true label ranked third DLR is identically 1 (its numerator
    and denominator coincide), a zero gradient of the loss, not of the model."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = dlr_loss(logits, logits.detach().argmax(1)).sum()
        # A model that cuts the graph (detach, no_grad inside forward) leaves x unused: a zero gradient
        if loss.requires_grad:
            (grad,) = torch.autograd.grad(loss, [x], allow_unused=True)
        else:
            grad = None
    grad = torch.zeros_like(x) if grad is None else grad.detach()
    flat = grad.flatten(1)
    finite = torch.isfinite(flat).all(dim=1)
    zero = finite & (flat.abs().sum(dim=1) == 0)
    n_zero, n_bad = int(zero.sum()), int((~finite).sum())
    passed = n_zero == 0 and n_bad == 0
    return ModelCheck(
        check="input_gradients",
        title=CHECK_TITLES["input_gradients"],
        passed=passed,
        detail=f"input gradients of the DLR loss on {len(x)} points: {n_zero} exactly zero, "
        f"{n_bad} with a non-finite entry"
        + ("" if passed else "; gradient attacks cannot move there (masked or broken gradients)"),
        n_points=len(x),
    )


def model_checks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    name: str = "model",
    device: torch.device | str | None = None,
) -> list[ModelCheck]:
    """AutoAttack's model checks on the first MAX_POINTS of (x, y) (inputs in [0, 1]), in CHECK_TITLES'
    order. Raises ModelInTrainingMode, naming `name`, for a model in training mode before any pass, or
    one that a forward pass switched into training mode. The RNG state is restored afterwards, so a
    randomised model's attacks draw what they would have drawn without the checks."""
    require_eval_mode(model, name)
    if device is None:
        device = next(model.parameters(), torch.zeros(0)).device
    device = torch.device(device)
    x = torch.as_tensor(x, dtype=torch.float32)[:MAX_POINTS].to(device)
    y = torch.as_tensor(y, dtype=torch.long)[:MAX_POINTS].to(device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        with torch.no_grad():
            outputs = [model(x).float() for _ in range(RANDOMISED_PASSES)]
        results = [
            check_deterministic(outputs, y),
            check_logits_not_probabilities(outputs[0]),
            check_input_gradients(model, x),
        ]
    require_eval_mode(model, name)  # a forward pass that switched a module back into training mode
    return results
