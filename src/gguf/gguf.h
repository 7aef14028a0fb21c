// GGUF v3 (also v2) reader and writer. The reader maps the file and hands out zero-copy views of
// tensor data; every size and offset is checked before use, so a corrupt, truncated or hostile file
// gives an Error naming the file and the field, never a crash. The writer produces files that
// round-trip byte for byte.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quant/type_table.h"
#include "util/mapped_file.h"

namespace shootout::gguf {

enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* value_type_name(ValueType type);

// One metadata value. Scalars keep their exact stored type (for a byte-identical rewrite);
// the accessors convert between integer widths and throw Error on a kind mismatch.
class Value {
public:
    static Value make_uint(ValueType type, uint64_t v);   // UINT8..UINT64
    static Value make_int(ValueType type, int64_t v);     // INT8..INT64
    static Value make_float(ValueType type, double v);    // FLOAT32 / FLOAT64
    static Value make_bool(bool v);
    static Value make_string(std::string v);
    static Value make_array(ValueType element_type, std::vector<Value> elements);

    ValueType type() const { return type_; }
    uint64_t as_uint() const;   // any integer type holding a non-negative value
    int64_t as_int() const;     // any integer type
    double as_float() const;    // float or integer types
    bool as_bool() const;
    const std::string& as_string() const;
    ValueType array_type() const;
    const std::vector<Value>& as_array() const;

private:
    ValueType type_ = ValueType::UINT8;
    ValueType array_type_ = ValueType::UINT8;
    uint64_t bits_ = 0;        // integer / bool payload (two's complement for signed)
    double float_ = 0;
    std::string string_;
    std::vector<Value> array_;
};

struct TensorInfo {
    std::string name;
    std::vector<int64_t> shape;   // ggml order: shape[0] is the row length (contiguous)
    quant::TypeId type;
    uint64_t offset = 0;          // from the start of the data section, as stored
    size_t size_bytes = 0;
    const uint8_t* data = nullptr;  // view into the mapped file (null in a Writer)

    int64_t n_elements() const;
    int64_t n_rows() const { return shape.empty() ? 0 : n_elements() / shape[0]; }
};

// The block (layer) index of a tensor named "blk.<i>.<rest>", -1 for any other name.
inline int64_t block_index(std::string_view name) {
    if (name.substr(0, 4) != "blk.") return -1;
    int64_t i = 0;
    size_t at = 4;
    for (; at < name.size() && name[at] >= '0' && name[at] <= '9'; ++at) i = i * 10 + (name[at] - '0');
    return at > 4 && at < name.size() && name[at] == '.' ? i : -1;
}

class File {
public:
    // Opens, maps and validates a file; throws Error naming the path and what is wrong.
    static std::unique_ptr<File> open(const std::string& path);
    // Parses a buffer already in memory (the fuzzer's entry point); `name` is used in errors.
    static std::unique_ptr<File> parse(const uint8_t* data, size_t size_bytes, const std::string& name);
    // A file assembled in memory rather than parsed (a Hugging Face checkpoint seen as the GGUF that
    // llama.cpp's converter would write: src/convert). Tensor data views point into storage that
    // `owner` keeps alive; offsets are laid out as the writer would (alignment 32); size_bytes is what
    // size_bytes() reports (the checkpoint's bytes on disk).
    static std::unique_ptr<File> assemble(std::string path, std::vector<std::pair<std::string, Value>> metadata,
                                          std::vector<TensorInfo> tensors, size_t size_bytes,
                                          std::shared_ptr<const void> owner);

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    size_t alignment() const { return alignment_; }
    size_t data_offset() const { return data_offset_; }
    size_t size_bytes() const { return size_bytes_; }

    // Metadata in file order.
    const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
    const Value* find(std::string_view key) const;
    const Value& get(std::string_view key) const;  // throws Error "missing metadata key ..."
    std::string get_string(std::string_view key, const std::string& fallback) const;
    uint64_t get_uint(std::string_view key, uint64_t fallback) const;
    double get_float(std::string_view key, double fallback) const;
    bool get_bool(std::string_view key, bool fallback) const;
    std::string architecture() const;  // general.architecture; throws if missing

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;
    const TensorInfo& tensor(std::string_view name) const;  // throws Error "missing tensor ..."

private:
    std::string path_;
    std::unique_ptr<MappedFile> mapped_;
    std::shared_ptr<const void> owner_;  // keeps an assembled file's tensor storage alive
    uint32_t version_ = 3;
    size_t alignment_ = 32;
    size_t data_offset_ = 0;
    size_t size_bytes_ = 0;
    std::vector<std::pair<std::string, Value>> metadata_;
    std::vector<TensorInfo> tensors_;
    friend class Parser;
};

// Writes a GGUF v3 file. Tensor data is supplied by a callback at write time so that a quantizer can
// stream tensor by tensor without holding the model in memory. The file appears atomically
// (written to path + ".tmp", then renamed).
class Writer {
public:
    using Fill = std::function<void(uint8_t* dst, size_t size_bytes)>;

    void set(const std::string& key, Value value);  // replaces in place or appends, keeping order
    void remove(const std::string& key);
    void add_tensor(const std::string& name, std::vector<int64_t> shape, quant::TypeId type, Fill fill);
    void set_alignment(size_t alignment);  // also written as general.alignment when not 32
    void write(const std::string& path) const;

    // A writer holding the same metadata and tensors as a file (the tensor data copied from it).
    static Writer copy_of(const File& file);

private:
    struct PendingTensor {
        std::string name;
        std::vector<int64_t> shape;
        quant::TypeId type;
        Fill fill;
    };
    std::vector<std::pair<std::string, Value>> metadata_;
    std::vector<PendingTensor> tensors_;
    size_t alignment_ = 32;
};

}  // namespace shootout::gguf
