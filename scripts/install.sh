#!/usr/bin/env bash
# One command installs everything: a virtual environment in .venv with the project,
# its GUI, model, format and test extras, and the CPU build of PyTorch.
#   bash scripts/install.sh
# Set POSETRACK_TORCH to choose another torch requirement (default: torch==2.13.0, the CPU
# build on this kind of machine; on a CUDA workstation use e.g. POSETRACK_TORCH=torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_REQ=${POSETRACK_TORCH:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade uv >/dev/null 2>&1 || true
# uv does not read pip's configuration: pass pip's local wheel folder (the CPU torch wheel) on.
find_links=()
if fl=$("$PY" -m pip config get global.find-links 2>/dev/null) && [ -n "$fl" ]; then
  for d in $fl; do find_links+=(--find-links "$d"); done
fi
if .venv/bin/python -m uv --version >/dev/null 2>&1; then
  .venv/bin/python -m uv pip install --python .venv/bin/python "${find_links[@]}" \
    -e ".[testing]" "$TORCH_REQ"
else
  .venv/bin/python -m pip install -e ".[testing]" "$TORCH_REQ"
fi
echo "installed: $(.venv/bin/python -c 'import napari_posetrack, torch; print("napari-posetrack", napari_posetrack.__version__, "torch", torch.__version__)')"
