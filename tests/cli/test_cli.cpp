// End-to-end tests of the shootout binary: bad input gives one clear line on stderr and a non-zero
// exit code; a small run honours --chunks, prints a progress line per chunk and writes its files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#ifdef SHOOTOUT_HAVE_CUDA
#include "backend/cuda/cuda_kernels.h"
#endif

namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(SHOOTOUT_SHARED_DIR) + "/models/qwen3-34m-code/model-bf16.gguf";
const std::string kText = std::string(SHOOTOUT_SHARED_DIR) + "/data/wikitext-2-test.txt";

struct Result {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
    std::string out;     // stdout alone
    std::string err;     // stderr alone
};

Result shootout(const std::string& arguments) {
    const fs::path err_file = fs::temp_directory_path() / ("shootout-test-err-" + std::to_string(::getpid()));
    const std::string command = std::string(SHOOTOUT_BINARY) + " " + arguments + " 2>" + err_file.string();
    Result result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return result;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    std::stringstream err;
    err << in.rdbuf();
    result.err = err.str();
    result.output = result.out + result.err;
    fs::remove(err_file);
    return result;
}

int count_lines(const std::string& text) {
    int n = 0;
    for (char c : text) n += c == '\n';
    return n;
}

class TempDir {
public:
    TempDir() {
        path_ = fs::temp_directory_path() / ("shootout-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
    static inline int counter_ = 0;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), (std::streamsize)bytes.size());
}

// A minimal GGUF v3 by hand: one metadata key general.architecture and one 1-D tensor of 32 elements.
std::vector<uint8_t> tiny_gguf(const std::string& architecture, uint32_t tensor_type, size_t data_bytes) {
    std::vector<uint8_t> b;
    auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i))); };
    auto u64 = [&](uint64_t v) { for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i))); };
    auto str = [&](const std::string& s) { u64(s.size()); b.insert(b.end(), s.begin(), s.end()); };
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    u32(3);
    u64(1);  // tensors
    u64(1);  // metadata keys
    str("general.architecture");
    u32(8);  // string
    str(architecture);
    str("w");
    u32(1);
    u64(32);
    u32(tensor_type);
    u64(0);
    while (b.size() % 32) b.push_back(0);
    b.insert(b.end(), data_bytes, 0);
    return b;
}

TEST(Cli, HelpListsEveryCommandAndExitsZero) {
    const Result r = shootout("--help");
    EXPECT_EQ(r.exit_code, 0);
    for (const char* command : {"run", "quantize", "eval", "inspect", "tokenize"})
        EXPECT_NE(r.output.find(std::string("  ") + command + " "), std::string::npos) << command;
    const Result sub = shootout("run --help");
    EXPECT_EQ(sub.exit_code, 0);
    EXPECT_NE(sub.output.find("--chunks N"), std::string::npos);
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
    Result r = shootout("frobnicate");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
    r = shootout("run --model x.gguf --bogus 1");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("unknown option '--bogus'"), std::string::npos) << r.err;
    r = shootout("run --model x.gguf --data y.txt");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("nothing to compare"), std::string::npos) << r.err;
    r = shootout("run --model x.gguf --data y.txt --quant Q8_0 --gpu-memory 8");  // before any file is read
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--gpu-memory applies to --backend cuda only"), std::string::npos) << r.err;
    r = shootout("eval --model m.gguf --data t.txt --ctx abc");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--ctx expects an integer, got 'abc'"), std::string::npos) << r.err;
}

struct BadFileCase {
    const char* name;
    std::vector<uint8_t> bytes;
    const char* expected;
};

TEST(Cli, BadModelFilesGiveOneLineNamingTheProblem) {
    TempDir dir;
    std::vector<uint8_t> good = tiny_gguf("qwen3", 0, 128);
    std::vector<uint8_t> bad_magic = good;
    bad_magic[0] = 'X';
    std::vector<uint8_t> truncated(good.begin(), good.begin() + 40);
    std::vector<uint8_t> past_end(good.begin(), good.end() - 64);
    const std::vector<BadFileCase> cases = {
        {"bad-magic.gguf", bad_magic, "bad magic"},
        {"truncated.gguf", truncated, "truncated"},
        {"past-end.gguf", past_end, "past end of file"},
        {"unknown-type.gguf", tiny_gguf("qwen3", 99, 128), "unknown"},
        {"empty.gguf", {}, ""},
    };
    for (const auto& c : cases) {
        const std::string path = dir.file(c.name);
        write_bytes(path, c.bytes);
        const Result r = shootout("inspect --model " + path);
        EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.output;
        EXPECT_EQ(count_lines(r.err), 1) << c.name << ": " << r.err;
        EXPECT_NE(r.err.find(path), std::string::npos) << c.name << " error must name the file: " << r.err;
        EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.name << ": " << r.err;
    }
    const Result missing = shootout("inspect --model " + dir.file("does-not-exist.gguf"));
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("does-not-exist.gguf: cannot open"), std::string::npos) << missing.err;
}

