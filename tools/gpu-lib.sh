# Shared by the device scripts (gpu-full-shootout.sh, gpu-speed.sh, gpu-profile.sh): sourced,
# not run. Sets build, out, work, jobs from the environment (SHOOTOUT_GPU_BUILD, OUT, WORK) and
# defines how those scripts build Shootout and llama.cpp on the GPU machine.
#   . tools/gpu-lib.sh DEFAULT_WORK_DIR   (from the repository root)
root=$PWD
build=${SHOOTOUT_GPU_BUILD:-$root/build-gpu}
out=${OUT:-$build/logs}
work=${WORK:-$1}
mkdir -p "$out" "$work"
jobs=$(nproc); [ "$jobs" -gt 16 ] && jobs=16

# Starts llama.cpp's CUDA build from source tree $1 into /tmp/llama-cuda in the background, on half
# the cores (Shootout builds at the same time); sets llama_pid ("" without a source).
start_llama_build() {
  llama_pid=""
  [ -n "${1:-}" ] || return 0
  ( export CMAKE_BUILD_PARALLEL_LEVEL=$(( jobs / 2 )); bash "$root/tools/build-llama-cpp.sh" "$(realpath "$1")" /tmp/llama-cuda cuda ) \
    >"$out/llama-build.log" 2>&1 &
  llama_pid=$!
}

# Builds the shootout binary (CUDA on, tests and benches off); sets S to it. Exits on failure.
build_shootout() {
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOOTOUT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSHOOTOUT_TESTS=OFF -DSHOOTOUT_BENCH=OFF >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
  ninja -C "$build" -j"$jobs" shootout >"$out/build.log" 2>&1 || { grep -v "ptxas info" "$out/build.log" | tail -30; exit 1; }
  S=$build/shootout
}
