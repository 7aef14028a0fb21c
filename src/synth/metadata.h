// The metadata of a synthetic GGUF: the architecture's hyper-parameter keys exactly as llama.cpp's
// converter writes them, and a synthetic byte-level BPE vocabulary of the shape's size that both
// llama.cpp and our tokenizer accept.
#pragma once

#include <cstdint>
#include <string>

#include "gguf/gguf.h"
#include "quantize/file_type.h"
#include "synth/shape.h"

namespace shootout::synth {

// Keys in the converter's order, then general.quantization_version and general.file_type at the end
// (where llama-quantize moves them), then `shootout.synthetic` = `note`.
void write_metadata(gguf::Writer& writer, const Shape& shape, quantize::FileType file_type, const std::string& note);

// tokenizer.ggml.*: model "gpt2" with no merges; ids 0..255 are the 256 bytes in GPT-2's byte-to-
// unicode spelling (so any text tokenizes, one token per byte), then the special tokens (Qwen:
// <|endoftext|> <|im_start|> <|im_end|>; Llama-3: <|begin_of_text|> <|end_of_text|>), then "[PADn]"
// tokens of type UNUSED up to n_vocab, as the converter pads a vocabulary to the embedding's rows.
void write_vocabulary(gguf::Writer& writer, const Shape& shape);

// The GPT-2 byte-to-unicode spelling of one byte (UTF-8).
std::string byte_token(uint8_t byte);

}  // namespace shootout::synth
