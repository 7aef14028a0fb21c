#!/usr/bin/env bash
# Where the one-token decode attention spends its time inside a real decode step: builds Shootout
# with its phase marks compiled in (-DSHOOTOUT_CUDA_PHASE_TRACE=ON, backend/cuda/phase_trace.cuh;
# its own build folder, build-trace) and prints the per-phase cycle medians of
# attention_decode_kernel's block (0, 0) over the decode steps of a synthetic model, at each depth.
# ncu cannot show this: it serialises kernels, so a PDL kernel's wait and overlap are not the
# pipeline's. Run through the device tool; no carry needed.
#   tools/gpu-trace-attention.sh [--recipe Q8_0] [--shape 8B] [--depths "0 2048"]
set -uo pipefail
cd "$(dirname "$0")/.."
recipe=Q8_0; shape=8B; depths="0 2048"
while [ $# -gt 0 ]; do
  case $1 in
    --recipe) recipe=$2; shift ;;
    --shape) shape=$2; shift ;;
    --depths) depths=$2; shift ;;
    *) echo "gpu-trace-attention: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
SHOOTOUT_GPU_BUILD=${SHOOTOUT_GPU_BUILD:-$PWD/build-trace}
. tools/gpu-lib.sh /tmp/trace-attention
build_shootout -DSHOOTOUT_CUDA_PHASE_TRACE=ON
f=$work/qwen3-$shape-$recipe.gguf
"$S" synth --arch qwen3 --shape "$shape" --recipe "$recipe" -o "$f" >"$out/synth.log" 2>&1 \
  || { echo "gpu-trace-attention: synth failed"; tail -3 "$out/synth.log"; exit 1; }
echo "phases: 1 position and ranges, 2 angles + early tiles + the wait, 3 norm/RoPE/store, 4 key walk, 5 merge factors, 6 output + conversion (and the ranges' merge)"
for d in $depths; do
  echo "== qwen3 $shape $recipe, tg128 at depth $d"
  "$S" bench -m "$f" -p 0 -n 128 -d "$d" -r 2 --backend cuda 2>&1 | grep -E "tg128|phase|ns between"
done
rm -f "$f"
