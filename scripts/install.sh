#!/usr/bin/env bash
# Idempotent installer for mmbackbones into the Python environment of $PYTHON (default: python3).
#
# Each step checks exactly what it names and is skipped when that check already passes, so a rerun
# after any failure picks up where it stopped. Order matters: `import mmcv` needs mmengine, so
# mmengine is installed before mmcv is checked. A failure names its step and exits non-zero.
#
# What it touches: the environment of $PYTHON (pip installs) and the mmcv wheel cache under
# ${MMBACKBONES_CACHE:-~/.cache/mmbackbones}/wheels/, keyed by the mmcv, torch and Python versions.
set -uo pipefail

PY=${PYTHON:-python3}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE_DIR=${MMBACKBONES_CACHE:-$HOME/.cache/mmbackbones}

step() { echo "[install] $*"; }
fail() { echo "[install] FAILED at step '$CURRENT': $*" >&2; exit 1; }
run() { "$@" || fail "command failed: $*"; }
pip_install() { run "$PY" -m pip install -q --disable-pip-version-check "$@"; }

CURRENT="check python"
"$PY" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null \
  || fail "'$PY' is not a Python >= 3.9 (set PYTHON=/path/to/python)"
PY=$("$PY" -c 'import sys; print(sys.executable)')  # absolute, so it survives the cd below
step "environment: $("$PY" -c 'import sys; print(sys.prefix)')"

CURRENT="torch"
if "$PY" -c "import torch, torchvision" 2>/dev/null; then
  step "torch $("$PY" -c 'import torch; print(torch.__version__)') already present"
else
  step "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
  pip_install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# mmcv's setup.py imports pkg_resources (gone from setuptools 81); the editable install of this
# package also builds without isolation, so the same pin serves both.
CURRENT="build tools"
if "$PY" -c "import pkg_resources, wheel, ninja, psutil" 2>/dev/null; then
  step "setuptools (with pkg_resources), wheel, ninja, psutil already present"
else
  step "installing setuptools==80.9.0 wheel ninja psutil"
  pip_install "setuptools==80.9.0" wheel ninja psutil
fi

CURRENT="mmengine"
if "$PY" -c "import mmengine; assert mmengine.__version__ == '$MMENGINE_VERSION'" 2>/dev/null; then
  step "mmengine $MMENGINE_VERSION already present"
else
  step "installing mmengine==$MMENGINE_VERSION (mmcv imports it)"
  pip_install "mmengine==$MMENGINE_VERSION"
fi

CURRENT="mmcv"
mmcv_check() {
  "$PY" - <<PYEOF
import mmcv
assert mmcv.__version__ == "$MMCV_VERSION", f"mmcv {mmcv.__version__} is installed, not $MMCV_VERSION"
from mmcv.ops import nms, RoIAlign  # the compiled ops must be present
PYEOF
}

