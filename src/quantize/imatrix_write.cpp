// llama-imatrix's two writers (tools/imatrix save_imatrix, save_imatrix_legacy): GGUF metadata, then
// per entry the raw sums and counts as F32 tensors; or the legacy .dat of means times ncall. Entries
// in name order in both.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

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
        // ggml writes a tensor's dimensions up to the last one that is not 1: {n_in} and {1} for a
        // dense entry, {n_in, n_expert} and {1, n_expert} for routed experts.
        const std::vector<int64_t> sums_shape = n_mat == 1 ? std::vector<int64_t>{n_in} : std::vector<int64_t>{n_in, n_mat};
        const std::vector<int64_t> counts_shape = n_mat == 1 ? std::vector<int64_t>{1} : std::vector<int64_t>{1, n_mat};
        writer.add_tensor(name + ".in_sum2", sums_shape, quant::TypeId::F32, [entry](uint8_t* dst, size_t size_bytes) {
            std::memcpy(dst, entry->in_sum2.data(), size_bytes);
        });
        writer.add_tensor(name + ".counts", counts_shape, quant::TypeId::F32, [entry](uint8_t* dst, size_t size_bytes) {
            // llama.cpp stores the int64 counts as floats.
            for (size_t j = 0; j < size_bytes / 4; ++j) {
                const float c = (float)entry->counts[j];
                std::memcpy(dst + 4 * j, &c, 4);
            }
        });
    }
    writer.write(path);
}

void save_imatrix_legacy(const ImatrixSums& sums, const std::string& path) {
    if (sums.chunk_size <= 0) fail(path, "imatrix: chunk size unknown");
    std::vector<const std::pair<const std::string, ImatrixSums::Entry>*> stored;
    for (const auto& kv : sums.entries) {
        if (std::any_of(kv.second.counts.begin(), kv.second.counts.end(), [](int64_t c) { return c != 0; }))
            stored.push_back(&kv);
    }
    if (stored.empty()) fail(path, "no importance data collected (no matmul of a blk.* weight with >= 16 rows)");
    const std::string tmp_path = path + ".tmp";
    {
        std::ofstream out(tmp_path, std::ios::binary);
        if (!out) fail(tmp_path, "cannot create");
        auto i32 = [&](int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
        i32((int32_t)stored.size());
        for (const auto* kv : stored) {
            const auto& [name, e] = *kv;
            const size_t n_mat = e.counts.size(), n_in = e.in_sum2.size() / n_mat;
            const int64_t max_count = *std::max_element(e.counts.begin(), e.counts.end());
            const int32_t ncall = (int32_t)((max_count + sums.chunk_size - 1) / sums.chunk_size);
            i32((int32_t)name.size());
            out.write(name.data(), (std::streamsize)name.size());
            i32(ncall);
            i32((int32_t)e.in_sum2.size());
            std::vector<float> values(e.in_sum2.size());
            for (size_t i = 0; i < values.size(); ++i) {
                // In float as llama-imatrix computes them; an expert that saw no token stores 1.
                float count = (float)e.counts[i / n_in], value = e.in_sum2[i];
                if (count == 0.0f) value = count = 1.0f;
                values[i] = (value / count) * (float)ncall;
            }
            out.write(reinterpret_cast<const char*>(values.data()), (std::streamsize)(values.size() * 4));
        }
        i32((int32_t)sums.chunk_count());
        const std::string dataset = sums.datasets.empty() ? "" : sums.datasets.back();
        i32((int32_t)dataset.size());
        out.write(dataset.data(), (std::streamsize)dataset.size());
        if (!out.flush()) fail(tmp_path, "write failed");
    }
    if (std::rename(tmp_path.c_str(), path.c_str()) != 0) fail(path, "cannot rename from " + tmp_path);
}

}  // namespace shootout::quantize
