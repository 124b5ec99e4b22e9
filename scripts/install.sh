#!/usr/bin/env bash
# One command installs everything: a virtual environment in .venv with the project,
# its GUI, model, format and test extras, and the CPU build of PyTorch.
#   bash scripts/install.sh
# Set POSETRACK_TORCH to choose another torch requirement (default: torch==2.13.0, the CPU
# build on this kind of machine; on a CUDA workstation use e.g. POSETRACK_TORCH=torch).
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the GUI tests need (Xvfb and the GL/xcb libraries of headless napari; the same
# list as .ci/run). Installed with apt as root, or through sudo; elsewhere the exact command is
# printed. Set POSETRACK_SKIP_APT=1 to skip this step.
APT_PACKAGES="xvfb xauth libgl1 libegl1 libglx-mesa0 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0 \
libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \
libxcb-xfixes0 libxcb-xkb1 libfontconfig1 libdbus-1-3 libglib2.0-0"
if [ "${POSETRACK_SKIP_APT:-0}" != 1 ] && ! command -v Xvfb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
      SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO="sudo"
    else
      SUDO="none"
    fi
    if [ "$SUDO" != none ]; then
      echo "installing Xvfb and the GL/xcb libraries for the GUI tests (apt-get)"
      $SUDO apt-get update -qq
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
    else
      echo "The GUI tests need Xvfb. Install it with:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $APT_PACKAGES" >&2
    fi
  else
    echo "The GUI tests need Xvfb and the GL/xcb libraries (Debian/Ubuntu names: $APT_PACKAGES)." >&2
    echo "Install them with your system's package manager." >&2
  fi
fi

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
