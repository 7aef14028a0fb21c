// Test-only helpers for the golden checks: a minimal GGUF v3 reader (tensor infos and data, no
// metadata values) so that the quant tests do not depend on src/gguf, and a reader for the
// per-tensor [type, hash] pairs of shared/golden/llama-quantize.json.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace shootout::testing {

struct GgufTensor {
    std::string name;
    std::vector<uint64_t> shape;  // ne[0] (row length) first
    uint32_t type = 0;
    uint64_t offset = 0;          // from the start of the data section
};

struct GgufFile {
    std::vector<uint8_t> bytes;
    std::vector<GgufTensor> tensors;
    uint64_t data_start = 0;

    const uint8_t* data(const GgufTensor& t) const { return bytes.data() + data_start + t.offset; }
};

class ByteCursor {
public:
    explicit ByteCursor(const std::vector<uint8_t>& b) : bytes_(b) {}
    template <typename T> T get() {
        if (pos_ + sizeof(T) > bytes_.size()) throw std::runtime_error("gguf: truncated");
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string str() {
        const uint64_t n = get<uint64_t>();
        if (pos_ + n > bytes_.size()) throw std::runtime_error("gguf: truncated string");
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    void skip_value(uint32_t type) {
        static const size_t kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};  // by GGUF value type
        if (type == 8) { str(); return; }
        if (type == 9) {
            const uint32_t elem = get<uint32_t>();
            const uint64_t n = get<uint64_t>();
            for (uint64_t i = 0; i < n; ++i) skip_value(elem);
            return;
        }
        if (type > 12) throw std::runtime_error("gguf: bad value type");
        pos_ += kSize[type];
    }
    size_t pos() const { return pos_; }

private:
    const std::vector<uint8_t>& bytes_;
    size_t pos_ = 0;
};

inline GgufFile read_gguf(const std::string& path) {
    GgufFile file;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    file.bytes.assign(std::istreambuf_iterator<char>(in), {});
    ByteCursor cur(file.bytes);
    if (cur.get<uint32_t>() != 0x46554747u) throw std::runtime_error(path + ": not GGUF");
    cur.get<uint32_t>();  // version
    const uint64_t n_tensors = cur.get<uint64_t>();
    const uint64_t n_kv = cur.get<uint64_t>();
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; ++i) {
        const std::string key = cur.str();
        const uint32_t type = cur.get<uint32_t>();
        if (key == "general.alignment" && type == 4) alignment = cur.get<uint32_t>();
        else cur.skip_value(type);
    }
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensor t;
        t.name = cur.str();
        const uint32_t n_dims = cur.get<uint32_t>();
        for (uint32_t d = 0; d < n_dims; ++d) t.shape.push_back(cur.get<uint64_t>());
        t.type = cur.get<uint32_t>();
        t.offset = cur.get<uint64_t>();
        file.tensors.push_back(t);
    }
    file.data_start = (cur.pos() + alignment - 1) / alignment * alignment;
    return file;
}

// recipe -> tensor name -> {type name, hash prefix}, read with a scanner fitted to the file's
// simple shape ({"recipe": {"tensors": {"name": ["TYPE", "hex"], ...}, ...}, ...}).
using GoldenTensors = std::map<std::string, std::pair<std::string, std::string>>;

inline std::map<std::string, GoldenTensors> read_golden_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    std::map<std::string, GoldenTensors> out;
    size_t pos = 0;
    auto next_string = [&](size_t from, size_t& end) {
        const size_t a = text.find('"', from);
        if (a == std::string::npos) return std::string();
        const size_t b = text.find('"', a + 1);
        end = b + 1;
        return text.substr(a + 1, b - a - 1);
    };
    int depth = 0;
    std::string recipe;
    bool in_tensors = false;
    while (pos < text.size()) {
        const char c = text[pos];
        if (c == '{') { ++depth; ++pos; continue; }
        if (c == '}') { if (--depth == 2) in_tensors = false; ++pos; continue; }
        if (c != '"') { ++pos; continue; }
        size_t end = 0;
        const std::string key = next_string(pos, end);
        pos = end;
        if (depth == 1) { recipe = key; continue; }
        if (depth == 2) { in_tensors = key == "tensors"; if (!in_tensors) { /* skip scalar */ } continue; }
        if (depth == 3 && in_tensors) {
            const size_t bracket = text.find('[', pos);
            const std::string type = next_string(bracket, end);
            const std::string hash = next_string(end, end);
            out[recipe][key] = {type, hash};
            pos = text.find(']', end) + 1;
        }
    }
    return out;
}

}  // namespace shootout::testing
