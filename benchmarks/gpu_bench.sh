#!/usr/bin/env bash
# Step cost of every method and estimator on a GPU, both architectures (about 1-2 min on an H100).
#
#   OUT=/some/folder [PYTHON=python3] bash benchmarks/gpu_bench.sh
#
# Writes under $OUT: cost_small_cnn_cuda.json, cost_preact_resnet18_cuda.json (the tables of
# benchmarks/bench_methods.py: interleaved rounds, median ratio to a standard step, per-draw noise of
# each random estimator), their printed tables (*.txt) and nvidia-smi.txt. Inputs are synthetic
# (step time does not depend on pixel values), so no dataset is needed. Needs torch with CUDA and
# pyyaml; without torchattacks, PGD-AT and TRADES are left out (and the .txt says so).
set -uo pipefail
: "${OUT:?set OUT to the folder for the results}"
PY="${PYTHON:-python3}"
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
"$PY" -c "import torch, yaml; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name())" \
  | tee "$OUT/env.txt" || { echo "torch with CUDA and pyyaml are needed" | tee -a "$OUT/env.txt"; exit 1; }
METHODS=""
if ! "$PY" -c "import torchattacks" 2>/dev/null; then
  METHODS="--methods igr,jr,sagr"
  echo "torchattacks missing: pgd_at and trades not timed" | tee -a "$OUT/env.txt"
fi
status=0
for arch in small_cnn preact_resnet18; do
  # shellcheck disable=SC2086
  timeout "$([ "$arch" = small_cnn ] && echo 60 || echo 100)" "$PY" benchmarks/bench_methods.py --arch "$arch" --device cuda --no-mirror \
    --steps 20 --warmup 3 --noise-draws 50 $METHODS --out "$OUT/cost_${arch}_cuda.json" \
    2>&1 | tee "$OUT/cost_${arch}_cuda.txt" || status=1
done
exit $status
