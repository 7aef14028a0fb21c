// GGUF reader. Every count, length and offset is checked against the bytes that are left before it is
// used or allocated, so a truncated or hostile file fails fast with an Error naming the file and field.
// The accepted files are those llama.cpp's gguf.cpp (gguf_init_from_file_impl) accepts, plus nested
// metadata arrays (the GGUF spec and the Python `gguf` package have them; llama.cpp does not):
//  - magic "GGUF", version 2 or 3 (v1 is gone, a byte-swapped version means a big-endian file);
//  - no empty or duplicate keys, general.alignment a uint32 power of two;
//  - tensor names shorter than 64 bytes (GGML_MAX_NAME) and unique, at most 4 dims, the element
//    count representable, a known ggml type, rows a whole number of blocks;
//  - tensor data in file order: each offset is exactly where the previous tensor's data, padded to
//    the alignment, ends (gguf.cpp rejects gaps, overlaps and reordering alike).
// Stricter than llama.cpp on one point: a zero dimension is refused (gguf.cpp divides by it).
#include <bit>
#include <cstring>
#include <unordered_set>

#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr size_t kMaxNameBytes = 63;      // ggml's GGML_MAX_NAME is 64 including the terminating NUL
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 32;      // bounds the recursion on hostile nested arrays
// gguf.cpp's GGUF_MAX_STRING_LENGTH and GGUF_MAX_ARRAY_ELEMENTS: a file past them does not load there.
constexpr uint64_t kMaxStringBytes = 1ull << 30;
constexpr uint64_t kMaxArrayElements = 1ull << 30;
// The smallest encodings, to bound a claimed count by the bytes left before anything is allocated.
constexpr size_t kMinKeyValueBytes = 8 + 1 + 4 + 1;       // key length, 1-byte key, type, 1-byte value
constexpr size_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;     // name length, n_dims, type, offset

size_t scalar_bytes(ValueType type) {
    switch (type) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        case ValueType::STRING: return 0;
        case ValueType::ARRAY: return 0;
    }
    return 0;
}

// Bytes the smallest element of an array of this type occupies.
size_t min_element_bytes(ValueType type) {
    if (type == ValueType::STRING) return 8;        // the length prefix
    if (type == ValueType::ARRAY) return 4 + 8;     // element type and count
    return scalar_bytes(type);
}

std::string printable(const uint8_t* bytes, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += (bytes[i] >= 0x20 && bytes[i] < 0x7f) ? (char)bytes[i] : '?';
    return out;
}

std::string quoted(const std::string& s) {
    constexpr size_t kMaxShown = 80;
    std::string shown = s.size() > kMaxShown ? s.substr(0, kMaxShown) + "..." : s;
    // Built by appending: GCC 12 gives a false -Wrestrict on "'" + std::string&& at -O3.
    std::string out = "'";
    out += printable((const uint8_t*)shown.data(), shown.size());
    out += '\'';
    return out;
}

}  // namespace

class Parser {
public:
    Parser(const uint8_t* data, size_t size_bytes, File& file)
        : data_(data), size_(size_bytes), file_(file) {}

    void run() {
        file_.size_bytes_ = size_;
        read_header();
        read_metadata();
        read_alignment();
        read_tensor_infos();
        place_tensor_data();
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    File& file_;
    std::string context_;  // what is being read, e.g. "metadata key #3 'general.name'"
    uint64_t n_tensors_ = 0;
    uint64_t n_kv_ = 0;

    [[noreturn]] void error(const std::string& what) const { fail(file_.path_, what); }

    size_t left() const { return size_ - pos_; }

    // Takes n bytes; `field` says what they are for the error ("" = the context itself).
    const uint8_t* take(size_t n, const char* field) {
        if (n > left()) {
            std::string what = "truncated while reading ";
            if (*field) what += std::string(field) + " of ";
            what += context_ + " (needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                    ", file size " + std::to_string(size_) + ")";
            error(what);
        }
        const uint8_t* p = data_ + pos_;
        pos_ += n;
        return p;
    }

    template <typename T>
    T read(const char* field) {
        T v;
        std::memcpy(&v, take(sizeof(T), field), sizeof(T));
        return v;
    }

