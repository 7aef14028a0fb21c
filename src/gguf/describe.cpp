// `shootout inspect`: a listing meant to be pasted into an issue, so columns line up and long values
// (token lists, chat templates) are summarized unless asked for in full.
#include "gguf/describe.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>

namespace shootout::gguf {

namespace {

constexpr size_t kArrayElementsShown = 5;
constexpr size_t kStringCharsShown = 60;

// Shortest text that reads back to the same float / double; plain digits (100000, 0.001) where they
// stay short, an exponent (1e-05) for tiny and huge magnitudes.
template <typename T>
std::string shortest(T v) {
    char buf[400];  // fixed notation of a large double needs over 300 digits
    const T magnitude = v < 0 ? -v : v;
    const bool plain = magnitude == 0 || (magnitude >= (T)1e-4 && magnitude < (T)1e15);
    auto result = plain ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                        : std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, result.ptr);
}

std::string escaped(const std::string& s, bool full) {
    std::string out = "\"";
    const size_t n = full ? s.size() : std::min(s.size(), kStringCharsShown);
    for (size_t i = 0; i < n; ++i) {
        const unsigned char c = (unsigned char)s[i];
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\x%02x", c);
                    out += buf;
                } else {
                    out += (char)c;  // UTF-8 passes through
                }
        }
    }
    out += "\"";
    if (n < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
    return out;
}

std::string with_commas(uint64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string human_bytes(uint64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
    return buf;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

std::string type_name(quant::TypeId id) { return quant::traits(id).name; }

std::string pad_right(std::string s, size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
}

std::string pad_left(std::string s, size_t width) {
    if (s.size() < width) s.insert(0, width - s.size(), ' ');
    return s;
}

// "uint32", "string[16384]", "array[2] of uint8[3]"-style type text for the type column.
std::string type_text(const Value& v) {
    if (v.type() != ValueType::ARRAY) return value_type_name(v.type());
    return std::string(value_type_name(v.array_type())) + "[" + std::to_string(v.as_array().size()) + "]";
}

}  // namespace

std::string format_value(const Value& v, bool full) {
    switch (v.type()) {
        case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
            return std::to_string(v.as_uint());
        case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
            return std::to_string(v.as_int());
        case ValueType::FLOAT32: return shortest((float)v.as_float());
        case ValueType::FLOAT64: return shortest(v.as_float());
        case ValueType::BOOL: return v.as_bool() ? "true" : "false";
        case ValueType::STRING: return escaped(v.as_string(), full);
        case ValueType::ARRAY: break;
    }
    const auto& elements = v.as_array();
    const size_t n = full ? elements.size() : std::min(elements.size(), kArrayElementsShown);
    std::string out = "[";
    for (size_t i = 0; i < n; ++i) {
        if (i) out += ", ";
        if (elements[i].type() == ValueType::ARRAY) out += type_text(elements[i]) + " ";
        out += format_value(elements[i], full);
    }
    if (n < elements.size()) out += ", ... (" + with_commas(elements.size() - n) + " more)";
    return out + "]";
}

std::string describe(const File& file, bool show_arrays) {
    std::string out;
    out += file.path() + "\n";
    out += "  GGUF v" + std::to_string(file.version()) + ", " + human_bytes(file.size_bytes()) + " (" +
           with_commas(file.size_bytes()) + " bytes), alignment " + std::to_string(file.alignment()) +
           ", data section at offset " + with_commas(file.data_offset()) + "\n";
    const Value* arch = file.find("general.architecture");
    if (arch && arch->type() == ValueType::STRING) out += "  architecture " + arch->as_string() + "\n";

    out += "\nmetadata (" + std::to_string(file.metadata().size()) + " keys)\n";
    size_t key_width = 0, type_width = 0;
    for (const auto& [key, value] : file.metadata()) {
        key_width = std::max(key_width, key.size());
        type_width = std::max(type_width, type_text(value).size());
    }
    for (const auto& [key, value] : file.metadata())
        out += "  " + pad_right(key, key_width) + "  " + pad_right(type_text(value), type_width) + "  " +
               format_value(value, show_arrays) + "\n";

    const auto& tensors = file.tensors();
    out += "\ntensors (" + std::to_string(tensors.size()) + ")\n";
    size_t name_width = 4, tname_width = 4, shape_width = 5, bytes_width = 5, offset_width = 6;
    const size_t index_width = std::max<size_t>(1, std::to_string(tensors.size()).size());
    for (const auto& t : tensors) {
        name_width = std::max(name_width, t.name.size());
        tname_width = std::max(tname_width, type_name(t.type).size());
        shape_width = std::max(shape_width, shape_text(t.shape).size());
        bytes_width = std::max(bytes_width, with_commas(t.size_bytes).size());
        offset_width = std::max(offset_width, with_commas(t.offset).size());
    }
    if (!tensors.empty())
        out += "  " + pad_left("#", index_width) + "  " + pad_right("name", name_width) + "  " +
               pad_right("type", tname_width) + "  " + pad_right("shape", shape_width) + "  " +
               pad_left("bytes", bytes_width) + "  " + pad_left("offset", offset_width) + "\n";

    struct TypeTotal {
        size_t n_tensors = 0;
        uint64_t n_elements = 0, n_bytes = 0;
    };
    std::map<quant::TypeId, TypeTotal> per_type;
    TypeTotal total;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        out += "  " + pad_left(std::to_string(i), index_width) + "  " + pad_right(t.name, name_width) + "  " +
               pad_right(type_name(t.type), tname_width) + "  " + pad_right(shape_text(t.shape), shape_width) +
               "  " + pad_left(with_commas(t.size_bytes), bytes_width) + "  " +
               pad_left(with_commas(t.offset), offset_width) + "\n";
        for (TypeTotal* acc : {&per_type[t.type], &total}) {
            acc->n_tensors += 1;
            acc->n_elements += (uint64_t)t.n_elements();
            acc->n_bytes += t.size_bytes;
        }
    }
    if (tensors.empty()) return out;

    // Largest share first: the summary answers "what is this file mostly made of".
    std::vector<std::pair<quant::TypeId, TypeTotal>> rows(per_type.begin(), per_type.end());
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.second.n_bytes > b.second.n_bytes; });
    rows.push_back({quant::TypeId::F32, total});
    out += "\ntypes\n";
    for (size_t i = 0; i < rows.size(); ++i) {
        const bool is_total = i + 1 == rows.size();
        const TypeTotal& r = rows[i].second;
        char bpw[32];
        std::snprintf(bpw, sizeof bpw, "%7.4f", r.n_elements ? 8.0 * (double)r.n_bytes / (double)r.n_elements : 0.0);
        out += "  " + pad_right(is_total ? "total" : type_name(rows[i].first), std::max<size_t>(tname_width, 5)) +
               "  " + pad_left(std::to_string(r.n_tensors), 5) + " tensors  " +
               pad_left(with_commas(r.n_elements), 15) + " weights  " + pad_left(with_commas(r.n_bytes), 17) +
               " bytes  " + pad_left(human_bytes(r.n_bytes), 10) + "  " + bpw + " bits per weight\n";
    }
    return out;
}

}  // namespace shootout::gguf
