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
# the cores (Shootout builds at the same time); sets llama_pid ("" without a source). $1 may instead
# be a llama-bin.tar.xz that pack_llama_build left in an earlier call's $OUT (reassembled from its
# parts: cat llama-bin.tar.xz.part* > FILE): unpacked where the build puts its binaries, it spares
# the ~6 minutes the build takes on the device machine (the binaries link the CUDA runtime and
# cuBLAS of the machine's toolkit, as the build's did). Set llama_built=1 when built here.
start_llama_build() {
  llama_pid=""; llama_built=0
  [ -n "${1:-}" ] || return 0
  case $1 in
    *.tar.xz)
      mkdir -p /tmp/llama-cuda/build && tar -xJf "$1" -C /tmp/llama-cuda/build \
        || { echo "could not unpack the llama.cpp binaries $1"; exit 1; }
      return 0 ;;
  esac
  ( export CMAKE_BUILD_PARALLEL_LEVEL=$(( jobs / 2 )); bash "$root/tools/build-llama-cpp.sh" "$(realpath "$1")" /tmp/llama-cuda cuda ) \
    >"$out/llama-build.log" 2>&1 &
  llama_pid=$!; llama_built=1
}

# After a build by start_llama_build: llama-bench, llama-perplexity and their libraries into
# $out/llama-bin.tar.xz.partNN (15 MiB each: the device tool brings back files of up to 16 MiB),
# for later calls to carry (git-ignored, never committed). Only when asked: LLAMA_PACK=1.
pack_llama_build() {
  [ "${LLAMA_PACK:-0}" = 1 ] && [ "${llama_built:-0}" = 1 ] || return 0
  local bin=/tmp/llama-cuda/build/bin
  [ -x $bin/llama-bench ] || return 0
  ( cd /tmp/llama-cuda/build && tar -cf - bin/llama-bench bin/llama-perplexity $(cd /tmp/llama-cuda/build && ls bin/*.so* 2>/dev/null) \
      | xz -T0 -6 > /tmp/llama-bin.tar.xz ) && split -b 15M -d /tmp/llama-bin.tar.xz "$out/llama-bin.tar.xz.part" \
    && echo "llama.cpp binaries packed: $(du -h /tmp/llama-bin.tar.xz | cut -f1) in $(ls "$out"/llama-bin.tar.xz.part* | wc -l) parts"
}

# The device tool brings back at most 8 files from $OUT: with LLAMA_PACK=1 (the parts alone take 3),
# every other file of $out goes into one $out/logs.tgz, so the parts are not crowded out (session 15
# lost its packed binaries to the 27 tables and logs beside them). Called last by the scripts.
bundle_logs_for_pack() {
  [ "${LLAMA_PACK:-0}" = 1 ] || return 0
  local files
  files=$(cd "$out" && ls -A | grep -v -e '^llama-bin\.tar\.xz\.part' -e '^logs\.tgz$')
  [ -n "$files" ] || return 0
  (cd "$out" && tar czf logs.tgz $files && rm -rf $files)
}

# Builds the shootout binary (CUDA on, tests and benches off, and any cmake options given, e.g.
# -DSHOOTOUT_CUDA_STEP_TRACE=ON); sets S to it. Exits on failure.
build_shootout() {
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOOTOUT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSHOOTOUT_TESTS=OFF -DSHOOTOUT_BENCH=OFF "$@" >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
  ninja -C "$build" -j"$jobs" shootout >"$out/build.log" 2>&1 || { grep -v "ptxas info" "$out/build.log" | tail -30; exit 1; }
  S=$build/shootout
}
