// gguf-py's Metadata.get_model_id_components: general.* naming fields guessed from a model id such as
// "Qwen/Qwen3-Coder-30B-A3B-Instruct" (the config's _name_or_path, or the directory name).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace shootout::convert {

struct ModelIdParts {
    std::optional<std::string> full_name, organization, basename, finetune, version, size_label;
};

ModelIdParts model_id_components(const std::string& model_id, int64_t total_params);

}  // namespace shootout::convert
