#!/usr/bin/env bash
# CPU evaluation speed of shootout vs llama.cpp's llama-perplexity on the same models and text.
# Runs the two in turn (A B A B ...), RUNS pairs per model, times each whole process with
# /usr/bin/time (wall and user+sys CPU seconds), and prints per model the median tokens/s of each
# (chunks * ctx / wall seconds, start-up included for both) and the median of the pair-by-pair ratios
# shootout/llama (> 1: shootout is faster). Pairing keeps the ratio meaningful on a busy machine.
#
# usage: tools/bench-cpu-vs-llama.sh LLAMA_BUILD_DIR [MODEL.gguf ...]
#   env: SHOOTOUT (default build/shootout), TEXT (default ../shared/data/wikitext-2-test.txt),
#        CHUNKS (4), CTX (512), THREADS (2), RUNS (3)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
llama_dir="${1:?usage: $0 LLAMA_BUILD_DIR [MODEL.gguf ...]}"; shift
llama="$llama_dir/bin/llama-perplexity"; [[ -x "$llama" ]] || llama="$llama_dir/llama-perplexity"
[[ -x "$llama" ]] || { echo "no llama-perplexity under $llama_dir" >&2; exit 2; }
shootout="${SHOOTOUT:-$here/build/shootout}"
text="${TEXT:-$here/../shared/data/wikitext-2-test.txt}"
chunks="${CHUNKS:-4}" ctx="${CTX:-512}" threads="${THREADS:-2}" runs="${RUNS:-3}"
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=("$here/../shared/models/qwen3-34m-code/model-bf16.gguf")
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

# Prints "wall cpu" seconds of one run of the command; fails if the command does.
timed() {
    /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@" > "$tmp/out" 2>&1 || { cat "$tmp/out" >&2; return 1; }
    awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$tmp/time"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

n_tokens=$((chunks * ctx))
printf '| model | llama-perplexity tok/s | shootout tok/s | ratio (shootout/llama, paired median) | CPU-time ratio |\n'
printf '|---|---:|---:|---:|---:|\n'
for model in "${models[@]}"; do
    : > "$tmp/pairs"
    for ((i = 0; i < runs; ++i)); do
        read -r lw lc < <(timed "$llama" -m "$model" -f "$text" --chunks "$chunks" -c "$ctx" -t "$threads")
        read -r sw sc < <(timed "$shootout" eval --model "$model" --data "$text" --chunks "$chunks" --ctx "$ctx" -t "$threads")
        echo "$lw $lc $sw $sc" >> "$tmp/pairs"
    done
    l_tps=$(awk -v n="$n_tokens" '{ print n / $1 }' "$tmp/pairs" | median)
    s_tps=$(awk -v n="$n_tokens" '{ print n / $3 }' "$tmp/pairs" | median)
    ratio=$(awk '{ print $1 / $3 }' "$tmp/pairs" | median)
    cpu_ratio=$(awk '{ print $2 / $4 }' "$tmp/pairs" | median)
    printf '| %s | %.1f | %.1f | %.2f | %.2f |\n' "$(basename "$model")" "$l_tps" "$s_tps" "$ratio" "$cpu_ratio"
done
