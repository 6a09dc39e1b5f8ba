#!/usr/bin/env bash
# GPU check, < 4 minutes on one GPU: the CUDA tests, the cifar_smoke DAG on cuda (timed per job),
# and the step cost of every method on the full-width PreActResNet-18. Writes everything under $OUT.
#   OUT=/tmp/gpu_out benchmarks/gpu_check.sh        (PYTHON=... to pick the interpreter)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:?set OUT to a folder for the results}"
mkdir -p "$OUT"
PY="${PYTHON:-}"
for cand in .venv/bin/python python3; do
  [ -z "$PY" ] && command -v "$cand" >/dev/null 2>&1 && PY="$cand"
done
export PYTHONPATH="$PWD/src:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}"
t0=$(date +%s)
{ nvidia-smi || true; "$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), torch.cuda.get_device_name(0))"; } > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

echo "== CUDA tests"
timeout 90 "$PY" -m pytest -q -rs tests/test_cuda.py tests/test_augment.py 2>&1 | tee "$OUT/cuda_tests.txt"
t1=$(date +%s)

echo "== cifar_smoke DAG on cuda"
"$PY" tests/fake_data.py "$OUT/mirror" >/dev/null
"$PY" - "$OUT" <<'PYEOF'
import sys, yaml
out = sys.argv[1]
config = yaml.safe_load(open("config/cifar_smoke.yaml"))
config.update(device="cuda", progress=False)
config["resources"].update({stage: {**config["resources"][stage], "gpus": 1} for stage in ("train", "evaluate", "saliency")})
yaml.safe_dump(config, open(f"{out}/cifar_smoke_cuda.yaml", "w"))
PYEOF
SAGR_DATA_MIRROR="$OUT/mirror" SAGR_ALLOW_UNOFFICIAL_DATA=1 timeout 150 "$PY" -m snakemake -s Snakefile -d "$OUT/dag" --configfile "$OUT/cifar_smoke_cuda.yaml" \
  --cores 4 --resources gpu=4 > "$OUT/dag.log" 2>&1
echo "snakemake exit $? ($(grep -c 'Finished job' "$OUT/dag.log") jobs finished)"
t2=$(date +%s)

echo "== step cost, PreActResNet-18 (full width), batch 128, cuda"
timeout 60 "$PY" - "$OUT" <<'PYEOF' 2>&1 | tee "$OUT/step_cost.txt"
import json, sys, torch
from sagr.benchmark import benchmark, format_table
from sagr.models import build_model
torch.backends.cudnn.benchmark = True
dev = torch.device("cuda")
x, y = torch.rand(128, 3, 32, 32, device=dev), torch.randint(0, 10, (128,), device=dev)
eps = 8 / 255
methods = {"pgd_at": {"steps": 10, "alpha_over_eps": 0.25, "eps": eps}, "trades": {"beta_trades": 6.0, "steps": 10, "alpha_over_eps": 0.25, "eps": eps},
           "igr": {"lam": 1.0}, "jr": {"lam": 0.1, "estimator": "projection", "n_proj": 1},
           "sagr": {"lam": 0.1, "beta": 0.5, "T": 1.0, "form": "decoupled", "estimator": "projection", "n_proj": 1}}
build = lambda: build_model("preact_resnet18", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)).to(dev).to(memory_format=torch.channels_last)
rows = benchmark(build, x, y, methods, steps=10, warmup=3)
print(format_table(rows))
json.dump({"device": torch.cuda.get_device_name(0), "batch_size": 128, "arch": "preact_resnet18", "rows": rows}, open(f"{sys.argv[1]}/step_cost.json", "w"), indent=1)
PYEOF
t3=$(date +%s)

"$PY" - "$OUT" "$t0" "$t1" "$t2" "$t3" <<'PYEOF'
import json, sys, pathlib
out, t0, t1, t2, t3 = sys.argv[1], *map(int, sys.argv[2:])
jobs = []
for p in sorted(pathlib.Path(out, "dag", "results").glob("*/*/*.json")):
    rec = json.loads(p.read_text())
    prov = rec.get("provenance", {})
    jobs.append({"file": str(p.relative_to(out)), "job": prov.get("job"), "wall_time_s": prov.get("wall_time_s"),
                 "device": prov.get("device"), "gpu": prov.get("gpu")})
summary = {"cuda_tests_s": t1 - t0, "dag_s": t2 - t1, "step_cost_s": t3 - t2, "total_s": t3 - t0, "jobs": jobs}
json.dump(summary, open(f"{out}/timings.json", "w"), indent=1)
print(f"CUDA tests {t1 - t0} s, cifar_smoke DAG {t2 - t1} s ({len(jobs)} result files), step cost {t3 - t2} s")
by_job = {}
for j in jobs:
    by_job.setdefault(j["job"], []).append(j["wall_time_s"] or 0)
for job, times in sorted(by_job.items()):
    print(f"  {job}: {len(times)} jobs, mean {sum(times) / len(times):.1f} s, max {max(times):.1f} s")
PYEOF
