// llama.cpp's importance matrix (llama-imatrix output), read into what the importance-weighted
// quantizers take: per weight tensor, one value per input column, per expert slice (ne0 x n_expert).
// Both forms llama-quantize reads: GGUF (<name>.in_sum2 / <name>.counts, the default since mid-2025)
// and the legacy .dat.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace shootout::quantize {

struct ImportanceMatrix {
    std::string path;
    // Weight tensor name -> mean of x^2 per column (in_sum2 / count per expert slice, as llama-quantize
    // normalises it; 1 where an expert saw no token).
    std::map<std::string, std::vector<float>> entries;
    std::vector<std::string> datasets;   // imatrix.datasets (legacy: the trailer's dataset name)
    int chunk_count = 0;                 // imatrix.chunk_count (legacy: the trailer's chunk count)
    int chunk_size = 0;                  // imatrix.chunk_size (0 for legacy files)
    bool legacy = false;

    const std::vector<float>* find(const std::string& tensor_name) const {
        auto it = entries.find(tensor_name);
        return it == entries.end() ? nullptr : &it->second;
    }
};

// Reads either form (a GGUF magic selects the GGUF reader). Throws Error naming the path and the
// entry at fault: mismatched sums/counts, missing GGUF metadata, truncation, non-finite values.
ImportanceMatrix load_imatrix(const std::string& path);

// Writes the legacy .dat form (for tests and for tools that still want it): per entry the mean
// values times `ncall`, as llama-imatrix stored them.
void save_imatrix_legacy(const ImportanceMatrix& imatrix, int ncall, const std::string& path);

}  // namespace shootout::quantize