    std::string read_string(const char* field) {
        const uint64_t n = read<uint64_t>(field);
        if (n > left()) {
            error(std::string("truncated while reading ") + (*field ? std::string(field) + " of " : "") + context_ +
                  ": string length " + std::to_string(n) + " but only " + std::to_string(left()) +
                  " bytes are left in the file");
        }
        if (n > kMaxStringBytes)
            error(std::string(*field ? std::string(field) + " of " : "") + context_ + ": string length " +
                  std::to_string(n) + " is over llama.cpp's limit of 2^30 bytes");
        const uint8_t* p = take((size_t)n, field);
        return std::string((const char*)p, (size_t)n);
    }

    void read_header() {
        context_ = "the header";
        if (size_ == 0) error("empty file (not a GGUF file)");
        const uint8_t* magic = take(4, "magic");
        if (std::memcmp(magic, kMagic, 4) != 0) error("bad magic '" + printable(magic, 4) + "' (not a GGUF file)");
        const uint32_t version = read<uint32_t>("version");
        file_.version_ = version;
        if (version != 0 && (version & 0xFFFF) == 0)
            error("GGUF version " + std::to_string(version) +
                  " looks byte-swapped: big-endian GGUF files are not supported");
        if (version == 1) error("GGUF version 1 is no longer supported (only versions 2 and 3)");
        if (version != 2 && version != 3)
            error("unsupported GGUF version " + std::to_string(version) + " (only versions 2 and 3)");

        n_tensors_ = read<uint64_t>("tensor count");
        n_kv_ = read<uint64_t>("metadata key count");
        if (n_kv_ > left() / kMinKeyValueBytes)
            error("truncated or corrupt header: claims " + std::to_string(n_kv_) + " metadata keys but only " +
                  std::to_string(left()) + " bytes are left in the file");
        file_.metadata_.reserve((size_t)n_kv_);
    }

    Value read_value(ValueType type, const char* field, int depth) {
        switch (type) {
            case ValueType::UINT8: return Value::make_uint(type, read<uint8_t>(field));
            case ValueType::UINT16: return Value::make_uint(type, read<uint16_t>(field));
            case ValueType::UINT32: return Value::make_uint(type, read<uint32_t>(field));
            case ValueType::UINT64: return Value::make_uint(type, read<uint64_t>(field));
            case ValueType::INT8: return Value::make_int(type, read<int8_t>(field));
            case ValueType::INT16: return Value::make_int(type, read<int16_t>(field));
            case ValueType::INT32: return Value::make_int(type, read<int32_t>(field));
            case ValueType::INT64: return Value::make_int(type, read<int64_t>(field));
            case ValueType::FLOAT32: return Value::make_float(type, read<float>(field));
            case ValueType::FLOAT64: return Value::make_float(type, read<double>(field));
            case ValueType::BOOL: return Value::make_bool(read<uint8_t>(field) != 0);  // as gguf.cpp: nonzero
            case ValueType::STRING: return Value::make_string(read_string(field));
            case ValueType::ARRAY: break;
        }
        if (depth >= kMaxArrayNesting)
            error(context_ + " nests arrays deeper than " + std::to_string(kMaxArrayNesting) + " levels");
        const ValueType element_type = read_value_type("array element type");
        const uint64_t n = read<uint64_t>("array length");
        const size_t min_bytes = min_element_bytes(element_type);
        if (n > left() / min_bytes)
            error("truncated while reading " + context_ + ": array of " + std::to_string(n) + " " +
                  value_type_name(element_type) + " needs at least " + std::to_string(min_bytes) +
                  " bytes each but only " + std::to_string(left()) + " bytes are left in the file");
        if (n > kMaxArrayElements)
            error(context_ + ": array of " + std::to_string(n) + " elements is over llama.cpp's limit of 2^30");
        std::vector<Value> elements;
        elements.reserve((size_t)n);
        for (uint64_t i = 0; i < n; ++i) elements.push_back(read_value(element_type, "array element", depth + 1));
        return Value::make_array(element_type, std::move(elements));
    }

