#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

#include "eval/resume_state.h"
#include "util/error.h"

using namespace shootout::eval;

namespace {

TokenValues some_values(int n, float base) {
    TokenValues v;
    for (int i = 0; i < n; ++i) {
        TokenMetrics m;
        m.nll_variant = base + float(i);
        m.nll_reference = base - float(i);
        m.kld = 0.01f * float(i);
        m.delta_p = -0.001f * float(i);
        m.kld_error_bound = 0.5f;
        m.same_top = i % 3 == 0;
        v.push_back(m);
    }
    return v;
}

std::string temp_dir() {
    auto dir = std::filesystem::temp_directory_path() / ("shootout-journal-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    return dir.string();
}

}  // namespace

TEST(ResumeJournal, RoundTripsRecordsAndCutsATornTail) {
    const std::string dir = temp_dir();
    std::string path;
    {
        ResumeJournal j(dir, "key A\n");
        EXPECT_TRUE(j.finished_chunks().empty());
        j.append(0, some_values(5, 1.0f));
        j.append(1, some_values(5, 2.0f));
        path = j.path();
    }
    const auto good_size = std::filesystem::file_size(path);
    {
        std::ofstream torn(path, std::ios::binary | std::ios::app);
        torn.write("CHNK\x02\0\0\0", 8);  // a record cut short by a crash
    }
    {
        ResumeJournal j(dir, "key A\n");
        ASSERT_EQ(j.finished_chunks().size(), 2u);
        const TokenValues& c1 = j.finished_chunks().at(1);
        const TokenValues expected = some_values(5, 2.0f);
        EXPECT_EQ(c1.nll_variant, expected.nll_variant);
        EXPECT_EQ(c1.nll_reference, expected.nll_reference);
        EXPECT_EQ(c1.kld, expected.kld);
        EXPECT_EQ(c1.delta_p, expected.delta_p);
        EXPECT_EQ(c1.kld_error_bound, expected.kld_error_bound);
        EXPECT_EQ(c1.same_top, expected.same_top);
        EXPECT_EQ(std::filesystem::file_size(path), good_size);  // the torn tail is gone
        j.append(2, some_values(3, 3.0f));
    }
    {
        // A flipped bit inside the last record: its checksum fails, so it is dropped, earlier ones kept.
        std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
        f.seekp(-12, std::ios::end);
        f.put('\x55');
    }
    EXPECT_EQ(ResumeJournal(dir, "key A\n").finished_chunks().size(), 2u);
    // Another key lives in another file.
    ResumeJournal other(dir, "key B\n");
    EXPECT_NE(other.path(), path);
    EXPECT_TRUE(other.finished_chunks().empty());
    std::filesystem::remove_all(dir);
}

TEST(ResumeJournal, RefusesAFileWrittenForAnotherKey) {
    const std::string dir = temp_dir();
    std::string path;
    {
        ResumeJournal j(dir, "key A\n");
        path = j.path();
    }
    // Simulate a hash collision: key B's file name holding key A's header.
    const std::string path_b = ResumeJournal(dir, "key B\n").path();
    std::filesystem::copy_file(path, path_b, std::filesystem::copy_options::overwrite_existing);
    EXPECT_THROW(ResumeJournal(dir, "key B\n"), shootout::Error);
    std::filesystem::remove_all(dir);
}

TEST(ResumeJournal, IdentitiesChangeWithContent) {
    const std::string dir = temp_dir();
    std::filesystem::create_directories(dir);
    const std::string file = dir + "/model.gguf";
    std::ofstream(file) << "abc";
    const std::string a = file_identity(file);
    std::ofstream(file) << "abd";
    EXPECT_NE(file_identity(file), a);
    EXPECT_NE(a.find("model.gguf bytes=3"), std::string::npos) << a;
    EXPECT_NE(tokens_identity(std::vector<int32_t>{1, 2}), tokens_identity(std::vector<int32_t>{2, 1}));
    EXPECT_THROW(file_identity(dir + "/missing"), shootout::Error);
    std::filesystem::remove_all(dir);
}
