#!/usr/bin/env bash
# Build llama.cpp beside the project, as the oracle (bit-exactness, KLD numbers) and the speed anchor.
# Usage: tools/build-llama-cpp.sh <llama.cpp git dir or source dir> <build dir> [cuda]
# Never commit its code or binaries: the build dir belongs outside the project (or git-ignored).
set -euo pipefail
src=${1:?llama.cpp checkout (a git dir such as a fetch mirror, or a source tree)}
out=${2:?build directory}
mode=${3:-cpu}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -d "$src/objects" ] || [ -f "$src/HEAD" ]; then
  # A bare mirror: export only what a build needs (some docs blobs may be missing).
  mkdir -p "$out/src"
  git -C "$src" archive HEAD CMakeLists.txt cmake common ggml include src tools vendor gguf-py licenses LICENSE \
    | tar -x -C "$out/src"
  src="$out/src"
  for t in ui mtmd server tts; do rm -rf "$src/tools/$t"; sed -i "/add_subdirectory($t)/d" "$src/tools/CMakeLists.txt"; done
fi
flags=(-DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF
       -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release)
if [ "$mode" = cuda ]; then flags+=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90); fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$src" -B "$out/build" "${gen[@]}" "${flags[@]}"
cmake --build "$out/build" -j"$(nproc)" --target llama-quantize llama-perplexity llama-imatrix llama-bench llama-tokenize
echo "built: $out/build/bin"
