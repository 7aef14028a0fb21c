// tokenizer.json (+ tokenizer_config.json, config.json) to tokenizer.ggml.* as convert_hf_to_gguf.py's
// _set_vocab_gpt2 writes them: get_vocab_base (tokens, token types, the chkhsh pre-tokenizer
// detection) and gguf-py's SpecialVocab (merges, special token ids, add_*_token, chat template).
#include <algorithm>
#include <filesystem>
#include <optional>
#include <map>
#include <set>

#include "convert/hf_model.h"
#include "convert/hf_pre_hashes.h"
#include "convert/json.h"
#include "model/tokenizer.h"
#include "util/error.h"
#include "util/sha256.h"

namespace shootout::convert {

namespace fs = std::filesystem;
using gguf::Value;
using gguf::ValueType;

namespace {

// convert_hf_to_gguf.py's chktxt.
const char* const kChkTxt =
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\xF0\x9F\x9A\x80 (normal) \xF0\x9F\x98\xB6\xE2\x80\x8D"
    "\xF0\x9F\x8C\xAB\xEF\xB8\x8F (multiple emojis concatenated) \xE2\x9C\x85 \xF0\x9F\xA6\x99\xF0\x9F\xA6\x99 3 33 "
    "333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "\xE1\x9E\x80\xE1\x9E\xB6\xE1\x9E\x93\xE1\x9F\x8B\xE1\x9E\x8F\xE1\x9F\x82\xE1\x9E\x96\xE1\x9E\xB7\xE1\x9E\x9F"
    "\xE1\x9F\x81\xE1\x9E\x9F\xE1\x9E\xA2\xE1\x9E\xB6\xE1\x9E\x85\xF0\x9F\x98\x81 ?\xE6\x88\x91\xE6\x83\xB3\xE5\x9C"
    "\xA8" "apple\xE5\xB7\xA5\xE4\xBD\x9C" "1314151\xE5\xA4\xA9\xEF\xBD\x9E ------======= "
    "\xD0\xBD\xD0\xB5\xD1\x89\xD0\xBE \xD0\xBD\xD0\xB0 \xD0\x91\xD1\x8A\xD0\xBB\xD0\xB3\xD0\xB0\xD1\x80\xD1\x81"
    "\xD0\xBA\xD0\xB8 ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not "
    "sure I'll make it, 'D you like some tea? We'Ve a'lL";

// gguf.TokenType
enum TokenType : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

const char* const kGpt2Regex = nullptr;  // ByteLevel's own regex (use_regex true)
const char* const kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
const char* const kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The pre-tokenizer name whose llama.cpp implementation is exactly tokenizer.json's pre_tokenizer
// section, for the few layouts recognized; empty otherwise.
std::string structural_pre(const Json& tokenizer) {
    const Json* pre = tokenizer.find("pre_tokenizer");
    const Json* normalizer = tokenizer.find("normalizer");
    if (!pre || !pre->is_object() || (normalizer && !normalizer->is_null())) return "";
    const Json* type = pre->find("type");
    if (!type || !type->is_string()) return "";
    if (type->as_string() == "ByteLevel") {
        const Json* use_regex = pre->find("use_regex");
        const Json* prefix = pre->find("add_prefix_space");
        if ((!use_regex || use_regex->as_bool()) && (!prefix || !prefix->as_bool())) return "gpt-2";
        return "";
    }
    if (type->as_string() != "Sequence") return "";
    const Json* list = pre->find("pretokenizers");
    if (!list || !list->is_array() || list->items().size() != 2) return "";
    const Json& split = list->items()[0];
    const Json& byte_level = list->items()[1];
    const Json* split_type = split.find("type");
    const Json* bl_type = byte_level.find("type");
    const Json* bl_regex = byte_level.find("use_regex");
    if (!split_type || !split_type->is_string() || split_type->as_string() != "Split") return "";
    if (!bl_type || !bl_type->is_string() || bl_type->as_string() != "ByteLevel" || !bl_regex || bl_regex->as_bool())
        return "";
    const Json* pattern = split.find("pattern");
    const Json* regex = pattern ? pattern->find("Regex") : nullptr;
    if (!regex || !regex->is_string()) return "";
    if (regex->as_string() == kQwen2Regex) return "qwen2";
    if (regex->as_string() == kLlama3Regex) return "llama-bpe";
    (void)kGpt2Regex;
    return "";
}

std::string python_list(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(ids[i]);
    }
    return s + "]";
}

Value string_array(const std::vector<std::string>& items) {
    std::vector<Value> values;
    values.reserve(items.size());
    for (const auto& s : items) values.push_back(Value::make_string(s));
    return Value::make_array(ValueType::STRING, std::move(values));
}

std::optional<Json> load_json_if_present(const fs::path& path) {
    if (!fs::is_regular_file(path)) return std::nullopt;
    return Json::parse(read_text_file(path.string()), path.string());
}

}  // namespace

