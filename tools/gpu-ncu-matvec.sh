#!/usr/bin/env bash
# Why a type's one-token decode product reads below the device's bandwidth: ncu's sections (speed of
# light, memory, occupancy, warp stall reasons, scheduler) for the matvec kernel of each type given,
# at 12288x4096 (bench_cuda_kernels --quick --decode-only --types T), side by side in one call. Made
# for the K-quant question of NOTES.md (Q4_K reads ~2150 GB/s where Q8_0 reads ~2690 on an H100):
# compare q8_0 with q4_K / q5_K / q6_K. Run through the device tool.
#   tools/gpu-ncu-matvec.sh [TYPE...]     (default: q8_0 q4_K q5_K q6_K)
# Leaves $OUT/ncu-matvec-<type>.txt (the full report) and prints the lines that decide it.
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/gpu-lib.sh /tmp/ncu-matvec
types=("$@")
[ ${#types[@]} -eq 0 ] && types=(q8_0 q4_K q5_K q6_K)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOOTOUT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DSHOOTOUT_TESTS=OFF -DSHOOTOUT_BENCH=OFF >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
ninja -C "$build" -j"$jobs" bench_cuda_kernels >"$out/build.log" 2>&1 || { grep -v "ptxas info" "$out/build.log" | tail -30; exit 1; }
B=$build/bench_cuda_kernels
for t in "${types[@]}"; do
  "$B" --quick --decode-only --types "$t" 2>&1 | grep -E "^\| $t \| 12288x4096 \| 1 "
  # The bench replays its graph many times; skip the first launches (warm-up), profile three. No
  # cache flush between kernels: each launch reads another copy of the weights, so they come from
  # DRAM anyway, while the activations stay in L2 as in a decode step.
  ncu --clock-control none --cache-control none --kernel-name regex:matvec_q8_kernel --launch-skip 40 --launch-count 3 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum' \
    "$B" --quick --decode-only --types "$t" >"$out/ncu-matvec-$t.txt" 2>"$out/ncu-matvec-$t.err"
  echo "== $t (last profiled launch)"
  grep -E "Memory Throughput|DRAM Throughput|Duration|Registers Per Thread|Achieved Occupancy|Theoretical Occupancy|Warp Cycles Per Issued Instruction|Issued Warp Per Scheduler|No Eligible|Active Warps Per Scheduler|Eligible Warps Per Scheduler" \
    "$out/ncu-matvec-$t.txt" | tail -11
  # Warp instructions executed, and the cycles between two issued instructions by stall reason
  # (session 12, H200: the Q4_K product ran 5.06 M warp instructions for 28.3 MB, 12.7 cycles between
  # two, 7.3 of them waiting on its loads: long_scoreboard).
  grep -E "inst_executed|stalled_(long_scoreboard|short_scoreboard|wait|math_pipe_throttle|mio_throttle|lg_throttle|not_selected|selected|barrier)_" \
    "$out/ncu-matvec-$t.txt" | tail -10
done
