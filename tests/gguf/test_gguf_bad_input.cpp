// Corrupt, truncated and hostile files: each gives an Error that names the file and the field, and
// none allocates what a claimed count asks for. The accepted set follows llama.cpp's gguf.cpp.
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/gguf.h"
#include "gguf_test_util.h"

namespace shootout::gguf {
namespace {

using testing::Bytes;
using testing::error_of;
using testing::fixture;

std::string parse_error(const Bytes& b) {
    return error_of([&] { File::parse(b.data.data(), b.data.size(), "x.gguf"); });
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
    return error_of([&] { File::parse(bytes.data(), bytes.size(), "x.gguf"); });
}

constexpr uint32_t kF32 = 0, kQ4_0 = 2, kF64 = 28;

// A valid one-tensor file: the base that the cases below break one field at a time.
Bytes one_tensor(const std::vector<int64_t>& shape = {4}, uint32_t type = kF32, uint64_t offset = 0,
                 size_t data_bytes = 16) {
    Bytes b;
    b.header(1, 0).tensor_info("w", shape, type, offset).pad(32).zeros(data_bytes);
    return b;
}

TEST(GgufBadInput, BaseCaseIsValid) {
    Bytes b = one_tensor();
    auto f = File::parse(b.data.data(), b.data.size(), "x.gguf");
    EXPECT_EQ(f->tensor("w").size_bytes, 16u);
}

TEST(GgufBadInput, MissingEmptyDirectory) {
    testing::TempDir dir;
    EXPECT_EQ(error_of([&] { File::open(dir.file("missing.gguf")); }),
              dir.file("missing.gguf") + ": cannot open: No such file or directory");
    EXPECT_EQ(error_of([&] { File::open(dir.path.string()); }), dir.path.string() + ": not a regular file");
    testing::write_all(dir.file("empty.gguf"), {});
    EXPECT_EQ(error_of([&] { File::open(dir.file("empty.gguf")); }),
              dir.file("empty.gguf") + ": empty file (not a GGUF file)");
}

TEST(GgufBadInput, BadMagic) {
    Bytes b;
    b.raw("ABCD", 4).u32(3).u64(0).u64(0);
    EXPECT_EQ(parse_error(b), "x.gguf: bad magic 'ABCD' (not a GGUF file)");
    Bytes binary;
    binary.raw("\x7f" "ELF", 4).u32(3);
    EXPECT_EQ(parse_error(binary), "x.gguf: bad magic '?ELF' (not a GGUF file)");
}

TEST(GgufBadInput, Versions) {
    EXPECT_EQ(parse_error(Bytes().header(0, 0, 4)), "x.gguf: unsupported GGUF version 4 (only versions 2 and 3)");
    EXPECT_EQ(parse_error(Bytes().header(0, 0, 0)), "x.gguf: unsupported GGUF version 0 (only versions 2 and 3)");
    EXPECT_EQ(parse_error(Bytes().header(0, 0, 1)), "x.gguf: GGUF version 1 is no longer supported (only versions 2 and 3)");
    EXPECT_EQ(parse_error(Bytes().header(0, 0, 0x03000000)),
              "x.gguf: GGUF version 50331648 looks byte-swapped: big-endian GGUF files are not supported");
}

// Cut the Python fixture at every length: each prefix that loses part of the header or of any tensor's
// data is an Error; only cuts inside the final padding still hold every tensor.
TEST(GgufBadInput, TruncatedAtEveryCutPoint) {
    const auto bytes = testing::read_all(fixture("python_writer.gguf"));
    auto whole = File::parse(bytes.data(), bytes.size(), "x.gguf");
    const TensorInfo& last = whole->tensors().back();
    const size_t data_end = whole->data_offset() + last.offset + last.size_bytes;
    ASSERT_LE(data_end, bytes.size());
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
        std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + cut);
        if (cut >= data_end) {
            EXPECT_NO_THROW(File::parse(prefix.data(), prefix.size(), "x.gguf")) << cut;
            continue;
        }
        const std::string e = parse_error(prefix);
        EXPECT_EQ(e.rfind("x.gguf: ", 0), 0u) << e;
        EXPECT_TRUE(e.find("truncated") != std::string::npos || e.find("runs past end of file") != std::string::npos ||
                    e.find("empty file") != std::string::npos)
            << "cut " << cut << ": " << e;
    }
    // Metadata key #12 (test.uint64) starts at offset 378 (GGUFReader's field offset), its value at 401.
    EXPECT_EQ(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 380)),
              "x.gguf: truncated while reading metadata key #12 (needs 8 bytes at offset 378, file size 380)");
    EXPECT_EQ(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 405)),
              "x.gguf: truncated while reading value of metadata key #12 'test.uint64' (needs 8 bytes at offset "
              "401, file size 405)");
    // Cut short of room for the 22 keys the header claims: refused before reading any key.
    EXPECT_EQ(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 130)),
              "x.gguf: truncated or corrupt header: claims 22 metadata keys but only 106 bytes are left in the file");
    EXPECT_EQ(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 1800)),
              "x.gguf: tensor 'f32.rank4' data [1792..1856) runs past end of file (size 1800)");
    EXPECT_EQ(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 10)),
              "x.gguf: truncated while reading tensor count of the header (needs 8 bytes at offset 8, file size 10)");
}

