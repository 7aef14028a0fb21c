// gguf::File::assemble: a File whose metadata and tensor infos were built in memory (src/convert
// builds one from a Hugging Face checkpoint) so every loader that takes a File reads it unchanged.
#include <unordered_set>

#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::gguf {

std::unique_ptr<File> File::assemble(std::string path, std::vector<std::pair<std::string, Value>> metadata,
                                     std::vector<TensorInfo> tensors, size_t size_bytes,
                                     std::shared_ptr<const void> owner) {
    auto file = std::unique_ptr<File>(new File());
    file->path_ = std::move(path);
    file->owner_ = std::move(owner);
    file->size_bytes_ = size_bytes;
    file->data_offset_ = 0;
    constexpr size_t kAlignment = 32;
    std::unordered_set<std::string> names;
    uint64_t offset = 0;
    for (TensorInfo& t : tensors) {
        if (!names.insert(t.name).second) fail(file->path_, "duplicate tensor '" + t.name + "'");
        if (!t.data) fail(file->path_, "tensor '" + t.name + "' has no data");
        const quant::TypeTraits& traits = quant::traits(t.type);
        const int64_t row = t.shape.empty() ? 1 : t.shape[0];
        if (row % traits.block_size != 0 ||
            t.size_bytes != size_t(t.n_elements() / traits.block_size) * traits.bytes_per_block)
            fail(file->path_, "tensor '" + t.name + "': size does not match its shape and type");
        t.offset = offset;
        offset += (t.size_bytes + kAlignment - 1) / kAlignment * kAlignment;
    }
    file->metadata_ = std::move(metadata);
    file->tensors_ = std::move(tensors);
    return file;
}

}  // namespace shootout::gguf
