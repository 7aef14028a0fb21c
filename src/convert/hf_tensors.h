// The tensor half of the conversion: Hugging Face tensor names to GGUF names, the per-architecture
// data changes of convert_hf_to_gguf.py, and its choice of output type per tensor.
#pragma once

#include <string>
#include <vector>

#include "convert/hf_model.h"
#include "convert/json.h"

namespace shootout::convert {

struct TensorPlanInput {
    const Checkpoint* checkpoint;
    const Json* config;        // config.json (text_config already merged in)
    std::string architecture;  // GGUF architecture name
    std::string hf_arch;       // architectures[0]
    OutType outtype;
};

// The resolved output type for Auto (the converter's heuristic on the first 2-D float tensor).
OutType resolve_outtype(const Checkpoint& checkpoint, OutType requested);

std::vector<PlannedTensor> plan_tensors(const TensorPlanInput& input, std::vector<std::string>& notes);

// HF "model.layers.3.self_attn.q_proj.weight" -> GGUF "blk.3.attn_q.weight" for the architecture;
// empty when the name has no mapping.
std::string map_tensor_name(const std::string& hf_name, const std::string& architecture);

}  // namespace shootout::convert
