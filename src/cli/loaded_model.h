// A GGUF file together with the model built over it (the model reads weights from the file's mapping,
// so the two live and die together), and the report column that describes it.
#pragma once

#include <memory>
#include <string>

#include "cli/args.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "report/shootout_report.h"

namespace shootout::cli {

struct LoadedModel {
    std::string name;
    std::unique_ptr<gguf::File> file;
    std::unique_ptr<Model> model;  // null until load_model()

    report::ModelColumn column() const;
};

LoadedModel open_model(const std::string& path, const std::string& name);
void load_model(LoadedModel& loaded, ThreadPool& pool, Backend backend = Backend::Cpu);

// The --backend option: "cpu" (default) or "cuda". UsageError for another name; Error for cuda in a
// build without the CUDA backend, before any file is read.
Backend backend_option(const Args& args);
std::string backend_name(Backend backend);  // "CPU", "CUDA" (as llama-bench names backends)

// "Q4_K_M" for "/x/qwen3-Q4_K_M.gguf": the file name without directory and extension.
std::string display_name(const std::string& path);

}  // namespace shootout::cli