TEST(GgufBadInput, TensorPastEndOfFile) {
    Bytes b = one_tensor({4}, kF32, 0, 8);  // 16 bytes of data claimed, 8 present
    const size_t data_offset = b.data.size() - 8;
    EXPECT_EQ(parse_error(b), "x.gguf: tensor 'w' data [" + std::to_string(data_offset) + ".." +
                                  std::to_string(data_offset + 16) + ") runs past end of file (size " +
                                  std::to_string(b.data.size()) + ")");
    Bytes no_data;
    no_data.header(1, 0).tensor_info("w", {4}, kF32, 0);  // ends before the aligned data section
    EXPECT_EQ(parse_error(no_data),
              "x.gguf: truncated: the data section starts at offset 64, past the end of the file (size 57)");
}

TEST(GgufBadInput, UnknownTensorType) {
    EXPECT_EQ(parse_error(one_tensor({4}, 99)), "x.gguf: tensor 'w' has unknown ggml type id 99");
    EXPECT_EQ(parse_error(one_tensor({4}, 4)), "x.gguf: tensor 'w' has unknown ggml type id 4");  // removed Q4_2
}

TEST(GgufBadInput, UnknownValueType) {
    Bytes b;
    b.header(0, 1).str("k").u32(13).u32(0);
    EXPECT_EQ(parse_error(b), "x.gguf: metadata key #0 'k' has unknown value type 13 (value type)");
    Bytes in_array;
    in_array.header(0, 1).str("arr").u32(9).u32(0xFFFFFFFF).u64(1).u32(0);
    EXPECT_EQ(parse_error(in_array),
              "x.gguf: metadata key #0 'arr' has unknown value type 4294967295 (array element type)");
}

TEST(GgufBadInput, HugeCountsFailBeforeAllocating) {
    EXPECT_EQ(parse_error(Bytes().header(0, 1ull << 63)),
              "x.gguf: truncated or corrupt header: claims 9223372036854775808 metadata keys but only 0 bytes "
              "are left in the file");
    EXPECT_EQ(parse_error(Bytes().header(UINT64_MAX, 0)),
              "x.gguf: truncated or corrupt header: claims 18446744073709551615 tensors but only 0 bytes are "
              "left after the metadata");
    Bytes key;
    key.header(0, 1).u64(1ull << 63).zeros(20);
    EXPECT_EQ(parse_error(key), "x.gguf: truncated while reading metadata key #0: string length "
                                "9223372036854775808 but only 20 bytes are left in the file");
    Bytes string_value;
    string_value.header(0, 1).str("s").u32(8).u64(UINT64_MAX);
    EXPECT_EQ(parse_error(string_value), "x.gguf: truncated while reading value of metadata key #0 's': string "
                                         "length 18446744073709551615 but only 0 bytes are left in the file");
    Bytes array;
    array.header(0, 1).str("a").u32(9).u32(10).u64(1ull << 62).u64(1);
    EXPECT_EQ(parse_error(array), "x.gguf: truncated while reading metadata key #0 'a': array of 4611686018427387904 "
                                  "uint64 needs at least 8 bytes each but only 8 bytes are left in the file");
    Bytes strings;
    strings.header(0, 1).str("a").u32(9).u32(8).u64(1000).zeros(7999);
    EXPECT_EQ(parse_error(strings), "x.gguf: truncated while reading metadata key #0 'a': array of 1000 string "
                                    "needs at least 8 bytes each but only 7999 bytes are left in the file");
    Bytes tensor_name;
    tensor_name.header(1, 0).u64(1ull << 40).zeros(40);
    EXPECT_EQ(parse_error(tensor_name), "x.gguf: truncated while reading name of tensor info #0: string length "
                                        "1099511627776 but only 40 bytes are left in the file");
}

