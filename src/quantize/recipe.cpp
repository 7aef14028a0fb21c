#include "quantize/recipe.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"

namespace shootout::quantize {

std::string Recipe::describe() const {
    std::string text = file_type_info(file_type).name;
    for (const auto& o : tensor_types) {
        text += " --tensor-type " + o.pattern + "=" + quant::traits(o.type).name;
    }
    if (pure) text += " --pure";
    if (output_type) text += std::string(" --output-tensor-type ") + quant::traits(*output_type).name;
    if (token_embedding_type) {
        text += std::string(" --token-embedding-type ") + quant::traits(*token_embedding_type).name;
    }
    if (leave_output_tensor) text += " --leave-output-tensor";
    return text;
}

Recipe recipe_named(std::string_view name) {
    Recipe recipe;
    recipe.file_type = find_file_type(name).id;
    return recipe;
}

quant::TypeId parse_type_name(std::string_view name, const std::string& what) {
    const quant::TypeTraits* type = quant::find_type_by_name(name);
    if (type == nullptr) fail(what, "unknown tensor type '" + std::string(name) + "'");
    return type->id;
}

TensorTypeOverride parse_tensor_type_override(std::string_view spec) {
    const size_t equals = spec.find('=');
    const std::string where = "--tensor-type " + std::string(spec);
    if (equals == std::string_view::npos) fail(where, "expected PATTERN=TYPE");
    if (equals == 0) fail(where, "missing tensor name pattern");
    if (equals + 1 == spec.size()) fail(where, "missing tensor type");
    TensorTypeOverride result;
    result.pattern = std::string(spec.substr(0, equals));
    // llama-quantize lower-cases the pattern (tensor names are lower case).
    std::transform(result.pattern.begin(), result.pattern.end(), result.pattern.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    result.type = parse_type_name(spec.substr(equals + 1), where);
    return result;
}

}  // namespace shootout::quantize
