#include "cli/make_variant.h"

#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/loaded_model.h"
#include "gguf/gguf.h"
#include "quantize/imatrix.h"
#include "quantize/plan.h"
#include "quantize/quantize_model.h"
#include "quantize/recipe.h"

namespace shootout::cli {

namespace {

// The variant's plan and quantize options for the reference, handed to use() while the importance
// matrix they point at is alive: make_variant quantizes with them, check_variant only checks them.
template <typename F>
void with_variant_plan(const gguf::File& reference, const quantize::Recipe& recipe, const MakeVariantOptions& options,
                       F&& use) {
    std::optional<quantize::ImportanceMatrix> imatrix;
    if (!options.imatrix_path.empty()) imatrix = quantize::load_imatrix(options.imatrix_path);
    const quantize::Plan plan = quantize::make_plan(reference, recipe, imatrix.has_value());
    quantize::QuantizeOptions quantize_options;
    quantize_options.n_threads = options.n_threads;
    quantize_options.allow_requantize = options.allow_requantize;
    quantize_options.imatrix = imatrix ? &*imatrix : nullptr;
    if (imatrix) quantize_options.imatrix_label = options.imatrix_path;
    use(plan, quantize_options);
}

}  // namespace

std::string make_variant(const gguf::File& reference, const std::string& recipe_name, const MakeVariantOptions& options) {
    const quantize::Recipe recipe = quantize::recipe_named(recipe_name);
    std::string upper = recipe_name;
    for (auto& c : upper) c = (char)std::toupper((unsigned char)c);
    const std::filesystem::path output =
        std::filesystem::path(options.output_dir) / (display_name(reference.path()) + "-" + upper + ".gguf");

    std::error_code ec;
    if (std::filesystem::exists(output, ec) &&
        std::filesystem::last_write_time(output, ec) >= std::filesystem::last_write_time(reference.path(), ec)) {
        std::fprintf(stderr, "shootout: reusing %s (newer than the reference)\n", output.c_str());
        return output.string();
    }
    with_variant_plan(reference, recipe, options,
                      [&](const quantize::Plan& plan, const quantize::QuantizeOptions& quantize_options) {
                          const auto result = quantize::quantize_model(reference, plan, quantize_options, output.string());
                          std::fprintf(stderr, "shootout: quantized %s -> %s (%.2f MiB, %.2f bits per weight)\n",
                                       upper.c_str(), output.c_str(), result.output_bytes / 1048576.0,
                                       result.bits_per_weight());
                      });
    return output.string();
}

void check_variant(const gguf::File& reference, const std::string& recipe_name, const MakeVariantOptions& options) {
    with_variant_plan(reference, quantize::recipe_named(recipe_name), options,
                      [&](const quantize::Plan& plan, const quantize::QuantizeOptions& quantize_options) {
                          quantize::check_quantize_inputs(reference, plan, quantize_options);
                      });
}

}  // namespace shootout::cli
