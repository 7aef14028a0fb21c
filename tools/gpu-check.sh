#!/usr/bin/env bash
# Builds the CUDA backend on a GPU machine, runs its tests and its benchmark, and leaves the logs in
# $OUT (default: build-gpu/logs). One call does everything, so one device lease covers it:
#   tools/gpu-check.sh [--quick] [--sanitize]
#     --quick     benchmark only the 12288x4096 shape, prefill at 512 tokens
#     --sanitize  also run the tests under compute-sanitizer (memcheck, then racecheck on the GEMM)
# GoogleTest: used from the system when CMake finds it; otherwise built from $GTEST_SRC (default
# .device-carry/googletest, else /usr/src/googletest), e.g. a copy carried to a machine without it.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=""; sanitize=0
for arg in "$@"; do
  case $arg in
    --quick) quick=--quick ;;
    --sanitize) sanitize=1 ;;
    *) echo "gpu-check: unknown argument $arg" >&2; exit 2 ;;
  esac
done
build=${SHOOTOUT_GPU_BUILD:-$root/build-gpu}
out=${OUT:-$build/logs}
mkdir -p "$out"
jobs=$(nproc)
[ "$jobs" -gt 16 ] && jobs=16

nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || { echo "gpu-check: nvidia-smi failed (no GPU?)"; cat "$out/nvidia-smi.txt"; exit 1; }
head -15 "$out/nvidia-smi.txt"

prefix_args=()
if ! ls /usr/lib/*/cmake/GTest/GTestConfig.cmake /usr/lib/cmake/GTest/GTestConfig.cmake /usr/local/lib/cmake/GTest/GTestConfig.cmake >/dev/null 2>&1; then
  src=${GTEST_SRC:-}
  [ -z "$src" ] && [ -d "$root/.device-carry/googletest" ] && src=$root/.device-carry/googletest
  [ -z "$src" ] && [ -d /usr/src/googletest ] && src=/usr/src/googletest
  if [ -z "$src" ]; then echo "gpu-check: no GoogleTest found and no source to build it from" >&2; exit 1; fi
  echo "gpu-check: building GoogleTest from $src"
  gt=/tmp/shootout-gtest
  { cmake -S "$src" -B $gt/build -G Ninja -DBUILD_GMOCK=OFF -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX=$gt/install && ninja -C $gt/build -j"$jobs" install; } >"$out/gtest-build.log" 2>&1 \
    || { tail -20 "$out/gtest-build.log"; exit 1; }
  prefix_args=(-DCMAKE_PREFIX_PATH=$gt/install)
fi

t0=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOOTOUT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DSHOOTOUT_WERROR=ON -DSHOOTOUT_BENCH=OFF "-DCMAKE_CUDA_FLAGS=-Xptxas=-v" "${prefix_args[@]}" >"$out/configure.log" 2>&1 \
  || { tail -30 "$out/configure.log"; exit 1; }
# Only the CUDA targets: the rest of the tree is the CPU CI's business.
ninja -C "$build" -j"$jobs" test_cuda_kernels bench_cuda_kernels >"$out/build.log" 2>&1 \
  || { grep -v "ptxas info" "$out/build.log" | tail -40; exit 1; }
echo "gpu-check: build $(( $(date +%s) - t0 )) s"
cp "$build/.ninja_log" "$out/ninja_log.txt" 2>/dev/null
# Registers, spills and shared memory of each kernel (from ptxas -v).
grep -E "Compiling entry|Used [0-9]+ registers|spill" "$out/build.log" >"$out/resources.txt" || true

status=0
"$build/test_cuda_kernels" 2>&1 | tee "$out/test.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error" | head -60
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if [ $sanitize -eq 1 ] && command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 3 "$build/test_cuda_kernels" \
    --gtest_filter='*q4_0*:*q5_1*:*q4_K*:*q6_K*:*bf16*' >"$out/memcheck.log" 2>&1 || status=1
  tail -3 "$out/memcheck.log"
  compute-sanitizer --tool racecheck --error-exitcode 3 "$build/test_cuda_kernels" \
    --gtest_filter='*Gemm*q5_K*' >"$out/racecheck.log" 2>&1 || status=1
  tail -3 "$out/racecheck.log"
fi
"$build/bench_cuda_kernels" $quick 2>&1 | tee "$out/bench.log" | sed -n '/^## decode/,$p'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
echo "gpu-check: done in $(( $(date +%s) - t0 )) s, status $status"
exit $status
