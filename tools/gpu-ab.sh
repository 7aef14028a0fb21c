#!/usr/bin/env bash
# A/B speed of two builds (or two settings of one build) on the same synthetic models, in one device
# call: what decides whether a kernel change stays. Run through the device tool.
#   tools/gpu-ab.sh [--a TARBALL] [--a-env 'VAR=v ...'] [--b-env 'VAR=v ...'] [--c-env 'VAR=v ...']
#                   [--d-env 'VAR=v ...'] [--prompts 512] [--gen 0] [--depth 0] [--reps 3] [--rounds 2] SPEC...
#   --a TARBALL  build A from this source tarball (e.g. `git archive <rev> | gzip >
#                .device-carry/a.tar.gz`, carried); without it A is the working tree's build too
#   --a-env / --b-env  environment for A's / B's runs (e.g. --b-env SHOOTOUT_CUDA_MOE_MMQ=0)
#   --c-env, --d-env  third and fourth columns C, D: the working tree's build again with this
#                environment (several settings timed against A in one call: one build, one synth a model)
#   --cd-on-a    C and D run A's build instead of B's (a compile-time trial in B and setting trials
#                of the default build in C, D, timed in one call)
#   --b-cmake 'ARGS'  configure B (the working tree) with these cmake options too (a compile-time
#                trial: a -D option the trial adds to CMakeLists.txt); without --a, A is then the working tree
#                built without them, in a directory of its own
#   --depth D    tokens in the KV cache before each test (shootout bench -d; both builds must have it)
#   SPEC = ARCH:SHAPE:RECIPE[:pure]  as tools/gpu-speed.sh (qwen3:8B:Q4_K_M, qwen3moe:30B-A3B:MXFP4_MOE, ...)
# B is the working tree. Both build at once (half the cores each); each model is synthesized once and
# benched A, B, A, B, ... (`shootout bench -p P -n N -r R`), one line a round with both rates, so a
# drift of the card shows in both columns.
set -uo pipefail
cd "$(dirname "$0")/.."
a_tar=""; a_env=""; b_env=""; b_cmake=""; c_env=""; d_env=""; cd_bin=B; prompts=512; gen=0; depth=0; reps=3; rounds=2; specs=()
while [ $# -gt 0 ]; do
  case $1 in
    --a) a_tar=$(realpath "$2"); shift ;;
    --a-env) a_env=$2; shift ;;
    --b-env) b_env=$2; shift ;;
    --b-cmake) b_cmake=$2; shift ;;
    --c-env) c_env=$2; shift ;;
    --d-env) d_env=$2; shift ;;
    --cd-on-a) cd_bin=A ;;
    --prompts) prompts=$2; shift ;;
    --gen) gen=$2; shift ;;
    --depth) depth=$2; shift ;;
    --reps) reps=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    *) specs+=("$1") ;;
  esac
  shift
done
[ ${#specs[@]} -gt 0 ] || { echo "gpu-ab: no SPEC given" >&2; exit 2; }
. tools/gpu-lib.sh /tmp/gpu-ab
half=$(( jobs / 2 )); [ "$half" -lt 1 ] && half=1

configure_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOOTOUT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90
  -DSHOOTOUT_TESTS=OFF -DSHOOTOUT_BENCH=OFF)
t0=$(date +%s)
a_pid=""
A=$build/shootout
a_src=""
if [ -n "$a_tar" ]; then
  mkdir -p "$work/a-src" && tar xzf "$a_tar" -C "$work/a-src" || { echo "gpu-ab: cannot unpack $a_tar"; exit 1; }
  a_src=$work/a-src
elif [ -n "$b_cmake" ]; then
  a_src=.
fi
if [ -n "$a_src" ]; then
  ( cmake -S "$a_src" -B "$work/a-build" "${configure_args[@]}" && ninja -C "$work/a-build" -j"$half" shootout ) \
    >"$out/build-a.log" 2>&1 &
  a_pid=$!
  A=$work/a-build/shootout
fi
# B with trial options builds apart, so that no later call finds them in the shared build's cache.
[ -n "$b_cmake" ] && build=$work/b-build
# shellcheck disable=SC2086  # b_cmake: several options, split on spaces
cmake -S . -B "$build" "${configure_args[@]}" $b_cmake >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
ninja -C "$build" -j"$half" shootout >"$out/build.log" 2>&1 || { grep -v "ptxas info" "$out/build.log" | tail -30; exit 1; }
if [ -n "$a_pid" ]; then
  wait "$a_pid" || { echo "gpu-ab: build A failed"; grep -v "ptxas info" "$out/build-a.log" | tail -30; exit 1; }
fi
B=$build/shootout
if [ "$cd_bin" = A ]; then CD=$A; cd_name="A's build"; else CD=$B; cd_name="working tree"; fi
echo "gpu-ab: builds $(( $(date +%s) - t0 )) s; A = ${a_tar:-working tree} ${a_env:+($a_env)}, B = working tree ${b_cmake:+[$b_cmake] }${b_env:+($b_env)}${c_env:+, C = $cd_name ($c_env)}${d_env:+, D = $cd_name ($d_env)}"

# The mean t/s of each test row of one `shootout bench` run, as "pp512 123.4 tg128 56.7".
rates() {
  local bin=$1 env_str=$2 f=$3
  env $env_str "$bin" bench -m "$f" -p "$prompts" -n "$gen" -d "$depth" -r "$reps" --backend cuda 2>/dev/null \
    | awk -F'|' '/^\| / && $6 ~ /(pp|tg)[0-9]/ { gsub(/ /, "", $6); split($7, v, "±"); printf "%s %.1f ", $6, v[1] }'
}
status=0
for spec in "${specs[@]}"; do
  IFS=: read -r arch shape recipe pure <<<"$spec"
  f=$work/model.gguf
  "$B" synth --arch "$arch" --shape "$shape" --recipe "$recipe" ${pure:+--pure} -o "$f" >"$out/synth.log" 2>&1 \
    || { echo "gpu-ab: synth $spec failed"; tail -3 "$out/synth.log"; status=1; continue; }
  for ((r = 1; r <= rounds; r++)); do
    line="$spec round $r: A $(rates "$A" "$a_env" "$f")| B $(rates "$B" "$b_env" "$f")"
    [ -n "$c_env" ] && line="$line| C $(rates "$CD" "$c_env" "$f")"
    [ -n "$d_env" ] && line="$line| D $(rates "$CD" "$d_env" "$f")"
    echo "$line"
  done
  rm -f "$f"
done
exit $status
