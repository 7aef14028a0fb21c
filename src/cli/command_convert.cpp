// shootout convert: a Hugging Face model directory to the GGUF llama.cpp's convert_hf_to_gguf.py writes.
#include <cstdio>

#include "cli/command.h"
#include "convert/hf_model.h"
#include "util/error.h"

namespace shootout::cli {

Command convert_command() {
    return {
        "convert",
        "write the GGUF llama.cpp's convert_hf_to_gguf.py writes from a Hugging Face model directory",
        {
            {"model", "DIR", "the Hugging Face model directory (config.json, tokenizer.json, *.safetensors)", false, "m"},
            {"output", "FILE", "the GGUF file to write", false, "o"},
            {"outtype", "TYPE", "f32, f16, bf16, q8_0 or auto (default: auto, bf16/f16 as the checkpoint)"},
        },
        [](const Args& args) {
            const std::string dir = args.require("model");
            const std::string out = args.require("output");
            convert::OutType outtype;
            try {
                outtype = convert::parse_outtype(args.get("outtype", "auto"));
            } catch (const Error& e) {
                throw UsageError(e.what());
            }
            if (!convert::is_hf_model_dir(dir)) throw Error(dir + ": not a Hugging Face model directory (no config.json)");
            const convert::ConvertedModel model = convert::plan_conversion(dir, outtype);
            for (const std::string& note : model.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
            convert::write_gguf(model, out);
            std::printf("wrote %s: %s, %zu tensors\n", out.c_str(), model.architecture.c_str(), model.tensors.size());
            return kExitOk;
        },
    };
}

}  // namespace shootout::cli
