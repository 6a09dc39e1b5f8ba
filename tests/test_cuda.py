"""The CUDA path: runs only where a GPU exists (benchmarks/gpu_check.sh runs it on a lent GPU)."""

import pytest
import torch

from sagr.models import build_model
from sagr.provenance import gpu_info
from sagr.train import CheckpointPolicy, Validation, fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")
SGD = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "cosine"}


def _fit(method, hp, checkpoint=None, epochs=2):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(96, 3, 32, 32, generator=g), torch.randint(0, 10, (96,), generator=g)
    torch.manual_seed(0)
    model = build_model("preact_resnet18_tiny", 10, 3, 32, (0.5,) * 3, (0.25,) * 3).to(
        memory_format=torch.channels_last
    )
    result = fit(
        model,
        x[16:],
        y[16:],
        method,
        hp,
        epochs,
        20,
        SGD,
        0,
        CUDA,
        False,
        augment=("crop", "flip"),
        validation=Validation(x[:16], y[:16], 8 / 255, 2, 0.5),
        checkpoint=checkpoint,
        data_on_device=True,
    )
    return model, result


@pytest.mark.parametrize(
    "method, hp",
    [
        ("standard", {}),
        ("pgd_at", {"eps": 8 / 255, "steps": 2, "alpha_over_eps": 0.5}),
        ("trades", {"eps": 8 / 255, "steps": 2, "alpha_over_eps": 0.5, "beta_trades": 6.0}),
        ("igr", {"lam": 1.0}),
        ("jr", {"lam": 0.1, "estimator": "projection", "n_proj": 1}),
        ("sagr", {"lam": 0.1, "beta": 0.5, "T": 1.0, "form": "decoupled", "estimator": "exact", "n_proj": 1}),
    ],
)
def test_every_method_trains_on_cuda_with_data_and_augmentation_on_device(method, hp):
    model, result = _fit(method, hp)
    assert all(p.is_cuda for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)
    assert result.best_epoch in (1, 2) and len(result.val_history) == 2


def test_resume_on_cuda_matches_the_uninterrupted_run(tmp_path):
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    hp = {"eps": 8 / 255, "steps": 2, "alpha_over_eps": 0.5}
    ref, _ = _fit("pgd_at", hp, epochs=3)
    policy = CheckpointPolicy(tmp_path / "train3.pt", {"run": "cuda3"})
    orig_step = torch.optim.SGD.step
    calls = [0]

    def step(self, *a, **k):
        calls[0] += 1
        if calls[0] > 6:
            raise KeyboardInterrupt
        return orig_step(self, *a, **k)

    torch.optim.SGD.step = step
    try:
        with pytest.raises(KeyboardInterrupt):
            _fit("pgd_at", hp, checkpoint=policy, epochs=3)
    finally:
        torch.optim.SGD.step = orig_step
    resumed, result = _fit("pgd_at", hp, checkpoint=policy, epochs=3)
    assert result.resumed_from == [{"epoch": 2, "step": 0}]
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        # index_put backward and cuDNN may sum in another order on GPU: equal up to float noise.
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


def test_gpu_provenance_names_model_cuda_and_cudnn():
    info = gpu_info(CUDA)
    assert info["name"] and info["cuda"] and info["cudnn"] and info["memory_gib"] > 0
    assert gpu_info(torch.device("cpu")) is None
