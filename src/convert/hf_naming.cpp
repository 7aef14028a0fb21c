#include "convert/hf_naming.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>
#include <set>
#include <vector>

namespace shootout::convert {

namespace {

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "-") + p;
    return out;
}

bool all_alpha(const std::string& s) {
    for (char c : s)
        if (!std::isalpha((unsigned char)c)) return false;
    return !s.empty();
}

std::string upper(std::string s) {
    for (char& c : s) c = char(std::toupper((unsigned char)c));
    return s;
}

}  // namespace

ModelIdParts model_id_components(const std::string& model_id, int64_t total_params) {
    ModelIdParts out;
    if (model_id.find(' ') != std::string::npos) {
        out.full_name = model_id;  // a sentence, not a hub id
        return out;
    }
    std::string name = model_id;
    if (const size_t slash = model_id.find('/'); slash != std::string::npos) {
        out.organization = model_id.substr(0, slash);
        name = model_id.substr(slash + 1);
        if (!out.organization->empty() && (*out.organization)[0] == '.') out.organization.reset();
    }
    out.full_name = name;

    std::vector<std::string> parts;
    for (size_t start = 0;;) {
        const size_t dash = name.find('-', start);
        const std::string part = name.substr(start, dash == std::string::npos ? std::string::npos : dash - start);
        if (!part.empty()) parts.push_back(part);
        if (dash == std::string::npos) break;
        start = dash + 1;
    }
    std::vector<std::set<std::string>> types(parts.size());
    const auto icase = std::regex::ECMAScript | std::regex::icase;
    static const std::regex kVersion("(v|iter)?\\d+([.]\\d+)*", icase);
    static const std::regex kType("i?q\\d(_\\w)*|b?fp?(16|32)", icase);
    static const std::regex kSize("(([A]|\\d+[x])?\\d+([._]\\d+)?[KMBT][\\d]?|small|mini|medium|large|x?xl)", icase);
    static const std::regex kFinetune("chat|instruct|vision|lora", icase);
    for (size_t i = 0; i < parts.size(); ++i) {
        std::string part = parts[i];
        if (std::regex_match(part, kVersion)) {
            types[i].insert("version");
        } else if (std::regex_match(part, kType)) {
            types[i].insert("type");
            parts[i] = upper(part);
        } else if (i > 0 && std::regex_match(part, kSize)) {
            for (char& c : part)
                if (c == '_') c = '.';
            if (std::isdigit((unsigned char)part.back()) && part.size() >= 2)
                part = part.substr(0, part.size() - 2) + "." + part.back() + part[part.size() - 2];
            if (part.size() > 1 && std::isdigit((unsigned char)part[part.size() - 2]) &&
                std::string("kmbt").find(part.back()) != std::string::npos)
                part.back() = char(std::toupper((unsigned char)part.back()));
            if (total_params != 0) {
                // float(part[:-1]): a plain decimal number, else Python raises and the part is kept.
                static const std::regex kNumber("[0-9]+([.][0-9]+)?");
                const std::string number = part.substr(0, part.size() - 1);
                const size_t scale = std::string(" KMBT").find(part.back());
                if (std::regex_match(number, kNumber) && scale != std::string::npos) {
                    const double label = std::stod(number) * std::pow(1000.0, double(scale));
                    if ((total_params < 0 && label < double(std::llabs(total_params) / 8)) ||
                        (total_params > 0 && std::fabs(label - double(total_params)) > double(7 * total_params / 8))) {
                        types[i].insert("finetune");
                        part.back() = char(std::tolower((unsigned char)part.back()));
                    }
                }
            }
            if (types[i].empty()) types[i].insert("size_label");
            parts[i] = part;
        } else if (i > 0 && std::regex_match(part, kFinetune)) {
            types[i].insert(total_params < 0 && upper(part) == "LORA" ? "type" : "finetune");
        }
    }
    bool numeric_size = false;
    for (size_t i = 0; i < parts.size(); ++i)
        if (types[i].count("size_label"))
            for (char c : parts[i]) numeric_size = numeric_size || std::isdigit((unsigned char)c);
    if (numeric_size)
        for (size_t i = 0; i < parts.size(); ++i)
            if (types[i].count("size_label") && all_alpha(parts[i])) types[i].erase("size_label");
    bool at_start = true;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (at_start && ((types[i].empty() && std::isalpha((unsigned char)parts[i][0])) || types[i].count("version"))) {
            types[i].insert("basename");
        } else {
            at_start = false;
            if (types[i].empty()) types[i].insert("finetune");
        }
    }
    for (size_t i = parts.size(); i-- > 0;) {
        if (types[i].count("basename") && types[i].size() > 1) types[i].erase("basename");
        else break;
    }
    std::vector<std::string> basename, size, finetune, version;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (types[i].count("basename")) basename.push_back(parts[i]);
        if (types[i].count("size_label") && std::find(size.begin(), size.end(), parts[i]) == size.end())
            size.push_back(parts[i]);
        if (types[i].count("finetune")) finetune.push_back(parts[i]);
        if (types[i].count("version") && !types[i].count("basename")) version.push_back(parts[i]);
    }
    if (!basename.empty()) out.basename = join(basename);
    if (!size.empty()) out.size_label = join(size);
    if (!finetune.empty()) out.finetune = join(finetune);
    if (!version.empty()) out.version = join(version);
    if (!out.size_label && !out.finetune && !out.version) out.basename.reset();
    return out;
}

}  // namespace shootout::convert
