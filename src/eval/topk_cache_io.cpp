// TopKCache file: "SHOOTTK1", int64 k, n_vocab, n_rows, then ids, log_probs, log_tail_mass, nll arrays,
// then a u64 FNV-1a checksum of everything before it.
#include <cstring>

#include "eval/atomic_file.h"
#include "eval/binary_io.h"
#include "eval/topk_cache.h"

namespace shootout::eval {

static constexpr char kMagic[8] = {'S', 'H', 'O', 'O', 'T', 'T', 'K', '1'};

void TopKCache::save(const std::string& path) const {
    std::string out(kMagic, 8);
    put(out, k);
    put(out, n_vocab);
    put(out, int64_t(n_rows()));
    put_array(out, ids);
    put_array(out, log_probs);
    put_array(out, log_tail_mass);
    put_array(out, nll);
    put(out, fnv1a64(out.data(), out.size()));
    write_file_atomically(path, out);
}

TopKCache TopKCache::load(const std::string& path) {
    const std::string bytes = read_whole_file(path);
    if (bytes.size() < 8 + 3 * 8 + 8) {
        fail(path, "truncated top-k cache (" + std::to_string(bytes.size()) + " bytes)");
    }
    uint64_t stored_checksum;
    std::memcpy(&stored_checksum, bytes.data() + bytes.size() - 8, 8);
    if (fnv1a64(bytes.data(), bytes.size() - 8) != stored_checksum) {
        fail(path, "top-k cache checksum mismatch (corrupt or truncated file)");
    }
    ByteReader in(std::string_view(bytes).substr(0, bytes.size() - 8), path);
    if (in.get_bytes(8, "magic") != std::string_view(kMagic, 8)) {
        fail(path, "not a Shootout top-k cache (bad magic)");
    }
    TopKCache cache;
    cache.k = in.get<int64_t>("k");
    cache.n_vocab = in.get<int64_t>("n_vocab");
    const int64_t n_rows = in.get<int64_t>("n_rows");
    if (cache.k <= 0 || cache.n_vocab <= 0 || cache.k > cache.n_vocab || n_rows < 0) {
        fail(path, "bad top-k cache header (k " + std::to_string(cache.k) + ", n_vocab " +
                       std::to_string(cache.n_vocab) + ", rows " + std::to_string(n_rows) + ")");
    }
    cache.ids = in.get_array<int32_t>(size_t(n_rows * cache.k), "ids");
    cache.log_probs = in.get_array<float>(size_t(n_rows * cache.k), "log_probs");
    cache.log_tail_mass = in.get_array<float>(size_t(n_rows), "log_tail_mass");
    cache.nll = in.get_array<float>(size_t(n_rows), "nll");
    for (const int32_t id : cache.ids) {
        if (id < 0 || id >= cache.n_vocab) {
            fail(path, "token id " + std::to_string(id) + " outside the vocabulary");
        }
    }
    return cache;
}

}  // namespace shootout::eval
