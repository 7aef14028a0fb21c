#!/usr/bin/env bash
# Builds the CUDA backend on a GPU machine, runs its tests and its benchmark, and leaves the logs in
# $OUT (default: build-gpu/logs). One call does everything, so one device lease covers it:
#   tools/gpu-check.sh [--quick] [--sanitize] [--no-kernel-bench] [--model FILE] [--llama SRC] [--bench-model FILE]...
#     --quick     benchmark only the 12288x4096 shape, prefill at 512 tokens
#     --sanitize  also run the tests under compute-sanitizer (memcheck, then racecheck on the GEMM)
#     --no-kernel-bench  skip bench_cuda_kernels and bench_cuda_moe
#     --model FILE  a GGUF (e.g. the Q8_0 of qwen3-34m): quantize it to one file per CUDA weight type
#                   (--pure) and run test_cuda_model (CPU vs CUDA logits, KLD) on each
#     --imatrix FILE  an importance matrix of --model (e.g. ../shared/golden/imatrix-wikitext2-100x512.gguf):
#                   also the i-quant recipes that need one (IQ2_XXS..IQ3_S, IQ1_S, IQ1_M; not --pure,
#                   whose token_embd would need imatrix data that llama-imatrix does not collect)
#     --llama SRC   a llama.cpp source tree: build its CUDA llama-bench beside (in the background,
#                   while the project builds) and bench the same files with it (-fa 1 -ngl 99)
#     --bench-model FILE  also bench this GGUF (repeatable); the --model file and its Q4_K_M variant
#                   are benched by default
#     --synth RECIPE  also bench a synthetic Qwen3-8B-shaped GGUF of this recipe (shootout synth)
#     --text FILE   eval/run on the GPU: shootout eval of --model on CPU and CUDA (PPL must agree),
#                   shootout run --backend cuda (--model vs its Q4_K_M), and eval tokens/s of the
#                   synthetic models (beside llama-perplexity when --llama is given)
#     --prompts LIST  bench prompt sizes (default 512)
#     --profile     time every kernel of two decode steps and one 512-token prefill of the first
#                   synthetic model under ncu (gpu__time_duration), summed per kernel name
#                   (tools/ncu_summary.py) into $OUT/profile-{decode,prefill}.txt
# The project is built without -Werror here (SHOOTOUT_GPU_WERROR=ON to turn it on): the CPU CI
# enforces it, and a host-compiler false positive elsewhere should not cost a GPU lease.
# GoogleTest: used from the system when CMake finds it; otherwise built from $GTEST_SRC (default
# .device-carry/googletest, else /usr/src/googletest), e.g. a copy carried to a machine without it.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=""; sanitize=0; kernel_bench=1; model=""; imatrix=""; llama_src=""; bench_models=(); synth=(); text=""; prompts=512; profile=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=--quick ;;
    --sanitize) sanitize=1 ;;
    --no-kernel-bench) kernel_bench=0 ;;
    --model) model=$(realpath "$2"); shift ;;
    --imatrix) imatrix=$(realpath "$2"); shift ;;
    --llama) llama_src=$(realpath "$2"); shift ;;
    --bench-model) bench_models+=("$(realpath "$2")"); shift ;;
    --synth) synth+=("$2"); shift ;;
    --text) text=$(realpath "$2"); shift ;;
    --prompts) prompts=$2; shift ;;
    --profile) profile=1 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
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
  # One build per source path: a warm machine keeps /tmp, and CMake refuses a cache made from another.
  gt=/tmp/shootout-gtest-$(echo "$src" | md5sum | cut -c1-8)
  { cmake -S "$src" -B $gt/build -G Ninja -DBUILD_GMOCK=OFF -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX=$gt/install && ninja -C $gt/build -j"$jobs" install; } >"$out/gtest-build.log" 2>&1 \
    || { tail -20 "$out/gtest-build.log"; exit 1; }
  prefix_args=(-DCMAKE_PREFIX_PATH=$gt/install)
