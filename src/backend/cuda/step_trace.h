// A timeline of the kernels of a real decode step, warp by warp (built only with
// -DSHOOTOUT_CUDA_STEP_TRACE=ON; tools/gpu-step-trace.sh): where the fixed cost of a layer goes
// between kernels (the wait for the previous kernel, the tail of the slowest warps) in the pipeline
// itself, with PDL overlap and graph launches, which ncu (it serialises kernels) cannot show.
//
// Each traced kernel's warps write one record (lane 0): the kernel's kind, SM and launch (%gridid),
// and %globaltimer (32 ns steps on an H100) at entry, after the PDL wait and at exit, into rings in
// device memory shared by every translation unit (each unit's kernels see them through their own
// device pointers, bound by step_trace_init). One ring an SM, each with its own counter: one shared
// counter took an atomic a warp on one address (4224 for a normed launch) and slowed the traced
// decode by 10 %. With SHOOTOUT_STEP_TRACE=<file> the rings' last records go to <file> at exit
// (binary: uint64 count, then 40-byte records; tools/step_trace_summary.py reads them).
#pragma once

#include <cstdint>

namespace shootout::cuda {

struct StepRecord {
    uint32_t kind, sm;
    uint64_t grid, t_enter, t_waited, t_exit;
};
constexpr unsigned kStepTraceSms = 256;              // rings (SM ids above wrap)
constexpr unsigned long long kStepTraceRing = 16384;  // records a ring: the last ~5 steps of an 8B model
static_assert(sizeof(StepRecord) == 40);

// Kinds (what the summary prints): one number a kernel family.
enum StepKind : uint32_t {
    kStepMatvec = 1,        // matvec_q8_kernel, matvec_staged_kernel (O, down, lm_head without a norm)
    kStepMatvecNormed = 2,  // matvec_normed_kernel (Q/K/V, gate/up, the final norm + lm_head)
    kStepAttention = 3,     // attention_decode_kernel
    kStepSwiglu = 4,        // swiglu_quantize_kernel
    kStepQuantize = 5,      // quantize_kernel
};

// A unit's binding of its device pointers to the shared ring (each unit registers one at start-up).
// records: kStepTraceSms rings of kStepTraceRing; counts: one a ring.
using StepTraceBind = void (*)(StepRecord* records, unsigned long long* counts);
bool step_trace_register(StepTraceBind bind);
// With SHOOTOUT_STEP_TRACE set (and the trace compiled in): allocates the ring once, binds every
// registered unit and arms the dump at exit. A no-op otherwise. Called by make_cuda_ops.
void step_trace_init();

}  // namespace shootout::cuda
