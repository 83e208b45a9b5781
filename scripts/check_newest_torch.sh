#!/usr/bin/env bash
# learnsys against the newest torch the package index serves: a throwaway venv, torch with no
# version given (so pip takes the newest it may), learnsys with its test extra (editable, from
# this checkout), then the fast tests (pytest -m "not slow").
#
#   scripts/check_newest_torch.sh                 # venv in a temp folder, removed at the end
#   scripts/check_newest_torch.sh --keep DIR      # venv in DIR, kept (run again: reused)
#   scripts/check_newest_torch.sh -- -k resume    # extra arguments after -- go to pytest
#
# Not for CI (CI installs the 2.13.0 CPU build first, scripts/setup.sh): the newest torch on
# PyPI is a CUDA build with several GB of nvidia-* wheels, so run it where the disk (and,
# better, a GPU) is there for it. It prints the torch it tested, and says so when pip
# installed an older torch than the index lists (a pip constraint, e.g. /etc/xdg/pip here).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
venv="" keep=0 pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --keep) [ $# -ge 2 ] || { echo "error: --keep needs a folder for the venv, e.g. --keep /tmp/newest-torch" >&2; exit 2; }
            venv="$2" keep=1; shift 2 ;;
    --) shift; pytest_args=("$@"); break ;;
    *) echo "error: unknown argument '$1'; use --keep DIR, -- PYTEST_ARGS, or --help" >&2; exit 2 ;;
  esac
done
# the editable install writes learnsys.egg-info here; take it away again unless it was there
tmp="" egg_was_here=0
[ -e learnsys.egg-info ] && egg_was_here=1
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; [ "$egg_was_here" = 1 ] || rm -rf learnsys.egg-info; }
trap cleanup EXIT
if [ -z "$venv" ]; then
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/learnsys-newest-torch.XXXXXX")"
  venv="$tmp/venv"
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
echo "== venv: $venv"
"$py" -m pip install -q --upgrade torch
"$py" -m pip install -q -e ".[test]"

tested="$("$py" -c 'import torch; print(torch.__version__)')"
cuda="$("$py" -c 'import torch; print(torch.cuda.is_available())')"
newest="$("$py" -m pip index versions torch 2>/dev/null | sed -n 's/^torch (\(.*\))$/\1/p' || true)"
echo "== torch $tested (CUDA available: $cuda); newest on the index: ${newest:-unknown}"
if [ -n "$newest" ] && [ "${tested%%+*}" != "${newest%%+*}" ]; then
  echo "== note: pip installed torch $tested, not the newest ($newest): a pip constraint holds it back" \
       "(see \`pip config list\`); the tests below check $tested"
fi
[ "$keep" = 1 ] || echo "== the venv is removed at the end"
# PYTHONPATH points at this checkout, as the editable install does; the tests' own
# subprocesses (python -m learnsys) then import this tree too.
PYTHONPATH="$PWD" "$py" -m pytest -q -p no:cacheprovider -m "not slow" ${pytest_args[@]+"${pytest_args[@]}"}
echo "== fast tests passed with torch $tested"
