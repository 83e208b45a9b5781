#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests (real processes, real browser) included.
# Sets up on first use; extra arguments go to pytest (e.g. ./test.sh -m "not slow"). The tests
# need the test extra: matplotlib (the --png pictures) and scikit-learn (the bundled data sets
# are checked against its copies) besides the test tools.
set -euo pipefail
cd "$(dirname "$0")"
if ! python3 -c "import torch, pytest, playwright, httpx, starlette, uvicorn, rich, tomli_w, sklearn, matplotlib, tensorboard, xxhash, safetensors, onnx, onnxscript, onnxruntime, nbclient, nbformat, ipykernel, ipywidgets, hypothesis, learnsys.cli" 2>/dev/null \
   || ! command -v chromium >/dev/null 2>&1; then
  ./scripts/setup.sh --test
fi
exec python3 -m pytest -q -p no:cacheprovider "$@"
