// Speed of the CUDA products next to the device's copy bandwidth, measured in the same run.
//   decode: y = W x for 1 token (and 8), GB/s = bytes of weights / time, and that as % of the
//           device-to-device copy rate (cudaMemcpy, read + write bytes / time);
//   prefill: TFLOP/s = 2 * n_out * n_in * n_tokens / time.
// Weights hold real blocks (random Gaussian rows quantized by the reference quantizer, tiled), and
// enough copies rotate that no pass finds the weights in L2. Launches are captured in a CUDA graph
// and replayed, so launch gaps stay out of the numbers; each figure is the median of 7 replays.
// Usage: bench_cuda_kernels [--quick] [--decode-only] [--types q4_K,q8_0,...]
//   --types: only these types (their GGUF names), e.g. to profile one kernel under ncu.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "graph_timer.h"
#include "tiled_weights.h"
#include "quant/type_table.h"

using namespace shootout;
using quant::TypeId;
using bench_cuda::tiled_weight_bytes;
using bench_cuda::time_graph;

namespace {

// ",a,b," for "a,b": a name then matches as ",name," (built by appending: g++ 12 warns falsely on
// the chained operator+ of a C string and a std::string under -Werror).
std::string comma_list(const char* names) {
    std::string s(1, ',');
    s += names;
    s += ',';
    return s;
}

const TypeId kTypes[] = {TypeId::F16,  TypeId::BF16, TypeId::Q8_0, TypeId::Q4_0, TypeId::Q4_1,
                         TypeId::Q5_0, TypeId::Q5_1, TypeId::Q4_K, TypeId::Q5_K, TypeId::Q6_K, TypeId::MXFP4,
                         TypeId::Q2_K, TypeId::Q3_K, TypeId::IQ4_NL, TypeId::IQ4_XS, TypeId::IQ2_XXS,
                         TypeId::IQ2_XS, TypeId::IQ2_S, TypeId::IQ3_XXS, TypeId::IQ3_S, TypeId::TQ2_0,
                         TypeId::TQ1_0, TypeId::IQ1_S, TypeId::IQ1_M};

// The device-to-device copy rate (read + write bytes), beside the streaming read of
// cuda::measure_read_gbps (the ceiling of a decode kernel, which only reads).
double copy_bandwidth_gbs(cudaStream_t stream) {
    const size_t bytes = size_t(1) << 30;
    cuda::DeviceBuffer a(bytes), b(bytes);
    a.fill_bytes(0x5A);
    const double ms = time_graph(stream, 4, [&](int) {
        SHOOTOUT_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, stream));
    });
    return 2.0 * bytes / (ms * 1e-3) / 1e9;  // read + write
}

}  // namespace