    ValueType read_value_type(const char* field) {
        const uint32_t raw = read<uint32_t>(field);
        if (raw > (uint32_t)ValueType::FLOAT64)
            error(context_ + " has unknown value type " + std::to_string(raw) + " (" + field + ")");
        return (ValueType)raw;
    }

    void read_metadata() {
        std::unordered_set<std::string> seen;
        for (uint64_t i = 0; i < n_kv_; ++i) {
            context_ = "metadata key #" + std::to_string(i);
            std::string key = read_string("");
            if (key.empty()) error(context_ + " is empty");
            if (!seen.insert(key).second) error("duplicate metadata key " + quoted(key) + " (" + context_ + ")");
            context_ += ' ';
            context_ += quoted(key);
            const ValueType type = read_value_type("value type");
            Value value = read_value(type, "value", 0);
            file_.metadata_.emplace_back(std::move(key), std::move(value));
        }
    }

    void read_alignment() {
        const Value* v = file_.find("general.alignment");
        if (!v) return;
        if (v->type() != ValueType::UINT32)
            error(std::string("general.alignment has type ") + value_type_name(v->type()) + ", expected uint32");
        const uint64_t alignment = v->as_uint();
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            error("general.alignment " + std::to_string(alignment) + " is not a power of two");
        file_.alignment_ = (size_t)alignment;
    }

    void read_tensor_infos() {
        context_ = "the header";
        if (n_tensors_ > left() / kMinTensorInfoBytes)
            error("truncated or corrupt header: claims " + std::to_string(n_tensors_) + " tensors but only " +
                  std::to_string(left()) + " bytes are left after the metadata");
        file_.tensors_.reserve((size_t)n_tensors_);
        std::unordered_set<std::string> seen;
        for (uint64_t i = 0; i < n_tensors_; ++i) {
            context_ = "tensor info #" + std::to_string(i);
            TensorInfo info;
            info.name = read_string("name");
            if (info.name.size() > kMaxNameBytes)
                error(context_ + " name " + quoted(info.name) + " is " + std::to_string(info.name.size()) +
                      " bytes long (ggml allows at most " + std::to_string(kMaxNameBytes) + ")");
            if (!seen.insert(info.name).second)
                error("duplicate tensor name " + quoted(info.name) + " (" + context_ + ")");
            context_ = "tensor " + quoted(info.name);
            read_shape(info);
            read_type(info);
            info.offset = read<uint64_t>("data offset");
            file_.tensors_.push_back(std::move(info));
        }
    }

