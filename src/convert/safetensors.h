// Safetensors checkpoints as the Hugging Face hub lays them out: one model.safetensors or shards
// named by model.safetensors.index.json (or model-*.safetensors). Files are memory-mapped; a tensor is
// a view into its shard. Every header offset is checked against the file, so a truncated or hostile
// file gives an Error naming it, not a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/mapped_file.h"

namespace shootout::convert {

enum class StDtype { F32, F16, BF16, Other };

struct StTensor {
    std::string name;
    std::string dtype_name;      // as stored ("BF16", "F32", "I64", ...)
    StDtype dtype = StDtype::Other;
    std::vector<int64_t> shape;  // PyTorch order: shape.back() is the contiguous dimension
    const uint8_t* data = nullptr;
    size_t size_bytes = 0;
    std::string file;            // the shard it lives in

    int64_t n_elements() const;
    // Element i widened to float (F32, F16, BF16); Error naming the tensor for other dtypes.
    void to_float(float* dst) const;
};

class Checkpoint {
public:
    // The tensors of a model directory in the order llama.cpp's converter visits them: shards in
    // sorted file-name order, tensors of each shard sorted by name. Throws Error when the directory
    // has no safetensors, a shard listed by the index is missing, or a header is malformed.
    static std::unique_ptr<Checkpoint> open(const std::string& dir);

    const std::vector<StTensor>& tensors() const { return tensors_; }
    const StTensor* find(const std::string& name) const;
    size_t total_file_bytes() const;

private:
    std::vector<std::unique_ptr<MappedFile>> files_;
    std::vector<StTensor> tensors_;
};

// Parses one mapped safetensors file; appends its tensors sorted by name.
void parse_safetensors(const MappedFile& file, std::vector<StTensor>& out);

}  // namespace shootout::convert