HfVocab read_hf_vocab(const std::string& dir, int64_t vocab_size) {
    const fs::path tokenizer_path = fs::path(dir) / "tokenizer.json";
    if (fs::is_regular_file(fs::path(dir) / "tokenizer.model"))
        fail(dir, "has a SentencePiece tokenizer.model: only byte-level BPE tokenizers (tokenizer.json) are read");
    if (!fs::is_regular_file(tokenizer_path)) fail(dir, "no tokenizer.json");
    const std::string where = tokenizer_path.string();
    const Json tokenizer = Json::parse(read_text_file(where), where);
    const std::optional<Json> tokenizer_config = load_json_if_present(fs::path(dir) / "tokenizer_config.json");
    const std::optional<Json> config = load_json_if_present(fs::path(dir) / "config.json");

    const Json& model = tokenizer.at("model");
    const Json* model_type = model.find("type");
    if (!model_type || !model_type->is_string() || model_type->as_string() != "BPE")
        fail(where, "tokenizer model is not BPE (only byte-level BPE tokenizers are read)");

    // tokenizer.vocab of a fast tokenizer: the model's vocabulary plus the added tokens.
    std::map<int64_t, std::string> reverse;
    for (const auto& [text, id] : model.at("vocab").members()) reverse[id.as_int()] = text;
    struct Added { std::string content; bool special = false; bool normalized = false; };
    std::map<int64_t, Added> added;
    const Json* added_tokens = tokenizer.find("added_tokens");
    if (added_tokens && added_tokens->is_array())
        for (const Json& a : added_tokens->items()) {
            const int64_t id = a.at("id").as_int();
            Added entry{a.at("content").as_string(), a.find("special") && a.at("special").as_bool(),
                        a.find("normalized") && a.at("normalized").as_bool()};
            reverse[id] = entry.content;
            added[id] = entry;
        }
    if (vocab_size <= 0) vocab_size = int64_t(reverse.size());
    if (!reverse.empty() && reverse.rbegin()->first >= vocab_size)
        fail(where, "token id " + std::to_string(reverse.rbegin()->first) + " is not below vocab_size " +
                        std::to_string(vocab_size));

    std::set<std::string> added_contents;
    for (const auto& [id, a] : added) added_contents.insert(a.content);
    std::vector<std::string> tokens;
    std::vector<Value> types;
    for (int64_t i = 0; i < vocab_size; ++i) {
        auto it = reverse.find(i);
        if (it == reverse.end()) {
            tokens.push_back("[PAD" + std::to_string(i) + "]");
            types.push_back(Value::make_int(ValueType::INT32, kUnused));
            continue;
        }
        std::string token = it->second;
        int32_t type = kNormal;
        if (added_contents.count(token)) {
            auto a = added.find(i);
            const bool special = a != added.end() && a->second.special;
            const bool looks_special = token == "<pad>" || token == "<mask>" || token == "<2mass>" ||
                                       token == "[@BOS@]" || (token.starts_with("<|") && token.ends_with("|>")) ||
                                       (token.starts_with("<\xEF\xBD\x9C") && token.ends_with("\xEF\xBD\x9C>")) ||
                                       (token.starts_with("<unused") && token.ends_with(">"));
            if (special || looks_special) {
                type = kControl;
            } else {
                type = kUserDefined;
                for (size_t p; (p = token.find("\xE2\x96\x81")) != std::string::npos;) token.replace(p, 3, " ");
            }
        }
        tokens.push_back(token);
        types.push_back(Value::make_int(ValueType::INT32, type));
    }

    // Merges: "a b" strings, or [a, b] pairs with spaces inside a part written as U+0120.
    std::vector<std::string> merges;
    if (const Json* m = model.find("merges"); m && m->is_array()) {
        for (const Json& entry : m->items()) {
            if (entry.is_string()) {
                merges.push_back(entry.as_string());
                continue;
            }
            const auto& pair = entry.items();
            if (pair.size() != 2) fail(where, "a merge is neither a string nor a pair");
            std::string joined;
            for (size_t k = 0; k < 2; ++k) {
                if (k) joined += ' ';
                for (char c : pair[k].as_string()) joined += c == ' ' ? std::string("\xC4\xA0") : std::string(1, c);
            }
            merges.push_back(joined);
        }
    }

    // SpecialVocab: special token ids and add_*_token flags, in its insertion order.
    static const char* const kTypes[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
    std::vector<std::pair<std::string, int64_t>> special_ids;
    std::vector<std::pair<std::string, bool>> add_flags;
    auto set_special = [&](const std::string& typ, const Json* id) {
        if (!id || !id->is_integer()) return;
        if (id->as_int() < 0) fail(where, "negative id for special token " + typ);
        for (const auto& [t, v] : special_ids)
            if (t == typ) return;
        special_ids.emplace_back(typ, id->as_int());
    };
    auto set_add = [&](const std::string& typ, bool value) {
        for (auto& [t, v] : add_flags)
            if (t == typ) { v = value; return; }
        add_flags.emplace_back(typ, value);
    };
    auto config_token = [&](const char* key) -> std::string {
        const Json* v = tokenizer_config ? tokenizer_config->find(key) : nullptr;
        if (!v) return "";
        if (v->is_string()) return v->as_string();
        if (v->is_object() && v->find("content") && v->at("content").is_string()) return v->at("content").as_string();
        return "";
    };
    const std::string special_bos = config_token("bos_token"), special_eos = config_token("eos_token");
    const std::string special_cls = config_token("cls_token");
    std::string template_bos, template_eos;  // from a TemplateProcessing post-processor
    if (const Json* post = tokenizer.find("post_processor"); post && post->is_object()) {
        std::vector<const Json*> processors;
        if (const Json* list = post->find("processors"); list && list->is_array())
            for (const Json& p : list->items()) processors.push_back(&p);
        else
            processors.push_back(post);
        for (const Json* p : processors) {
            const Json* type = p->find("type");
            if (!type || !type->is_string()) continue;
            if (type->as_string() == "RobertaProcessing") {
                set_add("bos", true);
                set_add("eos", true);
                set_add("sep", true);
            } else if (type->as_string() == "TemplateProcessing") {
                const Json* single = p->find("single");
                if (!single || !single->is_array() || single->items().size() <= 1) continue;
                auto special_of = [](const Json& item) -> std::string {
                    const Json* s = item.find("SpecialToken");
                    return s && s->find("id") && s->at("id").is_string() ? s->at("id").as_string() : "";
                };
                const std::string first = special_of(single->items().front());
                const std::string last = special_of(single->items().back());
                if (!first.empty()) {
                    if (!tokenizer_config || (special_bos.empty() && first != special_cls)) template_bos = first;
                    set_add("bos", first == special_bos || first == special_cls || template_bos == first);
                }
                if (!last.empty()) {
                    if (!tokenizer_config) template_eos = last;
                    else if (last != special_eos)
                        fail(where, "TemplateProcessing appends '" + last + "', not the EOS token: not supported");
                    set_add("eos", true);
                }
            }
        }
    }
    auto id_of_added = [&](const std::string& content) -> const Json* {
        if (added_tokens && added_tokens->is_array())
            for (const Json& a : added_tokens->items())
                if (a.at("content").as_string() == content) return &a.at("id");
        return nullptr;
    };
    std::optional<std::string> chat_template;
    if (tokenizer_config && !tokenizer_config->members().empty()) {
        const Json* tmpl = tokenizer_config->find("chat_template");
        if (tmpl && tmpl->is_string()) chat_template = tmpl->as_string();
        else if (tmpl && !tmpl->is_null()) fail(where, "a chat_template list is not supported");
        else if (fs::is_regular_file(fs::path(dir) / "chat_template.jinja"))
            chat_template = read_text_file((fs::path(dir) / "chat_template.jinja").string());
        else if (auto j = load_json_if_present(fs::path(dir) / "chat_template.json"); j && j->find("chat_template"))
            chat_template = j->at("chat_template").as_string();
        for (const char* typ : kTypes) {
            const std::string t(typ);
            if (const Json* add = tokenizer_config->find("add_" + t + "_token"); add && add->is_bool())
                set_add(t, add->as_bool());
            std::string content = config_token((t + "_token").c_str());
            if (t == "bos" && content.empty()) content = template_bos.empty() ? special_cls : template_bos;
            if (!content.empty()) set_special(t, id_of_added(content));
        }
    } else {
        if (!template_bos.empty()) set_special("bos", id_of_added(template_bos));
        if (!template_eos.empty()) set_special("eos", id_of_added(template_eos));
    }
    if (config)
        for (const char* typ : kTypes) {
            const Json* id = config->find(std::string(typ) + "_token_id");
            if (!id && config->find("text_config")) id = config->at("text_config").find(std::string(typ) + "_token_id");
            set_special(typ, id);
        }

    HfVocab vocab;
    std::vector<std::pair<std::string, Value>> specials;
    static const std::map<std::string, std::string> kIdKeys = {
        {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
        {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
        {"pad", "tokenizer.ggml.padding_token_id"}, {"cls", "tokenizer.ggml.cls_token_id"},
        {"mask", "tokenizer.ggml.mask_token_id"}};
    for (const auto& [typ, id] : special_ids) specials.emplace_back(kIdKeys.at(typ), Value::make_uint(ValueType::UINT32, uint64_t(id)));
    for (const auto& [typ, value] : add_flags) {
        if (typ != "bos" && typ != "eos" && typ != "sep") continue;  // gguf-py has no writer for the others
        specials.emplace_back("tokenizer.ggml.add_" + typ + "_token", Value::make_bool(value));
    }
    if (chat_template) specials.emplace_back("tokenizer.chat_template", Value::make_string(*chat_template));

    // Pre-tokenizer: hash our tokenization of chktxt under each candidate and look it up in llama.cpp's
    // table; the candidate matching tokenizer.json's own pre_tokenizer section goes first.
    const std::string structural = structural_pre(tokenizer);
    std::vector<std::string> candidates;
    if (!structural.empty()) candidates.push_back(structural);
    for (const char* c : {"gpt-2", "qwen2", "llama-bpe", "smollm", "dbrx", "deepseek-llm", "deepseek-coder", "falcon",
                          "bloom", "viking", "default"})
        if (c != structural) candidates.push_back(c);
    std::string structural_hash;
    for (const std::string& candidate : candidates) {
        std::vector<std::pair<std::string, Value>> kv = {
            {"general.architecture", Value::make_string("vocab")},
            {"tokenizer.ggml.model", Value::make_string("gpt2")},
            {"tokenizer.ggml.pre", Value::make_string(candidate)},
            {"tokenizer.ggml.tokens", string_array(tokens)},
            {"tokenizer.ggml.token_type", Value::make_array(ValueType::INT32, types)},
            {"tokenizer.ggml.merges", string_array(merges)},
            {"tokenizer.ggml.add_bos_token", Value::make_bool(false)},
        };
        auto file = gguf::File::assemble(where, std::move(kv), {}, 0, nullptr);
        const auto tok = Tokenizer::from_gguf(*file);
        std::vector<int32_t> ids = tok->tokenize(kChkTxt, false, false);
        if (!template_bos.empty() || (!special_bos.empty() && std::find_if(add_flags.begin(), add_flags.end(), [](auto& f) {
                                           return f.first == "bos" && f.second;
                                       }) != add_flags.end())) {
            const Json* id = id_of_added(template_bos.empty() ? special_bos : template_bos);
            if (id) ids.insert(ids.begin(), int32_t(id->as_int()));
        }
        const std::string hash = sha256_hex(python_list(ids).data(), python_list(ids).size());
        if (candidate == structural) structural_hash = hash;
        for (const KnownPreHash& known : kKnownPreHashes)
            if (hash == known.chkhsh) {
                vocab.pre = known.pre;
                vocab.chkhsh = hash;
                vocab.pre_from_hash = true;
                break;
            }
        if (vocab.pre_from_hash) break;
    }
    if (!vocab.pre_from_hash) {
        if (structural.empty())
            fail(where, "BPE pre-tokenizer not recognized: its chkhsh is unknown to llama.cpp's "
                        "convert_hf_to_gguf.py and its pre_tokenizer section is not one Shootout maps");
        vocab.pre = structural;
        vocab.chkhsh = structural_hash;
    }

    vocab.metadata = {
        {"tokenizer.ggml.model", Value::make_string("gpt2")},
        {"tokenizer.ggml.pre", Value::make_string(vocab.pre)},
        {"tokenizer.ggml.tokens", string_array(tokens)},
        {"tokenizer.ggml.token_type", Value::make_array(ValueType::INT32, std::move(types))},
    };
    if (!merges.empty()) vocab.metadata.emplace_back("tokenizer.ggml.merges", string_array(merges));
    for (auto& kv : specials) vocab.metadata.push_back(std::move(kv));
    return vocab;
}

}  // namespace shootout::convert
