"""Augmentation: each output is a padded crop (and maybe a mirror) of its own input; off draws nothing."""

import pytest
import torch
import torch.nn.functional as F

from sagr.augment import augment_batch, supported, unsupported
from sagr.config import ConfigError, check_config

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _explain(src, out, padding, allow_flip):
    """The (dy, dx, flipped) that turn src into out, or None."""
    padded = F.pad(src, (padding,) * 4)
    h, w = src.shape[-2:]
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            for flipped in (False, True) if allow_flip else (False,):
                if torch.equal(crop.flip(2) if flipped else crop, out):
                    return dy, dx, flipped
    return None


@pytest.mark.parametrize("device", DEVICES)
def test_every_image_is_a_crop_or_mirrored_crop_of_itself(device):
    x = torch.rand(64, 3, 12, 12, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    out = augment_batch(x, ["crop", "flip"], 2, gen)
    assert out.shape == x.shape and out.device == x.device
    found = [_explain(x[i], out[i], 2, allow_flip=True) for i in range(len(x))]
    assert all(f is not None for f in found)
    offsets = {f[:2] for f in found}
    assert len(offsets) > 10 and {f[2] for f in found} == {False, True}  # really random, both ways
    crop_only = augment_batch(x, ["crop"], 2, torch.Generator(device=device).manual_seed(0))
    assert all(_explain(x[i], crop_only[i], 2, allow_flip=False) for i in range(len(x)))


def test_same_generator_state_gives_the_same_batch_and_off_draws_nothing():
    x = torch.rand(8, 3, 8, 8)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(augment_batch(x, ["crop", "flip"], 4, g1), augment_batch(x, ["crop", "flip"], 4, g2))
    before = torch.get_rng_state()
    state = g1.get_state()
    assert augment_batch(x, [], 4, g1) is x
    assert torch.equal(g1.get_state(), state) and torch.equal(torch.get_rng_state(), before)


def test_flip_is_refused_for_digits_before_any_job(smoke_config):
    assert (
        unsupported("svhn", ["crop", "flip"]) == ["flip"] and unsupported("cifar10", ["crop", "flip"]) == []
    )
    assert "flip" not in supported("mnist") and supported("unknown") == frozenset()
    smoke_config["datasets"]["mnist"]["augment"] = ["flip"]
    with pytest.raises(ConfigError, match=r"datasets\.mnist\.augment: \['flip'\]"):
        check_config(smoke_config)
