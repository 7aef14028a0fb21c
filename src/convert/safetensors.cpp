#include "convert/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "convert/json.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout::convert {

namespace fs = std::filesystem;

namespace {

size_t dtype_bytes(const std::string& name) {
    if (name == "F64" || name == "I64" || name == "U64") return 8;
    if (name == "F32" || name == "I32" || name == "U32") return 4;
    if (name == "F16" || name == "BF16" || name == "I16" || name == "U16") return 2;
    if (name == "I8" || name == "U8" || name == "BOOL" || name == "F8_E4M3" || name == "F8_E5M2") return 1;
    return 0;
}

StDtype dtype_of(const std::string& name) {
    if (name == "F32") return StDtype::F32;
    if (name == "F16") return StDtype::F16;
    if (name == "BF16") return StDtype::BF16;
    return StDtype::Other;
}

}  // namespace

int64_t StTensor::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

void StTensor::to_float(float* dst) const {
    const int64_t n = n_elements();
    switch (dtype) {
        case StDtype::F32: std::memcpy(dst, data, size_t(n) * 4); return;
        case StDtype::F16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, data + 2 * i, 2);
                dst[i] = fp16_to_fp32(h);
            }
            return;
        case StDtype::BF16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, data + 2 * i, 2);
                dst[i] = bf16_to_fp32(h);
            }
            return;
        case StDtype::Other: break;
    }
    fail(file, "tensor '" + name + "' has dtype " + dtype_name + " (only F32, F16 and BF16 are read)");
}

void parse_safetensors(const MappedFile& file, std::vector<StTensor>& out) {
    const std::string& path = file.path();
    if (file.size_bytes() < 8) fail(path, "too short for a safetensors header");
    uint64_t header_bytes;
    std::memcpy(&header_bytes, file.data(), 8);
    if (header_bytes > file.size_bytes() - 8) fail(path, "header length " + std::to_string(header_bytes) +
                                                             " runs past the end of the file");
    const Json header = Json::parse(
        std::string_view(reinterpret_cast<const char*>(file.data()) + 8, header_bytes), path);
    if (!header.is_object()) fail(path, "header is not a JSON object");
    const uint8_t* data_start = file.data() + 8 + header_bytes;
    const uint64_t data_bytes = file.size_bytes() - 8 - header_bytes;
    std::vector<StTensor> tensors;
    for (const auto& [name, info] : header.members()) {
        if (name == "__metadata__") continue;
        const std::string where = "tensor '" + name + "'";
        try {
            StTensor t;
            t.name = name;
            t.file = path;
            t.dtype_name = info.at("dtype").as_string();
            t.dtype = dtype_of(t.dtype_name);
            const size_t element_bytes = dtype_bytes(t.dtype_name);
            if (element_bytes == 0) throw Error("unknown dtype " + t.dtype_name);
            uint64_t n = 1;
            for (const Json& d : info.at("shape").items()) {
                const int64_t dim = d.as_int();
                if (dim < 0 || __builtin_mul_overflow(n, uint64_t(dim), &n)) throw Error("bad shape");
                t.shape.push_back(dim);
            }
            const auto& offsets = info.at("data_offsets").items();
            if (offsets.size() != 2) throw Error("data_offsets must have two entries");
            const int64_t begin = offsets[0].as_int(), end = offsets[1].as_int();
            if (begin < 0 || end < begin || uint64_t(end) > data_bytes)
                throw Error("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                            "] outside the data section of " + std::to_string(data_bytes) + " bytes");
            uint64_t expected;
            if (__builtin_mul_overflow(n, uint64_t(element_bytes), &expected) || expected != uint64_t(end - begin))
                throw Error("data_offsets span " + std::to_string(end - begin) + " bytes, the shape needs " +
                            std::to_string(expected));
            t.data = data_start + begin;
            t.size_bytes = size_t(end - begin);
            tensors.push_back(std::move(t));
        } catch (const Error& e) {
            fail(path, where + ": " + e.what());
        }
    }
    // gguf-py's SafetensorsLocal sorts each shard's tensors by name.
    std::sort(tensors.begin(), tensors.end(), [](const StTensor& a, const StTensor& b) { return a.name < b.name; });
    for (auto& t : tensors) out.push_back(std::move(t));
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& dir) {
    auto checkpoint = std::make_unique<Checkpoint>();
    std::vector<std::string> parts;
    std::set<std::string> index_names;
    const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
    if (fs::is_regular_file(index_path)) {
        const Json index = Json::parse(read_text_file(index_path.string()), index_path.string());
        const Json* weight_map = index.find("weight_map");
        if (!weight_map || !weight_map->is_object()) fail(index_path.string(), "no 'weight_map' object");
        std::set<std::string> files;
        for (const auto& [name, file] : weight_map->members()) {
            index_names.insert(name);
            files.insert(file.as_string());
        }
        parts.assign(files.begin(), files.end());  // sorted, as the converter sorts them
    } else {
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string name = entry.path().filename().string();
            if (name.starts_with("model") && name.ends_with(".safetensors")) parts.push_back(name);
        }
        std::sort(parts.begin(), parts.end());
    }
    if (parts.empty()) fail(dir, "no model*.safetensors files (only safetensors checkpoints are read)");
    for (const std::string& part : parts) {
        const fs::path path = fs::path(dir) / part;
        if (!fs::is_regular_file(path)) fail(dir, "shard '" + part + "' named by the index is missing");
        checkpoint->files_.push_back(std::make_unique<MappedFile>(path.string()));
        parse_safetensors(*checkpoint->files_.back(), checkpoint->tensors_);
    }
    std::set<std::string> seen;
    for (const auto& t : checkpoint->tensors_)
        if (!seen.insert(t.name).second) fail(dir, "tensor '" + t.name + "' appears in two shards");
    if (!index_names.empty() && index_names != seen)
        fail(index_path.string(), "the weight map and the shards list different tensors");
    return checkpoint;
}

const StTensor* Checkpoint::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

size_t Checkpoint::total_file_bytes() const {
    size_t total = 0;
    for (const auto& f : files_) total += f->size_bytes();
    return total;
}

}  // namespace shootout::convert
