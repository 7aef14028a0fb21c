// A recipe: a llama-quantize mixture (Q4_K_M, IQ2_XS, ...) plus the command-line adjustments that
// llama-quantize offers on top of it (--tensor-type, --pure, --output-tensor-type, ...).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quant/type_table.h"
#include "quantize/file_type.h"

namespace shootout::quantize {

// --tensor-type PATTERN=TYPE: tensors whose name the regex PATTERN finds (std::regex_search, ECMAScript,
// as llama-quantize) get TYPE; the first matching override wins. Like llama-quantize, overrides act
// only on mixtures of quantized types (not F32/F16/BF16) and the ncols fallback still applies.
struct TensorTypeOverride {
    std::string pattern;   // lower-cased, as llama-quantize stores it
    quant::TypeId type;
};

struct Recipe {
    FileType file_type = FileType::Q8_0;
    std::vector<TensorTypeOverride> tensor_types;
    bool pure = false;                                   // --pure: base type for every tensor
    std::optional<quant::TypeId> output_type;            // --output-tensor-type
    std::optional<quant::TypeId> token_embedding_type;   // --token-embedding-type
    bool leave_output_tensor = false;                    // --leave-output-tensor

    // The recipe as llama-quantize flags, e.g. "Q4_K_M --tensor-type attn_v=q8_0 --pure".
    std::string describe() const;
};

// A recipe for a mixture name (case-insensitive, llama-quantize's names and aliases).
Recipe recipe_named(std::string_view name);
// Parses "PATTERN=TYPE" (TYPE a ggml type name, any case); throws Error naming the spec when malformed.
TensorTypeOverride parse_tensor_type_override(std::string_view spec);
// A ggml type name (any case) to its id; throws Error naming `what` (e.g. "--output-tensor-type").
quant::TypeId parse_type_name(std::string_view name, const std::string& what);

}  // namespace shootout::quantize
