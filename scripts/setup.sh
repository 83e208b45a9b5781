#!/usr/bin/env bash
# Set-up, done by ./run.sh and ./test.sh on first use (safe to run again).
#   scripts/setup.sh         torch, then learnsys (editable): the core install (torch, numpy, rich,
#                            tomli-w, starlette, uvicorn); `pip install -e ".[figures]"` adds matplotlib
#   scripts/setup.sh --test  the same plus the test extra (test tools, matplotlib, scikit-learn) and
#                            Debian's chromium for the browser tests
# torch comes first and pinned: 2.13.0 is a local CPU build here; an unpinned torch would pull
# a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q "torch==2.13.0"
if [ "${1:-}" = "--test" ]; then
  python3 -m pip install -q -e ".[test]"
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium >/dev/null
  fi
else
  python3 -m pip install -q -e .
fi
