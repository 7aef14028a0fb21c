#include "cli/device_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "gguf/gguf.h"
#include "quant/type_table.h"
#include "util/error.h"

namespace shootout::cli {

uint64_t device_bytes_estimate(const gguf::File& file, int64_t n_ctx, int64_t tile_rows) {
    const bool tied = file.find_tensor("output.weight") == nullptr;
    uint64_t weights = 0, workspace = 0;
    int64_t n_vocab = 0;
    const int64_t n_rows_at_once = std::max(n_ctx, tile_rows);
    for (const gguf::TensorInfo& t : file.tensors()) {
        if (t.name == "token_embd.weight") {
            n_vocab = std::max<int64_t>(n_vocab, t.n_rows());
            if (!tied) continue;
        }
        if (t.name == "output.weight") n_vocab = std::max<int64_t>(n_vocab, t.n_rows());
        weights += t.size_bytes;
        // A prompt's product (backend/cuda gemm_dequant) takes a workspace of the matrix as F16
        // (quantized types; F16/BF16 are read in place, F32 takes another path) and of the rows'
        // activations as F16: the largest matrix sets it. Expert stacks (3-D) take the MoE GEMMs.
        if (t.shape.size() == 2 && t.type != quant::TypeId::F32) {
            const bool in_place = t.type == quant::TypeId::F16 || t.type == quant::TypeId::BF16;
            const uint64_t matrix = in_place ? 0 : (uint64_t)t.n_elements() * 2;
            const uint64_t bytes = matrix + (uint64_t)(n_rows_at_once * t.shape[0]) * 2;
            workspace = std::max(workspace, bytes);
        }
    }
    // Device rows are padded to 16 bytes and some types regrouped (backend/cuda/weight_layout.h): a
    // few bytes a row at most.
    weights += weights / 100;
    const std::string arch = file.get_string("general.architecture", "");
    auto key = [&](const char* name) { return (int64_t)file.get_uint(arch + "." + name, 0); };
    const int64_t n_layer = key("block_count"), n_embd = key("embedding_length");
    const int64_t n_head = key("attention.head_count"), n_head_kv = key("attention.head_count_kv");
    const int64_t head_dim = key("attention.key_length") > 0 ? key("attention.key_length")
                             : n_head > 0                   ? n_embd / n_head
                                                            : 0;
    // The widest FFN row a token takes: dense, or the routed experts' and the shared expert's together.
    const int64_t n_ff = std::max(key("feed_forward_length"),
                                  key("expert_used_count") * key("expert_feed_forward_length") +
                                      key("expert_shared_feed_forward_length"));
    const uint64_t kv = (uint64_t)(n_layer * n_ctx * n_head_kv * head_dim) * 2 * 2;  // K and V in F16
    // Per token: the residual and its normed copy, Q/K/V, the attention output, gate/up/hidden, and
    // their 8-bit forms: counted as floats, twice over.
    const uint64_t activations =
        (uint64_t)n_ctx * (uint64_t)(8 * std::max(n_embd, n_head * head_dim) + 4 * n_ff) * sizeof(float) * 2;
    const uint64_t logits = (uint64_t)(2 * tile_rows * n_vocab) * sizeof(float);  // two tiles (overlap)
    const uint64_t fixed = uint64_t(768) << 20;  // workspaces, cuBLAS, step graphs
    return weights + workspace + kv + activations + logits + fixed;
}

void check_fits(const std::string& name, uint64_t need, uint64_t budget, const std::string& way_out) {
    if (need > budget)
        fail(name, "needs about " + gib(need) + " of GPU memory, more than the " + gib(budget) +
                       " the run plans with (--gpu-memory): " + way_out);
}

std::vector<std::vector<size_t>> plan_passes(std::span<const DeviceNeed> needs, uint64_t budget) {
    std::vector<std::vector<size_t>> passes;
    uint64_t used = 0;
    for (size_t i = 0; i < needs.size(); ++i) {
        check_fits(needs[i].name, needs[i].bytes, budget, "it cannot run on this GPU");
        if (passes.empty() || used + needs[i].bytes > budget) {
            passes.emplace_back();
            used = 0;
        }
        passes.back().push_back(i);
        used += needs[i].bytes;
    }
    return passes;
}

Placement place_variants(std::span<const DeviceNeed> variants, uint64_t reference_need, bool gpu, uint64_t budget,
                         const std::string& requested_mode, const std::string& host_mode) {
    Placement placement;
    placement.total = reference_need;
    for (const DeviceNeed& v : variants) {
        placement.need.push_back(v.bytes);
        placement.total += v.bytes;
    }
    const bool fits = !gpu || placement.total <= budget;
    placement.mode = requested_mode == "auto" ? host_mode : requested_mode;
    if (requested_mode == "auto" && placement.mode == "dense" && !fits) {
        placement.mode = "top-k";
        placement.turned_to_top_k = true;
    }
    if (placement.mode == "dense" && !fits)
        fail("--reference-mode dense", "needs the reference and every variant in GPU memory at once, about " +
                                           gib(placement.total) + ", more than the " + gib(budget) +
                                           " the run plans with (--gpu-memory): use --reference-mode auto or top-k");
    if (gpu && placement.mode != "dense") {
        placement.passes = plan_passes(variants, budget);
    } else {
        placement.passes.emplace_back();
        for (size_t v = 0; v < variants.size(); ++v) placement.passes.back().push_back(v);
    }
    placement.free_after_pass = placement.passes.size() > 1 || (gpu && placement.mode == "top-k");
    return placement;
}

uint64_t device_budget(const Args& args, Backend backend) {
    if (args.has("gpu-memory")) {
        const std::string text = args.get("gpu-memory", "");
        double value = 0;
        size_t used = 0;
        try {
            value = std::stod(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != text.size() || !std::isfinite(value) || value <= 0)
            throw UsageError("--gpu-memory must be a positive number of GiB, got '" + text + "'");
        if (backend != Backend::Cuda) throw UsageError("--gpu-memory applies to --backend cuda only");
        return (uint64_t)(value * 1073741824.0);
    }
    if (backend != Backend::Cuda) return 0;
    const uint64_t free_bytes = device_memory(backend).free;
    const uint64_t margin = std::max<uint64_t>(free_bytes / 20, uint64_t(1) << 30);
    return free_bytes > margin ? free_bytes - margin : 0;
}

std::string gib(uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f GiB", (double)bytes / 1073741824.0);
    return text;
}

}  // namespace shootout::cli