    void read_shape(TensorInfo& info) {
        const uint32_t n_dims = read<uint32_t>("dimension count");
        if (n_dims > kMaxDims)
            error(context_ + " has " + std::to_string(n_dims) + " dimensions (at most " + std::to_string(kMaxDims) +
                  ")");
        int64_t n_elements = 1;
        bool overflow = false;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const int64_t ne = read<int64_t>("shape");
            if (ne <= 0)
                error(context_ + " dimension " + std::to_string(d) + " is " + std::to_string(ne) +
                      " (must be positive)");
            info.shape.push_back(ne);
            overflow = overflow || __builtin_mul_overflow(n_elements, ne, &n_elements);
        }
        if (overflow) error(context_ + " shape " + shape_string(info.shape) + " has more than 2^63-1 elements");
    }

    static std::string shape_string(const std::vector<int64_t>& shape) {
        std::string s = "[";
        for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }

    void read_type(TensorInfo& info) {
        const uint32_t id = read<uint32_t>("type");
        const quant::TypeTraits* traits = quant::find_type(id);
        if (!traits) error(context_ + " has unknown ggml type id " + std::to_string(id));
        info.type = traits->id;
        const int64_t row_length = info.shape.empty() ? 1 : info.shape[0];
        if (row_length % traits->block_size != 0)
            error(context_ + " row length " + std::to_string(row_length) + " is not a multiple of the " +
                  traits->name + " block size " + std::to_string(traits->block_size));
        const uint64_t n_blocks = (uint64_t)(info.n_elements() / traits->block_size);
        uint64_t size_bytes;
        if (__builtin_mul_overflow(n_blocks, (uint64_t)traits->bytes_per_block, &size_bytes) ||
            size_bytes > (uint64_t)INT64_MAX)
            error(context_ + " shape " + shape_string(info.shape) + " of type " + traits->name +
                  " has a size in bytes beyond 2^63");
        info.size_bytes = (size_t)size_bytes;
    }

    void place_tensor_data() {
        const size_t alignment = file_.alignment_;
        // gguf.cpp pads to the data section only when there are tensors; writers always pad.
        size_t data_offset = pos_;
        if (n_tensors_ > 0) {
            data_offset = (pos_ + alignment - 1) / alignment * alignment;  // pos_ < 2^63, alignment <= 2^31
            if (data_offset > size_)
                error("truncated: the data section starts at offset " + std::to_string(data_offset) +
                      ", past the end of the file (size " + std::to_string(size_) + ")");
        }
        file_.data_offset_ = data_offset;

        uint64_t expected = 0;  // where the next tensor must start, relative to the data section
        for (TensorInfo& info : file_.tensors_) {
            const std::string name = quoted(info.name);
            if (info.offset % alignment != 0)
                error("tensor " + name + " offset " + std::to_string(info.offset) +
                      " is not a multiple of the alignment " + std::to_string(alignment));
            if (info.offset != expected)
                error("tensor " + name + " has offset " + std::to_string(info.offset) + ", expected " +
                      std::to_string(expected) + " (tensor data must follow in file order, each padded to the " +
                      "alignment, as llama.cpp requires)");
            // offset == expected <= size of the file so far, so these sums cannot overflow.
            const uint64_t begin = data_offset + info.offset;
            const uint64_t end = begin + info.size_bytes;
            if (end > size_)
                error("tensor " + name + " data [" + std::to_string(begin) + ".." + std::to_string(end) +
                      ") runs past end of file (size " + std::to_string(size_) + ")");
            info.data = data_ + begin;
            expected = info.offset + (info.size_bytes + alignment - 1) / alignment * alignment;
        }
    }
};

std::unique_ptr<File> File::open(const std::string& path) {
    auto file = std::make_unique<File>();
    file->path_ = path;
    file->mapped_ = std::make_unique<MappedFile>(path);
    Parser(file->mapped_->data(), file->mapped_->size_bytes(), *file).run();
    return file;
}

std::unique_ptr<File> File::parse(const uint8_t* data, size_t size_bytes, const std::string& name) {
    auto file = std::make_unique<File>();
    file->path_ = name;
    Parser(data, size_bytes, *file).run();
    return file;
}

const Value* File::find(std::string_view key) const {
    for (const auto& [k, v] : metadata_)
        if (k == key) return &v;
    return nullptr;
}

const Value& File::get(std::string_view key) const {
    const Value* v = find(key);
    if (!v) fail(path_, "missing metadata key '" + std::string(key) + "'");
    return *v;
}

namespace {

// Runs an accessor, naming the file and key when the value has the wrong kind.
template <typename F>
auto checked(const std::string& path, std::string_view key, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        fail(path, "metadata key '" + std::string(key) + "': " + e.what());
    }
}

}  // namespace

std::string File::get_string(std::string_view key, const std::string& fallback) const {
    const Value* v = find(key);
    return v ? checked(path_, key, [&] { return v->as_string(); }) : fallback;
}

uint64_t File::get_uint(std::string_view key, uint64_t fallback) const {
    const Value* v = find(key);
    return v ? checked(path_, key, [&] { return v->as_uint(); }) : fallback;
}

double File::get_float(std::string_view key, double fallback) const {
    const Value* v = find(key);
    return v ? checked(path_, key, [&] { return v->as_float(); }) : fallback;
}

bool File::get_bool(std::string_view key, bool fallback) const {
    const Value* v = find(key);
    return v ? checked(path_, key, [&] { return v->as_bool(); }) : fallback;
}

std::string File::architecture() const {
    const Value& v = get("general.architecture");
    return checked(path_, "general.architecture", [&] { return v.as_string(); });
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

const TensorInfo& File::tensor(std::string_view name) const {
    const TensorInfo* t = find_tensor(name);
    if (!t) fail(path_, "missing tensor '" + std::string(name) + "'");
    return *t;
}

}  // namespace shootout::gguf
