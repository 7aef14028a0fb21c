// Resume after an interruption: each variant's finished chunks live in a journal file, and a restarted
// run with the same key skips them. The key (a text naming the reference, the variant, the tokens, the
// context and the reference mode) names the file (state_dir/<fnv64 of key>.state) and is stored in its
// header, so a run with other inputs never picks up stale values.
//
// File: "SHOOTOUT-RESUME1" (16 bytes), u32 key length, key, u64 FNV-1a of the key; then one record per
// finished chunk: u32 "CHNK", i64 chunk, u32 n_tokens, float nll_variant[n], nll_reference[n], kld[n],
// delta_p[n], kld_error_bound[n], u8 same_top[n], u64 FNV-1a of the record's bytes before it.
// A record is appended, flushed and fsync'ed once its chunk is done. Appending (rather than rewriting the
// whole file through tmp + rename each chunk, O(chunks^2) bytes) is safe because a record counts only
// when complete and its checksum matches: a crash mid-write leaves a torn tail that the next open cuts off.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>

#include "eval/token_values.h"

namespace shootout::eval {

class ResumeJournal {
public:
    // Creates state_dir if needed; loads the finished chunks of a matching journal (cutting off a torn
    // tail record); Error names the path when it cannot be read or written, or when its stored key
    // differs from `key` (an FNV collision or a foreign file).
    ResumeJournal(const std::string& state_dir, const std::string& key);
    ~ResumeJournal();
    ResumeJournal(const ResumeJournal&) = delete;
    ResumeJournal& operator=(const ResumeJournal&) = delete;

    const std::string& path() const { return path_; }
    const std::map<int64_t, TokenValues>& finished_chunks() const { return finished_; }
    void append(int64_t chunk, const TokenValues& values);

private:
    std::string path_;
    std::map<int64_t, TokenValues> finished_;
    std::FILE* file_ = nullptr;
};

// A short identity of a file for resume keys: base name, size in bytes and FNV-1a of its first and last
// MiB (cheap on a 40 GiB model, and changes when the file is rewritten with other content or size).
std::string file_identity(const std::string& path);

// FNV-1a of a token stream, hex: the data part of a resume key.
std::string tokens_identity(std::span<const int32_t> tokens);

}  // namespace shootout::eval
