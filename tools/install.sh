#!/usr/bin/env bash
# Install the whole rsb_mm stack into the active Python environment (a venv or conda env you
# made for it): torch + torchvision, timm, mmengine, mmcv with its compiled ops, mmpretrain,
# mmdet, albumentations, pycocotools, and rsb_mm itself in editable mode.
#
#   bash tools/install.sh            # PYTHON=/path/to/python to pick the interpreter
#   RSB_MM_PIP_ARGS="--no-cache-dir" bash tools/install.sh   # extra arguments for every pip call
#   RSB_MM_CUDA_ARCHS="8.0;9.0" bash tools/install.sh        # mmcv's CUDA ops without a GPU here
#
# mmcv gets CUDA ops when torch sees an NVIDIA GPU or RSB_MM_CUDA_ARCHS names compute
# capabilities (README.md, "GPUs"); the CUDA toolkit for that comes from PyPI.
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

# CUDA ops when torch sees an NVIDIA GPU, or for the archs in RSB_MM_CUDA_ARCHS (e.g. "8.0;9.0"
# on a GPU cluster's login node); CPU ops otherwise. cuda_build.py (run by path: rsb_mm is not
# installed yet) says which, and refuses a GPU older than torch supports, saying what to do.
CUDA_BUILD=("$PY" "$ROOT/rsb_mm/utils/cuda_build.py")
archs=$("${CUDA_BUILD[@]}" archs)   # empty: CPU ops
cuda=$([ -n "$archs" ] && echo 1 || echo 0)

mmcv_ok() {
  "$PY" - <<'EOF' 2>/dev/null || return 1
import importlib.metadata as md
assert md.version('mmcv') == '2.1.0'
from mmcv.ops import nms, roi_align  # noqa: F401  (compiled ops load)
EOF
  # When CUDA is wanted, a CPU-only build does not count.
  [ "$cuda" -eq 0 ] || "${CUDA_BUILD[@]}" check-mmcv 2>/dev/null
}
if mmcv_ok; then
  step "3/4 mmcv 2.1.0 with compiled ops is already installed$([ "$cuda" -eq 0 ] ||
       echo " (with CUDA; asked for $archs)")"
else
  jobs=${MAX_JOBS:-$(nproc)}
  mmcv_args=()
  if [ "$cuda" -eq 1 ]; then
    # nvcc and the CUDA headers from PyPI, at the version torch itself requires.
    toolkit=$("${CUDA_BUILD[@]}" requirement)
    step "3/4 the CUDA toolkit of torch's CUDA: $toolkit"
    "${PIP[@]}" install --progress-bar off "$toolkit"
    if ! "${CUDA_BUILD[@]}" env >/dev/null 2>&1; then
      # torch's CUDA runtime sits in another site-packages (a venv over the system's
      # packages), so nvcc came without it: install the whole toolkit next to nvcc.
      "${PIP[@]}" install --progress-bar off --ignore-installed "$toolkit"
    fi
    build_env=$("${CUDA_BUILD[@]}" env)
    eval "$build_env"   # exports CUDA_HOME, FORCE_CUDA=1, TORCH_CUDA_ARCH_LIST
    step "3/4 mmcv 2.1.0 from source with its CPU and CUDA ops (${jobs} jobs," \
         "CUDA_HOME=$CUDA_HOME, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST; see README.md" \
         "for how long it takes)"
    # pip's wheel cache keys a built wheel by its source URL, not by FORCE_CUDA, so it would
    # hand back a CPU-only build: neither reuse nor store one. --force-reinstall replaces an
    # mmcv 2.1.0 without CUDA; its dependencies come with the second pip call below.
    mmcv_args=(--no-cache-dir --force-reinstall --no-deps)
  else
    export FORCE_CUDA=0
    step "3/4 mmcv 2.1.0 from source with its CPU ops (${jobs} jobs; ~10 min on 2 cores the" \
         "first time, seconds once pip's wheel cache holds the wheel)"
  fi
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
  # || true: under set -e a failing kill (the heartbeat is already gone) would make the
  # whole install exit 1 after it succeeded.
  trap 'kill $heartbeat 2>/dev/null || true; rm -rf "$build_tmp"' EXIT
  # --no-build-isolation: mmcv's build imports the torch installed above.
  TMPDIR=$build_tmp MMCV_WITH_OPS=1 MAX_JOBS=$jobs \
      "${PIP[@]}" install --no-build-isolation --progress-bar off "${mmcv_args[@]}" "mmcv==2.1.0"
  kill $heartbeat 2>/dev/null || true
  if [ "$cuda" -eq 1 ]; then
    "${PIP[@]}" install --progress-bar off "mmcv==2.1.0"   # its dependencies
  fi
  if ! mmcv_ok; then
    [ "$cuda" -eq 0 ] || "${CUDA_BUILD[@]}" check-mmcv || true   # says what is wrong
    echo "mmcv's compiled ops do not import, or lack CUDA: see the build log above" >&2
    exit 1
  fi
fi

step "4/4 mmengine, mmpretrain, mmdet and rsb_mm (editable, with test extras)"
"${PIP[@]}" install --progress-bar off -r "$ROOT/requirements/mminstall.txt" \
    -r "$ROOT/requirements/tests.txt" -r "$ROOT/requirements/optional.txt"
"${PIP[@]}" install --progress-bar off --no-build-isolation --no-deps -e "$ROOT"

step "check: import rsb_mm and its stack"
"$PY" -c 'import rsb_mm; print("rsb_mm", rsb_mm.__version__, "OK:", rsb_mm.stack_versions())'