fi

t0=$(date +%s)
llama_pid=""
if [ -n "$llama_src" ]; then
  # Half the cores: the project builds at the same time.
  ( export CMAKE_BUILD_PARALLEL_LEVEL=$(( $(nproc) / 2 )); bash "$root/tools/build-llama-cpp.sh" "$llama_src" /tmp/llama-cuda cuda ) \
    >"$out/llama-build.log" 2>&1 &
  llama_pid=$!
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHOOTOUT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DSHOOTOUT_WERROR=${SHOOTOUT_GPU_WERROR:-OFF} -DSHOOTOUT_TESTS=ON -DSHOOTOUT_BENCH=OFF "-DCMAKE_CUDA_FLAGS=-Xptxas=-v" "${prefix_args[@]}" >"$out/configure.log" 2>&1 \
  || { tail -30 "$out/configure.log"; exit 1; }
# Tests on explicitly: tools/gpu-speed.sh and gpu-ab.sh configure the same build folder with them off.
# Only the CUDA targets: the rest of the tree is the CPU CI's business.
targets=(test_cuda_kernels test_cuda_step_graph test_cuda_attention test_cuda_fused test_cuda_gated_norm test_cuda_pdl test_cuda_pdl_models test_cuda_norm_product
  test_cuda_host_buffer test_cuda_moe_deltanet test_cuda_delta_net test_cuda_moe_mmq test_cuda_tiny_hf bench_cuda_kernels bench_cuda_moe)
