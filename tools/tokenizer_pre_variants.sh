#!/usr/bin/env bash
# Regenerates tests/data/tokenizer/llama-tokenize-pre-variants.txt: llama-tokenize's ids for the
# qwen3-34m-code vocabulary under several pre-tokenizers, on the cases in pre-variant-cases.hex and the
# first 200000 bytes of wikitext-2. Usage: tools/tokenizer_pre_variants.sh LLAMA_BIN_DIR [SHARED_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?llama.cpp bin dir (with llama-tokenize)}
shared=${2:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
i=0
while read -r hex; do printf '%s' "$hex" | xxd -r -p > "$work/case$i.txt"; i=$((i + 1)); done < tests/data/tokenizer/pre-variant-cases.hex
head -c 200000 "$shared/data/wikitext-2-test.txt" > "$work/wiki.txt"
out=tests/data/tokenizer/llama-tokenize-pre-variants.txt
{
  echo "# llama-tokenize (llama.cpp, unslothai fork, Nov 2026) ids for the qwen3-34m-code vocabulary with tokenizer.ggml.pre"
  echo "# replaced; made by tools/tokenizer_pre_variants.sh. Lines: pre <TAB> case index <TAB> ids (space-separated)."
  echo "# Case 'wiki': first 200000 bytes of wikitext-2-test.txt, given as: count <TAB> sha256 of the ids joined by spaces."
  for pre in gpt-2 llama-bpe qwen2 command-r; do
    python3 tools/vocab_with_pre.py "$shared/models/qwen3-34m-code/model-bf16.gguf" "$pre" "$work/vocab.gguf"
    for ((c = 0; c < i; c++)); do
      ids=$("$bin/llama-tokenize" -m "$work/vocab.gguf" -f "$work/case$c.txt" --ids --log-disable 2>/dev/null | tr -d '[],')
      printf '%s\t%d\t%s\n' "$pre" "$c" "$ids"
    done
    ids=$("$bin/llama-tokenize" -m "$work/vocab.gguf" -f "$work/wiki.txt" --ids --log-disable 2>/dev/null | tr -d '[],')
    printf '%s\twiki\t%s\t%s\n' "$pre" "$(echo $ids | wc -w)" "$(printf '%s' "$ids" | sha256sum | cut -c1-64)"
  done
} > "$out"
echo "wrote $out"
