// A language model ready to run: loaded from a GGUF (weights stay in the mapped file, quantized),
// architecture picked from general.architecture. The evaluator sees only this interface.
//
// Evaluation is split in two steps so that the evaluator can reduce logits position by position:
// hidden() runs the transformer over a whole chunk (memory O(n_tokens * n_embd)), and logits() turns a
// few rows of final hidden states into logits (memory O(rows * n_vocab)). Comparing a reference and a
// variant then never needs a [ctx x vocab] matrix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "util/error.h"

namespace shootout {
class ThreadPool;
namespace gguf {
class File;
}
namespace backend {
class Buffer;
}

struct ModelInfo {
    std::string architecture;  // "llama", "qwen2", "qwen3", ...
    std::string name;          // general.name, or the file name
    int64_t n_params = 0;      // elements of all weight tensors
    int64_t n_layers = 0;
    int64_t n_embd = 0;
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    uint64_t weight_bytes = 0;  // bytes of tensor data
};

// Where the forward pass runs. Cuda needs a build with SHOOTOUT_CUDA (model_backend.cpp).
enum class Backend { Cpu, Cuda };

// Throws Error saying why when `backend` cannot run in this process: a build without CUDA, or no GPU
// answering. Commands call it while reading their options, before long work such as quantizing the
// variants of a run, which would otherwise be done only to fail at the first model load.
void require_backend(Backend backend);
// The device memory `backend` uploads weights to (the GPU's), in bytes: free now and in all; zeros
// for the CPU, which reads them from the files' mappings.
struct DeviceMemory {
    uint64_t free = 0, total = 0;
};
DeviceMemory device_memory(Backend backend);

class Model {
public:
    // Throws Error naming the file for an unknown architecture, a missing tensor, a tensor of the
    // wrong shape or a type the CPU cannot run. The File must outlive the Model.
    static std::unique_ptr<Model> load(const gguf::File& file, ThreadPool& pool);
    // The same on a chosen backend. Cuda: Error when the build has no CUDA backend, the architecture
    // has no CUDA path, or a weight's type has no CUDA kernel (weights are uploaded here, once).
    static std::unique_ptr<Model> load(const gguf::File& file, ThreadPool& pool, Backend backend);
    virtual ~Model() = default;

    virtual const ModelInfo& info() const = 0;

    // Runs tokens as one sequence from position 0 (a fresh KV cache) and returns the final hidden
    // states after the output norm: n_tokens rows of n_embd floats.
    virtual std::vector<float> hidden(std::span<const int32_t> tokens) = 0;

    // logits[r * n_vocab + v] for n_rows rows of final hidden states (each n_embd floats).
    virtual void logits(const float* hidden_rows, int64_t n_rows, float* logits_out) = 0;

    // logits() in two halves, for a caller with CPU work to overlap (the shootout compares one
    // variant's tile while the GPU computes and copies the next one's): logits_start() may return
    // before logits_out holds the result, logits_finish() returns once it does. hidden_rows may be
    // reused when logits_start() returns; one request at a time per model. logits_overlap() says
    // whether start returns early (a GPU); the default does everything in start.
    virtual void logits_start(const float* hidden_rows, int64_t n_rows, float* logits_out) {
        logits(hidden_rows, n_rows, logits_out);
    }
    virtual void logits_finish() {}
    virtual bool logits_overlap() const { return false; }

    // Incremental decoding (speed benchmarks, generation): start_sequence() makes a fresh KV cache for
    // up to n_ctx positions; each decode() then runs its tokens after all earlier ones of the sequence
    // and writes the logits of its last token (n_vocab floats). hidden() ends the sequence.
    virtual void start_sequence(int64_t /*n_ctx*/) { fail(info().name, "incremental decoding is not supported"); }
    virtual void decode(std::span<const int32_t> /*tokens*/, float* /*last_logits*/) {
        fail(info().name, "incremental decoding is not supported");
    }

    // Host memory of n_floats for the logits that logits() and decode() write again and again: the
    // backend copies into it fastest (page-locked on a GPU). Any float memory works; this is quicker.
    virtual std::unique_ptr<backend::Buffer> host_buffer(size_t n_floats);
};

}  // namespace shootout
