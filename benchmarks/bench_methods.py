"""Time one training step of every method and estimator, interleaved, on one architecture.

    python benchmarks/bench_methods.py --arch small_cnn|preact_resnet18 [--device cpu|cuda]
        [--batch-size N] [--steps N] [--warmup N] [--threads N] [--noise-draws N] [--out FILE]

Every round times one step of each variant in turn (fresh model and optimiser per variant), so a
noisy, shared machine slows all of them alike; the ratio to a standard step is the median over
rounds of the per-round ratio (interquartile range beside it), warm-up rounds excluded. Also
measures the noise of one draw of each random estimator against ``exact``. Prints both tables and
writes JSON (arch, device, threads, batch size, data, rows, noise, provenance).

Data: small_cnn takes an MNIST batch (from the data mirror); preact_resnet18 takes a synthetic
uniform 3×32×32 batch unless CIFAR-10 is cached (step time does not depend on pixel values; the
noise figures do, and the JSON says which data made them). The methods' hyper-parameters come
from --config. The pipeline's `benchmark_cost` rule runs the same measurement on the config's
benchmark dataset (results/benchmark/cost.json).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from sagr import models  # noqa: E402
from sagr.benchmark import benchmark, estimator_noise, format_noise, format_table  # noqa: E402
from sagr.config import load, method_hparams  # noqa: E402
from sagr.files import write_json  # noqa: E402
from sagr.provenance import device_name, provenance, resolve_device  # noqa: E402

# arch -> (dataset it is benchmarked on, channels, side, default CPU batch, default GPU batch)
ARCH_INPUT = {
    "small_cnn": ("mnist", 1, 28, 128, 128),
    "preact_resnet18": ("cifar10", 3, 32, 32, 128),
}


def load_batch(config: dict, dataset: str, channels: int, side: int, n: int, use_mirror: bool):
    """(x, y, description): a real training batch when the dataset is available, else synthetic."""
    from sagr import cache, data  # torchvision only where real data is used

    root = Path(config["data"]["root"])
    if use_mirror:
        try:
            data.prepare_dataset(dataset, root, data.mirror_from_env(config["data"]["mirror"]))
            if not cache.split_path(root, dataset, "train").exists():
                cache.write_cache(root, dataset)
        except Exception as err:  # offline without a mirror of this dataset: synthetic below
            print(
                f"{dataset} unavailable ({type(err).__name__}: {err}); using a synthetic batch",
                file=sys.stderr,
            )
    if cache.split_path(root, dataset, "train").exists():
        x, y = cache.load(root, dataset, train=True)
        return x[:n], y[:n], f"{dataset} training images 0..{n - 1}"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, channels, side, side, generator=g)
    return (
        x,
        torch.randint(0, 10, (n,), generator=g),
        f"synthetic uniform [0,1] {channels}x{side}x{side}, random labels",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", choices=sorted(ARCH_INPUT), default="small_cnn")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/cost_<arch>_<device>.json")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=10, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--noise-draws", type=int, default=50, help="draws per random estimator (0: skip)")
    parser.add_argument("--methods", default=None, help="comma-separated subset of the config's methods")
    parser.add_argument(
        "--no-exact", action="store_true", help="skip the exact estimator (C VJPs: slow on a CPU ResNet)"
    )
    parser.add_argument(
        "--no-mirror", action="store_true", help="do not prepare the dataset (synthetic unless cached)"
    )
    args = parser.parse_args()

    started = time.time()
    config = load(args.config)  # schema defaults and cross-key checks, as the Snakefile reads it
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    dataset, channels, side, cpu_batch, gpu_batch = ARCH_INPUT[args.arch]
    batch_size = args.batch_size or (gpu_batch if device.type == "cuda" else cpu_batch)
    x, y, described = load_batch(config, dataset, channels, side, batch_size, not args.no_mirror)
    x, y = x.to(device), y.to(device)
    # Training ε of pgd_at/trades from the config's dataset of this arch, else MNIST's (cost does not depend on it).
    eps_dataset = dataset if dataset in config["datasets"] else "mnist"
    selected = args.methods.split(",") if args.methods else list(config["methods"])
    unknown = [m for m in selected if m not in config["methods"]]
    if unknown:
        parser.error(f"--methods {unknown} not in {args.config}'s methods {list(config['methods'])}")
    methods = {
        m: method_hparams(config["datasets"][eps_dataset], m, config["methods"][m])
        for m in selected
        if m != "standard"
    }

    def build():
        return models.build_model(args.arch, 10, channels, side, [0.5] * channels, [0.25] * channels)

    rows = benchmark(build, x, y, methods, args.steps, args.warmup, skip_exact=args.no_exact)
    noise = []
    if args.noise_draws > 0:
        torch.manual_seed(0)
        noise = estimator_noise(
            build().to(device), x, y, draws=args.noise_draws, generator=torch.Generator().manual_seed(0)
        )
    header = (
        f"{args.arch} / {device_name(device)} / batch {batch_size} / {torch.get_num_threads()} thread(s) / "
        f"{args.steps} timed rounds after {args.warmup} warm-up / {described}"
    )
    print(header)
    print(format_table(rows))
    if noise:
        print(
            f"\nnoise of one draw (n_proj = 1) of SAGR's decoupled penalty, fresh model, {noise[0]['n_examples']} examples"
        )
        print(format_noise(noise))
    out = args.out or REPO / "benchmarks" / f"cost_{args.arch}_{device.type}.json"
    write_json(
        out,
        {
            "arch": args.arch,
            "device": device_name(device),
            "device_type": device.type,
            "threads": torch.get_num_threads(),
            "batch_size": batch_size,
            "data": described,
            "steps": args.steps,
            "warmup": args.warmup,
            "goals": {
                f"{r['method']}/{r['variant']}": r["goal"] for r in rows if isinstance(r["goal"], float)
            },
            "rows": [{**r, "batch_size": batch_size, "arch": args.arch, "device": device.type} for r in rows],
            "noise": [{**r, "arch": args.arch} for r in noise],
            "provenance": provenance(
                "bench_methods", {"methods": methods, "argv": sys.argv[1:]}, 0, device, started, time.time()
            ),
        },
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
