#!/usr/bin/env bash
# Create (or update) the project's virtualenv with the measured CPU stack:
#   torch 2.14.1 + torchvision 0.29.1, mmengine 0.10.7, mmcv 2.1.0 with compiled ops (built once, cached),
#   mmdet 3.3.0, mmsegmentation 1.2.2, mmpretrain 1.2.0, spikingjelly 2.0.0, then this package (editable).
# Usage: bash tools/setup_env.sh            (venv at $SPIKEFORMER_VENV, default ./.venv)
# Every step prints its duration; a failing step is named with its log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SPIKEFORMER_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
CACHE="${SPIKEFORMER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spikeformer_mm}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# The mmcv wheel links against torch's C++ ABI: cache it per torch version and python version.
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$($PYTHON -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
LOG_DIR="$CACHE/logs"
mkdir -p "$WHEEL_DIR" "$LOG_DIR"

step() {  # step NAME COMMAND...: run, time, and report failure with the log's tail
  local name="$1"; shift
  local log="$LOG_DIR/$(echo "$name" | tr ' /' '__').log"
  local start=$SECONDS
  echo "==> $name"
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED: step '$name' (after $((SECONDS - start)) s). Last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
  echo "    done in $((SECONDS - start)) s"
}

build_mmcv_wheel() {
  local src; src="$(mktemp -d)"
  pip download --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$src"
  tar -xzf "$src/mmcv-$MMCV_VERSION.tar.gz" -C "$src"
  # torch 2.14's headers need C++20; mmcv 2.1.0 asks for C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$src/mmcv-$MMCV_VERSION/setup.py"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" \
    pip wheel --no-build-isolation --no-deps --no-cache-dir -w "$WHEEL_DIR" "$src/mmcv-$MMCV_VERSION"
  rm -rf "$src"
}

verify() {
  python - <<'PY'
import torch
from mmcv.ops import RoIAlign, nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
feat = torch.arange(16.).view(1, 1, 4, 4)
out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2)(feat, torch.tensor([[0., 0., 0., 4., 4.]]))
assert out.shape == (1, 1, 2, 2), out.shape
import mmdet, mmseg, mmpretrain, spikingjelly, spikeformer_mm  # version checks run at import
print('torch', torch.__version__, '| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__,
      '| mmpretrain', mmpretrain.__version__)
PY
}

total=$SECONDS
if [ ! -x "$VENV/bin/python" ]; then
  step "create virtualenv $VENV" "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
step "install torch $TORCH_VERSION" pip install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
step "install build tools and mmengine" pip install setuptools==80.9.0 wheel ninja opencv-python==4.11.0.86 mmengine==0.10.7
if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
  step "build mmcv $MMCV_VERSION wheel with ops (about 9 min on 2 cores)" build_mmcv_wheel
else
  echo "==> mmcv wheel cached: $(ls "$WHEEL_DIR"/mmcv-*.whl)"
fi
step "install mmcv $MMCV_VERSION" pip install "$WHEEL_DIR"/mmcv-*.whl
step "install OpenMMLab toolboxes, spikingjelly and this package" pip install -e "$ROOT[tests]"
step "verify mmcv ops and toolbox imports" verify
cat "$LOG_DIR/verify_mmcv_ops_and_toolbox_imports.log"
echo "Environment ready in $((SECONDS - total)) s: source $VENV/bin/activate"
