#!/usr/bin/env bash
# Where a decode step's time goes between and inside its kernels, in the real pipeline (PDL overlap,
# graph launches): builds Shootout with the step timeline compiled in (-DSHOOTOUT_CUDA_STEP_TRACE=ON,
# backend/cuda/step_trace.h; its own build folder, build-step-trace), synthesizes each model, runs
# tg128 with SHOOTOUT_STEP_TRACE set (the ring keeps the last ~2M warp records: the last steps) and
# prints tools/step_trace_summary.py's table; also tg128 of the same build untraced (the ring off:
# a null check a warp), to show what the tracing itself costs. Run through the device tool.
#   tools/gpu-step-trace.sh [--depth 0] SPEC...     SPEC = ARCH:SHAPE:RECIPE (qwen3:8B:Q4_K_M)
set -uo pipefail
cd "$(dirname "$0")/.."
depth=0; specs=()
while [ $# -gt 0 ]; do
  case $1 in
    --depth) depth=$2; shift ;;
    *) specs+=("$1") ;;
  esac
  shift
done
[ ${#specs[@]} -gt 0 ] || { echo "gpu-step-trace: no SPEC given" >&2; exit 2; }
SHOOTOUT_GPU_BUILD=${SHOOTOUT_GPU_BUILD:-$PWD/build-step-trace}
. tools/gpu-lib.sh /tmp/step-trace
build_shootout -DSHOOTOUT_CUDA_STEP_TRACE=ON
for spec in "${specs[@]}"; do
  IFS=: read -r arch shape recipe <<<"$spec"
  name=$arch-$shape-$recipe
  f=$work/$name.gguf
  "$S" synth --arch "$arch" --shape "$shape" --recipe "$recipe" -o "$f" >"$out/synth-$name.log" 2>&1 \
    || { echo "gpu-step-trace: synth $spec failed"; tail -3 "$out/synth-$name.log"; continue; }
  echo "== $spec, tg128 at depth $depth"
  "$S" bench -m "$f" -p 0 -n 128 -d "$depth" -r 3 --backend cuda 2>&1 | grep -E "tg128" | sed 's/^/untraced: /'
  SHOOTOUT_STEP_TRACE=$work/trace-$name.bin "$S" bench -m "$f" -p 0 -n 128 -d "$depth" -r 1 --backend cuda 2>&1 \
    | grep -E "tg128|step trace" | sed 's/^/traced: /'
  python3 "$root/tools/step_trace_summary.py" "$work/trace-$name.bin" --list 16 --keep 250000 "$work/tail-$name.bin" | tee "$out/summary-$name.txt"
  gzip -c "$work/tail-$name.bin" > "$out/tail-$name.bin.gz"
  rm -f "$f"
done
