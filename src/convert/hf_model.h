// A Hugging Face model directory (config.json, tokenizer.json, tokenizer_config.json, safetensors)
// seen as the GGUF that llama.cpp's convert_hf_to_gguf.py would write from it: the same metadata keys,
// values and order, the same tensor names, shapes, types and bytes. Architectures: llama, qwen2,
// qwen3, qwen3moe, qwen3next (the converter's LlamaModel, Qwen2Model, Qwen3Model, Qwen3MoeModel,
// Qwen3NextModel). Tensors whose bytes equal the checkpoint's are views into the mapped shards;
// the others (F32 norms from BF16, stacked experts, Q/K permutation, -exp(A_log), ...) are converted
// when the model is opened.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "convert/safetensors.h"
#include "gguf/gguf.h"

namespace shootout::convert {

// --outtype of convert_hf_to_gguf.py; Auto is its default (BF16 or F16 from the first 2-D tensor).
enum class OutType { Auto, F32, F16, BF16, Q8_0 };
OutType parse_outtype(const std::string& name);  // "auto", "f32", "f16", "bf16", "q8_0"; Error otherwise

// One output tensor: either a view of checkpoint bytes (raw) or a producer of its F32 values, which
// are then stored in `type` (F32/F16/BF16 conversion or Q8_0 quantization, as gguf-py does).
struct PlannedTensor {
    std::string name;
    std::vector<int64_t> shape;  // ggml order (shape[0] contiguous)
    quant::TypeId type = quant::TypeId::F32;
    const uint8_t* raw = nullptr;  // when set: the output bytes as they are in the checkpoint
    std::function<void(float* dst)> values;

    int64_t n_elements() const;
    size_t size_bytes() const;
    void fill(uint8_t* dst) const;  // the output bytes
};

struct ConvertedModel {
    std::string dir;
    std::string architecture;  // GGUF name: "qwen3moe", ...
    std::vector<std::pair<std::string, gguf::Value>> metadata;
    std::vector<PlannedTensor> tensors;
    std::vector<std::string> notes;  // where we decided differently from, or beyond, the converter
    std::shared_ptr<Checkpoint> checkpoint;
};

// True for a directory holding config.json (what `--model DIR` takes as a Hugging Face model).
bool is_hf_model_dir(const std::string& path);

// Reads the directory and plans the conversion. Throws Error naming the file, key or tensor at
// fault (unknown architecture, unrecognized pre-tokenizer, missing tensors, unsupported dtype).
ConvertedModel plan_conversion(const std::string& dir, OutType outtype = OutType::Auto);

// The model as an in-memory gguf::File (converted tensors materialized, the rest zero-copy), in the
// types `convert --outtype` would write.
std::unique_ptr<gguf::File> open_hf_model(const std::string& dir, OutType outtype = OutType::Auto);

// Writes the GGUF file (streaming one tensor at a time).
void write_gguf(const ConvertedModel& model, const std::string& path);

// What the CLI calls wherever it takes --model: a GGUF file, or a Hugging Face model directory.
std::unique_ptr<gguf::File> open_model_file(const std::string& path);

// --- pieces, exposed for tests ---
struct HfVocab {
    std::vector<std::pair<std::string, gguf::Value>> metadata;  // tokenizer.ggml.* in converter order
    std::string pre;          // tokenizer.ggml.pre
    std::string chkhsh;       // sha256 of str(ids of chktxt), as convert_hf_to_gguf.py computes it
    bool pre_from_hash = false;  // false: the hash is unknown to llama.cpp and the pre-tokenizer was
                                 // recognized from tokenizer.json's pre_tokenizer section instead
};
HfVocab read_hf_vocab(const std::string& dir, int64_t vocab_size);

// gguf-py's size_label(): "8x5.8M", "34M", ...
std::string size_label(int64_t total_params, int64_t shared_params, int64_t expert_params, int64_t expert_count);
// gguf-py's Metadata.id_to_title / the directory-name heuristic for general.name.
std::string id_to_title(const std::string& id);

}  // namespace shootout::convert