// gguf.cpp's limits on one string / array (2^30). Sparse files make the claimed bytes present without
// writing them; the reader refuses before touching them.
TEST(GgufBadInput, LlamaCppSizeLimits) {
    testing::TempDir dir;
    auto sparse_file = [&](const std::string& name, const Bytes& head) {
        const std::string path = dir.file(name);
        testing::write_all(path, head.data);
        std::filesystem::resize_file(path, (1ull << 30) + 4096);
        return path;
    };
    Bytes string_value;
    string_value.header(0, 1).str("s").u32(8).u64((1ull << 30) + 1);
    const std::string s = sparse_file("string.gguf", string_value);
    EXPECT_EQ(error_of([&] { File::open(s); }),
              s + ": value of metadata key #0 's': string length 1073741825 is over llama.cpp's limit of 2^30 bytes");
    Bytes array;
    array.header(0, 1).str("a").u32(9).u32(0).u64((1ull << 30) + 1);
    const std::string a = sparse_file("array.gguf", array);
    EXPECT_EQ(error_of([&] { File::open(a); }),
              a + ": metadata key #0 'a': array of 1073741825 elements is over llama.cpp's limit of 2^30");
}

TEST(GgufBadInput, DeeplyNestedArrays) {
    Bytes b;
    b.header(0, 1).str("deep").u32(9);
    for (int i = 0; i < 40; ++i) b.u32(9).u64(1);
    b.u32(0).u64(0);
    EXPECT_EQ(parse_error(b), "x.gguf: metadata key #0 'deep' nests arrays deeper than 32 levels");
}

TEST(GgufBadInput, Alignment) {
    Bytes b24;
    b24.header(0, 1).kv_u32("general.alignment", 24);
    EXPECT_EQ(parse_error(b24), "x.gguf: general.alignment 24 is not a power of two");
    Bytes b0;
    b0.header(0, 1).kv_u32("general.alignment", 0);
    EXPECT_EQ(parse_error(b0), "x.gguf: general.alignment 0 is not a power of two");
    Bytes b64;
    b64.header(0, 1).str("general.alignment").u32(10).u64(64);
    EXPECT_EQ(parse_error(b64), "x.gguf: general.alignment has type uint64, expected uint32");
}

TEST(GgufBadInput, TensorOffsets) {
    EXPECT_EQ(parse_error(one_tensor({4}, kF32, 16, 48)),
              "x.gguf: tensor 'w' offset 16 is not a multiple of the alignment 32");
    // gguf.cpp requires each offset to be where the previous tensor's padded data ends: no gaps, no
    // overlaps, no reordering.
    Bytes overlap;
    overlap.header(2, 0).tensor_info("a", {4}, kF32, 0).tensor_info("b", {4}, kF32, 0).pad(32).zeros(64);
    EXPECT_EQ(parse_error(overlap), "x.gguf: tensor 'b' has offset 0, expected 32 (tensor data must follow in file "
                                    "order, each padded to the alignment, as llama.cpp requires)");
    Bytes gap;
    gap.header(2, 0).tensor_info("a", {4}, kF32, 0).tensor_info("b", {4}, kF32, 64).pad(32).zeros(96);
    EXPECT_EQ(parse_error(gap), "x.gguf: tensor 'b' has offset 64, expected 32 (tensor data must follow in file "
                                "order, each padded to the alignment, as llama.cpp requires)");
    Bytes first_not_zero;
    first_not_zero.header(1, 0).tensor_info("a", {4}, kF32, 32).pad(32).zeros(64);
    EXPECT_EQ(parse_error(first_not_zero), "x.gguf: tensor 'a' has offset 32, expected 0 (tensor data must follow "
                                           "in file order, each padded to the alignment, as llama.cpp requires)");
}

