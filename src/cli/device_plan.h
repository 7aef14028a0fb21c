// Which models a run on a GPU holds at once. A model uploads its weights when it loads, so dense mode
// (the reference resident beside every variant) needs all of them in GPU memory together. When they do
// not fit, the reference runs alone first (top-k mode: its top-k log-probs cached, then freed) and the
// variants follow in passes of as many as fit, each pass scored against the same cache; the results
// are the same as one pass over all of them. On the CPU every model reads its weights from the file's
// mapping, so a run there is always one pass.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cli/args.h"
#include "model/model.h"

namespace shootout::gguf {
class File;
}

namespace shootout::cli {

// An estimate, on the generous side, of the GPU memory a model takes in a shootout: the weights it
// uploads (every tensor but token_embd, which stays in the file's mapping unless it is also the
// output matrix), the prompt products' workspace (the largest quantized matrix as F16), its KV cache
// over n_ctx positions, a chunk's activations, the logits tiles of tile_rows rows, and a fixed
// allowance for the rest (scratch, cuBLAS, step graphs).
uint64_t device_bytes_estimate(const gguf::File& file, int64_t n_ctx, int64_t tile_rows);

struct DeviceNeed {
    std::string name;
    uint64_t bytes = 0;
};

// Error naming `name` when its need is over the budget; way_out says what the user can do instead.
void check_fits(const std::string& name, uint64_t need, uint64_t budget, const std::string& way_out);

// The variants (indices into `needs`, in order) in passes of as many as fit `budget` bytes together:
// a pass closes at the first variant that would overflow it. Error naming a variant that does not fit
// alone.
std::vector<std::vector<size_t>> plan_passes(std::span<const DeviceNeed> needs, uint64_t budget);

// Where a run's variants go. mode: the reference mode asked for, with "auto" already resolved
// against the host's memory (cli/memory.h) as `host_mode`; the GPU's plan may turn it to top-k.
struct Placement {
    std::string mode;                         // dense, top-k or llama-logits-file, as the run goes
    bool turned_to_top_k = false;             // auto mode's dense did not fit the GPU
    std::vector<std::vector<size_t>> passes;  // indices into the variants, pass by pass
    std::vector<uint64_t> need;               // GPU bytes estimated per variant (0 on the CPU)
    uint64_t total = 0;                       // estimated for the reference and every variant
    bool free_after_pass = false;             // free each pass's variants after it
};

// All variants in one pass on the CPU (gpu false), or where the reference and every variant fit the
// GPU's `budget` together (dense). Otherwise auto mode turns to top-k and the variants run in passes
// (plan_passes); dense mode asked for explicitly is an Error saying the figures. Each pass is freed
// after it when there are several, and on a GPU in top-k mode (the next text's reference was never
// planned to sit beside the variants).
Placement place_variants(std::span<const DeviceNeed> variants, uint64_t reference_need, bool gpu, uint64_t budget,
                         const std::string& requested_mode, const std::string& host_mode);

// The GPU memory a run plans with: --gpu-memory GIB when given (UsageError for a value that is not a
// positive number), else what the device has free now less a margin (5 %, at least 1 GiB). 0 for
// the CPU.
uint64_t device_budget(const Args& args, Backend backend);

// "12.3 GiB", for messages.
std::string gib(uint64_t bytes);

}  // namespace shootout::cli
