#!/usr/bin/env bash
# The main job. Sets up on first use, then runs `learnsys` with your arguments; with none it
# trains lecture 5's linear regression on the built-in data and serves the dashboard.
set -euo pipefail
cd "$(dirname "$0")"
if ! python3 -c "import torch, numpy, rich, tomli_w, starlette, uvicorn, matplotlib, sklearn, learnsys.cli" 2>/dev/null; then ./scripts/setup.sh; fi
exec python3 -m learnsys "$@"
