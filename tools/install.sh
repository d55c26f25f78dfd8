#!/usr/bin/env bash
# Install the whole rsb_mm stack into the active Python environment (a venv or conda env you
# made for it): torch + torchvision, timm, mmengine, mmcv with its compiled ops, mmpretrain,
# mmdet, albumentations, pycocotools, and rsb_mm itself in editable mode.
#
#   bash tools/install.sh            # PYTHON=/path/to/python to pick the interpreter
#   RSB_MM_PIP_ARGS="--no-cache-dir" bash tools/install.sh   # extra arguments for every pip call
#
# Idempotent: pip skips what is already satisfied and reuses its wheel cache, so a second run
# takes seconds. The first run takes ~20 minutes on 2 CPU cores, most of it building mmcv's
# C++ ops from source (mmcv 2.1.0 has no wheel on PyPI for this torch).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
# --isolated: ignore machine-local pip configuration (e.g. a find-links folder holding a
# CPU-only torch wheel whose build does not match PyPI's torchvision), as a user's pip would.
PIP=("$PY" -m pip --isolated --disable-pip-version-check)
# Word-split on purpose: a list of extra pip options (e.g. --no-cache-dir, --index-url URL).
# shellcheck disable=SC2206
PIP+=(${RSB_MM_PIP_ARGS:-})
export NO_ALBUMENTATIONS_UPDATE=1

step() { printf '\n[rsb_mm install %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

step "python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
"$PY" -c 'import sys; assert sys.version_info >= (3, 9), "rsb_mm needs Python >= 3.9"'

step "1/4 torch, torchvision, timm and the other runtime packages (requirements/runtime.txt)"
"${PIP[@]}" install --progress-bar off -r "$ROOT/requirements/runtime.txt"

# setuptools<80: mmcv's setup.py imports pkg_resources, and MMEngine finds the configs of an
# editable install (rsb_mm::...) only in the egg-link form that setuptools 80 removed.
step "2/4 build tools: setuptools<80, wheel, ninja"
"${PIP[@]}" install --progress-bar off "setuptools>=64,<80" wheel ninja

mmcv_ok() {
  "$PY" - <<'EOF' 2>/dev/null
import importlib.metadata as md
assert md.version('mmcv') == '2.1.0'
from mmcv.ops import nms, roi_align  # noqa: F401  (compiled ops load)
EOF
}
if mmcv_ok; then
  step "3/4 mmcv 2.1.0 with compiled ops is already installed"
else
  jobs=${MAX_JOBS:-$(nproc)}
  step "3/4 mmcv 2.1.0 from source with its CPU ops (${jobs} jobs; ~10 min on 2 cores the" \
       "first time, seconds once pip's wheel cache holds the wheel)"
  # pip shows nothing while setup.py compiles, so a heartbeat counts the compiled objects.
  build_tmp=$(mktemp -d)
  (
    start=$SECONDS
    while sleep 30; do
      ninja_file=$(find "$build_tmp" -name build.ninja -path '*temp*' 2>/dev/null | head -n 1)
      if [ -n "$ninja_file" ]; then
        total=$(grep -c '^build .*\.o:' "$ninja_file" || true)
        done_=$(find "$(dirname "$ninja_file")" -name '*.o' | wc -l)
        echo "  ... $(( (SECONDS - start) / 60 )) min: compiled ${done_}/${total} mmcv op files"
      else
        echo "  ... $(( (SECONDS - start) / 60 )) min: preparing the mmcv build"
      fi
    done
  ) &
  heartbeat=$!
  trap 'kill $heartbeat 2>/dev/null; rm -rf "$build_tmp"' EXIT
  # --no-build-isolation: mmcv's build imports the torch installed above.
  TMPDIR=$build_tmp MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$jobs \
      "${PIP[@]}" install --no-build-isolation --progress-bar off "mmcv==2.1.0"
  kill $heartbeat 2>/dev/null || true
  mmcv_ok || { echo "mmcv's compiled ops do not import: see the build log above" >&2; exit 1; }
fi

step "4/4 mmengine, mmpretrain, mmdet and rsb_mm (editable, with test extras)"
"${PIP[@]}" install --progress-bar off -r "$ROOT/requirements/mminstall.txt" \
    -r "$ROOT/requirements/tests.txt" -r "$ROOT/requirements/optional.txt"
"${PIP[@]}" install --progress-bar off --no-build-isolation --no-deps -e "$ROOT"

step "check: import rsb_mm and its stack"
"$PY" -c 'import rsb_mm; print("rsb_mm", rsb_mm.__version__, "OK:", rsb_mm.stack_versions())'