# Builds the wheel in the background and reports elapsed time and compiled objects every 30 s.
build_mmcv_wheel() {
  local wheel_dir=$1 build src log pid total done_objs t0 now
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  run "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary=:all: \
      --no-build-isolation -d "$build" "mmcv==$MMCV_VERSION"
  run tar -xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
  src="$build/mmcv-$MMCV_VERSION"
  # torch >= 2.10 headers need C++20; mmcv's setup.py pins an older standard.
  run sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  total=$(find "$src/mmcv/ops/csrc/pytorch" -name '*.cpp' \
            -not -path '*/cuda/*' -not -path '*/npu/*' -not -path '*/mlu/*' -not -path '*/mps/*' | wc -l)
  log="$build/build.log"
  (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PY" -m pip wheel -v --no-deps --no-build-isolation -w "$build/out" . >"$log" 2>&1) &
  pid=$!
  t0=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    now=$(( $(date +%s) - t0 ))
    done_objs=$(find "$src" -name '*.o' 2>/dev/null | wc -l)
    step "building mmcv: $((now / 60))m$(printf %02d $((now % 60)))s elapsed, $done_objs of ~$total C++ files compiled"
  done
  if ! wait "$pid"; then
    tail -n 40 "$log" >&2
    fail "mmcv build failed (last 40 lines of the build log above)"
  fi
  # Copy under a temporary name, then rename: a killed install never leaves half a wheel cached.
  local wheel
  wheel=$(ls "$build"/out/mmcv-*.whl) || fail "the build produced no wheel"
  run cp "$wheel" "$wheel_dir/.partial"
  run mv "$wheel_dir/.partial" "$wheel_dir/$(basename "$wheel")"
  rm -rf "$build"
  trap - EXIT
}

if mmcv_check 2>/dev/null; then
  step "mmcv $MMCV_VERSION with compiled ops already present"
else
  KEY=$("$PY" -c "import sys, torch; print(f'mmcv$MMCV_VERSION-torch{torch.__version__.split(\"+\")[0]}-py{sys.version_info[0]}{sys.version_info[1]}')") \
    || fail "cannot read the torch version"
  WHEEL_DIR="$CACHE_DIR/wheels/$KEY"
  mkdir -p "$WHEEL_DIR" || fail "cannot create $WHEEL_DIR"
  if ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    step "using cached mmcv wheel from $WHEEL_DIR"
  else
    step "building mmcv $MMCV_VERSION from source with C++ ops (about 11 minutes on 2 cores, once); cache: $WHEEL_DIR"
    build_mmcv_wheel "$WHEEL_DIR"
  fi
  # mmcv's own light dependencies first, so the wheel installs without touching the index.
  pip_install addict packaging Pillow pyyaml yapf opencv-python numpy
  pip_install --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
  if ! mmcv_check; then
    fail "mmcv installed from $WHEEL_DIR but the check above fails; if that wheel is damaged, delete $WHEEL_DIR and rerun"
  fi
fi

CURRENT="OpenMMLab and test requirements"
if "$PY" -c "import mmengine, mmdet, mmseg, mmpretrain, timm, safetensors, onnx, onnxruntime, pycocotools, pytest
assert (mmdet.__version__, mmseg.__version__, mmpretrain.__version__) == ('3.3.0', '1.2.2', '1.2.0')" 2>/dev/null; then
  step "mmdet, mmseg, mmpretrain, timm, safetensors, onnx, onnxruntime, pycocotools, pytest already present"
else
  step "installing requirements/runtime.txt and requirements/tests.txt"
  pip_install -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
fi

# The optional `yolo` extra: mmyolo (GPL-3.0) as a test reference for the YOLO families and for
# the configs built on mmyolo's. The package never imports it; MMBACKBONES_NO_YOLO=1 skips it,
# and the tests that need it then skip, naming the extra.
CURRENT="yolo extra (mmyolo)"
if [ "${MMBACKBONES_NO_YOLO:-0}" = 1 ]; then
  step "skipping the yolo extra (MMBACKBONES_NO_YOLO=1)"
elif "$PY" -c "import mmyolo; assert mmyolo.__version__ == '0.6.1'" 2>/dev/null; then
  step "mmyolo 0.6.1 (mmyolo-open) already present"
else
  step "installing requirements/yolo.txt (mmyolo-open, GPL-3.0, optional)"
  pip_install -r "$ROOT/requirements/yolo.txt"
fi

CURRENT="mmbackbones (editable)"
# Checked from another directory: from the repository root the package imports uninstalled.
if (cd / && "$PY" -c "import mmbackbones, os, sys; sys.exit(0 if os.path.dirname(mmbackbones.__file__) == os.path.join('$ROOT', 'mmbackbones') else 1)") 2>/dev/null; then
  step "mmbackbones already installed from $ROOT"
else
  step "pip install -e ."
  pip_install --no-deps --no-build-isolation -e "$ROOT"
  (cd / && "$PY" -c "import mmbackbones") || fail "mmbackbones does not import from outside the repository"
fi
step "done"
