// shootout tokenize: the tokenizer as a command (as llama-tokenize), on any GGUF including vocab-only
// files: ids alone, or one line per token with its piece.
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "convert/hf_model.h"
#include "cli/text_input.h"
#include "gguf/gguf.h"
#include "model/tokenizer.h"

namespace shootout::cli {
namespace {

// A piece as printable text: control bytes and invalid UTF-8 escaped so one token stays on one line.
std::string escape_piece(const std::string& piece) {
    std::string out;
    for (unsigned char c : piece) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c == '\\') out += "\\\\";
        else if (c < 0x20 || c == 0x7f) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
            out += buffer;
        } else out += (char)c;
    }
    return out;
}

int tokenize_run(const Args& args) {
    auto file = convert::open_model_file(args.require("model"));
    auto tokenizer = Tokenizer::from_gguf(*file);
    std::string text;
    if (args.has("file") == args.has("text")) throw UsageError("give exactly one of --file FILE or --text TEXT");
    if (args.has("file")) text = read_text_file(args.get("file", ""), /*allow_empty=*/true);
    else text = args.get("text", "");
    const bool add_special = !args.flag("no-bos");
    const bool parse_special = !args.flag("no-parse-special");
    const std::vector<int32_t> ids = tokenizer->tokenize(text, add_special, parse_special);
    if (args.flag("ids")) {
        std::string line;
        for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
        std::printf("%s\n", line.c_str());
    } else {
        for (int32_t id : ids) std::printf("%6d -> '%s'\n", id, escape_piece(tokenizer->token_to_piece(id)).c_str());
    }
    if (args.flag("count")) std::fprintf(stderr, "%zu tokens\n", ids.size());
    return kExitOk;
}

}  // namespace

Command tokenize_command() {
    return {
        "tokenize",
        "turn text into token ids with a GGUF's tokenizer, as llama-tokenize does",
        {
            {"model", "FILE", "a GGUF (a vocab-only file is enough)", false, "m"},
            {"file", "FILE", "the text to tokenize", false, "f"},
            {"text", "TEXT", "the text to tokenize, inline", false, "p"},
            {"ids", "", "print only the ids, space-separated, on one line"},
            {"no-bos", "", "do not add BOS/EOS even where the vocabulary asks for them"},
            {"no-parse-special", "", "treat special-token text as plain text"},
            {"count", "", "print the number of tokens on stderr"},
        },
        tokenize_run,
    };
}

}  // namespace shootout::cli
