#include "model/tokenizer_vocab.h"

#include <algorithm>
#include <cctype>

#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::tokenizer_detail {
namespace {

// llama_token_type as stored in tokenizer.ggml.token_type -> attribute.
uint16_t attr_of_type(int64_t type) {
    switch (type) {
        case 1: return kAttrNormal;
        case 2: return kAttrUnknown;
        case 3: return kAttrControl;
        case 4: return kAttrUserDefined;
        case 5: return kAttrUnused;
        case 6: return kAttrByte;
        default: return kAttrUndefined;
    }
}

template <typename List>
bool is_one_of(std::string_view text, const List& list) {
    return std::find(std::begin(list), std::end(list), text) != std::end(list);
}
bool is_one_of(std::string_view text, std::initializer_list<std::string_view> list) {
    return std::find(list.begin(), list.end(), text) != list.end();
}

const gguf::Value* find_array(const gguf::File& file, const char* key, gguf::ValueType element_type) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return nullptr;
    if (value->type() != gguf::ValueType::ARRAY || value->array_type() != element_type)
        fail(file.path(), std::string("metadata ") + key + " has the wrong type");
    return value;
}

// Special ids: llama.cpp's per-kind default (disabled when out of range), replaced by the key when the
// key holds an id inside the vocabulary. Returns whether the key set it.
bool read_special_id(const gguf::File& file, const char* key, int32_t n_tokens, int32_t& id) {
    if (id >= n_tokens) id = -1;
    const gguf::Value* value = file.find(key);
    if (value == nullptr) return false;
    const int64_t new_id = value->as_int();
    if (new_id < 0 || new_id >= n_tokens) return false;
    id = int32_t(new_id);
    return true;
}

// The attributes llama.cpp adds by token text after loading (control-looking tokens, gpt-oss and
// gemma4 workarounds, per-model lstrip/rstrip).
void apply_text_rules(const gguf::File& file, Vocab& vocab, bool has_eot, bool has_eom, bool has_fim[6]) {
    auto make_control = [&](int32_t id) { vocab.attrs[id] |= kAttrControl; };
    // One token per role is detected (when the metadata names none) and made a control token; llama.cpp
    // takes the first it meets in hash order, this takes the lowest id.
    struct Role {
        bool found;
        std::vector<std::string_view> texts;
    };
    const std::string_view eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
        "<end_of_utterance>"};
    Role roles[] = {
        {has_eot, {}},
        {has_eom, {"<|eom_id|>"}},
        {has_fim[0], {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
                      "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>"}},
        {has_fim[1], {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
                      "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>"}},
        {has_fim[2], {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
                      "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"}},
        {has_fim[3], {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
        {has_fim[4], {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
        {has_fim[5], {"<|file_sep|>"}},
    };
    for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
        const std::string& text = vocab.texts[id];
        if (vocab.find(text) != id) continue;  // llama.cpp walks its text -> id map
        if (!roles[0].found && std::find(std::begin(eot_texts), std::end(eot_texts), text) != std::end(eot_texts)) {
            roles[0].found = true;
            make_control(id);
        }
        for (size_t r = 1; r < std::size(roles); ++r) {
            if (!roles[r].found && is_one_of<std::vector<std::string_view>>(text, roles[r].texts)) {
                roles[r].found = true;
                make_control(id);
            }
        }
    }
    // End-of-generation tokens by text are all made control tokens.
    for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
        const std::string& text = vocab.texts[id];
        if (vocab.find(text) != id) continue;
        if (std::find(std::begin(eot_texts), std::end(eot_texts), text) != std::end(eot_texts) ||
            is_one_of(text, {"<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "</s>", "<|eom_id|>", "<eos>",
                             "<turn|>", "<|tool_response>", "[EOS]", "[e~["})) {
            make_control(id);
        }
    }
    for (std::string_view text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
        if (int32_t id = vocab.find(text); id >= 0) vocab.attrs[id] = kAttrUserDefined;
    }
    auto has = [&](std::string_view text) { return vocab.find(text) >= 0; };
    const bool has_call = has("<|call|>") || has("<|calls|>");
    if (has("<|end|>") && has_call && (has("<|return|>") || has("<|flush|>"))) {
        vocab.attrs[vocab.find("<|end|>")] = kAttrUserDefined;
    }
    if (has("<|tool_response>") && has("</s>")) vocab.attrs[vocab.find("</s>")] = kAttrNormal;

    // Special tokens in split order (llama.cpp sorts by length only; ties keep id order here).
    for (int32_t id = 0; id < vocab.n_tokens(); ++id) {
        if (vocab.attrs[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) vocab.special_tokens.push_back(id);
    }
    std::stable_sort(vocab.special_tokens.begin(), vocab.special_tokens.end(),
                     [&](int32_t a, int32_t b) { return vocab.texts[a].size() > vocab.texts[b].size(); });

    // Per-model strip rules, keyed by names as llama.cpp keys them.
    std::string name = file.get_string("general.name", "");
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    const std::string arch = file.get_string("general.architecture", "");
    auto contains = [](const std::string& s, std::initializer_list<std::string_view> parts) {
        return std::any_of(parts.begin(), parts.end(), [&](std::string_view p) { return s.find(p) != std::string::npos; });
    };
    auto set_attr = [&](std::string_view text, uint16_t attr, bool on) {
        const int32_t id = vocab.find(text);
        if (id < 0) return;
        vocab.attrs[id] = on ? (vocab.attrs[id] | attr) : (vocab.attrs[id] & ~attr);
    };
    if (contains(vocab.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) || contains(arch, {"nomic-bert-moe", "jina-bert-v3"})) {
        set_attr("<mask>", kAttrLstrip, true);
    } else if (contains(name, {"phi-3", "phi3"})) {
        for (int32_t id : vocab.special_tokens) vocab.attrs[id] |= kAttrRstrip;
        set_attr("</s>", kAttrRstrip, true);
        for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) set_attr(text, kAttrRstrip, false);
    } else if (contains(name, {"modern-bert"})) {
        set_attr("[MASK]", kAttrLstrip, true);
    }
}

}  // namespace

