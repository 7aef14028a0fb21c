// plan_conversion: config.json to the converter's metadata (TextModel.set_gguf_parameters and the
// architecture classes' additions, in their order), the vocabulary, and the tensor plan; the in-memory
// File and the GGUF writer over that plan.
#include "convert/hf_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "convert/hf_naming.h"
#include "convert/hf_rope.h"
#include "convert/hf_tensors.h"
#include "convert/json.h"
#include "util/error.h"
#include "util/fp16.h"

namespace shootout::convert {

namespace fs = std::filesystem;
using gguf::Value;
using gguf::ValueType;

namespace {

Value u32(int64_t v) { return Value::make_uint(ValueType::UINT32, uint64_t(v)); }
Value f32(double v) { return Value::make_float(ValueType::FLOAT32, v); }

// HF architectures[0] (or model_type when a config lacks it) to the GGUF architecture.
std::string gguf_architecture(const Json& config, std::string& hf_arch, const std::string& where) {
    static const std::map<std::string, std::string> kArchs = {
        {"LlamaForCausalLM", "llama"},         {"LlamaModel", "llama"},
        {"Qwen2ForCausalLM", "qwen2"},         {"Qwen2Model", "qwen2"},
        {"Qwen3ForCausalLM", "qwen3"},         {"Qwen3Model", "qwen3"},
        {"Qwen3MoeForCausalLM", "qwen3moe"},   {"Qwen3NextForCausalLM", "qwen3next"},
    };
    static const std::map<std::string, std::string> kModelTypes = {
        {"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"},
        {"qwen3_moe", "Qwen3MoeForCausalLM"}, {"qwen3_next", "Qwen3NextForCausalLM"}};
    if (const Json* archs = config.find("architectures"); archs && archs->is_array() && !archs->items().empty()) {
        hf_arch = archs->items()[0].as_string();
    } else if (const Json* type = config.find("model_type"); type && type->is_string() && kModelTypes.count(type->as_string())) {
        hf_arch = kModelTypes.at(type->as_string());
    } else {
        fail(where, "no 'architectures' entry");
    }
    auto it = kArchs.find(hf_arch);
    if (it == kArchs.end())
        fail(where, "architecture " + hf_arch + " is not supported (llama, qwen2, qwen3, qwen3moe, qwen3next are)");
    return it->second;
}

std::string python_title(const std::string& word) {
    std::string out = word;
    bool prev_cased = false;
    for (char& c : out) {
        const bool alpha = std::isalpha((unsigned char)c);
        c = alpha ? (prev_cased ? char(std::tolower((unsigned char)c)) : char(std::toupper((unsigned char)c))) : c;
        prev_cased = alpha;
    }
    return out;
}

bool python_islower(const std::string& w) {
    bool cased = false;
    for (char c : w) {
        if (std::isupper((unsigned char)c)) return false;
        if (std::islower((unsigned char)c)) cased = true;
    }
    return cased;
}

// ^(v\d+(?:\.\d+)*|\d.*)$
bool looks_like_version(const std::string& w) {
    if (!w.empty() && std::isdigit((unsigned char)w[0])) return true;
    if (w.size() < 2 || w[0] != 'v') return false;
    bool digit_run = false;
    for (size_t i = 1; i < w.size(); ++i) {
        if (std::isdigit((unsigned char)w[i])) digit_run = true;
        else if (w[i] == '.' && digit_run) digit_run = false;
        else return false;
    }
    return digit_run;
}

std::string rounded_notation(int64_t count) {
    double scaled;
    const char* suffix;
    if (count > 1e12) { scaled = count * 1e-12; suffix = "T"; }
    else if (count > 1e9) { scaled = count * 1e-9; suffix = "B"; }
    else if (count > 1e6) { scaled = count * 1e-6; suffix = "M"; }
    else { scaled = count * 1e-3; suffix = "K"; }
    std::string digits = std::to_string((long long)std::nearbyint(scaled));  // Python round(): ties to even
    digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
    const int fix = std::max(2 - int(digits.size()), 0);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f%s", fix, scaled, suffix);
    return buf;
}

}  // namespace

std::string size_label(int64_t total_params, int64_t shared_params, int64_t expert_params, int64_t expert_count) {
    if (expert_count > 0)
        return std::to_string(expert_count) + "x" + rounded_notation(std::llabs(shared_params) + std::llabs(expert_params));
    return rounded_notation(std::llabs(total_params));
}

std::string id_to_title(const std::string& id) {
    std::string text = id;
    for (char& c : text)
        if (c == '-') c = ' ';
    std::string out, word;
    auto flush = [&] {
        if (word.empty()) return;
        if (!out.empty()) out += ' ';
        out += python_islower(word) && !looks_like_version(word) ? python_title(word) : word;
        word.clear();
    };
    for (char c : text) {
        if (std::isspace((unsigned char)c)) flush();
        else word += c;
    }
    flush();
    return out;
}

OutType parse_outtype(const std::string& name) {
    if (name == "auto") return OutType::Auto;
    if (name == "f32") return OutType::F32;
    if (name == "f16") return OutType::F16;
    if (name == "bf16") return OutType::BF16;
    if (name == "q8_0") return OutType::Q8_0;
    throw Error("--outtype must be f32, f16, bf16, q8_0 or auto, got '" + name + "'");
}

int64_t PlannedTensor::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

size_t PlannedTensor::size_bytes() const {
    const quant::TypeTraits& traits = quant::traits(type);
    return size_t(n_elements() / traits.block_size) * traits.bytes_per_block;
}

void PlannedTensor::fill(uint8_t* dst) const {
    if (raw) {
        std::memcpy(dst, raw, size_bytes());
        return;
    }
    std::vector<float> values_f32(static_cast<size_t>(n_elements()));
    values(values_f32.data());
    const int64_t n = n_elements();
    switch (type) {
        case quant::TypeId::F32: std::memcpy(dst, values_f32.data(), size_t(n) * 4); return;
        case quant::TypeId::F16:
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = fp32_to_fp16(values_f32[i]);
                std::memcpy(dst + 2 * i, &h, 2);
            }
            return;
        case quant::TypeId::BF16:
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = fp32_to_bf16(values_f32[i]);
                std::memcpy(dst + 2 * i, &h, 2);
            }
            return;
        default: quant::traits(type).from_float_ref(values_f32.data(), dst, n); return;
    }
}