TEST(GgufBadInput, Shapes) {
    EXPECT_EQ(parse_error(one_tensor({1, 1, 1, 1, 1})), "x.gguf: tensor 'w' has 5 dimensions (at most 4)");
    EXPECT_EQ(parse_error(one_tensor({4, -3})), "x.gguf: tensor 'w' dimension 1 is -3 (must be positive)");
    EXPECT_EQ(parse_error(one_tensor({4, 0})), "x.gguf: tensor 'w' dimension 1 is 0 (must be positive)");
    EXPECT_EQ(parse_error(one_tensor({1ll << 32, 1ll << 32})),
              "x.gguf: tensor 'w' shape [4294967296, 4294967296] has more than 2^63-1 elements");
    EXPECT_EQ(parse_error(one_tensor({1ll << 31, 1ll << 31}, kF64)),
              "x.gguf: tensor 'w' shape [2147483648, 2147483648] of type f64 has a size in bytes beyond 2^63");
    EXPECT_EQ(parse_error(one_tensor({33}, kQ4_0)),
              "x.gguf: tensor 'w' row length 33 is not a multiple of the q4_0 block size 32");
    // A huge but representable tensor is refused by the end-of-file check, not allocated.
    EXPECT_EQ(parse_error(one_tensor({1ll << 40})),
              "x.gguf: tensor 'w' data [64..4398046511168) runs past end of file (size 80)");
}

TEST(GgufBadInput, NamesAndKeys) {
    Bytes dup_key;
    dup_key.header(0, 2).kv_u32("k", 1).kv_u32("k", 2);
    EXPECT_EQ(parse_error(dup_key), "x.gguf: duplicate metadata key 'k' (metadata key #1)");
    Bytes empty_key;
    empty_key.header(0, 1).kv_u32("", 1);
    EXPECT_EQ(parse_error(empty_key), "x.gguf: metadata key #0 is empty");
    Bytes dup_tensor;
    dup_tensor.header(2, 0).tensor_info("t", {8}, kF32, 0).tensor_info("t", {8}, kF32, 32).pad(32).zeros(64);
    EXPECT_EQ(parse_error(dup_tensor), "x.gguf: duplicate tensor name 't' (tensor info #1)");
    Bytes long_name;
    long_name.header(1, 0).tensor_info(std::string(64, 'n'), {8}, kF32, 0).pad(32).zeros(32);
    EXPECT_EQ(parse_error(long_name), "x.gguf: tensor info #0 name '" + std::string(64, 'n') +
                                          "' is 64 bytes long (ggml allows at most 63)");
    Bytes max_name;  // 63 bytes is the longest ggml takes
    max_name.header(1, 0).tensor_info(std::string(63, 'n'), {8}, kF32, 0).pad(32).zeros(32);
    EXPECT_NO_THROW(File::parse(max_name.data.data(), max_name.data.size(), "x.gguf"));
}

// Files the fuzzer found crashes or hangs in (tests/data/gguf/regressions/): each must give an Error.
TEST(GgufBadInput, FuzzerRegressions) {
    const std::string dir = fixture("regressions");
    if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no regression files";
    size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string e = error_of([&] { File::open(entry.path().string()); });
        EXPECT_EQ(e.rfind(entry.path().string() + ": ", 0), 0u) << e;
        ++n;
    }
    EXPECT_GT(n, 0u);
}

}  // namespace
}  // namespace shootout::gguf
