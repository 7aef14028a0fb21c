#!/usr/bin/env bash
# Where the GPU time of a model goes: for each synthetic shape given (ARCH:SHAPE:RECIPE[:LAYERS]),
# `shootout synth` writes it (LAYERS: fewer layers of the same widths, a quick file), then ncu times
# every kernel of a few decode steps and of one 512-token prefill (gpu__time_duration, summed per
# kernel name by tools/ncu_summary.py into $OUT/profile-<arch>-{decode,prefill}.txt).
# --cache-control none: a step's kernels find their inputs in L2, where the previous kernel left them;
# measured both ways on 8B Q8_0 (session 7), the flush added ~5 % to the small ones (norm 7.3 -> 6.9 us).
#   tools/gpu-profile.sh qwen3next:80B-A3B:Q4_K_M:8 qwen3moe:30B-A3B:Q4_K_M:8
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. tools/gpu-lib.sh /tmp/profile
build_shootout
for spec in "$@"; do
  IFS=: read -r arch shape recipe layers <<<"$spec"
  f=$work/$arch.gguf
  "$S" synth --arch "$arch" --shape "$shape" --recipe "$recipe" ${layers:+--layers $layers} -o "$f" >"$out/synth-$arch.log" 2>&1 \
    || { echo "synth $spec failed"; tail -3 "$out/synth-$arch.log"; continue; }
  "$S" bench -m "$f" -p 512 -n 32 -r 2 --backend cuda 2>&1 | grep -E "pp512|tg32"
  # Decode: skip the warm-up's launches, time the rest (a step is a few hundred launches).
  ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --launch-skip 800 --launch-count 1500 \
    "$S" bench -m "$f" -p 0 -n 32 -r 1 --backend cuda >"$out/ncu-$arch-decode.csv" 2>"$out/ncu-$arch-decode.err"
  python3 "$root/tools/ncu_summary.py" "$out/ncu-$arch-decode.csv" >"$out/profile-$arch-decode.txt"
  ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --launch-count 3000 \
    "$S" bench -m "$f" -p 512 -n 0 -r 1 --backend cuda >"$out/ncu-$arch-prefill.csv" 2>"$out/ncu-$arch-prefill.err"
  python3 "$root/tools/ncu_summary.py" "$out/ncu-$arch-prefill.csv" >"$out/profile-$arch-prefill.txt"
  echo "== $spec decode"; head -14 "$out/profile-$arch-decode.txt"
  echo "== $spec prefill (warm-up and timed run)"; head -14 "$out/profile-$arch-prefill.txt"
  rm -f "$f"
done
