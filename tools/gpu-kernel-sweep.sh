#!/usr/bin/env bash
# The kernel bench's one-token decode GB/s under several environment settings, one binary, in one
# device call: how session 6 chose the units in flight per type (bench/cuda/NOTES.md). Run through the
# device tool.
#   tools/gpu-kernel-sweep.sh [--src TARBALL] [--rounds 2] [--types REGEX] SETTING...
#   --src TARBALL  build bench_cuda_kernels from this source tarball (e.g. `git archive
#                  wip-matvec-sweep | gzip > .device-carry/sweep.tar.gz`, carried); default: the tree
#   --types REGEX  the types to print (extended regex on the type column, default: every type)
#   SETTING        'VAR=v VAR2=w' (quoted), or '-' for none; each is run once a round, in order
# Prints one line per setting and round: type:GB/s at 12288x4096, 1 token.
set -uo pipefail
cd "$(dirname "$0")/.."
src=""; rounds=2; types='[A-Za-z0-9_]+'; settings=()
while [ $# -gt 0 ]; do
  case $1 in
    --src) src=$(realpath "$2"); shift ;;
    --rounds) rounds=$2; shift ;;
    --types) types=$2; shift ;;
    *) settings+=("$1") ;;
  esac
  shift
done
[ ${#settings[@]} -gt 0 ] || { echo "gpu-kernel-sweep: no SETTING given ('-' for none)" >&2; exit 2; }
. tools/gpu-lib.sh /tmp/gpu-kernel-sweep
tree=$PWD
if [ -n "$src" ]; then
  tree=$work/src && rm -rf "$tree" && mkdir -p "$tree" && tar xzf "$src" -C "$tree" || { echo "gpu-kernel-sweep: cannot unpack $src"; exit 1; }
fi
b=$work/build
cmake -S "$tree" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOOTOUT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DSHOOTOUT_TESTS=OFF -DSHOOTOUT_BENCH=OFF >"$out/sweep-configure.log" 2>&1 || { tail -20 "$out/sweep-configure.log"; exit 1; }
ninja -C "$b" -j"$jobs" bench_cuda_kernels >"$out/sweep-build.log" 2>&1 || { grep -v "ptxas info" "$out/sweep-build.log" | tail -30; exit 1; }
for ((r = 1; r <= rounds; r++)); do
  for setting in "${settings[@]}"; do
    [ "$setting" = "-" ] && env_args=() || read -r -a env_args <<<"$setting"
    printf '%s (round %d): ' "$setting" "$r"
    env "${env_args[@]}" "$b/bench_cuda_kernels" --quick --decode-only 2>&1 \
      | grep -E "^\| ($types) \| 12288x4096 \| 1 \|" | awk -F'|' '{ gsub(/ /, "", $2); gsub(/ /, "", $7); if (!seen[$2]++) printf "%s:%s ", $2, $7 }'
    echo
  done
done
