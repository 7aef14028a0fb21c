#!/usr/bin/env bash
# Why the one-token decode attention takes ~9-10 us a call at a short context (NOTES.md: 10 % of an 8B
# Q8_0 layer's kernel time, the largest piece after the products): ncu's sections of
# attention_decode_kernel in the decode steps of a synthetic Qwen3-8B-shaped model (a few layers),
# with the stall reasons per issued instruction and the source lines the warps stall at (the build
# carries -lineinfo). Run through the device tool; no carry needed.
#   tools/gpu-ncu-attention.sh [--recipe Q8_0] [--layers 4] [--depth 0]
#     --depth D  tokens in the KV cache before the timed steps (shootout bench -d), e.g. 4096
# Leaves $OUT/ncu-attention.txt (the full report) and prints the lines that decide it.
set -uo pipefail
cd "$(dirname "$0")/.."
recipe=Q8_0; layers=4; depth=0
while [ $# -gt 0 ]; do
  case $1 in
    --recipe) recipe=$2; shift ;;
    --layers) layers=$2; shift ;;
    --depth) depth=$2; shift ;;
    *) echo "gpu-ncu-attention: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
. tools/gpu-lib.sh /tmp/ncu-attention
build_shootout
f=$work/qwen3-8b-$recipe-$layers.gguf
"$S" synth --arch qwen3 --shape 8B --recipe "$recipe" --layers "$layers" -o "$f" >"$out/synth.log" 2>&1 \
  || { echo "gpu-ncu-attention: synth failed"; tail -3 "$out/synth.log"; exit 1; }
"$S" bench -m "$f" -p 0 -n 64 -d "$depth" -r 1 --backend cuda 2>&1 | grep -E "tg64"
# Skip the warm-up run's calls; profile five of the timed steps' (one a layer a step).
ncu --clock-control none --cache-control none --kernel-name regex:attention_decode_kernel \
  --launch-skip $(( 40 * layers )) --launch-count 5 \
  --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats \
  --section SchedulerStats --section SourceCounters \
  --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum' \
  "$S" bench -m "$f" -p 0 -n 64 -d "$depth" -r 1 --backend cuda >"$out/ncu-attention.txt" 2>"$out/ncu-attention.err"
echo "== attention_decode_kernel (last profiled call)"
grep -E "Duration|Elapsed Cycles|Grid Size|Block Size|Registers Per Thread|Achieved Occupancy|Warp Cycles Per Issued Instruction|Issued Warp Per Scheduler|inst_executed" \
  "$out/ncu-attention.txt" | tail -9
grep -E "stalled_(long_scoreboard|short_scoreboard|wait|barrier|membar|math_pipe_throttle|mio_throttle|lg_throttle|not_selected|selected|sleeping)_" \
  "$out/ncu-attention.txt" | tail -11
# SourceCounters' tables: the locations with the most stall samples and the most uncoalesced accesses.
grep -A12 -iE "Warp Stall Sampling|most stall" "$out/ncu-attention.txt" | tail -26
# Per SASS instruction (with its CUDA line): the warp stall samples of one call, as CSV
# (ncu-attention-source.csv) for reading off the machine: which step of the chain the warps wait in.
ncu --clock-control none --cache-control none --kernel-name regex:attention_decode_kernel \
  --launch-skip $(( 40 * layers )) --launch-count 1 --section SourceCounters --section WarpStateStats \
  -o "$out/attention" -f "$S" bench -m "$f" -p 0 -n 64 -d "$depth" -r 1 --backend cuda >/dev/null 2>"$out/ncu-source.err"
ncu -i "$out/attention.ncu-rep" --page source --csv --print-source cuda,sass >"$out/ncu-attention-source.csv" 2>>"$out/ncu-source.err" \
  || ncu -i "$out/attention.ncu-rep" --page source --csv --print-source sass >"$out/ncu-attention-source.csv" 2>>"$out/ncu-source.err"
echo "source page: $(wc -l <"$out/ncu-attention-source.csv") lines"; tail -2 "$out/ncu-source.err"
rm -f "$f"