bool is_hf_model_dir(const std::string& path) {
    std::error_code ec;
    return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "config.json", ec);
}

ConvertedModel plan_conversion(const std::string& dir, OutType outtype) {
    ConvertedModel model;
    model.dir = dir;
    const std::string config_path = (fs::path(dir) / "config.json").string();
    Json config = Json::parse(read_text_file(config_path), config_path);
    if (!config.is_object()) fail(config_path, "not a JSON object");
    std::string hf_arch;
    const std::string arch = gguf_architecture(config, hf_arch, config_path);
    model.architecture = arch;
    if (config.find("text_config")) fail(config_path, "text_config (multimodal configs) is not supported");
    model.checkpoint = Checkpoint::open(dir);
    const OutType resolved = resolve_outtype(*model.checkpoint, outtype);

    try {
        model.tensors = plan_tensors({model.checkpoint.get(), &config, arch, hf_arch, resolved}, model.notes);
    } catch (const Error& e) {
        fail(dir, e.what());
    }

    // gguf_writer.get_total_parameter_count over the written tensors.
    int64_t total = 0, shared = 0, expert = 0, expert_sum = 0, n_expert_tensors = 0;
    for (const PlannedTensor& t : model.tensors) {
        const int64_t size = t.n_elements();
        if (t.name.find("_exps.") != std::string::npos && t.shape.size() >= 3) {
            const int64_t count = t.name.find(".bias") != std::string::npos ? t.shape[1] : t.shape[2];
            expert += size / count;
            expert_sum += count;
            ++n_expert_tensors;
        } else {
            shared += size;
        }
        total += size;
    }
    const int64_t expert_count = n_expert_tensors > 0 ? expert_sum / n_expert_tensors : 0;

    auto& kv = model.metadata;
    auto add = [&](const std::string& key, Value v) { kv.emplace_back(key, std::move(v)); };
    auto akey = [&](const std::string& key) { return arch + "." + key; };
    add("general.architecture", Value::make_string(arch));
    add("general.type", Value::make_string("model"));
    // Metadata.load: the naming heuristic on _name_or_path (when it looks like a hub id), then on the
    // directory name; each field taken from the first that gives it. A README model card is not read.
    ModelIdParts naming;
    auto apply = [&](const std::string& id) {
        const ModelIdParts parts = model_id_components(id, total);
        auto take = [](std::optional<std::string>& field, const std::optional<std::string>& value, bool title) {
            if (!field && value) field = title ? id_to_title(*value) : *value;
        };
        take(naming.full_name, parts.full_name, true);
        take(naming.organization, parts.organization, true);
        take(naming.basename, parts.basename, false);
        take(naming.finetune, parts.finetune, false);
        take(naming.version, parts.version, false);
        take(naming.size_label, parts.size_label, false);
    };
    if (const Json* n = config.find("_name_or_path"); n && n->is_string() &&
        std::count(n->as_string().begin(), n->as_string().end(), '/') <= 1)
        apply(n->as_string());
    fs::path dir_path = fs::path(dir).lexically_normal();
    if (dir_path.filename().empty()) dir_path = dir_path.parent_path();
    if (dir_path.filename().empty() || dir_path.filename() == ".") dir_path = fs::absolute(dir_path).lexically_normal();
    apply(dir_path.filename().string());
    if (fs::is_regular_file(fs::path(dir) / "README.md"))
        model.notes.push_back("README.md model card metadata is not read (general.* may differ from llama.cpp's)");
    add("general.name", Value::make_string(naming.full_name.value_or(dir_path.filename().string())));
    if (naming.version) add("general.version", Value::make_string(*naming.version));
    if (naming.organization) add("general.organization", Value::make_string(*naming.organization));
    if (naming.finetune) add("general.finetune", Value::make_string(*naming.finetune));
    if (naming.basename) add("general.basename", Value::make_string(*naming.basename));
    if (naming.size_label) add("general.size_label", Value::make_string(*naming.size_label));
    else if (total > 0) add("general.size_label", Value::make_string(size_label(total, shared, expert, expert_count)));

    // TextModel.set_gguf_parameters
    const Json* layers = config.find_first({"n_layers", "num_hidden_layers", "n_layer", "num_layers"});
    if (!layers || !layers->is_integer()) fail(config_path, "no num_hidden_layers");
    add(akey("block_count"), u32(layers->as_int()));
    if (const Json* v = config.find_first({"max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                           "max_sequence_length", "model_max_length"}); v && !v->is_null())
        add(akey("context_length"), u32(v->as_int()));
    if (const Json* v = config.find_first({"hidden_size", "n_embd", "dim"}); v && !v->is_null())
        add(akey("embedding_length"), u32(v->as_int()));
    if (const Json* v = config.find_first({"prefix_dense_intermediate_size", "dense_intermediate_size",
                                           "intermediate_size", "n_inner", "hidden_dim"}); v && !v->is_null())
        add(akey("feed_forward_length"), u32(v->as_int()));
    if (const Json* v = config.find_first({"num_attention_heads", "n_head", "n_heads"}); v && !v->is_null())
        add(akey("attention.head_count"), u32(v->as_int()));
    if (const Json* v = config.find_first({"num_key_value_heads", "n_kv_heads"}); v && !v->is_null())
        add(akey("attention.head_count_kv"), u32(v->as_int()));
    if (const Json* v = config.find("is_causal"); v && v->is_bool() && !v->as_bool())
        add(akey("attention.causal"), Value::make_bool(false));

    const RopeSettings rope_cfg = rope_settings(config);
    const Json* rope = rope_cfg.params;
    if (!rope_cfg.type.empty()) {
        const std::string& t = rope_cfg.type;
        const Json* factor = rope->find("factor");
        if (t == "linear" && factor && factor->is_number()) {
            add(akey("rope.scaling.type"), Value::make_string("linear"));
            add(akey("rope.scaling.factor"), f32(factor->as_double()));
        } else if (is_llama3_rope(rope_cfg) && arch == "llama") {
            // No metadata: LlamaModel writes the factors as the rope_freqs.weight tensor (plan_tensors).
        } else if (t != "default") {
            fail(config_path, "RoPE type '" + t + "' is not supported by the safetensors reader yet");
        }
    }
    const Json* theta = rope_cfg.theta;
    if (theta && theta->is_number()) add(akey("rope.freq_base"), f32(theta->as_double()));
    if (const Json* v = config.find_first({"rms_norm_eps", "norm_eps"}); v && v->is_number())
        add(akey("attention.layer_norm_rms_epsilon"), f32(v->as_double()));
    if (const Json* v = config.find_first({"layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"});
        v && v->is_number())
        add(akey("attention.layer_norm_epsilon"), f32(v->as_double()));
    if (const Json* v = config.find_first({"num_local_experts", "num_experts", "n_routed_experts"});
        v && v->is_integer())
        add(akey("expert_count"), u32(v->as_int()));
    if (const Json* v = config.find_first({"num_experts_per_tok", "num_experts_per_token", "top_k_experts"});
        v && v->is_integer())
        add(akey("expert_used_count"), u32(v->as_int()));
    if (config.find_first({"n_group", "topk_group", "score_function", "scoring_func", "score_func"}))
        fail(config_path, "expert groups / scoring functions are not supported by the safetensors reader");
    if (const Json* v = config.find("head_dim"); v && v->is_integer()) {
        add(akey("attention.key_length"), u32(v->as_int()));
        add(akey("attention.value_length"), u32(v->as_int()));
    }
    static const std::map<OutType, int64_t> kFileType = {
        {OutType::F32, 0}, {OutType::F16, 1}, {OutType::Q8_0, 7}, {OutType::BF16, 32}};
    add("general.file_type", u32(kFileType.at(resolved)));

    // The architecture classes' additions.
    const Json* head_dim = config.find("head_dim");
    const int64_t n_embd = config.at("hidden_size").as_int();
    const int64_t n_head = config.at("num_attention_heads").as_int();
    const int64_t rope_dim = head_dim && head_dim->is_integer() ? head_dim->as_int() : n_embd / n_head;
    if (arch == "llama") {
        add(akey("vocab_size"), u32(config.at("vocab_size").as_int()));
        add(akey("rope.dimension_count"), u32(rope_dim));
    }
    if (arch == "qwen3moe" || arch == "qwen3next") {
        if (const Json* v = config.find("moe_intermediate_size"); v && v->is_integer())
            add(akey("expert_feed_forward_length"), u32(v->as_int()));
        if (const Json* v = config.find("shared_expert_intermediate_size"); v && v->is_integer())
            add(akey("expert_shared_feed_forward_length"), u32(v->as_int()));
    }
    if (arch == "qwen3next") {
        add(akey("ssm.conv_kernel"), u32(config.at("linear_conv_kernel_dim").as_int()));
        add(akey("ssm.state_size"), u32(config.at("linear_key_head_dim").as_int()));
        add(akey("ssm.group_count"), u32(config.at("linear_num_key_heads").as_int()));
        add(akey("ssm.time_step_rank"), u32(config.at("linear_num_value_heads").as_int()));
        add(akey("ssm.inner_size"),
            u32(config.at("linear_value_head_dim").as_int() * config.at("linear_num_value_heads").as_int()));
        const Json* interval = config.find("full_attention_interval");
        add(akey("full_attention_interval"), u32(interval && interval->is_integer() ? interval->as_int() : 4));
        // rope_parameters' partial_rotary_factor, mirrored from the top level when absent there.
        const Json* partial = rope->find("partial_rotary_factor");
        if (!partial) partial = config.find_first({"partial_rotary_factor", "rope_pct", "rope_percent"});
        const double factor = partial && partial->is_number() ? partial->as_double() : 0.25;
        add(akey("rope.dimension_count"), u32(int64_t(double(rope_dim) * factor)));
    }
    add("general.quantization_version", u32(2));

    const Json* vocab_size = config.find("vocab_size");
    HfVocab vocab = read_hf_vocab(dir, vocab_size && vocab_size->is_integer() ? vocab_size->as_int() : 0);
    if (!vocab.pre_from_hash)
        model.notes.push_back("tokenizer chkhsh " + vocab.chkhsh + " is unknown to llama.cpp's converter (it would stop); "
                              "tokenizer.ggml.pre '" + vocab.pre + "' was recognized from tokenizer.json's pre_tokenizer");
    for (auto& entry : vocab.metadata) kv.push_back(std::move(entry));
    return model;
}

std::unique_ptr<gguf::File> open_hf_model(const std::string& dir, OutType outtype) {
    ConvertedModel model = plan_conversion(dir, outtype);
    // Owned storage for the converted tensors, kept alive with the checkpoint's mappings.
    struct Storage {
        std::shared_ptr<Checkpoint> checkpoint;
        std::vector<std::vector<uint8_t>> buffers;
    };
    auto storage = std::make_shared<Storage>();
    storage->checkpoint = model.checkpoint;
    std::vector<gguf::TensorInfo> infos;
    for (const PlannedTensor& t : model.tensors) {
        gguf::TensorInfo info;
        info.name = t.name;
        info.shape = t.shape;
        info.type = t.type;
        info.size_bytes = t.size_bytes();
        if (t.raw) {
            info.data = t.raw;
        } else {
            storage->buffers.emplace_back(info.size_bytes);
            t.fill(storage->buffers.back().data());
            info.data = storage->buffers.back().data();
        }
        infos.push_back(std::move(info));
    }
    const size_t bytes = model.checkpoint->total_file_bytes();
    return gguf::File::assemble(dir, std::move(model.metadata), std::move(infos), bytes, storage);
}

void write_gguf(const ConvertedModel& model, const std::string& path) {
    gguf::Writer writer;
    for (const auto& [key, value] : model.metadata) writer.set(key, value);
    for (const PlannedTensor& t : model.tensors)
        writer.add_tensor(t.name, t.shape, t.type, [&t](uint8_t* dst, size_t) { t.fill(dst); });
    writer.write(path);
}

std::unique_ptr<gguf::File> open_model_file(const std::string& path) {
    if (is_hf_model_dir(path)) return open_hf_model(path);
    return gguf::File::open(path);
}

}  // namespace shootout::convert
