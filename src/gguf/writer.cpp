// GGUF v3 writer. The layout is the one llama.cpp's gguf_write_out and the Python GGUFWriter produce:
// header, metadata in insertion order, tensor infos, zero padding to the alignment, then each tensor's
// data followed by zero padding to the alignment (after the last one too). Tensor data is streamed:
// one tensor's buffer at a time is filled by its callback and written out.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "gguf/gguf.h"
#include "util/error.h"

namespace shootout::gguf {

namespace {

constexpr uint32_t kVersion = 3;
constexpr size_t kDefaultAlignment = 32;
constexpr size_t kMaxNameBytes = 63;  // GGML_MAX_NAME - 1
constexpr size_t kMaxDims = 4;
const std::string kAlignmentKey = "general.alignment";

size_t pad_to(size_t n, size_t alignment) { return (n + alignment - 1) / alignment * alignment; }

void check_alignment(uint64_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > UINT32_MAX)
        fail("", "GGUF alignment " + std::to_string(alignment) + " is not a power of two that fits in uint32");
}

// Bytes of a tensor, after checking what the reader will check.
size_t tensor_bytes(const std::string& name, const std::vector<int64_t>& shape, quant::TypeId type) {
    const std::string where = "tensor '" + name + "'";
    if (name.size() > kMaxNameBytes)
        fail("", where + ": name is " + std::to_string(name.size()) + " bytes long (ggml allows at most 63)");
    if (shape.size() > kMaxDims) fail("", where + ": " + std::to_string(shape.size()) + " dimensions (at most 4)");
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d <= 0) fail("", where + ": dimension " + std::to_string(d) + " is not positive");
        if (__builtin_mul_overflow(n, d, &n)) fail("", where + ": more than 2^63-1 elements");
    }
    const quant::TypeTraits& traits = quant::traits(type);
    const int64_t row_length = shape.empty() ? 1 : shape[0];
    if (row_length % traits.block_size != 0)
        fail("", where + ": row length " + std::to_string(row_length) + " is not a multiple of the " +
                     traits.name + " block size " + std::to_string(traits.block_size));
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)(n / traits.block_size), (uint64_t)traits.bytes_per_block, &bytes))
        fail("", where + ": size in bytes overflows");
    return (size_t)bytes;
}

// A buffered output file that counts what it has written and reports errors with its path.
class Output {
public:
    explicit Output(const std::string& path) : path_(path) {
        file_ = std::fopen(path.c_str(), "wb");
        if (!file_) fail(path, std::string("cannot create: ") + std::strerror(errno));
        std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
    }
    ~Output() {
        if (file_) std::fclose(file_);
    }

    size_t written_bytes() const { return written_; }

    void bytes(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, file_) != n) fail(path_, std::string("write failed: ") + std::strerror(errno));
        written_ += n;
    }
    template <typename T>
    void scalar(T v) { bytes(&v, sizeof v); }
    void string(const std::string& s) {
        scalar<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void pad(size_t alignment) {
        static const uint8_t zeros[256] = {};
        size_t n = pad_to(written_, alignment) - written_;
        while (n) {
            const size_t chunk = n < sizeof zeros ? n : sizeof zeros;
            bytes(zeros, chunk);
            n -= chunk;
        }
    }

    // Flushes to disk and closes; the caller renames only after this succeeded.
    void close() {
        const bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
        const int saved = errno;
        const bool closed = std::fclose(file_) == 0;
        file_ = nullptr;
        if (!ok || !closed) fail(path_, std::string("write failed: ") + std::strerror(ok ? errno : saved));
    }

private:
    std::string path_;
    std::FILE* file_ = nullptr;
    size_t written_ = 0;
};

void write_value(Output& out, const Value& v) {
    switch (v.type()) {
        case ValueType::UINT8: out.scalar<uint8_t>((uint8_t)v.as_uint()); break;
        case ValueType::UINT16: out.scalar<uint16_t>((uint16_t)v.as_uint()); break;
        case ValueType::UINT32: out.scalar<uint32_t>((uint32_t)v.as_uint()); break;
        case ValueType::UINT64: out.scalar<uint64_t>(v.as_uint()); break;
        case ValueType::INT8: out.scalar<int8_t>((int8_t)v.as_int()); break;
        case ValueType::INT16: out.scalar<int16_t>((int16_t)v.as_int()); break;
        case ValueType::INT32: out.scalar<int32_t>((int32_t)v.as_int()); break;
        case ValueType::INT64: out.scalar<int64_t>(v.as_int()); break;
        case ValueType::FLOAT32: out.scalar<float>((float)v.as_float()); break;
        case ValueType::FLOAT64: out.scalar<double>(v.as_float()); break;
        case ValueType::BOOL: out.scalar<uint8_t>(v.as_bool() ? 1 : 0); break;
        case ValueType::STRING: out.string(v.as_string()); break;
        case ValueType::ARRAY:
            out.scalar<uint32_t>((uint32_t)v.array_type());
            out.scalar<uint64_t>(v.as_array().size());
            for (const Value& element : v.as_array()) write_value(out, element);
            break;
    }
}

}  // namespace

