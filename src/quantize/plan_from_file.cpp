// The plan's inputs read from a GGUF file (kept apart from plan.cpp so that the rules need no reader).
#include "gguf/gguf.h"
#include "quantize/plan.h"
#include "util/error.h"

namespace shootout::quantize {

namespace {

// A head count may be stored per layer (an array); llama-quantize's n_gqa() looks at layer 0.
int first_value(const gguf::Value& value) {
    if (value.type() == gguf::ValueType::ARRAY) {
        const auto& elements = value.as_array();
        return elements.empty() ? 0 : static_cast<int>(elements[0].as_uint());
    }
    return static_cast<int>(value.as_uint());
}

}  // namespace

ModelFacts model_facts(const gguf::File& file) {
    ModelFacts facts;
    facts.architecture = file.architecture();
    const std::string& arch = facts.architecture;
    facts.n_layer = static_cast<int>(file.get(arch + ".block_count").as_uint());
    if (const gguf::Value* v = file.find(arch + ".attention.head_count")) facts.n_head = first_value(*v);
    facts.n_head_kv = facts.n_head;
    if (const gguf::Value* v = file.find(arch + ".attention.head_count_kv")) facts.n_head_kv = first_value(*v);
    facts.n_expert = static_cast<int>(file.get_uint(arch + ".expert_count", 0));
    return facts;
}

std::vector<TensorDesc> tensor_descs(const gguf::File& file) {
    std::vector<TensorDesc> descs;
    descs.reserve(file.tensors().size());
    for (const auto& t : file.tensors()) descs.push_back({t.name, t.shape, t.type});
    return descs;
}

Plan make_plan(const gguf::File& file, const Recipe& recipe, bool has_imatrix) {
    return make_plan(model_facts(file), tensor_descs(file), recipe, has_imatrix);
}

}  // namespace shootout::quantize
