// shootout inspect: a GGUF's metadata and per-tensor types, without loading the model.
#include <cstdio>

#include "cli/command.h"
#include "convert/hf_model.h"
#include "gguf/describe.h"
#include "gguf/gguf.h"

namespace shootout::cli {

Command inspect_command() {
    return {
        "inspect",
        "list a GGUF file's metadata and per-tensor types, shapes and sizes",
        {
            {"model", "FILE", "the GGUF file to inspect", false, "m"},
            {"arrays", "", "print metadata arrays in full (e.g. the vocabulary)"},
        },
        [](const Args& args) {
            auto file = convert::open_model_file(args.require("model"));
            std::fputs(gguf::describe(*file, args.flag("arrays")).c_str(), stdout);
            return kExitOk;
        },
    };
}

}  // namespace shootout::cli
