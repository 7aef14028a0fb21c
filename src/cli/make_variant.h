// Quantizing the reference into the variants a run asks for (--quant RECIPE), reusing a variant file
// that an earlier, interrupted run already finished.
#pragma once

#include <string>

namespace shootout::gguf {
class File;
}

namespace shootout::cli {

struct MakeVariantOptions {
    std::string output_dir;
    std::string imatrix_path;  // "" : none
    int n_threads = 0;
    bool allow_requantize = false;  // the reference is itself quantized
};

// Writes <output_dir>/<reference stem>-<RECIPE>.gguf and returns its path. A file already there that
// is newer than the reference is reused (files appear atomically, so one that exists is complete).
std::string make_variant(const gguf::File& reference, const std::string& recipe_name, const MakeVariantOptions& options);

// Throws what make_variant would throw before quantizing anything: an unknown recipe, a plan the
// reference cannot take, a type that needs an importance matrix, an importance matrix that does not
// load or fit, a quantized reference without allow_requantize. Cheap; a run checks every --quant with
// it before making the first.
void check_variant(const gguf::File& reference, const std::string& recipe_name, const MakeVariantOptions& options);

}  // namespace shootout::cli