Vocab load_vocab(const gguf::File& file) {
    Vocab vocab;
    vocab.source = file.path();
    const std::string model = file.get_string("tokenizer.ggml.model", "");
    if (model.empty()) fail(file.path(), "no tokenizer (metadata tokenizer.ggml.model missing)");
    vocab.pre = file.get_string("tokenizer.ggml.pre", "");

    int32_t bos = -1, eos = -1, unk = -1;
    if (model == "llama") {
        vocab.kind = VocabKind::Spm;
        bos = 1, eos = 2, unk = 0;
        vocab.add_bos = true;
        vocab.add_space_prefix = true;
    } else if (model == "gpt2") {
        vocab.kind = VocabKind::Bpe;
        bos = 11, eos = 11;
        auto config = pre_tokenizer_config(vocab.pre);
        if (!config) fail(file.path(), "unsupported pre-tokenizer tokenizer.ggml.pre = '" + vocab.pre + "'");
        vocab.pre_config = std::move(*config);
        vocab.add_bos = vocab.pre_config.add_bos;
        if (vocab.pre_config.no_bos) bos = -1;
    } else {
        fail(file.path(), "unsupported tokenizer model tokenizer.ggml.model = '" + model + "' (supported: llama, gpt2)");
    }
    vocab.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);

    const gguf::Value* tokens = find_array(file, "tokenizer.ggml.tokens", gguf::ValueType::STRING);
    if (tokens == nullptr) fail(file.path(), "no vocabulary (metadata tokenizer.ggml.tokens missing)");
    const auto& token_values = tokens->as_array();
    const int32_t n_tokens = int32_t(token_values.size());

    const gguf::Value* scores = find_array(file, "tokenizer.ggml.scores", gguf::ValueType::FLOAT32);
    if (scores != nullptr && int64_t(scores->as_array().size()) < n_tokens)
        fail(file.path(), "tokenizer.ggml.scores has fewer entries than tokenizer.ggml.tokens");
    const gguf::Value* types = file.find("tokenizer.ggml.token_type");
    if (types != nullptr && (types->type() != gguf::ValueType::ARRAY || int64_t(types->as_array().size()) < n_tokens))
        fail(file.path(), "tokenizer.ggml.token_type is not an array as long as tokenizer.ggml.tokens");

    vocab.texts.resize(n_tokens);
    vocab.scores.assign(n_tokens, 0.0f);
    vocab.attrs.assign(n_tokens, kAttrNormal);
    for (int32_t id = 0; id < n_tokens; ++id) {
        vocab.texts[id] = token_values[id].as_string();
        if (vocab.texts[id].empty()) vocab.texts[id] = "[EMPTY_" + std::to_string(id) + "]";
        if (scores != nullptr) vocab.scores[id] = float(scores->as_array()[id].as_float());
        if (types != nullptr) vocab.attrs[id] = attr_of_type(types->as_array()[id].as_int());
    }
    vocab.text_to_id.reserve(n_tokens);
    for (int32_t id = 0; id < n_tokens; ++id) vocab.text_to_id[vocab.texts[id]] = id;

    if (vocab.kind == VocabKind::Bpe) {
        const gguf::Value* merges = find_array(file, "tokenizer.ggml.merges", gguf::ValueType::STRING);
        if (merges == nullptr) fail(file.path(), "BPE vocabulary without tokenizer.ggml.merges");
        const auto& merge_values = merges->as_array();
        vocab.merge_by_ids.reserve(merge_values.size());
        std::string joined;
        for (size_t rank = 0; rank < merge_values.size(); ++rank) {
            const std::string& merge = merge_values[rank].as_string();
            const size_t space = merge.find(' ', 1);  // llama.cpp splits at the first space after the first byte
            if (space == std::string::npos) continue;  // it keys such a merge by ("", ""), which never applies
            const std::string_view left = std::string_view(merge).substr(0, space);
            const std::string_view right = std::string_view(merge).substr(space + 1);
            const int32_t left_id = vocab.find(left), right_id = vocab.find(right);
            if (left_id >= 0 && right_id >= 0) {
                joined.assign(left).append(right);
                // The first rank of a repeated pair wins, as with llama.cpp's emplace.
                vocab.merge_by_ids.emplace(Vocab::pair_key(left_id, right_id), Vocab::Merge{int32_t(rank), vocab.find(joined)});
            } else {
                vocab.merge_rank_by_text.emplace(merge, int32_t(rank));
            }
        }
    }

    read_special_id(file, "tokenizer.ggml.bos_token_id", n_tokens, bos);
    read_special_id(file, "tokenizer.ggml.eos_token_id", n_tokens, eos);
    read_special_id(file, "tokenizer.ggml.unknown_token_id", n_tokens, unk);
    vocab.bos_id = bos, vocab.eos_id = eos, vocab.unk_id = unk;
    int32_t unused = -1;
    const bool has_eot = read_special_id(file, "tokenizer.ggml.eot_token_id", n_tokens, unused);
    const bool has_eom = read_special_id(file, "tokenizer.ggml.eom_token_id", n_tokens, unused);
    bool has_fim[6] = {
        bool(read_special_id(file, "tokenizer.ggml.fim_pre_token_id", n_tokens, unused) |
             read_special_id(file, "tokenizer.ggml.prefix_token_id", n_tokens, unused)),
        bool(read_special_id(file, "tokenizer.ggml.fim_suf_token_id", n_tokens, unused) |
             read_special_id(file, "tokenizer.ggml.suffix_token_id", n_tokens, unused)),
        bool(read_special_id(file, "tokenizer.ggml.fim_mid_token_id", n_tokens, unused) |
             read_special_id(file, "tokenizer.ggml.middle_token_id", n_tokens, unused)),
        read_special_id(file, "tokenizer.ggml.fim_pad_token_id", n_tokens, unused),
        read_special_id(file, "tokenizer.ggml.fim_rep_token_id", n_tokens, unused),
        read_special_id(file, "tokenizer.ggml.fim_sep_token_id", n_tokens, unused),
    };
    vocab.add_bos = file.get_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
    vocab.add_eos = file.get_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);

    apply_text_rules(file, vocab, has_eot, has_eom, has_fim);
    return vocab;
}

}  // namespace shootout::tokenizer_detail
