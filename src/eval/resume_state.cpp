#include "eval/resume_state.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "eval/atomic_file.h"
#include "eval/binary_io.h"
#include "util/error.h"

namespace shootout::eval {

namespace {

constexpr char kMagic[16] = {'S', 'H', 'O', 'O', 'T', 'O', 'U', 'T', '-', 'R', 'E', 'S', 'U', 'M', 'E', '1'};
constexpr uint32_t kRecordMagic = 0x4b4e4843;  // "CHNK"

std::string hex64(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string encode_header(const std::string& key) {
    std::string out(kMagic, 16);
    put(out, uint32_t(key.size()));
    out += key;
    put(out, fnv1a64(key.data(), key.size()));
    return out;
}

std::string encode_record(int64_t chunk, const TokenValues& v) {
    std::string out;
    put(out, kRecordMagic);
    put(out, chunk);
    put(out, uint32_t(v.size()));
    put_array(out, v.nll_variant);
    put_array(out, v.nll_reference);
    put_array(out, v.kld);
    put_array(out, v.delta_p);
    put_array(out, v.kld_error_bound);
    put_array(out, v.same_top);
    put(out, fnv1a64(out.data(), out.size()));
    return out;
}

// Parses one record at the reader's position; false (and no change) for a torn or corrupt record.
bool decode_record(std::string_view bytes, size_t& offset, int64_t& chunk, TokenValues& v) {
    try {
        ByteReader in(bytes.substr(offset), "record");
        if (in.get<uint32_t>("magic") != kRecordMagic) {
            return false;
        }
        chunk = in.get<int64_t>("chunk");
        const uint32_t n = in.get<uint32_t>("n_tokens");
        v.nll_variant = in.get_array<float>(n, "nll_variant");
        v.nll_reference = in.get_array<float>(n, "nll_reference");
        v.kld = in.get_array<float>(n, "kld");
        v.delta_p = in.get_array<float>(n, "delta_p");
        v.kld_error_bound = in.get_array<float>(n, "kld_error_bound");
        v.same_top = in.get_array<uint8_t>(n, "same_top");
        const size_t body = in.offset();
        if (in.get<uint64_t>("checksum") != fnv1a64(bytes.data() + offset, body)) {
            return false;
        }
        offset += in.offset();
        return true;
    } catch (const Error&) {
        return false;
    }
}

}  // namespace

ResumeJournal::ResumeJournal(const std::string& state_dir, const std::string& key) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec) {
        fail(state_dir, "cannot create the state directory: " + ec.message());
    }
    path_ = (std::filesystem::path(state_dir) / (hex64(fnv1a64(key.data(), key.size())) + ".state")).string();
    const std::string header = encode_header(key);
    if (!std::filesystem::exists(path_)) {
        write_file_atomically(path_, header);
    } else {
        const std::string bytes = read_whole_file(path_);
        if (bytes.size() < header.size() || bytes.compare(0, header.size(), header) != 0) {
            fail(path_, "this state file belongs to another run (its key differs); remove it or use another state dir");
        }
        size_t offset = header.size();
        int64_t chunk = 0;
        TokenValues values;
        while (decode_record(bytes, offset, chunk, values)) {
            finished_[chunk] = std::move(values);
            values = TokenValues();
        }
        if (offset != bytes.size()) {
            std::filesystem::resize_file(path_, offset, ec);  // drop the torn tail
            if (ec) {
                fail(path_, "cannot cut off a torn record: " + ec.message());
            }
        }
    }
    file_ = std::fopen(path_.c_str(), "ab");
    if (!file_) {
        fail(path_, "cannot open for appending");
    }
}

ResumeJournal::~ResumeJournal() {
    if (file_) {
        std::fclose(file_);
    }
}

void ResumeJournal::append(int64_t chunk, const TokenValues& values) {
    const std::string record = encode_record(chunk, values);
    if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0 ||
        fsync(fileno(file_)) != 0) {
        fail(path_, "cannot append the record of chunk " + std::to_string(chunk));
    }
    finished_[chunk] = values;
}

std::string file_identity(const std::string& path) {
    std::error_code ec;
    const uint64_t size_bytes = std::filesystem::file_size(path, ec);
    if (ec) {
        fail(path, "cannot read its size: " + ec.message());
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail(path, "cannot open for reading");
    }
    const uint64_t window = 1 << 20;
    std::string head(size_t(std::min(window, size_bytes)), '\0');
    in.read(head.data(), std::streamsize(head.size()));
    std::string tail(size_t(std::min(window, size_bytes)), '\0');
    in.seekg(std::streamoff(size_bytes - tail.size()));
    in.read(tail.data(), std::streamsize(tail.size()));
    if (!in) {
        fail(path, "read failed");
    }
    const uint64_t hash = fnv1a64(tail.data(), tail.size(), fnv1a64(head.data(), head.size()));
    return std::filesystem::path(path).filename().string() + " bytes=" + std::to_string(size_bytes) +
           " fnv64_head_tail=" + hex64(hash);
}

std::string tokens_identity(std::span<const int32_t> tokens) {
    return "n=" + std::to_string(tokens.size()) + " fnv64=" + hex64(fnv1a64(tokens.data(), tokens.size() * 4));
}

}  // namespace shootout::eval
