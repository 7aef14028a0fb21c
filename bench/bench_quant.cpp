// Micro-benchmarks of the tensor types: quantize throughput (bytes of F32 input per second, with
// and without importance weights) and vec_dot throughput (bytes of weight row per second) for
// each weight type with its CPU kernel. Run: build/bench_quant --benchmark_filter=Q4_K
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "backend/cpu/type_kernels.h"
#include "quant/type_table.h"

namespace {

using shootout::quant::TypeId;

const TypeId kTypes[] = {TypeId::F16, TypeId::BF16, TypeId::Q4_0, TypeId::Q4_1, TypeId::Q5_0, TypeId::Q5_1,
                         TypeId::Q8_0, TypeId::Q2_K, TypeId::Q3_K, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K};

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 0.05f);
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng);
    return v;
}

void quantize(benchmark::State& state, TypeId id, bool with_importance) {
    const auto& t = shootout::quant::traits(id);
    const int64_t n_per_row = 4096, n_rows = 16;
    const std::vector<float> x = random_floats((size_t)(n_per_row * n_rows), 1);
    std::vector<float> importance = random_floats((size_t)n_per_row, 2);
    for (auto& v : importance) v = v * v + 1e-3f;
    std::vector<uint8_t> out(shootout::quant::row_size_bytes(id, n_per_row) * n_rows);
    for (auto _ : state) {
        t.quantize_rows(x.data(), out.data(), n_rows, n_per_row, with_importance ? importance.data() : nullptr);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * n_per_row * n_rows * (int64_t)sizeof(float));
}

void vec_dot(benchmark::State& state, TypeId id) {
    const auto& k = shootout::cpu::kernels(id);
    const auto& t = shootout::quant::traits(id);
    const int64_t n = 4096, n_rows = 64;  // 64 weight rows per iteration, one activation row
    const std::vector<float> w = random_floats((size_t)(n * n_rows), 3), x = random_floats((size_t)n, 4);
    const size_t row_bytes = shootout::quant::row_size_bytes(id, n);
    std::vector<uint8_t> wq(row_bytes * n_rows), xq(shootout::quant::row_size_bytes(k.vec_dot_type, n));
    t.quantize_rows(w.data(), wq.data(), n_rows, n, nullptr);
    k.from_float(x.data(), xq.data(), n);
    std::vector<float> result((size_t)n_rows);
    for (auto _ : state) {
        for (int64_t r = 0; r < n_rows; ++r) k.vec_dot(n, &result[(size_t)r], wq.data() + r * row_bytes, xq.data());
        benchmark::DoNotOptimize(result.data());
    }
    state.SetBytesProcessed(state.iterations() * (int64_t)(row_bytes * n_rows));
}

const bool kRegistered = [] {
    for (TypeId id : kTypes) {
        const std::string name = shootout::quant::traits(id).name;
        benchmark::RegisterBenchmark(("quantize/" + name).c_str(), quantize, id, false);
        if (shootout::quant::traits(id).is_quantized && id != TypeId::Q8_0)
            benchmark::RegisterBenchmark(("quantize_imatrix/" + name).c_str(), quantize, id, true);
    }
    for (TypeId id : {TypeId::F32, TypeId::F16, TypeId::BF16, TypeId::Q4_0, TypeId::Q4_1, TypeId::Q5_0, TypeId::Q5_1,
                      TypeId::Q8_0, TypeId::Q2_K, TypeId::Q3_K, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K})
        benchmark::RegisterBenchmark(("vec_dot/" + std::string(shootout::quant::traits(id).name)).c_str(), vec_dot, id);
    return true;
}();

}  // namespace

BENCHMARK_MAIN();
