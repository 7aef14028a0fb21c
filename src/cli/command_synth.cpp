// shootout synth: a synthetic GGUF of a named real shape (Qwen3 0.6B..32B, Llama-3 8B, Qwen3-30B-A3B,
// Qwen3-Next-80B-A3B) with random weights in the types a llama-quantize recipe chooses, for speed
// benchmarks of models whose weights are not at hand.
#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "quantize/recipe.h"
#include "synth/synth_model.h"
#include "synth/tensor_list.h"

namespace shootout::cli {

Command synth_command() {
    return {
        "synth",
        "write a synthetic GGUF of a real model's shape with random weights (for speed benchmarks)",
        {
            {"arch", "NAME", "architecture: qwen3, llama, qwen3moe, qwen3next"},
            {"shape", "SIZE", "size: 0.6B 1.7B 4B 8B 14B 32B (qwen3), 8B (llama), 30B-A3B (qwen3moe), 80B-A3B (qwen3next)"},
            {"recipe", "NAME", "llama-quantize file type choosing each tensor's type (default Q4_K_M)"},
            {"output", "FILE", "where to write the GGUF (atomically)", false, "o"},
            {"seed", "N", "random seed (default 1); the same seed gives the same bytes"},
            {"fast", "", "write random quantized blocks directly (default for shapes over 2B parameters)"},
            {"quantize", "", "quantize random N(0, 0.02) rows with the reference quantizers (default up to 2B)"},
            {"layers", "N", "override the number of layers (a quick, small file of the same widths)"},
            {"tensor-type", "PATTERN=TYPE", "type for tensors whose name matches PATTERN (regex), first match wins", true},
            {"output-tensor-type", "TYPE", "type of output.weight"},
            {"token-embedding-type", "TYPE", "type of token_embd.weight"},
            {"pure", "", "use the recipe's base type for every quantizable tensor"},
            {"list", "", "list the known shapes and stop"},
            {"dry-run", "", "print the per-tensor plan and stop"},
            {"threads", "N", "worker threads (default: all cores)", false, "t"},
        },
        [](const Args& args) {
            if (args.flag("list")) {
                for (const synth::Shape& s : synth::shapes()) {
                    std::printf("%-10s %-8s %-22s %6.2fB parameters\n", s.architecture.c_str(), s.name.c_str(),
                                s.model_name.c_str(), synth::parameter_count(s) / 1e9);
                }
                return kExitOk;
            }
            if (args.flag("fast") && args.flag("quantize")) throw UsageError("synth: --fast and --quantize exclude each other");
            synth::Shape shape = synth::find_shape(args.require("arch"), args.require("shape"));
            if (args.has("layers")) shape.n_layer = args.get_int("layers", 0, 1, 1024);

            synth::SynthOptions options;
            options.recipe = quantize::recipe_named(args.get("recipe", "Q4_K_M"));
            for (const auto& spec : args.all("tensor-type"))
                options.recipe.tensor_types.push_back(quantize::parse_tensor_type_override(spec));
            if (args.has("output-tensor-type"))
                options.recipe.output_type = quantize::parse_type_name(args.get("output-tensor-type", ""), "--output-tensor-type");
            if (args.has("token-embedding-type"))
                options.recipe.token_embedding_type =
                    quantize::parse_type_name(args.get("token-embedding-type", ""), "--token-embedding-type");
            options.recipe.pure = args.flag("pure");
            options.seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, (1ll << 62)));
            options.fill = args.flag("fast") ? synth::Fill::Fast : args.flag("quantize") ? synth::Fill::Quantize : synth::Fill::Auto;
            options.n_threads = (int)args.get_int("threads", 0, 0, 1024);

            if (args.flag("dry-run")) {
                std::fputs(quantize::format_plan(synth::synth_plan(shape, options.recipe)).c_str(), stdout);
                return kExitOk;
            }
            const std::string output = args.require("output");
            const auto start = std::chrono::steady_clock::now();
            const auto result = synth::synthesize(shape, options, output);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::printf("%s: %s %s (%lld layers), %s, %.3fB parameters, %.2f MiB (%.2f bits per weight), %s, %.1f s\n",
                        output.c_str(), shape.architecture.c_str(), shape.name.c_str(), (long long)shape.n_layer,
                        options.recipe.describe().c_str(), result.n_elements / 1e9, result.output_bytes / 1048576.0,
                        result.bits_per_weight(), result.fast ? "random blocks" : "quantized random rows", seconds);
            if (result.n_random_block_tensors > 0) {
                std::printf("note: %d tensors of types without a quantizer got random blocks\n", result.n_random_block_tensors);
            }
            return kExitOk;
        },
    };
}

}  // namespace shootout::cli
