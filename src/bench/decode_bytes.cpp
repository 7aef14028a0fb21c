// decode_weight_bytes (bench.h): the weight bytes one decode step reads, for the bandwidth figure
// issue 4 asks of decode (bytes of weights read per token / time).
#include "bench/bench.h"

#include <algorithm>
#include <string>

#include "gguf/gguf.h"

namespace shootout::bench {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

uint64_t decode_weight_bytes(const gguf::File& file) {
    const std::string arch = file.get_string("general.architecture", "");
    const uint64_t n_expert = file.get_uint(arch + ".expert_count", 0);
    const uint64_t n_used = file.get_uint(arch + ".expert_used_count", 0);
    const bool tied = file.find_tensor("output.weight") == nullptr;  // the output product reads token_embd
    // NextN (multi-token prediction) blocks after the main stack (model::Config::n_nextn_layers): a
    // decode step reads none of them.
    const uint64_t n_blocks = file.get_uint(arch + ".block_count", 0);
    const uint64_t n_nextn = file.get_uint(arch + ".nextn_predict_layers", 0);
    const int64_t first_nextn = n_nextn > 0 && n_nextn < n_blocks ? (int64_t)(n_blocks - n_nextn) : -1;
    long double bytes = 0;
    for (const gguf::TensorInfo& t : file.tensors()) {
        if (const int64_t b = gguf::block_index(t.name); first_nextn >= 0 && b >= first_nextn && b < (int64_t)n_blocks) continue;
        if (t.name == "token_embd.weight" && !tied) {
            bytes += (long double)t.size_bytes / (long double)std::max<int64_t>(t.n_rows(), 1);  // one row
        } else if (t.name.find("_exps.") != std::string::npos && n_expert > 0 && n_used > 0) {
            bytes += (long double)t.size_bytes * (long double)n_used / (long double)n_expert;  // routed experts
        } else if (ends_with(t.name, ".weight") || ends_with(t.name, ".bias")) {
            bytes += (long double)t.size_bytes;
        }
    }
    return (uint64_t)(bytes + 0.5L);
}

}  // namespace shootout::bench