void Writer::set(const std::string& key, Value value) {
    if (key.empty()) fail("", "empty metadata key");
    if (key == kAlignmentKey) {
        if (value.type() != ValueType::UINT32)
            fail("", std::string("general.alignment must be uint32, not ") + value_type_name(value.type()));
        check_alignment(value.as_uint());
        alignment_ = (size_t)value.as_uint();
    }
    for (auto& [k, v] : metadata_)
        if (k == key) {
            v = std::move(value);
            return;
        }
    metadata_.emplace_back(key, std::move(value));
}

void Writer::remove(const std::string& key) {
    std::erase_if(metadata_, [&](const auto& kv) { return kv.first == key; });
    if (key == kAlignmentKey) alignment_ = kDefaultAlignment;  // what a reader assumes without the key
}

void Writer::add_tensor(const std::string& name, std::vector<int64_t> shape, quant::TypeId type, Fill fill) {
    tensor_bytes(name, shape, type);  // validates now, where the caller can see which call was wrong
    for (const auto& t : tensors_)
        if (t.name == name) fail("", "duplicate tensor name '" + name + "'");
    if (!fill) fail("", "tensor '" + name + "' has no fill callback");
    tensors_.push_back({name, std::move(shape), type, std::move(fill)});
}

void Writer::set_alignment(size_t alignment) {
    check_alignment(alignment);
    const bool has_key = std::any_of(metadata_.begin(), metadata_.end(),
                                     [](const auto& kv) { return kv.first == kAlignmentKey; });
    if (alignment != kDefaultAlignment || has_key) set(kAlignmentKey, Value::make_uint(ValueType::UINT32, alignment));
    alignment_ = alignment;
}

void Writer::write(const std::string& path) const {
    const std::string tmp_path = path + ".tmp";
    try {
        Output out(tmp_path);
        out.bytes("GGUF", 4);
        out.scalar<uint32_t>(kVersion);
        out.scalar<uint64_t>(tensors_.size());
        out.scalar<uint64_t>(metadata_.size());
        for (const auto& [key, value] : metadata_) {
            out.string(key);
            out.scalar<uint32_t>((uint32_t)value.type());
            write_value(out, value);
        }

        std::vector<size_t> sizes_bytes;
        uint64_t offset = 0;
        for (const auto& t : tensors_) {
            const size_t size_bytes = tensor_bytes(t.name, t.shape, t.type);
            sizes_bytes.push_back(size_bytes);
            out.string(t.name);
            out.scalar<uint32_t>((uint32_t)t.shape.size());
            for (int64_t d : t.shape) out.scalar<int64_t>(d);
            out.scalar<uint32_t>((uint32_t)t.type);
            out.scalar<uint64_t>(offset);
            offset += pad_to(size_bytes, alignment_);
        }
        out.pad(alignment_);

        std::vector<uint8_t> buffer;
        for (size_t i = 0; i < tensors_.size(); ++i) {
            buffer.resize(sizes_bytes[i]);
            std::memset(buffer.data(), 0, buffer.size());  // a fill that writes less leaves zeros, not garbage
            tensors_[i].fill(buffer.data(), buffer.size());
            out.bytes(buffer.data(), buffer.size());
            out.pad(alignment_);
        }
        out.close();
        if (std::rename(tmp_path.c_str(), path.c_str()) != 0)
            fail(path, std::string("cannot rename from ") + tmp_path + ": " + std::strerror(errno));
    } catch (...) {
        std::remove(tmp_path.c_str());
        throw;
    }
}

Writer Writer::copy_of(const File& file) {
    Writer w;
    w.metadata_ = file.metadata();
    w.alignment_ = file.alignment();
    for (const TensorInfo& t : file.tensors()) {
        const uint8_t* src = t.data;
        w.tensors_.push_back({t.name, t.shape, t.type, [src](uint8_t* dst, size_t n) { std::memcpy(dst, src, n); }});
    }
    return w;
}

}  // namespace shootout::gguf
