"""Model architectures (normalisation as the first layer), their factories (sagr.registry.ARCHS names them), safe checkpoints."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from .files import load_torch, plain, save_torch

# Activations are never in-place: the regularisers double-backpropagate through the network and
# torch.func transforms it, both of which are safer without in-place ops.


class Normalize(nn.Module):
    """(x - mean) / std per channel, so that models take inputs in [0,1] pixel space (attacks' ε live there)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"mean {mean} and std {std} must have equal lengths and std > 0")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a batch N×C×H×W."""
        return (x - self.mean) / self.std


class SmallCNN(nn.Module):
    """Two conv + two linear layers (~185k params on 28×28×1): cheap enough to train dozens on 2 CPU cores."""

    def __init__(
        self,
        n_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        width: int = 32,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2  # two (conv k5, no padding) + maxpool 2 stages
        if side < 1:
            raise ValueError(f"image_size {image_size} too small for SmallCNN (need >= 16)")
        self.conv1 = nn.Conv2d(in_channels, width, 5)
        self.conv2 = nn.Conv2d(width, 2 * width, 5)
        self.fc1 = nn.Linear(2 * width * side * side, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)
        # Channels-last conv weights make oneDNN keep the activations channels-last: 1.9x the CPU
        # training throughput of NCHW at this width (benchmarks/bench_methods.py), same function.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N×n_classes."""
        # Pool before ReLU: the same function and the same gradient (max and ReLU commute; ties that
        # route differently sit where ReLU's derivative is 0), with the ReLU on a quarter of the map.
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al. 2016), as in locuslab/fast_adversarial."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output."""
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """PreAct ResNet-18 for 32×32 inputs (locuslab/fast_adversarial, TRADES-style CIFAR setups)."""

    def __init__(
        self, n_classes: int = 10, in_channels: int = 3, image_size: int = 32, width: int = 64
    ) -> None:
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.layer1 = self._make_layer(width, 2, 1)
        self.layer2 = self._make_layer(2 * width, 2, 2)
        self.layer3 = self._make_layer(4 * width, 2, 2)
        self.layer4 = self._make_layer(8 * width, 2, 2)
        self.bn = nn.BatchNorm2d(8 * width)
        self.linear = nn.Linear(8 * width, n_classes)

    def _make_layer(self, planes: int, n_blocks: int, stride: int) -> nn.Sequential:
        """Stack n_blocks blocks, the first with the given stride."""
        layers = []
        for s in [stride] + [1] * (n_blocks - 1):
            layers.append(PreActBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N×n_classes."""
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.relu(self.bn(out))
        # Global average pool: equals the reference avg_pool2d(out, 4) at 32×32, and works at other sizes.
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class WideBasicBlock(nn.Module):
    """Wide-ResNet basic block, as in the TRADES repository."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.drop_rate = drop_rate
        self.equal_in_out = in_planes == out_planes
        self.conv_shortcut = (
            None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output."""
        if self.equal_in_out:
            out = F.relu(self.bn1(x))
        else:
            x = F.relu(self.bn1(x))  # the reference shares the pre-activation with the shortcut here
            out = x
        out = F.relu(self.bn2(self.conv1(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + out


class WideResNet(nn.Module):
    """WideResNet-depth-width (default 34-10, ~46M params) for 32×32 inputs, as in the TRADES repository."""

    def __init__(
        self,
        n_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        depth: int = 34,
        widen_factor: int = 10,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        ch = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, ch[0], 3, 1, 1, bias=False)
        self.block1 = self._group(n, ch[0], ch[1], 1, drop_rate)
        self.block2 = self._group(n, ch[1], ch[2], 2, drop_rate)
        self.block3 = self._group(n, ch[2], ch[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.fc = nn.Linear(ch[3], n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    @staticmethod
    def _group(n: int, in_planes: int, out_planes: int, stride: int, drop_rate: float) -> nn.Sequential:
        """n blocks, the first changing width/stride."""
        return nn.Sequential(
            *[
                WideBasicBlock(
                    in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, drop_rate
                )
                for i in range(n)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits N×n_classes."""
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn1(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # = avg_pool2d(out, 8) at 32×32
        return self.fc(out)


# The factories of sagr.registry.ARCHS (each (n_classes, in_channels, image_size) -> module): the
# registry entry names one, with its label; nothing else lists the architectures.


def small_cnn(n: int, c: int, s: int) -> nn.Module:
    """16/64 keeps the default CPU run within budget."""
    return SmallCNN(n, c, s, width=16, hidden=64)


def small_cnn_wide(n: int, c: int, s: int) -> nn.Module:
    """The wide small CNN, for GPU runs."""
    return SmallCNN(n, c, s, width=32, hidden=128)


def preact_resnet18(n: int, c: int, s: int) -> nn.Module:
    """PreActResNet-18 as in Rice et al. 2020."""
    return PreActResNet18(n, c, s)


def preact_resnet18_tiny(n: int, c: int, s: int) -> nn.Module:
    """Same depth, blocks and BatchNorms at 1/8 width: the paper architecture's shape for CPU smoke runs."""
    return PreActResNet18(n, c, s, width=8)


def wrn34_10(n: int, c: int, s: int) -> nn.Module:
    """WideResNet-34-10 (Madry et al., TRADES, MART)."""
    return WideResNet(n, c, s, depth=34, widen_factor=10)


SPEC_KEYS = ("arch", "n_classes", "in_channels", "image_size", "mean", "std")


def build_model(
    arch: str, n_classes: int, in_channels: int, image_size: int, mean: Sequence[float], std: Sequence[float]
) -> nn.Sequential:
    """Build Sequential(normalize=Normalize(mean, std), net=<arch's factory>(...)) taking inputs in [0,1]."""
    factory = registry.arch(arch).load_factory()  # ValueError naming the known ones
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(f"mean/std need {in_channels} entries, got {list(mean)} / {list(std)}")
    net = factory(int(n_classes), int(in_channels), int(image_size))
    return nn.Sequential(OrderedDict(normalize=Normalize(mean, std), net=net))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device | str) -> torch.Tensor:
    """Predicted labels of ``x`` (on the CPU), ``batch_size`` inputs at a time on ``device``.

    ``x`` may live on the CPU or on the device already (the whole dataset on the GPU).
    The caller sets the model's mode.
    """
    out = [model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def save_model(path: Path, model: nn.Module, spec: dict) -> None:
    """Save {"spec", "state_dict"} atomically (temp file + os.replace), so readers never see a partial file."""
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise ValueError(f"spec lacks {missing} (needs {list(SPEC_KEYS)})")
    spec = plain(spec, "spec")  # weights_only loading accepts nothing else
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch({"spec": spec, "state_dict": state}, path)


def load_checkpoint(path: Path, map_location: Any = "cpu", brought: bool = False) -> tuple[nn.Module, dict]:
    """Load (model in eval mode, spec) with torch.load(weights_only=True): no arbitrary code from the file.

    ``brought``: the user's own file (``sagr evaluate``), which may lack the pipeline's hash record.
    """
    ckpt = load_torch(path, map_location=map_location, brought=brought)  # verified, names the file
    if not isinstance(ckpt, dict) or "spec" not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a sagr checkpoint (want a dict with 'spec' and 'state_dict')")
    spec = ckpt["spec"]
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise ValueError(f"{path}: spec lacks {missing}")
    model = _fitted(path, spec, ckpt["state_dict"])
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model.eval(), spec


def _fitted(path: Path, spec: dict, state: dict[str, torch.Tensor]) -> nn.Module:
    """The spec's network holding ``state``, checked against the weights before any memory is spent.

    A spec is only text: ``n_classes: 1e8`` or ``image_size: 1e5`` would make build_model allocate
    tens of GB. The network is built on the meta device (shapes, no storage), compared tensor by
    tensor with the weights in the file, and only then given those weights (no second copy).
    """
    for key in ("n_classes", "in_channels", "image_size"):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path}: spec {key} = {value!r} is not a positive integer")
    with torch.device("meta"):
        shell = build_model(**{k: spec[k] for k in SPEC_KEYS})
    want = {k: tuple(v.shape) for k, v in shell.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    for key in sorted(want.keys() | have.keys()):
        if want.get(key) != have.get(key):
            described = ", ".join(
                f"{k}={spec[k]}" for k in ("arch", "n_classes", "in_channels", "image_size")
            )
            raise ValueError(
                f"{path}: the weights do not fit the spec ({described}): {key} has shape "
                f"{have.get(key, 'none')} in the file, {want.get(key, 'none')} for the spec"
            )
    shell.load_state_dict(state, assign=True)
    return shell


def load_model(path: Path, map_location: Any = "cpu", brought: bool = False) -> nn.Module:
    """Load a model saved by save_model, rebuilt from its spec, in eval mode (``brought``: see load_checkpoint)."""
    return load_checkpoint(path, map_location, brought)[0]
