#!/usr/bin/env bash
# Times a whole wikitext-2 shootout of a Qwen3-8B-shaped model on one GPU (issue 4's acceptance):
# an F16 reference (shootout synth, random weights) and its Q8_0, Q5_K_M and Q4_K_M quantizations,
# all chunks of 512 tokens, `shootout run --backend cuda`; beside llama-perplexity on the same files
# (its reference pass --kl-divergence-base, then one --kl-divergence pass per variant), run on the
# first LLAMA_CHUNKS chunks only (its base file takes ~78 MB a chunk for this vocabulary, more than the
# disk holds for 583 chunks) and scaled to the chunk count linearly, as the notes say.
#   [CHUNKS=583] [SYNTH_VARIANTS=1] tools/gpu-full-shootout.sh TEXT [LLAMA_SRC] [LLAMA_CHUNKS]
# CHUNKS: chunks scored (wikitext-2 is 583 chunks for Qwen3's tokenizer; synth's vocabulary splits it
# into more, so the count is pinned to the real model's).
# Logs go to $OUT (default build-gpu/logs). Run through the device tool in one call.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
text=$(realpath "${1:?wikitext-2 test text}")
llama_src=${2:-}
llama_chunks=${3:-60}
. tools/gpu-lib.sh /tmp/full-shootout

start_llama_build "$llama_src"
build_shootout

t0=$(date +%s)
"$S" synth --arch qwen3 --shape 8B --recipe F16 -o "$work/ref-f16.gguf" >"$out/synth.log" 2>&1 || { tail -5 "$out/synth.log"; exit 1; }
echo "synth F16: $(( $(date +%s) - t0 )) s"
# Variants: quantized from the reference (meaningful KLD; the K-quants take ~2 min each for 16 GB on
# 16 cores), or with --synth-variants written directly by synth (random weights of their own: the
# KLD figures mean nothing, the timing is the same, and it fits one device call).
variants=()
for r in Q8_0 Q5_K_M Q4_K_M; do
  t1=$(date +%s)
  if [ "${SYNTH_VARIANTS:-0}" = 1 ]; then
    "$S" synth --arch qwen3 --shape 8B --recipe $r --seed 2 -o "$work/$r.gguf" >>"$out/quantize.log" 2>&1 || { tail -5 "$out/quantize.log"; exit 1; }
  else
    "$S" quantize --model "$work/ref-f16.gguf" --recipe $r -o "$work/$r.gguf" >>"$out/quantize.log" 2>&1 || { tail -5 "$out/quantize.log"; exit 1; }
  fi
  echo "variant $r: $(( $(date +%s) - t1 )) s"
  variants+=(--variant "$work/$r.gguf")
done

t1=$(date +%s)
/usr/bin/time -v "$S" run -m "$work/ref-f16.gguf" "${variants[@]}" -f "$text" --chunks "${CHUNKS:-583}" --backend cuda --no-speed --no-resume \
  -o "$work/run" >"$out/run.txt" 2>"$out/run.err"
rc=$?
run_s=$(( $(date +%s) - t1 ))
echo "shootout run (reference + 3 variants, all chunks, CUDA): $run_s s wall, exit $rc"
grep -E "Maximum resident|Elapsed" "$out/run.err"
grep -E "chunks of|Mean KLD|^\| PPL \|" "$out/run.txt" | head -5

if [ -n "$llama_src" ]; then  # built beside (llama_pid) or unpacked from a carried llama-bin.tar.xz
  if [ -n "$llama_pid" ]; then
    wait $llama_pid || { echo "llama.cpp build failed"; tail -20 "$out/llama-build.log"; exit 1; }
  fi
  P=/tmp/llama-cuda/build/bin/llama-perplexity
  t1=$(date +%s)
  $P -m "$work/ref-f16.gguf" -f "$text" --chunks "$llama_chunks" -ngl 99 -fa on --kl-divergence-base "$work/base.kld" \
    >"$out/llama-base.txt" 2>&1 || { tail -5 "$out/llama-base.txt"; exit 1; }
  base_s=$(( $(date +%s) - t1 ))
  t1=$(date +%s)
  $P -m "$work/Q4_K_M.gguf" --kl-divergence-base "$work/base.kld" --kl-divergence -ngl 99 -fa on \
    >"$out/llama-kld.txt" 2>&1 || { tail -5 "$out/llama-kld.txt"; exit 1; }
  kld_s=$(( $(date +%s) - t1 ))
  n_chunks=$(grep -oE "[0-9]+ chunks of" "$out/run.txt" | head -1 | grep -oE "^[0-9]+")
  echo "llama-perplexity, $llama_chunks chunks: base pass $base_s s, one KLD pass $kld_s s"
  python3 - "$run_s" "$base_s" "$kld_s" "$llama_chunks" "${n_chunks:-583}" <<'EOF'
import sys
run_s, base_s, kld_s, lc, n = map(float, sys.argv[1:])
llama = (base_s + 3 * kld_s) * n / lc
print(f"llama-perplexity for reference + 3 variants, scaled to {n:.0f} chunks: {llama:.0f} s; "
      f"shootout {run_s:.0f} s; ratio {llama / run_s:.2f}x")
EOF
fi
