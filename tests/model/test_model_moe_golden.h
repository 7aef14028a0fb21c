// Shared by the qwen3moe and qwen3next golden tests: transformers' F32 logits for the token ids in
// train.json (../shared/models/<name>/golden-logits-f32.npy, [n_tokens, n_vocab]) against ours for the
// model-bf16.gguf that llama.cpp's converter wrote from the same weights.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/model.h"
#include "util/parallel.h"

namespace shootout::moe_test {

inline std::string model_dir(const std::string& name) { return std::string(SHOOTOUT_SHARED_DIR) + "/models/" + name; }

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// train.json's "token_ids": [ ... ].
inline std::vector<int32_t> read_token_ids(const std::string& path) {
    const std::string text = read_text(path);
    const size_t npos = std::string::npos;
    const size_t key = text.find("\"token_ids\"");
    if (key == npos) throw std::runtime_error("no token_ids in " + path);
    const size_t open = text.find('[', key), close = text.find(']', open);
    std::vector<int32_t> ids;
    std::stringstream list(text.substr(open + 1, close - open - 1));
    std::string item;
    while (std::getline(list, item, ',')) ids.push_back(std::stoi(item));
    return ids;
}

// A little-endian float32 C-order 2-D .npy.
inline std::vector<float> read_npy_f32(const std::string& path, int64_t& rows, int64_t& cols) {
    const std::string bytes = read_text(path);
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error("not an npy: " + path);
    const int major = (unsigned char)bytes[6];
    size_t header_len = 0, header_start = 0;
    if (major == 1) {
        header_len = (unsigned char)bytes[8] | ((size_t)(unsigned char)bytes[9] << 8);
        header_start = 10;
    } else {
        std::memcpy(&header_len, bytes.data() + 8, 4);
        header_start = 12;
    }
    const std::string header = bytes.substr(header_start, header_len);
    if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
        throw std::runtime_error("expected little-endian f32 C-order in " + path + ": " + header);
    std::smatch m;
    if (!std::regex_search(header, m, std::regex(R"(\(\s*(\d+)\s*,\s*(\d+)\s*\))")))
        throw std::runtime_error("no 2-D shape in " + path);
    rows = std::stoll(m[1]);
    cols = std::stoll(m[2]);
    const size_t data_start = header_start + header_len;
    if (bytes.size() != data_start + (size_t)(rows * cols) * 4) throw std::runtime_error("truncated " + path);
    std::vector<float> values((size_t)(rows * cols));
    std::memcpy(values.data(), bytes.data() + data_start, values.size() * 4);
    return values;
}

struct Comparison {
    double mean_kld = 0, max_kld = 0, max_abs_logit_diff = 0;
    int top1_mismatches = 0;
    std::vector<double> kld;  // per position
};

// Full-vocabulary KLD(reference || ours) per position, in double.
inline Comparison compare(const std::vector<float>& reference, const std::vector<float>& ours, int64_t n_tokens,
                          int64_t n_vocab) {
    Comparison c;
    auto log_softmax = [&](const float* row, std::vector<double>& out) {
        double max_logit = row[0];
        for (int64_t v = 1; v < n_vocab; ++v) max_logit = std::max(max_logit, (double)row[v]);
        double sum = 0;
        for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(row[v] - max_logit);
        const double lse = max_logit + std::log(sum);
        out.resize((size_t)n_vocab);
        for (int64_t v = 0; v < n_vocab; ++v) out[v] = row[v] - lse;
    };
    std::vector<double> lp, lq;
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* r = reference.data() + t * n_vocab;
        const float* o = ours.data() + t * n_vocab;
        log_softmax(r, lp);
        log_softmax(o, lq);
        double kld = 0;
        for (int64_t v = 0; v < n_vocab; ++v) {
            kld += std::exp(lp[v]) * (lp[v] - lq[v]);
            c.max_abs_logit_diff = std::max(c.max_abs_logit_diff, (double)std::fabs(r[v] - o[v]));
        }
        c.kld.push_back(kld);
        c.mean_kld += kld / (double)n_tokens;
        c.max_kld = std::max(c.max_kld, kld);
        if (std::max_element(r, r + n_vocab) - r != std::max_element(o, o + n_vocab) - o) ++c.top1_mismatches;
    }
    return c;
}

// Runs the model over train.json's tokens; returns its logits [n_tokens][n_vocab].
inline std::vector<float> run_model(const std::string& gguf_path, const std::vector<int32_t>& tokens,
                                    std::string& architecture, int64_t& n_vocab) {
    std::unique_ptr<gguf::File> file = gguf::File::open(gguf_path);
    ThreadPool pool(2);
    std::unique_ptr<Model> model = Model::load(*file, pool);
    architecture = model->info().architecture;
    n_vocab = model->info().n_vocab;
    const std::vector<float> hidden = model->hidden(tokens);
    std::vector<float> logits(tokens.size() * (size_t)n_vocab);
    model->logits(hidden.data(), (int64_t)tokens.size(), logits.data());
    return logits;
}

// The same model with every BF16 tensor widened to F32 (exactly), written next to the test binary.
// Its matmuls then take F32 activations (F32's vec_dot_type), so the only rounding left beyond F32
// arithmetic is the F16 KV cache: this checks the architecture's math, free of BF16 activation noise.
inline std::string widen_to_f32(const std::string& gguf_path, const std::string& out_name) {
    std::unique_ptr<gguf::File> file = gguf::File::open(gguf_path);
    gguf::Writer writer;
    for (const auto& [key, value] : file->metadata()) writer.set(key, value);
    writer.set("general.file_type", gguf::Value::make_uint(gguf::ValueType::UINT32, 0));  // ALL_F32
    for (const gguf::TensorInfo& t : file->tensors()) {
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        const auto& traits = quant::traits(t.type);
        const uint8_t* src = t.data;
        writer.add_tensor(t.name, t.shape, quant::TypeId::F32,
                          [src, n, &traits](uint8_t* dst, size_t) { traits.to_float(src, (float*)dst, n); });
    }
    const std::string out = testing::TempDir() + out_name;
    writer.write(out);
    return out;
}

}  // namespace shootout::moe_test
