#!/usr/bin/env bash
# The main job. Sets up on first use, then runs `learnsys` with your arguments in the current
# folder (runs go to ./runs); with no arguments it trains lecture 5's linear regression on the
# built-in data and serves the dashboard. It needs the core install only (no matplotlib, no
# scikit-learn: the built-in data sets ship with learnsys).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! python3 -c "import torch, numpy, rich, tomli_w, starlette, uvicorn, learnsys.cli" 2>/dev/null; then
  "$here/scripts/setup.sh"
fi
exec python3 -m learnsys "$@"
