// shootout quantize: one GGUF in, one quantized GGUF out, choosing per tensor what llama-quantize
// chooses for the same recipe (byte-identical by default).
#include <cstdio>
#include <optional>

#include "cli/command.h"
#include "convert/hf_model.h"
#include "gguf/gguf.h"
#include "quantize/imatrix.h"
#include "quantize/plan.h"
#include "quantize/quantize_model.h"
#include "quantize/recipe.h"

namespace shootout::cli {

Command quantize_command() {
    return {
        "quantize",
        "quantize a GGUF model with a llama-quantize recipe (Q4_K_M, Q8_0, MXFP4_MOE, ...)",
        {
            {"model", "FILE", "the source GGUF (F32/F16/BF16 weights)", false, "m"},
            {"recipe", "NAME", "llama-quantize file type: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S/M/L Q4_K_S/M Q5_K_S/M Q6_K F16 BF16 ..."},
            {"output", "FILE", "where to write the quantized GGUF (atomically)", false, "o"},
            {"imatrix", "FILE", "importance matrix (llama-imatrix GGUF or legacy .dat)"},
            {"tensor-type", "PATTERN=TYPE", "type for tensors whose name matches PATTERN (regex), first match wins", true},
            {"output-tensor-type", "TYPE", "type of output.weight"},
            {"token-embedding-type", "TYPE", "type of token_embd.weight"},
            {"pure", "", "use the recipe's base type for every quantizable tensor"},
            {"leave-output-tensor", "", "keep output.weight unquantized"},
            {"allow-requantize", "", "accept already-quantized source tensors"},
            {"record-recipe", "", "store the recipe as shootout.recipe (the file then differs from llama-quantize's)"},
            {"dry-run", "", "print the per-tensor plan and stop"},
            {"threads", "N", "worker threads (default: all cores)", false, "t"},
        },
        [](const Args& args) {
            auto input = convert::open_model_file(args.require("model"));
            quantize::Recipe recipe = quantize::recipe_named(args.require("recipe"));
            for (const auto& spec : args.all("tensor-type"))
                recipe.tensor_types.push_back(quantize::parse_tensor_type_override(spec));
            if (args.has("output-tensor-type"))
                recipe.output_type = quantize::parse_type_name(args.get("output-tensor-type", ""), "--output-tensor-type");
            if (args.has("token-embedding-type"))
                recipe.token_embedding_type =
                    quantize::parse_type_name(args.get("token-embedding-type", ""), "--token-embedding-type");
            recipe.pure = args.flag("pure");
            recipe.leave_output_tensor = args.flag("leave-output-tensor");

            std::optional<quantize::ImportanceMatrix> imatrix;
            if (args.has("imatrix")) imatrix = quantize::load_imatrix(args.get("imatrix", ""));
            const quantize::Plan plan = quantize::make_plan(*input, recipe, imatrix.has_value());
            std::fputs(quantize::format_plan(plan).c_str(), stdout);
            if (args.flag("dry-run")) return kExitOk;

            const std::string output = args.require("output");
            quantize::QuantizeOptions options;
            options.n_threads = (int)args.get_int("threads", 0, 0, 1024);
            options.imatrix = imatrix ? &*imatrix : nullptr;
            if (imatrix) options.imatrix_label = args.get("imatrix", "");
            options.record_recipe = args.flag("record-recipe");
            options.allow_requantize = args.flag("allow-requantize");
            const auto result = quantize::quantize_model(*input, plan, options, output);
            std::printf("%s: %s, %.2f MiB -> %.2f MiB (%.2f bits per weight)\n", output.c_str(),
                        recipe.describe().c_str(), result.source_bytes / 1048576.0, result.output_bytes / 1048576.0,
                        result.bits_per_weight());
            return kExitOk;
        },
    };
}

}  // namespace shootout::cli
