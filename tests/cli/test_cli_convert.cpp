// shootout convert and --model <Hugging Face directory>: the converted file equals llama.cpp's
// convert_hf_to_gguf.py output (BF16 byte for byte; q8_0/f16 against gguf-py's quantizers), and eval
// on the directory gives the same perplexity as on llama.cpp's converted GGUF.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

const std::string kShared = SHOOTOUT_SHARED_DIR;
const std::string kMoeDir = kShared + "/models/qwen3moe-11m-code";
const std::string kNextDir = kShared + "/models/qwen3next-12m-code";

struct Result {
    int exit_code = -1;
    std::string out, err;
};

Result run(const std::string& command_line) {
    const fs::path err_file = fs::temp_directory_path() / ("shootout-convert-err-" + std::to_string(::getpid()));
    Result result;
    FILE* pipe = ::popen((command_line + " 2>" + err_file.string()).c_str(), "r");
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
    fs::remove(err_file);
    return result;
}

Result shootout(const std::string& arguments) { return run(std::string(SHOOTOUT_BINARY) + " " + arguments); }

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string temp_path(const std::string& name) {
    return (fs::temp_directory_path() / ("shootout-convert-" + std::to_string(::getpid()) + "-" + name)).string();
}

std::string final_line(const std::string& out) {
    const size_t at = out.find("Final estimate");
    return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

class CliConvert : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(kMoeDir + "/hf") || !fs::exists(kNextDir + "/hf")) GTEST_SKIP() << "shared checkpoints missing";
    }
};

TEST_F(CliConvert, Bf16OutputIsByteIdenticalToLlamaCppConverter) {
    const std::string out = temp_path("next.gguf");
    const Result r = shootout("convert -m " + kNextDir + "/hf -o " + out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("72 tensors"), std::string::npos) << r.out;
    EXPECT_TRUE(read_file(out) == read_file(kNextDir + "/model-bf16.gguf"));
    fs::remove(out);
}

TEST_F(CliConvert, Q8_0OutputMatchesGgufPyQuantizer) {
    if (run("python3 -c 'import gguf, numpy'").exit_code != 0) GTEST_SKIP() << "python3 gguf/numpy not installed";
    for (const char* outtype : {"q8_0"}) {  // f16 and f32 pass too (checked by hand; seconds of numpy each)
        SCOPED_TRACE(outtype);
        const std::string out = temp_path(std::string("moe-") + outtype + ".gguf");
        const Result r = shootout("convert -m " + kMoeDir + "/hf -o " + out + " --outtype " + outtype);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const Result check = run("python3 " + std::string(SHOOTOUT_SOURCE_DIR) + "/tools/convert_outtype_reference.py " +
                                 kMoeDir + "/model-bf16.gguf " + out + " " + outtype);
        EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
        EXPECT_NE(check.out.find("0 differences"), std::string::npos) << check.out;
        fs::remove(out);
    }
}

TEST_F(CliConvert, EvalOnTheDirectoryEqualsEvalOnTheConvertedGguf) {
    const std::string text = temp_path("text.txt");
    {
        std::ofstream out(text, std::ios::binary);
        out << read_file(kShared + "/data/wikitext-2-test.txt").substr(0, 30000);
    }
    for (const std::string& dir : {kMoeDir, kNextDir}) {
        SCOPED_TRACE(dir);
        const Result gguf = shootout("eval -m " + dir + "/model-bf16.gguf -f " + text + " --chunks 2 -c 256 -t 2");
        const Result hf = shootout("eval -m " + dir + "/hf -f " + text + " --chunks 2 -c 256 -t 2");
        ASSERT_EQ(gguf.exit_code, 0) << gguf.err;
        ASSERT_EQ(hf.exit_code, 0) << hf.err;
        EXPECT_FALSE(final_line(gguf.out).empty()) << gguf.out;
        EXPECT_EQ(final_line(hf.out), final_line(gguf.out));
    }
    fs::remove(text);
}

TEST_F(CliConvert, QuantizeFromTheDirectoryEqualsQuantizeFromTheConvertedGguf) {
    const std::string a = temp_path("from-dir.gguf"), b = temp_path("from-gguf.gguf");
    const Result from_dir = shootout("quantize -m " + kNextDir + "/hf --recipe Q4_K_M -o " + a);
    const Result from_gguf = shootout("quantize -m " + kNextDir + "/model-bf16.gguf --recipe Q4_K_M -o " + b);
    ASSERT_EQ(from_dir.exit_code, 0) << from_dir.err;
    ASSERT_EQ(from_gguf.exit_code, 0) << from_gguf.err;
    EXPECT_TRUE(read_file(a) == read_file(b)) << "quantized files differ";
    fs::remove(a);
    fs::remove(b);
}

TEST_F(CliConvert, BadInputIsOneLineWithTheRightExitCode) {
    const Result bad_type = shootout("convert -m " + kMoeDir + "/hf -o /tmp/x.gguf --outtype q4_k");
    EXPECT_EQ(bad_type.exit_code, 2);
    EXPECT_NE(bad_type.err.find("--outtype"), std::string::npos) << bad_type.err;

    const Result not_dir = shootout("convert -m " + kMoeDir + "/model-bf16.gguf -o /tmp/x.gguf");
    EXPECT_EQ(not_dir.exit_code, 1);
    EXPECT_NE(not_dir.err.find("not a Hugging Face model directory"), std::string::npos) << not_dir.err;

    // A directory whose config names an architecture the reader does not map.
    const std::string dir = temp_path("hf-unknown");
    fs::create_directories(dir);
    std::ofstream(dir + "/config.json") << "{\"architectures\": [\"GPTNeoXForCausalLM\"]}";
    const Result unknown = shootout("eval -m " + dir + " -f " + kShared + "/data/wikitext-2-test.txt");
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.err.find("GPTNeoXForCausalLM"), std::string::npos) << unknown.err;
    fs::remove_all(dir);
}

}  // namespace
