#!/usr/bin/env bash
# The speed tables of issues 4 and 5: for each synthetic model spec, `shootout synth` writes the GGUF
# (random weights in the recipe's types), then `shootout bench --backend cuda` and llama-bench (CUDA,
# -fa 1 -ngl 99, built beside from LLAMA_SRC in the background while Shootout builds) bench the same
# file, one after the other, and the file is deleted before the next spec (an 80B file and a 30B one
# do not fit a 64 GB disk together). Run through the device tool.
#   tools/gpu-speed.sh [--llama SRC] [--prompts 512] [--gen 128] [--depth 0] [--reps 5] [--rounds 1] SPEC...
#   --rounds N    both tools bench each file N times, alternating (Shootout, llama.cpp, Shootout, ...),
#                 and each test's line gives every round's ratio and their median: a drift of the card
#                 over a minute (clocks, heat) then shows as spread instead of hiding in one ratio
#   --depth LIST  tokens in the KV cache before each test (both tools' -d), e.g. 0,4096
#   SPEC = ARCH:SHAPE:RECIPE[:pure]   e.g. qwen3:8B:Q4_K_M qwen3:8B:MXFP4_MOE:pure qwen3moe:30B-A3B:MXFP4_MOE
#   (pure: every matrix in the recipe's base type, as llama-quantize --pure; MXFP4_MOE on a dense model
#   is otherwise Q8_0 everywhere).
#   --llama SRC   a llama.cpp source tree (built here, ~6 min), or the llama-bin.tar.xz of an earlier
#                 call run with LLAMA_PACK=1 (its parts in that call's $OUT; see gpu-lib.sh)
# Prints one line per test (Shootout t/s, llama.cpp t/s, ratio) and leaves both tools' tables in $OUT
# (with LLAMA_PACK=1 in $OUT/logs.tgz, beside the packed binaries' parts).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
llama_src=""; prompts=512; gen=128; depth=0; reps=5; rounds=1; specs=()
while [ $# -gt 0 ]; do
  case $1 in
    --llama) llama_src=$2; shift ;;
    --prompts) prompts=$2; shift ;;
    --gen) gen=$2; shift ;;
    --depth) depth=$2; shift ;;
    --reps) reps=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    *) specs+=("$1") ;;
  esac
  shift
done
. tools/gpu-lib.sh /tmp/gpu-speed

start_llama_build "$llama_src"
build_shootout
B=/tmp/llama-cuda/build/bin/llama-bench

status=0
for spec in "${specs[@]}"; do
  IFS=: read -r arch shape recipe pure <<<"$spec"
  name=$arch-$shape-$recipe${pure:+-pure}
  f=$work/$name.gguf
  t0=$(date +%s)
  "$S" synth --arch "$arch" --shape "$shape" --recipe "$recipe" ${pure:+--pure} -o "$f" >"$out/synth-$name.log" 2>&1 \
    || { echo "synth $spec failed"; tail -3 "$out/synth-$name.log"; status=1; continue; }
  echo "== $name: $(du -h "$f" | cut -f1), synth $(( $(date +%s) - t0 )) s"
  if [ -n "$llama_pid" ]; then  # the llama.cpp build ran beside Shootout's and the first synth
    wait $llama_pid || { echo "llama.cpp build failed"; tail -20 "$out/llama-build.log"; }
    llama_pid=""
    pack_llama_build
  fi
  ours=(); theirs=(); logs=()
  for r in $(seq 1 "$rounds"); do
    tag=$name; [ "$rounds" -gt 1 ] && tag=$name-r$r
    timeout "${BENCH_TIMEOUT:-300}" "$S" bench -m "$f" -p "$prompts" -n "$gen" -d "$depth" -r "$reps" --backend cuda \
      -o "$out/bench-$tag" >"$out/bench-$tag.txt" 2>&1 || { status=1; tail -5 "$out/bench-$tag.txt"; }
    ours+=("$out/bench-$tag.csv"); logs+=("$out/bench-$tag.txt")
    if [ -x "$B" ]; then
      timeout "${BENCH_TIMEOUT:-300}" "$B" -m "$f" -p "$prompts" -n "$gen" -d "$depth" -r "$reps" -fa 1 -ngl 99 -o csv \
        >"$out/llama-bench-$tag.csv" 2>"$out/llama-bench-$tag.err" || { status=1; tail -5 "$out/llama-bench-$tag.err"; }
      theirs+=("$out/llama-bench-$tag.csv")
    fi
  done
  # One line per test: Shootout's mean (its CSV: test, avg_ts) beside llama-bench's (n_prompt, n_gen,
  # avg_ts), round by round when there are several, with the median ratio.
  python3 - "$name" "${#ours[@]}" "${ours[@]}" "${theirs[@]}" <<'PY'
import csv, statistics, sys
name, n = sys.argv[1], int(sys.argv[2])
ours_files, theirs_files = sys.argv[3:3 + n], sys.argv[3 + n:]
def read_ours(path):
    try: return {r["test"]: float(r["avg_ts"]) for r in csv.DictReader(open(path))}
    except Exception as e: print("  no Shootout table:", path, e); return {}
def read_theirs(path):
    out = {}
    try:
        for r in csv.DictReader(open(path)):
            t = f"pp{r['n_prompt']}" if int(r["n_gen"]) == 0 else f"tg{r['n_gen']}"
            if int(r.get("n_depth") or 0) > 0: t += f" @ d{r['n_depth']}"  # as Shootout names it
            out[t] = float(r["avg_ts"])
    except Exception: pass
    return out
ours = [read_ours(p) for p in ours_files]
theirs = [read_theirs(p) for p in theirs_files] or [{} for _ in ours]
tests = list(dict.fromkeys(t for table in ours + theirs for t in table))  # either tool's, in order
fmt = lambda xs: " / ".join(f"{x:.1f}" if x else "-" for x in xs)
for t in tests:
    pairs = [(o.get(t), w.get(t)) for o, w in zip(ours, theirs)]
    ratios = [v / w for v, w in pairs if v and w]
    if n == 1:
        v, w = pairs[0]
        print(f"  {name} {t}: shootout {fmt([v])} t/s" + (f", llama.cpp {w:.1f} t/s" if w else "") +
              (f", ratio {ratios[0]:.2f}x" if ratios else ""))
        continue
    line = f"  {name} {t}: shootout {fmt(v for v, _ in pairs)}, llama.cpp {fmt(w for _, w in pairs)}"
    if ratios:
        line += ", ratio " + " / ".join(f"{q:.2f}" for q in ratios) + f" (median {statistics.median(ratios):.2f}x)"
    print(line)
PY
  # The decode bandwidth, from this spec's own logs (a glob on the name would also take another
  # spec's whose name it begins, Q4_K_M's with Q4_K_M-pure's).
  cat "${logs[@]}" | grep -E "GB of weights a token" | sed "s/^ */  $name /"
  rm -f "$f"
done
bundle_logs_for_pack
exit $status
