// Speed of the prompts' expert GEMMs on their own: moe_mmq (int8) and moe_gemm (F16), for the
// expert shapes of Qwen3-30B-A3B (128 experts, 8 routed, 2048 x 768) and Qwen3-Next-80B-A3B (512
// experts, 10 routed, 2048 x 512), 512 tokens routed at random (a synthetic model's router is close to
// uniform), the up product (n_in = n_embd, its activations read through x_rows from the token rows,
// as CudaOps runs it, and from a gathered copy) and the down product (n_in = n_ff, grouped rows).
// TFLOP/s = 2 * routed rows * rows per expert * n_in / time. Stacks hold 64 distinct quantized random
// rows, tiled. Launches are timed in a replayed CUDA graph (graph_timer.h).
// Usage: bench_cuda_moe [--tokens N]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/moe_mmq.h"
#include "graph_timer.h"
#include "tiled_weights.h"
#include "quant/type_table.h"

using namespace shootout;
using bench_cuda::tiled_weight_bytes;
using bench_cuda::time_graph;
using quant::TypeId;

namespace {

struct MoeShape {
    const char* name;
    int64_t n_expert, n_used, n_embd, n_ff;
};

// Random routing of n_tokens tokens to n_used distinct experts each, grouped by expert as moe_group
// groups it: the groups' device arrays and row_token (the token of each grouped row).
struct Routing {
    cuda::DeviceBuffer expert, first, count, n_active, row_token;
    int64_t n_slots = 0;
    cuda::ExpertGroups groups() const {
        return {expert.as<int32_t>(), first.as<int32_t>(), count.as<int32_t>(), n_active.as<int32_t>()};
    }
};

cuda::DeviceBuffer to_device(const std::vector<int32_t>& v) {
    cuda::DeviceBuffer b(std::max<size_t>(1, v.size()) * sizeof(int32_t));
    b.upload(v.data(), v.size() * sizeof(int32_t));
    return b;
}

Routing route(const MoeShape& sh, int64_t n_tokens) {
    std::mt19937 rng(5);
    std::vector<std::vector<int32_t>> rows_of((size_t)sh.n_expert);
    std::vector<int32_t> experts((size_t)sh.n_expert);
    std::iota(experts.begin(), experts.end(), 0);
    for (int64_t t = 0; t < n_tokens; ++t) {
        std::shuffle(experts.begin(), experts.end(), rng);
        for (int64_t j = 0; j < sh.n_used; ++j) rows_of[(size_t)experts[(size_t)j]].push_back((int32_t)t);
    }
    std::vector<int32_t> expert, first, count, row_token;
    for (int64_t e = 0; e < sh.n_expert; ++e) {
        if (rows_of[(size_t)e].empty()) continue;
        expert.push_back((int32_t)e);
        first.push_back((int32_t)row_token.size());
        count.push_back((int32_t)rows_of[(size_t)e].size());
        row_token.insert(row_token.end(), rows_of[(size_t)e].begin(), rows_of[(size_t)e].end());
    }
    const int32_t n_active = (int32_t)expert.size();
    const int64_t max_active = std::min(n_tokens * sh.n_used, sh.n_expert);
    while ((int64_t)expert.size() < max_active) {  // the launchers' grid covers max_active slots
        expert.push_back(0);
        first.push_back(0);
        count.push_back(0);
    }
    Routing r;
    r.expert = to_device(expert);
    r.first = to_device(first);
    r.count = to_device(count);
    r.n_active = to_device({n_active});
    r.row_token = to_device(row_token);
    r.n_slots = (int64_t)row_token.size();
    return r;
}

// Activations: n_rows rows of n_in (8 rows of padding), as F32, int8 (the stack's activation type)
// and F16.
struct Activations {
    cuda::DeviceBuffer f32, q, ds, half;
    Activations(TypeId type, int64_t n_rows, int64_t n_in, cudaStream_t s)
        : f32((size_t)((n_rows + 8) * n_in) * sizeof(float)), q((size_t)((n_rows + 8) * n_in)),
          ds((size_t)((n_rows + 8) * n_in / 32) * sizeof(float2)), half((size_t)((n_rows + 8) * n_in) * 2) {
        std::mt19937 rng(3);
        std::normal_distribution<float> dist(0.f, 1.f);
        std::vector<float> x((size_t)((n_rows + 8) * n_in));
        for (auto& v : x) v = dist(rng);
        f32.upload(x.data(), x.size() * sizeof(float));
        const cuda::ActivationType act = cuda::activation_type(type);
        cuda::quantize_activations(act, f32.as<float>(), n_rows + 8, n_in, q.as<int8_t>(), ds.as<float2>(), s);
        cuda::activations_to_half(act, f32.as<float>(), n_rows + 8, n_in, half.as<uint16_t>(), s);
    }
};

void bench(const MoeShape& sh, TypeId type, int64_t n_tokens, cudaStream_t s) {
    const Routing r = route(sh, n_tokens);
    const char* tname = quant::traits(type).name;
    struct Product {
        const char* name;
        int64_t n_in, rows;
        bool token_rows;  // activations read from the token rows through row_token (gate/up)
    };
    for (const Product& p : {Product{"up", sh.n_embd, sh.n_ff, true}, Product{"down", sh.n_ff, sh.n_embd, false}}) {
        const std::vector<uint8_t> bytes = tiled_weight_bytes(type, p.n_in, sh.n_expert * p.rows, 11);
        const cuda::DeviceWeight w = cuda::upload_weight("bench.exps", type, p.n_in, sh.n_expert * p.rows, bytes.data());
        const Activations grouped(type, r.n_slots, p.n_in, s);
        const Activations tokens(type, n_tokens, p.n_in, s);
        cuda::DeviceBuffer y((size_t)(r.n_slots * p.rows) * sizeof(float));
        const double flop = 2.0 * (double)r.n_slots * (double)p.rows * (double)p.n_in;
        const cuda::ExpertGroups g = r.groups();
        const int32_t* rows = r.row_token.as<int32_t>();
        auto report = [&](const char* kernel, const char* input, double ms) {
            std::printf("| %s | %s | %s | %s | %s | %.1f | %.1f |\n", sh.name, tname, p.name, kernel, input, ms * 1e3,
                        flop / (ms * 1e-3) / 1e12);
        };
        if (cuda::moe_mmq_supports(type)) {
            report("moe_mmq", "grouped", time_graph(s, 8, [&](int) {
                       cuda::moe_mmq(w, sh.n_expert, n_tokens, sh.n_used, g, grouped.q.as<int8_t>(),
                                     grouped.ds.as<float2>(), y.as<float>(), s);
                   }));
            if (p.token_rows)
                report("moe_mmq", "token rows", time_graph(s, 8, [&](int) {
                           cuda::moe_mmq(w, sh.n_expert, n_tokens, sh.n_used, g, tokens.q.as<int8_t>(),
                                         tokens.ds.as<float2>(), y.as<float>(), s, rows);
                       }));
        }
        report("moe_gemm", "grouped", time_graph(s, 8, [&](int) {
                   cuda::moe_gemm(w, sh.n_expert, n_tokens, sh.n_used, g, grouped.half.as<uint16_t>(), y.as<float>(), s);
               }));
        if (p.token_rows)
            report("moe_gemm", "token rows", time_graph(s, 8, [&](int) {
                       cuda::moe_gemm(w, sh.n_expert, n_tokens, sh.n_used, g, tokens.half.as<uint16_t>(), y.as<float>(),
                                      s, rows);
                   }));
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        int64_t n_tokens = 512;
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--tokens" && i + 1 < argc) n_tokens = std::stoll(argv[++i]);
            else throw std::runtime_error("unknown argument " + arg + " (usage: bench_cuda_moe [--tokens N])");
        }
        if (cuda::device_count() == 0) throw std::runtime_error("no CUDA device");
        const cuda::DeviceInfo info = cuda::device_info();
        cudaStream_t stream;
        SHOOTOUT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        std::printf("## expert GEMMs, %lld tokens (%s)\n", (long long)n_tokens, info.name.c_str());
        std::printf("| shape | type | product | kernel | input | us | TFLOP/s |\n|---|---|---|---|---|---|---|\n");
        const MoeShape shapes[] = {{"30B-A3B", 128, 8, 2048, 768}, {"80B-A3B", 512, 10, 2048, 512}};
        for (const MoeShape& sh : shapes)
            for (TypeId type : {TypeId::Q4_K, TypeId::Q6_K, TypeId::MXFP4, TypeId::Q8_0}) bench(sh, type, n_tokens, stream);
        SHOOTOUT_CUDA_CHECK(cudaStreamDestroy(stream));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_moe: %s\n", e.what());
        return 1;
    }
    return 0;
}
