#!/usr/bin/env bash
# The GPU path in one prepared script (issue 10), for a machine with one NVIDIA GPU; under 5 min.
#   benchmarks/gpu_check.sh [OUT_DIR]      # figures and logs go to OUT_DIR (default: ./gpu-check)
# 1. the GPU-marked tests: the device path, no per-step host sync, fp16/bf16 resume, nccl DDP (1 process)
# 2. the lecture 5, tabular and digits-CNN benchmarks on cuda, learnsys against plain PyTorch loops
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not found"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} | tee "$out/machine.txt"
status=0
timeout 200 python3 -m pytest -q -p no:cacheprovider --gpu -m gpu tests/test_gpu.py 2>&1 | tee "$out/gpu_tests.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 60 python3 benchmarks/bench_loop.py --device cuda --reps 7 --tabular-reps 2 2>&1 | tee "$out/bench_loop_cuda.txt"
timeout 60 python3 benchmarks/bench_dataloader.py --device cuda --reps 3 --workers 0 --rows 8000 2>&1 \
  | tee "$out/bench_dataloader_cuda.txt"
echo "gpu_check: tests $([ $status -eq 0 ] && echo passed || echo FAILED); figures in $out/"
exit $status
