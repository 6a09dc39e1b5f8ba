"""The sharpness metrics of METHOD.md (sagr.saliency) on maps whose values are known by hand.
Gini decides claims C1, C3 and C4."""

from __future__ import annotations

import math

import pytest
import torch

from sagr import saliency as S

N = 16  # pixels of a 4×4 map


def maps(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).view(len(rows), 4, 4)


def one_hot(i: int = 5, value: float = 3.0) -> list[float]:
    m = [0.0] * N
    m[i] = value
    return m


def k_hot(k: int, value: float = 2.0) -> list[float]:
    return [value] * k + [0.0] * (N - k)


def test_gini_of_known_maps() -> None:
    # One-hot: (n − 1)/n; uniform: 0; k equal pixels of n: 1 − k/n; scale-free.
    g = S.gini(maps(one_hot(), [1.0] * N, k_hot(4), k_hot(4, value=50.0), k_hot(8)))
    assert g.tolist() == pytest.approx([(N - 1) / N, 0.0, 1 - 4 / N, 1 - 4 / N, 1 - 8 / N])


def test_gini_of_an_uneven_map_by_hand() -> None:
    # Sorted values 0 ×12, 1, 1, 2, 4 (sum 8): Σ (2i − n − 1)·a_i / (n Σ a) with i = 13..16 for the
    # non-zero ones: (9·1 + 11·1 + 13·2 + 15·4) / (16·8) = 106/128.
    m = [0.0] * 12 + [4.0, 1.0, 2.0, 1.0]
    assert S.gini(maps(m)).item() == pytest.approx(106 / 128)


def test_normalised_entropy_of_known_maps() -> None:
    # Uniform: 1; one-hot: 0; k equal pixels: log k / log n.
    h = S.normalized_entropy(maps([1.0] * N, one_hot(), k_hot(4), k_hot(8, value=0.1)))
    assert h.tolist() == pytest.approx(
        [1.0, 0.0, math.log(4) / math.log(N), math.log(8) / math.log(N)], abs=1e-12
    )


def test_entropy_of_an_uneven_map_by_hand() -> None:
    # p = (1/2, 1/4, 1/4) on three pixels: H = 1.5 log 2.
    m = [2.0, 1.0, 1.0] + [0.0] * (N - 3)
    assert S.normalized_entropy(maps(m)).item() == pytest.approx(1.5 * math.log(2) / math.log(N))


def test_alignment_of_known_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 3, 3, generator=g, dtype=torch.float64)
    other = torch.rand(1, 2, 3, 3, generator=g, dtype=torch.float64)
    orth = other - (other * x).sum() / (x * x).sum() * x  # orthogonal to x
    grads = torch.cat([3 * x, -0.5 * x, orth, x + orth])
    xs = x.repeat(4, 1, 1, 1)
    cos = ((x * (x + orth)).sum() / (x.norm() * (x + orth).norm())).item()
    assert S.alignment(xs, grads).tolist() == pytest.approx([1.0, 1.0, 0.0, cos], abs=1e-12)
    assert 0.1 < cos < 0.99


def test_saliency_map_sums_absolute_gradients_over_channels() -> None:
    grad = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.5]]]])  # 1 image, 2 channels, 1×2 pixels
    assert S.saliency_map(grad).tolist() == [[[4.0, 2.5]]]


def test_foreground_mass_of_known_maps() -> None:
    # Foreground: the 4 pixels of the top row brighter than the threshold (a channel mean > 0.1).
    x = torch.zeros(3, 1, 4, 4, dtype=torch.float64)
    x[:, 0, 0, :] = 0.9
    x[:, 0, 1, :] = S.FOREGROUND_THRESHOLD  # at the threshold: background
    m = torch.zeros(3, 4, 4, dtype=torch.float64)
    m[0, 0, :] = 1.0  # all on the object
    m[1, 3, :] = 1.0  # all on the background
    m[2, 0, 0], m[2, 1, 0], m[2, 2, 0] = 3.0, 0.5, 0.5  # 3 of 4 on the object
    assert S.foreground_mass(x, m).tolist() == pytest.approx([1.0, 0.0, 0.75])


