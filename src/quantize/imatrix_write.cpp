// llama.cpp's GGUF imatrix writer (tools/imatrix save_imatrix): metadata, then per entry the raw sums
// and counts as F32 tensors, entries in name order.
#include <cstring>

#include "gguf/gguf.h"
#include "quantize/imatrix_collect.h"
#include "util/error.h"

namespace shootout::quantize {

void save_imatrix_gguf(const ImatrixSums& sums, const std::string& path) {
    if (sums.entries.empty()) fail(path, "no importance data collected (no matmul of a blk.* weight with >= 16 rows)");
    gguf::Writer writer;
    writer.set("general.type", gguf::Value::make_string("imatrix"));
    std::vector<gguf::Value> datasets;
    for (const std::string& d : sums.datasets) datasets.push_back(gguf::Value::make_string(d));
    writer.set("imatrix.datasets", gguf::Value::make_array(gguf::ValueType::STRING, std::move(datasets)));
    writer.set("imatrix.chunk_count", gguf::Value::make_uint(gguf::ValueType::UINT32, (uint64_t)sums.chunk_count()));
    writer.set("imatrix.chunk_size", gguf::Value::make_uint(gguf::ValueType::UINT32, (uint64_t)sums.chunk_size));
    for (const auto& [name, e] : sums.entries) {
        const int64_t n_mat = (int64_t)e.counts.size();
        if (n_mat == 0 || e.in_sum2.size() % (size_t)n_mat != 0) fail(path, "imatrix entry '" + name + "' has bad counts");
        const int64_t n_in = (int64_t)e.in_sum2.size() / n_mat;
        const ImatrixSums::Entry* entry = &e;
        writer.add_tensor(name + ".in_sum2", {n_in, n_mat}, quant::TypeId::F32, [entry](uint8_t* dst, size_t size_bytes) {
            std::memcpy(dst, entry->in_sum2.data(), size_bytes);
        });
        writer.add_tensor(name + ".counts", {1, n_mat}, quant::TypeId::F32, [entry](uint8_t* dst, size_t size_bytes) {
            // llama.cpp stores the int64 counts as floats.
            for (size_t j = 0; j < size_bytes / 4; ++j) {
                const float c = (float)entry->counts[j];
                std::memcpy(dst + 4 * j, &c, 4);
            }
        });
    }
    writer.write(path);
}

}  // namespace shootout::quantize
