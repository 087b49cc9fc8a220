#!/usr/bin/env bash
# Idempotent installer for mmbackbones into the active Python environment.
# Every step says what it is doing; a failure names the step and exits non-zero.
set -uo pipefail

PY=${PYTHON:-python3}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE_DIR=${MMBACKBONES_CACHE:-$HOME/.cache/mmbackbones}

step() { echo "[install] $*"; }
fail() { echo "[install] FAILED at step '$CURRENT': $*" >&2; exit 1; }
run() { "$@" || fail "command failed: $*"; }

CURRENT="check python"
$PY -c 'import sys; assert sys.version_info >= (3, 9)' || fail "Python >= 3.9 is required"

CURRENT="torch"
if $PY -c "import torch, torchvision" 2>/dev/null; then
  step "torch $($PY -c 'import torch; print(torch.__version__)') already present"
else
  step "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
  run $PY -m pip install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

CURRENT="mmcv"
mmcv_ok() {
  $PY - <<PYEOF 2>/dev/null
import mmcv
assert mmcv.__version__ == "$MMCV_VERSION", mmcv.__version__
from mmcv.ops import nms, RoIAlign  # the compiled ops must be present
PYEOF
}
if mmcv_ok; then
  step "mmcv $MMCV_VERSION with compiled ops already present"
else
  KEY=$($PY -c "import sys, torch; print(f'mmcv{\"$MMCV_VERSION\"}-torch{torch.__version__.split(\"+\")[0]}-py{sys.version_info[0]}{sys.version_info[1]}')")
  WHEEL_DIR="$CACHE_DIR/wheels/$KEY"
  mkdir -p "$WHEEL_DIR" || fail "cannot create $WHEEL_DIR"
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    step "building mmcv $MMCV_VERSION from source with C++ ops (about 11 minutes on 2 cores); cache: $WHEEL_DIR"
    run $PY -m pip install -q "setuptools==80.9.0" wheel ninja psutil
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    run $PY -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d "$BUILD" "mmcv==$MMCV_VERSION"
    run tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
    # torch >= 2.10 headers need C++20; mmcv's setup.py pins an older standard.
    run sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
    (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        $PY -m pip wheel --no-deps --no-build-isolation -w "$BUILD/out" . ) || fail "mmcv build failed (see the compiler output above)"
    run mv "$BUILD"/out/mmcv-*.whl "$WHEEL_DIR"/
  else
    step "using cached mmcv wheel from $WHEEL_DIR"
  fi
  run $PY -m pip install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
  # mmcv's own light dependencies (no build needed).
  run $PY -m pip install -q addict packaging Pillow pyyaml yapf opencv-python
  mmcv_ok || fail "mmcv installed but 'from mmcv.ops import nms' still fails"
fi

CURRENT="OpenMMLab and test requirements"
if $PY -c "import mmengine, mmdet, mmseg, timm, pycocotools, pytest" 2>/dev/null \
   && $PY -c "import mmengine, mmdet, mmseg; assert (mmengine.__version__, mmdet.__version__, mmseg.__version__) == ('0.10.7', '3.3.0', '1.2.2')" 2>/dev/null; then
  step "mmengine, mmdet, mmseg, timm, pycocotools, pytest already present"
else
  step "installing requirements/runtime.txt and requirements/tests.txt"
  run $PY -m pip install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
fi

CURRENT="mmbackbones (editable)"
# Checked from another directory: from the repository root the package imports uninstalled.
if (cd / && $PY -c "import mmbackbones, os, sys; sys.exit(0 if os.path.dirname(mmbackbones.__file__) == os.path.join('$ROOT', 'mmbackbones') else 1)") 2>/dev/null; then
  step "mmbackbones already installed from $ROOT"
else
  step "pip install -e ."
  run $PY -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
fi
step "done"