def test_saliency_metrics_uses_the_summed_map_and_skips_foreground_on_bright_backgrounds() -> None:
    x = torch.zeros(2, 3, 4, 4, dtype=torch.float64)
    x[:, :, 0, 0] = 1.0
    grad = torch.zeros_like(x)
    grad[0, 0, 0, 0], grad[0, 2, 0, 0] = 1.0, -1.0  # one pixel in two channels: one-hot map
    grad[1] = 1.0  # uniform map
    out = S.saliency_metrics(x, grad, dark_background=True)
    assert out["gini"].tolist() == pytest.approx([(N - 1) / N, 0.0])
    assert out["entropy"].tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
    assert out["foreground_mass"].tolist() == pytest.approx([1.0, 1 / N])
    assert "foreground_mass" not in S.saliency_metrics(x, grad, dark_background=False)
    summary = S.summarize(out)
    assert summary["gini"] == pytest.approx({"mean": (N - 1) / N / 2, "std": (N - 1) / N / 2})


def test_metrics_do_not_depend_on_the_scale_of_the_gradients() -> None:
    # Real input gradients are often tiny (|∇| ~ 1e-4): every metric is scale-free, down to them.
    m = torch.tensor([[0.0] * 12 + [4.0, 1.0, 2.0, 1.0]], dtype=torch.float64).view(1, 4, 4)
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    x[0, 0, 3, :2] = 0.9  # the object: the pixels holding 4 and 1
    for scale in (1.0, 1e-3, 1e-7):
        assert S.gini(scale * m).item() == pytest.approx(106 / 128)
        assert S.foreground_mass(x, scale * m).item() == pytest.approx(5 / 8)
        assert S.alignment(x, scale * m[:, None]).item() == pytest.approx(
            (0.9 * 4 + 0.9 * 1) / (0.9 * math.sqrt(2) * math.sqrt(16 + 1 + 4 + 1))
        )


def test_saliency_metrics_reports_the_alignment_and_summarize_marks_missing_metrics() -> None:
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    x[0, 0, 0, 0] = 1.0
    grad = x.clone()
    grad[0, 0, 1, 1] = 1.0  # half aligned: cos = 1/√2
    out = S.saliency_metrics(x, grad, dark_background=False)
    assert out["alignment"].tolist() == pytest.approx([1 / math.sqrt(2)])
    summary = S.summarize(out)
    assert summary["foreground_mass"] is None and summary["alignment"]["mean"] == pytest.approx(
        1 / math.sqrt(2)
    )


def test_input_gradients_of_a_linear_model_are_the_target_rows_in_eval_mode() -> None:
    # z = BN(W x): in eval mode ∇_x z_y = W_y · γ_y / √(running_var_y + eps) exactly; in training
    # mode BatchNorm would use the batch statistics and couple the images of a batch.
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 3)
    bn = torch.nn.BatchNorm1d(3)
    bn.running_var.copy_(torch.tensor([4.0, 0.25, 1.0]))
    bn.weight.data.copy_(torch.tensor([1.0, 2.0, -1.0]))
    model = torch.nn.Sequential(torch.nn.Flatten(), lin, bn)
    model.train()
    x = torch.rand(5, 1, 2, 3)
    y = torch.tensor([0, 1, 2, 1, 0])
    g = S.input_gradients(model, x, y, batch_size=2, device=torch.device("cpu"))
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    expected = (lin.weight * scale[:, None])[y].view(5, 1, 2, 3)
    assert g.shape == x.shape and torch.allclose(g, expected.detach(), atol=1e-6)
    assert g.requires_grad is False and g.device.type == "cpu"
