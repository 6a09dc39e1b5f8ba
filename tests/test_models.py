"""Tests for sagr.models: shapes, normalisation inside the model, safe atomic checkpoints, registry errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import sagr
from sagr.models import Normalize, build_model, load_checkpoint, load_model, save_model
from sagr.registry import ARCHS

MNIST_SPEC = dict(arch="small_cnn", n_classes=10, in_channels=1, image_size=28, mean=[0.1307], std=[0.3081])
CIFAR_NORM = dict(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))


@pytest.mark.parametrize(
    "arch,n_classes,channels,size,batch",
    [
        ("small_cnn", 10, 1, 28, 4),
        ("small_cnn", 10, 3, 32, 4),
        ("preact_resnet18", 10, 3, 32, 2),
        ("preact_resnet18", 100, 3, 32, 2),
        ("preact_resnet18_tiny", 10, 3, 32, 2),
        ("wrn34_10", 10, 3, 32, 2),
    ],
)
def test_forward_shape(arch: str, n_classes: int, channels: int, size: int, batch: int) -> None:
    torch.manual_seed(0)
    mean, std = [0.5] * channels, [0.25] * channels
    model = build_model(arch, n_classes, channels, size, mean, std).eval()
    with torch.no_grad():
        out = model(torch.rand(batch, channels, size, size))
    assert out.shape == (batch, n_classes) and torch.isfinite(out).all()


def test_all_archs_tested() -> None:
    assert set(ARCHS) == {
        "small_cnn",
        "small_cnn_wide",
        "preact_resnet18",
        "preact_resnet18_tiny",
        "wrn34_10",
    }


def test_tiny_preact_resnet_has_the_full_ones_shape_at_an_eighth_of_the_width() -> None:
    full, tiny = (
        build_model(a, 10, 3, 32, **CIFAR_NORM) for a in ("preact_resnet18", "preact_resnet18_tiny")
    )
    kinds = lambda m: [type(x).__name__ for x in m.modules()]
    assert kinds(full) == kinds(tiny)  # same blocks, BatchNorms and shortcuts, in the same order
    assert full.net.linear.in_features == 8 * tiny.net.linear.in_features == 512


def test_small_cnns_are_cheap() -> None:
    count = lambda arch: sum(p.numel() for p in build_model(**{**MNIST_SPEC, "arch": arch}).parameters())
    assert 20_000 <= count("small_cnn") < count("small_cnn_wide") <= 400_000


def test_normalisation_is_inside_the_model() -> None:
    torch.manual_seed(0)
    model = build_model("preact_resnet18", 10, 3, 32, **CIFAR_NORM).eval()
    assert isinstance(model[0], Normalize)
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor(CIFAR_NORM["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_NORM["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.net((x - mean) / std))


def test_input_gradient_flows_through_normalisation() -> None:
    model = build_model(**MNIST_SPEC)
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    (g,) = torch.autograd.grad(model(x)[:, 0].sum(), x, create_graph=True)
    assert g.shape == x.shape and g.requires_grad  # double backprop (IGR/JR/SAGR) is possible


def test_save_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(**MNIST_SPEC)
    model.train()
    # one optimiser step so the weights differ from any fresh initialisation
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.rand(8, 1, 28, 28)
    nn.functional.cross_entropy(model(x), torch.arange(8)).backward()
    opt.step()
    path = tmp_path / "sub" / "model.pt"
    spec = {
        **MNIST_SPEC,
        "mean": (0.1307,),
        "method": "sagr",
        "hparams": {"lam": 0.1, "beta": [0.5]},
        "seed": 3,
    }
    save_model(path, model, spec)
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "model.pt",
        "model.pt.sha256",
    ]  # no temp file left

    loaded = load_model(path)
    assert not loaded.training and all(not m.training for m in loaded.modules())
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    _, saved_spec = load_checkpoint(path)
    assert saved_spec["mean"] == [0.1307] and saved_spec["hparams"] == {"lam": 0.1, "beta": [0.5]}
    assert sagr.load_model is load_model


def test_saving_the_same_model_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    # A rebuilt model must hash like the original: torch.save to a file name stores that (random,
    # temporary) name in the archive, which made every save of the same weights differ.
    torch.manual_seed(0)
    model = build_model(**MNIST_SPEC)
    save_model(tmp_path / "a" / "model.pt", model, MNIST_SPEC)
    save_model(tmp_path / "b" / "model.pt", model, MNIST_SPEC)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_round_trip_keeps_batchnorm_stats(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = dict(arch="preact_resnet18", n_classes=10, in_channels=3, image_size=32, **CIFAR_NORM)
    model = build_model(**spec).train()
    with torch.no_grad():
        model(torch.rand(4, 3, 32, 32))  # updates BN running stats
    model.eval()
    save_model(tmp_path / "m.pt", model, spec)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_model(tmp_path / "m.pt")(x), model(x), rtol=0, atol=0)


class _NotWeights:
    """An arbitrary class: unpickling it would mean running code named by the file."""

    def __reduce__(self):  # noqa: ANN204
        return (print, ("this must never run",))


def test_load_refuses_non_weights_objects(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = build_model(**MNIST_SPEC)
    path = tmp_path / "evil.pt"
    torch.save({"spec": MNIST_SPEC, "state_dict": model.state_dict(), "extra": _NotWeights()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_model(path, brought=True)  # the user's own file: no hash record, so the loader is the guard
    assert "this must never run" not in capsys.readouterr().out


def test_save_rejects_non_plain_spec(tmp_path: Path) -> None:
    model = build_model(**MNIST_SPEC)
    with pytest.raises(TypeError, match="Path"):
        save_model(tmp_path / "m.pt", model, {**MNIST_SPEC, "data": Path("x")})
    with pytest.raises(ValueError, match="arch"):
        save_model(tmp_path / "m.pt", model, {k: v for k, v in MNIST_SPEC.items() if k != "arch"})
    assert not any(tmp_path.iterdir())


def test_unknown_arch() -> None:
    with pytest.raises(ValueError) as err:
        build_model("resnet50", 10, 3, 32, *CIFAR_NORM.values())
    assert "resnet50" in str(err.value) and "small_cnn" in str(err.value) and "wrn34_10" in str(err.value)


def test_mean_std_must_match_channels() -> None:
    with pytest.raises(ValueError):
        build_model("small_cnn", 10, 3, 32, [0.5], [0.5])


def test_small_cnn_is_the_relu_then_pool_network_it_replaces():
    """SmallCNN pools before its ReLU and keeps channels-last weights for speed: the logits and the
    input gradient must be those of the textbook conv → ReLU → max-pool network with the same weights."""
    import torch.nn.functional as F

    from sagr.models import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN(10, 1, 28, width=16, hidden=64)
    assert net.conv1.weight.is_contiguous(memory_format=torch.channels_last)

    def textbook(x):
        w1, w2 = net.conv1.weight.contiguous(), net.conv2.weight.contiguous()
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, net.conv1.bias)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, net.conv2.bias)), 2)
        return net.fc2(F.relu(net.fc1(h.flatten(1))))

    x = torch.rand(32, 1, 28, 28, requires_grad=True)
    y = torch.randint(0, 10, (32,))
    got, want = net(x), textbook(x)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    g_got = torch.autograd.grad(F.cross_entropy(got, y), x)[0]
    g_want = torch.autograd.grad(F.cross_entropy(want, y), x)[0]
    assert torch.allclose(g_got, g_want, atol=1e-6, rtol=1e-4) and g_want.abs().sum() > 0