TEST(Cli, UnknownArchitectureIsNamed) {
    TempDir dir;
    const std::string model = dir.file("foo.gguf");
    write_bytes(model, tiny_gguf("foo", 0, 128));
    const std::string text = dir.file("t.txt");
    write_bytes(text, {'h', 'i'});
    const Result r = shootout("eval --model " + model + " --data " + kText + " --chunks 1");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    // The vocabulary is checked first or the architecture: either way the line names the file.
    EXPECT_NE(r.err.find(model), std::string::npos) << r.err;
}

// --backend cuda where it cannot run says why in one line: no GPU (a CUDA build, as CI's), or no CUDA
// in the build; never a CUDA runtime error from whatever ran first (bench measures the GPU's read
// rate before loading models), and before any long work: a run used to quantize its variants (two
// minutes each for an 8B model) and only then fail at the first model load.
TEST(Cli, CudaBackendWithoutAGpuIsNamed) {
#ifdef SHOOTOUT_HAVE_CUDA
    if (shootout::cuda::device_count() > 0) GTEST_SKIP() << "a GPU answers here";
    const std::string expected = "no CUDA device";
#else
    const std::string expected = "no CUDA backend";
#endif
    TempDir dir;
    const std::string out = dir.file("run-out");
    const std::string commands[] = {"bench -p 8 -n 0 -r 1", "eval --chunks 1 --data " + kText,
                                    "run --quant Q8_0 --chunks 1 --data " + kText + " --out " + out};
    for (const std::string& command : commands) {
        const Result r = shootout(command + " --model " + kModel + " --backend cuda");
        EXPECT_EQ(r.exit_code, 1) << command << ": " << r.output;
        EXPECT_EQ(count_lines(r.err), 1) << command << ": " << r.err;
        EXPECT_NE(r.err.find(expected), std::string::npos) << command << ": " << r.err;
    }
    EXPECT_FALSE(std::filesystem::exists(out)) << "the run made its output folder (and variants) before failing";
}

// A missing --variant file, or a --quant recipe that cannot be made, fails the run before any --quant
// variant is made (minutes each for a large model), naming what is wrong.
TEST(Cli, BadVariantsFailBeforeQuantizing) {
    TempDir dir;
    const std::string missing = dir.file("missing.gguf");
    const std::pair<std::string, std::string> cases[] = {
        {"--quant Q8_0 --variant " + missing, "missing.gguf: cannot open"},
        {"--quant Q8_0 --quant BOGUS", "unknown recipe 'BOGUS'"},
        {"--quant Q8_0 --quant IQ2_XXS", "this recipe requires an importance matrix for type iq2_xxs"},
    };
    int n = 0;
    for (const auto& [variants, expected] : cases) {
        const std::string out = dir.file("out" + std::to_string(n++));
        const Result r = shootout("run --model " + kModel + " " + variants + " --data " + kText + " --chunks 1 --out " + out);
        EXPECT_EQ(r.exit_code, 1) << variants << ": " << r.output;
        EXPECT_EQ(count_lines(r.err), 1) << variants << ": " << r.err;
        EXPECT_NE(r.err.find(expected), std::string::npos) << variants << ": " << r.err;
        if (std::filesystem::exists(out))
            for (const auto& entry : std::filesystem::directory_iterator(out))
                ADD_FAILURE() << variants << ": written before the check: " << entry.path();
    }
}

// bench opens every --model before timing any: a missing last file fails at once (one line, no
// bench run first).
TEST(Cli, BenchOpensEveryModelFirst) {
    TempDir dir;
    const std::string missing = dir.file("missing.gguf");
    const Result r = shootout("bench -p 8 -n 0 -r 1 --model " + kModel + " --model " + missing);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("missing.gguf: cannot open"), std::string::npos) << r.err;
}

TEST(Cli, BadTextsAreRefused) {
    TempDir dir;
    const std::string empty = dir.file("empty.txt");
    write_bytes(empty, {});
    Result r = shootout("eval --model " + kModel + " --data " + empty);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.err.find("empty.txt: the text is empty"), std::string::npos) << r.err;

    const std::string short_text = dir.file("short.txt");
    const std::string words = "The quick brown fox jumps over the lazy dog. ";
    std::vector<uint8_t> bytes(words.begin(), words.end());
    write_bytes(short_text, bytes);
    r = shootout("eval --model " + kModel + " --data " + short_text + " --ctx 512");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("short.txt"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("tokens"), std::string::npos) << r.err;

    r = shootout("run --model " + kModel + " --quant Q8_0 --data " + dir.file("missing.txt") + " --out " + dir.file("o"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.err.find("missing.txt: cannot open"), std::string::npos) << r.err;
}

