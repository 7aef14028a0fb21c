#!/usr/bin/env bash
# Issue 5's speed check: synthetic Qwen3-30B-A3B (qwen3moe) and Qwen3-Next-80B-A3B (qwen3next) GGUFs
# (shootout synth, random weights in the recipe's types) benched by `shootout bench --backend cuda`
# and llama-bench (CUDA, -fa 1) on the same files, one after the other (the 80B file is written only
# after the 30B one is deleted: both do not fit a 64 GB disk). Run through the device tool (H200).
#   [ARCHS='qwen3moe:30B-A3B qwen3next:80B-A3B'] tools/gpu-moe-speed.sh [LLAMA_SRC] [RECIPE=Q4_K_M] [PROMPTS=512] [GEN=128] [REPS=2]
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
llama_src=${1:-}
recipe=${2:-Q4_K_M}
prompts=${3:-512}
gen=${4:-128}
reps=${5:-2}
. tools/gpu-lib.sh /tmp/moe-speed

start_llama_build "$llama_src"
build_shootout
B=/tmp/llama-cuda/build/bin/llama-bench

status=0
for spec in ${ARCHS:-qwen3moe:30B-A3B qwen3next:80B-A3B}; do
  arch=${spec%%:*}; shape=${spec##*:}
  f=$work/$arch-$shape-$recipe.gguf
  t0=$(date +%s)
  "$S" synth --arch "$arch" --shape "$shape" --recipe "$recipe" -o "$f" >"$out/synth-$arch.log" 2>&1 \
    || { echo "synth $arch $shape failed"; tail -3 "$out/synth-$arch.log"; status=1; continue; }
  echo "== $arch $shape $recipe: $(du -h "$f" | cut -f1), synth $(( $(date +%s) - t0 )) s"
  timeout "${BENCH_TIMEOUT:-200}" "$S" bench -m "$f" -p "$prompts" -n "$gen" -r "$reps" --backend cuda -o "$out/bench-$arch" \
    >"$out/bench-$arch.txt" 2>&1 || { status=1; tail -5 "$out/bench-$arch.txt"; }
  grep -E "^\| " "$out/bench-$arch.txt" | tail -3
  if [ -n "$llama_pid" ]; then  # the llama.cpp build ran beside the first synth
    wait $llama_pid || { echo "llama.cpp build failed"; tail -20 "$out/llama-build.log"; }
    llama_pid=""
  fi
  if [ -x "$B" ]; then
    timeout "${BENCH_TIMEOUT:-200}" "$B" -m "$f" -p "$prompts" -n "$gen" -r "$reps" -fa 1 -ngl 99 -o md >"$out/llama-bench-$arch.md" 2>"$out/llama-bench-$arch.err" \
      || { status=1; tail -5 "$out/llama-bench-$arch.err"; }
    grep -E "pp|tg" "$out/llama-bench-$arch.md"
  fi
  rm -f "$f"
done
exit $status
