#!/usr/bin/env bash
cd "$(dirname "$0")/.."
timeout 585 tools/gpu-speed.sh --llama .device-carry/llama-src --depth 0,4096 --reps 3 qwen3:8B:Q8_0 qwen3:8B:Q4_K_M qwen3:8B:MXFP4_MOE:pure qwen3:8B:Q5_K_M > $OUT/speed.txt 2>&1
