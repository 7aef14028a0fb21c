#include <gtest/gtest.h>

#include "eval/chunking.h"
#include "util/error.h"

using namespace shootout::eval;

TEST(Chunking, MatchesLlamaPerplexityAt512) {
    const ChunkPlan plan = plan_chunks(300000, {512, -1, true}, "wiki.txt");
    EXPECT_EQ(plan.n_chunks, 300000 / 512);  // floor(n_tokens / n_ctx)
    EXPECT_EQ(plan.first_scored, 256);
    EXPECT_EQ(plan.n_scored_per_chunk, 255);  // positions 256..510 predict tokens 257..511
    EXPECT_EQ(plan.n_scored_total(), 585 * 255);
}

TEST(Chunking, ChunksOptionCapsTheCount) {
    EXPECT_EQ(plan_chunks(10000, {512, 5, true}, "t").n_chunks, 5);
    EXPECT_EQ(plan_chunks(10000, {512, 100, true}, "t").n_chunks, 19);
}

TEST(Chunking, OddContext) {
    const ChunkPlan plan = plan_chunks(100, {7, -1, true}, "t");
    EXPECT_EQ(plan.first_scored, 3);
    EXPECT_EQ(plan.n_scored_per_chunk, 3);  // positions 3, 4, 5 predict 4, 5, 6
}

TEST(Chunking, ClearErrors) {
    try {
        plan_chunks(0, {512, -1, true}, "empty.txt");
        FAIL();
    } catch (const shootout::Error& e) {
        EXPECT_NE(std::string(e.what()).find("empty.txt: the text is empty"), std::string::npos) << e.what();
    }
    try {
        plan_chunks(1000, {512, -1, true}, "short.txt");  // one chunk, but llama.cpp needs 2*n_ctx
        FAIL();
    } catch (const shootout::Error& e) {
        EXPECT_NE(std::string(e.what()).find("1000 tokens"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("1024"), std::string::npos) << e.what();
    }
    EXPECT_EQ(plan_chunks(1000, {512, -1, false}, "short.txt").n_chunks, 1);
    EXPECT_THROW(plan_chunks(500, {512, -1, false}, "t"), shootout::Error);
    EXPECT_THROW(plan_chunks(100, {2, -1, true}, "t"), shootout::Error);
}

TEST(Chunking, BosReplacesTheFirstTokenOfEachChunk) {
    std::vector<int32_t> tokens(40);
    for (int i = 0; i < 40; ++i) tokens[size_t(i)] = 100 + i;
    const ChunkPlan plan = plan_chunks(tokens.size(), {10, -1, true}, "t");
    const std::vector<int32_t> c2 = chunk_tokens(tokens, plan, 2, 1);
    ASSERT_EQ(c2.size(), 10u);
    EXPECT_EQ(c2[0], 1);
    EXPECT_EQ(c2[1], 121);
    EXPECT_EQ(c2[9], 129);
    EXPECT_EQ(chunk_tokens(tokens, plan, 2, -1)[0], 120);  // no BOS: untouched
    EXPECT_EQ(tokens[20], 120);                             // the stream itself is never modified
    EXPECT_EQ(next_token(tokens, plan, 2, 0), 126);         // row 0 = position 5 predicts position 6
    EXPECT_EQ(next_token(tokens, plan, 2, plan.n_scored_per_chunk - 1), 129);
    EXPECT_THROW(chunk_tokens(tokens, plan, 4, -1), shootout::Error);
}
