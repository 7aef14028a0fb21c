#include "cli/loaded_model.h"

#include <filesystem>

namespace shootout::cli {

report::ModelColumn LoadedModel::column() const {
    report::ModelColumn column;
    column.name = name;
    column.path = file->path();
    column.file_bytes = file->size_bytes();
    if (model) {
        column.weight_bytes = model->info().weight_bytes;
        column.n_params = model->info().n_params;
    }
    return column;
}

LoadedModel open_model(const std::string& path, const std::string& name) {
    LoadedModel loaded;
    loaded.name = name.empty() ? display_name(path) : name;
    loaded.file = gguf::File::open(path);
    return loaded;
}

void load_model(LoadedModel& loaded, ThreadPool& pool) {
    if (!loaded.model) loaded.model = Model::load(*loaded.file, pool);
}

std::string display_name(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace shootout::cli
