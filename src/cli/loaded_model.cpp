#include "cli/loaded_model.h"

#include <filesystem>

#include "backend/device_memory.h"
#include "convert/hf_model.h"
namespace shootout::cli {

report::ModelColumn LoadedModel::column() const {
    report::ModelColumn column;
    column.name = name;
    column.path = file->path();
    column.file_bytes = file->size_bytes();
    // From the file's tensors, so a reference that is never loaded (a llama.cpp base file stands in
    // for it) still gets its size and bits per weight.
    for (const auto& tensor : file->tensors()) {
        column.weight_bytes += tensor.size_bytes;
        column.n_params += tensor.n_elements();
    }
    return column;
}

LoadedModel open_model(const std::string& path, const std::string& name) {
    LoadedModel loaded;
    loaded.name = name.empty() ? display_name(path) : name;
    loaded.file = convert::open_model_file(path);  // a GGUF or a Hugging Face directory
    return loaded;
}

void load_model(LoadedModel& loaded, ThreadPool& pool, Backend backend) {
    if (loaded.model) return;
    try {
        loaded.model = Model::load(*loaded.file, pool, backend);
    } catch (const backend::OutOfDeviceMemory& e) {
        // The allocation alone does not say whose weights they were.
        throw backend::OutOfDeviceMemory(loaded.name + ": the GPU ran out of memory loading it (" + e.what() + ")");
    }
}

Backend backend_option(const Args& args) {
    const std::string name = args.get("backend", "cpu");
    if (name == "cpu") return Backend::Cpu;
    if (name != "cuda") throw UsageError("--backend must be cpu or cuda, got '" + name + "'");
    require_backend(Backend::Cuda);  // no CUDA in the build, or no GPU: said now, not after the variants are made
    return Backend::Cuda;
}

std::string backend_name(Backend backend) { return backend == Backend::Cuda ? "CUDA" : "CPU"; }

std::string display_name(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace shootout::cli
