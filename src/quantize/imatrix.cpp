#include "quantize/imatrix.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "gguf/gguf.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace shootout::quantize {

namespace {

bool has_gguf_magic(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open importance matrix");
    char magic[4] = {};
    in.read(magic, 4);
    return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const float* f32_data(const gguf::TensorInfo& t, const std::string& path) {
    if (t.type != quant::TypeId::F32) fail(path, "tensor '" + t.name + "' is not F32");
    return reinterpret_cast<const float*>(t.data);
}

// GGUF form (common/imatrix-loader.cpp + tools/quantize load_imatrix): pair <name>.in_sum2 with
// <name>.counts; each expert slice j of ne0 values is divided by its count, rounded to an integer
// first as llama.cpp stores counts as int64.
ImportanceMatrix load_gguf(const std::string& path) {
    auto file = gguf::File::open(path);
    ImportanceMatrix m;
    m.path = path;
    const bool has_metadata = file->find("imatrix.datasets") && file->find("imatrix.chunk_count") &&
                              file->find("imatrix.chunk_size");
    if (!has_metadata) fail(path, "missing imatrix metadata (imatrix.datasets, chunk_count, chunk_size)");
    if (const gguf::Value* datasets = file->find("imatrix.datasets");
        datasets->type() == gguf::ValueType::ARRAY && datasets->array_type() == gguf::ValueType::STRING) {
        for (const auto& d : datasets->as_array()) m.datasets.push_back(d.as_string());
    }
    m.chunk_count = static_cast<int>(file->get_uint("imatrix.chunk_count", 0));
    m.chunk_size = static_cast<int>(file->get_uint("imatrix.chunk_size", 0));

    std::map<std::string, std::pair<const gguf::TensorInfo*, const gguf::TensorInfo*>> sums_counts;
    for (const auto& t : file->tensors()) {
        if (ends_with(t.name, ".in_sum2")) sums_counts[t.name.substr(0, t.name.size() - 8)].first = &t;
        else if (ends_with(t.name, ".counts")) sums_counts[t.name.substr(0, t.name.size() - 7)].second = &t;
    }
    if (sums_counts.empty()) fail(path, "no importance data (no .in_sum2 / .counts tensors)");
    for (const auto& [name, pair] : sums_counts) {
        const auto [sums, counts] = pair;
        if (!sums || !counts) fail(path, "mismatched sums and counts for '" + name + "'");
        const int64_t n_values = sums->n_elements(), n_counts = counts->n_elements();
        if (n_counts < 1 || n_values % n_counts != 0) {
            fail(path, "'" + name + "': " + std::to_string(n_values) + " sums do not split into " +
                           std::to_string(n_counts) + " expert slices");
        }
        const float* sum = f32_data(*sums, path);
        const float* count = f32_data(*counts, path);
        const int64_t ne0 = n_values / n_counts;
        std::vector<float>& e = m.entries[name];
        e.resize(static_cast<size_t>(n_values));
        for (int64_t j = 0; j < n_counts; ++j) {
            const float c = static_cast<float>(std::lround(count[j]));
            for (int64_t i = 0; i < ne0; ++i) e[j * ne0 + i] = c > 0.0f ? sum[j * ne0 + i] / c : 1.0f;
        }
    }
    return m;
}

class LegacyReader {
public:
    explicit LegacyReader(const std::string& path) : mapped_(path) {}
    bool at_end() const { return offset_ >= mapped_.size_bytes(); }
    int32_t i32(const char* field) {
        int32_t v;
        bytes(&v, 4, field);
        return v;
    }
    void bytes(void* dst, size_t n, const char* field) {
        if (n > mapped_.size_bytes() - offset_) fail(mapped_.path(), std::string("truncated at ") + field);
        std::memcpy(dst, mapped_.data() + offset_, n);
        offset_ += n;
    }

private:
    MappedFile mapped_;
    size_t offset_ = 0;
};

// Legacy .dat: int32 n_entries; per entry int32 name length, name, int32 ncall, int32 nval,
// float[nval] = mean * ncall; then optionally int32 chunk count, int32 length, dataset name.
ImportanceMatrix load_legacy(const std::string& path) {
    LegacyReader in(path);
    ImportanceMatrix m;
    m.path = path;
    m.legacy = true;
    const int32_t n_entries = in.i32("entry count");
    if (n_entries < 1) fail(path, "no importance data (entry count " + std::to_string(n_entries) + ")");
    for (int32_t i = 0; i < n_entries; ++i) {
        const int32_t length = in.i32("name length");
        if (length < 0 || length > 4096) fail(path, "bad name length " + std::to_string(length) + " in entry " + std::to_string(i));
        std::string name(static_cast<size_t>(length), '\0');
        in.bytes(name.data(), name.size(), "entry name");
        name = name.c_str();  // llama.cpp reads the name as a C string
        const int32_t ncall = in.i32("ncall");
        const int32_t n_values = in.i32("value count");
        if (n_values < 1 || n_values > (1 << 28)) fail(path, "'" + name + "': bad value count " + std::to_string(n_values));
        std::vector<float> values(static_cast<size_t>(n_values));
        in.bytes(values.data(), values.size() * 4, "entry values");
        // (mean * ncall) / ncall; values of an entry that was never called are taken as they are.
        if (ncall > 0) {
            for (float& v : values) v = v / static_cast<float>(ncall);
        }
        m.entries[name] = std::move(values);
    }
    if (!in.at_end()) {
        m.chunk_count = in.i32("chunk count");
        if (!in.at_end()) {
            const int32_t length = in.i32("dataset name length");
            if (length > 0 && length < (1 << 20)) {
                std::string dataset(static_cast<size_t>(length), '\0');
                in.bytes(dataset.data(), dataset.size(), "dataset name");
                m.datasets.push_back(dataset.c_str());
            }
        }
    }
    return m;
}

}  // namespace

ImportanceMatrix load_imatrix(const std::string& path) {
    ImportanceMatrix m = has_gguf_magic(path) ? load_gguf(path) : load_legacy(path);
    // llama-quantize refuses an imatrix with NaN or infinity anywhere.
    for (const auto& [name, values] : m.entries) {
        for (float v : values) {
            if (!std::isfinite(v)) fail(path, "'" + name + "' contains a non-finite value");
        }
    }
    return m;
}

void save_imatrix_legacy(const ImportanceMatrix& imatrix, int ncall, const std::string& path) {
    const std::string tmp_path = path + ".tmp";
    {
        std::ofstream out(tmp_path, std::ios::binary);
        if (!out) fail(tmp_path, "cannot create");
        auto i32 = [&](int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
        i32(static_cast<int32_t>(imatrix.entries.size()));
        for (const auto& [name, values] : imatrix.entries) {
            i32(static_cast<int32_t>(name.size()));
            out.write(name.data(), static_cast<std::streamsize>(name.size()));
            i32(ncall);
            i32(static_cast<int32_t>(values.size()));
            for (float v : values) {
                const float stored = v * static_cast<float>(ncall);
                out.write(reinterpret_cast<const char*>(&stored), 4);
            }
        }
        i32(imatrix.chunk_count);
        const std::string dataset = imatrix.datasets.empty() ? "" : imatrix.datasets[0];
        i32(static_cast<int32_t>(dataset.size()));
        out.write(dataset.data(), static_cast<std::streamsize>(dataset.size()));
        if (!out.flush()) fail(tmp_path, "write failed");
    }
    if (std::rename(tmp_path.c_str(), path.c_str()) != 0) fail(path, "cannot rename from " + tmp_path);
}

}  // namespace shootout::quantize