[ -n "$model" ] && targets+=(shootout test_cuda_model)
[ ${#synth[@]} -gt 0 ] && targets+=(shootout)
ninja -C "$build" -j"$jobs" "${targets[@]}" >"$out/build.log" 2>&1 \
  || { grep -v "ptxas info" "$out/build.log" | tail -40; exit 1; }
echo "gpu-check: build $(( $(date +%s) - t0 )) s"
cp "$build/.ninja_log" "$out/ninja_log.txt" 2>/dev/null
# Registers, spills and shared memory of each kernel (from ptxas -v).
grep -E "Compiling entry|Used [0-9]+ registers|spill" "$out/build.log" >"$out/resources.txt" || true

status=0
"$build/test_cuda_kernels" 2>&1 | tee "$out/test.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error" | head -60
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
"$build/test_cuda_step_graph" 2>&1 | tee "$out/test-step-graph.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
"$build/test_cuda_attention" 2>&1 | tee "$out/test-attention.log" | grep -E "^attention|^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
"$build/test_cuda_fused" 2>&1 | tee "$out/test-fused.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The decode attention's CUDA-core key walk once more (head_dim 64, 128 and 256 take the tensor-core
# walk, decode_walk_mma.cuh, unless SHOOTOUT_CUDA_DECODE_MMA=0).
SHOOTOUT_CUDA_DECODE_MMA=0 "$build/test_cuda_attention" 2>&1 | tee "$out/test-attention-nomma.log" \
  | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
SHOOTOUT_CUDA_DECODE_MMA=0 "$build/test_cuda_fused" --gtest_filter='*DecodeStep*' 2>&1 | tee "$out/test-fused-nomma.log" \
  | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The prompts' cuBLAS path (head sizes the flash kernel does not take, and SHOOTOUT_CUDA_FLASH=0).
SHOOTOUT_CUDA_FLASH=0 "$build/test_cuda_attention" 2>&1 | tee "$out/test-attention-noflash.log" \
  | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The Gated DeltaNet's output norm in one kernel (gated_norm.cu) against rms_norm then the gate.
"$build/test_cuda_gated_norm" 2>&1 | tee "$out/test-gated-norm.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# Decode steps with Programmatic Dependent Launch off and on must agree bit for bit (pdl.cuh).
"$build/test_cuda_pdl" 2>&1 | tee "$out/test-pdl.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The same through the tiny qwen3moe/qwen3next models (MoE and Gated DeltaNet kernels), F16 and Q8_0.
"$build/test_cuda_pdl_models" 2>&1 | tee "$out/test-pdl-models.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# Norm folding (matvec_normed, the accumulating product) against the unfolded kernels, bit for bit.
"$build/test_cuda_norm_product" 2>&1 | tee "$out/test-norm-product.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# Page-locked host buffers for the logits (Model::host_buffer): the same bits as plain memory.
"$build/test_cuda_host_buffer" 2>&1 | tee "$out/test-host-buffer.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The MoE/DeltaNet miniatures, when carried (BF16 GGUFs of ../shared/models, copied beside googletest).
moe_models=""
for f in "$root"/.cudamoe-carry/qwen3moe-*.gguf "$root"/.cudamoe-carry/qwen3next-*.gguf; do
  [ -f "$f" ] && moe_models="$moe_models${moe_models:+:}$f"
done
"$build/test_cuda_delta_net" 2>&1 | tee "$out/test-delta-net.log" | grep -E "us/token|^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The int8 expert GEMM (moe_mmq.cu) against the CPU reference, every type it takes.
"$build/test_cuda_moe_mmq" 2>&1 | tee "$out/test-moe-mmq.log" | grep -E "^moe_mmq|^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# Issue 5's golden test: tiny transformers-made qwen3moe/qwen3next checkpoints (tests/data/model).
"$build/test_cuda_tiny_hf" 2>&1 | tee "$out/test-tiny-hf.log" | grep -E "^tiny|^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
SHOOTOUT_CUDA_MOE_MODELS=$moe_models "$build/test_cuda_moe_deltanet" 2>&1 | tee "$out/test-moe.log" \
  | grep -E "KLD|t/s|^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The MoE ops once more with prompts on the F16 expert GEMM (moe_gemm) instead of moe_mmq.
SHOOTOUT_CUDA_MOE_MMQ=0 "$build/test_cuda_moe_deltanet" --gtest_filter='*Moe*:-*Model*' 2>&1 | tee "$out/test-moe-f16.log" \
  | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if [ $sanitize -eq 1 ] && command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 3 "$build/test_cuda_kernels" \
    --gtest_filter='*q4_0*:*q5_1*:*q4_K*:*q6_K*:*bf16*:*mxfp4*:*Mxfp4*:*q2_K*:*q3_K*:*iq4*:*Iq4*:*iq2*:*iq3*:*IqGrid*:*iq1*:*tq*:*Ternary*' >"$out/memcheck.log" 2>&1 || status=1
  tail -3 "$out/memcheck.log"
  compute-sanitizer --tool racecheck --error-exitcode 3 "$build/test_cuda_kernels" \
    --gtest_filter='*Gemm*q5_K*' >"$out/racecheck.log" 2>&1 || status=1
  tail -3 "$out/racecheck.log"
fi
if [ $kernel_bench -eq 1 ]; then
  "$build/bench_cuda_kernels" $quick 2>&1 | tee "$out/bench.log" | sed -n '/^## decode/,$p'
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # The prompts' expert GEMMs alone (30B-A3B and 80B-A3B expert shapes, 512 tokens).
  "$build/bench_cuda_moe" 2>&1 | tee "$out/bench-moe.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

if [ -n "$model" ]; then
  # One file per weight type with a CUDA kernel (--pure: every matrix, token_embd included;
  # MXFP4_MOE --pure makes every matrix MXFP4, not only expert stacks).
  variants=/tmp/shootout-variants; mkdir -p $variants
  files=("$model")
  for recipe in F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_M Q5_K_M Q6_K MXFP4_MOE Q2_K Q3_K_M IQ4_NL IQ4_XS TQ1_0 TQ2_0; do
    f=$variants/pure-$recipe.gguf
    "$build/shootout" quantize --model "$model" --recipe $recipe --pure --allow-requantize -o "$f" \
      >>"$out/quantize.log" 2>&1 || { echo "gpu-check: quantize $recipe failed"; tail -3 "$out/quantize.log"; status=1; continue; }
    files+=("$f")
  done
  if [ -n "$imatrix" ]; then
    for recipe in IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S IQ1_M; do
      f=$variants/imatrix-$recipe.gguf
      "$build/shootout" quantize --model "$model" --recipe $recipe --imatrix "$imatrix" --allow-requantize -o "$f" \
        >>"$out/quantize.log" 2>&1 || { echo "gpu-check: quantize $recipe failed"; tail -3 "$out/quantize.log"; status=1; continue; }
      files+=("$f")
    done
  fi
  "$build/shootout" quantize --model "$model" --recipe Q4_K_M --allow-requantize -o $variants/Q4_K_M.gguf >>"$out/quantize.log" 2>&1
  SHOOTOUT_CUDA_TEST_MODELS=$(IFS=:; echo "${files[*]}") "$build/test_cuda_model" 2>&1 | tee "$out/test-model.log" \
    | grep -E "KLD|^\[  (PASSED|FAILED) |Failure|error|Expected|Which is|actual"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  bench_models=("$model" $variants/Q4_K_M.gguf "${bench_models[@]}")
fi
for recipe in "${synth[@]}"; do
  f=/tmp/qwen3-8b-$recipe.gguf
  if "$build/shootout" synth --arch qwen3 --shape 8B --recipe "$recipe" -o "$f" >>"$out/synth.log" 2>&1; then
    bench_models+=("$f")
  else
    echo "gpu-check: synth $recipe failed"; tail -3 "$out/synth.log"; status=1
  fi
done
if [ $profile -eq 1 ] && [ ${#synth[@]} -gt 0 ] && command -v ncu >/dev/null; then
  f=/tmp/qwen3-8b-${synth[0]}.gguf
  # bench -p 0 -n 16 -r 1: a warm-up of 16 steps then 16 timed ones (~300 launches a step); skip 3000.
  ncu --clock-control none --metrics gpu__time_duration.sum --csv --launch-skip 3000 --launch-count 1500 \
    "$build/shootout" bench -m "$f" -p 0 -n 16 -r 1 --backend cuda >"$out/ncu-decode.csv" 2>"$out/ncu-decode.err" \
    && python3 "$root/tools/ncu_summary.py" "$out/ncu-decode.csv" >"$out/profile-decode.txt"
  ncu --clock-control none --metrics gpu__time_duration.sum --csv --launch-skip 1300 --launch-count 1300 \
    "$build/shootout" bench -m "$f" -p 512 -n 0 -r 1 --backend cuda >"$out/ncu-prefill.csv" 2>"$out/ncu-prefill.err" \
    && python3 "$root/tools/ncu_summary.py" "$out/ncu-prefill.csv" >"$out/profile-prefill.txt"
  head -25 "$out/profile-decode.txt" "$out/profile-prefill.txt"
fi
if [ ${#bench_models[@]} -gt 0 ]; then
  mflags=(); for m in "${bench_models[@]}"; do mflags+=(-m "$m"); done
  "$build/shootout" bench "${mflags[@]}" -p $prompts -n 128 -r 5 --backend cuda -o "$out/bench-shootout" \
    2>"$out/bench-shootout.err" || { status=1; tail -5 "$out/bench-shootout.err"; }
  if [ -n "$llama_pid" ]; then
    wait $llama_pid || { echo "gpu-check: llama.cpp build failed"; tail -20 "$out/llama-build.log"; status=1; }
    if [ -x /tmp/llama-cuda/build/bin/llama-bench ]; then
      /tmp/llama-cuda/build/bin/llama-bench "${mflags[@]}" -p $prompts -n 128 -r 5 -fa 1 -ngl 99 -o md \
        >"$out/bench-llama.md" 2>"$out/bench-llama.err" || { status=1; tail -5 "$out/bench-llama.err"; }
    fi
  fi
  if [ -n "$text" ]; then
    if [ -n "$model" ]; then
      for b in cpu cuda; do
        "$build/shootout" eval -m "$model" -f "$text" --chunks 8 --backend $b >"$out/eval-34m-$b.txt" 2>&1 || status=1
        echo "eval 34m $b: $(grep -E 'Final|speed' "$out/eval-34m-$b.txt" | tr '\n' ' ')"
      done
      "$build/shootout" run -m "$model" --quant Q4_K_M --allow-requantize -f "$text" --chunks 8 --backend cuda \
        -o /tmp/run-cuda >"$out/run-cuda.txt" 2>&1 || status=1
      tail -8 "$out/run-cuda.txt"; grep "GPU memory" "$out/run-cuda.txt"
      # A GPU too small for every model at once (--gpu-memory; the 34M models' estimates are ~0.85 GiB
      # each): top-k mode with the variants in two passes must give the one-pass top-k run's table;
      # a budget under the reference's own need fails at once, naming it.
      two=("$variants/pure-Q4_0.gguf" "$variants/pure-Q6_K.gguf")
      for mode in one-pass passes; do
        extra=(--reference-mode top-k); [ $mode = passes ] && extra=(--gpu-memory 1.2)
        "$build/shootout" run -m "$model" --variant "${two[0]}" --variant "${two[1]}" -f "$text" --chunks 4 \
          --backend cuda --no-speed --no-resume "${extra[@]}" -o /tmp/run-$mode >"$out/run-$mode.txt" 2>"$out/run-$mode.err" \
          || { status=1; tail -3 "$out/run-$mode.err"; }
      done
      if grep -q "pass 2/2" "$out/run-passes.err" && cmp -s <(grep "^|" "$out/run-one-pass.txt") <(grep "^|" "$out/run-passes.txt"); then
        echo "run in passes: 2 passes, table equal to one pass"
      else
        echo "run in passes: FAILED (see run-passes.err)"; status=1
      fi
      if "$build/shootout" run -m "$model" --variant "${two[0]}" -f "$text" --chunks 4 --backend cuda --no-speed \
           --gpu-memory 0.5 -o /tmp/run-small >"$out/run-small.txt" 2>&1; then
        echo "run at 0.5 GiB: FAILED (no error)"; status=1
      else
        echo "run at 0.5 GiB: $(tail -1 "$out/run-small.txt")"
      fi
    fi
    for f in "${bench_models[@]}"; do
      case $f in /tmp/qwen3-8b-*) ;; *) continue ;; esac
      "$build/shootout" eval -m "$f" -f "$text" --chunks 8 --backend cuda >"$out/eval-8b.txt" 2>&1 || status=1
      echo "eval $(basename $f) shootout cuda: $(grep -E 'Final|speed' "$out/eval-8b.txt" | tr '\n' ' ')"
      if [ -x /tmp/llama-cuda/build/bin/llama-perplexity ]; then
        /usr/bin/time -f "%e s wall" /tmp/llama-cuda/build/bin/llama-perplexity -m "$f" -f "$text" --chunks 8 -ngl 99 -fa on \
          >"$out/ppl-8b-llama.txt" 2>&1 || status=1
        echo "eval $(basename $f) llama-perplexity: $(grep -E 'Final|wall|tokens per second' "$out/ppl-8b-llama.txt" | tr '\n' ' ')"
      fi
    done
  fi
  echo "## shootout (CUDA)"; cat "$out/bench-shootout.md" 2>/dev/null
  [ -f "$out/bench-llama.md" ] && { echo "## llama.cpp (CUDA, -fa 1)"; cat "$out/bench-llama.md"; }
fi
echo "gpu-check: done in $(( $(date +%s) - t0 )) s, status $status"
exit $status
