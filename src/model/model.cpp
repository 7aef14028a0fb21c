// Model::load: the table of supported architectures, keyed by general.architecture.
#include "model/model.h"

#include "backend/ops.h"
#include "gguf/gguf.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "util/error.h"

namespace shootout {

namespace {

struct Architecture {
    const char* name;
    std::unique_ptr<Model> (*make)(const gguf::File& file, ThreadPool& pool);
};

constexpr Architecture kArchitectures[] = {
    {"llama", model::make_llama},
    {"qwen2", model::make_qwen2},
    {"qwen3", model::make_qwen3},
    {"qwen3moe", model::make_qwen3moe},
    {"qwen3next", model::make_qwen3next},
};

}  // namespace

std::unique_ptr<backend::Buffer> Model::host_buffer(size_t n_floats) {
    return std::make_unique<backend::VectorBuffer>(n_floats);
}

std::unique_ptr<Model> Model::load(const gguf::File& file, ThreadPool& pool) {
    const std::string arch = file.architecture();
    std::string supported;
    for (const Architecture& a : kArchitectures) {
        if (arch == a.name) {
            const model::TensorClaims claims;
            std::unique_ptr<Model> m = a.make(file, pool);
            for (const gguf::TensorInfo& t : file.tensors())
                if (!claims.claimed(t.name))
                    fail(file.path(), "tensor '" + t.name + "' is not used by the " + arch +
                                          " architecture here (a variant this implementation does not run)");
            return m;
        }
        supported += (supported.empty() ? "" : ", ") + std::string(a.name);
    }
    fail(file.path(), "unknown architecture '" + arch + "' (supported: " + supported + ")");
}

}  // namespace shootout
