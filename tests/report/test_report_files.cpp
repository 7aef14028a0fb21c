// write_report_files: the three files appear (atomically, no .tmp left), the JSON parses with Python's
// json module and holds the statistics, the CSV quotes what needs quoting.
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include <gtest/gtest.h>

#include "eval/atomic_file.h"
#include "report/shootout_report.h"
#include "report_fixture.h"

using namespace shootout::report;

namespace {

std::string run_command(const std::string& command, int& status) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) {
        status = -1;
        return out;
    }
    char buf[512];
    while (std::fgets(buf, sizeof(buf), pipe)) out += buf;
    status = pclose(pipe);
    return out;
}

}  // namespace

TEST(ReportFiles, WritesParsableJsonAndCsv) {
    const auto dir = std::filesystem::temp_directory_path() / ("shootout-report-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string prefix = (dir / "run").string();
    ShootoutReport r = fixed_report();
    r.per_text.push_back({"wikitext-2-test.txt", r.reference_ppl, {r.variants[0].stats, r.variants[1].stats}});
    write_report_files(r, prefix);
    for (const char* ext : {".md", ".json", ".csv"}) {
        EXPECT_TRUE(std::filesystem::exists(prefix + ext)) << ext;
        EXPECT_FALSE(std::filesystem::exists(prefix + ext + std::string(".tmp"))) << ext;
    }
    EXPECT_EQ(shootout::eval::read_whole_file(prefix + ".md"), markdown_table(r));

    if (std::system("python3 -c 'import json' 2>/dev/null") != 0) {
        GTEST_SKIP() << "python3 not found: cannot check that the JSON parses";
    }
    const std::string script =
        "import json,sys\n"
        "d = json.load(open(sys.argv[1]))\n"
        "v = d['variants']\n"
        "print(d['title'])\n"
        "print(d['reference']['ppl']['ppl'], d['reference']['bits_per_weight'])\n"
        "print(v[0]['stats']['kld']['mean'], v[0]['stats']['kld']['quantiles']['p99'])\n"
        "print(v[0]['stats']['same_top']['count'], v[1]['name'])\n"
        "print(len(d['per_text']), d['per_text'][0]['variants'][1]['name'])\n";
    const std::string script_path = (dir / "check.py").string();
    shootout::eval::write_file_atomically(script_path, script);
    int status = 0;
    const std::string out = run_command("python3 " + script_path + " " + prefix + ".json", status);
    ASSERT_EQ(status, 0) << out;
    EXPECT_EQ(out,
              "Qwen3 \"34M\" shootout\n"
              "24.123456 16\n"  // to_chars writes 16.0 as 16: a JSON number all the same
              "0.0412341 0.4122999906539917\n"  // p99 is a float: its exact value
              "9306 my|quant, \"v2\"\n"
              "1 my|quant, \"v2\"\n")
        << out;

    const std::string csv = shootout::eval::read_whole_file(prefix + ".csv");
    EXPECT_EQ(csv.substr(0, csv.find('\n')),
              "name,role,file_bytes,bits_per_weight,n_tokens,ppl,ppl_error,ppl_ratio,ppl_ratio_error,kld_mean,"
              "kld_error,kld_median,kld_p99,kld_max,same_top,same_top_error,rms_delta_p,rms_delta_p_error,"
              "kld_error_bound_mean");
    EXPECT_NE(csv.find("\nBF16,reference,67700000,16,10200,24.123456,0.51234,1,0,,,,,,,,,,\n"), std::string::npos) << csv;
    EXPECT_NE(csv.find("\n\"my|quant, \"\"v2\"\"\",variant,1073741824,0,10200,25.5,"), std::string::npos) << csv;
    std::filesystem::remove_all(dir);
}