int main(int argc, char** argv) {
    try {
        bool quick = false, decode_only = false;
        std::string types;  // ",q4_K,q8_0," or empty: every type
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--quick") quick = true;
            else if (arg == "--decode-only") decode_only = true;
            else if (arg == "--types" && i + 1 < argc) types = comma_list(argv[++i]);
            else
                throw std::runtime_error("unknown argument " + arg +
                                         " (usage: bench_cuda_kernels [--quick] [--decode-only] [--types a,b])");
        }
        if (!types.empty()) {
            std::string unknown = types;
            for (TypeId type : kTypes) {
                const std::string key = comma_list(quant::traits(type).name);
                if (const size_t at = unknown.find(key); at != std::string::npos) unknown.erase(at, key.size() - 1);
            }
            if (unknown.find_first_not_of(',') != std::string::npos)
                throw std::runtime_error("--types: no CUDA type named in " + types);
        }
        if (cuda::device_count() == 0) {
            std::printf("no CUDA device\n");
            return 1;
        }
        const cuda::DeviceInfo info = cuda::device_info(0);
        std::printf("device: %s, %d SMs, %.1f GB, L2 %.0f MB\n", info.name.c_str(), info.multiprocessors,
                    info.global_memory_bytes / 1e9, info.l2_bytes / 1e6);
        cudaStream_t stream;
        SHOOTOUT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        const double copy_gbs = copy_bandwidth_gbs(stream);
        const double read_gbs = cuda::measure_read_gbps();
        std::printf("device-to-device copy (cudaMemcpyAsync): %.0f GB/s (read + write); streaming read: %.0f GB/s\n\n",
                    copy_gbs, read_gbs);

        struct Shape { int64_t n_out, n_in; };
        const Shape shapes[] = {{4096, 4096}, {12288, 4096}, {4096, 12288}};
        std::string decode_table = "| type | shape (out x in) | tokens | weight MB | us | GB/s | % of copy | % of read |\n|---|---|---|---|---|---|---|---|\n";
        std::string prefill_table = "| type | shape (out x in) | tokens | ms | TFLOP/s | TFLOP/s, 128-row tiles forced |\n|---|---|---|---|---|---|\n";
        char line[256];
        // Activations for the largest case (4096 tokens x 12288), Gaussian, shared by every run.
        const size_t max_floats = (size_t)4096 * 12288;
        cuda::DeviceBuffer x(max_floats * 4), y(max_floats * 4);
        {
            std::vector<float> hx(max_floats);
            std::mt19937 rng(3);
            std::normal_distribution<float> dist(0.f, 1.f);
            for (auto& v : hx) v = dist(rng);
            x.upload(hx.data(), hx.size() * 4);
        }
        cuda::Workspace workspace;
        for (TypeId type : kTypes) {
            const char* name = quant::traits(type).name;
            if (!types.empty() && types.find(comma_list(name)) == std::string::npos) continue;
            for (const Shape& sh : shapes) {
                if (quick && sh.n_out != 12288) continue;
                const std::vector<uint8_t> bytes = tiled_weight_bytes(type, sh.n_in, sh.n_out, 7);
                // Enough copies that one pass over all of them is 4x the L2.
                const size_t n_copies = std::max<size_t>(2, (4 * info.l2_bytes + bytes.size() - 1) / bytes.size());
                std::vector<cuda::DeviceWeight> ws;
                for (size_t c = 0; c < n_copies; ++c)
                    ws.push_back(cuda::upload_weight(name, type, sh.n_in, sh.n_out, bytes.data()));
                for (int64_t n_tokens : {1, 8}) {
                    if (n_tokens == 8 && sh.n_out != 4096) continue;
                    const double ms = time_graph(stream, (int)n_copies * 4, [&](int i) {
                        cuda::matvec(ws[i % n_copies], x.as<float>(), n_tokens, y.as<float>(), workspace, stream);
                    });
                    const double gbs = bytes.size() / (ms * 1e-3) / 1e9;
                    std::snprintf(line, sizeof line, "| %s | %ldx%ld | %ld | %.1f | %.2f | %.0f | %.0f %% | %.0f %% |\n",
                                  name, (long)sh.n_out, (long)sh.n_in, (long)n_tokens, bytes.size() / 1e6, ms * 1e3,
                                  gbs, 100.0 * gbs / copy_gbs, 100.0 * gbs / read_gbs);
                    decode_table += line;
                    std::fputs(line, stdout);
                }
                if (sh.n_in == 12288 || decode_only) continue;  // prefill on the two 4096-wide shapes
                for (int64_t n_tokens : {512, 4096}) {
                    if (quick && n_tokens != 512) continue;
                    auto gemm_ms = [&](cuda::GemmTile tile) {
                        return time_graph(stream, 4, [&](int i) {
                            cuda::gemm(ws[i % n_copies], x.as<float>(), n_tokens, y.as<float>(), stream, tile);
                        });
                    };
                    const double ms = gemm_ms(cuda::GemmTile::Auto);
                    const double ms128 = gemm_ms(cuda::GemmTile::Rows128);
                    const double flop = 2.0 * sh.n_out * sh.n_in * n_tokens;
                    std::snprintf(line, sizeof line, "| %s | %ldx%ld | %ld | %.3f | %.1f | %.1f |\n", name, (long)sh.n_out,
                                  (long)sh.n_in, (long)n_tokens, ms, flop / (ms * 1e-3) / 1e12, flop / (ms128 * 1e-3) / 1e12);
                    prefill_table += line;
                    std::fputs(line, stdout);
                }
            }
        }
        std::printf("\n## decode (copy %.0f GB/s, read %.0f GB/s)\n%s\n## prefill\n%s", copy_gbs, read_gbs,
                    decode_table.c_str(),
                    prefill_table.c_str());
        cudaStreamDestroy(stream);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda_kernels: %s\n", e.what());
        return 1;
    }
}
