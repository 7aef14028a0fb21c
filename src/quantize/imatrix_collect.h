// Collecting an importance matrix the way llama-imatrix does: per weight matrix, per input column,
// the sum of x^2 over every token row that entered a matmul with it, with the number of rows
// (counts). The collector is a backend::ActivationObserver; the caller runs the model over the
// calibration chunks with it installed (cli/command_imatrix.cpp). Writers for llama.cpp's GGUF form
// (imatrix_write.cpp) and, through ImportanceMatrix, the legacy .dat.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend/ops.h"
#include "quantize/imatrix.h"

namespace shootout::quantize {

// The raw sums as llama-imatrix keeps and stores them (GGUF <name>.in_sum2 / <name>.counts).
struct ImatrixSums {
    struct Entry {
        std::vector<float> in_sum2;   // n_mat slices of n_in values (n_mat 1 for a dense matrix)
        std::vector<int64_t> counts;  // rows seen, one per slice
    };
    std::map<std::string, Entry> entries;  // by weight tensor name, sorted (llama.cpp sorts on save)
    std::vector<std::string> datasets;     // imatrix.datasets
    int64_t chunk_size = 0;                // imatrix.chunk_size: tokens per chunk
    // imatrix.chunk_count: the largest count over chunk_size (llama-imatrix's m_last_chunk).
    int64_t chunk_count() const;

    // Means (in_sum2 / count per slice) in the form the quantizers and the legacy writer take.
    ImportanceMatrix to_importance_matrix() const;
    // The legacy .dat's ncall for the whole matrix: ceil(largest count / chunk_size). (The writer
    // below uses each entry's own largest count, as llama-imatrix does.)
    int legacy_ncall() const;
};

struct ImatrixCollectOptions {
    int64_t chunk_size = 512;
    // llama-imatrix skips matmuls of fewer than 16 rows and every weight outside "blk." unless
    // --process-output (then output.weight too).
    int64_t min_rows = 16;
    bool process_output = false;
};

class ImatrixCollector {
public:
    explicit ImatrixCollector(ImatrixCollectOptions options = {});

    // The observer to install on the model (it refers to this collector, which must outlive it).
    backend::ActivationObserver observer();
    // One matmul's input: n_rows rows of w.n_in floats. For a routed expert (expert.index >= 0) the
    // rows add into that expert's slice of the stack's entry (n_expert slices, one count each), as
    // llama-imatrix's MUL_MAT_ID branch does, and are taken whatever their number. Throws Error naming
    // the tensor when its shape changes between calls or a sum stops being finite (llama-imatrix
    // aborts there too).
    void observe(const backend::Weight& w, const float* x, int64_t n_rows, backend::ExpertOf expert = {});

    // Whether llama-imatrix would collect a matmul of this weight over n_rows rows.
    bool wants(const std::string& weight_name, int64_t n_rows) const;

    const ImatrixSums& sums() const { return sums_; }
    ImatrixSums& sums() { return sums_; }

private:
    ImatrixCollectOptions options_;
    ImatrixSums sums_;
};

// Writes llama.cpp's GGUF imatrix (general.type "imatrix", imatrix.datasets / chunk_count /
// chunk_size, per entry <name>.in_sum2 F32 {n_in, n_mat} and <name>.counts F32 {1, n_mat}, trailing
// dimensions of 1 dropped as ggml writes them), tensors in name order as llama-imatrix writes them.
// load_imatrix reads it back.
void save_imatrix_gguf(const ImatrixSums& sums, const std::string& path);

// Writes llama-imatrix's legacy .dat (--output-format dat) as it does: per entry, ncall =
// ceil(entry's largest count / chunk_size) and the values (sum / count of their slice) * ncall, a
// slice that saw no token stored as 1 * ncall; entries with no count at all left out; then the chunk
// count and the first dataset name.
void save_imatrix_legacy(const ImatrixSums& sums, const std::string& path);

}  // namespace shootout::quantize
