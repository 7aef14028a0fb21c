// A human-readable listing of a GGUF file for `shootout inspect`: header facts, metadata, every tensor
// (name, type, shape, bytes, offset) and a per-type summary with bits per weight.
#pragma once

#include <string>

#include "gguf/gguf.h"

namespace shootout::gguf {

// show_arrays: print arrays and long strings in full instead of the first few elements / characters.
std::string describe(const File& file, bool show_arrays);

// One value as describe() prints it, e.g. `"qwen3"`, `1e-06`, `string[16384] ["!", "\"", ...]`.
std::string format_value(const Value& value, bool full);

}  // namespace shootout::gguf
