// Compiled with -ffp-contract=off (CMakeLists.txt): llama3_rope_factors rounds every operation to
// float32 as torch does, and a fused multiply-add would round once where torch rounds twice.
#include "convert/hf_rope.h"

#include <cctype>
#include <cmath>
#include <numbers>

#include "util/error.h"

namespace shootout::convert {

namespace {

const Json& empty_object() {
    static const Json empty = Json::parse("{}", "");
    return empty;
}

}  // namespace

RopeSettings rope_settings(const Json& config) {
    RopeSettings out;
    // TextModel.__init__: hparams.get("rope_parameters", hparams.get("rope_scaling")) or {}.
    const Json* dict = config.find("rope_parameters") ? config.find("rope_parameters") : config.find("rope_scaling");
    if (!dict || dict->is_null()) dict = &empty_object();
    if (!dict->is_object()) throw Error("config.json: rope_parameters / rope_scaling is not an object");
    // The top-level rope settings are mirrored into the dict only when it is not split per layer type.
    out.mirrored = !dict->find("full_attention") && !dict->find("sliding_attention");
    out.params = dict->find("full_attention") ? &dict->at("full_attention") : dict;
    if (!out.params->is_object()) throw Error("config.json: rope full_attention settings are not an object");
    const Json* type = out.params->find("rope_type");
    if (!type && out.mirrored) type = out.params->find("type");
    if (type && type->is_string()) out.type = type->as_string();
    out.theta = out.params->find("rope_theta");
    if (!out.theta && out.mirrored)
        out.theta = config.find_first({"global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta",
                                       "rotary_emb_base"});
    return out;
}

bool is_llama3_rope(const RopeSettings& rope) {
    std::string lower = rope.type;
    for (char& c : lower) c = char(std::tolower((unsigned char)c));
    return lower == "llama3";
}

Llama3Rope llama3_rope(const Json& config, const RopeSettings& rope, const std::string& where) {
    Llama3Rope out;
    auto number = [&](const char* key, bool top_level_too) {
        const Json* v = rope.params->find(key);
        if (!v && top_level_too) v = config.find(key);
        if (!v || v->is_null())
            fail(where, std::string("rope_type llama3: rope_scaling has no '") + key + "'");
        if (!v->is_number()) fail(where, std::string("rope_type llama3: rope_scaling '") + key + "' is not a number");
        return v->as_double();
    };
    out.factor = number("factor", false);
    out.low_freq_factor = number("low_freq_factor", false);
    out.high_freq_factor = number("high_freq_factor", false);
    out.original_context = number("original_max_position_embeddings", rope.mirrored);
    if (rope.theta && !rope.theta->is_null()) {
        if (!rope.theta->is_number()) fail(where, "rope_type llama3: rope_theta is not a number");
        out.theta = rope.theta->as_double();
    }
    const Json* head_dim = config.find("head_dim");
    if (head_dim && !head_dim->is_null()) {
        if (!head_dim->is_integer()) fail(where, "rope_type llama3: head_dim is not an integer");
        out.n_rot = head_dim->as_int();
    } else {
        const Json* n_embd = config.find("hidden_size");
        const Json* n_head = config.find("num_attention_heads");
        if (!n_embd || !n_embd->is_integer() || !n_head || !n_head->is_integer() || n_head->as_int() <= 0)
            fail(where, "rope_type llama3: no head_dim, and no integer hidden_size / num_attention_heads");
        out.n_rot = n_embd->as_int() / n_head->as_int();
    }
    if (out.n_rot <= 0) fail(where, "head_dim must be positive for rope_type llama3");
    return out;
}

std::vector<float> llama3_rope_factors(const Llama3Rope& rope) {
    // Python scalars meet float32 tensors: each is rounded to float32 first, then the operation is
    // rounded to float32. The two wavelength bounds and the band width are computed in float64.
    const float base = float(rope.theta);
    const float dim = float(rope.n_rot);
    const float two_pi = float(2 * std::numbers::pi);
    const float high_freq_wavelen = float(rope.original_context / rope.high_freq_factor);
    const float low_freq_wavelen = float(rope.original_context / rope.low_freq_factor);
    const float context = float(rope.original_context);
    const float low_freq_factor = float(rope.low_freq_factor);
    const float band = float(rope.high_freq_factor - rope.low_freq_factor);
    const float factor = float(rope.factor);
    std::vector<float> out;
    for (int64_t i = 0; 2 * i < rope.n_rot; ++i) {
        const float exponent = float(2 * i) / dim;
        // torch's float32 pow, correctly rounded here (double, rounded once). torch's own is not, and
        // depends on the CPU: Sleef's powf for whole vectors, libm's powf for the tail (ATEN_CPU_CAPABILITY
        // default: libm only). Measured (tools/llama3_rope_golden.py --sweep, 352 settings, 18944
        // factors, torch 2.11): default and AVX2 differ in 22 factors, AVX2 and AVX-512 in 3; this
        // differs from each in 9 / 13 / 16, from none on Llama 3.1 / 3.2's settings (head_dim 128 and 64).
        const float power = float(std::pow(double(base), double(exponent)));
        const float freq = 1.0f / power;
        const float wavelen = (1.0f / freq) * two_pi;  // x / t is t.reciprocal() * x in torch
        if (wavelen < high_freq_wavelen) {
            out.push_back(1.0f);
        } else if (wavelen > low_freq_wavelen) {
            out.push_back(factor);
        } else {
            const float smooth = ((1.0f / wavelen) * context - low_freq_factor) / band;
            out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
        }
    }
    return out;
}

}  // namespace shootout::convert
