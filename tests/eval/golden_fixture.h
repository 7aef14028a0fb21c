// Reads the fixtures tools/eval_reference.py writes to tests/data/eval (see its docstring).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace golden {

inline std::string data_path(const std::string& name) {
    return std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/eval/" + name;
}

struct Logits {
    int32_t n_ctx = 0, n_vocab = 0, n_chunks = 0;
    std::vector<int32_t> tokens;
    std::vector<float> reference, variant;  // n_rows x n_vocab
    int64_t n_scored() const { return n_ctx - 1 - n_ctx / 2; }
    int64_t n_rows() const { return n_chunks * n_scored(); }
    int32_t next_token(int64_t row) const {
        const int64_t chunk = row / n_scored(), r = row % n_scored();
        return tokens[size_t(chunk * n_ctx + n_ctx / 2 + r + 1)];
    }
};

inline Logits load_logits() {
    std::ifstream in(data_path("golden_logits.bin"), std::ios::binary);
    EXPECT_TRUE(in.good()) << "missing fixture: run python3 tools/eval_reference.py";
    char magic[8];
    in.read(magic, 8);
    EXPECT_EQ(std::string(magic, 8), "SHGOLD01");
    Logits g;
    in.read(reinterpret_cast<char*>(&g.n_ctx), 4);
    in.read(reinterpret_cast<char*>(&g.n_vocab), 4);
    in.read(reinterpret_cast<char*>(&g.n_chunks), 4);
    g.tokens.resize(size_t(g.n_chunks) * g.n_ctx);
    in.read(reinterpret_cast<char*>(g.tokens.data()), std::streamsize(g.tokens.size() * 4));
    g.reference.resize(size_t(g.n_rows() * g.n_vocab));
    g.variant.resize(g.reference.size());
    in.read(reinterpret_cast<char*>(g.reference.data()), std::streamsize(g.reference.size() * 4));
    in.read(reinterpret_cast<char*>(g.variant.data()), std::streamsize(g.variant.size() * 4));
    EXPECT_TRUE(in.good());
    return g;
}

inline std::map<std::string, double> load_stats(const std::string& name) {
    std::ifstream in(data_path(name));
    EXPECT_TRUE(in.good()) << "missing fixture " << name;
    std::map<std::string, double> stats;
    std::string key;
    double value;
    while (in >> key >> value) {
        stats[key] = value;
    }
    return stats;
}

}  // namespace golden
