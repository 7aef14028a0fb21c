// Reading and writing llama-perplexity's --kl-divergence-base format (the numbers themselves are checked
// against numpy in test_statistics_golden).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

#include "eval/llama_logits_file.h"
#include "util/error.h"

using namespace shootout::eval;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()))).string();
}

std::string error_of(const std::string& path) {
    try {
        LlamaLogitsFile::open(path);
    } catch (const shootout::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(LlamaLogitsFile, WritesWhatItReads) {
    const int64_t n_ctx = 8, n_vocab = 5;  // 3 scored rows per chunk, rows of 2*3+4 = 10 uint16
    const std::vector<int32_t> tokens = {0, 1, 2, 3, 4, 0, 1, 2, 4, 3, 2, 1, 0, 4, 3, 2};
    const std::string path = temp_path("base.logits");
    LlamaLogitsWriter writer(path, n_ctx, n_vocab, tokens);
    std::vector<std::vector<float>> rows;
    for (int r = 0; r < 6; ++r) {
        rows.push_back({float(r), 1.0f, -2.0f, 0.5f * float(r), -30.0f});  // -30: clipped (more than 16 below)
        writer.add_row(rows.back().data());
    }
    EXPECT_THROW(writer.add_row(rows[0].data()), shootout::Error);
    writer.finish();
    EXPECT_EQ(std::filesystem::file_size(path), 8u + 12 + 16 * 4 + 6 * 10 * 2);

    const auto file = LlamaLogitsFile::open(path);
    EXPECT_EQ(file->n_ctx(), n_ctx);
    EXPECT_EQ(file->n_vocab(), n_vocab);
    EXPECT_EQ(file->n_chunks(), 2);
    EXPECT_TRUE(std::equal(tokens.begin(), tokens.end(), file->tokens().begin()));
    const uint16_t* row4 = file->row(1, 1);  // rows[4] = {4, 1, -2, 2, -30}
    const double lse = std::log(std::exp(4.0) + std::exp(1.0) + std::exp(-2.0) + std::exp(2.0) + std::exp(-30.0));
    EXPECT_NEAR(llama_row_log_prob(row4, 0), 4.0 - lse, 1e-4);
    EXPECT_NEAR(llama_row_log_prob(row4, 3), 2.0 - lse, 1e-4);
    EXPECT_NEAR(llama_row_log_prob(row4, 4), 4.0 - 16.0 - lse, 1e-4);  // clipped to max - 16
    EXPECT_EQ(row4[4 + 0], 65535);
    EXPECT_EQ(row4[4 + 4], 0);
    EXPECT_EQ(llama_row_argmax(row4, n_vocab), 0);
    EXPECT_THROW(file->row(2, 0), shootout::Error);
    std::filesystem::remove(path);
}

TEST(LlamaLogitsFile, ClearErrorsForBadFiles) {
    const std::string path = temp_path("bad.logits");
    std::ofstream(path, std::ios::binary) << "_logitz_xxxxxxxxxxxx";
    EXPECT_NE(error_of(path).find("no \"_logits_\" magic"), std::string::npos) << error_of(path);

    const std::vector<int32_t> tokens(16, 1);
    {
        LlamaLogitsWriter writer(path, 8, 5, tokens);
        const float logits[5] = {1, 2, 3, 4, 5};
        for (int r = 0; r < 6; ++r) writer.add_row(logits);
        writer.finish();
    }
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 2);
    const std::string truncated = error_of(path);
    EXPECT_NE(truncated.find(path), std::string::npos) << truncated;
    EXPECT_NE(truncated.find("truncated"), std::string::npos) << truncated;

    {
        LlamaLogitsWriter unfinished(path + ".2", 8, 5, tokens);
        EXPECT_THROW(unfinished.finish(), shootout::Error);  // no rows yet
    }
    EXPECT_FALSE(std::filesystem::exists(path + ".2"));
    EXPECT_FALSE(std::filesystem::exists(path + ".2.tmp"));
    std::filesystem::remove(path);
}