// A real run, small: 3 chunks of 64 tokens. --chunks must be honoured, with one progress line per
// chunk and variant, the table on stdout, the files in --out; a second run resumes every chunk.
TEST(Cli, RunHonoursChunksAndResumes) {
    TempDir dir;
    const std::string out = dir.file("results");
    const std::string args = "run --model " + kModel + " --quant Q8_0 --data " + kText + " --ctx 64 --chunks 3 --out " + out;
    Result r = shootout(args);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    int progress_lines = 0;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("Q8_0 ", 0) == 0) ++progress_lines;
    EXPECT_EQ(progress_lines, 3) << r.err;
    EXPECT_NE(r.output.find("3 chunks of 64 tokens, 93 scored tokens"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("| Mean KLD |"), std::string::npos);
    for (const char* file : {"shootout.md", "shootout.json", "shootout.csv", "model-bf16-Q8_0.gguf"})
        EXPECT_TRUE(fs::exists(fs::path(out) / file)) << file;

    const Result again = shootout(args);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_NE(again.err.find("reusing"), std::string::npos) << again.err;
    EXPECT_NE(again.err.find("(resumed)"), std::string::npos) << again.err;
    // Same numbers after resuming: the Markdown tables are identical.
    EXPECT_EQ(r.out, again.out);
    EXPECT_NE(r.out.find("| Metric"), std::string::npos);
}

}  // namespace

#include "cli/memory.h"

TEST(CliMemory, ChoosesTopKOnlyWhenTheModelsDoNotFit) {
    using shootout::cli::choose_reference_mode;
    EXPECT_EQ(choose_reference_mode(8ull << 30, 64ull << 30), "dense");
    EXPECT_EQ(choose_reference_mode(60ull << 30, 64ull << 30), "top-k");
    EXPECT_EQ(choose_reference_mode(51ull << 30, 64ull << 30), "dense");   // 80 % of 64 GiB = 51.2 GiB
    EXPECT_EQ(choose_reference_mode(52ull << 30, 64ull << 30), "top-k");
    EXPECT_EQ(choose_reference_mode(1ull << 40, 0), "dense");  // unknown: do not degrade silently
    EXPECT_GT(shootout::cli::available_memory_bytes(), 0u);
}

namespace {  // the helpers above, not namespace shootout, for the name `shootout`

// `tokenize --ids` prints llama-tokenize's ids (golden: gpt-2 is the qwen3 model's own pre-tokenizer,
// case 4 of tests/data/tokenizer/pre-variant-cases.hex) on one line; without --ids, a line per token.
TEST(Cli, TokenizeIdsMatchLlamaTokenize) {
    std::ifstream golden(std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/tokenizer/llama-tokenize-pre-variants.txt");
    std::string expected;
    for (std::string line; std::getline(golden, line);)
        if (line.rfind("gpt-2\t4\t", 0) == 0) expected = line.substr(8);
    ASSERT_FALSE(expected.empty());
    TempDir dir;
    const std::string text = "numbers 1234567 12 3.14159 1,000,000";
    write_bytes(dir.file("t.txt"), std::vector<uint8_t>(text.begin(), text.end()));
    Result r = shootout("tokenize --model " + kModel + " --file " + dir.file("t.txt") + " --ids");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.out, expected + "\n");
    r = shootout("tokenize --model " + kModel + " --file " + dir.file("t.txt"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(count_lines(r.out), (int)std::count(expected.begin(), expected.end(), ' ') + 1);
    EXPECT_NE(r.out.find("  5686 -> 'numbers'\n"), std::string::npos) << r.out;
}

// An empty text tokenizes to the BOS alone where the vocab adds one (llama-tokenize prints [1] for
// the SentencePiece test vocab), to nothing where it does not (the qwen3 model); exit 0 both ways.
TEST(Cli, TokenizeEmptyTextAsLlamaTokenize) {
    TempDir dir;
    write_bytes(dir.file("empty.txt"), {});
    const std::string spm = std::string(SHOOTOUT_SOURCE_DIR) + "/tests/data/tokenizer/spm-llama.gguf";
    Result r = shootout("tokenize --model " + spm + " --file " + dir.file("empty.txt") + " --ids");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.out, "1\n");
    r = shootout("tokenize --model " + kModel + " --file " + dir.file("empty.txt") + " --ids");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.out, "\n");
}

}  // namespace
