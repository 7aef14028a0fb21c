#!/usr/bin/env bash
# Builds the libFuzzer target for the GGUF reader (clang, ASan + UBSan) and fuzzes it for a bounded time
# over the seed corpus in tests/data/gguf/corpus. Exits non-zero on any crash, sanitizer report, leak,
# timeout or allocation over the limit; the input that did it is left in the artifacts folder and
# belongs in tests/data/gguf/regressions/ (test_gguf_bad_input runs every file there).
#
# Usage: tools/fuzz.sh [seconds=60]
# Env:   SHOOTOUT_FUZZ_BUILD (build dir, default build-fuzz), JOBS (ninja -j, default 2),
#        SHOOTOUT_FUZZ_CORPUS (keep the grown corpus here instead of a temp dir)
set -euo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHOOTOUT_FUZZ_BUILD:-$root/build-fuzz}

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DSHOOTOUT_FUZZ=ON -DSHOOTOUT_TESTS=OFF \
    -DSHOOTOUT_BENCH=OFF -DSHOOTOUT_NATIVE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j "${JOBS:-2}" fuzz_gguf_reader

# libFuzzer writes new inputs to the first corpus folder and only reads the others: the committed
# seeds stay untouched.
if [[ -n "${SHOOTOUT_FUZZ_CORPUS:-}" ]]; then
    corpus=$SHOOTOUT_FUZZ_CORPUS
    mkdir -p "$corpus"
else
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
fi
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

# Inputs up to 64 KiB; no single allocation may exceed 256 MiB (a claimed count must never be trusted).
"$build/fuzz_gguf_reader" \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -dict="$root/fuzz/gguf.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$corpus" "$root/tests/data/gguf/corpus"
echo "fuzz.sh: no crash in ${seconds} s"
