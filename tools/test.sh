#!/usr/bin/env bash
# Builds Shootout with warnings as errors and runs every test (unit, golden, CLI) and the GGUF fuzzer
# for a bounded time. This is what CI runs (.ci/run) and what a newcomer runs.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cuda=OFF; command -v nvcc >/dev/null && cuda=ON
cmake -S . -B build -G Ninja -DSHOOTOUT_WERROR=ON -DSHOOTOUT_TESTS=ON -DSHOOTOUT_CUDA=$cuda >/dev/null
cmake --build build -j"$(nproc)"
SHOOTOUT_SMOLLM2_GGUF=$(tools/find-smollm2.sh)
export SHOOTOUT_SMOLLM2_GGUF
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ -x tools/fuzz.sh ]; then tools/fuzz.sh "${SHOOTOUT_FUZZ_SECONDS:-60}"; fi
echo "all tests passed"
